/* route.h - which agencies an event goes to, by the config's rules.
 *
 * All-match: every rule whose conditions all hold adds its agencies; the
 * result is a set (an agency appears once however many rules name it). An
 * event matching no rule is stored and counted, never an error. An agency
 * never receives an event its own senders submitted (agencies.X.senders, and
 * "agency:X" for results carried in its replies), so a tax result is not
 * routed back to tax. Results of kind "delivery_failed",
 * which the daemon writes itself, are never routed. Pure: no state, no I/O.
 */
#ifndef LT_ROUTE_H
#define LT_ROUTE_H

#include <stdint.h>

#include "config.h"
#include "store.h"

/* Result kind the daemon gives a dead letter's bounce on the dossier. */
#define LT_ROUTE_DELIVERY_FAILED "delivery_failed"

/* The set of agencies (bit i = cfg->agencies[i]) the event from sender goes to.
 * [out] ret_first_rule: index of the first matching rule, -1 when none (may be
 * NULL); used to record why a delivery exists. */
uint32_t lt_route_match(const lt_config *cfg, const char *sender, const lt_event *ev,
                        int *ret_first_rule);

#endif
