/* tmpdir.h - fresh temp directories for the unit tests, as the integration
 * harness and the benches make them: $TMPDIR (or /tmp)/lt-NAME-XXXXXX. */
#ifndef LT_TEST_TMPDIR_H
#define LT_TEST_TMPDIR_H

#include <stddef.h>

/* Create the directory; its path into buf. Returns 0 or -errno. */
int lt_t_tmpdir(const char *name, char *buf, size_t size);

/* Remove dir and everything below it (ignores errors). */
void lt_t_rmtree(const char *dir);

#endif
