//! Kernel benchmarks for hardware teams: NTT, coset LDE and Poseidon2 Merkle trees swept over
//! sizes on chosen backends, with Plonky3's own CPU implementation as the baseline row.
//!
//! Every backend's output is checked against Plonky3's before it is timed. Each measurement
//! warms up, then repeats; the report gives the median and 95th percentile of the kernel time
//! (data already resident, queue drained before and after) and, separately, the time to move
//! the input to the device and the output back. Throughput is the kernel's *minimum* memory
//! traffic (read the input once, write the output once) over its median time, and is set
//! against the device's copy bandwidth measured in the same run (drivers do not report a
//! peak figure).

use std::ops::RangeInclusive;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use p3_baby_bear::BabyBear;
use p3_commit::Mmcs;
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32};
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix, Digest, Direction, MAX_LOG_SIZE, RowOrder};
use crate::cpu_backend::CpuBackend;
use crate::device::{DeviceId, DeviceInfo};
use crate::merkle::reference_mmcs;

/// A kernel the benchmark measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchKernel {
    /// Batched forward NTT, natural order in, bit-reversed out.
    Ntt,
    /// Coset LDE with one added bit (blowup 2), natural in, bit-reversed out.
    Lde,
    /// Poseidon2 Merkle tree over the matrix's rows, root read back.
    Merkle,
}

impl BenchKernel {
    /// Every kernel, in report order.
    pub const ALL: [BenchKernel; 3] = [BenchKernel::Ntt, BenchKernel::Lde, BenchKernel::Merkle];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchKernel::Ntt => "ntt",
            BenchKernel::Lde => "lde",
            BenchKernel::Merkle => "merkle",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Kernels to run.
    pub kernels: Vec<BenchKernel>,
    /// Devices to run them on (Plonky3's CPU baseline is always added).
    pub devices: Vec<DeviceId>,
    /// log2 of the row counts swept.
    pub log_sizes: RangeInclusive<usize>,
    /// Matrix columns.
    pub columns: usize,
    /// Untimed runs before timing.
    pub warmup: usize,
    /// Timed runs.
    pub repeats: usize,
}

/// Bits the LDE benchmark adds (blowup 2, the prover's setting).
pub const LDE_ADDED_BITS: usize = 1;

/// Why a benchmark could not run or did not pass its check.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A plan that cannot run.
    #[error("invalid benchmark plan: {0}")]
    InvalidPlan(String),
    /// A device failed.
    #[error(transparent)]
    Device(#[from] AccelError),
    /// A backend computed something other than Plonky3 did; nothing of it was timed.
    #[error("{implementation} {kernel} at 2^{log_n} x {columns} differs from Plonky3's result")]
    WrongResult {
        /// The implementation.
        implementation: String,
        /// The kernel.
        kernel: &'static str,
        /// log2 rows.
        log_n: usize,
        /// Columns.
        columns: usize,
    },
}

/// Parses `A..B` (inclusive) or a single `A` as a range of log2 sizes.
pub fn parse_log_sizes(text: &str) -> Result<RangeInclusive<usize>, BenchError> {
    let invalid =
        || BenchError::InvalidPlan(format!("--log-n {text:?}: expected A..B, e.g. 10..24"));
    let (low, high) = match text.split_once("..") {
        Some((low, high)) => (low, high.strip_prefix('=').unwrap_or(high)),
        None => (text, text),
    };
    let low: usize = low.trim().parse().map_err(|_| invalid())?;
    let high: usize = high.trim().parse().map_err(|_| invalid())?;
    if low > high {
        return Err(invalid());
    }
    if high + LDE_ADDED_BITS > MAX_LOG_SIZE {
        return Err(BenchError::InvalidPlan(format!(
            "--log-n {text}: sizes above 2^{} exceed BabyBear's two-adicity once extended",
            MAX_LOG_SIZE - LDE_ADDED_BITS
        )));
    }
    Ok(low..=high)
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: u32,
    /// RAM in bytes.
    pub memory_bytes: u64,
    /// Operating system and architecture.
    pub os: String,
}

/// One device of the run and the copy bandwidth measured on it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    /// What discovery says about it.
    pub info: DeviceInfo,
    /// Bytes read plus written per second by a device-to-device copy of 64 MiB.
    pub copy_bandwidth_bytes_per_s: f64,
}

/// One measured (kernel, implementation, size).
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// The kernel.
    pub kernel: BenchKernel,
    /// `plonky3` (the baseline) or a device name.
    pub implementation: String,
    /// log2 of the input rows.
    pub log_n: usize,
    /// Columns.
    pub columns: usize,
    /// Median kernel time, milliseconds.
    pub kernel_median_ms: f64,
    /// 95th-percentile kernel time, milliseconds.
    pub kernel_p95_ms: f64,
    /// Median time to upload the input plus download the output, milliseconds (none for the
    /// baseline, which works in host memory).
    pub transfer_median_ms: Option<f64>,
    /// The kernel's minimum memory traffic in bytes.
    pub bytes: u64,
    /// `bytes` over the median kernel time.
    pub throughput_bytes_per_s: f64,
    /// Throughput as a fraction of the device's measured copy bandwidth.
    pub bandwidth_fraction: Option<f64>,
    /// Baseline time over this row's time (above 1: faster than Plonky3).
    pub speedup_vs_plonky3: f64,
    /// For Merkle trees: Poseidon2 permutations per second (leaf sponges plus compressions).
    pub permutations_per_s: Option<f64>,
}

/// Everything one benchmark run measured, with the hardware it ran on.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// When, in UTC (RFC 3339).
    pub date: String,
    /// The host.
    pub host: HostInfo,
    /// The devices measured.
    pub devices: Vec<DeviceReport>,
    /// Warm-up runs per measurement.
    pub warmup: usize,
    /// Timed runs per measurement.
    pub repeats: usize,
    /// The measurements, kernel by kernel, size by size, baseline first.
    pub rows: Vec<BenchRow>,
}

/// Runs `plan`, calling `progress` after each measurement.
pub fn run(
    plan: &BenchPlan,
    mut progress: impl FnMut(&BenchRow),
) -> Result<BenchReport, BenchError> {
    if plan.columns == 0 {
        return Err(BenchError::InvalidPlan(
            "--cols must be at least 1".to_owned(),
        ));
    }
    if plan.repeats == 0 || plan.kernels.is_empty() {
        return Err(BenchError::InvalidPlan("nothing to measure".to_owned()));
    }
    let cpu = CpuBackend::new();
    let mut sessions: Vec<Box<dyn Session>> = Vec::new();
    for &id in &plan.devices {
        sessions.push(open_session(id)?);
    }
    let mut devices = Vec::new();
    for session in &sessions {
        devices.push(DeviceReport {
            info: session.info().clone(),
            copy_bandwidth_bytes_per_s: session.copy_bandwidth()?,
        });
    }
    let mut rows = Vec::new();
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    for &kernel in &plan.kernels {
        for log_n in plan.log_sizes.clone() {
            let values: Vec<BabyBear> = (0..plan.columns << log_n)
                .map(|_| BabyBear::new(rng.random_range(1..BabyBear::ORDER_U32)))
                .collect();
            let input = RowMajorMatrix::new(values, plan.columns);
            let case = Case {
                kernel,
                log_n,
                input: &input,
                plan,
            };
            let (expected, baseline) = case.baseline();
            let baseline_row = case.row("plonky3".to_owned(), &baseline, None, None, &baseline);
            progress(&baseline_row);
            rows.push(baseline_row);
            for (session, device) in sessions.iter().zip(&devices) {
                let timing = session.measure(&case, &expected)?;
                let row = case.row(
                    session.info().id.to_string(),
                    &timing.kernel,
                    Some(timing.transfer),
                    Some(device.copy_bandwidth_bytes_per_s),
                    &baseline,
                );
                progress(&row);
                rows.push(row);
            }
        }
    }
    Ok(BenchReport {
        date: utc_now_rfc3339(),
        host: host_info(&cpu),
        devices,
        warmup: plan.warmup,
        repeats: plan.repeats,
        rows,
    })
}

/// A kernel's output, as compared between implementations.
#[derive(PartialEq)]
enum Output {
    Values(Vec<BabyBear>),
    Root(Vec<Digest>),
}

/// Timings of one implementation on one case.
struct Timing {
    kernel: Vec<Duration>,
    transfer: Duration,
}

/// One (kernel, size) of the sweep.
struct Case<'a> {
    kernel: BenchKernel,
    log_n: usize,
    input: &'a RowMajorMatrix<BabyBear>,
    plan: &'a BenchPlan,
}

impl Case<'_> {
    /// Plonky3's output and its own timings.
    fn baseline(&self) -> (Output, Vec<Duration>) {
        let dft = Radix2DitParallel::<BabyBear>::default();
        let mmcs = reference_mmcs(0);
        let run_once = || match self.kernel {
            BenchKernel::Ntt => {
                let input = self.input.clone();
                let start = Instant::now();
                let out = dft.dft_batch(input).bit_reverse_rows();
                (start.elapsed(), Output::Values(out.values))
            }
            BenchKernel::Lde => {
                let input = self.input.clone();
                let start = Instant::now();
                let out = dft
                    .coset_lde_batch(input, LDE_ADDED_BITS, BabyBear::GENERATOR)
                    .bit_reverse_rows();
                (start.elapsed(), Output::Values(out.values))
            }
            BenchKernel::Merkle => {
                let input = self.input.clone();
                let start = Instant::now();
                let (cap, _tree) = mmcs.commit(vec![input]);
                (start.elapsed(), Output::Root(cap.into_roots()))
            }
        };
        let (_, expected) = run_once();
        for _ in 0..self.plan.warmup {
            run_once();
        }
        let times = (0..self.plan.repeats).map(|_| run_once().0).collect();
        (expected, times)
    }

    /// Minimum memory traffic of the kernel in bytes.
    fn bytes(&self) -> u64 {
        let input = (self.input.values.len() * 4) as u64;
        match self.kernel {
            BenchKernel::Ntt => 2 * input,
            BenchKernel::Lde => input + (input << LDE_ADDED_BITS),
            BenchKernel::Merkle => {
                input + (self.input.values.len() / self.plan.columns * 32) as u64
            }
        }
    }

    /// Poseidon2 permutations a Merkle tree of the input costs: one per 8 absorbed elements
    /// of each leaf (rounded up), one per compression.
    fn permutations(&self) -> Option<u64> {
        let leaves = 1u64 << self.log_n;
        (self.kernel == BenchKernel::Merkle)
            .then(|| leaves * self.plan.columns.div_ceil(8) as u64 + (leaves - 1))
    }

    fn row(
        &self,
        implementation: String,
        kernel_times: &[Duration],
        transfer: Option<Duration>,
        bandwidth: Option<f64>,
        baseline: &[Duration],
    ) -> BenchRow {
        let median = percentile(kernel_times, 50);
        let throughput = self.bytes() as f64 / median.as_secs_f64().max(1e-12);
        BenchRow {
            kernel: self.kernel,
            implementation,
            log_n: self.log_n,
            columns: self.plan.columns,
            kernel_median_ms: millis(median),
            kernel_p95_ms: millis(percentile(kernel_times, 95)),
            transfer_median_ms: transfer.map(millis),
            bytes: self.bytes(),
            throughput_bytes_per_s: throughput,
            bandwidth_fraction: bandwidth.map(|b| throughput / b),
            speedup_vs_plonky3: percentile(baseline, 50).as_secs_f64()
                / median.as_secs_f64().max(1e-12),
            permutations_per_s: self
                .permutations()
                .map(|count| count as f64 / median.as_secs_f64().max(1e-12)),
        }
    }
}

/// A backend opened for benchmarking, behind a trait object so a plan can mix backends.
trait Session {
    fn info(&self) -> &DeviceInfo;
    fn copy_bandwidth(&self) -> Result<f64, AccelError>;
    fn measure(&self, case: &Case<'_>, expected: &Output) -> Result<Timing, BenchError>;
}

struct BackendSession<B: Backend>(std::sync::Arc<B>);

fn open_session(id: DeviceId) -> Result<Box<dyn Session>, BenchError> {
    struct Open;
    impl crate::BackendVisitor for Open {
        type Output = Box<dyn Session>;
        fn visit<B: Backend + 'static>(self, backend: std::sync::Arc<B>) -> Box<dyn Session> {
            Box::new(BackendSession(backend))
        }
    }
    Ok(crate::with_backend(id, Open)?)
}

impl<B: Backend> Session for BackendSession<B> {
    fn info(&self) -> &DeviceInfo {
        self.0.info()
    }

    fn copy_bandwidth(&self) -> Result<f64, AccelError> {
        let backend: &B = &self.0;
        let words = 16 << 20;
        let source = backend.upload(&vec![BabyBear::ONE; words], 1 << 10)?;
        let mut destination = backend.upload(&vec![BabyBear::ZERO; words], 1 << 10)?;
        backend.copy_into(&source, &mut destination)?;
        backend.synchronize()?;
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            backend.copy_into(&source, &mut destination)?;
            backend.synchronize()?;
            times.push(start.elapsed());
        }
        Ok((2 * 4 * words) as f64 / percentile(&times, 50).as_secs_f64().max(1e-12))
    }

    fn measure(&self, case: &Case<'_>, expected: &Output) -> Result<Timing, BenchError> {
        let backend: &B = &self.0;
        let width = case.plan.columns;
        let upload = || -> Result<(DeviceMatrix<B>, Duration), AccelError> {
            backend.synchronize()?;
            let start = Instant::now();
            let matrix = backend.upload(&case.input.values, width)?;
            backend.synchronize()?;
            Ok((matrix, start.elapsed()))
        };
        // One checked run, which also times the transfers.
        let (resident, upload_time) = upload()?;
        let (output, download_time) = match case.kernel {
            BenchKernel::Ntt | BenchKernel::Lde => {
                let result = run_kernel(backend, case.kernel, resident)?;
                backend.synchronize()?;
                let start = Instant::now();
                let values = backend.download(&result)?;
                (Output::Values(values), start.elapsed())
            }
            BenchKernel::Merkle => {
                let tree = backend.merkle_tree(vec![resident])?;
                backend.synchronize()?;
                let start = Instant::now();
                let root = backend.merkle_cap(&tree, 0)?;
                (Output::Root(root), start.elapsed())
            }
        };
        if &output != expected {
            return Err(BenchError::WrongResult {
                implementation: backend.info().id.to_string(),
                kernel: case.kernel.as_str(),
                log_n: case.log_n,
                columns: width,
            });
        }
        let mut kernel_times = Vec::with_capacity(case.plan.repeats);
        for run in 0..case.plan.warmup + case.plan.repeats {
            let (input, _) = upload()?;
            let start = Instant::now();
            // Outputs are freed after the clock stops, as the baseline's are.
            let output = match case.kernel {
                BenchKernel::Ntt | BenchKernel::Lde => {
                    KernelOutput::Matrix(run_kernel(backend, case.kernel, input)?)
                }
                BenchKernel::Merkle => KernelOutput::Tree(backend.merkle_tree(vec![input])?),
            };
            backend.synchronize()?;
            let elapsed = start.elapsed();
            drop(output);
            if run >= case.plan.warmup {
                kernel_times.push(elapsed);
            }
        }
        Ok(Timing {
            kernel: kernel_times,
            transfer: upload_time + download_time,
        })
    }
}

/// What a timed run leaves on the device.
enum KernelOutput<B: Backend> {
    Matrix(DeviceMatrix<B>),
    Tree(B::MerkleTree),
}

fn run_kernel<B: Backend>(
    backend: &B,
    kernel: BenchKernel,
    mut input: DeviceMatrix<B>,
) -> Result<DeviceMatrix<B>, AccelError> {
    match kernel {
        BenchKernel::Ntt => {
            backend.ntt(&mut input, Direction::Forward, RowOrder::BitReversed)?;
            Ok(input)
        }
        _ => backend.coset_lde(&input, LDE_ADDED_BITS, BabyBear::GENERATOR),
    }
}

fn percentile(times: &[Duration], percent: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = (sorted.len() * percent)
        .div_ceil(100)
        .clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn host_info(cpu: &CpuBackend) -> HostInfo {
    let info = cpu.info();
    HostInfo {
        cpu: info.name.clone(),
        cores: info.compute_units,
        memory_bytes: info.memory_bytes,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The report as a fixed-width text table.
pub fn render_table(report: &BenchReport) -> String {
    let mut text = format!(
        "{:<7} {:<10} {:>5} {:>5} {:>11} {:>11} {:>11} {:>9} {:>7} {:>8}\n",
        "kernel",
        "impl",
        "log_n",
        "cols",
        "median ms",
        "p95 ms",
        "transfer ms",
        "GB/s",
        "% bw",
        "vs p3"
    );
    for row in &report.rows {
        text.push_str(&format!(
            "{:<7} {:<10} {:>5} {:>5} {:>11.3} {:>11.3} {:>11} {:>9.2} {:>7} {:>7.2}x\n",
            row.kernel.as_str(),
            row.implementation,
            row.log_n,
            row.columns,
            row.kernel_median_ms,
            row.kernel_p95_ms,
            row.transfer_median_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3}")),
            row.throughput_bytes_per_s / 1e9,
            row.bandwidth_fraction
                .map_or_else(|| "-".to_owned(), |f| format!("{:.1}", f * 100.0)),
            row.speedup_vs_plonky3,
        ));
    }
    text
}

/// Throughput against size, one panel per kernel, one line per implementation, as SVG.
pub fn render_svg(report: &BenchReport) -> String {
    const PANEL_WIDTH: f64 = 640.0;
    const PANEL_HEIGHT: f64 = 260.0;
    const MARGIN: f64 = 56.0;
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    ];
    let kernels: Vec<BenchKernel> = BenchKernel::ALL
        .into_iter()
        .filter(|k| report.rows.iter().any(|r| r.kernel == *k))
        .collect();
    let mut implementations: Vec<&str> = Vec::new();
    for row in &report.rows {
        if !implementations.contains(&row.implementation.as_str()) {
            implementations.push(&row.implementation);
        }
    }
    let total_height = kernels.len() as f64 * (PANEL_HEIGHT + MARGIN) + MARGIN;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{total_height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        w = PANEL_WIDTH + 2.0 * MARGIN + 120.0
    );
    for (panel, kernel) in kernels.iter().enumerate() {
        let rows: Vec<&BenchRow> = report.rows.iter().filter(|r| r.kernel == *kernel).collect();
        let top = MARGIN + panel as f64 * (PANEL_HEIGHT + MARGIN);
        let min_log = rows.iter().map(|r| r.log_n).min().unwrap_or(0) as f64;
        let max_log = rows.iter().map(|r| r.log_n).max().unwrap_or(1) as f64;
        let max_gbps = rows
            .iter()
            .map(|r| r.throughput_bytes_per_s / 1e9)
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let x =
            |log_n: f64| MARGIN + (log_n - min_log) / (max_log - min_log).max(1.0) * PANEL_WIDTH;
        let y = |gbps: f64| top + PANEL_HEIGHT - gbps / max_gbps * PANEL_HEIGHT;
        svg.push_str(&format!(
            "<text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\">{} throughput (GB/s of minimum traffic) vs log2 rows, {} columns</text>\n",
            top - 8.0,
            kernel.as_str(),
            rows.first().map_or(0, |r| r.columns)
        ));
        svg.push_str(&format!(
            "<rect x=\"{MARGIN}\" y=\"{top}\" width=\"{PANEL_WIDTH}\" height=\"{PANEL_HEIGHT}\" fill=\"none\" stroke=\"#888\"/>\n"
        ));
        svg.push_str(&format!(
            "<text x=\"4\" y=\"{}\">{max_gbps:.2}</text>\n<text x=\"4\" y=\"{}\">0</text>\n",
            top + 12.0,
            top + PANEL_HEIGHT
        ));
        for log_n in min_log as usize..=max_log as usize {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{log_n}</text>\n",
                x(log_n as f64),
                top + PANEL_HEIGHT + 16.0
            ));
        }
        for (index, implementation) in implementations.iter().enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let points: Vec<String> = rows
                .iter()
                .filter(|r| r.implementation == *implementation)
                .map(|r| {
                    format!(
                        "{:.1},{:.1}",
                        x(r.log_n as f64),
                        y(r.throughput_bytes_per_s / 1e9)
                    )
                })
                .collect();
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
                points.join(" ")
            ));
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{implementation}</text>\n",
                MARGIN + PANEL_WIDTH + 10.0,
                top + 16.0 + 16.0 * index as f64
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_size_ranges_parse_and_bad_ones_are_typed_errors() {
        assert_eq!(parse_log_sizes("10..24").unwrap(), 10..=24);
        assert_eq!(parse_log_sizes("12").unwrap(), 12..=12);
        assert_eq!(parse_log_sizes("3..=5").unwrap(), 3..=5);
        for bad in ["", "a..b", "9..3", "10..27", "x"] {
            assert!(
                matches!(parse_log_sizes(bad), Err(BenchError::InvalidPlan(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_small_sweep_checks_times_and_renders() {
        let plan = BenchPlan {
            kernels: BenchKernel::ALL.to_vec(),
            devices: vec![DeviceId::CPU],
            log_sizes: 3..=4,
            columns: 3,
            warmup: 1,
            repeats: 3,
        };
        let mut seen = 0;
        let report = run(&plan, |_| seen += 1).unwrap();
        assert_eq!(report.rows.len(), 3 * 2 * 2);
        assert_eq!(seen, report.rows.len());
        assert!(
            report
                .rows
                .iter()
                .all(|r| r.kernel_p95_ms >= r.kernel_median_ms)
        );
        assert!(report.devices[0].copy_bandwidth_bytes_per_s > 0.0);
        assert_eq!(report.date.len(), "2026-11-25T22:00:00Z".len());
        let table = render_table(&report);
        assert!(table.contains("plonky3") && table.contains("cpu"));
        let svg = render_svg(&report);
        assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 3 * 2);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"][0]["kernel"], "ntt");
    }
}
