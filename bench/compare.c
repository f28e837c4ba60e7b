/* compare.c - bench-compare: lienthongd side by side with Redis Streams
 * (appendfsync always) and NATS JetStream (file storage), measured in one run
 * on the same machine, same payloads, same client shape, same grid of
 * (clients, window in flight).
 *
 * For each grid point and each system: a fresh server in its own temp dir on
 * loopback, N events, then the server is stopped. The systems take turns at
 * each grid point so that machine drift hits them alike. Prints one table
 * (stdout), progress on stderr, and writes the rows as JSON.
 * Not a test: `make bench` runs it. See bench/README.md. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "peers.h"

#define MAX_POINTS 16
#define MAX_ROUNDS 9

enum { SYS_LT, SYS_REDIS, SYS_NATS, SYS_COUNT };
static const char *const sys_name[SYS_COUNT] = { "lienthong", "redis-always", "nats-js" };
static const char *const sys_fsync[SYS_COUNT] = { "yes", "yes", "no" };

typedef struct point {
    int clients, window;
} point;

typedef struct row {
    int sys;
    point p;
    bench_result res; /* medians over the rounds */
    double spread;    /* (max - min) / median of events/s over the rounds */
} row;

/* What the interrupt cleanup must stop. */
static struct {
    char base[512];
    bench_daemon d;
    bench_server s;
} live;

static void cleanup(void)
{
    bench_daemon_stop(&live.d);
    bench_server_stop(&live.s);
    if (live.base[0])
        bench_rm_tree(live.base);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-compare [--events N] [--rounds R] [--grid CxW,...] [--systems "
               "lienthong,redis,nats]\n"
               "                     [--json PATH] [--daemon PATH] [--dir DIR] [--ipc]\n"
               "                     [--timeout-ms MS]\n"
               "  --events N: events per system, grid point and round (default 10000)\n"
               "  --rounds R: repeat the grid R times (default 3), systems rotated; medians kept\n"
               "  --grid: default 1x1,8x1,4x64,8x64\n"
               "  --json: default bench/results/latest.json (directory created)\n"
               "  --ipc: lienthong over ipc instead of tcp loopback (the peers are tcp)\n");
}

static int parse_grid(const char *s, point *pts)
{
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int c, w;
        char extra;
        if (n == MAX_POINTS || sscanf(tok, "%dx%d%c", &c, &w, &extra) != 2 || c < 1 ||
            c > BENCH_MAX_CLIENTS || w < 1 || w > 100000) {
            fprintf(stderr, "bench-compare: bad grid point '%s' (want CxW, e.g. 8x64)\n", tok);
            exit(2);
        }
        pts[n++] = (point){ c, w };
    }
    free(copy);
    return n;
}

/* Write the rows as a JSON array to path, creating its directory. */
static void write_json(const char *path, const row *rows, int n, const char *date, const char *host,
                       uint64_t events)
{
    char *copy = strdup(path);
    char *dir = dirname(copy);
    char cmd[1200];
    struct stat sb;
    if (stat(dir, &sb) < 0) {
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            bench_die("cannot create", dir);
    }
    free(copy);
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(path, strerror(errno));
    fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        fprintf(f,
                "  {\"system\": \"%s\", \"clients\": %d, \"window\": %d, \"fsync_per_ack\": %s, "
                "\"events_per_s\": %.0f, \"p50_us\": %.0f, \"p99_us\": %.0f, \"p999_us\": %.0f, "
                "\"events\": %" PRIu64
                ", \"rate_spread\": %.2f, \"date\": \"%s\", \"host\": \"%s\", "
                "\"cpus\": %ld}%s\n",
                sys_name[r->sys], r->p.clients, r->p.window,
                strcmp(sys_fsync[r->sys], "yes") ? "false" : "true", r->res.rate, r->res.p50 * 1e3,
                r->res.p99 * 1e3, r->res.p999 * 1e3, events, r->spread, date, host,
                sysconf(_SC_NPROCESSORS_ONLN), i + 1 < n ? "," : "");
    }
    fprintf(f, "]\n");
    fclose(f);
}

static const row *find_row(const row *rows, int n, int sys, point p)
{
    for (int i = 0; i < n; i++)
        if (rows[i].sys == sys && rows[i].p.clients == p.clients && rows[i].p.window == p.window)
            return &rows[i];
    return NULL;
}

static void print_table(const row *rows, int n)
{
    printf("%-13s %8s %6s %10s %8s %8s %9s %8s %8s %9s %9s %7s\n", "system", "C,W", "fsync",
           "events/s", "p50 us", "p99 us", "p99.9 us", "rate/lt", "p99/lt", "srv-CPU", "ev/commit",
           "spread");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        const row *lt = find_row(rows, n, SYS_LT, r->p);
        char cw[16], rr[16] = "-", pr[16] = "-";
        snprintf(cw, sizeof(cw), "%d,%d", r->p.clients, r->p.window);
        if (lt) {
            snprintf(rr, sizeof(rr), "%.2f", r->res.rate / lt->res.rate);
            snprintf(pr, sizeof(pr), "%.2f", r->res.p99 / lt->res.p99);
        }
        char cpu[16] = "-", evc[16] = "-";
        if (r->res.server_cpu_us >= 0)
            snprintf(cpu, sizeof(cpu), "%.1f", r->res.server_cpu_us);
        if (r->res.commits > 0)
            snprintf(evc, sizeof(evc), "%.1f", (double)r->res.events / r->res.commits);
        printf("%-13s %8s %6s %10.0f %8.0f %8.0f %9.0f %8s %8s %9s %9s %6.0f%%\n", sys_name[r->sys],
               cw, sys_fsync[r->sys], r->res.rate, r->res.p50 * 1e3, r->res.p99 * 1e3,
               r->res.p999 * 1e3, rr, pr, cpu, evc, 100 * r->spread);
    }
    printf(
        "  fsync = an acknowledgement means the event was fsynced. NATS 2.9 acknowledges a\n"
        "  publish before any fsync (it syncs every 2 min): its acks are not durable ones.\n"
        "  rate/lt, p99/lt = the row's figure divided by lienthong's at the same C,W.\n"
        "  srv-CPU = server CPU us per event (all threads); ev/commit = events per LMDB commit;\n"
        "  spread = (max - min) / median of events/s over the rounds. Every figure is a median.\n");
}

/* Issue 4's targets, from the rows that exist. */
static void print_targets(const row *rows, int n, const point *pts, int npts)
{
    printf("\ntargets (issue 4):\n");
    for (int i = 0; i < npts; i++) {
        const row *lt = find_row(rows, n, SYS_LT, pts[i]);
        const row *rd = find_row(rows, n, SYS_REDIS, pts[i]);
        const row *na = find_row(rows, n, SYS_NATS, pts[i]);
        int c = pts[i].clients, w = pts[i].window;
        if (!lt)
            continue;
        if (c == 8 && w == 64 && rd)
            printf("  (8,64) lienthong >= 2x redis-always: %s (%.2fx)\n",
                   lt->res.rate >= 2 * rd->res.rate ? "met" : "MISSED",
                   lt->res.rate / rd->res.rate);
        if (c == 8 && w == 64 && na)
            printf("  (8,64) lienthong >= nats-js: %s (%.2fx)\n",
                   lt->res.rate >= na->res.rate ? "met" : "MISSED", lt->res.rate / na->res.rate);
        if (c * w >= 8 && rd)
            printf("  (%d,%d) lienthong >= redis-always (>= 8 in flight): %s (%.2fx)\n", c, w,
                   lt->res.rate >= rd->res.rate ? "met" : "MISSED", lt->res.rate / rd->res.rate);
        if (c == 1 && w == 1 && rd)
            printf("  (1,1) lienthong p99 <= 1.5x redis-always p99: %s (%.2fx)\n",
                   lt->res.p99 <= 1.5 * rd->res.p99 ? "met" : "MISSED", lt->res.p99 / rd->res.p99);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Each figure's median over n results (the rate's spread too). */
static void median(const bench_result *v, int n, bench_result *ret, double *ret_spread)
{
    double f[7][MAX_ROUNDS];
    for (int k = 0; k < n; k++) {
        f[0][k] = v[k].rate, f[1][k] = v[k].p50, f[2][k] = v[k].p99, f[3][k] = v[k].p999;
        f[4][k] = v[k].server_cpu_us;
        f[5][k] = v[k].commits > 0 ? (double)v[k].events / v[k].commits : -1;
        f[6][k] = (double)v[k].events;
    }
    for (int j = 0; j < 7; j++)
        qsort(f[j], (size_t)n, sizeof(double), cmp_double);
    memset(ret, 0, sizeof(*ret));
    ret->rate = f[0][n / 2], ret->p50 = f[1][n / 2], ret->p99 = f[2][n / 2];
    ret->p999 = f[3][n / 2], ret->server_cpu_us = f[4][n / 2];
    ret->events = (uint64_t)f[6][n / 2];
    ret->commits = f[5][n / 2] > 0 ? (double)ret->events / f[5][n / 2] : -1;
    *ret_spread = (f[0][n - 1] - f[0][0]) / ret->rate;
}

/* Start system sys in dir, measure point p, stop it. */
static void run_one(int sys, point p, uint64_t events, const char *daemon, bool ipc, int timeout_ms,
                    void *zctx, const char *dir, bench_result *res)
{
    bench_run r = { .zctx = zctx,
                    .clients = p.clients,
                    .window = p.window,
                    .per_dossier = BENCH_STEPS,
                    .events = events,
                    .timeout_ms = timeout_ms };
    snprintf(r.nonce, sizeof(r.nonce), "%08x", (unsigned)(bench_now_ns() ^ (uint64_t)getpid()));
    char label[64];
    snprintf(label, sizeof(label), "%s C=%d,W=%d", sys_name[sys], p.clients, p.window);
    fprintf(stderr, "%s: %s ...\n", bench_prog, label);
    if (sys == SYS_LT) {
        bench_daemon_start(daemon, dir, !ipc, NULL, &live.d);
        r.endpoint = live.d.endpoint;
        bench_measure(&r, live.d.pid, live.d.data_dir, res, label);
        bench_daemon_stop(&live.d);
    } else {
        if (sys == SYS_REDIS) {
            bench_redis_start(dir, &live.s);
            r.client_main = bench_redis_client;
        } else {
            bench_nats_start(dir, &live.s);
            r.client_main = bench_nats_client;
        }
        r.sys = &live.s;
        bench_measure(&r, live.s.pid, NULL, res, label);
        bench_server_stop(&live.s);
    }
    bench_rm_tree(dir);
    fprintf(stderr, "%s: %s: %.0f events/s, p50 %.0f us, p99 %.0f us\n", bench_prog, label,
            res->rate, res->p50 * 1e3, res->p99 * 1e3);
}

int main(int argc, char **argv)
{
    bench_prog = "bench-compare";
    uint64_t events = 10000;
    int timeout_ms = 30000, rounds = 3;
    const char *grid = "1x1,8x1,4x64,8x64", *systems = "lienthong,redis,nats";
    const char *json = "bench/results/latest.json", *daemon = NULL, *tmpdir = NULL;
    bool ipc = false;
    static char daemon_path[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--events"))
            events = (uint64_t)bench_num(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--rounds"))
            rounds = (int)bench_num(a, v, 1, MAX_ROUNDS), i++;
        else if (!strcmp(a, "--timeout-ms"))
            timeout_ms = (int)bench_num(a, v, 1, 3600000), i++;
        else if (!strcmp(a, "--grid") && v)
            grid = v, i++;
        else if (!strcmp(a, "--systems") && v)
            systems = v, i++;
        else if (!strcmp(a, "--json") && v)
            json = v, i++;
        else if (!strcmp(a, "--daemon") && v)
            daemon = v, i++;
        else if (!strcmp(a, "--dir") && v)
            tmpdir = v, i++;
        else if (!strcmp(a, "--ipc"))
            ipc = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    point pts[MAX_POINTS];
    int npts = parse_grid(grid, pts);
    bool want[SYS_COUNT] = { strstr(systems, "lienthong") != NULL, strstr(systems, "redis") != NULL,
                             strstr(systems, "nats") != NULL };
    if (!daemon) {
        char *copy = strdup(argv[0]);
        snprintf(daemon_path, sizeof(daemon_path), "%s/lienthongd", dirname(copy));
        free(copy);
        daemon = daemon_path;
    }
    if (want[SYS_LT] && access(daemon, X_OK) < 0)
        bench_die(daemon, "not executable (build it, or pass --daemon PATH)");
    bench_init_times();

    bench_make_tmpdir(tmpdir, "compare", live.base, sizeof(live.base));
    bench_on_interrupt(cleanup);

    char fs[2400], host[256] = "?", date[64];
    bench_describe_fs(live.base, fs, sizeof(fs));
    gethostname(host, sizeof(host));
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", gmtime(&now));
    printf("bench-compare  %s  host %s  %ld CPUs\n", date, host, sysconf(_SC_NPROCESSORS_ONLN));
    printf(
        "servers: lienthongd (%s, %s loopback, two-key config), redis-server (appendonly yes, "
        "appendfsync always, no RDB),\n         nats-server -js (file storage, stream LT), each in "
        "a fresh dir under %s\n         on %s\n",
        daemon, ipc ? "ipc" : "tcp", live.base, fs);
    if (strstr(fs, "tmpfs") || strstr(fs, "ramfs"))
        printf(
            "WARNING: temp dir on a RAM filesystem: fsync is free, figures are not durable ones\n");
    printf("events: %" PRIu64 " per system, grid point and round, ~1 KB each (the same Submission "
           "bytes for all);\n        %d rounds, systems in rotated order, medians shown\n\n",
           events, rounds);
    fflush(stdout);

    /* rounds x points x systems; in each round the systems take turns in a
     * rotated order, and the table keeps each figure's median over the rounds */
    static bench_result all[MAX_ROUNDS][MAX_POINTS][SYS_COUNT];
    row rows[MAX_POINTS * SYS_COUNT];
    int n = 0;
    void *zctx = zmq_ctx_new();
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < npts; i++)
            for (int j = 0; j < SYS_COUNT; j++) {
                int s = (j + k + i) % SYS_COUNT;
                if (!want[s])
                    continue;
                char dir[700];
                snprintf(dir, sizeof(dir), "%s/%s-%dx%d", live.base, sys_name[s], pts[i].clients,
                         pts[i].window);
                if (rounds > 1)
                    fprintf(stderr, "%s: round %d/%d\n", bench_prog, k + 1, rounds);
                run_one(s, pts[i], events, daemon, ipc, timeout_ms, zctx, dir, &all[k][i][s]);
            }
    for (int i = 0; i < npts; i++)
        for (int s = 0; s < SYS_COUNT; s++) {
            if (!want[s])
                continue;
            bench_result per[MAX_ROUNDS];
            for (int k = 0; k < rounds; k++)
                per[k] = all[k][i][s];
            rows[n].sys = s;
            rows[n].p = pts[i];
            median(per, rounds, &rows[n].res, &rows[n].spread);
            n++;
        }
    zmq_ctx_term(zctx);
    bench_nats_shutdown();
    print_table(rows, n);
    print_targets(rows, n, pts, npts);
    write_json(json, rows, n, date, host, events);
    printf("\nrows written to %s\n", json);
    bench_rm_tree(live.base);
    return 0;
}
