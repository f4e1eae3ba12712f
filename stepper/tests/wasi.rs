//! Deterministic WASI: linking, what each kind of call does to memory and the call's
//! input and output, snapshots and ways back through calls that take several steps.

use std::sync::Arc;

use stepper::io::MAX_STREAM_LEN;
use stepper::wasi::errno;
use stepper::{CallInput, Config, Error, Extern, Machine, Module, Status};

fn module(wat: &str) -> Arc<Module> {
    Module::new(wat.as_bytes()).unwrap()
}

fn start(module: &Arc<Module>, config: Config, input: CallInput) -> Machine {
    let (mut m, instance) = Machine::load(module, config).unwrap();
    let Some(Extern::Func(f)) = m.export(instance, "_start") else { panic!("no _start") };
    m.start_call(f, &[], u64::MAX, input).unwrap();
    m
}

fn i32_at(m: &Machine, at: usize) -> u32 {
    u32::from_le_bytes(m.store().memories[0].data()[at..at + 4].try_into().unwrap())
}

fn u64_at(m: &Machine, at: usize) -> u64 {
    u64::from_le_bytes(m.store().memories[0].data()[at..at + 8].try_into().unwrap())
}

const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $results (mut i32) (i32.const 8192))
  ;; Stores each call's errno at the next results slot.
  (func $keep (param i32)
    (i32.store (global.get $results) (local.get 0))
    (global.set $results (i32.add (global.get $results) (i32.const 4))))"#;

#[test]
fn modules_importing_what_the_host_lacks_are_refused_naming_every_import() {
    let m = module(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (import "env" "missing" (func))
            (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#,
    );
    let e = Machine::load(&m, Config::default()).unwrap_err();
    assert!(matches!(&e, Error::UnknownImports(names) if names == &["env.missing", "wasi_unstable.fd_write"]), "{e}");
    let text = e.to_string();
    assert!(text.contains("cannot link 2 imports: env.missing, wasi_unstable.fd_write"), "{text}");
    assert!(text.contains("wasi_snapshot_preview1"), "{text}");
    // A WASI import with the wrong signature is a link error of its own.
    let m = module(r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))))"#);
    let e = Machine::load(&m, Config::default()).unwrap_err().to_string();
    assert!(e.contains("fd_write") && e.contains("signature"), "{e}");
}

#[test]
fn a_wasi_function_is_not_a_calls_entry() {
    let m = module(
        r#"(module (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
                   (export "y" (func $y)))"#,
    );
    let (mut machine, instance) = Machine::load(&m, Config::default()).unwrap();
    let Some(Extern::Func(f)) = machine.export(instance, "y") else { panic!() };
    let e = machine.invoke(f, &[]).unwrap_err().to_string();
    assert!(e.contains("sched_yield") && e.contains("not as a call's entry"), "{e}");
}

#[test]
fn calls_do_what_the_specification_says() {
    let wat = format!(
        r#"(module {IMPORTS}
        (data (i32.const 100) "\00\02\00\00\05\00\00\00\10\02\00\00\00\00\00\00\07\02\00\00\04\00\00\00")
        (data (i32.const 512) "hello")
        (data (i32.const 519) "abcd")
        (func (export "_start")
          ;; Three iovecs (one empty): "hello", "", "abcd" -> 9 bytes to stdout.
          (call $keep (call $fd_write (i32.const 1) (i32.const 100) (i32.const 3) (i32.const 200)))
          ;; Reading into the same buffers: 9 bytes of standard input.
          (call $keep (call $fd_read (i32.const 0) (i32.const 100) (i32.const 3) (i32.const 204)))
          ;; Standard input is a read-only character device; writing it is BADF.
          (call $keep (call $fd_fdstat_get (i32.const 0) (i32.const 300)))
          (call $keep (call $fd_write (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))
          ;; Out of memory: FAULT, nothing written.
          (call $keep (call $fd_write (i32.const 1) (i32.const 65535) (i32.const 1) (i32.const 200)))
          ;; The clock: realtime is the input's clock plus the steps so far.
          (call $keep (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 400)))
          (call $keep (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 408)))
          (call $keep (call $clock_time_get (i32.const 9) (i64.const 1) (i32.const 416)))
          ;; No preopened directory: path_open on 3 is BADF, on a stream NOTDIR.
          (call $keep (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0)
            (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
          (call $keep (call $path_open (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)
            (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
          ;; A closed stream takes no more.
          (call $keep (call $fd_close (i32.const 2)))
          (call $keep (call $fd_write (i32.const 2) (i32.const 100) (i32.const 1) (i32.const 200)))
          ;; poll_oneoff: one clock subscription and a read of standard input (6 bytes left).
          (i64.store (i32.const 600) (i64.const 11))
          (i32.store8 (i32.const 608) (i32.const 0))
          (i64.store (i32.const 648) (i64.const 12))
          (i32.store8 (i32.const 656) (i32.const 1))
          (i32.store (i32.const 664) (i32.const 0))
          (call $keep (call $poll_oneoff (i32.const 600) (i32.const 700) (i32.const 2) (i32.const 208)))
          (call $proc_exit (i32.const 42))
          unreachable))"#
    );
    let input = CallInput { stdin: b"123456789abcdef".to_vec(), clock: 1000, ..CallInput::default() };
    // Chunks of 4 bytes make every transfer take several steps.
    let mut m = start(&module(&wat), Config { memory_chunk_size: 4, ..Config::default() }, input);
    assert_eq!(m.run(u64::MAX), Status::Exited(42));
    let errnos: Vec<u32> = (0..13).map(|i| i32_at(&m, 8192 + 4 * i)).collect();
    let e = |x: u16| x as u32;
    assert_eq!(
        errnos,
        [
            0,
            0,
            0,
            e(errno::BADF),
            e(errno::FAULT),
            0,
            0,
            e(errno::INVAL),
            e(errno::BADF),
            e(errno::NOTDIR),
            0,
            e(errno::BADF),
            0
        ]
    );
    assert_eq!(m.io().stdout().to_vec(), b"helloabcd");
    assert!(m.io().stderr().is_empty());
    assert_eq!((i32_at(&m, 200), i32_at(&m, 204), i32_at(&m, 208)), (9, 9, 2));
    assert_eq!(&m.store().memories[0].data()[512..517], b"12345");
    assert_eq!(&m.store().memories[0].data()[519..523], b"6789");
    assert_eq!(m.io().regs().stdin_pos, 9);
    assert_eq!(m.store().memories[0].data()[300], 0, "of unknown type, as pipes are: not a terminal");
    assert_eq!(u64_at(&m, 308), 1 << 1 | 1 << 21 | 1 << 27, "read, filestat and poll rights");
    let realtime = u64_at(&m, 400);
    // Realtime is the input's clock plus the step counter; the monotonic clock read later
    // counts the steps in between.
    let monotonic = u64_at(&m, 408);
    assert!(realtime > 1000 && monotonic > realtime - 1000 && monotonic < m.steps(), "{realtime} {monotonic}");
    // The events: userdata, no error, the type, and for the read the bytes left.
    assert_eq!((u64_at(&m, 700), u64_at(&m, 732)), (11, 12));
    assert_eq!((m.store().memories[0].data()[742], u64_at(&m, 748)), (1, 6));
}

#[test]
fn a_stream_takes_64_mib_then_reports_no_space() {
    let wat = format!(
        r#"(module {IMPORTS}
        (func (export "_start") (local $i i32)
          (i32.store (i32.const 100) (i32.const 0))
          (i32.store (i32.const 104) (i32.const 65536))
          (loop $more
            (call $keep (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 200)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $more (i32.le_u (local.get $i) (i32.const 1024))))))"#
    );
    let config = Config { memory_chunk_size: 65536, ..Config::default() };
    let mut m = start(&module(&wat), config, CallInput::default());
    assert_eq!(m.run(u64::MAX), Status::Returned);
    assert_eq!(m.io().stdout().len(), MAX_STREAM_LEN);
    assert_eq!(i32_at(&m, 8192 + 4 * 1023), 0);
    assert_eq!(i32_at(&m, 8192 + 4 * 1024), errno::NOSPC as u32, "the 1025th write finds the stream full");
}

#[test]
fn snapshots_and_ways_back_hold_calls_in_the_middle() {
    let wat = format!(
        r#"(module {IMPORTS}
        (data (i32.const 100) "\00\02\00\00\40\00\00\00")
        (func (export "_start")
          (call $keep (call $fd_read (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))
          (call $keep (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 200)))
          (call $keep (call $fd_write (i32.const 2) (i32.const 100) (i32.const 1) (i32.const 200)))
          (call $proc_exit (i32.const 7))))"#
    );
    let module = module(&wat);
    let input = CallInput {
        args: vec![b"a".to_vec()],
        env: vec![b"K=V".to_vec()],
        stdin: (0..100u8).collect(),
        seed: [9; 32],
        clock: 5,
    };
    let mut m = start(&module, Config { memory_chunk_size: 8, ..Config::default() }, input);
    let modules = [module.clone()];
    let mut snapshots = Vec::new();
    let undo = m.begin_undo();
    loop {
        let snap = m.snapshot();
        let back = Machine::restore(&snap, &modules).unwrap();
        assert_eq!(back.snapshot(), snap, "step {}", m.steps());
        assert_eq!(back.io(), m.io());
        snapshots.push(snap);
        if m.step().is_halted() {
            break;
        }
    }
    assert_eq!(m.status(), Status::Exited(7));
    assert_eq!(m.io().stdout().to_vec(), (0..64u8).collect::<Vec<_>>());
    assert_eq!(m.io().stderr().to_vec(), (0..64u8).collect::<Vec<_>>());
    let back = Machine::restore(&m.snapshot(), &modules).unwrap();
    assert_eq!(back.status(), Status::Exited(7));
    // The way back from the end leads to step 0, streams and registers included.
    let rewind = m.seal(undo);
    m.rewind(rewind).unwrap();
    assert_eq!(m.snapshot(), snapshots[0]);
    assert!(m.io().stdout().is_empty());
}
