//! The `keccakf` precompile (`ecall` 0x101): the Keccak-f[1600] permutation of a 200-byte
//! state in guest memory, in place (`zkbox_executor::keccak`). Two chips share the work:
//!
//! - **keccak-call**, one row per call: an instruction row like any other (program lookup,
//!   `exec` step, a7 read as 0x101, a0 read as the state's pointer), whose 50 memory accesses
//!   each consume a state word's version holding the input bytes and leave one holding the
//!   output bytes (timestamp slot [`SLOT_MEM`], writable cells only). It sends
//!   (input limbs, output limbs) on the [`KECCAK`] bus, each limb two bytes of a lane.
//! - **keccak-f**, 24 rows per permutation: Plonky3's `KeccakAir` (bit-decomposed θ, ρ, π, χ,
//!   ι over 16-bit limbs, one round per row), unchanged, plus a receive of
//!   (preimage limbs, final-round output limbs) on the [`KECCAK`] bus on each row whose
//!   `export` flag is set. The AIR allows `export` only on a final-round row and keeps the
//!   preimage unchanged through a permutation's rows, so every pair it receives is an input
//!   and its permutation.
//!
//! **Soundness.** The bus is a multiset equality: each call's (input, output) pair must be
//! received by an exported permutation with exactly that pair, so the output every call
//! writes to memory is Keccak-f of the input it read. The input bytes come from memory, where
//! every version holds bytes; the output bytes are range-checked here (so the limbs are the
//! 16-bit limbs the AIR constrains, and each written version holds bytes again). The pointer
//! is a multiple of 4 below 0x7800_0000 whose 50 words lie in guest memory, as for
//! `field256` (docs/proof-system.md).

use std::borrow::Borrow;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField64};
use p3_keccak_air::{KeccakAir, KeccakCols, NUM_KECCAK_COLS, NUM_ROUNDS, U64_LIMBS};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use zkbox_executor::decode::Opcode;
use zkbox_executor::keccak::{self, STATE_BYTES, STATE_WORDS, State};
use zkbox_executor::syscall::KECCAKF;

use super::columns::{AccessCols, InstrCols, eval_instruction, impl_columns};
use super::program::op_id;
use super::ram::{PointerCols, eval_pointer, fill_pointer};
use super::{
    KECCAK, SLOT_MEM, SLOT_RS1, SLOT_RS2, eval_access_flagged, eval_register_read, exprs,
    range_bytes, timestamp,
};
use crate::witness::{Recorder, StepContext};

const A0: u8 = 10;
const A7: u8 = 17;
const BYTES: usize = STATE_BYTES as usize;
const WORDS: usize = STATE_WORDS as usize;
/// Lanes of the state.
const LANES: usize = 25;

/// Columns of one `keccakf` call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KeccakCallCols<T> {
    /// The instruction (an `ecall`).
    pub instr: InstrCols<T>,
    /// The a7 read.
    pub a7: AccessCols<T>,
    /// The state's pointer (register a0), to 50 words in guest memory.
    pub pointer: PointerCols<T>,
    /// The state's bytes before the call.
    pub input: [T; BYTES],
    /// The state's bytes after it.
    pub output: [T; BYTES],
    /// The accesses of the state's words (input version consumed, output version left).
    pub accesses: [AccessCols<T>; WORDS],
}
impl_columns!(KeccakCallCols);

/// The chip of `keccakf` calls.
#[derive(Debug, Clone, Default)]
pub struct KeccakCallChip;

/// The chip of Keccak-f permutations (Plonky3's `KeccakAir` with the bus receive).
#[derive(Debug, Clone, Default)]
pub struct KeccakPermChip;

/// The bus message of a call, from the state's input and output bytes: lane i's limb j is
/// bytes `8i + 2j` and `8i + 2j + 1`, the 16-bit limbs `KeccakAir` holds.
fn call_message<E: PrimeCharacteristicRing + Clone>(input: &[E], output: &[E]) -> Vec<E> {
    let limb = |bytes: &[E], i: usize, j: usize| {
        bytes[8 * i + 2 * j].clone() + bytes[8 * i + 2 * j + 1].clone() * E::from_u32(256)
    };
    let mut message = Vec::with_capacity(2 * LANES * U64_LIMBS);
    for bytes in [input, output] {
        for i in 0..LANES {
            for j in 0..U64_LIMBS {
                message.push(limb(bytes, i, j));
            }
        }
    }
    message
}

impl KeccakCallChip {
    /// Whether the `ecall` at this step is a `keccakf` call (a7 = 0x101).
    pub(crate) fn handles(rec: &Recorder) -> bool {
        rec.register(A7) == KECCAKF
    }

    /// The state the call at this step reads, from the replayed memory.
    pub(crate) fn input(rec: &Recorder) -> State {
        let index = rec.register(A0) >> 2;
        let words: [u32; WORDS] = core::array::from_fn(|k| rec.cell(index + k as u32));
        keccak::state_from_words(&words)
    }

    /// Fills the row of the call at `step` that permutes `input` and claims `output` (the
    /// permutation but for soundness tests).
    pub(crate) fn fill<F: Field>(
        cols: &mut KeccakCallCols<F>,
        step: &StepContext,
        rec: &mut Recorder,
        input: &State,
        output: &State,
    ) {
        rec.fill_instruction(&mut cols.instr, step);
        cols.a7 = rec.read_register(step, A7, KECCAKF, SLOT_RS1);
        let index = fill_pointer(&mut cols.pointer, step, rec, A0, SLOT_RS2, STATE_WORDS);
        let (before, after) = (
            keccak::state_to_words(input),
            keccak::state_to_words(output),
        );
        for k in 0..WORDS {
            let idx = index + k as u32;
            if !rec.writable(idx) {
                rec.fail(format!("cycle {}: keccakf state in code", step.clk));
            }
            if rec.cell(idx) != before[k] {
                rec.fail(format!(
                    "cycle {}: keccakf input differs from memory",
                    step.clk
                ));
            }
            cols.accesses[k] = rec.access_memory::<F>(step, idx, after[k], SLOT_MEM).access;
        }
        let bytes = |words: &[u32; WORDS]| -> [u8; BYTES] {
            core::array::from_fn(|b| words[b / 4].to_le_bytes()[b % 4])
        };
        let (input_bytes, output_bytes) = (bytes(&before), bytes(&after));
        cols.input = input_bytes.map(F::from_u8);
        cols.output = output_bytes.map(F::from_u8);
        for pair in output_bytes.chunks(2) {
            rec.range(pair[0], pair[1]);
        }
    }
}

impl<F: Field> BaseAir<F> for KeccakCallChip {
    fn width(&self) -> usize {
        KeccakCallCols::<u8>::WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for KeccakCallChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let local: &KeccakCallCols<AB::Var> = main.current_slice().borrow();
        let l = *local;
        let num = AB::Expr::from_u32;
        builder.assert_bool(l.instr.is_real);
        let is_real: AB::Expr = l.instr.is_real.into();
        let clk: AB::Expr = l.instr.clk.into();

        // a7 = 0x101; a0 is the pointer: word-aligned, its 50 words inside guest memory.
        let number = [
            is_real.clone(),
            is_real.clone(),
            AB::Expr::ZERO,
            AB::Expr::ZERO,
        ];
        eval_register_read(
            builder,
            num(u32::from(A7)),
            &number,
            clk.clone(),
            SLOT_RS1,
            &l.a7,
            is_real.clone(),
        );
        eval_pointer(
            builder,
            is_real.clone(),
            A0,
            clk.clone(),
            SLOT_RS2,
            STATE_WORDS,
            &l.pointer,
        );

        // Each word: the input version consumed, the output version left (writable cells).
        let word = |bytes: &[AB::Var; BYTES], k: usize| -> [AB::Expr; 4] {
            core::array::from_fn(|b| bytes[4 * k + b].into())
        };
        for (k, access) in l.accesses.iter().enumerate() {
            eval_access_flagged(
                builder,
                l.pointer.index.into() + num(k as u32),
                word(&l.input, k),
                word(&l.output, k),
                timestamp::<AB>(clk.clone(), SLOT_MEM),
                access,
                is_real.clone(),
                AB::Expr::ONE,
            );
        }
        for pair in l.output.chunks(2) {
            range_bytes(builder, pair[0].into(), pair[1].into(), is_real.clone());
        }

        let (input, output) = (exprs::<AB, BYTES>(&l.input), exprs::<AB, BYTES>(&l.output));
        KECCAK.send(
            builder,
            call_message(&input, &output),
            Count::bounded(is_real.clone(), 1),
        );

        let op = is_real.clone() * num(op_id(Opcode::Ecall));
        let next_pc = l.instr.pc.into() + num(4);
        eval_instruction(builder, &l.instr, op, is_real, Some(next_pc));
    }
}

impl KeccakPermChip {
    /// The trace of the permutations of `inputs`, in order, each exported on its last
    /// round's row. With no inputs it holds one unexported permutation of zero.
    pub fn trace<F: PrimeField64>(inputs: Vec<State>) -> RowMajorMatrix<F> {
        let calls = inputs.len();
        let inputs = if inputs.is_empty() {
            vec![[0u64; LANES]]
        } else {
            inputs
        };
        let mut trace = p3_keccak_air::generate_trace_rows::<F>(inputs, 0);
        let export = KECCAK_EXPORT_COLUMN;
        for k in 0..calls {
            let row = k * NUM_ROUNDS + NUM_ROUNDS - 1;
            trace.values[row * NUM_KECCAK_COLS + export] = F::ONE;
        }
        trace
    }
}

/// Index of `KeccakCols::export`.
const KECCAK_EXPORT_COLUMN: usize = NUM_ROUNDS;

impl<F> BaseAir<F> for KeccakPermChip {
    fn width(&self) -> usize {
        NUM_KECCAK_COLS
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for KeccakPermChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        KeccakAir {}.eval(builder);
        let main = builder.main();
        let local: &KeccakCols<AB::Var> = main.current_slice().borrow();
        let mut message = Vec::with_capacity(2 * LANES * U64_LIMBS);
        // Lane i = x + 5y; KeccakCols index their lanes [y][x].
        for i in 0..LANES {
            let (x, y) = (i % 5, i / 5);
            message.extend(local.preimage[y][x].iter().map(|&v| AB::Expr::from(v)));
        }
        for i in 0..LANES {
            let (x, y) = (i % 5, i / 5);
            message
                .extend((0..U64_LIMBS).map(|j| AB::Expr::from(local.a_prime_prime_prime(y, x, j))));
        }
        KECCAK.receive(builder, message, Count::bounded(local.export.into(), 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_column_is_keccak_cols_export() {
        let indices: Vec<usize> = (0..NUM_KECCAK_COLS).collect();
        let cols: &KeccakCols<usize> = indices.as_slice().borrow();
        assert_eq!(cols.export, KECCAK_EXPORT_COLUMN);
    }
}
