//! Query answers proven against a block's app hash, and their verifier: what a client that
//! trusts only a header (the app hash after block H is in block H + 1's header) needs to
//! check a `/tx` outcome, a `/storage` value or the state a read-only `/call` ran on.
//!
//! A proof is one ABCI `ProofOp` of type [`PROOF_TYPE`] whose `data` is a [`QueryProof`] in
//! JSON. docs/spec.md ("Proven queries") describes it exactly. A storage key is opened as
//! a one-step proof opens one: the state one level (judge's `state`) and the key's path
//! (judge's `storage`), checked by the judge's own code.

use judge::proof::StorageOpening;
use merkle_memory::storage::{key_hash, StorageTreeExt};
use merkle_memory::{tree, Commitment, Hash};
use serde::{Deserialize, Serialize};
use stepper::Machine;

use crate::commitment::outcome_leaf;
use crate::history::{BlockRecord, BlockSummary, TxRecord};
use crate::serde_hex;

/// The `type` of the proof's `ProofOp`.
pub const PROOF_TYPE: &str = "verigame/v1";

/// Why a proof does not prove its answer.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the proof opens app hash {opened}, the header commits to {header}")]
    AppHash { opened: String, header: String },
    #[error("the transaction's outcome is not in the block's outcomes: {0}")]
    Outcome(String),
    #[error("the state opening does not hash to the app hash's state hash")]
    State,
    #[error("the storage opening does not hold: {0}")]
    Storage(String),
    #[error("the proof proves {proven}, the answer says {answered}")]
    Answer { proven: String, answered: String },
    #[error("the proof is not a {PROOF_TYPE} proof: {0}")]
    Format(String),
}

/// One transaction's record and its path in the block's outcome tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxInclusion {
    pub index: u32,
    pub record: TxRecord,
    /// The rs_merkle proof hashes for the one leaf, bottom up.
    #[serde(with = "serde_hex::hashes")]
    pub siblings: Vec<Hash>,
}

/// A storage key opened in the state after the block: the state one level down, with its
/// environment open, and the key's path under the environment's storage root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInclusion {
    #[serde(with = "judge_json::state")]
    pub state: Commitment,
    #[serde(with = "judge_json::storage")]
    pub opening: StorageOpening,
}

/// A proof of a query's answer about the state after `block`: the app hash opened (the
/// block's summary), and below it the transaction or the storage key the answer is about
/// (neither: the state itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryProof {
    pub block: BlockSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<TxInclusion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageInclusion>,
}

/// What a proof proves, once verified.
#[derive(Clone, Debug, PartialEq)]
pub enum Proven {
    /// The state hash after the block.
    State(Hash),
    /// A transaction of the block: its index and record.
    Tx(u32, TxRecord),
    /// The value under a key in the state after the block.
    Storage(Vec<u8>, Option<Vec<u8>>),
}

impl QueryProof {
    /// The proof of transaction `index` of `block`.
    pub fn of_tx(block: &BlockRecord, index: usize) -> Self {
        let leaves: Vec<Hash> = block.txs.iter().map(outcome_leaf).collect();
        let siblings = tree::proof(&tree::layers(&leaves), &[index]).proof_hashes().to_vec();
        let tx = TxInclusion { index: index as u32, record: block.txs[index].clone(), siblings };
        Self { block: BlockSummary::of(block), tx: Some(tx), storage: None }
    }

    /// The proof of the app hash after `block`, opened one level.
    pub fn of_app(block: &BlockSummary) -> Self {
        Self { block: *block, tx: None, storage: None }
    }

    /// The proof of the state after `block`, which is `machine`'s, with the value under
    /// `key` in it if a key is given.
    pub fn of_state(block: &BlockSummary, machine: &mut Machine, key: Option<&[u8]>) -> Self {
        let state = Commitment::of(machine);
        debug_assert_eq!(state.hash(), block.state_hash, "the machine is the state after the block");
        let storage = key.map(|key| {
            let path = machine.storage_mut().tree.prove(&key_hash(key));
            let value = machine.store().storage.get(key).map(<[u8]>::to_vec);
            StorageInclusion { state, opening: StorageOpening { key: key.to_vec(), value, path } }
        });
        Self { block: *block, tx: None, storage }
    }

    /// Checks the proof against `app_hash`, the app hash a header commits for the block's
    /// height, and returns what it proves. Work is bounded by the proof's size.
    pub fn verify(&self, app_hash: &Hash) -> Result<Proven, ProofError> {
        let opened = self.block.app_hash();
        if opened != *app_hash {
            let (opened, header) = (merkle_memory::hex(&opened), merkle_memory::hex(app_hash));
            return Err(ProofError::AppHash { opened, header });
        }
        match (&self.tx, &self.storage) {
            (Some(_), Some(_)) => Err(ProofError::Format("it opens both a transaction and a storage key".into())),
            (None, None) => Ok(Proven::State(self.block.state_hash)),
            (Some(t), None) => {
                let root = tree::proven_root(
                    &t.siblings,
                    &[t.index as usize],
                    &[outcome_leaf(&t.record)],
                    self.block.transactions as usize,
                )
                .map_err(|e| ProofError::Outcome(e.to_string()))?;
                if root != self.block.outcomes_root {
                    return Err(ProofError::Outcome("the path leads to another root".into()));
                }
                Ok(Proven::Tx(t.index, t.record.clone()))
            }
            (None, Some(s)) => {
                let environment = s
                    .state
                    .environment
                    .open()
                    .ok_or_else(|| ProofError::Format("the state's environment is sealed".into()))?;
                if s.state.hash() != self.block.state_hash {
                    return Err(ProofError::State);
                }
                judge::check_storage(&s.opening, &environment.storage)
                    .map_err(|e| ProofError::Storage(e.to_string()))?;
                Ok(Proven::Storage(s.opening.key.clone(), s.opening.value.clone()))
            }
        }
    }
}

/// Checks that `proof`, against `app_hash` (the header's for the answer's height), proves
/// the answer `value` a node gave to a query of `path`; returns what it proves. A `/call`'s
/// proof proves the state the call ran on, not its result: that is what a dispute is for.
pub fn check_answer(path: &str, value: &[u8], proof: &QueryProof, app_hash: &Hash) -> Result<Proven, ProofError> {
    let proven = proof.verify(app_hash)?;
    let mismatch = |proven: String, answered: String| Err(ProofError::Answer { proven, answered });
    let text = || String::from_utf8_lossy(value).into_owned();
    match (path, &proven) {
        ("/tx", Proven::Tx(index, record)) => {
            #[derive(Deserialize)]
            struct Stated {
                index: u32,
                #[serde(flatten)]
                record: TxRecord,
            }
            match serde_json::from_slice::<Stated>(value) {
                Ok(s) if s.index == *index && s.record == *record => Ok(proven),
                _ => mismatch(format!("transaction {index}: {}", serde_json::json!(record)), text()),
            }
        }
        ("/storage", Proven::Storage(key, stored)) => match serde_json::from_slice::<crate::node::StorageAnswer>(value)
        {
            Ok(s) if s.key == *key && s.value == *stored => Ok(proven),
            _ => mismatch(
                format!("{:?} under the key", stored.as_deref().map(merkle_memory::hash::bytes_to_hex)),
                text(),
            ),
        },
        ("/state", Proven::State(_)) => {
            let stated: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
            if stated["app_hash"].as_str() == Some(&merkle_memory::hex(app_hash)) {
                Ok(proven)
            } else {
                mismatch(format!("app hash {}", merkle_memory::hex(app_hash)), text())
            }
        }
        ("/call", Proven::State(_)) => Ok(proven),
        _ => Err(ProofError::Format(format!("it does not prove an answer to {path}"))),
    }
}

/// Serde adapters over the judge's JSON forms of a state and a storage opening.
mod judge_json {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value as Json;

    pub mod state {
        use super::*;
        use merkle_memory::Commitment;

        pub fn serialize<S: Serializer>(state: &Commitment, s: S) -> Result<S::Ok, S::Error> {
            judge::json::state_to_json(state).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Commitment, D::Error> {
            judge::json::state_from_json(&Json::deserialize(d)?).map_err(|e| D::Error::custom(e.0))
        }
    }

    pub mod storage {
        use super::*;
        use judge::proof::StorageOpening;

        pub fn serialize<S: Serializer>(opening: &StorageOpening, s: S) -> Result<S::Ok, S::Error> {
            judge::json::storage_to_json(opening).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StorageOpening, D::Error> {
            judge::json::storage_from_json(&Json::deserialize(d)?).map_err(|e| D::Error::custom(e.0))
        }
    }
}
