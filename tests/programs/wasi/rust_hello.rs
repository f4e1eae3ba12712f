//! rust_hello: a Rust std program built for wasm32-wasi (rustc 1.63, edition 2021).
//!
//! usage: rust_hello.wasm [--exit CODE] [WORD...]
//!
//! Prints a greeting, the arguments after argv[0] (sorted, deduplicated), reads
//! all of stdin, counts its words in a BTreeMap (not a HashMap: std's HashMap
//! seeds its hasher through WASI random_get, which is neither deterministic nor
//! wanted), prints the counts in key order and the most frequent words (a Vec
//! sorted by count, then word), a checksum, and a line on stderr. With
//! `--exit CODE` it ends with std::process::exit(CODE) after flushing stdout.
use std::collections::BTreeMap;
use std::io::{Read, Write};

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2166136261;
    for &b in bytes {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    h
}

fn main() {
    let mut exit_code: Option<i32> = None;
    let mut words: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--exit" {
            match args.next().map(|s| s.parse::<i32>()) {
                Some(Ok(code)) if (0..=255).contains(&code) => exit_code = Some(code),
                _ => {
                    eprintln!("rust_hello: --exit needs a code in 0..=255");
                    std::process::exit(2);
                }
            }
        } else {
            words.push(arg);
        }
    }

    println!("hello from Rust std");
    let n_args = words.len();
    words.sort();
    words.dedup();
    println!("{} argument(s), {} distinct: {:?}", n_args, words.len(), words);

    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("rust_hello: stdin: {}", e);
        std::process::exit(1);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for w in input.split_whitespace() {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        if !w.is_empty() {
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    println!("stdin: {} bytes, {} lines, {} distinct words", input.len(), input.lines().count(), counts.len());
    for (w, c) in &counts {
        println!("  {:<12} {}", w, c);
    }
    let mut by_count: Vec<(&String, &usize)> = counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = by_count.iter().take(3).map(|(w, c)| format!("{}x{}", w, c)).collect();
    println!("top: {}", if top.is_empty() { "(none)".to_string() } else { top.join(", ") });
    println!("checksum={:08x}", fnv1a(input.as_bytes()));
    eprintln!("rust_hello: {} word(s) read", counts.values().sum::<usize>());

    if let Some(code) = exit_code {
        println!("exiting with {}", code);
        std::io::stdout().flush().expect("stdout flushes");
        std::process::exit(code);
    }
}
