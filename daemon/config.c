/* config.c - read the daemon's YAML configuration into an lt_config.
 *
 * Two passes. First libyaml's event parser builds a small tree of nodes
 * (scalar, mapping, sequence), each with its 1-based line and column; the tree
 * is bounded in depth and size so no input can exhaust the stack or memory.
 * Then a generic walker checks the tree against one table of keys (section,
 * key, type, bounds, default, offset): a mapping whose dotted path is the
 * prefix of a table section is descended into, a key of the current section
 * is converted and range-checked, anything else is an unknown key. Adding a
 * section is adding table rows. The rows of the "agency" and "route" tables
 * describe one record (lt_config_agency, lt_config_route): agencies: is a
 * mapping of such records and routes: a list of them, each walked with the
 * same code into its own record. Checks that span keys or records (defaults
 * that depend on the name, backoff order, senders in two agencies, route
 * targets, distinct bound endpoints) run once their inputs are read.
 * The first error found, in document order, is reported; nothing is logged.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "log.h"

#define LT_CONFIG_MAX_FILE_BYTES (1 << 20) /* a config is a few KB; refuse anything huge */
#define LT_CONFIG_MAX_DEPTH      32        /* nesting of mappings and sequences */
#define LT_CONFIG_MAX_NODES      100000    /* scalars + collections in one file */

/* ---- the parsed tree ---- */

typedef enum { NODE_SCALAR, NODE_MAPPING, NODE_SEQUENCE } node_kind;

typedef struct node {
    node_kind kind;
    int line, column; /* 1-based */
    bool plain;       /* scalar written without quotes or block style */
    char *value;      /* scalar text, NUL-terminated (may contain NUL: see len) */
    size_t len;
    struct node **child; /* mapping: key, value, key, value...; sequence: items */
    size_t n, cap;
} node;

/* What n is, for "must be X, not Y" messages. */
static const char *kind_name(const node *n)
{
    if (n->kind == NODE_MAPPING)
        return "a mapping";
    if (n->kind == NODE_SEQUENCE)
        return "a list";
    return n->plain && n->len == 0 ? "empty" : "a scalar";
}

/* ---- the key table ---- */

typedef enum {
    KEY_STRING,    /* non-empty string, optionally checked */
    KEY_INT,       /* plain decimal in [min, max] */
    KEY_FLAGS,     /* store.flags: list of names into an unsigned */
    KEY_KINDS,     /* routes[].kinds: list of event kinds into an unsigned */
    KEY_LOG_LEVEL, /* debug | info | warning | error */
    KEY_LIST,      /* list of names or patterns: char ** and the size_t after it; min..max items */
    KEY_MAP,       /* mapping of code to code: char ** (2n, key then value) and the size_t n after
                      it; at most max pairs */
    KEY_PROC_MAP,  /* procedure_map: a KEY_MAP whose values may also be {code, name, field_code,
                      field_name}; the char ** (3n details) follows the count */
} key_type;

typedef struct flag_def {
    const char *name;
    unsigned bit;
    const char *refusal; /* non-NULL: the flag is known and refused for this reason */
} flag_def;

typedef struct key_def key_def;
typedef struct walk_ctx walk_ctx;

struct key_def {
    const char *section; /* dotted path of the mapping holding the key ("" is the root), or the
                            record table "agency" / "route" for one agency or route */
    const char *key;
    key_type type;
    bool required;
    int64_t min, max, def; /* KEY_INT bounds and default; KEY_LIST item counts; KEY_LOG_LEVEL def */
    size_t offset;         /* into lt_config, lt_config_agency or lt_config_route */
    int (*check)(walk_ctx *c, const node *v, const char *field); /* strings, list items */
};

static int check_endpoint(walk_ctx *c, const node *v, const char *field);
static int check_adapter(walk_ctx *c, const node *v, const char *field);
static int check_transport(walk_ctx *c, const node *v, const char *field);
static int check_ident(walk_ctx *c, const node *v, const char *field);
static int check_url(walk_ctx *c, const node *v, const char *field);
static int check_path(walk_ctx *c, const node *v, const char *field);

#define OFF(f)  offsetof(lt_config, f)
#define AOFF(f) offsetof(lt_config_agency, f)
#define ROFF(f) offsetof(lt_config_route, f)

/* A KEY_LIST row's count is the size_t right after its char ** (as config.h declares them). */
#define LIST_PAIR(T, f, n) _Static_assert(offsetof(T, n) == offsetof(T, f) + sizeof(char **), #n)
LIST_PAIR(lt_config_agency, senders, n_senders);
LIST_PAIR(lt_config_agency, session_codes, n_session_codes);
LIST_PAIR(lt_config_agency, procedure_map, n_procedure_map);
LIST_PAIR(lt_config_agency, unit_map, n_unit_map);
_Static_assert(offsetof(lt_config_agency, procedure_info) ==
                   offsetof(lt_config_agency, n_procedure_map) + sizeof(size_t),
               "procedure_info");
LIST_PAIR(lt_config_route, procedures, n_procedures);
LIST_PAIR(lt_config_route, senders, n_senders);
LIST_PAIR(lt_config_route, agency_codes, n_agency_codes);
LIST_PAIR(lt_config_route, result_kinds, n_result_kinds);
LIST_PAIR(lt_config_route, to, n_to);

#define LT_CONFIG_MAX_ROUTES      1024 /* every rule is tried on every event */
#define LT_CONFIG_MAX_LIST        1024 /* items in one list (senders, procedures, ...) */
#define LT_CONFIG_MAX_IDENT       250  /* a name or pattern; no sender or code is longer */
#define LT_CONFIG_MAX_AGENCY_NAME 32
#define LT_CONFIG_MAX_NAME_BYTES  250 /* a procedure or field name sent to the portal */

static const flag_def store_flags[] = {
    { "nordahead", LT_CONFIG_STORE_NORDAHEAD, NULL },
    { "writemap", LT_CONFIG_STORE_WRITEMAP, NULL },
    { "nosync", 0, "it would let an acknowledged event be lost on power failure" },
    { "nometasync", 0, "it would let an acknowledged event be lost on power failure" },
    { "mapasync", 0, "it would let an acknowledged event be lost on power failure" },
    { NULL, 0, NULL },
};

static const flag_def route_kinds[] = {
    { "status", LT_ROUTE_STATUS, NULL },
    { "result", LT_ROUTE_RESULT, NULL },
    { NULL, 0, NULL },
};

/* The adapters lienthong has (adapters/); an agency's adapter must be one of them. */
static const char *const adapters[] = { "tax", "land", "portal" };
#define ADAPTERS_LIST "tax, land, portal"

/* Sections in the order an operator reads them; "" is the document root. A section with a
 * walker is not a plain mapping of table keys. */
static int walk_agencies(walk_ctx *c, const node *v);
static int walk_routes(walk_ctx *c, const node *v);

static const struct {
    const char *name;
    int (*walk)(walk_ctx *c, const node *v);
} sections[] = {
    { "", NULL },
    { "ingest", NULL },
    { "batch", NULL },
    { "store", NULL },
    { "validation", NULL },
    { "log", NULL },
    { "agencies", walk_agencies },
    { "routes", walk_routes },
    { "streams", NULL },
    { "control", NULL },
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static const key_def keys[] = {
    { "", "data_dir", KEY_STRING, true, 0, 0, 0, OFF(data_dir), NULL },
    { "ingest", "endpoint", KEY_STRING, true, 0, 0, 0, OFF(ingest_endpoint), check_endpoint },
    { "ingest", "max_message_bytes", KEY_INT, false, 1024, 67108864, 262144, OFF(max_message_bytes),
      NULL },
    { "ingest", "heartbeat_ivl_ms", KEY_INT, false, 0, 600000, 5000, OFF(heartbeat_ivl_ms), NULL },
    { "ingest", "heartbeat_timeout_ms", KEY_INT, false, 0, 3600000, 15000,
      OFF(heartbeat_timeout_ms), NULL },
    { "ingest", "sndhwm", KEY_INT, false, 0, 10000000, 100000, OFF(sndhwm), NULL },
    { "ingest", "rcvhwm", KEY_INT, false, 0, 10000000, 100000, OFF(rcvhwm), NULL },
    { "ingest", "shutdown_linger_ms", KEY_INT, false, 0, 60000, 0, OFF(shutdown_linger_ms), NULL },
    { "batch", "max_events", KEY_INT, false, 1, 65536, 1024, OFF(batch_max_events), NULL },
    { "batch", "max_bytes", KEY_INT, false, 65536, 1073741824, 8388608, OFF(batch_max_bytes),
      NULL },
    { "batch", "max_wait_us", KEY_INT, false, 0, 1000000, 0, OFF(batch_max_wait_us), NULL },
    { "store", "map_size_mb", KEY_INT, false, 1, 1048576, 1024, OFF(map_size_mb), NULL },
    { "store", "max_readers", KEY_INT, false, 1, 4096, 126, OFF(max_readers), NULL },
    { "store", "flags", KEY_FLAGS, false, 0, 0, 0, OFF(store_flags), NULL },
    { "store", "journal_mb", KEY_INT, false, 0, 4096, 16, OFF(journal_mb), NULL },
    { "store", "journal_commit_ms", KEY_INT, false, 1, 60000, 50, OFF(journal_commit_ms), NULL },
    { "validation", "clock_skew_s", KEY_INT, false, 0, 86400, 300, OFF(clock_skew_s), NULL },
    { "validation", "max_field_bytes", KEY_INT, false, 16, 250, 200, OFF(max_field_bytes), NULL },
    { "validation", "max_text_bytes", KEY_INT, false, 64, 1048576, 4096, OFF(max_text_bytes),
      NULL },
    { "validation", "max_attachments", KEY_INT, false, 0, 1024, 64, OFF(max_attachments), NULL },
    { "validation", "max_data_entries", KEY_INT, false, 0, 4096, 128, OFF(max_data_entries), NULL },
    { "log", "level", KEY_LOG_LEVEL, false, 0, 0, LT_LOG_INFO, OFF(log_level), NULL },
    { "streams", "endpoint", KEY_STRING, false, 0, 0, 0, OFF(streams_endpoint), check_endpoint },
    { "streams", "pub_endpoint", KEY_STRING, false, 0, 0, 0, OFF(streams_pub_endpoint),
      check_endpoint },
    { "streams", "max_credit", KEY_INT, false, 1, 1000000, 10000, OFF(streams_max_credit), NULL },
    { "control", "endpoint", KEY_STRING, false, 0, 0, 0, OFF(control_endpoint), check_endpoint },
    /* agencies.NAME (endpoint is required for the zmq transport: checked in finish_agency) */
    { "agency", "adapter", KEY_STRING, false, 0, 0, 0, AOFF(adapter), check_adapter },
    { "agency", "transport", KEY_STRING, false, 0, 0, 0, AOFF(transport), check_transport },
    { "agency", "endpoint", KEY_STRING, false, 0, 0, 0, AOFF(endpoint), check_endpoint },
    { "agency", "senders", KEY_LIST, false, 0, LT_CONFIG_MAX_LIST, 0, AOFF(senders), check_ident },
    { "agency", "window", KEY_INT, false, 1, 1024, 8, AOFF(window), NULL },
    { "agency", "timeout_ms", KEY_INT, false, 100, 600000, 10000, AOFF(timeout_ms), NULL },
    { "agency", "backoff_initial_ms", KEY_INT, false, 100, 3600000, 2000, AOFF(backoff_initial_ms),
      NULL },
    { "agency", "backoff_max_ms", KEY_INT, false, 1000, 86400000, 3600000, AOFF(backoff_max_ms),
      NULL },
    { "agency", "max_attempts", KEY_INT, false, 0, 1000000, 0, AOFF(max_attempts), NULL },
    { "agency", "max_age_s", KEY_INT, false, 60, 31536000, 259200, AOFF(max_age_s), NULL },
    { "agency", "down_after", KEY_INT, false, 1, 1000, 3, AOFF(down_after), NULL },
    /* agencies.NAME with transport http (checked in finish_agency) */
    { "agency", "url", KEY_STRING, false, 0, 0, 0, AOFF(url), check_url },
    { "agency", "username", KEY_STRING, false, 0, 0, 0, AOFF(username), NULL },
    { "agency", "password", KEY_STRING, false, 0, 0, 0, AOFF(password), NULL },
    { "agency", "password_file", KEY_STRING, false, 0, 0, 0, AOFF(password_file), NULL },
    { "agency", "madonvi", KEY_STRING, false, 0, 0, 0, AOFF(madonvi), check_ident },
    { "agency", "service", KEY_STRING, false, 0, 0, 0, AOFF(service), check_ident },
    { "agency", "login_path", KEY_STRING, false, 0, 0, 0, AOFF(login_path), check_path },
    { "agency", "sync_path", KEY_STRING, false, 0, 0, 0, AOFF(sync_path), check_path },
    { "agency", "progress_path", KEY_STRING, false, 0, 0, 0, AOFF(progress_path), check_path },
    { "agency", "ca_file", KEY_STRING, false, 0, 0, 0, AOFF(ca_file), NULL },
    { "agency", "client_cert", KEY_STRING, false, 0, 0, 0, AOFF(client_cert), NULL },
    { "agency", "client_key", KEY_STRING, false, 0, 0, 0, AOFF(client_key), NULL },
    { "agency", "session_codes", KEY_LIST, false, 1, 64, 0, AOFF(session_codes), check_ident },
    { "agency", "procedure_map", KEY_PROC_MAP, false, 0, 100000, 0, AOFF(procedure_map),
      check_ident },
    { "agency", "unit_map", KEY_MAP, false, 0, 100000, 0, AOFF(unit_map), check_ident },
    { "agency", "connect_timeout_ms", KEY_INT, false, 100, 600000, 5000, AOFF(connect_timeout_ms),
      NULL },
    { "agency", "request_timeout_ms", KEY_INT, false, 100, 600000, 8000, AOFF(request_timeout_ms),
      NULL },
    { "agency", "rate_per_s", KEY_INT, false, 0, 100000, 0, AOFF(rate_per_s), NULL },
    /* routes[i] */
    { "route", "name", KEY_STRING, true, 0, 0, 0, ROFF(name), check_ident },
    { "route", "kinds", KEY_KINDS, false, 0, 0, LT_ROUTE_STATUS | LT_ROUTE_RESULT, ROFF(kinds),
      NULL },
    { "route", "procedures", KEY_LIST, false, 1, LT_CONFIG_MAX_LIST, 0, ROFF(procedures),
      check_ident },
    { "route", "senders", KEY_LIST, false, 1, LT_CONFIG_MAX_LIST, 0, ROFF(senders), check_ident },
    { "route", "agency_codes", KEY_LIST, false, 1, LT_CONFIG_MAX_LIST, 0, ROFF(agency_codes),
      check_ident },
    { "route", "result_kinds", KEY_LIST, false, 1, LT_CONFIG_MAX_LIST, 0, ROFF(result_kinds),
      check_ident },
    { "route", "to", KEY_LIST, true, 1, LT_CONFIG_MAX_AGENCIES, 0, ROFF(to), check_ident },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Where a mapping's keys go: the rows of one table, written into one record. */
typedef struct scope {
    const char *table; /* key_def.section of the rows that apply */
    const char *path;  /* the mapping's dotted path for messages: ingest, agencies.tax, routes[0] */
    void *base;        /* the record the rows' offsets point into */
    bool *seen;        /* seen[i]: the mapping sets row i (N_KEYS entries) */
} scope;

struct walk_ctx {
    lt_config *cfg;
    lt_diag *diag;
    const char *file;
    bool seen[N_KEYS];                    /* seen[i]: the file sets lt_config row i */
    const node *section_node[N_SECTIONS]; /* value of each section the file has */
};

/* ---- diagnostics ---- */

/* Fill the diag with the file, a 1-based position, the dotted field and a message. */
static int fail_at(walk_ctx *c, int line, int column, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(walk_ctx *c, int line, int column, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!c->diag)
        return LT_ERR_CONFIG;
    lt_diag_clear(c->diag);
    snprintf(c->diag->file, sizeof(c->diag->file), "%s", c->file);
    c->diag->line = line;
    c->diag->column = column;
    snprintf(c->diag->field, sizeof(c->diag->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(c->diag->message, sizeof(c->diag->message), fmt, ap);
    va_end(ap);
    return LT_ERR_CONFIG;
}

/* Copy at most 64 bytes of s into buf for quoting in a message, non-printable as '?'. */
static const char *printable(const char *s, size_t len, char *buf, size_t size)
{
    size_t n = 0, max = size - 4;

    for (size_t i = 0; i < len && n < max; i++)
        buf[n++] = (char)((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ? '?' : s[i]);
    if (len > max)
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

/* Join section and key into a dotted path. */
static const char *dotted(const char *section, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", section, section[0] ? "." : "", key);
    return buf;
}

/* ---- pass 1: YAML events to a tree ---- */

static void node_free(node *n)
{
    /* Iterative would need a stack; depth is bounded by LT_CONFIG_MAX_DEPTH. */
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->child[i]);
    free(n->child);
    free(n->value);
    free(n);
}

static node *node_new(node_kind kind, yaml_mark_t m)
{
    node *n = calloc(1, sizeof(*n));

    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->column = (int)m.column + 1;
    return n;
}

static int node_add(node *parent, node *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        node **p = realloc(parent->child, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        parent->child = p;
        parent->cap = cap;
    }
    parent->child[parent->n++] = child;
    return 0;
}

/* Line and column (1-based) of byte offset off in text, for reader errors. */
static void offset_position(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n')
            (*line)++, *col = 1;
        else
            (*col)++;
    }
}

/* Report libyaml's own error (reader, scanner or parser). */
static int fail_yaml(walk_ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    int line, col;

    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        offset_position(text, len, p->problem_offset, &line, &col);
        return fail_at(c, line, col, NULL, "YAML syntax error: %s",
                       p->problem ? p->problem : "unreadable input");
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    if (p->context &&
        (p->context_mark.line + 1 != (size_t)line || p->context_mark.column + 1 != (size_t)col))
        return fail_at(c, line, col, NULL,
                       "YAML syntax error: %s (%s started at line %d, column %d)",
                       p->problem ? p->problem : "invalid YAML", p->context,
                       (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    if (p->context)
        return fail_at(c, line, col, NULL, "YAML syntax error: %s %s",
                       p->problem ? p->problem : "invalid YAML", p->context);
    return fail_at(c, line, col, NULL, "YAML syntax error: %s",
                   p->problem ? p->problem : "invalid YAML");
}

typedef struct build_state {
    node *stack[LT_CONFIG_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    node *root;
    int docs;
    yaml_mark_t doc_mark;
} build_state;

/* Attach a completed node to its parent (or make it the root). Takes ownership of n. */
static int attach(build_state *b, node *n)
{
    int r;

    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    if ((r = node_add(b->stack[b->depth - 1], n)) < 0)
        node_free(n);
    return r;
}

/* Handle one event that opens, fills or closes a node. */
static int build_event(walk_ctx *c, build_state *b, const yaml_event_t *ev)
{
    yaml_mark_t m = ev->start_mark;
    node *n;

    if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor) ||
        (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor) ||
        (ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
        ev->type == YAML_ALIAS_EVENT)
        return fail_at(c, (int)m.line + 1, (int)m.column + 1, NULL,
                       "YAML anchors and aliases are not supported; write the value out");
    if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT) {
        if (b->depth == 0)
            return LT_ERR_CONFIG; /* libyaml never does this */
        n = b->stack[--b->depth];
        return attach(b, n);
    }
    if (++b->nodes > LT_CONFIG_MAX_NODES)
        return fail_at(c, (int)m.line + 1, (int)m.column + 1, NULL,
                       "the document has more than %d values", LT_CONFIG_MAX_NODES);
    if (ev->type == YAML_SCALAR_EVENT) {
        if (!(n = node_new(NODE_SCALAR, m)) || !(n->value = malloc(ev->data.scalar.length + 1))) {
            node_free(n);
            return -ENOMEM;
        }
        memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
        n->value[ev->data.scalar.length] = '\0';
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return attach(b, n);
    }
    /* a mapping or sequence start */
    if (b->depth == LT_CONFIG_MAX_DEPTH)
        return fail_at(c, (int)m.line + 1, (int)m.column + 1, NULL,
                       "values are nested more than %d levels deep", LT_CONFIG_MAX_DEPTH);
    n = node_new(ev->type == YAML_MAPPING_START_EVENT ? NODE_MAPPING : NODE_SEQUENCE, m);
    if (!n)
        return -ENOMEM;
    b->stack[b->depth++] = n;
    return 0;
}

/* Parse text into a tree with one document. On success *ret is the root (NULL if empty)
 * and *ret_mark the start of the stream or document. */
static int build_tree(walk_ctx *c, const char *text, size_t len, node **ret, yaml_mark_t *ret_mark)
{
    yaml_parser_t p;
    yaml_event_t ev;
    build_state b = { .depth = 0 };
    int r = 0;
    bool done = false;

    if (!yaml_parser_initialize(&p))
        return -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && r == 0) {
        if (!yaml_parser_parse(&p, &ev)) {
            r = fail_yaml(c, &p, text, len);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
            b.doc_mark = ev.start_mark;
            break;
        case YAML_STREAM_END_EVENT:
            if (b.docs == 0)
                b.doc_mark = ev.start_mark;
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++b.docs > 1)
                r = fail_at(c, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, NULL,
                            "only one YAML document is allowed; a second one starts here");
            else
                b.doc_mark = ev.start_mark;
            break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_NO_EVENT:
            break;
        default:
            r = build_event(c, &b, &ev);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    /* on error, nodes still open on the stack are not attached to anything */
    while (b.depth > 0)
        node_free(b.stack[--b.depth]);
    if (r < 0) {
        node_free(b.root);
        return r;
    }
    *ret = b.root;
    *ret_mark = b.doc_mark;
    return 0;
}

/* ---- pass 2: walk the tree against the table ---- */

static int section_index(const char *name)
{
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* True when name is a direct subsection of parent (both dotted paths). */
static bool is_child_section(const char *parent, const char *name)
{
    size_t pl = strlen(parent);

    if (pl == 0)
        return name[0] && !strchr(name, '.');
    return strncmp(name, parent, pl) == 0 && name[pl] == '.' && !strchr(name + pl + 1, '.');
}

/* The required keys of section, comma-separated. */
static const char *expected_required(const char *section, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < N_KEYS && n < size; i++)
        if (keys[i].required && strcmp(keys[i].section, section) == 0)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", keys[i].key);
    return buf;
}

/* The list of keys accepted in section, for "expected one of" messages. */
static const char *expected_keys(const char *section, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < N_KEYS && n < size; i++)
        if (strcmp(keys[i].section, section) == 0)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", keys[i].key);
    for (size_t i = 0; i < N_SECTIONS && n < size; i++)
        if (is_child_section(section, sections[i].name)) {
            const char *leaf = strrchr(sections[i].name, '.');
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
                                  leaf ? leaf + 1 : sections[i].name);
        }
    return buf;
}

/* True when scalar v is exactly the C string s (no embedded NUL). */
static bool scalar_is(const node *v, const char *s)
{
    return v->kind == NODE_SCALAR && strlen(s) == v->len && memcmp(v->value, s, v->len) == 0;
}

/* The value of key in mapping map, or NULL. */
static const node *find_value(const node *map, const char *key)
{
    for (size_t i = 0; map && map->kind == NODE_MAPPING && i + 1 < map->n; i += 2)
        if (scalar_is(map->child[i], key))
            return map->child[i + 1];
    return NULL;
}

/* Parse a plain decimal integer: optional '-', digits, no leading zeros. */
static int parse_decimal(const node *v, int64_t *ret, bool *negative)
{
    const char *s = v->value;
    char *end;

    *negative = s[0] == '-';
    if (s[*negative] < '0' || s[*negative] > '9' || strlen(s) != v->len)
        return -EINVAL;
    for (const char *p = s + *negative; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    if (s[*negative] == '0' && s[*negative + 1] != '\0')
        return -EINVAL; /* 0755 is octal in YAML 1.1 and decimal in 1.2: refuse */
    errno = 0;
    *ret = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    return 0;
}

static int set_int(walk_ctx *c, const key_def *k, const node *v, const char *field, void *dst)
{
    char q[80];
    int64_t x;
    bool neg;
    int r;

    if (v->plain && v->len == 0)
        return fail_at(c, v->line, v->column, field, "%s must be an integer, not empty", field);
    if (!v->plain)
        return fail_at(c, v->line, v->column, field,
                       "%s must be an integer, not a quoted string (write %s: %s)", field, k->key,
                       printable(v->value, v->len, q, sizeof(q)));
    r = parse_decimal(v, &x, &neg);
    if (r == -EINVAL)
        return fail_at(c, v->line, v->column, field, "%s: \"%s\" is not a decimal integer%s", field,
                       printable(v->value, v->len, q, sizeof(q)),
                       r == -EINVAL && v->len > 1 && v->value[neg] == '0' &&
                               v->value[neg + 1] >= '0' && v->value[neg + 1] <= '9'
                           ? " (leading zeros are not allowed)"
                           : "");
    if (neg && k->min >= 0)
        return fail_at(c, v->line, v->column, field, "%s must not be negative (range %lld..%lld)",
                       field, (long long)k->min, (long long)k->max);
    if (r == -ERANGE || x < k->min || x > k->max)
        return fail_at(c, v->line, v->column, field, "%s: %s is out of range (%lld..%lld)", field,
                       printable(v->value, v->len, q, sizeof(q)), (long long)k->min,
                       (long long)k->max);
    *(int64_t *)dst = x;
    return 0;
}

static int set_string(walk_ctx *c, const key_def *k, const node *v, const char *field, void *dst)
{
    char **s = dst;
    int r;

    if (v->len == 0)
        return fail_at(c, v->line, v->column, field, "%s must not be empty", field);
    if (strlen(v->value) != v->len)
        return fail_at(c, v->line, v->column, field, "%s contains a NUL character", field);
    if (k->check && (r = k->check(c, v, field)) < 0)
        return r;
    free(*s);
    if (!(*s = strdup(v->value)))
        return -ENOMEM;
    return 0;
}

/* A list of names from defs into a bit set: store.flags, routes[].kinds. */
static int set_flags(walk_ctx *c, const key_def *k, const node *v, const char *field, void *dst)
{
    const flag_def *defs = k->type == KEY_KINDS ? route_kinds : store_flags;
    const char *noun = k->type == KEY_KINDS ? "kind" : "flag";
    unsigned flags = 0;
    char q[80], known[80];
    size_t n = 0;

    known[0] = '\0';
    for (const flag_def *d = defs; d->name; d++)
        if (!d->refusal)
            n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", d->name);
    if (v->kind != NODE_SEQUENCE)
        return fail_at(c, v->line, v->column, field, "%s must be a list of %ss, e.g. [%s], not %s",
                       field, noun, defs[0].name, kind_name(v));
    if (v->n == 0 && k->type == KEY_KINDS)
        return fail_at(c, v->line, v->column, field,
                       "%s must not be an empty list (leave the key out to match any)", field);
    for (size_t i = 0; i < v->n; i++) {
        const node *f = v->child[i];
        const flag_def *d = defs;
        if (f->kind != NODE_SCALAR)
            return fail_at(c, f->line, f->column, field, "%s: each %s must be a name, not %s",
                           field, noun, kind_name(f));
        while (d->name && !scalar_is(f, d->name))
            d++;
        if (!d->name)
            return fail_at(c, f->line, f->column, field,
                           "%s: unknown %s \"%s\" (expected one of: %s)", field, noun,
                           printable(f->value, f->len, q, sizeof(q)), known);
        if (d->refusal)
            return fail_at(c, f->line, f->column, field, "%s: \"%s\" is refused: %s", field,
                           d->name, d->refusal);
        flags |= d->bit;
    }
    *(unsigned *)dst = flags;
    return 0;
}

/* A list of names or patterns into a char ** and the size_t count after it. */
static int set_list(walk_ctx *c, const key_def *k, const node *v, const char *field, void *dst)
{
    char ***list = dst;
    size_t *count = (size_t *)(void *)((char *)dst + sizeof(char **));
    char q[80];
    int r;

    if (v->kind == NODE_SCALAR && v->len > 0)
        return fail_at(c, v->line, v->column, field,
                       "%s must be a list, not a scalar (write %s: [%s])", field, k->key,
                       printable(v->value, v->len, q, sizeof(q)));
    if (v->kind != NODE_SEQUENCE)
        return fail_at(c, v->line, v->column, field, "%s must be a list, not %s", field,
                       kind_name(v));
    if ((int64_t)v->n < k->min)
        return fail_at(c, v->line, v->column, field, "%s must not be an empty list (%s)", field,
                       k->required ? "it is required: name at least one"
                                   : "leave the key out to match any");
    if ((int64_t)v->n > k->max)
        return fail_at(c, v->child[k->max]->line, v->child[k->max]->column, field,
                       "%s has more than %lld items", field, (long long)k->max);
    /* *list is NULL: a duplicate key is refused before its value is read */
    if (!(*list = calloc(v->n ? v->n : 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const node *item = v->child[i];
        if (item->kind != NODE_SCALAR)
            return fail_at(c, item->line, item->column, field,
                           "%s: each item must be a string, not %s", field, kind_name(item));
        if (k->check && (r = k->check(c, item, field)) < 0)
            return r;
        if (!((*list)[i] = strdup(item->value)))
            return -ENOMEM;
        *count = i + 1;
    }
    return 0;
}

static int check_duplicate_keys(walk_ctx *c, const node *map, const char *path);

/* A name sent to the portal (TenTTHC, TenLinhVuc): text of 1 to
 * LT_CONFIG_MAX_NAME_BYTES bytes without NUL or control characters. */
static int check_name(walk_ctx *c, const node *v, const char *field)
{
    char q[80];
    bool ok = v->len > 0 && v->len <= LT_CONFIG_MAX_NAME_BYTES && strlen(v->value) == v->len;

    for (size_t i = 0; ok && i < v->len; i++)
        ok = (unsigned char)v->value[i] >= 0x20 && v->value[i] != 0x7f;
    if (ok)
        return 0;
    return fail_at(c, v->line, v->column, field,
                   "%s: \"%s\" is not a name (1 to %d bytes of text, no control characters)", field,
                   printable(v->value, v->len, q, sizeof(q)), LT_CONFIG_MAX_NAME_BYTES);
}

/* The keys of a procedure_map entry written as a mapping: code (national
 * MaTTHC, required), name (TenTTHC), field_code (MaLinhVuc), field_name
 * (TenLinhVuc). Slot -1 is the code; 0..2 index the entry's details. */
static const struct {
    const char *key;
    int slot;
    int (*check)(walk_ctx *c, const node *v, const char *field);
} proc_keys[] = {
    { "code", -1, check_ident },
    { "name", 0, check_name },
    { "field_code", 1, check_ident },
    { "field_name", 2, check_name },
};
#define PROC_KEYS_LIST "code, name, field_code, field_name"

/* One procedure_map value given as a mapping: check it and store its code in
 * *ret_code and its details in info[0..2] (malloc'd; NULL when not given). */
static int set_proc_entry(walk_ctx *c, const node *key, const node *val, const char *field,
                          char **ret_code, char **info)
{
    char path[200], sub[260], q[80];
    const node *code = NULL;
    int r;

    snprintf(path, sizeof(path), "%s.%s", field, printable(key->value, key->len, q, sizeof(q)));
    if ((r = check_duplicate_keys(c, val, path)) < 0)
        return r;
    for (size_t i = 0; i + 1 < val->n; i += 2) {
        const node *k = val->child[i], *v = val->child[i + 1];
        size_t j = 0;
        while (j < sizeof(proc_keys) / sizeof(proc_keys[0]) &&
               !(k->kind == NODE_SCALAR && scalar_is(k, proc_keys[j].key)))
            j++;
        if (j == sizeof(proc_keys) / sizeof(proc_keys[0]))
            return fail_at(c, k->line, k->column, NULL,
                           "unknown key \"%s\" in %s (expected one of: " PROC_KEYS_LIST ")",
                           k->kind == NODE_SCALAR ? printable(k->value, k->len, q, sizeof(q))
                                                  : kind_name(k),
                           path);
        snprintf(sub, sizeof(sub), "%s.%s", path, proc_keys[j].key);
        if (v->kind != NODE_SCALAR)
            return fail_at(c, v->line, v->column, sub, "%s must be a string, not %s", sub,
                           kind_name(v));
        if ((r = proc_keys[j].check(c, v, sub)) < 0)
            return r;
        if (proc_keys[j].slot < 0) {
            code = v;
            continue;
        }
        if (!(info[proc_keys[j].slot] = strdup(v->value)))
            return -ENOMEM;
    }
    if (!code)
        return fail_at(c, val->line, val->column, path,
                       "%s: missing required key \"code\" (the national MaTTHC)", path);
    return (*ret_code = strdup(code->value)) ? 0 : -ENOMEM;
}

/* A mapping of code to code (procedure_map, unit_map) into flat key/value
 * pairs; for KEY_PROC_MAP a value may be a mapping with the code and its
 * details, kept 3 per pair in the char ** after the count. */
static int set_map(walk_ctx *c, const key_def *k, const node *v, const char *field, void *dst)
{
    char ***pairs = dst;
    size_t *count = (size_t *)(void *)((char *)dst + sizeof(char **));
    char ***info = (char ***)(void *)((char *)dst + sizeof(char **) + sizeof(size_t));
    bool proc = k->type == KEY_PROC_MAP;
    size_t n = v->n / 2;
    int r;

    if (v->kind != NODE_MAPPING)
        return fail_at(c, v->line, v->column, field,
                       "%s must be a mapping of local code to national code, not %s", field,
                       kind_name(v));
    if ((int64_t)n > k->max)
        return fail_at(c, v->line, v->column, field, "%s has more than %lld entries", field,
                       (long long)k->max);
    if ((r = check_duplicate_keys(c, v, field)) < 0)
        return r;
    if (!(*pairs = calloc(n ? 2 * n : 1, sizeof(char *))))
        return -ENOMEM;
    /* the details are freed with the pairs (free_record): 3 per pair read so far */
    if (proc && !(*info = calloc(n ? 3 * n : 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const node *key = v->child[2 * i], *val = v->child[2 * i + 1];
        if (proc && key->kind == NODE_SCALAR && val->kind == NODE_MAPPING) {
            if ((r = k->check(c, key, field)) < 0)
                return r;
            if (!((*pairs)[2 * i] = strdup(key->value)))
                return -ENOMEM;
            *count = i + 1;
            if ((r = set_proc_entry(c, key, val, field, &(*pairs)[2 * i + 1], *info + 3 * i)) < 0)
                return r;
            continue;
        }
        if (key->kind != NODE_SCALAR || val->kind != NODE_SCALAR)
            return fail_at(c, val->line, val->column, field,
                           proc ? "%s: each entry must be code: code or code: {code: ...}, not %s"
                                : "%s: each entry must be code: code, not %s",
                           field, kind_name(key->kind != NODE_SCALAR ? key : val));
        if ((r = k->check(c, key, field)) < 0 || (r = k->check(c, val, field)) < 0)
            return r;
        if (!((*pairs)[2 * i] = strdup(key->value)) || !((*pairs)[2 * i + 1] = strdup(val->value)))
            return (free((*pairs)[2 * i]), (*pairs)[2 * i] = NULL, -ENOMEM);
        *count = i + 1;
    }
    return 0;
}

const char *lt_config_map_get(char *const *pairs, size_t n_pairs, const char *key)
{
    for (size_t i = 0; key && i < n_pairs; i++)
        if (strcmp(pairs[2 * i], key) == 0)
            return pairs[2 * i + 1];
    return NULL;
}

const char *lt_config_procedure_get(const lt_config_agency *a, const char *local,
                                    const char **ret_info)
{
    for (int j = 0; j < 3; j++)
        ret_info[j] = NULL;
    if (a->n_procedure_map == 0)
        return local;
    for (size_t i = 0; local && i < a->n_procedure_map; i++) {
        if (strcmp(a->procedure_map[2 * i], local) != 0)
            continue;
        for (int j = 0; a->procedure_info && j < 3; j++)
            ret_info[j] = a->procedure_info[3 * i + j];
        return a->procedure_map[2 * i + 1];
    }
    return NULL;
}

static int set_log_level(walk_ctx *c, const node *v, const char *field, void *dst)
{
    char q[80];
    int level = strlen(v->value) == v->len ? lt_log_level_parse(v->value) : -1;

    if (level < 0)
        return fail_at(c, v->line, v->column, field,
                       "%s: \"%s\" is not one of debug, info, warning, error", field,
                       printable(v->value, v->len, q, sizeof(q)));
    *(int *)dst = level;
    return 0;
}

static int check_endpoint(walk_ctx *c, const node *v, const char *field)
{
    const size_t max_ipc = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
    char q[80];

    if (strncmp(v->value, "ipc://", 6) == 0 && v->len - 6 > max_ipc)
        return fail_at(c, v->line, v->column, field,
                       "%s \"%s\" is too long: an ipc:// path holds at most %zu bytes", field,
                       printable(v->value, v->len, q, sizeof(q)), max_ipc);
    if (strncmp(v->value, "tcp://", 6) == 0 || strncmp(v->value, "ipc://", 6) == 0)
        return 0;
    return fail_at(c, v->line, v->column, field, "%s \"%s\" must start with tcp:// or ipc://",
                   field, printable(v->value, v->len, q, sizeof(q)));
}

/* The agency path of field "agencies.NAME.key", for agency-level messages. */
static const char *agency_path(const char *field, char *buf, size_t size)
{
    const char *dot = strrchr(field, '.');

    snprintf(buf, size, "%.*s", dot ? (int)(dot - field) : (int)strlen(field), field);
    return buf;
}

static int check_adapter(walk_ctx *c, const node *v, const char *field)
{
    char q[80], path[128];

    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (scalar_is(v, adapters[i]))
            return 0;
    return fail_at(c, v->line, v->column, field, "%s: unknown adapter \"%s\" (known: %s)",
                   agency_path(field, path, sizeof(path)),
                   printable(v->value, v->len, q, sizeof(q)), ADAPTERS_LIST);
}

static int check_transport(walk_ctx *c, const node *v, const char *field)
{
    char q[80], path[128];

    if (scalar_is(v, "zmq") || scalar_is(v, "http"))
        return 0;
    agency_path(field, path, sizeof(path));
    return fail_at(c, v->line, v->column, field, "%s: unknown transport \"%s\" (known: zmq, http)",
                   path,
                   printable(v->value, v->len, q, sizeof(q)));
}

/* An http transport's base URL: http:// or https://, printable, no spaces. */
static int check_url(walk_ctx *c, const node *v, const char *field)
{
    char q[80];
    bool ok = strncmp(v->value, "http://", 7) == 0 || strncmp(v->value, "https://", 8) == 0;

    for (size_t i = 0; ok && i < v->len; i++)
        ok = (unsigned char)v->value[i] > 0x20 && (unsigned char)v->value[i] < 0x7f;
    if (ok && v->len <= 2048)
        return 0;
    return fail_at(c, v->line, v->column, field,
                   "%s \"%s\" must be an http:// or https:// URL without spaces", field,
                   printable(v->value, v->len, q, sizeof(q)));
}

/* A path appended to the URL: starts with /, printable, no spaces. */
static int check_path(walk_ctx *c, const node *v, const char *field)
{
    char q[80];
    bool ok = v->value[0] == '/' && v->len <= 512;

    for (size_t i = 0; ok && i < v->len; i++)
        ok = (unsigned char)v->value[i] > 0x20 && (unsigned char)v->value[i] < 0x7f;
    if (ok)
        return 0;
    return fail_at(c, v->line, v->column, field,
                   "%s \"%s\" must start with / and have no spaces", field,
                   printable(v->value, v->len, q, sizeof(q)));
}

/* A name or pattern that can equal a sender, code or kind: printable ASCII, no spaces. */
static int check_ident(walk_ctx *c, const node *v, const char *field)
{
    char q[80];
    bool ok = v->len > 0 && v->len <= LT_CONFIG_MAX_IDENT;

    for (size_t i = 0; ok && i < v->len; i++)
        ok = (unsigned char)v->value[i] > 0x20 && (unsigned char)v->value[i] < 0x7f;
    if (ok)
        return 0;
    return fail_at(c, v->line, v->column, field,
                   "%s: \"%s\" is not a name or pattern (1 to %d printable ASCII characters, no "
                   "spaces)",
                   field, printable(v->value, v->len, q, sizeof(q)), LT_CONFIG_MAX_IDENT);
}

/* Convert and store one value for table row k of scope s. */
static int set_value(walk_ctx *c, const scope *s, const key_def *k, const node *v)
{
    char field[160];
    void *dst = (char *)s->base + k->offset;

    dotted(s->path, k->key, field, sizeof(field));
    if (v->kind != NODE_SCALAR &&
        (k->type == KEY_INT || k->type == KEY_STRING || k->type == KEY_LOG_LEVEL))
        return fail_at(c, v->line, v->column, field, "%s must be %s, not %s", field,
                       k->type == KEY_INT ? "an integer" : "a string", kind_name(v));
    switch (k->type) {
    case KEY_INT:
        return set_int(c, k, v, field, dst);
    case KEY_STRING:
        return set_string(c, k, v, field, dst);
    case KEY_FLAGS:
    case KEY_KINDS:
        return set_flags(c, k, v, field, dst);
    case KEY_LIST:
        return set_list(c, k, v, field, dst);
    case KEY_MAP:
    case KEY_PROC_MAP:
        return set_map(c, k, v, field, dst);
    case KEY_LOG_LEVEL:
        return set_log_level(c, v, field, dst);
    }
    return LT_ERR_CONFIG;
}

static int walk_mapping(walk_ctx *c, const node *map, const scope *s);

/* Handle one key: value pair of a mapping: a row of the scope's table, or a subsection. */
static int walk_pair(walk_ctx *c, const node *key, const node *val, const scope *s)
{
    char q[80], exp[1024], sub[128];
    int si;

    if (key->kind != NODE_SCALAR)
        return fail_at(c, key->line, key->column, NULL, "keys must be plain names, not %s",
                       kind_name(key));
    if (strlen(key->value) == key->len) {
        for (size_t i = 0; i < N_KEYS; i++)
            if (strcmp(keys[i].section, s->table) == 0 && strcmp(keys[i].key, key->value) == 0) {
                s->seen[i] = true;
                return set_value(c, s, &keys[i], val);
            }
        dotted(s->table, key->value, sub, sizeof(sub));
        if ((si = section_index(sub)) > 0 && strlen(sub) < sizeof(sub) - 1) {
            scope child = { sub, sub, c->cfg, c->seen };
            c->section_node[si] = val;
            if (sections[si].walk)
                return sections[si].walk(c, val);
            if (val->kind != NODE_MAPPING)
                return fail_at(c, val->line, val->column, sub, "%s must be a mapping, not %s", sub,
                               kind_name(val));
            return walk_mapping(c, val, &child);
        }
    }
    printable(key->value, key->len, q, sizeof(q));
    expected_keys(s->table, exp, sizeof(exp));
    if (s->path[0])
        return fail_at(c, key->line, key->column, NULL,
                       "unknown key \"%s\" in %s (expected one of: %s)", q, s->path, exp);
    return fail_at(c, key->line, key->column, NULL,
                   "unknown key \"%s\" at top level (expected one of: %s)", q, exp);
}

/* Refuse a key of map that repeats an earlier one; path names the mapping. */
static int check_duplicate_keys(walk_ctx *c, const node *map, const char *path)
{
    char q[80];

    for (size_t i = 2; i + 1 < map->n; i += 2) {
        const node *k = map->child[i];
        for (size_t j = 0; k->kind == NODE_SCALAR && j < i; j += 2) {
            const node *prev = map->child[j];
            if (prev->kind == NODE_SCALAR && prev->len == k->len &&
                memcmp(prev->value, k->value, k->len) == 0)
                return fail_at(c, k->line, k->column, NULL,
                               "duplicate key \"%s\" in %s (first at line %d, column %d)",
                               printable(k->value, k->len, q, sizeof(q)),
                               path[0] ? path : "top level", prev->line, prev->column);
        }
    }
    return 0;
}

/* Check every key: value pair of map against the rows of the scope's table. */
static int walk_mapping(walk_ctx *c, const node *map, const scope *s)
{
    int r;

    if ((r = check_duplicate_keys(c, map, s->path)) < 0)
        return r;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if ((r = walk_pair(c, map->child[i], map->child[i + 1], s)) < 0)
            return r;
    return 0;
}

/* Give every row of table its default in the record at base. */
static void set_record_defaults(const char *table, void *base)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char *dst = (char *)base + keys[i].offset;
        if (strcmp(keys[i].section, table) != 0)
            continue;
        if (keys[i].type == KEY_INT)
            *(int64_t *)(void *)dst = keys[i].def;
        else if (keys[i].type == KEY_LOG_LEVEL)
            *(int *)(void *)dst = (int)keys[i].def;
        else if (keys[i].type == KEY_KINDS || keys[i].type == KEY_FLAGS)
            *(unsigned *)(void *)dst = (unsigned)keys[i].def;
    }
}

/* Free the strings and lists the rows of table put in the record at base. */
static void free_record(const char *table, void *base)
{
    for (size_t i = 0; base && i < N_KEYS; i++) {
        char *p = (char *)base + keys[i].offset;
        if (strcmp(keys[i].section, table) != 0)
            continue;
        if (keys[i].type == KEY_STRING) {
            free(*(char **)(void *)p);
        } else if (keys[i].type == KEY_LIST || keys[i].type == KEY_MAP ||
                   keys[i].type == KEY_PROC_MAP) {
            char **list = *(char ***)(void *)p;
            size_t n = *(size_t *)(void *)(p + sizeof(char **));
            if (keys[i].type == KEY_PROC_MAP) {
                char **info = *(char ***)(void *)(p + sizeof(char **) + sizeof(size_t));
                for (size_t j = 0; info && j < 3 * n; j++)
                    free(info[j]);
                free(info);
            }
            if (keys[i].type != KEY_LIST)
                n *= 2;
            for (size_t j = 0; list && j < n; j++)
                free(list[j]);
            free(list);
        }
    }
}

/* Report the first row of s's table that is required and not set; the mapping is map. */
static int check_record_required(walk_ctx *c, const node *map, const scope *s)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].required && !s->seen[i] && strcmp(keys[i].section, s->table) == 0) {
            char field[160];
            return fail_at(c, map->line, map->column,
                           dotted(s->path, keys[i].key, field, sizeof(field)),
                           "missing required key \"%s\" in %s", keys[i].key, s->path);
        }
    return 0;
}

/* ---- agencies and routes ---- */

/* True when the agency name is 1 to 32 characters of [a-z0-9_-]. */
static bool is_agency_name(const node *k)
{
    if (k->kind != NODE_SCALAR || k->len == 0 || k->len > LT_CONFIG_MAX_AGENCY_NAME)
        return false;
    for (size_t i = 0; i < k->len; i++) {
        char ch = k->value[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* strdup def into *s when *s is unset. Returns 0 or -ENOMEM. */
static int default_string(char **s, const char *def)
{
    if (!*s && !(*s = strdup(def)))
        return -ENOMEM;
    return 0;
}

/* Checks across the keys of an http agency, and its path defaults. */
static int finish_http_agency(walk_ctx *c, lt_config_agency *a, const node *map, const char *path)
{
    const node *v;

    if (!a->url)
        return fail_at(c, map->line, map->column, path,
                       "missing required key \"url\" in %s (the http transport posts to it)", path);
    if ((v = find_value(map, "endpoint")))
        return fail_at(c, v->line, v->column, path,
                       "%s: endpoint is for transport zmq; the http transport uses url", path);
    if (a->password && a->password_file) {
        v = find_value(map, "password_file");
        return fail_at(c, v->line, v->column, path,
                       "%s: password and password_file are both set (keep one: a file is safer)",
                       path);
    }
    if (!a->client_cert != !a->client_key) {
        v = find_value(map, a->client_cert ? "client_cert" : "client_key");
        return fail_at(c, v->line, v->column, path,
                       "%s: client_cert and client_key go together (one is missing)", path);
    }
    if (strcmp(a->adapter, "portal") == 0) {
        if (!a->username || (!a->password && !a->password_file) || !a->madonvi)
            return fail_at(c, map->line, map->column, path,
                           "%s: the portal over http needs username, password (or password_file) "
                           "and madonvi",
                           path);
        if (default_string(&a->login_path, "/login") < 0 ||
            default_string(&a->sync_path, "/DongBoHoSoMC") < 0 ||
            default_string(&a->progress_path, "/CapNhatTienDoHoSoMC") < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Defaults that depend on other keys, and checks across the keys of one agency. */
static int finish_agency(walk_ctx *c, lt_config_agency *a, const node *map, const char *path)
{
    const node *v;
    int r;

    if (!a->transport && !(a->transport = strdup("zmq")))
        return -ENOMEM;
    if (!a->adapter) {
        for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
            if (strcmp(a->name, adapters[i]) == 0 && !(a->adapter = strdup(a->name)))
                return -ENOMEM;
        if (!a->adapter)
            return fail_at(c, map->line, map->column, path,
                           "missing required key \"adapter\" in %s (the name is not an adapter; "
                           "known: %s)",
                           path, ADAPTERS_LIST);
    }
    if (strcmp(a->transport, "http") == 0) {
        if ((r = finish_http_agency(c, a, map, path)) < 0)
            return r;
    } else if (!a->endpoint) {
        return fail_at(c, map->line, map->column, path,
                       "missing required key \"endpoint\" in %s (the zmq transport connects to "
                       "the agency's gateway)",
                       path);
    } else if ((v = find_value(map, "url"))) {
        return fail_at(c, v->line, v->column, path,
                       "%s: url is for transport http; the zmq transport uses endpoint", path);
    }
    if (a->backoff_initial_ms > a->backoff_max_ms) {
        if (!(v = find_value(map, "backoff_initial_ms")))
            v = find_value(map, "backoff_max_ms");
        return fail_at(c, v->line, v->column, path,
                       "%s: backoff_initial_ms (%lld) is greater than backoff_max_ms (%lld)", path,
                       (long long)a->backoff_initial_ms, (long long)a->backoff_max_ms);
    }
    return 0;
}

/* A sender belongs to one agency at most: it says whose events must not go back to it. */
static int check_agency_senders(walk_ctx *c, const node *agencies)
{
    const lt_config *cfg = c->cfg;
    char field[160];

    for (size_t i = 0; i < cfg->n_agencies; i++) {
        const node *list = find_value(agencies->child[2 * i + 1], "senders");
        for (size_t j = 0; j < cfg->agencies[i].n_senders; j++) {
            const char *s = cfg->agencies[i].senders[j];
            const node *item = list->child[j];
            snprintf(field, sizeof(field), "agencies.%s.senders", cfg->agencies[i].name);
            for (size_t k = 0; k <= i; k++)
                for (size_t l = 0; l < (k < i ? cfg->agencies[k].n_senders : j); l++) {
                    if (strcmp(cfg->agencies[k].senders[l], s) != 0)
                        continue;
                    if (k == i)
                        return fail_at(c, item->line, item->column, field,
                                       "%s: \"%s\" is listed twice", field, s);
                    return fail_at(c, item->line, item->column, field,
                                   "%s: \"%s\" is already a sender of agency \"%s\"", field, s,
                                   cfg->agencies[k].name);
                }
        }
    }
    return 0;
}

/* agencies: a mapping of agency name to link settings. */
static int walk_agencies(walk_ctx *c, const node *v)
{
    lt_config *cfg = c->cfg;
    size_t n = v->n / 2;
    char q[80];
    int r;

    if (v->kind != NODE_MAPPING)
        return fail_at(c, v->line, v->column, "agencies",
                       "agencies must be a mapping of agency names to links, not %s", kind_name(v));
    if ((r = check_duplicate_keys(c, v, "agencies")) < 0)
        return r;
    if (n > LT_CONFIG_MAX_AGENCIES) {
        const node *extra = v->child[(size_t)2 * LT_CONFIG_MAX_AGENCIES];
        return fail_at(c, extra->line, extra->column, "agencies",
                       "more than %d agencies (a route's targets are a %d-bit set)",
                       LT_CONFIG_MAX_AGENCIES, LT_CONFIG_MAX_AGENCIES);
    }
    if (n && !(cfg->agencies = calloc(n, sizeof(*cfg->agencies))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const node *key = v->child[2 * i], *map = v->child[2 * i + 1];
        lt_config_agency *a = &cfg->agencies[i];
        bool seen[N_KEYS] = { false };
        char path[64];
        scope s = { "agency", path, a, seen };

        if (key->kind != NODE_SCALAR)
            return fail_at(c, key->line, key->column, NULL, "keys must be plain names, not %s",
                           kind_name(key));
        if (!is_agency_name(key))
            return fail_at(c, key->line, key->column, "agencies",
                           "agency name \"%s\" must be 1 to %d characters of a-z, 0-9, _ and -",
                           printable(key->value, key->len, q, sizeof(q)),
                           LT_CONFIG_MAX_AGENCY_NAME);
        cfg->n_agencies = i + 1;
        set_record_defaults("agency", a);
        a->line = key->line;
        if (!(a->name = strdup(key->value)))
            return -ENOMEM;
        snprintf(path, sizeof(path), "agencies.%s", a->name);
        if (map->kind != NODE_MAPPING)
            return fail_at(c, map->line, map->column, path,
                           "%s must be a mapping (adapter, endpoint, ...), not %s", path,
                           kind_name(map));
        if ((r = walk_mapping(c, map, &s)) < 0 || (r = finish_agency(c, a, map, path)) < 0)
            return r;
    }
    return check_agency_senders(c, v);
}

/* Checks across the keys of one route and against the routes before it. */
static int finish_route(walk_ctx *c, size_t i, const node *map, const scope *s)
{
    const lt_config_route *r = &c->cfg->routes[i];
    const node *v;
    char q[80];
    int e;

    if ((e = check_record_required(c, map, s)) < 0)
        return e;
    for (size_t j = 0; j < i; j++)
        if (strcmp(c->cfg->routes[j].name, r->name) == 0) {
            v = find_value(map, "name");
            return fail_at(
                c, v->line, v->column, s->path, "duplicate route name \"%s\" (first at line %d)",
                printable(r->name, strlen(r->name), q, sizeof(q)), c->cfg->routes[j].line);
        }
    if (r->n_result_kinds && !(r->kinds & LT_ROUTE_RESULT)) {
        v = find_value(map, "result_kinds");
        return fail_at(c, v->line, v->column, s->path,
                       "route \"%s\": result_kinds is set but kinds does not include result",
                       printable(r->name, strlen(r->name), q, sizeof(q)));
    }
    return 0;
}

/* routes: a list of rules, kept in file order; every matching rule adds its agencies. */
static int walk_routes(walk_ctx *c, const node *v)
{
    lt_config *cfg = c->cfg;
    int r;

    if (v->kind != NODE_SEQUENCE)
        return fail_at(c, v->line, v->column, "routes",
                       "routes must be a list of rules (- name: ..., to: [...]), not %s",
                       kind_name(v));
    if (v->n > LT_CONFIG_MAX_ROUTES)
        return fail_at(c, v->child[LT_CONFIG_MAX_ROUTES]->line,
                       v->child[LT_CONFIG_MAX_ROUTES]->column, "routes", "more than %d routes",
                       LT_CONFIG_MAX_ROUTES);
    if (v->n && !(cfg->routes = calloc(v->n, sizeof(*cfg->routes))))
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const node *map = v->child[i];
        lt_config_route *rt = &cfg->routes[i];
        bool seen[N_KEYS] = { false };
        char path[32];
        scope s = { "route", path, rt, seen };

        cfg->n_routes = i + 1;
        set_record_defaults("route", rt);
        rt->line = map->line;
        snprintf(path, sizeof(path), "routes[%zu]", i);
        if (map->kind != NODE_MAPPING)
            return fail_at(c, map->line, map->column, path,
                           "%s must be a mapping (name: ..., to: [...]), not %s", path,
                           kind_name(map));
        if ((r = walk_mapping(c, map, &s)) < 0 || (r = finish_route(c, i, map, &s)) < 0)
            return r;
    }
    return 0;
}

/* Each route's to names configured agencies (agencies may come after routes in the file). */
static int resolve_routes(walk_ctx *c)
{
    const lt_config *cfg = c->cfg;
    const node *list = c->section_node[section_index("routes")];
    char names[LT_CONFIG_MAX_AGENCIES * (LT_CONFIG_MAX_AGENCY_NAME + 2) + 8];
    char q[80], field[32];
    size_t n = 0;

    names[0] = '\0';
    for (size_t i = 0; i < cfg->n_agencies; i++)
        n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                              cfg->agencies[i].name);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        lt_config_route *r = &cfg->routes[i];
        const node *to = find_value(list->child[i], "to");
        snprintf(field, sizeof(field), "routes[%zu].to", i);
        for (size_t j = 0; j < r->n_to; j++) {
            size_t a = 0;
            while (a < cfg->n_agencies && strcmp(cfg->agencies[a].name, r->to[j]) != 0)
                a++;
            if (a == cfg->n_agencies)
                return fail_at(c, to->child[j]->line, to->child[j]->column, field,
                               "route \"%s\": unknown agency \"%s\" in to (configured: %s)",
                               printable(r->name, strlen(r->name), q, sizeof(q)), r->to[j],
                               n ? names : "none");
            if (r->to_mask & (UINT32_C(1) << a))
                return fail_at(c, to->child[j]->line, to->child[j]->column, field,
                               "route \"%s\": agency \"%s\" is listed twice in to",
                               printable(r->name, strlen(r->name), q, sizeof(q)), r->to[j]);
            r->to_mask |= UINT32_C(1) << a;
        }
    }
    return 0;
}

/* control.endpoint's default, and one socket per bound endpoint. */
static int finish_endpoints(walk_ctx *c, const node *root)
{
    static const struct {
        const char *section, *key;
        size_t offset;
    } binds[] = {
        { "ingest", "endpoint", OFF(ingest_endpoint) },
        { "streams", "endpoint", OFF(streams_endpoint) },
        { "streams", "pub_endpoint", OFF(streams_pub_endpoint) },
        { "control", "endpoint", OFF(control_endpoint) },
    };
    lt_config *cfg = c->cfg;
    const size_t max_ipc = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
    size_t dl = strlen(cfg->data_dir);
    const char *sep = dl && cfg->data_dir[dl - 1] == '/' ? "" : "/";

    if (!cfg->control_endpoint) {
        const node *d = find_value(root, "data_dir");
        if (asprintf(&cfg->control_endpoint, "ipc://%s%scontrol.sock", cfg->data_dir, sep) < 0) {
            cfg->control_endpoint = NULL;
            return -ENOMEM;
        }
        if (strlen(cfg->control_endpoint) - 6 > max_ipc)
            return fail_at(c, d->line, d->column, "data_dir",
                           "data_dir is too long for the default control endpoint "
                           "ipc://DATA_DIR/control.sock (an ipc:// path holds at most %zu "
                           "bytes); set control.endpoint",
                           max_ipc);
    }
    for (size_t i = 1; i < sizeof(binds) / sizeof(binds[0]); i++) {
        const char *e = *(char **)(void *)((char *)cfg + binds[i].offset);
        for (size_t j = 0; e && j < i; j++) {
            const char *prev = *(char **)(void *)((char *)cfg + binds[j].offset);
            const node *v =
                find_value(c->section_node[section_index(binds[i].section)], binds[i].key);
            char q[80], field[64];
            if (!prev || strcmp(prev, e) != 0)
                continue;
            dotted(binds[i].section, binds[i].key, field, sizeof(field));
            if (!v) /* the default control endpoint equals one the file sets */
                v = find_value(root, "data_dir");
            return fail_at(c, v->line, v->column, field,
                           "%s \"%s\" is also %s.%s; each socket needs its own endpoint", field,
                           printable(e, strlen(e), q, sizeof(q)), binds[j].section, binds[j].key);
        }
    }
    return 0;
}

/* Report the first required key that the file does not set. */
static int check_required(walk_ctx *c, const node *root)
{
    char field[128], exp[400];

    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        const node *sec;
        int si = section_index(k->section);
        if (!k->required || c->seen[i] || si < 0)
            continue;
        dotted(k->section, k->key, field, sizeof(field));
        sec = c->section_node[si];
        if (sec && k->section[0])
            return fail_at(c, sec->line, sec->column, field, "missing required key \"%s\" in %s",
                           k->key, k->section);
        if (sec)
            return fail_at(c, sec->line, sec->column, field, "missing required key \"%s\"", k->key);
        return fail_at(c, root->line, root->column, field,
                       "missing required section \"%s\" (a mapping with at least: %s)", k->section,
                       expected_required(k->section, exp, sizeof(exp)));
    }
    return 0;
}

/* ---- entry points ---- */

void lt_config_free(lt_config **p)
{
    lt_config *cfg;

    if (!p || !*p)
        return;
    cfg = *p;
    for (size_t i = 0; i < N_SECTIONS; i++)
        free_record(sections[i].name, cfg);
    for (size_t i = 0; i < cfg->n_agencies; i++) {
        free_record("agency", &cfg->agencies[i]);
        free(cfg->agencies[i].name);
    }
    free(cfg->agencies);
    for (size_t i = 0; i < cfg->n_routes; i++)
        free_record("route", &cfg->routes[i]);
    free(cfg->routes);
    free(cfg->path);
    free(cfg);
    *p = NULL;
}

int lt_config_parse(const char *name, const char *text, size_t len, lt_config **ret,
                    lt_diag *reterr)
{
    walk_ctx c = { .diag = reterr, .file = name ? name : "<config>" };
    scope top = { "", "", NULL, c.seen };
    node *root = NULL;
    yaml_mark_t doc;
    int r;

    if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || !(c.cfg->path = strdup(c.file))) {
        r = -ENOMEM;
        goto out;
    }
    top.base = c.cfg;
    for (size_t i = 0; i < N_SECTIONS; i++)
        set_record_defaults(sections[i].name, c.cfg);
    if ((r = build_tree(&c, text ? text : "", text ? len : 0, &root, &doc)) < 0)
        goto out;
    if (!root || (root->kind == NODE_SCALAR && root->plain && root->len == 0)) {
        r = fail_at(&c, (int)doc.line + 1, (int)doc.column + 1, NULL,
                    "the configuration is empty; it needs at least data_dir and "
                    "ingest: {endpoint: ...}");
        goto out;
    }
    if (root->kind != NODE_MAPPING) {
        r = fail_at(&c, root->line, root->column, NULL,
                    "the document must be a mapping of keys (data_dir, ingest, ...), not %s",
                    kind_name(root));
        goto out;
    }
    c.section_node[0] = root;
    if ((r = walk_mapping(&c, root, &top)) < 0 || (r = check_required(&c, root)) < 0 ||
        (r = resolve_routes(&c)) < 0 || (r = finish_endpoints(&c, root)) < 0)
        goto out;
    *ret = c.cfg;
    c.cfg = NULL;
out:
    if (r == -ENOMEM)
        lt_diag_set(reterr, r, 0, NULL, "%s: out of memory", c.file);
    node_free(root);
    lt_config_free(&c.cfg);
    return r;
}

/* Read all of fd into a new NUL-terminated buffer of at most
 * LT_CONFIG_MAX_FILE_BYTES. Returns 0, -errno or -EFBIG. */
static int read_all(int fd, char **ret, size_t *ret_len)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            char *nb;
            if (cap > LT_CONFIG_MAX_FILE_BYTES) {
                free(buf);
                return -EFBIG;
            }
            if (!(nb = realloc(buf, cap * 2))) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > LT_CONFIG_MAX_FILE_BYTES) {
        free(buf);
        return -EFBIG;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

int lt_config_load(const char *path, lt_config **ret, lt_diag *reterr)
{
    char *text = NULL;
    size_t len = 0;
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto fail;
    }
    r = read_all(fd, &text, &len);
    close(fd);
    if (r < 0)
        goto fail;
    r = lt_config_parse(path, text, len, ret, reterr);
    free(text);
    return r;
fail:
    if (reterr) {
        lt_diag_clear(reterr);
        snprintf(reterr->file, sizeof(reterr->file), "%s", path);
        if (r == -EFBIG)
            snprintf(reterr->message, sizeof(reterr->message),
                     "the file is larger than %d bytes; this is not a lienthong config",
                     LT_CONFIG_MAX_FILE_BYTES);
        else
            snprintf(reterr->message, sizeof(reterr->message), "cannot read: %s", lt_strerror(r));
    }
    return r;
}
