//! Differential testing: the stepper against the reference engine (wasmi) on random
//! valid modules from wasm-smith. The comparison itself is
//! `verigame::reference::compare_engines`, shared with the fuzz target in `fuzz/`.
//!
//! Every case is a seed: the seed gives the bytes wasm-smith builds a module from, so
//! a failing case is reproduced with
//!
//! ```text
//! VERIGAME_DIFF_SEED=<seed> VERIGAME_DIFF_CASES=1 cargo test --test differential -- --ignored --nocapture
//! ```
//!
//! which also writes the module to `target/tmp/differential/seed-<seed>.wasm`
//! (`wasm-tools print` shows it). The long run takes a first seed and a count:
//!
//! ```text
//! VERIGAME_DIFF_SEED=1 VERIGAME_DIFF_CASES=50000 cargo test --release --test differential -- --ignored --nocapture
//! ```
//!
//! and `VERIGAME_DIFF_TRACE=1` prints each seed before running it (to find the case
//! that crashes the process, e.g. on a stack overflow).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime};

use verigame::reference::{compare_engines, seeded_bytes, smith_module, CompareOptions};

/// Seeds of the default run: cases `FIRST_SEED..FIRST_SEED + CASES`.
const FIRST_SEED: u64 = 0x5eed_0000;
const CASES: u64 = 500;

#[derive(Default)]
struct Summary {
    modules: u64,
    not_generated: u64,
    invalid: u64,
    instantiation_failed: u64,
    stopped_early: u64,
    reference_crashed: u64,
    calls: usize,
    traps: usize,
    failures: Vec<String>,
}

fn save(seed: u64, wasm: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential");
    let path = dir.join(format!("seed-{seed}.wasm"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, wasm)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(could not save the module: {e})"),
    }
}

fn run_case(seed: u64, opts: &CompareOptions, summary: &mut Summary, verbose: bool) {
    if std::env::var_os("VERIGAME_DIFF_TRACE").is_some() {
        eprintln!("seed {seed}");
    }
    let Ok(wasm) = smith_module(&seeded_bytes(seed)) else {
        summary.not_generated += 1;
        return;
    };
    summary.modules += 1;
    let result = catch_unwind(AssertUnwindSafe(|| compare_engines(&wasm, opts)));
    let failure = match result {
        Ok(Ok(c)) => {
            summary.invalid += c.invalid as u64;
            summary.instantiation_failed += c.instantiation_failed as u64;
            summary.stopped_early += c.stopped_early.is_some() as u64;
            summary.reference_crashed += c.reference_crashed.is_some() as u64;
            summary.calls += c.calls;
            summary.traps += c.traps;
            if verbose {
                println!("seed {seed}: {c:?}");
                save(seed, &wasm);
            }
            return;
        }
        Ok(Err(mismatch)) => mismatch.to_string(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("an engine panicked: {msg}")
        }
    };
    let path = save(seed, &wasm);
    summary.failures.push(format!(
        "seed {seed}: {failure}\n  module: {path}\n  reproduce: VERIGAME_DIFF_SEED={seed} VERIGAME_DIFF_CASES=1 \
         cargo test --test differential -- --ignored --nocapture"
    ));
}

fn run(first_seed: u64, cases: u64, verbose: bool) {
    let opts = CompareOptions::default();
    let mut summary = Summary::default();
    let start = Instant::now();
    for seed in first_seed..first_seed.saturating_add(cases) {
        run_case(seed, &opts, &mut summary, verbose);
    }
    let s = &summary;
    println!(
        "differential: seeds {first_seed}..{}: {} modules ({} not generated), {} invalid, {} failed to \
         instantiate, {} stopped early on limits, {} crashed wasmi; {} calls compared, {} trapped; {} \
         mismatches; {:.1?}",
        first_seed.saturating_add(cases),
        s.modules,
        s.not_generated,
        s.invalid,
        s.instantiation_failed,
        s.stopped_early,
        s.reference_crashed,
        s.calls,
        s.traps,
        s.failures.len(),
        start.elapsed()
    );
    assert!(s.failures.is_empty(), "stepper and reference disagree:\n{}", s.failures.join("\n"));
    // Guard against a vacuous pass (e.g. every module failing to instantiate).
    assert!(cases < 50 || s.calls > 0, "no call was compared");
}

/// The default, bounded run: a fixed seed range.
#[test]
fn stepper_matches_reference_on_random_modules() {
    run(FIRST_SEED, CASES, false);
}

/// The long run, for manual use:
/// `VERIGAME_DIFF_SEED=<first seed> VERIGAME_DIFF_CASES=<count> cargo test --release
/// --test differential -- --ignored --nocapture`. Without a seed it starts from the
/// clock (and prints the seed).
#[test]
#[ignore = "long; run manually"]
fn stepper_matches_reference_long() {
    let env = |name: &str| {
        std::env::var(name).ok().map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name} is not a number")))
    };
    let seed = env("VERIGAME_DIFF_SEED")
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    let cases = env("VERIGAME_DIFF_CASES").unwrap_or(20_000);
    println!("differential: first seed {seed}, {cases} cases");
    run(seed, cases, cases == 1);
}
