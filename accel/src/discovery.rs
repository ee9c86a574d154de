//! Finding the compute devices on this machine.
//!
//! Discovery never fails as a whole: a backend whose driver is missing or broken is skipped
//! and reported in [`Discovery::skipped`], so `zkbox devices` always lists at least the CPU.

use serde::Serialize;

use crate::device::{BackendKind, DeviceInfo};

/// A backend that discovery could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedBackend {
    /// Which backend.
    pub backend: BackendKind,
    /// Why it was skipped, in the driver's words where it gave any.
    pub reason: String,
}

/// The devices found on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// Usable devices, the CPU first, then each backend's devices in index order.
    pub devices: Vec<DeviceInfo>,
    /// Backends that were looked for and could not be used.
    pub skipped: Vec<SkippedBackend>,
}

/// Lists every compute device this build can drive.
pub fn discover() -> Discovery {
    #[cfg_attr(not(feature = "opencl"), allow(unused_mut))]
    let mut devices = vec![crate::cpu::describe()];
    let mut skipped = Vec::new();

    #[cfg(feature = "opencl")]
    match crate::opencl::discover() {
        Ok(found) if found.is_empty() => skipped.push(SkippedBackend {
            backend: BackendKind::OpenCl,
            reason: "no OpenCL devices on any platform".to_owned(),
        }),
        Ok(found) => devices.extend(found),
        Err(err) => {
            tracing::warn!(%err, "skipping the OpenCL backend");
            skipped.push(SkippedBackend {
                backend: BackendKind::OpenCl,
                reason: err.to_string(),
            });
        }
    }
    #[cfg(not(feature = "opencl"))]
    skipped.push(SkippedBackend {
        backend: BackendKind::OpenCl,
        reason: "this build has no OpenCL support (feature `opencl` off)".to_owned(),
    });

    for backend in [BackendKind::Cuda, BackendKind::Vulkan] {
        skipped.push(SkippedBackend {
            backend,
            reason: "backend not built yet (CUDA/Vulkan issue)".to_owned(),
        });
    }
    Discovery { devices, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceId;

    #[test]
    fn the_cpu_is_always_first() {
        let found = discover();
        assert_eq!(found.devices[0].id, DeviceId::CPU);
        assert!(found.devices[0].compute_units >= 1);
        assert!(found.devices[0].memory_bytes > 0);
    }

    #[test]
    fn indices_count_up_per_backend() {
        let found = discover();
        for backend in [BackendKind::OpenCl, BackendKind::Cuda, BackendKind::Vulkan] {
            let indices: Vec<u32> = found
                .devices
                .iter()
                .filter(|d| d.id.backend == backend)
                .map(|d| d.id.index)
                .collect();
            let expected: Vec<u32> = (0..indices.len() as u32).collect();
            assert_eq!(indices, expected, "{backend} indices");
        }
    }
}
