#!/usr/bin/env bash
# Rebuild the WASI command programs in this folder and their expected results.
#
# usage: tests/programs/wasi/build.sh [--check] [--no-build] [--no-cargo]
#
#   (default)   compile every tests/programs/wasi/*.c with clang + wasi-libc as
#               an ordinary WASI command (crt1, `main`, exported `_start`) and
#               rust_hello.rs with Debian's rustc for wasm32-wasi, into
#               <name>.wasm next to the source. Then check each module:
#               validates (wabt wasm-validate, no SIMD), exports `_start` and
#               `memory`, imports only functions of wasi_snapshot_preview1.
#               Prints a size / import summary.
#   --check     also build every program natively (gcc for C, rustc for the
#               host for Rust) into a temporary folder under /tmp, run each
#               case of cases.json natively (an empty environment plus the
#               case's variables, the case's stdin, argv[0] = the .wasm file
#               name) and rewrite expected.json = cases.json plus `stdout`,
#               `stderr` and `exit_code`. Then run every case on the .wasm
#               files with wasmi + wasmi_wasi (`cargo test --test
#               wasi_reference` from the workspace root) and compare.
#   --no-build  skip compiling (only check / summarize the committed .wasm).
#   --no-cargo  with --check: do not run the cargo test.
#
# Toolchain (Debian): apt-get install -y clang-19 lld-19 wasi-libc \
#                       libclang-rt-19-dev-wasm32 wabt rustc libstd-rust-dev-wasm32
# Environment overrides: CLANG (default clang-19), WASI_SYSROOT (default:
# auto-detected), NATIVE_CC (default gcc, then cc), RUSTC_WASI (default
# /usr/bin/rustc, Debian's 1.63, which has the wasm32-wasi std), RUSTC_NATIVE
# (default $RUSTC_WASI, then rustc), PYTHON (default python3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"

do_build=1
do_check=0
do_cargo=1
for arg in "$@"; do
    case "$arg" in
        --check) do_check=1 ;;
        --no-build) do_build=0 ;;
        --no-cargo) do_cargo=0 ;;
        -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { echo "build.sh: error: $*" >&2; exit 1; }
warn() { echo "build.sh: warning: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

CLANG="${CLANG:-clang-19}"
RUSTC_WASI="${RUSTC_WASI:-/usr/bin/rustc}"
PYTHON="${PYTHON:-python3}"

# --- wasi-libc sysroot (same search as tests/programs/build.sh) ---------------
find_sysroot() {
    local cand
    for cand in "${WASI_SYSROOT:-}" /usr /usr/share/wasi-sysroot /opt/wasi-sdk/share/wasi-sysroot; do
        [ -n "$cand" ] || continue
        if [ -f "$cand/lib/wasm32-wasi/libc.a" ] && [ -f "$cand/lib/wasm32-wasi/crt1-command.o" ] \
            && [ -f "$cand/include/wasm32-wasi/stdlib.h" ]; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

# --- flags -------------------------------------------------------------------
# The clang flags of every C test program (WASM_CFLAGS).
source "$HERE/../wasm-flags.sh"
# An ordinary command: wasi-libc's crt1-command.o provides `_start`, which
# calls main and then proc_exit for a nonzero status. Only the name and
# producers sections are dropped.
WASM_LDFLAGS=(
    -Wl,--gc-sections
    -Wl,--strip-all
)
NATIVE_CFLAGS=(-O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Werror)
# rustc 1.63 targets the MVP (plus mutable globals) for wasm32-wasi.
RUST_WASM_FLAGS=(--edition 2021 -O --target wasm32-wasi -C lto=fat -C codegen-units=1 -C strip=symbols)
RUST_NATIVE_FLAGS=(--edition 2021 -O)

c_programs=()
for src in "$HERE"/*.c; do
    c_programs+=("$(basename "$src" .c)")
done
[ "${#c_programs[@]}" -gt 0 ] || die "no C programs found in $HERE"
rust_programs=(rust_hello)
programs=("${c_programs[@]}" "${rust_programs[@]}")

# --- build -------------------------------------------------------------------
if [ "$do_build" = 1 ]; then
    have "$CLANG" || die "$CLANG not found (apt-get install -y clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)"
    SYSROOT="$(find_sysroot)" || die "wasi-libc sysroot not found (apt-get install -y wasi-libc, or set WASI_SYSROOT)"
    echo "build.sh: $CLANG, sysroot $SYSROOT"
    for name in "${c_programs[@]}"; do
        "$CLANG" "${WASM_CFLAGS[@]}" --sysroot="$SYSROOT" "${WASM_LDFLAGS[@]}" \
            "$HERE/$name.c" -o "$HERE/$name.wasm"
        chmod 644 "$HERE/$name.wasm"
    done
    if [ -x "$RUSTC_WASI" ] && [ -d "$("$RUSTC_WASI" --print sysroot)/lib/rustlib/wasm32-wasi" ]; then
        echo "build.sh: $("$RUSTC_WASI" --version) for wasm32-wasi"
        for name in "${rust_programs[@]}"; do
            # rustc writes temporary files next to the output: build in /tmp.
            rtmp="$(mktemp -d /tmp/verigame-wasi-rustc.XXXXXX)"
            # Panic locations embed the source path: make it the same in every checkout.
            "$RUSTC_WASI" "${RUST_WASM_FLAGS[@]}" --remap-path-prefix "$HERE=tests/programs/wasi" \
                "$HERE/$name.rs" -o "$rtmp/$name.wasm"
            cp "$rtmp/$name.wasm" "$HERE/$name.wasm"
            chmod 644 "$HERE/$name.wasm"
            rm -rf "$rtmp"
        done
    else
        warn "$RUSTC_WASI has no wasm32-wasi std (apt-get install -y rustc libstd-rust-dev-wasm32): keeping the committed rust_hello.wasm"
    fi
fi

# --- per-module checks ---------------------------------------------------------
tmpdir="$(mktemp -d /tmp/verigame-wasi-programs.XXXXXX)"
trap 'rm -rf "$tmpdir"' EXIT

have wasm-objdump || die "wasm-objdump (wabt) not found: apt-get install -y wabt"
have wasm-validate || die "wasm-validate (wabt) not found: apt-get install -y wabt"

printf '%-16s %7s  %s\n' module bytes "imports (all wasi_snapshot_preview1)"
for name in "${programs[@]}"; do
    wasm="$HERE/$name.wasm"
    [ -f "$wasm" ] || die "$wasm missing"
    wasm-validate --disable-simd --disable-reference-types "$wasm" \
        || die "$name.wasm does not validate (wabt wasm-validate)"
    wasm-objdump -x "$wasm" > "$tmpdir/$name.x"
    grep -qE '^ - func\[[0-9]+\] <_start> -> "_start"$' "$tmpdir/$name.x" || die "$name.wasm does not export _start"
    grep -qE '^ - memory\[0\] -> "memory"$' "$tmpdir/$name.x" || die "$name.wasm does not export memory"
    # Import lines look like: " - func[3] sig=5 <...> <- wasi_snapshot_preview1.fd_write"
    sed -n '/^Import\[/,/^[A-Z]/p' "$tmpdir/$name.x" | grep '^ - ' > "$tmpdir/$name.imports" || true
    if grep -vE '^ - func\[[0-9]+\] .* <- wasi_snapshot_preview1\.[a-z_]+$' "$tmpdir/$name.imports"; then
        die "$name.wasm has an import that is not a wasi_snapshot_preview1 function (above)"
    fi
    imports="$(sed -E 's/.*<- wasi_snapshot_preview1\.//' "$tmpdir/$name.imports" | sort | tr '\n' ' ')"
    printf '%-16s %7s  %s\n' "$name.wasm" "$(stat -c %s "$wasm")" "$imports"
done

[ "$do_check" = 1 ] || exit 0

# --- native builds ---------------------------------------------------------------
NATIVE_CC="${NATIVE_CC:-}"
if [ -z "$NATIVE_CC" ]; then
    for cc in gcc cc; do
        if have "$cc"; then NATIVE_CC="$cc"; break; fi
    done
fi
[ -n "$NATIVE_CC" ] || die "no native C compiler found (gcc or cc)"
RUSTC_NATIVE="${RUSTC_NATIVE:-}"
if [ -z "$RUSTC_NATIVE" ]; then
    if [ -x "$RUSTC_WASI" ]; then RUSTC_NATIVE="$RUSTC_WASI"; else RUSTC_NATIVE=rustc; fi
fi
have "$RUSTC_NATIVE" || die "no native rustc found (set RUSTC_NATIVE)"
have "$PYTHON" || die "$PYTHON not found"

mkdir "$tmpdir/native"
for name in "${c_programs[@]}"; do
    "$NATIVE_CC" "${NATIVE_CFLAGS[@]}" "$HERE/$name.c" -o "$tmpdir/native/$name" -lm
done
for name in "${rust_programs[@]}"; do
    (cd "$tmpdir" && "$RUSTC_NATIVE" "${RUST_NATIVE_FLAGS[@]}" "$HERE/$name.rs" -o "$tmpdir/native/$name")
done
echo "build.sh: native builds with $NATIVE_CC and $("$RUSTC_NATIVE" --version)"

# --- run the cases natively, write expected.json ----------------------------------
# For each case: the native binary of `program` (its name without .wasm), run
# with argv[0] = the program's .wasm file name, argv[1..] = args, exactly the
# case's environment (nothing inherited, like `env -i`), stdin from `stdin` or
# the file `stdin_file`. The programs print UTF-8 text only.
"$PYTHON" - "$HERE" "$tmpdir/native" <<'PY'
import json, os, subprocess, sys

here, native = sys.argv[1], sys.argv[2]
with open(os.path.join(here, "cases.json"), encoding="utf-8") as f:
    cases = json.load(f)

names = set()
out = []
for case in cases:
    name = case["name"]
    if name in names:
        sys.exit(f"cases.json: duplicate case name {name!r}")
    names.add(name)
    if ("stdin" in case) == ("stdin_file" in case):
        sys.exit(f"cases.json: case {name!r} needs exactly one of stdin and stdin_file")
    if "stdin_file" in case:
        with open(os.path.join(here, case["stdin_file"]), "rb") as f:
            stdin = f.read()
    else:
        stdin = case["stdin"].encode("utf-8")
    env = {}
    for kv in case["env"]:
        key, sep, value = kv.partition("=")
        if not sep or not key or key in env:
            sys.exit(f"cases.json: case {name!r}: bad or repeated env entry {kv!r}")
        env[key] = value
    program = case["program"]
    if not program.endswith(".wasm"):
        sys.exit(f"cases.json: case {name!r}: program must be a .wasm file name")
    exe = os.path.join(native, program[: -len(".wasm")])
    p = subprocess.run([program] + case["args"], executable=exe, env=env, input=stdin,
                       capture_output=True, timeout=60)
    if p.returncode < 0:
        sys.exit(f"case {name!r}: native run killed by signal {-p.returncode}")
    result = dict(case)
    result["stdout"] = p.stdout.decode("utf-8")
    result["stderr"] = p.stderr.decode("utf-8")
    result["exit_code"] = p.returncode
    out.append(result)

path = os.path.join(here, "expected.json")
old = None
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        old = f.read()
new = json.dumps(out, indent=2, ensure_ascii=False) + "\n"
if old is not None and old != new:
    print("build.sh: expected.json changed")
with open(path, "w", encoding="utf-8") as f:
    f.write(new)
codes = sorted({c["exit_code"] for c in out})
print(f"build.sh: wrote expected.json: {len(out)} cases, exit codes {codes}")
PY

# --- the same cases on the .wasm files --------------------------------------------
# wasmtime is not assumed to be installed: the cross-check runs on wasmi with
# wasmi_wasi (a dev-dependency of the workspace root) in tests/wasi_reference.rs.
if [ "$do_cargo" = 1 ]; then
    have cargo || die "cargo not found (or pass --no-cargo)"
    (cd "$ROOT" && cargo test --test wasi_reference)
    echo "build.sh: every case of expected.json agrees between wasm (wasmi + wasmi_wasi) and native"
else
    echo "build.sh: run 'cargo test --test wasi_reference' to check the .wasm files against expected.json"
fi
