/* ctl.h - what lienthongctl's command files share: the parsed command line,
 * exit statuses, messages, the config and the store, and the renderings of
 * events and deliveries used by several commands.
 *
 * Commands: publish.c (publish), read.c (show, events, stats), report.c
 * (report: on-time figures, overdue dossiers), ops.c
 * (queues, dead, pause, resume: the control socket), tail.c (the result
 * stream subscriber), portal.c (portal status); lienthongctl.c parses
 * options and dispatches.
 * Reference: docs/CLI.md.
 */
#ifndef LT_CTL_H
#define LT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "outbox.h"
#include "pbtext.h"
#include "store.h"

#define CTL_DEFAULT_CONFIG "config/lienthong.yaml"
#define CTL_SYSTEM_CONFIG  "/etc/lienthong/lienthong.yaml"
#define CTL_MAX_AGENCIES   32 /* --agency given at most this often */

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

typedef struct ctl {
    const char *config_path; /* -c, or NULL for the default search */
    const char *endpoint;    /* --endpoint override (ingest) */
    const char *data_dir;    /* --data-dir override */
    const char *control;     /* --control override */
    const char *stream;      /* --stream override */
    bool json;
    uint64_t window, timeout_ms; /* publish */
    bool timeout_set;            /* --timeout-ms given (control commands default 1000) */
    const char *from;            /* --from as written: events SEQ, tail earliest|latest|SEQ,
                                  * report a date or time */
    uint64_t limit;              /* events, report --overdue */
    const char *sender;          /* publish */
    bool all;                    /* dead requeue|drop --all */
    const char *reason;          /* dead list --reason */
    /* tail */
    const char *consumer;
    bool reset, no_ack;
    const char *kinds; /* comma-separated */
    const char *agencies[CTL_MAX_AGENCIES];
    size_t n_agencies;
    const char *procedure; /* tail, report: a procedure code prefix */
    uint64_t credit, count;
    /* report */
    const char *to, *by;
    bool overdue;
    lt_config *cfg; /* NULL when no config was needed or found */
} ctl;

extern const lt_pbtext_text_opts ctl_human;        /* id_number masked */
extern const lt_pbtext_text_opts ctl_human_status; /* and the status field left out */

/* Print "lienthongctl: message" on stderr. */
void ctl_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_diag_err(const lt_diag *d);

/* Full-parse an unsigned option value in [min, max]; prints the error. */
int ctl_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* A time given on the command line (report --from, --to): "YYYY-MM-DD",
 * midnight in Vietnam (UTC+07:00), or an RFC 3339 time (timefmt.h).
 * [out] ret: seconds since the epoch, not before it. Returns 0 or -EINVAL;
 * prints nothing. */
int ctl_parse_when(const char *s, int64_t *ret);

/* Load the config: -c must exist; otherwise the first default that exists.
 * A missing default is fine when overridden (what the command needs was
 * given on the command line). Prints the error. */
int ctl_load_config(ctl *c, bool overridden);

/* Open the store read-only (c->data_dir or the config's). Prints the error. */
int ctl_open_store(ctl *c, lt_store **ret);

/* Open the store read-only, begin a read transaction and read dossier code's
 * state, saying what failed on stderr. [out] all three on success; the caller
 * frees st, aborts t and closes s (also on failure: whatever was set).
 * Returns 0, EXIT_REJECTED for an unknown dossier, or EXIT_USAGE. */
int ctl_open_dossier(ctl *c, const char *code, lt_store **s, lt_store_txn **t,
                     lt_dossier_state **st);

/* "45s", "12m05s", "3h12m", "2d03h" for a duration in ms (negative: 0s). */
const char *ctl_age(int64_t ms, char *buf, size_t size);

const char *ctl_str_or_dash(const char *s);

/* One-line summary of an event body for human output (to stdout). */
void ctl_print_body(const lt_event *ev);

/* {"seq":N, StoredEvent fields...} without a newline or the closing brace
 * when open is true (the caller adds members and the brace). */
void ctl_json_entry(uint64_t seq, const lt_stored_event *ev, bool open);

/* One log entry as a human line: seq, occurred_at, sender, [dossier,]
 * event_id, body; newline included. */
void ctl_print_event_line(uint64_t seq, const lt_stored_event *se, bool with_dossier);

/* Delivery state name: PENDING, DELIVERED, DEAD, DROPPED, SKIPPED. */
const char *ctl_delivery_state(int state);

/* Commands; each returns the exit status. */
int ctl_cmd_publish(ctl *c, const char *path);
int ctl_cmd_show(ctl *c, const char *code);
int ctl_cmd_events(ctl *c);
int ctl_cmd_stats(ctl *c);
int ctl_cmd_report(ctl *c);
int ctl_cmd_queues(ctl *c);
int ctl_cmd_dead(ctl *c, int argc, char **argv);

/* A dead letter's reason for `dead reasons`: last_error (may be NULL) with
 * what names the one delivery taken out (a "dossier CODE: " prefix, the
 * dossier code elsewhere as DOSSIER, "after 3 attempts" as "after N
 * attempts"), so dead letters that failed alike count together. */
void ctl_dead_reason(const char *last_error, const char *dossier, char *buf, size_t size);
int ctl_cmd_pause(ctl *c, const char *agency, bool pause);
int ctl_cmd_tail(ctl *c);
int ctl_cmd_portal(ctl *c, int argc, char **argv);

#endif
