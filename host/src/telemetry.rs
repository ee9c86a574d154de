//! Logs and metrics, set up once per process.
//!
//! Logs go to standard error through `tracing` (human or JSON lines), leaving standard output
//! to the commands' own results. Metrics go through the `metrics` facade into one Prometheus
//! registry, served as text at `/metrics`. Conventions for every crate: metric names start
//! with `zkbox_`, are in base units (`_seconds`, `_bytes`), and counters end in `_total`.

use std::net::SocketAddr;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};

/// Installs the global `tracing` subscriber. `RUST_LOG`, when set, overrides the configured
/// level, as Rust developers expect.
pub fn init_logging(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG={directives:?} is not a tracing filter"))?,
        _ => EnvFilter::try_new(&config.level)
            .with_context(|| format!("log.level {:?} is not a tracing filter", config.level))?,
    };
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = match config.format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    // The stage clock sees the prover's spans at every level, but only while a benchmark
    // has armed it; the log output keeps its own filter.
    let stages = crate::stage_clock::StageLayer.with_filter(filter_fn(|meta| {
        meta.is_span() && crate::stage_clock::armed()
    }));
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(stages)
        .try_init()
        .map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))
}

/// Installs the process-wide Prometheus recorder and describes the host's own metrics.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the Prometheus metrics recorder")?;
    metrics::describe_gauge!(
        "zkbox_build_info",
        "Always 1; labels carry the version and commit."
    );
    metrics::gauge!(
        "zkbox_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => env!("BUILD_GIT_COMMIT"),
    )
    .set(1.0);
    metrics::describe_gauge!(
        "zkbox_start_time_seconds",
        metrics::Unit::Seconds,
        "Unix time at which the process started."
    );
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!("zkbox_start_time_seconds").set(started);
    Ok(handle)
}

/// Binds the metrics endpoint; returns the bound address (useful when the port was 0) and
/// the server future, which serves `/metrics` and `/healthz` until `shutdown` resolves.
pub async fn bind_metrics_server(
    listen: SocketAddr,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for metrics on {listen}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/healthz", get(|| std::future::ready("ok\n")));
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .into_future();
    Ok((bound, server))
}
