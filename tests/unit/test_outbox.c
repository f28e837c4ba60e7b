/* test_outbox.c - the transactional outbox (daemon/outbox.h) on a real LMDB
 * store in a fresh temp dir per test: pending walk order, retry, settle, dead
 * letters holding their dossier (and only it), requeue and drop of one and of
 * all, walk_event and the per-agency counts. */
#include "outbox.h"
#include "tmpdir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define T0 1795512600000LL
#define ST(x) LIENTHONG__V1__DELIVERY__STATE__##x

typedef struct env {
    char tmp[64];
    char dir[128];
    lt_store *s;
    lt_store_txn *t; /* the write transaction of the test */
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(lt_t_tmpdir("test-outbox", e->tmp, sizeof(e->tmp)), 0);
    snprintf(e->dir, sizeof(e->dir), "%s/store", e->tmp);
    lt_store_opts o = { .dir = e->dir, .map_size = 64ull << 20 };
    lt_diag d;
    lt_diag_clear(&d);
    if (lt_store_open(&o, &e->s, NULL, &d) != 0)
        fail_msg("open store: %s", d.message);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &e->t), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    lt_store_txn_abort(&e->t);
    lt_store_close(&e->s);
    lt_t_rmtree(e->tmp);
    free(e);
    return 0;
}

/* Commit and start a new write transaction (what the loop does between passes). */
static void recommit(env *e)
{
    assert_int_equal(lt_store_txn_commit(&e->t), 0);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &e->t), 0);
}

typedef struct walk {
    uint64_t seq[64];
    char dossier[64][32];
    int n, stop_after;
} walk;

static int collect(uint64_t seq, const char *dossier, void *arg)
{
    walk *w = arg;
    assert_true(w->n < 64);
    w->seq[w->n] = seq;
    snprintf(w->dossier[w->n], sizeof(w->dossier[0]), "%s", dossier);
    w->n++;
    return w->stop_after && w->n >= w->stop_after ? 1 : 0;
}

static walk pending(env *e, const char *agency, uint64_t from)
{
    walk w;
    memset(&w, 0, sizeof(w));
    assert_int_equal(lt_outbox_walk_pending(e->t, agency, from, collect, &w), 0);
    return w;
}

static void expect_pending(env *e, const char *agency, const uint64_t *want, int n)
{
    walk w = pending(e, agency, 0);
    if (w.n != n)
        fail_msg("%s: %d pending, want %d", agency, w.n, n);
    for (int i = 0; i < n; i++)
        if (w.seq[i] != want[i])
            fail_msg("%s: pending[%d] = %llu, want %llu", agency, i,
                     (unsigned long long)w.seq[i], (unsigned long long)want[i]);
}

static lt_delivery *get(env *e, const char *agency, uint64_t seq)
{
    lt_delivery *d = NULL;
    assert_int_equal(lt_outbox_get(e->t, agency, seq, &d), 0);
    assert_non_null(d);
    assert_string_equal(d->agency, agency);
    assert_int_equal(d->seq, seq);
    return d;
}

static int state_of(env *e, const char *agency, uint64_t seq)
{
    lt_delivery *d = get(e, agency, seq);
    int s = (int)d->state;
    lienthong__v1__delivery__free_unpacked(d, NULL);
    return s;
}

/* land: 3 (D2), 5 (D1), 7 (D1), 9 (D3); portal: 4 (D1); "landx" shares land's prefix bytes. */
static void fill(env *e)
{
    assert_int_equal(lt_outbox_add(e->t, "land", 7, "D1", T0 + 7, "desk"), 0);
    assert_int_equal(lt_outbox_add(e->t, "land", 3, "D2", T0 + 3, "desk"), 0);
    assert_int_equal(lt_outbox_add(e->t, "portal", 4, "D1", T0 + 4, NULL), 0);
    assert_int_equal(lt_outbox_add(e->t, "land", 5, "D1", T0 + 5, "desk"), 0);
    assert_int_equal(lt_outbox_add(e->t, "land", 9, "D3", T0 + 9, "desk"), 0);
    assert_int_equal(lt_outbox_add(e->t, "landx", 1, "D1", T0 + 1, "other"), 0);
    assert_int_equal(lt_outbox_add(e->t, "land", 4, "D1", T0 + 4, "desk"), 0);
}

static void add_and_walk_in_seq_order(void **state)
{
    env *e = *state;
    fill(e);
    recommit(e);
    const uint64_t land[] = { 3, 4, 5, 7, 9 };
    expect_pending(e, "land", land, 5);
    const uint64_t portal[] = { 4 };
    expect_pending(e, "portal", portal, 1);
    const uint64_t landx[] = { 1 };
    expect_pending(e, "landx", landx, 1);
    expect_pending(e, "tax", NULL, 0);

    walk w = pending(e, "land", 0);
    assert_string_equal(w.dossier[0], "D2");
    assert_string_equal(w.dossier[1], "D1");
    assert_string_equal(w.dossier[4], "D3");
    /* from: starts at that seq (inclusive) */
    w = pending(e, "land", 5);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.seq[0], 5);
    assert_int_equal(w.seq[1], 7);
    assert_int_equal(w.seq[2], 9);
    /* a non-zero return stops the walk and is returned */
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    assert_int_equal(lt_outbox_walk_pending(e->t, "land", 0, collect, &w), 1);
    assert_int_equal(w.n, 2);

    lt_delivery *d = get(e, "land", 5);
    assert_int_equal(d->state, ST(PENDING));
    assert_int_equal(d->attempts, 0);
    assert_int_equal(d->created_ms, T0 + 5);
    assert_string_equal(d->dossier_code, "D1");
    assert_string_equal(d->rule, "desk");
    lienthong__v1__delivery__free_unpacked(d, NULL);
    d = get(e, "portal", 4);
    assert_null(d->rule);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    assert_int_equal(lt_outbox_get(e->t, "tax", 4, &d), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_outbox_get(e->t, "land", 6, &d), LT_ERR_NOT_FOUND);
}

static void retry_then_delivered(void **state)
{
    env *e = *state;
    fill(e);
    assert_int_equal(lt_outbox_retry(e->t, "land", 5, T0 + 100, T0 + 2100, "retry later: busy"), 0);
    assert_int_equal(lt_outbox_retry(e->t, "land", 5, T0 + 2200, T0 + 6200, "no reply"), 0);
    recommit(e);
    lt_delivery *d = get(e, "land", 5);
    assert_int_equal(d->state, ST(PENDING));
    assert_int_equal(d->attempts, 2);
    assert_int_equal(d->next_attempt_ms, T0 + 6200);
    assert_int_equal(d->last_attempt_ms, T0 + 2200);
    assert_string_equal(d->last_error, "no reply");
    lienthong__v1__delivery__free_unpacked(d, NULL);
    const uint64_t still[] = { 3, 4, 5, 7, 9 };
    expect_pending(e, "land", still, 5); /* a retry stays in the outbox, in place */

    assert_int_equal(lt_outbox_delivered(e->t, "land", 5, T0 + 7000, "accepted as LT-5"), 0);
    assert_int_equal(lt_outbox_skipped(e->t, "land", 3, T0 + 7000, "nothing to send"), 0);
    recommit(e);
    d = get(e, "land", 5);
    assert_int_equal(d->state, ST(DELIVERED));
    assert_int_equal(d->attempts, 3);
    assert_int_equal(d->done_ms, T0 + 7000);
    assert_string_equal(d->reply, "accepted as LT-5");
    lienthong__v1__delivery__free_unpacked(d, NULL);
    assert_int_equal(state_of(e, "land", 3), ST(SKIPPED));
    const uint64_t left[] = { 4, 7, 9 };
    expect_pending(e, "land", left, 3);

    /* late outcomes for a settled delivery: NOT_FOUND, nothing changes */
    assert_int_equal(lt_outbox_delivered(e->t, "land", 5, T0 + 8000, "again"), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_outbox_retry(e->t, "land", 5, T0 + 8000, T0 + 9000, "x"),
                     LT_ERR_NOT_FOUND);
    assert_int_equal(lt_outbox_dead(e->t, "land", 5, T0 + 8000, "x"), LT_ERR_NOT_FOUND);
    assert_int_equal(lt_outbox_retry(e->t, "land", 6, T0 + 8000, T0 + 9000, "x"),
                     LT_ERR_NOT_FOUND);
    d = get(e, "land", 5);
    assert_int_equal(d->state, ST(DELIVERED));
    assert_int_equal(d->attempts, 3);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    expect_pending(e, "land", left, 3);
}

static void dead_holds_its_dossier_only(void **state)
{
    env *e = *state;
    fill(e);
    assert_false(lt_outbox_held(e->t, "land", "D1"));
    assert_int_equal(lt_outbox_retry(e->t, "land", 4, T0 + 10, T0 + 20, "retry later: busy"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "land", 4, T0 + 30, "permanent failure: no parcel"), 0);
    recommit(e);
    lt_delivery *d = get(e, "land", 4);
    assert_int_equal(d->state, ST(DEAD));
    assert_int_equal(d->attempts, 2);
    assert_int_equal(d->done_ms, T0 + 30);
    assert_string_equal(d->last_error, "permanent failure: no parcel");
    lienthong__v1__delivery__free_unpacked(d, NULL);

    assert_true(lt_outbox_held(e->t, "land", "D1"));
    assert_false(lt_outbox_held(e->t, "land", "D2"));
    assert_false(lt_outbox_held(e->t, "land", "D3"));
    assert_false(lt_outbox_held(e->t, "portal", "D1")); /* other agency */
    assert_false(lt_outbox_held(e->t, "landx", "D1"));  /* name sharing a prefix */
    assert_false(lt_outbox_held(e->t, "land", "D"));    /* dossier sharing a prefix */
    /* out of the pending walk; D1's later ones stay pending (held) */
    const uint64_t land[] = { 3, 5, 7, 9 };
    expect_pending(e, "land", land, 4);

    lt_outbox_counts c;
    assert_int_equal(lt_outbox_count(e->t, "land", &c), 0);
    assert_int_equal(c.pending, 4);
    assert_int_equal(c.held, 2); /* 5 and 7 of D1 */
    assert_int_equal(c.dead, 1);
    assert_int_equal(lt_outbox_count(e->t, "portal", &c), 0);
    assert_int_equal(c.pending, 1);
    assert_int_equal(c.held, 0);
    assert_int_equal(c.dead, 0);
}

typedef struct dlist {
    char what[16][48];
    int n;
} dlist;

static int list_one(const lt_delivery *d, void *arg)
{
    dlist *l = arg;
    assert_true(l->n < 16);
    snprintf(l->what[l->n++], sizeof(l->what[0]), "%s/%s/%llu/%d", d->agency, d->dossier_code,
             (unsigned long long)d->seq, (int)d->state);
    return 0;
}

static void requeue_and_drop_one(void **state)
{
    env *e = *state;
    fill(e);
    assert_int_equal(lt_outbox_retry(e->t, "land", 4, T0 + 10, T0 + 20, "busy"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "land", 4, T0 + 30, "permanent failure: x"), 0);
    recommit(e);

    unsigned n = 99;
    /* not a dead letter: NOT_FOUND, 0 changed */
    assert_int_equal(lt_outbox_requeue(e->t, "land", 5, T0 + 40, &n), LT_ERR_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(lt_outbox_requeue(e->t, "portal", 4, T0 + 40, &n), LT_ERR_NOT_FOUND);

    assert_int_equal(lt_outbox_requeue(e->t, "land", 4, T0 + 40, &n), 0);
    assert_int_equal(n, 1);
    recommit(e);
    lt_delivery *d = get(e, "land", 4);
    assert_int_equal(d->state, ST(PENDING));
    assert_int_equal(d->attempts, 0);
    assert_int_equal(d->next_attempt_ms, 0);
    lienthong__v1__delivery__free_unpacked(d, NULL);
    assert_false(lt_outbox_held(e->t, "land", "D1"));
    const uint64_t all[] = { 3, 4, 5, 7, 9 };
    expect_pending(e, "land", all, 5);
    /* once requeued it is no dead letter any more */
    assert_int_equal(lt_outbox_requeue(e->t, "land", 4, T0 + 50, &n), LT_ERR_NOT_FOUND);

    /* dead again, then dropped: kept in history, out of both indexes */
    assert_int_equal(lt_outbox_dead(e->t, "land", 4, T0 + 60, "permanent failure: y"), 0);
    assert_int_equal(lt_outbox_drop(e->t, "land", 4, T0 + 70, &n), 0);
    assert_int_equal(n, 1);
    recommit(e);
    d = get(e, "land", 4);
    assert_int_equal(d->state, ST(DROPPED));
    assert_int_equal(d->done_ms, T0 + 70);
    assert_string_equal(d->last_error, "permanent failure: y");
    lienthong__v1__delivery__free_unpacked(d, NULL);
    assert_false(lt_outbox_held(e->t, "land", "D1"));
    const uint64_t rest[] = { 3, 5, 7, 9 };
    expect_pending(e, "land", rest, 4);
    assert_int_equal(lt_outbox_drop(e->t, "land", 4, T0 + 80, &n), LT_ERR_NOT_FOUND);
    dlist l = { .n = 0 };
    assert_int_equal(lt_outbox_walk_dead(e->t, NULL, list_one, &l), 0);
    assert_int_equal(l.n, 0);
}

static void requeue_and_drop_all(void **state)
{
    env *e = *state;
    fill(e);
    assert_int_equal(lt_outbox_dead(e->t, "land", 9, T0 + 10, "e9"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "land", 3, T0 + 10, "e3"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "land", 4, T0 + 10, "e4"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "portal", 4, T0 + 10, "p4"), 0);
    assert_int_equal(lt_outbox_dead(e->t, "landx", 1, T0 + 10, "x1"), 0);
    recommit(e);

    /* by agency, then dossier, then seq */
    dlist l = { .n = 0 };
    assert_int_equal(lt_outbox_walk_dead(e->t, NULL, list_one, &l), 0);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.what[0], "land/D1/4/3");
    assert_string_equal(l.what[1], "land/D2/3/3");
    assert_string_equal(l.what[2], "land/D3/9/3");
    assert_string_equal(l.what[3], "landx/D1/1/3");
    assert_string_equal(l.what[4], "portal/D1/4/3");
    memset(&l, 0, sizeof(l));
    assert_int_equal(lt_outbox_walk_dead(e->t, "land", list_one, &l), 0);
    assert_int_equal(l.n, 3);

    unsigned n = 0;
    assert_int_equal(lt_outbox_requeue(e->t, "land", 0, T0 + 20, &n), 0);
    assert_int_equal(n, 3);
    recommit(e);
    const uint64_t land[] = { 3, 4, 5, 7, 9 };
    expect_pending(e, "land", land, 5);
    assert_int_equal(state_of(e, "land", 9), ST(PENDING));
    /* the other agencies' dead letters are untouched ("landx" too) */
    assert_int_equal(state_of(e, "landx", 1), ST(DEAD));
    assert_int_equal(state_of(e, "portal", 4), ST(DEAD));
    assert_true(lt_outbox_held(e->t, "portal", "D1"));
    assert_int_equal(lt_outbox_requeue(e->t, "land", 0, T0 + 30, &n), LT_ERR_NOT_FOUND);
    assert_int_equal(n, 0);

    assert_int_equal(lt_outbox_drop(e->t, "portal", 0, T0 + 40, &n), 0);
    assert_int_equal(n, 1);
    recommit(e);
    assert_int_equal(state_of(e, "portal", 4), ST(DROPPED));
    assert_int_equal(state_of(e, "landx", 1), ST(DEAD));
    expect_pending(e, "portal", NULL, 0);
    assert_int_equal(lt_outbox_drop(e->t, "portal", 0, T0 + 50, &n), LT_ERR_NOT_FOUND);
}

static void walk_event_every_agency(void **state)
{
    env *e = *state;
    fill(e);
    assert_int_equal(lt_outbox_delivered(e->t, "portal", 4, T0 + 10, "ok"), 0);
    recommit(e);
    dlist l = { .n = 0 };
    assert_int_equal(lt_outbox_walk_event(e->t, 4, list_one, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.what[0], "land/D1/4/1");
    assert_string_equal(l.what[1], "portal/D1/4/2");
    memset(&l, 0, sizeof(l));
    assert_int_equal(lt_outbox_walk_event(e->t, 1, list_one, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.what[0], "landx/D1/1/1");
    memset(&l, 0, sizeof(l));
    assert_int_equal(lt_outbox_walk_event(e->t, 2, list_one, &l), 0);
    assert_int_equal(l.n, 0);
}

static void counts(void **state)
{
    env *e = *state;
    lt_outbox_counts c;
    assert_int_equal(lt_outbox_count(e->t, "land", &c), 0);
    assert_int_equal(c.pending, 0);
    assert_int_equal(c.oldest_created_ms, 0);
    fill(e);
    assert_int_equal(lt_outbox_retry(e->t, "land", 7, T0 + 10, T0 + 20, "retry later: one"), 0);
    assert_int_equal(lt_outbox_retry(e->t, "land", 7, T0 + 30, T0 + 40, "retry later: two"), 0);
    assert_int_equal(lt_outbox_retry(e->t, "land", 9, T0 + 30, T0 + 40, "retry later: nine"), 0);
    assert_int_equal(lt_outbox_delivered(e->t, "land", 3, T0 + 50, NULL), 0);
    assert_int_equal(lt_outbox_dead(e->t, "land", 4, T0 + 60, "dead four"), 0);
    recommit(e);
    assert_int_equal(lt_outbox_count(e->t, "land", &c), 0);
    assert_int_equal(c.pending, 3); /* 5, 7, 9 */
    assert_int_equal(c.held, 2);    /* 5, 7 behind dead 4 of D1 */
    assert_int_equal(c.dead, 1);
    assert_int_equal(c.oldest_created_ms, T0 + 5);
    assert_int_equal(c.max_attempts, 2);
    assert_string_equal(c.last_error, "retry later: two");
    assert_int_equal(lt_outbox_count(e->t, "tax", &c), 0);
    assert_int_equal(c.pending + c.dead + c.held, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(add_and_walk_in_seq_order, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_then_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_holds_its_dossier_only, setup, teardown),
        cmocka_unit_test_setup_teardown(requeue_and_drop_one, setup, teardown),
        cmocka_unit_test_setup_teardown(requeue_and_drop_all, setup, teardown),
        cmocka_unit_test_setup_teardown(walk_event_every_agency, setup, teardown),
        cmocka_unit_test_setup_teardown(counts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
