/* tax.c - the link to the tax authority (liên thông đất đai - thuế).
 *
 * The land office transfers a dossier's cadastral data to tax when the dossier
 * reaches OBLIGATION_REQUESTED: parcel, map sheet, area, address, transfer
 * price and parties. Tax answers later with an obligation notice, a result of
 * kind "tax_notice" carrying the amount due. No other event concerns tax:
 * build answers LT_ERR_NOT_FOUND (nothing to send) for them.
 *
 * Where the data comes from: the OBLIGATION_REQUESTED event's own data map
 * first (a land office may send corrected values), then the dossier's first
 * event (what the one-stop desk registered). Keys: parcel_number, map_sheet,
 * parcel_area_m2, address, transfer_price_vnd (required, whole VND),
 * transferee_name, transferee_id_number, transfer_ref.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

extern const lt_adapter lt_adapter_tax;

#define PRICE_KEY "transfer_price_vnd"

/* strdup that keeps NULL as NULL. Returns 0 or -ENOMEM. */
static int dup_opt(const char *s, char **ret)
{
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

/* The status body of a stored event, or NULL. */
static const Lienthong__V1__DossierStatus *status_of(const lt_stored_event *se)
{
    if (!se || !se->event || se->event->body_case != LIENTHONG__V1__EVENT__BODY_STATUS)
        return NULL;
    return se->event->status;
}

/* Value of key in a status's data map, or NULL (also for an empty value). */
static const char *data_get(const Lienthong__V1__DossierStatus *st, const char *key)
{
    if (!st)
        return NULL;
    for (size_t i = 0; i < st->n_data; i++)
        if (st->data[i]->key && strcmp(st->data[i]->key, key) == 0)
            return st->data[i]->value && st->data[i]->value[0] ? st->data[i]->value : NULL;
    return NULL;
}

/* Value of key in this event's data, else in the first event's. */
static const char *lookup(const Lienthong__V1__DossierStatus *ev,
                          const Lienthong__V1__DossierStatus *first, const char *key)
{
    const char *v = data_get(ev, key);
    return v ? v : data_get(first, key);
}

/* Whole VND, digits only: "3200000000". Returns 0 or -EINVAL. */
static int parse_vnd(const char *s, int64_t *ret)
{
    char *end;

    if (!s || s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

/* Append a Party to tt (all strings copied). Returns 0 or -ENOMEM. */
static int add_party(Lienthong__V1__TaxTransfer *tt, const char *role, const char *name,
                     const char *id_number)
{
    Lienthong__V1__Party **parties =
        realloc(tt->parties, (tt->n_parties + 1) * sizeof(Lienthong__V1__Party *));
    if (!parties)
        return -ENOMEM;
    tt->parties = parties;
    Lienthong__V1__Party *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    lienthong__v1__party__init(p);
    tt->parties[tt->n_parties++] = p;
    if (dup_opt(role, &p->role) || dup_opt(name, &p->name) || dup_opt(id_number, &p->id_number))
        return -ENOMEM;
    return 0;
}

/* Fill tt's strings and parties from the two status bodies. Returns 0 or -ENOMEM. */
static int fill_transfer(Lienthong__V1__TaxTransfer *tt, const lt_event *ev,
                         const Lienthong__V1__DossierStatus *st,
                         const Lienthong__V1__DossierStatus *first)
{
    const char *ref = lookup(st, first, "transfer_ref");
    int r;

    if ((r = dup_opt(ev->dossier_code, &tt->dossier_code)) ||
        (r = dup_opt(lookup(st, first, "parcel_number"), &tt->parcel_number)) ||
        (r = dup_opt(lookup(st, first, "map_sheet"), &tt->map_sheet)) ||
        (r = dup_opt(lookup(st, first, "parcel_area_m2"), &tt->area_m2)) ||
        (r = dup_opt(lookup(st, first, "address"), &tt->address)) ||
        (r = dup_opt(first && first->received_at ? first->received_at : NULL, &tt->received_at)) ||
        (r = dup_opt(ref ? ref : st->note, &tt->transfer_ref)))
        return r;
    if (first && first->applicant &&
        (r = add_party(tt, "transferor", first->applicant->name, first->applicant->id_number)))
        return r;
    const char *tname = lookup(st, first, "transferee_name");
    const char *tid = lookup(st, first, "transferee_id_number");
    if ((tname || tid) && (r = add_party(tt, "transferee", tname, tid)))
        return r;
    return 0;
}

static int tax_build(const lt_adapter_input *in, lt_link_request *req, lt_diag *reterr)
{
    const Lienthong__V1__DossierStatus *st = status_of(in->ev);
    const Lienthong__V1__DossierStatus *first = status_of(in->first);
    const lt_event *ev = in->ev ? in->ev->event : NULL;
    const char *dossier = ev && ev->dossier_code ? ev->dossier_code : "-";
    int64_t price;
    int r;

    /* Tax acts on the land office's transfer only. */
    if (!st || !st->has_status || st->status != LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED)
        return LT_ERR_NOT_FOUND;

    const char *price_s = lookup(st, first, PRICE_KEY);
    if (!price_s)
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "status.data." PRICE_KEY,
                           "dossier %s: no %s in the dossier's data: tax cannot compute the "
                           "obligation",
                           dossier, PRICE_KEY);
    if (parse_vnd(price_s, &price) < 0)
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "status.data." PRICE_KEY,
                           "dossier %s: %s is not a whole number of VND", dossier, PRICE_KEY);

    Lienthong__V1__TaxTransfer *tt = malloc(sizeof(*tt));
    if (!tt)
        return -ENOMEM;
    lienthong__v1__tax_transfer__init(tt);
    tt->has_transfer_price = 1;
    tt->transfer_price = price;
    if ((r = fill_transfer(tt, ev, st, first)) < 0) {
        lienthong__v1__tax_transfer__free_unpacked(tt, NULL);
        return r;
    }
    req->body_case = LIENTHONG__V1__LINK_REQUEST__BODY_TAX_TRANSFER;
    req->tax_transfer = tt;
    return 0;
}

/* Why a result carried by a tax reply is unusable, or NULL when it is fine. */
static const char *bad_tax_result(const lt_adapter_input *in, const lt_event *res)
{
    const Lienthong__V1__Result *rb =
        res->body_case == LIENTHONG__V1__EVENT__BODY_RESULT ? res->result : NULL;

    if (!rb)
        return "tax reply carries a result event without a result body";
    if (!rb->kind || strcmp(rb->kind, "tax_notice") != 0)
        return "tax reply carries a result that is not a tax_notice";
    if (!rb->has_amount)
        return "tax reply carries a tax_notice without an amount";
    if (rb->amount < 0)
        return "tax reply carries a tax_notice with a negative amount";
    const lt_event *ev = in->ev ? in->ev->event : NULL;
    if (res->dossier_code && ev && ev->dossier_code &&
        strcmp(res->dossier_code, ev->dossier_code) != 0)
        return "tax reply carries a tax_notice for another dossier";
    return NULL;
}

static void tax_interpret(const lt_adapter_input *in, const lt_link_reply *rep,
                          lt_link_outcome *ret)
{
    lt_adapter_interpret_common(in->idempotency_key, rep, ret);
    if (!ret->result)
        return;
    const char *why = bad_tax_result(in, ret->result);
    if (why) {
        ret->status = LT_LINK_RETRY;
        ret->result = NULL;
        snprintf(ret->message, sizeof(ret->message), "%s", why);
    }
}

const lt_adapter lt_adapter_tax = {
    .name = "tax",
    .build = tax_build,
    .interpret = tax_interpret,
};
