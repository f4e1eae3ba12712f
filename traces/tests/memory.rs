//! A trace costs what its run wrote, not copies of its memory: its ways back hold nothing
//! for fresh memory, what was overwritten where memory is written again, and never more
//! than `Limits::memory_budget`; and its answers stay those of a fresh run.

use stepper::{Config, Value};
use traces::{Call, Limits, Trace};

/// `sweep(mib)` grows the memory to `mib` MiB and writes a word in each 512-byte chunk;
/// `rewrite(times)` writes the first 64 KiB `times` times over with new values.
const PROGRAM: &str = r#"(module
  (memory 1 65536)
  (func (export "sweep") (param $mib i32)
    (local $at i32) (local $end i32)
    (drop (memory.grow (i32.sub (i32.mul (local.get $mib) (i32.const 16)) (i32.const 1))))
    (local.set $end (i32.mul (local.get $mib) (i32.const 1048576)))
    (loop $next
      (i32.store (local.get $at) (i32.const 1))
      (br_if $next (i32.lt_u (local.tee $at (i32.add (local.get $at) (i32.const 512))) (local.get $end)))))
  (func (export "rewrite") (param $times i32)
    (local $at i32)
    (loop $again
      (local.set $at (i32.const 0))
      (loop $next
        (i32.store (local.get $at) (i32.add (local.get $at) (local.get $times)))
        (br_if $next (i32.lt_u (local.tee $at (i32.add (local.get $at) (i32.const 64))) (i32.const 65536))))
      (br_if $again (local.tee $times (i32.sub (local.get $times) (i32.const 1)))))))"#;

fn record(export: &str, arg: i32, limits: Limits) -> Trace {
    let call = Call::new(PROGRAM.as_bytes().to_vec(), export, vec![Value::I32(arg)], Config::default()).unwrap();
    Trace::record(call, None, limits, &mut |_| {}).unwrap()
}

fn fresh_hash(trace: &Trace, n: u64) -> merkle_memory::Hash {
    let mut m = trace.call.start().unwrap();
    m.run(n);
    merkle_memory::state_hash(&mut m)
}

#[test]
fn ways_back_hold_nothing_for_fresh_memory() {
    let limits = Limits { interval: 1 << 12, max_checkpoints: 16, ..Limits::default() };
    let mut trace = record("sweep", 64, limits);
    // 64 MiB written, every chunk once, into fresh memory: the ways back keep only the
    // rest of the machine at each checkpoint.
    let held = trace.memory_bytes();
    assert!(held < 64 << 10, "{held} bytes held for a 64 MiB sweep");
    assert!(trace.checkpoints().count() >= 8);
    for n in [trace.steps() / 3, trace.steps() / 7, trace.steps() - 5, 1] {
        assert_eq!(trace.hash_at(n).unwrap(), fresh_hash(&trace, n), "step {n}");
    }
}

#[test]
fn ways_back_follow_the_bytes_overwritten() {
    // Each pass overwrites 1,024 words over 128 chunks (64 KiB).
    let limits = Limits { interval: 1 << 12, max_checkpoints: 64, ..Limits::default() };
    let mut trace = record("rewrite", 40, limits);
    let ways_back = trace.checkpoints().count() - 1;
    let held = trace.memory_bytes();
    // At most one copy of the 64 KiB per way back (plus bookkeeping), and at least one
    // for every way back the run rewrote memory in.
    assert!(held <= ways_back * (64 << 10) + ways_back * 8192, "{held} bytes for {ways_back} ways back");
    assert!(held >= (ways_back - 1) * (16 << 10), "{held} bytes for {ways_back} ways back");
    for n in [trace.steps() / 2, trace.steps() / 5, 3] {
        assert_eq!(trace.hash_at(n).unwrap(), fresh_hash(&trace, n), "step {n}");
    }
}

#[test]
fn the_budget_is_a_cap() {
    let budget = 200 << 10;
    let limits = Limits { interval: 1 << 10, max_checkpoints: 64, memory_budget: budget, ..Limits::default() };
    let mut trace = record("rewrite", 40, limits);
    assert!(trace.memory_bytes() <= budget, "{} > {budget}", trace.memory_bytes());
    // Past what the ways back reach, the call restarts: the answers stay right.
    for n in [1, trace.steps() / 4, trace.steps() / 2, trace.steps() - 1] {
        assert_eq!(trace.hash_at(n).unwrap(), fresh_hash(&trace, n), "step {n}");
        assert!(trace.memory_bytes() <= budget, "{} > {budget}", trace.memory_bytes());
    }
}
