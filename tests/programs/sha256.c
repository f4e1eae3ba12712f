/* sha256.c - hand-written SHA-256: 32-bit rotates/shifts/adds, byte
 * loads/stores, big-endian packing.
 *
 * Exports:
 *   int sha256_rounds(int n)
 *     Starts from a 256-byte buffer with buf[i] = (uint8_t)(i * 7 + 3) and
 *     does n rounds of: digest = SHA-256(buf); copy the 32-byte digest over
 *     buf[0..32). Returns the first 4 bytes of the buffer as a big-endian
 *     int (for n <= 0 that is just the initial buffer: 0x030a1118).
 *   int sha256_selftest(int which)
 *     Hashes a published test vector and returns 1 if the digest matches,
 *     0 if not: which = 0 -> "" (empty), 1 -> "abc", 2 -> the 56-byte
 *     two-block FIPS 180-2 message. Other values return -1.
 */
#include <stdint.h>
#include <stddef.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

static uint32_t rotr(uint32_t x, unsigned r) { return (x >> r) | (x << (32 - r)); }

static void compress(uint32_t st[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = ((uint32_t)block[4 * i] << 24) | ((uint32_t)block[4 * i + 1] << 16) |
               ((uint32_t)block[4 * i + 2] << 8) | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K[i] + w[i];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

static void sha256(const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t st[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    size_t off = 0;
    for (; off + 64 <= len; off += 64)
        compress(st, msg + off);
    uint8_t tail[128];
    size_t rem = len - off;
    for (size_t i = 0; i < rem; i++)
        tail[i] = msg[off + i];
    tail[rem] = 0x80;
    size_t tlen = (rem + 1 + 8 <= 64) ? 64 : 128;
    for (size_t i = rem + 1; i < tlen - 8; i++)
        tail[i] = 0;
    uint64_t bits = (uint64_t)len * 8u;
    for (int i = 0; i < 8; i++)
        tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress(st, tail);
    if (tlen == 128)
        compress(st, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

EXPORT("sha256_rounds")
int sha256_rounds(int n) {
    uint8_t buf[256];
    uint8_t digest[32];
    for (int i = 0; i < 256; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (int r = 0; r < n; r++) {
        sha256(buf, sizeof buf, digest);
        for (int i = 0; i < 32; i++)
            buf[i] = digest[i];
    }
    return (int)be32(buf);
}

static int digest_equals(const uint8_t d[32], const uint32_t expect[8]) {
    for (int i = 0; i < 8; i++)
        if (be32(d + 4 * i) != expect[i])
            return 0;
    return 1;
}

EXPORT("sha256_selftest")
int sha256_selftest(int which) {
    static const uint32_t empty[8] = {0xe3b0c442u, 0x98fc1c14u, 0x9afbf4c8u, 0x996fb924u,
                                      0x27ae41e4u, 0x649b934cu, 0xa495991bu, 0x7852b855u};
    static const uint32_t abc[8] = {0xba7816bfu, 0x8f01cfeau, 0x414140deu, 0x5dae2223u,
                                    0xb00361a3u, 0x96177a9cu, 0xb410ff61u, 0xf20015adu};
    static const uint32_t two[8] = {0x248d6a61u, 0xd20638b8u, 0xe5c02693u, 0x0c3e6039u,
                                    0xa33ce459u, 0x64ff2167u, 0xf6ecedd4u, 0x19db06c1u};
    static const char m2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    uint8_t d[32];
    switch (which) {
    case 0:
        sha256((const uint8_t *)"", 0, d);
        return digest_equals(d, empty);
    case 1:
        sha256((const uint8_t *)"abc", 3, d);
        return digest_equals(d, abc);
    case 2:
        sha256((const uint8_t *)m2, sizeof m2 - 1, d);
        return digest_equals(d, two);
    default:
        return -1;
    }
}
