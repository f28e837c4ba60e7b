/* publish.c - lienthongctl publish: YAML/JSON documents to the ingest socket,
 * pipelined over one DEALER, one reply line each. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zmq.h>

#include "codec.h"
#include "ctl.h"
#include "timefmt.h"

#define MAX_INPUT_BYTES (256u << 20) /* publish input read into memory */
#define MAX_REPLY_BYTES (1u << 20)

typedef struct item {
    uint8_t *buf; /* packed Submission */
    size_t len;
    uint64_t request_id;
    char *event_id; /* for messages; "" when absent */
    char *dossier;
    int line; /* where the document starts in the input */
    bool sent, answered;
} item;

typedef struct batch {
    item *items;
    size_t n;
    uint64_t *ids; /* request_id of items[idx[i]], sorted, for matching */
    size_t *idx;
} batch;

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].buf);
        free(b->items[i].event_id);
        free(b->items[i].dossier);
    }
    free(b->items);
    free(b->ids);
    free(b->idx);
}

/* Read all of path ("-" for stdin) into memory. */
static int read_input(const char *path, char **ret, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    size_t cap = 65536, len = 0, n;
    char *buf;

    if (!f) {
        int e = errno;
        ctl_errf("%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = cap >= MAX_INPUT_BYTES ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = !buf || ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        ctl_errf("%s: cannot read (larger than %u MiB?)", path, MAX_INPUT_BYTES >> 20);
        return -EIO;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* A document with event_id at top level is a bare Event. */
static const ProtobufCMessageDescriptor *pick_doc(const char *const *keys, size_t n, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], "event_id"))
            return &lienthong__v1__event__descriptor;
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of the item with request_id id, or -1. */
static ssize_t find_item(const batch *b, uint64_t id)
{
    size_t lo = 0, hi = b->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->ids[mid] == id)
            return (ssize_t)b->idx[mid];
        if (b->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Sort request ids for matching; refuse one used twice in the input. */
static int index_items(batch *b, const char *name)
{
    uint64_t *pairs = malloc(b->n * 2 * sizeof(uint64_t) + 1);

    b->ids = malloc(b->n * sizeof(uint64_t) + 1);
    b->idx = malloc(b->n * sizeof(size_t) + 1);
    if (!pairs || !b->ids || !b->idx) {
        free(pairs);
        ctl_errf("out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < b->n; i++) {
        pairs[2 * i] = b->items[i].request_id;
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, b->n, 2 * sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < b->n; i++) {
        b->ids[i] = pairs[2 * i];
        b->idx[i] = (size_t)pairs[2 * i + 1];
        if (i && b->ids[i] == b->ids[i - 1]) {
            item *it = &b->items[b->idx[i]], *prev = &b->items[b->idx[i - 1]];
            ctl_errf("%s:%d: request_id: %" PRIu64 " is also used by the document at line %d", name,
                     it->line > prev->line ? it->line : prev->line, b->ids[i],
                     it->line > prev->line ? prev->line : it->line);
            free(pairs);
            return -EINVAL;
        }
    }
    free(pairs);
    return 0;
}

/* Smallest id > *next not used explicitly by any document. */
static uint64_t next_free_id(const uint64_t *used, size_t n_used, uint64_t *next)
{
    for (;;) {
        uint64_t id = ++*next;
        if (!bsearch(&id, used, n_used, sizeof(uint64_t), cmp_u64))
            return id;
    }
}

/* Turn parsed documents into packed Submissions (defaults filled in). */
static int build_batch(const ctl *c, const char *name, lt_pbtext_doc *docs, size_t n, batch *b)
{
    uint64_t *used = malloc(n * sizeof(uint64_t) + 1), next = 0;
    size_t n_used = 0;

    if (!used || !(b->items = calloc(n ? n : 1, sizeof(item)))) {
        free(used);
        ctl_errf("out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (docs[i].msg->descriptor == &lienthong__v1__submission__descriptor) {
            const lt_submission *s = (const lt_submission *)docs[i].msg;
            if (s->has_request_id)
                used[n_used++] = s->request_id;
        }
    }
    qsort(used, n_used, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < n; i++, b->n++) {
        lt_submission wrap = LIENTHONG__V1__SUBMISSION__INIT, *s = &wrap;
        item *it = &b->items[i];
        if (docs[i].msg->descriptor == &lienthong__v1__event__descriptor) {
            if (!c->sender) {
                ctl_errf("%s:%d:%d: sender: a bare Event document needs --sender", name,
                         docs[i].line, docs[i].column);
                free(used);
                return -EINVAL;
            }
            wrap.event = (lt_event *)docs[i].msg;
        } else {
            s = (lt_submission *)docs[i].msg;
        }
        if (!s->has_version) {
            s->has_version = 1;
            s->version = 1;
        }
        if (!s->sender && c->sender) {
            if (s == &wrap)
                wrap.sender = (char *)c->sender; /* borrowed; wrap is never freed */
            else if (!(s->sender = strdup(c->sender)))
                goto nomem;
        }
        if (!s->has_request_id) {
            s->has_request_id = 1;
            s->request_id = next_free_id(used, n_used, &next);
        }
        it->request_id = s->request_id;
        it->line = docs[i].line;
        it->len = lienthong__v1__submission__get_packed_size(s);
        it->event_id = strdup(s->event && s->event->event_id ? s->event->event_id : "");
        it->dossier = strdup(s->event && s->event->dossier_code ? s->event->dossier_code : "");
        if (!it->event_id || !it->dossier || !(it->buf = malloc(it->len + 1)))
            goto nomem;
        lienthong__v1__submission__pack(s, it->buf);
    }
    free(used);
    return index_items(b, name);
nomem:
    b->n++;
    free(used);
    ctl_errf("out of memory");
    return -ENOMEM;
}

static void print_reply(const ctl *c, const lt_reply *r, const item *it, const char *name)
{
    if (c->json) {
        lt_pbtext_write_json(stdout, &r->base);
        fputc('\n', stdout);
        return;
    }
    const char *eid = r->event_id ? r->event_id : it->event_id;
    switch (r->outcome) {
    case LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED:
        printf("accepted  seq=%" PRIu64 " event_id=%s dossier=%s\n", r->seq, eid, it->dossier);
        break;
    case LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE:
        printf("duplicate seq=%" PRIu64 " event_id=%s dossier=%s\n", r->seq, eid, it->dossier);
        break;
    default:
        printf("rejected  code=%s field=%s event_id=%s doc=%s:%d: %s\n",
               lt_codec_error_name(r->code), r->field && r->field[0] ? r->field : "-", eid, name,
               it->line, r->message ? r->message : "");
        break;
    }
}

typedef struct tally {
    size_t accepted, duplicate, rejected, answered;
} tally;

/* Receive one reply (all frames), match and print it. */
static void handle_reply(const ctl *c, void *sock, batch *b, const char *name, tally *t)
{
    zmq_msg_t m;
    lt_reply *r = NULL;

    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0)
            break;
        if (!zmq_msg_more(&m)) {
            if (zmq_msg_size(&m) <= MAX_REPLY_BYTES)
                r = lienthong__v1__reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            break;
        }
    }
    zmq_msg_close(&m);
    if (!r) {
        ctl_errf("%s: undecodable reply ignored", c->endpoint);
        return;
    }
    ssize_t i = r->has_request_id ? find_item(b, r->request_id) : -1;
    if (i < 0 || b->items[i].answered) {
        ctl_errf("%s: reply for unknown request_id %" PRIu64 " ignored", c->endpoint,
                 r->request_id);
        lienthong__v1__reply__free_unpacked(r, NULL);
        return;
    }
    b->items[i].answered = true;
    t->answered++;
    if (r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED)
        t->accepted++;
    else if (r->outcome == LIENTHONG__V1__REPLY__OUTCOME__DUPLICATE)
        t->duplicate++;
    else
        t->rejected++;
    print_reply(c, r, &b->items[i], name);
    lienthong__v1__reply__free_unpacked(r, NULL);
}

/* Name the event ids that got no reply; returns EXIT_UNREACHABLE. */
static int report_missing(const ctl *c, const batch *b, const tally *t)
{
    fflush(stdout);
    fprintf(stderr, "lienthongctl: %s: no reply within %" PRIu64 " ms for %zu of %zu event(s)%s:",
            c->endpoint, c->timeout_ms, b->n - t->answered, b->n,
            t->answered ? "" : " (daemon unreachable?)");
    for (size_t i = 0; i < b->n; i++)
        if (!b->items[i].answered)
            fprintf(stderr, " %s", b->items[i].event_id[0] ? b->items[i].event_id : "(no id)");
    fputc('\n', stderr);
    return EXIT_UNREACHABLE;
}

/* Pipeline the batch over a DEALER with at most window in flight. */
static int send_batch(ctl *c, batch *b, const char *name)
{
    void *zctx = zmq_ctx_new(), *sock = NULL;
    int zero = 0, rc = EXIT_UNREACHABLE;
    size_t next = 0;
    tally t = { 0 };

    if (!zctx || !(sock = zmq_socket(zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_connect(sock, c->endpoint) < 0) {
        ctl_errf("%s: cannot connect: %s", c->endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    int64_t deadline = lt_time_mono_ms() + (int64_t)c->timeout_ms;
    while (t.answered < b->n) {
        while (next < b->n && next - t.answered < c->window) {
            if (zmq_send(sock, b->items[next].buf, b->items[next].len, ZMQ_DONTWAIT) < 0)
                break; /* EAGAIN: high-water mark; wait for replies */
            b->items[next++].sent = true;
        }
        zmq_pollitem_t pi = { .socket = sock, .events = ZMQ_POLLIN };
        int64_t left = deadline - lt_time_mono_ms();
        if (left <= 0) {
            rc = report_missing(c, b, &t);
            goto out;
        }
        int n = zmq_poll(&pi, 1, (long)left);
        if (n < 0 && zmq_errno() != EINTR) {
            ctl_errf("%s: poll: %s", c->endpoint, zmq_strerror(zmq_errno()));
            goto out;
        }
        if (n > 0 && (pi.revents & ZMQ_POLLIN)) {
            handle_reply(c, sock, b, name, &t);
            deadline = lt_time_mono_ms() + (int64_t)c->timeout_ms; /* timeout is per reply */
        }
    }
    fflush(stdout);
    fprintf(stderr, "lienthongctl: %zu published: %zu accepted, %zu duplicate, %zu rejected\n",
            b->n, t.accepted, t.duplicate, t.rejected);
    rc = t.rejected ? EXIT_REJECTED : EXIT_OK;
out:
    if (sock)
        zmq_close(sock);
    if (zctx)
        zmq_ctx_term(zctx);
    return rc;
}

int ctl_cmd_publish(ctl *c, const char *path)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    lt_pbtext_doc *docs = NULL;
    batch b = { 0 };
    lt_diag d;
    int rc = EXIT_USAGE;

    if (ctl_load_config(c, c->endpoint != NULL) < 0)
        return EXIT_USAGE;
    if (!c->endpoint)
        c->endpoint = c->cfg->ingest_endpoint;
    if (read_input(path, &text, &len) < 0)
        return EXIT_USAGE;
    lt_diag_clear(&d);
    if (lt_pbtext_parse(path, text, len, &lienthong__v1__submission__descriptor, pick_doc, NULL,
                        &docs, &n, &d) < 0) {
        ctl_diag_err(&d);
        goto out;
    }
    if (!n) {
        ctl_errf("%s: no documents", path);
        goto out;
    }
    if (build_batch(c, path, docs, n, &b) < 0)
        goto out;
    lt_pbtext_docs_free(&docs, n);
    rc = send_batch(c, &b, path);
out:
    lt_pbtext_docs_free(&docs, n);
    batch_free(&b);
    free(text);
    return rc;
}
