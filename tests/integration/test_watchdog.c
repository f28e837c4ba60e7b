/* test_watchdog.c - the daemon keeps feeding systemd's watchdog when the
 * wall clock is set back (an NTP step, `date -s`).
 *
 * systemd/lienthongd.service sets WatchdogSec=30s: a daemon that stops
 * sending WATCHDOG=1 is killed and restarted. lienthongd times its pings
 * on the monotonic clock; timed on the wall clock, a step back of an hour
 * would silence them for an hour. The daemon runs with WATCHDOG_USEC and a
 * NOTIFY_SOCKET of the test's, and with clock_step.c preloaded: 1.5 s after
 * start its CLOCK_REALTIME goes back one hour. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WATCHDOG_USEC 600000 /* pings every 300 ms */
#define STEP_AFTER_MS 1500
#define WATCH_MS      4500

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void)
{
    const char *lib = getenv("LT_CLOCK_STEP_LIB");
    lt_h_check(lib && *lib, "LT_CLOCK_STEP_LIB is not set (run through ctest)");
    lt_h h;
    lt_h_init(&h, "watchdog", NULL);
    lt_h_write_config(&h);

    char notify_path[320];
    int ns = lt_h_notify_socket(&h, notify_path, sizeof(notify_path));

    char usec[32], after[32];
    snprintf(usec, sizeof(usec), "%d", WATCHDOG_USEC);
    snprintf(after, sizeof(after), "%d", STEP_AFTER_MS);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    setenv("WATCHDOG_USEC", usec, 1);
    setenv("LT_CLOCK_STEP_AFTER_MS", after, 1);
    setenv("LT_CLOCK_STEP_S", "3600", 1);
    lt_h_preload_begin(lib);
    const char *argv[] = { getenv("LT_DAEMON"), "-c", h.config, NULL };
    long t0 = mono_ms();
    h.pid = lt_h_spawn(&h, argv);
    lt_h_preload_end();
    unsetenv("LT_CLOCK_STEP_S");
    unsetenv("LT_CLOCK_STEP_AFTER_MS");
    unsetenv("WATCHDOG_USEC");
    unsetenv("NOTIFY_SOCKET");

    /* WATCHDOG=1 datagrams before and after the step (with a margin) */
    int ready = 0, before = 0, after_step = 0;
    long last_ping = 0, longest_gap = 0;
    while (mono_ms() - t0 < WATCH_MS) {
        struct pollfd p = { .fd = ns, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(ns, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        long at = mono_ms() - t0;
        if (strstr(buf, "READY=1"))
            ready++;
        if (!strstr(buf, "WATCHDOG=1"))
            continue;
        if (last_ping && at - last_ping > longest_gap)
            longest_gap = at - last_ping;
        last_ping = at;
        if (at < STEP_AFTER_MS)
            before++;
        else if (at > STEP_AFTER_MS + 500)
            after_step++;
    }
    close(ns);
    lt_h_check(ready == 1, "lienthongd never said READY=1; log %s", h.log);
    lt_h_check(lt_h_alive(&h), "lienthongd died after the clock step; log %s", h.log);
    /* 2.5 s after the step at one ping per ~300 ms: about 8 */
    lt_h_check(after_step >= 4,
               "after the wall clock went back an hour, lienthongd sent %d WATCHDOG=1 in 2.5 s "
               "(%d in the 1.5 s before; longest gap %ld ms): systemd would kill it",
               after_step, before, longest_gap);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0; log %s", h.log);
    lt_h_free(&h);
    printf("ok the wall clock set back an hour: %d WATCHDOG=1 in the 1.5 s before, %d in the "
           "2.5 s after (longest gap %ld ms)\n",
           before, after_step, longest_gap);
    return 0;
}
