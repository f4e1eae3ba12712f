/* matmul.c - f64 and f32 arithmetic, int<->float conversions, malloc.
 *
 * Exports:
 *   double matmul_trace(int n)
 *     Allocates three n x n double matrices, fills A and B deterministically,
 *     computes C = A * B (naive triple loop) and returns the trace of C.
 *     n <= 0 returns 0.0.
 *   float mandel(int size)
 *     Iterates z = z^2 + c in single precision over a size x size grid
 *     covering [-2, 0.5] x [-1.25, 1.25] (at most 64 iterations per point)
 *     and returns the total number of iterations as a float.
 *     size <= 0 returns 0.0f.
 */
#include <stdint.h>
#include <stdlib.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

EXPORT("matmul_trace")
double matmul_trace(int n) {
    if (n <= 0)
        return 0.0;
    size_t nn = (size_t)n * (size_t)n;
    double *a = (double *)malloc(nn * sizeof(double));
    double *b = (double *)malloc(nn * sizeof(double));
    double *c = (double *)malloc(nn * sizeof(double));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return -1.0;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double x = (double)((i * 7 + j * 3) % 11) - 5.0;
            /* f64 division, then an f64 -> f32 -> f64 round trip
             * (f32.demote_f64 / f64.promote_f32) */
            a[i * n + j] = (double)(float)(x / (double)(i + j + 1));
            /* i32 -> f32, f32 arithmetic, f64 -> i32 truncation */
            float y = (float)(i - 2 * j) * 0.1f;
            b[i * n + j] = (double)y + 0.25 * (double)(int)(x * 0.7) +
                           0.125 * (double)((i ^ j) & 7);
        }
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < n; k++)
                s += a[i * n + k] * b[k * n + j];
            c[i * n + j] = s;
        }
    }
    double trace = 0.0;
    for (int i = 0; i < n; i++)
        trace += c[i * n + i];
    free(c);
    free(b);
    free(a);
    return trace;
}

EXPORT("mandel")
float mandel(int size) {
    if (size <= 0)
        return 0.0f;
    const int max_iter = 64;
    uint32_t total = 0;
    float scale = 2.5f / (float)size;
    for (int py = 0; py < size; py++) {
        float cy = -1.25f + (float)py * scale;
        for (int px = 0; px < size; px++) {
            float cx = -2.0f + (float)px * scale;
            float zx = 0.0f, zy = 0.0f;
            int it = 0;
            while (it < max_iter) {
                float zx2 = zx * zx, zy2 = zy * zy;
                if (zx2 + zy2 > 4.0f)
                    break;
                float t = zx2 - zy2 + cx;
                zy = 2.0f * zx * zy + cy;
                zx = t;
                it++;
            }
            total += (uint32_t)it;
        }
    }
    return (float)total;
}
