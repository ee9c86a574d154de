//! The compute-device layer of zkbox.
//!
//! **Owns**: compute backends (CPU always; OpenCL behind the default `opencl` feature; CUDA
//! behind the default `cuda` feature, loaded at run time so builds need no toolkit; Vulkan
//! behind the default `vulkan` feature, its loader opened at run time and its shaders
//! compiled to SPIR-V by the build; all behind the same [`Backend`] trait), device
//! discovery, device-resident
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
#[cfg(feature = "cuda")]
mod cuda;
#[cfg(feature = "cuda")]
mod cuda_backend;
pub mod deep;
mod device;
mod discovery;
mod error;
pub mod faulty;
pub mod fri;
// Device-word conversions serve the device backends only.
#[cfg_attr(not(any(feature = "opencl", feature = "cuda")), allow(dead_code))]
mod field;
mod merkle;
mod open;
#[cfg(feature = "opencl")]
mod opencl;
#[cfg(feature = "opencl")]
mod opencl_backend;
mod plonky3;
pub mod quotient;
#[cfg(feature = "vulkan")]
mod vulkan;
#[cfg(feature = "vulkan")]
mod vulkan_backend;
#[cfg(feature = "vulkan")]
mod vulkan_device;

pub use backend::{Backend, DeviceMatrix, Digest, Direction, MAX_LOG_SIZE, RowOrder};
pub use cpu_backend::{CpuBackend, CpuMerkleTree};
#[cfg(feature = "cuda")]
pub use cuda::{
    CompiledPtx, CudaProgram, MIN_COMPUTE_CAPABILITY, StridedLaunch, default_ptx_cache_dir,
    load_nvrtc_from, nvrtc_version,
};
#[cfg(feature = "cuda")]
pub use cuda_backend::{CudaBackend, CudaBuffer, CudaMerkleTree, CudaOptions};
pub use device::{BackendKind, DeviceId, DeviceInfo};
pub use discovery::{Discovery, SkippedBackend, discover};
pub use error::AccelError;
pub use merkle::{LeafHasher, NodeCompressor, Poseidon2Perm, ReferenceMmcs, reference_mmcs};
pub use open::{BackendVisitor, with_backend};
#[cfg(feature = "opencl")]
pub use opencl_backend::{OpenClBackend, OpenClMerkleTree};
pub use plonky3::{DeviceDft, DeviceFailure, DeviceMmcs, DeviceProverData, Lde};
#[cfg(feature = "vulkan")]
pub use vulkan_backend::{VulkanBackend, VulkanMerkleTree};
#[cfg(feature = "vulkan")]
pub use vulkan_device::VulkanBuffer;
