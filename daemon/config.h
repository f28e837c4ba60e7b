/* config.h - the daemon's YAML configuration: one table of keys, types, bounds
 * and defaults, read with libyaml.
 *
 * A loaded lt_config is immutable plain data; a reload builds a new one. Only
 * `data_dir` and `ingest.endpoint` are required; every other key has the
 * default documented in config/README.md. Unknown keys, wrong types, duplicate
 * keys and out-of-range values are errors reported as FILE:LINE:COL (1-based).
 * Strings are kept as written: a relative data_dir is relative to the working
 * directory of the process that uses the config (the daemon, lienthongctl).
 * Inputs are bounded: at most 1 MiB of file, 32 levels of nesting, 100000
 * values, LT_CONFIG_MAX_AGENCIES agencies, 1024 routes, 1024 items in a list,
 * 250 bytes in a name or pattern; YAML anchors/aliases and more than one
 * document are refused. Every string, list and array below is owned by the
 * lt_config and freed by lt_config_free(); readers borrow them for as long as
 * they hold the config.
 */
#ifndef LT_CONFIG_H
#define LT_CONFIG_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

/* store.flags values that keep every commit durable. nosync, nometasync and
 * mapasync are recognised and refused: they would let an acknowledged event
 * vanish on power loss. */
enum {
    LT_CONFIG_STORE_NORDAHEAD = 1 << 0, /* "nordahead": MDB_NORDAHEAD */
    LT_CONFIG_STORE_WRITEMAP = 1 << 1,  /* "writemap": MDB_WRITEMAP (still synced) */
};

#define LT_CONFIG_MAX_AGENCIES 32 /* a route's targets are a 32-bit set */

/* agencies.NAME: one agency link. agencies[] keeps the file's order. */
typedef struct lt_config_agency {
    char *name;                 /* the mapping key: [a-z0-9_-], at most 32 bytes */
    char *adapter;              /* tax | land | portal; default: the name, if it is one */
    char *transport;            /* zmq (default) | http */
    char *endpoint;             /* the gateway: tcp://... or ipc://..., required for zmq */
    char **senders;             /* exact sender names that are this agency: never routed back
                                   to it; a sender is in one agency at most */
    size_t n_senders;
    int64_t window;             /* deliveries in flight, across dossiers; default 8 [1..1024] */
    int64_t timeout_ms;         /* one attempt; default 10000 [100..600000] */
    int64_t backoff_initial_ms; /* first retry delay; default 2000 [100..3600000] */
    int64_t backoff_max_ms;     /* delay cap; default 3600000 [1000..86400000] */
    int64_t max_attempts;       /* then dead letter; default 0 = no limit [0..1000000] */
    int64_t max_age_s;          /* then dead letter; default 259200 (3 days) [60..31536000] */
    int64_t down_after;         /* consecutive failed attempts before the link is down and
                                   only probed; default 3 [1..1000] */

    /* transport http (daemon/link_http.c); all NULL/0 for zmq. With adapter portal the link
     * speaks the national portal's dialect (daemon/portal_json.h), else JSON LinkRequests. */
    char *url;                  /* base URL, http:// or https://, required for http */
    char *username;             /* portal login */
    char *password;             /* portal login; or password_file (not both) */
    char *password_file;        /* first line is the password; read when the link opens */
    char *madonvi;              /* the province's unit code, sent in every portal call */
    char *service;              /* the service name sent in every portal call; default none */
    char *login_path;           /* appended to url; default /login */
    char *sync_path;            /* default /DongBoHoSoMC */
    char *progress_path;        /* default /CapNhatTienDoHoSoMC */
    char *ca_file;              /* CA bundle for TLS verification; default the system's */
    char *client_cert;          /* PEM client certificate; needs client_key */
    char *client_key;
    char **session_codes;       /* error_code values meaning "session expired"; default none
                                   (HTTP 401 always means it) */
    size_t n_session_codes;
    char **procedure_map;       /* local procedure code -> national MaTTHC: 2n strings, pairs */
    size_t n_procedure_map;     /* pairs */
    char **procedure_info;      /* 3n strings beside procedure_map: pair i's name (TenTTHC),
                                   field_code (MaLinhVuc), field_name (TenLinhVuc), each NULL
                                   when not given; NULL when no procedure_map was read */
    char **unit_map;            /* local agency code -> national unit code: 2n strings */
    size_t n_unit_map;          /* pairs */
    int64_t connect_timeout_ms; /* TCP+TLS connect; default 5000 [100..600000] */
    int64_t request_timeout_ms; /* one HTTP call, whole; default 8000 [100..600000] */
    int64_t rate_per_s;         /* HTTP calls per second (token bucket); default 0 = no limit
                                   [0..100000] */
    int line;                   /* 1-based line of its name, for diagnostics */
} lt_config_agency;

enum {
    LT_ROUTE_STATUS = 1 << 0, /* kinds: status events */
    LT_ROUTE_RESULT = 1 << 1, /* kinds: result events */
};

/* routes[i]: every rule that matches an event adds its agencies (all-match);
 * routes[] keeps the file's order. A list left out is NULL with count 0 (match
 * anything); a list given is never empty. */
typedef struct lt_config_route {
    char *name;                 /* required, unique */
    unsigned kinds;             /* LT_ROUTE_*; default both */
    char **procedures;          /* exact codes or globs (fnmatch), any matches; none = all */
    size_t n_procedures;
    char **senders;             /* globs on the submission's sender; none = all */
    size_t n_senders;
    char **agency_codes;        /* globs on event.agency_code; none = all */
    size_t n_agency_codes;
    char **result_kinds;        /* exact result.kind values; none = all (results only) */
    size_t n_result_kinds;
    char **to;                  /* agency names, each configured, each once; at least one */
    size_t n_to;
    uint32_t to_mask;           /* bit i = agencies[i], computed at load; popcount == n_to */
    int line;                   /* 1-based line of the rule, for diagnostics */
} lt_config_route;

typedef struct lt_config {
    char *data_dir; /* directory holding the LMDB files */

    /* ingest: the ROUTER socket department systems publish to */
    char *ingest_endpoint;        /* tcp://... or ipc://... */
    int64_t max_message_bytes;    /* default 262144; larger gets TOO_LARGE */
    int64_t heartbeat_ivl_ms;     /* default 5000; 0 disables */
    int64_t heartbeat_timeout_ms; /* default 15000 */
    int64_t sndhwm;               /* default 100000 */
    int64_t rcvhwm;               /* default 100000 */
    int64_t shutdown_linger_ms;   /* default 0: unsent acks are dropped at exit */

    /* batch: group commit bounds */
    int64_t batch_max_events;  /* default 1024 */
    int64_t batch_max_bytes;   /* default 8 MiB */
    int64_t batch_max_wait_us; /* default 0: commit what is waiting, do not linger */

    /* store: LMDB */
    int64_t map_size_mb;  /* default 1024 */
    int64_t max_readers;  /* default 126 */
    unsigned store_flags; /* LT_CONFIG_STORE_* from store.flags, default none */
    int64_t journal_mb;        /* ingest journal size, default 16; 0 = off (journal.h) */
    int64_t journal_commit_ms; /* commit the journaled events to LMDB within this, default 50 */

    /* validation */
    int64_t clock_skew_s;     /* default 300 */
    int64_t max_field_bytes;  /* default 200, at most 250: ids, codes, names (sender+event_id is one
                                 LMDB key, max 511 bytes) */
    int64_t max_text_bytes;   /* default 4096: note, uri, data values */
    int64_t max_attachments;  /* default 64 */
    int64_t max_data_entries; /* default 128 */

    /* log */
    int log_level; /* LT_LOG_*, default info */

    /* agencies and routes (issue 3); both may be empty: events are stored and counted */
    lt_config_agency *agencies;
    size_t n_agencies;
    lt_config_route *routes;
    size_t n_routes;

    /* streams: the subscriber ROUTER and an optional live PUB */
    char *streams_endpoint;     /* default NULL: no result streams */
    char *streams_pub_endpoint; /* default NULL: no live PUB */
    int64_t streams_max_credit; /* credit a subscriber may hold; default 10000 [1..1000000] */

    /* control: lienthongctl's channel for pause/resume/requeue/drop/queues */
    char *control_endpoint;     /* default "ipc://" DATA_DIR "/control.sock", data_dir as
                                   written (relative stays relative); never NULL once loaded */

    char *path; /* file this was loaded from */
} lt_config;

/* Load and check the YAML file at path. Does not log.
 * [out] ret: on success a new config, caller frees with lt_config_free();
 *            untouched on failure.
 * [out] reterr: on failure, file/line/column, field (dotted key, e.g.
 *            ingest.sndhwm, or "") and message (may be NULL). Print it with
 *            lt_diag_format(): "FILE:LINE:COL: message".
 * Returns 0, -errno when the file cannot be read (-EFBIG above 1 MiB; diag
 * has the file and message but no position), -ENOMEM, or LT_ERR_CONFIG. */
int lt_config_load(const char *path, lt_config **ret, lt_diag *reterr);

/* Same as lt_config_load for an in-memory document; name is used as the file
 * name in diagnostics. Used by tests and the fuzzer. */
int lt_config_parse(const char *name, const char *text, size_t len, lt_config **ret,
                    lt_diag *reterr);

/* The value a KEY_MAP pair list (procedure_map, unit_map) gives key, or NULL. Borrows. */
const char *lt_config_map_get(char *const *pairs, size_t n_pairs, const char *key);

/* The national MaTTHC a's procedure_map gives procedure code local (local
 * itself when the map is empty: codes are national already), or NULL when
 * the map has no entry for it. [out] ret_info[0..2]: the entry's name
 * (TenTTHC), field_code (MaLinhVuc) and field_name (TenLinhVuc), each NULL
 * when not given. Borrows; valid as long as a. */
const char *lt_config_procedure_get(const lt_config_agency *a, const char *local,
                                    const char **ret_info);

/* Free a config and null the caller's pointer. Accepts NULL and *p == NULL. */
void lt_config_free(lt_config **p);

#endif
