/* env: the environment.
 *
 * getenv of a few fixed names (absent ones print as "(unset)"), then every
 * entry of `environ`, sorted with qsort/strcmp so the order the host passes
 * them in does not matter, then setenv/unsetenv and getenv again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show(const char *name) {
    const char *v = getenv(name);
    if (v)
        printf("%s=\"%s\"\n", name, v);
    else
        printf("%s (unset)\n", name);
}

int main(void) {
    static const char *names[] = {"HOME", "USER", "GREETING", "EMPTY", "PATH"};
    size_t n = 0, bytes = 0;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) show(names[i]);

    while (environ && environ[n]) n++;
    char **copy = malloc((n + 1) * sizeof *copy);
    if (!copy) return 1;
    for (size_t i = 0; i < n; i++) {
        copy[i] = environ[i];
        bytes += strlen(environ[i]);
    }
    qsort(copy, n, sizeof *copy, cmp_str);
    printf("environ: %u entries, %u bytes\n", (unsigned)n, (unsigned)bytes);
    for (size_t i = 0; i < n; i++) printf("  [%u] %s\n", (unsigned)i, copy[i]);
    free(copy);

    if (setenv("VERIGAME_SET", "yes", 1) != 0) return 1;
    if (setenv("GREETING", "overwritten?", 0) != 0) return 1;
    unsetenv("USER");
    show("VERIGAME_SET");
    show("GREETING");
    show("USER");
    return 0;
}
