//! The halt chip: the exit `ecall` (a7 = 93). It reads a7 and a0, and sends the exit code
//! with the cycle after it on the `halt` bus, where the boundary chip receives it — so the
//! run ends here, once, with the public exit code.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use zkbox_executor::decode::Opcode;

use super::columns::{AccessCols, InstrCols, eval_instruction, impl_columns};
use super::program::op_id;
use super::{HALT, SLOT_RS1, SLOT_RS2, eval_register_read, exprs};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The ecall number of exit.
pub const ECALL_EXIT: u32 = 93;
/// Register a7 (the ecall number).
const A7: u8 = 17;
/// Register a0 (the exit code).
const A0: u8 = 10;

/// Halt chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct HaltCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// a0: the exit code.
    pub exit_code: [T; 4],
    /// The a7 read.
    pub a7: AccessCols<T>,
    /// The a0 read.
    pub a0: AccessCols<T>,
}
impl_columns!(HaltCols);

/// The halt chip.
#[derive(Debug, Clone, Default)]
pub struct HaltChip;

impl HaltChip {
    /// Fills the row of the exit `ecall`.
    pub(crate) fn fill<F: Field>(cols: &mut HaltCols<F>, step: &StepContext, rec: &mut Recorder) {
        rec.fill_instruction(&mut cols.instr, step);
        let a7 = rec.register(A7);
        let a0 = rec.register(A0);
        cols.exit_code = bytes_of(a0);
        cols.a7 = rec.read_register(step, A7, a7, SLOT_RS1);
        cols.a0 = rec.read_register(step, A0, a0, SLOT_RS2);
    }
}

impl<F: Field> BaseAir<F> for HaltChip {
    fn width(&self) -> usize {
        HaltCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for HaltChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &HaltCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        builder.assert_bool(l.instr.is_real);
        let is_real: AB::Expr = l.instr.is_real.into();
        let clk: AB::Expr = l.instr.clk.into();
        let exit_number = [ECALL_EXIT, 0, 0, 0].map(AB::Expr::from_u32);
        eval_register_read(
            builder,
            AB::Expr::from_u8(A7),
            &exit_number,
            clk.clone(),
            SLOT_RS1,
            &l.a7,
            is_real.clone(),
        );
        let code = exprs::<AB, 4>(&l.exit_code);
        eval_register_read(
            builder,
            AB::Expr::from_u8(A0),
            &code,
            clk.clone(),
            SLOT_RS2,
            &l.a0,
            is_real.clone(),
        );
        let [e0, e1, e2, e3] = code;
        HALT.send(
            builder,
            [e0, e1, e2, e3, clk + AB::Expr::ONE],
            Count::bounded(is_real.clone(), 1),
        );
        let op = is_real.clone() * AB::Expr::from_u32(op_id(Opcode::Ecall));
        eval_instruction(builder, &l.instr, op, is_real, None);
    }
}
