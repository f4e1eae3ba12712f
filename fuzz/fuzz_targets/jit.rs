//! Normal mode against the stepper: wasm-smith builds a module from the fuzzer's bytes,
//! and the JIT must give the stepper's outcome for every call of every export (the
//! comparison `tests/jit_differential.rs` uses).
//!
//! ```text
//! cargo +nightly fuzz run jit
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;
use verigame::normal_mode::{compare_jit, jit_smith_config};
use verigame::reference::smith_module_with;

fuzz_target!(|data: &[u8]| {
    let Ok(wasm) = smith_module_with(data, jit_smith_config()) else { return };
    if let Err(mismatch) = compare_jit(&wasm, 100_000) {
        let path = std::env::temp_dir().join("verigame-jit-mismatch.wasm");
        let saved = match std::fs::write(&path, &wasm) {
            Ok(()) => format!("module written to {}", path.display()),
            Err(e) => format!("could not write the module: {e}"),
        };
        panic!("{mismatch}\n{saved}");
    }
});
