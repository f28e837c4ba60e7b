/* test_pbtext.c - YAML/JSON <-> protobuf conversion (cli/pbtext.c). */
#include "pbtext.h"

#include "lienthong/v1/lienthong.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef Lienthong__V1__Submission Submission;
#define SUB_DESC (&lienthong__v1__submission__descriptor)
#define EV_DESC  (&lienthong__v1__event__descriptor)

static const char land_yaml[] =
    "# a dossier received at the one-stop desk\n"
    "version: 1\n"
    "sender: motcua-stnmt\n"
    "request_id: 18446744073709551615\n"
    "event:\n"
    "  event_id: E1\n"
    "  occurred_at: 2026-11-24T09:30:00+07:00\n"
    "  dossier_code: H26.1.2-241125-0001\n"
    "  procedure_code: 1.004227\n"
    "  agency_code: STNMT\n"
    "  status:\n"
    "    status: ACCEPTED\n"
    "    applicant: {id_number: \"079123451234\", name: Nguyễn Văn A, kind: CITIZEN}\n"
    "    received_at: 2026-11-24T09:30:00+07:00\n"
    "    due_at: 2026-12-08T17:00:00+07:00\n"
    "    channel: 2\n"
    "    attachments:\n"
    "      - name: don.pdf\n"
    "        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
    "        size: 18234\n"
    "        uri: s3://hoso/don.pdf\n"
    "      - {name: gcn.pdf, size: 1}\n"
    "    data:\n"
    "      parcel: \"12/345\"\n"
    "      price: 1500000000\n"
    "    note: ~\n";

static const char land_json[] =
    "{\"version\": 1, \"sender\": \"motcua-stnmt\", \"request_id\": 7,\n"
    " \"event\": {\"event_id\": \"E2\", \"dossier_code\": \"D1\",\n"
    "  \"result\": {\"from_agency\": \"CT\", \"kind\": \"tax_notice\", \"amount\": -5,\n"
    "             \"data\": {\"notice\": \"TB-1\", \"quote\": \"a \\\"b\\\"\\n\"}}}}\n";

/* Parse text as Submissions; asserts success and returns the documents. */
static lt_pbtext_doc *parse_ok(const char *text, size_t *n)
{
    lt_pbtext_doc *docs = NULL;
    lt_diag d;
    int r = lt_pbtext_parse("t.yaml", text, strlen(text), SUB_DESC, NULL, NULL, &docs, n, &d);
    if (r != 0) {
        char buf[1024];
        lt_diag_format(&d, buf, sizeof(buf));
        fail_msg("parse failed: %s", buf);
    }
    return docs;
}

static void yaml_submission_fills_every_kind_of_field(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok(land_yaml, &n);
    assert_int_equal(n, 1);
    Submission *s = (Submission *)docs[0].msg;
    assert_true(s->has_version);
    assert_int_equal(s->version, 1);
    assert_string_equal(s->sender, "motcua-stnmt");
    assert_true(s->request_id == UINT64_MAX);
    Lienthong__V1__Event *e = s->event;
    assert_non_null(e);
    assert_string_equal(e->procedure_code, "1.004227");
    assert_int_equal(e->body_case, LIENTHONG__V1__EVENT__BODY_STATUS);
    Lienthong__V1__DossierStatus *st = e->status;
    assert_int_equal(st->status, LIENTHONG__V1__STATUS__ACCEPTED);
    assert_int_equal(st->channel, LIENTHONG__V1__CHANNEL__DIRECT);
    assert_string_equal(st->applicant->name, "Nguyễn Văn A");
    assert_int_equal(st->applicant->kind, LIENTHONG__V1__APPLICANT_KIND__CITIZEN);
    assert_int_equal(st->n_attachments, 2);
    assert_int_equal(st->attachments[0]->size, 18234);
    assert_string_equal(st->attachments[1]->name, "gcn.pdf");
    assert_int_equal(st->n_data, 2);
    assert_string_equal(st->data[0]->key, "parcel");
    assert_string_equal(st->data[0]->value, "12/345");
    assert_string_equal(st->data[1]->value, "1500000000");
    assert_null(st->note);
    assert_int_equal(docs[0].line, 2);
    lt_pbtext_docs_free(&docs, n);
    assert_null(docs);
}

static void json_submission_with_result_and_escapes(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok(land_json, &n);
    assert_int_equal(n, 1);
    Submission *s = (Submission *)docs[0].msg;
    assert_int_equal(s->request_id, 7);
    assert_int_equal(s->event->body_case, LIENTHONG__V1__EVENT__BODY_RESULT);
    assert_true(s->event->result->has_amount);
    assert_int_equal(s->event->result->amount, -5);
    assert_string_equal(s->event->result->data[1]->value, "a \"b\"\n");
    lt_pbtext_docs_free(&docs, n);
}

static void multi_document_yields_one_message_each_and_skips_empty(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok("---\nsender: a\n---\n---\n{\"sender\": \"b\"}\n---\n"
                                   "sender: c\n...\n",
                                   &n);
    assert_int_equal(n, 3);
    assert_string_equal(((Submission *)docs[0].msg)->sender, "a");
    assert_string_equal(((Submission *)docs[1].msg)->sender, "b");
    assert_string_equal(((Submission *)docs[2].msg)->sender, "c");
    assert_int_equal(docs[1].line, 5);
    assert_int_equal(docs[2].line, 7);
    lt_pbtext_docs_free(&docs, n);

    docs = parse_ok("", &n);
    assert_int_equal(n, 0);
    lt_pbtext_docs_free(&docs, n);
}

static void enum_accepts_defined_number(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok("event: {status: {status: 4}}\n", &n);
    assert_int_equal(((Submission *)docs[0].msg)->event->status->status,
                     LIENTHONG__V1__STATUS__IN_PROGRESS);
    lt_pbtext_docs_free(&docs, n);
}

/* Every error message, formatted as the CLI prints it. */
static const struct {
    const char *text;
    const char *want;
} bad_inputs[] = {
    { "sender: a\nevent:\n  event_idd: E1\n",
      "t.yaml:3:3: event.event_idd: unknown field in lienthong.v1.Event" },
    { "event: [1]\n",
      "t.yaml:1:8: event: expected a mapping (lienthong.v1.Event), got a sequence" },
    { "event: E1\n", "t.yaml:1:8: event: expected a mapping (lienthong.v1.Event), got a scalar" },
    { "sender: {a: b}\n", "t.yaml:1:9: sender: expected a scalar, got a mapping" },
    { "event:\n  status:\n    status: DONE\n",
      "t.yaml:3:13: event.status.status: unknown value \"DONE\" for enum lienthong.v1.Status" },
    { "event: {status: {status: 11}}\n",
      "t.yaml:1:26: event.status.status: unknown value \"11\" for enum lienthong.v1.Status" },
    { "version: 4294967296\n", "t.yaml:1:10: version: 4294967296 is out of range for uint32" },
    { "request_id: -1\n", "t.yaml:1:13: request_id: -1 is out of range for uint64" },
    { "request_id: 18446744073709551616\n",
      "t.yaml:1:13: request_id: 18446744073709551616 is out of range for uint64" },
    { "event: {result: {amount: 9223372036854775808}}\n",
      "t.yaml:1:26: event.result.amount: 9223372036854775808 is out of range for int64" },
    { "version: one\n", "t.yaml:1:10: version: \"one\" is not an integer" },
    { "version: 1.0\n", "t.yaml:1:10: version: \"1.0\" is not an integer" },
    { "sender: a\nsender: b\n", "t.yaml:2:1: sender: duplicate field" },
    { "event:\n  status: {status: ACCEPTED}\n  result: {kind: x}\n",
      "t.yaml:3:3: event.result: only one of a oneof may be set; status is set" },
    { "event: {status: {data: {a: 1, a: 2}}}\n",
      "t.yaml:1:31: event.status.data.a: duplicate key \"a\"" },
    { "event: {status: {data: [a]}}\n",
      "t.yaml:1:24: event.status.data: expected a mapping, got a sequence" },
    { "event: {status: {attachments: {name: x}}}\n",
      "t.yaml:1:31: event.status.attachments: expected a sequence, got a mapping" },
    { "event: {status: {attachments: [{name: x}, {nam: y}]}}\n",
      "t.yaml:1:44: event.status.attachments[1].nam: unknown field in lienthong.v1.Attachment" },
    { "event: {status: {attachments: [~]}}\n",
      "t.yaml:1:32: event.status.attachments[0]: null is not allowed in a list" },
    { "- sender: a\n", "t.yaml:1:1: expected a mapping (lienthong.v1.Submission), got a sequence" },
    { "? [a]\n: b\n", "t.yaml:1:3: field name must be a scalar, got a sequence" },
    { "sender: \"a\\0b\"\n", "t.yaml:1:9: sender: string contains a NUL character" },
    { "sender: [a\n",
      "t.yaml:2:1: YAML syntax: did not find expected ',' or ']' while parsing a flow sequence" },
    { "sender: a\n---\nsender: b\nbogus: 1\n",
      "t.yaml:4:1: bogus: unknown field in lienthong.v1.Submission" },
    { "{\"sender\": \"a\", \"version\": \"x\"}\n",
      "t.yaml:1:28: version: \"x\" is not an integer" },
};

static void every_error_names_file_line_column_and_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        lt_pbtext_doc *docs = (lt_pbtext_doc *)0x1;
        size_t n = 99;
        lt_diag d;
        char buf[1024];
        int r = lt_pbtext_parse("t.yaml", bad_inputs[i].text, strlen(bad_inputs[i].text), SUB_DESC,
                                NULL, NULL, &docs, &n, &d);
        assert_true(r == LT_ERR_INVALID || r == LT_ERR_MALFORMED);
        assert_ptr_equal(docs, (lt_pbtext_doc *)0x1); /* untouched on failure */
        assert_int_equal(n, 99);
        lt_diag_format(&d, buf, sizeof(buf));
        if (strcmp(buf, bad_inputs[i].want) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, buf, bad_inputs[i].want);
    }
}

static void yaml_error_is_malformed_and_invalid_utf8_is_located(void **state)
{
    (void)state;
    lt_pbtext_doc *docs = NULL;
    size_t n = 0;
    lt_diag d;
    char buf[512];
    const char text[] = "sender: a\nnote: \xff\n";
    assert_int_equal(
        lt_pbtext_parse("x.json", text, sizeof(text) - 1, SUB_DESC, NULL, NULL, &docs, &n, &d),
        LT_ERR_MALFORMED);
    lt_diag_format(&d, buf, sizeof(buf));
    assert_string_equal(buf, "x.json:2:7: YAML syntax: invalid leading UTF-8 octet");
}

/* Pack a message to bytes for comparison. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    protobuf_c_message_pack(m, b);
    return b;
}

static char *to_json(const ProtobufCMessage *m)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    assert_int_equal(lt_pbtext_write_json(f, m), 0);
    fclose(f);
    return out;
}

static void round_trip(const char *text)
{
    size_t n, n2, l1, l2;
    lt_pbtext_doc *docs = parse_ok(text, &n);
    for (size_t i = 0; i < n; i++) {
        char *json = to_json(docs[i].msg);
        assert_null(strchr(json, '\n'));
        lt_pbtext_doc *back = parse_ok(json, &n2);
        assert_int_equal(n2, 1);
        uint8_t *a = pack(docs[i].msg, &l1), *b = pack(back[0].msg, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(a, b, l1);
        free(a);
        free(b);
        free(json);
        lt_pbtext_docs_free(&back, n2);
    }
    lt_pbtext_docs_free(&docs, n);
}

static void message_to_json_to_message_round_trips(void **state)
{
    (void)state;
    round_trip(land_yaml);
    round_trip(land_json);
    round_trip("version: 0\nrequest_id: 0\nevent: {event_id: \"\", result: {amount: 0}}\n");
    round_trip("event: {status: {note: \"tab\\there \\u0001 \\\\ end\"}}\n");
    /* fuzzer findings: a null map value is "", and YAML line breaks inside a
     * string (NEL, LS, PS) must be escaped or a reader folds them to spaces */
    round_trip("event: {status: {data: {a: ~, b: \"\"}}}\n");
    round_trip("event: {status: {note: \"nel\\u0085 ls\\u2028 ps\\u2029 bom\\ufeff c1\\u0080 "
               "del\\u007f\"}}\n");
}

static void json_output_is_exact(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok("request_id: 3\nevent: {event_id: E1, status: {status: 4, "
                                   "data: {k: v}, applicant: {kind: BUSINESS}}}\n",
                                   &n);
    char *json = to_json(docs[0].msg);
    assert_string_equal(json, "{\"request_id\":3,\"event\":{\"event_id\":\"E1\",\"status\":{"
                              "\"status\":\"IN_PROGRESS\",\"applicant\":{\"kind\":\"BUSINESS\"},"
                              "\"data\":{\"k\":\"v\"}}}}");
    free(json);
    lt_pbtext_docs_free(&docs, n);
}

static void json_string_escapes_controls_and_bad_utf8(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char s[] = "a\"\\\n\x01\xc3\xa1\xff";
    lt_pbtext_write_json_string(f, s, sizeof(s) - 1);
    fclose(f);
    assert_string_equal(out, "\"a\\\"\\\\\\n\\u0001\xc3\xa1\\ufffd\"");
    free(out);
}

static void text_rendering_masks_id_number(void **state)
{
    (void)state;
    size_t n;
    lt_pbtext_doc *docs = parse_ok(land_yaml, &n);
    static const char *const mask[] = { "id_number", NULL };
    lt_pbtext_text_opts o = { .mask = mask };
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    Submission *s = (Submission *)docs[0].msg;
    lt_pbtext_write_text(f, &s->event->status->applicant->base, &o);
    fclose(f);
    assert_string_equal(out, "id_number=0791****1234 name=\"Nguyễn Văn A\" kind=CITIZEN");
    free(out);
    lt_pbtext_docs_free(&docs, n);
}

static void mask_keeps_ends_by_length(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(lt_pbtext_mask("079123451234", buf, sizeof(buf)), "0791****1234");
    assert_string_equal(lt_pbtext_mask("12345678", buf, sizeof(buf)), "12****78");
    assert_string_equal(lt_pbtext_mask("123456", buf, sizeof(buf)), "******");
    assert_string_equal(lt_pbtext_mask("", buf, sizeof(buf)), "");
}

/* Bare events (event_id at top level) are read as Event. */
static const ProtobufCMessageDescriptor *pick_event(const char *const *keys, size_t n, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], "event_id"))
            return EV_DESC;
    return NULL;
}

static void pick_chooses_message_type_per_document(void **state)
{
    (void)state;
    const char text[] = "event_id: E9\n---\nevent: {event_id: E8}\n";
    lt_pbtext_doc *docs = NULL;
    size_t n = 0;
    assert_int_equal(
        lt_pbtext_parse("t", text, sizeof(text) - 1, SUB_DESC, pick_event, NULL, &docs, &n, NULL),
        0);
    assert_int_equal(n, 2);
    assert_ptr_equal(docs[0].msg->descriptor, EV_DESC);
    assert_string_equal(((Lienthong__V1__Event *)docs[0].msg)->event_id, "E9");
    assert_ptr_equal(docs[1].msg->descriptor, SUB_DESC);
    lt_pbtext_docs_free(&docs, n);
}

static void node_budget_caps_alias_expansion(void **state)
{
    (void)state;
    /* 40000 aliases of a one-field mapping: 120000 nodes visited > budget */
    size_t cap = 64 + 40000 * 4;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "event: {status: {attachments: [&a {name: x}");
    for (int i = 0; i < 40000; i++)
        len += (size_t)snprintf(text + len, cap - len, ",*a");
    len += (size_t)snprintf(text + len, cap - len, "]}}\n");
    lt_pbtext_doc *docs = NULL;
    size_t n = 0;
    lt_diag d;
    assert_int_equal(lt_pbtext_parse("t", text, len, SUB_DESC, NULL, NULL, &docs, &n, &d),
                     LT_ERR_INVALID);
    assert_non_null(strstr(d.message, "document too large"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(yaml_submission_fills_every_kind_of_field),
        cmocka_unit_test(json_submission_with_result_and_escapes),
        cmocka_unit_test(multi_document_yields_one_message_each_and_skips_empty),
        cmocka_unit_test(enum_accepts_defined_number),
        cmocka_unit_test(every_error_names_file_line_column_and_field),
        cmocka_unit_test(yaml_error_is_malformed_and_invalid_utf8_is_located),
        cmocka_unit_test(message_to_json_to_message_round_trips),
        cmocka_unit_test(json_output_is_exact),
        cmocka_unit_test(json_string_escapes_controls_and_bad_utf8),
        cmocka_unit_test(text_rendering_masks_id_number),
        cmocka_unit_test(mask_keeps_ends_by_length),
        cmocka_unit_test(pick_chooses_message_type_per_document),
        cmocka_unit_test(node_budget_caps_alias_expansion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
