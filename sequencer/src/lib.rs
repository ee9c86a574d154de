//! The co-located L2 sequencer of zkbox.
//!
//! **Owns**: the Ethereum JSON-RPC server, the mempool, block building on the executor's
//! native EVM, the fsync'd acceptance and block logs with crash recovery, batching of sealed
//! blocks for the prover, and the load generator.
//!
//! **Must not depend on** proving, gRPC or the host: it offers batch witnesses through a
//! narrow trait that the host implements, and knows nothing of how they are proven.
//!
//! Status: arrives with the sequencer issue.
