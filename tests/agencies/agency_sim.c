/* agency_sim.c - lienthong-agency-sim: a stand-in for an agency gateway (tax,
 * land registry or national portal) on the daemon's ZeroMQ link.
 *
 * A ROUTER bound at --endpoint answers each LinkRequest frame with a LinkReply
 * after --latency-ms, from a timer queue so any number of requests are in
 * flight at once. Outcomes are drawn from --error-rate (RETRY_LATER) and
 * --permanent-rate (PERMANENT_FAILURE) with a seeded generator; during a
 * --down-ms window requests are dropped without a reply. Keys answered OK are
 * remembered: a repeat is answered OK again without acting (repeat=1 in the
 * log). As tax, an accepted TaxTransfer yields an obligation notice (2%
 * personal income tax, 0.5% registration fee) published as a result event to
 * the daemon's ingest socket after --result-delay-ms, resent until the daemon
 * answers ACCEPTED or DUPLICATE. See tests/agencies/README.md.
 *
 * Bounds: every key answered OK is kept for the life of the process (a test
 * tool: about 100 bytes a key); frames above 1 MiB are refused by the socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "lienthong/v1/lienthong.pb-c.h"
#include "lienthong/v1/link.pb-c.h"
#include "sim_opts.h"
#include "timefmt.h"

#define ROUTING_ID_MAX 256
#define MAX_FRAME      (1 << 20)
#define DRAIN_MAX      256
#define KEY_BUCKETS    65536

/* One key answered OK, with the notice number it produced (tax), 0 if none;
 * or, under "\1dossier:CODE", the number of notices issued for a dossier. */
typedef struct key_entry {
    struct key_entry *next;
    uint64_t notice;
    char key[];
} key_entry;

/* A result submission waiting for the daemon's ACCEPTED or DUPLICATE. */
typedef struct pending {
    uint64_t request_id;
    char event_id[160];
    uint8_t *buf;
    size_t len;
    bool done;
} pending;

enum { T_REPLY, T_PUBLISH };

/* A timer: a reply to send, or a result to (re)publish. */
typedef struct timer {
    int64_t due_ms;
    uint64_t order; /* ties keep arrival order */
    int kind;
    uint8_t rid[ROUTING_ID_MAX];
    size_t rid_len;
    bool delimiter;
    uint8_t *buf; /* T_REPLY: the packed reply */
    size_t len;
    pending *pub; /* T_PUBLISH */
} timer;

typedef struct sim {
    sim_opts o;
    void *zctx, *router, *ingest;
    int sigfd;
    FILE *log;
    int64_t start_ms;
    uint64_t rng;
    timer **heap;
    size_t n_heap, cap_heap;
    uint64_t timer_order;
    key_entry *keys[KEY_BUCKETS];
    uint64_t notices, request_ids;
    uint64_t received, answered, dropped;
} sim;

/* --- small helpers --- */

static void say(const sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const sim *s, const char *fmt, ...)
{
    va_list ap;
    if (s->o.quiet)
        return;
    va_start(ap, fmt);
    fprintf(stderr, PROG "[%s]: ", sim_agency_names[s->o.agency]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: uniform in [0, 1). */
static double rnd(sim *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Copy s for a key=value log line: no spaces, quotes or '=' (at most 120 bytes). */
static const char *safe(const char *in, char *buf, size_t size)
{
    size_t n = 0;
    for (; in && *in && n + 1 < size && n < 120; in++) {
        char c = *in;
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '=')
            c = '?';
        buf[n++] = c;
    }
    buf[n] = '\0';
    return n ? buf : "-";
}

static uint64_t fnv1a(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 1099511628211ULL;
    return h;
}

static key_entry *key_find(sim *s, const char *key)
{
    for (key_entry *e = s->keys[fnv1a(key) % KEY_BUCKETS]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static int key_add(sim *s, const char *key, uint64_t notice)
{
    size_t len = strlen(key);
    key_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, key, len + 1);
    e->notice = notice;
    uint64_t b = fnv1a(key) % KEY_BUCKETS;
    e->next = s->keys[b];
    s->keys[b] = e;
    return 0;
}

/* --- the timer queue: a binary min-heap on (due_ms, order) --- */

static bool before(const timer *a, const timer *b)
{
    return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->order < b->order;
}

static int heap_push(sim *s, timer *t)
{
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? s->cap_heap * 2 : 256;
        timer **h = realloc(s->heap, cap * sizeof(timer *));
        if (!h)
            return -ENOMEM;
        s->heap = h;
        s->cap_heap = cap;
    }
    t->order = s->timer_order++;
    size_t i = s->n_heap++;
    while (i > 0 && before(t, s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = t;
    return 0;
}

static timer *heap_pop(sim *s)
{
    timer *top = s->heap[0], *last = s->heap[--s->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->n_heap)
            break;
        if (c + 1 < s->n_heap && before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!before(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap)
        s->heap[i] = last;
    return top;
}

static void timer_free(timer *t)
{
    if (!t)
        return;
    free(t->buf);
    if (t->pub) {
        free(t->pub->buf);
        free(t->pub);
    }
    free(t);
}

/* Is the agency down at ms since start? */
static bool is_down(const sim *s, int64_t at_ms)
{
    for (int i = 0; i < s->o.n_down; i++)
        if (at_ms >= s->o.down[i].from_ms && at_ms < s->o.down[i].to_ms)
            return true;
    return false;
}

/* --- tax: the obligation notice --- */

/* A tax notice as a result event; every string points into this struct. */
typedef struct notice {
    Lienthong__V1__Event ev;
    Lienthong__V1__Result res;
    Lienthong__V1__Result__DataEntry d[3];
    Lienthong__V1__Result__DataEntry *dp[3];
    char event_id[160], now[32], due[16], pit[24], fee[24];
} notice;

/* Build notice n for the transfer in req: 2% personal income tax and 0.5%
 * registration fee of the transfer price, payment due in 30 days (the date in
 * Vietnam, UTC+7). */
static void notice_fill(const Lienthong__V1__LinkRequest *req, uint64_t n, notice *t)
{
    const Lienthong__V1__TaxTransfer *tt = req->tax_transfer;
    const char *dossier = req->dossier_code ? req->dossier_code : tt->dossier_code;
    int64_t now_s = time(NULL);
    int64_t pit = tt->transfer_price / 50, fee = tt->transfer_price / 200;
    time_t due_s = (time_t)(now_s + (int64_t)30 * DAY_S + (int64_t)7 * 3600);
    struct tm tm;

    lienthong__v1__event__init(&t->ev);
    lienthong__v1__result__init(&t->res);
    snprintf(t->event_id, sizeof(t->event_id), "TB-%s-%" PRIu64, dossier ? dossier : "-", n);
    lt_time_format(now_s, t->now, sizeof(t->now));
    gmtime_r(&due_s, &tm);
    strftime(t->due, sizeof(t->due), "%Y-%m-%d", &tm);
    snprintf(t->pit, sizeof(t->pit), "%" PRId64, pit);
    snprintf(t->fee, sizeof(t->fee), "%" PRId64, fee);
    static const char *const keys[] = { "personal_income_tax_vnd", "registration_fee_vnd",
                                        "payment_due" };
    char *values[] = { t->pit, t->fee, t->due };
    for (int i = 0; i < 3; i++) {
        lienthong__v1__result__data_entry__init(&t->d[i]);
        t->d[i].key = (char *)keys[i];
        t->d[i].value = values[i];
        t->dp[i] = &t->d[i];
    }
    t->res.from_agency = (char *)"CCT";
    t->res.kind = (char *)"tax_notice";
    t->res.reference = t->event_id;
    t->res.has_amount = 1;
    t->res.amount = pit + fee;
    t->res.issued_at = t->now;
    t->res.n_data = 3;
    t->res.data = t->dp;
    t->ev.event_id = t->event_id;
    t->ev.occurred_at = t->now;
    t->ev.dossier_code = (char *)dossier;
    t->ev.procedure_code = req->procedure_code;
    t->ev.agency_code = (char *)"CCT";
    t->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    t->ev.result = &t->res;
}

/* Queue notice n for publishing on the ingest socket after the result delay. */
static int notice_publish(sim *s, const Lienthong__V1__LinkRequest *req, uint64_t n, int64_t now)
{
    Lienthong__V1__Submission sub = LIENTHONG__V1__SUBMISSION__INIT;
    notice t;
    notice_fill(req, n, &t);
    sub.has_version = sub.has_request_id = 1;
    sub.version = 1;
    sub.sender = (char *)s->o.sender;
    sub.request_id = ++s->request_ids;
    sub.event = &t.ev;

    timer *tm = calloc(1, sizeof(*tm));
    pending *p = calloc(1, sizeof(*p));
    if (!tm || !p) {
        free(tm);
        free(p);
        return -ENOMEM;
    }
    tm->kind = T_PUBLISH;
    tm->due_ms = now + s->o.result_delay_ms;
    tm->pub = p;
    p->request_id = sub.request_id;
    snprintf(p->event_id, sizeof(p->event_id), "%s", t.event_id);
    p->len = lienthong__v1__submission__get_packed_size(&sub);
    p->buf = malloc(p->len);
    if (!p->buf) {
        timer_free(tm);
        return -ENOMEM;
    }
    lienthong__v1__submission__pack(&sub, p->buf);
    int r = heap_push(s, tm);
    if (r < 0)
        timer_free(tm);
    return r;
}

/* Act on a request answered OK for the first time. For tax: number a notice
 * and publish it (or leave it to the reply). [out] ret_notice: 0 if none. */
static int act(sim *s, const Lienthong__V1__LinkRequest *req, int64_t now, uint64_t *ret_notice,
               char *msg, size_t size)
{
    *ret_notice = 0;
    if (s->o.agency == AG_LAND) {
        snprintf(msg, size, "land task accepted");
        return 0;
    }
    if (s->o.agency == AG_PORTAL) {
        snprintf(msg, size, "dossier synced");
        return 0;
    }
    /* Notices are numbered per dossier, so after a restart of the simulator
     * (which forgets its keys) a resent transfer yields the same event_id and
     * the daemon answers DUPLICATE instead of storing a second notice. */
    char dkey[300];
    snprintf(dkey, sizeof(dkey), "\001dossier:%s", req->dossier_code ? req->dossier_code : "-");
    key_entry *count = key_find(s, dkey);
    if (!count) {
        int r = key_add(s, dkey, 0);
        if (r < 0)
            return r;
        count = key_find(s, dkey);
    }
    uint64_t n = ++count->notice;
    s->notices++;
    *ret_notice = n;
    snprintf(msg, size, "transfer received; obligation notice %" PRIu64 " %s", n,
             s->o.result_in_reply ? "attached"
             : s->o.ingest        ? "follows"
                                  : "not sent");
    return s->o.ingest ? notice_publish(s, req, n, now) : 0;
}

/* ErrorCodes a resend cannot cure. */
static bool rejected_for_good(int code)
{
    switch (code) {
    case LIENTHONG__V1__ERROR_CODE__MALFORMED:
    case LIENTHONG__V1__ERROR_CODE__UNSUPPORTED_VERSION:
    case LIENTHONG__V1__ERROR_CODE__MISSING_FIELD:
    case LIENTHONG__V1__ERROR_CODE__INVALID_FIELD:
    case LIENTHONG__V1__ERROR_CODE__UNKNOWN_FIELD:
    case LIENTHONG__V1__ERROR_CODE__TOO_LARGE:
        return true;
    default:
        return false;
    }
}

static pending *pending_find(sim *s, uint64_t request_id)
{
    for (size_t i = 0; i < s->n_heap; i++)
        if (s->heap[i]->kind == T_PUBLISH && s->heap[i]->pub->request_id == request_id)
            return s->heap[i]->pub;
    return NULL;
}

/* Drain the daemon's replies to published notices. */
static void read_ingest_replies(sim *s)
{
    uint8_t buf[4096];
    for (int i = 0; i < DRAIN_MAX; i++) {
        int n = zmq_recv(s->ingest, buf, sizeof(buf), ZMQ_DONTWAIT);
        if (n < 0)
            return;
        if ((size_t)n > sizeof(buf))
            continue;
        Lienthong__V1__Reply *rep = lienthong__v1__reply__unpack(NULL, (size_t)n, buf);
        pending *p = rep ? pending_find(s, rep->request_id) : NULL;
        if (p && !p->done) {
            if (rep->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED ||
                rep->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE) {
                p->done = true;
                say(s, "notice event_id=%s %s seq=%" PRIu64, p->event_id,
                    rep->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED ? "accepted"
                                                                            : "duplicate",
                    rep->seq);
            } else {
                p->done = rejected_for_good(rep->code);
                fprintf(stderr, PROG ": notice event_id=%s rejected code=%d field=%s: %s%s\n",
                        p->event_id, rep->code, rep->field ? rep->field : "-",
                        rep->message ? rep->message : "", p->done ? " (given up)" : "");
            }
        }
        lienthong__v1__reply__free_unpacked(rep, NULL);
    }
}

/* --- requests --- */

/* Why a request cannot be acted on by this agency, or NULL. */
static const char *unusable(const sim *s, const Lienthong__V1__LinkRequest *req)
{
    if (!req->idempotency_key || !req->idempotency_key[0])
        return "request has no idempotency_key";
    switch (s->o.agency) {
    case AG_TAX:
        if (req->body_case != LIENTHONG__V1__LINK_REQUEST__BODY_TAX_TRANSFER)
            return "the tax link takes a TaxTransfer";
        if (!req->tax_transfer->has_transfer_price || req->tax_transfer->transfer_price < 0)
            return "TaxTransfer has no usable transfer_price";
        return NULL;
    case AG_LAND:
        return req->body_case == LIENTHONG__V1__LINK_REQUEST__BODY_LAND_TASK
                   ? NULL
                   : "the land link takes a LandTask";
    default:
        return req->body_case == LIENTHONG__V1__LINK_REQUEST__BODY_PORTAL_SYNC
                   ? NULL
                   : "the portal link takes a PortalSync";
    }
}

/* Pack rep and queue it for rid after the latency. */
static int queue_reply(sim *s, const uint8_t *rid, size_t rid_len, bool delimiter,
                       const Lienthong__V1__LinkReply *rep, int64_t now)
{
    timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->kind = T_REPLY;
    t->due_ms = now + s->o.latency_ms;
    memcpy(t->rid, rid, rid_len);
    t->rid_len = rid_len;
    t->delimiter = delimiter;
    t->len = lienthong__v1__link_reply__get_packed_size(rep);
    t->buf = malloc(t->len ? t->len : 1);
    if (!t->buf) {
        free(t);
        return -ENOMEM;
    }
    lienthong__v1__link_reply__pack(rep, t->buf);
    int r = heap_push(s, t);
    if (r < 0)
        timer_free(t);
    return r;
}

/* One line per request received, flushed, so tests can read order and repeats. */
static void log_request(sim *s, const Lienthong__V1__LinkRequest *req, const char *outcome,
                        bool repeat, bool lost)
{
    char k[128], d[128];
    char line[512];
    snprintf(line, sizeof(line), "key=%s seq=%" PRIu64 " dossier=%s attempt=%u outcome=%s%s%s",
             safe(req ? req->idempotency_key : NULL, k, sizeof(k)),
             req && req->has_seq ? req->seq : 0, safe(req ? req->dossier_code : NULL, d, sizeof(d)),
             req && req->has_attempt ? req->attempt : 0, outcome, repeat ? " repeat=1" : "",
             lost ? " lost=1" : "");
    if (s->log) {
        fprintf(s->log, "%s\n", line);
        fflush(s->log);
    }
    say(s, "%s", line);
}

/* Decide the outcome of a well-formed request and act on it. */
static int answer(sim *s, const Lienthong__V1__LinkRequest *req, const uint8_t *rid, size_t rid_len,
                  bool delimiter, int64_t now)
{
    Lienthong__V1__LinkReply rep = LIENTHONG__V1__LINK_REPLY__INIT;
    notice nt;
    const char *why = unusable(s, req);
    key_entry *seen = why ? NULL : key_find(s, req->idempotency_key);
    bool lost = is_down(s, now + s->o.latency_ms - s->start_ms);
    char msg[200];
    int r = 0;

    rep.has_version = 1;
    rep.version = 1;
    rep.idempotency_key = req->idempotency_key;
    rep.has_outcome = 1;
    if (why) {
        rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE;
        rep.message = (char *)why;
    } else if (seen) {
        rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__OK;
        rep.message = (char *)"already done under this idempotency key";
    } else {
        double u = rnd(s);
        if (u < s->o.permanent_rate) {
            rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE;
            rep.message = (char *)"simulated permanent failure";
        } else if (u < s->o.permanent_rate + s->o.error_rate) {
            rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER;
            rep.message = (char *)"simulated temporary failure";
            rep.has_retry_after_s = s->o.retry_after_s > 0;
            rep.retry_after_s = (uint32_t)s->o.retry_after_s;
        } else {
            rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__OK;
            uint64_t n = 0;
            if ((r = act(s, req, now, &n, msg, sizeof(msg))) < 0)
                return r;
            if ((r = key_add(s, req->idempotency_key, n)) < 0)
                return r;
            rep.message = msg;
        }
    }
    /* --result-in-reply: the notice rides on the OK, also on a repeat */
    key_entry *done = rep.outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK && !why
                          ? key_find(s, req->idempotency_key)
                          : NULL;
    if (done && done->notice && s->o.result_in_reply) {
        notice_fill(req, done->notice, &nt);
        rep.result = &nt.ev;
    }
    log_request(s, req,
                protobuf_c_enum_descriptor_get_value(
                    &lienthong__v1__link_reply__outcome__descriptor, rep.outcome)
                    ->name,
                seen != NULL, lost);
    if (!lost)
        r = queue_reply(s, rid, rid_len, delimiter, &rep, now);
    return r;
}

/* Read one request (routing id, optional empty delimiter, payload) and handle it. */
static int handle_request(sim *s, int64_t now)
{
    uint8_t rid[ROUTING_ID_MAX];
    zmq_msg_t m;
    bool delimiter = false;
    int more = 0;
    size_t more_len = sizeof(more);

    int n = zmq_recv(s->router, rid, sizeof(rid), ZMQ_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN ? 1 : -errno;
    size_t rid_len = (size_t)n < sizeof(rid) ? (size_t)n : sizeof(rid);
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, s->router, 0) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            return -e;
        }
        zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
        if (!more)
            break;
        delimiter = zmq_msg_size(&m) == 0; /* REQ-style envelope: skip the empty frame */
    }
    s->received++;
    int64_t at = now - s->start_ms;
    Lienthong__V1__LinkRequest *req =
        lienthong__v1__link_request__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    if (is_down(s, at)) {
        s->dropped++;
        log_request(s, req, "dropped", false, false);
        lienthong__v1__link_request__free_unpacked(req, NULL);
        return 0;
    }
    if (!req) {
        Lienthong__V1__LinkReply rep = LIENTHONG__V1__LINK_REPLY__INIT;
        rep.has_version = rep.has_outcome = 1;
        rep.version = 1;
        rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE;
        rep.message = (char *)"not a decodable LinkRequest";
        log_request(s, NULL, "malformed", false, false);
        return queue_reply(s, rid, rid_len, delimiter, &rep, now);
    }
    int r = answer(s, req, rid, rid_len, delimiter, now);
    lienthong__v1__link_request__free_unpacked(req, NULL);
    return r;
}

static void send_reply(sim *s, const timer *t)
{
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    /* a peer that went away loses its reply, as it would with a real gateway */
    if (zmq_send(s->router, t->rid, t->rid_len, more) < 0)
        return;
    if (t->delimiter && zmq_send(s->router, "", 0, more) < 0)
        return;
    if (zmq_send(s->router, t->buf, t->len, ZMQ_DONTWAIT) >= 0)
        s->answered++;
}

/* Fire every timer due at now. */
static int fire_timers(sim *s, int64_t now)
{
    while (s->n_heap && s->heap[0]->due_ms <= now) {
        timer *t = heap_pop(s);
        if (t->kind == T_REPLY) {
            if (!is_down(s, now - s->start_ms))
                send_reply(s, t);
            timer_free(t);
            continue;
        }
        if (t->pub->done) {
            timer_free(t);
            continue;
        }
        if (zmq_send(s->ingest, t->pub->buf, t->pub->len, ZMQ_DONTWAIT) < 0 && errno != EAGAIN)
            say(s, "ingest send: %s", zmq_strerror(errno));
        t->due_ms = now + s->o.resend_ms;
        int r = heap_push(s, t);
        if (r < 0) {
            timer_free(t);
            return r;
        }
    }
    return 0;
}

/* --- the loop --- */

static int setup_signals(sim *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return s->sigfd < 0 ? -errno : 0;
}

static int open_sockets(sim *s)
{
    int zero = 0;
    int64_t max = MAX_FRAME;

    s->zctx = zmq_ctx_new();
    s->router = s->zctx ? zmq_socket(s->zctx, ZMQ_ROUTER) : NULL;
    if (!s->router)
        return fprintf(stderr, PROG ": zmq: %s\n", zmq_strerror(errno)), -1;
    zmq_setsockopt(s->router, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &max, sizeof(max));
    if (zmq_bind(s->router, s->o.endpoint) < 0)
        return fprintf(stderr, PROG ": --endpoint %s: %s\n", s->o.endpoint, zmq_strerror(errno)),
               -1;
    if (!s->o.ingest)
        return 0;
    s->ingest = zmq_socket(s->zctx, ZMQ_DEALER);
    if (!s->ingest)
        return fprintf(stderr, PROG ": zmq: %s\n", zmq_strerror(errno)), -1;
    zmq_setsockopt(s->ingest, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_connect(s->ingest, s->o.ingest) < 0)
        return fprintf(stderr, PROG ": --ingest %s: %s\n", s->o.ingest, zmq_strerror(errno)), -1;
    return 0;
}

static int run(sim *s)
{
    zmq_pollitem_t items[3] = {
        { s->router, 0, ZMQ_POLLIN, 0 },
        { NULL, s->sigfd, ZMQ_POLLIN, 0 },
        { s->ingest, 0, ZMQ_POLLIN, 0 },
    };
    int n_items = s->ingest ? 3 : 2;

    for (;;) {
        int64_t now = mono_ms();
        long timeout = -1;
        if (s->n_heap)
            timeout = s->heap[0]->due_ms > now ? (long)(s->heap[0]->due_ms - now) : 0;
        if (zmq_poll(items, n_items, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": zmq_poll: %s\n", zmq_strerror(errno));
            return -1;
        }
        now = mono_ms();
        if (items[1].revents & ZMQ_POLLIN)
            return 0;
        for (int i = 0; (items[0].revents & ZMQ_POLLIN) && i < DRAIN_MAX; i++) {
            int r = handle_request(s, now);
            if (r == 1)
                break;
            if (r < 0 && r != -EAGAIN && r != -EINTR) {
                fprintf(stderr, PROG ": request: %s\n", strerror(-r));
                return -1;
            }
        }
        if (n_items == 3 && (items[2].revents & ZMQ_POLLIN))
            read_ingest_replies(s);
        if (fire_timers(s, now) < 0) {
            fprintf(stderr, PROG ": out of memory\n");
            return -1;
        }
    }
}

static void sim_free(sim *s)
{
    while (s->n_heap)
        timer_free(heap_pop(s));
    free(s->heap);
    for (size_t i = 0; i < KEY_BUCKETS; i++)
        for (key_entry *e = s->keys[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    if (s->router)
        zmq_close(s->router);
    if (s->ingest)
        zmq_close(s->ingest);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    if (s->log)
        fclose(s->log);
    if (s->sigfd >= 0)
        close(s->sigfd);
}

int main(int argc, char **argv)
{
    static sim s; /* the key table is large: not on the stack */
    int rc = 1;

    s.sigfd = -1;
    int r = sim_parse_opts(argc, argv, &s.o);
    if (r != 0)
        return r < 0 ? 2 : 0;
    s.rng = s.o.seed ? s.o.seed : 0x9e3779b97f4a7c15ULL;
    if (s.o.log_path && !(s.log = fopen(s.o.log_path, "a"))) {
        fprintf(stderr, PROG ": --log %s: %s\n", s.o.log_path, strerror(errno));
        return 1;
    }
    if (setup_signals(&s) < 0) {
        fprintf(stderr, PROG ": signals: %s\n", strerror(errno));
        goto out;
    }
    if (open_sockets(&s) < 0)
        goto out;
    s.start_ms = mono_ms();
    say(&s,
        "listening on %s latency_ms=%" PRId64 " error_rate=%g permanent_rate=%g down_windows=%d",
        s.o.endpoint, s.o.latency_ms, s.o.error_rate, s.o.permanent_rate, s.o.n_down);
    if (s.o.agency == AG_TAX && !s.o.ingest && !s.o.result_in_reply)
        say(&s, "no --ingest and no --result-in-reply: obligation notices are not sent");
    if (run(&s) == 0)
        rc = 0;
    say(&s, "stopping received=%" PRIu64 " answered=%" PRIu64 " dropped=%" PRIu64, s.received,
        s.answered, s.dropped);
out:
    sim_free(&s);
    return rc;
}
