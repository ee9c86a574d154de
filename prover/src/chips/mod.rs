//! The RV32IM chips (AIRs) and the buses that join them.
//!
//! There is no central CPU table: each instruction family has its own chip, one row per
//! executed instruction of that family, and the rows are chained into one execution by
//! LogUp buses (proven together by `p3-batch-stark`):
//!
//! | bus | message | senders (+) / receivers (−) |
//! |---|---|---|
//! | `exec` | (pc, clk) | each instruction row receives its own state and sends the next; the boundary sends the start |
//! | `program` | decoded instruction at pc | instruction rows look up; the program table (preprocessed, bound to the ELF) provides |
//! | `memory` | (word index, 4 bytes, timestamp) | each access receives the previous version and sends the new one; image and final tables open and close every cell |
//! | `bytes` | (tag, x, y, z) | range checks and bitwise ops look up; the byte table provides |
//! | `halt` | (exit code bytes, clk) | the exit `ecall` sends; the boundary receives the public exit code |
//! | `boundary` | (word index, 4 bytes) | segments only: the final table sends each writable cell's last value; the memory boundary table receives it |
//!
//! **Why this is sound** (the argument each chip relies on): the `exec` bus increments `clk`
//! by one per row and only the boundary creates a token, so the rows form exactly one chain
//! from the public start state to the halting row, each row executing the instruction the
//! program table holds at its pc. The memory bus is an offline memory-checking argument: each
//! cell is opened exactly once (image table or zero-init in the final table, which has
//! strictly increasing addresses) and closed exactly once (final table), and every access
//! consumes a version with a strictly smaller timestamp than its own, so every read returns
//! the latest write.
//!
//! Registers are memory cells at word indices 0..32; RAM word indices start at 0x400 (byte
//! address 0x1000, the ABI's lowest valid address), which every RAM access checks, so the
//! two can never alias. Writes to x0 are not performed at all (the program table marks
//! instructions whose rd is x0), so x0 reads as zero forever.

pub mod alu;
pub mod boundary;
pub mod branch;
pub mod bytes;
mod columns;
pub mod compare;
pub mod div;
pub mod field256;
pub mod halt;
pub mod io;
pub mod jump;
pub mod less_than;
pub mod loadstore;
pub mod memory;
pub mod mul;
pub mod output;
pub mod program;
mod ram;
pub mod shift;

use p3_air::{Air, AirBuilder, BaseAir, PermutationAirBuilder};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder, LookupBus, PermutationCheckBus};
use p3_matrix::dense::RowMajorMatrix;

pub use alu::{AluChip, AluCols};
pub use boundary::{BoundaryChip, BoundaryCols, PublicValues};
pub use branch::{BranchChip, BranchCols};
pub use bytes::{ByteChip, ByteCols, ByteOp};
pub use columns::{AccessCols, InstrCols, WriteCols};
pub use compare::{CompareChip, CompareCols};
pub use div::{DivChip, DivCols};
pub use field256::{Field256Chip, Field256Cols};
pub use halt::{HaltChip, HaltCols};
pub use io::{IoEcallChip, IoEcallCols, IoWordChip, IoWordCols};
pub use jump::{JumpChip, JumpCols};
pub use loadstore::{LoadStoreChip, LoadStoreCols};
pub use memory::{
    BoundaryCell, MemoryBoundaryChip, MemoryBoundaryCols, MemoryFinalChip, MemoryFinalCols,
    MemoryImageChip, MemoryMode,
};
pub use mul::{MulChip, MulCols};
pub use output::{OutputChip, OutputCols};
pub use program::{ProgramChip, ProgramTable};
pub use shift::{ShiftChip, ShiftCols};

/// The `exec` bus: (pc, clk).
pub const EXEC: PermutationCheckBus<'static> = PermutationCheckBus::new("exec");
/// The `memory` bus: (word index, byte 0..3, timestamp, writable). `writable` is 0 for the
/// code words the image opens read-only and 1 for every other cell; each access passes it
/// on unchanged and a store requires 1, so no version of a code word is ever written.
pub const MEMORY: PermutationCheckBus<'static> = PermutationCheckBus::new("memory");
/// The `halt` bus: (exit code byte 0..3, clk after the exit).
pub const HALT: PermutationCheckBus<'static> = PermutationCheckBus::new("halt");
/// The `boundary` bus: (word index, 4 bytes), a segment's writable cells as it leaves them.
pub const BOUNDARY: PermutationCheckBus<'static> = PermutationCheckBus::new("boundary");
/// The `output` bus: (position, byte) of the public output.
pub const OUTPUT: PermutationCheckBus<'static> = PermutationCheckBus::new("output");
/// The `program` lookup: the decoded instruction at a pc.
pub const PROGRAM: LookupBus<'static> = LookupBus::new("program");
/// The run's entry pc: sent by the boundary chip, received by the program table's entry row
/// (in the proof that starts the run).
pub const ENTRY: PermutationCheckBus<'static> = PermutationCheckBus::new("entry");
/// The `bytes` lookup: (tag, x, y, z) rows of the byte table.
pub const BYTES: LookupBus<'static> = LookupBus::new("bytes");

/// Word index of the first RAM word (byte address 0x1000); registers sit below it.
pub const RAM_FIRST_WORD: u32 = 0x400;
/// One past the last valid RAM word index (byte address 0x7800_0000).
pub const RAM_END_WORD: u32 = 0x1E00_0000;
/// Memory timestamps are `TIMESTAMPS_PER_CYCLE * clk + slot`; accesses within one
/// instruction use distinct slots, in this order.
pub const TIMESTAMPS_PER_CYCLE: u32 = 8;
/// Timestamp slot of the rs1 read (a7 for `ecall`s).
pub const SLOT_RS1: u32 = 0;
/// Timestamp slot of the rs2 read.
pub const SLOT_RS2: u32 = 1;
/// Timestamp slot of a load or store.
pub const SLOT_MEM: u32 = 2;
/// Timestamp slot of the rd write (a0 for `ecall`s).
pub const SLOT_RD: u32 = 3;
/// Timestamp slot of the a1 read of an `ecall`.
pub const SLOT_A1: u32 = 4;
/// Timestamp slot of the a2 read of an `ecall`.
pub const SLOT_A2: u32 = 5;
/// Timestamp slot of the output cursor update of a public write (the a3 read of a
/// `field256` call uses the same slot, [`field256::SLOT_A3`]).
pub const SLOT_CURSOR: u32 = 6;
/// Largest cycle count one segment may have: keeps timestamps below 2^28, which the
/// timestamp-difference range check (three bytes and four bits) relies on.
pub const MAX_SEGMENT_CYCLES: u64 = 1 << 24;
/// The segment size runs are cut into unless told otherwise: a 2^22-cycle segment proves in
/// about 10 GiB on the CPU path (docs/benchmarks.md).
pub const DEFAULT_SEGMENT_CYCLES: u64 = 1 << 22;

/// Every chip of the machine, in the order their traces appear in a proof.
#[derive(Debug, Clone)]
pub enum Chip {
    /// The program table (preprocessed from the ELF).
    Program(ProgramChip),
    /// The byte table: range checks and bitwise operations (preprocessed).
    Bytes(ByteChip),
    /// Start and end of the execution; exposes the public values.
    Boundary(BoundaryChip),
    /// The ELF's initial memory image (preprocessed).
    MemoryImage(MemoryImageChip),
    /// Every memory cell's final value; opens cells that start as zero.
    MemoryFinal(MemoryFinalChip),
    /// Register/immediate arithmetic and logic.
    Alu(AluChip),
    /// Conditional branches.
    Branch(BranchChip),
    /// JAL, JALR, LUI, AUIPC.
    Jump(JumpChip),
    /// Loads and stores.
    LoadStore(LoadStoreChip),
    /// The exit `ecall`.
    Halt(HaltChip),
    /// SLT, SLTU and their immediate forms.
    Compare(CompareChip),
    /// Shifts.
    Shift(ShiftChip),
    /// Multiplication.
    Mul(MulChip),
    /// Read and write `ecall`s.
    IoEcall(IoEcallChip),
    /// The words those `ecall`s move.
    IoWord(IoWordChip),
    /// The public output (periodic columns built by the verifier).
    Output(OutputChip),
    /// DIV, DIVU, REM and REMU.
    Div(DivChip),
    /// A segment's memory boundary (periodic columns built by the verifier).
    MemoryBoundary(MemoryBoundaryChip),
    /// The `field256` precompile calls.
    Field256(Field256Chip),
}

/// Short names of the chips, in proof order, for progress and error messages.
pub const CHIP_NAMES: [&str; 19] = [
    "program",
    "bytes",
    "boundary",
    "memory-image",
    "memory-final",
    "alu",
    "branch",
    "jump",
    "load-store",
    "halt",
    "compare",
    "shift",
    "mul",
    "io-ecall",
    "io-word",
    "output",
    "div",
    "memory-boundary",
    "field256",
];

macro_rules! dispatch {
    ($self:ident, $chip:ident => $body:expr) => {
        match $self {
            Chip::Program($chip) => $body,
            Chip::Bytes($chip) => $body,
            Chip::Boundary($chip) => $body,
            Chip::MemoryImage($chip) => $body,
            Chip::MemoryFinal($chip) => $body,
            Chip::Alu($chip) => $body,
            Chip::Branch($chip) => $body,
            Chip::Jump($chip) => $body,
            Chip::LoadStore($chip) => $body,
            Chip::Halt($chip) => $body,
            Chip::Compare($chip) => $body,
            Chip::Shift($chip) => $body,
            Chip::Mul($chip) => $body,
            Chip::IoEcall($chip) => $body,
            Chip::IoWord($chip) => $body,
            Chip::Output($chip) => $body,
            Chip::Div($chip) => $body,
            Chip::MemoryBoundary($chip) => $body,
            Chip::Field256($chip) => $body,
        }
    };
}

impl<F: Field> BaseAir<F> for Chip {
    fn width(&self) -> usize {
        dispatch!(self, c => BaseAir::<F>::width(c))
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        dispatch!(self, c => BaseAir::<F>::preprocessed_trace(c))
    }
    fn preprocessed_width(&self) -> usize {
        dispatch!(self, c => BaseAir::<F>::preprocessed_width(c))
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        dispatch!(self, c => BaseAir::<F>::main_next_row_columns(c))
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        dispatch!(self, c => BaseAir::<F>::preprocessed_next_row_columns(c))
    }
    fn num_public_values(&self) -> usize {
        dispatch!(self, c => BaseAir::<F>::num_public_values(c))
    }
    fn num_periodic_columns(&self) -> usize {
        dispatch!(self, c => BaseAir::<F>::num_periodic_columns(c))
    }
    fn periodic_columns(&self) -> std::borrow::Cow<'_, [Vec<F>]> {
        dispatch!(self, c => BaseAir::<F>::periodic_columns(c))
    }
}

impl<AB: PermutationAirBuilder + InteractionBuilder> Air<AB> for Chip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        dispatch!(self, c => c.eval(builder))
    }
}

/// The value of a little-endian word given as four byte expressions.
pub(crate) fn word_value<E: PrimeCharacteristicRing + Clone>(bytes: &[E; 4]) -> E {
    bytes[0].clone()
        + bytes[1].clone() * E::from_u32(1 << 8)
        + bytes[2].clone() * E::from_u32(1 << 16)
        + bytes[3].clone() * E::from_u32(1 << 24)
}

/// Converts an array of variables into expressions.
pub(crate) fn exprs<AB: AirBuilder, const N: usize>(vars: &[AB::Var; N]) -> [AB::Expr; N] {
    vars.map(Into::into)
}

/// Looks `(tag, x, y, z)` up in the byte table, `count` times (0 or 1).
pub(crate) fn lookup_bytes<AB: InteractionBuilder>(
    builder: &mut AB,
    op: ByteOp,
    x: AB::Expr,
    y: AB::Expr,
    z: AB::Expr,
    count: AB::Expr,
) {
    BYTES.lookup_key(
        builder,
        [AB::Expr::from_u32(op as u32), x, y, z],
        Count::bounded(count, 1),
    );
}

/// Checks that `x` and `y` are bytes.
pub(crate) fn range_bytes<AB: InteractionBuilder>(
    builder: &mut AB,
    x: AB::Expr,
    y: AB::Expr,
    count: AB::Expr,
) {
    lookup_bytes(builder, ByteOp::Range, x, y, AB::Expr::ZERO, count);
}

/// Checks that `x`, already known to be a byte, is below `bound` (≤ 256), by looking up
/// `x + 256 - bound` as a byte.
pub(crate) fn range_below<AB: InteractionBuilder>(
    builder: &mut AB,
    x: AB::Expr,
    bound: u32,
    count: AB::Expr,
) {
    range_bytes(
        builder,
        x + AB::Expr::from_u32(256 - bound),
        AB::Expr::ZERO,
        count,
    );
}

/// Constrains `x + y = z + 2^32 * carry[3]` byte by byte when `gate` is 1, with `carry[i]`
/// the carry out of byte `i` (boolean).
pub(crate) fn add_bytes<AB: AirBuilder>(
    builder: &mut AB,
    gate: AB::Expr,
    x: &[AB::Expr; 4],
    y: &[AB::Expr; 4],
    z: &[AB::Expr; 4],
    carry: &[AB::Var; 4],
) {
    let base = AB::Expr::from_u32(256);
    for i in 0..4 {
        builder.assert_bool(carry[i]);
        let carry_in = if i == 0 {
            AB::Expr::ZERO
        } else {
            carry[i - 1].into()
        };
        builder.assert_zero(
            gate.clone()
                * (x[i].clone() + y[i].clone() + carry_in
                    - z[i].clone()
                    - base.clone() * carry[i].into()),
        );
    }
}

/// One memory access: consumes the cell's previous version `(idx, prev, cols.prev_ts)` and
/// produces `(idx, value, ts)`, checking `cols.prev_ts < ts`, when `count` is 1.
pub(crate) fn eval_access<AB: InteractionBuilder>(
    builder: &mut AB,
    idx: AB::Expr,
    prev: [AB::Expr; 4],
    value: [AB::Expr; 4],
    ts: AB::Expr,
    cols: &AccessCols<AB::Var>,
    count: AB::Expr,
) {
    eval_access_flagged(builder, idx, prev, value, ts, cols, count, AB::Expr::ONE);
}

/// [`eval_access`] of a cell whose `writable` flag (part of every version's message) is
/// given: 1 for registers and data, 0 for code words, as the memory image opened them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_access_flagged<AB: InteractionBuilder>(
    builder: &mut AB,
    idx: AB::Expr,
    prev: [AB::Expr; 4],
    value: [AB::Expr; 4],
    ts: AB::Expr,
    cols: &AccessCols<AB::Var>,
    count: AB::Expr,
    writable: AB::Expr,
) {
    let [p0, p1, p2, p3] = prev;
    let [v0, v1, v2, v3] = value;
    MEMORY.receive(
        builder,
        [
            idx.clone(),
            p0,
            p1,
            p2,
            p3,
            cols.prev_ts.into(),
            writable.clone(),
        ],
        Count::bounded(count.clone(), 1),
    );
    MEMORY.send(
        builder,
        [idx, v0, v1, v2, v3, ts.clone(), writable],
        Count::bounded(count.clone(), 1),
    );
    // ts - prev_ts - 1 is a 28-bit number: three bytes and a byte below 16.
    let diff = exprs::<AB, 4>(&cols.diff);
    builder.assert_zero(
        count.clone() * (ts - cols.prev_ts.into() - AB::Expr::ONE - word_value(&diff)),
    );
    let [d0, d1, d2, d3] = diff;
    range_bytes(builder, d0, d1, count.clone());
    range_bytes(builder, d2, d3.clone(), count.clone());
    range_below(builder, d3, 16, count);
}

/// A read of register `reg` (an expression of program-table columns) returning `value`.
pub(crate) fn eval_register_read<AB: InteractionBuilder>(
    builder: &mut AB,
    reg: AB::Expr,
    value: &[AB::Expr; 4],
    clk: AB::Expr,
    slot: u32,
    cols: &AccessCols<AB::Var>,
    count: AB::Expr,
) {
    let ts = timestamp::<AB>(clk, slot);
    eval_access(builder, reg, value.clone(), value.clone(), ts, cols, count);
}

/// The timestamp of `slot` in the instruction at `clk`.
pub(crate) fn timestamp<AB: AirBuilder>(clk: AB::Expr, slot: u32) -> AB::Expr {
    clk * AB::Expr::from_u32(TIMESTAMPS_PER_CYCLE) + AB::Expr::from_u32(slot)
}
