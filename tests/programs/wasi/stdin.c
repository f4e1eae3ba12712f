/* stdin: read standard input to its end, like wc.
 *
 * The first line is read with getchar() and echoed uppercased (toupper on
 * unsigned char, C locale: bytes >= 0x80 stay as they are); the rest is read
 * with fread() in 100-byte chunks into a buffer grown with realloc. Prints
 * byte/line/word counts the way wc counts them (lines = '\n' count, words =
 * maximal runs of non-isspace bytes), the longest line, the last line, and an
 * FNV-1a checksum of everything. Empty input is fine. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    size_t cap = 64, len = 0;
    unsigned char *data = malloc(cap);
    if (!data) return 1;

    /* First line, byte by byte. */
    int c;
    int saw_newline = 0;
    while ((c = getchar()) != EOF) {
        if (len == cap) {
            cap *= 2;
            data = realloc(data, cap);
            if (!data) return 1;
        }
        data[len++] = (unsigned char)c;
        if (c == '\n') {
            saw_newline = 1;
            break;
        }
    }
    size_t first_len = len - (size_t)saw_newline;

    /* The rest, in chunks. */
    unsigned char chunk[100];
    size_t got, reads = 0;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        reads++;
        if (len + got > cap) {
            while (len + got > cap) cap *= 2;
            data = realloc(data, cap);
            if (!data) return 1;
        }
        memcpy(data + len, chunk, got);
        len += got;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "stdin: read error\n");
        return 1;
    }

    if (len == 0) {
        printf("first line: (empty input)\n");
    } else {
        printf("first line: \"");
        for (size_t i = 0; i < first_len; i++) putchar(toupper(data[i]));
        printf("\"\n");
    }

    size_t lines = 0, words = 0, longest = 0, cur = 0, last_start = 0;
    int in_word = 0;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = data[i];
        h = (h ^ b) * 16777619u;
        if (b == '\n') {
            lines++;
            if (cur > longest) longest = cur;
            cur = 0;
            if (i + 1 < len) last_start = i + 1;
        } else {
            cur++;
        }
        if (isspace(b)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    if (cur > longest) longest = cur;

    printf("bytes=%u lines=%u words=%u longest=%u\n", (unsigned)len, (unsigned)lines, (unsigned)words,
           (unsigned)longest);
    printf("ends with newline: %s\n", len > 0 && data[len - 1] == '\n' ? "yes" : "no");
    if (len > 0) {
        size_t end = len;
        if (data[end - 1] == '\n') end--;
        printf("last line: \"%.*s\"\n", (int)(end - last_start), (const char *)data + last_start);
    }
    printf("fnv1a=%08x\n", h);
    /* How many fread calls returned data depends only on the input length. */
    fprintf(stderr, "stdin: %u byte(s), %u chunk(s) after the first line\n", (unsigned)len, (unsigned)reads);
    free(data);
    return 0;
}
