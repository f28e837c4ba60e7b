/* util.c - what lienthongctl's commands share; see ctl.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "journal.h"
#include "timefmt.h"
#include "validate.h"

#define JOURNAL_WAIT_MS 2000 /* beyond the round's longest age */

static const char *const mask_fields[] = { "id_number", "phone", "email", NULL };
static const char *const status_skip[] = { "status", NULL };
const lt_pbtext_text_opts ctl_human = { .mask = mask_fields };
const lt_pbtext_text_opts ctl_human_status = { .mask = mask_fields, .skip = status_skip };

void ctl_errf(const char *fmt, ...)
{
    va_list ap;

    fputs("lienthongctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void ctl_diag_err(const lt_diag *d)
{
    char buf[1024];

    lt_diag_format(d, buf, sizeof(buf));
    ctl_errf("%s", buf);
}

int ctl_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || s[0] == '-' || *end || errno == ERANGE || v < min || v > max) {
        ctl_errf("%s: \"%s\" is not an integer in [%" PRIu64 ", %" PRIu64 "]", opt, s, min, max);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int ctl_parse_when(const char *s, int64_t *ret)
{
    char buf[64];
    int y, m, d, n = -1;
    if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10) {
        snprintf(buf, sizeof(buf), "%sT00:00:00+07:00", s);
        s = buf;
    }
    int64_t t;
    if (lt_time_parse(s, &t) < 0 || t < 0) /* 1970-01-01 in Vietnam is before the epoch */
        return -EINVAL;
    *ret = t;
    return 0;
}

int ctl_load_config(ctl *c, bool overridden)
{
    lt_diag d;
    const char *path = c->config_path;
    int r;

    if (c->cfg)
        return 0;
    if (!path) {
        if (access(CTL_DEFAULT_CONFIG, F_OK) == 0)
            path = CTL_DEFAULT_CONFIG;
        else if (access(CTL_SYSTEM_CONFIG, F_OK) == 0)
            path = CTL_SYSTEM_CONFIG;
        else if (overridden)
            return 0;
        else {
            ctl_errf("no config: neither %s nor %s exists; use -c FILE", CTL_DEFAULT_CONFIG,
                     CTL_SYSTEM_CONFIG);
            return -ENOENT;
        }
    }
    lt_diag_clear(&d);
    if ((r = lt_config_load(path, &c->cfg, &d)) < 0) {
        if (d.message[0])
            ctl_diag_err(&d);
        else
            ctl_errf("%s: %s", path, lt_strerror(r));
        return r;
    }
    return 0;
}

/* Is a lienthongd serving dir? It holds an exclusive lock on its pid file. */
static bool daemon_running(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/lienthongd.pid", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return running;
}

/* Events the daemon acknowledged from its journal (daemon/journal.h) reach
 * LMDB within LT_JOURNAL_ROUND_MAX_MS, or store.journal_commit_ms if longer:
 * wait for them, so that a read right after an acknowledgement shows the
 * event. */
static void wait_for_journal(const char *dir, const lt_config *cfg, lt_store *s)
{
    char path[4096];
    int round_ms = LT_JOURNAL_ROUND_MAX_MS;
    if (cfg && (int)cfg->journal_commit_ms > round_ms)
        round_ms = (int)cfg->journal_commit_ms;
    int wait_ms = JOURNAL_WAIT_MS + round_ms;
    int64_t deadline = lt_time_mono_ms() + wait_ms;
    lt_store_stats st;
    if (lt_store_stats_get(s, &st) < 0)
        return;
    /* what had been acknowledged when the command started */
    uint64_t first = lt_journal_unstored(dir, lt_store_id(s), st.last_seq);
    while (first) {
        if (!daemon_running(dir)) {
            fprintf(stderr,
                    "lienthongctl: note: events from seq %" PRIu64 " on were acknowledged but "
                    "are not in the store yet; they are in %s, and lienthongd puts them in the "
                    "store when it starts\n",
                    first, lt_journal_path_in(dir, path, sizeof(path)));
            return;
        }
        if (lt_time_mono_ms() >= deadline) {
            fprintf(stderr,
                    "lienthongctl: note: lienthongd has not committed the events from seq "
                    "%" PRIu64 " on within %d ms; showing the store as it is\n",
                    first, wait_ms);
            return;
        }
        usleep(2000);
        if (lt_store_stats_get(s, &st) < 0 || st.last_seq >= first)
            return;
    }
}

int ctl_open_store(ctl *c, lt_store **ret)
{
    lt_diag d;
    int r;

    if (ctl_load_config(c, c->data_dir != NULL) < 0)
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
            ctl_errf("%s", d.message);
        else
            ctl_errf("%s: cannot open the store: %s", c->data_dir, lt_strerror(r));
        return r;
    }
    wait_for_journal(c->data_dir, c->cfg, *ret);
    return 0;
}

const char *ctl_age(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;

    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
    return buf;
}

const char *ctl_str_or_dash(const char *s)
{
    return s && s[0] ? s : "-";
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

void ctl_print_body(const lt_event *ev)
{
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_STATUS && ev->status)
        print_labelled(lt_status_name(ev->status->status), &ev->status->base, &ctl_human_status);
    else if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && ev->result)
        print_labelled("RESULT", &ev->result->base, &ctl_human);
    else
        printf("(no body)");
}

void ctl_json_entry(uint64_t seq, const lt_stored_event *ev, bool open)
{
    bool first = false;

    printf("{\"seq\":%" PRIu64, seq);
    lt_pbtext_write_json_fields(stdout, &ev->base, &first);
    if (!open)
        putchar('}');
}

void ctl_print_event_line(uint64_t seq, const lt_stored_event *se, bool with_dossier)
{
    const lt_event *ev = se->event;

    if (!ev) {
        printf("%8" PRIu64 "  (empty event) sender=%s\n", seq, ctl_str_or_dash(se->sender));
        return;
    }
    printf("%8" PRIu64 "  %-25s  %-16s  ", seq, ctl_str_or_dash(ev->occurred_at),
           ctl_str_or_dash(se->sender));
    if (with_dossier)
        printf("%-24s  ", ctl_str_or_dash(ev->dossier_code));
    printf("%-20s  ", ctl_str_or_dash(ev->event_id));
    ctl_print_body(ev);
    putchar('\n');
}

const char *ctl_delivery_state(int state)
{
    switch (state) {
    case LIENTHONG__V1__DELIVERY__STATE__PENDING:
        return "PENDING";
    case LIENTHONG__V1__DELIVERY__STATE__DELIVERED:
        return "DELIVERED";
    case LIENTHONG__V1__DELIVERY__STATE__DEAD:
        return "DEAD";
    case LIENTHONG__V1__DELIVERY__STATE__DROPPED:
        return "DROPPED";
    case LIENTHONG__V1__DELIVERY__STATE__SKIPPED:
        return "SKIPPED";
    default:
        return "UNSPECIFIED";
    }
}

int ctl_open_dossier(ctl *c, const char *code, lt_store **s, lt_store_txn **t,
                     lt_dossier_state **st)
{
    int r;

    if (ctl_open_store(c, s) < 0)
        return EXIT_USAGE;
    if ((r = lt_store_txn_begin(*s, false, false, t)) < 0) {
        ctl_errf("%s: read transaction: %s", c->data_dir, lt_strerror(r));
        return EXIT_USAGE;
    }
    if ((r = lt_store_get_state(*t, code, st)) == LT_ERR_NOT_FOUND) {
        ctl_errf("dossier %s: not found in %s", code, c->data_dir);
        return EXIT_REJECTED;
    }
    if (r < 0) {
        ctl_errf("dossier %s: %s", code, lt_strerror(r));
        return EXIT_USAGE;
    }
    return 0;
}
