/* portal.c - the link to the national public-service portal (Cổng DVC quốc gia).
 *
 * Provinces sync every dossier's status changes and final result to the
 * portal. Each event becomes a PortalSync: the status this event set (events
 * arrive in order per dossier, so the portal never sees a later status before
 * an earlier one) or, for a result, the dossier's status when the result was
 * stored (status_before: read from the store, so exact after a restart), the
 * dossier's times as RFC 3339 UTC, the applicant's name, kind, phone and
 * e-mail (never the id number), the channel, the result when the event is
 * one, and first_sync on the dossier's first delivery. It also carries what the
 * dossier holds so far, from the earlier events the engine hands in
 * (wants_history): every file submitted (deduplicated by sha256) and every
 * result (the portal's upsert replaces its lists, so a status sync after the
 * tax notice must still carry the fee). Times are sent in UTC
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
#include "route.h"
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

/* Deep copy of a message (a Result, an Attachment) through pack and unpack.
 * [out] ret: caller frees with protobuf_c_message_free_unpacked(). Returns 0 or -ENOMEM. */
static int copy_msg(const ProtobufCMessage *m, void **ret)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    protobuf_c_message_pack(m, buf);
    *ret = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
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
    if (ap && ((r = dup_opt(ap->name, &ps->applicant_name)) ||
               (r = dup_opt(ap->phone, &ps->applicant_phone)) ||
               (r = dup_opt(ap->email, &ps->applicant_email))))
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

/* The i-th of the dossier's events up to and including this one, oldest first. */
static const lt_stored_event *nth_event(const lt_adapter_input *in, size_t i)
{
    return i < in->n_history ? in->history[i] : in->ev;
}

/* True when a and b are the same file: the same sha256, or (neither has one)
 * the same name and uri. */
static bool same_file(const Lienthong__V1__Attachment *a, const Lienthong__V1__Attachment *b)
{
    bool ha = a->sha256 && a->sha256[0], hb = b->sha256 && b->sha256[0];

    if (ha || hb)
        return ha && hb && strcmp(a->sha256, b->sha256) == 0;
    return strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0 &&
           strcmp(a->uri ? a->uri : "", b->uri ? b->uri : "") == 0;
}

/* The dossier's submitted files: the attachments of its status events up to
 * this one, each file once, in order. Bounded by the events the engine hands
 * in times max_attachments. Returns 0 or -ENOMEM. */
static int fill_files(Lienthong__V1__PortalSync *ps, const lt_adapter_input *in)
{
    size_t total = 0;
    int r;

    for (size_t i = 0; i <= in->n_history; i++) {
        const Lienthong__V1__DossierStatus *st = status_of(nth_event(in, i));
        total += st ? st->n_attachments : 0;
    }
    if (!total)
        return 0;
    if (!(ps->attachments = calloc(total, sizeof(*ps->attachments))))
        return -ENOMEM;
    for (size_t i = 0; i <= in->n_history; i++) {
        const Lienthong__V1__DossierStatus *st = status_of(nth_event(in, i));
        for (size_t j = 0; st && j < st->n_attachments; j++) {
            const Lienthong__V1__Attachment *a = st->attachments[j];
            bool seen = false;
            for (size_t k = 0; !seen && k < ps->n_attachments; k++)
                seen = same_file(ps->attachments[k], a);
            if (seen)
                continue;
            if ((r = copy_msg(&a->base, (void **)&ps->attachments[ps->n_attachments])) < 0)
                return r;
            ps->n_attachments++;
        }
    }
    return 0;
}

/* The result body of a stored event that the portal should see, or NULL: the
 * daemon's own delivery_failed bounces are not the dossier's results. */
static const Lienthong__V1__Result *result_of(const lt_stored_event *se)
{
    if (!se || !se->event || se->event->body_case != LIENTHONG__V1__EVENT__BODY_RESULT ||
        !se->event->result)
        return NULL;
    const char *kind = se->event->result->kind;
    if (kind && strcmp(kind, LT_ROUTE_DELIVERY_FAILED) == 0)
        return NULL;
    return se->event->result;
}

/* Every result of the dossier up to this event, oldest first (the portal's
 * upsert replaces its fee and document lists). Returns 0 or -ENOMEM. */
static int fill_results(Lienthong__V1__PortalSync *ps, const lt_adapter_input *in)
{
    size_t total = 0;
    int r;

    for (size_t i = 0; i <= in->n_history; i++)
        total += result_of(nth_event(in, i)) != NULL;
    if (!total)
        return 0;
    if (!(ps->results = calloc(total, sizeof(*ps->results))))
        return -ENOMEM;
    for (size_t i = 0; i <= in->n_history; i++) {
        const Lienthong__V1__Result *res = result_of(nth_event(in, i));
        if (!res)
            continue;
        if ((r = copy_msg(&res->base, (void **)&ps->results[ps->n_results])) < 0)
            return r;
        ps->n_results++;
    }
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
        (r = copy_msg(&ev->result->base, (void **)&ps->result)) < 0)
        goto out;
    if ((r = fill_files(ps, in)) < 0 || (r = fill_results(ps, in)) < 0)
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
