//! Speed of the stepper's fast path against wasmi on the bundled real programs, shared
//! by `verigame bench` and the criterion benchmarks.
//!
//! The wasmi here is the workspace's build: its portable (loop) dispatch, which
//! `Cargo.toml` selects because the tail-call dispatch overflows the native stack on
//! some modules. wasmi's default tail-call build is 2 to 3.5 times as fast;
//! `benches/wasmi-tail` times it on the same programs, and docs/stepper.md records both
//! comparisons.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use stepper::{Config, Machine, Module, Status, Value};

use crate::reference::{Outcome, Reference};
use crate::run::start_call;

/// One call of a bundled program.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub file: &'static str,
    pub export: &'static str,
    pub arg: i32,
}

/// How often the hashed run asks for the state hash, in steps.
pub const HASH_INTERVAL: u64 = 1_000_000;

/// Sizes chosen so each call runs 10^7 to 10^8 steps.
pub const WORKLOADS: &[Workload] = &[
    Workload { file: "fib.wasm", export: "fib_rec", arg: 27 },
    Workload { file: "sort.wasm", export: "sort_checksum", arg: 20000 },
    Workload { file: "matmul.wasm", export: "matmul_trace", arg: 100 },
    Workload { file: "matmul.wasm", export: "mandel", arg: 96 },
    Workload { file: "sha256.wasm", export: "sha256_rounds", arg: 1000 },
    Workload { file: "dispatch.wasm", export: "run_vm", arg: 3000 },
    Workload { file: "memops.wasm", export: "memops", arg: 100 },
];

/// Where the bundled programs live in the source tree.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

/// A workload loaded on both engines, ready to be called repeatedly.
pub struct Prepared {
    pub workload: Workload,
    bytes: Vec<u8>,
    module: std::sync::Arc<Module>,
    /// The module compiled for normal mode, and how long instrumenting and compiling took.
    jit: jit::Jit,
    pub compile: Duration,
}

impl Prepared {
    pub fn new(dir: &Path, workload: Workload) -> Result<Self> {
        let path = dir.join(workload.file);
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let module = Module::new(&bytes)?;
        let start = Instant::now();
        let jit = jit::Jit::new(&bytes, &Config::default())?;
        let compile = start.elapsed();
        Ok(Self { workload, bytes, module, jit, compile })
    }

    fn arg(&self) -> [String; 1] {
        [self.workload.arg.to_string()]
    }

    /// A fresh stepper machine with the call started, so timing covers execution only.
    pub fn stepper_machine(&self) -> Result<Machine> {
        start_call(&self.module, self.workload.export, &self.arg(), Config::default())
    }

    /// Runs the call on the stepper's fast path, asking for the state hash every
    /// `hash_every` steps if given: elapsed time, steps and results.
    pub fn time_stepper(&self, hash_every: Option<u64>) -> Result<(Duration, u64, Vec<Value>)> {
        let mut machine = self.stepper_machine()?;
        let start = Instant::now();
        let status = match hash_every {
            None => machine.run(u64::MAX),
            Some(interval) => loop {
                let status = machine.run(interval);
                std::hint::black_box(merkle_memory::state_hash(&mut machine));
                if status != Status::Running {
                    break status;
                }
            },
        };
        let elapsed = start.elapsed();
        if status != Status::Returned {
            bail!("{} ended {status:?} on the stepper", self.workload.export);
        }
        Ok((elapsed, machine.steps(), machine.results()))
    }

    /// Runs the call in normal mode on a fresh machine, and its state hash: the whole
    /// call as a node or a validator makes it (the machine's state in and out of the
    /// compiled code included). Elapsed time and results.
    pub fn time_jit(&self) -> Result<(Duration, Vec<Value>)> {
        let (mut machine, _) = Machine::load(&self.module, Config::default())?;
        let args = [Value::I32(self.workload.arg)];
        let start = Instant::now();
        let served = self.jit.call(&mut machine, self.workload.export, &args, u64::MAX, Default::default())?;
        std::hint::black_box(merkle_memory::state_hash(&mut machine));
        let elapsed = start.elapsed();
        if served != jit::Served::Compiled {
            bail!("{} ran on the stepper in normal mode: {served:?}", self.workload.export);
        }
        Ok((elapsed, machine.results()))
    }

    /// A fresh wasmi instance, so timing covers execution only.
    pub fn wasmi_instance(&self) -> Result<Reference> {
        Reference::new(&self.bytes)
    }

    pub fn call_wasmi(&self, reference: &mut Reference) -> Result<Vec<Value>> {
        match reference.call(self.workload.export, &[Value::I32(self.workload.arg)])? {
            Outcome::Returned(values) => Ok(values),
            Outcome::Trapped(trap) => bail!("{} trapped on wasmi: {trap}", self.workload.export),
        }
    }

    pub fn time_wasmi(&self) -> Result<(Duration, Vec<Value>)> {
        let mut reference = self.wasmi_instance()?;
        let start = Instant::now();
        let results = self.call_wasmi(&mut reference)?;
        Ok((start.elapsed(), results))
    }
}

/// Median of `repeat` timings of each engine for one workload.
pub struct Measurement {
    pub workload: Workload,
    pub steps: u64,
    pub stepper: Duration,
    /// The stepper asking for the state hash every [`HASH_INTERVAL`] steps.
    pub hashed: Duration,
    pub wasmi: Duration,
    /// Normal mode: the compiled call and the final state hash.
    pub jit: Duration,
    pub compile: Duration,
}

impl Measurement {
    pub fn ratio(&self) -> f64 {
        self.stepper.as_secs_f64() / self.wasmi.as_secs_f64()
    }

    /// How much slower hashing every [`HASH_INTERVAL`] steps makes the fast path.
    pub fn hash_overhead(&self) -> f64 {
        self.hashed.as_secs_f64() / self.stepper.as_secs_f64()
    }

    pub fn jit_ratio(&self) -> f64 {
        self.jit.as_secs_f64() / self.wasmi.as_secs_f64()
    }

    pub fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.stepper.as_secs_f64()
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Measures one workload, checking that both engines agree on the results.
pub fn measure(prepared: &Prepared, repeat: usize) -> Result<Measurement> {
    let (mut stepper_times, mut hashed_times, mut wasmi_times, mut jit_times, mut steps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..repeat.max(1) {
        let (elapsed, n, ours) = prepared.time_stepper(None)?;
        let (hashed, _, _) = prepared.time_stepper(Some(HASH_INTERVAL))?;
        let (reference_time, theirs) = prepared.time_wasmi()?;
        if ours != theirs {
            bail!("{}: the stepper returned {ours:?}, wasmi {theirs:?}", prepared.workload.export);
        }
        let (jit_time, compiled) = prepared.time_jit()?;
        if ours != compiled {
            bail!("{}: the stepper returned {ours:?}, normal mode {compiled:?}", prepared.workload.export);
        }
        jit_times.push(jit_time);
        stepper_times.push(elapsed);
        hashed_times.push(hashed);
        wasmi_times.push(reference_time);
        steps = n;
    }
    Ok(Measurement {
        workload: prepared.workload,
        steps,
        stepper: median(stepper_times),
        hashed: median(hashed_times),
        wasmi: median(wasmi_times),
        jit: median(jit_times),
        compile: prepared.compile,
    })
}

/// Geometric mean of the stepper/wasmi time ratios.
pub fn mean_ratio(measurements: &[Measurement]) -> f64 {
    geometric_mean(measurements.iter().map(Measurement::ratio))
}

/// Geometric mean of the normal mode/wasmi time ratios.
pub fn mean_jit_ratio(measurements: &[Measurement]) -> f64 {
    geometric_mean(measurements.iter().map(Measurement::jit_ratio))
}

fn geometric_mean(ratios: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = ratios.len() as f64;
    (ratios.map(f64::ln).sum::<f64>() / n).exp()
}

pub fn print_table(measurements: &[Measurement]) {
    println!(
        "{:<28} {:>13} {:>12} {:>11} {:>7} {:>10} {:>10} {:>8} {:>9} {:>11}",
        "program",
        "steps",
        "stepper ms",
        "wasmi* ms",
        "ratio",
        "Msteps/s",
        "hashed/1M",
        "jit ms",
        "jit/wasmi",
        "compile ms"
    );
    for m in measurements {
        let name = format!("{}({})", m.workload.export, m.workload.arg);
        println!(
            "{:<28} {:>13} {:>12.1} {:>11.1} {:>7.2} {:>10.1} {:>9.3}x {:>8.1} {:>9.2} {:>11.1}",
            name,
            m.steps,
            m.stepper.as_secs_f64() * 1e3,
            m.wasmi.as_secs_f64() * 1e3,
            m.ratio(),
            m.steps_per_second() / 1e6,
            m.hash_overhead(),
            m.jit.as_secs_f64() * 1e3,
            m.jit_ratio(),
            m.compile.as_secs_f64() * 1e3,
        );
    }
    println!("geometric mean ratio stepper/wasmi: {:.2}", mean_ratio(measurements));
    println!("geometric mean ratio normal mode (jit)/wasmi: {:.2}", mean_jit_ratio(measurements));
    println!("* wasmi 2.0 with portable dispatch (deterministic, eager); its 2-3.5x faster tail-call build: benches/wasmi-tail");
    println!(
        "hashed/1M: stepper time when it also computes the state hash every {HASH_INTERVAL} steps, over the fast path"
    );
    println!(
        "jit: normal mode (wasmtime on the instrumented module, exact steps and gas), the call with the machine's \
         state in and out and the final state hash; compile: instrumenting and compiling once"
    );
}

pub fn to_json(measurements: &[Measurement]) -> serde_json::Value {
    json!({
        "workloads": measurements.iter().map(|m| json!({
            "file": m.workload.file,
            "export": m.workload.export,
            "arg": m.workload.arg,
            "steps": m.steps,
            "stepper_seconds": m.stepper.as_secs_f64(),
            "wasmi_seconds": m.wasmi.as_secs_f64(),
            "hashed_seconds": m.hashed.as_secs_f64(),
            "hash_overhead": m.hash_overhead(),
            "ratio": m.ratio(),
            "jit_seconds": m.jit.as_secs_f64(),
            "jit_ratio": m.jit_ratio(),
            "compile_seconds": m.compile.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "geometric_mean_ratio": mean_ratio(measurements),
        "geometric_mean_jit_ratio": mean_jit_ratio(measurements),
    })
}

/// A call of a bundled program, as `FILE:EXPORT:ARG` names it on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub file: String,
    pub export: String,
    pub arg: i32,
}

impl std::str::FromStr for Program {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not FILE:EXPORT:ARG (for example sort.wasm:sort_checksum:1000)");
        let mut parts = s.split(':');
        let (Some(file), Some(export), Some(arg), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let arg = arg.parse().map_err(|_| bad())?;
        Ok(Self { file: file.into(), export: export.into(), arg })
    }
}

impl std::fmt::Display for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}({})", self.file, self.export, self.arg)
    }
}

/// The runs `bench --dispute` plays games on: about 2 * 10^8 and 10^9 steps, and a
/// memory grown to 1 GiB with a word written in every 512-byte chunk (issue 15).
pub const DISPUTE_WORKLOADS: &[Workload] = &[
    Workload { file: "sort.wasm", export: "sort_checksum", arg: 100_000 },
    Workload { file: "sha256.wasm", export: "sha256_rounds", arg: 24_000 },
    Workload { file: "../contracts/big_memory.wat", export: "grow_and_touch", arg: 1024 },
];

/// The degrees `bench --dispute` compares by default.
pub const DISPUTE_DEGREES: &[u64] = &[2, 4, 8, 16];

/// Where in the run the liar of a benchmark game starts lying, in tenths of its steps:
/// late, so the game bisects most of the run.
const FAULT_AT_TENTHS: u64 = 7;

impl From<&Workload> for Program {
    fn from(w: &Workload) -> Self {
        Self { file: w.file.into(), export: w.export.into(), arg: w.arg }
    }
}

/// The games of a dispute benchmark at one degree.
pub struct GameTiming {
    pub degree: u64,
    pub rounds: usize,
    /// Median wall time of the whole `traces::game::dispute`: both recordings, every
    /// round and the ruling.
    pub time: Duration,
    /// The shortest of those times: on a shared machine, the one least slowed by others.
    pub best: Duration,
    /// The process's processor time in that game (both parties' threads together).
    pub cpu: Option<Duration>,
    /// The process's peak resident memory during the games (both parties and the
    /// referee), where /proc tells it.
    pub peak_rss: Option<u64>,
    pub breakdown: Breakdown,
}

/// Where one more game at the same degree spends its time, and each party's memory.
pub struct Breakdown {
    /// Both recordings, side by side.
    pub recording: Duration,
    /// The rounds and the ruling.
    pub rounds: Duration,
    /// The time each party spent answering the rounds: the honest one's, the faulty one's.
    pub answering: [Duration; 2],
    /// The most checkpoint bytes ([`traces::Trace::memory_bytes`]) each party held after
    /// recording or after any round: the honest one's, the faulty one's.
    pub checkpoint_bytes: [usize; 2],
}

/// Whole verification games on one program, timed against a plain run of it.
pub struct DisputeMeasurement {
    pub program: Program,
    pub steps: u64,
    /// Median time of the plain run: the fast path, then the final state hash (what a
    /// run must give to be compared), no checkpoints.
    pub plain: Duration,
    /// The shortest plain run.
    pub plain_best: Duration,
    pub fault: traces::Fault,
    pub games: Vec<GameTiming>,
}

impl DisputeMeasurement {
    pub fn ratio(&self, game: &GameTiming) -> f64 {
        game.time.as_secs_f64() / self.plain.as_secs_f64()
    }

    /// The shortest game over the shortest plain run.
    pub fn best_ratio(&self, game: &GameTiming) -> f64 {
        game.best.as_secs_f64() / self.plain_best.as_secs_f64()
    }
}

/// A party that notes the time it takes to answer and the most checkpoint memory its
/// trace holds.
struct Metered {
    party: traces::LocalParty,
    answering: Duration,
    peak: usize,
}

impl Metered {
    fn new(party: traces::LocalParty) -> Self {
        let peak = party.trace.memory_bytes();
        Self { party, answering: Duration::ZERO, peak }
    }
}

impl traces::Party for Metered {
    fn claim(&mut self) -> Result<traces::Claim, String> {
        self.party.claim()
    }

    fn hashes(&mut self, round: u32, range: (u64, u64), points: &[u64]) -> Result<Vec<merkle_memory::Hash>, String> {
        let start = Instant::now();
        let hashes = self.party.hashes(round, range, points);
        self.answering += start.elapsed();
        self.peak = self.peak.max(self.party.trace.memory_bytes());
        hashes
    }

    fn prove(&mut self, step: u64) -> Result<judge::Proof, String> {
        self.party.prove(step)
    }
}

/// Resets the process's peak resident memory to its current one, where Linux allows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory in bytes (VmHWM), where /proc tells it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// The processor time the process has used, all its threads (those ended too), where
/// /proc tells it: user and system time in clock ticks of 1/100 s (Linux's fixed USER_HZ).
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses: utime and stime are
    // the 12th and 13th of them.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Plays games on `program` at each of `degrees`, with a memory liar as the defender
/// from 70% of the run on, under the default trace limits: `repeat` timed
/// `traces::game::dispute`s, then one more for the breakdown of its time and memory.
pub fn measure_dispute(dir: &Path, program: &Program, degrees: &[u64], repeat: usize) -> Result<DisputeMeasurement> {
    use traces::game::{dispute, record_parties, Referee};
    use traces::{Call, Fault, Limits, Role};
    let path = dir.join(&program.file);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let call = Call::new(bytes, &program.export, vec![Value::I32(program.arg)], Config::default())?;
    let (mut plain, mut steps) = (Vec::new(), 0);
    for _ in 0..repeat.max(1) {
        let mut machine = call.start()?;
        let start = Instant::now();
        let status = machine.run(u64::MAX);
        merkle_memory::state_hash(&mut machine);
        plain.push(start.elapsed());
        if status != Status::Returned {
            bail!("{program} ended {status:?}");
        }
        steps = machine.steps();
    }
    let fault = Fault::Memory(steps / 10 * FAULT_AT_TENTHS);
    let limits = Limits::default();
    let won = |outcome: &traces::Outcome| {
        if outcome.winner == Role::Challenger && outcome.disputed {
            Ok(outcome.transcript.rounds.len())
        } else {
            Err(anyhow::anyhow!("{program}: the liar ({fault}) was not caught: {}", outcome.reason))
        }
    };
    let referee = Referee::new(call.clone())?;
    let mut games = Vec::new();
    for &degree in degrees {
        let (mut times, mut cpus, mut rounds) = (Vec::new(), Vec::new(), 0);
        reset_peak_rss();
        for _ in 0..repeat.max(1) {
            let (start, cpu) = (Instant::now(), process_cpu());
            let outcome = dispute(&call, fault, Role::Defender, degree, &limits, &|_, _| {})?;
            times.push(start.elapsed());
            cpus.extend(cpu.zip(process_cpu()).map(|(before, after)| after - before));
            rounds = won(&outcome)?;
        }
        let peak_rss = peak_rss();
        let start = Instant::now();
        let (honest, liar) = record_parties(&call, fault, Role::Defender, &limits, &|_, _| {})?;
        let recording = start.elapsed();
        let (mut honest, mut liar) = (Metered::new(honest), Metered::new(liar));
        let start = Instant::now();
        won(&referee.play(degree, &mut liar, &mut honest))?;
        let breakdown = Breakdown {
            recording,
            rounds: start.elapsed(),
            answering: [honest.answering, liar.answering],
            checkpoint_bytes: [honest.peak, liar.peak],
        };
        let cpu = (!cpus.is_empty()).then(|| median(cpus));
        let best = *times.iter().min().expect("at least one game");
        games.push(GameTiming { degree, rounds, time: median(times), best, cpu, peak_rss, breakdown });
    }
    let plain_best = *plain.iter().min().expect("at least one run");
    Ok(DisputeMeasurement { program: program.clone(), steps, plain: median(plain), plain_best, fault, games })
}

const MIB: f64 = (1 << 20) as f64;

fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".to_string(), |d| format!("{:.3}", d.as_secs_f64()))
}

pub fn print_dispute_table(measurements: &[DisputeMeasurement]) {
    for m in measurements {
        println!(
            "{}: {} steps, plain run {:.3} s (best {:.3} s); the defender lies from {}",
            m.program,
            m.steps,
            m.plain.as_secs_f64(),
            m.plain_best.as_secs_f64(),
            m.fault
        );
        println!(
            "{:>6} {:>6} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9} {:>10}",
            "degree",
            "rounds",
            "dispute s",
            "/ plain",
            "best s",
            "/ best",
            "cpu s",
            "RSS MiB",
            "record s",
            "rounds s",
            "answer s",
            "ckpt MiB"
        );
        for g in &m.games {
            let b = &g.breakdown;
            println!(
                "{:>6} {:>6} {:>9.3} {:>6.2}x {:>7.3} {:>6.2}x {:>7} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>10}",
                g.degree,
                g.rounds,
                g.time.as_secs_f64(),
                m.ratio(g),
                g.best.as_secs_f64(),
                m.best_ratio(g),
                seconds(g.cpu),
                g.peak_rss.map_or("-".to_string(), |b| format!("{:.0}", b as f64 / MIB)),
                b.recording.as_secs_f64(),
                b.rounds.as_secs_f64(),
                b.answering[0].max(b.answering[1]).as_secs_f64(),
                format!("{:.1}/{:.1}", b.checkpoint_bytes[0] as f64 / MIB, b.checkpoint_bytes[1] as f64 / MIB),
            );
        }
    }
    println!(
        "dispute s: median wall time of the whole game (both recordings on two threads, every round, the ruling),"
    );
    println!("  / plain: over the median plain run; best s: the shortest game, / best: over the shortest plain run;");
    println!("  cpu s: both parties' processor time; RSS: the process's peak (both parties and the referee)");
    println!("one more game: record s, both recordings side by side; rounds s, the rounds and the ruling; answer s,");
    println!("  the slower party's time answering; ckpt MiB, the honest and the faulty party's most checkpoint memory");
}

pub fn dispute_to_json(measurements: &[DisputeMeasurement]) -> serde_json::Value {
    json!({
        "disputes": measurements.iter().map(|m| json!({
            "file": m.program.file,
            "export": m.program.export,
            "arg": m.program.arg,
            "steps": m.steps,
            "plain_seconds": m.plain.as_secs_f64(),
            "plain_best_seconds": m.plain_best.as_secs_f64(),
            "fault": m.fault.to_string(),
            "games": m.games.iter().map(|g| json!({
                "degree": g.degree,
                "rounds": g.rounds,
                "seconds": g.time.as_secs_f64(),
                "ratio": m.ratio(g),
                "best_seconds": g.best.as_secs_f64(),
                "best_ratio": m.best_ratio(g),
                "cpu_seconds": g.cpu.map(|d| d.as_secs_f64()),
                "peak_rss_bytes": g.peak_rss,
                "recording_seconds": g.breakdown.recording.as_secs_f64(),
                "rounds_seconds": g.breakdown.rounds.as_secs_f64(),
                "answering_seconds": {
                    "honest": g.breakdown.answering[0].as_secs_f64(),
                    "faulty": g.breakdown.answering[1].as_secs_f64(),
                },
                "checkpoint_bytes": {"honest": g.breakdown.checkpoint_bytes[0], "faulty": g.breakdown.checkpoint_bytes[1]},
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
