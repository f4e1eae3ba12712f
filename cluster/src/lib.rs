//! The cluster: a CometBFT application hosting one contract, its history on disk, and
//! the batch validator that replays the chain and plays the verification game against
//! a node that computed a transaction wrong.
//!
//! - [`ledger`]: the contract's state between calls and how a transaction runs on it.
//! - [`commitment`]: the app hash: the state hash and every transaction's outcome.
//! - [`history`]: a node's setup, block log and snapshots on disk.
//! - [`envelope`]: signed transactions: their binary encoding and signature check.
//! - [`node`]: the ABCI application.
//! - [`sync`]: state sync: the node's snapshots offered in chunks, and restored from them.
//! - [`disputes`]: the node's side of the game, for any committed transaction.
//! - [`proofs`]: query answers proven against an app hash, and their verifier.
//! - [`rpc`]: a client of CometBFT's RPC.
//! - [`validate`]: the batch validator.
//! - [`values`]: call arguments parsed by a function's signature.

pub mod commitment;
pub mod disputes;
pub mod envelope;
pub mod history;
pub mod keys;
pub mod ledger;
pub mod mempool;
pub mod node;
pub mod proofs;
pub mod rpc;
pub mod serde_hex;
pub mod sync;
pub mod validate;
pub mod values;
