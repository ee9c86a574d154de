//! One Vulkan device opened for compute: its logical device and single compute queue, device
//! buffers and host-visible staging buffers, compute pipelines (built once per shader and
//! cached), and [`VulkanDevice::run`], which records a list of commands into one command
//! buffer, submits it and waits for it.
//!
//! Every shader shares one pipeline layout: descriptor set 0 with four storage buffers
//! (bindings 0-3) and [`PUSH_WORDS`] words of push constants; every pipeline gets the same
//! specialization constants (ids 0-11, listed in `kernels/glsl/babybear.glsl`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ash::vk;

use crate::AccelError;
use crate::device::{BackendKind, DeviceId, DeviceInfo};
use crate::vulkan::{DRIVER_SETUP, Instance, PhysicalDevice};

/// Words of push constants every shader may read (its parameters, zero-padded).
pub(crate) const PUSH_WORDS: usize = 8;
/// Storage-buffer bindings in descriptor set 0.
pub(crate) const BINDINGS: usize = 4;
/// Specialization constants passed to every pipeline (ids `0..SPEC_CONSTANTS`).
pub(crate) const SPEC_CONSTANTS: usize = 12;

/// The compute shaders of `zkbox_kernels::SPIRV_MODULES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shader {
    BitReverseRows,
    ColumnDot,
    CombineRows,
    CosetScalePad,
    DeepAccumulate,
    FriAddScaled,
    FriFold,
    GatherRows,
    MerkleCompressLevel,
    NttStage,
    NttStagePair,
    NttTile,
    Poseidon2AbsorbRows,
    Poseidon2PermuteStates,
    QuotientEval,
    StridedRows,
}

impl Shader {
    /// The shader's name in `zkbox_kernels::SPIRV_MODULES`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Shader::BitReverseRows => "bit_reverse_rows",
            Shader::ColumnDot => "column_dot",
            Shader::CombineRows => "combine_rows",
            Shader::CosetScalePad => "coset_scale_pad",
            Shader::DeepAccumulate => "deep_accumulate",
            Shader::FriAddScaled => "fri_add_scaled",
            Shader::FriFold => "fri_fold",
            Shader::GatherRows => "gather_rows",
            Shader::MerkleCompressLevel => "merkle_compress_level",
            Shader::NttStage => "ntt_stage",
            Shader::NttStagePair => "ntt_stage_pair",
            Shader::NttTile => "ntt_tile",
            Shader::Poseidon2AbsorbRows => "poseidon2_absorb_rows",
            Shader::Poseidon2PermuteStates => "poseidon2_permute_states",
            Shader::QuotientEval => "quotient_eval",
            Shader::StridedRows => "strided_rows",
        }
    }

    /// The embedded SPIR-V (empty if the kernels crate lacks it, which pipeline creation
    /// reports as a kernel build error).
    fn spirv(self) -> &'static [u8] {
        zkbox_kernels::SPIRV_MODULES
            .iter()
            .find(|m| m.name == self.name())
            .map_or(&[], |m| m.bytes)
    }
}

/// The device limits the backend sizes its launches and buffers by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest buffer range one storage-buffer descriptor can bind, in bytes.
    pub(crate) max_storage_range: u64,
    /// Largest single memory allocation, in bytes.
    pub(crate) max_allocation: u64,
    /// Size of the largest device-local heap, in bytes.
    pub(crate) device_heap: u64,
    /// Work-groups one dispatch may launch per dimension.
    pub(crate) max_group_count: [u32; 3],
    /// Invocations one work-group may have.
    pub(crate) max_invocations: u32,
    /// Work-group size per dimension.
    pub(crate) max_group_size: [u32; 3],
    /// Shared memory one work-group may use, in bytes.
    pub(crate) max_shared_bytes: u32,
}

/// One command of a [`VulkanDevice::run`]; a full memory barrier follows each.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Command {
    /// Run `shader` over `groups` work-groups (folded into a 2D grid; shaders number groups
    /// linearly and drop those past their own bound).
    Dispatch {
        shader: Shader,
        buffers: [vk::Buffer; BINDINGS],
        params: [u32; PUSH_WORDS],
        groups: u64,
    },
    /// Copy `words` words from `source` at word `source_offset` to `destination` at word
    /// `destination_offset`.
    Copy {
        source: vk::Buffer,
        source_offset: usize,
        destination: vk::Buffer,
        destination_offset: usize,
        words: usize,
    },
    /// Set every word of `buffer` to `word`.
    Fill { buffer: vk::Buffer, word: u32 },
}

/// Where a buffer's memory lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferKind {
    /// Device-local storage buffer (shaders read and write it; transfers in and out).
    Device,
    /// Host-visible, coherent memory for uploads and downloads.
    Staging,
}

/// A buffer of 32-bit words in a Vulkan device's memory; freed on drop.
///
/// Holds its device alive. Every submission that uses a buffer is waited for before the
/// call that made it returns, so dropping a buffer never races the device.
pub struct VulkanBuffer {
    device: Arc<VulkanDevice>,
    pub(crate) buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    words: usize,
}

impl fmt::Debug for VulkanBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VulkanBuffer")
            .field("device", &self.device.id)
            .field("words", &self.words)
            .finish()
    }
}

impl VulkanBuffer {
    /// Length in 32-bit words.
    pub fn len(&self) -> usize {
        self.words
    }

    /// Whether the buffer holds no words (never, for buffers this crate makes).
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    /// Writes `words` at the start of a staging buffer.
    pub(crate) fn write_staging(&self, words: &[u32]) -> Result<(), AccelError> {
        let words = &words[..words.len().min(self.words)];
        self.with_mapped("writing a staging buffer", |mapped| {
            // SAFETY: the mapping covers the whole buffer, at least `words.len()` words, and
            // nothing else accesses it while mapped (the device is idle for it).
            unsafe {
                std::ptr::copy_nonoverlapping(words.as_ptr(), mapped.cast::<u32>(), words.len())
            }
        })
    }

    /// Reads the first `len` words of a staging buffer.
    pub(crate) fn read_staging(&self, len: usize) -> Result<Vec<u32>, AccelError> {
        let len = len.min(self.words);
        let mut words = vec![0u32; len];
        self.with_mapped("reading a staging buffer", |mapped| {
            // SAFETY: as in `write_staging`; the device's writes were made visible to the host
            // by the barrier that ends every run and the fence wait.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    mapped.cast::<u32>().cast_const(),
                    words.as_mut_ptr(),
                    len,
                )
            }
        })?;
        Ok(words)
    }

    fn with_mapped(
        &self,
        operation: &'static str,
        access: impl FnOnce(*mut std::ffi::c_void),
    ) -> Result<(), AccelError> {
        let device = &self.device.device;
        // SAFETY: staging memory is host-visible, not mapped elsewhere, and unmapped below.
        let mapped = unsafe {
            device.map_memory(self.memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
        }
        .map_err(|err| self.device.vk_error(operation, err))?;
        access(mapped);
        // SAFETY: mapped just above.
        unsafe { device.unmap_memory(self.memory) };
        Ok(())
    }
}

impl Drop for VulkanBuffer {
    fn drop(&mut self) {
        // SAFETY: no pending submission uses the buffer (every run is waited for); null
        // handles (a half-built buffer) are ignored by both calls.
        unsafe {
            self.device.device.destroy_buffer(self.buffer, None);
            self.device.device.free_memory(self.memory, None);
        }
    }
}

/// The queue and what recording a submission needs; one submission at a time.
struct Submission {
    queue: vk::Queue,
    command_pool: vk::CommandPool,
    command_buffer: vk::CommandBuffer,
    fence: vk::Fence,
    descriptor_pool: vk::DescriptorPool,
    /// Descriptor sets `descriptor_pool` holds.
    descriptor_capacity: usize,
}

/// An open Vulkan device (see the module docs).
pub(crate) struct VulkanDevice {
    pub(crate) id: DeviceId,
    pub(crate) limits: Limits,
    device: ash::Device,
    memory: vk::PhysicalDeviceMemoryProperties,
    set_layout: vk::DescriptorSetLayout,
    pipeline_layout: vk::PipelineLayout,
    /// The values of specialization constants `0..SPEC_CONSTANTS`, set before the first
    /// pipeline is built.
    pub(crate) specialization: [u32; SPEC_CONSTANTS],
    pipelines: Mutex<HashMap<Shader, vk::Pipeline>>,
    submission: Mutex<Submission>,
    /// Set once the driver reports the device lost; every later call fails at once.
    lost: AtomicBool,
    /// Destroyed after the device (fields drop after `Drop::drop`).
    _instance: Instance,
}

impl VulkanDevice {
    /// Opens device `vulkan:index` with one compute queue.
    pub(crate) fn open(index: u32) -> Result<(VulkanDevice, DeviceInfo), AccelError> {
        let id = DeviceId {
            backend: BackendKind::Vulkan,
            index,
        };
        let instance = crate::vulkan::create_instance(crate::vulkan::load_loader()?)?;
        let physical: PhysicalDevice = *crate::vulkan::compute_devices(&instance)?
            .get(index as usize)
            .ok_or(AccelError::NoSuchDevice { device: id })?;
        let info = crate::vulkan::describe(&instance, &physical, index);
        let limits = query_limits(&instance, &physical);
        // SAFETY: a plain query of a device of this instance.
        let memory = unsafe {
            instance
                .instance
                .get_physical_device_memory_properties(physical.handle)
        };
        let priorities = [1.0f32];
        let queue_info = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(physical.queue_family)
            .queue_priorities(&priorities)];
        let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queue_info);
        let device = {
            let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: the create info and what it points to live across the call.
            unsafe {
                instance
                    .instance
                    .create_device(physical.handle, &device_info, None)
            }
            .map_err(|err| driver_error(id, "creating a logical device", err))?
        };
        // SAFETY: the family and index were requested above.
        let queue = unsafe { device.get_device_queue(physical.queue_family, 0) };
        // From here on `drop` cleans up whatever was created, null handles included.
        let mut opened = VulkanDevice {
            id,
            limits,
            device,
            memory,
            set_layout: vk::DescriptorSetLayout::null(),
            pipeline_layout: vk::PipelineLayout::null(),
            specialization: [0; SPEC_CONSTANTS],
            pipelines: Mutex::new(HashMap::new()),
            submission: Mutex::new(Submission {
                queue,
                command_pool: vk::CommandPool::null(),
                command_buffer: vk::CommandBuffer::null(),
                fence: vk::Fence::null(),
                descriptor_pool: vk::DescriptorPool::null(),
                descriptor_capacity: 0,
            }),
            lost: AtomicBool::new(false),
            _instance: instance,
        };
        opened.create_layouts()?;
        opened.create_submission_objects(physical.queue_family)?;
        Ok((opened, info))
    }

    fn create_layouts(&mut self) -> Result<(), AccelError> {
        let bindings: Vec<vk::DescriptorSetLayoutBinding<'_>> = (0..BINDINGS as u32)
            .map(|binding| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(binding)
                    .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        let layout_info = vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings);
        // SAFETY: create infos live across the calls; the device is live.
        self.set_layout =
            unsafe { self.device.create_descriptor_set_layout(&layout_info, None) }
                .map_err(|err| self.vk_error("creating the descriptor set layout", err))?;
        let push = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .offset(0)
            .size((PUSH_WORDS * 4) as u32)];
        let set_layouts = [self.set_layout];
        let pipeline_layout_info = vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&set_layouts)
            .push_constant_ranges(&push);
        // SAFETY: as above.
        self.pipeline_layout = unsafe {
            self.device
                .create_pipeline_layout(&pipeline_layout_info, None)
        }
        .map_err(|err| self.vk_error("creating the pipeline layout", err))?;
        Ok(())
    }

    fn create_submission_objects(&mut self, queue_family: u32) -> Result<(), AccelError> {
        let id = self.id;
        let device = &self.device;
        let submission = self.submission.get_mut().unwrap_or_else(|p| p.into_inner());
        let pool_info = vk::CommandPoolCreateInfo::default()
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER)
            .queue_family_index(queue_family);
        // SAFETY: create infos live across the calls; the device is live.
        submission.command_pool = unsafe { device.create_command_pool(&pool_info, None) }
            .map_err(|err| driver_error(id, "creating a command pool", err))?;
        let buffer_info = vk::CommandBufferAllocateInfo::default()
            .command_pool(submission.command_pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: as above.
        submission.command_buffer = unsafe { device.allocate_command_buffers(&buffer_info) }
            .map_err(|err| driver_error(id, "allocating a command buffer", err))?[0];
        // SAFETY: as above.
        submission.fence = unsafe { device.create_fence(&vk::FenceCreateInfo::default(), None) }
            .map_err(|err| driver_error(id, "creating a fence", err))?;
        Ok(())
    }

    /// Marks the device lost, as the driver would after `VK_ERROR_DEVICE_LOST`.
    #[cfg(test)]
    pub(crate) fn simulate_device_loss(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// The typed error for a Vulkan result; remembers a lost device.
    pub(crate) fn vk_error(&self, operation: &'static str, err: vk::Result) -> AccelError {
        if err == vk::Result::ERROR_DEVICE_LOST {
            self.lost.store(true, Ordering::SeqCst);
        }
        driver_error(self.id, operation, err)
    }

    fn check_alive(&self, operation: &'static str) -> Result<(), AccelError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(AccelError::DeviceLost {
                device: self.id,
                operation,
                reason: "the driver reported the device lost earlier; reopen it".to_owned(),
            });
        }
        Ok(())
    }

    /// A buffer of `words` 32-bit words (at least one).
    pub(crate) fn create_buffer(
        self: &Arc<Self>,
        words: usize,
        kind: BufferKind,
    ) -> Result<VulkanBuffer, AccelError> {
        self.check_alive("allocating a buffer")?;
        let bytes = (words.max(1) as u64).saturating_mul(4);
        let out_of_memory = |detail: String| AccelError::OutOfDeviceMemory {
            device: self.id,
            requested_bytes: bytes,
            detail,
        };
        if kind == BufferKind::Device && bytes > self.limits.max_storage_range {
            return Err(out_of_memory(format!(
                "a shader can bind at most {} bytes of one buffer (maxStorageBufferRange)",
                self.limits.max_storage_range
            )));
        }
        if bytes > self.limits.max_allocation {
            return Err(out_of_memory(format!(
                "the device allocates at most {} bytes at once",
                self.limits.max_allocation
            )));
        }
        if kind == BufferKind::Device && bytes > self.limits.device_heap {
            return Err(out_of_memory(format!(
                "the device-local heap holds {} bytes",
                self.limits.device_heap
            )));
        }
        let usage = match kind {
            BufferKind::Device => {
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST
            }
            BufferKind::Staging => {
                vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST
            }
        };
        let allocation_error = |err: vk::Result| match err {
            vk::Result::ERROR_OUT_OF_DEVICE_MEMORY | vk::Result::ERROR_OUT_OF_HOST_MEMORY => {
                out_of_memory(err.to_string())
            }
            other => self.vk_error("allocating a buffer", other),
        };
        let info = vk::BufferCreateInfo::default()
            .size(bytes)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: the create info lives across the call; the device is live.
        let buffer = unsafe { self.device.create_buffer(&info, None) }.map_err(allocation_error)?;
        let mut created = VulkanBuffer {
            device: self.clone(),
            buffer,
            memory: vk::DeviceMemory::null(),
            words: words.max(1),
        };
        // SAFETY: `buffer` is live.
        let requirements = unsafe { self.device.get_buffer_memory_requirements(buffer) };
        let (required, preferred) = match kind {
            BufferKind::Device => (
                vk::MemoryPropertyFlags::DEVICE_LOCAL,
                vk::MemoryPropertyFlags::empty(),
            ),
            BufferKind::Staging => (
                vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT,
                vk::MemoryPropertyFlags::HOST_CACHED,
            ),
        };
        let memory_type = self
            .memory_type(requirements.memory_type_bits, required | preferred)
            .or_else(|| self.memory_type(requirements.memory_type_bits, required))
            .ok_or_else(|| AccelError::Driver {
                device: self.id,
                operation: "allocating a buffer",
                reason: format!("no memory type with {required:?} for this buffer"),
            })?;
        let allocate = vk::MemoryAllocateInfo::default()
            .allocation_size(requirements.size)
            .memory_type_index(memory_type);
        // SAFETY: the allocate info lives across the call; the device is live.
        created.memory =
            unsafe { self.device.allocate_memory(&allocate, None) }.map_err(allocation_error)?;
        // SAFETY: fresh buffer and memory of the size and type the buffer requires.
        unsafe { self.device.bind_buffer_memory(buffer, created.memory, 0) }
            .map_err(allocation_error)?;
        Ok(created)
    }

    fn memory_type(&self, type_bits: u32, flags: vk::MemoryPropertyFlags) -> Option<u32> {
        let count = (self.memory.memory_type_count as usize).min(vk::MAX_MEMORY_TYPES);
        self.memory.memory_types[..count]
            .iter()
            .enumerate()
            .find(|(index, memory_type)| {
                type_bits & (1 << index) != 0 && memory_type.property_flags.contains(flags)
            })
            .map(|(index, _)| index as u32)
    }

    /// The pipeline of `shader`, built on first use and kept.
    fn pipeline(&self, shader: Shader) -> Result<vk::Pipeline, AccelError> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&pipeline) = cache.get(&shader) {
            return Ok(pipeline);
        }
        let pipeline = self.build_pipeline(shader.name(), shader.spirv())?;
        cache.insert(shader, pipeline);
        Ok(pipeline)
    }

    /// Builds a compute pipeline from SPIR-V `bytes` with entry point `main`, reporting
    /// anything the driver (or a look at the binary) rejects as a kernel build error.
    pub(crate) fn build_pipeline(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<vk::Pipeline, AccelError> {
        self.check_alive("building a pipeline")?;
        let build_error = |reason: String| AccelError::KernelBuild {
            device: self.id,
            log: format!("shader {name}: {reason}"),
        };
        let code = spirv_words(bytes).map_err(build_error)?;
        let module_info = vk::ShaderModuleCreateInfo::default().code(&code);
        // SAFETY: `code` is a whole number of words starting with the SPIR-V magic number
        // and lives across the call.
        let module = unsafe { self.device.create_shader_module(&module_info, None) }
            .map_err(|err| build_error(format!("the driver rejected the module: {err}")))?;
        let entries: Vec<vk::SpecializationMapEntry> = (0..SPEC_CONSTANTS as u32)
            .map(|id| vk::SpecializationMapEntry {
                constant_id: id,
                offset: id * 4,
                size: 4,
            })
            .collect();
        let data: Vec<u8> = self
            .specialization
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        let specialization = vk::SpecializationInfo::default()
            .map_entries(&entries)
            .data(&data);
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main")
            .specialization_info(&specialization);
        let info = [vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(self.pipeline_layout)];
        // SAFETY: the create infos and everything they point to live across the call.
        let created = unsafe {
            self.device
                .create_compute_pipelines(vk::PipelineCache::null(), &info, None)
        };
        // SAFETY: a pipeline keeps what it needs of its module.
        unsafe { self.device.destroy_shader_module(module, None) };
        match created {
            Ok(pipelines) if !pipelines.is_empty() => Ok(pipelines[0]),
            Ok(_) => Err(build_error("the driver returned no pipeline".to_owned())),
            Err((_, err)) if err == vk::Result::ERROR_DEVICE_LOST => {
                Err(self.vk_error("building a pipeline", err))
            }
            Err((_, err)) => Err(build_error(format!(
                "the driver rejected the pipeline: {err}"
            ))),
        }
    }

    /// Records `commands` into one command buffer, a full memory barrier after each, submits
    /// it to the queue and waits until it has finished. Host-visible results are readable
    /// when this returns.
    pub(crate) fn run(
        &self,
        operation: &'static str,
        commands: &[Command],
    ) -> Result<(), AccelError> {
        self.check_alive(operation)?;
        let mut pipelines = Vec::new();
        for command in commands {
            if let Command::Dispatch { shader, groups, .. } = *command {
                self.grid(groups)?;
                pipelines.push(self.pipeline(shader)?);
            }
        }
        let mut submission = self.submission.lock().unwrap_or_else(|p| p.into_inner());
        let sets = self.descriptor_sets(&mut submission, commands)?;
        let device = &self.device;
        let command_buffer = submission.command_buffer;
        let fail = |err| self.vk_error(operation, err);
        // SAFETY: the command buffer is not pending (every submission is waited for under
        // this lock); every handle recorded is live until the wait below returns, because
        // the caller holds the buffers and the device keeps its pipelines.
        unsafe {
            device
                .reset_command_buffer(command_buffer, vk::CommandBufferResetFlags::empty())
                .map_err(fail)?;
            let begin = vk::CommandBufferBeginInfo::default()
                .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
            device
                .begin_command_buffer(command_buffer, &begin)
                .map_err(fail)?;
            let mut dispatch = 0;
            for command in commands {
                match *command {
                    Command::Dispatch { params, groups, .. } => {
                        let (x, y) = self.grid(groups)?;
                        device.cmd_bind_pipeline(
                            command_buffer,
                            vk::PipelineBindPoint::COMPUTE,
                            pipelines[dispatch],
                        );
                        device.cmd_bind_descriptor_sets(
                            command_buffer,
                            vk::PipelineBindPoint::COMPUTE,
                            self.pipeline_layout,
                            0,
                            &[sets[dispatch]],
                            &[],
                        );
                        let bytes: Vec<u8> = params.iter().flat_map(|w| w.to_ne_bytes()).collect();
                        device.cmd_push_constants(
                            command_buffer,
                            self.pipeline_layout,
                            vk::ShaderStageFlags::COMPUTE,
                            0,
                            &bytes,
                        );
                        if x > 0 {
                            device.cmd_dispatch(command_buffer, x, y, 1);
                        }
                        dispatch += 1;
                    }
                    Command::Copy {
                        source,
                        source_offset,
                        destination,
                        destination_offset,
                        words,
                    } => {
                        let region = vk::BufferCopy {
                            src_offset: source_offset as u64 * 4,
                            dst_offset: destination_offset as u64 * 4,
                            size: words as u64 * 4,
                        };
                        device.cmd_copy_buffer(command_buffer, source, destination, &[region]);
                    }
                    Command::Fill { buffer, word } => {
                        device.cmd_fill_buffer(command_buffer, buffer, 0, vk::WHOLE_SIZE, word);
                    }
                }
                let barrier = vk::MemoryBarrier::default()
                    .src_access_mask(
                        vk::AccessFlags::SHADER_WRITE | vk::AccessFlags::TRANSFER_WRITE,
                    )
                    .dst_access_mask(
                        vk::AccessFlags::SHADER_READ
                            | vk::AccessFlags::SHADER_WRITE
                            | vk::AccessFlags::TRANSFER_READ
                            | vk::AccessFlags::TRANSFER_WRITE
                            | vk::AccessFlags::HOST_READ,
                    );
                device.cmd_pipeline_barrier(
                    command_buffer,
                    vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::TRANSFER,
                    vk::PipelineStageFlags::COMPUTE_SHADER
                        | vk::PipelineStageFlags::TRANSFER
                        | vk::PipelineStageFlags::HOST,
                    vk::DependencyFlags::empty(),
                    &[barrier],
                    &[],
                    &[],
                );
            }
            device.end_command_buffer(command_buffer).map_err(fail)?;
            let command_buffers = [command_buffer];
            let submit = [vk::SubmitInfo::default().command_buffers(&command_buffers)];
            device
                .queue_submit(submission.queue, &submit, submission.fence)
                .map_err(fail)?;
            let waited = device.wait_for_fences(&[submission.fence], true, u64::MAX);
            waited.map_err(fail)?;
            device.reset_fences(&[submission.fence]).map_err(fail)?;
        }
        Ok(())
    }

    /// One descriptor set per dispatch of `commands`, written with its buffers, from a pool
    /// reset for this submission (grown when too small).
    fn descriptor_sets(
        &self,
        submission: &mut Submission,
        commands: &[Command],
    ) -> Result<Vec<vk::DescriptorSet>, AccelError> {
        let buffers: Vec<[vk::Buffer; BINDINGS]> = commands
            .iter()
            .filter_map(|c| match *c {
                Command::Dispatch { buffers, .. } => Some(buffers),
                _ => None,
            })
            .collect();
        if buffers.is_empty() {
            return Ok(Vec::new());
        }
        let device = &self.device;
        let fail = |err| self.vk_error("allocating descriptor sets", err);
        // SAFETY: the pool's sets were used only by submissions already waited for; create
        // and allocate infos live across their calls.
        unsafe {
            if submission.descriptor_capacity < buffers.len() {
                device.destroy_descriptor_pool(submission.descriptor_pool, None);
                submission.descriptor_pool = vk::DescriptorPool::null();
                submission.descriptor_capacity = 0;
                let capacity = buffers.len().max(64).next_power_of_two();
                let sizes = [vk::DescriptorPoolSize {
                    ty: vk::DescriptorType::STORAGE_BUFFER,
                    descriptor_count: (capacity * BINDINGS) as u32,
                }];
                let info = vk::DescriptorPoolCreateInfo::default()
                    .max_sets(capacity as u32)
                    .pool_sizes(&sizes);
                submission.descriptor_pool =
                    device.create_descriptor_pool(&info, None).map_err(fail)?;
                submission.descriptor_capacity = capacity;
            } else {
                device
                    .reset_descriptor_pool(
                        submission.descriptor_pool,
                        vk::DescriptorPoolResetFlags::empty(),
                    )
                    .map_err(fail)?;
            }
            let layouts = vec![self.set_layout; buffers.len()];
            let allocate = vk::DescriptorSetAllocateInfo::default()
                .descriptor_pool(submission.descriptor_pool)
                .set_layouts(&layouts);
            let sets = device.allocate_descriptor_sets(&allocate).map_err(fail)?;
            let infos: Vec<[vk::DescriptorBufferInfo; BINDINGS]> = buffers
                .iter()
                .map(|slots| {
                    slots.map(|buffer| vk::DescriptorBufferInfo {
                        buffer,
                        offset: 0,
                        range: vk::WHOLE_SIZE,
                    })
                })
                .collect();
            let writes: Vec<vk::WriteDescriptorSet<'_>> = sets
                .iter()
                .zip(&infos)
                .flat_map(|(&set, infos)| {
                    infos.iter().enumerate().map(move |(binding, info)| {
                        vk::WriteDescriptorSet::default()
                            .dst_set(set)
                            .dst_binding(binding as u32)
                            .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                            .buffer_info(std::slice::from_ref(info))
                    })
                })
                .collect();
            device.update_descriptor_sets(&writes, &[]);
            Ok(sets)
        }
    }

    /// Folds `groups` work-groups into an (x, y) grid the device accepts.
    fn grid(&self, groups: u64) -> Result<(u32, u32), AccelError> {
        let max_x = u64::from(self.limits.max_group_count[0].max(1));
        let x = groups.min(max_x);
        let y = if x == 0 { 0 } else { groups.div_ceil(x) };
        if y > u64::from(self.limits.max_group_count[1]) {
            return Err(AccelError::Driver {
                device: self.id,
                operation: "launching a shader",
                reason: format!("{groups} work-groups exceed the device's launch grid"),
            });
        }
        Ok((x as u32, y as u32))
    }
}

impl Drop for VulkanDevice {
    fn drop(&mut self) {
        let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
        let device = &self.device;
        let submission = self.submission.get_mut().unwrap_or_else(|p| p.into_inner());
        let pipelines = self.pipelines.get_mut().unwrap_or_else(|p| p.into_inner());
        // SAFETY: every buffer holds an `Arc` of this device, so none is left; the queue is
        // idle after the wait (an error here means the device is lost, when destroying is
        // all that is left to do); null handles are ignored.
        unsafe {
            let _ = device.device_wait_idle();
            for (_, pipeline) in pipelines.drain() {
                device.destroy_pipeline(pipeline, None);
            }
            device.destroy_descriptor_pool(submission.descriptor_pool, None);
            device.destroy_fence(submission.fence, None);
            device.destroy_command_pool(submission.command_pool, None);
            device.destroy_pipeline_layout(self.pipeline_layout, None);
            device.destroy_descriptor_set_layout(self.set_layout, None);
            device.destroy_device(None);
        }
    }
}

/// The limits of `physical` this backend uses.
fn query_limits(instance: &Instance, physical: &PhysicalDevice) -> Limits {
    // SAFETY: plain queries of a device of this instance.
    let properties = unsafe {
        instance
            .instance
            .get_physical_device_properties(physical.handle)
    };
    let memory = unsafe {
        instance
            .instance
            .get_physical_device_memory_properties(physical.handle)
    };
    let mut max_allocation = u64::MAX;
    if instance.api_version >= vk::API_VERSION_1_1 && properties.api_version >= vk::API_VERSION_1_1
    {
        let mut maintenance3 = vk::PhysicalDeviceMaintenance3Properties::default();
        let mut properties2 = vk::PhysicalDeviceProperties2::default().push_next(&mut maintenance3);
        // SAFETY: valid chained structures; instance and device have Vulkan 1.1, where the
        // query and the structure are core.
        unsafe {
            instance
                .instance
                .get_physical_device_properties2(physical.handle, &mut properties2)
        };
        if maintenance3.max_memory_allocation_size > 0 {
            max_allocation = maintenance3.max_memory_allocation_size;
        }
    }
    let heaps =
        &memory.memory_heaps[..(memory.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS)];
    let device_heap = heaps
        .iter()
        .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
        .map(|h| h.size)
        .max()
        .unwrap_or(0);
    let limits = properties.limits;
    Limits {
        max_storage_range: u64::from(limits.max_storage_buffer_range),
        max_allocation,
        device_heap,
        max_group_count: limits.max_compute_work_group_count,
        max_invocations: limits.max_compute_work_group_invocations,
        max_group_size: limits.max_compute_work_group_size,
        max_shared_bytes: limits.max_compute_shared_memory_size,
    }
}

/// The typed error for a failed Vulkan call on `device`.
pub(crate) fn driver_error(
    device: DeviceId,
    operation: &'static str,
    err: vk::Result,
) -> AccelError {
    match err {
        vk::Result::ERROR_DEVICE_LOST => AccelError::DeviceLost {
            device,
            operation,
            reason: err.to_string(),
        },
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY | vk::Result::ERROR_OUT_OF_HOST_MEMORY => {
            AccelError::OutOfDeviceMemory {
                device,
                requested_bytes: 0,
                detail: format!("{operation}: {err}"),
            }
        }
        other => AccelError::Driver {
            device,
            operation,
            reason: other.to_string(),
        },
    }
}

/// SPIR-V bytes as words, after the checks a driver may skip: whole words, at least a
/// header, and the magic number (little-endian, as glslc writes it).
fn spirv_words(bytes: &[u8]) -> Result<Vec<u32>, String> {
    const MAGIC: u32 = 0x0723_0203;
    const HEADER_WORDS: usize = 5;
    if !bytes.len().is_multiple_of(4) || bytes.len() < HEADER_WORDS * 4 {
        return Err(format!(
            "{} bytes are not a SPIR-V module (whole 32-bit words, a 5-word header)",
            bytes.len()
        ));
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    if words[0] != MAGIC {
        return Err(format!(
            "not SPIR-V: first word 0x{:08x}, expected the magic number 0x{MAGIC:08x}",
            words[0]
        ));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spirv_binaries_are_checked_before_the_driver_sees_them() {
        assert!(spirv_words(&[]).is_err());
        assert!(spirv_words(&[0u8; 22]).is_err());
        let not_spirv = spirv_words(&[0u8; 20]).unwrap_err();
        assert!(not_spirv.contains("magic"), "{not_spirv}");
        let mut header = 0x0723_0203u32.to_le_bytes().to_vec();
        header.extend_from_slice(&[0; 16]);
        assert_eq!(spirv_words(&header).unwrap()[0], 0x0723_0203);
        for module in zkbox_kernels::SPIRV_MODULES {
            assert!(spirv_words(module.bytes).is_ok(), "{}", module.name);
        }
    }

    #[test]
    fn every_shader_has_embedded_spirv() {
        for shader in [
            Shader::BitReverseRows,
            Shader::ColumnDot,
            Shader::CombineRows,
            Shader::CosetScalePad,
            Shader::DeepAccumulate,
            Shader::FriAddScaled,
            Shader::FriFold,
            Shader::GatherRows,
            Shader::MerkleCompressLevel,
            Shader::NttStage,
            Shader::NttStagePair,
            Shader::NttTile,
            Shader::Poseidon2AbsorbRows,
            Shader::Poseidon2PermuteStates,
            Shader::QuotientEval,
            Shader::StridedRows,
        ] {
            assert!(!shader.spirv().is_empty(), "{}", shader.name());
        }
    }

    #[test]
    fn driver_results_map_to_typed_errors() {
        let id = DeviceId {
            backend: BackendKind::Vulkan,
            index: 3,
        };
        assert!(matches!(
            driver_error(id, "submitting", vk::Result::ERROR_DEVICE_LOST),
            AccelError::DeviceLost { device, operation: "submitting", .. } if device == id
        ));
        assert!(matches!(
            driver_error(id, "allocating", vk::Result::ERROR_OUT_OF_DEVICE_MEMORY),
            AccelError::OutOfDeviceMemory { device, .. } if device == id
        ));
        let other = driver_error(id, "mapping", vk::Result::ERROR_MEMORY_MAP_FAILED);
        assert!(
            other.to_string().starts_with("vulkan:3: mapping failed"),
            "{other}"
        );
    }
}
