//! The fuzz target `fuzz/fuzz_targets/judge.rs`, bounded and seeded: thousands of random
//! mutations of honest proofs' binary encodings and decoded fields. Decoding never
//! panics, the judge never panics past its own guard, and every proof it accepts
//! carries a step's honest `(pre_hash, post_hash)`.
//!
//! `FUZZ_MUTATIONS=n` runs `n` mutations of each kind instead of the default.

#[path = "support/mutations.rs"]
mod mutations;

use mutations::{
    install_panic_hook, judge_bytes, judge_fields, mutate_bytes, mutate_fields, Corpus, Outcome, Rng, Source, CAUGHT,
};

fn count(default: usize) -> usize {
    std::env::var("FUZZ_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tally(outcomes: &[Outcome]) -> String {
    let n = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count();
    format!(
        "{} mutations: {} changed nothing, {} undecodable, {} refused, {} accepted with the honest pair, {} accepted as another honest step",
        outcomes.len(),
        n(Outcome::Unchanged),
        n(Outcome::Undecodable),
        n(Outcome::Refused),
        n(Outcome::Honest),
        n(Outcome::OtherStep)
    )
}

#[test]
fn random_mutations_of_proofs_are_never_accepted_as_forgeries() {
    let default_hook = std::panic::take_hook();
    install_panic_hook(default_hook);
    let corpus = Corpus::build();
    assert!(corpus.cases.len() > 300, "{} honest proofs", corpus.cases.len());

    let mut rng = Rng(0x5eed_f0e5_0fba_5e00);
    let mut bytes_outcomes = Vec::new();
    for _ in 0..count(10_000) {
        let c = rng.below(corpus.cases.len());
        let case = &corpus.cases[c];
        let run = corpus.run_of(c);
        let donor = &corpus.cases[run.start + rng.below(run.len())];
        let bytes = mutate_bytes(&mut rng, &case.bytes, &donor.bytes);
        bytes_outcomes.push(judge_bytes(&corpus, case, &bytes));
    }
    let mut fields_outcomes = Vec::new();
    for _ in 0..count(10_000) {
        let c = rng.below(corpus.cases.len());
        let case = &corpus.cases[c];
        let run = corpus.run_of(c);
        // Nearby steps share most of their state: the most plausible donors.
        let donor = match rng.below(3) {
            0 => c.saturating_sub(1).max(run.start),
            1 => (c + 1).min(run.end - 1),
            _ => run.start + rng.below(run.len()),
        };
        let proof = mutate_fields(&mut rng, &case.proof, &corpus.cases[donor].proof);
        fields_outcomes.push(judge_fields(&corpus, case, &proof));
    }
    eprintln!("{} honest proofs of {} runs", corpus.cases.len(), corpus.labels.len());
    eprintln!("bytes:  {}", tally(&bytes_outcomes));
    eprintln!("fields: {}", tally(&fields_outcomes));
    let caught = CAUGHT.lock().unwrap();
    for (what, n) in caught.iter() {
        eprintln!("the judge caught a panic {n} times (refusing the proof): {what}");
    }
    // The mutations must reach the judge, not only the decoder.
    let refused = bytes_outcomes.iter().chain(&fields_outcomes).filter(|&&o| o == Outcome::Refused).count();
    assert!(
        refused * 3 >= bytes_outcomes.len() + fields_outcomes.len(),
        "only {refused} proofs reached the judge and were refused"
    );
}
