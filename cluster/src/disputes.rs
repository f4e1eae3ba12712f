//! Disputes between a node and a validator over TCP. The node (`verigame node
//! --dispute-listen ADDR`) answers a validator's request to defend one committed
//! transaction: it rebuilds the state before it from its own snapshots and log, records
//! the call with its own executor, and joins the named referee as the defender. The
//! validator (`verigame validate --challenge ADDR`) holds a referee for the call it
//! replayed, asks the node to defend it there, and joins as the challenger.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use traces::wire::{self, Log, Rules};
use traces::{Call, Fault, Limits, LocalParty, Outcome, Role, Trace};

use crate::history::{History, NodeSetup};
use crate::ledger::Ledger;

/// The version of the dispute request this build speaks.
pub const VERSION: u64 = 1;
/// The longest request line a node reads.
const MAX_REQUEST: usize = 4096;
/// How long a node waits for a request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a validator asks of a node: defend transaction `index` of block `height` before
/// the referee at `referee`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u64,
    pub height: u64,
    pub index: usize,
    pub referee: String,
}

/// The node's answers on the request's connection: `accepted` once it has rebuilt the
/// transaction and is joining the referee, then `result`; or `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Answer {
    Accepted { call: serde_json::Value },
    Result { winner: String, reason: String },
    Error { reason: String },
}

/// The call of transaction `tx` (a JSON call) on `before`, the state before it.
pub fn call_of(setup: &NodeSetup, before: Ledger, tx: &[u8]) -> Result<Call> {
    let tx = before.exports.parse(tx).context("the transaction is not a valid call")?;
    let call = Call::new(setup.module_bytes.to_vec(), &tx.export, tx.args, setup.config.clone())?;
    Ok(call.on(before.executor.machine)?)
}

/// The call of committed transaction `index` of block `height`, on the state the node in
/// `home` had before it: its latest snapshot below the block, then its own log replayed
/// by its own executor (computing with `fault`), each block checked against the app hash
/// it recorded.
pub fn committed_call(home: &Path, height: u64, index: usize, fault: Option<Fault>) -> Result<Call> {
    let (history, blocks) = History::read(home, false)?;
    let setup = &history.setup;
    let top = history.first_height() + blocks.len() as u64;
    let Some(block) = height.checked_sub(1).and_then(|h| history.span(&blocks, h, height).ok()?.first()) else {
        bail!("no committed block {height} (the node has blocks {} to {top})", history.first_height() + 1);
    };
    let Some(record) = block.txs.get(index) else {
        bail!("block {height} has no transaction {index} (it has {})", block.txs.len());
    };
    let mut ledger = crate::node::state_after(&history, &blocks, height - 1, fault)?;
    for t in &block.txs[..index] {
        ledger.execute(&t.tx);
    }
    call_of(setup, ledger, &record.tx)
}

/// Serves dispute requests on `listener`, each on a thread of its own, until the process
/// ends, for the node whose history is in `home` and which computes with `fault`. The
/// history is read from disk, so the node goes on following the chain meanwhile.
pub fn serve(listener: TcpListener, home: PathBuf, fault: Option<Fault>, limits: Limits, log: Log) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (home, limits, log) = (home.clone(), limits.clone(), log.clone());
        thread::spawn(move || {
            let peer = stream.peer_addr().map_or_else(|_| "a validator".into(), |a| a.to_string());
            let answer = match defend(&stream, &home, fault, limits, &log) {
                Ok(verdict) => Answer::Result { winner: verdict.winner.name().into(), reason: verdict.reason },
                Err(e) => Answer::Error { reason: wire::clip(&format!("{e:#}")) },
            };
            log(&format!("dispute from {peer}: {answer:?}"));
            let _ = send(&stream, &answer);
        });
    }
}

fn send(mut stream: &TcpStream, answer: &Answer) -> std::io::Result<()> {
    let line = serde_json::to_string(answer).expect("an answer serializes");
    stream.write_all(format!("{line}\n").as_bytes())
}

/// Reads one request from `stream`, rebuilds its transaction and plays it as the
/// defender before the referee it names.
fn defend(stream: &TcpStream, home: &Path, fault: Option<Fault>, limits: Limits, log: &Log) -> Result<wire::Verdict> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(Read::take(stream, MAX_REQUEST as u64)).read_line(&mut line).context("no request line")?;
    let request: Request = serde_json::from_str(line.trim()).context("the request is not a dispute request")?;
    if request.version != VERSION {
        bail!("dispute request version {} (this node speaks version {VERSION})", request.version);
    }
    let call = committed_call(home, request.height, request.index, fault)?;
    let trace = Trace::record(call.clone(), fault, limits, &mut |_| {})?;
    send(stream, &Answer::Accepted { call: call.to_json() })?;
    let referee = TcpStream::connect(&request.referee)
        .with_context(|| format!("cannot reach the referee at {}", request.referee))?;
    let log = log.clone();
    wire::join(referee, Role::Defender, &call, &mut LocalParty { trace }, &move |m| log(m)).map_err(anyhow::Error::msg)
}

/// Plays transaction `index` of block `height`, whose honest call is `call`, against the
/// node answering disputes at `node`: holds a referee for `call` on `referee_listen`
/// (a port the node can reach), asks the node to defend there, and joins as the
/// challenger with `honest`. A node that does not accept within `rules.timeout`, or has
/// not joined the referee that long after accepting, is reported; once it has joined,
/// the referee's timeouts bound the game.
pub fn challenge(
    node: &str,
    referee_listen: &str,
    (height, index): (u64, usize),
    call: &Call,
    honest: Trace,
    rules: Rules,
) -> Result<Outcome> {
    enum Event {
        Joined,
        NodeFailed(String),
        Over(Box<Result<wire::Hosted, traces::TraceError>>),
    }
    let listener =
        TcpListener::bind(referee_listen).with_context(|| format!("cannot hold a referee on {referee_listen}"))?;
    let address = listener.local_addr()?.to_string();
    let wait = rules.timeout;
    let rules = Rules { call: Some(call.clone()), ..rules };
    let (tx, events) = mpsc::channel();
    let on_join = tx.clone();
    let log: Log = Arc::new(move |m: &str| {
        if m.starts_with("the defender joined") {
            let _ = on_join.send(Event::Joined);
        }
    });
    let over = tx.clone();
    thread::spawn(move || over.send(Event::Over(Box::new(wire::host(&listener, &rules, &log)))));

    let request = Request { version: VERSION, height, index, referee: address.clone() };
    let mut stream = TcpStream::connect(node).with_context(|| format!("cannot reach the node's disputes at {node}"))?;
    stream.write_all(format!("{}\n", serde_json::to_string(&request)?).as_bytes())?;
    stream.set_read_timeout(Some(wait))?;
    let mut answers = BufReader::new(Read::take(stream, MAX_REQUEST as u64 * 16));
    let mut first = String::new();
    answers.read_line(&mut first).with_context(|| format!("the node did not accept within {wait:?}"))?;
    match serde_json::from_str::<Answer>(first.trim()) {
        Ok(Answer::Accepted { .. }) => {}
        Ok(Answer::Error { reason }) => {
            bail!("the node refuses to defend block {height} transaction {index}: {reason}")
        }
        _ => bail!("the node answered the dispute request with {:?}", wire::clip(first.trim())),
    }
    // The node's last word comes on the same connection: an error means it will not play.
    answers.get_ref().get_ref().set_read_timeout(None)?;
    thread::spawn(move || {
        let mut last = String::new();
        if answers.read_line(&mut last).is_ok() {
            if let Ok(Answer::Error { reason }) = serde_json::from_str::<Answer>(last.trim()) {
                let _ = tx.send(Event::NodeFailed(reason));
            }
        }
    });
    let mut validator = LocalParty { trace: honest };
    let referee = TcpStream::connect(&address)?;
    let challenger = call.clone();
    thread::spawn(move || wire::join(referee, Role::Challenger, &challenger, &mut validator, &|_| {}));
    let mut joined = false;
    loop {
        let event = match joined {
            true => events.recv().map_err(|_| anyhow::anyhow!("the referee stopped"))?,
            false => events
                .recv_timeout(wait)
                .map_err(|_| anyhow::anyhow!("the node did not join the referee within {wait:?}"))?,
        };
        match event {
            Event::Joined => joined = true,
            Event::NodeFailed(reason) => bail!("the node could not play: {reason}"),
            Event::Over(hosted) => return Ok((*hosted)?.outcome),
        }
    }
}
