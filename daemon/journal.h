/* journal.h - the ingest journal: acknowledged events that are not in LMDB yet.
 *
 * The loop keeps one LMDB write transaction open across passes holding only
 * new events, and acknowledges each pass's accepted events after writing them
 * here: one sequential write and one fdatasync (a commit of the same events
 * into LMDB writes scattered B-tree pages and flushes twice). The fdatasync
 * runs on the journal's sync thread (syncer.h) while the loop stages the next
 * pass. The open transaction is committed within store.journal_commit_ms,
 * when the journal is full, and as soon as the loop is quiet; then the
 * journal starts again from its front.
 * After a crash, lt_apply_journal() (apply.h) replays the records whose seq
 * is above LMDB's last one, in order, before the daemon serves.
 *
 * File DATA_DIR/journal, allocated when created at store.journal_mb (a
 * larger existing file keeps its size, a smaller one is grown).
 * A round is what one open transaction holds: its records follow each other
 * from offset 0 with consecutive seqs. Little-endian, 40-byte header:
 *
 *   u32 magic "LTJ2"   u32 crc32 (zlib), seeded with the store's id, of
 *                      everything after this field
 *   u64 round          random, the same for every record of a round
 *   u64 seq            i64 accepted_at_ms
 *   u16 sender length  u16 0   u32 event length
 *   sender bytes, then the Event's protobuf bytes
 *
 * After a reset, records of earlier rounds remain behind the new ones. A
 * replay therefore applies the front round only: nothing when its first seq
 * is at or below LMDB's last (it was committed), else seq last+1, last+2, ...
 * while the round tag matches, stopping at the first record that is torn
 * (bad magic, length or crc: only the last write can be, and it was never
 * acknowledged), of another round, or out of sequence. A journal written for
 * another store (another store id) does not check at all.
 */
#ifndef LT_JOURNAL_H
#define LT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define LT_JOURNAL_HEADER 40

/* The longest a round stays open (uncommitted) while events keep coming,
 * unless store.journal_commit_ms is longer; readers wait that long for
 * acknowledged events (loop.c: commit_due). */
#define LT_JOURNAL_ROUND_MAX_MS 1000

typedef struct lt_journal lt_journal;

/* One record, borrowed from the scanned buffer (sender is not NUL-terminated). */
typedef struct lt_journal_record {
    uint64_t round;
    uint64_t seq;
    int64_t accepted_at_ms;
    const char *sender;
    size_t sender_len;
    const uint8_t *event;
    size_t event_len;
    uint64_t offset; /* where it starts in the file */
} lt_journal_record;

/* Why a scan ended, for the log. */
typedef struct lt_journal_scan_info {
    uint64_t end;     /* offset where the scan stopped */
    uint64_t applied; /* records passed to fn */
    uint64_t seq;     /* the seq of the record the scan stopped at, 0 if none */
    const char *why;  /* "end of file", "no record", "torn record", "already in the store",
                         "end of round", "seq gap", "stopped by the caller" */
} lt_journal_scan_info;

/* Called for each record in sequence; a non-zero return ends the scan with it. */
typedef int (*lt_journal_fn)(void *arg, const lt_journal_record *rec);

/* Scan buf (a journal's bytes, written for the store whose id is tag) for
 * the front round's records after seq `after`, in order: fn gets after+1,
 * after+2, ... Pure: this is what the fuzzer drives.
 * [out] info (may be NULL). Returns 0, or fn's non-zero return. */
int lt_journal_scan(const uint8_t *buf, size_t len, const char *tag, uint64_t after,
                    lt_journal_fn fn, void *arg, lt_journal_scan_info *info);

/* For readers in other processes (lienthongctl, tests): the seq of the
 * journal's first record, or 0 when there is none. The records since the
 * daemon's last commit start at the front, so while this is above LMDB's last
 * seq, acknowledged events are still on their way into LMDB. */
uint64_t lt_journal_first_seq(const char *path, const char *tag);

/* DATA_DIR/journal, the journal of the store in data_dir, into buf. Returns buf. */
char *lt_journal_path_in(const char *data_dir, char *buf, size_t size);

/* For readers in other processes (lienthongctl, tests): the first seq of the
 * acknowledged events that the journal in data_dir holds and the store (id
 * tag, last seq last_seq) does not, or 0 when it holds none. Under load each
 * commit is followed by a new round at the front: wait until the store's last
 * seq reaches the value returned, not until this returns 0. */
uint64_t lt_journal_unstored(const char *data_dir, const char *tag, uint64_t last_seq);

/* Open or create PATH for the store whose id is tag, with room for size
 * bytes of records (a larger existing file keeps its size). Reads the file
 * for replay.
 * [out] ret: caller frees with lt_journal_close().
 * Returns 0 or -errno with reterr naming the file. */
int lt_journal_open(const char *path, uint64_t size, const char *tag, lt_journal **ret,
                    lt_diag *reterr);

/* Scan the file as read at open or, after the first reset, what was written
 * since the last one; see lt_journal_scan. Returns 0, fn's return, or -errno. */
int lt_journal_replay(lt_journal *j, uint64_t after, lt_journal_fn fn, void *arg,
                      lt_journal_scan_info *info);

/* The file's path, for messages. */
const char *lt_journal_path(const lt_journal *j);

/* Bytes one record takes. */
size_t lt_journal_record_size(size_t sender_len, size_t event_len);

/* Bytes that can still be added before the journal must be reset. */
uint64_t lt_journal_room(const lt_journal *j);

/* Bytes of records written or added since the last reset. */
uint64_t lt_journal_used(const lt_journal *j);

/* Records written since the last reset (0: LMDB holds everything). */
uint64_t lt_journal_records(const lt_journal *j);

/* Buffer one record for the next lt_journal_write.
 * Returns 0, -ENOSPC (no room: commit and reset first), -E2BIG or -ENOMEM. */
int lt_journal_add(lt_journal *j, uint64_t seq, int64_t accepted_at_ms, const char *sender,
                   const uint8_t *event, size_t event_len);

/* Write the buffered records after the last ones, without flushing them.
 * On failure nothing buffered may be acknowledged. Returns 0 or -errno. */
int lt_journal_write(lt_journal *j);

/* lt_journal_write, then fdatasync on the caller's thread. Returns 0 or -errno. */
int lt_journal_sync(lt_journal *j);

/* The loop's way (syncer.h): after lt_journal_write, ask the journal's sync
 * thread to flush what was written. The records are durable once
 * lt_journal_synced() reports at least the returned ticket. */
uint64_t lt_journal_sync_request(lt_journal *j);

/* The ticket of the last request (0 before the first). */
uint64_t lt_journal_sync_requested(const lt_journal *j);

/* Readable after each flush, for the loop's poll. */
int lt_journal_sync_fd(const lt_journal *j);

/* [out] ret_synced: the highest ticket flushed. Returns 0, or the -errno of a
 * failed fdatasync: nothing written since the last good flush may then be
 * acknowledged. */
int lt_journal_synced(lt_journal *j, uint64_t *ret_synced);

/* Drop the records added since the last write (they were never written). */
void lt_journal_discard(lt_journal *j);

/* LMDB now holds every record: the next ones go to the front again. Drops
 * anything buffered and not written. */
void lt_journal_reset(lt_journal *j);

/* Close, free, null *p. Accepts NULL. */
void lt_journal_close(lt_journal **p);

#endif
