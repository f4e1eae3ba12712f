//! The C programs in tests/programs give the results a native build computed, on the
//! stepper and on wasmi alike.

use std::path::{Path, PathBuf};
use verigame::printed::Printed;

use cluster::values::parse_value;
use verigame::run::{run_stepper, run_wasmi, RunOutcome};

fn programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

struct Case {
    file: String,
    export: String,
    arg: String,
    expected: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(programs().join("expected.txt")).expect("expected.txt exists");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 4, "malformed line in expected.txt: {line}");
            Case { file: f[0].into(), export: f[1].into(), arg: f[2].into(), expected: f[3].into() }
        })
        .collect()
}

fn check(case: &Case, outcome: &RunOutcome, engine: &str) {
    let what = format!("{engine}: {} {}({})", case.file, case.export, case.arg);
    assert!(outcome.succeeded(), "{what} ended {} {:?}", outcome.status, outcome.trap);
    let [got] = outcome.results[..] else { panic!("{what}: expected one result, got {:?}", outcome.results) };
    let want = parse_value(got.ty(), &case.expected).expect("expected value parses");
    // expected.txt prints floats with enough digits to round-trip.
    assert_eq!(got, want, "{what}");
}

#[test]
fn real_programs_give_native_results_on_both_engines() {
    let cases = cases();
    assert!(cases.len() >= 40, "expected.txt lists the cases");
    for case in &cases {
        let bytes = std::fs::read(programs().join(&case.file)).expect("fixture exists");
        let args = [case.arg.clone()];
        let outcome = run_stepper(&bytes, Some(&case.export), &args, u64::MAX, stepper::Config::default()).unwrap();
        check(case, &outcome, "stepper");
        let outcome = run_wasmi(&bytes, Some(&case.export), &args).unwrap();
        check(case, &outcome, "wasmi");
    }
}

#[test]
fn programs_use_the_features_they_are_meant_to_cover() {
    use stepper::op::Op;
    let module = |f: &str| stepper::Module::new(&std::fs::read(programs().join(f)).unwrap()).unwrap();
    let has = |f: &str, pred: &dyn Fn(&Op) -> bool| module(f).code.iter().any(pred);
    assert!(has("memops.wasm", &|op| matches!(op, Op::MemoryCopy)));
    assert!(has("memops.wasm", &|op| matches!(op, Op::MemoryFill)));
    assert!(has("memops.wasm", &|op| matches!(op, Op::MemoryGrow)));
    assert!(has("sort.wasm", &|op| matches!(op, Op::CallIndirect { .. })));
    assert!(has("dispatch.wasm", &|op| matches!(op, Op::BrTable { .. })));
    assert!(has("matmul.wasm", &|op| matches!(op, Op::Binary(stepper::op::Binary::F64Mul))));
}
