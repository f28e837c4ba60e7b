/* syncer.h - fdatasync one file on a helper thread, so the caller keeps working.
 *
 * The ingest journal (journal.h) is written on the loop's thread and flushed
 * here: while one flush waits on the disk, the loop receives, validates and
 * stages the next pass, and writes its records after the ones being
 * flushed. Requests that arrive during a flush are covered by the next one
 * (one fdatasync for all of them: group sync).
 *
 * Tickets: lt_syncer_request() returns n, the number of requests so far.
 * Everything written to the file before that call is on disk once
 * lt_syncer_done() reports synced >= n. An eventfd becomes readable after
 * each flush, for the caller's poll. A failed fdatasync is sticky: every
 * later lt_syncer_done() returns its error, and nothing written since the
 * last good flush may be acknowledged.
 */
#ifndef LT_SYNCER_H
#define LT_SYNCER_H

#include <stdint.h>

typedef struct lt_syncer lt_syncer;

/* Start the thread for fd (borrowed; it must stay open until lt_syncer_stop).
 * [out] ret: stop with lt_syncer_stop(). Returns 0 or -errno. */
int lt_syncer_start(int fd, lt_syncer **ret);

/* Ask for a flush of everything written to fd so far. Returns its ticket. */
uint64_t lt_syncer_request(lt_syncer *s);

/* The ticket of the last request (0 before the first). */
uint64_t lt_syncer_requested(const lt_syncer *s);

/* Readable after each flush (or failure); lt_syncer_done() drains it. */
int lt_syncer_fd(const lt_syncer *s);

/* [out] ret_synced: the highest ticket flushed. Returns 0, or the -errno of
 * the failed fdatasync (and keeps returning it). */
int lt_syncer_done(lt_syncer *s, uint64_t *ret_synced);

/* Finish the flush in progress, stop the thread, free, null *p. Accepts NULL. */
void lt_syncer_stop(lt_syncer **p);

#endif
