//! The public output chip: the claimed output bytes, built by the verifier into periodic
//! columns (never committed by the prover), received one `(position, byte)` per row from the
//! `output` bus, positions counting from the output cursor's value at the start (0 for a
//! whole run; a later segment's share of the output starts where the previous one ended).
//! With the output's end bound by the boundary chip (the output cursor's final value), the
//! proven run wrote exactly these bytes, in this order, to descriptor 1.

use std::borrow::{Borrow, Cow};
use std::sync::Arc;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

use super::OUTPUT;
use super::columns::impl_columns;

/// Largest public output a proof may carry.
pub const MAX_PROVEN_OUTPUT_BYTES: usize = 1 << 20;

/// Output chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputCols<T> {
    /// The output position: `start` plus the row index.
    pub position: T,
    /// The byte at it.
    pub byte: T,
    /// 1 for positions inside the output.
    pub active: T,
}
impl_columns!(OutputCols);

/// The public output chip.
#[derive(Debug, Clone, Default)]
pub struct OutputChip {
    /// The claimed output (of this segment, for a segment).
    pub bytes: Arc<Vec<u8>>,
    /// Position of its first byte in the run's output.
    pub start: u32,
}

impl OutputChip {
    /// Trace height for the output.
    pub fn height(&self) -> usize {
        self.bytes.len().next_power_of_two().max(4)
    }

    /// The prover's trace.
    pub fn trace<F: Field>(&self) -> RowMajorMatrix<F> {
        let width = OutputCols::<u8>::WIDTH;
        let mut values = F::zero_vec(self.height() * width);
        for (i, row) in values.chunks_exact_mut(width).enumerate() {
            row[0] = F::from_u32(self.start) + F::from_usize(i);
            if let Some(&byte) = self.bytes.get(i) {
                row[1] = F::from_u8(byte);
                row[2] = F::ONE;
            }
        }
        RowMajorMatrix::new(values, width)
    }
}

impl<F: Field> BaseAir<F> for OutputChip {
    fn width(&self) -> usize {
        OutputCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![0]
    }
    fn num_periodic_columns(&self) -> usize {
        2
    }
    fn periodic_columns(&self) -> Cow<'_, [Vec<F>]> {
        let height = self.height();
        let mut bytes = vec![F::ZERO; height];
        let mut mask = vec![F::ZERO; height];
        for (i, &byte) in self.bytes.iter().enumerate() {
            bytes[i] = F::from_u8(byte);
            mask[i] = F::ONE;
        }
        Cow::Owned(vec![bytes, mask])
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for OutputChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &OutputCols<AB::Var> = main.current_slice().borrow();
        let next_position = main.next_slice()[0];
        let l = *local;
        let periodic: Vec<AB::Expr> = builder
            .periodic_values()
            .iter()
            .map(|&v| v.into())
            .collect();
        builder
            .when_first_row()
            .assert_eq(l.position, AB::Expr::from_u32(self.start));
        builder
            .when_transition()
            .assert_eq(next_position, l.position.into() + AB::Expr::ONE);
        builder.assert_eq(l.byte, periodic[0].clone());
        builder.assert_eq(l.active, periodic[1].clone());
        OUTPUT.receive(
            builder,
            [l.position.into(), l.byte.into()],
            Count::bounded(l.active.into(), 1),
        );
    }
}
