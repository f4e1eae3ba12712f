#!/usr/bin/env bash
# Build SQLite's command-line shell (a real program this project did not write) as a WASI
# command, and the expected output of queries.sql from a native build of the same sources.
#
# usage: tests/programs/wasi/sqlite/build.sh
#
# The sources come from the npm registry: the `sqlite3` package ships SQLite's amalgamation
# (deps/sqlite-autoconf-*.tar.gz). The shell's file helpers call chmod and realpath, which
# wasi-libc lacks: shim.c answers ENOSYS (no preopened directory makes them reachable).
# Toolchain (Debian): clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32, gcc, npm.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${SQLITE_NPM_VERSION:-6.0.1}"
work="$(mktemp -d /tmp/verigame-sqlite.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "sqlite3@$VERSION" >/dev/null && tar xzf "sqlite3-$VERSION.tgz" \
    && tar xzf package/deps/sqlite-autoconf-*.tar.gz)
src="$(echo "$work"/sqlite-autoconf-*)"
echo "build.sh: SQLite $(cat "$src/VERSION") from npm sqlite3@$VERSION"

DEFS=(-DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_NOHAVE_SYSTEM
      -DSQLITE_OMIT_POPEN -DSQLITE_DEFAULT_MMAP_SIZE=0)
# The feature set of every C test program (WASM_FEATURES), without the warnings as errors
# that the project's own sources are held to.
source "$HERE/../../wasm-flags.sh"
WASM=("${WASM_FEATURES[@]}" --sysroot=/usr -O2 -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS
      -D_WASI_EMULATED_GETPID)
clang-19 "${WASM[@]}" "${DEFS[@]}" -c "$src/sqlite3.c" -o "$work/sqlite3.o"
clang-19 "${WASM[@]}" "${DEFS[@]}" -include "$HERE/shim.h" -c "$src/shell.c" -o "$work/shell.o"
clang-19 "${WASM[@]}" -c "$HERE/shim.c" -o "$work/shim.o"
clang-19 "${WASM[@]}" "$work/shell.o" "$work/sqlite3.o" "$work/shim.o" -lwasi-emulated-signal \
    -lwasi-emulated-process-clocks -lwasi-emulated-getpid -Wl,--strip-all -o "$HERE/sqlite3.wasm"
chmod 644 "$HERE/sqlite3.wasm"

gcc -O2 "${DEFS[@]}" "$src/shell.c" "$src/sqlite3.c" -lm -o "$work/sqlite3-native"
env -i "$work/sqlite3-native" < "$HERE/queries.sql" > "$HERE/expected.stdout"
echo "build.sh: sqlite3.wasm $(stat -c %s "$HERE/sqlite3.wasm") bytes; expected.stdout from the native build"
