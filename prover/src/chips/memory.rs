//! The ends of the memory argument.
//!
//! - [`MemoryImageChip`] (preprocessed, part of the verifying key): every code word and
//!   every non-zero data word the ELF loads, sent as the cell's first version
//!   `(idx, word, 0, writable)` with `writable` 0 for code.
//! - [`MemoryFinalChip`]: one row per cell the run touched or the image holds, sorted by
//!   strictly increasing word index, receiving the cell's last version; a row whose cell is
//!   not in the image also sends its first version `(idx, 0, 0, 1)`: writable. Because indices strictly
//!   increase (both below 2^29, so the differences cannot wrap), each cell is closed exactly
//!   once, and so (by the bus balance) opened exactly once: from the image or as zero.
//! - [`MemoryBoundaryChip`] (segments of a longer run only): the writable cells a segment
//!   touches, with their values before and after it, built by the verifier from the proof
//!   file into periodic columns. See [`MemoryMode`].

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

use super::columns::impl_columns;
use super::{BOUNDARY, MEMORY, exprs, range_below, range_bytes, word_value};
use crate::witness::ImageWord;

/// How a proof's memory argument begins and ends.
///
/// A **whole run** opens every cell from the image or as zero and closes it in the final
/// table, as the module documentation says. A **segment** of a longer run starts from the
/// memory the previous segments left, which the verifier knows only through the proof
/// files: each segment's memory boundary table lists the writable cells it touches, with
/// their value before (checked by the verifier against the value the previous segments
/// left) and after (handed on to the next segment). In a segment:
/// - the image opens the code words, and the writable words only in the first segment;
/// - the boundary table opens each of its cells not opened by the image, with its value
///   before;
/// - the final table closes every cell, as in a whole run (so each cell is opened once,
///   whichever opener it has), opens none as zero, and sends each writable cell's last
///   value on the `boundary` bus, where the boundary table receives it as the value after.
///
/// The final table's sorted indices make the cells distinct across all openers, so a
/// boundary row cannot open a second version of a code word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryMode {
    /// A whole run, proven in one piece.
    #[default]
    Whole,
    /// One segment of a run proven in several.
    Segment {
        /// Whether it is the run's first segment.
        first: bool,
    },
}

impl MemoryMode {
    /// Whether a proof in this mode starts the run at the program's entry.
    pub fn starts_run(self) -> bool {
        matches!(
            self,
            MemoryMode::Whole | MemoryMode::Segment { first: true }
        )
    }
}
/// Preprocessed columns of the image: word index, 4 bytes, is_real, writable.
const IMAGE_WIDTH: usize = 7;

/// The initial memory image: every word of the ELF's code and every non-zero word of its
/// data (see [`crate::memory_image`]).
#[derive(Debug, Clone)]
pub struct MemoryImageChip {
    /// Sorted by index.
    pub words: std::sync::Arc<Vec<ImageWord>>,
    /// Whole run or segment (a later segment does not open the writable words).
    pub mode: MemoryMode,
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
        let is_real = prep[5].clone();
        let count = match self.mode {
            MemoryMode::Segment { first: false } => is_real * (AB::Expr::ONE - prep[6].clone()),
            _ => is_real,
        };
        MEMORY.send(builder, message, Count::bounded(count, 1));
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
pub struct MemoryFinalChip {
    /// Whole run or segment (a segment opens no cell as zero and exports writable cells).
    pub mode: MemoryMode,
}

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
        if let MemoryMode::Segment { .. } = self.mode {
            builder.assert_zero(local.zero_init);
            let [v0, v1, v2, v3] = exprs::<AB, 4>(&local.value);
            BOUNDARY.send(
                builder,
                [local.idx.into(), v0, v1, v2, v3],
                Count::bounded(local.writable.into(), 1),
            );
        }
    }
}

/// One cell of a segment's memory boundary table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoundaryCell {
    /// Word index.
    pub idx: u32,
    /// Its value before the segment; `None` when the image opens it (first segment only).
    pub before: Option<u32>,
    /// Its value after the segment.
    pub after: u32,
}

/// Periodic (verifier-built) columns of the boundary table: idx, before bytes, after bytes,
/// opens, closes.
const BOUNDARY_PERIODIC: usize = 11;

/// Columns of the memory boundary table: copies of the periodic columns, which the bus
/// messages use.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBoundaryCols<T> {
    /// Word index.
    pub idx: T,
    /// Value before the segment.
    pub before: [T; 4],
    /// Value after the segment.
    pub after: [T; 4],
    /// 1 when this table opens the cell (with `before`).
    pub opens: T,
    /// 1 on the rows that hold a cell.
    pub closes: T,
}
impl_columns!(MemoryBoundaryCols);

/// A segment's memory boundary table (see [`MemoryMode`]): every writable cell the segment
/// touches (and, in the first segment, every writable word of the image), in strictly
/// increasing index order, with its value before and after the segment. The verifier builds
/// the periodic columns from the proof file and checks `before` against the previous
/// segments; the prover's columns must equal them.
#[derive(Debug, Clone, Default)]
pub struct MemoryBoundaryChip {
    /// The cells, sorted by index; empty for a whole run.
    pub cells: std::sync::Arc<Vec<BoundaryCell>>,
}

impl MemoryBoundaryChip {
    /// Trace height: the cells rounded up to a power of two (at least 4).
    pub fn height(&self) -> usize {
        self.cells.len().next_power_of_two().max(4)
    }

    fn rows<F: Field>(&self) -> Vec<MemoryBoundaryCols<F>> {
        let mut rows = vec![MemoryBoundaryCols::default(); self.height()];
        for (row, cell) in rows.iter_mut().zip(self.cells.iter()) {
            row.idx = F::from_u32(cell.idx);
            row.before = crate::witness::bytes_of(cell.before.unwrap_or(0));
            row.after = crate::witness::bytes_of(cell.after);
            row.opens = F::from_bool(cell.before.is_some());
            row.closes = F::ONE;
        }
        rows
    }

    /// The prover's trace.
    pub fn trace<F: Field>(&self) -> RowMajorMatrix<F> {
        let values = self.rows::<F>().iter().flat_map(row_values).collect();
        RowMajorMatrix::new(values, MemoryBoundaryCols::<u8>::WIDTH)
    }
}

/// A boundary row's values, in column order.
fn row_values<F: Copy>(row: &MemoryBoundaryCols<F>) -> [F; BOUNDARY_PERIODIC] {
    let [b0, b1, b2, b3] = row.before;
    let [a0, a1, a2, a3] = row.after;
    [
        row.idx, b0, b1, b2, b3, a0, a1, a2, a3, row.opens, row.closes,
    ]
}

impl<F: Field> BaseAir<F> for MemoryBoundaryChip {
    fn width(&self) -> usize {
        MemoryBoundaryCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn num_periodic_columns(&self) -> usize {
        BOUNDARY_PERIODIC
    }
    fn periodic_columns(&self) -> std::borrow::Cow<'_, [Vec<F>]> {
        let rows = self.rows::<F>();
        let columns = (0..BOUNDARY_PERIODIC)
            .map(|c| rows.iter().map(|row| row_values(row)[c]).collect())
            .collect();
        std::borrow::Cow::Owned(columns)
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for MemoryBoundaryChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &MemoryBoundaryCols<AB::Var> = main.current_slice().borrow();
        let local = *local;
        let periodic: Vec<AB::Expr> = builder
            .periodic_values()
            .iter()
            .map(|&v| v.into())
            .collect();
        for (column, value) in row_values(&local).into_iter().zip(periodic) {
            builder.assert_eq(column, value);
        }
        let [b0, b1, b2, b3] = exprs::<AB, 4>(&local.before);
        MEMORY.send(
            builder,
            [
                local.idx.into(),
                b0,
                b1,
                b2,
                b3,
                AB::Expr::ZERO,
                AB::Expr::ONE,
            ],
            Count::bounded(local.opens.into(), 1),
        );
        let [a0, a1, a2, a3] = exprs::<AB, 4>(&local.after);
        BOUNDARY.receive(
            builder,
            [local.idx.into(), a0, a1, a2, a3],
            Count::bounded(local.closes.into(), 1),
        );
    }
}
