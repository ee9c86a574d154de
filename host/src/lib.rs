//! The zkbox appliance runtime and its `zkbox` command-line tool.
//!
//! **Owns**: the `zkbox` binary (`src/main.rs`), configuration, logging and metrics setup,
//! and — as their issues land — the job store (SQLite/PostgreSQL), the scheduler, the gRPC
//! API (`host/proto/`), authentication and metering.
//!
//! **May depend on** every other crate; nothing depends on it. It is the one place that
//! knows about jobs, tenants and processes.

pub mod bench;
pub mod bench_evm;
pub mod bench_exec;
pub mod bench_prove;
pub mod cli;
pub mod config;
pub mod devices;
pub mod loadgen;
pub mod prove;
pub mod run;
pub mod serve;
pub mod stage_clock;
pub mod telemetry;

/// `zkbox --version`: the crate version and the git commit the binary was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_GIT_COMMIT"),
    ")"
);
