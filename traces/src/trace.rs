//! A recorded run, kept as one machine that moves through it: forward by running, back
//! through a chain of ways back ([`stepper::Rewind`]) sealed at checkpoints. A way back
//! holds the chunks the run wrote between two checkpoints, as they were, and nothing for
//! fresh memory (it was zero), so a trace costs what the run wrote, not copies of its
//! memory: a run that fills a GiB keeps one GiB, however many checkpoints it has.
//!
//! Every checkpoint keeps its state hash. Reaching a state goes back to the nearest
//! checkpoint at or before it that the chain still reaches (or restarts the call) and
//! runs forward from there; passing a checkpoint checks its hash, so a trace that does
//! not match its call, or an engine that is not deterministic, is an error, not a wrong
//! answer. Each state hashed on request becomes a checkpoint too: a game's later
//! questions fall between earlier ones, so each round replays at most half the last
//! round's range.

use std::collections::BTreeMap;

use judge::Proof;
use merkle_memory::{state_hash, Hash};
use stepper::{Rewind, Undo};

use crate::fault::{Executor, Fault, Progress};
use crate::{Call, TraceError};

/// How a recording spends memory and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Steps between the first checkpoints; the interval doubles whenever there would be
    /// more than `max_checkpoints`.
    pub interval: u64,
    /// At most this many checkpoints are laid while recording.
    pub max_checkpoints: usize,
    /// Bytes the ways back may hold together ([`Rewind::bytes`]) beside the machine
    /// itself. Past it, neighbouring ways back merge (what both saved of a chunk is kept
    /// once), then the oldest are dropped: going back further restarts the call.
    pub memory_budget: usize,
    /// A run that has not finished after this many steps is an error: a game needs the
    /// final state. A gas limit makes every run finish.
    pub max_steps: u64,
}

impl Default for Limits {
    /// At most 32 checkpoints: each costs a hash of what was written since the last,
    /// and a game's points fall on them in its first rounds (docs/benchmarks.md).
    fn default() -> Self {
        Self { interval: 1 << 16, max_checkpoints: 32, memory_budget: 512 << 20, max_steps: u64::MAX }
    }
}

/// The longest stretch run between two looks at the undo log's size: bounds how far a
/// log can pass the budget before it is dropped.
const BUDGET_CHECK_STEPS: u64 = 1 << 20;

/// The estimated bytes a machine holds: memories with their Merkle layers, and the rest
/// ([`stepper::Machine::bytes_beside_memories`]).
pub fn machine_bytes(m: &stepper::Machine) -> usize {
    let memory: usize =
        m.store().memories.iter().map(|mem| mem.data().len() + mem.data().len() / mem.chunk_size() * 64).sum();
    memory + m.bytes_beside_memories()
}

/// A step whose state the trace knows by its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub step: u64,
    pub hash: Hash,
    /// The executor's progress with its fault there.
    pub progress: Progress,
}

/// One party's run of a call.
#[derive(Debug)]
pub struct Trace {
    pub call: Call,
    pub fault: Option<Fault>,
    pub limits: Limits,
    /// Every checkpoint by step; once recorded, the last is the final state's (every
    /// later step has its hash).
    checkpoints: BTreeMap<u64, Checkpoint>,
    /// The one executor, at some step of the run.
    live: Executor,
    /// Ways back, oldest first: each leads to a checkpoint (its `steps()`) from the next
    /// one's, the newest from `open`'s.
    back: Vec<Rewind>,
    /// The undo log the live executor keeps since a checkpoint at or before its step;
    /// none while the budget did not allow one, and then `back` is empty.
    open: Option<(u64, Undo)>,
    /// Spacing of the checkpoints the recording laid down.
    interval: u64,
}

impl Trace {
    /// Runs `call` to its end with `fault`, checkpointing within `limits`, and reports
    /// the steps done so far to `progress` now and then.
    pub fn record(
        call: Call,
        fault: Option<Fault>,
        limits: Limits,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Self, TraceError> {
        if limits.interval == 0 || limits.max_checkpoints < 2 {
            return Err(TraceError::Call("a trace needs an interval of at least one step and two checkpoints".into()));
        }
        let live = Executor::new(call.start()?, fault);
        let mut trace = Self {
            call,
            fault,
            interval: limits.interval,
            limits,
            checkpoints: BTreeMap::new(),
            live,
            back: Vec::new(),
            open: None,
        };
        trace.lay()?;
        loop {
            let next = (trace.live.steps() / trace.interval + 1) * trace.interval;
            trace.run_until(next);
            progress(trace.live.steps());
            if trace.live.is_finished() {
                break;
            }
            if trace.live.steps() >= trace.limits.max_steps {
                return Err(TraceError::Unfinished(trace.live.steps()));
            }
            trace.lay()?;
            trace.thin();
        }
        trace.lay()?;
        Ok(trace)
    }

    /// A trace from stored parts (see [`crate::disk`]): `live` at the final state, with
    /// ways back from it.
    pub(crate) fn from_parts(
        call: Call,
        fault: Option<Fault>,
        limits: Limits,
        checkpoints: Vec<Checkpoint>,
        mut live: Executor,
        back: Vec<Rewind>,
        interval: u64,
    ) -> Self {
        let end = checkpoints.last().expect("a stored trace has its final checkpoint").step;
        let open = Some((end, live.machine.begin_undo()));
        let checkpoints = checkpoints.into_iter().map(|c| (c.step, c)).collect();
        Self { call, fault, limits, checkpoints, live, back, open, interval: interval.max(1) }
    }

    /// The steps the executor reports at its end.
    pub fn steps(&self) -> u64 {
        self.last().step
    }

    pub fn final_hash(&self) -> Hash {
        self.last().hash
    }

    /// The final state's checkpoint.
    pub fn last(&self) -> &Checkpoint {
        self.checkpoints.values().next_back().expect("a trace has its final checkpoint")
    }

    /// Every checkpoint, in step order, the final state's last.
    pub fn checkpoints(&self) -> impl Iterator<Item = &Checkpoint> {
        self.checkpoints.values()
    }

    /// The ways back the trace holds, oldest first.
    pub(crate) fn ways_back(&self) -> &[Rewind] {
        &self.back
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The bytes the ways back hold, beside the machine itself.
    pub fn memory_bytes(&self) -> usize {
        self.back.iter().map(Rewind::bytes).sum::<usize>() + self.live_log_bytes()
    }

    fn live_log_bytes(&self) -> usize {
        self.live.machine.store().memories.iter().map(|m| m.undo_bytes()).sum()
    }

    /// Runs forward to step `n` (or the end), in stretches that let the undo log be
    /// dropped when it alone passes the budget.
    fn run_until(&mut self, n: u64) {
        while self.live.steps() < n && !self.live.is_finished() {
            self.live.advance((n - self.live.steps()).min(BUDGET_CHECK_STEPS));
            if self.open.is_some() && self.live_log_bytes() > self.limits.memory_budget {
                let (_, undo) = self.open.take().expect("checked");
                self.live.machine.keep(undo);
                self.back.clear();
            }
        }
    }

    /// Makes the live state a checkpoint: hashes it (checking the hash a checkpoint there
    /// already has), seals the undo log into a way back and begins the next.
    pub(crate) fn lay(&mut self) -> Result<Checkpoint, TraceError> {
        let step = self.live.steps();
        let hash = state_hash(&mut self.live.machine);
        let checkpoint = Checkpoint { step, hash, progress: self.live.progress };
        if let Some(known) = self.checkpoints.get(&step) {
            if known.hash != hash {
                return Err(TraceError::Diverged { step, expected: known.hash, found: hash });
            }
        }
        self.checkpoints.insert(step, checkpoint);
        match self.open.take() {
            Some((at, undo)) if at == step => self.open = Some((at, undo)),
            open => {
                if let Some((_, undo)) = open {
                    self.back.push(self.live.machine.seal(undo));
                }
                self.open = Some((step, self.live.machine.begin_undo()));
                self.fit();
            }
        }
        Ok(checkpoint)
    }

    /// Keeps the ways back within the budget: merges neighbours (every other checkpoint
    /// stops being a way back, though its hash stays), then drops the oldest.
    fn fit(&mut self) {
        let budget = self.limits.memory_budget.saturating_sub(self.live_log_bytes());
        while self.back.iter().map(Rewind::bytes).sum::<usize>() > budget && !self.back.is_empty() {
            if self.back.len() == 1 {
                self.back.clear();
                break;
            }
            let back = std::mem::take(&mut self.back);
            let mut pairs = back.into_iter();
            while let Some(older) = pairs.next() {
                self.back.push(match pairs.next() {
                    Some(newer) => Rewind::merge(older, newer),
                    None => older,
                });
            }
        }
    }

    /// While recording: at most `max_checkpoints`, by doubling the interval and dropping
    /// the checkpoints off it (but the first and the live one); their ways back merge
    /// into their neighbours'.
    fn thin(&mut self) {
        while self.checkpoints.len() > self.limits.max_checkpoints {
            self.interval *= 2;
            let interval = self.interval;
            let live = self.live.steps();
            let first = *self.checkpoints.keys().next().expect("never empty");
            let dropped: Vec<u64> =
                self.checkpoints.keys().copied().filter(|&s| s != first && s != live && s % interval != 0).collect();
            if dropped.is_empty() {
                break;
            }
            for step in &dropped {
                self.checkpoints.remove(step);
            }
            // A way back to a dropped checkpoint merges into the one before it (which
            // leads there from it); the oldest is dropped with it.
            for rewind in std::mem::take(&mut self.back) {
                if !dropped.contains(&rewind.steps()) {
                    self.back.push(rewind);
                } else if let Some(older) = self.back.pop() {
                    self.back.push(Rewind::merge(older, rewind));
                }
            }
        }
    }

    /// The checkpoints the chain leads back to, oldest first: the ways back's, then the
    /// open log's.
    fn chain_points(&self) -> impl Iterator<Item = u64> + '_ {
        self.back.iter().map(Rewind::steps).chain(self.open.as_ref().map(|(at, _)| *at))
    }

    /// Brings the live executor to step `n` (its end if it finishes earlier).
    fn seek(&mut self, n: u64) -> Result<(), TraceError> {
        let n = n.min(self.steps());
        if n < self.live.steps() {
            self.go_back(n)?;
        }
        while self.live.steps() < n && !self.live.is_finished() {
            let next = self.checkpoints.range(self.live.steps() + 1..=n).next().map_or(n, |(&s, _)| s);
            self.run_until(next);
            if self.checkpoints.contains_key(&self.live.steps()) {
                self.lay()?;
            }
        }
        Ok(())
    }

    /// Goes back to the latest checkpoint at or before `n` that the chain reaches, or
    /// restarts the call.
    fn go_back(&mut self, n: u64) -> Result<(), TraceError> {
        let reachable = self.chain_points().filter(|&s| s <= n).last();
        let (Some(target), Some((mut at, undo))) = (reachable, self.open.take()) else {
            self.live = Executor::new(self.call.start()?, self.fault);
            self.back.clear();
            self.open = None;
            self.lay()?;
            return Ok(());
        };
        self.live.machine.undo(undo);
        while at > target {
            let rewind = self.back.pop().expect("the target is on the chain");
            at = rewind.steps();
            self.live.machine.rewind(rewind)?;
        }
        let hash = state_hash(&mut self.live.machine);
        let known = self.checkpoints.get(&at).copied().expect("every point of the chain is a checkpoint");
        if known.hash != hash {
            return Err(TraceError::Diverged { step: at, expected: known.hash, found: hash });
        }
        self.live.progress = known.progress;
        self.open = Some((at, self.live.machine.begin_undo()));
        Ok(())
    }

    /// The executor at step `n`, or at its end if it finishes earlier.
    pub fn executor_at(&mut self, n: u64) -> Result<&mut Executor, TraceError> {
        self.seek(n)?;
        Ok(&mut self.live)
    }

    /// The executor, wherever it stands.
    pub fn into_executor(self) -> Executor {
        self.live
    }

    /// The state hash at step `n` (the final one from the end on). A step not yet a
    /// checkpoint becomes one.
    pub fn hash_at(&mut self, n: u64) -> Result<Hash, TraceError> {
        if n >= self.steps() {
            return Ok(self.final_hash());
        }
        if let Some(c) = self.checkpoints.get(&n) {
            return Ok(c.hash);
        }
        self.seek(n)?;
        Ok(self.lay()?.hash)
    }

    /// The state hashes at `points`.
    pub fn hashes_at(&mut self, points: &[u64]) -> Result<Vec<Hash>, TraceError> {
        points.iter().map(|&n| self.hash_at(n)).collect()
    }

    /// The one-step proof of the step from `n`: of the executor's state at `n`.
    pub fn proof_at(&mut self, n: u64) -> Result<Proof, TraceError> {
        self.seek(n)?;
        Ok(judge::prove_in_place(&mut self.live.machine))
    }

    /// Narrows interest to steps from `lo` on: the ways back to checkpoints before the
    /// last one at or before `lo` are dropped, with the memory they hold.
    pub fn focus(&mut self, lo: u64) {
        let points: Vec<u64> = self.chain_points().collect();
        let first_needed = points.iter().rposition(|&s| s <= lo).unwrap_or(0);
        self.back.drain(..first_needed.min(self.back.len()));
    }
}
