/* validate.h - checks a Submission before anything is stored, and derives
 * the dossier's next state.
 *
 * Each failure names its wire ErrorCode and the dotted field path in the diag
 * (e.g. MISSING_FIELD at event.status.received_at). The dossier state machine
 * is documented in proto/README.md; a dossier's first event may carry any
 * status. Pure functions: state comes in, state goes out, nothing is logged.
 */
#ifndef LT_VALIDATE_H
#define LT_VALIDATE_H

#include "codec.h"
#include "error.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct lt_limits {
    int64_t clock_skew_s;     /* how far in the future a time may be */
    int64_t max_field_bytes;  /* ids, codes, names */
    int64_t max_text_bytes;   /* note, uri, data values */
    int64_t max_attachments;
    int64_t max_data_entries;
} lt_limits;

/* Limits used when no config is given (the config defaults). */
extern const lt_limits lt_limits_default;

/* Check the parts of a Submission that need no stored state: version,
 * required fields, lengths, timestamps, future times, enum ranges.
 * Returns 0 or LT_ERR_INVALID with reterr->code set. */
int lt_validate_submission(const lt_submission *sub, const lt_limits *lim, int64_t now_s,
                           lt_diag *reterr);

/* Check the event against the dossier's current state (NULL for a dossier
 * never seen) and compute the state after it.
 * [out] next: filled on success (caller-provided, initialised here; strings
 * borrowed from ev and cur, valid while they are).
 * Returns 0 or LT_ERR_INVALID with reterr->code BAD_TRANSITION,
 * UNKNOWN_DOSSIER, MISSING_FIELD or INVALID_FIELD. */
int lt_validate_transition(const lt_event *ev, const lt_dossier_state *cur, uint64_t seq,
                           lt_dossier_state *next, lt_diag *reterr);

/* True when the state machine allows from -> to (both 1..10). */
bool lt_validate_allowed(int from, int to);

/* Portal name of a status ("REGISTERED"), or "UNKNOWN". */
const char *lt_status_name(int status);

#endif
