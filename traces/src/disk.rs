//! Trace directories: a trace written to disk, to be reopened by another process.
//!
//! ```text
//! DIR/manifest.json             what the trace is, and the list of checkpoints
//! DIR/module.wasm               the module's bytes as given (binary or text)
//! DIR/checkpoints/STEP.snap     a machine snapshot (stepper's binary format) per checkpoint
//! ```
//!
//! The manifest records each file's size and Keccak-256, and each checkpoint's state
//! hash; opening checks all three (the state hash by restoring the snapshot and hashing
//! it), so a truncated, corrupted or swapped file is reported, never trusted. The
//! manifest is written last, through a temporary file, so a directory without one is an
//! interrupted recording.

use std::fs;
use std::path::{Path, PathBuf};

use merkle_memory::{hash::keccak, hex, parse_hex, state_hash, Hash};
use serde_json::{json, Value as Json};
use stepper::Machine;

use crate::fault::{Executor, Progress};
use crate::trace::{Checkpoint, Limits, Trace};
use crate::{Call, Fault, TraceError};

pub const MANIFEST: &str = "manifest.json";
const MODULE: &str = "module.wasm";
const CHECKPOINTS: &str = "checkpoints";
const FORMAT: &str = "verigame-trace";
const VERSION: u64 = 1;

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

fn progress_json(p: Progress) -> Json {
    match p {
        Progress::Pending => json!("pending"),
        Progress::Done => json!("done"),
        Progress::Stopped => json!("stopped"),
        Progress::Extending { until } => json!({"extending_until": until}),
    }
}

fn progress_from_json(v: &Json) -> Option<Progress> {
    Some(match v.as_str() {
        Some("pending") => Progress::Pending,
        Some("done") => Progress::Done,
        Some("stopped") => Progress::Stopped,
        _ => Progress::Extending { until: v["extending_until"].as_u64()? },
    })
}

impl Trace {
    /// Writes the trace into `dir` (created if missing; it must not hold a trace yet).
    pub fn save(&self, dir: &Path) -> Result<(), TraceError> {
        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() {
            return Err(bad(dir, "already holds a trace; choose another directory"));
        }
        let checkpoint_dir = dir.join(CHECKPOINTS);
        fs::create_dir_all(&checkpoint_dir).map_err(io(&checkpoint_dir))?;
        write_atomically(&dir.join(MODULE), &self.call.module_bytes)?;
        let mut entry = |c: &Checkpoint| -> Result<Json, TraceError> {
            let bytes = c.executor.machine.snapshot();
            let file = format!("{CHECKPOINTS}/{:020}.snap", c.step);
            write_atomically(&dir.join(&file), &bytes)?;
            Ok(json!({
                "step": c.step,
                "state_hash": hex(&c.hash),
                "file": file,
                "bytes": bytes.len(),
                "digest": hex(&keccak(&bytes)),
                "progress": progress_json(c.executor.progress),
            }))
        };
        let checkpoints = self.checkpoints().map(&mut entry).collect::<Result<Vec<_>, _>>()?;
        let last = entry(self.last())?;
        let manifest = json!({
            "format": FORMAT,
            "version": VERSION,
            "call": self.call.to_json(),
            "module_file": MODULE,
            "fault": self.fault.map(|f| f.to_string()),
            "limits": {
                "interval": self.limits.interval,
                "max_checkpoints": self.limits.max_checkpoints,
                "memory_budget": self.limits.memory_budget,
                "max_steps": self.limits.max_steps.to_string(),
            },
            "interval": self.interval(),
            "steps": self.steps(),
            "final_hash": hex(&self.final_hash()),
            "checkpoints": checkpoints,
            "last": last,
        });
        let text = serde_json::to_string_pretty(&manifest).expect("JSON values serialize");
        write_atomically(&manifest_path, text.as_bytes())
    }

    /// Reopens a trace that [`Trace::save`] wrote, checking every file.
    pub fn open(dir: &Path) -> Result<Trace, TraceError> {
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.exists() {
            return Err(bad(dir, "no manifest.json: not a trace directory, or its recording was interrupted"));
        }
        let text = fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
        let m: Json = serde_json::from_str(&text).map_err(|e| bad(&manifest_path, format!("not valid JSON ({e})")))?;
        let field = |name: &str| {
            let v = &m[name];
            if v.is_null() {
                Err(bad(&manifest_path, format!("no `{name}`")))
            } else {
                Ok(v)
            }
        };
        if field("format")?.as_str() != Some(FORMAT) || field("version")?.as_u64() != Some(VERSION) {
            return Err(bad(&manifest_path, format!("not a {FORMAT} manifest of version {VERSION}")));
        }
        let module_file =
            dir.join(field("module_file")?.as_str().ok_or_else(|| bad(&manifest_path, "bad `module_file`"))?);
        let module_bytes = fs::read(&module_file).map_err(io(&module_file))?;
        let call = Call::from_json(field("call")?, module_bytes).map_err(|e| bad(&manifest_path, e))?;
        let fault = match &m["fault"] {
            Json::Null => None,
            v => Some(
                v.as_str()
                    .ok_or_else(|| bad(&manifest_path, "bad `fault`"))?
                    .parse::<Fault>()
                    .map_err(|e| bad(&manifest_path, e))?,
            ),
        };
        let limits = limits_from_json(field("limits")?).ok_or_else(|| bad(&manifest_path, "bad `limits`"))?;
        let interval = field("interval")?.as_u64().ok_or_else(|| bad(&manifest_path, "bad `interval`"))?;
        let steps = field("steps")?.as_u64().ok_or_else(|| bad(&manifest_path, "bad `steps`"))?;
        let final_hash = parse_hash(field("final_hash")?).ok_or_else(|| bad(&manifest_path, "bad `final_hash`"))?;
        let entries = field("checkpoints")?.as_array().ok_or_else(|| bad(&manifest_path, "bad `checkpoints`"))?;
        let checkpoints =
            entries.iter().map(|e| read_checkpoint(dir, e, &call, fault)).collect::<Result<Vec<_>, _>>()?;
        let last = read_checkpoint(dir, field("last")?, &call, fault)?;
        if last.step != steps || last.hash != final_hash {
            return Err(bad(&manifest_path, "the last checkpoint is not the recorded final state"));
        }
        if !checkpoints.iter().any(|c| c.step <= steps) || checkpoints.windows(2).any(|w| w[0].step >= w[1].step) {
            return Err(bad(&manifest_path, "the checkpoints are not in step order"));
        }
        Ok(Trace::from_parts(call, fault, limits, checkpoints, last, interval))
    }
}

fn parse_hash(v: &Json) -> Option<Hash> {
    parse_hex(v.as_str()?)
}

fn limits_from_json(v: &Json) -> Option<Limits> {
    Some(Limits {
        interval: v["interval"].as_u64().filter(|&n| n > 0)?,
        max_checkpoints: usize::try_from(v["max_checkpoints"].as_u64()?).ok().filter(|&n| n >= 2)?,
        memory_budget: usize::try_from(v["memory_budget"].as_u64()?).ok()?,
        max_steps: v["max_steps"].as_str()?.parse().ok()?,
    })
}

/// Reads, checks and restores one checkpoint the manifest lists.
fn read_checkpoint(dir: &Path, entry: &Json, call: &Call, fault: Option<Fault>) -> Result<Checkpoint, TraceError> {
    let file = entry["file"]
        .as_str()
        .filter(|f| !f.contains(".."))
        .ok_or_else(|| bad(dir, format!("bad checkpoint entry {entry}")))?;
    let path: PathBuf = dir.join(file);
    let field = |name: &str| entry[name].as_u64().ok_or_else(|| bad(&path, format!("the manifest gives no `{name}`")));
    let (step, size) = (field("step")?, field("bytes")?);
    let (Some(expected_hash), Some(digest), Some(progress)) =
        (parse_hash(&entry["state_hash"]), parse_hash(&entry["digest"]), progress_from_json(&entry["progress"]))
    else {
        return Err(bad(&path, "the manifest's entry lacks its state hash, digest or progress"));
    };
    let bytes = fs::read(&path).map_err(io(&path))?;
    if bytes.len() as u64 != size {
        return Err(bad(
            &path,
            format!("{} bytes, the manifest records {size}: truncated or overwritten", bytes.len()),
        ));
    }
    if keccak(&bytes) != digest {
        return Err(bad(&path, "its contents do not match the manifest's digest: corrupted"));
    }
    let machine = Machine::restore(&bytes, std::slice::from_ref(&call.module)).map_err(|e| bad(&path, e))?;
    let mut executor = Executor { machine, fault, progress };
    let hash = state_hash(&mut executor.machine);
    if hash != expected_hash || executor.steps() != step {
        return Err(bad(
            &path,
            format!("restores to step {} with state {}, not the recorded step {step}", executor.steps(), hex(&hash)),
        ));
    }
    Ok(Checkpoint { step, hash, executor })
}
