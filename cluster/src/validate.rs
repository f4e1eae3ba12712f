//! `verigame validate`: the batch validator. It replays a node's history on the fast
//! path from the nearest snapshot, checks every transaction's state hash and every
//! block's app hash, and at the first wrong one plays the verification game against the
//! recorded execution, ending with the judge's verdict and the proof.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use merkle_memory::hex;
use serde::Serialize;
use traces::{Limits, Outcome, Role, Trace};

use crate::commitment::{app_hash_of, outcome_leaf};
use crate::history::{BlockRecord, History, NodeSetup, TxOutcome, TxRecord};
use crate::ledger::Ledger;

/// Which blocks to check and how to play a game.
#[derive(Clone, Debug)]
pub struct Options {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub degree: u64,
    pub limits: Limits,
    /// Play the game against the node itself, over TCP, instead of replaying the
    /// execution its history records.
    pub challenge: Option<Challenge>,
}

/// Where the node answers disputes, and where this validator holds the referee (an
/// address the node can reach).
#[derive(Clone, Debug)]
pub struct Challenge {
    pub node: String,
    pub referee_listen: String,
    pub rules: traces::wire::Rules,
}

/// The first transaction whose recorded outcome (status, results, steps, gas) or state
/// hash the honest replay does not give.
#[derive(Serialize)]
pub struct WrongTx {
    pub height: u64,
    #[serde(rename = "tx_index")]
    pub index: usize,
    /// The transaction's bytes, hex.
    pub tx: String,
    pub recorded: TxRecord,
    pub honest: TxRecord,
    /// The game against the node's execution, when one was played.
    #[serde(serialize_with = "game_summary")]
    pub game: Option<Outcome>,
    /// Why no game was played, if none was.
    pub no_game: Option<String>,
}

#[derive(Serialize)]
pub struct Report {
    /// The first and last block checked.
    pub from: u64,
    pub to: u64,
    /// Where the replay started: the snapshot's height (0 for the fresh contract).
    pub snapshot: u64,
    /// Blocks replayed and checked (from the snapshot on).
    pub blocks: u64,
    pub calls: u64,
    pub seconds: f64,
    pub calls_per_second: f64,
    /// Whether every block checked is right.
    pub valid: bool,
    pub wrong: Option<WrongTx>,
}

/// A game as `--json` reports it: who won and why, and where the executions parted.
fn game_summary<S: serde::Serializer>(game: &Option<Outcome>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        winner: &'a str,
        verdict: &'a str,
        rounds: usize,
        diverged_step: Option<u64>,
        instruction: Option<&'a str>,
        proof_bytes: Option<usize>,
        proof: Option<serde_json::Value>,
    }
    game.as_ref()
        .map(|o| {
            let ruling = o.transcript.ruling.as_ref();
            Summary {
                winner: o.winner.name(),
                verdict: &o.reason,
                rounds: o.transcript.rounds.len(),
                diverged_step: ruling.map(|r| r.step),
                instruction: ruling.and_then(|r| r.instruction.as_deref()),
                proof_bytes: ruling.map(|r| r.proof_bytes),
                proof: ruling.and_then(|r| r.proof.as_ref()).map(judge::json::to_json),
            }
        })
        .serialize(s)
}

impl Report {
    fn new(
        (from, to): (u64, u64),
        snapshot: u64,
        blocks: u64,
        calls: u64,
        started: Instant,
        wrong: Option<WrongTx>,
    ) -> Self {
        let seconds = started.elapsed().as_secs_f64();
        let calls_per_second = calls as f64 / seconds.max(1e-9);
        Self { from, to, snapshot, blocks, calls, seconds, calls_per_second, valid: wrong.is_none(), wrong }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serializes")
    }

    pub fn print(&self) {
        println!(
            "checked blocks {} to {} (from the snapshot at {}): {} blocks, {} calls in {:.2} s, {:.0} calls/s",
            self.from, self.to, self.snapshot, self.blocks, self.calls, self.seconds, self.calls_per_second
        );
        let Some(w) = &self.wrong else {
            println!("every block's app hash and every call's outcome is right");
            return;
        };
        println!("block {} transaction {} is wrong: {}", w.height, w.index, w.tx);
        println!("   recorded state after it: {}", hex(&w.recorded.post_hash));
        println!("   honest state after it:   {}", hex(&w.honest.post_hash));
        if w.recorded.outcome != w.honest.outcome {
            let text = |o: &TxOutcome| serde_json::to_string(o).expect("an outcome serializes");
            println!("   recorded outcome: {}", text(&w.recorded.outcome));
            println!("   honest outcome:   {}", text(&w.honest.outcome));
        }
        if let Some(why) = &w.no_game {
            println!("no game: {why}");
        }
        if let Some(o) = &w.game {
            if let Some(r) = &o.transcript.ruling {
                let place = r.instruction.as_deref().unwrap_or("(a halted state)");
                println!(
                    "game: {} rounds; the executions part at step {} ({place}); proof {} bytes",
                    o.transcript.rounds.len(),
                    r.step,
                    r.proof_bytes
                );
            }
            println!("verdict: {}", o.reason);
            println!(
                "winner: {} ({})",
                o.winner,
                if o.winner == Role::Challenger { "the validator" } else { "the node" }
            );
        }
    }
}

/// The first and last block to check of blocks `first` + 1 to `last`.
fn range(options: &Options, first: u64, last: u64, what: &str) -> Result<(u64, u64)> {
    let from = options.from.unwrap_or(first + 1).max(1);
    let to = options.to.unwrap_or(last).min(last);
    if from > to {
        bail!("no blocks to check: {what} has {last} blocks, the range is {from} to {to}");
    }
    Ok((from, to))
}

/// Validates the history in `dir`; `progress` hears each block checked.
pub fn validate(dir: &Path, options: &Options, progress: &dyn Fn(u64, u64)) -> Result<Report> {
    let started = Instant::now();
    let (history, blocks) = History::read(dir, false)?;
    let first = history.first_height();
    let (from, to) = range(options, first, first + blocks.len() as u64, "the history")?;
    let (snapshot, ledger, _) = crate::node::replay_start(&history, &blocks, from - 1, None)?;
    let rebuild = |height| crate::node::state_after(&history, &blocks, height, None);
    let checked = blocks.iter().skip((snapshot - first) as usize).take((to - snapshot) as usize).cloned().map(Ok);
    check_chain(&history.setup, checked, (snapshot, ledger), (from, to), options, progress, started, &rebuild)
}

/// Validates the chain a CometBFT node serves at `rpc` (`http://HOST:PORT`), whose
/// contract and configuration are `setup`: every block's transactions replayed, each
/// result's outcome and post-state and each block's app hash (the next header's) checked.
/// From genesis, or with `options.from`, from the latest snapshot the node lists before
/// that block (fetched and checked against its header: `sync::fetch`). Blocks are read
/// while earlier ones are checked, none kept.
pub fn validate_rpc(url: &str, setup: &NodeSetup, options: &Options, progress: &dyn Fn(u64, u64)) -> Result<Report> {
    // Reading the chain is part of validating it: the clock starts here.
    let started = Instant::now();
    let rpc = crate::rpc::Rpc::new(url);
    // The app hash after block h is in block h + 1's header.
    let last = rpc.latest_height()?.saturating_sub(1);
    let (from, to) = range(options, 0, last, "the chain")?;
    let start = |rpc: &crate::rpc::Rpc| -> Result<(u64, Ledger)> {
        let fetched = if from > 1 { crate::sync::fetch(rpc, setup, from - 1)? } else { None };
        Ok(match fetched {
            Some((block, machine)) => (block.height, Ledger::on(machine, None, &setup.chain)),
            None => (0, Ledger::new(setup, None)?),
        })
    };
    let (first, mut ledger) = start(&rpc)?;
    // The state after block `height`, on the rare path that needs it again (a wrong
    // transaction's state before it): read from the chain once more rather than kept.
    let rebuild = |height: u64| -> Result<Ledger> {
        let rpc = crate::rpc::Rpc::new(url);
        let (first, mut ledger) = start(&rpc)?;
        for block in rpc.committed_blocks(first + 1, height, ledger.state_hash()) {
            let block = block?;
            crate::node::execute_block(&mut ledger, block.height, block.txs.iter().map(|t| t.tx.as_slice()), &|_| {
                false
            });
        }
        Ok(ledger)
    };
    let blocks = rpc.committed_blocks(first + 1, to, ledger.state_hash());
    check_chain(setup, blocks.into_iter(), (first, ledger), (from, to), options, progress, started, &rebuild)
}

/// Checks `blocks` (those after block `snapshot`, up to `to`) from `ledger`, the state
/// after block `snapshot`; plays the game at the first wrong transaction, from the state
/// before it: `rebuild` gives the state after a block again, so that no block's start is
/// copied in case one of its transactions is wrong (a copy costs what the contract ever
/// wrote to its memory).
#[allow(clippy::too_many_arguments)]
fn check_chain(
    setup: &NodeSetup,
    blocks: impl Iterator<Item = Result<BlockRecord>>,
    (snapshot, mut ledger): (u64, Ledger),
    range: (u64, u64),
    options: &Options,
    progress: &dyn Fn(u64, u64),
    started: Instant,
    rebuild: &dyn Fn(u64) -> Result<Ledger>,
) -> Result<Report> {
    let mut calls = 0;
    let mut checked = 0;
    for block in blocks {
        let block = block?;
        if let Some((index, honest)) = check_block(&mut ledger, &block)? {
            let recorded = block.txs[index].clone();
            let tx = merkle_memory::hash::bytes_to_hex(&recorded.tx);
            let mut wrong = WrongTx { height: block.height, index, tx, recorded, honest, game: None, no_game: None };
            if outcome_leaf(&wrong.recorded) == outcome_leaf(&wrong.honest) {
                wrong.no_game = Some(
                    "every transaction's outcome and state is right, but the block's app hash does not commit to \
                     them: the node's results and its app hash disagree"
                        .into(),
                );
            } else if wrong.recorded.post_hash == wrong.honest.post_hash {
                wrong.no_game = Some(
                    "the recorded state after the call is right but its outcome is not: no execution gives the \
                     recorded outcome, so there is no execution to dispute; the record itself is wrong"
                        .into(),
                );
            } else {
                let place = (block.height, index);
                let before = rebuild(block.height - 1).map(|mut before| {
                    before.begin_block(block.height);
                    block.txs[..index].iter().for_each(|t| drop(before.execute(&t.tx)));
                    before
                });
                match before.and_then(|before| play(setup, before, &wrong.recorded, place, options)) {
                    Ok(game) => wrong.game = Some(game),
                    Err(e) => wrong.no_game = Some(format!("{e:#}")),
                }
            }
            calls += index as u64 + 1;
            return Ok(Report::new(range, snapshot, block.height - snapshot, calls, started, Some(wrong)));
        }
        calls += block.txs.len() as u64;
        checked += 1;
        progress(block.height, range.1);
    }
    if checked != range.1 - snapshot {
        bail!("the chain ended after block {}, before block {}", snapshot + checked, range.1);
    }
    Ok(Report::new(range, snapshot, checked, calls, started, None))
}

/// Replays a block honestly. At the first transaction whose outcome leaf (its outcome and
/// post-state) differs from the record, or at the last one if only the block's app hash
/// differs, returns its index and the honest record.
fn check_block(ledger: &mut Ledger, block: &BlockRecord) -> Result<Option<(usize, TxRecord)>> {
    ledger.begin_block(block.height);
    let mut leaves = Vec::with_capacity(block.txs.len());
    let mut last = None;
    let bytes: Vec<&[u8]> = block.txs.iter().map(|t| t.tx.as_slice()).collect();
    let opened = crate::node::open_all(ledger, &bytes, &|_| false);
    for ((i, recorded), opened) in block.txs.iter().enumerate().zip(opened) {
        let honest = ledger.execute_opened(&recorded.tx, opened);
        let leaf = outcome_leaf(&honest);
        if leaf != outcome_leaf(recorded) {
            return Ok(Some((i, honest)));
        }
        leaves.push(leaf);
        last = Some(honest);
    }
    let state = last.as_ref().map_or_else(|| ledger.state_hash(), |t| t.post_hash);
    if app_hash_of(&state, &leaves) == block.app_hash {
        return Ok(None);
    }
    match last {
        // Every result is right, yet the app hash does not commit to them.
        Some(honest) => Ok(Some((block.txs.len() - 1, honest))),
        None => bail!(
            "block {} has no transactions, yet its app hash {} does not commit to the state {}",
            block.height,
            hex(&block.app_hash),
            hex(&state)
        ),
    }
}

/// The game between the validator (challenger, honest) and the node's execution of the
/// transaction (defender), both starting from the agreed state before it: against the node
/// itself with `options.challenge`, else against the execution its history records.
fn play(
    setup: &NodeSetup,
    before: Ledger,
    recorded: &TxRecord,
    place: (u64, usize),
    options: &Options,
) -> Result<Outcome> {
    let call = crate::disputes::call_of(setup, before, &recorded.tx)?;
    let record = |fault| Trace::record(call.clone(), fault, options.limits.clone(), &mut |_| {});
    if let Some(c) = &options.challenge {
        let rules = traces::wire::Rules { degree: options.degree, ..c.rules.clone() };
        return crate::disputes::challenge(&c.node, &c.referee_listen, place, &call, record(None)?, rules);
    }
    bail!(
        "a history records what a node committed, not how it computed: challenge the node itself to play the game \
         (--challenge NODE_ADDR, against `verigame node --dispute-listen`)"
    )
}
