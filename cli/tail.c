/* tail.c - lienthongctl tail: a durable result-stream subscriber, usable as
 * a sample reporting job.
 *
 * One DEALER to the daemon's stream ROUTER (streams.endpoint), with ZeroMQ
 * heartbeats. It subscribes under --consumer with its filters and starting
 * point, prints each record, acknowledges what it printed (every 10 records
 * or 200 ms, and at exit) and grants credit as it consumes, so the daemon
 * never sends more than --credit records ahead. When the daemon restarts or
 * the connection is lost (an Error "subscribe first", or no message for 5 s
 * while credit is outstanding) it subscribes again on a new socket under the
 * same name: the daemon resumes after the committed cursor, and records at
 * or below the last seq already printed are skipped, so one run never prints
 * a record twice. Wire: proto/lienthong/v1/stream.proto.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ctl.h"
#include "lienthong/v1/stream.pb-c.h"
#include "timefmt.h"

#define ACK_EVERY       10   /* records between acks */
#define ACK_AFTER_MS    200  /* or this long after the first unacked record */
#define SILENCE_MS      5000 /* resubscribe after this long without a message */
#define EXIT_WAIT_MS    1000 /* at a signal: wait this long for Acked */
#define COUNT_WAIT_MS   5000 /* --count: wait this long for the last Acked */
#define POLL_MS         100
#define MAX_MSG_BYTES   (16u << 20)
#define HEARTBEAT_MS    1000
#define HEARTBEAT_TO_MS 3000

typedef Lienthong__V1__StreamMessage stream_msg;

typedef struct tail {
    ctl *c;
    const char *ep;
    void *zctx, *sock;
    char *kinds[3];
    size_t n_kinds;
    Lienthong__V1__Subscribe__Start start;
    uint64_t from_seq;
    uint64_t credit;      /* credit to hold (--credit, capped) */
    bool first;           /* the first subscription: --from and --reset apply */
    bool ready;           /* Subscribed received on this socket */
    bool ever_ready;      /* some subscription succeeded */
    uint64_t skip_upto;   /* records at or below are not printed (printed, or before the start) */
    uint64_t printed;     /* records printed */
    uint64_t outstanding; /* credit granted on this subscription, not yet used */
    uint64_t ack_want;    /* highest seq received on this subscription, to acknowledge */
    uint64_t ack_sent;    /* last ack sent on this subscription */
    uint64_t confirmed;   /* the committed cursor as last heard (Subscribed, Acked) */
    unsigned unacked;     /* records since the last ack sent */
    int64_t last_msg_ms, sub_sent_ms, first_unacked_ms;
    bool done;   /* --count reached: print nothing more */
    bool warned; /* "no answer" said once */
    int exit_rc; /* set: stop with this status */
} tail;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int send_req(tail *t, Lienthong__V1__StreamRequest *q)
{
    uint8_t stackbuf[2048], *buf = stackbuf;

    q->has_version = true;
    q->version = 1;
    q->consumer = (char *)t->c->consumer;
    size_t len = lienthong__v1__stream_request__get_packed_size(q);
    if (len > sizeof(stackbuf) && !(buf = malloc(len)))
        return -ENOMEM;
    lienthong__v1__stream_request__pack(q, buf);
    int r = zmq_send(t->sock, buf, len, ZMQ_DONTWAIT) < 0 ? -zmq_errno() : 0;
    if (buf != stackbuf)
        free(buf);
    return r;
}

/* Credit to hold now: --credit, or what --count still needs. */
static uint64_t credit_target(const tail *t)
{
    if (!t->c->count)
        return t->credit;
    uint64_t left = t->c->count > t->printed ? t->c->count - t->printed : 0;
    return left < t->credit ? left : t->credit;
}

/* A new socket and a Subscribe on it. */
static int subscribe(tail *t)
{
    int zero = 0, ivl = HEARTBEAT_MS, to = HEARTBEAT_TO_MS;

    if (t->sock)
        zmq_close(t->sock);
    t->ready = false;
    t->outstanding = t->ack_want = t->ack_sent = 0;
    t->unacked = 0;
    t->sub_sent_ms = t->last_msg_ms = lt_time_mono_ms();
    if (!(t->sock = zmq_socket(t->zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(t->sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_setsockopt(t->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) < 0 ||
        zmq_setsockopt(t->sock, ZMQ_HEARTBEAT_TIMEOUT, &to, sizeof(to)) < 0 ||
        zmq_connect(t->sock, t->ep) < 0) {
        ctl_errf("%s: cannot connect: %s", t->ep, zmq_strerror(zmq_errno()));
        return -EIO;
    }
    Lienthong__V1__Subscribe s = LIENTHONG__V1__SUBSCRIBE__INIT;
    s.n_kinds = t->n_kinds;
    s.kinds = t->kinds;
    s.n_agencies = t->c->n_agencies;
    s.agencies = (char **)t->c->agencies;
    s.procedure_prefix = (char *)t->c->procedure;
    s.has_credit = true;
    s.credit = (uint32_t)credit_target(t);
    if (t->first) {
        s.has_start = t->start != LIENTHONG__V1__SUBSCRIBE__START__START_UNSPECIFIED;
        s.start = t->start;
        s.has_from_seq = t->start == LIENTHONG__V1__SUBSCRIBE__START__SEQ;
        s.from_seq = t->from_seq;
        s.has_reset = t->c->reset;
        s.reset = t->c->reset;
    } else {
        /* resuming: the daemon starts after the cursor when there is one,
         * else here (what this run has not seen yet) */
        s.has_start = s.has_from_seq = true;
        s.start = LIENTHONG__V1__SUBSCRIBE__START__SEQ;
        s.from_seq = t->skip_upto + 1;
    }
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE;
    q.subscribe = &s;
    if (send_req(t, &q) < 0) {
        ctl_errf("%s: cannot send the subscription: %s", t->ep, zmq_strerror(zmq_errno()));
        return -EIO;
    }
    t->outstanding = s.credit;
    return 0;
}

static void send_ack(tail *t)
{
    if (t->c->no_ack || !t->ready || t->ack_want <= t->ack_sent)
        return;
    Lienthong__V1__Ack a = LIENTHONG__V1__ACK__INIT;
    a.has_seq = true;
    a.seq = t->ack_want;
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_ACK;
    q.ack = &a;
    if (send_req(t, &q) == 0) {
        t->ack_sent = t->ack_want;
        t->unacked = 0;
    }
}

/* Is everything printed acknowledged and committed? An ack at or below the
 * cursor the daemon reported is not confirmed again: it is already there. */
static bool acks_confirmed(const tail *t)
{
    return t->c->no_ack || t->ack_want <= t->confirmed;
}

static void grant_credit(tail *t)
{
    uint64_t want = credit_target(t);

    if (!t->ready || want <= t->outstanding || t->outstanding > want / 2)
        return;
    Lienthong__V1__Credit cr = LIENTHONG__V1__CREDIT__INIT;
    cr.has_n = true;
    cr.n = (uint32_t)(want - t->outstanding);
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_CREDIT;
    q.credit = &cr;
    if (send_req(t, &q) == 0)
        t->outstanding = want;
}

static void print_record(const tail *t, uint64_t seq, const lt_stored_event *ev)
{
    if (t->c->json) {
        ctl_json_entry(seq, ev, false);
        putchar('\n');
    } else {
        ctl_print_event_line(seq, ev, true);
    }
    fflush(stdout);
}

static void on_record(tail *t, const Lienthong__V1__StreamRecord *r)
{
    if (!t->ready || !r->has_seq)
        return; /* from a subscription replaced since */
    if (t->outstanding)
        t->outstanding--;
    if (r->seq <= t->skip_upto) {
        if (r->seq > t->ack_want)
            t->ack_want = r->seq; /* printed by this run before: acknowledge, do not repeat */
        return;
    }
    if (t->done)
        return; /* --count reached: left for the next run */
    if (r->event)
        print_record(t, r->seq, r->event);
    t->printed++;
    t->skip_upto = t->ack_want = r->seq;
    if (!t->unacked++)
        t->first_unacked_ms = lt_time_mono_ms();
    if (t->c->count && t->printed >= t->c->count)
        t->done = true;
    if (t->unacked >= ACK_EVERY || t->done)
        send_ack(t);
}

static void on_subscribed(tail *t, const Lienthong__V1__Subscribed *s)
{
    t->ready = t->ever_ready = true;
    if (s->cursor > t->confirmed)
        t->confirmed = s->cursor;
    if (t->first && s->next_seq > 0)
        t->skip_upto = s->next_seq - 1; /* nothing before the start point is printed */
    if (t->warned)
        ctl_errf("%s: subscribed as %s, resuming after seq %" PRIu64, t->ep, t->c->consumer,
                 s->cursor);
    t->first = false;
    t->warned = false;
}

static void on_error(tail *t, const char *msg)
{
    msg = ctl_str_or_dash(msg);
    if (!strcmp(msg, "subscribe first")) { /* the daemon restarted and forgot us */
        if (t->ready)
            subscribe(t);
        return;
    }
    ctl_errf("%s: %s", t->ep, msg);
    if (!t->ever_ready || strstr(msg, "another connection"))
        t->exit_rc = EXIT_REJECTED;
}

/* Read every waiting message. */
static void drain(tail *t)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, t->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        stream_msg *sm = NULL;
        if (!zmq_msg_more(&m) && zmq_msg_size(&m) <= MAX_MSG_BYTES)
            sm = lienthong__v1__stream_message__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (!sm)
            continue;
        t->last_msg_ms = lt_time_mono_ms();
        switch (sm->body_case) {
        case LIENTHONG__V1__STREAM_MESSAGE__BODY_SUBSCRIBED:
            on_subscribed(t, sm->subscribed);
            break;
        case LIENTHONG__V1__STREAM_MESSAGE__BODY_RECORD:
            on_record(t, sm->record);
            break;
        case LIENTHONG__V1__STREAM_MESSAGE__BODY_ACKED:
            if (sm->acked->seq > t->confirmed)
                t->confirmed = sm->acked->seq;
            break;
        case LIENTHONG__V1__STREAM_MESSAGE__BODY_ERROR:
            on_error(t, sm->error->message);
            break;
        default:
            break;
        }
        lienthong__v1__stream_message__free_unpacked(sm, NULL);
        if (t->exit_rc >= 0)
            return;
    }
}

static void wait_once(tail *t, long ms)
{
    zmq_pollitem_t pi = { .socket = t->sock, .events = ZMQ_POLLIN };

    if (zmq_poll(&pi, 1, ms) > 0)
        drain(t);
}

/* Send the pending ack and wait up to ms for it to be committed. */
static bool finish_acks(tail *t, int64_t ms)
{
    int64_t deadline = lt_time_mono_ms() + ms;

    send_ack(t);
    while (!acks_confirmed(t) && lt_time_mono_ms() < deadline && t->exit_rc < 0)
        wait_once(t, POLL_MS);
    return acks_confirmed(t);
}

/* Options into the subscription; prints the error. */
static int setup(tail *t, ctl *c)
{
    static const char *const known[] = { "status", "result", "delivery_failed" };

    if (!c->consumer || !c->consumer[0]) {
        ctl_errf("tail: --consumer NAME is required (the subscriber's durable name)");
        return -EINVAL;
    }
    if (c->kinds) {
        for (const char *p = c->kinds; *p;) {
            size_t n = strcspn(p, ",");
            bool ok = false;
            for (size_t i = 0; i < 3; i++)
                if (strlen(known[i]) == n && !strncmp(known[i], p, n)) {
                    ok = true;
                    if (t->n_kinds < 3)
                        t->kinds[t->n_kinds++] = (char *)known[i];
                }
            if (!ok) {
                ctl_errf("--kinds: unknown kind \"%.*s\" (status, result, delivery_failed)", (int)n,
                         p);
                return -EINVAL;
            }
            p += n + (p[n] == ',');
        }
    }
    t->start = LIENTHONG__V1__SUBSCRIBE__START__START_UNSPECIFIED;
    if (c->from && !strcmp(c->from, "earliest"))
        t->start = LIENTHONG__V1__SUBSCRIBE__START__EARLIEST;
    else if (c->from && !strcmp(c->from, "latest"))
        t->start = LIENTHONG__V1__SUBSCRIBE__START__LATEST;
    else if (c->from) {
        if (ctl_parse_u64("--from (earliest, latest or a seq)", c->from, 1, UINT64_MAX,
                          &t->from_seq) < 0)
            return -EINVAL;
        t->start = LIENTHONG__V1__SUBSCRIBE__START__SEQ;
    }
    if (ctl_load_config(c, c->stream != NULL) < 0)
        return -EINVAL;
    t->ep = c->stream ? c->stream : c->cfg->streams_endpoint;
    if (!t->ep) {
        ctl_errf("%s: no streams.endpoint: the daemon serves no result streams (or use "
                 "--stream EP)",
                 c->cfg->path);
        return -EINVAL;
    }
    t->credit = c->credit;
    if (c->cfg && t->credit > (uint64_t)c->cfg->streams_max_credit)
        t->credit = (uint64_t)c->cfg->streams_max_credit;
    return 0;
}

int ctl_cmd_tail(ctl *c)
{
    tail t = { .c = c, .first = true, .exit_rc = -1 };
    struct sigaction sa = { .sa_handler = on_signal };
    int rc = EXIT_OK;

    if (setup(&t, c) < 0)
        return EXIT_USAGE;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!(t.zctx = zmq_ctx_new()) || subscribe(&t) < 0) {
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    while (!stop_signal && t.exit_rc < 0 && !t.done) {
        wait_once(&t, POLL_MS);
        int64_t now = lt_time_mono_ms();
        if (t.unacked && now - t.first_unacked_ms >= ACK_AFTER_MS)
            send_ack(&t);
        grant_credit(&t);
        if (now - t.last_msg_ms >= SILENCE_MS && (t.outstanding || !t.ready)) {
            if (!t.ready && !t.warned) {
                ctl_errf("%s: no answer from the daemon within %d s; still trying", t.ep,
                         SILENCE_MS / 1000);
                t.warned = true;
            }
            send_ack(&t); /* the old subscription may still be there: keep the cursor */
            if (subscribe(&t) < 0) {
                rc = EXIT_UNREACHABLE;
                goto out;
            }
        }
    }
    if (t.exit_rc >= 0) {
        rc = t.exit_rc;
    } else if (t.done) {
        if (!finish_acks(&t, COUNT_WAIT_MS)) {
            ctl_errf("%s: the ack of seq %" PRIu64 " was not confirmed within %d ms", t.ep,
                     t.ack_want, COUNT_WAIT_MS);
            rc = EXIT_UNREACHABLE;
        }
    } else if (stop_signal) {
        if (!finish_acks(&t, EXIT_WAIT_MS))
            ctl_errf("%s: stopping; the ack of seq %" PRIu64 " was not confirmed (those records "
                     "come again to the next run)",
                     t.ep, t.ack_want);
    }
out:
    if (t.sock)
        zmq_close(t.sock);
    if (t.zctx)
        zmq_ctx_term(t.zctx);
    return rc;
}
