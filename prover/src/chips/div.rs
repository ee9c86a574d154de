//! The unsigned division chip: DIVU and REMU.
//!
//! The quotient `q` and remainder `r` are witnesses checked by `q·c + r = b` over eight
//! bytes (so with nothing above the low word) and `r < c` (the less-than gadget) when
//! `c ≠ 0`; division by zero must give `q = 2^32 − 1` and `r = b`, as RISC-V specifies.
//! Signed DIV and REM are not proven yet.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;

use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_flags, eval_register_op, impl_columns,
};
use super::less_than::{LessThanCols, eval_less_than, fill_less_than};
use super::mul::{eval_product, fill_product};
use super::program::op_id;
use super::{SLOT_RS1, SLOT_RS2, exprs, range_bytes};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the division chip, in flag order.
pub const DIV_OPS: [Opcode; 2] = [Opcode::Divu, Opcode::Remu];

/// Division chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DivCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`DIV_OPS`].
    pub flags: [T; 2],
    /// The dividend (rs1).
    pub b: [T; 4],
    /// The divisor (rs2).
    pub c: [T; 4],
    /// The quotient.
    pub q: [T; 4],
    /// The remainder.
    pub r: [T; 4],
    /// Carries of `q·c + r`.
    pub carry_lo: [T; 8],
    /// High bits of those carries.
    pub carry_hi: [T; 8],
    /// 1 when the divisor is zero.
    pub c_zero: T,
    /// Witness of a non-zero divisor.
    pub c_inv: [T; 4],
    /// r < c.
    pub cmp: LessThanCols<T>,
    /// The word written to rd: q (DIVU) or r (REMU).
    pub result: [T; 4],
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read.
    pub rs2: AccessCols<T>,
    /// The rd write.
    pub rd: WriteCols<T>,
}
impl_columns!(DivCols);

/// The unsigned division chip.
#[derive(Debug, Clone, Default)]
pub struct DivChip;

impl DivChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        DIV_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(cols: &mut DivCols<F>, step: &StepContext, rec: &mut Recorder) {
        rec.start_row(&mut cols.instr, &mut cols.flags, &DIV_OPS, step);
        let (b, c) = (step.rs1_value, step.rs2_value);
        let (q, r) = b.checked_div(c).map_or((u32::MAX, b), |q| (q, b % c));
        cols.b = bytes_of(b);
        cols.c = bytes_of(c);
        cols.q = bytes_of(q);
        cols.r = bytes_of(r);
        for w in [q, r] {
            let bytes = w.to_le_bytes();
            rec.range(bytes[0], bytes[1]);
            rec.range(bytes[2], bytes[3]);
        }
        let wide = |v: u32| -> [u64; 8] {
            core::array::from_fn(|i| {
                if i < 4 {
                    u64::from((v >> (8 * i)) & 0xff)
                } else {
                    0
                }
            })
        };
        fill_product(
            wide(q),
            wide(c),
            wide(r),
            &mut cols.carry_lo,
            &mut cols.carry_hi,
            rec,
        );
        cols.c_zero = F::from_bool(c == 0);
        if c != 0 {
            let cb = c.to_le_bytes();
            let i = (0..4).find(|&i| cb[i] != 0).expect("a non-zero byte");
            cols.c_inv[i] = F::from_u8(cb[i]).inverse();
        }
        if c != 0 {
            fill_less_than(&mut cols.cmp, r, c, rec);
        }
        cols.rs1 = rec.read_register(step, step.instruction.rs1, b, SLOT_RS1);
        cols.rs2 = rec.read_register(step, step.instruction.rs2, c, SLOT_RS2);
        cols.result = bytes_of(step.result);
        cols.rd = rec.write_rd(step, step.result);
    }
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
        let (is_real, op) = eval_flags(builder, &flags);
        let [divu, remu] = l.flags.map(Into::<AB::Expr>::into);
        let (b, c, q, r) = (
            exprs::<AB, 4>(&l.b),
            exprs::<AB, 4>(&l.c),
            exprs::<AB, 4>(&l.q),
            exprs::<AB, 4>(&l.r),
        );
        let one = AB::Expr::ONE;
        for w in [&q, &r] {
            range_bytes(builder, w[0].clone(), w[1].clone(), is_real.clone());
            range_bytes(builder, w[2].clone(), w[3].clone(), is_real.clone());
        }

        // q·c + r = b, with nothing above the low word.
        let wide = |w: &[AB::Expr; 4]| -> [AB::Expr; 8] {
            core::array::from_fn(|i| if i < 4 { w[i].clone() } else { AB::Expr::ZERO })
        };
        eval_product(
            builder,
            &wide(&q),
            &wide(&c),
            &wide(&r),
            &wide(&b),
            &l.carry_lo,
            &l.carry_hi,
            is_real.clone(),
        );
        builder.assert_zero(l.carry_lo[7]);
        builder.assert_zero(l.carry_hi[7]);

        // c = 0 ⇔ c_zero; then q = 2^32 − 1; otherwise r < c.
        builder.assert_bool(l.c_zero);
        let mut witness = AB::Expr::ZERO;
        for i in 0..4 {
            builder.assert_zero(l.c_zero.into() * c[i].clone());
            witness += c[i].clone() * l.c_inv[i].into();
            builder.assert_zero(l.c_zero.into() * (q[i].clone() - AB::Expr::from_u32(255)));
        }
        builder.assert_zero(is_real.clone() * (one - l.c_zero.into() - witness));
        let nonzero = is_real.clone() - l.c_zero.into();
        eval_less_than(builder, nonzero.clone(), &r, &c, &l.cmp);
        builder.assert_zero(nonzero * (AB::Expr::ONE - l.cmp.ltu().into()));

        let result = exprs::<AB, 4>(&l.result);
        for i in 0..4 {
            builder.assert_zero(divu.clone() * (result[i].clone() - q[i].clone()));
            builder.assert_zero(remu.clone() * (result[i].clone() - r[i].clone()));
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
