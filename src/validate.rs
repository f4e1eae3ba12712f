//! `verigame validate`: the batch validator. It replays a node's history on the fast
//! path from the nearest snapshot, checks every transaction's state hash and every
//! block's app hash, and at the first wrong one plays the verification game against the
//! recorded execution, ending with the judge's verdict and the proof.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use merkle_memory::hex;
use serde_json::{json, Value as Json};
use traces::{Limits, Outcome, Role, Trace};

use crate::history::{BlockRecord, History, TxRecord};
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

/// The first transaction whose recorded state hash or outcome (status, results, steps,
/// gas, error) the honest replay does not give.
pub struct WrongTx {
    pub height: u64,
    pub index: usize,
    pub recorded: TxRecord,
    pub honest: TxRecord,
    /// The game against the recorded execution, when the history records how it ran.
    pub game: Option<Outcome>,
    /// Why no game was played, if none was.
    pub no_game: Option<String>,
}

pub struct Report {
    /// The first and last block checked.
    pub range: (u64, u64),
    /// Where the replay started: the snapshot's height (0 for the fresh contract).
    pub snapshot: u64,
    /// Blocks replayed and checked (from the snapshot on).
    pub blocks: u64,
    pub calls: u64,
    pub seconds: f64,
    pub wrong: Option<WrongTx>,
}

impl Report {
    pub fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.seconds.max(1e-9)
    }

    pub fn to_json(&self) -> Json {
        let wrong = self.wrong.as_ref().map(|w| {
            let game = w.game.as_ref().map(|o| {
                let ruling = o.transcript.ruling.as_ref();
                json!({
                    "winner": o.winner.name(),
                    "verdict": o.reason,
                    "rounds": o.transcript.rounds.len(),
                    "diverged_step": ruling.map(|r| r.step),
                    "instruction": ruling.and_then(|r| r.instruction.clone()),
                    "proof_bytes": ruling.map(|r| r.proof_bytes),
                    "proof": ruling.and_then(|r| r.proof.as_ref()).map(judge::json::to_json),
                })
            });
            json!({
                "height": w.height,
                "tx_index": w.index,
                "tx": String::from_utf8_lossy(&w.recorded.tx),
                "recorded_post_hash": hex(&w.recorded.post_hash),
                "honest_post_hash": hex(&w.honest.post_hash),
                "recorded_outcome": w.recorded.outcome.to_json(),
                "honest_outcome": w.honest.outcome.to_json(),
                "game": game,
                "no_game": w.no_game,
            })
        });
        json!({
            "from": self.range.0,
            "to": self.range.1,
            "snapshot": self.snapshot,
            "blocks": self.blocks,
            "calls": self.calls,
            "seconds": self.seconds,
            "calls_per_second": self.calls_per_second(),
            "valid": self.wrong.is_none(),
            "wrong": wrong,
        })
    }

    pub fn print(&self) {
        println!(
            "checked blocks {} to {} (from the snapshot at {}): {} blocks, {} calls in {:.2} s, {:.0} calls/s",
            self.range.0,
            self.range.1,
            self.snapshot,
            self.blocks,
            self.calls,
            self.seconds,
            self.calls_per_second()
        );
        let Some(w) = &self.wrong else {
            println!("every block's app hash and every call's outcome is right");
            return;
        };
        println!("block {} transaction {} is wrong: {}", w.height, w.index, String::from_utf8_lossy(&w.recorded.tx));
        println!("   recorded state after it: {}", hex(&w.recorded.post_hash));
        println!("   honest state after it:   {}", hex(&w.honest.post_hash));
        if w.recorded.outcome != w.honest.outcome {
            println!("   recorded outcome: {}", w.recorded.outcome.to_json());
            println!("   honest outcome:   {}", w.honest.outcome.to_json());
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

/// The first and last block to check of `last`.
fn range(options: &Options, last: u64, what: &str) -> Result<(u64, u64)> {
    let from = options.from.unwrap_or(1).max(1);
    let to = options.to.unwrap_or(last).min(last);
    if from > to {
        bail!("no blocks to check: {what} has {last} blocks, the range is {from} to {to}");
    }
    Ok((from, to))
}

/// Validates the history in `dir`; `progress` hears each block checked.
pub fn validate(dir: &Path, options: &Options, progress: &dyn Fn(u64, u64)) -> Result<Report> {
    let (history, blocks) = History::read(dir, false)?;
    let (from, to) = range(options, blocks.len() as u64, "the history")?;
    let (snapshot, ledger, _) = crate::node::replay_start(&history, &blocks, from - 1, None)?;
    check_chain(&history.setup, &blocks, (snapshot, ledger), (from, to), options, progress, Instant::now())
}

/// Validates the chain a CometBFT node serves at `rpc` (`http://HOST:PORT`), whose
/// contract and configuration are `setup`, from genesis: every block's transactions
/// replayed, each result's outcome and post-state and each block's app hash (the next
/// header's) checked. `fetched` hears each block read.
pub fn validate_rpc(
    rpc: &str,
    setup: &crate::history::NodeSetup,
    options: &Options,
    fetched: &dyn Fn(u64, u64),
    progress: &dyn Fn(u64, u64),
) -> Result<Report> {
    // Reading the chain is part of validating it: the clock starts here.
    let started = Instant::now();
    let rpc = crate::rpc::Rpc::new(rpc);
    // The app hash after block h is in block h + 1's header.
    let last = rpc.latest_height()?.saturating_sub(1);
    let (from, to) = range(options, last, "the chain")?;
    let blocks = (1..=to)
        .map(|h| {
            fetched(h, to);
            rpc.committed_block(h)
        })
        .collect::<Result<Vec<_>>>()?;
    check_chain(setup, &blocks, (0, Ledger::new(setup, None)?), (from, to), options, progress, started)
}

/// Checks `blocks[snapshot..to]` (block h at index h - 1) from `ledger`, the state after
/// block `snapshot`; plays the game at the first wrong transaction.
fn check_chain(
    setup: &crate::history::NodeSetup,
    blocks: &[BlockRecord],
    (snapshot, mut ledger): (u64, Ledger),
    (from, to): (u64, u64),
    options: &Options,
    progress: &dyn Fn(u64, u64),
    start: Instant,
) -> Result<Report> {
    let mut calls = 0;
    for block in &blocks[snapshot as usize..to as usize] {
        if let Some((index, honest, before)) = check_block(&mut ledger, block)? {
            let recorded = block.txs[index].clone();
            let mut wrong = WrongTx { height: block.height, index, recorded, honest, game: None, no_game: None };
            if wrong.recorded.post_hash == wrong.honest.post_hash {
                wrong.no_game = Some(
                    "the recorded state after the call is right but its outcome is not: no execution gives the \
                     recorded outcome, so there is no execution to dispute; the record itself is wrong"
                        .into(),
                );
            } else {
                let place = (block.height, index);
                match play(setup, before, &wrong.recorded, place, options) {
                    Ok(game) => wrong.game = Some(game),
                    Err(e) => wrong.no_game = Some(format!("{e:#}")),
                }
            }
            calls += index as u64 + 1;
            let seconds = start.elapsed().as_secs_f64();
            return Ok(Report {
                range: (from, to),
                snapshot,
                blocks: block.height - snapshot,
                calls,
                seconds,
                wrong: Some(wrong),
            });
        }
        calls += block.txs.len() as u64;
        progress(block.height, to);
    }
    Ok(Report {
        range: (from, to),
        snapshot,
        blocks: to - snapshot,
        calls,
        seconds: start.elapsed().as_secs_f64(),
        wrong: None,
    })
}

/// Replays a block honestly. At the first transaction whose state hash or outcome differs
/// from the record (or the last one, if only the block's app hash differs), returns its
/// index, the honest outcome and the ledger before it.
fn check_block(ledger: &mut Ledger, block: &BlockRecord) -> Result<Option<(usize, TxRecord, Ledger)>> {
    // A copy per block, not per transaction: the state before a wrong one is rebuilt.
    let start = ledger.clone();
    for (i, recorded) in block.txs.iter().enumerate() {
        let honest = ledger.execute(&recorded.tx);
        let last = i + 1 == block.txs.len();
        if honest.post_hash != recorded.post_hash
            || honest.outcome != recorded.outcome
            || (last && honest.post_hash != block.app_hash)
        {
            let mut before = start;
            block.txs[..i].iter().for_each(|t| drop(before.execute(&t.tx)));
            return Ok(Some((i, honest, before)));
        }
    }
    // A block with transactions had its app hash checked with its last one.
    if block.txs.is_empty() {
        let state = ledger.state_hash();
        if state != block.app_hash {
            bail!(
                "block {} has no transactions, yet its app hash {} is not the state {}",
                block.height,
                hex(&block.app_hash),
                hex(&state)
            );
        }
    }
    Ok(None)
}

/// The game between the validator (challenger, honest) and the node's execution of the
/// transaction (defender), both starting from the agreed state before it: against the node
/// itself with `options.challenge`, else against the execution its history records.
fn play(
    setup: &crate::history::NodeSetup,
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
