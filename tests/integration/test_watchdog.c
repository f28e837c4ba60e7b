/* test_watchdog.c - the wall clock set back (an NTP step, `date -s`)
 * holds no timer of the daemon's.
 *
 * systemd/lienthongd.service sets WatchdogSec=30s: a daemon that stops
 * sending WATCHDOG=1 is killed and restarted. lienthongd times its pings,
 * and an agency attempt's deadline, on the monotonic clock; timed on the
 * wall clock, a step back of an hour would silence the pings, and leave an
 * unanswered attempt in flight, for an hour. The daemon runs with
 * WATCHDOG_USEC and a NOTIFY_SOCKET of the test's, and with clock_step.c
 * preloaded: 2.5 s after start its CLOCK_REALTIME goes back one hour. One
 * event, published before the step, goes to a land gateway that answers
 * after a minute; the attempt's 3 s deadline falls after the step. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "timefmt.h"

#define WATCHDOG_USEC 600000 /* pings every 300 ms */
#define STEP_AFTER_MS 2500
#define WATCH_MS      5500
#define TIMEOUT_MS    "3000" /* land's timeout_ms */

int main(void)
{
    const char *lib = getenv("LT_CLOCK_STEP_LIB");
    lt_h_check(lib && *lib, "LT_CLOCK_STEP_LIB is not set (run through ctest)");
    lt_h h;
    lt_h_init(&h, "watchdog", NULL);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "agencies:\n"
             "  land: {endpoint: \"%s\", timeout_ms: " TIMEOUT_MS ", backoff_initial_ms: 100, "
             "backoff_max_ms: 1000, down_after: 1}\n"
             "routes:\n"
             "  - {name: desk, kinds: [status], senders: [\"motcua-*\"], to: [land]}\n",
             lt_h_sim_endpoint(&h, "land"));
    lt_h_write_config(&h);
    lt_h_sim land = { 0 };
    lt_h_sim_start(&h, &land, "land", "--latency-ms 60000");

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
    int64_t t0 = lt_time_mono_ms();
    h.pid = lt_h_spawn(&h, argv);
    lt_h_preload_end();
    unsetenv("LT_CLOCK_STEP_S");
    unsetenv("LT_CLOCK_STEP_AFTER_MS");
    unsetenv("WATCHDOG_USEC");
    unsetenv("NOTIFY_SOCKET");

    /* WATCHDOG=1 datagrams before and after the step (with a margin) */
    int ready = 0, before = 0, after_step = 0;
    long published_at = -1;
    long last_ping = 0, longest_gap = 0;
    while (lt_time_mono_ms() - t0 < WATCH_MS) {
        struct pollfd p = { .fd = ns, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(ns, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        long at = lt_time_mono_ms() - t0;
        if (strstr(buf, "READY=1") && !ready++) { /* before the step: its times are valid */
            void *c = lt_h_client(&h);
            lt_submission *s = lt_h_status("motcua-hcm", "wd-1", "H26.01-WD1", 1);
            lt_reply *r = lt_h_call(c, s);
            lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED,
                       "the event was not accepted (outcome %d)", (int)r->outcome);
            lienthong__v1__reply__free_unpacked(r, NULL);
            lt_h_sub_free(s);
            zmq_close(c);
            published_at = lt_time_mono_ms() - t0;
        }
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
    lt_h_check(published_at >= 0 && published_at < STEP_AFTER_MS,
               "the event went in %ld ms after start, not before the step", published_at);
    /* the attempt, sent before the step, times out 3 s after it was sent */
    lt_h_check(lt_h_wait_log(&h, "no reply within " TIMEOUT_MS " ms", 4000),
               "the attempt sent before the clock step never timed out (%s ms); log %s", TIMEOUT_MS,
               h.log);
    long timed_out_at = lt_time_mono_ms() - t0;
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0; log %s", h.log);
    lt_h_sim_stop(&land);
    lt_h_free(&h);
    printf("ok the wall clock set back an hour: %d WATCHDOG=1 in the %d ms before, %d in the "
           "2.5 s after (longest gap %ld ms); the attempt sent at %ld ms timed out by %ld ms\n",
           before, STEP_AFTER_MS, after_step, longest_gap, published_at, timed_out_at);
    return 0;
}
