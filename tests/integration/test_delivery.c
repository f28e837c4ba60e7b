/* test_delivery.c - the delivery engine against the agency simulators, checked
 * the way a user would: the simulators' request logs (what each agency saw,
 * in what order, under which idempotency key), the store's delivery records
 * and the dossiers' event streams.
 *
 *  a) burst:     200 dossiers x 3 status events in one pipelined burst to land
 *                and portal: each delivered once, in order per dossier, with
 *                deliveries of different dossiers in flight together (window).
 *  b) down:      portal silent for its first 1.5 s, land healthy: land gets
 *                everything at once, the portal link goes down and is probed a
 *                few times (not once per event), then gets everything in order,
 *                repeats only under the same key (repeat=1); the daemon does
 *                not spin while it waits.
 *  c) permanent: every portal request fails permanently: dead letters with
 *                their error, a delivery_failed result on each dossier, the
 *                dossiers' later events held; after the simulator comes back
 *                healthy, requeue one / drop one / requeue all over the control
 *                socket and everything owed arrives in order.
 *  d) retry:     portal answers RETRY_LATER half the time: all delivered,
 *                attempts recorded; land (max_attempts 2) always RETRY_LATER:
 *                dead after exactly 2 attempts.
 *
 *  e) restart:  the daemon restarts with deliveries owed to an agency whose
 *                gateway comes up after it, and no new event arrives: they
 *                are delivered all the same.
 *
 *  f) pause:    a paused agency is sent nothing (and costs no CPU) while
 *                events for it arrive; on resume it gets them in order.
 *
 *  g) blip:     after a 1 s outage the portal is probed from backoff_initial_ms
 *                on and is back within about a second of the end of it.
 *
 *  h) reply:    tax answers with its notice in the reply: stored on the
 *                dossier, delivered to the portal after the dossier's
 *                statuses, and never routed back to tax itself.
 *
 *  i) slow:     every portal reply comes after timeout_ms: the late OKs
 *                complete their deliveries, retries go under the same key
 *                (repeat=1), order kept.
 *
 * Any of them alone: test_delivery burst|down|permanent|retry|restart|pause|blip|reply|slow.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "lienthong/v1/control.pb-c.h"
#include "outbox.h"

#define ST(x)   LIENTHONG__V1__DELIVERY__STATE__##x
#define MAX_SEQ 4096
#define SENDER  "motcua-hcm"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time (user + system) of process pid so far, in ms. */
static int64_t cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    lt_h_check(f, "%s", path);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* fields after the command name */
    unsigned long long ut = 0, st = 0;
    lt_h_check(
        p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2,
        "cannot parse %s", path);
    return (int64_t)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* ---- what was published ---- */

typedef struct owed {
    int n;                 /* events */
    uint64_t seq[MAX_SEQ]; /* by event index */
    char dossier[MAX_SEQ][40];
    int index_of[MAX_SEQ];  /* seq -> event index + 1, 0 = not ours */
    uint64_t prev[MAX_SEQ]; /* seq -> the dossier's previous seq, 0 = first */
} owed;

static owed *OW;

/* On a failed check (abort) kill what this test started, so that nothing
 * outlives it holding ctest's output pipe. */
static lt_h *RUN_H;
static lt_h_sim *RUN_SIMS[4];

static void on_abort(int sig)
{
    if (RUN_H && RUN_H->pid > 0)
        kill(RUN_H->pid, SIGKILL);
    for (int i = 0; i < 4; i++)
        if (RUN_SIMS[i] && RUN_SIMS[i]->pid > 0)
            kill(RUN_SIMS[i]->pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void watch(lt_h *h, lt_h_sim *a, lt_h_sim *b)
{
    RUN_H = h;
    RUN_SIMS[0] = a;
    RUN_SIMS[1] = b;
}

static void dossier_name(int d, char *buf, size_t size)
{
    snprintf(buf, size, "H26.1.2-261125-%04d", d);
}

/* Publish dossiers x events status events in one pipelined burst (event r of
 * every dossier, then r + 1 ...), all from SENDER; wait for every ack. */
/* Set by a test: the statuses of a dossier's events, and a transfer price on
 * its first one (what the tax adapter needs). */
static const int *STATUSES;
static bool WITH_PRICE;

static void add_price(lt_submission *s)
{
    Lienthong__V1__DossierStatus *st = s->event->status;
    st->data = malloc(sizeof(*st->data));
    st->data[0] = malloc(sizeof(*st->data[0]));
    lienthong__v1__dossier_status__data_entry__init(st->data[0]);
    st->data[0]->key = strdup("transfer_price_vnd");
    st->data[0]->value = strdup("3200000000");
    st->n_data = 1;
}

static void publish(lt_h *h, owed *ow, const char *tag, int dossiers, int events)
{
    memset(ow, 0, sizeof(*ow));
    void *c = lt_h_client(h);
    static const int default_statuses[] = { 1, 2, 4, 6, 9 };
    const int *statuses = STATUSES ? STATUSES : default_statuses;
    for (int r = 0; r < events; r++)
        for (int d = 0; d < dossiers; d++) {
            int i = ow->n++;
            lt_h_check(i < MAX_SEQ, "too many events");
            char id[64];
            snprintf(id, sizeof(id), "%s-%d-%d", tag, d, r);
            dossier_name(d, ow->dossier[i], sizeof(ow->dossier[i]));
            lt_submission *s = lt_h_status(SENDER, id, ow->dossier[i], statuses[r % 5]);
            s->request_id = (uint64_t)i;
            if (WITH_PRICE && r == 0)
                add_price(s);
            lt_h_send(c, s);
            lt_h_sub_free(s);
        }
    for (int k = 0; k < ow->n; k++) {
        lt_reply *rep = lt_h_recv(c, 10000);
        lt_h_check(rep, "no ack within 10 s (%d of %d)", k, ow->n);
        int i = (int)rep->request_id;
        lt_h_check(i >= 0 && i < ow->n && rep->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED,
                   "event %d not accepted: %s", i, rep->message ? rep->message : "");
        lt_h_check(rep->seq > 0 && rep->seq < MAX_SEQ, "seq %" PRIu64 " out of range", rep->seq);
        ow->seq[i] = rep->seq;
        ow->index_of[rep->seq] = i + 1;
        lienthong__v1__reply__free_unpacked(rep, NULL);
    }
    zmq_close(c);
    /* per dossier, the previous event's seq (events of a dossier go in r order) */
    for (int i = 0; i < ow->n; i++)
        if (i >= dossiers) {
            lt_h_check(ow->seq[i] > ow->seq[i - dossiers], "seq order");
            ow->prev[ow->seq[i]] = ow->seq[i - dossiers];
        }
}

/* ---- what a simulator saw ---- */

typedef struct sim_line {
    char key[96];
    uint64_t seq;
    char dossier[48];
    unsigned attempt;
    char outcome[24];
    bool repeat, lost;
} sim_line;

static int read_sim(const lt_h_sim *sim, sim_line **ret)
{
    FILE *f = fopen(sim->log, "r");
    int n = 0, cap = 0;
    sim_line *v = NULL;
    char buf[1024];
    while (f && fgets(buf, sizeof(buf), f)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            v = realloc(v, (size_t)cap * sizeof(*v));
            lt_h_check(v, "out of memory");
        }
        sim_line *l = &v[n++];
        memset(l, 0, sizeof(*l));
        char *save = NULL;
        for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
            if (!strncmp(tok, "key=", 4))
                snprintf(l->key, sizeof(l->key), "%s", tok + 4);
            else if (!strncmp(tok, "seq=", 4))
                l->seq = strtoull(tok + 4, NULL, 10);
            else if (!strncmp(tok, "dossier=", 8))
                snprintf(l->dossier, sizeof(l->dossier), "%s", tok + 8);
            else if (!strncmp(tok, "attempt=", 8))
                l->attempt = (unsigned)strtoul(tok + 8, NULL, 10);
            else if (!strncmp(tok, "outcome=", 8))
                snprintf(l->outcome, sizeof(l->outcome), "%s", tok + 8);
            else if (!strcmp(tok, "repeat=1"))
                l->repeat = true;
            else if (!strcmp(tok, "lost=1"))
                l->lost = true;
        }
    }
    if (f)
        fclose(f);
    *ret = v;
    return n;
}

typedef struct sim_stats {
    int lines, ok_first, repeats, dropped, retry, permanent;
} sim_stats;

/* Check a simulator's log against what is owed to it (want[seq]: 1 = must be
 * delivered, 0 = must never be sent, 2 = may be sent but need not be OK, 3 = as 2,
 * and dropped by the operator: the dossier's next event may follow it):
 *  - every request is for an owed event, each event under one key of its own;
 *  - an event is acted on (OK without repeat=1) at most once; later OKs of the
 *    key are repeat=1;
 *  - in order per dossier: no request for an event arrives before the first
 *    OK of the dossier's previous event;
 *  - every event with want 1 got its OK. */
static sim_stats check_sim(const lt_h_sim *sim, const owed *ow, const unsigned char *want)
{
    sim_line *v;
    int n = read_sim(sim, &v);
    static int first_ok[MAX_SEQ];
    static char key_of[MAX_SEQ][96];
    memset(first_ok, 0, sizeof(first_ok));
    memset(key_of, 0, sizeof(key_of));
    sim_stats st = { .lines = n };
    for (int i = 0; i < n; i++) {
        sim_line *l = &v[i];
        uint64_t s = l->seq;
        lt_h_check(s > 0 && s < MAX_SEQ && ow->index_of[s],
                   "%s line %d: seq %" PRIu64 " is not an event the test published", sim->agency,
                   i + 1, s);
        lt_h_check(want[s], "%s line %d: seq %" PRIu64 " was sent but is not owed (held?)",
                   sim->agency, i + 1, s);
        lt_h_check(!strcmp(l->dossier, ow->dossier[ow->index_of[s] - 1]),
                   "%s line %d: seq %" PRIu64 " with dossier %s, want %s", sim->agency, i + 1, s,
                   l->dossier, ow->dossier[ow->index_of[s] - 1]);
        if (!key_of[s][0])
            snprintf(key_of[s], sizeof(key_of[s]), "%s", l->key);
        lt_h_check(!strcmp(key_of[s], l->key), "%s line %d: seq %" PRIu64 " under key %s, was %s",
                   sim->agency, i + 1, s, l->key, key_of[s]);
        uint64_t p = ow->prev[s];
        lt_h_check(!p || want[p] == 3 || (first_ok[p] && first_ok[p] <= i), /* 1-based */
                   "%s line %d: seq %" PRIu64 " of %s sent before seq %" PRIu64
                   " of the same dossier was delivered",
                   sim->agency, i + 1, s, l->dossier, p);
        if (!strcmp(l->outcome, "OK")) {
            if (l->repeat) {
                lt_h_check(first_ok[s], "%s line %d: repeat=1 before a first OK", sim->agency,
                           i + 1);
                st.repeats++;
            } else {
                lt_h_check(!first_ok[s],
                           "%s line %d: seq %" PRIu64 " acted on twice (lines %d "
                           "and %d): a repeat under a new key",
                           sim->agency, i + 1, s, first_ok[s], i + 1);
                first_ok[s] = i + 1;
                st.ok_first++;
            }
        } else if (!strcmp(l->outcome, "dropped")) {
            st.dropped++;
        } else if (!strcmp(l->outcome, "RETRY_LATER")) {
            lt_h_check(!first_ok[s], "%s line %d: RETRY_LATER after OK", sim->agency, i + 1);
            st.retry++;
        } else if (!strcmp(l->outcome, "PERMANENT_FAILURE")) {
            st.permanent++;
        } else {
            lt_h_fail(__FILE__, __LINE__, "%s line %d: outcome %s", sim->agency, i + 1, l->outcome);
        }
    }
    /* distinct keys for distinct events */
    for (int a = 0; a < ow->n; a++)
        for (int b = a + 1; b < ow->n && key_of[ow->seq[a]][0]; b++)
            lt_h_check(strcmp(key_of[ow->seq[a]], key_of[ow->seq[b]]) != 0,
                       "%s: seq %" PRIu64 " and %" PRIu64 " share key %s", sim->agency, ow->seq[a],
                       ow->seq[b], key_of[ow->seq[a]]);
    for (int i = 0; i < ow->n; i++)
        lt_h_check(want[ow->seq[i]] != 1 || first_ok[ow->seq[i]],
                   "%s never got seq %" PRIu64 " of %s (log %s)", sim->agency, ow->seq[i],
                   ow->dossier[i], sim->log);
    free(v);
    return st;
}

/* Simulator lines answered OK for the first time (not repeats). */
static int firsts(const lt_h_sim *sim)
{
    return lt_h_sim_count(sim, "outcome=OK") - lt_h_sim_count(sim, "repeat=1");
}

static int64_t wait_firsts(const lt_h_sim *sim, int want, int ms)
{
    int64_t t0 = mono_ms();
    while (firsts(sim) < want && mono_ms() - t0 < ms)
        usleep(5000);
    lt_h_check(firsts(sim) == want, "%s: %d events delivered, want %d within %d ms (log %s)",
               sim->agency, firsts(sim), want, ms, sim->log);
    return mono_ms();
}

static void all_want(const owed *ow, unsigned char *want, unsigned char v)
{
    memset(want, 0, MAX_SEQ);
    for (int i = 0; i < ow->n; i++)
        want[ow->seq[i]] = v;
}

/* ---- what the store says ---- */

typedef struct store_view {
    lt_store *st;
    lt_store_txn *t;
} store_view;

static store_view view(lt_h *h)
{
    store_view v = { lt_h_store(h), NULL };
    lt_h_check(lt_store_txn_begin(v.st, false, false, &v.t) == 0, "read txn");
    return v;
}

static void unview(store_view *v)
{
    lt_store_txn_abort(&v->t);
    lt_store_close(&v->st);
}

/* The delivery record (caller frees), failing when there is none. */
static lt_delivery *record(store_view *v, const char *agency, uint64_t seq)
{
    lt_delivery *d = NULL;
    lt_h_check(lt_outbox_get(v->t, agency, seq, &d) == 0, "no %s delivery for seq %" PRIu64, agency,
               seq);
    return d;
}

static void expect_state(store_view *v, const char *agency, uint64_t seq, int state)
{
    lt_delivery *d = record(v, agency, seq);
    lt_h_check((int)d->state == state, "%s delivery of seq %" PRIu64 ": state %d, want %d", agency,
               seq, (int)d->state, state);
    lienthong__v1__delivery__free_unpacked(d, NULL);
}

static int count_state(lt_h *h, const char *agency, int state);

/* Wait until n of the published events are DELIVERED to agency in the store. */
static void wait_delivered(lt_h *h, const char *agency, int n, int ms)
{
    int64_t t0 = mono_ms();
    while (count_state(h, agency, ST(DELIVERED)) < n && mono_ms() - t0 < ms)
        usleep(10000);
    lt_h_check(count_state(h, agency, ST(DELIVERED)) == n, "%s: %d DELIVERED in the store, want %d",
               agency, count_state(h, agency, ST(DELIVERED)), n);
}

static int count_state(lt_h *h, const char *agency, int state)
{
    store_view v = view(h);
    int n = 0;
    for (int i = 0; i < OW->n; i++) {
        lt_delivery *d = NULL;
        if (lt_outbox_get(v.t, agency, OW->seq[i], &d) == 0)
            n += (int)d->state == state;
        lienthong__v1__delivery__free_unpacked(d, NULL);
    }
    unview(&v);
    return n;
}

/* delivery_failed results on a dossier, from lienthongd. */
typedef struct bounces {
    int n;
    uint64_t seq[8];
    char err[8][256];
    char agency[8][32];
} bounces;

static int bounce_one(uint64_t seq, const lt_stored_event *se, void *arg)
{
    bounces *b = arg;
    const lt_event *ev = se->event;
    if (ev->body_case != LIENTHONG__V1__EVENT__BODY_RESULT || !ev->result->kind ||
        strcmp(ev->result->kind, "delivery_failed") != 0)
        return 0;
    lt_h_check(se->sender && !strcmp(se->sender, "lienthongd"),
               "delivery_failed result from sender %s", se->sender ? se->sender : "(none)");
    if (b->n == 8)
        return 0;
    b->seq[b->n] = seq;
    b->err[b->n][0] = b->agency[b->n][0] = '\0';
    for (size_t i = 0; i < ev->result->n_data; i++) {
        if (!strcmp(ev->result->data[i]->key, "error"))
            snprintf(b->err[b->n], sizeof(b->err[0]), "%s", ev->result->data[i]->value);
        if (!strcmp(ev->result->data[i]->key, "agency"))
            snprintf(b->agency[b->n], sizeof(b->agency[0]), "%s", ev->result->data[i]->value);
    }
    b->n++;
    return 0;
}

static int count_deliveries(const lt_delivery *d, void *arg)
{
    (void)d;
    ++*(int *)arg;
    return 0;
}

static bounces bounces_of(store_view *v, const char *dossier)
{
    bounces b;
    memset(&b, 0, sizeof(b));
    lt_h_check(lt_store_walk_dossier(v->t, dossier, bounce_one, &b) == 0, "walk %s", dossier);
    for (int i = 0; i < b.n; i++) {
        int n = 0;
        lt_outbox_walk_event(v->t, b.seq[i], count_deliveries, &n);
        lt_h_check(n == 0, "the delivery_failed result seq %" PRIu64 " was routed (%d deliveries)",
                   b.seq[i], n);
    }
    return b;
}

/* ---- the control socket ---- */

static uint32_t control_version = 1; /* what control() sends */

static Lienthong__V1__ControlReply *control(lt_h *h, int command, const char *agency, uint64_t seq)
{
    char ep[400];
    snprintf(ep, sizeof(ep), "ipc://%s/control.sock", h->data_dir);
    void *s = zmq_socket(h->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    lt_h_check(zmq_connect(s, ep) == 0, "connect %s", ep);
    Lienthong__V1__ControlRequest q = LIENTHONG__V1__CONTROL_REQUEST__INIT;
    q.has_version = q.has_command = true;
    q.version = control_version;
    q.command = command;
    q.agency = (char *)agency;
    q.has_seq = true;
    q.seq = seq;
    uint8_t buf[256];
    size_t len = lienthong__v1__control_request__pack(&q, buf);
    lt_h_check(zmq_send(s, buf, len, 0) == (int)len, "control send");
    zmq_pollitem_t p = { s, 0, ZMQ_POLLIN, 0 };
    lt_h_check(zmq_poll(&p, 1, 5000) == 1, "no control reply within 5 s");
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_recv(&m, s, 0);
    Lienthong__V1__ControlReply *r =
        lienthong__v1__control_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    zmq_close(s);
    lt_h_check(r, "control reply does not decode");
    return r;
}

static unsigned control_ok(lt_h *h, int command, const char *agency, uint64_t seq)
{
    Lienthong__V1__ControlReply *r = control(h, command, agency, seq);
    lt_h_check(r->ok, "control command %d %s %" PRIu64 " failed: %s", command, agency, seq,
               r->message ? r->message : "");
    unsigned n = r->affected;
    lienthong__v1__control_reply__free_unpacked(r, NULL);
    return n;
}

/* ---- config ---- */

/* Two agencies, a rule sending the desk's status events to both. */
static void setup(lt_h *h, const char *name, const char *land_opts, const char *portal_opts)
{
    lt_h_init(h, name, NULL);
    snprintf(h->extra_yaml, sizeof(h->extra_yaml),
             "log:\n  level: debug\n"
             "agencies:\n"
             "  land: {endpoint: \"%s\", senders: [vpdkdd-hcm], %s}\n"
             "  portal: {endpoint: \"%s\", %s}\n"
             "routes:\n"
             "  - {name: desk, kinds: [status], senders: [\"motcua-*\"], to: [land, portal]}\n",
             lt_h_sim_endpoint(h, "land"), land_opts, lt_h_sim_endpoint(h, "portal"), portal_opts);
}

#define FAST "window: 8, timeout_ms: 300, backoff_initial_ms: 100, backoff_max_ms: 1000"

/* ---- a) many dossiers in one burst ---- */

static void test_burst(void)
{
    enum { DOSSIERS = 200, EVENTS = 3, LATENCY = 30 };
    lt_h h;
    /* a generous timeout: this run must see no retry at all */
    setup(&h, "dlv-burst",
          "window: 8, timeout_ms: 5000, backoff_initial_ms: 100, backoff_max_ms: 1000",
          "window: 8, timeout_ms: 5000, backoff_initial_ms: 100, backoff_max_ms: 1000");
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", "--latency-ms 30");
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 30");
    lt_h_start(&h);
    int64_t t0 = mono_ms();
    publish(&h, OW, "B", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    int64_t t_land = wait_firsts(&land, total, 30000) - t0;
    int64_t t_portal = wait_firsts(&portal, total, 30000) - t0;
    usleep(200000); /* nothing more may arrive */

    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sl = check_sim(&land, OW, want), sp = check_sim(&portal, OW, want);
    lt_h_check(sl.lines == total && sp.lines == total,
               "delivered once: land saw %d requests, portal %d, want %d each", sl.lines, sp.lines,
               total);
    /* One at a time, 600 deliveries of 30 ms take 18 s; the window of 8 spreads
     * them over 8 dossiers at once. Anything under half of that shows overlap. */
    int64_t serial = (int64_t)total * LATENCY;
    lt_h_check(t_land < serial / 2 && t_portal < serial / 2,
               "no concurrency: land took %" PRId64 " ms, portal %" PRId64
               " ms; one at a time is %" PRId64 " ms",
               t_land, t_portal, serial);

    store_view v = view(&h);
    for (int i = 0; i < OW->n; i++) {
        lt_delivery *d = record(&v, "land", OW->seq[i]);
        lt_h_check(d->state == ST(DELIVERED) && d->attempts == 1,
                   "land seq %" PRIu64 ": state %d attempts %u", OW->seq[i], (int)d->state,
                   d->attempts);
        lt_h_check(d->rule && !strcmp(d->rule, "desk"), "rule not recorded");
        lienthong__v1__delivery__free_unpacked(d, NULL);
        expect_state(&v, "portal", OW->seq[i], ST(DELIVERED));
    }
    lt_outbox_counts c;
    lt_h_check(lt_outbox_count(v.t, "portal", &c) == 0 && c.pending == 0 && c.dead == 0,
               "portal outbox not empty");
    unview(&v);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok burst: %d events x 2 agencies, each once and in order; land %" PRId64
           " ms, portal %" PRId64 " ms (serial would be %" PRId64 " ms)\n",
           total, t_land, t_portal, serial);
}

/* ---- b) an agency down for a while, then back ---- */

static void test_down(void)
{
    enum { DOSSIERS = 50, EVENTS = 3, DOWN_MS = 1500 };
    lt_h h;
    /* an attempt times out after 1 s, probes start 100 ms apart: a probe is
     * in flight long after the next one would be due */
    setup(&h, "dlv-down", FAST,
          "window: 8, timeout_ms: 1000, backoff_initial_ms: 100, backoff_max_ms: 1000, "
          "down_after: 3");
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", "--latency-ms 5");
    int64_t portal_t0 = mono_ms();
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5 --down-ms 0:1500");
    lt_h_start(&h);
    int64_t cpu0 = cpu_ms(h.pid), wall0 = mono_ms();
    publish(&h, OW, "D", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;

    /* land is not held up by the portal */
    int64_t land_done = wait_firsts(&land, total, 10000);
    int portal_ok_then = lt_h_sim_count(&portal, "outcome=OK");
    lt_h_check(land_done - portal_t0 < DOWN_MS,
               "land took until %" PRId64
               " ms after the portal went down; the test needs it within the outage",
               land_done - portal_t0);
    lt_h_check(portal_ok_then == 0, "portal answered during its outage?");
    lt_h_check(lt_h_wait_log(&h, "agency link down agency=portal", 3000),
               "no \"agency link down agency=portal\" in %s", h.log);

    int64_t portal_done = wait_firsts(&portal, total, 20000);
    /* waiting on a down link costs nothing: no busy loop while a probe is out */
    int64_t cpu = cpu_ms(h.pid) - cpu0, wall = mono_ms() - wall0;
    lt_h_check(cpu * 4 < wall,
               "the daemon used %" PRId64 " ms of CPU in %" PRId64
               " ms with one agency down (busy loop?)",
               cpu, wall);
    lt_h_check(lt_h_wait_log(&h, "agency link up agency=portal", 1000), "no link up in the log");
    usleep(300000);

    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sl = check_sim(&land, OW, want), sp = check_sim(&portal, OW, want);
    lt_h_check(sl.lines == total && sl.dropped == 0 && sl.repeats == 0,
               "land: %d requests (%d dropped, %d repeats), want %d", sl.lines, sl.dropped,
               sl.repeats, total);
    /* probes gently: the first window (8), then one probe at a time spaced by a
     * doubling backoff (100 ms .. 1 s): a handful over 1.5 s, never one per event */
    lt_h_check(sp.dropped >= 3 && sp.dropped <= 8 + 12,
               "portal saw %d requests while down (want a window's worth and a few probes, "
               "not one per event: %d events)",
               sp.dropped, total);

    store_view v = view(&h);
    int retried = 0;
    for (int i = 0; i < OW->n; i++) {
        expect_state(&v, "land", OW->seq[i], ST(DELIVERED));
        lt_delivery *d = record(&v, "portal", OW->seq[i]);
        lt_h_check(d->state == ST(DELIVERED), "portal seq %" PRIu64 " state %d", OW->seq[i],
                   (int)d->state);
        if (d->attempts > 1) {
            retried++;
            lt_h_check(d->last_error && strstr(d->last_error, "no reply"),
                       "portal seq %" PRIu64 ": retried without last_error", OW->seq[i]);
        }
        lienthong__v1__delivery__free_unpacked(d, NULL);
    }
    unview(&v);
    lt_h_check(retried >= 1, "no portal delivery needed a second attempt?");

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok down: land %d delivered during the portal's outage, portal probed %d times, "
           "then %d delivered in order %" PRId64 " ms after it went down (%d repeats); "
           "daemon CPU %" PRId64 " ms in %" PRId64 " ms\n",
           total, sp.dropped, total, portal_done - portal_t0, sp.repeats, cpu, wall);
}

/* ---- c) permanent failures, dead letters, requeue ---- */

static void test_permanent(void)
{
    enum { DOSSIERS = 5, EVENTS = 3 };
    lt_h h;
    setup(&h, "dlv-perm", FAST, FAST);
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", NULL);
    lt_h_sim_start(&h, &portal, "portal", "--permanent-rate 1");
    lt_h_start(&h);
    publish(&h, OW, "P", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    wait_firsts(&land, total, 10000);

    /* each dossier's first event fails for good; the rest wait behind it */
    for (int i = 0; i < 500 && lt_h_sim_count(&portal, "PERMANENT_FAILURE") < DOSSIERS; i++)
        usleep(10000);
    int64_t t0 = mono_ms();
    bool all_bounced = false;
    while (!all_bounced && mono_ms() - t0 < 5000) {
        store_view v = view(&h);
        all_bounced = true;
        for (int d = 0; d < DOSSIERS; d++)
            all_bounced = all_bounced && bounces_of(&v, OW->dossier[d]).n == 1;
        unview(&v);
        if (!all_bounced)
            usleep(20000);
    }
    lt_h_check(all_bounced, "not every dossier got its delivery_failed result");
    usleep(500000); /* long enough for held deliveries to go out, were they not held */

    static unsigned char want[MAX_SEQ];
    memset(want, 0, sizeof(want));
    for (int d = 0; d < DOSSIERS; d++)
        want[OW->seq[d]] = 2; /* sent, answered PERMANENT_FAILURE */
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines == DOSSIERS && sp.permanent == DOSSIERS,
               "portal saw %d requests (%d permanent failures), want %d: one per dossier", sp.lines,
               sp.permanent, DOSSIERS);

    store_view v = view(&h);
    for (int d = 0; d < DOSSIERS; d++) {
        lt_delivery *r = record(&v, "portal", OW->seq[d]);
        lt_h_check(r->state == ST(DEAD) && r->attempts == 1 && r->last_error &&
                       strstr(r->last_error, "permanent failure"),
                   "portal seq %" PRIu64 ": state %d attempts %u error %s", OW->seq[d],
                   (int)r->state, r->attempts, r->last_error ? r->last_error : "(none)");
        lienthong__v1__delivery__free_unpacked(r, NULL);
        for (int e = 1; e < EVENTS; e++) {
            r = record(&v, "portal", OW->seq[d + e * DOSSIERS]);
            lt_h_check(r->state == ST(PENDING) && r->attempts == 0,
                       "held portal seq %" PRIu64 ": state %d attempts %u",
                       OW->seq[d + e * DOSSIERS], (int)r->state, r->attempts);
            lienthong__v1__delivery__free_unpacked(r, NULL);
        }
        lt_h_check(lt_outbox_held(v.t, "portal", OW->dossier[d]), "dossier not held");
        lt_h_check(!lt_outbox_held(v.t, "land", OW->dossier[d]), "land held");
        bounces b = bounces_of(&v, OW->dossier[d]);
        lt_h_check(b.n == 1 && b.seq[0] > OW->seq[d] && !strcmp(b.agency[0], "portal") &&
                       strstr(b.err[0], "permanent failure"),
                   "dossier %s: delivery_failed result %d agency %s error %s", OW->dossier[d], b.n,
                   b.agency[0], b.err[0]);
    }
    lt_outbox_counts c;
    lt_h_check(lt_outbox_count(v.t, "portal", &c) == 0, "count");
    lt_h_check(c.dead == DOSSIERS && c.pending == (uint64_t)(total - DOSSIERS) &&
                   c.held == c.pending,
               "portal counts: dead %" PRIu64 " pending %" PRIu64 " held %" PRIu64, c.dead,
               c.pending, c.held);
    unview(&v);
    for (int i = 0; i < OW->n; i++) /* land was not affected */
        want[OW->seq[i]] = 1;
    sim_stats sl = check_sim(&land, OW, want);
    lt_h_check(sl.lines == total, "land saw %d requests, want %d", sl.lines, total);

    /* the portal is fixed; the operator requeues */
    lt_h_sim_stop(&portal);
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");
    int before = lt_h_sim_count(&portal, "outcome=");

    /* requeue one: dossier 0 goes through, the others stay held */
    unsigned n =
        control_ok(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__REQUEUE, "portal", OW->seq[0]);
    lt_h_check(n == 1, "requeue one affected %u", n);
    wait_firsts(&portal, EVENTS, 10000);
    /* drop one: dossier 4's dead letter is given up, its later events go out */
    n = control_ok(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__DROP, "portal", OW->seq[4]);
    lt_h_check(n == 1, "drop one affected %u", n);
    wait_firsts(&portal, EVENTS + EVENTS - 1, 10000);
    /* a later version of the control protocol: refused, named, nothing changed */
    control_version = 2;
    Lienthong__V1__ControlReply *r2 =
        control(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__REQUEUE, "portal", 0);
    control_version = 1;
    lt_h_check(!r2->ok && r2->message && strstr(r2->message, "unsupported version 2") &&
                   r2->affected == 0,
               "a version 2 command was not refused: %s", r2->message ? r2->message : "");
    lienthong__v1__control_reply__free_unpacked(r2, NULL);

    /* requeue the rest */
    n = control_ok(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__REQUEUE, "portal", 0);
    lt_h_check(n == DOSSIERS - 2, "requeue all affected %u, want %d", n, DOSSIERS - 2);
    wait_firsts(&portal, total - 1, 10000);
    usleep(300000);
    Lienthong__V1__ControlReply *r =
        control(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__REQUEUE, "portal", 0);
    lt_h_check(r->affected == 0, "nothing left to requeue, yet %u", r->affected);
    lienthong__v1__control_reply__free_unpacked(r, NULL);

    for (int i = 0; i < OW->n; i++)
        want[OW->seq[i]] = i == 4 ? 3 : 1;
    sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines - before == total - 1 && sp.repeats == 0,
               "after requeue portal saw %d requests (%d repeats), want %d", sp.lines - before,
               sp.repeats, total - 1);
    lt_h_check(lt_h_sim_count(&portal, "outcome=OK") == total - 1, "dropped one delivered?");

    v = view(&h);
    for (int i = 0; i < OW->n; i++)
        expect_state(&v, "portal", OW->seq[i], i == 4 ? ST(DROPPED) : ST(DELIVERED));
    lt_h_check(lt_outbox_count(v.t, "portal", &c) == 0 && c.dead == 0 && c.pending == 0,
               "portal outbox not empty after requeue");
    unview(&v);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok permanent: %d dead letters with delivery_failed results, %d held; requeue one, "
           "drop one, requeue all: %d delivered in order\n",
           DOSSIERS, total - DOSSIERS, total - 1);
}

/* ---- d) retry later; max_attempts ---- */

static void test_retry(void)
{
    enum { DOSSIERS = 20, EVENTS = 3 };
    lt_h h;
    setup(&h, "dlv-retry", FAST ", max_attempts: 2", FAST);
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", "--error-rate 1");
    lt_h_sim_start(&h, &portal, "portal", "--error-rate 0.5 --seed 42");
    lt_h_start(&h);
    publish(&h, OW, "R", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    wait_firsts(&portal, total, 30000);
    /* land: two RETRY_LATER per dossier's first event, then dead */
    for (int i = 0; i < 500 && lt_h_sim_count(&land, "RETRY_LATER") < 2 * DOSSIERS; i++)
        usleep(10000);
    usleep(500000);

    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.retry > 0, "no RETRY_LATER at --error-rate 0.5?");
    lt_h_check(sp.lines == total + sp.retry && sp.repeats == 0,
               "portal: %d requests, %d retries, %d repeats", sp.lines, sp.retry, sp.repeats);
    memset(want, 0, sizeof(want));
    for (int d = 0; d < DOSSIERS; d++)
        want[OW->seq[d]] = 2;
    sim_stats sl = check_sim(&land, OW, want);
    lt_h_check(sl.lines == 2 * DOSSIERS && sl.retry == 2 * DOSSIERS,
               "land saw %d requests (%d RETRY_LATER), want 2 per dossier (%d)", sl.lines, sl.retry,
               2 * DOSSIERS);

    /* attempts recorded: the store's count is what the simulator saw */
    sim_line *lines;
    int nl = read_sim(&portal, &lines);
    store_view v = view(&h);
    int multi = 0;
    for (int i = 0; i < OW->n; i++) {
        unsigned seen = 0;
        for (int k = 0; k < nl; k++)
            seen += lines[k].seq == OW->seq[i];
        lt_delivery *d = record(&v, "portal", OW->seq[i]);
        lt_h_check(d->state == ST(DELIVERED) && d->attempts == seen,
                   "portal seq %" PRIu64 ": state %d attempts %u, simulator saw %u", OW->seq[i],
                   (int)d->state, d->attempts, seen);
        if (seen > 1) {
            multi++;
            lt_h_check(d->last_error && strstr(d->last_error, "retry later"),
                       "portal seq %" PRIu64 ": last_error %s", OW->seq[i],
                       d->last_error ? d->last_error : "(none)");
        }
        lienthong__v1__delivery__free_unpacked(d, NULL);
    }
    free(lines);
    for (int d = 0; d < DOSSIERS; d++) {
        lt_delivery *r = record(&v, "land", OW->seq[d]);
        lt_h_check(r->state == ST(DEAD) && r->attempts == 2 && r->last_error &&
                       strstr(r->last_error, "max_attempts"),
                   "land seq %" PRIu64 ": state %d attempts %u error %s", OW->seq[d], (int)r->state,
                   r->attempts, r->last_error ? r->last_error : "(none)");
        lienthong__v1__delivery__free_unpacked(r, NULL);
        for (int e = 1; e < EVENTS; e++)
            expect_state(&v, "land", OW->seq[d + e * DOSSIERS], ST(PENDING));
        bounces b = bounces_of(&v, OW->dossier[d]);
        lt_h_check(b.n == 1 && !strcmp(b.agency[0], "land"), "dossier %s: %d bounces",
                   OW->dossier[d], b.n);
    }
    unview(&v);
    lt_h_check(!lt_h_log_contains(&h, "agency link down agency=portal"),
               "RETRY_LATER answers took the portal link down");

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok retry: portal %d delivered after %d RETRY_LATER (%d needed more than one "
           "attempt); land %d dead after 2 attempts each\n",
           total, sp.retry, multi, DOSSIERS);
}

/* ---- e) restart with deliveries owed and nothing new coming ---- */

static void test_restart(void)
{
    enum { DOSSIERS = 10, EVENTS = 3 };
    lt_h h;
    setup(&h, "dlv-restart", FAST, FAST);
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", "--latency-ms 5");
    lt_h_start(&h); /* the portal gateway is not up yet */
    publish(&h, OW, "S", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    wait_firsts(&land, total, 10000);
    wait_delivered(&h, "land", total, 5000); /* so that the restart owes land nothing */
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");

    /* the daemon restarts before the gateway: the first send is refused; no
     * new event will come to wake the link, yet delivery must resume */
    lt_h_start(&h);
    usleep(300000);
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");
    int64_t t0 = mono_ms();
    int64_t done = wait_firsts(&portal, total, 10000);
    usleep(200000);
    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines == total, "portal saw %d requests, want %d", sp.lines, total);
    sim_stats sl = check_sim(&land, OW, want);
    lt_h_check(sl.lines == total, "land saw %d requests after the restart, want %d", sl.lines,
               total);
    store_view v = view(&h);
    for (int i = 0; i < OW->n; i++)
        expect_state(&v, "portal", OW->seq[i], ST(DELIVERED));
    unview(&v);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok restart: %d owed deliveries resumed with no new traffic, %" PRId64
           " ms after the gateway came up\n",
           total, done - t0);
}

/* ---- f) a paused agency: nothing sent, nothing spent, all sent on resume ---- */

static void test_pause(void)
{
    enum { DOSSIERS = 10, EVENTS = 3 };
    lt_h h;
    setup(&h, "dlv-pause", FAST, FAST);
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", "--latency-ms 5");
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");
    lt_h_start(&h);
    control_ok(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__PAUSE, "portal", 0);
    publish(&h, OW, "Q", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    wait_firsts(&land, total, 10000);
    int64_t cpu0 = cpu_ms(h.pid), wall0 = mono_ms();
    usleep(1000000);
    int64_t cpu = cpu_ms(h.pid) - cpu0, wall = mono_ms() - wall0;
    lt_h_check(lt_h_sim_count(&portal, "outcome=") == 0, "portal got requests while paused");
    lt_h_check(cpu * 4 < wall,
               "the daemon used %" PRId64 " ms of CPU in %" PRId64
               " ms with a paused agency owed deliveries (busy loop?)",
               cpu, wall);
    control_ok(&h, LIENTHONG__V1__CONTROL_REQUEST__COMMAND__RESUME, "portal", 0);
    wait_firsts(&portal, total, 10000);
    usleep(200000);
    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines == total, "portal saw %d requests, want %d", sp.lines, total);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok pause: nothing sent to the paused portal (daemon CPU %" PRId64 " ms in %" PRId64
           " ms), %d delivered in order on resume\n",
           cpu, wall, total);
}

/* ---- g) a short outage: probing starts at backoff_initial_ms ---- */

static void test_blip(void)
{
    enum { DOSSIERS = 20, EVENTS = 2, DOWN_MS = 1000 };
    lt_h h;
    /* the window's 8 attempts all time out together when the link goes down;
     * probes must then start 100 ms apart and double per failed probe, not
     * per attempt that happened to be in flight (8 doublings: 10 s) */
    setup(&h, "dlv-blip", FAST,
          "window: 8, timeout_ms: 300, backoff_initial_ms: 100, backoff_max_ms: 10000, "
          "down_after: 3");
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", NULL);
    int64_t t0 = mono_ms();
    lt_h_sim_start(&h, &portal, "portal", "--down-ms 0:1000");
    lt_h_start(&h);
    publish(&h, OW, "G", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    int64_t done = wait_firsts(&portal, total, 15000) - t0;
    usleep(200000);
    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    /* probes at about 0.45, 0.95 and 1.65 s: back within a second of the end */
    lt_h_check(done < DOWN_MS + 1200,
               "portal back at %" PRId64 " ms after a %d ms outage "
               "(probed %d times): probing started too late",
               done, DOWN_MS, sp.dropped - 8);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok blip: portal down %d ms, %d requests dropped, all %d delivered %" PRId64
           " ms after it went down\n",
           DOWN_MS, sp.dropped, total, done);
}

/* ---- h) a result carried in the agency's reply ---- */

typedef struct notice_find {
    uint64_t seq;
    char sender[64];
} notice_find;

static int find_notice(uint64_t seq, const lt_stored_event *se, void *arg)
{
    notice_find *n = arg;
    if (se->event->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && se->event->result->kind &&
        !strcmp(se->event->result->kind, "tax_notice")) {
        n->seq = seq;
        snprintf(n->sender, sizeof(n->sender), "%s", se->sender ? se->sender : "");
    }
    return 0;
}

static void test_reply(void)
{
    enum { DOSSIERS = 5, EVENTS = 3 };
    static const int statuses[] = { 1, 2, 6 }; /* registered, accepted, obligation requested */
    lt_h h;
    lt_h_init(&h, "dlv-reply", NULL);
    /* a catch-all result rule names tax too: its own notice must not go back to it */
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "agencies:\n"
             "  tax: {endpoint: \"%s\", senders: [tax-sim], " FAST "}\n"
             "  portal: {endpoint: \"%s\", " FAST "}\n"
             "routes:\n"
             "  - {name: desk, kinds: [status], senders: [\"motcua-*\"], to: [tax, portal]}\n"
             "  - {name: results, kinds: [result], to: [tax, portal]}\n",
             lt_h_sim_endpoint(&h, "tax"), lt_h_sim_endpoint(&h, "portal"));
    lt_h_sim tax = { 0 }, portal = { 0 };
    watch(&h, &tax, &portal);
    lt_h_sim_start(&h, &tax, "tax", "--result-in-reply --latency-ms 5");
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 5");
    lt_h_start(&h);
    STATUSES = statuses;
    WITH_PRICE = true;
    publish(&h, OW, "T", DOSSIERS, EVENTS);
    STATUSES = NULL;
    WITH_PRICE = false;
    int total = DOSSIERS * EVENTS;
    wait_firsts(&tax, DOSSIERS, 10000);            /* the transfers only */
    wait_firsts(&portal, total + DOSSIERS, 10000); /* every status and each notice */
    usleep(300000);

    store_view v = view(&h);
    for (int d = 0; d < DOSSIERS; d++) {
        notice_find n = { 0 };
        lt_store_walk_dossier(v.t, OW->dossier[d], find_notice, &n);
        lt_h_check(n.seq > OW->seq[d + 2 * DOSSIERS],
                   "dossier %s: no notice stored after the "
                   "transfer",
                   OW->dossier[d]);
        lt_h_check(!strcmp(n.sender, "agency:tax"), "notice from %s", n.sender);
        /* owed to portal (after the dossier's last status), not back to tax */
        OW->index_of[n.seq] = OW->n + 1;
        memcpy(OW->dossier[OW->n], OW->dossier[d], sizeof(OW->dossier[0]));
        OW->seq[OW->n++] = n.seq;
        OW->prev[n.seq] = OW->seq[d + 2 * DOSSIERS];
        expect_state(&v, "portal", n.seq, ST(DELIVERED));
        lt_delivery *rec = NULL;
        lt_h_check(lt_outbox_get(v.t, "tax", n.seq, &rec) == LT_ERR_NOT_FOUND,
                   "tax's own notice seq %" PRIu64 " was routed back to tax (state %d)", n.seq,
                   rec ? (int)rec->state : 0);
        expect_state(&v, "tax", OW->seq[d], ST(SKIPPED));
        expect_state(&v, "tax", OW->seq[d + DOSSIERS], ST(SKIPPED));
        expect_state(&v, "tax", OW->seq[d + 2 * DOSSIERS], ST(DELIVERED));
    }
    unview(&v);
    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines == total + DOSSIERS, "portal saw %d requests, want %d", sp.lines,
               total + DOSSIERS);
    lt_h_check(lt_h_sim_count(&tax, "outcome=") == DOSSIERS, "tax saw %d requests, want %d",
               lt_h_sim_count(&tax, "outcome="), DOSSIERS);

    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&tax);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok reply: %d tax notices carried in replies, stored from agency:tax, delivered to "
           "portal in order, not back to tax\n",
           DOSSIERS);
}

/* ---- i) an agency slower than the timeout: late replies ---- */

static void test_slow(void)
{
    enum { DOSSIERS = 10, EVENTS = 2 };
    lt_h h;
    /* every reply comes 150 ms after the attempt timed out */
    setup(&h, "dlv-slow", FAST,
          "window: 8, timeout_ms: 300, backoff_initial_ms: 100, backoff_max_ms: 1000");
    lt_h_sim land = { 0 }, portal = { 0 };
    watch(&h, &land, &portal);
    lt_h_sim_start(&h, &land, "land", NULL);
    lt_h_sim_start(&h, &portal, "portal", "--latency-ms 450");
    lt_h_start(&h);
    publish(&h, OW, "W", DOSSIERS, EVENTS);
    int total = DOSSIERS * EVENTS;
    wait_firsts(&portal, total, 20000);
    wait_delivered(&h, "portal", total, 10000);
    usleep(300000);
    static unsigned char want[MAX_SEQ];
    all_want(OW, want, 1);
    sim_stats sp = check_sim(&portal, OW, want);
    lt_h_check(sp.lines == total + sp.repeats, "portal: %d requests, %d repeats", sp.lines,
               sp.repeats);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok slow: %d delivered though every reply came after the timeout (%d repeats, "
           "all repeat=1)\n",
           total, sp.repeats);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGABRT, on_abort);
    OW = calloc(1, sizeof(*OW));
    lt_h_check(OW, "out of memory");
    const char *only = argc > 1 ? argv[1] : NULL;
    int64_t t0 = mono_ms();
    if (!only || !strcmp(only, "burst"))
        test_burst();
    if (!only || !strcmp(only, "down"))
        test_down();
    if (!only || !strcmp(only, "permanent"))
        test_permanent();
    if (!only || !strcmp(only, "retry"))
        test_retry();
    if (!only || !strcmp(only, "restart"))
        test_restart();
    if (!only || !strcmp(only, "pause"))
        test_pause();
    if (!only || !strcmp(only, "blip"))
        test_blip();
    if (!only || !strcmp(only, "reply"))
        test_reply();
    if (!only || !strcmp(only, "slow"))
        test_slow();
    free(OW);
    printf("ok delivery in %" PRId64 " ms\n", mono_ms() - t0);
    return 0;
}
