/* apply.h - store one checked event and everything it implies, in the
 * caller's write transaction: dedupe on (sender, event_id), the dossier's
 * state transition, the log append and, by the routing rules, one outbox
 * delivery per agency. Because all of it is one transaction, an event is
 * never stored without its deliveries, nor delivered without being stored.
 *
 * Used by the ingest loop for submissions and by the delivery engine for the
 * results agencies send back and for dead-letter bounces. The event must have
 * passed lt_validate_submission() already.
 */
#ifndef LT_APPLY_H
#define LT_APPLY_H

#include <stdint.h>

#include "config.h"
#include "journal.h"
#include "store.h"

typedef struct lt_apply_result {
    int outcome;       /* LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED, _DUPLICATE or _REJECTED */
    uint64_t seq;      /* accepted: the new seq; duplicate: the original one */
    int code;          /* rejected: the wire ErrorCode */
    char field[128];   /* rejected: the field concerned, or "" */
    char message[400]; /* rejected: for the reply and the log */
    uint32_t routed;   /* accepted: the agencies (bit i = cfg->agencies[i]) owed a delivery */
} lt_apply_result;

/* Returned when the map is full outside careful mode: the transaction is
 * poisoned; abort it and redo the batch in a careful one. */
#define LT_APPLY_NEED_CAREFUL 1

/* Apply ev from sender in t. Borrows everything.
 * Returns 0 with *ret filled (accepted, duplicate or rejected: nothing of a
 * rejected event was written), LT_APPLY_NEED_CAREFUL, or a negative store
 * error that is fatal for the transaction (LT_ERR_PANIC, LT_ERR_STORE). */
int lt_apply_event(lt_store_txn *t, const lt_config *cfg, const char *sender, const lt_event *ev,
                   int64_t now_ms, lt_apply_result *ret);

/* The same with ev's bytes as received (raw, raw_len; see lt_store_append_raw),
 * so the store keeps them instead of encoding ev again. raw may be NULL. */
int lt_apply_event_raw(lt_store_txn *t, const lt_config *cfg, const char *sender,
                       const lt_event *ev, const uint8_t *raw, size_t raw_len, int64_t now_ms,
                       lt_apply_result *ret);

/* Put the journal's records after LMDB's last seq into the store, through
 * lt_apply_event_raw with each record's sender and acceptance time, in one
 * transaction; commit it and reset the journal. Each record must apply as
 * accepted with its own seq: anything else (a record that does not decode, a
 * config that now refuses it, a full map) is an error naming the journal file,
 * the record's offset and seq, and the daemon must not serve.
 * [out] info (may be NULL). Returns 0 or a negative error with reterr set. */
int lt_apply_journal(lt_store *s, const lt_config *cfg, lt_journal *j, lt_journal_scan_info *info,
                     lt_diag *reterr);

#endif
