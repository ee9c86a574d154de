//! The compare chip: SLT, SLTU, SLTI, SLTIU — the less-than gadget's result written to rd.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_immediate_operand, eval_register_op,
    impl_columns,
};
use super::exprs;
use super::less_than::{LessThanCols, eval_less_than, fill_less_than};
use super::program::op_id;
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the compare chip, in flag order.
pub const COMPARE_OPS: [Opcode; 4] = [Opcode::Slt, Opcode::Sltu, Opcode::Slti, Opcode::Sltiu];

/// Compare chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`COMPARE_OPS`].
    pub flags: [T; 4],
    /// rs1's value.
    pub b: [T; 4],
    /// rs2's value or the immediate.
    pub c: [T; 4],
    /// The comparison.
    pub cmp: LessThanCols<T>,
    /// The result (0 or 1).
    pub result: T,
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read (register forms).
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(CompareCols);

/// The compare chip.
#[derive(Debug, Clone, Default)]
pub struct CompareChip;

impl CompareChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        COMPARE_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(
        cols: &mut CompareCols<F>,
        step: &StepContext,
        rec: &mut Recorder,
    ) {
        let flag = rec.start_row(&mut cols.instr, &mut cols.flags, &COMPARE_OPS, step);
        let is_imm = flag >= 2;
        let b = step.rs1_value;
        let c = if is_imm {
            step.instruction.imm as u32
        } else {
            step.rs2_value
        };
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        fill_less_than(&mut cols.cmp, b, c, rec);
        let result = step.result;
        cols.result = F::from_u32(result);
        (cols.rs1, cols.rs2, cols.rd) = rec.register_op(step, b, (!is_imm).then_some(c), result);
    }
}

impl<F: Field> BaseAir<F> for CompareChip {
    fn width(&self) -> usize {
        CompareCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for CompareChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &CompareCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(COMPARE_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [slt, sltu, slti, sltiu] = l.flags.map(Into::<AB::Expr>::into);
        let is_imm = slti.clone() + sltiu.clone();
        let (b, c) = (exprs::<AB, 4>(&l.b), exprs::<AB, 4>(&l.c));
        eval_immediate_operand(builder, is_imm.clone(), &c, &l.instr);
        eval_less_than(builder, is_real.clone(), &b, &c, &l.cmp);
        builder.assert_eq(
            l.result,
            (slt + slti) * l.cmp.lt.into() + (sltu + sltiu) * l.cmp.ltu().into(),
        );
        let is_reg = is_real.clone() - is_imm;
        let result = [
            l.result.into(),
            AB::Expr::ZERO,
            AB::Expr::ZERO,
            AB::Expr::ZERO,
        ];
        eval_register_op(
            builder,
            &l.instr,
            op,
            is_real,
            [(&b, &l.rs1), (&c, &l.rs2)],
            is_reg,
            (&result, &l.rd),
        );
    }
}
