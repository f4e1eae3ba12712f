//! Normal mode at compiled speed: a call compiled by wasmtime (cranelift) after the module
//! is instrumented to count the stepper's steps and gas at basic-block granularity, with
//! the stepper's exact outcome, or the call re-run on the stepper where the compiled code
//! cannot give it.

mod engine;
pub mod instrument;

pub use engine::{Jit, JitError, Served};
