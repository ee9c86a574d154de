//! zkbox's batch-STARK prover loop (`zkbox_prover::batch`) writes Plonky3's proof byte for
//! byte: a run that uses every chip — every instruction family, input, public output, both
//! precompiles — is proven with it and with Plonky3's own `prove_batch`, and the two proof
//! files are equal and verify. Every chip's lookups match a plan, so the comparison is never
//! of Plonky3's loop with itself.

use std::sync::Arc;

use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::batch::LookupPlan;
use zkbox_prover::chips::{CHIP_NAMES, ProgramTable};
use zkbox_prover::config::{Challenge, Val};
use zkbox_prover::proof::{prove_witness, prove_witness_with_plonky3_loop};
use zkbox_prover::{Witness, chips_with_lookups, generate, memory_image, verify};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const S2: u32 = 18;
const S3: u32 = 19;
const S4: u32 = 20;
const OP: u32 = 0x33;
const OP_IMM: u32 = 0x13;

/// Reads 264 input bytes to DATA, runs every R-type and I-type ALU instruction, loads and
/// stores of every width, a taken branch, a jump and link and an indirect jump, a field256
/// multiplication and a keccak-f call, publishes 32 bytes and exits with a digest.
fn program() -> Program {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 264));
    words.extend(li(5, 0x8765_4321));
    words.extend(li(6, 0x0000_0013));
    for funct7 in [0, 0x20, 1] {
        for funct3 in 0..8 {
            if funct7 == 0x20 && !matches!(funct3, 0 | 5) {
                continue;
            }
            words.push(asm::r(OP, funct3, funct7, 7, 5, 6));
            words.push(asm::r(OP, 0, 0, 5, 5, 7)); // add x5, x5, x7
        }
    }
    for funct3 in [0, 1, 2, 3, 4, 5, 6, 7] {
        let imm = if funct3 == 1 || funct3 == 5 { 7 } else { -77 };
        words.push(asm::i(OP_IMM, funct3, 7, 5, imm));
        words.push(asm::r(OP, 4, 0, 5, 5, 7)); // xor x5, x5, x7
    }
    for (store, load) in [(0, 0), (1, 1), (2, 2), (0, 4), (1, 5)] {
        words.push(asm::s(store, S2, 5, 200));
        words.push(asm::i(0x03, load, 7, S2, 200));
        words.push(asm::r(OP, 0, 0, 5, 5, 7));
    }
    words.push(asm::b(1, 5, 0, 8)); // bne x5, x0, +8 (taken)
    words.push(addi(5, 0, 0)); // skipped
    words.push(asm::jal(1, 8)); // jal x1, +8
    words.push(addi(5, 0, 0)); // skipped
    words.push(asm::auipc(8, 0));
    words.push(asm::jalr(0, 8, 8)); // to the next instruction but one
    words.push(addi(5, 0, 0)); // skipped
    words.push(addi(S3, S2, 32));
    words.push(addi(S4, S2, 64));
    words.extend(asm::field256(2, S4, S2, S3));
    words.push(addi(S4, S2, 64));
    words.extend(asm::keccakf(S4));
    words.extend(asm::write(1, S4, 0, 32));
    words.push(addi(10, 5, 0));
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

fn input() -> Vec<u8> {
    // Two field elements below the field256 modulus (top bytes small), then a keccak state.
    (0..264u32)
        .map(|i| {
            let byte = (i.wrapping_mul(0x9E37_79B9) >> 13) as u8;
            if i % 32 == 31 { byte & 0x0F } else { byte }
        })
        .collect()
}

fn witness(program: &Program) -> Witness {
    let mut segment = None;
    Executor::new(program, input())
        .run_traced(100_000, 1 << 20, |s| segment = Some(s.clone()))
        .unwrap();
    generate(
        &Arc::new(ProgramTable::new(program)),
        &memory_image(program),
        &segment.expect("the run ends"),
    )
    .unwrap()
}

#[test]
fn every_chip_has_a_lookup_plan() {
    let program = program();
    let chips = chips_with_lookups(&program, &witness(&program)).unwrap();
    assert_eq!(chips.len(), CHIP_NAMES.len(), "the run uses every chip");
    for (chip, lookups) in &chips {
        assert!(
            LookupPlan::new::<Val, Challenge>(chip, lookups).is_some(),
            "{}'s lookups match no plan",
            chip.name()
        );
    }
}

#[test]
fn the_zkbox_loop_writes_plonky3s_proof_byte_for_byte() {
    let program = program();
    let ours = prove_witness(&program, witness(&program)).unwrap();
    let reference = prove_witness_with_plonky3_loop(&program, witness(&program)).unwrap();
    assert_eq!(ours.to_bytes(), reference.to_bytes());
    verify(&ours, Some(&program)).unwrap();
    assert_eq!(ours.output().len(), 32, "the run published its 32 bytes");
}
