//! The game across processes: a referee and two parties exchange JSON lines over TCP.
//!
//! One message is one JSON object on one line, with a `"type"` field. A party says
//! `hello` (its role and the call it disputes, module bytes included), then answers the
//! referee's requests: `claim`, `hashes` (of a round) and `prove` (of a step), with
//! messages of the same types. The referee answers a message it cannot use (not JSON,
//! of the wrong type or round, with bad fields) with an `error` and otherwise ignores
//! it; a party that does not answer in time, or closes its connection, forfeits. The
//! game itself is [`Referee::play`]'s: [`RemoteParty`] is one more [`Party`].
//! docs/game.md defines every message.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use judge::Proof;
use merkle_memory::hash::{bytes_to_hex, hex_to_bytes, keccak};
use merkle_memory::{hex, parse_hex, Hash};
use serde_json::{json, Map, Value as Json};

use crate::game::{Claim, Outcome, Party, Referee, Role};
use crate::{Call, TraceError};

/// The protocol's version, in `hello` and `welcome`.
pub const VERSION: u64 = 1;
/// The longest line either side reads, newline excluded: a module travels as hex in its
/// party's hello, so modules up to about 8 MiB can be disputed.
pub const MAX_LINE: usize = 16 << 20;
/// How long the referee waits for each answer, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection has to say hello, unless told otherwise.
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that may be waiting to say hello at once; more are refused. Each buffers
/// at most one line, so waiting connections hold at most this many times `max_line`.
const MAX_PENDING: usize = 32;
/// The longest line a seated party's answers may take: a proof's JSON text at its
/// longest, with room for the message around it (a round's hashes take at most 70 KB).
pub const MAX_ANSWER_LINE: usize = judge::json::MAX_TEXT + (64 << 10);
/// The longest reason the referee echoes, logs or keeps: a party's own text is cut to it.
pub const MAX_REASON: usize = 240;
/// Rejected messages whose reasons the referee keeps for each party; it counts the rest.
pub const KEPT_REASONS: usize = 16;
/// Rejected messages after which a party forfeits: it keeps sending what the referee
/// cannot use.
pub const MAX_REJECTED: u64 = 64;

/// `text` cut to [`MAX_REASON`] bytes (at a character boundary), saying how long it was.
pub fn clip(text: &str) -> String {
    if text.len() <= MAX_REASON {
        return text.to_string();
    }
    let mut end = MAX_REASON;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... (cut, {} bytes in all)", &text[..end], text.len())
}

/// Something to report as it happens (a party joined, a message was rejected).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// A message from a party to the referee.
#[derive(Clone, Debug, PartialEq)]
pub enum FromParty {
    /// The first message: the role taken and the call, as [`Call::to_json`], with the
    /// module's bytes.
    Hello {
        role: Role,
        call: Json,
        module: Vec<u8>,
    },
    Claim(Claim),
    Hashes {
        round: u32,
        hashes: Vec<Hash>,
    },
    Proof {
        step: u64,
        proof: Box<Proof>,
    },
    /// Something the party could not use; the referee only logs it.
    Error {
        reason: String,
    },
}

/// A message from the referee to a party.
#[derive(Clone, Debug, PartialEq)]
pub enum FromReferee {
    /// The hello is accepted: the party holds `role` in a game of `degree` over `call`,
    /// and has `timeout_ms` to answer each request.
    Welcome {
        role: Role,
        degree: u64,
        timeout_ms: u64,
        call: Json,
    },
    Claim,
    Hashes {
        round: u32,
        range: (u64, u64),
        points: Vec<u64>,
    },
    Prove {
        step: u64,
    },
    /// The party's last message was rejected (and ignored), for this reason.
    Error {
        reason: String,
    },
    /// The game is over; `summary` is [`summary`]'s.
    Result {
        winner: Role,
        reason: String,
        summary: Json,
    },
}

/// A message's fields, read with errors that name the message and the field.
struct Fields {
    kind: String,
    map: Map<String, Json>,
}

impl Fields {
    fn parse(line: &str) -> Result<Fields, String> {
        let value: Json = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
        let Json::Object(map) = value else { return Err("not a JSON object".into()) };
        let Some(Json::String(kind)) = map.get("type") else { return Err("no \"type\" string".into()) };
        Ok(Fields { kind: kind.clone(), map })
    }

    fn get(&self, name: &str) -> Result<&Json, String> {
        self.map.get(name).ok_or_else(|| format!("`{}` without `{name}`", self.kind))
    }

    fn bad(&self, name: &str, what: &str) -> String {
        format!("`{}`: `{name}` is not {what}", self.kind)
    }

    fn u64(&self, name: &str) -> Result<u64, String> {
        self.get(name)?.as_u64().ok_or_else(|| self.bad(name, "an integer from 0 to 2^64 - 1"))
    }

    fn u32(&self, name: &str) -> Result<u32, String> {
        u32::try_from(self.u64(name)?).map_err(|_| self.bad(name, "a 32-bit count"))
    }

    fn str(&self, name: &str) -> Result<&str, String> {
        self.get(name)?.as_str().ok_or_else(|| self.bad(name, "a string"))
    }

    fn role(&self, name: &str) -> Result<Role, String> {
        Role::parse(self.str(name)?).ok_or_else(|| self.bad(name, "`challenger` or `defender`"))
    }

    fn hash(&self, name: &str) -> Result<Hash, String> {
        self.get(name)?.as_str().and_then(parse_hex).ok_or_else(|| self.bad(name, "a hash (0x and 64 hex digits)"))
    }

    fn list(&self, name: &str) -> Result<&Vec<Json>, String> {
        self.get(name)?.as_array().ok_or_else(|| self.bad(name, "a list"))
    }

    fn hashes(&self, name: &str) -> Result<Vec<Hash>, String> {
        let bad = || self.bad(name, "a list of hashes (0x and 64 hex digits each)");
        self.list(name)?.iter().map(|h| h.as_str().and_then(parse_hex).ok_or_else(bad)).collect()
    }

    fn steps(&self, name: &str) -> Result<Vec<u64>, String> {
        self.list(name)?.iter().map(|n| n.as_u64().ok_or_else(|| self.bad(name, "a list of step numbers"))).collect()
    }

    fn version(&self) -> Result<(), String> {
        match self.u64("version")? {
            VERSION => Ok(()),
            v => Err(format!("`{}`: protocol version {v}; this side speaks version {VERSION}", self.kind)),
        }
    }
}

impl FromParty {
    pub fn kind(&self) -> &'static str {
        match self {
            FromParty::Hello { .. } => "hello",
            FromParty::Claim(_) => "claim",
            FromParty::Hashes { .. } => "hashes",
            FromParty::Proof { .. } => "proof",
            FromParty::Error { .. } => "error",
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            FromParty::Hello { role, call, module } => {
                json!({"type": "hello", "version": VERSION, "role": role.name(), "call": call, "module": bytes_to_hex(module)})
            }
            FromParty::Claim(c) => json!({"type": "claim", "steps": c.steps, "final_hash": hex(&c.final_hash)}),
            FromParty::Hashes { round, hashes } => {
                json!({"type": "hashes", "round": round, "hashes": hashes.iter().map(hex).collect::<Vec<_>>()})
            }
            FromParty::Proof { step, proof } => {
                json!({"type": "proof", "step": step, "proof": judge::json::to_json(proof)})
            }
            FromParty::Error { reason } => json!({"type": "error", "reason": reason}),
        }
    }

    /// Reads one line; the error says what is wrong with it.
    pub fn parse(line: &str) -> Result<FromParty, String> {
        let f = Fields::parse(line)?;
        Ok(match f.kind.as_str() {
            "hello" => {
                f.version()?;
                let call = f.get("call")?;
                if !call.is_object() {
                    return Err(f.bad("call", "an object"));
                }
                let module = hex_to_bytes(f.str("module")?)
                    .ok_or_else(|| f.bad("module", "0x and an even number of hex digits"))?;
                FromParty::Hello { role: f.role("role")?, call: call.clone(), module }
            }
            "claim" => FromParty::Claim(Claim { steps: f.u64("steps")?, final_hash: f.hash("final_hash")? }),
            "hashes" => FromParty::Hashes { round: f.u32("round")?, hashes: f.hashes("hashes")? },
            "proof" => {
                let proof =
                    judge::json::from_json(f.get("proof")?).map_err(|e| format!("`proof`: not a proof: {}", e.0))?;
                FromParty::Proof { step: f.u64("step")?, proof: Box::new(proof) }
            }
            "error" => FromParty::Error { reason: f.str("reason")?.to_string() },
            other => {
                return Err(format!(
                    "unknown message type `{other}`; a party sends hello, claim, hashes, proof or error"
                ))
            }
        })
    }
}

impl FromReferee {
    pub fn kind(&self) -> &'static str {
        match self {
            FromReferee::Welcome { .. } => "welcome",
            FromReferee::Claim => "claim",
            FromReferee::Hashes { .. } => "hashes",
            FromReferee::Prove { .. } => "prove",
            FromReferee::Error { .. } => "error",
            FromReferee::Result { .. } => "result",
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            FromReferee::Welcome { role, degree, timeout_ms, call } => json!({
                "type": "welcome",
                "version": VERSION,
                "role": role.name(),
                "degree": degree,
                "timeout_ms": timeout_ms,
                "call": call,
            }),
            FromReferee::Claim => json!({"type": "claim"}),
            FromReferee::Hashes { round, range, points } => {
                json!({"type": "hashes", "round": round, "range": [range.0, range.1], "points": points})
            }
            FromReferee::Prove { step } => json!({"type": "prove", "step": step}),
            FromReferee::Error { reason } => json!({"type": "error", "reason": reason}),
            FromReferee::Result { winner, reason, summary } => {
                json!({"type": "result", "winner": winner.name(), "reason": reason, "summary": summary})
            }
        }
    }

    /// Reads one line; the error says what is wrong with it.
    pub fn parse(line: &str) -> Result<FromReferee, String> {
        let f = Fields::parse(line)?;
        Ok(match f.kind.as_str() {
            "welcome" => {
                f.version()?;
                FromReferee::Welcome {
                    role: f.role("role")?,
                    degree: f.u64("degree")?,
                    timeout_ms: f.u64("timeout_ms")?,
                    call: f.get("call")?.clone(),
                }
            }
            "claim" => FromReferee::Claim,
            "hashes" => {
                let range = match f.steps("range")?[..] {
                    [lo, hi] if lo < hi => (lo, hi),
                    _ => return Err(f.bad("range", "two ascending step numbers")),
                };
                FromReferee::Hashes { round: f.u32("round")?, range, points: f.steps("points")? }
            }
            "prove" => FromReferee::Prove { step: f.u64("step")? },
            "error" => FromReferee::Error { reason: f.str("reason")?.to_string() },
            "result" => {
                let summary = f.get("summary")?;
                if !summary.is_object() {
                    return Err(f.bad("summary", "an object"));
                }
                FromReferee::Result {
                    winner: f.role("winner")?,
                    reason: f.str("reason")?.to_string(),
                    summary: summary.clone(),
                }
            }
            other => {
                return Err(format!(
                    "unknown message type `{other}`; a referee sends welcome, claim, hashes, prove, error or result"
                ))
            }
        })
    }
}

/// What a game came to, with the fields `verigame dispute --json` reports too: the
/// winner, the rounds played, the degree, each side's claimed steps, the step the game
/// came down to with its function and instruction, the proof's size, the verdict, and
/// whether the claims differed at all.
pub fn summary(outcome: &Outcome) -> Json {
    let t = &outcome.transcript;
    let ruling = t.ruling.as_ref();
    json!({
        "winner": outcome.winner.name(),
        "rounds": t.rounds.len(),
        "degree": t.degree,
        "steps_defender": t.claims[0].map(|c| c.steps),
        "steps_challenger": t.claims[1].map(|c| c.steps),
        "diverged_step": ruling.map(|r| r.step),
        "function": ruling.and_then(|r| r.function.clone()),
        "instruction": ruling.and_then(|r| r.instruction.clone()),
        "proof_bytes": ruling.map(|r| r.proof_bytes),
        "verdict": outcome.reason,
        "disputed": outcome.disputed,
    })
}

/// What differs between two calls (module, export, arguments, WASI input or a setting
/// of the configuration), if anything: `other` said as against `agreed`.
pub fn call_difference(agreed: &Json, other: &Json) -> Option<String> {
    let (a, b) = (agreed, other);
    for key in ["module_hash", "export", "args", "base_state_hash"] {
        if a[key] != b[key] {
            return Some(clip(&format!("its {key} is {}, not {}", b[key], a[key])));
        }
    }
    // A call without input has the empty one.
    let input = |c: &Json| match c.get("input") {
        None | Some(Json::Null) => crate::call::input_to_json(&stepper::CallInput::default()),
        Some(input) => input.clone(),
    };
    let (input_a, input_b) = (input(a), input(b));
    if input_a != input_b {
        return Some(clip(&format!("its input is {input_b}, not {input_a}")));
    }
    let Json::Object(a) = &a["config"] else { unreachable!("a call's config is an object") };
    let Json::Object(b) = &b["config"] else { return Some("its config is not an object".into()) };
    a.iter()
        .find(|&(k, v)| b.get(k) != Some(v))
        .map(|(k, v)| clip(&format!("its config's {k} is {}, not {v}", b.get(k).unwrap_or(&Json::Null))))
}

/// Lines of at most `max` bytes read from a stream, keeping a partial line across reads
/// (and read timeouts). A longer line is reported once and skipped to its end; blank
/// lines are skipped; a trailing `\r` is dropped.
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no newline.
    scanned: usize,
    /// In the middle of a line that was too long.
    skipping: bool,
    max: usize,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, buf: Vec::new(), scanned: 0, skipping: false, max }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next whole line already received: its text, or why it cannot be read.
    pub fn take(&mut self) -> Option<Result<String, String>> {
        loop {
            let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                if self.skipping || self.buf.len() > self.max {
                    self.buf.clear();
                    self.scanned = 0;
                    if !std::mem::replace(&mut self.skipping, true) {
                        return Some(Err(self.too_long()));
                    }
                }
                return None;
            };
            let mut line: Vec<u8> = self.buf.drain(..=self.scanned + i).collect();
            self.scanned = 0;
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > self.max {
                return Some(Err(self.too_long()));
            }
            match String::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => return Some(Ok(text)),
                Err(_) => return Some(Err("a line that is not UTF-8".into())),
            }
        }
    }

    fn too_long(&self) -> String {
        format!("a line longer than {} bytes", self.max)
    }

    /// Reads from the stream once; false at its end.
    pub fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 1 << 16];
        loop {
            match self.inner.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line, reading as long as it takes; `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<Result<String, String>>> {
        loop {
            if let Some(line) = self.take() {
                return Ok(Some(line));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}

/// Why no line came.
#[derive(Debug)]
pub enum Silence {
    Timeout,
    Closed,
    Failed(io::Error),
}

impl Lines<TcpStream> {
    /// The next line, waiting until `deadline` at most.
    pub fn next_by(&mut self, deadline: Instant) -> Result<Result<String, String>, Silence> {
        loop {
            if let Some(line) = self.take() {
                return Ok(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Silence::Timeout);
            }
            self.inner.set_read_timeout(Some(left)).map_err(Silence::Failed)?;
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Err(Silence::Closed),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(Silence::Failed(e)),
            }
        }
    }
}

fn send(stream: &TcpStream, message: &Json) -> io::Result<()> {
    let mut text = message.to_string();
    text.push('\n');
    let mut writer = stream;
    writer.write_all(text.as_bytes())?;
    writer.flush()
}

/// Closes a connection without losing what was sent on it: ends the sending side, then
/// reads what the peer still sends for a moment (closing with unread input would reset
/// the connection and could discard our last message on the peer's side).
fn close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let (mut reader, mut sink, mut drained) = (&stream, [0u8; 4096], 0);
    while drained < 1 << 20 {
        match reader.read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// Sends `reason` as an error and closes the connection, on a thread of its own.
fn refuse(stream: TcpStream, reason: String) {
    thread::spawn(move || {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let _ = send(&stream, &FromReferee::Error { reason }.to_json());
        close(stream);
    });
}

fn peer_of(stream: &TcpStream) -> String {
    stream.peer_addr().map_or_else(|_| "an unknown address".to_string(), |a| a.to_string())
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// A party on the other end of a TCP connection, as the referee sees it. Each request
/// waits at most `timeout` for its answer; lines that are not that answer get an
/// `error` reply and change nothing. No answer in time, or a closed connection, is an
/// error: the party forfeits.
pub struct RemoteParty {
    pub role: Role,
    /// The peer's address.
    pub peer: String,
    lines: Lines<TcpStream>,
    timeout: Duration,
    /// The messages rejected so far.
    pub rejected: Rejected,
    log: Log,
}

/// The messages a party sent that the referee could not use: how many, and the first
/// [`KEPT_REASONS`] reasons (each at most [`MAX_REASON`] bytes long).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: u64,
    pub reasons: Vec<String>,
}

impl Rejected {
    fn add(&mut self, reason: &str) {
        self.count += 1;
        if self.reasons.len() < KEPT_REASONS {
            self.reasons.push(reason.to_string());
        }
    }
}

impl RemoteParty {
    /// A party on `stream` (whose hello, if any, has been read), with a read buffer of
    /// at most `max_line` bytes.
    pub fn new(role: Role, stream: TcpStream, timeout: Duration, max_line: usize, log: Log) -> Self {
        Self::from_lines(role, Lines::new(stream, max_line), timeout, log)
    }

    fn from_lines(role: Role, mut lines: Lines<TcpStream>, timeout: Duration, log: Log) -> Self {
        // After the hello, no message needs more than a proof's longest line.
        lines.max = lines.max.min(MAX_ANSWER_LINE);
        let stream = lines.get_ref();
        let peer = peer_of(stream);
        let _ = stream.set_nodelay(true);
        Self { role, peer, lines, timeout, rejected: Rejected::default(), log }
    }

    /// Sends `message`, waiting at most `within` for the party to make room for it.
    fn send_within(&mut self, message: &FromReferee, within: Duration) -> Result<(), String> {
        let stream = self.lines.get_ref();
        let sent = stream
            .set_write_timeout(Some(within.max(Duration::from_millis(1))))
            .and_then(|()| send(stream, &message.to_json()));
        sent.map_err(|e| format!("the connection failed: {e}"))
    }

    pub fn send(&mut self, message: &FromReferee) -> Result<(), String> {
        self.send_within(message, self.timeout)
    }

    /// Sends the result and closes the connection; a party that has gone misses it.
    pub fn finish(mut self, result: &FromReferee) {
        let _ = self.send(result);
        close(self.lines.into_inner());
    }

    /// Whether the peer has closed its connection (or it has failed).
    fn is_gone(&self) -> bool {
        let stream = self.lines.get_ref();
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let peeked = stream.peek(&mut [0u8]);
        let _ = stream.set_nonblocking(false);
        match peeked {
            Ok(n) => n == 0,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Sends `request` and reads until `accept` takes a message (its answer), the
    /// deadline passes or the connection ends. Replying to what it rejects counts
    /// against the same deadline.
    fn ask<T>(
        &mut self,
        request: FromReferee,
        what: &str,
        accept: impl Fn(FromParty) -> Result<T, String>,
    ) -> Result<T, String> {
        self.send(&request)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let reason = match self.lines.next_by(deadline) {
                Err(Silence::Timeout) => return Err(format!("no answer to {what} within {}", seconds(self.timeout))),
                Err(Silence::Closed) => return Err(format!("closed the connection instead of answering {what}")),
                Err(Silence::Failed(e)) => return Err(format!("the connection failed: {e}")),
                Ok(line) => match line.and_then(|l| FromParty::parse(&l)) {
                    Ok(FromParty::Error { reason }) => {
                        (self.log)(&format!("the {} reports an error: {}", self.role, clip(&reason)));
                        continue;
                    }
                    Ok(FromParty::Hello { .. }) => "out of turn: a hello, but the game has started".to_string(),
                    Ok(message) => match accept(message) {
                        Ok(answer) => return Ok(answer),
                        Err(reason) => reason,
                    },
                    Err(reason) => reason,
                },
            };
            let reason = clip(&reason);
            (self.log)(&format!("rejected a message from the {}: {reason}", self.role));
            self.rejected.add(&reason);
            if self.rejected.count >= MAX_REJECTED {
                return Err(format!("sent {} messages the referee could not use", self.rejected.count));
            }
            self.send_within(&FromReferee::Error { reason }, deadline.saturating_duration_since(Instant::now()))?;
        }
    }
}

fn out_of_turn(message: &FromParty, expected: &str) -> String {
    format!("out of turn: a `{}` message, but the referee waits for {expected}", message.kind())
}

impl Party for RemoteParty {
    fn claim(&mut self) -> Result<Claim, String> {
        self.ask(FromReferee::Claim, "the claim", |m| match m {
            FromParty::Claim(c) => Ok(c),
            other => Err(out_of_turn(&other, "the claim")),
        })
    }

    fn hashes(&mut self, round: u32, range: (u64, u64), points: &[u64]) -> Result<Vec<Hash>, String> {
        let what = format!("the hashes of round {round}");
        let request = FromReferee::Hashes { round, range, points: points.to_vec() };
        self.ask(request, &what, |m| match m {
            FromParty::Hashes { round: r, .. } if r != round => {
                Err(format!("hashes for round {r}, but this is round {round}"))
            }
            FromParty::Hashes { hashes, .. } if hashes.len() != points.len() => {
                Err(format!("{} hashes for the {} points of round {round}", hashes.len(), points.len()))
            }
            FromParty::Hashes { hashes, .. } => Ok(hashes),
            other => Err(out_of_turn(&other, &what)),
        })
    }

    fn prove(&mut self, step: u64) -> Result<Proof, String> {
        let what = format!("the proof of step {step}");
        self.ask(FromReferee::Prove { step }, &what, |m| match m {
            FromParty::Proof { step: s, .. } if s != step => {
                Err(format!("a proof of step {s}, but the step in question is {step}"))
            }
            FromParty::Proof { proof, .. } => Ok(*proof),
            other => Err(out_of_turn(&other, &what)),
        })
    }
}

/// How a referee holds its games.
#[derive(Clone, Debug)]
pub struct Rules {
    pub degree: u64,
    /// How long a party has to answer each request.
    pub timeout: Duration,
    /// How long a connection has to say hello.
    pub hello_timeout: Duration,
    /// The longest hello line (which carries the module); later lines are shorter still
    /// ([`MAX_ANSWER_LINE`]).
    pub max_line: usize,
    /// The call the game must be about; without it, the first party seated names it,
    /// within `limits`.
    pub call: Option<Call>,
    pub limits: CallLimits,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            degree: crate::game::DEFAULT_DEGREE,
            timeout: DEFAULT_TIMEOUT,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            max_line: MAX_LINE,
            call: None,
            limits: CallLimits::default(),
        }
    }
}

/// What a referee without a held call lets the first party seated ask for. Building the
/// call runs the module's start function under the call's own configuration, and the
/// game records the call: these bound that work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// The most gas the module's start function may use: the referee runs it to learn
    /// the state the game starts on, whatever gas limit the call has.
    pub max_start_gas: u64,
    /// The largest memory the call may have, in pages.
    pub max_memory_pages: u32,
    /// The smallest memory chunk: the commitment's caches cost about 64 bytes a chunk.
    pub min_chunk_size: u32,
    pub max_table_elements: u32,
    pub max_value_stack: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            max_start_gas: 100_000_000,
            max_memory_pages: 65536,
            min_chunk_size: 64,
            max_table_elements: 1 << 20,
            max_value_stack: 1 << 22,
        }
    }
}

impl CallLimits {
    /// Why a call with `config` is more than these limits allow, if it is.
    pub fn check(&self, config: &stepper::Config) -> Result<(), String> {
        let over = |what: &str, asked: u64, most: u64| match asked > most {
            true => Err(format!("the call asks for {asked} {what}; this referee allows at most {most}")),
            false => Ok(()),
        };
        over("memory pages", config.max_memory_pages.into(), self.max_memory_pages.into())?;
        over("table elements", config.max_table_elements.into(), self.max_table_elements.into())?;
        over("value stack slots", config.max_value_stack.into(), self.max_value_stack.into())?;
        if config.memory_chunk_size < self.min_chunk_size {
            return Err(format!(
                "the call asks for memory chunks of {} bytes; this referee allows no less than {}",
                config.memory_chunk_size, self.min_chunk_size
            ));
        }
        Ok(())
    }
}

/// The two parties of a game and the call they agree on.
pub struct Seated {
    pub call: Call,
    pub defender: RemoteParty,
    pub challenger: RemoteParty,
}

/// A hello as read: the role, the call's description and the module's bytes. Nothing
/// of it has run: comparing it with the call a game holds costs no execution.
struct Hello {
    role: Role,
    call: Json,
    module: Vec<u8>,
}

/// A connection and its hello, read on the connection's own thread.
struct Arrival {
    lines: Lines<TcpStream>,
    peer: String,
    hello: Result<Hello, String>,
}

impl Arrival {
    fn read(stream: TcpStream, rules: &Rules) -> Arrival {
        let peer = peer_of(&stream);
        let mut lines = Lines::new(stream, rules.max_line);
        let hello = match lines.next_by(Instant::now() + rules.hello_timeout) {
            Err(Silence::Timeout) => Err(format!("no hello within {}", seconds(rules.hello_timeout))),
            Err(Silence::Closed) => Err("closed before its hello".into()),
            Err(Silence::Failed(e)) => Err(format!("the connection failed: {e}")),
            Ok(line) => line.and_then(|l| FromParty::parse(&l)).and_then(|m| match m {
                FromParty::Hello { role, call, module } => Ok(Hello { role, call, module }),
                other => Err(format!("the first message must be a hello, not `{}`", other.kind())),
            }),
        };
        Arrival { lines, peer, hello: hello.map_err(|e| clip(&e)) }
    }

    /// Refuses a connection that came when the game had its parties: with what was
    /// wrong with its hello, if anything was.
    fn refuse_late(self) {
        let reason = self.hello.err().unwrap_or_else(|| "the game already has both parties".into());
        refuse(self.lines.into_inner(), reason);
    }
}

/// Accepts connections on `listener` until one defender and one challenger have said
/// hello about the same call. A connection whose hello is late, malformed, takes a
/// taken role or names another call gets an `error` and is closed; a seated party whose
/// connection has closed gives up its seat. Each connection waits for its hello on a
/// thread of its own, so a silent one holds up no other.
pub fn gather(listener: &TcpListener, rules: &Rules, log: &Log) -> io::Result<Seated> {
    let (tx, rx) = mpsc::channel::<Arrival>();
    let acceptor = listener.try_clone()?;
    let hello_rules = rules.clone();
    thread::spawn(move || {
        let pending = Arc::new(AtomicUsize::new(0));
        for stream in acceptor.incoming() {
            let Ok(stream) = stream else {
                // Out of descriptors, say: let some connections end.
                thread::sleep(Duration::from_millis(50));
                continue;
            };
            if pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
                pending.fetch_sub(1, Ordering::SeqCst);
                refuse(stream, "too many connections are waiting to say hello; try again later".into());
                continue;
            }
            let (tx, pending, rules) = (tx.clone(), pending.clone(), hello_rules.clone());
            thread::spawn(move || {
                let arrival = Arrival::read(stream, &rules);
                pending.fetch_sub(1, Ordering::SeqCst);
                if let Err(mpsc::SendError(late)) = tx.send(arrival) {
                    late.refuse_late();
                }
            });
        }
    });
    let mut seats: [Option<RemoteParty>; 2] = [None, None];
    // Calls with their descriptions, each described once: describing a call on a prior
    // state hashes that state.
    let held: Option<(Call, Json)> = rules.call.as_ref().map(|c| (c.clone(), c.to_json()));
    let mut agreed = held.clone();
    loop {
        let Arrival { lines, peer, hello } =
            rx.recv().map_err(|_| io::Error::other("the connection acceptor stopped"))?;
        for seat in &mut seats {
            if seat.as_ref().is_some_and(RemoteParty::is_gone) {
                let gone = seat.take().expect("checked");
                log(&format!("the {} ({}) left before the game began; its seat is free", gone.role, gone.peer));
            }
        }
        if seats.iter().all(Option::is_none) {
            agreed = held.clone();
        }
        let seated = |role: Role| seats[seat_index(role)].is_some();
        let hello = hello.and_then(|Hello { role, call, module }| {
            if seated(role) {
                return Err(format!("the {role}'s seat is taken"));
            }
            // The description is compared first: a hello about another call costs nothing.
            match (&agreed, agreed.as_ref().and_then(|(_, a)| call_difference(a, &call))) {
                (_, Some(d)) if rules.call.is_some() => {
                    Err(format!("the hello names another call than the referee's: {d}"))
                }
                (_, Some(d)) => Err(format!("the hello names another call than the {}'s: {d}", role.other())),
                (Some((held, json)), None) => match keccak(&module) {
                    hash if hash == held.module_hash() => Ok((role, held.clone(), json.clone())),
                    hash => {
                        Err(format!("the module's hash is {}, the call names {}", hex(&hash), hex(&held.module_hash())))
                    }
                },
                (None, None) => first_call(&call, module, &rules.limits).map(|c| {
                    let json = c.to_json();
                    (role, c, json)
                }),
            }
        });
        let (role, call, json) = match hello {
            Ok(hello) => hello,
            Err(reason) => {
                let reason = clip(&reason);
                log(&format!("refused {peer}: {reason}"));
                refuse(lines.into_inner(), reason);
                continue;
            }
        };
        let mut party = RemoteParty::from_lines(role, lines, rules.timeout, log.clone());
        let timeout_ms = rules.timeout.as_millis().try_into().unwrap_or(u64::MAX);
        if let Err(e) = party.send(&FromReferee::Welcome { role, degree: rules.degree, timeout_ms, call: json.clone() })
        {
            log(&format!("lost the {role} at {peer} before the game began: {e}"));
            continue;
        }
        log(&format!("the {role} joined from {peer}"));
        agreed.get_or_insert((call, json));
        seats[seat_index(role)] = Some(party);
        if let [Some(_), Some(_)] = seats {
            break;
        }
    }
    // Connections that said hello meanwhile come too late.
    while let Ok(late) = rx.try_recv() {
        late.refuse_late();
    }
    let [Some(defender), Some(challenger)] = seats else { unreachable!("both seats are taken") };
    let (call, _) = agreed.expect("a seated party brought the call");
    Ok(Seated { call, defender, challenger })
}

/// The call a first hello names, within `limits`: its configuration is checked before
/// the module is compiled, and its start function runs on at most `max_start_gas`. The
/// start function ends the same way under any limit it ends within, so the call keeps
/// its own.
fn first_call(call: &Json, module: Vec<u8>, limits: &CallLimits) -> Result<Call, String> {
    let config = crate::call::config_from_json(&call["config"]).map_err(|e| format!("`hello`: {e}"))?;
    limits.check(&config)?;
    let start_gas = config.gas_limit.min(limits.max_start_gas);
    let mut bounded = call.clone();
    bounded["config"]["gas_limit"] = json!(start_gas.to_string());
    let mut call = Call::from_json(&bounded, module).map_err(|e| match start_gas < config.gas_limit {
        true => format!("`hello`: {e} (this referee runs a start function on at most {start_gas} gas)"),
        false => format!("`hello`: {e}"),
    })?;
    call.config = config;
    Ok(call)
}

fn seat_index(role: Role) -> usize {
    match role {
        Role::Defender => 0,
        Role::Challenger => 1,
    }
}

/// A game held over TCP, as it ended.
pub struct Hosted {
    pub outcome: Outcome,
    /// The defender's and the challenger's addresses.
    pub peers: [String; 2],
    /// The messages rejected from the defender and from the challenger.
    pub rejected: [Rejected; 2],
}

/// Holds one game on `listener`: gathers the parties, plays with the judge for their
/// call, and sends both the result.
pub fn host(listener: &TcpListener, rules: &Rules, log: &Log) -> Result<Hosted, TraceError> {
    let address = listener.local_addr().map_or_else(|_| "the listener".to_string(), |a| a.to_string());
    let Seated { call, mut defender, mut challenger } =
        gather(listener, rules, log).map_err(|source| TraceError::Io { path: address, source })?;
    let referee = Referee::new(call)?;
    let outcome = referee.play(rules.degree, &mut defender, &mut challenger);
    let result =
        FromReferee::Result { winner: outcome.winner, reason: outcome.reason.clone(), summary: summary(&outcome) };
    let peers = [defender.peer.clone(), challenger.peer.clone()];
    let rejected = [std::mem::take(&mut defender.rejected), std::mem::take(&mut challenger.rejected)];
    thread::scope(|s| {
        s.spawn(|| defender.finish(&result));
        challenger.finish(&result);
    });
    Ok(Hosted { outcome, peers, rejected })
}

/// How a game ended, as the referee told a party.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub winner: Role,
    pub reason: String,
    pub summary: Json,
}

/// Plays `role` in the game a referee holds on `stream`, answering from `party`: says
/// hello about `call`, answers each request, and returns the result. The referee's
/// `error` replies and messages this side cannot read are reported to `log` and
/// otherwise ignored. An error means the game could not be played to its end here.
pub fn join(
    stream: TcpStream,
    role: Role,
    call: &Call,
    party: &mut dyn Party,
    log: &dyn Fn(&str),
) -> Result<Verdict, String> {
    let _ = stream.set_nodelay(true);
    let hello = FromParty::Hello { role, call: call.to_json(), module: call.module_bytes.to_vec() };
    let failed = |e: io::Error| format!("the connection to the referee failed: {e}");
    let cannot = |e: String| format!("cannot answer the referee: {e}");
    send(&stream, &hello.to_json()).map_err(failed)?;
    let mut lines = Lines::new(stream, MAX_LINE);
    let mut refused: Option<String> = None;
    loop {
        let line = match lines.next_line().map_err(failed)? {
            Some(line) => line,
            None => {
                return Err(match refused {
                    Some(reason) => format!("the referee closed the connection after an error: {reason}"),
                    None => "the referee closed the connection before the game ended".into(),
                })
            }
        };
        let message = match line.and_then(|l| FromReferee::parse(&l)) {
            Ok(message) => message,
            Err(reason) => {
                log(&format!("ignored a message from the referee: {reason}"));
                continue;
            }
        };
        let answer = match message {
            FromReferee::Welcome { role: r, degree, timeout_ms, call: c } => {
                if r != role || c != call.to_json() {
                    return Err(format!("the referee welcomes a {r} with another call: {c}"));
                }
                log(&format!(
                    "joined as the {role}: degree {degree}, {} to answer each request",
                    seconds(Duration::from_millis(timeout_ms))
                ));
                continue;
            }
            FromReferee::Error { reason } => {
                log(&format!("the referee rejected a message: {reason}"));
                refused = Some(reason);
                continue;
            }
            FromReferee::Result { winner, reason, summary } => return Ok(Verdict { winner, reason, summary }),
            FromReferee::Claim => FromParty::Claim(party.claim().map_err(cannot)?),
            FromReferee::Hashes { round, range, points } => {
                FromParty::Hashes { round, hashes: party.hashes(round, range, &points).map_err(cannot)? }
            }
            FromReferee::Prove { step } => {
                FromParty::Proof { step, proof: Box::new(party.prove(step).map_err(cannot)?) }
            }
        };
        send(lines.get_ref(), &answer.to_json()).map_err(failed)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::LocalParty;
    use crate::{Fault, Limits, Trace};
    use std::sync::Mutex;
    use stepper::{Config, Value};

    const PROGRAM: &str = r#"(module
      (memory 1)
      (func (export "run") (param $n i32) (result i32)
        (local $i i32) (local $acc i32)
        (loop $top
          (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $i)))
          (i32.store (i32.and (i32.mul (local.get $i) (i32.const 4)) (i32.const 0xfff)) (local.get $acc))
          (br_if $top (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (local.get $acc)))"#;

    fn call(n: i32) -> Call {
        Call::new(PROGRAM.as_bytes().to_vec(), "run", vec![Value::I32(n)], Config::default()).unwrap()
    }

    fn trace(call: &Call, fault: Option<Fault>) -> Trace {
        Trace::record(
            call.clone(),
            fault,
            Limits { interval: 16, max_checkpoints: 8, ..Limits::default() },
            &mut |_| {},
        )
        .unwrap()
    }

    fn quiet() -> Log {
        Arc::new(|_: &str| {})
    }

    fn rules(timeout_ms: u64) -> Rules {
        let timeout = Duration::from_millis(timeout_ms);
        Rules { degree: 3, timeout, hello_timeout: timeout, ..Rules::default() }
    }

    fn round_trip_party(m: FromParty) {
        assert_eq!(FromParty::parse(&m.to_json().to_string()), Ok(m.clone()), "{}", m.kind());
    }

    #[test]
    fn every_message_reads_back_what_it_writes() {
        let c = call(5);
        let mut t = trace(&c, None);
        round_trip_party(FromParty::Hello { role: Role::Defender, call: c.to_json(), module: c.module_bytes.to_vec() });
        round_trip_party(FromParty::Claim(Claim { steps: u64::MAX, final_hash: t.final_hash() }));
        round_trip_party(FromParty::Hashes { round: 7, hashes: vec![t.hash_at(1).unwrap(), t.hash_at(2).unwrap()] });
        round_trip_party(FromParty::Hashes { round: 1, hashes: vec![] });
        round_trip_party(FromParty::Proof { step: 3, proof: Box::new(t.proof_at(3).unwrap()) });
        round_trip_party(FromParty::Error { reason: "x".into() });
        let referee = [
            FromReferee::Welcome { role: Role::Challenger, degree: 4, timeout_ms: 1500, call: c.to_json() },
            FromReferee::Claim,
            FromReferee::Hashes { round: 2, range: (8, 16), points: vec![10, 12, 14] },
            FromReferee::Prove { step: 9 },
            FromReferee::Error { reason: "no".into() },
            FromReferee::Result { winner: Role::Defender, reason: "r".into(), summary: json!({"rounds": 3}) },
        ];
        for m in referee {
            assert_eq!(FromReferee::parse(&m.to_json().to_string()), Ok(m.clone()), "{}", m.kind());
        }
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason_naming_the_fault() {
        let h = format!("\"0x{}\"", "ab".repeat(32));
        let cases = [
            ("hello", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ("{\"steps\": 3}", "no \"type\""),
            ("{\"type\": 5}", "no \"type\""),
            ("{\"type\": \"ready\"}", "unknown message type `ready`"),
            ("{\"type\": \"claim\", \"final_hash\": \"0x00\"}", "`claim` without `steps`"),
            (&format!("{{\"type\": \"claim\", \"steps\": -1, \"final_hash\": {h}}}"), "`steps` is not an integer"),
            (&format!("{{\"type\": \"claim\", \"steps\": 1.5, \"final_hash\": {h}}}"), "`steps` is not an integer"),
            ("{\"type\": \"claim\", \"steps\": 3, \"final_hash\": \"0x12\"}", "`final_hash` is not a hash"),
            (
                &format!("{{\"type\": \"hashes\", \"round\": 4294967296, \"hashes\": [{h}]}}"),
                "`round` is not a 32-bit count",
            ),
            (&format!("{{\"type\": \"hashes\", \"round\": 1, \"hashes\": {h}}}"), "`hashes` is not a list"),
            ("{\"type\": \"hashes\", \"round\": 1, \"hashes\": [\"0xzz\"]}", "`hashes` is not a list of hashes"),
            ("{\"type\": \"proof\", \"step\": 1, \"proof\": {\"version\": 1}}", "`proof`: not a proof"),
            (
                "{\"type\": \"hello\", \"version\": 2, \"role\": \"defender\", \"call\": {}, \"module\": \"0x\"}",
                "protocol version 2",
            ),
            (
                "{\"type\": \"hello\", \"version\": 1, \"role\": \"judge\", \"call\": {}, \"module\": \"0x\"}",
                "`role` is not `challenger` or `defender`",
            ),
            (
                "{\"type\": \"hello\", \"version\": 1, \"role\": \"defender\", \"call\": {}, \"module\": \"0x1\"}",
                "`module` is not 0x",
            ),
            (
                "{\"type\": \"hello\", \"version\": 1, \"role\": \"defender\", \"call\": 3, \"module\": \"0x\"}",
                "`call` is not an object",
            ),
        ];
        for (line, reason) in cases {
            let err = FromParty::parse(line).unwrap_err();
            assert!(err.contains(reason), "{line}: {err}");
        }
        let referee = [
            (
                "{\"type\": \"hashes\", \"round\": 1, \"range\": [4, 2], \"points\": [3]}",
                "`range` is not two ascending",
            ),
            (
                "{\"type\": \"hashes\", \"round\": 1, \"range\": [0, 4], \"points\": [\"2\"]}",
                "`points` is not a list of step numbers",
            ),
            (
                "{\"type\": \"result\", \"winner\": \"defender\", \"reason\": \"r\", \"summary\": []}",
                "`summary` is not an object",
            ),
            ("{\"type\": \"proof\"}", "unknown message type `proof`"),
        ];
        for (line, reason) in referee {
            let err = FromReferee::parse(line).unwrap_err();
            assert!(err.contains(reason), "{line}: {err}");
        }
    }

    /// A reader that hands out its input in the given pieces, one per read.
    struct Pieces(Vec<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            out[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }
    }

    fn all_lines(pieces: &[&[u8]], max: usize) -> Vec<Result<String, String>> {
        let mut lines = Lines::new(Pieces(pieces.iter().map(|p| p.to_vec()).collect()), max);
        std::iter::from_fn(|| lines.next_line().unwrap()).collect()
    }

    #[test]
    fn lines_join_pieces_skip_blank_lines_and_cap_their_length() {
        let ok = |s: &str| Ok(s.to_string());
        assert_eq!(all_lines(&[b"ab", b"c\nde", b"f\r\n\n  \r\ng\n", b"tail"], 8), vec![ok("abc"), ok("def"), ok("g")]);
        let long = all_lines(&[b"0123456789", b"0123456789", b"0123\nnext\n"], 8);
        assert_eq!(long.len(), 2, "{long:?}");
        assert!(long[0].as_ref().unwrap_err().contains("longer than 8 bytes"));
        assert_eq!(long[1], ok("next"));
        // A long line that arrives whole is refused too, and the next one read.
        let whole = all_lines(&[b"0123456789abc\nnext\n"], 8);
        assert!(whole[0].is_err() && whole[1] == ok("next"), "{whole:?}");
        assert!(all_lines(&[b"\xff\xfe\n"], 8)[0].as_ref().unwrap_err().contains("not UTF-8"));
    }

    /// A connected pair: the referee's side as a RemoteParty (with its log) and the
    /// party's raw socket.
    fn remote(timeout_ms: u64) -> (RemoteParty, TcpStream, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log_seen = seen.clone();
        let log: Log = Arc::new(move |s: &str| log_seen.lock().unwrap().push(s.to_string()));
        (RemoteParty::new(Role::Challenger, server, Duration::from_millis(timeout_ms), 4096, log), client, seen)
    }

    fn read_message(lines: &mut Lines<TcpStream>) -> FromReferee {
        FromReferee::parse(&lines.next_line().unwrap().unwrap().unwrap()).unwrap()
    }

    #[test]
    fn a_remote_party_rejects_what_it_cannot_use_and_takes_the_answer() {
        let (mut party, client, seen) = remote(5000);
        let hash = trace(&call(3), None).final_hash();
        let answerer = thread::spawn(move || {
            let mut lines = Lines::new(client.try_clone().unwrap(), MAX_LINE);
            assert_eq!(read_message(&mut lines), FromReferee::Hashes { round: 2, range: (0, 9), points: vec![3, 6] });
            let c = call(3);
            let junk = [
                "garbage".to_string(),
                "\"a string\"".to_string(),
                "x".repeat(5000),
                FromParty::Claim(Claim { steps: 1, final_hash: hash }).to_json().to_string(),
                FromParty::Hello { role: Role::Challenger, call: c.to_json(), module: c.module_bytes.to_vec() }
                    .to_json()
                    .to_string(),
                FromParty::Hashes { round: 1, hashes: vec![hash, hash] }.to_json().to_string(),
                FromParty::Hashes { round: 2, hashes: vec![hash] }.to_json().to_string(),
                FromParty::Error { reason: "just saying".into() }.to_json().to_string(),
                FromParty::Hashes { round: 2, hashes: vec![hash, hash] }.to_json().to_string(),
            ];
            for line in junk {
                (&client).write_all(format!("{line}\n").as_bytes()).unwrap();
            }
            // One error per line but the party's own error message and the answer.
            (0..7)
                .map(|_| match read_message(&mut lines) {
                    FromReferee::Error { reason } => reason,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(party.hashes(2, (0, 9), &[3, 6]), Ok(vec![hash, hash]));
        let errors = answerer.join().unwrap();
        let expected = [
            "not JSON",
            "not a JSON object",
            "longer than 4096 bytes",
            "out of turn: a `claim` message, but the referee waits for the hashes of round 2",
            "out of turn: a hello, but the game has started",
            "hashes for round 1, but this is round 2",
            "1 hashes for the 2 points of round 2",
        ];
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.contains(expected), "{error} (expected {expected})");
        }
        assert_eq!(party.rejected.reasons, errors);
        assert!(seen.lock().unwrap().iter().any(|l| l.contains("reports an error: just saying")));
    }

    #[test]
    fn a_silent_or_departed_remote_party_forfeits() {
        let (mut party, client, _) = remote(300);
        let started = Instant::now();
        let err = party.claim().unwrap_err();
        assert!(err.contains("no answer to the claim within 0.3 s"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(300) && started.elapsed() < Duration::from_secs(3));
        // A party trickling bytes without ever ending a line forfeits at the deadline too.
        let trickle = thread::spawn(move || {
            for _ in 0..12 {
                let _ = (&client).write_all(b"{");
                thread::sleep(Duration::from_millis(50));
            }
            client
        });
        let started = Instant::now();
        assert!(party.prove(4).unwrap_err().contains("no answer to the proof of step 4"));
        assert!(started.elapsed() < Duration::from_millis(550), "{:?}", started.elapsed());
        drop(trickle.join().unwrap());
        let err = party.claim().unwrap_err();
        assert!(err.contains("closed the connection") || err.contains("connection failed"), "{err}");
    }

    /// Plays a game over loopback in this process: the referee on a thread, the parties
    /// on theirs.
    fn game(parties: Vec<(Role, Trace)>, rules: Rules) -> (Hosted, Vec<Result<Verdict, String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let referee = thread::spawn(move || host(&listener, &rules, &quiet()).unwrap());
        let players: Vec<_> = parties
            .into_iter()
            .map(|(role, trace)| {
                thread::spawn(move || {
                    let call = trace.call.clone();
                    let stream = TcpStream::connect(address).unwrap();
                    join(stream, role, &call, &mut LocalParty { trace }, &|_| {})
                })
            })
            .collect();
        let verdicts = players.into_iter().map(|p| p.join().unwrap()).collect();
        (referee.join().unwrap(), verdicts)
    }

    #[test]
    fn the_honest_party_wins_over_tcp_in_either_role() {
        let c = call(40);
        for (fault, faulty) in [
            (Fault::Memory(30), Role::Defender),
            (Fault::Branch(50), Role::Challenger),
            (Fault::Claim(2), Role::Defender),
        ] {
            let parties = vec![(faulty, trace(&c, Some(fault))), (faulty.other(), trace(&c, None))];
            let (hosted, verdicts) = game(parties, rules(5000));
            let outcome = &hosted.outcome;
            assert_eq!(outcome.winner, faulty.other(), "{fault}: {}", outcome.reason);
            assert!(outcome.transcript.ruling.is_some() && hosted.rejected.iter().all(|r| r.count == 0));
            // In-process, the same traces play the same game.
            let referee = Referee::new(c.clone()).unwrap();
            let (mut liar, mut honest) =
                (LocalParty { trace: trace(&c, Some(fault)) }, LocalParty { trace: trace(&c, None) });
            let local = match faulty {
                Role::Defender => referee.play(3, &mut liar, &mut honest),
                Role::Challenger => referee.play(3, &mut honest, &mut liar),
            };
            assert_eq!(outcome.transcript.to_json(), local.transcript.to_json(), "{fault}");
            for verdict in verdicts {
                let verdict = verdict.unwrap();
                assert_eq!(verdict.winner, faulty.other());
                assert_eq!(verdict.summary, summary(outcome));
            }
        }
    }

    #[test]
    fn the_lobby_refuses_other_calls_taken_seats_and_junk_and_frees_deserted_seats() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log_seen = seen.clone();
        let log: Log = Arc::new(move |s: &str| log_seen.lock().unwrap().push(s.to_string()));
        let lobby = thread::spawn(move || {
            gather(&listener, &rules(2000), &log).map(|s| (s.call, s.defender.role, s.challenger.role))
        });
        let c = call(10);
        let exchange = |line: String| {
            let stream = TcpStream::connect(address).unwrap();
            (&stream).write_all(format!("{line}\n").as_bytes()).unwrap();
            let mut lines = Lines::new(stream, MAX_LINE);
            (read_message(&mut lines), lines)
        };
        let hello = |role: Role, call: &Call| {
            exchange(
                FromParty::Hello { role, call: call.to_json(), module: call.module_bytes.to_vec() }
                    .to_json()
                    .to_string(),
            )
        };
        let refused = |(message, mut lines): (FromReferee, Lines<TcpStream>)| {
            assert!(lines.next_line().unwrap().is_none(), "the connection is closed after the error");
            match message {
                FromReferee::Error { reason } => reason,
                other => panic!("{other:?}"),
            }
        };
        // The first defender leaves; a second one takes the free seat.
        let (welcome, gone) = hello(Role::Defender, &c);
        assert!(
            matches!(welcome, FromReferee::Welcome { role: Role::Defender, degree: 3, timeout_ms: 2000, .. }),
            "{welcome:?}"
        );
        drop(gone);
        thread::sleep(Duration::from_millis(100));
        let (welcome, _defender) = hello(Role::Defender, &c);
        assert!(matches!(welcome, FromReferee::Welcome { .. }), "{welcome:?}");
        assert!(refused(hello(Role::Defender, &c)).contains("the defender's seat is taken"));
        let other = Call::new(c.module_bytes.to_vec(), "run", vec![Value::I32(11)], Config::default()).unwrap();
        let reason = refused(hello(Role::Challenger, &other));
        assert!(reason.contains("another call than the defender's: its args is"), "{reason}");
        let cheap = Call::new(
            c.module_bytes.to_vec(),
            "run",
            vec![Value::I32(10)],
            Config { gas_limit: 5, ..Config::default() },
        )
        .unwrap();
        assert!(refused(hello(Role::Challenger, &cheap)).contains("its config's gas_limit is \"5\""));
        // Junk, and a hello that lies about its module.
        let reason = refused(exchange("{\"type\": \"claim\", \"steps\": 1}".into()));
        assert!(reason.contains("`claim` without `final_hash`"), "{reason}");
        let mut forged =
            FromParty::Hello { role: Role::Challenger, call: c.to_json(), module: c.module_bytes.to_vec() }.to_json();
        forged["module"] = json!("0x0061736d01000000");
        let reason = refused(exchange(forged.to_string()));
        assert!(reason.contains("the module's hash is"), "{reason}");
        let silent = TcpStream::connect(address).unwrap();
        let (welcome, _challenger) = hello(Role::Challenger, &c);
        assert!(matches!(welcome, FromReferee::Welcome { role: Role::Challenger, .. }), "{welcome:?}");
        let (agreed, d, ch) = lobby.join().unwrap().unwrap();
        assert!(
            call_difference(&agreed.to_json(), &c.to_json()).is_none() && d == Role::Defender && ch == Role::Challenger
        );
        // The silent connection is refused at its deadline, or as late once the game is full.
        let mut silent = Lines::new(silent, MAX_LINE);
        let reason = refused((read_message(&mut silent), silent));
        assert!(reason.contains("no hello within 2 s"), "{reason}");
        assert!(
            seen.lock().unwrap().iter().any(|l| l.contains("left before the game began")),
            "{:?}",
            seen.lock().unwrap()
        );
    }

    /// A hello's line about `module` (text, exporting `run`) under `config`, built
    /// without instantiating anything.
    fn raw_hello(role: Role, module: &str, config: &Config) -> String {
        let call = json!({
            "module_hash": hex(&keccak(module.as_bytes())),
            "export": "run",
            "args": [],
            "config": crate::call::config_to_json(config),
            "base_state_hash": null,
        });
        FromParty::Hello { role, call, module: module.as_bytes().to_vec() }.to_json().to_string() + "\n"
    }

    /// Connects and sends `line`, then waits for the referee to close the connection.
    /// Connects and sends `line` before returning, so that the referee meets it before
    /// any connection made after; then waits for the answer on a thread of its own.
    fn send_and_wait(address: std::net::SocketAddr, line: String) {
        let Ok(mut stream) = TcpStream::connect(address) else { return };
        let _ = stream.write_all(line.as_bytes());
        thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = stream.read_to_end(&mut Vec::new());
        });
    }

    #[test]
    fn hostile_hellos_and_idle_connections_do_not_keep_an_honest_pair_from_its_game() {
        const ENDLESS_START: &str = "(module (func $spin (loop (br 0))) (start $spin) (func (export \"run\")))";
        const HUGE_MEMORY: &str = "(module (memory 4096) (func (export \"run\")))";
        // Within the gas the referee allows.
        let config = Config { gas_limit: 1_000_000, ..Config::default() };
        let c = Call::new(PROGRAM.as_bytes().to_vec(), "run", vec![Value::I32(20)], config).unwrap();
        for held in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            let mut rules = rules(5000);
            rules.hello_timeout = Duration::from_millis(700);
            rules.limits.max_start_gas = 1_000_000;
            rules.call = held.then(|| c.clone());
            let seen = Arc::new(Mutex::new(Vec::<String>::new()));
            let log_seen = seen.clone();
            let log: Log = Arc::new(move |s: &str| log_seen.lock().unwrap().push(s.to_string()));
            let referee = thread::spawn(move || host(&listener, &rules, &log).unwrap());
            // More idle connections than may wait at once, hellos whose start function
            // never ends (within the gas a referee allows, or with all the gas there is),
            // and hellos asking for a gigabyte of chunk-sized memory.
            let endless = Config { gas_limit: 1_000_000, ..Config::default() };
            for role in [Role::Defender, Role::Challenger] {
                send_and_wait(address, raw_hello(role, ENDLESS_START, &endless));
                send_and_wait(address, raw_hello(role, ENDLESS_START, &Config::default()));
                let chunked = Config { memory_chunk_size: 1, ..Config::default() };
                send_and_wait(address, raw_hello(role, HUGE_MEMORY, &chunked));
            }
            let idle: Vec<TcpStream> = (0..MAX_PENDING + 8).filter_map(|_| TcpStream::connect(address).ok()).collect();
            // The idle connections are dropped at the hello deadline; the honest pair,
            // coming after it, is seated and plays to the end.
            thread::sleep(Duration::from_millis(1500));
            drop(idle);
            let started = Instant::now();
            let players: Vec<_> = [(Role::Defender, Some(Fault::Memory(10))), (Role::Challenger, None)]
                .into_iter()
                .map(|(role, fault)| {
                    let t = trace(&c, fault);
                    thread::spawn(move || {
                        let stream = TcpStream::connect(address).unwrap();
                        join(stream, role, &t.call.clone(), &mut LocalParty { trace: t }, &|_| {})
                    })
                })
                .collect();
            for player in players {
                assert_eq!(player.join().unwrap().unwrap().winner, Role::Challenger);
            }
            let hosted = referee.join().unwrap();
            assert_eq!(hosted.outcome.winner, Role::Challenger, "{}", hosted.outcome.reason);
            assert!(started.elapsed() < Duration::from_secs(10), "the honest game took {:?}", started.elapsed());
            let seen = seen.lock().unwrap();
            let refused = |what: &str| seen.iter().any(|l| l.starts_with("refused") && l.contains(what));
            assert!(refused("no hello within"), "{seen:?}");
            if held {
                assert!(refused("another call than the referee's"), "{seen:?}");
            } else {
                assert!(refused("start function ran out of gas"), "{seen:?}");
                assert!(refused("on at most 1000000 gas"), "{seen:?}");
                assert!(refused("this referee allows no less than 64"), "{seen:?}");
            }
        }
    }

    #[test]
    fn a_party_flooding_junk_forfeits_and_its_junk_is_kept_short() {
        let c = call(20);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let referee = thread::spawn(move || host(&listener, &rules(5000), &quiet()).unwrap());
        let defender = {
            let t = trace(&c, None);
            thread::spawn(move || {
                let stream = TcpStream::connect(address).unwrap();
                join(stream, Role::Defender, &t.call.clone(), &mut LocalParty { trace: t }, &|_| {})
            })
        };
        let flooder = thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            let hello = FromParty::Hello { role: Role::Challenger, call: c.to_json(), module: c.module_bytes.to_vec() };
            stream.write_all((hello.to_json().to_string() + "\n").as_bytes()).unwrap();
            // Junk lines of 100 KB, each a message of an unknown type that names itself.
            let junk = format!("{{\"type\": \"{}\"}}\n", "x".repeat(100_000));
            for _ in 0..2 * MAX_REJECTED {
                if stream.write_all(junk.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = stream.read_to_end(&mut Vec::new());
        });
        let hosted = referee.join().unwrap();
        flooder.join().unwrap();
        assert_eq!(defender.join().unwrap().unwrap().winner, Role::Defender);
        assert_eq!(hosted.outcome.winner, Role::Defender);
        assert!(hosted.outcome.reason.contains("messages the referee could not use"), "{}", hosted.outcome.reason);
        let rejected = &hosted.rejected[1];
        assert_eq!(rejected.count, MAX_REJECTED);
        assert_eq!(rejected.reasons.len(), KEPT_REASONS);
        for reason in &rejected.reasons {
            assert!(reason.len() < MAX_REASON + 64 && reason.contains("cut, 100"), "{reason}");
        }
    }

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MAX_REASON);
        let cut = clip(&long);
        assert!(cut.len() < MAX_REASON + 40 && cut.ends_with(&format!("(cut, {} bytes in all)", long.len())));
    }
}
