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
//! | `keccak` | (100 input limbs, 100 output limbs) | each `keccakf` call sends; the keccak-f chip receives each exported permutation |
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
pub mod keccak;
pub mod layout;
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
pub use keccak::{KeccakCallChip, KeccakCallCols, KeccakPermChip};
pub use layout::ChipLayout;
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
/// The `keccak` bus: (input limbs, output limbs) of a Keccak-f permutation, 100 16-bit limbs
/// each; each `keccakf` call sends its state before and after, the keccak-f chip receives
/// every permutation it proves.
pub const KECCAK: PermutationCheckBus<'static> = PermutationCheckBus::new("keccak");
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
/// timestamp-difference range check (below 2^30, see `eval_access_flagged`) relies on.
pub const MAX_SEGMENT_CYCLES: u64 = 1 << 24;
/// The segment size runs are cut into unless told otherwise: a 2^22-cycle segment proves in
/// about 10 GiB on the CPU path (docs/benchmarks.md).
pub const DEFAULT_SEGMENT_CYCLES: u64 = 1 << 22;

/// Every chip of the machine, in the order their traces appear in a proof.
#[derive(Debug, Clone)]
pub enum Chip {
    /// The program table (preprocessed from the ELF).
    Program(ProgramChip),
    /// The byte table: range checks and bitwise operations (periodic, verifier-built).
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
    /// The `keccakf` precompile calls.
    KeccakCall(KeccakCallChip),
    /// The Keccak-f permutations those calls perform.
    KeccakPerm(KeccakPermChip),
}

/// Short names of the chips, in proof order, for progress and error messages.
pub const CHIP_NAMES: [&str; 21] = [
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
    "keccak-call",
    "keccak-f",
];

/// Position of the field256 chip in [`CHIP_NAMES`].
pub const FIELD256_CHIP: usize = 18;
/// Position of the keccak-call chip in [`CHIP_NAMES`].
pub const KECCAK_CALL_CHIP: usize = 19;
/// Position of the keccak-f chip in [`CHIP_NAMES`].
pub const KECCAK_F_CHIP: usize = 20;

/// Which chips one proof holds, as bits over [`CHIP_NAMES`] positions.
///
/// The precompiles' chips (field256, keccak-call, keccak-f) are optional: the proof of a
/// segment that never calls a precompile leaves them out and pays nothing for them. That is
/// sound because only a precompile's chip accepts its `ecall` number (each `ecall` chip reads
/// a7 as its own number), so a proof without the chip cannot prove a call at all; and the
/// `keccak` bus only ever pairs a call with a proven permutation. Every other chip is
/// required. Optional chips come last in proof order, after every chip with preprocessed
/// columns, so leaving them out does not change the program commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChipSet(u32);

impl ChipSet {
    /// Every chip.
    pub const ALL: ChipSet = ChipSet((1 << CHIP_NAMES.len()) - 1);
    const OPTIONAL: u32 = (1 << FIELD256_CHIP) | (1 << KECCAK_CALL_CHIP) | (1 << KECCAK_F_CHIP);
    /// The chips every proof holds.
    pub const REQUIRED: ChipSet = ChipSet(Self::ALL.0 & !Self::OPTIONAL);

    /// Whether the chip at `index` of [`CHIP_NAMES`] is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < CHIP_NAMES.len() && self.0 & (1 << index) != 0
    }

    /// The set without the optional chip at `index`.
    pub fn without(self, index: usize) -> ChipSet {
        debug_assert!(
            Self::OPTIONAL & (1 << index) != 0,
            "chip {index} is required"
        );
        ChipSet(self.0 & !(1 << index))
    }

    /// Number of chips in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty (no valid set is).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a proof may hold this set: every required chip and only known chips.
    pub fn is_valid(self) -> bool {
        self.0 & !Self::ALL.0 == 0 && self.0 & Self::REQUIRED.0 == Self::REQUIRED.0
    }

    /// The positions in [`CHIP_NAMES`] of the chips in the set, in proof order.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        (0..CHIP_NAMES.len()).filter(move |&i| self.contains(i))
    }

    /// The items (one per chip, in [`CHIP_NAMES`] order) of the chips in the set.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| self.contains(i))
            .map(|(_, item)| item)
            .collect()
    }
}

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
            Chip::KeccakCall($chip) => $body,
            Chip::KeccakPerm($chip) => $body,
        }
    };
}

impl Chip {
    /// The chip's name, as in [`CHIP_NAMES`].
    pub fn name(&self) -> &'static str {
        let index = match self {
            Chip::Program(_) => 0,
            Chip::Bytes(_) => 1,
            Chip::Boundary(_) => 2,
            Chip::MemoryImage(_) => 3,
            Chip::MemoryFinal(_) => 4,
            Chip::Alu(_) => 5,
            Chip::Branch(_) => 6,
            Chip::Jump(_) => 7,
            Chip::LoadStore(_) => 8,
            Chip::Halt(_) => 9,
            Chip::Compare(_) => 10,
            Chip::Shift(_) => 11,
            Chip::Mul(_) => 12,
            Chip::IoEcall(_) => 13,
            Chip::IoWord(_) => 14,
            Chip::Output(_) => 15,
            Chip::Div(_) => 16,
            Chip::MemoryBoundary(_) => 17,
            Chip::Field256(_) => FIELD256_CHIP,
            Chip::KeccakCall(_) => KECCAK_CALL_CHIP,
            Chip::KeccakPerm(_) => KECCAK_F_CHIP,
        };
        CHIP_NAMES[index]
    }
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

/// Checks that `x` is below 2^16, in one lookup of the byte table's 16-bit range rows.
pub(crate) fn range_u16<AB: InteractionBuilder>(builder: &mut AB, x: AB::Expr, count: AB::Expr) {
    lookup_bytes(
        builder,
        ByteOp::Range16,
        x,
        AB::Expr::ZERO,
        AB::Expr::ZERO,
        count,
    );
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

/// Checks that `x` and `y` are below 128 in one lookup, for values the caller knows lie in
/// [−128, 256) as integers — a byte minus 128 times a bit, such as a word's top byte with its
/// sign bit taken out: twice such a value is a byte exactly when it lies in [0, 128).
pub(crate) fn range_seven_bits<AB: InteractionBuilder>(
    builder: &mut AB,
    x: AB::Expr,
    y: AB::Expr,
    count: AB::Expr,
) {
    range_bytes(builder, AB::Expr::TWO * x, AB::Expr::TWO * y, count);
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
    // ts - prev_ts - 1 = low + 2^16·high with low and 8·high 16-bit values v, in two
    // lookups. Then 2^16·high = 2^13·v whatever field element high is, so the difference is
    // an integer below 2^16 + 2^29 < 2^30. Timestamps stay below 2^28 (MAX_SEGMENT_CYCLES),
    // so prev_ts ≥ ts would leave p − 2^28 > 2^30 or more: rejected.
    let [low, high] = exprs::<AB, 2>(&cols.diff);
    builder.assert_zero(
        count.clone()
            * (ts
                - cols.prev_ts.into()
                - AB::Expr::ONE
                - low.clone()
                - high.clone() * AB::Expr::from_u32(1 << 16)),
    );
    range_u16(builder, low, count.clone());
    range_u16(builder, high * AB::Expr::from_u32(8), count);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_optional_chips_are_the_precompiles_and_come_last() {
        assert_eq!(CHIP_NAMES[FIELD256_CHIP], "field256");
        assert_eq!(CHIP_NAMES[KECCAK_CALL_CHIP], "keccak-call");
        assert_eq!(CHIP_NAMES[KECCAK_F_CHIP], "keccak-f");
        let optional: Vec<usize> = (0..CHIP_NAMES.len())
            .filter(|&i| !ChipSet::REQUIRED.contains(i))
            .collect();
        assert_eq!(optional, [FIELD256_CHIP, KECCAK_CALL_CHIP, KECCAK_F_CHIP]);
        assert_eq!(ChipSet::ALL.len(), CHIP_NAMES.len());
    }

    #[test]
    fn a_set_is_valid_only_with_every_required_chip_and_no_unknown_one() {
        assert!(ChipSet::ALL.is_valid());
        assert!(ChipSet::REQUIRED.is_valid());
        assert!(ChipSet::ALL.without(KECCAK_F_CHIP).is_valid());
        for required in ChipSet::REQUIRED.indices() {
            assert!(
                !ChipSet(ChipSet::ALL.0 & !(1 << required)).is_valid(),
                "{required}"
            );
        }
        assert!(!ChipSet(ChipSet::ALL.0 | 1 << CHIP_NAMES.len()).is_valid());
        let items: Vec<usize> = (0..CHIP_NAMES.len()).collect();
        assert_eq!(
            ChipSet::ALL.without(FIELD256_CHIP).select(items),
            [
                (0..FIELD256_CHIP).collect::<Vec<_>>(),
                vec![KECCAK_CALL_CHIP, KECCAK_F_CHIP]
            ]
            .concat()
        );
    }
}
