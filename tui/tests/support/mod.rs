//! A small program with calls, a loop, a global, stores and a bulk fill, and ways to
//! start it, drive an app and read what a pane draws.

#![allow(dead_code)] // each test file uses its own part

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};
use stepper::{Config, Extern, Machine, Module, Value};
use tui::App;

pub const PROGRAM: &str = r#"(module
  (memory 1)
  (global $counter (mut i32) (i32.const 0))
  (func $mix (param i32) (result i32)
    local.get 0 i32.const 31 i32.mul i32.const 7 i32.add)
  (func $bump
    (global.set $counter (i32.add (global.get $counter) (i32.const 1))))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    ;; 1200 bytes from 1000: sub-steps end at the chunk boundaries 1024 and 1536
    (memory.fill (i32.const 1000) (i32.const 0x41) (i32.const 1200))
    (loop $top
      (local.set $acc (call $mix (i32.add (local.get $acc) (local.get $i))))
      (call $bump)
      (i32.store (i32.and (i32.mul (local.get $i) (i32.const 4)) (i32.const 0xfff)) (local.get $acc))
      (br_if $top (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $acc))
  (func (export "divide") (param i32) (result i32)
    (i32.div_u (i32.const 100) (local.get 0))))"#;

/// The program's module (binary, with a name section).
pub fn module() -> std::sync::Arc<Module> {
    Module::new(&wat::parse_str(PROGRAM).unwrap()).unwrap()
}

/// A machine with `export(arg)` started.
pub fn started(export: &str, arg: i32) -> Machine {
    let (mut machine, instance) = Machine::load(&module(), Config::default()).unwrap();
    let Some(Extern::Func(f)) = machine.export(instance, export) else { panic!("no export {export}") };
    machine.invoke(f, &[Value::I32(arg)]).unwrap();
    machine
}

/// The state hash of a fresh run of `export(arg)` at step `n`.
pub fn fresh_hash(export: &str, arg: i32, n: u64) -> merkle_memory::Hash {
    let mut m = started(export, arg);
    m.run(n);
    merkle_memory::state_hash(&mut m)
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn press(app: &mut App, code: KeyCode) -> tui::Action {
    app.on_key(key(code))
}

/// Types `text` and Enter, as into a prompt.
pub fn type_line(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
    press(app, KeyCode::Enter);
}

/// Works on the app's run until it is over.
pub fn finish(app: &mut App) {
    while app.is_busy() {
        app.work();
    }
}

pub fn steps(app: &App) -> u64 {
    app.stepper.as_ref().unwrap().session.steps()
}

/// What `draw` renders into a `width` by `height` test terminal, a string per row.
pub fn render(width: u16, height: u16, draw: impl FnOnce(&mut Frame, Rect)) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, frame.area())).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height).map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect()).collect()
}

/// Whether some row contains `text`.
pub fn shows(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

#[track_caller]
pub fn assert_shows(rows: &[String], text: &str) {
    assert!(shows(rows, text), "`{text}` is not on the screen:\n{}", rows.join("\n"));
}

/// A game over `run(n)` with a memory liar, as `verigame dispute` plays it.
pub fn game(n: i32, fault: traces::Fault) -> (traces::Transcript, traces::Call) {
    let bytes = wat::parse_str(PROGRAM).unwrap();
    let call = traces::Call::new(bytes, "run", vec![Value::I32(n)], Config::default()).unwrap();
    let limits = traces::Limits { interval: 64, max_checkpoints: 8, ..traces::Limits::default() };
    let outcome = traces::game::dispute(&call, fault, traces::Role::Defender, 2, &limits, &|_, _| {}).unwrap();
    (outcome.transcript, call)
}
