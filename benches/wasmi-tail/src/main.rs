//! Times wasmi 2.0 with its default tail-call dispatch (`deterministic`, eager
//! compilation) on the programs and sizes `verigame bench` runs, to compare with the
//! stepper's fast path there. Prints the median of `--repeat N` calls (default 5) per
//! program in milliseconds.

use std::path::Path;
use std::time::Instant;

use wasmi::{CompilationMode, Config, Engine, Linker, Module, Store, Val};

/// The programs of `verigame bench`, in its order.
const RUNS: [(&str, &str, i32); 7] = [
    ("fib.wasm", "fib_rec", 27),
    ("sort.wasm", "sort_checksum", 20000),
    ("matmul.wasm", "matmul_trace", 100),
    ("matmul.wasm", "mandel", 96),
    ("sha256.wasm", "sha256_rounds", 1000),
    ("dispatch.wasm", "run_vm", 3000),
    ("memops.wasm", "memops", 100),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let repeat = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args.get(i + 1).ok_or("--repeat needs a count")?.parse()?,
        None => 5,
    };
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs");
    let mut config = Config::default();
    config.compilation_mode(CompilationMode::Eager);
    let engine = Engine::new(&config);
    println!("{:<28} {:>10}", "program", "wasmi ms");
    for (file, export, arg) in RUNS {
        let bytes = std::fs::read(programs.join(file))?;
        let module = Module::new(&engine, &bytes[..])?;
        let mut times = Vec::new();
        for _ in 0..repeat {
            let mut store = Store::new(&engine, ());
            let instance = Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module)?;
            let func = instance.get_func(&store, export).ok_or("no such export")?;
            let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
            let start = Instant::now();
            func.call(&mut store, &[Val::I32(arg)], &mut results)?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("{:<28} {:>10.1}", format!("{export}({arg})"), times[times.len() / 2]);
    }
    Ok(())
}
