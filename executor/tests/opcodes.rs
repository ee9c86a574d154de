//! Every RV32IM instruction against hand-computed results, with the edge cases the
//! specification calls out, and every execution error with the pc it names.

use zkbox_executor::asm::{self, EBREAK, ECALL, addi, auipc, jal, jalr, li, lui};
use zkbox_executor::{ExecErrorKind, Executor, Program};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;

// Register numbers used below.
const T0: u32 = 5;
const T1: u32 = 6;
const T2: u32 = 7;
const A0: u32 = 10;
const A1: u32 = 11;
const A2: u32 = 12;
const A7: u32 = 17;
const S2: u32 = 18;

/// Runs `body` followed by exit(0) and returns the registers.
fn run(body: &[u32]) -> [u32; 32] {
    let mut words = body.to_vec();
    words.extend(li(A0, 0));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, Vec::new());
    let code = exec.run(10_000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code, 0);
    *exec.registers()
}

/// `rd = a OP b` for an R-type instruction with the given funct3/funct7.
fn op(funct3: u32, funct7: u32, a: u32, b: u32) -> u32 {
    let mut body = li(T0, a).to_vec();
    body.extend(li(T1, b));
    body.push(asm::r(0x33, funct3, funct7, T2, T0, T1));
    run(&body)[T2 as usize]
}

/// `rd = a OP imm` for an I-type ALU instruction.
fn op_imm(funct3: u32, a: u32, imm: i32) -> u32 {
    let mut body = li(T0, a).to_vec();
    body.push(asm::i(0x13, funct3, T2, T0, imm));
    run(&body)[T2 as usize]
}

fn shift_imm(funct3: u32, funct7: u32, a: u32, shamt: u32) -> u32 {
    let mut body = li(T0, a).to_vec();
    body.push((funct7 << 25) | (shamt << 20) | (T0 << 15) | (funct3 << 12) | (T2 << 7) | 0x13);
    run(&body)[T2 as usize]
}

const NEG1: u32 = u32::MAX;
const MIN: u32 = 0x8000_0000;

#[test]
fn add_sub_logic() {
    assert_eq!(op(0, 0, 5, 7), 12);
    assert_eq!(op(0, 0, NEG1, 2), 1, "ADD wraps");
    assert_eq!(op(0, 0x20, 5, 7), (-2i32) as u32);
    assert_eq!(op(0, 0x20, MIN, 1), 0x7fff_ffff, "SUB wraps");
    assert_eq!(op(4, 0, 0b1100, 0b1010), 0b0110);
    assert_eq!(op(6, 0, 0b1100, 0b1010), 0b1110);
    assert_eq!(op(7, 0, 0b1100, 0b1010), 0b1000);
    assert_eq!(op_imm(0, 10, -11), NEG1);
    assert_eq!(op_imm(4, 0x1234_5678, -1), !0x1234_5678, "XORI -1 is NOT");
    assert_eq!(op_imm(6, 0x100, 0x0ff), 0x1ff);
    assert_eq!(
        op_imm(7, 0xffff_ffff, -16),
        0xffff_fff0,
        "ANDI sign-extends"
    );
}

#[test]
fn comparisons() {
    assert_eq!(op(2, 0, NEG1, 1), 1, "SLT: -1 < 1");
    assert_eq!(op(3, 0, NEG1, 1), 0, "SLTU: 0xffffffff > 1");
    assert_eq!(op(2, 0, 3, 3), 0);
    assert_eq!(op(2, 0, MIN, 0x7fff_ffff), 1);
    assert_eq!(op(3, 0, 0, NEG1), 1);
    assert_eq!(op_imm(2, NEG1, 0), 1, "SLTI");
    assert_eq!(op_imm(3, 5, -1), 1, "SLTIU compares with 0xffffffff");
    assert_eq!(op_imm(3, 0, 1), 1, "SLTIU x,1 is seqz");
    assert_eq!(op_imm(3, 1, 1), 0);
}

#[test]
fn shifts_take_the_amount_mod_32() {
    assert_eq!(op(1, 0, 1, 31), MIN);
    assert_eq!(op(1, 0, 1, 32), 1, "SLL by 32 shifts by 0");
    assert_eq!(op(1, 0, 1, 33), 2);
    assert_eq!(op(5, 0, MIN, 31), 1);
    assert_eq!(op(5, 0, MIN, 63), 1, "SRL by 63 shifts by 31");
    assert_eq!(op(5, 0x20, MIN, 31), NEG1, "SRA fills with the sign");
    assert_eq!(op(5, 0x20, MIN, 36), 0xf800_0000, "SRA by 36 shifts by 4");
    assert_eq!(op(5, 0x20, 0x4000_0000, 4), 0x0400_0000);
    assert_eq!(shift_imm(1, 0, 3, 4), 48);
    assert_eq!(shift_imm(5, 0, 0xf000_0000, 28), 0xf);
    assert_eq!(shift_imm(5, 0x20, 0xf000_0000, 28), NEG1);
}

#[test]
fn multiplication() {
    assert_eq!(op(0, 1, 7, 6), 42);
    assert_eq!(op(0, 1, MIN, NEG1), MIN, "MUL low word");
    assert_eq!(op(1, 1, MIN, NEG1), 0, "MULH: -2^31 * -1 = 2^31");
    assert_eq!(op(2, 1, MIN, NEG1), MIN, "MULHSU: -2^31 * (2^32-1)");
    assert_eq!(op(3, 1, MIN, NEG1), 0x7fff_ffff, "MULHU");
    assert_eq!(op(1, 1, NEG1, NEG1), 0, "MULH: -1 * -1 = 1");
    assert_eq!(op(3, 1, NEG1, NEG1), 0xffff_fffe, "MULHU: (2^32-1)^2");
    assert_eq!(op(2, 1, NEG1, NEG1), NEG1, "MULHSU: -1 * (2^32-1)");
    assert_eq!(
        op(1, 1, 0x1234_5678, 0x0abc_def0),
        ((0x1234_5678i64 * 0x0abc_def0i64) >> 32) as u32
    );
}

#[test]
fn division_and_remainder_edges() {
    assert_eq!(
        op(4, 1, 7, (-2i32) as u32),
        (-3i32) as u32,
        "DIV truncates toward zero"
    );
    assert_eq!(
        op(6, 1, 7, (-2i32) as u32),
        1,
        "REM takes the dividend's sign"
    );
    assert_eq!(op(4, 1, (-7i32) as u32, 2), (-3i32) as u32);
    assert_eq!(op(6, 1, (-7i32) as u32, 2), NEG1);
    assert_eq!(op(5, 1, NEG1, 2), 0x7fff_ffff, "DIVU");
    assert_eq!(op(7, 1, NEG1, 10), 5, "REMU");
    // Division by zero.
    assert_eq!(op(4, 1, 42, 0), NEG1, "DIV by 0 is -1");
    assert_eq!(op(5, 1, 42, 0), NEG1, "DIVU by 0 is 2^32-1");
    assert_eq!(op(6, 1, 42, 0), 42, "REM by 0 is the dividend");
    assert_eq!(op(7, 1, 42, 0), 42, "REMU by 0 is the dividend");
    // Signed overflow.
    assert_eq!(op(4, 1, MIN, NEG1), MIN, "DIV overflow is the dividend");
    assert_eq!(op(6, 1, MIN, NEG1), 0, "REM overflow is 0");
}

#[test]
fn upper_immediates() {
    let regs = run(&[
        lui(T0, 0xdead_b000),
        auipc(T1, 0x0000_1000),
        auipc(T2, 0xffff_f000),
    ]);
    assert_eq!(regs[T0 as usize], 0xdead_b000);
    assert_eq!(
        regs[T1 as usize],
        BASE + 4 + 0x1000,
        "AUIPC adds to its own pc"
    );
    assert_eq!(regs[T2 as usize], BASE + 8 - 0x1000);
}

#[test]
fn jumps_link_and_jalr_clears_bit_zero() {
    // 0: jal ra, +8 (skips 4) ; 4: addi t0, x0, 1 (skipped) ; 8: addi t1, x0, 2
    let regs = run(&[jal(1, 8), addi(T0, 0, 1), addi(T1, 0, 2)]);
    assert_eq!(regs[1], BASE + 4);
    assert_eq!(regs[T0 as usize], 0);
    assert_eq!(regs[T1 as usize], 2);

    // t0 = BASE + 16 + 1 (odd); jalr ra, 0(t0) must land on BASE + 16.
    let mut body = li(T0, BASE + 16 + 1).to_vec(); // 0, 4
    body.push(jalr(1, T0, 0)); // 8
    body.push(addi(T1, 0, 99)); // 12: skipped
    body.push(addi(T2, 0, 7)); // 16
    let regs = run(&body);
    assert_eq!(regs[1], BASE + 12);
    assert_eq!(regs[T1 as usize], 0);
    assert_eq!(regs[T2 as usize], 7);

    // jalr with rd == rs1 uses the old value for the target.
    let mut body = li(T0, BASE + 16).to_vec();
    body.push(jalr(T0, T0, 0)); // 8
    body.push(addi(T1, 0, 99)); // 12: skipped
    let regs = run(&body);
    assert_eq!(regs[T0 as usize], BASE + 12);
    assert_eq!(regs[T1 as usize], 0);
}

#[test]
fn branches_signed_and_unsigned() {
    // For each branch: set t0=a, t1=b; branch +8 over "addi t2, x0, 1". t2 == 0 iff taken.
    let taken = |funct3: u32, a: u32, b: u32| {
        let mut body = li(T0, a).to_vec();
        body.extend(li(T1, b));
        body.push(asm::b(funct3, T0, T1, 8));
        body.push(addi(T2, 0, 1));
        run(&body)[T2 as usize] == 0
    };
    assert!(taken(0, 5, 5) && !taken(0, 5, 6), "BEQ");
    assert!(taken(1, 5, 6) && !taken(1, 5, 5), "BNE");
    assert!(taken(4, NEG1, 0) && !taken(4, 0, NEG1), "BLT is signed");
    assert!(
        taken(5, 0, NEG1) && taken(5, 3, 3) && !taken(5, NEG1, 0),
        "BGE is signed"
    );
    assert!(taken(6, 0, NEG1) && !taken(6, NEG1, 0), "BLTU is unsigned");
    assert!(
        taken(7, NEG1, 0) && taken(7, 3, 3) && !taken(7, 0, NEG1),
        "BGEU is unsigned"
    );
    // A backward branch: count t0 down from 3 to 0.
    let mut body = li(T0, 3).to_vec();
    body.push(addi(T1, T1, 1)); // 8: loop body
    body.push(addi(T0, T0, -1)); // 12
    body.push(asm::b(1, T0, 0, -8)); // 16: bne t0, x0, -8
    assert_eq!(run(&body)[T1 as usize], 3);
}

#[test]
fn loads_extend_and_stores_merge() {
    let mut body = li(S2, DATA).to_vec();
    body.extend(li(T0, 0x8081_f0ff));
    body.push(asm::s(2, S2, T0, 0)); // sw t0, 0(s2)
    body.push(asm::i(0x03, 0, 10, S2, 0)); // lb a0, 0(s2)   = 0xff -> -1
    body.push(asm::i(0x03, 4, 11, S2, 0)); // lbu a1, 0(s2)  = 0xff
    body.push(asm::i(0x03, 1, 12, S2, 2)); // lh a2, 2(s2)   = 0x8081 -> sign-extended
    body.push(asm::i(0x03, 5, 13, S2, 2)); // lhu a3, 2(s2)
    body.push(asm::i(0x03, 0, 14, S2, 1)); // lb a4, 1(s2)   = 0xf0 -> -16
    body.push(asm::i(0x03, 2, 15, S2, 0)); // lw a5, 0(s2)
    body.extend(li(T1, 0x1234_5678));
    body.push(asm::s(0, S2, T1, 5)); // sb t1, 5(s2): byte 0x78 at offset 5
    body.push(asm::s(1, S2, T1, 10)); // sh t1, 10(s2): 0x5678 at offset 10
    body.push(asm::i(0x03, 2, 28, S2, 4)); // lw t3, 4(s2)
    body.push(asm::i(0x03, 2, 29, S2, 8)); // lw t4, 8(s2)
    body.push(asm::i(0x03, 2, 30, S2, -4 + 4)); // lw t5, 0(s2): unchanged
    // Keep a0 (overwritten by exit) in t6.
    body.push(addi(31, 10, 0));
    let regs = run(&body);
    assert_eq!(regs[31], 0xffff_ffff, "LB sign-extends 0xff");
    assert_eq!(regs[11], 0xff, "LBU zero-extends");
    assert_eq!(regs[12], 0xffff_8081, "LH sign-extends");
    assert_eq!(regs[13], 0x8081, "LHU zero-extends");
    assert_eq!(regs[14], 0xffff_fff0);
    assert_eq!(regs[15], 0x8081_f0ff);
    assert_eq!(regs[28], 0x0000_7800, "SB writes one byte");
    assert_eq!(regs[29], 0x5678_0000, "SH writes two bytes");
    assert_eq!(regs[30], 0x8081_f0ff);
}

#[test]
fn x0_stays_zero() {
    let mut body = vec![addi(0, 0, 5), lui(0, 0x1000), jal(0, 4)];
    body.extend(li(T0, 9));
    body.push(asm::r(0x33, 0, 0, 0, T0, T0)); // add x0, t0, t0
    body.push(asm::r(0x33, 0, 0, T1, 0, 0)); // add t1, x0, x0
    let regs = run(&body);
    assert_eq!(regs[0], 0);
    assert_eq!(regs[T1 as usize], 0);
}

#[test]
fn fence_does_nothing() {
    let regs = run(&[0x0ff0_000f, 0x0000_100f, addi(T0, 0, 1)]);
    assert_eq!(regs[T0 as usize], 1);
}

/// Runs `words` and returns the error kind and its pc offset from BASE.
fn fails(words: &[u32]) -> (ExecErrorKind, u32) {
    let program = Program::from_words(BASE, words).unwrap();
    let mut exec = Executor::new(&program, Vec::new());
    let err = exec.run(1000).expect_err("must fail");
    assert!(
        err.to_string().contains(&format!("pc {:#010x}", err.pc)),
        "{err}"
    );
    (err.kind, err.pc - BASE)
}

#[test]
fn errors_name_the_pc() {
    let with = |mut prefix: Vec<u32>, tail: &[u32]| {
        prefix.extend_from_slice(tail);
        prefix
    };
    assert_eq!(
        fails(&[addi(T0, 0, 1), 0xffff_ffff]),
        (ExecErrorKind::IllegalInstruction, 4)
    );
    assert_eq!(
        fails(&[0x3000_2073]),
        (ExecErrorKind::IllegalInstruction, 0),
        "CSR instructions are illegal"
    );
    assert_eq!(fails(&[EBREAK]), (ExecErrorKind::Ebreak, 0));
    assert_eq!(
        fails(&[addi(A7, 0, 1), ECALL]),
        (ExecErrorKind::UnknownEcall { number: 1 }, 4)
    );
    assert_eq!(
        fails(&[addi(A7, 0, 63), addi(A0, 0, 3), ECALL]),
        (ExecErrorKind::BadFileDescriptor { ecall: 63, fd: 3 }, 8)
    );
    assert_eq!(
        fails(&[addi(A7, 0, 64), addi(A0, 0, 0), ECALL]),
        (ExecErrorKind::BadFileDescriptor { ecall: 64, fd: 0 }, 8)
    );
    assert_eq!(
        fails(&with(
            li(T0, DATA + 2).to_vec(),
            &[asm::i(0x03, 2, T1, T0, 0)]
        )),
        (
            ExecErrorKind::MisalignedAccess {
                addr: DATA + 2,
                size: 4
            },
            8
        )
    );
    assert_eq!(
        fails(&with(li(T0, DATA + 1).to_vec(), &[asm::s(1, T0, T1, 0)])),
        (
            ExecErrorKind::MisalignedAccess {
                addr: DATA + 1,
                size: 2
            },
            8
        )
    );
    assert_eq!(
        fails(&[asm::i(0x03, 2, T1, 0, 0)]),
        (ExecErrorKind::OutOfRange { addr: 0, len: 4 }, 0),
        "null page"
    );
    assert_eq!(
        fails(&with(
            li(T0, 0x7800_0000).to_vec(),
            &[asm::i(0x03, 0, T1, T0, 0)]
        )),
        (
            ExecErrorKind::OutOfRange {
                addr: 0x7800_0000,
                len: 1
            },
            8
        )
    );
    assert_eq!(
        fails(&with(li(T0, BASE).to_vec(), &[asm::s(2, T0, T1, 0)])),
        (ExecErrorKind::StoreToCode { addr: BASE }, 8)
    );
    assert_eq!(
        fails(&[jal(0, 6)]),
        (ExecErrorKind::MisalignedJump { target: BASE + 6 }, 0)
    );
    assert_eq!(
        fails(&[asm::b(0, 0, 0, 2)]),
        (ExecErrorKind::MisalignedJump { target: BASE + 2 }, 0)
    );
    assert_eq!(fails(&[jal(0, 8)]).0, ExecErrorKind::PcOutsideCode);
    assert_eq!(
        fails(&[addi(T0, 0, 1)]),
        (ExecErrorKind::PcOutsideCode, 4),
        "falling off the end"
    );
    assert_eq!(
        fails(&[jal(0, 0)]),
        (ExecErrorKind::CycleLimit { limit: 1000 }, 0)
    );
}

/// `ecall number(fd, buffer in register `buf`, length len)`: sets a7, a0, a1, a2, calls.
fn syscall(number: i32, fd: i32, buf: u32, len: i32) -> [u32; 5] {
    [
        addi(A7, 0, number),
        addi(A0, 0, fd),
        addi(A1, buf, 0),
        addi(A2, 0, len),
        ECALL,
    ]
}

#[test]
fn input_and_output_streams() {
    // read(0, DATA, 16) -> a0; write(1, DATA, a0); write(2, DATA, 3); read again -> 0; exit(a0)
    let mut words = li(S2, DATA).to_vec();
    words.extend(syscall(63, 0, S2, 16));
    // write(1, DATA, a0): the length is the count the read returned.
    words.extend([
        addi(A2, A0, 0),
        addi(A7, 0, 64),
        addi(A0, 0, 1),
        addi(A1, S2, 0),
        ECALL,
    ]);
    words.extend(syscall(64, 2, S2, 3));
    words.extend(syscall(63, 0, S2, 16));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, b"hello, zkbox".to_vec());
    assert_eq!(
        exec.run(1000).unwrap(),
        0,
        "second read returns 0 at end of input"
    );
    assert_eq!(exec.public_output(), b"hello, zkbox");
    assert_eq!(exec.debug_output(), b"hel");
    assert_eq!(
        exec.cycles(),
        words.len() as u64,
        "one cycle per instruction, ecall included"
    );
}

#[test]
fn reading_into_code_or_outside_memory_fails() {
    let mut words = li(S2, BASE).to_vec();
    words.extend(syscall(63, 0, S2, 4));
    let program = Program::from_words(BASE, &words).unwrap();
    let err = Executor::new(&program, vec![1, 2, 3, 4])
        .run(100)
        .unwrap_err();
    assert_eq!(err.kind, ExecErrorKind::StoreToCode { addr: BASE });

    // write(1, 16, 4): a1 = x0 + 16 points into the guard page.
    let mut words = syscall(64, 1, 0, 4).to_vec();
    words[2] = addi(A1, 0, 16);
    let program = Program::from_words(BASE, &words).unwrap();
    let err = Executor::new(&program, Vec::new()).run(100).unwrap_err();
    assert_eq!(err.kind, ExecErrorKind::OutOfRange { addr: 16, len: 4 });
}

#[test]
fn limits_and_faults_inside_a_basic_block_are_exact() {
    // Ten straight-line instructions form one basic block; the limit must still cut at 5.
    let mut words = vec![addi(T0, T0, 1); 10];
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, Vec::new());
    let err = exec.run(5).unwrap_err();
    assert_eq!(err.kind, ExecErrorKind::CycleLimit { limit: 5 });
    assert_eq!((err.pc, err.cycle, exec.cycles()), (BASE + 20, 5, 5));
    assert_eq!(
        exec.registers()[T0 as usize],
        5,
        "exactly five increments ran"
    );
    // Resuming continues from there.
    assert_eq!(exec.run(100).unwrap(), 0);
    assert_eq!(exec.registers()[T0 as usize], 10);

    // A fault in the middle of a block reports its own pc and the cycles before it.
    let mut words = vec![addi(T0, T0, 1); 3];
    words.push(asm::i(0x03, 2, T1, 0, 0)); // lw t1, 0(x0): guard page
    words.extend(vec![addi(T0, T0, 1); 3]);
    let program = Program::from_words(BASE, &words).unwrap();
    let mut exec = Executor::new(&program, Vec::new());
    let err = exec.run(100).unwrap_err();
    assert_eq!((err.pc, err.cycle, exec.cycles()), (BASE + 12, 3, 3));
    assert_eq!(exec.registers()[T0 as usize], 3);
}

/// Two executable segments, `BASE..` (the code below) and `BASE + 0x2000..` (two words never
/// run), with a gap between them.
fn with_code_gap(body: &[u32]) -> Program {
    let mut code = body.to_vec();
    code.extend(asm::exit());
    let words = |ws: &[u32]| -> Vec<u8> { ws.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let first = words(&code);
    let segments = vec![
        zkbox_executor::Segment {
            vaddr: BASE,
            memsz: first.len() as u32,
            data: first,
            executable: true,
            writable: false,
        },
        zkbox_executor::Segment {
            vaddr: BASE + 0x2000,
            memsz: 8,
            data: words(&[addi(0, 0, 0), addi(0, 0, 0)]),
            executable: true,
            writable: false,
        },
    ];
    Program::from_segments(BASE, segments).unwrap()
}

#[test]
fn memory_between_code_segments_is_writable_and_code_is_not() {
    // The gap between two executable segments is ordinary memory (the prover's memory image
    // opens only the segments' words read-only); stores into either segment are refused.
    let mut body = li(T0, BASE + 0x1000).to_vec();
    body.push(addi(T1, 0, 42));
    body.push(asm::s(2, T0, T1, 0)); // sw t1, 0(t0)
    body.push(asm::i(0x03, 2, 10, T0, 0)); // lw a0, 0(t0)
    let program = with_code_gap(&body);
    assert_eq!(Executor::new(&program, vec![]).run(100).unwrap(), 42);
    for target in [BASE + 0x2004, BASE] {
        let mut body = li(T0, target).to_vec();
        body.push(asm::s(2, T0, T1, 0));
        let err = Executor::new(&with_code_gap(&body), vec![])
            .run(100)
            .unwrap_err();
        assert_eq!(err.kind, ExecErrorKind::StoreToCode { addr: target });
    }
}
