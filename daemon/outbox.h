/* outbox.h - the transactional outbox: what is owed to each agency, and what
 * became of it.
 *
 * A delivery (one event to one agency) is created in the transaction that
 * stores the event, so an acknowledged event's deliveries always exist. Its
 * record lives in the delivery database for good (for `show`); while pending
 * it is also in the outbox index, ordered by agency then sequence number; a
 * dead letter is indexed by agency and dossier, so a dossier's later
 * deliveries to that agency are held behind it (order per dossier is never
 * broken, not even by an operator's requeue). Layouts: daemon/STORE.md.
 * Every function runs in the caller's transaction; nothing here sends,
 * schedules or logs.
 */
#ifndef LT_OUTBOX_H
#define LT_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

typedef Lienthong__V1__Delivery lt_delivery;

/* Create the pending delivery of event seq (of dossier) to agency.
 * rule names the route rule that matched (may be NULL).
 * Returns 0, LT_ERR_STORE_FULL, -E2BIG, LT_ERR_STORE. */
int lt_outbox_add(lt_store_txn *t, const char *agency, uint64_t seq, const char *dossier,
                  int64_t now_ms, const char *rule);

/* Read one delivery. [out] ret: caller frees with
 * lienthong__v1__delivery__free_unpacked(*ret, NULL). Returns 0 or LT_ERR_NOT_FOUND. */
int lt_outbox_get(lt_store_txn *t, const char *agency, uint64_t seq, lt_delivery **ret);

/* Call fn for each pending delivery of agency with seq >= from, in seq order.
 * fn borrows dossier for the call; a non-zero return stops the walk. */
typedef int (*lt_outbox_pending_fn)(uint64_t seq, const char *dossier, void *arg);
int lt_outbox_walk_pending(lt_store_txn *t, const char *agency, uint64_t from,
                           lt_outbox_pending_fn fn, void *arg);

/* True when agency has a dead letter for dossier (its later deliveries wait). */
bool lt_outbox_held(lt_store_txn *t, const char *agency, const char *dossier);

/* Outcomes of an attempt; each updates the record and the indexes.
 * delivered/skipped: pending -> done (message: the agency's words, may be NULL).
 * retry: attempts + 1, not before next_ms, error kept.
 * dead: pending -> dead letter, error kept.
 * All return 0, LT_ERR_NOT_FOUND when the delivery is not pending (a late
 * reply to one already settled), or a store error. */
int lt_outbox_delivered(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                        const char *message);
int lt_outbox_skipped(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                      const char *why);
int lt_outbox_retry(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                    int64_t next_ms, const char *error);
int lt_outbox_dead(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                   const char *error);

/* Set (ms > 0) or clear (ms == 0) the delivery's first_sent_ms, in any
 * state. Returns 0, LT_ERR_NOT_FOUND when there is no such delivery, or a
 * store error. */
int lt_outbox_mark_first(lt_store_txn *t, const char *agency, uint64_t seq, int64_t ms);

/* Operator commands on dead letters: requeue (back to pending; attempts,
 * backoff and age reset, so max_age_s counts from the requeue) or drop (kept in history as
 * dropped). seq 0 = every dead letter of agency. [out] ret_n: how many changed. Returns 0,
 * LT_ERR_NOT_FOUND when there was none, or a store error. */
int lt_outbox_requeue(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                      unsigned *ret_n);
int lt_outbox_drop(lt_store_txn *t, const char *agency, uint64_t seq, int64_t now_ms,
                   unsigned *ret_n);

/* Call fn for each dead letter (of agency, or of all agencies when NULL),
 * ordered by agency then dossier then seq. fn borrows d for the call. */
typedef int (*lt_outbox_delivery_fn)(const lt_delivery *d, void *arg);
int lt_outbox_walk_dead(lt_store_txn *t, const char *agency, lt_outbox_delivery_fn fn, void *arg);

/* Call fn for every delivery of event seq (any state), by agency name. */
int lt_outbox_walk_event(lt_store_txn *t, uint64_t seq, lt_outbox_delivery_fn fn, void *arg);

/* Per-agency figures for `lienthongctl queues`. */
typedef struct lt_outbox_counts {
    uint64_t pending; /* in the outbox, including held ones */
    uint64_t held;    /* pending behind a dead letter of the same dossier */
    uint64_t dead;
    int64_t oldest_created_ms; /* of the oldest pending delivery, 0 when none */
    uint32_t max_attempts;     /* most attempts among pending deliveries */
    char last_error[256];      /* of the pending delivery with most attempts */
} lt_outbox_counts;

/* Count agency's pending and dead deliveries (one pass over its indexes). */
int lt_outbox_count(lt_store_txn *t, const char *agency, lt_outbox_counts *ret);

#endif
