/* stream.c - result streams; see stream.h. */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienthong/v1/stream.pb-c.h"
#include "log.h"
#include "timefmt.h"

#define MAX_SUBS      1024 /* subscriber table bound; the least recently seen goes */
#define MAX_FILTERS   32
#define SEND_PER_PASS 2000  /* records per subscriber per pass, for fairness */
#define SCAN_PER_PASS 20000 /* log entries looked at per subscriber per pass */
#define RID_MAX       256
#define RETRY_MS      5 /* a subscriber's full queue is looked at again after this */

enum { K_STATUS = 1, K_RESULT = 2, K_FAILED = 4, K_ALL = 7 };

typedef struct sub {
    uint8_t rid[RID_MAX];
    size_t rid_len;
    char consumer[128];
    unsigned kinds;
    char *agencies[MAX_FILTERS];
    size_t n_agencies;
    char *prefix;
    uint64_t next_seq;   /* next log entry to consider */
    uint64_t acked;      /* committed cursor */
    uint64_t ack_staged; /* highest ack received, not yet committed */
    uint32_t credit;
    int64_t seen_ms;
    bool more;    /* the pump stopped early: work left */
    bool blocked; /* its queue was full (EAGAIN): retry soon */
} sub;

struct lt_stream {
    const lt_config *cfg;
    lt_store *store;
    void *sock, *pub;
    uint64_t pub_next; /* next seq to publish live */
    sub *subs[MAX_SUBS];
    size_t n_subs;
    uint8_t *buf;
    size_t cap;
};

static int zopt(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

static void sub_free(sub *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_agencies; i++)
        free(u->agencies[i]);
    free(u->prefix);
    free(u);
}

int lt_stream_new(const lt_config *cfg, lt_store *store, void *zctx, lt_stream **ret,
                  lt_diag *reterr)
{
    lt_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = cfg;
    s->store = store;
    s->pub_next = lt_store_last_seq(store) + 1;
    const char *what = NULL, *ep = NULL;
    if (cfg->streams_endpoint) {
        ep = cfg->streams_endpoint;
        what = "streams.endpoint";
        s->sock = zmq_socket(zctx, ZMQ_ROUTER);
        if (!s->sock || zopt(s->sock, ZMQ_ROUTER_MANDATORY, 1) < 0 ||
            zopt(s->sock, ZMQ_LINGER, 0) < 0 || zopt(s->sock, ZMQ_SNDHWM, 1000) < 0 ||
            zopt(s->sock, ZMQ_HEARTBEAT_IVL, (int)cfg->heartbeat_ivl_ms) < 0 ||
            zopt(s->sock, ZMQ_HEARTBEAT_TIMEOUT, (int)cfg->heartbeat_timeout_ms) < 0 ||
            zmq_bind(s->sock, ep) < 0)
            goto fail;
    }
    if (cfg->streams_pub_endpoint) {
        ep = cfg->streams_pub_endpoint;
        what = "streams.pub_endpoint";
        s->pub = zmq_socket(zctx, ZMQ_PUB);
        if (!s->pub || zopt(s->pub, ZMQ_LINGER, 0) < 0 || zopt(s->pub, ZMQ_SNDHWM, 1000) < 0 ||
            zmq_bind(s->pub, ep) < 0)
            goto fail;
    }
    *ret = s;
    return 0;
fail:;
    int r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, what, "cannot bind %s %s: %s", what, ep,
                        zmq_strerror(errno));
    lt_stream_free(&s);
    return r;
}

void lt_stream_free(lt_stream **p)
{
    if (!p || !*p)
        return;
    lt_stream *s = *p;
    if (s->sock)
        zmq_close(s->sock);
    if (s->pub)
        zmq_close(s->pub);
    for (size_t i = 0; i < s->n_subs; i++)
        sub_free(s->subs[i]);
    free(s->buf);
    free(s);
    *p = NULL;
}

int lt_stream_pollitems(lt_stream *s, zmq_pollitem_t *items, int max)
{
    if (!s->sock || max < 1)
        return 0;
    items[0] = (zmq_pollitem_t){ s->sock, 0, ZMQ_POLLIN, 0 };
    return 1;
}

size_t lt_stream_subscribers(const lt_stream *s)
{
    return s->n_subs;
}

/* Room for len bytes in s->buf. Returns 0 or -ENOMEM. */
static int grow_buf(lt_stream *s, size_t len)
{
    if (len <= s->cap)
        return 0;
    uint8_t *nb = realloc(s->buf, len);
    if (!nb)
        return -ENOMEM;
    s->buf = nb;
    s->cap = len;
    return 0;
}

/* Send one StreamMessage to a routing id. Returns 0, -EAGAIN, -EHOSTUNREACH. */
static int send_msg(lt_stream *s, const uint8_t *rid, size_t rid_len,
                    const Lienthong__V1__StreamMessage *m)
{
    size_t len = lienthong__v1__stream_message__get_packed_size(m);
    if (grow_buf(s, len) < 0)
        return -ENOMEM;
    lienthong__v1__stream_message__pack(m, s->buf);
    if (zmq_send(s->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->sock, s->buf, len, ZMQ_DONTWAIT) < 0)
        return -errno;
    return 0;
}

static void send_error(lt_stream *s, const uint8_t *rid, size_t rid_len, const char *msg)
{
    Lienthong__V1__StreamError e = LIENTHONG__V1__STREAM_ERROR__INIT;
    e.message = (char *)msg;
    Lienthong__V1__StreamMessage m = LIENTHONG__V1__STREAM_MESSAGE__INIT;
    m.has_version = true;
    m.version = 1;
    m.body_case = LIENTHONG__V1__STREAM_MESSAGE__BODY_ERROR;
    m.error = &e;
    send_msg(s, rid, rid_len, &m);
}

static sub *find_by_rid(lt_stream *s, const uint8_t *rid, size_t len)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (s->subs[i]->rid_len == len && memcmp(s->subs[i]->rid, rid, len) == 0)
            return s->subs[i];
    return NULL;
}

static void remove_sub(lt_stream *s, sub *u)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (s->subs[i] == u) {
            s->subs[i] = s->subs[--s->n_subs];
            break;
        }
    sub_free(u);
}

/* Read a consumer's committed cursor (0 when none). */
static uint64_t load_cursor(lt_stream *s, const char *consumer, bool *ret_found)
{
    lt_store_txn *t = NULL;
    uint64_t acked = 0;
    *ret_found = false;
    if (lt_store_txn_begin(s->store, false, false, &t) < 0)
        return 0;
    void *val;
    size_t len;
    if (lt_store_kv_get(t, LT_STORE_DB_CURSORS, consumer, strlen(consumer), &val, &len) == 0) {
        Lienthong__V1__Cursor *c = lienthong__v1__cursor__unpack(NULL, len, val);
        if (c) {
            acked = c->acked_seq;
            *ret_found = true;
        }
        lienthong__v1__cursor__free_unpacked(c, NULL);
        free(val);
    }
    lt_store_txn_abort(&t);
    return acked;
}

static bool consumer_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (n == 0 || n >= sizeof(((sub *)0)->consumer))
        return false;
    for (; *c; c++)
        if (*c <= ' ' || *c >= 0x7f)
            return false;
    return true;
}

static void on_subscribe(lt_stream *s, const uint8_t *rid, size_t rid_len, const char *consumer,
                         const Lienthong__V1__Subscribe *q)
{
    unsigned kinds = 0;
    for (size_t i = 0; i < q->n_kinds; i++) {
        if (strcmp(q->kinds[i], "status") == 0)
            kinds |= K_STATUS;
        else if (strcmp(q->kinds[i], "result") == 0)
            kinds |= K_RESULT;
        else if (strcmp(q->kinds[i], "delivery_failed") == 0)
            kinds |= K_FAILED;
        else {
            char msg[200];
            snprintf(msg, sizeof(msg), "unknown kind \"%.64s\" (status, result, delivery_failed)",
                     q->kinds[i]);
            send_error(s, rid, rid_len, msg);
            return;
        }
    }
    if (q->n_agencies > MAX_FILTERS) {
        send_error(s, rid, rid_len, "too many agencies in the filter (at most 32)");
        return;
    }
    /* one connection per consumer: a new subscription takes over */
    bool resubscribe = false;
    for (size_t i = 0; i < s->n_subs; i++)
        if (strcmp(s->subs[i]->consumer, consumer) == 0) {
            sub *old = s->subs[i];
            resubscribe = true;
            if (old->rid_len != rid_len || memcmp(old->rid, rid, rid_len) != 0)
                send_error(s, old->rid, old->rid_len,
                           "another connection subscribed under this consumer name");
            remove_sub(s, old);
            break;
        }
    sub *u = find_by_rid(s, rid, rid_len);
    if (u)
        remove_sub(s, u);
    if (s->n_subs == MAX_SUBS) { /* evict the least recently seen */
        size_t k = 0;
        for (size_t i = 1; i < s->n_subs; i++)
            if (s->subs[i]->seen_ms < s->subs[k]->seen_ms)
                k = i;
        remove_sub(s, s->subs[k]);
    }
    u = calloc(1, sizeof(*u));
    if (!u)
        return;
    memcpy(u->rid, rid, rid_len);
    u->rid_len = rid_len;
    snprintf(u->consumer, sizeof(u->consumer), "%s", consumer);
    u->kinds = kinds ? kinds : K_ALL;
    for (size_t i = 0; i < q->n_agencies; i++)
        if ((u->agencies[u->n_agencies] = strdup(q->agencies[i])))
            u->n_agencies++;
    if (q->procedure_prefix && q->procedure_prefix[0])
        u->prefix = strdup(q->procedure_prefix);
    bool found;
    u->acked = load_cursor(s, consumer, &found);
    u->ack_staged = u->acked;
    uint64_t last = lt_store_last_seq(s->store);
    if (found && !(q->has_reset && q->reset))
        u->next_seq = u->acked + 1;
    else if (q->start == LIENTHONG__V1__SUBSCRIBE__START__LATEST)
        u->next_seq = last + 1;
    else if (q->start == LIENTHONG__V1__SUBSCRIBE__START__SEQ)
        u->next_seq = q->from_seq ? q->from_seq : 1;
    else
        u->next_seq = 1;
    uint32_t credit = q->has_credit ? q->credit : 0;
    u->credit = credit > s->cfg->streams_max_credit ? (uint32_t)s->cfg->streams_max_credit : credit;
    u->seen_ms = lt_time_now_ms();
    u->more = true;
    s->subs[s->n_subs++] = u;

    Lienthong__V1__Subscribed ok = LIENTHONG__V1__SUBSCRIBED__INIT;
    ok.consumer = u->consumer;
    ok.has_cursor = true;
    ok.cursor = u->acked;
    ok.has_next_seq = true;
    ok.next_seq = u->next_seq;
    ok.has_last_seq = true;
    ok.last_seq = last;
    ok.has_credit = true;
    ok.credit = u->credit; /* what was granted, after streams.max_credit */
    Lienthong__V1__StreamMessage m = LIENTHONG__V1__STREAM_MESSAGE__INIT;
    m.has_version = true;
    m.version = 1;
    m.body_case = LIENTHONG__V1__STREAM_MESSAGE__BODY_SUBSCRIBED;
    m.subscribed = &ok;
    send_msg(s, rid, rid_len, &m);
    /* a client re-subscribing under its own name (after a silence) is routine */
    lt_log_at(resubscribe ? LT_LOG_DEBUG : LT_LOG_INFO,
              "stream subscribed consumer=%s next_seq=%" PRIu64 " cursor=%" PRIu64 " credit=%u",
              u->consumer, u->next_seq, u->acked, u->credit);
}

static void send_acked(lt_stream *s, sub *u);

static void on_request(lt_stream *s, const uint8_t *rid, size_t rid_len, const uint8_t *data,
                       size_t len)
{
    Lienthong__V1__StreamRequest *q = lienthong__v1__stream_request__unpack(NULL, len, data);
    if (!q) {
        send_error(s, rid, rid_len, "request does not decode as a StreamRequest");
        return;
    }
    sub *u = find_by_rid(s, rid, rid_len);
    if (q->has_version && q->version != 1) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unsupported version %u (this daemon speaks version 1)",
                 q->version);
        send_error(s, rid, rid_len, msg);
    } else if (q->body_case == LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE) {
        if (!consumer_ok(q->consumer))
            send_error(s, rid, rid_len,
                       "consumer must be 1-127 printable ASCII characters without spaces");
        else
            on_subscribe(s, rid, rid_len, q->consumer, q->subscribe);
    } else if (!u) {
        send_error(s, rid, rid_len, "subscribe first");
    } else if (q->body_case == LIENTHONG__V1__STREAM_REQUEST__BODY_CREDIT) {
        uint64_t c = (uint64_t)u->credit + q->credit->n;
        u->credit = c > (uint64_t)s->cfg->streams_max_credit ? (uint32_t)s->cfg->streams_max_credit
                                                             : (uint32_t)c;
        u->more = true;
        u->seen_ms = lt_time_now_ms();
    } else if (q->body_case == LIENTHONG__V1__STREAM_REQUEST__BODY_ACK) {
        uint64_t seq = q->ack->seq;
        if (seq >= u->next_seq) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "ack %" PRIu64 " is beyond the last record sent (%" PRIu64 ")", seq,
                     u->next_seq - 1);
            send_error(s, rid, rid_len, msg);
        } else if (seq > u->ack_staged) {
            u->ack_staged = seq;
        } else if (u->ack_staged == u->acked) {
            /* nothing newer to commit: confirm where the cursor stands, so a
             * client waiting for Acked is not left hanging */
            send_acked(s, u);
        }
        u->seen_ms = lt_time_now_ms();
    } else {
        send_error(s, rid, rid_len, "empty request");
    }
    lienthong__v1__stream_request__free_unpacked(q, NULL);
}

void lt_stream_poll(lt_stream *s)
{
    if (!s->sock)
        return;
    for (int n = 0; n < 10000; n++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&id) && zmq_msg_recv(&body, s->sock, 0) >= 0;
        /* skip an empty delimiter (REQ-style clients) */
        if (ok && zmq_msg_size(&body) == 0 && zmq_msg_more(&body)) {
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            ok = zmq_msg_recv(&body, s->sock, 0) >= 0;
        }
        bool extra = ok && zmq_msg_more(&body);
        while (extra) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, s->sock, 0);
            extra = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        if (ok && zmq_msg_size(&id) <= RID_MAX)
            on_request(s, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
                       zmq_msg_size(&body));
        zmq_msg_close(&body);
        zmq_msg_close(&id);
    }
}

bool lt_stream_has_staged(const lt_stream *s)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (s->subs[i]->ack_staged > s->subs[i]->acked)
            return true;
    return false;
}

int lt_stream_stage(lt_stream *s, lt_store_txn *t)
{
    int64_t now = lt_time_now_ms();
    for (size_t i = 0; i < s->n_subs; i++) {
        sub *u = s->subs[i];
        if (u->ack_staged <= u->acked)
            continue;
        Lienthong__V1__Cursor c = LIENTHONG__V1__CURSOR__INIT;
        c.has_acked_seq = true;
        c.acked_seq = u->ack_staged;
        c.has_updated_ms = true;
        c.updated_ms = now;
        uint8_t buf[64];
        size_t len = lienthong__v1__cursor__pack(&c, buf);
        int r = lt_store_kv_put(t, LT_STORE_DB_CURSORS, u->consumer, strlen(u->consumer), buf, len);
        if (r < 0)
            return r;
    }
    return 0;
}

static void send_acked(lt_stream *s, sub *u)
{
    Lienthong__V1__Acked a = LIENTHONG__V1__ACKED__INIT;
    a.has_seq = true;
    a.seq = u->acked;
    Lienthong__V1__StreamMessage m = LIENTHONG__V1__STREAM_MESSAGE__INIT;
    m.has_version = true;
    m.version = 1;
    m.body_case = LIENTHONG__V1__STREAM_MESSAGE__BODY_ACKED;
    m.acked = &a;
    send_msg(s, u->rid, u->rid_len, &m);
}

void lt_stream_committed(lt_stream *s, bool ok)
{
    if (!ok)
        return;
    for (size_t i = 0; i < s->n_subs; i++) {
        sub *u = s->subs[i];
        if (u->ack_staged <= u->acked)
            continue;
        u->acked = u->ack_staged;
        send_acked(s, u);
    }
}

/* Does the stored event pass the subscriber's filters? */
static bool matches(const sub *u, const lt_stored_event *se)
{
    const lt_event *ev = se->event;
    bool is_result = ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT;
    bool failed = is_result && ev->result->kind && strcmp(ev->result->kind, "delivery_failed") == 0;
    unsigned k = failed ? K_FAILED : is_result ? K_RESULT : K_STATUS;
    if (!(u->kinds & k))
        return false;
    if (u->prefix &&
        (!ev->procedure_code || strncmp(ev->procedure_code, u->prefix, strlen(u->prefix)) != 0))
        return false;
    if (u->n_agencies == 0)
        return true;
    const char *from = is_result ? ev->result->from_agency : NULL;
    for (size_t i = 0; i < u->n_agencies; i++)
        if ((ev->agency_code && strcmp(ev->agency_code, u->agencies[i]) == 0) ||
            (from && strcmp(from, u->agencies[i]) == 0))
            return true;
    return false;
}

typedef struct pump_ctx {
    lt_stream *s;
    sub *u;
    unsigned sent, scanned;
    int err;
} pump_ctx;

static int pump_one(uint64_t seq, const lt_stored_event *se, void *arg)
{
    pump_ctx *c = arg;
    sub *u = c->u;
    if (c->scanned++ >= SCAN_PER_PASS || c->sent >= SEND_PER_PASS || u->credit == 0)
        return 1;
    if (matches(u, se)) {
        Lienthong__V1__StreamRecord rec = LIENTHONG__V1__STREAM_RECORD__INIT;
        rec.has_seq = true;
        rec.seq = seq;
        rec.event = (lt_stored_event *)se;
        Lienthong__V1__StreamMessage m = LIENTHONG__V1__STREAM_MESSAGE__INIT;
        m.has_version = true;
        m.version = 1;
        m.body_case = LIENTHONG__V1__STREAM_MESSAGE__BODY_RECORD;
        m.record = &rec;
        int r = send_msg(c->s, u->rid, u->rid_len, &m);
        if (r < 0) {
            c->err = r;
            return 1; /* not sent: next_seq stays, the record goes out later */
        }
        u->credit--;
        c->sent++;
    }
    u->next_seq = seq + 1;
    return 0;
}

static int pub_one(uint64_t seq, const lt_stored_event *se, void *arg)
{
    lt_stream *s = arg;
    Lienthong__V1__StreamRecord rec = LIENTHONG__V1__STREAM_RECORD__INIT;
    rec.has_seq = true;
    rec.seq = seq;
    rec.event = (lt_stored_event *)se;
    size_t len = lienthong__v1__stream_record__get_packed_size(&rec);
    if (grow_buf(s, len) < 0)
        return -ENOMEM;
    lienthong__v1__stream_record__pack(&rec, s->buf);
    /* topic frame: kind.procedure, so SUBSCRIBE "result." works */
    char topic[300];
    bool is_result = se->event->body_case == LIENTHONG__V1__EVENT__BODY_RESULT;
    int n = snprintf(topic, sizeof(topic), "%s.%s", is_result ? "result" : "status",
                     se->event->procedure_code ? se->event->procedure_code : "");
    if (n > (int)sizeof(topic) - 1)
        n = (int)sizeof(topic) - 1;
    zmq_send(s->pub, topic, (size_t)n, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(s->pub, s->buf, len, ZMQ_DONTWAIT);
    s->pub_next = seq + 1;
    return 0;
}

void lt_stream_pump(lt_stream *s)
{
    uint64_t last = lt_store_last_seq(s->store);
    bool work = s->pub && s->pub_next <= last;
    for (size_t i = 0; i < s->n_subs; i++) {
        sub *u = s->subs[i];
        if (u->credit > 0 && u->next_seq <= last)
            work = true;
        else
            u->more = false; /* caught up or out of credit: nothing to wake up for */
    }
    if (!work)
        return;
    lt_store_txn *t = NULL;
    if (lt_store_txn_begin(s->store, false, false, &t) < 0)
        return;
    if (s->pub && s->pub_next <= last)
        lt_store_walk_log(t, s->pub_next, 0, pub_one, s);
    for (size_t i = 0; i < s->n_subs;) {
        sub *u = s->subs[i];
        u->more = false;
        if (u->credit == 0 || u->next_seq > last) {
            i++;
            continue;
        }
        pump_ctx c = { s, u, 0, 0, 0 };
        lt_store_walk_log(t, u->next_seq, 0, pump_one, &c);
        if (c.err == -EHOSTUNREACH) {
            lt_log_info("stream subscriber gone consumer=%s cursor=%" PRIu64, u->consumer,
                        u->acked);
            remove_sub(s, u); /* swapped with the last: look at index i again */
            continue;
        }
        u->more = c.err == 0 && u->credit > 0 && u->next_seq <= last;
        u->blocked = c.err == -EAGAIN;
        i++;
    }
    lt_store_txn_abort(&t);
}

long lt_stream_timeout_ms(const lt_stream *s, long max_ms)
{
    long t = max_ms;
    for (size_t i = 0; i < s->n_subs; i++) {
        if (s->subs[i]->more)
            return 0;
        /* nothing wakes the loop when a subscriber drains its queue */
        if (s->subs[i]->blocked && s->subs[i]->credit > 0 && t > RETRY_MS)
            t = RETRY_MS;
    }
    return t;
}
