/* test_ingest_replies.c - the ingest socket's held replies (daemon/ingest.h:
 * lt_ingest_hold, lt_ingest_release, lt_ingest_reply), with a real ROUTER on
 * an ipc endpoint, a DEALER client and a real LMDB store in a temp dir.
 *
 * With the journal the loop acknowledges a pass only once the journal's
 * thread has flushed its records, while it already stages the next pass. So
 * what matters: a held reply never leaves before its ticket is reported
 * flushed; replies leave oldest first; a later pass's replies (a duplicate
 * answered from an event still waiting for its flush) never overtake an
 * earlier pass's; after a commit every held reply goes with the batch;
 * batches admitted on the admit thread keep their order; and an abandoned
 * loop (a failed flush) sends none of them. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "codec.h"
#include "config.h"
#include "ingest.h"
#include "store.h"
#include "tmpdir.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
// clang-format on

#define SENDER "motcua-hcm"

typedef struct env {
    char tmp[64];
    lt_config *cfg;
    lt_store *s;
    void *zctx, *dealer;
    lt_ingest *in;
    lt_store_txn *t; /* the loop's open transaction */
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    char yaml[384], dir[128];
    lt_diag d;

    assert_int_equal(lt_t_tmpdir("ingest-replies", e->tmp, sizeof(e->tmp)), 0);
    snprintf(dir, sizeof(dir), "%s/data", e->tmp);
    snprintf(yaml, sizeof(yaml), "data_dir: %s\ningest:\n  endpoint: ipc://%s/ingest.sock\n", dir,
             e->tmp);
    lt_diag_clear(&d);
    if (lt_config_parse("t.yaml", yaml, strlen(yaml), &e->cfg, &d) != 0)
        fail_msg("config: %s", d.message);
    lt_store_opts o = { .dir = dir, .map_size = 64ull << 20 };
    lt_diag_clear(&d);
    if (lt_store_open(&o, &e->s, NULL, &d) != 0)
        fail_msg("open store: %s", d.message);
    e->zctx = zmq_ctx_new();
    lt_diag_clear(&d);
    if (lt_ingest_new(e->cfg, e->s, e->zctx, &e->in, &d) != 0)
        fail_msg("ingest: %s", d.message);
    e->dealer = zmq_socket(e->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(e->dealer, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(zmq_connect(e->dealer, e->cfg->ingest_endpoint), 0);
    assert_int_equal(lt_store_txn_begin(e->s, true, false, &e->t), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    if (e->t)
        lt_store_txn_abort(&e->t);
    zmq_close(e->dealer);
    lt_ingest_free(&e->in);
    zmq_ctx_term(e->zctx);
    lt_store_close(&e->s);
    lt_config_free(&e->cfg);
    lt_t_rmtree(e->tmp);
    free(e);
    return 0;
}

/* Send a status-1 event event_id for dossier D-<event_id> as request_id. */
static void send_event(env *e, const char *event_id, uint64_t request_id)
{
    lt_submission sub = LIENTHONG__V1__SUBMISSION__INIT;
    lt_event ev = LIENTHONG__V1__EVENT__INIT;
    Lienthong__V1__DossierStatus st = LIENTHONG__V1__DOSSIER_STATUS__INIT;
    char dossier[64];
    uint8_t buf[1024];

    snprintf(dossier, sizeof(dossier), "D-%s", event_id);
    st.has_status = true;
    st.status = 1;
    st.received_at = "2026-01-05T08:00:00+07:00";
    st.due_at = "2026-02-05T17:00:00+07:00";
    ev.event_id = (char *)event_id;
    ev.occurred_at = "2026-01-05T08:00:00+07:00";
    ev.dossier_code = dossier;
    ev.procedure_code = "1.004227";
    ev.agency_code = "000.00.01.H29";
    ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    ev.status = &st;
    sub.has_version = true;
    sub.version = LT_WIRE_VERSION;
    sub.has_request_id = true;
    sub.request_id = request_id;
    sub.sender = SENDER;
    sub.event = &ev;
    size_t n = lienthong__v1__submission__get_packed_size(&sub);
    assert_true(n <= sizeof(buf));
    lienthong__v1__submission__pack(&sub, buf);
    assert_int_equal(zmq_send(e->dealer, buf, n, 0), (int)n);
}

/* Drain the ROUTER into a batch and stage it in the open transaction. */
static void fill_and_stage(env *e, size_t expect_items)
{
    uint32_t routed = 0;
    for (int i = 0; i < 100 && lt_ingest_pending(e->in) < expect_items; i++) {
        zmq_pollitem_t it[2];
        lt_ingest_pollitems(e->in, it);
        zmq_poll(it, 1, 20);
        assert_int_equal(lt_ingest_fill(e->in, -1, 0, LT_INGEST_RECEIVE), 0);
    }
    assert_int_equal(lt_ingest_pending(e->in), expect_items);
    assert_int_equal(lt_ingest_stage(e->in, e->t, expect_items, &routed), 0);
}

/* The next reply on the DEALER within ms, or NULL. */
static lt_reply *next_reply(env *e, long ms)
{
    zmq_pollitem_t it = { e->dealer, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, ms) <= 0)
        return NULL;
    uint8_t buf[4096];
    int n = zmq_recv(e->dealer, buf, sizeof(buf), 0);
    assert_true(n > 0);
    lt_reply *r = lienthong__v1__reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(r);
    return r;
}

static void expect_reply(env *e, uint64_t request_id, int outcome, uint64_t seq)
{
    lt_reply *r = next_reply(e, 2000);
    if (!r)
        fail_msg("no reply for request %llu", (unsigned long long)request_id);
    assert_int_equal(r->request_id, request_id);
    assert_int_equal(r->outcome, outcome);
    assert_int_equal(r->seq, seq);
    lienthong__v1__reply__free_unpacked(r, NULL);
}

static void expect_no_reply(env *e)
{
    lt_reply *r = next_reply(e, 100);
    if (r)
        fail_msg("reply for request %llu sent before its flush", (unsigned long long)r->request_id);
}

#define ACCEPTED  LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED
#define DUPLICATE LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE

static void held_replies_wait_for_their_flush_and_keep_their_order(void **state)
{
    env *e = *state;
    lt_ingest_counters c;

    /* pass 1: three new events, their records flushed as ticket 2 */
    send_event(e, "e1", 101);
    send_event(e, "e2", 102);
    send_event(e, "e3", 103);
    fill_and_stage(e, 3);
    lt_ingest_hold(e->in, 2);
    assert_int_equal(lt_ingest_held(e->in), 3);
    lt_ingest_counters_get(e->in, &c);
    assert_int_equal(c.accepted, 3); /* counted when decided */
    expect_no_reply(e);
    lt_ingest_release(e->in, 1); /* an earlier flush */
    expect_no_reply(e);

    /* pass 2, staged while ticket 2 is flushed: a duplicate of e1 and e4 */
    send_event(e, "e1", 104);
    send_event(e, "e4", 105);
    fill_and_stage(e, 2);
    lt_ingest_hold(e->in, 3);
    assert_int_equal(lt_ingest_held(e->in), 5);
    expect_no_reply(e);

    lt_ingest_release(e->in, 2);
    expect_reply(e, 101, ACCEPTED, 1);
    expect_reply(e, 102, ACCEPTED, 2);
    expect_reply(e, 103, ACCEPTED, 3);
    expect_no_reply(e); /* the duplicate waits for ticket 3, with e4 */
    assert_int_equal(lt_ingest_held(e->in), 2);

    lt_ingest_release(e->in, 3);
    expect_reply(e, 104, DUPLICATE, 1);
    expect_reply(e, 105, ACCEPTED, 4);
    assert_int_equal(lt_ingest_held(e->in), 0);
    lt_ingest_release(e->in, 99); /* nothing left: nothing sent */
    expect_no_reply(e);
}

static void a_commit_sends_the_held_replies_then_the_batch(void **state)
{
    env *e = *state;

    send_event(e, "e1", 201);
    fill_and_stage(e, 1);
    lt_ingest_hold(e->in, 7);
    send_event(e, "e2", 202);
    fill_and_stage(e, 1);
    assert_int_equal(lt_store_txn_commit(&e->t), 0);
    lt_ingest_reply(e->in); /* the commit holds both passes */
    expect_reply(e, 201, ACCEPTED, 1);
    expect_reply(e, 202, ACCEPTED, 2);
    assert_int_equal(lt_ingest_held(e->in), 0);
}

static void many_held_passes_drain_in_order(void **state)
{
    env *e = *state;
    char id[32];
    enum { PASSES = 60, PER = 25 }; /* ~90 KB of held replies: the buffer grows */

    for (uint64_t pass = 1; pass <= PASSES; pass++) {
        for (uint64_t k = 0; k < PER; k++) {
            snprintf(id, sizeof(id), "p%llu-%llu", (unsigned long long)pass, (unsigned long long)k);
            send_event(e, id, pass * 100 + k);
        }
        fill_and_stage(e, PER);
        lt_ingest_hold(e->in, pass);
    }
    assert_int_equal(lt_ingest_held(e->in), PASSES * PER);
    /* flushes complete two passes at a time (the sent front is moved away) */
    for (uint64_t done = 2; done <= PASSES; done += 2) {
        lt_ingest_release(e->in, done);
        for (uint64_t pass = done - 1; pass <= done; pass++)
            for (uint64_t k = 0; k < PER; k++)
                expect_reply(e, pass * 100 + k, ACCEPTED, (pass - 1) * PER + k + 1);
        assert_int_equal(lt_ingest_held(e->in), (PASSES - done) * PER);
    }
    expect_no_reply(e);
}

/* With LT_INGEST_PIPELINE and a backlog, the next batch is admitted on the
 * admit thread while the current one is staged: every event is still
 * answered once, in order, with consecutive seqs, and what does not decode
 * on that thread is answered MALFORMED. */
static void pipelined_batches_keep_their_order(void **state)
{
    env *e = *state;
    char id[32];
    enum { N = 40, MAX = 4 };

    for (uint64_t i = 1; i <= N; i++) {
        snprintf(id, sizeof(id), "q%llu", (unsigned long long)i);
        if (i == 23) { /* garbage in the middle of a later batch */
            assert_int_equal(zmq_send(e->dealer, "\xff\xff\xff", 3, 0), 3);
            continue;
        }
        send_event(e, id, i);
    }
    /* wait until everything is queued on the ROUTER */
    zmq_pollitem_t it[2];
    lt_ingest_pollitems(e->in, it);
    assert_int_equal(zmq_poll(it, 1, 2000), 1);
    usleep(100 * 1000);

    size_t answered = 0;
    bool pipelined = false;
    uint64_t next_seq = 1;
    for (int pass = 0; pass < 100 && answered < N; pass++) {
        assert_int_equal(lt_ingest_fill(e->in, -1, MAX, LT_INGEST_RECEIVE | LT_INGEST_PIPELINE), 0);
        pipelined |= lt_ingest_working(e->in);
        uint32_t routed = 0;
        assert_int_equal(lt_ingest_stage(e->in, e->t, MAX, &routed), 0);
        lt_ingest_reply(e->in);
        lt_reply *r;
        while ((r = next_reply(e, 50)) != NULL) {
            answered++;
            if (r->request_id == 0) { /* the garbage: its request id is unknown */
                assert_int_equal(r->outcome, LIENTHONG__V1__REPLY__OUTCOME__REJECTED);
                assert_int_equal(r->code, LIENTHONG__V1__ERROR_CODE__MALFORMED);
            } else {
                assert_int_equal(r->outcome, ACCEPTED);
                assert_int_equal(r->seq, next_seq);
                next_seq++;
            }
            lienthong__v1__reply__free_unpacked(r, NULL);
        }
    }
    assert_int_equal(answered, N);
    assert_int_equal(next_seq, N); /* N - 1 events stored */
    assert_true(pipelined);
    assert_false(lt_ingest_working(e->in));
}

static void abandoned_replies_are_never_sent(void **state)
{
    env *e = *state;

    send_event(e, "e1", 301);
    fill_and_stage(e, 1);
    lt_ingest_hold(e->in, 5);
    send_event(e, "e2", 302);
    fill_and_stage(e, 1);
    /* and a batch on the admit thread */
    for (uint64_t i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof(id), "w%llu", (unsigned long long)i);
        send_event(e, id, 310 + i);
    }
    usleep(100 * 1000);
    lt_ingest_hold(e->in, 6);
    assert_int_equal(lt_ingest_fill(e->in, -1, 4, LT_INGEST_RECEIVE | LT_INGEST_PIPELINE), 0);
    assert_true(lt_ingest_working(e->in));
    lt_ingest_abandon(e->in); /* the flush failed: the daemon exits */
    assert_false(lt_ingest_working(e->in));
    assert_int_equal(lt_ingest_pending(e->in), 0);
    assert_int_equal(lt_ingest_held(e->in), 0);
    lt_ingest_release(e->in, UINT64_MAX);
    lt_ingest_reply(e->in);
    expect_no_reply(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(held_replies_wait_for_their_flush_and_keep_their_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_commit_sends_the_held_replies_then_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_held_passes_drain_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_batches_keep_their_order, setup, teardown),
        cmocka_unit_test_setup_teardown(abandoned_replies_are_never_sent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
