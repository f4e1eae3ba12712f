//! The executor a party runs: the stepper, optionally with one named way to lie, for
//! tests and demos of the game. An honest executor is the plain machine.

use std::fmt;
use std::str::FromStr;

use stepper::op::{Branch, Op};
use stepper::{Machine, Status};

/// A way for a party to lie, and from which step (or bisection round) it starts.
/// A fault whose step has no such effect (no memory write at that step, say) applies at
/// the next step that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Flips the low bit of the value on top of the stack after the step.
    Stack(u64),
    /// Flips a byte at the address a store or bulk memory instruction writes.
    Memory(u64),
    /// Takes the other way at a br_if, if or br_table.
    Branch(u64),
    /// Charges no gas for the step (a party that understates its gas).
    Gas(u64),
    /// Stops at the step as if the call had ended there.
    Halt(u64),
    /// Keeps counting steps and gas after the call halts, up to at least the step.
    Extend(u64),
    /// Flips the last byte that the first step at or after the step to write to standard
    /// output or standard error (a WASI `fd_write`) wrote: a lie in the program's output.
    Output(u64),
    /// Executes correctly, but claims a wrong final state and, in bisection round R
    /// (from 1), wrong hashes at every point it is asked about.
    Claim(u32),
}

impl Fault {
    pub const KINDS: [&'static str; 8] = ["stack", "memory", "branch", "gas", "halt", "extend", "claim", "output"];

    /// The step from which the executor lies, if it lies about execution at all.
    pub fn step(self) -> Option<u64> {
        match self {
            Fault::Stack(s)
            | Fault::Memory(s)
            | Fault::Branch(s)
            | Fault::Gas(s)
            | Fault::Halt(s)
            | Fault::Extend(s)
            | Fault::Output(s) => Some(s),
            Fault::Claim(_) => None,
        }
    }

    pub fn kind(self) -> &'static str {
        let i = match self {
            Fault::Stack(_) => 0,
            Fault::Memory(_) => 1,
            Fault::Branch(_) => 2,
            Fault::Gas(_) => 3,
            Fault::Halt(_) => 4,
            Fault::Extend(_) => 5,
            Fault::Claim(_) => 6,
            Fault::Output(_) => 7,
        };
        Self::KINDS[i]
    }

    /// The fault of kind `kind` (one of [`Fault::KINDS`]) at step or round `at`.
    pub fn new(kind: &str, at: u64) -> Result<Fault, String> {
        Ok(match kind {
            "stack" => Fault::Stack(at),
            "memory" => Fault::Memory(at),
            "branch" => Fault::Branch(at),
            "gas" => Fault::Gas(at),
            "halt" => Fault::Halt(at),
            "extend" => Fault::Extend(at),
            "output" => Fault::Output(at),
            "claim" => Fault::Claim(u32::try_from(at).map_err(|_| format!("round {at} is out of range"))?),
            _ => return Err(format!("unknown fault kind `{kind}`; kinds: {}", Self::KINDS.join(", "))),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::Claim(round) => write!(f, "claim@{round}"),
            other => write!(f, "{}@{}", other.kind(), other.step().expect("an execution fault has a step")),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// Parses `KIND@STEP` (`claim@ROUND` for the claim liar).
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, at) = s.split_once('@').ok_or_else(|| format!("`{s}` is not KIND@STEP (for example stack@100)"))?;
        let at = at.parse().map_err(|_| format!("`{at}` in `{s}` is not a step number"))?;
        Fault::new(kind, at)
    }
}

/// Where a faulty executor stands with its lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// The lie is still to come (or there is none).
    Pending,
    /// The lie has been told; from here the executor runs honestly on its wrong state.
    Done,
    /// `halt@S` stopped the executor.
    Stopped,
    /// `extend@S`: the call halted and the executor counts steps up to `until`.
    Extending { until: u64 },
}

/// A machine running one call, lying as its fault says. Cloning it is a checkpoint.
#[derive(Clone, Debug)]
pub struct Executor {
    pub machine: Machine,
    pub fault: Option<Fault>,
    pub progress: Progress,
}

impl Executor {
    pub fn new(machine: Machine, fault: Option<Fault>) -> Self {
        Self { machine, fault, progress: Progress::Pending }
    }

    /// The step count the executor reports: its machine's.
    pub fn steps(&self) -> u64 {
        self.machine.steps()
    }

    /// Whether the executor has finished: its call halted (and any extension is done),
    /// or a `halt@S` fault stopped it.
    pub fn is_finished(&self) -> bool {
        match self.progress {
            Progress::Stopped => true,
            Progress::Extending { until } => self.machine.steps() >= until,
            Progress::Pending if matches!(self.fault, Some(Fault::Extend(_))) => false,
            _ => self.machine.status().is_halted(),
        }
    }

    /// Runs up to `n` steps, stopping early when it finishes; returns the steps taken.
    pub fn advance(&mut self, n: u64) -> u64 {
        let start = self.machine.steps();
        let target = start.saturating_add(n);
        while self.machine.steps() < target && !self.is_finished() {
            let m = &mut self.machine;
            let left = target - m.steps();
            match (self.progress, self.fault) {
                (Progress::Extending { until }, _) => {
                    // The call has ended; the liar reports more steps.
                    let more = left.min(until - m.steps());
                    let (steps, gas) = (m.steps() + more, m.gas_used().saturating_add(more));
                    if m.tamper().set_counters(steps, gas).is_err() {
                        // Past 2^63 steps the liar stops counting.
                        self.progress = Progress::Stopped;
                    }
                }
                (Progress::Pending, Some(Fault::Extend(at))) => {
                    m.run(left);
                    if m.status().is_halted() {
                        self.progress = Progress::Extending { until: at.max(m.steps() + 1) };
                    }
                }
                (Progress::Pending, Some(fault)) if fault.step().is_some_and(|at| at > m.steps()) => {
                    // Honest until the fault's step: the fast path.
                    let at = fault.step().expect("checked by the guard");
                    m.run(left.min(at - m.steps()));
                }
                (Progress::Pending, Some(fault)) if fault.step().is_some() => self.faulty_step(fault),
                _ => {
                    m.run(left);
                }
            }
        }
        self.machine.steps() - start
    }

    /// One step at or after the fault's step: the lie, if this step can carry it.
    fn faulty_step(&mut self, fault: Fault) {
        let m = &mut self.machine;
        match fault {
            Fault::Halt(_) => {
                if m.status() == Status::Running {
                    self.progress = Progress::Stopped;
                }
            }
            Fault::Gas(_) => {
                let before = m.gas_used();
                m.step();
                let lie = if m.gas_used() > before { before } else { before + 1 };
                let steps = m.steps();
                m.tamper().set_counters(steps, lie).expect("the step counter is one a step reached");
                self.progress = Progress::Done;
            }
            Fault::Stack(_) => {
                m.step();
                // A returned call's results are on the stack too: a wrong result.
                if has_operand(m) || (m.status() == Status::Returned && !m.stack().is_empty()) {
                    let top = m.stack().len() - 1;
                    let lie = m.stack()[top] ^ 1;
                    m.tamper().set_slot(top, lie).expect("an operand is on the stack");
                    self.progress = Progress::Done;
                }
            }
            Fault::Memory(_) => {
                let target = write_address(m);
                m.step();
                if let (Some(at), Status::Running) = (target, m.status()) {
                    let byte = m.store().memories[0].data()[at] ^ 0xff;
                    m.tamper().write_memory(0, at, &[byte]).expect("the address was just written");
                    self.progress = Progress::Done;
                }
            }
            Fault::Branch(_) => {
                if flip_branch(m) {
                    self.progress = Progress::Done;
                }
                m.step();
            }
            Fault::Output(_) => {
                let lengths = |m: &Machine| [m.io().stdout().len(), m.io().stderr().len()];
                let before = lengths(m);
                m.step();
                let after = lengths(m);
                if let Some(i) = (0..2).find(|&i| after[i] > before[i]) {
                    let fd = stepper::io::STDOUT + i as u32;
                    m.tamper().flip_output_byte(fd, after[i] - 1).expect("the byte was just written");
                    self.progress = Progress::Done;
                }
            }
            Fault::Extend(_) | Fault::Claim(_) => unreachable!("{fault} does not lie about single steps"),
        }
    }
}

/// The op the machine runs next, if a wasm frame is running.
fn next_op(m: &Machine) -> Option<(&[Op], usize)> {
    if m.status() != Status::Running {
        return None;
    }
    let (_, instance) = m.current()?;
    Some((&instance.module.code, m.pc() as usize))
}

/// Whether the machine is running and its frame has an operand above its locals.
fn has_operand(m: &Machine) -> bool {
    let Some(frame) = m.frames().last().filter(|_| m.status() == Status::Running) else { return false };
    let locals = merkle_memory::state::locals_count(m.store(), frame.func);
    m.stack().len() > frame.base as usize + locals
}

/// The first byte the next step writes to memory 0, if it is a store or a bulk memory
/// write of at least one byte that stays in bounds.
fn write_address(m: &Machine) -> Option<usize> {
    let (code, pc) = next_op(m)?;
    let len = m.stack().len();
    let memory_len = m.store().memories.first()?.data().len() as u64;
    let slot = |from_top: usize| m.stack()[len - from_top];
    let (start, n) = match code[pc] {
        Op::Store { kind, offset } => ((slot(2) as u32 as u64) + offset as u64, kind.width() as u64),
        Op::MemoryFill | Op::MemoryCopy | Op::MemoryInit(_) => (slot(3) as u32 as u64, slot(1) as u32 as u64),
        _ => return None,
    };
    (n > 0 && start + n <= memory_len).then_some(start as usize)
}

/// Makes the next step, if it is a conditional branch, go the other way: rewrites its
/// condition (or br_table index) on the stack. Returns whether it did.
fn flip_branch(m: &mut Machine) -> bool {
    let Some((code, pc)) = next_op(m) else { return false };
    // Any other instruction may run on an empty stack; a branch has its operand.
    let Some(&cond) = m.stack().last() else { return false };
    let cond = cond as u32;
    let flipped = match code[pc] {
        Op::BrIf(Branch { target, .. }) if target as usize != pc + 1 => u32::from(cond == 0),
        Op::If { else_target } if else_target as usize != pc + 1 => u32::from(cond == 0),
        Op::BrTable { len } => {
            let targets = &code[pc + 1..pc + 2 + len as usize];
            let chosen = targets[(cond as usize).min(len as usize)];
            match targets.iter().position(|t| *t != chosen) {
                Some(other) => other as u32,
                None => return false,
            }
        }
        _ => return false,
    };
    let top = m.stack().len() - 1;
    m.tamper().set_slot(top, flipped as u64).expect("checked above");
    true
}
