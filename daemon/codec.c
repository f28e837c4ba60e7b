/* codec.c - strict Submission decoding and Reply encoding. */
#include "codec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const lt_error_names[] = {
    "NONE",           "MALFORMED",       "UNSUPPORTED_VERSION", "MISSING_FIELD",
    "INVALID_FIELD",  "UNKNOWN_FIELD",   "TOO_LARGE",           "STORE_FULL",
    "BAD_TRANSITION", "UNKNOWN_DOSSIER", "FUTURE_TIMESTAMP",    "INTERNAL",
};

const char *lt_codec_error_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(lt_error_names) / sizeof(lt_error_names[0]))
        return "UNKNOWN";
    return lt_error_names[code];
}

/* Join prefix and name into a dotted path. */
static void path_join(char *out, size_t size, const char *prefix, const char *name)
{
    if (prefix[0])
        snprintf(out, size, "%s.%s", prefix, name);
    else
        snprintf(out, size, "%s", name);
}

/* Look for an unknown field in m or any message below it. With reterr NULL
 * it only answers (the common case, no field has one: no paths are built, as
 * formatting them for every sub-message of every event dominated the ingest
 * profile); with reterr it names the first one found, path and all.
 * Returns 0 when there is none, else LT_ERR_MALFORMED. */
static int find_unknown(const ProtobufCMessage *m, const char *path, lt_diag *reterr)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    char sub[128];

    if (m->n_unknown_fields > 0)
        return lt_diag_set(reterr, LT_ERR_MALFORMED, LIENTHONG__V1__ERROR_CODE__UNKNOWN_FIELD,
                           path[0] ? path : "submission",
                           "field number %u is not defined in lienthong.v1.%s",
                           m->unknown_fields[0].tag, desc->short_name);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const char *base = (const char *)m;

        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        /* Members of a oneof share one union slot: only the selected one is
         * a message of this field's type; the others alias it. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++) {
                if (reterr) {
                    char name[96];
                    snprintf(name, sizeof(name), "%s[%zu]", f->name, j);
                    path_join(sub, sizeof(sub), path, name);
                }
                int r = find_unknown(arr[j], reterr ? sub : "", reterr);
                if (r < 0)
                    return r;
            }
        } else {
            const ProtobufCMessage *child = *(ProtobufCMessage *const *)(base + f->offset);
            if (!child)
                continue;
            if (reterr)
                path_join(sub, sizeof(sub), path, f->name);
            int r = find_unknown(child, reterr ? sub : "", reterr);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int lt_codec_decode_submission(const uint8_t *buf, size_t len, lt_submission **ret, lt_diag *reterr)
{
    return lt_codec_decode_submission_in(buf, len, NULL, ret, reterr);
}

int lt_codec_decode_submission_in(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                                  lt_submission **ret, lt_diag *reterr)
{
    lt_submission *sub;
    int r;

    sub = lienthong__v1__submission__unpack(alloc, len, buf);
    if (!sub)
        return lt_diag_set(reterr, LT_ERR_MALFORMED, LIENTHONG__V1__ERROR_CODE__MALFORMED, "",
                           "not a lienthong.v1.Submission (%zu bytes could not be decoded)", len);
    /* first without paths; only a submission that has one pays for naming it */
    r = find_unknown(&sub->base, "", NULL) < 0 ? find_unknown(&sub->base, "", reterr) : 0;
    if (r < 0) {
        lienthong__v1__submission__free_unpacked(sub, alloc);
        return r;
    }
    *ret = sub;
    return 0;
}

/* Read a base-128 varint at *p (bounded by end). Returns 0 or -EINVAL. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EINVAL;
}

uint64_t lt_codec_peek_request_id(const uint8_t *buf, size_t len)
{
    const uint8_t *p, *end;
    uint64_t tag, v;

    if (!buf) /* an empty ZeroMQ frame may have no data pointer; NULL + 0 is UB */
        return 0;
    p = buf;
    end = buf + len;
    while (p < end) {
        if (read_varint(&p, end, &tag) < 0)
            return 0;
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v) < 0)
                return 0;
            if (tag >> 3 == 3)
                return v;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return 0;
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

int lt_codec_event_bytes(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len)
{
    const uint8_t *p = buf, *end = buf + len, *found = NULL;
    uint64_t tag, v;
    size_t found_len = 0;

    if (!buf)
        return -ENOENT;
    while (p < end) {
        if (read_varint(&p, end, &tag) < 0)
            return -EINVAL;
        switch (tag & 7) {
        case 0:
            if (read_varint(&p, end, &v) < 0)
                return -EINVAL;
            break;
        case 1:
            if (end - p < 8)
                return -EINVAL;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -EINVAL;
            if (tag >> 3 == 4) {
                if (found) /* repeated occurrences merge: the bytes of one are not the event */
                    return -ENOENT;
                found = p;
                found_len = (size_t)v;
            }
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return -EINVAL;
            p += 4;
            break;
        default:
            return -EINVAL;
        }
    }
    if (!found)
        return -ENOENT;
    *ret = found;
    *ret_len = found_len;
    return 0;
}

int lt_codec_encode_reply(const lt_reply *r, uint8_t *buf, size_t size)
{
    size_t n = lienthong__v1__reply__get_packed_size(r);

    if (n > size)
        return -ENOBUFS;
    return (int)lienthong__v1__reply__pack(r, buf);
}
