//! Device quotient evaluation equals Plonky3's, element for element, for every chip.
//!
//! Each chip's constraints (with its LogUp lookups, as the prover lays them out for a real
//! run) are compiled into bytecode from Plonky3's symbolic constraints, then run by each
//! backend's interpreter — the CPU backend's reference interpreter, OpenCL (PoCL here),
//! Vulkan (lavapipe here) and CUDA where a GPU is present — on random non-zero traces,
//! permutation columns, challenges and α, in natural and bit-reversed row order, with every
//! fresh device buffer poisoned. The result must equal `p3_batch_stark`'s own
//! `quotient_values` on the same inputs at every point of the quotient domain.

use std::sync::Arc;

use p3_matrix::Matrix;
use zkbox_accel::quotient::{Opcode, QuotientProgram, download_values};
use zkbox_accel::{Backend, CpuBackend, RowOrder};
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::chips::{CHIP_NAMES, ProgramTable};
use zkbox_prover::quotient::QuotientCase;
use zkbox_prover::{CarriedMemory, Witness, chips_with_lookups, generate_segment, memory_image};

/// A word no interpreter may leave in its output (not a field element).
const POISON: u32 = 0xFFFF_FFFF;

/// Reads a count, then loops: multiply, divide, shift, compare, store, write a word.
fn program() -> Program {
    let r = |f3, f7, rd, rs1, rs2| asm::r(0x33, f3, f7, rd, rs1, rs2);
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000));
    code.extend(asm::read_input(5, 0, 4)); // read(0, buffer, 4)
    code.push(asm::i(0x03, 2, 3, 5, 0)); // lw x3: the count
    code.push(addi(1, 0, 7));
    // loop:
    code.push(r(0, 1, 4, 1, 3)); // mul x4 = x1 * x3
    code.push(r(4, 1, 6, 4, 1)); // div x6 = x4 / x1
    code.push(r(1, 0, 7, 6, 3)); // sll x7 = x6 << x3
    code.push(r(2, 0, 8, 7, 4)); // slt x8
    code.push(r(0, 0, 1, 1, 8)); // add x1 += x8
    code.push(asm::s(2, 5, 4, 4)); // sw x4, 4(x5)
    code.extend(asm::write(1, 5, 4, 4)); // write(1, buffer + 4, 4)
    code.push(addi(3, 3, -1));
    code.push(asm::b(4, 0, 3, -48)); // while count > 0
    code.push(addi(10, 0, 0));
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

fn chip_periodic_is_empty(chip: &zkbox_prover::chips::Chip) -> bool {
    p3_air::BaseAir::<zkbox_prover::config::Val>::num_periodic_columns(chip) == 0
}

/// Every chip of a whole run's proof, plus the chips whose constraints differ in a segment's
/// proof (memory image, memory final, memory boundary) from a run cut into segments.
fn cases(seed: u64) -> Vec<QuotientCase> {
    let program = program();
    let table = Arc::new(ProgramTable::new(&program));
    let image = memory_image(&program);
    let input = 6u32.to_le_bytes().to_vec();
    let mut witnesses: Vec<(Witness, bool)> = Vec::new();
    Executor::new(&program, input.clone())
        .run_traced(100_000, 1 << 20, |segment| {
            let whole = zkbox_prover::generate(&table, &image, segment).unwrap();
            witnesses.push((whole, false));
        })
        .unwrap();
    let mut carried = CarriedMemory::default();
    let mut first_segment = None;
    Executor::new(&program, input)
        .run_traced(100_000, 64, |segment| {
            let witness = generate_segment(&table, &image, segment, &carried).unwrap();
            carried.apply(&witness.cells);
            if first_segment.is_none() {
                first_segment = Some(witness);
            }
        })
        .unwrap();
    witnesses.push((first_segment.expect("the run has segments"), true));

    let mut cases = Vec::new();
    for (witness, segmented) in &witnesses {
        let chips = chips_with_lookups(&program, witness).unwrap();
        for (index, (chip, lookups)) in chips.into_iter().enumerate() {
            let name = CHIP_NAMES[index];
            let differs_in_segments =
                matches!(name, "memory-image" | "memory-final" | "memory-boundary");
            if *segmented && !differs_in_segments {
                continue;
            }
            let witness_log = witness.traces[index].height().trailing_zeros() as usize;
            // Periodic columns fix the trace height; other chips are checked small.
            let has_periodic = !chip_periodic_is_empty(&chip);
            let log_height = if has_periodic {
                witness_log
            } else {
                witness_log.min(5)
            };
            let name = format!("{name}{}", if *segmented { " (segment)" } else { "" });
            let case = QuotientCase::random(name, chip, lookups, log_height, seed + index as u64);
            case.program
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            cases.push(case);
        }
    }
    cases
}

/// `backend`'s quotient values for `case`, matrices stored in `order`.
fn on_device<B: Backend>(
    backend: &B,
    case: &QuotientCase,
    order: RowOrder,
) -> Vec<zkbox_prover::config::Challenge> {
    let run = || -> Result<_, zkbox_accel::AccelError> {
        let uploaded = case.upload(backend, order)?;
        let quotient = case.evaluate(backend, &uploaded)?;
        download_values(backend, &quotient)
    };
    run().unwrap_or_else(|e| panic!("{} on {}: {e}", case.name, backend.info().id))
}

/// Runs every case on `backend` in both row orders against Plonky3.
fn check_backend<B: Backend>(backend: &B, seed: u64) {
    check_chips(backend, seed, |_| true);
}

/// [`check_backend`] for the cases whose names `pick` accepts.
fn check_chips<B: Backend>(backend: &B, seed: u64, pick: impl Fn(&str) -> bool) {
    let cases = cases(seed);
    assert_eq!(
        cases.len(),
        CHIP_NAMES.len() + 3,
        "every chip, and the segment variants"
    );
    for case in cases.iter().filter(|c| pick(&c.name)) {
        let expected = case.reference();
        for order in [RowOrder::Natural, RowOrder::BitReversed] {
            let got = on_device(backend, case, order);
            assert_eq!(got.len(), expected.len(), "{}", case.name);
            if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
                panic!(
                    "{} on {} ({} order): quotient differs from Plonky3's at point {i} of {}: \
                     {:?} != {:?}",
                    case.name,
                    backend.info().id,
                    order.as_str(),
                    got.len(),
                    got[i],
                    expected[i]
                );
            }
        }
        eprintln!(
            "{} on {}: {} points equal ({} instructions, {} base / {} ext registers)",
            case.name,
            backend.info().id,
            expected.len(),
            case.program.instructions.len(),
            case.program.base_registers,
            case.program.ext_registers
        );
    }
}

#[test]
fn every_chip_compiles_to_a_valid_program_that_reads_every_column() {
    for case in cases(0) {
        let shape = case.program.shape;
        let mut read = vec![false; shape.main_width];
        for ins in &case.program.instructions {
            if ins.op == Opcode::Main {
                read[ins.a as usize] = true;
            }
        }
        assert!(
            read.iter().all(|&r| r),
            "{}: main columns {:?} are never read by any constraint",
            case.name,
            read.iter()
                .enumerate()
                .filter(|(_, r)| !**r)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        );
        assert!(shape.weights > 0, "{} has no constraints", case.name);
        // The sizes docs/proof-system.md quotes (shown with --nocapture).
        println!(
            "{}: {} instructions, {} base and {} extension registers",
            case.name,
            case.program.instructions.len(),
            case.program.base_registers,
            case.program.ext_registers
        );
    }
}

#[test]
fn the_cpu_interpreter_matches_plonky3_for_every_chip() {
    check_backend(&CpuBackend::new(), 1);
}

#[test]
fn opencl_matches_plonky3_for_every_chip() {
    match zkbox_accel::OpenClBackend::open(0) {
        Ok(backend) => check_backend(&backend.poison_new_buffers(POISON), 2),
        Err(err) if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() == Ok("1") => {
            eprintln!("skipping OpenCL: {err}");
        }
        Err(err) => panic!("no OpenCL device (install PoCL or set ZKBOX_SKIP_OPENCL=1): {err}"),
    }
}

/// Specialized kernels (the program as straight-line code): PoCL takes about 9 s to build
/// each, so the suite checks three chips that between them read every kind of input
/// (preprocessed columns, the next row, periodic columns, lookups, extension arithmetic);
/// the CUDA test checks every chip with them.
#[test]
fn opencl_specialized_kernels_match_plonky3() {
    match zkbox_accel::OpenClBackend::open(0) {
        Ok(backend) => check_chips(
            &backend
                .poison_new_buffers(POISON)
                .specialize_quotients(true),
            6,
            |name| matches!(name, "program" | "mul" | "memory-boundary (segment)"),
        ),
        Err(err) if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() == Ok("1") => {
            eprintln!("skipping OpenCL: {err}");
        }
        Err(err) => panic!("no OpenCL device (install PoCL or set ZKBOX_SKIP_OPENCL=1): {err}"),
    }
}

#[test]
fn vulkan_matches_plonky3_for_every_chip() {
    match zkbox_accel::VulkanBackend::open(0) {
        Ok(backend) => check_backend(&backend.poison_new_buffers(POISON), 3),
        Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipping Vulkan: {err} (under CI=true this fails)");
        }
        Err(err) => panic!("no Vulkan device under CI (scripts/setup.sh installs lavapipe): {err}"),
    }
}

#[test]
fn cuda_matches_plonky3_for_every_chip() {
    for specialize_quotients in [false, true] {
        let options = zkbox_accel::CudaOptions {
            poison: Some(POISON),
            specialize_quotients,
            ..Default::default()
        };
        match zkbox_accel::CudaBackend::open_with(0, &options) {
            Ok(backend) => check_backend(&backend, 4),
            Err(
                err @ (zkbox_accel::AccelError::BackendUnavailable { .. }
                | zkbox_accel::AccelError::NoSuchDevice { .. }),
            ) => return eprintln!("skipping CUDA: {err}"),
            Err(err) => panic!("cuda:0 exists but does not open: {err}"),
        }
    }
}

#[test]
fn a_program_that_differs_from_the_air_does_not_match() {
    let mut case = cases(5).into_iter().find(|c| c.name == "alu").unwrap();
    let expected = case.reference();
    let cpu = CpuBackend::new();
    assert_eq!(on_device(&cpu, &case, RowOrder::Natural), expected);
    let original = case.program.clone();
    let first = |op| {
        original
            .instructions
            .iter()
            .position(|i| i.op == op)
            .unwrap()
    };
    type Breakage<'a> = Box<dyn Fn(&mut QuotientProgram) + 'a>;
    let breakages: [(&str, Breakage<'_>); 3] = [
        (
            "an addition made a subtraction",
            Box::new(|p| p.instructions[first(Opcode::Add)].op = Opcode::Sub),
        ),
        (
            "a constraint left out",
            Box::new(|p| {
                let last = p.instructions.len() - 1;
                p.instructions.remove(last);
            }),
        ),
        (
            "a column read from its neighbour",
            Box::new(|p| {
                let at = first(Opcode::Main);
                let width = p.shape.main_width as u32;
                p.instructions[at].a = (p.instructions[at].a + 1) % width;
            }),
        ),
    ];
    for (what, breakage) in &breakages {
        case.program = original.clone();
        breakage(&mut case.program);
        let got = on_device(&cpu, &case, RowOrder::Natural);
        assert_ne!(got, expected, "{what} went unnoticed");
    }
}
