/* test_crash.c - kill -9 the daemon at random moments under load; check it
 * the way Jepsen checks a queue.
 *
 * Each round starts lienthongd, first resends every event that was sent but
 * not acknowledged (each must come back DUPLICATE with its stored seq if the
 * killed daemon had committed it, else ACCEPTED), then publishes new events
 * from several pipelining DEALERs until a random moment, when it sends
 * SIGKILL. At the end: lost = acknowledged - stored must be empty, stored -
 * attempted must be empty, every event is stored once with the seq its
 * acknowledgement named, and the log's sequence has no holes.
 *
 * Most kills land while the loop holds a transaction open whose events were
 * acknowledged from the journal (daemon/journal.h); the restart replays
 * them, and the log must show it did at least once.
 *
 * One more round ends with SIGTERM under load and must exit 0, having
 * decoded batches on its admit thread (admitted_ahead in its last log line).
 * LT_CRASH_ROUNDS (default 20) and LT_CRASH_SEED (default: time) tune it;
 * e.g. LT_CRASH_ROUNDS=500 build/bin/test_crash for a long run by hand.
 */
#include "harness.h"

#include "journal.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "journal.h"

/* 256 in flight: above a journaled pass (128), so under load the next batch
 * is decoded on the admit thread while the loop stores (daemon/worker.h) */
enum { CLIENTS = 4, WINDOW = 64, MAX_EVENTS = 2000000, PER_ROUND = 20000 };

/* admitted_ahead=N from the daemon's last "lienthongd stopped" line, or 0. */
static unsigned long long stopped_admitted_ahead(lt_h *h)
{
    FILE *f = fopen(h->log, "r");
    lt_h_check(f, "cannot read %s", h->log);
    char line[1024];
    unsigned long long n = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "lienthongd stopped ");
        if (p && (p = strstr(p, "admitted_ahead=")))
            n = strtoull(p + strlen("admitted_ahead="), NULL, 10);
    }
    fclose(f);
    return n;
}
enum { UNSENT = 0, PENDING, ACKED };

static unsigned char state[MAX_EVENTS];
static uint64_t acked_seq[MAX_EVENTS];
static unsigned char stored_count[MAX_EVENTS];
static int expect_dup[MAX_EVENTS];      /* after a restart: 1 stored before resend, -1 not, 0 n/a */
static unsigned char owner[MAX_EVENTS]; /* client (and sender) that publishes it */
static int n_events;

static void event_name(int n, char *id, size_t idsz, char *dossier, size_t dsz)
{
    snprintf(id, idsz, "C-%d", n);
    snprintf(dossier, dsz, "H26.C-%06d", n);
}

static const char *sender_of(int n)
{
    static const char *s[CLIENTS] = { "crash.a", "crash.b", "crash.c", "crash.d" };
    return s[owner[n]];
}

static void send_event(void *sock, int n)
{
    char id[32], dossier[32];
    event_name(n, id, sizeof(id), dossier, sizeof(dossier));
    lt_submission *s = lt_h_status(sender_of(n), id, dossier, 1 + n % 10);
    s->request_id = (uint64_t)n;
    lt_h_send(sock, s);
    lt_h_sub_free(s);
}

typedef struct client {
    void *sock;
    int inflight;
    int *queue; /* resends first */
    int nq, qi;
} client;

static int dup_seen, resent_accepted;
static int stop_signal = SIGKILL; /* how a non-final round ends */

static void on_reply(client *c, lt_reply *r)
{
    int n = (int)r->request_id;
    lt_h_check(n >= 0 && n < n_events, "reply with unknown request_id %llu",
               (unsigned long long)r->request_id);
    lt_h_check(r->outcome != LIENTHONG__V1__REPLY__OUTCOME__REJECTED, "C-%d rejected: %s %s", n,
               lt_codec_error_name(r->code), r->message ? r->message : "");
    if (expect_dup[n] == 1) {
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE,
                   "C-%d was stored before the restart but the resend was not DUPLICATE", n);
        dup_seen++;
    } else if (expect_dup[n] == -1) {
        lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED,
                   "C-%d was not stored before the restart but the resend was DUPLICATE", n);
        resent_accepted++;
    }
    if (acked_seq[n])
        lt_h_check(acked_seq[n] == r->seq, "C-%d acknowledged twice with seq %llu and %llu", n,
                   (unsigned long long)acked_seq[n], (unsigned long long)r->seq);
    acked_seq[n] = r->seq;
    state[n] = ACKED;
    expect_dup[n] = 0;
    c->inflight--;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Which pending events did the killed daemon commit? Read the store. */
static void classify_pending(lt_h *h)
{
    lt_store *st = lt_h_store(h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    for (int n = 0; n < n_events; n++) {
        if (state[n] != PENDING)
            continue;
        char id[32], dossier[32];
        uint64_t seq;
        event_name(n, id, sizeof(id), dossier, sizeof(dossier));
        expect_dup[n] = lt_store_find_event(t, sender_of(n), id, &seq) == 0 ? 1 : -1;
    }
    lt_store_txn_abort(&t);
    lt_store_close(&st);
}

/* One round: resend pending, publish new until kill_at_ms (or forever if 0). */
static void run_round(lt_h *h, int kill_after_ms, bool final)
{
    lt_h_start(h);
    classify_pending(h);
    client cl[CLIENTS];
    int pending = 0;
    for (int n = 0; n < n_events; n++)
        pending += state[n] == PENDING;
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){ .sock = lt_h_client(h),
                          .queue = malloc(sizeof(int) * (size_t)(pending + 1)) };
    }
    for (int n = 0, k = 0; n < n_events; n++)
        if (state[n] == PENDING) {
            client *c = &cl[owner[n]];
            c->queue[c->nq++] = n;
            k++;
        }
    int new_this_round = 0;
    int64_t kill_at = mono_ms() + kill_after_ms;
    for (;;) {
        bool more = false;
        for (int i = 0; i < CLIENTS; i++) {
            client *c = &cl[i];
            while (c->inflight < WINDOW) {
                if (c->qi < c->nq) {
                    send_event(c->sock, c->queue[c->qi++]);
                } else if (!final && new_this_round < PER_ROUND && n_events < MAX_EVENTS) {
                    int n = n_events++;
                    owner[n] = (unsigned char)i;
                    state[n] = PENDING;
                    send_event(c->sock, n);
                    new_this_round++;
                } else {
                    break;
                }
                c->inflight++;
            }
            more |= c->inflight > 0 || c->qi < c->nq;
        }
        if (final && !more)
            break;
        if (!final && mono_ms() >= kill_at)
            break;
        zmq_pollitem_t p[CLIENTS];
        for (int i = 0; i < CLIENTS; i++)
            p[i] = (zmq_pollitem_t){ cl[i].sock, 0, ZMQ_POLLIN, 0 };
        int r = zmq_poll(p, CLIENTS, final ? 10000 : 5);
        lt_h_check(r >= 0, "poll");
        lt_h_check(r > 0 || !final, "no reply within 10 s in the final round");
        for (int i = 0; i < CLIENTS; i++) {
            lt_reply *rep;
            while ((rep = lt_h_recv(cl[i].sock, 0))) {
                on_reply(&cl[i], rep);
                lienthong__v1__reply__free_unpacked(rep, NULL);
            }
        }
    }
    if (!final) {
        lt_h_check(lt_h_alive(h), "daemon died before the kill; log %s", h->log);
        if (stop_signal == SIGKILL)
            lt_h_check(lt_h_stop(h, SIGKILL) == 128 + SIGKILL, "kill -9 did not kill");
        else
            lt_h_check(lt_h_stop(h, stop_signal) == 0, "SIGTERM under load did not exit 0");
        /* replies already delivered before the kill are real acknowledgements */
        for (int i = 0; i < CLIENTS; i++) {
            lt_reply *rep;
            while ((rep = lt_h_recv(cl[i].sock, 20))) {
                on_reply(&cl[i], rep);
                lienthong__v1__reply__free_unpacked(rep, NULL);
            }
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        zmq_close(cl[i].sock);
        free(cl[i].queue);
    }
    for (int n = 0; n < n_events; n++)
        expect_dup[n] = 0;
}

typedef struct check {
    uint64_t expect_seq;
    int bad;
} check;

static int check_entry(uint64_t seq, const lt_stored_event *ev, void *arg)
{
    check *ck = arg;
    lt_h_check(seq == ck->expect_seq, "hole in the log: seq %llu after %llu",
               (unsigned long long)seq, (unsigned long long)ck->expect_seq - 1);
    ck->expect_seq++;
    int n = -1;
    lt_h_check(sscanf(ev->event->event_id, "C-%d", &n) == 1 && n >= 0 && n < n_events,
               "stored event %s was never attempted", ev->event->event_id);
    lt_h_check(state[n] != UNSENT, "stored event C-%d was never attempted", n);
    lt_h_check(strcmp(ev->sender, sender_of(n)) == 0, "C-%d stored with sender %s", n, ev->sender);
    lt_h_check(++stored_count[n] == 1, "C-%d stored twice (seq %llu)", n, (unsigned long long)seq);
    if (state[n] == ACKED)
        lt_h_check(acked_seq[n] == seq, "C-%d acknowledged as seq %llu but stored at %llu", n,
                   (unsigned long long)acked_seq[n], (unsigned long long)seq);
    return 0;
}

/* The journal alone: with journal_commit_ms far away and the load never
 * pausing, every acknowledgement comes from the journal, not from an LMDB
 * commit. kill -9 mid-load: with the daemon down the store lacks those events
 * and lienthongctl says where they are. The restart, with the journal turned
 * off in the config meanwhile, still replays them and then removes the file;
 * every acknowledged event is stored at the seq its acknowledgement named. */
static void journal_only(void)
{
    enum { N = 20000, W = 16, CHECK_EVERY = 250 };
    static uint64_t seq_of[N];
    lt_h h;
    lt_h_init(&h, "journal", "store:\n  journal_commit_ms: 60000\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    char jpath[400];
    lt_journal_path_in(h.data_dir, jpath, sizeof(jpath));
    int sent = 0, got = 0;
    uint64_t max_acked = 0, committed = 0;
    bool caught = false;
    /* Publish until, with the daemon stopped (SIGSTOP), the journal's front
     * round holds acknowledged events the store lacks; then kill -9 it. */
    while (!caught) {
        lt_h_check(got < N, "journal: no open round with acknowledged events in %d events", N);
        while (sent < N && sent - got < W) {
            char id[32], dossier[32];
            snprintf(id, sizeof(id), "J-%d", sent);
            snprintf(dossier, sizeof(dossier), "H26.J-%05d", sent);
            lt_submission *s = lt_h_status("journal.a", id, dossier, 1);
            s->request_id = (uint64_t)sent++;
            lt_h_send(c, s);
            lt_h_sub_free(s);
        }
        lt_reply *r = lt_h_recv(c, 10000);
        lt_h_check(r && r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED && r->request_id < N,
                   "journal: reply %d missing or not ACCEPTED", got);
        seq_of[r->request_id] = r->seq;
        max_acked = r->seq > max_acked ? r->seq : max_acked;
        lienthong__v1__reply__free_unpacked(r, NULL);
        if (++got % CHECK_EVERY)
            continue;
        lt_h_freeze(&h);
        lt_store_opts o = { .dir = h.data_dir, .read_only = true };
        lt_store *st = NULL;
        lt_store_stats ss;
        lt_diag d;
        lt_h_check(lt_store_open(&o, &st, NULL, &d) == 0 && lt_store_stats_get(st, &ss) == 0,
                   "journal: read the store: %s", d.message);
        uint64_t first = lt_journal_unstored(h.data_dir, lt_store_id(st), ss.last_seq);
        lt_store_close(&st);
        caught = first && first <= max_acked;
        committed = ss.last_seq;
        if (!caught)
            kill(h.pid, SIGCONT);
    }
    lt_h_check(lt_h_stop(&h, SIGKILL) == 128 + SIGKILL, "journal: kill -9");
    zmq_close(c);

    static char out[1 << 16];
    lt_h_ctl(&h, "stats", out, sizeof(out));
    lt_h_check(strstr(out, "were acknowledged but are not in the store yet") &&
                   strstr(out, "/journal") &&
                   strstr(out, "are acknowledged and not in the store yet (the daemon commits"),
               "journal: with the daemon down, stats does not say where the acknowledged events "
               "are:\n%s",
               out);

    snprintf(h.extra_yaml, sizeof(h.extra_yaml), "store:\n  journal_mb: 0\n");
    lt_h_write_config(&h);
    lt_h_start(&h);
    lt_h_check(lt_h_log_contains(&h, "journal replayed events="), "journal: no replay logged");
    lt_h_check(lt_h_log_contains(&h, "journal removed") && access(jpath, F_OK) != 0,
               "journal: %s not removed after its replay with store.journal_mb 0", jpath);
    lt_store *st = lt_h_store(&h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    int stored = 0;
    for (int n = 0; n < N; n++) {
        if (!seq_of[n])
            continue;
        char id[32];
        uint64_t seq = 0;
        snprintf(id, sizeof(id), "J-%d", n);
        lt_h_check(lt_store_find_event(t, "journal.a", id, &seq) == 0 && seq == seq_of[n],
                   "journal: acknowledged %s (seq %llu) lost or moved (found seq %llu)", id,
                   (unsigned long long)seq_of[n], (unsigned long long)seq);
        stored++;
    }
    lt_store_txn_abort(&t);
    lt_store_stats stats;
    lt_store_stats_get(st, &stats);
    lt_store_close(&st);
    lt_h_check(stats.last_seq >= max_acked && stats.events == stats.last_seq,
               "journal: last_seq %llu, %llu log entries, highest acknowledged %llu",
               (unsigned long long)stats.last_seq, (unsigned long long)stats.events,
               (unsigned long long)max_acked);
    printf("ok journal only: %d acknowledged, %llu of them from the journal only when kill -9 "
           "came; stats named the journal; the restart with journal_mb 0 replayed and removed "
           "it: all %d stored at their seqs (last_seq %llu)\n",
           got, (unsigned long long)(max_acked - committed), stored,
           (unsigned long long)stats.last_seq);
    lt_h_free(&h);
}

int main(void)
{
    const char *e = getenv("LT_CRASH_ROUNDS");
    int rounds = e ? atoi(e) : 20;
    e = getenv("LT_CRASH_SEED");
    unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
    srand(seed);
    journal_only();
    printf("crash test: %d rounds, seed %u (LT_CRASH_SEED to repeat)\n", rounds, seed);
    fflush(stdout);

    lt_h h;
    /* small batches too, so kills land between many commits */
    lt_h_init(&h, "crash", "batch:\n  max_events: 256\n");
    for (int r = 0; r < rounds; r++) {
        int kill_after = 10 + rand() % 400;
        int before = n_events;
        run_round(&h, kill_after, false);
        int acked = 0, pending = 0;
        for (int n = 0; n < n_events; n++) {
            acked += state[n] == ACKED;
            pending += state[n] == PENDING;
        }
        printf(
            "round %d/%d: killed after %d ms, %d new events, %d acknowledged, %d unacknowledged\n",
            r + 1, rounds, kill_after, n_events - before, acked, pending);
        fflush(stdout);
    }
    /* one round stopped with SIGTERM under the same load: clean exit, same checks */
    stop_signal = SIGTERM;
    int before_sigterm = n_events;
    run_round(&h, 200, false);
    stop_signal = SIGKILL;
    unsigned long long ahead = stopped_admitted_ahead(&h);
    /* (a long run may have sent its MAX_EVENTS already: no load left) */
    lt_h_check(ahead > 0 || n_events - before_sigterm < PER_ROUND / 4,
               "no batch was decoded on the admit thread under load (%d new events)",
               n_events - before_sigterm);
    printf("SIGTERM round: exit 0, %llu batches decoded on the admit thread\n", ahead);
    /* final round: resend everything unacknowledged, let it finish, stop cleanly */
    run_round(&h, 0, true);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");

    lt_store *st = lt_h_store(&h);
    lt_store_txn *t = NULL;
    lt_h_check(lt_store_txn_begin(st, false, false, &t) == 0, "read txn");
    check ck = { .expect_seq = 1 };
    lt_h_check(lt_store_walk_log(t, 1, 0, check_entry, &ck) == 0, "walk log");
    lt_store_txn_abort(&t);
    lt_store_stats stats;
    lt_store_stats_get(st, &stats);
    lt_store_close(&st);

    int attempted = 0, acked = 0, stored = 0, lost = 0;
    for (int n = 0; n < n_events; n++) {
        attempted += state[n] != UNSENT;
        acked += state[n] == ACKED;
        stored += stored_count[n];
        lost += state[n] == ACKED && stored_count[n] == 0;
    }
    lt_h_check(lost == 0, "%d acknowledged events lost", lost);
    /* the kills hit transactions left open by journaled passes: the
     * acknowledged events in them came back from the journal at start */
    lt_h_check(lt_h_log_contains(&h, "journal replayed events="),
               "no restart replayed the journal: the test did not cover it");
    lt_h_check(acked == attempted, "%d attempted events never acknowledged", attempted - acked);
    lt_h_check((uint64_t)stored == stats.last_seq && stats.events == stats.last_seq,
               "stored %d, last_seq %llu, log entries %llu", stored,
               (unsigned long long)stats.last_seq, (unsigned long long)stats.events);
    printf("ok %d rounds: attempted %d, acknowledged %d, stored %d, lost 0, no holes 1..%llu; "
           "resends after a kill: %d DUPLICATE (committed, unacknowledged), %d ACCEPTED\n",
           rounds, attempted, acked, stored, (unsigned long long)stats.last_seq, dup_seen,
           resent_accepted);
    lt_h_free(&h);
    return 0;
}
