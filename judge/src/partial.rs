//! The part of a state a proof opens, as a backend the stepper's executor runs on.
//! Reading anything the proof did not open is recorded (the proof is then refused) and
//! reads as 0.

use merkle_memory::io::StreamOpening;
use std::cell::RefCell;
use std::collections::BTreeMap;
use stepper::io::{IoRegs, STDOUT};

use stepper::store::{Store, PAGE_SIZE};
use stepper::{Backend, Frame};

/// A table's length and the elements the proof opened (or the step wrote).
#[derive(Clone, Debug, Default)]
pub struct PartialTable {
    pub len: usize,
    pub elems: BTreeMap<usize, u64>,
    pub grown_from: Option<usize>,
}

/// The opened memory: its size, maximum and the chunks the proof opened.
#[derive(Clone, Debug)]
pub struct PartialMemory {
    pub index: u32,
    pub pages: u32,
    pub max: u32,
    pub chunk_size: usize,
    pub chunks: BTreeMap<usize, Vec<u8>>,
    pub grown_from: Option<u32>,
}

/// The opened storage key and its value (before the step, then after it).
#[derive(Clone, Debug)]
pub struct PartialStorage {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub written: bool,
}

/// The value stack as a proof opens it: the slots it opened below the pre-state's top,
/// and every slot the step pushes.
#[derive(Clone, Debug)]
pub struct PartialStack {
    len: usize,
    /// The lowest height the stack reached during the step: slots from there up are the
    /// step's own pushes.
    low: usize,
    /// The opened slots below `low`, and the slots pushed from `low` up.
    slots: BTreeMap<usize, u64>,
    /// Slots opened by the proof, which the step may overwrite in place.
    opened: Vec<usize>,
}

impl PartialStack {
    pub fn new(len: usize, opened: BTreeMap<usize, u64>) -> Self {
        Self { len, low: len, opened: opened.keys().copied().collect(), slots: opened }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn low(&self) -> usize {
        self.low
    }

    /// The value of opened slot `i` after the step, if it lies below `low`.
    pub fn written_below(&self, i: usize, low: usize) -> Option<u64> {
        (i < low).then(|| self.slots.get(&i).copied()).flatten()
    }

    /// The slots written from `low` up, ascending.
    pub fn pushed(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.slots.range(self.low..self.len).map(|(&i, &v)| (i, v))
    }

    /// Slot `i`: opened, or pushed by the step (a pushed slot nothing wrote is a zeroed
    /// local of a new frame).
    fn get(&self, i: usize) -> Option<u64> {
        match self.slots.get(&i) {
            Some(&v) => Some(v),
            None => (self.low..self.len).contains(&i).then_some(0),
        }
    }

    /// Writes slot `i`, which must be one the step pushed or one the proof opened.
    fn set(&mut self, i: usize, value: u64) -> bool {
        let writable = i < self.len && (i >= self.low || self.opened.binary_search(&i).is_ok());
        if writable {
            self.slots.insert(i, value);
        }
        writable
    }

    fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.slots.split_off(&len);
            self.len = len;
            self.low = self.low.min(len);
        }
    }
}

/// The call's input and output as a proof opens them: the registers and streams whole,
/// the input's chunks that the step reads.
#[derive(Clone, Debug)]
pub struct PartialIo {
    pub regs: IoRegs,
    pub chunk_size: usize,
    pub input: BTreeMap<usize, Vec<u8>>,
    pub stdout: StreamOpening,
    pub stderr: StreamOpening,
}

pub struct Partial<'a> {
    /// The static layout: tables' declared maxima and element segments' items.
    pub layout: &'a Store,
    pub stack: PartialStack,
    pub depth: usize,
    /// The frames the proof opened, innermost last.
    pub frames: Vec<Frame>,
    pub globals: BTreeMap<u32, u64>,
    pub tables: BTreeMap<u32, PartialTable>,
    pub memory: Option<PartialMemory>,
    pub segments: Option<(Vec<bool>, Vec<bool>)>,
    pub emitted: Vec<i64>,
    pub storage: Option<PartialStorage>,
    pub io: Option<PartialIo>,
    /// The first thing the step needed that the proof does not open.
    pub missing: RefCell<Option<String>>,
}

impl Partial<'_> {
    fn miss(&self, what: impl FnOnce() -> String) {
        let mut missing = self.missing.borrow_mut();
        if missing.is_none() {
            *missing = Some(what());
        }
    }

    fn storage_entry(&self, key: &[u8]) -> Option<&PartialStorage> {
        let entry = self.storage.as_ref().filter(|s| s.key == key);
        if entry.is_none() {
            self.miss(|| format!("storage key {}", merkle_memory::hash::bytes_to_hex(key)));
        }
        entry
    }

    fn table(&self, t: u32) -> Option<&PartialTable> {
        let table = self.tables.get(&t);
        if table.is_none() {
            self.miss(|| format!("table {t}"));
        }
        table
    }

    fn memory(&self, m: u32) -> Option<&PartialMemory> {
        match &self.memory {
            Some(mem) if mem.index == m => Some(mem),
            _ => {
                self.miss(|| format!("memory {m}"));
                None
            }
        }
    }

    fn byte(&self, m: u32, at: usize) -> u8 {
        let Some(mem) = self.memory(m) else { return 0 };
        match mem.chunks.get(&(at / mem.chunk_size)) {
            Some(chunk) => chunk[at % mem.chunk_size],
            None => {
                self.miss(|| format!("memory chunk {}", at / mem.chunk_size));
                0
            }
        }
    }

    fn set_byte(&mut self, m: u32, at: usize, value: u8) {
        let chunk_size = match self.memory(m) {
            Some(mem) => mem.chunk_size,
            None => return,
        };
        let mem = self.memory.as_mut().expect("checked above");
        match mem.chunks.get_mut(&(at / chunk_size)) {
            Some(chunk) => chunk[at % chunk_size] = value,
            None => {
                let chunk = at / chunk_size;
                self.miss(|| format!("memory chunk {chunk}"));
            }
        }
    }

    fn io_opened(&self) -> Option<&PartialIo> {
        if self.io.is_none() {
            self.miss(|| "the call's input and output".into());
        }
        self.io.as_ref()
    }

    fn segments(&self) -> Option<&(Vec<bool>, Vec<bool>)> {
        if self.segments.is_none() {
            self.miss(|| "the dropped segments".into());
        }
        self.segments.as_ref()
    }
}

impl Backend for Partial<'_> {
    fn stack_len(&self) -> usize {
        self.stack.len
    }

    fn slot(&self, i: usize) -> u64 {
        self.stack.get(i).unwrap_or_else(|| {
            self.miss(|| format!("value stack slot {i}"));
            0
        })
    }

    fn set_slot(&mut self, i: usize, value: u64) {
        if !self.stack.set(i, value) {
            self.miss(|| format!("value stack slot {i}"));
        }
    }

    fn top(&self) -> u64 {
        self.slot(self.stack.len.wrapping_sub(1))
    }

    fn set_top(&mut self, value: u64) {
        self.set_slot(self.stack.len.wrapping_sub(1), value);
    }

    fn push(&mut self, value: u64) {
        self.stack.slots.insert(self.stack.len, value);
        self.stack.len += 1;
    }

    fn pop(&mut self) -> u64 {
        let Some(len) = self.stack.len.checked_sub(1) else {
            self.miss(|| "an operand below an empty stack".into());
            return 0;
        };
        let v = self.slot(len);
        self.stack.truncate(len);
        v
    }

    fn truncate(&mut self, len: usize) {
        self.stack.truncate(len);
    }

    fn move_down(&mut self, from: usize, to: usize, n: usize) {
        for j in 0..n {
            let v = self.slot(from + j);
            self.set_slot(to + j, v);
        }
    }

    fn reserve(&mut self, _: usize) {}

    fn push_zeros(&mut self, n: usize) {
        // Slots above the lowest height with nothing written read as zero.
        self.stack.len += n;
    }

    fn depth(&self) -> usize {
        self.depth
    }

    fn push_frame(&mut self, frame: Frame) {
        self.frames.push(frame);
        self.depth += 1;
    }

    fn pop_frame(&mut self) -> Frame {
        self.depth = self.depth.saturating_sub(1);
        self.frames.pop().unwrap_or_else(|| {
            self.miss(|| "the running frame".into());
            Frame { func: 0, base: 0, ret_pc: 0 }
        })
    }

    fn last_frame(&self) -> Option<Frame> {
        let last = self.frames.last().copied();
        if last.is_none() && self.depth > 0 {
            self.miss(|| "the caller's frame".into());
        }
        last
    }

    fn global(&self, addr: u32) -> u64 {
        match self.globals.get(&addr) {
            Some(&v) => v,
            None => {
                self.miss(|| format!("global {addr}"));
                0
            }
        }
    }

    fn set_global(&mut self, addr: u32, value: u64) {
        match self.globals.get_mut(&addr) {
            Some(slot) => *slot = value,
            None => self.miss(|| format!("global {addr}")),
        }
    }

    fn table_len(&self, t: u32) -> usize {
        self.table(t).map_or(0, |table| table.len)
    }

    fn table_max(&self, t: u32) -> Option<u32> {
        self.layout.tables.get(t as usize).and_then(|table| table.max())
    }

    fn table_get(&self, t: u32, i: usize) -> u64 {
        let Some(table) = self.table(t) else { return 0 };
        match table.elems.get(&i) {
            Some(&v) => v,
            None => {
                self.miss(|| format!("table {t} element {i}"));
                0
            }
        }
    }

    fn table_set(&mut self, t: u32, i: usize, value: u64) {
        if self.table(t).is_some_and(|table| table.elems.contains_key(&i)) {
            self.tables.get_mut(&t).expect("checked").elems.insert(i, value);
        } else {
            self.miss(|| format!("table {t} element {i}"));
        }
    }

    fn table_grow(&mut self, t: u32, len: usize) {
        if self.table(t).is_none() {
            return;
        }
        // The new elements are null; a grow step touches none of them (the post-state's
        // tree appends zero leaves), so none is materialized.
        let table = self.tables.get_mut(&t).expect("checked");
        table.grown_from.get_or_insert(table.len);
        table.len = len;
    }

    fn memory_len(&self, m: u32) -> usize {
        self.memory(m).map_or(0, |mem| mem.pages as usize * PAGE_SIZE)
    }

    fn memory_max(&self, m: u32) -> Option<u32> {
        self.memory(m).map(|mem| mem.max)
    }

    fn load(&self, m: u32, at: usize, width: u32) -> u64 {
        (0..width as usize).rev().fold(0u64, |acc, k| (acc << 8) | self.byte(m, at + k) as u64)
    }

    fn store(&mut self, m: u32, at: usize, width: u32, value: u64) {
        for (k, byte) in value.to_le_bytes().into_iter().take(width as usize).enumerate() {
            self.set_byte(m, at + k, byte);
        }
    }

    fn fill(&mut self, m: u32, at: usize, len: usize, byte: u8) {
        for k in 0..len {
            self.set_byte(m, at + k, byte);
        }
    }

    fn copy(&mut self, m: u32, dst: usize, src: usize, len: usize) {
        let bytes: Vec<u8> = (0..len).map(|k| self.byte(m, src + k)).collect();
        self.write(m, dst, &bytes);
    }

    fn write(&mut self, m: u32, at: usize, bytes: &[u8]) {
        for (k, &b) in bytes.iter().enumerate() {
            self.set_byte(m, at + k, b);
        }
    }

    fn grow_memory(&mut self, m: u32, pages: u32) {
        if self.memory(m).is_none() {
            return;
        }
        let mem = self.memory.as_mut().expect("checked");
        mem.grown_from.get_or_insert(mem.pages);
        mem.pages = pages;
    }

    fn elem_len(&self, e: u32) -> usize {
        match self.segments() {
            Some((elems, _)) if elems.get(e as usize) == Some(&false) => self.layout.elems[e as usize].len(),
            _ => 0,
        }
    }

    fn elem_item(&self, e: u32, i: usize) -> u64 {
        self.layout.elems.get(e as usize).and_then(|items| items.get(i)).copied().unwrap_or(0)
    }

    fn drop_elem(&mut self, e: u32) {
        if self.segments().is_some() {
            let (elems, _) = self.segments.as_mut().expect("checked");
            if let Some(dropped) = elems.get_mut(e as usize) {
                *dropped = true;
            }
        }
    }

    fn data_dropped(&self, d: u32) -> bool {
        self.segments().is_some_and(|(_, datas)| datas.get(d as usize) != Some(&false))
    }

    fn drop_data(&mut self, d: u32) {
        if self.segments().is_some() {
            let (_, datas) = self.segments.as_mut().expect("checked");
            if let Some(dropped) = datas.get_mut(d as usize) {
                *dropped = true;
            }
        }
    }

    fn emit(&mut self, value: i64) {
        self.emitted.push(value);
    }

    fn memory_count(&self) -> usize {
        self.layout.memories.len()
    }

    fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.storage_entry(key).and_then(|s| s.value.clone())
    }

    fn storage_set(&mut self, key: &[u8], value: Option<&[u8]>) {
        if self.storage_entry(key).is_some() {
            let s = self.storage.as_mut().expect("checked");
            s.value = value.map(<[u8]>::to_vec);
            s.written = true;
        }
    }

    fn io(&self) -> IoRegs {
        self.io_opened().map(|io| io.regs).unwrap_or_default()
    }

    fn set_io(&mut self, regs: IoRegs) {
        if let Some(io) = self.io.as_mut() {
            io.regs = regs;
        }
    }

    fn input(&self, at: u64, buf: &mut [u8]) {
        let Some(io) = self.io_opened() else { return };
        for (k, byte) in buf.iter_mut().enumerate() {
            let i = at + k as u64;
            let chunk = (i / io.chunk_size as u64) as usize;
            match io.input.get(&chunk) {
                Some(bytes) => *byte = bytes[(i % io.chunk_size as u64) as usize],
                None => return self.miss(|| format!("input chunk {chunk}")),
            }
        }
    }

    fn stream_len(&self, fd: u32) -> u64 {
        self.io_opened().map_or(0, |io| if fd == STDOUT { io.stdout.len } else { io.stderr.len })
    }

    fn append(&mut self, fd: u32, bytes: &[u8]) {
        if let Some(io) = self.io.as_mut() {
            let stream = if fd == STDOUT { &mut io.stdout } else { &mut io.stderr };
            stream.append(bytes);
        }
    }
}
