//! The less-than gadget shared by the branch and compare chips: unsigned `b < c` is the
//! carry out of `c + d = b` (with `d = b - c` range-checked bytes), and signed `b < c`
//! combines it with the operands' sign bits (`lt = sb·(1 − sc) + same_sign·ltu`).

use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;

use super::alu::carries;
use super::{add_bytes, exprs, range_bytes, range_seven_bits};
use crate::witness::{Recorder, bytes_of};

/// Columns of one comparison of `b` with `c`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LessThanCols<T> {
    /// b - c (mod 2^32).
    pub d: [T; 4],
    /// Carries of `c + d = b`; the last is "b < c unsigned".
    pub carry: [T; 4],
    /// Sign bit of b.
    pub sign_b: T,
    /// Sign bit of c.
    pub sign_c: T,
    /// Low seven bits of b's top byte.
    pub rest_b: T,
    /// Low seven bits of c's top byte.
    pub rest_c: T,
    /// 1 when the signs agree.
    pub same_sign: T,
    /// b < c signed.
    pub lt: T,
}

impl<T: Copy> LessThanCols<T> {
    /// "b < c" unsigned.
    pub fn ltu(&self) -> T {
        self.carry[3]
    }
}

/// Constrains the comparison of `b` and `c` on rows where `gate` is 1.
pub(crate) fn eval_less_than<AB: InteractionBuilder>(
    builder: &mut AB,
    gate: AB::Expr,
    b: &[AB::Expr; 4],
    c: &[AB::Expr; 4],
    cols: &LessThanCols<AB::Var>,
) where
    AB::F: Field,
{
    let d = exprs::<AB, 4>(&cols.d);
    add_bytes(builder, gate.clone(), c, &d, b, &cols.carry);
    range_bytes(builder, d[0].clone(), d[1].clone(), gate.clone());
    range_bytes(builder, d[2].clone(), d[3].clone(), gate.clone());
    let ltu: AB::Expr = cols.carry[3].into();
    let (sb, sc): (AB::Expr, AB::Expr) = (cols.sign_b.into(), cols.sign_c.into());
    builder.assert_bool(cols.sign_b);
    builder.assert_bool(cols.sign_c);
    let half = AB::Expr::from_u32(128);
    builder.assert_zero(
        gate.clone() * (b[3].clone() - half.clone() * sb.clone() - cols.rest_b.into()),
    );
    builder.assert_zero(
        gate.clone() * (c[3].clone() - half.clone() * sc.clone() - cols.rest_c.into()),
    );
    // b[3] and c[3] are bytes (every memory value is, and so is every immediate), so the
    // rests lie in [−128, 256) as range_seven_bits requires.
    range_seven_bits(
        builder,
        cols.rest_b.into(),
        cols.rest_c.into(),
        gate.clone(),
    );
    let one = AB::Expr::ONE;
    builder.assert_zero(
        gate.clone()
            * (cols.same_sign.into()
                - (one - sb.clone() - sc.clone() + AB::Expr::TWO * sb.clone() * sc.clone())),
    );
    builder.assert_zero(
        gate * (cols.lt.into() - (sb.clone() - sb * sc) - cols.same_sign.into() * ltu),
    );
}

/// Fills the comparison of `b` with `c` and counts its lookups.
pub(crate) fn fill_less_than<F: Field>(
    cols: &mut LessThanCols<F>,
    b: u32,
    c: u32,
    rec: &mut Recorder,
) {
    let d = b.wrapping_sub(c);
    cols.d = bytes_of(d);
    cols.carry = carries(c, d);
    let (tb, tc) = ((b >> 24) as u8, (c >> 24) as u8);
    cols.sign_b = F::from_u8(tb >> 7);
    cols.sign_c = F::from_u8(tc >> 7);
    cols.rest_b = F::from_u8(tb & 0x7f);
    cols.rest_c = F::from_u8(tc & 0x7f);
    cols.same_sign = F::from_bool((tb >> 7) == (tc >> 7));
    cols.lt = F::from_bool((b as i32) < (c as i32));
    let db = d.to_le_bytes();
    rec.range(db[0], db[1]);
    rec.range(db[2], db[3]);
    rec.range_seven_bits(tb & 0x7f, tc & 0x7f);
}
