//! How long the judge takes on hostile proofs, in both encodings: openings far beyond
//! what one step touches, proofs padded with hashes up to the wire's 16 MiB line limit,
//! JSON texts at and over the largest the judge reads, and mutated pre-states. The goal
//! (issue 13): any proof up to 16 MiB judged or refused in under 50 ms.
//!
//! ```text
//! cargo bench -p judge --bench hostile
//! ```

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use judge::{prove, Judge, Known, Proof};
use stepper::{Config, Extern, Machine, Module, Value};

/// The wire protocol's longest line.
const LINE: usize = 16 << 20;

/// A machine a few calls deep with locals and operands, at a `local.get`.
fn honest() -> (Judge, Proof) {
    let module: Arc<Module> = Module::new(
        br#"(module (memory 1)
          (func $leaf (param i32) (result i32) (local i64 i64)
            (i32.store (local.get 0) (i32.add (local.get 0) (i32.const 1))) (i32.load (local.get 0)))
          (func (export "go") (param i32) (result i32) (local i32)
            (i32.add (call $leaf (local.get 0)) (call $leaf (i32.const 8)))))"#,
    )
    .expect("module");
    let (mut m, instance) = Machine::load(&module, Config::default()).expect("loads");
    let Some(Extern::Func(go)) = m.export(instance, "go") else { panic!("no export") };
    m.invoke(go, &[Value::I32(4)]).expect("call starts");
    m.run(6);
    (Judge::new(module, Config::default()).expect("judge"), prove(&m))
}

/// A stack opening of `n` slots: far more than one step opens.
fn wide_stack(p: &Proof, n: u32) -> Proof {
    let mut q = p.clone();
    q.stack.count = n;
    q.stack.indices = (0..n).collect();
    q.stack.values = (0..n as u64).collect();
    q
}

/// The honest proof with hashes appended to its stack opening's proof until its compact
/// form is about `bytes` long.
fn padded(p: &Proof, bytes: usize) -> Proof {
    let mut q = p.clone();
    q.stack.proof.extend(std::iter::repeat_n([7u8; 32], bytes / 32));
    q
}

fn bench(c: &mut Criterion) {
    let (judge, proof) = honest();
    let known = Known::of(&proof);
    let mut g = c.benchmark_group("hostile");
    g.sample_size(20);
    let cases = [
        ("stack opening of 1M slots", wide_stack(&proof, 1 << 20)),
        ("stack proof padded to 16 MiB", padded(&proof, LINE)),
        ("honest", proof.clone()),
    ];
    for (name, hostile) in &cases {
        let compact = judge::to_bytes(hostile);
        eprintln!("{name}: {} bytes compact", compact.len());
        g.bench_function(format!("compact, {name}"), |b| {
            b.iter(|| match judge::from_bytes_with(black_box(&compact), &known) {
                Ok(p) => judge.check(&p).is_ok(),
                Err(_) => false,
            })
        });
        g.bench_function(format!("judge, {name}"), |b| b.iter(|| judge.check(black_box(hostile)).is_ok()));
        let text = judge::json::to_json(hostile).to_string();
        eprintln!("{name}: {} bytes JSON", text.len());
        g.bench_function(format!("JSON, {name}"), |b| {
            b.iter(|| match judge::json::from_str(black_box(&text)) {
                Ok(p) => judge.check(&p).is_ok(),
                Err(_) => false,
            })
        });
    }
    // JSON just under the longest text read: parsed whole, then refused for its size.
    let mut slots = 1u32 << 16;
    let text = loop {
        let text = judge::json::to_json(&wide_stack(&proof, slots)).to_string();
        if text.len() <= judge::json::MAX_TEXT {
            break text;
        }
        slots = slots * 9 / 10;
    };
    eprintln!("largest JSON read: {} bytes, {slots} slots", text.len());
    g.bench_function("JSON at the largest text read", |b| {
        b.iter(|| match judge::json::from_str(black_box(&text)) {
            Ok(p) => judge.check(&p).is_ok(),
            Err(_) => false,
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
