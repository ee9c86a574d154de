//! `zkbox serve`: the appliance process.
//!
//! It starts every service that exists and prints one line per endpoint on standard output,
//! `<name>: <url>`, so scripts and operators can find them. Services whose issues have not
//! landed yet are named on standard error as not built; nothing pretends to run.

use std::io::Write as _;

use anyhow::Context;

use crate::config::Config;
use crate::telemetry;

/// Services the appliance will run once their issues land, with the config key of each.
const NOT_BUILT_YET: &[(&str, &str)] = &[("grpc", "grpc.listen (host gRPC issue)")];

/// The sequencer's settings from the appliance configuration; its logs live in
/// `<data_dir>/sequencer`.
pub fn sequencer_config(config: &Config) -> zkbox_sequencer::SequencerConfig {
    use std::time::Duration;
    let s = &config.sequencer;
    let mut seq = zkbox_sequencer::SequencerConfig::dev(config.data_dir.join("sequencer"))
        .with_dev_accounts(&s.dev_mnemonic, s.dev_accounts, s.dev_balance_eth);
    seq.chain_id = s.chain_id;
    seq.block_interval = Duration::from_millis(s.block_interval_ms);
    seq.block_gas_limit = s.block_gas_limit;
    seq.max_block_transactions = s.max_block_transactions;
    seq.base_fee = s.base_fee_wei;
    seq.pool.max_transactions = s.max_pool_transactions;
    seq.pool.max_per_sender = s.max_per_sender;
    seq.pool.price_bump_percent = s.price_bump_percent;
    seq.pool.max_tx_bytes = s.max_tx_bytes;
    seq.batch_max_blocks = s.batch_max_blocks;
    seq.batch_max_age = Duration::from_millis(s.batch_max_age_ms);
    seq.backpressure_slow = s.backpressure_slow_batches;
    seq.backpressure_stop = s.backpressure_stop_batches;
    seq.recovery_threads = s.recovery_threads;
    seq.allow_unprotected_txs = s.allow_unprotected_txs;
    seq
}

/// Runs the appliance until SIGINT or SIGTERM.
pub fn run(config: &Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("zkbox")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    // Handlers go in before any endpoint is announced: a SIGTERM sent the moment a supervisor
    // reads our endpoints must stop us cleanly, not kill us with the default action.
    let mut signals = ShutdownSignals::install()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let mut stdout = std::io::stdout().lock();

    if config.metrics.enabled {
        let handle = telemetry::install_metrics()?;
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        let (bound, server) =
            telemetry::bind_metrics_server(config.metrics.listen, handle, shutdown).await?;
        writeln!(stdout, "metrics: http://{bound}/metrics")?;
        tracing::info!(%bound, "metrics endpoint listening");
        servers.spawn(async move { server.await.context("metrics server failed") });
    }
    let (sequencer, recovered) = zkbox_sequencer::Sequencer::start(sequencer_config(config), None)
        .map_err(|e| anyhow::anyhow!("sequencer: {e}"))?;
    tracing::info!(
        blocks = recovered.blocks,
        requeued = recovered.requeued,
        "sequencer started"
    );
    let rpc = zkbox_sequencer::RpcConfig {
        listen: config.json_rpc.listen,
        max_request_bytes: config.sequencer.max_request_bytes,
        max_batch: config.sequencer.max_batch_requests,
        max_connections: config.sequencer.max_connections,
        ..Default::default()
    };
    let (bound, rpc_handle) = zkbox_sequencer::serve(sequencer.clone(), rpc)
        .await
        .with_context(|| format!("cannot serve JSON-RPC on {}", config.json_rpc.listen))?;
    writeln!(stdout, "json-rpc: http://{bound}")?;
    tracing::info!(%bound, "json-rpc endpoint listening");
    {
        let rpc_handle = rpc_handle.clone();
        servers.spawn(async move {
            rpc_handle.stopped().await;
            Ok(())
        });
    }
    for (name, key) in NOT_BUILT_YET {
        tracing::warn!("{name}: not built yet ({key})");
    }
    stdout.flush()?;
    drop(stdout);

    tokio::select! {
        signal = signals.next() => {
            tracing::info!(signal, "shutting down");
        }
        Some(ended) = servers.join_next() => {
            // A server ended on its own: that is a failure of the appliance.
            ended.context("a server task panicked")??;
            anyhow::bail!("a server stopped unexpectedly");
        }
    }
    let _ = stop_tx.send(true);
    let _ = rpc_handle.stop();
    sequencer.stop();
    while let Some(ended) = servers.join_next().await {
        ended.context("a server task panicked")??;
    }
    Ok(())
}

/// The termination signals the appliance stops on, registered with the runtime.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Registers SIGINT and SIGTERM handlers; from here on neither kills the process outright.
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Resolves with the name of the first termination signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
