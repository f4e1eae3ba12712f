//! Everything instances own, addressed by store index as in the WebAssembly spec.

use std::collections::HashMap;
use std::sync::Arc;

use crate::host::HostFunc;
use crate::module::{FuncType, Module};
use crate::value::ValType;

pub const PAGE_SIZE: usize = 65536;

/// Something an instance exports or imports: a store address of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extern {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// Function `index` of instance `instance`'s module.
    Wasm {
        instance: u32,
        index: u32,
        type_id: u32,
    },
    Host {
        func: HostFunc,
        type_id: u32,
    },
}

impl Func {
    pub fn type_id(&self) -> u32 {
        match *self {
            Func::Wasm { type_id, .. } | Func::Host { type_id, .. } => type_id,
        }
    }
}

/// Which leaves of a Merkle commitment changed since the commitment last brought its
/// hashes up to date. Memories and tables keep one, and every write marks it, so that
/// hashing after a step rehashes only what the step touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirtyLeaves {
    /// One bit per leaf, to record each stale leaf once.
    bits: Vec<u64>,
    /// The stale leaves in the order they were first marked: draining them costs what
    /// was written, not the size of the tree.
    list: Vec<u32>,
}

impl DirtyLeaves {
    /// `n` leaves, all stale: nothing has hashed them yet.
    fn all(n: usize) -> Self {
        let mut d = Self::default();
        d.grow(0, n);
        d
    }

    #[inline(always)]
    pub(crate) fn mark(&mut self, leaf: usize) {
        let (word, bit) = (leaf / 64, 1u64 << (leaf % 64));
        let w = &mut self.bits[word];
        if *w & bit == 0 {
            *w |= bit;
            self.list.push(leaf as u32);
        }
    }

    /// Marks the leaves from `first` through `last`.
    #[inline(always)]
    pub(crate) fn mark_span(&mut self, first: usize, last: usize) {
        for leaf in first..=last {
            self.mark(leaf);
        }
    }

    /// Makes room for leaves `old..new`, which start stale.
    fn grow(&mut self, old: usize, new: usize) {
        self.bits.resize(new.div_ceil(64), 0);
        for leaf in old..new {
            self.mark(leaf);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The stale leaves in the order they were first marked, without forgetting them.
    pub fn leaves(&self) -> &[u32] {
        &self.list
    }

    fn drain(&mut self) -> Vec<u32> {
        for &leaf in &self.list {
            self.bits[leaf as usize / 64] = 0;
        }
        let mut list = std::mem::take(&mut self.list);
        list.sort_unstable();
        list
    }
}

/// A Merkle commitment's cached node hashes, kept next to the data they commit to so that
/// a cloned or restored memory or table never pairs stale hashes with new contents.
/// merkle-memory owns the layout of `layers`; the stepper only marks `dirty`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleCache {
    pub(crate) dirty: DirtyLeaves,
    /// Node hashes by layer, leaves first.
    pub layers: Vec<Vec<[u8; 32]>>,
}

impl MerkleCache {
    fn new(leaves: usize) -> Self {
        Self { dirty: DirtyLeaves::all(leaves), layers: Vec::new() }
    }

    /// The leaves written since the hashes were last brought up to date.
    pub fn dirty(&self) -> &DirtyLeaves {
        &self.dirty
    }

    /// The stale leaves in ascending order, forgetting them: the caller takes over
    /// bringing their hashes up to date.
    pub fn drain_dirty(&mut self) -> Vec<u32> {
        self.dirty.drain()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub(crate) ty: ValType,
    /// Reference slots: 0 for null, address + 1 otherwise.
    pub(crate) elems: Vec<u64>,
    /// The declared maximum; the configured limit applies on top of it.
    pub(crate) max: Option<u32>,
    /// One leaf per element.
    pub(crate) cache: MerkleCache,
}

impl Table {
    pub fn new(ty: ValType, elems: Vec<u64>, max: Option<u32>) -> Self {
        let cache = MerkleCache::new(elems.len());
        Self { ty, elems, max, cache }
    }

    pub fn elems(&self) -> &[u64] {
        &self.elems
    }

    pub fn ty(&self) -> ValType {
        self.ty
    }

    pub fn cache(&self) -> &MerkleCache {
        &self.cache
    }

    /// The elements, and the cache of their commitment to bring up to date.
    pub fn elems_and_cache(&mut self) -> (&[u64], &mut MerkleCache) {
        (&self.elems, &mut self.cache)
    }

    /// The declared maximum; the configured limit applies on top of it.
    pub fn max(&self) -> Option<u32> {
        self.max
    }

    /// Writes element `i`, which must exist.
    #[inline(always)]
    pub(crate) fn set(&mut self, i: usize, slot: u64) {
        self.elems[i] = slot;
        self.cache.dirty.mark(i);
    }

    /// Writes `slots` from element `at` on, which must all exist.
    pub(crate) fn write(&mut self, at: usize, slots: &[u64]) {
        self.elems[at..at + slots.len()].copy_from_slice(slots);
        if !slots.is_empty() {
            self.cache.dirty.mark_span(at, at + slots.len() - 1);
        }
    }

    pub(crate) fn grow(&mut self, len: usize) {
        let old = self.elems.len();
        self.elems.resize(len, 0);
        self.cache.dirty.grow(old, len);
    }
}

/// Linear memory, with a record of the chunks written since its commitment last looked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub(crate) data: Vec<u8>,
    /// The declared maximum in pages; the configured limit applies on top of it.
    pub(crate) max: Option<u32>,
    /// log2 of the chunk size: the Merkle commitment's leaf size.
    pub(crate) chunk_shift: u32,
    /// One leaf per chunk.
    pub(crate) cache: MerkleCache,
}

impl Memory {
    /// A memory holding `data`, in chunks of `chunk_size` bytes (a power of two).
    pub fn new(data: Vec<u8>, max: Option<u32>, chunk_size: u32) -> Self {
        debug_assert!(chunk_size.is_power_of_two());
        let chunk_shift = chunk_size.trailing_zeros();
        let cache = MerkleCache::new(data.len().div_ceil(chunk_size as usize));
        Self { data, max, chunk_shift, cache }
    }

    pub fn pages(&self) -> u32 {
        (self.data.len() / PAGE_SIZE) as u32
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The declared maximum in pages; the configured limit applies on top of it.
    pub fn max(&self) -> Option<u32> {
        self.max
    }

    pub fn cache(&self) -> &MerkleCache {
        &self.cache
    }

    /// The bytes, and the cache of their commitment to bring up to date.
    pub fn data_and_cache(&mut self) -> (&[u8], &mut MerkleCache) {
        (&self.data, &mut self.cache)
    }

    pub fn chunk_size(&self) -> usize {
        1 << self.chunk_shift
    }

    /// Marks the chunks holding bytes `at..at + len` (`len` > 0) as written.
    #[inline(always)]
    pub(crate) fn touch(&mut self, at: usize, len: usize) {
        self.cache.dirty.mark_span(at >> self.chunk_shift, (at + len - 1) >> self.chunk_shift);
    }

    /// Writes `bytes` at `at`, or reports that they do not fit.
    pub fn write(&mut self, at: usize, bytes: &[u8]) -> Result<(), crate::Trap> {
        let end = at.checked_add(bytes.len()).filter(|&e| e <= self.data.len());
        let end = end.ok_or(crate::Trap::MemoryOutOfBounds)?;
        self.data[at..end].copy_from_slice(bytes);
        if !bytes.is_empty() {
            self.touch(at, bytes.len());
        }
        Ok(())
    }

    pub(crate) fn grow(&mut self, pages: u32) {
        let old = self.data.len() >> self.chunk_shift;
        self.data.resize(pages as usize * PAGE_SIZE, 0);
        self.cache.dirty.grow(old, self.data.len() >> self.chunk_shift);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub ty: ValType,
    pub mutable: bool,
    pub value: u64,
}

/// A module instance: its index spaces mapped to store addresses.
#[derive(Clone, Debug)]
pub struct Instance {
    pub module: Arc<Module>,
    pub funcs: Vec<u32>,
    pub tables: Vec<u32>,
    pub memory: Option<u32>,
    pub globals: Vec<u32>,
    /// Store type ids of the module's types, for call_indirect's check.
    pub type_ids: Vec<u32>,
    /// Store index of the instance's first element segment and data segment.
    pub elem_base: u32,
    pub data_base: u32,
    pub exports: HashMap<String, Extern>,
}

/// All instances' functions, tables, memories, globals and segments: plain data. A
/// machine hands out only a shared reference to its store, and a store enters a machine
/// only through [`crate::Machine::from_parts`] or [`crate::Machine::restore`], which check
/// it whole.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub types: Vec<FuncType>,
    type_ids: HashMap<FuncType, u32>,
    pub funcs: Vec<Func>,
    pub tables: Vec<Table>,
    pub memories: Vec<Memory>,
    pub globals: Vec<Global>,
    pub instances: Vec<Instance>,
    /// Element segments' resolved references; a dropped segment is empty.
    pub elems: Vec<Vec<u64>>,
    /// Whether each data segment was dropped (its bytes live in the module).
    pub data_dropped: Vec<bool>,
    /// Contract storage (the `verigame.storage_*` host functions).
    pub storage: crate::storage::Storage,
}

impl Store {
    /// The store-wide id of a function type; equal types get equal ids.
    pub fn intern_type(&mut self, ty: &FuncType) -> u32 {
        if let Some(&id) = self.type_ids.get(ty) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(ty.clone());
        self.type_ids.insert(ty.clone(), id);
        id
    }

    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.funcs[func as usize].type_id() as usize]
    }

    /// The number of each kind of item, to undo a failed allocation with [`Store::truncate`].
    pub(crate) fn lengths(&self) -> [usize; 6] {
        [
            self.funcs.len(),
            self.tables.len(),
            self.memories.len(),
            self.globals.len(),
            self.elems.len(),
            self.data_dropped.len(),
        ]
    }

    pub(crate) fn truncate(&mut self, [funcs, tables, memories, globals, elems, datas]: [usize; 6]) {
        self.funcs.truncate(funcs);
        self.tables.truncate(tables);
        self.memories.truncate(memories);
        self.globals.truncate(globals);
        self.elems.truncate(elems);
        self.data_dropped.truncate(datas);
    }

    pub fn add_host_func(&mut self, func: HostFunc) -> u32 {
        let type_id = self.intern_type(&func.ty());
        self.funcs.push(Func::Host { func, type_id });
        self.funcs.len() as u32 - 1
    }
}
