/* report.c - lienthongctl report: on-time figures from the stored dossier
 * states, the question Decision 766 scores agencies by (of the dossiers
 * settled in a period, how many on time), grouped by procedure or by agency;
 * and with --overdue the open dossiers past their due time, most overdue
 * first, each a `lienthongctl show` away from its explanation.
 *
 * One read transaction, one pass over the dossier states (daemon/store.h,
 * lt_store_walk_states); the agency of a dossier is the state's agency_code
 * (that of its first event; read from that event for states stored before
 * the field existed).
 * Reference: docs/CLI.md, "report".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "timefmt.h"
#include "validate.h"

#define PROGRESS_MS 2000 /* a long scan says how far it is on stderr this often */

typedef struct counts {
    uint64_t received; /* received_at in the period */
    uint64_t settled;  /* completed_at (reached PROCESSED) in the period */
    uint64_t on_time, late;
    uint64_t open;    /* now: neither settled nor closed */
    uint64_t overdue; /* now: open and past due_at */
} counts;

typedef struct group {
    char *key;
    counts n;
} group;

typedef struct overdue_row {
    int64_t due_at;
    char *code, *procedure, *agency;
    int status;
    uint64_t last_seq;
} overdue_row;

typedef struct report {
    ctl *c;
    lt_store_txn *t;
    int64_t from, to, now; /* from/to: INT64_MIN/INT64_MAX when not given */
    bool by_agency;
    uint64_t dossiers; /* in the store, for the progress line */
    group *groups;
    size_t n_groups, cap_groups;
    counts total;
    overdue_row *over;
    size_t n_over, cap_over;
    uint64_t scanned;
    int64_t started_ms, progress_ms;
} report;

static int parse_when(const char *opt, const char *s, int64_t *ret)
{
    if (ctl_parse_when(s, ret) == 0)
        return 0;
    ctl_errf("%s: \"%s\" is neither a date (YYYY-MM-DD, from midnight in Vietnam, UTC+07:00) "
             "nor an RFC 3339 time (2026-11-01T08:00:00+07:00)",
             opt, s);
    return -EINVAL;
}

/* The agency that received the dossier: the state's agency_code, or for a
 * state stored before it had one, that of the dossier's first event; "-". */
static const char *agency_of(lt_store_txn *t, const lt_dossier_state *st, char *buf, size_t size)
{
    lt_stored_event *se = NULL;
    snprintf(buf, size, "-");
    if (st->agency_code && st->agency_code[0]) {
        snprintf(buf, size, "%s", st->agency_code);
        return buf;
    }
    if (st->first_seq && lt_store_get_event(t, st->first_seq, &se) == 0) {
        if (se->event && se->event->agency_code && se->event->agency_code[0])
            snprintf(buf, size, "%s", se->event->agency_code);
        lienthong__v1__stored_event__free_unpacked(se, NULL);
    }
    return buf;
}

static bool wanted_agency(const ctl *c, const char *agency)
{
    if (!c->n_agencies)
        return true;
    for (size_t i = 0; i < c->n_agencies; i++)
        if (!strcmp(c->agencies[i], agency))
            return true;
    return false;
}

/* Make room for one more element in *v (n in use, *cap allocated, elem bytes
 * each), doubling from first. Returns 0 or -ENOMEM. */
static int room_for_one(void **v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    void *nv = realloc(*v, c * elem);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = c;
    return 0;
}

/* The group for key (kept sorted by key), created when new; NULL when out of memory. */
static group *group_of(report *rp, const char *key)
{
    size_t lo = 0, hi = rp->n_groups;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(rp->groups[mid].key, key);
        if (cmp == 0)
            return &rp->groups[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    char *k = NULL;
    if (room_for_one((void **)&rp->groups, rp->n_groups, &rp->cap_groups, sizeof(group), 64) < 0 ||
        !(k = strdup(key)))
        return NULL;
    memmove(&rp->groups[lo + 1], &rp->groups[lo], (rp->n_groups - lo) * sizeof(group));
    rp->groups[lo] = (group){ .key = k };
    rp->n_groups++;
    return &rp->groups[lo];
}

static int add_overdue(report *rp, const char *code, size_t code_len, const lt_dossier_state *st,
                       const char *agency)
{
    if (room_for_one((void **)&rp->over, rp->n_over, &rp->cap_over, sizeof(overdue_row), 256) < 0)
        return -ENOMEM;
    overdue_row *o = &rp->over[rp->n_over];
    *o = (overdue_row){ .due_at = st->due_at, .status = (int)st->status, .last_seq = st->last_seq };
    o->code = strndup(code, code_len);
    o->procedure = strdup(st->procedure_code ? st->procedure_code : "");
    o->agency = strdup(agency);
    if (!o->code || !o->procedure || !o->agency) {
        free(o->code), free(o->procedure), free(o->agency);
        return -ENOMEM;
    }
    rp->n_over++;
    return 0;
}

static bool in_period(const report *rp, int64_t t)
{
    return t >= rp->from && t < rp->to;
}

static void count(counts *n, const counts *one)
{
    n->received += one->received;
    n->settled += one->settled;
    n->on_time += one->on_time;
    n->late += one->late;
    n->open += one->open;
    n->overdue += one->overdue;
}

static int on_state(const char *code, size_t code_len, const lt_dossier_state *st, void *arg)
{
    report *rp = arg;
    const ctl *c = rp->c;
    char agency[128] = "-";

    if (++rp->scanned % 4096 == 0) {
        int64_t now = lt_time_mono_ms();
        if (now - rp->progress_ms >= PROGRESS_MS) {
            fprintf(stderr,
                    "lienthongctl: report: %" PRIu64 " of %" PRIu64 " dossiers read, %.0f s\n",
                    rp->scanned, rp->dossiers, (double)(now - rp->started_ms) / 1000.0);
            rp->progress_ms = now;
        }
    }
    const char *proc = st->procedure_code ? st->procedure_code : "";
    if (c->procedure && strncmp(proc, c->procedure, strlen(c->procedure)) != 0)
        return 0;

    counts one = { 0 };
    bool settled = st->has_completed_at && st->completed_at;
    /* closed without being settled: not accepted, or returned after a
     * withdrawal or a stop */
    bool closed = !settled && (st->status == LIENTHONG__V1__STATUS__NOT_ACCEPTED ||
                               st->status == LIENTHONG__V1__STATUS__RESULT_RETURNED);
    if (st->has_received_at && in_period(rp, st->received_at))
        one.received = 1;
    if (settled && in_period(rp, st->completed_at)) {
        one.settled = 1;
        one.on_time = st->on_time;
        one.late = !st->on_time;
    }
    if (!settled && !closed) {
        one.open = 1;
        one.overdue = st->has_due_at && st->due_at && st->due_at < rp->now;
    }
    if (c->overdue && !one.overdue)
        return 0;
    /* an old state's agency costs a read of its first event: only when used */
    if (rp->by_agency || c->n_agencies || c->overdue) {
        agency_of(rp->t, st, agency, sizeof(agency));
        if (!wanted_agency(c, agency))
            return 0;
    }
    if (c->overdue)
        return add_overdue(rp, code, code_len, st, agency);
    group *g = group_of(rp, rp->by_agency ? agency : proc[0] ? proc : "-");
    if (!g)
        return -ENOMEM;
    count(&g->n, &one);
    count(&rp->total, &one);
    return 0;
}

static int cmp_overdue(const void *a, const void *b)
{
    const overdue_row *x = a, *y = b;
    if (x->due_at != y->due_at)
        return x->due_at < y->due_at ? -1 : 1;
    return strcmp(x->code, y->code);
}

static void json_counts(const counts *n)
{
    printf("\"received\":%" PRIu64 ",\"settled\":%" PRIu64 ",\"on_time\":%" PRIu64
           ",\"late\":%" PRIu64,
           n->received, n->settled, n->on_time, n->late);
    if (n->settled)
        printf(",\"on_time_pct\":%.1f", 100.0 * (double)n->on_time / (double)n->settled);
    else
        printf(",\"on_time_pct\":null");
    printf(",\"open\":%" PRIu64 ",\"overdue\":%" PRIu64, n->open, n->overdue);
}

static void json_time(const char *name, int64_t t, bool given)
{
    char buf[32];
    if (!given) {
        printf("\"%s\":null", name);
        return;
    }
    lt_time_format(t, buf, sizeof(buf));
    printf("\"%s\":\"%s\"", name, buf);
}

static void print_json(const report *rp)
{
    printf("{");
    json_time("from", rp->from, rp->from != INT64_MIN);
    printf(",");
    json_time("to", rp->to, rp->to != INT64_MAX);
    printf(",");
    json_time("now", rp->now, true);
    printf(",\"by\":\"%s\",\"groups\":[", rp->by_agency ? "agency" : "procedure");
    for (size_t i = 0; i < rp->n_groups; i++) {
        printf("%s{\"key\":", i ? "," : "");
        lt_pbtext_write_json_string(stdout, rp->groups[i].key, strlen(rp->groups[i].key));
        printf(",");
        json_counts(&rp->groups[i].n);
        printf("}");
    }
    printf("],\"total\":{");
    json_counts(&rp->total);
    printf("}}\n");
}

static void human_row(const char *key, const counts *n)
{
    char pct[16] = "-";
    if (n->settled)
        snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * (double)n->on_time / (double)n->settled);
    printf("%-20s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9s %9" PRIu64 " %9" PRIu64
           "\n",
           key, n->received, n->settled, n->on_time, n->late, pct, n->open, n->overdue);
}

/* A period bound for the human header: as given, with its UTC time when
 * given as a date; none when t is unset. */
static const char *when(const char *given, int64_t t, int64_t unset, const char *none, char *buf,
                        size_t size)
{
    char utc[32];
    if (t == unset)
        return none;
    lt_time_format(t, utc, sizeof(utc));
    if (strlen(given) == 10)
        snprintf(buf, size, "%s (%s)", given, utc);
    else
        snprintf(buf, size, "%s", utc);
    return buf;
}

static void print_human(const report *rp)
{
    char a[64], b[64], now[32];
    lt_time_format(rp->now, now, sizeof(now));
    if (rp->from == INT64_MIN && rp->to == INT64_MAX)
        printf("received and settled: all time;");
    else
        printf("received and settled from %s to %s;",
               when(rp->c->from, rp->from, INT64_MIN, "the start", a, sizeof(a)),
               when(rp->c->to, rp->to, INT64_MAX, "now", b, sizeof(b)));
    printf(" open and overdue as of %s\n", now);
    printf("%-20s %9s %9s %9s %9s %9s %9s %9s\n", rp->by_agency ? "agency" : "procedure",
           "received", "settled", "on time", "late", "on time%", "open", "overdue");
    for (size_t i = 0; i < rp->n_groups; i++)
        human_row(rp->groups[i].key, &rp->groups[i].n);
    if (rp->n_groups != 1)
        human_row("total", &rp->total);
    if (rp->total.overdue)
        printf("%" PRIu64 " open %s past due: lienthongctl report --overdue lists %s\n",
               rp->total.overdue, rp->total.overdue == 1 ? "dossier is" : "dossiers are",
               rp->total.overdue == 1 ? "it" : "them");
}

static void print_overdue(const report *rp, uint64_t limit)
{
    size_t n = limit && limit < rp->n_over ? (size_t)limit : rp->n_over;
    if (!rp->c->json && n)
        printf("%-28s %-12s %-12s %-22s %-20s %-10s %s\n", "dossier", "procedure", "agency",
               "status", "due_at", "overdue", "last_seq");
    for (size_t i = 0; i < n; i++) {
        const overdue_row *o = &rp->over[i];
        char due[32], age[32];
        lt_time_format(o->due_at, due, sizeof(due));
        if (rp->c->json) {
            printf("{\"dossier_code\":");
            lt_pbtext_write_json_string(stdout, o->code, strlen(o->code));
            printf(",\"procedure_code\":");
            lt_pbtext_write_json_string(stdout, o->procedure, strlen(o->procedure));
            printf(",\"agency\":");
            lt_pbtext_write_json_string(stdout, o->agency, strlen(o->agency));
            printf(",\"status\":\"%s\",\"due_at\":\"%s\",\"overdue_s\":%" PRId64
                   ",\"last_seq\":%" PRIu64 "}\n",
                   lt_status_name(o->status), due, rp->now - o->due_at, o->last_seq);
            continue;
        }
        printf("%-28s %-12s %-12s %-22s %-20s %-10s %" PRIu64 "\n", o->code,
               o->procedure[0] ? o->procedure : "-", o->agency, lt_status_name(o->status), due,
               ctl_age((rp->now - o->due_at) * 1000, age, sizeof(age)), o->last_seq);
    }
    if (rp->c->json)
        return;
    if (n < rp->n_over)
        printf("... %zu more (--limit 0 lists all)\n", rp->n_over - n);
    if (rp->n_over)
        printf("%zu overdue; lienthongctl show DOSSIER_CODE gives one's events, deliveries and "
               "results\n",
               rp->n_over);
    else
        printf("no open dossier is past its due time\n");
}

int ctl_cmd_report(ctl *c)
{
    report rp = { .c = c, .from = INT64_MIN, .to = INT64_MAX, .now = (int64_t)time(NULL) };
    lt_store *s = NULL;
    int rc = EXIT_USAGE, r;

    if (c->from && parse_when("--from", c->from, &rp.from) < 0)
        return EXIT_USAGE;
    if (c->to && parse_when("--to", c->to, &rp.to) < 0)
        return EXIT_USAGE;
    if (rp.from >= rp.to) {
        ctl_errf("--from %s is not before --to %s", c->from, c->to);
        return EXIT_USAGE;
    }
    if (c->by && strcmp(c->by, "procedure") && strcmp(c->by, "agency")) {
        ctl_errf("--by: \"%s\" is not procedure or agency", c->by);
        return EXIT_USAGE;
    }
    if (c->overdue && c->by) {
        ctl_errf("--by groups the figures; --overdue lists dossiers: give one of them");
        return EXIT_USAGE;
    }
    rp.by_agency = c->by && !strcmp(c->by, "agency");
    if (ctl_open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(s, false, false, &rp.t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    lt_store_stats ss;
    if (lt_store_stats_get(s, &ss) == 0)
        rp.dossiers = ss.dossiers;
    rp.started_ms = rp.progress_ms = lt_time_mono_ms();
    if ((r = lt_store_walk_states(rp.t, on_state, &rp)) < 0) {
        ctl_errf("%s: reading the dossier states: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if (c->overdue) {
        qsort(rp.over, rp.n_over, sizeof(*rp.over), cmp_overdue);
        print_overdue(&rp, c->limit);
    } else if (c->json) {
        print_json(&rp);
    } else {
        print_human(&rp);
    }
    rc = EXIT_OK;
out:
    lt_store_txn_abort(&rp.t);
    lt_store_close(&s);
    for (size_t i = 0; i < rp.n_groups; i++)
        free(rp.groups[i].key);
    free(rp.groups);
    for (size_t i = 0; i < rp.n_over; i++)
        free(rp.over[i].code), free(rp.over[i].procedure), free(rp.over[i].agency);
    free(rp.over);
    return rc;
}
