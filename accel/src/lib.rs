//! The compute-device layer of zkbox.
//!
//! **Owns**: compute backends (CPU always; OpenCL behind the default `opencl` feature; CUDA
//! and Vulkan slot in behind the same types), device discovery, and — as the accel issue
//! lands — device buffers, queues, NTT/LDE, Poseidon2 Merkle trees and quotient evaluation,
//! plus the Plonky3 adapters (`TwoAdicSubgroupDft`, `Mmcs`) that let an unmodified Plonky3
//! prover run on a device.
//!
//! **Must not depend on** jobs, proofs of programs, the executor, the sequencer or the host:
//! it knows about field elements, matrices and devices only. Its only in-tree dependency is
//! `zkbox-kernels` (the device sources).
//!
//! Devices are named `cpu`, `opencl:N`, `cuda:N` and `vulkan:N` ([`DeviceId`]); N counts
//! the devices of that backend across all of its platforms, in discovery order.

mod cpu;
mod device;
mod discovery;
mod error;
#[cfg(feature = "opencl")]
mod opencl;

pub use device::{BackendKind, DeviceId, DeviceInfo};
pub use discovery::{Discovery, SkippedBackend, discover};
pub use error::AccelError;
