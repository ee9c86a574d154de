//! Blocks: the environment a block runs in, its signed transactions, and what executing it
//! produces ([`BlockOutput`]).

use alloc::string::ToString;
use alloc::vec::Vec;

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use revm::primitives::hardfork::SpecId;

use crate::Error;

/// The forks this executor runs, by revm spec id.
pub const SUPPORTED_SPECS: [SpecId; 3] = [SpecId::CANCUN, SpecId::PRAGUE, SpecId::OSAKA];

/// What a block's transactions see of the chain: the header fields known before execution.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockEnv {
    /// Chain id every (EIP-155) transaction must be signed for.
    pub chain_id: u64,
    /// Fork rules, as revm's `SpecId` number (Cancun, Prague or Osaka).
    pub spec: u8,
    /// Hash of the parent block.
    pub parent_hash: B256,
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee per gas (wei).
    pub base_fee: u64,
    /// Fee recipient (COINBASE).
    pub beneficiary: Address,
    /// PREVRANDAO value (the header's mix hash).
    pub prev_randao: B256,
    /// EIP-4844 excess blob gas (BLOBBASEFEE derives from it).
    pub excess_blob_gas: u64,
}

impl BlockEnv {
    /// The fork as revm's `SpecId`, if it is one this executor runs.
    pub fn spec_id(&self) -> Result<SpecId, Error> {
        SUPPORTED_SPECS
            .into_iter()
            .find(|s| *s as u8 == self.spec)
            .ok_or(Error::UnsupportedFork(self.spec))
    }
}

/// A block to execute: its environment and its transactions, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The environment.
    pub env: BlockEnv,
    /// Signed transactions (legacy, EIP-2930 or EIP-1559).
    pub transactions: Vec<TxEnvelope>,
}

/// A transaction with the sender its signature recovers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its sender.
    pub sender: Address,
}

impl Block {
    /// Decodes EIP-2718 transaction encodings into a block.
    pub fn from_raw(env: BlockEnv, raw: &[Bytes]) -> Result<Self, Error> {
        let transactions = raw
            .iter()
            .map(|r| decode_transaction(r))
            .collect::<Result<_, _>>()?;
        Ok(Self { env, transactions })
    }

    /// The transactions' EIP-2718 encodings.
    pub fn raw_transactions(&self) -> Vec<Bytes> {
        self.transactions
            .iter()
            .map(|t| t.encoded_2718().into())
            .collect()
    }

    /// Checks each transaction's type and chain id and recovers its sender
    /// ([`RecoveredTx::recover_all`]).
    pub fn recover_senders(&self) -> Result<Vec<RecoveredTx>, Error> {
        RecoveredTx::recover_all(&self.transactions, self.env.chain_id, 0)
    }
}

impl RecoveredTx {
    /// Checks `tx`'s type (0, 1 or 2) and, if it names one, its chain id against
    /// `chain_id`, and recovers its sender (secp256k1, high-s refused); `index` is its place
    /// in the block, for the error. Independent per transaction, so a caller may recover a
    /// block's transactions on several threads.
    pub fn recover(tx: &TxEnvelope, chain_id: u64, index: usize) -> Result<Self, Error> {
        check_type_and_chain(tx, chain_id, index)?;
        let sender = crate::recover::recover_address(tx.signature(), &tx.signature_hash())
            .ok_or(Error::InvalidSignature { index })?;
        Ok(RecoveredTx {
            tx: tx.clone(),
            sender,
        })
    }

    /// [`RecoveredTx::recover`] for consecutive transactions, the first at `first_index` in
    /// the block: the same answers and the same first error. Natively the signatures are
    /// recovered together ([`crate::recover::recover_addresses`]: eight at a time with
    /// AVX-512 IFMA where the processor has it).
    pub fn recover_all(
        txs: &[TxEnvelope],
        chain_id: u64,
        first_index: usize,
    ) -> Result<Vec<Self>, Error> {
        #[cfg(feature = "std")]
        {
            let items: Vec<_> = txs
                .iter()
                .map(|tx| (*tx.signature(), tx.signature_hash()))
                .collect();
            let senders = crate::recover::recover_addresses(&items);
            txs.iter()
                .zip(senders)
                .enumerate()
                .map(|(i, (tx, sender))| {
                    let index = first_index + i;
                    check_type_and_chain(tx, chain_id, index)?;
                    Ok(RecoveredTx {
                        tx: tx.clone(),
                        sender: sender.ok_or(Error::InvalidSignature { index })?,
                    })
                })
                .collect()
        }
        #[cfg(not(feature = "std"))]
        txs.iter()
            .enumerate()
            .map(|(i, tx)| Self::recover(tx, chain_id, first_index + i))
            .collect()
    }

    /// Like [`RecoveredTx::recover`] for a transaction whose sender the caller recovered
    /// already (a sequencer recovers each one when it accepts it): the type and chain id are
    /// checked, the signature is not recovered again. `sender` must be what recovery gives.
    pub fn with_sender(
        tx: &TxEnvelope,
        sender: Address,
        chain_id: u64,
        index: usize,
    ) -> Result<Self, Error> {
        check_type_and_chain(tx, chain_id, index)?;
        Ok(RecoveredTx {
            tx: tx.clone(),
            sender,
        })
    }
}

/// Refuses a transaction of a type blocks do not carry, or signed for another chain.
pub(crate) fn check_type_and_chain(
    tx: &TxEnvelope,
    chain_id: u64,
    index: usize,
) -> Result<(), Error> {
    check_type(tx)?;
    if let Some(found) = alloy_consensus::Transaction::chain_id(tx)
        && found != chain_id
    {
        return Err(Error::WrongChainId {
            index,
            expected: chain_id,
            found,
        });
    }
    Ok(())
}

fn check_type(tx: &TxEnvelope) -> Result<(), Error> {
    match tx {
        TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => Ok(()),
        other => Err(Error::UnsupportedTxType(other.tx_type() as u8)),
    }
}

/// Decodes one EIP-2718 transaction (a legacy RLP list, or a type byte 1 or 2 and its
/// payload); other types, malformed bytes and trailing bytes are errors.
pub fn decode_transaction(raw: &[u8]) -> Result<TxEnvelope, Error> {
    if let Some(&ty) = raw.first()
        && ty < 0x7f
        && !(1..=2).contains(&ty)
    {
        return Err(Error::UnsupportedTxType(ty));
    }
    let mut buf = raw;
    let tx = TxEnvelope::decode_2718(&mut buf).map_err(|e| match e {
        alloy_eips::eip2718::Eip2718Error::RlpError(e) => Error::Rlp(e),
        alloy_eips::eip2718::Eip2718Error::UnexpectedType(t) => Error::UnsupportedTxType(t),
        other => Error::BadInput(other.to_string()),
    })?;
    if !buf.is_empty() {
        return Err(Error::TrailingBytes);
    }
    check_type(&tx)?;
    Ok(tx)
}

/// What executing a block produces; the first six fields are what the EVM guest commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutput {
    /// State root before the block.
    pub pre_state_root: B256,
    /// State root after the block.
    pub post_state_root: B256,
    /// Hash of the block's header (see [`BlockOutput::header`]).
    pub block_hash: B256,
    /// Root of the trie of the block's transactions.
    pub transactions_root: B256,
    /// Root of the trie of the block's receipts.
    pub receipts_root: B256,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Bloom filter of all logs.
    pub logs_bloom: Bloom,
    /// One receipt per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// The sealed header.
    pub header: Header,
}

/// Length of [`BlockOutput::commitment`].
pub const COMMITMENT_LEN: usize = 5 * 32 + 8;

impl BlockOutput {
    /// The guest's public output: pre-state root, post-state root, block hash, transactions
    /// root, receipts root (32 bytes each) and gas used (8 bytes, big-endian).
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        let mut out = [0u8; COMMITMENT_LEN];
        for (i, root) in [
            self.pre_state_root,
            self.post_state_root,
            self.block_hash,
            self.transactions_root,
            self.receipts_root,
        ]
        .iter()
        .enumerate()
        {
            out[i * 32..(i + 1) * 32].copy_from_slice(root.as_slice());
        }
        out[160..].copy_from_slice(&self.gas_used.to_be_bytes());
        out
    }
}

/// Seals a block: computes its roots and header from its execution results.
pub(crate) fn seal(
    env: &BlockEnv,
    transactions: &[TxEnvelope],
    receipts: Vec<ReceiptEnvelope>,
    pre_state_root: B256,
    post_state_root: B256,
) -> BlockOutput {
    let roots = BlockRoots {
        transactions: alloy_consensus::proofs::calculate_transaction_root(transactions),
        receipts: alloy_consensus::proofs::calculate_receipt_root(&receipts),
    };
    seal_with_roots(env, roots, receipts, pre_state_root, post_state_root)
}

/// A block's transactions root and receipts root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRoots {
    /// Root of the trie of the block's transactions (EIP-2718 encodings by index).
    pub(crate) transactions: B256,
    /// Root of the trie of its receipts.
    pub(crate) receipts: B256,
}

/// [`seal`] with the transactions and receipts roots already computed (an open block
/// computes them as transactions arrive).
pub(crate) fn seal_with_roots(
    env: &BlockEnv,
    roots: BlockRoots,
    receipts: Vec<ReceiptEnvelope>,
    pre_state_root: B256,
    post_state_root: B256,
) -> BlockOutput {
    let BlockRoots {
        transactions: transactions_root,
        receipts: receipts_root,
    } = roots;
    let mut logs_bloom = Bloom::ZERO;
    for receipt in &receipts {
        logs_bloom.accrue_bloom(receipt.logs_bloom());
    }
    let gas_used = receipts
        .last()
        .map(ReceiptEnvelope::cumulative_gas_used)
        .unwrap_or(0);
    let header = Header {
        parent_hash: env.parent_hash,
        ommers_hash: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
        beneficiary: env.beneficiary,
        state_root: post_state_root,
        transactions_root,
        receipts_root,
        logs_bloom,
        difficulty: U256::ZERO,
        number: env.number,
        gas_limit: env.gas_limit,
        gas_used,
        timestamp: env.timestamp,
        extra_data: Bytes::new(),
        mix_hash: env.prev_randao,
        nonce: B64::ZERO,
        base_fee_per_gas: Some(env.base_fee),
        withdrawals_root: Some(alloy_trie::EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(env.excess_blob_gas),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: (env.spec >= SpecId::PRAGUE as u8)
            .then_some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH),
        ..Header::default()
    };
    BlockOutput {
        pre_state_root,
        post_state_root,
        block_hash: header.hash_slow(),
        transactions_root,
        receipts_root,
        gas_used,
        logs_bloom,
        receipts,
        header,
    }
}
