/* test_journal_fault.c - the disk stops flushing the ingest journal.
 *
 * The daemon acknowledges journaled events only after their records are
 * flushed (daemon/journal.h), on the loop's thread when nothing else waits
 * and on the journal's sync thread under load (daemon/syncer.h). Here the
 * journal's fdatasync fails after a few good ones (fail_sync.c, preloaded
 * into the daemon). What a user would check:
 *
 * - one event at a time: the events flushed before are acknowledged, the
 *   one whose flush failed is not; the daemon logs "journal flush failed"
 *   and exits 3; after a restart the client's resend is answered with the
 *   same seq, and the store holds each event once;
 * - pipelined (8 clients, 64 in flight each), with the failing flush
 *   blocking half a second while the loop stages more: no acknowledgement
 *   arrives after the flush started failing, the daemon exits 3, and after
 *   a restart every resend is answered, no acknowledged event is lost and
 *   the log has no holes and no copies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"

#define SENDER "motcua-fault"

/* The store's last seq now (lt_store_last_seq is as of the open). */
static uint64_t last_seq(lt_store *s)
{
    lt_store_stats st;
    lt_h_check(lt_store_stats_get(s, &st) == 0, "store stats");
    return st.last_seq;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Start the daemon with the shim: `after` good journal flushes, then
 * failures that block block_ms. */
static void start_failing(lt_h *h, int after, int block_ms, char *mark, size_t mark_size)
{
    const char *lib = getenv("LT_FAIL_SYNC_LIB");
    lt_h_check(lib && *lib, "LT_FAIL_SYNC_LIB is not set (run through ctest)");
    char n[16];
    snprintf(mark, mark_size, "%s/fail-mark", h->dir);
    snprintf(n, sizeof(n), "%d", after);
    setenv("LT_FAIL_SYNC_AFTER", n, 1);
    snprintf(n, sizeof(n), "%d", block_ms);
    setenv("LT_FAIL_SYNC_BLOCK_MS", n, 1);
    setenv("LT_FAIL_SYNC_MARK", mark, 1);
    lt_h_preload_begin(lib);
    lt_h_start(h);
    lt_h_preload_end();
    unsetenv("LT_FAIL_SYNC_AFTER");
    unsetenv("LT_FAIL_SYNC_BLOCK_MS");
    unsetenv("LT_FAIL_SYNC_MARK");
}

/* The daemon must exit 3 on its own, saying why. */
static void expect_flush_failure_exit(lt_h *h)
{
    int st = lt_h_wait(h->pid, 15000);
    h->pid = 0;
    lt_h_check(st == 3, "the daemon exited %d after the journal flush failed, not 3", st);
    lt_h_check(lt_h_log_contains(h, "journal flush failed"),
               "no \"journal flush failed\" line in %s", h->log);
}

static void one_at_a_time(void)
{
    lt_h h;
    char mark[320], id[32], dossier[32];
    lt_h_init(&h, "journal_fault_one", NULL);
    lt_h_write_config(&h);
    start_failing(&h, 3, 0, mark, sizeof(mark));
    void *c = lt_h_client(&h);

    for (int i = 1; i <= 3; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        snprintf(dossier, sizeof(dossier), "D%d", i);
        lt_submission *s = lt_h_status(SENDER, id, dossier, 1);
        lt_reply *r = lt_h_call(c, s);
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED && r->seq == (uint64_t)i,
                   "%s: outcome %d seq %" PRIu64, id, r->outcome, r->seq);
        lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_sub_free(s);
    }
    lt_submission *s4 = lt_h_status(SENDER, "e4", "D4", 1);
    lt_h_send(c, s4);
    lt_reply *r = lt_h_recv(c, 2000);
    lt_h_check(r == NULL, "e4 was acknowledged (outcome %d) although its flush failed",
               r ? (int)r->outcome : -1);
    expect_flush_failure_exit(&h);
    zmq_close(c);

    lt_h_start(&h); /* without the shim */
    c = lt_h_client(&h);
    r = lt_h_call(c, s4); /* the client resends */
    lt_h_check((r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED ||
                r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE) &&
                   r->seq == 4,
               "e4 after the restart: outcome %d seq %" PRIu64, r->outcome, r->seq);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s4);
    zmq_close(c);

    lt_store *st = lt_h_store(&h);
    lt_h_check(last_seq(st) == 4, "the store ends at seq %" PRIu64 ", not 4", last_seq(st));
    lt_store_close(&st);
    lt_h_free(&h);
    printf("ok one at a time: e1..e3 acknowledged, e4 not; exit 3; e4 seq 4 after the restart\n");
}

#define CLIENTS 8
#define WINDOW  64
#define EVENTS  6000 /* in all */

typedef struct tracked {
    int64_t acked_us; /* when its ACCEPTED arrived, 0 if never */
} tracked;

static void pipelined(void)
{
    lt_h h;
    char mark[320], id[32], dossier[32];
    static tracked ev[EVENTS];
    memset(ev, 0, sizeof(ev));
    lt_h_init(&h, "journal_fault_pipelined", NULL);
    lt_h_write_config(&h);
    start_failing(&h, 20, 500, mark, sizeof(mark));

    void *c[CLIENTS];
    int next[CLIENTS], inflight[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        c[k] = lt_h_client(&h);
        next[k] = k;
        inflight[k] = 0;
    }
    int acked = 0, sent = 0;
    int64_t last_reply = now_us();
    while (now_us() - last_reply < 3000000) {
        for (int k = 0; k < CLIENTS; k++)
            for (; inflight[k] < WINDOW && next[k] < EVENTS; next[k] += CLIENTS) {
                snprintf(id, sizeof(id), "p%d", next[k]);
                snprintf(dossier, sizeof(dossier), "PD%d", next[k]);
                lt_submission *s = lt_h_status(SENDER, id, dossier, 1);
                lt_h_send(c[k], s);
                lt_h_sub_free(s);
                inflight[k]++;
                sent++;
            }
        zmq_pollitem_t items[CLIENTS];
        for (int k = 0; k < CLIENTS; k++)
            items[k] = (zmq_pollitem_t){ c[k], 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(items, CLIENTS, 100) <= 0)
            continue;
        for (int k = 0; k < CLIENTS; k++) {
            lt_reply *r;
            while ((items[k].revents & ZMQ_POLLIN) && (r = lt_h_recv(c[k], 0)) != NULL) {
                int i = r->event_id ? atoi(r->event_id + 1) : -1;
                lt_h_check(i >= 0 && i < EVENTS &&
                               r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED,
                           "unexpected reply outcome %d event %s", r->outcome,
                           r->event_id ? r->event_id : "-");
                ev[i].acked_us = now_us();
                acked++;
                inflight[k]--;
                last_reply = now_us();
                lienthong__v1__reply__free_unpacked(r, NULL);
            }
        }
    }
    expect_flush_failure_exit(&h);
    for (int k = 0; k < CLIENTS; k++)
        zmq_close(c[k]);

    FILE *f = fopen(mark, "r");
    long long failed_at = 0;
    lt_h_check(f && fscanf(f, "%lld", &failed_at) == 1, "the shim left no mark in %s", mark);
    fclose(f);
    int late = 0;
    for (int i = 0; i < EVENTS; i++)
        late += ev[i].acked_us > failed_at + 100000;
    lt_h_check(late == 0,
               "%d acknowledgements arrived more than 100 ms after the journal flush began "
               "failing",
               late);
    lt_h_check(acked > 0 && acked < sent, "acked %d of %d sent: the failure was not exercised",
               acked, sent);

    /* restart without the shim; every event is (re)sent until answered */
    lt_h_start(&h);
    void *cl = lt_h_client(&h);
    int resent = 0;
    for (int i = 0; i < EVENTS; i++) {
        if (ev[i].acked_us && (i % 7) != 0)
            continue; /* some acknowledged ones too: they must come back DUPLICATE */
        snprintf(id, sizeof(id), "p%d", i);
        snprintf(dossier, sizeof(dossier), "PD%d", i);
        lt_submission *s = lt_h_status(SENDER, id, dossier, 1);
        lt_reply *r = lt_h_call(cl, s);
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED ||
                       (r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE && r->seq >= 1 &&
                        r->seq <= (uint64_t)EVENTS),
                   "%s after the restart: outcome %d", id, r->outcome);
        lt_h_check(!ev[i].acked_us || r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE,
                   "%s was acknowledged before the failure but is not in the store", id);
        lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_sub_free(s);
        resent++;
    }
    zmq_close(cl);
    lt_store *st = lt_h_store(&h);
    lt_h_check(last_seq(st) == EVENTS,
               "the store ends at seq %" PRIu64 " after every event was answered, not %d",
               last_seq(st), EVENTS);
    lt_store_txn *t;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    int missing = 0;
    for (int i = 0; i < EVENTS; i++) {
        uint64_t seq = 0;
        snprintf(id, sizeof(id), "p%d", i);
        missing += lt_store_find_event(t, SENDER, id, &seq) != 0;
    }
    lt_store_txn_abort(&t);
    lt_store_close(&st);
    lt_h_check(missing == 0, "%d events missing from the store", missing);
    lt_h_free(&h);
    printf("ok pipelined: %d of %d sent acknowledged before the failure, none after; "
           "%d resent; %d stored once each, seq 1..%d\n",
           acked, sent, resent, EVENTS, EVENTS);
}

int main(void)
{
    one_at_a_time();
    pipelined();
    return 0;
}
