//! Verigame: settle disputes about WebAssembly execution with an interactive
//! verification game. This crate ties the workspace together behind the `verigame`
//! command line.

pub mod spectest;
