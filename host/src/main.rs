//! `zkbox`: the appliance's command-line entry point. See `zkbox --help`.
//!
//! Exit status: 0 success; 1 a runtime error; 2 a usage error or a subcommand that is not
//! built yet; 78 an unusable configuration (sysexits' EX_CONFIG). `zkbox run` exits with
//! the guest's own exit code, 101 when execution fails, 65 for a file that is not a guest
//! and 66 for a file that cannot be read (see `zkbox_host::run`).

use std::process::ExitCode;

use clap::Parser;
use zkbox_host::cli::{BenchTarget, Cli, Command, EXIT_NOT_BUILT};
use zkbox_host::config::{Config, ConfigLoader};
use zkbox_host::{bench_exec, devices, loadgen, prove, run, serve, telemetry};

/// jemalloc instead of glibc's malloc: the sequencer allocates and frees per transaction on
/// several threads, where glibc's arenas cost about a tenth of its CPU. Of glibc, mimalloc
/// and jemalloc, jemalloc gave the highest sustained rate (docs/benchmarks.md, sequencer).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts (`_RJEM_MALLOC_CONF` in the environment
/// overrides them). A proof allocates and frees gigabytes of LDE, Merkle and LogUp buffers
/// within seconds; with jemalloc's defaults (pages purged on the allocating threads over a
/// 10 s decay) every buffer faulted in fresh pages again, which cost 5-14% of proving time
/// on the 2-core VM (docs/benchmarks.md, proving, fifteenth session). Here a background
/// thread purges, and only pages unused for a minute, so a proof reuses the pages of the
/// one before while an idle appliance still hands its memory back.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: JemallocOptions =
    JemallocOptions(c"background_thread:true,dirty_decay_ms:60000,muzzy_decay_ms:0".as_ptr());

/// A C string pointer jemalloc reads at start-up (the `malloc_conf` symbol's type).
#[repr(transparent)]
struct JemallocOptions(*const std::ffi::c_char);

// SAFETY: the pointer is to a `'static` C string literal, never written.
unsafe impl Sync for JemallocOptions {}

/// Exit status for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("zkbox: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(err) = telemetry::init_logging(&config.log) {
        eprintln!("zkbox: {err:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match dispatch(&cli.command, &config) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("zkbox: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Defaults, then `--config`, then `ZKBOX_*` variables, then flags.
fn load_config(cli: &Cli) -> Result<Config, zkbox_host::config::ConfigError> {
    let mut loader = ConfigLoader::new();
    if let Some(path) = &cli.config {
        loader = loader.file(path)?;
    }
    loader = loader.env(std::env::vars());
    if let Some(format) = cli.log_format {
        let value = toml::Value::try_from(format).expect("log format serialises");
        loader = loader.flag("log.format", value, "--log-format");
    }
    if let Some(level) = &cli.log_level {
        loader = loader.flag("log.level", level.clone().into(), "--log-level");
    }
    match &cli.command {
        Command::Serve(args) => {
            if let Some(dir) = &args.data_dir {
                loader = loader.flag("data_dir", dir.display().to_string().into(), "--data-dir");
            }
        }
        Command::Prove(args) => {
            if let Some(n) = args.max_cycles {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                loader = loader.flag("executor.max_cycles", n.into(), "--max-cycles");
            }
        }
        Command::Run(args) => {
            if let Some(n) = args.max_cycles {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                loader = loader.flag("executor.max_cycles", n.into(), "--max-cycles");
            }
        }
        _ => {}
    }
    loader.load()
}

fn dispatch(command: &Command, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Devices { json } => {
            let found = zkbox_accel::discover();
            let text = if *json {
                devices::render_json(&found)
            } else {
                devices::render_table(&found)
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(_) => serve::run(config).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) if args.target == BenchTarget::Exec => bench_exec::run(args),
        Command::Bench(args) => zkbox_host::bench::run(args),
        Command::Run(args) => run::run(args, config.executor.max_cycles),
        Command::Prove(args) => prove::prove(args, &config.executor),
        Command::Verify(args) => prove::verify_command(args),
        Command::Loadgen(args) => loadgen::run(args).map(|()| ExitCode::SUCCESS),
        Command::Client(_) => Ok(not_built("client", "the host gRPC issue")),
    }
}

/// Says that a subcommand has not landed yet and returns exit status 2.
fn not_built(name: &str, issue: &str) -> ExitCode {
    eprintln!("zkbox {name}: not built yet (arrives with {issue})");
    ExitCode::from(EXIT_NOT_BUILT as u8)
}
