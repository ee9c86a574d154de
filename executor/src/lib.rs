//! Program execution for zkbox.
//!
//! **Owns**: the RV32IM emulator and ELF loader, the guest ABI (ARCHITECTURE.md, "Guest
//! ABI"), execution traces cut into segments for the prover, and native EVM block execution
//! (revm) with its state and block witnesses. The no_std guest SDK and the example and EVM
//! guests live beside it in `executor/guest/`, built by their own RV32IM toolchain.
//!
//! **Must not depend on** proving, devices, the sequencer or the host: the executor knows
//! how programs and blocks run, not how they are proven or scheduled.
//!
//! Status: the emulator arrives with the executor issue and EVM execution with the EVM issue.
