/*
 * test_status.c — status strings, last-error messages, the log callback and
 * the assert hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/core-impl.h"

static void test_status_strings(void **state) {
    (void)state;
    for (int s = 0; s < TS_STATUS_COUNT; s++) {
        assert_non_null(ts_status_str((ts_status)s));
        assert_true(strlen(ts_status_str((ts_status)s)) > 0);
    }
    assert_string_equal(ts_status_str(TS_ERR_FORMAT), "malformed file");
    assert_string_equal(ts_status_str((ts_status)1000), "unknown status");
}

static void test_last_error(void **state) {
    (void)state;
    assert_int_equal(ts_error(TS_ERR_IO, "cannot open '%s'", "x.gguf"), TS_ERR_IO);
    assert_string_equal(ts_last_error(), "cannot open 'x.gguf'");
}

static char logged[256];
static ts_log_level logged_level;

static void capture(ts_log_level level, const char *msg, void *user) {
    (void)user;
    logged_level = level;
    snprintf(logged, sizeof logged, "%s", msg);
}

static void test_log(void **state) {
    (void)state;
    ts_log_set(capture, NULL, TS_LOG_INFO);
    ts_log(TS_LOG_DEBUG, "hidden %d", 1);
    assert_string_equal(logged, "");
    ts_log(TS_LOG_WARN, "shown %d", 2);
    assert_string_equal(logged, "shown 2");
    assert_int_equal(logged_level, TS_LOG_WARN);
    ts_log_set(NULL, NULL, TS_LOG_WARN);
}

static jmp_buf assert_jump;
static char assert_expr[64];

static void catch_assert(const char *file, int line, const char *expr) {
    (void)file;
    (void)line;
    snprintf(assert_expr, sizeof assert_expr, "%s", expr);
    longjmp(assert_jump, 1);
}

static void test_assert_hook(void **state) {
    (void)state;
    ts_assert_hook_set(catch_assert);
    if (setjmp(assert_jump) == 0) {
        (void)ts_type_get((ts_type)4); /* a removed type id: a caller bug */
        fail_msg("ts_type_get accepted an invalid type");
    }
    assert_non_null(strstr(assert_expr, "ts_type_valid"));
    ts_assert_hook_set(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_last_error),
        cmocka_unit_test(test_log),
        cmocka_unit_test(test_assert_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
