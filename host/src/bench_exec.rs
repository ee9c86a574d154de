//! `zkbox bench exec`: RV32IM execution speed, with and without trace recording.
//!
//! Workloads: a built-in kernel assembled here (integer mix: ALU, multiply, loads, stores,
//! branches), plus the example guests from `target/guests/` when they have been built. Each
//! is run once to warm up and then `REPEATS` times plain and `REPEATS` times traced (segments
//! of 2^22 cycles, handed to a sink that drops them, as a prover would consume them); the
//! table shows median and p95 instructions per second, and the peak resident memory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program, load_elf};

use crate::cli::BenchArgs;

const REPEATS: usize = 5;
const SEGMENT_CYCLES: u64 = 1 << 22;
const DEFAULT_LOG_CYCLES: u32 = 26;

/// One workload's measurements.
#[derive(Debug, Serialize)]
pub struct ExecResult {
    /// Workload name.
    pub workload: String,
    /// Cycles per run.
    pub cycles: u64,
    /// Median instructions per second, plain.
    pub plain_median_ips: f64,
    /// 95th-percentile (slow end) instructions per second, plain.
    pub plain_p95_ips: f64,
    /// Median instructions per second while recording the trace.
    pub traced_median_ips: f64,
    /// 95th-percentile (slow end) instructions per second while recording the trace.
    pub traced_p95_ips: f64,
    /// Largest segment trace handed over, in bytes of steps and memory records.
    pub max_segment_trace_bytes: u64,
}

/// The whole report, as written with `--json`.
#[derive(Debug, Serialize)]
pub struct ExecReport {
    /// What ran where and when.
    pub machine: Machine,
    /// One entry per workload.
    pub results: Vec<ExecResult>,
    /// Peak resident set size of this process over all runs (VmHWM), bytes.
    pub peak_rss_bytes: u64,
}

/// The machine a report was measured on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: u32,
    /// RAM in bytes.
    pub memory_bytes: u64,
    /// UTC date, YYYY-MM-DD.
    pub date: String,
    /// zkbox version and commit.
    pub zkbox: String,
}

impl Machine {
    /// The one-line description benchmark tables end with.
    pub fn footer(&self) -> String {
        format!(
            "{} ({} cores, {}) | {} | zkbox {}",
            self.cpu,
            self.cores,
            crate::devices::format_bytes(self.memory_bytes),
            self.date,
            self.zkbox
        )
    }
}

/// Runs the exec benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(other) = args.backend.iter().find(|b| b.as_str() != "cpu") {
        bail!("bench exec runs on the CPU only; backend {other:?} does not apply");
    }
    let log_cycles = match &args.log_n {
        Some(range) => parse_upper_log(range)?,
        None => DEFAULT_LOG_CYCLES,
    };
    let target_cycles = 1u64 << log_cycles;

    let mut workloads: Vec<(String, Program, Vec<u8>)> = vec![(
        "integer-mix".to_owned(),
        integer_mix(target_cycles / 12),
        Vec::new(),
    )];
    let guests = guests_dir();
    if let Some((program, input)) =
        load_guest(&guests, "fibonacci", fibonacci_input(target_cycles))?
    {
        workloads.push(("guest fibonacci".to_owned(), program, input));
    }

    let mut results = Vec::new();
    for (name, program, input) in &workloads {
        eprintln!("bench exec: {name} ...");
        results.push(measure(name, program, input)?);
    }
    let report = ExecReport {
        machine: machine(),
        peak_rss_bytes: peak_rss_bytes(),
        results,
    };
    print!("{}", render_table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.plot.is_some() {
        eprintln!(
            "bench exec: --plot is not drawn for exec (one number per workload); see the table"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `A..B` or `B`: the upper bound, at most 32.
fn parse_upper_log(range: &str) -> anyhow::Result<u32> {
    let upper = range.rsplit("..").next().unwrap_or(range).trim();
    let value: u32 = upper
        .parse()
        .with_context(|| format!("--log-n {range:?}: expected A..B"))?;
    if !(10..=32).contains(&value) {
        bail!("--log-n {range:?}: exec runs 2^10 to 2^32 cycles");
    }
    Ok(value)
}

fn measure(name: &str, program: &Program, input: &[u8]) -> anyhow::Result<ExecResult> {
    let run_plain = || -> anyhow::Result<(u64, f64)> {
        let mut exec = Executor::new(program, input.to_vec());
        let start = Instant::now();
        exec.run(u64::MAX)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok((exec.cycles(), start.elapsed().as_secs_f64()))
    };
    let mut max_segment_trace_bytes = 0u64;
    let mut run_traced = || -> anyhow::Result<(u64, f64)> {
        let mut exec = Executor::new(program, input.to_vec());
        let start = Instant::now();
        exec.run_traced(u64::MAX, SEGMENT_CYCLES, |segment| {
            let bytes = segment.steps.len() * size_of::<zkbox_executor::Step>()
                + segment.memory.len() * size_of::<zkbox_executor::MemoryAccess>();
            max_segment_trace_bytes = max_segment_trace_bytes.max(bytes as u64);
        })
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        Ok((exec.cycles(), start.elapsed().as_secs_f64()))
    };
    let (cycles, _) = run_plain()?; // warm-up
    let mut plain = Vec::new();
    let mut traced = Vec::new();
    run_traced()?;
    for _ in 0..REPEATS {
        plain.push(cycles as f64 / run_plain()?.1);
        traced.push(cycles as f64 / run_traced()?.1);
    }
    Ok(ExecResult {
        workload: name.to_owned(),
        cycles,
        plain_median_ips: quantile(&mut plain, 0.5),
        plain_p95_ips: quantile(&mut plain, 0.05),
        traced_median_ips: quantile(&mut traced, 0.5),
        traced_p95_ips: quantile(&mut traced, 0.05),
        max_segment_trace_bytes,
    })
}

/// The `q` quantile of rates (0.05 = the rate 95% of runs beat: the p95 of time).
pub(crate) fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

/// An integer kernel: a xorshift generator whose values are multiplied, stored into and
/// loaded back from a 4 KiB table, with a data-dependent branch; 12 instructions per round.
pub(crate) fn integer_mix(rounds: u64) -> Program {
    let rounds = u32::try_from(rounds).unwrap_or(u32::MAX);
    let mut words = li(5, rounds).to_vec(); // t0 = rounds
    words.extend(li(6, 0x1234_5678)); // t1 = state
    words.extend(li(9, 0x10_0000)); // s1 = table
    words.extend([
        asm::r(0x33, 1, 0, 7, 6, 5),   // loop: t2 = t1 << (t0 & 31)
        asm::r(0x33, 4, 0, 6, 6, 7),   // t1 ^= t2
        asm::i(0x13, 5, 7, 6, 17),     // t2 = t1 >> 17
        asm::r(0x33, 4, 0, 6, 6, 7),   // t1 ^= t2
        asm::r(0x33, 0, 1, 28, 6, 5),  // t3 = t1 * t0
        asm::i(0x13, 7, 29, 6, 0x3fc), // t4 = t1 & 0x3fc
        asm::r(0x33, 0, 0, 29, 29, 9), // t4 += table
        asm::s(2, 29, 28, 0),          // sw t3, 0(t4)
        asm::i(0x03, 2, 30, 29, 0),    // lw t5, 0(t4)
        asm::b(6, 30, 28, 4 * 2),      // bltu t5, t3, +8 (never: equal)
        addi(5, 5, -1),                // t0 -= 1
        asm::b(1, 5, 0, -44),          // bne t0, x0, loop
        addi(10, 0, 0),
    ]);
    words.extend(asm::exit());
    Program::from_words(0x1_0000, &words).expect("the built-in kernel assembles")
}

/// Where the built guests are: `$ZKBOX_GUESTS` if set (a copy of `target/guests/` on a
/// benchmark machine), else `target/guests/` of the workspace this binary was built in.
pub(crate) fn guests_dir() -> PathBuf {
    std::env::var_os("ZKBOX_GUESTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests"),
        PathBuf::from,
    )
}

pub(crate) fn fibonacci_input(target_cycles: u64) -> Vec<u8> {
    // The fibonacci guest's loop is a handful of instructions per step; aim near the target.
    let n = u32::try_from(target_cycles / 6).unwrap_or(u32::MAX);
    n.to_le_bytes().to_vec()
}

pub(crate) fn load_guest(
    dir: &Path,
    name: &str,
    input: Vec<u8>,
) -> anyhow::Result<Option<(Program, Vec<u8>)>> {
    let path = dir.join(name);
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!(
            "bench: {} not built (make guests); skipping it",
            path.display()
        );
        return Ok(None);
    };
    let program =
        load_elf(&bytes).with_context(|| format!("{} is not a loadable guest", path.display()))?;
    Ok(Some((program, input)))
}

fn render_table(report: &ExecReport) -> String {
    let mut out = format!(
        "{:<18} {:>12} {:>14} {:>14} {:>14} {:>14} {:>12}\n",
        "WORKLOAD",
        "CYCLES",
        "PLAIN MED/s",
        "PLAIN P95/s",
        "TRACED MED/s",
        "TRACED P95/s",
        "SEG TRACE"
    );
    for r in &report.results {
        out += &format!(
            "{:<18} {:>12} {:>13.1}M {:>13.1}M {:>13.1}M {:>13.1}M {:>12}\n",
            r.workload,
            r.cycles,
            r.plain_median_ips / 1e6,
            r.plain_p95_ips / 1e6,
            r.traced_median_ips / 1e6,
            r.traced_p95_ips / 1e6,
            crate::devices::format_bytes(r.max_segment_trace_bytes),
        );
    }
    out += &format!(
        "peak RSS {} | {}\n",
        crate::devices::format_bytes(report.peak_rss_bytes),
        report.machine.footer()
    );
    out
}

/// Describes this machine for benchmark reports.
pub fn machine() -> Machine {
    let cpu = zkbox_accel::discover()
        .devices
        .into_iter()
        .next()
        .expect("the CPU is always listed");
    Machine {
        cpu: cpu.name,
        cores: cpu.compute_units,
        memory_bytes: cpu.memory_bytes,
        date: utc_date(std::time::SystemTime::now()),
        zkbox: crate::VERSION.to_owned(),
    }
}

/// `VmHWM` of this process, in bytes (0 where /proc is unavailable).
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// `YYYY-MM-DD` in UTC (civil-from-days, proleptic Gregorian).
pub fn utc_date(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        let at = |secs| utc_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_795_564_800), "2026-11-25");
        assert_eq!(at(1_795_651_199), "2026-11-25");
        assert_eq!(at(1_795_651_200), "2026-11-26");
    }

    #[test]
    fn the_integer_mix_runs_its_rounds() {
        let program = integer_mix(1000);
        let mut exec = Executor::new(&program, Vec::new());
        assert_eq!(exec.run(1 << 20).unwrap(), 0);
        assert_eq!(exec.cycles(), 6 + 12 * 1000 + 3);
    }

    #[test]
    fn log_ranges_parse() {
        assert_eq!(parse_upper_log("10..24").unwrap(), 24);
        assert_eq!(parse_upper_log("20").unwrap(), 20);
        assert!(parse_upper_log("10..40").is_err());
        assert!(parse_upper_log("x").is_err());
    }
}
