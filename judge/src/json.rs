//! The proof's JSON form: hashes and byte strings as `0x` and hex digits, slot values as
//! `0x` and 16 hex digits, counters as numbers. docs/spec.md defines it.

use merkle_memory::hash::{bytes_to_hex, hex_to_bytes};
use merkle_memory::state::{Commitment, Environment, EnvironmentCommitment, FrameCommitment};
use merkle_memory::{hex, parse_hex, Hash};
use serde_json::{json, Map, Value as Json};

use crate::codec::{bad, FormatError};
use merkle_memory::storage::{Shape, StorageProof, Terminal};

use crate::proof::{Caller, IoOpening, Leaves, MemoryOpening, Proof, Segments, StorageOpening, TablesOpening};
use merkle_memory::io::{IoCommitment, StreamOpening};
use stepper::io::IoRegs;

fn slot(v: u64) -> Json {
    json!(format!("0x{v:016x}"))
}

fn hashes_json(hs: &[Hash]) -> Json {
    json!(hs.iter().map(hex).collect::<Vec<_>>())
}

fn frame_json(f: &FrameCommitment) -> Json {
    json!({ "func": f.func, "pc": f.pc, "base": f.base })
}

fn leaves_json(l: &Leaves) -> Json {
    json!({
        "count": l.count,
        "indices": l.indices,
        "values": l.values.iter().map(|&v| slot(v)).collect::<Vec<_>>(),
        "proof": hashes_json(&l.proof),
    })
}

/// The JSON form.
/// A state opened one level, as a proof's `state` holds it.
pub fn state_to_json(s: &Commitment) -> Json {
    let environment = match &s.environment {
        EnvironmentCommitment::Sealed(hash) => json!({ "sealed": hex(hash) }),
        EnvironmentCommitment::Open(e) => json!({
            "globals": hex(&e.globals),
            "memories": hex(&e.memories),
            "tables": hex(&e.tables),
            "segments": hex(&e.segments),
            "output": hex(&e.output),
            "storage": hex(&e.storage),
            "io": hex(&e.io),
        }),
    };
    json!({
        "context": hex(&s.context),
        "status": s.status,
        "trap": s.trap,
        "trap_arg": s.trap_arg,
        "steps": s.steps,
        "gas_used": s.gas_used,
        "depth": s.depth,
        "height": s.height,
        "entry": s.entry,
        "frame": frame_json(&s.frame),
        "callers": hex(&s.callers),
        "stack": hex(&s.stack),
        "environment": environment,
    })
}

pub fn to_json(p: &Proof) -> Json {
    let mut out = json!({
        "version": p.version,
        "step": p.step,
        "pre_hash": hex(&p.pre_hash),
        "post_hash": hex(&p.post_hash),
        "state": state_to_json(&p.state),
        "stack": leaves_json(&p.stack),
    });
    let o = out.as_object_mut().expect("an object");
    if let Some(c) = &p.caller {
        o.insert("caller".into(), json!({ "frame": frame_json(&c.frame), "rest": hex(&c.rest) }));
    }
    if let Some(l) = &p.globals {
        o.insert("globals".into(), leaves_json(l));
    }
    if let Some(m) = &p.memory {
        o.insert(
            "memory".into(),
            json!({
                "index": m.index,
                "memories_proof": hashes_json(&m.memories_proof),
                "pages": m.pages,
                "max": m.max,
                "chunks": chunks_json(&m.chunks),
                "chunks_proof": hashes_json(&m.chunks_proof),
            }),
        );
    }
    if let Some(t) = &p.tables {
        let tables: Vec<Json> =
            t.tables.iter().map(|(i, l)| json!({ "index": i, "elements": leaves_json(l) })).collect();
        o.insert("tables".into(), json!({ "tables": tables, "tables_proof": hashes_json(&t.tables_proof) }));
    }
    if let Some(s) = &p.segments {
        o.insert("segments".into(), json!({ "elems": s.elems, "datas": s.datas }));
    }
    if let Some(s) = &p.storage {
        o.insert("storage".into(), storage_to_json(s));
    }
    if let Some(io) = &p.io {
        o.insert("io".into(), io_to_json(io));
    }
    out
}

fn chunks_json(chunks: &[(u32, Vec<u8>)]) -> Json {
    json!(chunks.iter().map(|(i, b)| json!({ "index": i, "bytes": bytes_to_hex(b) })).collect::<Vec<_>>())
}

fn stream_json(s: &StreamOpening) -> Json {
    json!({ "len": s.len, "chain": hex(&s.chain), "tail": bytes_to_hex(&s.tail) })
}

/// The call's input and output, as a proof's `io` holds them.
fn io_to_json(o: &IoOpening) -> Json {
    let r = &o.io.regs;
    json!({
        "input_root": hex(&o.io.input_root),
        "argc": r.argc,
        "args_size": r.args_size,
        "envc": r.envc,
        "env_size": r.env_size,
        "stdin_len": r.stdin_len,
        "clock": r.clock,
        "seed": hex(&r.seed),
        "stdin_pos": r.stdin_pos,
        "random_pos": r.random_pos,
        "closed": r.closed,
        "cursor": r.cursor,
        "done": r.done,
        "stdout": stream_json(&o.io.stdout),
        "stderr": stream_json(&o.io.stderr),
        "input_chunks": chunks_json(&o.input_chunks),
        "input_proof": hashes_json(&o.input_proof),
    })
}

fn chunks_from_json(o: &Obj, field: &str) -> Result<Vec<(u32, Vec<u8>)>, FormatError> {
    o.array(field)?
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = Obj::of(c, &format!("{}[{i}]", o.path(field)))?;
            Ok((c.u32("index")?, c.byte_string("bytes")?))
        })
        .collect()
}

fn io_from_json(v: &Json) -> Result<IoOpening, FormatError> {
    let o = Obj::of(v, "io")?;
    let stream = |field: &str| -> Result<StreamOpening, FormatError> {
        let s = o.obj(field)?;
        Ok(StreamOpening { len: s.u64("len")?, chain: s.hash("chain")?, tail: s.byte_string("tail")? })
    };
    let regs = IoRegs {
        argc: o.u32("argc")?,
        args_size: o.u32("args_size")?,
        envc: o.u32("envc")?,
        env_size: o.u32("env_size")?,
        stdin_len: o.u64("stdin_len")?,
        clock: o.u64("clock")?,
        seed: o.hash("seed")?,
        stdin_pos: o.u64("stdin_pos")?,
        random_pos: o.u64("random_pos")?,
        closed: o.uint("closed", u8::MAX as u64)? as u8,
        cursor: o.u64("cursor")?,
        done: o.u64("done")?,
    };
    Ok(IoOpening {
        io: IoCommitment {
            input_root: o.hash("input_root")?,
            regs,
            stdout: stream("stdout")?,
            stderr: stream("stderr")?,
        },
        input_chunks: chunks_from_json(&o, "input_chunks")?,
        input_proof: o.hashes("input_proof")?,
    })
}

/// A storage key's opening, as a proof's `storage` holds it.
pub fn storage_to_json(s: &StorageOpening) -> Json {
    let terminal = match s.path.terminal {
        Terminal::Empty => json!({ "kind": "empty" }),
        Terminal::Leaf { key, value } => json!({ "kind": "leaf", "key_hash": hex(&key), "value_hash": hex(&value) }),
    };
    let last_sibling = match s.path.last_sibling {
        None => Json::Null,
        Some(Shape::Leaf { key, value }) => json!({ "kind": "leaf", "key_hash": hex(&key), "value_hash": hex(&value) }),
        Some(Shape::Node { left, right }) => json!({ "kind": "node", "left": hex(&left), "right": hex(&right) }),
    };
    json!({
        "key": bytes_to_hex(&s.key),
        "value": s.value.as_deref().map(bytes_to_hex),
        "siblings": hashes_json(&s.path.siblings),
        "terminal": terminal,
        "last_sibling": last_sibling,
    })
}

/// Reads what [`storage_to_json`] writes.
pub fn storage_from_json(v: &Json) -> Result<StorageOpening, FormatError> {
    let s = Obj::of(v, "storage")?;
    let bytes = |key: &str| -> Result<Vec<u8>, FormatError> {
        s.get(key)?
            .as_str()
            .and_then(hex_to_bytes)
            .ok_or_else(|| FormatError(format!("{} is not 0x and hex digits", s.path(key))))
    };
    let terminal = s.obj("terminal")?;
    let terminal = match terminal.get("kind")?.as_str() {
        Some("empty") => Terminal::Empty,
        Some("leaf") => Terminal::Leaf { key: terminal.hash("key_hash")?, value: terminal.hash("value_hash")? },
        _ => return bad("storage.terminal.kind is not \"empty\" or \"leaf\""),
    };
    let last_sibling = match s.opt("last_sibling") {
        None => None,
        Some(_) => {
            let l = s.obj("last_sibling")?;
            match l.get("kind")?.as_str() {
                Some("leaf") => Some(Shape::Leaf { key: l.hash("key_hash")?, value: l.hash("value_hash")? }),
                Some("node") => Some(Shape::Node { left: l.hash("left")?, right: l.hash("right")? }),
                _ => return bad("storage.last_sibling.kind is not \"leaf\" or \"node\""),
            }
        }
    };
    let value = match s.opt("value") {
        Some(_) => Some(bytes("value")?),
        None => None,
    };
    Ok(StorageOpening {
        key: bytes("key")?,
        value,
        path: StorageProof { siblings: s.hashes("siblings")?, terminal, last_sibling },
    })
}

/// A JSON object, read field by field with the path in every error.
struct Obj<'a> {
    map: &'a Map<String, Json>,
    path: String,
}

impl<'a> Obj<'a> {
    fn of(v: &'a Json, path: &str) -> Result<Self, FormatError> {
        match v.as_object() {
            Some(map) => Ok(Self { map, path: path.to_string() }),
            None => bad(format!("{path} is not an object")),
        }
    }
    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
    fn get(&self, key: &str) -> Result<&'a Json, FormatError> {
        self.map.get(key).ok_or_else(|| FormatError(format!("{} is missing", self.path(key))))
    }
    fn opt(&self, key: &str) -> Option<&'a Json> {
        self.map.get(key).filter(|v| !v.is_null())
    }
    fn obj(&self, key: &str) -> Result<Obj<'a>, FormatError> {
        Obj::of(self.get(key)?, &self.path(key))
    }
    fn uint(&self, key: &str, max: u64) -> Result<u64, FormatError> {
        match self.get(key)?.as_u64() {
            Some(v) if v <= max => Ok(v),
            _ => bad(format!("{} is not an integer from 0 to {max}", self.path(key))),
        }
    }
    fn u32(&self, key: &str) -> Result<u32, FormatError> {
        self.uint(key, u32::MAX as u64).map(|v| v as u32)
    }
    fn u64(&self, key: &str) -> Result<u64, FormatError> {
        self.uint(key, u64::MAX)
    }
    fn hash(&self, key: &str) -> Result<Hash, FormatError> {
        hash_of(self.get(key)?, &self.path(key))
    }
    fn byte_string(&self, key: &str) -> Result<Vec<u8>, FormatError> {
        let bytes = self.get(key)?.as_str().and_then(hex_to_bytes);
        bytes.ok_or_else(|| FormatError(format!("{} is not 0x and hex digits", self.path(key))))
    }
    fn array(&self, key: &str) -> Result<&'a Vec<Json>, FormatError> {
        self.get(key)?.as_array().ok_or_else(|| FormatError(format!("{} is not an array", self.path(key))))
    }
    fn hashes(&self, key: &str) -> Result<Vec<Hash>, FormatError> {
        let path = self.path(key);
        self.array(key)?.iter().enumerate().map(|(i, v)| hash_of(v, &format!("{path}[{i}]"))).collect()
    }
    fn frame(&self, key: &str) -> Result<FrameCommitment, FormatError> {
        let f = self.obj(key)?;
        Ok(FrameCommitment { func: f.u32("func")?, pc: f.u32("pc")?, base: f.u32("base")? })
    }
    fn leaves(&self, key: &str) -> Result<Leaves, FormatError> {
        let l = self.obj(key)?;
        let indices = l.array("indices")?;
        let indices = indices
            .iter()
            .map(|v| v.as_u64().and_then(|i| u32::try_from(i).ok()))
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| FormatError(format!("{} holds an index that is not a u32", l.path("indices"))))?;
        let values = slots_of(l.array("values")?, &l.path("values"))?;
        Ok(Leaves { count: l.u32("count")?, indices, values, proof: l.hashes("proof")? })
    }
    fn flags(&self, key: &str) -> Result<Vec<bool>, FormatError> {
        self.array(key)?
            .iter()
            .map(|v| v.as_bool().ok_or_else(|| FormatError(format!("{} holds a non-boolean", self.path(key)))))
            .collect()
    }
}

fn hash_of(v: &Json, path: &str) -> Result<Hash, FormatError> {
    v.as_str().and_then(parse_hex).ok_or_else(|| FormatError(format!("{path} is not 0x and 64 hex digits")))
}

fn slots_of(values: &[Json], path: &str) -> Result<Vec<u64>, FormatError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .and_then(|s| s.strip_prefix("0x"))
                .filter(|d| d.len() == 16)
                .and_then(|d| u64::from_str_radix(d, 16).ok())
                .ok_or_else(|| FormatError(format!("{path}[{i}] is not 0x and 16 hex digits")))
        })
        .collect()
}

/// The longest JSON text read as a proof: far above any honest proof (its openings are
/// capped at what one step touches: at most 2,001 stack slots, four 64 KiB chunks), so
/// parsing a hostile text stays bounded.
pub const MAX_TEXT: usize = 2 << 20;

/// Reads the JSON form from text, refusing text over [`MAX_TEXT`] before parsing it.
pub fn from_str(text: &str) -> Result<Proof, FormatError> {
    if text.len() > MAX_TEXT {
        return bad(format!("{} bytes of JSON, more than any one-step proof ({MAX_TEXT} at most)", text.len()));
    }
    let value: Json = serde_json::from_str(text).map_err(|e| FormatError(format!("not JSON: {e}")))?;
    from_json(&value)
}

/// Reads what [`state_to_json`] writes.
pub fn state_from_json(v: &Json) -> Result<Commitment, FormatError> {
    let s = Obj::of(v, "state")?;
    let e = s.obj("environment")?;
    Ok(Commitment {
        context: s.hash("context")?,
        status: s.uint("status", u8::MAX as u64)? as u8,
        trap: s.u32("trap")?,
        trap_arg: s.u32("trap_arg")?,
        steps: s.u64("steps")?,
        gas_used: s.u64("gas_used")?,
        depth: s.u32("depth")?,
        height: s.u32("height")?,
        entry: s.u32("entry")?,
        frame: s.frame("frame")?,
        callers: s.hash("callers")?,
        stack: s.hash("stack")?,
        environment: match e.opt("sealed") {
            Some(_) => EnvironmentCommitment::Sealed(e.hash("sealed")?),
            None => EnvironmentCommitment::Open(Environment {
                globals: e.hash("globals")?,
                memories: e.hash("memories")?,
                tables: e.hash("tables")?,
                segments: e.hash("segments")?,
                output: e.hash("output")?,
                storage: e.hash("storage")?,
                io: e.hash("io")?,
            }),
        },
    })
}

/// Reads the JSON form.
pub fn from_json(v: &Json) -> Result<Proof, FormatError> {
    let p = Obj::of(v, "")?;
    let state = state_from_json(p.get("state")?)?;
    let caller = match p.opt("caller") {
        Some(c) => {
            let c = Obj::of(c, "caller")?;
            Some(Caller { frame: c.frame("frame")?, rest: c.hash("rest")? })
        }
        None => None,
    };
    let memory = match p.opt("memory") {
        Some(m) => {
            let m = Obj::of(m, "memory")?;
            let chunks = chunks_from_json(&m, "chunks")?;
            Some(MemoryOpening {
                index: m.u32("index")?,
                memories_proof: m.hashes("memories_proof")?,
                pages: m.u32("pages")?,
                max: m.u32("max")?,
                chunks,
                chunks_proof: m.hashes("chunks_proof")?,
            })
        }
        None => None,
    };
    let tables = match p.opt("tables") {
        Some(t) => {
            let t = Obj::of(t, "tables")?;
            let tables = t
                .array("tables")?
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let x = Obj::of(x, &format!("tables.tables[{i}]"))?;
                    Ok((x.u32("index")?, x.leaves("elements")?))
                })
                .collect::<Result<_, FormatError>>()?;
            Some(TablesOpening { tables, tables_proof: t.hashes("tables_proof")? })
        }
        None => None,
    };
    let segments = match p.opt("segments") {
        Some(x) => {
            let x = Obj::of(x, "segments")?;
            Some(Segments { elems: x.flags("elems")?, datas: x.flags("datas")? })
        }
        None => None,
    };
    Ok(Proof {
        version: p.u32("version")?,
        step: p.u64("step")?,
        pre_hash: p.hash("pre_hash")?,
        post_hash: p.hash("post_hash")?,
        state,
        stack: p.leaves("stack")?,
        caller,
        globals: p.opt("globals").map(|_| p.leaves("globals")).transpose()?,
        memory,
        tables,
        segments,
        storage: p.opt("storage").map(storage_from_json).transpose()?,
        io: p.opt("io").map(io_from_json).transpose()?,
    })
}
