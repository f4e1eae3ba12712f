//! Verigame: settle disputes about WebAssembly execution with an interactive
//! verification game. This crate ties the workspace together behind the `verigame`
//! command line.

pub mod bench;
pub mod client;
pub mod dispute;
pub mod net;
pub mod normal_mode;
pub mod printed;
pub mod prove;
pub mod reference;
pub mod reference_wasi;
pub mod run;
pub mod spectest;
pub mod state;
