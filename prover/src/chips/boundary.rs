//! The boundary chip: where the execution starts and how it ends, tied to the public values.
//!
//! Its one active row sends the start state `(pc_start, clk_start)` on the `exec` bus and
//! receives either the halt message `(exit code, clk_end)` (a run or last segment that
//! halts) or the state `(pc_end, clk_end)` of the next instruction (a segment that stops
//! because it is full), so every proof's chain of instruction rows begins at the public
//! start and ends, after exactly `clk_end - clk_start` instructions, where the public values
//! say: in one exit `ecall` with the public exit code, or at the public `pc_end`.

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;

use super::columns::AccessCols;
use super::columns::impl_columns;
use super::io::OUTPUT_CURSOR_CELL;
use super::{ENTRY, EXEC, HALT, eval_access, exprs, timestamp, word_value};

/// The public values of one proof: a whole run, or one segment of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicValues {
    /// The pc of the first instruction (the ELF entry for a whole run or a first segment).
    pub pc_start: u32,
    /// The cycle number of the first instruction: always 1 (each segment counts its own
    /// cycles, so timestamps never grow with the length of the run).
    pub clk_start: u32,
    /// The cycle after the last instruction; `clk_end - clk_start` instructions ran.
    pub clk_end: u32,
    /// The guest's exit code (0 for a segment that does not halt).
    pub exit_code: u32,
    /// The output cursor at the end: bytes of public output written so far in the run.
    pub output_len: u32,
    /// The pc of the next instruction, for a segment that does not halt (0 otherwise).
    pub pc_end: u32,
    /// Whether the proof ends in the exit `ecall`.
    pub halted: bool,
    /// The output cursor at the start (0 for a whole run or a first segment).
    pub output_start: u32,
    /// SHA-256 of the output this proof writes (absorbed into the transcript, so the
    /// challenges depend on the claimed output; the output chip checks the bytes themselves).
    pub output_digest: [u8; 32],
    /// SHA-256 of the memory boundary table (see [`super::MemoryBoundaryChip`]; all zeros
    /// for a whole run), absorbed for the same reason.
    pub memory_digest: [u8; 32],
}

impl PublicValues {
    /// Number of field elements.
    pub const LEN: usize = 11 + 32;
    /// Public values the boundary's columns copy (the rest is only absorbed).
    const COPIED: usize = 10;

    /// As field elements: pc_start, clk_start, clk_end, exit code bytes, output length,
    /// pc_end, halted, output_start, then the two digests in 16-bit halves.
    pub fn to_fields<F: Field>(&self) -> Vec<F> {
        let mut v = vec![
            F::from_u32(self.pc_start),
            F::from_u32(self.clk_start),
            F::from_u32(self.clk_end),
        ];
        v.extend(self.exit_code.to_le_bytes().map(F::from_u8));
        v.push(F::from_u32(self.output_len));
        v.push(F::from_u32(self.pc_end));
        v.push(F::from_bool(self.halted));
        v.push(F::from_u32(self.output_start));
        for digest in [&self.output_digest, &self.memory_digest] {
            v.extend(
                digest
                    .chunks(2)
                    .map(|h| F::from_u32(u32::from(h[0]) | (u32::from(h[1]) << 8))),
            );
        }
        v
    }
}

/// Boundary chip columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundaryCols<T> {
    /// 1 on the first row only.
    pub active: T,
    /// Copies of the public values.
    pub public: [T; PublicValues::COPIED],
    /// The output cursor's final value.
    pub cursor: [T; 4],
    /// The final read of the output cursor.
    pub cursor_access: AccessCols<T>,
    /// `active * halted`: the count of the halt message.
    pub halt_count: T,
    /// `active * (1 - halted)`: the count of the state handed to the next segment.
    pub continue_count: T,
}
impl_columns!(BoundaryCols);

/// Height of the boundary trace.
pub const BOUNDARY_HEIGHT: usize = 4;

/// The boundary chip.
#[derive(Debug, Clone, Default)]
pub struct BoundaryChip {
    /// Whether this proof starts the run: then its starting pc goes out on the entry bus,
    /// which only the program table's entry row receives.
    pub starts_run: bool,
}

impl BoundaryChip {
    /// Its trace for `public`, with the final read of the output cursor.
    pub fn trace<F: Field>(
        public: &PublicValues,
        cursor_access: AccessCols<F>,
    ) -> RowMajorMatrix<F> {
        use std::borrow::BorrowMut;
        let width = BoundaryCols::<u8>::WIDTH;
        let mut values = F::zero_vec(BOUNDARY_HEIGHT * width);
        let row: &mut BoundaryCols<F> = values[..width].borrow_mut();
        row.active = F::ONE;
        row.public
            .copy_from_slice(&public.to_fields::<F>()[..PublicValues::COPIED]);
        row.cursor = public.output_len.to_le_bytes().map(F::from_u8);
        row.cursor_access = cursor_access;
        row.halt_count = F::from_bool(public.halted);
        row.continue_count = F::from_bool(!public.halted);
        RowMajorMatrix::new(values, width)
    }
}

impl<F: Field> BaseAir<F> for BoundaryChip {
    fn width(&self) -> usize {
        BoundaryCols::<u8>::WIDTH
    }
    fn num_public_values(&self) -> usize {
        PublicValues::LEN
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![0]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for BoundaryChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &BoundaryCols<AB::Var> = main.current_slice().borrow();
        let next_active = main.next_slice()[0];
        let local = *local;
        let public: Vec<AB::Expr> = builder.public_values().iter().map(|&v| v.into()).collect();
        builder.when_first_row().assert_one(local.active);
        builder.when_transition().assert_zero(next_active);
        for (col, value) in local.public.iter().zip(public) {
            builder.assert_zero(local.active.into() * ((*col).into() - value));
        }
        let [
            pc,
            clk_start,
            clk_end,
            e0,
            e1,
            e2,
            e3,
            output_len,
            pc_end,
            halted,
        ] = local.public.map(Into::into);
        // The public `halted` is 0 or 1 (the verifier makes it from a boolean); the counts
        // split the active row between the two ways a proof can end.
        let active: AB::Expr = local.active.into();
        builder.assert_eq(local.halt_count, active.clone() * halted);
        builder.assert_eq(local.continue_count, active - local.halt_count.into());
        let cursor = exprs::<AB, 4>(&local.cursor);
        builder.assert_zero(local.active.into() * (word_value(&cursor) - output_len));
        eval_access(
            builder,
            AB::Expr::from_u32(OUTPUT_CURSOR_CELL),
            cursor.clone(),
            cursor,
            timestamp::<AB>(clk_end.clone(), 0),
            &local.cursor_access,
            local.active.into(),
        );
        if self.starts_run {
            ENTRY.send(
                builder,
                [pc.clone()],
                Count::bounded(local.active.into(), 1),
            );
        }
        EXEC.send(
            builder,
            [pc, clk_start],
            Count::bounded(local.active.into(), 1),
        );
        HALT.receive(
            builder,
            [e0, e1, e2, e3, clk_end.clone()],
            Count::bounded(local.halt_count.into(), 1),
        );
        EXEC.receive(
            builder,
            [pc_end, clk_end],
            Count::bounded(local.continue_count.into(), 1),
        );
    }
}
