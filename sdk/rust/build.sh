#!/usr/bin/env bash
# Build the SDK and its example contract with Debian's rustc 1.63 (/usr/bin/rustc), which
# has the wasm32 standard libraries (rustup's cargo cannot download targets here).
#
# usage: sdk/rust/build.sh [OUT.wasm]   (default: tests/contracts/counter_rs.wasm)
#
# Builds: the SDK as a no_std rlib (wasm32-unknown-unknown, its panic handler included)
# to check it; the SDK with std; examples/counter.rs on it as a cdylib, the contract.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUSTC="${RUSTC:-/usr/bin/rustc}"
OUT="${1:-$ROOT/tests/contracts/counter_rs.wasm}"
TARGET=wasm32-unknown-unknown
tmp="$(mktemp -d /tmp/verigame-sdk.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# Paths in panic locations relative to the repository: the same bytes from any checkout.
common=(--edition 2021 --target "$TARGET" -C opt-level=s -C panic=abort -D warnings --remap-path-prefix "$ROOT=.")
# no_std, and no_std with alloc: they must compile.
"$RUSTC" "${common[@]}" --crate-type rlib --crate-name verigame_sdk "$HERE/src/lib.rs" -o "$tmp/libnostd.rlib"
"$RUSTC" "${common[@]}" --crate-type rlib --crate-name verigame_sdk --cfg 'feature="alloc"' \
    "$HERE/src/lib.rs" -o "$tmp/liballoc.rlib"
# With std, and the example on it.
"$RUSTC" "${common[@]}" --crate-type rlib --crate-name verigame_sdk --cfg 'feature="alloc"' --cfg 'feature="std"' \
    "$HERE/src/lib.rs" -o "$tmp/libverigame_sdk.rlib"
"$RUSTC" "${common[@]}" --crate-type cdylib --crate-name counter \
    --extern verigame_sdk="$tmp/libverigame_sdk.rlib" -L "$tmp" \
    -C link-arg=--strip-all -C link-arg=-zstack-size=65536 \
    "$HERE/examples/counter.rs" -o "$OUT"
chmod 644 "$OUT"
