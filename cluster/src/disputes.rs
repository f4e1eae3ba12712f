//! Disputes between a node and a validator over TCP. The node (`verigame node
//! --dispute-listen ADDR`) answers a validator's request to defend one committed
//! transaction: it rebuilds the state before it from its own snapshots and log, records
//! the call with its own executor, and joins the named referee as the defender. The
//! validator (`verigame validate --challenge ADDR`) holds a referee for the call it
//! replayed, asks the node to defend it there, and joins as the challenger.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use traces::wire::{self, Log, Rules, Silence};
use traces::{Call, Fault, Limits, LocalParty, Outcome, Role, Trace};

use crate::history::{History, NodeSetup};
use crate::ledger::{Ledger, Tx};

/// The version of the dispute request this build speaks.
pub const VERSION: u64 = 1;
/// Disputes a node plays at once unless told otherwise: each rebuilds a state in memory.
pub const DEFAULT_MAX_DISPUTES: usize = 2;
/// The longest request line a node reads.
const MAX_REQUEST: usize = 4096;
/// How long a peer has to send its whole request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Peers told at once that the node is busy; any more are disconnected unanswered.
const MAX_REFUSING: usize = 8;
/// How long writing an answer to the requesting peer may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the node waits to reach a referee.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the node waits on the referee, for each read and write: the other party's
/// turn and the referee's own work come between two of its requests.
const REFEREE_SILENCE: Duration = Duration::from_secs(300);
/// How long a closing connection is drained so the peer gets the last answer.
const DRAIN: Duration = Duration::from_secs(1);

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

/// The call of transaction `tx` (a signed envelope) on `before`, the state before it in
/// its block (begun with the block's height: [`Ledger::begin_block`]), with the WASI
/// input the node gave it ([`crate::ledger::call_input`]).
pub fn call_of(setup: &NodeSetup, mut before: Ledger, tx: &[u8]) -> Result<Call> {
    let admitted = before.admit(tx).map_err(|r| anyhow::anyhow!("the transaction is refused, not run: {}", r.0))?;
    // Its counter used and its caller set, as the node does before the call.
    before.consume(&admitted.envelope);
    let Tx { export, args, input, .. } = admitted.call;
    let input = crate::ledger::call_input(&export, &input, tx, before.height());
    let call = Call::new(setup.module_bytes.to_vec(), &export, args, setup.config.clone())?;
    Ok(call.on(before.executor.machine, Some(admitted.envelope.body.gas_limit))?.with_input(input)?)
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
    ledger.begin_block(height);
    for t in &block.txs[..index] {
        ledger.execute(&t.tx);
    }
    call_of(setup, ledger, &record.tx)
}

/// A referee a node joins besides those on the requesting peer's own IP: any port of an
/// IP, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefereeAllow {
    Ip(IpAddr),
    Addr(SocketAddr),
}

impl FromStr for RefereeAllow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.parse()
            .map(Self::Addr)
            .or_else(|_| s.parse().map(Self::Ip))
            .map_err(|_| format!("`{s}` is neither an IP address nor IP:PORT"))
    }
}

impl RefereeAllow {
    fn admits(&self, referee: SocketAddr) -> bool {
        match *self {
            Self::Ip(ip) => ip.to_canonical() == referee.ip(),
            Self::Addr(a) => a.ip().to_canonical() == referee.ip() && a.port() == referee.port(),
        }
    }
}

/// How a node answers disputes.
#[derive(Clone)]
pub struct Defense {
    /// The node's history.
    pub home: PathBuf,
    /// How the node computes (it argues as it computed).
    pub fault: Option<Fault>,
    pub limits: Limits,
    /// Disputes played at once; requests beyond them are answered busy.
    pub max_disputes: usize,
    /// Referees the node joins besides those on the requesting peer's IP.
    pub referee_allow: Vec<RefereeAllow>,
    pub log: Log,
}

/// Serves dispute requests on `listener` until the process ends, each on a thread of its
/// own, at most `defense.max_disputes` at once. The history is read from disk, so the
/// node goes on following the chain meanwhile.
pub fn serve(listener: TcpListener, defense: Defense) {
    let defense = Arc::new(defense);
    let (disputes, refusing) = (Slots::new(defense.max_disputes), Slots::new(MAX_REFUSING));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // Out of file descriptors, say: wait for some to close rather than spin.
            Err(_) => {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let (slot, busy) = if let Some(slot) = disputes.take() {
            (slot, false)
        } else if let Some(slot) = refusing.take() {
            (slot, true)
        } else {
            // More peers are being turned away than is worth telling: this one closes.
            continue;
        };
        let defense = defense.clone();
        thread::spawn(move || {
            answer(stream, &defense, busy);
            drop(slot);
        });
    }
}

/// A count of threads at work, up to a maximum.
struct Slots {
    taken: Arc<AtomicUsize>,
    max: usize,
}

/// One of [`Slots`], given back when dropped (a panicking thread's too).
struct Slot(Arc<AtomicUsize>);

impl Slots {
    fn new(max: usize) -> Self {
        Self { taken: Arc::new(AtomicUsize::new(0)), max }
    }

    fn take(&self) -> Option<Slot> {
        let free = |n: usize| (n < self.max).then_some(n + 1);
        self.taken.fetch_update(Ordering::SeqCst, Ordering::SeqCst, free).ok()?;
        Some(Slot(self.taken.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers the request on `stream` with the game's result or why there is none, and
/// closes the connection.
fn answer(stream: TcpStream, defense: &Defense, busy: bool) {
    let peer = stream.peer_addr().ok();
    let answer = match respond(&stream, peer, defense, busy) {
        Ok(verdict) => Answer::Result { winner: verdict.winner.name().into(), reason: verdict.reason },
        Err(e) => Answer::Error { reason: wire::clip(&format!("{e:#}")) },
    };
    let peer = peer.map_or_else(|| "an unknown address".into(), |a| a.to_string());
    (defense.log)(&format!("dispute from {peer}: {answer:?}"));
    finish(stream, &answer);
}

/// Reads the request on `stream`, from `peer`, and plays it, or (`busy`) refuses it.
fn respond(stream: &TcpStream, peer: Option<SocketAddr>, defense: &Defense, busy: bool) -> Result<wire::Verdict> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let request = read_request(stream)?;
    if busy {
        bail!("busy: {} disputes in progress; try again later", defense.max_disputes);
    }
    defend(stream, peer.context("the peer's address is unknown")?.ip(), &request, defense)
}

fn send(mut stream: &TcpStream, answer: &Answer) -> std::io::Result<()> {
    let line = serde_json::to_string(answer).expect("an answer serializes");
    stream.write_all(format!("{line}\n").as_bytes())
}

/// Sends the last answer and closes the connection without losing it: closing with
/// unread input (an oversized request, say) would reset the connection instead.
fn finish(stream: TcpStream, answer: &Answer) {
    let _ = send(&stream, answer);
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN;
    let (mut sink, mut drained) = ([0u8; 4096], 0);
    while drained < 1 << 16 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&stream).read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// The request line on `stream`, which must come whole within [`REQUEST_TIMEOUT`].
fn read_request(stream: &TcpStream) -> Result<Request> {
    let mut lines = wire::Lines::new(stream.try_clone()?, MAX_REQUEST);
    let line = match lines.next_by(Instant::now() + REQUEST_TIMEOUT) {
        Ok(line) => line.map_err(|e| anyhow::anyhow!("the request is {e}"))?,
        Err(Silence::Timeout) => bail!("no whole request line within {} s", REQUEST_TIMEOUT.as_secs()),
        Err(Silence::Closed) => bail!("the connection closed before a whole request line"),
        Err(Silence::Failed(e)) => return Err(e).context("cannot read the request"),
    };
    let request: Request = serde_json::from_str(&line).context("the request is not a dispute request")?;
    if request.version != VERSION {
        bail!("dispute request version {} (this node speaks version {VERSION})", request.version);
    }
    Ok(request)
}

/// The referee address a request from `peer` may name: `IP:PORT` on the peer's own IP
/// (an unspecified IP, `0.0.0.0` or `::`, stands for it) or allowed by `allow`. Host
/// names are not resolved: a peer does not get the node to look up names either.
fn referee_address(referee: &str, peer: IpAddr, allow: &[RefereeAllow]) -> Result<SocketAddr> {
    let mut address: SocketAddr =
        referee.parse().with_context(|| format!("the referee {:?} is not IP:PORT", wire::clip(referee)))?;
    let peer = peer.to_canonical();
    address.set_ip(match address.ip().to_canonical() {
        ip if ip.is_unspecified() => peer,
        ip => ip,
    });
    if address.ip() != peer && !allow.iter().any(|a| a.admits(address)) {
        bail!(
            "refused referee {address}: it is not on the requesting peer's IP {peer}, and the node does not allow it \
             (--referee-allow)"
        );
    }
    Ok(address)
}

/// Plays `request` as the defender before the referee it names, for the peer at `peer`.
fn defend(stream: &TcpStream, peer: IpAddr, request: &Request, defense: &Defense) -> Result<wire::Verdict> {
    let referee = referee_address(&request.referee, peer, &defense.referee_allow)?;
    let call = committed_call(&defense.home, request.height, request.index, defense.fault)?;
    let trace = Trace::record(call.clone(), defense.fault, defense.limits.clone(), &mut |_| {})?;
    send(stream, &Answer::Accepted { call: call.to_json() })?;
    let connection = TcpStream::connect_timeout(&referee, CONNECT_TIMEOUT)
        .with_context(|| format!("cannot reach the referee at {referee}"))?;
    // A referee that stops talking must not hold the dispute's slot forever.
    connection.set_read_timeout(Some(REFEREE_SILENCE))?;
    connection.set_write_timeout(Some(REFEREE_SILENCE))?;
    let log = defense.log.clone();
    wire::join(connection, Role::Defender, &call, &mut LocalParty { trace }, &move |m| log(m))
        .map_err(anyhow::Error::msg)
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
