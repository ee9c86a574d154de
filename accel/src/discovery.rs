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
// Which pushes follow `skipped`'s creation depends on the backends built in.
#[allow(clippy::vec_init_then_push)]
pub fn discover() -> Discovery {
    // Drivers are not all safe to query from several threads at once (PoCL 3.1 crashes in
    // clGetDeviceInfo when two discoveries overlap), so discovery runs one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serialised = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    #[cfg_attr(
        not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
        allow(unused_mut)
    )]
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

    #[cfg(feature = "cuda")]
    match crate::cuda::discover() {
        Ok((found, unsupported)) => {
            if found.is_empty() && unsupported.is_empty() {
                skipped.push(SkippedBackend {
                    backend: BackendKind::Cuda,
                    reason: "the CUDA driver lists no devices".to_owned(),
                });
            }
            skipped.extend(unsupported.into_iter().map(|reason| SkippedBackend {
                backend: BackendKind::Cuda,
                reason,
            }));
            devices.extend(found);
        }
        Err(err) => {
            tracing::warn!(%err, "skipping the CUDA backend");
            skipped.push(SkippedBackend {
                backend: BackendKind::Cuda,
                reason: match err {
                    crate::AccelError::BackendUnavailable { reason, .. } => reason,
                    other => other.to_string(),
                },
            });
        }
    }
    #[cfg(not(feature = "cuda"))]
    skipped.push(SkippedBackend {
        backend: BackendKind::Cuda,
        reason: "this build has no CUDA support (feature `cuda` off)".to_owned(),
    });

    #[cfg(feature = "vulkan")]
    match crate::vulkan::discover() {
        Ok(found) if found.is_empty() => skipped.push(SkippedBackend {
            backend: BackendKind::Vulkan,
            reason: "the Vulkan loader lists no device with a compute queue".to_owned(),
        }),
        Ok(found) => devices.extend(found),
        Err(err) => {
            tracing::warn!(%err, "skipping the Vulkan backend");
            skipped.push(SkippedBackend {
                backend: BackendKind::Vulkan,
                reason: match err {
                    crate::AccelError::BackendUnavailable { reason, .. } => reason,
                    other => other.to_string(),
                },
            });
        }
    }
    #[cfg(not(feature = "vulkan"))]
    skipped.push(SkippedBackend {
        backend: BackendKind::Vulkan,
        reason: "this build has no Vulkan support (feature `vulkan` off)".to_owned(),
    });
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

    #[cfg(feature = "cuda")]
    #[test]
    fn a_machine_without_a_cuda_driver_lists_the_reason() {
        // SAFETY: probing for the library only opens it.
        if unsafe { cudarc::driver::sys::is_culib_present() } {
            eprintln!("a CUDA driver is installed here: nothing to check");
            return;
        }
        let found = discover();
        assert!(
            found
                .devices
                .iter()
                .all(|d| d.id.backend != BackendKind::Cuda)
        );
        let cuda: Vec<&SkippedBackend> = found
            .skipped
            .iter()
            .filter(|s| s.backend == BackendKind::Cuda)
            .collect();
        assert_eq!(cuda.len(), 1, "{cuda:?}");
        assert_eq!(cuda[0].reason, "no CUDA driver (libcuda.so not found)");
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
