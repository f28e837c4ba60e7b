/* test_worker.c - one job at a time on a helper thread (daemon/worker.h).
 * What the ingest loop relies on: a posted job runs on another thread;
 * after lt_worker_wait everything it wrote is visible; waiting with nothing
 * posted returns at once; jobs run one after another; stopping finishes
 * the job in progress. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
// clang-format on

typedef struct job {
    pthread_t ran_on;
    int values[4096];
    int n;
    useconds_t sleep_us;
    bool done;
} job;

static void fill(void *arg)
{
    job *j = arg;
    if (j->sleep_us)
        usleep(j->sleep_us);
    j->ran_on = pthread_self();
    for (int i = 0; i < j->n; i++)
        j->values[i] = i * 3 + 1;
    j->done = true;
}

static void jobs_run_on_the_thread_and_are_seen_after_the_wait(void **state)
{
    (void)state;
    lt_worker *w = NULL;
    assert_int_equal(lt_worker_start(&w), 0);
    lt_worker_wait(w); /* nothing posted: returns */

    static job j;
    for (int round = 0; round < 200; round++) {
        memset(&j, 0, sizeof(j));
        j.n = 4096;
        j.sleep_us = round % 50 == 0 ? 20000 : 0; /* sometimes slower than the caller */
        lt_worker_post(w, fill, &j);
        lt_worker_wait(w);
        assert_true(j.done);
        assert_false(pthread_equal(j.ran_on, pthread_self()));
        for (int i = 0; i < j.n; i++)
            assert_int_equal(j.values[i], i * 3 + 1);
    }
    lt_worker_stop(&w);
    assert_null(w);
    lt_worker_stop(&w); /* accepts NULL */
}

static void stopping_finishes_the_job_in_progress(void **state)
{
    (void)state;
    lt_worker *w = NULL;
    static job j;
    memset(&j, 0, sizeof(j));
    j.n = 10;
    j.sleep_us = 50000;
    assert_int_equal(lt_worker_start(&w), 0);
    lt_worker_post(w, fill, &j);
    lt_worker_stop(&w);
    assert_true(j.done);
    assert_int_equal(j.values[9], 28);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jobs_run_on_the_thread_and_are_seen_after_the_wait),
        cmocka_unit_test(stopping_finishes_the_job_in_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
