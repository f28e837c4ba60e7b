/* test_syncer.c - fdatasync on a helper thread (daemon/syncer.h), on a real
 * file in a fresh temp dir. What the loop relies on: every request gets a
 * larger ticket; the eventfd becomes readable once a flush covering it is
 * done, and only then does lt_syncer_done report it; a failed flush is
 * reported, stays reported, and never counts as synced; stopping with a
 * request pending still flushes it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncer.h"
#include "tmpdir.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
// clang-format on

/* Wait until the syncer reports at least want (or fails); 5 s at most. */
static int wait_synced(lt_syncer *s, uint64_t want, uint64_t *synced)
{
    for (int i = 0; i < 100; i++) {
        struct pollfd pfd = { lt_syncer_fd(s), POLLIN, 0 };
        poll(&pfd, 1, 50);
        int r = lt_syncer_done(s, synced);
        if (r < 0 || *synced >= want)
            return r;
    }
    return -ETIMEDOUT;
}

/* A new empty file in a fresh temp dir; dir and path are filled in.
 * Returns its fd. */
static int temp_file(char *dir, size_t dsize, char *path, size_t psize)
{
    assert_int_equal(lt_t_tmpdir("syncer", dir, dsize), 0);
    snprintf(path, psize, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    return fd;
}

static void tickets_grow_and_each_is_reported_after_its_flush(void **state)
{
    (void)state;
    char dir[256], path[300];
    int fd = temp_file(dir, sizeof(dir), path, sizeof(path));

    lt_syncer *s = NULL;
    assert_int_equal(lt_syncer_start(fd, &s), 0);
    uint64_t synced = 99;
    assert_int_equal(lt_syncer_requested(s), 0);
    assert_int_equal(lt_syncer_done(s, &synced), 0);
    assert_int_equal(synced, 0); /* nothing asked, nothing done */

    for (uint64_t want = 1; want <= 20; want++) {
        assert_int_equal(pwrite(fd, "record\n", 7, (off_t)(want * 7)), 7);
        assert_int_equal(lt_syncer_request(s), want);
        assert_int_equal(lt_syncer_requested(s), want);
        assert_int_equal(wait_synced(s, want, &synced), 0);
        assert_int_equal(synced, want);
    }
    /* requests made while one flush runs are covered together */
    for (int i = 0; i < 5; i++)
        lt_syncer_request(s);
    assert_int_equal(wait_synced(s, 25, &synced), 0);
    assert_int_equal(synced, 25);

    lt_syncer_stop(&s);
    assert_null(s);
    lt_syncer_stop(&s); /* accepts NULL */
    close(fd);
    lt_t_rmtree(dir);
}

static void a_failed_flush_is_reported_and_stays_reported(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0); /* fdatasync on a pipe fails with EINVAL */
    lt_syncer *s = NULL;
    assert_int_equal(lt_syncer_start(p[1], &s), 0);
    uint64_t t = lt_syncer_request(s), synced = 7;
    assert_int_equal(t, 1);
    assert_int_equal(wait_synced(s, t, &synced), -EINVAL);
    assert_int_equal(synced, 0); /* never counted as done */
    lt_syncer_request(s);
    assert_int_equal(lt_syncer_done(s, &synced), -EINVAL);
    assert_int_equal(synced, 0);
    lt_syncer_stop(&s);
    close(p[0]);
    close(p[1]);
}

static void stopping_flushes_what_was_asked(void **state)
{
    (void)state;
    char dir[256], path[300];
    int fd = temp_file(dir, sizeof(dir), path, sizeof(path));
    lt_syncer *s = NULL;
    assert_int_equal(lt_syncer_start(fd, &s), 0);
    assert_int_equal(pwrite(fd, "x", 1, 0), 1);
    lt_syncer_request(s);
    lt_syncer_stop(&s); /* joins after the flush; nothing to assert but no hang or leak */
    assert_null(s);
    close(fd);
    lt_t_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tickets_grow_and_each_is_reported_after_its_flush),
        cmocka_unit_test(a_failed_flush_is_reported_and_stays_reported),
        cmocka_unit_test(stopping_flushes_what_was_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
