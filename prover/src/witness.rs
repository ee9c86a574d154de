//! Witness generation: from an execution trace to one trace matrix per chip.
//!
//! The [`Recorder`] replays the run's register and memory accesses in order, keeping each
//! cell's current version (value and timestamp) so every access row can name the version it
//! consumes, and counts the lookups into the byte and program tables.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::dense::RowMajorMatrix;
use zkbox_executor::decode::{Instruction, Opcode, decode};
use zkbox_executor::field256::{Field256Op, Field256Result};
use zkbox_executor::keccak::{self, State};
use zkbox_executor::{MemoryAccess, Program, TraceSegment};

use crate::chips::*;
use crate::error::ProveError;

/// Bytes of a word as field elements.
pub(crate) fn bytes_of<F: Field>(word: u32) -> [F; 4] {
    word.to_le_bytes().map(F::from_u8)
}

/// One executed instruction, with what the chips need to fill its row.
#[derive(Debug, Clone)]
pub(crate) struct StepContext {
    /// The cycle number of the instruction (1 for the first of a run).
    pub clk: u32,
    /// Its address.
    pub pc: u32,
    /// The decoded instruction.
    pub instruction: Instruction,
    /// rs1's value before it.
    pub rs1_value: u32,
    /// rs2's value before it.
    pub rs2_value: u32,
    /// The value the instruction computes for rd (even when rd is x0).
    pub result: u32,
    /// The pc after it.
    pub next_pc: u32,
    /// The memory word after its load or store (0 if none).
    pub memory_word: u32,
}

impl StepContext {
    /// The computed rd value.
    pub fn rd_value_computed(&self) -> u32 {
        self.result
    }
}

/// The writable memory a run has left so far, carried from one segment to the next: the
/// value of every writable cell (registers, the I/O cells, RAM) that some segment's boundary
/// table closed. Cells it does not hold are zero. The verifier keeps the same map from the
/// proof files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedMemory {
    cells: BTreeMap<u32, u32>,
}

impl CarriedMemory {
    /// The value of cell `idx` (zero if no segment has left one).
    pub fn get(&self, idx: u32) -> u32 {
        self.cells.get(&idx).copied().unwrap_or(0)
    }

    /// Takes in the values a segment leaves in its boundary cells.
    pub fn apply(&mut self, cells: &[BoundaryCell]) {
        for cell in cells {
            self.cells.insert(cell.idx, cell.after);
        }
    }

    /// Number of cells held.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether no cell is held.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// Replays accesses and counts lookups while chip rows are filled.
pub(crate) struct Recorder {
    /// Current version of each touched or initialised cell: (value, timestamp).
    cells: BTreeMap<u32, (u32, u32)>,
    /// Cells the image chip opens (every image word; in a later segment only the code).
    image: HashSet<u32>,
    /// Cells the image opens read-only (code words).
    read_only: HashSet<u32>,
    /// Lookup counts per byte-table row and tag.
    bytes: Vec<[u32; ByteOp::ALL.len()]>,
    /// Execution counts per program-table row.
    program: Vec<u32>,
    table: Arc<ProgramTable>,
    /// The first inconsistency found between the trace and the replay.
    error: Option<String>,
}

impl Recorder {
    fn new(
        table: Arc<ProgramTable>,
        image: &[ImageWord],
        mode: MemoryMode,
        carried: &CarriedMemory,
    ) -> Recorder {
        let opened: Vec<&ImageWord> = match mode {
            MemoryMode::Segment { first: false } => image.iter().filter(|w| !w.writable).collect(),
            _ => image.iter().collect(),
        };
        let mut cells: BTreeMap<u32, (u32, u32)> =
            opened.iter().map(|w| (w.idx, (w.word, 0))).collect();
        if mode == (MemoryMode::Segment { first: false }) {
            cells.extend(carried.cells.iter().map(|(&idx, &value)| (idx, (value, 0))));
        }
        Recorder {
            cells,
            image: opened.iter().map(|w| w.idx).collect(),
            read_only: image
                .iter()
                .filter(|w| !w.writable)
                .map(|w| w.idx)
                .collect(),
            bytes: vec![[0; ByteOp::ALL.len()]; bytes::BYTE_TABLE_HEIGHT],
            program: vec![0; table.height()],
            table,
            error: None,
        }
    }

    /// Whether cell `idx` may be written (every cell but the code words).
    pub fn writable(&self, idx: u32) -> bool {
        !self.read_only.contains(&idx)
    }

    /// Records the first inconsistency between the trace and what the chips can prove.
    pub fn fail(&mut self, message: String) {
        self.error.get_or_insert(message);
    }

    /// Counts a range lookup of the pair `(x, y)`.
    pub fn range(&mut self, x: u8, y: u8) {
        self.bytes[ByteOp::row(x, y)][ByteOp::Range as usize] += 1;
    }

    /// Counts the lookup of [`crate::chips::range_seven_bits`] for `x, y < 128`.
    pub fn range_seven_bits(&mut self, x: u8, y: u8) {
        self.range(x << 1, y << 1);
    }

    /// Counts a 16-bit range lookup of `x`.
    pub fn range_u16(&mut self, x: u16) {
        self.bytes[usize::from(x)][ByteOp::Range16 as usize] += 1;
    }

    /// Counts a bitwise lookup.
    pub fn byte_op(&mut self, op: ByteOp, x: u8, y: u8) {
        self.bytes[ByteOp::row(x, y)][op as usize] += 1;
    }

    /// The current value of register `reg`.
    pub fn register(&self, reg: u8) -> u32 {
        self.cells.get(&u32::from(reg)).map_or(0, |&(v, _)| v)
    }

    /// Starts an instruction row: sets the flag of the step's opcode among `ops`, fills the
    /// instruction columns and counts the program lookup; returns the flag's index.
    pub fn start_row<F: Field, const N: usize>(
        &mut self,
        instr: &mut InstrCols<F>,
        flags: &mut [F; N],
        ops: &[Opcode; N],
        step: &StepContext,
    ) -> usize {
        let op = step.instruction.opcode;
        let flag = ops
            .iter()
            .position(|&o| o == op)
            .expect("the chip handles the step's opcode");
        flags[flag] = F::ONE;
        self.fill_instruction(instr, step);
        flag
    }

    /// Fills the instruction columns and counts the program lookup.
    pub fn fill_instruction<F: Field>(&mut self, cols: &mut InstrCols<F>, step: &StepContext) {
        let key = ProgramTable::key::<F>(step.pc, &step.instruction);
        cols.pc = key[0];
        cols.clk = F::from_u32(step.clk);
        cols.rd = key[2];
        cols.rs1 = key[3];
        cols.rs2 = key[4];
        cols.imm = [key[5], key[6], key[7], key[8]];
        cols.imm_field = key[9];
        cols.rd_nz = key[10];
        cols.is_real = F::ONE;
        match self.table.row(step.pc) {
            Some(row) => self.program[row] += 1,
            None => self.fail(format!("pc {:#010x} is not a code address", step.pc)),
        }
    }

    /// Replaces cell `idx`'s version by `(value, ts)`; returns the bookkeeping columns and
    /// the value replaced.
    fn access<F: Field>(&mut self, idx: u32, value: u32, ts: u32) -> (AccessCols<F>, u32) {
        let (prev_value, prev_ts) = self.cells.get(&idx).copied().unwrap_or((0, 0));
        self.cells.insert(idx, (value, ts));
        let diff = ts.wrapping_sub(prev_ts).wrapping_sub(1);
        // Timestamps stay below 2^28, so a version that does not precede its successor
        // (prev_ts ≥ ts) wraps the difference to 2^32 − 2^28 or more: one test covers both.
        if diff >> 28 != 0 {
            self.fail(format!(
                "cell {idx:#x}: timestamp {ts} does not follow its previous version's {prev_ts}"
            ));
        }
        let (low, high) = (diff & 0xffff, (diff >> 16) & 0xfff);
        self.range_u16(low as u16);
        self.range_u16((high << 3) as u16);
        let cols = AccessCols {
            prev_ts: F::from_u32(prev_ts),
            diff: [F::from_u32(low), F::from_u32(high)],
        };
        (cols, prev_value)
    }

    /// The current value of memory cell `idx`.
    pub fn cell(&self, idx: u32) -> u32 {
        self.cells.get(&idx).map_or(0, |&(v, _)| v)
    }

    /// Sets register `reg` to `value` at `slot` of the step; returns the bookkeeping and
    /// the value replaced.
    pub fn access_register<F: Field>(
        &mut self,
        step: &StepContext,
        reg: u8,
        value: u32,
        slot: u32,
    ) -> (AccessCols<F>, u32) {
        self.access_cell(step, u32::from(reg), value, slot)
    }

    /// Sets memory cell `idx` to `value` at `slot` of the step.
    pub fn access_cell<F: Field>(
        &mut self,
        step: &StepContext,
        idx: u32,
        value: u32,
        slot: u32,
    ) -> (AccessCols<F>, u32) {
        self.access(idx, value, TIMESTAMPS_PER_CYCLE * step.clk + slot)
    }

    /// A read of register `reg`, which the trace says holds `value`.
    pub fn read_register<F: Field>(
        &mut self,
        step: &StepContext,
        reg: u8,
        value: u32,
        slot: u32,
    ) -> AccessCols<F> {
        let held = self.register(reg);
        if held != value {
            self.fail(format!(
                "cycle {}: x{reg} holds {held:#x}, the trace says {value:#x}",
                step.clk
            ));
        }
        self.access(
            u32::from(reg),
            value,
            TIMESTAMPS_PER_CYCLE * step.clk + slot,
        )
        .0
    }

    /// The register traffic of an arithmetic instruction, the fill-side twin of
    /// `eval_register_op`: reads rs1 (holding `b`) and, unless the operand is an immediate
    /// (`c` is `None`), rs2 (holding `c`), then writes `result` to rd.
    pub fn register_op<F: Field>(
        &mut self,
        step: &StepContext,
        b: u32,
        c: Option<u32>,
        result: u32,
    ) -> (AccessCols<F>, AccessCols<F>, WriteCols<F>) {
        let rs1 = self.read_register(step, step.instruction.rs1, b, SLOT_RS1);
        let rs2 = c.map_or_else(AccessCols::default, |c| {
            self.read_register(step, step.instruction.rs2, c, SLOT_RS2)
        });
        (rs1, rs2, self.write_rd(step, result))
    }

    /// The write of `value` to rd (nothing when rd is x0 or the instruction has no rd).
    pub fn write_rd<F: Field>(&mut self, step: &StepContext, value: u32) -> WriteCols<F> {
        let rd_nz = program::writes_rd(step.instruction.opcode) && step.instruction.rd != 0;
        if !rd_nz {
            return WriteCols::default();
        }
        let (access, prev) = self.access(
            u32::from(step.instruction.rd),
            value,
            TIMESTAMPS_PER_CYCLE * step.clk + SLOT_RD,
        );
        WriteCols {
            access,
            prev: bytes_of(prev),
        }
    }

    /// An access to RAM word `idx` leaving `value` in it.
    pub fn access_memory<F: Field>(
        &mut self,
        step: &StepContext,
        idx: u32,
        value: u32,
        slot: u32,
    ) -> WriteCols<F> {
        let (access, prev) = self.access(idx, value, TIMESTAMPS_PER_CYCLE * step.clk + slot);
        WriteCols {
            access,
            prev: bytes_of(prev),
        }
    }
}

/// Traces of every chip and the public values of one run or segment.
#[derive(Clone)]
pub struct Witness {
    /// One matrix per chip, in [`Chip`] order.
    pub traces: Vec<RowMajorMatrix<crate::config::Val>>,
    /// The public values.
    pub public: PublicValues,
    /// The public output it writes.
    pub output: Vec<u8>,
    /// Whole run or segment.
    pub mode: MemoryMode,
    /// The memory boundary table (empty for a whole run).
    pub cells: Vec<BoundaryCell>,
    /// The chips its proof holds: all but the precompiles it never calls
    /// (`traces` has one matrix for every chip regardless).
    pub chips: ChipSet,
}

/// One word of a program's initial memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageWord {
    /// Word index (byte address / 4).
    pub idx: u32,
    /// Its initial value.
    pub word: u32,
    /// 0 for code (executable segments are read-only to the guest), 1 for data.
    pub writable: bool,
}

/// The program's initial memory, by word index: every word of its executable segments (zero
/// or not, so that every code word is opened read-only) and every non-zero word of the
/// others (the rest of memory starts as zero and writable).
pub fn memory_image(program: &Program) -> Vec<ImageWord> {
    let mut words = Vec::new();
    for segment in &program.segments {
        let first = segment.vaddr / 4;
        let data_words = segment.data.len().div_ceil(4);
        let words_in_segment = if segment.executable {
            (segment.memsz as usize).div_ceil(4).max(data_words)
        } else {
            data_words
        };
        for i in 0..words_in_segment {
            let mut bytes = [0u8; 4];
            if let Some(chunk) = segment.data.chunks(4).nth(i) {
                bytes[..chunk.len()].copy_from_slice(chunk);
            }
            let word = u32::from_le_bytes(bytes);
            if word != 0 || segment.executable {
                words.push(ImageWord {
                    idx: first + i as u32,
                    word,
                    writable: !segment.executable,
                });
            }
        }
    }
    words.sort_unstable();
    words
}

/// A growing trace of one chip.
struct Rows<F> {
    values: Vec<F>,
    width: usize,
}

impl<F: Field> Rows<F> {
    fn new(width: usize) -> Self {
        Rows {
            values: Vec::new(),
            width,
        }
    }

    fn push(&mut self) -> &mut [F] {
        let start = self.values.len();
        self.values.resize(start + self.width, F::ZERO);
        &mut self.values[start..]
    }

    fn finish(mut self) -> RowMajorMatrix<F> {
        let height = (self.values.len() / self.width).next_power_of_two().max(4);
        self.values.resize(height * self.width, F::ZERO);
        RowMajorMatrix::new(self.values, self.width)
    }
}

/// Builds every chip's trace for a whole run that ended in an exit `ecall`.
pub fn generate(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
) -> Result<Witness, ProveError> {
    generate_with_results(table, image, segment, |_, _, result| result)
}

/// Builds every chip's trace for one segment of a run proven in several, starting from the
/// writable memory the previous segments left (`carried`; empty for the first segment).
/// Apply the witness's `cells` to `carried` before generating the next segment.
pub fn generate_segment(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    carried: &CarriedMemory,
) -> Result<Witness, ProveError> {
    let mode = MemoryMode::Segment {
        first: segment.index == 0,
    };
    generate_in(table, image, segment, mode, carried, HONEST)
}

/// SHA-256 of a memory boundary table: each cell as its index, a byte saying whether it
/// has a value before, that value (0 if not) and the value after, little-endian.
pub fn memory_digest(cells: &[BoundaryCell]) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for cell in cells {
        hasher.update(cell.idx.to_le_bytes());
        hasher.update([u8::from(cell.before.is_some())]);
        hasher.update(cell.before.unwrap_or(0).to_le_bytes());
        hasher.update(cell.after.to_le_bytes());
    }
    hasher.finalize().into()
}

/// Builds the witness of a run in which `result(cycle, instruction, honest)` replaces the
/// value each instruction writes to rd: the witness of a *wrong* execution, consistent on
/// every bus, that only the chips' own constraints can reject. For soundness tests and
/// audits; [`generate`] is this with the honest results. A replaced value must not be read
/// by a later instruction (the trace would disagree with it and generation fails).
pub fn generate_with_results(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    result: impl Fn(u64, &Instruction, u32) -> u32,
) -> Result<Witness, ProveError> {
    let overrides = Overrides {
        rd: result,
        field: HONEST.field,
        keccak: HONEST.keccak,
    };
    generate_whole(table, image, segment, overrides)
}

/// Builds the witness of a run in which `claim(cycle, op, honest)` replaces the operation
/// and the result (with its quotient) of each `field256` call: memory holds the claimed
/// result from then on, so with the honest operation the witness is consistent on every bus
/// and only the field chip's constraints can reject it. For soundness tests; the claimed
/// result must not be read by a later instruction.
pub fn generate_with_field_results(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    claim: impl Fn(u64, Field256Op, Field256Result) -> (Field256Op, Field256Result),
) -> Result<Witness, ProveError> {
    let overrides = Overrides {
        rd: HONEST.rd,
        field: claim,
        keccak: HONEST.keccak,
    };
    generate_whole(table, image, segment, overrides)
}

/// Builds the witness of a run in which `claim(cycle, input, honest)` replaces the state
/// each `keccakf` call leaves (the keccak-f chip still proves the honest permutation of the
/// input): memory holds the claimed state from then on, so the witness is consistent on every
/// bus but the `keccak` bus, which only a true permutation balances. For soundness tests; the
/// claimed state must not be read by a later instruction.
pub fn generate_with_keccak_results(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    claim: impl Fn(u64, &State, State) -> State,
) -> Result<Witness, ProveError> {
    let overrides = Overrides {
        rd: HONEST.rd,
        field: HONEST.field,
        keccak: claim,
    };
    generate_whole(table, image, segment, overrides)
}

/// The witness of a whole run with the results `overrides` claims.
fn generate_whole(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    overrides: Overrides<
        impl Fn(u64, &Instruction, u32) -> u32,
        impl Fn(u64, Field256Op, Field256Result) -> FieldClaim,
        impl Fn(u64, &State, State) -> State,
    >,
) -> Result<Witness, ProveError> {
    let carried = CarriedMemory::default();
    generate_in(
        table,
        image,
        segment,
        MemoryMode::Whole,
        &carried,
        overrides,
    )
}

/// What a witness claims instead of the honest results: `rd(cycle, instruction, honest)` for
/// register results, `field(cycle, op, honest)` for `field256` calls, `keccak(cycle, input,
/// honest)` for the state `keccakf` calls leave.
struct Overrides<R, Q, K> {
    rd: R,
    field: Q,
    keccak: K,
}

/// A claimed `field256` call: the operation and its result.
type FieldClaim = (Field256Op, Field256Result);

type Honest = Overrides<
    fn(u64, &Instruction, u32) -> u32,
    fn(u64, Field256Op, Field256Result) -> FieldClaim,
    fn(u64, &State, State) -> State,
>;

/// The honest witness: nothing replaced.
const HONEST: Honest = Overrides {
    rd: |_, _, result| result,
    field: |_, op, result| (op, result),
    keccak: |_, _, output| output,
};

impl<R, Q, K> Overrides<R, Q, K>
where
    R: Fn(u64, &Instruction, u32) -> u32,
    Q: Fn(u64, Field256Op, Field256Result) -> FieldClaim,
    K: Fn(u64, &State, State) -> State,
{
    fn field(&self, cycle: u64, op: Field256Op, honest: Field256Result) -> FieldClaim {
        (self.field)(cycle, op, honest)
    }
}

/// The witness of `segment` in `mode`, with the results `overrides` claims.
fn generate_in(
    table: &Arc<ProgramTable>,
    image: &[ImageWord],
    segment: &TraceSegment,
    mode: MemoryMode,
    carried: &CarriedMemory,
    overrides: Overrides<
        impl Fn(u64, &Instruction, u32) -> u32,
        impl Fn(u64, Field256Op, Field256Result) -> FieldClaim,
        impl Fn(u64, &State, State) -> State,
    >,
) -> Result<Witness, ProveError> {
    use core::borrow::BorrowMut;
    type F = crate::config::Val;

    let steps = &segment.steps;
    if steps.len() as u64 >= MAX_SEGMENT_CYCLES {
        return Err(ProveError::TooManyCycles {
            cycles: steps.len() as u64,
            max: MAX_SEGMENT_CYCLES,
        });
    }
    let mut rec = Recorder::new(table.clone(), image, mode, carried);
    let output_start = rec.cell(io::OUTPUT_CURSOR_CELL);
    let mut alu = Rows::<F>::new(AluCols::<u8>::WIDTH);
    let mut branch = Rows::<F>::new(BranchCols::<u8>::WIDTH);
    let mut jump = Rows::<F>::new(JumpCols::<u8>::WIDTH);
    let mut load_store = Rows::<F>::new(LoadStoreCols::<u8>::WIDTH);
    let mut halt = Rows::<F>::new(HaltCols::<u8>::WIDTH);
    let mut compare = Rows::<F>::new(CompareCols::<u8>::WIDTH);
    let mut shift = Rows::<F>::new(ShiftCols::<u8>::WIDTH);
    let mut mul = Rows::<F>::new(MulCols::<u8>::WIDTH);
    let mut div = Rows::<F>::new(DivCols::<u8>::WIDTH);
    let mut io_ecall = Rows::<F>::new(IoEcallCols::<u8>::WIDTH);
    let mut io_word = Rows::<F>::new(IoWordCols::<u8>::WIDTH);
    let mut field = Rows::<F>::new(Field256Cols::<u8>::WIDTH);
    let mut keccak_calls = Rows::<F>::new(KeccakCallCols::<u8>::WIDTH);
    let mut permutations: Vec<State> = Vec::new();
    let mut io_events = segment.io.iter().peekable();
    let mut output = Vec::new();
    let mut memory = segment.memory.iter().peekable();
    // Every proof counts its own cycles from 1.
    let clk_start = 1u32;
    let mut exit_code = None;

    for (i, step) in steps.iter().enumerate() {
        let cycle = segment.start.cycle + i as u64;
        let clk = clk_start + i as u32;
        let instruction = decode(step.instruction);
        let next_pc = steps.get(i + 1).map_or(segment.end.pc, |s| s.pc);
        let mut words: Vec<MemoryAccess> = Vec::new();
        while let Some(m) = memory.next_if(|m| m.cycle == cycle) {
            words.push(*m);
        }
        let access = words.first().copied();
        let io = io_events.next_if(|e| e.cycle == cycle).copied();
        let result = compute_result(&instruction, step.pc, step.rs1, step.rs2, access);
        if instruction.rd != 0 && program::writes_rd(instruction.opcode) && result != step.rd {
            return Err(ProveError::Inconsistent(format!(
                "cycle {cycle}: rd gets {:#x}, the replay computes {result:#x}",
                step.rd
            )));
        }
        let result = (overrides.rd)(cycle, &instruction, result);
        let ctx = StepContext {
            clk,
            pc: step.pc,
            instruction,
            rs1_value: step.rs1,
            rs2_value: step.rs2,
            result,
            next_pc,
            memory_word: access.map_or(0, |a| a.value),
        };
        let op = instruction.opcode;
        if AluChip::handles(op) {
            AluChip::fill(alu.push().borrow_mut(), &ctx, &mut rec);
        } else if BranchChip::handles(op) {
            BranchChip::fill(branch.push().borrow_mut(), &ctx, &mut rec);
        } else if JumpChip::handles(op) {
            JumpChip::fill(jump.push().borrow_mut(), &ctx, &mut rec);
        } else if CompareChip::handles(op) {
            CompareChip::fill(compare.push().borrow_mut(), &ctx, &mut rec);
        } else if ShiftChip::handles(op) {
            ShiftChip::fill(shift.push().borrow_mut(), &ctx, &mut rec);
        } else if DivChip::handles(op) {
            DivChip::fill(div.push().borrow_mut(), &ctx, &mut rec);
        } else if MulChip::handles(op) {
            MulChip::fill(mul.push().borrow_mut(), &ctx, &mut rec);
        } else if LoadStoreChip::handles(op) {
            LoadStoreChip::fill(load_store.push().borrow_mut(), &ctx, &mut rec);
        } else if op == Opcode::Ecall
            && rec.register(17) == halt::ECALL_EXIT
            && i + 1 == steps.len()
        {
            exit_code = Some(rec.register(10));
            HaltChip::fill(halt.push().borrow_mut(), &ctx, &mut rec);
        } else if op == Opcode::Ecall && Field256Chip::handles(&rec) {
            let Some((op, x, y, honest)) = Field256Chip::compute(&mut rec, clk) else {
                return Err(ProveError::Inconsistent(
                    rec.error.take().unwrap_or_default(),
                ));
            };
            let written: Vec<u32> = words.iter().filter(|w| w.write).map(|w| w.value).collect();
            if written != honest.z {
                return Err(ProveError::Inconsistent(format!(
                    "cycle {cycle}: field256 wrote {written:x?}, the replay computes {:x?}",
                    honest.z
                )));
            }
            let (op, claimed) = overrides.field(cycle, op, honest);
            Field256Chip::fill(
                field.push().borrow_mut(),
                &ctx,
                &mut rec,
                (op, x, y),
                &claimed,
            );
        } else if op == Opcode::Ecall && KeccakCallChip::handles(&rec) {
            let input = KeccakCallChip::input(&rec);
            let mut honest = input;
            keccak::permute(&mut honest);
            let written: Vec<u32> = words.iter().filter(|w| w.write).map(|w| w.value).collect();
            if written != keccak::state_to_words(&honest) {
                return Err(ProveError::Inconsistent(format!(
                    "cycle {cycle}: keccakf wrote {written:x?}, the replay computes another state"
                )));
            }
            let claimed = (overrides.keccak)(cycle, &input, honest);
            KeccakCallChip::fill(
                keccak_calls.push().borrow_mut(),
                &ctx,
                &mut rec,
                &input,
                &claimed,
            );
            permutations.push(input);
        } else if let (Opcode::Ecall, Some(event)) = (op, io) {
            let count = event.len;
            let kind = match (event.ecall, event.fd) {
                (io::ECALL_READ, _) => 1,
                (_, 1) => 2,
                _ => 3,
            };
            let (buffer, base) =
                IoEcallChip::fill(io_ecall.push().borrow_mut(), &ctx, &mut rec, count);
            let end = buffer + count;
            let mut addr = buffer;
            while addr < end {
                let word_addr = addr & !3;
                let Some(word) = words.iter().find(|w| w.addr == word_addr) else {
                    return Err(ProveError::Inconsistent(format!(
                        "cycle {cycle}: no trace of word {word_addr:#x} of a transfer"
                    )));
                };
                let next = IoWordChip::fill(
                    io_word.push().borrow_mut(),
                    &ctx,
                    &mut rec,
                    kind,
                    addr,
                    end,
                    base,
                    word.value,
                );
                if kind == 2 {
                    let bytes = word.value.to_le_bytes();
                    let from = (addr & 3) as usize;
                    output.extend_from_slice(&bytes[from..from + (next - addr) as usize]);
                }
                addr = next;
            }
            if output.len() > output::MAX_PROVEN_OUTPUT_BYTES {
                return Err(ProveError::OutputTooLarge {
                    bytes: output.len(),
                    max: output::MAX_PROVEN_OUTPUT_BYTES,
                });
            }
        } else {
            return Err(ProveError::Unsupported {
                what: format!(
                    "{op:?} (a7 = {}, io event {io:?}, cycle {cycle})",
                    rec.register(17)
                ),
                pc: step.pc,
                instruction: step.instruction,
            });
        }
        if let Some(message) = rec.error.take() {
            return Err(ProveError::Inconsistent(message));
        }
    }
    if exit_code.is_none() && mode == MemoryMode::Whole {
        return Err(ProveError::NoExit);
    }
    let clk_end = clk_start + steps.len() as u32;
    // The boundary's final read of the output cursor.
    let cursor = rec.cell(io::OUTPUT_CURSOR_CELL);
    if cursor as usize != output_start as usize + output.len() {
        return Err(ProveError::Inconsistent(format!(
            "the output cursor moved from {output_start} to {cursor}, the transfers wrote {}",
            output.len()
        )));
    }
    let (cursor_access, _) = rec.access::<F>(
        io::OUTPUT_CURSOR_CELL,
        cursor,
        TIMESTAMPS_PER_CYCLE * clk_end,
    );

    // The final memory table, sorted by word index.
    let mut final_rows = Rows::<F>::new(MemoryFinalCols::<u8>::WIDTH);
    let mut previous: Option<u32> = None;
    let segmented = mode != MemoryMode::Whole;
    // In a segment, a cell no chip touched and the image did not open was never opened.
    let cells: Vec<(u32, (u32, u32))> = rec
        .cells
        .iter()
        .filter(|&(idx, &(_, ts))| !segmented || ts > 0 || rec.image.contains(idx))
        .map(|(&k, &v)| (k, v))
        .collect();
    let mut boundary_cells = Vec::new();
    for (idx, (value, ts)) in cells {
        let writable = rec.writable(idx);
        let from_image = rec.image.contains(&idx);
        if segmented && writable {
            boundary_cells.push(BoundaryCell {
                idx,
                before: (!from_image).then(|| carried.get(idx)),
                after: value,
            });
        }
        let row: &mut MemoryFinalCols<F> = final_rows.push().borrow_mut();
        row.idx = F::from_u32(idx);
        row.value = bytes_of(value);
        row.ts = F::from_u32(ts);
        row.is_real = F::ONE;
        row.zero_init = F::from_bool(!segmented && !from_image);
        row.writable = F::from_bool(writable);
        row.idx_bytes = bytes_of(idx);
        let gap = previous.map_or(0, |p| idx - p - 1);
        row.gap = bytes_of(gap);
        previous = Some(idx);
        let (ib, gb) = (idx.to_le_bytes(), gap.to_le_bytes());
        rec.range(ib[0], ib[1]);
        rec.range(ib[2], ib[3]);
        rec.range(ib[3].wrapping_add(0xe0), 0);
        rec.range(gb[0], gb[1]);
        rec.range(gb[2], gb[3]);
        rec.range(gb[3].wrapping_add(0xe0), 0);
    }

    let public = PublicValues {
        pc_start: segment.start.pc,
        clk_start,
        clk_end,
        exit_code: exit_code.unwrap_or(0),
        output_len: cursor,
        pc_end: if exit_code.is_some() {
            0
        } else {
            segment.end.pc
        },
        halted: exit_code.is_some(),
        output_start,
        output_digest: output_digest(&output),
        memory_digest: memory_digest(&boundary_cells),
    };
    let program_trace =
        RowMajorMatrix::new(rec.program.iter().map(|&c| F::from_u32(c)).collect(), 1);
    let byte_trace = RowMajorMatrix::new(
        rec.bytes
            .iter()
            .enumerate()
            .flat_map(|(row, counts)| {
                let values = ByteChip::values(row).map(F::from_u8);
                counts.map(F::from_u32).into_iter().chain(values)
            })
            .collect(),
        ByteCols::<u8>::default().len(),
    );
    let image_height = image.len().next_power_of_two().max(4);
    let mut chips = ChipSet::ALL;
    if field.values.is_empty() {
        chips = chips.without(FIELD256_CHIP);
    }
    if permutations.is_empty() {
        chips = chips.without(KECCAK_CALL_CHIP).without(KECCAK_F_CHIP);
    }
    let traces = vec![
        program_trace,
        byte_trace,
        BoundaryChip::trace::<F>(&public, cursor_access),
        RowMajorMatrix::new(F::zero_vec(image_height), 1),
        final_rows.finish(),
        alu.finish(),
        branch.finish(),
        jump.finish(),
        load_store.finish(),
        halt.finish(),
        compare.finish(),
        shift.finish(),
        mul.finish(),
        io_ecall.finish(),
        io_word.finish(),
        OutputChip {
            bytes: Arc::new(output.clone()),
            start: output_start,
        }
        .trace(),
        div.finish(),
        MemoryBoundaryChip {
            cells: Arc::new(boundary_cells.clone()),
        }
        .trace(),
        field.finish(),
        keccak_calls.finish(),
        KeccakPermChip::trace::<F>(permutations),
    ];
    Ok(Witness {
        traces,
        public,
        output,
        mode,
        cells: boundary_cells,
        chips,
    })
}

/// SHA-256 of the public output.
pub fn output_digest(output: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(output).into()
}

/// What an instruction computes for rd, evaluated independently of the emulator.
fn compute_result(
    instruction: &Instruction,
    pc: u32,
    rs1: u32,
    rs2: u32,
    access: Option<MemoryAccess>,
) -> u32 {
    use Opcode::*;
    let imm = instruction.imm as u32;
    match instruction.opcode {
        Add => rs1.wrapping_add(rs2),
        Sub => rs1.wrapping_sub(rs2),
        Xor => rs1 ^ rs2,
        Or => rs1 | rs2,
        And => rs1 & rs2,
        Addi => rs1.wrapping_add(imm),
        Xori => rs1 ^ imm,
        Ori => rs1 | imm,
        Andi => rs1 & imm,
        Jal | Jalr => pc.wrapping_add(4),
        Lui => imm,
        Auipc => pc.wrapping_add(imm),
        Slt => u32::from((rs1 as i32) < (rs2 as i32)),
        Sltu => u32::from(rs1 < rs2),
        Slti => u32::from((rs1 as i32) < (imm as i32)),
        Sltiu => u32::from(rs1 < imm),
        Sll => rs1 << (rs2 & 31),
        Srl => rs1 >> (rs2 & 31),
        Sra => ((rs1 as i32) >> (rs2 & 31)) as u32,
        Slli => rs1 << (imm & 31),
        Srli => rs1 >> (imm & 31),
        Srai => ((rs1 as i32) >> (imm & 31)) as u32,
        Mul => rs1.wrapping_mul(rs2),
        Divu => rs1.checked_div(rs2).unwrap_or(u32::MAX),
        Remu => rs1.checked_rem(rs2).unwrap_or(rs1),
        // Division by zero gives −1 and the dividend; −2^31 / −1 wraps to −2^31, remainder 0.
        Div if rs2 == 0 => u32::MAX,
        Div => (rs1 as i32).wrapping_div(rs2 as i32) as u32,
        Rem if rs2 == 0 => rs1,
        Rem => (rs1 as i32).wrapping_rem(rs2 as i32) as u32,
        Mulh => ((i64::from(rs1 as i32) * i64::from(rs2 as i32)) >> 32) as u32,
        Mulhsu => ((i64::from(rs1 as i32) * i64::from(rs2)) >> 32) as u32,
        Mulhu => ((u64::from(rs1) * u64::from(rs2)) >> 32) as u32,
        Lw | Lb | Lh | Lbu | Lhu => {
            let word = access.map_or(0, |a| a.value);
            let shift = 8 * (rs1.wrapping_add(imm) & 3);
            let raw = word >> shift;
            match instruction.opcode {
                Lw => word,
                Lb => raw as u8 as i8 as i32 as u32,
                Lh => raw as u16 as i16 as i32 as u32,
                Lbu => raw & 0xff,
                _ => raw & 0xffff,
            }
        }
        _ => 0,
    }
}
