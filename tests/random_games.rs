//! Many random verification games: random programs (wasm-smith modules under a gas limit,
//! the bundled C programs with small arguments), a liar of a random kind lying from a
//! random step (sometimes past the end of the run) or in a random round, in either role,
//! at degrees 2 to 16, with small checkpoint budgets so recordings thin and games refocus.
//! The honest side wins every game, in exactly ceil(log_k N) rounds, and every move the
//! honest side makes matches a fresh run of the call, as does its trace's hash at random
//! steps asked in random order.
//!
//! Reproduce a failing game with
//! `VERIGAME_GAMES_SEED=<seed> VERIGAME_GAMES_CASES=1 cargo test --test random_games`.

use merkle_memory::{hex, state_hash, Hash};
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use stepper::module::ExportKind;
use stepper::{Config, Module, Value};
use traces::game::{dispute, rounds_for};
use traces::{Call, Claim, Fault, Limits, Role};
use verigame::reference::{seeded_bytes, smith_module};

const FIRST_SEED: u64 = 0x_6a3e_0000;
const CASES: u64 = 600;
const DEGREES: [u64; 5] = [2, 3, 4, 8, 16];

/// The bundled C programs' exports with the largest argument each that keeps a run
/// short (a few 10^4 steps; tests/programs/README.md lists their sizes).
const PROGRAMS: &[(&str, &str, i32)] = &[
    ("fib.wasm", "fib_rec", 14),
    ("fib.wasm", "fib_iter", 300),
    ("sort.wasm", "sort_checksum", 40),
    ("matmul.wasm", "matmul_trace", 8),
    ("matmul.wasm", "mandel", 6),
    ("memops.wasm", "memops", 4),
    ("sha256.wasm", "sha256_rounds", 1),
    ("sha256.wasm", "sha256_selftest", 3),
    ("dispatch.wasm", "run_vm", 1),
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Every draw of a game comes from its seed (proptest's ChaCha generator).
struct Rng(TestRng);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        Self(TestRng::from_seed(RngAlgorithm::ChaCha, &key))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next() as usize % items.len()]
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// A random call: a wasm-smith module's export with default arguments under a gas
/// limit, or a bundled C program with a small argument. None when the module is unusable
/// (wasm-smith bytes that do not make a module, an instantiation that traps).
fn random_call(seed: u64, rng: &mut Rng) -> Option<(Call, String)> {
    if rng.one_in(2) {
        let wasm = smith_module(&seeded_bytes(seed)).ok()?;
        let module = Module::new(&wasm).ok()?;
        let funcs: Vec<(String, u32)> = module
            .exports
            .iter()
            .filter(|(_, kind, _)| *kind == ExportKind::Func)
            .map(|(name, _, index)| (name.clone(), *index))
            .collect();
        if funcs.is_empty() {
            return None;
        }
        let (export, index) = funcs[rng.next() as usize % funcs.len()].clone();
        let args: Vec<Value> = module.func_type(index).params.iter().map(|&t| Value::default_of(t)).collect();
        let config = Config { gas_limit: rng.range(5_000, 50_000), ..Config::default() };
        let call = Call::new(wasm, &export, args, config).ok()?;
        Some((call, format!("wasm-smith module {export:?}()")))
    } else {
        let (file, export, max_arg) = rng.pick(PROGRAMS);
        let arg = rng.range(0, max_arg as u64) as i32;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs").join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A liar that takes another branch may loop forever: the gas limit ends its run.
        // Sometimes the limit is below what the honest run needs, so it runs out of gas.
        let gas_limit = if rng.one_in(6) { rng.range(100, 20_000) } else { 400_000 };
        let config = Config { gas_limit, ..Config::default() };
        let call = Call::new(bytes, export, vec![Value::I32(arg)], config).expect("a bundled program starts");
        Some((call, format!("{file} {export}({arg}), gas limit {gas_limit}")))
    }
}

/// The honest run, replayed from scratch: the state hash at any step.
struct Fresh<'a> {
    call: &'a Call,
    claim: Claim,
}

impl<'a> Fresh<'a> {
    fn new(call: &'a Call) -> Self {
        let mut m = call.start().unwrap();
        m.run(u64::MAX);
        Self { call, claim: Claim { steps: m.steps(), final_hash: state_hash(&mut m) } }
    }

    fn hash_at(&self, step: u64) -> Hash {
        let mut m = self.call.start().unwrap();
        m.run(step);
        state_hash(&mut m)
    }
}

/// A fault of a random kind: from a step within the honest run (sometimes past its end),
/// or, for the claim liar, in a round within the game (sometimes past it, or round 0:
/// only the final claim is false).
fn random_fault(rng: &mut Rng, steps: u64) -> Fault {
    // The bundled programs write no output: an output liar would never lie
    // (tests/wasi_programs.rs plays it on a WASI program).
    let kinds: Vec<&str> = Fault::KINDS.into_iter().filter(|&k| k != "output").collect();
    let kind = rng.pick(&kinds);
    let at = if kind == "claim" {
        rng.range(0, rounds_for(steps.max(2), 2) as u64 + 2)
    } else if rng.one_in(8) {
        rng.range(steps, 2 * steps + 50)
    } else {
        rng.range(0, steps.saturating_sub(1))
    };
    Fault::new(kind, at).unwrap()
}

fn random_limits(rng: &mut Rng) -> Limits {
    Limits {
        interval: rng.range(16, 256),
        // Now and then more than a focus lays down (16), so that cap is reached too.
        max_checkpoints: if rng.one_in(4) { rng.range(18, 40) } else { rng.range(3, 10) } as usize,
        // Sometimes a budget that holds only a machine or two, so the capacity decides.
        memory_budget: if rng.one_in(5) {
            rng.range(100_000, 600_000) as usize
        } else {
            Limits::default().memory_budget
        },
        max_steps: 10_000_000,
    }
}

/// What one game showed: whether it was disputed.
fn play(seed: u64) -> Option<bool> {
    let mut rng = Rng::new(seed);
    let (call, what) = random_call(seed, &mut rng)?;
    let fresh = Fresh::new(&call);
    let fault = random_fault(&mut rng, fresh.claim.steps);
    let faulty = rng.pick(&[Role::Defender, Role::Challenger]);
    let honest = faulty.other();
    let degree = rng.pick(&DEGREES);
    let limits = random_limits(&mut rng);
    let game = format!(
        "seed {seed}: {what}, {} steps, {fault} as {faulty}, k={degree}, interval {}, {} checkpoints, budget {}",
        fresh.claim.steps, limits.interval, limits.max_checkpoints, limits.memory_budget
    );
    // The honest trace answers any step, in any order (back through its ways back or
    // forward by replaying), as a fresh run does.
    let mut trace = traces::Trace::record(call.clone(), None, limits.clone(), &mut |_| {}).unwrap();
    for _ in 0..6 {
        let n = rng.range(0, fresh.claim.steps + 2);
        let hash = trace.hash_at(n).unwrap_or_else(|e| panic!("{game}: the trace at step {n}: {e}"));
        assert_eq!(hex(&hash), hex(&fresh.hash_at(n)), "{game}: the trace's hash at step {n}");
    }
    let outcome = dispute(&call, fault, faulty, degree, &limits, &|_, _| {}).unwrap_or_else(|e| panic!("{game}: {e}"));
    let t = &outcome.transcript;
    let side = |role: Role| if role == Role::Defender { 0 } else { 1 };
    let claims = t.claims.map(|c| c.unwrap_or_else(|| panic!("{game}: a claim is missing")));
    assert_eq!(claims[side(honest)], fresh.claim, "{game}: the honest claim is not the fresh run's");
    if !outcome.disputed {
        assert!(!matches!(fault, Fault::Claim(_)), "{game}: the claim liar went undisputed");
        assert_eq!(claims[side(faulty)], fresh.claim, "{game}: undisputed, but the claims differ");
        assert!(t.rounds.is_empty() && t.ruling.is_none(), "{game}: an undisputed game was played");
        return Some(false);
    }
    assert_eq!(outcome.winner, honest, "{game}: the liar won: {}", outcome.reason);
    let n = claims[0].steps.max(claims[1].steps);
    assert_eq!(t.rounds.len() as u32, rounds_for(n, degree), "{game}: rounds for {n} steps");
    let ruling = t.ruling.as_ref().unwrap_or_else(|| panic!("{game}: no ruling: {}", outcome.reason));
    let proof = ruling.proof.as_ref().unwrap_or_else(|| panic!("{game}: no proof: {}", outcome.reason));
    assert!(ruling.proof_bytes > 0, "{game}");
    // The step ruled on is where the honest run and the liar's part ways: both agree on
    // the honest state before it and the honest hash after it is the fresh run's.
    let step = ruling.step;
    assert_eq!(hex(&ruling.agreed_hash), hex(&fresh.hash_at(step)), "{game}: the agreed state at step {step}");
    let after = fresh.hash_at(step + 1);
    assert_eq!(hex(&ruling.claimed_after[side(honest)]), hex(&after), "{game}: the honest hash after step {step}");
    assert_ne!(ruling.claimed_after[0], ruling.claimed_after[1], "{game}: the parties agree after step {step}");
    if honest == Role::Challenger {
        // The honest challenger's proof opens the agreed state, and the judge reaches the
        // honest post-state.
        assert_eq!(proof.pre_hash, ruling.agreed_hash, "{game}");
        assert_eq!(ruling.rejected, None, "{game}: the honest proof was rejected");
        assert_eq!(ruling.judged_after, Some(after), "{game}: the judge's post-state of step {step}");
    }
    Some(true)
}

#[test]
fn the_honest_side_wins_every_random_game() {
    let first = env_u64("VERIGAME_GAMES_SEED").unwrap_or(FIRST_SEED);
    let cases = env_u64("VERIGAME_GAMES_CASES").unwrap_or(CASES);
    let (mut played, mut disputed) = (0u64, 0u64);
    for seed in first..first + cases {
        // A panic in a party's thread loses the game's description: name the seed.
        let game = std::panic::catch_unwind(|| play(seed)).unwrap_or_else(|panic| {
            let what = panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied());
            panic!("seed {seed}: the game panicked: {}", what.unwrap_or("?"))
        });
        let Some(was_disputed) = game else { continue };
        played += 1;
        disputed += u64::from(was_disputed);
    }
    eprintln!("{played} of {cases} games played, {disputed} disputed");
    // Most games must be played and most of those disputed, or the test checks little
    // (a reproduction of a few seeds is exempt).
    if cases < 50 {
        return;
    }
    assert!(played * 4 >= cases * 3, "only {played} of {cases} games could be played");
    assert!(disputed * 3 >= played * 2, "only {disputed} of {played} games were disputed");
}
