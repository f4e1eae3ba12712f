//! Building one-step proofs from a full machine: run the step once on a copy while
//! recording what it reads and writes, then open exactly that in the pre-state.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use merkle_memory::hash::slot_leaf;
use merkle_memory::state::{
    callers_chain, frame_records, state_hash, table_commitment, Commitment, EnvironmentCommitment,
};
use merkle_memory::{memory, tree, Hash};
use stepper::{Backend, Direct, Frame, Machine};

use merkle_memory::storage::{key_hash, StorageTreeExt};

use crate::proof::{Caller, Leaves, MemoryOpening, Proof, Segments, StorageOpening, TablesOpening, VERSION};

/// What one step touched.
#[derive(Default, Debug)]
struct Log {
    /// The lowest the stack got.
    min_len: usize,
    /// Slots read or written.
    touched: BTreeSet<usize>,
    popped_frame: bool,
    globals: BTreeSet<u32>,
    tables: BTreeMap<u32, BTreeSet<usize>>,
    grown_tables: BTreeSet<u32>,
    memory: Option<u32>,
    chunks: BTreeSet<usize>,
    memory_grown: bool,
    segments: bool,
    /// The storage key a storage host call used.
    storage_key: Option<Vec<u8>>,
    /// Whether the step appended to the output log.
    emitted: bool,
}

/// The machine's state as a backend that logs what the executor touches.
struct Recorder<'a> {
    inner: Direct<'a>,
    chunk_size: usize,
    log: RefCell<Log>,
}

impl Recorder<'_> {
    fn note(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log.borrow_mut());
    }

    fn bytes(&self, m: u32, at: usize, len: usize) {
        let chunk = self.chunk_size;
        self.note(|l| {
            l.memory = Some(m);
            if len > 0 {
                l.chunks.extend(at / chunk..=(at + len - 1) / chunk);
            }
        });
    }

    fn table(&self, t: u32, element: Option<usize>) {
        self.note(|l| {
            let elems = l.tables.entry(t).or_default();
            elems.extend(element);
        });
    }
}

impl Backend for Recorder<'_> {
    fn stack_len(&self) -> usize {
        self.inner.stack_len()
    }
    fn slot(&self, i: usize) -> u64 {
        self.note(|l| {
            l.touched.insert(i);
        });
        self.inner.slot(i)
    }
    fn set_slot(&mut self, i: usize, value: u64) {
        self.note(|l| {
            l.touched.insert(i);
        });
        self.inner.set_slot(i, value)
    }
    fn top(&self) -> u64 {
        self.slot(self.stack_len() - 1)
    }
    fn set_top(&mut self, value: u64) {
        self.set_slot(self.stack_len() - 1, value)
    }
    fn push(&mut self, value: u64) {
        self.inner.push(value)
    }
    fn pop(&mut self) -> u64 {
        let len = self.stack_len() - 1;
        self.note(|l| {
            l.touched.insert(len);
            l.min_len = l.min_len.min(len);
        });
        self.inner.pop()
    }
    fn truncate(&mut self, len: usize) {
        self.note(|l| l.min_len = l.min_len.min(len));
        self.inner.truncate(len)
    }
    fn move_down(&mut self, from: usize, to: usize, n: usize) {
        self.note(|l| l.touched.extend((from..from + n).chain(to..to + n)));
        self.inner.move_down(from, to, n)
    }
    fn reserve(&mut self, n: usize) {
        self.inner.reserve(n)
    }
    fn push_zeros(&mut self, n: usize) {
        self.inner.push_zeros(n)
    }
    fn depth(&self) -> usize {
        self.inner.depth()
    }
    fn push_frame(&mut self, frame: Frame) {
        self.inner.push_frame(frame)
    }
    fn pop_frame(&mut self) -> Frame {
        self.note(|l| l.popped_frame = true);
        self.inner.pop_frame()
    }
    fn last_frame(&self) -> Option<Frame> {
        self.inner.last_frame()
    }
    fn global(&self, addr: u32) -> u64 {
        self.note(|l| {
            l.globals.insert(addr);
        });
        self.inner.global(addr)
    }
    fn set_global(&mut self, addr: u32, value: u64) {
        self.note(|l| {
            l.globals.insert(addr);
        });
        self.inner.set_global(addr, value)
    }
    fn table_len(&self, t: u32) -> usize {
        self.table(t, None);
        self.inner.table_len(t)
    }
    fn table_max(&self, t: u32) -> Option<u32> {
        self.inner.table_max(t)
    }
    fn table_get(&self, t: u32, i: usize) -> u64 {
        self.table(t, Some(i));
        self.inner.table_get(t, i)
    }
    fn table_set(&mut self, t: u32, i: usize, value: u64) {
        self.table(t, Some(i));
        self.inner.table_set(t, i, value)
    }
    fn table_grow(&mut self, t: u32, len: usize) {
        self.note(|l| {
            l.grown_tables.insert(t);
        });
        self.inner.table_grow(t, len)
    }
    fn memory_len(&self, m: u32) -> usize {
        self.note(|l| l.memory = Some(m));
        self.inner.memory_len(m)
    }
    fn memory_max(&self, m: u32) -> Option<u32> {
        self.note(|l| l.memory = Some(m));
        self.inner.memory_max(m)
    }
    fn load(&self, m: u32, at: usize, width: u32) -> u64 {
        self.bytes(m, at, width as usize);
        self.inner.load(m, at, width)
    }
    fn store(&mut self, m: u32, at: usize, width: u32, value: u64) {
        self.bytes(m, at, width as usize);
        self.inner.store(m, at, width, value)
    }
    fn fill(&mut self, m: u32, at: usize, len: usize, byte: u8) {
        self.bytes(m, at, len);
        self.inner.fill(m, at, len, byte)
    }
    fn copy(&mut self, m: u32, dst: usize, src: usize, len: usize) {
        self.bytes(m, dst, len);
        self.bytes(m, src, len);
        self.inner.copy(m, dst, src, len)
    }
    fn write(&mut self, m: u32, at: usize, bytes: &[u8]) {
        self.bytes(m, at, bytes.len());
        self.inner.write(m, at, bytes)
    }
    fn grow_memory(&mut self, m: u32, pages: u32) {
        self.note(|l| l.memory_grown = true);
        self.inner.grow_memory(m, pages)
    }
    fn elem_len(&self, e: u32) -> usize {
        self.note(|l| l.segments = true);
        self.inner.elem_len(e)
    }
    fn elem_item(&self, e: u32, i: usize) -> u64 {
        self.note(|l| l.segments = true);
        self.inner.elem_item(e, i)
    }
    fn drop_elem(&mut self, e: u32) {
        self.note(|l| l.segments = true);
        self.inner.drop_elem(e)
    }
    fn data_dropped(&self, d: u32) -> bool {
        self.note(|l| l.segments = true);
        self.inner.data_dropped(d)
    }
    fn drop_data(&mut self, d: u32) {
        self.note(|l| l.segments = true);
        self.inner.drop_data(d)
    }
    fn emit(&mut self, value: i64) {
        self.note(|l| l.emitted = true);
        self.inner.emit(value)
    }
    fn memory_count(&self) -> usize {
        self.inner.memory_count()
    }
    fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.note(|l| l.storage_key = Some(key.to_vec()));
        self.inner.storage_get(key)
    }
    fn storage_set(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.note(|l| l.storage_key = Some(key.to_vec()));
        self.inner.storage_set(key, value)
    }
}

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
    let mut pre = machine.clone();
    let state = Commitment::of(&mut pre);
    // The step runs once, on a copy that becomes the post-state, recording what it touches.
    let mut post = pre.clone();
    let log = {
        let chunk_size = post.config.memory_chunk_size as usize;
        let (cx, mut regs, direct) = post.split();
        let pre_len = direct.stack_len();
        let mut recorder =
            Recorder { inner: direct, chunk_size, log: RefCell::new(Log { min_len: pre_len, ..Log::default() }) };
        stepper::step(&cx, &mut regs, &mut recorder);
        let log = recorder.log.into_inner();
        post.set_registers(regs);
        log
    };
    let mut proof = Proof {
        version: VERSION,
        step: pre.steps,
        pre_hash: state.hash(),
        post_hash: state_hash(&mut post),
        state,
        stack: open(&pre.stack, &BTreeSet::new()),
        caller: None,
        globals: None,
        memory: None,
        tables: None,
        segments: None,
        storage: None,
    };
    if pre.status.is_halted() {
        return sealed(proof, false);
    }

    // The slots the step read or wrote below the pre-state's top, and the slot where the
    // tree is cut (the lowest height the stack reached) or, for a step that only pushes,
    // the last slot, whose path gives the tree's complete subtrees to append to.
    let (len, low) = (pre.stack.len(), log.min_len);
    let mut slots: BTreeSet<usize> = log.touched.range(..len).copied().collect();
    if low < len {
        slots.insert(low);
    } else if post.stack.len() > len && len > 0 {
        slots.insert(len - 1);
    }
    proof.stack = open(&pre.stack, &slots);
    if log.popped_frame && pre.frames.len() >= 2 {
        let records = frame_records(&pre);
        let below = &records[..records.len() - 2];
        proof.caller = Some(Caller { frame: records[records.len() - 2], rest: callers_chain(below) });
    }
    if !log.globals.is_empty() {
        let values: Vec<u64> = pre.store.globals.iter().map(|g| g.value).collect();
        let indices = log.globals.iter().map(|&a| a as usize).collect();
        proof.globals = Some(open(&values, &indices));
    }
    if let Some(m) = log.memory {
        proof.memory = Some(open_memory(&mut pre, m, &log));
    }
    if !log.tables.is_empty() || !log.grown_tables.is_empty() {
        proof.tables = Some(open_tables(&mut pre, &log));
    }
    if log.segments {
        proof.segments = Some(Segments {
            elems: pre.store.elems.iter().map(Vec::is_empty).collect(),
            datas: pre.store.data_dropped.clone(),
        });
    }
    if let Some(key) = log.storage_key {
        // The commitment above brought the storage tree up to date.
        let storage = &mut pre.store.storage;
        let value = storage.get(&key).map(<[u8]>::to_vec);
        let path = storage.tree.prove(&key_hash(&key));
        proof.storage = Some(StorageOpening { key, value, path });
    }
    sealed(proof, log.emitted)
}

/// The proof with its environment sealed (one hash for six) when the step neither opens
/// nor writes any of it.
fn sealed(mut proof: Proof, emitted: bool) -> Proof {
    let opens = proof.globals.is_some()
        || proof.memory.is_some()
        || proof.tables.is_some()
        || proof.segments.is_some()
        || proof.storage.is_some();
    if !opens && !emitted {
        proof.state.environment = EnvironmentCommitment::Sealed(proof.state.environment.hash());
    }
    proof
}

fn open_memory(pre: &mut Machine, m: u32, log: &Log) -> MemoryOpening {
    let commitments: Vec<Hash> = pre.store.memories.iter_mut().map(memory::commitment).collect();
    let memories_proof = tree::proof(&tree::layers(&commitments), &[m as usize]).proof_hashes().to_vec();
    let mem = &mut pre.store.memories[m as usize];
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
        max: mem.max.unwrap_or(memory::MAX_PAGES),
        chunks: indices.iter().map(|&i| (i as u32, memory::chunk(mem, i).to_vec())).collect(),
        chunks_proof,
    }
}

fn open_tables(pre: &mut Machine, log: &Log) -> TablesOpening {
    let mut wanted: BTreeMap<u32, BTreeSet<usize>> = log.tables.clone();
    for &t in &log.grown_tables {
        // table.grow opens the last element, to append null elements after it.
        let len = pre.store.tables[t as usize].elems().len();
        wanted.insert(t, len.checked_sub(1).into_iter().collect());
    }
    let commitments: Vec<Hash> = pre.store.tables.iter_mut().map(table_commitment).collect();
    let indices: Vec<usize> = wanted.keys().map(|&t| t as usize).collect();
    let tables_proof = tree::proof(&tree::layers(&commitments), &indices).proof_hashes().to_vec();
    let tables = wanted.iter().map(|(&t, elems)| (t, open(pre.store.tables[t as usize].elems(), elems))).collect();
    TablesOpening { tables, tables_proof }
}
