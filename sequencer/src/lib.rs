//! The co-located L2 sequencer of zkbox.
//!
//! **Owns**: the Ethereum JSON-RPC server ([`rpc`]), the mempool ([`mempool`]), block
//! building on zkbox-evm's native executor, the fsync'd acceptance and block logs
//! ([`record_log`]) with crash recovery ([`sequencer`]), batching of sealed blocks for the
//! prover ([`BatchSink`], [`handoff`]), the development accounts ([`dev`]) and the load generator
//! ([`loadgen`]).
//!
//! **Must not depend on** proving, gRPC or the host: it offers batch witnesses through the
//! narrow [`BatchSink`] trait that the host implements, and knows nothing of how they are
//! proven.
//!
//! See docs/sequencer.md for the design, the durability argument and the error codes.

pub mod call;
pub mod chain;
pub mod dev;
pub mod error;
pub mod handoff;
pub mod loadgen;
pub mod mempool;
pub mod record_log;
pub mod recovery;
pub mod rpc;
pub mod rpc_batch;
pub mod sequencer;

pub use error::TxError;
pub use rpc::{RpcConfig, serve};
pub use sequencer::{Backpressure, Batch, BatchSink, RecoveryReport, Sequencer, SequencerConfig};
