/* lienthongctl.c - the operator's CLI: publish events to lienthongd, read the
 * store (show a dossier, list the log, stats) while the daemon runs.
 *
 * Exit status: 0 success; 1 a submission was rejected, or an unknown dossier;
 * 2 usage, config, input or store error; 3 daemon unreachable or a reply
 * timed out. Reference: docs/CLI.md.
 */
#include "config.h"
#include "error.h"
#include "pbtext.h"
#include "store.h"
#include "timefmt.h"
#include "validate.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#ifndef LT_VERSION
#define LT_VERSION "0.1.0"
#endif

#define DEFAULT_CONFIG  "config/lienthong.yaml"
#define SYSTEM_CONFIG   "/etc/lienthong/lienthong.yaml"
#define MAX_INPUT_BYTES (256u << 20) /* publish input read into memory */
#define MAX_REPLY_BYTES (1u << 20)

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

typedef struct ctl {
    const char *config_path; /* -c, or NULL for the default search */
    const char *endpoint;    /* --endpoint override */
    const char *data_dir;    /* --data-dir override */
    bool json;
    uint64_t window, timeout_ms, from, limit;
    const char *sender;
    lt_config *cfg; /* NULL when no config was needed or found */
} ctl;

static const char *const mask_fields[] = { "id_number", NULL };
static const char *const status_skip[] = { "status", NULL };
static const lt_pbtext_text_opts human = { .mask = mask_fields };
static const lt_pbtext_text_opts human_status = { .mask = mask_fields, .skip = status_skip };

static void short_usage(void)
{
    fputs("usage: lienthongctl [-c FILE] [--json] COMMAND ... (publish, show, events, stats);\n"
          "       lienthongctl --help for details\n",
          stderr);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lienthongctl [-c FILE] [--json] [--endpoint EP] [--data-dir DIR] COMMAND ...\n"
            "\n"
            "commands:\n"
            "  publish FILE|-  [--window N] [--sender NAME] [--timeout-ms N]\n"
            "                  send YAML/JSON Submission or Event documents, one reply line each\n"
            "  show DOSSIER_CODE   the dossier's timeline, oldest first, and its state\n"
            "  events [--from SEQ] [--limit N]   the event log (default from 1, limit 100)\n"
            "  stats           events by kind, dossiers by status, store size and map usage\n"
            "\n"
            "options:\n"
            "  -c, --config FILE  daemon config (default " DEFAULT_CONFIG " if present, else\n"
            "                     " SYSTEM_CONFIG ")\n"
            "      --endpoint EP  ingest endpoint instead of the config's ingest.endpoint\n"
            "      --data-dir DIR store directory instead of the config's data_dir\n"
            "      --json         one JSON object per line (applicant id_number unmasked)\n"
            "  -h, --help         this help\n"
            "      --version      print the version\n"
            "\n"
            "exit status: 0 ok; 1 rejected submission or unknown dossier; 2 usage, config,\n"
            "input or store error; 3 daemon unreachable or no reply in time\n");
}

/* Print "lienthongctl: message" on stderr. */
static void errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errf(const char *fmt, ...)
{
    va_list ap;

    fputs("lienthongctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void diag_err(const lt_diag *d)
{
    char buf[1024];

    lt_diag_format(d, buf, sizeof(buf));
    errf("%s", buf);
}

/* Full-parse an unsigned option value in [min, max]. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || s[0] == '-' || *end || errno == ERANGE || v < min || v > max) {
        errf("%s: \"%s\" is not an integer in [%" PRIu64 ", %" PRIu64 "]", opt, s, min, max);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

/* Load the config: -c must exist; otherwise the first default that exists.
 * A missing default is fine when need_key is overridden on the command line. */
static int load_config(ctl *c, bool overridden)
{
    lt_diag d;
    const char *path = c->config_path;
    int r;

    if (!path) {
        if (access(DEFAULT_CONFIG, F_OK) == 0)
            path = DEFAULT_CONFIG;
        else if (access(SYSTEM_CONFIG, F_OK) == 0)
            path = SYSTEM_CONFIG;
        else if (overridden)
            return 0;
        else {
            errf("no config: neither %s nor %s exists; use -c FILE", DEFAULT_CONFIG, SYSTEM_CONFIG);
            return -ENOENT;
        }
    }
    lt_diag_clear(&d);
    if ((r = lt_config_load(path, &c->cfg, &d)) < 0) {
        if (d.message[0])
            diag_err(&d);
        else
            errf("%s: %s", path, lt_strerror(r));
        return r;
    }
    return 0;
}

/* ------------------------------------------------------------------ publish */

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
        errf("%s: cannot open: %s", path, strerror(e));
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
        errf("%s: cannot read (larger than %u MiB?)", path, MAX_INPUT_BYTES >> 20);
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
        errf("out of memory");
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
            errf("%s:%d: request_id: %" PRIu64 " is also used by the document at line %d", name,
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
        errf("out of memory");
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
                errf("%s:%d:%d: sender: a bare Event document needs --sender", name, docs[i].line,
                     docs[i].column);
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
    errf("out of memory");
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
        errf("%s: undecodable reply ignored", c->endpoint);
        return;
    }
    ssize_t i = r->has_request_id ? find_item(b, r->request_id) : -1;
    if (i < 0 || b->items[i].answered) {
        errf("%s: reply for unknown request_id %" PRIu64 " ignored", c->endpoint, r->request_id);
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
        errf("%s: cannot connect: %s", c->endpoint, zmq_strerror(zmq_errno()));
        goto out;
    }
    int64_t deadline = now_ms() + (int64_t)c->timeout_ms;
    while (t.answered < b->n) {
        while (next < b->n && next - t.answered < c->window) {
            if (zmq_send(sock, b->items[next].buf, b->items[next].len, ZMQ_DONTWAIT) < 0)
                break; /* EAGAIN: high-water mark; wait for replies */
            b->items[next++].sent = true;
        }
        zmq_pollitem_t pi = { .socket = sock, .events = ZMQ_POLLIN };
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            rc = report_missing(c, b, &t);
            goto out;
        }
        int n = zmq_poll(&pi, 1, (long)left);
        if (n < 0 && zmq_errno() != EINTR) {
            errf("%s: poll: %s", c->endpoint, zmq_strerror(zmq_errno()));
            goto out;
        }
        if (n > 0 && (pi.revents & ZMQ_POLLIN)) {
            handle_reply(c, sock, b, name, &t);
            deadline = now_ms() + (int64_t)c->timeout_ms; /* timeout is per reply */
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

static int cmd_publish(ctl *c, const char *path)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    lt_pbtext_doc *docs = NULL;
    batch b = { 0 };
    lt_diag d;
    int rc = EXIT_USAGE;

    if (load_config(c, c->endpoint != NULL) < 0)
        return EXIT_USAGE;
    if (!c->endpoint)
        c->endpoint = c->cfg->ingest_endpoint;
    if (read_input(path, &text, &len) < 0)
        return EXIT_USAGE;
    lt_diag_clear(&d);
    if (lt_pbtext_parse(path, text, len, &lienthong__v1__submission__descriptor, pick_doc, NULL,
                        &docs, &n, &d) < 0) {
        diag_err(&d);
        goto out;
    }
    if (!n) {
        errf("%s: no documents", path);
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

/* ------------------------------------------------------------ read commands */

static int open_store(ctl *c, lt_store **ret)
{
    lt_diag d;
    int r;

    if (load_config(c, c->data_dir != NULL) < 0)
        return -EINVAL;
    if (!c->data_dir)
        c->data_dir = c->cfg->data_dir;
    lt_store_opts o = {
        .dir = c->data_dir,
        .read_only = true,
        .max_readers = c->cfg ? (unsigned)c->cfg->max_readers : 0,
    };
    lt_diag_clear(&d);
    if ((r = lt_store_open(&o, ret, NULL, &d)) < 0) {
        if (d.message[0])
            errf("%s", d.message);
        else
            errf("%s: cannot open the store: %s", c->data_dir, lt_strerror(r));
        return r;
    }
    return 0;
}

/* Print label, then m's fields (if any) after one space. */
static void print_labelled(const char *label, const ProtobufCMessage *m,
                           const lt_pbtext_text_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    fputs(label, stdout);
    if (!f)
        return;
    lt_pbtext_write_text(f, m, o);
    fclose(f);
    if (buf && len)
        printf(" %s", buf);
    free(buf);
}

/* One-line summary of an event body for human output. */
static void print_body(const lt_event *ev)
{
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_STATUS && ev->status)
        print_labelled(lt_status_name(ev->status->status), &ev->status->base, &human_status);
    else if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && ev->result)
        print_labelled("RESULT", &ev->result->base, &human);
    else
        printf("(no body)");
}

static const char *str_or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

/* JSON line or object for one log entry: {"seq":N, StoredEvent fields...}. */
static void json_entry(uint64_t seq, const lt_stored_event *ev)
{
    bool first = false;

    printf("{\"seq\":%" PRIu64, seq);
    lt_pbtext_write_json_fields(stdout, &ev->base, &first);
    putchar('}');
}

typedef struct walk {
    const ctl *c;
    size_t count;
    bool timeline; /* show: omit the dossier column */
} walk;

static int print_entry(uint64_t seq, const lt_stored_event *se, void *arg)
{
    walk *w = arg;
    const lt_event *ev = se->event;

    if (w->c->json) {
        if (w->timeline)
            fputs(w->count ? "," : "", stdout);
        json_entry(seq, se);
        if (!w->timeline)
            putchar('\n');
        w->count++;
        return 0;
    }
    w->count++;
    if (!ev) {
        printf("%8" PRIu64 "  (empty event) sender=%s\n", seq, str_or_dash(se->sender));
        return 0;
    }
    printf("%8" PRIu64 "  %-25s  %-16s  ", seq, str_or_dash(ev->occurred_at),
           str_or_dash(se->sender));
    if (!w->timeline)
        printf("%-24s  ", str_or_dash(ev->dossier_code));
    printf("%-20s  ", str_or_dash(ev->event_id));
    print_body(ev);
    putchar('\n');
    return 0;
}

static void print_time(const char *label, int64_t sec)
{
    char buf[32];

    lt_time_format(sec, buf, sizeof(buf));
    printf("  %-12s %s\n", label, buf);
}

/* Human rendering of a dossier's state, with on-time verdict. */
static void print_state(const lt_dossier_state *st)
{
    printf("state\n  %-12s %s\n", "status", lt_status_name(st->status));
    printf("  %-12s %s\n", "procedure", str_or_dash(st->procedure_code));
    if (st->has_received_at)
        print_time("received_at", st->received_at);
    if (st->has_due_at)
        print_time("due_at", st->due_at);
    if (st->has_finished_at && st->finished_at)
        print_time("finished_at", st->finished_at);
    if (st->has_returned_at && st->returned_at)
        print_time("returned_at", st->returned_at);
    printf("  %-12s %" PRIu32 " (seq %" PRIu64 "..%" PRIu64 ")\n", "events", st->events,
           st->first_seq, st->last_seq);
    if (!st->has_due_at || !st->due_at)
        return;
    if (st->has_finished_at && st->finished_at)
        printf("  %-12s %s\n", "timeliness",
               st->finished_at <= st->due_at ? "on time" : "late (finished after due_at)");
    else if (time(NULL) > st->due_at)
        printf("  %-12s %s\n", "timeliness", "overdue (not finished, past due_at)");
}

static int cmd_show(ctl *c, const char *code)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    lt_dossier_state *st = NULL;
    walk w = { .c = c, .timeline = true };
    int r, rc = EXIT_USAGE;

    if (open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if ((r = lt_store_get_state(t, code, &st)) == LT_ERR_NOT_FOUND) {
        errf("dossier %s: not found in %s", code, c->data_dir);
        rc = EXIT_REJECTED;
        goto out;
    }
    if (r < 0) {
        errf("dossier %s: %s", code, lt_strerror(r));
        goto out;
    }
    if (c->json) {
        printf("{\"dossier_code\":");
        lt_pbtext_write_json_string(stdout, code, strlen(code));
        printf(",\"state\":");
        lt_pbtext_write_json(stdout, &st->base);
        printf(",\"events\":[");
    } else {
        printf("dossier %s\n%8s  %-25s  %-16s  %-20s  %s\n", code, "seq", "occurred_at", "sender",
               "event_id", "body");
    }
    if ((r = lt_store_walk_dossier(t, code, print_entry, &w)) < 0) {
        fflush(stdout);
        errf("dossier %s: %s", code, lt_strerror(r));
        goto out;
    }
    if (c->json)
        printf("]}\n");
    else
        print_state(st);
    rc = EXIT_OK;
out:
    if (st)
        lienthong__v1__dossier_state__free_unpacked(st, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

static int cmd_events(ctl *c)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    walk w = { .c = c };
    int r, rc = EXIT_USAGE;

    if (open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if (!c->json)
        printf("%8s  %-25s  %-16s  %-24s  %-20s  %s\n", "seq", "occurred_at", "sender", "dossier",
               "event_id", "body");
    if ((r = lt_store_walk_log(t, c->from, c->limit, print_entry, &w)) < 0) {
        fflush(stdout);
        errf("%s: log from seq %" PRIu64 ": %s", c->data_dir, c->from, lt_strerror(r));
        goto out;
    }
    if (!w.count && !c->json)
        fprintf(stderr, "lienthongctl: no events from seq %" PRIu64 "\n", c->from);
    rc = EXIT_OK;
out:
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void stats_json(const lt_store_stats *st)
{
    printf("{\"last_seq\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"events_by_kind\":{\"status\":%" PRIu64 ",\"result\":%" PRIu64 "}"
           ",\"dossiers\":%" PRIu64 ",\"dossiers_by_status\":{",
           st->last_seq, st->events, st->status_events, st->result_events, st->dossiers);
    for (int i = 1; i <= 10; i++)
        printf("%s\"%s\":%" PRIu64, i > 1 ? "," : "", lt_status_name(i), st->by_status[i]);
    printf("},\"file_size\":%" PRIu64 ",\"map_size\":%" PRIu64 ",\"map_used\":%" PRIu64
           ",\"map_used_pct\":%.2f,\"readers_used\":%u,\"max_readers\":%u}\n",
           st->file_size, st->map_size, st->map_used, pct(st->map_used, st->map_size),
           st->readers_used, st->max_readers);
}

/* Format a byte count with a binary unit. */
static const char *human_size(uint64_t n, char *buf, size_t size)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;

    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

static void stats_human(const lt_store_stats *st, const char *dir)
{
    printf("store        %s\n", dir);
    printf("last_seq     %" PRIu64 "\n", st->last_seq);
    printf("events       %" PRIu64 " (status %" PRIu64 ", result %" PRIu64 ")\n", st->events,
           st->status_events, st->result_events);
    printf("dossiers     %" PRIu64 "\n", st->dossiers);
    for (int i = 1; i <= 10; i++)
        if (st->by_status[i])
            printf("  %-22s %" PRIu64 "\n", lt_status_name(i), st->by_status[i]);
    char a[32], b[32];
    printf("file size    %s (%" PRIu64 " bytes)\n", human_size(st->file_size, a, sizeof(a)),
           st->file_size);
    printf("map          %s of %s used, %.2f%% (%" PRIu64 " of %" PRIu64 " bytes)\n",
           human_size(st->map_used, a, sizeof(a)), human_size(st->map_size, b, sizeof(b)),
           pct(st->map_used, st->map_size), st->map_used, st->map_size);
    printf("readers      %u of %u in use\n", st->readers_used, st->max_readers);
}

static int cmd_stats(ctl *c)
{
    lt_store *s = NULL;
    lt_store_stats st;
    int r;

    if (open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_stats_get(s, &st)) < 0) {
        errf("%s: stats: %s", c->data_dir, lt_strerror(r));
        lt_store_close(&s);
        return EXIT_USAGE;
    }
    if (c->json)
        stats_json(&st);
    else
        stats_human(&st, c->data_dir);
    lt_store_close(&s);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ main */

enum {
    OPT_JSON = 256,
    OPT_ENDPOINT,
    OPT_DATA_DIR,
    OPT_WINDOW,
    OPT_SENDER,
    OPT_TIMEOUT,
    OPT_FROM,
    OPT_LIMIT,
    OPT_VERSION,
};

/* Which command each command-specific option belongs to. */
static const char *opt_owner(int o)
{
    switch (o) {
    case OPT_WINDOW:
    case OPT_SENDER:
    case OPT_TIMEOUT:
        return "publish";
    case OPT_FROM:
    case OPT_LIMIT:
        return "events";
    default:
        return NULL;
    }
}

static int run(ctl *c, int argc, char **argv, const char *cmd)
{
    if (!strcmp(cmd, "publish") && argc == 2)
        return cmd_publish(c, argv[1]);
    if (!strcmp(cmd, "show") && argc == 2)
        return cmd_show(c, argv[1]);
    if (!strcmp(cmd, "events") && argc == 1)
        return cmd_events(c);
    if (!strcmp(cmd, "stats") && argc == 1)
        return cmd_stats(c);
    if (strcmp(cmd, "publish") && strcmp(cmd, "show") && strcmp(cmd, "events") &&
        strcmp(cmd, "stats"))
        errf("unknown command \"%s\"", cmd);
    else
        errf("%s: wrong number of arguments", cmd);
    short_usage();
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "data-dir", required_argument, NULL, OPT_DATA_DIR },
        { "window", required_argument, NULL, OPT_WINDOW },
        { "sender", required_argument, NULL, OPT_SENDER },
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
        { "from", required_argument, NULL, OPT_FROM },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    ctl c = { .window = 64, .timeout_ms = 5000, .from = 1, .limit = 100 };
    const char *owner_seen[2] = { NULL, NULL }; /* an option and the command it needs */
    int o, rc;

    opterr = 0;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'c':
            c.config_path = optarg;
            break;
        case OPT_JSON:
            c.json = true;
            break;
        case OPT_ENDPOINT:
            c.endpoint = optarg;
            break;
        case OPT_DATA_DIR:
            c.data_dir = optarg;
            break;
        case OPT_WINDOW:
            r = parse_u64("--window", optarg, 1, 100000, &c.window);
            break;
        case OPT_SENDER:
            c.sender = optarg;
            break;
        case OPT_TIMEOUT:
            r = parse_u64("--timeout-ms", optarg, 1, 86400000, &c.timeout_ms);
            break;
        case OPT_FROM:
            r = parse_u64("--from", optarg, 0, UINT64_MAX, &c.from);
            break;
        case OPT_LIMIT:
            r = parse_u64("--limit", optarg, 0, UINT64_MAX, &c.limit);
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case OPT_VERSION:
            printf("lienthongctl %s\n", LT_VERSION);
            return EXIT_OK;
        default:
            if (optopt && optopt < 256)
                errf("option -%c: unknown or missing its value", optopt);
            else
                errf("option %s: unknown or missing its value", argv[optind - 1]);
            short_usage();
            return EXIT_USAGE;
        }
        if (r < 0)
            return EXIT_USAGE;
        if (opt_owner(o)) {
            for (const struct option *p = opts; p->name; p++)
                if (p->val == o)
                    owner_seen[0] = p->name;
            owner_seen[1] = opt_owner(o);
        }
    }
    if (optind >= argc) {
        errf("no command given");
        short_usage();
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    if (owner_seen[1] && strcmp(owner_seen[1], cmd)) {
        errf("option --%s belongs to \"%s\", not \"%s\"", owner_seen[0], owner_seen[1], cmd);
        short_usage();
        return EXIT_USAGE;
    }
    rc = run(&c, argc - optind, argv + optind, cmd);
    lt_config_free(&c.cfg);
    if (fflush(stdout) != 0) {
        errf("stdout: %s", strerror(errno));
        return EXIT_USAGE;
    }
    return rc;
}
