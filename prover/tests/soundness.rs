//! Soundness: a cheating prover that breaks the witness the way an attacker would gets a
//! proof the verifier rejects (or no proof at all). Each case changes one thing in an
//! honest witness and proves the result with the real prover.

use std::borrow::{Borrow, BorrowMut};
use std::sync::Arc;

use p3_field::PrimeCharacteristicRing;
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::chips::*;
use zkbox_prover::config::Val;
use zkbox_prover::proof::prove_witness;
use zkbox_prover::{Witness, generate, memory_image, verify};

fn program() -> Program {
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000));
    code.push(addi(1, 0, 7));
    code.push(asm::r(0x33, 0, 0, 2, 1, 1)); // add x2, x1, x1
    code.push(asm::s(2, 5, 2, 0)); // sw x2, 0(x5)
    code.push(asm::i(0x03, 2, 3, 5, 0)); // lw x3, 0(x5)
    code.push(asm::b(1, 3, 2, 8)); // bne x3, x2, +8 (not taken)
    code.push(asm::jal(4, 8)); // jal x4, +8
    code.push(addi(1, 0, 99)); // skipped
    code.push(asm::r(0x33, 0, 0, 0, 1, 1)); // add x0, x1, x1
    code.push(addi(10, 3, 0)); // exit code 14
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

/// The trace of a whole run of `program` on `input`, of at most `max_cycles` cycles.
fn trace_of(program: &Program, input: Vec<u8>, max_cycles: u64) -> zkbox_executor::TraceSegment {
    let mut executor = Executor::new(program, input);
    let mut segment = None;
    executor
        .run_traced(max_cycles, 1 << 20, |s| segment = Some(s.clone()))
        .unwrap();
    segment.expect("the run ends")
}

/// The trace of a whole short run of `program` without input.
fn trace(program: &Program) -> zkbox_executor::TraceSegment {
    trace_of(program, vec![], 1000)
}

/// The honest witness of a whole run of `program` on `input`.
fn witness_of(program: &Program, input: Vec<u8>, max_cycles: u64) -> Witness {
    let table = Arc::new(ProgramTable::new(program));
    generate(
        &table,
        &memory_image(program),
        &trace_of(program, input, max_cycles),
    )
    .unwrap()
}

fn honest_witness(program: &Program) -> Witness {
    witness_of(program, vec![], 1000)
}

/// Proves `witness` of `program` and asserts that no proof of it verifies (the prover may
/// also refuse).
fn assert_no_valid_proof(program: &Program, witness: Witness, what: &str) {
    if let Ok(proof) = prove_witness(program, witness) {
        assert!(verify(&proof, Some(program)).is_err(), "{what} verified");
    }
}

/// Applies `tamper` to the witness, proves it, and asserts the verifier does not accept.
fn assert_rejected(name: &str, tamper: impl FnOnce(&mut Witness)) {
    let program = program();
    let mut witness = honest_witness(&program);
    tamper(&mut witness);
    assert_no_valid_proof(
        &program,
        witness,
        &format!("{name}: a proof of a broken witness"),
    );
}

fn row(witness: &mut Witness, chip: usize, index: usize) -> &mut [Val] {
    let trace = &mut witness.traces[chip];
    let width = trace.width;
    &mut trace.values[index * width..(index + 1) * width]
}

const ALU: usize = 5;
const BRANCH: usize = 6;
const JUMP: usize = 7;
const LOAD_STORE: usize = 8;
const HALT_CHIP: usize = 9;
const MEMORY_FINAL: usize = 4;

#[test]
fn the_honest_witness_verifies() {
    let program = program();
    let proof = prove_witness(&program, honest_witness(&program)).unwrap();
    assert_eq!(proof.exit_code(), 14);
    verify(&proof, Some(&program)).unwrap();
}

#[test]
fn a_wrong_alu_result_is_rejected() {
    assert_rejected("alu result", |w| {
        // Row 2 is `add x2, x1, x1` (rows 0 and 1 are lui's addi and addi x1).
        let cols: &mut AluCols<Val> = row(w, ALU, 2).borrow_mut();
        cols.a[0] += Val::ONE;
    });
}

#[test]
fn a_wrong_branch_target_is_rejected() {
    assert_rejected("branch target", |w| {
        let cols: &mut BranchCols<Val> = row(w, BRANCH, 0).borrow_mut();
        cols.next_pc += Val::from_u32(4);
    });
}

#[test]
fn a_taken_branch_that_should_not_be_is_rejected() {
    assert_rejected("branch decision", |w| {
        let cols: &mut BranchCols<Val> = row(w, BRANCH, 0).borrow_mut();
        cols.taken = Val::ONE;
        cols.next_pc += Val::from_u32(4);
    });
}

#[test]
fn a_wrong_link_address_is_rejected() {
    assert_rejected("jump link", |w| {
        let cols: &mut JumpCols<Val> = row(w, JUMP, 1).borrow_mut();
        cols.a[1] += Val::ONE;
    });
}

#[test]
fn a_wrong_loaded_value_is_rejected() {
    assert_rejected("loaded value", |w| {
        let cols: &mut LoadStoreCols<Val> = row(w, LOAD_STORE, 1).borrow_mut();
        cols.value[0] += Val::ONE;
        cols.mem.prev[0] += Val::ONE;
    });
}

#[test]
fn a_stale_memory_version_is_rejected() {
    assert_rejected("memory timestamp", |w| {
        let cols: &mut LoadStoreCols<Val> = row(w, LOAD_STORE, 1).borrow_mut();
        cols.mem.access.prev_ts = Val::ZERO;
    });
}

/// Re-splits four little-endian byte limbs of the lw's row (picked by `limbs`, whose top
/// two are `top` when honest) with the third 256 too high and the fourth one lower: the
/// value they make is unchanged, so only the limbs' range lookups stand in the way.
fn assert_resplit_limbs_rejected(
    name: &str,
    top: (u32, u32),
    limbs: impl FnOnce(&mut LoadStoreCols<Val>) -> &mut [Val; 4],
) {
    assert_rejected(name, |w| {
        let limbs = limbs(row(w, LOAD_STORE, 1).borrow_mut());
        assert_eq!(
            (limbs[2], limbs[3]),
            (Val::from_u32(top.0), Val::from_u32(top.1))
        );
        limbs[2] += Val::from_u32(256);
        limbs[3] -= Val::ONE;
    });
}

#[test]
fn a_timestamp_difference_with_out_of_range_limbs_is_rejected() {
    // A short gap: limbs (low, 0) become (low + 2^16, -1). The difference they make is
    // unchanged, but neither low nor 8·high = p - 8 is a 16-bit value (checked: with the
    // lookups removed from the chip and the recorder, it verifies).
    assert_rejected("timestamp limbs", |w| {
        let cols: &mut LoadStoreCols<Val> = row(w, LOAD_STORE, 1).borrow_mut();
        let diff = &mut cols.mem.access.diff;
        assert_eq!(diff[1], Val::ZERO);
        diff[0] += Val::from_u32(1 << 16);
        diff[1] -= Val::ONE;
    });
}

#[test]
fn a_ram_offset_with_out_of_range_limbs_is_rejected() {
    // The word offset from the start of RAM, 0x3fc00 (limbs 0, 0xfc, 3, 0), with 8·b3 =
    // p - 8 (checked: with the lookups removed from the gadget and the recorder, it
    // verifies).
    assert_resplit_limbs_rejected("ram offset limbs", (3, 0), |cols| &mut cols.ram.offset);
}

#[test]
fn a_forged_final_memory_value_is_rejected() {
    assert_rejected("final memory", |w| {
        let cols: &mut MemoryFinalCols<Val> = row(w, MEMORY_FINAL, 0).borrow_mut();
        cols.value[0] += Val::ONE;
    });
}

#[test]
fn a_skipped_instruction_is_rejected() {
    assert_rejected("skipped instruction", |w| {
        let width = w.traces[ALU].width;
        for v in &mut w.traces[ALU].values[2 * width..3 * width] {
            *v = Val::ZERO;
        }
    });
}

#[test]
fn a_repeated_instruction_is_rejected() {
    assert_rejected("repeated instruction", |w| {
        let width = w.traces[ALU].width;
        let copy: Vec<Val> = w.traces[ALU].values[width..2 * width].to_vec();
        let last = (w.traces[ALU].values.len() / width) - 1;
        w.traces[ALU].values[last * width..(last + 1) * width].copy_from_slice(&copy);
    });
}

#[test]
fn a_write_to_x0_is_rejected() {
    assert_rejected("x0 write", |w| {
        // The `add x0, x1, x1` row: pretend it writes rd.
        let trace = &w.traces[ALU];
        let width = trace.width;
        let index = (0..trace.values.len() / width)
            .find(|&r| {
                let cols: &AluCols<Val> =
                    std::borrow::Borrow::borrow(&trace.values[r * width..(r + 1) * width]);
                cols.instr.rd == Val::ZERO && cols.flags[0] == Val::ONE
            })
            .expect("the add x0 row");
        let cols: &mut AluCols<Val> = row(w, ALU, index).borrow_mut();
        cols.instr.rd_nz = Val::ONE;
    });
}

#[test]
fn a_forged_exit_code_is_rejected() {
    assert_rejected("exit code", |w| {
        let cols: &mut HaltCols<Val> = row(w, HALT_CHIP, 0).borrow_mut();
        cols.exit_code[0] += Val::ONE;
        w.public.exit_code += 1;
    });
}

/// Wrong results, one per arithmetic family: each witness is built by the real generator
/// with one instruction's rd value replaced (`generate_with_results`), so every bus still
/// balances — checked first — and only that chip's own constraints stand between the lie
/// and a valid proof.
mod wrong_results {
    use super::*;
    use zkbox_executor::TraceSegment;
    use zkbox_prover::generate_with_results;
    use zkbox_prover::proof::check_witness_buses;

    const OP: u32 = 0x33;
    const MIN: u32 = 0x8000_0000;

    /// `x1 = b; x2 = c; <op> x3, x1, x2; exit 0`, its trace, and the op's cycle.
    fn one_op(f3: u32, f7: u32, b: u32, c: u32) -> (Program, TraceSegment, u64) {
        let mut code = Vec::new();
        code.extend(li(1, b));
        code.extend(li(2, c));
        let op_cycle = code.len() as u64;
        code.push(asm::r(OP, f3, f7, 3, 1, 2));
        code.push(addi(10, 0, 0));
        code.extend(asm::exit());
        let program = Program::from_words(0x1000, &code).unwrap();
        let segment = trace(&program);
        (program, segment, op_cycle)
    }

    /// The witness of [`one_op`]'s run with the op's result replaced by `claimed`; every
    /// bus of it must balance.
    fn witness_claiming(
        program: &Program,
        segment: &TraceSegment,
        op_cycle: u64,
        claimed: u32,
    ) -> Witness {
        let table = Arc::new(ProgramTable::new(program));
        let witness = generate_with_results(
            &table,
            &memory_image(program),
            segment,
            |cycle, _, result| if cycle == op_cycle { claimed } else { result },
        )
        .unwrap_or_else(|e| panic!("no witness: {e}"));
        check_witness_buses(program, &witness);
        witness
    }

    /// [`one_op`] with the op's result claimed to be `wrong`: no proof verifies.
    fn assert_wrong_result_rejected(name: &str, f3: u32, f7: u32, b: u32, c: u32, wrong: u32) {
        let (program, segment, op_cycle) = one_op(f3, f7, b, c);
        let honest = segment.steps[op_cycle as usize].rd;
        assert_ne!(
            honest, wrong,
            "{name}: the claimed result is the honest one"
        );
        let witness = witness_claiming(&program, &segment, op_cycle, wrong);
        assert_no_valid_proof(
            &program,
            witness,
            &format!("{name}: a proof that {b:#x} op {c:#x} = {wrong:#x}"),
        );
    }

    #[test]
    fn the_generator_alone_is_not_what_rejects() {
        // The same construction with the honest result proves and verifies.
        let (program, segment, op_cycle) = one_op(4, 1, (-7i32) as u32, 2);
        let honest = segment.steps[op_cycle as usize].rd;
        assert_eq!(honest, (-3i32) as u32);
        let witness = witness_claiming(&program, &segment, op_cycle, honest);
        let proof = prove_witness(&program, witness).unwrap();
        verify(&proof, Some(&program)).unwrap();
    }

    #[test]
    fn compare() {
        assert_wrong_result_rejected("slt", 2, 0, u32::MAX, 1, 0);
        assert_wrong_result_rejected("sltu", 3, 0, u32::MAX, 1, 1);
    }

    #[test]
    fn shift() {
        assert_wrong_result_rejected("sra as srl", 5, 0x20, (-16i32) as u32, 2, 0x3fff_fffc);
        assert_wrong_result_rejected("sll without the mask", 1, 0, 1, 33, 0);
    }

    #[test]
    fn multiply() {
        assert_wrong_result_rejected("mul", 0, 1, 3, 5, 16);
        assert_wrong_result_rejected("mulh as mulhu", 1, 1, (-3i32) as u32, 5, 4);
    }

    #[test]
    fn a_sign_bit_hidden_in_an_out_of_range_rest_is_rejected() {
        // slt -1, 1 claimed 0: -1's top byte 0xff written as sign 0 and rest 255 makes the
        // signed comparison the unsigned one, and every other constraint of the row holds;
        // only the rest's range lookup (2·rest a byte) stands in the way (checked: with it
        // removed from the gadget and the recorder, this witness verifies).
        let (program, segment, op_cycle) = one_op(2, 0, u32::MAX, 1);
        let mut witness = witness_claiming(&program, &segment, op_cycle, 0);
        let compare = CHIP_NAMES.iter().position(|&n| n == "compare").unwrap();
        let cols: &mut CompareCols<Val> = row(&mut witness, compare, 0).borrow_mut();
        assert_eq!(cols.cmp.sign_b, Val::ONE);
        cols.cmp.sign_b = Val::ZERO;
        cols.cmp.rest_b = Val::from_u32(255);
        cols.cmp.same_sign = Val::ONE;
        cols.cmp.lt = Val::ZERO;
        cols.result = Val::ZERO;
        assert_no_valid_proof(&program, witness, "a comparison with its sign bit hidden");
    }

    #[test]
    fn a_loaded_sign_bit_hidden_in_an_out_of_range_rest_is_rejected() {
        // lb of the byte 0xff claimed as 0xff instead of -1: sign 0 and rest 255 satisfy the
        // byte's split and zero the sign fill; only the rest's range lookup (shared with
        // addr[3]) stands in the way (checked: with 2·rest dropped from that lookup in the
        // chip and the recorder, this witness verifies).
        let mut code = Vec::new();
        code.extend(li(1, 0x0010_0000));
        code.push(addi(2, 0, 0xff));
        code.push(asm::s(0, 1, 2, 0)); // sb x2, 0(x1)
        let load_cycle = code.len() as u64;
        code.push(asm::i(0x03, 0, 3, 1, 0)); // lb x3, 0(x1)
        code.push(addi(10, 0, 0));
        code.extend(asm::exit());
        let program = Program::from_words(0x1000, &code).unwrap();
        let segment = trace(&program);
        assert_eq!(segment.steps[load_cycle as usize].rd, u32::MAX);
        let mut witness = witness_claiming(&program, &segment, load_cycle, 0xff);
        let cols: &mut LoadStoreCols<Val> = row(&mut witness, LOAD_STORE, 1).borrow_mut();
        assert_eq!((cols.sign, cols.rest), (Val::ONE, Val::from_u32(0x7f)));
        cols.sign = Val::ZERO;
        cols.rest = Val::from_u32(255);
        assert_no_valid_proof(&program, witness, "a load with its sign bit hidden");
    }

    #[test]
    fn a_multiply_carry_with_out_of_range_limbs_is_rejected() {
        // MUL 3 by 5: every carry is 0. The first carry re-split as lo = 256, hi = -1 is still
        // 0, so the column identity holds and only the carry's range lookup stands in the way
        // (checked: with it removed from the chip and the recorder, this witness verifies).
        let (program, segment, op_cycle) = one_op(0, 1, 3, 5);
        let honest = segment.steps[op_cycle as usize].rd;
        let mut witness = witness_claiming(&program, &segment, op_cycle, honest);
        let mul = CHIP_NAMES.iter().position(|&n| n == "mul").unwrap();
        let cols: &mut MulCols<Val> = row(&mut witness, mul, 0).borrow_mut();
        assert_eq!((cols.carry_lo[0], cols.carry_hi[0]), (Val::ZERO, Val::ZERO));
        cols.carry_lo[0] += Val::from_u32(256);
        cols.carry_hi[0] -= Val::ONE;
        assert_no_valid_proof(&program, witness, "a re-split multiply carry");
    }

    #[test]
    fn divide() {
        let minus = |x: i32| x as u32;
        assert_wrong_result_rejected("div rounding down", 4, 1, minus(-7), 2, minus(-4));
        assert_wrong_result_rejected("rem of rounding down", 6, 1, minus(-7), 2, 1);
        assert_wrong_result_rejected("div by zero", 4, 1, 7, 0, 0);
        assert_wrong_result_rejected("rem by zero", 6, 1, 7, 0, 0);
        assert_wrong_result_rejected("div overflow", 4, 1, MIN, u32::MAX, MIN - 1);
        assert_wrong_result_rejected("divu one short", 5, 1, 100, 7, 13);
        assert_wrong_result_rejected("remu too large", 7, 1, 100, 7, 9);
        assert_wrong_result_rejected("divu as div", 5, 1, minus(-8), 2, minus(-4));
    }
}

/// Code is read-only. The memory image opens every code word with `writable = 0`, every
/// access passes the flag on, and a store needs 1. A load of a code word proves (reading
/// code is allowed); the same load claiming the word is writable — the only way a store
/// into code could follow — unbalances the memory bus and is rejected.
#[test]
fn a_code_word_claimed_writable_is_rejected() {
    let mut code = Vec::new();
    code.extend(li(5, 0x1000));
    code.push(asm::i(0x03, 2, 10, 5, 0)); // lw a0, 0(t0): the first instruction's word
    code.push(asm::i(0x13, 7, 10, 10, 0x7f)); // andi a0, a0, 0x7f
    code.extend(asm::exit());
    let program = Program::from_words(0x1000, &code).unwrap();
    let table = Arc::new(ProgramTable::new(&program));
    let honest = generate(&table, &memory_image(&program), &trace(&program)).unwrap();
    let proof = prove_witness(&program, honest.clone()).unwrap();
    verify(&proof, Some(&program)).unwrap();

    let mut forged = honest;
    let cols: &mut LoadStoreCols<Val> = row(&mut forged, LOAD_STORE, 0).borrow_mut();
    assert_eq!(cols.writable, Val::ZERO, "the load reads a code word");
    cols.writable = Val::ONE;
    assert_no_valid_proof(&program, forged, "a code word passed as writable");
}

/// The end of input is tracked: a read that comes up short must set the input-ended cell
/// (after which every read delivers nothing). The witness below un-sets it along the whole
/// chain of that cell, so every bus still balances and only the short read's own constraint
/// is broken.
#[test]
fn a_short_read_that_does_not_end_the_input_is_rejected() {
    const IO_ECALL: usize = 13;
    let mut code = Vec::new();
    for len in [8, 0, 8] {
        code.extend(li(17, 63));
        code.push(addi(10, 0, 0));
        code.extend(li(11, 0x0010_0000));
        code.extend(li(12, len));
        code.push(asm::ECALL);
    }
    code.push(addi(10, 0, 0));
    code.extend(asm::exit());
    let program = Program::from_words(0x1000, &code).unwrap();
    let mut witness = witness_of(&program, vec![1, 2, 3, 4, 5], 1000);
    {
        let first: &mut IoEcallCols<Val> = row(&mut witness, IO_ECALL, 0).borrow_mut();
        assert_eq!((first.short, first.input_ended_next), (Val::ONE, Val::ONE));
        first.short = Val::ZERO;
        first.input_ended_next = Val::ZERO;
    }
    {
        let second: &mut IoEcallCols<Val> = row(&mut witness, IO_ECALL, 1).borrow_mut();
        second.input_ended = Val::ZERO;
        second.input_ended_next = Val::ZERO;
    }
    {
        let third: &mut IoEcallCols<Val> = row(&mut witness, IO_ECALL, 2).borrow_mut();
        third.input_ended = Val::ZERO;
    }
    zkbox_prover::proof::check_witness_buses(&program, &witness);
    assert_no_valid_proof(&program, witness, "a short read left the input open");
}

const IO_ECALL: usize = 13;
const IO_WORD: usize = 14;

/// Reads up to 8 bytes of input into a buffer, then writes those 8 buffer bytes (from an
/// unaligned address) to the public output, and exits 0.
fn io_program() -> Program {
    let mut code = Vec::new();
    code.extend(li(17, 63)); // read(0, 0x100001, 8)
    code.push(addi(10, 0, 0));
    code.extend(li(11, 0x0010_0001));
    code.extend(li(12, 8));
    code.push(asm::ECALL);
    code.extend(li(17, 64)); // write(1, 0x100001, 8)
    code.push(addi(10, 0, 1));
    code.extend(li(11, 0x0010_0001));
    code.extend(li(12, 8));
    code.push(asm::ECALL);
    code.push(addi(10, 0, 0));
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

/// The honest witness of [`io_program`] on five input bytes (a short read).
fn io_witness(program: &Program) -> Witness {
    witness_of(program, vec![11, 22, 33, 44, 55], 1000)
}

/// Breaks [`io_program`]'s honest witness with `tamper` and asserts no proof of it verifies.
fn assert_io_rejected(name: &str, tamper: impl FnOnce(&mut Witness)) {
    let program = io_program();
    let mut witness = io_witness(&program);
    tamper(&mut witness);
    assert_no_valid_proof(
        &program,
        witness,
        &format!("{name}: a proof of a broken witness"),
    );
}

#[test]
fn the_honest_io_witness_verifies_and_outputs_what_was_read() {
    let program = io_program();
    let proof = prove_witness(&program, io_witness(&program)).unwrap();
    verify(&proof, Some(&program)).unwrap();
    assert_eq!(proof.output(), vec![11, 22, 33, 44, 55, 0, 0, 0]);
}

#[test]
fn a_read_count_that_claims_the_whole_buffer_is_rejected() {
    assert_io_rejected("a read claiming 8 bytes when 5 came", |w| {
        let cols: &mut IoEcallCols<Val> = row(w, IO_ECALL, 0).borrow_mut();
        assert_eq!((cols.read, cols.count[0]), (Val::ONE, Val::from_u32(5)));
        cols.count[0] = Val::from_u32(8);
        cols.shortfall[0] = Val::ZERO;
        cols.short = Val::ZERO;
    });
}

#[test]
fn a_forged_output_cursor_is_rejected() {
    assert_io_rejected("a public write moving the cursor by 9", |w| {
        let cols: &mut IoEcallCols<Val> = row(w, IO_ECALL, 1).borrow_mut();
        assert_eq!(cols.public, Val::ONE);
        cols.cursor_next[0] += Val::ONE;
    });
}

#[test]
fn a_public_write_that_skips_a_byte_is_rejected() {
    assert_io_rejected("a public write word with a byte masked out", |w| {
        let height = w.traces[IO_WORD].values.len() / w.traces[IO_WORD].width;
        let index = (0..height)
            .find(|&i| {
                let cols: &IoWordCols<Val> = (*row(w, IO_WORD, i)).borrow();
                cols.public == Val::ONE && cols.mask[1] == Val::ONE
            })
            .expect("a public write word moving byte 1");
        let cols: &mut IoWordCols<Val> = row(w, IO_WORD, index).borrow_mut();
        cols.mask[1] = Val::ZERO;
    });
}

#[test]
fn a_transfer_word_with_a_forged_remainder_is_rejected() {
    assert_io_rejected("a read word claiming the transfer ends later", |w| {
        let cols: &mut IoWordCols<Val> = row(w, IO_WORD, 0).borrow_mut();
        assert_eq!(cols.read, Val::ONE);
        cols.rest[0] += Val::ONE;
    });
}

#[test]
fn a_read_byte_written_outside_the_buffer_is_rejected() {
    assert_io_rejected("a read word moving a byte before the buffer", |w| {
        let cols: &mut IoWordCols<Val> = row(w, IO_WORD, 0).borrow_mut();
        assert_eq!(
            (cols.read, cols.mask[0]),
            (Val::ONE, Val::ZERO),
            "unaligned start"
        );
        cols.mask[0] = Val::ONE;
    });
}

/// A program whose exit code depends on where it starts: from its entry it sets a0 = 1
/// (an authorisation, say) before the shared exit; from the second instruction it skips that.
fn guarded_program() -> Program {
    let mut code = Vec::new();
    code.push(addi(10, 0, 1)); // a0 = 1: the step a cheater wants to skip
    code.push(addi(11, 0, 0));
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

/// The same code entered at its second instruction.
fn entered_late(program: &Program) -> Program {
    let mut late = program.clone();
    late.entry = program.entry + 4;
    late
}

fn whole_run(program: &Program) -> Witness {
    let table = Arc::new(ProgramTable::new(program));
    generate(&table, &memory_image(program), &trace(program)).unwrap()
}

/// The entry point is part of the verifying key: the same code with another entry commits
/// to another program.
#[test]
fn another_entry_point_is_another_verifying_key() {
    let program = guarded_program();
    let late = entered_late(&program);
    let honest = prove_witness(&program, whole_run(&program)).unwrap();
    let other = prove_witness(&late, whole_run(&late)).unwrap();
    verify(&honest, None).unwrap();
    verify(&other, None).unwrap();
    assert_eq!((honest.exit_code(), other.exit_code()), (1, 0));
    assert_ne!(
        honest.program_commitment_hex(),
        other.program_commitment_hex(),
        "entering the code elsewhere must change the verifying key"
    );
}

/// A run that starts after the entry, proven against the program's own tables (so under its
/// verifying key), does not verify even without the ELF: the starting pc must be the one the
/// committed program table flags as the entry.
#[test]
fn a_run_started_after_the_entry_is_rejected_under_the_programs_key() {
    let program = guarded_program();
    let late_run = whole_run(&entered_late(&program));
    assert_eq!(late_run.public.pc_start, program.entry + 4);
    if let Ok(proof) = prove_witness(&program, late_run) {
        assert!(
            verify(&proof, None).is_err(),
            "a run that skipped the entry verified under the program's key"
        );
    }
}

/// A loop of 900 rounds of six ALU instructions and a branch: 5,403 ALU rows, proven as
/// two pieces (4,096 + 2,048 rows) instead of one 8,192-row trace.
fn long_alu_program() -> Program {
    Program::from_words(0x1000, &asm::alu_loop(900)).unwrap()
}

fn long_alu_witness(program: &Program) -> Witness {
    witness_of(program, vec![], 100_000)
}

#[test]
fn rows_of_a_trace_cut_into_pieces_are_checked_in_every_piece() {
    let program = long_alu_program();
    let honest = prove_witness(&program, long_alu_witness(&program)).unwrap();
    let alu_pieces = honest
        .log_trace_heights()
        .iter()
        .filter(|(name, _)| *name == "alu")
        .count();
    assert_eq!(alu_pieces, 2, "the ALU trace is cut");
    verify(&honest, Some(&program)).unwrap();

    // A wrong result in the second piece (rows 4,096..6,144) and in the first.
    for index in [5_000, 4_096, 4_095, 17] {
        let mut witness = long_alu_witness(&program);
        let cols: &mut AluCols<Val> = row(&mut witness, ALU, index).borrow_mut();
        cols.a[1] += Val::ONE;
        assert_no_valid_proof(&program, witness, &format!("alu row {index} changed"));
    }
    // A skipped instruction in the second piece.
    let mut witness = long_alu_witness(&program);
    row(&mut witness, ALU, 5_001).fill(Val::ZERO);
    assert_no_valid_proof(
        &program,
        witness,
        "a skipped instruction in the second piece",
    );
    // An instruction repeated in the padding past the pieces' rows: it must not be dropped
    // from the proof unseen.
    let mut witness = long_alu_witness(&program);
    let copy = row(&mut witness, ALU, 5_002).to_vec();
    row(&mut witness, ALU, 7_000).copy_from_slice(&copy);
    assert_no_valid_proof(&program, witness, "an instruction repeated in the padding");
}

#[test]
fn a_byte_table_that_is_not_the_fixed_table_is_rejected() {
    const BYTES_CHIP: usize = 1;
    // A row no instruction looks up (every count zero), so the bus cannot notice: only the
    // table's own tie to the verifier-built periodic columns can.
    for value_column in 4..9 {
        assert_rejected("byte table value", |w| {
            let unused = (0..1 << 16)
                .find(|&r| row(w, BYTES_CHIP, r)[..4].iter().all(|v| *v == Val::ZERO))
                .expect("the short program leaves rows unused");
            row(w, BYTES_CHIP, unused)[value_column] += Val::ONE;
        });
    }
}

/// `is_real` is committed (so LogUp reads one column) and tied to the sum of the opcode
/// flags. The buses alone already reject these two edits (with the tie removed this test
/// still passes: the row's exec and program tokens go missing or appear from nowhere); the
/// tie is what stops a row with no flag set from claiming a program-table padding row
/// (op 0) as its instruction, which no honest trace can reach to test here.
#[test]
fn an_is_real_column_that_is_not_the_flags_sum_is_rejected() {
    // A real row claimed padding: its lookups (all counted by is_real) would vanish.
    assert_rejected("is_real cleared on a real row", |w| {
        let cols: &mut AluCols<Val> = row(w, ALU, 2).borrow_mut();
        cols.instr.is_real = Val::ZERO;
    });
    // A padding row claimed real, with no opcode flag set.
    assert_rejected("is_real set on padding", |w| {
        let last = w.traces[ALU].values.len() / w.traces[ALU].width - 1;
        let cols: &mut AluCols<Val> = row(w, ALU, last).borrow_mut();
        cols.instr.is_real = Val::ONE;
    });
}
