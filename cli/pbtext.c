/* pbtext.c - YAML/JSON text <-> protobuf-c messages, driven by descriptors. */
#include "pbtext.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---------------------------------------------------------------- parsing */

typedef struct pctx {
    const char *name; /* file name for diagnostics */
    lt_diag *err;
    yaml_document_t *doc;
    size_t nodes;   /* nodes visited in this document */
    char path[128]; /* dotted path of the field being read */
} pctx;

/* Record an error at node n: FILE:LINE:COL: path: message. */
static int fail(pctx *c, const yaml_node_t *n, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(pctx *c, const yaml_node_t *n, int err, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    if (!c->err)
        return err;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lt_diag_clear(c->err);
    snprintf(c->err->file, sizeof(c->err->file), "%s", c->name);
    c->err->line = n ? (int)n->start_mark.line + 1 : 0;
    c->err->column = n ? (int)n->start_mark.column + 1 : 0;
    if (c->path[0])
        lt_diag_set(c->err, err, 0, c->path, "%s: %s", c->path, msg);
    else
        lt_diag_set(c->err, err, 0, "", "%s", msg);
    return err;
}

/* Append ".name" (or "[i]" when name is NULL) to the path; returns the old
 * length so the caller can cut it back. */
static size_t path_push(pctx *c, const char *name, size_t idx)
{
    size_t len = strlen(c->path);

    if (name)
        snprintf(c->path + len, sizeof(c->path) - len, "%s%s", len ? "." : "", name);
    else
        snprintf(c->path + len, sizeof(c->path) - len, "[%zu]", idx);
    return len;
}

static void path_pop(pctx *c, size_t len)
{
    c->path[len] = '\0';
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "scalar";
    case YAML_SEQUENCE_NODE:
        return "sequence";
    case YAML_MAPPING_NODE:
        return "mapping";
    default:
        return "empty node";
    }
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain `~`, `null` or empty scalar: the field stays unset. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = sval(n);
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* Count a visited node against the per-document budget. */
static int visit(pctx *c, const yaml_node_t *n)
{
    if (++c->nodes > LT_PBTEXT_MAX_NODES)
        return fail(c, n, LT_ERR_INVALID, "document too large (more than %d nodes)",
                    LT_PBTEXT_MAX_NODES);
    return 0;
}

static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    return e->n_fields == 2 && !strcmp(e->fields[0].name, "key") && e->fields[0].id == 1 &&
           !strcmp(e->fields[1].name, "value") && e->fields[1].id == 2 &&
           strlen(e->short_name) > 5 && !strcmp(e->short_name + strlen(e->short_name) - 5, "Entry");
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4; /* 32-bit integers, enum, float */
    }
}

/* Parse a decimal integer in [min, max] (signed) or [0, umax] (unsigned). */
static int parse_int(pctx *c, const yaml_node_t *n, bool is_signed, int64_t min, int64_t max,
                     uint64_t umax, const char *tname, int64_t *ret_s, uint64_t *ret_u)
{
    const char *s = sval(n);
    char *end;

    if (!s[0] || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return fail(c, n, LT_ERR_INVALID, "\"%s\" is not an integer", s);
    errno = 0;
    if (is_signed) {
        long long v = strtoll(s, &end, 10);
        if (*end)
            return fail(c, n, LT_ERR_INVALID, "\"%s\" is not an integer", s);
        if (errno == ERANGE || v < min || v > max)
            return fail(c, n, LT_ERR_INVALID, "%s is out of range for %s", s, tname);
        *ret_s = v;
        return 0;
    }
    if (s[0] == '-') {
        strtoll(s, &end, 10);
        if (*end)
            return fail(c, n, LT_ERR_INVALID, "\"%s\" is not an integer", s);
        return fail(c, n, LT_ERR_INVALID, "%s is out of range for %s", s, tname);
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return fail(c, n, LT_ERR_INVALID, "\"%s\" is not an integer", s);
    if (errno == ERANGE || v > umax)
        return fail(c, n, LT_ERR_INVALID, "%s is out of range for %s", s, tname);
    *ret_u = v;
    return 0;
}

static int parse_enum(pctx *c, const yaml_node_t *n, const ProtobufCEnumDescriptor *ed,
                      int32_t *dst)
{
    const char *s = sval(n);
    const ProtobufCEnumValue *v = NULL;

    if (strlen(s) == n->data.scalar.length)
        v = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
    if (!v && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
        char *end;
        errno = 0;
        long long num = strtoll(s, &end, 10);
        if (!*end && errno != ERANGE && num >= INT32_MIN && num <= INT32_MAX)
            v = protobuf_c_enum_descriptor_get_value(ed, (int)num);
    }
    if (!v)
        return fail(c, n, LT_ERR_INVALID, "unknown value \"%s\" for enum %s", s, ed->name);
    *dst = v->value;
    return 0;
}

static int parse_message(pctx *c, yaml_node_t *n, const ProtobufCMessageDescriptor *d, int depth,
                         ProtobufCMessage **ret);

/* Parse one scalar or message value of field f into dst (fresh storage). */
static int parse_value(pctx *c, yaml_node_t *n, const ProtobufCFieldDescriptor *f, int depth,
                       void *dst)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    int r;

    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return parse_message(c, n, f->descriptor, depth + 1, (ProtobufCMessage **)dst);
    if (n->type != YAML_SCALAR_NODE)
        return fail(c, n, LT_ERR_INVALID, "expected a scalar, got a %s", kind_name(n));
    const char *s = sval(n);
    size_t len = n->data.scalar.length;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (strlen(s) != len)
            return fail(c, n, LT_ERR_INVALID, "string contains a NUL character");
        if (!(*(char **)dst = strdup(s)))
            return -ENOMEM;
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        if (!(b->data = malloc(len ? len : 1)))
            return -ENOMEM;
        memcpy(b->data, s, len);
        b->len = len;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!strcmp(s, "true"))
            *(protobuf_c_boolean *)dst = 1;
        else if (!strcmp(s, "false"))
            *(protobuf_c_boolean *)dst = 0;
        else
            return fail(c, n, LT_ERR_INVALID, "\"%s\" is not a boolean (true or false)", s);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum(c, n, f->descriptor, dst);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        char *end;
        double d = strtod(s, &end);
        if (!s[0] || *end)
            return fail(c, n, LT_ERR_INVALID, "\"%s\" is not a number", s);
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)dst = (float)d;
        else
            *(double *)dst = d;
        return 0;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((r = parse_int(c, n, true, INT32_MIN, INT32_MAX, 0, "int32", &sv, &uv)) < 0)
            return r;
        *(int32_t *)dst = (int32_t)sv;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((r = parse_int(c, n, true, INT64_MIN, INT64_MAX, 0, "int64", &sv, &uv)) < 0)
            return r;
        *(int64_t *)dst = sv;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((r = parse_int(c, n, false, 0, 0, UINT32_MAX, "uint32", &sv, &uv)) < 0)
            return r;
        *(uint32_t *)dst = (uint32_t)uv;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((r = parse_int(c, n, false, 0, 0, UINT64_MAX, "uint64", &sv, &uv)) < 0)
            return r;
        *(uint64_t *)dst = uv;
        return 0;
    default:
        return fail(c, n, LT_ERR_INVALID, "unsupported field type");
    }
}

/* Parse a mapping into a map<K,V> field: a repeated XxxEntry message. */
static int parse_map(pctx *c, yaml_node_t *n, const ProtobufCFieldDescriptor *f, int depth,
                     ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    ProtobufCMessage ***arr = (ProtobufCMessage ***)((char *)m + f->offset);
    size_t total = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    int r;

    if (!total)
        return 0;
    if (!(*arr = calloc(total, sizeof(**arr))))
        return -ENOMEM;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if ((r = visit(c, k)) < 0 || (r = visit(c, v)) < 0)
            return r;
        if (k->type != YAML_SCALAR_NODE)
            return fail(c, k, LT_ERR_INVALID, "map key must be a scalar, got a %s", kind_name(k));
        size_t mark = path_push(c, sval(k), 0);
        for (size_t i = 0; i < *count; i++) {
            const char *prev = *(char **)((char *)(*arr)[i] + ed->fields[0].offset);
            if (ed->fields[0].type == PROTOBUF_C_TYPE_STRING && prev && !strcmp(prev, sval(k)))
                return fail(c, k, LT_ERR_INVALID, "duplicate key \"%s\"", sval(k));
        }
        ProtobufCMessage *e = malloc(ed->sizeof_message);
        if (!e)
            return -ENOMEM;
        protobuf_c_message_init(ed, e);
        (*arr)[(*count)++] = e;
        r = parse_value(c, k, &ed->fields[0], depth, (char *)e + ed->fields[0].offset);
        if (!r && ed->fields[0].quantifier_offset)
            *(protobuf_c_boolean *)((char *)e + ed->fields[0].quantifier_offset) = 1;
        /* map values have no presence: a null value is the type's zero */
        if (!r && ed->fields[1].quantifier_offset)
            *(protobuf_c_boolean *)((char *)e + ed->fields[1].quantifier_offset) = 1;
        if (!r && !is_null(v))
            r = parse_value(c, v, &ed->fields[1], depth, (char *)e + ed->fields[1].offset);
        else if (!r && ed->fields[1].type == PROTOBUF_C_TYPE_STRING &&
                 !(*(char **)((char *)e + ed->fields[1].offset) = strdup("")))
            r = -ENOMEM;
        if (r < 0)
            return r;
        path_pop(c, mark);
    }
    return 0;
}

/* Parse a sequence into a repeated field. */
static int parse_repeated(pctx *c, yaml_node_t *n, const ProtobufCFieldDescriptor *f, int depth,
                          ProtobufCMessage *m)
{
    size_t *count = (size_t *)((char *)m + f->quantifier_offset);
    void **arr = (void **)((char *)m + f->offset);
    size_t total = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    size_t es = elem_size(f->type);
    int r;

    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, n, LT_ERR_INVALID, "expected a sequence, got a %s", kind_name(n));
    if (!total)
        return 0;
    if (!(*arr = calloc(total, es)))
        return -ENOMEM;
    for (size_t i = 0; i < total; i++) {
        yaml_node_t *item = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        if ((r = visit(c, item)) < 0)
            return r;
        size_t mark = path_push(c, NULL, i);
        if (is_null(item))
            return fail(c, item, LT_ERR_INVALID, "null is not allowed in a list");
        if ((r = parse_value(c, item, f, depth, (char *)*arr + i * es)) < 0) {
            /* a half-built message element is already in place: count it for free */
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && ((void **)*arr)[i])
                (*count)++;
            return r;
        }
        (*count)++;
        path_pop(c, mark);
    }
    return 0;
}

/* Parse the value node of field f of message m; marks presence. */
static int parse_field(pctx *c, yaml_node_t *v, const ProtobufCFieldDescriptor *f, int depth,
                       ProtobufCMessage *m)
{
    if (is_null(v))
        return 0;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (is_map_field(f)) {
            if (v->type != YAML_MAPPING_NODE)
                return fail(c, v, LT_ERR_INVALID, "expected a mapping, got a %s", kind_name(v));
            return parse_map(c, v, f, depth, m);
        }
        return parse_repeated(c, v, f, depth, m);
    }
    /* presence first: a half-built submessage must be reachable by the free */
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
    else if (f->quantifier_offset)
        *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    return parse_value(c, v, f, depth, (char *)m + f->offset);
}

/* The field of d that currently fills the oneof f belongs to, or NULL. */
static const ProtobufCFieldDescriptor *oneof_holder(const ProtobufCMessageDescriptor *d,
                                                    const ProtobufCFieldDescriptor *f,
                                                    const ProtobufCMessage *m)
{
    uint32_t cs = *(const uint32_t *)((const char *)m + f->quantifier_offset);
    for (unsigned i = 0; cs && i < d->n_fields; i++)
        if (d->fields[i].id == cs && d->fields[i].quantifier_offset == f->quantifier_offset)
            return &d->fields[i];
    return NULL;
}

static int parse_pairs(pctx *c, yaml_node_t *n, const ProtobufCMessageDescriptor *d, int depth,
                       ProtobufCMessage *m, unsigned char *seen)
{
    int r;

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        if ((r = visit(c, k)) < 0 || (r = visit(c, v)) < 0)
            return r;
        if (k->type != YAML_SCALAR_NODE)
            return fail(c, k, LT_ERR_INVALID, "field name must be a scalar, got a %s",
                        kind_name(k));
        const char *key = sval(k);
        size_t mark = path_push(c, key, 0);
        const ProtobufCFieldDescriptor *f = NULL;
        if (strlen(key) == k->data.scalar.length)
            f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (!f)
            return fail(c, k, LT_ERR_INVALID, "unknown field in %s", d->name);
        size_t idx = (size_t)(f - d->fields);
        if (seen[idx])
            return fail(c, k, LT_ERR_INVALID, "duplicate field");
        seen[idx] = 1;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && !is_null(v)) {
            const ProtobufCFieldDescriptor *h = oneof_holder(d, f, m);
            if (h)
                return fail(c, k, LT_ERR_INVALID, "only one of a oneof may be set; %s is set",
                            h->name);
        }
        if ((r = parse_field(c, v, f, depth, m)) < 0)
            return r;
        path_pop(c, mark);
    }
    return 0;
}

/* Parse mapping n into a new message of type d. On failure *ret may hold a
 * partial message, consistent enough for protobuf_c_message_free_unpacked(). */
static int parse_message(pctx *c, yaml_node_t *n, const ProtobufCMessageDescriptor *d, int depth,
                         ProtobufCMessage **ret)
{
    unsigned char *seen;
    int r;

    if (depth > LT_PBTEXT_MAX_DEPTH)
        return fail(c, n, LT_ERR_INVALID, "nesting deeper than %d", LT_PBTEXT_MAX_DEPTH);
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, LT_ERR_INVALID, "expected a mapping (%s), got a %s", d->name,
                    kind_name(n));
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (!m)
        return -ENOMEM;
    protobuf_c_message_init(d, m);
    *ret = m;
    if (!(seen = calloc(d->n_fields ? d->n_fields : 1, 1)))
        return -ENOMEM;
    r = parse_pairs(c, n, d, depth, m, seen);
    free(seen);
    return r;
}

/* Compute 1-based line/column of byte offset off in text. */
static void offset_mark(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int yaml_fail(const char *name, const char *text, size_t len, const yaml_parser_t *p,
                     lt_diag *err)
{
    if (!err)
        return p->error == YAML_MEMORY_ERROR ? -ENOMEM : LT_ERR_MALFORMED;
    lt_diag_clear(err);
    snprintf(err->file, sizeof(err->file), "%s", name);
    if (p->error == YAML_READER_ERROR) {
        offset_mark(text, len, p->problem_offset, &err->line, &err->column);
    } else {
        err->line = (int)p->problem_mark.line + 1;
        err->column = (int)p->problem_mark.column + 1;
    }
    if (p->error == YAML_MEMORY_ERROR)
        return lt_diag_set(err, -ENOMEM, 0, "", "out of memory reading YAML");
    return lt_diag_set(err, LT_ERR_MALFORMED, 0, "", "YAML syntax: %s%s%s",
                       p->problem ? p->problem : "error", p->context ? " " : "",
                       p->context ? p->context : "");
}

/* Pick a descriptor for the document rooted at root. */
static const ProtobufCMessageDescriptor *pick_desc(yaml_document_t *doc, yaml_node_t *root,
                                                   const ProtobufCMessageDescriptor *desc,
                                                   lt_pbtext_pick_fn pick, void *arg)
{
    const char *keys[64];
    size_t n = 0;

    if (!pick)
        return desc;
    if (root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top && n < 64; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE)
                keys[n++] = sval(k);
        }
    }
    const ProtobufCMessageDescriptor *d = pick(keys, n, arg);
    return d ? d : desc;
}

static int append_doc(lt_pbtext_doc **docs, size_t *n, size_t *cap, ProtobufCMessage *m,
                      const yaml_node_t *root)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        lt_pbtext_doc *nd = realloc(*docs, nc * sizeof(*nd));
        if (!nd)
            return -ENOMEM;
        *docs = nd;
        *cap = nc;
    }
    (*docs)[(*n)++] =
        (lt_pbtext_doc){ m, (int)root->start_mark.line + 1, (int)root->start_mark.column + 1 };
    return 0;
}

int lt_pbtext_parse(const char *name, const char *text, size_t len,
                    const ProtobufCMessageDescriptor *desc, lt_pbtext_pick_fn pick, void *pick_arg,
                    lt_pbtext_doc **ret_docs, size_t *ret_n, lt_diag *reterr)
{
    yaml_parser_t p;
    lt_pbtext_doc *docs = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    if (!yaml_parser_initialize(&p))
        return -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) {
            r = yaml_fail(name, text, len, &p, reterr);
            goto out;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break;
        }
        if (is_null(root)) {
            yaml_document_delete(&doc);
            continue;
        }
        pctx c = { .name = name, .err = reterr, .doc = &doc };
        ProtobufCMessage *m = NULL;
        const ProtobufCMessageDescriptor *d = pick_desc(&doc, root, desc, pick, pick_arg);
        if (n >= LT_PBTEXT_MAX_DOCS)
            r = fail(&c, root, LT_ERR_INVALID, "more than %d documents", LT_PBTEXT_MAX_DOCS);
        else
            r = parse_message(&c, root, d, 0, &m);
        if (!r)
            r = append_doc(&docs, &n, &cap, m, root);
        yaml_document_delete(&doc);
        if (r < 0) {
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
            if (r == -ENOMEM && reterr)
                fail(&c, NULL, r, "out of memory");
            goto out;
        }
    }
out:
    yaml_parser_delete(&p);
    if (r < 0) {
        lt_pbtext_docs_free(&docs, n);
        return r;
    }
    *ret_docs = docs;
    *ret_n = n;
    return 0;
}

void lt_pbtext_docs_free(lt_pbtext_doc **p, size_t n)
{
    if (!p || !*p)
        return;
    for (size_t i = 0; i < n; i++)
        if ((*p)[i].msg)
            protobuf_c_message_free_unpacked((*p)[i].msg, NULL);
    free(*p);
    *p = NULL;
}

/* ---------------------------------------------------------------- output */

/* Whether non-repeated field f of m is set (the rule protobuf-c packs by). */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    const void *member = base + f->offset;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const void *ptr = *(const void *const *)member;
        return ptr && (f->label == PROTOBUF_C_LABEL_REQUIRED || ptr != f->default_value);
    }
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->quantifier_offset)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)member)->len > 0;
    size_t es = elem_size(f->type);
    static const char zero[8];
    return memcmp(member, zero, es) != 0; /* proto3 implicit presence */
}

/* Length of a valid UTF-8 sequence at s (max n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k;
    unsigned c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return k;
}

/* Code point of a valid k-byte UTF-8 sequence. */
static unsigned utf8_decode(const unsigned char *s, size_t k)
{
    unsigned cp = s[0] & (0x7f >> k);

    for (size_t i = 1; i < k; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

int lt_pbtext_write_json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t k = utf8_len(p + i, len - i);
            if (!k) {
                fputs("\\ufffd", f);
                i++;
                continue;
            }
            unsigned cp = utf8_decode(p + i, k);
            /* C1 controls, YAML line breaks (NEL, LS, PS), BOM and non-characters
             * would be folded or refused by a YAML reader: escape them */
            if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
                cp == 0xffff)
                fprintf(f, "\\u%04x", cp);
            else
                fwrite(p + i, 1, k, f);
            i += k;
            continue;
        } else {
            fputc((int)c, f);
        }
        i++;
    }
    fputc('"', f);
    return ferror(f) ? -EIO : 0;
}

static int json_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *v);

static void write_double(FILE *f, double d, bool json)
{
    if (isfinite(d))
        fprintf(f, "%.17g", d);
    else
        fprintf(f, json ? "\"%s\"" : "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
}

/* Write a number, bool or enum value (shared by JSON and text). */
static bool write_number(FILE *f, const ProtobufCFieldDescriptor *fd, const void *v, bool json)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        fprintf(f, "%" PRId32, *(const int32_t *)v);
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        fprintf(f, "%" PRIu32, *(const uint32_t *)v);
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        fprintf(f, "%" PRId64, *(const int64_t *)v);
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        fprintf(f, "%" PRIu64, *(const uint64_t *)v);
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        fputs(*(const protobuf_c_boolean *)v ? "true" : "false", f);
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
        write_double(f, *(const float *)v, json);
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        write_double(f, *(const double *)v, json);
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t e = *(const int32_t *)v;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, e);
        if (ev)
            fprintf(f, json ? "\"%s\"" : "%s", ev->name);
        else
            fprintf(f, "%" PRId32, e);
        return true;
    }
    default:
        return false;
    }
}

static int json_map(FILE *f, const ProtobufCFieldDescriptor *fd, size_t n,
                    ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *ed = fd->descriptor;

    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        const char *e = (const char *)entries[i];
        const char *key = *(const char *const *)(e + ed->fields[0].offset);
        if (i)
            fputc(',', f);
        if (ed->fields[0].type == PROTOBUF_C_TYPE_STRING) {
            lt_pbtext_write_json_string(f, key ? key : "", key ? strlen(key) : 0);
        } else {
            fputc('"', f);
            write_number(f, &ed->fields[0], e + ed->fields[0].offset, false);
            fputc('"', f);
        }
        fputc(':', f);
        json_value(f, &ed->fields[1], e + ed->fields[1].offset);
    }
    fputc('}', f);
    return ferror(f) ? -EIO : 0;
}

static int json_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *v)
{
    if (write_number(f, fd, v, true))
        return 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)v;
        return lt_pbtext_write_json_string(f, s ? s : "", s ? strlen(s) : 0);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        return lt_pbtext_write_json_string(f, (const char *)b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)v;
        if (!m) {
            fputs("{}", f);
            return 0;
        }
        return lt_pbtext_write_json(f, m);
    }
    default:
        fputs("null", f);
        return 0;
    }
}

int lt_pbtext_write_json_fields(FILE *f, const ProtobufCMessage *m, bool *first)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            const char *arr = *(const char *const *)(base + fd->offset);
            if (!n)
                continue;
            fprintf(f, "%s\"%s\":", *first ? "" : ",", fd->name);
            *first = false;
            if (is_map_field(fd)) {
                json_map(f, fd, n, (ProtobufCMessage *const *)arr);
                continue;
            }
            fputc('[', f);
            for (size_t j = 0; j < n; j++) {
                if (j)
                    fputc(',', f);
                json_value(f, fd, arr + j * elem_size(fd->type));
            }
            fputc(']', f);
            continue;
        }
        if (!field_present(m, fd))
            continue;
        fprintf(f, "%s\"%s\":", *first ? "" : ",", fd->name);
        *first = false;
        json_value(f, fd, base + fd->offset);
    }
    return ferror(f) ? -EIO : 0;
}

int lt_pbtext_write_json(FILE *f, const ProtobufCMessage *m)
{
    bool first = true;

    fputc('{', f);
    lt_pbtext_write_json_fields(f, m, &first);
    fputc('}', f);
    return ferror(f) ? -EIO : 0;
}

/* ---------------------------------------------------------------- human text */

const char *lt_pbtext_mask(const char *s, char *buf, size_t size)
{
    size_t n = s ? strlen(s) : 0;
    size_t keep = n >= 10 ? 4 : n > 6 ? 2 : 0;

    if (!size)
        return buf;
    for (size_t i = 0; i < n && i + 1 < size; i++)
        buf[i] = (i < keep || i >= n - keep) ? s[i] : '*';
    buf[n < size ? n : size - 1] = '\0';
    return buf;
}

static bool listed(const char *const *list, const char *name)
{
    for (const char *const *p = list; p && *p; p++)
        if (!strcmp(*p, name))
            return true;
    return false;
}

static bool masked(const lt_pbtext_text_opts *o, const char *name)
{
    return o && listed(o->mask, name);
}

/* A string is written bare when it is a simple token, else JSON-quoted. */
static void text_string(FILE *f, const char *s)
{
    bool bare = s[0] != '\0';

    for (const char *p = s; *p && bare; p++)
        bare = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               strchr("._:+-/@*", *p);
    if (bare)
        fputs(s, f);
    else
        lt_pbtext_write_json_string(f, s, strlen(s));
}

static void text_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *v,
                       const lt_pbtext_text_opts *o)
{
    if (write_number(f, fd, v, false))
        return;
    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(const char *const *)v;
        char buf[256];
        if (s && masked(o, fd->name))
            s = lt_pbtext_mask(s, buf, sizeof(buf));
        text_string(f, s ? s : "");
    } else if (fd->type == PROTOBUF_C_TYPE_BYTES) {
        const ProtobufCBinaryData *b = v;
        fprintf(f, "<%zu bytes>", b->len);
    } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)v;
        lt_pbtext_text_opts sub = { .mask = o ? o->mask : NULL };
        fputc('{', f);
        if (m)
            lt_pbtext_write_text(f, m, &sub);
        fputc('}', f);
    }
}

int lt_pbtext_write_text(FILE *f, const ProtobufCMessage *m, const lt_pbtext_text_opts *o)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool first = true;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (o && listed(o->skip, fd->name))
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + fd->quantifier_offset);
            const char *arr = *(const char *const *)(base + fd->offset);
            if (!n)
                continue;
            fprintf(f, "%s%s=", first ? "" : " ", fd->name);
            first = false;
            bool map = is_map_field(fd);
            fputc(map ? '{' : '[', f);
            for (size_t j = 0; j < n; j++) {
                if (j)
                    fputc(' ', f);
                if (map) {
                    const ProtobufCMessageDescriptor *ed = fd->descriptor;
                    const char *e = ((const char *const *)arr)[j];
                    text_value(f, &ed->fields[0], e + ed->fields[0].offset, o);
                    fputc('=', f);
                    text_value(f, &ed->fields[1], e + ed->fields[1].offset, o);
                } else {
                    text_value(f, fd, arr + j * elem_size(fd->type), o);
                }
            }
            fputc(map ? '}' : ']', f);
            continue;
        }
        if (!field_present(m, fd))
            continue;
        fprintf(f, "%s%s=", first ? "" : " ", fd->name);
        first = false;
        text_value(f, fd, base + fd->offset, o);
    }
    return ferror(f) ? -EIO : 0;
}
