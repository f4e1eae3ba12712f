//! The call under dispute: what both parties and the referee agree on before a game.

use std::sync::Arc;

use merkle_memory::hash::{bytes_to_hex, hex_to_bytes, keccak};
use merkle_memory::Hash;
use serde_json::{json, Value as Json};
use stepper::op::GasClass;
use stepper::{CallInput, Config, Extern, GasTable, Machine, Module, ValType, Value};

use crate::TraceError;

/// A module, an exported function, its arguments and the configuration of the run,
/// and the state the call starts on: a fresh instance, or one that earlier calls left
/// (a cluster node's contract).
#[derive(Clone, Debug)]
pub struct Call {
    pub module: Arc<Module>,
    /// The module as given (binary or text); its Keccak-256 names it.
    pub module_bytes: Arc<Vec<u8>>,
    pub export: String,
    pub args: Vec<Value>,
    pub config: Config,
    /// The machine the call starts on (its last instance is the module's), if not a
    /// fresh instance.
    pub base: Option<Arc<Machine>>,
    /// The most gas the call may use, when below the configuration's limit (a node
    /// transaction's own limit: [`Machine::invoke_with_budget`]).
    pub budget: Option<u64>,
    /// What WASI reads: the command line, environment, standard input, seed and clock.
    pub input: CallInput,
}

impl Call {
    pub fn new(module_bytes: Vec<u8>, export: &str, args: Vec<Value>, config: Config) -> Result<Self, TraceError> {
        let module = Module::new(&module_bytes)?;
        let call = Self {
            module,
            module_bytes: Arc::new(module_bytes),
            export: export.to_string(),
            args,
            config,
            base: None,
            budget: None,
            input: CallInput::default(),
        };
        call.start()?;
        Ok(call)
    }

    /// The same call with `input` for WASI to read.
    pub fn with_input(self, input: CallInput) -> Result<Self, TraceError> {
        let call = Self { input, ..self };
        call.start()?;
        Ok(call)
    }

    /// The same call started on `base`, a machine holding an instance of the module
    /// (its last) between calls, with at most `budget` gas of the limit, if given.
    pub fn on(self, base: Machine, budget: Option<u64>) -> Result<Self, TraceError> {
        let call = Self { config: base.config().clone(), base: Some(Arc::new(base)), budget, ..self };
        call.start()?;
        Ok(call)
    }

    pub fn module_hash(&self) -> Hash {
        keccak(&self.module_bytes)
    }

    /// A machine with the module loaded and the call started: the state at step 0.
    pub fn start(&self) -> Result<Machine, TraceError> {
        let (mut machine, instance) = match &self.base {
            Some(base) => {
                let machine = Machine::clone(base);
                let instance = machine.store().instances.len() as u32 - 1;
                (machine, instance)
            }
            None => Machine::load(&self.module, self.config.clone())?,
        };
        let Some(Extern::Func(func)) = machine.export(instance, &self.export) else {
            return Err(TraceError::Call(format!("no exported function `{}`", self.export)));
        };
        machine.start_call(func, &self.args, self.budget.unwrap_or(u64::MAX), self.input.clone())?;
        Ok(machine)
    }

    /// Everything but the module's bytes, which travel or are stored apart.
    pub fn to_json(&self) -> Json {
        json!({
            "module_hash": merkle_memory::hex(&self.module_hash()),
            "export": self.export,
            "args": self.args.iter().map(value_to_json).collect::<Vec<_>>(),
            "config": config_to_json(&self.config),
            "base_state_hash": self.base.as_ref().map(|b| merkle_memory::hex(&merkle_memory::state_hash(&mut Machine::clone(b)))),
            "budget": self.budget.map(|b| b.to_string()),
            "input": input_to_json(&self.input),
        })
    }

    /// The call [`Call::to_json`] describes, on `module_bytes`, which must have the
    /// recorded hash.
    pub fn from_json(v: &Json, module_bytes: Vec<u8>) -> Result<Self, TraceError> {
        let bad = |what: &str| TraceError::Format(format!("call: {what}"));
        let hash = v["module_hash"].as_str().ok_or_else(|| bad("no module_hash"))?;
        let actual = merkle_memory::hex(&keccak(&module_bytes));
        if hash != actual {
            return Err(TraceError::Format(format!("the module's hash is {actual}, the call names {hash}")));
        }
        let export = v["export"].as_str().ok_or_else(|| bad("no export name"))?;
        let args = v["args"].as_array().ok_or_else(|| bad("no args list"))?;
        let args = args.iter().map(value_from_json).collect::<Result<Vec<_>, _>>()?;
        let config = config_from_json(&v["config"])?;
        if !v["base_state_hash"].is_null() {
            return Err(bad("it starts on a prior state, which JSON does not carry"));
        }
        let input = match v.get("input") {
            None | Some(Json::Null) => CallInput::default(),
            Some(input) => input_from_json(input)?,
        };
        Self::new(module_bytes, export, args, config)?.with_input(input)
    }
}

/// A call's WASI input as JSON: strings and standard input as `0x` and hex digits (they
/// need not be UTF-8), the seed likewise, the clock as a decimal string.
pub fn input_to_json(input: &CallInput) -> Json {
    let hex_list = |l: &[Vec<u8>]| l.iter().map(|s| bytes_to_hex(s)).collect::<Vec<_>>();
    json!({
        "args": hex_list(&input.args),
        "env": hex_list(&input.env),
        "stdin": bytes_to_hex(&input.stdin),
        "seed": bytes_to_hex(&input.seed),
        "clock": input.clock.to_string(),
    })
}

pub fn input_from_json(v: &Json) -> Result<CallInput, TraceError> {
    let bad = |what: &str| TraceError::Format(format!("call input: {what}"));
    let bytes = |v: &Json, what: &str| {
        v.as_str().and_then(hex_to_bytes).ok_or_else(|| bad(&format!("{what} is not 0x and hex digits")))
    };
    let list = |name: &str| -> Result<Vec<Vec<u8>>, TraceError> {
        let items = v[name].as_array().ok_or_else(|| bad(&format!("no `{name}` list")))?;
        items.iter().map(|s| bytes(s, name)).collect()
    };
    let seed = bytes(&v["seed"], "the seed")?.try_into().map_err(|_| bad("the seed is not 32 bytes"))?;
    let clock = v["clock"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad("the clock is not a count"))?;
    let input = CallInput { args: list("args")?, env: list("env")?, stdin: bytes(&v["stdin"], "stdin")?, seed, clock };
    input.check()?;
    Ok(input)
}

/// A value as `{"type", "slot"}`: its type and its slot bits in decimal, exactly.
pub fn value_to_json(v: &Value) -> Json {
    json!({"type": v.ty().to_string(), "slot": v.to_slot().to_string()})
}

pub fn value_from_json(v: &Json) -> Result<Value, TraceError> {
    let bad = || TraceError::Format(format!("`{v}` is not a value ({{\"type\", \"slot\"}})"));
    let ty = match v["type"].as_str().ok_or_else(bad)? {
        "i32" => ValType::I32,
        "i64" => ValType::I64,
        "f32" => ValType::F32,
        "f64" => ValType::F64,
        "funcref" => ValType::FuncRef,
        "externref" => ValType::ExternRef,
        _ => return Err(bad()),
    };
    let slot: u64 = v["slot"].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let value = Value::from_slot(ty, slot);
    // Slots wider than the type would not survive the round trip.
    if value.to_slot() != slot {
        return Err(bad());
    }
    Ok(value)
}

pub fn config_to_json(c: &Config) -> Json {
    let gas: serde_json::Map<String, Json> =
        GasClass::ALL.iter().map(|&class| (class.name().to_string(), json!(c.gas.cost(class)))).collect();
    json!({
        "max_memory_pages": c.max_memory_pages,
        "max_table_elements": c.max_table_elements,
        "max_value_stack": c.max_value_stack,
        "max_call_depth": c.max_call_depth,
        "gas_limit": c.gas_limit.to_string(),
        "gas": gas,
        "memory_chunk_size": c.memory_chunk_size,
    })
}

pub fn config_from_json(v: &Json) -> Result<Config, TraceError> {
    let bad = |what: &str| TraceError::Format(format!("config: {what}"));
    let u32_field = |name: &str| {
        v[name]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(&format!("`{name}` is not a 32-bit count")))
    };
    let mut gas = GasTable::default();
    for class in GasClass::ALL {
        gas.costs[class as usize] =
            v["gas"][class.name()].as_u64().ok_or_else(|| bad(&format!("no gas price for `{}`", class.name())))?;
    }
    let config = Config {
        max_memory_pages: u32_field("max_memory_pages")?,
        max_table_elements: u32_field("max_table_elements")?,
        max_value_stack: u32_field("max_value_stack")?,
        max_call_depth: u32_field("max_call_depth")?,
        gas_limit: v["gas_limit"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("`gas_limit` is not a count"))?,
        gas,
        memory_chunk_size: u32_field("memory_chunk_size")?,
    };
    config.validate()?;
    Ok(config)
}
