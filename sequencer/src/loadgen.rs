//! The load generator behind `zkbox loadgen`: replays pre-signed ETH or ERC-20 transfers
//! against any Ethereum JSON-RPC endpoint and measures acceptance and confirmation.
//!
//! 1. **Setup** (not measured): derives `senders` accounts from fixed seeds, funds each with
//!    ETH from the first development account and, for ERC-20 load, deploys the token fixture
//!    (`tests/fixtures/erc20/Erc20.bin`) and gives each sender tokens.
//! 2. **Signing** (not measured): every transaction of the run is signed up front, on all
//!    cores; sender `i mod senders` sends the `i`-th transfer, to the next sender in the ring
//!    (1 wei or 1 token unit), so the run touches only accounts that exist.
//! 3. **Replay**: `concurrency` workers send `eth_sendRawTransaction` calls (in JSON-RPC batches
//!    of `batch` calls), either flat out or paced to `tps` (open loop: each transaction has a
//!    scheduled send time, and latency counts from it, so a stalled server is not hidden).
//!    A watcher polls new blocks and marks transactions included.
//! 4. **Report**: submitted, accepted and included per second over the run, and acceptance
//!    (send → hash returned) and confirmation (send → seen in a block) latency percentiles
//!    from HdrHistogram.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_consensus::TxEip1559;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use hdrhistogram::Histogram;
use jsonrpsee::core::client::{BatchResponse, ClientT};
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use serde::Serialize;
use serde_json::Value;

use crate::dev::{DEV_MNEMONIC, DevKey, dev_keys};

/// Which transfers to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Plain ETH transfers (21,000 gas).
    Eth,
    /// ERC-20 `transfer` calls on the token fixture.
    Erc20,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// JSON-RPC endpoint (http://...).
    pub rpc: String,
    /// Transfer kind.
    pub kind: Kind,
    /// Target rate (transactions per second); `None`: flat out.
    pub tps: Option<u64>,
    /// How long to send.
    pub duration: Duration,
    /// Distinct sending accounts.
    pub senders: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Transactions per JSON-RPC batch request (1: one call per request).
    pub batch: usize,
    /// Transactions signed for a flat-out run (a paced run signs `tps * duration`).
    pub max_transactions: usize,
    /// How long to wait for inclusion after the last send.
    pub drain: Duration,
}

impl LoadOptions {
    /// Defaults for `rpc`: ETH transfers, flat out for 10 s, 512 senders, 64 in flight.
    pub fn new(rpc: impl Into<String>) -> Self {
        LoadOptions {
            rpc: rpc.into(),
            kind: Kind::Eth,
            tps: None,
            duration: Duration::from_secs(10),
            senders: 512,
            concurrency: 64,
            batch: 1,
            max_transactions: 400_000,
            drain: Duration::from_secs(15),
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Samples.
    pub count: u64,
}

impl Latency {
    fn from(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            count: h.len(),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The endpoint.
    pub rpc: String,
    /// Client version the endpoint reported.
    pub client: String,
    /// Transfer kind.
    pub kind: Kind,
    /// Target rate, if any.
    pub target_tps: Option<u64>,
    /// Seconds spent sending.
    pub send_seconds: f64,
    /// Transactions sent.
    pub submitted: u64,
    /// Transactions acknowledged with a hash.
    pub accepted: u64,
    /// Transactions refused (an error response or a failed request).
    pub rejected: u64,
    /// Accepted transactions seen in a block before the drain ended.
    pub included: u64,
    /// Submitted per second of sending.
    pub submitted_tps: f64,
    /// Accepted per second of sending.
    pub accepted_tps: f64,
    /// Included per second, from the first send to the last inclusion seen.
    pub included_tps: f64,
    /// Send → hash returned.
    pub acceptance: Latency,
    /// Send → seen in a sealed block (block polling adds up to 20 ms).
    pub confirmation: Latency,
    /// The first refusal messages, for diagnosis.
    pub sample_errors: Vec<String>,
}

impl LoadReport {
    /// The report as an aligned text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "endpoint {} ({}), {} transfers, {}\n",
            self.rpc,
            self.client,
            match self.kind {
                Kind::Eth => "ETH",
                Kind::Erc20 => "ERC-20",
            },
            self.target_tps
                .map_or("flat out".to_owned(), |t| format!("target {t} tx/s")),
        ));
        out.push_str(&format!(
            "{:<12} {:>10} {:>10}\n{:<12} {:>10} {:>10.0}\n{:<12} {:>10} {:>10.0}\n{:<12} {:>10} {:>10.0}\n{:<12} {:>10}\n",
            "", "count", "per s",
            "submitted", self.submitted, self.submitted_tps,
            "accepted", self.accepted, self.accepted_tps,
            "included", self.included, self.included_tps,
            "rejected", self.rejected,
        ));
        out.push_str(&format!(
            "{:<12} {:>9} {:>9} {:>9} {:>9}\n",
            "latency ms", "p50", "p95", "p99", "max"
        ));
        for (name, l) in [
            ("acceptance", &self.acceptance),
            ("confirmation", &self.confirmation),
        ] {
            out.push_str(&format!(
                "{:<12} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                name, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            ));
        }
        for e in &self.sample_errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out
    }
}

const ERC20_CREATION: &str = include_str!("../../tests/fixtures/erc20/Erc20.bin");
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const GAS_PRICE_CAP: u128 = 100_000_000_000;

fn parse_u64(v: &Value) -> Result<u64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("expected a hex quantity, got {v}"))?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s}: {e}"))
}

async fn call(
    c: &HttpClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> Result<Value, String> {
    c.request::<Value, _>(method, params)
        .await
        .map_err(|e| format!("{method}: {e}"))
}

async fn wait_receipt(c: &HttpClient, hash: B256) -> Result<Value, String> {
    let started = Instant::now();
    loop {
        let r = call(c, "eth_getTransactionReceipt", rpc_params![hash]).await?;
        if !r.is_null() {
            if r["status"] != "0x1" {
                return Err(format!("setup transaction {hash} failed: {r}"));
            }
            return Ok(r);
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("setup transaction {hash} not included after 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct Signer {
    chain_id: u64,
    max_fee: u128,
    tip: u128,
}

impl Signer {
    fn sign(
        &self,
        key: &DevKey,
        nonce: u64,
        to: TxKind,
        value: U256,
        input: Bytes,
        gas: u64,
    ) -> Bytes {
        key.sign(TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: self.max_fee,
            max_priority_fee_per_gas: self.tip,
            to,
            value,
            input,
            ..Default::default()
        })
        .encoded_2718()
        .into()
    }
}

fn transfer_data(to: Address, amount: U256) -> Bytes {
    let mut data = TRANSFER_SELECTOR.to_vec();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to.as_slice());
    data.extend_from_slice(&amount.to_be_bytes::<32>());
    data.into()
}

/// Sends `raws` concurrently and waits for every one's receipt (setup only).
async fn send_all_and_wait(c: &HttpClient, raws: Vec<Bytes>) -> Result<Vec<Value>, String> {
    let mut hashes = Vec::new();
    for chunk in raws.chunks(100) {
        let mut batch = BatchRequestBuilder::new();
        for raw in chunk {
            batch
                .insert("eth_sendRawTransaction", rpc_params![raw])
                .map_err(|e| e.to_string())?;
        }
        let resp: BatchResponse<B256> = c
            .batch_request(batch)
            .await
            .map_err(|e| format!("setup batch: {e}"))?;
        for r in resp.into_iter() {
            hashes.push(r.map_err(|e| format!("setup transaction refused: {}", e.message()))?);
        }
    }
    let mut receipts = Vec::new();
    for h in hashes {
        receipts.push(wait_receipt(c, h).await?);
    }
    Ok(receipts)
}

/// Runs the load and returns what it measured.
pub async fn run(opts: &LoadOptions) -> Result<LoadReport, String> {
    if opts.senders == 0 || opts.concurrency == 0 || opts.batch == 0 || opts.batch > 1000 {
        return Err("senders, concurrency and batch (at most 1000) must be at least 1".into());
    }
    let count = match opts.tps {
        Some(tps) => (u128::from(tps) * opts.duration.as_millis() / 1000) as usize,
        None => opts.max_transactions,
    };
    if count == 0 || opts.duration.is_zero() {
        return Err(
            "the target rate, the duration and the transaction count must be above zero (rate × duration ≥ 1)"
                .into(),
        );
    }
    let c = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .build(&opts.rpc)
        .map_err(|e| format!("{}: {e}", opts.rpc))?;
    let chain_id = call(&c, "eth_chainId", rpc_params![])
        .await
        .map_err(|e| format!("{}: eth_chainId failed: {e}", opts.rpc))?;
    let chain_id = parse_u64(&chain_id)?;
    let client = call(&c, "web3_clientVersion", rpc_params![])
        .await?
        .as_str()
        .unwrap_or("?")
        .to_owned();
    let gas_price = parse_u64(&call(&c, "eth_gasPrice", rpc_params![]).await?)? as u128;
    let signer = Signer {
        chain_id,
        max_fee: (gas_price * 3).min(GAS_PRICE_CAP).max(gas_price + 1),
        tip: 1_000_000.min(gas_price),
    };
    let funder = dev_keys(DEV_MNEMONIC, 1).remove(0);
    let senders: Vec<DevKey> = (0..opts.senders)
        .map(|i| DevKey::from_seed(keccak256(format!("zkbox loadgen sender {i}"))))
        .collect();
    let per_sender = count.div_ceil(opts.senders) as u64;
    let gas = match opts.kind {
        Kind::Eth => 21_000u64,
        Kind::Erc20 => 100_000,
    };
    // Setup: fund senders (and deploy + distribute the token).
    let mut funder_nonce = parse_u64(
        &call(
            &c,
            "eth_getTransactionCount",
            rpc_params![funder.address, "pending"],
        )
        .await?,
    )?;
    let need = U256::from(per_sender + 2) * U256::from(gas) * U256::from(signer.max_fee)
        + U256::from(per_sender + 2);
    let mut funding = Vec::new();
    let mut nonces = Vec::new();
    for s in &senders {
        let balance = call(&c, "eth_getBalance", rpc_params![s.address, "latest"]).await?;
        let balance: U256 = serde_json::from_value(balance).map_err(|e| e.to_string())?;
        let nonce = parse_u64(
            &call(
                &c,
                "eth_getTransactionCount",
                rpc_params![s.address, "pending"],
            )
            .await?,
        )?;
        nonces.push(nonce);
        if balance < need {
            funding.push(signer.sign(
                &funder,
                funder_nonce,
                TxKind::Call(s.address),
                need - balance,
                Bytes::new(),
                21_000,
            ));
            funder_nonce += 1;
        }
    }
    send_all_and_wait(&c, funding).await?;
    let token = match opts.kind {
        Kind::Eth => None,
        Kind::Erc20 => {
            let supply = U256::from(10u64).pow(U256::from(30));
            let mut code =
                alloy_primitives::hex::decode(ERC20_CREATION.trim()).map_err(|e| e.to_string())?;
            code.extend_from_slice(&supply.to_be_bytes::<32>());
            let deploy = signer.sign(
                &funder,
                funder_nonce,
                TxKind::Create,
                U256::ZERO,
                code.into(),
                3_000_000,
            );
            funder_nonce += 1;
            let receipt = send_all_and_wait(&c, vec![deploy]).await?.remove(0);
            let token: Address = serde_json::from_value(receipt["contractAddress"].clone())
                .map_err(|e| format!("no contract address: {e}"))?;
            let share = supply / U256::from(opts.senders as u64 * 2);
            let gifts = senders
                .iter()
                .map(|s| {
                    let tx = signer.sign(
                        &funder,
                        funder_nonce,
                        TxKind::Call(token),
                        U256::ZERO,
                        transfer_data(s.address, share),
                        100_000,
                    );
                    funder_nonce += 1;
                    tx
                })
                .collect();
            send_all_and_wait(&c, gifts).await?;
            Some(token)
        }
    };
    // Signing, on every core.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let senders = Arc::new(senders);
    let nonces = Arc::new(nonces);
    let signer = Arc::new(signer);
    let parts: Vec<_> = (0..threads)
        .map(|t| {
            let (senders, nonces, signer) = (senders.clone(), nonces.clone(), signer.clone());
            std::thread::spawn(move || {
                let n = senders.len();
                (t..count)
                    .step_by(threads)
                    .map(|i| {
                        let s = i % n;
                        let nonce = nonces[s] + (i / n) as u64;
                        // Transfers go round the sender ring, between existing accounts, so
                        // the state does not grow with the run.
                        let recipient = senders[(s + 1) % n].address;
                        let raw = match token {
                            None => signer.sign(
                                &senders[s],
                                nonce,
                                TxKind::Call(recipient),
                                U256::from(1),
                                Bytes::new(),
                                21_000,
                            ),
                            Some(token) => signer.sign(
                                &senders[s],
                                nonce,
                                TxKind::Call(token),
                                U256::ZERO,
                                transfer_data(recipient, U256::from(1)),
                                100_000,
                            ),
                        };
                        (i, raw)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut signed = vec![Bytes::new(); count];
    for p in parts {
        for (i, raw) in p.join().map_err(|_| "a signing thread panicked")? {
            signed[i] = raw;
        }
    }
    replay(opts, &c, client, Arc::new(signed)).await
}

#[derive(Default)]
struct Shared {
    sent: HashMap<B256, Instant>,
    acceptance: Option<Histogram<u64>>,
    confirmation: Option<Histogram<u64>>,
    accepted: u64,
    rejected: u64,
    included: u64,
    last_inclusion: Option<Instant>,
    errors: Vec<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

async fn replay(
    opts: &LoadOptions,
    c: &HttpClient,
    client: String,
    signed: Arc<Vec<Bytes>>,
) -> Result<LoadReport, String> {
    let shared = Arc::new(Mutex::new(Shared {
        acceptance: Some(histogram()),
        confirmation: Some(histogram()),
        ..Default::default()
    }));
    let start_block = parse_u64(&call(c, "eth_blockNumber", rpc_params![]).await?)?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut workers = Vec::new();
    for _ in 0..opts.concurrency {
        let (c, signed, next, shared) = (c.clone(), signed.clone(), next.clone(), shared.clone());
        let (tps, batch) = (opts.tps, opts.batch);
        workers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                if first >= signed.len() || Instant::now() >= deadline {
                    return;
                }
                let last = (first + batch).min(signed.len());
                let scheduled = match tps {
                    Some(tps) => {
                        let at = start
                            + Duration::from_micros((last as u64 - 1) * 1_000_000 / tps.max(1));
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                let mut request = BatchRequestBuilder::new();
                for raw in &signed[first..last] {
                    let _ = request.insert("eth_sendRawTransaction", rpc_params![raw]);
                }
                let result: Result<BatchResponse<B256>, _> = c.batch_request(request).await;
                let elapsed = scheduled.elapsed().as_micros() as u64;
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(resp) => {
                        for r in resp.into_iter() {
                            match r {
                                Ok(hash) => {
                                    s.accepted += 1;
                                    s.sent.insert(hash, scheduled);
                                    if let Some(h) = s.acceptance.as_mut() {
                                        let _ = h.record(elapsed.max(1));
                                    }
                                }
                                Err(e) => {
                                    s.rejected += 1;
                                    if s.errors.len() < 5 {
                                        s.errors.push(e.message().to_owned());
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        s.rejected += (last - first) as u64;
                        if s.errors.len() < 5 {
                            s.errors.push(e.to_string());
                        }
                    }
                }
            }
        }));
    }
    // The watcher: polls new blocks and matches their transactions.
    let sending_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (c, shared, sending_done) = (c.clone(), shared.clone(), sending_done.clone());
        let drain_until = deadline + opts.drain;
        tokio::spawn(async move {
            let mut seen = start_block;
            loop {
                let head = match call(&c, "eth_blockNumber", rpc_params![])
                    .await
                    .and_then(|v| parse_u64(&v))
                {
                    Ok(h) => h,
                    Err(_) => seen,
                };
                while seen < head {
                    seen += 1;
                    let Ok(block) = call(
                        &c,
                        "eth_getBlockByNumber",
                        rpc_params![format!("0x{seen:x}"), false],
                    )
                    .await
                    else {
                        seen -= 1;
                        break;
                    };
                    let now = Instant::now();
                    let hashes: Vec<B256> = block["transactions"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|h| serde_json::from_value(h.clone()).ok())
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    for h in hashes {
                        if let Some(sent) = s.sent.remove(&h) {
                            s.included += 1;
                            s.last_inclusion = Some(now);
                            let us = now.duration_since(sent).as_micros() as u64;
                            if let Some(hist) = s.confirmation.as_mut() {
                                let _ = hist.record(us.max(1));
                            }
                        }
                    }
                }
                let (done, waiting) = {
                    let s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    (Instant::now() >= drain_until, s.sent.len())
                };
                if done || (waiting == 0 && sending_done.load(Ordering::SeqCst)) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for w in workers {
        let _ = w.await;
    }
    let send_seconds = start.elapsed().as_secs_f64();
    sending_done.store(true, Ordering::SeqCst);
    let _ = watcher.await;
    let s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let submitted = s.accepted + s.rejected;
    let inclusion_span = s
        .last_inclusion
        .map_or(send_seconds, |t| t.duration_since(start).as_secs_f64());
    Ok(LoadReport {
        rpc: opts.rpc.clone(),
        client,
        kind: opts.kind,
        target_tps: opts.tps,
        send_seconds,
        submitted,
        accepted: s.accepted,
        rejected: s.rejected,
        included: s.included,
        submitted_tps: submitted as f64 / send_seconds,
        accepted_tps: s.accepted as f64 / send_seconds,
        included_tps: s.included as f64 / inclusion_span.max(send_seconds),
        acceptance: s.acceptance.as_ref().map(Latency::from).unwrap_or_default(),
        confirmation: s
            .confirmation
            .as_ref()
            .map(Latency::from)
            .unwrap_or_default(),
        sample_errors: s.errors.clone(),
    })
}
