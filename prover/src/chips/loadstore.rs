//! The load/store chip: LB, LH, LW, LBU, LHU, SB, SH, SW.
//!
//! The byte address `rs1 + imm` is a carry chain; its lowest byte is `4·quarter + offset`
//! with a one-hot `offset` (words must be aligned, halves on even addresses) and the word
//! index must lie in the ABI's guest memory, `[0x400, 0x1E00_0000)` words (the `ram`
//! gadget, exact at both ends). The access goes through the memory bus at the instruction's memory slot:
//! loads leave the word unchanged and pick (and sign- or zero-extend) their bytes from it;
//! stores replace only the bytes they write.

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
use super::ram::{RamIndexCols, eval_ram_index, fill_ram_index};
use super::{
    SLOT_MEM, SLOT_RS1, SLOT_RS2, add_bytes, eval_access_flagged, eval_register_read, exprs,
    range_bytes, timestamp,
};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The opcodes of the load/store chip, in flag order.
pub const LOAD_STORE_OPS: [Opcode; 8] = [
    Opcode::Lw,
    Opcode::Sw,
    Opcode::Lb,
    Opcode::Lh,
    Opcode::Lbu,
    Opcode::Lhu,
    Opcode::Sb,
    Opcode::Sh,
];

/// Load/store chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStoreCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// One flag per opcode of [`LOAD_STORE_OPS`].
    pub flags: [T; 8],
    /// rs1's value.
    pub b: [T; 4],
    /// The byte address `rs1 + imm`.
    pub addr: [T; 4],
    /// Carries of the address sum.
    pub carry: [T; 4],
    /// `addr[0] / 4`.
    pub addr_quarter: T,
    /// One-hot `addr mod 4`.
    pub offset_bits: [T; 4],
    /// The word index lies in guest memory.
    pub ram: RamIndexCols<T>,
    /// The cell's writable flag: 0 for a code word, which only loads may touch.
    pub writable: T,
    /// The register value: loaded into rd, or stored from rs2.
    pub value: [T; 4],
    /// The memory word after the access.
    pub word: [T; 4],
    /// The byte at the offset (sub-word loads).
    pub selected: T,
    /// The byte after it (halfword loads).
    pub selected_high: T,
    /// LB/LH: the sign of the loaded value.
    pub sign: T,
    /// LB/LH: the loaded top byte's low seven bits.
    pub rest: T,
    /// The memory access and the word it replaces.
    pub mem: WriteCols<T>,
    /// The rs1 read.
    pub rs1: AccessCols<T>,
    /// The rs2 read (stores).
    pub rs2: AccessCols<T>,
    /// The rd write (loads).
    pub rd: WriteCols<T>,
}
impl_columns!(LoadStoreCols);

/// The load/store chip.
#[derive(Debug, Clone, Default)]
pub struct LoadStoreChip;

impl LoadStoreChip {
    /// Whether this chip executes `opcode`.
    pub fn handles(opcode: Opcode) -> bool {
        LOAD_STORE_OPS.contains(&opcode)
    }

    /// Fills one row for an executed instruction.
    pub(crate) fn fill<F: Field>(
        cols: &mut LoadStoreCols<F>,
        step: &StepContext,
        rec: &mut Recorder,
    ) {
        let op = step.instruction.opcode;
        rec.start_row(&mut cols.instr, &mut cols.flags, &LOAD_STORE_OPS, step);
        let b = step.rs1_value;
        let imm = step.instruction.imm as u32;
        let addr = b.wrapping_add(imm);
        cols.b = bytes_of(b);
        cols.addr = bytes_of(addr);
        cols.carry = carries(b, imm);
        let ab = addr.to_le_bytes();
        let offset = usize::from(ab[0] & 3);
        cols.addr_quarter = F::from_u8(ab[0] / 4);
        cols.offset_bits[offset] = F::ONE;
        rec.range(ab[0] / 4, ab[0] / 4 + 192);
        rec.range(ab[1], ab[2]);
        let idx = addr >> 2;
        fill_ram_index(&mut cols.ram, idx, rec);
        cols.rs1 = rec.read_register(step, step.instruction.rs1, b, SLOT_RS1);
        let is_store = matches!(op, Opcode::Sw | Opcode::Sb | Opcode::Sh);
        let value = if is_store {
            cols.rs2 = rec.read_register(step, step.instruction.rs2, step.rs2_value, SLOT_RS2);
            step.rs2_value
        } else {
            step.result
        };
        cols.value = bytes_of(value);
        let word = step.memory_word;
        cols.word = bytes_of(word);
        let wb = word.to_le_bytes();
        if op != Opcode::Lw && op != Opcode::Sw {
            cols.selected = F::from_u8(wb[offset]);
            cols.selected_high = F::from_u8(wb.get(offset + 1).copied().unwrap_or(0));
        }
        let top = match op {
            Opcode::Lb => Some(wb[offset]),
            Opcode::Lh => Some(wb[offset + 1]),
            _ => None,
        };
        let rest = top.map_or(0, |t| t & 0x7f);
        cols.sign = F::from_bool(top.is_some_and(|t| t >> 7 == 1));
        cols.rest = F::from_u8(rest);
        rec.range(ab[3], rest << 1);
        let writable = rec.writable(idx);
        if is_store && !writable {
            rec.fail(format!(
                "cycle {}: a store into code word {idx:#x}",
                step.clk
            ));
        }
        cols.writable = F::from_bool(writable);
        cols.mem = rec.access_memory(step, idx, word, SLOT_MEM);
        cols.rd = rec.write_rd(step, value);
    }
}

impl<F: Field> BaseAir<F> for LoadStoreChip {
    fn width(&self) -> usize {
        LoadStoreCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for LoadStoreChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &LoadStoreCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let flags: Vec<(AB::Var, u32)> = l
            .flags
            .iter()
            .zip(LOAD_STORE_OPS)
            .map(|(&v, o)| (v, op_id(o)))
            .collect();
        let (is_real, op) = eval_flags(builder, &local.instr, &flags);
        let [lw, sw, lb, lh, lbu, lhu, sb, sh] = l.flags.map(Into::<AB::Expr>::into);
        let (b, addr, value, word) = (
            exprs::<AB, 4>(&l.b),
            exprs::<AB, 4>(&l.addr),
            exprs::<AB, 4>(&l.value),
            exprs::<AB, 4>(&l.word),
        );
        let imm = exprs::<AB, 4>(&l.instr.imm);
        let num = AB::Expr::from_u32;
        let one = AB::Expr::ONE;

        // Address, alignment and range.
        add_bytes(builder, is_real.clone(), &b, &imm, &addr, &l.carry);
        let e = exprs::<AB, 4>(&l.offset_bits);
        let mut total = AB::Expr::ZERO;
        for &bit in &l.offset_bits {
            builder.assert_bool(bit);
            total += bit.into();
        }
        builder.assert_zero(is_real.clone() * (total - one.clone()));
        let byte_offset = e[1].clone() + num(2) * e[2].clone() + num(3) * e[3].clone();
        builder.assert_zero((lw.clone() + sw.clone()) * (one.clone() - e[0].clone()));
        builder
            .assert_zero((lh.clone() + lhu.clone() + sh.clone()) * (e[1].clone() + e[3].clone()));
        let quarter: AB::Expr = l.addr_quarter.into();
        builder.assert_zero(
            is_real.clone() * (addr[0].clone() - num(4) * quarter.clone() - byte_offset),
        );
        range_bytes(
            builder,
            quarter.clone(),
            quarter.clone() + num(192),
            is_real.clone(),
        );
        range_bytes(builder, addr[1].clone(), addr[2].clone(), is_real.clone());
        let idx = quarter
            + addr[1].clone() * num(1 << 6)
            + addr[2].clone() * num(1 << 14)
            + addr[3].clone() * num(1 << 22);
        eval_ram_index(builder, is_real.clone(), idx.clone(), &l.ram);

        // The bytes at the offset (of the word after the access).
        let selected: AB::Expr = l.selected.into();
        let selected_high: AB::Expr = l.selected_high.into();
        let mut pick = AB::Expr::ZERO;
        let mut pick_high = AB::Expr::ZERO;
        for k in 0..4 {
            pick += e[k].clone() * word[k].clone();
            if k < 3 {
                pick_high += e[k].clone() * word[k + 1].clone();
            }
        }
        let narrow_loads = lb.clone() + lh.clone() + lbu.clone() + lhu.clone();
        builder.assert_zero(narrow_loads.clone() * (selected.clone() - pick));
        builder.assert_zero(narrow_loads.clone() * (selected_high.clone() - pick_high));

        // Loads: memory unchanged, rd gets the (extended) bytes.
        let prev = exprs::<AB, 4>(&l.mem.prev);
        let loads = lw.clone() + narrow_loads.clone();
        for i in 0..4 {
            builder.assert_zero(loads.clone() * (prev[i].clone() - word[i].clone()));
            builder.assert_zero(lw.clone() * (value[i].clone() - word[i].clone()));
        }
        builder.assert_bool(l.sign);
        builder.assert_zero(l.sign.into() * (one.clone() - lb.clone() - lh.clone()));
        builder.assert_zero(
            lb.clone() * (selected.clone() - num(128) * l.sign.into() - l.rest.into()),
        );
        builder.assert_zero(
            lh.clone() * (selected_high.clone() - num(128) * l.sign.into() - l.rest.into()),
        );
        // addr[3] a byte, and rest < 128 in the same lookup: on LB/LH rows rest is the
        // selected byte (a byte of a memory word) less 128·sign, in [−128, 256), so twice it
        // is a byte exactly when rest < 128 (range_seven_bits); on the others rest is free.
        range_bytes(
            builder,
            addr[3].clone(),
            AB::Expr::TWO * l.rest.into(),
            is_real.clone(),
        );
        let fill = num(255) * l.sign.into();
        builder.assert_zero(narrow_loads * (value[0].clone() - selected));
        builder.assert_zero((lh.clone() + lhu.clone()) * (value[1].clone() - selected_high));
        builder.assert_zero(lb.clone() * (value[1].clone() - fill.clone()));
        builder.assert_zero(lbu.clone() * value[1].clone());
        for byte in &value[2..] {
            builder.assert_zero((lb.clone() + lh.clone()) * (byte.clone() - fill.clone()));
            builder.assert_zero((lbu.clone() + lhu.clone()) * byte.clone());
        }

        // Stores: SW replaces the word; SB and SH only the bytes they write.
        for k in 0..4 {
            builder.assert_zero(sw.clone() * (word[k].clone() - value[k].clone()));
            builder.assert_zero(
                sb.clone()
                    * (word[k].clone()
                        - prev[k].clone()
                        - e[k].clone() * (value[0].clone() - prev[k].clone())),
            );
            let high_part = if k == 0 {
                AB::Expr::ZERO
            } else {
                e[k - 1].clone() * (value[1].clone() - prev[k].clone())
            };
            builder.assert_zero(
                sh.clone()
                    * (word[k].clone()
                        - prev[k].clone()
                        - e[k].clone() * (value[0].clone() - prev[k].clone())
                        - high_part),
            );
        }
        let clk: AB::Expr = l.instr.clk.into();
        let stores = sw + sb + sh;
        // Code words are read-only: a store needs a writable cell.
        builder.assert_bool(l.writable);
        builder.assert_zero(stores.clone() * (AB::Expr::ONE - l.writable.into()));
        eval_access_flagged(
            builder,
            idx,
            prev,
            word,
            timestamp::<AB>(clk.clone(), SLOT_MEM),
            &l.mem.access,
            is_real.clone(),
            l.writable.into(),
        );
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
            &value,
            clk,
            SLOT_RS2,
            &l.rs2,
            stores,
        );
        eval_rd_write(builder, &l.instr, &value, &l.rd);
        let next_pc = l.instr.pc.into() + AB::Expr::from_u32(4);
        eval_instruction(builder, &l.instr, op, is_real, Some(next_pc));
    }
}
