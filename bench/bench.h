/* bench.h - what the benchmarks share: the ~1 KB dossier events and their
 * in-place patching, the measured run (C client threads, W in flight each,
 * latency percentiles, progress on stderr), starting and stopping lienthongd
 * on a temp store, and small process and filesystem probes.
 *
 * Benchmarks are not tests: they exit on the first error with a message
 * (bench_die) instead of returning codes, and nothing here is linked into
 * the daemon. One measured run at a time per process.
 */
#ifndef LT_BENCH_H
#define LT_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_STEPS       7 /* the life of one dossier: statuses 1,2,4,6, a result, 9,10 */
#define BENCH_RID_BASE    (1ull << 60) /* request ids are 9-byte varints: patchable in place */
#define BENCH_MAX_CLIENTS 256

/* Name used in messages ("bench-ingest"); set by main. */
extern const char *bench_prog;

uint64_t bench_now_ns(void);

/* Print "<prog>: what: detail", run the interrupt cleanup (servers), exit 1. */
_Noreturn void bench_die(const char *what, const char *detail);

/* ---------- the events ---------- */

/* One pre-encoded Submission with the offsets of the bytes each send patches. */
typedef struct bench_tmpl {
    uint8_t *buf; /* caller frees */
    size_t len;
    size_t off_rid, off_event, off_dossier; /* 9-byte varint, then two 10-digit runs */
} bench_tmpl;

/* Fix the timestamps the templates carry (relative to now). Call once. */
void bench_init_times(void);

/* Encode the template of one step for client cli; nonce (<= 15 chars) keeps
 * event ids and dossier codes of different runs apart. */
void bench_build_tmpl(bench_tmpl *t, const char *nonce, int cli, int step);

/* Event ids as senders that draw them at random (UUIDv4 and the like) make
 * them: when set (before building templates), an event id starts with its
 * digits, scrambled (bench_event_digits), so that each new id lands at a
 * random place in the dedupe index among all the ids stored before, instead
 * of after the last id of its client. Dossier codes stay in order. */
extern bool bench_random_ids;

/* The 10 digits event k's id carries: k, or with bench_random_ids a
 * bijection of k over 0..10^10-1 that scatters neighbours. */
uint64_t bench_event_digits(uint64_t k);

/* Event k's id for a client of bench_build_tmpl (what bench_fill writes). */
void bench_event_id(char *buf, size_t size, const char *nonce, int cli, int step, uint64_t k);

/* Write event k of a client (templates t[0..per_dossier-1]) into buf (at
 * least t->len bytes): request id BENCH_RID_BASE|k, event digits k, dossier
 * digits k / per_dossier. Returns its length. */
size_t bench_fill(const bench_tmpl *t, int per_dossier, uint64_t k, uint8_t *buf);

/* Pull request_id and outcome out of a Reply without allocating. 0 or -1. */
int bench_parse_reply(const uint8_t *p, size_t n, uint64_t *rid, uint64_t *outcome);

/* Read one protobuf varint at *p (< end), advancing *p. 0 or -1. */
int bench_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* ---------- a measured run ---------- */

typedef struct bench_run bench_run;

/* One client thread. The client function sends events 0..n-1 with at most
 * r->window in flight, stamps sent_ns[k] before sending k, and calls
 * bench_acked() for each acknowledgement; on failure it writes error. */
typedef struct bench_client {
    bench_run *r;
    int idx;
    uint64_t n;        /* events this client sends */
    uint64_t *sent_ns; /* send time by local index */
    uint64_t *lat_ns;  /* latencies in arrival order */
    uint64_t n_lat;
    bench_tmpl t[BENCH_STEPS];
    atomic_uint_fast64_t acked;
    char error[512];
    pthread_t th;
} bench_client;

struct bench_run {
    void *(*client_main)(void *client); /* NULL: bench_lt_client */
    void *zctx;                         /* for the ZeroMQ clients */
    const char *endpoint;               /* lienthong: ingest endpoint; others: their URL */
    const void *sys;                    /* client-specific settings, borrowed */
    int clients, window, per_dossier, timeout_ms;
    const int *steps; /* template step of each event of a dossier (per_dossier of them,
                       * each 0..BENCH_STEPS-1); NULL: steps 0..per_dossier-1 */
    uint64_t events;  /* split evenly over the clients */
    char nonce[16];
};

typedef struct bench_result {
    uint64_t events;
    double secs, rate;
    double p50, p99, p999, max; /* ms */
    double mean_bytes;
    double commits;       /* LMDB transactions in the run, <0 if unknown */
    double server_cpu_us; /* server CPU per event, <0 if unknown */
    double client_cpu_us; /* this process's CPU per event */
} bench_result;

/* Run r; server_pid (> 0) gets its CPU measured, data_dir (lienthong's store,
 * or NULL) its commits counted. Prints progress on stderr; exits on any
 * client error. */
void bench_measure(bench_run *r, pid_t server_pid, const char *data_dir, bench_result *res,
                   const char *label);

/* Record the acknowledgement of local event k arriving at t1 (bench_now_ns). */
void bench_acked(bench_client *c, uint64_t k, uint64_t t1);

/* The lienthong client: one DEALER to r->endpoint; every reply must be ACCEPTED. */
void *bench_lt_client(void *client);

/* ---------- lienthongd ---------- */

typedef struct bench_daemon {
    pid_t pid;
    char dir[600], data_dir[700], endpoint[800], log[700];
} bench_daemon;

/* Start daemon (a lienthongd binary) with its store in dir/data (created when
 * missing, reused when present), ingest on ipc in dir (tcp loopback with
 * tcp), the two required keys plus yaml (may be NULL) appended. Waits for
 * READY=1 on NOTIFY_SOCKET (10 s); its stderr goes to dir/daemon.log. */
void bench_daemon_start(const char *daemon, const char *dir, bool tcp, const char *yaml,
                        bench_daemon *d);

/* SIGTERM and wait (15 s, then SIGKILL). Accepts a daemon that was never started. */
void bench_daemon_stop(bench_daemon *d);

/* ---------- probes and helpers ---------- */

int bench_free_port(void);                       /* a free TCP port on 127.0.0.1 */
double bench_proc_cpu(pid_t pid);                /* CPU seconds, all threads; <0 on error */
int64_t bench_store_txnid(const char *data_dir); /* LMDB last txnid; <0 on error */
void bench_describe_fs(const char *dir, char *buf, size_t size); /* size >= 2400 */
double bench_pct(const uint64_t *sorted, uint64_t n, double p);  /* ns -> ms */
int bench_cmp_u64(const void *a, const void *b);
/* Create a fresh temp dir DIR/lt-NAME-XXXXXX in buf (DIR: dir when given,
 * else $TMPDIR, else /tmp): the parent of a run's stores and sockets. Exits
 * with a message when it cannot. */
void bench_make_tmpdir(const char *dir, const char *name, char *buf, size_t size);
long long bench_num(const char *opt, const char *v, long long lo, long long hi); /* exits on bad */
void bench_rm_tree(const char *dir);
bool bench_wait_tcp(int port, int timeout_ms); /* true once 127.0.0.1:port accepts */

/* Ctrl-C and SIGTERM: the handler only sets a flag; bench_measure and the
 * wait loops call bench_check_interrupt(), which runs cleanup (stop the
 * servers, remove the temp dir) and exits 130. */
void bench_on_interrupt(void (*cleanup)(void));
void bench_check_interrupt(void);

#endif
