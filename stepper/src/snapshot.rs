//! Snapshots: the whole state of a [`Machine`] as bytes, and back.
//!
//! [`Machine::snapshot`] encodes everything a run needs to continue bit-identically:
//! the configuration, every store item and the execution state. Modules are not
//! embedded: an instance names its module by `code_hash`, and [`Machine::restore`]
//! takes the modules and matches them by that hash.
//!
//! # Encoding (version 3)
//!
//! Integers are LEB128: `u32`/`u64` unsigned, `i32`/`i64` signed, always in their
//! shortest form (a restore rejects padded or overflowing encodings). Other primitives:
//!
//! * `u8`: one raw byte; `bool`: one byte, `0` or `1`.
//! * `opt<T>`: byte `0` (none) or byte `1` followed by `T`.
//! * `vec<T>`: `u64` count, then the items.
//! * `valtype`: one byte, the WebAssembly type code (`0x7f` i32, `0x7e` i64, `0x7d` f32,
//!   `0x7c` f64, `0x70` funcref, `0x6f` externref).
//! * `name`: `u64` byte length, then that many bytes of UTF-8.
//!
//! A snapshot is, in order:
//!
//! ```text
//! magic       4 bytes "VGSN", then u8 version = 3
//! config      max_memory_pages u32, max_table_elements u32, max_value_stack u32,
//!             max_call_depth u32, gas_limit u64, gas costs vec<u64> (exactly
//!             GasClass::COUNT = 10 entries, by class number), memory_chunk_size u32
//! types       vec<functype>, functype = params vec<valtype>, results vec<valtype>;
//!             the store's type ids are the positions; no two types are equal
//! funcs       vec<func>, func = u8 0, instance u32, index u32, type_id u32   (wasm)
//!                             | u8 1, host code u8 (HostFunc::code), type_id u32
//! tables      vec<table>, table = elem valtype, max opt<u32>, elems vec<u64>
//!             (reference slots: 0 null, address + 1 otherwise)
//! memories    vec<memory>, memory = max opt<u32> (pages), byte length u64, runs
//! globals     vec<global>, global = valtype, mutable bool, value u64 (slot bits)
//! instances   vec<instance>, instance = module code_hash (32 raw bytes),
//!             funcs vec<u32>, tables vec<u32>, memory opt<u32>, globals vec<u32>,
//!             type_ids vec<u32>, elem_base u32, data_base u32,
//!             exports vec<export> sorted by name (bytewise, no duplicates),
//!             export = name, kind u8 (0 func, 1 table, 2 memory, 3 global), address u32
//! elems       vec<vec<u64>>   element segments' reference slots (dropped: empty)
//! data_dropped vec<bool>
//! stack       vec<u64>        value stack slots, bottom first
//! frames      vec<frame>, frame = func u32, base u32, ret_pc u32 (outermost first)
//! pc u32, steps u64, gas_used u64
//! status      u8 0 running | 1 returned | 3 out of gas
//!             | u8 2 trapped, trap code u32 (Trap::code), and for code 12 (aborted)
//!               the abort argument i32
//!             | u8 4 exited, exit code u32
//! entry       opt<u32>
//! output      vec<i64>
//! storage     vec<entry> in strictly increasing bytewise key order, entry = key bytes,
//!             value bytes (bytes = u64 length, raw bytes; at most 64 and 256 bytes)
//! io          the call's input: args vec<bytes>, env vec<bytes>, stdin bytes, seed 32
//!             raw bytes, clock u64; its registers: stdin_pos u64, random_pos u64,
//!             closed u8, cursor u64, done u64; its output: stdout bytes, stderr bytes
//! ```
//!
//! and nothing after it. Memory `runs` cover the memory's `byte length / 64` blocks of 64
//! bytes in order, as pairs `zeros u64, literals u64, literals * 64 raw bytes`: `zeros`
//! all-zero blocks, then `literals` blocks given verbatim. The runs are maximal: only
//! the first pair may have `zeros = 0`, only the last may have `literals = 0` (exactly
//! when the memory ends with zeros), and every literal block has a non-zero byte. An
//! empty memory has no pairs; an all-zero one has the single pair `(blocks, 0)`.
//!
//! Every field has exactly one encoding, so the format is canonical: whenever
//! `restore(bytes)` succeeds, `snapshot()` of the result gives back `bytes`.
//!
//! # Validation
//!
//! Restoring never panics and accepts only states a machine can step without
//! panicking; see [`Machine::restore`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::host::HostFunc;
use crate::io::{CallInput, Io, IoRegs};
use crate::machine::{Frame, Status};
use crate::module::{FuncType, Module};
use crate::op::{Branch, GasClass, Op};
use crate::store::{Extern, Func, Global, Instance, Memory, Store, Table, PAGE_SIZE};
use crate::value::ValType;
use crate::{Config, Error, GasTable, Machine, Trap};

const MAGIC: [u8; 4] = *b"VGSN";
const VERSION: u8 = 3;
/// Memory is encoded in runs of blocks of this many bytes.
const BLOCK: usize = 64;
/// The most pages a 32-bit memory can have.
const MAX_PAGES: u64 = 65536;
/// Step counters above this are rejected: no run gets there, and one that continued
/// from there could overflow the counter.
pub(crate) const MAX_COUNTER: u64 = 1 << 63;

const STATUS_RUNNING: u8 = 0;
const STATUS_RETURNED: u8 = 1;
const STATUS_TRAPPED: u8 = 2;
const STATUS_OUT_OF_GAS: u8 = 3;
const STATUS_EXITED: u8 = 4;

fn bad(msg: impl Into<String>) -> Error {
    Error::Snapshot(msg.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every number has one encoding: the bytes read must be what writing the value gives.
fn require_canonical(what: &str, start: usize, bytes: &[u8], write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
    let mut canonical = Vec::with_capacity(10);
    write(&mut canonical);
    if canonical != bytes {
        return Err(bad(format!("{what} at offset {start}: overlong or overflowing LEB128 number")));
    }
    Ok(())
}

fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0) {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The encoder: into a buffer that is the whole snapshot, or, given a sink, one that is
/// handed to the sink whenever it holds [`SPILL`] bytes (large byte runs go to the sink
/// directly), so that a snapshot is written without its whole image in memory.
struct Writer<'a> {
    buf: Vec<u8>,
    sink: Option<&'a mut dyn std::io::Write>,
    /// The sink's first error: nothing more is written after it.
    error: Option<std::io::Error>,
}

/// How much a streaming [`Writer`] buffers.
const SPILL: usize = 1 << 16;

impl Writer<'_> {
    /// Hands the buffer to the sink when it is full enough (never without a sink).
    #[inline(always)]
    fn check(&mut self) {
        if self.buf.len() >= SPILL && self.sink.is_some() {
            self.spill();
        }
    }
    fn spill(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            if self.error.is_none() {
                self.error = sink.write_all(&self.buf).err();
            }
            self.buf.clear();
        }
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
        self.check();
    }
    fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
    fn u64(&mut self, v: u64) {
        write_uleb(&mut self.buf, v);
        self.check();
    }
    fn u32(&mut self, v: u32) {
        self.u64(v as u64);
    }
    fn count(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn i64(&mut self, v: i64) {
        write_sleb(&mut self.buf, v);
        self.check();
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
        }
    }
    fn val_type(&mut self, t: ValType) {
        self.u8(t.code());
    }
    fn val_types(&mut self, ts: &[ValType]) {
        self.count(ts.len());
        ts.iter().for_each(|&t| self.val_type(t));
    }
    fn u32s(&mut self, vs: &[u32]) {
        self.count(vs.len());
        vs.iter().for_each(|&v| self.u32(v));
    }
    fn u64s(&mut self, vs: &[u64]) {
        self.count(vs.len());
        vs.iter().for_each(|&v| self.u64(v));
    }
    /// A byte string with its length first.
    fn sized(&mut self, b: &[u8]) {
        self.count(b.len());
        self.bytes(b);
    }
    fn bytes(&mut self, b: &[u8]) {
        if self.sink.is_some() && b.len() >= SPILL {
            self.spill();
            if let (Some(sink), None) = (self.sink.as_mut(), &self.error) {
                self.error = sink.write_all(b).err();
            }
            return;
        }
        self.buf.extend_from_slice(b);
        self.check();
    }

    /// Maximal runs of all-zero and non-zero 64-byte blocks (see the module docs).
    /// `data` in runs of zero and literal blocks; bytes from `written` on are zero and are
    /// not read, so a large memory written little costs what was written.
    fn memory_runs(&mut self, data: &[u8], written: usize) {
        let blocks = data.len().div_ceil(BLOCK);
        let zero = |i: usize| i * BLOCK >= written || is_zero(&data[i * BLOCK..((i + 1) * BLOCK).min(data.len())]);
        let mut i = 0;
        while i < blocks {
            let zeros_from = i;
            while i < blocks && zero(i) {
                i += 1;
            }
            let literals_from = i;
            while i < blocks && !zero(i) {
                i += 1;
            }
            self.count(literals_from - zeros_from);
            self.count(i - literals_from);
            self.bytes(&data[(literals_from * BLOCK).min(data.len())..(i * BLOCK).min(data.len())]);
        }
    }
}

/// A sink that counts what it is given.
struct Counted<'a> {
    sink: &'a mut dyn std::io::Write,
    bytes: u64,
}

impl std::io::Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.sink.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

/// Whether a block is all zeros (branch-free, so it vectorizes).
fn is_zero(block: &[u8]) -> bool {
    block.iter().fold(0u8, |acc, &b| acc | b) == 0
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(bad(format!(
                "truncated: {what} needs {n} bytes at offset {}, but only {} remain",
                self.pos,
                self.remaining()
            )));
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    /// A byte string with its length first.
    fn sized(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let n = self.count(what, 1)?;
        self.take(n, what)
    }

    fn bool(&mut self, what: &str) -> Result<bool, Error> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(bad(format!("{what} at offset {at}: {b} is not a boolean (0 or 1)"))),
        }
    }

    /// The bytes of one LEB128 number (at most 10).
    fn leb_bytes(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let rest = &self.data[start..];
        let Some(len) = rest.iter().take(10).position(|b| b & 0x80 == 0).map(|i| i + 1) else {
            if rest.len() < 10 {
                return Err(bad(format!("truncated: data ends inside {what} at offset {start}")));
            }
            return Err(bad(format!("{what} at offset {start}: LEB128 number longer than 10 bytes")));
        };
        self.take(len, what)
    }

    fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let start = self.pos;
        let bytes = self.leb_bytes(what)?;
        let v = bytes.iter().enumerate().fold(0u64, |v, (i, b)| v | ((b & 0x7f) as u64) << (7 * i as u32));
        require_canonical(what, start, bytes, |out| write_uleb(out, v))?;
        Ok(v)
    }

    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let at = self.pos;
        let v = self.u64(what)?;
        u32::try_from(v).map_err(|_| bad(format!("{what} at offset {at}: {v} does not fit in 32 bits")))
    }

    fn i64(&mut self, what: &str) -> Result<i64, Error> {
        let start = self.pos;
        let bytes = self.leb_bytes(what)?;
        let mut v = bytes.iter().enumerate().fold(0i64, |v, (i, b)| v | ((b & 0x7f) as i64) << (7 * i as u32));
        let bits = 7 * bytes.len() as u32;
        if bits < 64 && bytes[bytes.len() - 1] & 0x40 != 0 {
            v |= -1i64 << bits;
        }
        require_canonical(what, start, bytes, |out| write_sleb(out, v))?;
        Ok(v)
    }

    fn i32(&mut self, what: &str) -> Result<i32, Error> {
        let at = self.pos;
        let v = self.i64(what)?;
        i32::try_from(v).map_err(|_| bad(format!("{what} at offset {at}: {v} does not fit in 32 bits")))
    }

    /// A count of items that take at least `min_bytes` each, checked against the data
    /// left so that a corrupt count cannot make the reader allocate or loop for long.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, Error> {
        let at = self.pos;
        let n = self.u64(what)?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(bad(format!(
                "{what} at offset {at}: {n} items cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    fn opt_u32(&mut self, what: &str) -> Result<Option<u32>, Error> {
        Ok(if self.bool(what)? { Some(self.u32(what)?) } else { None })
    }

    fn val_type(&mut self, what: &str) -> Result<ValType, Error> {
        let at = self.pos;
        let code = self.u8(what)?;
        ValType::from_code(code).ok_or_else(|| bad(format!("{what} at offset {at}: unknown value type 0x{code:02x}")))
    }

    fn val_types(&mut self, what: &str) -> Result<Vec<ValType>, Error> {
        let n = self.count(what, 1)?;
        (0..n).map(|_| self.val_type(what)).collect()
    }

    fn u32s(&mut self, what: &str) -> Result<Vec<u32>, Error> {
        let n = self.count(what, 1)?;
        (0..n).map(|_| self.u32(what)).collect()
    }

    fn u64s(&mut self, what: &str) -> Result<Vec<u64>, Error> {
        let n = self.count(what, 1)?;
        (0..n).map(|_| self.u64(what)).collect()
    }
}

fn extern_code(e: Extern) -> (u8, u32) {
    match e {
        Extern::Func(a) => (0, a),
        Extern::Table(a) => (1, a),
        Extern::Memory(a) => (2, a),
        Extern::Global(a) => (3, a),
    }
}

impl Machine {
    /// Encodes the whole machine state in the compact, canonical binary format
    /// documented at the top of `stepper/src/snapshot.rs` (magic `VGSN`, version 1).
    /// [`Machine::restore`] with the same modules gives back an identical machine.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer { buf: Vec::new(), sink: None, error: None };
        self.encode(&mut w);
        w.buf
    }

    /// Writes [`Machine::snapshot`]'s bytes to `sink` as they are encoded, holding at
    /// most a few dozen KiB of them at a time (not the whole image); the number of bytes.
    pub fn write_snapshot(&self, sink: &mut dyn std::io::Write) -> std::io::Result<u64> {
        let mut counted = Counted { sink, bytes: 0 };
        let mut w = Writer { buf: Vec::with_capacity(SPILL), sink: Some(&mut counted), error: None };
        self.encode(&mut w);
        w.spill();
        match w.error {
            Some(e) => Err(e),
            None => Ok(counted.bytes),
        }
    }

    fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(&MAGIC);
        w.u8(VERSION);

        let c = &self.config;
        w.u32(c.max_memory_pages);
        w.u32(c.max_table_elements);
        w.u32(c.max_value_stack);
        w.u32(c.max_call_depth);
        w.u64(c.gas_limit);
        w.u64s(&c.gas.costs);
        w.u32(c.memory_chunk_size);

        let s = &self.store;
        w.count(s.types.len());
        for t in &s.types {
            w.val_types(&t.params);
            w.val_types(&t.results);
        }
        w.count(s.funcs.len());
        for f in &s.funcs {
            match *f {
                Func::Wasm { instance, index, type_id } => {
                    w.u8(0);
                    w.u32(instance);
                    w.u32(index);
                    w.u32(type_id);
                }
                Func::Host { func, type_id } => {
                    w.u8(1);
                    w.u8(func.code());
                    w.u32(type_id);
                }
            }
        }
        w.count(s.tables.len());
        for t in &s.tables {
            w.val_type(t.ty);
            w.opt_u32(t.max);
            w.u64s(&t.elems);
        }
        w.count(s.memories.len());
        for m in &s.memories {
            w.opt_u32(m.max);
            w.count(m.data.len());
            w.memory_runs(&m.data, m.written_bytes());
        }
        w.count(s.globals.len());
        for g in &s.globals {
            w.val_type(g.ty);
            w.bool(g.mutable);
            w.u64(g.value);
        }
        w.count(s.instances.len());
        for inst in &s.instances {
            w.bytes(&inst.module.code_hash);
            w.u32s(&inst.funcs);
            w.u32s(&inst.tables);
            w.opt_u32(inst.memory);
            w.u32s(&inst.globals);
            w.u32s(&inst.type_ids);
            w.u32(inst.elem_base);
            w.u32(inst.data_base);
            let mut exports: Vec<(&String, &Extern)> = inst.exports.iter().collect();
            exports.sort_unstable_by(|a, b| a.0.cmp(b.0));
            w.count(exports.len());
            for (name, &ext) in exports {
                w.count(name.len());
                w.bytes(name.as_bytes());
                let (kind, addr) = extern_code(ext);
                w.u8(kind);
                w.u32(addr);
            }
        }
        w.count(s.elems.len());
        s.elems.iter().for_each(|e| w.u64s(e));
        w.count(s.data_dropped.len());
        s.data_dropped.iter().for_each(|&d| w.bool(d));

        w.u64s(&self.stack);
        w.count(self.frames.len());
        for f in &self.frames {
            w.u32(f.func);
            w.u32(f.base);
            w.u32(f.ret_pc);
        }
        w.u32(self.pc);
        w.u64(self.steps);
        w.u64(self.gas_used);
        match self.status {
            Status::Running => w.u8(STATUS_RUNNING),
            Status::Returned => w.u8(STATUS_RETURNED),
            Status::Trapped(trap) => {
                w.u8(STATUS_TRAPPED);
                w.u32(trap.code());
                if let Trap::Aborted(arg) = trap {
                    w.i64(arg as i64);
                }
            }
            Status::OutOfGas => w.u8(STATUS_OUT_OF_GAS),
            Status::Exited(code) => {
                w.u8(STATUS_EXITED);
                w.u32(code);
            }
        }
        w.opt_u32(self.entry);
        w.count(self.output.len());
        self.output.iter().for_each(|&v| w.i64(v));
        w.count(self.store.storage.len());
        for (key, value) in self.store.storage.entries() {
            w.count(key.len());
            w.bytes(key);
            w.count(value.len());
            w.bytes(value);
        }
        let io = &self.io;
        let call = &io.input.call;
        for list in [&call.args, &call.env] {
            w.count(list.len());
            list.iter().for_each(|s| w.sized(s));
        }
        w.sized(&call.stdin);
        w.bytes(&call.seed);
        w.u64(call.clock);
        let regs = &io.regs;
        w.u64(regs.stdin_pos);
        w.u64(regs.random_pos);
        w.u8(regs.closed);
        w.u64(regs.cursor);
        w.u64(regs.done);
        for stream in [&io.stdout, &io.stderr] {
            w.count(stream.len() as usize);
            stream.pieces().for_each(|piece| w.bytes(piece));
        }
    }

    /// Rebuilds a machine from [`Machine::snapshot`]'s bytes. `modules` must include the
    /// module of every instance (matched by `code_hash`; extra modules are ignored).
    ///
    /// Never panics. Besides malformed encodings (truncation, wrong magic or version,
    /// non-canonical numbers, unknown codes, trailing bytes) it rejects, with a message
    /// naming the problem, every state the machine could not step safely:
    ///
    /// * the config must pass [`Config::validate`];
    /// * store items must be consistent: type ids, instance and store addresses in
    ///   range; each instance's index spaces shaped like its module's and typed alike
    ///   (function signatures, table element types, global types, memory presence);
    ///   each wasm function a defined function of its instance with its instance's type
    ///   id; each host function typed as its host function; table sizes within their
    ///   maximum and the configured limit; memory sizes a multiple of 64 KiB and within
    ///   their maximum and the configured limit; funcref slots in tables, globals and
    ///   funcref element segments null or naming an existing function;
    /// * execution state: a running machine has frames, a returned one none (and at
    ///   least its entry function's results on the stack); the first frame is the entry
    ///   function's, based at 0; every frame runs a wasm function, within the call
    ///   depth and value stack limits; the top frame's pc and every caller's return pc
    ///   lie in their function's code at a reachable instruction, each return pc right
    ///   after a call of the frame above it; and the value stack holds exactly each
    ///   frame's locals plus the operands its function has at that instruction (found by
    ///   a data-flow pass over the function's code), with funcref locals and operands
    ///   null or naming an existing function; the step counter is at most 2^63.
    ///
    /// The restored value stack has capacity reserved for every frame's locals and
    /// maximum operand height, as entering the frames would have done.
    pub fn restore(bytes: &[u8], modules: &[Arc<Module>]) -> Result<Machine, Error> {
        let mut r = Reader { data: bytes, pos: 0 };
        let magic = r.take(MAGIC.len(), "the magic")?;
        if magic != MAGIC {
            return Err(bad(format!("wrong magic {magic:02x?}: not a Verigame snapshot (expected \"VGSN\")")));
        }
        let version = r.u8("the version")?;
        if version != VERSION {
            return Err(bad(format!("unsupported snapshot version {version} (this build reads version {VERSION})")));
        }
        let config = read_config(&mut r)?;
        let store = read_store(&mut r, &config, modules)?;

        let stack = r.u64s("the value stack")?;
        let n = r.count("the frame count", 3)?;
        let frames = (0..n)
            .map(|_| {
                Ok(Frame {
                    func: r.u32("a frame's function")?,
                    base: r.u32("a frame's base")?,
                    ret_pc: r.u32("a frame's return pc")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let pc = r.u32("the pc")?;
        let steps = r.u64("the step counter")?;
        let gas_used = r.u64("the gas used")?;
        let at = r.pos;
        let status = match r.u8("the status")? {
            STATUS_RUNNING => Status::Running,
            STATUS_RETURNED => Status::Returned,
            STATUS_TRAPPED => {
                let at = r.pos;
                let code = r.u32("the trap code")?;
                let arg = if code == Trap::Aborted(0).code() { r.i32("the abort code")? } else { 0 };
                Status::Trapped(
                    Trap::from_code(code, arg)
                        .ok_or_else(|| bad(format!("unknown trap code {code} at offset {at}")))?,
                )
            }
            STATUS_OUT_OF_GAS => Status::OutOfGas,
            STATUS_EXITED => Status::Exited(r.u32("the exit code")?),
            s => return Err(bad(format!("unknown status {s} at offset {at}"))),
        };
        let entry = r.opt_u32("the entry function")?;
        let n = r.count("the output length", 1)?;
        let output = (0..n).map(|_| r.i64("an output value")).collect::<Result<Vec<_>, _>>()?;
        let mut store = store;
        read_storage(&mut r, &mut store.storage)?;
        let io = read_io(&mut r)?;
        if r.remaining() != 0 {
            return Err(bad(format!(
                "{} unexpected bytes after the end of the snapshot at offset {}",
                r.remaining(),
                r.pos
            )));
        }
        checked(Machine { config, store, stack, frames, pc, steps, gas_used, status, entry, output, io }).map_err(bad)
    }
}

/// `machine`, if its state is one the executor can run (the store and execution checks
/// [`Machine::restore`] lists), with room reserved on its value stack for every frame.
fn checked(mut machine: Machine) -> Result<Machine, String> {
    validate_store(&machine)?;
    let need = validate_execution(&machine)?;
    // The executor's unchecked pushes rely on every active frame's locals and maximum
    // operand height being reserved, as entering each frame does.
    machine.stack.reserve(need.saturating_sub(machine.stack.len()));
    Ok(machine)
}

/// Storage entries, in strictly increasing key order so the encoding stays canonical.
fn read_storage(r: &mut Reader<'_>, storage: &mut crate::storage::Storage) -> Result<(), Error> {
    use crate::storage::{is_storable_key, MAX_VALUE_LEN};
    let n = r.count("the storage entry count", 2)?;
    let mut previous: Option<Vec<u8>> = None;
    for _ in 0..n {
        let at = r.pos;
        let len = r.count("a storage key's length", 1)?;
        let key = r.take(len, "a storage key")?.to_vec();
        let len = r.count("a storage value's length", 1)?;
        let value = r.take(len, "a storage value")?;
        if !is_storable_key(&key) || value.len() > MAX_VALUE_LEN {
            return Err(bad(format!("the storage entry at offset {at} is over the key or value length limit")));
        }
        if previous.as_ref().is_some_and(|p| *p >= key) {
            return Err(bad(format!("the storage entry at offset {at} is out of key order")));
        }
        storage.set(&key, Some(value));
        previous = Some(key);
    }
    Ok(())
}

fn read_io(r: &mut Reader<'_>) -> Result<Io, Error> {
    let at = r.pos;
    let mut lists = [Vec::new(), Vec::new()];
    for (list, what) in lists.iter_mut().zip(["an argument", "an environment entry"]) {
        let n = r.count("a string count", 1)?;
        for _ in 0..n {
            list.push(r.sized(what)?.to_vec());
        }
    }
    let [args, env] = lists;
    let stdin = r.sized("standard input")?.to_vec();
    let seed = r.take(32, "the seed")?.try_into().expect("32 bytes");
    let clock = r.u64("the clock")?;
    let input = CallInput { args, env, stdin, seed, clock };
    // The fixed registers are the input's own.
    let regs = IoRegs {
        stdin_pos: r.u64("the standard input position")?,
        random_pos: r.u64("the random position")?,
        closed: r.u8("the closed streams")?,
        cursor: r.u64("the I/O cursor")?,
        done: r.u64("the I/O progress")?,
        ..Io::new(input.clone()).regs
    };
    let stdout = r.sized("standard output")?;
    let stderr = r.sized("standard error")?;
    Io::from_parts(input, regs, stdout, stderr)
        .map_err(|e| bad(format!("the call's input and output at offset {at}: {e}")))
}

fn read_config(r: &mut Reader<'_>) -> Result<Config, Error> {
    let max_memory_pages = r.u32("config max_memory_pages")?;
    let max_table_elements = r.u32("config max_table_elements")?;
    let max_value_stack = r.u32("config max_value_stack")?;
    let max_call_depth = r.u32("config max_call_depth")?;
    let gas_limit = r.u64("config gas_limit")?;
    let at = r.pos;
    let costs = r.u64s("the gas table")?;
    let costs: [u64; GasClass::COUNT] = costs.try_into().map_err(|c: Vec<u64>| {
        bad(format!("the gas table at offset {at} has {} entries, expected {}", c.len(), GasClass::COUNT))
    })?;
    let memory_chunk_size = r.u32("config memory_chunk_size")?;
    let config = Config {
        max_memory_pages,
        max_table_elements,
        max_value_stack,
        max_call_depth,
        gas_limit,
        gas: GasTable { costs },
        memory_chunk_size,
    };
    config.validate().map_err(|e| bad(format!("invalid config: {e}")))?;
    Ok(config)
}

fn read_store(r: &mut Reader<'_>, config: &Config, modules: &[Arc<Module>]) -> Result<Store, Error> {
    let mut store = Store::default();
    let n = r.count("the type count", 2)?;
    for i in 0..n {
        let ty = FuncType { params: r.val_types("type parameters")?, results: r.val_types("type results")? };
        let id = store.intern_type(&ty);
        if id as usize != i {
            return Err(bad(format!("type {i} duplicates type {id}")));
        }
    }

    let n = r.count("the function count", 3)?;
    store.funcs = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = match r.u8("a function's kind")? {
            0 => Func::Wasm {
                instance: r.u32("a function's instance")?,
                index: r.u32("a function's index")?,
                type_id: r.u32("a function's type")?,
            },
            1 => {
                let at = r.pos;
                let code = r.u8("a host function code")?;
                let func = HostFunc::from_code(code)
                    .ok_or_else(|| bad(format!("function {i}: unknown host function code {code} at offset {at}")))?;
                Func::Host { func, type_id: r.u32("a function's type")? }
            }
            k => return Err(bad(format!("function {i}: unknown function kind {k} at offset {at}"))),
        };
        store.funcs.push(f);
    }

    let n = r.count("the table count", 3)?;
    for i in 0..n {
        let at = r.pos;
        let ty = r.val_type("a table's element type")?;
        if !ty.is_ref() {
            return Err(bad(format!("table {i} at offset {at}: element type {ty} is not a reference type")));
        }
        let max = r.opt_u32("a table's maximum")?;
        let elems = r.u64s("a table's elements")?;
        store.tables.push(Table::new(ty, elems, max));
    }

    let n = r.count("the memory count", 2)?;
    for i in 0..n {
        let max = r.opt_u32("a memory's maximum")?;
        let at = r.pos;
        let len = r.u64("a memory's length")?;
        if len % PAGE_SIZE as u64 != 0 {
            return Err(bad(format!("memory {i}: data length {len} (offset {at}) is not a multiple of 64 KiB")));
        }
        let pages = len / PAGE_SIZE as u64;
        let limit = (max.map_or(MAX_PAGES, u64::from)).min(config.max_memory_pages as u64);
        if pages > limit {
            return Err(bad(format!(
                "memory {i}: {pages} pages exceed its limit of {limit} (maximum {max:?}, configured {})",
                config.max_memory_pages
            )));
        }
        let mut data = vec![0u8; len as usize];
        let written = read_memory_runs(r, i, &mut data)?.div_ceil(config.memory_chunk_size as usize);
        store.memories.push(Memory::with_written(data, max, config.memory_chunk_size, written));
    }

    let n = r.count("the global count", 3)?;
    for _ in 0..n {
        let ty = r.val_type("a global's type")?;
        let mutable = r.bool("a global's mutability")?;
        let value = r.u64("a global's value")?;
        store.globals.push(Global { ty, mutable, value });
    }

    let by_hash: HashMap<[u8; 32], &Arc<Module>> = modules.iter().map(|m| (m.code_hash, m)).collect();
    let n = r.count("the instance count", 32 + 8)?;
    for i in 0..n {
        let hash: [u8; 32] = r.take(32, "an instance's module hash")?.try_into().expect("32 bytes");
        let module = by_hash.get(&hash).ok_or_else(|| {
            bad(format!(
                "instance {i} needs the module with code hash {}, which is not among the given modules",
                hex(&hash)
            ))
        })?;
        let funcs = r.u32s("an instance's functions")?;
        let tables = r.u32s("an instance's tables")?;
        let memory = r.opt_u32("an instance's memory")?;
        let globals = r.u32s("an instance's globals")?;
        let type_ids = r.u32s("an instance's type ids")?;
        let elem_base = r.u32("an instance's element segment base")?;
        let data_base = r.u32("an instance's data segment base")?;
        let count = r.count("an instance's export count", 3)?;
        let mut exports = HashMap::with_capacity(count);
        let mut last: Option<String> = None;
        for _ in 0..count {
            let len = r.count("an export name's length", 1)?;
            let at = r.pos;
            let name = String::from_utf8(r.take(len, "an export name")?.to_vec())
                .map_err(|_| bad(format!("instance {i}: export name at offset {at} is not UTF-8")))?;
            if last.as_ref().is_some_and(|l| *l >= name) {
                return Err(bad(format!("instance {i}: export {name:?} is out of order or duplicated")));
            }
            let at = r.pos;
            let kind = r.u8("an export's kind")?;
            let addr = r.u32("an export's address")?;
            let ext = match kind {
                0 => Extern::Func(addr),
                1 => Extern::Table(addr),
                2 => Extern::Memory(addr),
                3 => Extern::Global(addr),
                k => return Err(bad(format!("instance {i}: export {name:?} has unknown kind {k} at offset {at}"))),
            };
            exports.insert(name.clone(), ext);
            last = Some(name);
        }
        store.instances.push(Instance {
            module: Arc::clone(module),
            funcs,
            tables,
            memory,
            globals,
            type_ids,
            elem_base,
            data_base,
            exports,
        });
    }

    let n = r.count("the element segment count", 1)?;
    for _ in 0..n {
        store.elems.push(r.u64s("an element segment")?);
    }
    let n = r.count("the data segment count", 1)?;
    for _ in 0..n {
        store.data_dropped.push(r.bool("a data segment's dropped flag")?);
    }
    Ok(store)
}

/// Reads the runs into `data`, returning the end of the last literal run: past it, the
/// memory is zero.
fn read_memory_runs(r: &mut Reader<'_>, mem: usize, data: &mut [u8]) -> Result<usize, Error> {
    let blocks = (data.len() / BLOCK) as u64;
    let mut at = 0u64;
    let mut end = 0;
    while at < blocks {
        let offset = r.pos;
        let zeros = r.u64("a memory run")?;
        if zeros == 0 && at > 0 {
            return Err(bad(format!("memory {mem}: empty zero run at offset {offset} (runs must be maximal)")));
        }
        if zeros > blocks - at {
            return Err(bad(format!(
                "memory {mem}: zero run of {zeros} blocks at offset {offset} overruns its {blocks} blocks"
            )));
        }
        at += zeros;
        let offset = r.pos;
        let literals = r.u64("a memory run")?;
        if literals > blocks - at {
            return Err(bad(format!(
                "memory {mem}: literal run of {literals} blocks at offset {offset} overruns its {blocks} blocks"
            )));
        }
        if literals == 0 && at < blocks {
            return Err(bad(format!("memory {mem}: empty literal run at offset {offset} (runs must be maximal)")));
        }
        let start = (at as usize) * BLOCK;
        let len = literals as usize * BLOCK;
        let offset = r.pos;
        let bytes = r.take(len, "memory contents")?;
        if let Some(k) = bytes.chunks(BLOCK).position(is_zero) {
            return Err(bad(format!(
                "memory {mem}: literal block at offset {} is all zeros (runs must be maximal)",
                offset + k * BLOCK
            )));
        }
        data[start..start + len].copy_from_slice(bytes);
        end = start + len;
        at += literals;
    }
    Ok(end)
}

/// Consistency of the store: everything the executor indexes without checking.
fn validate_store(m: &Machine) -> Result<(), String> {
    let s = &m.store;
    let nfuncs = s.funcs.len() as u64;
    let func_ref_ok = |slot: u64| slot <= nfuncs;

    // Type ids first: function records are checked against them.
    for (i, inst) in s.instances.iter().enumerate() {
        let module = &inst.module;
        if inst.type_ids.len() != module.types.len() {
            return Err(format!(
                "instance {i} has {} type ids, but its module {} has {} types",
                inst.type_ids.len(),
                hex(&module.code_hash),
                module.types.len()
            ));
        }
        for (t, &id) in inst.type_ids.iter().enumerate() {
            if s.types.get(id as usize) != Some(&module.types[t]) {
                return Err(format!("instance {i} maps type {t} to store type {id}, which is not that type"));
            }
        }
    }

    for (i, f) in s.funcs.iter().enumerate() {
        match *f {
            Func::Wasm { instance, index, type_id } => {
                let inst = s.instances.get(instance as usize).ok_or_else(|| {
                    format!(
                        "function {i} belongs to instance {instance}, but there are {} instances",
                        s.instances.len()
                    )
                })?;
                let module = &inst.module;
                if module.body(index).is_none() {
                    return Err(format!(
                        "function {i} is function {index} of instance {instance}, which does not define it"
                    ));
                }
                let expected = module.func_types.get(index as usize).and_then(|&t| inst.type_ids.get(t as usize));
                if expected != Some(&type_id) {
                    return Err(format!("function {i} has type id {type_id}, but its instance gives it {expected:?}"));
                }
            }
            Func::Host { func, type_id } => {
                if s.types.get(type_id as usize) != Some(&func.ty()) {
                    return Err(format!("host function {i} ({func:?}) has type id {type_id}, which is not its type"));
                }
            }
        }
    }

    for (i, t) in s.tables.iter().enumerate() {
        let limit = t.max.unwrap_or(u32::MAX).min(m.config.max_table_elements);
        if t.elems.len() as u64 > limit as u64 {
            return Err(format!("table {i} has {} elements, more than its limit of {limit}", t.elems.len()));
        }
        if t.ty == ValType::FuncRef {
            if let Some(k) = t.elems.iter().position(|&e| !func_ref_ok(e)) {
                return Err(format!(
                    "table {i} element {k} refers to function {}, which does not exist",
                    t.elems[k] - 1
                ));
            }
        }
    }

    for (i, g) in s.globals.iter().enumerate() {
        if g.ty == ValType::FuncRef && !func_ref_ok(g.value) {
            return Err(format!("global {i} refers to function {}, which does not exist", g.value - 1));
        }
    }

    for (i, inst) in s.instances.iter().enumerate() {
        let module = &inst.module;
        let hash = hex(&module.code_hash);
        let shape = |what: &str, have: usize, want: usize| {
            if have == want {
                Ok(())
            } else {
                Err(format!("instance {i} has {have} {what}, but its module {hash} has {want}"))
            }
        };
        shape("functions", inst.funcs.len(), module.func_types.len())?;
        for (j, &addr) in inst.funcs.iter().enumerate() {
            let f = s.funcs.get(addr as usize).ok_or_else(|| {
                format!("instance {i} function {j} is function {addr}, but there are {} functions", s.funcs.len())
            })?;
            let want = module.func_types[j];
            if inst.type_ids.get(want as usize) != Some(&f.type_id()) {
                return Err(format!("instance {i} function {j} (function {addr}) has the wrong type"));
            }
            let defined = j as u32 >= module.num_imported_funcs;
            if defined
                && !matches!(*f, Func::Wasm { instance, index, .. } if instance as usize == i && index == j as u32)
            {
                return Err(format!(
                    "instance {i} function {j} (function {addr}) is not the instance's own function {j}"
                ));
            }
        }
        shape("tables", inst.tables.len(), module.tables.len())?;
        for (j, &addr) in inst.tables.iter().enumerate() {
            let t = s.tables.get(addr as usize).ok_or_else(|| {
                format!("instance {i} table {j} is table {addr}, but there are {} tables", s.tables.len())
            })?;
            if t.ty != module.tables[j].elem {
                return Err(format!(
                    "instance {i} table {j} (table {addr}) holds {}, not {}",
                    t.ty, module.tables[j].elem
                ));
            }
        }
        match inst.memory {
            None if !module.memories.is_empty() => {
                return Err(format!("instance {i} has no memory, but its module has one"))
            }
            Some(_) if module.memories.is_empty() => {
                return Err(format!("instance {i} has a memory, but its module has none"))
            }
            Some(addr) if addr as usize >= s.memories.len() => {
                return Err(format!(
                    "instance {i} memory is memory {addr}, but there are {} memories",
                    s.memories.len()
                ))
            }
            _ => {}
        }
        shape("globals", inst.globals.len(), module.globals.len())?;
        for (j, &addr) in inst.globals.iter().enumerate() {
            let g = s.globals.get(addr as usize).ok_or_else(|| {
                format!("instance {i} global {j} is global {addr}, but there are {} globals", s.globals.len())
            })?;
            let want = module.globals[j];
            if g.ty != want.ty || g.mutable != want.mutable {
                return Err(format!("instance {i} global {j} (global {addr}) has the wrong type"));
            }
        }
        let elem_end = inst.elem_base as u64 + module.elems.len() as u64;
        if elem_end > s.elems.len() as u64 {
            return Err(format!(
                "instance {i} element segments {}..{elem_end} go past the {} in the store",
                inst.elem_base,
                s.elems.len()
            ));
        }
        for (j, seg) in module.elems.iter().enumerate() {
            let items = &s.elems[inst.elem_base as usize + j];
            if seg.ty == ValType::FuncRef {
                if let Some(k) = items.iter().position(|&e| !func_ref_ok(e)) {
                    return Err(format!(
                        "element segment {} item {k} refers to function {}, which does not exist",
                        inst.elem_base as usize + j,
                        items[k] - 1
                    ));
                }
            }
        }
        let data_end = inst.data_base as u64 + module.datas.len() as u64;
        if data_end > s.data_dropped.len() as u64 {
            return Err(format!(
                "instance {i} data segments {}..{data_end} go past the {} in the store",
                inst.data_base,
                s.data_dropped.len()
            ));
        }
        let mut exports: Vec<_> = inst.exports.iter().collect();
        exports.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (name, &ext) in exports {
            let (len, what) = match ext {
                Extern::Func(_) => (s.funcs.len(), "functions"),
                Extern::Table(_) => (s.tables.len(), "tables"),
                Extern::Memory(_) => (s.memories.len(), "memories"),
                Extern::Global(_) => (s.globals.len(), "globals"),
            };
            let addr = extern_code(ext).1;
            if addr as usize >= len {
                return Err(format!("instance {i} export {name:?} names address {addr}, but there are {len} {what}"));
            }
        }
    }
    Ok(())
}

/// The abstract operand stack of a function at each of its ops: one flag per operand,
/// whether it holds a funcref; `None` for ops no execution reaches.
struct BodyStates {
    start: usize,
    end: usize,
    states: Vec<Option<Vec<bool>>>,
}

impl BodyStates {
    fn at(&self, pc: usize) -> Option<&[bool]> {
        if pc < self.start || pc >= self.end {
            return None;
        }
        self.states[pc - self.start].as_deref()
    }
}

/// The locals (parameters first) of defined function `func`.
fn local_types(module: &Module, func: u32) -> Option<Vec<ValType>> {
    let body = module.body(func)?;
    let ty = module.types.get(*module.func_types.get(func as usize)? as usize)?;
    Some(ty.params.iter().chain(&body.locals).copied().collect())
}

/// Data flow over a function's code from its first op: the operand stack shape at each
/// reachable op. Valid code has one height per op; the funcref flags are merged by `or`
/// (types agree at merges of valid code, except where one side is a null reference).
fn analyze(module: &Module, func: u32) -> Result<BodyStates, String> {
    let fail = |msg: String| Err(format!("function {func} of module {}: {msg}", hex(&module.code_hash)));
    let Some(body) = module.body(func) else { return fail("no body".into()) };
    let Some(locals) = local_types(module, func) else { return fail("no type".into()) };
    let i = (func - module.num_imported_funcs) as usize;
    let start = body.start as usize;
    let end = module.bodies.get(i + 1).map_or(module.code.len(), |b| b.start as usize);
    if start >= end || end > module.code.len() {
        return fail(format!("bad code range {start}..{end}"));
    }
    let is_ref = |t: ValType| t == ValType::FuncRef;
    let mut states: Vec<Option<Vec<bool>>> = vec![None; end - start];
    states[0] = Some(Vec::new());
    let mut work = vec![start];
    let mut succ: Vec<(usize, Vec<bool>)> = Vec::new();
    while let Some(pc) = work.pop() {
        let mut s = states[pc - start].clone().expect("queued ops have a state");
        let underflow = |pc: usize| format!("operand stack underflow at op {pc}");
        macro_rules! pop {
            ($n:expr) => {{
                let n: usize = $n;
                if s.len() < n {
                    return fail(underflow(pc));
                }
                s.truncate(s.len() - n);
            }};
        }
        macro_rules! check {
            ($cond:expr, $what:expr) => {
                if !$cond {
                    return fail(format!("op {pc} refers to a nonexistent {}", $what));
                }
            };
        }
        let apply = |mut s: Vec<bool>, b: Branch| -> Option<(usize, Vec<bool>)> {
            let (keep, drop) = (b.keep as usize, b.drop as usize);
            let len = s.len();
            if len < keep + drop {
                return None;
            }
            s.drain(len - keep - drop..len - keep);
            Some((b.target as usize, s))
        };
        let call_type = |t: Option<&u32>| t.and_then(|&t| module.types.get(t as usize));
        succ.clear();
        match module.code[pc] {
            Op::Unreachable => {}
            Op::Return => {
                let results = module.types[module.func_types[func as usize] as usize].results.len();
                if s.len() < results {
                    return fail(underflow(pc));
                }
            }
            Op::Nop | Op::Block | Op::Loop | Op::End => succ.push((pc + 1, s)),
            Op::If { else_target } => {
                pop!(1);
                succ.push((pc + 1, s.clone()));
                succ.push((else_target as usize, s));
            }
            Op::Else { end_target } => succ.push((end_target as usize, s)),
            Op::Br(b) => succ.push(apply(s, b).ok_or_else(|| underflow(pc))?),
            Op::BrIf(b) => {
                pop!(1);
                succ.push(apply(s.clone(), b).ok_or_else(|| underflow(pc))?);
                succ.push((pc + 1, s));
            }
            Op::BrTable { len } => {
                pop!(1);
                for k in 0..=len as usize {
                    let at = pc + 1 + k;
                    let Some(Op::BrTableTarget(b)) = module.code.get(at).filter(|_| at < end) else {
                        return fail(format!("br_table at op {pc} lacks its target {k}"));
                    };
                    succ.push(apply(s.clone(), *b).ok_or_else(|| underflow(pc))?);
                }
            }
            Op::BrTableTarget(_) => return fail(format!("br_table target at op {pc} is reachable")),
            Op::Call(f) => {
                let Some(ty) = call_type(module.func_types.get(f as usize)) else {
                    return fail(format!("op {pc} calls nonexistent function {f}"));
                };
                pop!(ty.params.len());
                s.extend(ty.results.iter().map(|&t| is_ref(t)));
                succ.push((pc + 1, s));
            }
            Op::CallIndirect { type_index, table } => {
                check!((table as usize) < module.tables.len(), "table");
                let Some(ty) = call_type(Some(&type_index)) else {
                    return fail(format!("op {pc} uses nonexistent type {type_index}"));
                };
                pop!(1 + ty.params.len());
                s.extend(ty.results.iter().map(|&t| is_ref(t)));
                succ.push((pc + 1, s));
            }
            Op::Drop => {
                pop!(1);
                succ.push((pc + 1, s));
            }
            Op::Select => {
                pop!(1);
                let b = s.last().copied();
                pop!(1);
                let Some(a) = s.last_mut() else { return fail(underflow(pc)) };
                *a |= b.unwrap_or(false);
                succ.push((pc + 1, s));
            }
            Op::LocalGet(l) => {
                let Some(&t) = locals.get(l as usize) else { return fail(format!("op {pc} uses local {l}")) };
                s.push(is_ref(t));
                succ.push((pc + 1, s));
            }
            Op::LocalSet(l) => {
                check!((l as usize) < locals.len(), "local");
                pop!(1);
                succ.push((pc + 1, s));
            }
            Op::LocalTee(l) => {
                check!((l as usize) < locals.len(), "local");
                if s.is_empty() {
                    return fail(underflow(pc));
                }
                succ.push((pc + 1, s));
            }
            Op::GlobalGet(g) => {
                let Some(gt) = module.globals.get(g as usize) else { return fail(format!("op {pc} uses global {g}")) };
                s.push(is_ref(gt.ty));
                succ.push((pc + 1, s));
            }
            Op::GlobalSet(g) => {
                check!((g as usize) < module.globals.len(), "global");
                pop!(1);
                succ.push((pc + 1, s));
            }
            Op::TableGet(t) => {
                let Some(tt) = module.tables.get(t as usize) else { return fail(format!("op {pc} uses table {t}")) };
                pop!(1);
                s.push(is_ref(tt.elem));
                succ.push((pc + 1, s));
            }
            Op::TableSet(t) => {
                check!((t as usize) < module.tables.len(), "table");
                pop!(2);
                succ.push((pc + 1, s));
            }
            Op::TableSize(t) => {
                check!((t as usize) < module.tables.len(), "table");
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::TableGrow(t) => {
                let Some(tt) = module.tables.get(t as usize) else { return fail(format!("op {pc} uses table {t}")) };
                check!(
                    matches!(module.code.get(pc + 1), Some(Op::TableFill(f)) if *f == t),
                    "table.fill after table.grow"
                );
                pop!(2);
                s.push(false);
                // Either done (skipping the table.fill), or table.fill's operands pushed.
                let mut fill = s.clone();
                fill.extend([false, is_ref(tt.elem), false]);
                succ.push((pc + 2, s));
                succ.push((pc + 1, fill));
            }
            Op::TableFill(t) => {
                check!((t as usize) < module.tables.len(), "table");
                pop!(3);
                succ.push((pc + 1, s));
            }
            Op::TableCopy { dst, src } => {
                check!((dst as usize) < module.tables.len() && (src as usize) < module.tables.len(), "table");
                pop!(3);
                succ.push((pc + 1, s));
            }
            Op::TableInit { elem, table } => {
                check!((table as usize) < module.tables.len(), "table");
                check!((elem as usize) < module.elems.len(), "element segment");
                pop!(3);
                succ.push((pc + 1, s));
            }
            Op::ElemDrop(e) => {
                check!((e as usize) < module.elems.len(), "element segment");
                succ.push((pc + 1, s));
            }
            Op::DataDrop(d) => {
                check!((d as usize) < module.datas.len(), "data segment");
                succ.push((pc + 1, s));
            }
            Op::Load { .. } | Op::MemoryGrow => {
                check!(!module.memories.is_empty(), "memory");
                pop!(1);
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::Store { .. } => {
                check!(!module.memories.is_empty(), "memory");
                pop!(2);
                succ.push((pc + 1, s));
            }
            Op::MemorySize => {
                check!(!module.memories.is_empty(), "memory");
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::MemoryFill | Op::MemoryCopy | Op::MemoryInit(_) => {
                check!(!module.memories.is_empty(), "memory");
                if let Op::MemoryInit(d) = module.code[pc] {
                    check!((d as usize) < module.datas.len(), "data segment");
                }
                pop!(3);
                succ.push((pc + 1, s));
            }
            Op::Const { .. } | Op::RefNull => {
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::Unary(_) | Op::RefIsNull => {
                pop!(1);
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::Binary(_) => {
                pop!(2);
                s.push(false);
                succ.push((pc + 1, s));
            }
            Op::RefFunc(f) => {
                check!((f as usize) < module.func_types.len(), "function");
                s.push(true);
                succ.push((pc + 1, s));
            }
        }
        for (to, st) in succ.drain(..) {
            if to < start || to >= end {
                return fail(format!("op {pc} continues at op {to}, outside the function"));
            }
            match &mut states[to - start] {
                slot @ None => {
                    *slot = Some(st);
                    work.push(to);
                }
                Some(old) => {
                    if old.len() != st.len() {
                        return fail(format!("inconsistent operand stack height at op {to}"));
                    }
                    let mut changed = false;
                    for (o, n) in old.iter_mut().zip(st) {
                        if n && !*o {
                            *o = true;
                            changed = true;
                        }
                    }
                    if changed {
                        work.push(to);
                    }
                }
            }
        }
    }
    Ok(BodyStates { start, end, states })
}

/// Consistency of the execution state with the store and the code. Returns the stack
/// capacity the frames need: the highest of their bases plus locals plus maximum height.
fn validate_execution(m: &Machine) -> Result<usize, String> {
    let s = &m.store;
    if m.steps > MAX_COUNTER {
        return Err(format!("the step counter {} is over 2^63: stepping on could overflow it", m.steps));
    }
    let nfuncs = s.funcs.len() as u64;
    if let Some(entry) = m.entry {
        if entry as u64 >= nfuncs {
            return Err(format!("the entry function {entry} does not exist ({nfuncs} functions)"));
        }
    }
    match m.status {
        Status::Running if m.frames.is_empty() => return Err("a running machine has no frames".into()),
        Status::Returned if !m.frames.is_empty() => {
            return Err(format!("a returned machine still has {} frames", m.frames.len()))
        }
        Status::Returned => {
            if let Some(entry) = m.entry {
                let results = s.func_type(entry).results.len();
                if m.stack.len() < results {
                    return Err(format!(
                        "the stack has {} slots, fewer than the entry function's {results} results",
                        m.stack.len()
                    ));
                }
            }
        }
        _ => {}
    }
    if m.frames.is_empty() {
        return Ok(0);
    }
    if m.frames.len() > m.config.max_call_depth as usize {
        return Err(format!("{} frames exceed the call depth limit {}", m.frames.len(), m.config.max_call_depth));
    }
    if m.entry != Some(m.frames[0].func) {
        return Err(format!(
            "the first frame runs function {}, not the entry function {:?}",
            m.frames[0].func, m.entry
        ));
    }

    for (i, frame) in m.frames.iter().enumerate() {
        if !matches!(s.funcs.get(frame.func as usize), Some(Func::Wasm { .. })) {
            return Err(format!("frame {i} runs function {}, which is not a wasm function", frame.func));
        }
    }
    let mut analyses: HashMap<(u32, u32), BodyStates> = HashMap::new();
    let mut expected_base = 0u64;
    let mut need = 0u64;
    for (i, frame) in m.frames.iter().enumerate() {
        let Frame { func, base, .. } = *frame;
        if base as u64 != expected_base {
            return Err(format!(
                "frame {i} starts at stack slot {base}, but its caller's operands end at {expected_base}"
            ));
        }
        let Some(&Func::Wasm { instance, index, .. }) = s.funcs.get(func as usize) else {
            return Err(format!("frame {i} runs function {func}, which is not a wasm function"));
        };
        let inst = &s.instances[instance as usize];
        let module = &inst.module;
        let body = module.body(index).expect("validated function");
        let locals = local_types(module, index).ok_or_else(|| format!("frame {i}: function {func} has no type"))?;
        let top = base as u64 + locals.len() as u64 + body.max_height as u64;
        if top > m.config.max_value_stack as u64 {
            return Err(format!(
                "frame {i} may need {top} stack slots, over the limit of {}",
                m.config.max_value_stack
            ));
        }
        need = need.max(top);
        let states = match analyses.entry((instance, index)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(analyze(module, index)?),
        };
        let callee = m.frames.get(i + 1);
        let (at, what) = match callee {
            Some(c) => (c.ret_pc as usize, "return pc"),
            None => (m.pc as usize, "pc"),
        };
        if at < states.start || at >= states.end {
            return Err(format!(
                "frame {i}: {what} {at} is outside function {func}'s code ({}..{})",
                states.start, states.end
            ));
        }
        let operands = states
            .at(at)
            .ok_or_else(|| format!("frame {i}: {what} {at} is not a reachable instruction of function {func}"))?;
        let locals_end = base as u64 + locals.len() as u64;
        let live = match callee {
            Some(c) => {
                let site = at.checked_sub(1).filter(|&p| states.at(p).is_some());
                let Some(site) = site else {
                    return Err(format!("frame {i}: return pc {at} does not follow a reachable call"));
                };
                let callee_type = s.funcs.get(c.func as usize).map(|f| f.type_id());
                let matches = match module.code[site] {
                    Op::Call(f) => inst.funcs.get(f as usize) == Some(&c.func),
                    Op::CallIndirect { type_index, .. } => {
                        inst.type_ids.get(type_index as usize).copied() == callee_type
                    }
                    _ => return Err(format!("frame {i}: return pc {at} does not follow a call")),
                };
                if !matches {
                    return Err(format!("frame {i}: the call before return pc {at} cannot call function {}", c.func));
                }
                let results = callee_type.map_or(0, |t| s.types[t as usize].results.len());
                operands.len().checked_sub(results).ok_or_else(|| format!("frame {i}: too few operands at {at}"))?
            }
            None => {
                let want = locals_end + operands.len() as u64;
                if m.stack.len() as u64 != want {
                    return Err(format!(
                        "the stack has {} slots, but the frames and operands at pc {at} need {want}",
                        m.stack.len()
                    ));
                }
                operands.len()
            }
        };
        expected_base = locals_end + live as u64;
        if expected_base > m.stack.len() as u64 {
            return Err(format!("the stack has {} slots, too few for frame {i}'s locals and operands", m.stack.len()));
        }
        let slots = &m.stack[base as usize..expected_base as usize];
        let flags = locals.iter().map(|&t| t == ValType::FuncRef).chain(operands[..live].iter().copied());
        if let Some((k, &slot)) =
            slots.iter().zip(flags).enumerate().find_map(|(k, (v, f))| (f && v > &nfuncs).then_some((k, v)))
        {
            return Err(format!(
                "stack slot {} (frame {i}) refers to function {}, which does not exist",
                base as usize + k,
                slot - 1
            ));
        }
    }
    Ok(need as usize)
}
