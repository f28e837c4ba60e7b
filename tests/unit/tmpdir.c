/* tmpdir.c - fresh temp directories for the unit tests; see tmpdir.h. */
#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

int lt_t_tmpdir(const char *name, char *buf, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, size, "%s/lt-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    return mkdtemp(buf) ? 0 : -errno;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void lt_t_rmtree(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
