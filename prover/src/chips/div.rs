//! The division chip: DIV, DIVU, REM and REMU.
//!
//! The quotient `q` and remainder `r` are witnesses. All four operands are extended to eight
//! bytes (sign-extended for DIV/REM, zero-extended for DIVU/REMU) and checked by
//! `q·c + r = b` modulo 2^64; every magnitude is below 2^63, so this is the integer equation.
//! With `c ≠ 0`, `|r| < |c|` (the less-than gadget on the absolute values, each
//! `|x| = x` or `x + |x| = 2^32`) and `r` zero or of `b`'s sign make `q` the quotient rounded
//! towards zero. Division by zero must give `q = −1` (all ones) and `r = b`, as RISC-V
//! specifies. The one signed overflow, `−2^31 / −1`, must give `q = −2^31` and `r = 0`:
//! there the dividend is taken as `+2^31` (an `overflow` flag allowed only for exactly those
//! operands), which forces that quotient; with the flag off no witness satisfies it.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::alu::carries;
use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_register_op, impl_columns,
};
use super::less_than::{LessThanCols, eval_less_than, fill_less_than};
use super::mul::{eval_product, fill_product};
use super::program::op_id;
use super::{add_bytes, exprs, range_bytes, range_seven_bits};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the division chip, in flag order.
pub const DIV_OPS: [Opcode; 4] = [Opcode::Div, Opcode::Divu, Opcode::Rem, Opcode::Remu];

/// A word's sign bit, split off its top byte (`top = 128·sign + rest`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SignCols<T> {
    /// The sign bit (0 for the unsigned opcodes).
    pub sign: T,
    /// The top byte's low seven bits (signed opcodes).
    pub rest: T,
}

/// A word's absolute value: `abs = x` when non-negative, else `x + abs = 2^32`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AbsCols<T> {
    /// The magnitude's bytes.
    pub abs: [T; 4],
    /// Carries of `x + abs` (used when negative).
    pub carry: [T; 4],
}

/// Division chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DivCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`DIV_OPS`].
    pub flags: [T; 4],
    /// The dividend (rs1).
    pub b: [T; 4],
    /// The divisor (rs2).
    pub c: [T; 4],
    /// The quotient.
    pub q: [T; 4],
    /// The remainder.
    pub r: [T; 4],
    /// Signs of b, c, q and r.
    pub signs: [SignCols<T>; 4],
    /// 1 for `−2^31 / −1` (signed opcodes only).
    pub overflow: T,
    /// |r|.
    pub abs_r: AbsCols<T>,
    /// |c|.
    pub abs_c: AbsCols<T>,
    /// Carries of `q·c + r`.
    pub carry_lo: [T; 8],
    /// High bits of those carries.
    pub carry_hi: [T; 8],
    /// 1 when the divisor is zero.
    pub c_zero: T,
    /// Witness of a non-zero divisor.
    pub c_inv: [T; 4],
    /// |r| < |c|.
    pub cmp: LessThanCols<T>,
    /// The word written to rd: q (DIV/DIVU) or r (REM/REMU).
    pub result: [T; 4],
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read.
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(DivCols);

/// Index of each operand in [`DivCols::signs`].
const B: usize = 0;
const C: usize = 1;
const Q: usize = 2;
const R: usize = 3;

/// The quotient and remainder that go with `result` (the quotient for DIV/DIVU, the
/// remainder for REM/REMU): the other one is derived from it, so a wrong result still gives
/// a witness and the constraints, not the generator, reject it.
fn quotient_and_remainder(opcode: Opcode, b: u32, c: u32, result: u32) -> (u32, u32) {
    let signed = matches!(opcode, Opcode::Div | Opcode::Rem);
    if matches!(opcode, Opcode::Div | Opcode::Divu) {
        return (result, b.wrapping_sub(result.wrapping_mul(c)));
    }
    let q = match (signed, c) {
        (_, 0) => u32::MAX,
        (true, _) => {
            ((i64::from(b as i32) - i64::from(result as i32)) / i64::from(c as i32)) as u32
        }
        (false, _) => b.wrapping_sub(result) / c,
    };
    (q, result)
}

/// The division chip.
#[derive(Debug, Clone, Default)]
pub struct DivChip;

impl DivChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        DIV_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut DivCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        rec.start_row(&mut cols.instr, &mut cols.flags, &DIV_OPS, step);
        let signed = matches!(op, Opcode::Div | Opcode::Rem);
        let (b, c) = (step.rs1_value, step.rs2_value);
        let (q, r) = quotient_and_remainder(op, b, c, step.result);
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        cols.q = bytes_of(q);
        cols.r = bytes_of(r);
        for w in [q, r] {
            let bytes = w.to_le_bytes();
            rec.range(bytes[0], bytes[1]);
            rec.range(bytes[2], bytes[3]);
        }
        let mut negative = [false; 4];
        let mut rests = [0u8; 4];
        for (i, word) in [b, c, q, r].into_iter().enumerate() {
            let top = (word >> 24) as u8;
            negative[i] = signed && top >> 7 == 1;
            let rest = if signed { top & 0x7f } else { 0 };
            cols.signs[i] = SignCols {
                sign: F::from_bool(negative[i]),
                rest: F::from_u8(rest),
            };
            rests[i] = rest;
        }
        rec.range_seven_bits(rests[B], rests[C]);
        rec.range_seven_bits(rests[Q], rests[R]);
        let overflow = signed && b == 0x8000_0000 && c == u32::MAX;
        cols.overflow = F::from_bool(overflow);
        let abs_r = fill_abs(&mut cols.abs_r, r, negative[R], rec);
        let abs_c = fill_abs(&mut cols.abs_c, c, negative[C], rec);

        let extend = |v: u32, negative: bool| -> [u64; 8] {
            core::array::from_fn(|i| match (i < 4, negative) {
                (true, _) => u64::from((v >> (8 * i)) & 0xff),
                (false, true) => 255,
                (false, false) => 0,
            })
        };
        fill_product(
            extend(q, negative[Q]),
            extend(c, negative[C]),
            extend(r, negative[R]),
            &mut cols.carry_lo,
            &mut cols.carry_hi,
            rec,
        );
        cols.c_zero = F::from_bool(c == 0);
        if c != 0 {
            let cb = c.to_le_bytes();
            let i = (0..4).find(|&i| cb[i] != 0).expect("a non-zero byte");
            cols.c_inv[i] = F::from_u8(cb[i]).inverse();
            fill_less_than(&mut cols.cmp, abs_r, abs_c, rec);
        }
        cols.result = bytes_of(step.result);
        (cols.rs1, cols.rs2, cols.rd) = rec.register_op(step, b, Some(c), step.result);
    }
}

/// Fills `|x|` (given whether `x` is negative) and returns it.
fn fill_abs<F: Field>(cols: &mut AbsCols<F>, x: u32, negative: bool, rec: &mut Recorder) -> u32 {
    let abs = if negative { x.wrapping_neg() } else { x };
    cols.abs = bytes_of(abs);
    if negative {
        cols.carry = carries(x, abs);
    }
    let bytes = abs.to_le_bytes();
    rec.range(bytes[0], bytes[1]);
    rec.range(bytes[2], bytes[3]);
    abs
}

/// Constrains `cols.abs` to be `|x|` given `x`'s sign bit.
fn eval_abs<AB: InteractionBuilder>(
    builder: &mut AB,
    is_real: AB::Expr,
    x: &[AB::Expr; 4],
    sign: AB::Expr,
    cols: &AbsCols<AB::Var>,
) where
    AB::F: Field,
{
    let abs = exprs::<AB, 4>(&cols.abs);
    range_bytes(builder, abs[0].clone(), abs[1].clone(), is_real.clone());
    range_bytes(builder, abs[2].clone(), abs[3].clone(), is_real.clone());
    for i in 0..4 {
        builder.assert_zero((is_real.clone() - sign.clone()) * (abs[i].clone() - x[i].clone()));
    }
    // Negative: x + |x| = 2^32, i.e. zero bytes and a carry out of the top byte.
    let zero: [AB::Expr; 4] = core::array::from_fn(|_| AB::Expr::ZERO);
    add_bytes(builder, sign.clone(), x, &abs, &zero, &cols.carry);
    builder.assert_zero(sign * (AB::Expr::ONE - cols.carry[3].into()));
}

impl<F: Field> BaseAir<F> for DivChip {
    fn width(&self) -> usize {
        DivCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for DivChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &DivCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(DIV_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [div, divu, rem, remu] = l.flags.map(Into::<AB::Expr>::into);
        let signed = div.clone() + rem.clone();
        let words = [
            exprs::<AB, 4>(&l.b),
            exprs::<AB, 4>(&l.c),
            exprs::<AB, 4>(&l.q),
            exprs::<AB, 4>(&l.r),
        ];
        let [b, c, q, r] = words.clone();
        let one = AB::Expr::ONE;
        let half = AB::Expr::from_u32(128);
        for w in [&q, &r] {
            range_bytes(builder, w[0].clone(), w[1].clone(), is_real.clone());
            range_bytes(builder, w[2].clone(), w[3].clone(), is_real.clone());
        }

        // Sign bits: zero for the unsigned opcodes, the top bit for the signed ones.
        let sign: [AB::Expr; 4] = l.signs.map(|s| s.sign.into());
        for (word, cols) in words.iter().zip(&l.signs) {
            builder.assert_bool(cols.sign);
            builder.assert_zero(cols.sign.into() * (one.clone() - signed.clone()));
            builder.assert_zero(
                signed.clone()
                    * (word[3].clone() - half.clone() * cols.sign.into() - cols.rest.into()),
            );
        }
        // Every word's top byte is a byte (b and c are register values, q and r are
        // range-checked above), so each rest lies in [−128, 256) on signed rows; on the
        // others it is in no constraint and the fill leaves it 0.
        for pair in l.signs.chunks_exact(2) {
            range_seven_bits(
                builder,
                pair[0].rest.into(),
                pair[1].rest.into(),
                is_real.clone(),
            );
        }

        // The overflow flag: only for DIV/REM of exactly −2^31 by −1.
        let overflow: AB::Expr = l.overflow.into();
        builder.assert_bool(l.overflow);
        builder.assert_zero(overflow.clone() * (one.clone() - signed.clone()));
        let ff = AB::Expr::from_u32(255);
        for i in 0..4 {
            let top = if i == 3 { half.clone() } else { AB::Expr::ZERO };
            builder.assert_zero(overflow.clone() * (b[i].clone() - top));
            builder.assert_zero(overflow.clone() * (c[i].clone() - ff.clone()));
        }

        // q·c + r = b over eight bytes (modulo 2^64).
        let extend = |w: &[AB::Expr; 4], sign: AB::Expr| -> [AB::Expr; 8] {
            core::array::from_fn(|i| {
                if i < 4 {
                    w[i].clone()
                } else {
                    ff.clone() * sign.clone()
                }
            })
        };
        eval_product(
            builder,
            &extend(&q, sign[Q].clone()),
            &extend(&c, sign[C].clone()),
            &extend(&r, sign[R].clone()),
            &extend(&b, sign[B].clone() * (one.clone() - overflow)),
            &l.carry_lo,
            &l.carry_hi,
            is_real.clone(),
        );

        // c = 0 ⇔ c_zero; then q = all ones (and r = b follows from the product).
        builder.assert_bool(l.c_zero);
        let mut witness = AB::Expr::ZERO;
        for i in 0..4 {
            builder.assert_zero(l.c_zero.into() * c[i].clone());
            witness += c[i].clone() * l.c_inv[i].into();
            builder.assert_zero(l.c_zero.into() * (q[i].clone() - ff.clone()));
        }
        builder.assert_zero(is_real.clone() * (one.clone() - l.c_zero.into() - witness));

        // c ≠ 0: |r| < |c|, and r is zero or has b's sign.
        eval_abs(builder, is_real.clone(), &r, sign[R].clone(), &l.abs_r);
        eval_abs(builder, is_real.clone(), &c, sign[C].clone(), &l.abs_c);
        let nonzero = is_real.clone() - l.c_zero.into();
        let abs_r = exprs::<AB, 4>(&l.abs_r.abs);
        let abs_c = exprs::<AB, 4>(&l.abs_c.abs);
        eval_less_than(builder, nonzero.clone(), &abs_r, &abs_c, &l.cmp);
        builder.assert_zero(nonzero * (one.clone() - l.cmp.ltu().into()));
        builder.assert_zero(sign[R].clone() * (one.clone() - sign[B].clone()));
        for byte in &r {
            builder.assert_zero(sign[B].clone() * (one.clone() - sign[R].clone()) * byte.clone());
        }

        let result = exprs::<AB, 4>(&l.result);
        let quotient = div + divu;
        let remainder = rem + remu;
        for i in 0..4 {
            builder.assert_zero(quotient.clone() * (result[i].clone() - q[i].clone()));
            builder.assert_zero(remainder.clone() * (result[i].clone() - r[i].clone()));
        }
        eval_register_op(
            builder,
            &l.instr,
            op,
            is_real.clone(),
            [(&b, &l.rs1), (&c, &l.rs2)],
            is_real,
            (&result, &l.rd),
        );
    }
}
