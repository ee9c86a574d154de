//! Shared helpers of the sequencer's integration tests: a running sequencer with its
//! JSON-RPC server, a plain HTTP client, signing with the development keys.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy_consensus::TxEip1559;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, TxKind, U256};
use serde_json::{Value, json};
use zkbox_sequencer::dev::{DEV_MNEMONIC, DevKey, dev_keys};
use zkbox_sequencer::{RpcConfig, Sequencer, SequencerConfig};

/// A sequencer and its server, in a temporary directory.
pub struct Node {
    pub seq: Sequencer,
    pub addr: SocketAddr,
    pub handle: jsonrpsee::server::ServerHandle,
    pub dir: tempfile::TempDir,
}

impl Node {
    pub async fn start(tweak: impl FnOnce(&mut SequencerConfig)) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SequencerConfig::dev(dir.path().join("seq"));
        config.block_interval = Duration::from_millis(50);
        tweak(&mut config);
        let (seq, _) = Sequencer::start(config, None).unwrap();
        let rpc = RpcConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_batch: 100,
            max_request_bytes: 1 << 20,
            ..Default::default()
        };
        let (addr, handle) = zkbox_sequencer::serve(seq.clone(), rpc).await.unwrap();
        Node {
            seq,
            addr,
            handle,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One JSON-RPC call; returns the whole response object.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (_, text) = post(self.addr, body.to_string().as_bytes()).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: {e}: {text}"))
    }

    /// A call that must succeed; returns its result.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// A call that must fail; returns (code, message).
    pub async fn fails(&self, method: &str, params: Value) -> (i64, String) {
        let response = self.call(method, params).await;
        let error = response
            .get("error")
            .unwrap_or_else(|| panic!("{method} should fail: {response}"));
        (
            error["code"].as_i64().unwrap(),
            error["message"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls for a receipt (generous timeout: the test machine may be loaded).
    pub async fn receipt(&self, hash: &str) -> Value {
        for _ in 0..600 {
            let r = self.ok("eth_getTransactionReceipt", json!([hash])).await;
            if !r.is_null() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no receipt for {hash} after 30 s");
    }
}

/// POSTs `body` over a fresh connection; returns (status, body).
pub async fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (e.g. 413) before reading everything; ignore a broken pipe.
    let _ = stream.write_all(body).await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The development keys.
pub fn dev() -> Vec<DevKey> {
    dev_keys(DEV_MNEMONIC, 10)
}

/// A signed EIP-1559 transfer, hex-encoded.
pub fn transfer(key: &DevKey, nonce: u64, to: Address, value: u64, chain_id: u64) -> String {
    signed(
        key,
        TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            to: TxKind::Call(to),
            value: U256::from(value),
            ..Default::default()
        },
    )
}

/// `tx` with the fees every test pays (2 gwei cap, 0.001 gwei tip), signed, hex-encoded.
pub fn signed(key: &DevKey, tx: TxEip1559) -> String {
    let tx = key.sign(TxEip1559 {
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        ..tx
    });
    format!("0x{}", alloy_primitives::hex::encode(tx.encoded_2718()))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// foundry's binary `name` (cast, anvil) as scripts/setup.sh installs it.
pub fn foundry(name: &str) -> PathBuf {
    let path = repo_root().join(format!(
        ".tools/foundry/node_modules/@foundry-rs/{name}-linux-amd64/bin/{name}"
    ));
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path
}
