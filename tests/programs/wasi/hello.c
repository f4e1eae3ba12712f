/* hello: the classic greeting plus checksums computed over a generated buffer.
 *
 * Exercises: printf with %s/%u/%08x, a table-driven CRC-32 (the zlib/PNG
 * polynomial, reflected), FNV-1a 32, a static table built at run time.
 * Takes no input; every run prints the same four lines. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc32_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32(const unsigned char *buf, size_t len) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t fnv1a(const unsigned char *buf, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= buf[i];
        h *= 16777619u;
    }
    return h;
}

int main(void) {
    static unsigned char buf[4096];
    const char *greeting = "hello, world";

    crc32_init();
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 31u + (i >> 8) + 7u);

    printf("%s\n", greeting);
    /* Known answer: CRC-32("123456789") = cbf43926. */
    printf("crc32(\"123456789\")=%08x\n", crc32((const unsigned char *)"123456789", 9));
    printf("fnv1a(\"%s\")=%08x\n", greeting, fnv1a((const unsigned char *)greeting, strlen(greeting)));
    printf("checksum=%08x over %u bytes\n", crc32(buf, sizeof buf), (unsigned)sizeof buf);
    return 0;
}
