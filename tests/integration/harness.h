/* harness.h - runs a real lienthongd for integration and crash tests.
 *
 * A harness owns a temp directory holding the config, the LMDB data dir, the
 * daemon's stderr log and an sd_notify socket: the daemon is started with
 * NOTIFY_SOCKET pointing there, and lt_h_start() returns once it said
 * READY=1. Clients are DEALER sockets, as a department system's would be.
 * Binaries come from the environment ctest sets: LT_DAEMON, LT_CTL,
 * LT_SOURCE_DIR. Failures print what happened and abort the test.
 */
#ifndef LT_HARNESS_H
#define LT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "store.h"

typedef struct lt_h {
    char dir[256];         /* temp dir, removed by lt_h_free() unless LT_KEEP_TMP is set */
    char config[300];      /* dir/lienthong.yaml */
    char data_dir[300];    /* dir/data */
    char log[300];         /* dir/daemon.log: the daemon's stderr, appended across restarts */
    char endpoint[320];    /* ipc://dir/ingest.sock unless the test chose tcp */
    char extra_yaml[2048]; /* appended to the generated config */
    pid_t pid;             /* running daemon or 0 */
    void *zctx;
} lt_h;

/* Fail the test with a message (prints file:line). */
#define lt_h_check(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            lt_h_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)
_Noreturn void lt_h_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Create the temp dir; extra_yaml (may be NULL) is appended to the config,
 * e.g. "batch:\n  max_events: 8\n". */
void lt_h_init(lt_h *h, const char *name, const char *extra_yaml);
/* Use a TCP endpoint on a free loopback port instead of ipc. */
void lt_h_use_tcp(lt_h *h);
/* Write the config (data_dir, ingest.endpoint, extra_yaml). */
void lt_h_write_config(lt_h *h);
/* Start the daemon and wait (10 s) for READY=1. */
void lt_h_start(lt_h *h);
/* A datagram socket bound at DIR/notify.sock, for a daemon's sd_notify
 * messages (its NOTIFY_SOCKET); the path goes into path. Returns the fd. */
int lt_h_notify_socket(lt_h *h, char *path, size_t size);
/* Preload lib (an LD_PRELOAD shim) into the daemons started until
 * lt_h_preload_end(); under AddressSanitizer the shim comes before its
 * runtime (verify_asan_link_order=0), and ASAN_OPTIONS is restored after. */
void lt_h_preload_begin(const char *lib);
void lt_h_preload_end(void);
/* Start without waiting; returns the pid. Used to test startup failures. */
pid_t lt_h_spawn(lt_h *h, const char *const *argv);
/* Send sig, wait for exit; returns the exit status (or 128+signal). */
int lt_h_stop(lt_h *h, int sig);
/* Wait for an already-exiting child; returns exit status (or 128+signal). */
int lt_h_wait(pid_t pid, int timeout_ms);
/* SIGSTOP the daemon and wait until every one of its threads has stopped,
 * so no syscall of its (an LMDB commit's write, say) is still in flight. */
void lt_h_freeze(lt_h *h);
/* True while the daemon process is alive. */
bool lt_h_alive(lt_h *h);
/* True when the daemon's log contains s. */
bool lt_h_log_contains(lt_h *h, const char *s);
/* Wait up to timeout_ms for the daemon's log to contain s. */
bool lt_h_wait_log(lt_h *h, const char *s, int timeout_ms);
/* Stop the daemon if running, remove the temp dir. */
void lt_h_free(lt_h *h);

/* A DEALER connected to the daemon. */
void *lt_h_client(lt_h *h);
/* Send raw frames (count frames of given sizes). */
void lt_h_send_frames(void *sock, int count, const void *const *data, const size_t *sizes);
/* Pack and send one Submission. */
void lt_h_send(void *sock, const lt_submission *sub);
/* Receive one Reply within timeout_ms. Returns NULL on timeout; caller frees
 * with lienthong__v1__reply__free_unpacked(). */
lt_reply *lt_h_recv(void *sock, int timeout_ms);
/* Send and wait for the reply (5 s); fails the test on timeout. */
lt_reply *lt_h_call(void *sock, const lt_submission *sub);

/* Submissions for tests. Strings are copied into an arena freed by
 * lt_h_sub_free(). Times are relative to now (seconds, negative = past). */
lt_submission *lt_h_status(const char *sender, const char *event_id, const char *dossier,
                           int status);
lt_submission *lt_h_result(const char *sender, const char *event_id, const char *dossier);
void lt_h_sub_free(lt_submission *sub);
/* RFC 3339 UTC time now + delta seconds, into a static rotating buffer. */
const char *lt_h_time(int64_t delta_s);

/* An agency simulator (lienthong-agency-sim, path from LT_SIM) on
 * ipc://DIR/<agency>.sock, logging every request to DIR/<agency>.log. */
typedef struct lt_h_sim {
    pid_t pid;
    char agency[32];
    char endpoint[320];
    char log[300];
} lt_h_sim;

/* Start a simulator for agency (tax, land, portal); args are extra options
 * separated by spaces (e.g. "--latency-ms 5 --error-rate 0.1"), may be NULL.
 * For tax, --ingest points at the harness's daemon. Waits until it is bound. */
void lt_h_sim_start(lt_h *h, lt_h_sim *sim, const char *agency, const char *args);
/* SIGTERM and wait. */
void lt_h_sim_stop(lt_h_sim *sim);
/* Lines of the simulator's log containing needle. */
int lt_h_sim_count(const lt_h_sim *sim, const char *needle);
/* The endpoint a simulator for agency would use (for the config's agencies). */
const char *lt_h_sim_endpoint(lt_h *h, const char *agency);

/* Run a shell command; capture its output (up to size-1 bytes, NUL-ended)
 * into out. Returns its exit status, 128 when it did not exit normally. */
int lt_h_run(const char *cmd, char *out, size_t size);
/* Run lienthongctl (LT_CTL) with -c h->config and args (shell words),
 * stdout and stderr into out. Returns its exit status as lt_h_run. */
int lt_h_ctl(lt_h *h, const char *args, char *out, size_t size);
/* Occurrences of needle in hay. */
int lt_h_count(const char *hay, const char *needle);

/* Open the daemon's store read-only (works while it runs). */
lt_store *lt_h_store(lt_h *h);

/* Wait until s shows every event the daemon acknowledged from its journal
 * (daemon/journal.h: committed once the loop is quiet for 1 ms).
 * lt_h_store does this; call it again before reading s after publishing more. */
void lt_h_settle(lt_h *h, lt_store *s);

#endif
