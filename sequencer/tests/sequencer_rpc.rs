//! The JSON-RPC against real clients: foundry's `cast`, a WebSocket subscriber, plain HTTP
//! for every bad-input path.

mod common;

use std::process::Command;
use std::time::Duration;

use alloy_consensus::{TxEip1559, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use common::{Node, dev, foundry, post, repo_root, signed, transfer};
use serde_json::{Value, json};

fn cast(args: &[&str]) -> String {
    let out = Command::new(foundry("cast")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "cast {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cast_sends_a_transfer_and_reads_receipt_block_and_balance() {
    let node = Node::start(|_| {}).await;
    let url = node.url();
    let keys = dev();
    let key = alloy_primitives::hex::encode(keys[0].secret_bytes());
    let to = Address::repeat_byte(0x42).to_string();
    let (url2, to2) = (url.clone(), to.clone());
    let sent = tokio::task::spawn_blocking(move || {
        assert_eq!(cast(&["chain-id", "--rpc-url", &url2]), "31337");
        // The well-known first development key (anvil's), never a real one.
        cast(&[
            "send",
            "--rpc-url",
            &url2,
            "--private-key",
            &key,
            "--json",
            &to2,
            "--value",
            "1234567",
        ])
    })
    .await
    .unwrap();
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(sent["status"], "0x1", "{sent}");
    let hash = sent["transactionHash"].as_str().unwrap().to_owned();
    let block_number = sent["blockNumber"].as_str().unwrap().to_owned();
    let (url2, hash2, to2) = (url.clone(), hash.clone(), to.clone());
    let (receipt, block, balance) = tokio::task::spawn_blocking(move || {
        (
            cast(&["receipt", "--rpc-url", &url2, "--json", &hash2]),
            cast(&["block", "--rpc-url", &url2, "--json", "latest"]),
            cast(&["balance", "--rpc-url", &url2, &to2]),
        )
    })
    .await
    .unwrap();
    let receipt: Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(receipt["transactionHash"], hash.as_str());
    assert_eq!(
        receipt["from"].as_str().unwrap().to_lowercase(),
        keys[0].address.to_string().to_lowercase()
    );
    assert_eq!(receipt["gasUsed"], "0x5208");
    let block: Value = serde_json::from_str(&block).unwrap();
    assert_eq!(block["number"], block_number.as_str());
    assert!(
        block["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == hash.as_str()),
        "{block}"
    );
    assert_eq!(balance, "1234567");
    // The block hash cast read is the one the sequencer sealed.
    let by_hash = node
        .ok("eth_getBlockByHash", json!([block["hash"], false]))
        .await;
    assert_eq!(by_hash["number"], block_number.as_str());
    node.seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_tags_logs_fee_history_and_sync_send() {
    let node = Node::start(|_| {}).await;
    let keys = dev();
    let to = Address::repeat_byte(7);
    assert_eq!(node.ok("eth_chainId", json!([])).await, "0x7a69");
    assert_eq!(node.ok("net_version", json!([])).await, "31337");
    assert!(
        node.ok("web3_clientVersion", json!([]))
            .await
            .as_str()
            .unwrap()
            .starts_with("zkbox/")
    );
    assert_eq!(node.ok("eth_syncing", json!([])).await, false);
    let balance = node
        .ok("eth_getBalance", json!([keys[1].address, "latest"]))
        .await;
    assert_eq!(
        balance.as_str().unwrap().parse::<U256>().unwrap(),
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))
    );
    // EIP-7966: the receipt comes back in the same call.
    let raw = transfer(&keys[1], 0, to, 5, 31337);
    let receipt = node
        .ok("eth_sendRawTransactionSync", json!([raw, 20_000]))
        .await;
    assert_eq!(receipt["status"], "0x1");
    let number = receipt["blockNumber"].clone();
    for tag in ["latest", "pending", "safe", "finalized"] {
        let b = node.ok("eth_getBlockByNumber", json!([tag, true])).await;
        assert_eq!(b["number"], number, "{tag}");
        assert_eq!(b["transactions"][0]["hash"], receipt["transactionHash"]);
    }
    let genesis = node
        .ok("eth_getBlockByNumber", json!(["earliest", false]))
        .await;
    assert_eq!(genesis["number"], "0x0");
    let receipts = node.ok("eth_getBlockReceipts", json!([number])).await;
    assert_eq!(receipts[0]["transactionHash"], receipt["transactionHash"]);
    assert_eq!(
        node.ok(
            "eth_getTransactionByHash",
            json!([receipt["transactionHash"]])
        )
        .await["from"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        keys[1].address.to_string().to_lowercase()
    );
    assert_eq!(
        node.ok(
            "eth_getTransactionCount",
            json!([keys[1].address, "latest"])
        )
        .await,
        "0x1"
    );
    assert_eq!(
        node.ok("eth_getBalance", json!([to, "latest"])).await,
        "0x5"
    );
    let history = node
        .ok("eth_feeHistory", json!(["0x2", "latest", [10.0, 90.0]]))
        .await;
    assert_eq!(history["baseFeePerGas"].as_array().unwrap().len(), 3);
    assert_eq!(history["reward"].as_array().unwrap().len(), 2);
    assert!(node.ok("eth_gasPrice", json!([])).await.is_string());
    assert!(
        node.ok("eth_maxPriorityFeePerGas", json!([]))
            .await
            .is_string()
    );
    assert_eq!(
        node.ok("eth_getLogs", json!([{"fromBlock": "0x0"}])).await,
        json!([])
    );
    let estimate = node
        .ok(
            "eth_estimateGas",
            json!([{"from": keys[2].address, "to": to, "value": "0x1"}]),
        )
        .await;
    assert_eq!(estimate, "0x5208");
    assert_eq!(
        node.ok("eth_call", json!([{"to": to, "data": "0x"}, "latest"]))
            .await,
        "0x"
    );
    // Older state is refused, clearly.
    let (code, message) = node.fails("eth_getBalance", json!([to, "0x0"])).await;
    assert_eq!(
        (code, message.as_str()),
        (-32000, "historical state not available")
    );
    node.seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_heads_reach_websocket_subscribers() {
    use jsonrpsee::core::client::SubscriptionClientT;
    let node = Node::start(|_| {}).await;
    let client = jsonrpsee_ws_client::WsClientBuilder::default()
        .build(format!("ws://{}", node.addr))
        .await
        .unwrap();
    let mut heads: jsonrpsee::core::client::Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            jsonrpsee::core::rpc_params!["newHeads"],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let keys = dev();
    let raw = transfer(&keys[3], 0, Address::repeat_byte(1), 1, 31337);
    let hash = node.ok("eth_sendRawTransaction", json!([raw])).await;
    let receipt = node.receipt(hash.as_str().unwrap()).await;
    let head = tokio::time::timeout(Duration::from_secs(30), heads.next())
        .await
        .expect("a head within 30 s")
        .unwrap()
        .unwrap();
    assert_eq!(head["hash"], receipt["blockHash"]);
    node.seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_nothing_is_lost() {
    let node = Node::start(|c| {
        c.pool.max_per_sender = 8;
        c.pool.max_tx_bytes = 4096;
    })
    .await;
    let keys = dev();
    let to = Address::repeat_byte(9);
    // Malformed JSON, unknown method, bad params.
    let (status, body) = post(node.addr, b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\"").await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(node.fails("eth_noSuchMethod", json!([])).await.0, -32601);
    assert_eq!(
        node.fails("eth_getBalance", json!(["0x12"])).await.0,
        -32602
    );
    assert_eq!(
        node.fails("eth_sendRawTransaction", json!(["0xzz"]))
            .await
            .0,
        -32602
    );
    // Transactions geth would refuse, with geth's messages.
    let send = |raw: String| {
        let node = &node;
        async move { node.fails("eth_sendRawTransaction", json!([raw])).await }
    };
    assert_eq!(
        send(transfer(&keys[4], 0, to, 1, 1)).await,
        (-32000, "invalid chain id for signer".into())
    );
    assert_eq!(send("0xdeadbeef".into()).await.0, -32000);
    // Pre-EIP-155 (no chain id, replayable anywhere): refused unless configured.
    assert_eq!(
        send(unprotected(&keys[4], 0, to)).await,
        (
            -32000,
            "only replay-protected (EIP-155) transactions allowed over RPC".into()
        )
    );
    let mut bad_sig = transfer(&keys[4], 0, to, 1, 31337);
    // Replace s with the group order (out of range): no sender recovers.
    let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    bad_sig.replace_range(bad_sig.len() - 64.., n);
    let (code, message) = send(bad_sig).await;
    assert_eq!(code, -32000);
    assert!(
        message == "invalid sender" || message.starts_with("rlp"),
        "{message}"
    );
    let big = {
        let tx = keys[4].sign(alloy_consensus::TxEip1559 {
            chain_id: 31337,
            gas_limit: 1_000_000,
            max_fee_per_gas: 2_000_000_000,
            to: alloy_primitives::TxKind::Call(to),
            input: vec![1u8; 5000].into(),
            ..Default::default()
        });
        format!(
            "0x{}",
            alloy_primitives::hex::encode(alloy_eips::eip2718::Encodable2718::encoded_2718(&tx))
        )
    };
    assert_eq!(send(big).await, (-32000, "oversized data".into()));
    // Nonce reuse and gaps.
    let first = transfer(&keys[4], 0, to, 1, 31337);
    let h0 = node.ok("eth_sendRawTransaction", json!([first])).await;
    assert_eq!(send(first.clone()).await, (-32000, "already known".into()));
    assert_eq!(
        send(transfer(&keys[4], 0, to, 2, 31337)).await,
        (-32000, "replacement transaction underpriced".into())
    );
    node.receipt(h0.as_str().unwrap()).await;
    assert_eq!(
        send(transfer(&keys[4], 0, to, 2, 31337)).await,
        (-32000, "nonce too low".into())
    );
    let gapped = node
        .ok(
            "eth_sendRawTransaction",
            json!([transfer(&keys[4], 2, to, 1, 31337)]),
        )
        .await;
    // A flood from one sender: its window is 8 nonces ahead.
    assert_eq!(
        send(transfer(&keys[4], 9, to, 1, 31337)).await,
        (-32000, "nonce too high".into())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        node.ok("eth_getTransactionReceipt", json!([gapped]))
            .await
            .is_null()
    );
    assert_eq!(
        node.ok(
            "eth_getTransactionCount",
            json!([keys[4].address, "pending"])
        )
        .await,
        "0x1"
    );
    let filler = node
        .ok(
            "eth_sendRawTransaction",
            json!([transfer(&keys[4], 1, to, 1, 31337)]),
        )
        .await;
    node.receipt(filler.as_str().unwrap()).await;
    node.receipt(gapped.as_str().unwrap()).await;
    // Oversized batches and bodies.
    let batch: Vec<Value> = (0..101)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []}))
        .collect();
    let (_, body) = post(node.addr, serde_json::to_string(&batch).unwrap().as_bytes()).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["error"]["code"].is_i64(), "{body}");
    let ok_batch: Vec<Value> = (0..3)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}))
        .collect();
    let (_, body) = post(
        node.addr,
        serde_json::to_string(&ok_batch).unwrap().as_bytes(),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x{}\"]}}",
        "00".repeat(1 << 20)
    );
    let (status, _) = post(node.addr, huge.as_bytes()).await;
    assert_eq!(status, 413);
    // Still serving after all of it.
    assert_eq!(node.ok("eth_chainId", json!([])).await, "0x7a69");
    node.seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_one_senders_transactions_is_accepted_in_order() {
    // The calls of a batch run concurrently (so they share acceptance fsyncs), but are
    // pooled in the batch's order: nonces 0..N of one sender in one batch all go in, and a
    // reused nonce later in the same batch is refused in its own place.
    let node = Node::start(|_| {}).await;
    let keys = dev();
    let to = Address::repeat_byte(0x51);
    const N: u64 = 24;
    let mut batch: Vec<Value> = (0..N)
        .map(|nonce| {
            json!({"jsonrpc": "2.0", "id": nonce, "method": "eth_sendRawTransaction",
                   "params": [transfer(&keys[6], nonce, to, 1 + nonce, 31337)]})
        })
        .collect();
    batch.push(
        json!({"jsonrpc": "2.0", "id": N, "method": "eth_sendRawTransaction",
                      "params": [transfer(&keys[6], 3, to, 999, 31337)]}),
    );
    batch.push(json!({"jsonrpc": "2.0", "id": N + 1, "method": "eth_chainId", "params": []}));
    let (status, body) = post(node.addr, serde_json::to_string(&batch).unwrap().as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len() as u64, N + 2);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["id"], i, "answers in the batch's order: {body}");
    }
    let reused = &answers[N as usize];
    assert!(reused["error"]["message"].is_string(), "{reused}");
    assert_eq!(answers[N as usize + 1]["result"], "0x7a69");
    for answer in &answers[..N as usize] {
        let hash = answer["result"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(node.receipt(hash).await["status"], "0x1");
    }
    let received = node.ok("eth_getBalance", json!([to, "latest"])).await;
    let expected: u64 = (0..N).map(|nonce| 1 + nonce).sum();
    assert_eq!(received, format!("{expected:#x}"));
    node.seq.stop();
}

/// A legacy transfer signed without a chain id (pre-EIP-155), hex-encoded.
fn unprotected(key: &zkbox_sequencer::dev::DevKey, nonce: u64, to: Address) -> String {
    let tx = key.sign(TxLegacy {
        chain_id: None,
        nonce,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1u64),
        ..Default::default()
    });
    format!("0x{}", alloy_primitives::hex::encode(tx.encoded_2718()))
}

/// A 32-byte word holding `address`, as ABI encoding and storage keys have it.
fn word(address: Address) -> B256 {
    address.into_word()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_code_storage_and_logs_read_back() {
    let node = Node::start(|_| {}).await;
    let keys = dev();
    let (owner, holder) = (&keys[7], keys[8].address);
    let fixtures = repo_root().join("tests/fixtures/erc20");
    let read = |name: &str| std::fs::read_to_string(fixtures.join(name)).unwrap();
    let supply = U256::from(1_000_000u64);
    let mut init = alloy_primitives::hex::decode(read("Erc20.bin").trim()).unwrap();
    init.extend_from_slice(&supply.to_be_bytes::<32>());
    let sync = |raw: String| {
        let node = &node;
        async move {
            let receipt = node
                .ok("eth_sendRawTransactionSync", json!([raw, 20_000]))
                .await;
            assert_eq!(receipt["status"], "0x1", "{receipt}");
            receipt
        }
    };
    let deployed = sync(signed(
        owner,
        TxEip1559 {
            chain_id: 31337,
            gas_limit: 3_000_000,
            to: TxKind::Create,
            input: init.into(),
            ..Default::default()
        },
    ))
    .await;
    let token: Address = serde_json::from_value(deployed["contractAddress"].clone()).unwrap();
    assert_eq!(
        node.ok("eth_getCode", json!([token, "latest"])).await,
        format!("0x{}", read("Erc20.bin-runtime").trim().to_lowercase())
    );
    assert_eq!(
        node.ok("eth_getCode", json!([holder, "latest"])).await,
        "0x"
    );
    // Slot 0 is totalSupply; balanceOf is the mapping at slot 1.
    let balance_slot =
        |a: Address| keccak256([word(a).as_slice(), B256::with_last_byte(1).as_slice()].concat());
    let storage = |slot: B256| {
        let node = &node;
        async move {
            node.ok("eth_getStorageAt", json!([token, slot, "latest"]))
                .await
        }
    };
    let as_word = |v: u64| json!(B256::from(U256::from(v)));
    assert_eq!(storage(B256::ZERO).await, as_word(1_000_000));
    assert_eq!(
        storage(balance_slot(owner.address)).await,
        as_word(1_000_000)
    );
    assert_eq!(storage(balance_slot(holder)).await, as_word(0));

    let mut call_data = vec![0xa9, 0x05, 0x9c, 0xbb];
    call_data.extend_from_slice(word(holder).as_slice());
    call_data.extend_from_slice(&U256::from(250u64).to_be_bytes::<32>());
    let moved = sync(signed(
        owner,
        TxEip1559 {
            chain_id: 31337,
            nonce: 1,
            gas_limit: 100_000,
            to: TxKind::Call(token),
            input: call_data.into(),
            ..Default::default()
        },
    ))
    .await;
    assert_eq!(storage(balance_slot(holder)).await, as_word(250));
    assert_eq!(storage(balance_slot(owner.address)).await, as_word(999_750));
    let mut balance_of = vec![0x70, 0xa0, 0x82, 0x31];
    balance_of.extend_from_slice(word(holder).as_slice());
    assert_eq!(
        node.ok(
            "eth_call",
            json!([{"to": token, "data": Bytes::from(balance_of)}, "latest"])
        )
        .await,
        as_word(250)
    );

    let transfer_topic = keccak256("Transfer(address,address,uint256)");
    let logs = |filter: Value| {
        let node = &node;
        async move {
            node.ok("eth_getLogs", json!([filter]))
                .await
                .as_array()
                .unwrap()
                .clone()
        }
    };
    // The mint in the constructor, then the transfer, in chain order.
    let all = logs(json!({"fromBlock": "0x0", "toBlock": "latest", "address": token})).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["transactionHash"], deployed["transactionHash"]);
    assert_eq!(all[0]["topics"][1], json!(B256::ZERO));
    assert_eq!(all[1]["transactionHash"], moved["transactionHash"]);
    // Topic filters: Transfer to the holder only.
    let to_holder = json!({"fromBlock": "0x0", "address": [token],
                           "topics": [transfer_topic, null, word(holder)]});
    let found = logs(to_holder).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let log = &found[0];
    assert_eq!(log["topics"][0], json!(transfer_topic));
    assert_eq!(log["topics"][1], json!(word(owner.address)));
    assert_eq!(
        log["data"],
        json!(Bytes::from(U256::from(250u64).to_be_bytes::<32>()))
    );
    assert_eq!(log["blockHash"], moved["blockHash"]);
    assert_eq!(log["blockNumber"], moved["blockNumber"]);
    assert_eq!(log["logIndex"], moved["logs"][0]["logIndex"]);
    assert_eq!(log["removed"], false);
    assert_eq!(
        logs(json!({"blockHash": moved["blockHash"]})).await.len(),
        1
    );
    assert!(
        logs(json!({"fromBlock": "0x0", "address": Address::repeat_byte(0x11)}))
            .await
            .is_empty()
    );
    assert!(
        logs(json!({"fromBlock": "0x0", "topics": [B256::repeat_byte(5)]}))
            .await
            .is_empty()
    );
    // A backwards range, an unknown block hash: clear errors.
    let head = node.ok("eth_blockNumber", json!([])).await;
    assert_eq!(
        node.fails(
            "eth_getLogs",
            json!([{"fromBlock": head, "toBlock": "0x0"}])
        )
        .await,
        (-32602, "invalid params: fromBlock is after toBlock".into())
    );
    assert_eq!(
        node.fails("eth_getLogs", json!([{"blockHash": B256::repeat_byte(9)}]))
            .await,
        (-32000, "unknown block".into())
    );
    node.seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_block_seals_early_and_a_sync_send_can_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = zkbox_sequencer::SequencerConfig::dev(dir.path());
    config.block_interval = Duration::from_millis(49);
    let refused = zkbox_sequencer::Sequencer::start(config, None).unwrap_err();
    assert!(refused.contains("at least 50 ms"), "{refused}");

    // Blocks every 20 s, room for three transfers in each.
    let node = Node::start(|c| {
        c.block_interval = Duration::from_secs(20);
        c.block_gas_limit = 3 * 21_000;
        c.allow_unprotected_txs = true;
    })
    .await;
    let keys = dev();
    let to = Address::repeat_byte(0x77);
    let started = std::time::Instant::now();
    // EIP-7966: not included within the wait, code 4, the hash as data (it was accepted).
    let first = transfer(&keys[0], 0, to, 1, 31337);
    let timed_out = node
        .call("eth_sendRawTransactionSync", json!([first, 300]))
        .await;
    assert_eq!(timed_out["error"]["code"], 4, "{timed_out}");
    let hash = timed_out["error"]["data"].as_str().unwrap().to_owned();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        node.ok("eth_getTransactionReceipt", json!([hash]))
            .await
            .is_null()
    );
    // Two more fill the block's gas: it seals long before its 20 s are up. One of them is
    // a pre-EIP-155 legacy transaction, accepted because this node allows them.
    let second = node
        .ok(
            "eth_sendRawTransaction",
            json!([unprotected(&keys[1], 0, to)]),
        )
        .await;
    let third = node
        .ok(
            "eth_sendRawTransaction",
            json!([transfer(&keys[2], 0, to, 1, 31337)]),
        )
        .await;
    let receipts = [
        node.receipt(&hash).await,
        node.receipt(second.as_str().unwrap()).await,
        node.receipt(third.as_str().unwrap()).await,
    ];
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "sealed only after {:?}",
        started.elapsed()
    );
    for receipt in &receipts {
        assert_eq!(receipt["blockNumber"], "0x1", "{receipt}");
        assert_eq!(receipt["status"], "0x1");
    }
    assert_eq!(receipts[1]["type"], "0x0");
    let block = node.ok("eth_getBlockByNumber", json!(["0x1", false])).await;
    assert_eq!(block["gasUsed"], format!("{:#x}", 3 * 21_000));
    node.seq.stop();
}
