/* log.h - one line per event on stderr, journald-friendly.
 *
 * Each line starts with a syslog priority prefix (<3> err .. <7> debug) that
 * journald strips and records, followed by a message and key=value fields.
 * Only daemon handlers and main log; library modules return errors instead.
 * Never pass a citizen's id number, name or phone: use lt_log_mask().
 */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <stddef.h>

enum { LT_LOG_ERR = 3, LT_LOG_WARN = 4, LT_LOG_INFO = 6, LT_LOG_DEBUG = 7 };

/* Current threshold; lines above it are not formatted. Default LT_LOG_INFO. */
extern int lt_log_level;

/* Parse "error", "warning", "info" or "debug". Returns level or -1. */
int lt_log_level_parse(const char *name);

/* Write one line at prio. Use the macros below instead. */
void lt_log_write(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy a masked form of s into buf: first two and last two characters kept,
 * the rest as '*' ("0790*****123" -> "07********23"). Returns buf. */
const char *lt_log_mask(const char *s, char *buf, size_t size);

#define lt_log_at(prio, ...)                                                                       \
    do {                                                                                           \
        if ((prio) <= lt_log_level)                                                                \
            lt_log_write((prio), __VA_ARGS__);                                                     \
    } while (0)
#define lt_log_err(...)   lt_log_at(LT_LOG_ERR, __VA_ARGS__)
#define lt_log_warn(...)  lt_log_at(LT_LOG_WARN, __VA_ARGS__)
#define lt_log_info(...)  lt_log_at(LT_LOG_INFO, __VA_ARGS__)
#define lt_log_debug(...) lt_log_at(LT_LOG_DEBUG, __VA_ARGS__)

#endif
