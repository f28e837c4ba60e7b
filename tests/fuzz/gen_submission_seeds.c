/* gen_submission_seeds.c - writes the seed corpus of fuzz_submission.
 *
 * Not built by CMake (the fuzz glob takes fuzz_*.c only). From the checkout,
 * after any build has generated the protobuf-c code into BUILD:
 *
 *   BUILD=build-unit; cc -std=c11 -Wall -I$BUILD/proto -o /tmp/gen_seeds \
 *     tests/fuzz/gen_submission_seeds.c $BUILD/proto/lienthong/v1/lienthong.pb-c.c \
 *     -lprotobuf-c && /tmp/gen_seeds tests/fuzz/corpus/fuzz_submission
 *
 * Each seed is one packed Submission: valid status events for several
 * statuses, a result event, attachments and a data map, and a few that the
 * decoder or validator must refuse (unknown fields, bad fields, old version).
 */
#include "lienthong/v1/lienthong.pb-c.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct seed {
    Lienthong__V1__Submission sub;
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
    ProtobufCMessageUnknownField unk;
    uint8_t unk_data[1];
} seed;

static const char *dir;

/* A status event for a new dossier with the given status. */
static void status_seed(seed *s, int status)
{
    memset(s, 0, sizeof(*s));
    lienthong__v1__submission__init(&s->sub);
    lienthong__v1__event__init(&s->ev);
    lienthong__v1__dossier_status__init(&s->st);
    s->sub.has_version = true;
    s->sub.version = 1;
    s->sub.sender = "motcua-hcm";
    s->sub.has_request_id = true;
    s->sub.request_id = 1000 + (uint64_t)status;
    s->sub.event = &s->ev;
    s->ev.event_id = "ev-0001";
    s->ev.occurred_at = "2026-11-24T09:00:00+07:00";
    s->ev.dossier_code = "000.00.01.H29-261124-0001";
    s->ev.procedure_code = "1.004227";
    s->ev.agency_code = "000.00.01.H29";
    s->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    s->ev.status = &s->st;
    s->st.has_status = true;
    s->st.status = status;
    s->st.received_at = "2026-11-20T08:00:00+07:00";
    s->st.due_at = "2026-12-04T17:00:00+07:00";
    if (status >= 9)
        s->st.finished_at = "2026-11-23T10:00:00Z";
    if (status == 10)
        s->st.returned_at = "2026-11-24T01:00:00.5Z";
}

/* Add applicant, channel, two attachments and a data map. */
static void full_dossier(seed *s)
{
    lienthong__v1__applicant__init(&s->app);
    s->app.id_number = "079123456789";
    s->app.name = "Nguyễn Văn A";
    s->app.has_kind = true;
    s->app.kind = LIENTHONG__V1__APPLICANT_KIND__CITIZEN;
    s->st.applicant = &s->app;
    s->st.has_channel = true;
    s->st.channel = LIENTHONG__V1__CHANNEL__ONLINE;
    for (int i = 0; i < 2; i++) {
        lienthong__v1__attachment__init(&s->att[i]);
        s->att[i].name = i ? "hop-dong-chuyen-nhuong.pdf" : "don-dang-ky.pdf";
        s->att[i].sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        s->att[i].has_size = true;
        s->att[i].size = 204800;
        s->att[i].uri = "https://dvc.example.gov.vn/files/abc.pdf";
        s->attp[i] = &s->att[i];
        lienthong__v1__dossier_status__data_entry__init(&s->de[i]);
        s->dep[i] = &s->de[i];
    }
    s->de[0].key = "so_thua";
    s->de[0].value = "123";
    s->de[1].key = "gia_chuyen_nhuong";
    s->de[1].value = "1500000000";
    s->st.n_attachments = 2;
    s->st.attachments = s->attp;
    s->st.n_data = 2;
    s->st.data = s->dep;
    s->st.note = "Hồ sơ liên thông đất đai – thuế";
}

/* A tax authority's obligation notice for the dossier. */
static void result_seed(seed *s)
{
    status_seed(s, 6);
    lienthong__v1__result__init(&s->res);
    lienthong__v1__result__data_entry__init(&s->rde);
    s->ev.event_id = "tax-0001";
    s->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    s->ev.result = &s->res;
    s->res.from_agency = "cuc-thue-hcm";
    s->res.kind = "tax_notice";
    s->res.reference = "TB-2026/000123";
    s->res.has_amount = true;
    s->res.amount = 30000000;
    s->res.issued_at = "2026-11-24T08:00:00+07:00";
    s->rde.key = "so_thong_bao";
    s->rde.value = "000123";
    s->rdep[0] = &s->rde;
    s->res.n_data = 1;
    s->res.data = s->rdep;
}

/* Attach an unknown varint field to m. */
static void unknown(seed *s, ProtobufCMessage *m, uint32_t tag)
{
    s->unk_data[0] = 1;
    s->unk.tag = tag;
    s->unk.wire_type = PROTOBUF_C_WIRE_TYPE_VARINT;
    s->unk.len = 1;
    s->unk.data = s->unk_data;
    m->n_unknown_fields = 1;
    m->unknown_fields = &s->unk;
}

/* Pack s->sub into dir/name. Exits on failure. */
static void emit(const seed *s, const char *name)
{
    char path[1024];
    size_t len = lienthong__v1__submission__get_packed_size(&s->sub);
    uint8_t *buf = malloc(len ? len : 1);
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!buf || lienthong__v1__submission__pack(&s->sub, buf) != len || !(f = fopen(path, "wb")) ||
        fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    printf("%s %zu bytes\n", path, len);
    free(buf);
}

int main(int argc, char **argv)
{
    seed s;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    mkdir(dir, 0755);

    status_seed(&s, 1), emit(&s, "status-01-registered");
    status_seed(&s, 2), full_dossier(&s), emit(&s, "status-02-accepted-full");
    status_seed(&s, 4), s.st.due_at = NULL, s.st.received_at = NULL,
                        emit(&s, "status-04-follow-up");
    status_seed(&s, 5), s.st.due_at = "2026-12-11T17:00:00+07:00", emit(&s, "status-05-new-due");
    status_seed(&s, 9), emit(&s, "status-09-processed");
    status_seed(&s, 10), emit(&s, "status-10-returned");
    result_seed(&s), emit(&s, "result-tax-notice");
    status_seed(&s, 2), full_dossier(&s), unknown(&s, &s.att[1].base, 9),
        emit(&s, "bad-unknown-in-attachment");
    result_seed(&s), unknown(&s, &s.res.base, 12), emit(&s, "bad-unknown-in-result");
    status_seed(&s, 2), full_dossier(&s), s.att[0].sha256 = "NOTHEX", s.st.channel = 9,
                                          emit(&s, "bad-fields");
    status_seed(&s, 2), s.sub.version = 2, emit(&s, "bad-version");
    status_seed(&s, 3), s.st.received_at = "2026-02-30T00:00:00Z",
                        s.ev.occurred_at = "2099-01-01T00:00:00Z", emit(&s, "bad-times");
    return 0;
}
