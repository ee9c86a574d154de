//! Running a block's transactions with revm over any source of pre-state.
//!
//! Native execution and witness verification share this code: each supplies a
//! [`StateReader`] (the full in-memory [`crate::State`], or the tries a witness reveals), and
//! [`Overlay`] holds what the block reads and writes on top of it. At the end each side
//! applies [`Overlay::changes`] to its own state and computes its own post-state root.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::vec::Vec;

use alloy_consensus::{Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope};
use alloy_eips::Typed2718 as _;
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, TxKind, U256};
use revm::context::result::EVMError;
use revm::context::{BlockEnv as RevmBlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::{Database, DatabaseCommit};
use revm::primitives::{AddressMap, StorageKey, StorageValue};
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

/// The block's reads and writes over a [`StateReader`]; revm's database during execution.
#[derive(Debug)]
pub struct Overlay<R> {
    reader: R,
    pre_accounts: BTreeMap<Address, Option<AccountInfo>>,
    pre_storage: BTreeMap<(Address, U256), U256>,
    changes: BTreeMap<Address, AccountChange>,
    new_codes: BTreeMap<B256, Bytes>,
}

impl<R: StateReader> Overlay<R> {
    /// An overlay with nothing read or written yet.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            pre_accounts: BTreeMap::new(),
            pre_storage: BTreeMap::new(),
            changes: BTreeMap::new(),
            new_codes: BTreeMap::new(),
        }
    }

    /// Every account whose pre-state the block read.
    pub fn read_accounts(&self) -> BTreeSet<Address> {
        self.pre_accounts.keys().copied().collect()
    }

    /// The final changes, by account, in address order.
    pub fn changes(&self) -> &BTreeMap<Address, AccountChange> {
        &self.changes
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
        (self.reader, self.changes, self.new_codes)
    }

    fn pre_account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
        if let Some(info) = self.pre_accounts.get(&address) {
            return Ok(*info);
        }
        let info = self.reader.account(address)?;
        self.pre_accounts.insert(address, info);
        Ok(info)
    }

    fn current_account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
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
        if let Some(value) = self.pre_storage.get(&(address, slot)) {
            return Ok(*value);
        }
        let value = match self.pre_account(address)? {
            Some(_) => self.reader.storage(address, slot)?,
            None => U256::ZERO,
        };
        self.pre_storage.insert((address, slot), value);
        Ok(value)
    }
}

impl<R: StateReader> Database for Overlay<R> {
    type Error = Error;

    fn basic(&mut self, address: Address) -> Result<Option<RevmAccountInfo>, Error> {
        Ok(self.current_account(address)?.map(|info| RevmAccountInfo {
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
            // Code is loaded lazily (code_by_hash), only for accounts whose code runs.
            code: None,
            ..RevmAccountInfo::default()
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Error> {
        if code_hash == KECCAK256_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        let code = match self.new_codes.get(&code_hash) {
            Some(code) => code.clone(),
            None => self.reader.code(code_hash)?,
        };
        // Code starting 0xEF01 is an EIP-7702 delegation; a malformed one is refused here
        // (revm's `new_raw` would panic on it).
        Bytecode::new_raw_checked(code)
            .map_err(|e| Error::BadInput(format!("bad code {code_hash}: {e}")))
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
            let entry = self
                .changes
                .entry(address)
                .or_insert_with(|| AccountChange {
                    info: before,
                    storage_cleared: false,
                    storage: BTreeMap::new(),
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
    let mut receipts = Vec::with_capacity(transactions.len());
    let mut cumulative_gas_used = 0u64;
    for (index, recovered) in transactions.iter().enumerate() {
        let tx = tx_env(recovered);
        if cumulative_gas_used.saturating_add(tx.gas_limit) > env.gas_limit {
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
        cumulative_gas_used += result.tx_gas_used();
        let success = result.is_success();
        let logs = result.into_logs();
        let receipt = Receipt {
            status: success.into(),
            cumulative_gas_used,
            logs,
        };
        let with_bloom: ReceiptWithBloom<Receipt> = receipt.into();
        receipts.push(match &recovered.tx {
            TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(with_bloom),
            TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(with_bloom),
            _ => ReceiptEnvelope::Eip1559(with_bloom),
        });
    }
    Ok(receipts)
}

/// revm's view of a transaction (types 0-2; [`crate::Block::recover_senders`] refused others).
fn tx_env(recovered: &RecoveredTx) -> TxEnv {
    let mut env = TxEnv {
        caller: recovered.sender,
        ..TxEnv::default()
    };
    match &recovered.tx {
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
            env.kind = TxKind::Call(recovered.sender);
            env.gas_limit = 0;
        }
    }
    env
}
