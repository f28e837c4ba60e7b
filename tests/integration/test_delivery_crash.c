/* test_delivery_crash.c - kill -9 the daemon mid-delivery, again and again,
 * and check what the agencies saw.
 *
 * Two simulators (land, portal; a few ms of latency) run for the whole test
 * and remember every key they answered OK. Each round starts lienthongd,
 * resends the events it published but never saw acknowledged, publishes new
 * ones continuously (spread over a set of dossiers, every event routed to
 * both agencies), waits until both simulators have received requests from
 * this daemon (deliveries resumed), and at a random moment sends SIGKILL. A
 * last round publishes nothing new, lets everything drain and stops with
 * SIGTERM. Then:
 *  - the store: every (event, agency) owed is DELIVERED, no outbox left;
 *  - each simulator saw every event's key and acted on it once: a key seen
 *    again is answered OK repeat=1 (repeats only under the same idempotency
 *    key), and each event travels under one key of its own;
 *  - in order per dossier: no request for an event reached a simulator
 *    before the first OK of the dossier's previous event (so the first OKs
 *    are in seq order).
 * LT_CRASH_ROUNDS (default 10) and LT_CRASH_SEED (default: time) tune it.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "outbox.h"

#define ST(x)    LIENTHONG__V1__DELIVERY__STATE__##x
#define SENDER   "motcua-crash"
#define DOSSIERS 40
#define INFLIGHT 32 /* publisher's unacknowledged events */
#define SEND_MS  4  /* one new event every SEND_MS while a round runs */

enum { UNSENT = 0, SENT, ACKED };

typedef struct event {
    int state;
    uint64_t seq;
} event;

static event *EV;
static int n_ev, max_ev;
static uint64_t *prev_of;   /* seq -> previous seq of the dossier, 0 = first */
static int *index_of;       /* seq -> event index + 1 */
static uint64_t max_seq;

static lt_h *RUN_H;
static lt_h_sim *RUN_SIMS[2];

static void on_abort(int sig)
{
    if (RUN_H && RUN_H->pid > 0)
        kill(RUN_H->pid, SIGKILL);
    for (int i = 0; i < 2; i++)
        if (RUN_SIMS[i] && RUN_SIMS[i]->pid > 0)
            kill(RUN_SIMS[i]->pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dossier_of(int i, char *buf, size_t size)
{
    snprintf(buf, size, "H26.K-%03d", i % DOSSIERS);
}

static void send_event(void *c, int i)
{
    char id[32], dossier[32];
    snprintf(id, sizeof(id), "K-%d", i);
    dossier_of(i, dossier, sizeof(dossier));
    int r = i / DOSSIERS; /* the dossier's r-th event: registered, accepted, in progress... */
    lt_submission *s = lt_h_status(SENDER, id, dossier, r == 0 ? 1 : r == 1 ? 2 : 4);
    s->request_id = (uint64_t)i;
    lt_h_send(c, s);
    lt_h_sub_free(s);
    if (EV[i].state == UNSENT)
        EV[i].state = SENT;
}

/* Read replies for up to ms; returns how many. */
static int read_acks(void *c, int ms)
{
    int n = 0;
    lt_reply *r;
    while ((r = lt_h_recv(c, n ? 0 : ms)) != NULL) {
        int i = (int)r->request_id;
        lt_h_check(i >= 0 && i < n_ev, "ack for unknown request %d", i);
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED ||
                       r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE,
                   "K-%d rejected: %s", i, r->message ? r->message : "");
        lt_h_check(!EV[i].seq || EV[i].seq == r->seq, "K-%d acknowledged as seq %" PRIu64
                   " and %" PRIu64, i, EV[i].seq, r->seq);
        if (EV[i].state != ACKED)
            n++;
        EV[i].seq = r->seq;
        EV[i].state = ACKED;
        lienthong__v1__reply__free_unpacked(r, NULL);
    }
    return n;
}

static int lines_of(const lt_h_sim *sim)
{
    return lt_h_sim_count(sim, "outcome=");
}

/* One round: start, resend, publish until kill_after_ms has passed and both
 * simulators heard from this daemon; then SIGKILL (or, when final, drain). */
static void run_round(lt_h *h, lt_h_sim *land, lt_h_sim *portal, int kill_after_ms, bool final)
{
    int land0 = lines_of(land), portal0 = lines_of(portal);
    lt_h_start(h);
    void *c = lt_h_client(h);
    int outstanding = 0;
    for (int i = 0; i < n_ev; i++)
        if (EV[i].state == SENT) {
            send_event(c, i);
            outstanding++;
        }
    int64_t t0 = mono_ms(), next_send = t0, next_look = t0;
    bool resumed = false;
    for (;;) {
        int64_t now = mono_ms();
        if (!final && now >= next_send && outstanding < INFLIGHT && n_ev < max_ev) {
            send_event(c, n_ev++);
            outstanding++;
            next_send += SEND_MS;
        }
        outstanding -= read_acks(c, 1);
        if (now >= next_look) {
            resumed = lines_of(land) > land0 && lines_of(portal) > portal0;
            next_look = now + 20;
        }
        if (final && outstanding <= 0)
            break;
        if (!final && resumed && now - t0 >= kill_after_ms)
            break;
        lt_h_check(now - t0 < 15000, "round stuck: resumed %d, %d unacknowledged", resumed,
                   outstanding);
    }
    zmq_close(c);
    if (!final)
        lt_h_check(lt_h_stop(h, SIGKILL) == 128 + SIGKILL, "daemon did not die of SIGKILL");
}

typedef struct sim_stats {
    int lines, firsts, repeats, keys_repeated;
} sim_stats;

/* See the heading: keys, repeats, order per dossier, everything seen. */
static sim_stats check_sim(const lt_h_sim *sim)
{
    FILE *f = fopen(sim->log, "r");
    lt_h_check(f, "no log %s", sim->log);
    int *first_ok = calloc(max_seq + 1, sizeof(int));
    int *seen = calloc(max_seq + 1, sizeof(int));
    char(*key_of)[64] = calloc(max_seq + 1, 64);
    lt_h_check(first_ok && seen && key_of, "out of memory");
    sim_stats st = { 0 };
    char buf[1024];
    while (fgets(buf, sizeof(buf), f)) {
        int ln = ++st.lines;
        char key[64] = "", dossier[48] = "", outcome[24] = "";
        uint64_t s = 0;
        bool repeat = false;
        char *save = NULL;
        for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
            if (!strncmp(tok, "key=", 4))
                snprintf(key, sizeof(key), "%s", tok + 4);
            else if (!strncmp(tok, "seq=", 4))
                s = strtoull(tok + 4, NULL, 10);
            else if (!strncmp(tok, "dossier=", 8))
                snprintf(dossier, sizeof(dossier), "%s", tok + 8);
            else if (!strncmp(tok, "outcome=", 8))
                snprintf(outcome, sizeof(outcome), "%s", tok + 8);
            else if (!strcmp(tok, "repeat=1"))
                repeat = true;
        }
        lt_h_check(s >= 1 && s <= max_seq && index_of[s], "%s line %d: seq %" PRIu64
                   " is not an event the test published", sim->agency, ln, s);
        char want_dossier[32];
        dossier_of(index_of[s] - 1, want_dossier, sizeof(want_dossier));
        lt_h_check(!strcmp(dossier, want_dossier), "%s line %d: seq %" PRIu64 " dossier %s",
                   sim->agency, ln, s, dossier);
        lt_h_check(!strcmp(outcome, "OK"), "%s line %d: outcome %s from a healthy simulator",
                   sim->agency, ln, outcome);
        if (!key_of[s][0])
            snprintf(key_of[s], 64, "%s", key);
        lt_h_check(!strcmp(key_of[s], key), "%s line %d: seq %" PRIu64 " under key %s, first %s",
                   sim->agency, ln, s, key, key_of[s]);
        uint64_t p = prev_of[s];
        lt_h_check(!p || (first_ok[p] && first_ok[p] < ln),
                   "%s line %d: seq %" PRIu64 " of %s before the first OK of seq %" PRIu64
                   " of the same dossier (order broken)",
                   sim->agency, ln, s, dossier, p);
        if (repeat) {
            lt_h_check(first_ok[s], "%s line %d: repeat=1 without a first OK", sim->agency, ln);
            st.repeats++;
            if (seen[s] == 1)
                st.keys_repeated++;
        } else {
            lt_h_check(!first_ok[s], "%s line %d: seq %" PRIu64 " acted on again (first at "
                       "line %d) without repeat=1: a repeat under another key",
                       sim->agency, ln, s, first_ok[s]);
            first_ok[s] = ln;
            st.firsts++;
        }
        seen[s]++;
    }
    fclose(f);
    for (int i = 0; i < n_ev; i++)
        lt_h_check(first_ok[EV[i].seq], "%s never got K-%d (seq %" PRIu64 ")", sim->agency, i,
                   EV[i].seq);
    /* distinct events, distinct keys (keys end in -<seq>-<agency>) */
    for (uint64_t s = 1; s <= max_seq; s++) {
        if (!key_of[s][0])
            continue;
        char tail[80];
        snprintf(tail, sizeof(tail), "-%" PRIu64 "-%s", s, sim->agency);
        size_t kl = strlen(key_of[s]), tl = strlen(tail);
        lt_h_check(kl > tl && !strcmp(key_of[s] + kl - tl, tail), "%s: seq %" PRIu64 " key %s",
                   sim->agency, s, key_of[s]);
    }
    free(first_ok);
    free(seen);
    free(key_of);
    return st;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGABRT, on_abort);
    const char *e = getenv("LT_CRASH_ROUNDS");
    int rounds = e ? atoi(e) : 10;
    if (rounds < 1)
        rounds = 1;
    e = getenv("LT_CRASH_SEED");
    unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
    srand(seed);
    printf("delivery crash: %d rounds, LT_CRASH_SEED=%u\n", rounds, seed);
    max_ev = rounds * 250 + 100;
    EV = calloc((size_t)max_ev, sizeof(*EV));
    lt_h_check(EV, "out of memory");

    lt_h h;
    lt_h_init(&h, "dlv-crash", NULL);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "agencies:\n"
             "  land: {endpoint: \"%s\", window: 8, timeout_ms: 300, backoff_initial_ms: 100,"
             " backoff_max_ms: 1000}\n"
             "  portal: {endpoint: \"%s\", window: 4, timeout_ms: 300, backoff_initial_ms: 100,"
             " backoff_max_ms: 1000}\n"
             "routes:\n"
             "  - {name: all, kinds: [status], to: [land, portal]}\n",
             lt_h_sim_endpoint(&h, "land"), lt_h_sim_endpoint(&h, "portal"));
    lt_h_sim land = { 0 }, portal = { 0 };
    RUN_H = &h;
    RUN_SIMS[0] = &land;
    RUN_SIMS[1] = &portal;
    lt_h_sim_start(&h, &land, "land", "--latency-ms 3");
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");

    int64_t t0 = mono_ms();
    for (int r = 0; r < rounds; r++)
        run_round(&h, &land, &portal, 100 + rand() % 500, false);
    int published = n_ev;
    run_round(&h, &land, &portal, 0, true); /* acknowledge everything sent */

    /* the seqs, and per dossier the previous one */
    for (int i = 0; i < n_ev; i++) {
        lt_h_check(EV[i].state == ACKED && EV[i].seq, "K-%d never acknowledged", i);
        if (EV[i].seq > max_seq)
            max_seq = EV[i].seq;
    }
    prev_of = calloc(max_seq + 1, sizeof(*prev_of));
    index_of = calloc(max_seq + 1, sizeof(*index_of));
    uint64_t last[DOSSIERS] = { 0 };
    for (int i = 0; i < n_ev; i++) {
        lt_h_check(!index_of[EV[i].seq], "K-%d and K-%d share seq %" PRIu64,
                   index_of[EV[i].seq] - 1, i, EV[i].seq);
        index_of[EV[i].seq] = i + 1;
    }
    for (uint64_t s = 1; s <= max_seq; s++) /* per dossier, in seq order */
        if (index_of[s]) {
            int d = (index_of[s] - 1) % DOSSIERS;
            prev_of[s] = last[d];
            last[d] = s;
        }

    /* drain: both simulators get everything */
    for (int i = 0; i < 3000; i++) {
        int a = lt_h_sim_count(&land, "outcome=OK") - lt_h_sim_count(&land, "repeat=1");
        int b = lt_h_sim_count(&portal, "outcome=OK") - lt_h_sim_count(&portal, "repeat=1");
        if (a >= n_ev && b >= n_ev)
            break;
        usleep(10000);
    }
    usleep(300000);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");

    lt_store *st = lt_h_store(&h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    lt_h_check(lt_store_last_seq(st) == max_seq, "store has seq %" PRIu64 ", events up to %" PRIu64,
               lt_store_last_seq(st), max_seq);
    static const char *const agencies[] = { "land", "portal" };
    for (int a = 0; a < 2; a++) {
        for (int i = 0; i < n_ev; i++) {
            lt_delivery *d = NULL;
            lt_h_check(lt_outbox_get(t, agencies[a], EV[i].seq, &d) == 0,
                       "no %s delivery for K-%d seq %" PRIu64, agencies[a], i, EV[i].seq);
            lt_h_check(d->state == ST(DELIVERED), "%s delivery of seq %" PRIu64 ": state %d",
                       agencies[a], EV[i].seq, (int)d->state);
            lienthong__v1__delivery__free_unpacked(d, NULL);
        }
        lt_outbox_counts c;
        lt_h_check(lt_outbox_count(t, agencies[a], &c) == 0 && c.pending == 0 && c.dead == 0,
                   "%s outbox: %" PRIu64 " pending, %" PRIu64 " dead", agencies[a], c.pending,
                   c.dead);
    }
    lt_store_txn_abort(&t);
    lt_store_close(&st);

    sim_stats sl = check_sim(&land), sp = check_sim(&portal);
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok delivery crash: %d rounds of kill -9, %d events (%d before the last start) "
           "over %d dossiers; land %d requests (%d repeats of %d keys, all repeat=1), "
           "portal %d requests (%d repeats of %d keys); in order; %" PRId64 " ms\n",
           rounds, n_ev, published, DOSSIERS, sl.lines, sl.repeats, sl.keys_repeated, sp.lines,
           sp.repeats, sp.keys_repeated, mono_ms() - t0);
    free(EV);
    free(prev_of);
    free(index_of);
    return 0;
}
