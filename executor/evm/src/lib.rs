//! EVM state-transition for zkbox: the state model, native block execution with revm, block
//! witnesses, and the witness verifier the EVM guest runs.
//!
//! **Owns**: accounts and their Merkle-Patricia state root ([`State`]), blocks and their
//! outputs ([`Block`], [`BlockOutput`]), native execution ([`execute_block`]), witnesses
//! ([`Witness`], [`execute_block_with_witness`]) and their verification
//! ([`verify_and_execute`]). With the default `std` feature it also loads genesis files
//! ([`genesis`]) and runs Ethereum's GeneralStateTests ([`statetest`]).
//!
//! **Runs in two places**: natively (sequencer, tests) and inside the RV32IM guest. The crate
//! is `no_std` + `alloc` with `std` off, and every dependency is built without default
//! features, so the same [`verify_and_execute`] the tests check here is what the guest
//! proves.
//!
//! **Must not depend on** other zkbox crates: the executor, sequencer, prover and host
//! depend on it.
//!
//! ```
//! use zkbox_evm::{State, EMPTY_ROOT_HASH};
//! assert_eq!(State::new().state_root(), EMPTY_ROOT_HASH);
//! ```
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod block;
mod error;
mod exec;
#[cfg(feature = "std")]
pub mod genesis;
pub mod keccak;
mod native;
mod ordered_root;
pub mod phase;
pub mod recover;
pub mod secp256k1;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub mod secp256k1_x8;
pub mod state;
mod state_trie;
#[cfg(feature = "std")]
pub mod statetest;
pub mod trie;
mod witness;
#[cfg(feature = "std")]
pub mod workload;

pub use alloy_trie::EMPTY_ROOT_HASH;
pub use block::{
    Block, BlockEnv, BlockOutput, COMMITMENT_LEN, RecoveredTx, SUPPORTED_SPECS, decode_transaction,
};
pub use error::Error;
pub use exec::{AccountChange, AccountInfo, Overlay, StateReader, execute_transactions};
pub use native::{
    BlockChanges, BlockHashes, NativeReader, OpenBlock, UnappliedBlock, execute_block,
    execute_block_unapplied, execute_block_unapplied_with_senders,
};
pub use phase::{Phase, PhaseObserver};
pub use state::{Account, AccountProof, State, StorageProof};
pub use state_trie::StateTrie;
pub use witness::{
    BlockHashEntry, WITNESS_MAGIC, WITNESS_VERSION, Witness, execute_block_with_witness,
    verify_and_execute, verify_and_execute_observed,
};

/// The signed transaction type blocks carry.
pub use alloy_consensus::TxEnvelope;
/// revm's fork identifiers, for [`BlockEnv::spec`].
pub use revm::primitives::hardfork::SpecId;
