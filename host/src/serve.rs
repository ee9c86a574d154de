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
const NOT_BUILT_YET: &[(&str, &str)] = &[
    ("json-rpc", "json_rpc.listen (sequencer issue)"),
    ("grpc", "grpc.listen (host gRPC issue)"),
];

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
    for (name, key) in NOT_BUILT_YET {
        tracing::warn!("{name}: not built yet ({key})");
    }
    stdout.flush()?;
    drop(stdout);

    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down");
        }
        Some(ended) = servers.join_next() => {
            // A server ended on its own: that is a failure of the appliance.
            ended.context("a server task panicked")??;
            anyhow::bail!("a server stopped unexpectedly");
        }
    }
    let _ = stop_tx.send(true);
    while let Some(ended) = servers.join_next().await {
        ended.context("a server task panicked")??;
    }
    Ok(())
}

/// Resolves with the name of the first termination signal received.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
