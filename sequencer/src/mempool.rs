//! The mempool: validated transactions waiting for a block, in per-sender nonce queues.
//!
//! - [`validate`] does the checks that need no state: size, encoding, type, chain id,
//!   signature, intrinsic gas, gas limit, fee fields.
//! - [`Mempool::insert`] does those against the sender's account and its queue: nonce (too
//!   low, or too far ahead), balance for `gas * max fee + value` summed over the sender's
//!   queued transactions, duplicates, replacement by a higher fee (both fee fields raised by
//!   `price_bump_percent`), the per-sender limit, and eviction under pressure: a full pool
//!   takes a transaction only by evicting the lowest-tipping queue tail that tips less.
//! - An inserted transaction is *pending durability* until [`Mempool::mark_durable`]: the
//!   block builder takes only durable ones, so nothing the acceptance log might lose is ever
//!   sealed ahead of its acknowledgement.
//! - [`Mempool::ready`] picks transactions for a block: each sender's queue from its account
//!   nonce without gaps, senders interleaved in arrival order, up to a gas budget.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, U256};

use crate::error::TxError;

/// Limits and rules of the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most transactions pooled at once.
    pub max_transactions: usize,
    /// Most transactions one sender may have pooled (also how far ahead of its account
    /// nonce a transaction may be).
    pub max_per_sender: usize,
    /// How much a replacement must raise both fee fields, in percent.
    pub price_bump_percent: u64,
    /// Largest encoded transaction accepted, in bytes.
    pub max_tx_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_transactions: 200_000,
            max_per_sender: 1024,
            price_bump_percent: 10,
            max_tx_bytes: 128 * 1024,
        }
    }
}

/// What a block's transactions must satisfy, for the stateless checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxRules {
    /// The chain id transactions must be signed for.
    pub chain_id: u64,
    /// The block gas limit.
    pub block_gas_limit: u64,
    /// The base fee every transaction must be able to pay.
    pub base_fee: u64,
    /// Largest encoded transaction accepted, in bytes.
    pub max_tx_bytes: usize,
}

/// A transaction that passed [`validate`].
#[derive(Debug, Clone)]
pub struct ValidTx {
    /// The signed transaction.
    pub tx: Arc<TxEnvelope>,
    /// Its EIP-2718 encoding (what the acceptance log stores).
    pub raw: Bytes,
    /// Its hash.
    pub hash: B256,
    /// The recovered sender.
    pub sender: Address,
}

impl ValidTx {
    fn nonce(&self) -> u64 {
        self.tx.nonce()
    }
    fn gas_limit(&self) -> u64 {
        self.tx.gas_limit()
    }
    fn max_fee(&self) -> u128 {
        self.tx.max_fee_per_gas()
    }
    fn tip(&self) -> u128 {
        self.tx
            .max_priority_fee_per_gas()
            .unwrap_or(self.tx.max_fee_per_gas())
    }
    /// What the sender must hold for it: gas limit * max fee + value.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit()) * U256::from(self.max_fee()) + self.tx.value()
    }
}

/// Decodes and checks a raw transaction without looking at any account.
pub fn validate(raw: &[u8], rules: &TxRules) -> Result<ValidTx, TxError> {
    let tx = check(raw, rules)?;
    let sender = zkbox_evm::recover::recover_address(tx.signature(), &tx.signature_hash());
    with_sender(tx, sender)
}

/// [`validate`] without sender recovery: the decoded transaction, for the caller to
/// recover its sender (with others, [`crate::recovery`]) and finish with [`with_sender`].
pub fn check(raw: &[u8], rules: &TxRules) -> Result<TxEnvelope, TxError> {
    if raw.len() > rules.max_tx_bytes {
        return Err(TxError::OversizedData);
    }
    if raw.is_empty() {
        return Err(TxError::Decode("empty transaction".into()));
    }
    let tx = zkbox_evm::decode_transaction(raw).map_err(|e| match e {
        // A first byte of 0xc0 or more starts a legacy RLP list: failing it is bad RLP.
        zkbox_evm::Error::UnsupportedTxType(_) if raw[0] < 0xc0 => TxError::TypeNotSupported,
        zkbox_evm::Error::UnsupportedTxType(_) => {
            TxError::Decode("malformed legacy transaction".into())
        }
        other => TxError::Decode(other.to_string()),
    })?;
    if let Some(id) = tx.chain_id()
        && id != rules.chain_id
    {
        return Err(TxError::WrongChainId);
    }
    if tx.gas_limit() > rules.block_gas_limit {
        return Err(TxError::GasLimit);
    }
    if tx.gas_limit() < intrinsic_gas(&tx) {
        return Err(TxError::IntrinsicGas);
    }
    if let Some(tip) = tx.max_priority_fee_per_gas()
        && tip > tx.max_fee_per_gas()
    {
        return Err(TxError::TipAboveFeeCap);
    }
    if tx.max_fee_per_gas() < u128::from(rules.base_fee) {
        return Err(TxError::FeeCapTooLow);
    }
    Ok(tx)
}

/// A checked transaction ([`check`]) with the result of recovering its sender by the
/// executor's rules (low-s only, as EIP-2 requires: the block builder trusts this sender and
/// does not recover it again, and replay recovers with the same rules); `None` (no signer)
/// refuses it.
pub fn with_sender(tx: TxEnvelope, sender: Option<Address>) -> Result<ValidTx, TxError> {
    let sender = sender.ok_or(TxError::InvalidSender)?;
    let hash = *tx.tx_hash();
    Ok(ValidTx {
        raw: Bytes::from(tx.encoded_2718()),
        tx: Arc::new(tx),
        hash,
        sender,
    })
}

/// The gas a transaction pays before it runs (Prague rules): 21,000, 32,000 more for a
/// creation plus 2 per word of init code, 4 per zero and 16 per non-zero data byte, 2,400 per
/// access-list address and 1,900 per key; at least the EIP-7623 floor of 21,000 + 10 per
/// data token (a zero byte is one token, a non-zero byte four).
pub fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let non_zeros = input.len() as u64 - zeros;
    let mut gas = 21_000 + zeros * 4 + non_zeros * 16;
    if tx.kind().is_create() {
        gas += 32_000 + 2 * (input.len() as u64).div_ceil(32);
    }
    if let Some(list) = tx.access_list() {
        for item in list.iter() {
            gas += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
    }
    let floor = 21_000 + 10 * (zeros + 4 * non_zeros);
    gas.max(floor)
}

/// One pooled transaction.
#[derive(Debug, Clone)]
pub struct PooledTx {
    /// The transaction.
    pub valid: ValidTx,
    /// Arrival order (also the order blocks take senders in).
    pub seq: u64,
    /// Whether the acceptance log holds it (only durable transactions are sealed).
    pub durable: bool,
    /// Whether the open block has taken it ([`Mempool::mark_executing`]): its nonce is used
    /// from then on, so a replacement is refused as "nonce too low" rather than acknowledged
    /// and then dropped when the block seals.
    pub executing: bool,
}

/// Pooled transactions by sender and nonce.
#[derive(Debug, Default)]
pub struct Mempool {
    config: PoolConfig,
    senders: HashMap<Address, BTreeMap<u64, PooledTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    next_seq: u64,
}

/// What [`Mempool::insert`] did besides adding the transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The transaction it replaced (same sender and nonce, lower fees).
    pub replaced: Option<B256>,
    /// A transaction evicted to make room.
    pub evicted: Option<B256>,
}

/// The account fields the pool checks a transaction against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountView {
    /// The account's nonce in the latest block.
    pub nonce: u64,
    /// Its balance in the latest block.
    pub balance: U256,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Self {
        Mempool {
            config,
            ..Default::default()
        }
    }

    /// The pool's rules.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether the pool holds the transaction.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &B256) -> Option<&PooledTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.senders.get(sender)?.get(nonce)
    }

    /// The nonce the sender's next transaction would take: its account nonce plus its
    /// gapless run of pooled transactions.
    pub fn pending_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let mut next = account_nonce;
        if let Some(queue) = self.senders.get(sender) {
            for nonce in queue.range(account_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Checks `tx` against its sender's account and queue and pools it (not yet durable).
    pub fn insert(&mut self, tx: ValidTx, account: AccountView) -> Result<Inserted, TxError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(TxError::AlreadyKnown);
        }
        let nonce = tx.nonce();
        if nonce < account.nonce {
            return Err(TxError::NonceTooLow);
        }
        if nonce - account.nonce >= self.config.max_per_sender as u64 {
            return Err(TxError::NonceTooHigh);
        }
        let mut outcome = Inserted::default();
        let queue = self.senders.get(&tx.sender);
        let existing = queue.and_then(|q| q.get(&nonce));
        if let Some(old) = existing {
            let bump =
                |v: u128| v.saturating_mul(100 + u128::from(self.config.price_bump_percent)) / 100;
            if tx.max_fee() < bump(old.valid.max_fee()) || tx.tip() < bump(old.valid.tip()) {
                return Err(TxError::ReplacementUnderpriced);
            }
            // A replacement that would have been taken finds the nonce used by the open
            // block (checked after the price, so the answer to an underpriced one does not
            // depend on when the builder's last round ran).
            if old.executing {
                return Err(TxError::NonceTooLow);
            }
            outcome.replaced = Some(old.valid.hash);
        } else if queue.is_some_and(|q| q.len() >= self.config.max_per_sender) {
            return Err(TxError::AccountLimitExceeded);
        }
        // The sender must afford every queued transaction up to and including this one.
        let mut cost = tx.max_cost();
        if let Some(queue) = queue {
            for (n, queued) in queue.range(account.nonce..nonce) {
                if *n != nonce {
                    cost += queued.valid.max_cost();
                }
            }
        }
        if cost > account.balance {
            return Err(TxError::InsufficientFunds);
        }
        if outcome.replaced.is_none() && self.len() >= self.config.max_transactions {
            let victim = self.eviction_candidate(&tx.sender);
            match victim {
                Some((hash, tip)) if tip < tx.tip() => {
                    self.remove(&hash);
                    outcome.evicted = Some(hash);
                }
                _ => return Err(TxError::PoolFull),
            }
        }
        if let Some(old) = outcome.replaced {
            self.by_hash.remove(&old);
        }
        self.by_hash.insert(tx.hash, (tx.sender, nonce));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.senders.entry(tx.sender).or_default().insert(
            nonce,
            PooledTx {
                valid: tx,
                seq,
                durable: false,
                executing: false,
            },
        );
        Ok(outcome)
    }

    /// The queue tail (a sender's highest nonce, so no gap opens) with the lowest tip,
    /// excluding `sparing`'s and any the open block has taken: that one is in a block
    /// already, and dropping it here would free its nonce for a transaction that is
    /// acknowledged and then dropped when the block seals.
    fn eviction_candidate(&self, sparing: &Address) -> Option<(B256, u128)> {
        self.senders
            .iter()
            .filter(|(sender, _)| *sender != sparing)
            .filter_map(|(_, q)| q.values().next_back())
            .filter(|t| !t.executing)
            .map(|t| (t.valid.hash, t.valid.tip()))
            .min_by_key(|(_, tip)| *tip)
    }

    /// Marks a transaction durable (its acceptance record is fsync'd); the builder may take
    /// it from now on.
    pub fn mark_durable(&mut self, hash: &B256) {
        if let Some((sender, nonce)) = self.by_hash.get(hash)
            && let Some(t) = self.senders.get_mut(sender).and_then(|q| q.get_mut(nonce))
        {
            t.durable = true;
        }
    }

    /// Marks transactions taken into the open block (see [`PooledTx::executing`]).
    pub fn mark_executing<'h>(&mut self, hashes: impl IntoIterator<Item = &'h B256>) {
        self.set_executing(hashes, true);
    }

    /// Undoes [`Mempool::mark_executing`] for transactions the open block did not take
    /// after all.
    pub fn unmark_executing<'h>(&mut self, hashes: impl IntoIterator<Item = &'h B256>) {
        self.set_executing(hashes, false);
    }

    fn set_executing<'h>(&mut self, hashes: impl IntoIterator<Item = &'h B256>, executing: bool) {
        for hash in hashes {
            if let Some((sender, nonce)) = self.by_hash.get(hash)
                && let Some(t) = self.senders.get_mut(sender).and_then(|q| q.get_mut(nonce))
            {
                t.executing = executing;
            }
        }
    }

    /// Removes a transaction (its acceptance failed, or a block refused it).
    pub fn remove(&mut self, hash: &B256) -> Option<PooledTx> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        let queue = self.senders.get_mut(&sender)?;
        let removed = queue.remove(&nonce);
        if queue.is_empty() {
            self.senders.remove(&sender);
        }
        removed
    }

    /// After a block: drops every transaction whose nonce its sender has now used.
    pub fn on_block(&mut self, new_nonces: impl IntoIterator<Item = (Address, u64)>) {
        for (sender, nonce) in new_nonces {
            let Some(queue) = self.senders.get_mut(&sender) else {
                continue;
            };
            let keep = queue.split_off(&nonce);
            for t in queue.values() {
                self.by_hash.remove(&t.valid.hash);
            }
            if keep.is_empty() {
                self.senders.remove(&sender);
            } else {
                *queue = keep;
            }
        }
    }

    /// Transactions for the next block: per sender, the durable gapless run from its
    /// account nonce (`nonce_of`); senders interleaved by arrival; total gas limit at most
    /// `gas_budget` and at most `max_count` transactions.
    pub fn ready(
        &self,
        mut nonce_of: impl FnMut(&Address) -> u64,
        gas_budget: u64,
        max_count: usize,
    ) -> Vec<ValidTx> {
        // A heap of each sender's next candidate, oldest arrival first.
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            let nonce = nonce_of(sender);
            if let Some(t) = queue.get(&nonce)
                && t.durable
            {
                heap.push(std::cmp::Reverse((t.seq, *sender, nonce)));
            }
        }
        let mut out = Vec::new();
        let mut gas = 0u64;
        while let Some(std::cmp::Reverse((_, sender, nonce))) = heap.pop() {
            if out.len() >= max_count {
                break;
            }
            let queue = &self.senders[&sender];
            let t = &queue[&nonce];
            let limit = t.valid.gas_limit();
            if gas + limit > gas_budget {
                // This sender waits for the next block; others may still fit.
                continue;
            }
            gas += limit;
            out.push(t.valid.clone());
            if let Some(next) = queue.get(&(nonce + 1))
                && next.durable
            {
                heap.push(std::cmp::Reverse((next.seq, sender, nonce + 1)));
            }
        }
        out
    }

    /// Total gas limit of durable transactions pooled (an upper bound on what is ready).
    pub fn durable_gas(&self) -> u64 {
        self.senders
            .values()
            .flat_map(|q| q.values())
            .filter(|t| t.durable)
            .map(|t| t.valid.gas_limit())
            .sum()
    }

    /// Every pooled transaction's hash.
    pub fn hashes(&self) -> Vec<B256> {
        self.by_hash.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DevKey;
    use alloy_consensus::{TxEip1559, TxLegacy};
    use alloy_primitives::TxKind;

    const RULES: TxRules = TxRules {
        chain_id: 31337,
        block_gas_limit: 30_000_000,
        base_fee: 1_000,
        max_tx_bytes: 1024,
    };

    fn key(i: u8) -> DevKey {
        DevKey::from_seed(B256::with_last_byte(i))
    }

    fn transfer(key: &DevKey, nonce: u64, max_fee: u128, tip: u128) -> ValidTx {
        let tx = key.sign(TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(9)),
            value: U256::from(5),
            ..Default::default()
        });
        validate(&tx.encoded_2718(), &RULES).unwrap()
    }

    fn rich() -> AccountView {
        AccountView {
            nonce: 0,
            balance: U256::from(10u64).pow(U256::from(20)),
        }
    }

    #[test]
    fn stateless_refusals_have_gethss_messages() {
        let k = key(1);
        let sign = |f: &dyn Fn(&mut TxEip1559)| {
            let mut tx = TxEip1559 {
                chain_id: 31337,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            };
            f(&mut tx);
            k.sign(tx).encoded_2718()
        };
        let err = |raw: &[u8]| validate(raw, &RULES).unwrap_err().to_string();
        assert_eq!(
            err(&sign(&|t| t.chain_id = 1)),
            "invalid chain id for signer"
        );
        assert_eq!(
            err(&sign(&|t| t.gas_limit = 20_999)),
            "intrinsic gas too low"
        );
        assert_eq!(
            err(&sign(&|t| t.gas_limit = 30_000_001)),
            "exceeds block gas limit"
        );
        assert_eq!(
            err(&sign(&|t| t.max_priority_fee_per_gas = 3_000)),
            "max priority fee per gas higher than max fee per gas"
        );
        assert_eq!(
            err(&sign(&|t| t.max_fee_per_gas = 999)),
            "max fee per gas less than block base fee"
        );
        assert_eq!(err(&vec![0x02; 2000]), "oversized data");
        let garbage = err(&[0xf8, 0x05, 0x01]);
        assert!(garbage.starts_with("rlp: "), "{garbage}");
        assert_eq!(err(&[0x03, 0xc0]), "transaction type not supported");
        // A signature that recovers to nobody: r = 0.
        let mut raw = sign(&|_| {});
        let len = raw.len();
        raw[len - 66..len - 33].fill(0);
        raw[len - 66] = 0xa0;
        let got = err(&raw);
        assert!(got == "invalid sender" || got.starts_with("rlp: "), "{got}");
        // Data: 16 gas per non-zero byte, the floor for data-heavy transactions.
        let data = sign(&|t| {
            t.input = vec![1u8; 100].into();
            t.gas_limit = 21_000 + 1_600;
        });
        assert_eq!(err(&data), "intrinsic gas too low");
        let legacy = k.sign(TxLegacy {
            chain_id: Some(31337),
            gas_price: 2_000,
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        });
        assert!(validate(&legacy.encoded_2718(), &RULES).is_ok());
    }

    #[test]
    fn nonces_balance_duplicates_and_replacement() {
        let mut pool = Mempool::new(PoolConfig {
            max_per_sender: 4,
            ..Default::default()
        });
        let k = key(2);
        let t0 = transfer(&k, 0, 2_000, 10);
        pool.insert(t0.clone(), rich()).unwrap();
        assert_eq!(pool.insert(t0.clone(), rich()), Err(TxError::AlreadyKnown));
        let low = AccountView { nonce: 1, ..rich() };
        assert_eq!(
            pool.insert(transfer(&k, 0, 3_000, 10), low),
            Err(TxError::NonceTooLow)
        );
        assert_eq!(
            pool.insert(transfer(&k, 4, 2_000, 10), rich()),
            Err(TxError::NonceTooHigh)
        );
        // Replacement needs +10% on both fee fields.
        assert_eq!(
            pool.insert(transfer(&k, 0, 2_100, 11), rich()),
            Err(TxError::ReplacementUnderpriced)
        );
        let t0b = transfer(&k, 0, 2_200, 11);
        let out = pool.insert(t0b.clone(), rich()).unwrap();
        assert_eq!(out.replaced, Some(t0.hash));
        assert!(!pool.contains(&t0.hash) && pool.contains(&t0b.hash));
        // Once the open block has taken it, its nonce is used: no replacement.
        pool.mark_executing([&t0b.hash]);
        assert_eq!(
            pool.insert(transfer(&k, 0, 5_000, 50), rich()),
            Err(TxError::NonceTooLow)
        );
        assert!(pool.contains(&t0b.hash));
        // A gap is queued but not ready; filling it makes both ready once durable.
        let t2 = transfer(&k, 2, 2_000, 10);
        pool.insert(t2.clone(), rich()).unwrap();
        assert_eq!(pool.pending_nonce(&k.address, 0), 1);
        pool.mark_durable(&t0b.hash);
        pool.mark_durable(&t2.hash);
        assert_eq!(pool.ready(|_| 0, u64::MAX, 100).len(), 1);
        let t1 = transfer(&k, 1, 2_000, 10);
        pool.insert(t1.clone(), rich()).unwrap();
        assert_eq!(pool.ready(|_| 0, u64::MAX, 100).len(), 1, "t1 not durable");
        pool.mark_durable(&t1.hash);
        let ready: Vec<_> = pool.ready(|_| 0, u64::MAX, 100);
        assert_eq!(
            ready.iter().map(|t| t.nonce()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(pool.pending_nonce(&k.address, 0), 3);
        // Balance covers all queued costs: 3 queued at ~42M wei each.
        let poor = AccountView {
            nonce: 0,
            balance: t0b.max_cost() + t1.max_cost() + t2.max_cost(),
        };
        assert_eq!(
            pool.insert(transfer(&k, 3, 2_000, 10), poor),
            Err(TxError::InsufficientFunds)
        );
        pool.insert(transfer(&k, 3, 2_000, 10), rich()).unwrap();
        assert_eq!(
            pool.insert(transfer(&k, 3, 2_000, 10), rich()),
            Err(TxError::AlreadyKnown)
        );
        pool.on_block([(k.address, 2)]);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.pending_nonce(&k.address, 2), 4);
    }

    #[test]
    fn a_flood_from_one_sender_hits_its_limit_and_a_full_pool_evicts_the_cheapest() {
        let mut pool = Mempool::new(PoolConfig {
            max_transactions: 6,
            max_per_sender: 3,
            ..Default::default()
        });
        let a = key(3);
        for n in 0..3 {
            pool.insert(transfer(&a, n, 2_000, 5), rich()).unwrap();
        }
        let over = AccountView { nonce: 0, ..rich() };
        let mut pool2 = Mempool::new(PoolConfig {
            max_per_sender: 3,
            ..Default::default()
        });
        for n in 0..3 {
            pool2.insert(transfer(&a, n, 2_000, 5), over).unwrap();
        }
        // Nonce 3 is beyond the window of 3 ahead of nonce 0.
        assert_eq!(
            pool2.insert(transfer(&a, 3, 2_000, 5), over),
            Err(TxError::NonceTooHigh)
        );
        let b = key(4);
        for n in 0..3 {
            pool.insert(transfer(&b, n, 2_000, 7), rich()).unwrap();
        }
        let c = key(5);
        assert_eq!(
            pool.insert(transfer(&c, 0, 2_000, 5), rich()),
            Err(TxError::PoolFull)
        );
        let cheap_tail = pool.senders[&a.address][&2].valid.hash;
        // Taken by the open block: in a block already, never evicted.
        pool.mark_executing([&cheap_tail]);
        let next_cheapest = pool.senders[&b.address][&2].valid.hash;
        let out = pool.insert(transfer(&c, 0, 2_000, 8), rich()).unwrap();
        assert_eq!(out.evicted, Some(next_cheapest));
        assert!(pool.contains(&cheap_tail));
        assert_eq!(pool.len(), 6);
        // Only executing tails (and the newcomer's own queue) left below its tip: full.
        let b1 = pool.senders[&b.address][&1].valid.hash;
        let c0 = pool.senders[&c.address][&0].valid.hash;
        pool.mark_executing([&b1, &c0]);
        assert_eq!(
            pool.insert(transfer(&key(6), 0, 2_000, 9), rich()),
            Err(TxError::PoolFull)
        );
        // Not taken after all (the block filled): evictable again.
        pool.unmark_executing([&cheap_tail]);
        let out = pool.insert(transfer(&key(6), 0, 2_000, 9), rich()).unwrap();
        assert_eq!(out.evicted, Some(cheap_tail));
    }

    #[test]
    fn ready_interleaves_senders_by_arrival_within_the_gas_budget() {
        let mut pool = Mempool::new(PoolConfig::default());
        let (a, b) = (key(6), key(7));
        let order = [(&a, 0), (&b, 0), (&a, 1), (&b, 1), (&a, 2)];
        for (k, n) in order {
            let t = transfer(k, n, 2_000, 1);
            pool.insert(t.clone(), rich()).unwrap();
            pool.mark_durable(&t.hash);
        }
        let got: Vec<_> = pool
            .ready(|_| 0, u64::MAX, 100)
            .iter()
            .map(|t| (t.sender, t.nonce()))
            .collect();
        let want: Vec<_> = order.iter().map(|(k, n)| (k.address, *n)).collect();
        assert_eq!(got, want);
        assert_eq!(pool.ready(|_| 0, 3 * 21_000, 100).len(), 3);
        assert_eq!(pool.ready(|_| 0, u64::MAX, 2).len(), 2);
        assert_eq!(pool.durable_gas(), 5 * 21_000);
    }
}
