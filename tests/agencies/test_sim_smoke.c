/* test_sim_smoke.c - lienthong-agency-sim over real sockets: replies, the
 * request log, idempotent repeats, the tax notice published to a stand-in
 * ingest socket and resent until acknowledged, outcomes drawn from the rates,
 * down windows, and a clean exit on SIGTERM.
 *
 * The binary comes from $LT_AGENCY_SIM (set by ctest) or argv[1]. Every wait
 * is on a socket or a file with a deadline; failures name the case. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "lienthong/v1/lienthong.pb-c.h"
#include "lienthong/v1/link.pb-c.h"

#define DOSSIER "H26.1.2-261110-0001"
#define KEY     "tax/" DOSSIER "/4"

static const char *sim_bin;
static char dir[64];
static void *zctx;
static const char *current = "setup";
static int checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond))                                                                               \
            fail(__LINE__, #cond, __VA_ARGS__);                                                    \
    } while (0)

static _Noreturn void fail(int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void fail(int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s (line %d: %s): ", current, line, cond);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "files kept in %s\n", dir);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the simulator with args (NULL-terminated after the program name). */
static pid_t start_sim(const char *const *args)
{
    const char *argv[40] = { sim_bin };
    int n = 1;
    for (; args[n - 1] && n < 39; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        char err[128];
        snprintf(err, sizeof(err), "%s/sim.stderr", dir);
        int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 2);
        if (null >= 0)
            dup2(null, 1);
        execv(sim_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* SIGTERM and wait (5 s): the simulator must exit 0. */
static void stop_sim(pid_t pid)
{
    int st = 0;
    CHECK(kill(pid, SIGTERM) == 0, "kill: %s", strerror(errno));
    for (int64_t end = now_ms() + 5000; now_ms() < end;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
            return;
        }
        struct timespec ts = { 0, 10000000L };
        nanosleep(&ts, NULL); /* polling a child's exit: no fd to wait on */
    }
    kill(pid, SIGKILL);
    CHECK(false, "did not exit within 5 s of SIGTERM");
}

static void *socket_at(int type, const char *ep, bool bind)
{
    void *s = zmq_socket(zctx, type);
    int zero = 0;
    CHECK(s != NULL, "zmq_socket");
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    CHECK((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) == 0, "%s %s: %s",
          bind ? "bind" : "connect", ep, zmq_strerror(errno));
    return s;
}

/* Receive one frame within timeout_ms into a malloc'd buffer; NULL on timeout. */
static uint8_t *recv_frame(void *s, int timeout_ms, size_t *len)
{
    zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    CHECK(zmq_msg_recv(&m, s, 0) >= 0, "recv: %s", zmq_strerror(errno));
    *len = zmq_msg_size(&m);
    uint8_t *buf = malloc(*len + 1);
    CHECK(buf != NULL, "malloc");
    memcpy(buf, zmq_msg_data(&m), *len);
    zmq_msg_close(&m);
    return buf;
}

static Lienthong__V1__LinkReply *recv_reply(void *s, int timeout_ms)
{
    size_t len;
    uint8_t *buf = recv_frame(s, timeout_ms, &len);
    if (!buf)
        return NULL;
    Lienthong__V1__LinkReply *rep = lienthong__v1__link_reply__unpack(NULL, len, buf);
    free(buf);
    CHECK(rep != NULL, "reply does not decode as LinkReply");
    return rep;
}

/* Receive [routing id][Submission] on a ROUTER within timeout_ms; NULL on timeout. */
static Lienthong__V1__Submission *recv_submission(void *s, int timeout_ms, uint8_t *rid,
                                                  size_t *rid_len)
{
    size_t len;
    uint8_t *id = recv_frame(s, timeout_ms, &len);
    if (!id)
        return NULL;
    CHECK(len > 0 && len <= 256, "routing id");
    memcpy(rid, id, len);
    *rid_len = len;
    free(id);
    uint8_t *buf = recv_frame(s, 1000, &len);
    CHECK(buf != NULL, "payload after the routing id");
    Lienthong__V1__Submission *sub = lienthong__v1__submission__unpack(NULL, len, buf);
    free(buf);
    CHECK(sub != NULL, "frame does not decode as Submission");
    return sub;
}

/* Send a LinkRequest for the land-transfer dossier: a TaxTransfer or a LandTask. */
static void send_request(void *s, const char *key, unsigned attempt, bool tax)
{
    Lienthong__V1__LinkRequest req = LIENTHONG__V1__LINK_REQUEST__INIT;
    Lienthong__V1__TaxTransfer tt = LIENTHONG__V1__TAX_TRANSFER__INIT;
    Lienthong__V1__LandTask lt = LIENTHONG__V1__LAND_TASK__INIT;
    req.has_version = req.has_attempt = req.has_seq = 1;
    req.version = 1;
    req.link = (char *)(tax ? "tax" : "land");
    req.idempotency_key = (char *)key;
    req.attempt = attempt;
    req.seq = 4;
    req.dossier_code = (char *)DOSSIER;
    req.procedure_code = (char *)"1.004227";
    req.sent_at = (char *)"2026-11-13T08:30:01Z";
    if (tax) {
        tt.dossier_code = (char *)DOSSIER;
        tt.parcel_number = (char *)"125";
        tt.map_sheet = (char *)"34";
        tt.area_m2 = (char *)"96.5";
        tt.has_transfer_price = 1;
        tt.transfer_price = 3200000000LL;
        req.body_case = LIENTHONG__V1__LINK_REQUEST__BODY_TAX_TRANSFER;
        req.tax_transfer = &tt;
    } else {
        lt.sender = (char *)"vpdkdd-hcm";
        req.body_case = LIENTHONG__V1__LINK_REQUEST__BODY_LAND_TASK;
        req.land_task = &lt;
    }
    uint8_t buf[1024];
    size_t len = lienthong__v1__link_request__pack(&req, buf);
    CHECK(zmq_send(s, buf, len, 0) == (int)len, "send: %s", zmq_strerror(errno));
}

/* Wait (5 s) for the log file to contain s. */
static bool log_has(const char *path, const char *s, int timeout_ms)
{
    for (int64_t end = now_ms() + timeout_ms;;) {
        FILE *f = fopen(path, "r");
        char line[1024];
        bool found = false;
        while (f && !found && fgets(line, sizeof(line), f))
            found = strstr(line, s) != NULL;
        if (f)
            fclose(f);
        if (found)
            return true;
        if (now_ms() >= end)
            return false;
        struct timespec ts = { 0, 20000000L };
        nanosleep(&ts, NULL); /* the log is a file: poll it against the deadline */
    }
}

static const char *data_get(const Lienthong__V1__Result *r, const char *key)
{
    for (size_t i = 0; i < r->n_data; i++)
        if (strcmp(r->data[i]->key, key) == 0)
            return r->data[i]->value;
    return NULL;
}

static void check_notice(const Lienthong__V1__Event *ev)
{
    CHECK(ev && ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT, "a result event");
    CHECK(strcmp(ev->event_id, "TB-" DOSSIER "-1") == 0, "event_id %s", ev->event_id);
    CHECK(strcmp(ev->dossier_code, DOSSIER) == 0, "dossier %s", ev->dossier_code);
    CHECK(strcmp(ev->procedure_code, "1.004227") == 0, "procedure");
    CHECK(strcmp(ev->agency_code, "CCT") == 0, "agency_code");
    const Lienthong__V1__Result *r = ev->result;
    CHECK(strcmp(r->kind, "tax_notice") == 0 && strcmp(r->from_agency, "CCT") == 0, "kind/from");
    CHECK(r->has_amount && r->amount == 80000000, "amount %lld", (long long)r->amount);
    CHECK(strcmp(r->reference, ev->event_id) == 0, "reference %s", r->reference);
    const char *pit = data_get(r, "personal_income_tax_vnd");
    const char *fee = data_get(r, "registration_fee_vnd");
    const char *due = data_get(r, "payment_due");
    CHECK(pit && strcmp(pit, "64000000") == 0, "personal_income_tax_vnd %s", pit);
    CHECK(fee && strcmp(fee, "16000000") == 0, "registration_fee_vnd %s", fee);
    CHECK(due && strlen(due) == 10 && due[4] == '-' && due[7] == '-', "payment_due %s", due);
    CHECK(r->issued_at && ev->occurred_at && strlen(r->issued_at) == 20, "issued_at");
}

static void tax_answers_repeats_and_publishes_one_notice(void)
{
    char ep[128], ingest_ep[128], log[128];
    current = "tax_answers_repeats_and_publishes_one_notice";
    snprintf(ep, sizeof(ep), "ipc://%s/tax.sock", dir);
    snprintf(ingest_ep, sizeof(ingest_ep), "ipc://%s/ingest.sock", dir);
    snprintf(log, sizeof(log), "%s/tax.log", dir);
    void *ingest = socket_at(ZMQ_ROUTER, ingest_ep, true);
    const char *args[] = { "--agency",    "tax",     "--endpoint",        ep,
                           "--ingest",    ingest_ep, "--result-delay-ms", "100",
                           "--resend-ms", "150",     "--latency-ms",      "20",
                           "--log",       log,       "--quiet",           NULL };
    pid_t pid = start_sim(args);
    void *c = socket_at(ZMQ_DEALER, ep, false);

    send_request(c, KEY, 1, true);
    Lienthong__V1__LinkReply *rep = recv_reply(c, 5000);
    CHECK(rep != NULL, "no reply within 5 s");
    CHECK(rep->has_outcome && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, "outcome %d",
          rep->outcome);
    CHECK(rep->idempotency_key && strcmp(rep->idempotency_key, KEY) == 0, "key echoed");
    CHECK(rep->result == NULL, "no result in the reply without --result-in-reply");
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
    CHECK(log_has(log, "key=" KEY " seq=4 dossier=" DOSSIER " attempt=1 outcome=OK\n", 5000),
          "log line of the first request");

    send_request(c, KEY, 2, true);
    rep = recv_reply(c, 5000);
    CHECK(rep && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, "repeat answered OK");
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
    CHECK(log_has(log, "key=" KEY " seq=4 dossier=" DOSSIER " attempt=2 outcome=OK repeat=1", 5000),
          "log line of the repeat");

    /* the notice arrives, is resent while unanswered, stops once accepted */
    uint8_t rid[256];
    size_t rid_len = 0;
    uint64_t request_id = 0;
    for (int round = 0; round < 2; round++) {
        Lienthong__V1__Submission *sub = recv_submission(ingest, 5000, rid, &rid_len);
        CHECK(sub != NULL, "notice within 5 s (round %d)", round);
        CHECK(sub->version == 1 && strcmp(sub->sender, "tax-sim") == 0, "submission envelope");
        CHECK(round == 0 || sub->request_id == request_id, "a resend keeps its request_id");
        request_id = sub->request_id;
        check_notice(sub->event);
        lienthong__v1__submission__free_unpacked(sub, NULL);
    }
    Lienthong__V1__Reply ack = LIENTHONG__V1__REPLY__INIT;
    ack.has_version = ack.has_request_id = ack.has_outcome = ack.has_seq = 1;
    ack.version = 1;
    ack.request_id = request_id;
    ack.outcome = LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED;
    ack.seq = 5;
    uint8_t out[256];
    size_t olen = lienthong__v1__reply__pack(&ack, out);
    CHECK(zmq_send(ingest, rid, rid_len, ZMQ_SNDMORE) >= 0 && zmq_send(ingest, out, olen, 0) >= 0,
          "send the ack: %s", zmq_strerror(errno));
    /* one resend may cross the ack; after that, silence (3 resend intervals) */
    int late = 0;
    Lienthong__V1__Submission *sub;
    while ((sub = recv_submission(ingest, 500, rid, &rid_len)) != NULL) {
        lienthong__v1__submission__free_unpacked(sub, NULL);
        CHECK(++late <= 1, "notice still resent after ACCEPTED");
    }
    stop_sim(pid);
    zmq_close(c);
    zmq_close(ingest);
}

/* Send raw bytes (a malformed frame). */
static void send_raw(void *s, const char *bytes, size_t len)
{
    CHECK(zmq_send(s, bytes, len, 0) == (int)len, "send: %s", zmq_strerror(errno));
}

static void expect(void *c, int outcome, const char *says, uint32_t retry_after)
{
    Lienthong__V1__LinkReply *rep = recv_reply(c, 5000);
    CHECK(rep != NULL, "no reply within 5 s (want outcome %d)", outcome);
    CHECK(rep->has_outcome && (int)rep->outcome == outcome, "outcome %d, want %d (%s)",
          rep->outcome, outcome, rep->message ? rep->message : "");
    CHECK(!says || (rep->message && strstr(rep->message, says)), "message '%s', want '%s'",
          rep->message ? rep->message : "", says);
    CHECK(rep->retry_after_s == retry_after, "retry_after_s %u", rep->retry_after_s);
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
}

static void outcomes_follow_the_rates_and_the_body(void)
{
    char ep[128];
    current = "outcomes_follow_the_rates_and_the_body";
    snprintf(ep, sizeof(ep), "ipc://%s/land-retry.sock", dir);
    const char *retry_args[] = {
        "--agency",        "land", "--endpoint", ep,   "--error-rate", "1",
        "--retry-after-s", "7",    "--seed",     "42", "--quiet",      NULL
    };
    pid_t pid = start_sim(retry_args);
    void *c = socket_at(ZMQ_DEALER, ep, false);
    send_request(c, "land/" DOSSIER "/1", 1, false);
    expect(c, LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER, "temporary", 7);
    send_request(c, KEY, 1, true); /* a TaxTransfer on the land link */
    expect(c, LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE, "takes a LandTask", 0);
    send_raw(c, "\xff\xff\xff", 3);
    expect(c, LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE, "not a decodable", 0);
    stop_sim(pid);
    zmq_close(c);

    snprintf(ep, sizeof(ep), "ipc://%s/land-perm.sock", dir);
    const char *perm_args[] = { "--agency",         "land", "--endpoint", ep,
                                "--permanent-rate", "1",    "--quiet",    NULL };
    pid = start_sim(perm_args);
    c = socket_at(ZMQ_DEALER, ep, false);
    send_request(c, "land/" DOSSIER "/2", 1, false);
    expect(c, LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE, "permanent", 0);
    stop_sim(pid);
    zmq_close(c);
}

static void down_window_drops_requests_then_answers(void)
{
    char ep[128], log[128];
    current = "down_window_drops_requests_then_answers";
    snprintf(ep, sizeof(ep), "ipc://%s/land-down.sock", dir);
    snprintf(log, sizeof(log), "%s/land-down.log", dir);
    const char *args[] = { "--agency", "land",  "--endpoint", ep,        "--down-ms",
                           "0:1500",   "--log", log,          "--quiet", NULL };
    pid_t pid = start_sim(args);
    void *c = socket_at(ZMQ_DEALER, ep, false);
    send_request(c, "land/" DOSSIER "/3", 1, false);
    Lienthong__V1__LinkReply *rep = recv_reply(c, 300);
    CHECK(rep == NULL, "a reply while down");
    CHECK(log_has(log, "attempt=1 outcome=dropped", 5000), "the dropped request is logged");
    unsigned attempt = 1;
    for (int64_t end = now_ms() + 8000; !rep && now_ms() < end;) {
        send_request(c, "land/" DOSSIER "/3", ++attempt, false);
        rep = recv_reply(c, 300);
    }
    CHECK(rep && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, "answered once up");
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
    char want[64];
    snprintf(want, sizeof(want), "attempt=%u outcome=OK\n", attempt);
    CHECK(log_has(log, want, 5000), "log line '%s'", want);
    stop_sim(pid);
    zmq_close(c);
}

static void result_in_reply_rides_on_every_ok(void)
{
    char ep[128];
    current = "result_in_reply_rides_on_every_ok";
    snprintf(ep, sizeof(ep), "ipc://%s/tax-reply.sock", dir);
    const char *args[] = {
        "--agency", "tax", "--endpoint", ep, "--result-in-reply", "--quiet", NULL
    };
    pid_t pid = start_sim(args);
    void *c = socket_at(ZMQ_DEALER, ep, false);
    for (unsigned attempt = 1; attempt <= 2; attempt++) {
        send_request(c, KEY, attempt, true);
        Lienthong__V1__LinkReply *rep = recv_reply(c, 5000);
        CHECK(rep && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, "OK (attempt %u)",
              attempt);
        check_notice(rep->result); /* the same notice, TB-...-1, on the repeat too */
        lienthong__v1__link_reply__free_unpacked(rep, NULL);
    }
    stop_sim(pid);
    zmq_close(c);
}

/* 200 requests with 300 ms latency each are answered in about 300 ms, not 60 s. */
static void many_requests_are_in_flight_at_once(void)
{
    char ep[128], key[64];
    current = "many_requests_are_in_flight_at_once";
    snprintf(ep, sizeof(ep), "ipc://%s/land-many.sock", dir);
    const char *args[] = { "--agency",     "land", "--endpoint", ep,
                           "--latency-ms", "300",  "--quiet",    NULL };
    pid_t pid = start_sim(args);
    void *c = socket_at(ZMQ_DEALER, ep, false);
    /* wait until the simulator answers, so its start does not count */
    send_request(c, "land/warmup", 1, false);
    Lienthong__V1__LinkReply *rep = recv_reply(c, 5000);
    CHECK(rep != NULL, "warm-up reply");
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
    int64_t t0 = now_ms();
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "land/D-%d/1", i);
        send_request(c, key, 1, false);
    }
    for (int i = 0; i < 200; i++) {
        rep = recv_reply(c, 5000);
        CHECK(rep && rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, "reply %d", i);
        lienthong__v1__link_reply__free_unpacked(rep, NULL);
    }
    int64_t took = now_ms() - t0;
    CHECK(took >= 300 && took < 3000, "200 replies took %lld ms", (long long)took);
    stop_sim(pid);
    zmq_close(c);
}

static void help_and_bad_options(void)
{
    current = "help_and_bad_options";
    const char *help[] = { "--help", NULL };
    const char *bad[] = { "--agency",     "tax", "--endpoint", "ipc:///nonexistent/x.sock",
                          "--error-rate", "1.5", NULL };
    int st;
    pid_t pid = start_sim(help);
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "--help exits 0");
    pid = start_sim(bad);
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 2,
          "bad value exits 2");
    char err[128];
    snprintf(err, sizeof(err), "%s/sim.stderr", dir);
    CHECK(log_has(err, "--error-rate: '1.5'", 1000), "the error names the option");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    sim_bin = getenv("LT_AGENCY_SIM");
    if (!sim_bin && argc > 1)
        sim_bin = argv[1];
    if (!sim_bin) {
        fprintf(stderr, "usage: LT_AGENCY_SIM=path %s | %s path\n", argv[0], argv[0]);
        return 2;
    }
    snprintf(dir, sizeof(dir), "/tmp/lt-sim-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    zctx = zmq_ctx_new();
    tax_answers_repeats_and_publishes_one_notice();
    outcomes_follow_the_rates_and_the_body();
    down_window_drops_requests_then_answers();
    result_in_reply_rides_on_every_ok();
    many_requests_are_in_flight_at_once();
    help_and_bad_options();
    zmq_ctx_term(zctx);
    if (!getenv("LT_KEEP_TMP"))
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("agency simulator: %d checks passed\n", checks);
    return 0;
}
