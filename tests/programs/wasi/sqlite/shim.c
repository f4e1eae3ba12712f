#include <errno.h>
#include <sys/types.h>
int chmod(const char *path, mode_t mode) { (void)path; (void)mode; errno = ENOSYS; return -1; }
char *realpath(const char *path, char *resolved) { (void)path; (void)resolved; errno = ENOSYS; return 0; }
