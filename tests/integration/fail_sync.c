/* fail_sync.c - an LD_PRELOAD shim for test_journal_fault.c: a disk that
 * stops flushing the ingest journal.
 *
 * fdatasync on a file named "journal" succeeds LT_FAIL_SYNC_AFTER times;
 * every later call blocks LT_FAIL_SYNC_BLOCK_MS, then fails with EIO. The
 * first failing call writes the CLOCK_MONOTONIC time (microseconds) it
 * started to the file LT_FAIL_SYNC_MARK. Every other fdatasync (LMDB's
 * data.mdb) goes to libc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd);

static long env_long(const char *name)
{
    const char *v = getenv(name);
    return v ? atol(v) : 0;
}

static int is_journal(int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 8)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 8, "/journal") == 0;
}

int fdatasync(int fd)
{
    static atomic_long calls;
    static atomic_int marked;
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    if (!is_journal(fd) || atomic_fetch_add(&calls, 1) < env_long("LT_FAIL_SYNC_AFTER"))
        return real(fd);
    const char *mark = getenv("LT_FAIL_SYNC_MARK");
    if (mark && atomic_exchange(&marked, 1) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        FILE *f = fopen(mark, "w");
        if (f) {
            fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
            fclose(f);
        }
    }
    long ms = env_long("LT_FAIL_SYNC_BLOCK_MS");
    if (ms > 0)
        usleep((useconds_t)(ms * 1000));
    errno = EIO;
    return -1;
}
