//! Runs proven as chains of segments: a long run proves and verifies in segments, and a
//! chain whose segments are dropped, reordered, repeated, taken from another run or whose
//! memory boundary lies is rejected.

use std::sync::Arc;

use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::chips::{BoundaryCell, MemoryBoundaryChip, ProgramTable};
use zkbox_prover::proof::prove_witness;
use zkbox_prover::{
    CarriedMemory, Proof, ProveOptions, ProvingDevice, VerifyError, Witness, generate_segment,
    memory_digest, memory_image, prove_on, verify,
};

/// Reads a loop count from the input, then per iteration updates an accumulator, stores
/// it and writes it to the public output; exits with the accumulator's low byte.
fn program() -> Program {
    let add = |rd, rs1, rs2| asm::r(0x33, 0, 0, rd, rs1, rs2);
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000)); // buffer
    code.extend(asm::read_input(5, 0, 4)); // read(0, buffer, 4)
    code.push(asm::i(0x03, 2, 3, 5, 0)); // lw x3, 0(x5): the count
    code.push(addi(1, 0, 1));
    // loop:
    code.push(add(4, 1, 1));
    code.push(add(1, 4, 1)); // acc *= 3
    code.push(add(1, 1, 3)); // acc += counter
    code.push(asm::s(2, 5, 1, 4)); // sw x1, 4(x5)
    code.extend(asm::write(1, 5, 4, 4)); // write(1, buffer + 4, 4)
    code.push(addi(3, 3, -1));
    code.push(asm::b(4, 0, 3, -40)); // while counter > 0
    code.push(asm::i(0x13, 7, 10, 1, 0xff)); // exit code = acc & 0xff
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

const SEGMENT: u64 = 64;

fn input(count: u32) -> Vec<u8> {
    count.to_le_bytes().to_vec()
}

/// The witnesses of a run's segments, each generated from the memory the previous left.
fn witnesses(program: &Program, input: Vec<u8>) -> Vec<Witness> {
    let table = Arc::new(ProgramTable::new(program));
    let image = memory_image(program);
    let mut carried = CarriedMemory::default();
    let mut witnesses = Vec::new();
    Executor::new(program, input)
        .run_traced(100_000, SEGMENT, |segment| {
            let witness = generate_segment(&table, &image, segment, &carried).unwrap();
            carried.apply(&witness.cells);
            witnesses.push(witness);
        })
        .unwrap();
    witnesses
}

fn prove_parts(program: &Program, witnesses: Vec<Witness>) -> Vec<Proof> {
    witnesses
        .into_iter()
        .map(|w| prove_witness(program, w).unwrap())
        .collect()
}

/// Joins proofs of segments (by serialised copies, so a part can be used twice).
fn chain(parts: &[&Proof]) -> Proof {
    let copies = parts
        .iter()
        .map(|p| Proof::from_bytes(&p.to_bytes()).unwrap())
        .collect();
    Proof::join(copies).unwrap()
}

fn assert_rejected(program: &Program, proof: &Proof, what: &str) {
    assert!(
        verify(proof, Some(program)).is_err(),
        "{what}: verified with the ELF"
    );
    assert!(
        verify(proof, None).is_err(),
        "{what}: verified without the ELF"
    );
}

#[test]
fn a_long_run_proves_in_segments_and_verifies() {
    let program = program();
    let mut executor = Executor::new(&program, input(20));
    let exit = executor.run(100_000).unwrap();
    let expected_output = executor.public_output().to_vec();
    let cycles = executor.cycles();

    let options = ProveOptions {
        segment_cycles: SEGMENT,
        ..ProveOptions::new(100_000)
    };
    let mut stages = Vec::new();
    let proof = prove_on(ProvingDevice::Cpu, &program, input(20), options, |s| {
        stages.push(s)
    })
    .unwrap();
    assert_eq!(proof.segment_count() as u64, cycles.div_ceil(SEGMENT));
    assert!(proof.segment_count() >= 4);
    assert!(proof.is_segmented());
    assert_eq!(proof.cycles(), cycles);
    assert_eq!(proof.exit_code(), exit);
    assert_eq!(proof.output(), expected_output);
    assert_eq!(stages.len(), 1 + 2 * proof.segment_count());

    let parsed = Proof::from_bytes(&proof.to_bytes()).unwrap();
    verify(&parsed, Some(&program)).unwrap();
    verify(&parsed, None).unwrap();

    // The same run with one segment is proven whole, and says the same.
    let whole = prove_on(
        ProvingDevice::Cpu,
        &program,
        input(20),
        ProveOptions::new(100_000),
        |_| {},
    )
    .unwrap();
    assert!(!whole.is_segmented());
    assert_eq!(whole.output(), proof.output());
    assert_eq!(whole.cycles(), proof.cycles());
}

#[test]
fn broken_chains_are_rejected() {
    let program = program();
    let parts = prove_parts(&program, witnesses(&program, input(20)));
    let n = parts.len();
    assert!(n >= 4, "{n} segments");
    let all: Vec<&Proof> = parts.iter().collect();
    verify(&chain(&all), Some(&program)).unwrap();

    // A segment alone proves nothing.
    assert!(matches!(
        verify(&parts[1], Some(&program)),
        Err(VerifyError::Shape(_))
    ));
    // Dropped, reordered, repeated.
    let mut dropped = all.clone();
    dropped.remove(1);
    assert_rejected(&program, &chain(&dropped), "a dropped segment");
    let mut reordered = all.clone();
    reordered.swap(1, 2);
    assert_rejected(&program, &chain(&reordered), "two segments swapped");
    let mut repeated = all.clone();
    repeated.insert(2, all[1]);
    assert_rejected(&program, &chain(&repeated), "a repeated segment");
    let without_end = &all[..n - 1];
    assert_rejected(&program, &chain(without_end), "no halting segment");

    // A segment of another run of the same program (another input) in its place.
    let other = prove_parts(&program, witnesses(&program, input(21)));
    let mut swapped = all.clone();
    swapped[2] = &other[2];
    assert_rejected(&program, &chain(&swapped), "a segment of another run");
}

/// Replaces the memory boundary of a witness (and what depends on it).
fn set_cells(witness: &mut Witness, cells: Vec<BoundaryCell>) {
    witness.public.memory_digest = memory_digest(&cells);
    witness.traces[17] = MemoryBoundaryChip {
        cells: Arc::new(cells.clone()),
    }
    .trace();
    witness.cells = cells;
}

/// Proves the run with `tamper` applied to its segments' witnesses; the verifier must not
/// accept the chain.
fn assert_tampered_rejected(what: &str, tamper: impl FnOnce(&mut Vec<Witness>)) {
    let program = program();
    let mut witnesses = witnesses(&program, input(20));
    tamper(&mut witnesses);
    let mut parts = Vec::new();
    for witness in witnesses {
        match prove_witness(&program, witness) {
            Ok(part) => parts.push(part),
            // The prover may refuse a witness whose buses do not balance.
            Err(_) => return,
        }
    }
    let refs: Vec<&Proof> = parts.iter().collect();
    assert_rejected(&program, &chain(&refs), what);
}

/// Word index of the output buffer word.
const OUTPUT_WORD: u32 = (0x0010_0000 + 4) / 4;

#[test]
fn a_lying_memory_boundary_is_rejected() {
    // The last segment claims the buffer word ends with another value: no later segment
    // reads it, so only the STARK (the final table's export) can see the lie.
    assert_tampered_rejected("a wrong value after", |witnesses| {
        let last = witnesses.last_mut().unwrap();
        let mut cells = last.cells.clone();
        let cell = cells.iter_mut().find(|c| c.idx == OUTPUT_WORD).unwrap();
        cell.after ^= 1;
        set_cells(last, cells);
    });
    // A segment leaves out a cell it touches (register x1).
    assert_tampered_rejected("a touched cell left out", |witnesses| {
        let cells = witnesses[1]
            .cells
            .iter()
            .copied()
            .filter(|c| c.idx != 1)
            .collect();
        set_cells(&mut witnesses[1], cells);
    });
    // A segment opens a writable copy of a code word, to load forged data from it.
    assert_tampered_rejected("a code word in the boundary", |witnesses| {
        let mut cells = witnesses[1].cells.clone();
        cells.push(BoundaryCell {
            idx: 0x1000 / 4,
            before: Some(0),
            after: 0xdead,
        });
        cells.sort_by_key(|c| c.idx);
        set_cells(&mut witnesses[1], cells);
    });
    // A segment starts a register from another value than the previous one left.
    assert_tampered_rejected("a wrong value before", |witnesses| {
        let mut cells = witnesses[2].cells.clone();
        let cell = cells.iter_mut().find(|c| c.idx == 1).unwrap();
        cell.before = cell.before.map(|v| v ^ 4);
        set_cells(&mut witnesses[2], cells);
    });
}

#[test]
fn a_job_that_cannot_fit_its_memory_is_refused_before_proving() {
    let program = program();
    let options = ProveOptions {
        memory_limit: Some(64 << 20),
        ..ProveOptions::new(100_000)
    };
    let mut stages = Vec::new();
    match prove_on(ProvingDevice::Cpu, &program, input(20), options, |s| {
        stages.push(s)
    }) {
        Err(zkbox_prover::ProveError::InsufficientMemory {
            needed_host,
            available_host,
            ..
        }) => assert!(needed_host > available_host),
        Err(other) => panic!("expected a memory error, got {other}"),
        Ok(_) => panic!("proved within 64 MiB"),
    }
    // Nothing past execution started.
    assert!(
        stages
            .iter()
            .all(|s| matches!(s, zkbox_prover::Stage::Executing)),
        "{stages:?}"
    );
}
