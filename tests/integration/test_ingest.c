/* test_ingest.c - lienthongd end to end: publish, dedupe, every rejection
 * code, hostile frames, pipelining, store full, restart and clean stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "journal.h"
#include "timefmt.h"

#define OUT(x) LIENTHONG__V1__REPLY__OUTCOME__##x
#define ERR(x) LIENTHONG__V1__ERROR_CODE__##x

static void expect_rejected(lt_reply *r, int code, const char *field)
{
    lt_h_check(r->outcome == OUT(REJECTED), "expected REJECTED %s, got outcome %d seq %llu",
               lt_codec_error_name(code), r->outcome, (unsigned long long)r->seq);
    lt_h_check((int)r->code == code, "expected %s, got %s (%s: %s)", lt_codec_error_name(code),
               lt_codec_error_name(r->code), r->field ? r->field : "", r->message);
    if (field)
        lt_h_check(r->field && strcmp(r->field, field) == 0, "expected field %s, got %s (%s)",
                   field, r->field ? r->field : "(none)", r->message);
    lt_h_check(r->message && r->message[0], "rejection without a message");
}

static uint64_t expect_accepted(lt_reply *r)
{
    lt_h_check(r->outcome == OUT(ACCEPTED), "expected ACCEPTED, got outcome %d code %s: %s",
               r->outcome, lt_codec_error_name(r->code), r->message ? r->message : "");
    lt_h_check(r->seq > 0, "accepted without seq");
    return r->seq;
}

/* Publish, check the reply, then check the log and the dossier in the store. */
static void test_publish_and_dedupe(lt_h *h, void *c)
{
    lt_submission *s = lt_h_status("dept.hcm", "E-1", "H26.01-0001", 1);
    lt_reply *r = lt_h_call(c, s);
    uint64_t seq = expect_accepted(r);
    lt_h_check(r->request_id == s->request_id, "request_id not echoed");
    lt_h_check(strcmp(r->event_id, "E-1") == 0, "event_id not echoed");
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* same (sender, event_id) again: duplicate with the original seq */
    s->request_id = 777;
    r = lt_h_call(c, s);
    lt_h_check(r->outcome == OUT(DUPLICATE) && r->seq == seq && r->request_id == 777,
               "expected DUPLICATE seq %llu, got outcome %d seq %llu", (unsigned long long)seq,
               r->outcome, (unsigned long long)r->seq);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* the same event_id from another sender is another event */
    s = lt_h_status("dept.hn", "E-1", "H26.01-0002", 1);
    r = lt_h_call(c, s);
    lt_h_check(expect_accepted(r) == seq + 1, "second sender's event not next seq");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* the dossier moves on; a result follows */
    s = lt_h_status("dept.hcm", "E-2", "H26.01-0001", 2);
    lienthong__v1__reply__free_unpacked(lt_h_call(c, s), NULL);
    lt_h_sub_free(s);
    s = lt_h_result("tax.hcm", "T-1", "H26.01-0001");
    r = lt_h_call(c, s);
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* what a user would check: the store holds the timeline with senders */
    lt_store *st = lt_h_store(h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    lt_dossier_state *ds = NULL;
    lt_h_check(lt_store_get_state(t, "H26.01-0001", &ds) == 0, "dossier state missing");
    lt_h_check(ds->status == 2 && ds->events == 3, "state: status %d events %llu", ds->status,
               (unsigned long long)ds->events);
    lienthong__v1__dossier_state__free_unpacked(ds, NULL);
    lt_stored_event *se = NULL;
    lt_h_check(lt_store_get_event(t, seq, &se) == 0, "event %llu missing", (unsigned long long)seq);
    lt_h_check(strcmp(se->sender, "dept.hcm") == 0 && strcmp(se->event->event_id, "E-1") == 0,
               "stored event has sender %s event_id %s", se->sender, se->event->event_id);
    lt_h_check(strcmp(se->event->status->applicant->id_number, "079123456789") == 0,
               "applicant not stored");
    lienthong__v1__stored_event__free_unpacked(se, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&st);
    /* no applicant id number in the log */
    lt_h_check(!lt_h_log_contains(h, "079123456789"), "applicant id number in the log");
    printf("ok publish, duplicate, per-sender dedupe, result, stored timeline\n");
}

/* Every rejection code a client can cause, each with its field; nothing stored. */
static void test_rejections(lt_h *h, void *c)
{
    lt_store *st = lt_h_store(h);
    uint64_t before;
    lt_store_stats stats;
    lt_store_stats_get(st, &stats);
    before = stats.last_seq;

    /* MALFORMED: not protobuf */
    const char garbage[] = "\xff\xff\xff\xff garbage";
    const void *d1[] = { garbage };
    size_t z1[] = { sizeof(garbage) - 1 };
    lt_h_send_frames(c, 1, d1, z1);
    lt_reply *r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to garbage");
    expect_rejected(r, ERR(MALFORMED), NULL);
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* UNKNOWN_FIELD: a field number v1 does not define (field 99, varint) */
    lt_submission *s = lt_h_status("dept.hcm", "R-unknown", "H26.01-0100", 1);
    size_t len = lienthong__v1__submission__get_packed_size(s);
    uint8_t *buf = malloc(len + 3);
    lienthong__v1__submission__pack(s, buf);
    buf[len] = 0x98, buf[len + 1] = 0x06, buf[len + 2] = 0x01; /* tag (99<<3|0), value 1 */
    const void *d2[] = { buf };
    size_t z2[] = { len + 3 };
    lt_h_send_frames(c, 1, d2, z2);
    r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to unknown field");
    expect_rejected(r, ERR(UNKNOWN_FIELD), NULL);
    lt_h_check(r->request_id == s->request_id, "request_id not recovered");
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* MALFORMED: truncated */
    z2[0] = len - 5;
    lt_h_send_frames(c, 1, d2, z2);
    r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to truncated");
    expect_rejected(r, ERR(MALFORMED), NULL);
    lienthong__v1__reply__free_unpacked(r, NULL);
    free(buf);

    /* UNSUPPORTED_VERSION */
    s->version = 2;
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(UNSUPPORTED_VERSION), "version");
    lienthong__v1__reply__free_unpacked(r, NULL);
    s->version = 1;

    /* MISSING_FIELD */
    free(s->event->dossier_code);
    s->event->dossier_code = NULL;
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(MISSING_FIELD), "event.dossier_code");
    lienthong__v1__reply__free_unpacked(r, NULL);
    s->event->dossier_code = strdup("H26.01-0100");

    /* INVALID_FIELD: a time that does not parse */
    free(s->event->status->due_at);
    s->event->status->due_at = strdup("next tuesday");
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(INVALID_FIELD), "event.status.due_at");
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* INVALID_FIELD: due_at before received_at */
    free(s->event->status->due_at);
    s->event->status->due_at = strdup("2026-01-01T00:00:00Z");
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(INVALID_FIELD), "event.status.due_at");
    lienthong__v1__reply__free_unpacked(r, NULL);
    free(s->event->status->due_at);
    s->event->status->due_at = strdup("2026-02-05T17:00:00+07:00");

    /* FUTURE_TIMESTAMP: received tomorrow (clock_skew_s is 300 by default) */
    free(s->event->status->received_at);
    s->event->status->received_at = strdup(lt_h_time(86400));
    free(s->event->status->due_at);
    s->event->status->due_at = strdup(lt_h_time(10 * 86400));
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(FUTURE_TIMESTAMP), "event.status.received_at");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* TOO_LARGE: one field above validation.max_field_bytes */
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = lt_h_status("dept.hcm", big, "H26.01-0100", 1);
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(TOO_LARGE), "event.event_id");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* TOO_LARGE: the whole message above ingest.max_message_bytes (set to 65536 here) */
    s = lt_h_status("dept.hcm", "R-huge", "H26.01-0100", 1);
    free(s->event->status->note);
    s->event->status->note = malloc(100000);
    memset(s->event->status->note, 'n', 99999);
    s->event->status->note[99999] = '\0';
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(TOO_LARGE), NULL);
    lt_h_check(r->request_id == s->request_id, "request_id not recovered from an oversize message");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* BAD_TRANSITION: 1 -> 9 is not allowed */
    s = lt_h_status("dept.hcm", "R-t1", "H26.01-0101", 1);
    r = lt_h_call(c, s);
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    s = lt_h_status("dept.hcm", "R-t2", "H26.01-0101", 9);
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(BAD_TRANSITION), "event.status.status");
    lt_h_check(strstr(r->message, "REGISTERED") && strstr(r->message, "PROCESSED"),
               "message does not name both statuses: %s", r->message);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* UNKNOWN_DOSSIER: a result for a dossier never seen */
    s = lt_h_result("tax.hcm", "R-u", "H26.01-NOPE");
    r = lt_h_call(c, s);
    expect_rejected(r, ERR(UNKNOWN_DOSSIER), "event.dossier_code");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    /* a rejected event changed nothing: only R-t1 was stored */
    lt_h_settle(h, st);
    lt_store_stats_get(st, &stats);
    lt_h_check(stats.last_seq == before + 1,
               "rejections changed the store: last_seq %llu, want %llu",
               (unsigned long long)stats.last_seq, (unsigned long long)before + 1);
    /* not even its event id: R-t2, corrected and sent again, is a new event */
    s = lt_h_status("dept.hcm", "R-t2", "H26.01-0101", 2);
    r = lt_h_call(c, s);
    expect_accepted(r);
    lt_h_check(r->seq == before + 2, "corrected R-t2 got seq %llu, want %llu",
               (unsigned long long)r->seq, (unsigned long long)before + 2);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    lt_store_close(&st);
    lt_h_check(lt_h_log_contains(h, "code=BAD_TRANSITION field=event.status.status"),
               "rejection not logged with code and field");
    printf("ok every client-reachable rejection code, nothing stored (a corrected resend is "
           "accepted)\n");
}

/* Wrong frame counts, empty frames, a delimiter envelope: each answered, daemon alive. */
static void test_frames(lt_h *h, void *c)
{
    const char a[] = "aa", b[] = "bb";
    const void *d[] = { a, b, a };
    size_t z[] = { 2, 2, 2 };
    lt_h_send_frames(c, 2, d, z);
    lt_reply *r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to two frames");
    expect_rejected(r, ERR(MALFORMED), NULL);
    lt_h_check(strstr(r->message, "got 2 frames"), "message: %s", r->message);
    lienthong__v1__reply__free_unpacked(r, NULL);

    lt_h_send_frames(c, 3, d, z);
    r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to three frames");
    expect_rejected(r, ERR(MALFORMED), NULL);
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* one empty frame: decodes to an empty Submission, which lacks its version */
    size_t zero = 0;
    const void *e[] = { "" };
    lt_h_send_frames(c, 1, e, &zero);
    r = lt_h_recv(c, 5000);
    lt_h_check(r, "no reply to an empty frame");
    expect_rejected(r, ERR(MISSING_FIELD), "version");
    lienthong__v1__reply__free_unpacked(r, NULL);

    /* REQ-style envelope: empty delimiter then the submission; reply comes back the same way */
    lt_submission *s = lt_h_status("dept.hcm", "F-1", "H26.01-0200", 1);
    size_t len = lienthong__v1__submission__get_packed_size(s);
    uint8_t *buf = malloc(len);
    lienthong__v1__submission__pack(s, buf);
    const void *d2[] = { "", buf };
    size_t z2[] = { 0, len };
    lt_h_send_frames(c, 2, d2, z2);
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_pollitem_t p = { c, 0, ZMQ_POLLIN, 0 };
    lt_h_check(zmq_poll(&p, 1, 5000) == 1, "no reply to delimited submission");
    zmq_msg_recv(&m, c, 0);
    lt_h_check(zmq_msg_size(&m) == 0 && zmq_msg_more(&m), "reply lacks the delimiter");
    zmq_msg_close(&m);
    r = lt_h_recv(c, 1000);
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    free(buf);
    lt_h_sub_free(s);

    /* far above the hard limit: libzmq drops the connection; the daemon keeps serving */
    void *c2 = lt_h_client(h);
    size_t huge = 4u << 20;
    char *hbuf = calloc(1, huge);
    const void *d3[] = { hbuf };
    lt_h_send_frames(c2, 1, d3, &huge);
    free(hbuf);
    lt_h_check(lt_h_recv(c2, 1000) == NULL, "a reply to a 4 MiB message");
    zmq_close(c2);
    lt_h_check(lt_h_wait_log(h, "connection closed", 5000), "dropped connection not logged");
    lt_h_check(lt_h_alive(h), "daemon died on hostile frames");
    s = lt_h_status("dept.hcm", "F-2", "H26.01-0201", 1);
    r = lt_h_call(c, s);
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    lt_h_check(lt_h_log_contains(h, "frames rejected frames=2 code=MALFORMED"),
               "wrong frame count not logged");
    printf("ok wrong frame counts, empty frame, delimiter envelope, oversize connection\n");
}

/* Many in flight on one DEALER: every reply arrives and matches its request. */
static void test_pipelining(lt_h *h, void *c)
{
    (void)h;
    enum { N = 2000 };
    static bool seen[N + 1];
    uint64_t base = 1000000;
    for (int i = 0; i < N; i++) {
        char id[32], dossier[32];
        snprintf(id, sizeof(id), "P-%d", i);
        snprintf(dossier, sizeof(dossier), "H26.02-%05d", i % 97);
        lt_submission *s = lt_h_status("dept.pipe", id, dossier, i < 97 ? 1 : 2);
        if (i >= 194) { /* later events alternate 2 -> 4 -> 4 ... */
            s->event->status->status = 4;
        }
        s->request_id = base + (uint64_t)i;
        lt_h_send(c, s);
        lt_h_sub_free(s);
    }
    int accepted = 0;
    for (int i = 0; i < N; i++) {
        lt_reply *r = lt_h_recv(c, 10000);
        lt_h_check(r, "reply %d of %d missing", i, N);
        uint64_t k = r->request_id - base;
        lt_h_check(k < N && !seen[k], "unexpected request_id %llu",
                   (unsigned long long)r->request_id);
        seen[k] = true;
        accepted += r->outcome == OUT(ACCEPTED);
        lt_h_check(r->outcome == OUT(ACCEPTED), "P-%llu: %s %s", (unsigned long long)k,
                   lt_codec_error_name(r->code), r->message ? r->message : "");
        lienthong__v1__reply__free_unpacked(r, NULL);
    }
    printf("ok %d pipelined submissions, %d accepted, all matched\n", N, accepted);
}

static void test_restart_and_sigterm(lt_h *h)
{
    lt_store *st = lt_h_store(h);
    lt_store_stats before;
    lt_store_stats_get(st, &before);
    lt_store_close(&st);
    lt_h_check(lt_h_stop(h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_check(lt_h_log_contains(h, "lienthongd stopped accepted="), "no stop line in the log");

    /* SIGTERM left no socket file behind */
    char sock[400];
    snprintf(sock, sizeof(sock), "%s/ingest.sock", h->dir);
    lt_h_check(access(sock, F_OK) != 0, "%s still exists after a clean stop", sock);

    lt_h_start(h);
    /* one daemon per data directory: a second one refuses to start */
    const char *argv[] = { getenv("LT_DAEMON"), "-c", h->config, NULL };
    lt_h_check(lt_h_wait(lt_h_spawn(h, argv), 10000) == 2, "a second daemon did not exit 2");
    lt_h_check(lt_h_log_contains(h, "another lienthongd is running on data_dir="),
               "second daemon's refusal not logged");
    lt_h_check(lt_h_alive(h), "the first daemon died when a second one started");
    void *c = lt_h_client(h);
    lt_submission *s = lt_h_status("dept.hcm", "E-1", "H26.01-0001", 1);
    lt_reply *r = lt_h_call(c, s);
    lt_h_check(r->outcome == OUT(DUPLICATE), "E-1 after restart: outcome %d", r->outcome);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    s = lt_h_status("dept.hcm", "E-after", "H26.03-0001", 1);
    r = lt_h_call(c, s);
    lt_h_check(expect_accepted(r) == before.last_seq + 1, "seq does not continue after restart");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    zmq_close(c);
    printf("ok SIGTERM exits 0 and removes its socket, a second daemon on the same data_dir "
           "refuses, restart keeps the log and dedupe, seq continues\n");
}

/* A tiny map fills: STORE_FULL for new events, duplicates and reads still answered. */
static void test_store_full(void)
{
    lt_h h;
    lt_h_init(&h, "full", "store:\n  map_size_mb: 1\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    int accepted = 0, full = 0;
    char note[3000];
    memset(note, 'z', sizeof(note) - 1);
    note[sizeof(note) - 1] = '\0';
    for (int i = 0; i < 2000 && full == 0; i++) {
        char id[32], dossier[32];
        snprintf(id, sizeof(id), "S-%d", i);
        snprintf(dossier, sizeof(dossier), "H26.04-%05d", i);
        lt_submission *s = lt_h_status("dept.full", id, dossier, 1);
        s->event->status->note = strdup(note);
        lt_reply *r = lt_h_call(c, s);
        if (r->outcome == OUT(ACCEPTED))
            accepted++;
        else {
            expect_rejected(r, ERR(STORE_FULL), NULL);
            full++;
        }
        lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_sub_free(s);
    }
    lt_h_check(full == 1 && accepted > 10, "store never filled (accepted %d)", accepted);
    lt_submission *s = lt_h_status("dept.full", "S-0", "H26.04-00000", 1);
    lt_reply *r = lt_h_call(c, s);
    lt_h_check(r->outcome == OUT(DUPLICATE) && r->seq == 1, "duplicate not answered when full");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    lt_store *st = lt_h_store(&h);
    lt_store_stats stats;
    lt_store_stats_get(st, &stats);
    lt_h_check(stats.last_seq == (uint64_t)accepted, "stored %llu, accepted %d",
               (unsigned long long)stats.last_seq, accepted);
    lt_store_close(&st);
    lt_h_check(lt_h_alive(&h), "daemon died when the store filled");
    /* warned before it filled, once per level */
    lt_h_check(lt_h_log_contains(&h, "store 80% full") && lt_h_log_contains(&h, "store 90% full") &&
                   lt_h_log_contains(&h, "store 95% full") &&
                   lt_h_log_contains(&h, "raise store.map_size_mb and restart"),
               "no warning as the store filled");
    zmq_close(c);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_free(&h);
    printf("ok store full after %d events: warned at 80, 90, 95%%; STORE_FULL, duplicates and "
           "reads still served\n",
           accepted);
}

/* Startup refusals: durability-weakening flags, bad config, --check-config. */
static void test_refusals(void)
{
    lt_h h;
    lt_h_init(&h, "refuse", "store:\n  flags: [nosync]\n");
    lt_h_write_config(&h);
    const char *argv[] = { getenv("LT_DAEMON"), "-c", h.config, NULL };
    lt_h_check(lt_h_wait(lt_h_spawn(&h, argv), 10000) == 1, "nosync did not exit 1");
    lt_h_check(lt_h_log_contains(&h, "nosync"), "refusal does not name the flag");
    const char *check[] = { getenv("LT_DAEMON"), "--check-config", "-c", h.config, NULL };
    lt_h_check(lt_h_wait(lt_h_spawn(&h, check), 10000) == 1, "--check-config accepted nosync");

    snprintf(h.extra_yaml, sizeof(h.extra_yaml), "batch:\n  max_events: 16\n");
    lt_h_write_config(&h);
    lt_h_check(lt_h_wait(lt_h_spawn(&h, check), 10000) == 0, "--check-config refused a good file");
    char shipped[600];
    snprintf(shipped, sizeof(shipped), "%s/config/lienthong.yaml", getenv("LT_SOURCE_DIR"));
    const char *ship[] = { getenv("LT_DAEMON"), "--check-config", "-c", shipped, NULL };
    lt_h_check(lt_h_wait(lt_h_spawn(&h, ship), 10000) == 0, "shipped config does not check");

    /* the endpoint cannot be bound: exit 2 with the endpoint named */
    snprintf(h.endpoint, sizeof(h.endpoint), "ipc:///nonexistent-dir/x.sock");
    lt_h_write_config(&h);
    lt_h_check(lt_h_wait(lt_h_spawn(&h, argv), 10000) == 2, "unbindable endpoint did not exit 2");
    lt_h_check(lt_h_log_contains(&h, "ipc:///nonexistent-dir/x.sock"), "endpoint not named");
    lt_h_free(&h);
    printf("ok refuses nosync, --check-config exit codes, unbindable endpoint exits 2\n");
}

static void test_tcp(void)
{
    lt_h h;
    lt_h_init(&h, "tcp", NULL);
    lt_h_use_tcp(&h);
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    lt_submission *s = lt_h_status("dept.tcp", "T-1", "H26.05-0001", 1);
    lt_reply *r = lt_h_call(c, s);
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    zmq_close(c);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_free(&h);
    printf("ok tcp endpoint %s\n", h.endpoint);
}

/* A journaled event is committed even when the loop never goes quiet:
 * within LT_JOURNAL_ROUND_MAX_MS (1 s) when messages that are rejected
 * before the store keep coming (they need no transaction, but must not hold
 * one open) and the round holds that one event; within
 * store.journal_commit_ms when new events keep coming. */
static void test_commit_due_under_rejections(void)
{
    lt_h h;
    lt_h_init(&h, "ingest_due", "store:\n  journal_commit_ms: 20\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    lt_submission *s = lt_h_status("dept.hcm", "due-1", "H26.01-0900", 1);
    lt_reply *r = lt_h_call(c, s);
    expect_accepted(r);
    uint64_t seq = r->seq;
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);

    lt_store_opts o = { .dir = h.data_dir, .read_only = true };
    lt_store *st = NULL;
    lt_diag d;
    lt_diag_clear(&d);
    lt_h_check(lt_store_open(&o, &st, NULL, &d) == 0, "open store: %s", d.message);
    const void *garbage[] = { "\xff\xff" };
    const size_t gsize[] = { 2 };
    lt_store_stats stats = { 0 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long ms = 0;
    for (int i = 0; ms < 3000; i++) { /* a garbage frame every ~0.1 ms: never 1 ms quiet */
        lt_h_send_frames(c, 1, garbage, gsize);
        usleep(100);
        if (i % 8)
            continue;
        while ((r = lt_h_recv(c, 0)) != NULL) /* MALFORMED */
            lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_check(lt_store_stats_get(st, &stats) == 0, "stats");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (stats.last_seq >= seq)
            break;
    }
    lt_h_check(stats.last_seq >= seq && ms < LT_JOURNAL_ROUND_MAX_MS + 400,
               "the journaled event (seq %llu) was %s after %ld ms of rejected messages "
               "(a round commits within %d ms)",
               (unsigned long long)seq, stats.last_seq >= seq ? "committed only" : "not committed",
               ms, LT_JOURNAL_ROUND_MAX_MS);
    long first_ms = ms;

    /* and under a continuous load of new events (4 clients, 64 in flight
     * each: the loop is never quiet for 1 ms): the store's last seq keeps
     * moving, a commit at least every ~20 ms */
    enum { NC = 4, WIN = 64 };
    void *cs[NC];
    int inflight[NC] = { 0 }, sent = 0;
    for (int k = 0; k < NC; k++)
        cs[k] = lt_h_client(&h);
    uint64_t last = stats.last_seq;
    long last_move = 0, longest = 0;
    char id[32], dossier[32];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (ms = 0; ms < 600;) {
        for (int k = 0; k < NC; k++) {
            while (inflight[k] < WIN) {
                snprintf(id, sizeof(id), "due-load-%d", sent);
                snprintf(dossier, sizeof(dossier), "H26.01-L%d", sent++);
                s = lt_h_status("dept.hcm", id, dossier, 1);
                lt_h_send(cs[k], s);
                lt_h_sub_free(s);
                inflight[k]++;
            }
            while ((r = lt_h_recv(cs[k], 0)) != NULL) {
                expect_accepted(r);
                lienthong__v1__reply__free_unpacked(r, NULL);
                inflight[k]--;
            }
        }
        lt_h_check(lt_store_stats_get(st, &stats) == 0, "stats");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (stats.last_seq != last) {
            last = stats.last_seq;
            last_move = ms;
        }
        if (ms - last_move > longest)
            longest = ms - last_move;
    }
    lt_store_close(&st);
    lt_h_check(longest < 250,
               "under load the store's last seq stood still for %ld ms (journal_commit_ms: 20; "
               "%d events sent)",
               longest, sent);
    for (int k = 0; k < NC; k++) {
        while (inflight[k] > 0 && (r = lt_h_recv(cs[k], 5000)) != NULL) {
            lienthong__v1__reply__free_unpacked(r, NULL);
            inflight[k]--;
        }
        zmq_close(cs[k]);
    }
    zmq_close(c);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_free(&h);
    printf("ok a journaled event is committed after %ld ms while rejected messages keep the "
           "loop busy; under a continuous load of %d events the store moved at least every "
           "%ld ms\n",
           first_ms, sent, longest);
}

/* batch.max_wait_us: the loop lingers for more events before it stores a
 * pass, so events sent within the wait share one pass (and one flush), and
 * none is answered before the last of them was sent. SIGTERM ends a linger
 * at once: the events in hand are stored and answered, the daemon exits 0. */
static void test_linger(void)
{
    lt_h h;
    lt_h_init(&h, "ingest_linger", "batch:\n  max_wait_us: 600000\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    enum { N = 3, GAP_MS = 40 };
    int64_t t0 = lt_time_mono_ms();
    long sent_last = 0;
    for (int i = 0; i < N; i++) {
        char id[32], dossier[32];
        snprintf(id, sizeof(id), "linger-%d", i);
        snprintf(dossier, sizeof(dossier), "H26.01-LG%d", i);
        lt_submission *s = lt_h_status("dept.hcm", id, dossier, 1);
        lt_h_send(c, s);
        lt_h_sub_free(s);
        sent_last = (long)(lt_time_mono_ms() - t0);
        lt_reply *r = lt_h_recv(c, GAP_MS); /* none may come while the daemon lingers */
        lt_h_check(r == NULL || i == N - 1,
                   "event %d was answered %ld ms after the first was sent, before event %d "
                   "(batch.max_wait_us: 600000 should have gathered them in one pass)",
                   i, (long)(lt_time_mono_ms() - t0), i + 1);
        if (r) {
            expect_accepted(r);
            lienthong__v1__reply__free_unpacked(r, NULL);
            sent_last = -1; /* already one answered */
        }
    }
    int answered = sent_last < 0 ? 1 : 0;
    while (answered < N) {
        lt_reply *r = lt_h_recv(c, 5000);
        lt_h_check(r != NULL, "only %d of %d lingered events answered", answered, N);
        expect_accepted(r);
        lienthong__v1__reply__free_unpacked(r, NULL);
        answered++;
    }

    /* a linger cut short by SIGTERM: the event in hand is answered at once */
    lt_submission *s = lt_h_status("dept.hcm", "linger-term", "H26.01-LGT", 1);
    lt_h_send(c, s);
    lt_h_sub_free(s);
    usleep(50000); /* the daemon is lingering now, for up to 600 ms */
    t0 = lt_time_mono_ms();
    kill(h.pid, SIGTERM);
    lt_reply *r = lt_h_recv(c, 5000);
    lt_h_check(r != NULL, "the event in hand at SIGTERM was not answered");
    expect_accepted(r);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM during a linger did not exit 0");
    long stop_ms = (long)(lt_time_mono_ms() - t0);
    zmq_close(c);
    lt_h_free(&h);
    printf("ok events within batch.max_wait_us shared a pass; SIGTERM during a linger: "
           "answered and stopped in %ld ms\n",
           stop_ms);
}

int main(void)
{
    lt_h h;
    lt_h_init(&h, "ingest", "ingest:\n  max_message_bytes: 65536\n");
    /* ingest: is already a key: rewrite the extra as part of it */
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "  max_message_bytes: 65536\nlog:\n  level: debug\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    test_publish_and_dedupe(&h, c);
    test_rejections(&h, c);
    test_frames(&h, c);
    test_pipelining(&h, c);
    zmq_close(c);
    test_restart_and_sigterm(&h);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_free(&h);
    test_store_full();
    test_commit_due_under_rejections();
    test_linger();
    test_refusals();
    test_tcp();
    return 0;
}
