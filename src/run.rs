//! `verigame run`: call an exported function on the stepper or on wasmi.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};
use stepper::{Config, Extern, Machine, Module, Value};

use crate::reference::{Outcome, Reference};
use cluster::values::{parse_args, status_name, value_json};

/// Which engine executes the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Verigame's stepping interpreter.
    Stepper,
    /// wasmi, the reference engine.
    Wasmi,
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

/// A machine with a call of `export` (or the default export) with textual `args` started
/// on the module in `bytes`.
pub fn prepare_call(bytes: &[u8], export: Option<&str>, args: &[String], config: Config) -> Result<Machine> {
    let module = Module::new(bytes)?;
    let export = choose_export(&exported_funcs(&module), export)?;
    start_call(&module, &export, args, config)
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

pub fn run_stepper(
    bytes: &[u8],
    export: Option<&str>,
    args: &[String],
    max_steps: u64,
    config: Config,
) -> Result<RunOutcome> {
    let mut machine = prepare_call(bytes, export, args, config)?;
    let status = machine.run(max_steps);
    let (name, trap) = status_name(status);
    Ok(RunOutcome {
        results: machine.results(),
        steps: Some(machine.steps()),
        gas: Some(machine.gas_used()),
        status: name.to_string(),
        trap,
        state_hash: Some(merkle_memory::hex(&merkle_memory::state_hash(&mut machine))),
    })
}

pub fn run_wasmi(bytes: &[u8], export: Option<&str>, args: &[String]) -> Result<RunOutcome> {
    let mut reference = Reference::new(bytes)?;
    let export = choose_export(&reference.exported_funcs(), export)?;
    let (params, _) = reference.func_type(&export).with_context(|| format!("no exported function `{export}`"))?;
    let args = parse_args(&params, args)?;
    Ok(match reference.call(&export, &args)? {
        Outcome::Returned(results) => {
            RunOutcome { results, steps: None, gas: None, status: "returned".into(), trap: None, state_hash: None }
        }
        Outcome::Trapped(trap) => {
            let status = "trapped".into();
            RunOutcome { results: Vec::new(), steps: None, gas: None, status, trap: Some(trap), state_hash: None }
        }
    })
}
