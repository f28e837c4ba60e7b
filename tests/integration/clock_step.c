/* clock_step.c - an LD_PRELOAD shim for test_watchdog.c: the wall clock is
 * set back, as an NTP step or `date -s` would.
 *
 * LT_CLOCK_STEP_AFTER_MS after the process first asks for the time, every
 * CLOCK_REALTIME reading of clock_gettime is LT_CLOCK_STEP_S seconds
 * earlier. Other clocks (CLOCK_MONOTONIC) go to libc untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts);

static long env_long(const char *name)
{
    const char *v = getenv(name);
    return v ? atol(v) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    static _Atomic long long start_ms; /* monotonic ms of the first call */
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(id, ts);
    if (r != 0 || id != CLOCK_REALTIME)
        return r;
    struct timespec m;
    real(CLOCK_MONOTONIC, &m);
    long long now_ms = (long long)m.tv_sec * 1000 + m.tv_nsec / 1000000, zero = 0;
    atomic_compare_exchange_strong(&start_ms, &zero, now_ms);
    if (now_ms - atomic_load(&start_ms) >= env_long("LT_CLOCK_STEP_AFTER_MS"))
        ts->tv_sec -= (time_t)env_long("LT_CLOCK_STEP_S");
    return 0;
}
