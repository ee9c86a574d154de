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
//! Status (see `docs/proof-system.md`): every RV32IM instruction except EBREAK, the read,
//! write and exit `ecall`s and the public output are proven. A run that fits one segment
//! is proven whole; a longer one as a chain of segment proofs linked through their boundary
//! state, which the verifier checks link by link. An unproven instruction is refused with a
//! [`ProveError`], never proven wrongly. [`quotient`] compiles each chip's constraints into
//! the bytecode `zkbox_accel`'s device interpreters run; in a device proof [`offload`] runs
//! it over the coset LDEs the device's Merkle trees keep and commits to the quotient's
//! chunks from there, and [`opening`] runs the opening's passes over those LDEs and FRI's
//! folds there too.

pub mod batch;
pub mod chips;
pub mod config;
mod error;
pub mod fri;
pub mod offload;
pub mod opening;
pub mod plan;
pub mod proof;
pub mod quotient;
pub mod transcript;
mod witness;

pub use error::{ProveError, VerifyError};
pub use offload::{DeviceCompute, OffloadCounts};
pub use proof::{
    Proof, ProveOptions, ProverLoop, ProvingDevice, Stage, chips_with_lookups, prove, prove_on,
    prove_with_backend, prove_with_backend_counted, prove_with_progress, verify,
};
pub use witness::{
    CarriedMemory, ImageWord, Witness, generate, generate_segment, generate_with_field_results,
    generate_with_keccak_results, generate_with_results, memory_digest, memory_image,
};
