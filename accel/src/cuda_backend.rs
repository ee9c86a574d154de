//! The CUDA backend: the shared kernels of `zkbox-kernels` on NVIDIA GPUs, through `cudarc`.
//!
//! Kernels run in order on one compute stream; host↔device copies run on a second stream
//! through pinned staging buffers, so an upload overlaps the kernels queued before it. The
//! streams are ordered by explicit events (cudarc's own event tracking is switched off):
//! a kernel waits for the upload of its input, a download waits for the kernels before it,
//! and a buffer is freed only after the compute stream is done with it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::{self, CUdeviceptr};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice,
    PushKernelArg, result,
};
use cudarc::nvrtc::Ptx;
use p3_baby_bear::BabyBear;
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};

use crate::AccelError;
use crate::backend::{
    Backend, DeviceMatrix, Digest, Direction, RowOrder, check_coset_lde_input, check_leaf_index,
    check_same_shape, gather_rows_words, gathered_matrix, host_matrix_height, strided_matrix,
    strided_rows_words, transform_log_height, tree_max_height,
};
use crate::cuda::{
    CudaProgram, KERNEL_NAMES, P2_GROUP_ROWS, cached_ptx, default_ptx_cache_dir, driver_error,
    guard,
};
use crate::deep::{
    COLUMN_CHUNK, check_accumulate, check_column_dot, check_combine, column_chunks,
    combined_matrix, download_column_sums, ext_words, scalar_words,
};
use crate::device::{BackendKind, DeviceId, DeviceInfo};
use crate::field::{from_words, montgomery, poseidon2_constants, to_words, write_words};
use crate::fri::{add_scaled_words, folded_matrix, kernel_words};
use crate::quotient::{DeviceTables, Ext, QuotientInputs, QuotientProgram};

/// Threads per block of the one-dimensional Poseidon2 kernels (16 state words in registers
/// per thread).
const P2_BLOCK: u32 = 128;
/// Threads per block of the two-dimensional element-wise kernels.
const ELEMENTWISE_BLOCK: u32 = 256;
/// Threads per block of `quotient_eval`: each holds a private register file of a few KiB,
/// so blocks stay small.
const QUOTIENT_BLOCK: u32 = 128;
/// Threads per block of the FRI fold and the opening's row kernels (one thread per row).
const ROW_BLOCK: u32 = 256;
/// The most blocks a grid's y (or z) dimension may have.
const MAX_GRID_YZ: u32 = 65_535;

/// How to open a CUDA device.
#[derive(Debug, Clone, Default)]
pub struct CudaOptions {
    /// Where compiled PTX is cached; `None`: the default ([`crate::default_ptx_cache_dir`]).
    pub ptx_cache_dir: Option<PathBuf>,
    /// Fill every buffer the backend allocates with this word before any kernel writes it
    /// (a test aid, see [`CudaBackend::poison_new_buffers`]).
    pub poison: Option<u32>,
    /// Build each quotient program a specialized kernel with NVRTC (straight-line code)
    /// instead of interpreting it. Off by default: on an H200 the specialized kernels were
    /// slower than the interpreter (docs/benchmarks.md); without NVRTC this falls back to the
    /// interpreter.
    pub specialize_quotients: bool,
}

/// Device memory holding one matrix's canonical words. Dropping it frees the memory once the
/// compute stream has finished the work queued so far.
#[derive(Debug)]
pub struct CudaBuffer {
    slice: CudaSlice<u32>,
    compute: Arc<CudaStream>,
}

impl CudaBuffer {
    /// Number of 32-bit words.
    pub fn len(&self) -> usize {
        self.slice.len()
    }

    /// Whether the buffer holds no words.
    pub fn is_empty(&self) -> bool {
        self.slice.is_empty()
    }

    fn ptr(&self) -> CUdeviceptr {
        let (ptr, _sync) = self.slice.device_ptr(self.slice.stream());
        ptr
    }
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        // The memory is freed on the stream that allocated it; when that is the copy stream,
        // it must first wait for every kernel queued so far (one may still read the buffer).
        if !Arc::ptr_eq(self.slice.stream(), &self.compute)
            && let Ok(done) = self.compute.record_event(None)
            && self.slice.stream().wait(&done).is_err()
        {
            let _ = self.compute.synchronize();
        }
    }
}

/// A Merkle tree whose digest layers stay in device memory, leaves first.
#[derive(Debug)]
pub struct CudaMerkleTree {
    layers: Vec<CudaBuffer>,
    leaf_count: usize,
    /// The committed matrices, kept on the device with their tree.
    leaves: Vec<DeviceMatrix<CudaBackend>>,
}

impl CudaMerkleTree {
    /// The committed matrices, in the order given.
    pub fn leaves(&self) -> &[DeviceMatrix<CudaBackend>] {
        &self.leaves
    }
}

/// Twiddle tables on the device, by log2 size and direction.
type TwiddleCache = Mutex<HashMap<(usize, Direction), Arc<CudaBuffer>>>;

/// One CUDA device as a [`Backend`].
#[derive(Debug)]
pub struct CudaBackend {
    info: DeviceInfo,
    compute_capability: (u32, u32),
    context: Arc<CudaContext>,
    compute: Arc<CudaStream>,
    copies: Arc<CudaStream>,
    kernels: HashMap<&'static str, CudaFunction>,
    poseidon2_constants: CudaBuffer,
    twiddles: TwiddleCache,
    /// Pinned, write-combined host memory uploads are staged through (fast for the host to
    /// write and for the device to read; slow for the host to read).
    upload_staging: Mutex<Option<PinnedHostSlice<u32>>>,
    /// Pinned, cached host memory downloads land in.
    download_staging: Mutex<Option<PinnedHostSlice<u32>>>,
    poison: Option<u32>,
    /// Where compiled PTX is cached.
    cache_dir: Option<PathBuf>,
    /// Specialized quotient kernels loaded so far, by `quotient::specialization_key`; `None`
    /// when quotients are interpreted (the default, or NVRTC turned out to be missing).
    specialized: Mutex<Option<HashMap<Vec<u32>, CudaFunction>>>,
}

/// A kernel argument.
#[derive(Clone, Copy)]
enum Arg<'a> {
    Buffer(&'a CudaBuffer),
    Word(u32),
}

/// One NTT's butterfly stages, as [`CudaBackend::butterflies`] runs them.
#[derive(Debug, Clone, Copy)]
struct ButterflyPass {
    width: usize,
    log_n: usize,
    /// DIF (natural in, bit-reversed out) rather than DIT (bit-reversed in, natural out).
    is_dif: bool,
    direction: Direction,
    /// Multiply by 1/n on the last stage (a complete inverse transform).
    scale_by_inverse_n: bool,
}

/// Splits `blocks` (of dimension 1) over grid y and z as the CUDA prelude's `GROUP_ID(1)`
/// expects. Powers of two split exactly (the tile kernel relies on it); other counts may get
/// a few extra blocks, which the kernels' bounds checks idle.
fn split_grid_y(blocks: usize) -> (u32, u32) {
    let blocks = blocks.max(1) as u64;
    if blocks <= u64::from(MAX_GRID_YZ) {
        return (blocks as u32, 1);
    }
    let y: u64 = 32_768;
    (y as u32, blocks.div_ceil(y) as u32)
}

/// A launch of a kernel over a 2-D range of (columns, rows) work-items.
fn grid_2d(columns: usize, rows: usize) -> LaunchConfig {
    let block_x = (columns.next_power_of_two() as u32).min(64);
    let block_y = ELEMENTWISE_BLOCK / block_x;
    let (grid_y, grid_z) = split_grid_y(rows.div_ceil(block_y as usize));
    LaunchConfig {
        grid_dim: (columns.div_ceil(block_x as usize) as u32, grid_y, grid_z),
        block_dim: (block_x, block_y, 1),
        shared_mem_bytes: 0,
    }
}

/// A launch of a kernel over `count` work-items in blocks of `block`.
fn grid_1d(count: usize, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (count.div_ceil(block as usize).max(1) as u32, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl CudaBackend {
    /// Opens device `cuda:index` and loads the kernels for it (from the PTX cache, or
    /// compiled with NVRTC).
    pub fn open(index: u32) -> Result<Self, AccelError> {
        Self::open_with(index, &CudaOptions::default())
    }

    /// Opens device `cuda:index` with explicit options.
    pub fn open_with(index: u32, options: &CudaOptions) -> Result<Self, AccelError> {
        let id = DeviceId {
            backend: BackendKind::Cuda,
            index,
        };
        let found = crate::cuda::enumerate()?;
        let device = found
            .supported
            .get(index as usize)
            .ok_or(AccelError::NoSuchDevice { device: id })?;
        let driver = |operation| move |err| driver_error(id, operation, err);
        let (context, compute, copies) = guard(id, "creating a context", || {
            let context = CudaContext::new(device.ordinal).map_err(driver("creating a context"))?;
            // SAFETY: called before this context allocated or launched anything; from here on
            // this backend orders its two streams with explicit events.
            unsafe { context.disable_event_tracking() };
            let compute = context.new_stream().map_err(driver("creating a stream"))?;
            let copies = context.new_stream().map_err(driver("creating a stream"))?;
            Ok::<_, AccelError>((context, compute, copies))
        })??;
        let cache_dir = options.ptx_cache_dir.clone().or_else(default_ptx_cache_dir);
        let program = CudaProgram::new();
        let ptx = cached_ptx(
            &program,
            id,
            device.compute_capability,
            cache_dir.as_deref(),
        )?;
        let kernels = guard(id, "loading the kernels", || {
            let module = context
                .load_module(Ptx::from_src(ptx))
                .map_err(driver("loading the kernel module"))?;
            KERNEL_NAMES
                .iter()
                .map(|&name| {
                    module
                        .load_function(name)
                        .map(|f| (name, f))
                        .map_err(driver("looking up a kernel"))
                })
                .collect::<Result<HashMap<_, _>, AccelError>>()
        })??;
        // Replaced by the real constants below, before any kernel runs.
        let placeholder = CudaBuffer {
            // SAFETY: the placeholder is never read.
            slice: guard(id, "allocating", || unsafe { compute.alloc::<u32>(1) })?
                .map_err(driver("allocating"))?,
            compute: compute.clone(),
        };
        let mut backend = CudaBackend {
            info: device.info.clone(),
            compute_capability: device.compute_capability,
            context,
            compute,
            copies,
            kernels,
            poseidon2_constants: placeholder,
            twiddles: Mutex::new(HashMap::new()),
            upload_staging: Mutex::new(None),
            download_staging: Mutex::new(None),
            poison: options.poison,
            specialized: Mutex::new(options.specialize_quotients.then(HashMap::new)),
            cache_dir,
        };
        backend.poseidon2_constants = backend.upload_words(&poseidon2_constants().words)?;
        Ok(backend)
    }

    /// Fills every buffer this backend allocates from now on with `sentinel` before any
    /// kernel writes it. A test aid: a kernel that skips an element leaves a word that is not
    /// a canonical field element (for `sentinel ≥ p`), which [`Backend::download`] reports.
    pub fn poison_new_buffers(mut self, sentinel: u32) -> Self {
        self.poison = Some(sentinel);
        self
    }

    /// The device's compute capability, e.g. `(9, 0)` for an H100.
    pub fn compute_capability(&self) -> (u32, u32) {
        self.compute_capability
    }

    fn id(&self) -> DeviceId {
        self.info.id
    }

    fn driver(
        &self,
        operation: &'static str,
    ) -> impl Fn(cudarc::driver::DriverError) -> AccelError {
        let id = self.id();
        move |err| driver_error(id, operation, err)
    }

    /// Makes this backend's context current on the calling thread.
    fn bind(&self) -> Result<(), AccelError> {
        self.context
            .bind_to_thread()
            .map_err(self.driver("binding the context"))
    }

    /// A device buffer of `len` words on `stream`, poisoned if asked for.
    fn alloc_on(&self, stream: &Arc<CudaStream>, len: usize) -> Result<CudaBuffer, AccelError> {
        self.bind()?;
        let bytes = (len as u64).saturating_mul(4);
        if bytes > self.info.memory_bytes {
            return Err(AccelError::OutOfDeviceMemory {
                device: self.id(),
                requested_bytes: bytes,
                detail: format!("the device has {} bytes", self.info.memory_bytes),
            });
        }
        // SAFETY: the words are written (by an upload, a poison fill or a kernel) before any
        // kernel or download reads them.
        let slice =
            unsafe { stream.alloc::<u32>(len.max(1)) }.map_err(|err| {
                match driver_error(self.id(), "allocating a buffer", err) {
                    AccelError::OutOfDeviceMemory { device, detail, .. } => {
                        AccelError::OutOfDeviceMemory {
                            device,
                            requested_bytes: bytes,
                            detail,
                        }
                    }
                    other => other,
                }
            })?;
        let buffer = CudaBuffer {
            slice,
            compute: self.compute.clone(),
        };
        if let Some(sentinel) = self.poison {
            // SAFETY: the pointer and length describe the allocation just made.
            unsafe {
                sys::cuMemsetD32Async(buffer.ptr(), sentinel, len.max(1), stream.cu_stream())
            }
            .result()
            .map_err(self.driver("poisoning a buffer"))?;
        }
        Ok(buffer)
    }

    /// A buffer on the compute stream.
    fn alloc(&self, len: usize) -> Result<CudaBuffer, AccelError> {
        self.alloc_on(&self.compute, len)
    }

    /// Copies words to a fresh device buffer through the pinned staging buffer, on the copy
    /// stream; the compute stream waits for the copy before its next kernel.
    fn upload_words(&self, words: &[u32]) -> Result<CudaBuffer, AccelError> {
        self.upload_with(words.len(), |staging| staging.copy_from_slice(words))
    }

    fn upload_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u32]),
    ) -> Result<CudaBuffer, AccelError> {
        let buffer = self.alloc_on(&self.copies, len)?;
        let mut staging = self
            .upload_staging
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The previous copy out of the staging buffer must be done before it is refilled.
        self.copies
            .synchronize()
            .map_err(self.driver("waiting for a copy"))?;
        let host = self.staging_slice(&mut staging, len, sys::CU_MEMHOSTALLOC_WRITECOMBINED)?;
        fill(&mut host[..len]);
        // SAFETY: `buffer` holds at least `len` words; the pinned source stays alive (and
        // untouched: the lock is held until the next copy synchronises) until the copy ends.
        unsafe { result::memcpy_htod_async(buffer.ptr(), &host[..len], self.copies.cu_stream()) }
            .map_err(self.driver("upload"))?;
        let copied = self
            .copies
            .record_event(None)
            .map_err(self.driver("upload"))?;
        self.compute.wait(&copied).map_err(self.driver("upload"))?;
        Ok(buffer)
    }

    /// A pinned staging buffer, grown to at least `len` words (allocated with `flags`).
    fn staging_slice<'a>(
        &self,
        staging: &'a mut Option<PinnedHostSlice<u32>>,
        len: usize,
        flags: u32,
    ) -> Result<&'a mut [u32], AccelError> {
        if staging.as_ref().is_none_or(|s| s.len() < len) {
            *staging = None;
            let capacity = len.next_power_of_two().max(1 << 16);
            // SAFETY: the words are written before they are read.
            let pinned = unsafe { self.context.alloc_pinned_with_flags::<u32>(capacity, flags) }
                .map_err(self.driver("allocating pinned host memory"))?;
            *staging = Some(pinned);
        }
        match staging.as_mut() {
            Some(pinned) => pinned
                .as_mut_slice()
                .map_err(self.driver("using pinned host memory")),
            None => unreachable!("the staging buffer was just allocated"),
        }
    }

    /// Reads `len` words at `offset` (after all queued kernels) and checks they are canonical
    /// field elements.
    fn read_words(
        &self,
        buffer: &CudaBuffer,
        offset: usize,
        len: usize,
    ) -> Result<Vec<BabyBear>, AccelError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        self.bind()?;
        let mut staging = self
            .download_staging
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let ready = self
            .compute
            .record_event(None)
            .map_err(self.driver("download"))?;
        self.copies.wait(&ready).map_err(self.driver("download"))?;
        let host = self.staging_slice(&mut staging, len, 0)?;
        // SAFETY: the source range lies inside `buffer` (callers pass in-bounds ranges) and
        // the pinned destination holds `len` words; the copy is awaited before reading.
        unsafe {
            result::memcpy_dtoh_async(
                &mut host[..len],
                buffer.ptr() + (offset as u64) * 4,
                self.copies.cu_stream(),
            )
        }
        .map_err(self.driver("download"))?;
        self.copies.synchronize().map_err(self.driver("download"))?;
        from_words(&host[..len]).ok_or_else(|| AccelError::Driver {
            device: self.id(),
            operation: "download",
            reason: "the device returned a word that is not a canonical BabyBear element \
                     (an element no kernel wrote)"
                .to_owned(),
        })
    }

    fn read_digest(&self, layer: &CudaBuffer, index: usize) -> Result<Digest, AccelError> {
        let words = self.read_words(layer, index * 8, 8)?;
        Ok(core::array::from_fn(|i| words[i]))
    }

    /// Queues kernel `name` on the compute stream.
    fn launch(
        &self,
        name: &'static str,
        config: LaunchConfig,
        args: &[Arg<'_>],
    ) -> Result<(), AccelError> {
        let function = self
            .kernels
            .get(name)
            .ok_or_else(|| AccelError::KernelBuild {
                device: self.id(),
                log: format!("the module has no kernel {name}"),
            })?;
        self.launch_function(function, name, config, args)
    }

    /// The specialized kernel of `program` (NVRTC-built on first use, PTX cached on disk);
    /// `None` where quotients are interpreted (the default, or no NVRTC here).
    fn specialized_kernel(
        &self,
        program: &crate::quotient::QuotientProgram,
    ) -> Result<Option<CudaFunction>, AccelError> {
        let mut guard_map = self.specialized.lock().unwrap_or_else(|p| p.into_inner());
        let Some(built) = guard_map.as_mut() else {
            return Ok(None);
        };
        let key = crate::quotient::specialization_key(program);
        if let Some(function) = built.get(&key) {
            return Ok(Some(function.clone()));
        }
        let source = CudaProgram::specialized_quotient(program);
        let ptx = match cached_ptx(
            &source,
            self.id(),
            self.compute_capability,
            self.cache_dir.as_deref(),
        ) {
            Ok(ptx) => ptx,
            Err(AccelError::BackendUnavailable { reason, .. }) => {
                tracing::warn!(device = %self.id(), %reason, "no NVRTC: quotients run through the interpreter");
                *guard_map = None;
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        self.bind()?;
        let id = self.id();
        let driver = |operation| move |err| driver_error(id, operation, err);
        let function = guard(id, "loading a quotient kernel", || {
            self.context
                .load_module(Ptx::from_src(ptx))
                .map_err(driver("loading a quotient kernel"))?
                .load_function(crate::quotient::SPECIALIZED_KERNEL)
                .map_err(driver("looking up a quotient kernel"))
        })??;
        built.insert(key, function.clone());
        Ok(Some(function))
    }

    /// Queues `function` (kernel `name`) on the compute stream.
    fn launch_function(
        &self,
        function: &CudaFunction,
        name: &'static str,
        config: LaunchConfig,
        args: &[Arg<'_>],
    ) -> Result<(), AccelError> {
        self.bind()?;
        let values: Vec<u64> = args
            .iter()
            .map(|arg| match arg {
                Arg::Buffer(buffer) => buffer.ptr(),
                Arg::Word(word) => u64::from(*word),
            })
            .collect();
        let words: Vec<u32> = args
            .iter()
            .map(|arg| match arg {
                Arg::Word(word) => *word,
                Arg::Buffer(_) => 0,
            })
            .collect();
        let mut builder = self.compute.launch_builder(function);
        for ((arg, pointer), word) in args.iter().zip(&values).zip(&words) {
            match arg {
                Arg::Buffer(_) => builder.arg(pointer),
                Arg::Word(_) => builder.arg(word),
            };
        }
        // SAFETY: every kernel bounds-checks its thread ids against the sizes passed as
        // arguments, every buffer is at least as long as those sizes imply, and each argument
        // has the kernel parameter's type (pointers as 64-bit device addresses, u32 words).
        unsafe { builder.launch(config) }
            .map(|_| ())
            .map_err(self.driver(name))
    }

    /// The table of ω^k (forward) or ω^-k (inverse), k < 2^log_n / 2, in Montgomery form,
    /// built on the host once per size and kept on the device.
    fn twiddles(&self, log_n: usize, direction: Direction) -> Result<Arc<CudaBuffer>, AccelError> {
        let mut cache = self.twiddles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = cache.get(&(log_n, direction)) {
            return Ok(table.clone());
        }
        let generator = BabyBear::two_adic_generator(log_n);
        let root = match direction {
            Direction::Forward => generator,
            Direction::Inverse => generator.inverse(),
        };
        let words: Vec<u32> = root
            .powers()
            .take(((1usize << log_n) / 2).max(1))
            .map(montgomery)
            .collect();
        let table = Arc::new(self.upload_words(&words)?);
        cache.insert((log_n, direction), table.clone());
        Ok(table)
    }

    /// All butterfly stages of one NTT from `src` into `dst` (which may be the same buffer).
    fn butterflies(
        &self,
        src: &CudaBuffer,
        dst: &CudaBuffer,
        pass: ButterflyPass,
    ) -> Result<(), AccelError> {
        let ButterflyPass {
            width,
            log_n,
            is_dif,
            direction,
            scale_by_inverse_n,
        } = pass;
        let twiddles = self.twiddles(log_n, direction)?;
        let scale = montgomery(BabyBear::ONE.div_2exp_u64(log_n as u64));
        let passes = CudaProgram::strided_ntt_launches(width, log_n, is_dif);
        let mut source = src;
        for (index, strided) in passes.iter().enumerate() {
            let (groups_x, groups_y) = strided.groups;
            let (grid_y, grid_z) = split_grid_y(groups_y);
            let config = LaunchConfig {
                grid_dim: (groups_x as u32, grid_y, grid_z),
                block_dim: (strided.threads as u32, 1, 1),
                shared_mem_bytes: 0,
            };
            let last = index + 1 == passes.len();
            self.launch(
                "ntt_tile_strided",
                config,
                &[
                    Arg::Buffer(source),
                    Arg::Buffer(dst),
                    Arg::Word(width as u32),
                    Arg::Word(log_n as u32),
                    Arg::Word(strided.first_stage),
                    Arg::Word(strided.stages),
                    Arg::Word(u32::from(is_dif)),
                    Arg::Buffer(&twiddles),
                    Arg::Word(scale),
                    Arg::Word(u32::from(last && scale_by_inverse_n)),
                ],
            )?;
            source = dst;
        }
        Ok(())
    }

    fn bit_reverse_rows(
        &self,
        src: &CudaBuffer,
        dst: &CudaBuffer,
        width: usize,
        log_n: usize,
    ) -> Result<(), AccelError> {
        self.launch(
            "bit_reverse_rows",
            grid_2d(width, 1usize << log_n),
            &[
                Arg::Buffer(src),
                Arg::Buffer(dst),
                Arg::Word(width as u32),
                Arg::Word(log_n as u32),
            ],
        )
    }

    /// Hashes row r of every matrix of `group` (all `height` rows tall), concatenated, into
    /// digest r of `digests`.
    fn hash_rows(
        &self,
        group: &[&DeviceMatrix<Self>],
        height: usize,
        digests: &CudaBuffer,
    ) -> Result<(), AccelError> {
        let sponges = if group.len() > 1 {
            Some(self.alloc(height * 16)?)
        } else {
            None
        };
        let sponge_arg = sponges.as_ref().unwrap_or(&self.poseidon2_constants);
        let mut absorbed = 0usize;
        for (position, matrix) in group.iter().enumerate() {
            self.launch(
                "poseidon2_absorb_rows",
                grid_1d(height, P2_GROUP_ROWS as u32),
                &[
                    Arg::Buffer(&matrix.buffer),
                    Arg::Word(matrix.width as u32),
                    Arg::Word(height as u32),
                    Arg::Buffer(sponge_arg),
                    Arg::Word((absorbed % 8) as u32),
                    Arg::Word(u32::from(position == 0)),
                    Arg::Word(u32::from(position + 1 == group.len())),
                    Arg::Buffer(digests),
                    Arg::Buffer(&self.poseidon2_constants),
                ],
            )?;
            absorbed += matrix.width;
        }
        Ok(())
    }

    /// Permutes 16-word states with Poseidon2 on the device (for tests and benchmarks).
    pub fn poseidon2_permute(
        &self,
        states: &[[BabyBear; 16]],
    ) -> Result<Vec<[BabyBear; 16]>, AccelError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let words: Vec<u32> = states.iter().flat_map(|s| to_words(s)).collect();
        let buffer = self.upload_words(&words)?;
        self.launch(
            "poseidon2_permute_states",
            grid_1d(states.len(), P2_BLOCK),
            &[
                Arg::Buffer(&buffer),
                Arg::Word(states.len() as u32),
                Arg::Buffer(&self.poseidon2_constants),
            ],
        )?;
        let values = self.read_words(&buffer, 0, words.len())?;
        Ok(values
            .chunks_exact(16)
            .map(|c| core::array::from_fn(|i| c[i]))
            .collect())
    }
}

impl Backend for CudaBackend {
    type Buffer = CudaBuffer;
    type MerkleTree = CudaMerkleTree;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError> {
        let height = host_matrix_height(values.len(), width)?;
        let buffer = self.upload_with(values.len(), |staging| write_words(staging, values))?;
        Ok(DeviceMatrix {
            buffer,
            width,
            height,
            order: RowOrder::Natural,
        })
    }

    fn download(&self, matrix: &DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError> {
        self.read_words(&matrix.buffer, 0, matrix.width * matrix.height)
    }

    fn copy_into(
        &self,
        source: &DeviceMatrix<Self>,
        destination: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        check_same_shape(source, destination)?;
        self.bind()?;
        // SAFETY: both buffers hold `width * height` words (same shape, checked above).
        unsafe {
            result::memcpy_dtod_async(
                destination.buffer.ptr(),
                source.buffer.ptr(),
                source.width * source.height * 4,
                self.compute.cu_stream(),
            )
        }
        .map_err(self.driver("copying a buffer"))?;
        destination.order = source.order;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), AccelError> {
        self.bind()?;
        self.compute
            .synchronize()
            .map_err(self.driver("finishing the queue"))?;
        self.copies
            .synchronize()
            .map_err(self.driver("finishing the queue"))
    }

    fn ntt(
        &self,
        matrix: &mut DeviceMatrix<Self>,
        direction: Direction,
        output: RowOrder,
    ) -> Result<(), AccelError> {
        let log_n = transform_log_height(matrix.width, matrix.height)?;
        let width = matrix.width;
        if log_n > 0 {
            // DIT consumes bit-reversed rows and leaves natural ones; DIF the other way round.
            // Asking for the order already held costs one reordering pass into scratch.
            let pass = ButterflyPass {
                width,
                log_n,
                is_dif: matrix.order == RowOrder::Natural,
                direction,
                scale_by_inverse_n: direction == Direction::Inverse,
            };
            if matrix.order != output {
                self.butterflies(&matrix.buffer, &matrix.buffer, pass)?;
            } else {
                let scratch = self.alloc(width << log_n)?;
                self.bit_reverse_rows(&matrix.buffer, &scratch, width, log_n)?;
                let pass = ButterflyPass {
                    is_dif: !pass.is_dif,
                    ..pass
                };
                self.butterflies(&scratch, &matrix.buffer, pass)?;
            }
        }
        matrix.order = output;
        Ok(())
    }

    fn coset_lde(
        &self,
        evaluations: &DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let (log_h, log_out) = check_coset_lde_input(evaluations, added_bits)?;
        let width = evaluations.width;
        // Inverse NTT without the 1/h (folded into the coset factors), bit-reversed out.
        let coefficients = if log_h > 0 {
            let scratch = self.alloc(width << log_h)?;
            let inverse = ButterflyPass {
                width,
                log_n: log_h,
                is_dif: true,
                direction: Direction::Inverse,
                scale_by_inverse_n: false,
            };
            self.butterflies(&evaluations.buffer, &scratch, inverse)?;
            Some(scratch)
        } else {
            None
        };
        let output = self.alloc(width << log_out)?;
        self.launch(
            "coset_scale_pad",
            grid_2d(width, 1usize << log_out),
            &[
                Arg::Buffer(coefficients.as_ref().unwrap_or(&evaluations.buffer)),
                Arg::Buffer(&output),
                Arg::Word(width as u32),
                Arg::Word(log_h as u32),
                Arg::Word(log_out as u32),
                Arg::Word(montgomery(shift)),
                Arg::Word(montgomery(BabyBear::ONE.div_2exp_u64(log_h as u64))),
                Arg::Word(montgomery(BabyBear::ONE)),
            ],
        )?;
        if log_out > 0 {
            let forward = ButterflyPass {
                width,
                log_n: log_out,
                is_dif: true,
                direction: Direction::Forward,
                scale_by_inverse_n: false,
            };
            self.butterflies(&output, &output, forward)?;
        }
        Ok(DeviceMatrix {
            buffer: output,
            width,
            height: 1 << log_out,
            order: RowOrder::BitReversed,
        })
    }

    fn fri_fold(
        &self,
        values: &DeviceMatrix<Self>,
        beta: Ext,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let words = kernel_words(values, beta)?;
        let half = 1usize << words[0];
        let output = self.alloc(4 * half)?;
        let mut args = vec![Arg::Buffer(&values.buffer), Arg::Buffer(&output)];
        args.extend(words.map(Arg::Word));
        self.launch("fri_fold", grid_1d(half, ROW_BLOCK), &args)?;
        Ok(folded_matrix(output, words[0]))
    }

    fn strided_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        first: usize,
        step: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let words = strided_rows_words(matrix, first, step)?;
        let rows = words[1] as usize;
        let output = self.alloc(matrix.width * rows)?;
        let mut args = vec![Arg::Buffer(&matrix.buffer), Arg::Buffer(&output)];
        args.extend(words.map(Arg::Word));
        self.launch("strided_rows", grid_1d(rows, ROW_BLOCK), &args)?;
        Ok(strided_matrix(output, words))
    }

    fn gather_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: &[usize],
    ) -> Result<Vec<BabyBear>, AccelError> {
        let (indices, words) = gather_rows_words(matrix, rows)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let indices = self.upload_words(&indices)?;
        let output = self.alloc(matrix.width * rows.len())?;
        let mut args = vec![
            Arg::Buffer(&matrix.buffer),
            Arg::Buffer(&indices),
            Arg::Buffer(&output),
        ];
        args.extend(words.map(Arg::Word));
        self.launch("gather_rows", grid_1d(rows.len(), ROW_BLOCK), &args)?;
        self.download(&gathered_matrix(output, words))
    }

    fn fri_add_scaled(
        &self,
        acc: &mut DeviceMatrix<Self>,
        addend: &DeviceMatrix<Self>,
        factor: Ext,
    ) -> Result<(), AccelError> {
        let words = add_scaled_words(acc, addend, factor)?;
        let mut args = vec![Arg::Buffer(&acc.buffer), Arg::Buffer(&addend.buffer)];
        args.extend(words.map(Arg::Word));
        self.launch("fri_add_scaled", grid_1d(acc.height, ROW_BLOCK), &args)
    }

    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_combine(matrix, powers)?;
        let table = self.upload_words(&ext_words(powers, true))?;
        let output = self.alloc(4 * matrix.height)?;
        self.launch(
            "combine_rows",
            grid_1d(matrix.height, ROW_BLOCK),
            &[
                Arg::Buffer(&matrix.buffer),
                Arg::Buffer(&table),
                Arg::Buffer(&output),
                Arg::Word(matrix.width as u32),
                Arg::Word(matrix.height as u32),
            ],
        )?;
        Ok(combined_matrix(output, matrix))
    }

    fn deep_accumulate(
        &self,
        combined: &DeviceMatrix<Self>,
        denominators: &DeviceMatrix<Self>,
        c: Ext,
        s: Ext,
        acc: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        let n = check_accumulate(combined, denominators, acc)?;
        let scalars = self.upload_words(&scalar_words(c, s))?;
        self.launch(
            "deep_accumulate",
            grid_1d(n, ROW_BLOCK),
            &[
                Arg::Buffer(&combined.buffer),
                Arg::Buffer(&denominators.buffer),
                Arg::Buffer(&acc.buffer),
                Arg::Buffer(&scalars),
                Arg::Word(n as u32),
            ],
        )
    }

    fn column_dot(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: usize,
        weights: &DeviceMatrix<Self>,
    ) -> Result<Vec<Ext>, AccelError> {
        check_column_dot(matrix, rows, weights)?;
        let chunks = column_chunks(rows);
        let partials = self.alloc(4 * chunks * matrix.width)?;
        self.launch(
            "column_dot",
            grid_2d(matrix.width, chunks),
            &[
                Arg::Buffer(&matrix.buffer),
                Arg::Buffer(&weights.buffer),
                Arg::Buffer(&partials),
                Arg::Word(matrix.width as u32),
                Arg::Word(rows as u32),
                Arg::Word(COLUMN_CHUNK as u32),
            ],
        )?;
        download_column_sums(self, partials, matrix.width, chunks)
    }

    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let n = inputs.check(program)?;
        let tables = DeviceTables::build(program, inputs, false);
        let table_buffer = self.upload_words(&tables.words)?;
        let output = self.alloc(4 * n)?;
        let [main, preprocessed, permutation] = inputs.buffers();
        let args = [
            Arg::Buffer(&table_buffer),
            Arg::Buffer(main),
            Arg::Buffer(preprocessed),
            Arg::Buffer(permutation),
            Arg::Buffer(&output),
        ];
        match self.specialized_kernel(program)? {
            Some(kernel) => self.launch_function(
                &kernel,
                crate::quotient::SPECIALIZED_KERNEL,
                grid_1d(n, QUOTIENT_BLOCK),
                &args,
            )?,
            None => self.launch("quotient_eval", grid_1d(n, QUOTIENT_BLOCK), &args)?,
        }
        Ok(crate::quotient::values_matrix(output, n))
    }

    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<CudaMerkleTree, AccelError> {
        let heights: Vec<usize> = leaves.iter().map(|m| m.height).collect();
        let max_height = tree_max_height(&heights)?;
        let mut tallest_first: Vec<&DeviceMatrix<Self>> = leaves.iter().collect();
        tallest_first.sort_by_key(|m| std::cmp::Reverse(m.height));
        let group_of = |height: usize| -> Vec<&DeviceMatrix<Self>> {
            tallest_first
                .iter()
                .copied()
                .filter(|m| m.height == height)
                .collect()
        };
        let first_layer = self.alloc(max_height * 8)?;
        self.hash_rows(&group_of(max_height), max_height, &first_layer)?;
        let mut layers = vec![first_layer];
        let mut layer_len = max_height;
        while layer_len > 1 {
            layer_len /= 2;
            let injected_group = group_of(layer_len);
            let injected = if injected_group.is_empty() {
                None
            } else {
                let digests = self.alloc(layer_len * 8)?;
                self.hash_rows(&injected_group, layer_len, &digests)?;
                Some(digests)
            };
            let parents = self.alloc(layer_len * 8)?;
            let children = layers.last().unwrap_or(&parents);
            self.launch(
                "merkle_compress_level",
                grid_1d(layer_len, P2_BLOCK),
                &[
                    Arg::Buffer(children),
                    Arg::Buffer(&parents),
                    Arg::Word(layer_len as u32),
                    Arg::Buffer(injected.as_ref().unwrap_or(&self.poseidon2_constants)),
                    Arg::Word(u32::from(injected.is_some())),
                    Arg::Buffer(&self.poseidon2_constants),
                ],
            )?;
            layers.push(parents);
        }
        drop(tallest_first);
        Ok(CudaMerkleTree {
            layers,
            leaf_count: max_height,
            leaves,
        })
    }

    fn keeps_tree_leaves(&self) -> bool {
        true
    }

    fn tree_leaves<'a>(&self, tree: &'a CudaMerkleTree) -> Option<&'a [DeviceMatrix<Self>]> {
        Some(&tree.leaves)
    }

    fn merkle_cap(
        &self,
        tree: &CudaMerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let top = tree.layers.len() - 1;
        let level = top - cap_height.min(top);
        let count = 1usize << (top - level);
        let words = self.read_words(&tree.layers[level], 0, count * 8)?;
        Ok(words
            .chunks_exact(8)
            .map(|c| core::array::from_fn(|i| c[i]))
            .collect())
    }

    fn merkle_path(&self, tree: &CudaMerkleTree, index: usize) -> Result<Vec<Digest>, AccelError> {
        check_leaf_index(index, tree.leaf_count)?;
        let levels = tree.layers.len() - 1;
        (0..levels)
            .map(|level| self.read_digest(&tree.layers[level], (index >> level) ^ 1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_beyond_65535_rows_of_blocks_split_over_y_and_z() {
        assert_eq!(split_grid_y(0), (1, 1));
        assert_eq!(split_grid_y(65_535), (65_535, 1));
        assert_eq!(split_grid_y(1 << 17), (32_768, 4));
        let (y, z) = split_grid_y(100_001);
        assert!(u64::from(y) * u64::from(z) >= 100_001 && y <= MAX_GRID_YZ && z <= MAX_GRID_YZ);
        // The largest launch: coset_scale_pad over 2^27 rows of one column.
        let config = grid_2d(1, 1 << 27);
        let (_, gy, gz) = config.grid_dim;
        let (bx, by, _) = config.block_dim;
        assert_eq!(bx * by, ELEMENTWISE_BLOCK);
        assert!(u64::from(gy) * u64::from(gz) * u64::from(by) >= 1 << 27);
        assert!(gy <= MAX_GRID_YZ && gz <= MAX_GRID_YZ);
        let wide = grid_2d(256, 1 << 20);
        assert_eq!(wide.block_dim, (64, 4, 1));
        assert_eq!(wide.grid_dim.0, 4);
    }

    #[test]
    fn opening_without_a_driver_is_a_typed_error() {
        // SAFETY: probing for the library only opens it.
        if unsafe { sys::is_culib_present() } {
            match CudaBackend::open(0) {
                Ok(backend) => eprintln!("{} opened", backend.info().id),
                Err(err) => eprintln!("cuda:0 did not open: {err}"),
            }
            return;
        }
        for index in [0, 9999] {
            match CudaBackend::open(index) {
                Err(AccelError::BackendUnavailable { backend, reason }) => {
                    assert_eq!(backend, BackendKind::Cuda);
                    assert_eq!(reason, "no CUDA driver (libcuda.so not found)");
                }
                other => panic!("expected BackendUnavailable, got {other:?}"),
            }
        }
    }
}
