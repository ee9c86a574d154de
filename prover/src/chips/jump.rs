//! The jump chip: JAL, JALR, LUI and AUIPC — the instructions that write a pc-derived or
//! immediate value to rd — and FENCE, which does nothing but advance the pc.
//!
//! The pc is decomposed into range-checked bytes so `pc + 4` (the link address) and
//! `pc + imm` (AUIPC) are byte-wise carry chains; JALR's target `(rs1 + imm) & !1` is a
//! carry chain whose lowest bit is split off.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::alu::carries;
use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_instruction, eval_rd_write, impl_columns,
};
use super::program::op_id;
use super::{SLOT_RS1, add_bytes, eval_register_read, exprs, range_bytes, word_value};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the jump chip, in flag order.
pub const JUMP_OPS: [Opcode; 5] = [
    Opcode::Jal,
    Opcode::Jalr,
    Opcode::Lui,
    Opcode::Auipc,
    Opcode::Fence,
];

/// Jump chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct JumpCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`JUMP_OPS`].
    pub flags: [T; 5],
    /// Bytes of the pc.
    pub pc_bytes: [T; 4],
    /// rs1's value (JALR).
    pub b: [T; 4],
    /// The value written to rd.
    pub a: [T; 4],
    /// Carries of `pc + 4` or `pc + imm`.
    pub carry_a: [T; 4],
    /// JALR's `rs1 + imm`.
    pub target: [T; 4],
    /// Carries of `rs1 + imm`.
    pub carry_t: [T; 4],
    /// Lowest bit of `target`.
    pub target_bit: T,
    /// `target[0] >> 1`.
    pub target_half: T,
    /// The next pc.
    pub next_pc: T,
    /// The rs1 read (JALR).
    pub rs1: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(JumpCols);

/// The jump chip.
#[derive(Debug, Clone, Default)]
pub struct JumpChip;

impl JumpChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        JUMP_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut JumpCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        rec.start_row(&mut cols.instr, &mut cols.flags, &JUMP_OPS, step);
        let imm = step.instruction.imm as u32;
        let pc = step.pc;
        cols.pc_bytes = bytes_of(pc);
        let pb = pc.to_le_bytes();
        rec.range(pb[0], pb[1]);
        rec.range(pb[2], pb[3]);
        let a = step.result;
        cols.a = bytes_of(a);
        match op {
            Opcode::Jal | Opcode::Jalr | Opcode::Auipc => {
                let addend = if op == Opcode::Auipc { imm } else { 4 };
                cols.carry_a = carries(pc, addend);
                let ab = a.to_le_bytes();
                rec.range(ab[0], ab[1]);
                rec.range(ab[2], ab[3]);
            }
            _ => {}
        }
        if op == Opcode::Jalr {
            let b = step.rs1_value;
            cols.b = bytes_of(b);
            let target = b.wrapping_add(imm);
            cols.target = bytes_of(target);
            cols.carry_t = carries(b, imm);
            let tb = target.to_le_bytes();
            rec.range(tb[0], tb[1]);
            rec.range(tb[2], tb[3]);
            cols.target_bit = F::from_u8(tb[0] & 1);
            cols.target_half = F::from_u8(tb[0] >> 1);
            rec.range(tb[0] >> 1, (tb[0] >> 1) + 128);
            cols.rs1 = rec.read_register(step, step.instruction.rs1, b, SLOT_RS1);
        }
        cols.next_pc = F::from_u32(step.next_pc);
        cols.rd = rec.write_rd(step, a);
    }
}

impl<F: Field> BaseAir<F> for JumpChip {
    fn width(&self) -> usize {
        JumpCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for JumpChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &JumpCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(JUMP_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [jal, jalr, lui, auipc, fence] = l.flags.map(Into::<AB::Expr>::into);
        let pc_bytes = exprs::<AB, 4>(&l.pc_bytes);
        let (b, a, target) = (
            exprs::<AB, 4>(&l.b),
            exprs::<AB, 4>(&l.a),
            exprs::<AB, 4>(&l.target),
        );
        let imm = exprs::<AB, 4>(&l.instr.imm);
        let pc: AB::Expr = l.instr.pc.into();

        builder.assert_zero(is_real.clone() * (pc.clone() - word_value(&pc_bytes)));
        range_bytes(
            builder,
            pc_bytes[0].clone(),
            pc_bytes[1].clone(),
            is_real.clone(),
        );
        range_bytes(
            builder,
            pc_bytes[2].clone(),
            pc_bytes[3].clone(),
            is_real.clone(),
        );

        // rd = pc + 4 (JAL, JALR), pc + imm (AUIPC) or imm (LUI).
        let link = jal.clone() + jalr.clone();
        let addend: [AB::Expr; 4] = core::array::from_fn(|i| {
            let four = if i == 0 {
                AB::Expr::from_u32(4)
            } else {
                AB::Expr::ZERO
            };
            link.clone() * four + auipc.clone() * imm[i].clone()
        });
        let chained = link + auipc.clone();
        add_bytes(builder, chained.clone(), &pc_bytes, &addend, &a, &l.carry_a);
        range_bytes(builder, a[0].clone(), a[1].clone(), chained.clone());
        range_bytes(builder, a[2].clone(), a[3].clone(), chained);
        for i in 0..4 {
            builder.assert_zero(lui.clone() * (a[i].clone() - imm[i].clone()));
        }

        // JALR: target = rs1 + imm, next pc = target with bit 0 cleared.
        add_bytes(builder, jalr.clone(), &b, &imm, &target, &l.carry_t);
        range_bytes(builder, target[0].clone(), target[1].clone(), jalr.clone());
        range_bytes(builder, target[2].clone(), target[3].clone(), jalr.clone());
        builder.assert_bool(l.target_bit);
        builder.assert_zero(
            jalr.clone()
                * (target[0].clone() - AB::Expr::TWO * l.target_half.into() - l.target_bit.into()),
        );
        range_bytes(
            builder,
            l.target_half.into(),
            l.target_half.into() + AB::Expr::from_u32(128),
            jalr.clone(),
        );

        let next = jal * (pc.clone() + l.instr.imm_field.into())
            + jalr.clone() * (word_value(&target) - l.target_bit.into())
            + (lui + auipc + fence) * (pc + AB::Expr::from_u32(4));
        builder.assert_eq(l.next_pc, next);

        eval_register_read(
            builder,
            l.instr.rs1.into(),
            &b,
            l.instr.clk.into(),
            SLOT_RS1,
            &l.rs1,
            jalr,
        );
        eval_rd_write(builder, &l.instr, &a, &l.rd);
        eval_instruction(builder, &l.instr, op, is_real, Some(l.next_pc.into()));
    }
}
