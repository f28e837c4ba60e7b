/* timefmt.c - RFC 3339 parse/format without locale or TZ dependence. */
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

/* Read exactly n digits at *p into *ret; advance *p. */
static int read_digits(const char **p, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -EINVAL;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

int lt_time_parse(const char *s, int64_t *ret_sec)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;

    if (!s)
        return -EINVAL;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (int n = 0; *p >= '0' && *p <= '9'; p++, n++)
            if (n >= 9)
                return -EINVAL;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om))
            return -EINVAL;
        if (oh > 23 || om > 59)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    /* Leap second 60 is accepted by RFC 3339; fold it into the next second. */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    *ret_sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
               sign * (oh * 3600 + om * 60);
    return 0;
}

void lt_time_format(int64_t sec, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)sec;

    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "invalid");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void lt_time_format_ms(int64_t ms, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);

    if (ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, size, "invalid");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int64_t lt_time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lt_time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t lt_time_mono_ms(void)
{
    return lt_time_mono_us() / 1000;
}
