/* outbox.c - delivery records and their indexes; see outbox.h. */
#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 512

#define ST(x) LIENTHONG__V1__DELIVERY__STATE__##x

static void put_be64(uint64_t v, uint8_t *out)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* delivery key: BE64(seq) agency */
static int delivery_key(uint64_t seq, const char *agency, uint8_t *buf)
{
    size_t a = strlen(agency);
    if (a == 0 || a + 8 > KEY_MAX)
        return -E2BIG;
    put_be64(seq, buf);
    memcpy(buf + 8, agency, a);
    return (int)(8 + a);
}

/* outbox key: agency \0 BE64(seq) */
static int outbox_key(const char *agency, uint64_t seq, uint8_t *buf)
{
    size_t a = strlen(agency);
    if (a == 0 || a + 9 > KEY_MAX)
        return -E2BIG;
    memcpy(buf, agency, a);
    buf[a] = 0;
    put_be64(seq, buf + a + 1);
    return (int)(a + 9);
}

/* dead key: agency \0 dossier \0 BE64(seq); with seq_too false only the prefix. */
static int dead_key(const char *agency, const char *dossier, uint64_t seq, bool seq_too,
                    uint8_t *buf)
{
    size_t a = strlen(agency), d = strlen(dossier);
    if (a == 0 || a + d + 10 > KEY_MAX)
        return -E2BIG;
    memcpy(buf, agency, a);
    buf[a] = 0;
    memcpy(buf + a + 1, dossier, d);
    buf[a + 1 + d] = 0;
    if (!seq_too)
        return (int)(a + d + 2);
    put_be64(seq, buf + a + d + 2);
    return (int)(a + d + 10);
}

static int put_delivery(lt_store_txn *t, const lt_delivery *d)
{
    uint8_t key[KEY_MAX];
    int klen = delivery_key(d->seq, d->agency, key);
    if (klen < 0)
        return klen;
    size_t len = lienthong__v1__delivery__get_packed_size(d);
    uint8_t stackbuf[1024], *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (!buf)
        return -ENOMEM;
    lienthong__v1__delivery__pack(d, buf);
    int r = lt_store_kv_put(t, LT_STORE_DB_DELIVERY, key, (size_t)klen, buf, len);
    if (buf != stackbuf)
        free(buf);
    return r;
}

int lt_outbox_get(lt_store_txn *t, const char *agency, uint64_t seq, lt_delivery **ret)
{
    uint8_t key[KEY_MAX];
    int klen = delivery_key(seq, agency, key);
    if (klen < 0)
        return LT_ERR_NOT_FOUND;
    void *val;
    size_t len;
    int r = lt_store_kv_get(t, LT_STORE_DB_DELIVERY, key, (size_t)klen, &val, &len);
    if (r < 0)
        return r;
    *ret = lienthong__v1__delivery__unpack(NULL, len, val);
    free(val);
    return *ret ? 0 : LT_ERR_STORE;
}

int lt_outbox_add(lt_store_txn *t, const char *agency, uint64_t seq, const char *dossier,
                  int64_t now_ms, const char *rule)
{
    lt_delivery d = LIENTHONG__V1__DELIVERY__INIT;
    d.agency = (char *)agency;
    d.has_seq = true;
    d.seq = seq;
    d.dossier_code = (char *)dossier;
    d.has_state = true;
    d.state = ST(PENDING);
    d.has_attempts = true;
    d.has_created_ms = true;
    d.created_ms = now_ms;
    d.rule = (char *)rule;
    uint8_t key[KEY_MAX];
    int klen = outbox_key(agency, seq, key), r;
    if (klen < 0)
        return klen;
    if ((r = put_delivery(t, &d)) < 0)
        return r;
    return lt_store_kv_put(t, LT_STORE_DB_OUTBOX, key, (size_t)klen, dossier, strlen(dossier));
}

typedef struct pending_walk {
    size_t prefix;
    lt_outbox_pending_fn fn;
    void *arg;
} pending_walk;

static int pending_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    pending_walk *w = arg;
    char dossier[KEY_MAX];
    if (klen != w->prefix + 8 || vlen >= sizeof(dossier))
        return LT_ERR_STORE;
    memcpy(dossier, val, vlen);
    dossier[vlen] = '\0';
    return w->fn(get_be64((const uint8_t *)key + w->prefix), dossier, w->arg);
}

int lt_outbox_walk_pending(lt_store_txn *t, const char *agency, uint64_t from,
                           lt_outbox_pending_fn fn, void *arg)
{
    uint8_t start[KEY_MAX];
    int klen = outbox_key(agency, from, start);
    if (klen < 0)
        return klen;
    pending_walk w = { (size_t)klen - 8, fn, arg };
    return lt_store_kv_walk(t, LT_STORE_DB_OUTBOX, start, w.prefix, start, (size_t)klen,
                            pending_one, &w);
}

static int found(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
    (void)k, (void)kl, (void)v, (void)vl;
    *(bool *)arg = true;
    return 1;
}

bool lt_outbox_held(lt_store_txn *t, const char *agency, const char *dossier)
{
    uint8_t prefix[KEY_MAX];
    int plen = dead_key(agency, dossier, 0, false, prefix);
    bool any = false;
    if (plen < 0)
        return false;
    lt_store_kv_walk(t, LT_STORE_DB_DEAD, prefix, (size_t)plen, NULL, 0, found, &any);
    return any;
}

/* Load a pending delivery for an outcome; LT_ERR_NOT_FOUND when not pending. */
static int load_pending(lt_store_txn *t, const char *agency, uint64_t seq, lt_delivery **ret)
{
    int r = lt_outbox_get(t, agency, seq, ret);
    if (r < 0)
        return r;
    if ((*ret)->state != ST(PENDING)) {
        lienthong__v1__delivery__free_unpacked(*ret, NULL);
        *ret = NULL;
        return LT_ERR_NOT_FOUND;
    }
    return 0;
}

static int unindex_pending(lt_store_txn *t, const lt_delivery *d)
{
    uint8_t key[KEY_MAX];
    int klen = outbox_key(d->agency, d->seq, key);
    if (klen < 0)
        return klen;
    int r = lt_store_kv_del(t, LT_STORE_DB_OUTBOX, key, (size_t)klen);
    return r == LT_ERR_NOT_FOUND ? 0 : r;
}

/* Replace a string field of a record we own (unpacked with the default allocator). */
static int set_str(char **field, const char *s)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        return -ENOMEM;
    free(*field);
    *field = c;
    return 0;
}

/* pending -> state (DELIVERED or SKIPPED), out of the outbox */
static int settle(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms, int state,
                  const char *message)
{
    lt_delivery *d;
    int r = load_pending(t, agency, seq, &d);
    if (r < 0)
        return r;
    d->state = state;
    d->has_done_ms = true;
    d->done_ms = now_ms;
    if (state == ST(DELIVERED)) {
        d->has_attempts = true;
        d->attempts++;
        d->has_last_attempt_ms = true;
        d->last_attempt_ms = now_ms;
    }
    if ((r = set_str(&d->reply, message)) == 0 && (r = put_delivery(t, d)) == 0)
        r = unindex_pending(t, d);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

int lt_outbox_delivered(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                        const char *message)
{
    return settle(t, agency, seq, now_ms, ST(DELIVERED), message);
}

int lt_outbox_skipped(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                      const char *why)
{
    return settle(t, agency, seq, now_ms, ST(SKIPPED), why);
}

int lt_outbox_retry(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                    int64_t next_ms, const char *error)
{
    lt_delivery *d;
    int r = load_pending(t, agency, seq, &d);
    if (r < 0)
        return r;
    d->has_attempts = true;
    d->attempts++;
    d->has_last_attempt_ms = true;
    d->last_attempt_ms = now_ms;
    d->has_next_attempt_ms = true;
    d->next_attempt_ms = next_ms;
    if ((r = set_str(&d->last_error, error)) == 0)
        r = put_delivery(t, d);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

int lt_outbox_mark_first(lt_store_txn *t, const char *agency, uint64_t seq, int64_t ms)
{
    lt_delivery *d;
    int r = lt_outbox_get(t, agency, seq, &d);
    if (r < 0)
        return r;
    d->has_first_sent_ms = ms != 0;
    d->first_sent_ms = ms;
    r = put_delivery(t, d);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

int lt_outbox_dead(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                   const char *error)
{
    lt_delivery *d;
    int r = load_pending(t, agency, seq, &d);
    if (r < 0)
        return r;
    d->state = ST(DEAD);
    d->has_attempts = true;
    d->attempts++;
    d->has_last_attempt_ms = true;
    d->last_attempt_ms = now_ms;
    d->has_done_ms = true;
    d->done_ms = now_ms;
    uint8_t key[KEY_MAX];
    int klen = dead_key(agency, d->dossier_code, seq, true, key);
    if (klen < 0)
        r = klen;
    if (r == 0)
        r = set_str(&d->last_error, error);
    if (r == 0)
        r = put_delivery(t, d);
    if (r == 0)
        r = unindex_pending(t, d);
    if (r == 0)
        r = lt_store_kv_put(t, LT_STORE_DB_DEAD, key, (size_t)klen, "", 0);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

/* One dead letter -> pending (requeue) or dropped. */
static int undead(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms, bool requeue)
{
    lt_delivery *d;
    int r = lt_outbox_get(t, agency, seq, &d);
    if (r < 0)
        return r;
    if (d->state != ST(DEAD)) {
        lienthong__v1__delivery__free_unpacked(d, NULL);
        return LT_ERR_NOT_FOUND;
    }
    uint8_t key[KEY_MAX];
    int klen = dead_key(agency, d->dossier_code, seq, true, key);
    r = klen < 0 ? klen : lt_store_kv_del(t, LT_STORE_DB_DEAD, key, (size_t)klen);
    if (r == 0 && requeue) {
        d->state = ST(PENDING);
        d->attempts = 0;
        d->created_ms = now_ms; /* max_age_s counts from the requeue */
        d->has_next_attempt_ms = true;
        d->next_attempt_ms = 0;
        d->has_done_ms = false;
        d->done_ms = 0;
        klen = outbox_key(agency, seq, key);
        r = klen < 0 ? klen
                     : lt_store_kv_put(t, LT_STORE_DB_OUTBOX, key, (size_t)klen, d->dossier_code,
                                       strlen(d->dossier_code));
    } else if (r == 0) {
        d->state = ST(DROPPED);
        d->has_done_ms = true;
        d->done_ms = now_ms;
    }
    if (r == 0)
        r = put_delivery(t, d);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

/* Sequence numbers of an agency's dead letters, collected before changing them. */
typedef struct seq_list {
    uint64_t *v;
    size_t n, cap;
    size_t prefix;
} seq_list;

static int collect_dead(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    seq_list *l = arg;
    if (klen < l->prefix + 8)
        return LT_ERR_STORE;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint64_t *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = get_be64((const uint8_t *)key + klen - 8);
    return 0;
}

static int undead_many(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                       bool requeue, unsigned *ret_n)
{
    unsigned n = 0;
    int r = 0;
    if (seq) {
        r = undead(t, agency, seq, now_ms, requeue);
        n = r == 0;
    } else {
        uint8_t prefix[KEY_MAX];
        size_t a = strlen(agency);
        if (a == 0 || a + 1 > KEY_MAX)
            return -E2BIG;
        memcpy(prefix, agency, a);
        prefix[a] = 0;
        seq_list l = { .prefix = a + 1 };
        r = lt_store_kv_walk(t, LT_STORE_DB_DEAD, prefix, a + 1, NULL, 0, collect_dead, &l);
        for (size_t i = 0; r == 0 && i < l.n; i++) {
            r = undead(t, agency, l.v[i], now_ms, requeue);
            n += r == 0;
            if (r == LT_ERR_NOT_FOUND)
                r = 0;
        }
        free(l.v);
        if (r == 0 && n == 0)
            r = LT_ERR_NOT_FOUND;
    }
    if (ret_n)
        *ret_n = n;
    return r;
}

int lt_outbox_requeue(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                      unsigned *ret_n)
{
    return undead_many(t, agency, seq, now_ms, true, ret_n);
}

int lt_outbox_drop(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                   unsigned *ret_n)
{
    return undead_many(t, agency, seq, now_ms, false, ret_n);
}

typedef struct dead_walk {
    lt_store_txn *t;
    lt_outbox_delivery_fn fn;
    void *arg;
} dead_walk;

static int dead_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    dead_walk *w = arg;
    const char *agency = key; /* NUL-terminated: agency \0 dossier \0 seq */
    if (klen < 10 || !memchr(key, 0, klen - 8))
        return LT_ERR_STORE;
    lt_delivery *d;
    int r = lt_outbox_get(w->t, agency, get_be64((const uint8_t *)key + klen - 8), &d);
    if (r < 0)
        return r == LT_ERR_NOT_FOUND ? 0 : r;
    r = w->fn(d, w->arg);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

int lt_outbox_walk_dead(lt_store_txn *t, const char *agency, lt_outbox_delivery_fn fn, void *arg)
{
    uint8_t prefix[KEY_MAX];
    size_t plen = 0;
    if (agency) {
        plen = strlen(agency);
        if (plen == 0 || plen + 1 > KEY_MAX)
            return -E2BIG;
        memcpy(prefix, agency, plen);
        prefix[plen++] = 0;
    }
    dead_walk w = { t, fn, arg };
    return lt_store_kv_walk(t, LT_STORE_DB_DEAD, prefix, plen, NULL, 0, dead_one, &w);
}

static int event_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    dead_walk *w = arg;
    lt_delivery *d = lienthong__v1__delivery__unpack(NULL, vlen, val);
    if (!d)
        return LT_ERR_STORE;
    int r = w->fn(d, w->arg);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return r;
}

int lt_outbox_walk_event(lt_store_txn *t, uint64_t seq, lt_outbox_delivery_fn fn, void *arg)
{
    uint8_t prefix[8];
    put_be64(seq, prefix);
    dead_walk w = { t, fn, arg };
    return lt_store_kv_walk(t, LT_STORE_DB_DELIVERY, prefix, 8, NULL, 0, event_one, &w);
}

typedef struct count_walk {
    lt_store_txn *t;
    const char *agency;
    lt_outbox_counts *c;
} count_walk;

static int count_pending(uint64_t seq, const char *dossier, void *arg)
{
    count_walk *w = arg;
    w->c->pending++;
    if (lt_outbox_held(w->t, w->agency, dossier))
        w->c->held++;
    lt_delivery *d;
    if (lt_outbox_get(w->t, w->agency, seq, &d) == 0) {
        if (!w->c->oldest_created_ms || d->created_ms < w->c->oldest_created_ms)
            w->c->oldest_created_ms = d->created_ms;
        if (d->attempts > w->c->max_attempts || (d->attempts && !w->c->last_error[0])) {
            w->c->max_attempts =
                d->attempts > w->c->max_attempts ? d->attempts : w->c->max_attempts;
            if (d->last_error)
                snprintf(w->c->last_error, sizeof(w->c->last_error), "%s", d->last_error);
        }
        lienthong__v1__delivery__free_unpacked(d, NULL);
    }
    return 0;
}

static int count_dead(const lt_delivery *d, void *arg)
{
    (void)d;
    ((lt_outbox_counts *)arg)->dead++;
    return 0;
}

int lt_outbox_count(lt_store_txn *t, const char *agency, lt_outbox_counts *ret)
{
    memset(ret, 0, sizeof(*ret));
    count_walk w = { t, agency, ret };
    int r = lt_outbox_walk_pending(t, agency, 0, count_pending, &w);
    if (r == 0)
        r = lt_outbox_walk_dead(t, agency, count_dead, ret);
    return r;
}
