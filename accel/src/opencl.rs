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

/// One OpenCL device as the driver names it, with its platform.
pub(crate) struct DeviceHandle {
    pub(crate) platform: core::PlatformId,
    pub(crate) platform_name: String,
    pub(crate) device: core::DeviceId,
}

/// Every device of every OpenCL platform, in the order that numbers them `opencl:0..`.
pub(crate) fn device_handles() -> Result<Vec<DeviceHandle>, AccelError> {
    let platforms = core::get_platform_ids().map_err(unavailable)?;
    let mut handles = Vec::new();
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
        handles.extend(ids.into_iter().map(|device| DeviceHandle {
            platform,
            platform_name: platform_name.clone(),
            device,
        }));
    }
    Ok(handles)
}

/// Describes one OpenCL device as `opencl:index`.
pub(crate) fn describe(handle: &DeviceHandle, index: u32) -> DeviceInfo {
    let device = handle.device;
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
    DeviceInfo {
        id: DeviceId {
            backend: BackendKind::OpenCl,
            index,
        },
        name: text(ClDeviceInfo::Name),
        vendor: text(ClDeviceInfo::Vendor),
        platform: handle.platform_name.clone(),
        driver: text(ClDeviceInfo::DriverVersion),
        memory_bytes,
        compute_units,
    }
}

/// Lists every device of every OpenCL platform, numbered `opencl:0..` in platform order.
pub(crate) fn discover() -> Result<Vec<DeviceInfo>, AccelError> {
    Ok(device_handles()?
        .iter()
        .zip(0..)
        .map(|(handle, index)| describe(handle, index))
        .collect())
}
