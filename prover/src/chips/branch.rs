//! The branch chip: BEQ, BNE, BLT, BGE, BLTU, BGEU.
//!
//! Equality uses the inverse trick (`eq = 1` forces equal bytes; `eq = 0` needs a witness
//! `Σ (b_i - c_i)·inv_i = 1`). Unsigned less-than is the carry out of `c + d = b` with `d`
//! range-checked bytes; signed less-than combines it with the operands' sign bits. The
//! next pc is `pc + imm` when taken, else `pc + 4`.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::columns::{AccessCols, InstrCols, eval_flags, eval_instruction, impl_columns};
use super::less_than::{LessThanCols, eval_less_than, fill_less_than};
use super::program::op_id;
use super::{SLOT_RS1, SLOT_RS2, eval_register_read, exprs};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the branch chip, in flag order.
pub const BRANCH_OPS: [Opcode; 6] = [
    Opcode::Beq,
    Opcode::Bne,
    Opcode::Blt,
    Opcode::Bge,
    Opcode::Bltu,
    Opcode::Bgeu,
];

/// Branch chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BranchCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`BRANCH_OPS`].
    pub flags: [T; 6],
    /// rs1's value.
    pub b: [T; 4],
    /// rs2's value.
    pub c: [T; 4],
    /// 1 when b = c.
    pub eq: T,
    /// Witness of b ≠ c.
    pub inv: [T; 4],
    /// The comparison of b with c.
    pub cmp: LessThanCols<T>,
    /// Whether the branch is taken.
    pub taken: T,
    /// The next pc.
    pub next_pc: T,
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read.
    pub rs2: AccessCols<T>,
}
impl_columns!(BranchCols);

/// The branch chip.
#[derive(Debug, Clone, Default)]
pub struct BranchChip;

impl BranchChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        BRANCH_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut BranchCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        rec.start_row(&mut cols.instr, &mut cols.flags, &BRANCH_OPS, step);
        let (b, c) = (step.rs1_value, step.rs2_value);
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        cols.eq = F::from_bool(b == c);
        if b != c {
            let (bb, cb) = (b.to_le_bytes(), c.to_le_bytes());
            let i = (0..4).find(|&i| bb[i] != cb[i]).expect("a differing byte");
            cols.inv[i] = (F::from_u8(bb[i]) - F::from_u8(cb[i])).inverse();
        }
        fill_less_than(&mut cols.cmp, b, c, rec);
        let taken = match op {
            Opcode::Beq => b == c,
            Opcode::Bne => b != c,
            Opcode::Blt => (b as i32) < (c as i32),
            Opcode::Bge => (b as i32) >= (c as i32),
            Opcode::Bltu => b < c,
            _ => b >= c,
        };
        cols.taken = F::from_bool(taken);
        cols.next_pc = F::from_u32(step.next_pc);
        cols.rs1 = rec.read_register(step, step.instruction.rs1, b, SLOT_RS1);
        cols.rs2 = rec.read_register(step, step.instruction.rs2, c, SLOT_RS2);
    }
}

impl<F: Field> BaseAir<F> for BranchChip {
    fn width(&self) -> usize {
        BranchCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for BranchChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &BranchCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(BRANCH_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [beq, bne, blt, bge, bltu, bgeu] = l.flags.map(Into::<AB::Expr>::into);
        let (b, c) = (exprs::<AB, 4>(&l.b), exprs::<AB, 4>(&l.c));
        let one = AB::Expr::ONE;

        // Equality.
        builder.assert_bool(l.eq);
        let mut witness = AB::Expr::ZERO;
        for i in 0..4 {
            let diff = b[i].clone() - c[i].clone();
            builder.assert_zero(l.eq.into() * diff.clone());
            witness += diff * l.inv[i].into();
        }
        builder.assert_zero(is_real.clone() * (one.clone() - l.eq.into() - witness));

        // Unsigned and signed less-than.
        eval_less_than(builder, is_real.clone(), &b, &c, &l.cmp);
        let ltu: AB::Expr = l.cmp.ltu().into();

        // The decision and the next pc.
        let eq: AB::Expr = l.eq.into();
        let lt: AB::Expr = l.cmp.lt.into();
        let taken = beq * eq.clone()
            + bne * (one.clone() - eq)
            + blt * lt.clone()
            + bge * (one.clone() - lt)
            + bltu * ltu.clone()
            + bgeu * (one - ltu);
        builder.assert_eq(l.taken, taken);
        let pc: AB::Expr = l.instr.pc.into();
        let four = AB::Expr::from_u32(4);
        builder.assert_zero(
            is_real.clone()
                * (l.next_pc.into()
                    - pc
                    - four.clone()
                    - l.taken.into() * (l.instr.imm_field.into() - four)),
        );

        let clk: AB::Expr = l.instr.clk.into();
        eval_register_read(
            builder,
            l.instr.rs1.into(),
            &b,
            clk.clone(),
            SLOT_RS1,
            &l.rs1,
            is_real.clone(),
        );
        eval_register_read(
            builder,
            l.instr.rs2.into(),
            &c,
            clk,
            SLOT_RS2,
            &l.rs2,
            is_real.clone(),
        );
        eval_instruction(builder, &l.instr, op, is_real, Some(l.next_pc.into()));
    }
}
