//! `verigame state`: the state hash and a short summary of a machine at any step.

use serde_json::{json, Value as Json};
use stepper::Machine;

use cluster::values::status_name;

/// Where a machine stands, as `verigame state` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSummary {
    pub step: u64,
    pub state_hash: String,
    pub status: &'static str,
    pub trap: Option<String>,
    /// Name and function index of the running frame's function, if a frame is running.
    pub function: Option<(String, u32)>,
    pub pc: Option<u32>,
    /// Byte offset of the instruction at `pc` in the module binary.
    pub offset: Option<u32>,
    pub instruction: Option<String>,
    /// Value stack slots in use: locals and operands of every frame.
    pub stack_depth: usize,
    pub call_depth: usize,
    pub memory_pages: u32,
    pub gas: u64,
}

impl StateSummary {
    pub fn of(machine: &mut Machine) -> Self {
        let state_hash = merkle_memory::hex(&merkle_memory::state_hash(machine));
        let (status, trap) = status_name(machine.status());
        let pc = machine.pc();
        let current = machine.current().map(|(index, instance)| {
            let module = &instance.module;
            (module.func_name(index), index, module.code[pc as usize], module.code_offsets[pc as usize])
        });
        Self {
            step: machine.steps(),
            state_hash,
            status,
            trap,
            function: current.as_ref().map(|(name, index, _, _)| (name.clone(), *index)),
            pc: current.as_ref().map(|_| pc),
            offset: current.as_ref().map(|&(_, _, _, offset)| offset),
            instruction: current.map(|(_, _, op, _)| op.to_string()),
            stack_depth: machine.stack().len(),
            call_depth: machine.frames().len(),
            memory_pages: machine.store().memories.first().map_or(0, |m| m.pages()),
            gas: machine.gas_used(),
        }
    }

    pub fn to_json(&self) -> Json {
        let mut out = json!({
            "step": self.step,
            "state_hash": self.state_hash,
            "status": self.status,
            "function": self.function.as_ref().map(|(name, _)| name),
            "function_index": self.function.as_ref().map(|&(_, index)| index),
            "pc": self.pc,
            "offset": self.offset,
            "instruction": self.instruction,
            "stack_depth": self.stack_depth,
            "call_depth": self.call_depth,
            "memory_pages": self.memory_pages,
            "gas": self.gas,
        });
        if let Some(trap) = &self.trap {
            out["trap"] = json!(trap);
        }
        out
    }

    pub fn print(&self) {
        println!("step:        {}", self.step);
        println!("state hash:  {}", self.state_hash);
        match &self.trap {
            Some(trap) => println!("status:      {} ({trap})", self.status),
            None => println!("status:      {}", self.status),
        }
        if let (Some((name, index)), Some(pc), Some(offset), Some(instruction)) =
            (&self.function, self.pc, self.offset, &self.instruction)
        {
            println!("function:    {name} (function {index})");
            println!("pc:          {pc} (byte offset 0x{offset:x})");
            println!("instruction: {instruction}");
        }
        println!("stack:       {} slots in {} frames", self.stack_depth, self.call_depth);
        println!("memory:      {} pages", self.memory_pages);
        println!("gas:         {}", self.gas);
    }
}
