//! What the executor reads and writes, behind one trait: the machine's own state
//! ([`Direct`]), or, in the judge, the part of a state that a one-step proof opens. Both
//! run the same executor, so an instruction's semantics are written once.

use crate::io::{Io, IoRegs};
use crate::machine::{Frame, Status};
use crate::module::FuncType;
use crate::storage::Storage;
use crate::store::{Func, Global, Instance, Memory, Table};
use crate::Config;

/// The state an instruction can touch, addressed as the executor sees it: value stack
/// slots counted from the bottom of the whole stack, store addresses for globals, tables,
/// memories and segments.
///
/// Implementations may hold only part of a state; reading what they do not hold is their
/// business to report (the executor assumes every read succeeds, as validation
/// guarantees for a real machine).
pub trait Backend {
    fn stack_len(&self) -> usize;
    fn slot(&self, i: usize) -> u64;
    fn set_slot(&mut self, i: usize, value: u64);
    fn top(&self) -> u64;
    fn set_top(&mut self, value: u64);
    /// Pushes a value. The executor stays within the room [`Backend::reserve`] made.
    fn push(&mut self, value: u64);
    fn pop(&mut self) -> u64;
    fn truncate(&mut self, len: usize);
    /// Copies slots `from..from + n` down to `to` (`to <= from`).
    fn move_down(&mut self, from: usize, to: usize, n: usize);
    /// Makes room for `n` more slots above the current top.
    fn reserve(&mut self, n: usize);
    /// Pushes `n` zero slots: a new frame's declared locals.
    fn push_zeros(&mut self, n: usize);

    fn depth(&self) -> usize;
    fn push_frame(&mut self, frame: Frame);
    fn pop_frame(&mut self) -> Frame;
    fn last_frame(&self) -> Option<Frame>;

    fn global(&self, addr: u32) -> u64;
    fn set_global(&mut self, addr: u32, value: u64);

    fn table_len(&self, t: u32) -> usize;
    /// The table's declared maximum.
    fn table_max(&self, t: u32) -> Option<u32>;
    fn table_get(&self, t: u32, i: usize) -> u64;
    fn table_set(&mut self, t: u32, i: usize, value: u64);
    /// Grows the table to `len` null elements more.
    fn table_grow(&mut self, t: u32, len: usize);

    /// The memory's size in bytes.
    fn memory_len(&self, m: u32) -> usize;
    /// The memory's declared maximum in pages.
    fn memory_max(&self, m: u32) -> Option<u32>;
    /// Reads `width` bytes at `at` (within bounds), little-endian, zero-extended.
    fn load(&self, m: u32, at: usize, width: u32) -> u64;
    fn store(&mut self, m: u32, at: usize, width: u32, value: u64);
    fn fill(&mut self, m: u32, at: usize, len: usize, byte: u8);
    /// Copies `len` bytes from `src` to `dst`, as `memmove` does.
    fn copy(&mut self, m: u32, dst: usize, src: usize, len: usize);
    fn write(&mut self, m: u32, at: usize, bytes: &[u8]);
    fn grow_memory(&mut self, m: u32, pages: u32);

    fn elem_len(&self, e: u32) -> usize;
    fn elem_item(&self, e: u32, i: usize) -> u64;
    fn drop_elem(&mut self, e: u32);
    fn data_dropped(&self, d: u32) -> bool;
    fn drop_data(&mut self, d: u32);

    /// Appends to the output log (`verigame.emit`).
    fn emit(&mut self, value: i64);

    /// How many memories the store has (storage functions use memory 0).
    fn memory_count(&self) -> usize;
    /// The value stored under `key` in contract storage.
    fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Stores `value` under `key`, or removes the key.
    fn storage_set(&mut self, key: &[u8], value: Option<&[u8]>);

    /// The call's input and output registers (WASI).
    fn io(&self) -> IoRegs;
    fn set_io(&mut self, regs: IoRegs);
    /// Fills `buf` with the call's laid-out input from `at` (within it).
    fn input(&self, at: u64, buf: &mut [u8]);
    /// The length of output stream `fd` (standard output or error).
    fn stream_len(&self, fd: u32) -> u64;
    /// Appends to output stream `fd`.
    fn append(&mut self, fd: u32, bytes: &[u8]);
}

/// What a step needs besides the state it changes: the configuration and the store's
/// static part (function types, function records, instances), fixed for a run.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub types: &'a [FuncType],
    pub funcs: &'a [Func],
    pub instances: &'a [Instance],
}

/// The machine's counters and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers {
    pub pc: u32,
    pub steps: u64,
    pub gas_used: u64,
    pub status: Status,
}

/// A machine's own state as a backend ([`crate::Machine::split`]). Its stack operations
/// are unchecked: it exists only inside the stepper, over machines whose state running,
/// restoring or [`crate::Machine::from_parts`] checked.
pub(crate) struct Direct<'a> {
    pub(crate) stack: &'a mut Vec<u64>,
    pub(crate) frames: &'a mut Vec<Frame>,
    pub(crate) tables: &'a mut [Table],
    pub(crate) memories: &'a mut [Memory],
    pub(crate) globals: &'a mut [Global],
    pub(crate) elems: &'a mut [Vec<u64>],
    pub(crate) data_dropped: &'a mut [bool],
    pub(crate) output: &'a mut Vec<i64>,
    pub(crate) storage: &'a mut Storage,
    pub(crate) io: &'a mut Io,
}

#[inline(always)]
fn read_le(mem: &[u8], at: usize, width: u32) -> u64 {
    match width {
        1 => mem[at] as u64,
        2 => u16::from_le_bytes([mem[at], mem[at + 1]]) as u64,
        4 => u32::from_le_bytes(mem[at..at + 4].try_into().expect("4 bytes")) as u64,
        _ => u64::from_le_bytes(mem[at..at + 8].try_into().expect("8 bytes")),
    }
}

impl Backend for Direct<'_> {
    #[inline(always)]
    fn stack_len(&self) -> usize {
        self.stack.len()
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> u64 {
        self.stack[i]
    }

    #[inline(always)]
    fn set_slot(&mut self, i: usize, value: u64) {
        self.stack[i] = value;
    }

    // The value stack's capacity covers every active frame's locals and maximum operand
    // height (reserved on entry), and validation guarantees operands exist: the hot
    // paths use that instead of checking each push and pop. A `Direct` only exists over a
    // machine whose shape running, `restore` or `from_parts` established (docs/stepper.md).
    #[inline(always)]
    fn top(&self) -> u64 {
        debug_assert!(!self.stack.is_empty());
        // SAFETY: an instruction that reads its top operand has one (validation).
        unsafe { *self.stack.as_ptr().add(self.stack.len() - 1) }
    }

    #[inline(always)]
    fn set_top(&mut self, value: u64) {
        debug_assert!(!self.stack.is_empty());
        let len = self.stack.len();
        // SAFETY: an instruction that replaces its top operand has one (validation).
        unsafe { *self.stack.as_mut_ptr().add(len - 1) = value }
    }

    #[inline(always)]
    fn push(&mut self, value: u64) {
        debug_assert!(self.stack.len() < self.stack.capacity());
        // SAFETY: pushes stay within the frame's maximum operand height, which entering the
        // frame (or restoring, or `reserve_frame`) reserved.
        unsafe {
            let len = self.stack.len();
            *self.stack.as_mut_ptr().add(len) = value;
            self.stack.set_len(len + 1);
        }
    }

    #[inline(always)]
    fn pop(&mut self) -> u64 {
        debug_assert!(!self.stack.is_empty());
        // SAFETY: an instruction pops only operands it has (validation).
        unsafe {
            let len = self.stack.len() - 1;
            self.stack.set_len(len);
            *self.stack.as_ptr().add(len)
        }
    }

    #[inline(always)]
    fn truncate(&mut self, len: usize) {
        self.stack.truncate(len);
    }

    #[inline(always)]
    fn move_down(&mut self, from: usize, to: usize, n: usize) {
        self.stack.copy_within(from..from + n, to);
    }

    #[inline(always)]
    fn reserve(&mut self, n: usize) {
        self.stack.reserve(n);
    }

    #[inline(always)]
    fn push_zeros(&mut self, n: usize) {
        self.stack.resize(self.stack.len() + n, 0);
    }

    #[inline(always)]
    fn depth(&self) -> usize {
        self.frames.len()
    }

    #[inline(always)]
    fn push_frame(&mut self, frame: Frame) {
        self.frames.push(frame);
    }

    #[inline(always)]
    fn pop_frame(&mut self) -> Frame {
        self.frames.pop().expect("a running machine has a frame")
    }

    #[inline(always)]
    fn last_frame(&self) -> Option<Frame> {
        self.frames.last().copied()
    }

    #[inline(always)]
    fn global(&self, addr: u32) -> u64 {
        self.globals[addr as usize].value
    }

    #[inline(always)]
    fn set_global(&mut self, addr: u32, value: u64) {
        self.globals[addr as usize].value = value;
    }

    #[inline(always)]
    fn table_len(&self, t: u32) -> usize {
        self.tables[t as usize].elems.len()
    }

    #[inline(always)]
    fn table_max(&self, t: u32) -> Option<u32> {
        self.tables[t as usize].max
    }

    #[inline(always)]
    fn table_get(&self, t: u32, i: usize) -> u64 {
        self.tables[t as usize].elems[i]
    }

    #[inline(always)]
    fn table_set(&mut self, t: u32, i: usize, value: u64) {
        self.tables[t as usize].set(i, value);
    }

    fn table_grow(&mut self, t: u32, len: usize) {
        self.tables[t as usize].grow(len);
    }

    #[inline(always)]
    fn memory_len(&self, m: u32) -> usize {
        self.memories[m as usize].data.len()
    }

    #[inline(always)]
    fn memory_max(&self, m: u32) -> Option<u32> {
        self.memories[m as usize].max
    }

    #[inline(always)]
    fn load(&self, m: u32, at: usize, width: u32) -> u64 {
        read_le(&self.memories[m as usize].data, at, width)
    }

    #[inline(always)]
    fn store(&mut self, m: u32, at: usize, width: u32, value: u64) {
        let mem = &mut self.memories[m as usize];
        mem.touch(at, width as usize);
        mem.data[at..at + width as usize].copy_from_slice(&value.to_le_bytes()[..width as usize]);
    }

    fn fill(&mut self, m: u32, at: usize, len: usize, byte: u8) {
        let mem = &mut self.memories[m as usize];
        if len > 0 {
            mem.touch(at, len);
        }
        mem.data[at..at + len].fill(byte);
    }

    fn copy(&mut self, m: u32, dst: usize, src: usize, len: usize) {
        let mem = &mut self.memories[m as usize];
        if len > 0 {
            mem.touch(dst, len);
        }
        mem.data.copy_within(src..src + len, dst);
    }

    fn write(&mut self, m: u32, at: usize, bytes: &[u8]) {
        let mem = &mut self.memories[m as usize];
        if !bytes.is_empty() {
            mem.touch(at, bytes.len());
        }
        mem.data[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn grow_memory(&mut self, m: u32, pages: u32) {
        self.memories[m as usize].grow(pages);
    }

    #[inline(always)]
    fn elem_len(&self, e: u32) -> usize {
        self.elems[e as usize].len()
    }

    #[inline(always)]
    fn elem_item(&self, e: u32, i: usize) -> u64 {
        self.elems[e as usize][i]
    }

    fn drop_elem(&mut self, e: u32) {
        self.elems[e as usize] = Vec::new();
    }

    #[inline(always)]
    fn data_dropped(&self, d: u32) -> bool {
        self.data_dropped[d as usize]
    }

    fn drop_data(&mut self, d: u32) {
        self.data_dropped[d as usize] = true;
    }

    fn emit(&mut self, value: i64) {
        self.output.push(value);
    }

    fn memory_count(&self) -> usize {
        self.memories.len()
    }

    fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.storage.get(key).map(<[u8]>::to_vec)
    }

    fn storage_set(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.storage.set(key, value);
    }

    fn io(&self) -> IoRegs {
        self.io.regs
    }

    fn set_io(&mut self, regs: IoRegs) {
        self.io.set_regs(regs);
    }

    fn input(&self, at: u64, buf: &mut [u8]) {
        let at = at as usize;
        buf.copy_from_slice(&self.io.input.bytes[at..at + buf.len()]);
    }

    fn stream_len(&self, fd: u32) -> u64 {
        self.io.stream(fd).len()
    }

    fn append(&mut self, fd: u32, bytes: &[u8]) {
        self.io.append(fd, bytes);
    }
}
