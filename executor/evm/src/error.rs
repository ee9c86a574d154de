//! The crate's error type: every way a block, a transaction, a witness or a genesis file can
//! be refused. Bad input is always one of these, never a panic.

use alloc::string::String;
use core::fmt;

use alloy_primitives::{Address, B256};

use crate::trie::TrieError;

/// Why a block could not be executed or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bytes that should be RLP are not, or do not decode to the expected shape.
    Rlp(alloy_rlp::Error),
    /// A trie node needed is missing or malformed: the witness does not match its root.
    Trie(TrieError),
    /// A transaction type this executor does not accept (only 0, 1 and 2 are).
    UnsupportedTxType(u8),
    /// A transaction signed for another chain.
    WrongChainId {
        /// Index of the transaction in the block.
        index: usize,
        /// The chain's id.
        expected: u64,
        /// The id in the transaction.
        found: u64,
    },
    /// A transaction whose signature does not recover to a sender.
    InvalidSignature {
        /// Index of the transaction in the block.
        index: usize,
    },
    /// revm refused a transaction (nonce, balance, gas limit, fee cap, ...).
    InvalidTransaction {
        /// Index of the transaction in the block.
        index: usize,
        /// revm's reason.
        reason: String,
    },
    /// The block's transactions ask for more gas than the block's gas limit.
    BlockGasLimitExceeded {
        /// Index of the first transaction that does not fit.
        index: usize,
    },
    /// The witness does not start with the witness magic.
    BadMagic,
    /// The witness is of a format version this code does not read.
    UnsupportedVersion(u16),
    /// Bytes left over after a complete witness or transaction.
    TrailingBytes,
    /// Code the block runs is not in the witness.
    MissingCode(B256),
    /// An account's code in the witness does not hash to the account's code hash.
    CodeHashMismatch(Address),
    /// A BLOCKHASH lookup for a block whose hash the witness does not carry.
    MissingBlockHash(u64),
    /// A stored account or slot value in the trie is not valid RLP of its type.
    MalformedStateValue,
    /// The block environment names a fork this executor does not run.
    UnsupportedFork(u8),
    /// A genesis or consensus-test file is malformed.
    BadInput(String),
    /// revm failed for a reason that is not the transaction's fault.
    Evm(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rlp(e) => write!(f, "malformed RLP: {e}"),
            Self::Trie(e) => write!(f, "{e}"),
            Self::UnsupportedTxType(t) => write!(f, "unsupported transaction type {t}"),
            Self::WrongChainId {
                index,
                expected,
                found,
            } => write!(
                f,
                "transaction {index} is for chain {found}, not {expected}"
            ),
            Self::InvalidSignature { index } => {
                write!(f, "transaction {index} has an invalid signature")
            }
            Self::InvalidTransaction { index, reason } => {
                write!(f, "transaction {index} is invalid: {reason}")
            }
            Self::BlockGasLimitExceeded { index } => {
                write!(f, "transaction {index} exceeds the block gas limit")
            }
            Self::BadMagic => f.write_str("not a zkbox block witness (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported witness version {v}"),
            Self::TrailingBytes => f.write_str("trailing bytes after the encoded value"),
            Self::MissingCode(h) => write!(f, "code {h} is missing from the witness"),
            Self::CodeHashMismatch(a) => write!(f, "code of {a} does not match its code hash"),
            Self::MissingBlockHash(n) => write!(f, "hash of block {n} is missing from the witness"),
            Self::MalformedStateValue => {
                f.write_str("malformed account or storage value in the state trie")
            }
            Self::UnsupportedFork(s) => write!(f, "unsupported fork (spec id {s})"),
            Self::BadInput(why) => write!(f, "bad input: {why}"),
            Self::Evm(why) => write!(f, "EVM error: {why}"),
        }
    }
}

impl core::error::Error for Error {}

impl revm::database_interface::DBErrorMarker for Error {}

impl From<alloy_rlp::Error> for Error {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::Rlp(e)
    }
}

impl From<TrieError> for Error {
    fn from(e: TrieError) -> Self {
        Self::Trie(e)
    }
}
