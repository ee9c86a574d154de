//! The RV32IM STARK prover of zkbox.
//!
//! **Owns**: the AIRs for RV32IM (instruction-family chips joined by LogUp buses, program,
//! byte and range tables, the offline memory argument), the STARK configuration (BabyBear,
//! Poseidon2, FRI), proving and verifying, and the versioned proof file format.
//!
//! **Must not depend on** the sequencer, jobs or the host. It takes execution traces from
//! `zkbox-executor` and runs its heavy kernels through `zkbox-accel`'s Plonky3 adapters, so
//! moving proving onto a device swaps components, never AIRs.
//!
//! Status (see `docs/proof-system.md`): a whole run of up to 2^24 cycles is proven as one
//! segment, with every RV32IM instruction except EBREAK, the read, write
//! and exit `ecall`s and the public output. Multi-segment chaining is not built yet: a run
//! that needs it, or an unproven instruction, is refused with a [`ProveError`], never
//! proven wrongly.

pub mod chips;
pub mod config;
mod error;
pub mod proof;
pub mod transcript;
mod witness;

pub use error::{ProveError, VerifyError};
pub use proof::{Proof, ProvingDevice, Stage, prove, prove_on, prove_with_progress, verify};
pub use witness::{ImageWord, Witness, generate, generate_with_results, memory_image};
