/*
 * log.c — the library's log callback. Messages are formatted into a stack
 * buffer (long ones are cut), so logging never allocates.
 */
#include "core/core-impl.h"

#include <stdio.h>

static const char *const level_name[TS_LOG_LEVEL_COUNT] = {
    "debug", "info", "warning", "error",
};

static void default_log(ts_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "tessera: %s: %s\n", level_name[level], msg);
}

static ts_log_fn log_fn = default_log;
static void *log_user;
static ts_log_level log_min = TS_LOG_WARN;

void ts_log_set(ts_log_fn fn, void *user, ts_log_level min_level) {
    log_fn = fn ? fn : default_log;
    log_user = fn ? user : NULL;
    log_min = min_level < TS_LOG_LEVEL_COUNT ? min_level : TS_LOG_ERROR;
}

void ts_log(ts_log_level level, const char *fmt, ...) {
    if (level < log_min || level >= TS_LOG_LEVEL_COUNT) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}
