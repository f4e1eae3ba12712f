//! Query answers proven against a block's app hash, and their verifier: what a client that
//! trusts only a header (the app hash after block H is in block H + 1's header) needs to
//! check a `/tx` outcome, a `/storage` value or the state a read-only `/call` ran on.
//!
//! A proof is one ABCI `ProofOp` of type [`PROOF_TYPE`] whose `data` is a [`QueryProof`] in
//! JSON. docs/spec.md ("Proven queries") describes it exactly.

use merkle_memory::state::{Environment, EnvironmentCommitment, FrameCommitment};
use merkle_memory::storage::{key_hash, value_hash, Shape, StorageProof, StorageTreeExt, Terminal};
use merkle_memory::{tree, Commitment, Hash};
use serde::{Deserialize, Serialize};
use stepper::Machine;

use crate::commitment::{app_hash_from_root, outcome_leaf};
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
    #[error("the storage path does not open the state's storage root: {0}")]
    Storage(String),
    #[error("the proof proves {proven}, the answer says {answered}")]
    Answer { proven: String, answered: String },
    #[error("the proof is not a {PROOF_TYPE} proof: {0}")]
    Format(String),
}

/// The app hash opened: a state hash and the block's outcomes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOpening {
    #[serde(with = "serde_hex::hash")]
    pub state_hash: Hash,
    #[serde(with = "serde_hex::hash")]
    pub outcomes_root: Hash,
    pub count: u32,
}

impl AppOpening {
    fn of(block: &BlockSummary) -> Self {
        Self { state_hash: block.state_hash, outcomes_root: block.outcomes_root, count: block.transactions }
    }

    fn hash(&self) -> Hash {
        app_hash_from_root(&self.state_hash, &self.outcomes_root, self.count)
    }
}

/// One transaction's record and its path in the block's outcome tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxInclusion {
    pub index: u32,
    pub record: TxRecord,
    /// The rs_merkle proof hashes for the one leaf, bottom up.
    #[serde(with = "hashes")]
    pub siblings: Vec<Hash>,
}

/// The state hash opened one level (docs/spec.md, "The state hash"), with its
/// environment open: what a storage path needs to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateOpening {
    #[serde(with = "serde_hex::hash")]
    pub context: Hash,
    pub status: u8,
    pub trap: u32,
    pub trap_arg: u32,
    pub steps: u64,
    pub gas_used: u64,
    pub depth: u32,
    pub height: u32,
    pub entry: u32,
    pub frame: [u32; 3],
    #[serde(with = "serde_hex::hash")]
    pub callers: Hash,
    #[serde(with = "serde_hex::hash")]
    pub stack: Hash,
    /// Globals, memories, tables, segments, output and storage, in that order.
    #[serde(with = "hashes")]
    pub environment: Vec<Hash>,
}

impl StateOpening {
    fn of(c: &Commitment) -> Self {
        let e = c.environment.open().expect("a commitment of a machine has its environment open");
        Self {
            context: c.context,
            status: c.status,
            trap: c.trap,
            trap_arg: c.trap_arg,
            steps: c.steps,
            gas_used: c.gas_used,
            depth: c.depth,
            height: c.height,
            entry: c.entry,
            frame: [c.frame.func, c.frame.pc, c.frame.base],
            callers: c.callers,
            stack: c.stack,
            environment: vec![e.globals, e.memories, e.tables, e.segments, e.output, e.storage],
        }
    }

    /// The environment's storage root and the state hash, if the opening is well formed.
    fn open(&self) -> Option<(Hash, Hash)> {
        let [globals, memories, tables, segments, output, storage] = self.environment[..].try_into().ok()?;
        let environment = Environment { globals, memories, tables, segments, output, storage };
        let [func, pc, base] = self.frame;
        let commitment = Commitment {
            context: self.context,
            status: self.status,
            trap: self.trap,
            trap_arg: self.trap_arg,
            steps: self.steps,
            gas_used: self.gas_used,
            depth: self.depth,
            height: self.height,
            entry: self.entry,
            frame: FrameCommitment { func, pc, base },
            callers: self.callers,
            stack: self.stack,
            environment: EnvironmentCommitment::Open(environment),
        };
        Some((storage, commitment.hash()))
    }
}

/// A storage key's path in the state's storage tree (merkle-memory's storage proof).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInclusion {
    #[serde(with = "serde_hex::bytes")]
    pub key: Vec<u8>,
    /// The value stored under the key, none if it holds none.
    #[serde(with = "optional_bytes")]
    pub value: Option<Vec<u8>>,
    pub state: StateOpening,
    #[serde(with = "hashes")]
    pub siblings: Vec<Hash>,
    /// Where the key's path ends: a leaf's key hash and value hash, or none (empty).
    #[serde(with = "optional_pair")]
    pub terminal: Option<(Hash, Hash)>,
    /// The last sibling opened one level, when the terminal is the key's own leaf below
    /// the root: `leaf` (key hash, value hash) or `node` (left, right).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sibling: Option<SiblingShape>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiblingShape {
    Leaf(#[serde(with = "serde_hex::hash")] Hash, #[serde(with = "serde_hex::hash")] Hash),
    Node(#[serde(with = "serde_hex::hash")] Hash, #[serde(with = "serde_hex::hash")] Hash),
}

/// A proof of a query's answer at `height`: the app hash opened, and below it the
/// transaction or the storage key the answer is about (neither: the state itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryProof {
    pub height: u64,
    pub app: AppOpening,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<TxInclusion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageInclusion>,
}

/// What a proof proves, once verified.
#[derive(Clone, Debug, PartialEq)]
pub enum Proven {
    /// The state hash after block `height`.
    State(Hash),
    /// A transaction of block `height`: its index and record.
    Tx(u32, TxRecord),
    /// The value under a key in the state after block `height`.
    Storage(Vec<u8>, Option<Vec<u8>>),
}

impl QueryProof {
    /// The proof of transaction `index` of `block`.
    pub fn of_tx(block: &BlockRecord, index: usize) -> Self {
        let leaves: Vec<Hash> = block.txs.iter().map(outcome_leaf).collect();
        let siblings = tree::proof(&tree::layers(&leaves), &[index]).proof_hashes().to_vec();
        let tx = TxInclusion { index: index as u32, record: block.txs[index].clone(), siblings };
        Self { height: block.height, app: AppOpening::of(&BlockSummary::of(block)), tx: Some(tx), storage: None }
    }

    /// The proof of the app hash after `block`, opened one level.
    pub fn of_app(block: &BlockSummary) -> Self {
        Self { height: block.height, app: AppOpening::of(block), tx: None, storage: None }
    }

    /// The proof of the state after `block`, which is `machine`'s, with the value under
    /// `key` in it if a key is given.
    pub fn of_state(block: &BlockSummary, machine: &mut Machine, key: Option<&[u8]>) -> Self {
        let commitment = Commitment::of(machine);
        debug_assert_eq!(commitment.hash(), block.state_hash, "the machine is the state after the block");
        let storage = key.map(|key| {
            let path = machine.storage_mut().tree.prove(&key_hash(key));
            let value = machine.store().storage.get(key).map(<[u8]>::to_vec);
            let terminal = match path.terminal {
                Terminal::Empty => None,
                Terminal::Leaf { key, value } => Some((key, value)),
            };
            let last_sibling = path.last_sibling.map(|shape| match shape {
                Shape::Leaf { key, value } => SiblingShape::Leaf(key, value),
                Shape::Node { left, right } => SiblingShape::Node(left, right),
            });
            let state = StateOpening::of(&commitment);
            StorageInclusion { key: key.to_vec(), value, state, siblings: path.siblings, terminal, last_sibling }
        });
        Self { height: block.height, app: AppOpening::of(block), tx: None, storage }
    }

    /// Checks the proof against `app_hash`, the app hash a header commits for its height,
    /// and returns what it proves. Work is bounded by the proof's size.
    pub fn verify(&self, app_hash: &Hash) -> Result<Proven, ProofError> {
        let opened = self.app.hash();
        if opened != *app_hash {
            let (opened, header) = (merkle_memory::hex(&opened), merkle_memory::hex(app_hash));
            return Err(ProofError::AppHash { opened, header });
        }
        match (&self.tx, &self.storage) {
            (Some(_), Some(_)) => Err(ProofError::Format("it opens both a transaction and a storage key".into())),
            (None, None) => Ok(Proven::State(self.app.state_hash)),
            (Some(t), None) => {
                let root = tree::proven_root(
                    &t.siblings,
                    &[t.index as usize],
                    &[outcome_leaf(&t.record)],
                    self.app.count as usize,
                )
                .map_err(|e| ProofError::Outcome(e.to_string()))?;
                if root != self.app.outcomes_root {
                    return Err(ProofError::Outcome("the path leads to another root".into()));
                }
                Ok(Proven::Tx(t.index, t.record.clone()))
            }
            (None, Some(s)) => {
                let (storage_root, state_hash) =
                    s.state.open().ok_or_else(|| ProofError::Format("the environment is not six hashes".into()))?;
                if state_hash != self.app.state_hash {
                    return Err(ProofError::State);
                }
                let terminal = match s.terminal {
                    None => Terminal::Empty,
                    Some((key, value)) => Terminal::Leaf { key, value },
                };
                let last_sibling = s.last_sibling.map(|shape| match shape {
                    SiblingShape::Leaf(key, value) => Shape::Leaf { key, value },
                    SiblingShape::Node(left, right) => Shape::Node { left, right },
                });
                let path = StorageProof { siblings: s.siblings.clone(), terminal, last_sibling };
                let key = key_hash(&s.key);
                let root = path.root(&key).map_err(|e| ProofError::Storage(e.to_string()))?;
                if root != storage_root {
                    return Err(ProofError::Storage("the path leads to another root".into()));
                }
                if path.lookup(&key) != s.value.as_deref().map(value_hash) {
                    return Err(ProofError::Storage("the value is not the one the path holds".into()));
                }
                Ok(Proven::Storage(s.key.clone(), s.value.clone()))
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

/// Lists of hashes as lists of hex strings.
mod hashes {
    use merkle_memory::Hash;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Hex(#[serde(with = "crate::serde_hex::hash")] Hash);

    pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        hashes.iter().map(|h| Hex(*h)).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        Ok(Vec::<Hex>::deserialize(d)?.into_iter().map(|h| h.0).collect())
    }
}

pub(crate) mod optional_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Hex(#[serde(with = "crate::serde_hex::bytes")] Vec<u8>);

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        bytes.clone().map(Hex).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Hex>::deserialize(d)?.map(|h| h.0))
    }
}

mod optional_pair {
    use merkle_memory::Hash;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Pair(#[serde(with = "crate::serde_hex::hash")] Hash, #[serde(with = "crate::serde_hex::hash")] Hash);

    pub fn serialize<S: Serializer>(pair: &Option<(Hash, Hash)>, s: S) -> Result<S::Ok, S::Error> {
        pair.map(|(a, b)| Pair(a, b)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(Hash, Hash)>, D::Error> {
        Ok(Option::<Pair>::deserialize(d)?.map(|p| (p.0, p.1)))
    }
}
