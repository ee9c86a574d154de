//! Native block execution against a complete in-memory [`State`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use alloy_consensus::{ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::Encodable2718 as _;

use alloy_primitives::{Address, B256, Bytes, U256};

use crate::Error;
use crate::block::{Block, BlockEnv, BlockOutput, BlockRoots, RecoveredTx, seal, seal_with_roots};
use crate::exec::{
    AccountChange, AccountInfo, BlockReceipts, Overlay, StateReader, execute_transactions,
};
use crate::ordered_root::OrderedRoot;
use crate::state::{Account, State, account_leaf, trie_root};
use crate::state_trie::StateTrie;

/// Hashes of earlier blocks, by number, for BLOCKHASH (the 256 before the current one).
pub type BlockHashes = BTreeMap<u64, B256>;

/// A [`StateReader`] over a complete state: it never lacks anything but block hashes.
#[derive(Debug)]
pub struct NativeReader<'a> {
    state: &'a State,
    block_hashes: &'a BlockHashes,
}

impl<'a> NativeReader<'a> {
    /// Reads from `state`, answering BLOCKHASH from `block_hashes`.
    pub fn new(state: &'a State, block_hashes: &'a BlockHashes) -> Self {
        Self {
            state,
            block_hashes,
        }
    }
}

impl StateReader for NativeReader<'_> {
    fn account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
        Ok(self.state.account(&address).map(|a| AccountInfo {
            nonce: a.nonce,
            balance: a.balance,
            code_hash: a.code_hash,
        }))
    }

    fn storage(&mut self, address: Address, slot: U256) -> Result<U256, Error> {
        Ok(self.state.storage(&address, &slot))
    }

    fn code(&mut self, hash: B256) -> Result<Bytes, Error> {
        self.state.code(&hash).ok_or(Error::MissingCode(hash))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Error> {
        self.block_hashes
            .get(&number)
            .copied()
            .ok_or(Error::MissingBlockHash(number))
    }
}

/// Executes `block` on `state`. On success the state is the post-state; on error it is
/// unchanged (a block is applied whole or not at all).
pub fn execute_block(
    state: &mut State,
    block: &Block,
    block_hashes: &BlockHashes,
) -> Result<BlockOutput, Error> {
    let pre_state_root = state.state_root();
    let run = run_block(state, block, block_hashes)?;
    Ok(run.commit(state, block, pre_state_root))
}

/// A block executed over a state but not applied to it yet.
pub(crate) struct NativeRun {
    receipts: Vec<ReceiptEnvelope>,
    /// Every account whose pre-state the block read (all it changed among them).
    pub(crate) read_accounts: BTreeSet<Address>,
    changes: BTreeMap<Address, AccountChange>,
    new_codes: BTreeMap<B256, Bytes>,
    /// The transactions and receipts roots, when computed during execution (an open block).
    roots: Option<BlockRoots>,
}

/// Executes `block` over `state` without changing it.
pub(crate) fn run_block(
    state: &State,
    block: &Block,
    block_hashes: &BlockHashes,
) -> Result<NativeRun, Error> {
    run_recovered(state, block, &block.recover_senders()?, block_hashes)
}

/// Executes `block`'s `transactions` (its transactions with their senders) over `state`
/// without changing it.
fn run_recovered(
    state: &State,
    block: &Block,
    transactions: &[RecoveredTx],
    block_hashes: &BlockHashes,
) -> Result<NativeRun, Error> {
    let mut overlay = Overlay::new(NativeReader::new(state, block_hashes));
    let receipts = execute_transactions(&mut overlay, &block.env, transactions)?;
    Ok(NativeRun::from_parts(overlay, receipts, None))
}

impl NativeRun {
    /// The run of the transactions `overlay` and `receipts` hold.
    fn from_parts(
        overlay: Overlay<NativeReader<'_>>,
        receipts: Vec<ReceiptEnvelope>,
        roots: Option<BlockRoots>,
    ) -> Self {
        let read_accounts = overlay.read_accounts();
        let (_, changes, new_codes) = overlay.into_parts();
        NativeRun {
            receipts,
            read_accounts,
            changes,
            new_codes,
            roots,
        }
    }

    /// Applies the run to `state` and seals the block.
    pub(crate) fn commit(
        self,
        state: &mut State,
        block: &Block,
        pre_state_root: B256,
    ) -> BlockOutput {
        let (output, changes) = self.seal(state, None, block, pre_state_root);
        changes.apply(state);
        output
    }

    /// Seals the block over `state` without changing it: the post-state root comes from the
    /// state and the run's changes, which are returned to be applied to that same state.
    /// With `trie` (the state's tries, kept between blocks) the root comes from updating it;
    /// without, from hashing the whole state.
    fn seal(
        self,
        state: &State,
        trie: Option<&mut StateTrie>,
        block: &Block,
        pre_state_root: B256,
    ) -> (BlockOutput, BlockChanges) {
        let post_state_root = match trie {
            Some(trie) => root_after_in(state, trie, &self.changes, pre_state_root),
            None => root_after(state, &self.changes),
        };
        let output = match self.roots {
            Some(roots) => {
                assert_eq!(
                    block.transactions.len(),
                    self.receipts.len(),
                    "an open block is sealed with the transactions pushed into it"
                );
                seal_with_roots(
                    &block.env,
                    roots,
                    self.receipts,
                    pre_state_root,
                    post_state_root,
                )
            }
            None => seal(
                &block.env,
                &block.transactions,
                self.receipts,
                pre_state_root,
                post_state_root,
            ),
        };
        let changes = BlockChanges {
            changes: self.changes,
            new_codes: self.new_codes,
        };
        (output, changes)
    }
}

/// Applies a block's account changes and new code to a complete state.
pub(crate) fn apply_changes(
    state: &mut State,
    changes: &BTreeMap<Address, AccountChange>,
    new_codes: BTreeMap<B256, Bytes>,
) {
    for code in new_codes.into_values() {
        state.insert_code(code);
    }
    for (address, change) in changes {
        let before = state.remove_account(address);
        if let Some(after) = changed_account(before, change) {
            state.put_account(*address, after);
        }
    }
}

/// The account `before` becomes under `change` (`None`: it no longer exists).
fn changed_account(before: Option<Account>, change: &AccountChange) -> Option<Account> {
    let info = change.info.as_ref()?;
    let mut account = before.unwrap_or_default();
    if change.storage_cleared {
        account.storage.clear();
    }
    for (slot, value) in &change.storage {
        if value.is_zero() {
            account.storage.remove(slot);
        } else {
            account.storage.insert(*slot, *value);
        }
    }
    account.nonce = info.nonce;
    account.balance = info.balance;
    account.code_hash = info.code_hash;
    Some(account)
}

/// The root `state` would have with `changes` applied, computed without changing it: the
/// unchanged accounts' leaves as they are, the changed ones rebuilt.
fn root_after(state: &State, changes: &BTreeMap<Address, AccountChange>) -> B256 {
    let unchanged = state
        .accounts()
        .filter(|(address, _)| !changes.contains_key(*address))
        .map(|(address, account)| account_leaf(address, account));
    let changed = changes.iter().filter_map(|(address, change)| {
        let after = changed_account(state.account(address).cloned(), change)?;
        Some(account_leaf(address, &after))
    });
    trie_root(unchanged.chain(changed).collect())
}

/// [`root_after`] by updating `trie`, the tries of `state`. A trie that is not the state's
/// (its root is not `pre_state_root`: a block was applied without it, or an update failed)
/// is rebuilt from the state first.
fn root_after_in(
    state: &State,
    trie: &mut StateTrie,
    changes: &BTreeMap<Address, AccountChange>,
    pre_state_root: B256,
) -> B256 {
    if trie.root() != pre_state_root {
        *trie = StateTrie::from_state(state);
        debug_assert_eq!(
            trie.root(),
            pre_state_root,
            "the pre-state root is not the state's"
        );
    }
    match trie.apply_complete(changes) {
        Ok(root) => root,
        Err(_) => {
            // Unreachable for a complete trie (it holds every node); should it happen, the
            // emptied trie is rebuilt at the next block and this root is computed in full.
            *trie = StateTrie::default();
            root_after(state, changes)
        }
    }
}

/// A block executed over a state without changing it (see [`execute_block_unapplied`]).
pub struct UnappliedBlock {
    run: NativeRun,
}

impl core::fmt::Debug for UnappliedBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnappliedBlock")
            .field("receipts", &self.run.receipts.len())
            .finish_non_exhaustive()
    }
}

/// Executes `block` over `state` without changing it, so that readers may keep using the
/// state meanwhile (a sequencer executes under a read lock). [`UnappliedBlock::apply`]
/// then applies it; together they give exactly what [`execute_block`] gives, provided the
/// state did not change in between.
pub fn execute_block_unapplied(
    state: &State,
    block: &Block,
    block_hashes: &BlockHashes,
) -> Result<UnappliedBlock, Error> {
    run_block(state, block, block_hashes).map(|run| UnappliedBlock { run })
}

/// [`execute_block_unapplied`] for a block whose senders the caller recovered already:
/// `senders[i]` must be the recovered sender of `block.transactions[i]` (a sequencer
/// recovers each transaction when it accepts it; recovering again would double the
/// secp256k1 work). Types and chain ids are still checked.
pub fn execute_block_unapplied_with_senders(
    state: &State,
    block: &Block,
    senders: &[Address],
    block_hashes: &BlockHashes,
) -> Result<UnappliedBlock, Error> {
    assert_eq!(
        senders.len(),
        block.transactions.len(),
        "one sender per transaction"
    );
    let transactions = block
        .transactions
        .iter()
        .zip(senders)
        .enumerate()
        .map(|(index, (tx, &sender))| {
            RecoveredTx::with_sender(tx, sender, block.env.chain_id, index)
        })
        .collect::<Result<Vec<_>, _>>()?;
    run_recovered(state, block, &transactions, block_hashes).map(|run| UnappliedBlock { run })
}

impl UnappliedBlock {
    /// Applies the block to the state it was executed over and seals it. `pre_state_root`
    /// must be that state's root (the parent header's state root; it is not recomputed).
    pub fn apply(self, state: &mut State, block: &Block, pre_state_root: B256) -> BlockOutput {
        self.run.commit(state, block, pre_state_root)
    }

    /// Seals the block over the state it was executed over *without changing that state*:
    /// the post-state root is computed from the state and the block's changes, so readers of
    /// the state can go on meanwhile (the sequencer holds only a read lock for this). The
    /// returned [`BlockChanges`] must then be applied to that same, unchanged state; the
    /// output equals what [`UnappliedBlock::apply`] returns.
    pub fn seal(
        self,
        state: &State,
        block: &Block,
        pre_state_root: B256,
    ) -> (BlockOutput, BlockChanges) {
        self.run.seal(state, None, block, pre_state_root)
    }

    /// [`UnappliedBlock::seal`] computing the post-state root by updating `trie`, the tries
    /// of `state` kept from block to block ([`StateTrie::from_state`] once, then this for
    /// every block), instead of hashing the whole state: the cost follows what the block
    /// changed, not the size of the state. A `trie` that is not `state`'s (its root is not
    /// `pre_state_root`) is rebuilt from the state first; after this call it is the tries of
    /// the state with the returned changes applied.
    pub fn seal_with(
        self,
        state: &State,
        trie: &mut StateTrie,
        block: &Block,
        pre_state_root: B256,
    ) -> (BlockOutput, BlockChanges) {
        self.run.seal(state, Some(trie), block, pre_state_root)
    }
}

/// A block executed a transaction at a time as transactions arrive, over a state it does not
/// change (a sequencer executes each transaction soon after accepting it, so that sealing is
/// left with little more than the state root: the transactions and receipts roots are
/// hashed as transactions are pushed). [`OpenBlock::finish`] gives the
/// [`UnappliedBlock`] that [`execute_block_unapplied`] gives for the block of every
/// transaction pushed, in order: both run the same per-transaction code over one overlay.
pub struct OpenBlock<'a> {
    overlay: Overlay<NativeReader<'a>>,
    env: BlockEnv,
    receipts: BlockReceipts,
    /// The transactions and receipts roots, hashed as transactions are pushed, so that
    /// sealing has little of them left to do.
    transactions_root: OrderedRoot,
    receipts_root: OrderedRoot,
}

impl core::fmt::Debug for OpenBlock<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenBlock")
            .field("number", &self.env.number)
            .field("transactions", &self.receipts.len())
            .field("gas_used", &self.receipts.gas_used())
            .finish_non_exhaustive()
    }
}

impl<'a> OpenBlock<'a> {
    /// Opens a block with `env` over `state`, which must not change until the block is
    /// finished and sealed (BLOCKHASH answers from `block_hashes`).
    pub fn new(state: &'a State, env: BlockEnv, block_hashes: &'a BlockHashes) -> Self {
        Self {
            overlay: Overlay::new(NativeReader::new(state, block_hashes)),
            env,
            receipts: BlockReceipts::default(),
            transactions_root: OrderedRoot::default(),
            receipts_root: OrderedRoot::default(),
        }
    }

    /// Executes `transactions`, whose senders the caller recovered (a sequencer did when it
    /// accepted them), in order as the block's next ones. Stops at the first one refused
    /// (wrong type or chain id, invalid for revm — nonce, balance —, or over the block's gas
    /// limit): those before it stay executed, it leaves no trace, and the error carries its
    /// position in `transactions` (the error's own index is the one it would have had in
    /// the block).
    pub fn push_all<'t>(
        &mut self,
        transactions: impl IntoIterator<Item = (&'t TxEnvelope, Address)>,
    ) -> Result<(), (usize, Error)> {
        let transactions: Vec<(&TxEnvelope, Address)> = transactions.into_iter().collect();
        let first = self.receipts.len();
        let chain_id = self.env.chain_id;
        let mut checked = Ok(());
        let mut count = 0;
        let typed = transactions.iter().copied().map_while(|(tx, sender)| {
            let index = first + count;
            count += 1;
            match crate::block::check_type_and_chain(tx, chain_id, index) {
                Ok(()) => Some((tx, sender)),
                Err(e) => {
                    checked = Err(e);
                    None
                }
            }
        });
        let executed = self.receipts.execute(&mut self.overlay, &self.env, typed);
        let position = self.receipts.len() - first;
        for ((tx, _), receipt) in transactions.iter().zip(&self.receipts.receipts()[first..]) {
            self.transactions_root.push(|buf| tx.encode_2718(buf));
            self.receipts_root.push(|buf| receipt.encode_2718(buf));
        }
        executed.and(checked).map_err(|e| (position, e))
    }

    /// Executes one transaction as the block's next ([`OpenBlock::push_all`] of one).
    pub fn push(&mut self, tx: &TxEnvelope, sender: Address) -> Result<(), Error> {
        self.push_all([(tx, sender)]).map_err(|(_, e)| e)
    }

    /// The nonce `address` has after the transactions executed so far (0 for an account
    /// that does not exist, or could not be read).
    pub fn nonce(&mut self, address: &Address) -> u64 {
        self.overlay
            .current_account(*address)
            .ok()
            .flatten()
            .map_or(0, |a| a.nonce)
    }

    /// The block's environment.
    pub fn env(&self) -> &BlockEnv {
        &self.env
    }

    /// How many transactions the block holds.
    pub fn transaction_count(&self) -> usize {
        self.receipts.len()
    }

    /// The gas they used.
    pub fn gas_used(&self) -> u64 {
        self.receipts.gas_used()
    }

    /// The block executed, ready to be sealed ([`UnappliedBlock::seal_with`]) as the block
    /// of `env` and the transactions pushed, in order.
    pub fn finish(self) -> UnappliedBlock {
        let roots = BlockRoots {
            transactions: self.transactions_root.root(),
            receipts: self.receipts_root.root(),
        };
        UnappliedBlock {
            run: NativeRun::from_parts(self.overlay, self.receipts.into_receipts(), Some(roots)),
        }
    }
}

/// A sealed block's changes to the state, not yet applied (see [`UnappliedBlock::seal`]).
pub struct BlockChanges {
    changes: BTreeMap<Address, AccountChange>,
    new_codes: BTreeMap<B256, Bytes>,
}

impl core::fmt::Debug for BlockChanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockChanges")
            .field("accounts", &self.changes.len())
            .field("new_codes", &self.new_codes.len())
            .finish()
    }
}

impl BlockChanges {
    /// Applies the changes to the state the block was sealed over, which must not have
    /// changed since (its root becomes the sealed block's post-state root).
    pub fn apply(self, state: &mut State) {
        apply_changes(state, &self.changes, self.new_codes);
    }
}
