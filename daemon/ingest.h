/* ingest.h - the ingest loop: ROUTER socket in, LMDB group commit, replies out.
 *
 * One thread. Each pass drains what is waiting on the socket (bounded by
 * batch.max_events, batch.max_bytes and batch.max_wait_us), validates it,
 * writes all accepted events in one LMDB write transaction, commits durably,
 * and only then sends the replies. A failed commit sends nothing and makes
 * lt_ingest_run() return an error: the caller exits and a restart recovers;
 * clients resend and dedupe answers "duplicate" for what had been stored.
 *
 * Frames: a DEALER sends one frame (a Submission), optionally preceded by an
 * empty delimiter frame; the reply uses the same envelope.
 */
#ifndef LT_INGEST_H
#define LT_INGEST_H

#include "config.h"
#include "error.h"
#include "store.h"

#include <stdint.h>

typedef struct lt_ingest lt_ingest;

typedef struct lt_ingest_counters {
    uint64_t accepted, duplicate, rejected, dropped, batches;
} lt_ingest_counters;

/* Create the ROUTER socket on zctx and bind it to cfg->ingest_endpoint.
 * Borrows cfg, store and zctx; they must outlive the ingest.
 * [out] ret: caller frees with lt_ingest_free().
 * Returns 0 or LT_ERR_ZMQ / -errno with reterr naming the endpoint. */
int lt_ingest_new(const lt_config *cfg, lt_store *store, void *zctx, lt_ingest **ret,
                  lt_diag *reterr);

/* Serve until SIGTERM or SIGINT arrives on sigfd (a signalfd). Finishes the
 * batch in hand before returning. Returns 0 on a clean stop, or a negative
 * error when the store failed (nothing of the failed batch was acknowledged). */
int lt_ingest_run(lt_ingest *in, int sigfd);

/* Counters since start (for logs and sd_notify STATUS). */
void lt_ingest_counters_get(const lt_ingest *in, lt_ingest_counters *ret);

/* Close the socket (LINGER = ingest.shutdown_linger_ms), free, null *p. Accepts NULL. */
void lt_ingest_free(lt_ingest **p);

#endif
