//! The OpenCL backend: any OpenCL 1.2 platform (GPU, FPGA, or PoCL on the CPU).

use ocl::core::{self, DeviceInfo as ClDeviceInfo, DeviceInfoResult, DeviceType, PlatformInfo};

use crate::AccelError;
use crate::device::{BackendKind, DeviceId, DeviceInfo};

fn unavailable(err: impl std::fmt::Display) -> AccelError {
    AccelError::BackendUnavailable {
        backend: BackendKind::OpenCl,
        reason: err.to_string(),
    }
}

/// Lists every device of every OpenCL platform, numbered `opencl:0..` in platform order.
pub(crate) fn discover() -> Result<Vec<DeviceInfo>, AccelError> {
    let platforms = core::get_platform_ids().map_err(unavailable)?;
    let mut devices = Vec::new();
    for platform in platforms {
        let platform_name = core::get_platform_info(platform, PlatformInfo::Name)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "unknown platform".to_owned());
        let ids = match core::get_device_ids(platform, Some(DeviceType::ALL), None) {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(platform = %platform_name, %err, "OpenCL platform lists no devices");
                continue;
            }
        };
        for device in ids {
            let text = |what| {
                core::get_device_info(device, what)
                    .map(|r| r.to_string().trim().to_owned())
                    .unwrap_or_else(|_| "unknown".to_owned())
            };
            let memory_bytes = match core::get_device_info(device, ClDeviceInfo::GlobalMemSize) {
                Ok(DeviceInfoResult::GlobalMemSize(bytes)) => bytes,
                _ => 0,
            };
            let compute_units = match core::get_device_info(device, ClDeviceInfo::MaxComputeUnits) {
                Ok(DeviceInfoResult::MaxComputeUnits(units)) => units,
                _ => 0,
            };
            devices.push(DeviceInfo {
                id: DeviceId {
                    backend: BackendKind::OpenCl,
                    index: devices.len() as u32,
                },
                name: text(ClDeviceInfo::Name),
                vendor: text(ClDeviceInfo::Vendor),
                platform: platform_name.clone(),
                driver: text(ClDeviceInfo::DriverVersion),
                memory_bytes,
                compute_units,
            });
        }
    }
    Ok(devices)
}
