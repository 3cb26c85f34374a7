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

/* ------------------------------------------------------------------ heap */

/* TS_HEAP_DEFINE(name, T, before) defines a binary heap of T with
 *   ts_status name_push(name *h, T item, const char *what);
 *   T name_pop(name *h);        (the heap must not be empty)
 *   void name_free(name *h);
 * (static inline)
 * where before(const T *a, const T *b) is true when a comes out first. A
 * macro rather than a void* heap: the comparison is inlined on the
 * tokenizers' hot path. Zero-initialize the heap; push grows it (doubling;
 * TS_ERR_NOMEM with a message naming `what`). */
#define TS_HEAP_DEFINE(name, T, before)                                                   \
    typedef struct name {                                                                 \
        T *items;                                                                         \
        size_t n, cap;                                                                    \
    } name;                                                                               \
    static inline ts_status name##_push(name *h, T item, const char *what) {                     \
        if (h->n == h->cap) {                                                             \
            size_t cap = h->cap ? h->cap * 2 : 64;                                        \
            if (cap > SIZE_MAX / 2 / sizeof(T))                                           \
                return ts_error(TS_ERR_NOMEM, "%s: queue too long", what);                \
            T *p = realloc(h->items, cap * sizeof(T));                                    \
            if (!p) return ts_error(TS_ERR_NOMEM, "%s: out of memory (queue of %zu)", what, cap); \
            h->items = p, h->cap = cap;                                                   \
        }                                                                                 \
        size_t i = h->n++;                                                                \
        while (i > 0 && before(&item, &h->items[(i - 1) / 2])) { /* sift up */            \
            h->items[i] = h->items[(i - 1) / 2];                                          \
            i = (i - 1) / 2;                                                              \
        }                                                                                 \
        h->items[i] = item;                                                               \
        return TS_OK;                                                                     \
    }                                                                                     \
    static inline T name##_pop(name *h) {                                                        \
        TS_ASSERT(h->n > 0);                                                              \
        T top = h->items[0], last = h->items[--h->n];                                     \
        size_t i = 0, n = h->n;                                                           \
        for (;;) { /* sift down */                                                        \
            size_t c = 2 * i + 1;                                                         \
            if (c >= n) break;                                                            \
            if (c + 1 < n && before(&h->items[c + 1], &h->items[c])) c++;                 \
            if (!before(&h->items[c], &last)) break;                                      \
            h->items[i] = h->items[c];                                                    \
            i = c;                                                                        \
        }                                                                                 \
        if (n > 0) h->items[i] = last;                                                    \
        return top;                                                                       \
    }                                                                                     \
    static inline void name##_free(name *h) {                                                    \
        free(h->items);                                                                   \
        *h = (name){0};                                                                   \
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
