//! What one step reads and writes: the executor run over a backend that notes each
//! access, so that a prover opens exactly that part of the pre-state.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::backend::{Backend, Direct};
use crate::exec::execute_once;
use crate::io::IoRegs;
use crate::machine::{Frame, Machine, Status};

/// What one step touched: what a proof of the step must open.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Accesses {
    /// The lowest the value stack got.
    pub min_len: usize,
    /// Value stack slots read or written.
    pub touched: BTreeSet<usize>,
    /// Whether the step returned from a frame.
    pub popped_frame: bool,
    /// Global addresses read or written.
    pub globals: BTreeSet<u32>,
    /// Table addresses used, with the elements read or written.
    pub tables: BTreeMap<u32, BTreeSet<usize>>,
    pub grown_tables: BTreeSet<u32>,
    /// The memory the step used, if any.
    pub memory: Option<u32>,
    /// Its chunks read or written.
    pub chunks: BTreeSet<usize>,
    pub memory_grown: bool,
    /// Whether the step read or dropped an element or data segment.
    pub segments: bool,
    /// The storage key a storage host call used.
    pub storage_key: Option<Vec<u8>>,
    /// Whether the step appended to the output log.
    pub emitted: bool,
    /// Whether the step used the call's input and output (a WASI call).
    pub io: bool,
    /// The chunks of the laid-out input it read.
    pub input_chunks: BTreeSet<usize>,
}

/// The machine's state as a backend that logs what the executor touches.
struct Recorder<'a> {
    inner: Direct<'a>,
    chunk_size: usize,
    log: RefCell<Accesses>,
}

impl Recorder<'_> {
    fn note(&self, f: impl FnOnce(&mut Accesses)) {
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
    fn io(&self) -> IoRegs {
        self.note(|l| l.io = true);
        self.inner.io()
    }
    fn set_io(&mut self, regs: IoRegs) {
        self.note(|l| l.io = true);
        self.inner.set_io(regs)
    }
    fn input(&self, at: u64, buf: &mut [u8]) {
        let chunk = self.chunk_size;
        self.note(|l| {
            l.io = true;
            if !buf.is_empty() {
                l.input_chunks.extend(at as usize / chunk..=(at as usize + buf.len() - 1) / chunk);
            }
        });
        self.inner.input(at, buf)
    }
    fn stream_len(&self, fd: u32) -> u64 {
        self.note(|l| l.io = true);
        self.inner.stream_len(fd)
    }
    fn append(&mut self, fd: u32, bytes: &[u8]) {
        self.note(|l| l.io = true);
        self.inner.append(fd, bytes)
    }
}

impl Machine {
    /// Executes one step, as [`Machine::step`] does, and returns what it touched.
    pub fn step_recorded(&mut self) -> (Status, Accesses) {
        let chunk_size = self.config.memory_chunk_size as usize;
        let (cx, mut regs, direct) = self.split();
        let min_len = direct.stack_len();
        let mut recorder =
            Recorder { inner: direct, chunk_size, log: RefCell::new(Accesses { min_len, ..Accesses::default() }) };
        if regs.status == Status::Running {
            execute_once(&cx, &mut regs, &mut recorder);
        }
        let accesses = recorder.log.into_inner();
        self.set_registers(regs);
        (self.status, accesses)
    }
}
