/* portal_json.h - the national public-service portal's dialect (Cổng DVC
 * quốc gia): the JSON bodies of its calls, the data-quality gate and code
 * mappings applied before anything is sent, and the reading of its answers.
 *
 * Pure functions: no I/O, no logging, no state. The HTTP link's worker
 * (link_http.c) drives them: login, then for each PortalSync a DongBoHoSoMC
 * upsert keyed by MaHoSo, then (for a status change) a CapNhatTienDoHoSoMC
 * progress step. Dates are yyyyMMddHHmmss in Asia/Ho_Chi_Minh time (UTC+7,
 * no daylight saving). Field names follow the portal's public integration
 * code; the paths, the service name and the session codes come from the
 * agency's config (config.h, transport http).
 */
#ifndef LT_PORTAL_JSON_H
#define LT_PORTAL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "lienthong/v1/link.pb-c.h"

#define LT_PORTAL_DATE_LEN 15  /* "yyyyMMddHHmmss" and its NUL */
#define LT_PORTAL_FUTURE_S 300 /* a date this far ahead of the clock is "in the future" */

/* How the portal answered one call. */
typedef enum {
    LT_PORTAL_OK = 1,    /* error_code "00" (login: with a session) */
    LT_PORTAL_RETRY,     /* network error, timeout, HTTP 5xx, 408, 429, an answer that is not
                            JSON: the portal is unwell, try later */
    LT_PORTAL_PERMANENT, /* HTTP 4xx, a validation error_code: never succeeds as sent */
    LT_PORTAL_SESSION,   /* the session expired (HTTP 401 or one of session_codes): log in again */
    LT_PORTAL_AUTH,      /* the login itself was refused (wrong username or password) */
} lt_portal_class;

/* Format sec (Unix time) as yyyyMMddHHmmss in UTC+7 into buf (>= LT_PORTAL_DATE_LEN). */
void lt_portal_date(int64_t sec, char *buf, size_t size);

/* The portal's TrangThaiHoSo (1-10) for ps: its status (for a result, the
 * dossier's status when the result was stored, portal adapter); without one
 * (a result before any status), what its times imply: returned 10, finished
 * 9, else in progress 4. */
int lt_portal_status(const Lienthong__V1__PortalSync *ps);

/* True when ps is a status change (it gets a progress step); a result is not. */
bool lt_portal_is_step(const Lienthong__V1__PortalSync *ps);

/* The data-quality gate and the code mappings, before anything is sent:
 * received time present, no received/finished/returned time more than
 * LT_PORTAL_FUTURE_S after now_s, finish and return not before receipt, a
 * processed or returned dossier has its finish time, the procedure code (and
 * the agency code, when set) has a national code in a's maps (an empty map
 * passes codes through: they are national already). Borrows everything.
 * Returns 0, or LT_ERR_INVALID with reterr->message naming the dossier and
 * the reason (the delivery becomes a dead letter with it). */
int lt_portal_check(const lt_config_agency *a, const Lienthong__V1__PortalSync *ps, int64_t now_s,
                    lt_diag *reterr);

/* The login call's body: username, password, madonvi and service.
 * [out] ret: caller frees with free(). Returns 0 or -ENOMEM. */
int lt_portal_login_body(const lt_config_agency *a, const char *password, char **ret);

/* The DongBoHoSoMC body for ps (which passed lt_portal_check) with session;
 * isUpdating is "False" when ps->first_sync, else "True".
 * [out] ret: caller frees with free(). [out] ret_summary: one line saying what
 * was sent, for the delivery record (size bytes). Returns 0 or -ENOMEM. */
int lt_portal_sync_body(const lt_config_agency *a, const char *session,
                        const Lienthong__V1__PortalSync *ps, char **ret, char *ret_summary,
                        size_t size);

/* The CapNhatTienDoHoSoMC body for ps's status change, stamped at_s when ps
 * carries no time for the step. Returns 0, LT_ERR_NOT_FOUND when ps is not
 * a step (a result: no progress step), -ENOMEM. Output as for sync. */
int lt_portal_progress_body(const lt_config_agency *a, const char *session,
                            const Lienthong__V1__PortalSync *ps, int64_t at_s, char **ret,
                            char *ret_summary, size_t size);

/* Read one answer: http_status 0 means no HTTP answer (curl_error says why).
 * body may be NULL. For a login (is_login) an OK needs a session, copied into
 * ret_session (session_size bytes; a longer one is AUTH). ret_msg (msg_size
 * bytes) gets the portal's error_code and message, or the transport's reason. */
lt_portal_class lt_portal_classify(const lt_config_agency *a, bool is_login, long http_status,
                                   const char *curl_error, const char *body, size_t len,
                                   char *ret_session, size_t session_size, char *ret_msg,
                                   size_t msg_size);

#endif
