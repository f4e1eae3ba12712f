//! Breakpoints, and the runs that stop at them: continue, step over, step out, go to a step.

use std::collections::HashMap;
use std::fmt;

use stepper::op::Op;
use stepper::store::Func;
use stepper::{Machine, Module, Status};

use crate::session::Session;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breakpoint {
    /// Entering the function with this index.
    Function(u32),
    /// Reaching the instruction at this byte offset of the module.
    Offset(u32),
    Step(u64),
    Trap,
    /// A write to memory 0 touching bytes `start..end`.
    MemoryWrite {
        start: u64,
        end: u64,
    },
}

pub const SYNTAX: &str = "func NAME|INDEX, offset 0xHEX, step N, trap, write ADDR[..END|+LEN]";

/// A number in decimal or `0x` hexadecimal.
pub fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl Breakpoint {
    /// Parses one of the forms in [`SYNTAX`], resolving names and offsets in `module`.
    pub fn parse(text: &str, module: &Module) -> Result<Breakpoint, String> {
        let (kind, arg) = text.trim().split_once(char::is_whitespace).unwrap_or((text.trim(), ""));
        let arg = arg.trim();
        let number = |what: &str| parse_number(arg).ok_or_else(|| format!("`{arg}` is not {what}"));
        match kind {
            "func" | "f" => find_function(module, arg).map(Breakpoint::Function),
            "offset" | "o" => {
                let offset = number("an offset")?;
                let offset = u32::try_from(offset).map_err(|_| format!("offset {offset} is past any module"))?;
                if module.code_offsets.binary_search(&offset).is_err() {
                    return Err(format!("no instruction starts at offset 0x{offset:x}"));
                }
                Ok(Breakpoint::Offset(offset))
            }
            "step" | "s" => number("a step").map(Breakpoint::Step),
            "trap" if arg.is_empty() => Ok(Breakpoint::Trap),
            "write" | "w" => {
                let (start, end) = if let Some((a, b)) = arg.split_once("..") {
                    (parse_number(a), parse_number(b))
                } else if let Some((a, len)) = arg.split_once('+') {
                    let start = parse_number(a);
                    (start, start.zip(parse_number(len)).map(|(s, n)| s.saturating_add(n)))
                } else {
                    let start = parse_number(arg);
                    (start, start.map(|s| s + 1))
                };
                match (start, end) {
                    (Some(start), Some(end)) if start < end => Ok(Breakpoint::MemoryWrite { start, end }),
                    _ => Err(format!("`{arg}` is not an address range (ADDR, ADDR..END or ADDR+LEN)")),
                }
            }
            _ => Err(format!("`{}` is not a breakpoint: {SYNTAX}", text.trim())),
        }
    }

    /// The op where a function or offset breakpoint stops: the function's first, or the
    /// first of the instruction at the offset.
    pub fn pc(&self, module: &Module) -> Option<u32> {
        match *self {
            Breakpoint::Function(f) => module.body(f).map(|body| body.start),
            Breakpoint::Offset(o) => module.code_offsets.iter().position(|&x| x == o).map(|pc| pc as u32),
            _ => None,
        }
    }

    /// How the breakpoint reads in the list, with the function's name when it has one.
    pub fn describe(&self, module: &Module) -> String {
        match self {
            Breakpoint::Function(f) if module.func_name(*f) != format!("func[{f}]") => {
                format!("func {} ({f})", module.func_name(*f))
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Breakpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breakpoint::Function(index) => write!(f, "func {index}"),
            Breakpoint::Offset(offset) => write!(f, "offset 0x{offset:x}"),
            Breakpoint::Step(n) => write!(f, "step {n}"),
            Breakpoint::Trap => f.write_str("trap"),
            Breakpoint::MemoryWrite { start, end } => write!(f, "write 0x{start:x}..0x{end:x}"),
        }
    }
}

/// A defined function by name (the name section's or an export's) or by index.
pub fn find_function(module: &Module, name: &str) -> Result<u32, String> {
    let defined = module.num_imported_funcs..module.func_types.len() as u32;
    let found = match parse_number(name) {
        Some(index) => defined.clone().find(|&f| f as u64 == index),
        None => defined.clone().find(|&f| module.func_name(f) == name),
    };
    found.ok_or_else(|| format!("no function `{name}` defined in the module"))
}

/// Where a run is headed besides its breakpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Until a breakpoint or the end.
    Continue,
    /// Until the call stack is back to this depth: over a call, or one step otherwise.
    StepOver { depth: usize },
    /// Until the current frame (at this depth) returns.
    StepOut { depth: usize },
    /// To this step, ignoring breakpoints.
    GoTo(u64),
}

/// A run in progress, checked cheaply: step limits and the end by slices of the fast
/// path, instructions and memory writes step by step only when some breakpoint needs it.
pub struct Run {
    pub goal: Goal,
    /// The step the run started from.
    pub from: u64,
    step_limit: Option<u64>,
    /// Op indices where a function or offset breakpoint stops, with what it reads as.
    pcs: HashMap<u32, String>,
    on_trap: bool,
    writes: Vec<(u64, u64)>,
}

impl Run {
    pub fn new(goal: Goal, breakpoints: &[Breakpoint], machine: &Machine) -> Self {
        let mut run = Run {
            goal,
            from: machine.steps(),
            step_limit: None,
            pcs: HashMap::new(),
            on_trap: false,
            writes: Vec::new(),
        };
        if let Goal::GoTo(n) = goal {
            run.step_limit = Some(n);
            return run;
        }
        let Some(module) = machine.store().instances.first().map(|i| &i.module) else { return run };
        for b in breakpoints {
            match *b {
                Breakpoint::Step(n) if n > machine.steps() => {
                    run.step_limit = Some(run.step_limit.map_or(n, |s| s.min(n)));
                }
                Breakpoint::Step(_) => {}
                Breakpoint::Function(_) | Breakpoint::Offset(_) => {
                    if let Some(pc) = b.pc(module) {
                        run.pcs.insert(pc, b.describe(module));
                    }
                }
                Breakpoint::Trap => run.on_trap = true,
                Breakpoint::MemoryWrite { start, end } => run.writes.push((start, end)),
            }
        }
        run
    }

    /// Whether some stop condition needs a look after every step.
    fn steps_one_by_one(&self) -> bool {
        !self.pcs.is_empty()
            || !self.writes.is_empty()
            || matches!(self.goal, Goal::StepOver { .. } | Goal::StepOut { .. })
    }

    /// Runs up to `budget` steps. Returns why the run stopped, or `None` if it goes on.
    /// The session is not settled: the caller does that once the run is over.
    pub fn slice(&mut self, session: &mut Session, budget: u64) -> Option<String> {
        if session.is_halted() {
            return Some(ended(session.machine().status()));
        }
        if !self.steps_one_by_one() {
            let budget = self.step_limit.map_or(budget, |limit| budget.min(limit.saturating_sub(session.steps())));
            session.advance(budget);
            return self.check_limits(session);
        }
        for _ in 0..budget {
            let pending = if self.writes.is_empty() { None } else { PendingWrite::of(session.machine(), &self.writes) };
            let depth = session.machine().frames().len();
            session.advance_one();
            let m = session.machine();
            if let Some((start, end)) = pending.and_then(|p| p.written(m, depth)) {
                if let Some(&(ws, we)) = self.writes.iter().find(|&&(ws, we)| start < we && ws < end) {
                    return Some(format!(
                        "breakpoint: write 0x{ws:x}..0x{we:x} (the step wrote 0x{start:x}..0x{end:x})"
                    ));
                }
            }
            if let Some(what) = self.pcs.get(&m.pc()).filter(|_| m.status() == Status::Running) {
                return Some(format!("breakpoint: {what}"));
            }
            if let Some(reason) = self.check_limits(session) {
                return Some(reason);
            }
            let depth = session.machine().frames().len();
            match self.goal {
                Goal::StepOver { depth: d } if depth <= d => return Some("stepped over".into()),
                Goal::StepOut { depth: d } if depth < d => return Some("stepped out".into()),
                _ => {}
            }
        }
        None
    }

    fn check_limits(&self, session: &Session) -> Option<String> {
        let m = session.machine();
        if let Status::Trapped(trap) = m.status() {
            if self.on_trap {
                return Some(format!("breakpoint: trap ({trap})"));
            }
        }
        if m.status().is_halted() {
            return Some(ended(m.status()));
        }
        match (self.step_limit, self.goal) {
            (Some(n), Goal::GoTo(_)) if m.steps() >= n => Some(format!("at step {n}")),
            (Some(n), _) if m.steps() >= n => Some(format!("breakpoint: step {n}")),
            _ => None,
        }
    }
}

/// How a halted call ended, as the status line says it.
pub fn ended(status: Status) -> String {
    match status {
        Status::Running => "running".into(),
        Status::Returned => "the call returned".into(),
        Status::Trapped(trap) => format!("the call trapped: {trap}"),
        Status::OutOfGas => "the call ran out of gas".into(),
        Status::Exited(code) => format!("the program exited with code {code}"),
    }
}

/// What the next step may write to memory 0: a store's exact bytes, or what remains of
/// a bulk instruction (one sub-step writes a part of it, which the operands it leaves
/// tell), or, for a host call (storage reads, WASI), whose writes follow from its
/// arguments and the call's input, the watched bytes as they were before it.
#[derive(Clone, Debug)]
enum PendingWrite {
    Range { pc: u32, start: u64, len: u64, bulk: bool },
    Host { watched: Vec<((u64, u64), Vec<u8>)> },
}

/// The bytes of memory 0 in `[start, end)`, as far as memory reaches.
fn watched_bytes(m: &Machine, (start, end): (u64, u64)) -> Vec<u8> {
    let data = m.store().memories.first().map_or(&[][..], |mem| mem.data());
    let clip = |at: u64| (at.min(data.len() as u64)) as usize;
    data[clip(start)..clip(end)].to_vec()
}

impl PendingWrite {
    fn of(m: &Machine, watches: &[(u64, u64)]) -> Option<Self> {
        if m.status() != Status::Running {
            return None;
        }
        let (_, instance) = m.current()?;
        let slot = |from_top: usize| m.stack()[m.stack().len() - from_top] as u32 as u64;
        let pc = m.pc();
        let (start, len, bulk) = match instance.module.code[pc as usize] {
            Op::Store { kind, offset } => (slot(2) + offset as u64, kind.width() as u64, false),
            Op::MemoryFill | Op::MemoryCopy | Op::MemoryInit(_) => (slot(3), slot(1), true),
            Op::Call(index)
                if matches!(m.store().funcs[instance.funcs[index as usize] as usize], Func::Host { .. }) =>
            {
                let watched = watches.iter().map(|&w| (w, watched_bytes(m, w))).collect();
                return Some(PendingWrite::Host { watched });
            }
            _ => return None,
        };
        Some(PendingWrite::Range { pc, start, len, bulk })
    }

    /// The bytes the step actually wrote, given the machine after it and the call
    /// depth before it. A trapping step writes nothing.
    /// A host call's write shows as a watched range whose bytes changed.
    fn written(self, after: &Machine, depth: usize) -> Option<(u64, u64)> {
        let (pc, start, len, bulk) = match self {
            PendingWrite::Range { pc, start, len, bulk } => (pc, start, len, bulk),
            PendingWrite::Host { watched } => {
                return watched.into_iter().find(|(w, before)| watched_bytes(after, *w) != *before).map(|(w, _)| w)
            }
        };
        if matches!(after.status(), Status::Trapped(_)) || len == 0 {
            return None;
        }
        let end = start + len;
        let unfinished = bulk && after.status() == Status::Running && after.pc() == pc && after.frames().len() == depth;
        if !unfinished {
            return Some((start, end));
        }
        // Forward sub-steps advance the destination; backward ones (an overlapping
        // memory.copy upwards) shorten the length and write from the end.
        let top = after.stack().len();
        let (dest, left) = (after.stack()[top - 3] as u32 as u64, after.stack()[top - 1] as u32 as u64);
        if dest > start {
            Some((start, dest))
        } else {
            (left < len).then_some((start + left, end))
        }
    }
}
