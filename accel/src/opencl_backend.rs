//! The OpenCL backend: the shared kernels of `zkbox-kernels` on any OpenCL 1.2 device.
//!
//! Matrices live in `cl_mem` buffers of canonical `u32` words; every call enqueues kernels
//! on one in-order queue and returns without waiting, except those that hand data back to
//! the host. Twiddle tables are built on the host once per size and kept on the device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ocl::enums::{DeviceInfo as ClDeviceInfo, DeviceInfoResult};
use ocl::{Buffer, Context, Device, Kernel, Platform, Program, Queue, SpatialDims};
use p3_baby_bear::BabyBear;
use p3_field::{Field, PrimeCharacteristicRing, TwoAdicField};

use crate::AccelError;
use crate::backend::{
    Backend, DeviceMatrix, Digest, Direction, RowOrder, check_coset_lde_input, check_leaf_index,
    check_same_shape, gather_rows_words, gathered_matrix, host_matrix_height, strided_matrix,
    strided_rows_words, transform_log_height, tree_max_height,
};
use crate::deep::{
    COLUMN_CHUNK, check_accumulate, check_column_dot, check_combine, column_chunks,
    combined_matrix, download_column_sums, ext_words, scalar_words,
};
use crate::device::{BackendKind, DeviceId, DeviceInfo};
use crate::field::{field_defines, from_words, montgomery, poseidon2_constants, to_words};
use crate::fri::{add_scaled_words, folded_matrix, kernel_words};
use crate::quotient::{DeviceTables, Ext, QuotientInputs, QuotientProgram};

/// Columns one NTT tile work-group covers (work-item dimension 0).
const NTT_TILE_COLS: usize = 4;
/// log2 of the rows an NTT tile holds in local memory, at most; the stages whose butterflies
/// stay inside such a block run fused in one launch.
const NTT_TILE_LOG: usize = 6;

/// Rows one Poseidon2 leaf-hashing work-group stages through local memory.
const P2_GROUP_ROWS: usize = 32;

/// PoCL 3.1 crashes when contexts are created and programs built on several threads at
/// once; that setup is rare, so it is serialised process-wide.
static DRIVER_SETUP: Mutex<()> = Mutex::new(());

/// Twiddle tables on the device, by log2 size and direction.
type TwiddleCache = Mutex<HashMap<(usize, Direction), Arc<Buffer<u32>>>>;

/// The shape of one NTT's butterfly stages, as [`OpenClBackend::butterflies`] runs them.
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

/// One launch of an NTT's butterfly schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ButterflyStep {
    /// Stages 0..stages fused in local memory (`ntt_tile`).
    Tile { stages: usize },
    /// Stages `lower_stage` and `lower_stage + 1` in one pass (`ntt_stage_pair`).
    Pair { lower_stage: usize },
    /// One stage (`ntt_stage`).
    Single { stage: usize },
}

/// The launches of one NTT in execution order: DIT runs stages upwards (tile first), DIF
/// downwards (tile last); the wide stages go two per pass over memory.
fn butterfly_schedule(log_n: usize, tile_log: usize, is_dif: bool) -> Vec<ButterflyStep> {
    let tile_stages = log_n.min(tile_log);
    let mut wide: Vec<ButterflyStep> = Vec::new();
    let mut stage = tile_stages;
    while stage < log_n {
        if stage + 1 < log_n {
            wide.push(ButterflyStep::Pair { lower_stage: stage });
            stage += 2;
        } else {
            wide.push(ButterflyStep::Single { stage });
            stage += 1;
        }
    }
    let tile = (tile_stages > 0).then_some(ButterflyStep::Tile {
        stages: tile_stages,
    });
    if is_dif {
        wide.reverse();
        wide.into_iter().chain(tile).collect()
    } else {
        tile.into_iter().chain(wide).collect()
    }
}

/// A Merkle tree whose digest layers stay in device memory, leaves first.
#[derive(Debug)]
pub struct OpenClMerkleTree {
    layers: Vec<Buffer<u32>>,
    leaf_count: usize,
    /// The committed matrices, kept on the device with their tree.
    leaves: Vec<DeviceMatrix<OpenClBackend>>,
}

impl OpenClMerkleTree {
    /// The committed matrices, in the order given.
    pub fn leaves(&self) -> &[DeviceMatrix<OpenClBackend>] {
        &self.leaves
    }
}

/// One OpenCL device as a [`Backend`].
#[derive(Debug)]
pub struct OpenClBackend {
    info: DeviceInfo,
    queue: Queue,
    program: Program,
    max_alloc_bytes: u64,
    tile_log: usize,
    poseidon2_constants: Buffer<u32>,
    twiddles: TwiddleCache,
    poison: Option<u32>,
    /// Run quotient programs as specialized kernels (see [`Self::specialize_quotients`]).
    specialize: bool,
    /// Specialized quotient programs built so far, by `quotient::specialization_key`.
    specialized: Mutex<HashMap<Vec<u32>, Program>>,
}

/// A kernel argument.
enum Arg<'a> {
    Buffer(&'a Buffer<u32>),
    Word(u32),
}

impl OpenClBackend {
    /// Opens device `opencl:index` and compiles the kernels for it.
    pub fn open(index: u32) -> Result<Self, AccelError> {
        let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
        let id = DeviceId {
            backend: BackendKind::OpenCl,
            index,
        };
        let handles = crate::opencl::device_handles()?;
        let handle = handles
            .get(index as usize)
            .ok_or(AccelError::NoSuchDevice { device: id })?;
        let info = crate::opencl::describe(handle, index);
        let driver = |operation| move |err: ocl::Error| driver_error(id, operation, err);
        let platform = Platform::from(handle.platform);
        let device = Device::from(handle.device);
        let context = Context::builder()
            .platform(platform)
            .devices(device)
            .build()
            .map_err(driver("creating a context"))?;
        let queue = Queue::new(&context, device, None).map_err(driver("creating a queue"))?;
        let max_alloc_bytes = match device.info(ClDeviceInfo::MaxMemAllocSize) {
            Ok(DeviceInfoResult::MaxMemAllocSize(bytes)) => bytes,
            _ => info.memory_bytes,
        };
        let max_group = device
            .max_wg_size()
            .map_err(driver("querying work-group size"))?;
        let tile_log = NTT_TILE_LOG.min((max_group / NTT_TILE_COLS).max(1).ilog2() as usize + 1);
        let program = build_program(id, &context, device, &program_source(tile_log))?;
        let constants = poseidon2_constants().words;
        let poseidon2_constants = Buffer::<u32>::builder()
            .queue(queue.clone())
            .len(constants.len())
            .copy_host_slice(&constants)
            .build()
            .map_err(driver("uploading Poseidon2 constants"))?;
        Ok(OpenClBackend {
            info,
            queue,
            program,
            max_alloc_bytes,
            tile_log,
            poseidon2_constants,
            twiddles: Mutex::new(HashMap::new()),
            poison: None,
            specialize: false,
            specialized: Mutex::new(HashMap::new()),
        })
    }

    /// Runs each quotient program as a kernel of its own, its interpreter loop unrolled into
    /// straight-line code the device compiler keeps in registers (built once per program),
    /// instead of through the bytecode interpreter. Off by default: on PoCL a build costs
    /// about as much as interpreting; on a GPU it pays back at once.
    pub fn specialize_quotients(mut self, on: bool) -> Self {
        self.specialize = on;
        self
    }

    /// The specialized program of `program`, built on first use.
    fn specialized_program(
        &self,
        program: &crate::quotient::QuotientProgram,
    ) -> Result<Program, AccelError> {
        let key = crate::quotient::specialization_key(program);
        let mut built = self.specialized.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = built.get(&key) {
            return Ok(found.clone());
        }
        let text =
            crate::quotient::specialized_program_text(zkbox_kernels::PRELUDE_OPENCL.text, program);
        let context = self.queue.context();
        let device = self.queue.device();
        let compiled = build_program(self.id(), &context, device, &text)?;
        built.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Fills every buffer this backend allocates from now on with `sentinel` before any
    /// kernel writes it. A test aid: a kernel that skips an element leaves a word that is not
    /// a canonical field element (for `sentinel ≥ p`), which [`Backend::download`] reports.
    pub fn poison_new_buffers(mut self, sentinel: u32) -> Self {
        self.poison = Some(sentinel);
        self
    }

    fn id(&self) -> DeviceId {
        self.info.id
    }

    fn driver(&self, operation: &'static str) -> impl Fn(ocl::Error) -> AccelError + '_ {
        move |err| driver_error(self.id(), operation, err)
    }

    /// A device buffer holding `words` (kernel constants, not a matrix).
    fn upload_table(&self, words: &[u32]) -> Result<Buffer<u32>, AccelError> {
        let buffer = self.alloc(words.len())?;
        buffer
            .write(words)
            .enq()
            .map_err(self.driver("uploading a table"))?;
        Ok(buffer)
    }

    /// A device buffer of `len` words, poisoned if asked for.
    fn alloc(&self, len: usize) -> Result<Buffer<u32>, AccelError> {
        let bytes = (len as u64).saturating_mul(4);
        if bytes > self.max_alloc_bytes {
            return Err(AccelError::OutOfDeviceMemory {
                device: self.id(),
                requested_bytes: bytes,
                detail: format!(
                    "the device allocates at most {} bytes at once",
                    self.max_alloc_bytes
                ),
            });
        }
        let buffer = Buffer::<u32>::builder()
            .queue(self.queue.clone())
            .len(len)
            .build()
            .map_err(|err| self.allocation_error(bytes, err))?;
        if let Some(sentinel) = self.poison {
            buffer
                .cmd()
                .fill(sentinel, None)
                .enq()
                .map_err(|err| self.allocation_error(bytes, err))?;
        }
        Ok(buffer)
    }

    fn allocation_error(&self, bytes: u64, err: ocl::Error) -> AccelError {
        let text = err.to_string();
        if text.contains("OUT_OF") || text.contains("ALLOCATION_FAILURE") {
            AccelError::OutOfDeviceMemory {
                device: self.id(),
                requested_bytes: bytes,
                detail: text,
            }
        } else {
            driver_error(self.id(), "allocating a buffer", err)
        }
    }

    /// Enqueues kernel `name` over `global` work-items (and `local` per group if given).
    fn launch(
        &self,
        name: &'static str,
        global: SpatialDims,
        local: Option<SpatialDims>,
        args: &[Arg<'_>],
    ) -> Result<(), AccelError> {
        self.launch_from(&self.program, name, global, local, args)
    }

    /// [`Self::launch`] of a kernel of `program`.
    fn launch_from(
        &self,
        program: &Program,
        name: &'static str,
        global: SpatialDims,
        local: Option<SpatialDims>,
        args: &[Arg<'_>],
    ) -> Result<(), AccelError> {
        let mut builder = Kernel::builder();
        builder
            .program(program)
            .name(name)
            .queue(self.queue.clone())
            .global_work_size(global);
        if let Some(local) = local {
            builder.local_work_size(local);
        }
        for arg in args {
            match arg {
                Arg::Buffer(buffer) => builder.arg(*buffer),
                Arg::Word(word) => builder.arg(*word),
            };
        }
        let kernel = builder.build().map_err(self.driver(name))?;
        // SAFETY: every kernel bounds-checks its work-item ids against the sizes passed as
        // arguments, and every buffer argument is at least as long as those sizes imply.
        unsafe { kernel.enq() }.map_err(self.driver(name))
    }

    /// The table of ω^k (forward) or ω^-k (inverse), k < 2^log_n / 2, in Montgomery form,
    /// built on the host once per size and kept on the device.
    fn twiddles(&self, log_n: usize, direction: Direction) -> Result<Arc<Buffer<u32>>, AccelError> {
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
            .take((1usize << log_n) / 2)
            .map(montgomery)
            .collect();
        let table = self.alloc(words.len())?;
        table
            .write(&words)
            .enq()
            .map_err(self.driver("uploading twiddles"))?;
        let table = Arc::new(table);
        cache.insert((log_n, direction), table.clone());
        Ok(table)
    }

    /// All butterfly stages of one NTT from `src` into `dst` (which may be the same buffer).
    fn butterflies(
        &self,
        src: &Buffer<u32>,
        dst: &Buffer<u32>,
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
        let steps = butterfly_schedule(log_n, self.tile_log, is_dif);
        let mut source = src;
        for (index, step) in steps.iter().enumerate() {
            let (name, global, local, stage_arg) = match *step {
                ButterflyStep::Tile { stages } => {
                    let group_rows = (1usize << self.tile_log) / 2;
                    let blocks = 1usize << (log_n - stages);
                    (
                        "ntt_tile",
                        SpatialDims::Two(
                            width.div_ceil(NTT_TILE_COLS) * NTT_TILE_COLS,
                            blocks * group_rows,
                        ),
                        Some(SpatialDims::Two(NTT_TILE_COLS, group_rows)),
                        stages,
                    )
                }
                ButterflyStep::Pair { lower_stage } => (
                    "ntt_stage_pair",
                    SpatialDims::Two(width, (1usize << log_n) / 4),
                    None,
                    lower_stage,
                ),
                ButterflyStep::Single { stage } => (
                    "ntt_stage",
                    SpatialDims::Two(width, (1usize << log_n) / 2),
                    None,
                    stage,
                ),
            };
            let last = index + 1 == steps.len();
            self.launch(
                name,
                global,
                local,
                &[
                    Arg::Buffer(source),
                    Arg::Buffer(dst),
                    Arg::Word(width as u32),
                    Arg::Word(log_n as u32),
                    Arg::Word(stage_arg as u32),
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
        src: &Buffer<u32>,
        dst: &Buffer<u32>,
        width: usize,
        log_n: usize,
    ) -> Result<(), AccelError> {
        self.launch(
            "bit_reverse_rows",
            SpatialDims::Two(width, 1usize << log_n),
            None,
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
        digests: &Buffer<u32>,
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
                SpatialDims::One(height.div_ceil(P2_GROUP_ROWS) * P2_GROUP_ROWS),
                Some(SpatialDims::One(P2_GROUP_ROWS)),
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
        let buffer = self.alloc(words.len())?;
        buffer.write(&words).enq().map_err(self.driver("upload"))?;
        self.launch(
            "poseidon2_permute_states",
            SpatialDims::One(states.len()),
            None,
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

    /// Reads `len` words at `offset` and checks they are canonical field elements.
    fn read_words(
        &self,
        buffer: &Buffer<u32>,
        offset: usize,
        len: usize,
    ) -> Result<Vec<BabyBear>, AccelError> {
        let mut words = vec![0u32; len];
        buffer
            .read(&mut words)
            .offset(offset)
            .enq()
            .map_err(self.driver("download"))?;
        from_words(&words).ok_or_else(|| AccelError::Driver {
            device: self.id(),
            operation: "download",
            reason: "the device returned a word that is not a canonical BabyBear element \
                     (an element no kernel wrote)"
                .to_owned(),
        })
    }

    fn read_digest(&self, layer: &Buffer<u32>, index: usize) -> Result<Digest, AccelError> {
        let words = self.read_words(layer, index * 8, 8)?;
        Ok(core::array::from_fn(|i| words[i]))
    }
}

impl Backend for OpenClBackend {
    type Buffer = Buffer<u32>;
    type MerkleTree = OpenClMerkleTree;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError> {
        let height = host_matrix_height(values.len(), width)?;
        let buffer = self.alloc(values.len())?;
        buffer
            .write(&to_words(values))
            .enq()
            .map_err(self.driver("upload"))?;
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
        source
            .buffer
            .copy(&destination.buffer, None, None)
            .enq()
            .map_err(self.driver("copying a buffer"))?;
        destination.order = source.order;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), AccelError> {
        self.queue
            .finish()
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
            let scratch = self.alloc(evaluations.buffer.len())?;
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
            SpatialDims::Two(width, 1usize << log_out),
            None,
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

    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let n = inputs.check(program)?;
        let tables = DeviceTables::build(program, inputs, false);
        let table_buffer = self.alloc(tables.words.len())?;
        table_buffer
            .write(&tables.words)
            .enq()
            .map_err(self.driver("upload"))?;
        let output = self.alloc(4 * n)?;
        let [main, preprocessed, permutation] = inputs.buffers();
        let (kernels, name) = if self.specialize {
            (
                self.specialized_program(program)?,
                crate::quotient::SPECIALIZED_KERNEL,
            )
        } else {
            (self.program.clone(), "quotient_eval")
        };
        self.launch_from(
            &kernels,
            name,
            SpatialDims::One(n),
            // Each work-item holds a private register file of a few KiB; PoCL keeps one per
            // work-item of a group on its worker's stack, so groups stay small.
            Some(SpatialDims::One(n.min(QUOTIENT_GROUP))),
            &[
                Arg::Buffer(&table_buffer),
                Arg::Buffer(main),
                Arg::Buffer(preprocessed),
                Arg::Buffer(permutation),
                Arg::Buffer(&output),
            ],
        )?;
        Ok(crate::quotient::values_matrix(output, n))
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
        self.launch("fri_fold", SpatialDims::One(half), None, &args)?;
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
        self.launch("strided_rows", SpatialDims::One(rows), None, &args)?;
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
        let indices = self.upload_table(&indices)?;
        let output = self.alloc(matrix.width * rows.len())?;
        let mut args = vec![
            Arg::Buffer(&matrix.buffer),
            Arg::Buffer(&indices),
            Arg::Buffer(&output),
        ];
        args.extend(words.map(Arg::Word));
        self.launch("gather_rows", SpatialDims::One(rows.len()), None, &args)?;
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
        self.launch("fri_add_scaled", SpatialDims::One(acc.height), None, &args)
    }

    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_combine(matrix, powers)?;
        let table = self.upload_table(&ext_words(powers, true))?;
        let output = self.alloc(4 * matrix.height)?;
        self.launch(
            "combine_rows",
            SpatialDims::One(matrix.height),
            None,
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
        let scalars = self.upload_table(&scalar_words(c, s))?;
        self.launch(
            "deep_accumulate",
            SpatialDims::One(n),
            None,
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
            SpatialDims::Two(matrix.width, chunks),
            None,
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

    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<OpenClMerkleTree, AccelError> {
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
                SpatialDims::One(layer_len),
                None,
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
        Ok(OpenClMerkleTree {
            layers,
            leaf_count: max_height,
            leaves,
        })
    }

    fn keeps_tree_leaves(&self) -> bool {
        true
    }

    fn tree_leaves<'a>(&self, tree: &'a OpenClMerkleTree) -> Option<&'a [DeviceMatrix<Self>]> {
        Some(&tree.leaves)
    }

    fn merkle_cap(
        &self,
        tree: &OpenClMerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let top = tree.layers.len() - 1;
        let level = top - cap_height.min(top);
        let count = 1usize << (top - level);
        (0..count)
            .map(|i| self.read_digest(&tree.layers[level], i))
            .collect()
    }

    fn merkle_path(
        &self,
        tree: &OpenClMerkleTree,
        index: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        check_leaf_index(index, tree.leaf_count)?;
        let levels = tree.layers.len() - 1;
        (0..levels)
            .map(|level| self.read_digest(&tree.layers[level], (index >> level) ^ 1))
            .collect()
    }
}

/// Work-items per group of `quotient_eval` (n is a power of two, so small domains take
/// all of theirs in one group).
const QUOTIENT_GROUP: usize = 64;

/// The program text: prelude, generated defines, shared sources.
fn program_source(tile_log: usize) -> String {
    let constants = poseidon2_constants();
    let mut source = String::from(zkbox_kernels::PRELUDE_OPENCL.text);
    source.push_str(&field_defines());
    source.push_str(&crate::quotient::kernel_defines());
    source.push_str(&format!(
        "#define P2_HALF_FULL_ROUNDS {}u\n#define P2_PARTIAL_ROUNDS {}u\n\
         #define NTT_TILE_LOG {tile_log}u\n#define NTT_TILE_COLS {NTT_TILE_COLS}u\n\
         #define P2_GROUP_ROWS {P2_GROUP_ROWS}u\n",
        constants.half_full_rounds, constants.partial_rounds
    ));
    for file in zkbox_kernels::SOURCES {
        source.push_str(&format!("// ---- {} ----\n", file.path));
        source.push_str(file.text);
    }
    source
}

/// Compiles `source` for `device`, reporting the compiler's log as a typed error.
fn build_program(
    id: DeviceId,
    context: &Context,
    device: Device,
    source: &str,
) -> Result<Program, AccelError> {
    Program::builder()
        .src(source)
        .devices(device)
        .build(context)
        .map_err(|err| AccelError::KernelBuild {
            device: id,
            log: err.to_string(),
        })
}

fn driver_error(device: DeviceId, operation: &'static str, err: ocl::Error) -> AccelError {
    AccelError::Driver {
        device,
        operation,
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_the_compiler_rejects_is_a_typed_error_with_its_log() {
        let Ok(handles) = crate::opencl::device_handles() else {
            return;
        };
        let Some(handle) = handles.first() else {
            return;
        };
        let id = DeviceId {
            backend: BackendKind::OpenCl,
            index: 0,
        };
        let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
        let device = Device::from(handle.device);
        let context = Context::builder()
            .platform(Platform::from(handle.platform))
            .devices(device)
            .build()
            .unwrap();
        let broken = format!(
            "{}\nKERNEL void broken(GLOBAL u32* x) {{ x[0] = undeclared; }}\n",
            zkbox_kernels::PRELUDE_OPENCL.text
        );
        match build_program(id, &context, device, &broken) {
            Err(AccelError::KernelBuild { device, log }) => {
                assert_eq!(device, id);
                assert!(log.contains("undeclared"), "log names the problem: {log}");
            }
            other => panic!("expected a kernel build error, got {other:?}"),
        }
    }

    #[test]
    fn the_butterfly_schedule_fuses_small_stages_and_pairs_wide_ones() {
        use ButterflyStep::{Pair, Single, Tile};
        assert_eq!(butterfly_schedule(0, 6, false), vec![]);
        assert_eq!(butterfly_schedule(3, 6, true), vec![Tile { stages: 3 }]);
        assert_eq!(
            butterfly_schedule(7, 6, false),
            vec![Tile { stages: 6 }, Single { stage: 6 }]
        );
        assert_eq!(
            butterfly_schedule(9, 6, false),
            vec![
                Tile { stages: 6 },
                Pair { lower_stage: 6 },
                Single { stage: 8 }
            ]
        );
        assert_eq!(
            butterfly_schedule(10, 6, true),
            vec![
                Pair { lower_stage: 8 },
                Pair { lower_stage: 6 },
                Tile { stages: 6 }
            ]
        );
    }

    #[test]
    fn opening_a_missing_device_is_a_typed_error() {
        assert!(matches!(
            OpenClBackend::open(9999),
            Err(AccelError::NoSuchDevice { .. }) | Err(AccelError::BackendUnavailable { .. })
        ));
    }
}
