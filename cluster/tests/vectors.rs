//! The app hash as docs/spec.md ("The cluster's chain") defines it, recomputed here with
//! plain Keccak-256 from the text, and pinned by golden values: a change of either the
//! code or the document shows here.

use cluster::commitment::{app_hash, outcome_leaf};
use cluster::history::{TxOutcome, TxRecord, TxStatus};
use merkle_memory::{hex, Hash};
use sha3::{Digest, Keccak256};
use stepper::Value;

fn h(parts: &[&[u8]]) -> Hash {
    let mut k = Keccak256::new();
    parts.iter().for_each(|p| k.update(p));
    k.finalize().into()
}

fn record(tx: &str, status: TxStatus, results: Vec<Value>, post: u8) -> TxRecord {
    let outcome =
        TxOutcome { status, results, steps: 1234, gas: 5678, error: Some("ignored".into()), ..TxOutcome::default() };
    TxRecord { tx: tx.as_bytes().to_vec(), outcome, post_hash: [post; 32] }
}

/// leaf(tx) from the document.
fn leaf(r: &TxRecord) -> Hash {
    let mut results = (r.outcome.results.len() as u32).to_le_bytes().to_vec();
    for v in &r.outcome.results {
        let (ty, slot): (u8, u64) = match *v {
            Value::I32(x) => (0x7F, x as u32 as u64),
            Value::I64(x) => (0x7E, x as u64),
            Value::F32(bits) => (0x7D, bits as u64),
            Value::F64(bits) => (0x7C, bits),
            _ => unreachable!("the vectors use numbers"),
        };
        results.push(ty);
        results.extend_from_slice(&slot.to_le_bytes());
    }
    let status = match r.outcome.status {
        TxStatus::Returned => 0u8,
        TxStatus::Trapped => 1,
        TxStatus::OutOfGas => 2,
        TxStatus::Stopped => 3,
        TxStatus::Rejected => 4,
    };
    let o = &r.outcome;
    let mut emitted = (o.emitted.len() as u32).to_le_bytes().to_vec();
    o.emitted.iter().for_each(|v| emitted.extend_from_slice(&v.to_le_bytes()));
    h(&[
        &[0x21],
        &h(&[&r.tx]),
        &[status],
        &o.steps.to_le_bytes(),
        &o.gas.to_le_bytes(),
        &results,
        &r.post_hash,
        &[o.exit_code.is_some() as u8],
        &o.exit_code.unwrap_or(0).to_le_bytes(),
        &h(&[&o.stdout]),
        &h(&[&o.stderr]),
        &emitted,
    ])
}

#[test]
fn app_hashes_follow_the_specification() {
    let state = [7u8; 32];
    // A leaf hashes a transaction's bytes whatever they are (a node commits the outcome of
    // bytes it refused too): these are not envelopes, and need not be.
    let txs = vec![
        record(r#"{"call":"add","args":[5]}"#, TxStatus::Returned, vec![Value::I32(-1), Value::I64(7)], 1),
        record(r#"{"call":"f"}"#, TxStatus::Trapped, vec![], 2),
        record("not json", TxStatus::Rejected, vec![Value::F64(1.5f64.to_bits())], 3),
    ];
    // What the calls wrote, exited with and emitted.
    let mut txs = txs;
    txs[0].outcome.stdout = b"HELLO, WORLD".to_vec();
    txs[0].outcome.emitted = vec![12, -1];
    txs[1].outcome.stderr = vec![0xFF, b'\n'];
    txs[1].outcome.exit_code = Some(3);
    for t in &txs {
        assert_eq!(outcome_leaf(t), leaf(t));
    }
    let node = |a: &Hash, b: &Hash| h(&[&[0x01], a, b]);
    let leaves: Vec<Hash> = txs.iter().map(leaf).collect();
    // Three leaves: the odd last one moves up unchanged.
    let root = node(&node(&leaves[0], &leaves[1]), &leaves[2]);
    let expected = h(&[&[0x20], &state, &root, &3u32.to_le_bytes()]);
    assert_eq!(app_hash(&state, &txs), expected);
    // No transactions: the root is EMPTY.
    assert_eq!(app_hash(&state, &[]), h(&[&[0x20], &state, &[0; 32], &0u32.to_le_bytes()]));
    // The error text is not committed.
    let mut reworded = txs.clone();
    reworded[1].outcome.error = Some("another wording".into());
    assert_eq!(app_hash(&state, &reworded), expected);
    assert_eq!(hex(&expected), GOLDEN, "the app hash of the vector changed: docs/spec.md must say why");
}

const GOLDEN: &str = "0x8ae0e2c1f1584a66cca96e09cd70a48085321337f90fc4e105a635c6e4987545";
