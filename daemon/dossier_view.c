/* dossier_view.c - see dossier_view.h. */
#include "dossier_view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"

typedef struct walk {
    lt_store_txn *t;
    const char *agency;
    uint64_t seq;
    bool keep;
    lt_dossier_view *v;
    size_t cap;
    int err;
} walk;

/* Keep an owned copy of earlier event seq in the view's history. */
static void keep_event(walk *w, uint64_t seq)
{
    lt_dossier_view *v = w->v;
    if (v->n_history == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        lt_stored_event **n = realloc(v->history, cap * sizeof(*n));
        if (!n) {
            w->err = -ENOMEM;
            return;
        }
        v->history = n;
        w->cap = cap;
    }
    lt_stored_event *copy;
    int r = lt_store_get_event(w->t, seq, &copy);
    if (r < 0)
        w->err = r;
    else
        v->history[v->n_history++] = copy;
}

static int earlier_one(uint64_t seq, const lt_stored_event *ev, void *arg)
{
    walk *w = arg;
    if (seq >= w->seq)
        return 1;
    if (ev && ev->event && ev->event->body_case == LIENTHONG__V1__EVENT__BODY_STATUS &&
        ev->event->status && ev->event->status->has_status)
        w->v->status_before = (int)ev->event->status->status;
    if (w->keep)
        keep_event(w, seq);
    lt_delivery *rec;
    if (!w->v->known && lt_outbox_get(w->t, w->agency, seq, &rec) == 0) {
        if (rec->state == LIENTHONG__V1__DELIVERY__STATE__DELIVERED || rec->first_sent_ms)
            w->v->known = true;
        lienthong__v1__delivery__free_unpacked(rec, NULL);
    }
    return w->err < 0 ? w->err : 0;
}

int lt_dossier_view_read(lt_store_txn *t, const char *agency, uint64_t seq, unsigned what,
                         lt_dossier_view *ret)
{
    lt_dossier_view *v = ret;
    memset(v, 0, sizeof(*v));
    int r = lt_store_get_event(t, seq, &v->ev);
    if (r < 0)
        return r;
    const char *code = v->ev->event ? v->ev->event->dossier_code : NULL;
    if (code && lt_store_get_state(t, code, &v->state) < 0)
        v->state = NULL;
    if (v->state && v->state->has_first_seq && v->state->first_seq != seq)
        lt_store_get_event(t, v->state->first_seq, &v->first);
    /* the dossier's first event has nothing earlier to walk */
    if (!(what & (LT_VIEW_EARLIER | LT_VIEW_HISTORY)) || !code ||
        (v->state && v->state->first_seq == seq))
        return 0;
    walk w = { .t = t, .agency = agency, .seq = seq, .keep = what & LT_VIEW_HISTORY, .v = v };
    r = lt_store_walk_dossier(t, code, earlier_one, &w);
    if (w.err < 0 || r < 0) {
        lt_dossier_view_free(v);
        return w.err < 0 ? w.err : r;
    }
    return 0;
}

void lt_dossier_view_free(lt_dossier_view *v)
{
    if (!v)
        return;
    lienthong__v1__stored_event__free_unpacked(v->ev, NULL);
    lienthong__v1__stored_event__free_unpacked(v->first, NULL);
    lienthong__v1__dossier_state__free_unpacked(v->state, NULL);
    for (size_t i = 0; i < v->n_history; i++)
        lienthong__v1__stored_event__free_unpacked(v->history[i], NULL);
    free(v->history);
    memset(v, 0, sizeof(*v));
}
