/* dispatch.c - a small register bytecode interpreter: a dense `switch` on
 * the opcode (compiled to br_table) and tables of function pointers
 * (call_indirect with a data-dependent index).
 *
 * Export:
 *   int run_vm(int n)
 *     Runs a fixed bytecode program for n outer iterations. Each iteration
 *     advances an LCG, combines it into an accumulator through one of 8
 *     binary functions chosen by the LCG bits, counts the Collatz steps of a
 *     number in 1..256, applies one of 8 unary functions (bit tricks, sign
 *     extension, i64 multiply, f32 and f64/sqrt conversions), and mixes in
 *     a remainder and a quotient. Returns the accumulator. n <= 0 runs zero iterations and
 *     returns 0. Returns -1 if the VM hits an illegal opcode or exceeds its
 *     step budget (neither happens for the built-in program).
 */
#include <stdint.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

enum {
    OP_HALT,  /* return r[a] */
    OP_LI,    /* r[a] = imm */
    OP_MOV,   /* r[a] = r[b] */
    OP_ADD,   /* r[a] = r[b] + r[c] */
    OP_SUB,   /* r[a] = r[b] - r[c] */
    OP_MUL,   /* r[a] = r[b] * r[c] */
    OP_XOR,   /* r[a] = r[b] ^ r[c] */
    OP_ADDI,  /* r[a] = r[b] + imm */
    OP_MULI,  /* r[a] = r[b] * imm */
    OP_ANDI,  /* r[a] = r[b] & imm */
    OP_SHRI,  /* r[a] = r[b] >> (imm & 31) (logical) */
    OP_SHLI,  /* r[a] = r[b] << (imm & 31) */
    OP_DIVU,  /* r[a] = r[c] ? r[b] / r[c] : 0 */
    OP_REMU,  /* r[a] = r[c] ? r[b] % r[c] : 0 */
    OP_JMP,   /* pc = imm */
    OP_JNZ,   /* if (r[a] != 0) pc = imm */
    OP_JEQ,   /* if (r[a] == r[b]) pc = imm */
    OP_JLTU,  /* if (r[a] < r[b]) pc = imm */
    OP_BINFN, /* r[a] = binfns[r[c] & 7](r[a], r[b]) */
    OP_UNFN,  /* r[a] = unfns[r[c] & 7](r[b]) */
    OP_COUNT
};

typedef struct {
    uint8_t op, a, b, c;
    int32_t imm;
} insn_t;

typedef uint32_t (*binfn_t)(uint32_t, uint32_t);
typedef uint32_t (*unfn_t)(uint32_t);

static uint32_t bf_add(uint32_t x, uint32_t y) { return x + y; }
static uint32_t bf_sub(uint32_t x, uint32_t y) { return x - y; }
static uint32_t bf_xor(uint32_t x, uint32_t y) { return x ^ y; }
static uint32_t bf_mul(uint32_t x, uint32_t y) { return x * (y | 1u); }
static uint32_t bf_rotl(uint32_t x, uint32_t y) {
    unsigned r = y & 31u;
    return r ? (x << r) | (x >> (32u - r)) : x;
}
static uint32_t bf_minu(uint32_t x, uint32_t y) { return (x < y ? x : y) ^ (x * 0x9e3779b9u); }
static uint32_t bf_maxu(uint32_t x, uint32_t y) { return (x > y ? x : y) + ((x << 11) | (x >> 21)); }
static uint32_t bf_orsh(uint32_t x, uint32_t y) { return (x << 1) ^ (y | (x >> 7)); }

static uint32_t uf_popadd(uint32_t x) { return x + (uint32_t)__builtin_popcount(x); }
static uint32_t uf_clzxor(uint32_t x) { return x ^ (x ? (uint32_t)__builtin_clz(x) : 32u); }
static uint32_t uf_bswap(uint32_t x) {
    return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}
static uint32_t uf_golden(uint32_t x) { return x * 2654435761u; }
/* sign extension of sub-word values (i32.extend8_s and shift pairs) */
static uint32_t uf_sext(uint32_t x) {
    return (uint32_t)((int32_t)(int8_t)x + (int32_t)(int16_t)(x ^ (x >> 16))) ^ x;
}
/* 64-bit multiply, i64 sign extensions (i64.extend8_s, shift pairs) */
static uint32_t uf_wide(uint32_t x) {
    uint64_t w = (uint64_t)x * 0x9e3779b97f4a7c15ull;
    int64_t p = (int64_t)(int32_t)w, q = (int64_t)(int16_t)w, r = (int64_t)(int8_t)x;
    return (uint32_t)((p * q + r) >> 13);
}
/* f32 conversions; |result| < 2^30 so the truncation is always in range */
static uint32_t uf_f32(uint32_t x) {
    return (uint32_t)(int32_t)((float)(int32_t)x * 0.375f) + x;
}
/* f64 sqrt; the truncated root is < 65536 */
static uint32_t uf_sqrt(uint32_t x) { return x - (uint32_t)__builtin_sqrt((double)x); }

static binfn_t const binfns[8] = {bf_add, bf_sub, bf_xor, bf_mul,
                                  bf_rotl, bf_minu, bf_maxu, bf_orsh};
static unfn_t const unfns[8] = {uf_popadd, uf_clzxor, uf_bswap, uf_golden,
                                uf_sext,   uf_wide,   uf_f32,   uf_sqrt};

#define I(op, a, b, c, imm) {op, a, b, c, imm}

/* r0 = n (input), r1 = accumulator, r2 = LCG state, r3 = LCG multiplier. */
static const insn_t program[] = {
    /*  0 */ I(OP_LI, 1, 0, 0, 0),
    /*  1 */ I(OP_LI, 2, 0, 0, 12345),
    /*  2 */ I(OP_LI, 3, 0, 0, 1103515245),
    /*  3 */ I(OP_LI, 7, 0, 0, 0),
    /*  4 */ I(OP_JEQ, 0, 7, 0, 31),      /* n == 0 -> end */
    /* loop: */
    /*  5 */ I(OP_MUL, 2, 2, 3, 0),
    /*  6 */ I(OP_ADDI, 2, 2, 0, 12345),
    /*  7 */ I(OP_SHRI, 4, 2, 0, 16),
    /*  8 */ I(OP_ANDI, 5, 4, 0, 7),
    /*  9 */ I(OP_BINFN, 1, 4, 5, 0),     /* r1 = binfns[r5](r1, r4) */
    /* 10 */ I(OP_ANDI, 6, 4, 0, 255),
    /* 11 */ I(OP_ADDI, 6, 6, 0, 1),      /* r6 in 1..256 */
    /* 12 */ I(OP_LI, 7, 0, 0, 1),
    /* collatz: */
    /* 13 */ I(OP_JEQ, 6, 7, 0, 22),      /* r6 == 1 -> done */
    /* 14 */ I(OP_ANDI, 5, 6, 0, 1),
    /* 15 */ I(OP_JNZ, 5, 0, 0, 18),      /* odd */
    /* 16 */ I(OP_SHRI, 6, 6, 0, 1),
    /* 17 */ I(OP_JMP, 0, 0, 0, 20),
    /* odd: */
    /* 18 */ I(OP_MULI, 6, 6, 0, 3),
    /* 19 */ I(OP_ADDI, 6, 6, 0, 1),
    /* step: */
    /* 20 */ I(OP_ADDI, 1, 1, 0, 1),      /* count one Collatz step */
    /* 21 */ I(OP_JMP, 0, 0, 0, 13),
    /* done: */
    /* 22 */ I(OP_UNFN, 1, 1, 2, 0),      /* r1 = unfns[r2 & 7](r1) */
    /* 23 */ I(OP_REMU, 5, 2, 0, 0),      /* r5 = r2 % r0 */
    /* 24 */ I(OP_XOR, 1, 1, 5, 0),
    /* 25 */ I(OP_SHLI, 5, 5, 0, 3),
    /* 26 */ I(OP_DIVU, 6, 5, 3, 0),      /* r6 = r5 / r3 */
    /* 27 */ I(OP_SUB, 1, 1, 6, 0),
    /* 28 */ I(OP_ADDI, 0, 0, 0, -1),
    /* 29 */ I(OP_SUB, 7, 7, 7, 0),       /* r7 = 0 */
    /* 30 */ I(OP_JLTU, 7, 0, 0, 5),      /* 0 < r0 -> loop */
    /* end: */
    /* 31 */ I(OP_ADD, 1, 1, 2, 0),
    /* 32 */ I(OP_HALT, 1, 0, 0, 0),
};

#define PROGRAM_LEN ((uint32_t)(sizeof program / sizeof program[0]))

static int32_t vm_exec(const insn_t *code, uint32_t len, uint32_t input, uint64_t budget) {
    uint32_t r[8] = {0};
    uint32_t pc = 0;
    r[0] = input;
    while (budget-- > 0) {
        if (pc >= len)
            return -1;
        const insn_t *in = &code[pc++];
        uint32_t imm = (uint32_t)in->imm;
        uint8_t a = in->a & 7, b = in->b & 7, c = in->c & 7;
        switch (in->op) {
        case OP_HALT: return (int32_t)r[a];
        case OP_LI: r[a] = imm; break;
        case OP_MOV: r[a] = r[b]; break;
        case OP_ADD: r[a] = r[b] + r[c]; break;
        case OP_SUB: r[a] = r[b] - r[c]; break;
        case OP_MUL: r[a] = r[b] * r[c]; break;
        case OP_XOR: r[a] = r[b] ^ r[c]; break;
        case OP_ADDI: r[a] = r[b] + imm; break;
        case OP_MULI: r[a] = r[b] * imm; break;
        case OP_ANDI: r[a] = r[b] & imm; break;
        case OP_SHRI: r[a] = r[b] >> (imm & 31u); break;
        case OP_SHLI: r[a] = r[b] << (imm & 31u); break;
        case OP_DIVU: r[a] = r[c] ? r[b] / r[c] : 0u; break;
        case OP_REMU: r[a] = r[c] ? r[b] % r[c] : 0u; break;
        case OP_JMP: pc = imm; break;
        case OP_JNZ: if (r[a] != 0) pc = imm; break;
        case OP_JEQ: if (r[a] == r[b]) pc = imm; break;
        case OP_JLTU: if (r[a] < r[b]) pc = imm; break;
        case OP_BINFN: r[a] = binfns[r[c] & 7u](r[a], r[b]); break;
        case OP_UNFN: r[a] = unfns[r[c] & 7u](r[b]); break;
        default: return -1;
        }
    }
    return -1;
}

EXPORT("run_vm")
int run_vm(int n) {
    if (n <= 0)
        return 0;
    return vm_exec(program, PROGRAM_LEN, (uint32_t)n, 1000000000ull);
}
