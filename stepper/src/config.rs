//! Resource limits and gas prices: explicit, and part of what a run commits to.

use crate::op::GasClass;

/// The price of one step of each instruction class.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GasTable {
    pub costs: [u64; GasClass::COUNT],
}

impl GasTable {
    /// Every step costs `cost`.
    pub fn uniform(cost: u64) -> Self {
        Self { costs: [cost; GasClass::COUNT] }
    }

    pub fn cost(&self, class: GasClass) -> u64 {
        self.costs[class as usize]
    }
}

impl Default for GasTable {
    fn default() -> Self {
        Self::uniform(1)
    }
}

/// Limits of a run. Exhausting any of them is a deterministic trap (or out of gas).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Upper bound on any memory's size in 64 KiB pages, below the module's own maximum.
    pub max_memory_pages: u32,
    /// Upper bound on any table's number of elements.
    pub max_table_elements: u32,
    /// Value stack slots (locals and operands of all frames).
    pub max_value_stack: u32,
    /// Nested calls.
    pub max_call_depth: u32,
    /// Gas a single call may use; running past it ends the run as out of gas.
    pub gas_limit: u64,
    pub gas: GasTable,
    /// Bulk memory instructions move at most this many bytes per step, never crossing a
    /// multiple of it in the destination, so a step touches a bounded number of memory
    /// chunks. A power of two; it equals the Merkle memory's chunk size.
    pub memory_chunk_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_memory_pages: 65536,
            max_table_elements: 1 << 20,
            max_value_stack: 1 << 22,
            max_call_depth: 1 << 14,
            gas_limit: u64::MAX,
            gas: GasTable::default(),
            memory_chunk_size: 512,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !self.memory_chunk_size.is_power_of_two() || self.memory_chunk_size > 65536 {
            return Err(crate::Error::Call(format!(
                "memory chunk size {} is not a power of two up to 65536",
                self.memory_chunk_size
            )));
        }
        if self.max_memory_pages > 65536 {
            return Err(crate::Error::Call("max_memory_pages exceeds 65536 (4 GiB)".into()));
        }
        Ok(())
    }
}
