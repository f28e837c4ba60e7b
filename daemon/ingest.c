/* ingest.c - the ingest loop: drain the ROUTER socket, validate, group-commit
 * to LMDB, then reply. See ingest.h for the contract and docs/ARCHITECTURE.md
 * for where this sits in the path of an event. */
#include "ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "apply.h"
#include "arena.h"
#include "codec.h"
#include "log.h"
#include "timefmt.h"
#include "validate.h"
#include "worker.h"

#define ROUTING_ID_MAX    256
#define REPLY_MAX         2048
#define REPLY_MESSAGE_MAX 400

/* One submission of the batch in hand and the reply it will get. */
typedef struct item {
    uint8_t routing_id[ROUTING_ID_MAX];
    size_t routing_id_len;
    bool delimiter;         /* the client sent an empty frame before the payload */
    lt_submission *sub;     /* NULL when it could not be decoded */
    const uint8_t *payload; /* the Submission as received (in the arena), until admitted */
    size_t payload_len;
    const uint8_t *raw; /* the Event's bytes as received (in the payload), or NULL */
    size_t raw_len;
    uint64_t request_id;
    bool decided; /* reply fixed before the transaction (decode/validation) */
    int outcome;  /* LIENTHONG__V1__REPLY__OUTCOME__* */
    uint64_t seq;
    int code;
    char field[128];
    char message[REPLY_MESSAGE_MAX];
} item;

/* A batch of submissions: received on the loop's thread, admitted (decoded
 * and checked) there or on the admit thread, then staged and answered. */
typedef struct batch {
    lt_ingest *in;
    item *items;
    size_t n_items;
    lt_arena *arena; /* its payloads and decoded submissions */
    int64_t now_s;   /* when it was received, for the checks */
} batch;

struct lt_ingest {
    const lt_config *cfg;
    lt_store *store;
    void *sock;
    void *monitor;    /* PAIR receiving the ROUTER's connection events */
    int64_t hard_max; /* ZMQ_MAXMSGSIZE */
    lt_limits limits;
    batch b[3];
    batch *cur;        /* the batch of the pass: staged, then answered */
    batch *work;       /* being admitted on the admit thread, or NULL */
    lt_worker *worker; /* the admit thread */
    lt_ingest_counters counters;
    uint64_t committed; /* the transaction's last seq before the batch */
    int64_t staged_ms;  /* the acceptance time the batch was stored with */
    uint8_t reply_buf[REPLY_MAX];
    uint8_t *held; /* replies waiting for the journal's flush (held_reply) */
    size_t held_len, held_cap, held_sent, n_held;
};

/* The one place that decides who sent a submission. Until connections are
 * authenticated the sender names itself in the Submission; the issue that adds
 * CURVE keys replaces this with the identity ZAP verified for the connection. */
static const char *submission_sender(const item *it)
{
    return it->sub->sender;
}

/* Copy client-supplied text into buf for a log line: at most 64 bytes, and
 * nothing that could break the key=value format or forge a line. */
static const char *log_safe(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    if (!s)
        s = "";
    for (; *s && n + 1 < size && n < 64; s++)
        buf[n++] = (*s > ' ' && *s < 0x7f && *s != '"' && *s != '=') ? *s : '?';
    buf[n] = '\0';
    return n ? buf : "-";
}

static int setsockopt_int(void *sock, int opt, int64_t v, const char *name, lt_diag *reterr)
{
    int iv = (int)v;
    if (zmq_setsockopt(sock, opt, &iv, sizeof(iv)) < 0)
        return lt_diag_set(reterr, LT_ERR_ZMQ, 0, name, "zmq_setsockopt %s: %s", name,
                           zmq_strerror(errno));
    return 0;
}

static void limits_from_config(const lt_config *c, lt_limits *l)
{
    *l = lt_limits_default;
    l->clock_skew_s = c->clock_skew_s;
    l->max_field_bytes = c->max_field_bytes;
    l->max_text_bytes = c->max_text_bytes;
    l->max_attachments = c->max_attachments;
    l->max_data_entries = c->max_data_entries;
}

int lt_ingest_new(const lt_config *cfg, lt_store *store, void *zctx, lt_ingest **ret,
                  lt_diag *reterr)
{
    lt_ingest *in = calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    in->cfg = cfg;
    in->store = store;
    limits_from_config(cfg, &in->limits);
    for (int i = 0; i < 3; i++) {
        in->b[i].in = in;
        in->b[i].items = calloc((size_t)cfg->batch_max_events, sizeof(item));
        if (!in->b[i].items || lt_arena_new(1 << 20, 16u << 20, &in->b[i].arena) < 0) {
            lt_ingest_free(&in);
            return -ENOMEM;
        }
    }
    in->cur = &in->b[0];
    int wr = lt_worker_start(&in->worker);
    if (wr < 0) {
        lt_ingest_free(&in);
        return wr;
    }
    in->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!in->sock) {
        int r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "ingest.endpoint", "zmq_socket: %s",
                            zmq_strerror(errno));
        lt_ingest_free(&in);
        return r;
    }
    /* Above max_message_bytes a message is answered TOO_LARGE; far above it
     * libzmq drops the connection instead of buffering it. */
    int64_t hard_max = cfg->max_message_bytes * 4 + 4096;
    int r;
    if ((r = setsockopt_int(in->sock, ZMQ_ROUTER_MANDATORY, 1, "ROUTER_MANDATORY", reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_LINGER, 0, "LINGER", reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_SNDHWM, cfg->sndhwm, "SNDHWM", reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_RCVHWM, cfg->rcvhwm, "RCVHWM", reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_HEARTBEAT_IVL, cfg->heartbeat_ivl_ms, "HEARTBEAT_IVL",
                            reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_HEARTBEAT_TIMEOUT, cfg->heartbeat_timeout_ms,
                            "HEARTBEAT_TIMEOUT", reterr)) < 0 ||
        (r = setsockopt_int(in->sock, ZMQ_HEARTBEAT_TTL, cfg->heartbeat_timeout_ms, "HEARTBEAT_TTL",
                            reterr)) < 0) {
        lt_ingest_free(&in);
        return r;
    }
    if (zmq_setsockopt(in->sock, ZMQ_MAXMSGSIZE, &hard_max, sizeof(hard_max)) < 0) {
        r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "MAXMSGSIZE", "zmq_setsockopt MAXMSGSIZE: %s",
                        zmq_strerror(errno));
        lt_ingest_free(&in);
        return r;
    }
    if (zmq_bind(in->sock, cfg->ingest_endpoint) < 0) {
        r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "ingest.endpoint", "cannot bind %s: %s",
                        cfg->ingest_endpoint, zmq_strerror(errno));
        lt_ingest_free(&in);
        return r;
    }
    /* Connection events, so a connection libzmq drops (a message above the
     * hard limit, a heartbeat timeout) leaves a line in the log. */
    char mon[64];
    snprintf(mon, sizeof(mon), "inproc://lt-ingest-monitor-%p", (void *)in);
    in->hard_max = hard_max;
    if (zmq_socket_monitor(in->sock, mon, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) < 0 ||
        !(in->monitor = zmq_socket(zctx, ZMQ_PAIR)) || zmq_connect(in->monitor, mon) < 0) {
        r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "ingest.endpoint", "socket monitor: %s",
                        zmq_strerror(errno));
        lt_ingest_free(&in);
        return r;
    }
    *ret = in;
    return 0;
}

void lt_ingest_free(lt_ingest **p)
{
    if (!p || !*p)
        return;
    lt_ingest *in = *p;
    lt_worker_stop(&in->worker); /* finishes a batch in progress */
    if (in->monitor) {
        zmq_socket_monitor(in->sock, NULL, 0);
        int zero = 0;
        zmq_setsockopt(in->monitor, ZMQ_LINGER, &zero, sizeof(zero));
        zmq_close(in->monitor);
    }
    if (in->sock) {
        int linger = (int)in->cfg->shutdown_linger_ms;
        zmq_setsockopt(in->sock, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_close(in->sock);
    }
    for (int i = 0; i < 3; i++) {
        lt_arena_free(&in->b[i].arena);
        free(in->b[i].items);
    }
    free(in->held);
    free(in);
    *p = NULL;
}

void lt_ingest_pollitems(lt_ingest *in, zmq_pollitem_t ret[2])
{
    ret[0] = (zmq_pollitem_t){ in->sock, 0, ZMQ_POLLIN, 0 };
    ret[1] = (zmq_pollitem_t){ in->monitor, 0, ZMQ_POLLIN, 0 };
}

void lt_ingest_counters_get(const lt_ingest *in, lt_ingest_counters *ret)
{
    *ret = in->counters;
}

/* Copy s into buf, cut to fit. */
static void copy_cut(char *buf, size_t size, const char *s)
{
    size_t n = s ? strnlen(s, size - 1) : 0;
    memcpy(buf, s ? s : "", n);
    buf[n] = '\0';
}

/* Fix an item's reply as a rejection. */
static void reject(item *it, int code, const char *field, const char *message)
{
    it->outcome = LIENTHONG__V1__REPLY__OUTCOME__REJECTED;
    it->code = code;
    it->seq = 0;
    copy_cut(it->field, sizeof(it->field), field);
    copy_cut(it->message, sizeof(it->message), message);
}

static void log_rejection(const item *it)
{
    char a[72], b[72], c[72];
    const lt_event *ev = it->sub ? it->sub->event : NULL;
    lt_log_info("event rejected event_id=%s sender=%s dossier=%s request_id=%" PRIu64
                " code=%s field=%s msg=\"%s\"",
                log_safe(ev ? ev->event_id : NULL, a, sizeof(a)),
                log_safe(it->sub ? it->sub->sender : NULL, b, sizeof(b)),
                log_safe(ev ? ev->dossier_code : NULL, c, sizeof(c)), it->request_id,
                lt_codec_error_name(it->code), it->field[0] ? it->field : "-", it->message);
}

/* Decode and check what needs no stored state: on the loop's thread or on
 * the admit thread, touching only the item and b's arena. */
static void admit(batch *b, item *it)
{
    const lt_ingest *in = b->in;
    lt_diag d;
    lt_diag_clear(&d);
    const uint8_t *data = it->payload;
    size_t len = it->payload_len;
    it->payload = NULL;
    if (lt_codec_decode_submission_in(data, len, lt_arena_allocator(b->arena), &it->sub, &d) < 0) {
        it->request_id = lt_codec_peek_request_id(data, len);
        reject(it, d.code, d.field, d.message);
        return;
    }
    it->request_id = it->sub->request_id;
    /* keep the Event's bytes: the store saves them instead of encoding it again */
    const uint8_t *evb;
    size_t evlen;
    if (lt_codec_event_bytes(data, len, &evb, &evlen) == 0) {
        it->raw = evb;
        it->raw_len = evlen;
    }
    if (lt_validate_submission(it->sub, &in->limits, b->now_s, &d) < 0) {
        reject(it, d.code, d.field, d.message);
        return;
    }
    it->decided = false;
}

/* Admit every received item of the batch (the admit thread's job). */
static void admit_batch(void *arg)
{
    batch *b = arg;
    for (size_t i = 0; i < b->n_items; i++)
        if (b->items[i].payload)
            admit(b, &b->items[i]);
}

/* Receive one multipart message into a new item of b: its frames checked,
 * its payload copied into b's arena for admit(). Returns 1 when an item was
 * added, 0 when nothing is waiting, -1 on a socket error. */
static int receive_one(lt_ingest *in, batch *b, size_t *bytes)
{
    zmq_msg_t frames[3];
    int n = 0, more = 1, total = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, in->sock, total == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&frames[i]);
            if (e == EAGAIN && total == 0)
                return 0;
            if (e == EINTR && total == 0)
                return 0;
            lt_log_err("ingest receive failed err=\"%s\"", zmq_strerror(e));
            return -1;
        }
        more = zmq_msg_more(&m);
        total++;
        if (n < 3)
            frames[n++] = m;
        else
            zmq_msg_close(&m);
    }

    item *it = &b->items[b->n_items];
    memset(it, 0, sizeof(*it));
    size_t idlen = zmq_msg_size(&frames[0]);
    if (idlen > ROUTING_ID_MAX)
        idlen = ROUTING_ID_MAX; /* cannot happen: libzmq ids are at most 255 bytes */
    memcpy(it->routing_id, zmq_msg_data(&frames[0]), idlen);
    it->routing_id_len = idlen;
    it->decided = true;

    /* [id, payload] or [id, "", payload]; anything else is answered MALFORMED. */
    int payload = -1;
    if (total == 2)
        payload = 1;
    else if (total == 3 && zmq_msg_size(&frames[1]) == 0)
        payload = 2;
    it->delimiter = total >= 3 && zmq_msg_size(&frames[1]) == 0;
    if (payload < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "expected one Submission frame (optionally after an empty delimiter), got %d "
                 "frames",
                 total - 1);
        reject(it, LIENTHONG__V1__ERROR_CODE__MALFORMED, "", msg);
        lt_log_warn("frames rejected frames=%d code=MALFORMED", total - 1);
    } else {
        const uint8_t *data = zmq_msg_data(&frames[payload]);
        size_t len = zmq_msg_size(&frames[payload]);
        ProtobufCAllocator *pa = lt_arena_allocator(b->arena);
        uint8_t *copy = NULL;
        if (len > (size_t)in->cfg->max_message_bytes) {
            it->request_id = lt_codec_peek_request_id(data, len);
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "message is %zu bytes; the limit is %" PRId64 " (ingest.max_message_bytes)",
                     len, in->cfg->max_message_bytes);
            reject(it, LIENTHONG__V1__ERROR_CODE__TOO_LARGE, "", msg);
        } else if (!(copy = pa->alloc(pa->allocator_data, len ? len : 1))) {
            it->payload = data; /* no room to keep it: admit it now, from the frame */
            it->payload_len = len;
            admit(b, it);
            it->raw = NULL; /* it pointed into the frame */
        } else {
            memcpy(copy, data, len);
            it->payload = copy;
            it->payload_len = len;
        }
        *bytes += len;
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    b->n_items++;
    return 1;
}

int lt_ingest_stage(lt_ingest *in, lt_store_txn *t, size_t budget, uint32_t *ret_routed)
{
    int64_t now_ms = lt_time_now_ms();
    size_t stored = 0;
    in->committed = lt_store_next_seq(t) - 1;
    in->staged_ms = now_ms;
    for (size_t i = 0; i < in->cur->n_items; i++) {
        item *it = &in->cur->items[i];
        if (it->decided)
            continue;
        if (stored >= budget) {
            reject(it, LIENTHONG__V1__ERROR_CODE__STORE_FULL, "",
                   "the store is full (store.map_size_mb); the event was not stored");
            continue;
        }
        lt_apply_result res;
        int r = lt_apply_event_raw(t, in->cfg, submission_sender(it), it->sub->event, it->raw,
                                   it->raw_len, now_ms, &res);
        if (r != 0)
            return r; /* LT_APPLY_NEED_CAREFUL or fatal */
        it->outcome = res.outcome;
        it->seq = res.seq;
        if (res.outcome == LIENTHONG__V1__REPLY__OUTCOME__REJECTED)
            reject(it, res.code, res.field, res.message);
        if (res.outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED) {
            stored++;
            *ret_routed |= res.routed;
        }
    }
    return 0;
}

/* The bytes the accepted event of it is journaled as (packed into the arena
 * when the received bytes were not kept). */
static const uint8_t *event_bytes(lt_ingest *in, item *it, size_t *len)
{
    if (it->raw) {
        *len = it->raw_len;
        return it->raw;
    }
    size_t n = lienthong__v1__event__get_packed_size(it->sub->event);
    ProtobufCAllocator *pa = lt_arena_allocator(in->cur->arena);
    uint8_t *b = pa->alloc(pa->allocator_data, n ? n : 1);
    if (b)
        *len = lienthong__v1__event__pack(it->sub->event, b);
    return b;
}

int lt_ingest_journal(lt_ingest *in, lt_journal *j)
{
    for (size_t i = 0; i < in->cur->n_items; i++) {
        item *it = &in->cur->items[i];
        if (it->decided || it->outcome != LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED)
            continue;
        size_t len = 0;
        const uint8_t *b = event_bytes(in, it, &len);
        if (!b)
            return -ENOMEM;
        int r = lt_journal_add(j, it->seq, in->staged_ms, submission_sender(it), b, len);
        if (r < 0)
            return r;
    }
    return 0;
}

uint64_t lt_ingest_journal_bytes(const lt_ingest *in)
{
    uint64_t n = 0;
    for (size_t i = 0; i < in->cur->n_items; i++) {
        const item *it = &in->cur->items[i];
        if (!it->decided && it->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED)
            n += lt_journal_record_size(
                strlen(submission_sender(it)),
                it->raw ? it->raw_len : lienthong__v1__event__get_packed_size(it->sub->event));
    }
    return n;
}

size_t lt_ingest_pending(const lt_ingest *in)
{
    size_t n = 0;
    for (size_t i = 0; i < in->cur->n_items; i++)
        n += !in->cur->items[i].decided;
    return n;
}

void lt_ingest_store_full(lt_ingest *in)
{
    for (size_t i = 0; i < in->cur->n_items; i++) {
        item *it = &in->cur->items[i];
        /* a duplicate of an event earlier in this batch was not stored either */
        if (!it->decided && it->outcome != LIENTHONG__V1__REPLY__OUTCOME__REJECTED &&
            it->seq > in->committed)
            reject(it, LIENTHONG__V1__ERROR_CODE__STORE_FULL, "",
                   "the store is full (store.map_size_mb); the event was not stored");
    }
}

/* A reply encoded and held until the journal's flush with its ticket is
 * done; followed in in->held by the routing id, the event id (for logs) and
 * the reply's bytes. */
typedef struct held_reply {
    uint64_t ticket;
    uint64_t request_id;
    uint16_t id_len, reply_len;
    uint8_t delimiter, event_id_len;
} held_reply;

static int held_room(lt_ingest *in, size_t more)
{
    if (in->held_len + more <= in->held_cap)
        return 0;
    size_t cap = in->held_cap ? in->held_cap : 64 * 1024;
    while (cap < in->held_len + more)
        cap *= 2;
    uint8_t *b = realloc(in->held, cap);
    if (!b)
        return -ENOMEM;
    in->held = b;
    in->held_cap = cap;
    return 0;
}

/* Encode the reply of it and append it to the held replies with ticket. */
static void hold_reply(lt_ingest *in, item *it, uint64_t ticket)
{
    const lt_event *ev = it->sub ? it->sub->event : NULL;
    lt_reply rep = LIENTHONG__V1__REPLY__INIT;
    rep.has_version = true;
    rep.version = LT_WIRE_VERSION;
    rep.has_request_id = true;
    rep.request_id = it->request_id;
    rep.event_id = ev && ev->event_id ? ev->event_id : NULL;
    rep.has_outcome = true;
    rep.outcome = it->outcome;
    if (it->outcome == LIENTHONG__V1__REPLY__OUTCOME__REJECTED) {
        rep.has_code = true;
        rep.code = it->code;
        rep.field = it->field[0] ? it->field : NULL;
        rep.message = it->message;
    } else {
        rep.has_seq = true;
        rep.seq = it->seq;
    }
    int len = lt_codec_encode_reply(&rep, in->reply_buf, sizeof(in->reply_buf));
    if (len < 0 && rep.event_id) { /* an event_id too long for a reply: drop it */
        rep.event_id = NULL;
        len = lt_codec_encode_reply(&rep, in->reply_buf, sizeof(in->reply_buf));
    }
    char a[72];
    const char *eid = log_safe(ev ? ev->event_id : NULL, a, sizeof(a));
    held_reply h = { ticket,        it->request_id, (uint16_t)it->routing_id_len,
                     (uint16_t)len, it->delimiter,  (uint8_t)strlen(eid) };
    if (len < 0 || held_room(in, sizeof(h) + h.id_len + h.event_id_len + (size_t)len) < 0) {
        in->counters.dropped++;
        lt_log_err("reply could not be %s request_id=%" PRIu64 " event_id=%s",
                   len < 0 ? "encoded" : "kept (out of memory)", it->request_id, eid);
        return;
    }
    uint8_t *p = in->held + in->held_len;
    memcpy(p, &h, sizeof(h));
    memcpy(p += sizeof(h), it->routing_id, h.id_len);
    memcpy(p += h.id_len, eid, h.event_id_len);
    memcpy(p + h.event_id_len, in->reply_buf, (size_t)len);
    in->held_len += sizeof(h) + h.id_len + h.event_id_len + (size_t)len;
    in->n_held++;
}

static void send_held(lt_ingest *in, const held_reply *h, const uint8_t *id)
{
    const char *eid = (const char *)id + h->id_len;
    const uint8_t *reply = id + h->id_len + h->event_id_len;
    int flags = ZMQ_DONTWAIT | ZMQ_SNDMORE;
    if (zmq_send(in->sock, id, h->id_len, flags) < 0 ||
        (h->delimiter && zmq_send(in->sock, "", 0, flags) < 0) ||
        zmq_send(in->sock, reply, h->reply_len, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        in->counters.dropped++;
        if (e == EHOSTUNREACH)
            lt_log_info("reply unroutable, peer gone request_id=%" PRIu64 " event_id=%.*s",
                        h->request_id, (int)h->event_id_len, eid);
        else
            lt_log_warn("reply not sent request_id=%" PRIu64 " event_id=%.*s err=\"%s\"",
                        h->request_id, (int)h->event_id_len, eid, zmq_strerror(e));
    }
}

void lt_ingest_release(lt_ingest *in, uint64_t synced)
{
    while (in->held_sent < in->held_len) {
        held_reply h;
        memcpy(&h, in->held + in->held_sent, sizeof(h));
        if (h.ticket > synced) {
            if (in->held_sent >= in->held_len / 2) { /* under steady load it never empties */
                memmove(in->held, in->held + in->held_sent, in->held_len - in->held_sent);
                in->held_len -= in->held_sent;
                in->held_sent = 0;
            }
            return;
        }
        send_held(in, &h, in->held + in->held_sent + sizeof(h));
        in->held_sent += sizeof(h) + h.id_len + h.event_id_len + h.reply_len;
        in->n_held--;
    }
    in->held_len = in->held_sent = 0;
}

bool lt_ingest_readable(const lt_ingest *in)
{
    int events = 0;
    size_t len = sizeof(events);
    return zmq_getsockopt(in->sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

size_t lt_ingest_held(const lt_ingest *in)
{
    return in->n_held;
}

static void count_and_log(lt_ingest *in, const item *it)
{
    switch (it->outcome) {
    case LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED:
        in->counters.accepted++;
        if (lt_log_level >= LT_LOG_DEBUG) {
            char a[72], b[72], c[72];
            lt_log_debug("event accepted seq=%" PRIu64 " event_id=%s sender=%s dossier=%s", it->seq,
                         log_safe(it->sub->event->event_id, a, sizeof(a)),
                         log_safe(it->sub->sender, b, sizeof(b)),
                         log_safe(it->sub->event->dossier_code, c, sizeof(c)));
        }
        break;
    case LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE:
        in->counters.duplicate++;
        break;
    default:
        in->counters.rejected++;
        log_rejection(it);
        break;
    }
}

static void clear_batch(batch *b)
{
    for (size_t i = 0; i < b->n_items; i++)
        b->items[i].sub = NULL;
    lt_arena_reset(b->arena); /* every submission of the batch at once */
    b->n_items = 0;
}

void lt_ingest_hold(lt_ingest *in, uint64_t ticket)
{
    if (in->cur->n_items == 0)
        return;
    for (size_t i = 0; i < in->cur->n_items; i++) {
        count_and_log(in, &in->cur->items[i]);
        hold_reply(in, &in->cur->items[i], ticket);
    }
    in->counters.batches++;
    clear_batch(in->cur);
}

void lt_ingest_reply(lt_ingest *in)
{
    lt_ingest_hold(in, 0);
    lt_ingest_release(in, UINT64_MAX);
}

void lt_ingest_abandon(lt_ingest *in)
{
    lt_worker_wait(in->worker);
    in->work = NULL;
    for (int i = 0; i < 3; i++)
        clear_batch(&in->b[i]);
    in->held_len = in->held_sent = in->n_held = 0;
}

/* Log the connection events waiting on the monitor socket. */
void lt_ingest_on_monitor(lt_ingest *in)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, in->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, in->monitor, 0);
        uint16_t id = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&id, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        if (id == ZMQ_EVENT_ACCEPTED)
            lt_log_debug("connection accepted fd=%u", value);
        else if (id == ZMQ_EVENT_DISCONNECTED)
            lt_log_info("connection closed fd=%u (peer closed, heartbeat timeout, or a message "
                        "above the hard limit of %" PRId64 " bytes)",
                        value, in->hard_max);
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
}

/* The batch that is neither the pass's nor on the admit thread. */
static batch *spare(lt_ingest *in)
{
    for (int i = 0; i < 3; i++)
        if (&in->b[i] != in->cur && &in->b[i] != in->work)
            return &in->b[i];
    return NULL; /* cannot happen: three batches, two taken at most */
}

/* Wait until the ingest socket has a message (1), sigfd is readable or the
 * monotonic clock reaches deadline_us (0), or the poll failed (-1).
 * zmq_poll counts in ms, so this polls the socket's ZMQ_FD with ppoll's ns
 * timeout. ZMQ_FD is edge-triggered: ZMQ_EVENTS is asked before each poll
 * (it also takes in what signalled the fd). */
static int wait_readable(lt_ingest *in, int sigfd, int64_t deadline_us)
{
    int zfd = -1;
    size_t len = sizeof(zfd);
    if (zmq_getsockopt(in->sock, ZMQ_FD, &zfd, &len) < 0)
        return -1;
    for (;;) {
        if (lt_ingest_readable(in))
            return 1;
        int64_t left = deadline_us - lt_time_mono_us();
        if (left <= 0)
            return 0;
        struct pollfd fds[2] = { { zfd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
        struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };
        if (ppoll(fds, 2, &ts, NULL) < 0 && errno != EINTR)
            return -1;
        if (fds[1].revents & POLLIN)
            return 0;
    }
}

/* Receive what waits on the socket into the batch b, within max_events and
 * batch.max_bytes, when linger up to batch.max_wait_us for more (a readable
 * sigfd ends the linger). Returns 0, or -1 when the socket failed. */
static int receive_batch(lt_ingest *in, batch *b, int sigfd, size_t max_events, bool linger)
{
    const lt_config *c = in->cfg;
    size_t bytes = 0;
    int64_t deadline_us = 0;
    b->now_s = lt_time_now_ms() / 1000;
    for (;;) {
        while (b->n_items < max_events && bytes < (size_t)c->batch_max_bytes) {
            int r = receive_one(in, b, &bytes);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
        }
        if (!linger || c->batch_max_wait_us == 0 || b->n_items >= max_events ||
            bytes >= (size_t)c->batch_max_bytes)
            return 0;
        /* Linger up to batch.max_wait_us for more, so one fsync covers more events. */
        if (deadline_us == 0)
            deadline_us = lt_time_mono_us() + c->batch_max_wait_us;
        int r = wait_readable(in, sigfd, deadline_us);
        if (r <= 0)
            return r; /* the wait is over, or a signal came: the loop reads it */
    }
}

bool lt_ingest_working(const lt_ingest *in)
{
    return in->work != NULL;
}

int lt_ingest_fill(lt_ingest *in, int sigfd, size_t max_events, unsigned flags)
{
    if (max_events == 0 || max_events > (size_t)in->cfg->batch_max_events)
        max_events = (size_t)in->cfg->batch_max_events;
    if (in->cur->n_items) { /* not answered yet: add to it, here */
        if (in->work)
            return 0; /* what comes next must follow the batch on the admit thread */
        if ((flags & LT_INGEST_RECEIVE) && receive_batch(in, in->cur, sigfd, max_events, true) < 0)
            return -1;
        admit_batch(in->cur);
        return 0;
    }
    if (in->work) { /* admitted meanwhile on the admit thread: this pass's batch */
        lt_worker_wait(in->worker);
        in->cur = in->work;
        in->work = NULL;
    }
    if (!(flags & LT_INGEST_RECEIVE))
        return 0;
    batch *b = spare(in);
    /* no lingering for a batch received while one is in hand */
    if (receive_batch(in, b, sigfd, max_events, in->cur->n_items == 0) < 0)
        return -1;
    if (b->n_items == 0)
        return 0;
    if (in->cur->n_items == 0) {
        /* nothing admitted ahead: admit here; with a backlog start the pipeline */
        admit_batch(b);
        in->cur = b;
        if (!(flags & LT_INGEST_PIPELINE) || b->n_items < max_events || !lt_ingest_readable(in))
            return 0; /* no backlog: a thread hop would only add to the latency */
        b = spare(in);
        if (receive_batch(in, b, sigfd, max_events, false) < 0)
            return -1;
        if (b->n_items == 0)
            return 0;
    }
    /* the next pass's batch: decoded and checked on the admit thread while
     * this one is stored */
    in->work = b;
    in->counters.admitted_ahead++;
    lt_worker_post(in->worker, admit_batch, b);
    return 0;
}
