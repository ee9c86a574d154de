//! The RAM-index gadget shared by the load/store, io-word and precompile chips: a word index
//! must lie in the ABI's guest memory, `[RAM_FIRST_WORD, RAM_END_WORD)` (byte addresses 0x1000
//! up to 0x7800_0000). And the precompiles' pointer gadget built on it: a register holding a
//! word-aligned pointer to a span of words inside guest memory.
//!
//! `offset = idx − RAM_FIRST_WORD` and `headroom = RAM_END_WORD − 1 − idx` are each four
//! range-checked bytes with a top byte below `RAM_END_WORD >> 24`, so each is a non-negative
//! integer below 2^29. Their sum is the constant `RAM_END_WORD − 1 − RAM_FIRST_WORD` in the
//! field, and since both are far below p that holds over the integers: `idx` is inside the
//! range at both ends, exactly.

use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;

use super::columns::AccessCols;
use super::{
    RAM_END_WORD, RAM_FIRST_WORD, eval_register_read, exprs, range_below, range_bytes, word_value,
};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The top byte of a precompile's pointer is below this (pointers stay below 0x7800_0000,
/// so below the field's modulus, and `pointer = 4·index` holds over the integers).
const POINTER_TOP: u32 = 0x78;

/// Columns of one RAM-index check.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RamIndexCols<T> {
    /// Bytes of `idx − RAM_FIRST_WORD`.
    pub offset: [T; 4],
    /// Bytes of `RAM_END_WORD − 1 − idx`.
    pub headroom: [T; 4],
}

/// Constrains `idx` to guest memory on rows where `gate` is 1.
pub(crate) fn eval_ram_index<AB: InteractionBuilder>(
    builder: &mut AB,
    gate: AB::Expr,
    idx: AB::Expr,
    cols: &RamIndexCols<AB::Var>,
) where
    AB::F: Field,
{
    eval_ram_span(builder, gate, idx, 1, cols);
}

/// Constrains the `words` consecutive word indices from `idx` to guest memory on rows where
/// `gate` is 1: `idx` at the bottom end, `idx + words − 1` at the top.
pub(crate) fn eval_ram_span<AB: InteractionBuilder>(
    builder: &mut AB,
    gate: AB::Expr,
    idx: AB::Expr,
    words: u32,
    cols: &RamIndexCols<AB::Var>,
) where
    AB::F: Field,
{
    let num = |x: u32| AB::Expr::from_u32(x);
    let offset = exprs::<AB, 4>(&cols.offset);
    let headroom = exprs::<AB, 4>(&cols.headroom);
    builder.assert_zero(gate.clone() * (idx.clone() - num(RAM_FIRST_WORD) - word_value(&offset)));
    builder.assert_zero(
        gate.clone() * (idx + num(words - 1) + word_value(&headroom) - num(RAM_END_WORD - 1)),
    );
    // Each of offset and headroom is bytes b0, b1, b2 and 8·b3 a byte y, so (2^24·b3 =
    // 2^21·y) an integer below 2^24 + 2^29 whatever field element b3 is. Their sum is the
    // constant RAM_END_WORD − words − RAM_FIRST_WORD and both sums stay far below p, so
    // both are that integer's non-negative parts: idx lies in [RAM_FIRST_WORD, RAM_END_WORD
    // − words].
    for bytes in [offset, headroom] {
        range_bytes(builder, bytes[0].clone(), bytes[1].clone(), gate.clone());
        range_bytes(
            builder,
            bytes[2].clone(),
            bytes[3].clone() * num(8),
            gate.clone(),
        );
    }
}

/// Fills the check of `idx` and counts its lookups. An index outside guest memory gets
/// columns no constraint accepts (the emulator never produces one).
pub(crate) fn fill_ram_index<F: Field>(cols: &mut RamIndexCols<F>, idx: u32, rec: &mut Recorder) {
    fill_ram_span(cols, idx, 1, rec);
}

/// Fills the check of the `words` indices from `idx` and counts its lookups.
pub(crate) fn fill_ram_span<F: Field>(
    cols: &mut RamIndexCols<F>,
    idx: u32,
    words: u32,
    rec: &mut Recorder,
) {
    let offset = idx.wrapping_sub(RAM_FIRST_WORD);
    let headroom = (RAM_END_WORD - words).wrapping_sub(idx);
    cols.offset = bytes_of(offset);
    cols.headroom = bytes_of(headroom);
    for value in [offset, headroom] {
        let b = value.to_le_bytes();
        rec.range(b[0], b[1]);
        rec.range(b[2], b[3] << 3);
    }
}

/// Columns of a precompile's pointer argument: the register read, its bytes, the word index
/// and the check that its span lies in guest memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PointerCols<T> {
    /// The register read.
    pub read: AccessCols<T>,
    /// The pointer, as the register's bytes.
    pub bytes: [T; 4],
    /// Its word index.
    pub index: T,
    /// The span lies in guest memory.
    pub ram: RamIndexCols<T>,
}

/// On rows where `gate` is 1: register `reg`, read at `slot` of the cycle `clk`, holds a
/// multiple of 4 below 0x7800_0000 whose `words` words lie in guest memory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_pointer<AB: InteractionBuilder>(
    builder: &mut AB,
    gate: AB::Expr,
    reg: u8,
    clk: AB::Expr,
    slot: u32,
    words: u32,
    cols: &PointerCols<AB::Var>,
) where
    AB::F: Field,
{
    let pointer = exprs::<AB, 4>(&cols.bytes);
    eval_register_read(
        builder,
        AB::Expr::from_u32(u32::from(reg)),
        &pointer,
        clk,
        slot,
        &cols.read,
        gate.clone(),
    );
    range_below(builder, pointer[3].clone(), POINTER_TOP, gate.clone());
    builder.assert_zero(
        gate.clone() * (word_value(&pointer) - AB::Expr::from_u32(4) * cols.index.into()),
    );
    eval_ram_span(builder, gate, cols.index.into(), words, &cols.ram);
}

/// Fills the pointer argument in register `reg` (read at `slot`) spanning `words` words and
/// counts its lookups; returns the pointer's word index. A misaligned pointer is recorded
/// as an inconsistency (the emulator refuses one).
pub(crate) fn fill_pointer<F: Field>(
    cols: &mut PointerCols<F>,
    step: &StepContext,
    rec: &mut Recorder,
    reg: u8,
    slot: u32,
    words: u32,
) -> u32 {
    let pointer = rec.register(reg);
    cols.read = rec.read_register(step, reg, pointer, slot);
    cols.bytes = bytes_of(pointer);
    cols.index = F::from_u32(pointer >> 2);
    fill_ram_span(&mut cols.ram, pointer >> 2, words, rec);
    let top = pointer.to_le_bytes()[3];
    rec.range(top.wrapping_add((256 - POINTER_TOP) as u8), 0);
    if !pointer.is_multiple_of(4) {
        rec.fail(format!(
            "cycle {}: misaligned precompile pointer in x{reg}",
            step.clk
        ));
    }
    pointer >> 2
}
