//! The state hash against docs/spec.md: a second implementation written from the document
//! (byte buffers and Keccak, rs_merkle for trees), golden vectors in `vectors/state.json`,
//! and the properties the game relies on (fixed points, every field matters).
//!
//! `VERIGAME_BLESS=1` rewrites the vectors after an intended change of the specification.

use std::sync::Arc;

use merkle_memory::state::{Commitment, NO_FUNCTION};
use merkle_memory::{hex, state_hash, Hash, TreeHasher};
use rs_merkle::MerkleTree;
use serde_json::{json, Value as Json};
use sha3::{Digest, Keccak256};
use stepper::store::Func;
use stepper::{Config, Extern, GasTable, Machine, MachineParts, Module, Status, Value};

// ---- docs/spec.md, implemented from the text -------------------------------------

fn h(bytes: &[u8]) -> Hash {
    Keccak256::digest(bytes).into()
}

fn msg(tag: u8, parts: &[&[u8]]) -> Hash {
    let mut b = vec![tag];
    parts.iter().for_each(|p| b.extend_from_slice(p));
    h(&b)
}

fn spec_tree(leaves: &[Hash]) -> Hash {
    MerkleTree::<TreeHasher>::from_leaves(leaves).root().unwrap_or([0; 32])
}

fn spec_slot_leaf(v: u64) -> Hash {
    msg(0x00, &[&v.to_le_bytes()])
}

fn spec_chain(tag: u8, values: impl IntoIterator<Item = u64>) -> Hash {
    values.into_iter().fold([0; 32], |below, v| msg(tag, &[&v.to_le_bytes(), &below]))
}

fn spec_memory(data: &[u8], max: Option<u32>, chunk: usize) -> Hash {
    let leaves: Vec<Hash> = data.chunks(chunk).map(|c| msg(0x00, &[c])).collect();
    let pages = (data.len() / 65536) as u32;
    msg(0x16, &[&pages.to_le_bytes(), &max.unwrap_or(65536).to_le_bytes(), &spec_tree(&leaves)])
}

fn spec_table(elems: &[u64]) -> Hash {
    let leaves: Vec<Hash> = elems.iter().map(|&e| spec_slot_leaf(e)).collect();
    msg(0x17, &[&(elems.len() as u32).to_le_bytes(), &spec_tree(&leaves)])
}

fn spec_config(c: &Config) -> Hash {
    let mut b = Vec::new();
    for v in [c.max_memory_pages, c.max_table_elements, c.max_value_stack, c.max_call_depth] {
        b.extend(v.to_le_bytes());
    }
    b.extend(c.gas_limit.to_le_bytes());
    b.extend(c.memory_chunk_size.to_le_bytes());
    c.gas.costs.iter().for_each(|g| b.extend(g.to_le_bytes()));
    msg(0x1A, &[&b])
}

fn spec_program(m: &Machine) -> Hash {
    let hosts: Vec<u8> = m
        .store()
        .funcs
        .iter()
        .filter_map(|f| if let Func::Host { func, .. } = f { Some(func.code()) } else { None })
        .collect();
    let mut b = (hosts.len() as u32).to_le_bytes().to_vec();
    b.extend(&hosts);
    b.extend((m.store().instances.len() as u32).to_le_bytes());
    m.store().instances.iter().for_each(|i| b.extend(i.module.code_hash));
    msg(0x1B, &[&b])
}

/// The storage tree: over key hashes `keccak(0x1C || key)`, empty subtrees are zero, a
/// subtree of one key is its leaf `keccak(0x1E || key hash || keccak(0x1D || value))`, any
/// other is `keccak(0x1F || left || right)`, split by the key hashes' bits from the top.
fn spec_storage<'a>(entries: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Hash {
    fn subtree(keys: &[(Hash, Hash)], depth: usize) -> Hash {
        match keys {
            [] => [0; 32],
            [(k, v)] => msg(0x1E, &[k, v]),
            _ => {
                let split = keys.partition_point(|(k, _)| k[depth / 8] >> (7 - depth % 8) & 1 == 0);
                msg(0x1F, &[&subtree(&keys[..split], depth + 1), &subtree(&keys[split..], depth + 1)])
            }
        }
    }
    let mut leaves: Vec<(Hash, Hash)> = entries.map(|(k, v)| (msg(0x1C, &[k]), msg(0x1D, &[v]))).collect();
    leaves.sort();
    subtree(&leaves, 0)
}

/// The call's input laid out: for the arguments, then the environment, a table of u32
/// offsets of each string and the NUL-terminated strings; then standard input.
fn spec_input_bytes(call: &stepper::CallInput) -> Vec<u8> {
    let mut b = Vec::new();
    for list in [&call.args, &call.env] {
        let mut offset = 0u32;
        for s in list.iter() {
            b.extend(offset.to_le_bytes());
            offset += s.len() as u32 + 1;
        }
        for s in list.iter() {
            b.extend(s);
            b.push(0);
        }
    }
    b.extend(&call.stdin);
    b
}

fn spec_stream(bytes: &[u8]) -> Hash {
    let full = bytes.len() / 64 * 64;
    let chain = bytes[..full].chunks(64).fold([0u8; 32], |chain, block| msg(0x24, &[&chain, block]));
    msg(0x23, &[&(bytes.len() as u64).to_le_bytes(), &chain, &bytes[full..]])
}

fn spec_io(m: &Machine) -> Hash {
    let io = m.io();
    let (call, r) = (&io.input().call, io.regs());
    let chunk = m.config().memory_chunk_size as usize;
    let input = spec_input_bytes(call);
    let leaves: Vec<Hash> = input
        .chunks(chunk)
        .map(|c| {
            let mut c = c.to_vec();
            c.resize(chunk, 0);
            msg(0x00, &[&c])
        })
        .collect();
    let sizes = |list: &[Vec<u8>]| list.iter().map(|s| s.len() as u32 + 1).sum::<u32>();
    msg(
        0x22,
        &[
            &spec_tree(&leaves),
            &(call.args.len() as u32).to_le_bytes(),
            &sizes(&call.args).to_le_bytes(),
            &(call.env.len() as u32).to_le_bytes(),
            &sizes(&call.env).to_le_bytes(),
            &(call.stdin.len() as u64).to_le_bytes(),
            &call.clock.to_le_bytes(),
            &call.seed,
            &r.stdin_pos.to_le_bytes(),
            &r.random_pos.to_le_bytes(),
            &[r.closed],
            &r.cursor.to_le_bytes(),
            &r.done.to_le_bytes(),
            &spec_stream(&io.stdout().to_vec()),
            &spec_stream(&io.stderr().to_vec()),
        ],
    )
}

fn spec_frame(func: u32, pc: u32, base: u32) -> Hash {
    msg(0x12, &[&func.to_le_bytes(), &pc.to_le_bytes(), &base.to_le_bytes()])
}

fn spec_state(m: &Machine) -> Hash {
    let context = msg(0x11, &[&spec_program(m), &spec_config(m.config())]);
    let (status, trap, trap_arg) = match m.status() {
        Status::Running => (0u8, 0u32, 0u32),
        Status::Returned => (1, 0, 0),
        Status::Trapped(t) => (2, t.code(), if let stepper::Trap::Aborted(c) = t { c as u32 } else { 0 }),
        Status::OutOfGas => (3, 0, 0),
        Status::Exited(code) => (4, 0, code),
    };
    let mut frames: Vec<Hash> = Vec::new();
    for (i, f) in m.frames().iter().enumerate() {
        let pc = m.frames().get(i + 1).map_or(m.pc(), |callee| callee.ret_pc);
        frames.push(spec_frame(f.func, pc, f.base));
    }
    let frame = frames.pop().unwrap_or_else(|| spec_frame(u32::MAX, 0, 0));
    let callers = frames.iter().fold([0u8; 32], |below, f| msg(0x14, &[f, &below]));
    let slots: Vec<Hash> = m.stack().iter().map(|&v| spec_slot_leaf(v)).collect();
    let stack = spec_tree(&slots);
    let globals: Vec<Hash> = m.store().globals.iter().map(|g| spec_slot_leaf(g.value)).collect();
    let memories: Vec<Hash> = m
        .store()
        .memories
        .iter()
        .map(|mem| spec_memory(mem.data(), mem.max(), m.config().memory_chunk_size as usize))
        .collect();
    let tables: Vec<Hash> = m.store().tables.iter().map(|t| spec_table(t.elems())).collect();
    let mut seg = (m.store().elems.len() as u32).to_le_bytes().to_vec();
    seg.extend(m.store().elems.iter().map(|e| e.is_empty() as u8));
    seg.extend((m.store().data_dropped.len() as u32).to_le_bytes());
    seg.extend(m.store().data_dropped.iter().map(|&d| d as u8));
    let output = spec_chain(0x18, m.output().iter().map(|&v| v as u64));
    let storage = spec_storage(m.store().storage.entries());
    let environment = msg(
        0x15,
        &[
            &spec_tree(&globals),
            &spec_tree(&memories),
            &spec_tree(&tables),
            &msg(0x19, &[&seg]),
            &output,
            &storage,
            &spec_io(m),
        ],
    );
    let mut b = vec![0x10];
    b.extend(context);
    b.push(status);
    b.extend(trap.to_le_bytes());
    b.extend(trap_arg.to_le_bytes());
    b.extend(m.steps().to_le_bytes());
    b.extend(m.gas_used().to_le_bytes());
    b.extend((m.frames().len() as u32).to_le_bytes());
    b.extend((m.stack().len() as u32).to_le_bytes());
    b.extend(m.entry().unwrap_or(u32::MAX).to_le_bytes());
    b.extend(frame);
    b.extend(callers);
    b.extend(stack);
    b.extend(environment);
    assert_eq!(b.len(), 198, "the state message is 198 bytes");
    h(&b)
}

// ---- programs ----------------------------------------------------------------------

/// Touches every part of the state: memory (with data segments, stores across chunk
/// boundaries, growth), a table, globals, nested frames with locals, the output log and
/// segment drops.
const EVERYTHING: &str = r#"(module
  (import "verigame" "emit" (func $emit (param i64)))
  (import "verigame" "abort" (func $abort (param i32)))
  (memory 1 4)
  (table 4 8 funcref)
  (global $counter (mut i32) (i32.const 5))
  (global $scale i64 (i64.const 3))
  (data $hello "hello, verigame")
  (data (i32.const 60) "straddles a chunk boundary")
  (elem (i32.const 1) $leaf $mid)
  (func $leaf (param $x i32) (result i32) (local $t i64)
    (local.set $t (i64.extend_i32_u (local.get $x)))
    (call $emit (i64.mul (local.get $t) (global.get $scale)))
    (i32.store offset=62 (i32.const 0) (local.get $x))
    (i32.add (local.get $x) (i32.const 1)))
  (func $mid (param $x i32) (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (call_indirect (param i32) (result i32) (local.get $x) (i32.const 1)))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (memory.init $hello (i32.const 100) (i32.const 0) (i32.const 15))
    (data.drop $hello)
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 65535) (i32.const 0x01020304))
    (table.set (i32.const 3) (ref.func $leaf))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $mid (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (memory.copy (i32.const 200) (i32.const 60) (i32.const 26))
    (local.get $acc))
  (func (export "fail") (param $code i32) (call $abort (local.get $code)))
  (func (export "spin") (loop $l (br $l))))"#;

/// A WASI command that reads its arguments, environment and standard input, writes both
/// output streams across chunk boundaries, draws random bytes, reads the clock and exits.
const WASI: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 1000) (i32.const 1004)))
    (drop (call $args_get (i32.const 0) (i32.const 256)))
    (drop (call $environ_get (i32.const 1024) (i32.const 1280)))
    (i32.store (i32.const 1500) (i32.const 2048))
    (i32.store (i32.const 1504) (i32.const 300))
    (drop (call $fd_read (i32.const 0) (i32.const 1500) (i32.const 1) (i32.const 1508)))
    (i32.store (i32.const 1504) (i32.load (i32.const 1508)))
    (drop (call $fd_write (i32.const 1) (i32.const 1500) (i32.const 1) (i32.const 1512)))
    (i32.store (i32.const 1520) (i32.const 256))
    (i32.store (i32.const 1524) (i32.load (i32.const 1004)))
    (drop (call $fd_write (i32.const 2) (i32.const 1520) (i32.const 1) (i32.const 1512)))
    (drop (call $random_get (i32.const 3000) (i32.const 100)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 3200)))
    (call $proc_exit (i32.const 3))))"#;

fn wasi_input() -> stepper::CallInput {
    stepper::CallInput {
        args: vec![b"prog".to_vec(), b"hello".to_vec(), b"world".to_vec()],
        env: vec![b"A=1".to_vec(), [&b"LONG="[..], &[b'x'; 80]].concat()],
        stdin: (0..150u8).map(|i| b'a' + i % 26).collect(),
        seed: [7; 32],
        clock: 1_700_000_000_000_000_000,
    }
}

fn wasi_machine(config: Config) -> Machine {
    let module = Module::new(WASI.as_bytes()).unwrap();
    let (mut m, instance) = Machine::load(&module, config).unwrap();
    let Some(Extern::Func(f)) = m.export(instance, "_start") else { panic!("no _start") };
    m.start_call(f, &[], u64::MAX, wasi_input()).unwrap();
    m
}

fn machine(config: Config, export: &str, args: &[Value]) -> Machine {
    let module = Module::new(EVERYTHING.as_bytes()).unwrap();
    let (mut m, instance) = Machine::load(&module, config).unwrap();
    let Some(Extern::Func(f)) = m.export(instance, export) else { panic!("no {export}") };
    m.invoke(f, args).unwrap();
    m
}

fn run_machine() -> Machine {
    machine(Config::default(), "run", &[Value::I32(3)])
}

// ---- golden vectors ----------------------------------------------------------------

fn commitment_json(c: &Commitment) -> Json {
    let env = c.environment.open().expect("a machine's commitment is open");
    json!({
        "context": hex(&c.context),
        "status": c.status,
        "trap": c.trap,
        "trap_arg": c.trap_arg,
        "steps": c.steps,
        "gas_used": c.gas_used,
        "depth": c.depth,
        "height": c.height,
        "entry": c.entry,
        "frame": {
            "func": c.frame.func,
            "pc": c.frame.pc,
            "base": c.frame.base,
            "hash": hex(&c.frame.hash()),
        },
        "callers": hex(&c.callers),
        "stack": hex(&c.stack),
        "environment": {
            "globals": hex(&env.globals),
            "memories": hex(&env.memories),
            "tables": hex(&env.tables),
            "segments": hex(&env.segments),
            "output": hex(&env.output),
            "storage": hex(&env.storage),
            "io": hex(&env.io),
            "hash": hex(&env.hash()),
        },
    })
}

/// The state hash from a vector's fields alone, as a foreign implementation computes it.
fn state_from_fields(f: &Json) -> Hash {
    let hash = |v: &Json| merkle_memory::parse_hex(v.as_str().unwrap()).unwrap();
    let u32_of = |v: &Json| u32::try_from(v.as_u64().unwrap()).unwrap();
    let fr = &f["frame"];
    let frame = msg(
        0x12,
        &[&u32_of(&fr["func"]).to_le_bytes(), &u32_of(&fr["pc"]).to_le_bytes(), &u32_of(&fr["base"]).to_le_bytes()],
    );
    assert_eq!(frame, hash(&fr["hash"]));
    let e = &f["environment"];
    let env = msg(
        0x15,
        &[
            &hash(&e["globals"]),
            &hash(&e["memories"]),
            &hash(&e["tables"]),
            &hash(&e["segments"]),
            &hash(&e["output"]),
            &hash(&e["storage"]),
            &hash(&e["io"]),
        ],
    );
    assert_eq!(env, hash(&e["hash"]));
    msg(
        0x10,
        &[
            &hash(&f["context"]),
            &[f["status"].as_u64().unwrap() as u8],
            &u32_of(&f["trap"]).to_le_bytes(),
            &u32_of(&f["trap_arg"]).to_le_bytes(),
            &f["steps"].as_u64().unwrap().to_le_bytes(),
            &f["gas_used"].as_u64().unwrap().to_le_bytes(),
            &u32_of(&f["depth"]).to_le_bytes(),
            &u32_of(&f["height"]).to_le_bytes(),
            &u32_of(&f["entry"]).to_le_bytes(),
            &frame,
            &hash(&f["callers"]),
            &hash(&f["stack"]),
            &env,
        ],
    )
}

fn primitives() -> Json {
    let leaves: Vec<Hash> = (0..5u64).map(spec_slot_leaf).collect();
    let mut memory = vec![0u8; 65536];
    memory[60..90].copy_from_slice(&[0xAB; 30]);
    memory[65535] = 1;
    json!({
        "leaf_of_u64_7": hex(&spec_slot_leaf(7)),
        "node_of_leaves_0_1": hex(&msg(0x01, &[&leaves[0], &leaves[1]])),
        "tree_roots_of_leaves_0_to_n": (0..=5).map(|n| hex(&spec_tree(&leaves[..n]))).collect::<Vec<_>>(),
        "output_chain_minus_1": hex(&spec_chain(0x18, [u64::MAX])),
        "memory_1_page_max_none_chunk_64_bytes_60_to_90_are_ab_last_is_1": hex(&spec_memory(&memory, None, 64)),
        "memory_0_pages_max_2": hex(&spec_memory(&[], Some(2), 64)),
        "table_null_f0_f1": hex(&spec_table(&[0, 1, 2])),
        "config_default": hex(&spec_config(&Config::default())),
        "storage_a_1_b_2_c_3": hex(&spec_storage([(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")].into_iter())),
    })
}

/// [`primitives`] computed with the library.
fn library_primitives() -> Json {
    use merkle_memory::{hash, memory, state, tree};
    let leaves: Vec<Hash> = (0..5u64).map(|i| hash::leaf(&i.to_le_bytes())).collect();
    let mut data = vec![0u8; 65536];
    data[60..90].copy_from_slice(&[0xAB; 30]);
    data[65535] = 1;
    let mut table = stepper::store::Table::new(stepper::ValType::FuncRef, vec![0, 1, 2], None);
    json!({
        "leaf_of_u64_7": hex(&hash::leaf(&7u64.to_le_bytes())),
        "node_of_leaves_0_1": hex(&hash::node(&leaves[0], &leaves[1])),
        "tree_roots_of_leaves_0_to_n": (0..=5).map(|n| hex(&tree::root(&leaves[..n]))).collect::<Vec<_>>(),
        "output_chain_minus_1": hex(&state::output_link(-1, &hash::EMPTY)),
        "memory_1_page_max_none_chunk_64_bytes_60_to_90_are_ab_last_is_1":
            hex(&memory::commitment(&mut stepper::store::Memory::new(data, None, 64))),
        "memory_0_pages_max_2": hex(&memory::commitment(&mut stepper::store::Memory::new(Vec::new(), Some(2), 64))),
        "table_null_f0_f1": hex(&state::table_commitment(&mut table)),
        "config_default": hex(&state::config_hash(&Config::default())),
        "storage_a_1_b_2_c_3": hex(&{
            let mut s = stepper::storage::Storage::default();
            [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")].iter().for_each(|(k, v)| s.set(*k, Some(*v)));
            merkle_memory::storage::storage_root(&mut s)
        }),
    })
}

fn vectors() -> Json {
    let mut states = Vec::new();
    let mut record = |name: &str, m: &mut Machine| {
        let c = Commitment::of(m);
        states.push(json!({ "program": name, "fields": commitment_json(&c), "state_hash": hex(&c.hash()) }));
    };
    let mut m = run_machine();
    for step in [0, 1, 5, 20, 60, 120] {
        m.run(step - m.steps());
        record("run(3)", &mut m);
    }
    m.run(u64::MAX);
    record("run(3)", &mut m);
    let mut m = machine(Config::default(), "fail", &[Value::I32(-7)]);
    m.run(u64::MAX);
    record("fail(-7)", &mut m);
    let config = Config { gas_limit: 50, gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] }, ..Config::default() };
    let mut m = machine(config, "spin", &[]);
    m.run(u64::MAX);
    record("spin with 50 gas, costs 1 5 1 2 2 1 3 4 6", &mut m);
    let mut m = wasi_machine(Config { memory_chunk_size: 64, ..Config::default() });
    for step in [0, 4, 12, 30, 45] {
        m.run(step - m.steps());
        record("WASI _start, chunks of 64 bytes", &mut m);
    }
    m.run(u64::MAX);
    record("WASI _start, chunks of 64 bytes", &mut m);
    json!({ "version": 2, "primitives": primitives(), "states": states })
}

#[test]
fn golden_vectors_match_the_specification() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/state.json");
    let now = vectors();
    if std::env::var_os("VERIGAME_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let stored: Json = serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors exist")).unwrap();
    assert_eq!(stored["primitives"], now["primitives"], "primitive vectors changed");
    assert_eq!(stored["primitives"], library_primitives(), "the library disagrees with the specification");
    let stored_states = stored["states"].as_array().unwrap();
    assert_eq!(stored_states.len(), now["states"].as_array().unwrap().len());
    for (s, n) in stored_states.iter().zip(now["states"].as_array().unwrap()) {
        assert_eq!(s, n, "state vector of {} changed", s["program"]);
        let from_fields = state_from_fields(&s["fields"]);
        assert_eq!(
            hex(&from_fields),
            s["state_hash"].as_str().unwrap(),
            "{}: fields do not give the hash",
            s["program"]
        );
    }
}

#[test]
fn library_and_specification_agree_at_every_step() {
    let mut m = run_machine();
    let mut seen = std::collections::HashSet::new();
    loop {
        let ours = state_hash(&mut m);
        assert_eq!(ours, spec_state(&m), "step {}", m.steps());
        assert!(seen.insert(ours), "step {} repeats an earlier state hash", m.steps());
        if m.step() != Status::Running {
            break;
        }
    }
    assert_eq!(m.status(), Status::Returned);
    assert_eq!(state_hash(&mut m), spec_state(&m));
    assert!(m.output().len() == 3 && m.store().memories[0].pages() == 2, "the program touched what it should");
}

#[test]
fn library_and_specification_agree_at_every_step_of_a_wasi_call() {
    for chunk in [1, 64, 512] {
        let mut m = wasi_machine(Config { memory_chunk_size: chunk, ..Config::default() });
        loop {
            assert_eq!(state_hash(&mut m), spec_state(&m), "chunk {chunk}, step {}", m.steps());
            if m.step() != Status::Running {
                break;
            }
        }
        assert_eq!(m.status(), Status::Exited(3));
        assert_eq!(state_hash(&mut m), spec_state(&m));
        let input = wasi_input();
        assert_eq!(m.io().stdout().to_vec(), input.stdin, "standard input echoed");
        assert_eq!(m.io().stderr().to_vec(), b"prog\0hello\0world\0");
        let memory = m.store().memories[0].data();
        let pointers: Vec<u32> =
            (0..3).map(|i| u32::from_le_bytes(memory[4 * i..4 * i + 4].try_into().unwrap())).collect();
        assert_eq!(pointers, [256, 261, 267]);
        assert_eq!(&memory[1280..1284], b"A=1\0");
        assert_eq!(&memory[3000..3100], &stepper::wasi::random_bytes(&[7; 32], 0, 100)[..]);
    }
}

#[test]
fn halted_machines_are_fixed_points() {
    let config = Config { gas_limit: 40, ..Config::default() };
    for (mut m, want) in [
        (run_machine(), Status::Returned),
        (machine(Config::default(), "fail", &[Value::I32(3)]), Status::Trapped(stepper::Trap::Aborted(3))),
        (machine(config, "spin", &[]), Status::OutOfGas),
    ] {
        assert_eq!(m.run(u64::MAX), want);
        let before = state_hash(&mut m);
        for _ in 0..3 {
            m.step();
            m.run(1000);
        }
        assert_eq!(state_hash(&mut m), before, "{want:?}");
    }
}

#[test]
fn every_part_of_the_state_changes_the_hash() {
    let mut base = run_machine();
    base.run(40);
    assert!(base.frames().len() >= 2, "a nested call is running");
    let reference = state_hash(&mut base);
    type Change = Box<dyn Fn(&mut Machine)>;
    // A change of shape goes through the machine's parts; these machines are only hashed.
    fn reshaped(m: &mut Machine, change: impl Fn(&mut MachineParts)) {
        let mut parts = m.clone().into_parts();
        change(&mut parts);
        // SAFETY: the machine is hashed and dropped, never stepped or run.
        *m = unsafe { Machine::from_parts_unchecked(parts) };
    }
    let changes: Vec<(&str, Change)> = vec![
        (
            "a deep local",
            Box::new(|m| {
                let flipped = m.stack()[0] ^ 1;
                m.tamper().set_slot(0, flipped).unwrap()
            }),
        ),
        ("the top operand", Box::new(|m| reshaped(m, |p| *p.stack.last_mut().unwrap() ^= 1 << 40))),
        ("a caller's return pc", Box::new(|m| reshaped(m, |p| p.frames[1].ret_pc += 1))),
        ("the pc", Box::new(|m| reshaped(m, |p| p.pc += 1))),
        (
            "the step counter",
            Box::new(|m| {
                let (steps, gas) = (m.steps(), m.gas_used());
                m.tamper().set_counters(steps + 1, gas).unwrap()
            }),
        ),
        (
            "gas used",
            Box::new(|m| {
                let (steps, gas) = (m.steps(), m.gas_used());
                m.tamper().set_counters(steps, gas + 1).unwrap()
            }),
        ),
        ("the status", Box::new(|m| reshaped(m, |p| p.status = Status::Trapped(stepper::Trap::Unreachable)))),
        ("the trap", Box::new(|m| reshaped(m, |p| p.status = Status::Trapped(stepper::Trap::Aborted(1))))),
        ("the entry", Box::new(|m| reshaped(m, |p| p.entry = Some(3)))),
        (
            "a global",
            Box::new(|m| {
                let value = m.store().globals[0].value;
                m.tamper().set_global(0, value + 1).unwrap()
            }),
        ),
        ("a memory byte", Box::new(|m| m.tamper().write_memory(0, 4095, &[9]).unwrap())),
        ("a table element", Box::new(|m| m.tamper().set_table_element(0, 0, 2).unwrap())),
        ("a storage entry", Box::new(|m| m.storage_mut().set(b"key", Some(b"value")))),
        ("a data segment drop", Box::new(|m| reshaped(m, |p| p.store.data_dropped[1] = !p.store.data_dropped[1]))),
        (
            "an element segment",
            Box::new(|m| {
                reshaped(m, |p| p.store.elems[0] = if p.store.elems[0].is_empty() { vec![1] } else { vec![] })
            }),
        ),
        ("the output log", Box::new(|m| reshaped(m, |p| p.output.push(0)))),
        ("the configuration", Box::new(|m| reshaped(m, |p| p.config.max_call_depth -= 1))),
        ("a gas price", Box::new(|m| reshaped(m, |p| p.config.gas.costs[8] += 1))),
        ("one more operand", Box::new(|m| reshaped(m, |p| p.stack.push(0)))),
    ];
    for (what, change) in changes {
        let mut m = base.clone();
        change(&mut m);
        assert_ne!(state_hash(&mut m), reference, "{what} is not committed to");
    }
    assert_eq!(state_hash(&mut base.clone()), reference);
}

#[test]
fn a_restored_or_cloned_machine_has_the_same_hash() {
    let module: Arc<Module> = Module::new(EVERYTHING.as_bytes()).unwrap();
    let mut m = run_machine();
    while m.status() == Status::Running {
        let mut restored = Machine::restore(&m.snapshot(), std::slice::from_ref(&module)).unwrap();
        assert_eq!(state_hash(&mut restored), state_hash(&mut m), "step {}", m.steps());
        let mut clone = m.clone();
        clone.run(7);
        m.run(7);
        assert_eq!(state_hash(&mut clone), state_hash(&mut m));
    }
    assert_ne!(NO_FUNCTION, m.entry().unwrap());
}
