/*
 * verigame.h: the host functions a Verigame contract imports, and helpers for the
 * contract ABI (docs/abi.md).
 *
 * A contract is a WebAssembly module whose exported functions are its calls. A call has
 * numeric arguments and results, INPUT BYTES (its standard input) and OUTPUT BYTES (what
 * it writes to standard output); standard error carries diagnostics. A call that traps,
 * aborts, runs out of gas or exits with a nonzero code is undone (its output still
 * reaches the caller in its outcome).
 *
 * This header needs no C library: the WASI functions it uses (fd_read, fd_write,
 * proc_exit) are declared here under names of its own, so it works with -nostdlib as
 * with wasi-libc. Build for wasm32 with clang, e.g. (tests/contracts/build.sh):
 *
 *   clang-19 --target=wasm32-wasi -O2 -nostartfiles -Wl,--no-entry \
 *       -I sdk/c contract.c -o contract.wasm
 *
 * and export calls with VG_EXPORT("name"). A node links only the `verigame` and
 * `wasi_snapshot_preview1` modules.
 */
#ifndef VERIGAME_H
#define VERIGAME_H

#include <stddef.h>
#include <stdint.h>

#define VG_IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
/* Exports a function as one of the contract's calls. */
#define VG_EXPORT(name) __attribute__((export_name(name)))

/* ---- The `verigame` host functions (docs/spec.md, stepper/src/host.rs) ---------------- */

/* Traps with the program's code: the call fails and is undone. Never returns. */
VG_IMPORT("verigame", "abort") __attribute__((noreturn)) void vg_abort(int32_t code);

/* Appends a value to the machine's output log; the call's outcome lists the values it
 * emitted (undone, as the rest of its state, if the call fails). */
VG_IMPORT("verigame", "emit") void vg_emit(int64_t value);

/* Copies the value stored under the key (at most value_cap bytes of it) to value and
 * returns its full length, or -1 when the key is absent. */
VG_IMPORT("verigame", "storage_read")
int32_t vg_storage_read(const void *key, int32_t key_len, void *value, int32_t value_cap);

/* Stores value under key (keys up to 64 bytes, values up to 256 bytes: docs/spec.md, "Contract storage"). */
VG_IMPORT("verigame", "storage_write")
void vg_storage_write(const void *key, int32_t key_len, const void *value, int32_t value_len);

/* Deletes key: 1 if it was present, else 0. */
VG_IMPORT("verigame", "storage_delete") int32_t vg_storage_delete(const void *key, int32_t key_len);

/* Copies the running call's caller (on a node: the signer's 32-byte ed25519 public key)
 * to out (32 bytes of room) and returns its length, or -1 when the call has none (a
 * /call query). */
VG_IMPORT("verigame", "caller") int32_t vg_caller(void *out);

/* ---- The WASI functions the helpers use (wasi_snapshot_preview1) --------------------- */

typedef struct vg_iovec {
    const void *buf;
    uint32_t len;
} vg_iovec;

VG_IMPORT("wasi_snapshot_preview1", "fd_read")
int32_t vg_wasi_fd_read(int32_t fd, vg_iovec *iovs, int32_t iovs_len, uint32_t *nread);
VG_IMPORT("wasi_snapshot_preview1", "fd_write")
int32_t vg_wasi_fd_write(int32_t fd, const vg_iovec *iovs, int32_t iovs_len, uint32_t *nwritten);
VG_IMPORT("wasi_snapshot_preview1", "proc_exit") __attribute__((noreturn)) void vg_wasi_proc_exit(int32_t code);

/* ---- Helpers ---------------------------------------------------------------------- */

/* Reads the call's input (standard input) into buf, at most cap bytes: returns the number
 * of bytes read, all of the input if it fits (check vg_input_more() otherwise). */
static inline size_t vg_input(void *buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        vg_iovec iov = {(char *)buf + got, (uint32_t)(cap - got)};
        uint32_t n = 0;
        if (vg_wasi_fd_read(0, &iov, 1, &n) != 0 || n == 0) break;
        got += n;
    }
    return got;
}

/* Whether input is left unread (after vg_input filled its buffer). */
static inline int vg_input_more(void) {
    char c;
    vg_iovec iov = {&c, 1};
    uint32_t n = 0;
    return vg_wasi_fd_read(0, &iov, 1, &n) == 0 && n == 1;
}

/* Writes all of buf to file descriptor fd (1 output, 2 standard error): 0, or the WASI
 * errno (ENOSPC past the 64 MiB a call may write to a stream). */
static inline int32_t vg_write_fd(int32_t fd, const void *buf, size_t len) {
    while (len > 0) {
        vg_iovec iov = {buf, (uint32_t)len};
        uint32_t n = 0;
        int32_t err = vg_wasi_fd_write(fd, &iov, 1, &n);
        if (err != 0) return err;
        if (n == 0) return 29; /* EIO */
        buf = (const char *)buf + n;
        len -= n;
    }
    return 0;
}

/* Appends bytes to the call's output (standard output). */
static inline int32_t vg_output(const void *buf, size_t len) { return vg_write_fd(1, buf, len); }

static inline size_t vg_strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* Appends a NUL-terminated string to the output / to standard error. */
static inline int32_t vg_output_str(const char *s) { return vg_write_fd(1, s, vg_strlen(s)); }
static inline int32_t vg_error_str(const char *s) { return vg_write_fd(2, s, vg_strlen(s)); }

/* Ends the call with an exit code: 0 succeeds (as a return), any other fails the call
 * (undone; its output and standard error stay in its outcome). Never returns. */
static inline __attribute__((noreturn)) void vg_exit(int32_t code) { vg_wasi_proc_exit(code); }

/* Writes message and a newline to standard error, then fails the call with exit code
 * code (nonzero). */
static inline __attribute__((noreturn)) void vg_fail(int32_t code, const char *message) {
    vg_error_str(message);
    vg_write_fd(2, "\n", 1);
    vg_wasi_proc_exit(code);
}

#endif /* VERIGAME_H */
