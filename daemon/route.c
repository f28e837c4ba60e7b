/* route.c - the config's routing rules applied to one event. */
#include "route.h"

#include <fnmatch.h>
#include <string.h>

/* True when s matches any of the n glob patterns (none: everything matches). */
static bool any_glob(char *const *pats, size_t n, const char *s)
{
    if (n == 0)
        return true;
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        if (fnmatch(pats[i], s, 0) == 0)
            return true;
    return false;
}

static bool any_exact(char *const *vals, size_t n, const char *s)
{
    if (n == 0)
        return true;
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(vals[i], s) == 0)
            return true;
    return false;
}

static bool rule_matches(const lt_config_route *r, const char *sender, const lt_event *ev)
{
    bool is_result = ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT;
    unsigned kind = is_result ? LT_ROUTE_RESULT : LT_ROUTE_STATUS;
    if (!(r->kinds & kind))
        return false;
    if (is_result && !any_exact(r->result_kinds, r->n_result_kinds, ev->result->kind))
        return false;
    return any_glob(r->procedures, r->n_procedures, ev->procedure_code) &&
           any_glob(r->senders, r->n_senders, sender) &&
           any_glob(r->agency_codes, r->n_agency_codes, ev->agency_code);
}

/* Agencies whose own senders include sender: never routed their own events. */
static uint32_t own_agencies(const lt_config *cfg, const char *sender)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < cfg->n_agencies; i++) {
        const lt_config_agency *a = &cfg->agencies[i];
        /* a result carried in the agency's own reply is stored as "agency:NAME" */
        if (strncmp(sender, "agency:", 7) == 0 && strcmp(sender + 7, a->name) == 0)
            mask |= 1u << i;
        for (size_t j = 0; j < a->n_senders; j++)
            if (strcmp(a->senders[j], sender) == 0)
                mask |= 1u << i;
    }
    return mask;
}

uint32_t lt_route_match(const lt_config *cfg, const char *sender, const lt_event *ev,
                        int *ret_first_rule)
{
    uint32_t mask = 0;
    int first = -1;
    if (ret_first_rule)
        *ret_first_rule = -1;
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT && ev->result && ev->result->kind &&
        strcmp(ev->result->kind, LT_ROUTE_DELIVERY_FAILED) == 0)
        return 0;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        if (!rule_matches(&cfg->routes[i], sender, ev))
            continue;
        if (first < 0)
            first = (int)i;
        mask |= cfg->routes[i].to_mask;
    }
    mask &= ~own_agencies(cfg, sender);
    if (ret_first_rule)
        *ret_first_rule = mask ? first : -1;
    return mask;
}
