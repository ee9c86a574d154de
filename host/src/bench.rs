//! `zkbox bench ntt|lde|merkle|all` (and the dispatch to `evm` and `prove`): the kernel benchmarks of `zkbox_accel::bench`, swept over
//! the chosen backends with Plonky3's CPU implementation as the baseline row; prints a table,
//! and writes JSON (`--json`) and an SVG plot (`--plot`) when asked.

use std::process::ExitCode;

use anyhow::Context;
use zkbox_accel::DeviceId;
use zkbox_accel::bench::{self, BenchKernel, BenchPlan};

use crate::cli::{BenchArgs, BenchTarget, EXIT_NOT_BUILT};

/// Log sizes swept when `--log-n` is not given.
const DEFAULT_LOG_SIZES: &str = "10..20";
/// Columns when `--cols` is not given.
const DEFAULT_COLUMNS: usize = 64;
const WARMUP: usize = 2;
const REPEATS: usize = 7;

/// Runs `zkbox bench` for the accel kernels.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let kernels = match args.target {
        BenchTarget::Ntt => vec![BenchKernel::Ntt],
        BenchTarget::Lde => vec![BenchKernel::Lde],
        BenchTarget::Merkle => vec![BenchKernel::Merkle],
        BenchTarget::All => BenchKernel::ALL.to_vec(),
        BenchTarget::Evm => return crate::bench_evm::run(args),
        BenchTarget::Prove => return crate::bench_prove::run(args),
        BenchTarget::Quotient => return crate::bench_prove::run_quotient(args),
        other => {
            let name = format!("{other:?}").to_lowercase();
            eprintln!("zkbox bench {name}: not built yet (arrives with a later issue)");
            return Ok(ExitCode::from(EXIT_NOT_BUILT as u8));
        }
    };
    let usage = |message: String| {
        eprintln!("zkbox bench: {message}");
        Ok(ExitCode::from(2))
    };
    let devices: Vec<DeviceId> = if args.backend.is_empty() {
        zkbox_accel::discover()
            .devices
            .iter()
            .map(|d| d.id)
            .collect()
    } else {
        match args.backend.iter().map(|name| name.parse()).collect() {
            Ok(devices) => devices,
            Err(err) => return usage(format!("--backend: {err}")),
        }
    };
    let log_sizes = match bench::parse_log_sizes(args.log_n.as_deref().unwrap_or(DEFAULT_LOG_SIZES))
    {
        Ok(range) => range,
        Err(err) => return usage(err.to_string()),
    };
    let plan = BenchPlan {
        kernels,
        devices,
        log_sizes,
        columns: args.cols.unwrap_or(DEFAULT_COLUMNS),
        warmup: WARMUP,
        repeats: REPEATS,
    };
    if plan.columns == 0 {
        return usage("--cols must be at least 1".to_owned());
    }
    let report = bench::run(&plan, |row| {
        eprintln!(
            "{} {} 2^{} x {}: {:.3} ms",
            row.kernel.as_str(),
            row.implementation,
            row.log_n,
            row.columns,
            row.kernel_median_ms
        );
    })?;
    print!("{}", bench::render_table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, bench::render_svg(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
