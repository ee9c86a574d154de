//! The Vulkan backend's driver side: loading the Vulkan loader (`libvulkan`) at run time,
//! creating an instance, and naming the physical devices that have a compute queue
//! `vulkan:0..` in the order the loader enumerates them.
//!
//! Nothing here links against Vulkan: `ash` opens the loader with `dlopen`, so a machine
//! without one reports "no Vulkan loader" as a skipped backend instead of failing to start.

use std::ffi::{CStr, c_char};
use std::sync::Mutex;

use ash::vk;

use crate::AccelError;
use crate::device::{BackendKind, DeviceId, DeviceInfo};

/// Instance and device creation and destruction are serialised process-wide: drivers and
/// the loader's layer discovery are not all safe to run on several threads at once (the
/// test runner opens devices from many threads), and this setup is rare.
pub(crate) static DRIVER_SETUP: Mutex<()> = Mutex::new(());

/// The Vulkan version the instance asks for when the loader supports 1.1 or later: 1.2, for
/// the driver's name and version (`VkPhysicalDeviceDriverProperties`). The shaders themselves
/// need only Vulkan 1.0.
const REQUESTED_API: u32 = vk::API_VERSION_1_2;

/// A Vulkan instance with the loader it came from; destroyed on drop.
pub(crate) struct Instance {
    pub(crate) instance: ash::Instance,
    /// The API version the instance was created for.
    pub(crate) api_version: u32,
    /// Keeps the loader library open for as long as the instance lives.
    _entry: ash::Entry,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: every object created from this instance (devices) is destroyed before the
        // instance is dropped: `VulkanDevice` destroys its device in its own `drop`, which
        // runs before its fields (this instance) drop.
        unsafe { self.instance.destroy_instance(None) };
    }
}

/// A physical device that can run compute work, as discovery numbers it.
#[derive(Clone, Copy)]
pub(crate) struct PhysicalDevice {
    pub(crate) handle: vk::PhysicalDevice,
    /// A queue family with compute support (the first one, preferring compute-only).
    pub(crate) queue_family: u32,
}

/// The backend-unavailable error for Vulkan.
pub(crate) fn unavailable(reason: impl Into<String>) -> AccelError {
    AccelError::BackendUnavailable {
        backend: BackendKind::Vulkan,
        reason: reason.into(),
    }
}

/// Opens the system's Vulkan loader.
pub(crate) fn load_loader() -> Result<ash::Entry, AccelError> {
    // SAFETY: loading the Vulkan loader runs its initialisers; it is a well-behaved shared
    // library that expects exactly this.
    unsafe { ash::Entry::load() }.map_err(|err| {
        unavailable(format!(
            "no Vulkan loader (libvulkan.so.1; Debian package libvulkan1): {err}"
        ))
    })
}

/// Opens the loader at `path` instead of the system's (tests use a path that does not exist).
#[cfg(test)]
pub(crate) fn load_loader_from(path: &str) -> Result<ash::Entry, AccelError> {
    // SAFETY: as in `load_loader`.
    unsafe { ash::Entry::load_from(path) }
        .map_err(|err| unavailable(format!("no Vulkan loader at {path}: {err}")))
}

/// Creates an instance (no layers, no extensions) for the newest API the loader offers up
/// to [`REQUESTED_API`].
pub(crate) fn create_instance(entry: ash::Entry) -> Result<Instance, AccelError> {
    // SAFETY: a plain query of the loader.
    let loader_version = unsafe { entry.try_enumerate_instance_version() }
        .map_err(|err| unavailable(format!("querying the loader's version: {err}")))?
        .unwrap_or(vk::API_VERSION_1_0);
    let api_version = if loader_version >= vk::API_VERSION_1_1 {
        REQUESTED_API
    } else {
        vk::API_VERSION_1_0
    };
    let application = vk::ApplicationInfo::default()
        .application_name(c"zkbox")
        .engine_name(c"zkbox-accel")
        .api_version(api_version);
    let create_info = vk::InstanceCreateInfo::default().application_info(&application);
    let _setup = DRIVER_SETUP.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: `create_info` and what it points to live across the call.
    let instance = unsafe { entry.create_instance(&create_info, None) }.map_err(|err| {
        if err == vk::Result::ERROR_INCOMPATIBLE_DRIVER {
            unavailable(format!(
                "no Vulkan driver: the loader found no installable client driver ({err}); \
                 install one (Mesa's lavapipe: Debian package mesa-vulkan-drivers)"
            ))
        } else {
            unavailable(format!("creating a Vulkan instance: {err}"))
        }
    })?;
    Ok(Instance {
        instance,
        api_version,
        _entry: entry,
    })
}

/// The physical devices with a compute queue, in enumeration order (`vulkan:0..`).
pub(crate) fn compute_devices(instance: &Instance) -> Result<Vec<PhysicalDevice>, AccelError> {
    // SAFETY: a plain query of a live instance.
    let handles = unsafe { instance.instance.enumerate_physical_devices() }
        .map_err(|err| unavailable(format!("enumerating Vulkan devices: {err}")))?;
    let mut devices = Vec::new();
    for handle in handles {
        // SAFETY: `handle` came from this instance.
        let families = unsafe {
            instance
                .instance
                .get_physical_device_queue_family_properties(handle)
        };
        let compute = |f: &vk::QueueFamilyProperties| {
            f.queue_count > 0 && f.queue_flags.contains(vk::QueueFlags::COMPUTE)
        };
        // A compute-only family runs beside graphics work on GPUs that have one.
        let dedicated = families
            .iter()
            .position(|f| compute(f) && !f.queue_flags.contains(vk::QueueFlags::GRAPHICS));
        match dedicated.or_else(|| families.iter().position(compute)) {
            Some(family) => devices.push(PhysicalDevice {
                handle,
                queue_family: family as u32,
            }),
            None => {
                tracing::warn!("Vulkan device without a compute queue ignored");
            }
        }
    }
    Ok(devices)
}

/// Describes one physical device as `vulkan:index`.
pub(crate) fn describe(instance: &Instance, device: &PhysicalDevice, index: u32) -> DeviceInfo {
    // SAFETY: plain queries of a device of this instance.
    let properties = unsafe {
        instance
            .instance
            .get_physical_device_properties(device.handle)
    };
    let memory = unsafe {
        instance
            .instance
            .get_physical_device_memory_properties(device.handle)
    };
    let name = c_text(&properties.device_name);
    let (driver_name, driver) = driver_strings(instance, device, &properties);
    let heaps =
        &memory.memory_heaps[..(memory.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS)];
    let memory_bytes = heaps
        .iter()
        .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
        .map(|h| h.size)
        .sum();
    // Vulkan has no portable count of compute units; a CPU implementation (lavapipe) runs
    // one thread per host core.
    let compute_units = if properties.device_type == vk::PhysicalDeviceType::CPU {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    } else {
        0
    };
    let version = properties.api_version;
    DeviceInfo {
        id: DeviceId {
            backend: BackendKind::Vulkan,
            index,
        },
        name,
        vendor: vendor_name(properties.vendor_id),
        platform: format!(
            "Vulkan {}.{}.{} ({driver_name})",
            vk::api_version_major(version),
            vk::api_version_minor(version),
            vk::api_version_patch(version)
        ),
        driver,
        memory_bytes,
        compute_units,
    }
}

/// Lists the Vulkan devices that can run compute work, numbered `vulkan:0..`.
pub(crate) fn discover() -> Result<Vec<DeviceInfo>, AccelError> {
    let instance = create_instance(load_loader()?)?;
    Ok(compute_devices(&instance)?
        .iter()
        .zip(0..)
        .map(|(device, index)| describe(&instance, device, index))
        .collect())
}

/// The driver's name and its version text: from `VkPhysicalDeviceDriverProperties` where the
/// device and instance have Vulkan 1.2, otherwise the vendor-encoded `driverVersion`.
fn driver_strings(
    instance: &Instance,
    device: &PhysicalDevice,
    properties: &vk::PhysicalDeviceProperties,
) -> (String, String) {
    if instance.api_version >= vk::API_VERSION_1_2 && properties.api_version >= vk::API_VERSION_1_2
    {
        let mut driver = vk::PhysicalDeviceDriverProperties::default();
        let mut properties2 = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
        // SAFETY: both structures are valid, chained, and live across the call; the device
        // and instance support Vulkan 1.2, where the query and structure are core.
        unsafe {
            instance
                .instance
                .get_physical_device_properties2(device.handle, &mut properties2)
        };
        let name = c_text(&driver.driver_name);
        let info = c_text(&driver.driver_info);
        if !name.is_empty() {
            let info = if info.is_empty() { name.clone() } else { info };
            return (name, info);
        }
    }
    let version = properties.driver_version;
    let text = if properties.vendor_id == 0x10DE {
        // NVIDIA: 10.8.8.6 bits.
        format!(
            "{}.{}.{}.{}",
            version >> 22,
            (version >> 14) & 0xFF,
            (version >> 6) & 0xFF,
            version & 0x3F
        )
    } else {
        format!(
            "{}.{}.{}",
            vk::api_version_major(version),
            vk::api_version_minor(version),
            vk::api_version_patch(version)
        )
    };
    ("unknown driver".to_owned(), text)
}

/// The vendor behind a PCI (or Khronos) vendor id.
fn vendor_name(id: u32) -> String {
    match id {
        0x1002 => "AMD".to_owned(),
        0x10DE => "NVIDIA".to_owned(),
        0x8086 => "Intel".to_owned(),
        0x13B5 => "ARM".to_owned(),
        0x5143 => "Qualcomm".to_owned(),
        0x1010 => "Imagination".to_owned(),
        0x106B => "Apple".to_owned(),
        0x10005 => "Mesa".to_owned(),
        other => format!("vendor 0x{other:04x}"),
    }
}

/// A fixed-size, NUL-terminated driver string as text (empty if it has no NUL).
fn c_text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_string_lossy().trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_loader_is_a_typed_error() {
        match load_loader_from("/nonexistent/libvulkan.so.1") {
            Err(AccelError::BackendUnavailable { backend, reason }) => {
                assert_eq!(backend, BackendKind::Vulkan);
                assert!(reason.contains("no Vulkan loader"), "{reason}");
            }
            Err(other) => panic!("expected BackendUnavailable, got {other}"),
            Ok(_) => panic!("a loader at a path that does not exist loaded"),
        }
    }

    #[test]
    fn driver_strings_are_read_up_to_their_nul() {
        let text: Vec<c_char> = b"llvmpipe\0garbage".iter().map(|&b| b as c_char).collect();
        assert_eq!(c_text(&text), "llvmpipe");
        let unterminated: Vec<c_char> = b"abc".iter().map(|&b| b as c_char).collect();
        assert_eq!(c_text(&unterminated), "");
        assert_eq!(vendor_name(0x10DE), "NVIDIA");
        assert_eq!(vendor_name(0x1234), "vendor 0x1234");
    }
}
