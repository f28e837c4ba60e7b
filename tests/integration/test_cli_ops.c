/* test_cli_ops.c - lienthongctl's link and stream commands against a real
 * lienthongd and the agency simulators: queues while an agency is paused,
 * resume, dead letters listed, shown, requeued and dropped, tail resuming
 * after its own acks, show with deliveries, and exit 3 with the daemon down. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char out[1 << 20];

/* Run lienthongctl with args (a shell word list); capture stdout+stderr. */
static int ctl(lt_h *h, const char *args)
{
    return lt_h_ctl(h, args, out, sizeof(out));
}

/* The queues row of agency (a pointer into out), or NULL. */
static const char *row(const char *agency)
{
    char key[64];
    snprintf(key, sizeof(key), "\n%s ", agency);
    const char *p = strstr(out, key);
    return p ? p + 1 : NULL;
}

/* Poll `queues --json` until agency's pending equals want. */
static void wait_pending(lt_h *h, const char *agency, int want, int ms)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\"agency\":\"%s\",", agency);
    for (int i = 0; i < ms / 50; i++) {
        lt_h_check(ctl(h, "--json queues") == 0, "queues --json: %s", out);
        const char *p = strstr(out, needle);
        const char *q = p ? strstr(p, "\"pending\":") : NULL;
        if (q && atoi(q + 10) == want)
            return;
        usleep(50000);
    }
    lt_h_fail(__FILE__, __LINE__, "%s: pending never reached %d:\n%s", agency, want, out);
}

static void wait_sim(const lt_h_sim *sim, const char *needle, int want, int ms)
{
    for (int i = 0; i < ms / 20 && lt_h_sim_count(sim, needle) < want; i++)
        usleep(20000);
    lt_h_check(lt_h_sim_count(sim, needle) >= want, "%s: %d lines with \"%s\", want %d",
               sim->agency, lt_h_sim_count(sim, needle), needle, want);
}

/* Publish n status events of dossier (REGISTERED then IN_PROGRESS...). */
static void publish(lt_h *h, const char *dossier, int n, const char *tag)
{
    char path[400], args[600];
    snprintf(path, sizeof(path), "%s/%s.yaml", h->dir, tag);
    FILE *f = fopen(path, "w");
    lt_h_check(f, "write %s", path);
    static const int statuses[] = { 1, 2, 4, 9, 10 };
    for (int i = 0; i < n && i < 5; i++)
        fprintf(f,
                "---\nevent_id: %s-%d\noccurred_at: \"%s\"\ndossier_code: %s\n"
                "procedure_code: \"1.004227\"\nagency_code: SO-TNMT\nstatus:\n  status: %d\n%s",
                tag, i + 1, lt_h_time(-600 + i), dossier, statuses[i],
                i == 0              ? "  received_at: \"2026-01-01T00:00:00Z\"\n"
                                      "  due_at: \"2036-01-01T00:00:00Z\"\n"
                : statuses[i] == 9  ? "  finished_at: \"2026-01-02T00:00:00Z\"\n"
                : statuses[i] == 10 ? "  returned_at: \"2026-01-03T00:00:00Z\"\n"
                                    : "");
    fclose(f);
    snprintf(args, sizeof(args), "publish --sender motcua-test '%s'", path);
    lt_h_check(ctl(h, args) == 0, "publish %s: %s", tag, out);
}

/* Seqs printed by `tail --json`, in output order. */
static int seqs_of(unsigned long long *seqs, int max)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, "{\"seq\":")) && n < max; p += 7)
        seqs[n++] = strtoull(p + 7, NULL, 10);
    return n;
}

int main(void)
{
    lt_h h;
    lt_h_init(&h, "cliops", NULL);
    char stream_ep[320];
    snprintf(stream_ep, sizeof(stream_ep), "ipc://%s/stream.sock", h.dir);
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "agencies:\n"
             "  land: {endpoint: \"%s\", timeout_ms: 1000}\n"
             "  portal: {endpoint: \"%s\", timeout_ms: 1000, max_attempts: 2,"
             " backoff_initial_ms: 100}\n"
             "routes:\n"
             "  - {name: desk, kinds: [status], to: [land, portal]}\n"
             "streams:\n  endpoint: \"%s\"\n",
             lt_h_sim_endpoint(&h, "land"), lt_h_sim_endpoint(&h, "portal"), stream_ep);
    lt_h_sim land, portal;
    lt_h_sim_start(&h, &land, "land", NULL);
    lt_h_sim_start(&h, &portal, "portal", "--permanent-rate 1");
    lt_h_start(&h);

    /* pause land: its deliveries wait, queues shows them, resume drains */
    lt_h_check(ctl(&h, "pause land") == 0 && strstr(out, "land paused"), "pause: %s", out);
    lt_h_check(ctl(&h, "pause nowhere") == 1 && strstr(out, "nowhere"), "pause unknown: %s", out);
    publish(&h, "H-OPS-1", 3, "A");
    wait_pending(&h, "land", 3, 5000);
    lt_h_check(ctl(&h, "queues") == 0, "queues: %s", out);
    const char *r = row("land");
    lt_h_check(r && !strncmp(r, "land         paused", 19), "land row not paused:\n%s", out);
    lt_h_check(ctl(&h, "resume land") == 0 && strstr(out, "land resumed"), "resume: %s", out);
    wait_pending(&h, "land", 0, 5000);
    wait_sim(&land, "outcome=OK", 3, 5000);

    /* the portal refuses everything: seq 1 is a dead letter (and a delivery_failed
     * result, seq 4), the dossier's seq 2 and 3 are held behind it */
    for (int i = 0; i < 100; i++) {
        lt_h_check(ctl(&h, "--json dead list portal") == 0, "dead list: %s", out);
        if (lt_h_count(out, "\"state\":\"DEAD\"") >= 1)
            break;
        usleep(50000);
    }
    lt_h_check(lt_h_count(out, "\"state\":\"DEAD\"") >= 1, "no dead letter for the portal:\n%s",
               out);
    lt_h_check(ctl(&h, "dead list") == 0 && strstr(out, "portal") && strstr(out, "H-OPS-1"),
               "dead list: %s", out);
    lt_h_check(ctl(&h, "dead show portal 1") == 0 && strstr(out, "state            DEAD") &&
                   strstr(out, "REGISTERED"),
               "dead show: %s", out);
    lt_h_check(ctl(&h, "dead show portal 999") == 1, "dead show of nothing: %s", out);
    lt_h_check(ctl(&h, "queues") == 0, "queues: %s", out);
    lt_h_check((r = row("portal")) != NULL, "no portal row:\n%s", out);

    /* show: every event with its deliveries */
    lt_h_check(ctl(&h, "show H-OPS-1") == 0, "show: %s", out);
    lt_h_check(lt_h_count(out, "-> land       DELIVERED") == 3, "show: land deliveries:\n%s", out);
    lt_h_check(strstr(out, "-> portal     DEAD") && strstr(out, "error="),
               "show: the portal's dead letter:\n%s", out);
    /* and sums up, under the state, what has not gone through */
    const char *u = strstr(out, "undelivered  portal: ");
    lt_h_check(u && strstr(u, " DEAD, ") && strstr(u, ", last error \"") && !strstr(out, "land: "),
               "show: no undelivered line for the portal's dead letters:\n%s", out);
    lt_h_check(ctl(&h, "--json show H-OPS-1") == 0 && lt_h_count(out, "\"deliveries\":[") == 4 &&
                   strstr(out, "\"results\":[{\"seq\":4,"),
               "show --json: %s", out);

    /* the portal recovers: requeue every dead letter, all delivered */
    lt_h_sim_stop(&portal);
    lt_h_sim_start(&h, &portal, "portal", NULL);
    lt_h_check(ctl(&h, "dead requeue portal --all") == 0 && strstr(out, "requeued"), "requeue: %s",
               out);
    lt_h_check(ctl(&h, "dead requeue portal") == 2, "requeue without SEQ or --all: %s", out);
    wait_sim(&portal, "outcome=OK", 3, 10000);
    wait_pending(&h, "portal", 0, 5000);
    lt_h_check(ctl(&h, "dead list portal") == 0 && strstr(out, "no dead letters"),
               "dead letters left after requeue:\n%s", out);

    /* drop: a dead letter of a second dossier goes away for good */
    lt_h_sim_stop(&portal);
    lt_h_sim_start(&h, &portal, "portal", "--permanent-rate 1");
    publish(&h, "H-OPS-2", 1, "B");
    for (int i = 0; i < 100 && !(ctl(&h, "--json dead list portal") == 0 && strstr(out, "DEAD"));
         i++)
        usleep(50000);
    lt_h_check(strstr(out, "\"seq\":5"), "seq 5 not dead at the portal:\n%s", out);
    lt_h_check(ctl(&h, "dead drop portal 5") == 0 && strstr(out, "dropped 1 dead letter"),
               "drop: %s", out);
    lt_h_check(ctl(&h, "dead drop portal 5") == 1, "second drop of seq 5: %s", out);
    lt_h_check(ctl(&h, "--json dead show portal 5") == 0 && strstr(out, "\"state\":\"DROPPED\""),
               "dropped not kept in history: %s", out);

    /* tail: 3 records in seq order, then a second run resumes after them */
    lt_h_check(ctl(&h, "--json tail --consumer report-1 --from earliest --count 3") == 0,
               "tail 1: %s", out);
    unsigned long long s[16];
    int n = seqs_of(s, 16);
    lt_h_check(n == 3 && s[0] == 1 && s[1] == 2 && s[2] == 3, "tail 1 printed:\n%s", out);
    lt_h_check(ctl(&h, "tail --consumer report-1 --count 1") == 0, "tail 2: %s", out);
    lt_h_check(!strncmp(out, "       4  ", 10) && strstr(out, "delivery_failed"),
               "tail 2 did not resume at seq 4:\n%s", out);
    lt_h_check(ctl(&h, "--json tail --consumer report-2 --kinds status --from 2 --count 2") == 0,
               "tail 3: %s", out);
    n = seqs_of(s, 16);
    lt_h_check(n == 2 && s[0] == 2 && s[1] == 3, "tail --from 2 printed:\n%s", out);
    lt_h_check(ctl(&h, "tail --consumer x --kinds nonsense") == 2, "bad kind: %s", out);

    /* a tail that waits for new events, then a daemon restart under it: no repeats */
    char cmd[2048], tail_out[400];
    snprintf(tail_out, sizeof(tail_out), "%s/tail.out", h.dir);
    snprintf(cmd, sizeof(cmd),
             "'%s' -c '%s' --json tail --consumer follower --from latest --kinds status --count 2 "
             "> '%s' 2>&1",
             getenv("LT_CTL"), h.config, tail_out);
    FILE *tp = popen(cmd, "r");
    lt_h_check(tp, "popen tail");
    usleep(300000);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "daemon stop");
    lt_h_start(&h);
    publish(&h, "H-OPS-3", 2, "C");
    int st = pclose(tp);
    FILE *f = fopen(tail_out, "r");
    n = f ? (int)fread(out, 1, sizeof(out) - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    n = seqs_of(s, 16);
    lt_h_check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 2 && s[0] > 6 && s[1] > s[0] &&
                   strstr(out, "\"C-1\"") && strstr(out, "\"C-2\""),
               "follower across a daemon restart (%d):\n%s", st, out);

    /* daemon down: store counts with exit 0, changes exit 3 */
    lt_h_check(ctl(&h, "pause land") == 0, "pause land: %s", out);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "daemon stop");
    lt_h_check(ctl(&h, "queues") == 0 && strstr(out, "daemon not running") && row("land") &&
                   strstr(out, "paused by an operator"),
               "queues with the daemon down: %s", out);
    lt_h_check(ctl(&h, "--json queues") == 0 && strstr(out, "\"daemon_running\":false"),
               "queues --json, daemon down: %s", out);
    lt_h_check(ctl(&h, "resume land") == 3 && strstr(out, "nothing changed"), "resume down: %s",
               out);
    lt_h_check(ctl(&h, "dead requeue portal --all") == 3 && strstr(out, "daemon not running"),
               "requeue down: %s", out);
    lt_h_check(ctl(&h, "dead list") == 0, "dead list, daemon down: %s", out);

    lt_h_sim_stop(&land);
    lt_h_sim_stop(&portal);
    lt_h_free(&h);
    printf("ok cli ops: queues, pause/resume, dead list/show/requeue/drop, tail, show "
           "deliveries, daemon down\n");
    return 0;
}
