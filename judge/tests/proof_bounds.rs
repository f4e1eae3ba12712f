//! Bounds on one-step proofs (the issue's goals: no proof grows with memory size beyond
//! the Merkle path or with an instruction's operands; at most 2 KiB each), and on the
//! judge's work. `cargo bench -p judge` measures the distribution over real programs.
//!
//! Sizes are of the compact binary form (`judge::to_bytes`), what a chain is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use judge::{prove, Judge, Proof};
use stepper::{Config, Extern, Machine, Module, Value};

fn start(module: &Arc<Module>, export: &str, args: &[Value]) -> Machine {
    let (mut m, instance) = Machine::load(module, Config::default()).expect("loads");
    let Some(Extern::Func(f)) = m.export(instance, export) else { panic!("no export {export}") };
    m.invoke(f, args).expect("call starts");
    m
}

/// The proof of the first step whose instruction's text starts with `prefix`, checked
/// by the judge, with the judge's time.
fn proof_of(module: &Arc<Module>, export: &str, args: &[Value], prefix: &str) -> (Proof, Duration) {
    let judge = Judge::new(module.clone(), Config::default()).expect("judge");
    let mut m = start(module, export, args);
    loop {
        let (_, instance) = m.current().unwrap_or_else(|| panic!("no {prefix} before the end"));
        if instance.module.code[m.pc() as usize].to_string().starts_with(prefix) {
            break;
        }
        assert!(!m.step().is_halted(), "no {prefix} before the end");
    }
    let proof = prove(&m);
    let t = Instant::now();
    judge.check(&proof).expect("the honest proof passes");
    (proof, t.elapsed())
}

/// The compact binary form's size: what a chain is sent.
fn size(p: &Proof) -> usize {
    judge::to_bytes(p).len()
}

/// Bytes of `v` as LEB128, as the compact form writes integers.
fn leb_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
}

/// An unaligned i64.load straddling the chunk boundary at 2 MiB and a one-chunk
/// i32.load, in a memory of `pages` pages.
fn loads(pages: u32) -> Arc<Module> {
    let wat = format!(
        r#"(module (memory {pages})
          (func (export "one") (result i32) (i32.load (i32.const 4096)))
          (func (export "two") (result i64) (i64.load (i32.const 2097148))))"#
    );
    Module::new(wat.as_bytes()).expect("module")
}

#[test]
fn a_load_proof_grows_with_memory_only_by_its_merkle_path() {
    let (base, _) = proof_of(&loads(1), "one", &[], "i32.load");
    let chunks_per_page = 65536 / 512;
    for pages in [2u32, 16, 40, 256] {
        let (p, _) = proof_of(&loads(pages), "one", &[], "i32.load");
        // A leaf's path in rs_merkle's tree of n leaves has at most ceil(log2 n) hashes;
        // the page count's integer grows by a byte from 128 pages.
        let extra_levels = (pages * chunks_per_page).next_power_of_two().ilog2() - chunks_per_page.ilog2();
        let extra_bytes = leb_len(pages.into()) - leb_len(1);
        assert_eq!(size(&p), size(&base) + 32 * extra_levels as usize + extra_bytes, "{pages} pages");
    }
    // Extrapolated to the largest memory (65536 pages, 2^23 chunks): 16 more levels.
    let largest = size(&base) + 32 * 16 + leb_len(65536) - leb_len(1);
    assert!(largest <= 2048, "a one-chunk load in a 4 GiB memory would need {largest} bytes");
}

/// A step touching two chunks (an unaligned load or store across a chunk boundary, or a
/// memory.copy sub-step whose source and destination are in different chunks) opens 2 x
/// 512 bytes of chunks and the multi-proof of both. In a 40-page memory the two chunks
/// either side of 2 MiB are on opposite sides of the tree's root and need 22 hashes:
/// 1985 bytes (2231 in format version 1, which also sent the step, the pre- and
/// post-state hashes, the context and the hashes the openings determine, with fixed-size
/// integers). The same load in a 4 GiB memory would need 2 x 22 hashes, about 2.7 KB.
#[test]
fn a_load_across_chunks_in_a_large_memory_fits_in_2_kib() {
    let (p, _) = proof_of(&loads(40), "two", &[], "i64.load");
    assert_eq!(p.memory.as_ref().map(|m| m.chunks.len()), Some(2));
    assert!(size(&p) <= 2048, "{} bytes", size(&p));
}

/// A branch that drops `n` operands, and a call that passes `n` arguments.
fn wide(n: usize) -> Arc<Module> {
    let pushes: String = (0..n).map(|i| format!("(i32.const {i}) ")).collect();
    let params = "i32 ".repeat(n);
    let wat = format!(
        r#"(module
          (func $callee (param {params}) (result i32) (local.get 0))
          (func (export "drop") (block $b {pushes} (br $b)))
          (func (export "call") (result i32) (call $callee {pushes})))"#
    );
    Module::new(wat.as_bytes()).expect("module")
}

// The value stack is one Merkle tree over all frames' slots: a branch opens the slot where
// it cuts the stack, whatever it drops, and a call leaves its arguments in place as the
// callee's first locals, opening only the last slot to append the declared locals.
#[test]
fn a_branch_dropping_many_operands_has_a_bounded_proof() {
    let (p, _) = proof_of(&wide(1000), "drop", &[], "br ");
    assert!(size(&p) <= 2048, "{} bytes for a br dropping 1000 operands", size(&p));
}

#[test]
fn a_call_with_many_arguments_has_a_bounded_proof() {
    let (p, _) = proof_of(&wide(1000), "call", &[], "call ");
    assert!(size(&p) <= 2048, "{} bytes for a call with 1000 arguments", size(&p));
}
