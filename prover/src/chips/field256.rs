//! The `field256` precompile (`ecall` 0x100): `z = (x op y) mod m` for 256-bit operands and
//! secp256k1's moduli p and n, one row per call (`zkbox_executor::field256`).
//!
//! A row reads a7 (0x100), a0 (the operation), a1, a2 and a3 (the pointers to z, x and y),
//! reads the eight words of x (timestamp slot [`SLOT_MEM`]) and of y ([`SLOT_FIELD_Y`]) and
//! writes the eight words of z ([`SLOT_FIELD_Z`]), so x, y and z may overlap: the inputs are
//! read before the result is written. Each pointer is a multiple of 4 whose eight words lie in
//! guest memory (its top byte is below 0x78, so the pointer is below the field's modulus and
//! `pointer = 4·index` holds over the integers); z's words must be writable.
//!
//! **The arithmetic.** With the 32 bytes of x, y, z and the 33 bytes of a quotient q as
//! polynomial coefficients in a variable X standing for 256, the row proves
//!
//! `N(X) − q(X)·m(X) − z(X) = (X − 256)·c(X)`
//!
//! coefficient by coefficient, where the numerator N is x·y (mul), x + y (add) or
//! x + 2m − y (sub) and c holds 63 carries, each `c_k + 2^15` split into two range-checked
//! bytes. Every coefficient of both sides is below 2^23 in absolute value (a product
//! coefficient is a sum of at most 33 products of two bytes), far below half of BabyBear's
//! modulus, so each coefficient equation holds over the integers and the identity at X = 256
//! gives `N = q·m + z` as integers. Together with `z + s = m − 1` for a byte vector s (a
//! byte-wise subtraction with boolean borrows), `z < m`: z is the remainder, exactly. Bytes of
//! x and y come from memory, where every version holds bytes; z, q and s are range-checked
//! here.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::InteractionBuilder;
use zkbox_executor::decode::Opcode;
use zkbox_executor::field256::{self, Arith, Field256Op, QUOTIENT_BYTES, Words};
use zkbox_executor::syscall::FIELD256;

use super::columns::{AccessCols, InstrCols, eval_instruction, eval_is_real, impl_columns};
use super::program::op_id;
use super::ram::{PointerCols, eval_pointer, fill_pointer};
use super::{
    SLOT_A1, SLOT_A2, SLOT_MEM, SLOT_RS1, SLOT_RS2, eval_access_flagged, eval_register_read, exprs,
    range_bytes, timestamp,
};
use crate::witness::{Recorder, StepContext};

/// Timestamp slot of the a3 read.
pub const SLOT_A3: u32 = 6;
/// Timestamp slot of the reads of y's words.
pub const SLOT_FIELD_Y: u32 = 3;
/// Timestamp slot of the writes of z's words.
pub const SLOT_FIELD_Z: u32 = 7;
/// Bytes in an operand.
const BYTES: usize = 32;
/// Carries of the product identity: one per coefficient of `c(X)`.
const CARRIES: usize = BYTES + QUOTIENT_BYTES - 2;
/// Offset that makes every carry non-negative (|c_k| < 2^14 in fact).
const CARRY_OFFSET: u32 = 1 << 15;

const A0: u8 = 10;
const A1: u8 = 11;
const A2: u8 = 12;
const A3: u8 = 13;
const A7: u8 = 17;

/// Columns of one `field256` call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Field256Cols<T> {
    /// The instruction (an `ecall`).
    pub instr: InstrCols<T>,
    /// Multiplication.
    pub mul: T,
    /// Addition.
    pub add: T,
    /// Subtraction.
    pub sub: T,
    /// 1 for the group order n, 0 for the base field p.
    pub order: T,
    /// The a7 read.
    pub a7: AccessCols<T>,
    /// The a0 read (the operation).
    pub a0: AccessCols<T>,
    /// The pointers to z, x and y (registers a1, a2, a3), each to eight words in guest
    /// memory.
    pub pointers: [PointerCols<T>; 3],
    /// x's bytes, least significant first.
    pub x: [T; BYTES],
    /// y's bytes.
    pub y: [T; BYTES],
    /// The reads of x's words.
    pub x_reads: [AccessCols<T>; 8],
    /// The reads of y's words.
    pub y_reads: [AccessCols<T>; 8],
    /// Writable flags of x's words (inputs may be read from code).
    pub x_writable: [T; 8],
    /// Writable flags of y's words.
    pub y_writable: [T; 8],
    /// The result's bytes.
    pub z: [T; BYTES],
    /// The bytes z's words held before.
    pub z_prev: [T; BYTES],
    /// The writes of z's words.
    pub z_writes: [AccessCols<T>; 8],
    /// The quotient's bytes.
    pub q: [T; QUOTIENT_BYTES],
    /// Low bytes of `c_k + 2^15`.
    pub carry_low: [T; CARRIES],
    /// High bytes of `c_k + 2^15`.
    pub carry_high: [T; CARRIES],
    /// Bytes of `m − 1 − z`.
    pub slack: [T; BYTES],
    /// Borrows of `z + slack = m − 1`, byte by byte.
    pub borrow: [T; BYTES - 1],
}
impl_columns!(Field256Cols);

/// The `field256` chip.
#[derive(Debug, Clone, Default)]
pub struct Field256Chip;

/// Little-endian bytes of a 256-bit operand.
fn operand_bytes(words: &Words) -> [u8; BYTES] {
    let mut out = [0u8; BYTES];
    for (k, w) in words.iter().enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The bytes of `m − 1`.
fn modulus_minus_one(m: &Words) -> [u8; BYTES] {
    let mut bytes = operand_bytes(m);
    // Neither modulus ends in a zero byte, so no borrow.
    bytes[0] -= 1;
    bytes
}

/// Coefficient `k` of a product of two byte polynomials.
fn product_coefficient(a: &[i64], b: &[i64], k: usize) -> i64 {
    (0..a.len())
        .filter(|&i| k >= i && k - i < b.len())
        .map(|i| a[i] * b[k - i])
        .sum()
}

impl Field256Chip {
    /// Whether the `ecall` at this step is a `field256` call (a7 = 0x100).
    pub(crate) fn handles(rec: &Recorder) -> bool {
        rec.register(A7) == FIELD256
    }

    /// Reads the call's operands from the replayed memory and computes its result: the
    /// operation, x, y and the honest result, or `None` (recorded as an inconsistency) when
    /// a0 names no operation.
    pub(crate) fn compute(
        rec: &mut Recorder,
        clk: u32,
    ) -> Option<(Field256Op, Words, Words, field256::Field256Result)> {
        let code = rec.register(A0);
        let Some(op) = Field256Op::from_code(code) else {
            rec.fail(format!("cycle {clk}: field256 operation {code}"));
            return None;
        };
        let operand = |rec: &Recorder, reg: u8| -> Words {
            let index = rec.register(reg) >> 2;
            core::array::from_fn(|k| rec.cell(index + k as u32))
        };
        let (x, y) = (operand(rec, A2), operand(rec, A3));
        Some((op, x, y, field256::compute(op, &x, &y)))
    }

    /// Fills the row of the call at `step` that performs `op` on `x` and `y` and claims
    /// `result` (the honest one but for soundness tests).
    pub(crate) fn fill<F: Field>(
        cols: &mut Field256Cols<F>,
        step: &StepContext,
        rec: &mut Recorder,
        (op, x, y): (Field256Op, Words, Words),
        result: &field256::Field256Result,
    ) {
        rec.fill_instruction(&mut cols.instr, step);
        cols.mul = F::from_bool(op.arith == Arith::Mul);
        cols.add = F::from_bool(op.arith == Arith::Add);
        cols.sub = F::from_bool(op.arith == Arith::Sub);
        cols.order = F::from_bool(op.order);
        cols.a7 = rec.read_register(step, A7, FIELD256, SLOT_RS1);
        // a0 as the register holds it: the operation's code, unless a soundness test claims
        // another operation (whose code the constraints then read and cannot find).
        let held = rec.register(A0);
        cols.a0 = rec.access_register(step, A0, held, SLOT_RS2).0;
        let mut indices = [0u32; 3];
        for (k, (reg, slot)) in [(A1, SLOT_A1), (A2, SLOT_A2), (A3, SLOT_A3)]
            .into_iter()
            .enumerate()
        {
            indices[k] = fill_pointer(&mut cols.pointers[k], step, rec, reg, slot, 8);
        }
        let [z_index, x_index, y_index] = indices;
        for (k, &word) in x.iter().enumerate() {
            let idx = x_index + k as u32;
            cols.x_writable[k] = F::from_bool(rec.writable(idx));
            cols.x_reads[k] = rec.access_memory::<F>(step, idx, word, SLOT_MEM).access;
        }
        for (k, &word) in y.iter().enumerate() {
            let idx = y_index + k as u32;
            cols.y_writable[k] = F::from_bool(rec.writable(idx));
            cols.y_reads[k] = rec.access_memory::<F>(step, idx, word, SLOT_FIELD_Y).access;
        }
        let mut z_prev = [0u32; 8];
        for (k, &word) in result.z.iter().enumerate() {
            let idx = z_index + k as u32;
            if !rec.writable(idx) {
                rec.fail(format!("cycle {}: field256 result into code", step.clk));
            }
            z_prev[k] = rec.cell(idx);
            cols.z_writes[k] = rec.access_memory::<F>(step, idx, word, SLOT_FIELD_Z).access;
        }
        cols.z_prev = operand_bytes(&z_prev).map(F::from_u8);
        Self::fill_arithmetic(cols, op, &x, &y, result, rec);
    }

    /// Fills the operand, quotient, carry and slack columns and counts their lookups.
    fn fill_arithmetic<F: Field>(
        cols: &mut Field256Cols<F>,
        op: Field256Op,
        x: &Words,
        y: &Words,
        result: &field256::Field256Result,
        rec: &mut Recorder,
    ) {
        let m = op.modulus();
        let (xb, yb, zb, mb) = (
            operand_bytes(x),
            operand_bytes(y),
            operand_bytes(&result.z),
            operand_bytes(m),
        );
        cols.x = xb.map(F::from_u8);
        cols.y = yb.map(F::from_u8);
        cols.z = zb.map(F::from_u8);
        cols.q = result.q.map(F::from_u8);
        let wide = |b: &[u8]| b.iter().map(|&v| i64::from(v)).collect::<Vec<_>>();
        let (xi, yi, zi, mi, qi) = (wide(&xb), wide(&yb), wide(&zb), wide(&mb), wide(&result.q));
        let coefficient = |k: usize| -> i64 {
            let low = |v: &[i64]| v.get(k).copied().unwrap_or(0);
            let numerator = match op.arith {
                Arith::Mul => product_coefficient(&xi, &yi, k),
                Arith::Add => low(&xi) + low(&yi),
                Arith::Sub => low(&xi) - low(&yi) + 2 * low(&mi),
            };
            numerator - product_coefficient(&qi, &mi, k) - low(&zi)
        };
        // c_k = (c_{k−1} − E_k) / 256: exact for a true result (a forged one gets the
        // rounded carries, which the constraints then reject).
        let mut carry = 0i64;
        for k in 0..CARRIES {
            carry = (carry - coefficient(k)).div_euclid(256);
            let shifted = (carry + i64::from(CARRY_OFFSET)).clamp(0, 0xFFFF) as u32;
            let (low, high) = (shifted as u8, (shifted >> 8) as u8);
            cols.carry_low[k] = F::from_u8(low);
            cols.carry_high[k] = F::from_u8(high);
            rec.range(low, high);
        }
        for pair in result.q.chunks(2) {
            rec.range(pair[0], pair.get(1).copied().unwrap_or(0));
        }
        for pair in zb.chunks(2) {
            rec.range(pair[0], pair[1]);
        }
        // slack = m − 1 − z, byte by byte with borrows.
        let target = modulus_minus_one(m);
        let mut borrow = 0i32;
        let mut slack = [0u8; BYTES];
        for k in 0..BYTES {
            let v = i32::from(target[k]) - i32::from(zb[k]) - borrow;
            borrow = i32::from(v < 0);
            slack[k] = v.rem_euclid(256) as u8;
            if k < BYTES - 1 {
                cols.borrow[k] = F::from_bool(borrow == 1);
            }
        }
        cols.slack = slack.map(F::from_u8);
        for pair in slack.chunks(2) {
            rec.range(pair[0], pair[1]);
        }
    }
}

impl<F: Field> BaseAir<F> for Field256Chip {
    fn width(&self) -> usize {
        Field256Cols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for Field256Chip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &Field256Cols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let num = AB::Expr::from_u32;
        let zero = || AB::Expr::ZERO;
        for flag in [l.mul, l.add, l.sub, l.order] {
            builder.assert_bool(flag);
        }
        let (mul, add, sub, order): (AB::Expr, AB::Expr, AB::Expr, AB::Expr) =
            (l.mul.into(), l.add.into(), l.sub.into(), l.order.into());
        let is_real = eval_is_real(builder, &l.instr, mul.clone() + add.clone() + sub.clone());
        builder.assert_zero(order.clone() * (AB::Expr::ONE - is_real.clone()));
        let clk: AB::Expr = l.instr.clk.into();

        // a7 = 0x100; a0 = add + 2·sub + 3·order, the operation's code.
        let number = [zero(), is_real.clone(), zero(), zero()];
        eval_register_read(
            builder,
            num(u32::from(A7)),
            &number,
            clk.clone(),
            SLOT_RS1,
            &l.a7,
            is_real.clone(),
        );
        let code = [
            add.clone() + num(2) * sub.clone() + num(3) * order.clone(),
            zero(),
            zero(),
            zero(),
        ];
        eval_register_read(
            builder,
            num(u32::from(A0)),
            &code,
            clk.clone(),
            SLOT_RS2,
            &l.a0,
            is_real.clone(),
        );

        // The pointers: registers a1..a3, word-aligned, eight words inside guest memory.
        for ((reg, slot), pointer) in [(A1, SLOT_A1), (A2, SLOT_A2), (A3, SLOT_A3)]
            .into_iter()
            .zip(&l.pointers)
        {
            eval_pointer(builder, is_real.clone(), reg, clk.clone(), slot, 8, pointer);
        }
        let [z_index, x_index, y_index] = l.pointers.map(|p| Into::<AB::Expr>::into(p.index));
        let word = |bytes: &[AB::Var; BYTES], k: usize| -> [AB::Expr; 4] {
            core::array::from_fn(|b| bytes[4 * k + b].into())
        };
        for k in 0..8 {
            for (index, bytes, access, writable, slot) in [
                (&x_index, &l.x, &l.x_reads[k], l.x_writable[k], SLOT_MEM),
                (&y_index, &l.y, &l.y_reads[k], l.y_writable[k], SLOT_FIELD_Y),
            ] {
                builder.assert_bool(writable);
                eval_access_flagged(
                    builder,
                    index.clone() + num(k as u32),
                    word(bytes, k),
                    word(bytes, k),
                    timestamp::<AB>(clk.clone(), slot),
                    access,
                    is_real.clone(),
                    writable.into(),
                );
            }
            eval_access_flagged(
                builder,
                z_index.clone() + num(k as u32),
                word(&l.z_prev, k),
                word(&l.z, k),
                timestamp::<AB>(clk.clone(), SLOT_FIELD_Z),
                &l.z_writes[k],
                is_real.clone(),
                AB::Expr::ONE,
            );
        }

        // The modulus and m − 1 as byte expressions: p's on p rows, n's on n rows, zero on
        // padding rows.
        let on_p = is_real.clone() - order.clone();
        let select = |p: &[u8; BYTES], n: &[u8; BYTES]| -> Vec<AB::Expr> {
            (0..BYTES)
                .map(|k| on_p.clone() * num(u32::from(p[k])) + order.clone() * num(u32::from(n[k])))
                .collect()
        };
        let m = select(&operand_bytes(&field256::P), &operand_bytes(&field256::N));
        let m_minus_one = select(
            &modulus_minus_one(&field256::P),
            &modulus_minus_one(&field256::N),
        );

        // N(X) − q(X)·m(X) − z(X) = (X − 256)·c(X).
        let (x, y, z, q) = (
            exprs::<AB, BYTES>(&l.x),
            exprs::<AB, BYTES>(&l.y),
            exprs::<AB, BYTES>(&l.z),
            exprs::<AB, QUOTIENT_BYTES>(&l.q),
        );
        let carry = |k: usize| -> AB::Expr {
            l.carry_low[k].into() + num(256) * l.carry_high[k].into()
                - num(CARRY_OFFSET) * is_real.clone()
        };
        for k in 0..=CARRIES {
            let mut e = zero();
            let mut product = zero();
            for i in 0..BYTES {
                if k >= i && k - i < BYTES {
                    product += x[i].clone() * y[k - i].clone();
                }
            }
            e += mul.clone() * product;
            if k < BYTES {
                e += add.clone() * (x[k].clone() + y[k].clone());
                e += sub.clone() * (x[k].clone() - y[k].clone() + num(2) * m[k].clone());
                e -= z[k].clone();
            }
            for i in 0..QUOTIENT_BYTES {
                if k >= i && k - i < BYTES {
                    e -= q[i].clone() * m[k - i].clone();
                }
            }
            let below = if k > 0 { carry(k - 1) } else { zero() };
            let here = if k < CARRIES { carry(k) } else { zero() };
            builder.assert_zero(e - below + num(256) * here);
        }
        for k in 0..CARRIES {
            range_bytes(
                builder,
                l.carry_low[k].into(),
                l.carry_high[k].into(),
                is_real.clone(),
            );
        }
        for pair in q.chunks(2) {
            let second = pair.get(1).cloned().unwrap_or_else(zero);
            range_bytes(builder, pair[0].clone(), second, is_real.clone());
        }
        for pair in z.chunks(2) {
            range_bytes(builder, pair[0].clone(), pair[1].clone(), is_real.clone());
        }

        // z + slack = m − 1, byte by byte: z < m.
        let slack = exprs::<AB, BYTES>(&l.slack);
        for k in 0..BYTES {
            let borrow_in = if k > 0 {
                l.borrow[k - 1].into()
            } else {
                zero()
            };
            let borrow_out = if k < BYTES - 1 {
                builder.assert_bool(l.borrow[k]);
                l.borrow[k].into()
            } else {
                zero()
            };
            builder.assert_zero(
                z[k].clone() + slack[k].clone() + borrow_in
                    - m_minus_one[k].clone()
                    - num(256) * borrow_out,
            );
        }
        for pair in slack.chunks(2) {
            range_bytes(builder, pair[0].clone(), pair[1].clone(), is_real.clone());
        }

        let op = is_real.clone() * num(op_id(Opcode::Ecall));
        let next_pc = l.instr.pc.into() + num(4);
        eval_instruction(builder, &l.instr, op, is_real, Some(next_pc));
    }
}
