//! Running a block's transactions with revm over any source of pre-state.
//!
//! Native execution and witness verification share this code: each supplies a
//! [`StateReader`] (the full in-memory [`crate::State`], or the tries a witness reveals), and
//! [`Overlay`] holds what the block reads and writes on top of it. At the end each side
//! applies [`Overlay::changes`] to its own state and computes its own post-state root.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::vec::Vec;

use alloy_consensus::{Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope};
use alloy_eips::Typed2718 as _;
use alloy_primitives::map::B256Map;
use alloy_primitives::{
    Address, B256, Bloom, Bytes, KECCAK256_EMPTY, Log, TxKind, U256, keccak256,
};
use revm::context::result::EVMError;
use revm::context::{BlockEnv as RevmBlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::{Database, DatabaseCommit};
use revm::primitives::{AddressMap, StorageKey, StorageValue, U256Map};
use revm::state::{AccountInfo as RevmAccountInfo, Bytecode};
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

use crate::Error;
use crate::block::{BlockEnv, RecoveredTx};

/// An account's header fields (what the state trie holds besides the storage root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountInfo {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak of the code.
    pub code_hash: B256,
}

/// Read access to a pre-state. Every method may fail: a witness may not hold what is asked.
pub trait StateReader {
    /// The account at `address`, or `None` if it does not exist.
    fn account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error>;
    /// The value of a storage slot of an existing account (zero when unset).
    fn storage(&mut self, address: Address, slot: U256) -> Result<U256, Error>;
    /// The code whose keccak is `hash`.
    fn code(&mut self, hash: B256) -> Result<Bytes, Error>;
    /// The hash of an earlier block (BLOCKHASH).
    fn block_hash(&mut self, number: u64) -> Result<B256, Error>;
}

/// What a block did to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account after the block, or `None` if it was deleted (self-destructed, or touched
    /// and empty: EIP-161).
    pub info: Option<AccountInfo>,
    /// Whether its pre-block storage was wiped (created or deleted in the block).
    pub storage_cleared: bool,
    /// Slots written, with their final values (zero: the slot is removed).
    pub storage: BTreeMap<U256, U256>,
}

/// What the block has done to one account so far: an [`AccountChange`] with its slots in a
/// hash map, put in order once, when the changes are asked for.
#[derive(Debug)]
struct Pending {
    info: Option<AccountInfo>,
    storage_cleared: bool,
    storage: U256Map<U256>,
}

impl From<&Pending> for AccountChange {
    fn from(pending: &Pending) -> Self {
        AccountChange {
            info: pending.info,
            storage_cleared: pending.storage_cleared,
            storage: pending.storage.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }
}

/// The block's reads and writes over a [`StateReader`]; revm's database during execution.
///
/// revm's journal forgets every account, slot and code after each transaction and asks for
/// them again in the next, so the overlay answers from hash maps: the accounts and slots the
/// block changed, the pre-state slots it read, and analysed code. The ordered maps its
/// results come in are built once, from the hash maps, when they are asked for.
#[derive(Debug)]
pub struct Overlay<R> {
    reader: R,
    /// Pre-state accounts, each read from the reader once. Looked up only until the block
    /// changes the account, so an ordered map serves (and costs no page faults: see
    /// `changes`).
    pre_accounts: BTreeMap<Address, Option<AccountInfo>>,
    pre_storage: AddressMap<U256Map<U256>>,
    /// Boxed so that the table holds only an address and a pointer per account: a table of
    /// whole entries grew past glibc's mmap threshold at a thousand accounts and was handed
    /// back to the kernel, and faulted in again, with every block (measured: the ETH
    /// transfer benchmark ran slower than with ordered maps).
    changes: AddressMap<Box<Pending>>,
    new_codes: BTreeMap<B256, Bytes>,
    /// Code revm has asked for, already analysed (jump table, padding), by hash: without
    /// this each call into a contract would analyse its code again. [`Bytecode`] is
    /// reference-counted; a hit is a clone of the pointer.
    bytecodes: B256Map<Bytecode>,
}

impl<R: StateReader> Overlay<R> {
    /// An overlay with nothing read or written yet.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            pre_accounts: BTreeMap::new(),
            pre_storage: AddressMap::default(),
            changes: AddressMap::default(),
            new_codes: BTreeMap::new(),
            bytecodes: B256Map::default(),
        }
    }

    /// Every account whose pre-state the block read.
    pub fn read_accounts(&self) -> BTreeSet<Address> {
        self.pre_accounts.keys().copied().collect()
    }

    /// The changes so far, by account, in address order (put in order on each call).
    pub fn changes(&self) -> BTreeMap<Address, AccountChange> {
        self.changes
            .iter()
            .map(|(address, pending)| (*address, pending.as_ref().into()))
            .collect()
    }

    /// Code created by the block, by hash.
    pub fn new_codes(&self) -> &BTreeMap<B256, Bytes> {
        &self.new_codes
    }

    /// The reader, for applying the changes to.
    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Splits the overlay into its reader and its changes.
    pub fn into_parts(self) -> (R, BTreeMap<Address, AccountChange>, BTreeMap<B256, Bytes>) {
        let changes = self.changes();
        (self.reader, changes, self.new_codes)
    }

    fn pre_account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
        if let Some(info) = self.pre_accounts.get(&address) {
            return Ok(*info);
        }
        let info = self.reader.account(address)?;
        self.pre_accounts.insert(address, info);
        Ok(info)
    }

    /// The account as the block has left it so far (its pre-state if the block has not
    /// changed it).
    pub(crate) fn current_account(
        &mut self,
        address: Address,
    ) -> Result<Option<AccountInfo>, Error> {
        match self.changes.get(&address) {
            Some(change) => Ok(change.info),
            None => self.pre_account(address),
        }
    }

    fn current_storage(&mut self, address: Address, slot: U256) -> Result<U256, Error> {
        if let Some(change) = self.changes.get(&address) {
            if let Some(value) = change.storage.get(&slot) {
                return Ok(*value);
            }
            if change.storage_cleared {
                return Ok(U256::ZERO);
            }
        }
        if let Some(value) = self.pre_storage.get(&address).and_then(|s| s.get(&slot)) {
            return Ok(*value);
        }
        let value = match self.pre_account(address)? {
            Some(_) => self.reader.storage(address, slot)?,
            None => U256::ZERO,
        };
        self.pre_storage
            .entry(address)
            .or_default()
            .insert(slot, value);
        Ok(value)
    }
}

impl<R: StateReader> Database for Overlay<R> {
    type Error = Error;

    fn basic(&mut self, address: Address) -> Result<Option<RevmAccountInfo>, Error> {
        let Some(info) = self.current_account(address)? else {
            return Ok(None);
        };
        // The default holds the empty code, which is what an account without code has.
        let mut revm_info = RevmAccountInfo {
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
            ..RevmAccountInfo::default()
        };
        if info.code_hash != KECCAK256_EMPTY {
            // Code already analysed goes with the account; other code is loaded lazily
            // (code_by_hash), only for accounts whose code runs.
            revm_info.code = self.bytecodes.get(&info.code_hash).cloned();
        }
        Ok(Some(revm_info))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Error> {
        if code_hash == KECCAK256_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        // The hash determines the code, so a cached analysis is right whichever source the
        // code first came from.
        if let Some(bytecode) = self.bytecodes.get(&code_hash) {
            return Ok(bytecode.clone());
        }
        let code = match self.new_codes.get(&code_hash) {
            Some(code) => code.clone(),
            None => self.reader.code(code_hash)?,
        };
        // Code starting 0xEF01 is an EIP-7702 delegation; a malformed one is refused here
        // (revm's `new_raw` would panic on it).
        let bytecode = Bytecode::new_raw_checked(code)
            .map_err(|e| Error::BadInput(format!("bad code {code_hash}: {e}")))?;
        self.bytecodes.insert(code_hash, bytecode.clone());
        Ok(bytecode)
    }

    fn storage(&mut self, address: Address, index: StorageKey) -> Result<StorageValue, Error> {
        self.current_storage(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Error> {
        self.reader.block_hash(number)
    }
}

impl<R: StateReader> DatabaseCommit for Overlay<R> {
    fn commit(&mut self, changes: AddressMap<revm::state::Account>) {
        // Apply in address order so that every side sees the same sequence.
        let mut changes: Vec<_> = changes.into_iter().collect();
        changes.sort_unstable_by_key(|(address, _)| *address);
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            // Reads of these accounts already happened during execution, so the pre-state
            // is cached; a failure here would have failed the transaction first.
            let before = self.current_account(address).ok().flatten();
            let entry = self.changes.entry(address).or_insert_with(|| {
                Box::new(Pending {
                    info: before,
                    storage_cleared: false,
                    storage: U256Map::default(),
                })
            });
            if account.is_selfdestructed() {
                entry.info = None;
                entry.storage_cleared = true;
                entry.storage.clear();
                continue;
            }
            if account.is_created() {
                entry.storage_cleared = true;
                entry.storage.clear();
            }
            for (slot, value) in account.storage.iter() {
                if value.is_changed() {
                    entry.storage.insert(*slot, value.present_value);
                }
            }
            if account.is_empty() {
                // EIP-161: a touched empty account is deleted, storage and all.
                entry.info = None;
                entry.storage_cleared = true;
                entry.storage.clear();
                continue;
            }
            let info = &account.info;
            entry.info = Some(AccountInfo {
                nonce: info.nonce,
                balance: info.balance,
                code_hash: info.code_hash,
            });
            if let Some(code) = &info.code
                && info.code_hash != KECCAK256_EMPTY
                && !code.is_empty()
            {
                self.new_codes
                    .entry(info.code_hash)
                    .or_insert_with(|| code.original_bytes());
            }
        }
    }
}

/// Executes the transactions in order against the overlay, returning one receipt each.
pub fn execute_transactions<R: StateReader>(
    overlay: &mut Overlay<R>,
    env: &BlockEnv,
    transactions: &[RecoveredTx],
) -> Result<Vec<ReceiptEnvelope>, Error> {
    let mut receipts = BlockReceipts::default();
    receipts.execute(overlay, env, transactions.iter().map(|r| (&r.tx, r.sender)))?;
    Ok(receipts.into_receipts())
}

/// The receipts of a block's transactions executed so far, and the gas they used: a block
/// may be executed in several calls of [`BlockReceipts::execute`] over the same overlay
/// (a sequencer executes transactions as they arrive), with exactly the result of one call
/// over all of them.
#[derive(Default)]
pub(crate) struct BlockReceipts {
    receipts: Vec<ReceiptEnvelope>,
    blooms: BloomHashes,
    cumulative_gas_used: u64,
}

impl BlockReceipts {
    /// Executes `transactions` (each with its sender) after those executed so far. On an
    /// error the transactions before the failing one stay executed and the failing one left
    /// no trace (revm commits a transaction to the overlay only when it succeeds); its index
    /// in the block is the error's.
    pub(crate) fn execute<'t, R: StateReader>(
        &mut self,
        overlay: &mut Overlay<R>,
        env: &BlockEnv,
        transactions: impl IntoIterator<Item = (&'t TxEnvelope, Address)>,
    ) -> Result<(), Error> {
        let spec = env.spec_id()?;
        let block = RevmBlockEnv {
            number: U256::from(env.number),
            beneficiary: env.beneficiary,
            timestamp: U256::from(env.timestamp),
            gas_limit: env.gas_limit,
            basefee: env.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(env.prev_randao),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new_with_spec(
                env.excess_blob_gas,
                spec,
            )),
            ..RevmBlockEnv::default()
        };
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = env.chain_id;
        let mut evm = Context::mainnet()
            .with_db(overlay)
            .with_block(block)
            .with_cfg(cfg)
            .build_mainnet();
        for (signed, sender) in transactions {
            let index = self.receipts.len();
            let tx = tx_env(signed, sender);
            if self.cumulative_gas_used.saturating_add(tx.gas_limit) > env.gas_limit {
                return Err(Error::BlockGasLimitExceeded { index });
            }
            let result = evm.transact_commit(tx).map_err(|e| match e {
                EVMError::Transaction(e) => Error::InvalidTransaction {
                    index,
                    reason: format!("{e}"),
                },
                EVMError::Database(e) => e,
                other => Error::Evm(format!("{other}")),
            })?;
            self.cumulative_gas_used += result.tx_gas_used();
            let success = result.is_success();
            let logs = result.into_logs();
            let logs_bloom = self.blooms.logs_bloom(&logs);
            let receipt = Receipt {
                status: success.into(),
                cumulative_gas_used: self.cumulative_gas_used,
                logs,
            };
            let with_bloom = ReceiptWithBloom::new(receipt, logs_bloom);
            self.receipts.push(match signed {
                TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(with_bloom),
                TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(with_bloom),
                _ => ReceiptEnvelope::Eip1559(with_bloom),
            });
        }
        Ok(())
    }

    /// How many transactions have been executed.
    pub(crate) fn len(&self) -> usize {
        self.receipts.len()
    }

    /// The gas they used.
    pub(crate) fn gas_used(&self) -> u64 {
        self.cumulative_gas_used
    }

    /// The receipts so far, in order.
    pub(crate) fn receipts(&self) -> &[ReceiptEnvelope] {
        &self.receipts
    }

    /// Their receipts, in order.
    pub(crate) fn into_receipts(self) -> Vec<ReceiptEnvelope> {
        self.receipts
    }
}

/// The keccak hashes a block's log blooms are built from, computed once per distinct log
/// address and topic: a block's logs repeat the same few (a token's address, its `Transfer`
/// topic, the accounts that trade), and hashing each again was most of the cost of a
/// receipt. The blooms are bit for bit those of [`Receipt::bloom_slow`].
#[derive(Default)]
struct BloomHashes {
    addresses: AddressMap<B256>,
    topics: B256Map<B256>,
}

impl BloomHashes {
    /// The bloom of one receipt's logs.
    fn logs_bloom(&mut self, logs: &[Log]) -> Bloom {
        let mut bloom = Bloom::ZERO;
        for log in logs {
            let hash = self
                .addresses
                .entry(log.address)
                .or_insert_with(|| keccak256(log.address));
            bloom.m3_2048_hashed(hash);
            for topic in log.topics() {
                let hash = self
                    .topics
                    .entry(*topic)
                    .or_insert_with(|| keccak256(topic));
                bloom.m3_2048_hashed(hash);
            }
        }
        bloom
    }
}

/// revm's view of a transaction (types 0-2; [`crate::Block::recover_senders`] refused others).
fn tx_env(signed: &TxEnvelope, sender: Address) -> TxEnv {
    let mut env = TxEnv {
        caller: sender,
        ..TxEnv::default()
    };
    match signed {
        tx @ (TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_)) => {
            // alloy's `Transaction` view: for legacy and EIP-2930 transactions the maximum fee
            // is the gas price and there is no priority fee or (legacy) access list.
            env.tx_type = tx.ty();
            env.chain_id = tx.chain_id();
            env.nonce = tx.nonce();
            env.gas_limit = tx.gas_limit();
            env.gas_price = tx.max_fee_per_gas();
            env.gas_priority_fee = tx.max_priority_fee_per_gas();
            env.kind = tx.kind();
            env.value = tx.value();
            env.data = tx.input().clone();
            env.access_list = tx.access_list().cloned().unwrap_or_default();
        }
        // Unreachable for recovered transactions; an empty call from the sender fails
        // validation rather than panicking.
        _ => {
            env.kind = TxKind::Call(sender);
            env.gas_limit = 0;
        }
    }
    env
}
