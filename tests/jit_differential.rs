//! Normal mode (the JIT) against the stepper on random wasm-smith modules under gas
//! limits: every call of every export agrees on status, results, steps, gas, emitted
//! values and state hash, traps and running out of gas included.
//!
//! Reproduce a failure with `VERIGAME_JIT_SEED=<seed> VERIGAME_JIT_CASES=1 cargo test --test jit_differential`.

use verigame::normal_mode::{compare_jit, jit_smith_config};
use verigame::reference::{seeded_bytes, smith_module, smith_module_with};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn random_modules_give_the_steppers_outcomes_in_normal_mode() {
    let first = env_u64("VERIGAME_JIT_SEED").unwrap_or(0x0717_0000);
    let cases = env_u64("VERIGAME_JIT_CASES").unwrap_or(150);
    let (mut modules, mut compiled, mut stepper) = (0, 0, 0);
    for seed in first..first + cases {
        // Mostly modules normal mode compiles, some it leaves to the stepper whole.
        let made = match seed % 4 {
            0 => smith_module(&seeded_bytes(seed)),
            _ => smith_module_with(&seeded_bytes(seed), jit_smith_config()),
        };
        let Ok(wasm) = made else { continue };
        for gas_limit in [5_000, 1_000_000] {
            match compare_jit(&wasm, gas_limit) {
                Ok(Some(served)) => {
                    modules += 1;
                    compiled += served.compiled;
                    stepper += served.stepper;
                }
                Ok(None) => {}
                Err(mismatch) => panic!("seed {seed}, gas limit {gas_limit}: {mismatch}"),
            }
        }
    }
    assert!(modules > cases, "{modules} modules compared");
    assert!(compiled > 0 && stepper > 0, "{compiled} calls compiled, {stepper} on the stepper");
}
