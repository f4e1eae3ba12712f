//! What the tests that run the `verigame` binary share.
// Each test binary uses part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value as Json;

/// The binary, to run from the workspace root.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_verigame"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs the binary with `args` to its end.
pub fn verigame(args: &[&str]) -> Output {
    command().args(args).output().expect("the binary runs")
}

/// `0x` and 64 lowercase hex digits.
pub fn is_hash(v: &Json) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 66 && s.starts_with("0x") && s[2..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}
