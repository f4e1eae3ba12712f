//! Write Verigame contracts in Rust (docs/abi.md).
//!
//! A contract is a WebAssembly module whose exported functions are its calls: numeric
//! arguments and results, plus **input bytes** (the call's standard input: [`input`]) and
//! **output bytes** (what it writes to standard output: [`output`]). Standard error
//! ([`error`]) carries diagnostics and panic messages. A call that traps, aborts
//! ([`abort`]), runs out of gas or exits with a nonzero code ([`exit`]) fails: its state
//! changes are undone, but its outcome keeps what it wrote.
//!
//! `no_std` by default (no allocator needed): on wasm32 without `std` the crate installs a
//! panic handler that writes the panic's message to standard error and aborts the call
//! with code 101. With the `alloc` feature, [`input`] and [`storage::get`] return `Vec`s;
//! with `std`, std's allocator and panic machinery are used and [`install_panic_hook`]
//! sends panic messages to standard error (wasm32-unknown-unknown's std drops them).
//!
//! Builds with rustc 1.63 (Debian's), for wasm32-unknown-unknown or wasm32-wasi.
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// The raw imports: the `verigame` host functions and the WASI functions the SDK uses.
pub mod sys {
    #[link(wasm_import_module = "verigame")]
    extern "C" {
        /// Traps with the program's code.
        pub fn abort(code: i32) -> !;
        /// Appends a value to the machine's output log.
        pub fn emit(value: i64);
        /// Copies at most `value_cap` bytes of the value under the key to `value`; its full
        /// length, or -1 when absent.
        pub fn storage_read(key: *const u8, key_len: i32, value: *mut u8, value_cap: i32) -> i32;
        pub fn storage_write(key: *const u8, key_len: i32, value: *const u8, value_len: i32);
        /// 1 if the key was present.
        pub fn storage_delete(key: *const u8, key_len: i32) -> i32;
        /// Copies the caller (32 bytes) to `out`; its length, or -1 without a caller.
        pub fn caller(out: *mut u8) -> i32;
    }

    /// WASI's `ciovec`/`iovec`.
    #[repr(C)]
    pub struct IoVec {
        pub buf: *const u8,
        pub len: usize,
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn fd_read(fd: i32, iovs: *const IoVec, iovs_len: i32, nread: *mut usize) -> i32;
        pub fn fd_write(fd: i32, iovs: *const IoVec, iovs_len: i32, nwritten: *mut usize) -> i32;
        pub fn proc_exit(code: i32) -> !;
    }
}

/// Fails the call with `code`: a trap; the call is undone.
pub fn abort(code: i32) -> ! {
    unsafe { sys::abort(code) }
}

/// Appends `value` to the output log: the call's outcome lists the values it emitted.
pub fn emit(value: i64) {
    unsafe { sys::emit(value) }
}

/// Ends the call with exit code `code`: 0 succeeds as a return does, any other fails it.
pub fn exit(code: i32) -> ! {
    unsafe { sys::proc_exit(code) }
}

/// The caller: on a node, the signer's ed25519 public key; `None` in a `/call` query.
pub fn caller() -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    match unsafe { sys::caller(key.as_mut_ptr()) } {
        32 => Some(key),
        _ => None,
    }
}

/// Contract storage: keys up to 64 bytes, values up to 256 (docs/spec.md, "Contract
/// storage"); a longer one traps.
pub mod storage {
    use super::sys;
    #[cfg(feature = "alloc")]
    use alloc::vec::Vec;

    /// Copies the value under `key` into `buf` (as much as fits): its full length, or
    /// `None` when the key is absent.
    pub fn read(key: &[u8], buf: &mut [u8]) -> Option<usize> {
        let n = unsafe { sys::storage_read(key.as_ptr(), key.len() as i32, buf.as_mut_ptr(), buf.len() as i32) };
        if n < 0 {
            None
        } else {
            Some(n as usize)
        }
    }

    /// The value under `key`, or `None`.
    #[cfg(feature = "alloc")]
    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        let len = read(key, &mut [])?;
        let mut value = alloc::vec![0u8; len];
        read(key, &mut value)?;
        Some(value)
    }

    /// Stores `value` under `key`.
    pub fn set(key: &[u8], value: &[u8]) {
        unsafe { sys::storage_write(key.as_ptr(), key.len() as i32, value.as_ptr(), value.len() as i32) }
    }

    /// Deletes `key`: whether it was present.
    pub fn delete(key: &[u8]) -> bool {
        unsafe { sys::storage_delete(key.as_ptr(), key.len() as i32) == 1 }
    }

    /// The 8-byte little-endian value under `key` as an `i64` (absent: `None`).
    pub fn get_i64(key: &[u8]) -> Option<i64> {
        let mut buf = [0u8; 8];
        match read(key, &mut buf)? {
            8 => Some(i64::from_le_bytes(buf)),
            _ => None,
        }
    }

    /// Stores `value` as 8 bytes, little-endian.
    pub fn set_i64(key: &[u8], value: i64) {
        set(key, &value.to_le_bytes())
    }
}

/// Reads the call's input into `buf`: the bytes read (all of the input if it fits).
pub fn read_input(buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        let iov = sys::IoVec { buf: buf[got..].as_ptr(), len: buf.len() - got };
        let mut n = 0usize;
        let err = unsafe { sys::fd_read(0, &iov, 1, &mut n) };
        if err != 0 || n == 0 {
            break;
        }
        got += n;
    }
    got
}

/// The call's input bytes (its standard input), all of them.
#[cfg(feature = "alloc")]
pub fn input() -> Vec<u8> {
    let mut input = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = read_input(&mut chunk);
        input.extend_from_slice(&chunk[..n]);
        if n < chunk.len() {
            return input;
        }
    }
}

fn write_fd(fd: i32, mut bytes: &[u8]) -> Result<(), i32> {
    while !bytes.is_empty() {
        let iov = sys::IoVec { buf: bytes.as_ptr(), len: bytes.len() };
        let mut n = 0usize;
        let err = unsafe { sys::fd_write(fd, &iov, 1, &mut n) };
        if err != 0 {
            return Err(err);
        }
        if n == 0 {
            return Err(29); // EIO
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Appends `bytes` to the call's output (standard output). `Err(errno)` past the 64 MiB a
/// call may write.
pub fn output(bytes: &[u8]) -> Result<(), i32> {
    write_fd(1, bytes)
}

/// Appends `bytes` to standard error.
pub fn error(bytes: &[u8]) -> Result<(), i32> {
    write_fd(2, bytes)
}

/// Writes `message` and a newline to standard error, then fails the call with exit code
/// `code` (nonzero).
pub fn fail(code: i32, message: &str) -> ! {
    let _ = error(message.as_bytes());
    let _ = error(b"\n");
    exit(code)
}

/// `core::fmt` to standard error.
pub struct Stderr;

impl core::fmt::Write for Stderr {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        error(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// Sends panic messages to standard error (`panicked at FILE:LINE:COL: MESSAGE`), where
/// the call's outcome keeps them: std on wasm32-unknown-unknown would drop them. Call it
/// first in every export that may panic (it is cheap after the first call).
#[cfg(feature = "std")]
pub fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(std::boxed::Box::new(|info| {
            use core::fmt::Write;
            let _ = writeln!(Stderr, "{}", info);
        }))
    });
}

/// Without std, on wasm32: a panic writes its message to standard error and aborts the
/// call with code 101.
#[cfg(all(not(feature = "std"), target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::fmt::Write;
    let _ = writeln!(Stderr, "{}", info);
    abort(101)
}
