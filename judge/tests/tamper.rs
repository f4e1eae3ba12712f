//! Tampered proofs: changing any field of a valid proof makes the judge refuse it (or,
//! where the change cannot matter, still give the honest post-state), whether the judge
//! reads it directly or from the compact binary form, which recomputes the commitments
//! the openings determine. Never a panic, never an accepted forgery.

use std::sync::Arc;

use judge::proof::{Leaves, Proof};
use judge::{prove, Judge};
use merkle_memory::state::{Environment, EnvironmentCommitment};
use merkle_memory::Hash;
use stepper::{Config, Extern, Machine, Module, Value};

const PROGRAM: &str = r#"(module
  (import "verigame" "emit" (func $emit (param i64)))
  (memory 1 3)
  (table $t 3 8 funcref)
  (global $g (mut i64) (i64.const 9))
  (data $d "some bytes for memory.init")
  (elem (i32.const 0) $f $f)
  (func $f (param i32) (result i32) (local i64)
    (local.set 1 (i64.extend_i32_u (local.get 0)))
    (call $emit (local.get 1))
    (global.set $g (i64.add (global.get $g) (local.get 1)))
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "go") (param $n i32) (result i32)
    (memory.init $d (i32.const 508) (i32.const 0) (i32.const 20))
    (i64.store (i32.const 1020) (global.get $g))
    (drop (memory.grow (i32.const 1)))
    (memory.copy (i32.const 65530) (i32.const 500) (i32.const 30))
    (drop (table.grow $t (ref.func $f) (i32.const 2)))
    (table.set $t (i32.const 2) (table.get $t (i32.const 4)))
    (call_indirect (param i32) (result i32) (local.get $n) (i32.const 1))
    (call $f)))"#;

/// A machine at the start of `go(4)`.
fn start(module: &Arc<Module>) -> Machine {
    let (mut m, instance) = Machine::load(module, Config::default()).unwrap();
    let Some(Extern::Func(go)) = m.export(instance, "go") else { panic!() };
    m.invoke(go, &[Value::I32(4)]).unwrap();
    m
}

/// Records one mutation by name.
type Add<'a> = &'a mut dyn FnMut(&str, &dyn Fn(&mut Proof));

fn flip(h: &mut Hash) {
    h[7] ^= 0x10;
}

/// Every single-field change of a proof we know how to make, by name.
fn mutations(p: &Proof) -> Vec<(String, Proof)> {
    let mut out: Vec<(String, Proof)> = Vec::new();
    let mut add = |name: &str, f: &dyn Fn(&mut Proof)| {
        let mut q = p.clone();
        f(&mut q);
        if &q != p {
            out.push((name.to_string(), q));
        }
    };
    add("version", &|q| q.version += 1);
    add("step", &|q| q.step += 1);
    add("pre_hash", &|q| flip(&mut q.pre_hash));
    add("post_hash", &|q| flip(&mut q.post_hash));
    add("context", &|q| flip(&mut q.state.context));
    add("status", &|q| q.state.status ^= 1);
    add("trap", &|q| q.state.trap += 1);
    add("steps", &|q| q.state.steps += 1);
    add("gas", &|q| q.state.gas_used += 1);
    add("depth", &|q| q.state.depth += 1);
    add("height", &|q| q.state.height += 1);
    add("entry", &|q| q.state.entry ^= 1);
    add("frame.func", &|q| q.state.frame.func ^= 1);
    add("frame.pc", &|q| q.state.frame.pc += 1);
    add("frame.base", &|q| q.state.frame.base += 1);
    add("stack root", &|q| flip(&mut q.state.stack));
    add("callers", &|q| flip(&mut q.state.callers));
    let environment = |name: &str, field: fn(&mut Environment) -> &mut Hash, add: Add| {
        add(name, &|q| match &mut q.state.environment {
            EnvironmentCommitment::Open(e) => flip(field(e)),
            EnvironmentCommitment::Sealed(h) => flip(h),
        });
    };
    environment("globals root", |e| &mut e.globals, &mut add);
    environment("memories root", |e| &mut e.memories, &mut add);
    environment("tables root", |e| &mut e.tables, &mut add);
    environment("segments", |e| &mut e.segments, &mut add);
    environment("output", |e| &mut e.output, &mut add);
    environment("storage root", |e| &mut e.storage, &mut add);
    environment("input and output", |e| &mut e.io, &mut add);
    // Sealing an open environment, or opening a sealed one with made-up hashes.
    add("environment sealed or opened", &|q| {
        q.state.environment = match q.state.environment {
            EnvironmentCommitment::Open(e) => EnvironmentCommitment::Sealed(e.hash()),
            EnvironmentCommitment::Sealed(h) => EnvironmentCommitment::Open(Environment {
                globals: h,
                memories: h,
                tables: h,
                segments: h,
                output: h,
                storage: h,
                io: h,
            }),
        }
    });
    add("stack slot value", &|q| {
        if let Some(v) = q.stack.values.last_mut() {
            *v ^= 1 << 33;
        }
    });
    add("stack slot dropped", &|q| {
        q.stack.values.pop();
        q.stack.indices.pop();
    });
    add("stack emptied", &|q| {
        q.stack.values.clear();
        q.stack.indices.clear();
    });
    let leaves = |name: &str, get: fn(&mut Proof) -> Option<&mut Leaves>, add: Add| {
        add(&format!("{name} value"), &|q| {
            if let Some(l) = get(q) {
                l.values.iter_mut().for_each(|v| *v ^= 4)
            }
        });
        add(&format!("{name} index"), &|q| {
            if let Some(l) = get(q) {
                l.indices.iter_mut().for_each(|i| *i ^= 1)
            }
        });
        add(&format!("{name} count"), &|q| {
            if let Some(l) = get(q) {
                l.count += 1
            }
        });
        add(&format!("{name} proof hash"), &|q| {
            if let Some(l) = get(q) {
                l.proof.iter_mut().for_each(flip)
            }
        });
        add(&format!("{name} proof shortened"), &|q| {
            if let Some(l) = get(q) {
                l.proof.pop();
            }
        });
    };
    leaves("stack", |q| Some(&mut q.stack), &mut add);
    leaves("globals", |q| q.globals.as_mut(), &mut add);
    add("globals removed", &|q| q.globals = None);
    add("caller frame", &|q| {
        if let Some(c) = &mut q.caller {
            c.frame.pc += 1
        }
    });
    add("caller rest", &|q| {
        if let Some(c) = &mut q.caller {
            flip(&mut c.rest)
        }
    });
    add("caller removed", &|q| q.caller = None);
    add("memory pages", &|q| {
        if let Some(m) = &mut q.memory {
            m.pages += 1
        }
    });
    add("memory max", &|q| {
        if let Some(m) = &mut q.memory {
            m.max -= 1
        }
    });
    add("memory chunk byte", &|q| {
        if let Some((_, b)) = q.memory.as_mut().and_then(|m| m.chunks.first_mut()) {
            b[3] ^= 1
        }
    });
    add("memory chunk index", &|q| {
        if let Some((i, _)) = q.memory.as_mut().and_then(|m| m.chunks.first_mut()) {
            *i ^= 1
        }
    });
    add("memory chunk removed", &|q| {
        if let Some(m) = &mut q.memory {
            m.chunks.pop();
        }
    });
    add("memory chunks proof", &|q| {
        if let Some(m) = &mut q.memory {
            m.chunks_proof.iter_mut().for_each(flip)
        }
    });
    add("memories proof", &|q| {
        if let Some(m) = &mut q.memory {
            m.memories_proof.push([1; 32])
        }
    });
    add("memory removed", &|q| q.memory = None);
    add("table element", &|q| {
        if let Some(t) = &mut q.tables {
            t.tables.iter_mut().for_each(|(_, l)| l.values.iter_mut().for_each(|v| *v += 1))
        }
    });
    add("table length", &|q| {
        if let Some(t) = &mut q.tables {
            t.tables.iter_mut().for_each(|(_, l)| l.count += 1)
        }
    });
    add("table index", &|q| {
        if let Some(t) = &mut q.tables {
            t.tables.iter_mut().for_each(|(i, _)| *i += 1)
        }
    });
    add("tables proof", &|q| {
        if let Some(t) = &mut q.tables {
            t.tables_proof.push([2; 32])
        }
    });
    add("tables removed", &|q| q.tables = None);
    add("segment flag", &|q| {
        if let Some(s) = &mut q.segments {
            s.datas.iter_mut().for_each(|d| *d = !*d)
        }
    });
    add("segments removed", &|q| q.segments = None);
    out
}

#[test]
fn no_single_change_to_any_proof_of_a_run_is_accepted_as_a_forgery() {
    let module: Arc<Module> = Module::new(PROGRAM.as_bytes()).unwrap();
    let judge = Judge::new(module.clone(), Config::default()).unwrap();
    let mut m = start(&module);
    let (mut refused, mut tried) = (0, 0);
    loop {
        let proof = prove(&m);
        let honest = judge.check(&proof).expect("the honest proof passes").post_hash;
        let known = judge::Known::of(&proof);
        for (name, bad) in mutations(&proof) {
            tried += 1;
            match judge.check(&bad) {
                Err(_) => refused += 1,
                Ok(v) => assert_eq!(v.post_hash, honest, "step {}: changing the {name} forged a post-state", m.steps()),
            }
            // Sent to a chain: the step, hashes and context are the chain's own.
            if let Ok(sent) = judge::from_bytes_with(&judge::to_bytes(&bad), &known) {
                if let Ok(v) = judge.check(&sent) {
                    assert_eq!(
                        v.post_hash,
                        honest,
                        "step {}: the compact form of a changed {name} forged a post-state",
                        m.steps()
                    );
                }
            }
        }
        if m.step().is_halted() {
            break;
        }
    }
    assert!(refused * 100 >= tried * 95, "only {refused} of {tried} changes were refused");
}

#[test]
fn a_proof_is_refused_by_a_judge_of_another_module_or_configuration() {
    let module: Arc<Module> = Module::new(PROGRAM.as_bytes()).unwrap();
    let mut m = start(&module);
    m.run(5);
    let proof = prove(&m);
    let other = Module::new(PROGRAM.replace("(i32.const 508)", "(i32.const 509)").as_bytes()).unwrap();
    let err = Judge::new(other, Config::default()).unwrap().check(&proof).unwrap_err();
    assert!(err.0.contains("another module"), "{err}");
    let config = Config { max_call_depth: 99, ..Config::default() };
    assert!(Judge::new(module, config).unwrap().check(&proof).is_err());
}

#[test]
fn a_compact_proof_is_judged_against_what_the_chain_knows() {
    let module: Arc<Module> = Module::new(PROGRAM.as_bytes()).unwrap();
    let judge = Judge::new(module.clone(), Config::default()).unwrap();
    let mut m = start(&module);
    m.run(5);
    let proof = prove(&m);
    m.step();
    let next = prove(&m);
    let bytes = judge::to_bytes(&proof);
    let known = judge::Known::of(&proof);
    let honest = judge::from_bytes_with(&bytes, &known).unwrap();
    assert_eq!(judge.check(&honest).unwrap().post_hash, proof.post_hash);
    let other = judge::Known::of(&next);
    let wrong = [
        ("step", judge::Known { step: other.step, ..known }),
        ("pre_hash", judge::Known { pre_hash: other.pre_hash, ..known }),
        ("post_hash", judge::Known { post_hash: other.post_hash, ..known }),
        ("context", judge::Known { context: [3; 32], ..known }),
    ];
    for (what, k) in wrong {
        // The bytes do not carry these: the proof decodes, and the judge refuses it.
        let p = judge::from_bytes_with(&bytes, &k).unwrap();
        assert!(judge.check(&p).is_err(), "a proof judged against another {what}");
    }
}

#[test]
fn truncated_or_garbled_encodings_are_errors_not_panics() {
    let module: Arc<Module> = Module::new(PROGRAM.as_bytes()).unwrap();
    let mut m = start(&module);
    m.run(12);
    let proof = prove(&m);
    let known = judge::Known::of(&proof);
    for (form, bytes) in [("compact", judge::to_bytes(&proof)), ("full", judge::to_full_bytes(&proof))] {
        let read = |b: &[u8]| if form == "compact" { judge::from_bytes_with(b, &known) } else { judge::from_bytes(b) };
        assert_eq!(read(&bytes).as_ref(), Ok(&proof), "{form}");
        for len in 0..bytes.len() {
            assert!(read(&bytes[..len]).is_err(), "a {form} proof cut at {len} bytes was read");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).unwrap_err().0.contains("after the end"), "{form}");
    }
    // Integers in their shortest LEB128 form only, within their width; known parts only.
    let bytes = judge::to_bytes(&proof);
    let garbled = |at: usize, len: usize, with: &[u8]| {
        let mut b = bytes.clone();
        b.splice(at..at + len, with.iter().copied());
        judge::from_bytes_with(&b, &known).unwrap_err().0
    };
    assert_eq!(bytes[0], 6, "the version");
    assert!(garbled(0, 1, &[0x82, 0x00]).contains("shortest"));
    assert!(garbled(3, 1, &[0xff, 0xff, 0xff, 0xff, 0x1f]).contains("exceeds 32 bits"), "the trap code");
    // A sealed environment (bit 7) with a globals opening (bit 2).
    assert!(garbled(1, 1, &[bytes[1] | 0x80 | 0x04]).contains("seals the environment yet opens part of it"));
    let json = judge::json::to_json(&proof);
    let text = json.to_string();
    for cut in (0..text.len()).step_by(37) {
        if let Ok(v) = serde_json::from_str(&text[..cut]) {
            assert!(judge::json::from_json(&v).is_err());
        }
    }
    let mut wrong = json.clone();
    wrong["state"]["frame"]["pc"] = serde_json::json!("0x12");
    let err = judge::json::from_json(&wrong).unwrap_err();
    assert!(err.0.contains("state.frame.pc"), "{err}");
    wrong = json.clone();
    wrong["stack"]["values"] = serde_json::json!([1]);
    assert!(judge::json::from_json(&wrong).unwrap_err().0.contains("stack.values[0]"));
}
