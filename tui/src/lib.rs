//! The terminal UI: step through a call's execution (code, stacks, locals, globals,
//! memory with its Merkle chunks, the state hash), and replay a recorded dispute move by
//! move down to the judge's verdict.
//!
//! [`App`] holds the state and handles keys without touching the terminal; [`ui::ui`]
//! draws it; [`run`] is the thin loop between them and a real terminal.

pub mod app;
pub mod breakpoint;
pub mod code;
pub mod dispute;
pub mod session;
pub mod ui;

use std::io;
use std::path::Path;
use std::time::Duration;

use crossterm::event::{self, Event, KeyEventKind};
use traces::{Call, TraceError, Transcript};

pub use app::{Action, App};

/// Restores the terminal when dropped: on quitting, on an error and while unwinding
/// from a panic (ratatui's panic hook restores it before the message prints, too).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs `app` on the terminal until the user quits.
pub fn run(mut app: App) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard;
    loop {
        terminal.draw(|frame| ui::ui(frame, &app))?;
        // While a run goes on, look for keys without waiting, then work one slice.
        let wait = if app.is_busy() { Duration::ZERO } else { Duration::from_secs(3600) };
        if event::poll(wait)? {
            if let Event::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Release && app.on_key(key) == Action::Quit {
                    return Ok(());
                }
            }
        }
        app.work();
    }
}

/// The replay of the game in `transcript` (JSON, as `verigame dispute --transcript`
/// writes it). With the game's `module`, whose hash the transcript's call must name,
/// the stepper can open at the disputed step.
pub fn replay_from_files(transcript: &Path, module: Option<&Path>) -> Result<App, TraceError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|source| TraceError::Io { path: path.display().to_string(), source });
    let text = read(transcript)?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| TraceError::Format(format!("{} is not JSON: {e}", transcript.display())))?;
    let game = Transcript::from_json(&json)?;
    let call = module.map(|path| Call::from_json(&game.call, read(path)?)).transpose()?;
    Ok(App::replay(game, call))
}
