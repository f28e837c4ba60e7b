/* delivery.c - the delivery engine; see delivery.h. */
#include "delivery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "apply.h"
#include "codec.h"
#include "dossier_view.h"
#include "link.h"
#include "log.h"
#include "outbox.h"
#include "route.h"
#include "timefmt.h"
#include "validate.h"

#define SCAN_MAX    20000 /* outbox entries looked at per agency per dispatch */
#define KEY_MAX     96
#define DOSSIER_MAX 256

#define ST(x) LIENTHONG__V1__DELIVERY__STATE__##x

/* One attempt on the wire, or settled and waiting for its outcome to commit. */
typedef struct flight {
    uint64_t seq;
    char key[KEY_MAX];
    char dossier[DOSSIER_MAX];
    int64_t deadline_ms; /* monotonic */
    uint32_t attempt;
    bool settled;
    bool probe; /* sent while the link was down */
    bool first; /* sent as the dossier's first delivery, after a committed mark */
} flight;

/* OC_ARM: commit the first-delivery mark; the request goes out after the commit. */
typedef enum { OC_DELIVERED, OC_SKIPPED, OC_RETRY, OC_DEAD, OC_PAUSE, OC_ARM } oc_kind;

/* A staged outcome, written in the next transaction. */
typedef struct outcome {
    size_t link;
    uint64_t seq;
    oc_kind kind;
    int64_t next_ms; /* OC_RETRY */
    bool paused;     /* OC_PAUSE */
    bool unmark;     /* OC_RETRY, OC_DEAD: the answer proves a first delivery was not acted on */
    char message[512];
    Lienthong__V1__LinkReply *reply; /* owned; carries the result, if any */
    const lt_event *result;          /* borrowed from reply */
    bool written;                    /* written in the current transaction */
} outcome;

typedef enum { LINK_CONNECTING, LINK_UP, LINK_DOWN } link_state;

/* Timers that live only in this process (an attempt's deadline, the next
 * probe) run on the monotonic clock (lt_time_mono_ms): a wall clock set
 * back would hold them for as long as the step. Retry times are stored in
 * the delivery records and so are dates (now_ms). */

typedef struct link_rt {
    const lt_config_agency *cfg;
    const lt_adapter *adapter;
    lt_link *link;
    flight *fl;
    size_t n_fl;
    link_state state;
    bool paused;
    int failures;            /* consecutive attempts without a reply */
    int64_t link_backoff_ms; /* probe spacing while down */
    int64_t probe_at_ms;     /* monotonic, 0 = none */
    bool dirty;              /* the outbox may hold something sendable */
    int64_t next_due_ms;     /* earliest backoff expiry seen by the last scan, 0 = none */
    uint64_t delivered;
    char last_error[256];
    /* Deliveries whose first-delivery mark this process committed and has not
     * sent yet: only these may go out as first deliveries. */
    uint64_t *armed;
    size_t n_armed, cap_armed;
} link_rt;

struct lt_delivery_engine {
    const lt_config *cfg;
    lt_store *store;
    link_rt *links;
    size_t n_links;
    outcome *oc;
    size_t n_oc, cap_oc;
    uint64_t rng;
};

static uint64_t rnd(lt_delivery_engine *d)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

/* v +-20%. */
static int64_t jitter(lt_delivery_engine *d, int64_t v)
{
    int64_t j = v / 5;
    if (j > 0)
        v += (int64_t)(rnd(d) % (uint64_t)(2 * j + 1)) - j;
    return v > 0 ? v : 1;
}

/* base * 2^(n-1), capped, with +-20% jitter, so retries of many deliveries spread out. */
static int64_t backoff_ms(lt_delivery_engine *d, const lt_config_agency *a, uint32_t n)
{
    int64_t v = a->backoff_initial_ms;
    for (uint32_t i = 1; i < n && v < a->backoff_max_ms; i++)
        v *= 2;
    if (v > a->backoff_max_ms)
        v = a->backoff_max_ms;
    return jitter(d, v);
}

static void copy_cut(char *buf, size_t size, const char *s)
{
    size_t n = s ? strnlen(s, size - 1) : 0;
    memcpy(buf, s ? s : "", n);
    buf[n] = '\0';
}

static outcome *stage(lt_delivery_engine *d, size_t link, uint64_t seq, oc_kind kind)
{
    if (d->n_oc == d->cap_oc) {
        size_t cap = d->cap_oc ? d->cap_oc * 2 : 64;
        outcome *n = realloc(d->oc, cap * sizeof(*n));
        if (!n)
            return NULL;
        d->oc = n;
        d->cap_oc = cap;
    }
    outcome *o = &d->oc[d->n_oc++];
    memset(o, 0, sizeof(*o));
    o->link = link;
    o->seq = seq;
    o->kind = kind;
    return o;
}

static flight *find_flight(link_rt *l, uint64_t seq)
{
    for (size_t i = 0; i < l->n_fl; i++)
        if (l->fl[i].seq == seq)
            return &l->fl[i];
    return NULL;
}

static void drop_flight(link_rt *l, uint64_t seq)
{
    for (size_t i = 0; i < l->n_fl; i++)
        if (l->fl[i].seq == seq) {
            l->fl[i] = l->fl[--l->n_fl];
            return;
        }
}

static bool is_armed(const link_rt *l, uint64_t seq)
{
    for (size_t i = 0; i < l->n_armed; i++)
        if (l->armed[i] == seq)
            return true;
    return false;
}

static void disarm(link_rt *l, uint64_t seq)
{
    for (size_t i = 0; i < l->n_armed; i++)
        if (l->armed[i] == seq) {
            l->armed[i] = l->armed[--l->n_armed];
            return;
        }
}

/* Room for n armed entries. Reserved before an OC_ARM is staged (for every
 * entry and flight the link has, plus one), so arm() after the commit cannot
 * fail. Returns false when out of memory. */
static bool reserve_armed(link_rt *l, size_t n)
{
    if (n <= l->cap_armed)
        return true;
    size_t cap = l->cap_armed ? l->cap_armed : 16;
    while (cap < n)
        cap *= 2;
    uint64_t *a = realloc(l->armed, cap * sizeof(*a));
    if (!a)
        return false;
    l->armed = a;
    l->cap_armed = cap;
    return true;
}

/* Returns false only when reserve_armed was not called first. */
static bool arm(link_rt *l, uint64_t seq)
{
    if (is_armed(l, seq))
        return true;
    if (l->n_armed == l->cap_armed && !reserve_armed(l, l->n_armed + 1))
        return false;
    l->armed[l->n_armed++] = seq;
    return true;
}

int lt_delivery_new(const lt_config *cfg, lt_store *store, void *zctx, lt_delivery_engine **ret,
                    lt_diag *reterr)
{
    lt_delivery_engine *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->cfg = cfg;
    d->store = store;
    d->rng = (uint64_t)lt_time_now_ms() | 1;
    d->n_links = cfg->n_agencies;
    d->links = calloc(d->n_links ? d->n_links : 1, sizeof(*d->links));
    if (!d->links) {
        lt_delivery_free(&d);
        return -ENOMEM;
    }
    lt_store_txn *t = NULL;
    int r = lt_store_txn_begin(store, false, false, &t);
    for (size_t i = 0; r == 0 && i < d->n_links; i++) {
        link_rt *l = &d->links[i];
        l->cfg = &cfg->agencies[i];
        l->adapter = lt_adapter_find(l->cfg->adapter);
        if (!l->adapter) {
            r = lt_diag_set(reterr, LT_ERR_CONFIG, 0, "adapter", "agency %s: no adapter \"%s\"",
                            l->cfg->name, l->cfg->adapter);
            break;
        }
        l->fl = calloc((size_t)l->cfg->window, sizeof(*l->fl));
        if (!l->fl) {
            r = -ENOMEM;
            break;
        }
        l->dirty = true;
        l->link_backoff_ms = l->cfg->backoff_initial_ms;
        void *val;
        size_t len;
        if (lt_store_kv_get(t, LT_STORE_DB_LINKS, l->cfg->name, strlen(l->cfg->name), &val, &len) ==
            0) {
            Lienthong__V1__LinkState *ls = lienthong__v1__link_state__unpack(NULL, len, val);
            l->paused = ls && ls->paused;
            lienthong__v1__link_state__free_unpacked(ls, NULL);
            free(val);
            if (l->paused)
                lt_log_warn("agency paused since an operator said so agency=%s "
                            "(lienthongctl resume %s)",
                            l->cfg->name, l->cfg->name);
        }
        r = lt_link_open(l->cfg, zctx, &l->link, reterr);
    }
    lt_store_txn_abort(&t);
    if (r < 0) {
        lt_delivery_free(&d);
        return r;
    }
    *ret = d;
    return 0;
}

void lt_delivery_free(lt_delivery_engine **p)
{
    if (!p || !*p)
        return;
    lt_delivery_engine *d = *p;
    for (size_t i = 0; i < d->n_links; i++) {
        lt_link_close(&d->links[i].link);
        free(d->links[i].fl);
        free(d->links[i].armed);
    }
    for (size_t i = 0; i < d->n_oc; i++)
        lienthong__v1__link_reply__free_unpacked(d->oc[i].reply, NULL);
    free(d->oc);
    free(d->links);
    free(d);
    *p = NULL;
}

int lt_delivery_pollitems(lt_delivery_engine *d, zmq_pollitem_t *items, int max)
{
    int n = 0;
    for (size_t i = 0; i < d->n_links && n < max; i++)
        lt_link_pollitem(d->links[i].link, &items[n++]);
    return n;
}

/* A reply or a timeout: the link is alive (reply) or one more failure (timeout). */
static void link_alive(link_rt *l)
{
    l->last_error[0] = '\0'; /* the link answers: an old failure no longer describes it */
    if (l->state != LINK_UP)
        lt_log_info("agency link up agency=%s", l->cfg->name);
    l->state = LINK_UP;
    l->failures = 0;
    l->link_backoff_ms = l->cfg->backoff_initial_ms;
    l->dirty = true;
}

/* An attempt got no reply (or could not be sent). probe: it was sent while
 * the link was down; only a failed probe spaces the next one further, not
 * the attempts that were in flight when the link went down. */
static void link_failed(lt_delivery_engine *d, link_rt *l, const char *why, bool probe)
{
    copy_cut(l->last_error, sizeof(l->last_error), why);
    if (++l->failures < l->cfg->down_after && l->state != LINK_DOWN)
        return;
    if (l->state == LINK_DOWN && !probe)
        return;
    if (l->state != LINK_DOWN)
        lt_log_warn("agency link down agency=%s failures=%d err=\"%s\" (probing)", l->cfg->name,
                    l->failures, why);
    else if (l->link_backoff_ms < l->cfg->backoff_max_ms)
        l->link_backoff_ms *= 2;
    if (l->link_backoff_ms > l->cfg->backoff_max_ms)
        l->link_backoff_ms = l->cfg->backoff_max_ms;
    l->state = LINK_DOWN;
    l->probe_at_ms = lt_time_mono_ms() + jitter(d, l->link_backoff_ms);
}

/* The gateway is not connected (a send was refused; nothing went out). */
static void link_unconnected(lt_delivery_engine *d, link_rt *l)
{
    if (l->state == LINK_CONNECTING && ++l->failures < 20) { /* connecting: look again soon */
        l->probe_at_ms = lt_time_mono_ms() + 100;
        return;
    }
    l->failures = (int)l->cfg->down_after - 1;
    link_failed(d, l, "gateway not connected", l->state == LINK_DOWN);
}

/* Decide retry or dead letter for a failed attempt of a delivery created at created_ms. */
static outcome *stage_failure(lt_delivery_engine *d, size_t li, uint64_t seq, uint32_t attempt,
                              int64_t created_ms, int64_t now_ms, uint32_t retry_after_s,
                              const char *why)
{
    link_rt *l = &d->links[li];
    const lt_config_agency *a = l->cfg;
    bool too_many = a->max_attempts > 0 && attempt >= (uint32_t)a->max_attempts;
    bool too_old = created_ms > 0 && now_ms - created_ms >= a->max_age_s * 1000;
    outcome *o = stage(d, li, seq, too_many || too_old ? OC_DEAD : OC_RETRY);
    if (!o)
        return NULL; /* out of memory: the attempt times out again later */
    if (o->kind == OC_DEAD)
        snprintf(o->message, sizeof(o->message), "%s (%s after %u attempts)", why,
                 too_many ? "max_attempts reached" : "max_age_s reached", attempt);
    else
        copy_cut(o->message, sizeof(o->message), why);
    int64_t wait = backoff_ms(d, a, attempt);
    if ((int64_t)retry_after_s * 1000 > wait)
        wait = (int64_t)retry_after_s * 1000;
    o->next_ms = now_ms + wait;
    return o;
}

/* created_ms of a delivery, for max_age_s (0 when unreadable). */
static int64_t created_of(lt_store_txn *t, const char *agency, uint64_t seq)
{
    lt_delivery *rec;
    int64_t c = 0;
    if (t && lt_outbox_get(t, agency, seq, &rec) == 0) {
        c = rec->created_ms;
        lienthong__v1__delivery__free_unpacked(rec, NULL);
    }
    return c;
}

/* Parse "<store id>-<seq>-<agency>" (a late reply whose flight is gone). */
static bool key_seq(const char *key, const char *store_id, const char *agency, uint64_t *ret)
{
    size_t n = strlen(store_id);
    if (!key || strncmp(key, store_id, n) != 0 || key[n] != '-')
        return false;
    char *end;
    uint64_t seq = strtoull(key + n + 1, &end, 10);
    if (end == key + n + 1 || *end != '-' || strcmp(end + 1, agency) != 0)
        return false;
    *ret = seq;
    return true;
}

static void on_reply(lt_delivery_engine *d, size_t li, lt_store_txn *t,
                     Lienthong__V1__LinkReply *rep, int64_t now_ms)
{
    link_rt *l = &d->links[li];
    link_alive(l);
    uint64_t seq = 0;
    flight *f = NULL;
    for (size_t i = 0; i < l->n_fl; i++)
        if (rep->idempotency_key && strcmp(l->fl[i].key, rep->idempotency_key) == 0)
            f = &l->fl[i];
    if (!f) {
        /* late: the attempt timed out and was settled; an OK still completes it */
        if (rep->has_outcome && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK &&
            key_seq(rep->idempotency_key, lt_store_id(d->store), l->cfg->name, &seq) &&
            !find_flight(l, seq)) {
            outcome *o = stage(d, li, seq, OC_DELIVERED);
            if (o) {
                copy_cut(o->message, sizeof(o->message), rep->message);
                o->reply = rep; /* a result it carries is stored like any other */
                o->result = rep->result;
                return;
            }
        }
        lienthong__v1__link_reply__free_unpacked(rep, NULL);
        return;
    }
    if (f->settled) {
        lienthong__v1__link_reply__free_unpacked(rep, NULL);
        return;
    }
    seq = f->seq;

    lt_dossier_view v = { 0 };
    bool have = t && lt_dossier_view_read(t, l->cfg->name, seq, 0, &v) == 0;
    lt_adapter_input in = {
        .agency = l->cfg->name,
        .idempotency_key = f->key,
        .attempt = f->attempt,
        .seq = seq,
        .ev = v.ev,
        .first = v.first ? v.first : v.ev,
        .state = v.state,
    };
    lt_link_outcome out;
    memset(&out, 0, sizeof(out));
    if (have)
        l->adapter->interpret(&in, rep, &out);
    else
        lt_adapter_interpret_common(f->key, rep, &out);

    f->settled = true;
    if (out.status == LT_LINK_OK) {
        outcome *o = stage(d, li, seq, OC_DELIVERED);
        if (o) {
            copy_cut(o->message, sizeof(o->message), out.message);
            o->reply = rep;
            o->result = out.result;
            rep = NULL;
        }
        l->delivered++;
    } else if (out.status == LT_LINK_PERMANENT) {
        outcome *o = stage(d, li, seq, OC_DEAD);
        if (o) {
            snprintf(o->message, sizeof(o->message), "permanent failure: %s", out.message);
            o->unmark = f->first && out.readable && !rep->may_have_acted;
        }
        copy_cut(l->last_error, sizeof(l->last_error), out.message);
    } else {
        char why[300];
        snprintf(why, sizeof(why), "retry later: %s", out.message);
        copy_cut(l->last_error, sizeof(l->last_error), why);
        outcome *o = stage_failure(d, li, seq, f->attempt, created_of(t, l->cfg->name, seq), now_ms,
                                   out.retry_after_s, why);
        if (o) /* an answer the daemon could not read proves nothing */
            o->unmark = f->first && out.readable && !rep->may_have_acted;
    }
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
    lt_dossier_view_free(&v);
}

void lt_delivery_poll(lt_delivery_engine *d, int64_t now_ms)
{
    lt_store_txn *t = NULL;
    int64_t mono = lt_time_mono_ms();
    for (size_t li = 0; li < d->n_links; li++) {
        link_rt *l = &d->links[li];
        Lienthong__V1__LinkReply *rep;
        int r;
        while ((r = lt_link_recv(l->link, &rep)) != LT_ERR_NOT_FOUND) {
            if (r < 0)
                continue;
            if (!t && lt_store_txn_begin(d->store, false, false, &t) < 0)
                t = NULL;
            on_reply(d, li, t, rep, now_ms);
        }
        for (size_t i = 0; i < l->n_fl; i++) {
            flight *f = &l->fl[i];
            if (f->settled || mono < f->deadline_ms)
                continue;
            char why[160];
            snprintf(why, sizeof(why), "no reply within %" PRId64 " ms", l->cfg->timeout_ms);
            f->settled = true;
            link_failed(d, l, why, f->probe);
            if (!t && lt_store_txn_begin(d->store, false, false, &t) < 0)
                t = NULL;
            stage_failure(d, li, f->seq, f->attempt, created_of(t, l->cfg->name, f->seq), now_ms, 0,
                          why);
        }
    }
    lt_store_txn_abort(&t);
}

bool lt_delivery_has_staged(const lt_delivery_engine *d)
{
    return d->n_oc > 0;
}

/* The daemon's own result on the dossier when a delivery dies, so that the
 * department that sent it learns of it from the stream. */
static int stage_bounce(lt_delivery_engine *d, lt_store_txn *t, const link_rt *l, uint64_t seq,
                        const char *why, int64_t now_ms, uint32_t *routed)
{
    lt_stored_event *se = NULL;
    if (lt_store_get_event(t, seq, &se) < 0)
        return 0; /* nothing to bounce against */
    char event_id[128], ref[KEY_MAX], at[40], seqs[24], err[1024];
    /* one bounce per death: a requeued delivery that dies again bounces again */
    snprintf(event_id, sizeof(event_id), "dead-%s-%" PRIu64 "-%" PRId64, l->cfg->name, seq, now_ms);
    snprintf(ref, sizeof(ref), "%s-%" PRIu64 "-%s", lt_store_id(d->store), seq, l->cfg->name);
    snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
    copy_cut(err, sizeof(err), why);
    lt_time_format(now_ms / 1000, at, sizeof(at));
    Lienthong__V1__Result__DataEntry e1 = LIENTHONG__V1__RESULT__DATA_ENTRY__INIT,
                                     e2 = LIENTHONG__V1__RESULT__DATA_ENTRY__INIT,
                                     e3 = LIENTHONG__V1__RESULT__DATA_ENTRY__INIT;
    e1.key = "agency", e1.value = (char *)l->cfg->name;
    e2.key = "seq", e2.value = seqs;
    e3.key = "error", e3.value = err;
    Lienthong__V1__Result__DataEntry *entries[] = { &e1, &e2, &e3 };
    Lienthong__V1__Result res = LIENTHONG__V1__RESULT__INIT;
    res.from_agency = (char *)l->cfg->name;
    res.kind = LT_ROUTE_DELIVERY_FAILED;
    res.reference = ref;
    res.issued_at = at;
    res.n_data = 3;
    res.data = entries;
    lt_event ev = LIENTHONG__V1__EVENT__INIT;
    ev.event_id = event_id;
    ev.occurred_at = at;
    ev.dossier_code = se->event->dossier_code;
    ev.procedure_code = se->event->procedure_code;
    ev.agency_code = se->event->agency_code;
    ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    ev.result = &res;
    lt_apply_result ar;
    int r = lt_apply_event(t, d->cfg, "lienthongd", &ev, now_ms, &ar);
    if (r == 0 && ar.outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED)
        *routed |= ar.routed;
    else if (r == 0 && ar.outcome == LIENTHONG__V1__REPLY__OUTCOME__REJECTED)
        lt_log_warn("delivery_failed result not stored dossier=%s seq=%" PRIu64
                    " code=%s msg=\"%s\"",
                    se->event->dossier_code, seq, lt_codec_error_name(ar.code), ar.message);
    lienthong__v1__stored_event__free_unpacked(se, NULL);
    return r;
}

/* Store a result an agency's reply carried, as an event from "agency:NAME". */
static int stage_result(lt_delivery_engine *d, lt_store_txn *t, const link_rt *l,
                        const lt_event *res, int64_t now_ms, uint32_t *routed)
{
    char sender[64];
    snprintf(sender, sizeof(sender), "agency:%s", l->cfg->name);
    lt_submission sub = LIENTHONG__V1__SUBMISSION__INIT;
    sub.has_version = true;
    sub.version = LT_WIRE_VERSION;
    sub.sender = sender;
    sub.event = (lt_event *)res;
    lt_limits lim = lt_limits_default;
    lim.clock_skew_s = d->cfg->clock_skew_s;
    lim.max_field_bytes = d->cfg->max_field_bytes;
    lim.max_text_bytes = d->cfg->max_text_bytes;
    lim.max_attachments = d->cfg->max_attachments;
    lim.max_data_entries = d->cfg->max_data_entries;
    lt_diag diag;
    lt_diag_clear(&diag);
    if (lt_validate_submission(&sub, &lim, now_ms / 1000, &diag) < 0) {
        lt_log_warn("agency result rejected agency=%s event_id=%s code=%s field=%s msg=\"%s\"",
                    l->cfg->name, res->event_id ? res->event_id : "-",
                    lt_codec_error_name(diag.code), diag.field[0] ? diag.field : "-", diag.message);
        return 0;
    }
    lt_apply_result ar;
    int r = lt_apply_event(t, d->cfg, sender, res, now_ms, &ar);
    if (r != 0)
        return r;
    if (ar.outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED) {
        *routed |= ar.routed;
        lt_log_info("agency result stored agency=%s seq=%" PRIu64 " event_id=%s dossier=%s",
                    l->cfg->name, ar.seq, res->event_id, res->dossier_code);
    } else if (ar.outcome == LIENTHONG__V1__REPLY__OUTCOME__REJECTED) {
        lt_log_warn("agency result rejected agency=%s event_id=%s dossier=%s code=%s field=%s "
                    "msg=\"%s\"",
                    l->cfg->name, res->event_id, res->dossier_code, lt_codec_error_name(ar.code),
                    ar.field[0] ? ar.field : "-", ar.message);
    }
    return 0;
}

static int write_link_state(lt_store_txn *t, const link_rt *l, int64_t now_ms)
{
    Lienthong__V1__LinkState ls = LIENTHONG__V1__LINK_STATE__INIT;
    ls.has_paused = true;
    ls.paused = l->paused;
    ls.has_changed_ms = true;
    ls.changed_ms = now_ms;
    uint8_t buf[64];
    size_t len = lienthong__v1__link_state__pack(&ls, buf);
    return lt_store_kv_put(t, LT_STORE_DB_LINKS, l->cfg->name, strlen(l->cfg->name), buf, len);
}

static int write_outcome(lt_delivery_engine *d, lt_store_txn *t, outcome *o, int64_t now_ms,
                         uint32_t *routed)
{
    link_rt *l = &d->links[o->link];
    const char *agency = l->cfg->name;
    int r;
    switch (o->kind) {
    case OC_DELIVERED:
        r = lt_outbox_delivered(t, agency, o->seq, now_ms, o->message);
        if (r == 0 && o->result)
            r = stage_result(d, t, l, o->result, now_ms, routed);
        break;
    case OC_SKIPPED:
        r = lt_outbox_skipped(t, agency, o->seq, now_ms, o->message);
        break;
    case OC_RETRY:
        r = lt_outbox_retry(t, agency, o->seq, now_ms, o->next_ms, o->message);
        if (r == 0 && o->unmark)
            r = lt_outbox_mark_first(t, agency, o->seq, 0);
        break;
    case OC_DEAD:
        r = lt_outbox_dead(t, agency, o->seq, now_ms, o->message);
        if (r == 0 && o->unmark)
            r = lt_outbox_mark_first(t, agency, o->seq, 0);
        if (r == 0)
            r = stage_bounce(d, t, l, o->seq, o->message, now_ms, routed);
        break;
    case OC_ARM:
        r = lt_outbox_mark_first(t, agency, o->seq, now_ms);
        break;
    case OC_PAUSE:
        return write_link_state(t, l, now_ms);
    default:
        return 0;
    }
    return r == LT_ERR_NOT_FOUND ? 0 : r; /* settled before: nothing to do */
}

int lt_delivery_stage(lt_delivery_engine *d, lt_store_txn *t, uint32_t *ret_routed)
{
    int64_t now_ms = lt_time_now_ms();
    bool careful = lt_store_txn_careful(t);
    for (size_t i = 0; i < d->n_oc; i++) {
        outcome *o = &d->oc[i];
        o->written = false;
        if (careful && lt_store_savepoint(t) < 0)
            continue;
        uint32_t routed = 0;
        int r = write_outcome(d, t, o, now_ms, &routed);
        if (careful) {
            if (r == 0)
                r = lt_store_release(t);
            else
                lt_store_rollback(t);
            if (r == LT_ERR_STORE_FULL || r == LT_APPLY_NEED_CAREFUL || r == -E2BIG)
                continue; /* kept for the next pass */
        } else if (r == LT_ERR_STORE_FULL || r == LT_APPLY_NEED_CAREFUL || r == -E2BIG) {
            return LT_APPLY_NEED_CAREFUL;
        }
        if (r < 0)
            return r;
        o->written = true;
        *ret_routed |= routed;
    }
    return 0;
}

void lt_delivery_committed(lt_delivery_engine *d, bool ok)
{
    size_t keep = 0;
    for (size_t i = 0; i < d->n_oc; i++) {
        outcome *o = &d->oc[i];
        if (!ok || !o->written) {
            d->oc[keep++] = *o;
            continue;
        }
        link_rt *l = &d->links[o->link];
        if (o->kind == OC_ARM) {
            drop_flight(l, o->seq);
            l->dirty = true;
            if (!arm(l, o->seq)) /* reserved before staging: not expected */
                lt_log_warn("out of memory arming agency=%s seq=%" PRIu64
                            " (the first sync goes as an update)",
                            l->cfg->name, o->seq);
            /* the armed request is this link's probe: send it now, not a backoff later */
            if (l->state != LINK_UP)
                l->probe_at_ms = 0;
        } else if (o->kind != OC_PAUSE) {
            drop_flight(l, o->seq);
            l->dirty = true;
            if (o->kind == OC_DEAD)
                lt_log_warn("delivery dead agency=%s seq=%" PRIu64 " err=\"%s\"", l->cfg->name,
                            o->seq, o->message);
            else if (o->kind == OC_RETRY)
                lt_log_info("delivery retry agency=%s seq=%" PRIu64 " err=\"%s\"", l->cfg->name,
                            o->seq, o->message);
            else
                lt_log_debug("delivery done agency=%s seq=%" PRIu64 " skipped=%d", l->cfg->name,
                             o->seq, o->kind == OC_SKIPPED);
        }
        lienthong__v1__link_reply__free_unpacked(o->reply, NULL);
    }
    d->n_oc = keep;
}

void lt_delivery_kick(lt_delivery_engine *d, uint32_t mask)
{
    for (size_t i = 0; i < d->n_links; i++)
        if (mask & (1u << i))
            d->links[i].dirty = true;
}

/* ---- dispatch ---- */

/* A small set of dossier codes seen during one scan (64-bit hashes: a
 * collision only delays a delivery to the next scan, it never reorders). */
typedef struct seen_set {
    uint64_t *h;
    size_t cap, n;
} seen_set;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h ? h : 1;
}

/* Insert h; returns true when it was already there. */
static bool seen_add(seen_set *s, uint64_t h)
{
    if (s->n * 2 >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *nh = calloc(cap, sizeof(*nh));
        if (!nh)
            return true; /* out of memory: treat as seen (skip), never reorder */
        for (size_t i = 0; i < s->cap; i++)
            if (s->h[i])
                for (size_t j = s->h[i] & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!nh[j]) {
                        nh[j] = s->h[i];
                        break;
                    }
        free(s->h);
        s->h = nh;
        s->cap = cap;
    }
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (s->h[j] == h)
            return true;
        if (!s->h[j]) {
            s->h[j] = h;
            s->n++;
            return false;
        }
    }
}

typedef struct scan {
    lt_delivery_engine *d;
    size_t li;
    lt_store_txn *t;
    int64_t now_ms, mono_ms; /* the date, and the monotonic clock */
    size_t capacity, scanned;
    seen_set seen;
    bool stop;
} scan;

/* Build and send one attempt. Returns 0, or -EAGAIN when the link refused it. */
static int send_one(scan *s, uint64_t seq, const lt_delivery *rec)
{
    lt_delivery_engine *d = s->d;
    link_rt *l = &d->links[s->li];
    lt_dossier_view v;
    int r = lt_dossier_view_read(s->t, l->cfg->name, seq,
                                 l->adapter->wants_history ? LT_VIEW_HISTORY : LT_VIEW_EARLIER, &v);
    if (r == LT_ERR_NOT_FOUND) {
        lt_log_err("delivery of a missing event agency=%s seq=%" PRIu64, l->cfg->name, seq);
        return 0;
    }
    if (r < 0)
        return r; /* nothing is sent from a partial view */
    const lt_event *ev = v.ev->event;
    /* this delivery's own mark: ours to send when this process just committed
     * it, else left by an attempt whose fate is unknown */
    bool armed = l->adapter->durable_first && is_armed(l, seq);
    bool first_delivery = !v.known && (!rec->first_sent_ms || armed);

    char key[KEY_MAX], at[40];
    snprintf(key, sizeof(key), "%s-%" PRIu64 "-%s", lt_store_id(d->store), seq, l->cfg->name);
    lt_time_format(s->now_ms / 1000, at, sizeof(at));
    uint32_t attempt = rec->attempts + 1;
    lt_adapter_input in = {
        .agency = l->cfg->name,
        .idempotency_key = key,
        .attempt = attempt,
        .seq = seq,
        .ev = v.ev,
        .first = v.first ? v.first : v.ev,
        .state = v.state,
        .first_delivery = first_delivery,
        .status_before = v.status_before,
        .history = (const lt_stored_event *const *)v.history,
        .n_history = v.n_history,
    };
    Lienthong__V1__LinkRequest *req = malloc(sizeof(*req));
    if (!req) {
        r = -ENOMEM;
        goto out;
    }
    lienthong__v1__link_request__init(req);
    req->has_version = true;
    req->version = 1;
    req->link = strdup(l->cfg->name);
    req->idempotency_key = strdup(key);
    req->has_attempt = true;
    req->attempt = attempt;
    req->has_seq = true;
    req->seq = seq;
    req->dossier_code = strdup(ev->dossier_code);
    req->procedure_code = strdup(ev->procedure_code ? ev->procedure_code : "");
    req->sent_at = strdup(at);
    lt_diag diag;
    lt_diag_clear(&diag);
    bool settled = false;
    r = l->adapter->build(&in, req, &diag);
    if (r == LT_ERR_NOT_FOUND || r == LT_ERR_INVALID) {
        settled = true;
        outcome *o = stage(d, s->li, seq, r == LT_ERR_NOT_FOUND ? OC_SKIPPED : OC_DEAD);
        if (o)
            snprintf(o->message, sizeof(o->message), "%s",
                     r == LT_ERR_NOT_FOUND ? "nothing to send to this agency for this event"
                                           : diag.message);
        r = o ? 0 : -ENOMEM;
    } else if (r == 0 && l->adapter->durable_first && first_delivery && !armed &&
               lienthong__v1__link_request__get_packed_size(req) <= LT_LINK_FRAME_MAX) {
        /* the mark first, committed; the request goes out on the pass after
         * (one that can never fit the link is not marked: it dies below) */
        settled = true;
        if (!reserve_armed(l, l->n_armed + l->n_fl + 1) || !stage(d, s->li, seq, OC_ARM)) {
            r = -ENOMEM;
            goto out;
        }
    } else if (r == 0) {
        r = lt_link_send(l->link, req);
        if (r == 0) {
            lt_log_debug("delivery sent agency=%s seq=%" PRIu64 " attempt=%u dossier=%s first=%d",
                         l->cfg->name, seq, attempt, ev->dossier_code, first_delivery);
            disarm(l, seq);
        } else if (r == -E2BIG) { /* will never fit the link: a dead letter, not a loop */
            settled = true;
            outcome *o = stage(d, s->li, seq, OC_DEAD);
            if (o) {
                snprintf(o->message, sizeof(o->message),
                         "the request for this event is larger than the link allows (4 MiB)");
                o->unmark = armed; /* marked, never sent */
                disarm(l, seq);
            }
            r = o ? 0 : -ENOMEM;
        } else {
            goto out;
        }
    } else {
        goto out;
    }
    /* in flight, or settled (skip/dead staged): either way the dossier waits */
    flight *f = &l->fl[l->n_fl++];
    memset(f, 0, sizeof(*f));
    f->seq = seq;
    copy_cut(f->key, sizeof(f->key), key);
    copy_cut(f->dossier, sizeof(f->dossier), ev->dossier_code);
    f->attempt = attempt;
    f->deadline_ms = s->mono_ms + l->cfg->timeout_ms;
    f->settled = settled;
    f->probe = l->state == LINK_DOWN;
    f->first = !settled && first_delivery && l->adapter->durable_first;
out:
    lienthong__v1__link_request__free_unpacked(req, NULL);
    lt_dossier_view_free(&v);
    return r;
}

static int scan_one(uint64_t seq, const char *dossier, void *arg)
{
    scan *s = arg;
    link_rt *l = &s->d->links[s->li];
    if (++s->scanned > SCAN_MAX)
        return 1;
    if (seen_add(&s->seen, hash_str(dossier)))
        return 0; /* an earlier delivery of this dossier is still owed */
    for (size_t i = 0; i < l->n_fl; i++)
        if (strcmp(l->fl[i].dossier, dossier) == 0)
            return 0;
    if (lt_outbox_held(s->t, l->cfg->name, dossier))
        return 0;
    lt_delivery *rec;
    if (lt_outbox_get(s->t, l->cfg->name, seq, &rec) < 0)
        return 0;
    int r = 0;
    const lt_config_agency *a = l->cfg;
    if (rec->created_ms && s->now_ms - rec->created_ms >= a->max_age_s * 1000) {
        /* undelivered too long, also when the gateway was unreachable all along */
        outcome *o = stage(s->d, s->li, seq, OC_DEAD);
        if (o) {
            if (is_armed(l, seq)) { /* marked, never sent */
                o->unmark = true;
                disarm(l, seq);
            }
            snprintf(o->message, sizeof(o->message),
                     "not delivered within max_age_s (%" PRId64 " s) after %u attempts; last "
                     "error: %s",
                     a->max_age_s, rec->attempts, rec->last_error ? rec->last_error : "none");
            flight *f = &l->fl[l->n_fl++];
            memset(f, 0, sizeof(*f));
            f->seq = seq;
            copy_cut(f->dossier, sizeof(f->dossier), dossier);
            f->settled = true;
            if (--s->capacity == 0)
                r = 1;
        }
    } else if (rec->next_attempt_ms > s->now_ms) {
        if (!l->next_due_ms || rec->next_attempt_ms < l->next_due_ms)
            l->next_due_ms = rec->next_attempt_ms;
    } else {
        r = send_one(s, seq, rec);
        if (r == -EAGAIN) {
            s->stop = true;
            link_unconnected(s->d, l);
            r = 1;
        } else if (r == 0 && --s->capacity == 0) {
            r = 1;
        } else if (r < 0) {
            lt_log_err("delivery failed to send agency=%s seq=%" PRIu64 " err=\"%s\"", l->cfg->name,
                       seq, lt_strerror(r));
            r = 1;
        }
    }
    lienthong__v1__delivery__free_unpacked(rec, NULL);
    return r;
}

void lt_delivery_dispatch(lt_delivery_engine *d, int64_t now_ms)
{
    lt_store_txn *t = NULL;
    int64_t mono = lt_time_mono_ms();
    for (size_t li = 0; li < d->n_links; li++) {
        link_rt *l = &d->links[li];
        if (l->paused)
            continue;
        size_t window = (size_t)l->cfg->window;
        if (l->state != LINK_UP && mono < l->probe_at_ms)
            continue;
        if (l->state == LINK_DOWN)
            window = 1; /* probe gently: one attempt at a time */
        if (l->n_fl >= window)
            continue;
        bool due = l->next_due_ms && now_ms >= l->next_due_ms;
        /* connecting: a refused send asked to look again at probe_at_ms */
        bool retry_connect = l->state == LINK_CONNECTING && l->probe_at_ms;
        if (!l->dirty && !due && !retry_connect && l->state != LINK_DOWN)
            continue;
        if (!t && lt_store_txn_begin(d->store, false, false, &t) < 0)
            return;
        scan s = { .d = d,
                   .li = li,
                   .t = t,
                   .now_ms = now_ms,
                   .mono_ms = mono,
                   .capacity = window - l->n_fl };
        l->next_due_ms = 0;
        l->dirty = false;
        if (l->state == LINK_DOWN)
            l->probe_at_ms = mono + l->link_backoff_ms; /* the next probe, if this one fails */
        else if (l->state == LINK_CONNECTING)
            l->probe_at_ms = 0; /* set again if the gateway still refuses */
        int r = lt_outbox_walk_pending(t, l->cfg->name, 0, scan_one, &s);
        if (s.scanned > SCAN_MAX)
            l->dirty = true; /* more to look at next pass */
        if (r < 0)
            lt_log_err("outbox scan failed agency=%s err=\"%s\"", l->cfg->name, lt_strerror(r));
        free(s.seen.h);
    }
    lt_store_txn_abort(&t);
}

long lt_delivery_timeout_ms(const lt_delivery_engine *d, int64_t now_ms, long max_ms)
{
    if (d->n_oc)
        return 0;
    int64_t best = now_ms + max_ms;
    int64_t to_wall = now_ms - lt_time_mono_ms(); /* a monotonic time plus this: the date */
    for (size_t li = 0; li < d->n_links; li++) {
        const link_rt *l = &d->links[li];
        for (size_t i = 0; i < l->n_fl; i++)
            if (!l->fl[i].settled && l->fl[i].deadline_ms + to_wall < best)
                best = l->fl[i].deadline_ms + to_wall;
        /* Wake only for what dispatch would then act on, else the loop spins:
         * a paused link waits for resume, a full window for a flight to
         * settle (both stage an outcome, then mark the link dirty), a link
         * that is not up for its probe time, whatever is dirty or due. */
        size_t window = l->state == LINK_DOWN ? 1 : (size_t)l->cfg->window;
        if (l->paused || l->n_fl >= window)
            continue;
        if (l->state != LINK_UP && l->probe_at_ms) {
            if (l->probe_at_ms + to_wall < best)
                best = l->probe_at_ms + to_wall;
            continue;
        }
        if (l->dirty)
            return 0;
        if (l->next_due_ms && l->next_due_ms < best)
            best = l->next_due_ms;
    }
    return best <= now_ms ? 0 : (long)(best - now_ms);
}

int lt_delivery_set_paused(lt_delivery_engine *d, const char *agency, bool paused)
{
    for (size_t i = 0; i < d->n_links; i++) {
        link_rt *l = &d->links[i];
        if (strcmp(l->cfg->name, agency) != 0)
            continue;
        l->paused = paused;
        l->dirty = true;
        outcome *o = stage(d, i, 0, OC_PAUSE);
        if (!o)
            return -ENOMEM;
        o->paused = paused;
        lt_log_info("agency %s agency=%s", paused ? "paused" : "resumed", agency);
        return 0;
    }
    return LT_ERR_NOT_FOUND;
}

void lt_delivery_link_status_get(const lt_delivery_engine *d, size_t i,
                                 lt_delivery_link_status *ret)
{
    const link_rt *l = &d->links[i];
    memset(ret, 0, sizeof(*ret));
    ret->agency = l->cfg->name;
    ret->state = l->paused               ? "paused"
                 : l->state == LINK_UP   ? "up"
                 : l->state == LINK_DOWN ? "down"
                                         : "connecting";
    ret->in_flight = (unsigned)l->n_fl;
    ret->window = (unsigned)l->cfg->window;
    ret->delivered = l->delivered;
    ret->next_probe_ms = l->state == LINK_DOWN && l->probe_at_ms
                             ? l->probe_at_ms + (lt_time_now_ms() - lt_time_mono_ms()) /* a date */
                             : 0;
    copy_cut(ret->last_error, sizeof(ret->last_error), l->last_error);
}
