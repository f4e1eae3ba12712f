//! Verigame: settle disputes about WebAssembly execution with an interactive
//! verification game. This crate ties the workspace together behind the `verigame`
//! command line.

pub mod bench;
pub mod cli_values;
pub mod dispute;
pub mod disputes;
pub mod history;
pub mod ledger;
pub mod net;
pub mod node;
pub mod prove;
pub mod reference;
pub mod rpc;
pub mod run;
pub mod spectest;
pub mod state;
pub mod validate;
