/* test_timefmt.c - RFC 3339 parsing and formatting (daemon/timefmt.h). */
#include "timefmt.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct parse_case {
    const char *in;
    int64_t want;
} parse_case;

/* Accepted inputs and their seconds since the epoch (checked with `date -u -d`). */
static const parse_case good[] = {
    { "1970-01-01T00:00:00Z", 0 },
    { "2026-11-24T09:30:00Z", 1795512600 },
    { "2026-11-24T09:30:00+07:00", 1795512600 - 7 * 3600 },
    { "2026-11-24T09:30:00-03:30", 1795512600 + 3 * 3600 + 30 * 60 },
    { "2026-11-24T09:30:00+00:00", 1795512600 },
    { "2026-11-24T09:30:00-00:00", 1795512600 },
    { "2026-11-24t09:30:00z", 1795512600 },
    { "2026-11-24 09:30:00Z", 1795512600 },
    { "2026-11-24T09:30:00.5Z", 1795512600 },
    { "2026-11-24T09:30:00.123456789+07:00", 1795512600 - 7 * 3600 },
    { "2024-02-29T12:00:00Z", 1709208000 }, /* leap year */
    { "2000-02-29T00:00:00Z", 951782400 },  /* divisible by 400: leap */
    { "2024-12-31T23:59:59Z", 1735689599 },
    { "2016-12-31T23:59:60Z", 1483228800 },      /* leap second folds into the next */
    { "2026-01-01T00:30:00+07:00", 1767202200 }, /* offset crosses the year */
    { "9999-12-31T23:59:59Z", 253402300799 },
};

/* Rejected inputs, each for one reason. */
static const char *const bad[] = {
    "",
    "2026-11-24",
    "2026-11-24T09:30:00",  /* no zone */
    "2026-11-24T09:30Z",    /* no seconds */
    "2026-11-24X09:30:00Z", /* bad separator */
    "2026/11/24T09:30:00Z",
    "26-11-24T09:30:00Z",
    "2026-1-24T09:30:00Z",
    "2026-13-01T00:00:00Z", /* month 13 */
    "2026-00-01T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "2026-11-31T00:00:00Z", /* November has 30 days */
    "2025-02-29T00:00:00Z", /* not a leap year */
    "1900-02-29T00:00:00Z", /* divisible by 100: not leap (and before 1970) */
    "2100-02-29T00:00:00Z", /* divisible by 100: not leap */
    "1969-12-31T23:59:59Z", /* before 1970 */
    "2026-11-24T24:00:00Z",
    "2026-11-24T09:60:00Z",
    "2026-11-24T09:30:61Z",
    "2026-11-24T09:30:00.Z",           /* empty fraction */
    "2026-11-24T09:30:00.1234567890Z", /* more than nanoseconds */
    "2026-11-24T09:30:00+0700",        /* offset without colon */
    "2026-11-24T09:30:00+07",
    "2026-11-24T09:30:00+24:00",
    "2026-11-24T09:30:00+07:60",
    "2026-11-24T09:30:00ZZ", /* trailing garbage */
    "2026-11-24T09:30:00Z ",
    " 2026-11-24T09:30:00Z",
    "2026-11-24T09:30:00+07:00x",
    "２026-11-24T09:30:00Z", /* non-ASCII digit */
};

static void parse_accepts_rfc3339_with_zones_fractions_and_leap_days(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t t = -1;
        int r = lt_time_parse(good[i].in, &t);
        if (r != 0 || t != good[i].want)
            fail_msg("%s: r=%d t=%lld, want %lld", good[i].in, r, (long long)t,
                     (long long)good[i].want);
    }
}

static void parse_rejects_each_bad_input_and_leaves_output_alone(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 42;
        int r = lt_time_parse(bad[i], &t);
        if (r != -EINVAL || t != 42)
            fail_msg("'%s' was not rejected: r=%d t=%lld", bad[i], r, (long long)t);
    }
    int64_t t = 42;
    assert_int_equal(lt_time_parse(NULL, &t), -EINVAL);
    assert_int_equal(t, 42);
}

static void parse_rejects_every_truncation_of_a_valid_time(void **state)
{
    const char *full = "2026-11-24T09:30:00.25+07:00";
    char buf[64];

    (void)state;
    for (size_t n = 0; n < strlen(full); n++) {
        int64_t t;
        snprintf(buf, sizeof(buf), "%.*s", (int)n, full);
        if (lt_time_parse(buf, &t) != -EINVAL)
            fail_msg("truncation '%s' was accepted", buf);
    }
}

static void format_round_trips_through_parse(void **state)
{
    static const int64_t secs[] = { 0,          1,          86399,      951782400,
                                    1709208000, 1795512600, 1735689599, 253402300799 };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        int64_t t = -1;
        lt_time_format(secs[i], buf, sizeof(buf));
        assert_int_equal(lt_time_parse(buf, &t), 0);
        assert_int_equal(t, secs[i]);
    }
    lt_time_format(1795512600, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-24T09:30:00Z");
    lt_time_format(1709208000, buf, sizeof(buf));
    assert_string_equal(buf, "2024-02-29T12:00:00Z");
}

static void format_ms_keeps_milliseconds_and_parses_back_to_seconds(void **state)
{
    char buf[32];
    int64_t t;

    (void)state;
    lt_time_format_ms(1795512600007, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-24T09:30:00.007Z");
    assert_int_equal(lt_time_parse(buf, &t), 0);
    assert_int_equal(t, 1795512600);
    lt_time_format_ms(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    lt_time_format_ms(-1, buf, sizeof(buf));
    assert_string_equal(buf, "invalid");
}

static void format_truncates_to_a_small_buffer_without_overflow(void **state)
{
    char buf[8];

    (void)state;
    lt_time_format(1795512600, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11");
}

static void now_ms_is_a_plausible_wall_clock(void **state)
{
    (void)state;
    int64_t now = lt_time_now_ms();
    assert_true(now > 1700000000000LL);   /* after 2023 */
    assert_true(now < 253402300799000LL); /* before 10000 */
}

static void mono_us_counts_microseconds_and_never_goes_back(void **state)
{
    (void)state;
    int64_t a = lt_time_mono_us();
    usleep(2000);
    int64_t b = lt_time_mono_us();
    assert_true(b - a >= 2000); /* at least the sleep, in µs (not ms) */
    for (int i = 0; i < 1000; i++) {
        int64_t c = lt_time_mono_us();
        assert_true(c >= b);
        b = c;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_accepts_rfc3339_with_zones_fractions_and_leap_days),
        cmocka_unit_test(parse_rejects_each_bad_input_and_leaves_output_alone),
        cmocka_unit_test(parse_rejects_every_truncation_of_a_valid_time),
        cmocka_unit_test(format_round_trips_through_parse),
        cmocka_unit_test(format_ms_keeps_milliseconds_and_parses_back_to_seconds),
        cmocka_unit_test(format_truncates_to_a_small_buffer_without_overflow),
        cmocka_unit_test(now_ms_is_a_plausible_wall_clock),
        cmocka_unit_test(mono_us_counts_microseconds_and_never_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
