//! A recorded run: checkpoints (full machine states) at an interval that adapts to a
//! memory budget, and the state hash at any step from the nearest earlier checkpoint
//! plus replay. When a game narrows the steps in question, [`Trace::focus`] replays that
//! range once to checkpoint it densely, as Arbitrum's challenge cache does, so each
//! later query replays only a small part of it.

use std::collections::BTreeMap;

use judge::Proof;
use merkle_memory::{state_hash, Hash};
use stepper::Machine;

use crate::fault::{Executor, Fault};
use crate::{Call, TraceError};

/// How a recording spends memory and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Steps between the first checkpoints; the interval doubles whenever keeping them
    /// all would pass the budget.
    pub interval: u64,
    /// At most this many checkpoints are kept.
    pub max_checkpoints: usize,
    /// Bytes the checkpoints may hold together (an estimate of their machines' size).
    pub memory_budget: usize,
    /// A run that has not finished after this many steps is an error: a game needs the
    /// final state. A gas limit makes every run finish.
    pub max_steps: u64,
}

impl Default for Limits {
    /// At most 32 checkpoints: each costs a machine copy and a hash of what was written
    /// since the last, which the fast path made the larger part of a recording. With 64
    /// a game on sort took 1.95x a plain run, with 32 1.3x to 1.4x, with 16 its rounds
    /// replay more (docs/benchmarks.md).
    fn default() -> Self {
        Self { interval: 1 << 16, max_checkpoints: 32, memory_budget: 512 << 20, max_steps: u64::MAX }
    }
}

/// At most this many checkpoints a focus lays down. Each costs a copy of the machine and
/// a hash of what the replay wrote since the last one, often more than replaying the
/// steps between them: with 16 rather than all the budget allows (30 by default), a
/// game's rounds take about half the time (docs/benchmarks.md).
const FOCUS_CHECKPOINTS: u64 = 16;

/// A kept state: the executor at `step` and its state hash. Its machine's Merkle cache
/// is up to date, so hashing a replay from it rehashes only what the replay wrote.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub step: u64,
    pub hash: Hash,
    pub executor: Executor,
}

impl Checkpoint {
    /// A checkpoint of `executor` as it stands. Hashes the live executor (then copies
    /// it), so that its own cache stays current too.
    pub fn of(executor: &mut Executor) -> Self {
        let hash = state_hash(&mut executor.machine);
        Self { step: executor.steps(), hash, executor: executor.clone() }
    }
}

/// One party's run of a call.
#[derive(Debug)]
pub struct Trace {
    pub call: Call,
    pub fault: Option<Fault>,
    pub limits: Limits,
    /// Never empty: step 0 is kept until a focus moves past it.
    checkpoints: BTreeMap<u64, Checkpoint>,
    /// The state where the executor finished. Every later step has its hash.
    last: Checkpoint,
    /// Spacing of the checkpoints the recording or the last focus laid down.
    interval: u64,
}

/// The estimated bytes a machine holds: memories with their Merkle layers, tables,
/// the value stack and the output log.
pub fn machine_bytes(m: &Machine) -> usize {
    let memory: usize =
        m.store().memories.iter().map(|mem| mem.data().len() + mem.data().len() / mem.chunk_size() * 64).sum();
    let tables: usize = m.store().tables.iter().map(|t| t.elems().len() * 12).sum();
    memory + tables + m.stack().len() * 8 + m.frames().len() * 12 + m.output().len() * 8 + 4096
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
        let mut executor = Executor::new(call.start()?, fault);
        let first = Checkpoint::of(&mut executor);
        let mut trace = Self {
            call,
            fault,
            interval: limits.interval,
            limits,
            checkpoints: BTreeMap::from([(0, first.clone())]),
            last: first,
        };
        loop {
            let next = (executor.steps() / trace.interval + 1) * trace.interval;
            executor.advance(next - executor.steps());
            progress(executor.steps());
            if executor.is_finished() {
                break;
            }
            if executor.steps() >= trace.limits.max_steps {
                return Err(TraceError::Unfinished(executor.steps()));
            }
            trace.keep(Checkpoint::of(&mut executor));
        }
        trace.last = Checkpoint::of(&mut executor);
        Ok(trace)
    }

    /// A trace from stored parts (see [`crate::disk`]).
    pub(crate) fn from_parts(
        call: Call,
        fault: Option<Fault>,
        limits: Limits,
        checkpoints: Vec<Checkpoint>,
        last: Checkpoint,
        interval: u64,
    ) -> Self {
        let checkpoints = checkpoints.into_iter().map(|c| (c.step, c)).collect();
        Self { call, fault, limits, checkpoints, last, interval: interval.max(1) }
    }

    /// The steps the executor reports at its end.
    pub fn steps(&self) -> u64 {
        self.last.step
    }

    pub fn final_hash(&self) -> Hash {
        self.last.hash
    }

    pub fn last(&self) -> &Checkpoint {
        &self.last
    }

    pub fn checkpoints(&self) -> impl Iterator<Item = &Checkpoint> {
        self.checkpoints.values()
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The bytes the kept checkpoints hold, estimated as [`machine_bytes`].
    pub fn memory_bytes(&self) -> usize {
        self.checkpoints.values().chain([&self.last]).map(|c| machine_bytes(&c.executor.machine)).sum()
    }

    /// How many checkpoints fit the budget, at the current machine size.
    fn capacity(&self, sample: &Machine) -> usize {
        (self.limits.memory_budget / machine_bytes(sample)).clamp(2, self.limits.max_checkpoints)
    }

    /// Adds a recording checkpoint, thinning to every other one (and doubling the
    /// interval) while there are more than the budget allows.
    fn keep(&mut self, checkpoint: Checkpoint) {
        let capacity = self.capacity(&checkpoint.executor.machine);
        self.checkpoints.insert(checkpoint.step, checkpoint);
        while self.checkpoints.len() > capacity {
            self.interval *= 2;
            let first = *self.checkpoints.keys().next().expect("never empty");
            let interval = self.interval;
            self.checkpoints.retain(|&step, _| step == first || step % interval == 0);
            if self.checkpoints.len() <= 1 {
                break;
            }
        }
    }

    /// The executor at step `n`, or at its end if it finishes earlier.
    pub fn executor_at(&self, n: u64) -> Executor {
        if n >= self.last.step {
            return self.last.executor.clone();
        }
        let (_, from) = self.checkpoints.range(..=n).next_back().expect("a checkpoint at or before every step");
        let mut executor = from.executor.clone();
        executor.advance(n - from.step);
        executor
    }

    /// The state hash at step `n` (the final one from the end on).
    pub fn hash_at(&self, n: u64) -> Hash {
        if n >= self.last.step {
            return self.last.hash;
        }
        if let Some(c) = self.checkpoints.get(&n) {
            return c.hash;
        }
        state_hash(&mut self.executor_at(n).machine)
    }

    /// The state hashes at `points` (ascending), replaying once through them where no
    /// checkpoint lies in between.
    pub fn hashes_at(&self, points: &[u64]) -> Vec<Hash> {
        let mut cursor: Option<Executor> = None;
        points
            .iter()
            .map(|&n| {
                if n >= self.last.step || self.checkpoints.contains_key(&n) {
                    return self.hash_at(n);
                }
                let nearest = self.checkpoints.range(..=n).next_back().map_or(0, |(&s, _)| s);
                let executor = match cursor.take() {
                    Some(mut e) if e.steps() >= nearest && e.steps() <= n => {
                        e.advance(n - e.steps());
                        e
                    }
                    _ => self.executor_at(n),
                };
                let executor = cursor.insert(executor);
                state_hash(&mut executor.machine)
            })
            .collect()
    }

    /// The one-step proof of the step from `n`: of the executor's state at `n`.
    pub fn proof_at(&self, n: u64) -> Proof {
        judge::prove(&self.executor_at(n).machine)
    }

    /// Narrows interest to steps `lo..=hi`: when fewer than a few checkpoints lie in that
    /// range, drops those outside it (but the first) and replays the range once to lay
    /// down checkpoints evenly (at most [`FOCUS_CHECKPOINTS`]).
    pub fn focus(&mut self, lo: u64, hi: u64) {
        let hi = hi.min(self.last.step);
        if lo >= hi {
            return;
        }
        let inside = self.checkpoints.range(lo..=hi).count();
        let capacity = self.capacity(&self.last.executor.machine);
        let laid = (capacity as u64).saturating_sub(2).clamp(1, FOCUS_CHECKPOINTS);
        let spacing = (hi - lo).div_ceil(laid).max(1);
        if inside >= 4 || spacing >= self.interval {
            return;
        }
        let mut executor = self.executor_at(lo);
        let first = self.checkpoints.pop_first().expect("never empty");
        let mut kept = BTreeMap::from([(first.0, first.1)]);
        loop {
            let c = Checkpoint::of(&mut executor);
            kept.insert(c.step, c);
            if executor.steps() + spacing >= hi || executor.is_finished() {
                break;
            }
            executor.advance(spacing);
        }
        self.checkpoints = kept;
        self.interval = spacing;
    }
}
