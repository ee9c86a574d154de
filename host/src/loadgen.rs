//! `zkbox loadgen`: drives any Ethereum JSON-RPC endpoint with pre-signed transfers and
//! reports throughput and latency (see `zkbox_sequencer::loadgen`).

use std::time::Duration;

use anyhow::Context;
use zkbox_sequencer::loadgen::{Kind, LoadOptions};

use crate::cli::{LoadKind, LoadgenArgs};

/// Runs the load described by `args`, prints the table, and writes JSON if asked.
pub fn run(args: &LoadgenArgs) -> anyhow::Result<()> {
    let mut opts = LoadOptions::new(args.rpc.clone());
    opts.kind = match args.kind {
        LoadKind::Eth => Kind::Eth,
        LoadKind::Erc20 => Kind::Erc20,
    };
    opts.tps = args.tps;
    opts.duration = Duration::from_secs(args.duration);
    opts.senders = args.senders;
    opts.concurrency = args.concurrency;
    opts.batch = args.batch;
    opts.max_transactions = args.max_transactions;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime
        .block_on(zkbox_sequencer::loadgen::run(&opts))
        .map_err(|e| anyhow::anyhow!("loadgen: {e}"))?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
