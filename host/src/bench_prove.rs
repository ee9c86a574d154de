//! `zkbox bench prove`: end-to-end proving speed, stage by stage.
//!
//! Workloads: the built-in integer kernel of `bench exec` at each size of `--log-n` (cycles,
//! default 14..18), plus, when `make guests` has built them, the fibonacci guest at the
//! largest size and, with `--evm-transfers N`, the EVM guest proving a block of N ERC-20
//! transfers (the appliance's own workload: sender recovery on the field256 precompile,
//! hashing on keccakf; in segments where the memory there is calls for them). Each workload is proven `REPEATS` times; the table gives the median and p95 (slow end)
//! wall time, cycles per second of the median run, where that run's time went (execution,
//! witness generation, then the proving library's stages as timed by `stage_clock`), the
//! proof's size, verification time and the process's peak resident memory for the workload.
//! `--json` writes the same as JSON and `--plot` draws the stage shares as an SVG bar chart.
//!
//! `--backend` lists where to prove (default `cpu`, Plonky3's own CPU path; `opencl:N`,
//! `cuda:N`, `vulkan:N` put the LDEs and Merkle trees on that device, see
//! `zkbox_prover::ProvingDevice`); every workload runs on each, in the same process.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use zkbox_evm::workload::{TransferKind, TransferWorkload};
use zkbox_executor::Program;
use zkbox_prover::{DeviceCompute, ProverLoop, ProvingDevice};

use crate::bench_exec::{self, Machine};
use crate::cli::BenchArgs;
use crate::stage_clock::{self, ProverStage};
use zkbox_prover::chips::CHIP_NAMES;
use zkbox_prover::quotient::QuotientCase;

const DEFAULT_LOG_CYCLES: &str = "14..18";
const REPEATS: usize = 3;
const VERIFY_REPEATS: usize = 5;

/// Where one proof's wall time went, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageSeconds {
    /// Running the guest with trace recording.
    pub execute: f64,
    /// Building every chip's trace.
    pub witness: f64,
    /// Low-degree extension (`coset_lde_batch` spans).
    pub lde: f64,
    /// Merkle commitments of extended traces (`build merkle tree`).
    pub merkle: f64,
    /// LogUp permutation columns (`generate lookup permutation`).
    pub logup: f64,
    /// Quotient evaluation (`compute quotient`).
    pub quotient: f64,
    /// The PCS opening before FRI (`evaluate matrix`, `reduce matrix quotient`).
    pub open: f64,
    /// FRI folding, its commitments and queries (`FRI prover`).
    pub fri: f64,
    /// Everything else: transcript, copies, symbolic analysis, proof assembly.
    pub other: f64,
    /// The whole proof, execution included.
    pub total: f64,
}

impl StageSeconds {
    /// The stages with their names, in proof order (without the total).
    pub fn named(&self) -> [(&'static str, f64); 9] {
        [
            ("execute", self.execute),
            ("witness", self.witness),
            ("lde", self.lde),
            ("merkle", self.merkle),
            ("logup", self.logup),
            ("quotient", self.quotient),
            ("open", self.open),
            ("fri", self.fri),
            ("other", self.other),
        ]
    }
}

/// One workload's measurements.
#[derive(Debug, Serialize)]
pub struct ProveResult {
    /// Workload name.
    pub workload: String,
    /// Cycles the guest ran.
    pub cycles: u64,
    /// Backend that proved it.
    pub backend: String,
    /// Proofs timed.
    pub runs: usize,
    /// Median wall time of a proof, seconds.
    pub median_seconds: f64,
    /// 95th-percentile (slow end) wall time, seconds.
    pub p95_seconds: f64,
    /// Cycles per second of the median proof.
    pub cycles_per_second: f64,
    /// Stage times of the median proof.
    pub stages: StageSeconds,
    /// Size of the proof file in bytes.
    pub proof_bytes: u64,
    /// Median verification time, milliseconds (program given, as `zkbox verify --elf`).
    pub verify_median_ms: f64,
    /// 95th-percentile verification time, milliseconds.
    pub verify_p95_ms: f64,
    /// Peak resident set size while proving this workload, bytes (0 where unknown).
    pub peak_rss_bytes: u64,
}

/// The whole report, as written with `--json`.
#[derive(Debug, Serialize)]
pub struct ProveReport {
    /// What ran where and when.
    pub machine: Machine,
    /// One entry per workload.
    pub results: Vec<ProveResult>,
}

/// A guest program with its input, named for the tables.
type Workload = (String, Program, Vec<u8>);

/// What a benchmark run covers: its workloads and the devices to prove each on.
type Plan = (Vec<Workload>, Vec<ProvingDevice>);

/// The workloads and devices `args` ask for; `Err` carries the exit code of a usage error
/// (already reported).
fn plan(command: &str, args: &BenchArgs) -> anyhow::Result<Result<Plan, ExitCode>> {
    let names: Vec<String> = if args.backend.is_empty() {
        vec!["cpu".to_owned()]
    } else {
        args.backend.clone()
    };
    let mut devices = Vec::new();
    for name in &names {
        match name.parse::<ProvingDevice>() {
            Ok(device) => devices.push(device),
            Err(err) => {
                eprintln!("zkbox bench {command}: --backend {name:?}: {err}");
                return Ok(Err(ExitCode::from(2)));
            }
        }
    }
    let range = args.log_n.as_deref().unwrap_or(DEFAULT_LOG_CYCLES);
    let log_sizes = match zkbox_accel::bench::parse_log_sizes(range) {
        Ok(sizes) if *sizes.start() >= 8 && *sizes.end() <= 24 => sizes,
        Ok(_) => bail!("--log-n {range:?}: proofs of 2^8 to 2^24 cycles"),
        Err(err) => bail!("{err}"),
    };
    let mut workloads: Vec<Workload> = log_sizes
        .clone()
        .map(|log| {
            let rounds = ((1u64 << log) - 9) / 12;
            (
                format!("integer-mix 2^{log}"),
                bench_exec::integer_mix(rounds),
                Vec::new(),
            )
        })
        .collect();
    let largest = 1u64 << log_sizes.end();
    if let Some((program, input)) = bench_exec::load_guest(
        &bench_exec::guests_dir(),
        "fibonacci",
        bench_exec::fibonacci_input(largest),
    )? {
        workloads.push(("guest fibonacci".to_owned(), program, input));
    }
    if let Some(transfers) = args.evm_transfers {
        match evm_block_workload(usize::from(transfers))? {
            Some(workload) => workloads.push(workload),
            None => eprintln!(
                "zkbox bench {command}: --evm-transfers: the EVM guest is not built (make guests)"
            ),
        }
    }
    Ok(Ok((workloads, devices)))
}

/// The EVM guest and the witness of a block of `transfers` ERC-20 transfers, when the guest
/// is built.
fn evm_block_workload(transfers: usize) -> anyhow::Result<Option<Workload>> {
    let Ok(program) = crate::bench_evm::load_guest(&bench_exec::guests_dir())? else {
        return Ok(None);
    };
    let mut chain = TransferWorkload::new(4);
    let transactions = chain.transfers(TransferKind::Erc20, transfers);
    let block = chain.block(transactions);
    let (_, witness) = chain
        .execute_with_witness(&block)
        .map_err(|err| anyhow::anyhow!("the EVM workload's block: {err}"))?;
    Ok(Some((
        format!("evm-stf {transfers} ERC-20 transfers"),
        program,
        witness.encode(),
    )))
}

/// Runs the proving benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let (workloads, devices) = match plan("prove", args)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let placements = if args.device_compute.is_empty() {
        vec![DeviceCompute::Auto]
    } else {
        args.device_compute.clone()
    };
    let mut results = Vec::new();
    for (name, program, input) in &workloads {
        for &device in &devices {
            let mut proofs = Vec::new();
            for variant in Variant::all(device, args.reference_loop, &placements) {
                let label = variant.label(device);
                eprintln!("bench prove: {name} on {label} ...");
                let (result, proof) = measure(name, device, variant, program, input)?;
                eprintln!(
                    "bench prove: {name} on {label}: {} cycles, median {:.2} s, {:.0} cycles/s",
                    result.cycles, result.median_seconds, result.cycles_per_second
                );
                results.push(result);
                proofs.push(proof.to_bytes());
            }
            if proofs.windows(2).any(|pair| pair[0] != pair[1]) {
                bail!(
                    "{name} on {device}: the prover loops or quotient placements wrote different proofs"
                );
            }
        }
    }
    let report = ProveReport {
        machine: bench_exec::machine(),
        results,
    };
    print!("{}", render_table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, render_svg(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How one row of `bench prove` proves: which loop, and where a device proof evaluates its
/// quotients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    prover_loop: ProverLoop,
    device_compute: DeviceCompute,
}

impl Variant {
    /// zkbox's loop with each of `placements` (one for the CPU path, which has no device),
    /// then Plonky3's loop if `reference_loop`.
    fn all(device: ProvingDevice, reference_loop: bool, placements: &[DeviceCompute]) -> Vec<Self> {
        let placements = match device {
            ProvingDevice::Cpu => &[DeviceCompute::Auto][..],
            ProvingDevice::Accel(_) => placements,
        };
        let mut variants: Vec<Self> = placements
            .iter()
            .map(|&device_compute| Variant {
                prover_loop: ProverLoop::Zkbox,
                device_compute,
            })
            .collect();
        if reference_loop {
            variants.push(Variant {
                prover_loop: ProverLoop::Plonky3,
                device_compute: DeviceCompute::Auto,
            });
        }
        variants
    }

    /// The backend column of a row: the device, the loop when it is not zkbox's, the
    /// quotient placement when it is not the default.
    fn label(self, device: ProvingDevice) -> String {
        let mut label = device.to_string();
        if self.prover_loop != ProverLoop::Zkbox {
            label += &format!(" {}-loop", self.prover_loop);
        }
        if self.device_compute != DeviceCompute::Auto {
            label += &format!(" compute-{}", self.device_compute);
        }
        label
    }
}

/// Proves `program` on `input` [`REPEATS`] times and verifies the proof; the timings and
/// the proof.
fn measure(
    name: &str,
    device: ProvingDevice,
    variant: Variant,
    program: &Program,
    input: &[u8],
) -> anyhow::Result<(ProveResult, zkbox_prover::Proof)> {
    reset_peak_rss();
    let mut runs = Vec::new();
    let mut proof = None;
    for _ in 0..REPEATS {
        let (p, stages, _) = prove_once(device, variant, program, input)
            .with_context(|| format!("proving {name} on {device}"))?;
        runs.push(stages);
        proof = Some(p);
    }
    let peak_rss_bytes = bench_exec::peak_rss_bytes();
    let proof = proof.expect("REPEATS > 0");
    let mut verify_ms = Vec::new();
    for _ in 0..VERIFY_REPEATS {
        let start = Instant::now();
        zkbox_prover::verify(&proof, Some(program))
            .with_context(|| format!("the proof of {name} does not verify"))?;
        verify_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    runs.sort_by(|a, b| a.total.total_cmp(&b.total));
    let mut totals: Vec<f64> = runs.iter().map(|r| r.total).collect();
    let cycles = proof.cycles();
    let median = runs[runs.len() / 2].clone();
    let result = ProveResult {
        workload: name.to_owned(),
        cycles,
        backend: variant.label(device),
        runs: runs.len(),
        median_seconds: median.total,
        p95_seconds: bench_exec::quantile(&mut totals, 0.95),
        cycles_per_second: cycles as f64 / median.total,
        stages: median,
        proof_bytes: proof.to_bytes().len() as u64,
        verify_median_ms: bench_exec::quantile(&mut verify_ms, 0.5),
        verify_p95_ms: bench_exec::quantile(&mut verify_ms, 0.95),
        peak_rss_bytes,
    };
    Ok((result, proof))
}

/// Proves once, timing the stages; also returns the recorded stage spans.
fn prove_once(
    device: ProvingDevice,
    variant: Variant,
    program: &Program,
    input: &[u8],
) -> anyhow::Result<(
    zkbox_prover::Proof,
    StageSeconds,
    Vec<stage_clock::Interval>,
)> {
    let mut marks = Vec::with_capacity(3);
    stage_clock::arm();
    let start = Instant::now();
    // Each workload is one segment of its size, unless the memory there is calls for smaller.
    let options = zkbox_prover::ProveOptions {
        segment_cycles: zkbox_prover::chips::MAX_SEGMENT_CYCLES,
        prover_loop: variant.prover_loop,
        device_compute: variant.device_compute,
        ..zkbox_prover::ProveOptions::new(u64::MAX)
    };
    let proof = zkbox_prover::prove_on(device, program, input.to_vec(), options, |_| {
        marks.push(Instant::now())
    });
    let end = Instant::now();
    let intervals = stage_clock::disarm();
    let proof = proof?;
    // Executing, then per segment: building its traces, proving it.
    if marks.len() < 3 || marks.len() % 2 == 0 {
        bail!(
            "the prover reported {} stages, expected 1 + 2 per segment",
            marks.len()
        );
    }
    let execute = (marks[1] - marks[0]).as_secs_f64();
    let witness: f64 = marks[1..]
        .chunks(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64())
        .sum();
    let busy = |stage| stage_clock::busy_seconds(&intervals, stage);
    let mut stages = StageSeconds {
        execute,
        witness,
        lde: busy(ProverStage::Lde),
        merkle: busy(ProverStage::Merkle),
        logup: busy(ProverStage::Logup),
        quotient: busy(ProverStage::Quotient),
        open: busy(ProverStage::Open),
        fri: busy(ProverStage::Fri),
        other: 0.0,
        total: (end - start).as_secs_f64(),
    };
    let library = (end - marks[1]).as_secs_f64() - witness;
    let timed: f64 = ProverStage::ALL.iter().map(|&s| busy(s)).sum();
    stages.other = (library - timed).max(0.0);
    Ok((proof, stages, intervals))
}

/// One chip's quotient evaluation in `zkbox bench quotient`.
#[derive(Debug, Serialize)]
pub struct ChipQuotient {
    /// The chip.
    pub chip: String,
    /// Its trace rows (the sum over its pieces when the trace is cut).
    pub rows: u64,
    /// Committed main-trace columns (base field).
    pub main_columns: usize,
    /// Committed LogUp columns, in base-field elements (4 per extension column).
    pub lookup_columns: usize,
    /// Median wall time of its `compute quotient` span, milliseconds.
    pub median_ms: f64,
    /// That time per trace row, nanoseconds.
    pub ns_per_row: f64,
    /// Median time of the bytecode interpreter (`zkbox_accel::quotient`) on the device for
    /// the same chip and height, random inputs, milliseconds.
    pub interpreter_ms: f64,
    /// Bytes of trace (main, preprocessed, permutation) on the quotient domain.
    pub trace_bytes: u64,
    /// Time to read those bytes once at the device's measured copy bandwidth, milliseconds:
    /// the floor the "quotient ≤ 3× one read of the trace" target is measured from.
    pub read_floor_ms: f64,
}

/// One workload's quotient evaluation, per chip.
#[derive(Debug, Serialize)]
pub struct QuotientResult {
    /// Workload name.
    pub workload: String,
    /// Backend that proved it.
    pub backend: String,
    /// Cycles the guest ran.
    pub cycles: u64,
    /// Median wall time of the whole quotient stage (chips run side by side), seconds.
    pub stage_median_seconds: f64,
    /// Per chip, in proof order.
    pub chips: Vec<ChipQuotient>,
    /// The device the interpreter ran on (`cpu` for the reference path: accel's CPU backend).
    pub interpreter_device: String,
    /// Sum of the chips' interpreter times, milliseconds (one chip at a time).
    pub interpreter_total_ms: f64,
    /// The device's measured copy bandwidth (bytes read + written per second), GB/s.
    pub copy_gb_per_s: f64,
}

/// The report of `zkbox bench quotient`.
#[derive(Debug, Serialize)]
pub struct QuotientReport {
    /// What ran where and when.
    pub machine: Machine,
    /// One entry per workload and backend.
    pub results: Vec<QuotientResult>,
}

/// Runs `zkbox bench quotient`: the quotient (constraint evaluation) stage of real proofs,
/// per chip — the CPU baseline that device quotient kernels are measured against. Plonky3
/// evaluates the chips side by side, so a chip's time is the wall time of its span (an upper
/// bound of its own cost) and the stage time is what the proof pays.
pub fn run_quotient(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let (workloads, devices) = match plan("quotient", args)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    // The proofs' quotients where the first `--device-compute` says (default: auto).
    let variant = Variant {
        prover_loop: ProverLoop::Zkbox,
        device_compute: args.device_compute.first().copied().unwrap_or_default(),
    };
    let mut results = Vec::new();
    for (name, program, input) in &workloads {
        for &device in &devices {
            eprintln!("bench quotient: {name} on {} ...", variant.label(device));
            let mut per_chip: Vec<Vec<f64>> = vec![Vec::new(); CHIP_NAMES.len()];
            let mut stage = Vec::new();
            let mut proof = None;
            for _ in 0..REPEATS {
                let (p, stages, intervals) = prove_once(device, variant, program, input)
                    .with_context(|| format!("proving {name} on {device}"))?;
                stage.push(stages.quotient);
                for interval in intervals
                    .iter()
                    .filter(|i| i.stage == ProverStage::Quotient)
                {
                    if let Some(times) = interval.air.and_then(|air| per_chip.get_mut(air)) {
                        times.push((interval.end - interval.start).as_secs_f64() * 1e3);
                    }
                }
                proof = Some(p);
            }
            let proof = proof.expect("REPEATS > 0");
            let kernel_device = match device {
                ProvingDevice::Cpu => zkbox_accel::DeviceId::CPU,
                ProvingDevice::Accel(id) => id,
            };
            let cases = quotient_cases(program, input)?;
            let interpreter = zkbox_accel::with_backend(kernel_device, InterpreterTimes(&cases))
                .with_context(|| format!("opening {kernel_device}"))??;
            // The proof's instances (unused precompiles' chips are not in it), each with its
            // quotient spans (indexed by position in the proof) and its chip's interpreter
            // timing (indexed by position in CHIP_NAMES); a chip cut into pieces is one row.
            let chips = proof
                .log_trace_heights()
                .into_iter()
                .zip(&mut per_chip)
                .map(|((chip, log_rows), times)| {
                    let index = CHIP_NAMES.iter().position(|&n| n == chip).unwrap_or(0);
                    (
                        (chip, log_rows),
                        times,
                        interpreter.chips[index],
                        &cases[index],
                    )
                })
                .map(
                    |((chip, log_rows), times, (interpreter_ms, trace_bytes), case)| {
                        let rows = 1u64 << log_rows;
                        let median_ms = if times.is_empty() {
                            0.0
                        } else {
                            bench_exec::quantile(times, 0.5)
                        };
                        ChipQuotient {
                            chip: chip.to_owned(),
                            rows,
                            main_columns: case.main.width,
                            lookup_columns: case.permutation.as_ref().map_or(0, |p| p.width),
                            median_ms,
                            ns_per_row: median_ms * 1e6 / rows as f64,
                            interpreter_ms,
                            trace_bytes,
                            read_floor_ms: 2.0 * trace_bytes as f64
                                / interpreter.copy_bytes_per_second
                                * 1e3,
                        }
                    },
                )
                .fold(Vec::<ChipQuotient>::new(), merge_pieces);
            let interpreter_total_ms = chips.iter().map(|c| c.interpreter_ms).sum();
            results.push(QuotientResult {
                workload: name.clone(),
                backend: variant.label(device),
                cycles: proof.cycles(),
                stage_median_seconds: bench_exec::quantile(&mut stage, 0.5),
                chips,
                interpreter_device: kernel_device.to_string(),
                interpreter_total_ms,
                copy_gb_per_s: interpreter.copy_bytes_per_second / 1e9,
            });
        }
    }
    let report = QuotientReport {
        machine: bench_exec::machine(),
        results,
    };
    print!("{}", render_quotient_table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.plot.is_some() {
        eprintln!("bench quotient: --plot is drawn by bench prove (stage shares); see the table");
    }
    Ok(ExitCode::SUCCESS)
}

fn render_quotient_table(report: &QuotientReport) -> String {
    let mut out = String::new();
    for r in &report.results {
        out += &format!(
            "{} on {} ({} cycles): quotient stage {:.3} s (median; chips overlap); \
             interpreter on {}: {:.3} s (chips one by one), copy bandwidth {:.1} GB/s\n\
             {:<16} {:>9} {:>6} {:>6} {:>11} {:>8} | {:>11} {:>10} {:>9}\n",
            r.workload,
            r.backend,
            r.cycles,
            r.stage_median_seconds,
            r.interpreter_device,
            r.interpreter_total_ms / 1e3,
            r.copy_gb_per_s,
            "CHIP",
            "ROWS",
            "MAIN",
            "LOGUP",
            "PLONKY3 ms",
            "ns/row",
            "INTERP ms",
            "READ ms",
            "x READ"
        );
        for c in &r.chips {
            out += &format!(
                "{:<16} {:>9} {:>6} {:>6} {:>11.3} {:>8.1} | {:>11.3} {:>10.3} {:>9.1}\n",
                c.chip,
                c.rows,
                c.main_columns,
                c.lookup_columns,
                c.median_ms,
                c.ns_per_row,
                c.interpreter_ms,
                c.read_floor_ms,
                c.interpreter_ms / c.read_floor_ms.max(1e-9)
            );
        }
    }
    out + &report.machine.footer() + "\n"
}

/// Every chip of `program`'s proof (first segment) at its real trace height, with random
/// inputs, for timing the quotient interpreter.
fn quotient_cases(program: &Program, input: &[u8]) -> anyhow::Result<Vec<QuotientCase>> {
    let table = std::sync::Arc::new(zkbox_prover::chips::ProgramTable::new(program));
    let image = zkbox_prover::memory_image(program);
    let mut witness = None;
    zkbox_executor::Executor::new(program, input.to_vec()).run_traced(
        u64::MAX,
        zkbox_prover::chips::MAX_SEGMENT_CYCLES,
        |segment| {
            if witness.is_none() {
                witness = Some(zkbox_prover::generate(&table, &image, segment));
            }
        },
    )?;
    let witness = witness.context("the run has no segment")??;
    let chips = zkbox_prover::chips_with_lookups(program, &witness)?;
    Ok(chips
        .into_iter()
        .zip(&witness.traces)
        .enumerate()
        .map(|(i, ((chip, lookups), trace))| {
            let log_height = (trace.values.len() / trace.width.max(1)).trailing_zeros() as usize;
            QuotientCase::random(
                CHIP_NAMES[i].to_owned(),
                chip,
                lookups,
                log_height,
                i as u64,
            )
        })
        .collect())
}

/// The interpreter's median time and trace bytes per chip, and the device's copy bandwidth.
struct InterpreterTiming {
    chips: Vec<(f64, u64)>,
    copy_bytes_per_second: f64,
}

/// Times every case's quotient program on the backend it visits.
struct InterpreterTimes<'a>(&'a [QuotientCase]);

impl zkbox_accel::BackendVisitor for InterpreterTimes<'_> {
    type Output = anyhow::Result<InterpreterTiming>;

    fn visit<B: zkbox_accel::Backend + 'static>(self, backend: std::sync::Arc<B>) -> Self::Output {
        let mut chips = Vec::with_capacity(self.0.len());
        let mut widest: Option<(u64, f64)> = None;
        for case in self.0 {
            let uploaded = case.upload(&*backend, zkbox_accel::RowOrder::BitReversed)?;
            // One warm-up run (kernel compilation, first-touch allocation), then timed runs.
            case.evaluate(&*backend, &uploaded)?;
            backend.synchronize()?;
            let mut times = Vec::with_capacity(REPEATS);
            for _ in 0..REPEATS {
                let start = Instant::now();
                let values = case.evaluate(&*backend, &uploaded)?;
                backend.synchronize()?;
                times.push(start.elapsed().as_secs_f64() * 1e3);
                drop(values);
            }
            chips.push((
                bench_exec::quantile(&mut times, 0.5),
                uploaded.trace_bytes(),
            ));
            // Copy bandwidth, measured on the largest main trace.
            let bytes = uploaded.main().size_bytes();
            if widest.is_none_or(|(b, _)| bytes > b) {
                let mut copy = backend.upload(
                    &vec![
                        zkbox_prover::config::Val::new(1);
                        uploaded.main().width() * uploaded.main().height()
                    ],
                    uploaded.main().width(),
                )?;
                let mut times = Vec::with_capacity(REPEATS);
                for _ in 0..REPEATS {
                    let start = Instant::now();
                    backend.copy_into(uploaded.main(), &mut copy)?;
                    backend.synchronize()?;
                    times.push(start.elapsed().as_secs_f64());
                }
                let seconds = bench_exec::quantile(&mut times, 0.5);
                widest = Some((bytes, 2.0 * bytes as f64 / seconds.max(1e-12)));
            }
        }
        Ok(InterpreterTiming {
            chips,
            copy_bytes_per_second: widest.map_or(f64::INFINITY, |w| w.1),
        })
    }
}

/// Resets the kernel's peak-RSS mark for this process (Linux `clear_refs` 5).
fn reset_peak_rss() {
    // Best effort: where it fails the reported peak covers earlier workloads too.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn render_table(report: &ProveReport) -> String {
    // Wide enough for the longest backend label (`opencl:0 (accel) compute-always`).
    let backend_width = report
        .results
        .iter()
        .map(|r| r.backend.len())
        .max()
        .unwrap_or(0)
        .max(16);
    let mut out = format!(
        "{:<22} {:<backend_width$} {:>9} {:>8} {:>8} {:>10} | {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>9} {:>8} {:>9}\n",
        "WORKLOAD",
        "BACKEND",
        "CYCLES",
        "MED s",
        "P95 s",
        "CYCLES/s",
        "execute",
        "witness",
        "lde",
        "merkle",
        "logup",
        "quotient",
        "open",
        "fri",
        "other",
        "PROOF",
        "VERIFY",
        "PEAK RSS"
    );
    for r in &report.results {
        out += &format!(
            "{:<22} {:<backend_width$} {:>9} {:>8.2} {:>8.2} {:>9.0}k |",
            r.workload,
            r.backend,
            r.cycles,
            r.median_seconds,
            r.p95_seconds,
            r.cycles_per_second / 1e3
        );
        for (_, seconds) in r.stages.named() {
            out += &format!(" {seconds:>7.2}");
        }
        out += &format!(
            " | {:>9} {:>6.0}ms {:>9}\n",
            crate::devices::format_bytes(r.proof_bytes),
            r.verify_median_ms,
            crate::devices::format_bytes(r.peak_rss_bytes)
        );
    }
    out += &format!(
        "stage columns: seconds of the median proof | {}\n",
        report.machine.footer()
    );
    out
}

/// A horizontal bar per workload, split into its stages' shares of the median proof.
fn render_svg(report: &ProveReport) -> String {
    const COLOURS: [&str; 9] = [
        "#7f7f7f", "#bcbd22", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#ff7f0e",
        "#c7c7c7",
    ];
    const LABEL_WIDTH: f64 = 190.0;
    const BAR_WIDTH: f64 = 600.0;
    const ROW: f64 = 28.0;
    let height = 70.0 + ROW * report.results.len() as f64 + 40.0;
    let width = LABEL_WIDTH + BAR_WIDTH + 150.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"10\" y=\"22\" font-size=\"15\">zkbox bench prove: share of each stage \
         (median proof) | {} | {}</text>\n",
        xml_escape(&report.machine.cpu),
        report.machine.date
    );
    for (row, r) in report.results.iter().enumerate() {
        let y = 45.0 + ROW * row as f64;
        svg += &format!(
            "<text x=\"10\" y=\"{:.1}\">{} · {}</text>\n",
            y + 15.0,
            xml_escape(&r.workload),
            xml_escape(&r.backend)
        );
        let mut x = LABEL_WIDTH;
        for (i, (name, seconds)) in r.stages.named().iter().enumerate() {
            let w = if r.stages.total > 0.0 {
                BAR_WIDTH * seconds / r.stages.total
            } else {
                0.0
            };
            svg += &format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"20\" fill=\"{}\">\
                 <title>{name}: {seconds:.3} s</title></rect>\n",
                COLOURS[i]
            );
            x += w;
        }
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{:.2} s, {:.0}k cycles/s</text>\n",
            LABEL_WIDTH + BAR_WIDTH + 8.0,
            y + 15.0,
            r.stages.total,
            r.cycles_per_second / 1e3
        );
    }
    let legend_y = 55.0 + ROW * report.results.len() as f64;
    for (i, (name, _)) in StageSeconds::default().named().iter().enumerate() {
        let x = LABEL_WIDTH + 85.0 * i as f64;
        svg += &format!(
            "<rect x=\"{x:.1}\" y=\"{legend_y:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            COLOURS[i],
            x + 16.0,
            legend_y + 11.0
        );
    }
    svg + "</svg>\n"
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Folds the next instance's row into `chips`: a piece of the chip before it (a trace cut
/// into several instances) adds its rows and its quotient time to that chip's row, whose
/// interpreter figures already cover the whole trace.
fn merge_pieces(mut chips: Vec<ChipQuotient>, next: ChipQuotient) -> Vec<ChipQuotient> {
    match chips.last_mut() {
        Some(last) if last.chip == next.chip => {
            last.rows += next.rows;
            last.median_ms += next.median_ms;
            last.ns_per_row = last.median_ms * 1e6 / last.rows as f64;
        }
        _ => chips.push(next),
    }
    chips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_stage_and_workload() {
        let stages = StageSeconds {
            execute: 0.1,
            witness: 0.2,
            lde: 0.3,
            merkle: 0.4,
            logup: 0.1,
            quotient: 0.5,
            open: 0.2,
            fri: 0.1,
            other: 0.1,
            total: 2.0,
        };
        let result = |name: &str| ProveResult {
            workload: name.to_owned(),
            cycles: 1 << 16,
            backend: "cpu".to_owned(),
            runs: 3,
            median_seconds: 2.0,
            p95_seconds: 2.5,
            cycles_per_second: 32_768.0,
            stages: stages.clone(),
            proof_bytes: 1 << 20,
            verify_median_ms: 80.0,
            verify_p95_ms: 90.0,
            peak_rss_bytes: 1 << 30,
        };
        let report = ProveReport {
            machine: bench_exec::machine(),
            results: vec![result("a<b"), result("c")],
        };
        let svg = render_svg(&report);
        assert_eq!(svg.matches("<rect").count(), 2 * 9 + 9);
        assert!(svg.contains("a&lt;b") && svg.ends_with("</svg>\n"));
        let table = render_table(&report);
        assert_eq!(table.lines().count(), 4);
        assert!(table.contains("33k"), "{table}");
    }
}
