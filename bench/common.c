/* common.c - what the benchmarks share; see bench.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
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

#include "bench.h"
#include "codec.h"
#include "timefmt.h"

#define STEPS           BENCH_STEPS
#define RID_BASE        BENCH_RID_BASE
#define RID_PLACEHOLDER (RID_BASE | 0x0123456789ABull)
#define DIGITS          10

const char *bench_prog = "bench";

static volatile sig_atomic_t interrupted;
static void (*interrupt_cleanup)(void);

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

_Noreturn void bench_die(const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s%s%s\n", bench_prog, what, detail ? ": " : "", detail ? detail : "");
    void (*cleanup)(void) = interrupt_cleanup;
    interrupt_cleanup = NULL;
    if (cleanup)
        cleanup();
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void bench_on_interrupt(void (*cleanup)(void))
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    interrupt_cleanup = cleanup;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void bench_check_interrupt(void)
{
    if (!interrupted)
        return;
    fprintf(stderr, "%s: interrupted; stopping the servers\n", bench_prog);
    void (*cleanup)(void) = interrupt_cleanup;
    interrupt_cleanup = NULL;
    if (cleanup)
        cleanup();
    _exit(130);
}

/* ---------- the events ---------- */

/* A land-use-right transfer as the one-stop desk and the agencies report it.
 * Status events carry the full dossier snapshot (applicant, two attachments
 * with sha256, the land data), as department systems send it. */
static const int plan[STEPS] = { 1, 2, 4, 6, 0 /* tax notice result */, 9, 10 };

static char t_received[40], t_due[40], t_occurred[STEPS][40], t_finished[40], t_returned[40],
    t_issued[40];

void bench_init_times(void)
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
        bench_die("template", "placeholder not found");
    return (size_t)(p - hay);
}

bool bench_random_ids;

uint64_t bench_event_digits(uint64_t k)
{
    if (!bench_random_ids)
        return k;
    /* k * A + B mod 10^10, A prime to 10: a bijection, neighbours far apart */
    const unsigned __int128 mod = 10000000000ull;
    return (uint64_t)(((unsigned __int128)k * 2654435761u + 1234567891u) % mod);
}

/* The one layout of an event id, with digits (DIGITS characters) in it. */
static void format_event_id(char *buf, size_t size, const char *nonce, int cli, int step,
                            const char *digits)
{
    if (bench_random_ids)
        snprintf(buf, size, "%s-ev-%s-c%03d-s%d", digits, nonce, cli, step);
    else
        snprintf(buf, size, "ev-%s-c%03d-s%d-%s", nonce, cli, step, digits);
}

void bench_event_id(char *buf, size_t size, const char *nonce, int cli, int step, uint64_t k)
{
    char digits[DIGITS + 1];
    snprintf(digits, sizeof(digits), "%010" PRIu64, bench_event_digits(k) % UINT64_C(10000000000));
    format_event_id(buf, size, nonce, cli, step, digits);
}

void bench_build_tmpl(bench_tmpl *t, const char *nonce, int cli, int step)
{
    char event_id[96], dossier[96], ph[DIGITS + 1];
    memset(ph, '#', DIGITS);
    ph[DIGITS] = '\0';
    format_event_id(event_id, sizeof(event_id), nonce, cli, step, ph);
    snprintf(dossier, sizeof(dossier), "HCM-%s-c%03d-%s", nonce, cli, ph);

    Lienthong__V1__Submission sub = LIENTHONG__V1__SUBMISSION__INIT;
    Lienthong__V1__Event ev = LIENTHONG__V1__EVENT__INIT;
    Lienthong__V1__DossierStatus st = LIENTHONG__V1__DOSSIER_STATUS__INIT;
    Lienthong__V1__Result res = LIENTHONG__V1__RESULT__INIT;
    Lienthong__V1__Applicant ap = LIENTHONG__V1__APPLICANT__INIT;
    Lienthong__V1__Attachment a1 = LIENTHONG__V1__ATTACHMENT__INIT,
                              a2 = LIENTHONG__V1__ATTACHMENT__INIT;
    Lienthong__V1__Attachment *atts[2] = { &a1, &a2 };
    static const char *const keys[] = { "parcel_no",          "map_sheet_no",  "area_m2",
                                        "land_use_purpose",   "address",       "transfer_price_vnd",
                                        "transferee_id_type", "certificate_no" };
    static const char *const vals[] = { "1284",
                                        "37",
                                        "86.5",
                                        "ODT (đất ở tại đô thị)",
                                        "18 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
                                        "2450000000",
                                        "CCCD",
                                        "CS 04512" };
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
        static const char *const rk[] = { "personal_income_tax_vnd", "registration_fee_vnd",
                                          "notice_no" };
        static const char *const rv[] = { "49000000", "12250000", "78123/TB-CT" };
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
        bench_die("out of memory", NULL);
    lienthong__v1__submission__pack(&sub, t->buf);
    uint8_t rid[9];
    put_varint9(rid, RID_PLACEHOLDER);
    t->off_rid = find(t->buf, t->len, rid, 9);
    t->off_event = find(t->buf, t->len, event_id, strlen(event_id)) +
                   (size_t)(strstr(event_id, ph) - event_id);
    t->off_dossier = find(t->buf, t->len, dossier, strlen(dossier)) + strlen(dossier) - DIGITS;
}

size_t bench_fill(const bench_tmpl *t, int per_dossier, uint64_t k, uint8_t *buf)
{
    const bench_tmpl *s = &t[k % (uint64_t)per_dossier];
    memcpy(buf, s->buf, s->len);
    put_varint9(buf + s->off_rid, RID_BASE | k);
    put_digits(buf + s->off_event, bench_event_digits(k));
    put_digits(buf + s->off_dossier, k / (uint64_t)per_dossier);
    return s->len;
}

/* ---------- replies ---------- */

int bench_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
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
int bench_parse_reply(const uint8_t *p, size_t n, uint64_t *rid, uint64_t *outcome)
{
    const uint8_t *end = p + n;
    *rid = 0;
    *outcome = 0;
    while (p < end) {
        uint64_t key, v;
        if (bench_read_varint(&p, end, &key) < 0)
            return -1;
        switch (key & 7) {
        case 0:
            if (bench_read_varint(&p, end, &v) < 0)
                return -1;
            if (key >> 3 == 2)
                *rid = v;
            else if (key >> 3 == 4)
                *outcome = v;
            break;
        case 2:
            if (bench_read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            p += v;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* ---------- the lienthong client ---------- */

void bench_acked(bench_client *c, uint64_t k, uint64_t t1)
{
    c->lat_ns[c->n_lat++] = t1 - c->sent_ns[k];
    atomic_store_explicit(&c->acked, c->n_lat, memory_order_relaxed);
}

void *bench_lt_client(void *arg)
{
    bench_client *c = arg;
    bench_run *r = c->r;
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
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &r->timeout_ms, sizeof(int));
    if (zmq_connect(s, r->endpoint) < 0) {
        snprintf(c->error, sizeof(c->error), "connect %s: %s", r->endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    uint64_t sent = 0, got = 0;
    while (got < c->n) {
        while (sent < c->n && sent - got < (uint64_t)r->window) {
            size_t len = bench_fill(c->t, r->per_dossier, sent, buf);
            c->sent_ns[sent] = bench_now_ns();
            if (zmq_send(s, buf, len, 0) < 0) {
                snprintf(c->error, sizeof(c->error), "send: %s", zmq_strerror(errno));
                goto out;
            }
            sent++;
        }
        int n = zmq_recv(s, rbuf, sizeof(rbuf), 0);
        uint64_t t1 = bench_now_ns();
        if (n < 0) {
            snprintf(c->error, sizeof(c->error),
                     "no reply within %d ms (%" PRIu64 " of %" PRIu64 " acknowledged): %s",
                     r->timeout_ms, got, c->n, zmq_strerror(errno));
            goto out;
        }
        uint64_t rid, outcome;
        if (n > (int)sizeof(rbuf) || bench_parse_reply(rbuf, (size_t)n, &rid, &outcome) < 0 ||
            (rid & ~(RID_BASE - 1)) != RID_BASE || (rid & (RID_BASE - 1)) >= sent) {
            snprintf(c->error, sizeof(c->error), "unexpected reply (%d bytes)", n);
            goto out;
        }
        if (outcome != LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED) {
            lt_reply *rep = lienthong__v1__reply__unpack(NULL, (size_t)n, rbuf);
            snprintf(c->error, sizeof(c->error),
                     "event %s not ACCEPTED: outcome %d code %d field %s: %s",
                     rep && rep->event_id ? rep->event_id : "?", rep ? (int)rep->outcome : -1,
                     rep ? (int)rep->code : -1, rep && rep->field ? rep->field : "-",
                     rep && rep->message ? rep->message : "-");
            lienthong__v1__reply__free_unpacked(rep, NULL);
            goto out;
        }
        bench_acked(c, rid & (RID_BASE - 1), t1);
        got++;
    }
out:
    zmq_close(s);
    return NULL;
}

/* ---------- one measured run ---------- */

int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double bench_pct(const uint64_t *v, uint64_t n, double p)
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

/* Spread r->events over the clients and build their templates. */
static bench_client *clients_new(bench_run *r, double *ret_bytes)
{
    bench_client *cs = calloc((size_t)r->clients, sizeof(*cs));
    if (!cs)
        bench_die("out of memory", NULL);
    double bytes = 0;
    for (int i = 0; i < r->clients; i++) {
        bench_client *c = &cs[i];
        c->r = r;
        c->idx = i;
        c->n = r->events / (uint64_t)r->clients + ((uint64_t)i < r->events % (uint64_t)r->clients);
        c->sent_ns = malloc(sizeof(uint64_t) * (c->n ? c->n : 1));
        c->lat_ns = malloc(sizeof(uint64_t) * (c->n ? c->n : 1));
        if (!c->sent_ns || !c->lat_ns)
            bench_die("out of memory", NULL);
        for (int s = 0; s < r->per_dossier; s++)
            bench_build_tmpl(&c->t[s], r->nonce, i, r->steps ? r->steps[s] : s);
        for (uint64_t k = 0; k < c->n; k++)
            bytes += (double)c->t[k % (uint64_t)r->per_dossier].len;
    }
    *ret_bytes = bytes;
    return cs;
}

/* Wait for the clients, printing progress every 2 s. */
static void clients_wait(bench_run *r, bench_client *cs, uint64_t t0, const char *label)
{
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
        bench_check_interrupt();
        uint64_t t = bench_now_ns();
        if (t - last >= 2000000000ull) {
            fprintf(stderr, "  %s: %" PRIu64 "/%" PRIu64 " acknowledged, %.1f s\n", label, acked,
                    r->events, (double)(t - t0) / 1e9);
            last = t;
        }
        usleep(20000);
    }
    for (int i = 0; i < r->clients; i++)
        pthread_join(cs[i].th, NULL);
}

void bench_measure(bench_run *r, pid_t server_pid, const char *data_dir, bench_result *res,
                   const char *label)
{
    double bytes;
    bench_client *cs = clients_new(r, &bytes);
    void *(*fn)(void *) = r->client_main ? r->client_main : bench_lt_client;
    int64_t tx0 = data_dir ? bench_store_txnid(data_dir) : -1;
    double dcpu0 = server_pid > 0 ? bench_proc_cpu(server_pid) : -1, ccpu0 = cpu_self();
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < r->clients; i++)
        if (pthread_create(&cs[i].th, NULL, fn, &cs[i]))
            bench_die("pthread_create", strerror(errno));
    clients_wait(r, cs, t0, label);
    uint64_t t1 = bench_now_ns();
    double ccpu1 = cpu_self(), dcpu1 = server_pid > 0 ? bench_proc_cpu(server_pid) : -1;
    for (int i = 0; i < r->clients; i++)
        if (cs[i].error[0]) {
            char msg[640];
            snprintf(msg, sizeof(msg), "%s client %d", label, i);
            bench_die(msg, cs[i].error);
        }
    int64_t tx1 = data_dir ? bench_store_txnid(data_dir) : -1;

    uint64_t *all = malloc(sizeof(uint64_t) * (r->events ? r->events : 1)), n = 0;
    if (!all)
        bench_die("out of memory", NULL);
    for (int i = 0; i < r->clients; i++) {
        memcpy(all + n, cs[i].lat_ns, sizeof(uint64_t) * cs[i].n_lat);
        n += cs[i].n_lat;
        for (int s = 0; s < r->per_dossier; s++)
            free(cs[i].t[s].buf);
        free(cs[i].sent_ns);
        free(cs[i].lat_ns);
    }
    qsort(all, n, sizeof(uint64_t), bench_cmp_u64);
    memset(res, 0, sizeof(*res));
    res->events = n;
    res->secs = (double)(t1 - t0) / 1e9;
    res->rate = (double)n / res->secs;
    res->p50 = bench_pct(all, n, 0.50);
    res->p99 = bench_pct(all, n, 0.99);
    res->p999 = bench_pct(all, n, 0.999);
    res->max = n ? (double)all[n - 1] / 1e6 : 0;
    res->mean_bytes = n ? bytes / (double)n : 0;
    res->commits = tx0 >= 0 && tx1 >= 0 ? (double)(tx1 - tx0) : -1;
    res->server_cpu_us = dcpu0 >= 0 && dcpu1 >= 0 && n ? (dcpu1 - dcpu0) * 1e6 / (double)n : -1;
    res->client_cpu_us = n ? (ccpu1 - ccpu0) * 1e6 / (double)n : 0;
    free(all);
    free(cs);
}

/* ---------- lienthongd ---------- */

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        bench_die("cannot find a free port", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

bool bench_wait_tcp(int port, int timeout_ms)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (bench_now_ns() < deadline) {
        bench_check_interrupt();
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return true;
        usleep(20000);
    }
    return false;
}

/* Bind a datagram socket for sd_notify at path. */
static int notify_socket(const char *path)
{
    int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        bench_die("path too long for a unix socket", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    if (ns < 0 || bind(ns, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        bench_die("notify socket", strerror(errno));
    return ns;
}

/* Wait up to 10 s for READY=1 from d; exits when it dies or stays silent. */
static void wait_ready(int ns, bench_daemon *d)
{
    uint64_t deadline = bench_now_ns() + 10000000000ull;
    bool ready = false;
    while (!ready && bench_now_ns() < deadline) {
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
        if (!ready && waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            bench_die("lienthongd exited during startup; log", d->log);
        }
        bench_check_interrupt();
    }
    if (!ready)
        bench_die("lienthongd not READY within 10 s; log", d->log);
}

void bench_daemon_start(const char *daemon, const char *dir, bool tcp, const char *yaml,
                        bench_daemon *d)
{
    char cfg[800], notify_path[700];
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "%s", dir);
    if (mkdir(d->dir, 0700) < 0 && errno != EEXIST)
        bench_die(d->dir, strerror(errno));
    snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
    snprintf(cfg, sizeof(cfg), "%s/lienthong.yaml", d->dir);
    if (tcp)
        snprintf(d->endpoint, sizeof(d->endpoint), "tcp://127.0.0.1:%d", bench_free_port());
    else
        snprintf(d->endpoint, sizeof(d->endpoint), "ipc://%s/ingest.sock", d->dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        bench_die(cfg, strerror(errno));
    fprintf(f, "data_dir: %s\ningest:\n  endpoint: \"%s\"\n%s%s", d->data_dir, d->endpoint,
            yaml ? yaml : "", yaml ? "\n" : "");
    fclose(f);

    snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", d->dir);
    int ns = notify_socket(notify_path);
    d->pid = fork();
    if (d->pid < 0)
        bench_die("fork", strerror(errno));
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        setenv("NOTIFY_SOCKET", notify_path, 1);
        execl(daemon, daemon, "-c", cfg, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", daemon, strerror(errno));
        _exit(127);
    }
    wait_ready(ns, d);
    close(ns);
}

void bench_daemon_stop(bench_daemon *d)
{
    int st;
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "%s: lienthongd exited with status %d; log %s\n", bench_prog,
                        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), d->log);
            d->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    fprintf(stderr, "%s: lienthongd did not stop on SIGTERM; killed\n", bench_prog);
}

/* ---------- probes ---------- */

double bench_proc_cpu(pid_t pid)
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

int64_t bench_store_txnid(const char *data_dir)
{
    MDB_env *env;
    MDB_envinfo info;
    if (mdb_env_create(&env))
        return -1;
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, data_dir, MDB_RDONLY, 0640)) {
        mdb_env_close(env);
        return -1;
    }
    mdb_env_info(env, &info);
    mdb_env_close(env);
    return (int64_t)info.me_last_txnid;
}

void bench_describe_fs(const char *dir, char *buf, size_t size)
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

long long bench_num(const char *opt, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: %s needs a number in %lld..%lld\n", bench_prog, opt, lo, hi);
        exit(2);
    }
    return x;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void bench_rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_make_tmpdir(const char *dir, const char *name, char *buf, size_t size)
{
    const char *tmp = dir ? dir : getenv("TMPDIR");
    snprintf(buf, size, "%s/lt-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
    if (!mkdtemp(buf))
        bench_die(buf, strerror(errno));
}
