//! The compute-device layer of zkbox.
//!
//! **Owns**: compute backends (CPU always; OpenCL behind the default `opencl` feature; CUDA
//! and Vulkan slot in behind the same [`Backend`] trait), device discovery, device-resident
//! matrices ([`DeviceMatrix`]), batched NTT/LDE and Poseidon2 Merkle trees, and the Plonky3
//! adapters ([`DeviceDft`], [`DeviceMmcs`]) that let an unmodified Plonky3 prover run on a
//! device.
//!
//! **Must not depend on** jobs, proofs of programs, the executor, the sequencer or the host:
//! it knows about field elements, matrices and devices only. Its only in-tree dependency is
//! `zkbox-kernels` (the device sources).
//!
//! Devices are named `cpu`, `opencl:N`, `cuda:N` and `vulkan:N` ([`DeviceId`]); N counts
//! the devices of that backend across all of its platforms, in discovery order.

mod backend;
pub mod bench;
mod cpu;
mod cpu_backend;
mod device;
mod discovery;
mod error;
// Device-word conversions serve the device backends only.
#[cfg_attr(not(feature = "opencl"), allow(dead_code))]
mod field;
mod merkle;
#[cfg(feature = "opencl")]
mod opencl;
#[cfg(feature = "opencl")]
mod opencl_backend;
mod plonky3;

pub use backend::{Backend, DeviceMatrix, Digest, Direction, MAX_LOG_SIZE, RowOrder};
pub use cpu_backend::{CpuBackend, CpuMerkleTree};
pub use device::{BackendKind, DeviceId, DeviceInfo};
pub use discovery::{Discovery, SkippedBackend, discover};
pub use error::AccelError;
pub use merkle::{LeafHasher, NodeCompressor, Poseidon2Perm, ReferenceMmcs, reference_mmcs};
#[cfg(feature = "opencl")]
pub use opencl_backend::{OpenClBackend, OpenClMerkleTree};
pub use plonky3::{DeviceDft, DeviceMmcs, DeviceProverData};
