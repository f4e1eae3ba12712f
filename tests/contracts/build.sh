#!/usr/bin/env bash
# Rebuild the example contracts in this folder (token.c) and the SDK's Rust example
# (sdk/rust/examples/counter.rs -> counter_rs.wasm) into WebAssembly 2.0 modules, and
# check that each imports only `verigame` and `wasi_snapshot_preview1` (what a node
# links).
#
# usage: tests/contracts/build.sh [--no-rust]
#
# Toolchain (Debian): apt-get install -y clang-19 lld-19 wasi-libc wabt, and for the Rust
# example Debian's rustc (/usr/bin/rustc, 1.63) with the wasm32-unknown-unknown standard
# library (apt-get install -y rustc libstd-rust-dev-wasm32). Environment overrides: CLANG
# (default clang-19), RUSTC (default /usr/bin/rustc).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLANG="${CLANG:-clang-19}"
RUSTC="${RUSTC:-/usr/bin/rustc}"
rust=1
for arg in "$@"; do
    case "$arg" in
        --no-rust) rust=0 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done
die() { echo "build.sh: error: $*" >&2; exit 1; }

# The clang flags of every C test program and contract (WASM_CFLAGS).
source "$HERE/../programs/wasm-flags.sh"
# No C library, no crt1, no entry: the exports are the calls (VG_EXPORT), the memory is
# exported as token.wat's is.
WASM_LDFLAGS=(
    -nostdlib
    -nostartfiles
    -Wl,--no-entry
    -Wl,--export-memory
    -Wl,-z,stack-size=65536
    -Wl,--gc-sections
    -Wl,--strip-all
)

command -v "$CLANG" >/dev/null || die "$CLANG not found (apt-get install -y clang-19 lld-19)"
for src in "$HERE"/*.c; do
    name="$(basename "$src" .c)"
    "$CLANG" "${WASM_CFLAGS[@]}" -I "$ROOT/sdk/c" "${WASM_LDFLAGS[@]}" "$src" -o "$HERE/$name.wasm"
    chmod 644 "$HERE/$name.wasm"
    echo "build.sh: $name.wasm ($(wc -c < "$HERE/$name.wasm") bytes)"
done

if [ "$rust" = 1 ]; then
    [ -x "$RUSTC" ] || die "$RUSTC not found (or pass --no-rust)"
    "$ROOT/sdk/rust/build.sh" "$HERE/counter_rs.wasm"
    echo "build.sh: counter_rs.wasm ($(wc -c < "$HERE/counter_rs.wasm") bytes)"
fi

# Only the modules a node links.
if command -v wasm-objdump >/dev/null; then
    for wasm in "$HERE"/token.wasm "$HERE"/counter_rs.wasm; do
        [ -f "$wasm" ] || continue
        bad=$(wasm-objdump -x -j Import "$wasm" | grep -E '<- ' | grep -vE '<- (verigame|wasi_snapshot_preview1)\.' || true)
        [ -z "$bad" ] || die "$(basename "$wasm") imports what a node does not link: $bad"
        if wasm-objdump -d "$wasm" | grep -qE '\| +(v128|i8x16|i16x8|i32x4|i64x2|f32x4|f64x2)\.'; then
            die "$(basename "$wasm") uses SIMD"
        fi
    done
fi
