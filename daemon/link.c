/* link.c - dispatch to the transport an agency's config names. */
#include "link.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

extern const lt_link_ops lt_link_zmq_ops;
extern const lt_link_ops lt_link_http_ops;

static const lt_link_ops *const transports[] = { &lt_link_zmq_ops, &lt_link_http_ops, NULL };

int lt_link_open(const lt_config_agency *a, void *zctx, lt_link **ret, lt_diag *reterr)
{
    const char *name = a->transport ? a->transport : "zmq";
    for (size_t i = 0; transports[i]; i++)
        if (strcmp(transports[i]->name, name) == 0)
            return transports[i]->open(a, zctx, ret, reterr);
    return lt_diag_set(reterr, LT_ERR_CONFIG, 0, "transport",
                       "agency %s: transport \"%s\" is not supported", a->name, name);
}

int lt_link_send(lt_link *l, const Lienthong__V1__LinkRequest *req)
{
    return l->ops->send(l, req);
}

void lt_link_pollitem(lt_link *l, zmq_pollitem_t *ret)
{
    l->ops->pollitem(l, ret);
}

int lt_link_recv(lt_link *l, Lienthong__V1__LinkReply **ret)
{
    return l->ops->recv(l, ret);
}

void lt_link_close(lt_link **p)
{
    if (p && *p)
        (*p)->ops->close(p);
}

int lt_link_send_frame(void *sock, const Lienthong__V1__LinkRequest *req)
{
    size_t len = lienthong__v1__link_request__get_packed_size(req);
    if (len > LT_LINK_FRAME_MAX)
        return -E2BIG;
    if (len == 0)
        return -EINVAL;
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, len) < 0)
        return -ENOMEM;
    lienthong__v1__link_request__pack(req, zmq_msg_data(&m)); /* straight into the frame */
    if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&m);
        return e == EAGAIN ? -EAGAIN : LT_ERR_ZMQ;
    }
    return 0;
}

int lt_link_recv_frame(void *sock, const char *agency, Lienthong__V1__LinkReply **ret)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return LT_ERR_NOT_FOUND;
    }
    /* a gateway that answers with an envelope: skip empty delimiter frames */
    while (zmq_msg_size(&m) == 0 && zmq_msg_more(&m)) {
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            return LT_ERR_MALFORMED;
        }
    }
    bool extra = zmq_msg_more(&m);
    Lienthong__V1__LinkReply *r =
        lienthong__v1__link_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    while (extra) { /* drop trailing frames of a malformed reply */
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, 0);
        extra = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    if (!r) {
        lt_log_warn("agency reply does not decode agency=%s", agency);
        return LT_ERR_MALFORMED;
    }
    *ret = r;
    return 0;
}
