//! Loading static RV32IM ELF files into a [`Program`].
//!
//! Only what the guest ABI allows is accepted: a little-endian ELF32 executable for RISC-V
//! whose `PT_LOAD` segments lie inside guest memory ([`crate::memory::RAM_START`] up to
//! [`crate::memory::RAM_END`]), do not overlap, and whose entry point is inside an executable
//! segment. Everything else is an [`ElfError`] naming what is wrong; nothing in here panics
//! on a malformed file.

use crate::memory::{RAM_END, RAM_START};
use crate::program::{Program, Segment};

/// Why a file is not a loadable guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file does not start with the ELF magic number.
    #[error("not an ELF file (bad magic number)")]
    NotElf,
    /// The file ends before a header or segment it declares.
    #[error("truncated ELF: {what} ends past the end of the file")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A 64-bit ELF.
    #[error("64-bit ELF: guests must be ELF32 (RV32IM)")]
    Not32Bit,
    /// A big-endian ELF.
    #[error("big-endian ELF: guests must be little-endian")]
    NotLittleEndian,
    /// An ELF for another architecture.
    #[error("ELF machine {machine} is not RISC-V (243)")]
    NotRiscV {
        /// The `e_machine` field.
        machine: u16,
    },
    /// Not an executable (`ET_EXEC`): shared objects and relocatable files are refused.
    #[error("ELF type {kind} is not a static executable (ET_EXEC = 2)")]
    NotExecutable {
        /// The `e_type` field.
        kind: u16,
    },
    /// Program headers of an unexpected size.
    #[error("bad program header size {size} (expected 32)")]
    BadProgramHeaderSize {
        /// The `e_phentsize` field.
        size: u16,
    },
    /// A segment asks for the dynamic loader or other run-time support.
    #[error("unsupported segment type {kind:#x}: guests must be static")]
    UnsupportedSegment {
        /// The `p_type` field.
        kind: u32,
    },
    /// A segment whose file size exceeds its memory size.
    #[error("segment at {vaddr:#010x}: file size {filesz} exceeds memory size {memsz}")]
    BadSegmentSize {
        /// Segment start.
        vaddr: u32,
        /// Bytes in the file.
        filesz: u32,
        /// Bytes in memory.
        memsz: u32,
    },
    /// A segment outside guest memory (or wrapping past 2^32).
    #[error(
        "segment {vaddr:#010x}..{end:#011x} leaves guest memory {RAM_START:#010x}..{RAM_END:#010x}"
    )]
    SegmentOutOfRange {
        /// Segment start.
        vaddr: u32,
        /// Segment end (exclusive; may exceed 32 bits).
        end: u64,
    },
    /// Two segments share addresses.
    #[error("segments at {first:#010x} and {second:#010x} overlap")]
    SegmentsOverlap {
        /// Start of the lower segment.
        first: u32,
        /// Start of the higher segment.
        second: u32,
    },
    /// An executable segment whose start or size is not a multiple of 4.
    #[error("executable segment at {vaddr:#010x} is not word-aligned")]
    MisalignedCode {
        /// Segment start.
        vaddr: u32,
    },
    /// No segment is executable.
    #[error("no executable segment")]
    NoCode,
    /// The entry point is not an aligned address inside an executable segment.
    #[error("entry point {entry:#010x} is not an aligned address inside an executable segment")]
    EntryOutsideCode {
        /// The `e_entry` field.
        entry: u32,
    },
    /// More code than the emulator's decoded-instruction table allows.
    #[error("code spans {bytes} bytes, more than the {max} bytes allowed")]
    CodeTooLarge {
        /// Span from the lowest to the highest executable address.
        bytes: u64,
        /// The limit.
        max: u64,
    },
}

const PT_LOAD: u32 = 1;
const PT_NULL: u32 = 0;
const PT_NOTE: u32 = 4;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PT_RISCV_ATTRIBUTES: u32 = 0x7000_0003;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const EM_RISCV: u16 = 243;
const ET_EXEC: u16 = 2;

/// The most code one program may span (64 MiB): bounds the decoded-instruction table.
pub const MAX_CODE_BYTES: u64 = 64 << 20;

fn read_u16(bytes: &[u8], at: usize, what: &'static str) -> Result<u16, ElfError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(ElfError::Truncated { what })
}

fn read_u32(bytes: &[u8], at: usize, what: &'static str) -> Result<u32, ElfError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ElfError::Truncated { what })
}

/// Parses an ELF file into a [`Program`].
pub fn load_elf(bytes: &[u8]) -> Result<Program, ElfError> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::NotElf);
    }
    match bytes.get(4) {
        Some(1) => {}
        Some(2) => return Err(ElfError::Not32Bit),
        _ => {
            return Err(ElfError::Truncated {
                what: "the ELF identification",
            });
        }
    }
    match bytes.get(5) {
        Some(1) => {}
        Some(_) => return Err(ElfError::NotLittleEndian),
        None => {
            return Err(ElfError::Truncated {
                what: "the ELF identification",
            });
        }
    }
    let kind = read_u16(bytes, 16, "the ELF header")?;
    let machine = read_u16(bytes, 18, "the ELF header")?;
    if machine != EM_RISCV {
        return Err(ElfError::NotRiscV { machine });
    }
    if kind != ET_EXEC {
        return Err(ElfError::NotExecutable { kind });
    }
    let entry = read_u32(bytes, 24, "the ELF header")?;
    let phoff = read_u32(bytes, 28, "the ELF header")? as usize;
    let phentsize = read_u16(bytes, 42, "the ELF header")?;
    let phnum = read_u16(bytes, 44, "the ELF header")? as usize;
    if phnum > 0 && phentsize != 32 {
        return Err(ElfError::BadProgramHeaderSize { size: phentsize });
    }

    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff.checked_add(i * 32).ok_or(ElfError::Truncated {
            what: "program headers",
        })?;
        let what = "program headers";
        let kind = read_u32(bytes, at, what)?;
        match kind {
            PT_LOAD => {}
            PT_NULL | PT_NOTE | PT_PHDR | PT_GNU_STACK | PT_GNU_RELRO | PT_RISCV_ATTRIBUTES => {
                continue;
            }
            other => return Err(ElfError::UnsupportedSegment { kind: other }),
        }
        let offset = read_u32(bytes, at + 4, what)? as usize;
        let vaddr = read_u32(bytes, at + 8, what)?;
        let filesz = read_u32(bytes, at + 16, what)?;
        let memsz = read_u32(bytes, at + 20, what)?;
        let flags = read_u32(bytes, at + 24, what)?;
        if memsz == 0 {
            continue;
        }
        if filesz > memsz {
            return Err(ElfError::BadSegmentSize {
                vaddr,
                filesz,
                memsz,
            });
        }
        let end = u64::from(vaddr) + u64::from(memsz);
        if vaddr < RAM_START || end > u64::from(RAM_END) {
            return Err(ElfError::SegmentOutOfRange { vaddr, end });
        }
        let data = offset
            .checked_add(filesz as usize)
            .and_then(|file_end| bytes.get(offset..file_end))
            .ok_or(ElfError::Truncated {
                what: "a segment's file data",
            })?;
        let executable = flags & PF_X != 0;
        if executable && (vaddr % 4 != 0) {
            return Err(ElfError::MisalignedCode { vaddr });
        }
        segments.push(Segment {
            vaddr,
            memsz,
            data: data.to_vec(),
            executable,
            writable: flags & PF_W != 0,
        });
    }
    segments.sort_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        if u64::from(pair[0].vaddr) + u64::from(pair[0].memsz) > u64::from(pair[1].vaddr) {
            return Err(ElfError::SegmentsOverlap {
                first: pair[0].vaddr,
                second: pair[1].vaddr,
            });
        }
    }
    Program::from_segments(entry, segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF32 RISC-V executable with the given segments `(vaddr, flags, data)`.
    pub(crate) fn build_elf(entry: u32, segments: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let phoff = 52u32;
        let data_start = phoff + 32 * segments.len() as u32;
        let mut out = vec![0u8; data_start as usize];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 1; // ELFCLASS32
        out[5] = 1; // little-endian
        out[6] = 1; // version
        out[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        out[18..20].copy_from_slice(&EM_RISCV.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..28].copy_from_slice(&entry.to_le_bytes());
        out[28..32].copy_from_slice(&phoff.to_le_bytes());
        out[40..42].copy_from_slice(&52u16.to_le_bytes());
        out[42..44].copy_from_slice(&32u16.to_le_bytes());
        out[44..46].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, (vaddr, flags, data)) in segments.iter().enumerate() {
            let offset = out.len() as u32;
            out.extend_from_slice(data);
            let ph = (phoff as usize) + 32 * i;
            let fields = [
                PT_LOAD,
                offset,
                *vaddr,
                *vaddr,
                data.len() as u32,
                data.len() as u32,
                *flags,
                4,
            ];
            for (j, field) in fields.iter().enumerate() {
                out[ph + 4 * j..ph + 4 * j + 4].copy_from_slice(&field.to_le_bytes());
            }
        }
        out
    }

    const ECALL: [u8; 4] = 0x0000_0073u32.to_le_bytes();

    #[test]
    fn loads_a_minimal_program() {
        let elf = build_elf(
            0x1_0000,
            &[(0x1_0000, PF_X | 4, &ECALL), (0x2_0000, PF_W | 4, b"data")],
        );
        let program = load_elf(&elf).unwrap();
        assert_eq!(program.entry, 0x1_0000);
        assert_eq!(program.segments.len(), 2);
    }

    #[test]
    fn refuses_what_is_not_a_guest() {
        assert_eq!(load_elf(b"hello world").unwrap_err(), ElfError::NotElf);
        assert_eq!(load_elf(b"").unwrap_err(), ElfError::NotElf);
        assert!(matches!(
            load_elf(b"\x7fELF").unwrap_err(),
            ElfError::Truncated { .. }
        ));

        let good = build_elf(0x1_0000, &[(0x1_0000, PF_X, &ECALL)]);
        let mut elf64 = good.clone();
        elf64[4] = 2;
        assert_eq!(load_elf(&elf64).unwrap_err(), ElfError::Not32Bit);
        let mut big = good.clone();
        big[5] = 2;
        assert_eq!(load_elf(&big).unwrap_err(), ElfError::NotLittleEndian);
        let mut x86 = good.clone();
        x86[18] = 3;
        x86[19] = 0;
        assert_eq!(
            load_elf(&x86).unwrap_err(),
            ElfError::NotRiscV { machine: 3 }
        );
        let mut shared = good.clone();
        shared[16] = 3;
        assert_eq!(
            load_elf(&shared).unwrap_err(),
            ElfError::NotExecutable { kind: 3 }
        );
        for len in 0..good.len() {
            assert!(
                load_elf(&good[..len]).is_err(),
                "truncated to {len} bytes must fail"
            );
        }
    }

    #[test]
    fn refuses_bad_segments() {
        let overlap = build_elf(
            0x1_0000,
            &[
                (0x1_0000, PF_X, &[0x73, 0, 0, 0, 0, 0, 0, 0]),
                (0x1_0004, 4, b"xx"),
            ],
        );
        assert!(matches!(
            load_elf(&overlap).unwrap_err(),
            ElfError::SegmentsOverlap { .. }
        ));
        let low = build_elf(0x10, &[(0x10, PF_X, &ECALL)]);
        assert!(matches!(
            load_elf(&low).unwrap_err(),
            ElfError::SegmentOutOfRange { .. }
        ));
        let high = build_elf(
            0x1_0000,
            &[(0x1_0000, PF_X, &ECALL), (0xFFFF_FFFE, 4, b"wrap")],
        );
        assert!(matches!(
            load_elf(&high).unwrap_err(),
            ElfError::SegmentOutOfRange { .. }
        ));
        let at_limit = build_elf(
            0x1_0000,
            &[(0x1_0000, PF_X, &ECALL), (RAM_END - 2, 4, b"xxxx")],
        );
        assert!(matches!(
            load_elf(&at_limit).unwrap_err(),
            ElfError::SegmentOutOfRange { .. }
        ));
        let entry_in_data = build_elf(
            0x2_0000,
            &[(0x1_0000, PF_X, &ECALL), (0x2_0000, 4, b"data")],
        );
        assert_eq!(
            load_elf(&entry_in_data).unwrap_err(),
            ElfError::EntryOutsideCode { entry: 0x2_0000 }
        );
        let unaligned_entry = build_elf(
            0x1_0002,
            &[(0x1_0000, PF_X, &[0x73, 0, 0, 0, 0x73, 0, 0, 0])],
        );
        assert!(matches!(
            load_elf(&unaligned_entry).unwrap_err(),
            ElfError::EntryOutsideCode { .. }
        ));
        let no_code = build_elf(0x1_0000, &[(0x1_0000, 4, b"data")]);
        assert!(matches!(
            load_elf(&no_code).unwrap_err(),
            ElfError::NoCode | ElfError::EntryOutsideCode { .. }
        ));
    }

    #[test]
    fn segment_data_past_end_of_file_is_truncation() {
        let mut elf = build_elf(0x1_0000, &[(0x1_0000, PF_X, &ECALL)]);
        // Claim 4 KiB of file data.
        let filesz_at = 52 + 16;
        elf[filesz_at..filesz_at + 4].copy_from_slice(&4096u32.to_le_bytes());
        elf[filesz_at + 4..filesz_at + 8].copy_from_slice(&4096u32.to_le_bytes());
        assert!(matches!(
            load_elf(&elf).unwrap_err(),
            ElfError::Truncated { .. }
        ));
    }
}
