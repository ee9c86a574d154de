//! Proving, verifying, and the proof file.
//!
//! A run is proven whole when it fits in one segment, and otherwise as a chain of segment
//! proofs linked through their boundary state (pc, and the writable memory each segment
//! touches: see [`MemoryMode`]); the verifier checks every link. Each segment proof can be
//! made on its own, on any device or appliance, from the segment's trace and the memory the
//! previous segments left ([`crate::generate_segment`], [`prove_witness`]), and the parts
//! joined ([`Proof::join`]).
//!
//! A proof file is `ZKBXPRF\0`, a little-endian `u32` format version, then the postcard
//! encoding of [`ProofBody`]: the program commitment (the verifying key: the Poseidon2
//! commitment of the preprocessed program table, memory image and byte table) with the
//! heights it was made for, whether the run is segmented, and per segment its public values,
//! its share of the public output, its memory boundary table and its `p3-batch-stark` proof.
//! The format is documented in docs/proof-system.md.

use std::sync::Arc;

use p3_batch_stark::{
    BatchProof, CommonData, ProverData, StarkInstance, prove_batch, verify_batch,
};
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_matrix::dense::RowMajorMatrix;
use serde::{Deserialize, Serialize};
use zkbox_accel::{DeviceFailure, DeviceId};
use zkbox_executor::{Executor, Program};

use crate::chips::*;
use crate::config::{Val, ZkboxConfig, device_config, stark_config};
use crate::error::{ProveError, VerifyError};
use crate::offload::{DeviceOffload, OffloadCounts};
use crate::witness::{
    CarriedMemory, ImageWord, generate, generate_segment, memory_digest, memory_image,
    output_digest,
};

/// The magic number that starts every proof file.
pub const MAGIC: [u8; 8] = *b"ZKBXPRF\0";
/// The proof file format version this build writes and reads.
pub const VERSION: u32 = 8;
/// Largest proof file the verifier reads.
pub const MAX_PROOF_BYTES: usize = 1 << 30;
/// Most segments one proof may have.
pub const MAX_SEGMENTS: usize = 4096;

type Commitment = p3_batch_stark::Commitment<ZkboxConfig>;

/// What a proof file holds after its header.
#[derive(Serialize, Deserialize)]
pub struct ProofBody {
    /// Heights of the program table and memory image the commitment was made for.
    pub program_shape: [u32; 2],
    /// The program commitment (verifying key).
    pub program_commitment: Commitment,
    /// Whether the run was proven in segments (a whole run has exactly one proof and no
    /// memory boundary).
    pub segmented: bool,
    /// The proofs, in execution order.
    pub segments: Vec<SegmentBody>,
}

/// One segment's (or a whole run's) part of a proof file.
#[derive(Serialize, Deserialize)]
pub struct SegmentBody {
    /// pc_start, clk_start, clk_end, exit code, pc_end, halted (0 or 1).
    pub public: [u32; 6],
    /// The public output this segment writes.
    pub output: Vec<u8>,
    /// The memory boundary table (empty for a whole run).
    pub cells: Vec<BoundaryCell>,
    /// The chips the STARK proof holds (the precompiles' are left out when unused) and the
    /// pieces each instruction chip's trace is cut into.
    pub chips: ChipLayout,
    /// The STARK proof.
    pub stark: BatchProof<ZkboxConfig>,
}

/// A proof of one run of a program: one STARK proof for a whole run, or a chain of segment
/// proofs.
pub struct Proof {
    /// The public values of each segment, in order (one for a whole run).
    pub segments: Vec<PublicValues>,
    body: ProofBody,
}

/// What one proof claims beyond its program: how its memory argument begins and ends, and
/// its share of the output and of the memory boundary.
struct Claim {
    mode: MemoryMode,
    output: Arc<Vec<u8>>,
    output_start: u32,
    cells: Arc<Vec<BoundaryCell>>,
}

/// The chips of one proof of a program, in proof order.
fn machine(table: Arc<ProgramTable>, image: Arc<Vec<ImageWord>>, claim: Claim) -> Vec<Chip> {
    vec![
        Chip::Program(ProgramChip {
            table,
            starts_run: claim.mode.starts_run(),
        }),
        Chip::Bytes(ByteChip),
        Chip::Boundary(BoundaryChip {
            starts_run: claim.mode.starts_run(),
        }),
        Chip::MemoryImage(MemoryImageChip {
            words: image,
            mode: claim.mode,
        }),
        Chip::MemoryFinal(MemoryFinalChip { mode: claim.mode }),
        Chip::Alu(AluChip),
        Chip::Branch(BranchChip),
        Chip::Jump(JumpChip),
        Chip::LoadStore(LoadStoreChip),
        Chip::Halt(HaltChip),
        Chip::Compare(CompareChip),
        Chip::Shift(ShiftChip),
        Chip::Mul(MulChip),
        Chip::IoEcall(IoEcallChip),
        Chip::IoWord(IoWordChip),
        Chip::Output(OutputChip {
            bytes: claim.output,
            start: claim.output_start,
        }),
        Chip::Div(DivChip),
        Chip::MemoryBoundary(MemoryBoundaryChip { cells: claim.cells }),
        Chip::Field256(Field256Chip),
        Chip::KeccakCall(KeccakCallChip),
        Chip::KeccakPerm(KeccakPermChip),
    ]
}

fn public_values_per_chip(chips: &[Chip], public: &PublicValues) -> Vec<Vec<Val>> {
    chips
        .iter()
        .map(|chip| match chip {
            Chip::Boundary(_) => public.to_fields(),
            _ => vec![],
        })
        .collect()
}

/// A stage of proving, reported to [`prove_with_progress`]'s callback as it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Running the guest (once to count its cycles, then again recording its trace).
    Executing,
    /// Building the chips' traces of segment `index` (from 0) of `segments`.
    Witness {
        /// The segment.
        index: u32,
        /// Segments in the run.
        segments: u32,
        /// Cycles in it.
        cycles: u64,
    },
    /// Committing, the quotient and FRI for segment `index` of `segments`.
    Proving {
        /// The segment.
        index: u32,
        /// Segments in the run.
        segments: u32,
    },
}

/// Limits of one proving job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProveOptions {
    /// The run may take at most this many cycles.
    pub max_cycles: u64,
    /// Cut the run into segments of at most this many cycles (at most
    /// [`MAX_SEGMENT_CYCLES`]); smaller when a segment of this size would not fit the
    /// memory there is (see [`crate::plan`]).
    pub segment_cycles: u64,
    /// Host memory the job may use, in bytes; `None`: what the machine has available.
    pub memory_limit: Option<u64>,
    /// The prover loop (the proof is the same either way).
    pub prover_loop: ProverLoop,
    /// Where a device proof evaluates the chips' quotients, the opening's passes and FRI's
    /// folds, with zkbox's loop (the proof is the same either way).
    pub device_compute: crate::offload::DeviceCompute,
}

impl ProveOptions {
    /// At most `max_cycles` cycles, in segments of [`DEFAULT_SEGMENT_CYCLES`], within the
    /// machine's available memory.
    pub fn new(max_cycles: u64) -> ProveOptions {
        ProveOptions {
            max_cycles,
            segment_cycles: DEFAULT_SEGMENT_CYCLES,
            memory_limit: None,
            prover_loop: ProverLoop::Zkbox,
            device_compute: crate::offload::DeviceCompute::Auto,
        }
    }
}

/// Which prover loop runs the batch STARK. Both write the same proof, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProverLoop {
    /// zkbox's loop, [`crate::batch::prove`] (Plonky3's `prove_batch` for a batch whose
    /// lookups do not match a [`crate::batch::LookupPlan`]).
    #[default]
    Zkbox,
    /// Plonky3's `prove_batch`: the reference zkbox's loop is measured against.
    Plonky3,
}

impl std::fmt::Display for ProverLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProverLoop::Zkbox => "zkbox",
            ProverLoop::Plonky3 => "plonky3",
        })
    }
}

/// Where the heavy proving work (LDEs, Merkle trees, FRI's folding commitments) runs.
/// Every choice makes the same proof, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProvingDevice {
    /// Plonky3's own multi-threaded CPU DFT and Merkle trees: the reference path.
    #[default]
    Cpu,
    /// An accel backend through `zkbox_accel::DeviceDft` and `DeviceMmcs` (`cpu` here is
    /// accel's CPU backend, not the reference path).
    Accel(DeviceId),
}

impl std::str::FromStr for ProvingDevice {
    type Err = zkbox_accel::AccelError;

    /// `cpu` is the reference path; `opencl:N`, `cuda:N`, `vulkan:N` an accel device.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name == "cpu" {
            return Ok(ProvingDevice::Cpu);
        }
        name.parse().map(ProvingDevice::Accel)
    }
}

impl std::fmt::Display for ProvingDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProvingDevice::Cpu => f.write_str("cpu"),
            ProvingDevice::Accel(id) => write!(f, "{id} (accel)"),
        }
    }
}

/// Executes `program` on `input` (at most `max_cycles` cycles) and proves the run.
pub fn prove(program: &Program, input: Vec<u8>, max_cycles: u64) -> Result<Proof, ProveError> {
    prove_with_progress(program, input, max_cycles, |_| {})
}

/// [`prove`], calling `progress` as each stage begins.
pub fn prove_with_progress(
    program: &Program,
    input: Vec<u8>,
    max_cycles: u64,
    progress: impl FnMut(Stage),
) -> Result<Proof, ProveError> {
    let options = ProveOptions::new(max_cycles);
    prove_on(ProvingDevice::Cpu, program, input, options, progress)
}

/// [`prove_with_progress`] with the heavy work on `device` and the run cut as `options`
/// says. The device is opened first: one that cannot be opened is a [`ProveError::Device`]
/// before the guest runs. A device proof is verified before it is returned; one that does
/// not verify is a [`ProveError::DeviceProofRejected`].
pub fn prove_on(
    device: ProvingDevice,
    program: &Program,
    input: Vec<u8>,
    options: ProveOptions,
    progress: impl FnMut(Stage),
) -> Result<Proof, ProveError> {
    let prover_loop = options.prover_loop;
    let run = ProveRun {
        program,
        input,
        options,
        progress,
        device_memory: None,
        offload_counts: None,
    };
    match device {
        ProvingDevice::Cpu => {
            let mut cache = None;
            run.prove_with(|chips, traces, publics| {
                stark_on_cpu(prover_loop, &mut cache, chips, traces, publics)
            })
        }
        ProvingDevice::Accel(id) => zkbox_accel::with_backend(id, run)
            .map_err(|source| ProveError::Device { device: id, source })?,
    }
}

/// [`prove_on`] with an already opened accel backend (for instance a wrapper that injects
/// faults, `zkbox_accel::faulty::FaultyBackend`).
pub fn prove_with_backend<B: zkbox_accel::Backend + 'static>(
    backend: Arc<B>,
    program: &Program,
    input: Vec<u8>,
    options: ProveOptions,
    progress: impl FnMut(Stage),
) -> Result<Proof, ProveError> {
    prove_with_backend_counted(backend, program, input, options, progress).map(|(proof, _)| proof)
}

/// [`prove_with_backend`], also saying which steps the device took over.
pub fn prove_with_backend_counted<B: zkbox_accel::Backend + 'static>(
    backend: Arc<B>,
    program: &Program,
    input: Vec<u8>,
    options: ProveOptions,
    progress: impl FnMut(Stage),
) -> Result<(Proof, OffloadCounts), ProveError> {
    use zkbox_accel::BackendVisitor;
    let counts = std::cell::Cell::new(OffloadCounts::default());
    let proof = ProveRun {
        program,
        input,
        options,
        progress,
        device_memory: None,
        offload_counts: Some(&counts),
    }
    .visit(backend)?;
    Ok((proof, counts.get()))
}

/// One run to execute and prove.
struct ProveRun<'a, P> {
    program: &'a Program,
    input: Vec<u8>,
    options: ProveOptions,
    progress: P,
    /// The accel device's memory, on the device path.
    device_memory: Option<u64>,
    /// Where to say what the device took over, on the device path.
    offload_counts: Option<&'a std::cell::Cell<OffloadCounts>>,
}

impl<P: FnMut(Stage)> ProveRun<'_, P> {
    /// Counts the run's cycles with a plain run (an execution error or a run over the limit
    /// fails here, before any proving work), then runs it again traced, proving each
    /// segment as the executor hands it over.
    fn prove_with(
        mut self,
        mut stark: impl FnMut(&[Chip], &[RowMajorMatrix<Val>], &[Vec<Val>]) -> StarkOutput,
    ) -> Result<Proof, ProveError> {
        let ProveOptions {
            max_cycles,
            segment_cycles,
            memory_limit,
            prover_loop: _,
            device_compute: _,
        } = self.options;
        if !(1..=MAX_SEGMENT_CYCLES).contains(&segment_cycles) {
            return Err(ProveError::TooManyCycles {
                cycles: segment_cycles,
                max: MAX_SEGMENT_CYCLES,
            });
        }
        (self.progress)(Stage::Executing);
        let mut counter = Executor::new(self.program, self.input.clone());
        counter.run(max_cycles)?;
        let tables = program_tables(self.program);
        let segment_cycles = self.plan(
            segment_cycles,
            (counter.cycles(), counter.precompile_calls()),
            &tables,
            memory_limit,
        )?;
        let segments = u32::try_from(counter.cycles().div_ceil(segment_cycles))
            .ok()
            .filter(|&n| n as usize <= MAX_SEGMENTS)
            .ok_or(ProveError::TooManyCycles {
                cycles: counter.cycles(),
                max: MAX_SEGMENTS as u64 * segment_cycles,
            })?;
        drop(counter);

        let mut carried = CarriedMemory::default();
        let mut proven = Vec::new();
        let mut failure = None;
        let mut executor = Executor::new(self.program, self.input);
        executor.run_traced(max_cycles, segment_cycles, |segment| {
            if failure.is_some() {
                return;
            }
            (self.progress)(Stage::Witness {
                index: segment.index,
                segments,
                cycles: segment.steps.len() as u64,
            });
            let witness = if segments == 1 {
                generate(&tables.0, &tables.1, segment)
            } else {
                generate_segment(&tables.0, &tables.1, segment, &carried)
            };
            let witness = match witness {
                Ok(witness) => witness,
                Err(err) => {
                    failure = Some(err);
                    return;
                }
            };
            carried.apply(&witness.cells);
            (self.progress)(Stage::Proving {
                index: segment.index,
                segments,
            });
            match prove_with_tables(&tables, witness, &mut stark) {
                Ok(part) => proven.push(part),
                Err(err) => failure = Some(err),
            }
        })?;
        if let Some(err) = failure {
            return Err(err);
        }
        if proven.len() != segments as usize {
            return Err(ProveError::Inconsistent(format!(
                "the traced run has {} segments, the plain run {segments}",
                proven.len()
            )));
        }
        Proof::join(proven).map_err(|err| ProveError::Inconsistent(err.to_string()))
    }
}

impl<P: FnMut(Stage)> ProveRun<'_, P> {
    /// The segment size that fits this job's memory (see [`crate::plan`]).
    fn plan(
        &self,
        requested: u64,
        (run_cycles, run_calls): (u64, zkbox_executor::PrecompileCalls),
        (table, _): &ProgramTables,
        memory_limit: Option<u64>,
    ) -> Result<u64, ProveError> {
        use crate::plan::{MemoryBudget, Path, available_host_memory, plan_segment_cycles};
        let host = match (memory_limit, available_host_memory()) {
            (Some(limit), Some(available)) => limit.min(available),
            (Some(limit), None) => limit,
            (None, available) => available.unwrap_or(u64::MAX),
        };
        let (path, device) = match self.device_memory {
            Some(bytes) => (Path::Device, bytes),
            None => (Path::Cpu, 0),
        };
        let budget = MemoryBudget { host, device };
        let planned = plan_segment_cycles(
            path,
            requested,
            run_cycles,
            run_calls,
            table.height() as u64,
            budget,
        )?;
        if planned < requested {
            tracing::info!(
                requested,
                planned,
                host_bytes = budget.host,
                device_bytes = budget.device,
                "segments made smaller to fit the memory there is"
            );
        }
        Ok(planned)
    }
}

impl<P: FnMut(Stage)> zkbox_accel::BackendVisitor for ProveRun<'_, P> {
    type Output = Result<Proof, ProveError>;

    fn visit<B: zkbox_accel::Backend + 'static>(mut self, backend: Arc<B>) -> Self::Output {
        self.device_memory = Some(backend.info().memory_bytes);
        let prover_loop = self.options.prover_loop;
        let offload = DeviceOffload::new(
            crate::config::device_mmcs(backend.clone()),
            self.options.device_compute,
        );
        let mut cache = None;
        let report = self.offload_counts;
        let program = self.program;
        let proof = self.prove_with(|chips, traces, publics| {
            stark_on_device(prover_loop, &offload, &mut cache, chips, traces, publics)
        });
        let counts = offload.counts();
        tracing::info!(
            device = %backend.info().id,
            quotients_on_device = counts.quotients_on_device,
            quotient_fallbacks = counts.quotient_fallbacks,
            folds_on_device = counts.folds_on_device,
            fold_fallbacks = counts.fold_fallbacks,
            opening_steps_on_device = counts.opening_steps_on_device,
            opening_fallbacks = counts.opening_fallbacks,
            matrices_uploaded = counts.matrices_uploaded,
            matrices_downloaded = counts.matrices_downloaded,
            "device proof done"
        );
        if let Some(report) = report {
            report.set(counts);
        }
        // A device that computes a wrong value without an error (a miscompiled kernel, a
        // flipped bit) makes a proof that does not verify: checked here, at a small fraction
        // of the proving time, so such a proof is an error to retry elsewhere, never a result.
        // A backend whose memory is the host's (accel's CPU backend) is the host itself, its
        // steps the host's own code on the host's cores, trusted as the CPU path's are.
        let proof = proof?;
        if !backend.memory_is_host() {
            verify(&proof, Some(program)).map_err(|source| ProveError::DeviceProofRejected {
                device: backend.info().id,
                source,
            })?;
        }
        Ok(proof)
    }
}

/// Proves an already traced whole run (one segment ending in exit).
pub fn prove_segment(
    program: &Program,
    segment: &zkbox_executor::TraceSegment,
) -> Result<Proof, ProveError> {
    let tables = program_tables(program);
    let witness = generate(&tables.0, &tables.1, segment)?;
    prove_with_tables(&tables, witness, |chips, traces, publics| {
        stark_on_cpu(ProverLoop::Zkbox, &mut None, chips, traces, publics)
    })
}

/// The fraction-pin degree up to which LogUp interactions on one bus share a column: the
/// largest a blowup of 2 allows (a quotient of two chunks). Plonky3 packs only up to a
/// chip's own constraint degree; raising the degree-2 chips (ALU, multiply, the byte table)
/// to 3 evaluates their quotient on twice the points but commits about half their LogUp
/// columns: 3-13% faster and 5% smaller proofs on the integer mix and fibonacci, neutral
/// on the EVM block (docs/benchmarks.md, 2026-11-27).
pub const LOOKUP_DEGREE_BUDGET: usize = (1 << crate::config::LOG_BLOWUP) + 1;

/// The batch-STARK layout (preprocessed commitment, LogUp columns) of `airs` at
/// `degree_bits`, with lookups packed up to [`LOOKUP_DEGREE_BUDGET`]; prover and verifier
/// (CPU and device configurations alike) build it here.
#[allow(clippy::type_complexity)]
fn stark_layout<SC, A>(
    config: &SC,
    airs: &[A],
    degree_bits: &[usize],
) -> Result<ProverData<SC>, p3_batch_stark::ProvingError<p3_uni_stark::PcsProverError<SC>>>
where
    SC: p3_uni_stark::StarkGenericConfig,
    SC::Challenge: p3_field::BasedVectorSpace<p3_uni_stark::Val<SC>>,
    p3_air::SymbolicExpressionExt<p3_uni_stark::Val<SC>, SC::Challenge>:
        p3_field::Algebra<SC::Challenge>,
    A: p3_air::Air<p3_lookup::InteractionSymbolicBuilder<p3_uni_stark::Val<SC>, SC::Challenge>>,
{
    ProverData::from_airs_and_degrees_with_lookup_budgets(
        config,
        airs,
        degree_bits,
        &vec![LOOKUP_DEGREE_BUDGET; airs.len()],
        crate::config::LOG_BLOWUP,
    )
}

/// A chip and the LogUp lookups laid out for it.
pub type ChipLookups = (Chip, Vec<p3_lookup::Lookup<Val>>);

/// The chips of `witness`'s proof, each with the LogUp lookups the prover lays out for it at
/// the witness's trace heights: what [`crate::quotient::compile`] turns into device programs.
pub fn chips_with_lookups(
    program: &Program,
    witness: &crate::Witness,
) -> Result<Vec<ChipLookups>, ProveError> {
    let (table, image) = program_tables(program);
    let chips = machine(
        table,
        image,
        Claim {
            mode: witness.mode,
            output: Arc::new(witness.output.clone()),
            output_start: witness.public.output_start,
            cells: Arc::new(witness.cells.clone()),
        },
    );
    let degree_bits: Vec<usize> = witness
        .traces
        .iter()
        .map(|t| p3_matrix::Matrix::height(t).trailing_zeros() as usize)
        .collect();
    let views: Vec<WithoutPreprocessedTrace<'_>> =
        chips.iter().map(WithoutPreprocessedTrace).collect();
    let lookups = stark_layout(&stark_config(), &views, &degree_bits)
        .map_err(|e| ProveError::Stark(format!("{e:?}")))?
        .common
        .lookups;
    Ok(chips
        .into_iter()
        .zip(lookups)
        .map(|(chip, lookups)| (chip, lookups.to_vec()))
        .collect())
}

/// Proves one witness on the CPU: a whole run's, or one segment's (a proof of a single
/// segment verifies only once joined with the rest of its run by [`Proof::join`]). Exposed
/// so segments can be proven apart, and so soundness tests can prove tampered witnesses.
pub fn prove_witness(program: &Program, witness: crate::Witness) -> Result<Proof, ProveError> {
    prove_with_tables(
        &program_tables(program),
        witness,
        |chips, traces, publics| stark_on_cpu(ProverLoop::Zkbox, &mut None, chips, traces, publics),
    )
}

/// A program's decoded code and memory image, built once per proof.
fn program_tables(program: &Program) -> ProgramTables {
    (
        Arc::new(ProgramTable::new(program)),
        Arc::new(memory_image(program)),
    )
}

/// Proves a witness against tables already built from its program; `stark` is the STARK
/// step ([`stark_on_cpu`] or [`stark_on_device`]).
fn prove_with_tables(
    (table, image): &ProgramTables,
    witness: crate::Witness,
    mut stark: impl FnMut(&[Chip], &[RowMajorMatrix<Val>], &[Vec<Val>]) -> StarkOutput,
) -> Result<Proof, ProveError> {
    let p = witness.public;
    let (layout, traces) = ChipLayout::split(witness.chips, witness.chips.select(witness.traces));
    let chips = layout.select(machine(
        table.clone(),
        image.clone(),
        Claim {
            mode: witness.mode,
            output: Arc::new(witness.output.clone()),
            output_start: p.output_start,
            cells: Arc::new(witness.cells.clone()),
        },
    ));
    let publics = public_values_per_chip(&chips, &p);
    let (stark, program_commitment) = stark(&chips, &traces, &publics)?;
    Ok(Proof {
        segments: vec![p],
        body: ProofBody {
            program_shape: [
                table.height() as u32,
                image.len().next_power_of_two().max(4) as u32,
            ],
            program_commitment,
            segmented: witness.mode != MemoryMode::Whole,
            segments: vec![SegmentBody {
                public: [
                    p.pc_start,
                    p.clk_start,
                    p.clk_end,
                    p.exit_code,
                    p.pc_end,
                    u32::from(p.halted),
                ],
                output: witness.output,
                cells: witness.cells,
                chips: layout,
                stark,
            }],
        },
    })
}

/// What the STARK step returns: the proof and the program commitment, in the reference
/// configuration's types.
type StarkOutput = Result<(BatchProof<ZkboxConfig>, Commitment), ProveError>;

/// Proves the chips' batch STARK with a configuration's DFT and Merkle trees. The proof and
/// the program commitment come back in the reference configuration's types: every
/// configuration here writes the same bytes, which the re-encoding checks. A macro rather
/// than a generic function: Plonky3's bounds on a generic configuration run to dozens of
/// clauses, while each concrete configuration satisfies them on its own.
macro_rules! prove_stark {
    ($config:expr, $cache:expr, $chips:expr, $traces:expr, $publics:expr, $stark_loop:expr, $offload:expr) => {{
        let (config, chips, traces, publics): (_, &[Chip], &[RowMajorMatrix<Val>], &[Vec<Val>]) =
            ($config, $chips, $traces, $publics);
        let degree_bits: Vec<usize> = traces
            .iter()
            .map(|t| {
                t.values
                    .len()
                    .checked_div(t.width)
                    .unwrap_or(0)
                    .trailing_zeros() as usize
            })
            .collect();
        // The preprocessed tables are the program's, the same in every segment: commit them
        // once per run and only lay out each segment's lookups again.
        // A cached layout is for the previous segment's instances; one with another count
        // (other optional chips, or instruction chips cut into other pieces) is laid out
        // afresh. Either way the commitment is the same: every chip with preprocessed
        // columns comes before the optional and the splittable ones, so the preprocessed
        // instances of two layouts with the same count sit at the same positions.
        let cached = $cache.take().filter(|data: &ProverData<_>| {
            data.common
                .preprocessed
                .as_ref()
                .is_some_and(|p| p.instances.len() == chips.len())
        });
        let prover_data = match cached {
            Some(mut data) => {
                let views: Vec<WithoutPreprocessedTrace<'_>> =
                    chips.iter().map(WithoutPreprocessedTrace).collect();
                data.common.lookups = stark_layout(config, &views, &degree_bits)
                    .map_err(|e| ProveError::Stark(format!("{e:?}")))?
                    .common
                    .lookups;
                data
            }
            None => stark_layout(config, chips, &degree_bits)
                .map_err(|e| ProveError::Stark(format!("{e:?}")))?,
        };
        let instances: Vec<StarkInstance<'_, _, Chip>> = chips
            .iter()
            .zip(traces)
            .zip(publics)
            .map(|((air, trace), public)| StarkInstance {
                air,
                trace,
                public_values: public.clone(),
            })
            .collect();
        let plans =
            match $stark_loop {
                ProverLoop::Zkbox => crate::batch::LookupPlan::for_chips::<
                    Val,
                    crate::config::Challenge,
                >(chips, &prover_data.common.lookups),
                ProverLoop::Plonky3 => None,
            };
        let stark = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &plans {
            Some(plans) => crate::batch::prove(
                config,
                chips,
                traces,
                publics,
                &prover_data,
                plans,
                $offload,
            ),
            None => prove_batch(config, &instances, &prover_data)
                .map_err(|e| ProveError::Stark(format!("{e:?}"))),
        }))
        .map_err(crate::proof::panic_error)??;
        let commitment = prover_data
            .common
            .preprocessed
            .as_ref()
            .map(|p| &p.commitment)
            .ok_or_else(|| ProveError::Stark("no preprocessed commitment".into()))?;
        let output = (reencode(&stark)?, reencode(commitment)?);
        *$cache = Some(prover_data);
        Ok(output)
    }};
}

/// The error a panic of the STARK prover stands for: a device that failed while it alone
/// held proof data ([`DeviceFailure`]: nothing was proven, and the job can be retried on
/// another device), or else a prover bug.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> ProveError {
    match payload.downcast::<DeviceFailure>() {
        Ok(failure) => ProveError::Device {
            device: failure.device,
            source: failure.source,
        },
        Err(_) => ProveError::Stark("the prover panicked".into()),
    }
}

/// The prover data of a run's preprocessed tables, kept from one segment's proof to the
/// next (`None` before the first).
type PreprocessedCache<C> = Option<ProverData<C>>;

/// The STARK step on the reference CPU path.
fn stark_on_cpu(
    prover_loop: ProverLoop,
    cache: &mut PreprocessedCache<ZkboxConfig>,
    chips: &[Chip],
    traces: &[RowMajorMatrix<Val>],
    publics: &[Vec<Val>],
) -> StarkOutput {
    prove_stark!(
        &stark_config(),
        cache,
        chips,
        traces,
        publics,
        prover_loop,
        &crate::batch::HostOnly
    )
}

/// The STARK step with LDEs and Merkle trees on `backend` and, with zkbox's loop, the
/// steps `offload` takes over.
fn stark_on_device<B: zkbox_accel::Backend + 'static>(
    prover_loop: ProverLoop,
    offload: &DeviceOffload<B>,
    cache: &mut PreprocessedCache<crate::config::DeviceConfig<B>>,
    chips: &[Chip],
    traces: &[RowMajorMatrix<Val>],
    publics: &[Vec<Val>],
) -> StarkOutput {
    prove_stark!(
        &device_config(offload.mmcs().clone()),
        cache,
        chips,
        traces,
        publics,
        prover_loop,
        offload
    )
}

/// [`prove_witness`] with Plonky3's own `prove_batch` rather than zkbox's prover loop
/// ([`crate::batch`]): the reference that loop's proofs equal byte for byte.
pub fn prove_witness_with_plonky3_loop(
    program: &Program,
    witness: crate::Witness,
) -> Result<Proof, ProveError> {
    prove_with_tables(
        &program_tables(program),
        witness,
        |chips, traces, publics| {
            stark_on_cpu(ProverLoop::Plonky3, &mut None, chips, traces, publics)
        },
    )
}

/// `value` read back as `T` through its postcard encoding.
fn reencode<S: Serialize, T: serde::de::DeserializeOwned>(value: &S) -> Result<T, ProveError> {
    let bytes = postcard::to_allocvec(value)
        .map_err(|e| ProveError::Stark(format!("cannot encode the proof: {e}")))?;
    postcard::from_bytes(&bytes).map_err(|e| {
        ProveError::Stark(format!("the proof does not have the reference layout: {e}"))
    })
}

impl Proof {
    /// The proof file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend(postcard::to_allocvec(&self.body).expect("proofs always serialise"));
        out
    }

    /// Parses a proof file (does not verify it).
    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, VerifyError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(VerifyError::Malformed(format!(
                "{} bytes is more than the {MAX_PROOF_BYTES}-byte limit",
                bytes.len()
            )));
        }
        if bytes.len() < 12 || bytes[..8] != MAGIC {
            return Err(VerifyError::BadMagic);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("four bytes"));
        if version != VERSION {
            return Err(VerifyError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let (body, rest): (ProofBody, &[u8]) = postcard::take_from_bytes(&bytes[12..])
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(VerifyError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        if body.segments.is_empty() || body.segments.len() > MAX_SEGMENTS {
            return Err(VerifyError::Malformed(format!(
                "{} segments (1 to {MAX_SEGMENTS} allowed)",
                body.segments.len()
            )));
        }
        let mut segments = Vec::with_capacity(body.segments.len());
        let mut output_start = 0u32;
        for segment in &body.segments {
            let [pc_start, clk_start, clk_end, exit_code, pc_end, halted] = segment.public;
            if segment.output.len() > output::MAX_PROVEN_OUTPUT_BYTES {
                return Err(VerifyError::Malformed("public output too large".into()));
            }
            let output_len = output_start
                .checked_add(segment.output.len() as u32)
                .ok_or_else(|| VerifyError::Malformed("public output too large".into()))?;
            let halted = match halted {
                0 => false,
                1 => true,
                _ => return Err(VerifyError::Malformed("halted is not 0 or 1".into())),
            };
            segments.push(PublicValues {
                pc_start,
                clk_start,
                clk_end,
                exit_code,
                output_len,
                pc_end,
                halted,
                output_start,
                output_digest: output_digest(&segment.output),
                memory_digest: memory_digest(&segment.cells),
            });
            output_start = output_len;
        }
        Ok(Proof { segments, body })
    }

    /// Joins the proofs of a run's segments, in execution order, into one proof of the run
    /// (the verifier checks that they link up). One whole-run proof joins to itself.
    pub fn join(parts: Vec<Proof>) -> Result<Proof, VerifyError> {
        let mut parts = parts.into_iter();
        let Some(mut joined) = parts.next() else {
            return Err(VerifyError::Shape("no segments to join".into()));
        };
        for part in parts {
            if part.body.program_commitment != joined.body.program_commitment
                || part.body.program_shape != joined.body.program_shape
            {
                return Err(VerifyError::WrongProgram);
            }
            if !part.body.segmented || !joined.body.segmented {
                return Err(VerifyError::Shape(
                    "a whole-run proof cannot be joined with others".into(),
                ));
            }
            joined.body.segments.extend(part.body.segments);
        }
        if joined.body.segments.len() > MAX_SEGMENTS {
            return Err(VerifyError::Shape(format!(
                "more than {MAX_SEGMENTS} segments"
            )));
        }
        // Recompute the public values: each segment's output starts where the previous
        // one's ended.
        Proof::from_bytes(&joined.to_bytes())
    }

    /// The program commitment (verifying key) as hex.
    pub fn program_commitment_hex(&self) -> String {
        let json = serde_json_free_words(&self.body.program_commitment);
        json.iter().map(|w| format!("{w:08x}")).collect()
    }

    /// The proven public output: every segment's share, in order.
    pub fn output(&self) -> Vec<u8> {
        self.body
            .segments
            .iter()
            .flat_map(|s| s.output.iter().copied())
            .collect()
    }

    /// The guest's exit code (as the last segment proves it).
    pub fn exit_code(&self) -> u32 {
        self.segments.last().map_or(0, |p| p.exit_code)
    }

    /// The STARK instances of the first segment's proof, in proof order, each with its
    /// chip's name and log2 of its trace height (unused precompiles' chips are not there; a
    /// chip cut into pieces appears once per piece).
    pub fn log_trace_heights(&self) -> Vec<(&'static str, usize)> {
        let first = &self.body.segments[0];
        first
            .chips
            .instance_chips()
            .map(|i| CHIP_NAMES[i])
            .zip(first.stark.degree_bits.iter().copied())
            .collect()
    }

    /// Number of segment proofs (1 for a whole run).
    pub fn segment_count(&self) -> usize {
        self.body.segments.len()
    }

    /// Whether the run was proven in segments.
    pub fn is_segmented(&self) -> bool {
        self.body.segmented
    }

    /// Cycles the proven run executed.
    pub fn cycles(&self) -> u64 {
        self.segments
            .iter()
            .map(|p| u64::from(p.clk_end.saturating_sub(p.clk_start)))
            .sum()
    }
}

/// The commitment's field elements as integers (via its serde form).
fn serde_json_free_words(commitment: &Commitment) -> Vec<u32> {
    let bytes = postcard::to_allocvec(commitment).expect("commitments serialise");
    // Postcard writes each element as a varint; decoding them back as u32 varints gives the
    // canonical field values.
    let mut words = Vec::new();
    let mut rest: &[u8] = &bytes;
    while let Ok((w, r)) = postcard::take_from_bytes::<u32>(rest) {
        words.push(w);
        rest = r;
        if rest.is_empty() {
            break;
        }
    }
    words
}

/// Verifies `proof`: every segment's STARK, and that the segments link up into one run
/// from the program's entry to its exit. With `program`, also checks that it is a proof
/// about that program; without, it trusts the program commitment in the file (print it and
/// compare).
pub fn verify(proof: &Proof, program: Option<&Program>) -> Result<(), VerifyError> {
    let body = &proof.body;
    let count = body.segments.len();
    if count == 0 || count > MAX_SEGMENTS || proof.segments.len() != count {
        return Err(VerifyError::Shape(format!(
            "{count} segments (1 to {MAX_SEGMENTS} allowed)"
        )));
    }
    if body.segmented != (count > 1) {
        return Err(VerifyError::Shape(if body.segmented {
            "a single segment of a longer run proves nothing on its own: join all of the \
             run's segment proofs"
                .into()
        } else {
            "a whole-run proof has exactly one part".into()
        }));
    }
    let (table, image) = match program {
        Some(program) => {
            if program.entry != proof.segments[0].pc_start {
                return Err(VerifyError::WrongProgram);
            }
            (
                Arc::new(ProgramTable::new(program)),
                Arc::new(memory_image(program)),
            )
        }
        None => placeholder_program(body.program_shape)?,
    };
    let shape = [
        table.height() as u32,
        image.len().next_power_of_two().max(4) as u32,
    ];
    if body.program_shape != shape {
        return Err(VerifyError::Shape(
            "the program shape in the file does not match the program".into(),
        ));
    }
    let config = stark_config();
    // With the ELF, the program commitment is recomputed (once per proof, however many
    // segments it has) and must match; without, the file's is trusted.
    let commitment = match program {
        Some(_) => {
            let first = &body.segments[0];
            let chips = chip_layout(first, 0)?.select(machine(
                table.clone(),
                image.clone(),
                Claim::of(first, 0, body, 0),
            ));
            check_heights(&chips, &first.stark.degree_bits)?;
            let commitment = program_commitment(&config, &chips, &first.stark.degree_bits)?;
            if commitment != body.program_commitment {
                return Err(VerifyError::WrongProgram);
            }
            commitment
        }
        None => body.program_commitment.clone(),
    };
    let mut carried = CarriedMemory::default();
    let mut output_start = 0u32;
    let mut pc = proof.segments[0].pc_start;
    for (index, (public, segment)) in proof.segments.iter().zip(&body.segments).enumerate() {
        let at = |what: String| VerifyError::Shape(format!("segment {index}: {what}"));
        let last = index + 1 == count;
        if public.clk_start != 1
            || public.clk_end <= public.clk_start
            || u64::from(public.clk_end - public.clk_start) > MAX_SEGMENT_CYCLES
        {
            return Err(at(format!(
                "cycle range {}..{} is not 1..(at most {MAX_SEGMENT_CYCLES} cycles)",
                public.clk_start, public.clk_end
            )));
        }
        if public.halted != last {
            return Err(at(if last {
                "the last segment does not halt".into()
            } else {
                "a segment before the last halts".into()
            }));
        }
        if public.pc_start != pc {
            return Err(at(format!(
                "starts at pc {:#x}, the previous segment ended at {pc:#x}",
                public.pc_start
            )));
        }
        if public.output_start != output_start
            || public.output_len as usize != output_start as usize + segment.output.len()
            || public.output_digest != output_digest(&segment.output)
            || public.memory_digest != memory_digest(&segment.cells)
        {
            return Err(at("the public values do not match the output".into()));
        }
        if body.segmented {
            check_boundary(&segment.cells, index == 0, &carried, public)
                .map_err(|e| at(e.to_string()))?;
        } else if !segment.cells.is_empty() {
            return Err(at("a whole run has no memory boundary".into()));
        }
        let claim = Claim::of(segment, index, body, output_start);
        let chips =
            chip_layout(segment, index)?.select(machine(table.clone(), image.clone(), claim));
        verify_stark(&config, &chips, public, segment, &commitment)?;
        carried.apply(&segment.cells);
        output_start = public.output_len;
        pc = public.pc_end;
    }
    Ok(())
}

/// The chips segment `index` holds and their pieces, if a proof may hold them.
fn chip_layout(segment: &SegmentBody, index: usize) -> Result<&ChipLayout, VerifyError> {
    if segment.chips.is_valid() {
        Ok(&segment.chips)
    } else {
        Err(VerifyError::Shape(format!(
            "segment {index}: chip layout {:?} leaves out a required chip, names an unknown \
             one or cuts one it may not",
            segment.chips
        )))
    }
}

/// Checks a segment's memory boundary against the memory the previous segments left:
/// distinct cells in increasing order, each a register, I/O cell or RAM word, each
/// starting from the value the chain holds (or opened by the image, in the first segment
/// only), and the output cursor among them, moving as the public values say.
fn check_boundary(
    cells: &[BoundaryCell],
    first: bool,
    carried: &CarriedMemory,
    public: &PublicValues,
) -> Result<(), String> {
    let mut previous = None;
    for cell in cells {
        if previous.is_some_and(|p| p >= cell.idx) {
            return Err("the memory boundary is not in increasing cell order".into());
        }
        previous = Some(cell.idx);
        let valid =
            cell.idx <= io::INPUT_ENDED_CELL || (RAM_FIRST_WORD..RAM_END_WORD).contains(&cell.idx);
        if !valid {
            return Err(format!("cell {:#x} is not a memory cell", cell.idx));
        }
        match cell.before {
            None if !first => {
                return Err(format!(
                    "cell {:#x} is opened by the image after the first segment",
                    cell.idx
                ));
            }
            Some(before) if before != carried.get(cell.idx) => {
                return Err(format!(
                    "cell {:#x} starts as {before:#x}, the previous segments left {:#x}",
                    cell.idx,
                    carried.get(cell.idx)
                ));
            }
            _ => {}
        }
    }
    let cursor = cells
        .iter()
        .find(|c| c.idx == io::OUTPUT_CURSOR_CELL)
        .ok_or("the output cursor is not in the memory boundary")?;
    if cursor.before != Some(public.output_start) || cursor.after != public.output_len {
        return Err("the output cursor does not move as the public values say".into());
    }
    Ok(())
}

impl Claim {
    /// The claim of the `index`th segment of a proof file's body, whose share of the output
    /// starts at `output_start`.
    fn of(segment: &SegmentBody, index: usize, body: &ProofBody, output_start: u32) -> Claim {
        Claim {
            mode: if body.segmented {
                MemoryMode::Segment { first: index == 0 }
            } else {
                MemoryMode::Whole
            },
            output: Arc::new(segment.output.clone()),
            output_start,
            cells: Arc::new(segment.cells.clone()),
        }
    }
}

/// Checks a proof's trace heights: the program's tables, the byte table, the boundary and
/// the verifier-built tables have the heights their contents give; every other chip a
/// height the machine allows.
fn check_heights(chips: &[Chip], degree_bits: &[usize]) -> Result<(), VerifyError> {
    if degree_bits.len() != chips.len() {
        return Err(VerifyError::Shape(format!(
            "{} traces, expected {}",
            degree_bits.len(),
            chips.len()
        )));
    }
    for (chip, &bits) in chips.iter().zip(degree_bits) {
        let fixed = match chip {
            Chip::Program(c) => c.table.height(),
            Chip::Bytes(_) => bytes::BYTE_TABLE_HEIGHT,
            Chip::Boundary(_) => boundary::BOUNDARY_HEIGHT,
            Chip::MemoryImage(c) => c.height(),
            Chip::Output(c) => c.height(),
            Chip::MemoryBoundary(c) => c.height(),
            _ => 0,
        };
        if fixed != 0 && bits != fixed.trailing_zeros() as usize {
            return Err(if matches!(chip, Chip::Program(_) | Chip::MemoryImage(_)) {
                VerifyError::WrongProgram
            } else {
                VerifyError::Shape(format!("{} has the wrong height", chip.name()))
            });
        }
        if !(2..=25).contains(&bits) {
            return Err(VerifyError::Shape(format!(
                "{} has an impossible height",
                chip.name()
            )));
        }
    }
    // A chip's pieces come largest first, each smaller than the one before: one layout per
    // row count (the prover's `layout::piece_heights`), not a family of equivalent ones.
    for (pair, bits) in chips.windows(2).zip(degree_bits.windows(2)) {
        if std::mem::discriminant(&pair[0]) == std::mem::discriminant(&pair[1])
            && bits[1] >= bits[0]
        {
            return Err(VerifyError::Shape(format!(
                "the pieces of {} are not in decreasing height",
                pair[0].name()
            )));
        }
    }
    Ok(())
}

/// The commitment of the chips' preprocessed traces: the program's verifying key.
fn program_commitment(
    config: &ZkboxConfig,
    chips: &[Chip],
    degree_bits: &[usize],
) -> Result<Commitment, VerifyError> {
    let data = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stark_layout(config, chips, degree_bits)
    }))
    .map_err(|_| VerifyError::Shape("trace heights do not fit the machine".into()))?
    .map_err(|e| VerifyError::Shape(format!("{e:?}")))?;
    data.common
        .preprocessed
        .map(|p| p.commitment)
        .ok_or_else(|| VerifyError::Shape("no preprocessed traces".into()))
}

/// A chip as the verifier lays it out: its preprocessed columns exist (their widths shape
/// the lookups and the openings) but their trace is never built or committed, because the
/// commitment is already known. This keeps verification of each segment independent of
/// the program's size.
struct WithoutPreprocessedTrace<'a>(&'a Chip);

impl<F: p3_field::Field> p3_air::BaseAir<F> for WithoutPreprocessedTrace<'_> {
    fn width(&self) -> usize {
        p3_air::BaseAir::<F>::width(self.0)
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        None
    }
    fn preprocessed_width(&self) -> usize {
        p3_air::BaseAir::<F>::preprocessed_width(self.0)
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        p3_air::BaseAir::<F>::main_next_row_columns(self.0)
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        p3_air::BaseAir::<F>::preprocessed_next_row_columns(self.0)
    }
    fn num_public_values(&self) -> usize {
        p3_air::BaseAir::<F>::num_public_values(self.0)
    }
    fn num_periodic_columns(&self) -> usize {
        p3_air::BaseAir::<F>::num_periodic_columns(self.0)
    }
    fn periodic_columns(&self) -> std::borrow::Cow<'_, [Vec<F>]> {
        p3_air::BaseAir::<F>::periodic_columns(self.0)
    }
}

impl<AB: p3_air::PermutationAirBuilder + p3_lookup::InteractionBuilder> p3_air::Air<AB>
    for WithoutPreprocessedTrace<'_>
where
    AB::F: p3_field::Field,
{
    fn eval(&self, builder: &mut AB) {
        self.0.eval(builder)
    }
}

/// Verifies one segment's (or a whole run's) STARK proof for `chips` against the program
/// commitment.
fn verify_stark(
    config: &ZkboxConfig,
    chips: &[Chip],
    public: &PublicValues,
    segment: &SegmentBody,
    commitment: &Commitment,
) -> Result<(), VerifyError> {
    let stark = &segment.stark;
    check_heights(chips, &stark.degree_bits)?;
    let views: Vec<WithoutPreprocessedTrace<'_>> =
        chips.iter().map(WithoutPreprocessedTrace).collect();
    let mut common: CommonData<ZkboxConfig> =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stark_layout(config, &views, &stark.degree_bits).map(|d| d.common)
        }))
        .map_err(|_| VerifyError::Shape("trace heights do not fit the machine".into()))?
        .map_err(|e| VerifyError::Shape(format!("{e:?}")))?;
    // The preprocessed layout: one matrix per chip with preprocessed columns, in chip
    // order, at the chip's height, under the program commitment.
    let mut instances = Vec::with_capacity(chips.len());
    let mut matrix_to_instance = Vec::new();
    for (i, chip) in chips.iter().enumerate() {
        let width = p3_air::BaseAir::<Val>::preprocessed_width(chip);
        if width == 0 {
            instances.push(None);
            continue;
        }
        instances.push(Some(p3_batch_stark::common::PreprocessedInstanceMeta {
            matrix_index: matrix_to_instance.len(),
            width,
            degree_bits: stark.degree_bits[i],
        }));
        matrix_to_instance.push(i);
    }
    common.preprocessed = Some(p3_batch_stark::common::GlobalPreprocessed {
        commitment: commitment.clone(),
        instances,
        matrix_to_instance,
    });
    let publics = public_values_per_chip(chips, public);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify_batch(config, chips, stark, &publics, &common)
    }))
    .map_err(|_| VerifyError::Invalid("the verifier rejected a malformed proof".into()))?;
    outcome.map_err(|e| VerifyError::Invalid(format!("{e:?}")))
}

/// A program's preprocessed tables: its decoded code and its memory image.
type ProgramTables = (Arc<ProgramTable>, Arc<Vec<ImageWord>>);

/// A program of the right shape whose contents do not matter: used to lay out the verifier's
/// tables when no ELF is given (the commitment then comes from the proof file).
fn placeholder_program(shape: [u32; 2]) -> Result<ProgramTables, VerifyError> {
    let [program_height, image_height] = shape;
    let ok = |h: u32| h.is_power_of_two() && (4..=1 << 22).contains(&h);
    if !ok(program_height) || !ok(image_height) {
        return Err(VerifyError::Shape("impossible program shape".into()));
    }
    let table = ProgramTable {
        code_start: 0x1000,
        instructions: vec![zkbox_executor::decode::Instruction::ILLEGAL; program_height as usize],
        entry: 0x1000,
    };
    let image = (0..image_height)
        .map(|i| ImageWord {
            idx: RAM_FIRST_WORD + i,
            word: 1,
            writable: true,
        })
        .collect();
    Ok((Arc::new(table), Arc::new(image)))
}

/// Field elements as integers, for tests and tools.
pub fn canonical(values: &[Val]) -> Vec<u32> {
    values.iter().map(|v| v.as_canonical_u32()).collect()
}

#[allow(dead_code)]
fn zero() -> Val {
    Val::ZERO
}

/// Checks every bus of a witness for balance outside the STARK, panicking with the first
/// unbalanced message and where it comes from: a debugging aid for chip and witness work.
pub fn check_witness_buses(program: &Program, witness: &crate::Witness) {
    use p3_lookup::debug_util::{LookupDebugInstance, check_lookups};
    let table = Arc::new(ProgramTable::new(program));
    let image = Arc::new(memory_image(program));
    let claim = Claim {
        mode: witness.mode,
        output: Arc::new(witness.output.clone()),
        output_start: witness.public.output_start,
        cells: Arc::new(witness.cells.clone()),
    };
    let chips = machine(table, image, claim);
    let config = stark_config();
    let degree_bits: Vec<usize> = witness
        .traces
        .iter()
        .map(|t| (t.values.len() / t.width).trailing_zeros() as usize)
        .collect();
    let data = stark_layout(&config, &chips, &degree_bits).expect("layout");
    let publics = public_values_per_chip(&chips, &witness.public);
    let preprocessed: Vec<_> = chips
        .iter()
        .map(p3_air::BaseAir::<Val>::preprocessed_trace)
        .collect();
    let instances: Vec<_> = (0..chips.len())
        .map(|i| LookupDebugInstance {
            main_trace: &witness.traces[i],
            preprocessed_trace: &preprocessed[i],
            public_values: &publics[i],
            lookups: &data.common.lookups[i],
            permutation_challenges: &[],
        })
        .collect();
    check_lookups(&instances);
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkbox_executor::asm;

    /// Over 4,096 ALU rows for `n` ≥ 700, so the ALU trace is cut into pieces.
    fn alu_loop(n: u32) -> Program {
        Program::from_words(0x1000, &asm::alu_loop(n)).expect("a valid program")
    }

    #[test]
    fn a_split_alu_proves_and_a_forged_layout_is_rejected() {
        let program = alu_loop(900);
        let proof = prove(&program, vec![], 100_000).expect("proves");
        let alu: Vec<usize> = proof
            .log_trace_heights()
            .into_iter()
            .filter(|(name, _)| *name == "alu")
            .map(|(_, bits)| bits)
            .collect();
        // 5,400 ALU rows of a 2^13 trace: 4,096 + 2,048 rather than 8,192.
        assert_eq!(alu, vec![12, 11]);
        verify(&proof, Some(&program)).expect("verifies");
        let bytes = proof.to_bytes();

        let forge = |edit: &dyn Fn(&mut ChipLayout)| {
            let mut forged = Proof::from_bytes(&bytes).expect("parses");
            edit(&mut forged.body.segments[0].chips);
            let reparsed = Proof::from_bytes(&forged.to_bytes());
            reparsed.map_or(true, |p| verify(&p, Some(&program)).is_err())
        };
        let set = proof.body.segments[0].chips.set();
        // The ALU claimed whole, or in a third piece the proof does not have.
        assert!(forge(&|l| *l = ChipLayout::whole(set)));
        let mut pieces = vec![1u8; set.len()];
        let alu_position = set.indices().position(|i| CHIP_NAMES[i] == "alu").unwrap();
        pieces[alu_position] = 3;
        let three = ChipLayout::from_parts(set, pieces.clone());
        assert!(forge(&|l| *l = three.clone()));
        // A table that may not be cut at all.
        pieces[alu_position] = 2;
        pieces[0] = 2;
        let program_cut = ChipLayout::from_parts(set, pieces);
        assert!(!program_cut.is_valid());
        assert!(forge(&|l| *l = program_cut.clone()));
    }

    #[test]
    fn pieces_out_of_order_are_rejected() {
        let chips = machine(
            Arc::new(ProgramTable::new(&alu_loop(1))),
            Arc::new(Vec::new()),
            Claim {
                mode: MemoryMode::Whole,
                output: Arc::new(Vec::new()),
                output_start: 0,
                cells: Arc::new(Vec::new()),
            },
        );
        let alu = chips
            .iter()
            .position(|c| matches!(c, Chip::Alu(_)))
            .unwrap();
        let pieces = vec![chips[alu].clone(), chips[alu].clone()];
        assert!(check_heights(&pieces, &[12, 11]).is_ok());
        for bits in [[11, 12], [12, 12]] {
            assert!(matches!(
                check_heights(&pieces, &bits),
                Err(VerifyError::Shape(_))
            ));
        }
    }
}
