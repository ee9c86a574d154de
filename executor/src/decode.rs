//! Decoding RV32IM instruction words into a compact form the interpreter dispatches on.
//!
//! Decoding happens once per code word when a [`crate::Program`] is built, so the hot loop
//! never looks at instruction bits. Encodings that RV32IM does not define (including CSR
//! instructions, RV64-only shifts, and compressed instructions) decode to
//! [`Opcode::Illegal`], which the interpreter reports with the pc if it is ever executed.

/// Every operation the interpreter knows, one per RV32IM instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // The names are the RISC-V mnemonics.
pub enum Opcode {
    Lui,
    Auipc,
    Jal,
    Jalr,
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Lb,
    Lh,
    Lw,
    Lbu,
    Lhu,
    Sb,
    Sh,
    Sw,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    /// FENCE and FENCE.I: no effect in a single-hart machine without caches.
    Fence,
    Ecall,
    Ebreak,
    /// Not an RV32IM instruction.
    Illegal,
}

/// A decoded instruction: operation, register indices and the sign-extended immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// The operation.
    pub opcode: Opcode,
    /// Destination register index (0..32).
    pub rd: u8,
    /// First source register index (0..32).
    pub rs1: u8,
    /// Second source register index (0..32).
    pub rs2: u8,
    /// Immediate, sign-extended (for shifts by immediate: the shift amount).
    pub imm: i32,
}

impl Instruction {
    /// The instruction that every undefined encoding decodes to.
    pub const ILLEGAL: Instruction = Instruction {
        opcode: Opcode::Illegal,
        rd: 0,
        rs1: 0,
        rs2: 0,
        imm: 0,
    };
}

fn imm_i(word: u32) -> i32 {
    (word as i32) >> 20
}

fn imm_s(word: u32) -> i32 {
    (((word & 0xfe00_0000) as i32) >> 20) | ((word >> 7) & 0x1f) as i32
}

fn imm_b(word: u32) -> i32 {
    (((word & 0x8000_0000) as i32) >> 19)
        | (((word >> 7) & 1) << 11) as i32
        | (((word >> 25) & 0x3f) << 5) as i32
        | (((word >> 8) & 0xf) << 1) as i32
}

fn imm_u(word: u32) -> i32 {
    (word & 0xffff_f000) as i32
}

fn imm_j(word: u32) -> i32 {
    (((word & 0x8000_0000) as i32) >> 11)
        | (word & 0x000f_f000) as i32
        | (((word >> 20) & 1) << 11) as i32
        | (((word >> 21) & 0x3ff) << 1) as i32
}

/// Decodes one 32-bit instruction word.
pub fn decode(word: u32) -> Instruction {
    use Opcode::*;
    let rd = ((word >> 7) & 0x1f) as u8;
    let rs1 = ((word >> 15) & 0x1f) as u8;
    let rs2 = ((word >> 20) & 0x1f) as u8;
    let funct3 = (word >> 12) & 7;
    let funct7 = word >> 25;
    let make = |opcode, imm| Instruction {
        opcode,
        rd,
        rs1,
        rs2,
        imm,
    };
    match word & 0x7f {
        0x37 => make(Lui, imm_u(word)),
        0x17 => make(Auipc, imm_u(word)),
        0x6f => make(Jal, imm_j(word)),
        0x67 if funct3 == 0 => make(Jalr, imm_i(word)),
        0x63 => {
            let op = match funct3 {
                0 => Beq,
                1 => Bne,
                4 => Blt,
                5 => Bge,
                6 => Bltu,
                7 => Bgeu,
                _ => return Instruction::ILLEGAL,
            };
            make(op, imm_b(word))
        }
        0x03 => {
            let op = match funct3 {
                0 => Lb,
                1 => Lh,
                2 => Lw,
                4 => Lbu,
                5 => Lhu,
                _ => return Instruction::ILLEGAL,
            };
            make(op, imm_i(word))
        }
        0x23 => {
            let op = match funct3 {
                0 => Sb,
                1 => Sh,
                2 => Sw,
                _ => return Instruction::ILLEGAL,
            };
            make(op, imm_s(word))
        }
        0x13 => {
            let shamt = ((word >> 20) & 0x1f) as i32;
            match (funct3, funct7) {
                (0, _) => make(Addi, imm_i(word)),
                (2, _) => make(Slti, imm_i(word)),
                (3, _) => make(Sltiu, imm_i(word)),
                (4, _) => make(Xori, imm_i(word)),
                (6, _) => make(Ori, imm_i(word)),
                (7, _) => make(Andi, imm_i(word)),
                (1, 0x00) => make(Slli, shamt),
                (5, 0x00) => make(Srli, shamt),
                (5, 0x20) => make(Srai, shamt),
                _ => Instruction::ILLEGAL,
            }
        }
        0x33 => {
            let op = match (funct7, funct3) {
                (0x00, 0) => Add,
                (0x20, 0) => Sub,
                (0x00, 1) => Sll,
                (0x00, 2) => Slt,
                (0x00, 3) => Sltu,
                (0x00, 4) => Xor,
                (0x00, 5) => Srl,
                (0x20, 5) => Sra,
                (0x00, 6) => Or,
                (0x00, 7) => And,
                (0x01, 0) => Mul,
                (0x01, 1) => Mulh,
                (0x01, 2) => Mulhsu,
                (0x01, 3) => Mulhu,
                (0x01, 4) => Div,
                (0x01, 5) => Divu,
                (0x01, 6) => Rem,
                (0x01, 7) => Remu,
                _ => return Instruction::ILLEGAL,
            };
            make(op, 0)
        }
        0x0f if funct3 <= 1 => make(Fence, 0),
        0x73 => match word {
            0x0000_0073 => make(Ecall, 0),
            0x0010_0073 => make(Ebreak, 0),
            _ => Instruction::ILLEGAL,
        },
        _ => Instruction::ILLEGAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediates_sign_extend() {
        // addi x1, x0, -1
        assert_eq!(
            decode(0xfff0_0093),
            Instruction {
                opcode: Opcode::Addi,
                rd: 1,
                rs1: 0,
                rs2: 31,
                imm: -1
            }
        );
        // sw x2, -4(x1): imm = -4
        assert_eq!(decode(0xfe20_ae23).imm, -4);
        // beq x0, x0, -8
        assert_eq!(decode(0xfe00_0ce3).imm, -8);
        // jal x1, -2048 ... jal x0, 2 (minimum positive offset)
        assert_eq!(decode(0x0020_006f).imm, 2);
        assert_eq!(decode(0x8000_00ef).imm, -(1 << 20));
        // lui x5, 0xfffff
        assert_eq!(decode(0xffff_f2b7).imm, 0xffff_f000u32 as i32);
    }

    #[test]
    fn undefined_encodings_are_illegal() {
        for word in [
            0x0000_0000, // all zeros
            0xffff_ffff,
            0x0000_0001, // compressed quadrant
            0x3000_2073, // csrrs
            0x0200_1013, // slli with imm[5] set (RV64 only)
            0x4000_1013, // slli with funct7 0x20
            0x4000_1033, // sll with funct7 0x20
            0x0000_3003, // ld (RV64)
            0x0000_3023, // sd (RV64)
            0x0000_2063, // branch funct3 2
            0x0000_1067, // jalr funct3 1
            0x0020_0073, // uret-like system encoding
            0x0000_200f, // fence funct3 2
        ] {
            assert_eq!(decode(word).opcode, Opcode::Illegal, "{word:#010x}");
        }
    }
}
