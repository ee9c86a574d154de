//! The multiply chip: MUL, MULH, MULHSU, MULHU.
//!
//! Both operands are extended to eight bytes (sign-extended for the signed operands of
//! MULH/MULHSU, zero-extended otherwise) and multiplied by schoolbook convolution of bytes:
//! column `k` of the product plus the carry in equals result byte `k` plus 256 times the
//! carry out, for the low eight bytes (the 64-bit product modulo 2^64, which for these
//! extensions is the exact signed or unsigned product). Carries are below 2^11 (eight
//! products of bytes per column), checked as a byte and three bits. MUL writes the low
//! word, the others the high word.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_register_op, impl_columns,
};
use super::program::op_id;
use super::{exprs, range_bytes, range_seven_bits};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the multiply chip, in flag order.
pub const MUL_OPS: [Opcode; 4] = [Opcode::Mul, Opcode::Mulh, Opcode::Mulhsu, Opcode::Mulhu];

/// Multiply chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MulCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`MUL_OPS`].
    pub flags: [T; 4],
    /// rs1's value.
    pub b: [T; 4],
    /// rs2's value.
    pub c: [T; 4],
    /// Whether b is extended with ones (signed and negative).
    pub sign_b: T,
    /// Whether c is extended with ones.
    pub sign_c: T,
    /// Low seven bits of b's top byte.
    pub rest_b: T,
    /// Low seven bits of c's top byte.
    pub rest_c: T,
    /// The low eight bytes of the extended product.
    pub product: [T; 8],
    /// Carry out of each product column, low byte.
    pub carry_lo: [T; 8],
    /// Carry out of each product column, high bits (below 8).
    pub carry_hi: [T; 8],
    /// The word written to rd: the low or the high half of the product.
    pub result: [T; 4],
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read.
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(MulCols);

/// The multiply chip.
#[derive(Debug, Clone, Default)]
pub struct MulChip;

impl MulChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        MUL_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut MulCols<F>, step: &StepContext, rec: &mut Recorder) {
        let op = step.instruction.opcode;
        rec.start_row(&mut cols.instr, &mut cols.flags, &MUL_OPS, step);
        let (b, c) = (step.rs1_value, step.rs2_value);
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        let signed_b = matches!(op, Opcode::Mulh | Opcode::Mulhsu);
        let signed_c = op == Opcode::Mulh;
        let sb = signed_b && (b >> 31) == 1;
        let sc = signed_c && (c >> 31) == 1;
        cols.sign_b = F::from_bool(sb);
        cols.sign_c = F::from_bool(sc);
        let (tb, tc) = ((b >> 24) as u8, (c >> 24) as u8);
        if signed_b {
            cols.rest_b = F::from_u8(tb & 0x7f);
        }
        if signed_c {
            cols.rest_c = F::from_u8(tc & 0x7f);
        }
        let rest_b = if signed_b { tb & 0x7f } else { 0 };
        let rest_c = if signed_c { tc & 0x7f } else { 0 };
        rec.range_seven_bits(rest_b, rest_c);
        let ext = |v: u32, s: bool| -> [u64; 8] {
            core::array::from_fn(|i| {
                if i < 4 {
                    u64::from((v >> (8 * i)) & 0xff)
                } else if s {
                    255
                } else {
                    0
                }
            })
        };
        let product = fill_product(
            ext(b, sb),
            ext(c, sc),
            [0; 8],
            &mut cols.carry_lo,
            &mut cols.carry_hi,
            rec,
        );
        debug_assert_eq!(product, product_bytes(b, c, sb, sc));
        cols.product = product.map(F::from_u8);
        for pair in product.chunks(2) {
            rec.range(pair[0], pair[1]);
        }
        let result = step.result;
        cols.result = bytes_of(result);
        (cols.rs1, cols.rs2, cols.rd) = rec.register_op(step, b, Some(c), result);
    }
}

/// The low eight bytes of the product of the extended operands.
fn product_bytes(b: u32, c: u32, sb: bool, sc: bool) -> [u8; 8] {
    let be = if sb {
        u64::from(b) | 0xffff_ffff_0000_0000
    } else {
        u64::from(b)
    };
    let ce = if sc {
        u64::from(c) | 0xffff_ffff_0000_0000
    } else {
        u64::from(c)
    };
    be.wrapping_mul(ce).to_le_bytes()
}

impl<F: Field> BaseAir<F> for MulChip {
    fn width(&self) -> usize {
        MulCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for MulChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &MulCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(MUL_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [mul, mulh, mulhsu, mulhu] = l.flags.map(Into::<AB::Expr>::into);
        let (b, c) = (exprs::<AB, 4>(&l.b), exprs::<AB, 4>(&l.c));
        let one = AB::Expr::ONE;
        let half = AB::Expr::from_u32(128);

        // Sign extension only for the signed operands; the sign is the top bit.
        builder.assert_bool(l.sign_b);
        builder.assert_bool(l.sign_c);
        let signed_b = mulh.clone() + mulhsu.clone();
        builder.assert_zero(l.sign_b.into() * (one.clone() - signed_b.clone()));
        builder.assert_zero(l.sign_c.into() * (one - mulh.clone()));
        builder.assert_zero(
            signed_b * (b[3].clone() - half.clone() * l.sign_b.into() - l.rest_b.into()),
        );
        builder.assert_zero(
            mulh.clone() * (c[3].clone() - half.clone() * l.sign_c.into() - l.rest_c.into()),
        );
        // b[3] and c[3] are bytes (register values), so each rest lies in [−128, 256) on
        // signed rows; on the others it is in no constraint and the fill leaves it 0.
        range_seven_bits(builder, l.rest_b.into(), l.rest_c.into(), is_real.clone());

        let ff = AB::Expr::from_u32(255);
        let ext = |v: &[AB::Expr; 4], sign: AB::Var, i: usize| -> AB::Expr {
            if i < 4 {
                v[i].clone()
            } else {
                ff.clone() * sign.into()
            }
        };
        let product = exprs::<AB, 8>(&l.product);
        let b_ext: [AB::Expr; 8] = core::array::from_fn(|i| ext(&b, l.sign_b, i));
        let c_ext: [AB::Expr; 8] = core::array::from_fn(|i| ext(&c, l.sign_c, i));
        let nothing: [AB::Expr; 8] = core::array::from_fn(|_| AB::Expr::ZERO);
        eval_product(
            builder,
            &b_ext,
            &c_ext,
            &nothing,
            &product,
            &l.carry_lo,
            &l.carry_hi,
            is_real.clone(),
        );
        for k in (0..8).step_by(2) {
            range_bytes(
                builder,
                product[k].clone(),
                product[k + 1].clone(),
                is_real.clone(),
            );
        }

        let high = mulh + mulhsu + mulhu;
        let result = exprs::<AB, 4>(&l.result);
        for i in 0..4 {
            builder.assert_zero(mul.clone() * (result[i].clone() - product[i].clone()));
            builder.assert_zero(high.clone() * (result[i].clone() - product[i + 4].clone()));
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

/// Constrains `x · y + add = out` over eight-byte little-endian numbers, modulo 2^64, by
/// columns: column `k` of the convolution plus `add[k]` plus the carry in equals `out[k]`
/// plus 256 times the carry out, each carry `lo + 256·hi` with `lo` and `32·hi` bytes (`hi <
/// 8` when honest: enough for eight products of bytes plus a byte and a carry). `out` must be
/// range-checked by the caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn eval_product<AB: InteractionBuilder>(
    builder: &mut AB,
    x: &[AB::Expr; 8],
    y: &[AB::Expr; 8],
    add: &[AB::Expr; 8],
    out: &[AB::Expr; 8],
    carry_lo: &[AB::Var; 8],
    carry_hi: &[AB::Var; 8],
    gate: AB::Expr,
) where
    AB::F: Field,
{
    let base = AB::Expr::from_u32(256);
    let carry = |k: usize| -> AB::Expr { carry_lo[k].into() + base.clone() * carry_hi[k].into() };
    for k in 0..8 {
        let mut column = add[k].clone();
        for i in 0..=k {
            column += x[i].clone() * y[k - i].clone();
        }
        let carry_in = if k == 0 { AB::Expr::ZERO } else { carry(k - 1) };
        builder.assert_zero(column + carry_in - out[k].clone() - base.clone() * carry(k));
        // lo and 32·hi bytes, in one lookup: 256·hi = 8·(32·hi), so the carry is an integer
        // below 256 + 8·256 whatever field element hi is — far too small for the column
        // identity to wrap around the field.
        range_bytes(
            builder,
            carry_lo[k].into(),
            AB::Expr::from_u32(32) * carry_hi[k].into(),
            gate.clone(),
        );
    }
}

/// Fills the carries of `x · y + add` (eight-byte numbers, as [`eval_product`] checks
/// them), counts their range lookups and returns the low eight bytes of the result.
pub(crate) fn fill_product<F: Field>(
    x: [u64; 8],
    y: [u64; 8],
    add: [u64; 8],
    carry_lo: &mut [F; 8],
    carry_hi: &mut [F; 8],
    rec: &mut Recorder,
) -> [u8; 8] {
    let mut out = [0u8; 8];
    let mut carry = 0u64;
    for k in 0..8 {
        let column: u64 = (0..=k).map(|i| x[i] * y[k - i]).sum::<u64>() + add[k] + carry;
        out[k] = (column & 0xff) as u8;
        carry = column >> 8;
        carry_lo[k] = F::from_u8((carry & 0xff) as u8);
        carry_hi[k] = F::from_u8((carry >> 8) as u8);
        rec.range((carry & 0xff) as u8, ((carry >> 8) as u8) << 5);
    }
    out
}
