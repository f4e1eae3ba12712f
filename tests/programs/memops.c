/* memops.c - bulk memory (memory.copy / memory.fill) and heap growth
 * (memory.grow through malloc/realloc/calloc in wasi-libc's dlmalloc).
 *
 * Export:
 *   int memops(int n)
 *     Runs n rounds. Round i grows a buffer with realloc to about 3000*i
 *     bytes, memsets the new tail, scribbles a pattern, does overlapping
 *     memmoves in both directions, memcpys half of it into a fresh malloc
 *     block, memsets a window there, and folds sampled bytes of both buffers
 *     into an FNV-1a style hash; every 4th round also does a calloc/free.
 *     Finally the buffer is shrunk with realloc and freed. Returns the hash
 *     (non-negative), or -2 if an allocation failed. n <= 0 returns 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

#define FNV_PRIME 16777619u

static uint32_t mix(uint32_t h, uint8_t b) { return (h ^ b) * FNV_PRIME; }

EXPORT("memops")
int memops(int n) {
    if (n <= 0)
        return 0;
    uint32_t h = 2166136261u;
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint8_t block[256];

    for (int i = 1; i <= n; i++) {
        size_t sz = (size_t)i * 3000u + 17u * (size_t)(i % 5);
        uint8_t *nb = (uint8_t *)realloc(buf, sz);
        if (!nb) {
            free(buf);
            return -2;
        }
        buf = nb;

        /* Fill only the newly added tail: memory.fill, variable value/len. */
        memset(buf + cap, (i * 37) & 0xff, sz - cap);
        cap = sz;

        /* Scribble a pattern so the moves below are not all-constant. */
        for (size_t k = 0; k < 64; k++)
            buf[((size_t)i * 131u + k * 7u) % sz] ^= (uint8_t)(k + (size_t)i);

        /* Overlapping moves, dst > src and dst < src: memory.copy must
         * behave like memmove. */
        size_t shift = 1u + (size_t)(i % 13);
        memmove(buf + shift, buf, sz / 2);
        memmove(buf, buf + shift + 3u, sz / 3);

        /* Fixed-size copies through a stack block (256 bytes). */
        memcpy(block, buf + (size_t)(i % 17), sizeof block);
        block[i & 0xff] ^= 0x5a;
        memcpy(buf + sz - sizeof block, block, sizeof block);

        /* Non-overlapping copy into a fresh allocation. */
        size_t half = sz / 2;
        uint8_t *tmp = (uint8_t *)malloc(half);
        if (!tmp) {
            free(buf);
            return -2;
        }
        memcpy(tmp, buf + sz / 4, half);
        memset(tmp + half / 3, 0xa5 ^ (i & 0xff), (size_t)(i % 29) + 1u);

        for (size_t k = 0; k < half; k += 97)
            h = mix(h, tmp[k]);
        for (size_t k = 0; k < sz; k += 61)
            h = mix(h, buf[k]);
        h = mix(h, tmp[half - 1]);
        free(tmp);

        if (i % 4 == 0) {
            uint8_t *z = (uint8_t *)calloc((size_t)i, 1000);
            if (!z) {
                free(buf);
                return -2;
            }
            uint32_t zs = 0;
            for (size_t k = 0; k < (size_t)i * 1000u; k += 251)
                zs += z[k];
            h = mix(h, (uint8_t)zs);
            free(z);
        }
    }

    /* Shrink, then hash what is left. */
    uint8_t *small = (uint8_t *)realloc(buf, 100);
    if (!small) {
        free(buf);
        return -2;
    }
    for (size_t k = 0; k < 100; k++)
        h = mix(h, small[k]);
    free(small);
    return (int)(h & 0x7fffffffu);
}
