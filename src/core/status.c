/*
 * status.c — status strings, the per-thread last-error message and the
 * assert hook.
 */
#include "core/core-impl.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

static const char *const status_str[TS_STATUS_COUNT] = {
#define TS_X(name, msg) [TS_ERR_##name] = msg,
    TS_STATUS_LIST(TS_X)
#undef TS_X
};

static void default_assert(const char *file, int line, const char *expr) {
    fprintf(stderr, "tessera: %s:%d: assertion failed: %s\n", file, line, expr);
}

static ts_assert_fn assert_hook = default_assert;

/* ------------------------------------------------------------------ public */

const char *ts_status_str(ts_status status) {
    if ((unsigned)status >= TS_STATUS_COUNT) return "unknown status";
    return status_str[status];
}

const char *ts_last_error(void) { return last_error; }

ts_status ts_verror(ts_status status, const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return status;
}

ts_status ts_error(ts_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ts_verror(status, fmt, ap);
    va_end(ap);
    return status;
}

void ts_assert_hook_set(ts_assert_fn fn) { assert_hook = fn ? fn : default_assert; }

_Noreturn void ts_assert_fail(const char *file, int line, const char *expr) {
    assert_hook(file, line, expr);
    abort();
}
