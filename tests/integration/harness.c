/* harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "journal.h"

extern char **environ;

/* Every process the harness started, so a failing test takes them down with
 * it instead of leaving ctest waiting on orphans until its timeout. */
static pid_t children[64];
static size_t n_children;

static void child_started(pid_t pid)
{
    for (size_t i = 0; i < n_children; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    if (n_children < sizeof(children) / sizeof(children[0]))
        children[n_children++] = pid;
}

static void child_gone(pid_t pid)
{
    for (size_t i = 0; i < n_children; i++)
        if (children[i] == pid)
            children[i] = 0;
}

_Noreturn void lt_h_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    for (size_t i = 0; i < n_children; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    abort();
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lt_h_init(lt_h *h, const char *name, const char *extra_yaml)
{
    memset(h, 0, sizeof(*h));
    const char *tmp = getenv("TMPDIR");
    snprintf(h->dir, sizeof(h->dir), "%s/lt-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
    lt_h_check(mkdtemp(h->dir), "mkdtemp %s: %s", h->dir, strerror(errno));
    snprintf(h->config, sizeof(h->config), "%s/lienthong.yaml", h->dir);
    snprintf(h->data_dir, sizeof(h->data_dir), "%s/data", h->dir);
    snprintf(h->log, sizeof(h->log), "%s/daemon.log", h->dir);
    snprintf(h->endpoint, sizeof(h->endpoint), "ipc://%s/ingest.sock", h->dir);
    snprintf(h->extra_yaml, sizeof(h->extra_yaml), "%s", extra_yaml ? extra_yaml : "");
    h->zctx = zmq_ctx_new();
    lt_h_check(h->zctx, "zmq_ctx_new");
    lt_h_check(getenv("LT_DAEMON"), "LT_DAEMON is not set (run the test through ctest)");
}

void lt_h_use_tcp(lt_h *h)
{
    /* Ask the kernel for a free port, then hand it to the daemon. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    lt_h_check(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                   getsockname(fd, (struct sockaddr *)&a, &len) == 0,
               "cannot find a free port: %s", strerror(errno));
    snprintf(h->endpoint, sizeof(h->endpoint), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd);
}

void lt_h_write_config(lt_h *h)
{
    FILE *f = fopen(h->config, "w");
    lt_h_check(f, "%s: %s", h->config, strerror(errno));
    fprintf(f, "data_dir: %s\ningest:\n  endpoint: \"%s\"\n%s", h->data_dir, h->endpoint,
            h->extra_yaml);
    fclose(f);
}

pid_t lt_h_spawn(lt_h *h, const char *const *argv)
{
    pid_t pid = fork();
    lt_h_check(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { /* stdout too: a pipe ctest reads must not outlive the test */
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    child_started(pid);
    return pid;
}

int lt_h_notify_socket(lt_h *h, char *path, size_t size)
{
    snprintf(path, size, "%s/notify.sock", h->dir);
    unlink(path);
    int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    lt_h_check(strlen(path) < sizeof(sa.sun_path), "path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    lt_h_check(ns >= 0 && bind(ns, (struct sockaddr *)&sa, sizeof(sa)) == 0, "notify socket %s: %s",
               path, strerror(errno));
    return ns;
}

static char *preload_asan_keep;
static bool preload_asan_had;

void lt_h_preload_begin(const char *lib)
{
    const char *old = getenv("ASAN_OPTIONS");
    char asan[512];
    preload_asan_had = old != NULL;
    preload_asan_keep = old ? strdup(old) : NULL;
    /* under AddressSanitizer the shim is preloaded before its runtime */
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old ? old : "", old ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("LD_PRELOAD", lib, 1);
}

void lt_h_preload_end(void)
{
    unsetenv("LD_PRELOAD");
    if (preload_asan_had)
        setenv("ASAN_OPTIONS", preload_asan_keep, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(preload_asan_keep);
    preload_asan_keep = NULL;
}

void lt_h_start(lt_h *h)
{
    lt_h_check(h->pid == 0, "daemon already running");
    lt_h_write_config(h);
    char notify_path[320];
    int ns = lt_h_notify_socket(h, notify_path, sizeof(notify_path));
    setenv("NOTIFY_SOCKET", notify_path, 1);
    const char *argv[] = { getenv("LT_DAEMON"), "-c", h->config, NULL };
    h->pid = lt_h_spawn(h, argv);
    unsetenv("NOTIFY_SOCKET");

    int64_t deadline = now_ms() + 10000;
    bool ready = false;
    while (!ready && now_ms() < deadline) {
        struct pollfd p = { .fd = ns, .events = POLLIN };
        if (poll(&p, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = recv(ns, buf, sizeof(buf) - 1, 0);
            if (n > 0) {
                buf[n] = '\0';
                ready = strstr(buf, "READY=1") != NULL;
            }
        }
        int st;
        if (!ready && waitpid(h->pid, &st, WNOHANG) == h->pid) {
            child_gone(h->pid);
            h->pid = 0;
            close(ns);
            lt_h_fail(__FILE__, __LINE__, "lienthongd exited during startup (status %d); log %s",
                      WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), h->log);
        }
    }
    close(ns);
    lt_h_check(ready, "lienthongd not READY within 10 s; log %s", h->log);
}

int lt_h_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            child_gone(pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        lt_h_check(r == 0, "waitpid: %s", strerror(errno));
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            lt_h_fail(__FILE__, __LINE__, "process %d did not exit within %d ms", (int)pid,
                      timeout_ms);
        }
        usleep(5000);
    }
}

void lt_h_freeze(lt_h *h)
{
    lt_h_check(h->pid > 0, "daemon not running");
    lt_h_check(kill(h->pid, SIGSTOP) == 0, "SIGSTOP %d: %s", (int)h->pid, strerror(errno));
    /* kill() returns before the stop is done: a thread inside a syscall stops
     * only when it leaves it. waitpid reports the stop once all have. */
    int64_t deadline = now_ms() + 10000;
    int st;
    for (;;) {
        pid_t r = waitpid(h->pid, &st, WUNTRACED | WNOHANG);
        lt_h_check(r >= 0, "waitpid: %s", strerror(errno));
        lt_h_check(r == 0 || WIFSTOPPED(st), "daemon exited while being stopped");
        if (r == h->pid)
            return;
        lt_h_check(now_ms() < deadline, "daemon %d did not stop within 10 s", (int)h->pid);
        usleep(1000);
    }
}

int lt_h_stop(lt_h *h, int sig)
{
    lt_h_check(h->pid > 0, "daemon not running");
    kill(h->pid, sig);
    int st = lt_h_wait(h->pid, 15000);
    h->pid = 0;
    return st;
}

bool lt_h_alive(lt_h *h)
{
    int st;
    if (h->pid <= 0)
        return false;
    if (waitpid(h->pid, &st, WNOHANG) == 0)
        return true;
    child_gone(h->pid); /* reaped: its pid may be reused */
    return false;
}

bool lt_h_log_contains(lt_h *h, const char *s)
{
    FILE *f = fopen(h->log, "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, s) != NULL;
    fclose(f);
    return found;
}

bool lt_h_wait_log(lt_h *h, const char *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!lt_h_log_contains(h, s)) {
        if (now_ms() > deadline)
            return false;
        usleep(10000);
    }
    return true;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void lt_h_free(lt_h *h)
{
    if (h->pid > 0)
        lt_h_stop(h, SIGKILL);
    if (h->zctx)
        zmq_ctx_term(h->zctx);
    h->zctx = NULL;
    if (!getenv("LT_KEEP_TMP"))
        nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "kept %s\n", h->dir);
}

void *lt_h_client(lt_h *h)
{
    void *s = zmq_socket(h->zctx, ZMQ_DEALER);
    lt_h_check(s, "zmq_socket: %s", zmq_strerror(errno));
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    lt_h_check(zmq_connect(s, h->endpoint) == 0, "connect %s: %s", h->endpoint,
               zmq_strerror(errno));
    return s;
}

void lt_h_send_frames(void *sock, int count, const void *const *data, const size_t *sizes)
{
    for (int i = 0; i < count; i++)
        lt_h_check(zmq_send(sock, data[i], sizes[i], i + 1 < count ? ZMQ_SNDMORE : 0) >= 0,
                   "zmq_send: %s", zmq_strerror(errno));
}

void lt_h_send(void *sock, const lt_submission *sub)
{
    size_t len = lienthong__v1__submission__get_packed_size(sub);
    uint8_t *buf = malloc(len ? len : 1);
    lienthong__v1__submission__pack(sub, buf);
    const void *d[] = { buf };
    lt_h_send_frames(sock, 1, d, &len);
    free(buf);
}

lt_reply *lt_h_recv(void *sock, int timeout_ms)
{
    zmq_pollitem_t p = { sock, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&p, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    lt_h_check(zmq_msg_recv(&m, sock, 0) >= 0, "recv: %s", zmq_strerror(errno));
    if (zmq_msg_size(&m) == 0 && zmq_msg_more(&m)) { /* delimiter */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        lt_h_check(zmq_msg_recv(&m, sock, 0) >= 0, "recv: %s", zmq_strerror(errno));
    }
    lt_h_check(!zmq_msg_more(&m), "reply has more than one frame");
    lt_reply *r = lienthong__v1__reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    lt_h_check(r, "reply does not decode");
    return r;
}

lt_reply *lt_h_call(void *sock, const lt_submission *sub)
{
    lt_h_send(sock, sub);
    lt_reply *r = lt_h_recv(sock, 5000);
    lt_h_check(r, "no reply within 5 s to event %s",
               sub->event && sub->event->event_id ? sub->event->event_id : "?");
    return r;
}

static uint64_t next_request_id = 1;

static lt_submission *new_sub(const char *sender, const char *event_id, const char *dossier)
{
    lt_submission *s = malloc(sizeof(*s));
    lienthong__v1__submission__init(s);
    s->has_version = true;
    s->version = 1;
    s->sender = strdup(sender);
    s->has_request_id = true;
    s->request_id = next_request_id++;
    s->event = malloc(sizeof(*s->event));
    lienthong__v1__event__init(s->event);
    s->event->event_id = strdup(event_id);
    s->event->occurred_at = strdup("2026-01-05T08:00:00+07:00");
    s->event->dossier_code = strdup(dossier);
    s->event->procedure_code = strdup("1.004227");
    s->event->agency_code = strdup("000.00.12.H26");
    return s;
}

/* Fixed past times keep tests deterministic: received 2026-01-05, due a month later. */
lt_submission *lt_h_status(const char *sender, const char *event_id, const char *dossier,
                           int status)
{
    lt_submission *s = new_sub(sender, event_id, dossier);
    Lienthong__V1__DossierStatus *st = malloc(sizeof(*st));
    lienthong__v1__dossier_status__init(st);
    st->has_status = true;
    st->status = status;
    st->received_at = strdup("2026-01-05T08:00:00+07:00");
    st->due_at = strdup("2026-02-05T17:00:00+07:00");
    st->applicant = malloc(sizeof(*st->applicant));
    lienthong__v1__applicant__init(st->applicant);
    st->applicant->id_number = strdup("079123456789");
    st->applicant->name = strdup("Nguyễn Văn A");
    st->applicant->has_kind = true;
    st->applicant->kind = LIENTHONG__V1__APPLICANT_KIND__CITIZEN;
    st->has_channel = true;
    st->channel = LIENTHONG__V1__CHANNEL__ONLINE;
    if (status >= 9)
        st->finished_at = strdup("2026-01-25T10:00:00+07:00");
    if (status == 10)
        st->returned_at = strdup("2026-01-26T10:00:00+07:00");
    s->event->body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    s->event->status = st;
    return s;
}

lt_submission *lt_h_result(const char *sender, const char *event_id, const char *dossier)
{
    lt_submission *s = new_sub(sender, event_id, dossier);
    Lienthong__V1__Result *r = malloc(sizeof(*r));
    lienthong__v1__result__init(r);
    r->from_agency = strdup("TAX.HCM");
    r->kind = strdup("tax_notice");
    r->reference = strdup("TB-2026-000123");
    r->has_amount = true;
    r->amount = 25000000;
    r->issued_at = strdup("2026-01-10T09:00:00+07:00");
    s->event->body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    s->event->result = r;
    return s;
}

void lt_h_sub_free(lt_submission *sub)
{
    lienthong__v1__submission__free_unpacked(sub, NULL);
}

const char *lt_h_time(int64_t delta_s)
{
    static char bufs[4][40];
    static int k;
    char *b = bufs[k++ % 4];
    time_t t = time(NULL) + delta_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(b, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

void lt_h_settle(lt_h *h, lt_store *s)
{
    lt_store_stats st;
    lt_h_check(lt_store_stats_get(s, &st) == 0, "stats of %s", h->data_dir);
    uint64_t first = lt_journal_unstored(h->data_dir, lt_store_id(s), st.last_seq);
    for (int i = 0; first && i < 5000; i++) {
        if (lt_store_stats_get(s, &st) == 0 && st.last_seq >= first)
            return;
        usleep(1000);
    }
    lt_h_check(!first, "acknowledged events from seq %llu still not committed in %s after 5 s",
               (unsigned long long)first, h->data_dir);
}

lt_store *lt_h_store(lt_h *h)
{
    lt_store_opts o = { .dir = h->data_dir, .read_only = true };
    lt_store *s = NULL;
    lt_diag d;
    lt_diag_clear(&d);
    int r = lt_store_open(&o, &s, NULL, &d);
    lt_h_check(r == 0, "open store %s read-only: %s", h->data_dir, d.message);
    lt_h_settle(h, s);
    return s;
}

const char *lt_h_sim_endpoint(lt_h *h, const char *agency)
{
    static char buf[4][320];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 320, "ipc://%s/%s.sock", h->dir, agency);
    return b;
}

void lt_h_sim_start(lt_h *h, lt_h_sim *sim, const char *agency, const char *args)
{
    const char *bin = getenv("LT_SIM");
    lt_h_check(bin, "LT_SIM is not set (run the test through ctest)");
    memset(sim, 0, sizeof(*sim));
    snprintf(sim->agency, sizeof(sim->agency), "%s", agency);
    snprintf(sim->endpoint, sizeof(sim->endpoint), "%s", lt_h_sim_endpoint(h, agency));
    snprintf(sim->log, sizeof(sim->log), "%s/%s.log", h->dir, agency);
    char sock[320];
    snprintf(sock, sizeof(sock), "%s/%s.sock", h->dir, agency);
    unlink(sock);

    char argbuf[1024];
    snprintf(argbuf, sizeof(argbuf), "%s", args ? args : "");
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--agency";
    argv[n++] = agency;
    argv[n++] = "--endpoint";
    argv[n++] = sim->endpoint;
    argv[n++] = "--log";
    argv[n++] = sim->log;
    argv[n++] = "--quiet";
    if (strcmp(agency, "tax") == 0 && !strstr(argbuf, "--result-in-reply")) {
        argv[n++] = "--ingest";
        argv[n++] = h->endpoint;
    }
    for (char *save = NULL, *tok = strtok_r(argbuf, " ", &save); tok && n < 62;
         tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    argv[n] = NULL;
    sim->pid = lt_h_spawn(h, argv);
    struct stat st;
    int64_t deadline = now_ms() + 5000;
    while (stat(sock, &st) != 0) {
        int status;
        lt_h_check(waitpid(sim->pid, &status, WNOHANG) == 0, "simulator %s exited at start; log %s",
                   agency, h->log);
        lt_h_check(now_ms() < deadline, "simulator %s not bound within 5 s", agency);
        usleep(5000);
    }
}

void lt_h_sim_stop(lt_h_sim *sim)
{
    if (sim->pid <= 0)
        return;
    kill(sim->pid, SIGTERM);
    lt_h_wait(sim->pid, 10000);
    sim->pid = 0;
}

int lt_h_sim_count(const lt_h_sim *sim, const char *needle)
{
    FILE *f = fopen(sim->log, "r");
    if (!f)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

int lt_h_run(const char *cmd, char *out, size_t size)
{
    FILE *f = popen(cmd, "r");
    lt_h_check(f, "popen %s", cmd);
    size_t n = 0, got;
    while (n + 1 < size && (got = fread(out + n, 1, size - 1 - n, f)) > 0)
        n += got;
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int lt_h_ctl(lt_h *h, const char *args, char *out, size_t size)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s 2>&1", getenv("LT_CTL"), h->config, args);
    return lt_h_run(cmd, out, size);
}

int lt_h_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}
