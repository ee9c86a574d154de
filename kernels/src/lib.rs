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
//! # How a program is assembled
//!
//! A backend concatenates, in order: its API's prelude ([`PRELUDE_OPENCL`] or
//! [`PRELUDE_CUDA`]), a block of `#define`s it generates at run time from Plonky3's constants
//! (`BB_P`, `BB_MU`, `BB_R2`, `P2_HALF_FULL_ROUNDS`, `P2_PARTIAL_ROUNDS`, `NTT_TILE_LOG`,
//! `NTT_TILE_COLS`), then every file of [`SOURCES`]. The shared files use only the prelude's
//! vocabulary (`KERNEL`, `GLOBAL`, `LOCAL`, `CONSTANT`, `DEVICE_FN`, `LOCAL_BARRIER()`,
//! `GLOBAL_ID(d)`, `LOCAL_ID(d)`, `GROUP_ID(d)`, `u32`, `u64`), so the CUDA backend compiles
//! the very same text.
//!
//! Matrices in device memory hold canonical BabyBear values; constants are in Montgomery
//! form (see `device/babybear.h`).

/// One embedded kernel source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSource {
    /// File name relative to `kernels/`, e.g. `"device/ntt.h"`.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

macro_rules! embed {
    ($path:literal) => {
        KernelSource {
            path: $path,
            text: include_str!(concat!("../", $path)),
        }
    };
}

/// The OpenCL C prelude: maps the shared vocabulary onto OpenCL C 1.2.
pub const PRELUDE_OPENCL: KernelSource = embed!("device/prelude_opencl.h");

/// The CUDA prelude (for NVRTC): maps the shared vocabulary onto CUDA C++.
pub const PRELUDE_CUDA: KernelSource = embed!("device/prelude_cuda.h");

/// Every shared kernel source this crate embeds, in the order a backend should concatenate
/// them (after its prelude and generated defines).
pub const SOURCES: &[KernelSource] = &[
    embed!("device/babybear.h"),
    embed!("device/ntt.h"),
    embed!("device/poseidon2.h"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_sources_use_only_the_prelude_vocabulary() {
        for source in SOURCES {
            assert!(!source.text.is_empty(), "{} is empty", source.path);
            for api_word in [
                "__kernel",
                "__global",
                "__local",
                "__shared__",
                "get_global_id",
            ] {
                assert!(
                    !source.text.contains(api_word),
                    "{} uses the API-specific word {api_word}",
                    source.path
                );
            }
        }
        for prelude in [PRELUDE_OPENCL, PRELUDE_CUDA] {
            for word in [
                "KERNEL",
                "GLOBAL",
                "LOCAL",
                "CONSTANT",
                "LOCAL_BARRIER",
                "GLOBAL_ID",
            ] {
                assert!(prelude.text.contains(word), "{} lacks {word}", prelude.path);
            }
        }
    }
}
