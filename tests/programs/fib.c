/* fib.c - recursion and integer arithmetic.
 *
 * Exports:
 *   int       fib_rec(int n)   naive doubly-recursive Fibonacci (i32 wraps mod 2^32)
 *   long long fib_iter(int n)  iterative Fibonacci, computed mod 2^64 (i64)
 *
 * fib(0) = 0, fib(1) = 1. Negative n yields n for fib_rec and 0 for fib_iter.
 */
#include <stdint.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

/* Unsigned arithmetic so that overflow (n > 46) is well defined and wraps
 * identically on wasm32 and on the native host. */
static uint32_t fib_rec_u(int n) {
    if (n < 2)
        return (uint32_t)n;
    return fib_rec_u(n - 1) + fib_rec_u(n - 2);
}

EXPORT("fib_rec")
int fib_rec(int n) {
    return (int)fib_rec_u(n);
}

EXPORT("fib_iter")
long long fib_iter(int n) {
    uint64_t a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return (long long)a;
}
