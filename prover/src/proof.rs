//! Proving, verifying, and the proof file.
//!
//! A proof file is `ZKBXPRF\0`, a little-endian `u32` format version, then the postcard
//! encoding of [`ProofBody`]: the public values, the program commitment (the verifying key:
//! the Poseidon2 commitment of the preprocessed program table, memory image and byte table)
//! with the heights it was made for, and the `p3-batch-stark` proof.

use std::sync::Arc;

use p3_batch_stark::{
    BatchProof, CommonData, ProverData, StarkInstance, prove_batch, verify_batch,
};
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_matrix::dense::RowMajorMatrix;
use serde::{Deserialize, Serialize};
use zkbox_accel::DeviceId;
use zkbox_executor::{Executor, Program};

use crate::chips::*;
use crate::config::{Val, ZkboxConfig, device_config, stark_config};
use crate::error::{ProveError, VerifyError};
use crate::witness::{ImageWord, generate, memory_image};

/// The magic number that starts every proof file.
pub const MAGIC: [u8; 8] = *b"ZKBXPRF\0";
/// The proof file format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Largest proof file the verifier reads.
pub const MAX_PROOF_BYTES: usize = 64 << 20;

type Commitment = p3_batch_stark::Commitment<ZkboxConfig>;

/// What a proof file holds after its header.
#[derive(Serialize, Deserialize)]
pub struct ProofBody {
    /// pc_start, clk_start, clk_end, exit code.
    pub public: [u32; 4],
    /// The public output.
    pub output: Vec<u8>,
    /// Heights of the program table and memory image the commitment was made for.
    pub program_shape: [u32; 2],
    /// The program commitment (verifying key).
    pub program_commitment: Commitment,
    /// The STARK proof.
    pub stark: BatchProof<ZkboxConfig>,
}

/// A proof of one run of a program.
pub struct Proof {
    /// The proven public values.
    pub public: PublicValues,
    body: ProofBody,
}

/// The chips of one program, in proof order.
fn machine(
    table: Arc<ProgramTable>,
    image: Arc<Vec<ImageWord>>,
    output: Arc<Vec<u8>>,
) -> Vec<Chip> {
    vec![
        Chip::Program(ProgramChip { table }),
        Chip::Bytes(ByteChip),
        Chip::Boundary(BoundaryChip),
        Chip::MemoryImage(MemoryImageChip { words: image }),
        Chip::MemoryFinal(MemoryFinalChip),
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
        Chip::Output(OutputChip { bytes: output }),
        Chip::Div(DivChip),
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
    /// Running the guest and recording its trace.
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
    prove_on(ProvingDevice::Cpu, program, input, max_cycles, progress)
}

/// [`prove_with_progress`] with the heavy work on `device`. The device is opened first: one
/// that cannot be opened is a [`ProveError::Device`] before the guest runs.
pub fn prove_on(
    device: ProvingDevice,
    program: &Program,
    input: Vec<u8>,
    max_cycles: u64,
    progress: impl FnMut(Stage),
) -> Result<Proof, ProveError> {
    let run = ProveRun {
        program,
        input,
        max_cycles,
        progress,
    };
    match device {
        ProvingDevice::Cpu => run.prove_with(stark_on_cpu),
        ProvingDevice::Accel(id) => zkbox_accel::with_backend(id, run)
            .map_err(|source| ProveError::Device { device: id, source })?,
    }
}

/// One run to execute and prove.
struct ProveRun<'a, P> {
    program: &'a Program,
    input: Vec<u8>,
    max_cycles: u64,
    progress: P,
}

impl<P: FnMut(Stage)> ProveRun<'_, P> {
    fn prove_with(
        mut self,
        stark: impl FnOnce(&[Chip], &[RowMajorMatrix<Val>], &[Vec<Val>]) -> StarkOutput,
    ) -> Result<Proof, ProveError> {
        (self.progress)(Stage::Executing);
        let mut executor = Executor::new(self.program, self.input);
        let mut segment = None;
        let mut segments = 0u32;
        executor.run_traced(self.max_cycles, MAX_SEGMENT_CYCLES, |s| {
            segments += 1;
            if segments == 1 {
                segment = Some(s.clone());
            }
        })?;
        let segment = segment.ok_or(ProveError::NoExit)?;
        if segments != 1 {
            return Err(ProveError::TooManyCycles {
                cycles: executor.cycles(),
                max: MAX_SEGMENT_CYCLES,
            });
        }
        (self.progress)(Stage::Witness {
            index: 0,
            segments,
            cycles: segment.steps.len() as u64,
        });
        let tables = program_tables(self.program);
        let witness = generate(&tables.0, &tables.1, &segment)?;
        (self.progress)(Stage::Proving { index: 0, segments });
        prove_with_tables(tables, witness, stark)
    }
}

impl<P: FnMut(Stage)> zkbox_accel::BackendVisitor for ProveRun<'_, P> {
    type Output = Result<Proof, ProveError>;

    fn visit<B: zkbox_accel::Backend + 'static>(self, backend: Arc<B>) -> Self::Output {
        self.prove_with(|chips, traces, publics| stark_on_device(backend, chips, traces, publics))
    }
}

/// Proves an already traced run (one segment ending in exit).
pub fn prove_segment(
    program: &Program,
    segment: &zkbox_executor::TraceSegment,
) -> Result<Proof, ProveError> {
    let tables = program_tables(program);
    let witness = generate(&tables.0, &tables.1, segment)?;
    prove_with_tables(tables, witness, stark_on_cpu)
}

/// Proves a witness (exposed so soundness tests can prove tampered witnesses).
pub fn prove_witness(program: &Program, witness: crate::Witness) -> Result<Proof, ProveError> {
    prove_with_tables(program_tables(program), witness, stark_on_cpu)
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
    (table, image): ProgramTables,
    witness: crate::Witness,
    stark: impl FnOnce(&[Chip], &[RowMajorMatrix<Val>], &[Vec<Val>]) -> StarkOutput,
) -> Result<Proof, ProveError> {
    let chips = machine(
        table.clone(),
        image.clone(),
        Arc::new(witness.output.clone()),
    );
    let publics = public_values_per_chip(&chips, &witness.public);
    let (stark, program_commitment) = stark(&chips, &witness.traces, &publics)?;
    let p = witness.public;
    Ok(Proof {
        public: p,
        body: ProofBody {
            public: [p.pc_start, p.clk_start, p.clk_end, p.exit_code],
            output: witness.output,
            program_shape: [
                table.height() as u32,
                image.len().next_power_of_two().max(4) as u32,
            ],
            program_commitment,
            stark,
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
    ($config:expr, $chips:expr, $traces:expr, $publics:expr) => {{
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
        let prover_data = ProverData::from_airs_and_degrees(config, chips, &degree_bits)
            .map_err(|e| ProveError::Stark(format!("{e:?}")))?;
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
        let stark = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            prove_batch(config, &instances, &prover_data)
        }))
        .map_err(|_| ProveError::Stark("the prover panicked".into()))?
        .map_err(|e| ProveError::Stark(format!("{e:?}")))?;
        let commitment = prover_data
            .common
            .preprocessed
            .as_ref()
            .map(|p| &p.commitment)
            .ok_or_else(|| ProveError::Stark("no preprocessed commitment".into()))?;
        Ok((reencode(&stark)?, reencode(commitment)?))
    }};
}

/// The STARK step on the reference CPU path.
fn stark_on_cpu(
    chips: &[Chip],
    traces: &[RowMajorMatrix<Val>],
    publics: &[Vec<Val>],
) -> StarkOutput {
    prove_stark!(&stark_config(), chips, traces, publics)
}

/// The STARK step with LDEs and Merkle trees on `backend`.
fn stark_on_device<B: zkbox_accel::Backend + 'static>(
    backend: Arc<B>,
    chips: &[Chip],
    traces: &[RowMajorMatrix<Val>],
    publics: &[Vec<Val>],
) -> StarkOutput {
    prove_stark!(&device_config(backend), chips, traces, publics)
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
        let [pc_start, clk_start, clk_end, exit_code] = body.public;
        if body.output.len() > output::MAX_PROVEN_OUTPUT_BYTES {
            return Err(VerifyError::Malformed("public output too large".into()));
        }
        Ok(Proof {
            public: PublicValues {
                pc_start,
                clk_start,
                clk_end,
                exit_code,
                output_len: body.output.len() as u32,
                output_digest: crate::witness::output_digest(&body.output),
            },
            body,
        })
    }

    /// The program commitment (verifying key) as hex.
    pub fn program_commitment_hex(&self) -> String {
        let json = serde_json_free_words(&self.body.program_commitment);
        json.iter().map(|w| format!("{w:08x}")).collect()
    }

    /// The proven public output.
    pub fn output(&self) -> &[u8] {
        &self.body.output
    }

    /// log2 of each chip's trace height, in [`CHIP_NAMES`] order.
    pub fn log_trace_heights(&self) -> &[usize] {
        &self.body.stark.degree_bits
    }

    /// Cycles the proven run executed.
    pub fn cycles(&self) -> u32 {
        self.public.clk_end.saturating_sub(self.public.clk_start)
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

/// Verifies `proof`. With `program`, also checks that it is a proof about that program;
/// without, it trusts the program commitment in the file (print it and compare).
pub fn verify(proof: &Proof, program: Option<&Program>) -> Result<(), VerifyError> {
    let public = proof.public;
    if public.clk_end <= public.clk_start
        || u64::from(public.clk_end - public.clk_start) > MAX_SEGMENT_CYCLES
        || public.clk_start != 1
    {
        return Err(VerifyError::Shape(format!(
            "cycle range {}..{} is not a whole run of at most {MAX_SEGMENT_CYCLES} cycles",
            public.clk_start, public.clk_end
        )));
    }
    let (table, image) = match program {
        Some(program) => {
            if program.entry != public.pc_start {
                return Err(VerifyError::WrongProgram);
            }
            (
                Arc::new(ProgramTable::new(program)),
                Arc::new(memory_image(program)),
            )
        }
        None => placeholder_program(proof.body.program_shape)?,
    };
    if public.output_len as usize != proof.body.output.len()
        || public.output_digest != crate::witness::output_digest(&proof.body.output)
    {
        return Err(VerifyError::Shape(
            "the public values do not match the output".into(),
        ));
    }
    let output = Arc::new(proof.body.output.clone());
    let output_chip = OutputChip {
        bytes: output.clone(),
    };
    let shape = [
        table.height() as u32,
        image.len().next_power_of_two().max(4) as u32,
    ];
    if proof.body.program_shape != shape {
        return Err(VerifyError::Shape(
            "the program shape in the file does not match the program".into(),
        ));
    }
    let chips = machine(table.clone(), image.clone(), output);
    let stark = &proof.body.stark;
    if stark.degree_bits.len() != chips.len() {
        return Err(VerifyError::Shape(format!(
            "{} traces, expected {}",
            stark.degree_bits.len(),
            chips.len()
        )));
    }
    let fixed = [
        (0, table.height()),
        (1, bytes::BYTE_TABLE_HEIGHT),
        (2, boundary::BOUNDARY_HEIGHT),
        (3, image.len().next_power_of_two().max(4)),
        (15, output_chip.height()),
    ];
    for (i, height) in fixed {
        if stark.degree_bits[i] != height.trailing_zeros() as usize {
            return Err(if i == 0 || i == 3 {
                VerifyError::WrongProgram
            } else {
                VerifyError::Shape(format!("{} has the wrong height", CHIP_NAMES[i]))
            });
        }
    }
    if let Some((i, _)) = stark
        .degree_bits
        .iter()
        .enumerate()
        .find(|&(_, &bits)| !(2..=25).contains(&bits))
    {
        return Err(VerifyError::Shape(format!(
            "{} has an impossible height",
            CHIP_NAMES[i]
        )));
    }
    let config = stark_config();
    let mut common: CommonData<ZkboxConfig> =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ProverData::from_airs_and_degrees(&config, &chips, &stark.degree_bits).map(|d| d.common)
        }))
        .map_err(|_| VerifyError::Shape("trace heights do not fit the machine".into()))?
        .map_err(|e| VerifyError::Shape(format!("{e:?}")))?;
    let preprocessed = common
        .preprocessed
        .as_mut()
        .ok_or_else(|| VerifyError::Shape("no preprocessed traces".into()))?;
    if program.is_some() {
        if preprocessed.commitment != proof.body.program_commitment {
            return Err(VerifyError::WrongProgram);
        }
    } else {
        preprocessed.commitment = proof.body.program_commitment.clone();
    }
    let publics = public_values_per_chip(&chips, &public);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify_batch(&config, &chips, stark, &publics, &common)
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
    let chips = machine(table, image, Arc::new(witness.output.clone()));
    let config = stark_config();
    let degree_bits: Vec<usize> = witness
        .traces
        .iter()
        .map(|t| (t.values.len() / t.width).trailing_zeros() as usize)
        .collect();
    let data = ProverData::from_airs_and_degrees(&config, &chips, &degree_bits).expect("layout");
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
