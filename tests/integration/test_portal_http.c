/* test_portal_http.c - the portal link over HTTP/JSON against the fake portal
 * (tests/fakeportal): the land-transfer flow reaches it with every status
 * change in order and the final result; an outage during a burst is drained
 * in order with no loss and one first upsert per dossier; an expired session
 * is renewed once, not in a loop; a wrong password puts the link in a visible
 * failed state without hammering; a dossier whose procedure has no national
 * code is a dead letter naming both. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "timefmt.h"

typedef struct portal {
    pid_t pid;
    int port;
    char log[300], down[300];
} portal;

static void portal_start(lt_h *h, portal *p, const char *args)
{
    char port_file[300], argbuf[1024];
    snprintf(port_file, sizeof(port_file), "%s/portal.port", h->dir);
    snprintf(p->log, sizeof(p->log), "%s/portal.log", h->dir);
    snprintf(p->down, sizeof(p->down), "%s/portal.down", h->dir);
    unlink(port_file);
    const char *argv[32] = {
        getenv("LT_FAKEPORTAL"), "--port", "0", "--port-file", port_file, "--log", p->log,
        "--down-file",           p->down
    };
    int n = 9;
    snprintf(argbuf, sizeof(argbuf), "%s", args ? args : "");
    for (char *save = NULL, *tok = strtok_r(argbuf, " ", &save); tok && n < 31;
         tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    argv[n] = NULL;
    /* the harness's spawn: a failing test (lt_h_fail) takes the portal down too */
    p->pid = lt_h_spawn(h, argv);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(port_file, "r");
        if (f && fscanf(f, "%d", &p->port) == 1) {
            fclose(f);
            return;
        }
        if (f)
            fclose(f);
        usleep(10000);
    }
    lt_h_fail(__FILE__, __LINE__, "fake portal did not start (%s %s); log %s", argv[0],
              args ? args : "", h->log);
}

static void portal_stop(portal *p)
{
    kill(p->pid, SIGTERM);
    lt_h_wait(p->pid, 5000);
}

/* Lines of the portal's log containing every needle (NULL-terminated). */
static int count2(const portal *p, const char *a, const char *b)
{
    FILE *f = fopen(p->log, "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, a) && (!b || strstr(line, b));
    if (f)
        fclose(f);
    return n;
}

static void wait_count(const portal *p, const char *a, const char *b, int want, int ms)
{
    for (int i = 0; i < ms / 10 && count2(p, a, b) < want; i++)
        usleep(10000);
    lt_h_check(count2(p, a, b) == want, "portal log: %d lines with \"%s\"%s%s, want %d (%s)",
               count2(p, a, b), a, b ? " and " : "", b ? b : "", want, p->log);
}

/* The fake portal answers every call 503 (or its --down-status) until p->down is removed. */
static void portal_down(const portal *p)
{
    FILE *d = fopen(p->down, "w");
    lt_h_check(d && fclose(d) == 0, "down file %s", p->down);
}

static void config(lt_h *h, const portal *p, const char *password, const char *extra)
{
    snprintf(h->extra_yaml, sizeof(h->extra_yaml),
             "agencies:\n"
             "  portal:\n"
             "    transport: http\n"
             "    url: 'http://127.0.0.1:%d'\n"
             "    username: lienthong\n"
             "    password: %s\n"
             "    madonvi: '000.00.00.H29'\n"
             "    procedure_map: {'1.004227': '1.004227'}\n"
             "    backoff_initial_ms: 200\n"
             "    backoff_max_ms: 1000\n"
             "%s"
             "    timeout_ms: 5000\n"
             "%s"
             "routes:\n"
             "  - {name: portal-all, to: [portal]}\n",
             p->port, password,
             extra && strstr(extra, "request_timeout_ms") ? "" : "    request_timeout_ms: 2000\n",
             extra ? extra : "");
}

/* lienthongctl portal status: the last sync and its answer, failures, unknown dossiers. */
static void portal_status_shows_what_was_sent_and_answered(lt_h *h)
{
    char cmd[2048], out[16384];
    const char *ctl = getenv("LT_CTL");

    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal status H26.1.2-261110-0001 2>&1", ctl,
             h->config);
    int rc = lt_h_run(cmd, out, sizeof(out));
    lt_h_check(rc == 0, "portal status exit %d: %s", rc, out);
    lt_h_check(strstr(out, "last synced  seq ") && strstr(out, "(RESULT_RETURNED)") &&
                   strstr(out, "sent and answered: DongBoHoSoMC(MaHoSo=H26.1.2-261110-0001 "
                               "isUpdating=True TrangThaiHoSo=10)") &&
                   strstr(out, "CapNhatTienDoHoSoMC(TrangThai=10") &&
                   strstr(out, "not synced   0 pending, 0 dead") &&
                   strstr(out, "result tax_notice") && strstr(out, "isUpdating=False"),
               "portal status: %s", out);

    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' --json portal status H26.1.2-261110-0001 2>&1", ctl,
             h->config);
    rc = lt_h_run(cmd, out, sizeof(out));
    lt_h_check(rc == 0 && strstr(out, "{\"dossier_code\":\"H26.1.2-261110-0001\",") == out &&
                   strstr(out, "\"agency\":\"portal\"") &&
                   strstr(out, "\"last_synced\":{\"seq\":") &&
                   strstr(out, "\"status\":\"RESULT_RETURNED\"") &&
                   strstr(out, "\"result_kind\":\"tax_notice\"") &&
                   strstr(out, "TrangThaiHoSo=10") && strchr(out, '\n') == out + strlen(out) - 1,
               "portal status --json (exit %d): %s", rc, out);

    /* a failure: the dead letter's error is shown, nothing was synced */
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal status H29-UNMAPPED-1 2>&1", ctl, h->config);
    rc = lt_h_run(cmd, out, sizeof(out));
    lt_h_check(rc == 0 && strstr(out, "last synced  never") &&
                   strstr(out, "not synced   0 pending, 1 dead") &&
                   strstr(out, "DEAD after 1 attempts: permanent failure: mapping") &&
                   strstr(out, "no national MaTTHC"),
               "portal status of a dead letter (exit %d): %s", rc, out);

    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal status H29-NO-SUCH 2>&1", ctl, h->config);
    rc = lt_h_run(cmd, out, sizeof(out));
    lt_h_check(rc == 1 && strstr(out, "H29-NO-SUCH: not found"), "unknown dossier: exit %d: %s", rc,
               out);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal 2>&1", ctl, h->config);
    lt_h_check(lt_h_run(cmd, out, sizeof(out)) == 2, "portal without a subcommand: %s", out);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal stats X 2>&1", ctl, h->config);
    lt_h_check(lt_h_run(cmd, out, sizeof(out)) == 2, "portal stats: %s", out);
}

/* The land-transfer flow, a result, and a dossier whose procedure has no MaTTHC. */
static void flow_reaches_the_portal_in_order_with_the_result(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-flow", NULL);
    portal_start(&h, &p, NULL);
    config(&h, &p, "secret", "    rate_per_s: 200\n");
    lt_h_start(&h);

    char cmd[2048], out[8192] = "";
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' publish '%s/examples/land-transfer.yaml' >/dev/null",
             getenv("LT_CTL"), h.config, getenv("LT_SOURCE_DIR"));
    lt_h_check(system(cmd) == 0, "publish failed");
    /* 8 events: 7 status changes and the tax notice; every one synced, a step per status */
    wait_count(&p, "sync MaHoSo=H26.1.2-261110-0001", "code=00", 8, 10000);
    wait_count(&p, "progress MaHoSo=H26.1.2-261110-0001", "code=00", 7, 10000);
    lt_h_check(count2(&p, "isUpdating=False", NULL) == 1, "one first sync");
    lt_h_check(count2(&p, "isUpdating=False", "known=0") == 1, "first sync is the first");
    lt_h_check(count2(&p, "login ok", NULL) == 1, "one login");

    /* statuses in published order: 1 2 4 6 (the result, at 6) 4 9 10 */
    static const char *const want[] = { "=1 ", "=2 ", "=4 ", "=6 ", "=6 ", "=4 ", "=9 ", "=10 " };
    FILE *f = fopen(p.log, "r");
    char line[1024];
    int i = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "sync ", 5) == 0) {
            char *t = strstr(line, "TrangThaiHoSo");
            lt_h_check(i < 8 && t && strncmp(t + 13, want[i], strlen(want[i])) == 0,
                       "sync %d: %s (want TrangThaiHoSo%s)", i, line, i < 8 ? want[i] : "?");
            i++;
        }
    if (f)
        fclose(f);
    /* every sync carries the dossier's two files; the tax notice's fee from the result's own
     * sync on, so the later status syncs (4, 9, 10) do not wipe it from the portal */
    lt_h_check(count2(&p, "sync MaHoSo=H26.1.2-261110-0001", "files=2 ") == 8,
               "not every sync carries the dossier's 2 files");
    lt_h_check(count2(&p, "sync MaHoSo=H26.1.2-261110-0001", "fees=0 docs=0") == 4 &&
                   count2(&p, "sync MaHoSo=H26.1.2-261110-0001", "fees=1 docs=0") == 4,
               "the fee is not carried by the result's sync and every one after it");
    f = fopen(p.log, "r");
    i = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "sync ", 5) == 0) {
            lt_h_check(strstr(line, i < 4 ? "fees=0 " : "fees=1 ") != NULL,
                       "sync %d: %s (want fees=%d)", i, line, i < 4 ? 0 : 1);
            i++;
        }
    if (f)
        fclose(f);

    /* a dossier whose procedure has no national code: a dead letter naming both */
    void *c = lt_h_client(&h);
    lt_submission *s = lt_h_status("motcua-q1", "unmapped-1", "H29-UNMAPPED-1", 2);
    free(s->event->procedure_code);
    s->event->procedure_code = strdup("9.999999");
    lt_reply *r = lt_h_call(c, s);
    lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED, "unmapped not accepted");
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' dead list 2>&1", getenv("LT_CTL"), h.config);
    for (int k = 0; k < 200 && !strstr(out, "9.999999"); k++) {
        lt_h_run(cmd, out, sizeof(out));
        usleep(20000);
    }
    lt_h_check(strstr(out, "H29-UNMAPPED-1") && strstr(out, "no national MaTTHC"),
               "dead list does not name the unmapped dossier: %s", out);
    lt_h_check(count2(&p, "H29-UNMAPPED-1", NULL) == 0, "the unmapped dossier reached the portal");

    /* two more: dead letters counted by reason, and listed by one */
    const char *more[][2] = { { "H29-UNMAPPED-2", "9.999999" }, { "H29-UNMAPPED-3", "8.888888" } };
    for (int k = 0; k < 2; k++) {
        s = lt_h_status("motcua-q1", more[k][0], more[k][0], 2);
        free(s->event->procedure_code);
        s->event->procedure_code = strdup(more[k][1]);
        r = lt_h_call(c, s);
        lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_sub_free(s);
    }
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' dead reasons portal 2>&1", getenv("LT_CTL"), h.config);
    for (int k = 0; k < 200 && !strstr(out, "8.888888"); k++) {
        lt_h_run(cmd, out, sizeof(out));
        usleep(20000);
    }
    lt_h_check(
        strstr(out, "       2  portal       H29-UNMAPPED-1") &&
            strstr(out, "\"permanent failure: mapping: procedure code \\\"9.999999\\\" has no "
                        "national MaTTHC") &&
            strstr(out, "       1  portal       H29-UNMAPPED-3") && !strstr(out, "UNMAPPED-2"),
        "dead reasons: %s", out);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' dead list --reason 8.888888 2>&1", getenv("LT_CTL"),
             h.config);
    lt_h_run(cmd, out, sizeof(out));
    lt_h_check(strstr(out, "H29-UNMAPPED-3") && !strstr(out, "H29-UNMAPPED-1"),
               "dead list --reason: %s", out);
    portal_status_shows_what_was_sent_and_answered(&h);
    zmq_close(c);
    lt_h_free(&h);
    portal_stop(&p);
}

/* Wait until every portal delivery of the dossier is recorded done in the store. */
static void wait_synced(lt_h *h, const char *code)
{
    char cmd[1024], out[16384] = "";
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' portal status %s 2>&1", getenv("LT_CTL"), h->config,
             code);
    for (int i = 0; i < 500; i++) {
        if (lt_h_run(cmd, out, sizeof(out)) == 0 && strstr(out, "not synced   0 pending, 0 dead"))
            return;
        usleep(20000);
    }
    lt_h_fail(__FILE__, __LINE__, "%s not synced: %s", code, out);
}

static void publish(lt_h *h, lt_submission *s)
{
    void *c = lt_h_client(h);
    lt_reply *r = lt_h_call(c, s);
    lt_h_check(r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED, "%s not accepted",
               s->event->event_id);
    lienthong__v1__reply__free_unpacked(r, NULL);
    lt_h_sub_free(s);
    zmq_close(c);
}

/* A result is synced at the dossier's status at the result's seq, read from the store: the
 * same after kill -9 and restarts, even when a later status is already stored when the result
 * is sent (the dossier's current state is newer than the result). */
static void result_after_a_restart_carries_its_status(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-restart", NULL);
    portal_start(&h, &p, NULL);
    config(&h, &p, "secret", NULL);
    lt_h_start(&h);

    /* A: status 6 synced, kill -9, restart, then its result */
    publish(&h, lt_h_status("motcua-q1", "ra-1", "H29-RA", 2));
    publish(&h, lt_h_status("motcua-q1", "ra-2", "H29-RA", 6));
    wait_count(&p, "sync MaHoSo=H29-RA ", "code=00", 2, 10000);
    wait_count(&p, "progress MaHoSo=H29-RA ", "code=00", 2, 10000);
    wait_synced(&h, "H29-RA");
    lt_h_check(lt_h_stop(&h, SIGKILL) == 128 + SIGKILL, "kill -9");
    lt_h_start(&h);
    publish(&h, lt_h_result("tax-gw", "ra-3", "H29-RA"));
    wait_count(&p, "sync MaHoSo=H29-RA ", "code=00", 3, 10000);
    wait_count(&p, "sync MaHoSo=H29-RA ", "TrangThaiHoSo=6 known=1 code=00", 2, 1000);
    wait_count(&p, "progress MaHoSo=H29-RA ", "code=00", 2, 1000); /* no step for a result */

    /* B: status 6 synced; with the portal down its result and then PROCESSED are stored, kill -9
     * while they wait, restart, portal up: the result still goes at 6, then 9 */
    publish(&h, lt_h_status("motcua-q1", "rb-1", "H29-RB", 6));
    wait_count(&p, "sync MaHoSo=H29-RB ", "code=00", 1, 10000);
    wait_count(&p, "progress MaHoSo=H29-RB ", "code=00", 1, 10000);
    wait_synced(&h, "H29-RB");
    portal_down(&p);
    int downs = count2(&p, "down", NULL);
    publish(&h, lt_h_result("tax-gw", "rb-2", "H29-RB"));
    publish(&h, lt_h_status("motcua-q1", "rb-3", "H29-RB", 9));
    for (int i = 0; i < 500 && count2(&p, "down", NULL) == downs; i++)
        usleep(10000);
    lt_h_check(count2(&p, "down", NULL) > downs, "the outage was not seen");
    lt_h_check(lt_h_stop(&h, SIGKILL) == 128 + SIGKILL, "kill -9");
    unlink(p.down);
    lt_h_start(&h);
    wait_count(&p, "sync MaHoSo=H29-RB ", "code=00", 3, 15000);
    FILE *f = fopen(p.log, "r");
    char line[1024];
    int i = 0;
    static const char *const want[] = { "=6 ", "=6 ", "=9 " };
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "sync MaHoSo=H29-RB ", 19) == 0 && strstr(line, "code=00")) {
            char *t = strstr(line, "TrangThaiHoSo");
            lt_h_check(i < 3 && t && strncmp(t + 13, want[i], strlen(want[i])) == 0,
                       "H29-RB sync %d: %s", i, line);
            i++;
        }
    if (f)
        fclose(f);
    wait_count(&p, "progress MaHoSo=H29-RB ", "code=00", 2, 5000);
    lt_h_free(&h);
    portal_stop(&p);
}

/* BURST dossiers CODE-00000.., status 2 then 4 each, published and acknowledged while the
 * portal is down; returns once the daemon has seen the outage. */
#define BURST 5000

static void burst_during_an_outage(lt_h *h, portal *p, const char *name, const char *code_prefix)
{
    lt_h_init(h, name, NULL);
    portal_start(h, p, NULL);
    config(h, p, "secret", "    window: 64\n");
    portal_down(p);
    lt_h_start(h);
    void *c = lt_h_client(h);
    char id[64], code[64];
    for (int st = 0; st < 2; st++)
        for (int i = 0; i < BURST; i++) {
            snprintf(id, sizeof(id), "%s-%d-%d", code_prefix, i, st);
            snprintf(code, sizeof(code), "%s-%05d", code_prefix, i);
            lt_submission *s = lt_h_status("motcua-q1", id, code, st ? 4 : 2);
            lt_h_send(c, s);
            lt_h_sub_free(s);
        }
    for (int i = 0; i < 2 * BURST; i++) {
        lt_reply *r = lt_h_recv(c, 10000);
        lt_h_check(r && r->outcome == LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED, "burst ack %d", i);
        lienthong__v1__reply__free_unpacked(r, NULL);
    }
    zmq_close(c);
    for (int i = 0; i < 500 && count2(p, "down", NULL) == 0; i++)
        usleep(10000);
    lt_h_check(count2(p, "down", NULL) > 0, "the outage was not seen");
}

static void outage_during_a_burst_is_drained_in_order(void)
{
    lt_h h;
    portal p;
    burst_during_an_outage(&h, &p, "portal-burst", "H29-B");
    int64_t t0 = lt_time_now_ms();
    unlink(p.down);
    wait_count(&p, "sync MaHoSo=H29-B-", "code=00", 2 * BURST, 60000);
    wait_count(&p, "progress MaHoSo=H29-B-", "code=00", 2 * BURST, 10000);
    int64_t ms = lt_time_now_ms() - t0;
    fprintf(stderr,
            "drained %d dossiers (%d events, %d portal calls) in %lld ms: %.0f dossiers/s\n", BURST,
            2 * BURST, 4 * BURST, (long long)ms, BURST * 1000.0 / (double)(ms ? ms : 1));

    /* per dossier: first upsert False then True, status 2 before 4, each step once */
    static char first[BURST], seen[BURST];
    FILE *f = fopen(p.log, "r");
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
        int i, stv;
        char up[8];
        if (sscanf(line, "sync MaHoSo=H29-B-%d isUpdating=%7s TrangThaiHoSo=%d", &i, up, &stv) ==
            3) {
            lt_h_check(i >= 0 && i < BURST, "bad code in %s", line);
            lt_h_check(stv == (seen[i] ? 4 : 2), "dossier %d: status %d out of order", i, stv);
            lt_h_check(!strcmp(up, seen[i] ? "True" : "False"), "dossier %d: isUpdating %s", i, up);
            first[i] += !seen[i];
            seen[i]++;
        }
    }
    if (f)
        fclose(f);
    for (int i = 0; i < BURST; i++)
        lt_h_check(first[i] == 1 && seen[i] == 2, "dossier %d: %d syncs", i, seen[i]);
    lt_h_free(&h);
    portal_stop(&p);
}

/* The outage burst again, with kill -9 twice during the drain: no loss, calls in order per
 * dossier (statuses never go back, each step after its sync), no dossier told twice that it is
 * new, every dossier synced to the end. */
static void kill_during_the_drain_changes_nothing(void)
{
    lt_h h;
    portal p;
    burst_during_an_outage(&h, &p, "portal-kill", "H29-K");
    unlink(p.down);
    /* kill -9 a third and two thirds of the way through the drain */
    for (int k = 1; k <= 2; k++) {
        int want = k * 2 * BURST / 3;
        for (int i = 0; i < 6000 && count2(&p, "sync MaHoSo=H29-K-", "code=00") < want; i++)
            usleep(10000);
        int at = count2(&p, "sync MaHoSo=H29-K-", "code=00");
        lt_h_check(at >= want && at < 2 * BURST, "kill %d at %d syncs: not mid-drain", k, at);
        lt_h_check(lt_h_stop(&h, SIGKILL) == 128 + SIGKILL, "kill -9");
        fprintf(stderr, "kill -9 after %d of %d syncs\n", at, 2 * BURST);
        lt_h_start(&h);
    }
    /* every dossier: status 2 then 4, synced and stepped; nothing left owed */
    static int stv[BURST], steps[BURST], falses[BURST], trues_before[BURST];
    for (int tries = 0;; tries++) {
        memset(stv, 0, sizeof(stv));
        memset(steps, 0, sizeof(steps));
        memset(falses, 0, sizeof(falses));
        memset(trues_before, 0, sizeof(trues_before));
        FILE *f = fopen(p.log, "r");
        char line[1024];
        int done = 0;
        while (f && fgets(line, sizeof(line), f)) {
            int i, v;
            char up[8];
            if (sscanf(line, "sync MaHoSo=H29-K-%d isUpdating=%7s TrangThaiHoSo=%d", &i, up, &v) ==
                3) {
                lt_h_check(i >= 0 && i < BURST, "bad code in %s", line);
                lt_h_check(v >= stv[i], "dossier %d: status %d after %d", i, v, stv[i]);
                lt_h_check(strcmp(up, "False") || v == 2, "dossier %d: first upsert at %d", i, v);
                falses[i] += !strcmp(up, "False");
                trues_before[i] += !strcmp(up, "True") && !falses[i];
                stv[i] = v;
            } else if (sscanf(line, "progress MaHoSo=H29-K-%d TrangThai=%d", &i, &v) == 2 &&
                       strstr(line, "code=00")) {
                lt_h_check(i >= 0 && i < BURST && v == stv[i], "progress %s before its sync", line);
                steps[i] |= v == 2 ? 1 : 2;
            }
        }
        if (f)
            fclose(f);
        for (int i = 0; i < BURST; i++)
            done += stv[i] == 4 && steps[i] == 3;
        if (done == BURST)
            break;
        lt_h_check(tries < 3000, "%d of %d dossiers synced to the end", done, BURST);
        usleep(10000);
    }
    /* Never told twice that a dossier is new: a first upsert whose fate a kill left unknown (its
     * mark committed; sent or not) goes again as an update of the same MaHoSo, isUpdating True.
     * When the kill came before it left, the portal's first sight of the dossier is that update
     * (the call is an upsert keyed by MaHoSo); only marks committed when a kill came can do
     * that: at most a window (64) per kill. */
    int as_update = 0;
    for (int i = 0; i < BURST; i++) {
        lt_h_check(falses[i] <= 1, "dossier %d: isUpdating False %d times", i, falses[i]);
        lt_h_check(!falses[i] || !trues_before[i], "dossier %d: isUpdating False after True", i);
        as_update += !falses[i];
    }
    fprintf(stderr,
            "kill -9 twice during the drain: %d dossiers, 0 repeated first upserts, %d first "
            "synced as an update\n",
            BURST, as_update);
    lt_h_check(as_update <= 2 * 64, "%d dossiers first synced as an update for 2 kills", as_update);
    lt_h_free(&h);
    portal_stop(&p);
}

/* Tax over http (the generic JSON dialect): the TaxTransfer is POSTed as JSON, the LinkReply
 * JSON answer's tax_notice is stored as agency:tax; 503 retries, 400 is a dead letter. */
static void tax_over_http_gets_its_notice_stored(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "http-tax", NULL);
    portal_start(&h, &p, "--reject REJECT");
    snprintf(h.extra_yaml, sizeof(h.extra_yaml),
             "agencies:\n"
             "  tax:\n"
             "    transport: http\n"
             "    url: 'http://127.0.0.1:%d/agency'\n"
             "    backoff_initial_ms: 200\n"
             "    backoff_max_ms: 1000\n"
             "    timeout_ms: 3000\n"
             "routes:\n"
             "  - {name: to-tax, kinds: [status], to: [tax]}\n",
             p.port);
    portal_down(&p);
    lt_h_start(&h);

    char cmd[2048], out[32768] = "";
    const char *ctl = getenv("LT_CTL"), *src = getenv("LT_SOURCE_DIR");
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' publish '%s/examples/land-transfer.yaml' >/dev/null",
             ctl, h.config, src);
    lt_h_check(system(cmd) == 0, "publish failed");
    for (int i = 0; i < 1000 && count2(&p, "down /agency", NULL) == 0; i++)
        usleep(10000);
    lt_h_check(count2(&p, "down /agency", NULL) > 0, "the tax gateway's 503 was not seen");
    unlink(p.down); /* 503 was answered: the delivery is retried */
    wait_count(&p, "agency link=tax", "body=tax_transfer price=3200000000 code=200", 1, 10000);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' --json show H26.1.2-261110-0001 2>&1", ctl, h.config);
    for (int i = 0; i < 200 && !strstr(out, "TB-HTTP-H26.1.2-261110-0001"); i++) {
        lt_h_run(cmd, out, sizeof(out));
        usleep(20000);
    }
    lt_h_check(strstr(out, "\"sender\":\"agency:tax\"") &&
                   strstr(out, "\"reference\":\"TB-HTTP-H26.1.2-261110-0001\"") &&
                   strstr(out, "\"personal_income_tax_vnd\":\"64000000\""),
               "the tax notice was not stored: %s", out);
    /* only OBLIGATION_REQUESTED is sent to tax: one call with a 200 */
    lt_h_check(count2(&p, "agency link=tax", NULL) == 1, "tax calls");

    /* a 4xx is a permanent failure: a dead letter with the agency's answer */
    snprintf(cmd, sizeof(cmd),
             "sed 's/H26.1.2-261110-0001/H26-REJECT-1/; s/event_id: \\(.*\\)$/event_id: R\\1/' "
             "'%s/examples/land-transfer.yaml' | '%s' -c '%s' publish - >/dev/null",
             src, ctl, h.config);
    lt_h_check(system(cmd) == 0, "publish failed: %s", cmd);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' dead list 2>&1", ctl, h.config);
    out[0] = '\0';
    for (int i = 0; i < 200 && !strstr(out, "H26-REJECT-1"); i++) {
        lt_h_run(cmd, out, sizeof(out));
        usleep(20000);
    }
    lt_h_check(strstr(out, "H26-REJECT-1") && strstr(out, "HTTP 400"), "dead list: %s", out);
    lt_h_free(&h);
    portal_stop(&p);
}

/* n dossiers PREFIX-000.. received (status 2), one call each, from motcua-q1. */
static void publish_received(void *c, const char *id_prefix, const char *code_prefix, int n)
{
    char id[64], code[64];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%d", id_prefix, i);
        snprintf(code, sizeof(code), "%s-%03d", code_prefix, i);
        lt_submission *s = lt_h_status("motcua-q1", id, code, 2);
        lt_reply *r = lt_h_call(c, s);
        lienthong__v1__reply__free_unpacked(r, NULL);
        lt_h_sub_free(s);
    }
}

static void expired_session_is_renewed_once(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-expire", NULL);
    portal_start(&h, &p, "--expire-every 7");
    config(&h, &p, "secret", "    window: 4\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    publish_received(c, "e", "H29-E", 40);
    /* A delivery is two calls. When the session expires between them, the
     * delivery is retried and its sync goes again, as an update: count the
     * first syncs, one per dossier, and the progress calls. */
    wait_count(&p, "progress MaHoSo=H29-E-", "code=00", 40, 20000);
    wait_count(&p, "isUpdating=False", "code=00", 40, 1000);
    lt_h_check(count2(&p, "sync MaHoSo=H29-E-", "code=00") >= 40, "fewer than 40 syncs taken");
    int expiries = count2(&p, "calls)", NULL), logins = count2(&p, "login ok", NULL);
    lt_h_check(expiries >= 5, "only %d expiries", expiries);
    lt_h_check(logins == expiries + 1, "%d logins for %d expiries: not once each", logins,
               expiries);
    zmq_close(c);
    lt_h_free(&h);
    portal_stop(&p);
}

/* A first sync the portal took but answered too late: the daemon cannot know it was taken, so
 * the retry goes as an update (isUpdating True), never a second "False". */
static void unanswered_first_sync_is_retried_as_an_update(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-late", NULL);
    portal_start(&h, &p, "--slow-first-sync-ms 1500");
    config(&h, &p, "secret", "    window: 8\n    request_timeout_ms: 300\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    publish_received(c, "l", "H29-L", 5);
    wait_count(&p, "progress MaHoSo=H29-L-", "code=00", 5, 20000);
    lt_h_check(count2(&p, "sync MaHoSo=H29-L-", "isUpdating=False") == 5,
               "%d first syncs for 5 dossiers",
               count2(&p, "sync MaHoSo=H29-L-", "isUpdating=False"));
    lt_h_check(count2(&p, "sync MaHoSo=H29-L-", "isUpdating=True TrangThaiHoSo=2 known=1") == 5,
               "the retries were not updates (%s)", p.log);
    zmq_close(c);
    lt_h_free(&h);
    portal_stop(&p);
}

/* A 502 (a gateway in front of the portal) says nothing of what the portal did: the first sync's
 * retry goes as an update. A 503 says it did not act: the retry is still the first sync (the
 * outage tests). */
static void gateway_error_keeps_the_first_sync_mark(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-502", NULL);
    portal_start(&h, &p, "--down-status 502");
    config(&h, &p, "secret", "    window: 8\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    publish_received(c, "w", "H29-WARM", 1); /* logged in before the gateway fails */
    wait_count(&p, "progress MaHoSo=H29-WARM-", "code=00", 1, 10000);
    portal_down(&p);
    publish_received(c, "g", "H29-G", 3);
    for (int i = 0; i < 500 && count2(&p, "down /DongBoHoSoMC", NULL) < 3; i++)
        usleep(10000);
    unlink(p.down);
    wait_count(&p, "progress MaHoSo=H29-G-", "code=00", 3, 20000);
    lt_h_check(count2(&p, "sync MaHoSo=H29-G-", "isUpdating=False") == 0 &&
                   count2(&p, "sync MaHoSo=H29-G-", "isUpdating=True TrangThaiHoSo=2 known=0") == 3,
               "after a 502 the first sync was not sent as an update (%s)", p.log);
    zmq_close(c);
    lt_h_free(&h);
    portal_stop(&p);
}

/* The config for an https portal: config()'s, with https and, when given, a CA file. */
static void config_tls(lt_h *h, const portal *p, const char *ca_file)
{
    char extra[600] = "    window: 4\n";
    if (ca_file)
        snprintf(extra, sizeof(extra), "    window: 4\n    ca_file: '%s'\n", ca_file);
    config(h, p, "secret", extra);
    char *u = strstr(h->extra_yaml, "url: 'http://");
    lt_h_check(u != NULL, "no url in the config");
    u += strlen("url: 'http");
    memmove(u + 1, u, strlen(u) + 1); /* http -> https */
    u[0] = 's';
}

/* TLS verification is on: a portal whose certificate the system's CAs do not vouch for gets no
 * call, and the link says why; with its CA in ca_file the dossier is synced. */
static void tls_is_verified_against_ca_file(void)
{
    lt_h h;
    portal p;
    char args[1024], ca[512], cmd[1024], out[8192] = "";
    const char *src = getenv("LT_SOURCE_DIR");
    lt_h_init(&h, "portal-tls", NULL);
    snprintf(args, sizeof(args),
             "--tls-cert %s/tests/fakeportal/tls/server.pem --tls-key "
             "%s/tests/fakeportal/tls/server.key",
             src, src);
    snprintf(ca, sizeof(ca), "%s/tests/fakeportal/tls/ca.pem", src);
    portal_start(&h, &p, args);
    config_tls(&h, &p, NULL);
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    publish_received(c, "t", "H29-T", 1);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' queues 2>&1", getenv("LT_CTL"), h.config);
    for (int i = 0; i < 300 && !strstr(out, "certificate"); i++) {
        lt_h_run(cmd, out, sizeof(out));
        usleep(20000);
    }
    lt_h_check(strstr(out, "certificate") != NULL, "queues does not say why: %s", out);
    lt_h_check(count2(&p, "login", NULL) == 0 && count2(&p, "sync", NULL) == 0,
               "a call reached a portal the daemon should not trust");
    zmq_close(c);
    lt_h_check(lt_h_stop(&h, SIGTERM) == 0, "SIGTERM");

    config_tls(&h, &p, ca);
    lt_h_start(&h);
    wait_count(&p, "sync MaHoSo=H29-T-000", "code=00", 1, 20000);
    wait_count(&p, "progress MaHoSo=H29-T-000", "code=00", 1, 10000);
    lt_h_free(&h);
    portal_stop(&p);
}

static void wrong_password_fails_the_link_without_hammering(void)
{
    lt_h h;
    portal p;
    lt_h_init(&h, "portal-auth", NULL);
    portal_start(&h, &p, NULL);
    config(&h, &p, "wrong", "    window: 8\n");
    lt_h_start(&h);
    void *c = lt_h_client(&h);
    publish_received(c, "w", "H29-W", 50);
    lt_h_check(lt_h_wait_log(&h, "portal link failed: login refused", 5000),
               "no failed-link line in the daemon log");
    /* 3 s with backoff 200 ms doubling to 1 s: at most a handful of logins */
    usleep(3000 * 1000);
    int tries = count2(&p, "login refused", NULL);
    lt_h_check(tries >= 1 && tries <= 6, "%d login attempts in 3 s", tries);
    lt_h_check(count2(&p, "sync", NULL) == 0, "calls without a session");
    char cmd[1024], out[8192] = "";
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' queues 2>&1", getenv("LT_CTL"), h.config);
    lt_h_run(cmd, out, sizeof(out));
    lt_h_check(strstr(out, "login refused"), "queues does not show the failed link: %s", out);
    zmq_close(c);
    lt_h_free(&h);
    portal_stop(&p);
}

int main(void)
{
    int64_t t = lt_time_now_ms();
    flow_reaches_the_portal_in_order_with_the_result();
    fprintf(stderr, "flow ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    expired_session_is_renewed_once();
    fprintf(stderr, "expired session ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    unanswered_first_sync_is_retried_as_an_update();
    fprintf(stderr, "unanswered first sync ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    tls_is_verified_against_ca_file();
    fprintf(stderr, "tls ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    gateway_error_keeps_the_first_sync_mark();
    fprintf(stderr, "502 keeps the mark ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    wrong_password_fails_the_link_without_hammering();
    fprintf(stderr, "wrong password ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    result_after_a_restart_carries_its_status();
    fprintf(stderr, "result after a restart ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    tax_over_http_gets_its_notice_stored();
    fprintf(stderr, "tax over http ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    kill_during_the_drain_changes_nothing();
    fprintf(stderr, "kill during the drain ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    t = lt_time_now_ms();
    outage_during_a_burst_is_drained_in_order();
    fprintf(stderr, "burst ok (%lld ms)\n", (long long)(lt_time_now_ms() - t));
    return 0;
}
