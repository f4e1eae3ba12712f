//! Key handling on the app state: stepping both ways, runs to every kind of breakpoint,
//! going to a step, interrupting, prompts, the function search, the memory view and the
//! dispute replay; and the session's checkpoints against fresh runs.

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use stepper::op::Op;
use stepper::Status;
use support::*;
use tui::app::{PromptKind, View};
use tui::breakpoint::Breakpoint;
use tui::session::Session;
use tui::{Action, App};

fn app(arg: i32) -> App {
    App::stepper(started("run", arg))
}

fn hash(app: &App) -> merkle_memory::Hash {
    app.stepper.as_ref().unwrap().session.facts.hash
}

fn current_op(app: &App) -> Op {
    let m = app.stepper.as_ref().unwrap().session.machine();
    let (_, instance) = m.current().unwrap();
    instance.module.code[m.pc() as usize]
}

fn current_function(app: &App) -> String {
    let m = app.stepper.as_ref().unwrap().session.machine();
    let (index, instance) = m.current().unwrap();
    instance.module.func_name(index)
}

#[test]
fn arrows_and_vim_keys_step_both_ways_to_the_states_of_a_fresh_run() {
    let mut app = app(5);
    for code in [KeyCode::Char('l'), KeyCode::Right, KeyCode::Char('s')] {
        press(&mut app, code);
    }
    assert_eq!(steps(&app), 3);
    assert_eq!(hash(&app), fresh_hash("run", 5, 3));
    for code in [KeyCode::Char('h'), KeyCode::Left] {
        press(&mut app, code);
    }
    assert_eq!(steps(&app), 1);
    assert_eq!(hash(&app), fresh_hash("run", 5, 1));
    press(&mut app, KeyCode::Char('p'));
    press(&mut app, KeyCode::Char('h'));
    assert_eq!(steps(&app), 0);
    assert!(app.message.contains("step 0"), "{}", app.message);
    assert_eq!(hash(&app), fresh_hash("run", 5, 0));
}

#[test]
fn stepping_a_finished_call_says_so_and_changes_nothing() {
    let mut app = app(3);
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert!(app.message.contains("returned"), "{}", app.message);
    let end = steps(&app);
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(steps(&app), end);
    assert!(app.message.contains("nothing more to step"), "{}", app.message);
}

#[test]
fn step_over_runs_a_whole_call_and_stops_after_it() {
    let mut app = app(5);
    while !matches!(current_op(&app), Op::Call(_)) {
        press(&mut app, KeyCode::Char('l'));
    }
    let (depth, pc) = {
        let m = app.stepper.as_ref().unwrap().session.machine();
        (m.frames().len(), m.pc())
    };
    press(&mut app, KeyCode::Down);
    finish(&mut app);
    let m = app.stepper.as_ref().unwrap().session.machine();
    assert_eq!((m.frames().len(), m.pc()), (depth, pc + 1), "{}", app.message);
    assert!(m.steps() > 2, "the call's body ran");
    // Over anything else, j is one step.
    let before = steps(&app);
    press(&mut app, KeyCode::Char('j'));
    assert!(!app.is_busy());
    assert_eq!(steps(&app), before + 1);
}

#[test]
fn step_out_returns_to_the_caller() {
    let mut app = app(5);
    while current_function(&app) != "mix" {
        press(&mut app, KeyCode::Char('l'));
    }
    press(&mut app, KeyCode::Char('k'));
    finish(&mut app);
    assert_eq!(current_function(&app), "run");
    assert_eq!(app.message, "stepped out");
    let m = app.stepper.as_ref().unwrap().session.machine();
    assert_eq!(m.frames().len(), 1);
    assert_eq!(hash(&app), fresh_hash("run", 5, m.steps()));
}

#[test]
fn runs_stop_at_function_offset_and_step_breakpoints() {
    let mut app = app(50);
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "func bump");
    assert_eq!(app.message, "added breakpoint: func bump (1)");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(current_function(&app), "bump", "{}", app.message);
    assert_eq!(app.message, "breakpoint: func bump (1)");
    let first = steps(&app);
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(current_function(&app), "bump");
    assert!(steps(&app) > first, "continuing leaves the breakpoint it stands on");

    // The offset of the i32.store in run.
    let module = module();
    let store_pc = module.code.iter().position(|op| matches!(op, Op::Store { .. })).unwrap();
    let offset = module.code_offsets[store_pc];
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, &format!("offset 0x{offset:x}"));
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert!(matches!(current_op(&app), Op::Store { .. }), "{}", app.message);
    assert_eq!(app.message, format!("breakpoint: offset 0x{offset:x}"));

    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "step 400");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(steps(&app), 400);
    assert_eq!(app.message, "breakpoint: step 400");
    assert_eq!(hash(&app), fresh_hash("run", 50, 400));
}

#[test]
fn a_trap_breakpoint_names_the_trap() {
    let mut app = App::stepper(started("divide", 0));
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "trap");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(app.message, "breakpoint: trap (integer divide by zero)");
    let m = app.stepper.as_ref().unwrap().session.machine();
    assert!(matches!(m.status(), Status::Trapped(_)));
}

#[test]
fn a_write_breakpoint_stops_at_the_store_or_sub_step_that_writes_the_range() {
    // The fill's first sub-step writes 1000..1024, the second 1024..1536.
    let mut app = app(10);
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "write 0x500+4");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(app.message, "breakpoint: write 0x500..0x504 (the step wrote 0x400..0x600)");
    let data = app.stepper.as_ref().unwrap().session.machine().store().memories[0].data();
    assert_eq!(data[0x500], 0x41);
    assert_eq!(data[0x600], 0, "the third sub-step has not run");

    // The store of i = 3 writes bytes 12..16.
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "write 13..14");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(app.message, "breakpoint: write 0xd..0xe (the step wrote 0xc..0x10)");
    let facts = &app.stepper.as_ref().unwrap().session.facts;
    assert_eq!(facts.touched, vec![0], "the store's step touched chunk 0");
}

#[test]
fn a_write_breakpoint_stops_at_the_wasi_call_that_writes_the_range() {
    // fd_read fills 0x200.. from standard input, in steps of a chunk.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (memory 1)
      (data (i32.const 16) "\00\02\00\00\00\04\00\00")
      (func (export "_start") (drop (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 32)))))"#;
    let module = stepper::Module::new(wat.as_bytes()).unwrap();
    let (mut m, instance) = stepper::Machine::load(&module, stepper::Config::default()).unwrap();
    let Some(stepper::Extern::Func(f)) = m.export(instance, "_start") else { panic!() };
    let input = stepper::CallInput { stdin: vec![b'x'; 1000], ..stepper::CallInput::default() };
    m.start_call(f, &[], u64::MAX, input).unwrap();
    let mut app = App::stepper(m);
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "write 0x500+2");
    press(&mut app, KeyCode::Char('c'));
    finish(&mut app);
    assert_eq!(app.message, "breakpoint: write 0x500..0x502 (the step wrote 0x500..0x502)");
    let data = app.stepper.as_ref().unwrap().session.machine().store().memories[0].data();
    // The second step read the rest of the 1000 bytes: 0x400..0x5e8.
    assert_eq!((data[0x500], data[0x5e7], data[0x5e8]), (b'x', b'x', 0));
}

#[test]
fn go_to_step_runs_forward_and_jumps_back() {
    let mut app = app(200);
    press(&mut app, KeyCode::Char('g'));
    type_line(&mut app, "3000");
    assert!(app.is_busy(), "forward is a run");
    finish(&mut app);
    assert_eq!(steps(&app), 3000);
    assert_eq!(app.message, "at step 3000");
    press(&mut app, KeyCode::Char('g'));
    type_line(&mut app, "0x100");
    assert!(!app.is_busy(), "back is immediate");
    assert_eq!(steps(&app), 256);
    assert_eq!(hash(&app), fresh_hash("run", 200, 256));
    press(&mut app, KeyCode::Char('g'));
    type_line(&mut app, "ten");
    assert_eq!(app.message, "`ten` is not a step number");
}

#[test]
fn esc_and_ctrl_c_interrupt_a_run_and_q_quits() {
    let mut app = app(1_000_000);
    press(&mut app, KeyCode::Char('c'));
    app.work();
    assert!(app.is_busy());
    assert_eq!(press(&mut app, KeyCode::Char('l')), Action::Redraw);
    assert_eq!(app.message, "running: Esc interrupts");
    press(&mut app, KeyCode::Esc);
    assert!(!app.is_busy());
    let at = steps(&app);
    assert!(at > 0 && app.message == format!("interrupted at step {at}"), "{}", app.message);
    assert_eq!(hash(&app), fresh_hash("run", 1_000_000, at));

    press(&mut app, KeyCode::Char('c'));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c), Action::Redraw);
    assert!(!app.is_busy());
    assert_eq!(app.on_key(ctrl_c), Action::Quit);
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
}

#[test]
fn prompts_edit_cancel_and_report_errors() {
    let mut app = app(5);
    press(&mut app, KeyCode::Char('b'));
    assert_eq!(app.prompt.as_ref().unwrap().kind, PromptKind::Breakpoint);
    for c in "stepx".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.prompt.as_ref().unwrap().input, "step");
    press(&mut app, KeyCode::Esc);
    assert!(app.prompt.is_none());
    assert!(app.stepper.as_ref().unwrap().breakpoints.is_empty());
    // Keys typed into a prompt are text, not commands.
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "func nowhere");
    assert_eq!(steps(&app), 0);
    assert_eq!(app.message, "no function `nowhere` defined in the module");
    press(&mut app, KeyCode::Char('b'));
    type_line(&mut app, "jump 3");
    assert!(app.message.contains("is not a breakpoint"), "{}", app.message);
}

#[test]
fn breakpoints_parse_every_form_and_reject_nonsense() {
    let module = module();
    let parse = |text: &str| Breakpoint::parse(text, &module);
    assert_eq!(parse("func mix"), Ok(Breakpoint::Function(0)));
    assert_eq!(parse("f 2"), Ok(Breakpoint::Function(2)));
    assert_eq!(parse("step 1_000"), Ok(Breakpoint::Step(1000)));
    assert_eq!(parse("trap"), Ok(Breakpoint::Trap));
    assert_eq!(parse("write 16"), Ok(Breakpoint::MemoryWrite { start: 16, end: 17 }));
    assert_eq!(parse("w 0x10..0x20"), Ok(Breakpoint::MemoryWrite { start: 16, end: 32 }));
    assert_eq!(parse("write 0x10+8"), Ok(Breakpoint::MemoryWrite { start: 16, end: 24 }));
    let offset = module.code_offsets[3];
    assert_eq!(parse(&format!("offset {offset}")), Ok(Breakpoint::Offset(offset)));
    assert!(parse("offset 1").unwrap_err().contains("no instruction starts at offset 0x1"));
    assert!(parse("write 0x20..0x10").is_err());
    assert!(parse("step many").is_err());
    assert!(parse("func 9").unwrap_err().contains("no function"));
    for b in [Breakpoint::Step(5), Breakpoint::Trap, Breakpoint::MemoryWrite { start: 1, end: 9 }] {
        assert_eq!(parse(&b.to_string()), Ok(b));
    }
}

#[test]
fn the_search_filters_functions_shows_one_and_breaks_on_another() {
    let mut app = app(5);
    press(&mut app, KeyCode::Char('/'));
    for c in "m".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let s = app.stepper.as_ref().unwrap();
    let names: Vec<String> = s.functions_matching("m").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["mix", "bump"]);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(app.search.is_none());
    assert_eq!(app.stepper.as_ref().unwrap().browsing, Some(1));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.stepper.as_ref().unwrap().browsing, None);
    press(&mut app, KeyCode::Char('/'));
    for c in "ix".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.stepper.as_ref().unwrap().breakpoints, vec![Breakpoint::Function(0)]);
}

#[test]
fn the_memory_view_follows_addresses_scrolls_and_shows_chunk_hashes() {
    let mut app = app(5);
    press(&mut app, KeyCode::Char('m'));
    type_line(&mut app, "0x1234");
    let s = app.stepper.as_ref().unwrap();
    assert_eq!(s.memory_view, 0x1230);
    press(&mut app, KeyCode::Char(']'));
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 0x1400);
    press(&mut app, KeyCode::Char('['));
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 0x1200);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 0x1280);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 0x1200);
    press(&mut app, KeyCode::Char('m'));
    type_line(&mut app, "70000");
    assert!(app.message.contains("past the memory"), "{}", app.message);
    // memory.fill's operands are on the stack after three steps: the top is the length.
    for _ in 0..3 {
        press(&mut app, KeyCode::Char('l'));
    }
    press(&mut app, KeyCode::Char('m'));
    type_line(&mut app, "top");
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 1200 & !15);
    press(&mut app, KeyCode::Char('l'));
    press(&mut app, KeyCode::Char('m'));
    type_line(&mut app, "touched");
    assert_eq!(app.stepper.as_ref().unwrap().memory_view, 0x200, "the fill's first sub-step is in chunk 1");
    press(&mut app, KeyCode::Char('H'));
    press(&mut app, KeyCode::Char('z'));
    let s = app.stepper.as_ref().unwrap();
    assert!(s.show_chunk_hash && !s.fold);
}

#[test]
fn help_opens_and_closes() {
    let mut app = app(5);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, KeyCode::Char('l'));
    assert!(app.help, "other keys leave the help open");
    assert_eq!(steps(&app), 0);
    press(&mut app, KeyCode::Esc);
    assert!(!app.help);
}

#[test]
fn the_replay_moves_through_the_game_and_opens_the_stepper_at_the_disputed_step() {
    let (transcript, call) = game(40, traces::Fault::Memory(100));
    let rounds = transcript.rounds.len();
    let ruling = transcript.ruling.clone().unwrap();
    let mut app = App::replay(transcript.clone(), Some(call));
    assert_eq!(app.view, View::Dispute);
    let at = |app: &App| app.replay.as_ref().unwrap().at;
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Char('l'));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(at(&app), 3);
    press(&mut app, KeyCode::Left);
    assert_eq!(at(&app), 2);
    press(&mut app, KeyCode::End);
    assert_eq!(at(&app), rounds + 1);
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(at(&app), rounds + 1, "the last move stays last");
    press(&mut app, KeyCode::Home);
    assert_eq!(at(&app), 0);
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.view, View::Dispute, "no stepper yet");

    press(&mut app, KeyCode::Enter);
    finish(&mut app);
    assert_eq!(app.view, View::Stepper);
    assert_eq!(steps(&app), ruling.step);
    assert_eq!(hash(&app), ruling.agreed_hash, "the honest run agrees with the agreed state");
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(hash(&app), ruling.claimed_after[1], "one step on, the honest challenger's claim");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Dispute);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Stepper);
}

#[test]
fn without_the_module_the_replay_cannot_open_the_stepper() {
    let (transcript, _) = game(40, traces::Fault::Memory(100));
    let mut app = App::replay(transcript, None);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Dispute);
    assert!(app.message.contains("give the module"), "{}", app.message);
}

#[test]
fn going_back_from_sparse_checkpoints_matches_fresh_runs_at_every_step() {
    // A budget of two machines makes the spacing double again and again.
    let machine = started("run", 10_000);
    let budget = traces::trace::machine_bytes(&machine) * 2;
    let mut session = Session::with_budget(machine, budget);
    session.advance(u64::MAX);
    let end = session.steps();
    assert!(session.is_halted() && end > 4 * tui::session::FIRST_INTERVAL, "{end}");
    assert_eq!(session.checkpoint_count(), 2);
    assert!(session.checkpoint_interval() >= 4 * tui::session::FIRST_INTERVAL);
    let mut fresh = started("run", 10_000);
    let mut expected = Vec::new();
    for n in 0..=end {
        if n % 9973 == 0 || n + 3 > end {
            expected.push((n, merkle_memory::state_hash(&mut fresh)));
        }
        fresh.step();
    }
    for &(n, hash) in expected.iter().rev() {
        session.rewind_to(n);
        assert_eq!(session.steps(), n);
        assert_eq!(session.facts.hash, hash, "step {n}");
    }
}

#[test]
fn facts_name_the_chunks_the_last_step_touched_and_those_dirty_since_the_last_hash() {
    let mut session = Session::new(started("run", 5));
    // A new memory's chunks were never written: zero, nothing to hash.
    assert!(session.facts.dirty.is_empty(), "{:?}", session.facts.dirty);
    assert!(session.facts.touched.is_empty());
    for _ in 0..4 {
        session.step();
    }
    // The fill's first sub-step: 1000..1024, in chunk 1.
    assert_eq!(session.facts.touched, vec![1]);
    assert_eq!(session.facts.dirty, vec![1]);
    session.step();
    assert_eq!(session.facts.touched, vec![2]);
    // A run writes several chunks before the next hash.
    let mut run = tui::breakpoint::Run::new(tui::breakpoint::Goal::GoTo(40), &[], session.machine());
    while run.slice(&mut session, 1000).is_none() {}
    session.settle();
    assert_eq!(session.facts.dirty, vec![0, 3, 4], "the rest of the fill and the first store");
    // Going back, the step before is replayed to find what the step touched.
    session.rewind_to(5);
    assert_eq!(session.facts.touched, vec![2]);
}
