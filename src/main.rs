use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stepper::Config;
use verigame::run::{run_stepper, run_wasmi, Engine};

#[derive(Parser)]
#[command(name = "verigame", version, about = "Settle disputes about WebAssembly execution")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Call an exported function and print its results, steps, gas and status.
    Run {
        /// The module: binary (.wasm) or text (.wat).
        module: PathBuf,
        /// The exported function to call (default: the only one, or _start/main).
        #[arg(long)]
        invoke: Option<String>,
        /// Arguments, parsed by the function's signature: integers in decimal,
        /// floats in decimal or as 0x bit patterns (after `--` for values like -inf).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        #[arg(long, value_enum, default_value_t = Engine::Stepper)]
        engine: Engine,
        /// Stop after this many steps (the status is then `running`).
        #[arg(long)]
        max_steps: Option<u64>,
        /// Gas the call may use (stepper only).
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the state hash and a summary of the machine at a step of a call.
    State {
        /// The module: binary (.wasm) or text (.wat).
        module: PathBuf,
        /// The exported function to call (default: the only one, or _start/main).
        #[arg(long)]
        invoke: Option<String>,
        /// Arguments, parsed by the function's signature.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The step: 0 is the state before the first instruction. A call that halts
        /// earlier stays at its final state.
        #[arg(long)]
        at: u64,
        /// Gas the call may use.
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the one-step proof of the step that takes the state at step N to step N+1.
    Prove {
        /// The module: binary (.wasm) or text (.wat).
        module: PathBuf,
        /// The exported function to call (default: the only one, or _start/main).
        #[arg(long)]
        invoke: Option<String>,
        /// Arguments, parsed by the function's signature.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The step: the proof takes the state at this step to the next.
        #[arg(long)]
        step: u64,
        /// Gas the call may use (the judge must be given the same).
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Write the proof (JSON) here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a one-step proof (JSON, as `prove` writes it) and print the verdict.
    Judge {
        /// The module the proof is about.
        module: PathBuf,
        proof: PathBuf,
        /// Gas limit of the call the proof is about.
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compare the stepper's fast path with wasmi on the bundled real programs.
    Bench {
        /// Timings per engine and program; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Folder of the bundled programs.
        #[arg(long)]
        programs: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run WebAssembly spec test scripts (.wast files or folders of them).
    Spectest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every failing assertion, not just the counts.
        #[arg(long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { module, invoke, args, engine, max_steps, gas_limit, json } => {
            run(&module, invoke.as_deref(), &args, engine, max_steps, gas_limit, json)
        }
        Command::State { module, invoke, args, at, gas_limit, json } => {
            state(&module, invoke.as_deref(), &args, at, gas_limit, json)
        }
        Command::Prove { module, invoke, args, step, gas_limit, out } => {
            prove(&module, invoke.as_deref(), &args, step, gas_limit, out.as_deref())
        }
        Command::Judge { module, proof, gas_limit, json } => judge(&module, &proof, gas_limit, json),
        Command::Bench { repeat, programs, json } => bench(programs, repeat, json),
        Command::Spectest { paths, verbose } => spectest(&paths, verbose),
    }
}

/// Exit codes: 0 returned, 1 trapped / out of gas / stopped at the step limit,
/// 2 unusable input (unreadable or invalid module, bad arguments).
fn run(
    path: &std::path::Path,
    invoke: Option<&str>,
    args: &[String],
    engine: Engine,
    max_steps: Option<u64>,
    gas_limit: Option<u64>,
    json: bool,
) -> ExitCode {
    let outcome = verigame::run::read_module_bytes(path).and_then(|bytes| match engine {
        Engine::Stepper => run_stepper(&bytes, invoke, args, max_steps.unwrap_or(u64::MAX), gas_config(gas_limit)),
        Engine::Wasmi if max_steps.is_some() || gas_limit.is_some() => {
            anyhow::bail!("--max-steps and --gas-limit apply to the stepper engine only")
        }
        Engine::Wasmi => run_wasmi(&bytes, invoke, args),
    });
    match outcome {
        Ok(outcome) => {
            if json {
                println!("{}", outcome.to_json());
            } else {
                outcome.print();
            }
            if outcome.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn gas_config(gas_limit: Option<u64>) -> Config {
    Config { gas_limit: gas_limit.unwrap_or(u64::MAX), ..Config::default() }
}

/// Exit codes: 0 printed, 2 unusable input.
fn state(path: &std::path::Path, invoke: Option<&str>, args: &[String], at: u64, gas_limit: Option<u64>, json: bool) -> ExitCode {
    let machine = verigame::run::read_module_bytes(path)
        .and_then(|bytes| verigame::run::prepare_call(&bytes, invoke, args, gas_config(gas_limit)));
    let mut machine = match machine {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    machine.run(at);
    let summary = verigame::state::StateSummary::of(&mut machine);
    if json {
        println!("{}", summary.to_json());
    } else {
        if summary.step < at {
            println!("(the call halted at step {}, before step {at}: its final state)", summary.step);
        }
        summary.print();
    }
    ExitCode::SUCCESS
}

/// Exit codes: 0 written, 2 unusable input or an unwritable file.
fn prove(
    path: &std::path::Path,
    invoke: Option<&str>,
    args: &[String],
    step: u64,
    gas_limit: Option<u64>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    let result = verigame::run::read_module_bytes(path)
        .and_then(|bytes| verigame::run::prepare_call(&bytes, invoke, args, gas_config(gas_limit)))
        .and_then(|mut machine| {
            let proof = verigame::prove::prove_step(&mut machine, step);
            if proof.step < step {
                eprintln!("note: the call halted at step {}, before step {step}; this proves a step of its final state", proof.step);
            }
            let text = serde_json::to_string_pretty(&judge::json::to_json(&proof))? + "\n";
            match out {
                Some(file) => {
                    std::fs::write(file, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                    eprintln!(
                        "wrote the proof of step {} ({} bytes in binary form) to {}",
                        proof.step,
                        judge::to_bytes(&proof).len(),
                        file.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(())
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Exit codes: 0 a valid proof, 1 an invalid one, 2 unreadable input.
fn judge(path: &std::path::Path, proof: &std::path::Path, gas_limit: Option<u64>, json: bool) -> ExitCode {
    let report = verigame::run::read_module_bytes(path).and_then(|bytes| {
        let module = stepper::Module::new(&bytes)?;
        let proof = verigame::prove::read_proof(proof)?;
        verigame::prove::judge_proof(module, gas_config(gas_limit), &proof)
    });
    match report {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                report.print();
            }
            if report.valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn bench(programs: Option<PathBuf>, repeat: usize, json: bool) -> ExitCode {
    use verigame::bench::{measure, print_table, programs_dir, to_json, Prepared, WORKLOADS};
    let dir = programs.unwrap_or_else(programs_dir);
    let mut measurements = Vec::new();
    for &workload in WORKLOADS {
        match Prepared::new(&dir, workload).and_then(|p| measure(&p, repeat)) {
            Ok(m) => measurements.push(m),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    if json {
        println!("{}", to_json(&measurements));
    } else {
        print_table(&measurements);
    }
    ExitCode::SUCCESS
}

fn spectest(paths: &[PathBuf], verbose: bool) -> ExitCode {
    let files = match verigame::spectest::collect_scripts(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = verigame::spectest::run_script(file);
        println!("{:<40} {:>6} passed {:>6} failed", file.display(), report.passed, report.failed);
        if verbose {
            for f in &report.failures {
                println!("    {f}");
            }
        }
        passed += report.passed;
        failed += report.failed;
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
