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
#include "codec.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CLIENTS 256
#define STEPS 7                 /* the life of one dossier, see plan[] */
#define RID_BASE (1ull << 60)   /* request ids are 9-byte varints: patchable in place */
#define RID_PLACEHOLDER (RID_BASE | 0x0123456789ABull)
#define DIGITS 10

typedef struct options {
    const char *daemon;
    const char *dir;        /* parent of the temp dir */
    const char *endpoint;   /* use a running daemon instead of starting one */
    const char *yaml;       /* extra config text appended to the generated config */
    bool tcp, keep, no_peers;
    uint64_t events;
    int clients, window;    /* 0: the three default configurations */
    int per_dossier;        /* events per dossier, 1..STEPS */
    int timeout_ms;
} options;

/* One pre-encoded submission with the offsets of the bytes each send patches. */
typedef struct tmpl {
    uint8_t *buf;
    size_t len;
    size_t off_rid, off_event, off_dossier; /* offsets of the 9-byte varint and digit runs */
} tmpl;

typedef struct run run;

typedef struct client {
    run *r;
    int idx;
    uint64_t n;             /* events this client sends */
    uint64_t *sent_ns;      /* send time by local index */
    uint64_t *lat_ns;       /* latencies in arrival order */
    uint64_t n_lat;
    tmpl t[STEPS];
    atomic_uint_fast64_t acked;
    char error[512];
    pthread_t th;
} client;

struct run {
    const options *o;
    void *zctx;
    const char *endpoint;
    int clients, window, per_dossier;
    uint64_t events;
    bool echo;              /* peer: the echo ROUTER answers, not the daemon */
    char nonce[16];
};

typedef struct result {
    uint64_t events;
    double secs, rate;
    double p50, p99, p999, max; /* ms */
    double mean_bytes;
    double commits;          /* LMDB transactions in the run, <0 if unknown */
    double daemon_cpu_us;    /* daemon CPU per event, <0 if unknown */
    double client_cpu_us;    /* this process's CPU per event */
} result;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench-ingest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* ---------- the events ---------- */

/* A land-use-right transfer as the one-stop desk and the agencies report it.
 * Status events carry the full dossier snapshot (applicant, two attachments
 * with sha256, the land data), as department systems send it. */
static const int plan[STEPS] = {1, 2, 4, 6, 0 /* tax notice result */, 9, 10};

static char t_received[40], t_due[40], t_occurred[STEPS][40], t_finished[40], t_returned[40],
    t_issued[40];

static void init_times(void)
{
    int64_t now = lt_time_now_ms() / 1000;
    lt_time_format(now - 3 * 86400, t_received, sizeof(t_received));
    lt_time_format(now + 7 * 86400, t_due, sizeof(t_due));
    for (int i = 0; i < STEPS; i++)
        lt_time_format(now - 3 * 86400 + 3600 * (i + 1), t_occurred[i], sizeof(t_occurred[i]));
    lt_time_format(now - 3 * 86400 + 3600 * 4, t_issued, sizeof(t_issued));
    lt_time_format(now - 3 * 86400 + 3600 * 6, t_finished, sizeof(t_finished));
    lt_time_format(now - 3 * 86400 + 3600 * 7, t_returned, sizeof(t_returned));
}

static void put_varint9(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 9; i++, v >>= 7)
        p[i] = (uint8_t)((v & 0x7f) | (i < 8 ? 0x80 : 0));
}

static void put_digits(uint8_t *p, uint64_t v)
{
    for (int i = DIGITS - 1; i >= 0; i--, v /= 10)
        p[i] = (uint8_t)('0' + v % 10);
}

static size_t find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    const uint8_t *p = memmem(hay, n, needle, m);
    if (!p)
        die("template", "placeholder not found");
    return (size_t)(p - hay);
}

/* Encode the template of one step for one client. */
static void build_tmpl(tmpl *t, const char *nonce, int cli, int step)
{
    char event_id[96], dossier[96], ph[DIGITS + 1];
    memset(ph, '#', DIGITS);
    ph[DIGITS] = '\0';
    snprintf(event_id, sizeof(event_id), "ev-%s-c%03d-s%d-%s", nonce, cli, step, ph);
    snprintf(dossier, sizeof(dossier), "HCM-%s-c%03d-%s", nonce, cli, ph);

    Lienthong__V1__Submission sub = LIENTHONG__V1__SUBMISSION__INIT;
    Lienthong__V1__Event ev = LIENTHONG__V1__EVENT__INIT;
    Lienthong__V1__DossierStatus st = LIENTHONG__V1__DOSSIER_STATUS__INIT;
    Lienthong__V1__Result res = LIENTHONG__V1__RESULT__INIT;
    Lienthong__V1__Applicant ap = LIENTHONG__V1__APPLICANT__INIT;
    Lienthong__V1__Attachment a1 = LIENTHONG__V1__ATTACHMENT__INIT,
                              a2 = LIENTHONG__V1__ATTACHMENT__INIT;
    Lienthong__V1__Attachment *atts[2] = {&a1, &a2};
    static const char *const keys[] = {"parcel_no", "map_sheet_no", "area_m2", "land_use_purpose",
                                       "address", "transfer_price_vnd", "transferee_id_type",
                                       "certificate_no"};
    static const char *const vals[] = {"1284", "37", "86.5", "ODT (đất ở tại đô thị)",
                                       "18 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
                                       "2450000000", "CCCD", "CS 04512"};
    Lienthong__V1__DossierStatus__DataEntry de[8];
    Lienthong__V1__DossierStatus__DataEntry *dep[8];
    Lienthong__V1__Result__DataEntry re[3];
    Lienthong__V1__Result__DataEntry *rep[3];

    sub.has_version = true;
    sub.version = 1;
    sub.sender = "motcua.hcm";
    sub.has_request_id = true;
    sub.request_id = RID_PLACEHOLDER;
    sub.event = &ev;
    ev.event_id = event_id;
    ev.occurred_at = t_occurred[step];
    ev.dossier_code = dossier;
    ev.procedure_code = "1.004227";
    ev.agency_code = "000.00.12.H29";
    if (plan[step] == 0) {
        ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
        ev.result = &res;
        res.from_agency = "CT.HCM";
        res.kind = "tax_notice";
        res.reference = "TB-2026-0078123";
        res.has_amount = true;
        res.amount = 49000000;
        res.issued_at = t_issued;
        static const char *const rk[] = {"personal_income_tax_vnd", "registration_fee_vnd",
                                         "notice_no"};
        static const char *const rv[] = {"49000000", "12250000", "78123/TB-CT"};
        for (int i = 0; i < 3; i++) {
            lienthong__v1__result__data_entry__init(&re[i]);
            re[i].key = (char *)rk[i];
            re[i].value = (char *)rv[i];
            rep[i] = &re[i];
        }
        res.n_data = 3;
        res.data = rep;
    } else {
        ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
        ev.status = &st;
        st.has_status = true;
        st.status = plan[step];
        st.applicant = &ap;
        ap.id_number = "079187004512";
        ap.name = "Trần Thị Minh Khai";
        ap.has_kind = true;
        ap.kind = LIENTHONG__V1__APPLICANT_KIND__CITIZEN;
        st.received_at = t_received;
        st.due_at = t_due;
        st.has_channel = true;
        st.channel = LIENTHONG__V1__CHANNEL__ONLINE;
        a1.name = "don-dang-ky-bien-dong-dat-dai.pdf";
        a1.sha256 = "9f2c4a1e7b3d5f60812a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d";
        a1.has_size = true;
        a1.size = 482113;
        a1.uri = "https://dichvucong.hochiminhcity.gov.vn/files/2026/hs/don-dang-ky.pdf";
        a2.name = "hop-dong-chuyen-nhuong-cong-chung.pdf";
        a2.sha256 = "1a3c5e7092b4d6f8a0c2e4f6081a3c5e7092b4d6f8a0c2e4f6081a3c5e7092b4";
        a2.has_size = true;
        a2.size = 1934020;
        a2.uri = "https://dichvucong.hochiminhcity.gov.vn/files/2026/hs/hop-dong.pdf";
        st.n_attachments = 2;
        st.attachments = atts;
        for (int i = 0; i < 8; i++) {
            lienthong__v1__dossier_status__data_entry__init(&de[i]);
            de[i].key = (char *)keys[i];
            de[i].value = (char *)vals[i];
            dep[i] = &de[i];
        }
        st.n_data = 8;
        st.data = dep;
        if (plan[step] >= 9)
            st.finished_at = t_finished;
        if (plan[step] == 10)
            st.returned_at = t_returned;
        st.note = "Hồ sơ chuyển nhượng quyền sử dụng đất, liên thông Văn phòng đăng ký đất đai - "
                  "Chi cục Thuế.";
    }
    t->len = lienthong__v1__submission__get_packed_size(&sub);
    t->buf = malloc(t->len);
    if (!t->buf)
        die("out of memory", NULL);
    lienthong__v1__submission__pack(&sub, t->buf);
    uint8_t rid[9];
    put_varint9(rid, RID_PLACEHOLDER);
    t->off_rid = find(t->buf, t->len, rid, 9);
    t->off_event = find(t->buf, t->len, event_id, strlen(event_id)) + strlen(event_id) - DIGITS;
    t->off_dossier = find(t->buf, t->len, dossier, strlen(dossier)) + strlen(dossier) - DIGITS;
}

/* ---------- replies ---------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Pull request_id and outcome out of a Reply without allocating. */
static int parse_reply(const uint8_t *p, size_t n, uint64_t *rid, uint64_t *outcome)
{
    const uint8_t *end = p + n;
    *rid = 0;
    *outcome = 0;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key) < 0)
            return -1;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &v) < 0)
                return -1;
            if (key >> 3 == 2)
                *rid = v;
            else if (key >> 3 == 4)
                *outcome = v;
            break;
        case 2:
            if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            p += v;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* ---------- clients ---------- */

static void *client_main(void *arg)
{
    client *c = arg;
    run *r = c->r;
    void *s = zmq_socket(r->zctx, ZMQ_DEALER);
    int zero = 0, hwm = 0;
    uint8_t buf[4096], rbuf[4096];
    if (!s) {
        snprintf(c->error, sizeof(c->error), "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &r->o->timeout_ms, sizeof(int));
    if (zmq_connect(s, r->endpoint) < 0) {
        snprintf(c->error, sizeof(c->error), "connect %s: %s", r->endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    uint64_t sent = 0, got = 0;
    int k = r->per_dossier;
    while (got < c->n) {
        while (sent < c->n && sent - got < (uint64_t)r->window) {
            int step = (int)(sent % (uint64_t)k);
            const tmpl *t = &c->t[step];
            memcpy(buf, t->buf, t->len);
            put_varint9(buf + t->off_rid, RID_BASE | sent);
            put_digits(buf + t->off_event, sent);
            put_digits(buf + t->off_dossier, sent / (uint64_t)k);
            c->sent_ns[sent] = now_ns();
            if (zmq_send(s, buf, t->len, 0) < 0) {
                snprintf(c->error, sizeof(c->error), "send: %s", zmq_strerror(errno));
                goto out;
            }
            sent++;
        }
        int n = zmq_recv(s, rbuf, sizeof(rbuf), 0);
        uint64_t t1 = now_ns();
        if (n < 0) {
            snprintf(c->error, sizeof(c->error),
                     "no reply within %d ms (%" PRIu64 " of %" PRIu64 " acknowledged): %s",
                     r->o->timeout_ms, got, c->n, zmq_strerror(errno));
            goto out;
        }
        uint64_t rid, outcome;
        if (n > (int)sizeof(rbuf) || parse_reply(rbuf, (size_t)n, &rid, &outcome) < 0 ||
            (rid & ~(RID_BASE - 1)) != RID_BASE || (rid & (RID_BASE - 1)) >= sent) {
            snprintf(c->error, sizeof(c->error), "unexpected reply (%d bytes)", n);
            goto out;
        }
        if (outcome != LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED) {
            lt_reply *rep = lienthong__v1__reply__unpack(NULL, (size_t)n, rbuf);
            snprintf(c->error, sizeof(c->error), "event %s not ACCEPTED: outcome %d code %d field %s: %s",
                     rep && rep->event_id ? rep->event_id : "?", rep ? (int)rep->outcome : -1,
                     rep ? (int)rep->code : -1, rep && rep->field ? rep->field : "-",
                     rep && rep->message ? rep->message : "-");
            lienthong__v1__reply__free_unpacked(rep, NULL);
            goto out;
        }
        c->lat_ns[c->n_lat++] = t1 - c->sent_ns[rid & (RID_BASE - 1)];
        got++;
        atomic_store_explicit(&c->acked, got, memory_order_relaxed);
    }
out:
    zmq_close(s);
    return NULL;
}

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
        if (zmq_msg_send(&id, e->sock, ZMQ_SNDMORE) < 0 || zmq_send(e->sock, out, (size_t)len, 0) < 0)
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
        die("echo bind", zmq_strerror(errno));
    pthread_create(&e->th, NULL, echo_main, e);
}

static void echo_stop(echo *e)
{
    zmq_ctx_shutdown(e->ctx);
    pthread_join(e->th, NULL);
    zmq_ctx_term(e->ctx);
}

/* ---------- the daemon ---------- */

typedef struct daemon_proc {
    pid_t pid;
    char dir[600], data_dir[700], endpoint[800], log[700];
} daemon_proc;

static void free_port_endpoint(char *buf, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("cannot find a free port", strerror(errno));
    snprintf(buf, size, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd);
}

static void daemon_start(const options *o, const char *base, int n, daemon_proc *d)
{
    char cfg[800], notify_path[700];
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "%s/run%d", base, n);
    if (mkdir(d->dir, 0700) < 0)
        die(d->dir, strerror(errno));
    snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
    snprintf(cfg, sizeof(cfg), "%s/lienthong.yaml", d->dir);
    if (o->tcp)
        free_port_endpoint(d->endpoint, sizeof(d->endpoint));
    else
        snprintf(d->endpoint, sizeof(d->endpoint), "ipc://%s/ingest.sock", d->dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        die(cfg, strerror(errno));
    fprintf(f, "data_dir: %s\ningest:\n  endpoint: \"%s\"\n%s%s", d->data_dir, d->endpoint,
            o->yaml ? o->yaml : "", o->yaml ? "\n" : "");
    fclose(f);

    snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", d->dir);
    int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(notify_path) >= sizeof(sa.sun_path))
        die("path too long for a unix socket", notify_path);
    memcpy(sa.sun_path, notify_path, strlen(notify_path) + 1);
    if (ns < 0 || bind(ns, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("notify socket", strerror(errno));

    d->pid = fork();
    if (d->pid < 0)
        die("fork", strerror(errno));
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        setenv("NOTIFY_SOCKET", notify_path, 1);
        execl(o->daemon, o->daemon, "-c", cfg, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", o->daemon, strerror(errno));
        _exit(127);
    }
    uint64_t deadline = now_ns() + 10000000000ull;
    bool ready = false;
    while (!ready && now_ns() < deadline) {
        struct pollfd p = {.fd = ns, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char buf[4096];
            ssize_t n2 = recv(ns, buf, sizeof(buf) - 1, 0);
            if (n2 > 0) {
                buf[n2] = '\0';
                ready = strstr(buf, "READY=1") != NULL;
            }
        }
        int st;
        if (!ready && waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "bench-ingest: lienthongd exited during startup; log %s\n", d->log);
            exit(1);
        }
    }
    close(ns);
    if (!ready) {
        fprintf(stderr, "bench-ingest: lienthongd not READY within 10 s; log %s\n", d->log);
        kill(d->pid, SIGKILL);
        exit(1);
    }
}

static void daemon_stop(daemon_proc *d)
{
    int st;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "bench-ingest: lienthongd exited with status %d; log %s\n",
                        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), d->log);
            return;
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    fprintf(stderr, "bench-ingest: lienthongd did not stop on SIGTERM; killed\n");
}

/* CPU seconds (user+system, all threads) of process pid. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, stt = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return -1;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* The LMDB transaction id of the store: one per commit. */
static int64_t store_txnid(const char *data_dir)
{
    MDB_env *env;
    MDB_envinfo info;
    if (mdb_env_create(&env))
        return -1;
    mdb_env_set_maxdbs(env, 8);
    if (mdb_env_open(env, data_dir, MDB_RDONLY, 0640)) {
        mdb_env_close(env);
        return -1;
    }
    mdb_env_info(env, &info);
    mdb_env_close(env);
    return (int64_t)info.me_last_txnid;
}

/* ---------- one measured configuration ---------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t i = (uint64_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

static double cpu_self(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run C clients with window W against endpoint; fill *res. Exits on any error. */
static void measure(run *r, pid_t daemon_pid, const char *data_dir, result *res, const char *label)
{
    client *cs = calloc((size_t)r->clients, sizeof(*cs));
    if (!cs)
        die("out of memory", NULL);
    double bytes = 0;
    for (int i = 0; i < r->clients; i++) {
        client *c = &cs[i];
        c->r = r;
        c->idx = i;
        c->n = r->events / (uint64_t)r->clients + ((uint64_t)i < r->events % (uint64_t)r->clients);
        c->sent_ns = malloc(sizeof(uint64_t) * (c->n ? c->n : 1));
        c->lat_ns = malloc(sizeof(uint64_t) * (c->n ? c->n : 1));
        if (!c->sent_ns || !c->lat_ns)
            die("out of memory", NULL);
        for (int s = 0; s < r->per_dossier; s++)
            build_tmpl(&c->t[s], r->nonce, i, s);
        for (uint64_t k = 0; k < c->n; k++)
            bytes += (double)c->t[k % (uint64_t)r->per_dossier].len;
    }
    int64_t tx0 = data_dir ? store_txnid(data_dir) : -1;
    double dcpu0 = daemon_pid > 0 ? proc_cpu(daemon_pid) : -1, ccpu0 = cpu_self();
    uint64_t t0 = now_ns();
    for (int i = 0; i < r->clients; i++)
        if (pthread_create(&cs[i].th, NULL, client_main, &cs[i]))
            die("pthread_create", strerror(errno));
    /* progress on stderr while it runs */
    uint64_t last = t0;
    for (;;) {
        uint64_t acked = 0;
        bool done = true;
        for (int i = 0; i < r->clients; i++) {
            uint64_t a = atomic_load_explicit(&cs[i].acked, memory_order_relaxed);
            acked += a;
            done &= a >= cs[i].n || cs[i].error[0];
        }
        if (done)
            break;
        uint64_t t = now_ns();
        if (t - last >= 2000000000ull) {
            fprintf(stderr, "  %s: %" PRIu64 "/%" PRIu64 " acknowledged, %.1f s\n", label, acked,
                    r->events, (double)(t - t0) / 1e9);
            last = t;
        }
        usleep(20000);
    }
    for (int i = 0; i < r->clients; i++)
        pthread_join(cs[i].th, NULL);
    uint64_t t1 = now_ns();
    double ccpu1 = cpu_self(), dcpu1 = daemon_pid > 0 ? proc_cpu(daemon_pid) : -1;
    for (int i = 0; i < r->clients; i++)
        if (cs[i].error[0]) {
            fprintf(stderr, "bench-ingest: %s client %d: %s\n", label, i, cs[i].error);
            exit(1);
        }
    int64_t tx1 = data_dir ? store_txnid(data_dir) : -1;

    uint64_t *all = malloc(sizeof(uint64_t) * (r->events ? r->events : 1)), n = 0;
    if (!all)
        die("out of memory", NULL);
    for (int i = 0; i < r->clients; i++) {
        memcpy(all + n, cs[i].lat_ns, sizeof(uint64_t) * cs[i].n_lat);
        n += cs[i].n_lat;
        for (int s = 0; s < r->per_dossier; s++)
            free(cs[i].t[s].buf);
        free(cs[i].sent_ns);
        free(cs[i].lat_ns);
    }
    qsort(all, n, sizeof(uint64_t), cmp_u64);
    memset(res, 0, sizeof(*res));
    res->events = n;
    res->secs = (double)(t1 - t0) / 1e9;
    res->rate = (double)n / res->secs;
    res->p50 = pct(all, n, 0.50);
    res->p99 = pct(all, n, 0.99);
    res->p999 = pct(all, n, 0.999);
    res->max = n ? (double)all[n - 1] / 1e6 : 0;
    res->mean_bytes = n ? bytes / (double)n : 0;
    res->commits = tx0 >= 0 && tx1 >= 0 ? (double)(tx1 - tx0) : -1;
    res->daemon_cpu_us = dcpu0 >= 0 && dcpu1 >= 0 && n ? (dcpu1 - dcpu0) * 1e6 / (double)n : -1;
    res->client_cpu_us = n ? (ccpu1 - ccpu0) * 1e6 / (double)n : 0;
    free(all);
    free(cs);
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
        die(path, strerror(errno));
    static uint8_t page[4096];
    memset(page, 0xA5, sizeof(page));
    for (int i = 0; i < SPAN; i++)
        if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) != (ssize_t)sizeof(page))
            die("pwrite", strerror(errno));
    if (fsync(fd) < 0)
        die("fsync", strerror(errno));
    uint64_t *v = malloc(sizeof(uint64_t) * ROUNDS);
    int n = 0;
    uint64_t stop = now_ns() + 3000000000ull;
    for (; n < ROUNDS && now_ns() < stop; n++) {
        page[0] = (uint8_t)n;
        uint64_t t0 = now_ns();
        if (pwrite(fd, page, sizeof(page), (off_t)(n % SPAN) * 4096) != (ssize_t)sizeof(page) ||
            fdatasync(fd) < 0)
            die("write+fdatasync", strerror(errno));
        v[n] = now_ns() - t0;
    }
    close(fd);
    unlink(path);
    qsort(v, (size_t)n, sizeof(uint64_t), cmp_u64);
    *p50 = pct(v, (uint64_t)n, 0.5);
    *p99 = pct(v, (uint64_t)n, 0.99);
    free(v);
}

/* Describe the filesystem and device dir is on, from /proc/self/mountinfo. */
static void describe_fs(const char *dir, char *buf, size_t size)
{
    if (size < 2400)
        return;
    struct stat sb;
    snprintf(buf, size, "unknown filesystem");
    if (stat(dir, &sb) < 0)
        return;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        unsigned maj, min;
        char mnt[1024];
        if (sscanf(line, "%*d %*d %u:%u %*s %1023s", &maj, &min, mnt) != 3)
            continue;
        if (maj != major(sb.st_dev) || min != minor(sb.st_dev))
            continue;
        char *sep = strstr(line, " - ");
        char type[64], src[512];
        if (!sep || sscanf(sep + 3, "%63s %511s", type, src) != 2)
            continue;
        snprintf(buf, size, "%s on %s (device %u:%u, mounted at %s)", type, src, maj, min, mnt);
        break;
    }
    fclose(f);
}

/* ---------- main ---------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-ingest [--events N] [--clients C --window W] [--per-dossier K]\n"
            "                    [--daemon PATH | --endpoint EP] [--dir DIR] [--tcp]\n"
            "                    [--yaml TEXT] [--no-peers] [--keep] [--timeout-ms MS]\n"
            "  Without --clients/--window: runs (C=1,W=1), (C=4,W=64), (C=8,W=64), each on a\n"
            "  fresh store. --per-dossier K (1-%d, default %d): events per dossier following\n"
            "  the state machine (1,2,4,6,tax result,9,10). --yaml appends config text, e.g.\n"
            "  --yaml $'batch:\\n  max_wait_us: 200'. --endpoint uses a running daemon.\n",
            STEPS, STEPS);
}

static long long num(const char *opt, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || x < lo || x > hi) {
        fprintf(stderr, "bench-ingest: %s needs a number in %lld..%lld\n", opt, lo, hi);
        exit(2);
    }
    return x;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void print_row(const char *label, const result *r)
{
    char commits[32], dcpu[32];
    if (r->commits > 0)
        snprintf(commits, sizeof(commits), "%.1f", (double)r->events / r->commits);
    else
        snprintf(commits, sizeof(commits), "-");
    if (r->daemon_cpu_us >= 0)
        snprintf(dcpu, sizeof(dcpu), "%.1f", r->daemon_cpu_us);
    else
        snprintf(dcpu, sizeof(dcpu), "-");
    printf("%-16s %9" PRIu64 " %10.0f %8.3f %8.3f %8.3f %8.3f %9s %8s %8.1f\n", label, r->events,
           r->rate, r->p50, r->p99, r->p999, r->max, commits, dcpu, r->client_cpu_us);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    options o = {.events = 200000, .per_dossier = STEPS, .timeout_ms = 30000};
    static char daemon_path[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--events"))
            o.events = (uint64_t)num(a, v, 1, 1000000000), i++;
        else if (!strcmp(a, "--clients"))
            o.clients = (int)num(a, v, 1, MAX_CLIENTS), i++;
        else if (!strcmp(a, "--window"))
            o.window = (int)num(a, v, 1, 100000), i++;
        else if (!strcmp(a, "--per-dossier"))
            o.per_dossier = (int)num(a, v, 1, STEPS), i++;
        else if (!strcmp(a, "--timeout-ms"))
            o.timeout_ms = (int)num(a, v, 1, 3600000), i++;
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
        die(o.daemon, "not executable (build it, or pass --daemon PATH)");
    signal(SIGPIPE, SIG_IGN);
    init_times();

    /* temp dir: parent of the stores, the ipc sockets and the fdatasync probe */
    char base[512];
    const char *tmp = o.dir ? o.dir : getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/lt-bench-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(base))
        die(base, strerror(errno));

    struct { int c, w; } cfgs[3] = {{1, 1}, {4, 64}, {8, 64}};
    int ncfg = 3;
    if (o.clients) {
        cfgs[0].c = o.clients;
        cfgs[0].w = o.window;
        ncfg = 1;
    }

    char fs[2400], host[256] = "?";
    describe_fs(base, fs, sizeof(fs));
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
            tmpl t;
            build_tmpl(&t, "00000000", 0, s);
            sum += t.len;
            free(t.buf);
        }
        printf("events: %" PRIu64 " per configuration, %d per dossier (statuses 1,2,4,6, a tax "
               "result, 9,10), mean %.0f bytes\n\n",
               o.events, o.per_dossier, (double)sum / o.per_dossier);
    }

    printf("%-16s %9s %10s %8s %8s %8s %8s %9s %8s %8s\n", "lienthongd", "events", "events/s",
           "p50 ms", "p99 ms", "p99.9 ms", "max ms", "ev/commit", "d-CPU/ev", "c-CPU/ev");
    result res[3];
    void *zctx = zmq_ctx_new();
    for (int k = 0; k < ncfg; k++) {
        run r = {.o = &o, .zctx = zctx, .clients = cfgs[k].c, .window = cfgs[k].w,
                 .per_dossier = o.per_dossier, .events = o.events};
        snprintf(r.nonce, sizeof(r.nonce), "%08x", (unsigned)(now_ns() ^ (uint64_t)getpid()));
        char label[32];
        snprintf(label, sizeof(label), "C=%d,W=%d", r.clients, r.window);
        daemon_proc d = {0};
        if (o.endpoint) {
            r.endpoint = o.endpoint;
        } else {
            daemon_start(&o, base, k, &d);
            r.endpoint = d.endpoint;
        }
        measure(&r, d.pid, o.endpoint ? NULL : d.data_dir, &res[k], label);
        if (!o.endpoint)
            daemon_stop(&d);
        print_row(label, &res[k]);
    }
    printf("  (latency is send -> ACCEPTED reply; ev/commit = events per LMDB transaction;\n"
           "   d-CPU/ev, c-CPU/ev = daemon and bench-client CPU microseconds per event)\n");

    if (!o.no_peers) {
        double f50, f99;
        fdatasync_floor(base, &f50, &f99);
        char ep[700];
        if (o.tcp)
            free_port_endpoint(ep, sizeof(ep));
        else
            snprintf(ep, sizeof(ep), "ipc://%s/echo.sock", base);
        echo e;
        echo_start(&e, ep);
        result er1, er8;
        run r1 = {.o = &o, .zctx = zctx, .endpoint = ep, .clients = 1, .window = 1,
                  .per_dossier = o.per_dossier, .events = o.events < 50000 ? o.events : 50000,
                  .echo = true};
        snprintf(r1.nonce, sizeof(r1.nonce), "echo0001");
        measure(&r1, 0, NULL, &er1, "echo C=1,W=1");
        run r8 = r1;
        r8.clients = 8;
        r8.window = 64;
        r8.events = o.events;
        measure(&r8, 0, NULL, &er8, "echo C=8,W=64");
        echo_stop(&e);

        printf("\npeers (same run, same filesystem and transport)\n");
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
        nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
