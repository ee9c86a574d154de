//! The RV32IM STARK prover of zkbox.
//!
//! **Owns**: the AIRs for RV32IM (instruction-family chips joined by LogUp buses, program,
//! byte and range tables, the offline memory argument), the STARK configuration (BabyBear,
//! Poseidon2, FRI), proving and verifying segments, and the versioned proof file format.
//!
//! **Must not depend on** the sequencer, jobs or the host. It takes execution traces from
//! `zkbox-executor` and runs its heavy kernels through `zkbox-accel`'s Plonky3 adapters, so
//! moving proving onto a device swaps components, never AIRs.
//!
//! Status: arrives with the prover issue.
