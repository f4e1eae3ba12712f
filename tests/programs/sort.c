/* sort.c - quicksort through comparator function pointers (call_indirect),
 * malloc/free, loads/stores.
 *
 * Export:
 *   int sort_checksum(int n)
 *     Fills an array of n ints from a xorshift32 PRNG, then sorts it three
 *     times with three different comparators (ascending, descending, by low
 *     byte then value), checking the order after each sort with the same
 *     comparator. Returns a checksum of the three sorted orders, or -1 if a
 *     check failed. n <= 0 returns 0.
 */
#include <stdint.h>
#include <stdlib.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

typedef int (*cmp_fn)(int32_t, int32_t);

static int cmp_asc(int32_t x, int32_t y) { return (x > y) - (x < y); }
static int cmp_desc(int32_t x, int32_t y) { return (x < y) - (x > y); }
static int cmp_lowbyte(int32_t x, int32_t y) {
    int32_t lx = x & 0xff, ly = y & 0xff;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

/* The comparators are selected at run time from this table, so every
 * comparison in quicksort() is an indirect call. */
static cmp_fn const comparators[3] = {cmp_asc, cmp_desc, cmp_lowbyte};

static void insertion_sort(int32_t *a, int n, cmp_fn cmp) {
    for (int i = 1; i < n; i++) {
        int32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && cmp(a[j], v) > 0) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void swap32(int32_t *x, int32_t *y) {
    int32_t t = *x;
    *x = *y;
    *y = t;
}

/* Quicksort with median-of-three pivot and Hoare partition. Recurses on the
 * smaller part and loops on the larger one, so stack depth is O(log n). */
__attribute__((noinline))
static void quicksort(int32_t *a, int n, cmp_fn cmp) {
    while (n > 16) {
        int mid = n / 2;
        if (cmp(a[mid], a[0]) < 0) swap32(&a[mid], &a[0]);
        if (cmp(a[n - 1], a[0]) < 0) swap32(&a[n - 1], &a[0]);
        if (cmp(a[n - 1], a[mid]) < 0) swap32(&a[n - 1], &a[mid]);
        int32_t pivot = a[mid];
        int i = -1, j = n;
        for (;;) {
            do { i++; } while (cmp(a[i], pivot) < 0);
            do { j--; } while (cmp(a[j], pivot) > 0);
            if (i >= j)
                break;
            swap32(&a[i], &a[j]);
        }
        /* a[0..=j] <= pivot <= a[j+1..n) */
        int left = j + 1, right = n - left;
        if (left < right) {
            quicksort(a, left, cmp);
            a += left;
            n = right;
        } else {
            quicksort(a + left, right, cmp);
            n = left;
        }
    }
    insertion_sort(a, n, cmp);
}

static uint32_t xorshift32(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

EXPORT("sort_checksum")
int sort_checksum(int n) {
    if (n <= 0)
        return 0;
    int32_t *a = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    if (!a)
        return -2;
    uint32_t state = 0x9e3779b9u ^ (uint32_t)n;
    for (int i = 0; i < n; i++)
        /* Limited range so that there are duplicates for larger n. */
        a[i] = (int32_t)(xorshift32(&state) % 1000003u) - 500000;

    uint32_t sum = 2166136261u;
    for (int k = 0; k < 3; k++) {
        cmp_fn cmp = comparators[k];
        quicksort(a, n, cmp);
        for (int i = 1; i < n; i++) {
            if (cmp(a[i - 1], a[i]) > 0) {
                free(a);
                return -1;
            }
        }
        for (int i = 0; i < n; i++)
            sum = (sum ^ (uint32_t)a[i]) * 16777619u + (uint32_t)i;
    }
    free(a);
    return (int)(sum & 0x7fffffff);
}
