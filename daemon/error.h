/* error.h - lienthong's one error scheme and the diagnostic record.
 *
 * Every function that can fail returns int: 0 on success, -errno for system
 * errors, or one of the LT_ERR_* codes below (one reserved negative range, far
 * below any errno). lt_strerror() names both. LMDB, ZeroMQ and libyaml codes are
 * translated where they occur; no module invents its own success value.
 *
 * Errors a user reads (config, decoder, validation) carry detail in an lt_diag
 * passed as the last argument: file, line, column, field and a message. The
 * diag is written only on failure; passing NULL is allowed.
 */
#ifndef LT_ERROR_H
#define LT_ERROR_H

#include <stddef.h>

enum {
    LT_ERR_BASE = -30000,
    LT_ERR_CONFIG = LT_ERR_BASE,  /* config file invalid; see diag */
    LT_ERR_MALFORMED,             /* input could not be decoded */
    LT_ERR_INVALID,               /* input decoded but fails validation; see diag */
    LT_ERR_STORE_FULL,            /* LMDB map full */
    LT_ERR_SCHEMA,                /* store schema version not supported */
    LT_ERR_STORE,                 /* other LMDB failure (fatal for writers) */
    LT_ERR_PANIC,                 /* MDB_PANIC: the environment must be reopened */
    LT_ERR_NOT_FOUND,             /* key not present */
    LT_ERR_ZMQ,                   /* ZeroMQ call failed; errno in diag message */
    LT_ERR_LAST
};

/* Detail of a failure meant for a human. All strings are NUL-terminated. */
typedef struct lt_diag {
    char file[256];    /* file concerned, or "" */
    int line;          /* 1-based, 0 when not applicable */
    int column;        /* 1-based, 0 when not applicable */
    int code;          /* wire ErrorCode for decoder/validation errors, else 0 */
    char field[128];   /* dotted field path, e.g. event.status.due_at, or "" */
    char message[512]; /* what is wrong, phrased for the reader */
} lt_diag;

/* Return a static string describing err (0, -errno or LT_ERR_*). Never NULL. */
const char *lt_strerror(int err);

/* Reset *d to empty. Accepts NULL. */
void lt_diag_clear(lt_diag *d);

/* Fill *d (if not NULL) with code, field and a printf-formatted message.
 * Returns err unchanged so callers can write `return lt_diag_set(...)`. */
int lt_diag_set(lt_diag *d, int err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Format "FILE:LINE:COL: message" (parts omitted when empty/0) into buf. */
void lt_diag_format(const lt_diag *d, char *buf, size_t size);

#endif
