/* test_portal_json.c - the national portal's dialect: dates in UTC+7, the
 * data-quality gate and code mappings, the bodies sent and the reading of
 * answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "portal_json.h"

#define NOW 1794000000 /* 2026-11-07T... UTC */

static char *proc_map[] = { "DD-CN", "1.004227" };
static char *unit_map[] = { "vpdkdd-hcm", "000.30.30.H29" };
static char *sess_codes[] = { "-1" };

static lt_config_agency agency(void)
{
    lt_config_agency a = { 0 };
    a.name = "portal";
    a.username = "u";
    a.madonvi = "000.00.00.H29";
    a.service = "lienthong";
    a.procedure_map = proc_map;
    a.n_procedure_map = 1;
    a.unit_map = unit_map;
    a.n_unit_map = 1;
    a.session_codes = sess_codes;
    a.n_session_codes = 1;
    return a;
}

static Lienthong__V1__PortalSync sync_of(int status, const char *rec, const char *fin)
{
    Lienthong__V1__PortalSync ps = LIENTHONG__V1__PORTAL_SYNC__INIT;
    ps.dossier_code = "H29.1-0001";
    ps.procedure_code = "DD-CN";
    ps.agency_code = "vpdkdd-hcm";
    if (status) {
        ps.has_status = 1;
        ps.status = (Lienthong__V1__Status)status;
    }
    ps.received_at = (char *)rec;
    ps.finished_at = (char *)fin;
    return ps;
}

static void dates_are_utc_plus_7_without_separators(void **state)
{
    (void)state;
    char buf[LT_PORTAL_DATE_LEN];
    lt_portal_date(0, buf, sizeof(buf));
    assert_string_equal(buf, "19700101070000");
    lt_portal_date(1794000000 - 1794000000 % 86400 + 17 * 3600, buf, sizeof(buf));
    assert_string_equal(buf + 8, "000000"); /* 17:00 UTC is midnight in Hanoi */
}

static void gate_refuses_each_data_quality_fault_with_its_reason(void **state)
{
    (void)state;
    lt_config_agency a = agency();
    static const struct {
        int status;
        const char *rec, *fin, *proc, *unit, *want;
    } cases[] = {
        { 2, NULL, NULL, "DD-CN", NULL, "received time missing" },
        { 2, "2099-01-01T00:00:00Z", NULL, "DD-CN", NULL, "in the future" },
        { 9, "2026-11-01T00:00:00Z", "2099-01-01T00:00:00Z", "DD-CN", NULL, "in the future" },
        { 9, "2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z", "DD-CN", NULL,
          "finished or returned before it was received" },
        { 9, "2026-11-01T00:00:00Z", NULL, "DD-CN", NULL, "without a finish time" },
        { 10, "2026-11-01T00:00:00Z", NULL, "DD-CN", NULL, "without a finish time" },
        { 2, "2026-11-01T00:00:00Z", NULL, "XX-9", NULL,
          "dossier H29.1-0001: procedure code \"XX-9\" has no national MaTTHC" },
        { 2, "2026-11-01T00:00:00Z", NULL, "DD-CN", "ubnd-q9",
          "dossier H29.1-0001: agency code \"ubnd-q9\" has no national unit code" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Lienthong__V1__PortalSync ps = sync_of(cases[i].status, cases[i].rec, cases[i].fin);
        ps.procedure_code = (char *)cases[i].proc;
        if (cases[i].unit)
            ps.agency_code = (char *)cases[i].unit;
        lt_diag d;
        lt_diag_clear(&d);
        assert_int_equal(lt_portal_check(&a, &ps, NOW, &d), LT_ERR_INVALID);
        if (!strstr(d.message, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.message, cases[i].want);
    }
    Lienthong__V1__PortalSync ok = sync_of(9, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
    lt_diag d;
    assert_int_equal(lt_portal_check(&a, &ok, NOW, &d), 0);
    /* empty maps pass codes through: they are national already */
    a.n_procedure_map = 0;
    a.n_unit_map = 0;
    ok.procedure_code = "1.000045";
    ok.agency_code = "anything";
    assert_int_equal(lt_portal_check(&a, &ok, NOW, &d), 0);
}

static json_object *parse_data(const char *body, json_object **root)
{
    *root = json_tokener_parse(body);
    assert_non_null(*root);
    json_object *list, *d;
    assert_true(json_object_object_get_ex(*root, "data", &list));
    assert_int_equal(json_object_array_length(list), 1);
    d = json_object_array_get_idx(list, 0);
    return d;
}

static const char *field(json_object *o, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v))
        fail_msg("no field %s", k);
    return json_object_get_string(v);
}

static void sync_body_maps_codes_dates_and_isupdating(void **state)
{
    (void)state;
    lt_config_agency a = agency();
    Lienthong__V1__PortalSync ps = sync_of(2, "2026-11-10T01:15:00Z", NULL);
    ps.due_at = "2026-11-24T10:00:00Z";
    ps.has_first_sync = 1;
    ps.first_sync = 1;
    ps.applicant_name = "Nguyễn Văn \"A\"";
    char *body = NULL, sum[300];
    assert_int_equal(lt_portal_sync_body(&a, "S1", &ps, &body, sum, sizeof(sum)), 0);
    json_object *root, *d = parse_data(body, &root);
    assert_string_equal(field(root, "session"), "S1");
    assert_string_equal(field(root, "madonvi"), "000.00.00.H29");
    assert_string_equal(field(root, "service"), "lienthong");
    assert_string_equal(field(root, "isUpdating"), "False");
    assert_string_equal(field(d, "MaHoSo"), "H29.1-0001");
    assert_string_equal(field(d, "MaTTHC"), "1.004227");
    assert_string_equal(field(d, "NgayTiepNhan"), "20261110081500");
    assert_string_equal(field(d, "NgayHenTra"), "20261124170000");
    assert_string_equal(field(d, "TrangThaiHoSo"), "2");
    assert_string_equal(field(d, "DonViXuLy"), "000.30.30.H29");
    assert_string_equal(field(d, "ChuHoSo"), "Nguyễn Văn \"A\"");
    assert_non_null(strstr(sum, "isUpdating=False"));
    json_object_put(root);
    free(body);

    ps.first_sync = 0;
    assert_int_equal(lt_portal_sync_body(&a, "S1", &ps, &body, sum, sizeof(sum)), 0);
    d = parse_data(body, &root);
    assert_string_equal(field(root, "isUpdating"), "True");
    json_object_put(root);
    free(body);

    assert_int_equal(lt_portal_progress_body(&a, "S1", &ps, NOW, &body, sum, sizeof(sum)), 0);
    d = parse_data(body, &root);
    assert_string_equal(field(d, "TrangThai"), "2");
    assert_string_equal(field(d, "ThoiDiemXuLy"), "20261110081500"); /* accepted: received */
    assert_string_equal(field(d, "NgayKetThucTheoQuyDinh"), "20261124170000");
    json_object_put(root);
    free(body);

    ps.has_status = 0; /* a result: no progress step */
    assert_int_equal(lt_portal_progress_body(&a, "S1", &ps, NOW, &body, sum, sizeof(sum)),
                     LT_ERR_NOT_FOUND);
}

/* The list d[key], checked to hold n items. */
static json_object *list(json_object *d, const char *key, size_t n)
{
    json_object *v;
    if (!json_object_object_get_ex(d, key, &v) || !json_object_is_type(v, json_type_array))
        fail_msg("no list %s", key);
    assert_int_equal(json_object_array_length(v), n);
    return v;
}

/* Every DongBoHoSoMC field carries the dossier's data: the procedure's names
 * from the config, the applicant's contact, the files submitted, and the fees
 * and result documents of every result so far (not only this event's). */
static void sync_body_carries_names_contacts_files_fees_and_documents(void **state)
{
    (void)state;
    static char *info[] = { "Chuyển nhượng quyền sử dụng đất", "G09-TN05", "Đất đai" };
    lt_config_agency a = agency();
    a.procedure_info = info;
    Lienthong__V1__PortalSync ps = sync_of(9, "2026-11-10T01:15:00Z", "2026-11-23T09:00:00Z");
    ps.applicant_phone = "+84912345678";
    ps.applicant_email = "an.nguyen@example.vn";
    Lienthong__V1__Attachment f1 = LIENTHONG__V1__ATTACHMENT__INIT, f2 = f1;
    f1.name = "don.pdf";
    f1.sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
    f1.uri = "https://files.example.vn/don.pdf";
    f2.name = "hopdong.pdf"; /* no sha256, no uri */
    Lienthong__V1__Attachment *files[] = { &f1, &f2 };
    ps.n_attachments = 2;
    ps.attachments = files;
    Lienthong__V1__Result fee = LIENTHONG__V1__RESULT__INIT, cert = fee;
    fee.kind = "tax_notice";
    fee.reference = "TB-0045517";
    fee.has_amount = 1;
    fee.amount = 80000000;
    Lienthong__V1__Result__DataEntry url = LIENTHONG__V1__RESULT__DATA_ENTRY__INIT;
    Lienthong__V1__Result__DataEntry *urlp[] = { &url };
    url.key = "url";
    url.value = "https://files.example.vn/gcn.pdf";
    cert.kind = "certificate";
    cert.reference = "GCN-CS-2026-01234";
    cert.n_data = 1;
    cert.data = urlp;
    Lienthong__V1__Result *results[] = { &fee, &cert };
    ps.n_results = 2;
    ps.results = results;

    char *body = NULL, sum[300];
    assert_int_equal(lt_portal_sync_body(&a, "S1", &ps, &body, sum, sizeof(sum)), 0);
    json_object *root, *d = parse_data(body, &root);
    assert_string_equal(field(d, "MaTTHC"), "1.004227");
    assert_string_equal(field(d, "TenTTHC"), "Chuyển nhượng quyền sử dụng đất");
    assert_string_equal(field(d, "MaLinhVuc"), "G09-TN05");
    assert_string_equal(field(d, "TenLinhVuc"), "Đất đai");
    assert_string_equal(field(d, "SoDienThoai"), "+84912345678");
    assert_string_equal(field(d, "Email"), "an.nguyen@example.vn");
    assert_string_equal(field(d, "MaDoiTuong"), ""); /* the id number is never sent */
    /* a status sync after the certificate: ThongTinTra names the last document */
    assert_string_equal(field(d, "ThongTinTra"), "certificate GCN-CS-2026-01234");
    json_object *files_l = list(d, "TaiLieuNop", 2), *o = json_object_array_get_idx(files_l, 0);
    assert_string_equal(field(o, "TepDinhKemId"), f1.sha256);
    assert_string_equal(field(o, "TenTepDinhKem"), "don.pdf");
    assert_string_equal(field(o, "DuongDanTaiTepTin"), "https://files.example.vn/don.pdf");
    o = json_object_array_get_idx(files_l, 1);
    assert_string_equal(field(o, "TepDinhKemId"), "");
    assert_string_equal(field(o, "DuongDanTaiTepTin"), "");
    o = json_object_array_get_idx(list(d, "DanhSachLePhi", 1), 0);
    assert_string_equal(field(o, "TenPhiLePhi"), "tax_notice");
    assert_string_equal(field(o, "MaPhiLePhi"), "TB-0045517");
    assert_string_equal(field(o, "MucPhi"), "80000000");
    o = json_object_array_get_idx(list(d, "DanhSachGiayToKetQua", 1), 0);
    assert_string_equal(field(o, "TenGiayTo"), "certificate");
    assert_string_equal(field(o, "MaGiayTo"), "GCN-CS-2026-01234");
    assert_string_equal(field(o, "DuongDanTepTinKetQua"), "https://files.example.vn/gcn.pdf");
    json_object_put(root);
    free(body);

    /* this event's result wins ThongTinTra; a short map entry leaves the names empty */
    a.procedure_info = NULL;
    ps.result = &fee;
    assert_int_equal(lt_portal_sync_body(&a, "S1", &ps, &body, sum, sizeof(sum)), 0);
    d = parse_data(body, &root);
    assert_string_equal(field(d, "ThongTinTra"), "tax_notice TB-0045517");
    assert_string_equal(field(d, "TenTTHC"), "");
    assert_string_equal(field(d, "MaLinhVuc"), "");
    list(d, "DanhSachLePhi", 1);
    json_object_put(root);
    free(body);

    /* nothing yet: every list present and empty, contacts empty */
    Lienthong__V1__PortalSync bare = sync_of(2, "2026-11-10T01:15:00Z", NULL);
    assert_int_equal(lt_portal_sync_body(&a, "S1", &bare, &body, sum, sizeof(sum)), 0);
    d = parse_data(body, &root);
    assert_string_equal(field(d, "SoDienThoai"), "");
    assert_string_equal(field(d, "Email"), "");
    assert_string_equal(field(d, "ThongTinTra"), "");
    list(d, "TaiLieuNop", 0);
    list(d, "DanhSachLePhi", 0);
    list(d, "DanhSachGiayToKetQua", 0);
    json_object_put(root);
    free(body);
}

static void answers_are_classified_as_the_issue_says(void **state)
{
    (void)state;
    lt_config_agency a = agency();
    static const struct {
        bool login;
        long http;
        const char *body;
        lt_portal_class want;
    } cases[] = {
        { false, 0, NULL, LT_PORTAL_RETRY },
        { false, 503, "", LT_PORTAL_RETRY },
        { false, 429, "", LT_PORTAL_RETRY },
        { false, 200, "<html>", LT_PORTAL_RETRY },
        { false, 400, "{\"error_code\":\"05\"}", LT_PORTAL_PERMANENT },
        { false, 401, "", LT_PORTAL_SESSION },
        { false, 200, "{\"error_code\":\"-1\",\"message\":\"het phien\"}", LT_PORTAL_SESSION },
        { false, 200, "{\"error_code\":\"05\",\"message\":\"MaTTHC sai\"}", LT_PORTAL_PERMANENT },
        { false, 200, "{\"error_code\":\"00\"}", LT_PORTAL_OK },
        { true, 200, "{\"error_code\":\"00\",\"session\":\"abc\"}", LT_PORTAL_OK },
        { true, 200, "{\"error_code\":\"00\"}", LT_PORTAL_AUTH },
        { true, 200, "{\"error_code\":\"01\",\"message\":\"sai mat khau\"}", LT_PORTAL_AUTH },
        { true, 401, "", LT_PORTAL_AUTH },
        { true, 502, "", LT_PORTAL_RETRY },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char session[64] = "", msg[256];
        lt_portal_class c =
            lt_portal_classify(&a, cases[i].login, cases[i].http, "Connection refused",
                               cases[i].body, cases[i].body ? strlen(cases[i].body) : 0, session,
                               sizeof(session), msg, sizeof(msg));
        if (c != cases[i].want)
            fail_msg("case %zu: class %d, want %d (%s)", i, c, cases[i].want, msg);
    }
    char session[64] = "", msg[256];
    const char *ans = "{\"error_code\":\"05\",\"message\":\"MaTTHC sai\"}";
    lt_portal_classify(&a, false, 200, NULL, ans, strlen(ans), session, sizeof(session), msg,
                       sizeof(msg));
    assert_string_equal(msg, "error_code 05: MaTTHC sai");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dates_are_utc_plus_7_without_separators),
        cmocka_unit_test(gate_refuses_each_data_quality_fault_with_its_reason),
        cmocka_unit_test(sync_body_maps_codes_dates_and_isupdating),
        cmocka_unit_test(sync_body_carries_names_contacts_files_fees_and_documents),
        cmocka_unit_test(answers_are_classified_as_the_issue_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
