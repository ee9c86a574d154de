//! The byte table: all 65,536 pairs of bytes with their AND, OR and XOR, as periodic
//! columns the verifier builds. Chips look up `(tag, x, y, z)`: `Range` rows check that x
//! and y are bytes (z = 0), `Range16` rows that x is a 16-bit value (the row's
//! `x + 256·y`; y = z = 0), the others that z is the bitwise operation of x and y. One main
//! column per tag counts the lookups of each row.

use std::borrow::Cow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;

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
    /// The key's x is the row's 16-bit value `x + 256·y`; its y and z are 0.
    Range16 = 4,
}

impl ByteOp {
    /// All tags, in main-column order.
    pub const ALL: [ByteOp; 5] = [
        ByteOp::Range,
        ByteOp::And,
        ByteOp::Or,
        ByteOp::Xor,
        ByteOp::Range16,
    ];

    /// The result the table holds for `(x, y)`.
    pub fn apply(self, x: u8, y: u8) -> u8 {
        match self {
            ByteOp::Range | ByteOp::Range16 => 0,
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
/// Values of a row: x, y, x & y, x | y, x ^ y.
const VALUE_WIDTH: usize = 5;

/// Main-trace columns of the byte table: lookup counts per tag ([`ByteOp`] order), then the
/// row's values ([`ByteChip::values`]).
pub type ByteCols<T> = [T; ByteOp::ALL.len() + VALUE_WIDTH];

/// The byte table chip.
///
/// Its values are periodic columns, which the verifier builds and evaluates at the
/// out-of-domain point itself (a pass over 2^16 points per column), rather than
/// preprocessed columns under the program commitment: the commitment then covers only the
/// program's own tables, so recomputing it from an ELF no longer hashes a 2^17-row LDE of a
/// table that is the same for every program. The main trace carries a copy of the values
/// (LogUp tuples are read from committed columns), held equal to the periodic columns.
#[derive(Debug, Clone, Default)]
pub struct ByteChip;

impl ByteChip {
    /// The values of byte-table row `row` (x = its low byte, y = its high byte).
    pub fn values(row: usize) -> [u8; VALUE_WIDTH] {
        let (x, y) = (row as u8, (row >> 8) as u8);
        [x, y, x & y, x | y, x ^ y]
    }
}

impl<F: Field> BaseAir<F> for ByteChip {
    fn width(&self) -> usize {
        ByteOp::ALL.len() + VALUE_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn num_periodic_columns(&self) -> usize {
        VALUE_WIDTH
    }
    fn periodic_columns(&self) -> Cow<'_, [Vec<F>]> {
        let columns = (0..VALUE_WIDTH)
            .map(|column| {
                (0..BYTE_TABLE_HEIGHT)
                    .map(|row| F::from_u8(ByteChip::values(row)[column]))
                    .collect()
            })
            .collect();
        Cow::Owned(columns)
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for ByteChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let periodic: Vec<AB::Expr> = builder
            .periodic_values()
            .iter()
            .map(|&v| v.into())
            .collect();
        let main: Vec<AB::Expr> = builder
            .main()
            .current_slice()
            .iter()
            .map(|&v| v.into())
            .collect();
        let (counts, values) = main.split_at(ByteOp::ALL.len());
        for (value, fixed) in values.iter().zip(periodic) {
            builder.assert_eq(value.clone(), fixed);
        }
        let (x, y) = (values[0].clone(), values[1].clone());
        for (i, op) in ByteOp::ALL.into_iter().enumerate() {
            let (key_x, key_y, z) = match op {
                ByteOp::Range => (x.clone(), y.clone(), AB::Expr::ZERO),
                ByteOp::Range16 => (
                    x.clone() + y.clone() * AB::Expr::from_u32(256),
                    AB::Expr::ZERO,
                    AB::Expr::ZERO,
                ),
                ByteOp::And | ByteOp::Or | ByteOp::Xor => {
                    (x.clone(), y.clone(), values[1 + i].clone())
                }
            };
            BYTES.table_entry(
                builder,
                [AB::Expr::from_u32(op as u32), key_x, key_y, z],
                counts[i].clone(),
            );
        }
    }
}
