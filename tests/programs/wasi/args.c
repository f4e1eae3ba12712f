/* args: command-line arguments.
 *
 * Prints argc and every argv[i] for i >= 1 (never argv[0]: its value depends
 * on how the program is started), with its length and whether strtoll reads
 * it entirely as a number (base 0: decimal, 0x hex, 0 octal), then the count
 * and the sum of the numeric ones. 64-bit arithmetic throughout, so the
 * results agree on wasm32 (32-bit long) and x86_64 (64-bit long). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long long sum = 0;
    int numeric = 0;
    size_t total_len = 0;

    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 0);
        int is_num = s[0] != '\0' && *end == '\0' && errno == 0;
        total_len += strlen(s);
        printf("argv[%d]=\"%s\" len=%u", i, s, (unsigned)strlen(s));
        if (is_num) {
            printf(" value=%lld\n", v);
            sum += v;
            numeric++;
        } else if (errno == ERANGE) {
            printf(" out of range\n");
        } else {
            printf(" not a number\n");
        }
    }
    printf("numeric=%d sum=%lld total_len=%u\n", numeric, sum, (unsigned)total_len);
    return 0;
}
