/* alloc: the heap.
 *
 * A linked list of 2000 malloc'd nodes (built, reversed, half freed), an
 * array grown one element at a time with realloc (doubling), calloc'd blocks
 * checked to be zero, a batch of varied-size allocations freed in a
 * scrambled order and reallocated, then qsort of 500 structs with a
 * comparator (key, then name, then id: a total order, so the unstable qsort
 * gives one answer) and bsearch for present and absent keys. Nothing printed
 * depends on an address. Takes no input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    int value;
    struct node *next;
};

struct rec {
    int key;
    int id;
    char name[12];
};

static uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 16777619u; }

static int cmp_rec(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c != 0) return c;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_key(const void *k, const void *r) {
    int key = *(const int *)k, rk = ((const struct rec *)r)->key;
    return (key > rk) - (key < rk);
}

int main(void) {
    uint32_t h = 2166136261u;

    /* Linked list. */
    struct node *head = NULL;
    for (int i = 0; i < 2000; i++) {
        struct node *n = malloc(sizeof *n);
        if (!n) return 1;
        n->value = i * 7 % 1000;
        n->next = head;
        head = n;
    }
    struct node *rev = NULL;
    while (head) {
        struct node *next = head->next;
        head->next = rev;
        rev = head;
        head = next;
    }
    long sum = 0;
    int count = 0;
    for (struct node *p = rev; p; p = p->next) {
        sum += p->value;
        h = mix(h, (uint32_t)p->value);
        count++;
    }
    printf("list: %d nodes, sum=%ld, first=%d\n", count, sum, rev->value);
    /* Free every other node. */
    for (struct node *p = rev; p && p->next;) {
        struct node *dead = p->next;
        p->next = dead->next;
        free(dead);
        p = p->next;
    }
    count = 0;
    for (struct node *p = rev; p; p = p->next) count++;
    printf("list after freeing every other node: %d nodes\n", count);

    /* Growing array. */
    int *arr = NULL;
    size_t len = 0, cap = 0, reallocs = 0;
    for (int i = 0; i < 5000; i++) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4;
            int *bigger = realloc(arr, cap * sizeof *arr);
            if (!bigger) return 1;
            arr = bigger;
            reallocs++;
        }
        arr[len++] = (i * 2654435761u) >> 20;
    }
    uint32_t ah = 2166136261u;
    for (size_t i = 0; i < len; i++) ah = mix(ah, (uint32_t)arr[i]);
    printf("array: len=%u cap=%u reallocs=%u hash=%08x\n", (unsigned)len, (unsigned)cap, (unsigned)reallocs, ah);
    h = mix(h, ah);

    /* calloc must zero, even after the heap has been used. */
    int zero_ok = 1;
    for (int round = 0; round < 20; round++) {
        size_t n = 100 + (size_t)round * 37;
        unsigned char *z = calloc(n, 3);
        if (!z) return 1;
        for (size_t i = 0; i < n * 3; i++) zero_ok &= z[i] == 0;
        memset(z, 0xAB, n * 3);
        free(z);
    }
    printf("calloc zeroed: %s\n", zero_ok ? "yes" : "NO");

    /* Varied sizes, freed in a scrambled order. */
    enum { NB = 300 };
    unsigned char *blocks[NB];
    size_t sizes[NB];
    for (int i = 0; i < NB; i++) {
        sizes[i] = 1 + (size_t)(i * 97 % 1531);
        blocks[i] = malloc(sizes[i]);
        if (!blocks[i]) return 1;
        memset(blocks[i], i & 0xFF, sizes[i]);
    }
    int intact = 1;
    for (int k = 0; k < NB; k++) {
        int i = k * 113 % NB; /* 113 is coprime to 300: a permutation */
        for (size_t j = 0; j < sizes[i]; j++) intact &= blocks[i][j] == (unsigned char)(i & 0xFF);
        if (k % 3 == 0) {
            free(blocks[i]);
            blocks[i] = NULL;
        } else {
            unsigned char *b = realloc(blocks[i], sizes[i] * 2);
            if (!b) return 1;
            for (size_t j = 0; j < sizes[i]; j++) intact &= b[j] == (unsigned char)(i & 0xFF);
            blocks[i] = b;
        }
    }
    for (int i = 0; i < NB; i++) free(blocks[i]);
    printf("blocks intact after realloc: %s\n", intact ? "yes" : "NO");

    /* qsort of structs, then bsearch. */
    enum { NR = 500 };
    struct rec *recs = calloc(NR, sizeof *recs);
    if (!recs) return 1;
    for (int i = 0; i < NR; i++) {
        recs[i].key = (int)((i * 7919u) % 211u) - 100;
        recs[i].id = i;
        snprintf(recs[i].name, sizeof recs[i].name, "n%03d", (i * 31) % 97);
    }
    qsort(recs, NR, sizeof *recs, cmp_rec);
    int sorted = 1;
    for (int i = 1; i < NR; i++) sorted &= cmp_rec(&recs[i - 1], &recs[i]) < 0;
    for (int i = 0; i < NR; i++) h = mix(mix(h, (uint32_t)recs[i].key), (uint32_t)recs[i].id);
    printf("qsort: sorted=%s first={%d,%d,%s} last={%d,%d,%s}\n", sorted ? "yes" : "NO", recs[0].key, recs[0].id,
           recs[0].name, recs[NR - 1].key, recs[NR - 1].id, recs[NR - 1].name);
    static const int probes[] = {-100, -1, 0, 7, 110, 111, -101, 500};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const struct rec *r = bsearch(&probes[i], recs, NR, sizeof *recs, cmp_key);
        if (r)
            printf("bsearch(%d): found, key=%d\n", probes[i], r->key);
        else
            printf("bsearch(%d): not found\n", probes[i]);
    }
    free(recs);
    free(arr);
    while (rev) {
        struct node *next = rev->next;
        free(rev);
        rev = next;
    }
    printf("checksum=%08x\n", h);
    return 0;
}
