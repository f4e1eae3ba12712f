//! The fuzz target `fuzz/fuzz_targets/prestate.rs`, bounded and seeded: mutations of
//! honest proofs' pre-states (every field the state and its openings give, in range and
//! out of it), each made a consistent proof of some state by recomputing `pre_hash`. The
//! judge refuses each with a reason or, for a state a machine mirrors, gives exactly the
//! stepper's post-state; it never panics. `cargo bench -p judge --bench hostile` times
//! the judge on them and on oversized proofs.
//!
//! `FUZZ_MUTATIONS=n` runs `n` mutations instead of the default.

#[path = "support/mutations.rs"]
mod mutations;
#[path = "support/prestate.rs"]
mod prestate;

use std::collections::BTreeMap;

use mutations::{Corpus, Rng, Source};
use prestate::{judge_mutated, mutate, Verdict};

#[test]
fn mutated_pre_states_are_refused_or_judged_to_the_steppers_post_state() {
    let corpus = Corpus::build();
    let cases: Vec<usize> = (0..corpus.cases.len()).filter(|&c| corpus.cases[c].machine.is_some()).collect();
    assert!(cases.len() > 200, "{} cases keep their machine", cases.len());
    let n = std::env::var("FUZZ_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(6_000);
    let mut rng = Rng(0x9e5_7a7e);
    let mut tally: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..n {
        let case = &corpus.cases[cases[rng.below(cases.len())]];
        let mutated = mutate(&mut rng, case);
        let (verdict, took) = judge_mutated(&corpus, case, &mutated);
        slowest = slowest.max(took);
        let verdict = match verdict {
            Verdict::Refused => "refused",
            Verdict::Stepped => "stepped",
            Verdict::Accepted => "accepted",
        };
        *tally.entry((mutated.what, verdict)).or_default() += 1;
    }
    println!("{n} mutations, slowest judging {slowest:?}: {tally:?}");
    // Out-of-range and inconsistent values are refused; in-range values of reachable
    // states are judged (and the post-state compared with the stepper's).
    for what in ["height", "depth", "stack opening", "pc", "function", "caller"] {
        assert!(tally.get(&(what, "refused")).is_some_and(|&k| k > 0), "no {what} mutation was refused: {tally:?}");
    }
    for what in ["stack slot", "global", "memory byte", "steps", "status"] {
        assert!(tally.get(&(what, "stepped")).is_some_and(|&k| k > 0), "no {what} mutation was judged: {tally:?}");
    }
}
