//! A deterministic WebAssembly interpreter that executes exactly one instruction per
//! step, with its whole state explicit: the foundation of Verigame's verification game.
//!
//! ```
//! use stepper::{Config, Machine, Module, Status, Value, Extern};
//! let module = Module::new(br#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#).unwrap();
//! let (mut machine, instance) = Machine::load(&module, Config::default()).unwrap();
//! let Some(Extern::Func(add)) = machine.export(instance, "add") else { panic!() };
//! machine.invoke(add, &[Value::I32(2), Value::I32(3)]).unwrap();
//! assert_eq!(machine.step(), Status::Running); // local.get 0
//! assert_eq!(machine.run(u64::MAX), Status::Returned);
//! assert_eq!(machine.results(), vec![Value::I32(5)]);
//! assert_eq!(machine.steps(), 4); // local.get, local.get, i32.add, end
//! ```

mod access;
mod backend;
mod config;
mod error;
mod exec;
mod fast;
pub mod host;
pub mod io;
mod machine;
pub mod module;
pub mod numeric;
pub mod op;
mod record;
mod rewind;
mod snapshot;
pub mod storage;
pub mod store;
mod value;
pub mod wasi;

pub use access::{Tamper, Undo};
pub use backend::{Backend, Context, Registers};
pub use config::{Config, GasTable};
pub use error::{Error, Trap};
pub use exec::step;
pub use io::CallInput;
pub use machine::{Frame, Machine, MachineParts, Status};
pub use module::Module;
pub use record::Accesses;
pub use rewind::Rewind;
pub use store::Extern;
pub use value::{ValType, Value};
