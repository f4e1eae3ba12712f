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
    /// One past the highest leaf ever marked; draining keeps it. A memory's chunks from
    /// here on were never written, so they are zero and need no reading.
    high: usize,
}

impl DirtyLeaves {
    /// `n` leaves, all stale: nothing has hashed them yet.
    fn all(n: usize) -> Self {
        let mut d = Self::default();
        d.grow(0, n);
        d
    }

    /// Marks `leaf`; whether it was not marked yet.
    #[inline(always)]
    pub(crate) fn mark(&mut self, leaf: usize) -> bool {
        let (word, bit) = (leaf / 64, 1u64 << (leaf % 64));
        let w = &mut self.bits[word];
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.list.push(leaf as u32);
        // Here, not on every write: once per leaf between two hashes.
        self.high = self.high.max(leaf + 1);
        true
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
        self.extend(new);
        for leaf in old..new {
            self.mark(leaf);
        }
    }

    /// Makes room for `n` leaves without marking any.
    fn extend(&mut self, n: usize) {
        self.bits.resize(n.div_ceil(64), 0);
    }

    /// Forgets the leaves from `n` on (a memory shrank back to `n` chunks).
    fn truncate(&mut self, n: usize) {
        for &leaf in self.list.iter().filter(|&&l| l as usize >= n) {
            self.bits[leaf as usize / 64] &= !(1u64 << (leaf % 64));
        }
        self.list.retain(|&l| (l as usize) < n);
        self.bits.truncate(n.div_ceil(64));
        if !n.is_multiple_of(64) {
            // Bits past the end of the last word belong to no leaf.
            if let Some(last) = self.bits.last_mut() {
                *last &= (1u64 << (n % 64)) - 1;
            }
        }
        self.high = self.high.min(n);
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
    /// The number of leaves the layers were last brought up to date for.
    pub leaves: usize,
}

impl MerkleCache {
    fn new(leaves: usize) -> Self {
        Self { dirty: DirtyLeaves::all(leaves), layers: Vec::new(), leaves: 0 }
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

    /// One past the highest leaf ever marked stale.
    pub fn high(&self) -> usize {
        self.dirty.high
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
#[derive(Debug, PartialEq, Eq)]
pub struct Memory {
    pub(crate) data: ZeroedBytes,
    /// The declared maximum in pages; the configured limit applies on top of it.
    pub(crate) max: Option<u32>,
    /// log2 of the chunk size: the Merkle commitment's leaf size.
    pub(crate) chunk_shift: u32,
    /// One leaf per chunk. Chunks from `cache.high()` on were never written: the
    /// commitment takes them as zero without reading them, and a grow does not copy them.
    pub(crate) cache: MerkleCache,
    /// While a call may be undone ([`crate::Machine::begin_undo`]): the old bytes of each
    /// chunk, saved before its first write.
    pub(crate) journal: Journal,
}

/// A memory's undo log: what it must give back if the call that began it is undone. It
/// is a record of a call in progress, not state: memories compare equal whatever their
/// journals hold.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal(Option<Box<MemoryLog>>);

/// The way back from a memory's state to an earlier one: the bytes of each chunk the
/// memory wrote in between, as they were. It costs what was written in between, and less
/// where that was fresh memory: chunks never written before hold zeros and need no copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryLog {
    /// Chunks below `high` and their bytes before their first write, in the order they
    /// were written; `None` for a chunk of zeros.
    chunks: Vec<(u32, Option<Box<[u8]>>)>,
    /// The memory's byte length then: a grow is undone by shrinking back to it.
    len: usize,
    /// The memory's highest chunk ever written then, plus one: the chunks from here on
    /// were zero, so going back zeroes them rather than keeping their bytes.
    high: usize,
    /// The memory's declared maximum, to rebuild it from the log alone.
    max: Option<u32>,
    /// The bytes of the chunks saved, kept as they are saved.
    held: usize,
}

impl MemoryLog {
    /// The bytes the log holds, roughly.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.chunks.len() * 24 + self.held
    }

    /// The memory's length in bytes when the log began.
    pub fn memory_len(&self) -> usize {
        self.len
    }

    /// The bytes of `chunks` saved.
    fn held(chunks: &[(u32, Option<Box<[u8]>>)]) -> usize {
        chunks.iter().map(|(_, b)| b.as_ref().map_or(0, |b| b.len())).sum()
    }

    /// One log that goes from `newer`'s end back to `older`'s beginning, where `newer`
    /// began where `older` ended. A chunk both hold keeps `older`'s bytes.
    pub fn merge(older: MemoryLog, newer: MemoryLog) -> MemoryLog {
        let mut kept = std::collections::HashSet::with_capacity(older.chunks.len());
        kept.extend(older.chunks.iter().map(|&(leaf, _)| leaf));
        let mut chunks = older.chunks;
        // A chunk `newer` saved from `older.high` on was zero when `older` began.
        chunks
            .extend(newer.chunks.into_iter().filter(|(leaf, _)| (*leaf as usize) < older.high && !kept.contains(leaf)));
        MemoryLog { held: Self::held(&chunks), chunks, ..older }
    }

    /// The log's parts, for an encoding: each chunk saved (its index and bytes, none for
    /// zeros), the length, the high chunk and the maximum.
    #[allow(clippy::type_complexity)]
    pub fn parts(&self) -> (&[(u32, Option<Box<[u8]>>)], usize, usize, Option<u32>) {
        (&self.chunks, self.len, self.high, self.max)
    }

    /// A log from its parts, checked against the chunk size: what [`MemoryLog::parts`]
    /// gave, or an error naming what is wrong.
    pub fn from_parts(
        chunks: Vec<(u32, Option<Box<[u8]>>)>,
        len: usize,
        high: usize,
        max: Option<u32>,
        chunk_size: usize,
    ) -> Result<Self, String> {
        if !len.is_multiple_of(PAGE_SIZE) || len / PAGE_SIZE > max.unwrap_or(65536) as usize {
            return Err(format!("a memory log's length {len} is not a whole number of pages within its maximum"));
        }
        let count = len.div_ceil(chunk_size);
        if high > count {
            return Err(format!("a memory log's high chunk {high} is past its {count} chunks"));
        }
        for (leaf, bytes) in &chunks {
            if *leaf as usize >= high {
                return Err(format!("a memory log saves chunk {leaf}, at or past its high chunk {high}"));
            }
            if bytes.as_ref().is_some_and(|b| b.len() != chunk_size) {
                return Err(format!("a memory log saves chunk {leaf} with other than {chunk_size} bytes"));
            }
        }
        Ok(Self { held: Self::held(&chunks), chunks, len, high, max })
    }
}

impl Clone for Memory {
    /// Copies the chunks ever written; the rest of the copy comes zeroed from the OS and
    /// stays untouched, so a copy costs what was written, not the memory's size.
    fn clone(&self) -> Self {
        Self {
            data: self.data.clone_written(self.written_bytes()),
            max: self.max,
            chunk_shift: self.chunk_shift,
            cache: self.cache.clone(),
            journal: self.journal.clone(),
        }
    }
}

impl PartialEq for Journal {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Journal {}

impl Memory {
    /// A memory holding `data`, in chunks of `chunk_size` bytes (a power of two).
    pub fn new(data: Vec<u8>, max: Option<u32>, chunk_size: u32) -> Self {
        let chunks = data.len().div_ceil(chunk_size as usize);
        Self::with_written(data, max, chunk_size, chunks)
    }

    /// A memory of `pages` zero pages, which the OS provides as they are first touched.
    pub(crate) fn zeroed(pages: u32, max: Option<u32>, chunk_size: u32) -> Self {
        Self::with_written(vec![0; pages as usize * PAGE_SIZE], max, chunk_size, 0)
    }

    /// A memory holding `data`, whose chunks from `written` on must be all zero.
    pub(crate) fn with_written(data: Vec<u8>, max: Option<u32>, chunk_size: u32, written: usize) -> Self {
        debug_assert!(chunk_size.is_power_of_two());
        let chunk_shift = chunk_size.trailing_zeros();
        debug_assert!(data.get(written << chunk_shift..).is_none_or(|rest| rest.iter().all(|&b| b == 0)));
        let mut cache = MerkleCache { leaves: 0, layers: Vec::new(), dirty: DirtyLeaves::default() };
        cache.dirty.extend(data.len().div_ceil(chunk_size as usize));
        cache.dirty.high = written;
        Self { data: ZeroedBytes::from(data), max, chunk_shift, cache, journal: Journal::default() }
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
        (&self.data[..], &mut self.cache)
    }

    pub fn chunk_size(&self) -> usize {
        1 << self.chunk_shift
    }

    /// Where the bytes never written begin: every byte from here on is zero.
    pub(crate) fn written_bytes(&self) -> usize {
        (self.cache.high() << self.chunk_shift).min(self.data.len())
    }

    /// Marks the chunks holding bytes `at..at + len` (`len` > 0) as written. Called
    /// before the bytes are written: an undo log saves a chunk's old bytes at its first mark.
    #[inline(always)]
    pub(crate) fn touch(&mut self, at: usize, len: usize) {
        for leaf in at >> self.chunk_shift..=(at + len - 1) >> self.chunk_shift {
            if self.cache.dirty.mark(leaf) && self.journal.0.is_some() {
                self.save_chunk(leaf);
            }
        }
    }

    /// Saves chunk `leaf`'s bytes in the undo log, unless it was never written before the
    /// log began: going back zeroes those.
    #[cold]
    fn save_chunk(&mut self, leaf: usize) {
        let size = self.chunk_size();
        let Some(log) = self.journal.0.as_mut() else { return };
        if leaf >= log.high {
            return;
        }
        let bytes = &self.data[(leaf * size).min(self.data.len())..((leaf + 1) * size).min(self.data.len())];
        let saved: Option<Box<[u8]>> = (!bytes.iter().all(|&b| b == 0)).then(|| Box::from(bytes));
        log.held += saved.as_ref().map_or(0, |b| b.len());
        log.chunks.push((leaf as u32, saved));
    }

    /// Starts an undo log: the chunks marked since the last hash are saved now (their next
    /// write will not mark them again), every other chunk before its first write.
    pub(crate) fn begin_undo(&mut self) {
        let log =
            MemoryLog { chunks: Vec::new(), len: self.data.len(), high: self.cache.high(), max: self.max, held: 0 };
        self.journal.0 = Some(Box::new(log));
        for leaf in self.cache.dirty.leaves().to_vec() {
            self.save_chunk(leaf as usize);
        }
    }

    /// The bytes the undo log holds so far ([`MemoryLog::bytes`]); 0 without one.
    pub fn undo_bytes(&self) -> usize {
        self.journal.0.as_ref().map_or(0, |log| log.bytes())
    }

    /// Ends the undo log, keeping what was written.
    pub(crate) fn end_undo(&mut self) {
        self.journal.0 = None;
    }

    /// Ends the undo log and hands it over: the way back to where it began.
    pub(crate) fn seal_undo(&mut self) -> MemoryLog {
        self.journal.0.take().map(|log| *log).unwrap_or_default()
    }

    /// Gives back what was written since [`Memory::begin_undo`], and ends the log. The
    /// chunks given back stay marked, so the next hash reads them again.
    pub(crate) fn undo(&mut self) {
        if let Some(log) = self.journal.0.take() {
            self.rewind(*log);
        }
    }

    /// Goes back to where `log` began; `log` must come from this memory's journal (or a
    /// merge of consecutive ones) and lead back from its present state. The chunks given
    /// back are marked, so the next hash reads them again.
    pub(crate) fn rewind(&mut self, log: MemoryLog) {
        let MemoryLog { chunks, len, high, .. } = log;
        let size = self.chunk_size();
        // The chunks written from `high` on were zero.
        let (from, to) = (high, self.cache.high().min(self.data.len().div_ceil(size)));
        if from < to {
            let end = (to * size).min(self.data.len());
            self.data[from * size..end].fill(0);
            self.cache.dirty.mark_span(from, to - 1);
        }
        for (leaf, bytes) in chunks.into_iter().rev() {
            let at = leaf as usize * size;
            let end = (at + size).min(self.data.len());
            match bytes {
                Some(b) => self.data[at..end].copy_from_slice(&b[..end - at]),
                None => self.data[at..end].fill(0),
            }
            self.cache.dirty.mark(leaf as usize);
        }
        if len < self.data.len() {
            self.data.shrink(len);
            self.cache.dirty.truncate(len.div_ceil(size));
        }
        self.cache.dirty.high = high;
    }

    /// Writes `bytes` at `at`, or reports that they do not fit.
    pub fn write(&mut self, at: usize, bytes: &[u8]) -> Result<(), crate::Trap> {
        let end = at.checked_add(bytes.len()).filter(|&e| e <= self.data.len());
        let end = end.ok_or(crate::Trap::MemoryOutOfBounds)?;
        if !bytes.is_empty() {
            self.touch(at, bytes.len());
        }
        self.data[at..end].copy_from_slice(bytes);
        Ok(())
    }

    /// Grows to `pages` pages, as `memory.grow` would to that size: refuses to shrink and
    /// to pass the memory's declared maximum (an engine that is not the stepper brings a
    /// memory up to the size its own run reached so).
    pub fn grow_to(&mut self, pages: u32) -> Result<(), crate::Trap> {
        let max = self.max.unwrap_or(65536);
        if (pages as usize) < self.data.len() / PAGE_SIZE || pages > max {
            return Err(crate::Trap::MemoryOutOfBounds);
        }
        self.grow(pages);
        Ok(())
    }

    /// Grows to `pages` pages. The new chunks are zero and stay unmarked: the commitment
    /// takes them as zero without reading them, and no page of them is touched here. An
    /// undo log needs nothing: it shrinks back to the length it began with.
    pub(crate) fn grow(&mut self, pages: u32) {
        let old = self.data.len();
        let limit = self.max.unwrap_or(65536) as usize * PAGE_SIZE;
        self.data.grow(pages as usize * PAGE_SIZE, limit, self.cache.high() << self.chunk_shift);
        let chunks = self.data.len() >> self.chunk_shift;
        self.cache.dirty.extend(chunks);
        if old & (self.chunk_size() - 1) != 0 {
            // A short last chunk (of a memory built from odd-sized data) is now whole.
            self.cache.dirty.mark(old >> self.chunk_shift);
        }
    }
}

pub use zeroed::ZeroedBytes;

mod zeroed {
    /// Linear memory's bytes, grown without writing the new ones: a larger buffer comes
    /// from a zeroed allocation (calloc, which the OS backs with pages zeroed on first
    /// touch), and the capacity past the length stays zero for later grows to use.
    #[derive(Debug, Default)]
    pub struct ZeroedBytes {
        bytes: Vec<u8>,
        /// Invariant: `bytes`' spare capacity up to `zeroed` (at most the capacity) is
        /// initialized to zero. Only `grow` sets it, right after a zeroed allocation, and
        /// nothing here writes past the length or shortens it.
        zeroed: usize,
    }

    impl ZeroedBytes {
        /// Grows to `len` zero-extended bytes, of which the old ones from `copy` on must be
        /// zero (they are not copied into a new buffer). A new buffer reserves up to twice
        /// the length, at most `limit`, so that repeated grows copy linearly in total.
        pub fn grow(&mut self, len: usize, limit: usize, copy: usize) {
            let old = self.bytes.len();
            debug_assert!(len >= old);
            if len <= self.zeroed {
                // SAFETY: len <= zeroed <= capacity, and bytes old..zeroed are initialized
                // zeros by the invariant.
                unsafe { self.bytes.set_len(len) };
                return;
            }
            let copy = copy.min(old);
            debug_assert!(self.bytes[copy..].iter().all(|&b| b == 0), "unwritten bytes must be zero");
            let reserve = len.max(old.saturating_mul(2).min(limit));
            let mut bytes = vec![0; reserve];
            bytes[..copy].copy_from_slice(&self.bytes[..copy]);
            bytes.truncate(len);
            self.bytes = bytes;
            self.zeroed = reserve;
        }
    }

    impl ZeroedBytes {
        /// Shortens to `len` bytes; the bytes cut off must be zero. They stay allocated,
        /// zeroed, for a later grow.
        pub fn shrink(&mut self, len: usize) {
            debug_assert!(self.bytes[len..].iter().all(|&b| b == 0), "bytes cut off must be zero");
            self.zeroed = self.zeroed.max(self.bytes.len());
            self.bytes.truncate(len);
        }
    }

    impl From<Vec<u8>> for ZeroedBytes {
        fn from(bytes: Vec<u8>) -> Self {
            // The spare capacity of a vector from elsewhere is not known to be zero.
            let zeroed = bytes.len();
            Self { bytes, zeroed }
        }
    }

    impl ZeroedBytes {
        /// A copy whose bytes from `written` on, which must be zero, are not copied but
        /// come from a zeroed allocation.
        pub fn clone_written(&self, written: usize) -> Self {
            let len = self.bytes.len();
            let mut bytes = vec![0; len];
            bytes[..written].copy_from_slice(&self.bytes[..written]);
            Self { bytes, zeroed: len }
        }
    }

    impl PartialEq for ZeroedBytes {
        fn eq(&self, other: &Self) -> bool {
            self.bytes == other.bytes
        }
    }

    impl Eq for ZeroedBytes {}

    impl std::ops::Deref for ZeroedBytes {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            &self.bytes
        }
    }

    impl std::ops::DerefMut for ZeroedBytes {
        fn deref_mut(&mut self) -> &mut [u8] {
            &mut self.bytes
        }
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
