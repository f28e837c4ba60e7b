/* test_cli_util.c - lienthongctl's shared helpers: ages as queues and dead
 * list print them, option values, delivery state names. */
#include <errno.h>

#include "ctl.h"

/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
// clang-format on

/* dead reasons: what names one delivery is taken out, the rest is kept whole */
static void test_dead_reason(void **state)
{
    char buf[256];
    (void)state;
    ctl_dead_reason("permanent failure: data quality: dossier H29-1: received time missing",
                    "H29-1", buf, sizeof(buf));
    assert_string_equal(buf, "permanent failure: data quality: received time missing");
    ctl_dead_reason("retry later: HTTP 503 (max_attempts reached after 12 attempts)", "X", buf,
                    sizeof(buf));
    assert_string_equal(buf, "retry later: HTTP 503 (max_attempts reached after N attempts)");
    ctl_dead_reason("permanent failure: HTTP 400: {\"error\":\"dossier_code H29-9\"}", "H29-9", buf,
                    sizeof(buf));
    assert_string_equal(buf, "permanent failure: HTTP 400: {\"error\":\"dossier_code DOSSIER\"}");
    ctl_dead_reason(NULL, "H29-1", buf, sizeof(buf));
    assert_string_equal(buf, "(no error recorded)");
    ctl_dead_reason("after 3 attempts", NULL, buf, 8); /* cut to the buffer */
    assert_string_equal(buf, "after N");
}

static void test_age(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_age(-5, b, sizeof(b)), "0s");
    assert_string_equal(ctl_age(999, b, sizeof(b)), "0s");
    assert_string_equal(ctl_age(45000, b, sizeof(b)), "45s");
    assert_string_equal(ctl_age(60000, b, sizeof(b)), "1m00s");
    assert_string_equal(ctl_age(725000, b, sizeof(b)), "12m05s");
    assert_string_equal(ctl_age((3 * 3600 + 12 * 60 + 59) * 1000LL, b, sizeof(b)), "3h12m");
    assert_string_equal(ctl_age((2 * 86400 + 3 * 3600) * 1000LL, b, sizeof(b)), "2d03h");
}

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(ctl_parse_u64("--credit", "100", 1, 1000, &v), 0);
    assert_int_equal(v, 100);
    assert_true(ctl_parse_u64("--credit", "0", 1, 1000, &v) < 0);
    assert_true(ctl_parse_u64("--credit", "1001", 1, 1000, &v) < 0);
    assert_true(ctl_parse_u64("--credit", "-1", 0, 1000, &v) < 0);
    assert_true(ctl_parse_u64("--credit", "", 0, 1000, &v) < 0);
    assert_true(ctl_parse_u64("--from", "latest", 1, UINT64_MAX, &v) < 0);
    assert_int_equal(ctl_parse_u64("--from", "18446744073709551615", 1, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

/* report --from/--to: a date is midnight in Vietnam; RFC 3339 as written */
static void test_parse_when(void **state)
{
    (void)state;
    int64_t t = 0;
    assert_int_equal(ctl_parse_when("2026-11-01", &t), 0);
    assert_int_equal(t, 1793466000); /* 2026-10-31T17:00:00Z */
    assert_int_equal(ctl_parse_when("2026-11-01T08:00:00+07:00", &t), 0);
    assert_int_equal(t, 1793494800); /* 2026-11-01T01:00:00Z */
    assert_int_equal(ctl_parse_when("2026-11-01T01:00:00Z", &t), 0);
    assert_int_equal(t, 1793494800);
    static const char *const bad[] = { "",           "yesterday",  "2026-13-01", "2026-11-31x",
                                       "2026-11-1",  "26-11-01",   "2026/11/01", "2026-11-01T",
                                       "+026-11-01", "2026-02-30", "1970-01-01", NULL };
    for (int i = 0; bad[i]; i++) {
        t = 42;
        if (ctl_parse_when(bad[i], &t) != -EINVAL)
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)t);
    }
}

static void test_delivery_state(void **state)
{
    (void)state;
    assert_string_equal(ctl_delivery_state(LIENTHONG__V1__DELIVERY__STATE__DEAD), "DEAD");
    assert_string_equal(ctl_delivery_state(LIENTHONG__V1__DELIVERY__STATE__SKIPPED), "SKIPPED");
    assert_string_equal(ctl_delivery_state(99), "UNSPECIFIED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_age),         cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_when),  cmocka_unit_test(test_delivery_state),
        cmocka_unit_test(test_dead_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
