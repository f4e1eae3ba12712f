/* strings: <string.h> and snprintf.
 *
 * strlen, strcmp/strncmp (sign only: the magnitude is unspecified), strchr,
 * strrchr, strstr, strspn/strcspn, strtok, strcpy/strcat/strncpy, memcmp,
 * memcpy, memmove (overlapping both ways), memset, snprintf with %d %i %u %x
 * %X %o %s %c %5.2f %-8s %lld %llu %zu %%, width/precision/flags, truncation
 * and its return value (through vsnprintf). Takes no input. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int sign(int v) { return (v > 0) - (v < 0); }

/* vsnprintf behind a wrapper (and so out of reach of gcc's truncation
 * warnings, which would reject the deliberate truncation below). */
__attribute__((format(printf, 3, 4))) static int fmt(char *dst, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(dst, n, f, ap);
    va_end(ap);
    return r;
}

int main(void) {
    char buf[128];
    const char *text = "the quick brown fox jumps over the lazy dog";

    printf("strlen=%u\n", (unsigned)strlen(text));
    printf("strcmp: %d %d %d\n", sign(strcmp("abc", "abd")), sign(strcmp("abc", "abc")),
           sign(strcmp("b", "abc")));
    printf("strncmp(\"abcdef\",\"abcxyz\",3)=%d\n", sign(strncmp("abcdef", "abcxyz", 3)));
    printf("strchr('q') at %d, strrchr('o') at %d\n", (int)(strchr(text, 'q') - text),
           (int)(strrchr(text, 'o') - text));
    const char *fox = strstr(text, "fox");
    printf("strstr(\"fox\") at %d: \"%.9s\"\n", fox ? (int)(fox - text) : -1, fox ? fox : "");
    printf("strstr(\"cat\") %s\n", strstr(text, "cat") ? "found" : "not found");
    printf("strspn=%u strcspn=%u\n", (unsigned)strspn(text, "the "), (unsigned)strcspn(text, "xyz"));

    /* strtok on a copy, several delimiters. */
    char copy[64];
    strcpy(copy, "alpha, beta;;gamma  delta,epsilon");
    int n = 0;
    for (char *tok = strtok(copy, ",; "); tok; tok = strtok(NULL, ",; "))
        printf("token[%d]=%s (%u)\n", n++, tok, (unsigned)strlen(tok));

    /* strcat/strncpy. */
    strcpy(buf, "foo");
    strcat(buf, "bar");
    strcat(buf, "baz");
    printf("strcat: %s\n", buf);
    memset(buf, 'x', 10);
    strncpy(buf, "ab", 5); /* pads with NULs up to 5 */
    printf("strncpy: %d %d %d %d %d %c\n", buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]);

    /* memcpy / memmove / memset / memcmp. */
    char m[32];
    for (int i = 0; i < 26; i++) m[i] = (char)('a' + i);
    m[26] = '\0';
    memmove(m + 2, m, 10); /* overlap, forward */
    printf("memmove fwd: %s\n", m);
    memmove(m, m + 5, 10); /* overlap, backward */
    printf("memmove bwd: %s\n", m);
    memset(m + 20, '#', 4);
    printf("memset: %s\n", m);
    memcpy(m, "COPIED", 6);
    printf("memcpy: %s\n", m);
    printf("memcmp: %d %d\n", sign(memcmp("abc\0x", "abc\0y", 5)), sign(memcmp("same", "same", 4)));

    /* snprintf conversions. */
    long long big = -9007199254740993LL;
    unsigned long long ubig = 18446744073709551615ULL;
    int r = snprintf(buf, sizeof buf, "[%d|%i|%u|%x|%X|%o|%s|%c|%5.2f|%-8s|%lld|%llu|%zu|%%]", -42, 17,
                     4000000000u, 48879u, 48879u, 8u, "str", 'Z', 3.14159, "left", big, ubig, sizeof(int));
    printf("snprintf(%d): %s\n", r, buf);
    r = snprintf(buf, sizeof buf, "[%08.3f|%+d|% d|%#x|%#o|%.3s|%*d|%-*d|%.0f|%e]", -2.5, 5, 5, 255u, 8u,
                 "abcdef", 6, 42, 6, 42, 2.75, 12345.678);
    printf("snprintf(%d): %s\n", r, buf);
    /* Truncation: returns the length it would have written. */
    char small[8];
    r = fmt(small, sizeof small, "%s-%d", "truncated", 12345);
    printf("truncated vsnprintf returned %d, kept \"%s\"\n", r, small);
    r = fmt(NULL, 0, "%lld", big);
    printf("vsnprintf(NULL, 0) returned %d\n", r);
    return 0;
}
