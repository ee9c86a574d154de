//! The sealed chain: the state after the latest block, every sealed block with its
//! transactions and receipts, and the index from transaction hash to block.
//!
//! The block log holds one [`BlockRecord`] per sealed block: its environment, its raw
//! transactions and the block hash sealing produced. Replaying the records from genesis
//! ([`Chain::replay`]) re-executes every block and checks that each hash comes out the same,
//! which rebuilds the state after a restart and proves the log was not altered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use zkbox_evm::{
    Block, BlockChanges, BlockEnv, BlockHashes, BlockOutput, State, StateTrie, UnappliedBlock,
};

/// A replayed block's number, hash and witness ([`Chain::replay_with_witnesses`]).
pub type BlockWitness = (u64, B256, zkbox_evm::Witness);

/// One sealed block as the block log stores it.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockRecord {
    /// The block's environment.
    pub env: BlockEnv,
    /// Its transactions, EIP-2718 encoded.
    pub transactions: Vec<Bytes>,
    /// The hash sealing produced (checked on replay).
    pub block_hash: B256,
}

impl BlockRecord {
    /// The record's bytes (RLP).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.length());
        self.encode(&mut out);
        out
    }

    /// Decodes a record; trailing bytes are an error.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let record = Self::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy_rlp::Error::Custom(
                "trailing bytes after a block record",
            ));
        }
        Ok(record)
    }
}

/// A sealed block with everything the JSON-RPC serves about it.
#[derive(Debug, Clone)]
pub struct SealedBlock {
    /// The header.
    pub header: Header,
    /// The header's hash.
    pub hash: B256,
    /// Transactions with their senders and hashes.
    pub transactions: Vec<(Arc<TxEnvelope>, Address, B256)>,
    /// One receipt per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Size of the RLP-encoded block, in bytes (approximate: header plus transactions).
    pub size: u64,
}

impl SealedBlock {
    /// Gas used by the transaction at `index` alone.
    pub fn gas_used_by(&self, index: usize) -> u64 {
        let cumulative = |i: usize| self.receipts[i].cumulative_gas_used();
        if index == 0 {
            cumulative(0)
        } else {
            cumulative(index) - cumulative(index - 1)
        }
    }

    /// Index of the first log of the transaction at `index` within the block.
    pub fn first_log_index(&self, index: usize) -> u64 {
        self.receipts[..index]
            .iter()
            .map(|r| r.logs().len() as u64)
            .sum()
    }
}

/// Chain parameters fixed at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// Chain id.
    pub chain_id: u64,
    /// Funded accounts.
    pub alloc: Vec<(Address, U256)>,
    /// Genesis timestamp (seconds).
    pub timestamp: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee (constant on this chain).
    pub base_fee: u64,
    /// Fork (revm spec id number).
    pub spec: u8,
}

/// The chain after its latest sealed block.
#[derive(Debug)]
pub struct Chain {
    state: State,
    /// The state's tries with their nodes' hashes, kept from block to block so that sealing
    /// hashes only what a block changed ([`Chain::seal`]). Behind a mutex because blocks are
    /// sealed under the chain's read lock; rebuilt from the state if it falls behind it.
    trie: Mutex<StateTrie>,
    blocks: Vec<Arc<SealedBlock>>,
    by_hash: HashMap<B256, u64>,
    tx_index: HashMap<B256, (u64, u32)>,
    genesis: Genesis,
}

impl Chain {
    /// The chain holding only its genesis block.
    pub fn new(genesis: Genesis) -> Self {
        let mut state = State::new();
        for (address, balance) in &genesis.alloc {
            state.insert_account(*address, 0, *balance, Bytes::new(), []);
        }
        let mut trie = StateTrie::from_state(&state);
        let header = Header {
            state_root: trie.root(),
            transactions_root: zkbox_evm::EMPTY_ROOT_HASH,
            receipts_root: zkbox_evm::EMPTY_ROOT_HASH,
            ommers_hash: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
            number: 0,
            gas_limit: genesis.gas_limit,
            timestamp: genesis.timestamp,
            base_fee_per_gas: Some(genesis.base_fee),
            withdrawals_root: Some(zkbox_evm::EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: (genesis.spec >= zkbox_evm::SpecId::PRAGUE as u8)
                .then_some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH),
            extra_data: Bytes::from_static(b"zkbox"),
            ..Header::default()
        };
        let hash = header.hash_slow();
        let block = SealedBlock {
            size: header.length() as u64,
            header,
            hash,
            transactions: Vec::new(),
            receipts: Vec::new(),
        };
        Chain {
            state,
            trie: Mutex::new(trie),
            by_hash: HashMap::from([(hash, 0)]),
            blocks: vec![Arc::new(block)],
            tx_index: HashMap::new(),
            genesis,
        }
    }

    /// Rebuilds the chain by re-executing `records` from genesis; fails at the first record
    /// that does not execute or whose hash differs from the one sealed.
    pub fn replay(genesis: Genesis, records: &[Vec<u8>]) -> Result<Self, String> {
        Ok(Chain::replay_with_witnesses(genesis, records, None)?.0)
    }

    /// [`Chain::replay`], executing every block after `witnesses_after` (when given) together
    /// with its witness, for the prover: returns (number, hash, witness) of each.
    pub fn replay_with_witnesses(
        genesis: Genesis,
        records: &[Vec<u8>],
        witnesses_after: Option<u64>,
    ) -> Result<(Self, Vec<BlockWitness>), String> {
        let mut chain = Chain::new(genesis);
        let mut witnesses = Vec::new();
        for (i, bytes) in records.iter().enumerate() {
            let record = BlockRecord::from_bytes(bytes)
                .map_err(|e| format!("block log record {i} is malformed: {e}"))?;
            let number = record.env.number;
            if number != chain.head_number() + 1 || record.env.parent_hash != chain.head().hash {
                return Err(format!(
                    "block log record {i} (block {number}) does not extend block {} {} (wrong chain or data dir?)",
                    chain.head_number(),
                    chain.head().hash
                ));
            }
            let block = Block::from_raw(record.env, &record.transactions)
                .map_err(|e| format!("block {number} in the block log: {e}"))?;
            let senders = block
                .recover_senders()
                .map_err(|e| format!("block {number} in the block log: {e}"))?;
            let hashes = chain.block_hashes();
            let does_not_execute = |e: zkbox_evm::Error| {
                format!("block {number} in the block log does not execute: {e}")
            };
            let output = if witnesses_after.is_some_and(|after| number > after) {
                let (output, witness) =
                    zkbox_evm::execute_block_with_witness(&mut chain.state, &block, &hashes)
                        .map_err(does_not_execute)?;
                witnesses.push((number, output.block_hash, witness));
                output
            } else {
                let unapplied = zkbox_evm::execute_block_unapplied(&chain.state, &block, &hashes)
                    .map_err(does_not_execute)?;
                let (output, changes) = chain.seal(unapplied, &block);
                changes.apply(&mut chain.state);
                output
            };
            if output.block_hash != record.block_hash {
                return Err(format!(
                    "block {number} replays to hash {} but was sealed as {}",
                    output.block_hash, record.block_hash
                ));
            }
            chain.push(
                output,
                senders
                    .into_iter()
                    .map(|r| (Arc::new(r.tx), r.sender))
                    .collect(),
            );
        }
        Ok((chain, witnesses))
    }

    /// Appends a block that was executed on [`Chain::state_mut`].
    pub fn push(&mut self, output: BlockOutput, transactions: Vec<(Arc<TxEnvelope>, Address)>) {
        let number = output.header.number;
        let transactions: Vec<_> = transactions
            .into_iter()
            .map(|(tx, sender)| {
                let hash = *tx.tx_hash();
                (tx, sender, hash)
            })
            .collect();
        for (i, (_, _, hash)) in transactions.iter().enumerate() {
            self.tx_index.insert(*hash, (number, i as u32));
        }
        let size = output.header.length() as u64
            + transactions
                .iter()
                .map(|(tx, _, _)| {
                    alloy_eips::eip2718::Encodable2718::encode_2718_len(tx.as_ref()) as u64
                })
                .sum::<u64>();
        self.by_hash.insert(output.block_hash, number);
        self.blocks.push(Arc::new(SealedBlock {
            header: output.header,
            hash: output.block_hash,
            transactions,
            receipts: output.receipts,
            size,
        }));
    }

    /// Seals `block`, executed over this chain's state (and not applied), without changing
    /// the state: the post-state root comes from the chain's kept tries, updated with the
    /// block's changes. Takes `&self` so that readers go on meanwhile; the returned changes
    /// must then be applied to the unchanged state ([`BlockChanges::apply`] on
    /// [`Chain::state_mut`]) before the block is [`Chain::push`]ed.
    pub fn seal(&self, unapplied: UnappliedBlock, block: &Block) -> (BlockOutput, BlockChanges) {
        let mut trie = self.trie.lock().unwrap_or_else(|p| p.into_inner());
        unapplied.seal_with(&self.state, &mut trie, block, self.head().header.state_root)
    }

    /// The state after the latest block.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state, for executing the next block on.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// The genesis parameters.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The latest block.
    pub fn head(&self) -> &Arc<SealedBlock> {
        self.blocks.last().expect("the chain always holds genesis")
    }

    /// The latest block's number.
    pub fn head_number(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    /// The block with this number.
    pub fn block(&self, number: u64) -> Option<&Arc<SealedBlock>> {
        usize::try_from(number)
            .ok()
            .and_then(|n| self.blocks.get(n))
    }

    /// The block with this hash.
    pub fn block_by_hash(&self, hash: &B256) -> Option<&Arc<SealedBlock>> {
        self.by_hash.get(hash).and_then(|n| self.block(*n))
    }

    /// Where a transaction was sealed: block number and index.
    pub fn tx_location(&self, hash: &B256) -> Option<(u64, u32)> {
        self.tx_index.get(hash).copied()
    }

    /// Hashes of the 256 blocks before the next one, for BLOCKHASH.
    pub fn block_hashes(&self) -> BlockHashes {
        let head = self.head_number();
        (head.saturating_sub(255)..=head)
            .filter_map(|n| self.block(n).map(|b| (n, b.hash)))
            .collect()
    }

    /// The environment of the block after the head.
    pub fn next_env(&self, timestamp: u64, beneficiary: Address) -> BlockEnv {
        let head = self.head();
        BlockEnv {
            chain_id: self.genesis.chain_id,
            spec: self.genesis.spec,
            parent_hash: head.hash,
            number: head.header.number + 1,
            timestamp: timestamp.max(head.header.timestamp),
            gas_limit: self.genesis.gas_limit,
            base_fee: self.genesis.base_fee,
            beneficiary,
            prev_randao: head.hash,
            excess_blob_gas: 0,
        }
    }
}
