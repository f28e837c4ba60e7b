/* stream.h - result streams: the log, filtered, to named subscribers that
 * resume where they left off.
 *
 * A subscriber (a DEALER at streams.endpoint) names itself, subscribes with
 * filters and a starting point, grants credit and acknowledges. Records go
 * out in sequence order, one per unit of credit, read from the store at send
 * time: nothing is buffered per subscriber, so a stalled one costs a table
 * entry and no memory grows. Its cursor (the last acknowledged seq) is kept
 * in the store, written in the loop's transaction and confirmed with Acked
 * after the commit; a new subscription under the same name resumes after it.
 * Optionally every stored event is also published on a PUB socket for live
 * dashboards: best effort, dropped when a subscriber is slow.
 * Driven by the loop (loop.c) on its thread. Wire: proto/lienthong/v1/stream.proto.
 */
#ifndef LT_STREAM_H
#define LT_STREAM_H

#include <stdbool.h>
#include <zmq.h>

#include "config.h"
#include "store.h"

typedef struct lt_stream lt_stream;

/* Bind streams.endpoint (and streams.pub_endpoint when set). With neither
 * configured the stream is inert. Borrows cfg, store and zctx.
 * [out] ret: free with lt_stream_free(). Returns 0 or LT_ERR_ZMQ. */
int lt_stream_new(const lt_config *cfg, lt_store *store, void *zctx, lt_stream **ret,
                  lt_diag *reterr);
void lt_stream_free(lt_stream **p);

/* Add the subscriber socket's pollitem; returns how many (0 or 1). */
int lt_stream_pollitems(lt_stream *s, zmq_pollitem_t *items, int max);

/* Read subscriber requests (subscribe, credit, ack). */
void lt_stream_poll(lt_stream *s);

/* Cursor moves waiting for a transaction. */
bool lt_stream_has_staged(const lt_stream *s);

/* Write the staged cursor moves in t. Returns 0 or a store error
 * (LT_ERR_STORE_FULL in careful mode leaves them staged). */
int lt_stream_stage(lt_stream *s, lt_store_txn *t);

/* The transaction committed (true: confirm with Acked) or failed (false). */
void lt_stream_committed(lt_stream *s, bool ok);

/* Send records to subscribers with credit, and new events to the PUB. */
void lt_stream_pump(lt_stream *s);

/* 0 when the pump has work it could not finish this pass, else max_ms. */
long lt_stream_timeout_ms(const lt_stream *s, long max_ms);

/* Subscribers connected (for logs and STATUS). */
size_t lt_stream_subscribers(const lt_stream *s);

#endif
