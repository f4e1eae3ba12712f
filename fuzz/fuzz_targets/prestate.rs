//! Mutated pre-states of one-step proofs: the input picks an honest proof from the
//! judge target's corpus (a case whose machine is kept) and changes one value the proof
//! gives about its pre-state (counters, status, depth, height, entry, the running frame,
//! an opened slot, global, chunk byte, table element or dropped flag, the caller's
//! record, an opening's shape), in range or out of it, then recomputes `pre_hash`, so the
//! proof is a consistent proof of some state. The judge must refuse it, or give exactly
//! the stepper's post-state for the machine the same change makes; it must never panic,
//! not even inside its own guard. `judge/tests/prestate.rs` runs the same mutations from
//! a seed.
//!
//! ```text
//! cargo +nightly fuzz run prestate
//! ```

#![no_main]

#[path = "../../judge/tests/support/mutations.rs"]
mod mutations;
#[path = "../../judge/tests/support/prestate.rs"]
mod prestate;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mutations::{Bytes, Corpus, Source};

fn corpus() -> &'static (Corpus, Vec<usize>) {
    static CORPUS: OnceLock<(Corpus, Vec<usize>)> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let corpus = Corpus::build();
        let kept = (0..corpus.cases.len()).filter(|&c| corpus.cases[c].machine.is_some()).collect();
        (corpus, kept)
    })
}

fuzz_target!(|data: &[u8]| {
    let (corpus, kept) = corpus();
    let mut src = Bytes(data);
    let case = &corpus.cases[kept[src.below(kept.len())]];
    let mutated = prestate::mutate(&mut src, case);
    prestate::judge_mutated(corpus, case, &mutated);
});
