//! The RV32IM interpreter and the guest ABI's system calls.
//!
//! One instruction is one cycle, including `ecall` (however many bytes it moves). The loop
//! dispatches on pre-decoded instructions ([`crate::decode`]); tracing is a type parameter,
//! so a plain run pays nothing for the trace code it does not use.

use std::fmt;

use crate::decode::{Instruction, Opcode};
use crate::field256::{self, Field256Op, Words};
use crate::keccak;
use crate::markers::{CycleMarker, parse_marker};
use crate::memory::Memory;
use crate::program::Program;
use crate::trace::{BoundaryState, IoEvent, MemoryAccess, SegmentRecorder, Step, TraceSegment};

/// `ecall` numbers (register a7), per the guest ABI.
pub mod syscall {
    /// Exit with code a0.
    pub const EXIT: u32 = 93;
    /// Read private input: a0 = 0, a1 = buffer, a2 = length; returns bytes read.
    pub const READ: u32 = 63;
    /// Write: a0 = 1 public output, a0 = 2 debug log; a1 = buffer, a2 = length.
    pub const WRITE: u32 = 64;
    /// File descriptor of the private input.
    pub const FD_INPUT: u32 = 0;
    /// File descriptor of the public output (committed by the proof).
    pub const FD_PUBLIC: u32 = 1;
    /// File descriptor of the debug log (not committed).
    pub const FD_DEBUG: u32 = 2;
    /// 256-bit modular arithmetic (`crate::field256`): a0 = operation, a1 = result,
    /// a2 = x, a3 = y (pointers to eight little-endian words, 4-byte aligned).
    pub const FIELD256: u32 = 0x100;
    /// The Keccak-f[1600] permutation (`crate::keccak`), in place: a0 = pointer to the
    /// 200-byte state (4-byte aligned, writable).
    pub const KECCAKF: u32 = 0x101;
}

/// The most bytes a guest may write to each of the public output and the debug log.
pub const MAX_OUTPUT_BYTES: usize = 64 << 20;

const A0: usize = 10;
const A1: usize = 11;
const A2: usize = 12;
const A3: usize = 13;
const A7: usize = 17;

/// Why execution stopped without the guest exiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecErrorKind {
    /// An encoding that is not RV32IM (CSR instructions included).
    IllegalInstruction,
    /// EBREAK: there is no debugger to trap to.
    Ebreak,
    /// An `ecall` number the ABI does not define.
    UnknownEcall {
        /// Value of a7.
        number: u32,
    },
    /// A read from a descriptor other than 0 or a write to one other than 1 and 2.
    BadFileDescriptor {
        /// The ecall number.
        ecall: u32,
        /// Value of a0.
        fd: u32,
    },
    /// A `field256` call whose a0 names no operation.
    BadOperation {
        /// The ecall number.
        ecall: u32,
        /// Value of a0.
        op: u32,
    },
    /// A load or store whose address is not a multiple of its size.
    MisalignedAccess {
        /// The address.
        addr: u32,
        /// Access size in bytes.
        size: u32,
    },
    /// An access outside guest memory.
    OutOfRange {
        /// First address.
        addr: u32,
        /// Length in bytes.
        len: u32,
    },
    /// A store into an executable segment (code is read-only).
    StoreToCode {
        /// The address.
        addr: u32,
    },
    /// A jump or taken branch to an address that is not a multiple of 4.
    MisalignedJump {
        /// The target.
        target: u32,
    },
    /// The pc left the executable segments.
    PcOutsideCode,
    /// The guest had not exited after the allowed number of cycles.
    CycleLimit {
        /// The limit.
        limit: u64,
    },
    /// The guest wrote more than [`MAX_OUTPUT_BYTES`] to one stream.
    OutputLimit {
        /// The stream's descriptor.
        fd: u32,
    },
}

impl fmt::Display for ExecErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IllegalInstruction => f.write_str("illegal instruction"),
            Self::Ebreak => f.write_str("ebreak"),
            Self::UnknownEcall { number } => write!(f, "unknown ecall {number}"),
            Self::BadFileDescriptor { ecall, fd } => {
                write!(f, "ecall {ecall}: bad file descriptor {fd}")
            }
            Self::BadOperation { ecall, op } => write!(f, "ecall {ecall}: unknown operation {op}"),
            Self::MisalignedAccess { addr, size } => {
                write!(f, "misaligned {size}-byte access at {addr:#010x}")
            }
            Self::OutOfRange { addr, len } => write!(
                f,
                "access of {len} bytes at {addr:#010x} is outside guest memory"
            ),
            Self::StoreToCode { addr } => write!(f, "store to code at {addr:#010x}"),
            Self::MisalignedJump { target } => {
                write!(f, "jump to misaligned address {target:#010x}")
            }
            Self::PcOutsideCode => f.write_str("pc outside code"),
            Self::CycleLimit { limit } => write!(f, "cycle limit of {limit} reached"),
            Self::OutputLimit { fd } => write!(
                f,
                "output limit of {MAX_OUTPUT_BYTES} bytes exceeded on descriptor {fd}"
            ),
        }
    }
}

/// An execution error, naming the pc and the instruction there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExecError {
    /// What went wrong.
    pub kind: ExecErrorKind,
    /// The pc of the instruction that failed (for the cycle limit: the next instruction).
    pub pc: u32,
    /// The instruction word at `pc`, if `pc` is inside code.
    pub instruction: Option<u32>,
    /// Cycles completed before the failure.
    pub cycle: u64,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at pc {:#010x}", self.kind, self.pc)?;
        if let Some(word) = self.instruction {
            write!(f, " (instruction {word:#010x})")?;
        }
        write!(f, " after {} cycles", self.cycle)
    }
}

/// Register index that instructions writing x0 write to instead (see [`Program`]'s code).
pub(crate) const X0_SINK: u8 = 32;

/// Checks a `size`-byte load or store at `addr`: naturally aligned and inside guest memory.
#[inline(always)]
fn check_access(addr: u32, size: u32) -> Result<(), ExecErrorKind> {
    if !addr.is_multiple_of(size) {
        return Err(ExecErrorKind::MisalignedAccess { addr, size });
    }
    if !Memory::in_range(addr, size) {
        return Err(ExecErrorKind::OutOfRange { addr, len: size });
    }
    Ok(())
}

/// Receives what a traced run records. A plain run uses [`NoTrace`].
pub(crate) trait Tracer {
    /// Whether anything is recorded: when false, the interpreter skips all trace code.
    const ENABLED: bool;
    /// One executed instruction.
    fn step(&mut self, step: Step);
    /// One memory access, at cycle `cycle`.
    fn memory(&mut self, access: MemoryAccess);
    /// One input or output system call.
    fn io(&mut self, event: IoEvent);
}

/// Records nothing.
pub(crate) struct NoTrace;

impl Tracer for NoTrace {
    const ENABLED: bool = false;
    #[inline(always)]
    fn step(&mut self, _: Step) {}
    #[inline(always)]
    fn memory(&mut self, _: MemoryAccess) {}
    #[inline(always)]
    fn io(&mut self, _: IoEvent) {}
}

/// A running guest: registers, pc, memory, and its input and output streams.
pub struct Executor<'p> {
    program: &'p Program,
    /// x0..x31, then [`X0_SINK`]: writes to x0 are decoded to go there, so x0 reads zero
    /// without a store after every instruction. The rest is padding for cheap masking.
    regs: [u32; 64],
    pc: u32,
    memory: Memory,
    cycles: u64,
    input: Vec<u8>,
    input_offset: usize,
    public_output: Vec<u8>,
    debug_output: Vec<u8>,
    /// Debug-log writes that were cycle markers ([`crate::markers`]), in cycle order.
    cycle_markers: Vec<CycleMarker>,
    /// Bytes of those writes: they count towards the debug log's [`MAX_OUTPUT_BYTES`].
    marker_bytes: usize,
    exit_code: Option<u32>,
    precompile_calls: PrecompileCalls,
}

/// How many times a run called each precompile: what the prover's memory planner needs
/// beyond the cycle count (a `keccakf` call is one cycle but 24 rows of a 2,633-column
/// chip).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrecompileCalls {
    /// `field256` calls (0x100).
    pub field256: u64,
    /// `keccakf` calls (0x101).
    pub keccakf: u64,
}

impl<'p> Executor<'p> {
    /// Loads `program` into fresh memory with `input` as its private input. All registers
    /// start at zero and the pc at the entry point.
    pub fn new(program: &'p Program, input: Vec<u8>) -> Self {
        let mut memory = Memory::new();
        for segment in &program.segments {
            memory.store_bytes(segment.vaddr, &segment.data);
        }
        Executor {
            program,
            regs: [0; 64],
            pc: program.entry,
            memory,
            cycles: 0,
            input,
            input_offset: 0,
            public_output: Vec::new(),
            debug_output: Vec::new(),
            cycle_markers: Vec::new(),
            marker_bytes: 0,
            exit_code: None,
            precompile_calls: PrecompileCalls::default(),
        }
    }

    /// Cycles executed so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// The current pc.
    pub fn pc(&self) -> u32 {
        self.pc
    }

    /// The registers x0..x31.
    pub fn registers(&self) -> &[u32; 32] {
        self.regs[..32]
            .try_into()
            .expect("32 architectural registers")
    }

    /// The guest's memory.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Everything written to the public output so far.
    pub fn public_output(&self) -> &[u8] {
        &self.public_output
    }

    /// Everything written to the debug log so far, except cycle markers.
    pub fn debug_output(&self) -> &[u8] {
        &self.debug_output
    }

    /// The cycle markers the guest has written to the debug log so far, in cycle order
    /// (see [`crate::markers`]; [`crate::markers::attribute_cycles`] turns them into cycles
    /// per tag).
    pub fn cycle_markers(&self) -> &[CycleMarker] {
        &self.cycle_markers
    }

    /// Precompile calls executed so far.
    pub fn precompile_calls(&self) -> PrecompileCalls {
        self.precompile_calls
    }

    /// The exit code, once the guest has exited.
    pub fn exit_code(&self) -> Option<u32> {
        self.exit_code
    }

    /// Runs until the guest exits (returning its exit code) or fails, for at most
    /// `max_cycles` cycles in total.
    pub fn run(&mut self, max_cycles: u64) -> Result<u32, ExecError> {
        self.execute(&mut NoTrace, max_cycles, u64::MAX)
    }

    /// Runs like [`Executor::run`] while recording the trace, handing it to `sink` one
    /// segment of `segment_cycles` cycles at a time (the last one may be shorter). At most
    /// one segment's trace is held in memory: its buffers are reused for the next segment,
    /// so a sink that keeps a segment clones it. Segments are numbered from the executor's
    /// current cycle, which should be 0.
    pub fn run_traced(
        &mut self,
        max_cycles: u64,
        segment_cycles: u64,
        mut sink: impl FnMut(&TraceSegment),
    ) -> Result<u32, ExecError> {
        let segment_cycles = segment_cycles.max(1);
        let mut recorder = SegmentRecorder::new(self.boundary(), segment_cycles);
        loop {
            let next_cut = (self.cycles / segment_cycles + 1) * segment_cycles;
            let result = self.execute(&mut recorder, max_cycles, next_cut);
            match result {
                Err(ExecError {
                    kind: ExecErrorKind::CycleLimit { limit },
                    ..
                }) if limit == next_cut && next_cut < max_cycles => {
                    let boundary = self.boundary();
                    sink(recorder.cut(boundary));
                    recorder.start_next();
                }
                Ok(code) => {
                    let boundary = self.boundary();
                    sink(recorder.cut(boundary));
                    return Ok(code);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The machine state at the current cycle, with a digest of memory.
    pub fn boundary(&mut self) -> BoundaryState {
        BoundaryState {
            cycle: self.cycles,
            pc: self.pc,
            registers: *self.registers(),
            memory_digest: self.memory.digest(),
            input_offset: self.input_offset as u64,
            public_output_len: self.public_output.len() as u64,
        }
    }

    fn error(&self, kind: ExecErrorKind, pc: u32) -> ExecError {
        ExecError {
            kind,
            pc,
            instruction: self.program.instruction_word(pc),
            cycle: self.cycles,
        }
    }

    /// The interpreter loop: runs until exit, an error, or `min(max_cycles, pause_at)`
    /// cycles (reported as a cycle-limit error carrying that number).
    #[inline(never)]
    fn execute<T: Tracer>(
        &mut self,
        tracer: &mut T,
        max_cycles: u64,
        pause_at: u64,
    ) -> Result<u32, ExecError> {
        if let Some(code) = self.exit_code {
            return Ok(code);
        }
        let program: &'p Program = self.program;
        let code: &[Instruction] = &program.code;
        let words: &[u32] = &program.words;
        let code_start = program.code_start;
        let code_end = program.code_end();
        let stop_at = max_cycles.min(pause_at);
        // The loop tracks the instruction's index in `code`; the pc is derived from it where
        // needed, which saves a subtract and a shift per instruction.
        let mut index = (self.pc.wrapping_sub(code_start) >> 2) as usize;
        let mut cycles = self.cycles;

        loop {
            let pc = code_start.wrapping_add((index as u32) << 2);
            macro_rules! fail {
                ($kind:expr) => {{
                    self.pc = pc;
                    self.cycles = cycles;
                    return Err(self.error($kind, pc));
                }};
            }
            if cycles >= stop_at {
                fail!(ExecErrorKind::CycleLimit { limit: stop_at });
            }
            let Some(&insn) = code.get(index) else {
                fail!(ExecErrorKind::PcOutsideCode)
            };
            // Indices are masked so the compiler drops the bounds checks (they are < 32 anyway).
            let a = self.regs[(insn.rs1 & 31) as usize];
            let b = self.regs[(insn.rs2 & 31) as usize];
            let imm = insn.imm as u32;
            let mut next_index = index + 1;

            macro_rules! jump_to {
                ($target:expr) => {{
                    let target: u32 = $target;
                    if target % 4 != 0 {
                        fail!(ExecErrorKind::MisalignedJump { target });
                    }
                    next_index = (target.wrapping_sub(code_start) >> 2) as usize;
                }};
            }
            macro_rules! load {
                ($size:expr, $extract:expr) => {{
                    let addr = a.wrapping_add(imm);
                    if let Err(kind) = check_access(addr, $size) {
                        fail!(kind);
                    }
                    let word = self.memory.load_word(addr & !3);
                    if T::ENABLED {
                        tracer.memory(MemoryAccess {
                            cycle: cycles,
                            addr: addr & !3,
                            value: word,
                            write: false,
                        });
                    }
                    let shifted = word >> ((addr & 3) * 8);
                    Some($extract(shifted))
                }};
            }
            macro_rules! store {
                ($size:expr, $mask:expr) => {{
                    let addr = a.wrapping_add(imm);
                    if let Err(kind) = check_access(addr, $size) {
                        fail!(kind);
                    }
                    if addr >= code_start
                        && addr < code_end
                        && program.first_code_byte(addr, 1).is_some()
                    {
                        fail!(ExecErrorKind::StoreToCode { addr });
                    }
                    let word_addr = addr & !3;
                    let shift = (addr & 3) * 8;
                    let mask: u32 = $mask << shift;
                    let old = self.memory.load_word(word_addr);
                    let new = (old & !mask) | ((b << shift) & mask);
                    self.memory.store_word(word_addr, new);
                    if T::ENABLED {
                        tracer.memory(MemoryAccess {
                            cycle: cycles,
                            addr: word_addr,
                            value: new,
                            write: true,
                        });
                    }
                    None
                }};
            }

            let rd_value: Option<u32> = match insn.opcode {
                Opcode::Lui => Some(imm),
                Opcode::Auipc => Some(pc.wrapping_add(imm)),
                Opcode::Jal => {
                    jump_to!(pc.wrapping_add(imm));
                    Some(pc.wrapping_add(4))
                }
                Opcode::Jalr => {
                    jump_to!(a.wrapping_add(imm) & !1);
                    Some(pc.wrapping_add(4))
                }
                Opcode::Beq => {
                    if a == b {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Bne => {
                    if a != b {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Blt => {
                    if (a as i32) < (b as i32) {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Bge => {
                    if (a as i32) >= (b as i32) {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Bltu => {
                    if a < b {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Bgeu => {
                    if a >= b {
                        jump_to!(pc.wrapping_add(imm));
                    }
                    None
                }
                Opcode::Lb => load!(1, |v: u32| v as u8 as i8 as i32 as u32),
                Opcode::Lh => load!(2, |v: u32| v as u16 as i16 as i32 as u32),
                Opcode::Lw => load!(4, |v: u32| v),
                Opcode::Lbu => load!(1, |v: u32| v & 0xff),
                Opcode::Lhu => load!(2, |v: u32| v & 0xffff),
                Opcode::Sb => store!(1, 0xff),
                Opcode::Sh => store!(2, 0xffff),
                Opcode::Sw => store!(4, 0xffff_ffff),
                Opcode::Addi => Some(a.wrapping_add(imm)),
                Opcode::Slti => Some(((a as i32) < (imm as i32)) as u32),
                Opcode::Sltiu => Some((a < imm) as u32),
                Opcode::Xori => Some(a ^ imm),
                Opcode::Ori => Some(a | imm),
                Opcode::Andi => Some(a & imm),
                Opcode::Slli => Some(a << (imm & 31)),
                Opcode::Srli => Some(a >> (imm & 31)),
                Opcode::Srai => Some(((a as i32) >> (imm & 31)) as u32),
                Opcode::Add => Some(a.wrapping_add(b)),
                Opcode::Sub => Some(a.wrapping_sub(b)),
                Opcode::Sll => Some(a << (b & 31)),
                Opcode::Slt => Some(((a as i32) < (b as i32)) as u32),
                Opcode::Sltu => Some((a < b) as u32),
                Opcode::Xor => Some(a ^ b),
                Opcode::Srl => Some(a >> (b & 31)),
                Opcode::Sra => Some(((a as i32) >> (b & 31)) as u32),
                Opcode::Or => Some(a | b),
                Opcode::And => Some(a & b),
                Opcode::Mul => Some(a.wrapping_mul(b)),
                Opcode::Mulh => Some(((i64::from(a as i32) * i64::from(b as i32)) >> 32) as u32),
                Opcode::Mulhsu => Some(((i64::from(a as i32) * i64::from(b)) >> 32) as u32),
                Opcode::Mulhu => Some(((u64::from(a) * u64::from(b)) >> 32) as u32),
                Opcode::Div => Some(match (a as i32, b as i32) {
                    (_, 0) => u32::MAX,
                    (x, y) => x.wrapping_div(y) as u32,
                }),
                Opcode::Divu => Some(a.checked_div(b).unwrap_or(u32::MAX)),
                Opcode::Rem => Some(match (a as i32, b as i32) {
                    (x, 0) => x as u32,
                    (x, y) => x.wrapping_rem(y) as u32,
                }),
                Opcode::Remu => Some(if b == 0 { a } else { a % b }),
                Opcode::Fence => None,
                Opcode::Ecall => {
                    self.pc = pc;
                    self.cycles = cycles;
                    match self.ecall(tracer) {
                        Ok(Some(code)) => {
                            if T::ENABLED {
                                tracer.step(Step {
                                    pc,
                                    instruction: words[index],
                                    rs1: a,
                                    rs2: b,
                                    rd: 0,
                                });
                            }
                            self.cycles = cycles + 1;
                            self.exit_code = Some(code);
                            return Ok(code);
                        }
                        Ok(None) => None,
                        Err(kind) => fail!(kind),
                    }
                }
                Opcode::Ebreak => fail!(ExecErrorKind::Ebreak),
                Opcode::Illegal => fail!(ExecErrorKind::IllegalInstruction),
            };
            if let Some(value) = rd_value {
                self.regs[(insn.rd & 63) as usize] = value;
            }
            if T::ENABLED {
                // `& 31` maps the x0 sink back to x0, which reads zero.
                let rd = self.regs[(insn.rd & 31) as usize];
                tracer.step(Step {
                    pc,
                    instruction: words[index],
                    rs1: a,
                    rs2: b,
                    rd,
                });
            }
            index = next_index;
            cycles += 1;
        }
    }

    /// Performs the `ecall` at the current pc; returns the exit code if the guest exited.
    #[cold]
    fn ecall<T: Tracer>(&mut self, tracer: &mut T) -> Result<Option<u32>, ExecErrorKind> {
        let number = self.regs[A7];
        let (fd, addr, len) = (self.regs[A0], self.regs[A1], self.regs[A2]);
        let cycle = self.cycles;
        match number {
            syscall::EXIT => {
                if T::ENABLED {
                    tracer.io(IoEvent {
                        cycle,
                        ecall: number,
                        fd,
                        addr: 0,
                        len: 0,
                    });
                }
                Ok(Some(fd))
            }
            syscall::READ => {
                if fd != syscall::FD_INPUT {
                    return Err(ExecErrorKind::BadFileDescriptor { ecall: number, fd });
                }
                let remaining = self.input.len() - self.input_offset;
                let count = (len as usize).min(remaining) as u32;
                if count > 0 {
                    self.check_writable(addr, count)?;
                    let start = self.input_offset;
                    let bytes = &self.input[start..start + count as usize];
                    self.memory.store_bytes(addr, bytes);
                    if T::ENABLED {
                        for word_addr in (addr & !3..addr + count).step_by(4) {
                            let value = self.memory.load_word(word_addr);
                            tracer.memory(MemoryAccess {
                                cycle,
                                addr: word_addr,
                                value,
                                write: true,
                            });
                        }
                    }
                    self.input_offset += count as usize;
                }
                if T::ENABLED {
                    tracer.io(IoEvent {
                        cycle,
                        ecall: number,
                        fd,
                        addr,
                        len: count,
                    });
                }
                self.regs[A0] = count;
                Ok(None)
            }
            syscall::WRITE => {
                let current = match fd {
                    syscall::FD_PUBLIC => self.public_output.len(),
                    syscall::FD_DEBUG => self.debug_output.len() + self.marker_bytes,
                    _ => return Err(ExecErrorKind::BadFileDescriptor { ecall: number, fd }),
                };
                if len > 0 && !Memory::in_range(addr, len) {
                    return Err(ExecErrorKind::OutOfRange { addr, len });
                }
                if current + len as usize > MAX_OUTPUT_BYTES {
                    return Err(ExecErrorKind::OutputLimit { fd });
                }
                let bytes = self.memory.load_bytes(addr, len);
                if T::ENABLED && len > 0 {
                    for word_addr in (addr & !3..addr + len).step_by(4) {
                        let value = self.memory.load_word(word_addr);
                        tracer.memory(MemoryAccess {
                            cycle,
                            addr: word_addr,
                            value,
                            write: false,
                        });
                    }
                    tracer.io(IoEvent {
                        cycle,
                        ecall: number,
                        fd,
                        addr,
                        len,
                    });
                }
                if fd == syscall::FD_PUBLIC {
                    self.public_output.extend_from_slice(&bytes);
                } else if let Some(tag) = parse_marker(&bytes) {
                    self.cycle_markers.push(CycleMarker {
                        cycle,
                        tag: tag.to_owned(),
                    });
                    self.marker_bytes += bytes.len();
                } else {
                    self.debug_output.extend_from_slice(&bytes);
                }
                self.regs[A0] = len;
                Ok(None)
            }
            syscall::FIELD256 => {
                self.field256(tracer)?;
                self.precompile_calls.field256 += 1;
                Ok(None)
            }
            syscall::KECCAKF => {
                self.keccakf(tracer)?;
                self.precompile_calls.keccakf += 1;
                Ok(None)
            }
            other => Err(ExecErrorKind::UnknownEcall { number: other }),
        }
    }

    /// The `field256` call: `*a1 = (*a2 op *a3) mod m` for the operation in a0. Both inputs
    /// are read before the result is written, so the three may overlap.
    fn field256<T: Tracer>(&mut self, tracer: &mut T) -> Result<(), ExecErrorKind> {
        let code = self.regs[A0];
        let op = Field256Op::from_code(code).ok_or(ExecErrorKind::BadOperation {
            ecall: syscall::FIELD256,
            op: code,
        })?;
        let (z_addr, x_addr, y_addr) = (self.regs[A1], self.regs[A2], self.regs[A3]);
        for addr in [x_addr, y_addr, z_addr] {
            if !addr.is_multiple_of(4) {
                return Err(ExecErrorKind::MisalignedAccess { addr, size: 4 });
            }
        }
        for addr in [x_addr, y_addr] {
            if !Memory::in_range(addr, 32) {
                return Err(ExecErrorKind::OutOfRange { addr, len: 32 });
            }
        }
        self.check_writable(z_addr, 32)?;
        let load = |memory: &Memory, addr: u32| -> Words {
            core::array::from_fn(|k| memory.load_word(addr + 4 * k as u32))
        };
        let (x, y) = (load(&self.memory, x_addr), load(&self.memory, y_addr));
        let z = field256::compute(op, &x, &y).z;
        if T::ENABLED {
            for (addr, words, write) in
                [(x_addr, &x, false), (y_addr, &y, false), (z_addr, &z, true)]
            {
                trace_span(tracer, self.cycles, addr, words, write);
            }
        }
        self.store_span(z_addr, &z);
        Ok(())
    }

    /// The `keccakf` call: the Keccak-f[1600] permutation of the state at a0, in place (its
    /// 50 words are read, then written, in one cycle).
    fn keccakf<T: Tracer>(&mut self, tracer: &mut T) -> Result<(), ExecErrorKind> {
        let addr = self.regs[A0];
        if !addr.is_multiple_of(4) {
            return Err(ExecErrorKind::MisalignedAccess { addr, size: 4 });
        }
        self.check_writable(addr, keccak::STATE_BYTES)?;
        let words: [u32; keccak::STATE_WORDS as usize] =
            core::array::from_fn(|k| self.memory.load_word(addr + 4 * k as u32));
        let mut state = keccak::state_from_words(&words);
        keccak::permute(&mut state);
        let permuted = keccak::state_to_words(&state);
        if T::ENABLED {
            trace_span(tracer, self.cycles, addr, &words, false);
            trace_span(tracer, self.cycles, addr, &permuted, true);
        }
        self.store_span(addr, &permuted);
        Ok(())
    }

    /// Stores consecutive words from `addr` (a precompile's result).
    fn store_span(&mut self, addr: u32, words: &[u32]) {
        for (k, &value) in words.iter().enumerate() {
            self.memory.store_word(addr + 4 * k as u32, value);
        }
    }

    fn check_writable(&self, addr: u32, len: u32) -> Result<(), ExecErrorKind> {
        if !Memory::in_range(addr, len) {
            return Err(ExecErrorKind::OutOfRange { addr, len });
        }
        if let Some(first) = self.program.first_code_byte(addr, len) {
            return Err(ExecErrorKind::StoreToCode { addr: first });
        }
        Ok(())
    }
}

/// Records a precompile's accesses of consecutive words from `addr`, all in `cycle`.
fn trace_span<T: Tracer>(tracer: &mut T, cycle: u64, addr: u32, words: &[u32], write: bool) {
    for (k, &value) in words.iter().enumerate() {
        tracer.memory(MemoryAccess {
            cycle,
            addr: addr + 4 * k as u32,
            value,
            write,
        });
    }
}

impl Tracer for SegmentRecorder {
    const ENABLED: bool = true;
    #[inline(always)]
    fn step(&mut self, step: Step) {
        self.segment.steps.push(step);
    }
    #[inline(always)]
    fn memory(&mut self, access: MemoryAccess) {
        self.segment.memory.push(access);
    }
    fn io(&mut self, event: IoEvent) {
        self.segment.io.push(event);
    }
}
