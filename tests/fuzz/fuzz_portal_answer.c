/* fuzz_portal_answer.c - libFuzzer target for the reading of the national
 * portal's answers (lt_portal_classify in daemon/portal_json.c): whatever
 * the portal, a proxy or a broken network sends back must be classified as
 * one of the five outcomes, with a message when it is not OK, and never
 * crash, leak or read out of bounds. The first byte picks login or not and
 * the HTTP status; the rest is the body. Seeds: corpus/fuzz_portal_answer/.
 */
#include "portal_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 200, 200, 0, 401, 404, 429, 500, 503, 302 };
    if (size == 0)
        return 0;
    static char *codes[] = { "98", "SESSION_EXPIRED" };
    lt_config_agency a;
    memset(&a, 0, sizeof(a));
    a.name = "portal";
    a.session_codes = codes;
    a.n_session_codes = 2;
    bool login = data[0] & 0x80;
    long status = statuses[(data[0] & 0x7f) % (sizeof(statuses) / sizeof(statuses[0]))];
    /* an exact-size copy, so a read past the body is caught */
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);
    char session[128], msg[512];
    session[0] = msg[0] = '\0';
    lt_portal_class c = lt_portal_classify(&a, login, status, status ? NULL : "timeout", body, len,
                                           session, sizeof(session), msg, sizeof(msg));
    if (c < LT_PORTAL_OK || c > LT_PORTAL_AUTH)
        abort();
    if (c != LT_PORTAL_OK && !msg[0])
        abort();
    if (c == LT_PORTAL_OK && login && !session[0])
        abort();
    if (!memchr(msg, 0, sizeof(msg)) || !memchr(session, 0, sizeof(session)))
        abort();
    free(body);
    return 0;
}
