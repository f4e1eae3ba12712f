//! The verification game. The defender claims a final state (hash and step count), the
//! challenger disputes it with its own. Both then post state hashes at the k - 1 points
//! that cut the range in question into k equal parts, and the referee keeps the first
//! part whose end they disagree on, until one step remains; the challenger proves that
//! step and the judge rules.
//!
//! The range is [0, k^R] with R = ceil(log_k N) for N the longer claimed run, so every
//! round cuts it exactly and a game takes exactly R rounds. Past its last step a party's
//! hash is its final one: a halted machine is a fixed point of a step, which the judge
//! proves like any other. So runs of different lengths need no special case: the game
//! finds the first step where one party's state stops following the other's.

use std::fmt;

use judge::{Judge, Proof};
use merkle_memory::{hash::tagged, hash::Tag, hex, state_hash, Hash};
use serde_json::{json, Value as Json};
use stepper::store::Func;
use stepper::Machine;

use crate::fault::Fault;
use crate::trace::Trace;
use crate::Call;

/// Longer claimed runs are refused, so that the range k^R (less than k times the steps)
/// fits a step counter at any degree up to [`MAX_DEGREE`].
pub const MAX_CLAIMED_STEPS: u64 = 1 << 48;
pub const MAX_DEGREE: u64 = 1024;

/// Whether `degree` is one a game can be played with.
pub fn check_degree(degree: u64) -> Result<(), String> {
    if (2..=MAX_DEGREE).contains(&degree) {
        Ok(())
    } else {
        Err(format!("degree {degree}: a game needs a degree from 2 to {MAX_DEGREE}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Challenger,
    Defender,
}

impl Role {
    pub fn other(self) -> Role {
        match self {
            Role::Challenger => Role::Defender,
            Role::Defender => Role::Challenger,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Challenger => "challenger",
            Role::Defender => "defender",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Challenger, Role::Defender].into_iter().find(|r| r.name() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a party asserts about the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub steps: u64,
    pub final_hash: Hash,
}

/// One side of a game: answers the referee's questions. An error forfeits the game.
pub trait Party: Send {
    fn claim(&mut self) -> Result<Claim, String>;
    /// The state hashes at `points` (ascending, inside `range`) in round `round` (from 1).
    fn hashes(&mut self, round: u32, range: (u64, u64), points: &[u64]) -> Result<Vec<Hash>, String>;
    /// The one-step proof of the step from `step` (asked of the challenger).
    fn prove(&mut self, step: u64) -> Result<Proof, String>;
}

/// A party that answers from its own trace, lying as its fault says.
pub struct LocalParty {
    pub trace: Trace,
}

impl LocalParty {
    fn claim_lie(&self) -> Option<u32> {
        match self.trace.fault {
            Some(Fault::Claim(round)) => Some(round),
            _ => None,
        }
    }
}

/// The hash the claim liar puts in place of `hash`.
fn forged(hash: &Hash) -> Hash {
    tagged(Tag::State, &[b"forged", hash])
}

impl Party for LocalParty {
    fn claim(&mut self) -> Result<Claim, String> {
        let mut final_hash = self.trace.final_hash();
        if self.claim_lie().is_some() {
            final_hash = forged(&final_hash);
        }
        Ok(Claim { steps: self.trace.steps(), final_hash })
    }

    fn hashes(&mut self, round: u32, range: (u64, u64), points: &[u64]) -> Result<Vec<Hash>, String> {
        self.trace.focus(range.0);
        let mut hashes = self.trace.hashes_at(points).map_err(|e| e.to_string())?;
        if self.claim_lie() == Some(round) {
            hashes.iter_mut().for_each(|h| *h = forged(h));
        }
        Ok(hashes)
    }

    fn prove(&mut self, step: u64) -> Result<Proof, String> {
        self.trace.proof_at(step).map_err(|e| e.to_string())
    }
}

/// The state of a bisection: the range [lo, hi] where both agree at `lo` and disagree
/// at `hi`, and the hashes they posted at its ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bisection {
    pub degree: u64,
    pub lo: u64,
    pub hi: u64,
    pub agreed: Hash,
    /// The defender's and the challenger's hashes at `hi`.
    pub at_hi: [Hash; 2],
    /// Rounds played and rounds the game takes.
    pub round: u32,
    pub rounds: u32,
}

/// ceil(log_k n): the rounds a game over `n` steps takes.
pub fn rounds_for(n: u64, degree: u64) -> u32 {
    let (mut rounds, mut span) = (0, 1u128);
    while span < n as u128 {
        span *= degree as u128;
        rounds += 1;
    }
    rounds
}

impl Bisection {
    pub fn new(degree: u64, initial: Hash, defender: &Claim, challenger: &Claim) -> Self {
        let n = defender.steps.max(challenger.steps);
        let rounds = rounds_for(n, degree);
        Self {
            degree,
            lo: 0,
            hi: degree.pow(rounds),
            agreed: initial,
            at_hi: [defender.final_hash, challenger.final_hash],
            round: 0,
            rounds,
        }
    }

    pub fn is_done(&self) -> bool {
        self.hi - self.lo <= 1
    }

    /// The points that cut the range into `degree` equal parts.
    pub fn points(&self) -> Vec<u64> {
        let part = (self.hi - self.lo) / self.degree;
        (1..self.degree).map(|i| self.lo + i * part).collect()
    }

    /// Keeps the first part whose end the parties disagree on (the last part when they
    /// agree on every point: they disagree at `hi`).
    pub fn narrow(&mut self, defender: &[Hash], challenger: &[Hash]) {
        let points = self.points();
        match (0..points.len()).find(|&i| defender[i] != challenger[i]) {
            Some(i) => {
                self.hi = points[i];
                self.at_hi = [defender[i], challenger[i]];
                if i > 0 {
                    self.lo = points[i - 1];
                    self.agreed = defender[i - 1];
                }
            }
            None => {
                let last = points.len() - 1;
                self.lo = points[last];
                self.agreed = defender[last];
            }
        }
        self.round += 1;
    }
}

/// One round as played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    pub round: u32,
    pub range: (u64, u64),
    pub points: Vec<u64>,
    pub defender: Vec<Hash>,
    pub challenger: Vec<Hash>,
    /// The range kept.
    pub next: (u64, u64),
}

/// The single step the game came down to and the judge's ruling on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ruling {
    pub step: u64,
    pub agreed_hash: Hash,
    /// Each side's hash after the step: the defender's, the challenger's.
    pub claimed_after: [Hash; 2],
    /// The judge's post-state hash, when the proof was valid.
    pub judged_after: Option<Hash>,
    pub function: Option<String>,
    pub instruction: Option<String>,
    pub proof: Option<Proof>,
    pub proof_bytes: usize,
    /// Why the proof was rejected, if it was.
    pub rejected: Option<String>,
}

/// How a game ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// False when both parties claimed the same final state: the defender's claim stands.
    /// A forfeit counts as disputed.
    pub disputed: bool,
    pub winner: Role,
    pub reason: String,
    pub transcript: Transcript,
}

/// Every move of a game, in order: what the TUI replays.
#[derive(Clone, Debug, PartialEq)]
pub struct Transcript {
    pub call: Json,
    pub degree: u64,
    pub initial_hash: Hash,
    /// The defender's and the challenger's claims, as far as they were made.
    pub claims: [Option<Claim>; 2],
    pub rounds: Vec<Round>,
    pub ruling: Option<Ruling>,
    pub winner: Option<Role>,
    pub reason: String,
}

fn hashes_json(hashes: &[Hash]) -> Json {
    hashes.iter().map(hex).collect::<Vec<_>>().into()
}

fn claim_json(c: &Option<Claim>) -> Json {
    c.map_or(Json::Null, |c| json!({"steps": c.steps, "final_hash": hex(&c.final_hash)}))
}

impl Transcript {
    pub fn to_json(&self) -> Json {
        let rounds: Vec<Json> = self
            .rounds
            .iter()
            .map(|r| {
                json!({
                    "round": r.round,
                    "range": [r.range.0, r.range.1],
                    "points": r.points,
                    "defender": hashes_json(&r.defender),
                    "challenger": hashes_json(&r.challenger),
                    "next": [r.next.0, r.next.1],
                })
            })
            .collect();
        let ruling = self.ruling.as_ref().map(|r| {
            json!({
                "step": r.step,
                "agreed_hash": hex(&r.agreed_hash),
                "defender_after": hex(&r.claimed_after[0]),
                "challenger_after": hex(&r.claimed_after[1]),
                "judged_after": r.judged_after.as_ref().map(hex),
                "function": r.function,
                "instruction": r.instruction,
                "proof": r.proof.as_ref().map(judge::json::to_json),
                "proof_bytes": r.proof_bytes,
                "rejected": r.rejected,
            })
        });
        json!({
            "version": 1,
            "call": self.call,
            "degree": self.degree,
            "initial_hash": hex(&self.initial_hash),
            "defender": claim_json(&self.claims[0]),
            "challenger": claim_json(&self.claims[1]),
            "rounds": rounds,
            "ruling": ruling,
            "winner": self.winner.map(Role::name),
            "reason": self.reason,
        })
    }

    /// The transcript [`Transcript::to_json`] wrote. Anything malformed is an error that
    /// names the field (`rounds[2].defender[0]`, say).
    pub fn from_json(v: &Json) -> Result<Self, crate::TraceError> {
        let top = Field::root(v)?;
        let version = top.at("version").u64()?;
        if version != 1 {
            return Err(top.at("version").error(&format!("is {version}; this reader knows version 1")));
        }
        let call = top.at("call");
        call.object()?;
        let rounds = top.at("rounds").items()?.into_iter().map(|r| round_from_json(&r)).collect::<Result<_, _>>()?;
        let winner = top.at("winner");
        let winner = match winner.value {
            Json::Null => None,
            _ => Some(
                Role::parse(winner.str()?).ok_or_else(|| winner.error("is neither \"challenger\" nor \"defender\""))?,
            ),
        };
        Ok(Transcript {
            call: call.value.clone(),
            degree: top.at("degree").u64()?,
            initial_hash: top.at("initial_hash").hash()?,
            claims: [claim_from_json(&top.at("defender"))?, claim_from_json(&top.at("challenger"))?],
            rounds,
            ruling: top.at("ruling").nullable().map(|r| ruling_from_json(&r)).transpose()?,
            winner,
            reason: top.at("reason").str()?.to_string(),
        })
    }
}

/// A value inside a transcript's JSON, with its path for error messages.
struct Field<'a> {
    value: &'a Json,
    path: String,
}

impl<'a> Field<'a> {
    fn root(value: &'a Json) -> Result<Self, crate::TraceError> {
        let root = Field { value, path: String::new() };
        root.object()?;
        Ok(root)
    }

    fn error(&self, what: &str) -> crate::TraceError {
        let place = if self.path.is_empty() { "the top level".to_string() } else { format!("`{}`", self.path) };
        crate::TraceError::Format(format!("transcript: {place} {what}"))
    }

    /// The member `key` (JSON null when it is missing; the typed getters reject that).
    fn at(&self, key: &str) -> Field<'a> {
        let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
        Field { value: self.value.get(key).unwrap_or(&Json::Null), path }
    }

    fn object(&self) -> Result<(), crate::TraceError> {
        self.value.as_object().map(|_| ()).ok_or_else(|| self.error("is missing or not an object"))
    }

    fn nullable(&self) -> Option<Field<'a>> {
        (!self.value.is_null()).then(|| Field { value: self.value, path: self.path.clone() })
    }

    fn items(&self) -> Result<Vec<Field<'a>>, crate::TraceError> {
        let items = self.value.as_array().ok_or_else(|| self.error("is missing or not an array"))?;
        Ok(items.iter().enumerate().map(|(i, value)| Field { value, path: format!("{}[{i}]", self.path) }).collect())
    }

    fn u64(&self) -> Result<u64, crate::TraceError> {
        self.value.as_u64().ok_or_else(|| self.error("is missing or not a non-negative integer"))
    }

    fn u32(&self) -> Result<u32, crate::TraceError> {
        u32::try_from(self.u64()?).map_err(|_| self.error("does not fit 32 bits"))
    }

    fn str(&self) -> Result<&'a str, crate::TraceError> {
        self.value.as_str().ok_or_else(|| self.error("is missing or not a string"))
    }

    fn optional_str(&self) -> Result<Option<String>, crate::TraceError> {
        self.nullable().map(|f| f.str().map(str::to_string)).transpose()
    }

    fn hash(&self) -> Result<Hash, crate::TraceError> {
        merkle_memory::parse_hex(self.str()?).ok_or_else(|| self.error("is not 0x and 64 hex digits"))
    }

    fn hashes(&self) -> Result<Vec<Hash>, crate::TraceError> {
        self.items()?.iter().map(Field::hash).collect()
    }

    fn range(&self) -> Result<(u64, u64), crate::TraceError> {
        match self.items()?.as_slice() {
            [lo, hi] => Ok((lo.u64()?, hi.u64()?)),
            _ => Err(self.error("is not a pair of steps")),
        }
    }
}

fn claim_from_json(f: &Field) -> Result<Option<Claim>, crate::TraceError> {
    let Some(f) = f.nullable() else { return Ok(None) };
    f.object()?;
    Ok(Some(Claim { steps: f.at("steps").u64()?, final_hash: f.at("final_hash").hash()? }))
}

fn round_from_json(f: &Field) -> Result<Round, crate::TraceError> {
    f.object()?;
    let points = f.at("points").items()?.iter().map(Field::u64).collect::<Result<Vec<_>, _>>()?;
    let (defender, challenger) = (f.at("defender").hashes()?, f.at("challenger").hashes()?);
    for (name, hashes) in [("defender", &defender), ("challenger", &challenger)] {
        if hashes.len() != points.len() {
            return Err(f.at(name).error(&format!("has {} hashes for {} points", hashes.len(), points.len())));
        }
    }
    Ok(Round {
        round: f.at("round").u32()?,
        range: f.at("range").range()?,
        points,
        defender,
        challenger,
        next: f.at("next").range()?,
    })
}

fn ruling_from_json(f: &Field) -> Result<Ruling, crate::TraceError> {
    f.object()?;
    let proof = f.at("proof");
    let proof = match proof.nullable() {
        Some(p) => Some(judge::json::from_json(p.value).map_err(|e| p.error(&format!("is not a proof: {e}")))?),
        None => None,
    };
    let judged_after = f.at("judged_after");
    Ok(Ruling {
        step: f.at("step").u64()?,
        agreed_hash: f.at("agreed_hash").hash()?,
        claimed_after: [f.at("defender_after").hash()?, f.at("challenger_after").hash()?],
        judged_after: judged_after.nullable().map(|h| h.hash()).transpose()?,
        function: f.at("function").optional_str()?,
        instruction: f.at("instruction").optional_str()?,
        proof,
        proof_bytes: f.at("proof_bytes").u64()? as usize,
        rejected: f.at("rejected").optional_str()?,
    })
}

/// The referee's side: the call, and the judge for its module.
pub struct Referee {
    pub call: Call,
    pub judge: Judge,
    /// The layout of the call's machine, to name functions.
    layout: Machine,
    initial: Hash,
}

impl Referee {
    pub fn new(call: Call) -> Result<Self, crate::TraceError> {
        let judge = Judge::new(call.module.clone(), call.config.clone())?;
        let layout = Machine::layout(&call.module, call.config.clone())?;
        let initial = state_hash(&mut call.start()?);
        Ok(Self { call, judge, layout, initial })
    }

    pub fn initial_hash(&self) -> Hash {
        self.initial
    }

    fn function_name(&self, func: u32) -> Option<String> {
        match self.layout.store().funcs.get(func as usize)? {
            Func::Wasm { index, .. } => Some(self.call.module.func_name(*index)),
            Func::Host { .. } => None,
        }
    }

    /// Plays a whole game with degree `degree` between two parties.
    pub fn play(&self, degree: u64, defender: &mut dyn Party, challenger: &mut dyn Party) -> Outcome {
        let mut t = Transcript {
            call: self.call.to_json(),
            degree,
            initial_hash: self.initial,
            claims: [None, None],
            rounds: Vec::new(),
            ruling: None,
            winner: None,
            reason: String::new(),
        };
        let end = |mut t: Transcript, winner: Role, reason: String| {
            t.winner = Some(winner);
            t.reason = reason.clone();
            let agreed = matches!(t.claims, [Some(d), Some(c)] if d.final_hash == c.final_hash);
            Outcome { disputed: !agreed, winner, reason, transcript: t }
        };
        if let Err(e) = check_degree(degree) {
            return end(t, Role::Defender, e);
        }
        let (d, c) = both(defender, challenger, |p| p.claim());
        let check = |claim: Result<Claim, String>| {
            claim.and_then(|c| {
                if c.steps > MAX_CLAIMED_STEPS {
                    Err(format!("claims {} steps, more than {MAX_CLAIMED_STEPS}", c.steps))
                } else {
                    Ok(c)
                }
            })
        };
        let (d, c) = match (check(d), check(c)) {
            (Err(e), _) => return end(t, Role::Challenger, format!("the defender forfeits: {e}")),
            (_, Err(e)) => return end(t, Role::Defender, format!("the challenger forfeits: {e}")),
            (Ok(d), Ok(c)) => (d, c),
        };
        t.claims = [Some(d), Some(c)];
        if d.final_hash == c.final_hash {
            return end(t, Role::Defender, "no dispute: both claim the same final state".into());
        }
        let mut b = Bisection::new(degree, self.initial, &d, &c);
        while !b.is_done() {
            let (range, points, round) = ((b.lo, b.hi), b.points(), b.round + 1);
            let answer = |hashes: Result<Vec<Hash>, String>| {
                hashes.and_then(|h| {
                    if h.len() == points.len() {
                        Ok(h)
                    } else {
                        Err(format!("{} hashes for {} points in round {round}", h.len(), points.len()))
                    }
                })
            };
            let (dh, ch) = both(defender, challenger, |p| p.hashes(round, range, &points));
            let (dh, ch) = match (answer(dh), answer(ch)) {
                (Err(e), _) => return end(t, Role::Challenger, format!("the defender forfeits: {e}")),
                (_, Err(e)) => return end(t, Role::Defender, format!("the challenger forfeits: {e}")),
                (Ok(dh), Ok(ch)) => (dh, ch),
            };
            b.narrow(&dh, &ch);
            t.rounds.push(Round { round, range, points, defender: dh, challenger: ch, next: (b.lo, b.hi) });
        }
        let ruling = self.rule(&b, challenger);
        let (winner, reason) = match (&ruling.rejected, ruling.judged_after) {
            (Some(why), _) => (Role::Defender, format!("the challenger's proof of step {} is rejected: {why}", b.lo)),
            (None, Some(after)) if after == b.at_hi[0] => {
                (Role::Defender, format!("the judge's state after step {} is the defender's", b.lo))
            }
            (None, _) => (Role::Challenger, format!("the judge's state after step {} is not the defender's", b.lo)),
        };
        t.ruling = Some(ruling);
        end(t, winner, reason)
    }

    /// Asks the challenger to prove the step the bisection came down to, and judges it.
    fn rule(&self, b: &Bisection, challenger: &mut dyn Party) -> Ruling {
        let mut ruling = Ruling {
            step: b.lo,
            agreed_hash: b.agreed,
            claimed_after: b.at_hi,
            judged_after: None,
            function: None,
            instruction: None,
            proof: None,
            proof_bytes: 0,
            rejected: None,
        };
        let proof = match challenger.prove(b.lo) {
            Ok(proof) => proof,
            Err(e) => {
                ruling.rejected = Some(format!("no proof: {e}"));
                return ruling;
            }
        };
        ruling.proof_bytes = judge::to_bytes(&proof).len();
        let running = proof.state.status == 0;
        ruling.function = self.function_name(proof.state.frame.func).filter(|_| running);
        ruling.instruction = self.judge.instruction(proof.state.frame.func, proof.state.frame.pc).filter(|_| running);
        if proof.pre_hash != b.agreed {
            ruling.rejected =
                Some(format!("it opens {}, not the agreed state {}", hex(&proof.pre_hash), hex(&b.agreed)));
        } else {
            match self.judge.execute(&proof) {
                Ok(verdict) => ruling.judged_after = Some(verdict.post_hash),
                Err(invalid) => ruling.rejected = Some(invalid.to_string()),
            }
        }
        ruling.proof = Some(proof);
        ruling
    }
}

/// Asks both parties at once (each may take long: they replay their traces).
fn both<T: Send>(
    defender: &mut dyn Party,
    challenger: &mut dyn Party,
    ask: impl Fn(&mut dyn Party) -> T + Sync,
) -> (T, T) {
    std::thread::scope(|s| {
        let d = s.spawn(|| ask(defender));
        let c = ask(challenger);
        (d.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), c)
    })
}

/// The default dissection degree. In one process the degrees from 2 to 16 take the same
/// time and memory within the noise of a measurement (docs/benchmarks.md, `verigame bench
/// --dispute`), and 2 asks each party the fewest hashes per round.
pub const DEFAULT_DEGREE: u64 = 2;

/// A whole game in one process: records the honest run and the one with `fault` at
/// once, then plays them with the liar in role `faulty`. `progress` hears each
/// recording's steps (the role of the party recording, the steps so far).
pub fn dispute(
    call: &Call,
    fault: Fault,
    faulty: Role,
    degree: u64,
    limits: &crate::Limits,
    progress: &(dyn Fn(Role, u64) + Sync),
) -> Result<Outcome, crate::TraceError> {
    let referee = Referee::new(call.clone())?;
    let (mut honest, mut liar) = record_parties(call, fault, faulty, limits, progress)?;
    Ok(match faulty {
        Role::Defender => referee.play(degree, &mut liar, &mut honest),
        Role::Challenger => referee.play(degree, &mut honest, &mut liar),
    })
}

/// The two parties of [`dispute`], recorded at once on two threads: the honest one and
/// the one with `fault` (in role `faulty`), in that order.
pub fn record_parties(
    call: &Call,
    fault: Fault,
    faulty: Role,
    limits: &crate::Limits,
    progress: &(dyn Fn(Role, u64) + Sync),
) -> Result<(LocalParty, LocalParty), crate::TraceError> {
    let record =
        |f: Option<Fault>, role: Role| Trace::record(call.clone(), f, limits.clone(), &mut |n| progress(role, n));
    let (honest, liar) = std::thread::scope(|s| {
        let liar = s.spawn(|| record(Some(fault), faulty));
        let honest = record(None, faulty.other());
        (honest, liar.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    Ok((LocalParty { trace: honest? }, LocalParty { trace: liar? }))
}
