//! `verigame bench --dispute` on a tiny workload: what it reports, and how it refuses
//! unusable input.

use std::process::Output;

use serde_json::Value as Json;
use traces::game::rounds_for;

mod support;

use support::verigame;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_dispute_bench_reports_each_degree_against_the_plain_run() {
    let out = verigame(&[
        "bench",
        "--dispute",
        "--workload",
        "sort.wasm:sort_checksum:60",
        "--degree",
        "2",
        "3",
        "--repeat",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Json = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let [d] = report["disputes"].as_array().expect("a list of disputes").as_slice() else { panic!("{report}") };
    assert_eq!(
        (d["file"].as_str(), d["export"].as_str(), d["arg"].as_i64()),
        (Some("sort.wasm"), Some("sort_checksum"), Some(60))
    );

    let run = verigame(&["run", "tests/programs/sort.wasm", "--invoke", "sort_checksum", "60", "--json"]);
    let run: Json = serde_json::from_slice(&run.stdout).expect("run --json prints JSON");
    let steps = d["steps"].as_u64().unwrap();
    assert_eq!(Some(steps), run["steps"].as_u64());
    assert_eq!(d["fault"].as_str().unwrap(), format!("memory@{}", steps / 10 * 7));

    let games = d["games"].as_array().unwrap();
    assert_eq!(games.iter().map(|g| g["degree"].as_u64().unwrap()).collect::<Vec<_>>(), [2, 3]);
    let plain = d["plain_seconds"].as_f64().unwrap();
    assert!(plain > 0.0, "{d}");
    for g in games {
        let degree = g["degree"].as_u64().unwrap();
        // The liar's run may be longer than the honest one, never so much longer that it
        // takes another round at these sizes.
        let rounds = g["rounds"].as_u64().unwrap() as u32;
        assert!((rounds_for(steps, degree)..=rounds_for(steps, degree) + 1).contains(&rounds), "{g}");
        let seconds = g["seconds"].as_f64().unwrap();
        assert!((g["ratio"].as_f64().unwrap() - seconds / plain).abs() < 1e-9, "{g}");
        assert!(g["recording_seconds"].as_f64().unwrap() > 0.0, "{g}");
        for side in ["honest", "faulty"] {
            assert!(g["checkpoint_bytes"][side].as_u64().unwrap() > 0, "{g}");
            assert!(g["answering_seconds"][side].as_f64().is_some(), "{g}");
        }
        if cfg!(target_os = "linux") {
            assert!(g["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{g}");
            assert!(g["cpu_seconds"].as_f64().is_some(), "{g}");
        }
    }
}

#[test]
fn a_dispute_bench_prints_a_table_by_degree() {
    let out = verigame(&[
        "bench",
        "--dispute",
        "--workload",
        "sha256.wasm:sha256_rounds:1",
        "--degree",
        "4",
        "--repeat",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("sha256.wasm sha256_rounds(1): "), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.split_whitespace().next() == Some("4")).collect();
    assert_eq!(rows.len(), 1, "{text}");
}

#[test]
fn a_dispute_bench_refuses_unusable_workloads_and_degrees() {
    let missing = verigame(&["bench", "--dispute", "--workload", "nothing.wasm:f:1", "--repeat", "1"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nothing.wasm"), "{}", stderr(&missing));

    let export = verigame(&["bench", "--dispute", "--workload", "fib.wasm:no_such:1", "--repeat", "1"]);
    assert_eq!(export.status.code(), Some(2));
    assert!(stderr(&export).contains("no_such"), "{}", stderr(&export));

    let malformed = verigame(&["bench", "--dispute", "--workload", "fib.wasm:fib_rec"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(stderr(&malformed).contains("FILE:EXPORT:ARG"), "{}", stderr(&malformed));

    let degree = verigame(&["bench", "--dispute", "--workload", "fib.wasm:fib_rec:5", "--degree", "1"]);
    assert_eq!(degree.status.code(), Some(2));
    assert!(stderr(&degree).contains("invalid value '1'"), "{}", stderr(&degree));

    // Degrees and workloads belong to the dispute bench.
    let alone = verigame(&["bench", "--degree", "2"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(stderr(&alone).contains("--dispute"), "{}", stderr(&alone));
}

#[test]
fn a_liar_that_changes_nothing_fails_the_bench() {
    // fib_rec never writes memory: the memory liar has nothing to lie about.
    let out = verigame(&["bench", "--dispute", "--workload", "fib.wasm:fib_rec:5", "--repeat", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("was not caught"), "{}", stderr(&out));
}
