/* control.c - the control socket; see control.h. */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienthong/v1/control.pb-c.h"
#include "log.h"
#include "outbox.h"
#include "timefmt.h"

#define MAX_STAGED 256
#define RID_MAX    256

#define CMD(x) LIENTHONG__V1__CONTROL_REQUEST__COMMAND__##x

typedef struct staged {
    uint8_t rid[RID_MAX];
    size_t rid_len;
    bool delim; /* a REQ client: answer with the empty delimiter too */
    int command;
    char agency[64];
    uint64_t seq;
    unsigned affected;
    int err;
    char message[256];
} staged;

struct lt_control {
    const lt_config *cfg;
    lt_store *store;
    lt_delivery_engine *delivery;
    void *sock;
    staged st[MAX_STAGED];
    size_t n_st;
    bool delim; /* the request being handled came with a delimiter */
};

int lt_control_new(const lt_config *cfg, lt_store *store, lt_delivery_engine *delivery, void *zctx,
                   lt_control **ret, lt_diag *reterr)
{
    lt_control *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = cfg;
    c->store = store;
    c->delivery = delivery;
    int zero = 0;
    c->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_bind(c->sock, cfg->control_endpoint) < 0) {
        int r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "control.endpoint",
                            "cannot bind control.endpoint %s: %s", cfg->control_endpoint,
                            zmq_strerror(errno));
        lt_control_free(&c);
        return r;
    }
    *ret = c;
    return 0;
}

void lt_control_free(lt_control **p)
{
    if (!p || !*p)
        return;
    if ((*p)->sock)
        zmq_close((*p)->sock);
    free(*p);
    *p = NULL;
}

int lt_control_pollitems(lt_control *c, zmq_pollitem_t *items, int max)
{
    if (max < 1)
        return 0;
    items[0] = (zmq_pollitem_t){ c->sock, 0, ZMQ_POLLIN, 0 };
    return 1;
}

static void reply(lt_control *c, const uint8_t *rid, size_t rid_len,
                  const Lienthong__V1__ControlReply *r)
{
    size_t len = lienthong__v1__control_reply__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    lienthong__v1__control_reply__pack(r, buf);
    if (zmq_send(c->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        (!c->delim || zmq_send(c->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0))
        zmq_send(c->sock, buf, len, ZMQ_DONTWAIT);
    free(buf);
}

static void reply_error(lt_control *c, const uint8_t *rid, size_t rid_len, const char *msg)
{
    Lienthong__V1__ControlReply r = LIENTHONG__V1__CONTROL_REPLY__INIT;
    r.has_version = true;
    r.version = 1;
    r.has_ok = true;
    r.ok = false;
    r.message = (char *)msg;
    reply(c, rid, rid_len, &r);
}

static int agency_index(const lt_control *c, const char *name)
{
    for (size_t i = 0; name && i < c->cfg->n_agencies; i++)
        if (strcmp(c->cfg->agencies[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* QUEUES: store counts and live link state, per agency. */
static void answer_queues(lt_control *c, const uint8_t *rid, size_t rid_len)
{
    size_t n = c->cfg->n_agencies;
    Lienthong__V1__LinkStatus *ls = calloc(n ? n : 1, sizeof(*ls));
    Lienthong__V1__LinkStatus **lp = calloc(n ? n : 1, sizeof(*lp));
    lt_outbox_counts *cnt = calloc(n ? n : 1, sizeof(*cnt));
    lt_delivery_link_status *st = calloc(n ? n : 1, sizeof(*st));
    lt_store_txn *t = NULL;
    if (!ls || !lp || !cnt || !st || lt_store_txn_begin(c->store, false, false, &t) < 0) {
        reply_error(c, rid, rid_len, "out of memory or store unreadable");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        lienthong__v1__link_status__init(&ls[i]);
        lp[i] = &ls[i];
        lt_outbox_count(t, c->cfg->agencies[i].name, &cnt[i]);
        lt_delivery_link_status_get(c->delivery, i, &st[i]);
        ls[i].agency = (char *)st[i].agency;
        ls[i].state = (char *)st[i].state;
        ls[i].has_in_flight = ls[i].has_window = ls[i].has_pending = ls[i].has_dead = true;
        ls[i].in_flight = st[i].in_flight;
        ls[i].window = st[i].window;
        ls[i].pending = cnt[i].pending;
        ls[i].dead = cnt[i].dead;
        ls[i].has_held = true;
        ls[i].held = cnt[i].held;
        ls[i].has_oldest_pending_ms = cnt[i].oldest_created_ms != 0;
        ls[i].oldest_pending_ms = cnt[i].oldest_created_ms;
        ls[i].has_max_attempts_pending = true;
        ls[i].max_attempts_pending = cnt[i].max_attempts;
        ls[i].last_error = st[i].last_error[0]    ? st[i].last_error
                           : cnt[i].last_error[0] ? cnt[i].last_error
                                                  : NULL;
        ls[i].has_next_probe_ms = st[i].next_probe_ms != 0;
        ls[i].next_probe_ms = st[i].next_probe_ms;
        ls[i].has_delivered = true;
        ls[i].delivered = st[i].delivered;
    }
    Lienthong__V1__ControlReply r = LIENTHONG__V1__CONTROL_REPLY__INIT;
    r.has_version = true;
    r.version = 1;
    r.has_ok = true;
    r.ok = true;
    r.n_links = n;
    r.links = lp;
    reply(c, rid, rid_len, &r);
out:
    lt_store_txn_abort(&t);
    free(ls);
    free(lp);
    free(cnt);
    free(st);
}

static void on_request(lt_control *c, const uint8_t *rid, size_t rid_len, const uint8_t *data,
                       size_t len)
{
    Lienthong__V1__ControlRequest *q = lienthong__v1__control_request__unpack(NULL, len, data);
    if (!q) {
        reply_error(c, rid, rid_len, "request does not decode as a ControlRequest");
        return;
    }
    if (q->has_version && q->version != 1) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unsupported version %u (this daemon speaks version 1)",
                 q->version);
        reply_error(c, rid, rid_len, msg);
        goto out;
    }
    int cmd = q->has_command ? (int)q->command : 0;
    if (cmd == CMD(QUEUES)) {
        answer_queues(c, rid, rid_len);
        goto out;
    }
    if (cmd < CMD(PAUSE) || cmd > CMD(DROP)) {
        reply_error(c, rid, rid_len, "unknown command");
        goto out;
    }
    if (agency_index(c, q->agency) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no agency \"%.64s\" in the daemon's config",
                 q->agency ? q->agency : "");
        reply_error(c, rid, rid_len, msg);
        goto out;
    }
    if (c->n_st == MAX_STAGED) {
        reply_error(c, rid, rid_len, "busy: too many commands waiting; try again");
        goto out;
    }
    staged *s = &c->st[c->n_st++];
    memset(s, 0, sizeof(*s));
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    s->delim = c->delim;
    s->command = cmd;
    snprintf(s->agency, sizeof(s->agency), "%s", q->agency);
    s->seq = q->has_seq ? q->seq : 0;
    if (cmd == CMD(PAUSE) || cmd == CMD(RESUME))
        s->err = lt_delivery_set_paused(c->delivery, s->agency, cmd == CMD(PAUSE));
out:
    lienthong__v1__control_request__free_unpacked(q, NULL);
}

void lt_control_poll(lt_control *c)
{
    for (int n = 0; n < 1000; n++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&id) && zmq_msg_recv(&body, c->sock, 0) >= 0;
        c->delim = false;
        if (ok && zmq_msg_size(&body) == 0 && zmq_msg_more(&body)) { /* REQ delimiter */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            ok = zmq_msg_recv(&body, c->sock, 0) >= 0;
            c->delim = true;
        }
        bool extra = ok && zmq_msg_more(&body);
        while (extra) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, c->sock, 0);
            extra = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        if (ok && zmq_msg_size(&id) <= RID_MAX)
            on_request(c, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
                       zmq_msg_size(&body));
        zmq_msg_close(&body);
        zmq_msg_close(&id);
    }
}

bool lt_control_has_staged(const lt_control *c)
{
    return c->n_st > 0;
}

int lt_control_stage(lt_control *c, lt_store_txn *t, uint32_t *ret_routed)
{
    int64_t now = lt_time_now_ms();
    for (size_t i = 0; i < c->n_st; i++) {
        staged *s = &c->st[i];
        if (s->command != CMD(REQUEUE) && s->command != CMD(DROP))
            continue;
        bool requeue = s->command == CMD(REQUEUE);
        int r = requeue ? lt_outbox_requeue(t, s->agency, s->seq, now, &s->affected)
                        : lt_outbox_drop(t, s->agency, s->seq, now, &s->affected);
        s->err = r == LT_ERR_NOT_FOUND ? 0 : r;
        if (r == LT_ERR_NOT_FOUND)
            s->affected = 0;
        else if (r < 0 && r != -E2BIG)
            return r;
        if (s->affected) /* requeued, or released what waited behind */
            *ret_routed |= 1u << agency_index(c, s->agency);
    }
    return 0;
}

void lt_control_committed(lt_control *c, bool ok)
{
    for (size_t i = 0; i < c->n_st; i++) {
        staged *s = &c->st[i];
        Lienthong__V1__ControlReply r = LIENTHONG__V1__CONTROL_REPLY__INIT;
        r.has_version = true;
        r.version = 1;
        r.has_ok = true;
        r.ok = ok && s->err == 0;
        r.has_affected = true;
        r.affected = s->affected;
        char msg[256];
        const char *what = s->command == CMD(PAUSE)     ? "paused"
                           : s->command == CMD(RESUME)  ? "resumed"
                           : s->command == CMD(REQUEUE) ? "requeued"
                                                        : "dropped";
        if (!ok)
            snprintf(msg, sizeof(msg), "not done: the store could not commit (see the daemon log)");
        else if (s->err)
            snprintf(msg, sizeof(msg), "not done: %s", lt_strerror(s->err));
        else if (s->command == CMD(REQUEUE) || s->command == CMD(DROP))
            snprintf(msg, sizeof(msg), "%s %u dead letter%s of %s", what, s->affected,
                     s->affected == 1 ? "" : "s", s->agency);
        else
            snprintf(msg, sizeof(msg), "%s %s", s->agency, what);
        r.message = msg;
        c->delim = s->delim;
        reply(c, s->rid, s->rid_len, &r);
        if (ok && s->err == 0 && (s->command == CMD(REQUEUE) || s->command == CMD(DROP)))
            lt_log_info("dead letters %s agency=%s seq=%" PRIu64 " count=%u", what, s->agency,
                        s->seq, s->affected);
    }
    c->n_st = 0;
}
