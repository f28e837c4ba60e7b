/* test_flow.c - the land-transfer flow of BRIEF.md end to end: a dossier
 * published by the one-stop desk reaches the land registry and the portal,
 * the land office's obligation request reaches tax, the tax simulator's
 * notice comes back through ingest and is routed to land and portal, and a
 * reporting job on the result stream sees the results in order. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "lienthong/v1/stream.pb-c.h"
#include "outbox.h"

#define DOSSIER "H26.1.2-261110-0001"

static void wait_count(const lt_h_sim *sim, const char *needle, int want, int ms)
{
    for (int i = 0; i < ms / 10 && lt_h_sim_count(sim, needle) < want; i++)
        usleep(10000);
    lt_h_check(lt_h_sim_count(sim, needle) == want, "%s: %d lines with \"%s\", want %d (log %s)",
               sim->agency, lt_h_sim_count(sim, needle), needle, want, sim->log);
}

/* Sequence numbers the simulator saw, in arrival order. */
static int seqs_of(const lt_h_sim *sim, unsigned long long *out, int max)
{
    FILE *f = fopen(sim->log, "r");
    int n = 0;
    char line[4096];
    while (f && fgets(line, sizeof(line), f) && n < max) {
        char *p = strstr(line, " seq=");
        if (p)
            out[n++] = strtoull(p + 5, NULL, 10);
    }
    if (f)
        fclose(f);
    return n;
}

static int state_of(lt_h *h, const char *agency, uint64_t seq)
{
    lt_store *st = lt_h_store(h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    lt_delivery *d = NULL;
    int state = lt_outbox_get(t, agency, seq, &d) == 0 ? (int)d->state : 0;
    lienthong__v1__delivery__free_unpacked(d, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&st);
    return state;
}

/* user + system CPU seconds of a process, from /proc/PID/stat */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    lt_h_check(f && fgets(buf, sizeof(buf), f), "read %s", path);
    fclose(f);
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    lt_h_check(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                           &st) == 2,
               "parse %s", path);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void send_stream(void *s, Lienthong__V1__StreamRequest *q)
{
    size_t len = lienthong__v1__stream_request__get_packed_size(q);
    uint8_t buf[1024];
    lt_h_check(len <= sizeof(buf), "request too big");
    lienthong__v1__stream_request__pack(q, buf);
    lt_h_check(zmq_send(s, buf, len, 0) == (int)len, "stream send");
}

static Lienthong__V1__StreamMessage *recv_stream(void *s)
{
    zmq_pollitem_t p = { s, 0, ZMQ_POLLIN, 0 };
    lt_h_check(zmq_poll(&p, 1, 5000) == 1, "no stream message within 5 s");
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_recv(&m, s, 0);
    Lienthong__V1__StreamMessage *r =
        lienthong__v1__stream_message__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    lt_h_check(r, "stream message does not decode");
    return r;
}

int main(void)
{
    lt_h h;
    lt_h_init(&h, "flow", NULL);
    char stream_ep[320];
    snprintf(stream_ep, sizeof(stream_ep), "ipc://%s/stream.sock", h.dir);
    snprintf(
        h.extra_yaml, sizeof(h.extra_yaml),
        "agencies:\n"
        "  tax: {endpoint: \"%s\", senders: [tax-sim], timeout_ms: 2000}\n"
        "  land: {endpoint: \"%s\", senders: [vpdkdd-hcm]}\n"
        "  portal: {endpoint: \"%s\"}\n"
        "routes:\n"
        "  - {name: desk, kinds: [status], procedures: [\"1.004227\"], senders: [\"motcua-*\"],"
        " to: [land, portal]}\n"
        "  - {name: land-office, kinds: [status], procedures: [\"1.004227\"],"
        " senders: [\"vpdkdd-*\"], to: [tax, portal]}\n"
        "  - {name: tax-notice, kinds: [result], result_kinds: [tax_notice],"
        " to: [land, portal]}\n"
        "  - {name: portal-results, kinds: [result], to: [portal]}\n"
        "  - {name: portal-status, kinds: [status], to: [portal]}\n"
        "streams:\n  endpoint: \"%s\"\n",
        lt_h_sim_endpoint(&h, "tax"), lt_h_sim_endpoint(&h, "land"),
        lt_h_sim_endpoint(&h, "portal"), stream_ep);
    lt_h_sim tax, land, portal;
    lt_h_sim_start(&h, &tax, "tax", "--result-delay-ms 100");
    lt_h_sim_start(&h, &land, "land", "--latency-ms 5");
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");
    lt_h_start(&h);

    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' publish '%s/examples/land-transfer.yaml' >/dev/null",
             getenv("LT_CTL"), h.config, getenv("LT_SOURCE_DIR"));
    int st = system(cmd);
    lt_h_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "publish failed (%d)", st);

    /* 8 published + the tax simulator's notice (seq 9) */
    wait_count(&portal, "outcome=OK", 9, 10000);
    wait_count(&land, "outcome=OK", 5, 10000);
    wait_count(&tax, "outcome=OK", 1, 10000);
    lt_h_check(lt_h_sim_count(&tax, "seq=4 ") == 1, "tax did not get the obligation request");

    /* per dossier, in order, nothing repeated */
    unsigned long long seqs[32];
    int n = seqs_of(&portal, seqs, 32);
    for (int i = 1; i < n; i++)
        lt_h_check(seqs[i] > seqs[i - 1], "portal saw seq %llu after %llu", seqs[i], seqs[i - 1]);
    n = seqs_of(&land, seqs, 32);
    unsigned long long want_land[] = { 1, 2, 5, 8, 9 };
    for (int i = 0; i < n; i++)
        lt_h_check(seqs[i] == want_land[i], "land got seq %llu, want %llu", seqs[i], want_land[i]);

    /* what the store says: delivered, skipped (tax has nothing to send for 3) */
    lt_h_check(state_of(&h, "tax", 4) == LIENTHONG__V1__DELIVERY__STATE__DELIVERED,
               "tax delivery of seq 4 not DELIVERED");
    lt_h_check(state_of(&h, "tax", 3) == LIENTHONG__V1__DELIVERY__STATE__SKIPPED,
               "tax delivery of seq 3 not SKIPPED");
    lt_h_check(state_of(&h, "tax", 9) == 0, "the tax notice was routed back to tax");

    /* a reporting job on the result stream */
    void *s = zmq_socket(h.zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    lt_h_check(zmq_connect(s, stream_ep) == 0, "connect stream");
    char *kinds[] = { "result" };
    Lienthong__V1__Subscribe sub = LIENTHONG__V1__SUBSCRIBE__INIT;
    sub.n_kinds = 1;
    sub.kinds = kinds;
    sub.has_credit = true;
    sub.credit = 100;
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.has_version = true;
    q.version = 1;
    q.consumer = "report-766";
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE;
    q.subscribe = &sub;
    send_stream(s, &q);
    Lienthong__V1__StreamMessage *m = recv_stream(s);
    lt_h_check(m->body_case == LIENTHONG__V1__STREAM_MESSAGE__BODY_SUBSCRIBED &&
                   m->subscribed->next_seq == 1,
               "no Subscribed from 1");
    lienthong__v1__stream_message__free_unpacked(m, NULL);
    uint64_t want[] = { 5, 9 };
    for (int i = 0; i < 2; i++) {
        m = recv_stream(s);
        lt_h_check(m->body_case == LIENTHONG__V1__STREAM_MESSAGE__BODY_RECORD &&
                       m->record->seq == want[i],
                   "record %d: want seq %llu", i, (unsigned long long)want[i]);
        lienthong__v1__stream_message__free_unpacked(m, NULL);
    }
    Lienthong__V1__Ack ack = LIENTHONG__V1__ACK__INIT;
    ack.has_seq = true;
    ack.seq = 9;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_ACK;
    q.ack = &ack;
    send_stream(s, &q);
    m = recv_stream(s);
    lt_h_check(m->body_case == LIENTHONG__V1__STREAM_MESSAGE__BODY_ACKED && m->acked->seq == 9,
               "no Acked 9");
    lienthong__v1__stream_message__free_unpacked(m, NULL);

    /* a consumer that starts caught up (LATEST), credit in hand: the daemon
     * waits for new events, it does not spin */
    q.consumer = "dashboard";
    sub.has_start = true;
    sub.start = LIENTHONG__V1__SUBSCRIBE__START__LATEST;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE;
    q.subscribe = &sub;
    send_stream(s, &q);
    m = recv_stream(s);
    lt_h_check(m->body_case == LIENTHONG__V1__STREAM_MESSAGE__BODY_SUBSCRIBED, "no Subscribed");
    lienthong__v1__stream_message__free_unpacked(m, NULL);
    double cpu0 = cpu_seconds(h.pid);
    usleep(1000 * 1000);
    double idle = cpu_seconds(h.pid) - cpu0;
    lt_h_check(idle < 0.2, "daemon used %.2f s of CPU in 1 s while idle with a subscriber", idle);
    zmq_close(s);

    /* the dossier's state: settled on time (finished 23/11, due 27/11) */
    lt_store *store = lt_h_store(&h);
    lt_store_txn *t = NULL;
    lt_store_txn_begin(store, false, false, &t);
    lt_dossier_state *ds = NULL;
    lt_h_check(lt_store_get_state(t, DOSSIER, &ds) == 0, "no state");
    lt_h_check(ds->has_completed_at && ds->on_time && ds->results == 2,
               "state: completed %d on_time %d results %u", ds->has_completed_at, ds->on_time,
               ds->results);
    lienthong__v1__dossier_state__free_unpacked(ds, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&store);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&tax);
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok land-transfer flow: land 5, portal 9, tax 1 (+2 skipped), stream results 5 and 9, "
           "on time\n");
    return 0;
}
