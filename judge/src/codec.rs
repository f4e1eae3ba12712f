//! The proof's compact binary form, what a chain would be sent (docs/spec.md defines
//! it); [`crate::json`] has the JSON form.

use merkle_memory::state::{Commitment, Environment, FrameCommitment};
use merkle_memory::Hash;

use crate::proof::{Caller, Leaves, MemoryOpening, Operands, Proof, Segments, TablesOpening};

/// Why bytes or JSON are not a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a proof: {0}")]
pub struct FormatError(pub String);

pub(crate) fn bad<T>(what: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(what.into()))
}

// ---- binary -------------------------------------------------------------------------

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend(v.to_le_bytes());
    }
    fn hash(&mut self, h: &Hash) {
        self.0.extend(h);
    }
    fn hashes(&mut self, hs: &[Hash]) {
        self.u32(hs.len() as u32);
        hs.iter().for_each(|h| self.hash(h));
    }
    fn frame(&mut self, f: &FrameCommitment) {
        self.u32(f.func);
        self.u32(f.pc);
        self.u32(f.base);
        self.hash(&f.locals);
        self.hash(&f.operands);
    }
    fn leaves(&mut self, l: &Leaves) {
        self.u32(l.count);
        self.u32(l.indices.len() as u32);
        l.indices.iter().for_each(|&i| self.u32(i));
        l.values.iter().for_each(|&v| self.u64(v));
        self.hashes(&l.proof);
    }
    fn flags(&mut self, flags: &[bool]) {
        self.u32(flags.len() as u32);
        flags.iter().for_each(|&f| self.u8(f as u8));
    }
    fn option<T>(&mut self, v: &Option<T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
}

/// The compact binary form.
pub fn to_bytes(p: &Proof) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u32(p.version);
    w.u64(p.step);
    w.hash(&p.pre_hash);
    w.hash(&p.post_hash);
    let s = &p.state;
    w.hash(&s.context);
    w.u8(s.status);
    w.u32(s.trap);
    w.u32(s.trap_arg);
    w.u64(s.steps);
    w.u64(s.gas_used);
    w.u32(s.depth);
    w.u32(s.height);
    w.u32(s.entry);
    w.frame(&s.frame);
    w.hash(&s.callers);
    let e = &s.environment;
    [e.globals, e.memories, e.tables, e.segments, e.output].iter().for_each(|h| w.hash(h));
    w.u32(p.operands.values.len() as u32);
    p.operands.values.iter().for_each(|&v| w.u64(v));
    w.hash(&p.operands.rest);
    w.option(&p.locals, Writer::leaves);
    w.option(&p.caller, |w, c| {
        w.frame(&c.frame);
        w.hash(&c.rest);
    });
    w.option(&p.globals, Writer::leaves);
    w.option(&p.memory, |w, m| {
        w.u32(m.index);
        w.hashes(&m.memories_proof);
        w.u32(m.pages);
        w.u32(m.max);
        w.u32(m.chunks.len() as u32);
        for (i, bytes) in &m.chunks {
            w.u32(*i);
            w.u32(bytes.len() as u32);
            w.0.extend(bytes);
        }
        w.hashes(&m.chunks_proof);
    });
    w.option(&p.tables, |w, t| {
        w.u32(t.tables.len() as u32);
        for (i, l) in &t.tables {
            w.u32(*i);
            w.leaves(l);
        }
        w.hashes(&t.tables_proof);
    });
    w.option(&p.segments, |w, s| {
        w.flags(&s.elems);
        w.flags(&s.datas);
    });
    w.0
}

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
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
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
    fn frame(&mut self, what: &str) -> Result<FrameCommitment, FormatError> {
        Ok(FrameCommitment {
            func: self.u32(what)?,
            pc: self.u32(what)?,
            base: self.u32(what)?,
            locals: self.hash(what)?,
            operands: self.hash(what)?,
        })
    }
    fn leaves(&mut self, what: &str) -> Result<Leaves, FormatError> {
        let count = self.u32(what)?;
        let n = self.count(12, what)?;
        let indices = (0..n).map(|_| self.u32(what)).collect::<Result<_, _>>()?;
        let values = (0..n).map(|_| self.u64(what)).collect::<Result<_, _>>()?;
        Ok(Leaves { count, indices, values, proof: self.hashes(what)? })
    }
    fn flags(&mut self, what: &str) -> Result<Vec<bool>, FormatError> {
        let n = self.count(1, what)?;
        (0..n)
            .map(|_| match self.u8(what)? {
                0 => Ok(false),
                1 => Ok(true),
                b => bad(format!("{what}: flag {b} is neither 0 nor 1")),
            })
            .collect()
    }
    fn option<T>(&mut self, what: &str, f: impl FnOnce(&mut Self) -> Result<T, FormatError>) -> Result<Option<T>, FormatError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => f(self).map(Some),
            b => bad(format!("{what}: presence byte {b} is neither 0 nor 1")),
        }
    }
}

/// Reads the compact binary form.
pub fn from_bytes(bytes: &[u8]) -> Result<Proof, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u32("the version")?;
    let step = r.u64("the step")?;
    let pre_hash = r.hash("pre_hash")?;
    let post_hash = r.hash("post_hash")?;
    let state = Commitment {
        context: r.hash("the context")?,
        status: r.u8("the status")?,
        trap: r.u32("the trap")?,
        trap_arg: r.u32("the trap argument")?,
        steps: r.u64("the step counter")?,
        gas_used: r.u64("gas used")?,
        depth: r.u32("the depth")?,
        height: r.u32("the height")?,
        entry: r.u32("the entry")?,
        frame: r.frame("the frame")?,
        callers: r.hash("the callers")?,
        environment: Environment {
            globals: r.hash("the globals")?,
            memories: r.hash("the memories")?,
            tables: r.hash("the tables")?,
            segments: r.hash("the segments")?,
            output: r.hash("the output")?,
        },
    };
    let n = r.count(8, "operands")?;
    let values = (0..n).map(|_| r.u64("an operand")).collect::<Result<_, _>>()?;
    let operands = Operands { values, rest: r.hash("the operands' rest")? };
    let locals = r.option("locals", |r| r.leaves("locals"))?;
    let caller = r.option("the caller", |r| Ok(Caller { frame: r.frame("the caller")?, rest: r.hash("the callers' rest")? }))?;
    let globals = r.option("globals", |r| r.leaves("globals"))?;
    let memory = r.option("the memory", |r| {
        let index = r.u32("the memory index")?;
        let memories_proof = r.hashes("the memories proof")?;
        let (pages, max) = (r.u32("the memory size")?, r.u32("the memory maximum")?);
        let n = r.count(8, "memory chunks")?;
        let chunks = (0..n)
            .map(|_| {
                let i = r.u32("a chunk index")?;
                let len = r.u32("a chunk length")? as usize;
                Ok((i, r.take(len, "a chunk")?.to_vec()))
            })
            .collect::<Result<_, FormatError>>()?;
        Ok(MemoryOpening { index, memories_proof, pages, max, chunks, chunks_proof: r.hashes("the chunks proof")? })
    })?;
    let tables = r.option("tables", |r| {
        let n = r.count(13, "tables")?;
        let tables = (0..n).map(|_| Ok((r.u32("a table index")?, r.leaves("a table")?))).collect::<Result<_, FormatError>>()?;
        Ok(TablesOpening { tables, tables_proof: r.hashes("the tables proof")? })
    })?;
    let segments = r.option("segments", |r| Ok(Segments { elems: r.flags("element segments")?, datas: r.flags("data segments")? }))?;
    if r.pos != bytes.len() {
        return bad(format!("{} bytes after the end", bytes.len() - r.pos));
    }
    Ok(Proof { version, step, pre_hash, post_hash, state, operands, locals, caller, globals, memory, tables, segments })
}
