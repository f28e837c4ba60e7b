/* test_stream.c - result streams against a real lienthongd (issue 3,
 * "Result streams"): credit, filters and starting points; resuming after a
 * disconnect, a SIGTERM restart and a kill -9 of the daemon; a subscriber
 * process killed with SIGKILL and restarted (gapless, repeats only in the
 * unacknowledged tail); a stalled subscriber while 10,000 ~1 KB events flow
 * (ingest unaffected, daemon RSS flat, then everything delivered in order);
 * and the live PUB socket.
 *
 * The stream client lives here: a DEALER speaking stream.proto. */
#include <errno.h>
#include <fcntl.h>
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

typedef Lienthong__V1__StreamMessage smsg;
#define B_SUBSCRIBED LIENTHONG__V1__STREAM_MESSAGE__BODY_SUBSCRIBED
#define B_RECORD     LIENTHONG__V1__STREAM_MESSAGE__BODY_RECORD
#define B_ACKED      LIENTHONG__V1__STREAM_MESSAGE__BODY_ACKED
#define B_ERROR      LIENTHONG__V1__STREAM_MESSAGE__BODY_ERROR
#define S_UNSPEC     LIENTHONG__V1__SUBSCRIBE__START__START_UNSPECIFIED
#define S_EARLIEST   LIENTHONG__V1__SUBSCRIBE__START__EARLIEST
#define S_LATEST     LIENTHONG__V1__SUBSCRIBE__START__LATEST
#define S_SEQ        LIENTHONG__V1__SUBSCRIBE__START__SEQ

static pid_t g_daemon_pid, g_child_pid;

/* lt_h_fail aborts: take the daemon and a subscriber child down with us. */
static void on_abort(int sig)
{
    (void)sig;
    if (g_child_pid > 0)
        kill(g_child_pid, SIGKILL);
    if (g_daemon_pid > 0)
        kill(g_daemon_pid, SIGKILL);
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static lt_h *g_h; /* the daemon publish() waits on */

static void start(lt_h *h)
{
    g_h = h;
    lt_h_start(h);
    g_daemon_pid = h->pid;
}

/* ---- stream client ---------------------------------------------------- */

static char stream_ep[320], pub_ep[320];

static void *sc_open(void *zctx)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    lt_h_check(s, "zmq_socket");
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    lt_h_check(zmq_connect(s, stream_ep) == 0, "connect %s", stream_ep);
    return s;
}

static void sc_send(void *s, Lienthong__V1__StreamRequest *q)
{
    q->has_version = true;
    q->version = 1;
    size_t len = lienthong__v1__stream_request__get_packed_size(q);
    uint8_t buf[4096];
    lt_h_check(len <= sizeof(buf), "request too big");
    lienthong__v1__stream_request__pack(q, buf);
    lt_h_check(zmq_send(s, buf, len, 0) == (int)len, "stream send: %s", zmq_strerror(errno));
}

typedef struct subopt {
    int start;
    uint64_t from_seq;
    uint32_t credit;
    char *kinds[4];
    size_t n_kinds;
    char *agencies[4];
    size_t n_agencies;
    char *prefix;
    bool reset;
} subopt;

static void sc_subscribe(void *s, const char *consumer, const subopt *o)
{
    Lienthong__V1__Subscribe sub = LIENTHONG__V1__SUBSCRIBE__INIT;
    sub.n_kinds = o->n_kinds;
    sub.kinds = (char **)o->kinds;
    sub.n_agencies = o->n_agencies;
    sub.agencies = (char **)o->agencies;
    sub.procedure_prefix = o->prefix;
    if (o->start) {
        sub.has_start = true;
        sub.start = o->start;
    }
    if (o->from_seq) {
        sub.has_from_seq = true;
        sub.from_seq = o->from_seq;
    }
    sub.has_credit = true;
    sub.credit = o->credit;
    if (o->reset) {
        sub.has_reset = true;
        sub.reset = true;
    }
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.consumer = (char *)consumer;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE;
    q.subscribe = &sub;
    sc_send(s, &q);
}

static void sc_credit(void *s, const char *consumer, uint32_t n)
{
    Lienthong__V1__Credit c = LIENTHONG__V1__CREDIT__INIT;
    c.has_n = true;
    c.n = n;
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.consumer = (char *)consumer;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_CREDIT;
    q.credit = &c;
    sc_send(s, &q);
}

static void sc_ack(void *s, const char *consumer, uint64_t seq)
{
    Lienthong__V1__Ack a = LIENTHONG__V1__ACK__INIT;
    a.has_seq = true;
    a.seq = seq;
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.consumer = (char *)consumer;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_ACK;
    q.ack = &a;
    sc_send(s, &q);
}

/* One message within timeout_ms, or NULL. */
static smsg *sc_recv(void *s, int timeout_ms)
{
    zmq_pollitem_t p = { s, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&p, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    lt_h_check(zmq_msg_recv(&m, s, 0) >= 0, "stream recv: %s", zmq_strerror(errno));
    lt_h_check(!zmq_msg_more(&m), "stream message with more than one frame");
    smsg *r = lienthong__v1__stream_message__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    lt_h_check(r, "stream message does not decode");
    return r;
}

static smsg *sc_must(void *s, int timeout_ms, const char *what)
{
    smsg *m = sc_recv(s, timeout_ms);
    lt_h_check(m, "no stream message within %d ms (waiting for %s)", timeout_ms, what);
    return m;
}

static const char *body_name(const smsg *m)
{
    switch (m->body_case) {
    case B_SUBSCRIBED:
        return "Subscribed";
    case B_RECORD:
        return "Record";
    case B_ACKED:
        return "Acked";
    case B_ERROR:
        return "StreamError";
    default:
        return "empty";
    }
}

static void sc_subscribed(void *s, uint64_t want_cursor, uint64_t want_next, uint64_t want_last)
{
    smsg *m = sc_must(s, 5000, "Subscribed");
    lt_h_check(m->body_case == B_SUBSCRIBED, "got %s (%s), want Subscribed", body_name(m),
               m->body_case == B_ERROR ? m->error->message : "");
    lt_h_check(m->subscribed->cursor == want_cursor && m->subscribed->next_seq == want_next &&
                   m->subscribed->last_seq == want_last,
               "Subscribed cursor=%llu next=%llu last=%llu, want %llu %llu %llu",
               (unsigned long long)m->subscribed->cursor,
               (unsigned long long)m->subscribed->next_seq,
               (unsigned long long)m->subscribed->last_seq, (unsigned long long)want_cursor,
               (unsigned long long)want_next, (unsigned long long)want_last);
    lienthong__v1__stream_message__free_unpacked(m, NULL);
}

/* Exactly these records, in this order. */
static void sc_records(void *s, const uint64_t *seqs, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        smsg *m = sc_must(s, 5000, what);
        lt_h_check(m->body_case == B_RECORD && m->record->seq == seqs[i],
                   "%s: message %zu is %s seq %llu, want record %llu", what, i, body_name(m),
                   m->body_case == B_RECORD ? (unsigned long long)m->record->seq : 0ULL,
                   (unsigned long long)seqs[i]);
        lt_h_check(m->record->event && m->record->event->event, "%s: record without event", what);
        lienthong__v1__stream_message__free_unpacked(m, NULL);
    }
}

static void sc_range(void *s, uint64_t from, uint64_t to, const char *what)
{
    for (uint64_t q = from; q <= to; q++)
        sc_records(s, &q, 1, what);
}

static void sc_quiet(void *s, int ms, const char *what)
{
    smsg *m = sc_recv(s, ms);
    lt_h_check(!m, "%s: unexpected %s (seq %llu)", what, m ? body_name(m) : "",
               m && m->body_case == B_RECORD ? (unsigned long long)m->record->seq : 0ULL);
}

static void sc_error(void *s, const char *needle, const char *what)
{
    smsg *m = sc_must(s, 5000, what);
    lt_h_check(m->body_case == B_ERROR && m->error->message && strstr(m->error->message, needle),
               "%s: got %s \"%s\", want StreamError containing \"%s\"", what, body_name(m),
               m->body_case == B_ERROR && m->error->message ? m->error->message : "", needle);
    lienthong__v1__stream_message__free_unpacked(m, NULL);
}

static void sc_acked(void *s, uint64_t seq)
{
    smsg *m = sc_must(s, 5000, "Acked");
    lt_h_check(m->body_case == B_ACKED && m->acked->seq == seq, "got %s %llu, want Acked %llu",
               body_name(m), m->body_case == B_ACKED ? (unsigned long long)m->acked->seq : 0ULL,
               (unsigned long long)seq);
    lienthong__v1__stream_message__free_unpacked(m, NULL);
}

/* ---- publishing ------------------------------------------------------- */

/* Event i of a test: a status or a result, varied procedure and agency so
 * the filters have something to tell apart. Mirrored by want(). */
static int g_event_no;
static int note_len; /* > 0: pad status events with a note of this many bytes */

static bool is_result_no(int i)
{
    return i % 4 == 0;
}
static const char *proc_of(int i)
{
    return (i - 1) % 8 < 4 ? "1.004227" : "2.000123";
}
static const char *agency_of(int i)
{
    return i % 3 == 0 ? "000.00.15.H26" : "000.00.12.H26";
}

static lt_submission *make_event(int i)
{
    char id[48], dossier[48];
    snprintf(id, sizeof(id), "S-%d", ++g_event_no);
    /* results name the dossier of the status published just before */
    snprintf(dossier, sizeof(dossier), "H26.S-%07d", is_result_no(i) ? g_event_no - 1 : g_event_no);
    lt_submission *s = is_result_no(i) ? lt_h_result("stream.test", id, dossier)
                                       : lt_h_status("stream.test", id, dossier, 1);
    free(s->event->procedure_code);
    s->event->procedure_code = strdup(proc_of(i));
    free(s->event->agency_code);
    s->event->agency_code = strdup(agency_of(i));
    if (note_len > 0 && !is_result_no(i)) {
        char *note = malloc((size_t)note_len + 1);
        for (int k = 0; k < note_len; k++)
            note[k] = (char)('a' + (i + k) % 26);
        note[note_len] = 0;
        s->event->status->note = note;
    }
    return s;
}

/* Publish events first..first+n-1 (numbering of make_event), pipelined with
 * a window of 256; every one must be ACCEPTED with the next seq. Returns the
 * last seq. */
static uint64_t publish(void *cli, int first, int n, uint64_t want_first_seq)
{
    int sent = 0, got = 0;
    uint64_t base = 1000000000ULL + (uint64_t)g_event_no * 10;
    while (got < n) {
        while (sent < n && sent - got < 256) {
            lt_submission *s = make_event(first + sent);
            s->request_id = base + (uint64_t)sent;
            lt_h_send(cli, s);
            lt_h_sub_free(s);
            sent++;
        }
        lt_reply *r = lt_h_recv(cli, 10000);
        lt_h_check(r, "no reply within 10 s (%d of %d answered)", got, n);
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED,
                   "event %s not accepted: outcome %d %s", r->event_id ? r->event_id : "?",
                   (int)r->outcome, r->message ? r->message : "");
        uint64_t k = r->request_id - base;
        lt_h_check(r->seq == want_first_seq + k, "event %llu stored at seq %llu, want %llu",
                   (unsigned long long)k, (unsigned long long)r->seq,
                   (unsigned long long)(want_first_seq + k));
        lienthong__v1__reply__free_unpacked(r, NULL);
        got++;
    }
    /* acknowledged; streams serve them once they are committed (journal.h) */
    lt_store *st = lt_h_store(g_h);
    lt_store_close(&st);
    return want_first_seq + (uint64_t)n - 1;
}

/* ---- scenario 1: credit, filters, starting points, errors, takeover --- */

/* seqs of events 1..n (event i at seq i) passing a filter */
static size_t want(uint64_t *out, int n, int kinds /*1 status 2 result 3 all*/, const char *prefix,
                   const char *agency)
{
    size_t k = 0;
    for (int i = 1; i <= n; i++) {
        int kind = is_result_no(i) ? 2 : 1;
        if (!(kinds & kind))
            continue;
        if (prefix && strncmp(proc_of(i), prefix, strlen(prefix)) != 0)
            continue;
        if (agency && strcmp(agency_of(i), agency) != 0 &&
            !(is_result_no(i) && strcmp(agency, "TAX.HCM") == 0))
            continue;
        out[k++] = (uint64_t)i;
    }
    return k;
}

static void basics(lt_h *h, void *cli)
{
    int64_t t0 = now_ms();
    uint64_t last = publish(cli, 1, 20, 1);
    uint64_t w[64];

    /* credit: exactly N, then nothing until more credit */
    void *a = sc_open(h->zctx);
    sc_subscribe(a, "basic-a", &(subopt){ .start = S_EARLIEST, .credit = 5 });
    sc_subscribed(a, 0, 1, last);
    sc_range(a, 1, 5, "credit 5");
    sc_quiet(a, 300, "after credit 5");
    sc_credit(a, "basic-a", 7);
    sc_range(a, 6, 12, "credit 7");
    sc_quiet(a, 300, "after credit 7");
    sc_credit(a, "basic-a", 100);
    sc_range(a, 13, 20, "credit 100");
    sc_quiet(a, 200, "at the end of the log");

    /* filters */
    void *b = sc_open(h->zctx);
    sc_subscribe(
        b, "basic-kinds",
        &(subopt){ .start = S_EARLIEST, .credit = 100, .kinds = { "result" }, .n_kinds = 1 });
    sc_subscribed(b, 0, 1, last);
    size_t n = want(w, 20, 2, NULL, NULL);
    sc_records(b, w, n, "kinds [result]");
    sc_quiet(b, 200, "kinds [result]");
    zmq_close(b);

    b = sc_open(h->zctx);
    sc_subscribe(b, "basic-prefix",
                 &(subopt){ .start = S_EARLIEST, .credit = 100, .prefix = "2." });
    sc_subscribed(b, 0, 1, last);
    n = want(w, 20, 3, "2.", NULL);
    sc_records(b, w, n, "procedure_prefix 2.");
    sc_quiet(b, 200, "procedure_prefix 2.");
    zmq_close(b);

    b = sc_open(h->zctx);
    sc_subscribe(b, "basic-agency",
                 &(subopt){ .start = S_EARLIEST,
                            .credit = 100,
                            .agencies = { "000.00.15.H26" },
                            .n_agencies = 1,
                            .kinds = { "status" },
                            .n_kinds = 1 });
    sc_subscribed(b, 0, 1, last);
    n = want(w, 20, 1, NULL, "000.00.15.H26");
    sc_records(b, w, n, "agencies [000.00.15.H26] kinds [status]");
    sc_quiet(b, 200, "agencies [000.00.15.H26]");
    zmq_close(b);

    b = sc_open(h->zctx);
    sc_subscribe(
        b, "basic-from",
        &(subopt){
            .start = S_EARLIEST, .credit = 100, .agencies = { "TAX.HCM" }, .n_agencies = 1 });
    sc_subscribed(b, 0, 1, last);
    n = want(w, 20, 3, NULL, "TAX.HCM");
    sc_records(b, w, n, "agencies [TAX.HCM] (result.from_agency)");
    sc_quiet(b, 200, "agencies [TAX.HCM]");
    zmq_close(b);

    /* LATEST: only what is stored after the subscription */
    void *l = sc_open(h->zctx);
    sc_subscribe(l, "basic-latest", &(subopt){ .start = S_LATEST, .credit = 100 });
    sc_subscribed(l, 0, last + 1, last);
    sc_quiet(l, 200, "LATEST before new events");
    last = publish(cli, 21, 3, last + 1);
    sc_range(l, 21, 23, "LATEST");
    sc_range(a, 21, 23, "basic-a live"); /* a still has credit: it follows the log */

    /* SEQ */
    b = sc_open(h->zctx);
    sc_subscribe(b, "basic-seq", &(subopt){ .start = S_SEQ, .from_seq = 15, .credit = 100 });
    sc_subscribed(b, 0, 15, last);
    sc_range(b, 15, last, "SEQ 15");
    sc_quiet(b, 200, "SEQ 15");
    zmq_close(b);

    /* errors: an ack beyond what was sent, an unknown kind */
    void *g = sc_open(h->zctx);
    sc_subscribe(g, "basic-g", &(subopt){ .start = S_EARLIEST, .credit = 2 });
    sc_subscribed(g, 0, 1, last);
    sc_range(g, 1, 2, "credit 2");
    sc_ack(g, "basic-g", 5);
    sc_error(g, "beyond", "ack 5 after 2 sent");
    sc_ack(g, "basic-g", 2);
    sc_acked(g, 2);
    b = sc_open(h->zctx);
    sc_subscribe(b, "basic-kind", &(subopt){ .credit = 1, .kinds = { "nonsense" }, .n_kinds = 1 });
    sc_error(b, "unknown kind", "kinds [nonsense]");
    sc_credit(b, "basic-kind", 1); /* not subscribed */
    sc_error(b, "subscribe first", "credit without a subscription");
    { /* a later version of the protocol: named in the error, nothing else done */
        Lienthong__V1__Credit cr = LIENTHONG__V1__CREDIT__INIT;
        Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
        uint8_t buf[64];
        q.has_version = true;
        q.version = 2;
        q.consumer = "basic-kind";
        q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_CREDIT;
        q.credit = &cr;
        size_t len = lienthong__v1__stream_request__pack(&q, buf);
        lt_h_check(zmq_send(b, buf, len, 0) == (int)len, "send");
        sc_error(b, "unsupported version 2", "a version 2 request");
    }
    zmq_close(b);

    /* one connection per consumer: the second takes over, resuming at 3 */
    void *g2 = sc_open(h->zctx);
    sc_subscribe(g2, "basic-g", &(subopt){ .credit = 3 });
    sc_subscribed(g2, 2, 3, last);
    sc_error(g, "another connection", "the first connection of basic-g");
    sc_range(g2, 3, 5, "basic-g taken over");
    sc_credit(g, "basic-g", 10); /* the old connection is no longer subscribed */
    sc_error(g, "subscribe first", "credit on the replaced connection");
    sc_quiet(g2, 200, "basic-g after its credit");
    zmq_close(g);
    zmq_close(g2);
    zmq_close(a);
    zmq_close(l);
    printf("ok basics: credit, 4 filters, LATEST, SEQ, errors, takeover (%lld ms)\n",
           (long long)(now_ms() - t0));
}

/* ---- scenario 2: resume after a disconnect, a restart and kill -9 ----- */

/* Read and ack up to k (waiting for Acked k), then disconnect. Records
 * from the subscription's start are expected in order. */
static void read_ack_close(lt_h *h, const char *consumer, uint64_t cursor, uint64_t last,
                           uint64_t k)
{
    void *s = sc_open(h->zctx);
    sc_subscribe(s, consumer, &(subopt){ .credit = 10000 });
    sc_subscribed(s, cursor, cursor + 1, last);
    sc_range(s, cursor + 1, last, consumer);
    sc_ack(s, consumer, k);
    sc_acked(s, k);
    zmq_close(s);
}

static void resume(lt_h *h, void **cli)
{
    int64_t t0 = now_ms();
    uint64_t last = 23; /* from basics */
    /* disconnect */
    read_ack_close(h, "resumer", 0, last, 10);
    last = publish(*cli, 24, 5, last + 1);
    /* restart (SIGTERM) */
    read_ack_close(h, "resumer", 10, last, 20);
    zmq_close(*cli);
    lt_h_check(lt_h_stop(h, SIGTERM) == 0, "SIGTERM did not exit 0");
    start(h);
    *cli = lt_h_client(h);
    last = publish(*cli, 29, 5, last + 1);
    /* kill -9 right after Acked 30: the cursor must already be durable */
    read_ack_close(h, "resumer", 20, last, 30);
    zmq_close(*cli);
    lt_h_check(lt_h_stop(h, SIGKILL) == 128 + SIGKILL, "kill -9");
    start(h);
    *cli = lt_h_client(h);
    last = publish(*cli, 34, 5, last + 1);
    void *s = sc_open(h->zctx);
    sc_subscribe(s, "resumer", &(subopt){ .credit = 10000 });
    sc_subscribed(s, 30, 31, last);
    sc_range(s, 31, last, "resumer after kill -9");
    sc_quiet(s, 200, "resumer after kill -9");
    zmq_close(s);
    /* reset (proto/README.md): start is used, but the stored cursor does
     * not move back; an ack at or below it changes nothing and is answered
     * with the cursor as it stands; a resume without reset continues after it */
    s = sc_open(h->zctx);
    sc_subscribe(s, "resumer",
                 &(subopt){ .start = S_SEQ, .from_seq = 5, .reset = true, .credit = 6 });
    sc_subscribed(s, 30, 5, last);
    sc_range(s, 5, 10, "resumer reset to 5");
    sc_ack(s, "resumer", 10);
    sc_acked(s, 30);
    sc_quiet(s, 300, "ack 10 at or below the cursor 30");
    zmq_close(s);
    s = sc_open(h->zctx);
    sc_subscribe(s, "resumer", &(subopt){ .credit = 1 });
    sc_subscribed(s, 30, 31, last);
    sc_range(s, 31, 31, "resumer after the reset");
    zmq_close(s);
    /* the basics' consumer basic-g kept its cursor (2) through both */
    s = sc_open(h->zctx);
    sc_subscribe(s, "basic-g", &(subopt){ .credit = 1 });
    sc_subscribed(s, 2, 3, last);
    sc_range(s, 3, 3, "basic-g after restarts");
    zmq_close(s);
    printf("ok resume: disconnect at 10, SIGTERM at 20, kill -9 at 30; no gap, no repeat "
           "(%lld ms)\n",
           (long long)(now_ms() - t0));
}

/* ---- scenario 3: the subscriber process killed and restarted --------- */

/* A subscriber process: records "R seq" before acknowledging every record,
 * "A seq" on Acked, "S" when it starts. Exits 0 once Acked stop_at (0:
 * never). Never touches the parent's zmq context. */
static pid_t child_start(const char *file, uint64_t stop_at, int delay_us)
{
    pid_t pid = fork();
    lt_h_check(pid >= 0, "fork");
    if (pid > 0)
        return pid;
    g_daemon_pid = g_child_pid = 0; /* a failing child must not kill the daemon */
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (fd < 0 || !s || zmq_connect(s, stream_ep) < 0)
        _exit(2);
    if (write(fd, "S\n", 2) != 2)
        _exit(2);
    sc_subscribe(s, "killable", &(subopt){ .credit = 200 });
    uint64_t expect = 0;
    for (;;) {
        smsg *m = sc_recv(s, 10000);
        if (!m)
            _exit(3);
        char line[64];
        int n = 0;
        if (m->body_case == B_SUBSCRIBED) {
            expect = m->subscribed->next_seq;
        } else if (m->body_case == B_RECORD) {
            uint64_t q = m->record->seq;
            if (q != expect)
                _exit(4);
            expect++;
            n = snprintf(line, sizeof(line), "R %llu\n", (unsigned long long)q);
            if (write(fd, line, (size_t)n) != n)
                _exit(2);
            if (delay_us)
                usleep((useconds_t)delay_us);
            sc_ack(s, "killable", q);
            sc_credit(s, "killable", 1);
        } else if (m->body_case == B_ACKED) {
            n = snprintf(line, sizeof(line), "A %llu\n", (unsigned long long)m->acked->seq);
            if (write(fd, line, (size_t)n) != n)
                _exit(2);
            if (stop_at && m->acked->seq >= stop_at)
                _exit(0);
        } else {
            _exit(5);
        }
        lienthong__v1__stream_message__free_unpacked(m, NULL);
    }
}

static int count_lines(const char *file, char c)
{
    FILE *f = fopen(file, "r");
    int n = 0;
    char line[64];
    while (f && fgets(line, sizeof(line), f))
        n += line[0] == c;
    if (f)
        fclose(f);
    return n;
}

static void killed_subscriber(lt_h *h, void *cli)
{
    int64_t t0 = now_ms();
    char file[400];
    snprintf(file, sizeof(file), "%s/subscriber.txt", h->dir);
    uint64_t last = 38; /* from resume */
    enum { ROUNDS = 3, PER_ROUND = 1500 };
    last = publish(cli, 39, PER_ROUND, last + 1);
    for (int r = 0; r < ROUNDS; r++) {
        int before = count_lines(file, 'R');
        g_child_pid = child_start(file, 0, 100);
        for (int i = 0; i < 1000 && count_lines(file, 'R') < before + 300; i++)
            usleep(5000);
        lt_h_check(count_lines(file, 'R') >= before + 300, "the subscriber made no progress");
        kill(g_child_pid, SIGKILL);
        lt_h_check(lt_h_wait(g_child_pid, 5000) == 128 + SIGKILL, "subscriber not killed");
        g_child_pid = 0;
        last = publish(cli, (int)last + 1, PER_ROUND, last + 1);
    }
    g_child_pid = child_start(file, last, 0);
    int st = lt_h_wait(g_child_pid, 30000);
    g_child_pid = 0;
    lt_h_check(st == 0, "the last subscriber exited %d", st);

    /* runs: each strictly consecutive from its first record; a run starts
     * after the previous run's last Acked and no later than one past its
     * last record; together they cover 1..last */
    FILE *f = fopen(file, "r");
    lt_h_check(f, "open %s", file);
    char line[64];
    int run = -1;
    uint64_t prev_acked = 0, prev_rec = 0, cur_acked = 0, cur_rec = 0, covered = 0;
    uint64_t repeats = 0, first_of_run = 0;
    bool first = false;
    while (fgets(line, sizeof(line), f)) {
        uint64_t q = line[0] == 'S' ? 0 : strtoull(line + 2, NULL, 10);
        if (line[0] == 'S') {
            run++;
            prev_acked = cur_acked;
            prev_rec = cur_rec;
            first = true;
        } else if (line[0] == 'R') {
            if (first) {
                first_of_run = q;
                lt_h_check(q > prev_acked && q <= prev_rec + 1,
                           "run %d starts at %llu: last Acked before %llu, last record %llu", run,
                           (unsigned long long)q, (unsigned long long)prev_acked,
                           (unsigned long long)prev_rec);
                if (prev_rec >= q)
                    repeats += prev_rec - q + 1;
                first = false;
            } else {
                lt_h_check(q == cur_rec + 1, "run %d: %llu after %llu", run, (unsigned long long)q,
                           (unsigned long long)cur_rec);
            }
            cur_rec = q;
            if (q > covered) {
                lt_h_check(q == covered + 1, "gap: %llu after %llu", (unsigned long long)q,
                           (unsigned long long)covered);
                covered = q;
            }
        } else if (line[0] == 'A') {
            lt_h_check(q >= cur_acked || first, "Acked went back");
            cur_acked = q;
        }
    }
    fclose(f);
    (void)first_of_run;
    lt_h_check(covered == last, "covered 1..%llu, want 1..%llu", (unsigned long long)covered,
               (unsigned long long)last);
    lt_h_check(run == ROUNDS, "%d runs", run + 1);
    printf("ok killed subscriber: %d kill -9s, 1..%llu gapless, %llu repeats, all in the "
           "unacknowledged tail (%lld ms)\n",
           ROUNDS, (unsigned long long)last, (unsigned long long)repeats,
           (long long)(now_ms() - t0));
}

/* ---- scenario 4: a stalled subscriber while 10,000 events flow -------- */

static long proc_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void stalled(lt_h *h, void *cli)
{
    enum { N = 10000 };
    note_len = 900; /* status events ~1.1 KB stored, results ~0.2 KB */
    g_event_no = 0;
    /* warm up: first allocations, page cache, and a transaction as large as
     * the journal lets one grow (its dirty pages are LMDB's to reuse) */
    uint64_t last = publish(cli, 1, 3000, 1);

    void *s = sc_open(h->zctx);
    sc_subscribe(s, "stalled", &(subopt){ .start = S_LATEST, .credit = 10 });
    sc_subscribed(s, 0, last + 1, last);

    long rss0 = proc_kb(h->pid, "VmRSS"), anon0 = proc_kb(h->pid, "RssAnon"),
         file0 = proc_kb(h->pid, "RssFile");
    int64_t t0 = now_ms();
    uint64_t first = last + 1;
    last = publish(cli, (int)first, N, first);
    int64_t ingest_ms = now_ms() - t0;
    sc_range(s, first, first + 9, "credit 10");
    sc_quiet(s, 300, "stalled after credit 10");
    long rss1 = proc_kb(h->pid, "VmRSS"), anon1 = proc_kb(h->pid, "RssAnon"),
         file1 = proc_kb(h->pid, "RssFile"), hwm = proc_kb(h->pid, "VmHWM");
    printf("stalled: %d events accepted in %lld ms (%.0f/s); daemon VmRSS %ld -> %ld kB (+%ld), "
           "RssAnon %ld -> %ld (+%ld), RssFile %ld -> %ld (+%ld), VmHWM %ld kB\n",
           N, (long long)ingest_ms, N * 1000.0 / (double)(ingest_ms ? ingest_ms : 1), rss0, rss1,
           rss1 - rss0, anon0, anon1, anon1 - anon0, file0, file1, file1 - file0, hwm);
    lt_h_check(ingest_ms < 20000, "ingest took %lld ms with a stalled subscriber",
               (long long)ingest_ms);
    /* Nothing is buffered per subscriber. What grows is RssFile: LMDB's
     * file-backed map, pages of the ~11.5 MB just written (the control run
     * below, with no subscriber at all, grows by the same). 20 MB covers
     * that; anonymous memory must stay well under 8 MB (measured: < 1.2 MB).
     * No SUB is connected to the PUB here: a stalled SUB would hold up to
     * its SNDHWM (10,000 records, ~11 MB) in the daemon. */
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's shadow memory and free quarantine make RSS meaningless */
    (void)rss0, (void)anon0;
#else
    lt_h_check(rss1 - rss0 < 20 * 1024, "daemon VmRSS grew by %ld kB", rss1 - rss0);
    lt_h_check(anon1 - anon0 < 8 * 1024, "daemon RssAnon grew by %ld kB", anon1 - anon0);
#endif

    /* grant credit: the rest arrives, in order */
    t0 = now_ms();
    sc_credit(s, "stalled", N - 10);
    sc_range(s, first + 10, last, "after credit");
    int64_t drain_ms = now_ms() - t0;
    /* a drained queue must be refilled promptly, not at the loop's idle timeout */
    lt_h_check(drain_ms < 10000, "%d records took %lld ms after credit", N - 10,
               (long long)drain_ms);
    sc_quiet(s, 200, "after all 10,000");
    sc_ack(s, "stalled", last);
    sc_acked(s, last);
    long rss2 = proc_kb(h->pid, "VmRSS"), anon2 = proc_kb(h->pid, "RssAnon"),
         file2 = proc_kb(h->pid, "RssFile");
    /* PUB: a SUB sees new events live, with kind.procedure topics */
    void *sub = zmq_socket(h->zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    lt_h_check(zmq_connect(sub, pub_ep) == 0, "connect pub");
    usleep(300000); /* the subscription has to reach the PUB first */
    first = last + 1;
    last = publish(cli, (int)first, 500, first);
    int pub_n = 0;
    uint64_t pub_prev = 0;
    for (;;) {
        zmq_pollitem_t p = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&p, 1, pub_n ? 200 : 2000) <= 0)
            break;
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        zmq_msg_recv(&topic, sub, 0);
        lt_h_check(zmq_msg_more(&topic), "PUB message without a body frame");
        zmq_msg_recv(&body, sub, 0);
        Lienthong__V1__StreamRecord *rec =
            lienthong__v1__stream_record__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        lt_h_check(rec, "PUB body does not decode");
        lt_h_check(
            rec->seq == (pub_prev ? pub_prev + 1 : first) && rec->seq >= first && rec->seq <= last,
            "PUB seq %llu after %llu", (unsigned long long)rec->seq, (unsigned long long)pub_prev);
        bool res = rec->event->event->body_case == LIENTHONG__V1__EVENT__BODY_RESULT;
        char want_topic[64];
        snprintf(want_topic, sizeof(want_topic), "%s.%s", res ? "result" : "status",
                 rec->event->event->procedure_code);
        lt_h_check(zmq_msg_size(&topic) == strlen(want_topic) &&
                       memcmp(zmq_msg_data(&topic), want_topic, strlen(want_topic)) == 0,
                   "PUB topic for seq %llu", (unsigned long long)rec->seq);
        pub_prev = rec->seq;
        pub_n++;
        lienthong__v1__stream_record__free_unpacked(rec, NULL);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
    }
    zmq_close(sub);
    lt_h_check(pub_n == 500, "the PUB delivered %d of 500", pub_n);
    printf("ok PUB: 500 of 500 live, in order, topics kind.procedure\n");

    zmq_close(s);
    printf("ok stalled subscriber: 10,000 events, then %d records in %lld ms after credit; "
           "VmRSS after draining %ld kB, RssAnon %ld kB\n",
           N - 10, (long long)drain_ms, rss2, anon2);
    /* control: the same again with no subscriber at all */
    first = last + 1;
    last = publish(cli, (int)first, N, first);
    long rss3 = proc_kb(h->pid, "VmRSS"), anon3 = proc_kb(h->pid, "RssAnon"),
         file3 = proc_kb(h->pid, "RssFile");
    printf("control: %d more events, no subscriber: VmRSS +%ld kB, RssAnon +%ld, RssFile +%ld\n", N,
           rss3 - rss2, anon3 - anon2, file3 - file2);
    note_len = 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGABRT, on_abort);
    lt_h h;
    lt_h_init(&h, "stream", NULL);
    snprintf(stream_ep, sizeof(stream_ep), "ipc://%s/stream.sock", h.dir);
    snprintf(pub_ep, sizeof(pub_ep), "ipc://%s/pub.sock", h.dir);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "streams:\n  endpoint: \"%s\"\n  pub_endpoint: \"%s\"\n", stream_ep, pub_ep);
    start(&h);
    void *cli = lt_h_client(&h);
    basics(&h, cli);
    resume(&h, &cli);
    killed_subscriber(&h, cli);
    zmq_close(cli);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_free(&h);

    /* a fresh daemon for the memory figures */
    lt_h_init(&h, "stream-stall", NULL);
    snprintf(stream_ep, sizeof(stream_ep), "ipc://%s/stream.sock", h.dir);
    snprintf(pub_ep, sizeof(pub_ep), "ipc://%s/pub.sock", h.dir);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "streams:\n  endpoint: \"%s\"\n  pub_endpoint: \"%s\"\n", stream_ep, pub_ep);
    start(&h);
    cli = lt_h_client(&h);
    stalled(&h, cli);
    zmq_close(cli);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    g_daemon_pid = 0;
    lt_h_free(&h);
    printf("ok result streams\n");
    return 0;
}
