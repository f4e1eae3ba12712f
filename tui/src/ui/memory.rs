//! The memory pane: hex and ASCII rows from the followed address, and the chunk grid of
//! the Merkle commitment (chunks the last step touched, chunks dirty since the last hash).

use merkle_memory::hash::leaf;
use merkle_memory::memory::chunk;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::pane;
use crate::app::Stepper;
use crate::session::Facts;

/// Width of the hex rows, borders included.
const HEX_WIDTH: u16 = 80;

pub fn memory_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let Some(memory) = s.session.machine().store().memories.first() else {
        frame.render_widget(Paragraph::new("the module has no memory").block(pane(" Memory ".into())), area);
        return;
    };
    let [hex, grid] = Layout::horizontal([Constraint::Length(HEX_WIDTH), Constraint::Min(10)]).areas(area);
    let chunk_size = memory.chunk_size() as u64;
    let block =
        pane(format!(" Memory: {} pages, {} bytes, from 0x{:x} ", memory.pages(), memory.data().len(), s.memory_view));
    let rows = block.inner(hex).height as usize;
    let facts = &s.session.facts;
    let lines: Vec<Line> = hex_rows(memory.data(), s.memory_view, rows)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let chunk_index = (s.memory_view + 16 * i as u64) / chunk_size;
            Line::styled(text, chunk_style(facts, chunk_index as u32))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), hex);

    let count = memory.data().len().div_ceil(chunk_size as usize) as u32;
    let as_of = if facts.step == s.session.steps() { String::new() } else { format!(", as of step {}", facts.step) };
    let block = pane(format!(" Chunks of {chunk_size} B: {count}{as_of} "));
    let inner = block.inner(grid);
    frame.render_widget(block, grid);
    let viewed = (s.memory_view / chunk_size) as u32;
    let mut lines = chunk_grid(facts, count, viewed, inner.width as usize, inner.height.saturating_sub(3) as usize);
    lines.push(Line::raw(format!("# touched {}  + dirty {}  . clean", list(&facts.touched), facts.dirty.len())));
    let range = |i: u64| format!("0x{:x}..0x{:x}", i * chunk_size, (i + 1) * chunk_size);
    if s.show_chunk_hash {
        let hash = leaf(chunk(memory, viewed as usize));
        lines.push(Line::raw(format!("chunk {viewed} ({}): {}", range(viewed as u64), merkle_memory::hex(&hash))));
    } else {
        lines.push(Line::styled(
            format!("chunk {viewed} ({}) in view; H shows its hash", range(viewed as u64)),
            Style::new().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// Up to a few chunk indices, then how many more.
fn list(chunks: &[u32]) -> String {
    match chunks {
        [] => "none".into(),
        [a, b, c, d, rest @ ..] if !rest.is_empty() => format!("{a}, {b}, {c}, {d} and {} more", rest.len()),
        _ => chunks.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
    }
}

fn chunk_style(facts: &Facts, chunk: u32) -> Style {
    if facts.touched.binary_search(&chunk).is_ok() {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else if facts.dirty.binary_search(&chunk).is_ok() {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    }
}

/// `rows` rows of 16 bytes from `start` (rounded down to 16): address, hex, ASCII.
pub fn hex_rows(data: &[u8], start: u64, rows: usize) -> Vec<String> {
    let start = (start & !15) as usize;
    (0..rows)
        .map(|r| start + 16 * r)
        .take_while(|&at| at < data.len())
        .map(|at| {
            let bytes = &data[at..(at + 16).min(data.len())];
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let (left, right) = hex.split_at(hex.len().min(8));
            let ascii: String =
                bytes.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
            format!("{at:08x}  {:<23}  {:<23}  |{ascii}|", left.join(" "), right.join(" "))
        })
        .collect()
}

/// The grid of chunks around `viewed`, `width` columns by at most `rows` rows: each
/// chunk one cell (`#` touched by the last step, `+` dirty since the last hash, `.`
/// clean), the viewed chunk reversed, each row led by its first chunk's index.
pub fn chunk_grid(facts: &Facts, count: u32, viewed: u32, width: usize, rows: usize) -> Vec<Line<'static>> {
    const LABEL: usize = 7;
    let per_row = (width.saturating_sub(LABEL) / 8 * 8).max(8) as u32;
    let first_row = (viewed / per_row).saturating_sub(rows as u32 / 2);
    (first_row..)
        .map(|r| r * per_row)
        .take_while(|&first| first < count)
        .take(rows)
        .map(|first| {
            let mut spans = vec![Span::styled(format!("{first:>6} "), Style::new().fg(Color::DarkGray))];
            for c in first..(first + per_row).min(count) {
                let (cell, style) = if facts.touched.binary_search(&c).is_ok() {
                    ("#", Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD))
                } else if facts.dirty.binary_search(&c).is_ok() {
                    ("+", Style::new().fg(Color::Cyan))
                } else {
                    (".", Style::new().fg(Color::DarkGray))
                };
                let style = if c == viewed { style.add_modifier(Modifier::REVERSED) } else { style };
                spans.push(Span::styled(cell, style));
            }
            Line::from(spans)
        })
        .collect()
}
