/* exit: exit codes and stdio flushing at exit.
 *
 * usage: exit.wasm [exit N | return N | atexit N]
 *   exit N    print to stdout (buffered) and stderr, then exit(N)
 *   return N  print, then return N from main
 *   atexit N  register two atexit handlers (they print to stdout, run in
 *             reverse order), then exit(N)
 *   (none)    print usage to stderr and return 2
 * N must be 0..255 (a wait status keeps only the low 8 bits natively, while
 * WASI's proc_exit keeps the whole i32: stay in the range where both agree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void first_registered(void) { printf("atexit: first registered, runs last\n"); }
static void second_registered(void) { printf("atexit: second registered, runs first\n"); }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: exit.wasm (exit|return|atexit) CODE\n");
        return 2;
    }
    const char *mode = argv[1];
    char *end = NULL;
    long code = strtol(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || code < 0 || code > 255) {
        fprintf(stderr, "exit: bad code \"%s\"\n", argv[2]);
        return 2;
    }
    /* Buffered: nothing reaches fd 1 until exit/return flushes stdout. */
    printf("mode=%s code=%ld\n", mode, code);
    fprintf(stderr, "exit: about to leave with %ld via %s\n", code, mode);
    if (strcmp(mode, "exit") == 0) {
        exit((int)code);
    } else if (strcmp(mode, "return") == 0) {
        return (int)code;
    } else if (strcmp(mode, "atexit") == 0) {
        atexit(first_registered);
        atexit(second_registered);
        printf("handlers registered\n");
        exit((int)code);
    }
    fprintf(stderr, "exit: unknown mode \"%s\"\n", mode);
    return 2;
}
