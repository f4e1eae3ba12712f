//! `verigame tui` up to the terminal: unusable input is refused before the screen is
//! taken, and a transcript `verigame dispute --transcript` wrote replays down to the
//! disputed step. (tests/tui_smoke.sh drives the real terminal under tmux.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crossterm::event::{KeyCode, KeyEvent};

const SORT: &str = "tests/programs/sort.wasm";

fn verigame(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verigame"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// A game over sort_checksum(100) whose defender writes a wrong byte, as JSON on disk.
fn recorded_game(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tui-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let out = verigame(&["dispute", SORT, "--invoke", "sort_checksum", "100", "--fault", "memory@2000", "--transcript", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

#[track_caller]
fn refused(args: &[&str], reason: &str) {
    let out = verigame(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(reason), "{args:?} should say `{reason}`: {stderr}");
}

#[test]
fn unusable_input_is_refused_with_exit_code_2() {
    refused(&["tui"], "give a module to step through");
    refused(&["tui", "tests/programs/none.wasm"], "cannot read module");
    refused(&["tui", SORT, "--invoke", "sort_checksum"], "takes 1 argument");
    refused(&["tui", "--transcript", "nowhere.json"], "nowhere.json");
    refused(&["tui", "--transcript", "x.json", "--invoke", "f"], "cannot be used with");

    let game = recorded_game("damaged.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&game).unwrap()).unwrap();
    json["rounds"][3]["challenger"][0] = "0xabc".into();
    std::fs::write(&game, json.to_string()).unwrap();
    refused(&["tui", "--transcript", game.to_str().unwrap()], "`rounds[3].challenger[0]` is not 0x and 64 hex digits");

    let game = recorded_game("other-module.json");
    refused(&["tui", "--transcript", game.to_str().unwrap(), "tests/programs/fib.wasm"], "the module's hash is");
}

#[test]
fn a_recorded_dispute_replays_to_the_disputed_step_in_the_stepper() {
    let game = recorded_game("game.json");
    let mut app = tui::replay_from_files(&game, Some(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/sort.wasm")))).unwrap();
    let ruling = app.replay.as_ref().unwrap().transcript.ruling.clone().unwrap();
    assert_eq!(ruling.instruction.as_deref(), Some("i32.store"));
    app.on_key(KeyEvent::from(KeyCode::End));
    app.on_key(KeyEvent::from(KeyCode::Enter));
    while app.is_busy() {
        app.work();
    }
    let session = &app.stepper.as_ref().unwrap().session;
    assert_eq!(session.steps(), ruling.step);
    assert_eq!(session.facts.hash, ruling.agreed_hash);
}
