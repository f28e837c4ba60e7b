/* delivery.c - bench-delivery: how fast lienthongd delivers stored events to
 * an agency, and how long an event takes from publish to the agency.
 *
 * The agency `land` (adapter land, transport zmq, window --window) points at
 * a fast gateway inside this process: a ROUTER thread on an ipc endpoint that
 * answers every LinkRequest at once with LinkReply OK echoing the
 * idempotency key, and records each arrival (time, seq, event). One route
 * sends every status event to land. C DEALER clients (bench_lt_client) each
 * keep W events in flight, K events per dossier (--per-dossier).
 *
 * Per run: delivery throughput (first to last arrival at the gateway),
 * publish -> delivery latency (gateway arrival - publish send) p50/p99/p99.9,
 * the acknowledgement latency of the same events, the order check (per
 * dossier, seqs must arrive increasing: exit 1 if not), repeats (one key
 * twice). Then a serial run: one client, one event at a time.
 * Not a test. See bench/README.md, "Delivery". */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

#define MAX_WINDOWS 8
#define RESULT_STEP 4 /* the template step that is a Result: not routed to land */

/* What the gateway records for one client's events. */
typedef struct gw_client {
    uint64_t n;         /* events this client sends */
    uint64_t *sent_ns;  /* copied from bench_client after its run */
    uint64_t *arr_ns;   /* first arrival at the gateway, 0 = never */
    uint32_t *count;    /* arrivals (more than 1: a repeat) */
    uint64_t *last_seq; /* per dossier (k / per_dossier): highest seq arrived */
    uint64_t done_ns;   /* the client's last acknowledgement */
} gw_client;

static struct {
    char base[512];
    bench_daemon d;
    /* the gateway */
    void *zctx;
    char endpoint[800], prefix[64]; /* prefix: "ev-NONCE-c" */
    int clients, per_dossier;
    gw_client cl[BENCH_MAX_CLIENTS];
    atomic_bool stop;
    atomic_uint_fast64_t unique, arrivals;
    uint64_t first_ns, last_ns; /* first and last first-arrival */
    uint64_t repeats, out_of_order, unknown;
    char first_violation[256];
    pthread_t th;
    bool running;
    char error[256];
} g;

static void gateway_stop(void)
{
    if (!g.running)
        return;
    atomic_store(&g.stop, true);
    pthread_join(g.th, NULL);
    g.running = false;
}

static void cleanup(void)
{
    bench_daemon_stop(&g.d);
    gateway_stop();
    if (g.base[0])
        bench_rm_tree(g.base);
}

/* ---------- the gateway ---------- */

/* The length-delimited field f of the message p[0..n), or NULL. */
static const uint8_t *field_bytes(const uint8_t *p, size_t n, uint64_t f, size_t *len)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, v;
        if (bench_read_varint(&p, end, &key) < 0)
            return NULL;
        switch (key & 7) {
        case 0:
            if (bench_read_varint(&p, end, &v) < 0)
                return NULL;
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            if (bench_read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return NULL;
            if (key >> 3 == f) {
                *len = (size_t)v;
                return p;
            }
            p += v;
            break;
        default:
            return NULL;
        }
    }
    return NULL;
}

/* The varint field f (seq) of a LinkRequest; 0 when absent. */
static uint64_t field_varint(const uint8_t *p, size_t n, uint64_t f)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, v;
        if (bench_read_varint(&p, end, &key) < 0)
            return 0;
        if ((key & 7) == 0) {
            if (bench_read_varint(&p, end, &v) < 0)
                return 0;
            if (key >> 3 == f)
                return v;
        } else if ((key & 7) == 2) {
            if (bench_read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return 0;
            p += v;
        } else {
            return 0;
        }
    }
    return 0;
}

/* "ev-NONCE-cCCC-sS-KKKKKKKKKK" -> client CCC, event k. 0 or -1. */
static int parse_event_id(const uint8_t *p, size_t n, int *cli, uint64_t *k)
{
    size_t pl = strlen(g.prefix), i = pl;
    if (n < pl + 16 || memcmp(p, g.prefix, pl) != 0)
        return -1;
    int c = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        c = c * 10 + (p[i++] - '0');
    if (i + 2 >= n || p[i] != '-' || p[i + 1] != 's')
        return -1;
    for (i += 2; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        ;
    if (i >= n || p[i] != '-' || n - i - 1 != 10)
        return -1;
    uint64_t v = 0;
    for (i++; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *cli = c;
    *k = v;
    return 0;
}

/* Record one LinkRequest that arrived at t; returns its key for the reply. */
static const uint8_t *gw_record(const uint8_t *m, size_t n, uint64_t t, size_t *key_len)
{
    size_t kl = 0, tl = 0, el = 0, il = 0;
    const uint8_t *key = field_bytes(m, n, 3, &kl);
    uint64_t seq = field_varint(m, n, 5);
    const uint8_t *task = field_bytes(m, n, 11, &tl);
    const uint8_t *ev = task ? field_bytes(task, tl, 2, &el) : NULL;
    const uint8_t *id = ev ? field_bytes(ev, el, 1, &il) : NULL;
    int cli;
    uint64_t k;
    atomic_fetch_add(&g.arrivals, 1);
    *key_len = kl;
    if (!key || !id || parse_event_id(id, il, &cli, &k) < 0 || cli < 0 || cli >= g.clients ||
        k >= g.cl[cli].n) {
        g.unknown++;
        return key;
    }
    gw_client *c = &g.cl[cli];
    if (c->count[k]++) {
        g.repeats++;
        return key;
    }
    c->arr_ns[k] = t;
    if (!g.first_ns)
        g.first_ns = t;
    g.last_ns = t;
    uint64_t dos = k / (uint64_t)g.per_dossier;
    if (c->last_seq[dos] > seq) {
        if (!g.out_of_order++)
            snprintf(g.first_violation, sizeof(g.first_violation),
                     "dossier of client %d event %" PRIu64 ": seq %" PRIu64
                     " arrived after seq %" PRIu64,
                     cli, k, seq, c->last_seq[dos]);
    } else {
        c->last_seq[dos] = seq;
    }
    atomic_fetch_add(&g.unique, 1);
    return key;
}

static void *gateway_main(void *arg)
{
    void *s = arg;
    uint8_t id[256], buf[65536], rep[256];
    while (!atomic_load(&g.stop)) {
        zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
        if (zmq_poll(&it, 1, 50) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(g.error, sizeof(g.error), "gateway poll: %s", zmq_strerror(errno));
            break;
        }
        for (;;) {
            int il = zmq_recv(s, id, sizeof(id), ZMQ_DONTWAIT);
            if (il < 0)
                break;
            uint64_t t = bench_now_ns();
            int more;
            size_t ml = sizeof(more);
            zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
            if (!more)
                continue;
            int n = zmq_recv(s, buf, sizeof(buf), 0);
            bool delimiter = n == 0;
            if (delimiter)
                n = zmq_recv(s, buf, sizeof(buf), 0);
            zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
            while (more) { /* never expected: drop the rest */
                zmq_recv(s, rep, sizeof(rep), 0);
                zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
            }
            if (n < 0 || n > (int)sizeof(buf)) {
                g.unknown++;
                continue;
            }
            size_t kl;
            const uint8_t *key = gw_record(buf, (size_t)n, t, &kl);
            if (!key || kl > 200)
                continue; /* the daemon times the attempt out: shows as a repeat */
            /* LinkReply { version: 1, idempotency_key: key, outcome: OK } */
            size_t rl = 0;
            rep[rl++] = 0x08, rep[rl++] = 1;
            rep[rl++] = 0x12;
            if (kl >= 128)
                rep[rl++] = (uint8_t)(kl | 0x80), rep[rl++] = (uint8_t)(kl >> 7);
            else
                rep[rl++] = (uint8_t)kl;
            memcpy(rep + rl, key, kl);
            rl += kl;
            rep[rl++] = 0x18, rep[rl++] = 1;
            zmq_send(s, id, (size_t)il, ZMQ_SNDMORE);
            if (delimiter)
                zmq_send(s, "", 0, ZMQ_SNDMORE);
            zmq_send(s, rep, rl, 0);
        }
    }
    zmq_close(s);
    return NULL;
}

/* Allocate the records for r's clients (the split of bench_measure) and start
 * the gateway on dir/gateway.sock. */
static void gateway_start(const bench_run *r, const char *dir)
{
    for (int i = 0; i < BENCH_MAX_CLIENTS; i++) {
        free(g.cl[i].sent_ns), free(g.cl[i].arr_ns), free(g.cl[i].count), free(g.cl[i].last_seq);
        memset(&g.cl[i], 0, sizeof(g.cl[i]));
    }
    g.clients = r->clients;
    g.per_dossier = r->per_dossier;
    for (int i = 0; i < r->clients; i++) {
        gw_client *c = &g.cl[i];
        c->n = r->events / (uint64_t)r->clients + ((uint64_t)i < r->events % (uint64_t)r->clients);
        size_t n = c->n ? c->n : 1;
        c->sent_ns = calloc(n, sizeof(uint64_t));
        c->arr_ns = calloc(n, sizeof(uint64_t));
        c->count = calloc(n, sizeof(uint32_t));
        c->last_seq = calloc(n / (size_t)r->per_dossier + 1, sizeof(uint64_t));
        if (!c->sent_ns || !c->arr_ns || !c->count || !c->last_seq)
            bench_die("out of memory", NULL);
    }
    snprintf(g.prefix, sizeof(g.prefix), "ev-%s-c", r->nonce);
    snprintf(g.endpoint, sizeof(g.endpoint), "ipc://%s/gateway.sock", dir);
    atomic_store(&g.stop, false);
    atomic_store(&g.unique, 0);
    atomic_store(&g.arrivals, 0);
    g.first_ns = g.last_ns = 0;
    g.repeats = g.out_of_order = g.unknown = 0;
    g.first_violation[0] = g.error[0] = '\0';
    void *s = zmq_socket(g.zctx, ZMQ_ROUTER);
    int zero = 0, hwm = 0;
    if (!s)
        bench_die("gateway socket", zmq_strerror(errno));
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    if (zmq_bind(s, g.endpoint) < 0)
        bench_die(g.endpoint, zmq_strerror(errno));
    if (pthread_create(&g.th, NULL, gateway_main, s))
        bench_die("pthread_create", strerror(errno));
    g.running = true;
}

/* The client: bench's lienthong client, then its send times kept for us. */
static void *client_main(void *arg)
{
    bench_client *c = arg;
    bench_lt_client(c);
    g.cl[c->idx].done_ns = bench_now_ns();
    memcpy(g.cl[c->idx].sent_ns, c->sent_ns, sizeof(uint64_t) * c->n);
    return NULL;
}

/* ---------- one run ---------- */

typedef struct row {
    int agency_window, clients, window, per_dossier;
    uint64_t events, expected, delivered;
    bench_result ack;
    double deliv_rate, d_p50, d_p99, d_p999, d_max; /* ms */
    double tail_ms;    /* last arrival after the last acknowledgement */
    double commits;    /* LMDB commits from start to last delivery */
    double srv_cpu_us; /* daemon CPU per event, ingest and delivery */
    uint64_t repeats, out_of_order, unknown;
} row;

static uint64_t expected_of(const bench_run *r)
{
    uint64_t n = 0;
    for (int i = 0; i < r->clients; i++)
        for (uint64_t k = 0; k < g.cl[i].n; k++)
            n += k % (uint64_t)r->per_dossier != RESULT_STEP;
    return n;
}

static void run_one(const char *daemon, int idx, int agency_window, bench_run *r, int timeout_ms,
                    row *out)
{
    char dir[700], yaml[2048], label[96];
    snprintf(dir, sizeof(dir), "%s/r%d", g.base, idx);
    if (mkdir(dir, 0700) < 0)
        bench_die(dir, strerror(errno));
    snprintf(r->nonce, sizeof(r->nonce), "%08x", (unsigned)(bench_now_ns() ^ (uint64_t)idx));
    gateway_start(r, dir);
    uint64_t map_mb = r->events * 6000 / 1048576 + 1024;
    snprintf(yaml, sizeof(yaml),
             "store:\n  map_size_mb: %" PRIu64 "\n"
             "agencies:\n  land:\n    adapter: land\n    transport: zmq\n"
             "    endpoint: \"%s\"\n    window: %d\n"
             "routes:\n  - name: every-status-to-land\n    kinds: [status]\n    to: [land]",
             map_mb, g.endpoint, agency_window);
    bench_daemon_start(daemon, dir, true, yaml, &g.d);

    memset(out, 0, sizeof(*out));
    out->agency_window = agency_window;
    out->clients = r->clients;
    out->window = r->window;
    out->per_dossier = r->per_dossier;
    out->events = r->events;
    out->expected = expected_of(r);
    snprintf(label, sizeof(label), "land window %d, C=%d,W=%d,K=%d", agency_window, r->clients,
             r->window, r->per_dossier);
    fprintf(stderr, "bench-delivery: %s, %" PRIu64 " events ...\n", label, r->events);
    int64_t tx0 = bench_store_txnid(g.d.data_dir);
    double cpu0 = bench_proc_cpu(g.d.pid);
    bench_measure(r, g.d.pid, g.d.data_dir, &out->ack, label);
    uint64_t acked_ns = 0;
    for (int i = 0; i < r->clients; i++)
        if (g.cl[i].done_ns > acked_ns)
            acked_ns = g.cl[i].done_ns;

    /* the deliveries still owed after the last acknowledgement */
    uint64_t last = bench_now_ns(), seen = atomic_load(&g.unique), progress_at = last;
    while (atomic_load(&g.unique) < out->expected) {
        bench_check_interrupt();
        if (g.error[0])
            bench_die("gateway", g.error);
        usleep(2000);
        uint64_t t = bench_now_ns(), u = atomic_load(&g.unique);
        if (u != seen)
            seen = u, progress_at = t;
        if (t - progress_at > (uint64_t)timeout_ms * 1000000u) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%" PRIu64 " of %" PRIu64 " delivered, none for %d ms; log",
                     u, out->expected, timeout_ms);
            bench_die(msg, g.d.log);
        }
        if (t - last >= 2000000000ull) {
            fprintf(stderr, "  %s: %" PRIu64 "/%" PRIu64 " delivered\n", label, u, out->expected);
            last = t;
        }
    }
    int64_t tx1 = bench_store_txnid(g.d.data_dir);
    double cpu1 = bench_proc_cpu(g.d.pid);
    usleep(200000); /* the last outcomes commit; a late repeat would show */
    bench_daemon_stop(&g.d);
    gateway_stop();

    uint64_t *lat = malloc(sizeof(uint64_t) * (out->expected ? out->expected : 1)), n = 0;
    if (!lat)
        bench_die("out of memory", NULL);
    for (int i = 0; i < r->clients; i++)
        for (uint64_t k = 0; k < g.cl[i].n; k++)
            if (g.cl[i].arr_ns[k] && n < out->expected)
                lat[n++] = g.cl[i].arr_ns[k] - g.cl[i].sent_ns[k];
    qsort(lat, n, sizeof(uint64_t), bench_cmp_u64);
    out->delivered = n;
    out->d_p50 = bench_pct(lat, n, 0.50);
    out->d_p99 = bench_pct(lat, n, 0.99);
    out->d_p999 = bench_pct(lat, n, 0.999);
    out->d_max = n ? (double)lat[n - 1] / 1e6 : 0;
    free(lat);
    double span = (double)(g.last_ns - g.first_ns) / 1e9;
    out->deliv_rate = span > 0 ? (double)(n - 1) / span : 0;
    out->tail_ms = ((double)g.last_ns - (double)acked_ns) / 1e6;
    out->commits = tx0 >= 0 && tx1 >= 0 ? (double)(tx1 - tx0) : -1;
    out->srv_cpu_us = cpu0 >= 0 && cpu1 >= 0 && n ? (cpu1 - cpu0) * 1e6 / (double)r->events : -1;
    out->repeats = g.repeats;
    out->out_of_order = g.out_of_order;
    out->unknown = g.unknown;
    fprintf(stderr,
            "bench-delivery: %s: %.0f deliveries/s, publish->delivery p50 %.2f ms p99 %.2f ms, "
            "order %s, repeats %" PRIu64 "\n",
            label, out->deliv_rate, out->d_p50, out->d_p99, out->out_of_order ? "BROKEN" : "ok",
            out->repeats);
    if (out->out_of_order)
        fprintf(stderr, "bench-delivery: ORDER BROKEN: %" PRIu64 " deliveries; first: %s\n",
                out->out_of_order, g.first_violation);
}

/* ---------- main ---------- */

static void print_rows(const row *rows, int n, const row *serial)
{
    printf("%6s %9s %8s %10s %9s %8s %8s %9s %8s %8s %8s %8s %9s %8s %7s %6s %7s\n", "window",
           "C,W,K", "delivrd", "deliv/s", "ack ev/s", "d p50", "d p99", "d p99.9", "d max", "a p50",
           "a p99", "a p99.9", "tail ms", "del/cmt", "srv-CPU", "order", "repeats");
    for (int i = 0; i < n + 1; i++) {
        const row *r = i < n ? &rows[i] : serial;
        if (!r)
            break;
        char cwk[32];
        snprintf(cwk, sizeof(cwk), "%d,%d,%d", r->clients, r->window, r->per_dossier);
        printf("%6d %9s %8" PRIu64 " %10.0f %9.0f %8.2f %8.2f %9.2f %8.2f %8.2f %8.2f %8.2f "
               "%9.1f %8.1f %7.1f %6s %7" PRIu64 "\n",
               r->agency_window, cwk, r->delivered, r->deliv_rate, r->ack.rate, r->d_p50, r->d_p99,
               r->d_p999, r->d_max, r->ack.p50, r->ack.p99, r->ack.p999, r->tail_ms,
               r->commits > 0 ? (double)r->delivered / r->commits : -1, r->srv_cpu_us,
               r->out_of_order ? "BROKEN" : "ok", r->repeats);
    }
    printf("  window = the agency's window (deliveries in flight); C,W,K = clients, events in\n"
           "  flight per client, events per dossier. deliv/s = deliveries from the first to the\n"
           "  last arrival at the gateway; d = publish -> delivery (gateway arrival - send), a =\n"
           "  publish -> acknowledgement, in ms; tail = last delivery - last ack (ms);\n"
           "  del/cmt = deliveries per LMDB commit (ingest and outcome commits together);\n"
           "  srv-CPU = daemon CPU us per event, ingest and delivery together;\n"
           "  order = per dossier, seqs arrived increasing; repeats = one key arrived twice;\n"
           "  delivrd = events delivered (status events: with K=7 the result is not routed).\n");
    if (serial)
        printf("  last row: one client, one event at a time (the W=1 latency).\n");
}

int main(int argc, char **argv)
{
    bench_prog = "bench-delivery";
    const char *daemon = NULL, *tmpdir = NULL, *windows = "8,64";
    uint64_t events = 50000, serial_events = 2000;
    int clients = 4, window = 64, per_dossier = 1, timeout_ms = 60000;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--window") && v)
            windows = v, i++;
        else if (!strcmp(a, "--events"))
            events = (uint64_t)bench_num(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--serial"))
            serial_events = (uint64_t)bench_num(a, v, 0, 1000000), i++;
        else if (!strcmp(a, "--clients"))
            clients = (int)bench_num(a, v, 1, BENCH_MAX_CLIENTS), i++;
        else if (!strcmp(a, "--client-window"))
            window = (int)bench_num(a, v, 1, 100000), i++;
        else if (!strcmp(a, "--per-dossier"))
            per_dossier = (int)bench_num(a, v, 1, BENCH_STEPS), i++;
        else if (!strcmp(a, "--timeout-ms"))
            timeout_ms = (int)bench_num(a, v, 1000, 3600000), i++;
        else if (!strcmp(a, "--daemon") && v)
            daemon = v, i++;
        else if (!strcmp(a, "--dir") && v)
            tmpdir = v, i++;
        else if (!strcmp(a, "--keep"))
            keep = true;
        else {
            fprintf(stderr,
                    "usage: bench-delivery [--window 8,64] [--events N] [--clients C]\n"
                    "                      [--client-window W] [--per-dossier K] [--serial N]\n"
                    "                      [--timeout-ms MS] [--daemon PATH] [--dir DIR] [--keep]\n"
                    "  for each agency window (default 8,64): N events (default 50000) from C\n"
                    "  clients (4) with W in flight each (64), K events per dossier (1, at most\n"
                    "  %d; step 5 of 7 is a result and is not routed), delivered to a fast\n"
                    "  in-process gateway; then --serial N events (default 2000, 0: none) from\n"
                    "  one client, one at a time. Exits 1 if a dossier's deliveries arrive\n"
                    "  out of order.\n",
                    BENCH_STEPS);
            return 2;
        }
    }
    int wl[MAX_WINDOWS], nw = 0;
    char *copy = strdup(windows), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && nw < MAX_WINDOWS;
         t = strtok_r(NULL, ",", &save))
        wl[nw++] = (int)bench_num("--window", t, 1, 1024);
    free(copy);
    if (!nw)
        bench_num("--window", "", 1, 1024);
    char *self = strdup(argv[0]);
    static char daemon_path[4096];
    if (!daemon) {
        snprintf(daemon_path, sizeof(daemon_path), "%s/lienthongd", dirname(self));
        daemon = daemon_path;
    }
    bench_init_times();
    bench_make_tmpdir(tmpdir, "delivery", g.base, sizeof(g.base));
    bench_on_interrupt(cleanup);
    char fs[2400], date[64];
    bench_describe_fs(g.base, fs, sizeof(fs));
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", gmtime(&now));
    printf(
        "bench-delivery  %s  %ld CPUs  stores in %s on %s\n"
        "ingest on tcp loopback, agency land on an in-process gateway (ipc), one run per row\n\n",
        date, sysconf(_SC_NPROCESSORS_ONLN), g.base, fs);
    fflush(stdout);

    g.zctx = zmq_ctx_new();
    row rows[MAX_WINDOWS], serial;
    bool broken = false;
    for (int i = 0; i < nw; i++) {
        bench_run r = { .client_main = client_main,
                        .zctx = g.zctx,
                        .endpoint = g.d.endpoint,
                        .clients = clients,
                        .window = window,
                        .per_dossier = per_dossier,
                        .events = events,
                        .timeout_ms = timeout_ms };
        run_one(daemon, i, wl[i], &r, timeout_ms, &rows[i]);
        broken |= rows[i].out_of_order != 0;
    }
    if (serial_events) {
        bench_run r = { .client_main = client_main,
                        .zctx = g.zctx,
                        .endpoint = g.d.endpoint,
                        .clients = 1,
                        .window = 1,
                        .per_dossier = per_dossier,
                        .events = serial_events,
                        .timeout_ms = timeout_ms };
        run_one(daemon, nw, wl[0], &r, timeout_ms, &serial);
        broken |= serial.out_of_order != 0;
    }
    zmq_ctx_term(g.zctx);
    print_rows(rows, nw, serial_events ? &serial : NULL);
    if (keep)
        fprintf(stderr, "kept %s\n", g.base);
    else
        bench_rm_tree(g.base);
    for (int i = 0; i < BENCH_MAX_CLIENTS; i++)
        free(g.cl[i].sent_ns), free(g.cl[i].arr_ns), free(g.cl[i].count), free(g.cl[i].last_seq);
    free(self);
    if (broken) {
        fprintf(stderr, "bench-delivery: FAILED: deliveries of a dossier arrived out of order\n");
        return 1;
    }
    return 0;
}
