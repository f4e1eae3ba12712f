//! SQLite's shell, a real program this project did not write, built as a WASI command
//! (tests/programs/wasi/sqlite/build.sh): the stepper prints what the native build of the
//! same sources printed, as wasmi with wasmi_wasi does, and a dispute over a faulty run
//! of it, lying deep inside, is won by the honest party before the judge.

#[path = "support/wasi_cases.rs"]
mod wasi_cases;

use std::path::PathBuf;

use stepper::{CallInput, Config, Extern, Machine, Module, Status};
use traces::game::dispute;
use traces::{Call, Fault, Limits, Role};

/// What the shell says on standard error when there is no home directory to read its
/// settings from: WASI has no user database.
const NO_HOME: &str = "-- warning: cannot find home directory; cannot read ~/.sqliterc\n";

fn dir() -> PathBuf {
    wasi_cases::dir().join("sqlite")
}

fn input() -> CallInput {
    CallInput {
        args: vec![b"sqlite3".to_vec()],
        stdin: std::fs::read(dir().join("queries.sql")).unwrap(),
        ..CallInput::default()
    }
}

#[test]
fn the_sqlite_shell_prints_what_its_native_build_prints() {
    let wasm = std::fs::read(dir().join("sqlite3.wasm")).unwrap();
    let expected = std::fs::read_to_string(dir().join("expected.stdout")).unwrap();
    let module = Module::new(&wasm).unwrap();
    let (mut m, instance) = Machine::load(&module, Config::default()).unwrap();
    let Some(Extern::Func(start)) = m.export(instance, "_start") else { panic!("no _start") };
    m.start_call(start, &[], u64::MAX, input()).unwrap();
    assert_eq!(m.run(u64::MAX), Status::Returned);
    assert_eq!(String::from_utf8_lossy(&m.io().stdout().to_vec()), expected);
    assert_eq!(String::from_utf8_lossy(&m.io().stderr().to_vec()), NO_HOME);
    assert!(m.steps() > 30_000_000, "{} steps", m.steps());

    let (stdout, stderr, code) = wasi_cases::run_on_wasmi(&wasm, &["sqlite3".into()], &[], &input().stdin);
    assert_eq!(String::from_utf8_lossy(&stdout), expected, "wasmi");
    assert_eq!(String::from_utf8_lossy(&stderr), NO_HOME, "wasmi");
    assert_eq!(code, 0);
}

#[test]
fn a_dispute_over_a_faulty_sqlite_run_is_won_by_the_honest_party() {
    let wasm = std::fs::read(dir().join("sqlite3.wasm")).unwrap();
    let call = Call::new(wasm, "_start", Vec::new(), Config::default()).unwrap().with_input(input()).unwrap();
    let limits = Limits { memory_budget: 64 << 20, ..Limits::default() };
    for faulty in [Role::Defender, Role::Challenger] {
        // A branch taken the wrong way at step 20,000,000, halfway through the queries (a
        // byte stored wrong there is overwritten before the end, leaving nothing to dispute).
        let outcome = dispute(&call, Fault::Branch(20_000_000), faulty, 8, &limits, &|_, _| {}).unwrap();
        assert!(outcome.disputed);
        assert_eq!(outcome.winner, faulty.other(), "{faulty:?} lied and won: {}", outcome.reason);
        let ruling = outcome.transcript.ruling.as_ref().expect("a ruling");
        assert!(ruling.proof.is_some() && ruling.step >= 20_000_000, "step {}", ruling.step);
    }
}
