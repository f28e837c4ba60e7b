/* fuzz_agency_wire.c - libFuzzer target for what other programs send the
 * daemon besides submissions: an agency gateway's LinkReply (decoded and read
 * by every adapter's interpret), a subscriber's StreamRequest and
 * lienthongctl's ControlRequest. The first byte picks the decoder.
 *
 * Nothing may crash, leak or read out of bounds; an adapter's reading of any
 * reply must be one of the three outcomes, and a reply without an outcome or
 * key must be a retry that says why.
 * Seeds: tests/fuzz/corpus/fuzz_agency_wire/ (first byte 0, 1 or 2).
 */
#include "adapter.h"
#include "lienthong/v1/control.pb-c.h"
#include "lienthong/v1/stream.pb-c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_reply(const uint8_t *data, size_t size)
{
    Lienthong__V1__LinkReply *rep = lienthong__v1__link_reply__unpack(NULL, size, data);
    if (!rep)
        return;
    /* an input with just enough to look like a real delivery */
    lt_event ev = LIENTHONG__V1__EVENT__INIT;
    ev.event_id = "E-1";
    ev.dossier_code = "H26.1.2-261110-0001";
    ev.procedure_code = "1.004227";
    lt_stored_event se = LIENTHONG__V1__STORED_EVENT__INIT;
    se.sender = "motcua";
    se.event = &ev;
    lt_dossier_state st = LIENTHONG__V1__DOSSIER_STATE__INIT;
    lt_adapter_input in = {
        .agency = "x",
        .idempotency_key = "0123456789abcdef-1-x",
        .attempt = 1,
        .seq = 1,
        .ev = &se,
        .first = &se,
        .state = &st,
    };
    for (const char *const *n = lt_adapter_names(); *n; n++) {
        lt_link_outcome out;
        memset(&out, 0, sizeof(out));
        lt_adapter_find(*n)->interpret(&in, rep, &out);
        if (out.status != LT_LINK_OK && out.status != LT_LINK_RETRY &&
            out.status != LT_LINK_PERMANENT)
            abort();
        /* a reply that makes no sense is a retry that says why */
        if ((!rep->has_outcome || !rep->idempotency_key) &&
            (out.status != LT_LINK_RETRY || !out.message[0]))
            abort();
        if (out.result && (!rep->result || out.result != rep->result))
            abort();
    }
    lienthong__v1__link_reply__free_unpacked(rep, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        read_reply(data + 1, size - 1);
        break;
    case 1:
        lienthong__v1__stream_request__free_unpacked(
            lienthong__v1__stream_request__unpack(NULL, size - 1, data + 1), NULL);
        break;
    default:
        lienthong__v1__control_request__free_unpacked(
            lienthong__v1__control_request__unpack(NULL, size - 1, data + 1), NULL);
        break;
    }
    return 0;
}
