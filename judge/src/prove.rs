//! Building one-step proofs from a full machine: run the step once on a copy while
//! recording what it reads and writes, then open exactly that in the pre-state.

use std::collections::{BTreeMap, BTreeSet};

use merkle_memory::hash::slot_leaf;
use merkle_memory::state::{
    callers_chain, frame_records, state_hash, table_commitment, Commitment, EnvironmentCommitment,
};
use merkle_memory::{memory, tree, Hash};
use stepper::{Accesses, Machine};

use merkle_memory::storage::{key_hash, StorageTreeExt};

use crate::proof::{Caller, IoOpening, Leaves, MemoryOpening, Proof, Segments, StorageOpening, TablesOpening, VERSION};
use merkle_memory::io::{input_chunk, input_leaves, IoCommitment};

/// Leaves `indices` of the tree over `values`, with their multi-proof.
fn open(values: &[u64], indices: &BTreeSet<usize>) -> Leaves {
    let leaves: Vec<Hash> = values.iter().map(|&v| slot_leaf(v)).collect();
    let indices: Vec<usize> = indices.iter().copied().collect();
    // Opened for its size alone, a tree carries its root.
    let proof = match indices.is_empty() {
        true if leaves.is_empty() => Vec::new(),
        true => vec![tree::root(&leaves)],
        false => tree::proof(&tree::layers(&leaves), &indices).proof_hashes().to_vec(),
    };
    Leaves {
        count: values.len() as u32,
        indices: indices.iter().map(|&i| i as u32).collect(),
        values: indices.iter().map(|&i| values[i]).collect(),
        proof,
    }
}

/// The proof of the step that takes `machine` from its current state to the next.
pub fn prove(machine: &Machine) -> Proof {
    prove_in_place(&mut machine.clone())
}

/// [`prove`] without a copy of the machine, which a large memory makes costly: the step
/// runs on `machine` under an undo log, recording what it touches, and is taken back.
/// `machine` ends as it began, its commitment caches up to date.
pub fn prove_in_place(pre: &mut Machine) -> Proof {
    let state = Commitment::of(pre);
    let undo = pre.begin_undo();
    let (_, log) = pre.step_recorded();
    let post_hash = state_hash(pre);
    let post_stack = pre.stack().len();
    pre.undo(undo);
    let mut proof = Proof {
        version: VERSION,
        step: pre.steps(),
        pre_hash: state.hash(),
        post_hash,
        state,
        stack: open(pre.stack(), &BTreeSet::new()),
        caller: None,
        globals: None,
        memory: None,
        tables: None,
        segments: None,
        storage: None,
        io: None,
    };
    if pre.status().is_halted() {
        return sealed(proof, false);
    }

    // The slots the step read or wrote below the pre-state's top, and the slot where the
    // tree is cut (the lowest height the stack reached) or, for a step that only pushes,
    // the last slot, whose path gives the tree's complete subtrees to append to.
    let (len, low) = (pre.stack().len(), log.min_len);
    let mut slots: BTreeSet<usize> = log.touched.range(..len).copied().collect();
    if low < len {
        slots.insert(low);
    } else if post_stack > len && len > 0 {
        slots.insert(len - 1);
    }
    proof.stack = open(pre.stack(), &slots);
    if log.popped_frame && pre.frames().len() >= 2 {
        let records = frame_records(pre);
        let below = &records[..records.len() - 2];
        proof.caller = Some(Caller { frame: records[records.len() - 2], rest: callers_chain(below) });
    }
    if !log.globals.is_empty() {
        let values: Vec<u64> = pre.store().globals.iter().map(|g| g.value).collect();
        let indices = log.globals.iter().map(|&a| a as usize).collect();
        proof.globals = Some(open(&values, &indices));
    }
    if let Some(m) = log.memory {
        proof.memory = Some(open_memory(pre, m, &log));
    }
    if !log.tables.is_empty() || !log.grown_tables.is_empty() {
        proof.tables = Some(open_tables(pre, &log));
    }
    if log.segments {
        proof.segments = Some(Segments {
            elems: pre.store().elems.iter().map(Vec::is_empty).collect(),
            datas: pre.store().data_dropped.to_vec(),
        });
    }
    if let Some(key) = log.storage_key.clone() {
        // The commitment above brought the storage tree up to date.
        let storage = pre.storage_mut();
        let value = storage.get(&key).map(<[u8]>::to_vec);
        let path = storage.tree.prove(&key_hash(&key));
        proof.storage = Some(StorageOpening { key, value, path });
    }
    if log.io {
        proof.io = Some(open_io(pre, &log));
    }
    sealed(proof, log.emitted)
}

fn open_io(pre: &mut Machine, log: &Accesses) -> IoOpening {
    let chunk_size = pre.config().memory_chunk_size as usize;
    let io = IoCommitment::of(pre.io_mut(), chunk_size);
    let bytes = &pre.io().input().bytes;
    let indices: Vec<usize> = log.input_chunks.iter().copied().collect();
    let input_proof = match indices.is_empty() {
        true => Vec::new(),
        false => tree::proof(&tree::layers(&input_leaves(bytes, chunk_size)), &indices).proof_hashes().to_vec(),
    };
    let input_chunks = indices.iter().map(|&i| (i as u32, input_chunk(bytes, chunk_size, i))).collect();
    IoOpening { io, input_chunks, input_proof }
}

/// The proof with its environment sealed (one hash for seven) when the step neither opens
/// nor writes any of it.
fn sealed(mut proof: Proof, emitted: bool) -> Proof {
    let opens = proof.globals.is_some()
        || proof.memory.is_some()
        || proof.tables.is_some()
        || proof.segments.is_some()
        || proof.storage.is_some()
        || proof.io.is_some();
    if !opens && !emitted {
        proof.state.environment = EnvironmentCommitment::Sealed(proof.state.environment.hash());
    }
    proof
}

fn open_memory(pre: &mut Machine, m: u32, log: &Accesses) -> MemoryOpening {
    let commitments: Vec<Hash> = pre.memories_mut().iter_mut().map(memory::commitment).collect();
    let memories_proof = tree::proof(&tree::layers(&commitments), &[m as usize]).proof_hashes().to_vec();
    let mem = &mut pre.memories_mut()[m as usize];
    let count = memory::chunk_count(mem);
    // memory.grow opens the last chunk, to append zero chunks after it.
    let indices: Vec<usize> = if log.memory_grown {
        count.checked_sub(1).into_iter().collect()
    } else {
        log.chunks.iter().copied().collect()
    };
    let root = memory::chunks_root(mem);
    let chunks_proof = match indices.is_empty() {
        true if count > 0 => vec![root],
        true => Vec::new(),
        false => memory::chunk_proof(mem, &indices).proof_hashes().to_vec(),
    };
    MemoryOpening {
        index: m,
        memories_proof,
        pages: mem.pages(),
        max: mem.max().unwrap_or(memory::MAX_PAGES),
        chunks: indices.iter().map(|&i| (i as u32, memory::chunk(mem, i).to_vec())).collect(),
        chunks_proof,
    }
}

fn open_tables(pre: &mut Machine, log: &Accesses) -> TablesOpening {
    let mut wanted: BTreeMap<u32, BTreeSet<usize>> = log.tables.clone();
    for &t in &log.grown_tables {
        // table.grow opens the last element, to append null elements after it.
        let len = pre.store().tables[t as usize].elems().len();
        wanted.insert(t, len.checked_sub(1).into_iter().collect());
    }
    let commitments: Vec<Hash> = pre.tables_mut().iter_mut().map(table_commitment).collect();
    let indices: Vec<usize> = wanted.keys().map(|&t| t as usize).collect();
    let tables_proof = tree::proof(&tree::layers(&commitments), &indices).proof_hashes().to_vec();
    let tables = wanted.iter().map(|(&t, elems)| (t, open(pre.store().tables[t as usize].elems(), elems))).collect();
    TablesOpening { tables, tables_proof }
}
