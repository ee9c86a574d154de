//! The example guests (built by `make guests` into target/guests/) run on the emulator with
//! the outputs their definitions give, and the RV32IM self-test agrees with qemu-riscv32.

use std::path::PathBuf;
use std::process::Command;

use tiny_keccak::{Hasher, Keccak};
use zkbox_executor::{Executor, TraceSegment, load_elf};

fn guest(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guests first: make guests",
            path.display()
        )
    })
}

struct Run {
    exit: Result<u32, zkbox_executor::ExecError>,
    output: Vec<u8>,
    debug: String,
    cycles: u64,
}

fn run(name: &str, input: &[u8]) -> Run {
    let program = load_elf(&guest(name)).unwrap();
    let mut exec = Executor::new(&program, input.to_vec());
    let exit = exec.run(1 << 30);
    Run {
        exit,
        output: exec.public_output().to_vec(),
        debug: String::from_utf8_lossy(exec.debug_output()).into_owned(),
        cycles: exec.cycles(),
    }
}

fn fib(n: u32) -> u32 {
    let (mut a, mut b) = (0u32, 1u32);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(data);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

#[test]
fn fibonacci_commits_fib_n() {
    let default = run("fibonacci", &[]);
    assert_eq!(default.exit, Ok(0));
    assert_eq!(default.output, 55u32.to_le_bytes(), "fib(10)");
    assert!(default.debug.contains("fib(10)"), "{}", default.debug);
    for n in [0u32, 1, 2, 47, 48, 1000, 100_000] {
        let r = run("fibonacci", &n.to_le_bytes());
        assert_eq!(r.exit, Ok(0), "n = {n}: {}", r.debug);
        assert_eq!(r.output, fib(n).to_le_bytes(), "n = {n}");
    }
    let short = run("fibonacci", &[1, 2]);
    assert_eq!(
        short.exit,
        Ok(101),
        "a 2-byte input is refused by the guest"
    );
}

#[test]
fn keccak_iterates_keccak256() {
    let empty = run("keccak", &[]);
    assert_eq!(empty.exit, Ok(0));
    assert_eq!(empty.output, keccak256(b""));
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    for k in [1u32, 2, 5] {
        let mut input = k.to_le_bytes().to_vec();
        input.extend_from_slice(&data);
        let r = run("keccak", &input);
        assert_eq!(r.exit, Ok(0), "{}", r.debug);
        let mut expected = keccak256(&data);
        for _ in 1..k {
            expected = keccak256(&expected);
        }
        assert_eq!(r.output, expected, "k = {k}");
    }
    let zero = run("keccak", &0u32.to_le_bytes());
    assert_eq!(zero.exit, Ok(101), "k = 0 is refused");
}

#[test]
fn panics_are_reported_on_the_debug_log_with_exit_101() {
    let r = run("panic", &[]);
    assert_eq!(r.exit, Ok(101));
    assert!(r.output.is_empty());
    assert!(r.debug.contains("about to panic"), "{}", r.debug);
    assert!(
        r.debug.contains("zkbox panic guest: deliberate panic"),
        "{}",
        r.debug
    );
    assert!(r.debug.contains("panicked at"), "{}", r.debug);
}

/// The self-test's public output words, as hex lines like the .expected file.
fn words_hex(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(4)
        .map(|w| format!("{:08x}", u32::from_le_bytes(w.try_into().unwrap())))
        .collect()
}

#[test]
fn selftest_matches_qemu_and_the_recorded_output() {
    let r = run("rv32im-selftest", &[]);
    assert_eq!(r.exit, Ok(0), "{}", r.debug);
    let ours = words_hex(&r.output);
    assert_eq!(
        ours.last().map(String::as_str),
        Some("00000000"),
        "the self-test counts 0 failed checks"
    );

    let expected_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/guest/selftest/rv32im-selftest.expected"
    );
    let recorded: Vec<String> = std::fs::read_to_string(expected_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ours, recorded,
        "output differs from the recorded qemu output"
    );

    // Live differential run against qemu-riscv32 (installed by scripts/setup.sh).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/rv32im-selftest");
    let qemu = Command::new("qemu-riscv32")
        .arg(&path)
        .output()
        .expect("qemu-riscv32 runs (scripts/setup.sh installs it)");
    assert!(
        qemu.status.success(),
        "qemu: {}",
        String::from_utf8_lossy(&qemu.stderr)
    );
    assert_eq!(
        ours,
        words_hex(&qemu.stdout),
        "emulator and qemu-riscv32 disagree"
    );
}

#[test]
fn traced_guest_runs_chain_and_agree_with_plain_runs() {
    let mut input = 3u32.to_le_bytes().to_vec();
    input.extend_from_slice(&[0xa5; 300]);
    let program = load_elf(&guest("keccak")).unwrap();
    let plain = run("keccak", &input);
    let mut traced = Executor::new(&program, input.clone());
    let mut segments: Vec<TraceSegment> = Vec::new();
    assert_eq!(
        traced.run_traced(1 << 30, 1 << 12, |s| segments.push(s.clone())),
        Ok(0)
    );
    assert_eq!(traced.public_output(), plain.output.as_slice());
    assert_eq!(traced.cycles(), plain.cycles);
    assert!(segments.len() > 2);
    for pair in segments.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    let steps: usize = segments.iter().map(|s| s.steps.len()).sum();
    assert_eq!(steps as u64, plain.cycles);
    let reads: u32 = segments
        .iter()
        .flat_map(|s| &s.io)
        .filter(|e| e.ecall == 63)
        .map(|e| e.len)
        .sum();
    assert_eq!(
        reads as usize,
        input.len(),
        "every input byte is recorded as read"
    );
}
