//! The appliance's configuration: one TOML format, embedded defaults, `ZKBOX_*` environment
//! overrides and command-line flags, validated before anything starts.
//!
//! Precedence, lowest first: the defaults below, the file given with `--config`, environment
//! variables, flags. An environment variable names a key by its path in upper case with `__`
//! between tables: `ZKBOX_METRICS__LISTEN=127.0.0.1:9200` sets `[metrics] listen`, and
//! `ZKBOX_DATA_DIR=/var/lib/zkbox` sets the top-level `data_dir`. Its value is read as a TOML
//! value when it parses as one (`1000`, `true`, `"text"`) and as a plain string otherwise.
//!
//! Every default is documented in `docs/configuration.md`; a test keeps the two in step.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "ZKBOX_";

/// The whole configuration of one appliance process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the job store, the sequencer's logs and state, and cached kernels.
    pub data_dir: PathBuf,
    /// Log output.
    pub log: LogConfig,
    /// The Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// The sequencer's Ethereum JSON-RPC endpoint.
    pub json_rpc: EndpointConfig,
    /// The gRPC API through which tenants lease proving capacity.
    pub grpc: EndpointConfig,
    /// Limits for running guest programs.
    pub executor: ExecutorConfig,
    /// The co-located sequencer: chain, blocks, mempool, batches, JSON-RPC limits.
    pub sequencer: SequencerSection,
}

/// How log lines are written (always to standard error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` for terminals, `json` for log collectors (one object per line).
    pub format: LogFormat,
    /// A `tracing` filter: a level (`info`) or per-target directives (`info,zkbox_accel=debug`).
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Coloured, aligned text for a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

/// The metrics endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` (Prometheus text format) at all.
    pub enabled: bool,
    /// Address to listen on; port 0 picks a free port (the chosen one is printed).
    pub listen: SocketAddr,
}

/// A network endpoint of the appliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Address to listen on; port 0 picks a free port (the chosen one is printed).
    pub listen: SocketAddr,
}

/// Limits for guest execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorConfig {
    /// A run that has not exited after this many cycles ends with an error.
    pub max_cycles: u64,
    /// Cycles per segment when a run is cut for proving; a power of two.
    pub segment_cycles: u64,
}

/// The sequencer (`[sequencer]`); its endpoint is `[json_rpc] listen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequencerSection {
    /// Chain id transactions must be signed for.
    pub chain_id: u64,
    /// How many accounts of `dev_mnemonic` genesis funds (0: none).
    pub dev_accounts: u32,
    /// The mnemonic whose accounts genesis funds (anvil's and hardhat's by default).
    pub dev_mnemonic: String,
    /// ETH given to each development account at genesis.
    pub dev_balance_eth: u64,
    /// Milliseconds between blocks; 50 at least.
    pub block_interval_ms: u64,
    /// Block gas limit; a block is sealed early once this much gas waits.
    pub block_gas_limit: u64,
    /// Most transactions in one block.
    pub max_block_transactions: usize,
    /// The base fee, in wei (constant).
    pub base_fee_wei: u64,
    /// Most transactions in the mempool.
    pub max_pool_transactions: usize,
    /// Most pooled transactions per sender (and how far ahead of its nonce one may be).
    pub max_per_sender: usize,
    /// Percent by which a replacement must raise both fees.
    pub price_bump_percent: u64,
    /// Largest transaction accepted, in bytes.
    pub max_tx_bytes: usize,
    /// Blocks per proving batch.
    pub batch_max_blocks: usize,
    /// A batch closes once its first block is this many milliseconds old.
    pub batch_max_age_ms: u64,
    /// With this many batches awaiting proofs, blocks are sealed 4x less often.
    pub backpressure_slow_batches: usize,
    /// With this many batches awaiting proofs, sealing stops.
    pub backpressure_stop_batches: usize,
    /// Sender-recovery threads; 0: half the cores, at least one.
    pub recovery_threads: usize,
    /// Accept legacy transactions signed without a chain id (pre-EIP-155).
    pub allow_unprotected_txs: bool,
    /// Largest JSON-RPC request body, in bytes.
    pub max_request_bytes: u32,
    /// Most calls in one JSON-RPC batch request.
    pub max_batch_requests: u32,
    /// Most open JSON-RPC connections.
    pub max_connections: u32,
}

impl Default for SequencerSection {
    fn default() -> Self {
        SequencerSection {
            chain_id: 31337,
            dev_accounts: 10,
            dev_mnemonic: "test test test test test test test test test test test junk".to_owned(),
            dev_balance_eth: 10_000,
            block_interval_ms: 250,
            block_gas_limit: 1_000_000_000,
            max_block_transactions: 20_000,
            base_fee_wei: 1_000_000_000,
            max_pool_transactions: 200_000,
            max_per_sender: 1024,
            price_bump_percent: 10,
            max_tx_bytes: 131_072,
            batch_max_blocks: 16,
            batch_max_age_ms: 4000,
            backpressure_slow_batches: 4,
            backpressure_stop_batches: 8,
            recovery_threads: 0,
            allow_unprotected_txs: false,
            max_request_bytes: 10_485_760,
            max_batch_requests: 1000,
            max_connections: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            json_rpc: EndpointConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            },
            grpc: EndpointConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            },
            executor: ExecutorConfig::default(),
            sequencer: SequencerSection::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9102)),
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_cycles: 1 << 32,
            segment_cycles: 1 << 22,
        }
    }
}

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in defaults"),
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A configuration that cannot be used, naming the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key that the configuration does not have.
    #[error("unknown configuration key `{key}` in {origin}")]
    UnknownKey {
        /// Dotted path of the key.
        key: String,
        /// Where it was set.
        origin: Origin,
    },
    /// A key whose value has the wrong type or is out of range.
    #[error("bad value for `{key}` in {origin}: {message}")]
    BadValue {
        /// Dotted path of the key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What is wrong with it.
        message: String,
    },
}

/// Builds a [`Config`] from its layers, remembering where each key was set.
#[derive(Debug, Default)]
pub struct ConfigLoader {
    table: toml::Table,
    origins: BTreeMap<String, Origin>,
}

impl ConfigLoader {
    /// Starts from the built-in defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Layers a TOML file on top.
    pub fn file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: err.to_string().trim().to_owned(),
                })?;
        let origin = Origin::File(path.to_owned());
        for (key, value) in table {
            self.set(vec![key], value, origin.clone());
        }
        Ok(self)
    }

    /// Layers `ZKBOX_*` variables on top. Variables that configure something other than the
    /// file format ([`NON_CONFIG_ENV`]) are skipped.
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if rest.is_empty() || NON_CONFIG_ENV.contains(&name.as_str()) {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            self.set(path, parse_env_value(&raw), Origin::Env(name));
        }
        self
    }

    /// Sets one key from a command-line flag.
    pub fn flag(mut self, key: &str, value: toml::Value, flag: &str) -> Self {
        let path = key.split('.').map(str::to_owned).collect();
        self.set(path, value, Origin::Flag(flag.to_owned()));
        self
    }

    /// Sets `path` to `value`. Tables merge key by key, so that a file's `[metrics]` table
    /// and a `ZKBOX_METRICS__LISTEN` variable both apply.
    fn set(&mut self, path: Vec<String>, value: toml::Value, origin: Origin) {
        if let toml::Value::Table(incoming) = value {
            self.table_at(&path);
            self.origins.insert(path.join("."), origin.clone());
            for (key, value) in incoming {
                let mut child = path.clone();
                child.push(key);
                self.set(child, value, origin.clone());
            }
            return;
        }
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        self.table_at(parents).insert(last.clone(), value);
        self.origins.insert(path.join("."), origin);
    }

    /// The table at `path`, created (or replacing a non-table value) where missing.
    fn table_at(&mut self, path: &[String]) -> &mut toml::Table {
        let mut table = &mut self.table;
        for part in path {
            let entry = table
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            table = entry.as_table_mut().expect("made a table above");
        }
        table
    }

    /// Deserialises and validates the layered configuration.
    pub fn load(self) -> Result<Config, ConfigError> {
        let origin_of = |key: &str| -> Origin {
            // The most specific key with a recorded origin: `metrics.listen`, then `metrics`.
            let mut probe = key;
            loop {
                if let Some(origin) = self.origins.get(probe) {
                    return origin.clone();
                }
                match probe.rsplit_once('.') {
                    Some((parent, _)) => probe = parent,
                    None => break,
                }
            }
            // A table made only to hold a deeper key (`ZKBOX_METRIC__LISTEN` makes `metric`).
            let nested = format!("{key}.");
            self.origins
                .iter()
                .find(|(k, _)| k.starts_with(&nested))
                .map_or(Origin::Default, |(_, origin)| origin.clone())
        };
        let value = toml::Value::Table(self.table.clone());
        let mut unknown = Vec::new();
        collect_unknown(&value, &default_shape(), "", &mut unknown);
        if let Some(key) = unknown.into_iter().next() {
            return Err(ConfigError::UnknownKey {
                origin: origin_of(&key),
                key,
            });
        }
        let config: Config = serde_path_to_error::deserialize(value).map_err(
            |err: serde_path_to_error::Error<toml::de::Error>| {
                let key = err.path().to_string();
                ConfigError::BadValue {
                    origin: origin_of(&key),
                    message: err.into_inner().message().trim().to_owned(),
                    key,
                }
            },
        )?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::BadValue {
                origin: origin_of(key),
                key: key.to_owned(),
                message,
            })?;
        Ok(config)
    }
}

/// `ZKBOX_*` variables that are not configuration keys.
pub const NON_CONFIG_ENV: &[&str] = &["ZKBOX_BUILD_COMMIT", "ZKBOX_GUESTS", "ZKBOX_SKIP_OPENCL"];

/// Reads an environment value as TOML when it is one, as a string otherwise.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// The defaults as a TOML table: the shape every accepted file must fit.
fn default_shape() -> toml::Value {
    toml::Value::try_from(Config::default()).expect("the defaults serialise to TOML")
}

/// Appends the dotted path of every key in `value` that `shape` does not have.
fn collect_unknown(value: &toml::Value, shape: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    let (toml::Value::Table(table), toml::Value::Table(shape)) = (value, shape) else {
        return;
    };
    for (key, child) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match shape.get(key) {
            Some(child_shape) => collect_unknown(child, child_shape, &path, out),
            None => out.push(path),
        }
    }
}

impl Config {
    /// Checks what types alone cannot; returns the offending key and why.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(("data_dir", "must not be empty".to_owned()));
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(("log.level", format!("not a tracing filter: {err}")));
        }
        if self.executor.max_cycles == 0 {
            return Err(("executor.max_cycles", "must be at least 1".to_owned()));
        }
        let seg = self.executor.segment_cycles;
        if !seg.is_power_of_two() || !(1 << 10..=1 << 24).contains(&seg) {
            return Err((
                "executor.segment_cycles",
                format!("{seg} is not a power of two between 2^10 and 2^24"),
            ));
        }
        let seq = &self.sequencer;
        if seq.block_interval_ms < 50 {
            return Err((
                "sequencer.block_interval_ms",
                format!("{} is below the minimum of 50", seq.block_interval_ms),
            ));
        }
        for (key, value) in [
            ("sequencer.block_gas_limit", seq.block_gas_limit),
            (
                "sequencer.max_block_transactions",
                seq.max_block_transactions as u64,
            ),
            (
                "sequencer.max_pool_transactions",
                seq.max_pool_transactions as u64,
            ),
            ("sequencer.max_per_sender", seq.max_per_sender as u64),
            ("sequencer.batch_max_blocks", seq.batch_max_blocks as u64),
            (
                "sequencer.max_batch_requests",
                u64::from(seq.max_batch_requests),
            ),
            ("sequencer.max_connections", u64::from(seq.max_connections)),
        ] {
            if value == 0 {
                return Err((key, "must be at least 1".to_owned()));
            }
        }
        if seq.recovery_threads > 256 {
            return Err((
                "sequencer.recovery_threads",
                format!("{} is above the maximum of 256", seq.recovery_threads),
            ));
        }
        if !(1024..=16 << 20).contains(&seq.max_tx_bytes) {
            return Err((
                "sequencer.max_tx_bytes",
                "must be between 1024 and 16777216".to_owned(),
            ));
        }
        if (seq.max_request_bytes as usize) < seq.max_tx_bytes * 2 + 1024 {
            return Err((
                "sequencer.max_request_bytes",
                "must hold at least one hex-encoded transaction of max_tx_bytes".to_owned(),
            ));
        }
        if seq.backpressure_slow_batches == 0
            || seq.backpressure_stop_batches < seq.backpressure_slow_batches
        {
            return Err((
                "sequencer.backpressure_stop_batches",
                "backpressure needs 1 <= backpressure_slow_batches <= backpressure_stop_batches"
                    .to_owned(),
            ));
        }
        let endpoints = [
            ("json_rpc.listen", Some(self.json_rpc.listen)),
            ("grpc.listen", Some(self.grpc.listen)),
            (
                "metrics.listen",
                self.metrics.enabled.then_some(self.metrics.listen),
            ),
        ];
        for (i, (key, addr)) in endpoints.iter().enumerate() {
            let Some(addr) = addr else { continue };
            if addr.port() == 0 {
                continue;
            }
            if let Some((other, _)) = endpoints[..i].iter().find(|(_, a)| *a == Some(*addr)) {
                return Err((key, format!("{addr} is already used by `{other}`")));
            }
        }
        Ok(())
    }
}
