//! The application state and its key handling, free of any terminal: the terminal loop
//! feeds it keys and asks it to work on long runs between redraws.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use stepper::op::Op;
use stepper::{Machine, Module};
use traces::{Call, Transcript};

use crate::breakpoint::{ended, parse_number, Breakpoint, Goal, Run, SYNTAX};
use crate::dispute::{DisputedStep, Replay};
use crate::session::Session;

/// What the terminal loop does after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Redraw,
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Stepper,
    Dispute,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Breakpoint,
    GoToStep,
    FollowAddress,
}

impl PromptKind {
    pub fn label(self) -> &'static str {
        match self {
            PromptKind::Breakpoint => "breakpoint",
            PromptKind::GoToStep => "go to step",
            PromptKind::FollowAddress => "memory address",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            PromptKind::Breakpoint => SYNTAX,
            PromptKind::GoToStep => "a step number",
            PromptKind::FollowAddress => "decimal or 0x hex; top: the top operand; touched: the last step's chunk",
        }
    }
}

/// A line of text being typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
}

/// The function search: a filter and the selected match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub selected: usize,
}

/// The keys, as `?` lists them: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("l  →  s", "step"),
    ("h  ←  p", "step back"),
    ("j  ↓  n", "step over a call"),
    ("k  ↑  o", "step out of the function"),
    ("c", "run to a breakpoint"),
    ("b", "add a breakpoint (func, offset, step, trap, write)"),
    ("x", "clear the breakpoints"),
    ("g", "go to step N"),
    ("m", "follow a memory address"),
    ("PgUp PgDn  [ ]", "scroll memory by rows / by chunks"),
    ("H", "show the hash of the chunk in view"),
    ("O", "show or hide the program's output (stdout, stderr)"),
    ("/", "search functions (Enter shows one, Tab breaks on it)"),
    ("z", "fold or unfold blocks away from the current instruction"),
    ("t  Tab", "switch between the dispute and the stepper"),
    ("Esc  Ctrl-C", "interrupt a run; close a prompt or this help"),
    ("?", "this help"),
    ("q", "quit"),
];

/// The keys of the dispute view.
pub const DISPUTE_KEYS: &[(&str, &str)] = &[
    ("l  →  n", "next move"),
    ("h  ←  p", "previous move"),
    ("Home  End", "first / last move"),
    ("Enter", "open the stepper at the disputed step"),
];

/// The stepper's state: a session and how the panes look at it.
pub struct Stepper {
    pub session: Session,
    pub module: Arc<Module>,
    pub breakpoints: Vec<Breakpoint>,
    /// First address the memory pane shows.
    pub memory_view: u64,
    pub show_chunk_hash: bool,
    /// Whether the program's output (stdout, stderr) shows beside memory: at first, if
    /// the module imports WASI functions.
    pub show_output: bool,
    pub fold: bool,
    /// A function shown in the code pane instead of the current one.
    pub browsing: Option<u32>,
    /// When opened from a dispute: the step it came down to.
    pub disputed: Option<DisputedStep>,
}

impl Stepper {
    pub fn new(machine: Machine) -> Self {
        let module = machine.store().instances.first().expect("a call's machine has its module").module.clone();
        let show_output = module.imports.iter().any(|i| i.module == "wasi_snapshot_preview1");
        Self {
            session: Session::new(machine),
            module,
            breakpoints: Vec::new(),
            memory_view: 0,
            show_chunk_hash: false,
            show_output,
            fold: true,
            browsing: None,
            disputed: None,
        }
    }

    pub fn memory_len(&self) -> u64 {
        self.session.machine().store().memories.first().map_or(0, |m| m.data().len() as u64)
    }

    pub fn chunk_size(&self) -> u64 {
        self.session.machine().store().memories.first().map_or(512, |m| m.chunk_size() as u64)
    }

    /// Defined functions whose name or index matches `query`, as (index, name).
    pub fn functions_matching(&self, query: &str) -> Vec<(u32, String)> {
        let m = &self.module;
        let query = query.to_lowercase();
        (m.num_imported_funcs..m.func_types.len() as u32)
            .map(|f| (f, m.func_name(f)))
            .filter(|(f, name)| name.to_lowercase().contains(&query) || f.to_string() == query)
            .collect()
    }

    /// The address `text` names: a number, `top` (the top operand as an address) or
    /// `touched` (the first chunk the last step touched).
    fn address_named(&self, text: &str) -> Option<u64> {
        match text {
            "top" => self.session.machine().stack().last().map(|&slot| slot as u32 as u64),
            "touched" => self.session.facts.touched.first().map(|&chunk| chunk as u64 * self.chunk_size()),
            _ => parse_number(text),
        }
    }

    /// Shows memory from `address` (a 16-byte row's start).
    fn follow(&mut self, address: u64) {
        self.memory_view = address.min(self.memory_len().saturating_sub(1)) & !15;
    }
}

/// A run going on between redraws.
pub struct Job {
    pub run: Run,
    /// Steps per slice, adapted so that a slice takes a few tens of milliseconds.
    slice: u64,
    pub started: Instant,
}

impl Job {
    pub fn new(run: Run) -> Self {
        Self { run, slice: 1 << 16, started: Instant::now() }
    }
}

/// How long a slice of a run should take: short enough to redraw and notice keys.
const SLICE_TIME: Duration = Duration::from_millis(40);

pub struct App {
    pub view: View,
    pub stepper: Option<Stepper>,
    pub replay: Option<Replay>,
    /// The call a replayed game is about, when its module was given: the stepper opens on it.
    call: Option<Call>,
    pub prompt: Option<Prompt>,
    pub search: Option<Search>,
    pub help: bool,
    /// The last thing that happened, for the bottom line.
    pub message: String,
    pub job: Option<Job>,
}

impl App {
    /// The stepper on a call just started.
    pub fn stepper(machine: Machine) -> Self {
        let mut app = Self::empty(View::Stepper);
        app.stepper = Some(Stepper::new(machine));
        app.message = "? for help".into();
        app
    }

    /// The replay of a recorded game; `call` (the game's call on its module) lets it open
    /// the stepper at the disputed step.
    pub fn replay(transcript: Transcript, call: Option<Call>) -> Self {
        let mut app = Self::empty(View::Dispute);
        app.replay = Some(Replay::new(transcript));
        app.call = call;
        app.message = "→ next move, ← previous, ? for help".into();
        app
    }

    fn empty(view: View) -> Self {
        Self {
            view,
            stepper: None,
            replay: None,
            call: None,
            prompt: None,
            search: None,
            help: false,
            message: String::new(),
            job: None,
        }
    }

    /// Whether Enter in the dispute view can show the disputed step.
    pub fn can_open_stepper(&self) -> bool {
        self.stepper.is_some() || self.call.is_some()
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some()
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if self.job.is_some() {
            match key.code {
                KeyCode::Esc => self.interrupt(),
                _ if ctrl_c => self.interrupt(),
                KeyCode::Char('q') => return Action::Quit,
                _ => self.message = "running: Esc interrupts".into(),
            }
            return Action::Redraw;
        }
        if ctrl_c {
            return Action::Quit;
        }
        if let Some(prompt) = self.prompt.take() {
            self.prompt_key(prompt, key);
            return Action::Redraw;
        }
        if let Some(search) = self.search.take() {
            self.search_key(search, key);
            return Action::Redraw;
        }
        if self.help {
            self.help = !matches!(key.code, KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q'));
            return Action::Redraw;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('t') | KeyCode::Tab => self.switch_view(),
            _ => match self.view {
                View::Stepper => self.stepper_key(key),
                View::Dispute => self.dispute_key(key),
            },
        }
        Action::Redraw
    }

    fn switch_view(&mut self) {
        match (self.view, &self.replay, &self.stepper) {
            (View::Stepper, Some(_), _) => self.view = View::Dispute,
            (View::Dispute, _, Some(_)) => self.view = View::Stepper,
            (View::Dispute, _, None) => self.message = "Enter opens the stepper at the disputed step".into(),
            (View::Stepper, None, _) => {
                self.message = "no dispute to switch to (verigame tui --transcript FILE)".into()
            }
        }
    }

    fn stepper_key(&mut self, key: KeyEvent) {
        let Some(s) = self.stepper.as_mut() else { return };
        let machine = s.session.machine();
        let depth = machine.frames().len();
        match key.code {
            KeyCode::Char('l') | KeyCode::Right | KeyCode::Char('s') => self.step_forward(),
            KeyCode::Char('h') | KeyCode::Left | KeyCode::Char('p') => {
                s.browsing = None;
                match s.session.steps() {
                    0 => self.message = "at step 0: nothing before it".into(),
                    n => {
                        s.session.rewind_to(n - 1);
                        self.message = String::new();
                    }
                }
            }
            KeyCode::Char('j') | KeyCode::Down | KeyCode::Char('n') => {
                let is_call = machine.current().is_some_and(|(_, i)| {
                    matches!(i.module.code[machine.pc() as usize], Op::Call(_) | Op::CallIndirect { .. })
                });
                // Over anything but a call is one step.
                if is_call {
                    self.start(Goal::StepOver { depth });
                } else {
                    self.step_forward();
                }
            }
            KeyCode::Char('k') | KeyCode::Up | KeyCode::Char('o') => self.start(Goal::StepOut { depth }),
            KeyCode::Char('c') => self.start(Goal::Continue),
            KeyCode::Char('b') => self.prompt = Some(Prompt { kind: PromptKind::Breakpoint, input: String::new() }),
            KeyCode::Char('x') => {
                self.message = format!("cleared {} breakpoint(s)", s.breakpoints.len());
                s.breakpoints.clear();
            }
            KeyCode::Char('g') => self.prompt = Some(Prompt { kind: PromptKind::GoToStep, input: String::new() }),
            KeyCode::Char('m') => self.prompt = Some(Prompt { kind: PromptKind::FollowAddress, input: String::new() }),
            KeyCode::PageDown => s.follow(s.memory_view + 0x80),
            KeyCode::PageUp => s.follow(s.memory_view.saturating_sub(0x80)),
            KeyCode::Char(']') => s.follow((s.memory_view / s.chunk_size() + 1) * s.chunk_size()),
            KeyCode::Char('[') => s.follow((s.memory_view.saturating_sub(1) / s.chunk_size()) * s.chunk_size()),
            KeyCode::Char('H') => s.show_chunk_hash = !s.show_chunk_hash,
            KeyCode::Char('O') => s.show_output = !s.show_output,
            KeyCode::Char('z') => s.fold = !s.fold,
            KeyCode::Char('/') => self.search = Some(Search::default()),
            KeyCode::Esc => s.browsing = None,
            _ => {}
        }
    }

    fn step_forward(&mut self) {
        let Some(s) = self.stepper.as_mut() else { return };
        s.browsing = None;
        if s.session.is_halted() {
            self.message = format!("{}: nothing more to step", ended(s.session.machine().status()));
        } else {
            s.session.step();
            self.message = String::new();
        }
    }

    fn dispute_key(&mut self, key: KeyEvent) {
        let Some(replay) = self.replay.as_mut() else { return };
        match key.code {
            KeyCode::Char('l') | KeyCode::Right | KeyCode::Char('n') => replay.next(),
            KeyCode::Char('h') | KeyCode::Left | KeyCode::Char('p') => replay.previous(),
            KeyCode::Home => replay.at = 0,
            KeyCode::End => replay.last(),
            KeyCode::Enter => self.open_disputed_step(),
            _ => {}
        }
    }

    /// Switches to the stepper at the disputed step, starting the call if need be.
    fn open_disputed_step(&mut self) {
        let Some(replay) = &self.replay else { return };
        let Some(disputed) = DisputedStep::of(&replay.transcript) else {
            self.message = "the game came to no disputed step".into();
            return;
        };
        if self.stepper.is_none() {
            let Some(call) = &self.call else {
                self.message = "give the module to open the stepper: verigame tui --transcript FILE MODULE".into();
                return;
            };
            match call.start() {
                Ok(machine) => self.stepper = Some(Stepper::new(machine)),
                Err(e) => {
                    self.message = format!("cannot start the call: {e}");
                    return;
                }
            }
        }
        let s = self.stepper.as_mut().expect("opened above");
        s.disputed = Some(disputed);
        self.view = View::Stepper;
        self.go_to(disputed.step);
    }

    fn go_to(&mut self, n: u64) {
        let Some(s) = self.stepper.as_mut() else { return };
        s.browsing = None;
        if n <= s.session.steps() {
            s.session.rewind_to(n);
            self.message = format!("at step {}", s.session.steps());
        } else {
            self.start(Goal::GoTo(n));
        }
    }

    fn start(&mut self, goal: Goal) {
        let Some(s) = self.stepper.as_mut() else { return };
        s.browsing = None;
        let run = Run::new(goal, &s.breakpoints, s.session.machine());
        self.job = Some(Job::new(run));
        self.message = String::new();
    }

    /// Works on the run in progress for about one slice.
    pub fn work(&mut self) {
        let (Some(job), Some(s)) = (self.job.as_mut(), self.stepper.as_mut()) else { return };
        let started = Instant::now();
        let stop = job.run.slice(&mut s.session, job.slice);
        let took = started.elapsed();
        if took < SLICE_TIME / 2 {
            job.slice = job.slice.saturating_mul(2);
        } else if took > SLICE_TIME * 2 {
            job.slice = (job.slice / 2).max(1024);
        }
        if let Some(reason) = stop {
            self.finish(reason);
        }
    }

    /// Stops the run in progress where it is.
    pub fn interrupt(&mut self) {
        if self.job.is_some() {
            let at = self.stepper.as_ref().map_or(0, |s| s.session.steps());
            self.finish(format!("interrupted at step {at}"));
        }
    }

    fn finish(&mut self, reason: String) {
        self.job = None;
        if let Some(s) = self.stepper.as_mut() {
            s.session.settle();
        }
        self.message = reason;
    }

    fn prompt_key(&mut self, mut prompt: Prompt, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => self.submit(prompt),
            KeyCode::Backspace => {
                prompt.input.pop();
                self.prompt = Some(prompt);
            }
            KeyCode::Char(c) => {
                prompt.input.push(c);
                self.prompt = Some(prompt);
            }
            _ => self.prompt = Some(prompt),
        }
    }

    fn submit(&mut self, prompt: Prompt) {
        let Some(s) = self.stepper.as_mut() else { return };
        let text = prompt.input.trim();
        match prompt.kind {
            PromptKind::Breakpoint => match Breakpoint::parse(text, &s.module) {
                Ok(b) => {
                    self.message = format!("added breakpoint: {}", b.describe(&s.module));
                    if !s.breakpoints.contains(&b) {
                        s.breakpoints.push(b);
                    }
                }
                Err(e) => self.message = e,
            },
            PromptKind::GoToStep => match parse_number(text) {
                Some(n) => self.go_to(n),
                None => self.message = format!("`{text}` is not a step number"),
            },
            PromptKind::FollowAddress => match s.address_named(text) {
                Some(a) if a < s.memory_len() => {
                    s.follow(a);
                    self.message = format!("memory at 0x{a:x}");
                }
                Some(a) => self.message = format!("0x{a:x} is past the memory's {} bytes", s.memory_len()),
                None => self.message = format!("`{text}` is not an address"),
            },
        }
    }

    fn search_key(&mut self, mut search: Search, key: KeyEvent) {
        let Some(s) = self.stepper.as_mut() else { return };
        let matches = s.functions_matching(&search.query);
        let chosen = matches.get(search.selected).map(|(f, _)| *f);
        match key.code {
            KeyCode::Esc => return,
            KeyCode::Enter => {
                if let Some(f) = chosen {
                    s.browsing = Some(f);
                    self.message =
                        format!("showing {} (Esc returns to the current instruction)", s.module.func_name(f));
                }
                return;
            }
            KeyCode::Tab => {
                if let Some(f) = chosen {
                    let b = Breakpoint::Function(f);
                    self.message = format!("added breakpoint: {}", b.describe(&s.module));
                    if !s.breakpoints.contains(&b) {
                        s.breakpoints.push(b);
                    }
                }
                return;
            }
            KeyCode::Down => search.selected = (search.selected + 1).min(matches.len().saturating_sub(1)),
            KeyCode::Up => search.selected = search.selected.saturating_sub(1),
            KeyCode::Backspace => {
                search.query.pop();
                search.selected = 0;
            }
            KeyCode::Char(c) => {
                search.query.push(c);
                search.selected = 0;
            }
            _ => {}
        }
        self.search = Some(search);
    }
}
