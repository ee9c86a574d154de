//! Column groups shared by the instruction chips, and the macro that views a trace row as a
//! chip's column struct.

use p3_air::AirBuilder;
use p3_field::PrimeCharacteristicRing;
use p3_lookup::{Count, InteractionBuilder};

use super::{EXEC, PROGRAM, eval_access, exprs, timestamp};

/// Implements `Borrow`/`BorrowMut` from a row slice for a `repr(C)` column struct made only
/// of `T`s, and its `WIDTH`.
macro_rules! impl_columns {
    ($cols:ident) => {
        impl<T> core::borrow::Borrow<$cols<T>> for [T] {
            fn borrow(&self) -> &$cols<T> {
                // SAFETY: `$cols<T>` is `repr(C)` and contains only `T`s (directly or in
                // arrays and nested such structs), so its alignment is `T`'s and a slice
                // of exactly `WIDTH` elements is one value of it; the assertion checks
                // the length.
                let (prefix, cols, suffix) = unsafe { self.align_to::<$cols<T>>() };
                assert!(
                    prefix.is_empty() && suffix.is_empty() && cols.len() == 1,
                    "row width does not match {}",
                    stringify!($cols)
                );
                &cols[0]
            }
        }
        impl<T> core::borrow::BorrowMut<$cols<T>> for [T] {
            fn borrow_mut(&mut self) -> &mut $cols<T> {
                // SAFETY: as for `Borrow` above.
                let (prefix, cols, suffix) = unsafe { self.align_to_mut::<$cols<T>>() };
                assert!(
                    prefix.is_empty() && suffix.is_empty() && cols.len() == 1,
                    "row width does not match {}",
                    stringify!($cols)
                );
                &mut cols[0]
            }
        }
        impl $cols<u8> {
            /// Number of columns.
            pub const WIDTH: usize = core::mem::size_of::<$cols<u8>>();
        }
    };
}
pub(crate) use impl_columns;

/// The decoded instruction an instruction row executes, as the program table holds it, and
/// the machine state it runs in.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct InstrCols<T> {
    /// The instruction's address.
    pub pc: T,
    /// The cycle it runs in.
    pub clk: T,
    /// Destination register index.
    pub rd: T,
    /// First source register index.
    pub rs1: T,
    /// Second source register index.
    pub rs2: T,
    /// The immediate as four little-endian bytes of its 32-bit sign extension.
    pub imm: [T; 4],
    /// The immediate as a signed field element (for pc arithmetic).
    pub imm_field: T,
    /// 1 when the instruction writes a register other than x0.
    pub rd_nz: T,
    /// 1 on a real row, 0 on padding: the sum of the chip's opcode flags (or its own
    /// activity flags), committed so that the LogUp multiplicities of the row's ~20
    /// interactions are one column each rather than that sum, which Plonky3's LogUp trace
    /// generation re-interprets symbolically for every interaction of every row.
    pub is_real: T,
}

impl<T: Copy> InstrCols<T> {
    /// Program-table key: (pc, op, rd, rs1, rs2, imm bytes, imm as field, rd_nz).
    pub fn program_key<E: From<T>>(&self, op: E) -> [E; 11] {
        [
            self.pc.into(),
            op,
            self.rd.into(),
            self.rs1.into(),
            self.rs2.into(),
            self.imm[0].into(),
            self.imm[1].into(),
            self.imm[2].into(),
            self.imm[3].into(),
            self.imm_field.into(),
            self.rd_nz.into(),
        ]
    }
}

/// The timestamp bookkeeping of one memory access: the version it replaces.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessCols<T> {
    /// Timestamp of the version consumed.
    pub prev_ts: T,
    /// `ts - prev_ts - 1` as its low 16 bits and the rest (below 2^12 for valid
    /// timestamps; range-checked as eight times it, a 16-bit value).
    pub diff: [T; 2],
}

/// A register write: the access and the value it overwrites.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteCols<T> {
    /// Timestamp bookkeeping.
    pub access: AccessCols<T>,
    /// The value overwritten.
    pub prev: [T; 4],
}

/// Constraints every instruction row shares: the program lookup, the `exec` bus step from
/// `(pc, clk)` to `(next_pc, clk + 1)`, and `rd_nz` only on real rows. `is_real` must be
/// boolean (the sum of the chip's exclusive opcode flags).
pub(crate) fn eval_instruction<AB: InteractionBuilder>(
    builder: &mut AB,
    instr: &InstrCols<AB::Var>,
    op: AB::Expr,
    is_real: AB::Expr,
    next_pc: Option<AB::Expr>,
) {
    builder.assert_bool(instr.rd_nz);
    builder.assert_zero(instr.rd_nz.into() * (AB::Expr::ONE - is_real.clone()));
    PROGRAM.lookup_key(
        builder,
        instr.program_key::<AB::Expr>(op),
        Count::bounded(is_real.clone(), 1),
    );
    EXEC.receive(
        builder,
        [instr.pc.into(), instr.clk.into()],
        Count::bounded(is_real.clone(), 1),
    );
    if let Some(next_pc) = next_pc {
        EXEC.send(
            builder,
            [next_pc, instr.clk.into() + AB::Expr::ONE],
            Count::bounded(is_real, 1),
        );
    }
}

/// Writes `value` to register rd, unless rd is x0.
pub(crate) fn eval_rd_write<AB: InteractionBuilder>(
    builder: &mut AB,
    instr: &InstrCols<AB::Var>,
    value: &[AB::Expr; 4],
    cols: &WriteCols<AB::Var>,
) {
    eval_access(
        builder,
        instr.rd.into(),
        exprs::<AB, 4>(&cols.prev),
        value.clone(),
        timestamp::<AB>(instr.clk.into(), super::SLOT_RD),
        &cols.access,
        instr.rd_nz.into(),
    );
}

/// A register operand: its value and the bookkeeping of its read.
pub(crate) type RegisterRead<'a, AB> = (
    &'a [<AB as AirBuilder>::Expr; 4],
    &'a AccessCols<<AB as AirBuilder>::Var>,
);

/// The usual register instruction: reads rs1 into `reads[0].0` and, `rs2_count` times (0
/// or 1), rs2 into `reads[1].0`; writes `write.0` to rd; runs at `pc` and continues at
/// `pc + 4`.
pub(crate) fn eval_register_op<AB: InteractionBuilder>(
    builder: &mut AB,
    instr: &InstrCols<AB::Var>,
    op: AB::Expr,
    is_real: AB::Expr,
    reads: [RegisterRead<'_, AB>; 2],
    rs2_count: AB::Expr,
    write: (&[AB::Expr; 4], &WriteCols<AB::Var>),
) {
    let clk: AB::Expr = instr.clk.into();
    let [(rs1, rs1_cols), (rs2, rs2_cols)] = reads;
    super::eval_register_read(
        builder,
        instr.rs1.into(),
        rs1,
        clk.clone(),
        super::SLOT_RS1,
        rs1_cols,
        is_real.clone(),
    );
    super::eval_register_read(
        builder,
        instr.rs2.into(),
        rs2,
        clk,
        super::SLOT_RS2,
        rs2_cols,
        rs2_count,
    );
    eval_rd_write(builder, instr, write.0, write.1);
    let next_pc = instr.pc.into() + AB::Expr::from_u32(4);
    eval_instruction(builder, instr, op, is_real, Some(next_pc));
}

/// On rows where `is_imm` is 1, the second operand `c` is the instruction's immediate.
pub(crate) fn eval_immediate_operand<AB: AirBuilder>(
    builder: &mut AB,
    is_imm: AB::Expr,
    c: &[AB::Expr; 4],
    instr: &InstrCols<AB::Var>,
) {
    for (byte, &imm) in c.iter().zip(&instr.imm) {
        builder.assert_zero(is_imm.clone() * (byte.clone() - imm.into()));
    }
}

/// Asserts each flag is boolean and the row's `is_real` their (boolean) sum; returns
/// (`is_real`, Σ flag·op id).
pub(crate) fn eval_flags<AB: AirBuilder>(
    builder: &mut AB,
    instr: &InstrCols<AB::Var>,
    flags: &[(AB::Var, u32)],
) -> (AB::Expr, AB::Expr) {
    let mut sum = AB::Expr::ZERO;
    let mut op = AB::Expr::ZERO;
    for &(flag, id) in flags {
        builder.assert_bool(flag);
        sum += flag.into();
        op += flag.into() * AB::Expr::from_u32(id);
    }
    (eval_is_real(builder, instr, sum), op)
}

/// Ties the row's committed `is_real` to `activity` (a sum of the chip's exclusive
/// flags) and asserts it boolean; returns it as an expression of the one column.
pub(crate) fn eval_is_real<AB: AirBuilder>(
    builder: &mut AB,
    instr: &InstrCols<AB::Var>,
    activity: AB::Expr,
) -> AB::Expr {
    builder.assert_bool(instr.is_real);
    builder.assert_eq(instr.is_real, activity);
    instr.is_real.into()
}
