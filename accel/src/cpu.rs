//! The CPU backend: the host's cores, driven through Plonky3's SIMD code paths.

use crate::device::{DeviceId, DeviceInfo};

/// Describes the host CPU from `/proc` (Linux) and the running process.
pub(crate) fn describe() -> DeviceInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let compute_units = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    DeviceInfo {
        id: DeviceId::CPU,
        name: field("model name"),
        vendor: field("vendor_id"),
        platform: format!("host ({})", std::env::consts::ARCH),
        driver: simd_features(),
        memory_bytes: total_memory_bytes().unwrap_or(0),
        compute_units,
    }
}

/// The SIMD extensions the field arithmetic can use on this CPU, as a short list.
fn simd_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if found.is_empty() {
            "scalar".to_owned()
        } else {
            found.join("+")
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon".to_owned()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar".to_owned()
    }
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn total_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
