/* growth.c - bench-growth: what lienthongd costs as its store grows, and how
 * fast a result stream replays it.
 *
 * For each size in --growth (default 0,1M): bench-load fills a fresh store
 * with that many events and a lienthongd is started on it. Then the ingest
 * rate and acknowledgement latency are measured at (C=8,W=64) on each store in
 * turn, --repeat rounds of that (the sizes interleaved, so the machine's
 * drift over minutes falls on every size alike), with each daemon's RSS
 * split into LMDB's mapped data.mdb and anonymous memory (its heap), and the
 * store's bytes per stored event. On the first store holding at least
 * --replay events (default 1M) one subscriber replays the log from EARLIEST
 * (proto/lienthong/v1/stream.proto): records/s.
 * Not a test: `make bench` runs it. See bench/README.md. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "lienthong/v1/stream.pb-c.h"

#define MAX_SIZES     8
#define REPLAY_CREDIT 100000 /* also the daemon's streams.max_credit */
#define REPLAY_BATCH  5000   /* re-grant credit and ack every this many records */

typedef struct mem {
    double rss_mb, mdb_mb, anon_mb; /* total RSS, RSS of data.mdb's mapping, anonymous */
} mem;

typedef struct size_row {
    uint64_t stored;
    double load_s;
    bench_result res;
    mem before, after;
    double bytes_per_event;
    double replay_rate; /* records/s, <0 when not measured */
    uint64_t replayed;
} size_row;

static struct {
    char base[512];
    bench_daemon d[MAX_SIZES];
    pid_t loader;
} live;

static void cleanup(void)
{
    if (live.loader > 0) {
        kill(live.loader, SIGTERM);
        waitpid(live.loader, NULL, 0);
    }
    for (int i = 0; i < MAX_SIZES; i++)
        bench_daemon_stop(&live.d[i]);
    if (live.base[0])
        bench_rm_tree(live.base);
}

/* "0", "500k", "1M", "10M" -> count. */
static uint64_t parse_size(const char *tok)
{
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1000000, end++;
    if (errno || *end || v < 0 || v * (double)mult > 1e10) {
        fprintf(stderr, "bench-growth: bad size '%s' (e.g. 0, 500k, 1M, 10M)\n", tok);
        exit(2);
    }
    return (uint64_t)(v * (double)mult);
}

/* RSS of pid from /proc/pid/smaps: all, data.mdb's mapping, anonymous. */
static mem read_mem(pid_t pid)
{
    mem m = { 0 };
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return m;
    bool mdb = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long kb;
        bool header = (line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f');
        if (header) { /* "start-end perms offset dev inode path"; fields are "Name: ..." */
            size_t n = strlen(line);
            while (n && line[n - 1] == '\n')
                line[--n] = '\0';
            mdb = n >= 9 && !strcmp(line + n - 9, "/data.mdb");
        } else if (sscanf(line, "Rss: %lu kB", &kb) == 1) {
            m.rss_mb += (double)kb / 1024;
            if (mdb)
                m.mdb_mb += (double)kb / 1024;
        } else if (sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
            m.anon_mb += (double)kb / 1024;
        }
    }
    fclose(f);
    return m;
}

/* Bytes of map in use / entries in the log, read from data_dir. */
static double bytes_per_event(const char *data_dir)
{
    MDB_env *env;
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    MDB_dbi dbi;
    double r = -1;
    if (mdb_env_create(&env))
        return -1;
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, data_dir, MDB_RDONLY, 0640) == 0 && mdb_env_info(env, &info) == 0 &&
        mdb_env_stat(env, &st) == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        MDB_stat ls;
        if (mdb_dbi_open(txn, "log", 0, &dbi) == 0 && mdb_stat(txn, dbi, &ls) == 0 && ls.ms_entries)
            r = (double)(info.me_last_pgno + 1) * st.ms_psize / (double)ls.ms_entries;
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return r;
}

/* Run bench-load (next to this binary) into dir; returns seconds. */
static double load(const char *self_dir, const char *dir, uint64_t n)
{
    char prog[4200], count[32];
    snprintf(prog, sizeof(prog), "%s/bench-load", self_dir);
    snprintf(count, sizeof(count), "%" PRIu64, n);
    uint64_t t0 = bench_now_ns();
    live.loader = fork();
    if (live.loader < 0)
        bench_die("fork", strerror(errno));
    if (live.loader == 0) {
        execl(prog, prog, "--dir", dir, "--events", count,
              bench_random_ids ? "--random-ids" : (char *)NULL, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(live.loader, &st, WNOHANG) == 0) {
        bench_check_interrupt();
        usleep(50000);
    }
    live.loader = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("bench-load failed for", dir);
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* ---------- stream replay ---------- */

static void stream_send(void *s, Lienthong__V1__StreamRequest *q)
{
    uint8_t buf[512];
    q->has_version = true;
    q->version = 1;
    q->consumer = "bench-replay";
    size_t len = lienthong__v1__stream_request__get_packed_size(q);
    if (len > sizeof(buf))
        bench_die("stream request too large", NULL);
    lienthong__v1__stream_request__pack(q, buf);
    if (zmq_send(s, buf, len, 0) < 0)
        bench_die("stream send", zmq_strerror(errno));
}

/* Field f (varint) of the length-delimited field outer in a StreamMessage:
 * returns 0 and *v, 1 when outer is absent, -2 for a StreamError, -1 on garbage. */
static int peek(const uint8_t *p, size_t n, uint64_t outer, uint64_t f, uint64_t *v)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, len;
        if (bench_read_varint(&p, end, &key) < 0)
            return -1;
        if ((key & 7) == 0) {
            if (bench_read_varint(&p, end, &len) < 0)
                return -1;
            continue;
        }
        if ((key & 7) != 2 || bench_read_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
            return -1;
        if (key >> 3 == 13)
            return -2;
        if (key >> 3 == outer) {
            const uint8_t *q = p, *qe = p + len;
            while (q < qe) {
                uint64_t k2, x;
                if (bench_read_varint(&q, qe, &k2) < 0)
                    return -1;
                if ((k2 & 7) == 0) {
                    if (bench_read_varint(&q, qe, &x) < 0)
                        return -1;
                    if (k2 >> 3 == f) {
                        *v = x;
                        return 0;
                    }
                } else if ((k2 & 7) == 2 && bench_read_varint(&q, qe, &x) == 0 &&
                           x <= (uint64_t)(qe - q)) {
                    q += x;
                } else {
                    return -1;
                }
            }
            *v = 0;
            return 0;
        }
        p += len;
    }
    return 1;
}

/* One subscriber from EARLIEST to the log's last seq; records/s. */
static double replay(void *zctx, const char *endpoint, int timeout_ms, uint64_t *ret_n)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0, hwm = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(int));
    if (zmq_connect(s, endpoint) < 0)
        bench_die("stream connect", zmq_strerror(errno));
    Lienthong__V1__StreamRequest q = LIENTHONG__V1__STREAM_REQUEST__INIT;
    Lienthong__V1__Subscribe sub = LIENTHONG__V1__SUBSCRIBE__INIT;
    sub.has_start = sub.has_credit = sub.has_reset = true;
    sub.start = LIENTHONG__V1__SUBSCRIBE__START__EARLIEST;
    sub.credit = REPLAY_CREDIT;
    sub.reset = true;
    q.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_SUBSCRIBE;
    q.subscribe = &sub;
    uint64_t t0 = bench_now_ns(), last_seq = 0, n = 0, seq = 0, since = 0, shown = t0;
    stream_send(s, &q);
    static uint8_t buf[65536];
    for (;;) {
        int len = zmq_recv(s, buf, sizeof(buf), 0);
        if (len < 0)
            bench_die("stream: no message within the timeout", zmq_strerror(errno));
        if (len > (int)sizeof(buf))
            bench_die("stream: message larger than 64 KiB", NULL);
        int r = peek(buf, (size_t)len, 11, 1, &seq);
        if (r == -2)
            bench_die("stream: the daemon sent a StreamError", NULL);
        if (r == 1 && peek(buf, (size_t)len, 10, 4, &last_seq) == 0) {
            fprintf(stderr, "  replay: subscribed, log's last seq %" PRIu64 "\n", last_seq);
            continue;
        }
        if (r != 0)
            continue; /* Acked */
        n++;
        if (++since == REPLAY_BATCH) {
            Lienthong__V1__StreamRequest c = LIENTHONG__V1__STREAM_REQUEST__INIT;
            Lienthong__V1__Credit cr = LIENTHONG__V1__CREDIT__INIT;
            Lienthong__V1__Ack ack = LIENTHONG__V1__ACK__INIT;
            cr.has_n = ack.has_seq = true;
            cr.n = REPLAY_BATCH;
            ack.seq = seq;
            c.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_CREDIT;
            c.credit = &cr;
            stream_send(s, &c);
            c.body_case = LIENTHONG__V1__STREAM_REQUEST__BODY_ACK;
            c.ack = &ack;
            stream_send(s, &c);
            since = 0;
            uint64_t now = bench_now_ns();
            if (now - shown > 2000000000ull) {
                fprintf(stderr, "  replay: %" PRIu64 "/%" PRIu64 " records\n", n, last_seq);
                shown = now;
            }
            bench_check_interrupt();
        }
        if (last_seq && seq >= last_seq)
            break;
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    zmq_close(s);
    *ret_n = n;
    return (double)n / secs;
}

/* ---------- main ---------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of each figure over the rounds: the machine's noise between
 * runs is larger than the growth effect. */
static void median_of(const bench_result *runs, int n, bench_result *res)
{
    double rate[16], p50[16], p99[16], p999[16];
    for (int k = 0; k < n; k++)
        rate[k] = runs[k].rate, p50[k] = runs[k].p50, p99[k] = runs[k].p99, p999[k] = runs[k].p999;
    qsort(rate, (size_t)n, sizeof(double), cmp_double);
    qsort(p50, (size_t)n, sizeof(double), cmp_double);
    qsort(p99, (size_t)n, sizeof(double), cmp_double);
    qsort(p999, (size_t)n, sizeof(double), cmp_double);
    *res = runs[0];
    res->rate = rate[n / 2], res->p50 = p50[n / 2], res->p99 = p99[n / 2];
    res->p999 = p999[n / 2];
}

static void print_rows(const size_row *rows, int n)
{
    printf("%10s %8s %10s %8s %8s %9s %7s %7s %8s %8s %8s %9s\n", "stored", "load s", "events/s",
           "p50 us", "p99 us", "p99.9 us", "rate/0", "p99/0", "RSS MB", "mdb MB", "anon MB",
           "B/event");
    for (int i = 0; i < n; i++) {
        const size_row *r = &rows[i];
        printf("%10" PRIu64 " %8.1f %10.0f %8.0f %8.0f %9.0f %7.2f %7.2f %8.1f %8.1f %8.1f %9.0f\n",
               r->stored, r->load_s, r->res.rate, r->res.p50 * 1e3, r->res.p99 * 1e3,
               r->res.p999 * 1e3, r->res.rate / rows[0].res.rate, r->res.p99 / rows[0].res.p99,
               r->after.rss_mb, r->after.mdb_mb, r->after.anon_mb, r->bytes_per_event);
    }
    printf(
        "  stored = events in the store before the run (bench-load); rate/0, p99/0 = against\n"
        "  the first size; RSS after the run, split into data.mdb's mapped pages (page cache,\n"
        "  shared, reclaimable) and anonymous memory (heap, stacks); B/event = map in use / log\n"
        "  entries. Anonymous right after start, for comparison:");
    for (int i = 0; i < n; i++)
        printf(" %.1f", rows[i].before.anon_mb);
    printf(" MB\n");
    for (int i = 0; i < n; i++)
        if (rows[i].replay_rate >= 0)
            printf("\nstream replay from EARLIEST, one subscriber, %" PRIu64
                   " records (credit %d, re-granted and acked every %d): %.0f records/s\n",
                   rows[i].replayed, REPLAY_CREDIT, REPLAY_BATCH, rows[i].replay_rate);
}

static void write_json(const char *path, const size_row *rows, int n, const char *date)
{
    char *copy = strdup(path), cmd[1200];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dirname(copy));
    free(copy);
    if (system(cmd) != 0)
        bench_die("cannot create the directory of", path);
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(path, strerror(errno));
    fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        const size_row *r = &rows[i];
        fprintf(f,
                "  {\"system\": \"lienthong\", \"stored\": %" PRIu64 ", \"clients\": 8, "
                "\"window\": 64, \"events_per_s\": %.0f, \"p50_us\": %.0f, \"p99_us\": %.0f, "
                "\"p999_us\": %.0f, \"rss_mb\": %.1f, \"mdb_rss_mb\": %.1f, \"anon_mb\": %.1f, "
                "\"anon_mb_at_start\": %.1f, \"bytes_per_event\": %.0f, \"load_s\": %.1f, "
                "\"replay_records_per_s\": %.0f, \"date\": \"%s\"}%s\n",
                r->stored, r->res.rate, r->res.p50 * 1e3, r->res.p99 * 1e3, r->res.p999 * 1e3,
                r->after.rss_mb, r->after.mdb_mb, r->after.anon_mb, r->before.anon_mb,
                r->bytes_per_event, r->load_s, r->replay_rate, date, i + 1 < n ? "," : "");
    }
    fprintf(f, "]\n");
    fclose(f);
}

int main(int argc, char **argv)
{
    bench_prog = "bench-growth";
    const char *sizes = "0,1M", *daemon = NULL, *tmpdir = NULL;
    const char *json = "bench/results/growth.json";
    uint64_t events = 30000, replay_n = 1000000;
    int timeout_ms = 60000, repeat = 3;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--growth") && v)
            sizes = v, i++;
        else if (!strcmp(a, "--events"))
            events = (uint64_t)bench_num(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--repeat"))
            repeat = (int)bench_num(a, v, 1, 15), i++;
        else if (!strcmp(a, "--replay") && v)
            replay_n = parse_size(v), i++;
        else if (!strcmp(a, "--daemon") && v)
            daemon = v, i++;
        else if (!strcmp(a, "--dir") && v)
            tmpdir = v, i++;
        else if (!strcmp(a, "--json") && v)
            json = v, i++;
        else if (!strcmp(a, "--keep"))
            keep = true;
        else if (!strcmp(a, "--random-ids"))
            bench_random_ids = true;
        else {
            fprintf(
                stderr,
                "usage: bench-growth [--growth 0,1M,10M] [--events N] [--repeat R] [--replay N|0]\n"
                "                    [--daemon PATH] [--dir DIR] [--json PATH] [--keep]\n"
                "                    [--random-ids]\n"
                "  each size: a store bulk-loaded with that many events and a daemon on it;\n"
                "  then R rounds (default 3, medians kept), each running (C=8,W=64) with\n"
                "  --events (default 30000) on every size in turn. --replay: replay on the\n"
                "  first store with at least N events (default 1M, 0: never). --random-ids:\n"
                "  event ids drawn at random (as UUIDv4 would be), loaded and sent alike,\n"
                "  instead of in order per client\n");
            return 2;
        }
    }
    uint64_t list[MAX_SIZES];
    int nsz = 0;
    char *copy = strdup(sizes), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && nsz < MAX_SIZES; t = strtok_r(NULL, ",", &save))
        list[nsz++] = parse_size(t);
    free(copy);
    char *self = strdup(argv[0]);
    const char *self_dir = dirname(self);
    static char daemon_path[4096];
    if (!daemon) {
        snprintf(daemon_path, sizeof(daemon_path), "%s/lienthongd", self_dir);
        daemon = daemon_path;
    }
    bench_init_times();
    bench_make_tmpdir(tmpdir, "growth", live.base, sizeof(live.base));
    bench_on_interrupt(cleanup);
    char fs[2400], date[64];
    bench_describe_fs(live.base, fs, sizeof(fs));
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", gmtime(&now));
    printf("bench-growth  %s  %ld CPUs  stores in %s on %s\n(C=8,W=64), %" PRIu64
           " events x %d rounds over the sizes in turn (medians), tcp loopback\n\n",
           date, sysconf(_SC_NPROCESSORS_ONLN), live.base, fs, events, repeat);
    fflush(stdout);

    size_row rows[MAX_SIZES];
    static bench_result runs[MAX_SIZES][16];
    void *zctx = zmq_ctx_new();
    /* every store loaded and its daemon started first */
    for (int i = 0; i < nsz; i++) {
        size_row *r = &rows[i];
        memset(r, 0, sizeof(*r));
        r->stored = list[i];
        r->replay_rate = -1;
        char dir[700], yaml[1024];
        snprintf(dir, sizeof(dir), "%s/g%d", live.base, i);
        if (mkdir(dir, 0700) < 0)
            bench_die(dir, strerror(errno));
        if (list[i]) {
            fprintf(stderr, "bench-growth: loading %" PRIu64 " events ...\n", list[i]);
            r->load_s = load(self_dir, dir, list[i]);
        }
        uint64_t map_mb = (list[i] + events * (uint64_t)repeat) * 1600 / 1048576 + 2048;
        snprintf(yaml, sizeof(yaml),
                 "store:\n  map_size_mb: %" PRIu64
                 "\nstreams:\n  endpoint: \"ipc://%s/stream.sock\"\n"
                 "  max_credit: %d",
                 map_mb, dir, REPLAY_CREDIT);
        bench_daemon_start(daemon, dir, true, yaml, &live.d[i]);
        r->before = read_mem(live.d[i].pid);
    }
    /* then the rounds, each over every size in turn */
    for (int k = 0; k < repeat; k++)
        for (int i = 0; i < nsz; i++) {
            bench_run run = { .zctx = zctx,
                              .endpoint = live.d[i].endpoint,
                              .clients = 8,
                              .window = 64,
                              .per_dossier = BENCH_STEPS,
                              .events = events,
                              .timeout_ms = timeout_ms };
            snprintf(run.nonce, sizeof(run.nonce), "%08x",
                     (unsigned)(bench_now_ns() ^ (uint64_t)k));
            char label[96];
            snprintf(label, sizeof(label), "C=8,W=64 on %" PRIu64 " stored, round %d/%d", list[i],
                     k + 1, repeat);
            bench_result *res = &runs[i][k];
            bench_measure(&run, live.d[i].pid, live.d[i].data_dir, res, label);
            fprintf(stderr, "bench-growth: %s: %.0f events/s, p99 %.0f us\n", label, res->rate,
                    res->p99 * 1e3);
        }
    bool replayed = false;
    for (int i = 0; i < nsz; i++) {
        size_row *r = &rows[i];
        median_of(runs[i], repeat, &r->res);
        r->after = read_mem(live.d[i].pid);
        if (!replayed && replay_n && list[i] >= replay_n) {
            char ep[800];
            snprintf(ep, sizeof(ep), "ipc://%s/stream.sock", live.d[i].dir);
            fprintf(stderr, "bench-growth: replaying %s from EARLIEST ...\n", live.d[i].dir);
            r->replay_rate = replay(zctx, ep, timeout_ms, &r->replayed);
            replayed = true;
        }
        bench_daemon_stop(&live.d[i]);
        r->bytes_per_event = bytes_per_event(live.d[i].data_dir);
        if (!keep)
            bench_rm_tree(live.d[i].dir);
    }
    zmq_ctx_term(zctx);
    print_rows(rows, nsz);
    write_json(json, rows, nsz, date);
    printf("\nrows written to %s\n", json);
    if (keep)
        fprintf(stderr, "kept %s\n", live.base);
    else
        bench_rm_tree(live.base);
    free(self);
    return 0;
}
