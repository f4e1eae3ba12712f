//! The program's output pane: the last lines of what the call wrote to standard output
//! and standard error so far, and how it ended.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use stepper::io::Stream;
use stepper::Status;

use super::pane;
use crate::app::Stepper;

/// At most this many of a stream's last bytes are shown.
const SHOWN: usize = 16 * 1024;

/// A stream's last `n` bytes (fewer if it holds fewer).
pub fn last_bytes(stream: &Stream, n: usize) -> Vec<u8> {
    let mut pieces: Vec<&[u8]> = vec![stream.tail()];
    let mut held = stream.tail().len();
    for segment in stream.segments().iter().rev() {
        if held >= n {
            break;
        }
        pieces.push(segment);
        held += segment.len();
    }
    let bytes: Vec<u8> = pieces.into_iter().rev().flatten().copied().collect();
    bytes[bytes.len().saturating_sub(n)..].to_vec()
}

/// The last `rows` lines of `bytes` as text: invalid UTF-8 and control characters (but
/// tabs, shown as spaces) as U+FFFD; a final newline ends the last line.
pub fn last_lines(bytes: &[u8], rows: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() || rows == 0 {
        return Vec::new();
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let clean = |l: &str| -> String {
        l.chars()
            .map(|c| {
                if c == '\t' {
                    ' '
                } else if c.is_control() {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect()
    };
    lines[lines.len().saturating_sub(rows)..].iter().map(|l| clean(l)).collect()
}

/// Standard output's last lines above standard error's (in red), the byte counts and the
/// exit status in the title.
pub fn output_pane(frame: &mut Frame, area: Rect, s: &Stepper) {
    let machine = s.session.machine();
    let io = machine.io();
    let (out, err) = (io.stdout(), io.stderr());
    let ended = match machine.status() {
        Status::Running => String::new(),
        Status::Exited(code) => format!(", exit code {code}"),
        Status::Returned => ", returned".into(),
        Status::Trapped(_) => ", trapped".into(),
        Status::OutOfGas => ", out of gas".into(),
    };
    let block = pane(format!(" Output: stdout {} B, stderr {} B{ended} (O hides) ", out.len(), err.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner.height as usize;
    let err_rows = if err.is_empty() {
        0
    } else if out.is_empty() {
        rows
    } else {
        rows / 3
    };
    let [top, bottom] = Layout::vertical([Constraint::Min(0), Constraint::Length(err_rows as u16)]).areas(inner);
    let lines = |stream: &Stream, rows: usize, style: Style| -> Vec<Line<'static>> {
        last_lines(&last_bytes(stream, SHOWN), rows).into_iter().map(|l| Line::styled(l, style)).collect()
    };
    let mut shown = lines(out, top.height as usize, Style::new());
    if out.is_empty() && err.is_empty() {
        shown.push(Line::styled("(nothing written yet)", Style::new().fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(shown), top);
    frame.render_widget(Paragraph::new(lines(err, err_rows, Style::new().fg(Color::Red))), bottom);
}
