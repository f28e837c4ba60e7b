/* land.c - the link to the land registration office (văn phòng đăng ký đất đai).
 *
 * The registry acts on every event of a land dossier: new dossiers to open,
 * status changes and results such as the tax authority's obligation notice
 * (the citizen must pay before the certificate is issued). It receives the
 * event as stored, with its sender, in a LandTask. A reply may carry a result
 * (e.g. the certificate); it is passed on as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

extern const lt_adapter lt_adapter_land;

/* Deep copy of ev, every part malloc'd: pack it and unpack the bytes (protobuf-c
 * allocates each field separately, so free_unpacked frees the copy). */
static int copy_event(const lt_event *ev, lt_event **ret)
{
    size_t len = lienthong__v1__event__get_packed_size(ev);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    lienthong__v1__event__pack(ev, buf);
    *ret = lienthong__v1__event__unpack(NULL, len, buf);
    free(buf);
    return *ret ? 0 : -ENOMEM;
}

static int land_build(const lt_adapter_input *in, lt_link_request *req, lt_diag *reterr)
{
    int r;

    if (!in->ev || !in->ev->event)
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "event",
                           "seq %llu: stored entry has no event", (unsigned long long)in->seq);
    Lienthong__V1__LandTask *task = malloc(sizeof(*task));
    if (!task)
        return -ENOMEM;
    lienthong__v1__land_task__init(task);
    if (in->ev->sender && !(task->sender = strdup(in->ev->sender))) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = copy_event(in->ev->event, &task->event)) < 0)
        goto out;
    req->body_case = LIENTHONG__V1__LINK_REQUEST__BODY_LAND_TASK;
    req->land_task = task;
    return 0;
out:
    lienthong__v1__land_task__free_unpacked(task, NULL);
    return r;
}

static void land_interpret(const lt_adapter_input *in, const lt_link_reply *rep,
                           lt_link_outcome *ret)
{
    lt_adapter_interpret_common(in->idempotency_key, rep, ret);
}

const lt_adapter lt_adapter_land = {
    .name = "land",
    .build = land_build,
    .interpret = land_interpret,
};
