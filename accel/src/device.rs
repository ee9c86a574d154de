//! Names and descriptions of compute devices.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AccelError;

/// The API a device is driven through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The host CPU, multi-threaded (Plonky3's SIMD paths).
    Cpu,
    /// OpenCL 1.2+: GPUs, FPGAs, or PoCL on the CPU.
    #[serde(rename = "opencl")]
    OpenCl,
    /// NVIDIA GPUs through the CUDA driver API.
    Cuda,
    /// Vulkan compute: any Vulkan 1.2 GPU, or Mesa's lavapipe on the CPU.
    Vulkan,
}

impl BackendKind {
    /// The lowercase prefix used in device names (`opencl` in `opencl:0`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::OpenCl => "opencl",
            BackendKind::Cuda => "cuda",
            BackendKind::Vulkan => "vulkan",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device's name as users type it: `cpu`, `opencl:0`, `cuda:1`, `vulkan:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId {
    /// The backend driving the device.
    pub backend: BackendKind,
    /// Index among that backend's devices (always 0 for the CPU).
    pub index: u32,
}

impl DeviceId {
    /// The host CPU.
    pub const CPU: DeviceId = DeviceId {
        backend: BackendKind::Cpu,
        index: 0,
    };
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.backend {
            BackendKind::Cpu => f.write_str("cpu"),
            other => write!(f, "{}:{}", other, self.index),
        }
    }
}

impl FromStr for DeviceId {
    type Err = AccelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let invalid = || AccelError::InvalidDeviceName {
            name: name.to_owned(),
        };
        if name == "cpu" || name == "cpu:0" {
            return Ok(DeviceId::CPU);
        }
        let (prefix, index) = name.split_once(':').ok_or_else(invalid)?;
        let backend = match prefix {
            "opencl" => BackendKind::OpenCl,
            "cuda" => BackendKind::Cuda,
            "vulkan" => BackendKind::Vulkan,
            _ => return Err(invalid()),
        };
        // Only plain decimal digits: no sign, no whitespace, no leading `+`.
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let index = index.parse().map_err(|_| invalid())?;
        Ok(DeviceId { backend, index })
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What discovery learned about one device: enough for `zkbox devices` and for the
/// prover's memory planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device's name as users type it.
    pub id: DeviceId,
    /// Marketing or driver name of the device.
    pub name: String,
    /// Vendor as reported by the driver.
    pub vendor: String,
    /// Platform (OpenCL platform, CUDA driver, Vulkan driver) the device belongs to.
    pub platform: String,
    /// Driver version string.
    pub driver: String,
    /// Global memory in bytes (host RAM for the CPU).
    pub memory_bytes: u64,
    /// Parallel compute units (cores, SMs, CUs).
    pub compute_units: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_round_trip() {
        for name in ["cpu", "opencl:0", "opencl:12", "cuda:3", "vulkan:0"] {
            let id: DeviceId = name.parse().unwrap();
            assert_eq!(id.to_string(), name);
        }
        assert_eq!("cpu:0".parse::<DeviceId>().unwrap(), DeviceId::CPU);
    }

    #[test]
    fn bad_device_names_are_typed_errors() {
        for name in [
            "",
            "gpu",
            "opencl",
            "opencl:",
            "opencl:-1",
            "opencl:+1",
            "cuda:x",
            "cpu:1",
            "vulkan: 0",
            "opencl:99999999999",
        ] {
            match name.parse::<DeviceId>() {
                Err(AccelError::InvalidDeviceName { name: got }) => assert_eq!(got, name),
                other => panic!("{name:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn device_ids_serialise_as_names() {
        let id = DeviceId {
            backend: BackendKind::OpenCl,
            index: 2,
        };
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"opencl:2\"");
        let back: DeviceId = serde_json::from_str("\"opencl:2\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<DeviceId>("\"tpu:0\"").is_err());
    }
}
