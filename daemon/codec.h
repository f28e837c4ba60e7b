/* codec.h - the wire codec: bytes <-> Submission / Reply (proto/README.md).
 *
 * Decoding is strict: besides protobuf-c's own checks it refuses any field
 * number that version 1 does not define (UNKNOWN_FIELD), at any depth, so a
 * sender on a newer contract hears about it instead of losing data silently.
 * Pure functions; no logging, no global state.
 */
#ifndef LT_CODEC_H
#define LT_CODEC_H

#include "error.h"
#include "lienthong/v1/lienthong.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef Lienthong__V1__Submission lt_submission;
typedef Lienthong__V1__Reply lt_reply;

#define LT_WIRE_VERSION 1

/* Decode one Submission frame.
 * [out] ret: caller frees with lienthong__v1__submission__free_unpacked(*ret, NULL).
 * [out] reterr: on failure code MALFORMED or UNKNOWN_FIELD, field and message.
 * Returns 0 or LT_ERR_MALFORMED. */
int lt_codec_decode_submission(const uint8_t *buf, size_t len, lt_submission **ret,
                               lt_diag *reterr);

/* The same, unpacking with alloc (NULL: malloc). [out] ret: caller frees with
 * lienthong__v1__submission__free_unpacked(*ret, alloc), or drops it with
 * the arena behind alloc. */
int lt_codec_decode_submission_in(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                                  lt_submission **ret, lt_diag *reterr);

/* Best-effort request_id of an undecodable frame (field 3 at top level), so a
 * MALFORMED reply can still be matched. Returns 0 when none is readable. */
uint64_t lt_codec_peek_request_id(const uint8_t *buf, size_t len);

/* Locate the Event's bytes (field 4) in a Submission frame that decoded, so
 * the store can keep them as received. [out] ret points into buf.
 * Returns 0; -ENOENT when the field is absent or occurs more than once (its
 * occurrences would merge); -EINVAL when buf is not well-formed. */
int lt_codec_event_bytes(const uint8_t *buf, size_t len, const uint8_t **ret, size_t *ret_len);

/* Encode a Reply into buf (at most size bytes). Returns the length, or
 * -ENOBUFS when it does not fit. Reply strings longer than the limits in
 * proto/README.md are truncated by the caller, not here. */
int lt_codec_encode_reply(const lt_reply *r, uint8_t *buf, size_t size);

/* Name of a wire ErrorCode ("MISSING_FIELD"), never NULL. */
const char *lt_codec_error_name(int code);

#endif
