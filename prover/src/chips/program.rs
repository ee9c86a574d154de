//! The program table: every code word of the ELF, decoded, as preprocessed columns.
//!
//! Its commitment is part of the verifying key, so a proof is a proof about one program:
//! instruction rows can only execute what this table holds at their pc. The single main
//! column counts how many times each instruction ran. A last preprocessed column flags the
//! entry point's row; in the proof of a run's first segment (or a whole run) the table
//! receives that pc once on the entry bus, which the boundary chip sends its starting pc on,
//! so the entry is bound by the verifying key too.

use std::sync::Arc;

use p3_air::{Air, AirBuilder, BaseAir};
use p3_field::Field;
use p3_lookup::InteractionBuilder;
use p3_matrix::dense::RowMajorMatrix;
use zkbox_executor::Program;
use zkbox_executor::decode::{Instruction, Opcode, decode};

use p3_lookup::Count;

use super::{ENTRY, PROGRAM};

/// Width of an instruction's key: pc, op, rd, rs1, rs2, imm bytes (4), imm as field, rd_nz.
pub const PROGRAM_WIDTH: usize = 11;
/// Preprocessed width: the key, then the entry flag.
pub const PROGRAM_PREPROCESSED_WIDTH: usize = PROGRAM_WIDTH + 1;

/// The op id the program table stores for an opcode (0 is reserved for padding rows).
pub const fn op_id(opcode: Opcode) -> u32 {
    opcode as u32 + 1
}

/// Whether an opcode writes rd.
pub const fn writes_rd(opcode: Opcode) -> bool {
    use Opcode::*;
    !matches!(
        opcode,
        Beq | Bne | Blt | Bge | Bltu | Bgeu | Sb | Sh | Sw | Fence | Ecall | Ebreak | Illegal
    )
}

/// The decoded code of a program, one row per code word.
#[derive(Debug, Clone)]
pub struct ProgramTable {
    /// Address of the first code word.
    pub code_start: u32,
    /// Decoded instructions, one per code word from `code_start`.
    pub instructions: Vec<Instruction>,
    /// Program entry point.
    pub entry: u32,
}

impl ProgramTable {
    /// Decodes every word of the program's executable segments.
    pub fn new(program: &Program) -> ProgramTable {
        let code: Vec<_> = program.segments.iter().filter(|s| s.executable).collect();
        let code_start = code.first().map_or(0, |s| s.vaddr);
        let code_end = code.last().map_or(0, |s| s.vaddr + s.memsz);
        let words = (code_end - code_start).div_ceil(4) as usize;
        let instructions = (0..words)
            .map(|i| {
                let pc = code_start + 4 * i as u32;
                program
                    .instruction_word(pc)
                    .map_or(Instruction::ILLEGAL, decode)
            })
            .collect();
        ProgramTable {
            code_start,
            instructions,
            entry: program.entry,
        }
    }

    /// Row index of the instruction at `pc`, if it is a code address.
    pub fn row(&self, pc: u32) -> Option<usize> {
        let offset = pc.checked_sub(self.code_start)?;
        let row = (offset / 4) as usize;
        (offset % 4 == 0 && row < self.instructions.len()).then_some(row)
    }

    /// Trace height: the code words rounded up to a power of two (at least 4).
    pub fn height(&self) -> usize {
        self.instructions.len().next_power_of_two().max(4)
    }

    /// The key an instruction row presents for `instruction` at `pc`.
    pub fn key<F: Field>(pc: u32, instruction: &Instruction) -> [F; PROGRAM_WIDTH] {
        let imm = (instruction.imm as u32).to_le_bytes();
        let rd_nz = writes_rd(instruction.opcode) && instruction.rd != 0;
        [
            F::from_u32(pc),
            F::from_u32(op_id(instruction.opcode)),
            F::from_u8(instruction.rd),
            F::from_u8(instruction.rs1),
            F::from_u8(instruction.rs2),
            F::from_u8(imm[0]),
            F::from_u8(imm[1]),
            F::from_u8(imm[2]),
            F::from_u8(imm[3]),
            F::from_i32(instruction.imm),
            F::from_bool(rd_nz),
        ]
    }

    fn preprocessed<F: Field>(&self) -> RowMajorMatrix<F> {
        const W: usize = PROGRAM_PREPROCESSED_WIDTH;
        let mut values = F::zero_vec(self.height() * W);
        for (i, instruction) in self.instructions.iter().enumerate() {
            let pc = self.code_start + 4 * i as u32;
            values[i * W..i * W + PROGRAM_WIDTH].copy_from_slice(&Self::key::<F>(pc, instruction));
            values[i * W + PROGRAM_WIDTH] = F::from_bool(pc == self.entry);
        }
        RowMajorMatrix::new(values, W)
    }
}

/// The program table chip. Main trace: one column, the execution count of each row.
#[derive(Debug, Clone)]
pub struct ProgramChip {
    /// The decoded program.
    pub table: Arc<ProgramTable>,
    /// Whether this proof starts the run (a whole run, or its first segment): then the
    /// entry row is received on the entry bus.
    pub starts_run: bool,
}

impl<F: Field> BaseAir<F> for ProgramChip {
    fn width(&self) -> usize {
        1
    }
    fn preprocessed_trace(&self) -> Option<RowMajorMatrix<F>> {
        Some(self.table.preprocessed())
    }
    fn preprocessed_width(&self) -> usize {
        PROGRAM_PREPROCESSED_WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
    fn preprocessed_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: AirBuilder + InteractionBuilder> Air<AB> for ProgramChip
where
    AB::F: Field,
{
    fn eval(&self, builder: &mut AB) {
        let prep = builder.preprocessed();
        let row = p3_air::WindowAccess::current_slice(prep);
        let key: Vec<AB::Expr> = row[..PROGRAM_WIDTH].iter().map(|&v| v.into()).collect();
        let pc: AB::Expr = row[0].into();
        let entry: AB::Expr = row[PROGRAM_WIDTH].into();
        let main = builder.main();
        let count: AB::Expr = p3_air::WindowAccess::current_slice(&main)[0].into();
        PROGRAM.table_entry(builder, key, count);
        if self.starts_run {
            ENTRY.receive(builder, [pc], Count::bounded(entry, 1));
        }
    }
}
