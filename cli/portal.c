/* portal.c - lienthongctl portal status: what the national portal was last
 * sent and answered for one dossier, from the portal agency's delivery
 * records in the store (read-only, one LMDB snapshot).
 *
 * The portal agencies are the config's agencies with adapter portal (without
 * a config, the agency named "portal"). A delivered record's reply holds what
 * the link sent and what the portal answered (daemon/link_http.c); a pending
 * or dead one's last_error holds the last failure. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "timefmt.h"
#include "validate.h"

#define PORTAL_MAX_EVENTS 100000 /* a dossier has a few dozen events */

/* One event of the dossier and its delivery to the portal agency (NULL when
 * it was not routed there). */
typedef struct prow {
    uint64_t seq;
    bool is_result;
    int status;       /* the status the event set, 0 for a result */
    char kind[64];    /* the result's kind */
    lt_delivery *rec; /* owned */
} prow;

typedef struct pwalk {
    lt_store_txn *t;
    const char *agency;
    prow *rows;
    size_t n, cap;
    int err;
} pwalk;

static int collect(uint64_t seq, const lt_stored_event *se, void *arg)
{
    pwalk *w = arg;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        prow *nr = cap <= PORTAL_MAX_EVENTS ? realloc(w->rows, cap * sizeof(*nr)) : NULL;
        if (!nr) {
            w->err = -ENOMEM;
            return 1;
        }
        w->rows = nr;
        w->cap = cap;
    }
    prow *p = &w->rows[w->n];
    memset(p, 0, sizeof(*p));
    p->seq = seq;
    const lt_event *ev = se->event;
    if (ev && ev->body_case == LIENTHONG__V1__EVENT__BODY_STATUS && ev->status)
        p->status = (int)ev->status->status;
    if (ev && ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && ev->result) {
        p->is_result = true;
        snprintf(p->kind, sizeof(p->kind), "%s", ctl_str_or_dash(ev->result->kind));
    }
    if (lt_outbox_get(w->t, w->agency, seq, &p->rec) < 0)
        p->rec = NULL;
    w->n++;
    return 0;
}

static void rows_free(pwalk *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->rows[i].rec)
            lienthong__v1__delivery__free_unpacked(w->rows[i].rec, NULL);
    free(w->rows);
    w->rows = NULL;
    w->n = w->cap = 0;
}

static const char *when(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0)
        return "-";
    lt_time_format(ms / 1000, buf, size);
    return buf;
}

static const char *event_label(const prow *p, char *buf, size_t size)
{
    if (p->is_result)
        snprintf(buf, size, "result %s", p->kind);
    else if (p->status)
        snprintf(buf, size, "%s", lt_status_name(p->status));
    else
        snprintf(buf, size, "(no body)");
    return buf;
}

static bool is_state(const prow *p, int state)
{
    return p->rec && (int)p->rec->state == state;
}

/* The last delivered row, or NULL. */
static const prow *last_synced(const pwalk *w)
{
    for (size_t i = w->n; i-- > 0;)
        if (is_state(&w->rows[i], LIENTHONG__V1__DELIVERY__STATE__DELIVERED))
            return &w->rows[i];
    return NULL;
}

static void print_human(const char *code, const lt_config_agency *a, const pwalk *w)
{
    const prow *last = last_synced(w);
    char b1[40], b2[80];
    size_t pending = 0, dead = 0, routed = 0;

    for (size_t i = 0; i < w->n; i++) {
        routed += w->rows[i].rec != NULL;
        pending += is_state(&w->rows[i], LIENTHONG__V1__DELIVERY__STATE__PENDING);
        dead += is_state(&w->rows[i], LIENTHONG__V1__DELIVERY__STATE__DEAD);
    }
    printf("dossier %s  agency %s", code, w->agency);
    if (a)
        printf(" (transport %s)", a->transport ? a->transport : "zmq");
    putchar('\n');
    if (last) {
        printf("last synced  seq %" PRIu64 " (%s) at %s\n", last->seq,
               event_label(last, b2, sizeof(b2)), when(last->rec->done_ms, b1, sizeof(b1)));
        printf("  sent and answered: %s\n", ctl_str_or_dash(last->rec->reply));
    } else {
        printf("last synced  never%s\n",
               routed ? "" : " (no event of it was routed to this agency)");
    }
    printf("not synced   %zu pending, %zu dead\n", pending, dead);
    for (size_t i = 0; i < w->n; i++) {
        const prow *p = &w->rows[i];
        if (p->rec &&
            (is_state(p, LIENTHONG__V1__DELIVERY__STATE__PENDING) ||
             is_state(p, LIENTHONG__V1__DELIVERY__STATE__DEAD)) &&
            p->rec->last_error && p->rec->last_error[0]) {
            printf("  seq %" PRIu64 " %s after %" PRIu32 " attempts: %s\n", p->seq,
                   ctl_delivery_state(p->rec->state), p->rec->attempts, p->rec->last_error);
        }
    }
    if (!routed)
        return;
    printf("%8s  %-24s  %-9s  %8s  %-20s  %s\n", "seq", "event", "state", "attempts", "at",
           "reply / error");
    for (size_t i = 0; i < w->n; i++) {
        const prow *p = &w->rows[i];
        if (!p->rec)
            continue;
        bool ok = is_state(p, LIENTHONG__V1__DELIVERY__STATE__DELIVERED);
        const char *text = ok ? p->rec->reply : p->rec->last_error;
        int64_t at = p->rec->done_ms ? p->rec->done_ms : p->rec->last_attempt_ms;
        printf("%8" PRIu64 "  %-24s  %-9s  %8" PRIu32 "  %-20s  ", p->seq,
               event_label(p, b2, sizeof(b2)), ctl_delivery_state(p->rec->state), p->rec->attempts,
               when(at, b1, sizeof(b1)));
        if (text && text[0])
            lt_pbtext_write_json_string(stdout, text, strlen(text));
        else
            putchar('-');
        putchar('\n');
    }
}

static void print_row_json(const prow *p)
{
    printf("{\"seq\":%" PRIu64 ",\"event\":", p->seq);
    if (p->is_result) {
        printf("\"result\",\"result_kind\":");
        lt_pbtext_write_json_string(stdout, p->kind, strlen(p->kind));
    } else {
        printf("\"status\",\"status\":\"%s\"", lt_status_name(p->status));
    }
    printf(",\"delivery\":");
    if (p->rec)
        lt_pbtext_write_json(stdout, &p->rec->base);
    else
        printf("null");
    putchar('}');
}

static void print_json(const char *code, const pwalk *w)
{
    const prow *last = last_synced(w);
    size_t k = 0;

    printf("{\"dossier_code\":");
    lt_pbtext_write_json_string(stdout, code, strlen(code));
    printf(",\"agency\":");
    lt_pbtext_write_json_string(stdout, w->agency, strlen(w->agency));
    printf(",\"last_synced\":");
    if (last)
        print_row_json(last);
    else
        printf("null");
    printf(",\"deliveries\":[");
    for (size_t i = 0; i < w->n; i++) {
        if (!w->rows[i].rec)
            continue;
        fputs(k++ ? "," : "", stdout);
        print_row_json(&w->rows[i]);
    }
    printf("]}\n");
}

static int portal_status(ctl *c, const char *code)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    lt_dossier_state *st = NULL;
    int r, rc = EXIT_USAGE;

    if ((rc = ctl_open_dossier(c, code, &s, &t, &st)) != 0)
        goto out;
    rc = EXIT_USAGE;
    /* the portal agencies: by adapter in the config, else the one named portal */
    size_t n = 0;
    for (size_t i = 0; c->cfg && i < c->cfg->n_agencies; i++)
        n += c->cfg->agencies[i].adapter && !strcmp(c->cfg->agencies[i].adapter, "portal");
    for (size_t i = 0; i < (n ? c->cfg->n_agencies : 1); i++) {
        const lt_config_agency *a = n ? &c->cfg->agencies[i] : NULL;
        if (a && (!a->adapter || strcmp(a->adapter, "portal") != 0))
            continue;
        pwalk w = { .t = t, .agency = a ? a->name : "portal" };
        r = lt_store_walk_dossier(t, code, collect, &w);
        if (r >= 0 && w.err < 0)
            r = w.err;
        if (r < 0) {
            rows_free(&w);
            fflush(stdout);
            ctl_errf("dossier %s: %s", code, lt_strerror(r));
            goto out;
        }
        if (c->json)
            print_json(code, &w);
        else
            print_human(code, a, &w);
        rows_free(&w);
    }
    rc = EXIT_OK;
out:
    if (st)
        lienthong__v1__dossier_state__free_unpacked(st, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

int ctl_cmd_portal(ctl *c, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[0], "status"))
        return portal_status(c, argv[1]);
    ctl_errf("portal: usage: portal status DOSSIER_CODE");
    return EXIT_USAGE;
}
