/* config.c - read the daemon's YAML configuration into an lt_config.
 *
 * Two passes. First libyaml's event parser builds a small tree of nodes
 * (scalar, mapping, sequence), each with its 1-based line and column; the tree
 * is bounded in depth and size so no input can exhaust the stack or memory.
 * Then a generic walker checks the tree against one table of keys (section,
 * key, type, bounds, default, offset): a mapping whose dotted path is the
 * prefix of a table section is descended into, a key of the current section
 * is converted and range-checked, anything else is an unknown key. Adding a
 * section is adding table rows (and, for lists of mappings, a node type).
 * The first error found, in document order, is reported; nothing is logged.
 */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define LT_CONFIG_MAX_FILE_BYTES (1 << 20) /* a config is a few KB; refuse anything huge */
#define LT_CONFIG_MAX_DEPTH 32             /* nesting of mappings and sequences */
#define LT_CONFIG_MAX_NODES 100000         /* scalars + collections in one file */

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

typedef enum { KEY_STRING, KEY_INT, KEY_FLAGS, KEY_LOG_LEVEL } key_type;

typedef struct flag_def {
    const char *name;
    unsigned bit;
    const char *refusal; /* non-NULL: the flag is known and refused for this reason */
} flag_def;

typedef struct key_def key_def;
typedef struct walk_ctx walk_ctx;

struct key_def {
    const char *section; /* dotted path of the mapping holding the key; "" for the root */
    const char *key;
    key_type type;
    bool required;
    int64_t min, max, def; /* KEY_INT bounds and default; KEY_LOG_LEVEL default */
    size_t offset;         /* into lt_config */
    int (*check)(walk_ctx *c, const key_def *k, const node *v, const char *field);
};

static int check_endpoint(walk_ctx *c, const key_def *k, const node *v, const char *field);

#define OFF(f) offsetof(lt_config, f)

static const flag_def store_flags[] = {
    {"nordahead", LT_CONFIG_STORE_NORDAHEAD, NULL},
    {"writemap", LT_CONFIG_STORE_WRITEMAP, NULL},
    {"nosync", 0, "it would let an acknowledged event be lost on power failure"},
    {"nometasync", 0, "it would let an acknowledged event be lost on power failure"},
    {"mapasync", 0, "it would let an acknowledged event be lost on power failure"},
    {NULL, 0, NULL},
};

/* Sections in the order an operator reads them; "" is the document root. */
static const char *const sections[] = {"", "ingest", "batch", "store", "validation", "log"};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static const key_def keys[] = {
    {"", "data_dir", KEY_STRING, true, 0, 0, 0, OFF(data_dir), NULL},
    {"ingest", "endpoint", KEY_STRING, true, 0, 0, 0, OFF(ingest_endpoint), check_endpoint},
    {"ingest", "max_message_bytes", KEY_INT, false, 1024, 67108864, 262144, OFF(max_message_bytes),
     NULL},
    {"ingest", "heartbeat_ivl_ms", KEY_INT, false, 0, 600000, 5000, OFF(heartbeat_ivl_ms), NULL},
    {"ingest", "heartbeat_timeout_ms", KEY_INT, false, 0, 3600000, 15000, OFF(heartbeat_timeout_ms),
     NULL},
    {"ingest", "sndhwm", KEY_INT, false, 0, 10000000, 100000, OFF(sndhwm), NULL},
    {"ingest", "rcvhwm", KEY_INT, false, 0, 10000000, 100000, OFF(rcvhwm), NULL},
    {"ingest", "shutdown_linger_ms", KEY_INT, false, 0, 60000, 0, OFF(shutdown_linger_ms), NULL},
    {"batch", "max_events", KEY_INT, false, 1, 65536, 1024, OFF(batch_max_events), NULL},
    {"batch", "max_bytes", KEY_INT, false, 65536, 1073741824, 8388608, OFF(batch_max_bytes), NULL},
    {"batch", "max_wait_us", KEY_INT, false, 0, 1000000, 0, OFF(batch_max_wait_us), NULL},
    {"store", "map_size_mb", KEY_INT, false, 1, 1048576, 1024, OFF(map_size_mb), NULL},
    {"store", "max_readers", KEY_INT, false, 1, 4096, 126, OFF(max_readers), NULL},
    {"store", "flags", KEY_FLAGS, false, 0, 0, 0, OFF(store_flags), NULL},
    {"validation", "clock_skew_s", KEY_INT, false, 0, 86400, 300, OFF(clock_skew_s), NULL},
    {"validation", "max_field_bytes", KEY_INT, false, 16, 250, 200, OFF(max_field_bytes), NULL},
    {"validation", "max_text_bytes", KEY_INT, false, 64, 1048576, 4096, OFF(max_text_bytes), NULL},
    {"validation", "max_attachments", KEY_INT, false, 0, 1024, 64, OFF(max_attachments), NULL},
    {"validation", "max_data_entries", KEY_INT, false, 0, 4096, 128, OFF(max_data_entries), NULL},
    {"log", "level", KEY_LOG_LEVEL, false, 0, 0, LT_LOG_INFO, OFF(log_level), NULL},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct walk_ctx {
    lt_config *cfg;
    lt_diag *diag;
    const char *file;
    bool seen[N_KEYS];                    /* seen[i]: the file sets table row i */
    const node *section_node[N_SECTIONS]; /* mapping of each section the file has */
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
    build_state b = {.depth = 0};
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
        if (strcmp(sections[i], name) == 0)
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
        if (is_child_section(section, sections[i])) {
            const char *leaf = strrchr(sections[i], '.');
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
                                  leaf ? leaf + 1 : sections[i]);
        }
    return buf;
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

static int set_int(walk_ctx *c, const key_def *k, const node *v, const char *field)
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
    *(int64_t *)(void *)((char *)c->cfg + k->offset) = x;
    return 0;
}

static int set_string(walk_ctx *c, const key_def *k, const node *v, const char *field)
{
    char **dst = (char **)(void *)((char *)c->cfg + k->offset);
    int r;

    if (v->len == 0)
        return fail_at(c, v->line, v->column, field, "%s must not be empty", field);
    if (strlen(v->value) != v->len)
        return fail_at(c, v->line, v->column, field, "%s contains a NUL character", field);
    if (k->check && (r = k->check(c, k, v, field)) < 0)
        return r;
    free(*dst);
    if (!(*dst = strdup(v->value)))
        return -ENOMEM;
    return 0;
}

static int set_flags(walk_ctx *c, const key_def *k, const node *v, const char *field)
{
    unsigned *dst = (unsigned *)(void *)((char *)c->cfg + k->offset);
    unsigned flags = 0;
    char q[80];

    if (v->kind != NODE_SEQUENCE)
        return fail_at(c, v->line, v->column, field,
                       "%s must be a list of flags, e.g. [nordahead], not %s", field, kind_name(v));
    for (size_t i = 0; i < v->n; i++) {
        const node *f = v->child[i];
        const flag_def *d = store_flags;
        if (f->kind != NODE_SCALAR)
            return fail_at(c, f->line, f->column, field, "%s: each flag must be a name, not %s",
                           field, kind_name(f));
        while (d->name && (strlen(d->name) != f->len || strcmp(d->name, f->value) != 0))
            d++;
        if (!d->name)
            return fail_at(c, f->line, f->column, field,
                           "%s: unknown flag \"%s\" (expected one of: nordahead, writemap)", field,
                           printable(f->value, f->len, q, sizeof(q)));
        if (d->refusal)
            return fail_at(c, f->line, f->column, field, "%s: \"%s\" is refused: %s", field,
                           d->name, d->refusal);
        flags |= d->bit;
    }
    *dst = flags;
    return 0;
}

static int set_log_level(walk_ctx *c, const key_def *k, const node *v, const char *field)
{
    char q[80];
    int level = strlen(v->value) == v->len ? lt_log_level_parse(v->value) : -1;

    if (level < 0)
        return fail_at(c, v->line, v->column, field,
                       "%s: \"%s\" is not one of debug, info, warning, error", field,
                       printable(v->value, v->len, q, sizeof(q)));
    *(int *)(void *)((char *)c->cfg + k->offset) = level;
    return 0;
}

static int check_endpoint(walk_ctx *c, const key_def *k, const node *v, const char *field)
{
    char q[80];

    (void)k;
    if (strncmp(v->value, "tcp://", 6) == 0 || strncmp(v->value, "ipc://", 6) == 0)
        return 0;
    return fail_at(c, v->line, v->column, field, "%s \"%s\" must start with tcp:// or ipc://",
                   field, printable(v->value, v->len, q, sizeof(q)));
}

/* Convert and store one value for table row k. */
static int set_value(walk_ctx *c, const key_def *k, const node *v)
{
    char field[128];

    dotted(k->section, k->key, field, sizeof(field));
    if (k->type != KEY_FLAGS && v->kind != NODE_SCALAR)
        return fail_at(c, v->line, v->column, field, "%s must be %s, not %s", field,
                       k->type == KEY_INT ? "an integer" : "a string", kind_name(v));
    switch (k->type) {
    case KEY_INT:
        return set_int(c, k, v, field);
    case KEY_STRING:
        return set_string(c, k, v, field);
    case KEY_FLAGS:
        return set_flags(c, k, v, field);
    case KEY_LOG_LEVEL:
        return set_log_level(c, k, v, field);
    }
    return LT_ERR_CONFIG;
}

static int walk_mapping(walk_ctx *c, const node *map, const char *section);

/* Handle one key: value pair of the mapping for section. */
static int walk_pair(walk_ctx *c, const node *key, const node *val, const char *section)
{
    char q[80], exp[400], sub[128];
    int si;

    if (key->kind != NODE_SCALAR)
        return fail_at(c, key->line, key->column, NULL, "keys must be plain names, not %s",
                       kind_name(key));
    if (strlen(key->value) == key->len) {
        for (size_t i = 0; i < N_KEYS; i++)
            if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key->value) == 0) {
                c->seen[i] = true;
                return set_value(c, &keys[i], val);
            }
        dotted(section, key->value, sub, sizeof(sub));
        if ((si = section_index(sub)) > 0 && strlen(sub) < sizeof(sub) - 1) {
            if (val->kind != NODE_MAPPING)
                return fail_at(c, val->line, val->column, sub, "%s must be a mapping, not %s", sub,
                               kind_name(val));
            c->section_node[si] = val;
            return walk_mapping(c, val, sub);
        }
    }
    printable(key->value, key->len, q, sizeof(q));
    expected_keys(section, exp, sizeof(exp));
    if (section[0])
        return fail_at(c, key->line, key->column, NULL,
                       "unknown key \"%s\" in %s (expected one of: %s)", q, section, exp);
    return fail_at(c, key->line, key->column, NULL,
                   "unknown key \"%s\" at top level (expected one of: %s)", q, exp);
}

/* Check every key: value pair of map against the rows of section, refusing duplicates. */
static int walk_mapping(walk_ctx *c, const node *map, const char *section)
{
    char q[80];
    int r;

    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const node *k = map->child[i];
        for (size_t j = 0; k->kind == NODE_SCALAR && j < i; j += 2) {
            const node *prev = map->child[j];
            if (prev->kind == NODE_SCALAR && prev->len == k->len &&
                memcmp(prev->value, k->value, k->len) == 0)
                return fail_at(c, k->line, k->column, NULL,
                               "duplicate key \"%s\" in %s (first at line %d, column %d)",
                               printable(k->value, k->len, q, sizeof(q)),
                               section[0] ? section : "top level", prev->line, prev->column);
        }
        if ((r = walk_pair(c, k, map->child[i + 1], section)) < 0)
            return r;
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
        if (!k->required || c->seen[i])
            continue;
        dotted(k->section, k->key, field, sizeof(field));
        sec = c->section_node[section_index(k->section)];
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

static void set_defaults(lt_config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char *dst = (char *)cfg + keys[i].offset;
        if (keys[i].type == KEY_INT)
            *(int64_t *)(void *)dst = keys[i].def;
        else if (keys[i].type == KEY_LOG_LEVEL)
            *(int *)(void *)dst = (int)keys[i].def;
    }
}

void lt_config_free(lt_config **p)
{
    if (!p || !*p)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].type == KEY_STRING)
            free(*(char **)(void *)((char *)*p + keys[i].offset));
    free((*p)->path);
    free(*p);
    *p = NULL;
}

int lt_config_parse(const char *name, const char *text, size_t len, lt_config **ret,
                    lt_diag *reterr)
{
    walk_ctx c = {.diag = reterr, .file = name ? name : "<config>"};
    node *root = NULL;
    yaml_mark_t doc;
    int r;

    if (!(c.cfg = calloc(1, sizeof(*c.cfg))) || !(c.cfg->path = strdup(c.file))) {
        r = -ENOMEM;
        goto out;
    }
    set_defaults(c.cfg);
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
    if ((r = walk_mapping(&c, root, "")) < 0 || (r = check_required(&c, root)) < 0)
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
