//! Merkleized memory and the state hash of a Verigame machine.
//!
//! Linear memory is split into chunks (`Config::memory_chunk_size` bytes) and committed
//! with a binary Merkle tree of rs_merkle's shape over Keccak-256 ([`memory`]). The stepper
//! marks the chunks each write touches, so a commitment rehashes only those chunks and
//! their paths to the root, and only when asked. [`state`] combines the memory commitments
//! with commitments to everything else into one hash per step. docs/spec.md defines
//! every byte.
//!
//! ```
//! use stepper::{Config, Machine, Module, Value, Extern};
//! let module = Module::new(br#"(module (memory 1) (func (export "f") (param i32)
//!     (i32.store (i32.const 0) (local.get 0))))"#).unwrap();
//! let (mut machine, instance) = Machine::load(&module, Config::default()).unwrap();
//! let Some(Extern::Func(f)) = machine.export(instance, "f") else { panic!() };
//! machine.invoke(f, &[Value::I32(7)]).unwrap();
//! let before = merkle_memory::state_hash(&mut machine);
//! machine.step();
//! assert_ne!(merkle_memory::state_hash(&mut machine), before);
//! ```

pub mod hash;
pub mod io;
pub mod memory;
pub mod state;
pub mod storage;
pub mod tree;

pub use hash::{hex, parse_hex, Hash, TreeHasher};
pub use state::{state_hash, Commitment};
