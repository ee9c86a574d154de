//! End-to-end: execute hand-assembled RV32IM programs, prove them, verify the proofs, and
//! check that broken witnesses, forged public values and wrong programs are rejected.

use zkbox_executor::Program;
use zkbox_executor::asm::{self, addi, auipc, jal, jalr, li};
use zkbox_prover::chips::PublicValues;
use zkbox_prover::{Proof, VerifyError, prove, verify};

const BASE: u32 = 0x1000;

fn add(rd: u32, rs1: u32, rs2: u32) -> u32 {
    asm::r(0x33, 0, 0, rd, rs1, rs2)
}
fn sub(rd: u32, rs1: u32, rs2: u32) -> u32 {
    asm::r(0x33, 0, 0x20, rd, rs1, rs2)
}
fn xor(rd: u32, rs1: u32, rs2: u32) -> u32 {
    asm::r(0x33, 4, 0, rd, rs1, rs2)
}
fn or(rd: u32, rs1: u32, rs2: u32) -> u32 {
    asm::r(0x33, 6, 0, rd, rs1, rs2)
}
fn andi(rd: u32, rs1: u32, imm: i32) -> u32 {
    asm::i(0x13, 7, rd, rs1, imm)
}
fn sw(rs2: u32, rs1: u32, imm: i32) -> u32 {
    asm::s(2, rs1, rs2, imm)
}
fn lw(rd: u32, rs1: u32, imm: i32) -> u32 {
    asm::i(0x03, 2, rd, rs1, imm)
}
fn bne(rs1: u32, rs2: u32, offset: i32) -> u32 {
    asm::b(1, rs1, rs2, offset)
}
fn blt(rs1: u32, rs2: u32, offset: i32) -> u32 {
    asm::b(4, rs1, rs2, offset)
}
fn bgeu(rs1: u32, rs2: u32, offset: i32) -> u32 {
    asm::b(7, rs1, rs2, offset)
}

/// Fibonacci with every proven instruction family: ALU, branches, jumps, LW/SW, exit.
/// Exits with fib(n) & 0xff.
fn fibonacci(n: i32) -> Program {
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000)); // data pointer
    code.push(addi(1, 0, 0)); // a = 0
    code.push(addi(2, 0, 1)); // b = 1
    code.push(addi(3, 0, n)); // counter
    // loop (index 5):
    code.push(add(4, 1, 2)); // t = a + b
    code.push(or(1, 2, 0)); // a = b
    code.push(addi(2, 4, 0)); // b = t
    code.push(sw(4, 5, 0));
    code.push(lw(6, 5, 0));
    code.push(xor(7, 6, 4)); // 0 if the load returned the store
    code.push(bne(7, 0, 0x100)); // to nowhere: never taken
    code.push(addi(5, 5, 4));
    code.push(addi(3, 3, -1));
    code.push(blt(0, 3, -36)); // while counter > 0 (signed)
    code.push(bgeu(0, 3, 8)); // always taken: skip the next instruction
    code.push(addi(1, 0, 77)); // skipped
    code.push(auipc(8, 0));
    code.push(jalr(9, 8, 12)); // jump over the next instruction, link in x9
    code.push(addi(1, 0, 78)); // skipped
    code.push(jal(0, 4)); // plain jump to the next instruction
    code.push(sub(10, 1, 0)); // exit code = a
    code.push(andi(10, 10, 0xff));
    code.push(add(0, 1, 1)); // a write to x0: discarded
    code.extend(asm::exit());
    Program::from_words(BASE, &code).expect("a valid program")
}

fn fib(n: u32) -> u32 {
    let (mut a, mut b) = (0u32, 1u32);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

#[test]
fn a_correct_run_proves_and_verifies() {
    let program = fibonacci(20);
    let proof = prove(&program, vec![], 10_000).expect("proves");
    assert_eq!(proof.exit_code(), fib(20) & 0xff);
    verify(&proof, Some(&program)).expect("verifies against its program");

    // The file round-trips and verifies with and without the ELF.
    let bytes = proof.to_bytes();
    eprintln!("proof: {} bytes for {} cycles", bytes.len(), proof.cycles());
    let parsed = Proof::from_bytes(&bytes).expect("parses");
    let started = std::time::Instant::now();
    verify(&parsed, Some(&program)).expect("verifies after a round trip");
    eprintln!("verified in {:?}", started.elapsed());
    verify(&parsed, None).expect("verifies against the commitment it carries");
}

#[test]
fn forged_public_values_and_other_programs_are_rejected() {
    let program = fibonacci(6);
    let proof = prove(&program, vec![], 10_000).expect("proves");
    let bytes = proof.to_bytes();

    // A forged exit code: the public values are the first bytes of the body.
    let mut forged = Proof::from_bytes(&bytes).expect("parses");
    forged.segments[0] = PublicValues {
        exit_code: forged.segments[0].exit_code ^ 1,
        ..forged.segments[0]
    };
    assert!(matches!(
        verify(&forged, Some(&program)),
        Err(VerifyError::Invalid(_))
    ));
    assert!(verify(&forged, None).is_err());

    // A forged cycle count.
    let mut forged = Proof::from_bytes(&bytes).expect("parses");
    forged.segments[0].clk_end += 1;
    assert!(verify(&forged, Some(&program)).is_err());

    // Another program (same shape, different loop count).
    let other = fibonacci(7);
    assert!(matches!(
        verify(&Proof::from_bytes(&bytes).unwrap(), Some(&other)),
        Err(VerifyError::WrongProgram)
    ));
}

#[test]
fn malformed_files_get_clear_errors() {
    let program = fibonacci(3);
    let bytes = prove(&program, vec![], 10_000).expect("proves").to_bytes();
    assert!(matches!(
        Proof::from_bytes(b"garbage"),
        Err(VerifyError::BadMagic)
    ));
    for version in [1u8, 2, 3, 4, 5, 6, 7] {
        let mut other_version = bytes.clone();
        other_version[8] = version;
        assert!(matches!(
            Proof::from_bytes(&other_version),
            Err(VerifyError::UnsupportedVersion { found, .. }) if found == u32::from(version)
        ));
    }
    for cut in [12, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Proof::from_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
}

#[test]
fn flipped_bits_in_a_proof_file_are_rejected() {
    let program = fibonacci(4);
    let bytes = prove(&program, vec![], 10_000).expect("proves").to_bytes();
    // Every bit of the header and of the first public values, then bits spread over the
    // whole file.
    let mut positions: Vec<(usize, u8)> =
        (0..24).flat_map(|i| (0..8).map(move |b| (i, b))).collect();
    let stride = bytes.len() / 64;
    positions.extend((1..64).map(|k| (k * stride + k % 7, (k % 8) as u8)));
    positions.push((bytes.len() - 1, 0));
    for (at, bit) in positions {
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << bit;
        let accepted = Proof::from_bytes(&flipped)
            .map(|proof| verify(&proof, Some(&program)).is_ok())
            .unwrap_or(false);
        assert!(
            !accepted,
            "a proof with bit {bit} of byte {at} flipped verified"
        );
    }
}

#[test]
fn memory_between_two_code_segments_is_written_and_proven() {
    // The executor and the prover's memory image agree: only the executable segments'
    // words are read-only; the gap between them is ordinary memory.
    let base = 0x1_0000u32;
    let mut code = li(5, base + 0x1000).to_vec();
    code.push(addi(6, 0, 42));
    code.push(asm::s(2, 5, 6, 0)); // sw t1, 0(t0): into the gap
    code.push(asm::i(0x03, 2, 10, 5, 0)); // lw a0, 0(t0)
    code.extend(asm::exit());
    let segment = |vaddr: u32, words: &[u32]| {
        let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        zkbox_executor::Segment {
            vaddr,
            memsz: data.len() as u32,
            data,
            executable: true,
            writable: false,
        }
    };
    let program = Program::from_segments(
        base,
        vec![
            segment(base, &code),
            segment(base + 0x2000, &[addi(0, 0, 0)]),
        ],
    )
    .unwrap();
    let proof = prove(&program, vec![], 1_000).expect("proves");
    assert_eq!(proof.exit_code(), 42);
    verify(&proof, Some(&program)).unwrap();
}
