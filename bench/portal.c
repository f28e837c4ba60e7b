/* portal.c - bench-portal: how many dossiers/s lienthongd syncs to the
 * national portal over loopback HTTP (transport http, the portal's JSON
 * dialect: login, then DongBoHoSoMC + CapNhatTienDoHoSoMC per status change),
 * side by side with the same flow delivered over the ZeroMQ link to the
 * portal simulator (lienthong-agency-sim --agency portal, one LinkRequest per
 * event). Both peers answer at once: the figures are the daemon's.
 *
 * Per transport and agency window, in a fresh store: start the peer
 * (lienthong-fakeportal on a free port with --log, or the simulator on ipc
 * with --log), start lienthongd with one agency `portal` and one route
 * sending every event to it, pause the agency (lienthongctl pause portal),
 * publish N dossiers of K events each (C DEALER clients, W in flight each),
 * then resume and time until the peer's log shows every call answered OK:
 * the drain of a backlog. With --live the agency is not paused and the time
 * runs from the first publish. Then `lienthongctl queues` must show nothing
 * pending for portal.
 *
 * The ratio http/zmq of dossiers/s is what to quote: absolute times drift on
 * a shared machine. Not a test. See bench/README.md, "Portal over HTTP". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
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

#define MAX_WINDOWS 8
#define RESULT_STEP 4 /* the template step that is a Result: a sync, no progress call */

/* The life of one dossier with K events (--events-per-dossier K): template
 * steps of bench_build_tmpl (statuses 1,2,4,6, a result, 9,10). The default
 * K=3 is received (2), in progress (4), processed (9, with finished_at). */
static const int lives[BENCH_STEPS + 1][BENCH_STEPS] = {
    [1] = { 1 },
    [2] = { 1, 5 },
    [3] = { 1, 2, 5 },
    [4] = { 1, 2, 3, 5 },
    [5] = { 1, 2, 3, 4, 5 },
    [6] = { 1, 2, 3, 4, 5, 6 },
    [7] = { 0, 1, 2, 3, 4, 5, 6 },
};

enum { T_HTTP, T_ZMQ };
static const char *const tnames[] = { "http", "zmq" };

/* What the peer's log says so far. */
typedef struct tally {
    FILE *f;
    char partial[4096]; /* a line not yet ended */
    size_t plen;
    uint64_t logins, syncs, progress, firsts; /* http: calls answered 00 */
    uint64_t ok, repeats;                     /* zmq: requests answered OK */
    uint64_t bad;                             /* anything else */
    char first_bad[512];
} tally;

static struct {
    char base[512], daemon[4200], ctl[4200], fakeportal[4200], sim[4200];
    bench_daemon d;
    pid_t peer;
    void *zctx;
} g;

static void peer_stop(void)
{
    int st;
    if (g.peer <= 0)
        return;
    kill(g.peer, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(g.peer, &st, WNOHANG) == g.peer) {
            g.peer = 0;
            return;
        }
        usleep(10000);
    }
    kill(g.peer, SIGKILL);
    waitpid(g.peer, &st, 0);
    g.peer = 0;
}

static void cleanup(void)
{
    bench_daemon_stop(&g.d);
    peer_stop();
    if (g.base[0])
        bench_rm_tree(g.base);
}

/* ---------- the peer ---------- */

/* Start the fake portal (http) or the simulator (zmq) in dir, logging every
 * call to dir/peer.log; ret_where gets its url or endpoint. */
static void peer_start(int transport, const char *dir, char *ret_where, size_t size)
{
    char log[800], out[800], port_file[800], sock[800];
    snprintf(log, sizeof(log), "%s/peer.log", dir);
    snprintf(out, sizeof(out), "%s/peer.out", dir);
    snprintf(port_file, sizeof(port_file), "%s/portal.port", dir);
    snprintf(sock, sizeof(sock), "%s/portal.sock", dir);
    snprintf(ret_where, size, "ipc://%s", sock);
    const char *bin = transport == T_HTTP ? g.fakeportal : g.sim;
    if (access(bin, X_OK) != 0)
        bench_die(bin,
                  transport == T_HTTP ? "not built (needs libmicrohttpd-dev)" : strerror(errno));
    g.peer = fork();
    if (g.peer < 0)
        bench_die("fork", strerror(errno));
    if (g.peer == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (transport == T_HTTP)
            execl(bin, bin, "--port", "0", "--port-file", port_file, "--log", log, (char *)NULL);
        else
            execl(bin, bin, "--agency", "portal", "--endpoint", ret_where, "--log", log, "--quiet",
                  (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    const char *wait_for = transport == T_HTTP ? port_file : sock;
    uint64_t deadline = bench_now_ns() + 5000000000ull;
    struct stat sb;
    while (stat(wait_for, &sb) != 0) {
        int st;
        bench_check_interrupt();
        if (waitpid(g.peer, &st, WNOHANG) == g.peer) {
            g.peer = 0;
            bench_die("the portal peer exited at start; its output", out);
        }
        if (bench_now_ns() > deadline)
            bench_die("the portal peer did not start within 5 s; its output", out);
        usleep(5000);
    }
    if (transport == T_HTTP) {
        int port = 0;
        FILE *f = fopen(port_file, "r");
        if (!f || fscanf(f, "%d", &port) != 1 || port <= 0)
            bench_die("cannot read the fake portal's port from", port_file);
        fclose(f);
        snprintf(ret_where, size, "http://127.0.0.1:%d", port);
    }
}

/* Count the lines the peer has logged since the last call. */
static void tally_read(tally *t, int transport)
{
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), t->f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (t->plen < sizeof(t->partial) - 1)
                    t->partial[t->plen++] = buf[i];
                continue;
            }
            t->partial[t->plen] = '\0';
            const char *l = t->partial;
            bool ok = false;
            if (transport == T_HTTP) {
                bool c00 = strstr(l, " code=00") != NULL;
                if (!strncmp(l, "login ok ", 9))
                    ok = true, t->logins++;
                else if (!strncmp(l, "sync ", 5) && c00)
                    ok = true, t->syncs++, t->firsts += strstr(l, "isUpdating=False") != NULL;
                else if (!strncmp(l, "progress ", 9) && c00)
                    ok = true, t->progress++;
            } else if (strstr(l, " outcome=OK")) {
                ok = true;
                if (strstr(l, " repeat=1"))
                    t->repeats++;
                else
                    t->ok++;
            }
            if (!ok && !t->bad++)
                snprintf(t->first_bad, sizeof(t->first_bad), "%.500s", l);
            t->plen = 0;
        }
    }
    clearerr(t->f);
}

/* ---------- lienthongctl ---------- */

/* Run lienthongctl -c the daemon's config ARGS; its output into out. Exit status. */
static int ctl(const char *args, char *out, size_t size)
{
    char cmd[6000];
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s/lienthong.yaml' %s 2>&1", g.ctl, g.d.dir, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        bench_die("popen", strerror(errno));
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void ctl_must(const char *args)
{
    char out[4096];
    if (ctl(args, out, sizeof(out)) != 0) {
        char what[200];
        snprintf(what, sizeof(what), "lienthongctl %s", args);
        bench_die(what, out);
    }
}

/* ---------- where the daemon's CPU goes ---------- */

/* CPU seconds of the daemon's threads by role: the loop (the main thread),
 * the http link's worker (its only other thread that is not ZeroMQ's), and
 * ZeroMQ's I/O threads. */
typedef struct thr_cpu {
    double loop, link, zmq;
} thr_cpu;

static void threads_cpu(pid_t pid, thr_cpu *ret)
{
    char path[300], buf[1024];
    memset(ret, 0, sizeof(*ret));
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (!open || !close ||
            sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            continue;
        double cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        if (tid == (int)pid)
            ret->loop += cpu;
        else if (!strncmp(open + 1, "ZMQbg", 5))
            ret->zmq += cpu;
        else
            ret->link += cpu;
    }
    if (d)
        closedir(d);
}

/* ---------- one run ---------- */

typedef struct row {
    int transport, window, round;
    uint64_t dossiers, events, statuses, calls, logins;
    double publish_rate; /* events/s acknowledged while paused (or live) */
    double secs;         /* resume (or first publish) -> last call answered */
    double d_cpu_ms;     /* daemon CPU per dossier over the drain, ms */
    double p_cpu_ms;     /* peer CPU per dossier over the drain, ms */
    uint64_t repeats;    /* http: first syncs beyond one per dossier; zmq: repeat=1 */
    double loop_pct, link_pct, zmq_pct, peer_pct; /* CPU / wall over the drain */
} row;

/* The config lienthongd gets beyond its two required keys: one agency portal
 * to the peer at where, with window, and one route sending it every event. */
static void daemon_yaml(int transport, const char *where, int window, uint64_t events, char *buf,
                        size_t size)
{
    uint64_t map_mb = events * 8000 / 1048576 + 1024;
    if (transport == T_HTTP)
        snprintf(buf, size,
                 "store:\n  map_size_mb: %" PRIu64 "\n"
                 "agencies:\n  portal:\n    transport: http\n    url: '%s'\n"
                 "    username: lienthong\n    password: secret\n    madonvi: '000.00.00.H29'\n"
                 "    procedure_map: {'1.004227': '1.004227'}\n"
                 "    window: %d\n    rate_per_s: 0\n    timeout_ms: 30000\n"
                 "routes:\n  - {name: portal-all, to: [portal]}",
                 map_mb, where, window);
    else
        snprintf(buf, size,
                 "store:\n  map_size_mb: %" PRIu64 "\n"
                 "agencies:\n  portal:\n    transport: zmq\n    endpoint: '%s'\n"
                 "    window: %d\n    timeout_ms: 30000\n"
                 "routes:\n  - {name: portal-all, to: [portal]}",
                 map_mb, where, window);
}

/* Die naming the first call the peer did not answer OK, if any. */
static void check_answers(const tally *t, const char *label)
{
    char msg[1200];
    if (!t->bad)
        return;
    snprintf(msg, sizeof(msg), "%s: the peer answered a call with an error (%s); daemon log", label,
             t->first_bad);
    bench_die(msg, g.d.log);
}

/* Follow the peer's log until want calls (http: syncs and progress steps;
 * zmq: requests) were answered OK. Progress on stderr every 2 s; dies on an
 * error answer or when nothing moves for timeout_ms. */
static void wait_answered(tally *t, int transport, const char *log, uint64_t want, uint64_t t0,
                          int timeout_ms, const char *label)
{
    uint64_t last = bench_now_ns(), progress_at = last, seen = 0;
    for (;;) {
        if (!t->f)
            t->f = fopen(log, "r");
        if (t->f)
            tally_read(t, transport);
        uint64_t done = transport == T_HTTP ? t->syncs + t->progress : t->ok;
        uint64_t now = bench_now_ns();
        if (done >= want)
            return;
        check_answers(t, label);
        bench_check_interrupt();
        if (done != seen)
            seen = done, progress_at = now;
        if (now - progress_at > (uint64_t)timeout_ms * 1000000u) {
            char msg[300];
            snprintf(msg, sizeof(msg), "%s: %" PRIu64 " of %" PRIu64 " calls, none for %d ms; log",
                     label, done, want, timeout_ms);
            bench_die(msg, g.d.log);
        }
        if (now - last >= 2000000000ull) {
            fprintf(stderr, "  %s: %" PRIu64 "/%" PRIu64 " calls answered, %.1f s\n", label, done,
                    want, (double)(now - t0) / 1e9);
            last = now;
        }
        usleep(2000);
    }
}

/* The daemon agrees: nothing pending or in flight for portal (the last
 * outcomes commit a pass after the peer answered). Dies after 5 s. */
static void wait_queue_empty(void)
{
    char q[8192] = "";
    for (int i = 0; i < 250; i++) {
        if (ctl("--json queues", q, sizeof(q)) == 0 && strstr(q, "\"agency\":\"portal\"") &&
            strstr(q, "\"pending\":0") && strstr(q, "\"in_flight\":0"))
            return;
        usleep(20000);
    }
    bench_die("lienthongctl queues still shows work for portal", q);
}

/* One row: peer, daemon, pause, publish r, resume, time the drain, check, stop. */
static void run_one(int idx, int transport, int window, bool live, bench_run *r, int timeout_ms,
                    row *out)
{
    char dir[700], yaml[3072], where[900], label[96];
    snprintf(dir, sizeof(dir), "%s/r%d-%s-w%d", g.base, idx, tnames[transport], window);
    if (mkdir(dir, 0700) < 0)
        bench_die(dir, strerror(errno));
    snprintf(r->nonce, sizeof(r->nonce), "%08x", (unsigned)(bench_now_ns() ^ (uint64_t)idx));
    peer_start(transport, dir, where, sizeof(where));
    daemon_yaml(transport, where, window, r->events, yaml, sizeof(yaml));
    bench_daemon_start(g.daemon, dir, true, yaml, &g.d);
    r->endpoint = g.d.endpoint;

    memset(out, 0, sizeof(*out));
    out->transport = transport;
    out->window = window;
    out->events = r->events;
    for (int i = 0; i < r->clients; i++) {
        uint64_t n =
            r->events / (uint64_t)r->clients + ((uint64_t)i < r->events % (uint64_t)r->clients);
        out->dossiers += (n + (uint64_t)r->per_dossier - 1) / (uint64_t)r->per_dossier;
        for (uint64_t k = 0; k < n; k++)
            out->statuses += r->steps[k % (uint64_t)r->per_dossier] != RESULT_STEP;
    }
    snprintf(label, sizeof(label), "%s window %d", tnames[transport], window);
    fprintf(stderr, "bench-portal: %s: %" PRIu64 " dossiers, %" PRIu64 " events%s ...\n", label,
            out->dossiers, out->events, live ? ", live" : ", as a backlog");

    tally t = { 0 };
    char log[800];
    snprintf(log, sizeof(log), "%s/peer.log", dir);
    if (!live)
        ctl_must("pause portal");
    bench_result ack;
    uint64_t t0 = bench_now_ns();
    double dcpu0 = bench_proc_cpu(g.d.pid), pcpu0 = bench_proc_cpu(g.peer);
    thr_cpu th0, th1;
    threads_cpu(g.d.pid, &th0);
    bench_measure(r, g.d.pid, g.d.data_dir, &ack, label);
    out->publish_rate = ack.rate;
    if (!live) {
        t0 = bench_now_ns();
        dcpu0 = bench_proc_cpu(g.d.pid);
        pcpu0 = bench_proc_cpu(g.peer);
        threads_cpu(g.d.pid, &th0);
        ctl_must("resume portal");
    }

    uint64_t want = transport == T_HTTP ? out->events + out->statuses : out->events;
    wait_answered(&t, transport, log, want, t0, timeout_ms, label);
    uint64_t t1 = bench_now_ns();
    double dcpu1 = bench_proc_cpu(g.d.pid), pcpu1 = bench_proc_cpu(g.peer);
    threads_cpu(g.d.pid, &th1);
    out->secs = (double)(t1 - t0) / 1e9;
    out->loop_pct = 100 * (th1.loop - th0.loop) / out->secs;
    out->link_pct = 100 * (th1.link - th0.link) / out->secs;
    out->zmq_pct = 100 * (th1.zmq - th0.zmq) / out->secs;
    out->peer_pct = 100 * (pcpu1 - pcpu0) / out->secs;
    out->d_cpu_ms = (dcpu1 - dcpu0) * 1e3 / (double)out->dossiers;
    out->p_cpu_ms = (pcpu1 - pcpu0) * 1e3 / (double)out->dossiers;

    wait_queue_empty();
    usleep(100000); /* a late repeat would show in the log */
    tally_read(&t, transport);
    check_answers(&t, label);
    fclose(t.f);
    bench_daemon_stop(&g.d);
    peer_stop();
    out->logins = t.logins;
    out->calls = transport == T_HTTP ? t.logins + t.syncs + t.progress : t.ok + t.repeats;
    out->repeats = transport == T_HTTP
                       ? t.firsts - (t.firsts < out->dossiers ? t.firsts : out->dossiers)
                       : t.repeats;
    if (transport == T_HTTP && t.firsts < out->dossiers)
        bench_die(label, "fewer first syncs (isUpdating=False) than dossiers");
    fprintf(stderr, "bench-portal: %s: %.0f dossiers/s (%" PRIu64 " calls in %.2f s)\n", label,
            (double)out->dossiers / out->secs, out->calls, out->secs);
}

/* ---------- main ---------- */

static void print_rows(const row *rows, int n)
{
    printf("%-5s %6s %8s %7s %7s %8s %10s %9s %8s %9s %9s %9s %5s %5s %5s %5s %7s\n", "link",
           "window", "dossiers", "events", "calls", "seconds", "dossiers/s", "events/s", "calls/s",
           "pub ev/s", "d-CPU/dos", "p-CPU/dos", "loop%", "link%", "zmq%", "peer%", "repeats");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("%-5s %6d %8" PRIu64 " %7" PRIu64 " %7" PRIu64 " %8.2f %10.0f %9.0f %8.0f %9.0f "
               "%9.2f %9.2f %5.0f %5.0f %5.0f %5.0f %7" PRIu64 "\n",
               tnames[r->transport], r->window, r->dossiers, r->events, r->calls, r->secs,
               (double)r->dossiers / r->secs, (double)r->events / r->secs,
               (double)r->calls / r->secs, r->publish_rate, r->d_cpu_ms, r->p_cpu_ms, r->loop_pct,
               r->link_pct, r->zmq_pct, r->peer_pct, r->repeats);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof(double), cmp_double);
    return k ? (k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2) : 0;
}

/* The dossiers/s of transport at window in round, or 0 when not run. */
static double rate_of(const row *rows, int n, int transport, int window, int round)
{
    for (int i = 0; i < n; i++)
        if (rows[i].transport == transport && rows[i].window == window && rows[i].round == round)
            return (double)rows[i].dossiers / rows[i].secs;
    return 0;
}

/* One line per window: the ratio http/zmq of each round (both ran back to
 * back, so they saw about the same load), and their median. */
static void print_ratios(const row *rows, int n, const int *wl, int nw, int rounds)
{
    for (int w = 0; w < nw; w++) {
        double v[9];
        printf("ratio http/zmq of dossiers/s, window %d:", wl[w]);
        for (int round = 0; round < rounds; round++) {
            double h = rate_of(rows, n, T_HTTP, wl[w], round);
            double z = rate_of(rows, n, T_ZMQ, wl[w], round);
            v[round] = z > 0 ? h / z : 0;
            printf(" %.2f (%.0f / %.0f)", v[round], h, z);
        }
        if (rounds > 1)
            printf("; median %.2f", median(v, rounds));
        printf("\n");
    }
}

static void loadavg(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    float a = 0, b = 0, c = 0;
    if (f && fscanf(f, "%f %f %f", &a, &b, &c) == 3)
        snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
    else
        snprintf(buf, size, "?");
    if (f)
        fclose(f);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-portal [--dossiers N] [--events-per-dossier K] [--window 64,...]\n"
            "                    [--rounds R] [--links http,zmq] [--live] [--clients C]\n"
            "                    [--client-window W] [--timeout-ms MS] [--daemon PATH]\n"
            "                    [--dir DIR] [--keep]\n"
            "  N dossiers (default 5000) of K events each (default 3: statuses 2, 4, 9;\n"
            "  1..%d), published with the portal agency paused, then synced to a fast\n"
            "  fake portal over loopback HTTP and, in the same run, to the portal\n"
            "  simulator over the ZeroMQ link; each agency window (default 64) and link,\n"
            "  R rounds (default 1) in alternating order. --live: no pause, timed from\n"
            "  the first publish. Prints dossiers/s per link and the ratio http/zmq.\n",
            BENCH_STEPS);
    exit(2);
}

int main(int argc, char **argv)
{
    bench_prog = "bench-portal";
    const char *daemon = NULL, *tmpdir = NULL, *windows = "64", *links = "http,zmq";
    uint64_t dossiers = 5000;
    int per_dossier = 3, clients = 4, window = 64, timeout_ms = 60000, rounds = 1;
    bool keep = false, live = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--dossiers"))
            dossiers = (uint64_t)bench_num(a, v, 1, 10000000), i++;
        else if (!strcmp(a, "--events-per-dossier"))
            per_dossier = (int)bench_num(a, v, 1, BENCH_STEPS), i++;
        else if (!strcmp(a, "--window") && v)
            windows = v, i++;
        else if (!strcmp(a, "--links") && v)
            links = v, i++;
        else if (!strcmp(a, "--rounds"))
            rounds = (int)bench_num(a, v, 1, 9), i++;
        else if (!strcmp(a, "--clients"))
            clients = (int)bench_num(a, v, 1, BENCH_MAX_CLIENTS), i++;
        else if (!strcmp(a, "--client-window"))
            window = (int)bench_num(a, v, 1, 100000), i++;
        else if (!strcmp(a, "--timeout-ms"))
            timeout_ms = (int)bench_num(a, v, 1000, 3600000), i++;
        else if (!strcmp(a, "--daemon") && v)
            daemon = v, i++;
        else if (!strcmp(a, "--dir") && v)
            tmpdir = v, i++;
        else if (!strcmp(a, "--live"))
            live = true;
        else if (!strcmp(a, "--keep"))
            keep = true;
        else
            usage();
    }
    int wl[MAX_WINDOWS], nw = 0, tl[2], nt = 0;
    char *copy = strdup(windows), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && nw < MAX_WINDOWS;
         t = strtok_r(NULL, ",", &save))
        wl[nw++] = (int)bench_num("--window", t, 1, 1024);
    free(copy);
    copy = strdup(links);
    for (char *t = strtok_r(copy, ",", &save); t && nt < 2; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "http") && strcmp(t, "zmq"))
            usage();
        tl[nt++] = strcmp(t, "http") ? T_ZMQ : T_HTTP;
    }
    free(copy);
    if (!nw || !nt)
        usage();

    char *self = strdup(argv[0]), *bindir = dirname(self);
    snprintf(g.daemon, sizeof(g.daemon), "%s", daemon ? daemon : "");
    if (!daemon)
        snprintf(g.daemon, sizeof(g.daemon), "%s/lienthongd", bindir);
    snprintf(g.ctl, sizeof(g.ctl), "%s/lienthongctl", bindir);
    snprintf(g.fakeportal, sizeof(g.fakeportal), "%s/lienthong-fakeportal", bindir);
    snprintf(g.sim, sizeof(g.sim), "%s/lienthong-agency-sim", bindir);
    free(self);

    bench_init_times();
    bench_make_tmpdir(tmpdir, "portal", g.base, sizeof(g.base));
    bench_on_interrupt(cleanup);
    char fs[2400], date[64], load0[64], load1[64];
    bench_describe_fs(g.base, fs, sizeof(fs));
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", gmtime(&now));
    loadavg(load0, sizeof(load0));
    printf("bench-portal  %s  %ld CPUs  load average %s  stores in %s on %s\n"
           "%" PRIu64 " dossiers x %d events (template steps",
           date, sysconf(_SC_NPROCESSORS_ONLN), load0, g.base, fs, dossiers, per_dossier);
    for (int s = 0; s < per_dossier; s++)
        printf(" %d", lives[per_dossier][s]);
    printf("), C=%d,W=%d publishers, %s\n\n", clients, window,
           live ? "live (timed from the first publish)"
                : "backlog drain (paused, published, resumed)");
    fflush(stdout);

    g.zctx = zmq_ctx_new();
    row rows[MAX_WINDOWS * 2 * 9];
    int n = 0;
    for (int round = 0; round < rounds; round++)
        for (int w = 0; w < nw; w++)
            for (int k = 0; k < nt; k++) {
                int transport = tl[(k + round) % nt];
                bench_run r = { .zctx = g.zctx,
                                .clients = clients,
                                .window = window,
                                .per_dossier = per_dossier,
                                .steps = lives[per_dossier],
                                .events = dossiers * (uint64_t)per_dossier,
                                .timeout_ms = timeout_ms };
                run_one(n, transport, wl[w], live, &r, timeout_ms, &rows[n]);
                rows[n].round = round;
                n++;
            }
    zmq_ctx_term(g.zctx);
    loadavg(load1, sizeof(load1));
    print_rows(rows, n);
    printf("  calls = HTTP calls the fake portal answered (login, DongBoHoSoMC per event,\n"
           "  CapNhatTienDoHoSoMC per status change) or LinkRequests the simulator answered\n"
           "  (one per event); seconds = %s -> the last call answered; d-CPU/dos,\n"
           "  p-CPU/dos = daemon and peer CPU ms per dossier over that time; loop%%, link%%,\n"
           "  zmq%%, peer%% = CPU / wall over that time of the daemon's loop thread, its http\n"
           "  link worker, its ZeroMQ I/O threads, and the whole peer;\n"
           "  pub ev/s = events acknowledged/s while %s;\n"
           "  repeats = http: first syncs beyond one per dossier, zmq: requests repeated\n"
           "  under the same key. Load average at the end %s.\n",
           live ? "first publish" : "resume", live ? "delivering" : "the agency was paused", load1);
    if (nt == 2)
        print_ratios(rows, n, wl, nw, rounds);
    if (keep)
        fprintf(stderr, "kept %s\n", g.base);
    else
        bench_rm_tree(g.base);
    return 0;
}
