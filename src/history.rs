//! A node's history on disk: what it runs, an append-only log of committed blocks, and
//! state snapshots at an interval.
//!
//! ```text
//! DIR/node.json                what the node runs: module hash, configuration, snapshot interval, fault
//! DIR/module.wasm              the contract module's bytes
//! DIR/blocks.log               one line per committed block: JSON, a tab, the Keccak-256 of the JSON
//! DIR/snapshots/HEIGHT.snap    the machine after block HEIGHT (stepper's snapshot format)
//! ```
//!
//! A block is committed once its line is written and synced. A line cut short by a crash
//! (no newline, or a checksum that does not match on the last line) was never
//! committed and is dropped when the log is reopened; a bad line before the last one is
//! corruption and is reported. Snapshots are written through a temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use merkle_memory::{hash::keccak, hex, parse_hex, state_hash, Hash};
use serde_json::{json, Value as Json};
use stepper::{Config, Machine, Module, Value};
use traces::call::{config_from_json, config_to_json, value_from_json, value_to_json};

const NODE: &str = "node.json";
const MODULE: &str = "module.wasm";
const LOG: &str = "blocks.log";
const SNAPSHOTS: &str = "snapshots";

/// What a node runs: fixed for its whole history.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    pub module_bytes: Arc<Vec<u8>>,
    pub module: Arc<Module>,
    pub config: Config,
    /// Blocks between state snapshots.
    pub snapshot_interval: u64,
}

/// How one transaction ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TxOutcome {
    /// `returned`, `trapped`, `out_of_gas`, `stopped` (a faulty executor's early end) or
    /// `rejected` (not a valid call).
    pub status: String,
    pub results: Vec<Value>,
    pub steps: u64,
    pub gas: u64,
    pub error: Option<String>,
}

/// A transaction as committed: its bytes (a JSON call), its outcome and the state hash
/// after it.
#[derive(Clone, Debug, PartialEq)]
pub struct TxRecord {
    pub tx: Vec<u8>,
    pub outcome: TxOutcome,
    pub post_hash: Hash,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockRecord {
    pub height: u64,
    pub txs: Vec<TxRecord>,
    pub app_hash: Hash,
}

impl TxOutcome {
    pub fn to_json(&self) -> Json {
        json!({
            "status": self.status,
            "results": self.results.iter().map(value_to_json).collect::<Vec<_>>(),
            "steps": self.steps,
            "gas": self.gas,
            "error": self.error,
        })
    }

    pub fn from_json(v: &Json) -> Option<Self> {
        let results = v["results"].as_array()?.iter().map(|r| value_from_json(r).ok()).collect::<Option<Vec<_>>>()?;
        Some(Self {
            status: v["status"].as_str()?.to_string(),
            results,
            steps: v["steps"].as_u64()?,
            gas: v["gas"].as_u64()?,
            error: v["error"].as_str().map(str::to_string),
        })
    }
}

impl TxRecord {
    pub fn to_json(&self) -> Json {
        json!({
            "tx": String::from_utf8_lossy(&self.tx),
            "tx_hex": merkle_memory::hash::bytes_to_hex(&self.tx),
            "outcome": self.outcome.to_json(),
            "post_hash": hex(&self.post_hash),
        })
    }

    fn from_json(v: &Json) -> Option<Self> {
        Some(Self {
            tx: merkle_memory::hash::hex_to_bytes(v["tx_hex"].as_str()?)?,
            outcome: TxOutcome::from_json(&v["outcome"])?,
            post_hash: parse_hex(v["post_hash"].as_str()?)?,
        })
    }
}

impl BlockRecord {
    pub fn to_json(&self) -> Json {
        json!({
            "height": self.height,
            "app_hash": hex(&self.app_hash),
            "txs": self.txs.iter().map(TxRecord::to_json).collect::<Vec<_>>(),
        })
    }

    fn from_json(v: &Json) -> Option<Self> {
        Some(Self {
            height: v["height"].as_u64()?,
            app_hash: parse_hex(v["app_hash"].as_str()?)?,
            txs: v["txs"].as_array()?.iter().map(TxRecord::from_json).collect::<Option<Vec<_>>>()?,
        })
    }
}

/// Whether `dir` holds a node's history.
pub fn exists(dir: &Path) -> bool {
    dir.join(NODE).exists()
}

/// A history directory opened for appending.
pub struct History {
    dir: PathBuf,
    log: File,
    pub setup: NodeSetup,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn open_log(dir: &Path) -> Result<File> {
    let path = dir.join(LOG);
    OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("cannot open {}", path.display()))
}

impl History {
    /// Starts a history in `dir` (created if missing; it must not hold one yet).
    pub fn create(dir: &Path, setup: NodeSetup) -> Result<Self> {
        if dir.join(NODE).exists() {
            bail!("{} already holds a node's history; open it instead", dir.display());
        }
        fs::create_dir_all(dir.join(SNAPSHOTS)).with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomically(&dir.join(MODULE), &setup.module_bytes)?;
        let node = json!({
            "format": "verigame-node",
            "version": 1,
            "module_hash": hex(&keccak(&setup.module_bytes)),
            "config": config_to_json(&setup.config),
            "snapshot_interval": setup.snapshot_interval,
        });
        write_atomically(&dir.join(NODE), serde_json::to_string_pretty(&node)?.as_bytes())?;
        Ok(Self { log: open_log(dir)?, dir: dir.to_path_buf(), setup })
    }

    /// Reopens a history and reads its committed blocks, dropping a last line that a
    /// crash cut short.
    pub fn open(dir: &Path) -> Result<(Self, Vec<BlockRecord>)> {
        Self::read(dir, true)
    }

    /// Reads a history; with `repair`, also cuts a torn last line from the log (a node
    /// does before appending; a validator reading another node's history does not).
    pub fn read(dir: &Path, repair: bool) -> Result<(Self, Vec<BlockRecord>)> {
        let setup = read_setup(dir)?;
        let blocks = read_log(&dir.join(LOG), repair)?;
        let log = if repair {
            open_log(dir)?
        } else {
            File::open(dir.join(LOG)).with_context(|| format!("cannot read {}", dir.join(LOG).display()))?
        };
        Ok((Self { log, dir: dir.to_path_buf(), setup }, blocks))
    }
}

/// What the history in `dir` fixes: its contract, configuration and snapshot interval,
/// without reading its blocks.
pub fn read_setup(dir: &Path) -> Result<NodeSetup> {
    let node_path = dir.join(NODE);
    let text = fs::read_to_string(&node_path)
        .with_context(|| format!("{} is not a node history (no {NODE})", dir.display()))?;
    let node: Json =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", node_path.display()))?;
    if node["format"] != "verigame-node" || node["version"] != 1 {
        bail!("{}: not a verigame-node history of version 1", node_path.display());
    }
    let module_bytes =
        fs::read(dir.join(MODULE)).with_context(|| format!("cannot read {}", dir.join(MODULE).display()))?;
    if node["module_hash"].as_str() != Some(&hex(&keccak(&module_bytes))) {
        bail!("{}: the module's hash is not the one {NODE} records", dir.join(MODULE).display());
    }
    let config = config_from_json(&node["config"]).with_context(|| format!("{}: bad config", node_path.display()))?;
    let snapshot_interval = node["snapshot_interval"]
        .as_u64()
        .filter(|&n| n > 0)
        .with_context(|| format!("{}: bad snapshot_interval", node_path.display()))?;
    let module = Module::new(&module_bytes)?;
    Ok(NodeSetup { module_bytes: Arc::new(module_bytes), module, config, snapshot_interval })
}

impl History {
    /// Appends a committed block and syncs it to disk.
    pub fn append(&mut self, block: &BlockRecord) -> Result<()> {
        let text = block.to_json().to_string();
        let line = format!("{text}\t{}\n", hex(&keccak(text.as_bytes())));
        self.log.write_all(line.as_bytes()).and_then(|_| self.log.sync_data()).context("cannot append to blocks.log")
    }

    /// The history's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The history's snapshot folder.
    pub fn snapshots(&self) -> Snapshots {
        Snapshots { dir: self.dir.join(SNAPSHOTS) }
    }

    /// The latest snapshot at or below `height` whose state hash is `app_hash(height)`,
    /// restored; snapshots that do not restore to their block's app hash are reported.
    pub fn latest_snapshot(
        &self,
        height: u64,
        app_hash: impl Fn(u64) -> Option<Hash>,
    ) -> Result<Option<(u64, Machine)>> {
        let snapshots = self.snapshots();
        let heights = snapshots.heights()?;
        let Some(&h) = heights.iter().rev().find(|&&h| h <= height) else { return Ok(None) };
        let path = snapshots.path(h);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut machine = Machine::restore(&bytes, std::slice::from_ref(&self.setup.module))
            .with_context(|| format!("{}", path.display()))?;
        if Some(state_hash(&mut machine)) != app_hash(h) {
            bail!("{}: the snapshot does not restore to block {h}'s app hash", path.display());
        }
        Ok(Some((h, machine)))
    }
}

/// A history's snapshot folder, apart from the history: a node writes a snapshot after
/// releasing its state's lock.
#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub fn save(&self, height: u64, machine: &Machine) -> Result<()> {
        write_atomically(&self.path(height), &machine.snapshot())
    }

    fn path(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{height:020}.snap"))
    }

    /// The heights of the snapshots on disk, in increasing order.
    pub fn heights(&self) -> Result<Vec<u64>> {
        let mut heights: Vec<u64> = fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read {}", self.dir.display()))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".snap")?.parse().ok())
            .collect();
        heights.sort_unstable();
        Ok(heights)
    }

    /// Removes all but the newest `keep` snapshots (at least one stays).
    pub fn prune(&self, keep: usize) -> Result<()> {
        let heights = self.heights()?;
        let old = heights.len().saturating_sub(keep.max(1));
        for &h in &heights[..old] {
            let path = self.path(h);
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }
}

/// The committed blocks in the log, without a last line cut short by a crash (which
/// `repair` also removes from the file).
fn read_log(path: &Path, repair: bool) -> Result<Vec<BlockRecord>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut blocks = Vec::new();
    let mut offset = 0;
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match parse_line(line) {
            Some(block) if blocks.last().is_none_or(|b: &BlockRecord| b.height + 1 == block.height) => {
                blocks.push(block)
            }
            Some(_) => bail!("{}: line {} is out of height order", path.display(), i + 1),
            None if last && !repair => break,
            None if last => {
                // Never committed: the crash came before its sync finished.
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("cannot repair {}", path.display()))?;
                f.set_len(offset as u64)
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("cannot repair {}", path.display()))?;
                break;
            }
            None => bail!("{}: line {} is damaged (bad checksum or JSON)", path.display(), i + 1),
        }
        offset += line.len();
    }
    Ok(blocks)
}

fn parse_line(line: &[u8]) -> Option<BlockRecord> {
    let line = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let (text, check) = line.rsplit_once('\t')?;
    if parse_hex(check)? != keccak(text.as_bytes()) {
        return None;
    }
    BlockRecord::from_json(&serde_json::from_str(text).ok()?)
}
