//! How a proof lays its chips out as STARK instances: which chips it holds, and into how
//! many power-of-two row ranges ("pieces") each instruction chip's trace is cut.
//!
//! Every trace height is a power of two, so a chip with 2^k + 1 real rows used to pay for
//! 2^(k+1): on the 2^18-cycle integer mix about a quarter of all committed rows were zero
//! padding, and a third on the fibonacci guest. An instruction chip's rows are independent
//! of each other (no transition constraints; every row talks to the rest of the machine
//! only through the LogUp buses, whose sums run over all instances of all chips), so its
//! rows can be proven as several instances of the same AIR instead: 2^17 + 2^15 rows rather
//! than 2^18. Each extra instance costs its share of every FRI query opening (proof size)
//! and a little fixed work, so a chip is cut into at most [`MAX_PIECES`] pieces, each at
//! least an eighth of the padded height.

use p3_field::Field;
use p3_matrix::Matrix;
use p3_matrix::dense::RowMajorMatrix;
use serde::{Deserialize, Serialize};

use super::{CHIP_NAMES, ChipSet};

/// The most pieces one chip's trace is cut into.
pub const MAX_PIECES: usize = 3;

/// Traces shorter than this are never cut: the saving is too small to pay for an instance.
pub const MIN_SPLIT_HEIGHT: usize = 1 << 12;

/// The chips whose traces may be cut into pieces (positions in [`CHIP_NAMES`]): the
/// RV32IM instruction families, one independent row per executed instruction.
const SPLITTABLE: [&str; 8] = [
    "alu",
    "branch",
    "jump",
    "load-store",
    "compare",
    "shift",
    "mul",
    "div",
];

/// Whether the chip at `index` of [`CHIP_NAMES`] may be proven in several pieces.
pub fn splittable(index: usize) -> bool {
    CHIP_NAMES
        .get(index)
        .is_some_and(|name| SPLITTABLE.contains(name))
}

/// A proof's chips and the number of pieces (STARK instances) of each, in proof order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipLayout {
    /// The chips the proof holds.
    set: ChipSet,
    /// Pieces of each chip of `set`, in proof order.
    pieces: Vec<u8>,
}

impl ChipLayout {
    /// Every chip of `set` in one piece.
    pub fn whole(set: ChipSet) -> ChipLayout {
        ChipLayout {
            set,
            pieces: vec![1; set.len()],
        }
    }

    /// A layout as a proof file states it: `pieces` for each chip of `set`, in proof order
    /// (check it with [`ChipLayout::is_valid`]).
    pub fn from_parts(set: ChipSet, pieces: Vec<u8>) -> ChipLayout {
        ChipLayout { set, pieces }
    }

    /// The chips, whatever their pieces.
    pub fn set(&self) -> ChipSet {
        self.set
    }

    /// Whether a proof may hold this layout: a valid chip set, one to [`MAX_PIECES`]
    /// pieces per chip, and more than one only for a splittable chip.
    pub fn is_valid(&self) -> bool {
        self.set.is_valid()
            && self.pieces.len() == self.set.len()
            && self.set.indices().zip(&self.pieces).all(|(chip, &n)| {
                n == 1 || (n > 1 && splittable(chip) && usize::from(n) <= MAX_PIECES)
            })
    }

    /// The position in [`CHIP_NAMES`] of each instance's chip, in proof order.
    pub fn instance_chips(&self) -> impl Iterator<Item = usize> + '_ {
        self.set
            .indices()
            .zip(&self.pieces)
            .flat_map(|(chip, &n)| std::iter::repeat_n(chip, n as usize))
    }

    /// Number of STARK instances.
    pub fn instance_count(&self) -> usize {
        self.pieces.iter().map(|&n| n as usize).sum()
    }

    /// One item per instance from one item per chip of the whole machine ([`CHIP_NAMES`]
    /// order): a chip's item is repeated for each of its pieces.
    pub fn select<T: Clone>(&self, items: Vec<T>) -> Vec<T> {
        let chips: Vec<T> = self.set.select(items);
        chips
            .into_iter()
            .zip(&self.pieces)
            .flat_map(|(item, &n)| std::iter::repeat_n(item, n as usize))
            .collect()
    }

    /// Cuts the traces of the chips of `set` (one padded trace per chip, in proof order)
    /// into pieces: each splittable chip's rows up to its last non-zero row go into as few
    /// power-of-two pieces as [`piece_heights`] gives, the rest of its zero padding is
    /// dropped. Returns the layout and one trace per instance.
    pub fn split<F: Field>(
        set: ChipSet,
        traces: Vec<RowMajorMatrix<F>>,
    ) -> (ChipLayout, Vec<RowMajorMatrix<F>>) {
        let mut pieces = Vec::with_capacity(traces.len());
        let mut out = Vec::with_capacity(traces.len());
        for (chip, trace) in set.indices().zip(traces) {
            let height = trace.height();
            let heights = if splittable(chip) {
                piece_heights(used_rows(&trace), height)
            } else {
                vec![height]
            };
            pieces.push(heights.len() as u8);
            out.extend(cut(trace, &heights));
        }
        (ChipLayout { set, pieces }, out)
    }
}

/// Rows up to and including the last row with a non-zero cell.
fn used_rows<F: Field>(trace: &RowMajorMatrix<F>) -> usize {
    if trace.width == 0 {
        return 0;
    }
    trace
        .values
        .chunks_exact(trace.width)
        .rposition(|row| row.iter().any(|v| !v.is_zero()))
        .map_or(0, |last| last + 1)
}

/// The power-of-two piece heights, largest first, that cover `used` rows of a trace padded
/// to `height` rows: `used` rounded up to a multiple of `height / 8`, in binary. At most
/// [`MAX_PIECES`] pieces, and their sum never exceeds `height`; a short trace stays whole.
pub fn piece_heights(used: usize, height: usize) -> Vec<usize> {
    if height < MIN_SPLIT_HEIGHT || !height.is_power_of_two() {
        return vec![height];
    }
    let unit = height / 8;
    let mut rest = used.div_ceil(unit).clamp(1, 8) * unit;
    let mut heights = Vec::with_capacity(MAX_PIECES);
    while rest > 0 {
        let piece = 1 << rest.ilog2();
        heights.push(piece);
        rest -= piece;
    }
    heights
}

/// Consecutive row ranges of `trace` with the given heights (their sum at most its height).
fn cut<F: Clone + Send + Sync>(
    trace: RowMajorMatrix<F>,
    heights: &[usize],
) -> Vec<RowMajorMatrix<F>> {
    let width = trace.width;
    let mut values = trace.values;
    values.truncate(heights.iter().sum::<usize>() * width);
    // Split from the end so the first (largest) piece keeps the original allocation.
    let mut pieces: Vec<RowMajorMatrix<F>> = heights
        .iter()
        .rev()
        .map(|&h| {
            let tail = values.split_off(values.len() - h * width);
            RowMajorMatrix::new(tail, width)
        })
        .collect();
    pieces.reverse();
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_baby_bear::BabyBear;
    use p3_field::PrimeCharacteristicRing;

    #[test]
    fn pieces_cover_the_used_rows_in_at_most_three_powers_of_two() {
        let height = 1 << 15;
        for used in [
            0, 1, 4095, 4096, 4097, 16_385, 20_000, 28_673, 32_767, 32_768,
        ] {
            let h = piece_heights(used, height);
            let sum: usize = h.iter().sum();
            assert!(sum >= used && sum <= height, "{used}: {h:?}");
            assert!(sum - used < height / 8 || used == 0, "{used}: {h:?}");
            assert!(h.len() <= MAX_PIECES, "{used}: {h:?}");
            assert!(h.iter().all(|p| p.is_power_of_two()), "{used}: {h:?}");
            assert!(h.windows(2).all(|w| w[0] > w[1]), "{used}: {h:?}");
        }
        assert_eq!(piece_heights(20_000, height), vec![16_384, 4_096]);
        assert_eq!(piece_heights(32_768, height), vec![32_768]);
        // Short traces stay whole.
        assert_eq!(piece_heights(1_000, 2_048), vec![2_048]);
    }

    #[test]
    fn split_keeps_every_non_zero_row_in_order() {
        let width = 3;
        let height = 1 << 13;
        let used = 5_000;
        let mut values = BabyBear::zero_vec(height * width);
        for (i, v) in values.iter_mut().take(used * width).enumerate() {
            *v = BabyBear::from_u32(i as u32 + 1);
        }
        let alu = CHIP_NAMES.iter().position(|&n| n == "alu").unwrap();
        let program = 0;
        let set = ChipSet::REQUIRED;
        let mut traces: Vec<RowMajorMatrix<BabyBear>> = set
            .indices()
            .map(|_| RowMajorMatrix::new(BabyBear::zero_vec(4 * width), width))
            .collect();
        let alu_pos = set.indices().position(|i| i == alu).unwrap();
        traces[alu_pos] = RowMajorMatrix::new(values.clone(), width);
        traces[set.indices().position(|i| i == program).unwrap()] =
            RowMajorMatrix::new(values.clone(), width);
        let (layout, pieces) = ChipLayout::split(set, traces);
        assert!(layout.is_valid());
        assert_eq!(layout.instance_count(), pieces.len());
        let chips: Vec<usize> = layout.instance_chips().collect();
        let alu_pieces: Vec<&RowMajorMatrix<BabyBear>> = chips
            .iter()
            .zip(&pieces)
            .filter(|(c, _)| **c == alu)
            .map(|(_, p)| p)
            .collect();
        // 5,000 rows of 8,192 round up to 5,120 = 4,096 + 1,024.
        let heights: Vec<usize> = alu_pieces.iter().map(|p| p.values.len() / width).collect();
        assert_eq!(heights, vec![4_096, 1_024]);
        let joined: Vec<BabyBear> = alu_pieces
            .iter()
            .flat_map(|p| p.values.iter().copied())
            .collect();
        assert_eq!(joined[..used * width], values[..used * width]);
        assert!(joined[used * width..].iter().all(|v| v.is_zero()));
        // A table that is not an instruction chip is never cut.
        let program_pos = chips.iter().position(|&c| c == program).unwrap();
        assert_eq!(pieces[program_pos].values.len(), height * width);
    }

    #[test]
    fn a_layout_may_split_only_instruction_chips_and_only_so_far() {
        let set = ChipSet::REQUIRED;
        let mut layout = ChipLayout::whole(set);
        assert!(layout.is_valid());
        let alu = set.indices().position(|i| CHIP_NAMES[i] == "alu").unwrap();
        layout.pieces[alu] = MAX_PIECES as u8;
        assert!(layout.is_valid());
        layout.pieces[alu] = MAX_PIECES as u8 + 1;
        assert!(!layout.is_valid());
        layout.pieces[alu] = 0;
        assert!(!layout.is_valid());
        let mut layout = ChipLayout::whole(set);
        layout.pieces[0] = 2; // the program table
        assert!(!layout.is_valid());
        let mut layout = ChipLayout::whole(set);
        layout.pieces.pop();
        assert!(!layout.is_valid());
    }
}
