/* ops.c - lienthongctl queues, dead, pause and resume: the agency links.
 *
 * What changes delivery state (pause, resume, requeue, drop) goes to the
 * daemon over the control socket (a DEALER to its ROUTER, one
 * ControlRequest, one ControlReply): the daemon is the store's only writer.
 * What only reads (dead list, dead show, and queues when the daemon does not
 * answer) reads the store read-only. Wire: proto/lienthong/v1/control.proto.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "ctl.h"
#include "lienthong/v1/control.pb-c.h"
#include "timefmt.h"

#define CONTROL_TIMEOUT_MS 1000
#define MAX_REPLY_BYTES    (1u << 20)

#define CMD(x) LIENTHONG__V1__CONTROL_REQUEST__COMMAND__##x

typedef Lienthong__V1__ControlReply control_reply;

/* The control endpoint: --control, the config's, or the default under
 * --data-dir. Prints the error. */
static const char *control_endpoint(ctl *c, char *buf, size_t size)
{
    if (c->control)
        return c->control;
    if (ctl_load_config(c, c->data_dir != NULL) < 0)
        return NULL;
    if (c->cfg && !c->data_dir)
        return c->cfg->control_endpoint;
    snprintf(buf, size, "ipc://%s/control.sock", c->data_dir);
    return buf;
}

static long control_timeout(const ctl *c)
{
    return c->timeout_set ? (long)c->timeout_ms : CONTROL_TIMEOUT_MS;
}

/* Send one request and wait for its reply. [out] ret: free with
 * lienthong__v1__control_reply__free_unpacked(). [out] why: the reason when
 * there is no reply. Returns 0, or -ETIMEDOUT / -ENOENT (no ipc socket) /
 * -EPROTO (undecodable) / another -errno. */
static int control_call(const ctl *c, const char *ep, int command, const char *agency, uint64_t seq,
                        control_reply **ret, char *why, size_t why_size)
{
    Lienthong__V1__ControlRequest q = LIENTHONG__V1__CONTROL_REQUEST__INIT;
    void *zctx = NULL, *sock = NULL;
    int zero = 0, r = -ETIMEDOUT;
    uint8_t buf[512];

    *ret = NULL;
    /* an ipc endpoint without its socket file: the daemon is not running */
    if (!strncmp(ep, "ipc://", 6) && access(ep + 6, F_OK) < 0) {
        snprintf(why, why_size, "no socket %s", ep + 6);
        return -ENOENT;
    }
    q.has_version = true;
    q.version = 1;
    q.has_command = true;
    q.command = command;
    q.agency = (char *)agency;
    q.has_seq = seq != 0;
    q.seq = seq;
    size_t len = lienthong__v1__control_request__get_packed_size(&q);
    if (len > sizeof(buf)) {
        snprintf(why, why_size, "request too large");
        return -E2BIG;
    }
    lienthong__v1__control_request__pack(&q, buf);
    if (!(zctx = zmq_ctx_new()) || !(sock = zmq_socket(zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 || zmq_connect(sock, ep) < 0 ||
        zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0) {
        r = -zmq_errno();
        snprintf(why, why_size, "cannot connect: %s", zmq_strerror(zmq_errno()));
        goto out;
    }
    int64_t deadline = lt_time_mono_ms() + control_timeout(c);
    for (;;) {
        zmq_pollitem_t pi = { .socket = sock, .events = ZMQ_POLLIN };
        int64_t left = deadline - lt_time_mono_ms();
        if (left <= 0) {
            snprintf(why, why_size, "no reply within %ld ms", control_timeout(c));
            r = -ETIMEDOUT;
            goto out;
        }
        int n = zmq_poll(&pi, 1, (long)left);
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        if (n < 0) {
            r = -zmq_errno();
            snprintf(why, why_size, "poll: %s", zmq_strerror(zmq_errno()));
            goto out;
        }
        if (n > 0)
            break;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0) { /* the last frame is the reply */
        if (!zmq_msg_more(&m)) {
            if (zmq_msg_size(&m) <= MAX_REPLY_BYTES)
                *ret =
                    lienthong__v1__control_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            break;
        }
    }
    zmq_msg_close(&m);
    r = *ret ? 0 : -EPROTO;
    if (!*ret)
        snprintf(why, why_size, "the reply does not decode as a ControlReply");
out:
    if (sock)
        zmq_close(sock);
    if (zctx)
        zmq_ctx_term(zctx);
    return r;
}

/* ------------------------------------------------------------------ queues */

static void print_link_header(void)
{
    printf("%-12s %-10s %-9s %8s %6s %6s %8s %8s %9s  %s\n", "agency", "state", "in_flight",
           "pending", "held", "dead", "oldest", "attempts", "delivered", "last_error");
}

/* One row; live false: the daemon did not answer, live columns are "?". */
static void print_link(const Lienthong__V1__LinkStatus *l, bool live, int64_t now)
{
    char flight[32] = "?", age[32] = "-", delivered[32] = "?";

    if (live) {
        snprintf(flight, sizeof(flight), "%" PRIu32 "/%" PRIu32, l->in_flight, l->window);
        snprintf(delivered, sizeof(delivered), "%" PRIu64, l->delivered);
    }
    if (l->has_oldest_pending_ms && l->pending)
        ctl_age(now - l->oldest_pending_ms, age, sizeof(age));
    printf("%-12s %-10s %-9s %8" PRIu64 " %6" PRIu64 " %6" PRIu64 " %8s %8" PRIu32 " %9s  ",
           ctl_str_or_dash(l->agency), live ? ctl_str_or_dash(l->state) : "?", flight, l->pending,
           l->held, l->dead, age, l->max_attempts_pending, delivered);
    if (l->last_error && l->last_error[0])
        lt_pbtext_write_json_string(stdout, l->last_error, strlen(l->last_error));
    else
        putchar('-');
    putchar('\n');
}

static void print_links_json(Lienthong__V1__LinkStatus *const *links, size_t n, bool live)
{
    printf("{\"daemon_running\":%s,\"links\":[", live ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        fputs(i ? "," : "", stdout);
        lt_pbtext_write_json(stdout, &links[i]->base);
    }
    printf("]}\n");
}

/* Was agency paused by an operator (links database)? */
static bool stored_paused(lt_store_txn *t, const char *agency)
{
    void *val;
    size_t len;
    bool paused = false;

    if (lt_store_kv_get(t, LT_STORE_DB_LINKS, agency, strlen(agency), &val, &len) == 0) {
        Lienthong__V1__LinkState *ls = lienthong__v1__link_state__unpack(NULL, len, val);
        paused = ls && ls->paused;
        lienthong__v1__link_state__free_unpacked(ls, NULL);
        free(val);
    }
    return paused;
}

/* The daemon did not answer: the store's figures for each configured agency. */
static int queues_from_store(ctl *c, const char *ep, const char *why)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    int r, rc = EXIT_UNREACHABLE;

    if (!c->cfg) {
        ctl_errf("%s: daemon not running (%s), and without a config the agencies are unknown", ep,
                 why);
        return EXIT_UNREACHABLE;
    }
    if (ctl_open_store(c, &s) < 0) {
        ctl_errf("%s: daemon not running (%s)", ep, why);
        return EXIT_UNREACHABLE;
    }
    size_t n = c->cfg->n_agencies;
    Lienthong__V1__LinkStatus *ls = calloc(n + 1, sizeof(*ls));
    Lienthong__V1__LinkStatus **lp = calloc(n + 1, sizeof(*lp));
    lt_outbox_counts *cnt = calloc(n + 1, sizeof(*cnt));
    if (!ls || !lp || !cnt) {
        ctl_errf("out of memory");
        goto out;
    }
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = c->cfg->agencies[i].name;
        if ((r = lt_outbox_count(t, name, &cnt[i])) < 0) {
            ctl_errf("%s: counting the outbox of %s: %s", c->data_dir, name, lt_strerror(r));
            goto out;
        }
        lienthong__v1__link_status__init(&ls[i]);
        lp[i] = &ls[i];
        ls[i].agency = (char *)name;
        if (stored_paused(t, name))
            ls[i].state = "paused";
        ls[i].has_pending = ls[i].has_held = ls[i].has_dead = true;
        ls[i].pending = cnt[i].pending;
        ls[i].held = cnt[i].held;
        ls[i].dead = cnt[i].dead;
        ls[i].has_oldest_pending_ms = cnt[i].oldest_created_ms != 0;
        ls[i].oldest_pending_ms = cnt[i].oldest_created_ms;
        ls[i].has_max_attempts_pending = true;
        ls[i].max_attempts_pending = cnt[i].max_attempts;
        ls[i].last_error = cnt[i].last_error[0] ? cnt[i].last_error : NULL;
    }
    if (c->json) {
        print_links_json(lp, n, false);
    } else {
        printf("daemon not running (%s: %s): store counts only, live columns unknown\n", ep, why);
        print_link_header();
        int64_t now = lt_time_now_ms();
        for (size_t i = 0; i < n; i++) {
            print_link(lp[i], false, now);
            if (ls[i].state) /* paused is stored: say so */
                printf("%-12s (paused by an operator)\n", "");
        }
    }
    rc = EXIT_OK;
out:
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    free(ls);
    free(lp);
    free(cnt);
    return rc;
}

int ctl_cmd_queues(ctl *c)
{
    char buf[400], why[256];
    control_reply *rep = NULL;
    const char *ep = control_endpoint(c, buf, sizeof(buf));

    if (!ep)
        return EXIT_USAGE;
    if (control_call(c, ep, CMD(QUEUES), NULL, 0, &rep, why, sizeof(why)) < 0)
        return queues_from_store(c, ep, why);
    if (!rep->ok) {
        ctl_errf("%s: %s", ep, ctl_str_or_dash(rep->message));
        lienthong__v1__control_reply__free_unpacked(rep, NULL);
        return EXIT_REJECTED;
    }
    if (c->json) {
        print_links_json(rep->links, rep->n_links, true);
    } else {
        int64_t now = lt_time_now_ms();
        print_link_header();
        for (size_t i = 0; i < rep->n_links; i++)
            print_link(rep->links[i], true, now);
        if (!rep->n_links)
            ctl_errf("no agencies configured in the daemon");
    }
    lienthong__v1__control_reply__free_unpacked(rep, NULL);
    return EXIT_OK;
}

/* ----------------------------------------------------- commands via control */

/* Run a state-changing command; print the daemon's message.
 * need_affected: exit 1 when nothing was changed (a named dead letter). */
static int control_command(ctl *c, int command, const char *agency, uint64_t seq,
                           bool need_affected)
{
    char buf[400], why[256];
    control_reply *rep = NULL;
    const char *ep = control_endpoint(c, buf, sizeof(buf));
    int rc;

    if (!ep)
        return EXIT_USAGE;
    if (control_call(c, ep, command, agency, seq, &rep, why, sizeof(why)) < 0) {
        ctl_errf("%s: daemon not running (%s); nothing changed", ep, why);
        return EXIT_UNREACHABLE;
    }
    if (c->json) {
        lt_pbtext_write_json(stdout, &rep->base);
        putchar('\n');
    }
    if (!rep->ok) {
        ctl_errf("%s", ctl_str_or_dash(rep->message));
        rc = EXIT_REJECTED;
    } else if (need_affected && rep->affected == 0) {
        ctl_errf("no dead letter of %s at seq %" PRIu64 "; nothing changed", agency, seq);
        rc = EXIT_REJECTED;
    } else {
        if (!c->json)
            printf("%s\n", ctl_str_or_dash(rep->message));
        rc = EXIT_OK;
    }
    lienthong__v1__control_reply__free_unpacked(rep, NULL);
    return rc;
}

int ctl_cmd_pause(ctl *c, const char *agency, bool pause)
{
    return control_command(c, pause ? CMD(PAUSE) : CMD(RESUME), agency, 0, false);
}

/* -------------------------------------------------------------------- dead */

/* One reason of `dead reasons`: a normalised last_error and how many share it. */
typedef struct reason_count {
    char *agency, *reason, *example; /* example: one dossier with it */
    size_t n;
} reason_count;

typedef struct dead_walk {
    const ctl *c;
    int64_t now;
    size_t n;
    bool by_reason;   /* dead reasons */
    reason_count *rc; /* the groups so far */
    size_t n_rc, cap_rc;
    int err;
} dead_walk;

/* Copy src to dst (size > 0), replacing each occurrence of what with with. */
static void replace_all(char *dst, size_t size, const char *src, const char *what, const char *with)
{
    size_t n = 0, wl = strlen(what), tl = strlen(with);
    while (*src && n + 1 < size) {
        if (wl && strncmp(src, what, wl) == 0 && n + tl + 1 < size) {
            memcpy(dst + n, with, tl);
            n += tl;
            src += wl;
        } else {
            dst[n++] = *src++;
        }
    }
    dst[n] = '\0';
}

/* The reason of a dead letter, for grouping: its last_error without what
 * names this one delivery (the dossier code, the attempt count). */
void ctl_dead_reason(const char *last_error, const char *dossier, char *buf, size_t size)
{
    char a[1024], b[1024], pat[300];
    const char *s = last_error && last_error[0] ? last_error : "(no error recorded)";

    snprintf(a, sizeof(a), "%s", s);
    if (dossier && dossier[0]) {
        snprintf(pat, sizeof(pat), "dossier %s: ", dossier);
        replace_all(b, sizeof(b), a, pat, "");
        replace_all(a, sizeof(a), b, dossier, "DOSSIER");
    }
    /* "after 3 attempts" -> "after N attempts" */
    size_t n = 0;
    for (const char *p = a; *p && n + 1 < sizeof(b);) {
        if (strncmp(p, "after ", 6) == 0 && p[6] >= '0' && p[6] <= '9') {
            const char *q = p + 6;
            while (*q >= '0' && *q <= '9')
                q++;
            if (strncmp(q, " attempt", 8) == 0 && n + 8 < sizeof(b)) {
                memcpy(b + n, "after N", 7);
                n += 7;
                p = q;
                continue;
            }
        }
        b[n++] = *p++;
    }
    b[n] = '\0';
    snprintf(buf, size, "%s", b);
}

static int count_reason(dead_walk *w, const lt_delivery *d)
{
    char reason[1024];
    ctl_dead_reason(d->last_error, d->dossier_code, reason, sizeof(reason));
    const char *agency = d->agency ? d->agency : "";
    for (size_t i = 0; i < w->n_rc; i++)
        if (!strcmp(w->rc[i].agency, agency) && !strcmp(w->rc[i].reason, reason)) {
            w->rc[i].n++;
            return 0;
        }
    if (w->n_rc == w->cap_rc) {
        size_t cap = w->cap_rc ? w->cap_rc * 2 : 16;
        reason_count *n = realloc(w->rc, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        w->rc = n;
        w->cap_rc = cap;
    }
    reason_count *r = &w->rc[w->n_rc];
    r->agency = strdup(agency);
    r->reason = strdup(reason);
    r->example = strdup(d->dossier_code ? d->dossier_code : "");
    r->n = 1;
    if (!r->agency || !r->reason || !r->example) {
        free(r->agency);
        free(r->reason);
        free(r->example);
        return -ENOMEM;
    }
    w->n_rc++;
    return 0;
}

static int print_dead(const lt_delivery *d, void *arg)
{
    dead_walk *w = arg;
    char age[32];

    if (w->c->reason && !(d->last_error && strstr(d->last_error, w->c->reason)))
        return 0;
    if (w->by_reason) {
        w->n++;
        return (w->err = count_reason(w, d)) < 0 ? 1 : 0;
    }
    w->n++;
    if (w->c->json) {
        lt_pbtext_write_json(stdout, &d->base);
        putchar('\n');
        return 0;
    }
    printf("%-12s %8" PRIu64 "  %-24s %8" PRIu32 " %8s  ", ctl_str_or_dash(d->agency), d->seq,
           ctl_str_or_dash(d->dossier_code), d->attempts,
           ctl_age(w->now - d->created_ms, age, sizeof(age)));
    if (d->last_error && d->last_error[0])
        lt_pbtext_write_json_string(stdout, d->last_error, strlen(d->last_error));
    else
        putchar('-');
    putchar('\n');
    return 0;
}

static bool agency_known(const ctl *c, const char *agency)
{
    if (!c->cfg)
        return true; /* --data-dir without a config: cannot tell */
    for (size_t i = 0; i < c->cfg->n_agencies; i++)
        if (!strcmp(c->cfg->agencies[i].name, agency))
            return true;
    return false;
}

static int by_count(const void *a, const void *b)
{
    const reason_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    int r = strcmp(x->agency, y->agency);
    return r ? r : strcmp(x->reason, y->reason);
}

static void print_reasons(const dead_walk *w)
{
    qsort(w->rc, w->n_rc, sizeof(*w->rc), by_count);
    if (!w->c->json)
        printf("%8s  %-12s %-24s  %s\n", "count", "agency", "example", "reason");
    for (size_t i = 0; i < w->n_rc; i++) {
        const reason_count *r = &w->rc[i];
        if (w->c->json) {
            printf("{\"agency\":");
            lt_pbtext_write_json_string(stdout, r->agency, strlen(r->agency));
            printf(",\"count\":%zu,\"example\":", r->n);
            lt_pbtext_write_json_string(stdout, r->example, strlen(r->example));
            printf(",\"reason\":");
            lt_pbtext_write_json_string(stdout, r->reason, strlen(r->reason));
            printf("}\n");
        } else {
            printf("%8zu  %-12s %-24s  ", r->n, r->agency, r->example);
            lt_pbtext_write_json_string(stdout, r->reason, strlen(r->reason));
            putchar('\n');
        }
    }
}

/* dead list, or dead reasons when by_reason. */
static int dead_list(ctl *c, const char *agency, bool by_reason)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    dead_walk w = { .c = c, .now = lt_time_now_ms(), .by_reason = by_reason };
    int r, rc = EXIT_USAGE;

    if (ctl_open_store(c, &s) < 0)
        return EXIT_USAGE;
    if (agency && !agency_known(c, agency)) {
        ctl_errf("no agency \"%s\" in %s", agency, c->cfg->path);
        rc = EXIT_REJECTED;
        goto out;
    }
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if (!c->json && !by_reason)
        printf("%-12s %8s  %-24s %8s %8s  %s\n", "agency", "seq", "dossier", "attempts", "age",
               "last_error");
    r = lt_outbox_walk_dead(t, agency, print_dead, &w);
    if (r >= 0 && w.err < 0)
        r = w.err;
    if (r < 0) {
        fflush(stdout);
        ctl_errf("%s: dead letters: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if (by_reason && w.n)
        print_reasons(&w);
    if (!w.n && !c->json)
        ctl_errf("no dead letters%s%s%s%s%s", agency ? " of " : "", agency ? agency : "",
                 c->reason ? " whose reason contains \"" : "", c->reason ? c->reason : "",
                 c->reason ? "\"" : "");
    rc = EXIT_OK;
out:
    for (size_t i = 0; i < w.n_rc; i++) {
        free(w.rc[i].agency);
        free(w.rc[i].reason);
        free(w.rc[i].example);
    }
    free(w.rc);
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

static void print_ms(const char *label, int64_t ms, int64_t now)
{
    char buf[40], age[32];

    if (!ms)
        return;
    lt_time_format_ms(ms, buf, sizeof(buf));
    printf("  %-16s %s (%s ago)\n", label, buf, ctl_age(now - ms, age, sizeof(age)));
}

static void print_quoted(const char *label, const char *s)
{
    if (!s || !s[0])
        return;
    printf("  %-16s ", label);
    lt_pbtext_write_json_string(stdout, s, strlen(s));
    putchar('\n');
}

static int dead_show(ctl *c, const char *agency, uint64_t seq)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    lt_delivery *d = NULL;
    lt_stored_event *ev = NULL;
    int r, rc = EXIT_USAGE;

    if (ctl_open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if ((r = lt_outbox_get(t, agency, seq, &d)) == LT_ERR_NOT_FOUND) {
        ctl_errf("no delivery of seq %" PRIu64 " to %s in %s", seq, agency, c->data_dir);
        rc = EXIT_REJECTED;
        goto out;
    }
    if (r < 0 || (r = lt_store_get_event(t, seq, &ev)) < 0) {
        ctl_errf("%s: seq %" PRIu64 ": %s", c->data_dir, seq, lt_strerror(r));
        goto out;
    }
    if (c->json) {
        printf("{\"delivery\":");
        lt_pbtext_write_json(stdout, &d->base);
        printf(",\"event\":");
        ctl_json_entry(seq, ev, false);
        printf("}\n");
    } else {
        int64_t now = lt_time_now_ms();
        printf("delivery %s seq %" PRIu64 "\n", agency, seq);
        printf("  %-16s %s\n", "state", ctl_delivery_state(d->state));
        printf("  %-16s %s\n", "dossier", ctl_str_or_dash(d->dossier_code));
        printf("  %-16s %" PRIu32 "\n", "attempts", d->attempts);
        print_ms("created", d->created_ms, now);
        print_ms("last_attempt", d->last_attempt_ms, now);
        print_ms("done", d->done_ms, now);
        if (d->rule)
            printf("  %-16s %s\n", "rule", d->rule);
        print_quoted("last_error", d->last_error);
        print_quoted("reply", d->reply);
        printf("event\n");
        ctl_print_event_line(seq, ev, true);
        if (d->state != LIENTHONG__V1__DELIVERY__STATE__DEAD)
            ctl_errf("seq %" PRIu64 " to %s is not a dead letter (%s)", seq, agency,
                     ctl_delivery_state(d->state));
    }
    rc = EXIT_OK;
out:
    if (d)
        lienthong__v1__delivery__free_unpacked(d, NULL);
    if (ev)
        lienthong__v1__stored_event__free_unpacked(ev, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

int ctl_cmd_dead(ctl *c, int argc, char **argv)
{
    const char *sub = argv[0];
    uint64_t seq = 0;

    if (c->reason && strcmp(sub, "list") != 0) {
        ctl_errf("dead %s: --reason belongs to dead list", sub);
        return EXIT_USAGE;
    }
    if ((!strcmp(sub, "list") || !strcmp(sub, "reasons")) && argc <= 2 && !c->all)
        return dead_list(c, argc == 2 ? argv[1] : NULL, !strcmp(sub, "reasons"));
    if (!strcmp(sub, "show") && argc == 3 && !c->all) {
        if (ctl_parse_u64("SEQ", argv[2], 1, UINT64_MAX, &seq) < 0)
            return EXIT_USAGE;
        return dead_show(c, argv[1], seq);
    }
    bool requeue = !strcmp(sub, "requeue");
    if ((requeue || !strcmp(sub, "drop")) && argc >= 2 && argc <= 3) {
        if ((argc == 3) == c->all) {
            ctl_errf("dead %s: give SEQ or --all (one of them)", sub);
            return EXIT_USAGE;
        }
        if (argc == 3 && ctl_parse_u64("SEQ", argv[2], 1, UINT64_MAX, &seq) < 0)
            return EXIT_USAGE;
        return control_command(c, requeue ? CMD(REQUEUE) : CMD(DROP), argv[1], seq, seq != 0);
    }
    if (strcmp(sub, "list") && strcmp(sub, "reasons") && strcmp(sub, "show") &&
        strcmp(sub, "requeue") && strcmp(sub, "drop"))
        ctl_errf("dead: unknown subcommand \"%s\" (list, reasons, show, requeue, drop)", sub);
    else if (c->all && (!strcmp(sub, "list") || !strcmp(sub, "reasons") || !strcmp(sub, "show")))
        ctl_errf("dead %s: --all belongs to requeue and drop", sub);
    else
        ctl_errf("dead %s: wrong number of arguments", sub);
    return EXIT_USAGE;
}
