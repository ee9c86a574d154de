//! Cycle markers: a hand-assembled program writes marker lines and ordinary log text to the
//! debug log between runs of straight-line code; the emulator must record each marker at
//! the cycle of its `ecall`, keep markers out of the debug log, and charge every cycle to the
//! marker before it. The expected split is computed from the program as it is assembled
//! (straight-line code: an instruction's cycle is its index).

use zkbox_executor::asm::{self, ECALL, addi, li};
use zkbox_executor::markers::BEFORE_FIRST_MARKER;
use zkbox_executor::{Executor, Program, attribute_cycles};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const A0: u32 = 10;
const A1: u32 = 11;
const A2: u32 = 12;
const A7: u32 = 17;
const T0: u32 = 5;

/// The private input: two marker lines and a log line, read into memory at `DATA`.
const INPUT: &[u8] = b"cycle-marker: decode\ncycle-marker: execute\nplain log\n";
const DECODE: (u32, u32) = (0, 21);
const EXECUTE: (u32, u32) = (21, 22);
const LOG: (u32, u32) = (43, 10);

/// Assembles the program and returns it with the cycle of each marker `ecall`, in order.
fn program() -> (Vec<u32>, Vec<(u64, &'static str)>) {
    let mut words = Vec::new();
    let mut markers = Vec::new();
    // read(0, DATA, len)
    words.extend(li(A1, DATA));
    words.extend([
        addi(A7, 0, 63),
        addi(A0, 0, 0),
        addi(A2, 0, INPUT.len() as i32),
        ECALL,
    ]);
    // write(2, DATA + offset, len); returns the cycle of its ecall.
    let write = |words: &mut Vec<u32>, (offset, len): (u32, u32)| {
        words.extend(li(A1, DATA + offset));
        words.extend([addi(A7, 0, 64), addi(A0, 0, 2), addi(A2, 0, len as i32)]);
        words.push(ECALL);
        words.len() as u64 - 1
    };
    let busy = |words: &mut Vec<u32>, n: usize| words.extend((0..n).map(|_| addi(T0, T0, 1)));

    busy(&mut words, 7);
    markers.push((write(&mut words, DECODE), "decode"));
    busy(&mut words, 100);
    markers.push((write(&mut words, EXECUTE), "execute"));
    busy(&mut words, 250);
    write(&mut words, LOG); // ordinary log text: not a marker, charged to "execute"
    busy(&mut words, 30);
    markers.push((write(&mut words, DECODE), "decode"));
    busy(&mut words, 40);
    words.extend(li(A0, 0));
    words.extend(asm::exit());
    (words, markers)
}

#[test]
fn markers_are_recorded_at_their_ecall_and_split_the_cycles() {
    let (words, expected) = program();
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, INPUT.to_vec());
    assert_eq!(exec.run(100_000).unwrap(), 0);
    let total = exec.cycles();
    assert_eq!(total, words.len() as u64);

    let got: Vec<(u64, &str)> = exec
        .cycle_markers()
        .iter()
        .map(|m| (m.cycle, m.tag.as_str()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        exec.debug_output(),
        b"plain log\n",
        "markers stay out of the log"
    );

    let split = attribute_cycles(exec.cycle_markers(), total);
    let cycles_of = |tag: &str| split.iter().find(|t| t.tag == tag).map(|t| t.cycles);
    let (first, execute, second) = (expected[0].0, expected[1].0, expected[2].0);
    assert_eq!(cycles_of(BEFORE_FIRST_MARKER), Some(first));
    assert_eq!(
        cycles_of("decode"),
        Some((execute - first) + (total - second))
    );
    assert_eq!(cycles_of("execute"), Some(second - execute));
    assert_eq!(split.iter().map(|t| t.cycles).sum::<u64>(), total);
    assert_eq!(split.iter().find(|t| t.tag == "decode").unwrap().entries, 2);
}

#[test]
fn a_traced_run_records_the_same_markers() {
    let (words, _) = program();
    let program = Program::from_words(BASE, &words).unwrap();
    let mut plain = Executor::new(&program, INPUT.to_vec());
    plain.run(100_000).unwrap();
    let mut traced = Executor::new(&program, INPUT.to_vec());
    let mut debug_writes = 0;
    traced
        .run_traced(100_000, 64, |segment| {
            debug_writes += segment
                .io
                .iter()
                .filter(|e| e.ecall == 64 && e.fd == 2)
                .count();
        })
        .unwrap();
    assert_eq!(traced.cycle_markers(), plain.cycle_markers());
    assert_eq!(
        debug_writes, 4,
        "markers are ordinary writes in the trace, so the proof sees every one"
    );
}

#[test]
fn a_run_without_markers_is_all_unmarked() {
    let mut words = li(A0, 0).to_vec();
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, Vec::new());
    exec.run(100).unwrap();
    assert!(exec.cycle_markers().is_empty());
    let split = attribute_cycles(exec.cycle_markers(), exec.cycles());
    assert_eq!(split.len(), 1);
    assert_eq!(
        (split[0].tag.as_str(), split[0].cycles),
        (BEFORE_FIRST_MARKER, 4)
    );
}
