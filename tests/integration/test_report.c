/* test_report.c - lienthongctl report against a running lienthongd, as a
 * province's data-centre engineer reads it: the shipped examples (two
 * dossiers settled on time, one late) plus two open dossiers, one past its
 * due time. Checks the on-time figures by procedure and by agency, a period,
 * the filters, the overdue list (human and JSON), show's account of why the
 * overdue one is late, and that bad options exit 2 saying what is wrong. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
static char out[1 << 20];

static int ctl(lt_h *h, const char *args)
{
    return lt_h_ctl(h, args, out, sizeof(out));
}

/* The line of out that starts with key (a table row), or "". */
static const char *row(const char *key)
{
    static char line[512];
    size_t n = strlen(key);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, key, n) && p[n] == ' ') {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1),
                     p);
            return line;
        }
    }
    return "";
}

/* Does the row read as these numbers, whitespace aside? */
static bool row_is(const char *key, const char *want)
{
    char got[512], norm[512];
    snprintf(got, sizeof(got), "%s", row(key));
    size_t k = 0;
    bool space = false;
    for (const char *p = got; *p && k < sizeof(norm) - 1; p++) {
        if (*p == ' ') {
            space = true;
            continue;
        }
        if (space && k)
            norm[k++] = ' ';
        space = false;
        norm[k++] = *p;
    }
    norm[k] = '\0';
    char w[512];
    snprintf(w, sizeof(w), "%s %s", key, want);
    return !strcmp(norm, w);
}

/* An open dossier of procedure 1.004227 at agency H26.1.2, received
 * received_ago seconds ago and due due_in seconds from now. */
static void open_dossier(FILE *f, const char *code, int64_t received_ago, int64_t due_in)
{
    char received[40], due[40];
    snprintf(received, sizeof(received), "%s", lt_h_time(-received_ago));
    snprintf(due, sizeof(due), "%s", lt_h_time(due_in));
    fprintf(f,
            "---\nversion: 1\nsender: report-test\nevent:\n  event_id: R-%s-1\n"
            "  occurred_at: %s\n  dossier_code: %s\n  procedure_code: \"1.004227\"\n"
            "  agency_code: H26.1.2\n  status:\n    status: REGISTERED\n"
            "    applicant: {id_number: \"079185009999\", name: Test, kind: CITIZEN}\n"
            "    received_at: %s\n    due_at: %s\n    channel: ONLINE\n"
            "---\nversion: 1\nsender: report-test\nevent:\n  event_id: R-%s-2\n"
            "  occurred_at: %s\n  dossier_code: %s\n  procedure_code: \"1.004227\"\n"
            "  agency_code: VPDKDD-Q1\n  status:\n    status: ACCEPTED\n",
            code, received, code, received, due, code, received, code);
}

int main(void)
{
    lt_h h;
    char yaml[1024];
    lt_h_init(&h, "report", NULL);
    /* land never answers: the open dossiers' deliveries stay PENDING, and
     * show says so under the overdue one's state */
    snprintf(yaml, sizeof(yaml),
             "agencies:\n"
             "  land: {endpoint: \"ipc://%s/nobody.sock\", timeout_ms: 100,"
             " backoff_initial_ms: 100}\n"
             "routes:\n"
             "  - {name: open, kinds: [status], senders: [report-test], to: [land]}\n",
             h.dir);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml), "%s", yaml);
    lt_h_start(&h);
    const char *src = getenv("LT_SOURCE_DIR");
    char args[2048];

    static const char *const examples[] = { "land-transfer", "business-registration",
                                            "late-dossier" };
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof(args), "publish '%s/examples/%s.yaml'", src, examples[i]);
        lt_h_check(ctl(&h, args) == 0, "publish %s:\n%s", examples[i], out);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/open.yaml", h.dir);
    FILE *f = fopen(path, "w");
    lt_h_check(f != NULL, "%s", path);
    open_dossier(f, "H26.1.2-OVERDUE-1", 10 * 86400, -86400); /* due yesterday */
    open_dossier(f, "H26.1.2-OPEN-2", 86400, 5 * 86400);      /* due in 5 days */
    fclose(f);
    snprintf(args, sizeof(args), "publish '%s'", path);
    lt_h_check(ctl(&h, args) == 0 && lt_h_count(out, "accepted  seq=") == 4,
               "publish open dossiers:\n%s", out);

    /* all time, by procedure:
     *                received settled on-time late on-time% open overdue */
    lt_h_check(ctl(&h, "report") == 0, "report:\n%s", out);
    lt_h_check(strstr(out, "received and settled: all time; open and overdue as of "),
               "report: no period line:\n%s", out);
    lt_h_check(row_is("1.004227", "3 1 1 0 100.0% 2 1") && row_is("2.000720", "1 1 0 1 0.0% 0 0") &&
                   row_is("2.001610", "1 1 1 0 100.0% 0 0") && row_is("total", "5 3 2 1 66.7% 2 1"),
               "report by procedure:\n%s", out);
    lt_h_check(strstr(out, "1 open dossier is past due: lienthongctl report --overdue lists it"),
               "report: no pointer to the overdue list:\n%s", out);

    /* by agency: the agency of a dossier's first event */
    lt_h_check(ctl(&h, "report --by agency") == 0, "report --by agency:\n%s", out);
    lt_h_check(row_is("H26.1.2", "3 1 1 0 100.0% 2 1") && row_is("H26.1.9", "1 1 0 1 0.0% 0 0") &&
                   row_is("H26.2.1", "1 1 1 0 100.0% 0 0") && !strstr(out, "VPDKDD-Q1"),
               "report by agency:\n%s", out);

    /* a period: received 16 Nov (business), settled 18 Nov (late) and 20 Nov
     * (business); the land transfer settled on 23 Nov is outside it */
    lt_h_check(ctl(&h, "report --from 2026-11-15 --to 2026-11-21") == 0, "report period:\n%s", out);
    lt_h_check(strstr(out, "received and settled from 2026-11-15 (2026-11-14T17:00:00Z) to "
                           "2026-11-21 (2026-11-20T17:00:00Z);"),
               "report period line (dates are midnight in Vietnam):\n%s", out);
    lt_h_check(row_is("total", "1 2 1 1 50.0% 2 1") && row_is("1.004227", "0 0 0 0 - 2 1"),
               "report period:\n%s", out);

    /* filters */
    lt_h_check(ctl(&h, "report --procedure 2.") == 0 && !strstr(out, "1.004227") &&
                   row_is("total", "2 2 1 1 50.0% 0 0"),
               "report --procedure:\n%s", out);
    lt_h_check(ctl(&h, "report --agency H26.1.9") == 0 && row_is("2.000720", "1 1 0 1 0.0% 0 0") &&
                   !strstr(out, "total") && !strstr(out, "2.001610"),
               "report --agency:\n%s", out);

    /* JSON: one object */
    lt_h_check(ctl(&h, "--json report --by agency") == 0, "report --json:\n%s", out);
    lt_h_check(out[0] == '{' && lt_h_count(out, "\n") == 1 && strstr(out, "\"from\":null") &&
                   strstr(out, "\"by\":\"agency\"") &&
                   strstr(out, "{\"key\":\"H26.1.9\",\"received\":1,\"settled\":1,\"on_time\":0,"
                               "\"late\":1,\"on_time_pct\":0.0,\"open\":0,\"overdue\":0}") &&
                   strstr(out, "\"total\":{\"received\":5,\"settled\":3,\"on_time\":2,\"late\":1,"
                               "\"on_time_pct\":66.7,\"open\":2,\"overdue\":1}"),
               "report --json:\n%s", out);

    /* the overdue list */
    lt_h_check(ctl(&h, "report --overdue") == 0, "report --overdue:\n%s", out);
    const char *r = row("H26.1.2-OVERDUE-1");
    lt_h_check(strstr(r, " 1.004227 ") && strstr(r, " H26.1.2 ") && strstr(r, " ACCEPTED ") &&
                   strstr(r, " 1d"),
               "overdue row:\n%s", out);
    lt_h_check(!strstr(out, "H26.1.2-OPEN-2") && strstr(out, "1 overdue; lienthongctl show"),
               "report --overdue lists more than the overdue one:\n%s", out);
    lt_h_check(ctl(&h, "--json report --overdue") == 0, "report --overdue --json:\n%s", out);
    lt_h_check(lt_h_count(out, "\n") == 1 &&
                   strstr(out, "{\"dossier_code\":\"H26.1.2-OVERDUE-1\",\"procedure_code\":"
                               "\"1.004227\",\"agency\":\"H26.1.2\",\"status\":\"ACCEPTED\"") &&
                   strstr(out, "\"overdue_s\":86"),
               "report --overdue --json:\n%s", out);

    /* show explains the overdue one: by how much, its last event, and the
     * deliveries of its events that have not gone through (land's gateway
     * is not there: never attempted) */
    lt_h_check(ctl(&h, "show H26.1.2-OVERDUE-1") == 0 &&
                   strstr(out, "undelivered  land: 2 PENDING, 0 attempts\n"),
               "show overdue: no undelivered line:\n%s", out);
    lt_h_check(strstr(out, "timeliness   overdue by 1d") &&
                   strstr(out, "last event   seq 21, ACCEPTED from report-test, stored "),
               "show overdue: no timeliness or last event line:\n%s", out);
    lt_h_check(ctl(&h, "show H26.1.9-261112-0118") == 0 && !strstr(out, "undelivered") &&
                   !strstr(out, "last event"),
               "show of a settled dossier with nothing undelivered:\n%s", out);

    /* bad options: exit 2, naming what is wrong; nothing read */
    static const struct {
        const char *args, *says;
    } bad[] = {
        { "report --from yesterday", "--from: \"yesterday\" is neither a date (YYYY-MM-DD" },
        { "report --to 2026-13-01", "--to: \"2026-13-01" },
        { "report --from 2026-12-01 --to 2026-11-01",
          "--from 2026-12-01 is not before --to 2026-11-01" },
        { "report --by dossier", "--by: \"dossier\" is not procedure or agency" },
        { "report --overdue --by agency", "give one of them" },
        { "stats --overdue", "option --overdue belongs to \"report\", not \"stats\"" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        lt_h_check(ctl(&h, bad[i].args) == 2 && strstr(out, bad[i].says),
                   "%s: not exit 2 saying \"%s\":\n%s", bad[i].args, bad[i].says, out);

    /* a dossier state stored before states had agency_code: the report reads
     * the agency from the dossier's first event (with the daemon down) */
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM");
    lt_store_opts o = { .dir = h.data_dir };
    lt_store *st = NULL;
    lt_store_txn *t = NULL;
    lt_dossier_state *cur = NULL;
    lt_diag d;
    lt_h_check(lt_store_open(&o, &st, NULL, &d) == 0 &&
                   lt_store_txn_begin(st, true, false, &t) == 0 &&
                   lt_store_get_state(t, "H26.1.9-261112-0118", &cur) == 0,
               "open the store for writing: %s", d.message);
    lt_dossier_state old = *cur;
    old.agency_code = NULL;
    old.events++;
    old.last_seq = lt_store_next_seq(t);
    lt_submission *sub = lt_h_result("report-test", "R-OLD-1", "H26.1.9-261112-0118");
    uint64_t seq = 0;
    lt_h_check(lt_store_append(t, "report-test", 0, sub->event, cur, &old, &seq) == 0 &&
                   lt_store_txn_commit(&t) == 0,
               "append with a state without agency_code");
    lt_h_sub_free(sub);
    lienthong__v1__dossier_state__free_unpacked(cur, NULL);
    lt_store_close(&st);
    lt_h_check(ctl(&h, "report --by agency") == 0 && row_is("H26.1.9", "1 1 0 1 0.0% 0 0") &&
                   !strstr(out, "\n- "),
               "report by agency of a state without agency_code:\n%s", out);

    lt_h_free(&h);
    printf("ok lienthongctl report: on-time figures by procedure and agency, a period, "
           "filters, the overdue list, bad options\n");
    return 0;
}
