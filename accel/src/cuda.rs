//! The CUDA driver side of the CUDA backend: finding devices, loading NVRTC, and turning the
//! shared kernel sources into a module (NVRTC → PTX, cached on disk, JIT-loaded by the driver).
//!
//! Everything is loaded at run time through `cudarc`'s dynamic loading: a build needs no CUDA
//! toolkit, and a machine with no driver reports the backend as unavailable instead of
//! failing. `cudarc` panics when a library or symbol it looks up is missing, so every entry
//! point here checks for the library first and runs the driver calls under `catch_unwind`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cudarc::driver::sys::{self, CUdevice_attribute};
use cudarc::nvrtc::sys as nvrtc_sys;
use sha2::{Digest as _, Sha256};

use crate::AccelError;
use crate::device::{BackendKind, DeviceId, DeviceInfo};
use crate::field::{field_defines, poseidon2_constants};

/// Columns one NTT tile thread block covers (thread dimension x): 8 words = one 32-byte sector.
pub(crate) const NTT_TILE_COLS: usize = 8;
/// log2 of the rows an NTT tile holds in shared memory: blocks of 8 × 128 = 1024 threads and
/// 8 KiB of shared memory.
pub(crate) const NTT_TILE_LOG: usize = 8;
/// Rows one Poseidon2 leaf-hashing thread block stages through shared memory.
pub(crate) const P2_GROUP_ROWS: usize = 64;
/// Stages one `ntt_tile_strided` pass fuses: 2^8-row tiles, so 2^24 rows take three passes.
pub(crate) const NTT_STRIDED_LOG: usize = 8;
/// Contiguous words per row a strided tile covers: 32 words = one 128-byte line (the tile is
/// 256 × 32 words, 32 KiB of shared memory).
pub(crate) const NTT_STRIDED_LANES: usize = 32;
/// Threads per strided-tile block; each loops over the tile's rows.
pub(crate) const NTT_STRIDED_THREADS: usize = 512;

/// The oldest GPUs the kernels are built for: Pascal (compute capability 6.0). The kernels
/// need only 32-bit integer arithmetic and shared memory, but NVRTC 12 dropped older targets.
pub const MIN_COMPUTE_CAPABILITY: (u32, u32) = (6, 0);

/// The kernel names the module must export, in the order `CudaBackend` keeps them.
pub(crate) const KERNEL_NAMES: [&str; 17] = [
    "ntt_stage",
    "ntt_stage_pair",
    "ntt_tile",
    "ntt_tile_strided",
    "bit_reverse_rows",
    "coset_scale_pad",
    "poseidon2_permute_states",
    "poseidon2_absorb_rows",
    "merkle_compress_level",
    "quotient_eval",
    "fri_fold",
    "combine_rows",
    "deep_accumulate",
    "column_dot",
    "strided_rows",
    "fri_add_scaled",
    "gather_rows",
];

/// The CUDA program exactly as the backend hands it to NVRTC: the CUDA prelude, the generated
/// `#define`s, then every shared source of `zkbox-kernels`.
///
/// The text does not depend on the device (tile sizes are fixed for CUDA), so the build-time
/// compile check (`accel/tests/cuda_compile.rs`) compiles this very string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaProgram {
    source: String,
}

impl Default for CudaProgram {
    fn default() -> Self {
        Self::new()
    }
}

impl CudaProgram {
    /// Assembles the program text.
    pub fn new() -> Self {
        CudaProgram {
            source: program_text(zkbox_kernels::PRELUDE_CUDA.text),
        }
    }

    /// A program from other text: for checking how the toolchain treats a kernel (e.g. that
    /// a compiler error comes back as a typed error with its log).
    pub fn from_source(source: String) -> Self {
        CudaProgram { source }
    }

    /// The program of one constraint program's specialized quotient kernel
    /// (`quotient_specialized`, see `zkbox_accel::quotient`), as the backend builds it.
    pub fn specialized_quotient(program: &crate::quotient::QuotientProgram) -> Self {
        CudaProgram {
            source: crate::quotient::specialized_program_text(
                zkbox_kernels::PRELUDE_CUDA.text,
                program,
            ),
        }
    }

    /// The CUDA C++ text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The same program after another API's prelude (e.g. `PRELUDE_OPENCL`), so the CUDA
    /// backend's kernels and launch schedule can be checked on an OpenCL device.
    pub fn text_with_prelude(prelude: &str) -> String {
        program_text(prelude)
    }

    /// The `ntt_tile_strided` launches of one batched NTT of `width` columns and 2^`log_n`
    /// rows, in order: DIT (bit-reversed in, natural out) or DIF (natural in, bit-reversed out).
    pub fn strided_ntt_launches(width: usize, log_n: usize, is_dif: bool) -> Vec<StridedLaunch> {
        strided_passes(log_n, NTT_STRIDED_LOG, is_dif)
            .into_iter()
            .map(|pass| StridedLaunch {
                first_stage: pass.first_stage as u32,
                stages: pass.stages as u32,
                groups: strided_groups(width, log_n, pass),
                threads: NTT_STRIDED_THREADS,
            })
            .collect()
    }

    /// The names of the kernels the program defines.
    pub fn kernel_names(&self) -> &'static [&'static str] {
        &KERNEL_NAMES
    }

    /// NVRTC's options for a virtual architecture, e.g. `compute_90` for compute capability 9.0.
    pub fn nvrtc_options(compute_capability: (u32, u32)) -> Vec<String> {
        let (major, minor) = compute_capability;
        vec![
            format!("--gpu-architecture=compute_{major}{minor}"),
            "--std=c++17".to_owned(),
        ]
    }

    /// The on-disk cache key: a hash of the source and the options, then the architecture
    /// (`<16 hex digits>-compute_90`).
    pub fn cache_key(&self, compute_capability: (u32, u32)) -> String {
        let options = Self::nvrtc_options(compute_capability);
        let mut hasher = Sha256::new();
        hasher.update(self.source.as_bytes());
        for option in &options {
            hasher.update([0u8]);
            hasher.update(option.as_bytes());
        }
        let digest = hasher.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let (major, minor) = compute_capability;
        format!("{hex}-compute_{major}{minor}")
    }

    /// Compiles the program to PTX with NVRTC for `compute_capability`. Compiler errors come
    /// back as [`AccelError::KernelBuild`] naming `device`, with NVRTC's log; on success the
    /// log (warnings, if any) comes back beside the PTX.
    pub fn compile_ptx(
        &self,
        device: DeviceId,
        compute_capability: (u32, u32),
    ) -> Result<CompiledPtx, AccelError> {
        load_nvrtc()?;
        let options = Self::nvrtc_options(compute_capability);
        guard(device, "compiling kernels with NVRTC", || {
            nvrtc_compile(device, &self.source, &options)
        })?
    }
}

/// A prelude, the `#define`s the CUDA backend sizes its kernels with, and every shared source.
pub(crate) fn program_text(prelude: &str) -> String {
    let constants = poseidon2_constants();
    let mut source = String::from(prelude);
    source.push_str(&field_defines());
    source.push_str(&crate::quotient::kernel_defines());
    source.push_str(&format!(
        "#define P2_HALF_FULL_ROUNDS {}u\n#define P2_PARTIAL_ROUNDS {}u\n\
         #define NTT_TILE_LOG {NTT_TILE_LOG}u\n#define NTT_TILE_COLS {NTT_TILE_COLS}u\n\
         #define NTT_STRIDED_LOG {NTT_STRIDED_LOG}u\n#define NTT_STRIDED_LANES {NTT_STRIDED_LANES}u\n\
         #define NTT_STRIDED_THREADS {NTT_STRIDED_THREADS}u\n#define P2_GROUP_ROWS {P2_GROUP_ROWS}u\n",
        constants.half_full_rounds, constants.partial_rounds
    ));
    for file in zkbox_kernels::SOURCES {
        source.push_str(&format!("// ---- {} ----\n", file.path));
        source.push_str(file.text);
    }
    source
}

/// One launch of `ntt_tile_strided`: stages `first_stage .. first_stage + stages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StridedPass {
    first_stage: usize,
    stages: usize,
}

/// The passes of one NTT in execution order: groups of up to `tile_log` stages, ascending for
/// DIT, descending for DIF (each pass runs its own stages in the same direction).
fn strided_passes(log_n: usize, tile_log: usize, is_dif: bool) -> Vec<StridedPass> {
    let mut passes: Vec<StridedPass> = (0..log_n)
        .step_by(tile_log.max(1))
        .map(|first_stage| StridedPass {
            first_stage,
            stages: tile_log.min(log_n - first_stage),
        })
        .collect();
    if is_dif {
        passes.reverse();
    }
    passes
}

/// Work-groups of one strided pass: (along the contiguous run of each row group, row groups).
fn strided_groups(width: usize, log_n: usize, pass: StridedPass) -> (usize, usize) {
    let run = width << pass.first_stage;
    let lanes = run.min(NTT_STRIDED_LANES);
    (
        run.div_ceil(lanes),
        1usize << (log_n - pass.first_stage - pass.stages),
    )
}

/// One launch of `ntt_tile_strided` as the CUDA backend makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StridedLaunch {
    /// The lowest stage the pass runs.
    pub first_stage: u32,
    /// How many stages it runs.
    pub stages: u32,
    /// Work-groups (thread blocks): along each row group's contiguous run, and row groups.
    pub groups: (usize, usize),
    /// Work-items (threads) per group.
    pub threads: usize,
}

/// NVRTC's output for one architecture.
#[derive(Debug, Clone)]
pub struct CompiledPtx {
    /// The PTX text.
    pub ptx: String,
    /// NVRTC's log: empty unless it warned.
    pub log: String,
}

/// Loads NVRTC from an explicit file (e.g. `libnvrtc.so.12` from PyPI's
/// `nvidia-cuda-nvrtc-cu12`) so that later NVRTC calls use it. Once loaded, the library stays
/// loaded for the life of the process; `cudarc` then finds it by its soname.
pub fn load_nvrtc_from(path: &Path) -> Result<(), AccelError> {
    static PRELOADED: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());
    // SAFETY: loading NVRTC runs its initialisers, which have no preconditions.
    let library = unsafe { libloading::Library::new(path) }.map_err(|err| {
        AccelError::BackendUnavailable {
            backend: BackendKind::Cuda,
            reason: format!("cannot load NVRTC from {}: {err}", path.display()),
        }
    })?;
    PRELOADED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(library);
    Ok(())
}

/// Makes NVRTC loadable: already loaded or on the library path, or under `$CUDA_HOME`,
/// `$CUDA_PATH` or `/usr/local/cuda` (`lib64/`).
fn load_nvrtc() -> Result<(), AccelError> {
    // SAFETY: probing for the library only opens it.
    if unsafe { nvrtc_sys::is_culib_present() } {
        return Ok(());
    }
    let roots = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|var| std::env::var_os(var).map(PathBuf::from))
        .chain([PathBuf::from("/usr/local/cuda")]);
    for root in roots {
        for name in [
            "lib64/libnvrtc.so",
            "lib64/libnvrtc.so.12",
            "lib/libnvrtc.so.12",
        ] {
            let candidate = root.join(name);
            if candidate.is_file() && load_nvrtc_from(&candidate).is_ok() {
                // SAFETY: as above.
                if unsafe { nvrtc_sys::is_culib_present() } {
                    return Ok(());
                }
            }
        }
    }
    Err(AccelError::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason: "NVRTC (libnvrtc.so.12) not found: install the CUDA toolkit or PyPI's \
                 nvidia-cuda-nvrtc-cu12 and put its lib folder on LD_LIBRARY_PATH, or set \
                 CUDA_HOME"
            .to_owned(),
    })
}

/// NVRTC's version, e.g. `(12, 9)`.
pub fn nvrtc_version() -> Result<(i32, i32), AccelError> {
    load_nvrtc()?;
    let unavailable = |reason: String| AccelError::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason,
    };
    let result = catch_unwind(|| {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both pointers are valid for writes.
        let status = unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) };
        (status, major, minor)
    })
    .map_err(|_| unavailable("NVRTC lacks nvrtcVersion".to_owned()))?;
    match result {
        (nvrtc_sys::nvrtcResult::NVRTC_SUCCESS, major, minor) => Ok((major, minor)),
        (status, ..) => Err(unavailable(format!("nvrtcVersion failed: {status:?}"))),
    }
}

fn nvrtc_compile(
    device: DeviceId,
    source: &str,
    options: &[String],
) -> Result<CompiledPtx, AccelError> {
    use cudarc::nvrtc::result as nvrtc;
    let build_error = |log: String| AccelError::KernelBuild { device, log };
    let c_source = std::ffi::CString::new(source)
        .map_err(|_| build_error("the kernel source contains a NUL byte".to_owned()))?;
    let name = c"zkbox_kernels.cu";
    let program = nvrtc::create_program(&c_source, Some(name))
        .map_err(|err| build_error(format!("nvrtcCreateProgram: {err:?}")))?;
    // SAFETY: `program` is a live NVRTC program until destroyed below; the options are valid
    // strings; log and PTX buffers are sized by NVRTC itself.
    unsafe {
        let compiled = nvrtc::compile_program(program, options);
        let log = nvrtc::get_program_log(program)
            .map(|chars| c_chars_to_string(&chars))
            .unwrap_or_default();
        let ptx = match compiled {
            Ok(()) => nvrtc::get_ptx(program)
                .map(|chars| c_chars_to_string(&chars))
                .map_err(|err| build_error(format!("nvrtcGetPTX: {err:?}"))),
            Err(err) => Err(build_error(format!("{err:?}: {log}"))),
        };
        let _ = nvrtc::destroy_program(program);
        ptx.map(|ptx| CompiledPtx { ptx, log })
    }
}

fn c_chars_to_string(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

/// Where compiled PTX is kept between runs: `$XDG_CACHE_HOME/zkbox/cuda`, else
/// `$HOME/.cache/zkbox/cuda`; `None` when neither variable is set (no caching).
pub fn default_ptx_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("zkbox").join("cuda"))
}

/// The PTX for `program` on `compute_capability`: from the cache when there, else compiled
/// with NVRTC and stored (a cache that cannot be written only costs the next start a compile).
pub(crate) fn cached_ptx(
    program: &CudaProgram,
    device: DeviceId,
    compute_capability: (u32, u32),
    cache_dir: Option<&Path>,
) -> Result<String, AccelError> {
    let key = program.cache_key(compute_capability);
    let path = cache_dir.map(|dir| dir.join(format!("{key}.ptx")));
    if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok())
        && text.contains(".entry")
    {
        tracing::debug!(%device, key, "PTX from the disk cache");
        return Ok(text);
    }
    let compiled = program.compile_ptx(device, compute_capability)?;
    if !compiled.log.is_empty() {
        tracing::warn!(%device, log = %compiled.log, "NVRTC warnings");
    }
    if let (Some(dir), Some(path)) = (cache_dir, path.as_ref()) {
        let partial = path.with_extension(format!("ptx.{}", std::process::id()));
        let stored = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&partial, &compiled.ptx))
            .and_then(|()| std::fs::rename(&partial, path));
        if let Err(err) = stored {
            tracing::warn!(%device, %err, dir = %dir.display(), "cannot cache PTX");
        }
    }
    Ok(compiled.ptx)
}

/// Runs driver calls, turning a `cudarc` panic (a missing library or symbol) into a typed
/// error.
pub(crate) fn guard<T>(
    device: DeviceId,
    operation: &'static str,
    body: impl FnOnce() -> T,
) -> Result<T, AccelError> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the CUDA library failed".to_owned());
        AccelError::Driver {
            device,
            operation,
            reason,
        }
    })
}

/// Describes a driver error by its name and text, e.g.
/// `CUDA_ERROR_OUT_OF_MEMORY (out of memory)`.
pub(crate) fn describe_driver_error(err: &cudarc::driver::DriverError) -> String {
    // SAFETY: probing for the library only opens it. Looking names up needs the driver.
    if !unsafe { sys::is_culib_present() } {
        return format!("{:?}", err.0);
    }
    let name = err
        .error_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", err.0));
    match err.error_string() {
        Ok(text) => format!("{name} ({})", text.to_string_lossy()),
        Err(_) => name,
    }
}

/// Maps a driver error to the typed error for it: out of memory, device lost (errors after
/// which the context is unusable), a module the driver cannot load, or any other failure.
pub(crate) fn driver_error(
    device: DeviceId,
    operation: &'static str,
    err: cudarc::driver::DriverError,
) -> AccelError {
    use sys::cudaError_enum as E;
    let reason = describe_driver_error(&err);
    match err.0 {
        E::CUDA_ERROR_OUT_OF_MEMORY => AccelError::OutOfDeviceMemory {
            device,
            requested_bytes: 0,
            detail: format!("{operation}: {reason}"),
        },
        E::CUDA_ERROR_ILLEGAL_ADDRESS
        | E::CUDA_ERROR_LAUNCH_FAILED
        | E::CUDA_ERROR_ECC_UNCORRECTABLE
        | E::CUDA_ERROR_HARDWARE_STACK_ERROR
        | E::CUDA_ERROR_ILLEGAL_INSTRUCTION
        | E::CUDA_ERROR_MISALIGNED_ADDRESS
        | E::CUDA_ERROR_INVALID_ADDRESS_SPACE
        | E::CUDA_ERROR_INVALID_PC
        | E::CUDA_ERROR_LAUNCH_TIMEOUT
        | E::CUDA_ERROR_DEVICE_UNAVAILABLE
        | E::CUDA_ERROR_CONTEXT_IS_DESTROYED
        | E::CUDA_ERROR_DEINITIALIZED => AccelError::DeviceLost {
            device,
            operation,
            reason,
        },
        E::CUDA_ERROR_UNSUPPORTED_PTX_VERSION
        | E::CUDA_ERROR_INVALID_PTX
        | E::CUDA_ERROR_NO_BINARY_FOR_GPU
        | E::CUDA_ERROR_JIT_COMPILER_NOT_FOUND => AccelError::KernelBuild {
            device,
            log: format!(
                "the driver cannot load the PTX NVRTC produced: {reason} (an NVRTC newer than \
                 the driver produces PTX the driver cannot read: use the toolkit matching it)"
            ),
        },
        _ => AccelError::Driver {
            device,
            operation,
            reason,
        },
    }
}

/// One CUDA device as the driver numbers it.
#[derive(Debug, Clone)]
pub(crate) struct CudaDevice {
    /// The driver's ordinal.
    pub(crate) ordinal: usize,
    /// Compute capability.
    pub(crate) compute_capability: (u32, u32),
    /// What `zkbox devices` shows (its id is filled in by `enumerate`).
    pub(crate) info: DeviceInfo,
}

/// Every CUDA device: the supported ones (numbered `cuda:0..` in ordinal order) and a reason
/// for each unsupported one.
pub(crate) struct Enumeration {
    pub(crate) supported: Vec<CudaDevice>,
    pub(crate) unsupported: Vec<String>,
}

/// Initialises the driver once per process and enumerates its devices.
pub(crate) fn enumerate() -> Result<&'static Enumeration, AccelError> {
    static FOUND: OnceLock<Result<Enumeration, String>> = OnceLock::new();
    FOUND
        .get_or_init(enumerate_uncached)
        .as_ref()
        .map_err(|reason| AccelError::BackendUnavailable {
            backend: BackendKind::Cuda,
            reason: reason.clone(),
        })
}

/// Enumerates the devices, or says why the driver cannot.
fn enumerate_uncached() -> Result<Enumeration, String> {
    // SAFETY: probing for the library only opens it.
    if !unsafe { sys::is_culib_present() } {
        return Err("no CUDA driver (libcuda.so not found)".to_owned());
    }
    let nominal = DeviceId {
        backend: BackendKind::Cuda,
        index: 0,
    };
    let listed = guard(nominal, "enumerating devices", || -> Result<_, String> {
        use cudarc::driver::result;
        result::init().map_err(|err| format!("cuInit failed: {}", describe_driver_error(&err)))?;
        let mut version = 0;
        // SAFETY: `version` is valid for writes.
        unsafe { sys::cuDriverGetVersion(&mut version) }
            .result()
            .map_err(|err| describe_driver_error(&err))?;
        let driver = format!("CUDA {}.{}", version / 1000, (version % 1000) / 10);
        let count = result::device::get_count().map_err(|err| describe_driver_error(&err))?;
        let mut devices = Vec::new();
        for ordinal in 0..count {
            let handle = result::device::get(ordinal).map_err(|err| describe_driver_error(&err))?;
            let attribute = |which: CUdevice_attribute| -> u32 {
                // SAFETY: `handle` is a device the driver just returned.
                unsafe { result::device::get_attribute(handle, which) }
                    .map(|v| v.max(0) as u32)
                    .unwrap_or(0)
            };
            let name = result::device::get_name(handle).unwrap_or_else(|_| "unknown".to_owned());
            // SAFETY: as above.
            let memory = unsafe { result::device::total_mem(handle) }.unwrap_or(0);
            let capability = (
                attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            );
            let units = attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
            devices.push((ordinal as usize, name, memory as u64, capability, units));
        }
        Ok((driver, devices))
    })
    .map_err(|err| err.to_string())??;
    let (driver, devices) = listed;
    let mut supported = Vec::new();
    let mut unsupported = Vec::new();
    for (ordinal, name, memory_bytes, capability, compute_units) in devices {
        if capability < MIN_COMPUTE_CAPABILITY {
            unsupported.push(format!(
                "CUDA device {ordinal} ({name}): compute capability {}.{} is below the \
                 minimum {}.{}",
                capability.0, capability.1, MIN_COMPUTE_CAPABILITY.0, MIN_COMPUTE_CAPABILITY.1
            ));
            continue;
        }
        let index = supported.len() as u32;
        supported.push(CudaDevice {
            ordinal,
            compute_capability: capability,
            info: DeviceInfo {
                id: DeviceId {
                    backend: BackendKind::Cuda,
                    index,
                },
                name: format!("{name} (sm_{}{})", capability.0, capability.1),
                vendor: "NVIDIA".to_owned(),
                platform: "CUDA driver API".to_owned(),
                driver: driver.clone(),
                memory_bytes,
                compute_units,
            },
        });
    }
    Ok(Enumeration {
        supported,
        unsupported,
    })
}

/// Lists the supported CUDA devices, numbered `cuda:0..`; unsupported ones are logged and
/// returned as reasons.
pub(crate) fn discover() -> Result<(Vec<DeviceInfo>, Vec<String>), AccelError> {
    let found = enumerate()?;
    for reason in &found.unsupported {
        tracing::warn!(reason, "skipping a CUDA device");
    }
    Ok((
        found.supported.iter().map(|d| d.info.clone()).collect(),
        found.unsupported.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_the_prelude_defines_and_every_shared_source() {
        let program = CudaProgram::new();
        let text = program.source();
        assert!(text.starts_with(zkbox_kernels::PRELUDE_CUDA.text));
        for file in zkbox_kernels::SOURCES {
            assert!(text.contains(file.text), "{} missing", file.path);
        }
        for name in KERNEL_NAMES {
            assert!(text.contains(&format!("KERNEL void {name}(")), "{name}");
        }
        assert!(text.contains("#define BB_P 2013265921u"));
    }

    #[test]
    fn strided_passes_cover_every_stage_once_in_order() {
        let pass = |first_stage, stages| StridedPass {
            first_stage,
            stages,
        };
        assert_eq!(strided_passes(0, 8, false), vec![]);
        assert_eq!(strided_passes(3, 8, true), vec![pass(0, 3)]);
        assert_eq!(
            strided_passes(24, 8, false),
            vec![pass(0, 8), pass(8, 8), pass(16, 8)]
        );
        assert_eq!(
            strided_passes(20, 8, true),
            vec![pass(16, 4), pass(8, 8), pass(0, 8)]
        );
        // One column: the first pass walks rows with one lane; later ones 32 rows at a time.
        assert_eq!(strided_groups(1, 24, pass(0, 8)), (1, 1 << 16));
        assert_eq!(strided_groups(1, 24, pass(8, 8)), (8, 1 << 8));
        assert_eq!(strided_groups(256, 20, pass(16, 4)), (1 << 19, 1));
        assert_eq!(strided_groups(9, 10, pass(0, 8)), (1, 4));
    }

    #[test]
    fn cache_keys_name_the_source_and_the_architecture() {
        let program = CudaProgram::new();
        let key90 = program.cache_key((9, 0));
        assert!(key90.ends_with("-compute_90"), "{key90}");
        assert_eq!(key90, CudaProgram::new().cache_key((9, 0)));
        assert_ne!(key90, program.cache_key((8, 0)));
        let changed = CudaProgram {
            source: format!("{} ", program.source()),
        };
        assert_ne!(changed.cache_key((9, 0)), key90);
    }

    #[test]
    fn discovery_without_a_driver_says_so() {
        // SAFETY: probing for the library only opens it.
        if unsafe { sys::is_culib_present() } {
            eprintln!("a CUDA driver is installed here: nothing to check");
            return;
        }
        match discover() {
            Err(AccelError::BackendUnavailable { backend, reason }) => {
                assert_eq!(backend, BackendKind::Cuda);
                assert_eq!(reason, "no CUDA driver (libcuda.so not found)");
            }
            other => panic!("expected 'no CUDA driver', got {other:?}"),
        }
    }

    #[test]
    fn driver_errors_map_to_typed_errors() {
        use cudarc::driver::DriverError;
        use sys::cudaError_enum as E;
        let id = DeviceId {
            backend: BackendKind::Cuda,
            index: 3,
        };
        // Without a driver the names cannot be looked up; the mapping must not depend on it.
        let oom = driver_error(id, "alloc", DriverError(E::CUDA_ERROR_OUT_OF_MEMORY));
        assert!(matches!(oom, AccelError::OutOfDeviceMemory { device, .. } if device == id));
        let lost = driver_error(id, "launch", DriverError(E::CUDA_ERROR_ILLEGAL_ADDRESS));
        assert!(matches!(lost, AccelError::DeviceLost { device, .. } if device == id));
        assert!(lost.to_string().starts_with("cuda:3: "), "{lost}");
        let ptx = driver_error(
            id,
            "load",
            DriverError(E::CUDA_ERROR_UNSUPPORTED_PTX_VERSION),
        );
        assert!(matches!(ptx, AccelError::KernelBuild { .. }));
        let other = driver_error(id, "memcpy", DriverError(E::CUDA_ERROR_INVALID_VALUE));
        assert!(matches!(other, AccelError::Driver { .. }));
    }
}
