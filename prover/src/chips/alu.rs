//! The ALU chip: ADD, SUB, XOR, OR, AND and their immediate forms.
//!
//! Words are four bytes. ADD is a byte-wise carry chain `b + c = a`, SUB the same chain
//! read backwards (`a + c = b`), with the result bytes range-checked; XOR, OR and AND look
//! each result byte up in the byte table. The second operand is rs2's value or the
//! immediate from the program table.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use zkbox_executor::decode::Opcode;

use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_immediate_operand, eval_register_op,
    impl_columns,
};
use super::program::op_id;
use super::{BYTES, ByteOp, add_bytes, exprs, range_bytes};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the ALU chip, in flag order.
pub const ALU_OPS: [Opcode; 9] = [
    Opcode::Add,
    Opcode::Sub,
    Opcode::Xor,
    Opcode::Or,
    Opcode::And,
    Opcode::Addi,
    Opcode::Xori,
    Opcode::Ori,
    Opcode::Andi,
];

/// ALU chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AluCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`ALU_OPS`].
    pub flags: [T; 9],
    /// rs1's value.
    pub b: [T; 4],
    /// The second operand: rs2's value or the immediate.
    pub c: [T; 4],
    /// The result.
    pub a: [T; 4],
    /// Carries of the ADD/SUB chain.
    pub carry: [T; 4],
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read (register forms only).
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(AluCols);

/// The ALU chip.
#[derive(Debug, Clone, Default)]
pub struct AluChip;

impl AluChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        ALU_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut AluCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        let flag = rec.start_row(&mut cols.instr, &mut cols.flags, &ALU_OPS, step);
        let is_imm = flag >= 5;
        let b = step.rs1_value;
        let c = if is_imm {
            step.instruction.imm as u32
        } else {
            step.rs2_value
        };
        let a = step.rd_value_computed();
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        cols.a = bytes_of(a);
        let (bb, cb, ab) = (b.to_le_bytes(), c.to_le_bytes(), a.to_le_bytes());
        match op {
            Opcode::Add | Opcode::Addi => cols.carry = carries(b, c),
            Opcode::Sub => cols.carry = carries(a, c),
            _ => {
                let byte_op = match op {
                    Opcode::Xor | Opcode::Xori => ByteOp::Xor,
                    Opcode::Or | Opcode::Ori => ByteOp::Or,
                    _ => ByteOp::And,
                };
                for i in 0..4 {
                    rec.byte_op(byte_op, bb[i], cb[i]);
                }
            }
        }
        if matches!(op, Opcode::Add | Opcode::Addi | Opcode::Sub) {
            rec.range(ab[0], ab[1]);
            rec.range(ab[2], ab[3]);
        }
        (cols.rs1, cols.rs2, cols.rd) = rec.register_op(step, b, (!is_imm).then_some(c), a);
    }
}

/// Carry flags of the byte-wise sum `x + y`.
pub(crate) fn carries<F: Field>(x: u32, y: u32) -> [F; 4] {
    let (xb, yb) = (x.to_le_bytes(), y.to_le_bytes());
    let mut carry = 0u32;
    let mut out = [F::ZERO; 4];
    for i in 0..4 {
        carry = (u32::from(xb[i]) + u32::from(yb[i]) + carry) >> 8;
        out[i] = F::from_u32(carry);
    }
    out
}

impl<F: Field> BaseAir<F> for AluChip {
    fn width(&self) -> usize {
        AluCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for AluChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &AluCols<AB::Var> = main.current_slice().borrow();
        let local = *local;
        let f = local.flags;
        let flags: Vec<(AB::Var, u32)> =
            f.iter().zip(ALU_OPS).map(|(&v, o)| (v, op_id(o))).collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [add, sub, xor, or, and, addi, xori, ori, andi] = f.map(Into::<AB::Expr>::into);
        let is_imm = addi.clone() + xori.clone() + ori.clone() + andi.clone();
        let is_reg = is_real.clone() - is_imm.clone();

        let (b, c, a) = (
            exprs::<AB, 4>(&local.b),
            exprs::<AB, 4>(&local.c),
            exprs::<AB, 4>(&local.a),
        );
        eval_immediate_operand(builder, is_imm.clone(), &c, &local.instr);

        add_bytes(
            builder,
            add.clone() + addi.clone(),
            &b,
            &c,
            &a,
            &local.carry,
        );
        add_bytes(builder, sub.clone(), &a, &c, &b, &local.carry);
        let arith = add + addi + sub;
        range_bytes(builder, a[0].clone(), a[1].clone(), arith.clone());
        range_bytes(builder, a[2].clone(), a[3].clone(), arith);

        let and_f = and + andi;
        let or_f = or + ori;
        let xor_f = xor + xori;
        let tag = and_f.clone() * AB::Expr::from_u32(ByteOp::And as u32)
            + or_f.clone() * AB::Expr::from_u32(ByteOp::Or as u32)
            + xor_f.clone() * AB::Expr::from_u32(ByteOp::Xor as u32);
        let logic = and_f + or_f + xor_f;
        for i in 0..4 {
            BYTES.lookup_key(
                builder,
                [tag.clone(), b[i].clone(), c[i].clone(), a[i].clone()],
                Count::bounded(logic.clone(), 1),
            );
        }

        eval_register_op(
            builder,
            &local.instr,
            op,
            is_real,
            [(&b, &local.rs1), (&c, &local.rs2)],
            is_reg,
            (&a, &local.rd),
        );
    }
}
