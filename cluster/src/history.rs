//! A node's history on disk: what it runs, an append-only log of committed blocks, and
//! state snapshots at an interval.
//!
//! ```text
//! DIR/node.json                what the node runs: module hash, configuration, snapshot interval
//! DIR/module.wasm              the contract module's bytes
//! DIR/blocks.log               one line per committed block: JSON, a tab, the Keccak-256 of the JSON
//! DIR/snapshots/HEIGHT.snap    the machine after block HEIGHT (stepper's snapshot format)
//! DIR/snapshots/HEIGHT.meta    its state sync metadata (crate::sync), absent at height 0
//! DIR/restore/                 chunks of a snapshot being received by state sync
//! ```
//!
//! A node that joined by state sync has a base: node.json names the block B whose
//! snapshot it restored, its log starts at B + 1, and the snapshot at B is never pruned.
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
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use stepper::{Config, Machine, Module, Value};
use traces::call::{config_from_json, config_to_json};

use crate::serde_hex;

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
    pub chain: Chain,
}

/// What the chain fixes besides its contract: its id, which every transaction's signature
/// binds; the key allowed to mint, which the contract finds under its storage key `admin`
/// from its instantiation on; and the gas a block's transactions may reserve together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub id: String,
    #[serde(default, with = "serde_hex::optional_hash", skip_serializing_if = "Option::is_none")]
    pub admin: Option<Hash>,
    pub block_gas_limit: u64,
}

/// The gas a block may reserve unless the chain sets another budget: about half a second
/// of looping calls on the 2-core machine the figures come from (docs/benchmarks.md).
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 100_000_000;

impl Chain {
    /// A chain named `id` with no admin and the default block gas limit.
    pub fn named(id: &str) -> Self {
        Self { id: id.to_string(), admin: None, block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT }
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    Returned,
    Trapped,
    OutOfGas,
    /// A faulty executor's early end.
    Stopped,
    /// Not a valid call: not JSON, no such export, wrong arguments.
    #[default]
    Rejected,
}

impl TxStatus {
    /// The status's byte in an outcome's commitment (docs/spec.md).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// How one transaction ended. The app hash commits to all of it but `error`, a
/// description for people (its wording may change between versions): standard output
/// and error through their Keccak-256 (docs/spec.md, "The cluster's chain").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TxOutcome {
    pub status: TxStatus,
    #[serde(with = "serde_hex::values")]
    pub results: Vec<Value>,
    pub steps: u64,
    pub gas: u64,
    pub error: Option<String>,
    /// The exit code, when the program ended the call with `proc_exit` (0: it succeeded).
    #[serde(default)]
    pub exit_code: Option<u32>,
    /// What the call wrote to standard output: its output bytes (docs/abi.md). Kept
    /// when the call failed, though its state is not.
    #[serde(default, with = "serde_hex::text_or_hex")]
    pub stdout: Vec<u8>,
    /// What it wrote to standard error: diagnostics, a panic's message.
    #[serde(default, with = "serde_hex::text_or_hex")]
    pub stderr: Vec<u8>,
    /// The values it emitted (`verigame.emit`), in order.
    #[serde(default)]
    pub emitted: Vec<i64>,
}

/// A transaction as committed: its bytes (a JSON call), its outcome and the state hash
/// after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxRecord {
    #[serde(rename = "tx_hex", with = "serde_hex::bytes")]
    pub tx: Vec<u8>,
    pub outcome: TxOutcome,
    #[serde(with = "serde_hex::hash")]
    pub post_hash: Hash,
}

/// A committed block: its transactions, the state after them and the app hash, which
/// commits to both (crate::commitment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub height: u64,
    pub txs: Vec<TxRecord>,
    /// The contract's state hash after the block: its last transaction's post-state, or
    /// the previous block's state when it has none.
    #[serde(with = "serde_hex::hash")]
    pub state_hash: Hash,
    #[serde(with = "serde_hex::hash")]
    pub app_hash: Hash,
}

const FORMAT: &str = "verigame-node";
/// Version 4: transactions carry input bytes (envelope version 2), outcomes their exit
/// code, output streams and emitted values; 3: the chain (id, admin, block gas limit)
/// in node.json; 2: outcomes committed in the app hash, blocks record their state hash.
const VERSION: u64 = 4;

/// A block as a snapshot names it: enough to recompute its app hash from the state hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    pub height: u64,
    #[serde(with = "serde_hex::hash")]
    pub state_hash: Hash,
    /// The root over the block's outcome leaves (crate::commitment).
    #[serde(with = "serde_hex::hash")]
    pub outcomes_root: Hash,
    pub transactions: u32,
}

impl BlockSummary {
    pub fn of(block: &BlockRecord) -> Self {
        Self {
            height: block.height,
            state_hash: block.state_hash,
            outcomes_root: crate::commitment::outcomes_root(&block.txs),
            transactions: block.txs.len() as u32,
        }
    }

    /// The fresh contract, whose state hash is `state_hash`, at height 0.
    pub fn fresh(state_hash: Hash) -> Self {
        Self { height: 0, state_hash, outcomes_root: merkle_memory::hash::EMPTY, transactions: 0 }
    }

    pub fn app_hash(&self) -> Hash {
        crate::commitment::app_hash_from_root(&self.state_hash, &self.outcomes_root, self.transactions)
    }
}

/// `node.json`.
#[derive(Serialize, Deserialize)]
struct NodeFile {
    format: String,
    version: u64,
    #[serde(with = "serde_hex::hash")]
    module_hash: Hash,
    /// traces' configuration JSON.
    config: Json,
    snapshot_interval: u64,
    chain: Chain,
    /// The block a state-synced node started from (absent: the contract's instantiation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<BlockSummary>,
}

impl NodeFile {
    fn of(setup: &NodeSetup, base: Option<BlockSummary>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            module_hash: keccak(&setup.module_bytes),
            config: config_to_json(&setup.config),
            snapshot_interval: setup.snapshot_interval,
            chain: setup.chain.clone(),
            base,
        }
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
    /// Where each block's line starts in the log, in height order, and the log's end: a
    /// block is read back from disk, not kept in memory.
    offsets: Vec<u64>,
    /// The block a state-synced node started from.
    pub base: Option<BlockSummary>,
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
        write_atomically(&dir.join(NODE), serde_json::to_string_pretty(&NodeFile::of(&setup, None))?.as_bytes())?;
        Ok(Self { log: open_log(dir)?, dir: dir.to_path_buf(), setup, offsets: vec![0], base: None })
    }

    /// Makes this history, which has no block yet, start after `base`, whose snapshot
    /// state sync has saved: node.json, rewritten atomically, is the switch.
    pub fn rebase(&mut self, base: BlockSummary) -> Result<()> {
        if self.first_height() != 0 || fs::metadata(self.dir.join(LOG)).is_ok_and(|m| m.len() > 0) {
            bail!("{}: only a history with no block yet can start from a snapshot", self.dir.display());
        }
        let node = NodeFile::of(&self.setup, Some(base));
        write_atomically(&self.dir.join(NODE), serde_json::to_string_pretty(&node)?.as_bytes())?;
        self.base = Some(base);
        Ok(())
    }

    /// The height the history starts at: its base, or 0.
    pub fn first_height(&self) -> u64 {
        self.base.map_or(0, |b| b.height)
    }

    /// Refuses a height below the base: the node never had that state.
    pub fn check_held(&self, height: u64) -> Result<()> {
        match self.base {
            Some(base) if height < base.height => bail!(
                "block {height} is below this node's base: it joined by state sync at block {} and holds nothing earlier",
                base.height
            ),
            _ => Ok(()),
        }
    }

    /// The log's blocks after `after` up to `upto`, of the log `blocks` this history
    /// read; an error names heights the history does not hold.
    pub fn span<'a>(&self, blocks: &'a [BlockRecord], after: u64, upto: u64) -> Result<&'a [BlockRecord]> {
        self.check_held(after)?;
        let first = self.first_height();
        let range = (after - first) as usize..(upto.saturating_sub(first)) as usize;
        blocks.get(range).with_context(|| format!("the history holds no blocks {}..={upto}", after + 1))
    }

    /// Reopens a history and reads its committed blocks, dropping a last line that a
    /// crash cut short.
    pub fn open(dir: &Path) -> Result<(Self, Vec<BlockRecord>)> {
        Self::read(dir, true)
    }

    /// Reads a history; with `repair`, also cuts a torn last line from the log (a node
    /// does before appending; a validator reading another node's history does not).
    pub fn read(dir: &Path, repair: bool) -> Result<(Self, Vec<BlockRecord>)> {
        let (setup, base) = read_node(dir)?;
        let (blocks, offsets) = read_log(&dir.join(LOG), repair)?;
        let log = if repair {
            open_log(dir)?
        } else {
            File::open(dir.join(LOG)).with_context(|| format!("cannot read {}", dir.join(LOG).display()))?
        };
        let first = base.map_or(0, |b| b.height);
        if blocks.first().is_some_and(|b| b.height != first + 1) {
            bail!("{}: the log does not start at height {}", dir.display(), first + 1);
        }
        Ok((Self { log, dir: dir.to_path_buf(), setup, offsets, base }, blocks))
    }
}

/// What the history in `dir` fixes: its contract, configuration and snapshot interval,
/// without reading its blocks.
pub fn read_setup(dir: &Path) -> Result<NodeSetup> {
    Ok(read_node(dir)?.0)
}

/// node.json and module.wasm: the setup and the base, if the node joined by state sync.
fn read_node(dir: &Path) -> Result<(NodeSetup, Option<BlockSummary>)> {
    let node_path = dir.join(NODE);
    let text = fs::read_to_string(&node_path)
        .with_context(|| format!("{} is not a node history (no {NODE})", dir.display()))?;
    let node: NodeFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a node's setup", node_path.display()))?;
    if node.format != FORMAT || node.version != VERSION {
        bail!("{}: not a {FORMAT} history of version {VERSION}", node_path.display());
    }
    let module_bytes =
        fs::read(dir.join(MODULE)).with_context(|| format!("cannot read {}", dir.join(MODULE).display()))?;
    if node.module_hash != keccak(&module_bytes) {
        bail!("{}: the module's hash is not the one {NODE} records", dir.join(MODULE).display());
    }
    let config = config_from_json(&node.config).with_context(|| format!("{}: bad config", node_path.display()))?;
    let snapshot_interval = node.snapshot_interval;
    if snapshot_interval == 0 {
        bail!("{}: the snapshot interval is 0", node_path.display());
    }
    let module = Module::new(&module_bytes)?;
    Ok((
        NodeSetup { module_bytes: Arc::new(module_bytes), module, config, snapshot_interval, chain: node.chain },
        node.base,
    ))
}

impl History {
    /// Appends a committed block and syncs it to disk.
    pub fn append(&mut self, block: &BlockRecord) -> Result<()> {
        let text = serde_json::to_string(block).expect("a block serializes");
        let line = format!("{text}\t{}\n", hex(&keccak(text.as_bytes())));
        self.log
            .write_all(line.as_bytes())
            .and_then(|_| self.log.sync_data())
            .context("cannot append to blocks.log")?;
        let end = self.offsets.last().expect("the log's end") + line.len() as u64;
        self.offsets.push(end);
        Ok(())
    }

    /// Block `height` as the log records it, read from disk.
    pub fn block(&self, height: u64) -> Result<BlockRecord> {
        use std::io::{BufRead, BufReader, Seek, SeekFrom};
        let index = height.checked_sub(self.first_height() + 1).map(|i| i as usize);
        let Some(&start) = index.and_then(|i| self.offsets.get(i + 1).and(self.offsets.get(i))) else {
            bail!("the log holds no block {height}");
        };
        let path = self.dir.join(LOG);
        let mut reader = BufReader::new(File::open(&path).with_context(|| format!("cannot read {}", path.display()))?);
        let mut line = Vec::new();
        reader
            .seek(SeekFrom::Start(start))
            .and_then(|_| reader.read_until(b'\n', &mut line))
            .with_context(|| format!("cannot read {}", path.display()))?;
        parse_line(&line).with_context(|| format!("{}: block {height}'s line is damaged", path.display()))
    }

    /// The history's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The history's snapshot folder.
    pub fn snapshots(&self) -> Snapshots {
        Snapshots { dir: self.dir.join(SNAPSHOTS), base: self.base.map(|b| b.height) }
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
        // A snapshot below the base could not be checked against the log.
        let Some(&h) = heights.iter().rev().find(|&&h| h <= height && h >= self.first_height()) else {
            return Ok(None);
        };
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
    /// The base snapshot of a state-synced node: never pruned.
    base: Option<u64>,
}

impl Snapshots {
    pub fn save(&self, height: u64, machine: &Machine) -> Result<()> {
        self.stream(height, machine)?.place().map(drop)
    }

    /// Writes `machine`'s snapshot as the one after block `height` to a temporary file,
    /// as it is encoded: the whole image is never in memory. What remains to do
    /// ([`Streamed::place`]) needs the file only, not the machine.
    pub fn stream(&self, height: u64, machine: &Machine) -> Result<Streamed> {
        let path = self.path(height);
        let tmp = path.with_extension("tmp");
        let mut file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let size = machine.write_snapshot(&mut file).with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(Streamed { file, tmp, path, size })
    }

    /// Saves a snapshot's bytes, then its state sync metadata if it has any.
    pub fn write(&self, height: u64, bytes: &[u8], metadata: Option<&[u8]>) -> Result<()> {
        write_atomically(&self.path(height), bytes)?;
        match metadata {
            Some(metadata) => self.write_metadata(height, metadata),
            None => Ok(()),
        }
    }

    /// Saves the state sync metadata of the snapshot at `height`.
    pub fn write_metadata(&self, height: u64, metadata: &[u8]) -> Result<()> {
        write_atomically(&self.metadata_path(height), metadata)
    }

    /// The state sync metadata of the snapshot at `height`, if it has any.
    pub fn metadata(&self, height: u64) -> Result<Option<Vec<u8>>> {
        let path = self.metadata_path(height);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn path(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{height:020}.snap"))
    }

    fn metadata_path(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{height:020}.meta"))
    }

    /// Removes the snapshot at `height`, its metadata first (none is left without it).
    pub fn remove(&self, height: u64) -> Result<()> {
        for path in [self.metadata_path(height), self.path(height)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()))
                }
                _ => {}
            }
        }
        Ok(())
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

    /// Removes all but the newest `keep` snapshots (at least one stays) and the base.
    pub fn prune(&self, keep: usize) -> Result<()> {
        let heights = self.heights()?;
        let old = heights.len().saturating_sub(keep.max(1));
        for &h in heights[..old].iter().filter(|&&h| Some(h) != self.base) {
            self.remove(h)?;
        }
        Ok(())
    }
}

/// A snapshot written to its temporary file by [`Snapshots::stream`].
pub struct Streamed {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    /// The snapshot's bytes.
    pub size: u64,
}

impl Streamed {
    /// Syncs the file and moves it to its place; the path it now has.
    pub fn place(self) -> Result<PathBuf> {
        self.file.sync_all().with_context(|| format!("cannot write {}", self.tmp.display()))?;
        fs::rename(&self.tmp, &self.path).with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.path)
    }
}

/// The committed blocks in the log, without a last line cut short by a crash (which
/// `repair` also removes from the file); with where each line starts, and the end.
fn read_log(path: &Path, repair: bool) -> Result<(Vec<BlockRecord>, Vec<u64>)> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), vec![0])),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut blocks = Vec::new();
    let mut offset = 0;
    let mut offsets = vec![0];
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
        offsets.push(offset as u64);
    }
    Ok((blocks, offsets))
}

fn parse_line(line: &[u8]) -> Option<BlockRecord> {
    let line = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let (text, check) = line.rsplit_once('\t')?;
    if parse_hex(check)? != keccak(text.as_bytes()) {
        return None;
    }
    serde_json::from_str(text).ok()
}
