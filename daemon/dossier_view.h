/* dossier_view.h - what the delivery engine reads from the store about one
 * delivery's dossier, to hand the agency's adapter (adapters/adapter.h).
 *
 * The event itself, the dossier's first event and current state, and, when
 * asked, what the dossier's earlier events say: whether the agency may
 * already hold the dossier (an earlier delivery to it was delivered, or
 * carries a first-delivery mark: Delivery.first_sent_ms), the status before
 * this event, and the earlier events themselves. Reads only, in the caller's
 * transaction; logs nothing.
 */
#ifndef LT_DOSSIER_VIEW_H
#define LT_DOSSIER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* What lt_dossier_view_read reads beyond the event, the first event and the state. */
enum {
    LT_VIEW_EARLIER = 1, /* walk the earlier events: known, status_before */
    LT_VIEW_HISTORY = 2, /* and keep them in history (implies LT_VIEW_EARLIER) */
};

typedef struct lt_dossier_view {
    lt_stored_event *ev;       /* the event at seq */
    lt_stored_event *first;    /* the dossier's first event when it is not ev, else NULL */
    lt_dossier_state *state;   /* NULL when the dossier has no state record */
    bool known;                /* an earlier delivery to the agency was delivered or is marked */
    int status_before;         /* the status the last earlier status event set, 0 when none */
    lt_stored_event **history; /* the earlier events, oldest first (LT_VIEW_HISTORY) */
    size_t n_history;
} lt_dossier_view;

/* Read event seq's view for agency; what: LT_VIEW_* flags (0: the event,
 * first event and state only). Everything in *ret is owned: free it with
 * lt_dossier_view_free. Returns 0; LT_ERR_NOT_FOUND when seq is not in the
 * log; a store error or -ENOMEM when an earlier event could not be read or
 * kept: then nothing should be sent, since a partial view could call the
 * dossier new or leave entries out of what the agency is told. On failure
 * *ret holds nothing. */
int lt_dossier_view_read(lt_store_txn *t, const char *agency, uint64_t seq, unsigned what,
                         lt_dossier_view *ret);

/* Free what v holds and zero it. Accepts a zeroed view. */
void lt_dossier_view_free(lt_dossier_view *v);

#endif
