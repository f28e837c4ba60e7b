/* adapter.h - one agency link's translation, and nothing else.
 *
 * An adapter turns a stored event into that agency's request and the agency's
 * reply into a delivery outcome (and, where the reply carries one, a result
 * event). It does no I/O, keeps no state and never logs: the delivery engine
 * (daemon/delivery.c) chooses what to send and when, the link transport
 * (daemon/link.h) moves the bytes, the store keeps the state.
 *
 * To add an agency: write adapters/NAME.c defining `const lt_adapter
 * lt_adapter_NAME`, add it to the table in adapters/adapter.c, and name it in
 * the config's `agencies.X.adapter`. Both functions are pure and must accept
 * any stored event, including ones the routing rules should not have sent.
 */
#ifndef LT_ADAPTER_H
#define LT_ADAPTER_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "lienthong/v1/link.pb-c.h"
#include "store.h"

typedef Lienthong__V1__LinkRequest lt_link_request;
typedef Lienthong__V1__LinkReply lt_link_reply;

/* What the adapter is given about one delivery. All borrowed. */
typedef struct lt_adapter_input {
    const char *agency;            /* the agency's name in the config */
    const char *idempotency_key;   /* the same on every attempt of this delivery */
    uint32_t attempt;              /* 1 on the first attempt */
    uint64_t seq;                  /* the event's sequence number */
    const lt_stored_event *ev;     /* the event being delivered */
    const lt_stored_event *first;  /* the dossier's first event (applicant, received_at,
                                      data); == ev for a dossier's first event; never NULL */
    const lt_dossier_state *state; /* the dossier's current state (may be newer than ev) */
    bool first_delivery;           /* the agency cannot hold this dossier yet: no earlier
                                      delivery of it to this agency was delivered, and no
                                      request treating it as new may have reached the agency
                                      (see durable_first) */
    int status_before;             /* the dossier's status at this event's seq: that of its last
                                      status event with a smaller seq (from the store, exact
                                      after any restart); 0 when there is none */
    /* The dossier's events before this one, oldest first (earlier results,
     * attachments sent with earlier status events). Given only to an adapter
     * with wants_history set; else NULL and 0. All of them, uncapped: a
     * dossier has tens of events, and a request built from them that exceeds
     * the link's 4 MiB (LT_LINK_FRAME_MAX) becomes a dead letter saying so.
     * If walking them fails, nothing is sent (a partial history would drop
     * entries from the portal's lists). */
    const lt_stored_event *const *history;
    size_t n_history;
} lt_adapter_input;

typedef enum {
    LT_LINK_OK = 1,    /* done; the delivery is complete */
    LT_LINK_RETRY,     /* temporary failure: retry with backoff */
    LT_LINK_PERMANENT, /* never succeeds as sent: dead letter */
} lt_link_status;

/* The adapter's reading of a reply. */
typedef struct lt_link_outcome {
    lt_link_status status;
    uint32_t retry_after_s; /* hint for LT_LINK_RETRY, 0 = none */
    char message[256];      /* the agency's words or the adapter's reason */
    /* A result the reply carries, to be validated and stored as a new event
     * with sender "agency:<name>". Borrowed from the reply; NULL when none. */
    const lt_event *result;
    /* The reply was well formed (version, outcome, echoed key): its outcome is
     * the agency's own. False when the daemon could not read it, so nothing is
     * known of what the agency did (the engine keeps a first-delivery mark). */
    bool readable;
} lt_link_outcome;

typedef struct lt_adapter {
    const char *name; /* "tax", "land", "portal" */

    /* Set when build reads in->history: the engine then keeps the dossier's
     * earlier events it walks anyway (one more unpack each) instead of
     * dropping them. */
    bool wants_history;

    /* Set when build's request differs on a dossier's first delivery (the
     * portal's insert, isUpdating "False", against its update). Before
     * sending a request built with first_delivery, the engine commits a mark
     * on the delivery (Delivery.first_sent_ms); a mark left by an attempt
     * whose fate is unknown (no answer, a crash) makes every later request
     * for the dossier an update, so the agency is never told twice that the
     * dossier is new. A readable answer proving the agency did not act (an
     * error without LinkReply.may_have_acted) clears the mark. */
    bool durable_first;

    /* Fill req's body (one of the oneof members) for in. The caller has set
     * version, link, idempotency_key, attempt, seq, dossier_code,
     * procedure_code and sent_at; build may read them. Every pointer build
     * stores in req must be malloc'd (strings strdup'd): the caller frees the
     * whole request with lienthong__v1__link_request__free_unpacked(req, NULL).
     * Returns 0 with req's body set; LT_ERR_NOT_FOUND when there is nothing
     * to send this agency for this event (e.g. tax acts only on
     * OBLIGATION_REQUESTED): req is left untouched, nothing is sent and the
     * delivery completes as skipped; LT_ERR_INVALID with reterr->message when
     * the event cannot be turned into this agency's request (e.g. no transfer
     * price for tax): the delivery goes to dead letters with that message;
     * -ENOMEM. On any failure req's body is left unset. */
    int (*build)(const lt_adapter_input *in, lt_link_request *req, lt_diag *reterr);

    /* Read the agency's reply to the request built for in. Never fails: a
     * reply that makes no sense is LT_LINK_RETRY with a message saying why
     * (a gateway bug should not lose the delivery). Writes every field of
     * *ret; ret->result borrows from rep (valid until rep is freed). */
    void (*interpret)(const lt_adapter_input *in, const lt_link_reply *rep, lt_link_outcome *ret);
} lt_adapter;

/* The adapter registered under name, or NULL. */
const lt_adapter *lt_adapter_find(const char *name);

/* Names of all adapters, NULL-terminated (for config errors and docs). */
const char *const *lt_adapter_names(void);

/* The common part of interpret: map rep->outcome, copy the message and the
 * retry hint, check the echoed idempotency key against req_key. A reply
 * with a version other than 1 (absent is taken as 1), without an outcome,
 * with an unknown one, or echoing another key (or none)
 * is LT_LINK_RETRY with a message saying so, and its result is not taken.
 * Otherwise ret->result = rep->result (NULL when none), whatever the outcome:
 * a result's event_id makes storing it twice harmless. Adapters call it and
 * then check their own result content. Borrows everything; rep may be NULL. */
void lt_adapter_interpret_common(const char *req_key, const lt_link_reply *rep,
                                 lt_link_outcome *ret);

#endif
