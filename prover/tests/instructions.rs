//! Every provable instruction on random operands: random straight-line programs (with
//! short forward branches and jumps) are executed, proven and verified, and their exit code
//! (a digest of the final registers) matches the emulator's.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::{prove, verify};

const OP: u32 = 0x33;
const OP_IMM: u32 = 0x13;
const R_TYPES: [(u32, u32); 18] = [
    (0, 0),    // add
    (0, 0x20), // sub
    (1, 0),    // sll
    (2, 0),    // slt
    (3, 0),    // sltu
    (4, 0),    // xor
    (5, 0),    // srl
    (5, 0x20), // sra
    (6, 0),    // or
    (7, 0),    // and
    (0, 1),    // mul
    (1, 1),    // mulh
    (2, 1),    // mulhsu
    (3, 1),    // mulhu
    (4, 1),    // div
    (5, 1),    // divu
    (6, 1),    // rem
    (7, 1),    // remu
];
const I_TYPES: [u32; 6] = [0, 2, 3, 4, 6, 7]; // addi slti sltiu xori ori andi
const LOADS: [u32; 5] = [0, 1, 2, 4, 5]; // lb lh lw lbu lhu
const BRANCHES: [u32; 6] = [0, 1, 4, 5, 6, 7];
const BASE_REG: u32 = 9;

fn random_program(rng: &mut SmallRng, length: usize) -> Program {
    let mut code = Vec::new();
    for reg in 1..=8 {
        let value = match rng.random_range(0..4) {
            0 => rng.random_range(0..16),
            1 => 0x8000_0000 | rng.random::<u32>(),
            2 => u32::MAX - rng.random_range(0..4),
            _ => rng.random(),
        };
        code.extend(li(reg, value));
    }
    code.extend(li(BASE_REG, 0x0010_0800));
    let reg = |rng: &mut SmallRng| rng.random_range(0..=8);
    let dest = |rng: &mut SmallRng| {
        if rng.random_range(0..10) == 0 {
            0
        } else {
            rng.random_range(1..=8)
        }
    };
    for _ in 0..length {
        match rng.random_range(0..9) {
            0..=2 => {
                let (f3, f7) = R_TYPES[rng.random_range(0..R_TYPES.len())];
                code.push(asm::r(OP, f3, f7, dest(rng), reg(rng), reg(rng)));
            }
            3 => {
                let f3 = I_TYPES[rng.random_range(0..I_TYPES.len())];
                code.push(asm::i(
                    OP_IMM,
                    f3,
                    dest(rng),
                    reg(rng),
                    rng.random_range(-2048..2048),
                ));
            }
            4 => {
                let shamt = rng.random_range(0..32);
                let (f3, imm) =
                    [(1, shamt), (5, shamt), (5, 0x400 | shamt)][rng.random_range(0..3)];
                code.push(asm::i(OP_IMM, f3, dest(rng), reg(rng), imm));
            }
            5 => {
                let f3 = rng.random_range(0..3);
                let align = 1 << f3;
                let offset = rng.random_range(-64..64) * align;
                code.push(asm::s(f3 as u32, BASE_REG, reg(rng), offset));
            }
            6 => {
                let f3 = LOADS[rng.random_range(0..LOADS.len())];
                let align = 1 << (f3 & 3);
                let offset = rng.random_range(-64..64) * align;
                code.push(asm::i(0x03, f3, dest(rng), BASE_REG, offset));
            }
            7 => {
                let f3 = BRANCHES[rng.random_range(0..BRANCHES.len())];
                code.push(asm::b(f3, reg(rng), reg(rng), 8));
                code.push(addi(dest(rng), reg(rng), 1));
            }
            _ => match rng.random_range(0..4) {
                3 => code.push(0x0ff0_000f), // fence
                0 => code.push(asm::lui(dest(rng), rng.random())),
                1 => code.push(asm::auipc(dest(rng), rng.random())),
                _ => {
                    code.push(asm::jal(dest(rng), 8));
                    code.push(addi(dest(rng), reg(rng), 1));
                }
            },
        }
    }
    // Exit code: x1 ^ x2 ^ ... ^ x8.
    code.push(addi(10, 0, 0));
    for r in 1..=8 {
        code.push(asm::r(OP, 4, 0, 10, 10, r));
    }
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).expect("a valid program")
}

#[test]
fn random_programs_prove_and_verify() {
    let mut rng = SmallRng::seed_from_u64(0x2026_1126);
    for round in 0..4 {
        let program = random_program(&mut rng, 150);
        let mut executor = Executor::new(&program, vec![]);
        let exit = executor.run(100_000).expect("the program runs");
        // CHECK_BUSES=1 checks every bus of the witness first and names the first unbalanced
        // message: a debugging aid when this test fails.
        if std::env::var_os("CHECK_BUSES").is_some() {
            let mut executor = Executor::new(&program, vec![]);
            let mut segment = None;
            executor
                .run_traced(100_000, 1 << 20, |s| segment = Some(s.clone()))
                .unwrap();
            let table = std::sync::Arc::new(zkbox_prover::chips::ProgramTable::new(&program));
            let witness = zkbox_prover::generate(
                &table,
                &zkbox_prover::memory_image(&program),
                &segment.unwrap(),
            )
            .unwrap();
            zkbox_prover::proof::check_witness_buses(&program, &witness);
        }
        let proof = prove(&program, vec![], 100_000)
            .unwrap_or_else(|e| panic!("round {round}: proving failed: {e}"));
        assert_eq!(proof.exit_code(), exit, "round {round}");
        verify(&proof, Some(&program)).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

/// Division's corner cases, each as DIV, DIVU, REM and REMU: the signed overflow
/// (−2^31 / −1), division by zero, every sign combination, a divisor of −2^31 and a
/// dividend smaller than the divisor. The exit code folds every result in.
#[test]
fn division_corner_cases_prove_and_verify() {
    const MIN: u32 = 0x8000_0000;
    let cases: [(u32, u32); 12] = [
        (MIN, u32::MAX),
        (MIN, 1),
        (7, 0),
        (MIN, 0),
        (0, 0),
        ((-7i32) as u32, 2),
        (7, (-2i32) as u32),
        ((-7i32) as u32, (-2i32) as u32),
        (7, 2),
        (5, MIN),
        (MIN, MIN),
        (3, 0xffff_fff0),
    ];
    let mut code = Vec::new();
    code.push(addi(10, 0, 0));
    for (b, c) in cases {
        code.extend(li(1, b));
        code.extend(li(2, c));
        for f3 in 4..8 {
            code.push(asm::r(OP, f3, 1, 3, 1, 2)); // div/divu/rem/remu x3, x1, x2
            code.push(asm::r(OP, 4, 0, 10, 10, 3)); // x10 ^= x3
            code.push(asm::r(OP, 1, 0, 10, 10, 2)); // x10 <<= x2 & 31, so order counts
            code.push(asm::r(OP, 0, 0, 10, 10, 3)); // x10 += x3
        }
    }
    code.extend(asm::exit());
    let program = Program::from_words(0x1000, &code).unwrap();
    let exit = Executor::new(&program, vec![]).run(10_000).unwrap();
    let proof = prove(&program, vec![], 10_000).unwrap();
    assert_eq!(proof.exit_code(), exit);
    verify(&proof, Some(&program)).unwrap();
}

/// Loads and stores at both ends of guest memory (byte addresses 0x1000 and 0x77ff_fffc,
/// sub-word accesses at the very last byte) prove: the RAM range check is exact, not loose.
#[test]
fn accesses_at_both_ends_of_guest_memory_prove_and_verify() {
    let mut code = Vec::new();
    code.extend(li(5, 0x1000));
    code.extend(li(6, 0x77ff_fffc));
    code.extend(li(7, 0xdead_beef));
    code.push(asm::s(2, 5, 7, 0)); // sw t2, 0(t0)
    code.push(asm::s(2, 6, 7, 0)); // sw t2, 0(t1)
    code.push(asm::s(0, 6, 7, 3)); // sb t2, 3(t1): the last byte of memory
    code.push(asm::i(0x03, 2, 28, 5, 0)); // lw t3, 0(t0)
    code.push(asm::i(0x03, 4, 29, 6, 3)); // lbu t4, 3(t1)
    code.push(asm::r(OP, 0, 0, 10, 28, 29)); // a0 = t3 + t4
    code.extend(asm::exit());
    let program = Program::from_words(0x0001_0000, &code).unwrap();
    let exit = Executor::new(&program, vec![]).run(1000).unwrap();
    assert_eq!(exit, 0xdead_beefu32.wrapping_add(0xef));
    let proof = prove(&program, vec![], 1000).unwrap();
    assert_eq!(proof.exit_code(), exit);
    verify(&proof, Some(&program)).unwrap();
}

/// Reads past the end of the private input: a short read (5 of 8 bytes) sets the input-ended
/// cell, the next read delivers nothing, and a read asking for nothing stays legal; the run
/// proves, and its exit code is the bytes delivered.
#[test]
fn reads_past_the_end_of_input_prove_and_verify() {
    let read = |code: &mut Vec<u32>, len: u32| {
        code.extend(li(17, 63));
        code.push(addi(10, 0, 0));
        code.extend(li(11, 0x0010_0000));
        code.extend(li(12, len));
        code.push(asm::ECALL);
        code.push(asm::r(OP, 0, 0, 5, 5, 10)); // t0 += a0
    };
    let mut code = Vec::new();
    code.push(addi(5, 0, 0));
    read(&mut code, 8);
    read(&mut code, 0);
    read(&mut code, 8);
    code.push(addi(10, 5, 0));
    code.extend(asm::exit());
    let program = Program::from_words(0x1000, &code).unwrap();
    let input = vec![1, 2, 3, 4, 5];
    let exit = Executor::new(&program, input.clone()).run(1000).unwrap();
    assert_eq!(exit, 5);
    let proof = prove(&program, input, 1000).unwrap();
    assert_eq!(proof.exit_code(), 5);
    verify(&proof, Some(&program)).unwrap();
}
