/* loop.c - the daemon's one loop; see loop.h. */
#include "loop.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "log.h"
#include "timefmt.h"

#define MAX_ITEMS       (LT_CONFIG_MAX_AGENCIES + 8)
#define STATUS_EVERY_MS 5000

/* The ingest journal (journal.h): a transaction left open by journaled
 * passes is committed once QUIET_US passed with no event received and no
 * reply waiting for the journal's flush, ROUTED_COMMIT_MS after its first
 * pass once it holds an event owed to an agency (its delivery starts after
 * the commit), and otherwise under load once it is store.journal_commit_ms
 * old and holds ROUND_EVENTS events, or ROUND_MAX_MS old (or
 * journal_commit_ms, if longer). A commit stalls the events in flight, so a
 * round of at least ROUND_EVENTS keeps a lone client's stalled events below
 * 1 in 256, off its p99, while a busy round still commits on time.
 * Journaling stops while the map's fill plus LMDB_PER_JOURNAL_BYTE times the
 * open round's journal bytes would pass the 80% warning. */
#define QUIET_US              1000
#define ROUTED_COMMIT_MS      5
#define ROUND_EVENTS          256
#define ROUND_MAX_MS          LT_JOURNAL_ROUND_MAX_MS
#define LMDB_PER_JOURNAL_BYTE 8

/* While passes are journaled, a pass takes at most this many events: while
 * one pass's records are flushed on the journal's thread the loop stages the
 * next, and the clients whose events were flushed get their replies (and
 * send more) without waiting for the whole backlog. Commits still take many
 * passes. When passes commit instead (other work: deliveries, streams,
 * commands; the map near full, the journal full), a pass takes
 * batch.max_events again, until store.journal_commit_ms after the last one. */
#define JOURNAL_PASS_EVENTS 128

typedef struct loop_state {
    const lt_loop_parts *p;
    uint64_t watchdog_usec;
    /* Times below are on the monotonic clock (lt_time_mono_ms), which an NTP step or
     * `date -s` does not move: a wall clock set back would stop the watchdog
     * pings (systemd would kill the daemon) and hold rounds open. */
    int64_t last_watchdog_ms, last_status_ms;
    unsigned fill_warned;   /* the highest fill level (permille) already warned about */
    lt_store_txn *open;     /* kept open by journaled passes: acknowledged, not committed */
    int64_t open_ms;        /* when its first journaled pass was acknowledged, or 0 */
    uint32_t open_routed;   /* agencies owed deliveries by its events */
    uint64_t ticket;        /* the journal flush the last journaled pass's replies wait for */
    uint64_t synced;        /* the last flush the journal's sync thread reported done */
    int64_t active_us;      /* when an event last came in or replies last went out */
    int64_t uncapped_until; /* passes take batch.max_events until then: they commit */
} loop_state;

/* Warn once at each of 80, 90 and 95 % of the map in use, before new events
 * are refused with STORE_FULL; again after a restart when still above. */
static void check_fill(loop_state *ls)
{
    static const unsigned levels[] = { 800, 900, 950 };
    uint64_t used, size;
    unsigned fill = lt_store_fill(ls->p->store, &used, &size), level = 0;

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (fill >= levels[i])
            level = levels[i];
    if (level <= ls->fill_warned)
        return;
    ls->fill_warned = level;
    lt_log_warn("store %u%% full: %" PRIu64 " of %" PRIu64 " MiB of the map in use; at 100%% new "
                "events are refused (STORE_FULL): raise store.map_size_mb and restart",
                fill / 10, used >> 20, size >> 20);
}

/* Read pending signals. Returns true when asked to stop. */
static bool read_signals(int sigfd)
{
    bool stop = false;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            lt_log_info("stopping signal=%s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            stop = true;
        } else {
            lt_log_info("signal ignored signal=%u (configuration reload is not supported; "
                        "restart)",
                        si.ssi_signo);
        }
    }
    return stop;
}

/* Tell systemd we are alive (only from a completed pass) and what we did. */
static void notify(loop_state *ls, bool force)
{
    int64_t now = lt_time_mono_ms();
    if (ls->watchdog_usec &&
        (force || (now - ls->last_watchdog_ms) * 2000 >= (int64_t)ls->watchdog_usec)) {
        sd_notify(0, "WATCHDOG=1");
        ls->last_watchdog_ms = now;
    }
    if (force || now - ls->last_status_ms >= STATUS_EVERY_MS) {
        lt_ingest_counters c;
        lt_ingest_counters_get(ls->p->ingest, &c);
        sd_notifyf(0,
                   "STATUS=serving accepted=%" PRIu64 " duplicate=%" PRIu64 " rejected=%" PRIu64
                   " last_seq=%" PRIu64 " subscribers=%zu map=%u%%",
                   c.accepted, c.duplicate, c.rejected, lt_store_last_seq(ls->p->store),
                   lt_stream_subscribers(ls->p->stream),
                   lt_store_fill(ls->p->store, NULL, NULL) / 10);
        ls->last_status_ms = now;
    }
}

/* Which parts' staged work went into the transaction (a careful pass drops
 * what does not fit and keeps it staged for the next pass). */
typedef struct staged_in {
    bool stream, control;
} staged_in;

/* Stage one part; in careful mode inside a savepoint, so a full map undoes
 * only that part. Returns 0, LT_APPLY_NEED_CAREFUL or a fatal error. */
static int stage_part(lt_store_txn *t, bool *written, int r_of_stage(void *, lt_store_txn *),
                      void *arg)
{
    bool careful = lt_store_txn_careful(t);
    int r;
    *written = false;
    if (careful && (r = lt_store_savepoint(t)) < 0)
        return r == LT_ERR_STORE_FULL ? 0 : r;
    r = r_of_stage(arg, t);
    if (careful) {
        if (r == 0)
            r = lt_store_release(t);
        else
            lt_store_rollback(t);
        if (r == LT_ERR_STORE_FULL || r == -E2BIG)
            return 0; /* stays staged */
    } else if (r == LT_ERR_STORE_FULL || r == -E2BIG) {
        return LT_APPLY_NEED_CAREFUL;
    }
    *written = r == 0;
    return r;
}

static int stage_stream(void *arg, lt_store_txn *t)
{
    return lt_stream_stage(arg, t);
}

typedef struct control_arg {
    lt_control *c;
    uint32_t *routed;
} control_arg;

static int stage_control(void *arg, lt_store_txn *t)
{
    control_arg *a = arg;
    return lt_control_stage(a->c, t, a->routed);
}

/* Stage everything into one transaction attempt. */
static int stage_all(const lt_loop_parts *p, lt_store_txn *t, size_t budget, uint32_t *routed,
                     staged_in *in)
{
    int r;
    if ((r = lt_ingest_stage(p->ingest, t, budget, routed)) != 0)
        return r;
    if ((r = lt_delivery_stage(p->delivery, t, routed)) != 0)
        return r;
    if ((r = stage_part(t, &in->stream, stage_stream, p->stream)) != 0)
        return r;
    control_arg ca = { p->control, routed };
    return stage_part(t, &in->control, stage_control, &ca);
}

/* The open transaction is gone (aborted, or its commit failed) with events
 * that were journaled and acknowledged: put them into LMDB again from the
 * journal, committed, as a restart would. */
static int recover_open(loop_state *ls)
{
    const lt_loop_parts *p = ls->p;
    lt_journal_scan_info info;
    lt_diag d;
    uint64_t records = lt_journal_records(p->journal);
    int r = lt_apply_journal(p->store, p->cfg, p->journal, &info, &d);
    if (r == 0 && info.applied != records)
        r = lt_diag_set(&d, LT_ERR_STORE, 0, "",
                        "%s: %" PRIu64 " of the %" PRIu64 " journaled events replayed (%s)",
                        lt_journal_path(p->journal), info.applied, records, info.why);
    if (r < 0) {
        lt_log_err("journal replay failed err=\"%s\"", d.message[0] ? d.message : lt_strerror(r));
        return r;
    }
    lt_log_info("journal replayed into the store events=%" PRIu64 " last_seq=%" PRIu64,
                info.applied, lt_store_last_seq(p->store));
    /* committed: their replies and deliveries may go, whatever becomes of this pass */
    lt_ingest_release(p->ingest, UINT64_MAX);
    lt_delivery_kick(p->delivery, ls->open_routed);
    ls->open_routed = 0;
    ls->open_ms = 0;
    return 0;
}

/* Is the open transaction due for its commit: ROUTED_COMMIT_MS after its
 * first journaled pass once it holds an event owed to an agency, else
 * store.journal_commit_ms after it with ROUND_EVENTS events in the journal,
 * or ROUND_MAX_MS after it (see the top of this file)? */
static bool commit_due(const loop_state *ls, int64_t now)
{
    if (!ls->open_ms) /* (write_pass has taken ls->open) */
        return false;
    int64_t age = now - ls->open_ms, min_age = ls->p->cfg->journal_commit_ms;
    if (ls->open_routed) /* agencies wait for these: deliveries start after the commit */
        return age >= (min_age < ROUTED_COMMIT_MS ? min_age : ROUTED_COMMIT_MS);
    if (age < min_age)
        return false;
    return lt_journal_records(ls->p->journal) >= ROUND_EVENTS || age >= ROUND_MAX_MS;
}

/* May this pass's events be acknowledged from the journal, leaving the
 * transaction open? Only new events in it, before the commit is due, within
 * the journal's room, and while the map keeps room below the 80% warning for
 * LMDB_PER_JOURNAL_BYTE times what the open transaction holds: the fill
 * warnings then come from commits as before, and a replay always fits. */
static bool journal_this_pass(loop_state *ls, bool only_ingest, bool stopping, int64_t now)
{
    const lt_loop_parts *p = ls->p;
    if (!p->journal || stopping || lt_ingest_pending(p->ingest) == 0 || commit_due(ls, now))
        return false; /* a commit in the course of journaling */
    uint64_t add = lt_ingest_journal_bytes(p->ingest), used = 0, size = 0;
    lt_store_fill(p->store, &used, &size);
    if (only_ingest && add <= lt_journal_room(p->journal) &&
        used + LMDB_PER_JOURNAL_BYTE * (lt_journal_used(p->journal) + add) < size / 10 * 8)
        return true;
    /* the journal is full, the map nearly: passes commit for a while */
    ls->uncapped_until = now + p->cfg->journal_commit_ms;
    return false;
}

/* The pass's write transaction: the one left open by journaled passes, or a
 * new one. Returns 0 when the replies may go out (the commit succeeded, the
 * events are journaled, or the map is full and what did not fit is answered
 * so), or a fatal store error. [out] ret_ok: committed or journaled;
 * ret_journaled: journaled, the transaction stays open in ls. */
static int write_pass(loop_state *ls, bool stopping, uint32_t *routed, bool *ret_ok,
                      bool *ret_journaled, staged_in *in)
{
    const lt_loop_parts *p = ls->p;
    size_t budget = lt_ingest_pending(p->ingest);
    bool careful = false;
    bool only_ingest = !lt_delivery_has_staged(p->delivery) && !lt_stream_has_staged(p->stream) &&
                       !lt_control_has_staged(p->control);
    if (!only_ingest) /* deliveries (or streams, commands) commit passes for a while */
        ls->uncapped_until = lt_time_mono_ms() + p->cfg->journal_commit_ms;
    *ret_ok = *ret_journaled = false;
    for (int attempt = 0; attempt < 40; attempt++) {
        lt_store_txn *t = ls->open;
        bool had_open = t != NULL;
        int r = 0;
        ls->open = NULL;
        *routed = 0;
        if (!t && (r = lt_store_txn_begin(p->store, true, careful, &t)) < 0)
            return r;
        r = stage_all(p, t, budget, routed, in);
        if (r == LT_APPLY_NEED_CAREFUL && !careful) {
            lt_store_txn_abort(&t);
            if (had_open && (r = recover_open(ls)) < 0)
                return r;
            careful = true;
            lt_log_warn("store full; retrying the pass event by event");
            continue;
        }
        if (r < 0 || r == LT_APPLY_NEED_CAREFUL) {
            lt_store_txn_abort(&t);
            if (r < 0)
                return r;
            return had_open && (r = recover_open(ls)) < 0 ? r : LT_ERR_STORE_FULL;
        }
        int64_t now = lt_time_mono_ms();
        if (!careful && journal_this_pass(ls, only_ingest, stopping, now)) {
            if ((r = lt_ingest_journal(p->ingest, p->journal)) == 0) {
                if ((r = lt_journal_write(p->journal)) < 0) {
                    lt_log_err("journal write failed file=%s err=\"%s\"",
                               lt_journal_path(p->journal), lt_strerror(r));
                    lt_store_txn_abort(&t);
                    return r;
                }
                if (lt_journal_sync_requested(p->journal) > ls->synced ||
                    (now >= ls->uncapped_until &&
                     (lt_ingest_working(p->ingest) || lt_ingest_readable(p->ingest)))) {
                    /* more is waiting: flush on the journal's thread meanwhile */
                    ls->ticket = lt_journal_sync_request(p->journal);
                } else { /* nothing to do while the disk works: flush here, reply sooner */
                    if ((r = lt_journal_sync(p->journal)) < 0) {
                        lt_log_err("journal flush failed; its events were not acknowledged "
                                   "file=%s err=\"%s\"",
                                   lt_journal_path(p->journal), lt_strerror(r));
                        lt_store_txn_abort(&t);
                        return r;
                    }
                    ls->ticket = 0;
                }
                ls->open = t;
                if (!had_open)
                    ls->open_ms = now;
                ls->open_routed |= *routed;
                *routed = 0;
                *ret_ok = *ret_journaled = true;
                return 0;
            }
            lt_journal_discard(p->journal); /* commit instead */
        }
        r = lt_store_txn_commit(&t);
        if (r == 0) {
            *ret_ok = true;
            *routed |= ls->open_routed;
            ls->open_routed = 0;
            ls->open_ms = 0;
            if (p->journal)
                lt_journal_reset(p->journal);
            return 0;
        }
        if (r != LT_ERR_STORE_FULL)
            return r;
        if (had_open && (r = recover_open(ls)) < 0)
            return r;
        /* The events that fitted filled the map so the commit itself failed:
         * store fewer of them; at zero, answer the batch "store full". */
        careful = true;
        if (budget == 0) {
            lt_ingest_store_full(p->ingest);
            lt_log_warn("store full at commit; pass rejected");
            return 0;
        }
        budget /= 2;
        lt_log_warn("store full at commit; retrying with at most %zu new events", budget);
    }
    lt_ingest_store_full(p->ingest);
    return 0;
}

/* Leaving the loop on an error with a transaction open: its events are in the
 * journal, and the next start replays them. Held replies are never sent. */
static int drop_open(loop_state *ls, int r)
{
    lt_ingest_abandon(ls->p->ingest);
    if (ls->open)
        lt_store_txn_abort(&ls->open);
    return r;
}

/* The journal's sync thread finished a flush: send the replies it covers. */
static int on_flushed(loop_state *ls)
{
    const lt_loop_parts *p = ls->p;
    int r = lt_journal_synced(p->journal, &ls->synced);
    if (r < 0) {
        lt_log_err("journal flush failed; its events were not acknowledged file=%s err=\"%s\"",
                   lt_journal_path(p->journal), lt_strerror(r));
        return r;
    }
    size_t before = lt_ingest_held(p->ingest);
    lt_ingest_release(p->ingest, ls->synced);
    if (lt_ingest_held(p->ingest) != before)
        ls->active_us = lt_time_mono_us();
    return 0;
}

/* Send the batch's replies: after a commit, or a flush on this thread, all
 * of them with those held; after a journaled pass, once its flush is done;
 * otherwise (only rejections) after the replies held before them. */
static void reply(loop_state *ls, bool committed, bool journaled)
{
    lt_ingest *in = ls->p->ingest;
    if (journaled && ls->ticket)
        lt_ingest_hold(in, ls->ticket);
    else if (committed || journaled || !lt_ingest_held(in)) /* flushed here: all of them */
        lt_ingest_reply(in);
    else
        lt_ingest_hold(in, lt_journal_sync_requested(ls->p->journal));
    if (lt_ingest_held(in))
        lt_ingest_release(in, ls->synced);
}

int lt_loop_run(const lt_loop_parts *p, int sigfd)
{
    loop_state ls = { .p = p, .active_us = lt_time_mono_us() };
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        ls.watchdog_usec = usec;
    sd_notify(0, "READY=1");
    check_fill(&ls);
    notify(&ls, true);
    long idle_ms = ls.watchdog_usec ? (long)(ls.watchdog_usec / 3000) : STATUS_EVERY_MS;
    bool stop = false;

    while (!stop) {
        zmq_pollitem_t items[MAX_ITEMS];
        int n = 0;
        lt_ingest_pollitems(p->ingest, &items[n]); /* 0: socket, 1: monitor */
        n += 2;
        items[n++] = (zmq_pollitem_t){ NULL, sigfd, ZMQ_POLLIN, 0 };
        n += lt_stream_pollitems(p->stream, &items[n], MAX_ITEMS - n);
        n += lt_control_pollitems(p->control, &items[n], MAX_ITEMS - n);
        n += lt_delivery_pollitems(p->delivery, &items[n], MAX_ITEMS - n);
        int flushed = -1;
        if (p->journal) {
            flushed = n;
            items[n++] = (zmq_pollitem_t){ NULL, lt_journal_sync_fd(p->journal), ZMQ_POLLIN, 0 };
        }
        int64_t now = lt_time_now_ms();
        long timeout = lt_delivery_timeout_ms(p->delivery, now, idle_ms);
        timeout = lt_stream_timeout_ms(p->stream, timeout);
        if (lt_ingest_working(p->ingest))
            timeout = 0; /* the next batch is ready, or nearly */
        else if (ls.open && !lt_ingest_held(p->ingest)) {
            /* commit it once no event came and no reply went for QUIET_US */
            int64_t left = ls.active_us + QUIET_US - lt_time_mono_us();
            long ms = left > 0 ? (long)((left + 999) / 1000) : 0;
            if (timeout < 0 || timeout > ms)
                timeout = ms;
        }
        if (zmq_poll(items, n, timeout) < 0 && errno != EINTR) {
            lt_log_err("zmq_poll failed err=\"%s\"", zmq_strerror(errno));
            return drop_open(&ls, LT_ERR_ZMQ);
        }
        if (items[2].revents & ZMQ_POLLIN)
            stop = read_signals(sigfd);
        if (items[1].revents & ZMQ_POLLIN)
            lt_ingest_on_monitor(p->ingest);
        if (flushed >= 0 && (items[flushed].revents & ZMQ_POLLIN)) {
            int r = on_flushed(&ls);
            if (r < 0)
                return drop_open(&ls, r);
        }
        bool readable = !stop && (items[0].revents & ZMQ_POLLIN);
        if (readable || lt_ingest_working(p->ingest)) {
            unsigned flags =
                (readable ? LT_INGEST_RECEIVE : 0) | (p->journal ? LT_INGEST_PIPELINE : 0);
            /* small passes only while they are journaled: a commit takes batch.max_events */
            size_t max =
                p->journal && lt_time_mono_ms() >= ls.uncapped_until ? JOURNAL_PASS_EVENTS : 0;
            if (lt_ingest_fill(p->ingest, sigfd, max, flags) < 0)
                return drop_open(&ls, LT_ERR_ZMQ);
            ls.active_us = lt_time_mono_us();
        }
        now = lt_time_now_ms();
        lt_delivery_poll(p->delivery, now);
        lt_stream_poll(p->stream);
        lt_control_poll(p->control);

        bool ok = false, journaled = false;
        uint32_t routed = 0;
        staged_in in = { false, false };
        bool quiet =
            ls.open && !lt_ingest_held(p->ingest) && lt_time_mono_us() - ls.active_us >= QUIET_US;
        /* due: also when only messages rejected before the store keep coming */
        if ((ls.open && (stop || quiet || commit_due(&ls, lt_time_mono_ms()))) ||
            lt_ingest_pending(p->ingest) || lt_delivery_has_staged(p->delivery) ||
            lt_stream_has_staged(p->stream) || lt_control_has_staged(p->control)) {
            int64_t t0 = lt_time_mono_ms();
            int r = write_pass(&ls, stop, &routed, &ok, &journaled, &in);
            if (r < 0) {
                lt_log_err("store commit failed; nothing of this pass was acknowledged "
                           "err=\"%s\"",
                           lt_strerror(r));
                return drop_open(&ls, r);
            }
            lt_log_debug("pass %s ok=%d last_seq=%" PRIu64 " ms=%" PRId64,
                         journaled ? "journaled" : "committed", ok, lt_store_last_seq(p->store),
                         lt_time_mono_ms() - t0);
            check_fill(&ls);
        }
        /* after the commit or flush, never before: acks, outcomes, cursors, commands */
        reply(&ls, ok && !journaled, journaled);
        if (journaled)
            ls.active_us = lt_time_mono_us(); /* the quiet time counts from the replies */
        lt_delivery_committed(p->delivery, ok && !journaled);
        lt_stream_committed(p->stream, ok && !journaled && in.stream);
        lt_control_committed(p->control, ok && !journaled && in.control);
        if (ok && !journaled)
            lt_delivery_kick(p->delivery, routed);
        if (!stop) {
            lt_delivery_dispatch(p->delivery, lt_time_now_ms());
            lt_stream_pump(p->stream);
        }
        notify(&ls, false);
    }
    sd_notify(0, "STOPPING=1");
    return 0;
}
