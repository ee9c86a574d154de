//! The two ends of the memory argument.
//!
//! - [`MemoryImageChip`] (preprocessed, part of the verifying key): every code word and
//!   every non-zero data word the ELF loads, sent as the cell's first version
//!   `(idx, word, 0, writable)` with `writable` 0 for code.
//! - [`MemoryFinalChip`]: one row per cell the run touched or the image holds, sorted by
//!   strictly increasing word index, receiving the cell's last version; a row whose cell is
//!   not in the image also sends its first version `(idx, 0, 0, 1)`: writable. Because indices strictly
//!   increase (both below 2^29, so the differences cannot wrap), each cell is closed exactly
//!   once, and so (by the bus balance) opened exactly once: from the image or as zero.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

use super::columns::impl_columns;
use super::{MEMORY, exprs, range_below, range_bytes, word_value};
use crate::witness::ImageWord;

/// Preprocessed columns of the image: word index, 4 bytes, is_real, writable.
const IMAGE_WIDTH: usize = 7;

/// The initial memory image: every word of the ELF's code and every non-zero word of its
/// data (see [`crate::memory_image`]).
#[derive(Debug, Clone)]
pub struct MemoryImageChip {
    /// Sorted by index.
    pub words: std::sync::Arc<Vec<ImageWord>>,
}

impl MemoryImageChip {
    /// Trace height: the words rounded up to a power of two (at least 4).
    pub fn height(&self) -> usize {
        self.words.len().next_power_of_two().max(4)
    }
}

impl<F: Field> BaseAir<F> for MemoryImageChip {
    fn width(&self) -> usize {
        1
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        let mut values = F::zero_vec(self.height() * IMAGE_WIDTH);
        for (row, image) in values.chunks_exact_mut(IMAGE_WIDTH).zip(self.words.iter()) {
            row[0] = F::from_u32(image.idx);
            for (cell, byte) in row[1..5].iter_mut().zip(image.word.to_le_bytes()) {
                *cell = F::from_u8(byte);
            }
            row[5] = F::ONE;
            row[6] = F::from_bool(image.writable);
        }
        Some(RowMajorMatrix::new(values, IMAGE_WIDTH))
    }
    fn preprocessed_width(&self) -> usize {
        IMAGE_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for MemoryImageChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let prep: Vec<AB::Expr> = builder
            .preprocessed()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        // The main trace is one unused column, held at zero.
        let unused = builder.main().current_slice()[0];
        builder.assert_zero(unused);
        let mut message = prep[..5].to_vec();
        message.push(AB::Expr::ZERO);
        message.push(prep[6].clone());
        MEMORY.send(builder, message, Count::bounded(prep[5].clone(), 1));
    }
}

/// Columns of the final memory table.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFinalCols<T> {
    /// Word index (registers 0..32, RAM from 0x400).
    pub idx: T,
    /// The cell's last value.
    pub value: [T; 4],
    /// Its last timestamp.
    pub ts: T,
    /// 1 on rows that hold a cell (a prefix of the table).
    pub is_real: T,
    /// 1 when the cell is not in the image and starts as zero.
    pub zero_init: T,
    /// The cell's writable flag (0 only for code words).
    pub writable: T,
    /// Bytes of `idx` (the top one below 0x20).
    pub idx_bytes: [T; 4],
    /// Bytes of `idx - previous idx - 1` (unused on the first row).
    pub gap: [T; 4],
}
impl_columns!(MemoryFinalCols);

/// The final memory table chip.
#[derive(Debug, Clone, Default)]
pub struct MemoryFinalChip;

impl<F: Field> BaseAir<F> for MemoryFinalChip {
    fn width(&self) -> usize {
        MemoryFinalCols::<u8>::WIDTH
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for MemoryFinalChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &MemoryFinalCols<AB::Var> = main.current_slice().borrow();
        let next: &MemoryFinalCols<AB::Var> = main.next_slice().borrow();
        let (local, next) = (*local, *next);
        let is_real: AB::Expr = local.is_real.into();

        builder.assert_bool(local.is_real);
        builder.assert_bool(local.zero_init);
        builder.assert_bool(local.writable);
        builder.assert_zero(local.zero_init.into() * (AB::Expr::ONE - is_real.clone()));
        builder
            .when_transition()
            .assert_zero(next.is_real.into() * (AB::Expr::ONE - is_real.clone()));

        // idx < 2^29 and strictly increasing: idx' = idx + 1 + gap', gap' < 2^29.
        let idx_bytes = exprs::<AB, 4>(&local.idx_bytes);
        builder.assert_eq(local.idx, word_value(&idx_bytes));
        let [i0, i1, i2, i3] = idx_bytes;
        range_bytes(builder, i0, i1, is_real.clone());
        range_bytes(builder, i2, i3.clone(), is_real.clone());
        range_below(builder, i3, 0x20, is_real.clone());
        let [g0, g1, g2, g3] = exprs::<AB, 4>(&local.gap);
        range_bytes(builder, g0, g1, is_real.clone());
        range_bytes(builder, g2, g3.clone(), is_real.clone());
        range_below(builder, g3, 0x20, is_real.clone());
        let next_gap = word_value(&exprs::<AB, 4>(&next.gap));
        builder.when_transition().assert_zero(
            next.is_real.into() * (next.idx.into() - local.idx.into() - AB::Expr::ONE - next_gap),
        );

        let [v0, v1, v2, v3] = exprs::<AB, 4>(&local.value);
        MEMORY.receive(
            builder,
            [
                local.idx.into(),
                v0,
                v1,
                v2,
                v3,
                local.ts.into(),
                local.writable.into(),
            ],
            Count::bounded(is_real, 1),
        );
        MEMORY.send(
            builder,
            [
                local.idx.into(),
                AB::Expr::ZERO,
                AB::Expr::ZERO,
                AB::Expr::ZERO,
                AB::Expr::ZERO,
                AB::Expr::ZERO,
                AB::Expr::ONE,
            ],
            Count::bounded(local.zero_init.into(), 1),
        );
    }
}
