//! The app hash a node commits for a block: the contract's state hash after the block and
//! every transaction's outcome in it, so that a transaction's status, results, steps, gas
//! and post-state are as much a part of consensus as the state (docs/spec.md, "The
//! cluster's chain").
//!
//! ```text
//! outcome leaf  = keccak(0x21 || keccak(tx) || status u8 || steps u64 || gas u64
//!                        || results count u32 || (type u8 || slot u64)* || post_hash
//!                        || exited u8 (0 or 1) || exit code u32 (0 if not exited)
//!                        || keccak(stdout) || keccak(stderr)
//!                        || emitted count u32 || emitted i64*)
//! outcomes root = rs_merkle-shaped root over the block's leaves in order (zero hash if none)
//! app hash      = keccak(0x20 || state_hash || outcomes root || transaction count u32)
//! ```
//! Integers are little-endian; a result's type is its wasm encoding byte.

use merkle_memory::hash::{keccak, tagged, Tag};
use merkle_memory::{tree, Hash};
use stepper::{ValType, Value};

use crate::history::TxRecord;

/// A value type's byte in a commitment: its encoding in a wasm module.
fn type_byte(ty: ValType) -> u8 {
    match ty {
        ValType::I32 => 0x7F,
        ValType::I64 => 0x7E,
        ValType::F32 => 0x7D,
        ValType::F64 => 0x7C,
        ValType::FuncRef => 0x70,
        ValType::ExternRef => 0x6F,
    }
}

/// The leaf committing to one transaction's outcome.
pub fn outcome_leaf(record: &TxRecord) -> Hash {
    let o = &record.outcome;
    let mut results = Vec::with_capacity(4 + 9 * o.results.len());
    results.extend_from_slice(&(o.results.len() as u32).to_le_bytes());
    for v in &o.results {
        results.push(type_byte(v.ty()));
        results.extend_from_slice(&Value::to_slot(*v).to_le_bytes());
    }
    let mut emitted = Vec::with_capacity(4 + 8 * o.emitted.len());
    emitted.extend_from_slice(&(o.emitted.len() as u32).to_le_bytes());
    for v in &o.emitted {
        emitted.extend_from_slice(&v.to_le_bytes());
    }
    tagged(
        Tag::Outcome,
        &[
            &keccak(&record.tx),
            &[o.status.code()],
            &o.steps.to_le_bytes(),
            &o.gas.to_le_bytes(),
            &results,
            &record.post_hash,
            &[o.exit_code.is_some() as u8],
            &o.exit_code.unwrap_or(0).to_le_bytes(),
            &keccak(&o.stdout),
            &keccak(&o.stderr),
            &emitted,
        ],
    )
}

/// The app hash of a block whose outcome leaves are `leaves`, ending in state `state_hash`.
pub fn app_hash_of(state_hash: &Hash, leaves: &[Hash]) -> Hash {
    app_hash_from_root(state_hash, &tree::root(leaves), leaves.len() as u32)
}

/// The app hash of a block of `count` transactions whose outcomes root is `root`: what a
/// snapshot's metadata carries instead of the leaves.
pub fn app_hash_from_root(state_hash: &Hash, root: &Hash, count: u32) -> Hash {
    tagged(Tag::App, &[state_hash, root, &count.to_le_bytes()])
}

/// The root over the outcome leaves of `txs`.
pub fn outcomes_root(txs: &[TxRecord]) -> Hash {
    tree::root(&txs.iter().map(outcome_leaf).collect::<Vec<_>>())
}

/// The app hash of a block of `txs` ending in state `state_hash`.
pub fn app_hash(state_hash: &Hash, txs: &[TxRecord]) -> Hash {
    app_hash_of(state_hash, &txs.iter().map(outcome_leaf).collect::<Vec<_>>())
}
