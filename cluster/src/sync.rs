//! State sync: ABCI's four snapshot methods, so that a new node joins a chain from a
//! snapshot instead of replaying every block (docs/spec.md, "State sync").
//!
//! A snapshot (format 1) is the bytes of `snapshots/HEIGHT.snap` (stepper's machine
//! snapshot) cut into chunks of `chunk_size` bytes, the last one shorter. Its metadata,
//! JSON, names the block it is the state after (height, state hash, outcomes root and
//! transaction count: what the app hash commits to), the contract and configuration,
//! the size, the chunk size and each chunk's Keccak-256; the snapshot's hash is the
//! Keccak-256 of the metadata's bytes. A receiving node checks the metadata against the
//! app hash CometBFT's light client verified before taking any chunk, each chunk against
//! its hash as it arrives, and the restored machine's state hash at the end.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use merkle_memory::{hash::keccak, hex, state_hash, Hash};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use stepper::Machine;
use tendermint_proto::v0_38::abci::response_apply_snapshot_chunk::Result as ApplyResult;
use tendermint_proto::v0_38::abci::response_offer_snapshot::Result as OfferResult;
use tendermint_proto::v0_38::abci::{
    RequestApplySnapshotChunk, RequestLoadSnapshotChunk, RequestOfferSnapshot, ResponseApplySnapshotChunk,
    ResponseListSnapshots, ResponseLoadSnapshotChunk, ResponseOfferSnapshot, Snapshot,
};
use traces::call::config_to_json;

use crate::history::{BlockSummary, History, NodeSetup, Snapshots, Streamed};
use crate::node::Node;
use crate::serde_hex;

/// The snapshot format this build writes and restores.
pub const FORMAT: u32 = 1;
/// The smallest chunk size a node cuts snapshots into; larger snapshots get larger
/// chunks (powers of two), so that no snapshot has more than `MAX_CHUNKS`.
pub const MIN_CHUNK_SIZE: u64 = 64 << 10;
/// The largest chunk a node takes: CometBFT's chunk messages hold at most 16 MB. Also the
/// most a restore reserves before chunks arrive: a metadata's size is a peer's word.
pub const MAX_CHUNK_SIZE: u64 = 8 << 20;
/// The most chunks a snapshot has: its metadata stays far below CometBFT's 4 MB.
pub const MAX_CHUNKS: usize = 4096;
/// The largest metadata a node reads.
pub const MAX_METADATA: usize = 1 << 20;
/// The folder of a home where chunks being received are kept.
const STAGING: &str = "restore";

/// A snapshot's metadata, as JSON in ABCI's `Snapshot.metadata`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The block the snapshot is the state after: its app hash follows from it.
    pub block: BlockSummary,
    /// Keccak-256 of the contract module.
    #[serde(with = "serde_hex::hash")]
    pub module_hash: Hash,
    /// traces' configuration JSON, as node.json records it.
    pub config: Json,
    /// The snapshot's bytes.
    pub size: u64,
    pub chunk_size: u64,
    /// Keccak-256 of each chunk, in order.
    #[serde(with = "serde_hex::hashes")]
    pub chunks: Vec<Hash>,
}

impl Metadata {
    /// The metadata of snapshot `bytes` after `block`, or `None` if it is too large to
    /// offer.
    pub fn describe(setup: &NodeSetup, block: BlockSummary, bytes: &[u8]) -> Option<Self> {
        let chunk_size = chunk_size(bytes.len() as u64)?;
        let chunks = bytes.chunks(chunk_size as usize).map(keccak).collect();
        Some(Self::of(setup, block, bytes.len() as u64, chunk_size, chunks))
    }

    /// The metadata of the snapshot file at `path`, of `size` bytes, after `block`, or
    /// `None` if it is too large to offer: its chunks read one at a time.
    pub fn describe_file(setup: &NodeSetup, block: BlockSummary, path: &Path, size: u64) -> Result<Option<Self>> {
        let Some(chunk_size) = chunk_size(size) else { return Ok(None) };
        let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut chunk = vec![0; chunk_size as usize];
        let mut chunks = Vec::with_capacity(size.div_ceil(chunk_size) as usize);
        let mut left = size;
        while left > 0 {
            let chunk = &mut chunk[..chunk_size.min(left) as usize];
            file.read_exact(chunk).with_context(|| format!("cannot read {}", path.display()))?;
            chunks.push(keccak(chunk));
            left -= chunk.len() as u64;
        }
        Ok(Some(Self::of(setup, block, size, chunk_size, chunks)))
    }

    fn of(setup: &NodeSetup, block: BlockSummary, size: u64, chunk_size: u64, chunks: Vec<Hash>) -> Self {
        let (module_hash, config) = (keccak(&setup.module_bytes), config_to_json(&setup.config));
        Self { block, module_hash, config, size, chunk_size, chunks }
    }

    /// Reads metadata from any peer: its size, chunk size and chunk count bounded and
    /// consistent.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_METADATA {
            bail!("the metadata has {} bytes, more than the {MAX_METADATA} a node reads", bytes.len());
        }
        let m: Self = serde_json::from_slice(bytes).context("the metadata is not a verigame snapshot's JSON")?;
        if m.block.height == 0 {
            bail!("the metadata names block 0: state sync starts after a block");
        }
        if !(1..=MAX_CHUNK_SIZE).contains(&m.chunk_size) {
            bail!("the chunk size is {}, not between 1 and {MAX_CHUNK_SIZE}", m.chunk_size);
        }
        if m.chunks.is_empty() || m.chunks.len() > MAX_CHUNKS {
            bail!("the snapshot has {} chunks, not between 1 and {MAX_CHUNKS}", m.chunks.len());
        }
        if m.size.div_ceil(m.chunk_size) != m.chunks.len() as u64 {
            bail!("{} bytes in chunks of {} are not {} chunks", m.size, m.chunk_size, m.chunks.len());
        }
        Ok(m)
    }

    /// Where chunk `index` lies in the snapshot: offset and length.
    fn chunk(&self, index: u32) -> Result<(u64, usize)> {
        if index as usize >= self.chunks.len() {
            bail!("no chunk {index}: the snapshot has {}", self.chunks.len());
        }
        let offset = index as u64 * self.chunk_size;
        Ok((offset, self.chunk_size.min(self.size - offset) as usize))
    }

    /// Checks chunk `index` against the metadata: its length (a restore allocates the size
    /// the metadata gives) and its Keccak-256.
    fn check_chunk(&self, index: u32, chunk: &[u8]) -> Result<()> {
        let (_, len) = self.chunk(index)?;
        if chunk.len() != len {
            bail!("chunk {index} has {} bytes, the metadata's {len}", chunk.len());
        }
        let expected = self.chunks[index as usize];
        if keccak(chunk) != expected {
            bail!("chunk {index}'s Keccak-256 is {}, the metadata's {}", hex(&keccak(chunk)), hex(&expected));
        }
        Ok(())
    }

    /// The machine the snapshot's `bytes` restore, if it has the metadata's state hash.
    fn restore(&self, bytes: &[u8], setup: &NodeSetup) -> Result<Machine> {
        let mut machine = Machine::restore(bytes, std::slice::from_ref(&setup.module))
            .context("the chunks do not restore a machine")?;
        let restored = state_hash(&mut machine);
        if restored != self.block.state_hash {
            bail!(
                "the machine restores to state hash {}, the metadata says {}",
                hex(&restored),
                hex(&self.block.state_hash)
            );
        }
        Ok(machine)
    }

    /// Whether a node running `setup` may restore this snapshot.
    fn check_setup(&self, setup: &NodeSetup) -> Result<()> {
        let ours = keccak(&setup.module_bytes);
        if self.module_hash != ours {
            bail!("its contract is {}, this node's {}", hex(&self.module_hash), hex(&ours));
        }
        if self.config != config_to_json(&setup.config) {
            bail!("its configuration {} is not this node's {}", self.config, config_to_json(&setup.config));
        }
        Ok(())
    }
}

/// The chunk size of a snapshot of `size` bytes: the smallest power of two, at least
/// [`MIN_CHUNK_SIZE`], that cuts it into at most [`MAX_CHUNKS`]; `None` above
/// [`MAX_CHUNK_SIZE`] (too large to offer).
fn chunk_size(size: u64) -> Option<u64> {
    let chunk_size = size.div_ceil(MAX_CHUNKS as u64).next_power_of_two().max(MIN_CHUNK_SIZE);
    (chunk_size <= MAX_CHUNK_SIZE).then_some(chunk_size)
}

/// Saves the state after `block` with its metadata (without, if it is too large to
/// offer: the node still restarts from it): [`Snapshots::stream`], then [`finish`].
pub fn save(snapshots: &Snapshots, setup: &NodeSetup, block: BlockSummary, machine: &Machine) -> Result<()> {
    finish(snapshots, setup, block, snapshots.stream(block.height, machine)?)
}

/// Puts a snapshot streamed to its file in place, then writes its metadata, its chunks'
/// hashes read back from the file: nothing here needs the machine.
pub fn finish(snapshots: &Snapshots, setup: &NodeSetup, block: BlockSummary, streamed: Streamed) -> Result<()> {
    let size = streamed.size;
    let path = streamed.place()?;
    match Metadata::describe_file(setup, block, &path, size)? {
        Some(metadata) => {
            snapshots.write_metadata(block.height, &serde_json::to_vec(&metadata).expect("metadata serializes"))
        }
        None => {
            eprintln!("snapshot {}: {size} bytes, too large to offer to state sync", block.height);
            Ok(())
        }
    }
}

/// ListSnapshots: every snapshot on disk that has metadata.
pub fn list_snapshots(node: &Node) -> ResponseListSnapshots {
    let (_, _, snapshots) = node.home();
    match listed(&snapshots) {
        Ok(snapshots) => ResponseListSnapshots { snapshots },
        Err(e) => {
            eprintln!("state sync: cannot list the snapshots: {e:#}");
            ResponseListSnapshots::default()
        }
    }
}

fn listed(snapshots: &Snapshots) -> Result<Vec<Snapshot>> {
    let mut listed = Vec::new();
    for height in snapshots.heights()? {
        // Pruned since the folder was read, or without metadata (height 0): not offered.
        let Some(bytes) = snapshots.metadata(height)? else { continue };
        let metadata = Metadata::parse(&bytes).with_context(|| format!("snapshot {height}"))?;
        listed.push(Snapshot {
            height,
            format: FORMAT,
            chunks: metadata.chunks.len() as u32,
            hash: keccak(&bytes).to_vec().into(),
            metadata: bytes.into(),
        });
    }
    Ok(listed)
}

/// A snapshot as `/snapshots` lists it.
#[derive(Serialize, Deserialize)]
pub struct Listed {
    pub height: u64,
    pub format: u32,
    /// The metadata's bytes (their Keccak-256 is the snapshot's hash), as text.
    pub metadata: String,
}

/// The answer to the query `/snapshots` (the snapshots on disk that have metadata, as
/// JSON) or `/snapshot_chunk` (data `HEIGHT/INDEX`: the chunk's bytes).
pub fn answer(snapshots: &Snapshots, path: &str, data: &[u8]) -> Result<Vec<u8>> {
    if path == "/snapshots" {
        let listed = listed(snapshots)?
            .into_iter()
            .map(|s| Listed {
                height: s.height,
                format: s.format,
                metadata: String::from_utf8_lossy(&s.metadata).into_owned(),
            })
            .collect::<Vec<_>>();
        return Ok(serde_json::to_vec(&listed)?);
    }
    let text = std::str::from_utf8(data).ok().and_then(|t| t.trim().split_once('/'));
    let parsed = text.and_then(|(h, i)| Some((h.parse().ok()?, i.parse().ok()?)));
    let Some((height, index)) = parsed else { bail!("the data is not HEIGHT/INDEX in decimal") };
    read_chunk(snapshots, height, FORMAT, index)
}

/// The validator's side: the state after the latest snapshot a node at `rpc` lists at or
/// below block `at_most`, each chunk checked against the metadata, the metadata against
/// the app hash the next block's header commits and the restored machine against the
/// metadata's state hash. None if the node lists none.
pub fn fetch(rpc: &crate::rpc::Rpc, setup: &NodeSetup, at_most: u64) -> Result<Option<(BlockSummary, Machine)>> {
    let listed: Vec<Listed> = serde_json::from_slice(&rpc.abci_query("/snapshots", b"", 0, false)?.value)
        .context("the node's /snapshots answer is not a list of snapshots")?;
    let Some(chosen) = listed.iter().filter(|s| s.format == FORMAT && s.height <= at_most).max_by_key(|s| s.height)
    else {
        return Ok(None);
    };
    let height = chosen.height;
    let m = Metadata::parse(chosen.metadata.as_bytes()).with_context(|| format!("snapshot {height}"))?;
    if m.block.height != height {
        bail!("snapshot {height}: its metadata names block {}", m.block.height);
    }
    m.check_setup(setup).with_context(|| format!("snapshot {height}"))?;
    let header = rpc.app_hash_after(height, std::time::Duration::ZERO)?;
    if m.block.app_hash() != header {
        bail!("snapshot {height}: its block's app hash is {}, the header's {}", hex(&m.block.app_hash()), hex(&header));
    }
    let mut bytes = Vec::with_capacity(m.size.min(MAX_CHUNK_SIZE) as usize);
    for index in 0..m.chunks.len() as u32 {
        let chunk = rpc.abci_query("/snapshot_chunk", format!("{height}/{index}").as_bytes(), 0, false)?.value;
        m.check_chunk(index, &chunk).with_context(|| format!("snapshot {height}"))?;
        bytes.extend_from_slice(&chunk);
    }
    let machine = m.restore(&bytes, setup).with_context(|| format!("snapshot {height}"))?;
    Ok(Some((m.block, machine)))
}

/// LoadSnapshotChunk: the chunk read from the snapshot's file; empty (CometBFT's
/// "missing") if there is no such snapshot or chunk.
pub fn load_snapshot_chunk(node: &Node, request: RequestLoadSnapshotChunk) -> ResponseLoadSnapshotChunk {
    let (_, _, snapshots) = node.home();
    match read_chunk(&snapshots, request.height, request.format, request.chunk) {
        Ok(chunk) => ResponseLoadSnapshotChunk { chunk: chunk.into() },
        Err(e) => {
            eprintln!("state sync: chunk {} of snapshot {}: {e:#}", request.chunk, request.height);
            ResponseLoadSnapshotChunk::default()
        }
    }
}

fn read_chunk(snapshots: &Snapshots, height: u64, format: u32, index: u32) -> Result<Vec<u8>> {
    if format != FORMAT {
        bail!("format {format}: this node serves format {FORMAT}");
    }
    let Some(metadata) = snapshots.metadata(height)? else { bail!("no snapshot at height {height}") };
    let (offset, len) = Metadata::parse(&metadata)?.chunk(index)?;
    let path = snapshots.path(height);
    let mut file = File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut chunk = vec![0; len];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut chunk))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(chunk)
}

/// A snapshot being restored: its metadata, and who sent each chunk received so far
/// (the chunks themselves are in the home's staging folder).
pub struct Restore {
    metadata: Metadata,
    metadata_bytes: Vec<u8>,
    staging: PathBuf,
    senders: Vec<Option<String>>,
}

impl Restore {
    fn chunk_path(&self, index: u32) -> PathBuf {
        self.staging.join(format!("{index:06}.chunk"))
    }
}

/// Why a snapshot or chunk is refused, and what CometBFT is told.
struct Refused<R> {
    result: R,
    reason: anyhow::Error,
}

fn refuse<R>(result: R) -> impl FnOnce(anyhow::Error) -> Refused<R> {
    move |reason| Refused { result, reason }
}

/// OfferSnapshot: accepted if it is our format, its metadata is sound and names our
/// contract, its block's app hash is the one the light client verified, and this node
/// has no state yet.
pub fn offer_snapshot(node: &Node, request: RequestOfferSnapshot) -> ResponseOfferSnapshot {
    let height = request.snapshot.as_ref().map_or(0, |s| s.height);
    let result = match offer(node, request) {
        Ok(()) => {
            eprintln!("state sync: restoring the snapshot of block {height}");
            OfferResult::Accept
        }
        Err(refused) => {
            eprintln!("state sync: snapshot of block {height} refused: {:#}", refused.reason);
            refused.result
        }
    };
    ResponseOfferSnapshot { result: result as i32 }
}

fn offer(node: &Node, request: RequestOfferSnapshot) -> Result<(), Refused<OfferResult>> {
    let reject = || refuse(OfferResult::Reject);
    let snapshot = request.snapshot.context("the offer has no snapshot").map_err(reject())?;
    if snapshot.format != FORMAT {
        let reason = anyhow::anyhow!("format {}: this node restores format {FORMAT}", snapshot.format);
        return Err(Refused { result: OfferResult::RejectFormat, reason });
    }
    let metadata = Metadata::parse(&snapshot.metadata).map_err(reject())?;
    let consistent = if snapshot.hash.as_ref() != keccak(&snapshot.metadata) {
        Err(anyhow::anyhow!("its hash is not the Keccak-256 of its metadata"))
    } else if snapshot.height != metadata.block.height || snapshot.chunks as usize != metadata.chunks.len() {
        Err(anyhow::anyhow!(
            "it says height {} and {} chunks, its metadata height {} and {} chunks",
            snapshot.height,
            snapshot.chunks,
            metadata.block.height,
            metadata.chunks.len()
        ))
    } else {
        Ok(())
    };
    consistent.map_err(reject())?;
    let (home, setup, _) = node.home();
    metadata.check_setup(&setup).map_err(reject())?;
    let verified = metadata.block.app_hash();
    if request.app_hash.as_ref() != verified {
        let reason = anyhow::anyhow!(
            "its block's app hash is {}, the light client verified 0x{}",
            hex(&verified),
            request.app_hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        return Err(Refused { result: OfferResult::Reject, reason });
    }
    let (height, _) = node.committed();
    if height != 0 {
        let reason = anyhow::anyhow!("this node already has state at block {height}");
        return Err(Refused { result: OfferResult::Abort, reason });
    }
    let staging = home.join(STAGING);
    let fresh = match fs::remove_dir_all(&staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => fs::create_dir_all(&staging),
    };
    fresh.with_context(|| format!("cannot empty {}", staging.display())).map_err(refuse(OfferResult::Abort))?;
    let senders = vec![None; metadata.chunks.len()];
    *node.restore() = Some(Restore { metadata, metadata_bytes: snapshot.metadata.to_vec(), staging, senders });
    Ok(())
}

/// ApplySnapshotChunk: a chunk that is not the one the metadata names is fetched again
/// from another peer, its sender rejected; the last chunk restores the machine, which
/// must have the metadata's state hash, and the node then starts from that block.
pub fn apply_snapshot_chunk(node: &Node, request: RequestApplySnapshotChunk) -> ResponseApplySnapshotChunk {
    let mut restore = node.restore();
    let Some(r) = restore.as_mut() else {
        eprintln!("state sync: chunk {} arrived with no snapshot offered", request.index);
        return ResponseApplySnapshotChunk { result: ApplyResult::Abort as i32, ..Default::default() };
    };
    let height = r.metadata.block.height;
    let (result, refetch, reject) =
        match apply(r, &request).and_then(|all_in| if all_in { complete(node, r).map(|()| true) } else { Ok(false) }) {
            Ok(false) => (ApplyResult::Accept, vec![], vec![]),
            Ok(true) => {
                eprintln!("state sync: restored block {height}, app hash {}", hex(&r.metadata.block.app_hash()));
                *restore = None;
                (ApplyResult::Accept, vec![], vec![])
            }
            Err(refused) if refused.result == ApplyResult::Retry => {
                // A chunk that is not the one the metadata names: from another peer.
                eprintln!(
                    "state sync: chunk {} from {:?} refused: {:#}",
                    request.index, request.sender, refused.reason
                );
                (refused.result, vec![request.index], vec![request.sender])
            }
            Err(refused) => {
                eprintln!("state sync: the snapshot of block {height} refused: {:#}", refused.reason);
                // Chunks that match the metadata but do not restore the verified state: their
                // senders offered a bad snapshot. (ABORT is this node's own failure.)
                let mut senders: Vec<String> = match refused.result {
                    ApplyResult::RejectSnapshot => r.senders.iter().flatten().cloned().collect(),
                    _ => Vec::new(),
                };
                senders.sort_unstable();
                senders.dedup();
                let _ = fs::remove_dir_all(&r.staging);
                *restore = None;
                (refused.result, vec![], senders)
            }
        };
    ResponseApplySnapshotChunk { result: result as i32, refetch_chunks: refetch, reject_senders: reject }
}

/// Checks and stages one chunk; whether every chunk is now in.
fn apply(restore: &mut Restore, request: &RequestApplySnapshotChunk) -> Result<bool, Refused<ApplyResult>> {
    // CometBFT asks only for chunks the offer counted: another index is a broken sync.
    restore.metadata.chunk(request.index).map_err(refuse(ApplyResult::Abort))?;
    restore.metadata.check_chunk(request.index, &request.chunk).map_err(refuse(ApplyResult::Retry))?;
    let path = restore.chunk_path(request.index);
    fs::write(&path, &request.chunk)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(refuse(ApplyResult::Abort))?;
    restore.senders[request.index as usize] = Some(request.sender.clone());
    Ok(restore.senders.iter().all(Option::is_some))
}

/// Restores the machine from the staged chunks, checks its state hash, and makes the
/// home start from the snapshot: saved as its base, node.json naming it, then reopened.
fn complete(node: &Node, restore: &Restore) -> Result<(), Refused<ApplyResult>> {
    let abort = || refuse(ApplyResult::Abort);
    let m = &restore.metadata;
    let mut bytes = Vec::with_capacity(m.size.min(MAX_CHUNK_SIZE) as usize);
    for index in 0..m.chunks.len() as u32 {
        let path = restore.chunk_path(index);
        let chunk = fs::read(&path).with_context(|| format!("cannot read {}", path.display())).map_err(abort())?;
        bytes.extend_from_slice(&chunk);
    }
    let (home, setup, snapshots) = node.home();
    m.restore(&bytes, &setup).map_err(refuse(ApplyResult::RejectSnapshot))?;
    install(&home, &snapshots, restore, &bytes).map_err(abort())?;
    node.reopen().map_err(abort())
}

fn install(home: &std::path::Path, snapshots: &Snapshots, restore: &Restore, bytes: &[u8]) -> Result<()> {
    let height = restore.metadata.block.height;
    snapshots.write(height, bytes, Some(&restore.metadata_bytes))?;
    let (mut history, _) = History::open(home)?;
    history.rebase(restore.metadata.block)?;
    // The fresh contract's snapshot at 0 is not this history's any more.
    for h in snapshots.heights()?.into_iter().filter(|&h| h != height) {
        snapshots.remove(h)?;
    }
    fs::remove_dir_all(&restore.staging).with_context(|| format!("cannot remove {}", restore.staging.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_streamed_snapshot_is_the_machines_snapshot_and_its_metadata_the_same() {
        let bytes = fs::read(format!("{}/../tests/contracts/big_memory.wat", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let module = stepper::Module::new(&bytes).unwrap();
        let config = stepper::Config { gas_limit: 1 << 30, ..stepper::Config::default() };
        let chain = crate::history::Chain::named("test-chain");
        let setup = NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 1, chain };
        let dir = std::env::temp_dir().join(format!("verigame-sync-stream-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let snapshots = History::create(&dir, setup.clone()).unwrap().snapshots();
        let mut ledger = crate::ledger::Ledger::new(&setup, None).unwrap();
        let key = crate::envelope::SigningKey::from_bytes(&[1; 32]);
        let mut session = crate::envelope::Session::new(key, "test-chain", 0, 0);
        // 4 MiB written every 512 bytes: several chunks of 64 KiB, the last one short.
        for (height, export, args) in [(1, "noop", vec![]), (2, "grow_and_touch", vec![stepper::Value::I32(4)])] {
            let tx = session.sign(export, args, 10_000_000).unwrap().encode().unwrap();
            assert_eq!(ledger.execute(&tx).outcome.status, crate::history::TxStatus::Returned);
            let block = BlockSummary { height, ..BlockSummary::fresh(ledger.state_hash()) };
            save(&snapshots, &setup, block, &ledger.executor.machine).unwrap();
            let image = ledger.executor.machine.snapshot();
            assert!(fs::read(snapshots.path(height)).unwrap() == image, "the file is the snapshot");
            let metadata = Metadata::parse(&snapshots.metadata(height).unwrap().unwrap()).unwrap();
            assert_eq!(metadata, Metadata::describe(&setup, block, &image).unwrap());
            assert_eq!(metadata.chunks.len() as u64, (image.len() as u64).div_ceil(MIN_CHUNK_SIZE));
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
