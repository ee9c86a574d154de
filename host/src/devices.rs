//! `zkbox devices`: the compute backends found on this machine.

use std::fmt::Write as _;

use zkbox_accel::Discovery;

/// Renders discovery as an aligned text table, skipped backends listed below it.
pub fn render_table(found: &Discovery) -> String {
    let header = [
        "ID", "NAME", "VENDOR", "PLATFORM", "DRIVER", "MEMORY", "UNITS",
    ];
    let rows: Vec<[String; 7]> = found
        .devices
        .iter()
        .map(|d| {
            [
                d.id.to_string(),
                d.name.clone(),
                d.vendor.clone(),
                d.platform.clone(),
                d.driver.clone(),
                format_bytes(d.memory_bytes),
                d.compute_units.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    for skipped in &found.skipped {
        let _ = writeln!(out, "skipped {}: {}", skipped.backend, skipped.reason);
    }
    out
}

/// Renders discovery as pretty JSON: `{"devices": [...], "skipped": [...]}`.
pub fn render_json(found: &Discovery) -> String {
    serde_json::to_string_pretty(found).expect("discovery serialises to JSON") + "\n"
}

/// `1.5 GiB`-style sizes.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
    }

    #[test]
    fn cuda_devices_show_name_memory_and_driver() {
        use zkbox_accel::{BackendKind, DeviceId, DeviceInfo, Discovery, SkippedBackend};
        let found = Discovery {
            devices: vec![DeviceInfo {
                id: DeviceId {
                    backend: BackendKind::Cuda,
                    index: 0,
                },
                name: "NVIDIA H100 80GB HBM3 (sm_90)".to_owned(),
                vendor: "NVIDIA".to_owned(),
                platform: "CUDA driver API".to_owned(),
                driver: "CUDA 12.8".to_owned(),
                memory_bytes: 80 << 30,
                compute_units: 132,
            }],
            skipped: vec![SkippedBackend {
                backend: BackendKind::Cuda,
                reason: "CUDA device 1 (Tesla K80): compute capability 3.7 is below the \
                         minimum 6.0"
                    .to_owned(),
            }],
        };
        let table = render_table(&found);
        let row = table.lines().nth(1).unwrap();
        assert!(row.starts_with("cuda:0 "), "{table}");
        for cell in [
            "NVIDIA H100 80GB HBM3 (sm_90)",
            "80.0 GiB",
            "CUDA 12.8",
            "132",
        ] {
            assert!(row.contains(cell), "{cell} in {row}");
        }
        assert!(table.contains("skipped cuda: CUDA device 1 (Tesla K80)"));
        assert!(render_json(&found).contains("\"id\": \"cuda:0\""));
    }

    #[test]
    fn the_table_lists_every_device_and_skip() {
        let found = zkbox_accel::discover();
        let table = render_table(&found);
        assert!(table.starts_with("ID"));
        assert!(table.lines().any(|l| l.starts_with("cpu ")));
        assert_eq!(
            table.lines().filter(|l| l.starts_with("skipped ")).count(),
            found.skipped.len()
        );
    }

    /// Every device (vulkan:N included, where lavapipe or a GPU is installed) has a row with
    /// its name, driver and memory.
    #[test]
    fn each_device_row_shows_name_driver_and_memory() {
        let found = zkbox_accel::discover();
        let table = render_table(&found);
        for device in &found.devices {
            let id = device.id.to_string();
            let row = table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(id.as_str()))
                .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
            assert!(row.contains(&device.name), "{row}");
            assert!(row.contains(&device.driver), "{row}");
            assert!(row.contains(&format_bytes(device.memory_bytes)), "{row}");
        }
    }
}
