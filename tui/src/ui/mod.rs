//! Drawing: `ui` renders the whole screen from the application state, one function per
//! pane, so that tests can render into a test backend and read the text back.

mod dispute;
mod memory;
mod output;
mod panes;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Job, View, DISPUTE_KEYS, KEYS};
use crate::breakpoint::{Goal, SYNTAX};

pub use dispute::{bars, dispute_view, move_detail, move_list};
pub use memory::{chunk_grid, hex_rows, memory_pane};
pub use output::{last_bytes, last_lines, output_pane};
pub use panes::{breakpoints_pane, calls_pane, code_pane, globals_pane, locals_pane, stack_pane, status_line};

/// Draws the whole screen.
pub fn ui(frame: &mut Frame, app: &App) {
    let [body, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    match app.view {
        View::Stepper => stepper_view(frame, body, app),
        View::Dispute => dispute_view(frame, body, app),
    }
    bottom_line(frame, bottom, app);
    if app.search.is_some() {
        panes::search_overlay(frame, frame.area(), app);
    }
    if app.help {
        help_overlay(frame, frame.area(), app);
    }
}

/// The stepper: code and state panes, memory, and the status line.
pub fn stepper_view(frame: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.stepper else { return };
    let status_height = if s.disputed.is_some() { 2 } else { 1 };
    let [main, memory, status] =
        Layout::vertical([Constraint::Min(8), Constraint::Length(12), Constraint::Length(status_height)]).areas(area);
    let [code, right] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
    let [stack, middle, lower] =
        Layout::vertical([Constraint::Percentage(34), Constraint::Percentage(33), Constraint::Percentage(33)])
            .areas(right);
    let [locals, calls] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    let [globals, breakpoints] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lower);
    code_pane(frame, code, s);
    stack_pane(frame, stack, s);
    locals_pane(frame, locals, s);
    calls_pane(frame, calls, s);
    globals_pane(frame, globals, s);
    breakpoints_pane(frame, breakpoints, s);
    if s.show_output {
        let [memory, output] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(memory);
        memory_pane(frame, memory, s);
        output_pane(frame, output, s);
    } else {
        memory_pane(frame, memory, s);
    }
    status_line(frame, status, s);
}

/// The prompt being typed, a run's progress, or the last message.
fn bottom_line(frame: &mut Frame, area: Rect, app: &App) {
    let line = if let Some(p) = &app.prompt {
        Line::from(vec![
            Span::styled(format!("{}: ", p.kind.label()), Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{}▏", p.input)),
            Span::styled(format!("   ({}; Enter, Esc)", p.kind.hint()), Style::new().fg(Color::DarkGray)),
        ])
    } else if let (Some(job), Some(s)) = (&app.job, &app.stepper) {
        Line::styled(progress(job, s.session.steps()), Style::new().fg(Color::Yellow))
    } else {
        Line::raw(app.message.clone())
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A run's progress: where it is, how fast it goes, how to stop it.
pub fn progress(job: &Job, steps: u64) -> String {
    let done = steps - job.run.from;
    let seconds = job.started.elapsed().as_secs_f64().max(1e-3);
    let what = match job.run.goal {
        Goal::Continue => "running to a breakpoint".to_string(),
        Goal::StepOver { .. } => "stepping over a call".to_string(),
        Goal::StepOut { .. } => "stepping out".to_string(),
        Goal::GoTo(n) => {
            let part = done as f64 / (n - job.run.from).max(1) as f64;
            format!("going to step {n} ({:.0}%)", part * 100.0)
        }
    };
    format!("{what}: step {steps}, {:.1}M steps/s; Esc interrupts", done as f64 / seconds / 1e6)
}

fn help_overlay(frame: &mut Frame, area: Rect, app: &App) {
    let area = area.centered(Constraint::Max(76), Constraint::Max(32));
    let key = |(keys, what): &(&str, &str)| {
        Line::from(vec![
            Span::styled(format!("{keys:>16}  "), Style::new().fg(Color::Cyan)),
            Span::raw(what.to_string()),
        ])
    };
    let mut lines: Vec<Line> = KEYS.iter().map(key).collect();
    if app.replay.is_some() {
        lines.push(Line::styled("In the dispute view:", Style::new().add_modifier(Modifier::BOLD)));
        lines.extend(DISPUTE_KEYS.iter().map(key));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!("Breakpoints: {SYNTAX}")));
    lines.push(Line::raw("Memory grid: # touched by the last step, + dirty since the last hash, . clean"));
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(" Keys (Esc closes) ");
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

/// `n` and the noun: `one` when `n` is 1, else `many`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `hash` as `0x` and its first `digits` hex digits, then an ellipsis.
pub fn short_hash(hash: &merkle_memory::Hash, digits: usize) -> String {
    let full = merkle_memory::hex(hash);
    format!("{}…", &full[..2 + digits])
}

/// The style of the highlighted line of a list.
fn highlight() -> Style {
    Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// A bordered block with a title.
fn pane(title: String) -> Block<'static> {
    Block::bordered().title(title)
}
