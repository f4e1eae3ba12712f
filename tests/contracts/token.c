/*
 * The token contract of token.wat in C, with the same exports, storage and abort codes,
 * plus `echo`, a call that uses the bytes ABI (docs/abi.md).
 *
 * Balances live in contract storage under "bal:" and an account's 8-byte id: the first 8
 * bytes of its owner's ed25519 public key, read as a little-endian i64 (what `me` returns
 * to its caller). A transfer moves the caller's own tokens; only the admin, the key the
 * chain's genesis stores under "admin", mints; amounts must be positive and no balance may
 * overflow. Abort codes: 1 insufficient balance, 2 no caller, 3 not the admin, 4 an amount
 * not positive, 5 a balance would overflow. A transfer debits first, then aborts if the
 * balance went negative: the node must undo the debit.
 *
 * echo() reads its input and writes "HELLO, " and the input in capitals to its output,
 * emits the output's length and returns it; with no input it writes "echo: no input" to
 * standard error and exits with code 7 (the call fails).
 *
 * Built by build.sh (clang-19, wasm32, no C library: sdk/c/verigame.h).
 */
#include "verigame.h"

static int64_t load64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return (int64_t)v;
}

static void store64(unsigned char *p, int64_t value) {
    uint64_t v = (uint64_t)value;
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void key_of(unsigned char key[12], int64_t account) {
    key[0] = 'b';
    key[1] = 'a';
    key[2] = 'l';
    key[3] = ':';
    store64(key + 4, account);
}

VG_EXPORT("balance") int64_t balance(int64_t account) {
    unsigned char key[12], value[8];
    key_of(key, account);
    if (vg_storage_read(key, 12, value, 8) == -1) return 0;
    return load64(value);
}

static void set_balance(int64_t account, int64_t amount) {
    unsigned char key[12], value[8];
    key_of(key, account);
    store64(value, amount);
    vg_storage_write(key, 12, value, 8);
}

/* The caller's key. */
static void caller_key(unsigned char key[32]) {
    if (vg_caller(key) != 32) vg_abort(2);
}

VG_EXPORT("me") int64_t me(void) {
    unsigned char key[32];
    caller_key(key);
    return load64(key);
}

static void positive(int64_t amount) {
    if (amount <= 0) vg_abort(4);
}

/* Adds amount (positive) to account's balance. */
static void credit(int64_t account, int64_t amount) {
    int64_t old = balance(account), sum;
    if (__builtin_add_overflow(old, amount, &sum)) vg_abort(5);
    set_balance(account, sum);
}

static int is_admin(void) {
    unsigned char caller[32], admin[32];
    caller_key(caller);
    if (vg_storage_read("admin", 5, admin, 32) != 32) return 0;
    unsigned char diff = 0;
    for (int i = 0; i < 32; i++) diff |= caller[i] ^ admin[i];
    return diff == 0;
}

/* The admin credits account with amount; the new balance. */
VG_EXPORT("mint") int64_t mint(int64_t account, int64_t amount) {
    (void)me();
    if (!is_admin()) vg_abort(3);
    positive(amount);
    credit(account, amount);
    return balance(account);
}

/* Moves amount of the caller's tokens to `to`; the caller's balance left. */
VG_EXPORT("transfer") int64_t transfer(int64_t to, int64_t amount) {
    int64_t from = me();
    positive(amount);
    int64_t left = balance(from) - amount; /* amount > 0 and balances >= 0: no overflow */
    set_balance(from, left);
    if (left < 0) vg_abort(1);
    credit(to, amount);
    return balance(from);
}

static unsigned char echo_buf[64 << 10];

VG_EXPORT("echo") int32_t echo(void) {
    static const char hello[] = "HELLO, ";
    size_t prefix = sizeof hello - 1;
    for (size_t i = 0; i < prefix; i++) echo_buf[i] = (unsigned char)hello[i];
    size_t n = vg_input(echo_buf + prefix, sizeof echo_buf - prefix);
    if (n == 0) vg_fail(7, "echo: no input");
    for (size_t i = prefix; i < prefix + n; i++) {
        if (echo_buf[i] >= 'a' && echo_buf[i] <= 'z') echo_buf[i] -= 'a' - 'A';
    }
    vg_output(echo_buf, prefix + n);
    vg_emit((int64_t)(prefix + n));
    return (int32_t)(prefix + n);
}
