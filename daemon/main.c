/* main.c - lienthongd: parse arguments, load the config, open the store,
 * bind the ingest socket, serve until SIGTERM.
 *
 * Exit status: 0 clean stop or valid config (--check-config); 1 usage or
 * config error; 2 startup failure (store, socket); 3 fatal runtime error
 * (failed commit, MDB_PANIC): nothing unacknowledged was lost, restart. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "apply.h"
#include "config.h"
#include "error.h"
#include "ingest.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "store.h"

#ifndef LT_VERSION
#define LT_VERSION "0.1.0"
#endif

enum { EXIT_USAGE = 1, EXIT_STARTUP = 2, EXIT_FATAL = 3 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lienthongd -c FILE [--check-config]\n"
            "\n"
            "Receive dossier events over ZeroMQ and store them durably in LMDB.\n"
            "\n"
            "  -c, --config FILE   YAML configuration (see config/README.md)\n"
            "      --check-config  validate the configuration, print the first error, exit 0 or 1\n"
            "  -h, --help          this help\n"
            "      --version       print the version\n");
}

static void print_diag(int r, const lt_diag *d)
{
    char buf[1024];
    lt_diag_format(d, buf, sizeof(buf));
    fprintf(stderr, "lienthongd: %s\n", buf[0] ? buf : lt_strerror(r));
}

/* Block the signals we handle and route them to a signalfd; ignore SIGPIPE. */
static int signals_setup(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* One daemon per data directory: a second one would share the LMDB writer
 * and steal the first one's ipc socket files. Takes an exclusive flock on
 * DATA_DIR/lienthongd.pid (and writes the pid in it). Returns the fd, or -1
 * after logging why. */
static int lock_data_dir(const char *dir)
{
    char path[4096];
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        lt_log_err("cannot create data_dir=%s err=\"%s\"", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/lienthongd.pid", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        lt_log_err("cannot open %s err=\"%s\"", path, strerror(errno));
        return -1;
    }
    /* a few tries: lienthongctl takes a shared lock for a moment to see
     * whether a daemon runs */
    int locked = -1;
    for (int i = 0; i < 20 && (locked = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EWOULDBLOCK;
         i++)
        usleep(10000);
    if (locked < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        lt_log_err("another lienthongd is running on data_dir=%s pid=%s (%s is locked)", dir,
                   pid[0] ? pid : "?", path);
        close(fd);
        return -1;
    }
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
        lt_log_warn("cannot write the pid to %s err=\"%s\"", path, strerror(errno));
    return fd;
}

/* Remove the ipc socket files this daemon bound (libzmq leaves them). */
static void unlink_ipc(const char *endpoint)
{
    if (endpoint && strncmp(endpoint, "ipc://", 6) == 0)
        unlink(endpoint + 6);
}

/* Open DATA_DIR/journal and put what it holds beyond the store's last seq
 * into the store (events acknowledged before a crash), before serving. With
 * store.journal_mb 0 an existing journal is still replayed, then removed, so
 * that turning the journal off never drops what it holds. Returns 0, or -1
 * after logging why. */
static int open_journal(const lt_config *cfg, lt_store *store, lt_journal **ret)
{
    char path[4096];
    lt_diag d;
    lt_diag_clear(&d);
    *ret = NULL;
    lt_journal_path_in(cfg->data_dir, path, sizeof(path));
    bool off = cfg->journal_mb == 0;
    if (off && access(path, F_OK) != 0)
        return 0;
    lt_journal_scan_info info;
    int r = lt_journal_open(path, (uint64_t)cfg->journal_mb << 20, lt_store_id(store), ret, &d);
    if (r == 0 && (r = lt_apply_journal(store, cfg, *ret, &info, &d)) == 0) {
        if (info.applied)
            lt_log_warn("journal replayed events=%" PRIu64 " last_seq=%" PRIu64
                        " file=%s (acknowledged before the daemon last stopped without "
                        "committing them)",
                        info.applied, lt_store_last_seq(store), path);
        if (!off)
            return 0;
        lt_journal_close(ret);
        if (unlink(path) < 0)
            lt_log_warn("cannot remove %s (store.journal_mb is 0) err=\"%s\"", path,
                        strerror(errno));
        else
            lt_log_info("journal removed file=%s (store.journal_mb is 0)", path);
        return 0;
    }
    lt_log_err("journal failed err=\"%s\"%s", d.message[0] ? d.message : lt_strerror(r),
               r == LT_ERR_STORE_FULL ? "; raise store.map_size_mb and restart: the events in "
                                        "the journal were acknowledged and must go into the store"
                                      : "");
    lt_journal_close(ret);
    return -1;
}

static int serve(const lt_config *cfg)
{
    lt_diag d;
    lt_diag_clear(&d);
    int sigfd = signals_setup();
    if (sigfd < 0) {
        lt_log_err("signal setup failed err=\"%s\"", lt_strerror(sigfd));
        return EXIT_STARTUP;
    }

    lt_store_opts so = {
        .dir = cfg->data_dir,
        .map_size = (uint64_t)cfg->map_size_mb << 20,
        .max_readers = (unsigned)cfg->max_readers,
        .flags = cfg->store_flags,
    };
    int lockfd = lock_data_dir(cfg->data_dir);
    if (lockfd < 0) {
        close(sigfd);
        return EXIT_STARTUP;
    }
    lt_store *store = NULL;
    int stale = 0;
    int r = lt_store_open(&so, &store, &stale, &d);
    if (r < 0) {
        char buf[1024];
        lt_diag_format(&d, buf, sizeof(buf));
        lt_log_err("store open failed data_dir=%s err=\"%s\"", cfg->data_dir,
                   buf[0] ? buf : lt_strerror(r));
        close(lockfd);
        close(sigfd);
        return EXIT_STARTUP;
    }
    if (stale > 0)
        lt_log_warn("stale LMDB readers cleared count=%d", stale);

    if (lt_store_upgraded_from(store))
        lt_log_info("store upgraded data_dir=%s from_schema=%" PRIu64 " to_schema=%d",
                    cfg->data_dir, lt_store_upgraded_from(store), LT_STORE_SCHEMA_VERSION);

    lt_journal *journal = NULL;
    if (open_journal(cfg, store, &journal) < 0) {
        lt_store_close(&store);
        close(lockfd);
        close(sigfd);
        return EXIT_STARTUP;
    }

    void *zctx = zmq_ctx_new();
    lt_ingest *in = NULL;
    lt_delivery_engine *dl = NULL;
    lt_stream *st = NULL;
    lt_control *ctl = NULL;
    r = zctx ? 0 : LT_ERR_ZMQ;
    const char *what = "ingest socket";
    if (r == 0)
        r = lt_ingest_new(cfg, store, zctx, &in, &d);
    if (r == 0 && (what = "agency links") &&
        (r = lt_delivery_new(cfg, store, zctx, &dl, &d)) == 0 && (what = "stream socket") &&
        (r = lt_stream_new(cfg, store, zctx, &st, &d)) == 0)
        what = "control socket", r = lt_control_new(cfg, store, dl, zctx, &ctl, &d);
    if (r < 0) {
        lt_log_err("startup failed part=\"%s\" err=\"%s\"", what,
                   d.message[0] ? d.message : lt_strerror(r));
        lt_control_free(&ctl);
        lt_stream_free(&st);
        lt_delivery_free(&dl);
        lt_ingest_free(&in);
        if (zctx)
            zmq_ctx_term(zctx);
        lt_journal_close(&journal);
        lt_store_close(&store);
        close(lockfd);
        close(sigfd);
        return EXIT_STARTUP;
    }
    lt_log_info("lienthongd started version=%s config=%s data_dir=%s endpoint=%s last_seq=%" PRIu64
                " agencies=%zu routes=%zu streams=%s control=%s",
                LT_VERSION, cfg->path ? cfg->path : "-", cfg->data_dir, cfg->ingest_endpoint,
                lt_store_last_seq(store), cfg->n_agencies, cfg->n_routes,
                cfg->streams_endpoint ? cfg->streams_endpoint : "-", cfg->control_endpoint);

    lt_loop_parts parts = { cfg, store, in, dl, st, ctl, journal };
    r = lt_loop_run(&parts, sigfd);

    lt_ingest_counters c;
    lt_ingest_counters_get(in, &c);
    lt_control_free(&ctl);
    lt_stream_free(&st);
    lt_delivery_free(&dl);
    lt_ingest_free(&in);
    zmq_ctx_term(zctx);
    uint64_t last = lt_store_last_seq(store);
    lt_journal_close(&journal);
    lt_store_close(&store);
    unlink_ipc(cfg->ingest_endpoint);
    unlink_ipc(cfg->streams_endpoint);
    unlink_ipc(cfg->streams_pub_endpoint);
    unlink_ipc(cfg->control_endpoint);
    close(lockfd); /* releases the lock last */
    close(sigfd);
    if (r < 0) {
        lt_log_err("lienthongd stopped on a fatal error err=\"%s\" last_seq=%" PRIu64
                   " (restart recovers; unacknowledged events are resent by clients)",
                   lt_strerror(r), last);
        return EXIT_FATAL;
    }
    lt_log_info("lienthongd stopped accepted=%" PRIu64 " duplicate=%" PRIu64 " rejected=%" PRIu64
                " dropped=%" PRIu64 " batches=%" PRIu64 " admitted_ahead=%" PRIu64
                " last_seq=%" PRIu64,
                c.accepted, c.duplicate, c.rejected, c.dropped, c.batches, c.admitted_ahead, last);
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_VERSION };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, OPT_CHECK },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    bool check = false;
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("lienthongd %s\n", LT_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lienthongd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!path) {
        fprintf(stderr, "lienthongd: no configuration given; use -c FILE\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    lt_config *cfg = NULL;
    lt_diag d;
    lt_diag_clear(&d);
    int r = lt_config_load(path, &cfg, &d);
    if (r < 0) {
        print_diag(r, &d);
        return EXIT_USAGE;
    }
    if (check) {
        printf("%s: ok\n", path);
        lt_config_free(&cfg);
        return 0;
    }
    lt_log_level = cfg->log_level;
    /* ZeroMQ's I/O thread allocates the message buffers the loop frees: at
     * glibc's default threshold (128 KiB) nearly every batch gives pages back
     * to the kernel with madvise, and each time every CPU the daemon runs on
     * takes a TLB-flush interrupt. Keep up to 8 MiB free per arena; setting it
     * fixes the mmap threshold too, so set that where glibc would raise it. */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    r = serve(cfg);
    lt_config_free(&cfg);
    return r;
}
