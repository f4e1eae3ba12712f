//! Normal mode against the stepper on any module: every exported function of numeric
//! parameters called with zeros, in order on one machine per engine, under a gas limit;
//! both engines must agree on every call's status, results, steps, gas, emitted values
//! and state hash. The differential test and the `jit` fuzz target share it.

use stepper::module::ExportKind;

use crate::reference::smith_config;
use stepper::{CallInput, Config, Extern, Machine, Module, Value};

/// How many calls normal mode served compiled, and how many the stepper served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub compiled: usize,
    pub stepper: usize,
}

/// Compares normal mode with the stepper on `wasm` (see the module's documentation).
/// `Ok(None)` when the module is not one both can load (invalid, refused by the JIT's
/// instrumentation, a start function that does not return on the stepper).
pub fn compare_jit(wasm: &[u8], gas_limit: u64) -> Result<Option<Served>, String> {
    let config = Config { gas_limit, ..Config::default() };
    let Ok(module) = Module::new(wasm) else { return Ok(None) };
    let Ok((mut stepper, instance)) = Machine::load(&module, config.clone()) else { return Ok(None) };
    let Ok(jit) = jit::Jit::new(wasm, &config) else { return Ok(None) };
    let (mut normal, _) = Machine::load(&module, config).map_err(|e| format!("the second load: {e}"))?;
    let mut served = Served::default();
    let exports: Vec<&String> =
        module.exports.iter().filter(|(_, kind, _)| *kind == ExportKind::Func).map(|(name, _, _)| name).collect();
    for name in exports {
        let Some(Extern::Func(f)) = stepper.export(instance, name) else { continue };
        let params = stepper.store().func_type(f).params.clone();
        let args: Vec<Value> = params.iter().map(|&t| Value::default_of(t)).collect();
        if stepper.start_call(f, &args, u64::MAX, CallInput::default()).is_err() {
            continue;
        }
        stepper.run(u64::MAX);
        match jit.call(&mut normal, name, &args, u64::MAX, CallInput::default()).map_err(|e| e.to_string())? {
            jit::Served::Compiled => served.compiled += 1,
            jit::Served::Stepper(_) => served.stepper += 1,
        }
        let observe = |m: &mut Machine| {
            (m.status(), m.results(), m.steps(), m.gas_used(), m.output().to_vec(), merkle_memory::state_hash(m))
        };
        let (ours, theirs) = (observe(&mut stepper), observe(&mut normal));
        if ours != theirs {
            return Err(format!("{name}: the stepper gave {ours:?}, normal mode {theirs:?}"));
        }
    }
    Ok(Some(served))
}

/// The differential generator's configuration without what normal mode leaves to the
/// stepper for a whole module (segment drops, table mutation: bulk memory and reference
/// types), so that random modules exercise the compiled code.
pub fn jit_smith_config() -> wasm_smith::Config {
    wasm_smith::Config { bulk_memory_enabled: false, reference_types_enabled: false, max_tables: 1, ..smith_config() }
}
