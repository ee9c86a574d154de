//! Device code for zkbox's compute kernels, embedded as text.
//!
//! **Owns**: the kernel sources — CUDA/OpenCL single-source C sharing one prelude of
//! per-API macros, and GLSL compute shaders for Vulkan — and nothing else. The sources are
//! compiled at run time by the device's own compiler (OpenCL's `clBuildProgram`, NVRTC,
//! or the SPIR-V produced at build time for Vulkan), so this crate carries no build logic
//! for any particular API.
//!
//! **Must not depend on** anything: the backends in `zkbox-accel` depend on this crate,
//! never the other way round.
//!
//! Status: the NTT/LDE and Poseidon2 Merkle kernels arrive with the accel issue; until then
//! this crate lists no sources (see [`SOURCES`]).

/// One embedded kernel source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSource {
    /// File name relative to `kernels/`, e.g. `"cl/ntt.cl"`.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

/// Every kernel source this crate embeds, in the order a backend should concatenate them.
pub const SOURCES: &[KernelSource] = &[];
