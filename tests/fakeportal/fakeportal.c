/* fakeportal.c - a fake national public-service portal for the http link's
 * tests: login, DongBoHoSoMC and CapNhatTienDoHoSoMC as the portal does them,
 * strict about what it is sent, and able to misbehave on request.
 *
 * Checks: the login's username and password; the session, madonvi and
 * service on every call; that EVERY field of a DongBoHoSoMC record (MaHoSo ...
 * GhiChu, sync_fields below) and of a CapNhatTienDoHoSoMC record
 * (progress_fields) is present as a JSON string, and that TaiLieuNop,
 * DanhSachLePhi and DanhSachGiayToKetQua are arrays whose items are objects
 * with all their keys; formats: dates yyyyMMddHHmmss when non-empty
 * (NgayTiepNhan and ThoiDiemXuLy always), TrangThaiHoSo/TrangThai 1-10,
 * LoaiDoiTuong 1|2, HinhThuc 1|2|3, SoDienThoai digits (a leading + allowed)
 * and Email with an '@' when non-empty, MucPhi a non-negative integer,
 * MaHoSo, MaTTHC and TenTepDinhKem non-empty, isUpdating "False"/"True"; and
 * order per dossier (no progress step before the dossier was synced). A check
 * that fails is answered as the portal does: HTTP 200 with a non-"00"
 * error_code and a message naming the field (bad=FIELD in the log). Every call
 * is one line in --log, flushed at once (new fields are appended at the end,
 * so a reader of the older line still matches):
 *   login ok|refused user=U
 *   sync MaHoSo=X isUpdating=False TrangThaiHoSo=2 known=0 code=00 files=N fees=N docs=N
 *   progress MaHoSo=X TrangThai=2 code=00
 *   expired|down|slow ...
 *   agency link=tax key=K dossier=X body=tax_transfer price=N code=200
 * POST /agency is a generic agency gateway instead (the http link's JSON
 * dialect for tax and land): it takes a LinkRequest as JSON and answers a
 * LinkReply as JSON, OK, with a tax_notice result for a tax_transfer (2%
 * income tax and 0.5% registration fee of the price); a request without
 * version 1, link, idempotency_key or dossier_code, or whose dossier contains
 * --reject, is answered HTTP 400.
 * Options:
 *   --port N (0: any; the port is written to --port-file), --log FILE,
 *   --user U --password P --madonvi M --service S,
 *   --expire-every N   the session expires after N calls (answered HTTP 401),
 *   --slow-ms N        answer every call after N ms,
 *   --slow-first-sync-ms N  a dossier's first accepted sync is taken at once and
 *                      answered after N ms (a client that gives up first does
 *                      not know the portal took it),
 *   --down-file F      while F exists answer HTTP 503 to everything,
 *   --down-status N    ... with status N instead of 503 (e.g. 502, a gateway's),
 *   --tls-cert F --tls-key F  HTTPS with this PEM certificate and key
 *                      (tests/fakeportal/tls: a test CA's server certificate),
 *   --reject SUBSTR    a MaHoSo containing SUBSTR gets error_code "05".
 * Runs until SIGTERM or SIGINT.
 */
#include <json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (1 << 20)

static struct {
    const char *user, *password, *madonvi, *service, *down_file, *reject;
    int expire_every, slow_ms, slow_first_sync_ms, down_status;
    FILE *log;
    pthread_mutex_t mu;
    unsigned session_no;
    char session[64];
    int calls_on_session;
    char **known; /* MaHoSo synced at least once: an open-addressing hash set */
    size_t n_known, cap_known;
} fp = { .mu = PTHREAD_MUTEX_INITIALIZER };

static volatile sig_atomic_t stop;
static _Thread_local bool answer_late; /* this connection's answer waits slow_first_sync_ms */

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct req {
    char *body;
    size_t len;
    bool too_big;
} req;

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool is_date(const char *s)
{
    if (!s || strlen(s) != 14)
        return false;
    for (int i = 0; i < 14; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static size_t slot_of(char **set, size_t cap, const char *code)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = code; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    size_t i = (size_t)h & (cap - 1);
    while (set[i] && strcmp(set[i], code) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Constant time per call, so a long bench measures the daemon, not this. */
static bool known(const char *code)
{
    return fp.cap_known && fp.known[slot_of(fp.known, fp.cap_known, code)];
}

static void remember(const char *code)
{
    if ((fp.n_known + 1) * 2 > fp.cap_known) {
        size_t cap = fp.cap_known ? fp.cap_known * 2 : 1024;
        char **n = calloc(cap, sizeof(*n));
        if (!n)
            return;
        for (size_t i = 0; i < fp.cap_known; i++)
            if (fp.known[i])
                n[slot_of(n, cap, fp.known[i])] = fp.known[i];
        free(fp.known);
        fp.known = n;
        fp.cap_known = cap;
    }
    size_t i = slot_of(fp.known, fp.cap_known, code);
    if (!fp.known[i] && (fp.known[i] = strdup(code)))
        fp.n_known++;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp.log, fmt, ap);
    va_end(ap);
    fputc('\n', fp.log);
    fflush(fp.log);
}

static int answer(struct MHD_Connection *c, unsigned status, const char *code, const char *msg,
                  const char *session)
{
    char buf[512];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error_code", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(msg));
    if (session)
        json_object_object_add(o, "session", json_object_new_string(session));
    snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(buf), buf, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    int ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int do_login(struct MHD_Connection *c, json_object *o)
{
    const char *u = str(o, "username"), *p = str(o, "password");
    if (!u || !p || strcmp(u, fp.user) != 0 || strcmp(p, fp.password) != 0) {
        logf_("login refused user=%s", u ? u : "");
        return answer(c, 200, "01", "Sai tên đăng nhập hoặc mật khẩu", NULL);
    }
    snprintf(fp.session, sizeof(fp.session), "S%u", ++fp.session_no);
    fp.calls_on_session = 0;
    logf_("login ok user=%s session=%s", u, fp.session);
    return answer(c, 200, "00", "OK", fp.session);
}

/* The envelope and session of a call; 0 when fine, else the answer was queued. */
static int check_envelope(struct MHD_Connection *c, json_object *o, const char *what, int *ret)
{
    const char *s = str(o, "session"), *m = str(o, "madonvi"), *sv = str(o, "service");
    if (!s || !fp.session[0] || strcmp(s, fp.session) != 0) {
        logf_("expired %s session=%s", what, s ? s : "");
        *ret = answer(c, 401, "-1", "Phiên làm việc hết hạn", NULL);
        return 1;
    }
    if (fp.expire_every && ++fp.calls_on_session > fp.expire_every) {
        logf_("expired %s session=%s (after %d calls)", what, s, fp.expire_every);
        fp.session[0] = '\0';
        *ret = answer(c, 401, "-1", "Phiên làm việc hết hạn", NULL);
        return 1;
    }
    if (!m || strcmp(m, fp.madonvi) != 0 || (fp.service && (!sv || strcmp(sv, fp.service) != 0))) {
        logf_("invalid %s madonvi=%s service=%s", what, m ? m : "", sv ? sv : "");
        *ret = answer(c, 200, "03", "madonvi hoặc service không hợp lệ", NULL);
        return 1;
    }
    return 0;
}

/* What a field of a record must hold: every scalar is a JSON string. */
typedef enum {
    F_TEXT, /* any string, "" allowed */
    F_NONEMPTY,
    F_DATE, /* yyyyMMddHHmmss, or "" */
    F_DATE_REQ,
    F_STATUS, /* "1".."10" */
    F_KIND,   /* LoaiDoiTuong "1" | "2" */
    F_FORM,   /* HinhThuc "1" | "2" | "3" */
    F_PHONE,  /* digits (a leading '+' allowed), or "" */
    F_EMAIL,  /* contains '@', or "" */
    F_AMOUNT, /* a non-negative integer */
} field_kind;

typedef struct field_def {
    const char *key;
    field_kind kind;
} field_def;

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* DongBoHoSoMC's record, in the portal's order. */
static const field_def sync_fields[] = {
    { "MaHoSo", F_NONEMPTY },       { "MaTTHC", F_NONEMPTY },   { "TenTTHC", F_TEXT },
    { "MaLinhVuc", F_TEXT },        { "TenLinhVuc", F_TEXT },   { "SoBienNhan", F_TEXT },
    { "ChuHoSo", F_TEXT },          { "LoaiDoiTuong", F_KIND }, { "MaDoiTuong", F_TEXT },
    { "SoDienThoai", F_PHONE },     { "Email", F_EMAIL },       { "TrichYeuHoSo", F_TEXT },
    { "NgayTiepNhan", F_DATE_REQ }, { "NgayHenTra", F_DATE },   { "TrangThaiHoSo", F_STATUS },
    { "NgayTra", F_DATE },          { "ThongTinTra", F_TEXT },  { "HinhThuc", F_FORM },
    { "NgayKetThucXuLy", F_DATE },  { "DonViXuLy", F_TEXT },    { "GhiChu", F_TEXT },
};
static const field_def file_fields[] = {
    { "TepDinhKemId", F_TEXT },
    { "TenTepDinhKem", F_NONEMPTY },
    { "DuongDanTaiTepTin", F_TEXT },
};
static const field_def fee_fields[] = {
    { "TenPhiLePhi", F_TEXT },
    { "MaPhiLePhi", F_TEXT },
    { "MucPhi", F_AMOUNT },
};
static const field_def doc_fields[] = {
    { "TenGiayTo", F_TEXT },
    { "MaGiayTo", F_TEXT },
    { "DuongDanTepTinKetQua", F_TEXT },
};
/* CapNhatTienDoHoSoMC's record. */
static const field_def progress_fields[] = {
    { "MaHoSo", F_NONEMPTY },
    { "NguoiXuLy", F_TEXT },
    { "ChucDanh", F_TEXT },
    { "ThoiDiemXuLy", F_DATE_REQ },
    { "PhongBanXuLy", F_TEXT },
    { "NoiDungXuLy", F_TEXT },
    { "TrangThai", F_STATUS },
    { "NgayBatDau", F_DATE },
    { "NgayKetThucTheoQuyDinh", F_DATE },
};

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool value_ok(const char *s, field_kind k)
{
    switch (k) {
    case F_TEXT:
        return true;
    case F_NONEMPTY:
        return s[0] != '\0';
    case F_DATE:
        return !s[0] || is_date(s);
    case F_DATE_REQ:
        return is_date(s);
    case F_STATUS:
        return all_digits(s) && atoi(s) >= 1 && atoi(s) <= 10;
    case F_KIND:
        return !strcmp(s, "1") || !strcmp(s, "2");
    case F_FORM:
        return !strcmp(s, "1") || !strcmp(s, "2") || !strcmp(s, "3");
    case F_PHONE:
        return !s[0] || all_digits(s[0] == '+' ? s + 1 : s);
    case F_EMAIL:
        return !s[0] || strchr(s, '@');
    case F_AMOUNT:
        return all_digits(s);
    }
    return false;
}

/* The first of defs that o lacks, holds as a non-string or in a bad format;
 * NULL when all are fine. */
static const char *check_fields(json_object *o, const field_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = str(o, defs[i].key);
        if (!s || !value_ok(s, defs[i].kind))
            return defs[i].key;
    }
    return NULL;
}

/* d[key] must be an array of objects, each with defs; its length in *ret_n.
 * Returns the key (or "key[].Field") at fault, NULL when fine. */
static const char *check_list(json_object *d, const char *key, const field_def *defs, size_t n,
                              int *ret_n, char *buf, size_t size)
{
    json_object *list;
    if (!json_object_object_get_ex(d, key, &list) || !json_object_is_type(list, json_type_array))
        return key;
    *ret_n = (int)json_object_array_length(list);
    for (int i = 0; i < *ret_n; i++) {
        json_object *item = json_object_array_get_idx(list, (size_t)i);
        const char *bad = json_object_is_type(item, json_type_object) ? check_fields(item, defs, n)
                                                                      : "(not an object)";
        if (bad) {
            snprintf(buf, size, "%s[%d].%s", key, i, bad);
            return buf;
        }
    }
    return NULL;
}

static json_object *data_item(json_object *o)
{
    json_object *list;
    if (!json_object_object_get_ex(o, "data", &list) ||
        !json_object_is_type(list, json_type_array) || json_object_array_length(list) != 1)
        return NULL;
    return json_object_array_get_idx(list, 0);
}

static int do_sync(struct MHD_Connection *c, json_object *o)
{
    int ret;
    if (check_envelope(c, o, "sync", &ret))
        return ret;
    json_object *d = data_item(o);
    const char *up = str(o, "isUpdating"), *code = str(d, "MaHoSo"), *st = str(d, "TrangThaiHoSo");
    char where[128];
    int files = 0, fees = 0, docs = 0;
    const char *bad = !d ? "data" : check_fields(d, sync_fields, N(sync_fields));
    if (!bad && (!up || (strcmp(up, "False") && strcmp(up, "True"))))
        bad = "isUpdating";
    if (!bad)
        bad =
            check_list(d, "TaiLieuNop", file_fields, N(file_fields), &files, where, sizeof(where));
    if (!bad)
        bad =
            check_list(d, "DanhSachLePhi", fee_fields, N(fee_fields), &fees, where, sizeof(where));
    if (!bad)
        bad = check_list(d, "DanhSachGiayToKetQua", doc_fields, N(doc_fields), &docs, where,
                         sizeof(where));
    if (!bad && fp.reject && strstr(code, fp.reject))
        bad = "MaHoSo (rejected by --reject)";
    if (bad) {
        char msg[128];
        snprintf(msg, sizeof(msg), "Dữ liệu không hợp lệ: %s", bad);
        logf_("sync MaHoSo=%s code=05 bad=%s", code ? code : "", bad);
        return answer(c, 200, "05", msg, NULL);
    }
    bool k = known(code);
    if (!k)
        remember(code);
    logf_("sync MaHoSo=%s isUpdating=%s TrangThaiHoSo=%s known=%d code=00 files=%d fees=%d "
          "docs=%d",
          code, up, st, k, files, fees, docs);
    answer_late = !k && fp.slow_first_sync_ms;
    return answer(c, 200, "00", "Đồng bộ thành công", NULL);
}

static int answer_json(struct MHD_Connection *c, unsigned status, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    int ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    json_object_put(o);
    return ret;
}

/* A generic agency gateway: LinkRequest in, LinkReply out (JSON). */
static int do_agency(struct MHD_Connection *c, json_object *o)
{
    const char *link = str(o, "link"), *key = str(o, "idempotency_key");
    const char *code = str(o, "dossier_code"), *proc = str(o, "procedure_code");
    json_object *v, *tt = NULL;
    int version = json_object_object_get_ex(o, "version", &v) ? json_object_get_int(v) : 0;
    bool is_tax = json_object_object_get_ex(o, "tax_transfer", &tt);
    int64_t price = 0;
    if (is_tax && json_object_object_get_ex(tt, "transfer_price", &v))
        price = json_object_get_int64(v);
    const char *bad = version != 1                           ? "version"
                      : !link                                ? "link"
                      : !key                                 ? "idempotency_key"
                      : !code                                ? "dossier_code"
                      : fp.reject && strstr(code, fp.reject) ? "dossier_code (rejected by --reject)"
                                                             : NULL;
    if (bad) {
        logf_("agency link=%s key=%s dossier=%s code=400 bad=%s", link ? link : "", key ? key : "",
              code ? code : "", bad);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "error", json_object_new_string(bad));
        return answer_json(c, 400, e);
    }
    logf_("agency link=%s key=%s dossier=%s body=%s price=%lld code=200", link, key, code,
          is_tax                                          ? "tax_transfer"
          : json_object_object_get_ex(o, "land_task", &v) ? "land_task"
                                                          : "other",
          (long long)price);
    json_object *rep = json_object_new_object();
    json_object_object_add(rep, "version", json_object_new_int(1));
    json_object_object_add(rep, "idempotency_key", json_object_new_string(key));
    json_object_object_add(rep, "outcome", json_object_new_string("OK"));
    json_object_object_add(rep, "message", json_object_new_string("đã tiếp nhận"));
    if (is_tax && price > 0) {
        char now[32], id[200], pit[32], fee[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(id, sizeof(id), "TB-HTTP-%s", code);
        snprintf(pit, sizeof(pit), "%lld", (long long)(price / 50));
        snprintf(fee, sizeof(fee), "%lld", (long long)(price / 200));
        json_object *ev = json_object_new_object(), *res = json_object_new_object();
        json_object *data = json_object_new_object();
        json_object_object_add(data, "personal_income_tax_vnd", json_object_new_string(pit));
        json_object_object_add(data, "registration_fee_vnd", json_object_new_string(fee));
        json_object_object_add(res, "from_agency", json_object_new_string("CCT"));
        json_object_object_add(res, "kind", json_object_new_string("tax_notice"));
        json_object_object_add(res, "reference", json_object_new_string(id));
        json_object_object_add(res, "amount", json_object_new_int64(price / 50 + price / 200));
        json_object_object_add(res, "issued_at", json_object_new_string(now));
        json_object_object_add(res, "data", data);
        json_object_object_add(ev, "event_id", json_object_new_string(id));
        json_object_object_add(ev, "occurred_at", json_object_new_string(now));
        json_object_object_add(ev, "dossier_code", json_object_new_string(code));
        if (proc)
            json_object_object_add(ev, "procedure_code", json_object_new_string(proc));
        json_object_object_add(ev, "agency_code", json_object_new_string("CCT"));
        json_object_object_add(ev, "result", res);
        json_object_object_add(rep, "result", ev);
    }
    return answer_json(c, 200, rep);
}

static int do_progress(struct MHD_Connection *c, json_object *o)
{
    int ret;
    if (check_envelope(c, o, "progress", &ret))
        return ret;
    json_object *d = data_item(o);
    const char *code = str(d, "MaHoSo"), *st = str(d, "TrangThai");
    const char *bad = !d ? "data" : check_fields(d, progress_fields, N(progress_fields));
    if (!bad && !known(code))
        bad = "MaHoSo (not synced yet: order)";
    if (bad) {
        logf_("progress MaHoSo=%s code=06 bad=%s", code ? code : "", bad);
        return answer(c, 200, "06", "Dữ liệu không hợp lệ", NULL);
    }
    logf_("progress MaHoSo=%s TrangThai=%s code=00", code, st);
    return answer(c, 200, "00", "Cập nhật tiến độ thành công", NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    req *r = *con_cls;
    if (!r) {
        *con_cls = calloc(1, sizeof(req));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size) {
        if (r->len + *size > BODY_MAX) {
            r->too_big = true;
        } else {
            char *nb = realloc(r->body, r->len + *size + 1);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            memcpy(r->body + r->len, data, *size);
            r->len += *size;
            r->body[r->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    if (fp.slow_ms)
        usleep((useconds_t)fp.slow_ms * 1000);
    if (fp.down_file && access(fp.down_file, F_OK) == 0) {
        pthread_mutex_lock(&fp.mu);
        logf_("down %s", url);
        pthread_mutex_unlock(&fp.mu);
        return answer(c, (unsigned)(fp.down_status ? fp.down_status : 503), "99",
                      "Hệ thống đang bảo trì", NULL) == MHD_YES
                   ? MHD_YES
                   : MHD_NO;
    }
    if (strcmp(method, "POST") != 0 || r->too_big)
        return answer(c, strcmp(method, "POST") ? 405 : 413, "98", "POST JSON only", NULL) ==
                       MHD_YES
                   ? MHD_YES
                   : MHD_NO;
    json_object *o = r->body ? json_tokener_parse(r->body) : NULL;
    int ret;
    pthread_mutex_lock(&fp.mu);
    if (!o)
        ret = answer(c, 400, "97", "JSON không hợp lệ", NULL);
    else if (strcmp(url, "/login") == 0)
        ret = do_login(c, o);
    else if (strcmp(url, "/DongBoHoSoMC") == 0)
        ret = do_sync(c, o);
    else if (strcmp(url, "/CapNhatTienDoHoSoMC") == 0)
        ret = do_progress(c, o);
    else if (strcmp(url, "/agency") == 0)
        ret = do_agency(c, o);
    else
        ret = answer(c, 404, "96", "Không có dịch vụ", NULL);
    pthread_mutex_unlock(&fp.mu);
    json_object_put(o);
    if (answer_late) { /* taken; the answer is queued and leaves after the wait */
        answer_late = false;
        usleep((useconds_t)fp.slow_first_sync_ms * 1000);
    }
    return ret == MHD_YES ? MHD_YES : MHD_NO;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

/* A whole file as a string (the PEM files of --tls-cert/--tls-key), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
        buf[len] = '\0';
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *port_file = NULL, *log = NULL, *tls_cert = NULL, *tls_key = NULL;
    fp.user = "lienthong";
    fp.password = "secret";
    fp.madonvi = "000.00.00.H29";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port"))
            port = atoi(v);
        else if (!strcmp(k, "--port-file"))
            port_file = v;
        else if (!strcmp(k, "--log"))
            log = v;
        else if (!strcmp(k, "--user"))
            fp.user = v;
        else if (!strcmp(k, "--password"))
            fp.password = v;
        else if (!strcmp(k, "--madonvi"))
            fp.madonvi = v;
        else if (!strcmp(k, "--service"))
            fp.service = v;
        else if (!strcmp(k, "--expire-every"))
            fp.expire_every = atoi(v);
        else if (!strcmp(k, "--slow-ms"))
            fp.slow_ms = atoi(v);
        else if (!strcmp(k, "--slow-first-sync-ms"))
            fp.slow_first_sync_ms = atoi(v);
        else if (!strcmp(k, "--down-file"))
            fp.down_file = v;
        else if (!strcmp(k, "--down-status"))
            fp.down_status = atoi(v);
        else if (!strcmp(k, "--tls-cert"))
            tls_cert = v;
        else if (!strcmp(k, "--tls-key"))
            tls_key = v;
        else if (!strcmp(k, "--reject"))
            fp.reject = v;
        else {
            fprintf(stderr, "fakeportal: unknown option %s\n", k);
            return 2;
        }
    }
    fp.log = log ? fopen(log, "a") : stdout;
    if (!fp.log) {
        perror(log);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct MHD_Daemon *d;
    if (tls_cert) {
        char *cert = slurp(tls_cert), *key = slurp(tls_key ? tls_key : "");
        if (!cert || !key) {
            fprintf(stderr, "fakeportal: cannot read --tls-cert %s or --tls-key %s\n", tls_cert,
                    tls_key ? tls_key : "(none)");
            return 2;
        }
        d = MHD_start_daemon(
            MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS,
            (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_HTTPS_MEM_CERT, cert,
            MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    } else {
        d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                             (uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                             done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    }
    if (!d) {
        fprintf(stderr, "fakeportal: cannot listen on port %d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port_file) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", info ? info->port : (unsigned)port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            perror(port_file);
            return 1;
        }
    }
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
