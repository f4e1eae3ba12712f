//! Shared by the node's integration tests: a signing client, scratch homes, committed
//! blocks, error texts and queries.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cluster::envelope::{Session, SigningKey};
use cluster::history::{BlockRecord, NodeSetup, TxRecord};
use cluster::ledger::{Exports, Ledger};
use cluster::node::Node;
use serde_json::Value as Json;
use stepper::Value;

/// A client: a session of the key from `seed` on the setup's chain, signing the JSON calls
/// `/call` reads (`{"call", "args"}`, typed by the contract's exports) with the per-call
/// gas limit.
pub struct Client {
    pub session: Session,
    pub exports: Arc<Exports>,
    pub gas: u64,
}

impl Client {
    pub fn new(setup: &NodeSetup, seed: u8) -> Self {
        let exports = Ledger::new(setup, None).unwrap().exports.clone();
        let session = Session::new(SigningKey::from_bytes(&[seed; 32]), &setup.chain.id, 0, 0);
        Self { session, exports, gas: setup.config.gas_limit.min(setup.chain.block_gas_limit) }
    }

    /// `json` signed with the session's next counter.
    pub fn tx(&mut self, json: &str) -> Vec<u8> {
        let call = self.exports.parse(json.as_bytes()).unwrap();
        self.sign(&call.export, call.args, self.gas)
    }

    pub fn txs(&mut self, jsons: &[&str]) -> Vec<Vec<u8>> {
        jsons.iter().map(|j| self.tx(j)).collect()
    }

    pub fn sign(&mut self, export: &str, args: Vec<Value>, gas_limit: u64) -> Vec<u8> {
        self.session.sign(export, args, gas_limit).unwrap().encode().unwrap()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.session.public_key()
    }

    /// The token contract's account id of this key: its first 8 bytes.
    pub fn id(&self) -> i64 {
        i64::from_le_bytes(self.public_key()[..8].try_into().unwrap())
    }
}

/// A fresh directory under the target folder, removed first if an earlier run left it.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Finalizes and commits block `height` of `txs`.
pub fn block(node: &Node, height: u64, txs: &[Vec<u8>]) -> BlockRecord {
    let txs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
    let block = node.finalize(height, &txs).unwrap();
    assert_eq!(node.commit_pending().unwrap(), height);
    block
}

/// A query's answer at the last committed height, as JSON.
pub fn query(node: &Node, path: &str, data: &[u8]) -> Json {
    serde_json::from_slice(&node.answer(path, data).unwrap()).unwrap()
}

pub fn error(t: &TxRecord) -> &str {
    t.outcome.error.as_deref().unwrap_or("")
}
