/* apply.c - one event into the store with its routing; see apply.h. */
#include "apply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "outbox.h"
#include "route.h"
#include "validate.h"

#define OUT(x) LIENTHONG__V1__REPLY__OUTCOME__##x
#define ERR(x) LIENTHONG__V1__ERROR_CODE__##x

static void copy_cut(char *buf, size_t size, const char *s)
{
    size_t n = s ? strnlen(s, size - 1) : 0;
    memcpy(buf, s ? s : "", n);
    buf[n] = '\0';
}

static void reject(lt_apply_result *ret, int code, const char *field, const char *message)
{
    ret->outcome = OUT(REJECTED);
    ret->code = code;
    ret->seq = 0;
    copy_cut(ret->field, sizeof(ret->field), field);
    copy_cut(ret->message, sizeof(ret->message), message);
}

/* The append and the outbox rows of one event. */
static int write_event(lt_store_txn *t, const lt_config *cfg, const char *sender,
                       const lt_event *ev, const uint8_t *raw, size_t raw_len,
                       const lt_dossier_state *cur, const lt_dossier_state *next, int64_t now_ms,
                       lt_apply_result *ret)
{
    uint64_t seq;
    int rule = -1;
    uint32_t mask = lt_route_match(cfg, sender, ev, &rule);
    int r = lt_store_append_raw(t, sender, now_ms, ev, raw, raw_len, cur, next, &seq);
    if (r < 0)
        return r;
    for (size_t i = 0; i < cfg->n_agencies && r == 0; i++)
        if (mask & (1u << i))
            r = lt_outbox_add(t, cfg->agencies[i].name, seq, ev->dossier_code, now_ms,
                              rule >= 0 ? cfg->routes[rule].name : NULL);
    if (r < 0)
        return r;
    ret->outcome = OUT(ACCEPTED);
    ret->seq = seq;
    ret->routed = mask;
    return 0;
}

int lt_apply_event(lt_store_txn *t, const lt_config *cfg, const char *sender, const lt_event *ev,
                   int64_t now_ms, lt_apply_result *ret)
{
    return lt_apply_event_raw(t, cfg, sender, ev, NULL, 0, now_ms, ret);
}

int lt_apply_event_raw(lt_store_txn *t, const lt_config *cfg, const char *sender,
                       const lt_event *ev, const uint8_t *raw, size_t raw_len, int64_t now_ms,
                       lt_apply_result *ret)
{
    memset(ret, 0, sizeof(*ret));
    uint64_t seq;
    bool careful = lt_store_txn_careful(t);
    /* dedupe: in a plain transaction the new event's entry is put at once
     * (a failed write poisons the transaction anyway: it is redone
     * carefully); in a careful one, looked up only */
    int r = careful ? lt_store_find_event(t, sender, ev->event_id, &seq)
                    : lt_store_claim_event(t, sender, ev->event_id, &seq);
    if ((careful && r == 0) || (!careful && r == 1)) {
        ret->outcome = OUT(DUPLICATE);
        ret->seq = seq;
        return 0;
    }
    if (!careful && r < 0)
        return r == LT_ERR_STORE_FULL || r == -E2BIG ? LT_APPLY_NEED_CAREFUL : r;
    if (careful && r != LT_ERR_NOT_FOUND)
        return r;

    lt_dossier_state *cur = NULL;
    r = lt_store_get_state(t, ev->dossier_code, &cur);
    if (r < 0 && r != LT_ERR_NOT_FOUND) {
        if (r == LT_ERR_PANIC)
            return r;
        lt_log_err("dossier state unreadable dossier=%s err=\"%s\"", ev->dossier_code,
                   lt_strerror(r));
        if (!careful && (r = lt_store_unclaim_event(t)) < 0)
            return r == LT_ERR_STORE_FULL ? LT_APPLY_NEED_CAREFUL : r;
        reject(ret, ERR(INTERNAL), "event.dossier_code",
               "the dossier's stored state could not be read; see the daemon log");
        return 0;
    }

    lt_dossier_state next;
    lt_diag d;
    lt_diag_clear(&d);
    if (lt_validate_transition(ev, cur, lt_store_next_seq(t), &next, &d) < 0) {
        lienthong__v1__dossier_state__free_unpacked(cur, NULL);
        if (!careful && (r = lt_store_unclaim_event(t)) < 0)
            return r == LT_ERR_STORE_FULL ? LT_APPLY_NEED_CAREFUL : r;
        reject(ret, d.code, d.field, d.message);
        return 0;
    }

    if (careful && (r = lt_store_savepoint(t)) < 0) {
        lienthong__v1__dossier_state__free_unpacked(cur, NULL);
        return r == LT_ERR_STORE_FULL ? (reject(ret, ERR(STORE_FULL), "",
                                                "the store is full (store.map_size_mb); the "
                                                "event was not stored"),
                                         0)
                                      : r;
    }
    r = write_event(t, cfg, sender, ev, raw, raw_len, cur, &next, now_ms, ret);
    lienthong__v1__dossier_state__free_unpacked(cur, NULL);
    if (careful) {
        if (r == 0)
            r = lt_store_release(t);
        else
            lt_store_rollback(t);
    }
    if (r == 0)
        return 0;
    memset(ret, 0, sizeof(*ret));
    if (r == LT_ERR_STORE_FULL) {
        if (!careful)
            return LT_APPLY_NEED_CAREFUL;
        reject(ret, ERR(STORE_FULL), "",
               "the store is full (store.map_size_mb); the event was not stored");
        return 0;
    }
    if (r == -E2BIG || r == -EINVAL) {
        if (!careful)
            return LT_APPLY_NEED_CAREFUL; /* a half-written event poisons t: redo carefully */
        reject(ret, ERR(TOO_LARGE), "event", "the event does not fit in one store record");
        return 0;
    }
    return r;
}

typedef struct replay {
    lt_store_txn *t;
    const lt_config *cfg;
    lt_diag *d;
    const char *path;
} replay;

static int replay_one(void *arg, const lt_journal_record *rec)
{
    replay *rp = arg;
    char sender[256];
    if (rec->sender_len >= sizeof(sender))
        return lt_diag_set(rp->d, LT_ERR_MALFORMED, 0, "",
                           "%s: record at offset %" PRIu64 " seq=%" PRIu64 ": sender is %zu bytes",
                           rp->path, rec->offset, rec->seq, rec->sender_len);
    memcpy(sender, rec->sender, rec->sender_len);
    sender[rec->sender_len] = '\0';
    lt_event *ev = lienthong__v1__event__unpack(NULL, rec->event_len, rec->event);
    if (!ev)
        return lt_diag_set(rp->d, LT_ERR_MALFORMED, 0, "",
                           "%s: record at offset %" PRIu64 " seq=%" PRIu64
                           ": the event does not decode",
                           rp->path, rec->offset, rec->seq);
    lt_apply_result res;
    int r = lt_apply_event_raw(rp->t, rp->cfg, sender, ev, rec->event, rec->event_len,
                               rec->accepted_at_ms, &res);
    if (r == 0 && (res.outcome != OUT(ACCEPTED) || res.seq != rec->seq))
        r = lt_diag_set(rp->d, LT_ERR_STORE, 0, "",
                        "%s: record at offset %" PRIu64 " seq=%" PRIu64
                        " dossier=%s: replayed as %s seq=%" PRIu64 " (%s)",
                        rp->path, rec->offset, rec->seq, ev->dossier_code,
                        res.outcome == OUT(DUPLICATE)  ? "a duplicate"
                        : res.outcome == OUT(ACCEPTED) ? "accepted"
                                                       : "rejected",
                        res.seq, res.message);
    else if (r != 0)
        r = lt_diag_set(rp->d, r == LT_APPLY_NEED_CAREFUL ? LT_ERR_STORE_FULL : r, 0, "",
                        "%s: record at offset %" PRIu64 " seq=%" PRIu64 ": %s", rp->path,
                        rec->offset, rec->seq,
                        lt_strerror(r == LT_APPLY_NEED_CAREFUL ? LT_ERR_STORE_FULL : r));
    lienthong__v1__event__free_unpacked(ev, NULL);
    return r;
}

int lt_apply_journal(lt_store *s, const lt_config *cfg, lt_journal *j, lt_journal_scan_info *info,
                     lt_diag *reterr)
{
    lt_journal_scan_info local;
    lt_diag local_diag;
    if (!info)
        info = &local;
    if (!reterr)
        reterr = &local_diag;
    lt_diag_clear(reterr);
    replay rp = { NULL, cfg, reterr, lt_journal_path(j) };
    int r = lt_store_txn_begin(s, true, false, &rp.t);
    if (r < 0)
        return lt_diag_set(reterr, r, 0, "", "%s: replay: %s", rp.path, lt_strerror(r));
    r = lt_journal_replay(j, lt_store_last_seq(s), replay_one, &rp, info);
    if (r < 0 && !reterr->message[0])
        lt_diag_set(reterr, r, 0, "", "%s: read: %s", rp.path, lt_strerror(r));
    if (r == 0 && info->applied == 0 && strcmp(info->why, "seq gap") == 0)
        r = lt_diag_set(reterr, LT_ERR_STORE, 0, "",
                        "%s: its events start at seq %" PRIu64 " but the store ends at %" PRIu64
                        ": they cannot be replayed (was data.mdb restored from a backup, or "
                        "replaced?). Move the file away to start without them",
                        rp.path, info->seq, lt_store_last_seq(s));
    if (r != 0 || info->applied == 0) {
        lt_store_txn_abort(&rp.t);
        if (r == 0)
            lt_journal_reset(j);
        return r;
    }
    if ((r = lt_store_txn_commit(&rp.t)) < 0)
        return lt_diag_set(reterr, r, 0, "", "%s: committing %" PRIu64 " replayed events: %s",
                           rp.path, info->applied, lt_strerror(r));
    lt_journal_reset(j);
    return 0;
}
