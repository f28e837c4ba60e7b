/* ingest.h - the ingest socket: ROUTER in, batch staged into the loop's
 * write transaction, replies out after the commit or the journal's flush.
 *
 * Driven by the loop (loop.c), on its thread. Each pass drains what is
 * waiting (bounded by batch.max_events, batch.max_bytes and
 * batch.max_wait_us), validates it, stages the accepted events into the
 * loop's LMDB write transaction, and only after the durable commit, or the
 * flush of their journal records (lt_ingest_journal, lt_ingest_hold), sends
 * the replies. A failed commit or flush sends nothing: the daemon exits, a
 * restart recovers, clients resend and dedupe answers "duplicate" for what
 * had been stored.
 *
 * Frames: a DEALER sends one frame (a Submission), optionally preceded by an
 * empty delimiter frame; the reply uses the same envelope.
 */
#ifndef LT_INGEST_H
#define LT_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "config.h"
#include "error.h"
#include "journal.h"
#include "store.h"

typedef struct lt_ingest lt_ingest;

typedef struct lt_ingest_counters {
    uint64_t accepted, duplicate, rejected, dropped, batches;
    uint64_t admitted_ahead; /* batches decoded on the admit thread */
} lt_ingest_counters;

/* Create the ROUTER socket on zctx and bind it to cfg->ingest_endpoint.
 * Borrows cfg, store and zctx; they must outlive the ingest.
 * [out] ret: caller frees with lt_ingest_free().
 * Returns 0 or LT_ERR_ZMQ / -errno with reterr naming the endpoint. */
int lt_ingest_new(const lt_config *cfg, lt_store *store, void *zctx, lt_ingest **ret,
                  lt_diag *reterr);

/* The ROUTER socket and its connection monitor, for the loop's zmq_poll. */
void lt_ingest_pollitems(lt_ingest *in, zmq_pollitem_t ret[2]);

/* Log the connection events waiting on the monitor (called when readable). */
void lt_ingest_on_monitor(lt_ingest *in);

/* lt_ingest_fill's flags. */
#define LT_INGEST_RECEIVE  1u /* receive what waits on the socket */
#define LT_INGEST_PIPELINE 2u /* under a backlog, admit the next batch on the admit thread */

/* Make the pass's batch (when the batch in hand was not answered yet, what
 * is received is added to it and admitted here):
 * - the batch admitted meanwhile on the admit thread, if any (waiting for it);
 * - with LT_INGEST_RECEIVE, what waits on the socket, within max_events (0,
 *   or above batch.max_events: batch.max_events) and batch.max_bytes,
 *   lingering up to batch.max_wait_us for more (a readable sigfd ends the
 *   linger). It is admitted (decoded and checked; what fails is answered
 *   later without touching the store) here when no batch is in hand, else,
 *   with LT_INGEST_PIPELINE, on the admit thread (worker.h) while the loop
 *   stores this one; with a backlog (a full batch, and more waiting) a
 *   second batch is received for it.
 * Returns 0, or -1 when the socket failed. */
int lt_ingest_fill(lt_ingest *in, int sigfd, size_t max_events, unsigned flags);

/* A batch is on the admit thread: call lt_ingest_fill for the next pass
 * even when the socket is not readable. */
bool lt_ingest_working(const lt_ingest *in);

/* Submissions of the batch that need the store (decoded and valid). */
size_t lt_ingest_pending(const lt_ingest *in);

/* Apply the batch in t (lt_apply_event: dedupe, transition, append, routing).
 * At most budget events are stored; the rest are answered STORE_FULL (the
 * loop lowers the budget when a full map makes the commit itself fail).
 * [out] ret_routed: |= the agencies owed new deliveries.
 * Returns 0, LT_APPLY_NEED_CAREFUL, or a fatal store error. Re-runnable on a
 * new transaction after an abort. */
int lt_ingest_stage(lt_ingest *in, lt_store_txn *t, size_t budget, uint32_t *ret_routed);

/* After lt_ingest_stage: add the batch's accepted events to the journal
 * (journal.h), for the loop to sync before replying instead of committing.
 * Returns 0 or lt_journal_add's error (nothing may then be acknowledged). */
int lt_ingest_journal(lt_ingest *in, lt_journal *j);

/* The journal bytes lt_ingest_journal would add. */
uint64_t lt_ingest_journal_bytes(const lt_ingest *in);

/* The commit failed with a full map: answer the batch's stored events STORE_FULL. */
void lt_ingest_store_full(lt_ingest *in);

/* After the journal's write and its flush request: encode the batch's
 * replies, keep them until lt_ingest_release() reports their ticket flushed,
 * and empty the batch. The counters count them now. */
void lt_ingest_hold(lt_ingest *in, uint64_t ticket);

/* Send the held replies whose ticket is at most synced, oldest first. */
void lt_ingest_release(lt_ingest *in, uint64_t synced);

/* Whether a message waits on the socket (ZMQ_EVENTS). */
bool lt_ingest_readable(const lt_ingest *in);

/* Replies held and not sent yet. */
size_t lt_ingest_held(const lt_ingest *in);

/* After the commit: send every held reply, then every reply of the batch,
 * and empty it. */
void lt_ingest_reply(lt_ingest *in);

/* Drop the batches in hand (also the one on the admit thread) and the held
 * replies without sending them (a failed commit or flush: clients resend). */
void lt_ingest_abandon(lt_ingest *in);

/* Counters since start (for logs and sd_notify STATUS). */
void lt_ingest_counters_get(const lt_ingest *in, lt_ingest_counters *ret);

/* Close the socket (LINGER = ingest.shutdown_linger_ms), free, null *p. Accepts NULL. */
void lt_ingest_free(lt_ingest **p);

#endif
