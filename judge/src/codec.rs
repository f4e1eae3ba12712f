//! The proof's binary forms (docs/spec.md defines them); [`crate::json`] has the JSON form.
//!
//! The compact form ([`to_bytes`], [`from_bytes_with`]) is what a chain is sent. It leaves
//! out what a judge there knows before it reads the proof ([`Known`]: the disputed step,
//! the agreed pre-state hash, the claimed post-state hash and the context of its module
//! and configuration) and every commitment the proof's own openings determine (the
//! stack root, and the callers, globals, memories, tables and segments hashes where the
//! proof opens them): the decoder computes those from the
//! openings, and the judge's check that the state hashes to the pre-state hash binds the
//! openings to the pre-state as a separate check of each would. Integers are LEB128.
//!
//! The full form ([`to_full_bytes`], [`from_bytes`]) is the [`Known`] part followed by the
//! compact form: a proof on its own.

use merkle_memory::state::{
    caller_link, segments_hash_of, table_commitment_of, Commitment, Environment, EnvironmentCommitment, FrameCommitment,
};
use merkle_memory::{memory, tree, Hash};

use merkle_memory::storage::{key_hash, value_hash, Shape, StorageProof, Terminal};
use stepper::storage::{MAX_VALUE_LEN, RESERVED_KEY_LEN};

use crate::proof::{
    Caller, IoOpening, Leaves, MemoryOpening, Proof, Segments, StorageOpening, TablesOpening, MAX_CHUNK_SIZE,
    MAX_GLOBALS, MAX_INPUT_CHUNKS, MAX_STACK_SLOTS, MAX_STORAGE_SIBLINGS, MAX_TABLES, MAX_TABLE_ELEMENTS,
};
use merkle_memory::hash::EMPTY;
use merkle_memory::io::{IoCommitment, StreamOpening};
use stepper::io::{IoRegs, BLOCK};

/// Why bytes or JSON are not a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a proof: {0}")]
pub struct FormatError(pub String);

pub(crate) fn bad<T>(what: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(what.into()))
}

/// What a judge on a chain knows of a disputed step before it reads the proof, and the
/// compact form therefore leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// The step the game narrowed the dispute to (the pre-state's step counter).
    pub step: u64,
    /// The state hash both parties agree on before the step.
    pub pre_hash: Hash,
    /// The post-state hash the proof's sender claims.
    pub post_hash: Hash,
    /// `H(0x11 || program || config)` of the judge's module and configuration.
    pub context: Hash,
}

impl Known {
    pub fn of(p: &Proof) -> Self {
        Self { step: p.step, pre_hash: p.pre_hash, post_hash: p.post_hash, context: p.state.context }
    }
}

/// Bits of the parts byte: which optional openings follow.
/// Bit 0 named the locals opening before the stack became one tree; since version 6 it
/// is the call's input and output.
const IO: u8 = 1;
const CALLER: u8 = 2;
const GLOBALS: u8 = 4;
const MEMORY: u8 = 8;
const TABLES: u8 = 16;
const SEGMENTS: u8 = 32;
const STORAGE: u8 = 64;
/// The environment is sealed: one hash stands for its seven.
const SEALED: u8 = 128;
/// The parts that open the environment, which a sealed one cannot have.
const ENVIRONMENT_PARTS: u8 = GLOBALS | MEMORY | TABLES | SEGMENTS | STORAGE | IO;

/// The storage path's terminal and last sibling: their kinds as bytes.
const TERMINAL_EMPTY: u8 = 0;
/// The key's own leaf: its hashes are the opening's key and value, so none are written.
const TERMINAL_OWN: u8 = 1;
const TERMINAL_OTHER: u8 = 2;
const SHAPE_LEAF: u8 = 1;
const SHAPE_NODE: u8 = 2;

/// Whether a multi-proof of the leaves `indices` opens its whole tree: with no sibling
/// hash, it does when the indices are `0..k`, and the tree then has exactly `k` leaves.
fn whole_tree(indices: &[u32], proof: &[Hash]) -> bool {
    proof.is_empty() && !indices.is_empty() && indices.iter().enumerate().all(|(k, &i)| i as usize == k)
}

/// Whether the memories root is determined by the memory opening: the one memory of a
/// store with one memory.
fn memories_derived(m: &MemoryOpening) -> bool {
    whole_tree(&[m.index], &m.memories_proof)
}

/// Whether the tables root is determined by the tables opening: every table of the store.
fn tables_derived(t: &TablesOpening) -> bool {
    let indices: Vec<u32> = t.tables.iter().map(|(i, _)| *i).collect();
    whole_tree(&indices, &t.tables_proof)
}

// ---- writing ------------------------------------------------------------------------

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn leb(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn len(&mut self, n: usize) {
        self.leb(n as u64);
    }
    fn hash(&mut self, h: &Hash) {
        self.0.extend(h);
    }
    fn hashes(&mut self, hs: &[Hash]) {
        self.len(hs.len());
        hs.iter().for_each(|h| self.hash(h));
    }
    fn leaves(&mut self, l: &Leaves) {
        self.leb(l.count.into());
        self.opened(l);
    }

    /// A leaves opening without its count (which the reader knows).
    fn opened(&mut self, l: &Leaves) {
        self.len(l.indices.len());
        l.indices.iter().for_each(|&i| self.leb(i.into()));
        l.values.iter().for_each(|&v| self.leb(v));
        self.hashes(&l.proof);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend(b);
    }
    fn storage(&mut self, s: &StorageOpening) {
        self.bytes(&s.key);
        self.hashes(&s.path.siblings);
        match (s.path.terminal, &s.value) {
            (Terminal::Empty, _) => self.u8(TERMINAL_EMPTY),
            (Terminal::Leaf { key, .. }, Some(value)) if key == key_hash(&s.key) => {
                self.u8(TERMINAL_OWN);
                self.bytes(value);
            }
            (Terminal::Leaf { key, value }, _) => {
                self.u8(TERMINAL_OTHER);
                self.hash(&key);
                self.hash(&value);
            }
        }
        match s.path.last_sibling {
            None => self.u8(0),
            Some(Shape::Leaf { key, value }) => {
                self.u8(SHAPE_LEAF);
                self.hash(&key);
                self.hash(&value);
            }
            Some(Shape::Node { left, right }) => {
                self.u8(SHAPE_NODE);
                self.hash(&left);
                self.hash(&right);
            }
        }
    }
    fn io(&mut self, o: &IoOpening) {
        let r = &o.io.regs;
        for v in [r.argc, r.args_size, r.envc, r.env_size] {
            self.leb(v.into());
        }
        self.leb(r.stdin_len);
        self.leb(r.clock);
        self.0.extend(r.seed);
        self.leb(r.stdin_pos);
        self.leb(r.random_pos);
        self.u8(r.closed);
        self.leb(r.cursor);
        self.leb(r.done);
        for stream in [&o.io.stdout, &o.io.stderr] {
            self.leb(stream.len);
            self.hash(&stream.chain);
            // Its length says how long the tail is.
            self.0.extend(&stream.tail);
        }
        self.len(o.input_chunks.len());
        for (i, bytes) in &o.input_chunks {
            self.leb((*i).into());
            self.bytes(bytes);
        }
        // The root is written only where no chunk proves it.
        if o.input_chunks.is_empty() {
            self.hash(&o.io.input_root);
        } else {
            self.hashes(&o.input_proof);
        }
    }
    /// `n`, then the flags as bits, eight to a byte, lowest bit first.
    fn flags(&mut self, flags: &[bool]) {
        self.len(flags.len());
        for byte in flags.chunks(8) {
            self.u8(byte.iter().enumerate().fold(0, |acc, (i, &f)| acc | (f as u8) << i));
        }
    }
}

/// The compact binary form.
pub fn to_bytes(p: &Proof) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.leb(p.version.into());
    let parts = [
        (p.caller.is_some(), CALLER),
        (p.globals.is_some(), GLOBALS),
        (p.memory.is_some(), MEMORY),
        (p.tables.is_some(), TABLES),
        (p.segments.is_some(), SEGMENTS),
        (p.storage.is_some(), STORAGE),
        (p.state.environment.open().is_none(), SEALED),
        (p.io.is_some(), IO),
    ];
    w.u8(parts.iter().filter(|(present, _)| *present).map(|(_, bit)| bit).sum());
    let s = &p.state;
    w.u8(s.status);
    for v in [s.trap, s.trap_arg] {
        w.leb(v.into());
    }
    w.leb(s.steps);
    w.leb(s.gas_used);
    for v in [s.depth, s.height, s.entry, s.frame.func, s.frame.pc, s.frame.base] {
        w.leb(v.into());
    }
    w.opened(&p.stack);
    if let Some(c) = &p.caller {
        for v in [c.frame.func, c.frame.pc, c.frame.base] {
            w.leb(v.into());
        }
        w.hash(&c.rest);
    }
    if let Some(l) = &p.globals {
        w.leaves(l);
    }
    if let Some(m) = &p.memory {
        w.leb(m.index.into());
        w.hashes(&m.memories_proof);
        w.leb(m.pages.into());
        w.leb(m.max.into());
        w.len(m.chunks.len());
        for (i, bytes) in &m.chunks {
            w.leb((*i).into());
            w.len(bytes.len());
            w.0.extend(bytes);
        }
        w.hashes(&m.chunks_proof);
    }
    if let Some(t) = &p.tables {
        w.len(t.tables.len());
        for (i, l) in &t.tables {
            w.leb((*i).into());
            w.leaves(l);
        }
        w.hashes(&t.tables_proof);
    }
    if let Some(s) = &p.segments {
        w.flags(&s.elems);
        w.flags(&s.datas);
    }
    if let Some(s) = &p.storage {
        w.storage(s);
    }
    if let Some(o) = &p.io {
        w.io(o);
    }
    // The state's hashes that no opening determines, in the state's order.
    let mut written = vec![(s.callers, p.caller.is_none())];
    match s.environment {
        EnvironmentCommitment::Sealed(hash) => written.push((hash, true)),
        EnvironmentCommitment::Open(e) => written.extend([
            (e.globals, p.globals.is_none()),
            (e.memories, !p.memory.as_ref().is_some_and(memories_derived)),
            (e.tables, !p.tables.as_ref().is_some_and(tables_derived)),
            (e.segments, p.segments.is_none()),
            (e.output, true),
            (e.storage, p.storage.is_none()),
            (e.io, p.io.is_none()),
        ]),
    }
    written.iter().filter(|(_, write)| *write).for_each(|(h, _)| w.hash(h));
    w.0
}

/// The full binary form: the [`Known`] part (`step`, `pre_hash`, `post_hash`, `context`),
/// then the compact form.
pub fn to_full_bytes(p: &Proof) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.leb(p.step);
    w.hash(&p.pre_hash);
    w.hash(&p.post_hash);
    w.hash(&p.state.context);
    w.0.extend(to_bytes(p));
    w.0
}

// ---- reading ------------------------------------------------------------------------

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], FormatError> {
        match self.pos.checked_add(n).filter(|&end| end <= self.bytes.len()) {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => bad(format!("truncated at byte {} reading {what}", self.pos)),
        }
    }
    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    /// An unsigned LEB128 integer of at most `bits` bits, in its shortest encoding (so
    /// that every proof has one encoding).
    fn leb_bits(&mut self, bits: u32, what: &str) -> Result<u64, FormatError> {
        let start = self.pos;
        let (mut v, mut shift) = (0u64, 0u32);
        loop {
            let b = self.u8(what)?;
            let low = (b & 0x7f) as u64;
            // The bits this byte adds must fit.
            if shift >= bits || (bits - shift < 7 && low >> (bits - shift) != 0) {
                return bad(format!("{what}: the integer at byte {start} exceeds {bits} bits"));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return bad(format!("{what}: the integer at byte {start} is not in its shortest form"));
                }
                return Ok(v);
            }
            shift += 7;
        }
    }
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(self.leb_bits(32, what)? as u32)
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        self.leb_bits(64, what)
    }
    fn hash(&mut self, what: &str) -> Result<Hash, FormatError> {
        Ok(self.take(32, what)?.try_into().expect("32 bytes"))
    }
    /// A count of items of at least `min_size` bytes each, checked against what is left.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize, FormatError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.pos {
            return bad(format!("{what}: {n} items cannot fit in the {} bytes left", self.bytes.len() - self.pos));
        }
        Ok(n)
    }
    fn hashes(&mut self, what: &str) -> Result<Vec<Hash>, FormatError> {
        let n = self.count(32, what)?;
        (0..n).map(|_| self.hash(what)).collect()
    }
    fn leaves(&mut self, max: usize, what: &str) -> Result<Leaves, FormatError> {
        let count = self.u32(what)?;
        self.opened(count, max, what)
    }

    /// A leaves opening of a tree of `count` leaves, written without its count, of at
    /// most `max` leaves.
    fn opened(&mut self, count: u32, max: usize, what: &str) -> Result<Leaves, FormatError> {
        let n = self.count(2, what)?;
        if n > max {
            return bad(format!("{what}: {n} leaves opened, one step opens at most {max}"));
        }
        let indices = (0..n).map(|_| self.u32(what)).collect::<Result<_, _>>()?;
        let values = (0..n).map(|_| self.u64(what)).collect::<Result<_, _>>()?;
        Ok(Leaves { count, indices, values, proof: self.hashes(what)? })
    }
    fn bytes(&mut self, max: usize, what: &str) -> Result<Vec<u8>, FormatError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return bad(format!("{what}: {n} bytes, more than {max}"));
        }
        Ok(self.take(n, what)?.to_vec())
    }
    fn io(&mut self) -> Result<IoOpening, FormatError> {
        let mut regs = IoRegs {
            argc: self.u32("argc")?,
            args_size: self.u32("the arguments' size")?,
            envc: self.u32("envc")?,
            env_size: self.u32("the environment's size")?,
            stdin_len: self.u64("standard input's length")?,
            clock: self.u64("the clock")?,
            ..IoRegs::default()
        };
        regs.seed = self.take(32, "the seed")?.try_into().expect("32 bytes");
        regs.stdin_pos = self.u64("standard input's position")?;
        regs.random_pos = self.u64("the random position")?;
        regs.closed = self.u8("the closed streams")?;
        regs.cursor = self.u64("the I/O cursor")?;
        regs.done = self.u64("the I/O progress")?;
        let mut stream = |what: &str| -> Result<StreamOpening, FormatError> {
            let len = self.u64(what)?;
            let chain = self.hash(what)?;
            let tail = self.take((len % BLOCK as u64) as usize, what)?.to_vec();
            Ok(StreamOpening { len, chain, tail })
        };
        let (stdout, stderr) = (stream("standard output")?, stream("standard error")?);
        let n = self.count(2, "input chunks")?;
        if n > MAX_INPUT_CHUNKS {
            return bad(format!("input chunks: {n} opened, one step reads at most {MAX_INPUT_CHUNKS}"));
        }
        let input_chunks = (0..n)
            .map(|_| Ok((self.u32("an input chunk's index")?, self.bytes(MAX_CHUNK_SIZE, "an input chunk")?)))
            .collect::<Result<Vec<_>, FormatError>>()?;
        let (input_root, input_proof) = match input_chunks.is_empty() {
            true => (self.hash("the input root")?, Vec::new()),
            // The root is derived from the chunks.
            false => (EMPTY, self.hashes("the input proof")?),
        };
        let mut opening =
            IoOpening { io: IoCommitment { input_root, regs, stdout, stderr }, input_chunks, input_proof };
        if !opening.input_chunks.is_empty() {
            let chunk_size = opening.input_chunks[0].1.len();
            opening.io.input_root = opening.input_root(chunk_size).map_err(FormatError)?;
        }
        Ok(opening)
    }
    fn storage(&mut self) -> Result<StorageOpening, FormatError> {
        let key = self.bytes(RESERVED_KEY_LEN, "the storage key")?;
        let siblings = self.hashes("the storage path")?;
        if siblings.len() > MAX_STORAGE_SIBLINGS {
            return bad(format!(
                "the storage path has {} siblings; a key hash has {MAX_STORAGE_SIBLINGS} bits",
                siblings.len()
            ));
        }
        let (terminal, value) = match self.u8("the storage path's end")? {
            TERMINAL_EMPTY => (Terminal::Empty, None),
            TERMINAL_OWN => {
                let value = self.bytes(MAX_VALUE_LEN, "the storage value")?;
                (Terminal::Leaf { key: key_hash(&key), value: value_hash(&value) }, Some(value))
            }
            TERMINAL_OTHER => {
                (Terminal::Leaf { key: self.hash("the storage leaf")?, value: self.hash("the storage leaf")? }, None)
            }
            k => return bad(format!("the storage path's end has kind {k}")),
        };
        let last_sibling = match self.u8("the storage path's last sibling")? {
            0 => None,
            SHAPE_LEAF => {
                Some(Shape::Leaf { key: self.hash("the last sibling")?, value: self.hash("the last sibling")? })
            }
            SHAPE_NODE => {
                Some(Shape::Node { left: self.hash("the last sibling")?, right: self.hash("the last sibling")? })
            }
            k => return bad(format!("the storage path's last sibling has kind {k}")),
        };
        Ok(StorageOpening { key, value, path: StorageProof { siblings, terminal, last_sibling } })
    }
    fn flags(&mut self, what: &str) -> Result<Vec<bool>, FormatError> {
        let n = self.count(0, what)?;
        let bytes = self.take(n.div_ceil(8), what)?;
        if n % 8 != 0 && bytes[n / 8] >> (n % 8) != 0 {
            return bad(format!("{what}: bits set past the last flag"));
        }
        Ok((0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
    }
}

/// Reads the compact binary form of the proof of the step `known` describes.
pub fn from_bytes_with(bytes: &[u8], known: &Known) -> Result<Proof, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    let proof = read_compact(&mut r, known)?;
    if r.pos != bytes.len() {
        return bad(format!("{} bytes after the end", bytes.len() - r.pos));
    }
    Ok(proof)
}

/// Reads the full binary form.
pub fn from_bytes(bytes: &[u8]) -> Result<Proof, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    let known = Known {
        step: r.u64("the step")?,
        pre_hash: r.hash("pre_hash")?,
        post_hash: r.hash("post_hash")?,
        context: r.hash("the context")?,
    };
    from_bytes_with(&bytes[r.pos..], &known)
}

fn read_compact(r: &mut Reader, known: &Known) -> Result<Proof, FormatError> {
    let version = r.u32("the version")?;
    let parts = r.u8("the parts")?;
    if parts & SEALED != 0 && parts & ENVIRONMENT_PARTS != 0 {
        return bad(format!("the parts byte {parts:#04x} seals the environment yet opens part of it"));
    }
    let status = r.u8("the status")?;
    let (trap, trap_arg) = (r.u32("the trap")?, r.u32("the trap argument")?);
    let (steps, gas_used) = (r.u64("the step counter")?, r.u64("gas used")?);
    let (depth, height, entry) = (r.u32("the depth")?, r.u32("the height")?, r.u32("the entry")?);
    let (func, pc, base) = (r.u32("the frame")?, r.u32("the frame")?, r.u32("the frame")?);
    let stack = r.opened(height, MAX_STACK_SLOTS, "the stack")?;

    let has = |bit: u8| parts & bit != 0;
    let caller = if has(CALLER) {
        let (func, pc, base) = (r.u32("the caller")?, r.u32("the caller")?, r.u32("the caller")?);
        Some(Caller { frame: FrameCommitment { func, pc, base }, rest: r.hash("the callers' rest")? })
    } else {
        None
    };
    let globals = has(GLOBALS).then(|| r.leaves(MAX_GLOBALS, "globals")).transpose()?;
    let memory = if has(MEMORY) {
        let index = r.u32("the memory index")?;
        let memories_proof = r.hashes("the memories proof")?;
        let (pages, max) = (r.u32("the memory size")?, r.u32("the memory maximum")?);
        let n = r.count(2, "memory chunks")?;
        if n > crate::proof::max_chunks(1) {
            return bad(format!("memory chunks: {n} opened, one step opens at most {}", crate::proof::max_chunks(1)));
        }
        let chunks = (0..n)
            .map(|_| {
                let i = r.u32("a chunk index")?;
                let len = r.u32("a chunk length")? as usize;
                if len > MAX_CHUNK_SIZE {
                    return bad(format!("a chunk of {len} bytes is over the largest chunk size, {MAX_CHUNK_SIZE}"));
                }
                Ok((i, r.take(len, "a chunk")?.to_vec()))
            })
            .collect::<Result<_, FormatError>>()?;
        Some(MemoryOpening { index, memories_proof, pages, max, chunks, chunks_proof: r.hashes("the chunks proof")? })
    } else {
        None
    };
    let tables = if has(TABLES) {
        let n = r.count(4, "tables")?;
        if n > MAX_TABLES {
            return bad(format!("tables: {n} opened, one step opens at most {MAX_TABLES}"));
        }
        let tables = (0..n)
            .map(|_| Ok((r.u32("a table index")?, r.leaves(MAX_TABLE_ELEMENTS, "a table")?)))
            .collect::<Result<_, FormatError>>()?;
        Some(TablesOpening { tables, tables_proof: r.hashes("the tables proof")? })
    } else {
        None
    };
    let segments = if has(SEGMENTS) {
        Some(Segments { elems: r.flags("element segments")?, datas: r.flags("data segments")? })
    } else {
        None
    };
    let storage = has(STORAGE).then(|| r.storage()).transpose()?;
    let io = has(IO).then(|| r.io()).transpose()?;

    // Each hash the openings determine, else the next written one.
    let mut next = |derived: Option<Result<Hash, String>>, what: &str| match derived {
        Some(root) => root.map_err(|e| FormatError(format!("{what}: {e}"))),
        None => r.hash(what),
    };
    let stack_root = stack.root().map_err(|e| FormatError(format!("the stack: {e}")))?;
    let callers = next(caller.map(|c| Ok(caller_link(&c.frame.hash(), &c.rest))), "the callers")?;
    let environment = if has(SEALED) {
        EnvironmentCommitment::Sealed(next(None, "the environment")?)
    } else {
        EnvironmentCommitment::Open(Environment {
            globals: next(globals.as_ref().map(Leaves::root), "the globals")?,
            memories: next(memory.as_ref().filter(|m| memories_derived(m)).map(memory_commitment), "the memories")?,
            tables: next(tables.as_ref().filter(|t| tables_derived(t)).map(tables_root), "the tables")?,
            segments: next(segments.as_ref().map(|s| Ok(segments_hash_of(&s.elems, &s.datas))), "the segments")?,
            output: next(None, "the output")?,
            storage: next(
                storage.as_ref().map(|s| s.path.root(&key_hash(&s.key)).map_err(|e| e.to_string())),
                "the storage",
            )?,
            io: next(io.as_ref().map(io_commitment), "the input and output")?,
        })
    };
    let frame = FrameCommitment { func, pc, base };
    let state = Commitment {
        context: known.context,
        status,
        trap,
        trap_arg,
        steps,
        gas_used,
        depth,
        height,
        entry,
        frame,
        callers,
        stack: stack_root,
        environment,
    };
    let (step, pre_hash, post_hash) = (known.step, known.pre_hash, known.post_hash);
    Ok(Proof {
        version,
        step,
        pre_hash,
        post_hash,
        state,
        stack,
        caller,
        globals,
        memory,
        tables,
        segments,
        storage,
        io,
    })
}

/// The commitment to the opened memory, its chunk size read off its chunks.
fn memory_commitment(m: &MemoryOpening) -> Result<Hash, String> {
    let chunk_size = m.chunks.first().map_or(1, |(_, bytes)| bytes.len());
    if !chunk_size.is_power_of_two() || chunk_size > 65536 || m.pages > memory::MAX_PAGES {
        return Err("the memory's size or chunk size is impossible".into());
    }
    let root = m.chunks_root(chunk_size, m.chunks.iter().map(|(_, b)| b.as_slice()))?;
    Ok(memory::commitment_of(m.pages, Some(m.max), &root))
}

/// The commitment to the opened input and output (the reader derived its input root
/// from its chunks, where it has any).
fn io_commitment(o: &IoOpening) -> Result<Hash, String> {
    Ok(o.io.hash())
}

/// The root of a store's tables, all of them opened.
fn tables_root(t: &TablesOpening) -> Result<Hash, String> {
    let leaves = t
        .tables
        .iter()
        .map(|(_, l)| Ok(table_commitment_of(l.count, &l.root()?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(tree::root(&leaves))
}
