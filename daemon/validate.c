/* validate.c - stateless checks of a Submission and the dossier state machine. */
#include "validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "timefmt.h"

#define E(name) LIENTHONG__V1__ERROR_CODE__##name

const lt_limits lt_limits_default = {
    .clock_skew_s = 300,
    .max_field_bytes = 200,
    .max_text_bytes = 4096,
    .max_attachments = 64,
    .max_data_entries = 128,
};

static const char *const status_names[] = {
    "UNSPECIFIED",
    "REGISTERED",
    "ACCEPTED",
    "NOT_ACCEPTED",
    "IN_PROGRESS",
    "SUPPLEMENT_REQUESTED",
    "OBLIGATION_REQUESTED",
    "WITHDRAWAL_REQUESTED",
    "STOPPED",
    "PROCESSED",
    "RESULT_RETURNED",
};

const char *lt_status_name(int status)
{
    if (status < 1 || status > 10)
        return "UNKNOWN";
    return status_names[status];
}

/* allowed[from] is a bitmask of the statuses that may follow `from`. */
#define B(s) (1u << (s))
static const unsigned allowed[11] = {
    [1] = B(2) | B(3) | B(5) | B(7),
    [2] = B(4) | B(5) | B(6) | B(7) | B(8) | B(9),
    [3] = 0,
    [4] = B(4) | B(5) | B(6) | B(7) | B(8) | B(9),
    [5] = B(2) | B(3) | B(4) | B(5) | B(7) | B(8),
    [6] = B(4) | B(6) | B(7) | B(8) | B(9),
    [7] = B(4) | B(8) | B(10),
    [8] = B(4) | B(8) | B(10),
    [9] = B(10),
    [10] = 0,
};

bool lt_validate_allowed(int from, int to)
{
    if (from < 1 || from > 10 || to < 1 || to > 10)
        return false;
    return (allowed[from] & B(to)) != 0;
}

/* True when s is valid UTF-8 without control characters other than tab/newline. */
/* How many of the first len bytes of s, taken 8 at a time, are ASCII without
 * control characters (0x20-0x7f): the common case, checked without a branch
 * per byte. The rest, from the first word that is not, goes byte by byte. */
static size_t ascii_prefix(const unsigned char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        /* a byte >= 0x80, or (in a word without those) a byte < 0x20 */
        if ((w & highs) || ((w - ones * 0x20) & ~w & highs))
            break;
    }
    return i;
}

static bool utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s + ascii_prefix((const unsigned char *)s, len);

    while (*p) {
        unsigned c = *p, n;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return false;
        unsigned cp = c & (0x3f >> n);
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* True when s is printable ASCII without spaces (identifiers and codes). */
static bool ident_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

/* True when an optional string field carries a value. proto2 keeps "" apart
 * from absent, but check_time() treats "" as absent, so everything after it
 * must too. */
static bool present(const char *s)
{
    return s && s[0];
}

enum { OPTIONAL = 0, REQUIRED = 1 };
enum { TEXT, IDENT };

/* Check one string field: presence, length, charset. */
static int check_str(const char *s, const char *field, int required, int kind, int64_t max,
                     lt_diag *d)
{
    if (!s || !s[0]) {
        if (required)
            return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), field, "%s is required", field);
        return 0;
    }
    size_t len = strlen(s);
    if ((int64_t)len > max)
        return lt_diag_set(d, LT_ERR_INVALID, E(TOO_LARGE), field,
                           "%s is %zu bytes; the limit is %lld", field, len, (long long)max);
    if (kind == IDENT && !ident_ok(s))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), field,
                           "%s must be printable ASCII without spaces", field);
    if (kind == TEXT && !utf8_ok(s, len))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), field, "%s is not valid UTF-8 text",
                           field);
    return 0;
}

/* Check a timestamp field: presence, RFC 3339, and (if past_only) not in the future. */
static int check_time(const char *s, const char *field, int required, bool past_only,
                      const lt_limits *lim, int64_t now_s, int64_t *ret, lt_diag *d)
{
    int64_t t;

    if (!s || !s[0]) {
        if (required)
            return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), field, "%s is required", field);
        return 0;
    }
    if (strlen(s) > 64 || lt_time_parse(s, &t) < 0)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), field,
                           "%s is not an RFC 3339 time (e.g. 2026-11-24T09:30:00+07:00)", field);
    if (past_only && t > now_s + lim->clock_skew_s)
        return lt_diag_set(d, LT_ERR_INVALID, E(FUTURE_TIMESTAMP), field,
                           "%s %s is in the future (beyond the %llds clock skew allowed)", field, s,
                           (long long)lim->clock_skew_s);
    if (ret)
        *ret = t;
    return 0;
}

/* Check a map<string,string> field given as entries. */
static int check_data(Lienthong__V1__DossierStatus__DataEntry *const *e, size_t n,
                      const char *field, const lt_limits *lim, lt_diag *d)
{
    char name[160];
    int r;

    if ((int64_t)n > lim->max_data_entries)
        return lt_diag_set(d, LT_ERR_INVALID, E(TOO_LARGE), field,
                           "%s has %zu entries; the limit is %lld", field, n,
                           (long long)lim->max_data_entries);
    /* Names are formatted only for the entry that fails: this runs for every
     * entry of every event, and snprintf dominated the ingest profile. */
    for (size_t i = 0; i < n; i++) {
        if (check_str(e[i]->key, "", REQUIRED, TEXT, lim->max_field_bytes, NULL) < 0) {
            snprintf(name, sizeof(name), "%s[%zu].key", field, i);
            return check_str(e[i]->key, name, REQUIRED, TEXT, lim->max_field_bytes, d);
        }
        if (check_str(e[i]->value, "", OPTIONAL, TEXT, lim->max_text_bytes, NULL) < 0) {
            snprintf(name, sizeof(name), "%s.%s", field, e[i]->key);
            return check_str(e[i]->value, name, OPTIONAL, TEXT, lim->max_text_bytes, d);
        }
    }
    (void)r;
    return 0;
}

/* A phone number: 8 to 15 digits, an optional leading '+', nothing else. */
static bool phone_ok(const char *s)
{
    size_t n = 0;

    if (*s == '+')
        s++;
    for (; *s; s++, n++)
        if (*s < '0' || *s > '9')
            return false;
    return n >= 8 && n <= 15;
}

/* An e-mail address: printable ASCII without spaces, one '@', a non-empty
 * local part and a domain holding a dot that neither starts nor ends it. */
static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@'), *dom = at ? at + 1 : NULL;
    size_t dn = dom ? strlen(dom) : 0;

    if (!ident_ok(s) || !at || at == s || strchr(dom, '@') || dn < 3)
        return false;
    return strchr(dom, '.') && dom[0] != '.' && dom[dn - 1] != '.';
}

/* Check an applicant record. */
static int check_applicant(const Lienthong__V1__Applicant *a, const lt_limits *lim, lt_diag *d)
{
    int r;

    if ((r = check_str(a->id_number, "event.status.applicant.id_number", OPTIONAL, IDENT,
                       lim->max_field_bytes, d)) < 0 ||
        (r = check_str(a->name, "event.status.applicant.name", OPTIONAL, TEXT, lim->max_field_bytes,
                       d)) < 0 ||
        (r = check_str(a->email, "event.status.applicant.email", OPTIONAL, IDENT,
                       lim->max_field_bytes, d)) < 0)
        return r;
    if (present(a->phone) && !phone_ok(a->phone))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.applicant.phone",
                           "event.status.applicant.phone must be 8 to 15 digits with an "
                           "optional leading +");
    if (present(a->email) && !email_ok(a->email))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.applicant.email",
                           "event.status.applicant.email is not an address like "
                           "name@example.vn");
    if (a->has_kind && (a->kind < 1 || a->kind > 2))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.applicant.kind",
                           "event.status.applicant.kind %d is not CITIZEN(1) or BUSINESS(2)",
                           (int)a->kind);
    return 0;
}

/* Check one attachment reference. */
static int check_attachment(const Lienthong__V1__Attachment *a, size_t i, const lt_limits *lim,
                            lt_diag *d)
{
    char f[96];
    int r;

    if (check_str(a->name, "", REQUIRED, TEXT, lim->max_field_bytes, NULL) < 0) {
        snprintf(f, sizeof(f), "event.status.attachments[%zu].name", i);
        return check_str(a->name, f, REQUIRED, TEXT, lim->max_field_bytes, d);
    }
    if (check_str(a->uri, "", OPTIONAL, TEXT, lim->max_text_bytes, NULL) < 0) {
        snprintf(f, sizeof(f), "event.status.attachments[%zu].uri", i);
        return check_str(a->uri, f, OPTIONAL, TEXT, lim->max_text_bytes, d);
    }
    (void)r;
    snprintf(f, sizeof(f), "event.status.attachments[%zu].sha256", i);
    if (a->sha256 && a->sha256[0]) {
        bool ok = strlen(a->sha256) == 64;
        for (const char *p = a->sha256; ok && *p; p++)
            ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
        if (!ok)
            return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), f,
                               "%s must be 64 lowercase hex digits", f);
    }
    return 0;
}

/* Check the status body of an event. */
static int check_status(const Lienthong__V1__DossierStatus *s, const lt_limits *lim, int64_t now_s,
                        lt_diag *d)
{
    int64_t recv = 0, due = 0;
    int r;

    if (!s->has_status)
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status.status",
                           "event.status.status is required");
    if (s->status < 1 || s->status > 10)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.status",
                           "event.status.status %d is not a portal status (1-10)", (int)s->status);
    if (s->applicant && (r = check_applicant(s->applicant, lim, d)) < 0)
        return r;
    if ((r = check_time(s->received_at, "event.status.received_at", OPTIONAL, true, lim, now_s,
                        &recv, d)) < 0 ||
        (r = check_time(s->due_at, "event.status.due_at", OPTIONAL, false, lim, now_s, &due, d)) <
            0 ||
        (r = check_time(s->finished_at, "event.status.finished_at", OPTIONAL, true, lim, now_s,
                        NULL, d)) < 0 ||
        (r = check_time(s->returned_at, "event.status.returned_at", OPTIONAL, true, lim, now_s,
                        NULL, d)) < 0)
        return r;
    if (present(s->received_at) && present(s->due_at) && due <= recv)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.due_at",
                           "event.status.due_at %s is not after received_at %s", s->due_at,
                           s->received_at);
    if (s->has_channel && (s->channel < 1 || s->channel > 3))
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.channel",
                           "event.status.channel %d is not ONLINE(1), DIRECT(2) or POSTAL(3)",
                           (int)s->channel);
    if ((int64_t)s->n_attachments > lim->max_attachments)
        return lt_diag_set(d, LT_ERR_INVALID, E(TOO_LARGE), "event.status.attachments",
                           "event.status.attachments has %zu entries; the limit is %lld",
                           s->n_attachments, (long long)lim->max_attachments);
    for (size_t i = 0; i < s->n_attachments; i++)
        if ((r = check_attachment(s->attachments[i], i, lim, d)) < 0)
            return r;
    if ((r = check_data(s->data, s->n_data, "event.status.data", lim, d)) < 0)
        return r;
    return check_str(s->note, "event.status.note", OPTIONAL, TEXT, lim->max_text_bytes, d);
}

/* Check the result body of an event. */
static int check_result(const Lienthong__V1__Result *res, const lt_limits *lim, int64_t now_s,
                        lt_diag *d)
{
    int r;

    if ((r = check_str(res->from_agency, "event.result.from_agency", REQUIRED, IDENT,
                       lim->max_field_bytes, d)) < 0 ||
        (r = check_str(res->kind, "event.result.kind", REQUIRED, IDENT, lim->max_field_bytes, d)) <
            0 ||
        (r = check_str(res->reference, "event.result.reference", REQUIRED, TEXT,
                       lim->max_field_bytes, d)) < 0 ||
        (r = check_time(res->issued_at, "event.result.issued_at", REQUIRED, true, lim, now_s, NULL,
                        d)) < 0)
        return r;
    if (res->has_amount && res->amount < 0)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.result.amount",
                           "event.result.amount %lld is negative", (long long)res->amount);
    /* Result.DataEntry has the same layout as DossierStatus.DataEntry (key, value). */
    return check_data((Lienthong__V1__DossierStatus__DataEntry *const *)res->data, res->n_data,
                      "event.result.data", lim, d);
}

int lt_validate_submission(const lt_submission *sub, const lt_limits *lim, int64_t now_s,
                           lt_diag *d)
{
    const lt_event *ev = sub->event;
    int r;

    if (!sub->has_version)
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "version",
                           "version is required (this daemon speaks version %d)", LT_WIRE_VERSION);
    if (sub->version != LT_WIRE_VERSION)
        return lt_diag_set(d, LT_ERR_INVALID, E(UNSUPPORTED_VERSION), "version",
                           "version %u is not supported; this daemon speaks version %d",
                           sub->version, LT_WIRE_VERSION);
    if ((r = check_str(sub->sender, "sender", REQUIRED, IDENT, lim->max_field_bytes, d)) < 0)
        return r;
    if (!ev)
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event", "event is required");
    if ((r = check_str(ev->event_id, "event.event_id", REQUIRED, IDENT, lim->max_field_bytes, d)) <
            0 ||
        (r = check_time(ev->occurred_at, "event.occurred_at", REQUIRED, true, lim, now_s, NULL,
                        d)) < 0 ||
        (r = check_str(ev->dossier_code, "event.dossier_code", REQUIRED, IDENT,
                       lim->max_field_bytes, d)) < 0 ||
        (r = check_str(ev->procedure_code, "event.procedure_code", REQUIRED, IDENT,
                       lim->max_field_bytes, d)) < 0 ||
        (r = check_str(ev->agency_code, "event.agency_code", REQUIRED, IDENT, lim->max_field_bytes,
                       d)) < 0)
        return r;
    switch (ev->body_case) {
    case LIENTHONG__V1__EVENT__BODY_STATUS:
        return check_status(ev->status, lim, now_s, d);
    case LIENTHONG__V1__EVENT__BODY_RESULT:
        return check_result(ev->result, lim, now_s, d);
    default:
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status",
                           "event carries neither a status nor a result");
    }
}

/* Parse a timestamp already checked by lt_validate_submission. */
static int64_t ts(const char *s)
{
    int64_t t = 0;

    lt_time_parse(s, &t);
    return t;
}

/* Apply a status event to the state in next (a copy of the current state). */
static int apply_status(const lt_event *ev, const lt_dossier_state *cur, lt_dossier_state *next,
                        lt_diag *d)
{
    const Lienthong__V1__DossierStatus *s = ev->status;
    int to = (int)s->status;

    if (!cur) {
        if (!present(s->received_at))
            return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status.received_at",
                               "dossier %s is new: its first event must carry received_at",
                               ev->dossier_code);
        if (!present(s->due_at))
            return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status.due_at",
                               "dossier %s is new: its first event must carry due_at",
                               ev->dossier_code);
    } else if (!lt_validate_allowed((int)cur->status, to)) {
        return lt_diag_set(d, LT_ERR_INVALID, E(BAD_TRANSITION), "event.status.status",
                           "dossier %s cannot go from %s (%d) to %s (%d)", ev->dossier_code,
                           lt_status_name((int)cur->status), (int)cur->status, lt_status_name(to),
                           to);
    } else if (present(s->received_at) && ts(s->received_at) != cur->received_at) {
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.received_at",
                           "dossier %s was received at another time; received_at cannot change",
                           ev->dossier_code);
    }
    next->has_status = true;
    next->status = s->status;
    if (present(s->received_at)) {
        next->has_received_at = true;
        next->received_at = ts(s->received_at);
    }
    if (present(s->due_at)) {
        if (ts(s->due_at) <= next->received_at)
            return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.due_at",
                               "event.status.due_at %s is not after the dossier's received_at",
                               s->due_at);
        next->has_due_at = true;
        next->due_at = ts(s->due_at);
    }
    if (present(s->finished_at)) {
        next->has_finished_at = true;
        next->finished_at = ts(s->finished_at);
    }
    if (present(s->returned_at)) {
        next->has_returned_at = true;
        next->returned_at = ts(s->returned_at);
    }
    if (to == 9 && !next->has_finished_at)
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status.finished_at",
                           "dossier %s is PROCESSED (9): finished_at is required",
                           ev->dossier_code);
    if (next->has_finished_at && next->finished_at < next->received_at)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.finished_at",
                           "dossier %s: finished_at is before received_at", ev->dossier_code);
    if (to == 10 && !next->has_returned_at)
        return lt_diag_set(d, LT_ERR_INVALID, E(MISSING_FIELD), "event.status.returned_at",
                           "dossier %s is RESULT_RETURNED (10): returned_at is required",
                           ev->dossier_code);
    if (next->has_returned_at && next->returned_at < next->received_at)
        return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.status.returned_at",
                           "dossier %s: returned_at is before received_at", ev->dossier_code);
    return 0;
}

int lt_validate_transition(const lt_event *ev, const lt_dossier_state *cur, uint64_t seq,
                           lt_dossier_state *next, lt_diag *d)
{
    int r;

    lienthong__v1__dossier_state__init(next);
    if (cur) {
        *next = *cur;
        next->base.unknown_fields = NULL;
        next->base.n_unknown_fields = 0;
        if (cur->procedure_code && strcmp(cur->procedure_code, ev->procedure_code) != 0)
            return lt_diag_set(d, LT_ERR_INVALID, E(INVALID_FIELD), "event.procedure_code",
                               "dossier %s belongs to procedure %s, not %s", ev->dossier_code,
                               cur->procedure_code, ev->procedure_code);
    } else {
        next->procedure_code = ev->procedure_code;
        next->agency_code = ev->agency_code;
        next->has_first_seq = true;
        next->first_seq = seq;
    }
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_STATUS) {
        if ((r = apply_status(ev, cur, next, d)) < 0)
            return r;
    } else if (!cur) {
        return lt_diag_set(d, LT_ERR_INVALID, E(UNKNOWN_DOSSIER), "event.dossier_code",
                           "result for dossier %s, which has no status event yet",
                           ev->dossier_code);
    }
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT) {
        next->has_results = true;
        next->results = (cur ? cur->results : 0) + 1;
    }
    if (next->has_finished_at) { /* settled: on time against the due date in force */
        next->has_completed_at = true;
        next->completed_at = next->finished_at;
        next->has_on_time = true;
        next->on_time = !next->has_due_at || next->finished_at <= next->due_at;
    }
    next->has_last_seq = true;
    next->last_seq = seq;
    next->has_events = true;
    next->events = (cur ? cur->events : 0) + 1;
    return 0;
}
