//! kill -9 under load: a sequencer in a child process is killed at random moments while
//! clients send transfers; after each restart every acknowledged transaction must be in a
//! block or back in the mempool, blocks seen before the crash must be unchanged, and at the
//! end the chain must equal a replay of the block log from genesis.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use common::{dev, transfer};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::rpc_params;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use serde_json::Value;
use zkbox_sequencer::{Sequencer, SequencerConfig};

const CHILD_ENV: &str = "ZKBOX_SEQUENCER_CRASH_CHILD";

fn config(dir: &Path) -> SequencerConfig {
    let mut config = SequencerConfig::dev(dir.join("seq"));
    config.block_interval = Duration::from_millis(50);
    config
}

/// Not a test by itself: the crash test runs it in a child process, which it then kills.
#[test]
#[ignore = "helper: run by crash_under_load_loses_no_acknowledged_transaction as a child"]
fn child_sequencer() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (seq, _) = Sequencer::start(config(&dir), None).unwrap();
        let rpc = zkbox_sequencer::RpcConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let (addr, _handle) = zkbox_sequencer::serve(seq, rpc).await.unwrap();
        let tmp = dir.join("addr.tmp");
        std::fs::write(&tmp, addr.to_string()).unwrap();
        std::fs::rename(&tmp, dir.join("addr")).unwrap();
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

fn spawn_child(dir: &Path) -> (Child, String) {
    spawn_child_limited(dir, None)
}

/// Starts the child sequencer; with `max_file_blocks`, under `ulimit -f` (512-byte blocks),
/// so that its log writes fail as on a full disk (SIGXFSZ ignored: writes return EFBIG).
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_child_limited(dir: &Path, max_file_blocks: Option<u32>) -> (Child, String) {
    let _ = std::fs::remove_file(dir.join("addr"));
    let exe = std::env::current_exe().unwrap();
    let mut command = match max_file_blocks {
        None => Command::new(&exe),
        Some(blocks) => {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                &format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\""),
            ])
            .arg(&exe);
            c
        }
    };
    let mut child = command
        .args(["--exact", "child_sequencer", "--ignored", "--nocapture"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Ok(addr) = std::fs::read_to_string(dir.join("addr")) {
            return (child, format!("http://{addr}"));
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child sequencer did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator (xorshift), so a failing round can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn client(url: &str) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(60))
        .build(url)
        .unwrap()
}

/// Sends transfers from `sender` one after another until the connection fails; returns the
/// acknowledged hashes.
async fn sender_loop(url: String, sender: usize) -> Vec<B256> {
    let keys = dev();
    let key = &keys[sender];
    let c = client(&url).await;
    let Ok(nonce) = c
        .request::<String, _>(
            "eth_getTransactionCount",
            rpc_params![key.address, "pending"],
        )
        .await
    else {
        return Vec::new();
    };
    let mut nonce = u64::from_str_radix(nonce.trim_start_matches("0x"), 16).unwrap();
    let mut acked = Vec::new();
    loop {
        let raw = transfer(
            key,
            nonce,
            Address::with_last_byte(sender as u8 + 1),
            1,
            31337,
        );
        match c
            .request::<B256, _>("eth_sendRawTransaction", rpc_params![raw])
            .await
        {
            Ok(hash) => {
                acked.push(hash);
                nonce += 1;
            }
            Err(_) => return acked,
        }
    }
}

async fn located(c: &HttpClient, hash: B256) -> (Option<Value>, bool) {
    let receipt: Value = c
        .request("eth_getTransactionReceipt", rpc_params![hash])
        .await
        .unwrap();
    if !receipt.is_null() {
        return (Some(receipt), true);
    }
    let tx: Value = c
        .request("eth_getTransactionByHash", rpc_params![hash])
        .await
        .unwrap();
    (None, !tx.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_under_load_loses_no_acknowledged_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut acked: Vec<B256> = Vec::new();
    let mut seen_blocks: BTreeMap<u64, String> = BTreeMap::new();
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let (mut child, url) = spawn_child(dir.path());
        let c = client(&url).await;
        // Everything acknowledged before is sealed or pooled, and sealed blocks are unchanged.
        for hash in &acked {
            let (receipt, found) = located(&c, *hash).await;
            assert!(found, "round {round}: acknowledged {hash} is lost");
            if let Some(r) = receipt {
                let n = u64::from_str_radix(
                    r["blockNumber"].as_str().unwrap().trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                let h = r["blockHash"].as_str().unwrap().to_owned();
                if let Some(before) = seen_blocks.insert(n, h.clone()) {
                    assert_eq!(before, h, "round {round}: block {n} changed across a crash");
                }
            }
        }
        if round == ROUNDS - 1 {
            // Last round: no kill; every acknowledged transaction must get sealed.
            for hash in &acked {
                let started = Instant::now();
                while located(&c, *hash).await.0.is_none() {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "{hash} never sealed"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            let head: Value = c
                .request("eth_getBlockByNumber", rpc_params!["latest", false])
                .await
                .unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            // A replay of the block log from genesis gives the same head.
            let (seq, report) = Sequencer::start(config(dir.path()), None).unwrap();
            let chain = seq.read_chain();
            assert_eq!(report.requeued, 0);
            assert_eq!(
                chain.head().hash.to_string(),
                head["hash"].as_str().unwrap()
            );
            assert_eq!(
                chain.head().header.state_root.to_string(),
                head["stateRoot"].as_str().unwrap()
            );
            drop(chain);
            seq.stop();
            println!(
                "{} acknowledged transactions, {} blocks",
                acked.len(),
                report.blocks
            );
            assert!(acked.len() > 50, "too little load to mean anything");
            break;
        }
        let senders: Vec<_> = (0..4)
            .map(|s| tokio::spawn(sender_loop(url.clone(), s)))
            .collect();
        let delay = 300 + rng.below(1500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for s in senders {
            acked.extend(s.await.unwrap());
        }
        println!(
            "round {round}: killed after {delay} ms, {} acknowledged so far",
            acked.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_clearly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // Start once without a limit so the logs exist, then under a 24 KiB file-size limit.
    let (mut child, _) = spawn_child(dir.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, url) = spawn_child_limited(dir.path(), Some(48));
    let c = client(&url).await;
    let keys = dev();
    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    for nonce in 0..2000u64 {
        let raw = transfer(&keys[6], nonce, Address::with_last_byte(1), 1, 31337);
        match c
            .request::<B256, _>("eth_sendRawTransaction", rpc_params![raw])
            .await
        {
            Ok(hash) => acked.push(hash),
            Err(jsonrpsee::core::ClientError::Call(e)) => {
                refusals.push((e.code(), e.message().to_owned()));
                if refusals.len() >= 3 {
                    break;
                }
            }
            Err(other) => panic!("transport failure instead of a JSON-RPC error: {other}"),
        }
    }
    assert!(
        !acked.is_empty() && !refusals.is_empty(),
        "{} acked, no refusal",
        acked.len()
    );
    for (code, message) in &refusals {
        assert_eq!(*code, -32005, "{message}");
        assert!(
            message.starts_with("transaction not accepted")
                || message.starts_with("sequencer unavailable"),
            "{message}"
        );
    }
    // Still answering.
    let id: String = c.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(id, "0x7a69");
    child.kill().unwrap();
    child.wait().unwrap();
    // Room again: every acknowledged transaction is there and gets sealed.
    let (mut child, url) = spawn_child(dir.path());
    let c = client(&url).await;
    for hash in &acked {
        let started = Instant::now();
        loop {
            let (receipt, found) = located(&c, *hash).await;
            assert!(found, "acknowledged {hash} lost after the disk filled");
            if receipt.is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{hash} never sealed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
