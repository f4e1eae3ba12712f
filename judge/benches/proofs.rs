//! One-step proofs on real programs (`cargo bench -p judge`): the size of every proof's
//! compact binary form (`judge::to_bytes(&proof).len()`) by instruction class, opcode and
//! program, the judge's verification time, the compact form's decoding time and the
//! prover's time.
//!
//! The walk proves every step of each run (every `stride`-th step of the longest one,
//! plus every step of an instruction not yet seen 256 times and every memory, table
//! and bulk step), checks each proof with the judge and compares the judge's post-state
//! hash with the stepper's. Then criterion times `judge.check` (group `verify`) and
//! `judge::prove` (group `prove`) on a sample of proofs of every class, and the
//! distribution tables are printed to stderr.
//!
//! Under `cargo test --benches` (no `--bench` argument) the walk stops after a few
//! thousand steps per run and criterion runs each benchmark once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use judge::{prove, Judge, Proof};
use merkle_memory::state_hash;
use stepper::op::{GasClass, Op};
use stepper::{Config, Extern, GasTable, Machine, Module, Status, Value};

/// Labels of a br_table far longer than any C compiler emits.
const BR_TABLE_LABELS: usize = 3000;
/// Bytes of the passive data segment `memory.init` reads.
const DATA_LEN: usize = 2000;

/// A module exercising what the C programs rarely or never do: bulk memory and table
/// instructions over large ranges (far-apart copies in a 40-page memory), growth of
/// both (a null table.grow by a million elements), calls with many parameters and
/// results, call_indirect through several types, deep recursion, a br_table with
/// thousands of labels, many locals, a deep operand stack, and every kind of trap.
fn ops_wat() -> String {
    let labels = (0..BR_TABLE_LABELS).map(|i| (i % 4).to_string()).collect::<Vec<_>>().join(" ");
    let data: String = (0..DATA_LEN).map(|i| format!("\\{:02x}", (i * 7 + 3) as u8)).collect();
    let params = "i32 ".repeat(16);
    let args: String = (0..16).map(|i| format!("(i32.const {i}) ")).collect();
    let many_locals = "i64 ".repeat(300);
    let pushes: String = (0..200).map(|i| format!("(i32.const {i}) ")).collect();
    let adds = "i32.add ".repeat(199);
    let wide_params = "i32 ".repeat(200);
    format!(
        r#"(module
  (import "verigame" "emit" (func $emit (param i64)))
  (import "verigame" "abort" (func $abort (param i32)))
  (type $i2i (func (param i32) (result i32)))
  (type $v2i (func (result i32)))
  (memory 2 64)
  (table $t 8 1024 funcref)
  (table $x 4 externref)
  (table $big 0 funcref)
  (global $g (mut i32) (i32.const 0))
  (global $h (mut i64) (i64.const 1))
  (data $long "{data}")
  (data (i32.const 16) "an active segment")
  (elem $fs funcref (ref.func $inc) (ref.func $dbl) (ref.func $sq) (ref.func $seven))
  (elem (table $t) (i32.const 0) func $inc $dbl $sq $seven)
  (func $inc (type $i2i) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $i2i) (i32.shl (local.get 0) (i32.const 1)))
  (func $sq (type $i2i) (i32.mul (local.get 0) (local.get 0)))
  (func $seven (type $v2i) (i32.const 7))
  (func $many (param {params}) (result i32 i64 i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local.set 20 (i64.extend_i32_u (i32.add (local.get 0) (local.get 15))))
    (local.set 39 (i64.mul (local.get 20) (global.get $h)))
    (i32.xor (local.get 3) (local.get 12)) (local.get 39) (local.get 7))
  (func $rec (param $d i32) (result i32)
    (if (result i32) (local.get $d)
      (then (i32.add (i32.const 1) (call $rec (i32.sub (local.get $d) (i32.const 1)))))
      (else (i32.const 0))))
  (func $forever (param $d i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (i32.add (i32.const 1) (call $forever (i32.add (local.get $d) (i32.const 1)))))

  (func (export "bulk") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (local.set $acc (memory.grow (i32.const 38)))
    (memory.fill (i32.const 100) (i32.const 0x5a) (i32.const 300000))
    (memory.copy (i32.const 1000) (i32.const 1300) (i32.const 100000))
    (memory.copy (i32.const 1301) (i32.const 1000) (i32.const 100000))
    (memory.copy (i32.const 2500000) (i32.const 7) (i32.const 20000))
    (memory.copy (i32.const 3) (i32.const 2400001) (i32.const 20000))
    (memory.init $long (i32.const 2000001) (i32.const 3) (i32.const 1990))
    (data.drop $long)
    (i64.store (i32.const 1020) (i64.const -1))
    (i64.store offset=3 (i32.const 2097149) (i64.const 0x0102030405060708))
    (local.set $acc (i32.add (local.get $acc) (i32.wrap_i64 (i64.load (i32.const 2097148)))))
    (local.set $acc (i32.add (local.get $acc) (memory.size)))
    (local.set $acc (i32.add (local.get $acc) (memory.grow (i32.const 100))))
    (drop (table.grow $t (ref.func $inc) (i32.const 300)))
    (drop (table.grow $t (ref.null func) (i32.const 100)))
    (table.fill $t (i32.const 10) (ref.func $dbl) (i32.const 50))
    (table.copy $t $t (i32.const 20) (i32.const 5) (i32.const 100))
    (table.copy $t $t (i32.const 5) (i32.const 20) (i32.const 100))
    (table.init $t $fs (i32.const 400) (i32.const 0) (i32.const 4))
    (elem.drop $fs)
    (table.set $t (i32.const 6) (table.get $t (i32.const 400)))
    (table.fill $x (i32.const 0) (ref.null extern) (i32.const 4))
    (local.set $acc (i32.add (local.get $acc) (table.size $t)))
    (local.set $acc (i32.add (local.get $acc) (i32.const 99991)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.mul (local.get $acc) (i32.const 1664525)))
        (i32.store (i32.rem_u (local.get $acc) (i32.const 2621000)) (local.get $i))
        (local.set $acc (i32.add (local.get $acc)
          (i32.load16_s offset=7 (i32.rem_u (i32.mul (local.get $i) (i32.const 40503)) (i32.const 2621000)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  ;; Apart from the rest: a million-element table makes every later step's proof costly
  ;; to build (the prover copies the whole machine).
  (func (export "grow_big") (result i32)
    (drop (table.grow $big (ref.null func) (i32.const 1000000)))
    (table.grow $big (ref.null func) (i32.const 1000000)))

  (func (export "calls") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc)
        (call_indirect (type $i2i) (local.get $i) (i32.rem_u (local.get $i) (i32.const 3)))))
      (local.set $acc (i32.add (local.get $acc) (call_indirect (type $v2i) (i32.const 3))))
      (call $many {args})
      (drop)
      (global.set $h (i64.add (global.get $h)))
      (local.set $acc (i32.add (local.get $acc)))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (call $emit (i64.extend_i32_u (local.get $acc)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $acc) (call $rec (i32.const 300))))

  (func (export "branch") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (block $b3
        (block $b2
          (block $b1
            (block $b0
              (br_table {labels} 3
                (i32.rem_u (i32.mul (local.get $i) (i32.const 7919)) (i32.const 3500))))
            (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
            (br $b3))
          (local.set $acc (i32.xor (local.get $acc) (i32.const 0x55)))
          (br $b3))
        (local.set $acc (select (local.get $acc) (i32.const 3) (i32.and (local.get $i) (i32.const 1)))))
      (if (i32.and (local.get $i) (i32.const 2))
        (then (local.set $acc (i32.rotl (local.get $acc) (i32.const 5))))
        (else (local.set $acc (i32.sub (local.get $acc) (i32.const 9)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  (func (export "locals") (param $n i32) (result i64) (local {many_locals}) (local $i i32)
    (loop $l
      (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get $i))))
      (local.set 150 (i64.xor (local.get 150) (local.get 1)))
      (local.set 300 (i64.mul (local.get 300) (i64.const 3)))
      (drop {pushes} {adds})
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i64.add (local.get 150) (local.get 300)))

  ;; A branch dropping 200 operands and a call passing 200 arguments: the hash chain of
  ;; the operand stack makes the proof open every one of them.
  (func $wide (param {wide_params}) (result i32) (local.get 199))
  (func (export "wide") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l
      (block $b {pushes} (br $b))
      (local.set $acc (i32.add (local.get $acc) (call $wide {pushes})))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  (func (export "t_unreachable") unreachable)
  (func (export "t_div") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))
  (func (export "t_overflow") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "t_conv") (result i32) (i32.trunc_f64_s (f64.const nan)))
  (func (export "t_load") (result i32) (i32.load (i32.const -4)))
  (func (export "t_store") (i64.store (i32.const 131068) (i64.const 1)))
  (func (export "t_fill") (memory.fill (i32.const 131000) (i32.const 1) (i32.const 100)))
  (func (export "t_table") (result funcref) (table.get $t (i32.const 5000)))
  (func (export "t_table_copy") (table.copy $t $t (i32.const 0) (i32.const 6) (i32.const 3)))
  (func (export "t_undefined") (result i32) (call_indirect (type $v2i) (i32.const 5000)))
  (func (export "t_null") (result i32) (call_indirect (type $v2i) (i32.const 6)))
  (func (export "t_signature") (result i32) (call_indirect (type $v2i) (i32.const 0)))
  (func (export "t_abort") (call $abort (i32.const 42)))
  (func (export "t_depth") (result i32) (call $forever (i32.const 0)))
  (func (export "spin") (loop $l (br $l))))"#
    )
}

/// One call to prove every step of.
struct Workload {
    label: String,
    module: Arc<Module>,
    judge: Arc<Judge>,
    config: Config,
    export: &'static str,
    args: Vec<Value>,
    /// Prove every `stride`-th step (rare instructions always).
    stride: u64,
    /// Whether its proofs may join the criterion groups' samples (not the outlier whose
    /// table.grow the judge takes milliseconds over).
    timed: bool,
}

fn programs_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/programs").to_string()
}

fn workloads() -> Vec<Workload> {
    let mut out = Vec::new();
    let mut add =
        |label: String, module: &Arc<Module>, config: Config, export: &'static str, args: Vec<Value>, stride: u64| {
            let judge = Arc::new(Judge::new(module.clone(), config.clone()).expect("judge"));
            out.push(Workload { label, module: module.clone(), judge, config, export, args, stride, timed: true });
        };
    let c_programs: [(&str, &str, i32, u64); 9] = [
        ("fib.wasm", "fib_rec", 15, 1),
        ("fib.wasm", "fib_iter", 1000, 1),
        ("sort.wasm", "sort_checksum", 100, 2),
        ("matmul.wasm", "matmul_trace", 10, 1),
        ("matmul.wasm", "mandel", 8, 1),
        ("memops.wasm", "memops", 5, 1),
        ("sha256.wasm", "sha256_rounds", 2, 2),
        ("sha256.wasm", "sha256_selftest", 0, 1),
        ("dispatch.wasm", "run_vm", 10, 4),
    ];
    let mut modules: BTreeMap<&str, Arc<Module>> = BTreeMap::new();
    for (file, export, arg, stride) in c_programs {
        let module = modules
            .entry(file)
            .or_insert_with(|| {
                let bytes = std::fs::read(format!("{}/{file}", programs_dir())).expect("bundled program");
                Module::new(&bytes).expect("bundled program decodes")
            })
            .clone();
        add(format!("{export}({arg})"), &module, Config::default(), export, vec![Value::I32(arg)], stride);
    }
    let ops = Module::new(ops_wat().as_bytes()).expect("the ops module");
    let d = Config::default;
    add("ops bulk(300)".into(), &ops, d(), "bulk", vec![Value::I32(300)], 1);
    add("ops calls(100)".into(), &ops, d(), "calls", vec![Value::I32(100)], 1);
    add("ops branch(1000)".into(), &ops, d(), "branch", vec![Value::I32(1000)], 1);
    add("ops locals(10)".into(), &ops, d(), "locals", vec![Value::I32(10)], 1);
    add("ops wide(10)".into(), &ops, d(), "wide", vec![Value::I32(10)], 1);
    for export in [
        "t_unreachable",
        "t_div",
        "t_overflow",
        "t_conv",
        "t_load",
        "t_store",
        "t_fill",
        "t_table",
        "t_table_copy",
        "t_undefined",
        "t_null",
        "t_signature",
        "t_abort",
    ] {
        add(format!("ops {export}"), &ops, d(), export, vec![], 1);
    }
    let shallow = Config { max_call_depth: 100, ..d() };
    add("ops t_depth (depth 100)".into(), &ops, shallow, "t_depth", vec![], 1);
    let small_stack = Config { max_value_stack: 1000, ..d() };
    add("ops t_depth (stack 1000)".into(), &ops, small_stack, "t_depth", vec![], 1);
    let priced = Config { gas_limit: 500, gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] }, ..d() };
    add("ops spin (out of gas)".into(), &ops, priced, "spin", vec![], 1);
    add("ops grow_big".into(), &ops, d(), "grow_big", vec![], 1);
    out.last_mut().expect("just added").timed = false;
    out
}

/// One proven step.
struct Record {
    workload: usize,
    step: u64,
    pc: u32,
    class: GasClass,
    size: usize,
    verify: Duration,
    prove: Duration,
}

/// Proofs and pre-state machines kept for the criterion groups.
struct Sample {
    workload: usize,
    class: GasClass,
    proof: Proof,
    machine: Machine,
}

fn start(w: &Workload) -> Machine {
    let (mut m, instance) = Machine::load(&w.module, w.config.clone()).expect("loads");
    let Some(Extern::Func(f)) = m.export(instance, w.export) else { panic!("no export {}", w.export) };
    m.invoke(f, &w.args).expect("call starts");
    m
}

fn op_at(m: &Machine) -> Option<(u32, Op)> {
    let (_, instance) = m.current()?;
    Some((m.pc(), instance.module.code[m.pc() as usize]))
}

fn op_name(op: &Op) -> String {
    let text = op.to_string();
    text.split(' ').next().unwrap_or("").to_string()
}

/// Walks one run, proving and judging the steps the stride selects.
fn walk(
    index: usize,
    w: &Workload,
    max_steps: u64,
    records: &mut Vec<Record>,
    samples: &mut Vec<Sample>,
) -> (u64, Status) {
    let mut m = start(w);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_class = [0u64; GasClass::COUNT];
    while m.status() == Status::Running && m.steps() < max_steps {
        let (pc, op) = op_at(&m).expect("a running machine is in a wasm function");
        let class = op.gas_class();
        let name = op_name(&op);
        let count = seen.entry(name).or_default();
        *count += 1;
        let rare = *count <= 256 || matches!(class, GasClass::MemoryTable | GasClass::Bulk);
        if !(rare || m.steps().is_multiple_of(w.stride)) {
            m.step();
            continue;
        }
        let pre = state_hash(&mut m);
        let t = Instant::now();
        let proof = prove(&m);
        let prove_time = t.elapsed();
        let t = Instant::now();
        let verdict = w.judge.check(&proof);
        let verify_time = t.elapsed();
        let verdict = verdict
            .unwrap_or_else(|e| panic!("{} step {}: the judge refuses the honest proof: {e}", w.label, m.steps()));
        assert_eq!(proof.pre_hash, pre, "{} step {}", w.label, m.steps());
        let size = judge::to_bytes(&proof).len();
        records.push(Record {
            workload: index,
            step: m.steps(),
            pc,
            class,
            size,
            verify: verify_time,
            prove: prove_time,
        });
        // Keep the 1st, 4th, 16th, ... proof of each class for the timed sample.
        let n = &mut per_class[class as usize];
        *n += 1;
        if w.timed && n.is_power_of_two() && n.trailing_zeros() % 2 == 0 {
            samples.push(Sample { workload: index, class, proof, machine: m.clone() });
        }
        m.step();
        assert_eq!(verdict.post_hash, state_hash(&mut m), "{} step {}: post-state", w.label, m.steps() - 1);
    }
    (m.steps(), m.status())
}

/// The value at quantile `q` (nearest rank) of sorted `v`.
fn quantile<T: Copy>(sorted: &[T], q: f64) -> T {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Stats {
    count: usize,
    min: usize,
    median: usize,
    p90: usize,
    max: usize,
    verify_median: Duration,
    prove_median: Duration,
}

fn stats<'a>(records: impl Iterator<Item = &'a Record>) -> Option<Stats> {
    let records: Vec<&Record> = records.collect();
    if records.is_empty() {
        return None;
    }
    let mut sizes: Vec<usize> = records.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    let mut verify: Vec<Duration> = records.iter().map(|r| r.verify).collect();
    verify.sort_unstable();
    let mut prove: Vec<Duration> = records.iter().map(|r| r.prove).collect();
    prove.sort_unstable();
    Some(Stats {
        count: sizes.len(),
        min: sizes[0],
        median: quantile(&sizes, 0.5),
        p90: quantile(&sizes, 0.9),
        max: *sizes.last().expect("not empty"),
        verify_median: quantile(&verify, 0.5),
        prove_median: quantile(&prove, 0.5),
    })
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn row(name: &str, s: &Stats) -> String {
    format!(
        "{name:<28} {:>8} {:>6} {:>7} {:>6} {:>6} {:>10} {:>10}",
        s.count,
        s.min,
        s.median,
        s.p90,
        s.max,
        micros(s.verify_median),
        micros(s.prove_median)
    )
}

fn header(first: &str) -> String {
    format!(
        "{first:<28} {:>8} {:>6} {:>7} {:>6} {:>6} {:>10} {:>10}",
        "count", "min", "median", "p90", "max", "verify µs", "prove µs"
    )
}

/// Where a proof's bytes go: its size without any opening, and what each opening adds
/// (less the 32 bytes of the commitment it determines, which is then not written).
fn breakdown(p: &Proof) -> String {
    let size = |q: &Proof| judge::to_bytes(q).len();
    let total = size(p);
    let mut parts = Vec::new();
    let mut bare = p.clone();
    bare.stack.indices.clear();
    bare.stack.values.clear();
    bare.stack.proof.clear();
    bare.caller = None;
    bare.globals = None;
    bare.memory = None;
    bare.tables = None;
    bare.segments = None;
    parts.push(format!("fixed {}", size(&bare)));
    let mut part = |name: &str, f: &dyn Fn(&mut Proof)| {
        let mut q = p.clone();
        f(&mut q);
        let d = total as i64 - size(&q) as i64;
        if d != 0 {
            parts.push(format!("{name} {d}"));
        }
    };
    part("stack", &|q| {
        q.stack.indices.clear();
        q.stack.values.clear();
        q.stack.proof.clear();
    });
    part("caller", &|q| q.caller = None);
    part("globals", &|q| q.globals = None);
    part("tables", &|q| q.tables = None);
    part("segments", &|q| q.segments = None);
    if let Some(m) = &p.memory {
        parts.push(format!(
            "memory {} ({} chunks {} B, chunk proof {} hashes, memories proof {} hashes)",
            total as i64 - size(&Proof { memory: None, ..p.clone() }) as i64,
            m.chunks.len(),
            m.chunks.iter().map(|(_, b)| b.len()).sum::<usize>(),
            m.chunks_proof.len(),
            m.memories_proof.len()
        ));
    }
    parts.join(", ")
}

/// Each sampled proof's time for `run` on it (given its index; the median of 21 runs), by
/// class.
fn sample_times(samples: &[Sample], run: impl Fn(usize, &Sample)) -> Vec<(GasClass, Duration)> {
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut times: Vec<Duration> = (0..21)
                .map(|_| {
                    let t = Instant::now();
                    run(i, std::hint::black_box(s));
                    t.elapsed()
                })
                .collect();
            times.sort_unstable();
            (s.class, times[times.len() / 2])
        })
        .collect()
}

fn report(ws: &[Workload], records: &[Record], samples: &[Sample], walk_time: Duration, runs: &[(u64, Status)]) {
    let class_name = |c: GasClass| c.name();
    let instruction = |r: &Record| ws[r.workload].module.code[r.pc as usize].to_string();
    eprintln!();
    eprintln!("==== one-step proofs: sizes in bytes of the compact binary form, judge::to_bytes(&proof) ====");
    eprintln!(
        "{} proofs of {} runs proven and judged in {:.1} s (verify and prove times below are single measurements during the walk, medians)",
        records.len(),
        ws.len(),
        walk_time.as_secs_f64()
    );
    eprintln!();
    eprintln!("-- runs --");
    eprintln!("{} {:>8} {:>10}", header("program"), "steps", "status");
    for (i, w) in ws.iter().enumerate() {
        if let Some(s) = stats(records.iter().filter(|r| r.workload == i)) {
            eprintln!(
                "{} {:>8} {:>10}",
                row(&w.label, &s),
                runs[i].0,
                format!("{:?}", runs[i].1).split('(').next().unwrap_or("")
            );
        }
    }
    eprintln!();
    eprintln!("-- by instruction class --");
    eprintln!("{}", header("class"));
    for class in GasClass::ALL {
        if let Some(s) = stats(records.iter().filter(|r| r.class == class)) {
            eprintln!("{}", row(class_name(class), &s));
        }
    }
    let all = stats(records.iter()).expect("proofs");
    eprintln!("{}", row("ALL", &all));
    let is_c = |r: &&Record| !ws[r.workload].label.starts_with("ops ");
    let c_programs = stats(records.iter().filter(is_c)).expect("proofs of the C programs");
    eprintln!("{}", row("ALL (C programs)", &c_programs));
    eprintln!(
        "{}",
        row("ALL (ops module)", &stats(records.iter().filter(|r| !is_c(r))).expect("proofs of the ops module"))
    );
    eprintln!();
    eprintln!("-- by opcode --");
    eprintln!("{}", header("class / opcode"));
    let mut by_op: BTreeMap<(u8, String), Vec<&Record>> = BTreeMap::new();
    for r in records {
        let op = ws[r.workload].module.code[r.pc as usize];
        by_op.entry((r.class as u8, op_name(&op))).or_default().push(r);
    }
    for ((class, name), rs) in &by_op {
        let s = stats(rs.iter().copied()).expect("not empty");
        eprintln!("{}", row(&format!("{} {name}", class_name(GasClass::ALL[*class as usize])), &s));
    }
    eprintln!();
    eprintln!("-- median / max bytes per program and class --");
    let mut line = format!("{:<26}", "program");
    for class in GasClass::ALL {
        line.push_str(&format!(" {:>12}", class_name(class)));
    }
    eprintln!("{line}");
    for (i, w) in ws.iter().enumerate() {
        let mut line = format!("{:<26}", w.label);
        for class in GasClass::ALL {
            let cell = match stats(records.iter().filter(|r| r.workload == i && r.class == class)) {
                Some(s) => format!("{}/{}", s.median, s.max),
                None => "-".into(),
            };
            line.push_str(&format!(" {cell:>12}"));
        }
        eprintln!("{line}");
    }
    eprintln!();
    eprintln!("-- the largest proofs --");
    let mut largest: Vec<&Record> = records.iter().collect();
    largest.sort_by_key(|r| std::cmp::Reverse(r.size));
    let mut shown: Vec<(usize, String)> = Vec::new();
    for r in largest {
        // One line per program and opcode.
        let key = (r.workload, op_name(&ws[r.workload].module.code[r.pc as usize]));
        if shown.contains(&key) {
            continue;
        }
        let w = &ws[r.workload];
        let mut m = start(w);
        m.run(r.step);
        let proof = prove(&m);
        eprintln!("{:>6} B  {} step {}: {}  [{}]", r.size, w.label, r.step, instruction(r), breakdown(&proof));
        shown.push(key);
        if shown.len() == 12 {
            break;
        }
    }
    eprintln!();
    let over: usize = records.iter().filter(|r| r.size > 2048).count();
    let max_verify = records.iter().max_by_key(|r| r.verify).expect("proofs");
    eprintln!(
        "overall: median {} B (goal <= 512: {}), max {} B (goal <= 2048: {}; {} proofs above 2 KiB)",
        all.median,
        if all.median <= 512 { "met" } else { "NOT met" },
        all.max,
        if all.max <= 2048 { "met" } else { "NOT met" },
        over
    );
    eprintln!(
        "verify: median {} µs over all {} proofs (goal < 50 µs: {}); slowest {} µs ({} step {}: {})",
        micros(all.verify_median),
        records.len(),
        if all.verify_median < Duration::from_micros(50) { "met" } else { "NOT met" },
        micros(max_verify.verify),
        ws[max_verify.workload].label,
        max_verify.step,
        instruction(max_verify)
    );
    eprintln!(
        "C programs alone: median {} B, max {} B ({} proofs)",
        c_programs.median, c_programs.max, c_programs.count
    );
    let verify = sample_times(samples, |_, s| {
        std::hint::black_box(ws[s.workload].judge.check(&s.proof).expect("honest"));
    });
    // Reading the compact form recomputes the commitments the openings determine.
    let bytes: Vec<Vec<u8>> = samples.iter().map(|s| judge::to_bytes(&s.proof)).collect();
    let decode = sample_times(samples, |i, s| {
        std::hint::black_box(judge::from_bytes_with(&bytes[i], &judge::Known::of(&s.proof)).expect("honest"));
    });
    for (what, times) in [("verify", verify), ("decode (compact form)", decode)] {
        let median_of = |class: Option<GasClass>| {
            let mut v: Vec<Duration> =
                times.iter().filter(|(c, _)| class.is_none_or(|k| k == *c)).map(|(_, t)| *t).collect();
            v.sort_unstable();
            (!v.is_empty()).then(|| quantile(&v, 0.5))
        };
        let per_class: Vec<String> = GasClass::ALL
            .iter()
            .filter_map(|&c| median_of(Some(c)).map(|t| format!("{} {}", c.name(), micros(t))))
            .collect();
        eprintln!(
            "{what}, timed sample ({} proofs of every class, median of 21 runs each): median {} µs; by class: {}",
            samples.len(),
            micros(median_of(None).expect("a sample")),
            per_class.join(", ")
        );
    }
    eprintln!(
        "prove: median {} µs over all proofs (the pre-state's memory hashed beforehand)",
        micros(all.prove_median)
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let max_steps = if bench { u64::MAX } else { 300 };
    let ws = workloads();
    let mut records = Vec::new();
    let mut samples = Vec::new();
    let t = Instant::now();
    let runs: Vec<(u64, Status)> = ws
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (t, before) = (Instant::now(), records.len());
            let run = walk(i, w, max_steps, &mut records, &mut samples);
            eprintln!(
                "walked {}: {} steps, {} proofs in {:.1} s",
                w.label,
                run.0,
                records.len() - before,
                t.elapsed().as_secs_f64()
            );
            run
        })
        .collect();
    let walk_time = t.elapsed();

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let by_class = |class: GasClass| -> Vec<&Sample> { samples.iter().filter(|s| s.class == class).collect() };
    let mut group = c.benchmark_group("verify");
    for class in GasClass::ALL {
        let sample = by_class(class);
        if sample.is_empty() {
            continue;
        }
        // Each iteration checks the next proof of the class's sample: the mean per proof.
        group.bench_function(BenchmarkId::new(class.name(), format!("{} proofs", sample.len())), |b| {
            let mut i = 0;
            b.iter(|| {
                let s = sample[i % sample.len()];
                i += 1;
                ws[s.workload].judge.check(&s.proof).expect("honest")
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("prove");
    for class in GasClass::ALL {
        let sample = by_class(class);
        if sample.is_empty() {
            continue;
        }
        group.bench_function(BenchmarkId::new(class.name(), format!("{} states", sample.len())), |b| {
            let mut i = 0;
            b.iter(|| {
                let s = sample[i % sample.len()];
                i += 1;
                prove(&s.machine)
            })
        });
    }
    group.finish();
    c.final_summary();

    report(&ws, &records, &samples, walk_time, &runs);
}
