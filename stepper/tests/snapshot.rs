//! Snapshot and restore: bit-identical continuation, canonical encoding, and robust
//! rejection of corrupt snapshots.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use stepper::op::Op;
use stepper::store::{Memory, Table};
use stepper::{Config, Error, Extern, Machine, MachineParts, Module, Status, Trap, Value};

/// Loops with memory stores, calls (recursive and indirect), globals, a funcref local,
/// tables with call_indirect, table.grow with a non-null value (table.fill sub-steps),
/// memory.grow, forward and backward (overlapping) memory.copy, memory.fill,
/// memory.init and data.drop, and emit.
const KITCHEN: &str = r#"
(module
  (import "verigame" "emit" (func $emit (param i64)))
  (type $i2i (func (param i32) (result i32)))
  (memory 1 4)
  (global $counter (mut i32) (i32.const 0))
  (global $acc (mut i64) (i64.const 7))
  (global $fn (mut funcref) (ref.func $dbl))
  (table 4 funcref)
  (elem (i32.const 0) $sq $dbl $fact)
  (data $greeting "hello from a passive data segment")
  (func $sq (type $i2i) local.get 0 local.get 0 i32.mul)
  (func $dbl (type $i2i) local.get 0 i32.const 1 i32.shl)
  (func $fact (type $i2i)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32)
      i32.const 1
    else
      local.get 0
      local.get 0 i32.const 1 i32.sub call $fact
      i32.mul
    end)
  (func (export "main") (param $n i32) (result i64)
    (local $i i32) (local $f funcref)
    (loop $fill
      (i32.store
        (i32.mul (local.get $i) (i32.const 4))
        (call_indirect (type $i2i) (local.get $i) (i32.rem_u (local.get $i) (i32.const 3))))
      (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (local.get $n))))
    (drop (memory.grow (i32.const 1)))
    ;; forward copy across the page boundary, then an overlapping backward copy
    (memory.copy (i32.const 65500) (i32.const 0) (i32.mul (local.get $n) (i32.const 4)))
    (memory.fill (i32.const 200) (i32.const 0xab) (i32.const 300))
    (memory.init $greeting (i32.const 1000) (i32.const 6) (i32.const 27))
    (data.drop $greeting)
    (memory.copy (i32.const 10) (i32.const 0) (i32.const 1500))
    (local.set $f (table.get (i32.const 2)))
    (table.set (i32.const 3) (local.get $f))
    (global.set $fn (table.get (i32.const 0)))
    (drop (table.grow (global.get $fn) (i32.const 3)))
    (call $emit (i64.extend_i32_u (call_indirect (type $i2i) (i32.const 5) (i32.const 6))))
    (call $emit (i64.extend_i32_u (global.get $counter)))
    (local.set $i (i32.const 0))
    (loop $sum
      (global.set $acc
        (i64.add
          (i64.mul (global.get $acc) (i64.const 31))
          (i64.load (i32.rem_u (i32.mul (local.get $i) (i32.const 1031)) (i32.const 131000)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $sum (i32.lt_u (local.get $i) (i32.const 40))))
    (global.get $acc)))
"#;

const TRAPS: &str = r#"
(module
  (import "verigame" "abort" (func $abort (param i32)))
  (memory 1)
  (func $div (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "divide") (param i32) (result i32)
    (i32.store (i32.const 8) (i32.const 99))
    (i32.add (i32.const 1) (call $div (i32.const 10) (local.get 0))))
  (func (export "abort") (param i32)
    (call $abort (i32.sub (i32.const 0) (local.get 0))))
  (func (export "spin")
    (loop $l (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1))) (br $l))))
"#;

fn module(src: &str) -> Arc<Module> {
    Module::new(src.as_bytes()).unwrap()
}

fn func(m: &Machine, instance: u32, name: &str) -> u32 {
    match m.export(instance, name) {
        Some(Extern::Func(f)) => f,
        other => panic!("export {name}: {other:?}"),
    }
}

/// A machine with `main(n)` of the kitchen-sink program invoked, not yet stepped.
fn kitchen(n: i32) -> (Machine, Arc<Module>) {
    let module = module(KITCHEN);
    let (mut m, inst) = Machine::load(&module, Config::default()).unwrap();
    let main = func(&m, inst, "main");
    m.invoke(main, &[Value::I32(n)]).unwrap();
    (m, module)
}

fn current_op(m: &Machine) -> Option<Op> {
    let (_, inst) = m.current()?;
    inst.module.code.get(m.pc() as usize).copied()
}

fn restore(bytes: &[u8], modules: &[Arc<Module>]) -> Machine {
    Machine::restore(bytes, modules).unwrap_or_else(|e| panic!("restore failed: {e}"))
}

/// Steps both machines to the end, asserting identical snapshots after every step.
fn lockstep(mut a: Machine, mut b: Machine) -> Machine {
    loop {
        let snap = a.snapshot();
        assert_eq!(snap, b.snapshot(), "diverged at step {}", a.steps());
        if a.status().is_halted() {
            break;
        }
        assert_eq!(a.step(), b.step());
    }
    assert_eq!(a.status(), b.status());
    assert_eq!(a.results(), b.results());
    assert_eq!(a.output(), b.output());
    assert_eq!((a.steps(), a.gas_used()), (b.steps(), b.gas_used()));
    b
}

#[test]
fn kitchen_program_runs() {
    let (mut m, _) = kitchen(20);
    assert_eq!(m.run(u64::MAX), Status::Returned);
    assert_eq!(m.output().len(), 2);
    assert_eq!(m.output()[0], 25); // $sq(5) via the grown table
    assert_eq!(m.output()[1], 20);
    assert!(matches!(m.results()[..], [Value::I64(_)]));
}

/// The interesting points of a run: start, mid-call, mid bulk copy, mid table.fill, ...
fn interesting_steps(mut m: Machine) -> Vec<(String, u64)> {
    let mut points = vec![("start".to_string(), 0), ("first step".to_string(), 1)];
    let (mut deep, mut mid_copy, mut mid_fill, mut after_grow) = (None, None, None, None);
    let mut prev_pc = None;
    while !m.status().is_halted() {
        let op = current_op(&m);
        if deep.is_none() && m.frames().len() >= 4 {
            deep = Some(m.steps());
        }
        // A bulk op in progress: the same bulk op was at the pc before this step too.
        if mid_copy.is_none() && op == Some(Op::MemoryCopy) && prev_pc == Some(m.pc()) {
            mid_copy = Some(m.steps());
        }
        if mid_fill.is_none() && matches!(op, Some(Op::TableFill(_))) && prev_pc == Some(m.pc()) {
            mid_fill = Some(m.steps());
        }
        if after_grow.is_none() && op == Some(Op::MemoryGrow) {
            after_grow = Some(m.steps() + 1);
        }
        prev_pc = Some(m.pc());
        m.step();
    }
    let total = m.steps();
    for (name, at) in [
        ("mid-call", deep),
        ("mid memory.copy", mid_copy),
        ("mid table.fill", mid_fill),
        ("after memory.grow", after_grow),
    ] {
        points.push((name.to_string(), at.unwrap_or_else(|| panic!("the program never reached {name}"))));
    }
    points.push(("last step".to_string(), total - 1));
    points.push(("halted".to_string(), total));
    points
}

#[test]
fn restored_machine_continues_in_lockstep() {
    let (reference, module) = kitchen(12);
    for (name, k) in interesting_steps(reference.clone()) {
        let mut original = reference.clone();
        original.run(k);
        assert_eq!(original.steps(), k, "{name}");
        let snap = original.snapshot();
        let restored = restore(&snap, std::slice::from_ref(&module));
        assert_eq!(restored.snapshot(), snap, "{name}: snapshot of the restored machine");
        let done = lockstep(original, restored);
        assert_eq!(done.status(), Status::Returned, "{name}");
    }
}

#[test]
fn a_restored_machine_can_start_new_calls() {
    let (mut m, module) = kitchen(9);
    m.run(u64::MAX);
    let mut restored = restore(&m.snapshot(), &[module]);
    for machine in [&mut m, &mut restored] {
        let main = func(machine, 0, "main");
        machine.invoke(main, &[Value::I32(15)]).unwrap();
        machine.run(300);
    }
    lockstep(m, restored);
}

#[test]
fn snapshot_restore_snapshot_is_identical_at_every_step() {
    let (mut m, module) = kitchen(10);
    let modules = [module];
    let mut count = 0;
    loop {
        let snap = m.snapshot();
        assert_eq!(&snap[..5], b"VGSN\x03");
        assert_eq!(restore(&snap, &modules).snapshot(), snap, "at step {}", m.steps());
        count += 1;
        if m.step().is_halted() {
            let snap = m.snapshot();
            assert_eq!(restore(&snap, &modules).snapshot(), snap);
            break;
        }
    }
    assert!(count > 100);
}

#[test]
fn memory_encoding_is_compact() {
    let module = module(
        r#"(module (memory 1000)
             (func (export "go") (i32.store (i32.const 40000000) (i32.const -1))))"#,
    );
    let (mut m, inst) = Machine::load(&module, Config::default()).unwrap();
    let go = func(&m, inst, "go");
    m.invoke(go, &[]).unwrap();
    m.run(u64::MAX);
    let snap = m.snapshot();
    // Besides the memory's few runs: the store, and the call's empty input and output.
    assert!(snap.len() < 320, "a 62.5 MiB memory with one store takes {} bytes", snap.len());
    let back = restore(&snap, &[module]);
    assert_eq!(back.store().memories[0].data(), m.store().memories[0].data());
    assert_eq!(back.snapshot(), snap);
}

/// A sink that takes at most `most` bytes a call, and fails after `fail_after` bytes.
struct Trickle {
    bytes: Vec<u8>,
    most: usize,
    fail_after: usize,
}

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() >= self.fail_after {
            return Err(std::io::Error::other("the disk is full"));
        }
        let n = buf.len().min(self.most).min(self.fail_after - self.bytes.len());
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_streamed_snapshot_is_the_snapshot() {
    // Long literal runs (past the writer's buffer) between zero runs, on a stopped run's
    // stack and frames, and the kitchen program's every kind of item.
    let module = module(
        r#"(module (memory 40)
             (func (export "go") (param $to i32) (local $i i32)
               (loop $next
                 (i64.store (local.get $i) (i64.const -1))
                 (local.set $i (i32.add (local.get $i) (i32.const 8)))
                 (br_if $next (i32.lt_u (local.get $i) (i32.const 300000))))
               (i32.store (local.get $to) (i32.const 7))))"#,
    );
    let (mut m, inst) = Machine::load(&module, Config::default()).unwrap();
    let go = func(&m, inst, "go");
    m.invoke(go, &[Value::I32(2_000_000)]).unwrap();
    m.run(1000);
    let mut states = vec![m.clone()];
    m.run(u64::MAX);
    states.extend([m, kitchen(5).0]);
    for m in &states {
        let snap = m.snapshot();
        for most in [1, 1000, usize::MAX] {
            let mut sink = Trickle { bytes: Vec::new(), most, fail_after: usize::MAX };
            assert_eq!(m.write_snapshot(&mut sink).unwrap(), snap.len() as u64);
            assert!(sink.bytes == snap, "streamed {} bytes in writes of at most {most}", sink.bytes.len());
        }
        let mut full = Trickle { bytes: Vec::new(), most: usize::MAX, fail_after: snap.len() / 2 };
        assert!(m.write_snapshot(&mut full).is_err(), "the sink's error is the writer's");
    }
}

#[test]
fn spectest_host_items_round_trip() {
    let module = module(
        r#"(module
             (import "spectest" "print_i32" (func $print (param i32)))
             (import "spectest" "global_i32" (global $g i32))
             (import "spectest" "table" (table 10 funcref))
             (import "spectest" "memory" (memory 1))
             (func $id (param i32) (result i32) local.get 0)
             (elem (i32.const 1) $id)
             (func (export "go") (result i32)
               (call $print (global.get $g))
               (i32.store (i32.const 100) (global.get $g))
               (call_indirect (param i32) (result i32) (i32.load (i32.const 100)) (i32.const 1))))"#,
    );
    let mut m = Machine::new(Config::default()).unwrap();
    let spectest = m.add_spectest();
    let inst = m.instantiate(&module, &|mm, n| if mm == "spectest" { spectest.get(n).copied() } else { None }).unwrap();
    let go = func(&m, inst, "go");
    m.invoke(go, &[]).unwrap();
    m.run(3);
    let restored = restore(&m.snapshot(), &[module]);
    let done = lockstep(m, restored);
    assert_eq!(done.results(), vec![Value::I32(666)]);
}

/// A caller whose operand stack grows far beyond its height at the call site: restoring
/// inside the callee must leave room for the caller's maximum height too.
#[test]
fn restored_caller_frames_have_stack_room() {
    let pushes = "(i32.const 1) ".repeat(40);
    let adds = "i32.add ".repeat(39);
    let src = format!(
        r#"(module
             (func $tiny (result i32) i32.const 5)
             (func (export "deep") (result i32)
               call $tiny
               drop
               {pushes}
               {adds}))"#
    );
    let module = module(&src);
    let (mut m, inst) = Machine::load(&module, Config::default()).unwrap();
    let deep = func(&m, inst, "deep");
    m.invoke(deep, &[]).unwrap();
    m.step(); // call $tiny
    assert_eq!(m.frames().len(), 2);
    let restored = restore(&m.snapshot(), &[module]);
    let mut fast = restored.clone_via_snapshot();
    let done = lockstep(m, restored);
    assert_eq!(done.results(), vec![Value::I32(40)]);
    assert_eq!(fast.run(u64::MAX), Status::Returned);
    assert_eq!(fast.results(), vec![Value::I32(40)]);
}

trait CloneViaSnapshot {
    fn clone_via_snapshot(&self) -> Machine;
}

impl CloneViaSnapshot for Machine {
    fn clone_via_snapshot(&self) -> Machine {
        let modules: Vec<Arc<Module>> = self.store().instances.iter().map(|i| i.module.clone()).collect();
        restore(&self.snapshot(), &modules)
    }
}

/// Many small items (empty memories and tables, exportless instances) round-trip.
#[test]
fn many_empty_items_round_trip() {
    let module = module(r#"(module (memory 0) (table 0 externref) (global i32 (i32.const 0)))"#);
    let mut m = Machine::new(Config::default()).unwrap();
    for _ in 0..20 {
        m.instantiate(&module, &|_, _| None).unwrap();
    }
    // Store items no instance owns (as add_spectest makes) are kept too.
    let mut parts = m.into_parts();
    for _ in 0..30 {
        parts.store.memories.push(Memory::new(Vec::new(), None, 64));
    }
    let snap = Machine::from_parts(parts).unwrap().snapshot();
    let back = restore(&snap, &[module]);
    assert_eq!(back.store().memories.len(), 50);
    assert_eq!(back.snapshot(), snap);
    for len in 0..snap.len() {
        snapshot_error(&snap[..len], &[]);
    }
    // Nothing but empty memories: counts are checked against the bytes left, tightly.
    let mut bare = Machine::new(Config::default()).unwrap().into_parts();
    bare.store.memories = vec![Memory::new(Vec::new(), None, 64); 30];
    let snap = Machine::from_parts(bare).unwrap().snapshot();
    assert_eq!(restore(&snap, &[]).snapshot(), snap);
}

fn traps_machine(config: Config, name: &str, args: &[Value]) -> (Machine, Arc<Module>) {
    let module = module(TRAPS);
    let (mut m, inst) = Machine::load(&module, config).unwrap();
    let f = func(&m, inst, name);
    m.invoke(f, args).unwrap();
    m.run(u64::MAX);
    (m, module)
}

#[test]
fn halted_machines_round_trip_with_their_status() {
    let cases = [
        (Config::default(), "divide", vec![Value::I32(0)], Status::Trapped(Trap::IntegerDivideByZero)),
        (Config::default(), "abort", vec![Value::I32(7)], Status::Trapped(Trap::Aborted(-7))),
        (Config::default(), "abort", vec![Value::I32(i32::MIN)], Status::Trapped(Trap::Aborted(i32::MIN))),
        (Config { gas_limit: 1000, ..Config::default() }, "spin", vec![], Status::OutOfGas),
        (Config::default(), "divide", vec![Value::I32(5)], Status::Returned),
    ];
    for (config, name, args, status) in cases {
        let (m, module) = traps_machine(config.clone(), name, &args);
        assert_eq!(m.status(), status, "{name}");
        let snap = m.snapshot();
        let mut restored = restore(&snap, &[module]);
        assert_eq!(restored.status(), status);
        assert_eq!(restored.config(), &config);
        assert_eq!(restored.frames(), m.frames());
        assert_eq!(restored.stack(), m.stack());
        assert_eq!((restored.pc(), restored.steps(), restored.gas_used()), (m.pc(), m.steps(), m.gas_used()));
        assert_eq!(restored.results(), m.results());
        assert_eq!(restored.snapshot(), snap);
        // Stepping a halted machine changes nothing.
        assert_eq!(restored.step(), status);
        assert_eq!(restored.snapshot(), snap);
    }
    // A trapped machine keeps its frames (the pre-state of the trapping instruction).
    let (m, _) = traps_machine(Config::default(), "divide", &[Value::I32(0)]);
    assert_eq!(m.frames().len(), 2);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn snapshot_error(bytes: &[u8], modules: &[Arc<Module>]) -> String {
    match Machine::restore(bytes, modules) {
        Ok(_) => panic!("restore accepted a bad snapshot"),
        Err(e @ Error::Snapshot(_)) => e.to_string(),
        Err(e) => panic!("restore failed with a non-snapshot error: {e}"),
    }
}

#[test]
fn wrong_modules_name_the_missing_hash() {
    let (mut m, module) = kitchen(5);
    m.run(50);
    let snap = m.snapshot();
    let want = hex(&module.code_hash);
    let msg = snapshot_error(&snap, &[]);
    assert!(msg.contains(&want), "{msg}");
    let other = self::module(TRAPS);
    let msg = snapshot_error(&snap, std::slice::from_ref(&other));
    assert!(msg.contains(&want), "{msg}");
    // Extra modules do no harm.
    restore(&snap, &[other, module]);
}

#[test]
fn bad_headers_are_rejected() {
    let (m, module) = kitchen(5);
    let snap = m.snapshot();
    let modules = [module];
    assert!(snapshot_error(b"", &modules).contains("truncated"));
    let mut bad = snap.clone();
    bad[0] = b'X';
    assert!(snapshot_error(&bad, &modules).contains("magic"));
    let mut bad = snap.clone();
    bad[4] = 2;
    assert!(snapshot_error(&bad, &modules).contains("version 2"));
    let mut bad = snap.clone();
    bad.push(0);
    assert!(snapshot_error(&bad, &modules).contains("after the end"));
}

#[test]
fn every_truncation_is_rejected() {
    let (mut m, module) = kitchen(6);
    let modules = [module];
    for k in [0, 40, 200] {
        m.run(k);
        let snap = m.snapshot();
        for len in 0..snap.len() {
            let msg = snapshot_error(&snap[..len], &modules);
            assert!(!msg.is_empty());
        }
    }
}

/// Patches the first occurrence of `from` after the header into `to`.
fn patched(snap: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = snap.windows(from.len()).position(|w| w == from).expect("pattern present");
    [&snap[..at], to, &snap[at + from.len()..]].concat()
}

#[test]
fn inconsistent_states_are_rejected() {
    let (mut m, module) = kitchen(8);
    m.run(60);
    assert!(m.frames().len() >= 2);
    let modules = [module];
    // Each edit is refused alike by restore (of its snapshot) and by from_parts.
    let check = |machine: Machine, edit: &dyn Fn(&mut MachineParts), want: &str| {
        let mut parts = machine.into_parts();
        edit(&mut parts);
        let refused = Machine::from_parts(parts.clone()).expect_err(want).to_string();
        assert!(refused.contains(want), "expected {want:?} in {refused:?}");
        // SAFETY: the machine is only snapshotted.
        let msg = snapshot_error(&unsafe { Machine::from_parts_unchecked(parts) }.snapshot(), &modules);
        assert!(msg.contains(want), "expected {want:?} in {msg:?}");
    };
    check(m.clone(), &|m| m.pc = 1_000_000, "outside function");
    check(m.clone(), &|m| m.frames[1].func = 1, "not a wasm function"); // the emit import
    check(m.clone(), &|m| m.frames[1].func = 999, "not a wasm function");
    check(m.clone(), &|m| m.frames[1].ret_pc += 1, "return pc");
    check(m.clone(), &|m| m.frames[1].base += 1, "frame 1 starts");
    check(
        m.clone(),
        &|m| {
            m.stack.pop();
        },
        "the stack has",
    );
    check(m.clone(), &|m| m.stack.push(0), "the stack has");
    check(m.clone(), &|m| m.stack.clear(), "the stack has");
    check(m.clone(), &|m| m.frames.clear(), "no frames");
    check(m.clone(), &|m| m.status = Status::Returned, "returned machine");
    check(m.clone(), &|m| m.entry = Some(2), "entry function");
    check(m.clone(), &|m| m.entry = Some(1234), "entry function 1234 does not exist");
    check(m.clone(), &|m| m.config.max_call_depth = 1, "call depth");
    check(m.clone(), &|m| m.config.max_value_stack = 3, "stack slots");
    check(m.clone(), &|m| m.config.memory_chunk_size = 48, "chunk size");
    check(m.clone(), &|m| m.config.max_memory_pages = 0, "memory 0: 1 pages exceed");
    check(
        m.clone(),
        &|m| m.store.memories[0] = stepper::store::Memory::new(vec![0; 1000], None, 64),
        "not a multiple of 64 KiB",
    );
    let with_max = |memory: &Memory, max| Memory::new(memory.data().to_vec(), max, memory.chunk_size() as u32);
    check(m.clone(), &|m| m.store.memories[0] = with_max(&m.store.memories[0], Some(0)), "exceed its limit");
    let table = |t: &Table, elems: Vec<u64>, max| Table::new(t.ty(), elems, max);
    check(
        m.clone(),
        &|m| {
            let t = &m.store.tables[0];
            let mut elems = t.elems().to_vec();
            elems[1] = 500;
            m.store.tables[0] = table(t, elems, t.max());
        },
        "refers to function 499",
    );
    check(
        m.clone(),
        &|m| m.store.tables[0] = table(&m.store.tables[0], m.store.tables[0].elems().to_vec(), Some(1)),
        "more than its limit",
    );
    check(m.clone(), &|m| m.store.globals[2].value = 77, "global 2 refers to function 76");
    check(
        m.clone(),
        &|m| {
            m.store.instances[0].funcs.pop();
        },
        "functions",
    );
    check(m.clone(), &|m| m.store.instances[0].funcs.swap(1, 2), "instance 0 function 1");
    check(m.clone(), &|m| m.store.instances[0].tables[0] = 9, "there are 1 tables");
    check(m.clone(), &|m| m.store.instances[0].memory = None, "no memory");
    check(m.clone(), &|m| m.store.instances[0].globals[0] = 42, "global 42");
    check(m.clone(), &|m| m.store.instances[0].globals.swap(0, 1), "wrong type");
    check(m.clone(), &|m| m.store.instances[0].elem_base = 1, "element segments");
    check(m.clone(), &|m| m.store.instances[0].data_base = 3, "data segments");
    check(m.clone(), &|m| m.store.instances[0].type_ids[0] = 7, "type 0");
    check(
        m.clone(),
        &|m| {
            m.store.instances[0].exports.insert("x".into(), Extern::Memory(3));
        },
        "export \"x\"",
    );
    check(m.clone(), &|m| m.store.data_dropped.clear(), "data segments");
    check(
        m.clone(),
        &|m| {
            // The first wasm function (the host functions come first).
            let wasm = m.store.funcs.iter().position(|f| matches!(f, stepper::store::Func::Wasm { .. })).unwrap();
            if let stepper::store::Func::Wasm { index, .. } = &mut m.store.funcs[wasm + 1] {
                *index = 0;
            }
        },
        "does not define it",
    );
    check(m.clone(), &|m| m.store.types.push(m.store.types[0].clone()), "duplicates type 0");

    // A funcref local naming a nonexistent function: find main's frame and its $f local.
    let (mut m2, module) = kitchen(8);
    while !(current_op(&m2) == Some(Op::TableSet(0)) && m2.frames().len() == 1) {
        m2.step();
    }
    let f_local = m2.frames()[0].base as usize + 2; // params: $n; locals: $i, $f
    assert_ne!(m2.stack()[f_local], 0);
    m2.tamper().set_slot(f_local, 10_000).unwrap();
    let msg = snapshot_error(&m2.snapshot(), &[module]);
    assert!(msg.contains(&format!("stack slot {f_local}")), "{msg}");

    // Encoding-level problems.
    let snap = m.snapshot();
    let mut bad = snap.clone();
    // The config's first field (max_memory_pages = 65536 = 80 80 04) padded to 4 bytes.
    bad.splice(5..8, [0x80, 0x80, 0x84, 0x00]);
    assert!(snapshot_error(&bad, &modules).contains("overlong"));
    let msg = snapshot_error(&patched(&snap, &[0x80, 0x80, 0x04], &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), &modules);
    assert!(msg.contains("32 bits"), "{msg}");
}

/// Soundness of restore's validation: moving the pc (or a return pc) anywhere in the
/// code, with the value stack grown or shrunk by a few slots of arbitrary values, is
/// either rejected or gives a machine that steps without panicking.
#[test]
fn any_accepted_pc_and_stack_steps_safely() {
    let (reference, module) = kitchen(8);
    let modules = [module.clone()];
    let points: Vec<u64> = interesting_steps(reference.clone()).into_iter().map(|(_, k)| k).collect();
    let code_len = module.code.len() as u32;
    let fills = [0u64, 6, 7, u64::MAX];
    let (mut accepted, mut tried) = (0, 0);
    for k in points {
        let mut base = reference.clone();
        base.run(k);
        if base.frames().is_empty() {
            continue;
        }
        for which in 0..base.frames().len().min(2) {
            for pc in 0..code_len + 2 {
                for delta in -3i32..=3 {
                    for &fill in if delta > 0 { &fills[..] } else { &fills[..1] } {
                        let mut m = base.clone().into_parts();
                        m.status = Status::Running;
                        if which == 0 {
                            m.pc = pc;
                        } else {
                            let top = m.frames.len() - 1;
                            m.frames[top].ret_pc = pc;
                        }
                        let len = (m.stack.len() as i64 + delta as i64).max(0) as usize;
                        m.stack.resize(len, fill);
                        tried += 1;
                        let from_parts = Machine::from_parts(m.clone());
                        // SAFETY: the machine is only snapshotted.
                        let snapshot = unsafe { Machine::from_parts_unchecked(m) }.snapshot();
                        let Ok(mut restored) = Machine::restore(&snapshot, &modules) else {
                            assert!(from_parts.is_err(), "from_parts takes a state restore refuses");
                            continue;
                        };
                        assert_eq!(from_parts.expect("restore took it").snapshot(), snapshot);
                        accepted += 1;
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            restored.run(3000);
                            restored.results()
                        }));
                        assert!(
                            result.is_ok(),
                            "accepted state (step {k}, pc {pc}, delta {delta}, fill {fill}) panicked"
                        );
                    }
                }
            }
        }
    }
    assert!(accepted > 100, "only {accepted} of {tried} states accepted");
    eprintln!("{accepted} of {tried} mutated states accepted and stepped safely");
}

/// Snapshots of the kitchen program at many points, for the fuzz-style tests.
fn sample_snapshots() -> (Vec<Vec<u8>>, Arc<Module>) {
    let (mut m, module) = kitchen(7);
    let mut snaps = Vec::new();
    while !m.status().is_halted() {
        snaps.push(m.snapshot());
        m.run(37);
    }
    snaps.push(m.snapshot());
    let (t, _) = traps_machine(Config::default(), "divide", &[Value::I32(0)]);
    snaps.push(t.snapshot());
    (snaps, module)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random byte changes never panic; when a changed snapshot is accepted, it is a
    /// canonical encoding of a machine that can be stepped without panicking.
    #[test]
    fn corrupted_snapshots_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        thread_local! {
            static SAMPLES: (Vec<Vec<u8>>, Vec<Arc<Module>>) = {
                let (snaps, module) = sample_snapshots();
                // Instances are matched by hash: both modules serve every snapshot.
                (snaps, vec![module, crate::module(TRAPS)])
            };
        }
        SAMPLES.with(|(snaps, modules)| {
            let mut bytes = which.get(snaps).clone();
            for (at, value) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = if *value == bytes[i] { value.wrapping_add(1) } else { *value };
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()));
            }
            match Machine::restore(&bytes, modules) {
                Err(Error::Snapshot(msg)) => assert!(!msg.is_empty()),
                Err(e) => panic!("unexpected error kind: {e}"),
                Ok(mut m) => {
                    assert_eq!(m.snapshot(), bytes, "accepted a non-canonical snapshot");
                    m.run(2000);
                    let _ = m.results();
                    let _ = m.current();
                }
            }
        });
    }
}

/// Real programs (C compiled to wasm), if present: snapshot at a few points of a run and
/// continue both machines to the same end, comparing whole states on the way.
#[test]
fn real_programs_continue_identically() {
    const BUDGET: u64 = 150_000;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs");
    let Ok(expected) = std::fs::read_to_string(dir.join("expected.txt")) else {
        eprintln!("no test programs in {}; skipping", dir.display());
        return;
    };
    // Lines are `file function argument result`; group the cases by function.
    type Cases = Vec<(i32, String)>;
    let mut functions: Vec<((String, String), Cases)> = Vec::new();
    for line in expected.lines() {
        let [file, name, arg, result] = line.split_whitespace().collect::<Vec<_>>()[..] else { continue };
        let Ok(arg) = arg.parse::<i32>() else { continue };
        let key = (file.to_string(), name.to_string());
        match functions.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cases)) => cases.push((arg, result.to_string())),
            None => functions.push((key, vec![(arg, result.to_string())])),
        }
    }
    let mut ran = 0;
    for ((file, name), mut cases) in functions {
        let Ok(wasm) = std::fs::read(dir.join(&file)) else { continue };
        let module = Module::new(&wasm).unwrap_or_else(|e| panic!("{file}: {e}"));
        // The largest case that finishes within the step budget.
        cases.sort();
        let mut chosen = None;
        for (arg, result) in cases {
            let (mut m, inst) = Machine::load(&module, Config::default()).unwrap();
            let f = func(&m, inst, &name);
            m.invoke(f, &[Value::I32(arg)]).unwrap();
            let start = m.clone();
            if !m.run(BUDGET).is_halted() {
                break;
            }
            chosen = Some((start, m, arg, result));
        }
        let Some((start, full, arg, result)) = chosen else { continue };
        if let [v @ (Value::I32(_) | Value::I64(_))] = full.results()[..] {
            assert_eq!(v.to_string(), result, "{file} {name} {arg}");
        }
        let total = full.steps();
        for k in [1, total / 3, total / 2, total - 1] {
            let mut original = start.clone();
            original.run(k);
            let snap = original.snapshot();
            let mut restored = restore(&snap, std::slice::from_ref(&module));
            assert_eq!(restored.snapshot(), snap, "{file} {name} {arg} at {k}");
            while !original.status().is_halted() {
                original.run(499);
                restored.run(499);
                assert_eq!(original.snapshot(), restored.snapshot(), "{file} {name} {arg} at {}", original.steps());
            }
            assert_eq!(restored.results(), full.results(), "{file} {name} {arg}");
            assert_eq!(restored.status(), full.status());
        }
        ran += 1;
    }
    eprintln!("continued {ran} real program runs from snapshots");
}
