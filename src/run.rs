//! `verigame run`: call an exported function, or run a WASI command, on the stepper or
//! on wasmi; and the call every command takes, with its WASI input ([`WasiArgs`],
//! [`build_call`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use merkle_memory::hash::bytes_to_hex;
use serde_json::{json, Value as Json};
use stepper::{CallInput, Config, Extern, Machine, Module, Status, ValType, Value};

use crate::reference::{Outcome, Reference};
use cluster::values::{parse_args, status_name, value_json};

/// Which engine executes the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Verigame's stepping interpreter.
    Stepper,
    /// wasmi, the reference engine.
    Wasmi,
    /// Normal mode: the call compiled by wasmtime with the stepper's exact steps, gas and
    /// state, or run on the stepper where the compiled code cannot give them.
    Jit,
}

/// The exit code `verigame run` of a WASI command exits with when the command does not
/// exit by itself: it traps, runs out of gas or stops at `--max-steps` (as a shell
/// reports a program that aborts: 128 + SIGABRT).
pub const TRAP_EXIT_CODE: u8 = 134;

/// A call's WASI input as the command line gives it, shared by every command that takes
/// a call. argv is the command's: without `--invoke`, a module that exports `_start`
/// runs as a WASI command with argv = MODULE (or `--arg0`) and the positional ARGS.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct WasiArgs {
    /// An environment entry for WASI, KEY=VALUE (repeatable, in order; nothing is
    /// inherited).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Standard input for WASI: a file, or `-` for this process's standard input
    /// (default: empty).
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,
    /// The seed WASI's random_get draws from: 32 bytes as 64 hex digits, `0x` optional
    /// (default: all zeros).
    #[arg(long, value_name = "HEX32", value_parser = parse_seed)]
    pub seed: Option<[u8; 32]>,
    /// WASI's real-time clock at step 0, in nanoseconds since the Unix epoch.
    #[arg(long, value_name = "NS", default_value_t = 0)]
    pub clock: u64,
    /// argv[0] (default: MODULE as given for a command; none with --invoke).
    #[arg(long, value_name = "NAME")]
    pub arg0: Option<String>,
}

/// A seed: 64 hex digits, `0x` optional.
pub fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    merkle_memory::parse_hex(&format!("0x{digits}")).ok_or_else(|| format!("`{text}` is not 32 bytes as 64 hex digits"))
}

impl WasiArgs {
    /// The call's input with `argv` as the command line (standard input read now).
    pub fn input(&self, argv: Vec<Vec<u8>>) -> Result<CallInput> {
        let stdin = match &self.stdin {
            None => Vec::new(),
            Some(path) if path.as_os_str() == "-" => {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes).context("cannot read standard input")?;
                bytes
            }
            Some(path) => std::fs::read(path).with_context(|| format!("cannot read --stdin {}", path.display()))?,
        };
        let input = CallInput {
            args: argv,
            env: self.env.iter().map(|kv| kv.clone().into_bytes()).collect(),
            stdin,
            seed: self.seed.unwrap_or_default(),
            clock: self.clock,
        };
        input.check()?;
        Ok(input)
    }
}

/// Whether a call of `module` without `--invoke` is a WASI command: the module exports
/// `_start` of type `() -> ()`.
pub fn is_command(module: &Module, invoke: Option<&str>) -> bool {
    invoke.is_none()
        && module.exports.iter().any(|(n, k, i)| {
            n == "_start" && *k == stepper::module::ExportKind::Func && {
                let ty = module.func_type(*i);
                ty.params.is_empty() && ty.results.is_empty()
            }
        })
}

/// The call every command takes: the module at `path`; without `invoke`, a WASI command
/// (`_start`, argv = `path` as given or `--arg0`, then `args`) if the module is one
/// ([`is_command`]), else the default export; with it, the export with `args` parsed by
/// its signature. `wasi` gives the rest of the input in either case.
pub fn build_call(
    path: &Path,
    invoke: Option<&str>,
    args: &[String],
    wasi: &WasiArgs,
    config: Config,
) -> Result<traces::Call> {
    let bytes = read_module_bytes(path)?;
    let module = Module::new(&bytes)?;
    let arg0 = wasi.arg0.clone();
    let (export, values, argv) = if is_command(&module, invoke) {
        let argv0 = arg0.unwrap_or_else(|| path.display().to_string());
        let argv = std::iter::once(&argv0).chain(args).map(|a| a.clone().into_bytes()).collect();
        ("_start".to_string(), Vec::new(), argv)
    } else {
        let export = choose_export(&exported_funcs(&module), invoke)?;
        let params = export_params(&module, &export);
        (export, parse_args(&params, args)?, arg0.into_iter().map(String::into_bytes).collect())
    };
    let input = wasi.input(argv)?;
    Ok(traces::Call::new(bytes, &export, values, config)?.with_input(input)?)
}

fn export_params(module: &Module, export: &str) -> Vec<ValType> {
    let index =
        module.exports.iter().find(|(n, _, _)| n == export).map(|&(_, _, i)| i).expect("chosen among the exports");
    module.func_type(index).params.clone()
}

/// What a WASI command printed and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code: `proc_exit`'s, or 0 when `_start` returned; `None` when the
    /// command did not end so (a trap, out of gas, the step limit).
    pub exit_code: Option<u32>,
}

/// A stream as JSON: the text if it is UTF-8; else its bytes as `0x` and hex digits in
/// `NAME_hex` and the text with U+FFFD for the bytes that are not in `NAME`.
fn stream_json(out: &mut serde_json::Map<String, Json>, name: &str, bytes: &[u8]) {
    out.insert(name.to_string(), json!(String::from_utf8_lossy(bytes)));
    if std::str::from_utf8(bytes).is_err() {
        out.insert(format!("{name}_hex"), json!(bytes_to_hex(bytes)));
    }
}

/// How a call ended, engine-independent.
#[derive(Debug)]
pub struct RunOutcome {
    pub results: Vec<Value>,
    /// `None` where the engine does not count steps (wasmi).
    pub steps: Option<u64>,
    pub gas: Option<u64>,
    pub status: String,
    pub trap: Option<String>,
    /// The state hash after the run, `0x` and 64 hex digits (stepper only).
    pub state_hash: Option<String>,
    /// The program's output: stdout and stderr, and the exit code of a WASI command
    /// (`None` for a call of an export on wasmi).
    pub output: Option<CommandOutput>,
    /// Which engine gave the outcome, for `--engine jit`: "compiled", or why the stepper did.
    pub served: Option<String>,
}

impl crate::printed::Printed for RunOutcome {
    fn succeeded(&self) -> bool {
        self.status == "returned"
    }

    fn to_json(&self) -> Json {
        let mut out = json!({
            "results": self.results.iter().map(value_json).collect::<Vec<_>>(),
            "steps": self.steps,
            "gas": self.gas,
            "status": self.status,
            "state_hash": self.state_hash,
        });
        if let Some(trap) = &self.trap {
            out["trap"] = json!(trap);
        }
        if let Some(served) = &self.served {
            out["served"] = json!(served);
        }
        if let (Some(output), Json::Object(map)) = (&self.output, &mut out) {
            stream_json(map, "stdout", &output.stdout);
            stream_json(map, "stderr", &output.stderr);
            map.insert("exit_code".into(), json!(output.exit_code));
        }
        out
    }

    fn print(&self) {
        let results: Vec<String> = self.results.iter().map(|v| format!("{v} ({})", v.ty())).collect();
        let count = |c: Option<u64>| c.map_or_else(|| "n/a".to_string(), |n| n.to_string());
        println!("results: {}", if results.is_empty() { "none".to_string() } else { results.join(", ") });
        println!("status:  {}", self.status);
        if let Some(trap) = &self.trap {
            println!("trap:    {trap}");
        }
        println!("steps:   {}", count(self.steps));
        println!("gas:     {}", count(self.gas));
        if let Some(hash) = &self.state_hash {
            println!("state:   {hash}");
        }
        if let Some(served) = &self.served {
            println!("engine:  {served}");
        }
    }
}

/// Reads a module file (binary or text).
pub fn read_module_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read module {}", path.display()))
}

/// The export to call among the exported functions `funcs`: the one named, else the
/// only one, else `_start` or `main`.
pub fn choose_export(funcs: &[String], invoke: Option<&str>) -> Result<String> {
    let funcs: Vec<&str> = funcs.iter().map(String::as_str).collect();
    if let Some(name) = invoke {
        if funcs.contains(&name) {
            return Ok(name.to_string());
        }
        bail!("no exported function `{name}`; exported functions: {}", funcs.join(", "));
    }
    match funcs.as_slice() {
        [only] => Ok(only.to_string()),
        _ => ["_start", "main"]
            .into_iter()
            .find(|n| funcs.contains(n))
            .map(str::to_string)
            .with_context(|| format!("choose a function with --invoke; exported functions: {}", funcs.join(", "))),
    }
}

/// A machine loaded with `module` and a call of `export` with textual `args` started.
pub fn start_call(module: &Arc<Module>, export: &str, args: &[String], config: Config) -> Result<Machine> {
    let (mut machine, instance) = Machine::load(module, config)?;
    let Some(Extern::Func(func)) = machine.export(instance, export) else {
        bail!("no exported function `{export}`");
    };
    let params = machine.store().func_type(func).params.clone();
    let args = parse_args(&params, args)?;
    machine.invoke(func, &args)?;
    Ok(machine)
}

/// The names of a module's exported functions.
pub fn exported_funcs(module: &Module) -> Vec<String> {
    module
        .exports
        .iter()
        .filter(|(_, k, _)| *k == stepper::module::ExportKind::Func)
        .map(|(n, _, _)| n.clone())
        .collect()
}

/// Runs `call` on the stepper for at most `max_steps` steps. With `command`, the
/// outcome's output has the exit code of a WASI command.
pub fn run_call(call: &traces::Call, max_steps: u64, command: bool) -> Result<RunOutcome> {
    let mut machine = call.start()?;
    machine.run(max_steps);
    Ok(outcome_of(&mut machine, command))
}

/// Runs `call` in normal mode ([`jit::Jit`]): compiled where the module and the call
/// allow it, on the stepper otherwise, with the stepper's outcome either way; the
/// outcome's `served` says which.
pub fn run_call_jit(call: &traces::Call, command: bool) -> Result<RunOutcome> {
    let served = match jit::Jit::new(&call.module_bytes, &call.config) {
        Ok(jit) => {
            let (mut machine, _) = Machine::load(&call.module, call.config.clone())?;
            let budget = call.budget.unwrap_or(u64::MAX);
            let served = jit.call(&mut machine, &call.export, &call.args, budget, call.input.clone())?;
            (machine, served)
        }
        Err(e) => {
            let mut machine = call.start()?;
            machine.run(u64::MAX);
            (machine, jit::Served::Stepper(e.to_string()))
        }
    };
    let (mut machine, served) = served;
    let served = match served {
        jit::Served::Compiled => "jit (compiled)".to_string(),
        jit::Served::Stepper(why) => format!("stepper ({why})"),
    };
    Ok(RunOutcome { served: Some(served), ..outcome_of(&mut machine, command) })
}

/// What a run on the stepper (or in normal mode) gave: `machine` after the call.
fn outcome_of(machine: &mut Machine, command: bool) -> RunOutcome {
    let status = machine.status();
    let (name, trap) = status_name(status);
    let exit_code = match status {
        Status::Exited(code) => Some(code),
        Status::Returned if command => Some(0),
        _ => None,
    };
    let output =
        CommandOutput { stdout: machine.io().stdout().to_vec(), stderr: machine.io().stderr().to_vec(), exit_code };
    RunOutcome {
        results: machine.results(),
        steps: Some(machine.steps()),
        gas: Some(machine.gas_used()),
        status: name.to_string(),
        trap,
        state_hash: Some(merkle_memory::hex(&merkle_memory::state_hash(machine))),
        output: Some(output),
        served: None,
    }
}

/// A call of `export` (or the default export) with textual `args` on the stepper, with
/// no WASI input.
pub fn run_stepper(
    bytes: &[u8],
    export: Option<&str>,
    args: &[String],
    max_steps: u64,
    config: Config,
) -> Result<RunOutcome> {
    let module = Module::new(bytes)?;
    let export = choose_export(&exported_funcs(&module), export)?;
    let values = parse_args(&export_params(&module, &export), args)?;
    let call = traces::Call::new(bytes.to_vec(), &export, values, config)?;
    run_call(&call, max_steps, false)
}

/// The WASI command `call` (`_start` with its input) on wasmi with wasmi_wasi: its argv
/// and environment must be UTF-8; the seed and clock are not used (wasmi_wasi's are the
/// host's).
pub fn run_command_wasmi(bytes: &[u8], input: &CallInput) -> Result<RunOutcome> {
    let text = |s: &[u8], what: &str| {
        String::from_utf8(s.to_vec()).with_context(|| format!("{what} is not UTF-8, which --engine wasmi needs"))
    };
    let args = input.args.iter().map(|a| text(a, "an argument")).collect::<Result<Vec<_>>>()?;
    let env = input
        .env
        .iter()
        .map(|kv| {
            let kv = text(kv, "an environment entry")?;
            let (k, v) = kv.split_once('=').context("an environment entry is not KEY=VALUE")?;
            Ok((k.to_string(), v.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let run = crate::reference_wasi::run_command(bytes, &args, &env, &input.stdin)?;
    let (status, trap, exit_code) = match run.end {
        crate::reference_wasi::WasiEnd::Exited(code) => ("exited", None, Some(code as u32)),
        crate::reference_wasi::WasiEnd::Trapped(trap) => ("trapped", Some(trap), None),
    };
    let output = CommandOutput { stdout: run.stdout, stderr: run.stderr, exit_code };
    Ok(RunOutcome { output: Some(output), ..RunOutcome::of_wasmi(status, trap) })
}

pub fn run_wasmi(bytes: &[u8], export: Option<&str>, args: &[String]) -> Result<RunOutcome> {
    let mut reference = Reference::new(bytes)?;
    let export = choose_export(&reference.exported_funcs(), export)?;
    let (params, _) = reference.func_type(&export).with_context(|| format!("no exported function `{export}`"))?;
    let args = parse_args(&params, args)?;
    Ok(match reference.call(&export, &args)? {
        Outcome::Returned(results) => RunOutcome { results, ..RunOutcome::of_wasmi("returned", None) },
        Outcome::Trapped(trap) => RunOutcome::of_wasmi("trapped", Some(trap)),
    })
}

impl RunOutcome {
    /// How a run on wasmi ended: no results yet, and none of what only the stepper counts
    /// (steps, gas, the state hash).
    fn of_wasmi(status: &str, trap: Option<String>) -> Self {
        RunOutcome {
            results: Vec::new(),
            steps: None,
            gas: None,
            status: status.into(),
            trap,
            state_hash: None,
            output: None,
            served: None,
        }
    }
}
