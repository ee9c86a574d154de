//! Block witnesses: everything a verifier needs to re-execute a block without the state, and
//! the verifier itself ([`verify_and_execute`]), the function the EVM guest runs.
//!
//! # Format (version 1)
//!
//! ```text
//! magic    4 bytes  "ZKBW"
//! version  2 bytes  big-endian, 1
//! body     RLP list [
//!            env:            [chain_id, spec, parent_hash, number, timestamp, gas_limit,
//!                             base_fee, beneficiary, prev_randao, excess_blob_gas],
//!            pre_state_root: 32 bytes,
//!            transactions:   [EIP-2718 encoding, ...],
//!            nodes:          [RLP trie node, ...],
//!            codes:          [contract code, ...],
//!            block_hashes:   [[number, hash], ...],
//!          ]
//! ```
//!
//! Nothing may follow the body. `nodes` is the deduplicated union of the account-trie and
//! storage-trie nodes the block needs: the Merkle proof of every account and slot it reads or
//! writes, plus the sibling a deletion merges into its parent. The verifier indexes nodes and
//! codes by their keccak, so neither can be forged: a node or code that does not hash to what
//! its parent (ultimately the pre-state root) names is simply not found, and a block that
//! needs it fails with [`Error::Trie`] or [`Error::MissingCode`]. Pre-state values are never
//! taken from the witness directly, only read out of the tries, so a witness cannot lie
//! about one. `block_hashes` (for BLOCKHASH) are taken on trust in version 1: the parent
//! hash chain that would bind them is the sequencer's concern.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

use crate::Error;
use crate::block::{Block, BlockEnv, BlockOutput, seal};
use crate::exec::{AccountChange, AccountInfo, Overlay, StateReader, execute_transactions};
use crate::native::{BlockHashes, run_block};
use crate::phase::{Phase, PhaseObserver};
use crate::state::State;
use crate::state_trie::{StateTrie, TrieKeys};
use crate::trie::{HashedNodes, NodeSource};

/// First bytes of every encoded witness.
pub const WITNESS_MAGIC: [u8; 4] = *b"ZKBW";
/// The witness format version this code writes and reads.
pub const WITNESS_VERSION: u16 = 1;

/// The hash of an earlier block, for BLOCKHASH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockHashEntry {
    /// Block number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// A block and the part of its pre-state it touches, with proofs (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Witness {
    /// The block's environment.
    pub env: BlockEnv,
    /// The state root the block starts from.
    pub pre_state_root: B256,
    /// The block's transactions, EIP-2718 encoded.
    pub transactions: Vec<Bytes>,
    /// Trie nodes (RLP), any order.
    pub nodes: Vec<Bytes>,
    /// Contract code the block runs.
    pub codes: Vec<Bytes>,
    /// Hashes of earlier blocks the block asks for.
    pub block_hashes: Vec<BlockHashEntry>,
}

impl Witness {
    /// The versioned encoding: magic, version, RLP body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.length() + 6);
        out.extend_from_slice(&WITNESS_MAGIC);
        out.extend_from_slice(&WITNESS_VERSION.to_be_bytes());
        Encodable::encode(self, &mut out);
        out
    }

    /// Reads an encoded witness; anything but exactly one version-1 witness is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let rest = bytes.strip_prefix(&WITNESS_MAGIC).ok_or(Error::BadMagic)?;
        let (version, mut body) = rest.split_first_chunk::<2>().ok_or(Error::BadMagic)?;
        let version = u16::from_be_bytes(*version);
        if version != WITNESS_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let witness = <Self as Decodable>::decode(&mut body)?;
        if !body.is_empty() {
            return Err(Error::TrailingBytes);
        }
        Ok(witness)
    }
}

/// Checks a witness against its pre-state root and executes its block: what the EVM guest
/// runs. Returns the same [`BlockOutput`] native execution does, or an error if the witness
/// is malformed, incomplete or inconsistent with its root, or the block is invalid.
pub fn verify_and_execute(witness: &Witness) -> Result<BlockOutput, Error> {
    verify_and_execute_observed(witness, &mut ())
}

/// [`verify_and_execute`], telling `observer` each time it enters a [`Phase`]: the EVM
/// guest uses this to mark where its cycles go.
pub fn verify_and_execute_observed(
    witness: &Witness,
    observer: &mut dyn PhaseObserver,
) -> Result<BlockOutput, Error> {
    observer.enter(Phase::Decode);
    let block = Block::from_raw(witness.env.clone(), &witness.transactions)?;
    observer.enter(Phase::WitnessHashing);
    let nodes = HashedNodes::new(witness.nodes.iter().cloned());
    let codes = witness
        .codes
        .iter()
        .map(|c| (keccak256(c), c.clone()))
        .collect();
    let block_hashes = witness
        .block_hashes
        .iter()
        .map(|e| (e.number, e.hash))
        .collect();
    let reader = WitnessReader::new(witness.pre_state_root, nodes, codes, block_hashes, observer);
    run(reader, &block).map(|(output, _)| output)
}

/// Executes `block` on `state` (as [`crate::execute_block`] does) and also returns its witness.
/// The witness is built by running the verifier's own procedure over the whole state and
/// keeping exactly the nodes, code and block hashes it asked for; its result must equal
/// native execution's, or this fails with [`Error::Evm`].
pub fn execute_block_with_witness(
    state: &mut State,
    block: &Block,
    block_hashes: &BlockHashes,
) -> Result<(BlockOutput, Witness), Error> {
    let pre_state_root = state.state_root();
    // Native execution first (not applied yet): it names the accounts whose storage tries the
    // witness may need, so only those tries are hashed.
    let native_run = run_block(state, block, block_hashes)?;
    let all_nodes = state.trie_nodes(native_run.read_accounts.iter().copied());
    let source = RecordingSource {
        all: all_nodes,
        used: BTreeSet::new(),
    };
    let codes = state.codes().clone();
    let mut unobserved = ();
    let reader = WitnessReader::new(
        pre_state_root,
        source,
        codes,
        block_hashes.clone(),
        &mut unobserved,
    );
    let (recorded, reader) = run(reader, block)?;
    let witness = Witness {
        env: block.env.clone(),
        pre_state_root,
        transactions: block.raw_transactions(),
        nodes: reader
            .source
            .used
            .iter()
            .filter_map(|h| reader.source.all.get(h).cloned())
            .collect(),
        codes: reader
            .used_codes
            .iter()
            .filter_map(|h| reader.codes.get(h).cloned())
            .collect(),
        block_hashes: reader
            .used_block_hashes
            .iter()
            .filter_map(|n| {
                block_hashes.get(n).map(|h| BlockHashEntry {
                    number: *n,
                    hash: *h,
                })
            })
            .collect(),
    };
    let native = native_run.commit(state, block, pre_state_root);
    if native != recorded {
        return Err(Error::Evm("witness run and native run disagree".into()));
    }
    Ok((native, witness))
}

fn run<'o, S: NodeSource>(
    mut reader: WitnessReader<'o, S>,
    block: &Block,
) -> Result<(BlockOutput, WitnessReader<'o, S>), Error> {
    reader.observer.enter(Phase::Recovery);
    let transactions = block.recover_senders()?;
    let pre_state_root = reader.tries.root();
    reader.observer.enter(Phase::Execution);
    let mut overlay = Overlay::new(reader);
    let receipts = execute_transactions(&mut overlay, &block.env, &transactions)?;
    let (mut reader, changes, _) = overlay.into_parts();
    reader.observer.enter(Phase::StateRoot);
    let post_state_root = reader.apply(&changes)?;
    reader.observer.enter(Phase::Seal);
    Ok((
        seal(
            &block.env,
            &block.transactions,
            receipts,
            pre_state_root,
            post_state_root,
        ),
        reader,
    ))
}

/// A node source over every node of a state that remembers which ones were asked for.
struct RecordingSource {
    all: BTreeMap<B256, Bytes>,
    used: BTreeSet<B256>,
}

impl NodeSource for RecordingSource {
    fn node(&mut self, hash: &B256) -> Option<Bytes> {
        let node = self.all.get(hash).cloned();
        if node.is_some() {
            self.used.insert(*hash);
        }
        node
    }
}

/// Reads pre-state out of partial tries resolved from a node source.
struct WitnessReader<'o, S> {
    source: S,
    observer: &'o mut dyn PhaseObserver,
    tries: StateTrie,
    codes: BTreeMap<B256, Bytes>,
    used_codes: BTreeSet<B256>,
    block_hashes: BTreeMap<u64, B256>,
    used_block_hashes: BTreeSet<u64>,
    keys: TrieKeys,
}

impl<'o, S: NodeSource> WitnessReader<'o, S> {
    fn new(
        root: B256,
        source: S,
        codes: BTreeMap<B256, Bytes>,
        block_hashes: BTreeMap<u64, B256>,
        observer: &'o mut dyn PhaseObserver,
    ) -> Self {
        Self {
            source,
            observer,
            tries: StateTrie::from_root(root),
            codes,
            used_codes: BTreeSet::new(),
            block_hashes,
            used_block_hashes: BTreeSet::new(),
            keys: TrieKeys::default(),
        }
    }

    /// Applies the block's changes to the tries (in address order) and returns the new root.
    fn apply(&mut self, changes: &BTreeMap<Address, AccountChange>) -> Result<B256, Error> {
        self.tries.apply(changes, &mut self.keys, &mut self.source)
    }

    fn read_account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
        let key = self.keys.account(address);
        let Some(account) = self.tries.account(&key, &mut self.source)? else {
            return Ok(None);
        };
        self.tries.storage(address, account.storage_root);
        Ok(Some(AccountInfo {
            nonce: account.nonce,
            balance: account.balance,
            code_hash: account.code_hash,
        }))
    }

    fn read_storage(&mut self, address: Address, slot: U256) -> Result<U256, Error> {
        if self.tries.storage_if_known(&address).is_none() && self.read_account(address)?.is_none()
        {
            return Ok(U256::ZERO);
        }
        let key = self.keys.slot(slot);
        let Some(trie) = self.tries.storage_if_known(&address) else {
            return Ok(U256::ZERO);
        };
        let Some(leaf) = trie.get(key.as_slice(), &mut self.source)? else {
            return Ok(U256::ZERO);
        };
        let mut buf = leaf.as_slice();
        let value = U256::decode(&mut buf).map_err(|_| Error::MalformedStateValue)?;
        if !buf.is_empty() || value.is_zero() {
            return Err(Error::MalformedStateValue);
        }
        Ok(value)
    }
}

/// revm asks for pre-state only during execution, so each read is a [`Phase::StateReads`]
/// span inside [`Phase::Execution`].
impl<S: NodeSource> StateReader for WitnessReader<'_, S> {
    fn account(&mut self, address: Address) -> Result<Option<AccountInfo>, Error> {
        self.observer.enter(Phase::StateReads);
        let account = self.read_account(address);
        self.observer.enter(Phase::Execution);
        account
    }

    fn storage(&mut self, address: Address, slot: U256) -> Result<U256, Error> {
        self.observer.enter(Phase::StateReads);
        let value = self.read_storage(address, slot);
        self.observer.enter(Phase::Execution);
        value
    }

    fn code(&mut self, hash: B256) -> Result<Bytes, Error> {
        let code = self
            .codes
            .get(&hash)
            .cloned()
            .ok_or(Error::MissingCode(hash))?;
        self.used_codes.insert(hash);
        Ok(code)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Error> {
        let hash = self
            .block_hashes
            .get(&number)
            .copied()
            .ok_or(Error::MissingBlockHash(number))?;
        self.used_block_hashes.insert(number);
        Ok(hash)
    }
}
