/* delivery.h - the delivery engine: owed deliveries out to agency links, in
 * order per (agency, dossier), retried with backoff, dead-lettered at last.
 *
 * Driven by the loop (loop.c) on its thread; never blocks. Per agency it
 * keeps up to `window` deliveries in flight, each of a different dossier: a
 * dossier's next delivery waits until the one before it is settled (delivered,
 * skipped or dropped), and behind a dead letter it waits for an operator. A
 * failed attempt (RETRY_LATER, or no reply within timeout_ms) is retried
 * after a backoff doubling from backoff_initial_ms to backoff_max_ms with
 * +-20% jitter; after max_attempts or max_age_s, or on PERMANENT_FAILURE, it
 * becomes a dead letter and a "delivery_failed" result is stored on the
 * dossier so its subscribers learn of it. After `down_after` consecutive
 * attempts without a reply the link is down: one probe at a time, spaced by
 * the same backoff, until the agency answers. Other agencies are unaffected.
 *
 * Outcomes are staged and written in the loop's next transaction; a delivery
 * whose outcome is not yet committed still counts as in flight, so nothing is
 * sent twice within one run. After a restart pending deliveries are sent
 * again with their idempotency key (store id, seq, agency), which an agency
 * uses to drop repeats.
 */
#ifndef LT_DELIVERY_H
#define LT_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "config.h"
#include "store.h"

typedef struct lt_delivery_engine lt_delivery_engine;

/* Live state of one agency link, for `lienthongctl queues`. */
typedef struct lt_delivery_link_status {
    const char *agency;
    const char *state; /* "up", "down", "paused", "connecting" */
    unsigned in_flight, window;
    uint64_t delivered;    /* since start */
    int64_t next_probe_ms; /* when down */
    char last_error[256];
} lt_delivery_link_status;

/* Open one link per configured agency and load paused flags from the store.
 * Borrows cfg, store and zctx. [out] ret: free with lt_delivery_free().
 * Returns 0, or an error with reterr naming the agency. */
int lt_delivery_new(const lt_config *cfg, lt_store *store, void *zctx, lt_delivery_engine **ret,
                    lt_diag *reterr);

/* Close the links (unsent requests are resent after a restart), free, null *p. */
void lt_delivery_free(lt_delivery_engine **p);

/* Add the links' pollitems to items (at most max); returns how many. */
int lt_delivery_pollitems(lt_delivery_engine *d, zmq_pollitem_t *items, int max);

/* Read every waiting reply and expire attempts past their timeout; stage
 * the outcomes. Call on every pass. */
void lt_delivery_poll(lt_delivery_engine *d, int64_t now_ms);

/* Staged outcomes waiting for a transaction. */
bool lt_delivery_has_staged(const lt_delivery_engine *d);

/* Write the staged outcomes in t: outbox updates, results carried by replies
 * (stored and routed as new events), delivery_failed bounces.
 * [out] ret_routed: |= agencies owed new deliveries by those events.
 * Returns 0, LT_APPLY_NEED_CAREFUL, or a fatal store error. Re-runnable on a
 * new transaction after an abort; in careful mode an outcome that does not
 * fit is kept for the next pass. */
int lt_delivery_stage(lt_delivery_engine *d, lt_store_txn *t, uint32_t *ret_routed);

/* The transaction holding the staged outcomes committed (true) or failed
 * with a full map (false: they are staged again next pass). */
void lt_delivery_committed(lt_delivery_engine *d, bool ok);

/* New deliveries were committed for the agencies in mask: look at their outboxes. */
void lt_delivery_kick(lt_delivery_engine *d, uint32_t mask);

/* Send what is due, within each link's window (reads the store). */
void lt_delivery_dispatch(lt_delivery_engine *d, int64_t now_ms);

/* Milliseconds until the engine needs a pass (a timeout, a backoff, a probe),
 * at most max_ms. */
long lt_delivery_timeout_ms(const lt_delivery_engine *d, int64_t now_ms, long max_ms);

/* Pause or resume an agency: staged into the next transaction (links database)
 * and applied at once in memory. Returns 0 or LT_ERR_NOT_FOUND (no such agency). */
int lt_delivery_set_paused(lt_delivery_engine *d, const char *agency, bool paused);

/* Live status of link i (0 <= i < cfg->n_agencies). */
void lt_delivery_link_status_get(const lt_delivery_engine *d, size_t i,
                                 lt_delivery_link_status *ret);

#endif
