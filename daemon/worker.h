/* worker.h - one job at a time on a helper thread.
 *
 * The ingest loop decodes and validates the next batch of submissions here
 * while it stores the current one (ingest.c): the second core takes the
 * decoding, the loop's thread keeps the store. The caller posts a job,
 * does other work, then waits for it; the wait is the only hand-over, so
 * everything the job wrote is visible to the caller after it. Not for
 * several posters: one caller thread owns a worker.
 */
#ifndef LT_WORKER_H
#define LT_WORKER_H

#include <stdbool.h>

typedef struct lt_worker lt_worker;

typedef void (*lt_worker_fn)(void *arg);

/* Start the thread. [out] ret: stop with lt_worker_stop(). Returns 0 or -errno. */
int lt_worker_start(lt_worker **ret);

/* Run fn(arg) on the thread. The worker must be idle (not posted, or waited for). */
void lt_worker_post(lt_worker *w, lt_worker_fn fn, void *arg);

/* Wait until the posted job has finished (returns at once when none is posted). */
void lt_worker_wait(lt_worker *w);

/* Finish the job in progress, stop the thread, free, null *p. Accepts NULL. */
void lt_worker_stop(lt_worker **p);

#endif
