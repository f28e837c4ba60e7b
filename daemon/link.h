/* link.h - the transport seam between the delivery engine and one agency's
 * gateway.
 *
 * The engine hands a link whole LinkRequest messages and takes whole
 * LinkReply messages back; how they travel is the transport's business. The
 * ZeroMQ transport (link_zmq.c) is a DEALER connected to the gateway's
 * ROUTER, one protobuf frame each way. An HTTP/JSON transport fits the same
 * seam: a worker thread behind an inproc socket that lt_link_pollitem()
 * returns, so the loop never blocks on an agency. Links never touch the
 * store and never decide outcomes; they only log transport trouble.
 */
#ifndef LT_LINK_H
#define LT_LINK_H

#include <zmq.h>

#include "config.h"
#include "error.h"
#include "lienthong/v1/link.pb-c.h"

typedef struct lt_link lt_link;

/* The operations a transport provides (see link_zmq.c). */
typedef struct lt_link_ops {
    const char *name; /* as written in agencies.X.transport */
    int (*open)(const lt_config_agency *a, void *zctx, lt_link **ret, lt_diag *reterr);
    int (*send)(lt_link *l, const Lienthong__V1__LinkRequest *req);
    void (*pollitem)(lt_link *l, zmq_pollitem_t *ret);
    int (*recv)(lt_link *l, Lienthong__V1__LinkReply **ret);
    void (*close)(lt_link **p);
} lt_link_ops;

/* Every link starts with its ops. */
struct lt_link {
    const lt_link_ops *ops;
};

/* Open the transport a->transport names, towards a->endpoint. Borrows a and
 * zctx; both outlive the link. Connecting is asynchronous: a link that is
 * not connected yet refuses sends with -EAGAIN.
 * [out] ret: caller closes with lt_link_close().
 * Returns 0, LT_ERR_CONFIG for an unknown transport, LT_ERR_ZMQ. */
int lt_link_open(const lt_config_agency *a, void *zctx, lt_link **ret, lt_diag *reterr);

/* Send one request without blocking. Borrows req.
 * Returns 0; -EAGAIN when the gateway is not connected or its queue is full
 * (the delivery stays pending: nothing was sent); LT_ERR_ZMQ. */
int lt_link_send(lt_link *l, const Lienthong__V1__LinkRequest *req);

/* The socket or fd that becomes readable when a reply waits. */
void lt_link_pollitem(lt_link *l, zmq_pollitem_t *ret);

/* Take one waiting reply without blocking.
 * [out] ret: caller frees with lienthong__v1__link_reply__free_unpacked(*ret, NULL).
 * Returns 0; LT_ERR_NOT_FOUND when none waits; LT_ERR_MALFORMED for a reply
 * that does not decode (dropped: the attempt times out and is retried). */
int lt_link_recv(lt_link *l, Lienthong__V1__LinkReply **ret);

/* Close and null the caller's pointer; unsent requests are dropped (the
 * engine resends them under the same idempotency key). Accepts NULL. */
void lt_link_close(lt_link **p);

/* Largest LinkRequest a link carries; a larger one is a dead letter. */
#define LT_LINK_FRAME_MAX (4u << 20)

/* For transports: send req as one frame on sock without blocking.
 * Returns 0; -E2BIG above LT_LINK_FRAME_MAX; -EINVAL for a request that
 * encodes to nothing; -EAGAIN when sock cannot take it now; LT_ERR_ZMQ. */
int lt_link_send_frame(void *sock, const Lienthong__V1__LinkRequest *req);

/* For transports: take one LinkReply frame waiting on sock without blocking
 * (empty delimiter frames before it and extra frames after it are dropped;
 * an undecodable one is logged naming agency). Returns as lt_link_recv(). */
int lt_link_recv_frame(void *sock, const char *agency, Lienthong__V1__LinkReply **ret);

#endif
