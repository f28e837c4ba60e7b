/* fuzz_submission.c - libFuzzer target for the Submission decoder and the
 * validator behind it.
 *
 * Any byte string must either decode or be refused with LT_ERR_MALFORMED and a
 * MALFORMED/UNKNOWN_FIELD diag; a decoded submission must either validate or
 * be refused with LT_ERR_INVALID, a wire code and a message. Never crash, leak
 * or read out of bounds. The clock is fixed so a finding reproduces.
 * Seeds: tests/fuzz/corpus/fuzz_submission/, made by gen_submission_seeds.c.
 */
#include "codec.h"
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>

#define FUZZ_NOW 1795512600 /* 2026-11-24T09:30:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless d describes a refusal a sender can act on. */
static void check_diag(const lt_diag *d, int lo, int hi)
{
    if (d->code < lo || d->code > hi || !d->message[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lt_submission *sub = NULL;
    lt_dossier_state next;
    lt_diag d;
    int r;

    (void)lt_codec_peek_request_id(data, size);
    lt_diag_clear(&d);
    r = lt_codec_decode_submission(data, size, &sub, &d);
    if (r != 0) {
        if (r != LT_ERR_MALFORMED || sub)
            abort();
        if (d.code != LIENTHONG__V1__ERROR_CODE__MALFORMED &&
            d.code != LIENTHONG__V1__ERROR_CODE__UNKNOWN_FIELD)
            abort();
        check_diag(&d, 1, 11);
        return 0;
    }
    r = lt_validate_submission(sub, &lt_limits_default, FUZZ_NOW, &d);
    if (r == 0) {
        /* a valid event on a dossier never seen: accepted or refused cleanly */
        lt_diag_clear(&d);
        r = lt_validate_transition(sub->event, NULL, 1, &next, &d);
        if (r != 0 && r != LT_ERR_INVALID)
            abort();
        if (r != 0)
            check_diag(&d, 2, 11);
    } else {
        if (r != LT_ERR_INVALID)
            abort();
        check_diag(&d, 2, 11);
    }
    lienthong__v1__submission__free_unpacked(sub, NULL);
    return 0;
}
