# Sourced by the build scripts of tests/programs, tests/programs/wasi, tests/programs/wasi/sqlite
# and tests/contracts: the clang flags every C test program and contract is built with.
#
# WASM_FEATURES: the WebAssembly 2.0 feature set, spelled out instead of relying on the
# default CPU of a given clang version: start from the MVP and enable the 2.0 proposals that
# C code can use. SIMD, relaxed SIMD, tail calls, exception handling, multi-memory,
# extended-const, atomics and reference types are explicitly off (C never needs reference
# types; without them call_indirect uses the one-byte table index form).
# WASM_CFLAGS: those, optimized, with floating point as the native build computes it and
# every warning an error (for the project's own sources).
# shellcheck disable=SC2034
WASM_FEATURES=(
    --target=wasm32-wasi
    -mcpu=mvp
    -mmutable-globals
    -msign-ext
    -mnontrapping-fptoint
    -mbulk-memory
    -mmultivalue
    -mno-simd128
    -mno-relaxed-simd
    -mno-tail-call
    -mno-exception-handling
    -mno-multimemory
    -mno-extended-const
    -mno-atomics
    -mno-reference-types
)
# shellcheck disable=SC2034
WASM_CFLAGS=("${WASM_FEATURES[@]}" -O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Werror)
