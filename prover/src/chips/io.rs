//! Input and output: the read (63) and write (64) `ecall`s.
//!
//! [`IoEcallChip`] has one row per such `ecall`. It reads a7, a0 (descriptor), a1 (buffer)
//! and a2 (length), writes a0 (bytes moved) and opens a *transfer*: it sends
//! `(clk, buffer, buffer + count, base, kind)` on the `transfer` bus and receives
//! `(clk, buffer + count, …)` back. [`IoWordChip`] rows close the gap one memory word at a
//! time, each receiving `(clk, a, end, …)` and sending `(clk, a + n, end, …)` for the `n`
//! bytes of its word from address `a`, so the rows of one transfer cover exactly the
//! buffer, word by word, in order (each row checks that the rest `end - a - n` is a small
//! non-negative number and that a row which does not reach `end` runs to its word's end).
//!
//! - A read stores input bytes (private, so free) into the covered bytes and leaves the
//!   others unchanged; it may return fewer bytes than asked, never more.
//! - A write to the public output (descriptor 1) reads the bytes and sends each as
//!   `(position, byte)` on the `output` bus, where the output chip, built by the verifier from
//!   the claimed output, receives them. Positions continue from the *output cursor*, a
//!   memory cell every public write updates in timestamp order, so chunks cannot be
//!   reordered; the boundary reads its final value as the output's length.
//! - A write to the debug log (descriptor 2) only reads the bytes.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder, PermutationCheckBus};
use zkbox_executor::decode::Opcode;

use super::alu::carries;
use super::columns::{
    AccessCols, InstrCols, WriteCols, eval_instruction, eval_is_real, impl_columns,
};
use super::program::op_id;
use super::ram::{RamIndexCols, eval_ram_index, fill_ram_index};
use super::{
    OUTPUT, SLOT_A1, SLOT_A2, SLOT_CURSOR, SLOT_MEM, SLOT_RD, SLOT_RS1, SLOT_RS2, add_bytes,
    eval_access, eval_access_flagged, eval_register_read, exprs, range_below, range_bytes,
    timestamp, word_value,
};
use crate::witness::{Recorder, StepContext, bytes_of};

/// The `transfer` bus: (clk, current address, end address, output base, kind).
pub const TRANSFER: PermutationCheckBus<'static> = PermutationCheckBus::new("transfer");
/// The memory cell holding the public output's length so far.
pub const OUTPUT_CURSOR_CELL: u32 = 32;
/// The memory cell that is 1 once a read came up short (the private input ended).
pub const INPUT_ENDED_CELL: u32 = 33;
/// The ecall number of read.
pub const ECALL_READ: u32 = 63;
/// The ecall number of write.
pub const ECALL_WRITE: u32 = 64;
/// Transfer kinds (the last field of a `transfer` message).
const KIND_READ: u32 = 1;
const KIND_PUBLIC: u32 = 2;
const KIND_DEBUG: u32 = 3;

/// Columns of an input/output `ecall` row.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct IoEcallCols<T> {
    /// The instruction.
    pub instr: InstrCols<T>,
    /// A read of private input.
    pub read: T,
    /// A write to the public output.
    pub public: T,
    /// A write to the debug log.
    pub debug: T,
    /// a1: the buffer.
    pub buffer: [T; 4],
    /// a2: the length asked for.
    pub len: [T; 4],
    /// Bytes moved (returned in a0).
    pub count: [T; 4],
    /// `len - count` (reads).
    pub shortfall: [T; 4],
    /// Carries of `count + shortfall = len`.
    pub carry: [T; 4],
    /// The output cursor before (public writes).
    pub cursor: [T; 4],
    /// The output cursor after.
    pub cursor_next: [T; 4],
    /// Carries of `cursor + len = cursor_next`.
    pub cursor_carry: [T; 4],
    /// Output position of the buffer's first byte, minus the buffer address.
    pub base: T,
    /// The a7 read.
    pub a7: AccessCols<T>,
    /// The a0 read (the descriptor).
    pub a0: AccessCols<T>,
    /// The a1 read.
    pub a1: AccessCols<T>,
    /// The a2 read.
    pub a2: AccessCols<T>,
    /// The a0 write (the count).
    pub result: WriteCols<T>,
    /// The output cursor update.
    pub cursor_access: AccessCols<T>,
    /// 1 when this read delivers less than asked for (the input ends here).
    pub short: T,
    /// The input-ended flag before this read.
    pub input_ended: T,
    /// The input-ended flag after it.
    pub input_ended_next: T,
    /// The input-ended flag update (reads).
    pub input_access: AccessCols<T>,
}
impl_columns!(IoEcallCols);

/// The input/output `ecall` chip.
#[derive(Debug, Clone, Default)]
pub struct IoEcallChip;

const A0: u8 = 10;
const A1: u8 = 11;
const A2: u8 = 12;
const A7: u8 = 17;

impl IoEcallChip {
    /// Fills the row of a read or write `ecall` moving `count` bytes; returns the buffer and
    /// the (output cursor, buffer) pair whose difference is the transfer's output base.
    pub(crate) fn fill<F: Field>(
        cols: &mut IoEcallCols<F>,
        step: &StepContext,
        rec: &mut Recorder,
        count: u32,
    ) -> (u32, (u32, u32)) {
        rec.fill_instruction(&mut cols.instr, step);
        let (a7, fd, buffer, len) = (
            rec.register(A7),
            rec.register(A0),
            rec.register(A1),
            rec.register(A2),
        );
        let read = a7 == ECALL_READ;
        let public = !read && fd == 1;
        cols.read = F::from_bool(read);
        cols.public = F::from_bool(public);
        cols.debug = F::from_bool(!read && !public);
        cols.buffer = bytes_of(buffer);
        cols.len = bytes_of(len);
        cols.count = bytes_of(count);
        let shortfall = len - count;
        cols.shortfall = bytes_of(shortfall);
        cols.carry = carries(count, shortfall);
        for w in [count, shortfall] {
            let b = w.to_le_bytes();
            rec.range(b[0], b[1]);
            rec.range(b[2], b[3]);
        }
        cols.a7 = rec.read_register(step, A7, a7, SLOT_RS1);
        cols.a0 = rec.read_register(step, A0, fd, SLOT_RS2);
        cols.a1 = rec.read_register(step, A1, buffer, SLOT_A1);
        cols.a2 = rec.read_register(step, A2, len, SLOT_A2);
        let (access, prev) = rec.access_register(step, A0, count, SLOT_RD);
        cols.result = WriteCols {
            access,
            prev: bytes_of(prev),
        };
        if read {
            let ended = rec.cell(INPUT_ENDED_CELL);
            let short = u32::from(shortfall != 0);
            let next = ended | short;
            if ended == 1 && count != 0 {
                rec.fail(format!(
                    "cycle {}: a read delivers {count} bytes after the input ended",
                    step.clk
                ));
            }
            cols.short = F::from_u32(short);
            cols.input_ended = F::from_u32(ended);
            cols.input_ended_next = F::from_u32(next);
            let (access, _) = rec.access_cell(step, INPUT_ENDED_CELL, next, SLOT_CURSOR);
            cols.input_access = access;
        }
        let mut base = (0, 0);
        if public {
            let cursor = rec.cell(OUTPUT_CURSOR_CELL);
            let next = cursor + len;
            cols.cursor = bytes_of(cursor);
            cols.cursor_next = bytes_of(next);
            cols.cursor_carry = carries(cursor, len);
            let nb = next.to_le_bytes();
            rec.range(nb[0], nb[1]);
            rec.range(nb[2], nb[3]);
            let (access, _) = rec.access_cell(step, OUTPUT_CURSOR_CELL, next, SLOT_CURSOR);
            cols.cursor_access = access;
            base = (cursor, buffer);
            cols.base = F::from_u32(cursor) - F::from_u32(buffer);
        }
        (buffer, base)
    }
}

impl<F: Field> BaseAir<F> for IoEcallChip {
    fn width(&self) -> usize {
        IoEcallCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for IoEcallChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &IoEcallCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let num = AB::Expr::from_u32;
        for flag in [l.read, l.public, l.debug] {
            builder.assert_bool(flag);
        }
        let (read, public, debug): (AB::Expr, AB::Expr, AB::Expr) =
            (l.read.into(), l.public.into(), l.debug.into());
        let write = public.clone() + debug.clone();
        let is_real = eval_is_real(builder, &l.instr, read.clone() + write.clone());
        let clk: AB::Expr = l.instr.clk.into();
        let zero = || AB::Expr::ZERO;

        // a7 = 63 or 64; a0 = 0 (read), 1 (public) or 2 (debug).
        let number = [num(ECALL_READ) + write.clone(), zero(), zero(), zero()];
        eval_register_read(
            builder,
            num(u32::from(A7)),
            &number,
            clk.clone(),
            SLOT_RS1,
            &l.a7,
            is_real.clone(),
        );
        let fd = [
            public.clone() + num(2) * debug.clone(),
            zero(),
            zero(),
            zero(),
        ];
        eval_register_read(
            builder,
            num(u32::from(A0)),
            &fd,
            clk.clone(),
            SLOT_RS2,
            &l.a0,
            is_real.clone(),
        );
        let (buffer, len, count) = (
            exprs::<AB, 4>(&l.buffer),
            exprs::<AB, 4>(&l.len),
            exprs::<AB, 4>(&l.count),
        );
        eval_register_read(
            builder,
            num(u32::from(A1)),
            &buffer,
            clk.clone(),
            SLOT_A1,
            &l.a1,
            is_real.clone(),
        );
        eval_register_read(
            builder,
            num(u32::from(A2)),
            &len,
            clk.clone(),
            SLOT_A2,
            &l.a2,
            is_real.clone(),
        );

        // count ≤ len (reads may come up short); writes move everything.
        let shortfall = exprs::<AB, 4>(&l.shortfall);
        add_bytes(builder, is_real.clone(), &count, &shortfall, &len, &l.carry);
        builder.assert_zero(is_real.clone() * l.carry[3].into());
        for byte in &shortfall {
            builder.assert_zero(write.clone() * byte.clone());
        }
        for w in [&count, &shortfall] {
            range_bytes(builder, w[0].clone(), w[1].clone(), is_real.clone());
            range_bytes(builder, w[2].clone(), w[3].clone(), is_real.clone());
        }
        eval_access(
            builder,
            num(u32::from(A0)),
            exprs::<AB, 4>(&l.result.prev),
            count.clone(),
            timestamp::<AB>(clk.clone(), SLOT_RD),
            &l.result.access,
            is_real.clone(),
        );

        // The end of input: a short read sets the input-ended cell, and once it is set every
        // read delivers nothing (as the emulator's input stream does).
        let (short, ended, ended_next): (AB::Expr, AB::Expr, AB::Expr) = (
            l.short.into(),
            l.input_ended.into(),
            l.input_ended_next.into(),
        );
        builder.assert_bool(l.short);
        builder.assert_bool(l.input_ended);
        builder.assert_bool(l.input_ended_next);
        for byte in &shortfall {
            builder.assert_zero(read.clone() * (AB::Expr::ONE - short.clone()) * byte.clone());
        }
        for byte in &count {
            builder.assert_zero(read.clone() * ended.clone() * byte.clone());
        }
        builder.assert_zero(
            read.clone()
                * (ended_next.clone() - ended.clone() - short.clone() + ended.clone() * short),
        );
        eval_access(
            builder,
            num(INPUT_ENDED_CELL),
            [ended, zero(), zero(), zero()],
            [ended_next, zero(), zero(), zero()],
            timestamp::<AB>(clk.clone(), SLOT_CURSOR),
            &l.input_access,
            read.clone(),
        );

        // The output cursor advances by len on public writes.
        let (cursor, cursor_next) = (exprs::<AB, 4>(&l.cursor), exprs::<AB, 4>(&l.cursor_next));
        add_bytes(
            builder,
            public.clone(),
            &cursor,
            &len,
            &cursor_next,
            &l.cursor_carry,
        );
        builder.assert_zero(public.clone() * l.cursor_carry[3].into());
        range_bytes(
            builder,
            cursor_next[0].clone(),
            cursor_next[1].clone(),
            public.clone(),
        );
        range_bytes(
            builder,
            cursor_next[2].clone(),
            cursor_next[3].clone(),
            public.clone(),
        );
        eval_access(
            builder,
            num(OUTPUT_CURSOR_CELL),
            cursor.clone(),
            cursor_next,
            timestamp::<AB>(clk.clone(), SLOT_CURSOR),
            &l.cursor_access,
            public.clone(),
        );
        builder.assert_zero(public * (l.base.into() - word_value(&cursor) + word_value(&buffer)));

        // The transfer: open at the buffer, expect it closed at buffer + count.
        let start = word_value(&buffer);
        let end = start.clone() + word_value(&count);
        let kind =
            read * num(KIND_READ) + l.public.into() * num(KIND_PUBLIC) + debug * num(KIND_DEBUG);
        TRANSFER.send(
            builder,
            [clk.clone(), start, end.clone(), l.base.into(), kind.clone()],
            Count::bounded(is_real.clone(), 1),
        );
        TRANSFER.receive(
            builder,
            [clk, end.clone(), end, l.base.into(), kind],
            Count::bounded(is_real.clone(), 1),
        );
        let op = is_real.clone() * num(op_id(Opcode::Ecall));
        let next_pc = l.instr.pc.into() + num(4);
        eval_instruction(builder, &l.instr, op, is_real, Some(next_pc));
    }
}

/// Columns of one word of a transfer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct IoWordCols<T> {
    /// The `ecall`'s cycle.
    pub clk: T,
    /// Kind flags: read, public write, debug write.
    pub read: T,
    /// Public write.
    pub public: T,
    /// Debug write.
    pub debug: T,
    /// First byte address this row moves.
    pub addr: T,
    /// One past the transfer's last byte.
    pub end: T,
    /// Output position minus address (public writes).
    pub base: T,
    /// The word index.
    pub idx: T,
    /// One-hot `addr mod 4`.
    pub offset_bits: [T; 4],
    /// Which bytes of the word move.
    pub mask: [T; 4],
    /// Bytes of `end - addr - n`, the rest of the transfer.
    pub rest: [T; 4],
    /// The word index lies in guest memory.
    pub ram: RamIndexCols<T>,
    /// The word after the access.
    pub word: [T; 4],
    /// The memory access and the word it replaces.
    pub mem: WriteCols<T>,
    /// The cell's writable flag: input may only be read into writable (non-code) memory.
    pub writable: T,
}
impl_columns!(IoWordCols);

/// The chip of transfer words.
#[derive(Debug, Clone, Default)]
pub struct IoWordChip;

impl IoWordChip {
    /// Fills the row of one word of a transfer and counts its lookups; returns the address
    /// after the bytes it moves. `base` is (output cursor, buffer) of the transfer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill<F: Field>(
        cols: &mut IoWordCols<F>,
        step: &StepContext,
        rec: &mut Recorder,
        kind: u32,
        addr: u32,
        end: u32,
        base: (u32, u32),
        word: u32,
    ) -> u32 {
        cols.clk = F::from_u32(step.clk);
        cols.read = F::from_bool(kind == KIND_READ);
        cols.public = F::from_bool(kind == KIND_PUBLIC);
        cols.debug = F::from_bool(kind == KIND_DEBUG);
        cols.addr = F::from_u32(addr);
        cols.end = F::from_u32(end);
        cols.base = F::from_u32(base.0) - F::from_u32(base.1);
        let idx = addr >> 2;
        let offset = (addr & 3) as usize;
        cols.idx = F::from_u32(idx);
        cols.offset_bits[offset] = F::ONE;
        let n = (4 - offset as u32).min(end - addr);
        for k in offset..offset + n as usize {
            cols.mask[k] = F::ONE;
        }
        let rest = end - addr - n;
        cols.rest = bytes_of(rest);
        let rb = rest.to_le_bytes();
        rec.range(rb[0], rb[1]);
        rec.range(rb[2], rb[3]);
        rec.range(rb[3].wrapping_add(0x80), 0);
        fill_ram_index(&mut cols.ram, idx, rec);
        cols.word = bytes_of(word);
        if kind == KIND_READ {
            let wb = word.to_le_bytes();
            rec.range(wb[0], wb[1]);
            rec.range(wb[2], wb[3]);
        }
        let writable = rec.writable(idx);
        if kind == KIND_READ && !writable {
            rec.fail(format!(
                "cycle {}: input read into code word {idx:#x}",
                step.clk
            ));
        }
        cols.writable = F::from_bool(writable);
        cols.mem = rec.access_memory(step, idx, word, SLOT_MEM);
        addr + n
    }
}

impl<F: Field> BaseAir<F> for IoWordChip {
    fn width(&self) -> usize {
        IoWordCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for IoWordChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &IoWordCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let num = AB::Expr::from_u32;
        let one = AB::Expr::ONE;
        for flag in [l.read, l.public, l.debug] {
            builder.assert_bool(flag);
        }
        let (read, public, debug): (AB::Expr, AB::Expr, AB::Expr) =
            (l.read.into(), l.public.into(), l.debug.into());
        let is_real = read.clone() + public.clone() + debug.clone();
        builder.assert_bool(is_real.clone());

        // addr = 4·idx + offset, idx inside RAM.
        let e = exprs::<AB, 4>(&l.offset_bits);
        let mut total = AB::Expr::ZERO;
        for &bit in &l.offset_bits {
            builder.assert_bool(bit);
            total += bit.into();
        }
        builder.assert_zero(is_real.clone() * (total - one.clone()));
        let offset = e[1].clone() + num(2) * e[2].clone() + num(3) * e[3].clone();
        builder.assert_zero(
            is_real.clone() * (l.addr.into() - num(4) * l.idx.into() - offset.clone()),
        );
        eval_ram_index(builder, is_real.clone(), l.idx.into(), &l.ram);

        // The mask: contiguous bytes starting at the offset.
        let m = exprs::<AB, 4>(&l.mask);
        let mut started = AB::Expr::ZERO;
        let mut n = AB::Expr::ZERO;
        let mut at_offset = AB::Expr::ZERO;
        for k in 0..4 {
            builder.assert_bool(l.mask[k]);
            started += e[k].clone();
            builder.assert_zero(m[k].clone() * (one.clone() - started.clone()));
            if k > 0 {
                builder.assert_zero(
                    m[k].clone() * (one.clone() - m[k - 1].clone()) * (one.clone() - e[k].clone()),
                );
            }
            at_offset += e[k].clone() * m[k].clone();
            n += m[k].clone();
        }
        builder.assert_zero(is_real.clone() * (at_offset - one.clone()));

        // The rest of the transfer is a non-negative 31-bit number; a row that leaves some
        // must run to the end of its word.
        let rest = exprs::<AB, 4>(&l.rest);
        let next: AB::Expr = l.addr.into() + n;
        builder.assert_zero(is_real.clone() * (l.end.into() - next.clone() - word_value(&rest)));
        range_bytes(builder, rest[0].clone(), rest[1].clone(), is_real.clone());
        range_bytes(builder, rest[2].clone(), rest[3].clone(), is_real.clone());
        range_below(builder, rest[3].clone(), 0x80, is_real.clone());
        builder.assert_zero(word_value(&rest) * (one.clone() - m[3].clone()));

        // The bytes: reads replace the masked ones with (range-checked) input; writes keep
        // the word and publish the masked bytes of public writes.
        let (word, prev) = (exprs::<AB, 4>(&l.word), exprs::<AB, 4>(&l.mem.prev));
        for k in 0..4 {
            builder.assert_zero(
                read.clone() * (one.clone() - m[k].clone()) * (word[k].clone() - prev[k].clone()),
            );
            builder.assert_zero(
                (public.clone() + debug.clone()) * (word[k].clone() - prev[k].clone()),
            );
        }
        range_bytes(builder, word[0].clone(), word[1].clone(), read.clone());
        range_bytes(builder, word[2].clone(), word[3].clone(), read.clone());
        // Input goes only into writable memory; output may come from anywhere.
        builder.assert_bool(l.writable);
        builder.assert_zero(read.clone() * (one.clone() - l.writable.into()));
        eval_access_flagged(
            builder,
            l.idx.into(),
            prev,
            word.clone(),
            timestamp::<AB>(l.clk.into(), SLOT_MEM),
            &l.mem.access,
            is_real.clone(),
            l.writable.into(),
        );
        for k in 0..4 {
            let position = l.base.into() + num(4) * l.idx.into() + num(k as u32);
            OUTPUT.send(
                builder,
                [position, word[k].clone()],
                Count::bounded(public.clone() * m[k].clone(), 1),
            );
        }

        let kind = read * num(KIND_READ) + public * num(KIND_PUBLIC) + debug * num(KIND_DEBUG);
        TRANSFER.receive(
            builder,
            [
                l.clk.into(),
                l.addr.into(),
                l.end.into(),
                l.base.into(),
                kind.clone(),
            ],
            Count::bounded(is_real.clone(), 1),
        );
        TRANSFER.send(
            builder,
            [l.clk.into(), next, l.end.into(), l.base.into(), kind],
            Count::bounded(is_real, 1),
        );
    }
}
