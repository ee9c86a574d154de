//! The Vulkan backend: the GLSL compute shaders of `zkbox-kernels` (compiled to SPIR-V at
//! build time) on any Vulkan device with a compute queue, Mesa's lavapipe included.
//!
//! The algorithms are those of the OpenCL kernels (`kernels/device/`), ported to GLSL:
//! matrices live in device-local storage buffers of canonical `u32` words, constants go in
//! Montgomery form, and an NTT is a local-memory tile for the short stages followed by
//! radix-4 passes over global memory for the wide ones. Each backend call records all of its
//! work — every stage of an NTT, every level of a Merkle tree — into one command buffer,
//! submits it to the device's single compute queue and waits for it, so a call returns with
//! its work done and its temporaries freed. Uploads and downloads go through host-visible
//! staging buffers; twiddle tables are built on the host once per size and kept.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use ash::vk;
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
use crate::device::{DeviceId, DeviceInfo};
use crate::field::{MODULUS, from_words, montgomery, poseidon2_constants, to_words};
use crate::fri::{add_scaled_words, folded_matrix, kernel_words};
use crate::quotient::{DeviceTables, Ext, QuotientInputs, QuotientProgram};
use crate::vulkan_device::{
    BINDINGS, BufferKind, Command, Limits, PUSH_WORDS, SPEC_CONSTANTS, Shader, VulkanBuffer,
    VulkanDevice,
};

/// Columns one NTT tile work-group covers.
const NTT_TILE_COLS: usize = 4;
/// log2 of the most rows an NTT tile holds in shared memory (smaller where the device's
/// work-group limits require).
const NTT_TILE_LOG_MAX: usize = 8;
/// Rows one Poseidon2 leaf-hashing work-group stages through shared memory.
const P2_GROUP_ROWS: usize = 32;
/// Invocations per work-group of the element-wise shaders.
const ITEMS_PER_GROUP: usize = 64;

/// A Merkle tree whose digest layers stay in device memory, leaves first.
#[derive(Debug)]
pub struct VulkanMerkleTree {
    layers: Vec<VulkanBuffer>,
    leaf_count: usize,
    /// The committed matrices, kept on the device with their tree.
    leaves: Vec<DeviceMatrix<VulkanBackend>>,
}

impl VulkanMerkleTree {
    /// The committed matrices, in the order given.
    pub fn leaves(&self) -> &[DeviceMatrix<VulkanBackend>] {
        &self.leaves
    }
}

/// One Vulkan device as a [`Backend`] (see the module docs).
pub struct VulkanBackend {
    info: DeviceInfo,
    device: Arc<VulkanDevice>,
    tile_log: usize,
    poseidon2_constants: VulkanBuffer,
    twiddles: Mutex<HashMap<(usize, Direction), Arc<VulkanBuffer>>>,
    poison: Option<u32>,
}

impl fmt::Debug for VulkanBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VulkanBackend")
            .field("device", &self.info.id)
            .field("name", &self.info.name)
            .field("tile_log", &self.tile_log)
            .finish()
    }
}

/// The shape of one NTT's butterfly stages.
#[derive(Debug, Clone, Copy)]
struct ButterflyPass {
    width: usize,
    log_n: usize,
    /// DIF (natural in, bit-reversed out) rather than DIT (bit-reversed in, natural out).
    is_dif: bool,
    /// Multiply by 1/n on the last stage (a complete inverse transform).
    scale_by_inverse_n: bool,
}

/// One launch of an NTT's butterfly schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ButterflyStep {
    /// Stages `0..stages` fused in shared memory (`ntt_tile`).
    Tile { stages: usize },
    /// Stages `lower_stage` and `lower_stage + 1` in one pass (`ntt_stage_pair`).
    Pair { lower_stage: usize },
    /// One stage (`ntt_stage`).
    Single { stage: usize },
}

/// The launches of one NTT in execution order: DIT runs stages upwards (tile first), DIF
/// downwards (tile last); the stages above the tile go two per pass over memory.
fn butterfly_schedule(log_n: usize, tile_log: usize, is_dif: bool) -> Vec<ButterflyStep> {
    let tile_stages = log_n.min(tile_log);
    let mut steps: Vec<ButterflyStep> = Vec::new();
    if tile_stages > 0 {
        steps.push(ButterflyStep::Tile {
            stages: tile_stages,
        });
    }
    let mut stage = tile_stages;
    while stage < log_n {
        if stage + 1 < log_n {
            steps.push(ButterflyStep::Pair { lower_stage: stage });
            stage += 2;
        } else {
            steps.push(ButterflyStep::Single { stage });
            stage += 1;
        }
    }
    if is_dif {
        steps.reverse();
    }
    steps
}

/// The largest tile (log2 rows, at most [`NTT_TILE_LOG_MAX`]) whose work-group of
/// `NTT_TILE_COLS x rows/2` invocations and shared array fit the device.
fn tile_log_for(limits: &Limits) -> usize {
    let fits = |log: usize| {
        let pairs = 1u64 << (log - 1);
        let cols = NTT_TILE_COLS as u64;
        cols * pairs <= u64::from(limits.max_invocations)
            && cols <= u64::from(limits.max_group_size[0])
            && pairs <= u64::from(limits.max_group_size[1])
            && 2 * pairs * cols * 4 <= u64::from(limits.max_shared_bytes)
    };
    (1..=NTT_TILE_LOG_MAX)
        .rev()
        .find(|&log| fits(log))
        .unwrap_or(1)
}

/// `p⁻¹ mod 2³²` (μ of the Montgomery reduction) and `2⁶⁴ mod p`, from the modulus.
fn montgomery_parameters() -> (u32, u32) {
    let mut inverse: u32 = 1;
    // Newton's iteration doubles the correct low bits each step: 1 → 2 → 4 → ... → 32.
    for _ in 0..5 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(MODULUS.wrapping_mul(inverse)));
    }
    let r2 = ((1u128 << 64) % u128::from(MODULUS)) as u32;
    (inverse, r2)
}

/// A shader's push constants, zero-padded.
fn params(values: &[u32]) -> [u32; PUSH_WORDS] {
    let mut words = [0u32; PUSH_WORDS];
    words[..values.len()].copy_from_slice(values);
    words
}

/// Work-groups needed for `items` invocations of an element-wise shader.
fn item_groups(items: usize) -> u64 {
    items.div_ceil(ITEMS_PER_GROUP) as u64
}

impl VulkanBackend {
    /// Opens device `vulkan:index`. Pipelines are built on first use.
    pub fn open(index: u32) -> Result<Self, AccelError> {
        let (mut device, info) = VulkanDevice::open(index)?;
        let tile_log = tile_log_for(&device.limits);
        let constants = poseidon2_constants();
        let (mu, r2) = montgomery_parameters();
        let specialization: [u32; SPEC_CONSTANTS] = [
            MODULUS,
            mu,
            r2,
            constants.half_full_rounds as u32,
            constants.partial_rounds as u32,
            NTT_TILE_COLS as u32,
            (1u32 << tile_log) / 2,
            P2_GROUP_ROWS as u32,
            ITEMS_PER_GROUP as u32,
            crate::quotient::MAX_BASE_REGISTERS,
            crate::quotient::MAX_EXT_REGISTERS,
            crate::quotient::ext_w_montgomery(),
        ];
        device.specialization = specialization;
        let device = Arc::new(device);
        let poseidon2_constants = upload_words(&device, &constants.words, None)?;
        Ok(VulkanBackend {
            info,
            device,
            tile_log,
            poseidon2_constants,
            twiddles: Mutex::new(HashMap::new()),
            poison: None,
        })
    }

    /// Fills every buffer this backend allocates from now on with `sentinel` before any
    /// shader writes it. A test aid: a shader that skips an element leaves a word that is not
    /// a canonical field element (for `sentinel ≥ p`), which [`Backend::download`] reports.
    pub fn poison_new_buffers(mut self, sentinel: u32) -> Self {
        self.poison = Some(sentinel);
        self
    }

    /// log2 of the rows the NTT tile shader handles in shared memory on this device.
    pub fn ntt_tile_log(&self) -> usize {
        self.tile_log
    }

    fn id(&self) -> DeviceId {
        self.info.id
    }

    /// A device buffer of `words` words, poisoned if asked for.
    fn alloc(&self, words: usize) -> Result<VulkanBuffer, AccelError> {
        let buffer = self.device.create_buffer(words, BufferKind::Device)?;
        if let Some(word) = self.poison {
            self.device.run(
                "poisoning a buffer",
                &[Command::Fill {
                    buffer: buffer.buffer,
                    word,
                }],
            )?;
        }
        Ok(buffer)
    }

    /// A dispatch of `shader` with buffers at bindings 0-2 (binding 3 is always the
    /// Poseidon2 constants; `None` binds a placeholder the shader does not read).
    fn dispatch(
        &self,
        shader: Shader,
        buffers: [Option<vk::Buffer>; BINDINGS - 1],
        values: &[u32],
        groups: u64,
    ) -> Command {
        let placeholder = self.poseidon2_constants.buffer;
        Command::Dispatch {
            shader,
            buffers: [
                buffers[0].unwrap_or(placeholder),
                buffers[1].unwrap_or(placeholder),
                buffers[2].unwrap_or(placeholder),
                placeholder,
            ],
            params: params(values),
            groups,
        }
    }

    /// The table of ω^k (forward) or ω^-k (inverse), k < 2^log_n / 2, in Montgomery form,
    /// built on the host once per size and kept on the device.
    fn twiddles(
        &self,
        log_n: usize,
        direction: Direction,
    ) -> Result<Arc<VulkanBuffer>, AccelError> {
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
        let table = Arc::new(upload_words(&self.device, &words, None)?);
        cache.insert((log_n, direction), table.clone());
        Ok(table)
    }

    /// Appends every butterfly stage of one NTT from `src` into `dst` (which may be the
    /// same buffer) to `commands`.
    fn butterflies(
        &self,
        commands: &mut Vec<Command>,
        src: vk::Buffer,
        dst: vk::Buffer,
        twiddles: vk::Buffer,
        pass: ButterflyPass,
    ) {
        let ButterflyPass {
            width,
            log_n,
            is_dif,
            scale_by_inverse_n,
        } = pass;
        let scale = montgomery(BabyBear::ONE.div_2exp_u64(log_n as u64));
        let steps = butterfly_schedule(log_n, self.tile_log, is_dif);
        let mut source = src;
        for (index, step) in steps.iter().enumerate() {
            let apply_scale = u32::from(index + 1 == steps.len() && scale_by_inverse_n);
            let common = |stage: usize| {
                [
                    width as u32,
                    log_n as u32,
                    stage as u32,
                    u32::from(is_dif),
                    scale,
                    apply_scale,
                ]
            };
            let buffers = [Some(source), Some(dst), Some(twiddles)];
            let command = match *step {
                ButterflyStep::Tile { stages } => {
                    let column_groups = width.div_ceil(NTT_TILE_COLS);
                    let groups = column_groups << (log_n - stages);
                    let mut values = common(stages).to_vec();
                    values.extend([column_groups as u32, groups as u32]);
                    self.dispatch(Shader::NttTile, buffers, &values, groups as u64)
                }
                ButterflyStep::Pair { lower_stage } => self.dispatch(
                    Shader::NttStagePair,
                    buffers,
                    &common(lower_stage),
                    item_groups(width << (log_n - 2)),
                ),
                ButterflyStep::Single { stage } => self.dispatch(
                    Shader::NttStage,
                    buffers,
                    &common(stage),
                    item_groups(width << (log_n - 1)),
                ),
            };
            commands.push(command);
            source = dst;
        }
    }

    /// Appends the hashing of row r of every matrix of `group` (all `height` rows tall),
    /// concatenated, into digest r of `digests`; returns the sponge buffer the commands use.
    fn hash_rows(
        &self,
        commands: &mut Vec<Command>,
        group: &[&DeviceMatrix<Self>],
        height: usize,
        digests: &VulkanBuffer,
    ) -> Result<Option<VulkanBuffer>, AccelError> {
        let sponges = if group.len() > 1 {
            Some(self.alloc(height * 16)?)
        } else {
            None
        };
        let groups = height.div_ceil(P2_GROUP_ROWS) as u64;
        let mut absorbed = 0usize;
        for (position, matrix) in group.iter().enumerate() {
            commands.push(self.dispatch(
                Shader::Poseidon2AbsorbRows,
                [
                    Some(matrix.buffer.buffer),
                    sponges.as_ref().map(|s| s.buffer),
                    Some(digests.buffer),
                ],
                &[
                    matrix.width as u32,
                    height as u32,
                    (absorbed % 8) as u32,
                    u32::from(position == 0),
                    u32::from(position + 1 == group.len()),
                    groups as u32,
                ],
                groups,
            ));
            absorbed += matrix.width;
        }
        Ok(sponges)
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
        let buffer = upload_words(&self.device, &words, self.poison)?;
        let permute = self.dispatch(
            Shader::Poseidon2PermuteStates,
            [Some(buffer.buffer), None, None],
            &[states.len() as u32],
            item_groups(states.len()),
        );
        self.device.run("Poseidon2 permutation", &[permute])?;
        let values = self.read(&[(&buffer, 0, words.len())])?;
        Ok(values
            .chunks_exact(16)
            .map(|c| core::array::from_fn(|i| c[i]))
            .collect())
    }

    /// Reads `(buffer, offset, len)` word ranges back in one submission, concatenated, and
    /// checks they are canonical field elements.
    fn read(&self, regions: &[(&VulkanBuffer, usize, usize)]) -> Result<Vec<BabyBear>, AccelError> {
        let total: usize = regions.iter().map(|r| r.2).sum();
        if total == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(total, BufferKind::Staging)?;
        let mut at = 0;
        let copies: Vec<Command> = regions
            .iter()
            .map(|&(buffer, offset, len)| {
                let copy = Command::Copy {
                    source: buffer.buffer,
                    source_offset: offset,
                    destination: staging.buffer,
                    destination_offset: at,
                    words: len,
                };
                at += len;
                copy
            })
            .collect();
        self.device.run("download", &copies)?;
        let words = staging.read_staging(total)?;
        from_words(&words).ok_or_else(|| AccelError::Driver {
            device: self.id(),
            operation: "download",
            reason: "the device returned a word that is not a canonical BabyBear element \
                     (an element no shader wrote)"
                .to_owned(),
        })
    }
}

/// Copies `words` into a new device buffer through a staging buffer (poisoned first if
/// `poison` is set, which the copy then overwrites).
fn upload_words(
    device: &Arc<VulkanDevice>,
    words: &[u32],
    poison: Option<u32>,
) -> Result<VulkanBuffer, AccelError> {
    let buffer = device.create_buffer(words.len(), BufferKind::Device)?;
    let staging = device.create_buffer(words.len(), BufferKind::Staging)?;
    staging.write_staging(words)?;
    let mut commands = Vec::with_capacity(2);
    if let Some(word) = poison {
        commands.push(Command::Fill {
            buffer: buffer.buffer,
            word,
        });
    }
    commands.push(Command::Copy {
        source: staging.buffer,
        source_offset: 0,
        destination: buffer.buffer,
        destination_offset: 0,
        words: words.len(),
    });
    device.run("upload", &commands)?;
    Ok(buffer)
}

impl Backend for VulkanBackend {
    type Buffer = VulkanBuffer;
    type MerkleTree = VulkanMerkleTree;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError> {
        let height = host_matrix_height(values.len(), width)?;
        let buffer = upload_words(&self.device, &to_words(values), self.poison)?;
        Ok(DeviceMatrix {
            buffer,
            width,
            height,
            order: RowOrder::Natural,
        })
    }

    fn download(&self, matrix: &DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError> {
        self.read(&[(&matrix.buffer, 0, matrix.width * matrix.height)])
    }

    fn copy_into(
        &self,
        source: &DeviceMatrix<Self>,
        destination: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        check_same_shape(source, destination)?;
        self.device.run(
            "copying a buffer",
            &[Command::Copy {
                source: source.buffer.buffer,
                source_offset: 0,
                destination: destination.buffer.buffer,
                destination_offset: 0,
                words: source.width * source.height,
            }],
        )?;
        destination.order = source.order;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), AccelError> {
        // Every call waits for its own work; only a lost device is left to report.
        self.device.run("synchronising", &[])
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
            let twiddles = self.twiddles(log_n, direction)?;
            // DIT consumes bit-reversed rows and leaves natural ones; DIF the other way round.
            // Asking for the order already held costs one reordering pass into scratch.
            let pass = ButterflyPass {
                width,
                log_n,
                is_dif: matrix.order == RowOrder::Natural,
                scale_by_inverse_n: direction == Direction::Inverse,
            };
            let data = matrix.buffer.buffer;
            let mut commands = Vec::new();
            let scratch;
            if matrix.order != output {
                self.butterflies(&mut commands, data, data, twiddles.buffer, pass);
            } else {
                scratch = self.alloc(width << log_n)?;
                commands.push(self.dispatch(
                    Shader::BitReverseRows,
                    [Some(data), Some(scratch.buffer), None],
                    &[width as u32, log_n as u32],
                    item_groups(width << log_n),
                ));
                let pass = ButterflyPass {
                    is_dif: !pass.is_dif,
                    ..pass
                };
                self.butterflies(&mut commands, scratch.buffer, data, twiddles.buffer, pass);
            }
            self.device.run("NTT", &commands)?;
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
        let mut commands = Vec::new();
        // Inverse NTT without the 1/h (folded into the coset factors), bit-reversed out.
        let coefficients = if log_h > 0 {
            let scratch = self.alloc(width << log_h)?;
            let twiddles = self.twiddles(log_h, Direction::Inverse)?;
            let inverse = ButterflyPass {
                width,
                log_n: log_h,
                is_dif: true,
                scale_by_inverse_n: false,
            };
            self.butterflies(
                &mut commands,
                evaluations.buffer.buffer,
                scratch.buffer,
                twiddles.buffer,
                inverse,
            );
            Some((scratch, twiddles))
        } else {
            None
        };
        let output = self.alloc(width << log_out)?;
        commands.push(
            self.dispatch(
                Shader::CosetScalePad,
                [
                    Some(
                        coefficients
                            .as_ref()
                            .map_or(evaluations.buffer.buffer, |(c, _)| c.buffer),
                    ),
                    Some(output.buffer),
                    None,
                ],
                &[
                    width as u32,
                    log_h as u32,
                    log_out as u32,
                    montgomery(shift),
                    montgomery(BabyBear::ONE.div_2exp_u64(log_h as u64)),
                    montgomery(BabyBear::ONE),
                ],
                item_groups(width << log_out),
            ),
        );
        let forward_twiddles = if log_out > 0 {
            let twiddles = self.twiddles(log_out, Direction::Forward)?;
            let forward = ButterflyPass {
                width,
                log_n: log_out,
                is_dif: true,
                scale_by_inverse_n: false,
            };
            self.butterflies(
                &mut commands,
                output.buffer,
                output.buffer,
                twiddles.buffer,
                forward,
            );
            Some(twiddles)
        } else {
            None
        };
        self.device.run("coset LDE", &commands)?;
        drop((coefficients, forward_twiddles));
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
        let fold = self.dispatch(
            Shader::FriFold,
            [Some(values.buffer.buffer), Some(output.buffer), None],
            &words,
            item_groups(half),
        );
        self.device.run("FRI fold", &[fold])?;
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
        let select = self.dispatch(
            Shader::StridedRows,
            [Some(matrix.buffer.buffer), Some(output.buffer), None],
            &words,
            item_groups(rows),
        );
        self.device.run("strided rows", &[select])?;
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
        let indices = upload_words(&self.device, &indices, None)?;
        let output = self.alloc(matrix.width * rows.len())?;
        let gather = self.dispatch(
            Shader::GatherRows,
            [
                Some(matrix.buffer.buffer),
                Some(indices.buffer),
                Some(output.buffer),
            ],
            &words,
            item_groups(rows.len()),
        );
        self.device.run("gather rows", &[gather])?;
        self.download(&gathered_matrix(output, words))
    }

    fn fri_add_scaled(
        &self,
        acc: &mut DeviceMatrix<Self>,
        addend: &DeviceMatrix<Self>,
        factor: Ext,
    ) -> Result<(), AccelError> {
        let words = add_scaled_words(acc, addend, factor)?;
        let add = self.dispatch(
            Shader::FriAddScaled,
            [Some(acc.buffer.buffer), Some(addend.buffer.buffer), None],
            &words,
            item_groups(acc.height),
        );
        self.device.run("FRI add", &[add])
    }

    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_combine(matrix, powers)?;
        let table = upload_words(&self.device, &ext_words(powers, true), self.poison)?;
        let output = self.alloc(4 * matrix.height)?;
        let combine = self.dispatch(
            Shader::CombineRows,
            [
                Some(matrix.buffer.buffer),
                Some(table.buffer),
                Some(output.buffer),
            ],
            &[matrix.width as u32, matrix.height as u32],
            item_groups(matrix.height),
        );
        self.device.run("combining rows", &[combine])?;
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
        let scalars = upload_words(&self.device, &scalar_words(c, s), self.poison)?;
        let accumulate = Command::Dispatch {
            shader: Shader::DeepAccumulate,
            buffers: [
                combined.buffer.buffer,
                denominators.buffer.buffer,
                acc.buffer.buffer,
                scalars.buffer,
            ],
            params: params(&[n as u32]),
            groups: item_groups(n),
        };
        self.device.run("DEEP step", &[accumulate])
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
        let sums = self.dispatch(
            Shader::ColumnDot,
            [
                Some(matrix.buffer.buffer),
                Some(weights.buffer.buffer),
                Some(partials.buffer),
            ],
            &[matrix.width as u32, rows as u32, COLUMN_CHUNK as u32],
            item_groups(chunks * matrix.width),
        );
        self.device.run("column sums", &[sums])?;
        download_column_sums(self, partials, matrix.width, chunks)
    }

    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let n = inputs.check(program)?;
        let tables = DeviceTables::build(program, inputs, true);
        let output_at = tables.words[15] as usize;
        let table_buffer = upload_words(&self.device, &tables.words, self.poison)?;
        let output = self.alloc(4 * n)?;
        let [main, preprocessed, permutation] = inputs.buffers();
        let evaluate = Command::Dispatch {
            shader: Shader::QuotientEval,
            buffers: [
                table_buffer.buffer,
                main.buffer,
                preprocessed.buffer,
                permutation.buffer,
            ],
            params: params(&[]),
            groups: item_groups(n),
        };
        let copy_out = Command::Copy {
            source: table_buffer.buffer,
            source_offset: output_at,
            destination: output.buffer,
            destination_offset: 0,
            words: 4 * n,
        };
        self.device.run("quotient", &[evaluate, copy_out])?;
        Ok(crate::quotient::values_matrix(output, n))
    }

    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<VulkanMerkleTree, AccelError> {
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
        // The whole tree is one submission; these buffers must outlive it.
        let mut temporaries: Vec<VulkanBuffer> = Vec::new();
        let mut commands = Vec::new();
        let first_layer = self.alloc(max_height * 8)?;
        temporaries.extend(self.hash_rows(
            &mut commands,
            &group_of(max_height),
            max_height,
            &first_layer,
        )?);
        let mut layers = vec![first_layer];
        let mut layer_len = max_height;
        while layer_len > 1 {
            layer_len /= 2;
            let injected_group = group_of(layer_len);
            let injected = if injected_group.is_empty() {
                None
            } else {
                let digests = self.alloc(layer_len * 8)?;
                temporaries.extend(self.hash_rows(
                    &mut commands,
                    &injected_group,
                    layer_len,
                    &digests,
                )?);
                Some(digests)
            };
            let parents = self.alloc(layer_len * 8)?;
            let children = layers.last().map_or(parents.buffer, |l| l.buffer);
            commands.push(self.dispatch(
                Shader::MerkleCompressLevel,
                [
                    Some(children),
                    Some(parents.buffer),
                    injected.as_ref().map(|i| i.buffer),
                ],
                &[layer_len as u32, u32::from(injected.is_some())],
                item_groups(layer_len),
            ));
            temporaries.extend(injected);
            layers.push(parents);
        }
        self.device.run("Merkle tree", &commands)?;
        drop(temporaries);
        drop(tallest_first);
        Ok(VulkanMerkleTree {
            layers,
            leaf_count: max_height,
            leaves,
        })
    }

    fn keeps_tree_leaves(&self) -> bool {
        true
    }

    fn tree_leaves<'a>(&self, tree: &'a VulkanMerkleTree) -> Option<&'a [DeviceMatrix<Self>]> {
        Some(&tree.leaves)
    }

    fn merkle_cap(
        &self,
        tree: &VulkanMerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let top = tree.layers.len() - 1;
        let level = top - cap_height.min(top);
        let count = 1usize << (top - level);
        let words = self.read(&[(&tree.layers[level], 0, count * 8)])?;
        Ok(words
            .chunks_exact(8)
            .map(|c| core::array::from_fn(|i| c[i]))
            .collect())
    }

    fn merkle_path(
        &self,
        tree: &VulkanMerkleTree,
        index: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        check_leaf_index(index, tree.leaf_count)?;
        let levels = tree.layers.len() - 1;
        let regions: Vec<(&VulkanBuffer, usize, usize)> = (0..levels)
            .map(|level| (&tree.layers[level], ((index >> level) ^ 1) * 8, 8))
            .collect();
        let words = self.read(&regions)?;
        Ok(words
            .chunks_exact(8)
            .map(|c| core::array::from_fn(|i| c[i]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Device 0 (lavapipe in CI); `None` with a message where there is none, except under
    /// `CI=true`, where that fails.
    fn open_or_skip() -> Option<VulkanBackend> {
        match VulkanBackend::open(0) {
            Ok(backend) => Some(backend),
            Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipping: no Vulkan device ({err})");
                None
            }
            Err(err) => panic!("no Vulkan device under CI: {err}"),
        }
    }

    #[test]
    fn a_lost_device_fails_every_later_call_naming_the_device() {
        let Some(backend) = open_or_skip() else {
            return;
        };
        let id = backend.info().id;
        let mut matrix = backend.upload(&[BabyBear::ONE; 8], 2).unwrap();
        backend.device.simulate_device_loss();
        let lost = |result: Result<(), AccelError>| match result {
            Err(AccelError::DeviceLost { device, reason, .. }) => {
                assert_eq!(device, id);
                assert!(reason.contains("lost"), "{reason}");
            }
            other => panic!("expected DeviceLost, got {other:?}"),
        };
        lost(backend.ntt(&mut matrix, Direction::Forward, RowOrder::BitReversed));
        lost(backend.download(&matrix).map(drop));
        lost(backend.upload(&[BabyBear::ONE; 4], 1).map(drop));
        lost(backend.synchronize());
        let message = backend.synchronize().unwrap_err().to_string();
        assert!(message.starts_with("vulkan:0: device lost"), "{message}");
    }

    #[test]
    fn a_shader_the_device_cannot_take_is_a_kernel_build_error() {
        let Some(backend) = open_or_skip() else {
            return;
        };
        for bytes in [&b"not SPIR-V"[..], &[0u8; 64][..]] {
            match backend.device.build_pipeline("broken", bytes) {
                Err(AccelError::KernelBuild { device, log }) => {
                    assert_eq!(device, backend.info().id);
                    assert!(log.contains("shader broken"), "{log}");
                }
                other => panic!("expected a kernel build error, got {other:?}"),
            }
        }
    }

    #[test]
    fn montgomery_parameters_match_the_opencl_defines() {
        let (mu, r2) = montgomery_parameters();
        assert_eq!(MODULUS.wrapping_mul(mu), 1);
        assert_eq!(
            crate::field::field_defines(),
            format!("#define BB_P {MODULUS}u\n#define BB_MU {mu}u\n#define BB_R2 {r2}u\n")
        );
    }

    #[test]
    fn the_butterfly_schedule_fuses_small_stages_and_pairs_wide_ones() {
        use ButterflyStep::{Pair, Single, Tile};
        assert_eq!(butterfly_schedule(0, 8, false), vec![]);
        assert_eq!(butterfly_schedule(3, 8, true), vec![Tile { stages: 3 }]);
        assert_eq!(
            butterfly_schedule(9, 8, false),
            vec![Tile { stages: 8 }, Single { stage: 8 }]
        );
        assert_eq!(
            butterfly_schedule(11, 8, false),
            vec![
                Tile { stages: 8 },
                Pair { lower_stage: 8 },
                Single { stage: 10 }
            ]
        );
        assert_eq!(
            butterfly_schedule(12, 8, true),
            vec![
                Pair { lower_stage: 10 },
                Pair { lower_stage: 8 },
                Tile { stages: 8 }
            ]
        );
    }

    #[test]
    fn the_tile_shrinks_to_fit_small_work_groups() {
        let mut limits = Limits {
            max_storage_range: 1 << 27,
            max_allocation: 1 << 31,
            device_heap: 1 << 33,
            max_group_count: [65535; 3],
            max_invocations: 1024,
            max_group_size: [1024, 1024, 64],
            max_shared_bytes: 32768,
        };
        assert_eq!(tile_log_for(&limits), NTT_TILE_LOG_MAX);
        // Vulkan's guaranteed minimums: 128 invocations, 16 KiB of shared memory.
        limits.max_invocations = 128;
        limits.max_shared_bytes = 16384;
        assert_eq!(tile_log_for(&limits), 6);
    }
}
