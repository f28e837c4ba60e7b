/* peers.c - Redis and NATS JetStream servers and their clients; see peers.h. */
#include "peers.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NATS_SUBJECT "lt.events"
#define REDIS_KEY    "lt:events"

/* fork + exec argv with stdout and stderr to s->log. */
static void spawn(bench_server *s, char *const argv[])
{
    s->pid = fork();
    if (s->pid < 0)
        bench_die("fork", strerror(errno));
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
}

static void prepare(const char *name, const char *dir, bench_server *s)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        bench_die(dir, strerror(errno));
    snprintf(s->log, sizeof(s->log), "%s/%s.log", dir, name);
    s->port = bench_free_port();
}

/* Exit with the log's name when the server died or never listened. */
static void wait_listening(bench_server *s)
{
    int st;
    if (!bench_wait_tcp(s->port, 10000) || waitpid(s->pid, &st, WNOHANG) == s->pid) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s-server did not start; log", s->name);
        bench_die(msg, s->log);
    }
}

void bench_redis_start(const char *dir, bench_server *s)
{
    prepare("redis", dir, s);
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *const argv[] = { "redis-server",
                           "--port",
                           port,
                           "--bind",
                           "127.0.0.1",
                           "--dir",
                           s->dir,
                           "--appendonly",
                           "yes",
                           "--appendfsync",
                           "always",
                           "--save",
                           "",
                           "--daemonize",
                           "no",
                           "--protected-mode",
                           "no",
                           "--logfile",
                           "",
                           NULL };
    spawn(s, argv);
    snprintf(s->url, sizeof(s->url), "127.0.0.1:%d", s->port);
    wait_listening(s);
    for (int i = 0; i < 500; i++) { /* until PING answers (not LOADING) */
        redisContext *c = redisConnect("127.0.0.1", s->port);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        redisFree(c);
        if (ok)
            return;
        bench_check_interrupt();
        usleep(20000);
    }
    bench_die("redis-server does not answer PING; log", s->log);
}

void bench_nats_start(const char *dir, bench_server *s)
{
    prepare("nats", dir, s);
    char conf[700];
    snprintf(conf, sizeof(conf), "%s/nats.conf", s->dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        bench_die(conf, strerror(errno));
    fprintf(f,
            "listen: \"127.0.0.1:%d\"\n"
            "jetstream {\n  store_dir: \"%s/js\"\n  max_memory_store: 256MB\n"
            "  max_file_store: 64GB\n}\n",
            s->port, s->dir);
    fclose(f);
    char *const argv[] = { "nats-server", "-c", conf, NULL };
    spawn(s, argv);
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
    wait_listening(s);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    jsStreamConfig sc;
    const char *subjects[] = { NATS_SUBJECT };
    natsStatus st = natsConnection_ConnectTo(&nc, s->url);
    if (st == NATS_OK)
        st = natsConnection_JetStream(&js, nc, NULL);
    if (st == NATS_OK) {
        jsStreamConfig_Init(&sc);
        sc.Name = "LT";
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        st = js_AddStream(&si, js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (st != NATS_OK)
        bench_die("nats: creating the stream", natsStatus_GetText(st));
}

void bench_server_stop(bench_server *s)
{
    int st;
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    fprintf(stderr, "%s: %s-server did not stop on SIGTERM; killed\n", bench_prog, s->name);
}

/* ---------- Redis: XADD pipelined, W in flight per connection ---------- */

/* Take one reply (blocking when block) and account for event got. 1 taken, 0 none, -1 error. */
static int redis_take(bench_client *c, redisContext *rc, bool block, uint64_t got)
{
    void *rep = NULL;
    int ok = block ? redisGetReply(rc, &rep) : redisReaderGetReply(rc->reader, &rep);
    uint64_t t1 = bench_now_ns();
    if (ok != REDIS_OK) {
        snprintf(c->error, sizeof(c->error), "redis: %s", rc->errstr);
        return -1;
    }
    if (!rep)
        return 0;
    redisReply *r = rep;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(c->error, sizeof(c->error), "redis XADD: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    bench_acked(c, got, t1); /* replies come in order */
    return 1;
}

void *bench_redis_client(void *arg)
{
    bench_client *c = arg;
    bench_run *r = c->r;
    const bench_server *srv = r->sys;
    struct timeval tv = { .tv_sec = r->timeout_ms / 1000,
                          .tv_usec = (r->timeout_ms % 1000) * 1000 };
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", srv->port, tv);
    uint8_t buf[4096];
    if (!rc || rc->err) {
        snprintf(c->error, sizeof(c->error), "redis connect: %s", rc ? rc->errstr : "no memory");
        goto out;
    }
    redisSetTimeout(rc, tv);
    uint64_t sent = 0, got = 0;
    while (got < c->n) {
        bool more = false;
        while (sent < c->n && sent - got < (uint64_t)r->window) {
            size_t len = bench_fill(c->t, r->per_dossier, sent, buf);
            memcpy(buf, &sent, sizeof(sent));
            c->sent_ns[sent] = bench_now_ns();
            redisAppendCommand(rc, "XADD %s * d %b", REDIS_KEY, buf, len);
            sent++;
            more = true;
        }
        for (int done = !more; !done;)
            if (redisBufferWrite(rc, &done) != REDIS_OK) {
                snprintf(c->error, sizeof(c->error), "redis write: %s", rc->errstr);
                goto out;
            }
        int k = redis_take(c, rc, true, got);
        for (; k == 1; k = got < sent ? redis_take(c, rc, false, got) : 0)
            got++;
        if (k < 0)
            goto out;
    }
out:
    redisFree(rc);
    return NULL;
}

/* ---------- NATS: JetStream async publish, W pending per connection ---------- */

typedef struct nats_cli {
    bench_client *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} nats_cli;

static void nats_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    nats_cli *n = closure;
    uint64_t t1 = bench_now_ns(), k;
    (void)js, (void)pa;
    pthread_mutex_lock(&n->mu);
    if (pae) {
        if (!n->c->error[0])
            snprintf(n->c->error, sizeof(n->c->error), "nats publish: %s",
                     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
    } else if (natsMsg_GetDataLength(msg) >= (int)sizeof(k)) {
        memcpy(&k, natsMsg_GetData(msg), sizeof(k));
        bench_acked(n->c, k, t1);
    }
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    natsMsg_Destroy(msg);
}

/* Block until fewer than W are in flight; false on error or timeout. */
static bool nats_window(nats_cli *n, uint64_t sent)
{
    bench_client *c = n->c;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += c->r->timeout_ms / 1000 + 1;
    bool ok = true;
    pthread_mutex_lock(&n->mu);
    while (ok && !c->error[0] && sent - c->n_lat >= (uint64_t)c->r->window)
        ok = pthread_cond_timedwait(&n->cv, &n->mu, &dl) == 0;
    if (!ok && !c->error[0])
        snprintf(c->error, sizeof(c->error), "nats: no ack within %d ms", c->r->timeout_ms);
    ok = !c->error[0];
    pthread_mutex_unlock(&n->mu);
    return ok;
}

void *bench_nats_client(void *arg)
{
    bench_client *c = arg;
    bench_run *r = c->r;
    const bench_server *srv = r->sys;
    nats_cli n = { .c = c };
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    uint8_t buf[4096];
    pthread_mutex_init(&n.mu, NULL);
    pthread_cond_init(&n.cv, NULL);
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 2 * r->window; /* the window is kept by nats_window() */
    jo.PublishAsync.AckHandler = nats_on_ack;
    jo.PublishAsync.AckHandlerClosure = &n;
    jo.PublishAsync.StallWait = r->timeout_ms;
    /* Send each publish at once, as the other clients do: by default libnats
     * buffers and its flusher thread writes later, which alone adds ~1 ms
     * to every ack at (1,1). */
    natsOptions *no = NULL;
    natsStatus st = natsOptions_Create(&no);
    if (st == NATS_OK)
        st = natsOptions_SetURL(no, srv->url);
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(no, true);
    if (st == NATS_OK)
        st = natsConnection_Connect(&nc, no);
    natsOptions_Destroy(no);
    if (st == NATS_OK)
        st = natsConnection_JetStream(&js, nc, &jo);
    for (uint64_t k = 0; st == NATS_OK && k < c->n; k++) {
        if (!nats_window(&n, k))
            goto out;
        size_t len = bench_fill(c->t, r->per_dossier, k, buf);
        memcpy(buf, &k, sizeof(k));
        c->sent_ns[k] = bench_now_ns();
        st = js_PublishAsync(js, NATS_SUBJECT, buf, (int)len, NULL);
    }
    if (st == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = r->timeout_ms;
        st = js_PublishAsyncComplete(js, &po);
    }
    if (st != NATS_OK && !c->error[0]) {
        pthread_mutex_lock(&n.mu);
        snprintf(c->error, sizeof(c->error), "nats: %s", natsStatus_GetText(st));
        pthread_mutex_unlock(&n.mu);
    }
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    pthread_cond_destroy(&n.cv);
    pthread_mutex_destroy(&n.mu);
    return NULL;
}

void bench_nats_shutdown(void)
{
    nats_Close();
}
