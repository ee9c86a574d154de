//! Why a transaction or request is refused, with the JSON-RPC code and message geth uses, so
//! that wallets and tools that match on geth's messages behave the same here.

use std::fmt;

/// JSON-RPC code geth gives every transaction-pool and execution refusal.
pub const SERVER_ERROR: i32 = -32000;
/// JSON-RPC "invalid params".
pub const INVALID_PARAMS: i32 = -32602;
/// JSON-RPC "internal error".
pub const INTERNAL_ERROR: i32 = -32603;
/// geth's code for a reverted `eth_call`/`eth_estimateGas` (the data is the revert output).
pub const EXECUTION_REVERTED: i32 = 3;
/// EIP-7966: the transaction was accepted but not included within the timeout.
pub const SYNC_TIMEOUT: i32 = 4;
/// The sequencer cannot accept right now (backpressure, a failed log): try again later.
pub const UNAVAILABLE: i32 = -32005;

/// A refusal of `eth_sendRawTransaction` (or a request), as geth words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxError {
    /// The bytes are not a transaction.
    Decode(String),
    /// A transaction type the sequencer does not take (blob, set-code, unknown).
    TypeNotSupported,
    /// Signed for another chain.
    WrongChainId,
    /// A legacy transaction signed without a chain id (pre-EIP-155: valid on every chain),
    /// refused unless the sequencer is configured to allow them, as geth does over RPC.
    Unprotected,
    /// The signature recovers to no sender.
    InvalidSender,
    /// Larger than the size limit.
    OversizedData,
    /// Gas limit below the intrinsic gas.
    IntrinsicGas,
    /// Gas limit above the block gas limit.
    GasLimit,
    /// Priority fee above the fee cap.
    TipAboveFeeCap,
    /// Fee cap below the base fee.
    FeeCapTooLow,
    /// Nonce below the account's.
    NonceTooLow,
    /// Nonce too far ahead of the account's.
    NonceTooHigh,
    /// The sender cannot pay gas * price + value.
    InsufficientFunds,
    /// The same transaction is already pooled.
    AlreadyKnown,
    /// A replacement that does not raise the fees enough.
    ReplacementUnderpriced,
    /// The sender has too many transactions pooled.
    AccountLimitExceeded,
    /// The pool is full and this transaction pays too little to evict another.
    PoolFull,
    /// The acceptance log could not make it durable: it was not accepted.
    NotDurable(String),
    /// The sequencer is not accepting (halted, or sealing stopped by backpressure).
    Unavailable(String),
}

impl TxError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            TxError::NotDurable(_) | TxError::Unavailable(_) => UNAVAILABLE,
            _ => SERVER_ERROR,
        }
    }
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::Decode(why) => write!(f, "rlp: {why}"),
            TxError::TypeNotSupported => f.write_str("transaction type not supported"),
            TxError::WrongChainId => f.write_str("invalid chain id for signer"),
            TxError::Unprotected => {
                f.write_str("only replay-protected (EIP-155) transactions allowed over RPC")
            }
            TxError::InvalidSender => f.write_str("invalid sender"),
            TxError::OversizedData => f.write_str("oversized data"),
            TxError::IntrinsicGas => f.write_str("intrinsic gas too low"),
            TxError::GasLimit => f.write_str("exceeds block gas limit"),
            TxError::TipAboveFeeCap => {
                f.write_str("max priority fee per gas higher than max fee per gas")
            }
            TxError::FeeCapTooLow => f.write_str("max fee per gas less than block base fee"),
            TxError::NonceTooLow => f.write_str("nonce too low"),
            TxError::NonceTooHigh => f.write_str("nonce too high"),
            TxError::InsufficientFunds => f.write_str("insufficient funds for gas * price + value"),
            TxError::AlreadyKnown => f.write_str("already known"),
            TxError::ReplacementUnderpriced => f.write_str("replacement transaction underpriced"),
            TxError::AccountLimitExceeded => f.write_str("account limit exceeded"),
            TxError::PoolFull => f.write_str("txpool is full"),
            TxError::NotDurable(why) => write!(f, "transaction not accepted: {why}"),
            TxError::Unavailable(why) => write!(f, "sequencer unavailable: {why}"),
        }
    }
}

impl std::error::Error for TxError {}
