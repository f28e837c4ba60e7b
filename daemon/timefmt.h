/* timefmt.h - RFC 3339 timestamps as carried on the wire.
 *
 * Accepted: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), 'T' or 't' or ' '
 * as separator, years 1970-9999. The fraction is accepted and dropped
 * (dossier deadlines are in seconds). Pure functions.
 */
#ifndef LT_TIMEFMT_H
#define LT_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse s into seconds since the epoch (UTC). Returns 0 or -EINVAL. */
int lt_time_parse(const char *s, int64_t *ret_sec);

/* Format sec as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void lt_time_format(int64_t sec, char *buf, size_t size);

/* Format ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (at least 25 bytes). */
void lt_time_format_ms(int64_t ms, char *buf, size_t size);

/* Wall clock, ms since the epoch. */
int64_t lt_time_now_ms(void);

/* Monotonic clock in µs and in ms, for waits and intervals (it never
 * jumps, whatever is done to the wall clock). */
int64_t lt_time_mono_us(void);
int64_t lt_time_mono_ms(void);

#endif
