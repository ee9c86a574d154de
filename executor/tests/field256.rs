//! The `field256` call in the emulator: results equal `field256::compute` for every
//! operation (inputs from the private input, the result to the public output), aliasing
//! operands, the traced memory accesses, and every argument error with the pc it names.

use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::field256::{self, Field256Op, Words};
use zkbox_executor::{ExecErrorKind, Executor, Program};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const S2: u32 = 18;
const S3: u32 = 19;
const S4: u32 = 20;

fn bytes(words: &Words) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Reads x ‖ y from the input to DATA, `z = x op y` at DATA + 64 (or in place over x when
/// `in_place`), writes z to the public output, exits 0.
fn program(op: u32, in_place: bool) -> Program {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 64));
    words.extend([
        addi(S3, S2, 32),
        addi(S4, S2, if in_place { 0 } else { 64 }),
    ]);
    words.extend(asm::field256(op, S4, S2, S3));
    words.extend(asm::write(1, S4, 0, 32));
    words.extend(li(10, 0));
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

fn run(program: &Program, x: &Words, y: &Words) -> Vec<u8> {
    let mut exec = Executor::new(program, [bytes(x), bytes(y)].concat());
    assert_eq!(exec.run(1_000).unwrap_or_else(|e| panic!("{e}")), 0);
    exec.public_output().to_vec()
}

#[test]
fn every_operation_gives_the_reduced_result() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 32) as u32
    };
    for code in 0..6 {
        let op = Field256Op::from_code(code).unwrap();
        for in_place in [false, true] {
            let program = program(code, in_place);
            for _ in 0..8 {
                let x: Words = core::array::from_fn(|_| next());
                let y: Words = core::array::from_fn(|_| next());
                let z = field256::compute(op, &x, &y).z;
                assert_eq!(run(&program, &x, &y), bytes(&z), "op {code}");
            }
            // y = x (a square, a double, zero).
            let x: Words = core::array::from_fn(|_| next());
            let z = field256::compute(op, &x, &x).z;
            assert_eq!(run(&program, &x, &x), bytes(&z), "op {code}, y = x");
        }
    }
}

#[test]
fn a_traced_call_records_both_inputs_then_the_result() {
    let x: Words = [3, 0, 0, 0, 0, 0, 0, 0];
    let y: Words = [5, 0, 0, 0, 0, 0, 0, 1];
    let program = program(0, false);
    let mut exec = Executor::new(&program, [bytes(&x), bytes(&y)].concat());
    let mut segments = Vec::new();
    exec.run_traced(1_000, u64::MAX, |s| segments.push(s.clone()))
        .unwrap();
    let call = segments[0]
        .steps
        .iter()
        .position(|s| s.instruction == asm::ECALL && s.pc > BASE + 40)
        .expect("the field256 ecall") as u64;
    let accesses: Vec<_> = segments[0]
        .memory
        .iter()
        .filter(|m| m.cycle == call)
        .collect();
    assert_eq!(accesses.len(), 24);
    let z = field256::compute(Field256Op::from_code(0).unwrap(), &x, &y).z;
    for k in 0..8 {
        assert_eq!(
            (accesses[k].addr, accesses[k].value),
            (DATA + 4 * k as u32, x[k])
        );
        assert_eq!(
            (accesses[8 + k].addr, accesses[8 + k].value),
            (DATA + 32 + 4 * k as u32, y[k])
        );
        let w = accesses[16 + k];
        assert_eq!(
            (w.addr, w.value, w.write),
            (DATA + 64 + 4 * k as u32, z[k], true)
        );
        assert!(!accesses[k].write && !accesses[8 + k].write);
    }
}

/// Runs `field256(op)` with a1, a2, a3 set to `z`, `x`, `y`; returns the error and its pc.
fn fails(op: u32, z: u32, x: u32, y: u32) -> (ExecErrorKind, u32) {
    let mut words = Vec::new();
    for (reg, value) in [(S2, z), (S3, x), (S4, y)] {
        words.extend(li(reg, value));
    }
    words.extend(asm::field256(op, S2, S3, S4));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let err = Executor::new(&program, Vec::new()).run(100).unwrap_err();
    (err.kind, err.pc - BASE)
}

#[test]
fn bad_arguments_are_errors_naming_the_call() {
    let call = 4 * (6 + 5);
    let ok = DATA;
    assert_eq!(
        fails(6, ok, ok, ok),
        (
            ExecErrorKind::BadOperation {
                ecall: 0x100,
                op: 6
            },
            call
        )
    );
    assert_eq!(
        fails(0, ok + 2, ok, ok),
        (
            ExecErrorKind::MisalignedAccess {
                addr: ok + 2,
                size: 4
            },
            call
        )
    );
    assert_eq!(
        fails(1, ok, ok, 0x7FFF_FFF0),
        (
            ExecErrorKind::OutOfRange {
                addr: 0x7FFF_FFF0,
                len: 32
            },
            call
        )
    );
    assert_eq!(
        fails(1, ok, 16, ok),
        (ExecErrorKind::OutOfRange { addr: 16, len: 32 }, call)
    );
    assert_eq!(
        fails(2, BASE, ok, ok),
        (ExecErrorKind::StoreToCode { addr: BASE }, call)
    );
    // Reading code is allowed (constants may live there); only writing it is not.
    let mut words = Vec::new();
    for (reg, value) in [(S2, DATA), (S3, BASE), (S4, BASE)] {
        words.extend(li(reg, value));
    }
    words.extend(asm::field256(0, S2, S3, S4));
    words.extend(li(10, 0));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    assert_eq!(Executor::new(&program, Vec::new()).run(100).unwrap(), 0);
}
