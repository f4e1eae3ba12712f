//! Trace directories: a trace written to disk, to be reopened by another process.
//!
//! ```text
//! DIR/manifest.json             what the trace is, its checkpoints and its files
//! DIR/module.wasm               the module's bytes as given (binary or text)
//! DIR/final.snap                the machine at the run's end (stepper's snapshot format),
//!                               written as it is encoded
//! DIR/back/STEP.rewind          the way back to checkpoint STEP from the next one on the
//!                               chain, or from the end ([`stepper::Rewind::encode`])
//! ```
//!
//! A trace on disk costs what its run wrote: the final state once, and for each way back
//! the chunks written between two checkpoints as they were (none for fresh memory).
//! The manifest records each file's size and Keccak-256 and each checkpoint's state
//! hash. Opening checks every file's size and digest, decodes every way back, and
//! checks the final snapshot's state hash; a way back's state hash is checked when a
//! query goes back through it. So a truncated, corrupted or swapped file is reported,
//! never trusted. The manifest is written last, through a temporary file, so a
//! directory without one is an interrupted recording.

use std::fs;
use std::path::{Path, PathBuf};

use merkle_memory::{hash::keccak, hex, parse_hex, state_hash, Hash};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use stepper::{Machine, Rewind};

use crate::fault::{Executor, Progress};
use crate::trace::{Checkpoint, Limits, Trace};
use crate::{Call, Fault, TraceError};

pub const MANIFEST: &str = "manifest.json";
const MODULE: &str = "module.wasm";
const FINAL: &str = "final.snap";
const BACK: &str = "back";
const FORMAT: &str = "verigame-trace";
const VERSION: u64 = 2;

/// `manifest.json`.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u64,
    call: Json,
    module_file: String,
    fault: Option<String>,
    limits: StoredLimits,
    interval: u64,
    steps: u64,
    final_hash: String,
    /// In step order, the final state's last.
    checkpoints: Vec<StoredCheckpoint>,
    final_state: StoredFile,
}

#[derive(Serialize, Deserialize)]
struct StoredLimits {
    interval: u64,
    max_checkpoints: usize,
    memory_budget: usize,
    /// As text: JSON numbers past 2^53 do not survive every reader.
    max_steps: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCheckpoint {
    step: u64,
    state_hash: String,
    progress: Progress,
    /// The way back to it, if the trace keeps one.
    way_back: Option<StoredFile>,
}

/// A file of the directory, with what it must hold.
#[derive(Serialize, Deserialize)]
struct StoredFile {
    file: String,
    bytes: u64,
    digest: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TraceError + '_ {
    move |source| TraceError::Io { path: path.display().to_string(), source }
}

fn bad(path: &Path, what: impl std::fmt::Display) -> TraceError {
    TraceError::Format(format!("{}: {what}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file, so `path` is whole or absent.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TraceError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Writes `bytes` as `file` under `dir`, and what the manifest records of it.
fn store(dir: &Path, file: String, bytes: &[u8]) -> Result<StoredFile, TraceError> {
    write_atomically(&dir.join(&file), bytes)?;
    Ok(StoredFile { file, bytes: bytes.len() as u64, digest: hex(&keccak(bytes)) })
}

/// Writes `file` under `dir` as `encode` produces it, without holding its bytes, and what
/// the manifest records of it.
fn stream(
    dir: &Path,
    file: String,
    encode: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<u64>,
) -> Result<StoredFile, TraceError> {
    use sha3::{Digest, Keccak256};
    use std::io::Write;

    /// Passes bytes on to a file, hashing them on the way.
    struct Hashing<W> {
        out: W,
        hasher: Keccak256,
    }

    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.out.write(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }

    let path = dir.join(&file);
    let tmp = path.with_extension("tmp");
    let out = fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut sink = Hashing { out: std::io::BufWriter::new(out), hasher: Keccak256::new() };
    let bytes = encode(&mut sink).map_err(io(&tmp))?;
    sink.flush().map_err(io(&tmp))?;
    let digest: Hash = sink.hasher.finalize().into();
    fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(StoredFile { file, bytes, digest: hex(&digest) })
}

/// Reads the file `stored` names under `dir`, checking its size and digest.
fn load(dir: &Path, stored: &StoredFile) -> Result<Vec<u8>, TraceError> {
    let path = inside(dir, &stored.file, "file")?;
    let bytes = fs::read(&path).map_err(io(&path))?;
    if bytes.len() as u64 != stored.bytes {
        return Err(bad(
            &path,
            format!("{} bytes, the manifest records {}: truncated or overwritten", bytes.len(), stored.bytes),
        ));
    }
    if hex(&keccak(&bytes)) != stored.digest {
        return Err(bad(&path, "its contents do not match the manifest's digest: corrupted"));
    }
    Ok(bytes)
}

fn parse_hash(path: &Path, field: &str, text: &str) -> Result<Hash, TraceError> {
    parse_hex(text).ok_or_else(|| bad(path, format!("`{field}` {text} is not a 32-byte hex hash")))
}

impl Trace {
    /// Writes the trace into `dir` (created if missing; it must not hold a trace yet).
    /// The executor goes to the end first: the ways back lead from there.
    pub fn save(&mut self, dir: &Path) -> Result<(), TraceError> {
        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() {
            return Err(bad(dir, "already holds a trace; choose another directory"));
        }
        let end = self.steps();
        self.executor_at(end)?;
        self.lay()?;
        let back_dir = dir.join(BACK);
        fs::create_dir_all(&back_dir).map_err(io(&back_dir))?;
        write_atomically(&dir.join(MODULE), &self.call.module_bytes)?;
        let machine = &self.executor_at(end)?.machine;
        let final_state = stream(dir, FINAL.into(), |sink| machine.write_snapshot(sink))?;
        let mut ways_back = std::collections::HashMap::new();
        for rewind in self.ways_back() {
            let file = format!("{BACK}/{:020}.rewind", rewind.steps());
            ways_back.insert(rewind.steps(), store(dir, file, &rewind.encode())?);
        }
        let checkpoints = self
            .checkpoints()
            .map(|c| StoredCheckpoint {
                step: c.step,
                state_hash: hex(&c.hash),
                progress: c.progress,
                way_back: ways_back.remove(&c.step),
            })
            .collect();
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            call: self.call.to_json(),
            module_file: MODULE.into(),
            fault: self.fault.map(|f| f.to_string()),
            limits: StoredLimits {
                interval: self.limits.interval,
                max_checkpoints: self.limits.max_checkpoints,
                memory_budget: self.limits.memory_budget,
                max_steps: self.limits.max_steps.to_string(),
            },
            interval: self.interval(),
            steps: end,
            final_hash: hex(&self.final_hash()),
            checkpoints,
            final_state,
        };
        let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
        write_atomically(&manifest_path, text.as_bytes())
    }

    /// Reopens a trace that [`Trace::save`] wrote, checking every file.
    pub fn open(dir: &Path) -> Result<Trace, TraceError> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Err(bad(dir, "no manifest.json: not a trace directory, or its recording was interrupted"));
        }
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let format: Json = serde_json::from_str(&text).map_err(|e| bad(&path, format!("not valid JSON ({e})")))?;
        if format["format"].as_str() != Some(FORMAT) || format["version"].as_u64() != Some(VERSION) {
            return Err(bad(&path, format!("not a {FORMAT} manifest of version {VERSION}")));
        }
        let m: Manifest = serde_json::from_value(format).map_err(|e| bad(&path, format!("a bad manifest ({e})")))?;
        let module_bytes = load_module(dir, &m.module_file)?;
        let call = Call::from_json(&m.call, module_bytes).map_err(|e| bad(&path, e))?;
        let fault = m.fault.as_deref().map(str::parse::<Fault>).transpose().map_err(|e| bad(&path, e))?;
        let limits = Limits {
            interval: m.limits.interval,
            max_checkpoints: m.limits.max_checkpoints,
            memory_budget: m.limits.memory_budget,
            max_steps: m.limits.max_steps.parse().map_err(|_| bad(&path, "bad `limits.max_steps`"))?,
        };
        if limits.interval == 0 || limits.max_checkpoints < 2 {
            return Err(bad(&path, "bad `limits`: an interval of 0 or fewer than two checkpoints"));
        }
        let checkpoints = m
            .checkpoints
            .iter()
            .map(|c| {
                Ok(Checkpoint {
                    step: c.step,
                    hash: parse_hash(&path, "state_hash", &c.state_hash)?,
                    progress: c.progress,
                })
            })
            .collect::<Result<Vec<_>, TraceError>>()?;
        let final_hash = parse_hash(&path, "final_hash", &m.final_hash)?;
        match checkpoints.last() {
            Some(last) if last.step == m.steps && last.hash == final_hash => {}
            _ => return Err(bad(&path, "the last checkpoint is not the recorded final state")),
        }
        if checkpoints.windows(2).any(|w| w[0].step >= w[1].step) {
            return Err(bad(&path, "the checkpoints are not in step order"));
        }
        let modules = std::slice::from_ref(&call.module);
        let snap = load(dir, &m.final_state)?;
        let final_path = dir.join(&m.final_state.file);
        let machine = Machine::restore(&snap, modules).map_err(|e| bad(&final_path, e))?;
        drop(snap);
        let mut live = Executor { machine, fault, progress: checkpoints.last().expect("checked").progress };
        let hash = state_hash(&mut live.machine);
        if hash != final_hash || live.steps() != m.steps {
            return Err(bad(
                &final_path,
                format!("restores to step {} with state {}, not the recorded final state", live.steps(), hex(&hash)),
            ));
        }
        let mut back = Vec::new();
        for c in &m.checkpoints {
            let Some(stored) = &c.way_back else { continue };
            let file = dir.join(&stored.file);
            let rewind = Rewind::decode(&load(dir, stored)?, modules).map_err(|e| bad(&file, e))?;
            if rewind.steps() != c.step || c.step == m.steps {
                return Err(bad(&file, format!("leads to step {}, not to checkpoint {}", rewind.steps(), c.step)));
            }
            back.push(rewind);
        }
        Ok(Trace::from_parts(call, fault, limits, checkpoints, live, back, m.interval))
    }
}

fn load_module(dir: &Path, file: &str) -> Result<Vec<u8>, TraceError> {
    let path = inside(dir, file, "module")?;
    fs::read(&path).map_err(io(&path))
}

/// The path of `file`, which the manifest names as a `what` of the trace: refused if it
/// would lead outside `dir`.
fn inside(dir: &Path, file: &str, what: &str) -> Result<PathBuf, TraceError> {
    if file.contains("..") || Path::new(file).is_absolute() {
        return Err(bad(dir, format!("the manifest names a {what} outside the trace: {file}")));
    }
    Ok(dir.join(file))
}
