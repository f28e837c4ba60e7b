/* ingest.c - bench-ingest: throughput and acknowledgement latency of lienthongd.
 *
 * Starts its own lienthongd on a fresh temp store (or uses --endpoint), sends
 * N dossier events of about 1 KB from C concurrent DEALER clients, each with
 * a window of W submissions in flight, and prints events/s and the
 * send-to-ack latency percentiles. Every reply must be ACCEPTED.
 *
 * Peers measured in the same run so that ratios stay quotable when the
 * machine drifts: a 4 KiB write+fdatasync loop on the store's filesystem, and
 * a ZeroMQ round trip on the same transport to an in-process ROUTER that
 * answers without storing anything.
 *
 * Not a test: it is built with everything and run by hand or `make bench`.
 * See bench/README.md for the figures and what bounds them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "codec.h"

#define STEPS       BENCH_STEPS
#define MAX_CLIENTS BENCH_MAX_CLIENTS

typedef struct options {
    const char *daemon;
    const char *dir;      /* parent of the temp dir */
    const char *endpoint; /* use a running daemon instead of starting one */
    const char *yaml;     /* extra config text appended to the generated config */
    bool tcp, keep, no_peers;
    uint64_t events;
    int clients, window; /* 0: the three default configurations */
    int per_dossier;     /* events per dossier, 1..STEPS */
    int timeout_ms;
} options;

/* ---------- the echo peer: ZeroMQ with no storage ---------- */

typedef struct echo {
    void *ctx, *sock;
    pthread_t th;
} echo;

static void *echo_main(void *arg)
{
    echo *e = arg;
    uint8_t out[256];
    uint64_t seq = 0;
    for (;;) {
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&id, e->sock, 0) < 0 || zmq_msg_recv(&m, e->sock, 0) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&m);
            break;
        }
        lt_reply rep = LIENTHONG__V1__REPLY__INIT;
        rep.has_version = rep.has_request_id = rep.has_outcome = rep.has_seq = true;
        rep.version = 1;
        rep.request_id = lt_codec_peek_request_id(zmq_msg_data(&m), zmq_msg_size(&m));
        rep.outcome = LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED;
        rep.seq = ++seq;
        int len = lt_codec_encode_reply(&rep, out, sizeof(out));
        if (zmq_msg_send(&id, e->sock, ZMQ_SNDMORE) < 0 ||
            zmq_send(e->sock, out, (size_t)len, 0) < 0)
            zmq_msg_close(&id);
        zmq_msg_close(&m);
    }
    zmq_close(e->sock);
    return NULL;
}

static void echo_start(echo *e, const char *endpoint)
{
    int zero = 0, hwm = 0;
    e->ctx = zmq_ctx_new();
    e->sock = zmq_socket(e->ctx, ZMQ_ROUTER);
    zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(e->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(e->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    if (zmq_bind(e->sock, endpoint) < 0)
        bench_die("echo bind", zmq_strerror(errno));
    pthread_create(&e->th, NULL, echo_main, e);
}

static void echo_stop(echo *e)
{
    zmq_ctx_shutdown(e->ctx);
    pthread_join(e->th, NULL);
    zmq_ctx_term(e->ctx);
}

/* ---------- peers ---------- */

/* p50 and p99 (ms) of a 4 KiB pwrite + fdatasync loop on dir's filesystem. */
static void fdatasync_floor(const char *dir, double *p50, double *p99)
{
    char path[700];
    enum { ROUNDS = 2000, SPAN = 256 };
    snprintf(path, sizeof(path), "%s/fdatasync.probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        bench_die(path, strerror(errno));
    static uint8_t page[4096];
    memset(page, 0xA5, sizeof(page));
    for (int i = 0; i < SPAN; i++)
        if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) != (ssize_t)sizeof(page))
            bench_die("pwrite", strerror(errno));
    if (fsync(fd) < 0)
        bench_die("fsync", strerror(errno));
    uint64_t *v = malloc(sizeof(uint64_t) * ROUNDS);
    int n = 0;
    uint64_t stop = bench_now_ns() + 3000000000ull;
    for (; n < ROUNDS && bench_now_ns() < stop; n++) {
        page[0] = (uint8_t)n;
        uint64_t t0 = bench_now_ns();
        if (pwrite(fd, page, sizeof(page), (off_t)(n % SPAN) * 4096) != (ssize_t)sizeof(page) ||
            fdatasync(fd) < 0)
            bench_die("write+fdatasync", strerror(errno));
        v[n] = bench_now_ns() - t0;
    }
    close(fd);
    unlink(path);
    qsort(v, (size_t)n, sizeof(uint64_t), bench_cmp_u64);
    *p50 = bench_pct(v, (uint64_t)n, 0.5);
    *p99 = bench_pct(v, (uint64_t)n, 0.99);
    free(v);
}

/* ---------- main ---------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench-ingest [--events N] [--clients C --window W] [--per-dossier K]\n"
        "                    [--daemon PATH | --endpoint EP] [--dir DIR] [--tcp]\n"
        "                    [--yaml TEXT] [--no-peers] [--keep] [--timeout-ms MS]\n"
        "                    [--random-ids]\n"
        "  Without --clients/--window: runs (C=1,W=1), (C=4,W=64), (C=8,W=64), each on a\n"
        "  fresh store. --per-dossier K (1-%d, default %d): events per dossier following\n"
        "  the state machine (1,2,4,6,tax bench_result,9,10). --yaml appends config text, e.g.\n"
        "  --yaml $'batch:\\n  max_wait_us: 200'. --endpoint uses a running daemon.\n"
        "  --random-ids: event ids drawn at random (as UUIDv4 would be), not in order.\n",
        STEPS, STEPS);
}

static void print_row(const char *label, const bench_result *r)
{
    char commits[32], dcpu[32];
    if (r->commits > 0)
        snprintf(commits, sizeof(commits), "%.1f", (double)r->events / r->commits);
    else
        snprintf(commits, sizeof(commits), "-");
    if (r->server_cpu_us >= 0)
        snprintf(dcpu, sizeof(dcpu), "%.1f", r->server_cpu_us);
    else
        snprintf(dcpu, sizeof(dcpu), "-");
    printf("%-16s %9" PRIu64 " %10.0f %8.3f %8.3f %8.3f %8.3f %9s %8s %8.1f\n", label, r->events,
           r->rate, r->p50, r->p99, r->p999, r->max, commits, dcpu, r->client_cpu_us);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    bench_prog = "bench-ingest";
    options o = { .events = 200000, .per_dossier = STEPS, .timeout_ms = 30000 };
    static char daemon_path[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--events"))
            o.events = (uint64_t)bench_num(a, v, 1, 1000000000), i++;
        else if (!strcmp(a, "--clients"))
            o.clients = (int)bench_num(a, v, 1, MAX_CLIENTS), i++;
        else if (!strcmp(a, "--window"))
            o.window = (int)bench_num(a, v, 1, 100000), i++;
        else if (!strcmp(a, "--per-dossier"))
            o.per_dossier = (int)bench_num(a, v, 1, STEPS), i++;
        else if (!strcmp(a, "--timeout-ms"))
            o.timeout_ms = (int)bench_num(a, v, 1, 3600000), i++;
        else if (!strcmp(a, "--daemon") && v)
            o.daemon = v, i++;
        else if (!strcmp(a, "--endpoint") && v)
            o.endpoint = v, i++;
        else if (!strcmp(a, "--dir") && v)
            o.dir = v, i++;
        else if (!strcmp(a, "--yaml") && v)
            o.yaml = v, i++;
        else if (!strcmp(a, "--tcp"))
            o.tcp = true;
        else if (!strcmp(a, "--keep"))
            o.keep = true;
        else if (!strcmp(a, "--no-peers"))
            o.no_peers = true;
        else if (!strcmp(a, "--random-ids"))
            bench_random_ids = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if ((o.clients == 0) != (o.window == 0)) {
        fprintf(stderr, "bench-ingest: give both --clients and --window, or neither\n");
        return 2;
    }
    if (!o.daemon) {
        char *copy = strdup(argv[0]);
        snprintf(daemon_path, sizeof(daemon_path), "%s/lienthongd", dirname(copy));
        free(copy);
        o.daemon = daemon_path;
    }
    if (!o.endpoint && access(o.daemon, X_OK) < 0)
        bench_die(o.daemon, "not executable (build it, or pass --daemon PATH)");
    signal(SIGPIPE, SIG_IGN);
    bench_init_times();

    /* temp dir: parent of the stores, the ipc sockets and the fdatasync probe */
    char base[512];
    bench_make_tmpdir(o.dir, "bench", base, sizeof(base));

    struct {
        int c, w;
    } cfgs[3] = { { 1, 1 }, { 4, 64 }, { 8, 64 } };
    int ncfg = 3;
    if (o.clients) {
        cfgs[0].c = o.clients;
        cfgs[0].w = o.window;
        ncfg = 1;
    }

    char fs[2400], host[256] = "?";
    bench_describe_fs(base, fs, sizeof(fs));
    gethostname(host, sizeof(host));
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    int major_v, minor_v, patch_v;
    zmq_version(&major_v, &minor_v, &patch_v);
    printf("bench-ingest  %s  host %s  %ld CPUs  libzmq %d.%d.%d  %s\n", date, host,
           sysconf(_SC_NPROCESSORS_ONLN), major_v, minor_v, patch_v, mdb_version(NULL, NULL, NULL));
    if (o.endpoint)
        printf("daemon: running at %s (store not inspected)\n", o.endpoint);
    else
        printf("daemon: %s, fresh store per configuration in %s\n        on %s; transport %s\n",
               o.daemon, base, fs, o.tcp ? "tcp loopback" : "ipc");
    if (strstr(fs, "tmpfs") || strstr(fs, "ramfs"))
        printf("WARNING: the store is on a RAM filesystem: fdatasync is free, figures are not "
               "durable ones\n");
    if (o.yaml)
        printf("extra config: %s\n", o.yaml);

    /* a size line: mean bytes per submission */
    {
        uint64_t sum = 0;
        for (int s = 0; s < o.per_dossier; s++) {
            bench_tmpl t;
            bench_build_tmpl(&t, "00000000", 0, s);
            sum += t.len;
            free(t.buf);
        }
        printf("events: %" PRIu64 " per configuration, %d per dossier (statuses 1,2,4,6, a tax "
               "result, 9,10), mean %.0f bytes\n\n",
               o.events, o.per_dossier, (double)sum / o.per_dossier);
    }

    printf("%-16s %9s %10s %8s %8s %8s %8s %9s %8s %8s\n", "lienthongd", "events", "events/s",
           "p50 ms", "p99 ms", "p99.9 ms", "max ms", "ev/commit", "d-CPU/ev", "c-CPU/ev");
    bench_result res[3];
    void *zctx = zmq_ctx_new();
    for (int k = 0; k < ncfg; k++) {
        bench_run r = { .timeout_ms = o.timeout_ms,
                        .zctx = zctx,
                        .clients = cfgs[k].c,
                        .window = cfgs[k].w,
                        .per_dossier = o.per_dossier,
                        .events = o.events };
        snprintf(r.nonce, sizeof(r.nonce), "%08x", (unsigned)(bench_now_ns() ^ (uint64_t)getpid()));
        char label[32];
        snprintf(label, sizeof(label), "C=%d,W=%d", r.clients, r.window);
        bench_daemon d = { 0 };
        if (o.endpoint) {
            r.endpoint = o.endpoint;
        } else {
            char rundir[600];
            snprintf(rundir, sizeof(rundir), "%s/run%d", base, k);
            bench_daemon_start(o.daemon, rundir, o.tcp, o.yaml, &d);
            r.endpoint = d.endpoint;
        }
        bench_measure(&r, d.pid, o.endpoint ? NULL : d.data_dir, &res[k], label);
        if (!o.endpoint)
            bench_daemon_stop(&d);
        print_row(label, &res[k]);
    }
    printf("  (latency is send -> ACCEPTED reply; ev/commit = events per LMDB transaction;\n"
           "   d-CPU/ev, c-CPU/ev = daemon and bench-client CPU microseconds per event)\n");

    if (!o.no_peers) {
        double f50, f99;
        fdatasync_floor(base, &f50, &f99);
        char ep[700];
        if (o.tcp)
            snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", bench_free_port());
        else
            snprintf(ep, sizeof(ep), "ipc://%s/echo.sock", base);
        echo e;
        echo_start(&e, ep);
        bench_result er1, er8;
        bench_run r1 = { .timeout_ms = o.timeout_ms,
                         .zctx = zctx,
                         .endpoint = ep,
                         .clients = 1,
                         .window = 1,
                         .per_dossier = o.per_dossier,
                         .events = o.events < 50000 ? o.events : 50000 };
        snprintf(r1.nonce, sizeof(r1.nonce), "echo0001");
        bench_measure(&r1, 0, NULL, &er1, "echo C=1,W=1");
        bench_run r8 = r1;
        r8.clients = 8;
        r8.window = 64;
        r8.events = o.events;
        bench_measure(&r8, 0, NULL, &er8, "echo C=8,W=64");
        echo_stop(&e);

        printf("\npeers (same bench_run, same filesystem and transport)\n");
        printf("  4 KiB write+fdatasync:            p50 %.3f ms  p99 %.3f ms  (LMDB syncs twice "
               "per commit: data, then meta)\n",
               f50, f99);
        printf("  zmq %s echo, no storage, C=1,W=1: p50 %.3f ms  p99 %.3f ms\n",
               o.tcp ? "tcp" : "ipc", er1.p50, er1.p99);
        printf("  zmq %s echo, no storage, C=8,W=64: %.0f msgs/s\n", o.tcp ? "tcp" : "ipc",
               er8.rate);
        printf("\nratios\n");
        for (int k = 0; k < ncfg; k++) {
            if (cfgs[k].c == 1 && cfgs[k].w == 1) {
                printf("  lienthongd C=1,W=1 p50 = %.2fx (fdatasync p50 + zmq rtt p50) = "
                       "%.2fx (2 x fdatasync p50 + zmq rtt p50)\n",
                       res[k].p50 / (f50 + er1.p50), res[k].p50 / (2 * f50 + er1.p50));
            } else {
                printf("  lienthongd C=%d,W=%d events/s = %.1f%% of the zmq echo at C=8,W=64\n",
                       cfgs[k].c, cfgs[k].w, 100.0 * res[k].rate / er8.rate);
            }
        }
    }
    printf("\ntargets (issue 2, 2-core machine):\n");
    for (int k = 0; k < ncfg; k++) {
        if (cfgs[k].c == 8 && cfgs[k].w == 64)
            printf("  C=8,W=64 >= 150000 events/s: %s (%.0f)\n",
                   res[k].rate >= 150000 ? "met" : "MISSED", res[k].rate);
        if (cfgs[k].c == 1 && cfgs[k].w == 1)
            printf("  C=1,W=1 p50 < 0.5 ms: %s (%.3f); p99 < 1 ms: %s (%.3f)\n",
                   res[k].p50 < 0.5 ? "met" : "MISSED", res[k].p50,
                   res[k].p99 < 1.0 ? "met" : "MISSED", res[k].p99);
    }
    zmq_ctx_term(zctx);
    if (o.keep)
        fprintf(stderr, "kept %s\n", base);
    else
        bench_rm_tree(base);
    return 0;
}
