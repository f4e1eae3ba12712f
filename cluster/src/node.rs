//! `verigame node`: a tendermint-abci application (ABCI as CometBFT v0.38 speaks it) that
//! hosts one contract. Each block's transactions run in order on the contract's state;
//! the app hash is the machine's state hash from merkle-memory, the hash the stepper and
//! the judge use, taken at the block's last call boundary. Every committed block goes to
//! the history on disk before Commit returns, so a node killed at any point restarts with
//! every committed block: from its latest snapshot plus the log. A new node may join from
//! another's snapshot instead of the first block (crate::sync).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use merkle_memory::{hex, Hash};
use sha2::{Digest, Sha256};
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    ExecTxResult, RequestApplySnapshotChunk, RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain,
    RequestLoadSnapshotChunk, RequestOfferSnapshot, RequestQuery, ResponseApplySnapshotChunk, ResponseCheckTx,
    ResponseCommit, ResponseFinalizeBlock, ResponseInfo, ResponseInitChain, ResponseListSnapshots,
    ResponseLoadSnapshotChunk, ResponseOfferSnapshot, ResponseQuery,
};
use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};
use tendermint_proto::v0_38::types::{BlockParams, ConsensusParams, VersionParams};

use crate::history::{
    BlockRecord, BlockSummary, Chain, History, NodeSetup, Snapshots, TxOutcome, TxRecord, TxStatus,
    DEFAULT_BLOCK_GAS_LIMIT,
};
use crate::ledger::{Exports, Ledger};
use crate::mempool::Mempool;
use crate::proofs::{QueryProof, PROOF_TYPE};
use traces::Fault;

/// What the node knows of its chain: the history, the app hashes and transactions
/// committed, and the block finalized but not committed yet. The contract's machine lives
/// apart, in a [`Slot`], so that this answers at once while a block runs.
struct State {
    history: History,
    /// App hashes by height from the history's first (0, the freshly instantiated
    /// contract's, or the base of a node that joined by state sync).
    app_hashes: ByHeight<Hash>,
    /// Where each committed transaction is.
    txs: TxIndex,
    /// The block the history starts after: the fresh contract at height 0, or the base
    /// snapshot's block of a node that joined by state sync.
    first: BlockSummary,
    /// A finalized block not yet committed: the slot's ledger holds the state after it.
    pending: Option<BlockRecord>,
}

/// The contract's one machine, run in place: a block runs on it under its lock, and is
/// never copied (issue 15, "memory at scale": a copy costs what the contract ever wrote
/// to its memory, a GiB of it about a second). Between FinalizeBlock and Commit it holds
/// the finalized block's state, not the committed one; queries about the committed state
/// wait for the Commit, which CometBFT sends next (see [`Node::with_committed`]).
///
/// No undo log is kept across a block: the machine keeps one undo log at a time, which
/// each call needs for itself (a failed call is taken back), and nothing takes a
/// finalized block back. CometBFT commits every block it finalizes; a node that stops in
/// between restarts from its history, where the block is not, and CometBFT finalizes the
/// block again. The one case where a finalized block must give way, FinalizeBlock of the
/// same height again (a CometBFT restarted without this process), is answered from the
/// block if it is the same, else by rebuilding the committed state from the history.
struct Slot {
    ledger: Ledger,
    /// The block whose state `ledger` holds: the committed height, or the finalized one.
    height: u64,
}

/// The slot and the signal that the committed height moved (a Commit, or a reopen).
struct Contract {
    slot: Mutex<Slot>,
    committed: Condvar,
}

/// Committed transactions by their CometBFT hash (SHA-256 of the bytes): where `/tx` finds
/// one. The same bytes may be in several blocks (a proposer may include a replay, which is
/// rejected there), but run at most once: the occurrence that ran is the one kept, else
/// the latest rejection.
#[derive(Default)]
struct TxIndex(HashMap<[u8; 32], TxPlace>);

#[derive(Clone, Copy)]
struct TxPlace {
    height: u64,
    index: usize,
    ran: bool,
}

impl TxIndex {
    fn add(&mut self, block: &BlockRecord) {
        for (index, t) in block.txs.iter().enumerate() {
            let place = TxPlace { height: block.height, index, ran: t.outcome.status != TxStatus::Rejected };
            let slot = self.0.entry(tx_hash(&t.tx)).or_insert(place);
            if !slot.ran {
                *slot = place;
            }
        }
    }

    fn get(&self, hash: &[u8; 32]) -> Option<(u64, usize)> {
        self.0.get(hash).map(|p| (p.height, p.index))
    }
}

/// Values by height, from a first height on: heights below it have none.
struct ByHeight<T> {
    first: u64,
    items: Vec<T>,
}

impl<T> ByHeight<T> {
    fn get(&self, height: usize) -> Option<&T> {
        (height as u64).checked_sub(self.first).and_then(|i| self.items.get(i as usize))
    }

    /// The last height with a value.
    fn top(&self) -> u64 {
        self.first + self.items.len() as u64 - 1
    }

    fn last(&self) -> &T {
        self.items.last().expect("a value at the first height")
    }

    fn push(&mut self, value: T) {
        self.items.push(value)
    }
}

impl<T> std::ops::Index<usize> for ByHeight<T> {
    type Output = T;

    fn index(&self, height: usize) -> &T {
        self.get(height).expect("a height the node holds")
    }
}

/// The application's version, as Info and InitChain report it.
const APP_VERSION: u64 = 1;

/// The node, shared by CometBFT's connections (consensus, mempool, query).
#[derive(Clone)]
pub struct Node {
    state: Arc<Mutex<State>>,
    /// The contract's machine. Lock order: this one first, then `state`.
    contract: Arc<Contract>,
    /// Checking a transaction needs only the exports and the sessions: no wait behind a
    /// long block.
    exports: Arc<Exports>,
    mempool: Arc<Mutex<Mempool>>,
    retention: Retention,
    /// How this node computes wrong, if it was started to (tests and demos): a switch of
    /// this run only.
    fault: Option<Fault>,
    /// The snapshot state sync is restoring, if any (crate::sync).
    restore: Arc<Mutex<Option<crate::sync::Restore>>>,
}

/// What a node keeps: settings of a run, not of its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Snapshots kept on disk, the newest ones (at least one).
    pub snapshots: usize,
    /// Blocks CometBFT keeps below the committed height (0: all): Commit's retain_height.
    pub blocks: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { snapshots: DEFAULT_KEEP_SNAPSHOTS, blocks: 0 }
    }
}

/// Snapshots a node keeps unless told otherwise.
pub const DEFAULT_KEEP_SNAPSHOTS: usize = 10;

fn tx_hash(tx: &[u8]) -> [u8; 32] {
    Sha256::digest(tx).into()
}

impl Node {
    /// Starts a new history in `dir` for `setup`; the node computes with `fault`, which
    /// nothing on disk records.
    pub fn create(dir: &Path, setup: NodeSetup, fault: Option<Fault>) -> Result<Self> {
        let mut ledger = Ledger::new(&setup, fault)?;
        let history = History::create(dir, setup)?;
        history.snapshots().save(0, &ledger.executor.machine)?;
        let first = BlockSummary::fresh(ledger.state_hash());
        Ok(Self::around(State::assemble(history, first, Vec::new()), ledger, fault))
    }

    /// Reopens the history in `dir`: the latest snapshot, then the log's blocks after it,
    /// re-executed with `fault` and checked against their recorded hashes (a node whose
    /// log another executor computed does not reopen).
    pub fn open(dir: &Path, fault: Option<Fault>) -> Result<Self> {
        let (state, ledger) = State::open(dir, fault)?;
        Ok(Self::around(state, ledger, fault))
    }

    fn around(state: State, ledger: Ledger, fault: Option<Fault>) -> Self {
        let exports = ledger.exports.clone();
        let mempool = Arc::new(Mutex::new(Mempool::of(&ledger)));
        let height = state.app_hashes.top();
        let contract = Arc::new(Contract { slot: Mutex::new(Slot { ledger, height }), committed: Condvar::new() });
        let state = Arc::new(Mutex::new(state));
        Self { state, contract, exports, mempool, retention: Retention::default(), fault, restore: Arc::default() }
    }

    /// Reads the history again, as a restart would: after state sync has made it start
    /// from a snapshot.
    pub(crate) fn reopen(&self) -> Result<()> {
        let dir = self.lock().history.dir().to_path_buf();
        let (state, ledger) = State::open(&dir, self.fault)?;
        let mut slot = self.slot();
        *self.mempool() = Mempool::of(&ledger);
        *slot = Slot { ledger, height: state.app_hashes.top() };
        *self.lock() = state;
        self.contract.committed.notify_all();
        Ok(())
    }

    /// The history's folder, setup and snapshots, for state sync.
    pub(crate) fn home(&self) -> (std::path::PathBuf, NodeSetup, Snapshots) {
        let s = self.lock();
        (s.history.dir().to_path_buf(), s.history.setup.clone(), s.history.snapshots())
    }

    /// The snapshot being restored by state sync.
    pub(crate) fn restore(&self) -> MutexGuard<'_, Option<crate::sync::Restore>> {
        self.restore.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The node with `retention` instead of the default one.
    pub fn retaining(self, retention: Retention) -> Self {
        Self { retention, ..self }
    }

    /// How this node computes wrong, if it does.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// The lowest height CometBFT must keep at `height` (0: keep every block).
    pub fn retain_height(&self, height: u64) -> u64 {
        match self.retention.blocks {
            0 => 0,
            keep => (height + 1).saturating_sub(keep).max(1),
        }
    }

    /// The lowest height the node holds: 0, or the base of a node that joined by state sync.
    pub fn first_height(&self) -> u64 {
        self.lock().app_hashes.first
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves nothing half-written on disk: the
        // history is appended only after a block is complete.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The contract's machine. A panic while it was held (in a block or a call) may have
    /// left it anywhere: it is then rebuilt from the history, as a restart would.
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.contract.slot.lock().unwrap_or_else(|poisoned| {
            let mut slot = poisoned.into_inner();
            self.contract.slot.clear_poison();
            if let Err(e) = self.rebuild(&mut slot) {
                fatal(&format!("cannot rebuild the contract's state after a panic: {e:#}"));
            }
            slot
        })
    }

    /// Puts the committed state back in `slot`, rebuilt from the history on disk (its
    /// latest snapshot and the log), and forgets a finalized block. For the rare cases
    /// where the machine no longer holds it: a block finalized again, a panic.
    fn rebuild(&self, slot: &mut Slot) -> Result<()> {
        let (dir, committed) = {
            let mut s = self.lock();
            s.pending = None;
            (s.history.dir().to_path_buf(), s.app_hashes.top())
        };
        let (history, blocks) = History::read(&dir, false)?;
        *slot = Slot { ledger: state_after(&history, &blocks, committed, self.fault)?, height: committed };
        Ok(())
    }

    /// The committed height and app hash.
    pub fn committed(&self) -> (u64, Hash) {
        let s = self.lock();
        (s.app_hashes.top(), *s.app_hashes.last())
    }

    /// Serves ABCI on `addr` until the process ends.
    pub fn serve(self, addr: &str) -> Result<()> {
        let server = tendermint_abci::ServerBuilder::new(1 << 20)
            .bind(addr, self)
            .with_context(|| format!("cannot listen on {addr}"))?;
        server.listen().context("the ABCI server stopped")
    }

    /// Commits the finalized block: appends it to the history (synced), then makes it
    /// the committed state, which the machine already holds. Returns the new height.
    ///
    /// A snapshot due at this height is encoded from the machine itself into its file as
    /// it goes, under the machine's lock (not the state's: `/state` and `/tx` still
    /// answer): nothing is copied and no image of the whole state is held in memory.
    /// Queries about the state wait for the encoding only; the disk sync and the chunks'
    /// hashes, read back from the file, come after the lock is released, before Commit
    /// returns.
    pub fn commit_pending(&self) -> Result<u64> {
        let slot = self.slot();
        let (height, snapshot) = {
            let mut s = self.lock();
            let Some(block) = s.pending.take() else { bail!("nothing to commit: no block was finalized") };
            debug_assert_eq!(slot.height, block.height, "the machine holds the finalized block's state");
            s.history.append(&block)?;
            let height = block.height;
            s.txs.add(&block);
            let due = height % s.history.setup.snapshot_interval == 0;
            let snapshot = due.then(|| (s.history.snapshots(), s.history.setup.clone(), BlockSummary::of(&block)));
            s.app_hashes.push(block.app_hash);
            self.mempool().committed(&block);
            (height, snapshot)
        };
        // Queries waiting for the committed state may now read the machine.
        self.contract.committed.notify_all();
        if let Some((snapshots, setup, summary)) = snapshot {
            // Encoded and written as it goes, under the machine's lock; the rest (sync,
            // rename, the chunks' hashes read back) off it.
            let streamed = snapshots.stream(height, &slot.ledger.executor.machine)?;
            drop(slot);
            crate::sync::finish(&snapshots, &setup, summary, streamed)?;
            snapshots.prune(self.retention.snapshots)?;
        }
        Ok(height)
    }

    /// Runs a block's transactions in place on the committed state, under the machine's
    /// lock, and keeps the block until Commit. Queries about the state wait for at most
    /// this block (blocks are bounded by gas); `/state` and `/tx` do not wait.
    pub fn finalize(&self, height: u64, txs: &[&[u8]]) -> Result<BlockRecord> {
        let mut slot = self.slot();
        let again = {
            let s = self.lock();
            let committed = s.app_hashes.top();
            if height != committed + 1 {
                bail!("block {height} cannot follow the committed height {committed}");
            }
            s.pending.clone()
        };
        if let Some(pending) = again {
            // The machine holds this height's state already. A block's outcome is a
            // function of its transactions: the same ones give the same block.
            if pending.txs.len() == txs.len() && pending.txs.iter().zip(txs).all(|(t, &tx)| t.tx == tx) {
                return Ok(pending);
            }
            self.rebuild(&mut slot)?;
        }
        // Signatures CheckTx found good are not checked again.
        let verified = |tx: &[u8]| self.mempool().verified(tx);
        let block = execute_block(&mut slot.ledger, height, txs.iter().copied(), &verified);
        slot.height = height;
        self.lock().pending = Some(block.clone());
        Ok(block)
    }
}

impl Node {
    /// CheckTx: whether `tx` may enter the mempool, and the gas it reserves
    /// ([`Mempool::check`]).
    pub fn check(&self, tx: &[u8]) -> Result<u64> {
        self.mempool().check(tx, &self.exports)
    }

    fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// The history in `dir`: its latest snapshot, then the log's blocks after it,
    /// re-executed with `fault` and checked against their recorded hashes.
    fn open(dir: &Path, fault: Option<Fault>) -> Result<(Self, Ledger)> {
        let (history, blocks) = History::open(dir)?;
        let top = history.first_height() + blocks.len() as u64;
        let (from, mut ledger, first) = replay_start(&history, &blocks, top, fault)?;
        replay(&mut ledger, history.span(&blocks, from, top)?)?;
        Ok((Self::assemble(history, first, blocks), ledger))
    }

    /// The state of `history` after `first`, the block it starts after, then `blocks`.
    fn assemble(history: History, first: BlockSummary, blocks: Vec<BlockRecord>) -> Self {
        let mut app_hashes = ByHeight { first: first.height, items: vec![first.app_hash()] };
        let mut txs = TxIndex::default();
        for block in blocks {
            txs.add(&block);
            app_hashes.push(block.app_hash);
        }
        Self { history, app_hashes, txs, first, pending: None }
    }
}

/// Where a replay to block `height` of a history whose log holds `blocks` starts: its
/// latest snapshot at or below `height` that restores to that block's state hash, else
/// the fresh contract at height 0 (the base snapshot, for a node that joined by state
/// sync); with the block the history starts after.
pub fn replay_start(
    history: &History,
    blocks: &[BlockRecord],
    height: u64,
    fault: Option<Fault>,
) -> Result<(u64, Ledger, BlockSummary)> {
    history.check_held(height)?;
    if let Some(base) = history.base {
        let state_hash = |h: u64| {
            if h == base.height {
                Some(base.state_hash)
            } else {
                history.span(blocks, h - 1, h).ok()?.first().map(|b| b.state_hash)
            }
        };
        let Some((h, machine)) = history.latest_snapshot(height, state_hash)? else {
            bail!("{}: the base snapshot of block {} is missing", history.dir().display(), base.height);
        };
        return Ok((h, Ledger::on(machine, fault, &history.setup.chain), base));
    }
    let mut fresh = Ledger::new(&history.setup, fault)?;
    let initial = fresh.state_hash();
    let state_hash = |h: u64| if h == 0 { Some(initial) } else { blocks.get(h as usize - 1).map(|b| b.state_hash) };
    let first = BlockSummary::fresh(initial);
    Ok(match history.latest_snapshot(height, state_hash)? {
        Some((h, machine)) => (h, Ledger::on(machine, fault, &history.setup.chain), first),
        None => (0, fresh, first),
    })
}

/// The state after block `height` of a history whose log holds `blocks`: from
/// [`replay_start`], the log's blocks replayed with `fault`.
pub fn state_after(history: &History, blocks: &[BlockRecord], height: u64, fault: Option<Fault>) -> Result<Ledger> {
    let (from, mut ledger, _) = replay_start(history, blocks, height, fault)?;
    replay(&mut ledger, history.span(blocks, from, height)?)?;
    Ok(ledger)
}

/// Runs `blocks` on `ledger`, each checked against the app hash the log records.
fn replay(ledger: &mut Ledger, blocks: &[BlockRecord]) -> Result<()> {
    for block in blocks {
        let replayed = execute_block(ledger, block.height, block.txs.iter().map(|t| t.tx.as_slice()), &|_| false);
        if replayed.app_hash != block.app_hash {
            bail!(
                "block {} replays to app hash {}, the log records {} (was it computed with another fault?)",
                block.height,
                hex(&replayed.app_hash),
                hex(&block.app_hash)
            );
        }
    }
    Ok(())
}

/// Runs a block's transactions in order, within the block's gas budget. Their envelopes
/// are opened and their signatures checked first, on all cores (that needs no state),
/// but for those `verified` says were checked already.
pub fn execute_block<'a>(
    ledger: &mut Ledger,
    height: u64,
    txs: impl Iterator<Item = &'a [u8]>,
    verified: &dyn Fn(&[u8]) -> bool,
) -> BlockRecord {
    ledger.begin_block(height);
    let txs: Vec<&[u8]> = txs.collect();
    let opened = open_all(ledger, &txs, verified);
    let txs: Vec<TxRecord> = txs.iter().zip(opened).map(|(tx, opened)| ledger.execute_opened(tx, opened)).collect();
    // The state after the last transaction is the block's.
    let state_hash = txs.last().map_or_else(|| ledger.state_hash(), |t| t.post_hash);
    let app_hash = crate::commitment::app_hash(&state_hash, &txs);
    BlockRecord { height, txs, state_hash, app_hash }
}

/// Each of `txs` opened as `ledger`'s chain's envelope ([`Ledger::open`]), in order,
/// split among the cores when there are enough to pay for the threads.
pub(crate) fn open_all(
    ledger: &Ledger,
    txs: &[&[u8]],
    verified: &dyn Fn(&[u8]) -> bool,
) -> Vec<Result<crate::envelope::Envelope, crate::envelope::EnvelopeError>> {
    let known: Vec<bool> = txs.iter().map(|tx| verified(tx)).collect();
    let open = |(tx, known): (&&[u8], &bool)| match known {
        true => crate::envelope::Envelope::decode(tx),
        false => ledger.open(tx),
    };
    // A check takes about 50 µs: a few milliseconds of them per thread at the least.
    const PER_THREAD: usize = 64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(txs.len() / PER_THREAD).max(1);
    if threads == 1 {
        return txs.iter().zip(&known).map(open).collect();
    }
    let size = txs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = txs
            .chunks(size)
            .zip(known.chunks(size))
            .map(|(part, known)| s.spawn(move || part.iter().zip(known).map(open).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("an envelope check panicked")).collect()
    })
}

/// The line a node logs for each block it finalizes: height, transactions (and how many
/// did not return), app hash and milliseconds.
pub fn block_line(block: &BlockRecord, took: std::time::Duration) -> String {
    let failed = block.txs.iter().filter(|t| t.outcome.status != TxStatus::Returned).count();
    format!(
        "block {}: {} txs ({failed} failed), app hash {}, {} ms",
        block.height,
        block.txs.len(),
        hex(&block.app_hash),
        took.as_millis()
    )
}

/// Stops the node: its state and CometBFT's no longer agree on what is committed.
fn fatal(message: &str) -> ! {
    eprintln!("verigame node: {message}");
    std::process::exit(1)
}

/// What a transaction's result carries in `data`: its outcome and the state after it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultData {
    #[serde(flatten)]
    pub outcome: TxOutcome,
    #[serde(with = "crate::serde_hex::hash")]
    pub post_hash: Hash,
}

/// A transaction's result as CometBFT records it: `data` is the outcome (status, results,
/// steps, gas, error) with the state hash after the call (`post_hash`), so a validator
/// reading the chain checks each call, not only each block.
fn exec_result(t: &TxRecord) -> ExecTxResult {
    let o = &t.outcome;
    let data = ResultData { outcome: o.clone(), post_hash: t.post_hash };
    ExecTxResult {
        code: if o.status == TxStatus::Returned { 0 } else { 1 },
        data: serde_json::to_vec(&data).expect("JSON serializes").into(),
        log: o.error.clone().unwrap_or_default(),
        gas_used: o.gas as i64,
        ..ExecTxResult::default()
    }
}

impl Application for Node {
    fn info(&self, _request: RequestInfo) -> ResponseInfo {
        let (height, app_hash) = self.committed();
        ResponseInfo {
            data: "verigame".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            app_version: APP_VERSION,
            last_block_height: height as i64,
            last_block_app_hash: app_hash.to_vec().into(),
        }
    }

    fn init_chain(&self, request: RequestInitChain) -> ResponseInitChain {
        let s = self.lock();
        let chain = &s.history.setup.chain;
        if request.chain_id != chain.id {
            fatal(&format!("the genesis is of chain `{}`, this node's is `{}`", request.chain_id, chain.id));
        }
        // A genesis that names the chain's contract must name this node's.
        if let Err(e) = check_genesis(&request.app_state_bytes, &s.history.setup) {
            fatal(&format!("the genesis does not describe this node: {e:#}"));
        }
        // The block gas limit, which proposers honour: CometBFT takes the block
        // parameters given here over the genesis file's.
        let max_bytes = request.consensus_params.and_then(|p| p.block).map_or(22_020_096, |b| b.max_bytes);
        let block = BlockParams { max_bytes, max_gas: chain.block_gas_limit.min(i64::MAX as u64) as i64 };
        ResponseInitChain {
            app_hash: s.first.app_hash().to_vec().into(),
            // CometBFT takes the app version from consensus parameters an app returns here,
            // not from Info: give the one Info reports.
            consensus_params: Some(ConsensusParams {
                block: Some(block),
                version: Some(VersionParams { app: APP_VERSION }),
                ..ConsensusParams::default()
            }),
            ..ResponseInitChain::default()
        }
    }

    fn check_tx(&self, request: RequestCheckTx) -> ResponseCheckTx {
        match self.check(&request.tx) {
            Ok(gas_wanted) => ResponseCheckTx { code: 0, gas_wanted: gas_wanted as i64, ..ResponseCheckTx::default() },
            Err(e) => ResponseCheckTx { code: 1, log: format!("{e:#}"), ..ResponseCheckTx::default() },
        }
    }

    fn finalize_block(&self, request: RequestFinalizeBlock) -> ResponseFinalizeBlock {
        let txs: Vec<&[u8]> = request.txs.iter().map(|t| t.as_ref()).collect();
        let started = std::time::Instant::now();
        match self.finalize(request.height as u64, &txs) {
            Ok(block) => {
                eprintln!("{}", block_line(&block, started.elapsed()));
                ResponseFinalizeBlock {
                    tx_results: block.txs.iter().map(exec_result).collect(),
                    app_hash: block.app_hash.to_vec().into(),
                    ..ResponseFinalizeBlock::default()
                }
            }
            // CometBFT never asks this of a node in step with it; a node out of step
            // must not answer with a state it did not compute.
            Err(e) => fatal(&format!("cannot finalize block {}: {e:#}", request.height)),
        }
    }

    fn commit(&self) -> ResponseCommit {
        match self.commit_pending() {
            Ok(height) => ResponseCommit { retain_height: self.retain_height(height) as i64 },
            // Without the block on disk the node must not go on as if it were committed.
            Err(e) => fatal(&format!("cannot commit: {e:#}")),
        }
    }

    fn list_snapshots(&self) -> ResponseListSnapshots {
        crate::sync::list_snapshots(self)
    }

    fn offer_snapshot(&self, request: RequestOfferSnapshot) -> ResponseOfferSnapshot {
        crate::sync::offer_snapshot(self, request)
    }

    fn load_snapshot_chunk(&self, request: RequestLoadSnapshotChunk) -> ResponseLoadSnapshotChunk {
        crate::sync::load_snapshot_chunk(self, request)
    }

    fn apply_snapshot_chunk(&self, request: RequestApplySnapshotChunk) -> ResponseApplySnapshotChunk {
        crate::sync::apply_snapshot_chunk(self, request)
    }

    fn query(&self, request: RequestQuery) -> ResponseQuery {
        let height = u64::try_from(request.height).unwrap_or(0);
        match self.query_at(&request.path, &request.data, height, request.prove) {
            Ok(answer) => ResponseQuery {
                code: 0,
                value: answer.value.into(),
                height: answer.height as i64,
                proof_ops: answer.proof.map(|proof| ProofOps {
                    ops: vec![ProofOp {
                        r#type: PROOF_TYPE.into(),
                        key: request.data.to_vec(),
                        data: serde_json::to_vec(&proof).expect("a proof serializes"),
                    }],
                }),
                ..ResponseQuery::default()
            },
            Err(e) => ResponseQuery { code: 1, log: format!("{e:#}"), ..ResponseQuery::default() },
        }
    }
}

/// A query's answer: its value (JSON), the height it is about and, if asked for, its proof
/// against that height's app hash.
pub struct Answer {
    pub value: Vec<u8>,
    pub height: u64,
    pub proof: Option<QueryProof>,
}

/// The height a query is about, the last committed if 0.
fn query_height(height: u64, committed: u64) -> Result<u64> {
    match height {
        0 => Ok(committed),
        h if h > committed => bail!("no block {h} yet (the last committed is {committed})"),
        h => Ok(h),
    }
}

/// A transaction hash given as 32 raw bytes or as hex (with or without `0x`).
fn tx_hash_of(data: &[u8]) -> Result<[u8; 32]> {
    let text = std::str::from_utf8(data).ok().map(|t| t.trim().trim_start_matches("0x").to_lowercase());
    let bytes = text.and_then(|t| merkle_memory::hash::hex_to_bytes(&format!("0x{t}"))).unwrap_or(data.to_vec());
    bytes.try_into().map_err(|_| anyhow::anyhow!("the data is not a 32-byte transaction hash (raw or hex)"))
}

impl Node {
    /// [`Node::query_at`] at the last committed height, without a proof: the answer's value.
    pub fn answer(&self, path: &str, data: &[u8]) -> Result<Vec<u8>> {
        Ok(self.query_at(path, data, 0, false)?.value)
    }

    /// Query paths, as of block `height` (0: the last committed), with a proof if `prove`:
    /// - `/tx` (data: the transaction's SHA-256, raw or hex): its outcome, at its height;
    /// - `/state` (data: nothing, or a height in decimal): the app hash;
    /// - `/storage` (data: a key's bytes): the value the contract stores under it;
    /// - `/call` (data: a transaction): what the call would give, run on that state and
    ///   thrown away; its proof proves the state it ran on;
    /// - `/snapshots` and `/snapshot_chunk` (data: `HEIGHT/INDEX`): state sync's snapshots
    ///   and chunks, for validators that start from one (their own checks are the proof).
    ///
    /// An earlier state is rebuilt from the history on disk (its nearest snapshot and the
    /// log) without holding up the node.
    pub fn query_at(&self, path: &str, data: &[u8], height: u64, prove: bool) -> Result<Answer> {
        let asked = height;
        let (committed, _) = self.committed();
        let height = query_height(height, committed)?;
        match path {
            "/tx" => {
                let hash = tx_hash_of(data)?;
                let s = self.lock();
                let (at, index) = s.txs.get(&hash).context("no committed transaction has this hash")?;
                if at > height {
                    bail!("the transaction was committed at height {at}, after {height}");
                }
                let block = s.history.block(at)?;
                drop(s);
                let record = &block.txs[index];
                let call = crate::envelope::Envelope::decode(&record.tx).ok().map(|e| e.body);
                let answer = TxAnswer { height: at, index, call, record };
                let proof = prove.then(|| QueryProof::of_tx(&block, index));
                Ok(Answer { value: serde_json::to_vec(&answer)?, height: at, proof })
            }
            "/state" => {
                // The height may be given as the data, in decimal, too.
                let height = match std::str::from_utf8(data).map(str::trim) {
                    Ok("") => height,
                    Ok(text) => query_height(text.parse().context("the data is not a height in decimal")?, committed)?,
                    Err(_) => bail!("the data is not a height in decimal"),
                };
                let s = self.lock();
                s.history.check_held(height)?;
                let app_hash = s.app_hashes[height as usize];
                let proof = prove.then(|| Self::summary(&s, height).map(|b| QueryProof::of_app(&b))).transpose()?;
                let value = serde_json::to_vec(&StateAnswer { height, app_hash })?;
                Ok(Answer { value, height, proof })
            }
            "/storage" | "/call" => self.with_state(asked, |ledger, block| {
                let machine = &mut ledger.executor.machine;
                if path == "/storage" {
                    let proof = prove.then(|| QueryProof::of_state(&block, machine, Some(data)));
                    let value = machine.store().storage.get(data).map(<[u8]>::to_vec);
                    let value = serde_json::to_vec(&StorageAnswer { key: data.to_vec(), value })?;
                    return Ok(Answer { value, height: block.height, proof });
                }
                let proof = prove.then(|| QueryProof::of_state(&block, machine, None));
                // Run on the state itself, and taken back.
                let record = ledger.try_call(data, block.height);
                let value = serde_json::to_vec(&ResultData { outcome: record.outcome, post_hash: record.post_hash })?;
                Ok(Answer { value, height: block.height, proof })
            }),
            "/session" => {
                let Ok(session) = <[u8; 40]>::try_from(data) else {
                    bail!("the data is not 40 bytes: a public key and a session number (u64, little-endian)")
                };
                let key: [u8; 32] = session[..32].try_into().expect("40 bytes");
                let id = u64::from_le_bytes(session[32..].try_into().expect("40 bytes"));
                self.with_state(asked, |ledger, block| {
                    let next = ledger.next_counter(&key, id);
                    let stored = crate::ledger::session_storage_key(&key, id);
                    let proof = prove.then(|| QueryProof::of_state(&block, &mut ledger.executor.machine, Some(&stored)));
                    let value = serde_json::to_vec(&SessionAnswer { public_key: key, session: id, next })?;
                    Ok(Answer { value, height: block.height, proof })
                })
            }
            "/snapshots" | "/snapshot_chunk" => {
                let (_, _, snapshots) = self.home();
                let value = crate::sync::answer(&snapshots, path, data)?;
                Ok(Answer { value, height: committed, proof: None })
            }
            _ => bail!("unknown query path `{path}`; paths: /tx, /state, /storage, /call, /session, /snapshots, /snapshot_chunk"),
        }
    }

    /// Block `height` as its app hash commits to it: the history's first, or one of its log.
    fn summary(s: &State, height: u64) -> Result<BlockSummary> {
        s.history.check_held(height)?;
        match height == s.first.height {
            true => Ok(s.first),
            false => Ok(BlockSummary::of(&s.history.block(height)?)),
        }
    }

    /// `answer` of the state after block `height` (0: the last committed) and that
    /// block. The committed state is the machine itself, read in place under its lock
    /// (`answer` must leave it as it found it): no copy. While a finalized block waits for
    /// its Commit, the machine holds that block's state, so a query about the committed
    /// one waits for the Commit (CometBFT sends it right after FinalizeBlock) and is then
    /// about the new committed height if it asked for the last one. An earlier state,
    /// or one whose Commit does not come within [`COMMIT_WAIT`], is rebuilt from the
    /// history on disk without holding up the node.
    fn with_state<R>(&self, height: u64, answer: impl FnOnce(&mut Ledger, BlockSummary) -> Result<R>) -> Result<R> {
        let mut slot = self.slot();
        let mut waited = false;
        let (height, dir) = loop {
            let s = self.lock();
            let committed = s.app_hashes.top();
            let height = query_height(height, committed)?;
            let block = Self::summary(&s, height)?;
            let dir = s.history.dir().to_path_buf();
            drop(s);
            if height == slot.height {
                return answer(&mut slot.ledger, block);
            }
            if height < committed || waited {
                break (height, dir);
            }
            // The machine is a finalized block ahead: wait for its Commit.
            let (next, timeout) =
                self.contract.committed.wait_timeout(slot, COMMIT_WAIT).unwrap_or_else(|p| p.into_inner());
            slot = next;
            waited = timeout.timed_out();
        };
        drop(slot);
        let (history, blocks) = History::read(&dir, false)?;
        let mut ledger = state_after(&history, &blocks, height, self.fault)?;
        let block = Self::summary(&self.lock(), height)?;
        answer(&mut ledger, block)
    }
}

/// How long a query about the committed state waits for the Commit of a finalized block
/// before rebuilding that state from the history instead.
pub const COMMIT_WAIT: Duration = Duration::from_secs(1);

/// `/tx`'s answer: where the transaction is, its envelope read (null if it is not one)
/// and its record (with its bytes in hex).
#[derive(serde::Serialize)]
struct TxAnswer<'a> {
    height: u64,
    index: usize,
    call: Option<crate::envelope::Body>,
    #[serde(flatten)]
    record: &'a TxRecord,
}

/// `/session`'s answer: the counter the session's next transaction must use (0 for a
/// session never used). Proven, it opens the reserved storage key that holds it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SessionAnswer {
    #[serde(with = "crate::serde_hex::hash")]
    pub public_key: [u8; 32],
    pub session: u64,
    pub next: u64,
}

/// `/state`'s answer.
#[derive(serde::Serialize)]
struct StateAnswer {
    height: u64,
    #[serde(with = "crate::serde_hex::hash")]
    app_hash: Hash,
}

/// `/storage`'s answer: the key and its value, none if it holds none.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StorageAnswer {
    #[serde(with = "crate::serde_hex::bytes")]
    pub key: Vec<u8>,
    #[serde(with = "crate::serde_hex::optional_bytes")]
    pub value: Option<Vec<u8>>,
}

/// What a node's first start sets; its history fixes them afterwards.
#[derive(Debug, Default)]
pub struct NewNode {
    pub module: Option<std::path::PathBuf>,
    pub gas_limit: Option<u64>,
    pub snapshot_interval: Option<u64>,
    /// The chain's id (its CometBFT genesis's `chain_id`).
    pub chain_id: Option<String>,
    pub admin: Option<Hash>,
    pub block_gas_limit: Option<u64>,
    pub fault: Option<Fault>,
}

/// Gas a call may use unless the node is started with another limit: a transaction
/// that loops forever must end.
pub const DEFAULT_GAS_LIMIT: u64 = 10_000_000;
pub const DEFAULT_SNAPSHOT_INTERVAL: u64 = 100;
/// Gas for one storage call: every other step costs 1.
pub const STORAGE_PRICE: u64 = 100;

/// Opens the node whose history is in `home`, or starts one there: the same command does
/// both. On a history, whatever `new` gives must be what the history fixed.
pub fn start(home: &Path, new: NewNode) -> Result<Node> {
    if crate::history::exists(home) {
        if let Some(difference) = new.difference(&crate::history::read_setup(home)?)? {
            bail!("{} holds a node whose {difference}", home.display());
        }
        return Node::open(home, new.fault);
    }
    let (Some(path), Some(chain_id)) = (&new.module, &new.chain_id) else {
        bail!(
            "{} holds no history yet: give the contract with --module and the chain's id with --chain-id",
            home.display()
        )
    };
    let chain = Chain {
        id: chain_id.clone(),
        admin: new.admin,
        block_gas_limit: new.block_gas_limit.unwrap_or(DEFAULT_BLOCK_GAS_LIMIT),
    };
    let setup = setup_of(path, new.gas_limit, new.snapshot_interval, chain)?;
    Node::create(home, setup, new.fault)
}

fn read_module(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read module {}", path.display()))
}

/// The setup of a node hosting the contract in `path` on `chain`, with the given gas
/// limit and snapshot interval or the defaults: what a validator reading the chain must
/// know too.
pub fn setup_of(
    path: &Path,
    gas_limit: Option<u64>,
    snapshot_interval: Option<u64>,
    chain: Chain,
) -> Result<NodeSetup> {
    let bytes = read_module(path)?;
    setup_from(bytes, gas_limit, snapshot_interval, chain).with_context(|| format!("{}", path.display()))
}

/// The chain's contract, gas limits and admin as its genesis `app_state` names them:
/// `{"module": "0x<the module's bytes>", "gas_limit": N, "block_gas_limit": N, "admin":
/// "0x<32 bytes>"}` (all but `module` optional).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Genesis {
    pub module: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_gas_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::serde_hex::optional_hash")]
    pub admin: Option<Hash>,
}

impl Genesis {
    /// Reads a genesis `app_state`.
    pub fn from_json(app_state: &serde_json::Value) -> Result<Self> {
        serde_json::from_value(app_state.clone())
            .context("the genesis app_state is not {\"module\", \"gas_limit\", \"block_gas_limit\", \"admin\"}")
    }

    /// The setup the genesis of chain `chain_id` describes.
    pub fn setup(&self, chain_id: &str) -> Result<NodeSetup> {
        let bytes = merkle_memory::hash::hex_to_bytes(&self.module).context("the genesis module is not hex")?;
        let chain = Chain {
            id: chain_id.to_string(),
            admin: self.admin,
            block_gas_limit: self.block_gas_limit.unwrap_or(DEFAULT_BLOCK_GAS_LIMIT),
        };
        setup_from(bytes, self.gas_limit, None, chain)
    }
}

/// The setup a validator reading the chain behind `rpc` needs: the chain's id from
/// `/status`, its contract, gas limits and admin from the genesis `app_state`; `module` and
/// `gas_limit`, when given, stand in for the genesis's (or name a contract a genesis with
/// an empty `app_state` does not).
pub fn setup_from_rpc(rpc: &crate::rpc::Rpc, module: Option<&Path>, gas_limit: Option<u64>) -> Result<NodeSetup> {
    let chain_id = rpc.chain_id()?;
    let app_state = rpc.genesis_app_state()?;
    let named = !(app_state.is_null() || app_state.as_str().is_some_and(|s| s.trim().is_empty()));
    let mut genesis = match named {
        true => Genesis::from_json(&app_state)?,
        false => Genesis { module: String::new(), gas_limit: None, block_gas_limit: None, admin: None },
    };
    match module {
        Some(path) => genesis.module = merkle_memory::hash::bytes_to_hex(&read_module(path)?),
        None if !named => bail!("the chain's genesis names no contract: give it with --module"),
        None => {}
    }
    genesis.gas_limit = gas_limit.or(genesis.gas_limit);
    genesis.setup(&chain_id)
}

/// Whether a genesis `app_state` (empty: it names nothing) describes `setup`.
fn check_genesis(app_state: &[u8], setup: &NodeSetup) -> Result<()> {
    if app_state.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let named = Genesis::from_json(&serde_json::from_slice(app_state).context("the app_state is not JSON")?)?
        .setup(&setup.chain.id)?;
    if named.module_bytes != setup.module_bytes {
        bail!("it names another contract");
    }
    if named.config != setup.config {
        bail!("its gas limit is {}, this node's {}", named.config.gas_limit, setup.config.gas_limit);
    }
    if named.chain != setup.chain {
        let (a, b) = (&named.chain, &setup.chain);
        bail!(
            "its admin is {:?} and block gas limit {}, this node's {:?} and {}",
            a.admin.map(|k| hex(&k)),
            a.block_gas_limit,
            b.admin.map(|k| hex(&k)),
            b.block_gas_limit
        );
    }
    Ok(())
}

fn setup_from(
    bytes: Vec<u8>,
    gas_limit: Option<u64>,
    snapshot_interval: Option<u64>,
    chain: Chain,
) -> Result<NodeSetup> {
    let module = stepper::Module::new(&bytes)?;
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = STORAGE_PRICE;
    let config =
        stepper::Config { gas_limit: gas_limit.unwrap_or(DEFAULT_GAS_LIMIT), gas, ..stepper::Config::default() };
    let snapshot_interval = snapshot_interval.unwrap_or(DEFAULT_SNAPSHOT_INTERVAL);
    if snapshot_interval == 0 {
        bail!("the snapshot interval must be at least 1 block");
    }
    if chain.id.is_empty() || chain.id.len() > crate::envelope::MAX_CHAIN_ID_LEN {
        bail!("a chain id has 1 to {} bytes", crate::envelope::MAX_CHAIN_ID_LEN);
    }
    if chain.block_gas_limit == 0 || chain.block_gas_limit > i64::MAX as u64 {
        bail!("the block gas limit must be from 1 to 2^63 - 1");
    }
    Ok(NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval, chain })
}

impl NewNode {
    /// What this start asks for that the history's `setup` does not have, if anything:
    /// settings not given are taken from the history.
    fn difference(&self, setup: &NodeSetup) -> Result<Option<String>> {
        if let Some(path) = &self.module {
            if read_module(path)? != *setup.module_bytes {
                return Ok(Some(format!("contract is not {}", path.display())));
            }
        }
        let differs = |name: &str, given: Option<String>, fixed: String| {
            given.filter(|g| *g != fixed).map(|g| format!("{name} is {fixed}, not {g}"))
        };
        let chain = &setup.chain;
        Ok(differs("gas limit", self.gas_limit.map(|g| g.to_string()), setup.config.gas_limit.to_string())
            .or_else(|| {
                let interval = setup.snapshot_interval.to_string();
                differs("snapshot interval", self.snapshot_interval.map(|i| i.to_string()), interval)
            })
            .or_else(|| differs("chain id", self.chain_id.clone(), chain.id.clone()))
            .or_else(|| {
                let fixed = chain.admin.map_or("none".into(), |k| hex(&k));
                differs("admin", self.admin.map(|k| hex(&k)), fixed)
            })
            .or_else(|| {
                let fixed = chain.block_gas_limit.to_string();
                differs("block gas limit", self.block_gas_limit.map(|g| g.to_string()), fixed)
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_genesis_names_this_nodes_contract_or_nothing() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/counter.wat");
        let admin = [7; 32];
        let chain = Chain { admin: Some(admin), ..Chain::named("test-chain") };
        let setup = setup_of(&path, Some(5000), None, chain).unwrap();
        let module = merkle_memory::hash::bytes_to_hex(&setup.module_bytes);
        let genesis = |gas_limit, block_gas_limit, admin| {
            serde_json::to_vec(&Genesis { module: module.clone(), gas_limit, block_gas_limit, admin }).unwrap()
        };
        assert!(check_genesis(b"", &setup).is_ok() && check_genesis(b" \n", &setup).is_ok());
        assert!(check_genesis(&genesis(Some(5000), None, Some(admin)), &setup).is_ok());
        let explicit = genesis(Some(5000), Some(DEFAULT_BLOCK_GAS_LIMIT), Some(admin));
        assert!(check_genesis(&explicit, &setup).is_ok());
        let refused = check_genesis(&genesis(None, None, Some(admin)), &setup).unwrap_err().to_string();
        assert!(refused.contains("gas limit is 10000000, this node's 5000"), "{refused}");
        let refused = check_genesis(&genesis(Some(5000), None, None), &setup).unwrap_err().to_string();
        assert!(refused.contains("its admin is None"), "{refused}");
        let refused = check_genesis(&genesis(Some(5000), Some(7), Some(admin)), &setup).unwrap_err().to_string();
        assert!(refused.contains("block gas limit 7"), "{refused}");
        let other =
            Genesis { module: "0x0061736d01000000".into(), gas_limit: None, block_gas_limit: None, admin: None };
        let other = serde_json::to_vec(&other).unwrap();
        assert!(check_genesis(&other, &setup).unwrap_err().to_string().contains("another contract"));
        assert!(check_genesis(b"{\"contract\": 1}", &setup).is_err());
        // The genesis's setup is of the chain it is given.
        let json: serde_json::Value = serde_json::from_slice(&explicit).unwrap();
        let named = Genesis::from_json(&json).unwrap().setup("test-chain").unwrap();
        assert_eq!((named.chain, named.config), (setup.chain.clone(), setup.config.clone()));
        // Chain settings no node can run are refused.
        let bad = |chain| format!("{:#}", setup_of(&path, None, None, chain).unwrap_err());
        assert!(bad(Chain::named("")).contains("a chain id has 1 to 255 bytes"));
        assert!(bad(Chain { block_gas_limit: 0, ..Chain::named("c") }).contains("block gas limit"));
    }
}
