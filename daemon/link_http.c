/* link_http.c - the HTTP/JSON link transport: a worker thread that owns a
 * libcurl multi handle and talks to the loop thread over an inproc PAIR.
 *
 * The loop side (open/send/pollitem/recv/close) only packs and unpacks
 * protobuf frames on the PAIR, so the loop never waits on an agency. The
 * worker turns each LinkRequest into HTTP calls and answers one LinkReply per
 * request. With adapter portal it speaks the national portal's dialect
 * (portal_json.h): it logs in, caches the session, sends DongBoHoSoMC and then
 * CapNhatTienDoHoSoMC for a status change; on an expired session it logs in
 * again once for that request (concurrent requests share one new login) and
 * retries the call. A refused login puts the link in a failed state: no login
 * is tried again before a backoff (agency backoff_initial_ms doubling to
 * backoff_max_ms) and every request meanwhile is answered RETRY_LATER at once,
 * so a wrong password never hammers the portal. A token bucket spaces all
 * calls (rate_per_s). The worker keeps no delivery state: order per dossier
 * and retries are the delivery engine's, and what the portal holds is known
 * from PortalSync.first_sync (the engine's record), never asked. A failed
 * request says may_have_acted when a call of it went out without an answer
 * or the portal took its sync, so the engine keeps treating the dossier as
 * known to the portal (adapter.h, durable_first).
 *
 * Any other adapter (tax, land) speaks the generic dialect: each LinkRequest
 * is POSTed to url as JSON (field names and enum names as in link.proto, the
 * CLI's JSON: cli/pbtext.h) and the answer is a LinkReply as JSON, passed to
 * the loop as the agency gave it (its outcome, message and result). No
 * answer, HTTP 5xx, 408, 429 or an answer that is not a LinkReply retry
 * later; any other HTTP status outside 2xx is a permanent failure.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "log.h"
#include "pbtext.h"
#include "portal_json.h"
#include "timefmt.h"

#define HTTP_ANSWER_MAX (1u << 20) /* a portal answer is a few hundred bytes */
#define SESSION_MAX     1024

const lt_link_ops lt_link_http_ops;

typedef enum { CALL_LOGIN, CALL_SYNC, CALL_PROGRESS, CALL_POST } call_kind;

/* One LinkRequest being worked on. */
typedef struct job {
    Lienthong__V1__LinkRequest *req; /* owned */
    call_kind next;                  /* the call it makes next */
    bool relogged;                   /* it already caused a new login */
    bool acted;        /* the agency may have acted on it: a call went out without an answer, or
                          the portal took the dossier's sync (LinkReply.may_have_acted) */
    char summary[700]; /* what was sent and answered so far */
    struct job *link;  /* in the ready or waiting list */
} job;

/* One HTTP exchange in flight. */
typedef struct call {
    CURL *easy;
    job *job; /* NULL for a login */
    call_kind kind;
    unsigned session_gen;
    char *body;
    char *resp;
    size_t len, cap;
    bool too_big;
    char what[300];
    char errbuf[CURL_ERROR_SIZE];
    struct call *prev, *next; /* worker's calls in flight */
} call;

typedef struct jlist {
    job *head, *tail;
} jlist;

typedef struct worker {
    const lt_config_agency *a;
    bool generic; /* not the portal: LinkRequest and LinkReply as JSON */
    void *pipe;
    CURLM *multi;
    struct curl_slist *headers;
    char *password;
    char *url_login, *url_sync, *url_progress;
    char session[SESSION_MAX];
    bool has_session, login_busy, auth_failed;
    unsigned session_gen;
    int64_t auth_until_ms, auth_backoff_ms;
    char auth_msg[256];
    jlist ready, waiting;
    call *calls; /* in flight */
    double tokens;
    int64_t tokens_ms;
    bool stop;
} worker;

typedef struct link_http {
    lt_link base;
    const lt_config_agency *a;
    void *pipe;
    pthread_t thread;
    bool started;
    worker w;
} link_http;

static void jpush(jlist *l, job *j)
{
    j->link = NULL;
    if (l->tail)
        l->tail->link = j;
    else
        l->head = j;
    l->tail = j;
}

static job *jpop(jlist *l)
{
    job *j = l->head;
    if (j && !(l->head = j->link))
        l->tail = NULL;
    return j;
}

static void job_free(job *j)
{
    if (!j)
        return;
    lienthong__v1__link_request__free_unpacked(j->req, NULL);
    free(j);
}

/* Answer j's request and free j. */
static void reply(worker *w, job *j, Lienthong__V1__LinkReply__Outcome oc, uint32_t retry_after_s,
                  const char *msg)
{
    Lienthong__V1__LinkReply rep = LIENTHONG__V1__LINK_REPLY__INIT;
    rep.has_version = 1;
    rep.version = 1;
    rep.idempotency_key = j->req->idempotency_key;
    rep.has_outcome = 1;
    rep.outcome = oc;
    rep.message = (char *)msg;
    if (oc != LIENTHONG__V1__LINK_REPLY__OUTCOME__OK && j->acted) {
        rep.has_may_have_acted = 1;
        rep.may_have_acted = 1;
    }
    if (retry_after_s) {
        rep.has_retry_after_s = 1;
        rep.retry_after_s = retry_after_s;
    }
    size_t len = lienthong__v1__link_reply__get_packed_size(&rep);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        lienthong__v1__link_reply__pack(&rep, buf);
        if (zmq_send(w->pipe, buf, len, 0) < 0) /* the attempt times out and is retried */
            lt_log_warn("http link: reply lost agency=%s dossier=%s", w->a->name,
                        j->req->dossier_code ? j->req->dossier_code : "");
        free(buf);
    }
    job_free(j);
}

/* Answer j's request with the agency's own reply rep (its key, outcome,
 * message, result), and free j. */
static void reply_as_given(worker *w, job *j, const Lienthong__V1__LinkReply *rep)
{
    size_t len = lienthong__v1__link_reply__get_packed_size(rep);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf) {
        lienthong__v1__link_reply__pack(rep, buf);
        if (zmq_send(w->pipe, buf, len, 0) < 0)
            lt_log_warn("http link: reply lost agency=%s dossier=%s", w->a->name,
                        j->req->dossier_code ? j->req->dossier_code : "");
        free(buf);
    }
    job_free(j);
}

static void reply_retry(worker *w, job *j, uint32_t after_s, const char *msg)
{
    reply(w, j, LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER, after_s, msg);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    call *c = arg;
    size_t len = size * n;
    if (c->len + len > HTTP_ANSWER_MAX) {
        c->too_big = true;
        return 0;
    }
    if (c->len + len + 1 > c->cap) {
        size_t cap = (c->len + len + 1) * 2;
        char *nb = realloc(c->resp, cap);
        if (!nb)
            return 0;
        c->resp = nb;
        c->cap = cap;
    }
    memcpy(c->resp + c->len, p, len);
    c->len += len;
    c->resp[c->len] = '\0';
    return len;
}

static void call_free(call *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->body);
    free(c->resp);
    free(c);
}

/* Take one token of the rate limit; false when the bucket is empty. */
static bool take_token(worker *w, int64_t now)
{
    double rate = (double)w->a->rate_per_s, burst = rate < 1 ? 1 : rate;
    if (w->a->rate_per_s <= 0)
        return true;
    w->tokens += (double)(now - w->tokens_ms) * rate / 1000.0;
    if (w->tokens > burst)
        w->tokens = burst;
    w->tokens_ms = now;
    if (w->tokens < 1)
        return false;
    w->tokens -= 1;
    return true;
}

/* Start a POST of body (taken) to url. Returns 0 or -ENOMEM (body freed). */
static int start_call(worker *w, call_kind kind, job *j, const char *url, char *body,
                      const char *what)
{
    const lt_config_agency *a = w->a;
    call *c = calloc(1, sizeof(*c));
    if (!c || !(c->easy = curl_easy_init())) {
        free(c);
        free(body);
        return -ENOMEM;
    }
    c->kind = kind;
    c->job = j;
    c->body = body;
    c->session_gen = w->session_gen;
    snprintf(c->what, sizeof(c->what), "%s", what);
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)a->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)a->request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
    if (a->client_cert) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, a->client_cert);
        curl_easy_setopt(e, CURLOPT_SSLKEY, a->client_key);
    }
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        call_free(c);
        return -ENOMEM;
    }
    c->next = w->calls;
    if (w->calls)
        w->calls->prev = c;
    w->calls = c;
    return 0;
}

/* Start j's next call with the current session. Returns 0 or -ENOMEM. */
static int start_job_call(worker *w, job *j, int64_t now)
{
    const Lienthong__V1__PortalSync *ps = j->req->portal_sync;
    char *body = NULL, what[300];
    int r;

    if (j->next == CALL_POST) {
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        if (!f)
            return -ENOMEM;
        r = lt_pbtext_write_json(f, &j->req->base);
        if (fclose(f) != 0 || r < 0) {
            free(body);
            return -ENOMEM;
        }
        snprintf(what, sizeof(what), "POST %.200s", w->a->url);
        return start_call(w, CALL_POST, j, w->a->url, body, what);
    }
    if (j->next == CALL_SYNC)
        r = lt_portal_sync_body(w->a, w->session, ps, &body, what, sizeof(what));
    else
        r = lt_portal_progress_body(w->a, w->session, ps, now / 1000, &body, what, sizeof(what));
    if (r < 0)
        return r;
    return start_call(w, j->next, j, j->next == CALL_SYNC ? w->url_sync : w->url_progress, body,
                      what);
}

/* Answer every waiting job RETRY_LATER with why. */
static void fail_waiting(worker *w, uint32_t after_s, const char *why)
{
    job *j;
    while ((j = jpop(&w->waiting)))
        reply_retry(w, j, after_s, why);
}

/* Seconds until the next login may be tried after a refusal. */
static uint32_t auth_wait_s(const worker *w, int64_t now)
{
    int64_t ms = w->auth_until_ms - now;
    return ms > 0 ? (uint32_t)((ms + 999) / 1000) : 1;
}

/* Start what can start: a login when a job needs a session, then job calls. */
static void pump(worker *w)
{
    int64_t now = lt_time_now_ms();
    job *j;

    while ((j = w->ready.head)) {
        if (!w->generic && !w->has_session) {
            if (w->auth_failed && now < w->auth_until_ms) {
                jpop(&w->ready);
                char why[400];
                snprintf(why, sizeof(why), "portal login refused (link failed): %.200s",
                         w->auth_msg);
                reply_retry(w, j, auth_wait_s(w, now), why);
                continue;
            }
            if (!w->login_busy) {
                if (!take_token(w, now))
                    return;
                char *body = NULL;
                if (lt_portal_login_body(w->a, w->password, &body) < 0 ||
                    start_call(w, CALL_LOGIN, NULL, w->url_login, body, "login") < 0)
                    return; /* out of memory: the attempt times out and is retried */
                w->login_busy = true;
            }
            jpush(&w->waiting, jpop(&w->ready));
            continue;
        }
        if (!take_token(w, now))
            return;
        jpop(&w->ready);
        if (start_job_call(w, j, now) < 0)
            reply_retry(w, j, 0, "out of memory in the http link");
    }
}

static void login_done(worker *w, lt_portal_class cl, const char *session, const char *msg)
{
    int64_t now = lt_time_now_ms();
    char why[400];

    w->login_busy = false;
    if (cl == LT_PORTAL_OK) {
        if (w->auth_failed)
            lt_log_info("portal login accepted again agency=%s (link recovered)", w->a->name);
        snprintf(w->session, sizeof(w->session), "%s", session);
        w->has_session = true;
        w->session_gen++;
        w->auth_failed = false;
        w->auth_backoff_ms = 0;
        job *j;
        while ((j = jpop(&w->waiting)))
            jpush(&w->ready, j);
        return;
    }
    if (cl == LT_PORTAL_RETRY) {
        snprintf(why, sizeof(why), "portal login: %.300s", msg);
        fail_waiting(w, 0, why);
        return;
    }
    /* refused: failed state, no login before the backoff expires */
    w->auth_backoff_ms = w->auth_backoff_ms ? w->auth_backoff_ms * 2 : w->a->backoff_initial_ms;
    if (w->auth_backoff_ms > w->a->backoff_max_ms)
        w->auth_backoff_ms = w->a->backoff_max_ms;
    w->auth_until_ms = now + w->auth_backoff_ms;
    if (!w->auth_failed)
        lt_log_err("portal link failed: login refused agency=%s user=%s err=\"%s\" (check "
                   "username and password; next login in %lld ms, deliveries wait)",
                   w->a->name, w->a->username ? w->a->username : "", msg,
                   (long long)w->auth_backoff_ms);
    w->auth_failed = true;
    snprintf(w->auth_msg, sizeof(w->auth_msg), "%.200s", msg);
    snprintf(why, sizeof(why), "portal login refused (link failed): %.300s", msg);
    fail_waiting(w, auth_wait_s(w, now), why);
}

static void append(char *buf, size_t size, const char *what, const char *msg)
{
    size_t n = strlen(buf);
    if (n < size)
        snprintf(buf + n, size - n, "%s%.200s -> %.150s", n ? "; " : "", what, msg);
}

/* Whether a failed call's answer leaves open that the agency acted on it: a
 * 5xx other than 503 (a gateway's 502 or 504 in front of the portal says
 * nothing of what the portal did) or a 2xx that cannot be read. A 503, 408,
 * 429, other 4xx and a readable error code say it did not. */
static bool may_have_acted(long status, lt_portal_class cl)
{
    if (status >= 500)
        return status != 503;
    return status >= 200 && status < 300 && cl == LT_PORTAL_RETRY;
}

static void job_call_done(worker *w, call *c, long status, lt_portal_class cl, const char *msg)
{
    job *j = c->job;
    char text[1024];

    if (cl != LT_PORTAL_OK && may_have_acted(status, cl))
        j->acted = true;

    if (cl == LT_PORTAL_OK) {
        append(j->summary, sizeof(j->summary), c->what, msg);
        if (c->kind == CALL_SYNC)
            j->acted = true; /* the portal holds the dossier now */
        if (c->kind == CALL_SYNC && lt_portal_is_step(j->req->portal_sync)) {
            j->next = CALL_PROGRESS;
            jpush(&w->ready, j);
            return;
        }
        reply(w, j, LIENTHONG__V1__LINK_REPLY__OUTCOME__OK, 0, j->summary);
        return;
    }
    if (cl == LT_PORTAL_SESSION && !j->relogged) {
        j->relogged = true;
        if (c->session_gen == w->session_gen && w->has_session) {
            lt_log_info("portal session expired, logging in again agency=%s dossier=%s", w->a->name,
                        j->req->dossier_code ? j->req->dossier_code : "");
            w->has_session = false;
        }
        jpush(&w->ready, j);
        return;
    }
    snprintf(text, sizeof(text), "%.500s%s%.200s: %.300s", j->summary, j->summary[0] ? "; " : "",
             c->what,
             cl == LT_PORTAL_SESSION ? "session expired again right after a new login" : msg);
    reply(w, j,
          cl == LT_PORTAL_PERMANENT ? LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE
                                    : LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER,
          0, text);
}

/* The generic dialect's answer to one POST: a LinkReply as JSON. */
static void post_done(worker *w, call *c, long status, const char *err)
{
    job *j = c->job;
    char msg[600];

    if (status == 0) {
        snprintf(msg, sizeof(msg), "no answer: %.300s", err ? err : "network error");
        reply_retry(w, j, 0, msg);
        return;
    }
    if (status >= 500 && status != 503)
        j->acted = true; /* see may_have_acted() */
    if (status < 200 || status >= 300) {
        snprintf(msg, sizeof(msg), "HTTP %ld%s%.300s", status, c->len ? ": " : "",
                 c->resp ? c->resp : "");
        /* 5xx, 408, 429 (and a redirect, which is not followed) retry; other 4xx never pass */
        bool retry = status >= 500 || status == 408 || status == 429 || status < 400;
        reply(w, j,
              retry ? LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER
                    : LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE,
              0, msg);
        return;
    }
    lt_pbtext_doc *docs = NULL;
    size_t n = 0;
    lt_diag diag;
    lt_diag_clear(&diag);
    int r = lt_pbtext_parse("answer", c->resp ? c->resp : "", c->len,
                            &lienthong__v1__link_reply__descriptor, NULL, NULL, &docs, &n, &diag);
    if (r < 0 || n != 1) {
        j->acted = true; /* answered, unreadably: it may have acted */
        snprintf(msg, sizeof(msg), "HTTP %ld: the answer is not a LinkReply in JSON: %.300s",
                 status, r < 0 ? diag.message : "not one document");
        lt_pbtext_docs_free(&docs, n);
        reply_retry(w, j, 0, msg);
        return;
    }
    reply_as_given(w, j, (const Lienthong__V1__LinkReply *)docs[0].msg);
    lt_pbtext_docs_free(&docs, n);
}

/* Settle every finished HTTP exchange. */
static void reap(worker *w)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        call *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        long status = 0, sent = 0;
        const char *err = NULL;
        if (m->data.result == CURLE_OK)
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        else
            err = c->too_big     ? "answer larger than 1 MiB"
                  : c->errbuf[0] ? c->errbuf
                                 : curl_easy_strerror(m->data.result);
        /* no answer to a request that went out: the agency may have acted on it */
        if (status == 0 && c->job &&
            curl_easy_getinfo(m->easy_handle, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
            c->job->acted = true;
        curl_multi_remove_handle(w->multi, m->easy_handle);
        if (c->prev)
            c->prev->next = c->next;
        else
            w->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
        if (c->kind == CALL_POST) {
            post_done(w, c, status, err);
            call_free(c);
            continue;
        }
        char session[SESSION_MAX] = "", msg[400];
        lt_portal_class cl = lt_portal_classify(w->a, c->kind == CALL_LOGIN, status, err, c->resp,
                                                c->len, session, sizeof(session), msg, sizeof(msg));
        if (c->kind == CALL_LOGIN)
            login_done(w, cl, session, msg);
        else
            job_call_done(w, c, status, cl, msg);
        call_free(c);
    }
}

/* A request from the loop: check it, then queue it. */
static void take_request(worker *w, const void *data, size_t len)
{
    char msg[600];
    lt_diag diag;
    job *j = calloc(1, sizeof(*j));

    if (!j)
        return;
    j->req = lienthong__v1__link_request__unpack(NULL, len, data);
    if (!j->req) {
        free(j);
        return;
    }
    if (w->generic) {
        j->next = CALL_POST;
        jpush(&w->ready, j);
        return;
    }
    j->next = CALL_SYNC;
    if (j->req->body_case != LIENTHONG__V1__LINK_REQUEST__BODY_PORTAL_SYNC ||
        !j->req->portal_sync) {
        reply(w, j, LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE, 0,
              "the portal's http link carries portal syncs only");
        return;
    }
    lt_diag_clear(&diag);
    if (lt_portal_check(w->a, j->req->portal_sync, lt_time_now_ms() / 1000, &diag) < 0) {
        snprintf(msg, sizeof(msg), "%s", diag.message);
        reply(w, j, LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE, 0, msg);
        return;
    }
    jpush(&w->ready, j);
}

/* Read every waiting frame of the pipe; an empty frame is the stop request. */
static void drain_pipe(worker *w)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, w->pipe, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (zmq_msg_size(&m) == 0)
            w->stop = true;
        else
            take_request(w, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
    }
}

/* Milliseconds until the rate limit gives a token, when work waits for one. */
static int token_wait_ms(const worker *w)
{
    if (!w->ready.head || w->a->rate_per_s <= 0 || w->tokens >= 1)
        return 100;
    int ms = (int)((1 - w->tokens) * 1000.0 / (double)w->a->rate_per_s) + 1;
    return ms < 100 ? ms : 100;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct curl_waitfd zfd = { 0, CURL_WAIT_POLLIN, 0 };
    size_t fdlen = sizeof(zfd.fd);
    int running = 0;

    zmq_getsockopt(w->pipe, ZMQ_FD, &zfd.fd, &fdlen);
    while (!w->stop) {
        int events = 0;
        size_t elen = sizeof(events);
        zmq_getsockopt(w->pipe, ZMQ_EVENTS, &events, &elen);
        /* ZMQ_FD is edge-triggered: poll only when nothing is waiting already */
        if (!(events & ZMQ_POLLIN))
            curl_multi_poll(w->multi, &zfd, 1, token_wait_ms(w), NULL);
        drain_pipe(w);
        curl_multi_perform(w->multi, &running);
        reap(w);
        pump(w);
        curl_multi_perform(w->multi, &running);
    }
    return NULL;
}

static void worker_cleanup(worker *w)
{
    job *j;
    while ((j = jpop(&w->ready)))
        job_free(j);
    while ((j = jpop(&w->waiting)))
        job_free(j);
    if (w->multi) {
        call *c;
        while ((c = w->calls)) {
            w->calls = c->next;
            curl_multi_remove_handle(w->multi, c->easy);
            job_free(c->job);
            call_free(c);
        }
        curl_multi_cleanup(w->multi);
    }
    curl_slist_free_all(w->headers);
    if (w->password) {
        memset(w->password, 0, strlen(w->password));
        free(w->password);
    }
    free(w->url_login);
    free(w->url_sync);
    free(w->url_progress);
    if (w->pipe)
        zmq_close(w->pipe);
}

static void link_http_close(lt_link **p)
{
    link_http *l = (link_http *)*p;
    if (l->started) {
        zmq_send(l->pipe, "", 0, 0);
        pthread_join(l->thread, NULL);
    }
    worker_cleanup(&l->w);
    if (l->pipe)
        zmq_close(l->pipe);
    free(l);
    *p = NULL;
}

/* The password from the config or the first line of password_file. */
static int read_password(const lt_config_agency *a, char **ret, lt_diag *reterr)
{
    if (!a->password_file) {
        *ret = strdup(a->password ? a->password : "");
        return *ret ? 0 : -ENOMEM;
    }
    FILE *f = fopen(a->password_file, "r");
    char line[512] = "";
    if (!f)
        return lt_diag_set(reterr, LT_ERR_CONFIG, 0, "password_file",
                           "agency %s: cannot read password_file %s: %s", a->name, a->password_file,
                           strerror(errno));
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    *ret = strdup(line);
    memset(line, 0, sizeof(line));
    return *ret ? 0 : -ENOMEM;
}

static char *join(const char *url, const char *path)
{
    size_t n = strlen(url);
    char *s = malloc(n + strlen(path) + 1);
    if (s) {
        memcpy(s, url, n);
        if (n && url[n - 1] == '/' && path[0] == '/')
            n--;
        strcpy(s + n, path);
    }
    return s;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int link_http_open(const lt_config_agency *a, void *zctx, lt_link **ret, lt_diag *reterr)
{
    char ep[96];
    int r = -ENOMEM;
    link_http *l = calloc(1, sizeof(*l));

    if (!l)
        return -ENOMEM;
    pthread_once(&curl_once, curl_init_once);
    l->base.ops = &lt_link_http_ops;
    l->a = a;
    worker *w = &l->w;
    w->a = a;
    w->tokens = a->rate_per_s > 0 ? (double)a->rate_per_s : 1;
    w->tokens_ms = lt_time_now_ms();
    if (!a->url) {
        r = lt_diag_set(reterr, LT_ERR_CONFIG, 0, "url", "agency %s: transport http needs a url",
                        a->name);
        goto fail;
    }
    w->generic = strcmp(a->adapter, "portal") != 0;
    if (!w->generic && (r = read_password(a, &w->password, reterr)) < 0)
        goto fail;
    r = -ENOMEM;
    if ((!w->generic && (!(w->url_login = join(a->url, a->login_path)) ||
                         !(w->url_sync = join(a->url, a->sync_path)) ||
                         !(w->url_progress = join(a->url, a->progress_path)))) ||
        !(w->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8")) ||
        !(w->multi = curl_multi_init()))
        goto fail;
    snprintf(ep, sizeof(ep), "inproc://lt-link-http-%p", (void *)l);
    int linger = 0;
    if (!(l->pipe = zmq_socket(zctx, ZMQ_PAIR)) || !(w->pipe = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(l->pipe, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_setsockopt(w->pipe, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_bind(l->pipe, ep) < 0 || zmq_connect(w->pipe, ep) < 0) {
        r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "transport", "agency %s: inproc pipe: %s", a->name,
                        zmq_strerror(errno));
        goto fail;
    }
    if ((r = -pthread_create(&l->thread, NULL, worker_main, w)) < 0)
        goto fail;
    l->started = true;
    *ret = &l->base;
    return 0;
fail:;
    lt_link *b = &l->base;
    link_http_close(&b);
    return r;
}

static int link_http_send(lt_link *b, const Lienthong__V1__LinkRequest *req)
{
    return lt_link_send_frame(((link_http *)b)->pipe, req);
}

static void link_http_pollitem(lt_link *b, zmq_pollitem_t *ret)
{
    link_http *l = (link_http *)b;
    *ret = (zmq_pollitem_t){ l->pipe, 0, ZMQ_POLLIN, 0 };
}

static int link_http_recv(lt_link *b, Lienthong__V1__LinkReply **ret)
{
    link_http *l = (link_http *)b;
    return lt_link_recv_frame(l->pipe, l->a->name, ret);
}

const lt_link_ops lt_link_http_ops = {
    .name = "http",
    .open = link_http_open,
    .send = link_http_send,
    .pollitem = link_http_pollitem,
    .recv = link_http_recv,
    .close = link_http_close,
};
