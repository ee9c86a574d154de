//! The sequencer: accepts transactions durably, seals blocks on a timer, and hands batches of
//! sealed blocks to the prover.
//!
//! # Durability
//!
//! - [`Sequencer::submit`] returns a hash only after the raw transaction is in the fsync'd
//!   acceptance log (`accepted.log`, group commit: one `fdatasync` per group of arrivals).
//! - The builder seals a block, appends its [`BlockRecord`] to the block log (`blocks.log`)
//!   and fsyncs it, and only then publishes the block: receipts, head number, subscriptions.
//! - At start the block log is replayed from genesis (each block re-executed, its hash
//!   checked), then every acceptance-log transaction that no block holds goes back into the
//!   mempool, and the acceptance log is rewritten to hold only those.
//!
//! So after a crash at any moment, every acknowledged transaction is in a block or in the
//! mempool (unless it became invalid, e.g. replaced), and the chain equals a replay of the
//! block log from genesis.
//!
//! # Hand-off and backpressure
//!
//! With a [`BatchSink`] attached, each block is sealed together with its witness
//! ([`zkbox_evm::execute_block_with_witness`]); witnesses are grouped into a [`Batch`] every
//! `batch_max_blocks` blocks or `batch_max_age`, whichever comes first, and offered to the
//! sink. The prover's side calls [`Sequencer::batch_proven`] when a batch is done. The
//! hand-off log ([`crate::handoff`]) carries the proven prefix across restarts: at start,
//! the blocks after it are executed again with their witnesses and offered anew. With
//! `backpressure_slow` batches outstanding the block interval is multiplied by 4; with
//! `backpressure_stop` outstanding no block is sealed until one is proven. Both are logged
//! and exported as the `zkbox_sequencer_backpressure` gauge (0 none, 1 slow, 2 stopped).
//!
//! # One process per data directory
//!
//! [`Sequencer::start`] takes an exclusive lock on `<data_dir>/LOCK` (which holds the
//! owner's process id) and refuses a directory another sequencer holds: two writers would
//! interleave their logs. [`Sequencer::stop`] waits for the block builder and releases it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, U256};
use zkbox_evm::{Block, Witness};

use crate::chain::{BlockRecord, Chain, Genesis, SealedBlock};
use crate::error::TxError;
use crate::handoff::Handoff;
use crate::mempool::{AccountView, Mempool, PoolConfig, TxRules, ValidTx, check, with_sender};
use crate::record_log::{GroupCommit, RecordLog};

/// Header of the acceptance log.
pub const ACCEPTANCE_MAGIC: &[u8; 8] = b"ZKBXACC1";
/// Header of the block log.
pub const BLOCK_MAGIC: &[u8; 8] = b"ZKBXBLK1";

/// Everything the sequencer is configured with.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Directory of `accepted.log` and `blocks.log`.
    pub data_dir: PathBuf,
    /// Chain id.
    pub chain_id: u64,
    /// Accounts funded at genesis.
    pub alloc: Vec<(Address, U256)>,
    /// Time between blocks (sealing is skipped when nothing is ready).
    pub block_interval: Duration,
    /// Block gas limit; a block is also sealed early once this much gas is waiting.
    pub block_gas_limit: u64,
    /// Most transactions in one block.
    pub max_block_transactions: usize,
    /// The (constant) base fee, in wei.
    pub base_fee: u64,
    /// Fork, as revm's spec id number.
    pub spec: u8,
    /// Fee recipient of sealed blocks.
    pub beneficiary: Address,
    /// Mempool limits.
    pub pool: PoolConfig,
    /// A batch closes after this many blocks.
    pub batch_max_blocks: usize,
    /// A batch closes once its first block is this old.
    pub batch_max_age: Duration,
    /// With this many batches awaiting proofs, blocks are sealed 4x less often.
    pub backpressure_slow: usize,
    /// With this many batches awaiting proofs, no block is sealed.
    pub backpressure_stop: usize,
    /// Accept legacy transactions signed without a chain id (pre-EIP-155, replayable on
    /// every chain); off by default, as in geth (`--rpc.allow-unprotected-txs`).
    pub allow_unprotected_txs: bool,
    /// Sender-recovery worker threads ([`crate::recovery`]); 0: half the cores, at least one
    /// (the other half serve JSON-RPC, build blocks and write the logs).
    pub recovery_threads: usize,
}

impl SequencerConfig {
    /// A development configuration in `data_dir`: chain 31337, the ten accounts of the
    /// standard mnemonic funded with 10,000 ETH each, 250 ms blocks.
    pub fn dev(data_dir: impl Into<PathBuf>) -> Self {
        let eth = U256::from(10u64).pow(U256::from(18));
        SequencerConfig {
            data_dir: data_dir.into(),
            chain_id: 31337,
            alloc: crate::dev::dev_keys(crate::dev::DEV_MNEMONIC, 10)
                .into_iter()
                .map(|k| (k.address, eth * U256::from(10_000)))
                .collect(),
            block_interval: Duration::from_millis(250),
            block_gas_limit: 1_000_000_000,
            max_block_transactions: 20_000,
            base_fee: 1_000_000_000,
            spec: zkbox_evm::SpecId::PRAGUE as u8,
            beneficiary: Address::ZERO,
            pool: PoolConfig::default(),
            batch_max_blocks: 16,
            batch_max_age: Duration::from_secs(4),
            backpressure_slow: 4,
            backpressure_stop: 8,
            allow_unprotected_txs: false,
            recovery_threads: 0,
        }
    }

    /// Replaces the genesis allocation with the first `count` accounts of `mnemonic`, each
    /// funded with `balance_eth` ETH.
    pub fn with_dev_accounts(mut self, mnemonic: &str, count: u32, balance_eth: u64) -> Self {
        let wei = U256::from(10u64).pow(U256::from(18)) * U256::from(balance_eth);
        self.alloc = crate::dev::dev_keys(mnemonic, count)
            .into_iter()
            .map(|k| (k.address, wei))
            .collect();
        self
    }

    fn genesis(&self) -> Genesis {
        Genesis {
            chain_id: self.chain_id,
            alloc: self.alloc.clone(),
            timestamp: 0,
            gas_limit: self.block_gas_limit,
            base_fee: self.base_fee,
            spec: self.spec,
        }
    }
}

/// Sealed blocks' witnesses, offered to the prover together.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Batch number, from 1.
    pub number: u64,
    /// Number of the first block in the batch.
    pub first_block: u64,
    /// Hashes of the batch's blocks, in order.
    pub block_hashes: Vec<B256>,
    /// One witness per block, in order (see docs/evm.md for the format).
    pub witnesses: Vec<Witness>,
}

/// Where sealed batches go: the narrow interface the host's proving side implements.
pub trait BatchSink: Send + Sync {
    /// Takes a batch for proving. Must return quickly (queue it); call
    /// [`Sequencer::batch_proven`] with its number once it is proven.
    fn offer(&self, batch: Batch);
}

/// How hard backpressure is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backpressure {
    /// Sealing at the configured interval.
    None,
    /// Sealing 4x less often.
    Slow,
    /// Not sealing.
    Stopped,
}

struct Inner {
    config: SequencerConfig,
    rules: TxRules,
    chain: RwLock<Chain>,
    pool: Mutex<Mempool>,
    acceptance: GroupCommit,
    heads: tokio::sync::broadcast::Sender<Arc<SealedBlock>>,
    head_number: tokio::sync::watch::Sender<u64>,
    halted: Mutex<Option<String>>,
    wake: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    waiting_gas: AtomicU64,
    sink: Option<Arc<dyn BatchSink>>,
    handoff: Mutex<Handoff>,
    /// The block builder, joined by [`Sequencer::stop`].
    builder: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The data directory's lock, held until [`Sequencer::stop`].
    data_dir_lock: Mutex<Option<std::fs::File>>,
    /// Held through [`Sequencer::stop`], so that a second caller returns only once the
    /// first has finished.
    stopping: Mutex<()>,
    backpressure: Mutex<Backpressure>,
    recovery: crate::recovery::SenderRecovery,
}

/// A running sequencer (cheap to clone; the builder thread stops with [`Sequencer::stop`]).
#[derive(Clone)]
pub struct Sequencer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

/// What recovery found at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Blocks replayed from the block log.
    pub blocks: u64,
    /// Acceptance-log transactions put back in the mempool.
    pub requeued: usize,
    /// Acceptance-log transactions no longer valid (replaced, nonce used), dropped.
    pub dropped: usize,
    /// Bytes cut from torn log tails.
    pub truncated_bytes: u64,
    /// Sealed blocks not yet in a proven batch, executed again with their witnesses and
    /// offered to the prover anew (only with a [`BatchSink`] attached).
    pub reoffered_blocks: u64,
}

impl Sequencer {
    /// Opens the data directory, recovers (replay, requeue) and starts the block builder.
    pub fn start(
        config: SequencerConfig,
        sink: Option<Arc<dyn BatchSink>>,
    ) -> Result<(Sequencer, RecoveryReport), String> {
        if config.block_interval < Duration::from_millis(50) {
            return Err("block interval must be at least 50 ms".into());
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let data_dir_lock = lock_data_dir(&config.data_dir)?;
        let block_path = config.data_dir.join("blocks.log");
        let accept_path = config.data_dir.join("accepted.log");
        let blocks = RecordLog::open(&block_path, BLOCK_MAGIC)
            .map_err(|e| format!("block log {}: {e}", block_path.display()))?;
        let mut handoff = Handoff::open(&config.data_dir.join("handoff.log"))?;
        let witnesses_after = sink.as_ref().map(|_| handoff.proven_through());
        let (chain, unproven) =
            Chain::replay_with_witnesses(config.genesis(), &blocks.records, witnesses_after)?;
        handoff.check_against(|n| chain.block(n).map(|b| b.hash))?;
        let accepted = RecordLog::open(&accept_path, ACCEPTANCE_MAGIC)
            .map_err(|e| format!("acceptance log {}: {e}", accept_path.display()))?;
        let rules = TxRules {
            chain_id: config.chain_id,
            block_gas_limit: config.block_gas_limit,
            base_fee: config.base_fee,
            max_tx_bytes: config.pool.max_tx_bytes,
        };
        let mut report = RecoveryReport {
            blocks: chain.head_number(),
            truncated_bytes: blocks.truncated_bytes + accepted.truncated_bytes,
            reoffered_blocks: unproven.len() as u64,
            ..Default::default()
        };
        for (number, hash, witness) in unproven {
            handoff.push(number, hash, witness, true);
        }
        let mut pool = Mempool::new(config.pool.clone());
        let mut keep = Vec::new();
        let mut seen = HashSet::new();
        // Senders recovered together (eight at a time where the processor allows).
        let checked: Vec<_> = accepted
            .records
            .iter()
            .map(|raw| check(raw, &rules))
            .collect();
        let signatures: Vec<_> = checked
            .iter()
            .flatten()
            .map(|tx| (*tx.signature(), tx.signature_hash()))
            .collect();
        let mut senders = zkbox_evm::recover::recover_addresses(&signatures).into_iter();
        for (raw, checked) in accepted.records.iter().zip(checked) {
            let valid = checked.and_then(|tx| with_sender(tx, senders.next().flatten()));
            let Ok(valid) = valid else {
                report.dropped += 1;
                continue;
            };
            if chain.tx_location(&valid.hash).is_some() || !seen.insert(valid.hash) {
                continue;
            }
            let hash = valid.hash;
            let account = account_view(&chain, &valid.sender);
            match pool.insert(valid, account) {
                Ok(_) => {
                    pool.mark_durable(&hash);
                    keep.push(raw.clone());
                    report.requeued += 1;
                }
                Err(_) => report.dropped += 1,
            }
        }
        drop(accepted.log);
        let log = RecordLog::rewrite(&accept_path, ACCEPTANCE_MAGIC, &keep)
            .map_err(|e| format!("cannot rewrite {}: {e}", accept_path.display()))?;
        let acceptance = GroupCommit::start(log, "acceptance", 65_536);
        let head = chain.head_number();
        let inner = Arc::new(Inner {
            rules,
            chain: RwLock::new(chain),
            pool: Mutex::new(pool),
            acceptance,
            heads: tokio::sync::broadcast::channel(256).0,
            head_number: tokio::sync::watch::channel(head).0,
            halted: Mutex::new(None),
            wake: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            waiting_gas: AtomicU64::new(0),
            sink,
            handoff: Mutex::new(handoff),
            builder: Mutex::new(None),
            data_dir_lock: Mutex::new(Some(data_dir_lock)),
            stopping: Mutex::new(()),
            backpressure: Mutex::new(Backpressure::None),
            recovery: crate::recovery::SenderRecovery::start(match config.recovery_threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
                n => n,
            })
            .map_err(|e| format!("cannot start sender recovery threads: {e}"))?,
            config,
        });
        let builder = Builder {
            inner: inner.clone(),
            log: blocks.log,
        };
        let watched = inner.clone();
        let thread = std::thread::Builder::new()
            .name("block-builder".into())
            .spawn(move || {
                // A panic in the builder must not leave a sequencer that acknowledges
                // transactions it will never seal: it halts acceptance like a failed seal.
                let run = std::panic::AssertUnwindSafe(move || builder.run());
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    tracing::error!(panic = %why, "the block builder panicked; the sequencer stops accepting");
                    *lock(&watched.halted) = Some(format!("block builder panicked: {why}"));
                }
            })
            .map_err(|e| format!("cannot start the block builder: {e}"))?;
        *lock(&inner.builder) = Some(thread);
        tracing::info!(
            blocks = report.blocks,
            requeued = report.requeued,
            dropped = report.dropped,
            truncated_bytes = report.truncated_bytes,
            reoffered_blocks = report.reoffered_blocks,
            "sequencer recovered"
        );
        Ok((Sequencer { inner }, report))
    }

    /// Stops accepting (later submissions are refused as unavailable; acknowledged ones
    /// are in the acceptance log, which is synced and closed), waits for the block builder
    /// to finish (a block being sealed is sealed; pending transactions stay in the
    /// acceptance log) and releases the data directory. Blocks the calling thread for at
    /// most one seal; calling it again, from anywhere, returns once the first call has.
    pub fn stop(&self) {
        let _stopping = lock(&self.inner.stopping);
        {
            // Under the pool lock: a transaction pooled from here on is refused.
            let _pool = self.lock_pool();
            let mut halted = lock(&self.inner.halted);
            if halted.is_none() {
                *halted = Some("the sequencer is stopping".into());
            }
        }
        self.inner.acceptance.close();
        self.inner.stop.store(true, Ordering::SeqCst);
        self.wake_builder();
        let builder = lock(&self.inner.builder).take();
        if let Some(builder) = builder
            && builder.thread().id() != std::thread::current().id()
        {
            let _ = builder.join();
        }
        lock(&self.inner.data_dir_lock).take();
    }

    /// The configuration.
    pub fn config(&self) -> &SequencerConfig {
        &self.inner.config
    }

    /// Validates a raw transaction, pools it and returns its hash once the acceptance log
    /// holds it durably. Any error means it was not accepted.
    pub async fn submit(&self, raw: &[u8]) -> Result<B256, TxError> {
        let valid = self.validate(raw).await?;
        self.admit(valid)?.await
    }

    /// The stateless checks of [`Sequencer::submit`], sender recovery included (most of a
    /// submission's CPU, done on the recovery workers together with other submissions'):
    /// safe to run in any order.
    pub async fn validate(&self, raw: &[u8]) -> Result<ValidTx, TxError> {
        if let Some(why) = self.halted() {
            return Err(TxError::Unavailable(why));
        }
        let tx = check(raw, &self.inner.rules)?;
        if alloy_consensus::Transaction::chain_id(&tx).is_none()
            && !self.inner.config.allow_unprotected_txs
        {
            return Err(TxError::Unprotected);
        }
        let sender = self
            .inner
            .recovery
            .recover(*tx.signature(), tx.signature_hash())
            .await;
        with_sender(tx, sender)
    }

    /// Pools a validated transaction now, and returns the wait for its acceptance-log
    /// record's fsync, which resolves to its hash (any error: not accepted). Transactions
    /// pooled one after another go in in that order.
    pub fn admit(
        &self,
        valid: ValidTx,
    ) -> Result<impl std::future::Future<Output = Result<B256, TxError>> + use<>, TxError> {
        let hash = valid.hash;
        let gas = alloy_consensus::Transaction::gas_limit(valid.tx.as_ref());
        let record = valid.raw.to_vec();
        self.pool_insert(valid)?;
        // Finish in a task of its own, so that a caller that goes away (a closed connection
        // drops its request future) cannot leave the transaction pooled but never durable.
        let seq = self.clone();
        let finish = tokio::spawn(async move {
            match seq.inner.acceptance.commit(record).await {
                Ok(()) => {
                    seq.lock_pool().mark_durable(&hash);
                    metrics::counter!("zkbox_sequencer_accepted_total").increment(1);
                    let waiting = seq.inner.waiting_gas.fetch_add(gas, Ordering::Relaxed) + gas;
                    if waiting >= seq.inner.config.block_gas_limit {
                        seq.wake_builder();
                    }
                    Ok(hash)
                }
                Err(why) => {
                    seq.lock_pool().remove(&hash);
                    metrics::counter!("zkbox_sequencer_rejected_total", "reason" => "log")
                        .increment(1);
                    Err(TxError::NotDurable(why))
                }
            }
        });
        Ok(async move {
            finish.await.unwrap_or_else(|e| {
                Err(TxError::NotDurable(format!("acceptance task failed: {e}")))
            })
        })
    }

    fn pool_insert(&self, valid: ValidTx) -> Result<(), TxError> {
        let chain = self.read_chain();
        let account = account_view(&chain, &valid.sender);
        let result = {
            let mut pool = self.lock_pool();
            match self.halted() {
                Some(why) => Err(TxError::Unavailable(why)),
                None => pool.insert(valid, account),
            }
        };
        if let Err(e) = &result {
            metrics::counter!("zkbox_sequencer_rejected_total", "reason" => "invalid").increment(1);
            tracing::debug!(error = %e, "transaction refused");
        }
        result.map(|_| ())
    }

    /// The chain, for reading (hold it briefly: the builder needs it to seal).
    pub fn read_chain(&self) -> std::sync::RwLockReadGuard<'_, Chain> {
        self.inner
            .chain
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mempool.
    pub fn lock_pool(&self) -> std::sync::MutexGuard<'_, Mempool> {
        self.inner
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes to newly sealed (and durable) blocks.
    pub fn subscribe_heads(&self) -> tokio::sync::broadcast::Receiver<Arc<SealedBlock>> {
        self.inner.heads.subscribe()
    }

    /// Watches the latest sealed block number.
    pub fn watch_head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.head_number.subscribe()
    }

    /// Why the sequencer stopped accepting, if it did: a failed block-log or hand-off-log
    /// write, a panic in the block builder, or [`Sequencer::stop`].
    pub fn halted(&self) -> Option<String> {
        self.inner
            .halted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current backpressure level.
    pub fn backpressure(&self) -> Backpressure {
        *self
            .inner
            .backpressure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Batches offered to the sink and not yet proven.
    pub fn batches_awaiting_proof(&self) -> usize {
        lock(&self.inner.handoff).awaiting()
    }

    /// Records that batch `number` is proven, releasing backpressure. Where that extends the
    /// proven prefix of the chain the hand-off log records it; if that write fails, the
    /// error is logged and the batch is offered again after the next restart.
    pub fn batch_proven(&self, number: u64) {
        let hash_of = |n: u64| self.read_chain().block(n).map(|b| b.hash);
        if let Err(e) = lock(&self.inner.handoff).proven(number, hash_of) {
            tracing::error!(batch = number, error = %e, "cannot record a proven batch");
        }
        self.wake_builder();
    }

    fn wake_builder(&self) {
        let (flag, cv) = &self.inner.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_one();
    }

    /// Waits until the transaction is sealed or `timeout` passes; returns its block number.
    pub async fn wait_for_inclusion(&self, hash: B256, timeout: Duration) -> Option<u64> {
        let mut head = self.watch_head();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((number, _)) = self.read_chain().tx_location(&hash) {
                return Some(number);
            }
            match tokio::time::timeout_at(deadline, head.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

/// How often an open block takes in newly durable transactions: a tenth of the block
/// interval, within these bounds (each round scans the pool's senders under its lock).
const OPEN_BLOCK_TICK_MIN: Duration = Duration::from_millis(5);
/// See [`OPEN_BLOCK_TICK_MIN`].
const OPEN_BLOCK_TICK_MAX: Duration = Duration::from_millis(25);
/// Below this much gas left no transaction fits: the open block is full.
const MIN_TRANSACTION_GAS: u64 = 21_000;

/// A block executed for sealing: applied already (with its witness, when a prover takes
/// batches), or sealed with its changes still to apply.
enum Executed {
    Applied(Box<zkbox_evm::Witness>),
    Sealed(zkbox_evm::BlockChanges),
}

/// Locks a mutex, going on after a panic elsewhere (the data stay consistent: every
/// critical section leaves them whole).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the exclusive lock on `<dir>/LOCK` and writes this process's id into it.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, String> {
    use std::io::Write as _;
    let path = dir.join("LOCK");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!(
                "data directory {} is in use by another sequencer (process {})",
                dir.display(),
                owner.trim()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

fn account_view(chain: &Chain, address: &Address) -> AccountView {
    chain
        .state()
        .account(address)
        .map(|a| AccountView {
            nonce: a.nonce,
            balance: a.balance,
        })
        .unwrap_or_default()
}

struct Builder {
    inner: Arc<Inner>,
    log: RecordLog,
}

impl Builder {
    fn handle(&self) -> Sequencer {
        Sequencer {
            inner: self.inner.clone(),
        }
    }

    /// Seals blocks until the sequencer stops.
    fn run(self) {
        if self.inner.sink.is_none() {
            self.run_open_blocks();
        } else {
            self.run_sealing_with_witnesses();
        }
    }

    /// With a prover attached: every block interval (stretched or stopped by backpressure),
    /// executes the ready transactions and seals them with the block's witness.
    fn run_sealing_with_witnesses(mut self) {
        let mut last_seal = Instant::now();
        while !self.inner.stop.load(Ordering::SeqCst) {
            let level = self.update_backpressure();
            let interval = match level {
                Backpressure::None => self.inner.config.block_interval,
                Backpressure::Slow => self.inner.config.block_interval * 4,
                Backpressure::Stopped => self.inner.config.block_interval,
            };
            let deadline = last_seal + interval;
            let now = Instant::now();
            let full =
                self.inner.waiting_gas.load(Ordering::Relaxed) >= self.inner.config.block_gas_limit;
            if now < deadline && !(full && level == Backpressure::None) {
                self.wait_for_wake(deadline - now);
                continue;
            }
            if self.handle().halted().is_some() {
                last_seal = Instant::now();
                continue;
            }
            let offered = self.close_batch_if_due();
            self.halt_on_error(offered);
            if level == Backpressure::Stopped {
                last_seal = Instant::now();
                continue;
            }
            last_seal = Instant::now();
            self.inner.waiting_gas.store(0, Ordering::Relaxed);
            let sealed = self.seal_with_witness();
            self.halt_on_error(sealed);
        }
    }

    /// Without a prover attached: executes transactions into an open block as they become
    /// durable and seals it every block interval, or as soon as it is full.
    fn run_open_blocks(mut self) {
        let interval = self.inner.config.block_interval;
        let mut deadline = Instant::now() + interval;
        while !self.inner.stop.load(Ordering::SeqCst) {
            if self.handle().halted().is_some() {
                self.wait_for_wake(interval);
                continue;
            }
            let built = self.build_open_block(deadline);
            self.halt_on_error(built);
            // The next block closes an interval after this one was due (sealing time does
            // not stretch the cadence), or after now if this one closed early (full).
            deadline = deadline.min(Instant::now()) + interval;
        }
    }

    /// Stops acceptance and sealing after a failure to seal (the logs are intact; a restart
    /// recovers from them).
    fn halt_on_error(&self, result: Result<(), String>) {
        if let Err(why) = result {
            tracing::error!(error = %why, "the block builder failed; the sequencer stops accepting");
            *self.inner.halted.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        }
    }

    /// Sleeps until `timeout` passes or the builder is woken (a block's worth of gas
    /// arrived, a batch was proven, or the sequencer stops).
    fn wait_for_wake(&self, timeout: Duration) {
        let (flag, cv) = &self.inner.wake;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = cv
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }

    fn update_backpressure(&self) -> Backpressure {
        let outstanding = self.handle().batches_awaiting_proof();
        let config = &self.inner.config;
        let level = if self.inner.sink.is_none() || outstanding < config.backpressure_slow {
            Backpressure::None
        } else if outstanding < config.backpressure_stop {
            Backpressure::Slow
        } else {
            Backpressure::Stopped
        };
        let mut current = self
            .inner
            .backpressure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *current != level {
            match level {
                Backpressure::None => {
                    tracing::info!(outstanding, "backpressure released: sealing at full rate")
                }
                Backpressure::Slow => tracing::warn!(
                    outstanding,
                    "backpressure: batches await proofs, sealing 4x less often"
                ),
                Backpressure::Stopped => tracing::warn!(
                    outstanding,
                    "backpressure: too many batches await proofs, sealing stopped"
                ),
            }
            *current = level;
        }
        metrics::gauge!("zkbox_sequencer_backpressure").set(level as u8 as f64);
        metrics::gauge!("zkbox_sequencer_batches_awaiting_proof").set(outstanding as f64);
        level
    }

    /// Executes the ready transactions as one block together with its witness, and seals
    /// it (none ready: nothing happens). The chain is write-locked while the block executes:
    /// the witness comes from applying it.
    fn seal_with_witness(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let config = &self.inner.config;
        let handle = self.handle();
        let chain_lock = &self.inner.chain;
        let mut txs = {
            let chain = handle.read_chain();
            let pool = handle.lock_pool();
            pool.ready(
                |a| chain.state().account(a).map_or(0, |acc| acc.nonce),
                config.block_gas_limit,
                config.max_block_transactions,
            )
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Retried without any transaction the executor refuses.
        while !txs.is_empty() {
            let mut chain = chain_lock.write().unwrap_or_else(|p| p.into_inner());
            let block = Block {
                env: chain.next_env(timestamp, config.beneficiary),
                transactions: txs.iter().map(|t| (*t.tx).clone()).collect(),
            };
            let hashes = chain.block_hashes();
            let executed =
                zkbox_evm::execute_block_with_witness(chain.state_mut(), &block, &hashes);
            drop(chain);
            match executed {
                Ok((output, witness)) => {
                    let witness = Executed::Applied(Box::new(witness));
                    return self.publish(txs, &block, output, witness, started);
                }
                Err(e) => txs = self.without_refused(txs, &e)?,
            }
        }
        Ok(())
    }

    /// Executes durable ready transactions into a block opened now, every tick as they
    /// arrive, and seals it at `deadline` or as soon as it is full (no transaction: no
    /// block). The chain is read-locked throughout: readers and submitters go on, and this
    /// thread, its only writer, takes the write lock only to publish the sealed block.
    fn build_open_block(&mut self, deadline: Instant) -> Result<(), String> {
        let handle = self.handle();
        let config = &self.inner.config;
        let chain = handle.read_chain();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let env = chain.next_env(timestamp, config.beneficiary);
        let hashes = chain.block_hashes();
        let mut open = zkbox_evm::OpenBlock::new(chain.state(), env, &hashes);
        let mut txs = Vec::new();
        let tick = (config.block_interval / 10).clamp(OPEN_BLOCK_TICK_MIN, OPEN_BLOCK_TICK_MAX);
        loop {
            self.inner.waiting_gas.store(0, Ordering::Relaxed);
            let round = Instant::now();
            let full = self.execute_ready(&mut open, &mut txs)?;
            let now = Instant::now();
            metrics::histogram!("zkbox_sequencer_execute_seconds")
                .record((now - round).as_secs_f64());
            if self.inner.stop.load(Ordering::SeqCst) {
                // Not sealed: the transactions stay pooled and in the acceptance log.
                return Ok(());
            }
            if full || now >= deadline {
                break;
            }
            self.wait_for_wake(tick.min(deadline - now));
        }
        if txs.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let block = Block {
            env: open.env().clone(),
            transactions: txs.iter().map(|t: &ValidTx| (*t.tx).clone()).collect(),
        };
        let (output, changes) = chain.seal(open.finish(), &block);
        drop(chain);
        self.publish(txs, &block, output, Executed::Sealed(changes), started)
    }

    /// Executes the pool's durable ready transactions (per sender the gapless run from its
    /// nonce in `open`) into `open`, appending them to `txs`. A transaction the executor
    /// refuses is dropped from the pool with its sender's later ones in this round. Returns
    /// whether the block is full (gas or count).
    fn execute_ready(
        &self,
        open: &mut zkbox_evm::OpenBlock<'_>,
        txs: &mut Vec<ValidTx>,
    ) -> Result<bool, String> {
        let config = &self.inner.config;
        let gas_left = config.block_gas_limit.saturating_sub(open.gas_used());
        let count_left = config.max_block_transactions.saturating_sub(txs.len());
        let mut round = {
            let handle = self.handle();
            let mut pool = handle.lock_pool();
            let ready = pool.ready(|a| open.nonce(a), gas_left, count_left);
            // Under the same lock: from here a replacement of these is refused.
            pool.mark_executing(ready.iter().map(|t| &t.hash));
            ready
        };
        while !round.is_empty() {
            let pushed = open.push_all(round.iter().map(|t| (t.tx.as_ref(), t.sender)));
            let done = match &pushed {
                Ok(()) => round.len(),
                Err((position, _)) => *position,
            };
            let rest = round.split_off(done);
            txs.append(&mut round);
            let Err((_, error)) = pushed else {
                break;
            };
            match error {
                zkbox_evm::Error::BlockGasLimitExceeded { .. } => {
                    // Not in this block after all: replaceable and evictable again.
                    lock(&self.inner.pool).unmark_executing(rest.iter().map(|t| &t.hash));
                    return Ok(true);
                }
                zkbox_evm::Error::InvalidTransaction { .. }
                | zkbox_evm::Error::InvalidSignature { .. }
                | zkbox_evm::Error::WrongChainId { .. }
                | zkbox_evm::Error::UnsupportedTxType(_) => {
                    // The refused transaction is the first of the rest.
                    round = self.drop_refused(rest, 0, &error);
                }
                other => return Err(format!("block execution failed: {other}")),
            }
        }
        Ok(txs.len() >= config.max_block_transactions
            || config.block_gas_limit.saturating_sub(open.gas_used()) < MIN_TRANSACTION_GAS)
    }

    /// Makes a sealed block durable (block log, fsync), then applies it to the chain and
    /// publishes it: receipts, head number, subscriptions, and the batch its witness joins.
    fn publish(
        &mut self,
        txs: Vec<ValidTx>,
        block: &Block,
        output: zkbox_evm::BlockOutput,
        executed: Executed,
        started: Instant,
    ) -> Result<(), String> {
        let handle = self.handle();
        let chain_lock = &self.inner.chain;
        let record = BlockRecord {
            env: block.env.clone(),
            transactions: txs.iter().map(|t| t.raw.clone()).collect(),
            block_hash: output.block_hash,
        };
        // The block is durable before anything about it is visible. Written before the chain
        // is locked for writing: this thread is the chain's only writer, so the state the
        // block was sealed over is still the one its changes are applied to below.
        let logging = Instant::now();
        self.log
            .append([record.to_bytes().as_slice()])
            .and_then(|()| self.log.sync())
            .map_err(|e| format!("block log write failed: {e}"))?;
        metrics::histogram!("zkbox_sequencer_block_log_seconds")
            .record(logging.elapsed().as_secs_f64());
        let mut chain = chain_lock.write().unwrap_or_else(|p| p.into_inner());
        let write_locked = Instant::now();
        let witness = match executed {
            Executed::Applied(witness) => Some(*witness),
            Executed::Sealed(changes) => {
                changes.apply(chain.state_mut());
                debug_assert_eq!(chain.state().state_root(), output.post_state_root);
                None
            }
        };
        let number = output.header.number;
        let hash = output.block_hash;
        let count = txs.len();
        let gas_used = output.gas_used;
        chain.push(
            output,
            txs.iter().map(|t| (t.tx.clone(), t.sender)).collect(),
        );
        {
            let mut pool = handle.lock_pool();
            let senders: HashSet<Address> = txs.iter().map(|t| t.sender).collect();
            pool.on_block(senders.into_iter().map(|s| {
                let nonce = chain.state().account(&s).map_or(0, |a| a.nonce);
                (s, nonce)
            }));
            metrics::gauge!("zkbox_sequencer_mempool_transactions").set(pool.len() as f64);
        }
        let sealed = chain.head().clone();
        drop(chain);
        // Validation of incoming transactions waits while the builder holds the chain.
        metrics::histogram!("zkbox_sequencer_chain_write_seconds")
            .record(write_locked.elapsed().as_secs_f64());
        self.inner.head_number.send_replace(number);
        let _ = self.inner.heads.send(sealed);
        metrics::counter!("zkbox_sequencer_blocks_total").increment(1);
        metrics::counter!("zkbox_sequencer_sealed_transactions_total").increment(count as u64);
        metrics::histogram!("zkbox_sequencer_seal_seconds").record(started.elapsed().as_secs_f64());
        tracing::debug!(number, %hash, transactions = count, gas_used, "block sealed");
        if let Some(witness) = witness {
            lock(&self.inner.handoff).push(number, hash, witness, false);
        }
        Ok(())
    }

    /// Drops the transaction the executor refused (and its sender's later ones in this
    /// block) from the block and the mempool.
    fn without_refused(
        &self,
        txs: Vec<ValidTx>,
        error: &zkbox_evm::Error,
    ) -> Result<Vec<ValidTx>, String> {
        use zkbox_evm::Error as E;
        let index = match error {
            E::InvalidTransaction { index, .. }
            | E::BlockGasLimitExceeded { index }
            | E::InvalidSignature { index }
            | E::WrongChainId { index, .. } => *index,
            other => return Err(format!("block execution failed: {other}")),
        };
        Ok(self.drop_refused(txs, index, error))
    }

    /// Drops `txs[index]`, which the executor refused with `error`, and its sender's later
    /// transactions in `txs` from the pool; returns the others, in order.
    fn drop_refused(
        &self,
        txs: Vec<ValidTx>,
        index: usize,
        error: &zkbox_evm::Error,
    ) -> Vec<ValidTx> {
        let refused = txs[index].sender;
        let first = txs[index].hash;
        tracing::warn!(tx = %first, error = %error, "executor refused a pooled transaction; dropped");
        let mut pool = lock(&self.inner.pool);
        let mut keep = Vec::with_capacity(txs.len());
        for (i, t) in txs.into_iter().enumerate() {
            if i >= index && t.sender == refused {
                pool.remove(&t.hash);
            } else {
                keep.push(t);
            }
        }
        keep
    }

    /// Offers the batches that are due. Fails (and offers nothing) when the hand-off log
    /// cannot record their numbers.
    fn close_batch_if_due(&self) -> Result<(), String> {
        let Some(sink) = &self.inner.sink else {
            return Ok(());
        };
        let config = &self.inner.config;
        let batches =
            lock(&self.inner.handoff).close_due(config.batch_max_blocks, config.batch_max_age)?;
        for batch in batches {
            tracing::info!(
                batch = batch.number,
                first_block = batch.first_block,
                blocks = batch.block_hashes.len(),
                "batch offered to the prover"
            );
            sink.offer(batch);
        }
        Ok(())
    }
}
