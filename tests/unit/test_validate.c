/* test_validate.c - Submission checks and the dossier state machine
 * (daemon/validate.h). Every rejection is checked by its wire code and the
 * field path a sender would read in the reply. */
#include "timefmt.h"
#include "validate.h"

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
// clang-format on

#define E(name) LIENTHONG__V1__ERROR_CODE__##name
#define NOW     1795512600 /* 2026-11-24T09:30:00Z, the tests' wall clock */
#define N(a)    (sizeof(a) / sizeof((a)[0]))

typedef struct fixture {
    lt_submission sub;
    lt_event ev;
    Lienthong__V1__DossierStatus st;
    Lienthong__V1__Result res;
    Lienthong__V1__Applicant app;
    Lienthong__V1__Attachment att[3];
    Lienthong__V1__Attachment *attp[3];
    Lienthong__V1__DossierStatus__DataEntry de[3];
    Lienthong__V1__DossierStatus__DataEntry *dep[3];
    Lienthong__V1__Result__DataEntry rde;
    Lienthong__V1__Result__DataEntry *rdep[1];
    char times[4][40];
    char big[5000];
    lt_limits lim;
} fixture;

static fixture F; /* the case being checked; reset by fx_status()/fx_result() */

/* A valid status event: ACCEPTED, received an hour ago, due in ten days. */
static void fx_status(void)
{
    fixture *f = &F;

    memset(f, 0, sizeof(*f));
    lienthong__v1__submission__init(&f->sub);
    lienthong__v1__event__init(&f->ev);
    lienthong__v1__dossier_status__init(&f->st);
    lienthong__v1__applicant__init(&f->app);
    f->lim = lt_limits_default;
    f->sub.has_version = true;
    f->sub.version = 1;
    f->sub.sender = "motcua-hcm";
    f->sub.event = &f->ev;
    f->ev.event_id = "ev-1";
    f->ev.occurred_at = "2026-11-24T16:00:00+07:00"; /* 09:00Z */
    f->ev.dossier_code = "H29-261124-0001";
    f->ev.procedure_code = "1.004227";
    f->ev.agency_code = "000.00.01.H29";
    f->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    f->ev.status = &f->st;
    f->st.has_status = true;
    f->st.status = 2;
    f->st.applicant = &f->app;
    f->app.id_number = "079123456789";
    f->app.name = "Trần Thị B";
    f->app.has_kind = true;
    f->app.kind = 1;
    f->app.phone = "+84912345678";
    f->app.email = "tran.b@example.vn";
    f->st.received_at = "2026-11-24T08:30:00Z";
    f->st.due_at = "2026-12-04T17:00:00+07:00";
    f->st.has_channel = true;
    f->st.channel = 1;
    for (int i = 0; i < 2; i++) {
        lienthong__v1__attachment__init(&f->att[i]);
        f->att[i].name = "donxin.pdf";
        f->att[i].sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        f->att[i].uri = "s3://dossiers/donxin.pdf";
        f->attp[i] = &f->att[i];
        lienthong__v1__dossier_status__data_entry__init(&f->de[i]);
        f->dep[i] = &f->de[i];
    }
    f->de[0].key = "parcel";
    f->de[0].value = "12/345";
    f->de[1].key = "transfer_price";
    f->de[1].value = "1500000000";
    f->st.n_attachments = 2;
    f->st.attachments = f->attp;
    f->st.n_data = 2;
    f->st.data = f->dep;
    f->st.note = "Hồ sơ đầy đủ";
    memset(f->big, 'x', sizeof(f->big) - 1);
}

/* A valid result event: a tax notice issued an hour ago. */
static void fx_result(void)
{
    fixture *f = &F;

    fx_status();
    lienthong__v1__result__init(&f->res);
    lienthong__v1__result__data_entry__init(&f->rde);
    f->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    f->ev.result = &f->res;
    f->res.from_agency = "cuc-thue-hcm";
    f->res.kind = "tax_notice";
    f->res.reference = "TB-2026/123";
    f->res.has_amount = true;
    f->res.amount = 30000000;
    f->res.issued_at = "2026-11-24T08:30:00Z";
    f->rde.key = "notice_no";
    f->rde.value = "123";
    f->rdep[0] = &f->rde;
    f->res.n_data = 1;
    f->res.data = f->rdep;
}

/* NOW + delta seconds as RFC 3339, kept in fixture slot i. */
static char *at(int i, int64_t delta)
{
    lt_time_format(NOW + delta, F.times[i], sizeof(F.times[i]));
    return F.times[i];
}

/* A string of n 'x' bytes from the fixture's buffer. */
static char *big(size_t n)
{
    return F.big + sizeof(F.big) - 1 - n;
}

typedef struct reject_case {
    const char *name;
    void (*setup)(void);
    void (*mutate)(void);
    int code;
    const char *field;
} reject_case;

/* One-line mutations of a valid event, each breaking one thing. */
/* clang-format off */
static void no_version(void) { F.sub.has_version = false; }
static void version_2(void) { F.sub.version = 2; }
static void no_sender(void) { F.sub.sender = NULL; }
static void empty_sender(void) { F.sub.sender = ""; }
static void sender_space(void) { F.sub.sender = "mot cua"; }
static void sender_long(void) { F.sub.sender = big(201); }
static void no_event(void) { F.sub.event = NULL; }
static void no_event_id(void) { F.ev.event_id = NULL; }
static void event_id_ctl(void) { F.ev.event_id = "ev\n1"; }
static void event_id_long(void) { F.ev.event_id = big(201); }
static void no_occurred(void) { F.ev.occurred_at = NULL; }
static void bad_occurred(void) { F.ev.occurred_at = "yesterday"; }
static void long_occurred(void) { F.ev.occurred_at = big(65); }
static void future_occurred(void) { F.ev.occurred_at = at(0, 301); }
static void no_dossier(void) { F.ev.dossier_code = NULL; }
static void dossier_utf8(void) { F.ev.dossier_code = "hồ-sơ-1"; }
static void no_procedure(void) { F.ev.procedure_code = ""; }
static void agency_space(void) { F.ev.agency_code = "so tn mt"; }
static void no_body(void) { F.ev.body_case = LIENTHONG__V1__EVENT__BODY__NOT_SET; }
static void no_status(void) { F.st.has_status = false; }
static void status_0(void) { F.st.status = 0; }
static void status_11(void) { F.st.status = 11; }
static void kind_3(void) { F.app.kind = 3; }
static void id_space(void) { F.app.id_number = "079 123"; }
static void name_bad_utf8(void) { F.app.name = "Tr\xc3\x28n"; }
static void name_overlong_utf8(void) { F.app.name = "\xc0\xaf"; }
static void name_surrogate(void) { F.app.name = "\xed\xa0\x80"; }
static void name_long(void) { F.app.name = big(201); }
static void phone_space(void) { F.app.phone = "0912 345 678"; }
static void phone_short(void) { F.app.phone = "1234567"; }
static void phone_long(void) { F.app.phone = "+8412345678901234"; }
static void phone_letters(void) { F.app.phone = "09123456ab"; }
static void phone_plus_inside(void) { F.app.phone = "0912+345678"; }
static void phone_plus_only(void) { F.app.phone = "+"; }
static void email_no_at(void) { F.app.email = "tran.b.example.vn"; }
static void email_two_at(void) { F.app.email = "tran@b@example.vn"; }
static void email_no_local(void) { F.app.email = "@example.vn"; }
static void email_no_domain(void) { F.app.email = "tran@"; }
static void email_no_dot(void) { F.app.email = "tran@localhost"; }
static void email_dot_edge(void) { F.app.email = "tran@example.vn."; }
static void email_space(void) { F.app.email = "tran b@example.vn"; }
static void email_long(void) { F.app.email = big(201); }
static void bad_received(void) { F.st.received_at = "2026-02-30T00:00:00Z"; }
static void future_received(void) { F.st.received_at = at(0, 3600); }
static void bad_due(void) { F.st.due_at = "2026-12-04"; }
static void due_eq_received(void) { F.st.due_at = "2026-11-24T15:30:00+07:00"; }
static void due_before_received(void) { F.st.due_at = "2026-11-20T00:00:00Z"; }
static void future_finished(void) { F.st.finished_at = at(0, 301); }
static void bad_finished(void) { F.st.finished_at = "soon"; }
static void future_returned(void) { F.st.returned_at = at(0, 86400); }
static void bad_returned(void) { F.st.returned_at = "2026-11-24T09:30:00+07"; }
static void channel_4(void) { F.st.channel = 4; }
static void too_many_att(void) { F.lim.max_attachments = 1; }
static void att_no_name(void) { F.att[1].name = NULL; }
static void att_sha_upper(void) { F.att[0].sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"; }
static void att_sha_short(void) { F.att[1].sha256 = "9f86d0"; }
static void att_uri_long(void) { F.att[0].uri = big(4097); }
static void too_many_data(void) { F.lim.max_data_entries = 1; }
static void data_no_key(void) { F.de[0].key = ""; }
static void data_value_bad(void) { F.de[1].value = "\xff"; }
static void data_value_long(void) { F.de[0].value = big(4097); }
static void note_long(void) { F.st.note = big(4097); }
static void note_ctl(void) { F.st.note = "a\x01" "b"; }
/* past the 8-bytes-at-a-time ASCII check: the bad byte in a later word */
static void note_ctl_late(void) { F.st.note = "Ho so da tiep nhan day du\x01 ok"; }
static void note_del_then_ctl(void) { F.st.note = "0123456\x7f" "01234567\x1f"; }
static void name_bad_utf8_late(void) { F.app.name = "Nguyen Van Aaaaaaaaaaaa\xc3\x28n"; }
static void note_high_at_word_end(void) { F.st.note = "abcdefg\xff" "abcdefgh"; }
static void res_no_from(void) { F.res.from_agency = NULL; }
static void res_no_kind(void) { F.res.kind = NULL; }
static void res_kind_space(void) { F.res.kind = "tax notice"; }
static void res_no_ref(void) { F.res.reference = ""; }
static void res_no_issued(void) { F.res.issued_at = NULL; }
static void res_bad_issued(void) { F.res.issued_at = "2026-11-24T25:00:00Z"; }
static void res_future_issued(void) { F.res.issued_at = at(0, 400); }
static void res_negative(void) { F.res.amount = -1; }
static void res_data_long(void) { F.rde.value = big(4097); }
static void res_data_many(void) { F.lim.max_data_entries = 0; }

#define STATUS(fn, c, fld) { #fn, fx_status, fn, E(c), fld }
#define RESULT(fn, c, fld) { #fn, fx_result, fn, E(c), fld }

static const reject_case rejects[] = {
    STATUS(no_version, MISSING_FIELD, "version"),
    STATUS(version_2, UNSUPPORTED_VERSION, "version"),
    STATUS(no_sender, MISSING_FIELD, "sender"),
    STATUS(empty_sender, MISSING_FIELD, "sender"),
    STATUS(sender_space, INVALID_FIELD, "sender"),
    STATUS(sender_long, TOO_LARGE, "sender"),
    STATUS(no_event, MISSING_FIELD, "event"),
    STATUS(no_event_id, MISSING_FIELD, "event.event_id"),
    STATUS(event_id_ctl, INVALID_FIELD, "event.event_id"),
    STATUS(event_id_long, TOO_LARGE, "event.event_id"),
    STATUS(no_occurred, MISSING_FIELD, "event.occurred_at"),
    STATUS(bad_occurred, INVALID_FIELD, "event.occurred_at"),
    STATUS(long_occurred, INVALID_FIELD, "event.occurred_at"),
    STATUS(future_occurred, FUTURE_TIMESTAMP, "event.occurred_at"),
    STATUS(no_dossier, MISSING_FIELD, "event.dossier_code"),
    STATUS(dossier_utf8, INVALID_FIELD, "event.dossier_code"),
    STATUS(no_procedure, MISSING_FIELD, "event.procedure_code"),
    STATUS(agency_space, INVALID_FIELD, "event.agency_code"),
    STATUS(no_body, MISSING_FIELD, "event.status"),
    STATUS(no_status, MISSING_FIELD, "event.status.status"),
    STATUS(status_0, INVALID_FIELD, "event.status.status"),
    STATUS(status_11, INVALID_FIELD, "event.status.status"),
    STATUS(kind_3, INVALID_FIELD, "event.status.applicant.kind"),
    STATUS(id_space, INVALID_FIELD, "event.status.applicant.id_number"),
    STATUS(name_bad_utf8, INVALID_FIELD, "event.status.applicant.name"),
    STATUS(name_overlong_utf8, INVALID_FIELD, "event.status.applicant.name"),
    STATUS(name_surrogate, INVALID_FIELD, "event.status.applicant.name"),
    STATUS(name_long, TOO_LARGE, "event.status.applicant.name"),
    STATUS(phone_space, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(phone_short, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(phone_long, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(phone_letters, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(phone_plus_inside, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(phone_plus_only, INVALID_FIELD, "event.status.applicant.phone"),
    STATUS(email_no_at, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_two_at, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_no_local, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_no_domain, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_no_dot, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_dot_edge, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_space, INVALID_FIELD, "event.status.applicant.email"),
    STATUS(email_long, TOO_LARGE, "event.status.applicant.email"),
    STATUS(bad_received, INVALID_FIELD, "event.status.received_at"),
    STATUS(future_received, FUTURE_TIMESTAMP, "event.status.received_at"),
    STATUS(bad_due, INVALID_FIELD, "event.status.due_at"),
    STATUS(due_eq_received, INVALID_FIELD, "event.status.due_at"),
    STATUS(due_before_received, INVALID_FIELD, "event.status.due_at"),
    STATUS(future_finished, FUTURE_TIMESTAMP, "event.status.finished_at"),
    STATUS(bad_finished, INVALID_FIELD, "event.status.finished_at"),
    STATUS(future_returned, FUTURE_TIMESTAMP, "event.status.returned_at"),
    STATUS(bad_returned, INVALID_FIELD, "event.status.returned_at"),
    STATUS(channel_4, INVALID_FIELD, "event.status.channel"),
    STATUS(too_many_att, TOO_LARGE, "event.status.attachments"),
    STATUS(att_no_name, MISSING_FIELD, "event.status.attachments[1].name"),
    STATUS(att_sha_upper, INVALID_FIELD, "event.status.attachments[0].sha256"),
    STATUS(att_sha_short, INVALID_FIELD, "event.status.attachments[1].sha256"),
    STATUS(att_uri_long, TOO_LARGE, "event.status.attachments[0].uri"),
    STATUS(too_many_data, TOO_LARGE, "event.status.data"),
    STATUS(data_no_key, MISSING_FIELD, "event.status.data[0].key"),
    STATUS(data_value_bad, INVALID_FIELD, "event.status.data.transfer_price"),
    STATUS(data_value_long, TOO_LARGE, "event.status.data.parcel"),
    STATUS(note_long, TOO_LARGE, "event.status.note"),
    STATUS(note_ctl, INVALID_FIELD, "event.status.note"),
    STATUS(note_ctl_late, INVALID_FIELD, "event.status.note"),
    STATUS(note_del_then_ctl, INVALID_FIELD, "event.status.note"),
    STATUS(name_bad_utf8_late, INVALID_FIELD, "event.status.applicant.name"),
    STATUS(note_high_at_word_end, INVALID_FIELD, "event.status.note"),
    RESULT(res_no_from, MISSING_FIELD, "event.result.from_agency"),
    RESULT(res_no_kind, MISSING_FIELD, "event.result.kind"),
    RESULT(res_kind_space, INVALID_FIELD, "event.result.kind"),
    RESULT(res_no_ref, MISSING_FIELD, "event.result.reference"),
    RESULT(res_no_issued, MISSING_FIELD, "event.result.issued_at"),
    RESULT(res_bad_issued, INVALID_FIELD, "event.result.issued_at"),
    RESULT(res_future_issued, FUTURE_TIMESTAMP, "event.result.issued_at"),
    RESULT(res_negative, INVALID_FIELD, "event.result.amount"),
    RESULT(res_data_long, TOO_LARGE, "event.result.data.notice_no"),
    RESULT(res_data_many, TOO_LARGE, "event.result.data"),
};
/* clang-format on */

static void valid_status_and_result_events_pass(void **state)
{
    lt_diag d;

    (void)state;
    fx_status();
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), 0);
    fx_result();
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), 0);
    /* optional parts may be absent */
    fx_status();
    F.st.applicant = NULL;
    F.st.n_attachments = 0;
    F.st.n_data = 0;
    F.st.has_channel = false;
    F.st.note = NULL;
    F.st.received_at = NULL;
    F.st.due_at = NULL;
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    /* a phone without '+', the shortest and longest allowed, no e-mail */
    fx_status();
    F.app.phone = "02838290000";
    F.app.email = NULL;
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    F.app.phone = "12345678";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    F.app.phone = "+123456789012345";
    F.app.email = "a@b.c";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    /* long text: ASCII words, tabs and newlines, DEL, Vietnamese after and between them */
    fx_status();
    F.st.note = "Ho so dat dai thua so 12, to ban do 5\tda nop\r\nphi\x7f truoc ba: "
                "H\xe1\xbb\x93 s\xc6\xa1 \xc4\x91\xe1\xba\xa7y \xc4\x91\xe1\xbb\xa7 "
                "(full, 0123456789abcdef) \xf0\x9f\x93\x84 end";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    /* due_at may be in the future: it is a deadline */
    fx_status();
    F.st.due_at = at(0, 86400 * 365);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
}

static void each_bad_field_is_rejected_with_its_code_and_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(rejects); i++) {
        const reject_case *c = &rejects[i];
        lt_diag d;
        lt_diag_clear(&d);
        c->setup();
        c->mutate();
        int r = lt_validate_submission(&F.sub, &F.lim, NOW, &d);
        if (r != LT_ERR_INVALID || d.code != c->code || strcmp(d.field, c->field) != 0)
            fail_msg("%s: r=%d code=%s field='%s' message='%s'; want %s at %s", c->name, r,
                     lt_codec_error_name(d.code), d.field, d.message, lt_codec_error_name(c->code),
                     c->field);
        if (!d.message[0])
            fail_msg("%s: no message", c->name);
    }
}

static void messages_name_the_field_and_the_limit(void **state)
{
    lt_diag d;

    (void)state;
    fx_status();
    sender_long();
    lt_validate_submission(&F.sub, &F.lim, NOW, &d);
    assert_string_equal(d.message, "sender is 201 bytes; the limit is 200");
    fx_status();
    version_2();
    lt_validate_submission(&F.sub, &F.lim, NOW, &d);
    assert_string_equal(d.message, "version 2 is not supported; this daemon speaks version 1");
    fx_status();
    F.ev.occurred_at = "2026-11-24T09:35:01Z";
    lt_validate_submission(&F.sub, &F.lim, NOW, &d);
    assert_non_null(strstr(d.message, "2026-11-24T09:35:01Z is in the future"));
    assert_non_null(strstr(d.message, "300s clock skew"));
}

static void sizes_exactly_at_the_limit_pass(void **state)
{
    (void)state;
    fx_status();
    F.sub.sender = big(200);
    F.ev.event_id = big(200);
    F.st.note = big(4096);
    F.de[0].value = big(4096);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    fx_status();
    F.lim.max_attachments = 2;
    F.lim.max_data_entries = 2;
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
}

static void clock_skew_boundary_is_inclusive(void **state)
{
    lt_diag d;

    (void)state;
    fx_status();
    F.ev.occurred_at = at(0, 300);
    F.st.received_at = at(1, 300);
    F.st.due_at = at(2, 86400);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    F.st.received_at = at(1, 301);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), LT_ERR_INVALID);
    assert_int_equal(d.code, E(FUTURE_TIMESTAMP));
    assert_string_equal(d.field, "event.status.received_at");
    /* a configured skew of 0 refuses one second ahead */
    fx_status();
    F.lim.clock_skew_s = 0;
    F.ev.occurred_at = at(0, 0);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    F.ev.occurred_at = at(0, 1);
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), LT_ERR_INVALID);
    assert_int_equal(d.code, E(FUTURE_TIMESTAMP));
    assert_string_equal(d.field, "event.occurred_at");
}

static void due_at_must_be_after_received_at_across_time_zones(void **state)
{
    lt_diag d;

    (void)state;
    fx_status();
    /* 08:30Z received; 15:30+07:00 is the same instant: not after */
    F.st.due_at = "2026-11-24T15:30:00+07:00";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), LT_ERR_INVALID);
    assert_string_equal(d.field, "event.status.due_at");
    F.st.due_at = "2026-11-24T15:30:01+07:00";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, &d), 0);
}

/* --- the state machine --- */

/* The allowed table as proto/README.md describes the portal's flow. */
static const char *const allowed_to[11] = {
    [1] = "2 3 5 7",     [2] = "4 5 6 7 8 9", [3] = "",       [4] = "4 5 6 7 8 9",
    [5] = "2 3 4 5 7 8", [6] = "4 6 7 8 9",   [7] = "4 8 10", [8] = "4 8 10",
    [9] = "10",          [10] = "",
};

static bool expect_allowed(int from, int to)
{
    char buf[16];
    const char *p = allowed_to[from];

    snprintf(buf, sizeof(buf), "%d", to);
    for (size_t n = strlen(buf); (p = strstr(p, buf)) != NULL; p += n)
        if ((p == allowed_to[from] || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* Current state of a dossier received at 08:30Z, due in ten days. */
static lt_dossier_state state_at(int status)
{
    lt_dossier_state s;

    lienthong__v1__dossier_state__init(&s);
    s.has_status = true;
    s.status = status;
    s.has_received_at = true;
    s.received_at = NOW - 3600;
    s.has_due_at = true;
    s.due_at = NOW + 10 * 86400;
    s.procedure_code = "1.004227";
    s.has_first_seq = true;
    s.first_seq = 3;
    s.has_last_seq = true;
    s.last_seq = 5;
    s.has_events = true;
    s.events = 2;
    return s;
}

/* A follow-up status event carrying what status `to` requires. */
static void fx_follow_up(int to)
{
    fx_status();
    F.st.status = to;
    F.st.received_at = NULL;
    F.st.due_at = NULL;
    if (to == 9)
        F.st.finished_at = at(0, -60);
    if (to == 10) {
        F.st.finished_at = at(0, -120);
        F.st.returned_at = at(1, -60);
    }
}

static void allowed_matches_the_documented_table(void **state)
{
    (void)state;
    for (int from = 1; from <= 10; from++)
        for (int to = 1; to <= 10; to++)
            if (lt_validate_allowed(from, to) != expect_allowed(from, to))
                fail_msg("%s -> %s: allowed=%d, documented %d", lt_status_name(from),
                         lt_status_name(to), lt_validate_allowed(from, to),
                         expect_allowed(from, to));
    assert_false(lt_validate_allowed(0, 1));
    assert_false(lt_validate_allowed(1, 0));
    assert_false(lt_validate_allowed(11, 10));
    assert_false(lt_validate_allowed(9, 11));
    assert_false(lt_validate_allowed(-1, 2));
}

static void every_allowed_transition_is_accepted_and_every_other_refused(void **state)
{
    (void)state;
    for (int from = 1; from <= 10; from++) {
        for (int to = 1; to <= 10; to++) {
            lt_dossier_state cur = state_at(from), next;
            lt_diag d;
            lt_diag_clear(&d);
            fx_follow_up(to);
            assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
            int r = lt_validate_transition(&F.ev, &cur, 6, &next, &d);
            if (expect_allowed(from, to)) {
                if (r != 0)
                    fail_msg("%d -> %d refused: %s", from, to, d.message);
                assert_int_equal(next.status, to);
                assert_int_equal(next.first_seq, 3);
                assert_int_equal(next.last_seq, 6);
                assert_int_equal(next.events, 3);
                assert_int_equal(next.received_at, NOW - 3600);
                continue;
            }
            if (r != LT_ERR_INVALID || d.code != E(BAD_TRANSITION) ||
                strcmp(d.field, "event.status.status") != 0)
                fail_msg("%d -> %d: r=%d code=%s field=%s", from, to, r,
                         lt_codec_error_name(d.code), d.field);
        }
    }
}

static void refused_transition_names_both_statuses(void **state)
{
    lt_dossier_state cur = state_at(10), next;
    lt_diag d;

    (void)state;
    fx_follow_up(2);
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, &d), LT_ERR_INVALID);
    assert_string_equal(d.message, "dossier H29-261124-0001 cannot go from RESULT_RETURNED (10) to "
                                   "ACCEPTED (2)");
    cur = state_at(3);
    fx_follow_up(4);
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, &d), LT_ERR_INVALID);
    assert_non_null(strstr(d.message, "from NOT_ACCEPTED (3) to IN_PROGRESS (4)"));
}

static void first_event_may_carry_any_status(void **state)
{
    (void)state;
    for (int to = 1; to <= 10; to++) {
        lt_dossier_state next;
        lt_diag d;
        fx_follow_up(to);
        F.st.received_at = "2026-11-24T08:30:00Z";
        F.st.due_at = "2026-12-04T17:00:00+07:00";
        assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
        if (lt_validate_transition(&F.ev, NULL, 41, &next, &d) != 0)
            fail_msg("first event with status %d refused: %s", to, d.message);
        assert_int_equal(next.status, to);
        assert_int_equal(next.first_seq, 41);
        assert_int_equal(next.last_seq, 41);
        assert_int_equal(next.events, 1);
        assert_int_equal(next.received_at, NOW - 3600);
        assert_string_equal(next.procedure_code, "1.004227");
        assert_string_equal(next.agency_code, "000.00.01.H29"); /* the desk that received it */
    }
}

/* Run a transition expected to fail; check code and field. */
static void expect_transition_error(const lt_dossier_state *cur, int code, const char *field)
{
    lt_dossier_state next;
    lt_diag d;

    lt_diag_clear(&d);
    assert_int_equal(lt_validate_transition(&F.ev, cur, 9, &next, &d), LT_ERR_INVALID);
    if (d.code != code || strcmp(d.field, field) != 0)
        fail_msg("code=%s field=%s (%s); want %s at %s", lt_codec_error_name(d.code), d.field,
                 d.message, lt_codec_error_name(code), field);
}

static void new_dossier_needs_received_at_and_due_at(void **state)
{
    (void)state;
    fx_status();
    F.st.received_at = NULL;
    expect_transition_error(NULL, E(MISSING_FIELD), "event.status.received_at");
    fx_status();
    F.st.due_at = NULL;
    expect_transition_error(NULL, E(MISSING_FIELD), "event.status.due_at");
    /* present but empty is still missing, not "received in 1970" */
    fx_status();
    F.st.received_at = "";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    expect_transition_error(NULL, E(MISSING_FIELD), "event.status.received_at");
    fx_status();
    F.st.due_at = "";
    expect_transition_error(NULL, E(MISSING_FIELD), "event.status.due_at");
}

static void empty_optional_times_on_a_follow_up_are_ignored(void **state)
{
    lt_dossier_state cur = state_at(2), next;
    lt_diag d;

    (void)state;
    fx_follow_up(4);
    F.st.received_at = "";
    F.st.due_at = "";
    F.st.finished_at = "";
    F.st.returned_at = "";
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    if (lt_validate_transition(&F.ev, &cur, 6, &next, &d) != 0)
        fail_msg("refused: %s at %s", d.message, d.field);
    assert_int_equal(next.received_at, NOW - 3600);
    assert_int_equal(next.due_at, NOW + 10 * 86400);
    assert_false(next.has_finished_at);
}

static void processed_needs_finished_at_not_before_received_at(void **state)
{
    lt_dossier_state cur = state_at(4), next;

    (void)state;
    fx_follow_up(9);
    F.st.finished_at = NULL;
    expect_transition_error(&cur, E(MISSING_FIELD), "event.status.finished_at");
    fx_follow_up(9);
    F.st.finished_at = at(0, -3601);
    expect_transition_error(&cur, E(INVALID_FIELD), "event.status.finished_at");
    fx_follow_up(9);
    F.st.finished_at = at(0, -3600); /* the same second as received: allowed */
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, NULL), 0);
    assert_true(next.has_finished_at);
    assert_int_equal(next.finished_at, NOW - 3600);
    /* first event at 9 is checked against its own received_at */
    fx_follow_up(9);
    F.st.received_at = "2026-11-24T08:30:00Z";
    F.st.due_at = "2026-12-04T17:00:00Z";
    F.st.finished_at = "2026-11-24T08:29:59Z";
    expect_transition_error(NULL, E(INVALID_FIELD), "event.status.finished_at");
}

static void result_returned_needs_returned_at_and_keeps_finished_at(void **state)
{
    lt_dossier_state cur = state_at(9), next;

    (void)state;
    cur.has_finished_at = true;
    cur.finished_at = NOW - 600;
    fx_follow_up(10);
    F.st.returned_at = NULL;
    F.st.finished_at = NULL;
    expect_transition_error(&cur, E(MISSING_FIELD), "event.status.returned_at");
    fx_follow_up(10);
    F.st.finished_at = NULL;
    F.st.returned_at = "2026-11-24T08:00:00Z";
    expect_transition_error(&cur, E(INVALID_FIELD), "event.status.returned_at");
    fx_follow_up(10);
    F.st.finished_at = NULL;
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, NULL), 0);
    assert_int_equal(next.status, 10);
    assert_int_equal(next.finished_at, NOW - 600);
    assert_int_equal(next.returned_at, NOW - 60);
}

static void withdrawn_or_stopped_dossier_returns_without_finished_at(void **state)
{
    (void)state;
    for (int from = 7; from <= 8; from++) {
        lt_dossier_state cur = state_at(from), next;
        lt_diag d;
        fx_follow_up(10);
        F.st.finished_at = NULL;
        if (lt_validate_transition(&F.ev, &cur, 6, &next, &d) != 0)
            fail_msg("%d -> 10 without finished_at: %s", from, d.message);
        assert_false(next.has_finished_at);
        assert_int_equal(next.returned_at, NOW - 60);
    }
}

static void follow_up_may_move_due_at_but_not_received_at(void **state)
{
    lt_dossier_state cur = state_at(4), next;

    (void)state;
    fx_follow_up(5); /* supplement requested: the deadline moves */
    F.st.due_at = at(0, 20 * 86400);
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, NULL), 0);
    assert_int_equal(next.due_at, NOW + 20 * 86400);
    fx_follow_up(5);
    F.st.due_at = at(0, -7200);
    expect_transition_error(&cur, E(INVALID_FIELD), "event.status.due_at");
    fx_follow_up(4);
    F.st.received_at = "2026-11-24T08:00:00Z";
    expect_transition_error(&cur, E(INVALID_FIELD), "event.status.received_at");
    fx_follow_up(4);
    F.st.received_at = "2026-11-24T15:30:00+07:00"; /* the same instant: fine */
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 6, &next, NULL), 0);
}

static void dossier_keeps_its_procedure(void **state)
{
    lt_dossier_state cur = state_at(2);

    (void)state;
    fx_follow_up(4);
    F.ev.procedure_code = "1.000001";
    expect_transition_error(&cur, E(INVALID_FIELD), "event.procedure_code");
}

static void result_for_unknown_dossier_is_refused(void **state)
{
    lt_diag d;
    lt_dossier_state next;

    (void)state;
    fx_result();
    assert_int_equal(lt_validate_submission(&F.sub, &F.lim, NOW, NULL), 0);
    assert_int_equal(lt_validate_transition(&F.ev, NULL, 1, &next, &d), LT_ERR_INVALID);
    assert_int_equal(d.code, E(UNKNOWN_DOSSIER));
    assert_string_equal(d.field, "event.dossier_code");
    assert_non_null(strstr(d.message, "H29-261124-0001"));
}

static void result_for_known_dossier_keeps_its_status(void **state)
{
    lt_dossier_state cur = state_at(6), next;

    (void)state;
    fx_result();
    cur.agency_code = "000.00.01.H29";
    F.ev.agency_code = "CCT-Q1"; /* a later event of another agency */
    assert_int_equal(lt_validate_transition(&F.ev, &cur, 8, &next, NULL), 0);
    assert_string_equal(next.agency_code, "000.00.01.H29");
    assert_int_equal(next.status, 6);
    assert_int_equal(next.due_at, NOW + 10 * 86400);
    assert_int_equal(next.first_seq, 3);
    assert_int_equal(next.last_seq, 8);
    assert_int_equal(next.events, 3);
}

static void status_names_follow_the_portal_list(void **state)
{
    static const char *const names[] = {
        "UNKNOWN",
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
        "UNKNOWN",
    };

    (void)state;
    for (int i = 0; i <= 11; i++)
        assert_string_equal(lt_status_name(i), names[i]);
    assert_string_equal(lt_status_name(-5), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_status_and_result_events_pass),
        cmocka_unit_test(each_bad_field_is_rejected_with_its_code_and_path),
        cmocka_unit_test(messages_name_the_field_and_the_limit),
        cmocka_unit_test(sizes_exactly_at_the_limit_pass),
        cmocka_unit_test(clock_skew_boundary_is_inclusive),
        cmocka_unit_test(due_at_must_be_after_received_at_across_time_zones),
        cmocka_unit_test(allowed_matches_the_documented_table),
        cmocka_unit_test(every_allowed_transition_is_accepted_and_every_other_refused),
        cmocka_unit_test(refused_transition_names_both_statuses),
        cmocka_unit_test(first_event_may_carry_any_status),
        cmocka_unit_test(new_dossier_needs_received_at_and_due_at),
        cmocka_unit_test(empty_optional_times_on_a_follow_up_are_ignored),
        cmocka_unit_test(processed_needs_finished_at_not_before_received_at),
        cmocka_unit_test(result_returned_needs_returned_at_and_keeps_finished_at),
        cmocka_unit_test(withdrawn_or_stopped_dossier_returns_without_finished_at),
        cmocka_unit_test(follow_up_may_move_due_at_but_not_received_at),
        cmocka_unit_test(dossier_keeps_its_procedure),
        cmocka_unit_test(result_for_unknown_dossier_is_refused),
        cmocka_unit_test(result_for_known_dossier_keeps_its_status),
        cmocka_unit_test(status_names_follow_the_portal_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
