//! Proves and judges every WASI step of a command's run, and prints per WASI function the
//! steps, the largest compact proof and the slowest judging (docs/benchmarks.md):
//!
//! `cargo run --release -p judge --example wasi_proofs -- MODULE [STDIN_FILE]`
use std::time::Instant;
use stepper::{host::HostFunc, op::Op, store::Func};

/// The WASI function the machine's next step calls, if it calls one.
fn wasi_at(m: &stepper::Machine) -> Option<&'static str> {
    let frame = m.frames().last()?;
    let Func::Wasm { instance, .. } = m.store().funcs[frame.func as usize] else { return None };
    let inst = &m.store().instances[instance as usize];
    match inst.module.code[m.pc() as usize] {
        Op::Call(i) => match m.store().funcs[inst.funcs[i as usize] as usize] {
            Func::Host { func: HostFunc::Wasi(w), .. } => Some(w.name()),
            _ => None,
        },
        _ => None,
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let Some(path) = a.get(1) else {
        eprintln!("usage: wasi_proofs MODULE [STDIN_FILE]");
        std::process::exit(2);
    };
    let wasm = std::fs::read(path).expect("the module reads");
    let stdin = a.get(2).map(|f| std::fs::read(f).expect("standard input reads")).unwrap_or_default();
    let module = stepper::Module::new(&wasm).expect("a module");
    let config = stepper::Config::default();
    let judge = judge::Judge::new(module.clone(), config.clone()).unwrap();
    let (mut m, inst) = stepper::Machine::load(&module, config).unwrap();
    let Some(stepper::Extern::Func(f)) = m.export(inst, "_start") else { panic!() };
    let input = stepper::CallInput { args: vec![path.as_bytes().to_vec()], stdin, ..Default::default() };
    m.start_call(f, &[], u64::MAX, input).unwrap();
    let mut by: std::collections::BTreeMap<&str, (u64, usize, f64)> = Default::default();
    while !m.status().is_halted() {
        if let Some(name) = wasi_at(&m) {
            let p = judge::prove_in_place(&mut m);
            let size = judge::to_bytes(&p).len();
            let t = Instant::now();
            judge.check(&p).unwrap();
            let us = t.elapsed().as_secs_f64() * 1e6;
            let (steps, largest, slowest) = by.entry(name).or_default();
            (*steps, *largest, *slowest) = (*steps + 1, (*largest).max(size), slowest.max(us));
            m.step();
        } else {
            m.run(1);
        }
    }
    for (name, (n, max, us)) in by {
        println!("{name:20} {n:6} steps, largest compact proof {max:6} bytes, slowest judging {us:7.0} us");
    }
}
