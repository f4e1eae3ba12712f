/* mixed: a lot of output on both streams, and simple float formatting.
 *
 * usage: mixed.wasm [LINES]   (default 300, at most 5000)
 * Prints LINES lines to stdout (tens of KiB, so the stdio buffer is flushed
 * many times), a progress line to stderr every 25 lines, and a summary.
 * Floats: %g of multiples of 1/8 (exact), %.3f of i/10 and %g of i*1234.5678
 * (never exactly halfway, so correctly rounding printfs agree), %g of small
 * and large powers of ten and of 1/3. */
#include <math.h> /* sqrt, INFINITY */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int lines = 300;
    if (argc > 1) {
        lines = atoi(argv[1]);
        if (lines < 0 || lines > 5000) {
            fprintf(stderr, "mixed: LINES must be 0..5000\n");
            return 1;
        }
    }
    double acc = 0.0;
    unsigned long long chars = 0;
    for (int i = 0; i < lines; i++) {
        double eighth = i / 8.0;
        double tenth = i / 10.0;
        acc += tenth;
        int w = printf("line %4d: %g %.3f %g sqrt=%.6f\n", i, eighth, tenth, i * 1234.5678, sqrt((double)i));
        chars += (unsigned long long)w;
        if (i % 25 == 24) fprintf(stderr, "progress: %d/%d lines\n", i + 1, lines);
    }
    printf("sum of i/10: %.2f\n", acc);
    printf("powers: %g %g %g %g %g\n", 1e-5, 1e-4, 123456.0, 1234567.0, 1e20);
    printf("thirds: %g %.10f %e\n", 1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0);
    printf("specials: %g %g %g %.1f\n", 0.0, -0.0, (double)INFINITY, -1.5);
    printf("printed %llu chars in %d lines\n", chars, lines);
    fprintf(stderr, "mixed: done\n");
    return 0;
}
