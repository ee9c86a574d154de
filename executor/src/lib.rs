//! Program execution for zkbox.
//!
//! **Owns**: the RV32IM emulator and ELF loader, the guest ABI (docs/guest-abi.md), execution
//! traces cut into segments for the prover, and — with the EVM issue — native EVM block
//! execution (revm) with its state and block witnesses. The no_std guest SDK and the example
//! and EVM guests live beside it in `executor/guest/`, built by their own RV32IM toolchain.
//!
//! **Must not depend on** proving, devices, the sequencer or the host: the executor knows
//! how programs run, not how they are proven or scheduled.
//!
//! ```
//! use zkbox_executor::{Executor, Program};
//! // addi a0, x0, 7 ; addi a7, x0, 93 ; ecall  — exit(7)
//! let program = Program::from_words(0x1_0000, &[0x0070_0513, 0x05d0_0893, 0x0000_0073]).unwrap();
//! let mut exec = Executor::new(&program, Vec::new());
//! assert_eq!(exec.run(1_000).unwrap(), 7);
//! assert_eq!(exec.cycles(), 3);
//! ```

pub mod asm;
pub mod decode;
mod elf;
pub mod field256;
pub mod keccak;
mod machine;
pub mod markers;
pub mod memory;
mod program;
pub mod trace;

pub use elf::{ElfError, MAX_CODE_BYTES, load_elf};
pub use machine::{ExecError, ExecErrorKind, Executor, MAX_OUTPUT_BYTES, PrecompileCalls, syscall};
pub use markers::{CycleMarker, TagCycles, attribute_cycles};
pub use memory::Memory;
pub use program::{Program, Segment};
pub use trace::{BoundaryState, IoEvent, MemoryAccess, Step, TraceSegment};
