//! Every pane and view rendered into ratatui's test backend, read back as text.

mod support;

use crossterm::event::KeyCode;
use support::*;
use tui::app::{Job, Stepper};
use tui::breakpoint::{Breakpoint, Goal, Run};
use tui::dispute::{Move, Replay};
use tui::{ui, App};

/// A stepper on `run(n)` after `steps` single steps.
fn stepper_at(n: i32, steps: u64) -> Stepper {
    let mut s = Stepper::new(started("run", n));
    for _ in 0..steps {
        s.session.step();
    }
    s
}

#[test]
fn the_code_pane_lists_offsets_marks_the_current_instruction_and_folds_other_blocks() {
    let s = stepper_at(5, 2);
    let rows = render(90, 30, |f, area| ui::code_pane(f, area, &s));
    assert_shows(&rows, "Code: run (function 2)");
    let module = module();
    let pc = s.session.machine().pc();
    let current = format!("▶ 0x{:06x} @{pc:<6}", module.code_offsets[pc as usize]);
    assert_shows(&rows, &current);
    assert_shows(&rows, "i32.const 1200");
    // The loop does not hold the current instruction: one folded line.
    assert_shows(&rows, "loop … end   (@");
    assert!(!shows(&rows, "call 0"), "the folded loop's body is hidden");

    // Inside the loop, the loop opens and its body shows indented.
    let mut s = stepper_at(5, 0);
    while !matches!(
        s.session.machine().current().map(|(_, i)| i.module.code[s.session.machine().pc() as usize]),
        Some(stepper::op::Op::Call(1))
    ) {
        s.session.step();
    }
    s.breakpoints.push(Breakpoint::Function(1));
    let rows = render(90, 30, |f, area| ui::code_pane(f, area, &s));
    assert_shows(&rows, "loop");
    assert_shows(&rows, "    call 0");
    assert!(!shows(&rows, "loop … end"));

    // Browsing another function, with a breakpoint marked on its entry; unfolded.
    s.browsing = Some(1);
    s.fold = false;
    let rows = render(90, 30, |f, area| ui::code_pane(f, area, &s));
    assert_shows(&rows, "Code: browsing bump (function 1); Esc returns");
    assert_shows(&rows, "● 0x");
    assert_shows(&rows, "global.get 0");
    assert!(!shows(&rows, "▶"), "the current instruction is elsewhere");
}

#[test]
fn the_stack_locals_calls_and_globals_panes_show_the_current_frame() {
    // Inside mix, called with acc + i = 0 on the first turn, then one more step.
    let mut s = stepper_at(5, 0);
    while s.session.machine().frames().len() < 2 {
        s.session.step();
    }
    s.session.step();
    let rows = render(60, 10, |f, area| ui::stack_pane(f, area, &s));
    assert_shows(&rows, "Value stack: 1 operands");
    assert_shows(&rows, "  0            0  0x0");
    let rows = render(60, 10, |f, area| ui::locals_pane(f, area, &s));
    assert_shows(&rows, "Locals: mix");
    assert_shows(&rows, "  0 i32  param 0");
    let rows = render(60, 10, |f, area| ui::calls_pane(f, area, &s));
    assert_shows(&rows, "Call stack: 2");
    assert_shows(&rows, "#0  mix @");
    assert_shows(&rows, "#1  run @");

    // After the first bump, the counter is 1; run's locals hold n = 5.
    while s.session.machine().store().globals[0].value == 0 {
        s.session.step();
    }
    s.session.step();
    let rows = render(60, 10, |f, area| ui::globals_pane(f, area, &s));
    assert_shows(&rows, "Globals: 1");
    assert_shows(&rows, "  0 i32  mut 1");
    let rows = render(60, 10, |f, area| ui::locals_pane(f, area, &s));
    assert_shows(&rows, "Locals: run");
    assert_shows(&rows, "  0 i32  param 5");
    assert_shows(&rows, "  2 i32        7");
}

#[test]
fn a_returned_call_shows_its_results_and_no_locals() {
    let mut s = stepper_at(5, 0);
    s.session.advance(u64::MAX);
    s.session.settle();
    let rows = render(60, 8, |f, area| ui::stack_pane(f, area, &s));
    assert_shows(&rows, "1 results");
    let result = s.session.machine().stack()[0] as u32 as i32;
    assert_shows(&rows, &format!("  0 {result:>12}"));
    let rows = render(60, 8, |f, area| ui::calls_pane(f, area, &s));
    assert_shows(&rows, "Call stack: 0");
    let rows = render(90, 20, |f, area| ui::code_pane(f, area, &s));
    assert_shows(&rows, "Code: run (function 2), the call returned");
}

#[test]
fn the_breakpoints_pane_lists_them_by_name() {
    let mut s = stepper_at(5, 0);
    let rows = render(50, 6, |f, area| ui::breakpoints_pane(f, area, &s));
    assert_shows(&rows, "none: b adds one");
    s.breakpoints = vec![Breakpoint::Function(0), Breakpoint::MemoryWrite { start: 16, end: 20 }, Breakpoint::Trap];
    let rows = render(50, 6, |f, area| ui::breakpoints_pane(f, area, &s));
    assert_shows(&rows, "Breakpoints: 3");
    assert_shows(&rows, "● func mix (0)");
    assert_shows(&rows, "● write 0x10..0x14");
    assert_shows(&rows, "● trap");
}

#[test]
fn the_memory_pane_shows_hex_ascii_and_the_chunk_grid() {
    // Five steps: the fill's second sub-step wrote 'A's over chunk 2 (0x400..0x600).
    let mut s = stepper_at(5, 5);
    s.memory_view = 0x3e0;
    let rows = render(160, 12, |f, area| ui::memory_pane(f, area, &s));
    assert_shows(&rows, "Memory: 1 pages, 65536 bytes, from 0x3e0");
    assert_shows(&rows, "000003e0  00 00 00 00 00 00 00 00  41 41 41 41 41 41 41 41  |........AAAAAAAA|");
    assert_shows(&rows, "00000400  41 41 41 41");
    assert_shows(&rows, "Chunks of 512 B: 128");
    // Chunk 1 is in view; chunk 2 was touched by the last step; nothing else is dirty.
    let grid = rows.iter().find(|r| r.contains("     0 ")).unwrap();
    assert!(grid.contains("     0 ..#....."), "{grid}");
    assert_shows(&rows, "# touched 2  + dirty 1");
    assert_shows(&rows, "chunk 1 (0x200..0x400) in view; H shows its hash");
    s.show_chunk_hash = true;
    let rows = render(160, 12, |f, area| ui::memory_pane(f, area, &s));
    let memory = &s.session.machine().store().memories[0];
    let expected = merkle_memory::hash::leaf(&memory.data()[0x200..0x400]);
    assert_shows(&rows, "chunk 1 (0x200..0x400): ");
    assert_shows(&rows, &merkle_memory::hex(&expected));
}

#[test]
fn the_chunk_grid_marks_touched_dirty_and_clean_chunks_and_short_rows_keep_their_columns() {
    let facts = tui::session::Facts { step: 1, hash: [0; 32], touched: vec![3], dirty: vec![1, 3, 9] };
    let rows = render(40, 4, |f, area| {
        f.render_widget(ratatui::widgets::Paragraph::new(ui::chunk_grid(&facts, 20, 9, 40, 3)), area)
    });
    // Chunk 9, in view, is drawn reversed: its text stays `+`.
    assert_eq!(rows[0].trim_end(), "     0 .+.#.....+..........");
    let short_row = format!("00000000  {:<23}  {:<23}  |A.~ |", "41 00 7e 20", "");
    assert_eq!(ui::hex_rows(&[0x41, 0x00, 0x7e, 0x20], 0, 4), [short_row]);
}

#[test]
fn the_status_line_has_step_gas_status_memory_and_the_state_hash() {
    let mut s = stepper_at(5, 7);
    let rows = render(160, 1, |f, area| ui::status_line(f, area, &s));
    let hash = merkle_memory::hex(&fresh_hash("run", 5, 7));
    assert_eq!(rows[0].trim_end(), format!("step 7 │ gas 7 │ running │ memory 1 pages │ state {hash}"));
    s.session.advance(u64::MAX);
    s.session.settle();
    let rows = render(160, 1, |f, area| ui::status_line(f, area, &s));
    assert_shows(&rows, "the call returned │ memory 1 pages");
}

#[test]
fn the_whole_stepper_view_with_help_search_prompt_and_progress() {
    let mut app = App::stepper(started("run", 5));
    let draw = |app: &App| render(150, 45, |f, _| ui::ui(f, app));
    let rows = draw(&app);
    for pane in [
        "Code: run",
        "Value stack",
        "Locals: run",
        "Call stack: 1",
        "Globals: 1",
        "Breakpoints: 0",
        "Memory: 1 pages",
        "Chunks of 512 B",
        "step 0 │ gas 0",
    ] {
        assert_shows(&rows, pane);
    }
    assert_shows(&rows, "? for help");

    press(&mut app, KeyCode::Char('?'));
    let rows = draw(&app);
    assert_shows(&rows, "Keys (Esc closes)");
    assert_shows(&rows, "step over a call");
    assert_shows(&rows, "Breakpoints: func NAME|INDEX");
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Char('b'));
    for c in "step 9".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let rows = draw(&app);
    assert_shows(&rows, "breakpoint: step 9▏");
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Char('u'));
    let rows = draw(&app);
    assert_shows(&rows, "Functions: 2 match");
    assert_shows(&rows, "/u▏");
    assert_shows(&rows, "    1  bump");
    assert_shows(&rows, "    2  run");
    press(&mut app, KeyCode::Esc);

    let s = app.stepper.as_ref().unwrap();
    app.job = Some(Job::new(Run::new(Goal::GoTo(1000), &[], s.session.machine())));
    let rows = draw(&app);
    assert_shows(&rows, "going to step 1000 (0%): step 0,");
    assert_shows(&rows, "Esc interrupts");
    // Mid-run, the panes follow the machine; the hash and the chunk facts wait.
    let s = app.stepper.as_mut().unwrap();
    s.session.advance(100);
    let rows = draw(&app);
    assert_shows(&rows, "going to step 1000 (10%): step 100,");
    assert_shows(&rows, "step 100 │ gas 100 │ running │ memory 1 pages │ state computed when the run stops");
    assert_shows(&rows, "Chunks of 512 B: 128, as of step 0");
}

#[test]
fn the_dispute_view_replays_claims_rounds_and_the_ruling() {
    let (transcript, call) = game(40, traces::Fault::Memory(100));
    let ruling = transcript.ruling.clone().unwrap();
    let mut app = App::replay(transcript.clone(), Some(call));
    let draw = |app: &App| render(150, 45, |f, _| ui::ui(f, app));

    let rows = draw(&app);
    assert_shows(&rows, "call run(40) on module 0x");
    assert_shows(&rows, &format!("degree 2, {} rounds", transcript.rounds.len()));
    let defender = transcript.claims[0].unwrap();
    assert_shows(
        &rows,
        &format!("  defender: {} steps, final state {}", defender.steps, merkle_memory::hex(&defender.final_hash)),
    );
    assert_shows(&rows, "Move 1 of");
    assert_shows(&rows, "whole run ####");
    assert_shows(&rows, "both start from the initial state");

    press(&mut app, KeyCode::Right);
    let rows = draw(&app);
    let first = &transcript.rounds[0];
    assert_shows(
        &rows,
        &format!(
            "round 1: the defender and the challenger each post 1 hash; the referee keeps [{}, {}]",
            first.next.0, first.next.1
        ),
    );
    assert_shows(&rows, &format!("{:>14}  {}", first.points[0], ui::short_hash(&first.defender[0], 16)));
    assert_shows(&rows, "round     ");
    assert_shows(&rows, "= agreed   # disputed");

    press(&mut app, KeyCode::End);
    let rows = draw(&app);
    assert_shows(&rows, &format!("disputed step {} in run: i32.store", ruling.step));
    assert_shows(&rows, &format!("before, both agree:  {}", merkle_memory::hex(&ruling.agreed_hash)));
    assert_shows(&rows, &format!("after, defender:     {}", merkle_memory::hex(&ruling.claimed_after[0])));
    assert_shows(&rows, &format!("after, the judge:    {}", merkle_memory::hex(&ruling.judged_after.unwrap())));
    assert_shows(&rows, "the proof (");
    assert_shows(&rows, "stack slots: [");
    assert_shows(&rows, "memory 0: 1 pages, chunks 0 (512 bytes)");
    assert_shows(&rows, "verdict: the challenger wins");
    assert_shows(&rows, &format!("Enter opens the stepper at step {}", ruling.step));
    assert_shows(&rows, "proof and verdict");

    press(&mut app, KeyCode::Enter);
    finish(&mut app);
    let rows = draw(&app);
    assert_shows(&rows, &format!("disputed step {}: this is the state both parties agreed on", ruling.step));
    press(&mut app, KeyCode::Char('l'));
    let rows = draw(&app);
    assert_shows(&rows, &format!("after disputed step {}: this state is the challenger's claim", ruling.step));
}

#[test]
fn the_bars_narrow_with_each_round() {
    let (transcript, _) = game(40, traces::Fault::Memory(100));
    let mut replay = Replay::new(transcript);
    let disputed = |replay: &Replay| {
        let bars = ui::bars(replay, 110);
        let whole: String = bars[0].spans.iter().map(|s| s.content.as_ref()).collect();
        whole.matches('#').count()
    };
    let mut widths = vec![disputed(&replay)];
    while replay.current() != Move::End {
        replay.next();
        widths.push(disputed(&replay));
    }
    assert_eq!(widths[0], 100, "at first the whole run is disputed");
    assert!(widths.windows(2).all(|w| w[1] <= w[0]), "{widths:?}");
    assert_eq!(*widths.last().unwrap(), 1, "the disputed step keeps one cell");
}

#[test]
fn a_game_without_dispute_ends_with_the_reason() {
    let (transcript, _) = game(5, traces::Fault::Memory(100_000));
    let mut app = App::replay(transcript, None);
    press(&mut app, KeyCode::End);
    let rows = render(150, 40, |f, _| ui::ui(f, &app));
    assert_shows(&rows, "the game ends: no dispute: both claim the same final state");
    assert_shows(&rows, "verdict: the defender wins");
    assert!(!shows(&rows, "Enter opens the stepper"));
}

#[test]
fn the_output_pane_shows_the_last_lines_written_and_the_exit_status() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/wasi");
    let module = stepper::Module::new(&std::fs::read(dir.join("exit.wasm")).unwrap()).unwrap();
    let (mut machine, instance) = stepper::Machine::load(&module, stepper::Config::default()).unwrap();
    let Some(stepper::Extern::Func(f)) = machine.export(instance, "_start") else { panic!("_start") };
    let input = stepper::CallInput { args: vec![b"exit.wasm".to_vec()], ..Default::default() };
    machine.start_call(f, &[], u64::MAX, input).unwrap();
    let mut s = Stepper::new(machine.clone());
    assert!(s.show_output, "a WASI program's output shows at first");
    let rows = render(70, 8, |f, area| ui::output_pane(f, area, &s));
    assert_shows(&rows, "Output: stdout 0 B, stderr 0 B");
    assert_shows(&rows, "(nothing written yet)");
    while !s.session.machine().status().is_halted() {
        s.session.step();
    }
    let rows = render(70, 8, |f, area| ui::output_pane(f, area, &s));
    assert_shows(&rows, "stderr 43 B, exit code 2");
    assert_shows(&rows, "usage: exit.wasm (exit|return|atexit) CODE");
    let mut app = App::stepper(machine);
    let s = app.stepper.as_mut().unwrap();
    while !s.session.machine().status().is_halted() {
        s.session.step();
    }
    let rows = render(160, 45, |f, area| ui::stepper_view(f, area, &app));
    assert_shows(&rows, "Output: stdout 0 B");
    assert_shows(&rows, "the program exited with code 2");

    // O hides it; a module without WASI does not show it at first.
    press(&mut app, KeyCode::Char('O'));
    assert!(!app.stepper.as_ref().unwrap().show_output);
    assert!(!stepper_at(5, 0).show_output);
    assert_eq!(ui::last_lines(b"a\nb\tc\nd\n", 2), vec!["b c".to_string(), "d".to_string()]);
}
