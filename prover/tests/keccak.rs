//! The keccak chips: honest `keccakf` calls prove and verify with the emulator's states as
//! public output; a forged output state is rejected, whether only the call claims it (the
//! `keccak` bus no longer balances) or the keccak-f chip's exported row claims it too (its
//! round constraints fail). Proofs leave out the precompiles' chips when nothing calls them,
//! and a proof that leaves them out of a run that does call them is rejected.

use std::sync::Arc;

use p3_field::PrimeCharacteristicRing;
use p3_keccak_air::{NUM_KECCAK_COLS, NUM_ROUNDS, output_limb};
use p3_matrix::Matrix;
use zkbox_executor::asm::{self, li};
use zkbox_executor::keccak::{self, State};
use zkbox_executor::{Executor, Program, TraceSegment};
use zkbox_prover::chips::{
    CHIP_NAMES, ChipSet, FIELD256_CHIP, KECCAK_CALL_CHIP, KECCAK_F_CHIP, ProgramTable,
};
use zkbox_prover::config::Val;
use zkbox_prover::proof::prove_witness;
use zkbox_prover::{Witness, generate, generate_with_keccak_results, memory_image, verify};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const S2: u32 = 18;

fn bytes(state: &State) -> Vec<u8> {
    state.iter().flat_map(|lane| lane.to_le_bytes()).collect()
}

/// Reads a state into DATA, permutes it `calls` times, publishing it after each call when
/// `publish`; exits 0.
fn program(calls: usize, publish: bool) -> Program {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 200));
    for _ in 0..calls {
        words.extend(asm::keccakf(S2));
        if publish {
            words.extend(asm::write(1, S2, 0, 200));
        }
    }
    words.extend(li(10, 0));
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

fn trace(program: &Program, input: &State) -> TraceSegment {
    let mut segment = None;
    Executor::new(program, bytes(input))
        .run_traced(10_000, 1 << 20, |s| segment = Some(s.clone()))
        .unwrap();
    segment.expect("the run ends")
}

fn chip(name: &str) -> usize {
    CHIP_NAMES.iter().position(|&n| n == name).unwrap()
}

fn random_state() -> State {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    core::array::from_fn(|_| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed ^ (seed >> 29)
    })
}

#[test]
fn calls_prove_with_the_emulators_states() {
    let program = program(3, true);
    let input = random_state();
    let table = Arc::new(ProgramTable::new(&program));
    let witness = generate(&table, &memory_image(&program), &trace(&program, &input)).unwrap();
    assert_eq!(
        witness.traces[chip("keccak-call")].height(),
        4,
        "three calls, padded"
    );
    assert_eq!(
        witness.traces[chip("keccak-f")].height(),
        128,
        "72 rounds, padded"
    );
    let proof = prove_witness(&program, witness).unwrap();
    verify(&proof, Some(&program)).unwrap();
    let mut state = input;
    let mut expected = Vec::new();
    for _ in 0..3 {
        keccak::permute(&mut state);
        expected.extend(bytes(&state));
    }
    assert_eq!(proof.output(), expected);
}

fn flip_bit(mut state: State) -> State {
    state[7] ^= 1 << 40;
    state
}

/// The witness of one unpublished call whose output state is `claim(honest)`.
fn forged(claim: impl Fn(State) -> State) -> (Program, Witness) {
    let program = program(1, false);
    let table = Arc::new(ProgramTable::new(&program));
    let witness = generate_with_keccak_results(
        &table,
        &memory_image(&program),
        &trace(&program, &random_state()),
        |_, _, honest| claim(honest),
    )
    .unwrap();
    (program, witness)
}

fn prove_and_expect_rejection(name: &str, program: &Program, witness: Witness) {
    if let Ok(proof) = prove_witness(program, witness) {
        assert!(
            verify(&proof, Some(program)).is_err(),
            "{name}: a proof of a broken witness verified"
        );
    }
}

#[test]
fn an_honest_claim_through_the_forging_path_verifies() {
    // The path the forgeries below take, with nothing forged: it must verify, or the
    // rejections would prove nothing.
    let (program, witness) = forged(|honest| honest);
    let proof = prove_witness(&program, witness).unwrap();
    verify(&proof, Some(&program)).unwrap();
}

#[test]
fn a_forged_output_only_the_call_claims_is_rejected() {
    let (program, witness) = forged(flip_bit);
    prove_and_expect_rejection("call claims a flipped bit", &program, witness);
}

#[test]
fn a_forged_output_the_permutation_also_claims_is_rejected() {
    // The keccak-f chip's exported row is made to claim the forged state too, so the bus
    // balances and only the AIR's round constraints can tell.
    let mut honest = random_state();
    keccak::permute(&mut honest);
    let forged_state = flip_bit(honest);
    let (program, mut witness) = forged(|_| forged_state);
    let perm = &mut witness.traces[chip("keccak-f")];
    let row = NUM_ROUNDS - 1;
    let mut changed = 0;
    // output_limb covers the rate (the first 17 lanes); the flipped lane 7 is inside it.
    for (lane, &word) in forged_state.iter().enumerate().take(17) {
        for limb in 0..4 {
            let i = 4 * lane + limb;
            let value = (word >> (16 * limb)) as u16;
            let cell = &mut perm.values[row * NUM_KECCAK_COLS + output_limb(i)];
            if *cell != Val::from_u16(value) {
                *cell = Val::from_u16(value);
                changed += 1;
            }
        }
    }
    assert_eq!(changed, 1, "exactly the flipped limb differs");
    prove_and_expect_rejection("permutation claims a flipped bit", &program, witness);
}

#[test]
fn a_proof_holds_the_precompile_chips_only_when_the_run_calls_them() {
    let input = random_state();
    for (calls, expected) in [
        (0, ChipSet::REQUIRED),
        (1, ChipSet::ALL.without(FIELD256_CHIP)),
    ] {
        let program = program(calls, true);
        let table = Arc::new(ProgramTable::new(&program));
        let witness = generate(&table, &memory_image(&program), &trace(&program, &input)).unwrap();
        assert_eq!(witness.chips, expected, "{calls} calls");
        let proof = prove_witness(&program, witness).unwrap();
        verify(&proof, Some(&program)).unwrap();
        let names: Vec<&str> = proof.log_trace_heights().iter().map(|h| h.0).collect();
        assert_eq!(names.len(), expected.len());
        assert_eq!(names.contains(&"keccak-f"), calls > 0);
        assert!(!names.contains(&"field256"));
    }
}

#[test]
fn a_proof_without_the_keccak_chips_of_a_run_that_calls_keccakf_is_rejected() {
    let (program, mut witness) = forged(|honest| honest);
    witness.chips = witness
        .chips
        .without(KECCAK_CALL_CHIP)
        .without(KECCAK_F_CHIP);
    prove_and_expect_rejection("keccak chips left out", &program, witness);
    // Only the permutation chip left out: the calls' messages find no receiver.
    let (program, mut witness) = forged(|honest| honest);
    witness.chips = witness.chips.without(KECCAK_F_CHIP);
    prove_and_expect_rejection("keccak-f left out", &program, witness);
}
