//! A call under inspection: the live machine, checkpoints to go back from, and what the
//! panes show about the current step (its state hash, the memory chunks the step touched
//! and the chunks dirty since the last hash).

use std::collections::BTreeMap;

use merkle_memory::{state_hash, Hash};
use stepper::Machine;
use traces::trace::machine_bytes;

/// Steps between the first checkpoints; the spacing doubles whenever keeping them all
/// would pass the memory budget, so going back replays at most one spacing.
pub const FIRST_INTERVAL: u64 = 1 << 16;
/// Bytes the checkpoints may hold together by default.
pub const DEFAULT_BUDGET: usize = 128 << 20;

/// Full machine states at every multiple of a spacing, step 0 always among them.
struct Checkpoints {
    kept: BTreeMap<u64, Machine>,
    interval: u64,
    budget: usize,
}

impl Checkpoints {
    fn next_due(&self, step: u64) -> u64 {
        (step / self.interval + 1) * self.interval
    }

    /// Keeps `machine` if its step is a multiple of the spacing, thinning to every other
    /// checkpoint while they hold more than the budget.
    fn offer(&mut self, machine: &Machine) {
        if !machine.steps().is_multiple_of(self.interval) || self.kept.contains_key(&machine.steps()) {
            return;
        }
        self.kept.insert(machine.steps(), machine.clone());
        let size = machine_bytes(machine);
        while self.kept.len() > 2 && self.kept.len() * size > self.budget {
            self.interval *= 2;
            let interval = self.interval;
            self.kept.retain(|&step, _| step % interval == 0);
        }
    }

    fn at_or_before(&self, step: u64) -> &Machine {
        self.kept.range(..=step).next_back().expect("step 0 is always kept").1
    }
}

/// What the panes show about the current state, computed once it settles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The step they are about: during a run the machine moves on without them.
    pub step: u64,
    pub hash: Hash,
    /// Chunks of memory 0 that the last step read or wrote: those its one-step proof opens.
    pub touched: Vec<u32>,
    /// Chunks of memory 0 written since the machine's Merkle tree was last brought up to
    /// date: what computing `hash` had to rehash.
    pub dirty: Vec<u32>,
}

/// The machine at the current step and the means to reach any other.
pub struct Session {
    machine: Machine,
    checkpoints: Checkpoints,
    pub facts: Facts,
}

impl Session {
    /// A session on `machine`, a call just started (at step 0).
    pub fn new(machine: Machine) -> Self {
        Self::with_budget(machine, DEFAULT_BUDGET)
    }

    pub fn with_budget(machine: Machine, budget: usize) -> Self {
        assert_eq!(machine.steps(), 0, "a session starts where its call starts");
        let kept = BTreeMap::from([(machine.steps(), machine.clone())]);
        let checkpoints = Checkpoints { kept, interval: FIRST_INTERVAL, budget };
        let mut session = Self { machine, checkpoints, facts: Facts::default() };
        session.settle();
        session
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    pub fn steps(&self) -> u64 {
        self.machine.steps()
    }

    pub fn is_halted(&self) -> bool {
        self.machine.status().is_halted()
    }

    /// Steps between checkpoints now.
    pub fn checkpoint_interval(&self) -> u64 {
        self.checkpoints.interval
    }

    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.kept.len()
    }

    /// One step forward, and the facts about it. A halted machine does not move.
    pub fn step(&mut self) {
        if self.is_halted() {
            return;
        }
        let touched = opened_chunks(&self.machine);
        self.advance_one();
        self.settle_with(touched);
    }

    /// Goes back (or stays) to step `n`, which must not be past the current step: from
    /// the nearest checkpoint, replaying at most one checkpoint spacing.
    pub fn rewind_to(&mut self, n: u64) {
        let n = n.min(self.steps());
        if n == 0 {
            self.machine = self.checkpoints.at_or_before(0).clone();
            self.settle_with(Vec::new());
            return;
        }
        let mut machine = self.state_at(n - 1);
        let touched = opened_chunks(&machine);
        machine.step();
        self.machine = machine;
        self.settle_with(touched);
    }

    /// The state at step `n` (at most the current step), replayed from a checkpoint.
    fn state_at(&self, n: u64) -> Machine {
        let mut machine = self.checkpoints.at_or_before(n).clone();
        machine.run(n - machine.steps());
        machine
    }

    /// Runs up to `n` steps on the fast path, keeping checkpoints on the way, without
    /// settling; returns the steps taken. Long runs call this in slices, then [`Session::settle`].
    pub fn advance(&mut self, n: u64) -> u64 {
        let start = self.steps();
        let target = start.saturating_add(n);
        while self.steps() < target && !self.is_halted() {
            let stop = target.min(self.checkpoints.next_due(self.steps()));
            self.machine.run(stop - self.steps());
            self.checkpoints.offer(&self.machine);
        }
        self.steps() - start
    }

    /// One step without settling, keeping a checkpoint when one is due.
    pub fn advance_one(&mut self) {
        self.machine.step();
        self.checkpoints.offer(&self.machine);
    }

    /// Computes the facts about the current state after a run, replaying the step
    /// before it from a checkpoint to find what that step touched.
    pub fn settle(&mut self) {
        let touched = match self.steps() {
            0 => Vec::new(),
            n => opened_chunks(&self.state_at(n - 1)),
        };
        self.settle_with(touched);
    }

    /// Computes the facts, given the chunks the last step touched.
    fn settle_with(&mut self, touched: Vec<u32>) {
        let mut dirty: Vec<u32> =
            self.machine.store().memories.first().map(|m| m.cache().dirty().leaves().to_vec()).unwrap_or_default();
        dirty.sort_unstable();
        let hash = state_hash(&mut self.machine);
        self.facts = Facts { step: self.steps(), hash, touched, dirty };
    }
}

/// The chunks of memory 0 that the one-step proof of the step from `before` opens.
fn opened_chunks(before: &Machine) -> Vec<u32> {
    match judge::prove(before).memory {
        Some(opening) if opening.index == 0 => opening.chunks.iter().map(|&(i, _)| i).collect(),
        _ => Vec::new(),
    }
}
