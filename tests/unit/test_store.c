/* test_store.c - the LMDB event store (daemon/store.h) on a real LMDB
 * directory under a fresh temp dir per test, removed afterwards. Events go in
 * the way ingest puts them in: look up the dossier's state, let the validator
 * compute the next one, append, commit. */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dossier_view.h"
#include "outbox.h"
#include "store.h"
#include "tmpdir.h"
#include "validate.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
// clang-format on

#define SENDER "motcua-hcm"
#define T0_MS  1795512600000LL

typedef struct env {
    char tmp[64];  /* the mkdtemp dir */
    char dir[128]; /* the store dir inside it (not created yet) */
    lt_store *s;
} env;

/* The parts of one event; ev_make() wires them. */
typedef struct evbuf {
    lt_event ev;
    Lienthong__V1__DossierStatus st;
    Lienthong__V1__Result res;
    char event_id[600];
    char dossier[600];
    char note[4100];
} evbuf;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    assert_int_equal(lt_t_tmpdir("test-store", e->tmp, sizeof(e->tmp)), 0);
    snprintf(e->dir, sizeof(e->dir), "%s/store", e->tmp);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;

    lt_store_close(&e->s);
    lt_t_rmtree(e->tmp);
    free(e);
    return 0;
}

/* Open e->dir for writing with the given map size (0: LMDB default/recorded). */
static void open_store(env *e, uint64_t map_size)
{
    lt_store_opts o = { .dir = e->dir, .map_size = map_size };
    lt_diag d;

    lt_diag_clear(&d);
    int r = lt_store_open(&o, &e->s, NULL, &d);
    if (r != 0)
        fail_msg("open %s: %s: %s", e->dir, lt_strerror(r), d.message);
}

static void reopen_store(env *e, uint64_t map_size)
{
    lt_store_close(&e->s);
    assert_null(e->s);
    open_store(e, map_size);
}

/* A status event (status > 0) or a result event (status == 0). */
static lt_event *ev_make(evbuf *b, const char *event_id, const char *dossier, int status)
{
    memset(b, 0, sizeof(*b));
    lienthong__v1__event__init(&b->ev);
    snprintf(b->event_id, sizeof(b->event_id), "%s", event_id);
    snprintf(b->dossier, sizeof(b->dossier), "%s", dossier);
    b->ev.event_id = b->event_id;
    b->ev.occurred_at = "2026-11-24T09:00:00Z";
    b->ev.dossier_code = b->dossier;
    b->ev.procedure_code = "1.004227";
    b->ev.agency_code = "000.00.01.H29";
    if (status == 0) {
        lienthong__v1__result__init(&b->res);
        b->res.from_agency = "cuc-thue";
        b->res.kind = "tax_notice";
        b->res.reference = "TB-1";
        b->res.issued_at = "2026-11-24T09:00:00Z";
        b->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
        b->ev.result = &b->res;
        return &b->ev;
    }
    lienthong__v1__dossier_status__init(&b->st);
    b->st.has_status = true;
    b->st.status = status;
    b->st.received_at = "2026-11-24T08:00:00Z";
    b->st.due_at = "2026-12-04T08:00:00Z";
    if (status >= 9)
        b->st.finished_at = "2026-11-24T08:30:00Z";
    if (status == 10)
        b->st.returned_at = "2026-11-24T08:45:00Z";
    b->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    b->ev.status = &b->st;
    return &b->ev;
}

/* Validate ev against its dossier and append it in t. Returns append's result. */
static int append_in(lt_store_txn *t, const char *sender, const lt_event *ev, uint64_t *ret_seq)
{
    lt_dossier_state *cur = NULL, next;
    lt_diag d;
    int r = lt_store_get_state(t, ev->dossier_code, &cur);

    if (r != 0 && r != LT_ERR_NOT_FOUND)
        return r;
    if (lt_validate_transition(ev, cur, lt_store_next_seq(t), &next, &d) != 0)
        fail_msg("%s: %s", ev->event_id, d.message);
    r = lt_store_append(t, sender, T0_MS + (int64_t)lt_store_next_seq(t), ev, cur, &next, ret_seq);
    lienthong__v1__dossier_state__free_unpacked(cur, NULL);
    return r;
}

/* Append one event in its own committed transaction; return its seq. */
static uint64_t put1(env *e, const char *event_id, const char *dossier, int status)
{
    evbuf b;
    lt_store_txn *t;
    uint64_t seq = 0;

    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, event_id, dossier, status), &seq), 0);
    assert_int_equal(lt_store_txn_commit(&t), 0);
    assert_null(t);
    return seq;
}

typedef struct seen {
    uint64_t seqs[64];
    char ids[64][32];
    size_t n;
    size_t stop_after; /* return 7 from the callback after this many, 0 never */
} seen;

static int collect(uint64_t seq, const lt_stored_event *se, void *arg)
{
    seen *s = arg;

    if (s->n < 64) {
        s->seqs[s->n] = seq;
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", se->event->event_id);
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static void open_creates_the_store_and_reopens_it_empty(void **state)
{
    env *e = *state;
    lt_store_stats st;
    int stale = -1;

    open_store(e, 0);
    assert_int_equal(lt_store_last_seq(e->s), 0);
    assert_int_equal(lt_store_stats_get(e->s, &st), 0);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(st.dossiers, 0);
    assert_true(st.map_size > 0);
    assert_true(access(e->dir, F_OK) == 0);
    lt_store_close(&e->s);
    lt_store_close(&e->s); /* NULL-safe */

    lt_store_opts o = { .dir = e->dir };
    assert_int_equal(lt_store_open(&o, &e->s, &stale, NULL), 0);
    assert_int_equal(stale, 0);
    assert_int_equal(lt_store_last_seq(e->s), 0);
}

static void appended_events_read_back_with_sender_and_seq(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    lt_stored_event *se = NULL;
    evbuf b;
    uint64_t seq = 0;

    open_store(e, 0);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_next_seq(t), 1);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "ev-%d", i);
        assert_int_equal(append_in(t, SENDER, ev_make(&b, id, "D1", i == 1 ? 2 : 4), &seq), 0);
        assert_int_equal(seq, (uint64_t)i);
    }
    assert_int_equal(lt_store_next_seq(t), 4);
    assert_int_equal(lt_store_last_seq(e->s), 0); /* not before the commit */
    assert_int_equal(lt_store_txn_commit(&t), 0);
    assert_int_equal(lt_store_last_seq(e->s), 3);

    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_get_event(t, 2, &se), 0);
    assert_string_equal(se->sender, SENDER);
    assert_int_equal(se->accepted_at_ms, T0_MS + 2);
    assert_string_equal(se->event->event_id, "ev-2");
    assert_string_equal(se->event->dossier_code, "D1");
    assert_int_equal(se->event->status->status, 4);
    lienthong__v1__stored_event__free_unpacked(se, NULL);
    assert_int_equal(lt_store_get_event(t, 4, &se), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_get_event(t, 0, &se), LT_ERR_NOT_FOUND);

    lt_dossier_state *ds = NULL;
    assert_int_equal(lt_store_get_state(t, "D1", &ds), 0);
    assert_int_equal(ds->status, 4);
    assert_int_equal(ds->first_seq, 1);
    assert_int_equal(ds->last_seq, 3);
    assert_int_equal(ds->events, 3);
    lienthong__v1__dossier_state__free_unpacked(ds, NULL);
    assert_int_equal(lt_store_get_state(t, "D2", &ds), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_get_state(t, "", &ds), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_txn_commit(&t), 0);

    /* sequence numbers continue after a reopen */
    reopen_store(e, 0);
    assert_int_equal(lt_store_last_seq(e->s), 3);
    assert_int_equal(put1(e, "ev-4", "D1", 5), 4);
}

static void dedupe_finds_an_event_by_sender_and_id(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    evbuf b;
    uint64_t seq = 0;

    open_store(e, 0);
    put1(e, "ev-a", "D1", 2);
    put1(e, "ev-b", "D1", 4);

    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-b", &seq), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(lt_store_find_event(t, "other-system", "ev-b", &seq), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-c", &seq), LT_ERR_NOT_FOUND);
    /* the key is (sender, event_id), not their concatenation */
    assert_int_equal(lt_store_find_event(t, "motcua-hcmev", "-b", &seq), LT_ERR_NOT_FOUND);
    /* visible inside the batch that wrote it */
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "ev-c", "D1", 5), &seq), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-c", &seq), 0);
    assert_int_equal(seq, 3);
    /* another sender may reuse an event id */
    assert_int_equal(append_in(t, "other-system", ev_make(&b, "ev-a", "D2", 2), &seq), 0);
    assert_int_equal(seq, 4);
    assert_int_equal(lt_store_txn_commit(&t), 0);

    reopen_store(e, 0);
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-a", &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(lt_store_find_event(t, "other-system", "ev-a", &seq), 0);
    assert_int_equal(seq, 4);
    lt_store_txn_abort(&t);
    assert_null(t);
}

/* lt_store_claim_event: the lookup that already puts the entry (the
 * daemon's plain transactions). A claim is answered as the lookup would be,
 * the append after it stores the event once, and an undone claim leaves no
 * trace: the same event id can be claimed and stored later. */
static void a_claim_puts_the_dedupe_entry_once(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    evbuf b;
    uint64_t seq = 0;

    open_store(e, 0);
    put1(e, "ev-a", "D1", 2);

    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_claim_event(t, SENDER, "ev-a", &seq), 1); /* stored */
    assert_int_equal(seq, 1);
    /* new: claimed with the seq the next append takes, then appended once */
    assert_int_equal(lt_store_claim_event(t, SENDER, "ev-b", &seq), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-b", &seq), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "ev-b", "D1", 4), &seq), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(lt_store_claim_event(t, SENDER, "ev-b", &seq), 1);
    assert_int_equal(seq, 2);
    /* claimed, then undone (the event was rejected): gone */
    assert_int_equal(lt_store_claim_event(t, SENDER, "ev-c", &seq), 0);
    assert_int_equal(lt_store_unclaim_event(t), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "ev-c", &seq), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_unclaim_event(t), 0); /* nothing claimed: nothing done */
    /* an append without a claim still puts the entry itself */
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "ev-d", "D1", 5), &seq), 0);
    assert_int_equal(seq, 3);
    /* and ev-c can come later, claimed again */
    assert_int_equal(lt_store_claim_event(t, SENDER, "ev-c", &seq), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "ev-c", "D2", 2), &seq), 0);
    assert_int_equal(seq, 4);
    /* a key too long for LMDB is refused before anything is written */
    char longid[600];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(lt_store_claim_event(t, SENDER, longid, &seq), -E2BIG);
    assert_int_equal(lt_store_txn_commit(&t), 0);

    reopen_store(e, 0);
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    const char *ids[] = { "ev-a", "ev-b", "ev-d", "ev-c" };
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(lt_store_find_event(t, SENDER, ids[i], &seq), 0);
        assert_int_equal(seq, i + 1);
    }
    assert_int_equal(lt_store_last_seq(e->s), 4);
    lt_store_txn_abort(&t);
}

static void dossier_walk_returns_its_events_oldest_first(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    seen a = { 0 }, b = { 0 }, none = { 0 };

    open_store(e, 0);
    put1(e, "a1", "DA", 2);
    put1(e, "b1", "DB", 1);
    put1(e, "a2", "DA", 4);
    put1(e, "b2", "DB", 2);
    put1(e, "a3", "DA", 0); /* a result */
    put1(e, "a4", "DA", 9);

    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_walk_dossier(t, "DA", collect, &a), 0);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.seqs[0], 1);
    assert_int_equal(a.seqs[1], 3);
    assert_int_equal(a.seqs[2], 5);
    assert_int_equal(a.seqs[3], 6);
    assert_string_equal(a.ids[2], "a3");
    assert_int_equal(lt_store_walk_dossier(t, "DB", collect, &b), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.ids[0], "b1");
    assert_string_equal(b.ids[1], "b2");
    /* a prefix of a dossier code is another dossier */
    assert_int_equal(lt_store_walk_dossier(t, "D", collect, &none), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(lt_store_walk_dossier(t, "DAX", collect, &none), 0);
    assert_int_equal(none.n, 0);
    /* a non-zero return from the callback stops the walk and comes back */
    seen stop = { .stop_after = 2 };
    assert_int_equal(lt_store_walk_dossier(t, "DA", collect, &stop), 7);
    assert_int_equal(stop.n, 2);
    lt_store_txn_abort(&t);
}

/* What a state walk saw: codes and statuses in order. */
typedef struct states_seen {
    char codes[8][16];
    int status[8];
    uint32_t events[8];
    size_t n, stop_after;
} states_seen;

static int collect_state(const char *code, size_t len, const lt_dossier_state *st, void *arg)
{
    states_seen *s = arg;
    if (s->n < 8) {
        snprintf(s->codes[s->n], sizeof(s->codes[0]), "%.*s", (int)len, code);
        s->status[s->n] = (int)st->status;
        s->events[s->n] = st->events;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static void state_walk_gives_each_dossier_once_in_code_order(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    states_seen all = { 0 }, stop = { .stop_after = 1 }, none = { 0 };

    open_store(e, 0);
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_walk_states(t, collect_state, &none), 0); /* empty store */
    assert_int_equal(none.n, 0);
    lt_store_txn_abort(&t);
    put1(e, "b1", "DB", 1);
    put1(e, "a1", "DA", 2);
    put1(e, "b2", "DB", 2);
    put1(e, "c1", "DC", 4);
    put1(e, "a2", "DA", 4);

    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_walk_states(t, collect_state, &all), 0);
    assert_int_equal(all.n, 3);
    assert_string_equal(all.codes[0], "DA");
    assert_string_equal(all.codes[1], "DB");
    assert_string_equal(all.codes[2], "DC");
    assert_int_equal(all.status[0], 4); /* the current state, after both events */
    assert_int_equal(all.events[0], 2);
    assert_int_equal(all.status[1], 2);
    assert_int_equal(lt_store_walk_states(t, collect_state, &stop), 7);
    assert_int_equal(stop.n, 1);
    lt_store_txn_abort(&t);
}

static void log_walk_honours_from_and_limit(void **state)
{
    env *e = *state;
    lt_store_txn *t;

    open_store(e, 0);
    for (int i = 1; i <= 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "e%d", i);
        put1(e, id, "D1", i == 1 ? 2 : 4);
    }
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    struct {
        uint64_t from, limit;
        size_t n;
        uint64_t first;
    } cases[] = {
        { 0, 0, 5, 1 },  { 1, 0, 5, 1 }, { 2, 2, 2, 2 }, { 4, 0, 2, 4 },
        { 5, 10, 1, 5 }, { 6, 0, 0, 0 }, { 1, 1, 1, 1 }, { UINT64_MAX, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seen s = { 0 };
        assert_int_equal(lt_store_walk_log(t, cases[i].from, cases[i].limit, collect, &s), 0);
        if (s.n != cases[i].n || (s.n && s.seqs[0] != cases[i].first))
            fail_msg("from %llu limit %llu: %zu events from %llu",
                     (unsigned long long)cases[i].from, (unsigned long long)cases[i].limit, s.n,
                     (unsigned long long)(s.n ? s.seqs[0] : 0));
        for (size_t j = 1; j < s.n; j++)
            assert_int_equal(s.seqs[j], s.seqs[j - 1] + 1);
    }
    seen stop = { .stop_after = 3 };
    assert_int_equal(lt_store_walk_log(t, 1, 0, collect, &stop), 7);
    assert_int_equal(stop.n, 3);
    lt_store_txn_abort(&t);
}

/* Check the counters a `lienthongctl stats` user reads. */
static void check_stats(env *e)
{
    lt_store_stats st;

    assert_int_equal(lt_store_stats_get(e->s, &st), 0);
    assert_int_equal(st.last_seq, 7);
    assert_int_equal(st.events, 7);
    assert_int_equal(st.status_events, 6);
    assert_int_equal(st.result_events, 1);
    assert_int_equal(st.dossiers, 3);
    for (int i = 1; i <= 10; i++) {
        uint64_t want = (i == 2 || i == 3 || i == 10) ? 1 : 0;
        if (st.by_status[i] != want)
            fail_msg("by_status[%d] = %llu, want %llu", i, (unsigned long long)st.by_status[i],
                     (unsigned long long)want);
    }
    assert_true(st.map_used > 0 && st.map_used <= st.map_size);
    assert_true(st.file_size > 0);
    assert_true(st.max_readers > 0);
}

static void stats_count_events_and_dossiers_by_current_status(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    evbuf b;
    uint64_t seq;

    open_store(e, 0);
    put1(e, "a1", "DA", 2); /* DA: 2 */
    put1(e, "a2", "DA", 4); /* DA: 4 */
    put1(e, "r1", "DA", 0); /* result: DA stays 4 */
    /* one batch moving DA twice and adding two dossiers */
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "a3", "DA", 9), &seq), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "a4", "DA", 10), &seq), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "b1", "DB", 2), &seq), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "c1", "DC", 3), &seq), 0);
    assert_int_equal(lt_store_txn_commit(&t), 0);
    check_stats(e);
    reopen_store(e, 0);
    check_stats(e);
    /* read-only opens see the same figures */
    lt_store_close(&e->s);
    lt_store_opts ro = { .dir = e->dir, .read_only = true };
    assert_int_equal(lt_store_open(&ro, &e->s, NULL, NULL), 0);
    check_stats(e);
}

static void abort_leaves_nothing_behind(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    lt_store_stats st;
    evbuf b;
    uint64_t seq;

    open_store(e, 0);
    put1(e, "a1", "DA", 2);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "a2", "DA", 4), &seq), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "b1", "DB", 2), &seq), 0);
    assert_int_equal(seq, 3);
    lt_store_txn_abort(&t);
    assert_null(t);
    lt_store_txn_abort(&t); /* NULL-safe */
    lt_store_txn_abort(NULL);

    assert_int_equal(lt_store_last_seq(e->s), 1);
    assert_int_equal(lt_store_stats_get(e->s, &st), 0);
    assert_int_equal(st.events, 1);
    assert_int_equal(st.status_events, 1);
    assert_int_equal(st.dossiers, 1);
    assert_int_equal(st.by_status[2], 1);
    assert_int_equal(st.by_status[4], 0);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "a2", &seq), LT_ERR_NOT_FOUND);
    lt_dossier_state *ds = NULL;
    assert_int_equal(lt_store_get_state(t, "DB", &ds), LT_ERR_NOT_FOUND);
    /* the aborted sequence numbers are handed out again: no holes */
    assert_int_equal(lt_store_next_seq(t), 2);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "a2", "DA", 4), &seq), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(lt_store_txn_commit(&t), 0);
}

/* Overwrite meta/schema_version with raw LMDB, as an older or newer build would. */
static int count_kv(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(int *)arg;
    return 0;
}

static void write_schema_version(const char *dir, const char *version)
{
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { strlen("schema_version"), "schema_version" };
    MDB_val v = { strlen(version), (void *)version };

    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_set_maxdbs(menv, 16), 0);
    assert_int_equal(mdb_env_open(menv, dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(menv, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(menv);
}

/* Make the store look like a version 1 store: no delivery databases, no id. */
static void downgrade_to_v1(const char *dir)
{
    static const char *const names[] = { "outbox", "delivery", "dead", "cursors", "links" };
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { strlen("store_id"), "store_id" };

    assert_int_equal(mdb_env_create(&menv), 0);
    assert_int_equal(mdb_env_set_maxdbs(menv, 16), 0);
    assert_int_equal(mdb_env_open(menv, dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(menv, NULL, 0, &txn), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(mdb_dbi_open(txn, names[i], 0, &dbi), 0);
        assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    }
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(menv);
    write_schema_version(dir, "1");
}

static void other_schema_version_is_refused_at_open(void **state)
{
    env *e = *state;
    lt_store_opts o = { .dir = e->dir };
    lt_diag d;

    open_store(e, 0);
    put1(e, "a1", "DA", 2);
    lt_store_close(&e->s);
    write_schema_version(e->dir, "3");

    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&o, &e->s, NULL, &d), LT_ERR_SCHEMA);
    assert_null(e->s);
    assert_non_null(strstr(d.message, "schema version 3 is not supported"));
    assert_non_null(strstr(d.message, e->dir));
    o.read_only = true;
    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&o, &e->s, NULL, &d), LT_ERR_SCHEMA);
    assert_non_null(strstr(d.message, "schema version 3"));

    /* back to 2: opens again, data intact */
    write_schema_version(e->dir, "2");
    open_store(e, 0);
    assert_int_equal(lt_store_last_seq(e->s), 1);
}

/* A version 1 store: read-only opens read it as is; the daemon upgrades it. */
static void version_1_store_is_upgraded(void **state)
{
    env *e = *state;
    lt_store_opts o = { .dir = e->dir, .read_only = true };
    lt_store_txn *t;
    lt_diag d;
    uint64_t seq;
    char id[40];

    open_store(e, 0);
    put1(e, "a1", "DA", 2);
    lt_store_close(&e->s);
    downgrade_to_v1(e->dir);

    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&o, &e->s, NULL, &d), 0);
    assert_string_equal(lt_store_id(e->s), "");
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_find_event(t, SENDER, "a1", &seq), 0);
    assert_int_equal(lt_store_kv_get(t, LT_STORE_DB_OUTBOX, "x", 1, NULL, NULL), LT_ERR_NOT_FOUND);
    lt_store_txn_abort(&t);
    lt_store_close(&e->s);

    open_store(e, 0);
    assert_int_equal(lt_store_upgraded_from(e->s), 1);
    assert_int_equal(strlen(lt_store_id(e->s)), 16);
    snprintf(id, sizeof(id), "%s", lt_store_id(e->s));
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_kv_put(t, LT_STORE_DB_LINKS, "tax", 3, "p", 1), 0);
    assert_int_equal(lt_store_txn_commit(&t), 0);
    lt_store_close(&e->s);

    /* the id is kept across opens; the upgrade happens once */
    open_store(e, 0);
    assert_int_equal(lt_store_upgraded_from(e->s), 0);
    assert_string_equal(lt_store_id(e->s), id);
    assert_int_equal(lt_store_last_seq(e->s), 1);
}

/* Savepoints undo one event's writes alone; key-value walks honour prefixes. */
static void savepoints_and_kv(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    uint64_t seq;
    evbuf b;
    int n = 0;

    open_store(e, 0);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    assert_int_equal(lt_store_savepoint(t), 0);
    assert_int_equal(lt_store_savepoint(t), 0); /* nests */
    lt_store_rollback(t);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "s1", "DS", 2), &seq), 0);
    assert_int_equal(lt_store_kv_put(t, LT_STORE_DB_OUTBOX, "tax\0a", 5, "DS", 2), 0);
    lt_store_rollback(t);
    assert_int_equal(lt_store_next_seq(t), 1);
    assert_int_equal(lt_store_find_event(t, SENDER, "s1", &seq), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_kv_get(t, LT_STORE_DB_OUTBOX, "tax\0a", 5, NULL, NULL),
                     LT_ERR_NOT_FOUND);
    assert_int_equal(lt_store_savepoint(t), 0);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "s2", "DS", 2), &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(lt_store_kv_put(t, LT_STORE_DB_OUTBOX, "tax\0a", 5, "DS", 2), 0);
    assert_int_equal(lt_store_kv_put(t, LT_STORE_DB_OUTBOX, "tax\0b", 5, "DT", 2), 0);
    assert_int_equal(lt_store_kv_put(t, LT_STORE_DB_OUTBOX, "taxx\0a", 6, "DU", 2), 0);
    assert_int_equal(lt_store_release(t), 0);
    assert_int_equal(lt_store_txn_commit(&t), 0);

    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_kv_walk(t, LT_STORE_DB_OUTBOX, "tax\0", 4, NULL, 0, count_kv, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(lt_store_kv_walk(t, LT_STORE_DB_OUTBOX, "tax\0", 4, "tax\0b", 5, count_kv, &n),
                     0);
    assert_int_equal(n, 1);
    lt_store_txn_abort(&t);
}

static void read_only_open_of_a_missing_store_says_so(void **state)
{
    env *e = *state;
    lt_store_opts o = { .dir = e->dir, .read_only = true };
    lt_diag d;

    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&o, &e->s, NULL, &d), -ENOENT);
    assert_null(e->s);
    assert_non_null(strstr(d.message, e->dir));
    assert_non_null(strstr(d.message, "no lienthong store here yet"));
    assert_int_equal(access(e->dir, F_OK), -1); /* read-only never creates */

    /* an existing but empty directory is no store either */
    assert_int_equal(mkdir(e->dir, 0750), 0);
    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&o, &e->s, NULL, &d), -ENOENT);
    assert_non_null(strstr(d.message, "no lienthong store here yet"));

    /* and a parent that cannot be created is reported with its path */
    char deep[200];
    snprintf(deep, sizeof(deep), "%s/no/such/parent", e->tmp);
    lt_store_opts w = { .dir = deep };
    lt_diag_clear(&d);
    assert_int_equal(lt_store_open(&w, &e->s, NULL, &d), -ENOENT);
    assert_non_null(strstr(d.message, deep));
}

static void oversized_keys_are_refused_before_anything_is_written(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    lt_dossier_state next;
    evbuf b;
    uint64_t seq = 0;
    char sender[300], id[600];

    open_store(e, 0);
    memset(sender, 's', sizeof(sender) - 1);
    sender[sizeof(sender) - 1] = '\0';
    memset(id, 'i', 260);
    id[260] = '\0'; /* 299 + 1 + 260 > 511 */

    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    lt_event *ev = ev_make(&b, id, "D1", 2);
    assert_int_equal(lt_validate_transition(ev, NULL, 1, &next, NULL), 0);
    assert_int_equal(lt_store_append(t, sender, T0_MS, ev, NULL, &next, &seq), -E2BIG);
    char dossier[600];
    memset(dossier, 'd', 512);
    dossier[512] = '\0';
    assert_int_equal(
        lt_store_append(t, SENDER, T0_MS, ev_make(&b, "ok", dossier, 2), NULL, &next, &seq),
        -E2BIG);
    /* an empty dossier code is no key at all (validation never lets one through) */
    assert_int_equal(lt_store_append(t, SENDER, T0_MS, ev_make(&b, "ok", "", 2), NULL, &next, &seq),
                     -EINVAL);
    /* the transaction is still usable and the sequence did not move */
    assert_int_equal(lt_store_next_seq(t), 1);
    assert_int_equal(append_in(t, SENDER, ev_make(&b, "ok", "D1", 2), &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(lt_store_txn_commit(&t), 0);

    /* lookups with keys too long to exist simply find nothing */
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    for (size_t n = 500; n <= 520; n++) {
        memset(id, 'i', n);
        id[n] = '\0';
        int r = lt_store_find_event(t, SENDER, id, &seq);
        if (r != LT_ERR_NOT_FOUND)
            fail_msg("find_event with a %zu-byte event id: %s", n, lt_strerror(r));
    }
    lt_dossier_state *ds;
    memset(b.dossier, 'd', 599);
    b.dossier[599] = '\0';
    assert_int_equal(lt_store_get_state(t, b.dossier, &ds), LT_ERR_NOT_FOUND);
    seen s = { 0 };
    assert_int_equal(lt_store_walk_dossier(t, b.dossier, collect, &s), LT_ERR_NOT_FOUND);
    assert_int_equal(s.n, 0);
    lt_store_txn_abort(&t);
    assert_int_equal(lt_store_last_seq(e->s), 1);
}

/* Append big events in careful batches of 8 until the map is full.
 * Returns the number of events committed. */
static uint64_t fill(env *e, int *ret_full_at)
{
    evbuf b;
    uint64_t committed = 0, seq;
    int full = 0;

    for (int batch = 0; batch < 10000 && !full; batch++) {
        lt_store_txn *t;
        assert_int_equal(lt_store_txn_begin(e->s, true, true, &t), 0);
        for (int i = 0; i < 8; i++) {
            char id[32], dossier[32];
            snprintf(id, sizeof(id), "fill-%d-%d", batch, i);
            snprintf(dossier, sizeof(dossier), "F%d-%d", batch, i);
            lt_event *ev = ev_make(&b, id, dossier, 2);
            memset(b.note, 'n', 3000);
            b.st.note = b.note;
            int r = append_in(t, SENDER, ev, &seq);
            if (r == LT_ERR_STORE_FULL) {
                full = 1;
                continue; /* careful: the batch goes on without it */
            }
            assert_int_equal(r, 0);
        }
        uint64_t before = lt_store_next_seq(t) - 1;
        int r = lt_store_txn_commit(&t);
        if (r == LT_ERR_STORE_FULL) {
            full = 2;
            break;
        }
        assert_int_equal(r, 0);
        committed = before;
    }
    *ret_full_at = full;
    return committed;
}

static void full_map_refuses_appends_and_keeps_serving_reads(void **state)
{
    env *e = *state;
    lt_store_txn *t;
    lt_stored_event *se;
    evbuf b;
    uint64_t seq;
    int full;

    open_store(e, 256 * 1024);
    uint64_t n = fill(e, &full);
    assert_true(full != 0);
    assert_true(n > 8);
    assert_int_equal(lt_store_last_seq(e->s), n);

    /* without careful, an append that does not fit fails and the batch is aborted */
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    int r = 0;
    for (int i = 0; i < 64 && r == 0; i++) {
        char id[32];
        snprintf(id, sizeof(id), "late-%d", i);
        lt_event *ev = ev_make(&b, id, id, 2);
        memset(b.note, 'n', 3000);
        b.st.note = b.note;
        r = append_in(t, SENDER, ev, &seq);
        if (r == 0)
            r = lt_store_txn_commit(&t) == 0 ? 0 : LT_ERR_STORE_FULL;
        if (r == 0)
            assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    }
    assert_int_equal(r, LT_ERR_STORE_FULL);
    lt_store_txn_abort(&t);
    n = lt_store_last_seq(e->s);

    /* reads still work */
    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    assert_int_equal(lt_store_get_event(t, n, &se), 0);
    lienthong__v1__stored_event__free_unpacked(se, NULL);
    seen s = { 0 };
    assert_int_equal(lt_store_walk_log(t, 1, 3, collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(lt_store_find_event(t, SENDER, "fill-0-0", &seq), 0);
    assert_int_equal(seq, 1);
    lt_store_txn_abort(&t);
    lt_store_stats st;
    assert_int_equal(lt_store_stats_get(e->s, &st), 0);
    assert_int_equal(st.events, n);
    assert_int_equal(st.by_status[2], n);
    assert_int_equal(st.status_events, n);

    /* a reopen with the same size works; a bigger map takes new events */
    reopen_store(e, 256 * 1024);
    assert_int_equal(lt_store_last_seq(e->s), n);
    reopen_store(e, 4 * 1024 * 1024);
    assert_int_equal(put1(e, "after-grow", "G1", 2), n + 1);
    assert_int_equal(lt_store_stats_get(e->s, &st), 0);
    assert_int_equal(st.events, n + 1);
    assert_int_equal(st.by_status[2], n + 1);
}

/* What the delivery engine reads about a dossier (daemon/dossier_view.h): the
 * first event, the status before, the earlier events, and whether the agency
 * may hold the dossier (an earlier delivery delivered, or marked). */
static void dossier_view_reads_what_came_before(void **state)
{
    env *e = *state;
    open_store(e, 0);
    put1(e, "v-1", "D1", 1);
    put1(e, "v-2", "D1", 2);
    put1(e, "v-3", "D1", 0); /* a result */
    put1(e, "v-4", "D1", 4);
    put1(e, "v-5", "D2", 1);
    lt_store_txn *t;
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &t), 0);
    for (uint64_t seq = 1; seq <= 4; seq++) {
        assert_int_equal(lt_outbox_add(t, "portal", seq, "D1", T0_MS, NULL), 0);
        assert_int_equal(lt_outbox_add(t, "tax", seq, "D1", T0_MS, NULL), 0);
    }
    assert_int_equal(lt_outbox_delivered(t, "portal", 1, T0_MS, "ok"), 0);

    lt_dossier_view v;
    assert_int_equal(lt_dossier_view_read(t, "portal", 4, LT_VIEW_HISTORY, &v), 0);
    assert_true(v.known);
    assert_int_equal(v.status_before, 2);
    assert_int_equal(v.n_history, 3);
    assert_string_equal(v.history[2]->event->event_id, "v-3");
    assert_non_null(v.first);
    assert_string_equal(v.first->event->event_id, "v-1");
    assert_int_equal(v.state->status, 4);
    lt_dossier_view_free(&v);
    assert_null(v.ev);

    /* nothing delivered to tax, no history asked for */
    assert_int_equal(lt_dossier_view_read(t, "tax", 4, LT_VIEW_EARLIER, &v), 0);
    assert_false(v.known);
    assert_null(v.history);
    lt_dossier_view_free(&v);
    /* a first-delivery mark on an earlier tax delivery: the agency may hold it */
    assert_int_equal(lt_outbox_mark_first(t, "tax", 2, T0_MS), 0);
    assert_int_equal(lt_dossier_view_read(t, "tax", 4, LT_VIEW_EARLIER, &v), 0);
    assert_true(v.known);
    lt_dossier_view_free(&v);
    /* the dossier's first event: nothing before it */
    assert_int_equal(lt_dossier_view_read(t, "tax", 1, LT_VIEW_HISTORY, &v), 0);
    assert_false(v.known);
    assert_int_equal(v.status_before, 0);
    assert_int_equal(v.n_history, 0);
    assert_null(v.first);
    lt_dossier_view_free(&v);
    assert_int_equal(lt_dossier_view_read(t, "tax", 99, 0, &v), LT_ERR_NOT_FOUND);
    assert_null(v.ev);
    lt_store_txn_abort(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_creates_the_store_and_reopens_it_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(appended_events_read_back_with_sender_and_seq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dedupe_finds_an_event_by_sender_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(a_claim_puts_the_dedupe_entry_once, setup, teardown),
        cmocka_unit_test_setup_teardown(dossier_walk_returns_its_events_oldest_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(log_walk_honours_from_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(state_walk_gives_each_dossier_once_in_code_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stats_count_events_and_dossiers_by_current_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(abort_leaves_nothing_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(other_schema_version_is_refused_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(version_1_store_is_upgraded, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoints_and_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_open_of_a_missing_store_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_keys_are_refused_before_anything_is_written,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(full_map_refuses_appends_and_keeps_serving_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dossier_view_reads_what_came_before, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
