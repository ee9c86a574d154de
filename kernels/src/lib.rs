//! Device code for zkbox's compute kernels, embedded as text.
//!
//! **Owns**: the kernel sources — CUDA/OpenCL single-source C sharing one prelude of
//! per-API macros, and GLSL compute shaders for Vulkan — and nothing else. The sources are
//! compiled at run time by the device's own compiler (OpenCL's `clBuildProgram`, NVRTC),
//! except the GLSL shaders: with feature `spirv`, the build script compiles `glsl/*.comp`
//! with `glslc` and [`SPIRV_MODULES`] embeds the SPIR-V (the Vulkan driver takes SPIR-V,
//! not GLSL). Without that feature the crate has no build step at all.
//!
//! **Must not depend on** anything: the backends in `zkbox-accel` depend on this crate,
//! never the other way round.
//!
//! # How a program is assembled
//!
//! A backend concatenates, in order: its API's prelude ([`PRELUDE_OPENCL`] or
//! [`PRELUDE_CUDA`]), a block of `#define`s it generates at run time from Plonky3's constants
//! (`BB_P`, `BB_MU`, `BB_R2`, `P2_HALF_FULL_ROUNDS`, `P2_PARTIAL_ROUNDS`, `NTT_TILE_LOG`,
//! `NTT_TILE_COLS`; optionally `NTT_STRIDED_LOG`, `NTT_STRIDED_LANES`, `NTT_STRIDED_THREADS` for
//! `ntt_tile_strided`, which `device/ntt.h` otherwise defaults), then every file of [`SOURCES`]. The shared files use only the prelude's
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
    embed!("device/quotient.h"),
    embed!("device/fri.h"),
    embed!("device/deep.h"),
    embed!("device/rows.h"),
];

/// One compute shader compiled from `glsl/NAME.comp` to SPIR-V at build time.
#[cfg(feature = "spirv")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpirvModule {
    /// The shader's name: its file name without `.comp`, e.g. `"ntt_stage"`.
    pub name: &'static str,
    /// The SPIR-V binary (little-endian 32-bit words, as glslc writes them).
    pub bytes: &'static [u8],
}

#[cfg(feature = "spirv")]
macro_rules! spirv {
    ($name:literal) => {
        SpirvModule {
            name: $name,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".spv")),
        }
    };
}

/// Every Vulkan compute shader (`glsl/*.comp`), compiled for Vulkan 1.0. Each has entry
/// point `main`, takes its buffers in descriptor set 0 (bindings 0-3; Poseidon2's round
/// constants at binding 3), its scalars as push constants, and the field and tile
/// parameters as specialization constants (ids listed in `glsl/babybear.glsl`).
#[cfg(feature = "spirv")]
pub const SPIRV_MODULES: &[SpirvModule] = &[
    spirv!("bit_reverse_rows"),
    spirv!("column_dot"),
    spirv!("combine_rows"),
    spirv!("coset_scale_pad"),
    spirv!("deep_accumulate"),
    spirv!("fri_add_scaled"),
    spirv!("fri_fold"),
    spirv!("gather_rows"),
    spirv!("merkle_compress_level"),
    spirv!("ntt_stage"),
    spirv!("ntt_stage_pair"),
    spirv!("ntt_tile"),
    spirv!("poseidon2_absorb_rows"),
    spirv!("poseidon2_permute_states"),
    spirv!("quotient_eval"),
    spirv!("strided_rows"),
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

    /// Every `glsl/*.comp` is embedded (the build compiles them all; this list must name
    /// each), and each embedded module is a SPIR-V binary.
    #[cfg(feature = "spirv")]
    #[test]
    fn every_glsl_shader_is_embedded_as_spirv() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("glsl");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "comp"))
            .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = SPIRV_MODULES.iter().map(|m| m.name).collect();
        assert_eq!(embedded, on_disk);
        for module in SPIRV_MODULES {
            assert_eq!(
                module.bytes.len() % 4,
                0,
                "{} is not whole words",
                module.name
            );
            assert_eq!(
                module.bytes[..4],
                0x0723_0203u32.to_le_bytes(),
                "{} lacks the SPIR-V magic number",
                module.name
            );
        }
    }

    /// `spirv-val` accepts every module for Vulkan 1.0. Needs spirv-tools (scripts/setup.sh);
    /// without it the check is skipped, except under CI (`CI=true`), where it fails.
    #[cfg(feature = "spirv")]
    #[test]
    fn spirv_val_accepts_every_module() {
        let dir = std::env::temp_dir().join(format!("zkbox-spirv-val-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for module in SPIRV_MODULES {
            let path = dir.join(format!("{}.spv", module.name));
            std::fs::write(&path, module.bytes).unwrap();
            let run = std::process::Command::new("spirv-val")
                .args(["--target-env", "vulkan1.0"])
                .arg(&path)
                .output();
            match run {
                Ok(run) => assert!(
                    run.status.success(),
                    "spirv-val rejects {}: {}{}",
                    module.name,
                    String::from_utf8_lossy(&run.stdout),
                    String::from_utf8_lossy(&run.stderr)
                ),
                Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                    eprintln!("skipping spirv-val (not runnable: {err})");
                    break;
                }
                Err(err) => panic!("spirv-val is not runnable under CI: {err}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
