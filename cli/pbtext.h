/* pbtext.h - protobuf messages <-> YAML/JSON text, driven by protobuf-c
 * descriptors (no per-message code).
 *
 * Text in: one or more YAML documents (JSON is YAML) read with libyaml. Field
 * names are the .proto names; enums are given by name (IN_PROGRESS) or by a
 * defined number; repeated fields are sequences; map<string,string> fields are
 * mappings; nested messages are mappings; at most one member of a oneof may be
 * set. A null scalar (`~`, `null`, empty) leaves a field unset; an empty
 * document (only `---`) is skipped. Every error is reported as
 *   FILE:LINE:COL: field.path: message
 * (lt_diag_format() of reterr; line and column 1-based, field in reterr->field).
 *
 * Text out: one-line JSON (field names as in the .proto, unset fields
 * omitted, enums by name, 64-bit integers as JSON numbers, maps as objects),
 * which the parser reads back into an equal message; and a compact one-line
 * human rendering `name=value sub={...} list=[...]` that can mask fields.
 *
 * Bounds: nesting depth LT_PBTEXT_MAX_DEPTH, LT_PBTEXT_MAX_NODES scalar and
 * collection nodes visited per document (YAML aliases are expanded, so this
 * caps "billion laughs"), LT_PBTEXT_MAX_DOCS documents per input.
 * Pure functions; no logging, no global state.
 */
#ifndef LT_PBTEXT_H
#define LT_PBTEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

#define LT_PBTEXT_MAX_DEPTH 32
#define LT_PBTEXT_MAX_NODES 100000
#define LT_PBTEXT_MAX_DOCS  1000000

/* One parsed document. */
typedef struct lt_pbtext_doc {
    ProtobufCMessage *msg; /* owned by the array; free with lt_pbtext_docs_free() */
    int line;              /* 1-based line where the document's content starts */
    int column;            /* 1-based column of the same */
} lt_pbtext_doc;

/* Chooses the message type of one document from its top-level keys (borrowed
 * for the call; n_keys is 0 when the document is not a mapping). Returning
 * NULL falls back to the default descriptor. */
typedef const ProtobufCMessageDescriptor *(*lt_pbtext_pick_fn)(const char *const *keys,
                                                               size_t n_keys, void *arg);

/* Parse every document of text (len bytes, need not be NUL-terminated).
 * desc: default message type; pick (may be NULL) chooses per document.
 * name: file name used in diagnostics ("-" for stdin, say).
 * [out] ret_docs, ret_n: on success an array of *ret_n documents (possibly 0);
 *   caller frees with lt_pbtext_docs_free(). Written only on success.
 * [out] reterr: on failure file, line, column, field and message.
 * Returns 0, -ENOMEM, LT_ERR_MALFORMED (YAML syntax) or LT_ERR_INVALID (a
 * document does not fit the message type). Nothing is kept on failure. */
int lt_pbtext_parse(const char *name, const char *text, size_t len,
                    const ProtobufCMessageDescriptor *desc, lt_pbtext_pick_fn pick, void *pick_arg,
                    lt_pbtext_doc **ret_docs, size_t *ret_n, lt_diag *reterr);

/* Free n documents and the array; nulls *p. Accepts NULL and *p == NULL. */
void lt_pbtext_docs_free(lt_pbtext_doc **p, size_t n);

/* Write m as one JSON object (no newline). Returns 0 or -EIO. */
int lt_pbtext_write_json(FILE *f, const ProtobufCMessage *m);

/* Write m's set fields as JSON members `"name":value` separated by commas,
 * without braces, so a caller can merge them into its own object. *first is
 * true when no member has been written yet to the enclosing object; it is
 * updated. Returns 0 or -EIO. */
int lt_pbtext_write_json_fields(FILE *f, const ProtobufCMessage *m, bool *first);

/* Write s as a JSON string literal (quotes included). Invalid UTF-8 bytes
 * become U+FFFD. Returns 0 or -EIO. */
int lt_pbtext_write_json_string(FILE *f, const char *s, size_t len);

/* Human rendering options. */
typedef struct lt_pbtext_text_opts {
    const char *const *mask; /* NULL-terminated list of field names whose string
                                values are masked (e.g. "id_number"), or NULL */
    const char *const *skip; /* NULL-terminated list of top-level field names left
                                out (already shown by the caller), or NULL */
} lt_pbtext_text_opts;

/* Write m compactly on one line: `a=1 b="two words" sub={c=X} list=[{..} {..}]`
 * (no newline). opts may be NULL. Returns 0 or -EIO. */
int lt_pbtext_write_text(FILE *f, const ProtobufCMessage *m, const lt_pbtext_text_opts *opts);

/* Mask an identity number for display: the first and last 4 characters stay
 * when it has at least 10 (0791****1234), 2 and 2 when more than 6, otherwise
 * all become '*'. Writes at most size bytes into buf; returns buf. */
const char *lt_pbtext_mask(const char *s, char *buf, size_t size);

#endif
