//! The dispute view: the claims, a bar of the whole run with the agreed and disputed
//! parts, the list of moves, and the current move in detail (a round's hashes, or the
//! disputed step with its proof and the verdict).

use judge::proof::Leaves;
use merkle_memory::hex;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use traces::Role;

use super::{count, highlight, pane, short_hash};
use crate::app::App;
use crate::dispute::{Move, Replay};

pub fn dispute_view(frame: &mut Frame, area: Rect, app: &App) {
    let Some(replay) = &app.replay else { return };
    let [header, bar, body] =
        Layout::vertical([Constraint::Length(5), Constraint::Length(6), Constraint::Min(5)]).areas(area);
    let [moves, detail] = Layout::horizontal([Constraint::Length(30), Constraint::Min(20)]).areas(body);
    header_pane(frame, header, replay);
    let block = pane(format!(" Move {} of {}: {} ", replay.at + 1, replay.moves().len(), replay.who_moved()));
    let inner = block.inner(bar);
    frame.render_widget(block, bar);
    frame.render_widget(Paragraph::new(bars(replay, inner.width as usize)), inner);
    move_list(frame, moves, replay);
    move_detail(frame, detail, replay, app.can_open_stepper());
}

fn header_pane(frame: &mut Frame, area: Rect, replay: &Replay) {
    let t = &replay.transcript;
    let call = &t.call;
    let args: Vec<String> =
        call["args"].as_array().into_iter().flatten().map(|a| a["slot"].as_str().unwrap_or("?").to_string()).collect();
    let mut lines = vec![Line::raw(format!(
        "call {}({}) on module {}; degree {}, {} rounds",
        call["export"].as_str().unwrap_or("?"),
        args.join(", "),
        call["module_hash"].as_str().unwrap_or("?"),
        t.degree,
        t.rounds.len()
    ))];
    for role in [Role::Defender, Role::Challenger] {
        let text = match replay.claim(role) {
            Some(c) => format!("{:>10}: {} steps, final state {}", role.name(), c.steps, hex(&c.final_hash)),
            None => format!("{:>10}: no claim", role.name()),
        };
        lines.push(Line::raw(text));
    }
    frame.render_widget(Paragraph::new(lines).block(pane(" Dispute ".into())), area);
}

/// Cells of `width` over steps `0..span`: `=` agreed (before `lo`), `#` disputed
/// (`lo..=hi`, at least one cell), `.` past the disputed part.
fn bar_cells(span: u64, (lo, hi): (u64, u64), width: usize, cut: &[u64]) -> Vec<Span<'static>> {
    let cell_of = |step: u64| {
        ((step as u128 * width as u128) / span.max(1) as u128).min(width.saturating_sub(1) as u128) as usize
    };
    let (first, last) = (cell_of(lo), cell_of(hi.saturating_sub(1)).max(cell_of(lo)));
    let cuts: Vec<usize> = cut.iter().map(|&p| cell_of(p)).collect();
    (0..width)
        .map(|c| {
            let (text, style) = if (first..=last).contains(&c) {
                ("#", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
            } else if c < first {
                ("=", Style::new().fg(Color::Green))
            } else {
                (".", Style::new().fg(Color::DarkGray))
            };
            let text = if cuts.contains(&c) && text != "#" { "|" } else { text };
            Span::styled(text, style)
        })
        .collect()
}

/// The whole run with the part still disputed after the current move; in a round, also
/// that round's range with its cut points and the part kept.
pub fn bars(replay: &Replay, width: usize) -> Vec<Line<'static>> {
    let (lo, hi) = replay.range();
    let span = replay.span();
    let label_width = 10;
    let cells = width.saturating_sub(label_width).max(1);
    let mut lines = vec![Line::from(
        [vec![Span::raw(format!("{:<label_width$}", "whole run"))], bar_cells(span, (lo, hi), cells, &[])].concat(),
    )];
    if let Move::Round(i) = replay.current() {
        let r = &replay.transcript.rounds[i];
        let (from, to) = r.range;
        let shifted: Vec<u64> = r.points.iter().map(|p| p - from).collect();
        let zoom = bar_cells(to - from, (r.next.0 - from, r.next.1 - from), cells, &shifted);
        lines.push(Line::from([vec![Span::raw(format!("{:<label_width$}", "round"))], zoom].concat()));
        lines.push(Line::raw(format!("round range [{from}, {to}], kept [{}, {}]", r.next.0, r.next.1)));
    } else {
        lines.push(Line::raw(format!("agreed up to step {lo}, disputed up to step {hi}, of {span}")));
    }
    lines.push(Line::styled(
        "= agreed   # disputed   . past the disputed part   | cut points",
        Style::new().fg(Color::DarkGray),
    ));
    lines
}

/// The moves, the current one highlighted.
pub fn move_list(frame: &mut Frame, area: Rect, replay: &Replay) {
    let block = pane(" Moves ".into());
    let height = block.inner(area).height as usize;
    let t = &replay.transcript;
    let moves = replay.moves();
    let top = replay.at.saturating_sub(height / 2).min(moves.len().saturating_sub(height));
    let lines: Vec<Line> = moves
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, m)| {
            let text = match *m {
                Move::Claims => "claims".to_string(),
                Move::Round(r) => {
                    format!("round {:<3} [{}, {}]", t.rounds[r].round, t.rounds[r].next.0, t.rounds[r].next.1)
                }
                Move::End if t.ruling.is_some() => "proof and verdict".to_string(),
                Move::End => "end of the game".to_string(),
            };
            if i == replay.at {
                Line::styled(text, highlight())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The current move in detail. `can_open` says whether Enter opens the stepper.
pub fn move_detail(frame: &mut Frame, area: Rect, replay: &Replay, can_open: bool) {
    let block = pane(" Detail ".into());
    let height = block.inner(area).height as usize;
    let lines = match replay.current() {
        Move::Claims => claims_detail(replay),
        Move::Round(i) => round_detail(replay, i, height),
        Move::End => end_detail(replay, can_open),
    };
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

fn claims_detail(replay: &Replay) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for role in [Role::Defender, Role::Challenger] {
        if let Some(c) = replay.claim(role) {
            lines.push(Line::raw(format!("the {role} claims the run takes {} steps and ends in", c.steps)));
            lines.push(Line::raw(format!("    {}", hex(&c.final_hash))));
        }
    }
    lines.push(Line::raw(format!("both start from the initial state {}", hex(&replay.transcript.initial_hash))));
    lines
}

/// The round's points with both parties' hashes, around the first disagreement.
fn round_detail(replay: &Replay, i: usize, height: usize) -> Vec<Line<'static>> {
    let r = &replay.transcript.rounds[i];
    let first = replay.first_disagreement(i);
    let mut lines = vec![
        Line::raw(format!(
            "round {}: the range [{}, {}] is cut at {}",
            r.round,
            r.range.0,
            r.range.1,
            count(r.points.len(), "point", "points")
        )),
        Line::styled(
            format!("{:>14}  {:<22} {:<22}", "step", "defender", "challenger"),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    let rows = height.saturating_sub(4).max(1);
    let centre = first.unwrap_or(r.points.len().saturating_sub(1));
    let top = centre.saturating_sub(rows / 2).min(r.points.len().saturating_sub(rows));
    for p in (top..r.points.len()).take(rows) {
        let same = r.defender[p] == r.challenger[p];
        let mark = match (same, Some(p) == first) {
            (_, true) => "  <- first disagreement",
            (true, _) => "  agree",
            (false, _) => "  differ",
        };
        let text = format!(
            "{:>14}  {:<22} {:<22}{mark}",
            r.points[p],
            short_hash(&r.defender[p], 16),
            short_hash(&r.challenger[p], 16)
        );
        let style = if same { Style::new().fg(Color::Green) } else { Style::new().fg(Color::Red) };
        lines.push(Line::styled(text, style));
    }
    let kept = match first {
        Some(_) => format!("the referee keeps [{}, {}]: agreed at its start, disputed at its end", r.next.0, r.next.1),
        None => format!("they agree at every point, so the last part [{}, {}] is kept", r.next.0, r.next.1),
    };
    lines.push(Line::raw(kept));
    lines
}

/// The disputed step, the claims about it, what the proof opens and the verdict.
fn end_detail(replay: &Replay, can_open: bool) -> Vec<Line<'static>> {
    let t = &replay.transcript;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let winner = t.winner.map_or("nobody".to_string(), |w| format!("the {w} wins"));
    let Some(r) = &t.ruling else {
        return vec![Line::styled(format!("verdict: {winner}"), bold), Line::raw(t.reason.clone())];
    };
    let place = match (&r.function, &r.instruction) {
        (Some(f), Some(i)) => format!("in {f}: {i}"),
        _ => "(the agreed state has halted)".to_string(),
    };
    let mut lines = vec![
        Line::styled(format!("disputed step {} {place}", r.step), bold),
        Line::raw(format!("before, both agree:  {}", hex(&r.agreed_hash))),
        Line::raw(format!("after, defender:     {}", hex(&r.claimed_after[0]))),
        Line::raw(format!("after, challenger:   {}", hex(&r.claimed_after[1]))),
    ];
    lines.push(match (&r.judged_after, &r.rejected) {
        (Some(after), _) => Line::raw(format!("after, the judge:    {}", hex(after))),
        (None, Some(why)) => Line::styled(format!("the proof is rejected: {why}"), Style::new().fg(Color::Red)),
        (None, None) => Line::raw("no judgement"),
    });
    if let Some(p) = &r.proof {
        lines.push(Line::styled(format!("the proof ({} bytes) opens:", r.proof_bytes), bold));
        lines.extend(proof_openings(p).into_iter().map(|l| Line::raw(format!("  {l}"))));
    }
    lines.push(Line::styled(
        format!("verdict: {winner}: {}", t.reason),
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
    ));
    if can_open {
        lines.push(Line::styled(
            format!("Enter opens the stepper at step {}", r.step),
            Style::new().fg(Color::DarkGray),
        ));
    }
    lines
}

fn leaves_text(l: &Leaves) -> String {
    let pairs: Vec<String> = l.indices.iter().zip(&l.values).map(|(i, v)| format!("[{i}]=0x{v:x}")).collect();
    format!("{} of {}", if pairs.is_empty() { "none".to_string() } else { pairs.join(" ") }, l.count)
}

/// What a one-step proof opens, a line per part.
pub fn proof_openings(p: &judge::Proof) -> Vec<String> {
    let s = &p.state;
    let mut lines = vec![format!(
        "frame: function at store address {} at @{}, {} frames, {} stack slots, step {}, gas {}",
        s.frame.func, s.frame.pc, s.depth, s.height, s.steps, s.gas_used
    )];
    lines.push(format!("stack slots: {}", leaves_text(&p.stack)));
    if let Some(c) = &p.caller {
        lines.push(format!("caller: function {} continuing at @{}", c.frame.func, c.frame.pc));
    }
    if let Some(g) = &p.globals {
        lines.push(format!("globals: {}", leaves_text(g)));
    }
    if let Some(m) = &p.memory {
        let chunks: Vec<String> = m.chunks.iter().map(|(i, bytes)| format!("{i} ({} bytes)", bytes.len())).collect();
        let chunks = if chunks.is_empty() { "none".to_string() } else { chunks.join(", ") };
        lines.push(format!("memory {}: {} pages, chunks {chunks}", m.index, m.pages));
    }
    if let Some(t) = &p.tables {
        for (index, elements) in &t.tables {
            lines.push(format!("table {index}: {}", leaves_text(elements)));
        }
    }
    if let Some(seg) = &p.segments {
        lines.push(format!("segments: {} element, {} data (dropped flags)", seg.elems.len(), seg.datas.len()));
    }
    lines
}
