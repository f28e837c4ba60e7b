/* portal.c - the link to the national public-service portal (Cổng DVC quốc gia).
 *
 * Provinces sync every dossier's status changes and final result to the
 * portal. Each event becomes a PortalSync: the status this event set (events
 * arrive in order per dossier, so the portal never sees a later status before
 * an earlier one) or, for a result, the dossier's status when the result was
 * stored (status_before: read from the store, so exact after a restart), the
 * dossier's times as RFC 3339 UTC, the applicant's name
 * and kind (never the id number), the channel, the result when the event is
 * one, and first_sync on the dossier's first delivery. Times are sent in UTC
 * whatever offset the sender used, so the portal compares like with like.
 *
 * The state handed in may be newer than the event: a finished_at or
 * returned_at from the state is sent only with a status that implies it, so an
 * early event's sync never carries a later fact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "timefmt.h"

extern const lt_adapter lt_adapter_portal;

/* strdup that keeps NULL as NULL. Returns 0 or -ENOMEM. */
static int dup_opt(const char *s, char **ret)
{
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

/* A time for the portal, always UTC ("2026-11-10T01:15:00Z"): the event's own
 * value when it carries one (what this event said), else the state's when
 * use_state and present, else nothing. Returns 0 or -ENOMEM. */
static int time_field(const char *own, bool use_state, protobuf_c_boolean has, int64_t sec,
                      char **ret)
{
    char buf[32];
    int64_t own_sec;

    *ret = NULL;
    if (own && own[0]) {
        /* stored events were validated; an unparsable one is passed on as it is */
        if (lt_time_parse(own, &own_sec) < 0)
            return dup_opt(own, ret);
        sec = own_sec;
    } else if (!use_state || !has) {
        return 0;
    }
    lt_time_format(sec, buf, sizeof(buf));
    return dup_opt(buf, ret);
}

/* Deep copy of a Result through pack and unpack. Returns 0 or -ENOMEM. */
static int copy_result(const Lienthong__V1__Result *res, Lienthong__V1__Result **ret)
{
    size_t len = lienthong__v1__result__get_packed_size(res);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    lienthong__v1__result__pack(res, buf);
    *ret = lienthong__v1__result__unpack(NULL, len, buf);
    free(buf);
    return *ret ? 0 : -ENOMEM;
}

/* The status body of a stored event, or NULL. */
static const Lienthong__V1__DossierStatus *status_of(const lt_stored_event *se)
{
    if (!se || !se->event || se->event->body_case != LIENTHONG__V1__EVENT__BODY_STATUS)
        return NULL;
    return se->event->status;
}

/* Times of the sync: the event's own, else the state's where status (the one
 * this sync carries) implies them; 0 (a result before any status) takes the
 * state's as they stand. */
static int fill_times(Lienthong__V1__PortalSync *ps, const Lienthong__V1__DossierStatus *st,
                      int status, const lt_dossier_state *state)
{
    static const lt_dossier_state none = LIENTHONG__V1__DOSSIER_STATE__INIT;
    const lt_dossier_state *s = state ? state : &none;
    bool unknown = status == 0;
    int r;

    if ((r = time_field(st ? st->received_at : NULL, true, s->has_received_at, s->received_at,
                        &ps->received_at)) ||
        (r = time_field(st ? st->due_at : NULL, true, s->has_due_at, s->due_at, &ps->due_at)) ||
        (r = time_field(st ? st->finished_at : NULL,
                        unknown || status == LIENTHONG__V1__STATUS__PROCESSED ||
                            status == LIENTHONG__V1__STATUS__RESULT_RETURNED,
                        s->has_finished_at, s->finished_at, &ps->finished_at)) ||
        (r = time_field(st ? st->returned_at : NULL,
                        unknown || status == LIENTHONG__V1__STATUS__RESULT_RETURNED,
                        s->has_returned_at, s->returned_at, &ps->returned_at)))
        return r;
    return 0;
}

/* Everything but the result. Returns 0 or -ENOMEM. */
static int fill_sync(Lienthong__V1__PortalSync *ps, const lt_adapter_input *in)
{
    const lt_event *ev = in->ev->event;
    const Lienthong__V1__DossierStatus *st = status_of(in->ev);
    const Lienthong__V1__DossierStatus *first = status_of(in->first);
    /* a status event: the status it set; a result: the dossier's status at its seq */
    int status = st ? (st->has_status ? (int)st->status : 0) : in->status_before;
    int r;

    if ((r = dup_opt(ev->dossier_code, &ps->dossier_code)) ||
        (r = dup_opt(ev->procedure_code, &ps->procedure_code)) ||
        (r = dup_opt(ev->agency_code, &ps->agency_code)) ||
        (r = fill_times(ps, st, status, in->state)))
        return r;
    if (status) {
        ps->has_status = 1;
        ps->status = (Lienthong__V1__Status)status;
    }
    if (st && (r = dup_opt(st->note, &ps->note)))
        return r;
    const Lienthong__V1__Applicant *ap = first ? first->applicant : NULL;
    if (ap && (r = dup_opt(ap->name, &ps->applicant_name)))
        return r;
    if (ap && ap->has_kind) {
        ps->has_applicant_kind = 1;
        ps->applicant_kind = ap->kind;
    }
    if (first && first->has_channel) {
        ps->has_channel = 1;
        ps->channel = first->channel;
    }
    ps->has_first_sync = 1;
    ps->first_sync = in->first_delivery;
    return 0;
}

static int portal_build(const lt_adapter_input *in, lt_link_request *req, lt_diag *reterr)
{
    int r;

    if (!in->ev || !in->ev->event)
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "event",
                           "seq %llu: stored entry has no event", (unsigned long long)in->seq);
    const lt_event *ev = in->ev->event;
    Lienthong__V1__PortalSync *ps = malloc(sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    lienthong__v1__portal_sync__init(ps);
    if ((r = fill_sync(ps, in)) < 0)
        goto out;
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && ev->result &&
        (r = copy_result(ev->result, &ps->result)) < 0)
        goto out;
    req->body_case = LIENTHONG__V1__LINK_REQUEST__BODY_PORTAL_SYNC;
    req->portal_sync = ps;
    return 0;
out:
    lienthong__v1__portal_sync__free_unpacked(ps, NULL);
    return r;
}

/* The portal issues no results: one in a reply is not taken (it would be
 * routed back to the portal), and the operator is told in the message. */
static void portal_interpret(const lt_adapter_input *in, const lt_link_reply *rep,
                             lt_link_outcome *ret)
{
    lt_adapter_interpret_common(in->idempotency_key, rep, ret);
    if (!ret->result)
        return;
    ret->result = NULL;
    size_t n = strlen(ret->message);
    snprintf(ret->message + n, sizeof(ret->message) - n,
             "%s(result ignored: the portal issues none)", n ? " " : "");
}

const lt_adapter lt_adapter_portal = {
    .name = "portal",
    .wants_history = true,
    .durable_first = true,
    .build = portal_build,
    .interpret = portal_interpret,
};
