//! The shift chip: SLL, SRL, SRA and their immediate forms.
//!
//! The shift amount `s = c mod 32` is split into bits: `r = s mod 8` shifts bits within
//! bytes and `q = s / 8` moves whole bytes. Each byte of rs1 is multiplied by `2^r` (left) or
//! `2^(8-r)` (right) and split into a low and a high byte (both range-checked, so the split
//! is unique); adjacent halves recombine into the bit-shifted word `w`, and a one-hot
//! selector on `q` moves its bytes, filling with zeros or, for SRA, with copies of the sign.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_immediate_operand, eval_register_op,
    impl_columns,
};
use super::program::op_id;
use super::{exprs, range_bytes};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the shift chip, in flag order.
pub const SHIFT_OPS: [Opcode; 6] = [
    Opcode::Sll,
    Opcode::Srl,
    Opcode::Sra,
    Opcode::Slli,
    Opcode::Srli,
    Opcode::Srai,
];

/// Shift chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ShiftCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`SHIFT_OPS`].
    pub flags: [T; 6],
    /// rs1's value.
    pub b: [T; 4],
    /// rs2's value or the immediate (the shift amount is its low five bits).
    pub c: [T; 4],
    /// Bits of the shift amount.
    pub bits: [T; 5],
    /// `c[0] >> 5`.
    pub c0_high: T,
    /// `(1 + bit0)(1 + 3·bit1)`.
    pub pow_low: T,
    /// `2^r`.
    pub pow: T,
    /// `2^(8 - r)`.
    pub pow_inv: T,
    /// The multiplier used: `pow` (left) or `pow_inv` (right).
    pub mult: T,
    /// Low bytes of `b[i]·mult`.
    pub lo: [T; 4],
    /// High bytes of `b[i]·mult`.
    pub hi: [T; 4],
    /// The word shifted by `r` bits.
    pub w: [T; 4],
    /// One-hot byte shift `q`.
    pub byte_shift: [T; 4],
    /// SRA: the sign of rs1.
    pub sign: T,
    /// SRA: the low seven bits of rs1's top byte.
    pub rest: T,
    /// SRA: `sign·(256 − pow_inv)`, the ones shifted into the top byte.
    pub fill_low: T,
    /// The result.
    pub a: [T; 4],
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read (register forms).
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(ShiftCols);

/// The shift chip.
#[derive(Debug, Clone, Default)]
pub struct ShiftChip;

impl ShiftChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        SHIFT_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut ShiftCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        let flag = rec.start_row(&mut cols.instr, &mut cols.flags, &SHIFT_OPS, step);
        let is_imm = flag >= 3;
        let left = matches!(op, Opcode::Sll | Opcode::Slli);
        let arith = matches!(op, Opcode::Sra | Opcode::Srai);
        let b = step.rs1_value;
        let c = if is_imm {
            step.instruction.imm as u32
        } else {
            step.rs2_value
        };
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        let s = c & 31;
        for (i, bit) in cols.bits.iter_mut().enumerate() {
            *bit = F::from_u32((s >> i) & 1);
        }
        let c0_high = ((c & 0xff) >> 5) as u8;
        cols.c0_high = F::from_u8(c0_high);
        let r = s % 8;
        cols.pow_low = F::from_u32((1 + (s & 1)) * (1 + 3 * ((s >> 1) & 1)));
        cols.pow = F::from_u32(1 << r);
        cols.pow_inv = F::from_u32(1 << (8 - r));
        let mult = if left { 1u32 << r } else { 1 << (8 - r) };
        cols.mult = F::from_u32(mult);
        let bb = b.to_le_bytes();
        let (mut lo, mut hi) = ([0u8; 4], [0u8; 4]);
        for i in 0..4 {
            let x = u32::from(bb[i]) * mult;
            lo[i] = (x & 0xff) as u8;
            hi[i] = (x >> 8) as u8;
            rec.range(lo[i], hi[i]);
        }
        cols.lo = lo.map(F::from_u8);
        cols.hi = hi.map(F::from_u8);
        let sign = arith && (b >> 31) == 1;
        cols.sign = F::from_bool(sign);
        let rest = if arith { bb[3] & 0x7f } else { 0 };
        cols.rest = F::from_u8(rest);
        rec.range(c0_high + 248, rest << 1);
        let fill_low = if sign { 256 - (1u32 << (8 - r)) } else { 0 };
        cols.fill_low = F::from_u32(fill_low);
        let w = if left {
            b << r
        } else if arith {
            ((b as i32) >> r) as u32
        } else {
            b >> r
        };
        cols.w = bytes_of(w);
        cols.byte_shift[(s / 8) as usize] = F::ONE;
        let a = step.result;
        cols.a = bytes_of(a);
        (cols.rs1, cols.rs2, cols.rd) = rec.register_op(step, b, (!is_imm).then_some(c), a);
    }
}

impl<F: Field> BaseAir<F> for ShiftChip {
    fn width(&self) -> usize {
        ShiftCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for ShiftChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &ShiftCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(SHIFT_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [sll, srl, sra, slli, srli, srai] = l.flags.map(Into::<AB::Expr>::into);
        let is_imm = slli.clone() + srli.clone() + srai.clone();
        let left = sll + slli;
        let arith = sra + srai;
        let right = srl + srli + arith.clone();
        let (b, c, w, a) = (
            exprs::<AB, 4>(&l.b),
            exprs::<AB, 4>(&l.c),
            exprs::<AB, 4>(&l.w),
            exprs::<AB, 4>(&l.a),
        );
        let (lo, hi) = (exprs::<AB, 4>(&l.lo), exprs::<AB, 4>(&l.hi));
        let num = AB::Expr::from_u32;
        eval_immediate_operand(builder, is_imm.clone(), &c, &l.instr);

        // The shift amount: c[0] = Σ bit_i·2^i + 32·c0_high.
        let mut amount = AB::Expr::ZERO;
        for (i, &bit) in l.bits.iter().enumerate() {
            builder.assert_bool(bit);
            amount += bit.into() * num(1 << i);
        }
        builder.assert_eq(c[0].clone(), amount + l.c0_high.into() * num(32));

        // pow = 2^r, pow_inv = 2^(8-r), mult picks one.
        let bit = |i: usize| -> AB::Expr { l.bits[i].into() };
        builder.assert_zero(
            is_real.clone()
                * (l.pow_low.into() - (AB::Expr::ONE + bit(0)) * (AB::Expr::ONE + num(3) * bit(1))),
        );
        builder.assert_zero(
            is_real.clone()
                * (l.pow.into() - l.pow_low.into() * (AB::Expr::ONE + num(15) * bit(2))),
        );
        builder.assert_zero(is_real.clone() * (l.pow.into() * l.pow_inv.into() - num(256)));
        builder.assert_eq(
            l.mult,
            left.clone() * l.pow.into() + right.clone() * l.pow_inv.into(),
        );

        // Bit shift within bytes.
        for i in 0..4 {
            builder.assert_eq(
                b[i].clone() * l.mult.into(),
                lo[i].clone() + num(256) * hi[i].clone(),
            );
            range_bytes(builder, lo[i].clone(), hi[i].clone(), is_real.clone());
        }
        builder.assert_bool(l.sign);
        builder.assert_zero(l.sign.into() * (AB::Expr::ONE - arith.clone()));
        builder.assert_zero(arith * (b[3].clone() - num(128) * l.sign.into() - l.rest.into()));
        // One lookup for two bounds. c0_high + 248 a byte puts c0_high in [−248, 8); with
        // c[0] a byte and amount in [0, 32), c[0] = amount + 32·c0_high leaves only [0, 8).
        // rest = b[3] − 128·sign on arithmetic rows, in [−128, 256), so twice it is a byte
        // exactly when rest < 128 (range_seven_bits); on the others rest is free.
        range_bytes(
            builder,
            l.c0_high.into() + num(248),
            AB::Expr::TWO * l.rest.into(),
            is_real.clone(),
        );
        builder.assert_eq(l.fill_low, l.sign.into() * (num(256) - l.pow_inv.into()));
        for i in 0..4 {
            let carried_in = if i == 0 {
                AB::Expr::ZERO
            } else {
                hi[i - 1].clone()
            };
            builder.assert_zero(left.clone() * (w[i].clone() - lo[i].clone() - carried_in));
            let shifted_in = if i == 3 {
                l.fill_low.into()
            } else {
                lo[i + 1].clone()
            };
            builder.assert_zero(right.clone() * (w[i].clone() - hi[i].clone() - shifted_in));
        }

        // Byte shift by q = bit3 + 2·bit4.
        let e = exprs::<AB, 4>(&l.byte_shift);
        let mut total = AB::Expr::ZERO;
        for &flag in &l.byte_shift {
            builder.assert_bool(flag);
            total += flag.into();
        }
        builder.assert_zero(is_real.clone() * (total - AB::Expr::ONE));
        builder.assert_eq(
            e[1].clone() + num(2) * e[2].clone() + num(3) * e[3].clone(),
            bit(3) + num(2) * bit(4),
        );
        let fill = num(255) * l.sign.into();
        for j in 0..4 {
            let mut shifted_left = AB::Expr::ZERO;
            let mut shifted_right = AB::Expr::ZERO;
            for k in 0..4 {
                if k <= j {
                    shifted_left += e[k].clone() * w[j - k].clone();
                }
                let source = if j + k < 4 {
                    w[j + k].clone()
                } else {
                    fill.clone()
                };
                shifted_right += e[k].clone() * source;
            }
            builder.assert_zero(left.clone() * (a[j].clone() - shifted_left));
            builder.assert_zero(right.clone() * (a[j].clone() - shifted_right));
        }

        let is_reg = is_real.clone() - is_imm;
        eval_register_op(
            builder,
            &l.instr,
            op,
            is_real,
            [(&b, &l.rs1), (&c, &l.rs2)],
            is_reg,
            (&a, &l.rd),
        );
    }
}
