//! Differential fuzzing: wasm-smith builds a module from the fuzzer's bytes, and the
//! stepper and the reference engine (wasmi) must agree on everything it does. The
//! generator and the comparison are the ones `tests/differential.rs` uses.
//!
//! ```text
//! cargo +nightly fuzz run differential
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigame::reference::{compare_engines, smith_module, CompareOptions};

fuzz_target!(|data: &[u8]| {
    // Inputs wasm-smith cannot build a module from are not interesting.
    let Ok(wasm) = smith_module(data) else { return };
    if let Err(mismatch) = compare_engines(&wasm, &CompareOptions::default()) {
        let path = std::env::temp_dir().join("verigame-differential-mismatch.wasm");
        let saved = match std::fs::write(&path, &wasm) {
            Ok(()) => format!("module written to {}", path.display()),
            Err(e) => format!("could not write the module: {e}"),
        };
        panic!("{mismatch}\n{saved}");
    }
});
