/*
 * core-impl.h — internals shared by the library's modules (never installed):
 * the assert macro, error reporting, overflow-checked arithmetic and a small
 * string → index hash map.
 */
#ifndef TS_CORE_IMPL_H
#define TS_CORE_IMPL_H

#include "tessera/core.h"

#include <stdarg.h>

/* ---------------------------------------------------------------- assert */

_Noreturn void ts_assert_fail(const char *file, int line, const char *expr);

/* For invariants of our own code; bad input gets a status, never this. */
#define TS_ASSERT(x)                                       \
    do {                                                   \
        if (!(x)) ts_assert_fail(__FILE__, __LINE__, #x);  \
    } while (0)

/* ----------------------------------------------------------------- error */

/* Record a message for ts_last_error() and return `status`, so that a
 * failure reads `return ts_error(TS_ERR_FORMAT, "key '%s' ...", key);`. */
ts_status ts_error(ts_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
ts_status ts_verror(ts_status status, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* ------------------------------------------------------------------- log */

void ts_log(ts_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ arithmetic */

/* Each returns false on overflow and leaves *out unspecified. */
static inline bool ts_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool ts_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* Round up to a multiple of `align` (a power of two). */
static inline bool ts_align_u64(uint64_t x, uint64_t align, uint64_t *out) {
    if (!ts_add_u64(x, align - 1, out)) return false;
    *out &= ~(align - 1);
    return true;
}
static inline bool ts_is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* ------------------------------------------------------------------ hash */

/* FNV-1a (64-bit) of s[0..n), for the library's hash tables. */
static inline uint64_t ts_hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* --------------------------------------------------------------- strmap */

/* Open-addressing map from NUL-terminated keys (borrowed; they must outlive
 * the map) to int64 values. */
typedef struct ts_strmap {
    const char **keys; /* (cap) */
    int64_t *vals;     /* (cap) */
    size_t cap;        /* power of two, or 0 */
    size_t n;
} ts_strmap;

/* Insert key → val. Returns TS_OK, TS_ERR_INVALID_ARG when the key is already
 * present (*existing receives its value when non-NULL), or TS_ERR_NOMEM. */
ts_status ts_strmap_put(ts_strmap *m, const char *key, int64_t val, int64_t *existing);
/* Value of key, or -1. */
int64_t ts_strmap_get(const ts_strmap *m, const char *key);
void ts_strmap_free(ts_strmap *m);

#endif /* TS_CORE_IMPL_H */
