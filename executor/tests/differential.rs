//! Differential test: random RV32IM programs run on the emulator (pre-decoded, traced) and
//! on a second, deliberately naive interpreter written here from the specification's bit
//! layouts (decoding every word afresh, byte-addressed memory in a map, 64-bit arithmetic).
//! Every step of the trace must agree: pc, instruction, register values read and written.

use std::collections::HashMap;

use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program, Step};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x4_0000;
/// Register holding DATA; never a destination in random code.
const BASE_REG: u32 = 9;

/// A small deterministic generator (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
    /// Interesting 32-bit values: edges more often than uniform.
    fn value(&mut self) -> u32 {
        const EDGES: [u32; 8] = [
            0,
            1,
            2,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_fffe,
            31,
        ];
        if self.below(3) == 0 {
            EDGES[self.below(8) as usize]
        } else {
            self.next() as u32
        }
    }
}

/// The naive reference machine.
struct Reference {
    regs: [u32; 32],
    pc: u32,
    mem: HashMap<u32, u8>,
}

impl Reference {
    fn read(&self, addr: u32, n: u32) -> u32 {
        (0..n)
            .map(|i| u32::from(*self.mem.get(&(addr + i)).unwrap_or(&0)) << (8 * i))
            .sum()
    }

    /// Executes one instruction; returns (rs1 value, rs2 value) read, or None at ecall.
    fn step(&mut self, word: u32) -> Option<(u32, u32)> {
        let bits = |hi: u32, lo: u32| (word >> lo) & ((1u32 << (hi - lo + 1)) - 1);
        let sext = |v: u32, width: u32| ((v << (32 - width)) as i32 >> (32 - width)) as u32;
        let (rd, rs1, rs2) = (
            bits(11, 7) as usize,
            bits(19, 15) as usize,
            bits(24, 20) as usize,
        );
        let (x, y) = (self.regs[rs1], self.regs[rs2]);
        let (sx, sy) = (i64::from(x as i32), i64::from(y as i32));
        let (ux, uy) = (i64::from(x), i64::from(y));
        let f3 = bits(14, 12);
        let f7 = bits(31, 25);
        let imm_i = sext(bits(31, 20), 12);
        let mut next = self.pc.wrapping_add(4);
        let mut result: Option<u32> = None;
        match bits(6, 0) {
            0b0110111 => result = Some(word & 0xffff_f000),
            0b0010111 => result = Some(self.pc.wrapping_add(word & 0xffff_f000)),
            0b1101111 => {
                let off = sext(
                    (bits(31, 31) << 20)
                        | (bits(19, 12) << 12)
                        | (bits(20, 20) << 11)
                        | (bits(30, 21) << 1),
                    21,
                );
                result = Some(next);
                next = self.pc.wrapping_add(off);
            }
            0b1100111 => {
                result = Some(next);
                next = x.wrapping_add(imm_i) & !1;
            }
            0b1100011 => {
                let off = sext(
                    (bits(31, 31) << 12)
                        | (bits(7, 7) << 11)
                        | (bits(30, 25) << 5)
                        | (bits(11, 8) << 1),
                    13,
                );
                let taken = match f3 {
                    0 => x == y,
                    1 => x != y,
                    4 => sx < sy,
                    5 => sx >= sy,
                    6 => ux < uy,
                    7 => ux >= uy,
                    _ => panic!("generator made a bad branch"),
                };
                if taken {
                    next = self.pc.wrapping_add(off);
                }
            }
            0b0000011 => {
                let addr = x.wrapping_add(imm_i);
                result = Some(match f3 {
                    0 => sext(self.read(addr, 1), 8),
                    1 => sext(self.read(addr, 2), 16),
                    2 => self.read(addr, 4),
                    4 => self.read(addr, 1),
                    5 => self.read(addr, 2),
                    _ => panic!("bad load"),
                });
            }
            0b0100011 => {
                let addr = x.wrapping_add(sext((bits(31, 25) << 5) | bits(11, 7), 12));
                for i in 0..(1u32 << f3) {
                    self.mem.insert(addr + i, (y >> (8 * i)) as u8);
                }
            }
            0b0010011 => {
                let sh = bits(24, 20);
                result = Some(match f3 {
                    0 => (sx + i64::from(imm_i as i32)) as u32,
                    2 => u32::from(sx < i64::from(imm_i as i32)),
                    3 => u32::from(x < imm_i),
                    4 => x ^ imm_i,
                    6 => x | imm_i,
                    7 => x & imm_i,
                    1 => ((ux << sh) & 0xffff_ffff) as u32,
                    5 if f7 == 0 => (ux >> sh) as u32,
                    5 => (sx >> sh) as u32,
                    _ => unreachable!(),
                });
            }
            0b0110011 if f7 == 1 => {
                result = Some(match f3 {
                    0 => (sx * sy) as u32,
                    1 => ((sx * sy) >> 32) as u32,
                    2 => ((i128::from(sx) * i128::from(uy)) >> 32) as u32,
                    3 => ((i128::from(ux) * i128::from(uy)) >> 32) as u32,
                    4 if y == 0 => u32::MAX,
                    4 => ((sx / sy) as i32) as u32, // i64: -2^31 / -1 = 2^31, truncated to -2^31
                    5 if y == 0 => u32::MAX,
                    5 => (ux / uy) as u32,
                    6 if y == 0 => x,
                    6 => (sx % sy) as u32,
                    7 if y == 0 => x,
                    7 => (ux % uy) as u32,
                    _ => unreachable!(),
                });
            }
            0b0110011 => {
                let sh = y & 31;
                result = Some(match (f3, f7) {
                    (0, 0) => (sx + sy) as u32,
                    (0, _) => (sx - sy) as u32,
                    (1, _) => ((ux << sh) & 0xffff_ffff) as u32,
                    (2, _) => u32::from(sx < sy),
                    (3, _) => u32::from(ux < uy),
                    (4, _) => x ^ y,
                    (5, 0) => (ux >> sh) as u32,
                    (5, _) => (sx >> sh) as u32,
                    (6, _) => x | y,
                    (7, _) => x & y,
                    _ => unreachable!(),
                });
            }
            0b1110011 => return None,
            other => panic!("generator made opcode {other:#b}"),
        }
        if let (Some(v), true) = (result, rd != 0) {
            self.regs[rd] = v;
        }
        self.pc = next;
        Some((x, y))
    }
}

/// A random straight-line program with forward branches, loads and stores into DATA.
fn random_program(rng: &mut Rng, len: usize) -> Vec<u32> {
    let mut words = li(BASE_REG, DATA).to_vec();
    for r in 1..32u32 {
        if r != BASE_REG {
            words.extend(li(r, rng.value()));
        }
    }
    let reg = |rng: &mut Rng| rng.below(32);
    let dest = |rng: &mut Rng| loop {
        let r = rng.below(32);
        if r != BASE_REG {
            return r;
        }
    };
    for k in 0..len {
        let remaining = (len - k) as u32;
        let word = match rng.below(10) {
            0..=3 => {
                // R-type, base or M extension.
                let (f3, f7) = match rng.below(3) {
                    0 => (rng.below(8), 1),
                    1 => ([0, 5][rng.below(2) as usize], 0x20),
                    _ => (rng.below(8), 0),
                };
                asm::r(0x33, f3, f7, dest(rng), reg(rng), reg(rng))
            }
            4..=5 => {
                let f3 = rng.below(8);
                let rd = dest(rng);
                let rs1 = reg(rng);
                match f3 {
                    1 => asm::r(0x13, 1, 0, rd, rs1, rng.below(32)),
                    5 => asm::r(
                        0x13,
                        5,
                        [0, 0x20][rng.below(2) as usize],
                        rd,
                        rs1,
                        rng.below(32),
                    ),
                    _ => asm::i(0x13, f3, rd, rs1, rng.below(4096) as i32 - 2048),
                }
            }
            6 => {
                let f3 = [0, 1, 2, 4, 5][rng.below(5) as usize];
                let align = [1, 2, 4, 1, 2][[0, 1, 2, 4, 5].iter().position(|&f| f == f3).unwrap()];
                asm::i(
                    0x03,
                    f3,
                    dest(rng),
                    BASE_REG,
                    (rng.below(256) * align) as i32,
                )
            }
            7 => {
                let f3 = rng.below(3);
                asm::s(f3, BASE_REG, reg(rng), (rng.below(256) << f3) as i32)
            }
            8 => {
                let skip = 1 + rng.below(remaining.min(6));
                asm::b(
                    [0, 1, 4, 5, 6, 7][rng.below(6) as usize],
                    reg(rng),
                    reg(rng),
                    4 * skip as i32,
                )
            }
            _ => [
                asm::lui(dest(rng), rng.next() as u32),
                asm::auipc(dest(rng), rng.next() as u32),
            ][rng.below(2) as usize],
        };
        words.push(word);
    }
    words.extend([addi(10, 0, 0)]);
    words.extend(asm::exit());
    words
}

#[test]
fn emulator_matches_the_reference_step_by_step() {
    let mut rng = Rng(0x5eed_2026_1125);
    let mut total_steps = 0;
    for round in 0..300 {
        let words = random_program(&mut rng, 200);
        let program = Program::from_words(BASE, &words).unwrap();
        let mut exec = Executor::new(&program, Vec::new());
        let mut steps: Vec<Step> = Vec::new();
        // Small segments so cuts land mid-program and must not lose steps.
        exec.run_traced(1 << 20, 64, |segment| {
            steps.extend_from_slice(&segment.steps)
        })
        .unwrap_or_else(|e| panic!("round {round}: {e}"));

        let mut reference = Reference {
            regs: [0; 32],
            pc: BASE,
            mem: HashMap::new(),
        };
        for (i, step) in steps.iter().enumerate() {
            let word = words[((reference.pc - BASE) / 4) as usize];
            assert_eq!(step.pc, reference.pc, "round {round} step {i}: pc");
            assert_eq!(step.instruction, word, "round {round} step {i}");
            let decoded = zkbox_executor::decode::decode(word);
            let Some((x, y)) = reference.step(word) else {
                assert_eq!(
                    i,
                    steps.len() - 1,
                    "round {round}: ecall must be the last step"
                );
                break;
            };
            let ctx = format!("round {round} step {i} word {word:#010x} {decoded:?}");
            assert_eq!(step.rs1, x, "{ctx}: rs1 value");
            assert_eq!(step.rs2, y, "{ctx}: rs2 value");
            assert_eq!(
                step.rd, reference.regs[decoded.rd as usize],
                "{ctx}: rd value"
            );
        }
        assert_eq!(
            exec.registers(),
            &reference.regs,
            "round {round}: final registers"
        );
        total_steps += steps.len();
    }
    assert!(total_steps > 300 * 200, "programs ran: {total_steps} steps");
}
