/* adapter.c - the adapter registry and the part of reading a reply that every
 * agency shares (outcome, message, retry hint, echoed idempotency key).
 * See adapter.h for the contract. */
#include "adapter.h"

#include <stdio.h>
#include <string.h>

extern const lt_adapter lt_adapter_tax;
extern const lt_adapter lt_adapter_land;
extern const lt_adapter lt_adapter_portal;

/* Every adapter the daemon knows; a config's `agencies.X.adapter` names one. */
static const lt_adapter *const adapters[] = {
    &lt_adapter_tax,
    &lt_adapter_land,
    &lt_adapter_portal,
};

#define N_ADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

static const char *const adapter_names[N_ADAPTERS + 1] = {
    "tax",
    "land",
    "portal",
    NULL,
};

const lt_adapter *lt_adapter_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_ADAPTERS; i++)
        if (strcmp(adapters[i]->name, name) == 0)
            return adapters[i];
    return NULL;
}

const char *const *lt_adapter_names(void)
{
    return adapter_names;
}

/* A reply that cannot be read as it stands: retry, and say why. */
static void retry_because(lt_link_outcome *ret, const char *why)
{
    ret->status = LT_LINK_RETRY;
    ret->result = NULL;
    snprintf(ret->message, sizeof(ret->message), "%s", why);
}

void lt_adapter_interpret_common(const char *req_key, const lt_link_reply *rep,
                                 lt_link_outcome *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->status = LT_LINK_RETRY;
    if (!rep) {
        retry_because(ret, "no reply to read");
        return;
    }
    if (rep->has_version && rep->version != 1) {
        char why[96];
        snprintf(why, sizeof(why), "reply has unsupported version %u (this daemon speaks 1)",
                 rep->version);
        retry_because(ret, why);
        return;
    }
    if (!rep->has_outcome ||
        rep->outcome == LIENTHONG__V1__LINK_REPLY__OUTCOME__OUTCOME_UNSPECIFIED) {
        retry_because(ret, "reply has no outcome");
        return;
    }
    if (!rep->idempotency_key || !req_key || strcmp(rep->idempotency_key, req_key) != 0) {
        retry_because(ret, rep->idempotency_key
                               ? "reply echoes another idempotency key than the request's"
                               : "reply does not echo the request's idempotency key");
        return;
    }
    switch (rep->outcome) {
    case LIENTHONG__V1__LINK_REPLY__OUTCOME__OK:
        ret->status = LT_LINK_OK;
        break;
    case LIENTHONG__V1__LINK_REPLY__OUTCOME__RETRY_LATER:
        ret->status = LT_LINK_RETRY;
        break;
    case LIENTHONG__V1__LINK_REPLY__OUTCOME__PERMANENT_FAILURE:
        ret->status = LT_LINK_PERMANENT;
        break;
    default:
        snprintf(ret->message, sizeof(ret->message), "reply has an unknown outcome %d",
                 (int)rep->outcome);
        return;
    }
    if (rep->message)
        snprintf(ret->message, sizeof(ret->message), "%s", rep->message);
    if (rep->has_retry_after_s)
        ret->retry_after_s = rep->retry_after_s;
    ret->result = rep->result;
    ret->readable = true;
}
