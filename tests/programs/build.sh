#!/usr/bin/env bash
# Rebuild the C test programs in this folder into WebAssembly 2.0 modules.
#
# usage: tests/programs/build.sh [--check] [--no-build]
#
#   (default)   compile every tests/programs/*.c (except native_check.c) to
#               tests/programs/<name>.wasm, then check each module: no imports,
#               validates as WebAssembly 2.0 without SIMD, no SIMD opcodes.
#               Prints a size / instruction-count summary.
#   --check     also compile the same sources natively (gcc/cc) with the
#               driver native_check.c into a temporary folder under /tmp,
#               regenerate expected.txt from it, and, when wabt's wasm-interp
#               is installed, run every case of expected.txt on the .wasm
#               files and compare the results bit for bit with the native ones.
#   --no-build  skip compiling (only check / summarize the committed .wasm).
#
# Toolchain (Debian): apt-get install -y clang-19 lld-19 wasi-libc \
#                       libclang-rt-19-dev-wasm32 wabt
# Environment overrides: CLANG (default clang-19), WASI_SYSROOT (default:
# auto-detected), NATIVE_CC (default gcc, then cc, then clang-19).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

do_build=1
do_check=0
for arg in "$@"; do
    case "$arg" in
        --check) do_check=1 ;;
        --no-build) do_build=0 ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { echo "build.sh: error: $*" >&2; exit 1; }
warn() { echo "build.sh: warning: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

CLANG="${CLANG:-clang-19}"

# --- wasi-libc sysroot -------------------------------------------------------
# Debian's wasi-libc package installs into /usr/include/wasm32-wasi and
# /usr/lib/wasm32-wasi, i.e. the sysroot is /usr. wasi-sdk style installs
# use <root>/include/wasm32-wasi and <root>/lib/wasm32-wasi as well.
find_sysroot() {
    local cand
    for cand in "${WASI_SYSROOT:-}" /usr /usr/share/wasi-sysroot /opt/wasi-sdk/share/wasi-sysroot; do
        [ -n "$cand" ] || continue
        if [ -f "$cand/lib/wasm32-wasi/libc.a" ] && [ -f "$cand/include/wasm32-wasi/stdlib.h" ]; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

# --- flags -------------------------------------------------------------------
# The clang flags of every C test program (WASM_CFLAGS).
source "$HERE/wasm-flags.sh"
# No crt1 (no _start, no WASI imports), no entry point. Exporting
# __wasm_call_ctors (empty for these programs) keeps wasm-ld from wrapping
# every export in a "command" wrapper that calls ctors/dtors. Strip the name
# and producers sections to keep the files small.
WASM_LDFLAGS=(
    -nostartfiles
    -Wl,--no-entry
    -Wl,--export=__wasm_call_ctors
    -Wl,-z,stack-size=65536
    -Wl,--gc-sections
    -Wl,--strip-all
)
NATIVE_CFLAGS=(-O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Werror)

programs=()
for src in "$HERE"/*.c; do
    name="$(basename "$src" .c)"
    [ "$name" = native_check ] && continue
    programs+=("$name")
done
[ "${#programs[@]}" -gt 0 ] || die "no programs found in $HERE"

# --- build -------------------------------------------------------------------
if [ "$do_build" = 1 ]; then
    have "$CLANG" || die "$CLANG not found (apt-get install -y clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)"
    SYSROOT="$(find_sysroot)" || die "wasi-libc sysroot not found (apt-get install -y wasi-libc, or set WASI_SYSROOT)"
    echo "build.sh: $CLANG, sysroot $SYSROOT"
    for name in "${programs[@]}"; do
        "$CLANG" "${WASM_CFLAGS[@]}" --sysroot="$SYSROOT" "${WASM_LDFLAGS[@]}" \
            "$HERE/$name.c" -o "$HERE/$name.wasm"
        chmod 644 "$HERE/$name.wasm"
    done
fi

# --- per-module checks ---------------------------------------------------------
count_insn() { # <disassembly file> <mnemonic>
    grep -cE "\\| +$2( |\$)" "$1" || true
}

tmpdir="$(mktemp -d /tmp/verigame-programs.XXXXXX)"
trap 'rm -rf "$tmpdir"' EXIT

if ! have wasm-objdump && ! have wasm-tools; then
    warn "neither wasm-objdump (wabt) nor wasm-tools found: skipping import/SIMD checks"
fi

printf '%-14s %7s %7s %11s %11s %13s %8s %11s\n' \
    module bytes imports memory.copy memory.fill call_indirect br_table memory.grow
for name in "${programs[@]}"; do
    wasm="$HERE/$name.wasm"
    [ -f "$wasm" ] || die "$wasm missing"
    imports="?"
    cols=("?" "?" "?" "?" "?")
    if have wasm-objdump; then
        wasm-objdump -x "$wasm" > "$tmpdir/$name.x"
        wasm-objdump -d "$wasm" > "$tmpdir/$name.d"
        if grep -q '^Import\[' "$tmpdir/$name.x"; then
            imports="$(sed -nE 's/^Import\[([0-9]+)\].*/\1/p' "$tmpdir/$name.x")"
        else
            imports=0
        fi
        if grep -qE '\| +(v128|[if](8x16|16x8|32x4|64x2))\.' "$tmpdir/$name.d"; then
            die "$name.wasm contains SIMD instructions"
        fi
        i=0
        for insn in memory.copy memory.fill call_indirect br_table memory.grow; do
            cols[$i]="$(count_insn "$tmpdir/$name.d" "$insn")"
            i=$((i + 1))
        done
    elif have wasm-tools; then
        wasm-tools print "$wasm" > "$tmpdir/$name.wat"
        imports="$(grep -c '^  (import ' "$tmpdir/$name.wat" || true)"
        if grep -qE '(v128|[if](8x16|16x8|32x4|64x2))\.' "$tmpdir/$name.wat"; then
            die "$name.wasm contains SIMD instructions"
        fi
    fi
    [ "$imports" = 0 ] || [ "$imports" = "?" ] || die "$name.wasm imports $imports item(s); the programs must import nothing"

    # Validation as WebAssembly 2.0 without SIMD, with every validator at hand.
    validated=0
    if have wasm-tools; then
        wasm-tools validate --features wasm2,-simd "$wasm" \
            || die "$name.wasm does not validate as WebAssembly 2.0 without SIMD (wasm-tools)"
        validated=1
    fi
    if have wasm-validate; then
        wasm-validate --disable-simd --disable-reference-types "$wasm" \
            || die "$name.wasm does not validate (wabt wasm-validate)"
        validated=1
    fi
    [ "$validated" = 1 ] || warn "no validator (wasm-tools or wasm-validate) found: $name.wasm not validated"
    printf '%-14s %7s %7s %11s %11s %13s %8s %11s\n' "$name.wasm" "$(stat -c %s "$wasm")" "$imports" "${cols[@]}"
done

[ "$do_check" = 1 ] || exit 0

# --- native reference results ----------------------------------------------------
NATIVE_CC="${NATIVE_CC:-}"
if [ -z "$NATIVE_CC" ]; then
    for cc in gcc cc "$CLANG"; do
        if have "$cc"; then NATIVE_CC="$cc"; break; fi
    done
fi
[ -n "$NATIVE_CC" ] || die "no native C compiler found (gcc, cc or $CLANG)"

objs=()
for name in "${programs[@]}"; do
    "$NATIVE_CC" "${NATIVE_CFLAGS[@]}" -c "$HERE/$name.c" -o "$tmpdir/native_$name.o"
    objs+=("$tmpdir/native_$name.o")
done
"$NATIVE_CC" "${NATIVE_CFLAGS[@]}" "$HERE/native_check.c" "${objs[@]}" -o "$tmpdir/native_check"
"$tmpdir/native_check" > "$tmpdir/expected.txt"
"$tmpdir/native_check" --bits > "$tmpdir/expected.bits"

if [ -f "$HERE/expected.txt" ] && ! cmp -s "$tmpdir/expected.txt" "$HERE/expected.txt"; then
    echo "build.sh: expected.txt changed:"
    diff -u "$HERE/expected.txt" "$tmpdir/expected.txt" || true
fi
cp "$tmpdir/expected.txt" "$HERE/expected.txt"
echo "build.sh: wrote $HERE/expected.txt ($(wc -l < "$HERE/expected.txt") cases, native $NATIVE_CC)"

# --- run the .wasm files with wabt's interpreter and compare -------------------
if ! have wasm-interp || ! have wasm2wat || ! have wat2wasm; then
    warn "wabt (wasm-interp, wasm2wat, wat2wasm) not found: .wasm results not cross-checked"
    exit 0
fi

# For each module, write a copy whose only function exports are one wrapper per
# case: "cK" calls the export with the case's argument and returns the result
# (floats reinterpreted as integers so wasm-interp prints exact bits).
mismatch=0
for name in "${programs[@]}"; do
    wasm="$HERE/$name.wasm"
    wasm2wat "$wasm" > "$tmpdir/$name.orig.wat"
    grep "^$name.wasm " "$tmpdir/expected.bits" > "$tmpdir/$name.cases" || continue
    sed -E 's/^  \(export "[^"]*" \(func [0-9]+\)\)//' "$tmpdir/$name.orig.wat" \
        | sed '$ s/)$//' > "$tmpdir/$name.wrap.wat"
    k=0
    while read -r _file export arg _bits; do
        idx="$(sed -nE "s/.*\\(export \"$export\" \\(func ([0-9]+)\\).*/\\1/p" "$tmpdir/$name.orig.wat")"
        [ -n "$idx" ] || die "$name.wasm has no export $export"
        result="$(sed -nE "s/^  \\(func \\(;$idx;\\) .*\\(result ([if](32|64))\\).*/\\1/p" "$tmpdir/$name.orig.wat")"
        call="(call $idx (i32.const $arg))"
        case "$result" in
            i32|i64) ty="$result" ;;
            f32) ty=i32; call="(i32.reinterpret_f32 $call)" ;;
            f64) ty=i64; call="(i64.reinterpret_f64 $call)" ;;
            *) die "$name.wasm: cannot determine the result type of $export" ;;
        esac
        printf '  (func (export "c%d") (result %s) %s)\n' "$k" "$ty" "$call" >> "$tmpdir/$name.wrap.wat"
        k=$((k + 1))
    done < "$tmpdir/$name.cases"
    echo ")" >> "$tmpdir/$name.wrap.wat"
    wat2wasm "$tmpdir/$name.wrap.wat" -o "$tmpdir/$name.wrap.wasm"
    wasm-interp "$tmpdir/$name.wrap.wasm" --run-all-exports > "$tmpdir/$name.out"
    k=0
    while read -r file export arg bits; do
        got="$(sed -nE "s/^c$k\\(\\) => [if](32|64):([0-9]+)\$/\\2/p" "$tmpdir/$name.out")"
        if [ "$got" != "$bits" ]; then
            echo "MISMATCH $file $export $arg: wasm bits '$got', native bits '$bits'" >&2
            mismatch=$((mismatch + 1))
        fi
        k=$((k + 1))
    done < "$tmpdir/$name.cases"
done
total="$(wc -l < "$tmpdir/expected.bits")"
if [ "$mismatch" != 0 ]; then
    echo "build.sh: $mismatch of $total cases differ between wasm (wasm-interp) and native" >&2
    exit 1
fi
echo "build.sh: all $total cases agree between wasm (wabt wasm-interp) and native"
