/* native_check.c - native (x86_64) driver that computes the expected results
 * of the wasm test programs independently of any wasm engine.
 *
 * Built by `build.sh --check`: every program *.c is compiled natively with
 * the same sources and linked with this driver. Prints one line per case in
 * the format of expected.txt:
 *
 *     <file.wasm> <export> <arg> <result>
 *
 * i32/i64 results are decimal integers, f64 results use "%.17g" and f32
 * results "%.9g" (both round-trip exactly). Exits non-zero if a built-in
 * sanity check fails (known Fibonacci numbers, SHA-256 test vectors, ...).
 *
 * With `--bits` the result column is instead the raw bit pattern of the
 * result as an unsigned decimal (u32 for i32/f32, u64 for i64/f64), which is
 * what build.sh compares against a wasm engine's output.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int fib_rec(int n);
long long fib_iter(int n);
int sort_checksum(int n);
double matmul_trace(int n);
float mandel(int size);
int memops(int n);
int sha256_rounds(int n);
int sha256_selftest(int which);
int run_vm(int n);

typedef enum { T_I32, T_I64, T_F32, T_F64 } rtype;

typedef struct {
    const char *file;
    const char *export_name;
    rtype type;
    union {
        int (*i32)(int);
        long long (*i64)(int);
        float (*f32)(int);
        double (*f64)(int);
    } fn;
    int args[12];
    int nargs;
} program_case;

#define CASE_I32(file, f, ...) {file, #f, T_I32, {.i32 = f}, {__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int)}
#define CASE_I64(file, f, ...) {file, #f, T_I64, {.i64 = f}, {__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int)}
#define CASE_F32(file, f, ...) {file, #f, T_F32, {.f32 = f}, {__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int)}
#define CASE_F64(file, f, ...) {file, #f, T_F64, {.f64 = f}, {__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int)}

/* The last argument of each list is the benchmark size. */
static const program_case cases[] = {
    CASE_I32("fib.wasm", fib_rec, 0, 1, 2, 10, 20, 25),
    CASE_I64("fib.wasm", fib_iter, 0, 1, 2, 10, 50, 92, 93, 100000),
    CASE_I32("sort.wasm", sort_checksum, 0, 1, 2, 10, 100, 1000, 10000),
    CASE_F64("matmul.wasm", matmul_trace, 0, 1, 2, 3, 10, 64),
    CASE_F32("matmul.wasm", mandel, 0, 1, 2, 8, 32, 128),
    CASE_I32("memops.wasm", memops, 0, 1, 2, 5, 20, 100),
    CASE_I32("sha256.wasm", sha256_rounds, 0, 1, 2, 10, 100),
    CASE_I32("sha256.wasm", sha256_selftest, 0, 1, 2, 3),
    CASE_I32("dispatch.wasm", run_vm, 0, 1, 2, 10, 100, 1000),
};

static int failures = 0;

static void expect(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "native_check: sanity check failed: %s\n", what);
        failures++;
    }
}

static void sanity_checks(void) {
    expect(fib_rec(10) == 55, "fib_rec(10) == 55");
    expect(fib_rec(20) == 6765, "fib_rec(20) == 6765");
    expect(fib_iter(50) == 12586269025LL, "fib_iter(50) == 12586269025");
    expect(fib_iter(92) == 7540113804746346429LL, "fib_iter(92)");
    expect(sha256_selftest(0) == 1, "sha256 of empty string");
    expect(sha256_selftest(1) == 1, "sha256 of \"abc\"");
    expect(sha256_selftest(2) == 1, "sha256 of the 56-byte message");
    expect(sha256_rounds(0) == 0x030a1118, "sha256_rounds(0) is the initial buffer");
    for (int n = 1; n <= 300; n += 37)
        expect(sort_checksum(n) >= 0, "sort_checksum verifies sortedness");
    expect(memops(7) >= 0, "memops allocations succeed");
    expect(matmul_trace(1) == 0.0 * 0.0 + (double)(float)(-5.0) *
           ((double)(0.0f) + 0.25 * (double)(int)(-5.0 * 0.7)), "matmul_trace(1)");
    expect(mandel(1) == 1.0f, "mandel(1): c = -2 - 1.25i escapes after 1 iteration");
    expect(run_vm(0) == 0, "run_vm(0)");
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t f64_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

int main(int argc, char **argv) {
    int bits = argc > 1 && strcmp(argv[1], "--bits") == 0;
    sanity_checks();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const program_case *c = &cases[i];
        for (int k = 0; k < c->nargs; k++) {
            int arg = c->args[k];
            printf("%s %s %d ", c->file, c->export_name, arg);
            if (bits) {
                switch (c->type) {
                case T_I32: printf("%" PRIu32 "\n", (uint32_t)c->fn.i32(arg)); break;
                case T_I64: printf("%" PRIu64 "\n", (uint64_t)c->fn.i64(arg)); break;
                case T_F32: printf("%" PRIu32 "\n", f32_bits(c->fn.f32(arg))); break;
                case T_F64: printf("%" PRIu64 "\n", f64_bits(c->fn.f64(arg))); break;
                }
                continue;
            }
            switch (c->type) {
            case T_I32: printf("%d\n", c->fn.i32(arg)); break;
            case T_I64: printf("%lld\n", c->fn.i64(arg)); break;
            case T_F32: printf("%.9g\n", (double)c->fn.f32(arg)); break;
            case T_F64: printf("%.17g\n", c->fn.f64(arg)); break;
            }
        }
    }
    if (failures) {
        fprintf(stderr, "native_check: %d sanity check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
