/* test_journal.c - the ingest journal (daemon/journal.h) on a real file in a
 * fresh temp dir per test, and its replay into a real LMDB store
 * (lt_apply_journal, daemon/apply.h). The journal is what lets the daemon
 * acknowledge an event before LMDB holds it, so what matters is: records
 * come back byte for byte and in order after a close; nothing added and not
 * written is ever read back; written records are flushed on the journal's
 * thread and reported by ticket; after a reset, records of the earlier round are never
 * applied, even when they line up with the new round's seqs; a journal of
 * another store is not read; a torn tail, a seq gap or a cut buffer stops
 * the scan cleanly; and a replay either puts every record into the store under
 * its own seq or changes nothing and says which record failed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "config.h"
#include "journal.h"
#include "store.h"
#include "tmpdir.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
// clang-format on

#define SENDER "motcua-hcm"
#define TAG    "store-0f3a" /* the store id the journal belongs to */
#define T0_MS  1795512600000LL
#define SIZE   (64u << 10) /* the journal file of most tests */

typedef struct env {
    char tmp[64];   /* the mkdtemp dir */
    char path[128]; /* the journal file inside it (not created yet) */
    char dir[128];  /* a store dir inside it (not created yet) */
    lt_journal *j;
    lt_store *s;
    lt_config *cfg;
} env;

/* What a scan callback saw: copies of each record. */
typedef struct seen {
    uint64_t seq[32];
    int64_t at[32];
    char sender[32][64];
    uint8_t event[32][256];
    size_t event_len[32];
    uint64_t offset[32];
    int n;
    int stop_after; /* return 7 after this many records, 0 never */
} seen;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    assert_int_equal(lt_t_tmpdir("test-journal", e->tmp, sizeof(e->tmp)), 0);
    snprintf(e->path, sizeof(e->path), "%s/journal", e->tmp);
    snprintf(e->dir, sizeof(e->dir), "%s/store", e->tmp);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;

    lt_journal_close(&e->j);
    lt_store_close(&e->s);
    lt_config_free(&e->cfg);
    lt_t_rmtree(e->tmp);
    free(e);
    return 0;
}

static void open_journal(env *e, uint64_t size)
{
    lt_diag d;

    lt_diag_clear(&d);
    int r = lt_journal_open(e->path, size, TAG, &e->j, &d);
    if (r != 0)
        fail_msg("open %s: %s: %s", e->path, lt_strerror(r), d.message);
    assert_non_null(e->j);
    assert_string_equal(lt_journal_path(e->j), e->path);
}

static void reopen_journal(env *e, uint64_t size)
{
    lt_journal_close(&e->j);
    assert_null(e->j);
    open_journal(e, size);
}

/* The event bytes of record `seq` in these tests: not a protobuf, just bytes
 * that differ per seq and include NULs. [out] buf; returns the length. */
static size_t event_bytes(uint64_t seq, uint8_t *buf)
{
    size_t n = 40 + (size_t)(seq % 7);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(seq * 31 + i * 7);
    buf[3] = 0;
    return n;
}

/* Add record seq with the bytes above and a sender naming it. */
static void add(env *e, uint64_t seq)
{
    uint8_t ev[64];
    char sender[32];
    size_t n = event_bytes(seq, ev);

    snprintf(sender, sizeof(sender), "sender-%llu", (unsigned long long)seq);
    assert_int_equal(lt_journal_add(e->j, seq, T0_MS + (int64_t)seq, sender, ev, n), 0);
}

/* Bytes record seq takes in the file. */
static size_t size_of(uint64_t seq)
{
    uint8_t ev[64];
    char sender[32];
    size_t n = event_bytes(seq, ev);

    return lt_journal_record_size(
        (size_t)snprintf(sender, sizeof(sender), "sender-%llu", (unsigned long long)seq), n);
}

static int collect(void *arg, const lt_journal_record *rec)
{
    seen *s = arg;

    assert_true(s->n < 32);
    assert_true(rec->sender_len < sizeof(s->sender[0]));
    assert_true(rec->event_len <= sizeof(s->event[0]));
    s->seq[s->n] = rec->seq;
    s->at[s->n] = rec->accepted_at_ms;
    memcpy(s->sender[s->n], rec->sender, rec->sender_len);
    s->sender[s->n][rec->sender_len] = '\0';
    memcpy(s->event[s->n], rec->event, rec->event_len);
    s->event_len[s->n] = rec->event_len;
    s->offset[s->n] = rec->offset;
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

/* Check that what was seen is records first, first+1, ..., each as add() wrote it. */
static void expect_records(const seen *s, uint64_t first, int n)
{
    if (s->n != n)
        fail_msg("%d records seen, want %d", s->n, n);
    for (int i = 0; i < n; i++) {
        uint64_t seq = first + (uint64_t)i;
        uint8_t ev[64];
        char sender[32];
        size_t len = event_bytes(seq, ev);

        snprintf(sender, sizeof(sender), "sender-%llu", (unsigned long long)seq);
        if (s->seq[i] != seq)
            fail_msg("record %d has seq %llu, want %llu", i, (unsigned long long)s->seq[i],
                     (unsigned long long)seq);
        assert_int_equal(s->at[i], T0_MS + (int64_t)seq);
        assert_string_equal(s->sender[i], sender);
        assert_int_equal(s->event_len[i], len);
        assert_memory_equal(s->event[i], ev, len);
    }
}

static seen replay(env *e, uint64_t after, lt_journal_scan_info *info)
{
    seen s;

    memset(&s, 0, sizeof(s));
    assert_int_equal(lt_journal_replay(e->j, after, collect, &s, info), 0);
    return s;
}

/* The whole file, in an exact-size buffer. [out] len. */
static uint8_t *read_file(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static void poke(const char *path, uint64_t offset, uint8_t byte)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
    close(fd);
}

static void open_creates_the_file_and_records_survive_a_reopen(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    struct stat st;

    open_journal(e, SIZE);
    assert_int_equal(stat(e->path, &st), 0);
    assert_int_equal(st.st_size, SIZE);
    /* a fresh file has nothing to replay */
    seen s = replay(e, 0, &info);
    assert_int_equal(s.n, 0);
    assert_int_equal(info.applied, 0);

    for (uint64_t seq = 1; seq <= 5; seq++)
        add(e, seq);
    assert_int_equal(lt_journal_sync(e->j), 0);
    reopen_journal(e, SIZE);

    s = replay(e, 0, &info);
    expect_records(&s, 1, 5);
    assert_int_equal(info.applied, 5);
    assert_string_equal(info.why, "no record"); /* the zeroed rest of the file */
    uint64_t off = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s.offset[i], off);
        off += size_of(s.seq[i]);
    }
    assert_int_equal(info.end, off);

    /* a round is committed whole: LMDB holding its first seq holds it all */
    s = replay(e, 3, &info);
    assert_int_equal(s.n, 0);
    assert_string_equal(info.why, "already in the store");
    assert_int_equal(info.end, 0);
    /* LMDB short of the round's first seq: a gap, nothing applied */
    s = replay(e, 0, &info);
    expect_records(&s, 1, 5);

    /* a callback's non-zero return ends the scan with it, at that record */
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(lt_journal_replay(e->j, 0, collect, &s, &info), 7);
    assert_int_equal(s.n, 2);
    assert_int_equal(info.applied, 1);
    assert_int_equal(info.end, size_of(1));
    assert_string_equal(info.why, "stopped by the caller");

    /* a larger existing file keeps its size when opened with a smaller one */
    reopen_journal(e, SIZE / 2);
    assert_int_equal(lt_journal_room(e->j), SIZE);
    assert_int_equal(stat(e->path, &st), 0);
    assert_int_equal(st.st_size, SIZE);
    s = replay(e, 0, NULL);
    expect_records(&s, 1, 5);
}

static void bookkeeping_no_room_and_discard(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    uint64_t size = 4 * size_of(1) + 10; /* room for four records of seq 1's size */

    open_journal(e, size);
    assert_int_equal(lt_journal_room(e->j), size);
    assert_int_equal(lt_journal_used(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 0);

    add(e, 1);
    assert_int_equal(lt_journal_used(e->j), size_of(1));
    assert_int_equal(lt_journal_room(e->j), size - size_of(1));
    assert_int_equal(lt_journal_records(e->j), 0); /* added, not written */
    add(e, 2);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 2);
    uint64_t used = size_of(1) + size_of(2);
    assert_int_equal(lt_journal_used(e->j), used);
    assert_int_equal(lt_journal_room(e->j), size - used);
    /* a sync with nothing added changes nothing */
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 2);
    assert_int_equal(lt_journal_used(e->j), used);

    /* 3 is added then discarded: never written, its room back */
    add(e, 3);
    assert_int_equal(lt_journal_used(e->j), used + size_of(3));
    lt_journal_discard(e->j);
    assert_int_equal(lt_journal_used(e->j), used);
    assert_int_equal(lt_journal_records(e->j), 2);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 2);

    /* a record that does not fit: -ENOSPC, nothing changes */
    uint8_t big[64] = { 0 };
    size_t room = (size_t)lt_journal_room(e->j);
    assert_int_equal(lt_journal_add(e->j, 3, T0_MS, "x", big, 0), 0); /* fits */
    lt_journal_discard(e->j);
    char sender[160];
    memset(sender, 's', sizeof(sender) - 1);
    sender[sizeof(sender) - 1] = '\0';
    /* exactly the room fits, one byte more does not */
    size_t slen = room - LT_JOURNAL_HEADER - sizeof(big);
    assert_true(slen + 1 < sizeof(sender));
    sender[slen + 1] = '\0';
    assert_int_equal(lt_journal_add(e->j, 3, T0_MS, sender, big, sizeof(big)), -ENOSPC);
    assert_int_equal(lt_journal_used(e->j), used);
    assert_int_equal(lt_journal_room(e->j), room);
    sender[slen] = '\0';
    assert_int_equal(lt_journal_add(e->j, 3, T0_MS, sender, big, sizeof(big)), 0);
    assert_int_equal(lt_journal_room(e->j), 0);
    assert_int_equal(lt_journal_add(e->j, 4, T0_MS, "", NULL, 0), -ENOSPC);
    lt_journal_discard(e->j);
    assert_int_equal(lt_journal_room(e->j), room);

    /* a sender longer than a record can say */
    char *huge = malloc(0x10001);
    assert_non_null(huge);
    memset(huge, 'h', 0x10000);
    huge[0x10000] = '\0';
    assert_int_equal(lt_journal_add(e->j, 3, T0_MS, huge, big, 1), -E2BIG);
    free(huge);
    assert_int_equal(lt_journal_used(e->j), used);

    /* only what was synced comes back after a reopen: not 3 */
    add(e, 3);
    lt_journal_discard(e->j);
    reopen_journal(e, size);
    seen s = replay(e, 0, &info);
    expect_records(&s, 1, 2);
    assert_string_equal(info.why, "no record");
    assert_int_equal(info.end, used);

    /* a reset gives back the whole file */
    lt_journal_reset(e->j);
    assert_int_equal(lt_journal_records(e->j), 0);
    assert_int_equal(lt_journal_used(e->j), 0);
    assert_int_equal(lt_journal_room(e->j), size);
    /* and what is replayed now is what was synced since: nothing yet */
    s = replay(e, 0, &info);
    assert_int_equal(s.n, 0);
}

/* The loop's way: lt_journal_write, then a flush on the journal's thread;
 * the records are readable (and replayed) once written, and the ticket is
 * reported once flushed. lt_journal_sync after a write still flushes. */
static void written_records_are_flushed_on_the_sync_thread(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    uint64_t synced = 0;

    open_journal(e, SIZE);
    assert_int_equal(lt_journal_sync_requested(e->j), 0);
    add(e, 1);
    add(e, 2);
    assert_int_equal(lt_journal_write(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 2);
    assert_int_equal(lt_journal_used(e->j), size_of(1) + size_of(2));
    seen s = replay(e, 0, &info); /* written: the loop's replay reads it */
    expect_records(&s, 1, 2);

    uint64_t t = lt_journal_sync_request(e->j);
    assert_int_equal(t, 1);
    assert_int_equal(lt_journal_sync_requested(e->j), 1);
    for (int i = 0; i < 100 && synced < t; i++) {
        struct pollfd pfd = { lt_journal_sync_fd(e->j), POLLIN, 0 };
        poll(&pfd, 1, 50);
        assert_int_equal(lt_journal_synced(e->j, &synced), 0);
    }
    assert_int_equal(synced, t);

    /* written here and flushed inline: the same records after a reopen */
    add(e, 3);
    assert_int_equal(lt_journal_write(e->j), 0);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 3);
    reopen_journal(e, SIZE);
    s = replay(e, 0, &info);
    expect_records(&s, 1, 3);
    assert_int_equal(lt_journal_sync_requested(e->j), 0); /* a new journal, a new count */
}

static void after_a_reset_stale_records_are_never_applied(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;

    /* round one: 1..5, all committed to LMDB, then the journal starts again */
    open_journal(e, SIZE);
    for (uint64_t seq = 1; seq <= 5; seq++)
        add(e, seq);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_journal_reset(e->j);

    /* round two: 6 and 7 overwrite the front; 3, 4 and 5 of round one remain behind */
    add(e, 6);
    add(e, 7);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 2);
    /* 6 and 7 are 3 bytes longer than 1 and 2: they end inside 3's magic */
    uint64_t round2 = size_of(6) + size_of(7);
    assert_int_equal(round2, size_of(1) + size_of(2) + 3);

    /* while serving, replay reads only what was synced since the reset */
    seen s = replay(e, 5, &info);
    expect_records(&s, 6, 2);
    assert_string_equal(info.why, "end of file");

    reopen_journal(e, SIZE);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 6);
    s = replay(e, 5, &info);
    expect_records(&s, 6, 2);
    assert_int_equal(info.applied, 2);
    assert_int_equal(s.offset[1], size_of(6));
    /* the rest of round one is not a record where the scan looks next */
    assert_int_equal(info.end, round2);
    assert_string_equal(info.why, "no record");
    /* with LMDB at 7, nothing */
    s = replay(e, 7, &info);
    assert_int_equal(s.n, 0);
    assert_string_equal(info.why, "already in the store");
}

/* Records of equal size, so the earlier round's line up behind the new one;
 * and a record of round one whose seq follows round two's last one, as a
 * crash can leave behind a torn record: the round tag keeps it out. */
static void stale_records_that_line_up_are_not_applied(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    uint8_t ev[50];

    memset(ev, 0xAB, sizeof(ev));
    open_journal(e, SIZE);
    /* round one: 5..8 written; say 5 was torn by a crash, so LMDB kept 4 */
    for (uint64_t seq = 5; seq <= 8; seq++)
        assert_int_equal(lt_journal_add(e->j, seq, T0_MS, SENDER, ev, sizeof(ev)), 0);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_journal_reset(e->j);
    /* round two after the restart: 5 and 6, new events, over the front */
    for (uint64_t seq = 5; seq <= 6; seq++)
        assert_int_equal(lt_journal_add(e->j, seq, T0_MS, SENDER, ev, sizeof(ev)), 0);
    assert_int_equal(lt_journal_sync(e->j), 0);
    reopen_journal(e, SIZE);

    /* LMDB holds 1..4: 5 and 6 are applied; round one's 7 and 8, next in
     * line by seq, are of another round and are not */
    seen s = replay(e, 4, &info);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.seq[0], 5);
    assert_int_equal(s.seq[1], 6);
    assert_int_equal(info.applied, 2);
    assert_string_equal(info.why, "end of round");
    assert_int_equal(info.end, 2 * lt_journal_record_size(strlen(SENDER), sizeof(ev)));

    /* LMDB holds 1..6 (the crash came after the commit): nothing to apply */
    s = replay(e, 6, &info);
    assert_int_equal(s.n, 0);
    assert_string_equal(info.why, "already in the store");

    /* LMDB holding only up to 3 would mean 4 is gone: 5 is a gap, nothing applied */
    s = replay(e, 3, &info);
    assert_int_equal(s.n, 0);
    assert_string_equal(info.why, "seq gap");
    assert_int_equal(info.end, 0);
}

/* A journal belongs to one store: with another store's id nothing checks. */
static void a_journal_of_another_store_is_not_read(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;

    open_journal(e, SIZE);
    add(e, 1);
    add(e, 2);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_journal_close(&e->j);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 1);
    assert_int_equal(lt_journal_first_seq(e->path, "store-other"), 0);
    size_t len;
    uint8_t *file = read_file(e->path, &len);
    seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(lt_journal_scan(file, len, "store-other", 0, collect, &s, &info), 0);
    assert_int_equal(s.n, 0);
    assert_string_equal(info.why, "torn record");
    assert_int_equal(lt_journal_scan(file, len, TAG, 0, collect, &s, &info), 0);
    expect_records(&s, 1, 2);
    free(file);
}

static void a_torn_last_record_ends_the_scan(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    uint64_t last = size_of(1) + size_of(2); /* where record 3 starts */

    open_journal(e, SIZE);
    for (uint64_t seq = 1; seq <= 3; seq++)
        add(e, seq);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_journal_close(&e->j);

    /* one byte of record 3's event, as a crash mid-write could leave it */
    poke(e->path, last + size_of(3) - 5, 0xEE);
    open_journal(e, SIZE);
    seen s = replay(e, 0, &info);
    expect_records(&s, 1, 2);
    assert_string_equal(info.why, "torn record");
    assert_int_equal(info.end, last);

    /* a torn header (a length beyond the file) is torn too */
    lt_journal_close(&e->j);
    for (int i = 0; i < 4; i++)
        poke(e->path, last + 36 + (uint64_t)i, 0xFF); /* event length */
    open_journal(e, SIZE);
    s = replay(e, 0, &info);
    expect_records(&s, 1, 2);
    assert_string_equal(info.why, "torn record");
    assert_int_equal(info.end, last);

    /* a bad magic is no record at all */
    lt_journal_close(&e->j);
    poke(e->path, last, 'X');
    open_journal(e, SIZE);
    s = replay(e, 0, &info);
    expect_records(&s, 1, 2);
    assert_string_equal(info.why, "no record");
    assert_int_equal(info.end, last);
}

static void a_seq_gap_or_a_cut_buffer_ends_the_scan(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;

    open_journal(e, SIZE);
    add(e, 1);
    add(e, 2);
    add(e, 4); /* 3 is missing */
    add(e, 5);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_journal_close(&e->j);

    size_t len;
    uint8_t *file = read_file(e->path, &len);
    seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(lt_journal_scan(file, len, TAG, 0, collect, &s, &info), 0);
    expect_records(&s, 1, 2);
    assert_string_equal(info.why, "seq gap");
    assert_int_equal(info.end, size_of(1) + size_of(2));

    /* a buffer cut anywhere: the whole records before the cut, nothing
     * after, and never a read past it (the copy is exactly len bytes) */
    size_t whole = size_of(1) + size_of(2), gap = whole + size_of(4);
    for (size_t cut = 0; cut <= gap + 40; cut++) {
        uint8_t *buf = malloc(cut ? cut : 1);
        assert_non_null(buf);
        memcpy(buf, file, cut);
        memset(&s, 0, sizeof(s));
        assert_int_equal(lt_journal_scan(buf, cut, TAG, 0, collect, &s, &info), 0);
        int want = cut >= whole ? 2 : cut >= size_of(1) ? 1 : 0;
        expect_records(&s, 1, want);
        assert_true(info.end <= cut);
        uint64_t end = want == 2 ? whole : want == 1 ? size_of(1) : 0;
        assert_int_equal(info.end, end);
        if (cut == end)
            assert_string_equal(info.why, "end of file");
        else if (cut >= gap)
            assert_string_equal(info.why, "seq gap"); /* 4 is whole: its seq is read */
        else if (cut - end < LT_JOURNAL_HEADER)
            assert_string_equal(info.why, "no record"); /* cut inside a header */
        else
            assert_string_equal(info.why, "torn record"); /* cut inside its bytes */
        free(buf);
    }
    free(file);

    /* an empty buffer */
    memset(&s, 0, sizeof(s));
    assert_int_equal(lt_journal_scan((const uint8_t *)"", 0, TAG, 0, collect, &s, &info), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(info.end, 0);
    assert_string_equal(info.why, "end of file");
}

static void first_seq_of_missing_empty_zeroed_and_written_files(void **state)
{
    env *e = *state;

    assert_int_equal(lt_journal_first_seq(e->path, TAG), 0); /* missing */
    FILE *f = fopen(e->path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 0); /* empty */
    open_journal(e, SIZE);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 0); /* zeroed */
    add(e, 41);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 0); /* added, not written */
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 41);
    add(e, 42);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 41);
    /* after a reset the front is the new round's */
    lt_journal_reset(e->j);
    add(e, 43);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 43);
    /* a torn first record is none */
    poke(e->path, 10, 0x77);
    assert_int_equal(lt_journal_first_seq(e->path, TAG), 0);
}

/* ---- replay into the store ---- */

typedef struct evbuf {
    lt_event ev;
    Lienthong__V1__DossierStatus st;
    char event_id[64];
    char dossier[64];
} evbuf;

static lt_event *status_event(evbuf *b, const char *event_id, const char *dossier, int status)
{
    memset(b, 0, sizeof(*b));
    lienthong__v1__event__init(&b->ev);
    snprintf(b->event_id, sizeof(b->event_id), "%s", event_id);
    snprintf(b->dossier, sizeof(b->dossier), "%s", dossier);
    b->ev.event_id = b->event_id;
    b->ev.occurred_at = "2026-11-24T09:00:00Z";
    b->ev.dossier_code = b->dossier;
    b->ev.procedure_code = "1.004227";
    b->ev.agency_code = "000.00.01.H29";
    lienthong__v1__dossier_status__init(&b->st);
    b->st.has_status = true;
    b->st.status = status;
    b->st.received_at = "2026-11-24T08:00:00Z";
    b->st.due_at = "2026-12-04T08:00:00Z";
    b->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    b->ev.status = &b->st;
    return &b->ev;
}

/* Journal the event as the daemon does: its protobuf bytes as received. */
static void add_event(env *e, uint64_t seq, const char *event_id, const char *dossier, int status)
{
    evbuf b;
    uint8_t raw[512];
    lt_event *ev = status_event(&b, event_id, dossier, status);
    size_t n = lienthong__v1__event__get_packed_size(ev);

    assert_true(n <= sizeof(raw));
    assert_int_equal(lienthong__v1__event__pack(ev, raw), n);
    assert_int_equal(lt_journal_add(e->j, seq, T0_MS + (int64_t)seq, SENDER, raw, n), 0);
}

static void open_store_and_config(env *e)
{
    static const char yaml[] = "data_dir: d\ningest:\n  endpoint: tcp://127.0.0.1:7450\n";
    lt_store_opts o = { .dir = e->dir, .map_size = 64ull << 20 };
    lt_diag d;

    lt_diag_clear(&d);
    if (lt_config_parse("t.yaml", yaml, strlen(yaml), &e->cfg, &d) != 0)
        fail_msg("config: %s", d.message);
    lt_diag_clear(&d);
    if (lt_store_open(&o, &e->s, NULL, &d) != 0)
        fail_msg("open store: %s", d.message);
}

/* The seq the store holds for (SENDER, event_id), or 0. */
static uint64_t stored_seq(env *e, const char *event_id)
{
    lt_store_txn *t;
    uint64_t seq = 0;

    assert_int_equal(lt_store_txn_begin(e->s, false, false, &t), 0);
    int r = lt_store_find_event(t, SENDER, event_id, &seq);
    assert_true(r == 0 || r == LT_ERR_NOT_FOUND);
    lt_store_txn_abort(&t);
    return r == 0 ? seq : 0;
}

/* A store, and a journal holding D1's ACCEPTED then IN_PROGRESS at seqs
 * first and first+1 (the second depends on the first's state), reopened as
 * after a crash that LMDB never saw them. */
static void store_and_two_journaled_events(env *e, uint64_t first)
{
    char id1[16], id2[16];
    snprintf(id1, sizeof(id1), "ev-%llu", (unsigned long long)first);
    snprintf(id2, sizeof(id2), "ev-%llu", (unsigned long long)first + 1);
    open_store_and_config(e);
    open_journal(e, SIZE);
    add_event(e, first, id1, "D1", 2);
    add_event(e, first + 1, id2, "D1", 4);
    assert_int_equal(lt_journal_sync(e->j), 0);
    reopen_journal(e, SIZE);
}

static void replay_puts_the_records_into_the_store_and_resets(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    lt_diag d;

    store_and_two_journaled_events(e, 1);
    assert_int_equal(lt_store_last_seq(e->s), 0);

    assert_int_equal(lt_apply_journal(e->s, e->cfg, e->j, &info, &d), 0);
    assert_int_equal(info.applied, 2);
    assert_int_equal(lt_store_last_seq(e->s), 2);
    assert_int_equal(stored_seq(e, "ev-1"), 1);
    assert_int_equal(stored_seq(e, "ev-2"), 2);
    assert_int_equal(lt_journal_records(e->j), 0);
    assert_int_equal(lt_journal_used(e->j), 0);
    assert_int_equal(lt_journal_room(e->j), SIZE);
    /* reset: the file as read at open is dropped, nothing is left to replay */
    seen s = replay(e, 0, &info);
    assert_int_equal(s.n, 0);

    /* a second replay (another restart) finds them in LMDB: nothing applied */
    reopen_journal(e, SIZE);
    assert_int_equal(lt_apply_journal(e->s, e->cfg, e->j, &info, &d), 0);
    assert_int_equal(info.applied, 0);
    assert_string_equal(info.why, "already in the store");
    assert_int_equal(lt_store_last_seq(e->s), 2);

    /* while serving (no reopen): synced records replay from the file too */
    add_event(e, 3, "ev-3", "D2", 2);
    assert_int_equal(lt_journal_sync(e->j), 0);
    assert_int_equal(lt_journal_records(e->j), 1);
    assert_int_equal(lt_apply_journal(e->s, e->cfg, e->j, &info, &d), 0);
    assert_int_equal(info.applied, 1);
    assert_int_equal(lt_store_last_seq(e->s), 3);
    assert_int_equal(stored_seq(e, "ev-3"), 3);
    assert_int_equal(lt_journal_records(e->j), 0);
}

/* A journal ahead of the store (data.mdb restored from a backup beside a
 * newer journal): its events cannot follow the store's seqs. The replay
 * refuses, says what to do, and leaves both as they are. */
static void a_journal_ahead_of_the_store_refuses_the_replay(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    lt_diag d;

    store_and_two_journaled_events(e, 5);
    lt_diag_clear(&d);
    assert_int_equal(lt_apply_journal(e->s, e->cfg, e->j, &info, &d), LT_ERR_STORE);
    if (!strstr(d.message, e->path) || !strstr(d.message, "start at seq 5") ||
        !strstr(d.message, "store ends at 0") || !strstr(d.message, "Move the file away"))
        fail_msg("diag: %s", d.message);
    assert_int_equal(lt_store_last_seq(e->s), 0);
    seen s = replay(e, 4, &info);
    assert_int_equal(s.n, 2);
}

static void a_record_the_store_would_not_take_as_its_seq_fails_the_replay(void **state)
{
    env *e = *state;
    lt_journal_scan_info info;
    lt_diag d;
    char want[256];

    open_store_and_config(e);
    open_journal(e, SIZE);
    add_event(e, 1, "ev-1", "D1", 2);
    /* seq 2 is ev-1 again: the store would call it a duplicate of seq 1 */
    add_event(e, 2, "ev-1", "D1", 2);
    assert_int_equal(lt_journal_sync(e->j), 0);
    reopen_journal(e, SIZE);

    lt_diag_clear(&d);
    int r = lt_apply_journal(e->s, e->cfg, e->j, &info, &d);
    assert_true(r < 0);
    snprintf(want, sizeof(want), "%s: record at offset ", e->path);
    if (strncmp(d.message, want, strlen(want)) != 0 || !strstr(d.message, " seq=2 ") ||
        !strstr(d.message, "duplicate"))
        fail_msg("diag: %s", d.message);
    /* nothing of it reached the store, not even seq 1, and the journal kept it */
    assert_int_equal(lt_store_last_seq(e->s), 0);
    assert_int_equal(stored_seq(e, "ev-1"), 0);
    seen s = replay(e, 0, &info);
    assert_int_equal(s.n, 2);

    /* the same for a record whose bytes do not decode as an Event */
    lt_journal_reset(e->j);
    add_event(e, 1, "ev-1", "D1", 2);
    static const uint8_t junk[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F };
    assert_int_equal(lt_journal_add(e->j, 2, T0_MS, SENDER, junk, sizeof(junk)), 0);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_diag_clear(&d);
    assert_int_equal(lt_apply_journal(e->s, e->cfg, e->j, &info, &d), LT_ERR_MALFORMED);
    if (strncmp(d.message, want, strlen(want)) != 0 || !strstr(d.message, " seq=2:") ||
        !strstr(d.message, "does not decode"))
        fail_msg("diag: %s", d.message);
    assert_int_equal(lt_store_last_seq(e->s), 0);
    assert_int_equal(stored_seq(e, "ev-1"), 0);
    assert_int_equal(lt_journal_records(e->j), 2); /* not reset */

    /* and for one the store rejects (a transition the dossier cannot make) */
    lt_journal_reset(e->j);
    add_event(e, 1, "ev-1", "D1", 2);
    add_event(e, 2, "ev-2", "D1", 1);
    assert_int_equal(lt_journal_sync(e->j), 0);
    lt_diag_clear(&d);
    assert_true(lt_apply_journal(e->s, e->cfg, e->j, &info, &d) < 0);
    if (strncmp(d.message, want, strlen(want)) != 0 || !strstr(d.message, " seq=2 ") ||
        !strstr(d.message, "rejected"))
        fail_msg("diag: %s", d.message);
    assert_int_equal(lt_store_last_seq(e->s), 0);
    assert_int_equal(stored_seq(e, "ev-1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_creates_the_file_and_records_survive_a_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bookkeeping_no_room_and_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(written_records_are_flushed_on_the_sync_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(after_a_reset_stale_records_are_never_applied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stale_records_that_line_up_are_not_applied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_journal_of_another_store_is_not_read, setup, teardown),
        cmocka_unit_test_setup_teardown(a_torn_last_record_ends_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(a_seq_gap_or_a_cut_buffer_ends_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(first_seq_of_missing_empty_zeroed_and_written_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(replay_puts_the_records_into_the_store_and_resets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_journal_ahead_of_the_store_refuses_the_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_record_the_store_would_not_take_as_its_seq_fails_the_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
