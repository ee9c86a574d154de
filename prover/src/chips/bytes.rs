//! The byte table: all 65,536 pairs of bytes with their AND, OR and XOR, as preprocessed
//! columns. Chips look up `(tag, x, y, z)`: `Range` rows check that x and y are bytes (z = 0),
//! the others that z is the bitwise operation of x and y. One main column per tag counts
//! the lookups of each row.

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use p3_matrix::dense::RowMajorMatrix;

use super::BYTES;

/// The operations the byte table answers; the discriminant is the tag in the lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ByteOp {
    /// x and y are bytes; z is 0.
    Range = 0,
    /// z = x & y.
    And = 1,
    /// z = x | y.
    Or = 2,
    /// z = x ^ y.
    Xor = 3,
}

impl ByteOp {
    /// All tags, in main-column order.
    pub const ALL: [ByteOp; 4] = [ByteOp::Range, ByteOp::And, ByteOp::Or, ByteOp::Xor];

    /// The result the table holds for `(x, y)`.
    pub fn apply(self, x: u8, y: u8) -> u8 {
        match self {
            ByteOp::Range => 0,
            ByteOp::And => x & y,
            ByteOp::Or => x | y,
            ByteOp::Xor => x ^ y,
        }
    }

    /// The byte-table row of `(x, y)`.
    pub fn row(x: u8, y: u8) -> usize {
        usize::from(x) | (usize::from(y) << 8)
    }
}

/// Byte-table height: one row per pair.
pub const BYTE_TABLE_HEIGHT: usize = 1 << 16;
/// Preprocessed columns: x, y, x & y, x | y, x ^ y.
const PREP_WIDTH: usize = 5;

/// Main-trace columns of the byte table: lookup counts per tag.
pub type ByteCols<T> = [T; 4];

/// The byte table chip.
#[derive(Debug, Clone, Default)]
pub struct ByteChip;

impl<F: Field> BaseAir<F> for ByteChip {
    fn width(&self) -> usize {
        ByteOp::ALL.len()
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        let mut values = F::zero_vec(BYTE_TABLE_HEIGHT * PREP_WIDTH);
        for (row, chunk) in values.chunks_exact_mut(PREP_WIDTH).enumerate() {
            let (x, y) = (row as u8, (row >> 8) as u8);
            chunk[0] = F::from_u8(x);
            chunk[1] = F::from_u8(y);
            chunk[2] = F::from_u8(x & y);
            chunk[3] = F::from_u8(x | y);
            chunk[4] = F::from_u8(x ^ y);
        }
        Some(RowMajorMatrix::new(values, PREP_WIDTH))
    }
    fn preprocessed_width(&self) -> usize {
        PREP_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for ByteChip
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
        let counts: Vec<AB::Expr> = builder
            .main()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        let (x, y) = (prep[0].clone(), prep[1].clone());
        for (i, op) in ByteOp::ALL.into_iter().enumerate() {
            let z = if op == ByteOp::Range {
                AB::Expr::ZERO
            } else {
                prep[1 + i].clone()
            };
            BYTES.table_entry(
                builder,
                [AB::Expr::from_u32(op as u32), x.clone(), y.clone(), z],
                counts[i].clone(),
            );
        }
    }
}
