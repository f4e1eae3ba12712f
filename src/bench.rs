//! Speed of the stepper's fast path against wasmi on the bundled real programs, shared
//! by `verigame bench` and the criterion benchmarks.
//!
//! The wasmi here is the workspace's build: its portable (loop) dispatch, which
//! `Cargo.toml` selects because the tail-call dispatch overflows the native stack on
//! some modules. wasmi's default tail-call build is about twice as fast; docs/stepper.md
//! records both comparisons.

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
}

impl Prepared {
    pub fn new(dir: &Path, workload: Workload) -> Result<Self> {
        let path = dir.join(workload.file);
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let module = Module::new(&bytes)?;
        Ok(Self { workload, bytes, module })
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
        Ok((elapsed, machine.steps, machine.results()))
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
}

impl Measurement {
    pub fn ratio(&self) -> f64 {
        self.stepper.as_secs_f64() / self.wasmi.as_secs_f64()
    }

    /// How much slower hashing every [`HASH_INTERVAL`] steps makes the fast path.
    pub fn hash_overhead(&self) -> f64 {
        self.hashed.as_secs_f64() / self.stepper.as_secs_f64()
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
    let (mut stepper_times, mut hashed_times, mut wasmi_times, mut steps) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..repeat.max(1) {
        let (elapsed, n, ours) = prepared.time_stepper(None)?;
        let (hashed, _, _) = prepared.time_stepper(Some(HASH_INTERVAL))?;
        let (reference_time, theirs) = prepared.time_wasmi()?;
        if ours != theirs {
            bail!("{}: the stepper returned {ours:?}, wasmi {theirs:?}", prepared.workload.export);
        }
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
    })
}

/// Geometric mean of the stepper/wasmi time ratios.
pub fn mean_ratio(measurements: &[Measurement]) -> f64 {
    let logs: f64 = measurements.iter().map(|m| m.ratio().ln()).sum();
    (logs / measurements.len() as f64).exp()
}

pub fn print_table(measurements: &[Measurement]) {
    println!(
        "{:<28} {:>13} {:>12} {:>11} {:>7} {:>10} {:>10}",
        "program", "steps", "stepper ms", "wasmi* ms", "ratio", "Msteps/s", "hashed/1M"
    );
    for m in measurements {
        let name = format!("{}({})", m.workload.export, m.workload.arg);
        println!(
            "{:<28} {:>13} {:>12.1} {:>11.1} {:>7.2} {:>10.1} {:>9.3}x",
            name,
            m.steps,
            m.stepper.as_secs_f64() * 1e3,
            m.wasmi.as_secs_f64() * 1e3,
            m.ratio(),
            m.steps_per_second() / 1e6,
            m.hash_overhead()
        );
    }
    println!("geometric mean ratio stepper/wasmi: {:.2}", mean_ratio(measurements));
    println!("* wasmi 2.0 with portable dispatch (deterministic, eager); its tail-call build is about 2x faster");
    println!("hashed/1M: stepper time when it also computes the state hash every {HASH_INTERVAL} steps, over the fast path");
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
        })).collect::<Vec<_>>(),
        "geometric_mean_ratio": mean_ratio(measurements),
    })
}
