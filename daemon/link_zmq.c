/* link_zmq.c - the ZeroMQ link transport: a DEALER connected to the agency
 * gateway's ROUTER, one LinkRequest frame out, one LinkReply frame back.
 *
 * ZMQ_IMMEDIATE makes a send fail while no connection is up instead of
 * queueing requests for a gateway that is down, so the engine sees the
 * outage and probes instead of piling work into a pipe. Heartbeats detect a
 * gateway that vanished without closing the connection. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "log.h"


typedef struct link_zmq {
    lt_link base;
    void *sock;
    const lt_config_agency *agency;
} link_zmq;

const lt_link_ops lt_link_zmq_ops;

static int zopt(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof(v));
}

static void link_zmq_close(lt_link **p)
{
    link_zmq *l = (link_zmq *)*p;
    if (l->sock)
        zmq_close(l->sock);
    free(l);
    *p = NULL;
}

static int link_zmq_open(const lt_config_agency *a, void *zctx, lt_link **ret, lt_diag *reterr)
{
    link_zmq *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->base.ops = &lt_link_zmq_ops;
    l->agency = a;
    l->sock = zmq_socket(zctx, ZMQ_DEALER);
    int64_t maxmsg = LT_LINK_FRAME_MAX;
    if (!l->sock || zopt(l->sock, ZMQ_IMMEDIATE, 1) < 0 || zopt(l->sock, ZMQ_LINGER, 0) < 0 ||
        zopt(l->sock, ZMQ_SNDHWM, 10000) < 0 || zopt(l->sock, ZMQ_HEARTBEAT_IVL, 5000) < 0 ||
        zopt(l->sock, ZMQ_HEARTBEAT_TIMEOUT, 15000) < 0 ||
        zopt(l->sock, ZMQ_RECONNECT_IVL, 500) < 0 ||
        zopt(l->sock, ZMQ_RECONNECT_IVL_MAX, 30000) < 0 ||
        zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0 ||
        zmq_connect(l->sock, a->endpoint) < 0) {
        int r = lt_diag_set(reterr, LT_ERR_ZMQ, 0, "endpoint", "agency %s: cannot connect %s: %s",
                            a->name, a->endpoint, zmq_strerror(errno));
        lt_link *b = &l->base;
        link_zmq_close(&b);
        return r;
    }
    *ret = &l->base;
    return 0;
}

static int link_zmq_send(lt_link *b, const Lienthong__V1__LinkRequest *req)
{
    return lt_link_send_frame(((link_zmq *)b)->sock, req);
}

static void link_zmq_pollitem(lt_link *b, zmq_pollitem_t *ret)
{
    link_zmq *l = (link_zmq *)b;
    *ret = (zmq_pollitem_t){ l->sock, 0, ZMQ_POLLIN, 0 };
}

static int link_zmq_recv(lt_link *b, Lienthong__V1__LinkReply **ret)
{
    link_zmq *l = (link_zmq *)b;
    return lt_link_recv_frame(l->sock, l->agency->name, ret);
}

const lt_link_ops lt_link_zmq_ops = {
    .name = "zmq",
    .open = link_zmq_open,
    .send = link_zmq_send,
    .pollitem = link_zmq_pollitem,
    .recv = link_zmq_recv,
    .close = link_zmq_close,
};
