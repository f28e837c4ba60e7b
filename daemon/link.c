/* link.c - dispatch to the transport an agency's config names. */
#include "link.h"

#include <string.h>

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
