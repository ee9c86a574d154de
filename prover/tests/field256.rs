//! The field256 chip: honest calls of every operation prove and verify with the emulator's
//! results as public output; a forged result, a result that is right modulo m but not reduced,
//! a forged quotient or a different operation is rejected.

use std::sync::Arc;

use p3_matrix::Matrix;
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::field256::{self, Field256Op, Field256Result, P, Words};
use zkbox_executor::{Executor, Program, TraceSegment};
use zkbox_prover::chips::{CHIP_NAMES, FIELD256_CHIP, ProgramTable};
use zkbox_prover::proof::prove_witness;
use zkbox_prover::{Witness, generate, generate_with_field_results, memory_image, verify};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const S2: u32 = 18;
const S3: u32 = 19;
const S4: u32 = 20;

fn bytes(words: &Words) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Reads x ‖ y into DATA, then for each `(op, in_place)` computes into DATA + 64 (or over x)
/// and publishes the 32 result bytes; exits 0.
fn program(calls: &[(u32, bool)]) -> Program {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 64));
    words.push(addi(S3, S2, 32));
    for &(op, in_place) in calls {
        words.push(addi(S4, S2, if in_place { 0 } else { 64 }));
        words.extend(asm::field256(op, S4, S2, S3));
        words.extend(asm::write(1, S4, 0, 32));
    }
    words.extend(li(10, 0));
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

fn trace(program: &Program, input: Vec<u8>) -> TraceSegment {
    let mut segment = None;
    Executor::new(program, input)
        .run_traced(10_000, 1 << 20, |s| segment = Some(s.clone()))
        .unwrap();
    segment.expect("the run ends")
}

fn field_index() -> usize {
    CHIP_NAMES.iter().position(|&n| n == "field256").unwrap()
}

fn x_y() -> (Words, Words) {
    let x = [
        0x8F1B_BCDC,
        0x1234_5678,
        0xDEAD_BEEF,
        0x0BAD_F00D,
        0xFEED_FACE,
        0x7777_1234,
        0xC0FF_EE00,
        0xFFFF_FFF0,
    ];
    let y = [
        0x0102_0304,
        0xA5A5_5A5A,
        0x3C3C_C3C3,
        0x9999_1111,
        0x2468_ACE0,
        0x1357_9BDF,
        0xF0F0_0F0F,
        0xEEEE_EEEE,
    ];
    (x, y)
}

#[test]
fn every_operation_proves_with_the_emulators_results() {
    let calls: Vec<(u32, bool)> = (0..6).map(|op| (op, false)).collect();
    let program = program(&calls);
    let (x, y) = x_y();
    let input = [bytes(&x), bytes(&y)].concat();
    let table = Arc::new(ProgramTable::new(&program));
    let witness = generate(&table, &memory_image(&program), &trace(&program, input)).unwrap();
    assert_eq!(
        witness.traces[field_index()].height(),
        8,
        "six calls, padded"
    );
    let proof = prove_witness(&program, witness).unwrap();
    verify(&proof, Some(&program)).unwrap();
    let expected: Vec<u8> = (0..6)
        .flat_map(|op| bytes(&field256::compute(Field256Op::from_code(op).unwrap(), &x, &y).z))
        .collect();
    assert_eq!(proof.output(), expected);
}

#[test]
fn results_written_over_an_input_prove() {
    // z over x, three times: x·y, then (x·y) − y, then ((x·y) − y)·y mod n; and y = x.
    let program = program(&[(0, true), (2, true), (3, true)]);
    let (x, _) = x_y();
    let input = [bytes(&x), bytes(&x)].concat();
    let table = Arc::new(ProgramTable::new(&program));
    let witness = generate(&table, &memory_image(&program), &trace(&program, input)).unwrap();
    let proof = prove_witness(&program, witness).unwrap();
    verify(&proof, Some(&program)).unwrap();
    let mut z = x;
    let mut expected = Vec::new();
    for code in [0, 2, 3] {
        z = field256::compute(Field256Op::from_code(code).unwrap(), &z, &x).z;
        expected.extend(bytes(&z));
    }
    assert_eq!(proof.output(), expected);
}

/// A program with one call of `op` on `x`, `y` whose result nothing reads afterwards.
fn single_call(op: u32, x: &Words, y: &Words) -> (Program, TraceSegment) {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 64));
    words.extend([addi(S3, S2, 32), addi(S4, S2, 64)]);
    words.extend(asm::field256(op, S4, S2, S3));
    words.extend(li(10, 0));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let trace = trace(&program, [bytes(x), bytes(y)].concat());
    (program, trace)
}

/// Proves the run with the call's result replaced by `claim(honest)`; asserts the verifier
/// does not accept it.
fn assert_claim_rejected(
    name: &str,
    op: u32,
    (x, y): (Words, Words),
    claim: impl Fn(Field256Result) -> Field256Result,
) {
    let (program, trace) = single_call(op, &x, &y);
    let table = Arc::new(ProgramTable::new(&program));
    let witness =
        generate_with_field_results(&table, &memory_image(&program), &trace, |_, op, r| {
            (op, claim(r))
        })
        .unwrap();
    prove_and_expect_rejection(name, &program, witness);
}

fn prove_and_expect_rejection(name: &str, program: &Program, witness: Witness) {
    if let Ok(proof) = prove_witness(program, witness) {
        assert!(
            verify(&proof, Some(program)).is_err(),
            "{name}: a proof of a broken witness verified"
        );
    }
}

fn add_one(words: &mut Words) {
    for w in words.iter_mut() {
        let (v, carry) = w.overflowing_add(1);
        *w = v;
        if !carry {
            return;
        }
    }
}

#[test]
fn an_honest_claim_through_the_forging_path_verifies() {
    // The path the forgeries below take, with nothing forged: it must verify, or the
    // rejections would prove nothing.
    let (program, trace) = single_call(0, &x_y().0, &x_y().1);
    let table = Arc::new(ProgramTable::new(&program));
    let witness =
        generate_with_field_results(&table, &memory_image(&program), &trace, |_, op, r| (op, r))
            .unwrap();
    let proof = prove_witness(&program, witness).unwrap();
    verify(&proof, Some(&program)).unwrap();
}

#[test]
fn a_forged_result_is_rejected() {
    assert_claim_rejected("z + 1", 0, x_y(), |mut r| {
        add_one(&mut r.z);
        r
    });
    assert_claim_rejected("z of another operation", 1, x_y(), |r| Field256Result {
        z: field256::compute(Field256Op::from_code(0).unwrap(), &x_y().0, &x_y().1).z,
        ..r
    });
}

#[test]
fn a_result_right_modulo_m_but_not_reduced_is_rejected() {
    // (p + 1)·1 = 1·p + 1: claim z = p + 1 with q = 0, the same number, not reduced.
    let mut p_plus_1 = P;
    p_plus_1[0] += 1;
    let one = [1, 0, 0, 0, 0, 0, 0, 0];
    assert_claim_rejected("z + m, q − 1", 0, (p_plus_1, one), |r| {
        assert_eq!(r.z, one, "the honest result");
        assert_eq!(r.q[0], 1, "the honest quotient");
        Field256Result {
            z: p_plus_1,
            q: [0; field256::QUOTIENT_BYTES],
        }
    });
}

#[test]
fn a_forged_quotient_is_rejected() {
    assert_claim_rejected("q + 1", 0, x_y(), |mut r| {
        r.q[0] = r.q[0].wrapping_add(1);
        r
    });
}

#[test]
fn a_different_operation_is_rejected() {
    // The row claims an addition (with the addition's true result) where the program asked
    // for a multiplication: only its read of a0 can tell.
    let (x, y) = x_y();
    let (program, trace) = single_call(0, &x, &y);
    let table = Arc::new(ProgramTable::new(&program));
    let add = Field256Op::from_code(1).unwrap();
    let witness =
        generate_with_field_results(&table, &memory_image(&program), &trace, |_, _, _| {
            (add, field256::compute(add, &x, &y))
        })
        .unwrap();
    prove_and_expect_rejection("mul call claimed as add", &program, witness);
}

#[test]
fn a_proof_without_the_field256_chip_of_a_run_that_calls_it_is_rejected() {
    let (x, y) = x_y();
    let (program, trace) = single_call(0, &x, &y);
    let table = Arc::new(ProgramTable::new(&program));
    let mut witness = generate(&table, &memory_image(&program), &trace).unwrap();
    assert!(witness.chips.contains(FIELD256_CHIP));
    witness.chips = witness.chips.without(FIELD256_CHIP);
    prove_and_expect_rejection("field256 chip left out", &program, witness);
}
