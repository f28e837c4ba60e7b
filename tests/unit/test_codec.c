/* test_codec.c - strict Submission decoding, request_id peeking and Reply
 * encoding (daemon/codec.h). Inputs are built with the protobuf-c generated
 * code, as a department system would, then packed to bytes. */
#include "codec.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define E(name) LIENTHONG__V1__ERROR_CODE__##name

/* One submission's parts, wired together by fixture_init(). */
typedef struct fixture {
    lt_submission sub;
    Lienthong__V1__Event ev;
    Lienthong__V1__DossierStatus st;
    Lienthong__V1__Result res;
    Lienthong__V1__Applicant app;
    Lienthong__V1__Attachment att[2];
    Lienthong__V1__Attachment *attp[2];
    Lienthong__V1__DossierStatus__DataEntry de[2];
    Lienthong__V1__DossierStatus__DataEntry *dep[2];
    Lienthong__V1__Result__DataEntry rde;
    Lienthong__V1__Result__DataEntry *rdep[1];
    uint8_t unk_data[1];
    ProtobufCMessageUnknownField unk;
} fixture;

/* A status event with applicant, two attachments and a data map. */
static void fixture_init_status(fixture *f)
{
    memset(f, 0, sizeof(*f));
    lienthong__v1__submission__init(&f->sub);
    lienthong__v1__event__init(&f->ev);
    lienthong__v1__dossier_status__init(&f->st);
    lienthong__v1__applicant__init(&f->app);
    f->sub.has_version = true;
    f->sub.version = 1;
    f->sub.sender = "motcua-hcm";
    f->sub.has_request_id = true;
    f->sub.request_id = 77;
    f->sub.event = &f->ev;
    f->ev.event_id = "ev-1";
    f->ev.occurred_at = "2026-11-24T09:30:00+07:00";
    f->ev.dossier_code = "000.00.01.H29-261124-0001";
    f->ev.procedure_code = "1.004227";
    f->ev.agency_code = "000.00.01.H29";
    f->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    f->ev.status = &f->st;
    f->st.has_status = true;
    f->st.status = LIENTHONG__V1__STATUS__ACCEPTED;
    f->st.applicant = &f->app;
    f->app.id_number = "079123456789";
    f->app.name = "Nguyễn Văn A";
    f->app.has_kind = true;
    f->app.kind = LIENTHONG__V1__APPLICANT_KIND__CITIZEN;
    f->st.received_at = "2026-11-24T09:30:00+07:00";
    f->st.due_at = "2026-12-08T17:00:00+07:00";
    for (int i = 0; i < 2; i++) {
        lienthong__v1__attachment__init(&f->att[i]);
        f->att[i].name = i ? "hopdong.pdf" : "donxin.pdf";
        f->att[i].sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        f->att[i].has_size = true;
        f->att[i].size = 1000 + (uint64_t)i;
        f->att[i].uri = "s3://dossiers/x.pdf";
        f->attp[i] = &f->att[i];
        lienthong__v1__dossier_status__data_entry__init(&f->de[i]);
        f->de[i].key = i ? "transfer_price" : "parcel";
        f->de[i].value = i ? "1500000000" : "12/345";
        f->dep[i] = &f->de[i];
    }
    f->st.n_attachments = 2;
    f->st.attachments = f->attp;
    f->st.n_data = 2;
    f->st.data = f->dep;
}

/* A result event (tax notice) with one data entry. */
static void fixture_init_result(fixture *f)
{
    fixture_init_status(f);
    lienthong__v1__result__init(&f->res);
    lienthong__v1__result__data_entry__init(&f->rde);
    f->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    f->ev.result = &f->res;
    f->res.from_agency = "cuc-thue-hcm";
    f->res.kind = "tax_notice";
    f->res.reference = "TB-2026/123";
    f->res.has_amount = true;
    f->res.amount = 30000000;
    f->res.issued_at = "2026-11-25T10:00:00+07:00";
    f->rde.key = "notice_no";
    f->rde.value = "123";
    f->rdep[0] = &f->rde;
    f->res.n_data = 1;
    f->res.data = f->rdep;
}

/* Attach an unknown varint field number `tag` to message m. */
static void add_unknown(fixture *f, ProtobufCMessage *m, uint32_t tag)
{
    f->unk_data[0] = 1;
    f->unk.tag = tag;
    f->unk.wire_type = PROTOBUF_C_WIRE_TYPE_VARINT;
    f->unk.len = 1;
    f->unk.data = f->unk_data;
    m->n_unknown_fields = 1;
    m->unknown_fields = &f->unk;
}

/* Pack the fixture's submission; caller frees. */
static uint8_t *pack(const fixture *f, size_t *len)
{
    *len = lienthong__v1__submission__get_packed_size(&f->sub);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(lienthong__v1__submission__pack(&f->sub, buf), *len);
    return buf;
}

/* Decode the fixture and expect failure with code and field. */
static void expect_reject(const fixture *f, int code, const char *field, const char *msg_part)
{
    size_t len;
    uint8_t *buf = pack(f, &len);
    lt_submission *sub = NULL;
    lt_diag d;

    lt_diag_clear(&d);
    assert_int_equal(lt_codec_decode_submission(buf, len, &sub, &d), LT_ERR_MALFORMED);
    assert_null(sub);
    assert_int_equal(d.code, code);
    assert_string_equal(d.field, field);
    if (msg_part && !strstr(d.message, msg_part))
        fail_msg("message '%s' lacks '%s'", d.message, msg_part);
    free(buf);
}

static void decode_status_event_keeps_every_field(void **state)
{
    fixture f;
    size_t len;
    lt_submission *sub = NULL;
    lt_diag d;

    (void)state;
    fixture_init_status(&f);
    uint8_t *buf = pack(&f, &len);
    assert_int_equal(lt_codec_decode_submission(buf, len, &sub, &d), 0);
    assert_non_null(sub);
    assert_int_equal(sub->version, 1);
    assert_string_equal(sub->sender, "motcua-hcm");
    assert_int_equal(sub->request_id, 77);
    assert_string_equal(sub->event->dossier_code, "000.00.01.H29-261124-0001");
    assert_int_equal(sub->event->body_case, LIENTHONG__V1__EVENT__BODY_STATUS);
    assert_int_equal(sub->event->status->status, 2);
    assert_string_equal(sub->event->status->applicant->name, "Nguyễn Văn A");
    assert_int_equal(sub->event->status->n_attachments, 2);
    assert_string_equal(sub->event->status->attachments[1]->name, "hopdong.pdf");
    assert_int_equal(sub->event->status->attachments[1]->size, 1001);
    assert_int_equal(sub->event->status->n_data, 2);
    assert_string_equal(sub->event->status->data[1]->key, "transfer_price");
    assert_string_equal(sub->event->status->data[1]->value, "1500000000");
    lienthong__v1__submission__free_unpacked(sub, NULL);
    free(buf);
}

static void decode_result_event_keeps_every_field(void **state)
{
    fixture f;
    size_t len;
    lt_submission *sub = NULL;

    (void)state;
    fixture_init_result(&f);
    uint8_t *buf = pack(&f, &len);
    assert_int_equal(lt_codec_decode_submission(buf, len, &sub, NULL), 0);
    assert_int_equal(sub->event->body_case, LIENTHONG__V1__EVENT__BODY_RESULT);
    assert_string_equal(sub->event->result->reference, "TB-2026/123");
    assert_int_equal(sub->event->result->amount, 30000000);
    assert_string_equal(sub->event->result->data[0]->key, "notice_no");
    lienthong__v1__submission__free_unpacked(sub, NULL);
    free(buf);
}

static void decode_empty_frame_gives_empty_submission(void **state)
{
    lt_submission *sub = NULL;

    (void)state;
    /* Zero bytes is a valid proto2 message with nothing set; validation names
     * what is missing. */
    assert_int_equal(lt_codec_decode_submission((const uint8_t *)"", 0, &sub, NULL), 0);
    assert_non_null(sub);
    assert_false(sub->has_version);
    assert_null(sub->event);
    lienthong__v1__submission__free_unpacked(sub, NULL);
    /* an empty ZeroMQ frame may come without a data pointer */
    sub = NULL;
    assert_int_equal(lt_codec_decode_submission(NULL, 0, &sub, NULL), 0);
    assert_non_null(sub);
    lienthong__v1__submission__free_unpacked(sub, NULL);
}

static void unknown_field_at_top_level_is_named(void **state)
{
    fixture f;

    (void)state;
    fixture_init_status(&f);
    add_unknown(&f, &f.sub.base, 99);
    expect_reject(&f, E(UNKNOWN_FIELD), "submission", "field number 99");
}

static void unknown_field_in_event_is_named(void **state)
{
    fixture f;

    (void)state;
    fixture_init_status(&f);
    add_unknown(&f, &f.ev.base, 6);
    expect_reject(&f, E(UNKNOWN_FIELD), "event", "lienthong.v1.Event");
}

static void unknown_field_in_status_is_named(void **state)
{
    fixture f;

    (void)state;
    fixture_init_status(&f);
    add_unknown(&f, &f.st.base, 11);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.status", "lienthong.v1.DossierStatus");
}

static void unknown_field_in_result_is_named(void **state)
{
    fixture f;

    (void)state;
    fixture_init_result(&f);
    add_unknown(&f, &f.res.base, 7);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.result", "lienthong.v1.Result");
}

static void unknown_field_deep_in_lists_and_maps_is_named(void **state)
{
    fixture f;

    (void)state;
    fixture_init_status(&f);
    add_unknown(&f, &f.att[1].base, 5);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.status.attachments[1]", "Attachment");

    fixture_init_status(&f);
    add_unknown(&f, &f.app.base, 6);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.status.applicant", "Applicant");

    fixture_init_status(&f);
    add_unknown(&f, &f.de[0].base, 3);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.status.data[0]", "field number 3");

    fixture_init_result(&f);
    add_unknown(&f, &f.rde.base, 3);
    expect_reject(&f, E(UNKNOWN_FIELD), "event.result.data[0]", "field number 3");
}

/* Decode raw bytes and expect MALFORMED with no submission returned. */
static void expect_malformed(const uint8_t *buf, size_t len)
{
    lt_submission *sub = NULL;
    lt_diag d;

    lt_diag_clear(&d);
    assert_int_equal(lt_codec_decode_submission(buf, len, &sub, &d), LT_ERR_MALFORMED);
    assert_null(sub);
    assert_int_equal(d.code, E(MALFORMED));
    assert_non_null(strstr(d.message, "could not be decoded"));
}

static void garbage_is_malformed(void **state)
{
    static const uint8_t junk[][6] = {
        { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* endless varint */
        { 0x0f, 0x01, 0x02, 0x03, 0x04, 0x05 }, /* wire type 7 */
        { 0x22, 0x7f, 0x00, 0x00, 0x00, 0x00 }, /* event length beyond the end */
        { 0x08, 0x01, 0x12, 0x05, 'a', 'b' },   /* sender length beyond the end */
        { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* field number 0 */
        { 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* unterminated group */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        expect_malformed(junk[i], sizeof(junk[i]));
    expect_malformed((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
}

static void every_truncation_of_a_valid_frame_is_refused_or_decodes(void **state)
{
    fixture f;
    size_t len, malformed = 0;

    (void)state;
    fixture_init_status(&f);
    uint8_t *buf = pack(&f, &len);
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc(n ? n : 1);
        lt_submission *sub = NULL;
        memcpy(cut, buf, n);
        int r = lt_codec_decode_submission(cut, n, &sub, NULL);
        if (r == 0)
            lienthong__v1__submission__free_unpacked(sub, NULL);
        else
            malformed++, assert_int_equal(r, LT_ERR_MALFORMED);
        free(cut);
    }
    /* cutting inside the event (the last field) always breaks it */
    assert_true(malformed > len / 2);
    free(buf);
}

/* The Event's bytes as received, stored as a StoredEvent's field 3, decode to
 * the same event as the decoded submission holds. */
static void event_bytes_are_the_event_as_received(void **state)
{
    fixture f;
    size_t len, elen;
    const uint8_t *eb;

    (void)state;
    fixture_init_status(&f);
    uint8_t *buf = pack(&f, &len);
    assert_int_equal(lt_codec_event_bytes(buf, len, &eb, &elen), 0);
    Lienthong__V1__Event *ev = lienthong__v1__event__unpack(NULL, elen, eb);
    assert_non_null(ev);
    size_t a = lienthong__v1__event__get_packed_size(ev);
    size_t b = lienthong__v1__event__get_packed_size(f.sub.event);
    assert_int_equal(a, b);
    assert_string_equal(ev->event_id, f.sub.event->event_id);
    assert_string_equal(ev->status->applicant->name, f.sub.event->status->applicant->name);
    lienthong__v1__event__free_unpacked(ev, NULL);

    /* field 4 twice: protobuf merges the two, so no single range is the event */
    uint8_t twice[2048];
    assert_true(len + elen + 4 < sizeof(twice));
    memcpy(twice, buf, len);
    size_t n = len;
    twice[n++] = 0x22;
    twice[n++] = 0;
    assert_int_equal(lt_codec_event_bytes(twice, n, &eb, &elen), -ENOENT);
    free(buf);
    static const uint8_t no_event[] = { 0x08, 0x01 };
    assert_int_equal(lt_codec_event_bytes(no_event, sizeof(no_event), &eb, &elen), -ENOENT);
    static const uint8_t broken[] = { 0x22, 0x05, 0x01 };
    assert_int_equal(lt_codec_event_bytes(broken, sizeof(broken), &eb, &elen), -EINVAL);
    assert_int_equal(lt_codec_event_bytes(NULL, 0, &eb, &elen), -ENOENT);
}

static void peek_finds_request_id_in_good_frames(void **state)
{
    fixture f;
    size_t len;

    (void)state;
    fixture_init_status(&f);
    f.sub.request_id = 0x1234567890ULL;
    uint8_t *buf = pack(&f, &len);
    assert_int_equal(lt_codec_peek_request_id(buf, len), 0x1234567890ULL);
    free(buf);

    /* request_id after a field that fails the strict decode still counts */
    static const uint8_t after_unknown[] = { 0xb8, 0x06, 0x01, 0x18, 0x2a }; /* 103: 1, 3: 42 */
    assert_int_equal(lt_codec_peek_request_id(after_unknown, sizeof(after_unknown)), 42);
    /* fixed64 and fixed32 fields are skipped */
    static const uint8_t fixed[] = { 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 2, 3, 4, 0x18, 0x07 };
    assert_int_equal(lt_codec_peek_request_id(fixed, sizeof(fixed)), 7);
}

static void peek_gives_zero_for_broken_or_absent_request_id(void **state)
{
    static const uint8_t no_id[] = { 0x08, 0x01, 0x12, 0x01, 'x' };
    static const uint8_t cut_varint[] = { 0x08, 0x01, 0x18, 0xff };
    static const uint8_t bad_len[] = { 0x12, 0x7f, 'x', 0x18, 0x05 };
    static const uint8_t group[] = { 0x0b, 0x18, 0x05 };
    static const uint8_t cut_fixed[] = { 0x09, 1, 2, 3 };
    static const uint8_t endless[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

    (void)state;
    assert_int_equal(lt_codec_peek_request_id(NULL, 0), 0);
    assert_int_equal(lt_codec_peek_request_id(no_id, sizeof(no_id)), 0);
    assert_int_equal(lt_codec_peek_request_id(cut_varint, sizeof(cut_varint)), 0);
    assert_int_equal(lt_codec_peek_request_id(bad_len, sizeof(bad_len)), 0);
    assert_int_equal(lt_codec_peek_request_id(group, sizeof(group)), 0);
    assert_int_equal(lt_codec_peek_request_id(cut_fixed, sizeof(cut_fixed)), 0);
    assert_int_equal(lt_codec_peek_request_id(endless, sizeof(endless)), 0);
}

static void reply_encodes_and_refuses_a_small_buffer(void **state)
{
    lt_reply r = LIENTHONG__V1__REPLY__INIT;
    uint8_t buf[256];

    (void)state;
    r.has_version = true;
    r.version = 1;
    r.has_request_id = true;
    r.request_id = 9;
    r.event_id = "ev-1";
    r.has_outcome = true;
    r.outcome = LIENTHONG__V1__REPLY__OUTCOME__REJECTED;
    r.has_code = true;
    r.code = E(MISSING_FIELD);
    r.field = "event.status.due_at";
    r.message = "dossier X is new: its first event must carry due_at";
    size_t need = lienthong__v1__reply__get_packed_size(&r);

    assert_int_equal(lt_codec_encode_reply(&r, buf, need - 1), -ENOBUFS);
    assert_int_equal(lt_codec_encode_reply(&r, buf, 0), -ENOBUFS);
    int n = lt_codec_encode_reply(&r, buf, need);
    assert_int_equal(n, need);

    lt_reply *back = lienthong__v1__reply__unpack(NULL, (size_t)n, buf);
    assert_non_null(back);
    assert_int_equal(back->request_id, 9);
    assert_int_equal(back->outcome, LIENTHONG__V1__REPLY__OUTCOME__REJECTED);
    assert_int_equal(back->code, E(MISSING_FIELD));
    assert_string_equal(back->field, "event.status.due_at");
    assert_string_equal(back->message, r.message);
    lienthong__v1__reply__free_unpacked(back, NULL);
}

static void error_name_covers_every_code(void **state)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        { E(ERROR_NONE), "NONE" },
        { E(MALFORMED), "MALFORMED" },
        { E(UNSUPPORTED_VERSION), "UNSUPPORTED_VERSION" },
        { E(MISSING_FIELD), "MISSING_FIELD" },
        { E(INVALID_FIELD), "INVALID_FIELD" },
        { E(UNKNOWN_FIELD), "UNKNOWN_FIELD" },
        { E(TOO_LARGE), "TOO_LARGE" },
        { E(STORE_FULL), "STORE_FULL" },
        { E(BAD_TRANSITION), "BAD_TRANSITION" },
        { E(UNKNOWN_DOSSIER), "UNKNOWN_DOSSIER" },
        { E(FUTURE_TIMESTAMP), "FUTURE_TIMESTAMP" },
        { E(INTERNAL), "INTERNAL" },
        { -1, "UNKNOWN" },
        { 12, "UNKNOWN" },
        { 1000, "UNKNOWN" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(lt_codec_error_name(names[i].code), names[i].name);
    /* every code the enum defines has its own name, matching the .proto */
    const ProtobufCEnumDescriptor *ed = &lienthong__v1__error_code__descriptor;
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *want = ed->values[i].value == 0 ? "NONE" : ed->values[i].name;
        assert_string_equal(lt_codec_error_name(ed->values[i].value), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_status_event_keeps_every_field),
        cmocka_unit_test(decode_result_event_keeps_every_field),
        cmocka_unit_test(decode_empty_frame_gives_empty_submission),
        cmocka_unit_test(unknown_field_at_top_level_is_named),
        cmocka_unit_test(unknown_field_in_event_is_named),
        cmocka_unit_test(unknown_field_in_status_is_named),
        cmocka_unit_test(unknown_field_in_result_is_named),
        cmocka_unit_test(unknown_field_deep_in_lists_and_maps_is_named),
        cmocka_unit_test(garbage_is_malformed),
        cmocka_unit_test(every_truncation_of_a_valid_frame_is_refused_or_decodes),
        cmocka_unit_test(event_bytes_are_the_event_as_received),
        cmocka_unit_test(peek_finds_request_id_in_good_frames),
        cmocka_unit_test(peek_gives_zero_for_broken_or_absent_request_id),
        cmocka_unit_test(reply_encodes_and_refuses_a_small_buffer),
        cmocka_unit_test(error_name_covers_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
