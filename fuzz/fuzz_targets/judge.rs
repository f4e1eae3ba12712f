//! Mutated one-step proofs: the input picks an honest proof from a fixed corpus (every
//! step of a run touching every kind of state, a trap, steps of memops and fib_rec),
//! then mutates its binary encoding (bit flips, byte writes, inserts, deletes,
//! interesting u32s, ranges copied from another proof of the same run) or its decoded
//! fields (every part of every opening, openings swapped for another step's). Decoding
//! must never panic, the judge must never panic past its own guard, and a proof the judge
//! accepts must carry the honest `(pre_hash, post_hash)` of a step of the run.
//! `judge/tests/fuzz_mutations.rs` runs the same mutations from a seed.
//!
//! ```text
//! cargo +nightly fuzz run judge
//! ```
//!
//! The judge turns a panic of the executor on an impossible state into a refusal
//! (`catch_unwind`); libfuzzer-sys would abort on it, so the target records those
//! panics instead (and prints each new one once). `VERIGAME_FUZZ_STRICT=1` makes them
//! crashes too, for a judge built without unwinding.

#![no_main]

#[path = "../../judge/tests/support/mutations.rs"]
mod mutations;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mutations::{install_panic_hook, one, Bytes, Corpus, CAUGHT};

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        if std::env::var_os("VERIGAME_FUZZ_STRICT").is_none() {
            // libfuzzer-sys's hook prints and aborts; keep it for every other panic.
            let abort = std::panic::take_hook();
            install_panic_hook(abort);
        }
        Corpus::build()
    })
}

fuzz_target!(|data: &[u8]| {
    let corpus = corpus();
    let known = CAUGHT.lock().map_or(0, |c| c.len());
    one(corpus, &mut Bytes(data));
    if let Ok(caught) = CAUGHT.lock() {
        for (what, _) in &caught[known..] {
            eprintln!("the judge caught a panic (and refused the proof): {what}");
        }
    }
});
