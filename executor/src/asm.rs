//! Encoders for RV32IM instructions: for tests, benchmarks and tools that assemble small
//! programs directly (see [`crate::Program::from_words`]). Register arguments are indices
//! 0..32; immediates are checked against their encodable range with debug assertions only, so
//! callers pass values that fit.

/// An R-type instruction.
pub fn r(opcode: u32, funct3: u32, funct7: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    (funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode
}

/// An I-type instruction (12-bit signed immediate).
pub fn i(opcode: u32, funct3: u32, rd: u32, rs1: u32, imm: i32) -> u32 {
    debug_assert!(
        (-2048..2048).contains(&imm),
        "I immediate {imm} out of range"
    );
    ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode
}

/// An S-type instruction (12-bit signed offset).
pub fn s(funct3: u32, rs1: u32, rs2: u32, imm: i32) -> u32 {
    debug_assert!(
        (-2048..2048).contains(&imm),
        "S immediate {imm} out of range"
    );
    let imm = imm as u32;
    (((imm >> 5) & 0x7f) << 25)
        | (rs2 << 20)
        | (rs1 << 15)
        | (funct3 << 12)
        | ((imm & 0x1f) << 7)
        | 0x23
}

/// A B-type instruction (13-bit signed, even offset).
pub fn b(funct3: u32, rs1: u32, rs2: u32, offset: i32) -> u32 {
    debug_assert!(
        (-4096..4096).contains(&offset) && offset % 2 == 0,
        "B offset {offset}"
    );
    let o = offset as u32;
    (((o >> 12) & 1) << 31)
        | (((o >> 5) & 0x3f) << 25)
        | (rs2 << 20)
        | (rs1 << 15)
        | (funct3 << 12)
        | (((o >> 1) & 0xf) << 8)
        | (((o >> 11) & 1) << 7)
        | 0x63
}

/// A U-type instruction; `imm` holds the upper 20 bits already shifted (low 12 bits zero).
pub fn u(opcode: u32, rd: u32, imm: u32) -> u32 {
    (imm & 0xffff_f000) | (rd << 7) | opcode
}

/// JAL with a 21-bit signed, even offset.
pub fn jal(rd: u32, offset: i32) -> u32 {
    debug_assert!(
        (-(1 << 20)..(1 << 20)).contains(&offset) && offset % 2 == 0,
        "J offset {offset}"
    );
    let o = offset as u32;
    (((o >> 20) & 1) << 31)
        | (((o >> 1) & 0x3ff) << 21)
        | (((o >> 11) & 1) << 20)
        | (((o >> 12) & 0xff) << 12)
        | (rd << 7)
        | 0x6f
}

/// JALR rd, imm(rs1).
pub fn jalr(rd: u32, rs1: u32, imm: i32) -> u32 {
    i(0x67, 0, rd, rs1, imm)
}

/// LUI rd, imm (upper 20 bits, already shifted).
pub fn lui(rd: u32, imm: u32) -> u32 {
    u(0x37, rd, imm)
}

/// AUIPC rd, imm (upper 20 bits, already shifted).
pub fn auipc(rd: u32, imm: u32) -> u32 {
    u(0x17, rd, imm)
}

/// ADDI rd, rs1, imm.
pub fn addi(rd: u32, rs1: u32, imm: i32) -> u32 {
    i(0x13, 0, rd, rs1, imm)
}

/// Load `value` into `rd` (LUI + ADDI, as the `li` pseudo-instruction expands).
pub fn li(rd: u32, value: u32) -> [u32; 2] {
    let low = ((value & 0xfff) as i32) << 20 >> 20; // sign-extended low 12 bits
    let high = value.wrapping_sub(low as u32);
    [lui(rd, high), addi(rd, rd, low)]
}

/// ECALL.
pub const ECALL: u32 = 0x0000_0073;
/// EBREAK.
pub const EBREAK: u32 = 0x0010_0073;

/// `exit(code in a0)`: ADDI a7, x0, 93 ; ECALL.
pub fn exit() -> [u32; 2] {
    [addi(17, 0, 93), ECALL]
}

/// A whole program: `rounds` (at least 1) rounds of six ALU instructions (ADDI, XOR, ADD,
/// OR, AND, ADDI) and a BNE, then `exit(x1)`. About `6 * rounds` ALU rows, for tests that
/// need an ALU trace of a given length.
pub fn alu_loop(rounds: u32) -> Vec<u32> {
    let mut code = li(3, rounds).to_vec();
    code.extend([
        addi(1, 1, 3),
        r(0x33, 4, 0, 2, 1, 3), // xor x2, x1, x3
        r(0x33, 0, 0, 1, 1, 2), // add x1, x1, x2
        r(0x33, 6, 0, 2, 2, 1), // or x2, x2, x1
        r(0x33, 7, 0, 1, 1, 2), // and x1, x1, x2
        addi(3, 3, -1),
        b(1, 3, 0, -24), // bne x3, x0, back to the first addi
    ]);
    code.push(addi(10, 1, 0));
    code.extend(exit());
    code
}

/// `read(0, x[base] + offset, len)`: private input into a buffer (guest ABI call 63; the
/// count read is left in a0). Overwrites a0, a1, a2 and a7.
pub fn read_input(base: u32, offset: i32, len: i32) -> [u32; 5] {
    syscall(63, 0, base, offset, len)
}

/// `write(fd, x[base] + offset, len)`: fd 1 is the public output, 2 the debug log (guest
/// ABI call 64). Overwrites a0, a1, a2 and a7.
pub fn write(fd: i32, base: u32, offset: i32, len: i32) -> [u32; 5] {
    syscall(64, fd, base, offset, len)
}

/// `field256(op, z = x[z], x = x[x], y = x[y])`: 256-bit modular arithmetic (guest ABI call
/// 0x100, [`crate::field256`]). Overwrites a0, a1, a2, a3 and a7 (in that order, so `z`, `x`
/// and `y` should not be a0..a3).
pub fn field256(op: u32, z: u32, x: u32, y: u32) -> [u32; 6] {
    [
        addi(17, 0, 0x100),
        addi(10, 0, op as i32),
        addi(11, z, 0),
        addi(12, x, 0),
        addi(13, y, 0),
        ECALL,
    ]
}

/// `keccakf(x[state])`: the Keccak-f[1600] permutation of the 200-byte state at x[state], in
/// place (guest ABI call 0x101, [`crate::keccak`]). Overwrites a0 and a7.
pub fn keccakf(state: u32) -> [u32; 3] {
    [addi(17, 0, 0x101), addi(10, state, 0), ECALL]
}

/// a7 = `number`, a0 = `a0`, a1 = x[base] + offset, a2 = `len`; ECALL.
fn syscall(number: i32, a0: i32, base: u32, offset: i32, len: i32) -> [u32; 5] {
    [
        addi(17, 0, number),
        addi(10, 0, a0),
        addi(11, base, offset),
        addi(12, 0, len),
        ECALL,
    ]
}
