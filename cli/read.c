/* read.c - lienthongctl show, events and stats: the store, read-only, in one
 * LMDB snapshot (never blocks the daemon's writer). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "journal.h"
#include "timefmt.h"
#include "validate.h"

#define MAX_UNDONE 8 /* agencies show sums undelivered deliveries for */

/* show: the deliveries of a dossier's events not done yet, per agency and
 * state (PENDING, DEAD), with the most recent error. */
typedef struct undone {
    char agency[64];
    int state;
    uint32_t n, attempts;
    char error[200];
} undone;

typedef struct walk {
    const ctl *c;
    size_t count;
    bool with_dossier; /* events: the dossier column */
    lt_store_txn *t;   /* show: for the deliveries of each event */
    FILE *results;     /* show: the results section, written while walking */
    size_t n_results;
    /* show: what the state section says of an open dossier */
    uint64_t last_seq;
    int64_t last_accepted_ms;
    char last_sender[64], last_what[32];
    undone undone[MAX_UNDONE];
    size_t n_undone;
} walk;

typedef struct dwalk {
    const ctl *c;
    size_t n;
    walk *w;
} dwalk;

/* Count d in w's undone deliveries when it is PENDING or DEAD. */
static void note_undone(walk *w, const lt_delivery *d)
{
    if (d->state != LIENTHONG__V1__DELIVERY__STATE__PENDING &&
        d->state != LIENTHONG__V1__DELIVERY__STATE__DEAD)
        return;
    const char *agency = ctl_str_or_dash(d->agency);
    undone *u = NULL;
    for (size_t i = 0; i < w->n_undone && !u; i++)
        if (w->undone[i].state == (int)d->state && !strcmp(w->undone[i].agency, agency))
            u = &w->undone[i];
    if (!u) {
        if (w->n_undone == MAX_UNDONE)
            return;
        u = &w->undone[w->n_undone++];
        memset(u, 0, sizeof(*u));
        snprintf(u->agency, sizeof(u->agency), "%s", agency);
        u->state = (int)d->state;
    }
    u->n++;
    u->attempts += d->attempts;
    if (d->last_error && d->last_error[0])
        snprintf(u->error, sizeof(u->error), "%s", d->last_error);
}

/* One delivery of a shown event: a line under it, or a JSON element. */
static int print_delivery(const lt_delivery *d, void *arg)
{
    dwalk *w = arg;

    if (w->w)
        note_undone(w->w, d);
    if (w->c->json) {
        fputs(w->n++ ? "," : "", stdout);
        lt_pbtext_write_json(stdout, &d->base);
        return 0;
    }
    w->n++;
    printf("%10s-> %-10s %-9s attempts=%" PRIu32, "", ctl_str_or_dash(d->agency),
           ctl_delivery_state(d->state), d->attempts);
    const char *why =
        d->state == LIENTHONG__V1__DELIVERY__STATE__DELIVERED ? d->reply : d->last_error;
    if (why && why[0]) {
        fputs(d->state == LIENTHONG__V1__DELIVERY__STATE__DELIVERED ? " reply=" : " error=",
              stdout);
        lt_pbtext_write_json_string(stdout, why, strlen(why));
    }
    putchar('\n');
    return 0;
}

/* The results section: one line (or JSON element) per result event. */
static void note_result(walk *w, uint64_t seq, const lt_event *ev)
{
    const Lienthong__V1__Result *r = ev->result;
    char when[64] = "-";

    if (!w->results)
        return;
    if (w->c->json) {
        bool first = false;
        fprintf(w->results, "%s{\"seq\":%" PRIu64, w->n_results ? "," : "", seq);
        lt_pbtext_write_json_fields(w->results, &r->base, &first);
        fputc('}', w->results);
    } else {
        if (r->issued_at)
            snprintf(when, sizeof(when), "%s", r->issued_at);
        fprintf(w->results, "%8" PRIu64 "  %-16s  %-12s  %-24s  %14" PRId64 "  %s\n", seq,
                ctl_str_or_dash(r->kind), ctl_str_or_dash(r->from_agency),
                ctl_str_or_dash(r->reference), r->has_amount ? r->amount : 0, when);
    }
    w->n_results++;
}

static int print_entry(uint64_t seq, const lt_stored_event *se, void *arg)
{
    walk *w = arg;
    int r = 0;

    if (w->c->json) {
        if (!w->with_dossier)
            fputs(w->count ? "," : "", stdout);
        ctl_json_entry(seq, se, w->t != NULL);
        if (w->t) {
            dwalk d = { w->c, 0, w };
            fputs(",\"deliveries\":[", stdout);
            r = lt_outbox_walk_event(w->t, seq, print_delivery, &d);
            fputs("]}", stdout);
        }
        if (w->with_dossier)
            putchar('\n');
    } else {
        ctl_print_event_line(seq, se, w->with_dossier);
        if (w->t) {
            dwalk d = { w->c, 0, w };
            r = lt_outbox_walk_event(w->t, seq, print_delivery, &d);
        }
    }
    if (w->t) { /* show: the latest event, for the state section */
        w->last_seq = seq;
        w->last_accepted_ms = se->accepted_at_ms;
        snprintf(w->last_sender, sizeof(w->last_sender), "%s", ctl_str_or_dash(se->sender));
        snprintf(w->last_what, sizeof(w->last_what), "%s",
                 se->event && se->event->body_case == LIENTHONG__V1__EVENT__BODY_RESULT ? "RESULT"
                 : se->event && se->event->status ? lt_status_name((int)se->event->status->status)
                                                  : "-");
    }
    if (w->t && se->event && se->event->body_case == LIENTHONG__V1__EVENT__BODY_RESULT &&
        se->event->result)
        note_result(w, seq, se->event);
    w->count++;
    return r < 0 ? r : 0;
}

static void print_time(const char *label, int64_t sec)
{
    char buf[32];

    lt_time_format(sec, buf, sizeof(buf));
    printf("  %-12s %s\n", label, buf);
}

/* Human rendering of a dossier's state as stored (completed_at, on_time),
 * and for an open dossier what it waits on: its last event and the
 * deliveries of its events not done yet. */
static void print_state(const lt_dossier_state *st, const walk *w)
{
    char age[32];
    int64_t now = (int64_t)time(NULL);
    printf("state\n  %-12s %s\n", "status", lt_status_name(st->status));
    printf("  %-12s %s\n", "procedure", ctl_str_or_dash(st->procedure_code));
    if (st->agency_code && st->agency_code[0])
        printf("  %-12s %s\n", "agency", st->agency_code);
    if (st->has_received_at)
        print_time("received_at", st->received_at);
    if (st->has_due_at)
        print_time("due_at", st->due_at);
    if (st->has_finished_at && st->finished_at)
        print_time("finished_at", st->finished_at);
    if (st->has_returned_at && st->returned_at)
        print_time("returned_at", st->returned_at);
    bool completed = st->has_completed_at && st->completed_at;
    if (completed) {
        print_time("completed_at", st->completed_at);
        printf("  %-12s %s\n", "on_time", st->on_time ? "yes" : "no");
    }
    printf("  %-12s %" PRIu32 " (seq %" PRIu64 "..%" PRIu64 ")\n", "events", st->events,
           st->first_seq, st->last_seq);
    printf("  %-12s %" PRIu32 "\n", "results", st->results);
    if (completed)
        printf("  %-12s %s\n", "timeliness",
               st->on_time ? "on time" : "late (completed after due_at)");
    else if (st->has_due_at && st->due_at && now > st->due_at)
        printf("  %-12s overdue by %s (not completed, past due_at)\n", "timeliness",
               ctl_age((now - st->due_at) * 1000, age, sizeof(age)));
    if (!completed && w->last_seq) {
        char when[32];
        lt_time_format_ms(w->last_accepted_ms, when, sizeof(when));
        printf("  %-12s seq %" PRIu64 ", %s from %s, stored %s (%s ago)\n", "last event",
               w->last_seq, w->last_what, w->last_sender, when,
               ctl_age(lt_time_now_ms() - w->last_accepted_ms, age, sizeof(age)));
    }
    for (size_t i = 0; i < w->n_undone; i++) {
        const undone *u = &w->undone[i];
        printf("  %-12s %s: %" PRIu32 " %s, %" PRIu32 " attempts", "undelivered", u->agency, u->n,
               ctl_delivery_state(u->state), u->attempts);
        if (u->error[0]) {
            fputs(", last error ", stdout);
            lt_pbtext_write_json_string(stdout, u->error, strlen(u->error));
        }
        putchar('\n');
    }
}

int ctl_cmd_show(ctl *c, const char *code)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    lt_dossier_state *st = NULL;
    char *res = NULL;
    size_t res_len = 0;
    walk w = { .c = c };
    int r, rc = EXIT_USAGE;

    if ((rc = ctl_open_dossier(c, code, &s, &t, &st)) != 0)
        goto out;
    rc = EXIT_USAGE;
    w.t = t;
    if (!(w.results = open_memstream(&res, &res_len))) {
        ctl_errf("out of memory");
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
        ctl_errf("dossier %s: %s", code, lt_strerror(r));
        goto out;
    }
    fclose(w.results);
    w.results = NULL;
    if (c->json) {
        printf("],\"results\":[%s]}\n", res ? res : "");
    } else {
        if (w.n_results)
            printf("results\n%8s  %-16s  %-12s  %-24s  %14s  %s\n%s", "seq", "kind", "from_agency",
                   "reference", "amount", "issued_at", res);
        print_state(st, &w);
    }
    rc = EXIT_OK;
out:
    if (w.results)
        fclose(w.results);
    free(res);
    if (st)
        lienthong__v1__dossier_state__free_unpacked(st, NULL);
    lt_store_txn_abort(&t);
    lt_store_close(&s);
    return rc;
}

int ctl_cmd_events(ctl *c)
{
    lt_store *s = NULL;
    lt_store_txn *t = NULL;
    walk w = { .c = c, .with_dossier = true };
    uint64_t from = 1;
    int r, rc = EXIT_USAGE;

    if (c->from && ctl_parse_u64("--from", c->from, 0, UINT64_MAX, &from) < 0)
        return EXIT_USAGE;

    if (ctl_open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(s, false, false, &t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        goto out;
    }
    if (!c->json)
        printf("%8s  %-25s  %-16s  %-24s  %-20s  %s\n", "seq", "occurred_at", "sender", "dossier",
               "event_id", "body");
    if ((r = lt_store_walk_log(t, from, c->limit, print_entry, &w)) < 0) {
        fflush(stdout);
        ctl_errf("%s: log from seq %" PRIu64 ": %s", c->data_dir, from, lt_strerror(r));
        goto out;
    }
    if (!w.count && !c->json)
        fprintf(stderr, "lienthongctl: no events from seq %" PRIu64 "\n", from);
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

/* The ingest journal (daemon/journal.h) beside the store: its size, and the
 * first seq it holds that the store does not (0: none). */
typedef struct journal_view {
    uint64_t size;
    uint64_t unstored;
} journal_view;

static journal_view journal_of(const char *dir, lt_store *s, uint64_t last_seq)
{
    char path[4096];
    struct stat sb;
    journal_view v = { 0, lt_journal_unstored(dir, lt_store_id(s), last_seq) };
    if (stat(lt_journal_path_in(dir, path, sizeof(path)), &sb) == 0)
        v.size = (uint64_t)sb.st_size;
    return v;
}

static void stats_json(const lt_store_stats *st, const journal_view *j)
{
    printf("{\"last_seq\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"events_by_kind\":{\"status\":%" PRIu64 ",\"result\":%" PRIu64 "}"
           ",\"dossiers\":%" PRIu64 ",\"dossiers_by_status\":{",
           st->last_seq, st->events, st->status_events, st->result_events, st->dossiers);
    for (int i = 1; i <= 10; i++)
        printf("%s\"%s\":%" PRIu64, i > 1 ? "," : "", lt_status_name(i), st->by_status[i]);
    printf("},\"file_size\":%" PRIu64 ",\"map_size\":%" PRIu64 ",\"map_used\":%" PRIu64
           ",\"map_used_pct\":%.2f,\"readers_used\":%u,\"max_readers\":%u"
           ",\"journal_size\":%" PRIu64 ",\"journal_unstored_from\":%" PRIu64 "}\n",
           st->file_size, st->map_size, st->map_used, pct(st->map_used, st->map_size),
           st->readers_used, st->max_readers, j->size, j->unstored);
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

static void stats_human(const lt_store_stats *st, const char *dir, const journal_view *j)
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
    if (!j->size)
        printf("journal      none (store.journal_mb: 0, or the daemon never ran)\n");
    else if (!j->unstored)
        printf("journal      %s; every event it holds is in the store\n",
               human_size(j->size, a, sizeof(a)));
    else
        printf("journal      %s; events from seq %" PRIu64 " on are acknowledged and not in the "
               "store yet (the daemon commits them; after a crash, when it starts)\n",
               human_size(j->size, a, sizeof(a)), j->unstored);
}

int ctl_cmd_stats(ctl *c)
{
    lt_store *s = NULL;
    lt_store_stats st;
    int r;

    if (ctl_open_store(c, &s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_stats_get(s, &st)) < 0) {
        ctl_errf("%s: stats: %s", c->data_dir, lt_strerror(r));
        lt_store_close(&s);
        return EXIT_USAGE;
    }
    journal_view j = journal_of(c->data_dir, s, st.last_seq);
    if (c->json)
        stats_json(&st, &j);
    else
        stats_human(&st, c->data_dir, &j);
    lt_store_close(&s);
    return EXIT_OK;
}
