/* fuzz_journal.c - libFuzzer target for the ingest journal's scan
 * (lt_journal_scan, daemon/journal.h), which reads the journal file at start
 * before the daemon replays it into LMDB: after a crash that file can hold
 * anything (a torn tail, stale records of earlier rounds, garbage).
 *
 * The first byte is `after` (LMDB's last seq), the rest the journal's bytes,
 * scanned from an exact-size copy so a read past the end is caught. Nothing
 * may crash or read out of bounds; every record handed to the callback must
 * lie inside the buffer, start where the previous one ended or later, and
 * carry seq after+1, after+2, ... in order and one round tag; the scan must end inside the
 * buffer (at its end when it says "end of file") and count what it applied.
 * Seeds: tests/fuzz/corpus/fuzz_journal/ (written with lt_journal_add and
 * lt_journal_sync for the store id TAG below: one record, three, a stale
 * round behind a new one, a torn last record, a seq gap).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define TAG "fuzz-store"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct check {
    const uint8_t *buf;
    size_t len;
    uint64_t next;  /* the seq the next record must carry */
    uint64_t round; /* the round tag every record must carry, once seen */
    uint64_t end;   /* where the previous record ended */
    uint64_t n;
} check;

static int check_record(void *arg, const lt_journal_record *rec)
{
    check *c = arg;
    const uint8_t *sender = (const uint8_t *)rec->sender;

    if (rec->seq != c->next || rec->offset < c->end || rec->offset > c->len ||
        (c->n && rec->round != c->round))
        abort();
    c->round = rec->round;
    size_t total = lt_journal_record_size(rec->sender_len, rec->event_len);
    if (total < LT_JOURNAL_HEADER || total > c->len - rec->offset)
        abort();
    if (sender != c->buf + rec->offset + LT_JOURNAL_HEADER ||
        rec->event != sender + rec->sender_len)
        abort();
    /* touch every byte: under ASan a record reaching past the copy fails here */
    uint8_t x = 0;
    for (size_t i = 0; i < rec->sender_len; i++)
        x ^= sender[i];
    for (size_t i = 0; i < rec->event_len; i++)
        x ^= rec->event[i];
    (void)x;
    c->next++;
    c->end = rec->offset + total;
    c->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint64_t after = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);

    check c = { .buf = buf, .len = len, .next = after + 1 };
    lt_journal_scan_info info;
    int r = lt_journal_scan(buf, len, TAG, after, check_record, &c, &info);
    if (r != 0 || info.end > len || info.end < c.end || info.applied != c.n || !info.why)
        abort();
    if (strcmp(info.why, "end of file") == 0 && info.end != len)
        abort();
    free(buf);
    return 0;
}
