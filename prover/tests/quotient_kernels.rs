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

use p3_baby_bear::BabyBear;
use p3_batch_stark::prover::quotient_values;
use p3_commit::{Pcs, PolynomialSpace};
use p3_field::{BasedVectorSpace, PrimeField32};
use p3_lookup::Lookup;
use p3_lookup::logup::LogUpGadget;
use p3_matrix::Matrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::util::reverse_matrix_index_bits;
use p3_uni_stark::StarkGenericConfig;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use zkbox_accel::quotient::{QuotientInputs, QuotientProgram, download_values};
use zkbox_accel::{Backend, CpuBackend, RowOrder};
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::chips::{CHIP_NAMES, Chip, ProgramTable};
use zkbox_prover::config::{Challenge, Challenger, Val, ZkboxConfig, stark_config};

type Domain = p3_field::coset::TwoAdicMultiplicativeCoset<Val>;
use zkbox_prover::quotient::{air_layout, compile, periodic_table, selectors, weights};
use zkbox_prover::{CarriedMemory, Witness, chips_with_lookups, generate_segment, memory_image};

/// A word no interpreter may leave in its output (not a field element).
const POISON: u32 = 0xFFFF_FFFF;

/// Reads a count, then loops: multiply, divide, shift, compare, store, write a word.
fn program() -> Program {
    let r = |f3, f7, rd, rs1, rs2| asm::r(0x33, f3, f7, rd, rs1, rs2);
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000));
    code.push(addi(17, 0, 63)); // read(0, buffer, 4)
    code.push(addi(10, 0, 0));
    code.push(addi(11, 5, 0));
    code.push(addi(12, 0, 4));
    code.push(asm::i(0x73, 0, 0, 0, 0));
    code.push(asm::i(0x03, 2, 3, 5, 0)); // lw x3: the count
    code.push(addi(1, 0, 7));
    // loop:
    code.push(r(0, 1, 4, 1, 3)); // mul x4 = x1 * x3
    code.push(r(4, 1, 6, 4, 1)); // div x6 = x4 / x1
    code.push(r(1, 0, 7, 6, 3)); // sll x7 = x6 << x3
    code.push(r(2, 0, 8, 7, 4)); // slt x8
    code.push(r(0, 0, 1, 1, 8)); // add x1 += x8
    code.push(asm::s(2, 5, 4, 4)); // sw x4, 4(x5)
    code.push(addi(17, 0, 64)); // write(1, buffer + 4, 4)
    code.push(addi(10, 0, 1));
    code.push(addi(11, 5, 4));
    code.push(addi(12, 0, 4));
    code.push(asm::i(0x73, 0, 0, 0, 0));
    code.push(addi(3, 3, -1));
    code.push(asm::b(4, 0, 3, -48)); // while count > 0
    code.push(addi(10, 0, 0));
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

/// One chip to check: compiled, with the lookups and trace height it was compiled for.
struct Case {
    name: String,
    chip: Chip,
    lookups: Vec<Lookup<Val>>,
    program: QuotientProgram,
    log_height: usize,
}

/// Every chip of a whole run's proof, plus the chips whose constraints differ in a segment's
/// proof (memory image, memory final, memory boundary) from a run cut into segments.
fn cases() -> Vec<Case> {
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
            let program = compile(&chip, &lookups);
            program.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            let witness_log = witness.traces[index].height().trailing_zeros() as usize;
            // Periodic columns fix the trace height; other chips are checked small.
            let has_periodic = program.shape.periodic_width > 0;
            let log_height = if has_periodic {
                witness_log
            } else {
                witness_log.min(5)
            };
            cases.push(Case {
                name: format!("{name}{}", if *segmented { " (segment)" } else { "" }),
                chip,
                lookups,
                program,
                log_height,
            });
        }
    }
    cases
}

fn random_field(rng: &mut SmallRng) -> Val {
    BabyBear::new(rng.random_range(1..BabyBear::ORDER_U32))
}

fn random_ext(rng: &mut SmallRng) -> Challenge {
    Challenge::from_basis_coefficients_fn(|_| random_field(rng))
}

fn random_matrix(rng: &mut SmallRng, width: usize, height: usize) -> RowMajorMatrix<Val> {
    RowMajorMatrix::new(
        (0..width * height).map(|_| random_field(rng)).collect(),
        width,
    )
}

/// Random inputs for one case on its quotient domain (twice the trace height).
struct Inputs {
    main: RowMajorMatrix<Val>,
    preprocessed: Option<RowMajorMatrix<Val>>,
    permutation: Option<RowMajorMatrix<Val>>,
    public_values: Vec<Val>,
    challenges: Vec<Challenge>,
    permutation_values: Vec<Challenge>,
    alpha: Challenge,
}

fn random_inputs(case: &Case, rng: &mut SmallRng) -> Inputs {
    let shape = case.program.shape;
    let n = 2usize << case.log_height;
    Inputs {
        main: random_matrix(rng, shape.main_width, n),
        preprocessed: (shape.preprocessed_width > 0)
            .then(|| random_matrix(rng, shape.preprocessed_width, n)),
        permutation: (shape.permutation_columns > 0)
            .then(|| random_matrix(rng, 4 * shape.permutation_columns, n)),
        public_values: (0..shape.public_values)
            .map(|_| random_field(rng))
            .collect(),
        challenges: (0..shape.challenges).map(|_| random_ext(rng)).collect(),
        permutation_values: (0..shape.permutation_values)
            .map(|_| random_ext(rng))
            .collect(),
        alpha: random_ext(rng),
    }
}

/// The trace domain of `case` and its quotient domain (twice as large, disjoint).
fn domains(config: &ZkboxConfig, case: &Case) -> (Domain, Domain) {
    let trace_domain = <_ as Pcs<Challenge, Challenger>>::natural_domain_for_degree(
        config.pcs(),
        1 << case.log_height,
    );
    (
        trace_domain,
        trace_domain.create_disjoint_domain(2 << case.log_height),
    )
}

/// Plonky3's quotient values for `case` on `inputs`.
fn reference(config: &ZkboxConfig, case: &Case, inputs: &Inputs) -> Vec<Challenge> {
    let pcs = config.pcs();
    let (trace_domain, quotient_domain) = domains(config, case);
    quotient_values::<ZkboxConfig, Chip, RowMajorMatrix<Val>, LogUpGadget>(
        pcs,
        &case.chip,
        &inputs.public_values,
        air_layout(&case.chip),
        trace_domain,
        quotient_domain,
        &inputs.main,
        inputs.permutation.as_ref(),
        &case.lookups,
        &inputs.permutation_values,
        &LogUpGadget::new(),
        &inputs.challenges,
        inputs.preprocessed.as_ref(),
        inputs.alpha,
    )
}

/// `backend`'s quotient values for `case` on `inputs`, matrices stored in `order`.
fn on_device<B: Backend>(
    backend: &B,
    config: &ZkboxConfig,
    case: &Case,
    inputs: &Inputs,
    order: RowOrder,
) -> Vec<Challenge> {
    let pcs = config.pcs();
    let (trace_domain, quotient_domain) = domains(config, case);
    let upload = |m: &RowMajorMatrix<Val>| {
        let mut stored = m.clone();
        if order == RowOrder::BitReversed {
            reverse_matrix_index_bits(&mut stored);
        }
        backend
            .upload(&stored.values, stored.width)
            .unwrap()
            .assume_order(order)
    };
    let main = upload(&inputs.main);
    let preprocessed = inputs.preprocessed.as_ref().map(upload);
    let permutation = inputs.permutation.as_ref().map(upload);
    let sels = selectors(trace_domain, quotient_domain);
    let (periodic, periodic_rows) = periodic_table(pcs, &case.chip, trace_domain, quotient_domain);
    let weights = weights(inputs.alpha, case.program.shape.weights);
    let quotient = backend
        .evaluate_quotient(
            &case.program,
            &QuotientInputs {
                main: &main,
                preprocessed: preprocessed.as_ref(),
                permutation: permutation.as_ref(),
                next_step: 2,
                selectors: &sels,
                periodic: &periodic,
                periodic_rows,
                public_values: &inputs.public_values,
                challenges: &inputs.challenges,
                permutation_values: &inputs.permutation_values,
                weights: &weights,
            },
        )
        .unwrap_or_else(|e| panic!("{} on {}: {e}", case.name, backend.info().id));
    download_values(backend, &quotient)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", case.name, backend.info().id))
}

/// Runs every case on `backend` in both row orders against Plonky3.
fn check_backend<B: Backend>(backend: &B, seed: u64) {
    let config = stark_config();
    let mut rng = SmallRng::seed_from_u64(seed);
    let cases = cases();
    assert_eq!(
        cases.len(),
        CHIP_NAMES.len() + 3,
        "every chip, and the segment variants"
    );
    for case in &cases {
        let inputs = random_inputs(case, &mut rng);
        let expected = reference(&config, case, &inputs);
        for order in [RowOrder::Natural, RowOrder::BitReversed] {
            let got = on_device(backend, &config, case, &inputs, order);
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
    for case in cases() {
        let shape = case.program.shape;
        let mut read = vec![false; shape.main_width];
        for ins in &case.program.instructions {
            if ins.op == zkbox_accel::quotient::Opcode::Main {
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
    match zkbox_accel::CudaBackend::open(0) {
        Ok(backend) => check_backend(&backend.poison_new_buffers(POISON), 4),
        Err(
            err @ (zkbox_accel::AccelError::BackendUnavailable { .. }
            | zkbox_accel::AccelError::NoSuchDevice { .. }),
        ) => eprintln!("skipping CUDA: {err}"),
        Err(err) => panic!("cuda:0 exists but does not open: {err}"),
    }
}

#[test]
fn a_program_that_differs_from_the_air_does_not_match() {
    use zkbox_accel::quotient::Opcode;
    let config = stark_config();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut case = cases().into_iter().find(|c| c.name == "alu").unwrap();
    let inputs = random_inputs(&case, &mut rng);
    let expected = reference(&config, &case, &inputs);
    let cpu = CpuBackend::new();
    assert_eq!(
        on_device(&cpu, &config, &case, &inputs, RowOrder::Natural),
        expected
    );
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
        let got = on_device(&cpu, &config, &case, &inputs, RowOrder::Natural);
        assert_ne!(got, expected, "{what} went unnoticed");
    }
}
