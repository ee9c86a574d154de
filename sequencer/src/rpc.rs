//! The Ethereum JSON-RPC the sequencer serves (HTTP and WebSocket on one port, with batch
//! requests), on jsonrpsee, with alloy's wire types.
//!
//! State is kept for the latest block only: `eth_getBalance`, `eth_getCode`,
//! `eth_getStorageAt`, `eth_getTransactionCount`, `eth_call` and `eth_estimateGas` answer
//! for `latest`, `pending`, `safe`, `finalized` or the head's number or hash, and refuse an
//! older block with "historical state not available". Block tags: `pending`, `safe` and
//! `finalized` name the latest sealed block (no proofs are reported yet), `earliest` genesis.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Header, Log, Transaction,
    TransactionReceipt, TransactionRequest,
};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{BatchRequestConfig, RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use serde::de::DeserializeOwned;

use crate::chain::{Chain, SealedBlock};
use crate::error::{EXECUTION_REVERTED, INVALID_PARAMS, SERVER_ERROR, SYNC_TIMEOUT};
use crate::rpc_batch::ConcurrentBatch;
use crate::sequencer::Sequencer;

/// Limits of the JSON-RPC server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Largest request body, in bytes.
    pub max_request_bytes: u32,
    /// Largest response body, in bytes.
    pub max_response_bytes: u32,
    /// Most calls in one batch request.
    pub max_batch: u32,
    /// Most open connections.
    pub max_connections: u32,
    /// Widest block range `eth_getLogs` searches.
    pub max_log_blocks: u64,
    /// Most logs `eth_getLogs` returns.
    pub max_logs: usize,
    /// Longest an `eth_sendRawTransactionSync` waits, in milliseconds.
    pub max_sync_wait_ms: u64,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_bytes: 10 << 20,
            max_response_bytes: 64 << 20,
            max_batch: 1000,
            max_connections: 1000,
            max_log_blocks: 10_000,
            max_logs: 10_000,
            max_sync_wait_ms: 30_000,
        }
    }
}

/// The suggested priority fee (`eth_maxPriorityFeePerGas`), in wei.
pub const SUGGESTED_TIP: u64 = 1_000_000;

/// Client version string (`web3_clientVersion`).
pub fn client_version() -> String {
    format!("zkbox/v{}", env!("CARGO_PKG_VERSION"))
}

/// Starts the server; returns its bound address and handle (stop it with `handle.stop()`).
pub async fn serve(
    sequencer: Sequencer,
    config: RpcConfig,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .build();
    let max_response_bytes = config.max_response_bytes;
    let server = Server::builder()
        .set_config(server_config)
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer_fn(move |service| ConcurrentBatch::new(service, max_response_bytes)),
        )
        .build(config.listen)
        .await?;
    let addr = server.local_addr()?;
    let module = module(sequencer, config).map_err(std::io::Error::other)?;
    Ok((addr, server.start(module)))
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

struct Ctx {
    seq: Sequencer,
    config: RpcConfig,
}

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn invalid(message: impl std::fmt::Display) -> ErrorObjectOwned {
    err(INVALID_PARAMS, format!("invalid params: {message}"))
}

/// Positional parameter `i`, which must be present.
fn param<T: DeserializeOwned>(params: &[serde_json::Value], i: usize) -> RpcResult<T> {
    let value = params
        .get(i)
        .ok_or_else(|| invalid(format!("missing value for required argument {i}")))?;
    serde_json::from_value(value.clone()).map_err(|e| invalid(format!("argument {i}: {e}")))
}

/// Positional parameter `i`, which may be absent or null.
fn opt_param<T: DeserializeOwned>(params: &[serde_json::Value], i: usize) -> RpcResult<Option<T>> {
    match params.get(i) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| invalid(format!("argument {i}: {e}"))),
    }
}

fn list(params: &Params<'_>) -> RpcResult<Vec<serde_json::Value>> {
    if params.is_object() {
        return Err(invalid("parameters must be a list"));
    }
    Ok(params
        .parse::<Option<Vec<serde_json::Value>>>()
        .map_err(|e| invalid(e.message()))?
        .unwrap_or_default())
}

/// Resolves a block tag or number to a sealed block number (`None`: no such block).
fn resolve_number(chain: &Chain, tag: BlockNumberOrTag) -> Option<u64> {
    let head = chain.head_number();
    match tag {
        BlockNumberOrTag::Earliest => Some(0),
        BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
        _ => Some(head),
    }
}

/// Checks that `block` names the head (state is kept for the latest block only).
fn require_head(chain: &Chain, block: Option<BlockId>) -> RpcResult<()> {
    let head = chain.head_number();
    let number = match block.unwrap_or_default() {
        BlockId::Hash(h) => chain
            .block_by_hash(&h.block_hash)
            .map(|b| b.header.number)
            .ok_or_else(|| err(SERVER_ERROR, format!("block {} not found", h.block_hash)))?,
        BlockId::Number(tag) => {
            resolve_number(chain, tag).ok_or_else(|| err(SERVER_ERROR, "header not found"))?
        }
    };
    if number != head {
        return Err(err(SERVER_ERROR, "historical state not available"));
    }
    Ok(())
}

fn rpc_header(block: &SealedBlock) -> Header {
    Header {
        hash: block.hash,
        inner: block.header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(block.size)),
    }
}

fn rpc_transaction(block: &SealedBlock, index: usize) -> Transaction {
    let (tx, from, _) = &block.transactions[index];
    Transaction {
        inner: Recovered::new_unchecked((**tx).clone(), *from),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(tx.effective_gas_price(block.header.base_fee_per_gas)),
        block_timestamp: Some(block.header.timestamp),
    }
}

fn pending_transaction(tx: &TxEnvelope, from: Address) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx.clone(), from),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

fn rpc_block(block: &SealedBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full(
            (0..block.transactions.len())
                .map(|i| rpc_transaction(block, i))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(block.transactions.iter().map(|(_, _, h)| *h).collect())
    };
    Block {
        header: rpc_header(block),
        uncles: Vec::new(),
        transactions,
        withdrawals: Some(Default::default()),
    }
}

fn rpc_logs(block: &SealedBlock, index: usize) -> Vec<Log> {
    let (_, _, hash) = &block.transactions[index];
    let first = block.first_log_index(index);
    block.receipts[index]
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| Log {
            inner: log.clone(),
            block_hash: Some(block.hash),
            block_number: Some(block.header.number),
            block_timestamp: Some(block.header.timestamp),
            transaction_hash: Some(*hash),
            transaction_index: Some(index as u64),
            log_index: Some(first + i as u64),
            removed: false,
        })
        .collect()
}

fn rpc_receipt(block: &SealedBlock, index: usize) -> TransactionReceipt {
    let (tx, from, hash) = &block.transactions[index];
    let mut logs = rpc_logs(block, index).into_iter();
    let inner = block.receipts[index]
        .clone()
        .map_logs(|_| logs.next().expect("one rpc log per log"));
    let contract_address = tx.kind().is_create().then(|| from.create(tx.nonce()));
    TransactionReceipt {
        inner,
        transaction_hash: *hash,
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(block.header.number),
        gas_used: block.gas_used_by(index),
        effective_gas_price: tx.effective_gas_price(block.header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: *from,
        to: tx.to(),
        contract_address,
    }
}

/// The receipt of a sealed transaction, if it is sealed.
pub fn receipt(seq: &Sequencer, hash: &B256) -> Option<TransactionReceipt> {
    let chain = seq.read_chain();
    let (number, index) = chain.tx_location(hash)?;
    Some(rpc_receipt(chain.block(number)?, index as usize))
}

fn block_by_id(chain: &Chain, id: BlockId) -> Option<Arc<SealedBlock>> {
    match id {
        BlockId::Hash(h) => chain.block_by_hash(&h.block_hash).cloned(),
        BlockId::Number(tag) => resolve_number(chain, tag).and_then(|n| chain.block(n).cloned()),
    }
}

/// Submits a transaction of a batch: validated alongside the batch's other transactions
/// (their senders are recovered together, [`crate::recovery`]), then pooled once the batch's
/// earlier transactions are, so a batch goes in in its order. Outside a batch (`turn` is
/// `None`) it is [`Sequencer::submit`].
async fn submit_in_turn(
    seq: &Sequencer,
    raw: Bytes,
    turn: Option<crate::rpc_batch::Turn>,
) -> Result<B256, crate::error::TxError> {
    let Some(mut turn) = turn else {
        return seq.submit(&raw).await;
    };
    let valid = seq.validate(&raw).await;
    turn.wait_for_earlier().await;
    let accepted = seq.admit(valid?);
    // Pooled (or refused): the batch's next transaction may go in.
    drop(turn);
    accepted?.await
}

fn send_error(e: crate::error::TxError) -> ErrorObjectOwned {
    err(e.code(), e.to_string())
}

/// Builds the method table.
fn module(
    seq: Sequencer,
    config: RpcConfig,
) -> Result<RpcModule<Ctx>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(Ctx { seq, config });
    m.register_method("eth_chainId", |_, c, _| -> RpcResult<U64> {
        Ok(U64::from(c.seq.config().chain_id))
    })?;
    m.register_method("net_version", |_, c, _| -> RpcResult<String> {
        Ok(c.seq.config().chain_id.to_string())
    })?;
    m.register_method("web3_clientVersion", |_, _, _| -> RpcResult<String> {
        Ok(client_version())
    })?;
    m.register_method("eth_syncing", |_, _, _| -> RpcResult<bool> { Ok(false) })?;
    m.register_method("eth_accounts", |_, _, _| -> RpcResult<Vec<Address>> {
        Ok(Vec::new())
    })?;
    m.register_method("eth_blockNumber", |_, c, _| -> RpcResult<U64> {
        Ok(U64::from(c.seq.read_chain().head_number()))
    })?;
    m.register_method("eth_gasPrice", |_, c, _| -> RpcResult<U256> {
        Ok(U256::from(c.seq.config().base_fee) + U256::from(SUGGESTED_TIP))
    })?;
    m.register_method("eth_maxPriorityFeePerGas", |_, _, _| -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_TIP))
    })?;
    m.register_method("eth_getBalance", |p, c, _| -> RpcResult<U256> {
        let p = list(&p)?;
        let address: Address = param(&p, 0)?;
        let chain = c.seq.read_chain();
        require_head(&chain, opt_param(&p, 1)?)?;
        Ok(chain
            .state()
            .account(&address)
            .map_or(U256::ZERO, |a| a.balance))
    })?;
    m.register_method("eth_getTransactionCount", |p, c, _| -> RpcResult<U64> {
        let p = list(&p)?;
        let address: Address = param(&p, 0)?;
        let block: Option<BlockId> = opt_param(&p, 1)?;
        let chain = c.seq.read_chain();
        let nonce = chain.state().account(&address).map_or(0, |a| a.nonce);
        if block == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
            return Ok(U64::from(c.seq.lock_pool().pending_nonce(&address, nonce)));
        }
        require_head(&chain, block)?;
        Ok(U64::from(nonce))
    })?;
    m.register_method("eth_getCode", |p, c, _| -> RpcResult<Bytes> {
        let p = list(&p)?;
        let address: Address = param(&p, 0)?;
        let chain = c.seq.read_chain();
        require_head(&chain, opt_param(&p, 1)?)?;
        let state = chain.state();
        Ok(state
            .account(&address)
            .and_then(|a| state.code(&a.code_hash))
            .unwrap_or_default())
    })?;
    m.register_method("eth_getStorageAt", |p, c, _| -> RpcResult<B256> {
        let p = list(&p)?;
        let address: Address = param(&p, 0)?;
        let slot: U256 = param(&p, 1)?;
        let chain = c.seq.read_chain();
        require_head(&chain, opt_param(&p, 2)?)?;
        Ok(B256::from(chain.state().storage(&address, &slot)))
    })?;
    m.register_method("eth_call", |p, c, _| -> RpcResult<Bytes> {
        let p = list(&p)?;
        let request: TransactionRequest = param(&p, 0)?;
        let chain = c.seq.read_chain();
        require_head(&chain, opt_param(&p, 1)?)?;
        let gas = request.gas.unwrap_or(chain.genesis().gas_limit);
        match crate::call::call(&chain, &request, gas).map_err(|e| err(SERVER_ERROR, e))? {
            crate::call::CallOutcome::Success { output, .. } => Ok(output),
            crate::call::CallOutcome::Revert { output, .. } => Err(revert_error(output)),
            crate::call::CallOutcome::Halt { reason, .. } => Err(err(SERVER_ERROR, reason)),
        }
    })?;
    m.register_method("eth_estimateGas", |p, c, _| -> RpcResult<U64> {
        let p = list(&p)?;
        let request: TransactionRequest = param(&p, 0)?;
        let chain = c.seq.read_chain();
        require_head(&chain, opt_param(&p, 1)?)?;
        crate::call::estimate_gas(&chain, &request)
            .map(U64::from)
            .map_err(|e| match e {
                crate::call::EstimateError::Revert(output) => revert_error(output),
                crate::call::EstimateError::Other(why) => err(SERVER_ERROR, why),
            })
    })?;
    m.register_method("eth_feeHistory", |p, c, _| -> RpcResult<FeeHistory> {
        let p = list(&p)?;
        let count: U64 = param(&p, 0)?;
        let newest: BlockNumberOrTag = param(&p, 1)?;
        let percentiles: Option<Vec<f64>> = opt_param(&p, 2)?;
        if let Some(ps) = &percentiles
            && (ps.len() > 100
                || ps.iter().any(|x| !(0.0..=100.0).contains(x))
                || ps.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(invalid(
                "reward percentiles must be ascending, within 0..=100",
            ));
        }
        let chain = c.seq.read_chain();
        let newest =
            resolve_number(&chain, newest).ok_or_else(|| err(SERVER_ERROR, "header not found"))?;
        let count = count.to::<u64>().clamp(0, 1024).min(newest + 1);
        Ok(fee_history(&chain, newest, count, percentiles.as_deref()))
    })?;
    m.register_async_method("eth_sendRawTransaction", |p, c, _| async move {
        // The turn is taken before the first await: in a batch, in the batch's order.
        let turn = crate::rpc_batch::take_turn();
        let p = list(&p)?;
        let raw: Bytes = param(&p, 0)?;
        submit_in_turn(&c.seq, raw, turn).await.map_err(send_error)
    })?;
    m.register_async_method("eth_sendRawTransactionSync", |p, c, _| async move {
        let p = list(&p)?;
        let raw: Bytes = param(&p, 0)?;
        let wait_ms: Option<U64> = opt_param(&p, 1)?;
        let wait_ms = wait_ms.map_or(c.config.max_sync_wait_ms.min(10_000), |w| w.to::<u64>());
        let wait = Duration::from_millis(wait_ms.min(c.config.max_sync_wait_ms));
        let hash = c.seq.submit(&raw).await.map_err(send_error)?;
        if c.seq.wait_for_inclusion(hash, wait).await.is_some()
            && let Some(r) = receipt(&c.seq, &hash)
        {
            return Ok(r);
        }
        Err(ErrorObjectOwned::owned(
            SYNC_TIMEOUT,
            "The transaction was added to the mempool but wasn't processed within the designated timeout interval.",
            Some(hash),
        ))
    })?;
    m.register_method(
        "eth_getTransactionReceipt",
        |p, c, _| -> RpcResult<Option<TransactionReceipt>> {
            let p = list(&p)?;
            let hash: B256 = param(&p, 0)?;
            Ok(receipt(&c.seq, &hash))
        },
    )?;
    m.register_method(
        "eth_getTransactionByHash",
        |p, c, _| -> RpcResult<Option<Transaction>> {
            let p = list(&p)?;
            let hash: B256 = param(&p, 0)?;
            let chain = c.seq.read_chain();
            if let Some((number, index)) = chain.tx_location(&hash) {
                return Ok(chain
                    .block(number)
                    .map(|b| rpc_transaction(b, index as usize)));
            }
            let pool = c.seq.lock_pool();
            Ok(pool
                .get(&hash)
                .map(|t| pending_transaction(&t.valid.tx, t.valid.sender)))
        },
    )?;
    m.register_method(
        "eth_getBlockByNumber",
        |p, c, _| -> RpcResult<Option<Block>> {
            let p = list(&p)?;
            let tag: BlockNumberOrTag = param(&p, 0)?;
            let full: bool = opt_param(&p, 1)?.unwrap_or(false);
            let chain = c.seq.read_chain();
            Ok(resolve_number(&chain, tag)
                .and_then(|n| chain.block(n))
                .map(|b| rpc_block(b, full)))
        },
    )?;
    m.register_method(
        "eth_getBlockByHash",
        |p, c, _| -> RpcResult<Option<Block>> {
            let p = list(&p)?;
            let hash: B256 = param(&p, 0)?;
            let full: bool = opt_param(&p, 1)?.unwrap_or(false);
            let chain = c.seq.read_chain();
            Ok(chain.block_by_hash(&hash).map(|b| rpc_block(b, full)))
        },
    )?;
    m.register_method(
        "eth_getBlockReceipts",
        |p, c, _| -> RpcResult<Option<Vec<TransactionReceipt>>> {
            let p = list(&p)?;
            let id: BlockId = param(&p, 0)?;
            let chain = c.seq.read_chain();
            Ok(block_by_id(&chain, id).map(|b| {
                (0..b.transactions.len())
                    .map(|i| rpc_receipt(&b, i))
                    .collect()
            }))
        },
    )?;
    m.register_method("eth_getLogs", |p, c, _| -> RpcResult<Vec<Log>> {
        let p = list(&p)?;
        let filter: Filter = param(&p, 0)?;
        let chain = c.seq.read_chain();
        get_logs(&chain, &filter, &c.config)
    })?;
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |p, pending: PendingSubscriptionSink, c, _| async move {
            let kind = match p.parse::<Vec<serde_json::Value>>() {
                Ok(p) => p.first().and_then(|k| k.as_str().map(str::to_owned)),
                Err(_) => None,
            };
            if kind.as_deref() != Some("newHeads") {
                pending
                    .reject(invalid("only \"newHeads\" subscriptions are supported"))
                    .await;
                return Ok(());
            }
            let mut heads = c.seq.subscribe_heads();
            let sink = pending.accept().await?;
            loop {
                tokio::select! {
                    _ = sink.closed() => break,
                    head = heads.recv() => match head {
                        Ok(block) => {
                            let msg = SubscriptionMessage::from(serde_json::value::to_raw_value(&rpc_header(&block))?);
                            if sink.send(msg).await.is_err() {
                                break;
                            }
                        }
                        // A slow subscriber misses heads rather than holding the sequencer.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(m)
}

fn revert_error(output: Bytes) -> ErrorObjectOwned {
    let message = match alloy_sol_revert_reason(&output) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".to_owned(),
    };
    ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(output))
}

/// The reason string of a Solidity `Error(string)` revert.
fn alloy_sol_revert_reason(output: &[u8]) -> Option<String> {
    const SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = output.strip_prefix(&SELECTOR)?;
    let len = U256::from_be_slice(body.get(32..64)?).to::<usize>();
    let text = body.get(64..64usize.checked_add(len)?)?;
    String::from_utf8(text.to_vec()).ok()
}

fn fee_history(chain: &Chain, newest: u64, count: u64, percentiles: Option<&[f64]>) -> FeeHistory {
    let oldest = newest + 1 - count;
    let base_fee = u128::from(chain.genesis().base_fee);
    let mut history = FeeHistory {
        oldest_block: oldest,
        base_fee_per_gas: vec![base_fee; count as usize + 1],
        ..Default::default()
    };
    let mut rewards = Vec::new();
    for n in oldest..=newest {
        let Some(block) = chain.block(n) else {
            continue;
        };
        history
            .gas_used_ratio
            .push(block.header.gas_used as f64 / block.header.gas_limit.max(1) as f64);
        if let Some(ps) = percentiles {
            let mut tips: Vec<u128> = block
                .transactions
                .iter()
                .map(|(tx, _, _)| tx.effective_tip_per_gas(base_fee as u64).unwrap_or(0))
                .collect();
            tips.sort_unstable();
            rewards.push(
                ps.iter()
                    .map(|p| {
                        if tips.is_empty() {
                            return 0;
                        }
                        let i = ((p / 100.0) * (tips.len() - 1) as f64).round() as usize;
                        tips[i.min(tips.len() - 1)]
                    })
                    .collect(),
            );
        }
    }
    history.base_fee_per_blob_gas = vec![0; count as usize + 1];
    history.blob_gas_used_ratio = vec![0.0; count as usize];
    if percentiles.is_some() {
        history.reward = Some(rewards);
    }
    history
}

fn get_logs(chain: &Chain, filter: &Filter, config: &RpcConfig) -> RpcResult<Vec<Log>> {
    let blocks: Vec<Arc<SealedBlock>> = match &filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => vec![
            chain
                .block_by_hash(hash)
                .cloned()
                .ok_or_else(|| err(SERVER_ERROR, "unknown block"))?,
        ],
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => {
            let head = chain.head_number();
            let number = |tag: Option<BlockNumberOrTag>| match tag {
                None => head,
                Some(BlockNumberOrTag::Number(n)) => n.min(head),
                Some(BlockNumberOrTag::Earliest) => 0,
                Some(_) => head,
            };
            let (from, to) = (number(*from_block), number(*to_block));
            if from > to {
                return Err(invalid("fromBlock is after toBlock"));
            }
            if to - from >= config.max_log_blocks {
                return Err(err(
                    SERVER_ERROR,
                    format!(
                        "block range is too wide (at most {} blocks)",
                        config.max_log_blocks
                    ),
                ));
            }
            (from..=to)
                .filter_map(|n| chain.block(n).cloned())
                .collect()
        }
    };
    let mut out = Vec::new();
    for block in blocks {
        if !filter.matches_bloom(block.header.logs_bloom) {
            continue;
        }
        for index in 0..block.transactions.len() {
            for log in rpc_logs(&block, index) {
                if filter.matches(&log.inner) {
                    if out.len() >= config.max_logs {
                        return Err(err(
                            SERVER_ERROR,
                            format!("query returned more than {} results", config.max_logs),
                        ));
                    }
                    out.push(log);
                }
            }
        }
    }
    Ok(out)
}
