/* log.c - stderr logger with journald priority prefixes. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lt_log_level = LT_LOG_INFO;

int lt_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = { { "error", LT_LOG_ERR },
                  { "warning", LT_LOG_WARN },
                  { "info", LT_LOG_INFO },
                  { "debug", LT_LOG_DEBUG } };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].level;
    return -1;
}

void lt_log_write(int prio, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "<%d>", prio);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent writers do not interleave within a line. */
    size_t len = strlen(line);
    if (len + 1 < sizeof(line)) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}

const char *lt_log_mask(const char *s, char *buf, size_t size)
{
    size_t n = s ? strlen(s) : 0;

    if (size == 0)
        return buf;
    for (size_t i = 0; i < n && i + 1 < size; i++)
        buf[i] = (i < 2 || i + 2 >= n) && n > 6 ? s[i] : '*';
    buf[n < size ? n : size - 1] = '\0';
    return buf;
}
