/* test_adapters.c - the tax, land and portal adapters and the registry
 * (adapters/adapter.h), on the land-transfer dossier of
 * examples/land-transfer.yaml. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "timefmt.h"

/* cmocka needs the standard headers above first */
#include <cmocka.h>

#define DOSSIER "H26.1.2-261110-0001"
#define KEY     "tax/H26.1.2-261110-0001/4"

/* The dossier as the store would hand it to the delivery engine: the first
 * event (REGISTERED with the cadastral data), the land office's transfer to
 * tax (OBLIGATION_REQUESTED), the tax notice (result), the state after all. */
typedef struct fixture {
    Lienthong__V1__DossierStatus__DataEntry data[8];
    Lienthong__V1__DossierStatus__DataEntry *datap[8];
    Lienthong__V1__DossierStatus__DataEntry data4[4];
    Lienthong__V1__DossierStatus__DataEntry *data4p[4];
    Lienthong__V1__Result__DataEntry rdata[3];
    Lienthong__V1__Result__DataEntry *rdatap[3];
    Lienthong__V1__Applicant applicant;
    Lienthong__V1__DossierStatus st1, st4;
    Lienthong__V1__Result res;
    lt_event ev1, ev4, ev5;
    lt_stored_event se1, se4, se5;
    lt_dossier_state state;
    lt_adapter_input in;
    lt_link_request *req;
} fixture;

static int64_t t(const char *s)
{
    int64_t v = 0;
    assert_int_equal(lt_time_parse(s, &v), 0);
    return v;
}

static void status_event(lt_event *ev, Lienthong__V1__DossierStatus *st, const char *id,
                         const char *agency, int status)
{
    lienthong__v1__event__init(ev);
    lienthong__v1__dossier_status__init(st);
    ev->event_id = (char *)id;
    ev->occurred_at = (char *)"2026-11-10T08:15:00+07:00";
    ev->dossier_code = (char *)DOSSIER;
    ev->procedure_code = (char *)"1.004227";
    ev->agency_code = (char *)agency;
    ev->body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    ev->status = st;
    st->has_status = 1;
    st->status = status;
}

static void fill_data(fixture *f)
{
    static const char *const kv[][2] = {
        { "parcel_number", "125" },
        { "map_sheet", "34" },
        { "parcel_area_m2", "96.5" },
        { "address", "Phường Tân Định, Quận 1, TP. Hồ Chí Minh" },
        { "transfer_price_vnd", "3200000000" },
    };
    for (size_t i = 0; i < 5; i++) {
        lienthong__v1__dossier_status__data_entry__init(&f->data[i]);
        f->data[i].key = (char *)kv[i][0];
        f->data[i].value = (char *)kv[i][1];
        f->datap[i] = &f->data[i];
    }
    f->st1.n_data = 5;
    f->st1.data = f->datap;
    for (size_t i = 0; i < 4; i++) {
        lienthong__v1__dossier_status__data_entry__init(&f->data4[i]);
        f->data4p[i] = &f->data4[i];
    }
}

static void fill_result(fixture *f)
{
    static const char *const kv[][2] = {
        { "personal_income_tax_vnd", "64000000" },
        { "registration_fee_vnd", "16000000" },
        { "payment_due", "2026-12-17" },
    };
    lienthong__v1__event__init(&f->ev5);
    lienthong__v1__result__init(&f->res);
    f->ev5.event_id = (char *)"CT-TB-2026-0045517";
    f->ev5.occurred_at = (char *)"2026-11-17T10:45:00+07:00";
    f->ev5.dossier_code = (char *)DOSSIER;
    f->ev5.procedure_code = (char *)"1.004227";
    f->ev5.agency_code = (char *)"CCT-Q1";
    f->ev5.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    f->ev5.result = &f->res;
    f->res.from_agency = (char *)"CCT-Q1";
    f->res.kind = (char *)"tax_notice";
    f->res.reference = (char *)"TB-0045517/TB-CCT";
    f->res.has_amount = 1;
    f->res.amount = 80000000;
    f->res.issued_at = (char *)"2026-11-17T10:40:00+07:00";
    for (size_t i = 0; i < 3; i++) {
        lienthong__v1__result__data_entry__init(&f->rdata[i]);
        f->rdata[i].key = (char *)kv[i][0];
        f->rdata[i].value = (char *)kv[i][1];
        f->rdatap[i] = &f->rdata[i];
    }
    f->res.n_data = 3;
    f->res.data = f->rdatap;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);

    status_event(&f->ev1, &f->st1, "MC-20261110-0001", "H26.1.2",
                 LIENTHONG__V1__STATUS__REGISTERED);
    lienthong__v1__applicant__init(&f->applicant);
    f->applicant.id_number = (char *)"079185001234";
    f->applicant.name = (char *)"Nguyễn Văn An";
    f->applicant.has_kind = 1;
    f->applicant.kind = LIENTHONG__V1__APPLICANT_KIND__CITIZEN;
    f->st1.applicant = &f->applicant;
    f->st1.received_at = (char *)"2026-11-10T08:15:00+07:00";
    f->st1.due_at = (char *)"2026-11-24T17:00:00+07:00";
    f->st1.has_channel = 1;
    f->st1.channel = LIENTHONG__V1__CHANNEL__ONLINE;
    fill_data(f);

    status_event(&f->ev4, &f->st4, "VPDK-2026-88412-02", "VPDKDD-Q1",
                 LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED);
    f->ev4.occurred_at = (char *)"2026-11-13T15:30:00+07:00";
    f->st4.note = (char *)"Chuyển thông tin địa chính sang cơ quan thuế (phiếu chuyển 88412)";
    fill_result(f);

    lienthong__v1__stored_event__init(&f->se1);
    f->se1.sender = (char *)"motcua-soTNMT";
    f->se1.event = &f->ev1;
    lienthong__v1__stored_event__init(&f->se4);
    f->se4.sender = (char *)"vpdkdd-hcm";
    f->se4.event = &f->ev4;
    lienthong__v1__stored_event__init(&f->se5);
    f->se5.sender = (char *)"thue-hcm";
    f->se5.event = &f->ev5;

    lienthong__v1__dossier_state__init(&f->state);
    f->state.has_status = 1;
    f->state.status = LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED;
    f->state.has_received_at = 1;
    f->state.received_at = t("2026-11-10T08:15:00+07:00");
    f->state.has_due_at = 1;
    f->state.due_at = t("2026-11-24T17:00:00+07:00");
    f->state.procedure_code = (char *)"1.004227";

    f->in.agency = "tax";
    f->in.idempotency_key = KEY;
    f->in.attempt = 1;
    f->in.seq = 4;
    f->in.ev = &f->se4;
    f->in.first = &f->se1;
    f->in.state = &f->state;
    f->in.first_delivery = true;

    f->req = malloc(sizeof(*f->req));
    assert_non_null(f->req);
    lienthong__v1__link_request__init(f->req);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    lienthong__v1__link_request__free_unpacked(f->req, NULL);
    free(f);
    return 0;
}

static const lt_adapter *adapter(const char *name)
{
    const lt_adapter *a = lt_adapter_find(name);
    assert_non_null(a);
    return a;
}

/* Pack the built request (as the transport will) and read it back. */
static lt_link_request *round_trip(const lt_link_request *req)
{
    size_t len = lienthong__v1__link_request__get_packed_size(req);
    uint8_t *buf = malloc(len + 1);
    assert_non_null(buf);
    lienthong__v1__link_request__pack(req, buf);
    lt_link_request *back = lienthong__v1__link_request__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(back);
    return back;
}

/* --- registry --- */

static void registry_finds_the_three_agencies_and_nothing_else(void **state)
{
    (void)state;
    const char *const *names = lt_adapter_names();
    size_t n = 0;
    for (; names[n]; n++) {
        const lt_adapter *a = lt_adapter_find(names[n]);
        assert_non_null(a);
        assert_string_equal(a->name, names[n]);
        assert_non_null(a->build);
        assert_non_null(a->interpret);
    }
    assert_int_equal(n, 3);
    assert_non_null(lt_adapter_find("tax"));
    assert_non_null(lt_adapter_find("land"));
    assert_non_null(lt_adapter_find("portal"));
    assert_null(lt_adapter_find("Tax"));
    assert_null(lt_adapter_find(""));
    assert_null(lt_adapter_find(NULL));
}

/* --- tax --- */

static void tax_builds_the_transfer_from_the_first_event_and_this_one(void **state)
{
    fixture *f = *state;
    lt_diag d;
    assert_int_equal(adapter("tax")->build(&f->in, f->req, &d), 0);
    assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY_TAX_TRANSFER);

    lt_link_request *back = round_trip(f->req);
    const Lienthong__V1__TaxTransfer *tt = back->tax_transfer;
    assert_non_null(tt);
    assert_string_equal(tt->dossier_code, DOSSIER);
    assert_string_equal(tt->parcel_number, "125");
    assert_string_equal(tt->map_sheet, "34");
    assert_string_equal(tt->area_m2, "96.5");
    assert_string_equal(tt->address, "Phường Tân Định, Quận 1, TP. Hồ Chí Minh");
    assert_true(tt->has_transfer_price);
    assert_int_equal(tt->transfer_price, 3200000000LL);
    assert_string_equal(tt->received_at, "2026-11-10T08:15:00+07:00");
    assert_string_equal(tt->transfer_ref, f->st4.note);
    assert_int_equal(tt->n_parties, 1);
    assert_string_equal(tt->parties[0]->role, "transferor");
    assert_string_equal(tt->parties[0]->name, "Nguyễn Văn An");
    assert_string_equal(tt->parties[0]->id_number, "079185001234");
    lienthong__v1__link_request__free_unpacked(back, NULL);
}

static void tax_takes_the_transferee_and_corrections_from_the_data(void **state)
{
    fixture *f = *state;
    /* the transferee was registered with the dossier */
    lienthong__v1__dossier_status__data_entry__init(&f->data[5]);
    lienthong__v1__dossier_status__data_entry__init(&f->data[6]);
    f->data[5].key = (char *)"transferee_name";
    f->data[5].value = (char *)"Trần Thị Bình";
    f->data[6].key = (char *)"transferee_id_number";
    f->data[6].value = (char *)"079190004321";
    f->datap[5] = &f->data[5];
    f->datap[6] = &f->data[6];
    f->st1.n_data = 7;
    /* the land office corrects the price and names its slip */
    f->data4[0].key = (char *)"transfer_price_vnd";
    f->data4[0].value = (char *)"3500000000";
    f->data4[1].key = (char *)"transfer_ref";
    f->data4[1].value = (char *)"PC-88412";
    f->st4.n_data = 2;
    f->st4.data = f->data4p;

    lt_diag d;
    assert_int_equal(adapter("tax")->build(&f->in, f->req, &d), 0);
    const Lienthong__V1__TaxTransfer *tt = f->req->tax_transfer;
    assert_int_equal(tt->transfer_price, 3500000000LL);
    assert_string_equal(tt->transfer_ref, "PC-88412");
    assert_string_equal(tt->parcel_number, "125");
    assert_int_equal(tt->n_parties, 2);
    assert_string_equal(tt->parties[1]->role, "transferee");
    assert_string_equal(tt->parties[1]->name, "Trần Thị Bình");
    assert_string_equal(tt->parties[1]->id_number, "079190004321");
}

static void tax_has_nothing_to_send_for_other_events(void **state)
{
    fixture *f = *state;
    static const int statuses[] = { 1, 2, 3, 4, 5, 7, 8, 9, 10 };
    lt_diag d;

    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        f->st4.status = statuses[i];
        assert_int_equal(adapter("tax")->build(&f->in, f->req, &d), LT_ERR_NOT_FOUND);
        assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY__NOT_SET);
    }
    f->in.ev = &f->se5; /* a result */
    assert_int_equal(adapter("tax")->build(&f->in, f->req, &d), LT_ERR_NOT_FOUND);
    f->ev4.body_case = LIENTHONG__V1__EVENT__BODY__NOT_SET; /* no body at all */
    f->in.ev = &f->se4;
    assert_int_equal(adapter("tax")->build(&f->in, f->req, &d), LT_ERR_NOT_FOUND);
    assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY__NOT_SET);
}

typedef struct price_case {
    const char *value; /* NULL: key absent */
    const char *says;
} price_case;

static void tax_without_a_usable_price_is_a_dead_letter_naming_dossier_and_field(void **state)
{
    fixture *f = *state;
    static const price_case cases[] = {
        { NULL, "no transfer_price_vnd" },
        { "", "no transfer_price_vnd" },
        { "3,2 tỷ", "not a whole number" },
        { "3200000000.5", "not a whole number" },
        { "-5", "not a whole number" },
        { " 100", "not a whole number" },
        { "99999999999999999999", "not a whole number" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lt_diag d;
        lt_diag_clear(&d);
        if (cases[i].value) {
            f->data[4].value = (char *)cases[i].value;
            f->st1.n_data = 5;
        } else {
            f->st1.n_data = 4; /* drops transfer_price_vnd */
        }
        int r = adapter("tax")->build(&f->in, f->req, &d);
        if (r != LT_ERR_INVALID)
            fail_msg("case %zu (%s): build returned %d", i, cases[i].value, r);
        assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY__NOT_SET);
        assert_non_null(strstr(d.message, DOSSIER));
        assert_non_null(strstr(d.message, cases[i].says));
        assert_string_equal(d.field, "status.data.transfer_price_vnd");
    }
}

/* --- land --- */

static void land_sends_every_event_as_a_deep_copy_with_its_sender(void **state)
{
    fixture *f = *state;
    const lt_stored_event *events[] = { &f->se1, &f->se4, &f->se5 };
    lt_diag d;

    f->in.agency = "land";
    for (size_t i = 0; i < 3; i++) {
        lt_link_request *req = calloc(1, sizeof(*req));
        assert_non_null(req);
        lienthong__v1__link_request__init(req);
        f->in.ev = events[i];
        assert_int_equal(adapter("land")->build(&f->in, req, &d), 0);
        assert_int_equal(req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY_LAND_TASK);
        const Lienthong__V1__LandTask *task = req->land_task;
        assert_string_equal(task->sender, events[i]->sender);
        assert_ptr_not_equal(task->event, events[i]->event);
        assert_ptr_not_equal(task->event->dossier_code, events[i]->event->dossier_code);

        /* byte-for-byte the stored event */
        size_t a = lienthong__v1__event__get_packed_size(events[i]->event);
        size_t b = lienthong__v1__event__get_packed_size(task->event);
        assert_int_equal(a, b);
        uint8_t *pa = malloc(a), *pb = malloc(b);
        assert_non_null(pa);
        assert_non_null(pb);
        lienthong__v1__event__pack(events[i]->event, pa);
        lienthong__v1__event__pack(task->event, pb);
        assert_memory_equal(pa, pb, a);
        free(pa);
        free(pb);
        lienthong__v1__link_request__free_unpacked(req, NULL);
    }
}

static void land_refuses_an_entry_without_an_event(void **state)
{
    fixture *f = *state;
    lt_stored_event empty = LIENTHONG__V1__STORED_EVENT__INIT;
    lt_diag d;
    f->in.ev = &empty;
    assert_int_equal(adapter("land")->build(&f->in, f->req, &d), LT_ERR_INVALID);
    assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY__NOT_SET);
}

/* --- portal --- */

static bool packed_contains(const lt_link_request *req, const char *s)
{
    size_t len = lienthong__v1__link_request__get_packed_size(req);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    lienthong__v1__link_request__pack(req, buf);
    bool found = memmem(buf, len, s, strlen(s)) != NULL;
    free(buf);
    return found;
}

static void portal_syncs_the_first_status_without_the_id_number(void **state)
{
    fixture *f = *state;
    lt_diag d;

    f->in.agency = "portal";
    f->in.ev = &f->se1;
    f->state.status = LIENTHONG__V1__STATUS__REGISTERED;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    assert_int_equal(f->req->body_case, LIENTHONG__V1__LINK_REQUEST__BODY_PORTAL_SYNC);
    const Lienthong__V1__PortalSync *ps = f->req->portal_sync;
    assert_string_equal(ps->dossier_code, DOSSIER);
    assert_string_equal(ps->procedure_code, "1.004227");
    assert_string_equal(ps->agency_code, "H26.1.2");
    assert_true(ps->has_status);
    assert_int_equal(ps->status, LIENTHONG__V1__STATUS__REGISTERED);
    assert_string_equal(ps->received_at, "2026-11-10T01:15:00Z");
    assert_string_equal(ps->due_at, "2026-11-24T10:00:00Z");
    assert_null(ps->finished_at);
    assert_null(ps->returned_at);
    assert_string_equal(ps->applicant_name, "Nguyễn Văn An");
    assert_int_equal(ps->applicant_kind, LIENTHONG__V1__APPLICANT_KIND__CITIZEN);
    assert_true(ps->has_channel);
    assert_int_equal(ps->channel, LIENTHONG__V1__CHANNEL__ONLINE);
    assert_true(ps->has_first_sync);
    assert_true(ps->first_sync);
    assert_null(ps->result);
    assert_false(packed_contains(f->req, "079185001234"));
}

static void portal_takes_times_from_the_state_as_utc(void **state)
{
    fixture *f = *state;
    lt_diag d;

    f->state.due_at = t("2026-11-27T17:00:00+07:00"); /* moved by a later event */

    f->in.ev = &f->se4;
    f->in.first_delivery = false;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    const Lienthong__V1__PortalSync *ps = f->req->portal_sync;
    assert_int_equal(ps->status, LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED);
    assert_string_equal(ps->received_at, "2026-11-10T01:15:00Z");
    assert_string_equal(ps->due_at, "2026-11-27T10:00:00Z");
    assert_string_equal(ps->note, f->st4.note);
    assert_string_equal(ps->applicant_name, "Nguyễn Văn An");
    assert_true(ps->has_first_sync);
    assert_false(ps->first_sync);
    assert_false(packed_contains(f->req, "079185001234"));
}

static void portal_never_sends_a_later_fact_with_an_earlier_status(void **state)
{
    fixture *f = *state;
    lt_diag d;

    /* the state moved on to RESULT_RETURNED while event 4 waited */
    f->state.status = LIENTHONG__V1__STATUS__RESULT_RETURNED;
    f->state.has_finished_at = 1;
    f->state.finished_at = t("2026-11-23T16:00:00+07:00");
    f->state.has_returned_at = 1;
    f->state.returned_at = t("2026-11-24T09:00:00+07:00");
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    assert_int_equal(f->req->portal_sync->status, LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED);
    assert_null(f->req->portal_sync->finished_at);
    assert_null(f->req->portal_sync->returned_at);
    lienthong__v1__link_request__free_unpacked(f->req, NULL);

    /* PROCESSED carries finished_at but not yet returned_at */
    f->req = calloc(1, sizeof(*f->req));
    assert_non_null(f->req);
    lienthong__v1__link_request__init(f->req);
    f->st4.status = LIENTHONG__V1__STATUS__PROCESSED;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    assert_string_equal(f->req->portal_sync->finished_at, "2026-11-23T09:00:00Z");
    assert_null(f->req->portal_sync->returned_at);
}

static void portal_carries_the_result_of_a_result_event(void **state)
{
    fixture *f = *state;
    lt_diag d;

    f->in.ev = &f->se5;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    const Lienthong__V1__PortalSync *ps = f->req->portal_sync;
    assert_false(ps->has_status);
    assert_string_equal(ps->agency_code, "CCT-Q1");
    assert_non_null(ps->result);
    assert_ptr_not_equal(ps->result, &f->res);
    assert_string_equal(ps->result->kind, "tax_notice");
    assert_string_equal(ps->result->reference, "TB-0045517/TB-CCT");
    assert_int_equal(ps->result->amount, 80000000);
    assert_int_equal(ps->result->n_data, 3);
    assert_null(ps->note);

    lt_link_request *back = round_trip(f->req);
    assert_string_equal(back->portal_sync->result->issued_at, "2026-11-17T10:40:00+07:00");
    lienthong__v1__link_request__free_unpacked(back, NULL);
}

/* A result carries the dossier's status at its seq (status_before, from the store), and only
 * the times that status implies, even when the current state is further on. */
static void portal_result_carries_the_status_at_its_seq(void **state)
{
    fixture *f = *state;
    lt_diag d;

    f->in.ev = &f->se5;
    f->in.status_before = LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED;
    f->state.has_finished_at = 1;
    f->state.finished_at = t("2026-11-23T16:00:00+07:00");
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    const Lienthong__V1__PortalSync *ps = f->req->portal_sync;
    assert_true(ps->has_status);
    assert_int_equal(ps->status, LIENTHONG__V1__STATUS__OBLIGATION_REQUESTED);
    assert_non_null(ps->result);
    assert_null(ps->finished_at);
    assert_null(ps->returned_at);
    lienthong__v1__link_request__free_unpacked(f->req, NULL);

    f->req = calloc(1, sizeof(*f->req));
    assert_non_null(f->req);
    lienthong__v1__link_request__init(f->req);
    f->in.status_before = LIENTHONG__V1__STATUS__PROCESSED;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    assert_int_equal(f->req->portal_sync->status, LIENTHONG__V1__STATUS__PROCESSED);
    assert_string_equal(f->req->portal_sync->finished_at, "2026-11-23T09:00:00Z");
}

/* Every sync carries what the dossier holds so far: its files (each once, by
 * sha256, in order) and its results (a later status must not wipe the fee), but
 * never the daemon's own delivery_failed bounce; and the applicant's contact. */
static void portal_carries_the_dossiers_files_and_results_so_far(void **state)
{
    fixture *f = *state;
    lt_diag d;
    Lienthong__V1__Attachment att[3];
    Lienthong__V1__Attachment *a1[2] = { &att[0], &att[1] }, *a4[2] = { &att[2], &att[0] };
    Lienthong__V1__Result bounce = LIENTHONG__V1__RESULT__INIT;
    lt_event evb = LIENTHONG__V1__EVENT__INIT;
    lt_stored_event seb = LIENTHONG__V1__STORED_EVENT__INIT;
    Lienthong__V1__DossierStatus st9;
    lt_event ev9;
    lt_stored_event se9 = LIENTHONG__V1__STORED_EVENT__INIT;
    static const char *const names[] = { "don.pdf", "hopdong.pdf", "tokhai.pdf" };
    static const char *const sums[] = {
        "1111111111111111111111111111111111111111111111111111111111111111",
        "2222222222222222222222222222222222222222222222222222222222222222",
        "3333333333333333333333333333333333333333333333333333333333333333",
    };

    for (int i = 0; i < 3; i++) {
        lienthong__v1__attachment__init(&att[i]);
        att[i].name = (char *)names[i];
        att[i].sha256 = (char *)sums[i];
        att[i].uri = (char *)names[i];
    }
    f->applicant.phone = (char *)"+84912345678";
    f->applicant.email = (char *)"an.nguyen@example.vn";
    f->st1.n_attachments = 2;
    f->st1.attachments = a1;
    f->st4.n_attachments = 2; /* a new file and don.pdf again */
    f->st4.attachments = a4;
    bounce.kind = (char *)"delivery_failed";
    bounce.reference = (char *)"tax";
    evb.dossier_code = (char *)DOSSIER;
    evb.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    evb.result = &bounce;
    seb.event = &evb;
    status_event(&ev9, &st9, "VPDK-09", "VPDKDD-Q1", LIENTHONG__V1__STATUS__PROCESSED);
    st9.finished_at = (char *)"2026-11-23T16:00:00+07:00";
    se9.event = &ev9;

    const lt_stored_event *hist[] = { &f->se1, &f->se4, &seb, &f->se5 };
    f->in.agency = "portal";
    f->in.ev = &se9;
    f->in.history = hist;
    f->in.n_history = 4;
    f->in.first_delivery = false;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    const Lienthong__V1__PortalSync *ps = f->req->portal_sync;
    assert_string_equal(ps->applicant_phone, "+84912345678");
    assert_string_equal(ps->applicant_email, "an.nguyen@example.vn");
    assert_null(ps->result); /* a status sync: still a progress step */
    assert_int_equal(ps->n_attachments, 3);
    assert_string_equal(ps->attachments[0]->name, "don.pdf");
    assert_string_equal(ps->attachments[1]->name, "hopdong.pdf");
    assert_string_equal(ps->attachments[2]->name, "tokhai.pdf");
    assert_string_equal(ps->attachments[2]->sha256, sums[2]);
    assert_int_equal(ps->n_results, 1);
    assert_string_equal(ps->results[0]->kind, "tax_notice");
    assert_int_equal(ps->results[0]->amount, 80000000);
    assert_false(packed_contains(f->req, "delivery_failed"));
    assert_false(packed_contains(f->req, "079185001234"));
    lienthong__v1__link_request__free_unpacked(f->req, NULL);

    /* the result event itself is in results (last) as well as in result */
    f->req = calloc(1, sizeof(*f->req));
    assert_non_null(f->req);
    lienthong__v1__link_request__init(f->req);
    f->in.ev = &f->se5;
    f->in.n_history = 3;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    ps = f->req->portal_sync;
    assert_non_null(ps->result);
    assert_int_equal(ps->n_results, 1);
    assert_string_equal(ps->results[0]->reference, "TB-0045517/TB-CCT");
    assert_int_equal(ps->n_attachments, 3);
    lienthong__v1__link_request__free_unpacked(f->req, NULL);

    /* without history (the dossier's first event): its own files only */
    f->req = calloc(1, sizeof(*f->req));
    assert_non_null(f->req);
    lienthong__v1__link_request__init(f->req);
    f->in.ev = &f->se1;
    f->in.history = NULL;
    f->in.n_history = 0;
    assert_int_equal(adapter("portal")->build(&f->in, f->req, &d), 0);
    assert_int_equal(f->req->portal_sync->n_attachments, 2);
    assert_int_equal(f->req->portal_sync->n_results, 0);
}

static void every_adapter_accepts_an_event_without_a_body(void **state)
{
    fixture *f = *state;
    static const char *const names[] = { "tax", "land", "portal" };
    static const int want[] = { LT_ERR_NOT_FOUND, 0, 0 };
    lt_event bare = LIENTHONG__V1__EVENT__INIT;
    lt_stored_event se = LIENTHONG__V1__STORED_EVENT__INIT;
    bare.event_id = (char *)"X-1";
    bare.dossier_code = (char *)DOSSIER;
    se.event = &bare;

    f->in.ev = &se;
    f->in.first = &se;
    f->in.state = NULL;
    for (size_t i = 0; i < 3; i++) {
        lt_link_request *req = calloc(1, sizeof(*req));
        assert_non_null(req);
        lienthong__v1__link_request__init(req);
        lt_diag d;
        assert_int_equal(adapter(names[i])->build(&f->in, req, &d), want[i]);
        lienthong__v1__link_request__free_unpacked(req, NULL);
    }
}

/* --- interpret --- */

typedef struct reply_case {
    const char *name;
    bool has_outcome;
    int outcome;
    const char *key;
    const char *message;
    uint32_t retry_after; /* 0 = absent */
    lt_link_status want;
    const char *want_message; /* substring */
    uint32_t want_retry_after;
    uint32_t version; /* 0 = absent */
} reply_case;

static const reply_case reply_cases[] = {
    { "ok", true, 1, KEY, "đã tiếp nhận", 0, LT_LINK_OK, "đã tiếp nhận", 0, 0 },
    { "ok without message", true, 1, KEY, NULL, 0, LT_LINK_OK, "", 0, 0 },
    { "retry later with hint", true, 2, KEY, "busy", 30, LT_LINK_RETRY, "busy", 30, 0 },
    { "permanent", true, 3, KEY, "thửa đất không tồn tại", 0, LT_LINK_PERMANENT, "thửa", 0, 0 },
    { "no outcome", false, 0, KEY, "hello", 0, LT_LINK_RETRY, "no outcome", 0, 0 },
    { "unspecified outcome", true, 0, KEY, NULL, 0, LT_LINK_RETRY, "no outcome", 0, 0 },
    { "unknown outcome", true, 9, KEY, NULL, 0, LT_LINK_RETRY, "unknown outcome 9", 0, 0 },
    { "another key", true, 1, "tax/OTHER/1", "ok", 0, LT_LINK_RETRY, "another idempotency key", 0,
      0 },
    { "no key", true, 1, NULL, "ok", 0, LT_LINK_RETRY, "does not echo", 0, 0 },
    { "version 2", true, 1, KEY, "ok", 0, LT_LINK_RETRY, "unsupported version 2", 0, 2 },
};

/* The LinkReply a case describes (borrows from c). */
static lt_link_reply reply_of(const reply_case *c)
{
    lt_link_reply rep = LIENTHONG__V1__LINK_REPLY__INIT;
    rep.has_outcome = c->has_outcome;
    rep.outcome = c->outcome;
    rep.idempotency_key = (char *)c->key;
    rep.message = (char *)c->message;
    rep.has_retry_after_s = c->retry_after != 0;
    rep.retry_after_s = c->retry_after;
    rep.has_version = c->version != 0;
    rep.version = c->version;
    return rep;
}

static void interpret_common_maps_every_outcome(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const reply_case *c = &reply_cases[i];
        lt_link_reply rep = reply_of(c);
        lt_link_outcome out;
        memset(&out, 0x5a, sizeof(out));
        lt_adapter_interpret_common(KEY, &rep, &out);
        if (out.status != c->want || !strstr(out.message, c->want_message) ||
            out.retry_after_s != c->want_retry_after || out.result)
            fail_msg("case '%s': status %d message '%s' retry_after %u", c->name, out.status,
                     out.message, out.retry_after_s);
    }
    lt_link_outcome out;
    lt_adapter_interpret_common(KEY, NULL, &out);
    assert_int_equal(out.status, LT_LINK_RETRY);
}

static void interpret_common_passes_a_result_only_with_the_right_key(void **state)
{
    fixture *f = *state;
    lt_link_reply rep = LIENTHONG__V1__LINK_REPLY__INIT;
    lt_link_outcome out;
    rep.has_outcome = 1;
    rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__OK;
    rep.idempotency_key = (char *)KEY;
    rep.result = &f->ev5;
    lt_adapter_interpret_common(KEY, &rep, &out);
    assert_int_equal(out.status, LT_LINK_OK);
    assert_ptr_equal(out.result, &f->ev5);

    rep.idempotency_key = (char *)"tax/other";
    lt_adapter_interpret_common(KEY, &rep, &out);
    assert_int_equal(out.status, LT_LINK_RETRY);
    assert_null(out.result);
}

static void every_adapter_reads_plain_outcomes_alike(void **state)
{
    fixture *f = *state;
    static const char *const names[] = { "tax", "land", "portal" };
    for (size_t n = 0; n < 3; n++) {
        for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
            const reply_case *c = &reply_cases[i];
            lt_link_reply rep = reply_of(c);
            lt_link_outcome out;
            adapter(names[n])->interpret(&f->in, &rep, &out);
            if (out.status != c->want)
                fail_msg("%s, case '%s': status %d", names[n], c->name, out.status);
        }
    }
}

typedef struct tax_result_case {
    const char *name;
    void (*spoil)(fixture *f);
    lt_link_status want;
    const char *want_message;
} tax_result_case;

static void spoil_nothing(fixture *f)
{
    (void)f;
}
static void spoil_kind(fixture *f)
{
    f->res.kind = (char *)"certificate";
}
static void spoil_no_kind(fixture *f)
{
    f->res.kind = NULL;
}
static void spoil_amount(fixture *f)
{
    f->res.has_amount = 0;
}
static void spoil_negative(fixture *f)
{
    f->res.amount = -1;
}
static void spoil_body(fixture *f)
{
    f->ev5.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    f->ev5.status = &f->st4;
}
static void spoil_dossier(fixture *f)
{
    f->ev5.dossier_code = (char *)"H26.1.2-261110-0002";
}

static void tax_takes_only_a_tax_notice_with_an_amount(void **state)
{
    fixture *f = *state;
    static const tax_result_case cases[] = {
        { "good notice", spoil_nothing, LT_LINK_OK, "" },
        { "other kind", spoil_kind, LT_LINK_RETRY, "not a tax_notice" },
        { "no kind", spoil_no_kind, LT_LINK_RETRY, "not a tax_notice" },
        { "no amount", spoil_amount, LT_LINK_RETRY, "without an amount" },
        { "negative amount", spoil_negative, LT_LINK_RETRY, "negative amount" },
        { "status body", spoil_body, LT_LINK_RETRY, "without a result body" },
        { "other dossier", spoil_dossier, LT_LINK_RETRY, "another dossier" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        teardown(state);
        setup(state);
        f = *state;
        cases[i].spoil(f);
        lt_link_reply rep = LIENTHONG__V1__LINK_REPLY__INIT;
        lt_link_outcome out;
        rep.has_outcome = 1;
        rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__OK;
        rep.idempotency_key = (char *)KEY;
        rep.result = &f->ev5;
        adapter("tax")->interpret(&f->in, &rep, &out);
        if (out.status != cases[i].want || !strstr(out.message, cases[i].want_message))
            fail_msg("case '%s': status %d message '%s'", cases[i].name, out.status, out.message);
        if (cases[i].want == LT_LINK_OK)
            assert_ptr_equal(out.result, &f->ev5);
        else
            assert_null(out.result);
    }
}

static void portal_ignores_a_result_and_says_so(void **state)
{
    fixture *f = *state;
    lt_link_reply rep = LIENTHONG__V1__LINK_REPLY__INIT;
    lt_link_outcome out;
    rep.has_outcome = 1;
    rep.outcome = LIENTHONG__V1__LINK_REPLY__OUTCOME__OK;
    rep.idempotency_key = (char *)KEY;
    rep.message = (char *)"synced";
    rep.result = &f->ev5;
    adapter("portal")->interpret(&f->in, &rep, &out);
    assert_int_equal(out.status, LT_LINK_OK);
    assert_null(out.result);
    assert_non_null(strstr(out.message, "synced"));
    assert_non_null(strstr(out.message, "result ignored"));

    adapter("land")->interpret(&f->in, &rep, &out);
    assert_int_equal(out.status, LT_LINK_OK);
    assert_ptr_equal(out.result, &f->ev5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_finds_the_three_agencies_and_nothing_else),
        T(tax_builds_the_transfer_from_the_first_event_and_this_one),
        T(tax_takes_the_transferee_and_corrections_from_the_data),
        T(tax_has_nothing_to_send_for_other_events),
        T(tax_without_a_usable_price_is_a_dead_letter_naming_dossier_and_field),
        T(land_sends_every_event_as_a_deep_copy_with_its_sender),
        T(land_refuses_an_entry_without_an_event),
        T(portal_syncs_the_first_status_without_the_id_number),
        T(portal_takes_times_from_the_state_as_utc),
        T(portal_never_sends_a_later_fact_with_an_earlier_status),
        T(portal_carries_the_result_of_a_result_event),
        T(portal_result_carries_the_status_at_its_seq),
        T(portal_carries_the_dossiers_files_and_results_so_far),
        T(every_adapter_accepts_an_event_without_a_body),
        cmocka_unit_test(interpret_common_maps_every_outcome),
        T(interpret_common_passes_a_result_only_with_the_right_key),
        T(every_adapter_reads_plain_outcomes_alike),
        T(tax_takes_only_a_tax_notice_with_an_amount),
        T(portal_ignores_a_result_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
