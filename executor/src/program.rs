//! A loaded guest program: its memory image and its decoded code.

use crate::decode::{Instruction, decode};
use crate::elf::{ElfError, MAX_CODE_BYTES};

/// One loadable segment of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First address.
    pub vaddr: u32,
    /// Bytes in memory; bytes past `data` are zero.
    pub memsz: u32,
    /// Initial contents (the file's bytes).
    pub data: Vec<u8>,
    /// Holds code: instructions are fetched only from executable segments, and executable
    /// segments are read-only to the guest.
    pub executable: bool,
    /// Declared writable by the ELF (informational: non-code memory is always writable).
    pub writable: bool,
}

/// A guest program ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Address of the first instruction.
    pub entry: u32,
    /// Loadable segments, sorted by address, not overlapping.
    pub segments: Vec<Segment>,
    /// First code address (lowest executable segment start).
    pub(crate) code_start: u32,
    /// Decoded instruction for each word from `code_start`; gaps decode as illegal; `rd = 0`
    /// is rewritten to the interpreter's x0 sink.
    pub(crate) code: Vec<Instruction>,
    /// Raw instruction words, parallel to `code` (for traces and error messages).
    pub(crate) words: Vec<u32>,
    /// The executable segments' word-aligned byte ranges `[start, end)`, sorted: the
    /// read-only memory. Gaps between them (and non-executable segments that lie between
    /// them) are ordinary writable memory, as the prover's memory image has it.
    pub(crate) code_ranges: Vec<(u32, u32)>,
}

impl Program {
    /// Builds a program from already-validated segments (see [`crate::load_elf`]).
    pub fn from_segments(entry: u32, segments: Vec<Segment>) -> Result<Program, ElfError> {
        let code_segments: Vec<&Segment> = segments.iter().filter(|s| s.executable).collect();
        let (Some(first), Some(last)) = (code_segments.first(), code_segments.last()) else {
            return Err(ElfError::NoCode);
        };
        let code_start = first.vaddr;
        let code_end = u64::from(last.vaddr) + u64::from(last.memsz);
        let span = code_end - u64::from(code_start);
        if span > MAX_CODE_BYTES {
            return Err(ElfError::CodeTooLarge {
                bytes: span,
                max: MAX_CODE_BYTES,
            });
        }
        let mut words = vec![0u32; span.div_ceil(4) as usize];
        let mut code = vec![Instruction::ILLEGAL; words.len()];
        for segment in &code_segments {
            let base = ((segment.vaddr - code_start) / 4) as usize;
            for i in 0..(segment.memsz as usize).div_ceil(4) {
                let mut bytes = [0u8; 4];
                for (j, byte) in bytes.iter_mut().enumerate() {
                    *byte = segment.data.get(4 * i + j).copied().unwrap_or(0);
                }
                let word = u32::from_le_bytes(bytes);
                words[base + i] = word;
                let mut instruction = decode(word);
                if instruction.rd == 0 {
                    // Results for x0 go to a register nothing reads (the interpreter's sink).
                    instruction.rd = crate::machine::X0_SINK;
                }
                code[base + i] = instruction;
            }
        }
        let entry_ok = entry.is_multiple_of(4)
            && code_segments.iter().any(|s| {
                entry >= s.vaddr && u64::from(entry) < u64::from(s.vaddr) + u64::from(s.memsz)
            });
        if !entry_ok {
            return Err(ElfError::EntryOutsideCode { entry });
        }
        let code_ranges = code_segments
            .iter()
            .map(|s| {
                let start = s.vaddr & !3;
                let words = u64::from(s.memsz).div_ceil(4);
                (start, (u64::from(start) + 4 * words) as u32)
            })
            .collect();
        Ok(Program {
            entry,
            segments,
            code_start,
            code,
            words,
            code_ranges,
        })
    }

    /// A program whose only segment is `words` of code at `base`, entered at `base`: for
    /// tests and tools that assemble instructions directly.
    pub fn from_words(base: u32, words: &[u32]) -> Result<Program, ElfError> {
        let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let memsz = u32::try_from(data.len()).map_err(|_| ElfError::CodeTooLarge {
            bytes: data.len() as u64,
            max: MAX_CODE_BYTES,
        })?;
        let end = u64::from(base) + u64::from(memsz);
        if !crate::memory::Memory::in_range(base, memsz) || !base.is_multiple_of(4) {
            return Err(ElfError::SegmentOutOfRange { vaddr: base, end });
        }
        let segment = Segment {
            vaddr: base,
            memsz,
            data,
            executable: true,
            writable: false,
        };
        Program::from_segments(base, vec![segment])
    }

    /// The first code byte in `[addr, addr + len)` (`len` ≥ 1, inside guest memory), if any.
    pub(crate) fn first_code_byte(&self, addr: u32, len: u32) -> Option<u32> {
        let last = addr + (len - 1);
        self.code_ranges
            .iter()
            .filter(|&&(start, end)| addr < end && last >= start)
            .map(|&(start, _)| start.max(addr))
            .min()
    }

    /// One past the last code address.
    pub(crate) fn code_end(&self) -> u32 {
        self.code_start + 4 * self.code.len() as u32
    }

    /// The raw instruction word at `pc`, if `pc` is a code address.
    pub fn instruction_word(&self, pc: u32) -> Option<u32> {
        let index = pc.checked_sub(self.code_start)? / 4;
        self.words.get(index as usize).copied()
    }
}
