//! The stepper's panes: code, value stack, locals, call stack, globals, breakpoints and
//! the status line.

use merkle_memory::state::frame_extents;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;
use stepper::store::Func;
use stepper::{Machine, Value};

use super::{highlight, pane};
use crate::app::{App, Stepper};
use crate::code::listing;

/// The code around the current instruction (or the function being browsed).
pub fn code_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let current = machine.current().map(|(index, _)| index).filter(|_| !machine.status().is_halted());
    let pc = current.map(|_| machine.pc());
    let entry = machine.entry().and_then(|e| match machine.store().funcs[e as usize] {
        Func::Wasm { index, .. } => Some(index),
        Func::Host { .. } => None,
    });
    let Some(func) = s.browsing.or(current).or(entry) else {
        frame.render_widget(Paragraph::new("no wasm function is running").block(pane(" Code ".into())), area);
        return;
    };
    let shown_pc = pc.filter(|_| s.browsing.is_none_or(|b| Some(b) == current));
    let breakpoint_pcs = breakpoint_pcs(s);
    let lines = listing(&s.module, func, shown_pc, s.fold, &breakpoint_pcs);
    let name = s.module.func_name(func);
    let title = match (s.browsing, current) {
        (Some(_), _) => format!(" Code: browsing {name} (function {func}); Esc returns "),
        (None, Some(_)) => format!(" Code: {name} (function {func}) "),
        (None, None) => format!(" Code: {name} (function {func}), {} ", crate::breakpoint::ended(machine.status())),
    };
    let block = pane(title);
    let height = block.inner(area).height as usize;
    let at = shown_pc.and_then(|pc| lines.iter().position(|l| l.pc == pc)).unwrap_or(0);
    let top = at.saturating_sub(height / 3).min(lines.len().saturating_sub(height));
    let text: Vec<Line> = lines
        .iter()
        .skip(top)
        .take(height)
        .map(|l| {
            let marker = match (Some(l.pc) == shown_pc, breakpoint_pcs.contains(&l.pc)) {
                (true, _) => "▶",
                (false, true) => "●",
                _ => " ",
            };
            let text = format!("{marker} 0x{:06x} @{:<6}{}{}", l.offset, l.pc, "  ".repeat(l.depth), l.text);
            let style = if Some(l.pc) == shown_pc {
                highlight()
            } else if l.folded_to.is_some() {
                Style::new().fg(Color::DarkGray)
            } else {
                Style::new()
            };
            Line::styled(text, style)
        })
        .collect();
    frame.render_widget(Paragraph::new(text).block(block), area);
}

/// The pcs where function and offset breakpoints stop.
fn breakpoint_pcs(s: &Stepper) -> Vec<u32> {
    s.breakpoints.iter().filter_map(|b| b.pc(&s.module)).collect()
}

/// A slot with no type known: decimal (signed when it fits 32 bits) and hex.
fn slot_text(slot: u64) -> String {
    let decimal = if slot >> 32 == 0 { (slot as u32 as i32).to_string() } else { (slot as i64).to_string() };
    format!("{decimal:>12}  0x{slot:x}")
}

/// The running frame's operands, top first; a returned call's results.
pub fn stack_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let (operands, what) = match frame_extents(machine).last() {
        Some(&(_, start, end)) => (&machine.stack()[start..end], "operands"),
        None => (machine.stack(), "results"),
    };
    let title = format!(" Value stack: {} {what} ({} slots in all) ", operands.len(), machine.stack().len());
    let lines: Vec<Line> =
        operands.iter().rev().enumerate().map(|(i, &slot)| Line::raw(format!("{i:>3} {}", slot_text(slot)))).collect();
    frame.render_widget(Paragraph::new(lines).block(pane(title)), area);
}

/// The locals of the running frame, typed: parameters first.
pub fn locals_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let (Some((index, instance)), Some(&(base, end, _))) = (machine.current(), frame_extents(machine).last()) else {
        frame.render_widget(Paragraph::new("").block(pane(" Locals ".into())), area);
        return;
    };
    let module = &instance.module;
    let params = &module.func_type(index).params;
    let declared = module.body(index).map_or(&[][..], |b| &b.locals[..]);
    let lines: Vec<Line> = params
        .iter()
        .chain(declared)
        .zip(&machine.stack()[base..end])
        .enumerate()
        .map(|(i, (&ty, &slot))| {
            let kind = if i < params.len() { "param" } else { "" };
            Line::raw(format!("{i:>3} {:<4} {kind:<5} {}", ty.to_string(), Value::from_slot(ty, slot)))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(pane(format!(" Locals: {} ", module.func_name(index)))), area);
}

/// The name of the function at store address `func`, and the byte offset of its op `pc`.
fn function_at(machine: &Machine, func: u32, pc: u32) -> (String, Option<u32>) {
    match machine.store().funcs[func as usize] {
        Func::Wasm { instance, index, .. } => {
            let module = &machine.store().instances[instance as usize].module;
            (module.func_name(index), module.code_offsets.get(pc as usize).copied())
        }
        Func::Host { func, .. } => (format!("host {func:?}"), None),
    }
}

/// The frames, innermost first, each with where it is (callers: where they continue).
pub fn calls_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let frames = &machine.frames();
    let lines: Vec<Line> = frames
        .iter()
        .enumerate()
        .rev()
        .map(|(i, f)| {
            let pc = frames.get(i + 1).map_or(machine.pc(), |callee| callee.ret_pc);
            let (name, offset) = function_at(machine, f.func, pc);
            let offset = offset.map_or_else(String::new, |o| format!(" 0x{o:x}"));
            Line::raw(format!("#{:<2} {name} @{pc}{offset}", frames.len() - 1 - i))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(pane(format!(" Call stack: {} ", frames.len()))), area);
}

/// The instance's globals: index, type, mutability, value.
pub fn globals_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let addresses = machine.store().instances.first().map_or(&[][..], |i| &i.globals[..]);
    let lines: Vec<Line> = addresses
        .iter()
        .enumerate()
        .map(|(i, &addr)| {
            let g = &machine.store().globals[addr as usize];
            let kind = if g.mutable { "mut" } else { "" };
            Line::raw(format!("{i:>3} {:<4} {kind:<3} {}", g.ty.to_string(), machine.global(addr)))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(pane(format!(" Globals: {} ", addresses.len()))), area);
}

pub fn breakpoints_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let lines: Vec<Line> = if s.breakpoints.is_empty() {
        vec![Line::styled("none: b adds one", Style::new().fg(Color::DarkGray))]
    } else {
        s.breakpoints.iter().map(|b| Line::raw(format!("● {}", b.describe(&s.module)))).collect()
    };
    frame.render_widget(Paragraph::new(lines).block(pane(format!(" Breakpoints: {} ", s.breakpoints.len()))), area);
}

/// Step, gas, status, memory size and the state hash; under it, near a disputed step,
/// what the state says about the parties' claims.
pub fn status_line(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let status = match machine.status() {
        stepper::Status::Running => "running".to_string(),
        other => crate::breakpoint::ended(other),
    };
    let pages = machine.store().memories.first().map_or(0, |m| m.pages());
    let facts = &s.session.facts;
    // While a run goes on, the hash waits for it to stop.
    let hash = if facts.step == machine.steps() {
        merkle_memory::hex(&facts.hash)
    } else {
        "computed when the run stops".into()
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("step {}", machine.steps()), Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" │ gas {} │ {status} │ memory {pages} pages │ state ", machine.gas_used())),
        Span::styled(hash, Style::new().fg(Color::Cyan)),
    ])];
    let note =
        s.disputed.filter(|_| facts.step == machine.steps()).and_then(|d| d.verdict_on(machine.steps(), &facts.hash));
    if let Some(note) = note {
        lines.push(Line::styled(note, Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The function search: the query and the matching functions.
pub fn search_overlay(frame: &mut Frame, area: Rect, app: &App) {
    let (Some(search), Some(s)) = (&app.search, &app.stepper) else { return };
    let area = area.centered(Constraint::Max(60), Constraint::Max(20));
    let matches = s.functions_matching(&search.query);
    let block = pane(format!(" Functions: {} match (Enter shows, Tab breaks, Esc) ", matches.len()));
    let height = block.inner(area).height.saturating_sub(1) as usize;
    let top = search.selected.saturating_sub(height.saturating_sub(1));
    let mut lines = vec![Line::raw(format!("/{}▏", search.query))];
    lines.extend(matches.iter().enumerate().skip(top).take(height).map(|(i, (f, name))| {
        let text = format!("{f:>5}  {name}");
        if i == search.selected {
            Line::styled(text, highlight())
        } else {
            Line::raw(text)
        }
    }));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
