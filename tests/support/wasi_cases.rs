//! The WASI command programs of tests/programs/wasi: their cases (cases.json), their
//! expected results (expected.json, computed by native builds of the same sources), and
//! a run of one program on the reference engine, wasmi with wasmi_wasi (the library's
//! `verigame::reference_wasi`).
//!
//! Include it from a test with
//! `#[path = "support/wasi_cases.rs"] mod wasi_cases;`.
// Each test binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use verigame::reference_wasi::WasiEnd;

/// tests/programs/wasi: the programs, cases.json, expected.json and the stdin files.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasi")
}

/// One run of one program: an entry of cases.json.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Case {
    pub name: String,
    /// The module's file name in tests/programs/wasi, e.g. `hello.wasm`; also argv[0].
    pub program: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// The whole environment, `KEY=VALUE` strings in order (nothing is inherited).
    pub env: Vec<String>,
    /// Standard input, as text; exactly one of `stdin` and `stdin_file` is given.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Standard input, from this file (relative to tests/programs/wasi).
    #[serde(default)]
    pub stdin_file: Option<String>,
}

/// An entry of expected.json: the case and what the native build printed and returned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpectedCase {
    #[serde(flatten)]
    pub case: Case,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl Case {
    /// The module's bytes.
    pub fn wasm(&self) -> Vec<u8> {
        let path = dir().join(&self.program);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The full argument vector: the program's file name, then `args`.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone()).chain(self.args.iter().cloned()).collect()
    }

    /// The environment as (key, value) pairs, split at each entry's first `=`.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|kv| {
                let (k, v) =
                    kv.split_once('=').unwrap_or_else(|| panic!("case {}: env entry {kv:?} has no '='", self.name));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// Standard input's bytes.
    pub fn stdin_bytes(&self) -> Vec<u8> {
        match (&self.stdin, &self.stdin_file) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(file)) => {
                let path = dir().join(file);
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            }
            _ => panic!("case {}: give exactly one of stdin and stdin_file", self.name),
        }
    }
}

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of cases.json, in order.
pub fn load_cases() -> Vec<Case> {
    load("cases.json")
}

/// The entries of expected.json, in order.
pub fn load_expected() -> Vec<ExpectedCase> {
    load("expected.json")
}

/// Runs the WASI command `wasm` to its end on wasmi with wasmi_wasi
/// ([`verigame::reference_wasi::run_command`]): `args` is the whole argv (argv[0]
/// included: see [`Case::argv`]). Returns stdout, stderr and the exit code: the
/// `proc_exit` argument, or 0 when `_start` returns.
///
/// Panics if the module does not load, link or instantiate, or if it traps.
pub fn run_on_wasmi(wasm: &[u8], args: &[String], env: &[(String, String)], stdin: &[u8]) -> (Vec<u8>, Vec<u8>, i32) {
    let run = verigame::reference_wasi::run_command(wasm, args, env, stdin).unwrap_or_else(|e| panic!("{e:#}"));
    match run.end {
        WasiEnd::Exited(code) => (run.stdout, run.stderr, code),
        WasiEnd::Trapped(trap) => panic!("_start trapped: {trap}"),
    }
}
