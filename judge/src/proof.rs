//! What a one-step proof carries: the pre-state's commitment fields and the openings of
//! exactly what the step reads or writes.

use merkle_memory::hash::{leaf, slot_leaf, EMPTY};
use merkle_memory::io::IoCommitment;
use merkle_memory::state::{Commitment, FrameCommitment};
use merkle_memory::storage::StorageProof;
use merkle_memory::tree::proven_root;
use merkle_memory::Hash;
use stepper::store::PAGE_SIZE;

/// The proof format's version.
pub const VERSION: u32 = 6;

/// The most results a function or block type may have (wasmparser's limit, which the
/// stepper's validation applies).
pub const MAX_RESULTS: usize = 1000;
/// The most stack slots one step opens: a return or branch keeping [`MAX_RESULTS`] values
/// reads them and writes them lower down, plus the slot where it cuts the stack.
pub const MAX_STACK_SLOTS: usize = 2 * MAX_RESULTS + 1;
/// One step reads or writes at most one global.
pub const MAX_GLOBALS: usize = 1;
/// table.copy touches two tables (one element each), or two elements of one.
pub const MAX_TABLES: usize = 2;
pub const MAX_TABLE_ELEMENTS: usize = 2;
/// The most memory bytes one step touches: a storage write's key and value
/// (`storage::MAX_KEY_LEN + storage::MAX_VALUE_LEN`); each range may straddle a chunk
/// boundary.
const MAX_STEP_MEMORY_BYTES: [usize; 2] = [stepper::storage::MAX_KEY_LEN, stepper::storage::MAX_VALUE_LEN];
/// The largest chunk size a configuration may set.
pub const MAX_CHUNK_SIZE: usize = 65536;
/// The most chunks of the laid-out input one step reads: a 4-byte table entry, which may
/// lie across four chunks of one byte, or a piece within one chunk.
pub const MAX_INPUT_CHUNKS: usize = 4;
/// A storage path has at most one sibling per bit of a key hash.
pub const MAX_STORAGE_SIBLINGS: usize = 256;

/// The most chunks one step opens with chunks of `chunk_size` bytes: a storage write's
/// key and value ranges (each at least two for a bulk sub-step or an unaligned access).
pub fn max_chunks(chunk_size: usize) -> usize {
    MAX_STEP_MEMORY_BYTES.iter().map(|&bytes| bytes.div_ceil(chunk_size.max(1)) + 1).sum::<usize>().max(4)
}

/// Leaves opened in one Merkle tree of `count` slot-valued leaves (locals, globals, table
/// elements): indices ascending, their values, and the rs_merkle multi-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaves {
    pub count: u32,
    pub indices: Vec<u32>,
    pub values: Vec<u64>,
    pub proof: Vec<Hash>,
}

impl Leaves {
    /// The root of the tree this opening proves, with `values` at its indices (the opened
    /// values, or the values after a step). Opened for its size alone (no indices), a tree
    /// carries its root as the only proof hash, or nothing when it is empty.
    pub fn root_with(&self, values: &[u64]) -> Result<Hash, String> {
        if self.indices.is_empty() {
            return match (self.count, self.proof.as_slice()) {
                (0, []) => Ok(EMPTY),
                (1.., [root]) => Ok(*root),
                _ => Err("opened without leaves, it must carry exactly its root".into()),
            };
        }
        let indices: Vec<usize> = self.indices.iter().map(|&i| i as usize).collect();
        let hashes: Vec<Hash> = values.iter().map(|&v| slot_leaf(v)).collect();
        proven_root(&self.proof, &indices, &hashes, self.count as usize).map_err(|e| e.to_string())
    }

    /// The root this opening proves.
    pub fn root(&self) -> Result<Hash, String> {
        self.root_with(&self.values)
    }
}

/// The innermost caller's frame record and the callers chain below it (for a return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub frame: FrameCommitment,
    pub rest: Hash,
}

/// One memory opened: its place in the memories tree, its size and maximum, and chunks
/// of it with their multi-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryOpening {
    pub index: u32,
    /// The memory's proof in the tree of all memories.
    pub memories_proof: Vec<Hash>,
    pub pages: u32,
    /// The declared maximum in pages (65536 for none).
    pub max: u32,
    /// Chunk indices ascending, with their bytes.
    pub chunks: Vec<(u32, Vec<u8>)>,
    pub chunks_proof: Vec<Hash>,
}

impl MemoryOpening {
    /// The chunk root this opening proves for chunks of `chunk_size` bytes, with `chunks`
    /// as the opened chunks' bytes (as opened, or after a step). A memory opened without
    /// chunks (for its size) carries its chunk root alone, or nothing when it is empty.
    pub fn chunks_root<'a>(&self, chunk_size: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Result<Hash, String> {
        let count = self.pages as usize * PAGE_SIZE / chunk_size;
        let leaves: Vec<Hash> = chunks
            .map(
                |bytes| {
                    if bytes.len() == chunk_size {
                        Ok(leaf(bytes))
                    } else {
                        Err("a memory chunk has the wrong size")
                    }
                },
            )
            .collect::<Result<_, _>>()?;
        if leaves.is_empty() {
            // One encoding: an empty memory carries nothing, any other its chunk root.
            return match (count, self.chunks_proof.as_slice()) {
                (0, []) => Ok(EMPTY),
                (1.., [root]) => Ok(*root),
                (0, _) => Err("an empty memory opened without chunks carries no hash".into()),
                _ => Err("a memory opened without chunks carries exactly its chunk root".into()),
            };
        }
        let indices: Vec<usize> = self.chunks.iter().map(|(i, _)| *i as usize).collect();
        proven_root(&self.chunks_proof, &indices, &leaves, count).map_err(|e| format!("memory chunks: {e}"))
    }
}

/// Tables opened: each with its length and opened elements, and their proof in the tree
/// of all tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablesOpening {
    /// Ascending by table index: (index, elements, whose `count` is the table's length).
    pub tables: Vec<(u32, Leaves)>,
    pub tables_proof: Vec<Hash>,
}

/// Which element and data segments are dropped (all of them: there are few).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segments {
    pub elems: Vec<bool>,
    pub datas: Vec<bool>,
}

/// The storage key a step reads or writes (one per step: a storage host call), its value
/// before the step, and the path that opens it in the storage tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageOpening {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub path: StorageProof,
}

/// The call's input and output (a WASI call's step): every register and both streams
/// one level below their hashes, and the chunks of the laid-out input the step reads
/// with their multi-proof against the input root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoOpening {
    pub io: IoCommitment,
    /// Chunk indices ascending, with their bytes.
    pub input_chunks: Vec<(u32, Vec<u8>)>,
    pub input_proof: Vec<Hash>,
}

impl IoOpening {
    /// The input root the opened chunks prove, for chunks of `chunk_size` bytes.
    pub fn input_root(&self, chunk_size: usize) -> Result<Hash, String> {
        let count = self.io.regs.input_len().div_ceil(chunk_size as u64);
        if self.input_chunks.is_empty() {
            return Ok(self.io.input_root);
        }
        let count = usize::try_from(count).map_err(|_| "the input is too long")?;
        let leaves = self
            .input_chunks
            .iter()
            .map(|(_, bytes)| match bytes.len() == chunk_size {
                true => Ok(leaf(bytes)),
                false => Err("an input chunk has the wrong size".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let indices: Vec<usize> = self.input_chunks.iter().map(|(i, _)| *i as usize).collect();
        proven_root(&self.input_proof, &indices, &leaves, count).map_err(|e| format!("input chunks: {e}"))
    }
}

/// The proof of the step that takes the state at `step` to the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub version: u32,
    pub step: u64,
    pub pre_hash: Hash,
    /// The state hash after the step, as the prover computed it.
    pub post_hash: Hash,
    /// The pre-state, one level below its hash.
    pub state: Commitment,
    /// Slots of the value stack tree (its `count` is the stack's height): every slot the
    /// step reads or writes below the pre-state's top, and the slot where the step cuts or
    /// extends the stack.
    pub stack: Leaves,
    pub caller: Option<Caller>,
    pub globals: Option<Leaves>,
    pub memory: Option<MemoryOpening>,
    pub tables: Option<TablesOpening>,
    pub segments: Option<Segments>,
    pub storage: Option<StorageOpening>,
    pub io: Option<IoOpening>,
}
