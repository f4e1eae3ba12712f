//! The judge on random modules: every step of the first steps of every exported function
//! of wasm-smith modules (the differential test's generator) is proven, and the judge's
//! post-state hash is the stepper's. Reproduce a failing seed with
//! `VERIGAME_JUDGE_SEED=<seed> VERIGAME_JUDGE_CASES=1 cargo test --test judge_random`.

use judge::{prove, Judge};
use merkle_memory::state_hash;
use stepper::{Config, Extern, Machine, Module, Value};
use verigame::reference::{seeded_bytes, smith_module};

const FIRST_SEED: u64 = 0x_0de5_0000;
const CASES: u64 = 120;
/// Steps proven per exported function.
const STEPS: u64 = 400;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn every_step_of_random_modules_is_proven_and_judged_to_the_steppers_hash() {
    let first = env_u64("VERIGAME_JUDGE_SEED").unwrap_or(FIRST_SEED);
    let (mut proven, mut modules) = (0u64, 0u64);
    for seed in first..first + env_u64("VERIGAME_JUDGE_CASES").unwrap_or(CASES) {
        let Ok(wasm) = smith_module(&seeded_bytes(seed)) else { continue };
        let Ok(module) = Module::new(&wasm) else { continue };
        let config = Config::default();
        let Ok((base, instance)) = Machine::load(&module, config.clone()) else { continue };
        let judge = Judge::new(module.clone(), config).unwrap();
        modules += 1;
        let funcs: Vec<u32> = module
            .exports
            .iter()
            .filter_map(|(name, _, _)| match base.export(instance, name) {
                Some(Extern::Func(f)) => Some(f),
                _ => None,
            })
            .collect();
        for f in funcs {
            let mut m = base.clone();
            let args: Vec<Value> = m.store().func_type(f).params.iter().map(|&t| Value::default_of(t)).collect();
            m.invoke(f, &args).unwrap();
            while m.steps() < STEPS && !m.status().is_halted() {
                let proof = prove(&m);
                let verdict = judge.check(&proof).unwrap_or_else(|e| panic!("seed {seed} step {}: {e}", m.steps()));
                m.step();
                assert_eq!(verdict.post_hash, state_hash(&mut m), "seed {seed} step {}", m.steps());
                proven += 1;
            }
        }
    }
    assert!(modules > CASES / 2 && proven > 10_000, "{modules} modules, {proven} steps");
}
