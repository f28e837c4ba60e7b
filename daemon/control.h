/* control.h - lienthongctl's channel into the running daemon: the commands
 * that change delivery state (the daemon is the store's only writer) and the
 * live link state only the daemon knows.
 *
 * A ROUTER at control.endpoint (default ipc://DATA_DIR/control.sock). QUEUES
 * is answered at once; PAUSE, RESUME, REQUEUE and DROP are written in the
 * loop's next transaction and answered after the commit. Driven by the loop
 * on its thread. Wire: proto/lienthong/v1/control.proto.
 */
#ifndef LT_CONTROL_H
#define LT_CONTROL_H

#include <stdbool.h>
#include <zmq.h>

#include "config.h"
#include "delivery.h"
#include "store.h"

typedef struct lt_control lt_control;

/* Bind control.endpoint. Borrows everything. Returns 0 or LT_ERR_ZMQ. */
int lt_control_new(const lt_config *cfg, lt_store *store, lt_delivery_engine *delivery, void *zctx,
                   lt_control **ret, lt_diag *reterr);
void lt_control_free(lt_control **p);

int lt_control_pollitems(lt_control *c, zmq_pollitem_t *items, int max);

/* Read requests; answer QUEUES, stage the rest. */
void lt_control_poll(lt_control *c);

bool lt_control_has_staged(const lt_control *c);

/* Apply staged REQUEUE/DROP in t. [out] ret_routed |= agencies with requeued
 * deliveries. Returns 0 or a store error. */
int lt_control_stage(lt_control *c, lt_store_txn *t, uint32_t *ret_routed);

/* Answer the staged requests: done (ok) or failed (the commit failed). */
void lt_control_committed(lt_control *c, bool ok);

#endif
