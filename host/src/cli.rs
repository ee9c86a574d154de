//! The `zkbox` command line, exactly as ARCHITECTURE.md's "CLI surface" lists it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::LogFormat;

/// Exit status of a subcommand whose issue has not landed yet.
pub const EXIT_NOT_BUILT: i32 = 2;

/// zkbox: a hardware-accelerated RISC-V proving appliance.
#[derive(Debug, Parser)]
#[command(name = "zkbox", version = crate::VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// Configuration file (TOML); see docs/configuration.md.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on standard error [config: log.format].
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `debug` or `info,zkbox_accel=trace` [config: log.level].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List compute backends: cpu, opencl:N, cuda:N, vulkan:N.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark kernels, execution or proving on chosen backends.
    Bench(BenchArgs),
    /// Execute a guest ELF; prints "cycles: N" and "output: <hex>".
    Run(RunArgs),
    /// Prove a guest's execution.
    Prove(ProveArgs),
    /// Verify a proof; exit 0 iff valid.
    Verify(VerifyArgs),
    /// Run the appliance: sequencer, proving workers, gRPC and metrics.
    Serve(ServeArgs),
    /// Drive a JSON-RPC endpoint with pre-signed transfers.
    Loadgen(LoadgenArgs),
    /// Drive the gRPC API as a tenant.
    Client(ClientArgs),
}

/// What `zkbox bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTarget {
    /// Batched forward NTT.
    Ntt,
    /// Coset low-degree extension.
    Lde,
    /// Poseidon2 Merkle tree.
    Merkle,
    /// Constraint/quotient evaluation.
    Quotient,
    /// RV32IM execution.
    Exec,
    /// Native and guest EVM execution.
    Evm,
    /// End-to-end proving.
    Prove,
    /// Everything above.
    All,
}

/// `zkbox bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    pub target: BenchTarget,
    /// Backends to compare, comma-separated (e.g. cpu,opencl:0).
    #[arg(long, value_delimiter = ',', value_name = "B")]
    pub backend: Vec<String>,
    /// Range of log2 sizes, e.g. 10..24.
    #[arg(long, value_name = "A..B")]
    pub log_n: Option<String>,
    /// Number of matrix columns.
    #[arg(long, value_name = "N")]
    pub cols: Option<usize>,
    /// Write results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw an SVG plot to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// `bench prove` and `bench quotient`: also prove the EVM guest on a block of N ERC-20
    /// transfers (needs `make guests`; at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub evm_transfers: Option<u16>,
    /// `bench prove`: also prove every workload with Plonky3's own `prove_batch` loop, the
    /// reference zkbox's prover loop is measured against, as rows of their own (the two
    /// proofs must be the same bytes).
    #[arg(long)]
    pub reference_loop: bool,
    /// `bench prove`: where device proofs evaluate the chips' quotients, the opening's
    /// passes and FRI's folds, comma-separated to compare placements as rows of their own (auto, always,
    /// never; default auto); every row's proof must be the same bytes. `bench quotient`
    /// uses the first.
    #[arg(
        long,
        alias = "device-quotient",
        value_delimiter = ',',
        value_name = "WHERE"
    )]
    pub device_compute: Vec<zkbox_prover::DeviceCompute>,
}

/// `zkbox run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The guest program (static RV32IM ELF).
    pub elf: PathBuf,
    /// Private input bytes.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Stop with an error after N cycles [config: executor.max_cycles].
    #[arg(long, value_name = "N")]
    pub max_cycles: Option<u64>,
    /// Also write the raw public output to FILE.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `zkbox prove` arguments.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The guest program (static RV32IM ELF).
    pub elf: PathBuf,
    /// Private input bytes.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Device to prove on (cpu, opencl:N, cuda:N, vulkan:N).
    #[arg(long, value_name = "B", default_value = "cpu")]
    pub backend: String,
    /// Where to write the proof.
    #[arg(short = 'o', long = "output", value_name = "PROOF")]
    pub output: PathBuf,
    /// Stop the guest after this many cycles [config: executor.max_cycles].
    #[arg(long, value_name = "N")]
    pub max_cycles: Option<u64>,
    /// Prove a longer run as segments of at most this many cycles (1 to 16777216; a
    /// 2^22-cycle segment needs about 10 GiB on the CPU path); smaller when that would not
    /// fit the memory there is [config: executor.segment_cycles].
    #[arg(long, value_name = "N")]
    pub segment_cycles: Option<u64>,
    /// Host memory the proof may use, in MiB (default: what the machine has available).
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// Where a device proof evaluates the chips' quotients, the opening's passes and FRI's
    /// folds: auto (on the device unless it is accel's CPU backend), always, or never (on
    /// the host). The proof is the same.
    #[arg(
        long,
        alias = "device-quotient",
        value_name = "WHERE",
        default_value = "auto"
    )]
    pub device_compute: zkbox_prover::DeviceCompute,
}

/// `zkbox verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The proof file.
    pub proof: PathBuf,
    /// Check that the proof is for this program.
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
}

/// `zkbox serve` arguments (`--config` is global).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory for state, logs and the job store [config: data_dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Transaction mix for `zkbox loadgen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadKind {
    /// Plain ETH transfers.
    Eth,
    /// ERC-20 `transfer` calls.
    Erc20,
}

/// `zkbox loadgen` arguments.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// JSON-RPC endpoint to drive.
    #[arg(long, value_name = "URL")]
    pub rpc: String,
    /// Transaction mix.
    #[arg(long, value_enum, default_value = "eth")]
    pub kind: LoadKind,
    /// Target rate in transactions per second (flat out when absent).
    #[arg(long, value_name = "N")]
    pub tps: Option<u64>,
    /// How long to run, in seconds.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub duration: u64,
    /// Write results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Distinct sending accounts (funded from the first development account).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub senders: usize,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub concurrency: usize,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub batch: usize,
    /// Transactions pre-signed for a flat-out run.
    #[arg(long, value_name = "N", default_value_t = 400_000)]
    pub max_transactions: usize,
}

/// `zkbox client` arguments: everything after `client` goes to the tenant client.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Tenant client arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}
