//! `verigame referee` and `verigame party`: the verification game across processes, over
//! TCP. The protocol is traces::wire's; docs/game.md defines its messages.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};
use traces::wire::{self, Hosted, Rules, Verdict};
use traces::{Call, Fault, Limits, LocalParty, Role, Trace};

use crate::dispute::{print_game, write_transcript, Progress};

/// A timeout in seconds, decimals allowed (`--timeout 0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let seconds: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 1e6) {
        return Err(format!("{s} s: a timeout is more than 0 and at most 1000000 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Holds one game: listens on `listen`, prints the address bound as the first line of
/// standard output, seats a defender and a challenger, plays their game, tells them the
/// result and writes the transcript to `transcript`. Joins and rejected messages go to
/// standard error as they happen.
pub fn referee(listen: &str, rules: &Rules, transcript: Option<&Path>) -> Result<Hosted> {
    let listener = TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on {address}");
    std::io::stdout().flush()?;
    let log: wire::Log = Arc::new(|line: &str| eprintln!("{line}"));
    let hosted = wire::host(&listener, rules, &log)?;
    if let Some(path) = transcript {
        write_transcript(&hosted.outcome, path)?;
    }
    Ok(hosted)
}

/// What `verigame referee` reports once the game is over.
pub struct RefereeReport<'a>(pub &'a Hosted);

impl RefereeReport<'_> {
    /// [`wire::summary`] with each party's address, the reasons the referee gave for the
    /// first rejected messages of each party and how many it rejected.
    pub fn to_json(&self) -> Json {
        let Hosted { outcome, peers, rejected } = self.0;
        let mut report = wire::summary(outcome);
        let fields = report.as_object_mut().expect("the summary is an object");
        fields.insert("peers".into(), json!({"defender": peers[0], "challenger": peers[1]}));
        let [defender, challenger] = rejected;
        fields.insert("rejected".into(), json!({"defender": defender.reasons, "challenger": challenger.reasons}));
        fields.insert("rejected_count".into(), json!({"defender": defender.count, "challenger": challenger.count}));
        report
    }

    pub fn print(&self) {
        let Hosted { outcome, peers, rejected } = self.0;
        let seat = |role: Role| if role == Role::Defender { 0 } else { 1 };
        print_game(outcome, &|role| format!("at {}", peers[seat(role)]));
        for role in [Role::Defender, Role::Challenger] {
            if rejected[seat(role)].count > 0 {
                println!("{} messages from the {role} rejected", rejected[seat(role)].count);
            }
        }
        println!("winner: {}", outcome.winner);
    }
}

/// Where a party's answers come from.
pub enum Answers<'a> {
    /// A recording made now, honest or with a fault.
    Record { fault: Option<Fault>, limits: Limits },
    /// A trace directory `verigame record` wrote.
    Trace(&'a Path),
}

/// Plays `role` in the game the referee at `connect` holds, about `call`, and returns
/// the result the referee sent. Recording shows progress on a terminal unless `quiet`;
/// the game's events go to standard error.
pub fn party(connect: &str, role: Role, call: Call, answers: Answers, quiet: bool) -> Result<Verdict> {
    let trace = match answers {
        Answers::Record { fault, limits } => {
            let progress = Progress::new(&[(role, "recording")], quiet);
            let trace = Trace::record(call, fault, limits, &mut |n| progress.update(role, n));
            progress.finish();
            trace?
        }
        Answers::Trace(dir) => {
            let trace = Trace::open(dir)?;
            if let Some(difference) = wire::call_difference(&call.to_json(), &trace.call.to_json()) {
                bail!("{} records another call than the one given: {difference}", dir.display());
            }
            trace
        }
    };
    let stream = TcpStream::connect(connect).with_context(|| format!("cannot connect to the referee at {connect}"))?;
    let call = trace.call.clone();
    let verdict = wire::join(stream, role, &call, &mut LocalParty { trace }, &|line| eprintln!("{line}"));
    verdict.map_err(anyhow::Error::msg)
}

/// What `verigame party` reports: the result the referee sent.
pub struct PartyReport<'a> {
    pub role: Role,
    pub verdict: &'a Verdict,
}

impl PartyReport<'_> {
    pub fn won(&self) -> bool {
        self.verdict.winner == self.role
    }

    /// The referee's summary (see [`wire::summary`]) with this party's role and whether
    /// it won.
    pub fn to_json(&self) -> Json {
        let mut report = self.verdict.summary.clone();
        if let Some(fields) = report.as_object_mut() {
            fields.insert("role".into(), json!(self.role.name()));
            fields.insert("won".into(), json!(self.won()));
        }
        report
    }

    pub fn print(&self) {
        let s = &self.verdict.summary;
        let side = if self.won() { "this party" } else { "the other party" };
        println!("winner: {} ({side})", self.verdict.winner);
        println!("verdict: {}", self.verdict.reason);
        if let (Some(rounds), Some(degree)) = (s["rounds"].as_u64(), s["degree"].as_u64()) {
            println!("{rounds} rounds at degree {degree}");
        }
        if let Some(step) = s["diverged_step"].as_u64() {
            let place = match (s["function"].as_str(), s["instruction"].as_str()) {
                (Some(f), Some(i)) => format!("in {f}: {i}"),
                _ => "(the agreed state has halted)".to_string(),
            };
            println!("diverged at step {step} {place}; proof: {} bytes in binary form", s["proof_bytes"]);
        }
    }
}
