/* error.c - lt_strerror and lt_diag helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const lt_err_names[] = {
    "invalid configuration",
    "malformed input",
    "invalid input",
    "store full",
    "unsupported store schema version",
    "store error",
    "store panic (environment must be reopened)",
    "not found",
    "ZeroMQ error",
};

const char *lt_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err >= LT_ERR_BASE && err < LT_ERR_LAST)
        return lt_err_names[err - LT_ERR_BASE];
    if (err < 0 && err > LT_ERR_BASE)
        return strerror(-err);
    return "unknown error";
}

void lt_diag_clear(lt_diag *d)
{
    if (!d) /* every string is read up to its NUL: clearing the first bytes is enough */
        return;
    d->file[0] = d->field[0] = d->message[0] = '\0';
    d->line = d->column = d->code = 0;
}

int lt_diag_set(lt_diag *d, int err, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!d)
        return err;
    d->code = code;
    snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
    return err;
}

void lt_diag_format(const lt_diag *d, char *buf, size_t size)
{
    size_t n = 0;

    if (size == 0)
        return;
    buf[0] = '\0';
    if (d->file[0]) {
        if (d->line > 0 && d->column > 0)
            n = (size_t)snprintf(buf, size, "%s:%d:%d: ", d->file, d->line, d->column);
        else if (d->line > 0)
            n = (size_t)snprintf(buf, size, "%s:%d: ", d->file, d->line);
        else
            n = (size_t)snprintf(buf, size, "%s: ", d->file);
    }
    if (n < size)
        snprintf(buf + n, size - n, "%s", d->message);
}
