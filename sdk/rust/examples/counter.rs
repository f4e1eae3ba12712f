//! A counter contract in Rust on the SDK (docs/abi.md): a stored counter, a bytes echo,
//! and a deliberate panic whose message reaches the caller.
//!
//! Exports: `increment(by: i64) -> i64` adds to the counter under "count" and returns it
//! (emitting it); `get() -> i64`; `echo() -> i32` writes "echo: " and its input, reversed,
//! to its output and returns the output's length; `boom(n: i32) -> i32` panics with
//! "boom: n is N" when `n` is negative (the call fails, its stderr holds the message),
//! else returns `n`.

use verigame_sdk::{emit, input, install_panic_hook, output, storage};

const COUNT: &[u8] = b"count";

#[no_mangle]
pub extern "C" fn increment(by: i64) -> i64 {
    install_panic_hook();
    let count = storage::get_i64(COUNT).unwrap_or(0).checked_add(by).expect("the counter overflows");
    storage::set_i64(COUNT, count);
    emit(count);
    count
}

#[no_mangle]
pub extern "C" fn get() -> i64 {
    storage::get_i64(COUNT).unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn echo() -> i32 {
    install_panic_hook();
    let mut out = b"echo: ".to_vec();
    out.extend(input().iter().rev());
    output(&out).expect("the output fits");
    out.len() as i32
}

#[no_mangle]
pub extern "C" fn boom(n: i32) -> i32 {
    install_panic_hook();
    if n < 0 {
        panic!("boom: n is {}", n);
    }
    n
}
