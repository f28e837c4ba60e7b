/* portal_json.c - the national portal's dialect; see portal_json.h.
 *
 * JSON is written and read with json-c (Debian's libjson-c): the portal's
 * bodies are small and flat, json-c escapes every string we put in (an
 * applicant's name with quotes or Vietnamese letters cannot break a body) and
 * its tokener is bounded by the length we hand it.
 */
#include "portal_json.h"

#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define VN_OFFSET_S (7 * 3600) /* Asia/Ho_Chi_Minh: UTC+7 all year */

void lt_portal_date(int64_t sec, char *buf, size_t size)
{
    time_t t = (time_t)(sec + VN_OFFSET_S);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, size, "%Y%m%d%H%M%S", &tm) == 0 && size)
        buf[0] = '\0';
}

/* A PortalSync time as Unix seconds; false when absent or unparsable. */
static bool sync_time(const char *s, int64_t *ret)
{
    return s && s[0] && lt_time_parse(s, ret) == 0;
}

/* The portal date of an RFC 3339 time, "" when absent. */
static const char *date_of(const char *s, char *buf, size_t size)
{
    int64_t sec;

    buf[0] = '\0';
    if (sync_time(s, &sec))
        lt_portal_date(sec, buf, size);
    return buf;
}

int lt_portal_status(const Lienthong__V1__PortalSync *ps)
{
    if (ps->has_status && ps->status >= 1 && ps->status <= 10)
        return (int)ps->status;
    if (ps->returned_at && ps->returned_at[0])
        return LIENTHONG__V1__STATUS__RESULT_RETURNED;
    if (ps->finished_at && ps->finished_at[0])
        return LIENTHONG__V1__STATUS__PROCESSED;
    return LIENTHONG__V1__STATUS__IN_PROGRESS;
}

bool lt_portal_is_step(const Lienthong__V1__PortalSync *ps)
{
    return ps->has_status && !ps->result;
}

/* The national code for local in a map; an empty map passes codes through. */
static const char *mapped(char *const *pairs, size_t n, const char *local)
{
    if (n == 0)
        return local;
    return lt_config_map_get(pairs, n, local);
}

int lt_portal_check(const lt_config_agency *a, const Lienthong__V1__PortalSync *ps, int64_t now_s,
                    lt_diag *reterr)
{
    const char *code = ps->dossier_code ? ps->dossier_code : "(none)";
    int64_t rec, fin = 0, ret = 0;
    bool has_fin = sync_time(ps->finished_at, &fin), has_ret = sync_time(ps->returned_at, &ret);
    int st = lt_portal_status(ps);

    if (!ps->dossier_code || !ps->dossier_code[0])
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "MaHoSo", "dossier has no code");
    if (!sync_time(ps->received_at, &rec))
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "NgayTiepNhan",
                           "data quality: dossier %s: received time missing", code);
    if (rec > now_s + LT_PORTAL_FUTURE_S || (has_fin && fin > now_s + LT_PORTAL_FUTURE_S) ||
        (has_ret && ret > now_s + LT_PORTAL_FUTURE_S))
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "NgayTiepNhan",
                           "data quality: dossier %s: a received, finished or returned time is "
                           "in the future",
                           code);
    if ((has_fin && fin < rec) || (has_ret && ret < rec))
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "NgayKetThucXuLy",
                           "data quality: dossier %s: finished or returned before it was received",
                           code);
    if ((st == LIENTHONG__V1__STATUS__PROCESSED || st == LIENTHONG__V1__STATUS__RESULT_RETURNED) &&
        !has_fin)
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "NgayKetThucXuLy",
                           "data quality: dossier %s: status %d (finished) without a finish time",
                           code, st);
    if (!ps->procedure_code || !mapped(a->procedure_map, a->n_procedure_map, ps->procedure_code))
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "MaTTHC",
                           "mapping: dossier %s: procedure code \"%s\" has no national MaTTHC in "
                           "agencies.%s.procedure_map",
                           code, ps->procedure_code ? ps->procedure_code : "", a->name);
    if (ps->agency_code && ps->agency_code[0] &&
        !mapped(a->unit_map, a->n_unit_map, ps->agency_code))
        return lt_diag_set(reterr, LT_ERR_INVALID, 0, "DonViXuLy",
                           "mapping: dossier %s: agency code \"%s\" has no national unit code in "
                           "agencies.%s.unit_map",
                           code, ps->agency_code, a->name);
    return 0;
}

/* obj[key] = s ("" for NULL). Returns 0 or -ENOMEM. */
static int put(json_object *obj, const char *key, const char *s)
{
    json_object *v = json_object_new_string(s ? s : "");
    if (!v || json_object_object_add(obj, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

static int put_int(json_object *obj, const char *key, long long n)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", n);
    return put(obj, key, buf);
}

/* The common envelope: session (when given), madonvi, service. */
static json_object *envelope(const lt_config_agency *a, const char *session)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    if ((session && put(o, "session", session) < 0) || put(o, "madonvi", a->madonvi) < 0 ||
        (a->service && put(o, "service", a->service) < 0)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Serialise o into a malloc'd string and drop o. */
static int finish(json_object *o, char **ret)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    *ret = s ? strdup(s) : NULL;
    json_object_put(o);
    return *ret ? 0 : -ENOMEM;
}

int lt_portal_login_body(const lt_config_agency *a, const char *password, char **ret)
{
    json_object *o = envelope(a, NULL);
    if (!o || put(o, "username", a->username) < 0 || put(o, "password", password) < 0) {
        json_object_put(o);
        return -ENOMEM;
    }
    return finish(o, ret);
}

/* A result's data["url"], "" when none. */
static const char *url_of(const Lienthong__V1__Result *res)
{
    for (size_t i = 0; i < res->n_data; i++)
        if (res->data[i]->key && strcmp(res->data[i]->key, "url") == 0 && res->data[i]->value)
            return res->data[i]->value;
    return "";
}

/* A new object appended to list, or NULL (-ENOMEM). */
static json_object *add_item(json_object *list)
{
    json_object *o = json_object_new_object();
    if (o && json_object_array_add(list, o) < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* One result into the fee list (it has an amount) or the result documents. */
static int put_one_result(json_object *fees, json_object *docs, const Lienthong__V1__Result *res)
{
    json_object *o = add_item(res->has_amount ? fees : docs);

    if (!o)
        return -ENOMEM;
    if (res->has_amount)
        return put(o, "TenPhiLePhi", res->kind) < 0 || put(o, "MaPhiLePhi", res->reference) < 0 ||
                       put_int(o, "MucPhi", res->amount) < 0
                   ? -ENOMEM
                   : 0;
    return put(o, "TenGiayTo", res->kind) < 0 || put(o, "MaGiayTo", res->reference) < 0 ||
                   put(o, "DuongDanTepTinKetQua", url_of(res)) < 0
               ? -ENOMEM
               : 0;
}

/* The dossier's lists: its submitted files (TaiLieuNop), and from every
 * result so far its fees (a result with an amount: DanhSachLePhi) and result
 * documents (without: DanhSachGiayToKetQua). The portal's upsert replaces
 * these lists, so each sync carries them whole. Returns 0 or -ENOMEM. */
static int put_lists(json_object *d, const Lienthong__V1__PortalSync *ps)
{
    json_object *fees = json_object_new_array(), *docs = json_object_new_array();
    json_object *att = json_object_new_array();
    int r = -ENOMEM;

    if (!fees || !docs || !att)
        goto out;
    for (size_t i = 0; i < ps->n_attachments; i++) {
        const Lienthong__V1__Attachment *a = ps->attachments[i];
        json_object *o = add_item(att);
        if (!o || put(o, "TepDinhKemId", a->sha256) < 0 || put(o, "TenTepDinhKem", a->name) < 0 ||
            put(o, "DuongDanTaiTepTin", a->uri) < 0)
            goto out;
    }
    for (size_t i = 0; i < ps->n_results; i++)
        if (put_one_result(fees, docs, ps->results[i]) < 0)
            goto out;
    if (json_object_object_add(d, "TaiLieuNop", att) < 0)
        goto out;
    att = NULL;
    if (json_object_object_add(d, "DanhSachLePhi", fees) < 0)
        goto out;
    fees = NULL;
    if (json_object_object_add(d, "DanhSachGiayToKetQua", docs) < 0)
        goto out;
    docs = NULL;
    r = 0;
out:
    json_object_put(fees);
    json_object_put(docs);
    json_object_put(att);
    return r;
}

/* Wrap record d as the body's one-item "data" list, then serialise o into a
 * malloc'd string. Takes ownership of o and d. Returns 0 or -ENOMEM. */
static int finish_data(json_object *o, json_object *d, char **ret)
{
    json_object *list = json_object_new_array();
    if (!list || json_object_array_add(list, d) < 0) {
        json_object_put(list);
        json_object_put(d);
        json_object_put(o);
        return -ENOMEM;
    }
    if (json_object_object_add(o, "data", list) < 0) {
        json_object_put(list);
        json_object_put(o);
        return -ENOMEM;
    }
    return finish(o, ret);
}

/* The dossier's national unit code: the mapped agency code, else madonvi. */
static const char *unit_of(const lt_config_agency *a, const Lienthong__V1__PortalSync *ps)
{
    const char *u = NULL;
    if (ps->agency_code && ps->agency_code[0])
        u = mapped(a->unit_map, a->n_unit_map, ps->agency_code);
    return u ? u : a->madonvi;
}

/* What ThongTinTra tells: this event's result, else the dossier's last result
 * document (a result without an amount), else none. */
static const Lienthong__V1__Result *return_info(const Lienthong__V1__PortalSync *ps)
{
    if (ps->result)
        return ps->result;
    for (size_t i = ps->n_results; i > 0; i--)
        if (!ps->results[i - 1]->has_amount)
            return ps->results[i - 1];
    return NULL;
}

static int fill_dossier(json_object *d, const lt_config_agency *a,
                        const Lienthong__V1__PortalSync *ps)
{
    char rec[LT_PORTAL_DATE_LEN], due[LT_PORTAL_DATE_LEN], fin[LT_PORTAL_DATE_LEN];
    char ret[LT_PORTAL_DATE_LEN], info[300] = "";
    const Lienthong__V1__Result *res = return_info(ps);
    const char *proc[3]; /* TenTTHC, MaLinhVuc, TenLinhVuc */
    const char *code = lt_config_procedure_get(a, ps->procedure_code, proc);
    int kind =
        ps->has_applicant_kind && ps->applicant_kind == LIENTHONG__V1__APPLICANT_KIND__BUSINESS ? 2
                                                                                                : 1;
    int form = !ps->has_channel                                ? 1
               : ps->channel == LIENTHONG__V1__CHANNEL__ONLINE ? 2
               : ps->channel == LIENTHONG__V1__CHANNEL__POSTAL ? 3
                                                               : 1;

    if (res)
        snprintf(info, sizeof(info), "%s %s", res->kind ? res->kind : "",
                 res->reference ? res->reference : "");
    if (put(d, "MaHoSo", ps->dossier_code) < 0 || put(d, "MaTTHC", code) < 0 ||
        put(d, "TenTTHC", proc[0]) < 0 || put(d, "MaLinhVuc", proc[1]) < 0 ||
        put(d, "TenLinhVuc", proc[2]) < 0 || put(d, "SoBienNhan", ps->dossier_code) < 0 ||
        put(d, "ChuHoSo", ps->applicant_name) < 0 || put_int(d, "LoaiDoiTuong", kind) < 0 ||
        put(d, "MaDoiTuong", "") < 0 || put(d, "SoDienThoai", ps->applicant_phone) < 0 ||
        put(d, "Email", ps->applicant_email) < 0 || put(d, "TrichYeuHoSo", ps->note) < 0 ||
        put(d, "NgayTiepNhan", date_of(ps->received_at, rec, sizeof(rec))) < 0 ||
        put(d, "NgayHenTra", date_of(ps->due_at, due, sizeof(due))) < 0 ||
        put_int(d, "TrangThaiHoSo", lt_portal_status(ps)) < 0 ||
        put(d, "NgayTra", date_of(ps->returned_at, ret, sizeof(ret))) < 0 ||
        put(d, "ThongTinTra", info) < 0 || put_int(d, "HinhThuc", form) < 0 ||
        put(d, "NgayKetThucXuLy", date_of(ps->finished_at, fin, sizeof(fin))) < 0 ||
        put(d, "DonViXuLy", unit_of(a, ps)) < 0 || put(d, "GhiChu", ps->note) < 0)
        return -ENOMEM;
    return put_lists(d, ps);
}

int lt_portal_sync_body(const lt_config_agency *a, const char *session,
                        const Lienthong__V1__PortalSync *ps, char **ret, char *ret_summary,
                        size_t size)
{
    json_object *o = envelope(a, session), *d = json_object_new_object();
    bool updating = !(ps->has_first_sync && ps->first_sync);

    if (!o || !d || put(o, "isUpdating", updating ? "True" : "False") < 0 ||
        fill_dossier(d, a, ps) < 0) {
        json_object_put(d);
        json_object_put(o);
        return -ENOMEM;
    }
    snprintf(ret_summary, size, "DongBoHoSoMC(MaHoSo=%s isUpdating=%s TrangThaiHoSo=%d%s)",
             ps->dossier_code, updating ? "True" : "False", lt_portal_status(ps),
             ps->result ? " result" : "");
    return finish_data(o, d, ret);
}

/* When the step happened: the time this status implies, else at_s. */
static int64_t step_time(const Lienthong__V1__PortalSync *ps, int64_t at_s)
{
    int64_t t;
    int st = lt_portal_status(ps);

    if (st == LIENTHONG__V1__STATUS__RESULT_RETURNED && sync_time(ps->returned_at, &t))
        return t;
    if (st == LIENTHONG__V1__STATUS__PROCESSED && sync_time(ps->finished_at, &t))
        return t;
    if ((st == LIENTHONG__V1__STATUS__REGISTERED || st == LIENTHONG__V1__STATUS__ACCEPTED) &&
        sync_time(ps->received_at, &t))
        return t;
    return at_s;
}

int lt_portal_progress_body(const lt_config_agency *a, const char *session,
                            const Lienthong__V1__PortalSync *ps, int64_t at_s, char **ret,
                            char *ret_summary, size_t size)
{
    char when[LT_PORTAL_DATE_LEN], rec[LT_PORTAL_DATE_LEN], due[LT_PORTAL_DATE_LEN];
    char what[64];

    if (!lt_portal_is_step(ps))
        return LT_ERR_NOT_FOUND;
    json_object *o = envelope(a, session), *d = json_object_new_object();
    lt_portal_date(step_time(ps, at_s), when, sizeof(when));
    snprintf(what, sizeof(what), "status %d", (int)ps->status);
    if (!o || !d || put(d, "MaHoSo", ps->dossier_code) < 0 || put(d, "NguoiXuLy", "") < 0 ||
        put(d, "ChucDanh", "") < 0 || put(d, "ThoiDiemXuLy", when) < 0 ||
        put(d, "PhongBanXuLy", unit_of(a, ps)) < 0 ||
        put(d, "NoiDungXuLy", ps->note && ps->note[0] ? ps->note : what) < 0 ||
        put_int(d, "TrangThai", (int)ps->status) < 0 ||
        put(d, "NgayBatDau", date_of(ps->received_at, rec, sizeof(rec))) < 0 ||
        put(d, "NgayKetThucTheoQuyDinh", date_of(ps->due_at, due, sizeof(due))) < 0) {
        json_object_put(d);
        json_object_put(o);
        return -ENOMEM;
    }
    snprintf(ret_summary, size, "CapNhatTienDoHoSoMC(TrangThai=%d ThoiDiemXuLy=%s)",
             (int)ps->status, when);
    return finish_data(o, d, ret);
}

/* obj[key] as a string ("" when absent; numbers are written out). */
static const char *get_str(json_object *obj, const char *key)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
        return "";
    const char *s = json_object_get_string(v);
    return s ? s : "";
}

lt_portal_class lt_portal_classify(const lt_config_agency *a, bool is_login, long http_status,
                                   const char *curl_error, const char *body, size_t len,
                                   char *ret_session, size_t session_size, char *ret_msg,
                                   size_t msg_size)
{
    json_object *o = NULL;
    lt_portal_class c;

    if (http_status == 0) {
        snprintf(ret_msg, msg_size, "no answer: %s", curl_error ? curl_error : "network error");
        return LT_PORTAL_RETRY;
    }
    if (body && len) {
        json_tokener *tok = json_tokener_new();
        if (tok) {
            o = json_tokener_parse_ex(tok, body, (int)(len > 1048576 ? 1048576 : len));
            json_tokener_free(tok);
        }
        if (o && !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
    }
    const char *code = get_str(o, "error_code"), *msg = get_str(o, "message");
    if (!msg[0])
        msg = get_str(o, "error_message");
    if (http_status >= 500 || http_status == 408 || http_status == 429) {
        snprintf(ret_msg, msg_size, "HTTP %ld%s%s", http_status, msg[0] ? ": " : "", msg);
        c = LT_PORTAL_RETRY;
    } else if (http_status == 401 || http_status == 403) {
        snprintf(ret_msg, msg_size, "HTTP %ld%s%s", http_status, msg[0] ? ": " : "", msg);
        c = is_login             ? LT_PORTAL_AUTH
            : http_status == 401 ? LT_PORTAL_SESSION
                                 : LT_PORTAL_PERMANENT;
    } else if (http_status >= 400 || http_status < 200 || http_status >= 300) {
        snprintf(ret_msg, msg_size, "HTTP %ld%s%s", http_status, msg[0] ? ": " : "", msg);
        c = is_login ? LT_PORTAL_AUTH : LT_PORTAL_PERMANENT;
    } else if (!o) {
        snprintf(ret_msg, msg_size, "HTTP %ld: the answer is not a JSON object", http_status);
        c = LT_PORTAL_RETRY;
    } else {
        snprintf(ret_msg, msg_size, "error_code %s%s%s", code[0] ? code : "(none)",
                 msg[0] ? ": " : "", msg);
        c = LT_PORTAL_PERMANENT;
        if (strcmp(code, "00") == 0)
            c = LT_PORTAL_OK;
        for (size_t i = 0; c != LT_PORTAL_OK && i < a->n_session_codes; i++)
            if (strcmp(code, a->session_codes[i]) == 0)
                c = is_login ? LT_PORTAL_AUTH : LT_PORTAL_SESSION;
        if (is_login && c == LT_PORTAL_PERMANENT)
            c = LT_PORTAL_AUTH;
        if (is_login && c == LT_PORTAL_OK) {
            const char *s = get_str(o, "session");
            if (!s[0] || strlen(s) >= session_size) {
                snprintf(ret_msg, msg_size, "login answered 00 without a usable session");
                c = LT_PORTAL_AUTH;
            } else {
                snprintf(ret_session, session_size, "%s", s);
            }
        }
    }
    json_object_put(o);
    return c;
}
