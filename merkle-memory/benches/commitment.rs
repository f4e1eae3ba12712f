//! What memory commitments cost, against the raw Keccak-256 throughput that bounds them.
//!
//! Groups (criterion, plus a summary printed to stderr after each group, from the best of
//! a few more runs):
//!
//! * `keccak`: raw Keccak-256 over 1 MiB of random bytes: the limit.
//! * `full_root`: a memory's chunk root from scratch (random contents, empty cache) for
//!   1 MiB and 64 MiB, with raw Keccak over the same bytes beside it. 1 GiB takes
//!   minutes and is opt-in: `MERKLE_BENCH_1GIB=1 cargo bench -p merkle-memory`.
//! * `chunk_size`: the full root of 1 MiB for chunk sizes 32 to 4096 bytes, printing what
//!   opening one chunk costs in proof bytes (for choosing the default chunk size).
//! * `incremental`: the state hash after k dirty chunks (k = 1, 16, 256) in machines with
//!   1 MiB and 64 MiB of memory: it should not depend on the memory's size.
//! * `program`: real programs on the fast path, and the same runs asking for the state
//!   hash every 1,000,000 steps.
//! * `grow`: `memory.grow` of a fresh one-page memory to 1 GiB, then the state hash
//!   (issue 15): pages never written should cost neither hashing nor RAM.
//!
//! `cargo bench -p merkle-memory -- GROUP` runs one group.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use merkle_memory::hash::keccak;
use merkle_memory::{memory, state_hash};
use stepper::store::{Memory, PAGE_SIZE};
use stepper::{Config, Extern, Machine, Module, Status, Value};

const MIB: usize = 1 << 20;

/// The default chunk size, which the groups other than `chunk_size` measure.
fn default_chunk() -> u32 {
    Config::default().memory_chunk_size
}
const HASH_INTERVAL: u64 = 1_000_000;

/// xorshift64* bytes: incompressible contents, so no chunk is all zero.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = vec![0u8; n];
    for word in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        word.copy_from_slice(&v[..word.len()]);
    }
    out
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// The fastest of `reps` runs: the machine is shared (others build on it), and the
/// minimum is what is least disturbed by them.
fn best(mut f: impl FnMut() -> Duration, reps: usize) -> Duration {
    (0..reps).map(|_| f()).min().expect("at least one run")
}

/// Whether to print a group's summary: under `cargo bench` (not in `cargo test`'s quick
/// run of the benches) and when the group is not filtered out.
fn summarize(group: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-'));
    args.iter().any(|a| a == "--bench") && filter.is_none_or(|f| group.contains(f.as_str()) || f.starts_with(group))
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

/// The chunk root of `mem` rebuilt from scratch: the cached layers are dropped first
/// (untimed), as in a memory just restored from a snapshot.
fn fresh_root(mem: &mut Memory) -> Duration {
    mem.data_and_cache().1.layers.clear();
    time(|| memory::chunks_root(mem))
}

fn random_memory(bytes: usize, chunk: u32) -> Memory {
    Memory::new(random_bytes(bytes as u64, bytes), None, chunk)
}

fn keccak_throughput(c: &mut Criterion) {
    let data = random_bytes(1, MIB);
    let mut g = c.benchmark_group("keccak");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("1 MiB", |b| b.iter(|| keccak(black_box(&data))));
    g.finish();
    if !summarize("keccak") {
        return;
    }
    let t = best(|| time(|| keccak(&data)), 21);
    eprintln!("\nkeccak: raw Keccak-256 {:.0} MiB/s", 1.0 / t.as_secs_f64());
}

fn full_root(c: &mut Criterion) {
    let mut sizes = vec![MIB, 64 * MIB];
    let gib = std::env::var_os("MERKLE_BENCH_1GIB").is_some();
    if gib {
        sizes.push(1024 * MIB);
    }
    let mut summary = Vec::new();
    let mut g = c.benchmark_group("full_root");
    for &size in &sizes {
        let mut mem = random_memory(size, default_chunk());
        let name = size_name(size);
        g.throughput(Throughput::Bytes(size as u64));
        if size > MIB {
            g.sample_size(10);
            g.measurement_time(Duration::from_secs(if size > 64 * MIB { 60 } else { 10 }));
            g.warm_up_time(Duration::from_secs(1));
        }
        g.bench_function(BenchmarkId::new("keccak", &name), |b| b.iter(|| keccak(black_box(mem.data()))));
        g.bench_function(BenchmarkId::new(format!("root, {}-byte chunks", default_chunk()), &name), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fresh_root(&mut mem)).sum())
        });
        if !summarize("full_root") {
            continue;
        }
        let reps = if size > 64 * MIB { 1 } else { 5 };
        let k = best(|| time(|| keccak(mem.data())), reps);
        let r = best(|| fresh_root(&mut mem), reps);
        summary.push(format!(
            "  {name:>7}: root {:>9.2} ms, raw keccak {:>8.2} ms, ratio {:.2}",
            r.as_secs_f64() * 1e3,
            k.as_secs_f64() * 1e3,
            r.as_secs_f64() / k.as_secs_f64()
        ));
    }
    g.finish();
    if !summarize("full_root") {
        return;
    }
    eprintln!("\nfull_root ({}-byte chunks, from scratch) against raw Keccak over the same bytes:", default_chunk());
    summary.iter().for_each(|s| eprintln!("{s}"));
    if !gib {
        eprintln!("  1 GiB skipped: set MERKLE_BENCH_1GIB=1 to measure it (takes minutes, 3 GiB of RAM)");
    }
}

fn chunk_size(c: &mut Criterion) {
    let data = random_bytes(3, MIB);
    let k = best(|| time(|| keccak(&data)), 21);
    let mut summary = Vec::new();
    let mut g = c.benchmark_group("chunk_size");
    g.throughput(Throughput::Bytes(MIB as u64));
    for shift in 5..=12 {
        let chunk = 1u32 << shift;
        let mut mem = Memory::new(data.clone(), None, chunk);
        g.bench_function(BenchmarkId::new("root of 1 MiB", chunk), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fresh_root(&mut mem)).sum())
        });
        if !summarize("chunk_size") {
            continue;
        }
        let r = best(|| fresh_root(&mut mem), 11);
        let proof = memory::chunk_proof(&mut mem, &[0]).proof_hashes().len() * 32;
        // Opening one chunk: its bytes plus one sibling hash per level.
        let opening = |bytes: usize| chunk as usize + 32 * (bytes / chunk as usize).trailing_zeros() as usize;
        summary.push(format!(
            "  {chunk:>5} B: root {:>6.2} ms, ratio to raw keccak {:>5.2}; one chunk's proof {proof:>4} B, \
             opening (chunk + proof) {:>5} B at 1 MiB, {:>5} B at 64 MiB, {:>5} B at 4 GiB",
            r.as_secs_f64() * 1e3,
            r.as_secs_f64() / k.as_secs_f64(),
            opening(MIB),
            opening(64 * MIB),
            opening(4 << 30),
        ));
    }
    g.finish();
    if !summarize("chunk_size") {
        return;
    }
    eprintln!(
        "\nchunk_size: full root of 1 MiB (raw keccak {:.2} ms) and the cost of opening one chunk:",
        k.as_secs_f64() * 1e3
    );
    summary.iter().for_each(|s| eprintln!("{s}"));
}

/// A machine whose only memory holds `bytes` random bytes, commitments cached.
fn machine_with_memory(bytes: usize) -> Machine {
    let pages = bytes / PAGE_SIZE;
    let module = Module::new(format!("(module (memory {pages}) (global (mut i32) (i32.const 0)))").as_bytes()).unwrap();
    let (mut m, _) = Machine::load(&module, Config::default()).unwrap();
    m.memories_mut()[0].write(0, &random_bytes(bytes as u64 + 7, bytes)).unwrap();
    state_hash(&mut m);
    m
}

/// Writes one byte into each of `k` chunks spread over the memory (no two sharing a path
/// below the top levels), moving with `round` so that every round writes new values.
fn dirty(m: &mut Machine, k: usize, round: usize) {
    let mem = &mut m.memories_mut()[0];
    let chunks = memory::chunk_count(mem);
    let stride = chunks / k;
    for i in 0..k {
        let chunk = i * stride + round % stride;
        mem.write(chunk * mem.chunk_size() + round % 61, &[round as u8 ^ 0x5a]).unwrap();
    }
}

fn incremental(c: &mut Criterion) {
    let mut summary = Vec::new();
    let mut g = c.benchmark_group("incremental");
    for size in [MIB, 64 * MIB] {
        let mut m = machine_with_memory(size);
        let depth = memory::chunk_count(&m.store().memories[0]).trailing_zeros();
        for k in [1usize, 16, 256] {
            let name = format!("{} dirty chunks, {}", k, size_name(size));
            let mut round = 0;
            let mut step = |m: &mut Machine| {
                round += 1;
                dirty(m, k, round);
                time(|| state_hash(m))
            };
            g.bench_function(BenchmarkId::new("state hash", &name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| step(&mut m)).sum())
            });
            if !summarize("incremental") {
                continue;
            }
            let t = best(|| step(&mut m), 101);
            summary.push(format!(
                "  {:>7}, depth {depth:>2}, k = {k:>3}: {:>8.1} us, {:>6.2} us per dirty chunk, {:>4.0} ns per chunk and level",
                size_name(size),
                t.as_secs_f64() * 1e6,
                t.as_secs_f64() * 1e6 / k as f64,
                t.as_secs_f64() * 1e9 / (k as f64 * (depth as f64 + 1.0)),
            ));
        }
        // The state hash with nothing dirty: what every hash pays besides the memory.
        let t = best(|| time(|| state_hash(&mut m)), 101);
        summary.push(format!("  {:>7}, nothing dirty: {:>8.1} us", size_name(size), t.as_secs_f64() * 1e6));
    }
    g.finish();
    if !summarize("incremental") {
        return;
    }
    eprintln!("\nincremental: state hash after k dirty chunks ({}-byte chunks):", default_chunk());
    summary.iter().for_each(|s| eprintln!("{s}"));
}

struct Program {
    file: &'static str,
    export: &'static str,
    arg: i32,
}

const PROGRAMS: &[Program] = &[
    Program { file: "sort.wasm", export: "sort_checksum", arg: 20000 },
    Program { file: "sha256.wasm", export: "sha256_rounds", arg: 1000 },
    // memset/memcpy-heavy: the most dirty chunks per million steps.
    Program { file: "memops.wasm", export: "memops", arg: 100 },
];

impl Program {
    fn machine(&self, chunk: u32) -> Machine {
        let path = format!("{}/../tests/programs/{}", env!("CARGO_MANIFEST_DIR"), self.file);
        let module = Module::new(&std::fs::read(&path).expect("bundled program")).unwrap();
        let config = Config { memory_chunk_size: chunk, ..Config::default() };
        let (mut m, instance) = Machine::load(&module, config).unwrap();
        let Some(Extern::Func(f)) = m.export(instance, self.export) else { panic!("no export {}", self.export) };
        m.invoke(f, &[Value::I32(self.arg)]).unwrap();
        m
    }

    /// Runs to the end, asking for the state hash every `interval` steps if given.
    fn run(&self, interval: Option<u64>) -> (Duration, u64) {
        self.run_with(interval, default_chunk())
    }

    fn run_with(&self, interval: Option<u64>, chunk: u32) -> (Duration, u64) {
        let mut m = self.machine(chunk);
        let t = time(|| match interval {
            None => assert_eq!(m.run(u64::MAX), Status::Returned),
            Some(n) => loop {
                let status = m.run(n);
                black_box(state_hash(&mut m));
                if status != Status::Running {
                    assert_eq!(status, Status::Returned);
                    break;
                }
            },
        });
        (t, m.steps())
    }
}

fn program(c: &mut Criterion) {
    let mut summary = Vec::new();
    let mut g = c.benchmark_group("program");
    g.sample_size(10);
    for p in PROGRAMS {
        let name = format!("{}({})", p.export, p.arg);
        for (label, interval) in [("fast path", None), ("state hash every 1M steps", Some(HASH_INTERVAL))] {
            g.bench_function(BenchmarkId::new(label, &name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| p.run(interval).0).sum())
            });
        }
        if !summarize("program") {
            continue;
        }
        let (fast, steps) = (best(|| p.run(None).0, 5), p.run(None).1);
        let hashed = best(|| p.run(Some(HASH_INTERVAL)).0, 5);
        summary.push(format!(
            "  {name}: {steps} steps, fast path {:.1} ms, hashing every 1M steps {:.1} ms ({} hashes), ratio {:.3}",
            fast.as_secs_f64() * 1e3,
            hashed.as_secs_f64() * 1e3,
            steps.div_ceil(HASH_INTERVAL),
            hashed.as_secs_f64() / fast.as_secs_f64()
        ));
    }
    g.finish();
    if !summarize("program") {
        return;
    }
    eprintln!("\nprogram: a state hash every 1,000,000 steps against the fast path ({}-byte chunks):", default_chunk());
    summary.iter().for_each(|s| eprintln!("{s}"));
    // Bulk instructions move a chunk per step, so the chunk size changes both the steps
    // and the bytes each hash covers.
    eprintln!("\nprogram: the same by chunk size (steps, fast path, hashed, ratio):");
    for p in PROGRAMS {
        let cells: Vec<String> = [64u32, 256, 512, 1024, 4096]
            .iter()
            .map(|&chunk| {
                let (fast, steps) = (best(|| p.run_with(None, chunk).0, 3), p.run_with(None, chunk).1);
                let hashed = best(|| p.run_with(Some(HASH_INTERVAL), chunk).0, 3);
                format!(
                    "{chunk} B: {steps}, {:.1} ms, {:.1} ms, {:.3}",
                    fast.as_secs_f64() * 1e3,
                    hashed.as_secs_f64() * 1e3,
                    hashed.as_secs_f64() / fast.as_secs_f64()
                )
            })
            .collect();
        eprintln!("  {}({}): {}", p.export, p.arg, cells.join(" | "));
    }
}

fn grow(c: &mut Criterion) {
    const GROW: &str = r#"(module (memory 1) (func (export "main") (result i32) (memory.grow (i32.const 16383))))"#;
    let module = Module::new(GROW.as_bytes()).unwrap();
    let fresh = || {
        let (mut m, instance) = Machine::load(&module, Config::default()).unwrap();
        let Some(&Extern::Func(f)) = m.store().instances[instance as usize].exports.get("main") else {
            panic!("main is exported")
        };
        m.invoke(f, &[]).unwrap();
        m
    };
    let grow_and_hash = |m: &mut Machine| {
        assert_eq!(m.run(u64::MAX), Status::Returned);
        state_hash(m)
    };
    let mut g = c.benchmark_group("grow");
    g.sample_size(10);
    g.bench_function("1 page to 1 GiB, then the state hash", |b| {
        b.iter_batched(fresh, |mut m| (grow_and_hash(&mut m), m), criterion::BatchSize::PerIteration)
    });
    g.finish();
    if summarize("grow") {
        let t = best(
            || {
                let mut m = fresh();
                time(|| grow_and_hash(&mut m))
            },
            5,
        );
        eprintln!(
            "
grow: 1 page to 1 GiB, then the state hash: {:.3} ms",
            t.as_secs_f64() * 1e3
        );
    }
}

criterion_group!(benches, keccak_throughput, full_root, chunk_size, incremental, program, grow);
criterion_main!(benches);
