//! The WASI command programs of tests/programs/wasi print, on the reference engine
//! (wasmi with wasmi_wasi), exactly what their native builds printed: stdout, stderr and
//! the exit code of every case of expected.json.

#[path = "support/wasi_cases.rs"]
mod wasi_cases;

use std::collections::BTreeSet;

use wasi_cases::{load_cases, load_expected, run_on_wasmi};

#[test]
fn expected_json_covers_cases_json() {
    let cases = load_cases();
    let expected: Vec<_> = load_expected().into_iter().map(|e| e.case).collect();
    assert_eq!(expected, cases, "expected.json is stale: run tests/programs/wasi/build.sh --check");
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn every_case_matches_the_native_run_on_wasmi() {
    let expected = load_expected();
    assert!(expected.len() >= 25, "expected.json lists the cases");
    let mut failures = Vec::new();
    for e in &expected {
        let case = &e.case;
        let (stdout, stderr, exit_code) =
            run_on_wasmi(&case.wasm(), &case.argv(), &case.env_pairs(), &case.stdin_bytes());
        let stdout = String::from_utf8_lossy(&stdout);
        let stderr = String::from_utf8_lossy(&stderr);
        if stdout != e.stdout {
            failures.push(format!("{}: stdout\n--- native\n{}\n--- wasmi\n{}", case.name, e.stdout, stdout));
        }
        if stderr != e.stderr {
            failures.push(format!("{}: stderr\n--- native\n{}\n--- wasmi\n{}", case.name, e.stderr, stderr));
        }
        if exit_code != e.exit_code {
            failures.push(format!("{}: exit code native {} wasmi {exit_code}", case.name, e.exit_code));
        }
    }
    assert!(failures.is_empty(), "{} mismatch(es):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn programs_import_only_wasi_preview1_functions() {
    let programs: BTreeSet<String> = load_cases().into_iter().map(|c| c.program).collect();
    let engine = wasmi::Engine::default();
    for program in &programs {
        let bytes = std::fs::read(wasi_cases::dir().join(program)).unwrap();
        let module = wasmi::Module::new(&engine, &bytes[..]).unwrap();
        for import in module.imports() {
            assert_eq!(import.module(), "wasi_snapshot_preview1", "{program}: {}", import.name());
            assert!(import.ty().func().is_some(), "{program}: {} is not a function", import.name());
        }
        assert!(module.exports().any(|e| e.name() == "_start"), "{program} exports _start");
    }
}
