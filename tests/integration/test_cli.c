/* test_cli.c - lienthongctl against a running lienthongd, as an operator
 * would use it: publish the shipped example, read it back, exit statuses. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char out[1 << 20];

/* Run lienthongctl with args (a shell word list); capture stdout+stderr. */
static int ctl(lt_h *h, const char *args)
{
    return lt_h_ctl(h, args, out, sizeof(out));
}


int main(void)
{
    lt_h h;
    lt_h_init(&h, "cli", NULL);
    lt_h_start(&h);
    const char *src = getenv("LT_SOURCE_DIR");
    char args[2048];

    snprintf(args, sizeof(args), "publish '%s/examples/land-transfer.yaml'", src);
    lt_h_check(ctl(&h, args) == 0, "publish example: %s", out);
    lt_h_check(lt_h_count(out, "accepted  seq=") == 8, "expected 8 accepted lines:\n%s", out);
    lt_h_check(ctl(&h, args) == 0, "republish example: %s", out);
    lt_h_check(lt_h_count(out, "duplicate seq=") == 8, "expected 8 duplicate lines:\n%s", out);

    /* the other shipped examples publish too, and a late dossier shows as late */
    snprintf(args, sizeof(args), "publish '%s/examples/business-registration.yaml'", src);
    lt_h_check(ctl(&h, args) == 0 && lt_h_count(out, "accepted  seq=") == 7,
               "business-registration example:\n%s", out);
    snprintf(args, sizeof(args), "publish '%s/examples/late-dossier.yaml'", src);
    lt_h_check(ctl(&h, args) == 0 && lt_h_count(out, "accepted  seq=") == 4, "late-dossier example:\n%s",
               out);
    lt_h_check(ctl(&h, "show H26.1.9-261112-0118") == 0 && strstr(out, "late (completed after"),
               "late dossier not shown as late:\n%s", out);

    /* show: timeline oldest first, masked applicant id, state */
    lt_h_check(ctl(&h, "show H26.1.2-261110-0001") == 0, "show: %s", out);
    char *reg = strstr(out, "REGISTERED"), *ret = strstr(out, "RESULT_RETURNED");
    lt_h_check(reg && ret && reg < ret, "timeline not oldest first:\n%s", out);
    lt_h_check(!strstr(out, "079185001234"), "applicant id number shown unmasked:\n%s", out);
    lt_h_check(strstr(out, "on time"), "timeliness missing:\n%s", out);
    lt_h_check(ctl(&h, "--json show H26.1.2-261110-0001") == 0, "show --json: %s", out);
    lt_h_check(out[0] == '{' && strstr(out, "\"status\":\"RESULT_RETURNED\""), "show --json:\n%s",
               out);
    lt_h_check(ctl(&h, "show H26.NOPE") == 1, "unknown dossier did not exit 1: %s", out);
    lt_h_check(strstr(out, "H26.NOPE"), "unknown dossier not named: %s", out);

    /* events and stats, human and JSON */
    lt_h_check(ctl(&h, "--json events --from 3 --limit 2") == 0, "events: %s", out);
    lt_h_check(lt_h_count(out, "\n") == 2 && strncmp(out, "{\"seq\":3,", 9) == 0, "events --json:\n%s",
               out);
    lt_h_check(ctl(&h, "stats") == 0 && strstr(out, "last_seq     19") &&
                   strstr(out, "journal      16.0 MiB; every event it holds is in the store"),
               "stats:\n%s", out);
    lt_h_check(ctl(&h, "--json stats") == 0 && strstr(out, "\"last_seq\":19"), "stats --json:\n%s",
               out);

    /* a rejected event: exit 1 and the code and field on the line */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad.yaml", h.dir);
    FILE *f = fopen(bad, "w");
    fprintf(f, "version: 1\nsender: cli-test\nevent:\n  event_id: B-1\n"
               "  occurred_at: 2026-01-05T08:00:00Z\n  dossier_code: H26.1.2-261110-0001\n"
               "  procedure_code: \"1.004227\"\n  agency_code: X\n"
               "  status: {status: REGISTERED}\n");
    fclose(f);
    snprintf(args, sizeof(args), "publish '%s'", bad);
    lt_h_check(ctl(&h, args) == 1, "rejected publish did not exit 1: %s", out);
    lt_h_check(strstr(out, "BAD_TRANSITION") && strstr(out, "event.status.status"),
               "rejection line lacks code/field:\n%s", out);

    /* input errors name the file, line and column; exit 2 */
    f = fopen(bad, "w");
    fprintf(f, "version: 1\nsender: cli-test\nevent:\n  event_idd: B-2\n");
    fclose(f);
    lt_h_check(ctl(&h, args) == 2, "unknown field did not exit 2: %s", out);
    lt_h_check(strstr(out, "bad.yaml:4:"), "input error not located:\n%s", out);

    /* daemon stopped: exit 3 naming what got no reply */
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM did not exit 0");
    snprintf(args, sizeof(args), "publish --timeout-ms 300 '%s/examples/land-transfer.yaml'", src);
    lt_h_check(ctl(&h, args) == 3, "publish without a daemon did not exit 3: %s", out);
    lt_h_check(strstr(out, "MC-20261110-0001"), "unanswered event not named:\n%s", out);
    /* reads work without the daemon too */
    lt_h_check(ctl(&h, "stats") == 0, "stats without daemon: %s", out);

    lt_h_free(&h);
    printf("ok lienthongctl publish/duplicate/show/events/stats/--json and exit statuses\n");
    return 0;
}
