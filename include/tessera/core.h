/*
 * tessera/core.h — the foundation every other module stands on:
 * status codes and error messages, logging, the assert hook, the table of
 * tensor element types (GGML/GGUF block formats) and the tensor descriptor.
 *
 * Conventions used by the whole public API:
 *  - functions that can fail return ts_status; on failure a readable,
 *    one-line message naming the problem is available from ts_last_error()
 *    (per thread, valid until the next failing call on that thread);
 *  - the library never prints to stdout and never calls exit(); diagnostics
 *    go through the log callback (stderr by default).
 */
#ifndef TESSERA_CORE_H
#define TESSERA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/* X(name, default message) — one list, so names and messages never drift. */
#define TS_STATUS_LIST(X)                                   \
    X(OK, "success")                                        \
    X(INVALID_ARG, "invalid argument")                      \
    X(IO, "input/output error")                             \
    X(FORMAT, "malformed file")                             \
    X(UNSUPPORTED, "unsupported")                           \
    X(NOMEM, "out of memory")                               \
    X(NOT_FOUND, "not found")                               \
    X(ABORTED, "aborted by the caller")                     \
    X(FULL, "no space left in the context")

typedef enum ts_status {
#define TS_X(name, msg) TS_ERR_##name,
    TS_STATUS_LIST(TS_X)
#undef TS_X
    TS_STATUS_COUNT
} ts_status;

#define TS_OK TS_ERR_OK

/* Short fixed description of a status ("malformed file"); never NULL. */
const char *ts_status_str(ts_status status);

/* The message of the last failure on this thread ("tensor 'x' at offset 96:
 * ..."), or "" when none. Borrowed; valid until the next failing call on
 * this thread. */
const char *ts_last_error(void);

/* ------------------------------------------------------------------- log */

typedef enum ts_log_level {
    TS_LOG_DEBUG,
    TS_LOG_INFO,
    TS_LOG_WARN,
    TS_LOG_ERROR,
    TS_LOG_LEVEL_COUNT
} ts_log_level;

/* Receives one message without a trailing newline. */
typedef void (*ts_log_fn)(ts_log_level level, const char *msg, void *user);

/* Route library messages at or above min_level to fn (NULL restores the
 * default: stderr, WARN and above). Not thread-safe against concurrent
 * logging; call it at start-up. */
void ts_log_set(ts_log_fn fn, void *user, ts_log_level min_level);

/* ---------------------------------------------------------------- assert */

/* Called when an internal invariant fails (a bug, never bad input). The
 * default prints file:line and the expression to stderr and aborts. A hook
 * that returns is followed by abort() all the same. */
typedef void (*ts_assert_fn)(const char *file, int line, const char *expr);
void ts_assert_hook_set(ts_assert_fn fn);

/* ----------------------------------------------------------------- types */

/* Element types; the values are GGUF's on-disk type ids (ggml_type), gaps
 * included (ids of removed formats are not valid). */
typedef enum ts_type {
    TS_TYPE_F32 = 0,
    TS_TYPE_F16 = 1,
    TS_TYPE_Q4_0 = 2,
    TS_TYPE_Q4_1 = 3,
    TS_TYPE_Q5_0 = 6,
    TS_TYPE_Q5_1 = 7,
    TS_TYPE_Q8_0 = 8,
    TS_TYPE_Q8_1 = 9,
    TS_TYPE_Q2_K = 10,
    TS_TYPE_Q3_K = 11,
    TS_TYPE_Q4_K = 12,
    TS_TYPE_Q5_K = 13,
    TS_TYPE_Q6_K = 14,
    TS_TYPE_Q8_K = 15,
    TS_TYPE_IQ2_XXS = 16,
    TS_TYPE_IQ2_XS = 17,
    TS_TYPE_IQ3_XXS = 18,
    TS_TYPE_IQ1_S = 19,
    TS_TYPE_IQ4_NL = 20,
    TS_TYPE_IQ3_S = 21,
    TS_TYPE_IQ2_S = 22,
    TS_TYPE_IQ4_XS = 23,
    TS_TYPE_I8 = 24,
    TS_TYPE_I16 = 25,
    TS_TYPE_I32 = 26,
    TS_TYPE_I64 = 27,
    TS_TYPE_F64 = 28,
    TS_TYPE_IQ1_M = 29,
    TS_TYPE_BF16 = 30,
    TS_TYPE_TQ1_0 = 34,
    TS_TYPE_TQ2_0 = 35,
    TS_TYPE_MXFP4 = 39,
    TS_TYPE_NVFP4 = 40,
    TS_TYPE_Q1_0 = 41,
    TS_TYPE_COUNT
} ts_type;

/* Layout of one type: `block_size` elements are stored in `type_size` bytes.
 * A row of n elements is valid only when n is a multiple of block_size. */
typedef struct ts_type_traits {
    const char *name;  /* "Q4_K"; NULL for ids that are not a type */
    int64_t block_size;
    size_t type_size;
    bool quantized;
} ts_type_traits;

/* True when id names a type (ids of removed formats are not types). */
bool ts_type_valid(int64_t id);

/* Traits of a valid type; asserts on an invalid one. Borrowed, static. */
const ts_type_traits *ts_type_get(ts_type type);

/* Name of a type, or "?" for an invalid id. */
const char *ts_type_name(int64_t id);

/* Type by name ("q4_k", case-insensitive); false when unknown. */
bool ts_type_from_name(const char *name, ts_type *out);

/* Bytes of a row of n elements into *out. Returns false (without a message)
 * when n < 0, n is not a multiple of the block size, or the size overflows. */
bool ts_type_row_size(ts_type type, int64_t n, size_t *out);

/* ---------------------------------------------------------------- tensor */

#define TS_MAX_DIMS 4
#define TS_MAX_NAME 64 /* bytes including the terminating NUL, as in GGUF */

/* A token id of a model's vocabulary. */
typedef int32_t ts_token;
#define TS_TOKEN_NULL (-1)

/* A view of n-dimensional data. ne[0] is the innermost (contiguous)
 * dimension; a row is ne[0] elements. nb[i] is the byte stride of dimension
 * i; for a quantized type nb[0] is the size of a block. Unused dimensions
 * have ne = 1. The descriptor never owns `data`. */
typedef struct ts_tensor {
    ts_type type;
    int n_dims;
    int64_t ne[TS_MAX_DIMS];
    size_t nb[TS_MAX_DIMS];
    void *data;
    char name[TS_MAX_NAME];
} ts_tensor;

/* Fill *t as a contiguous tensor of `type` with n_dims (1..TS_MAX_DIMS)
 * dimensions ne. Returns TS_ERR_INVALID_ARG (with a message) when a
 * dimension is negative, the row is not a multiple of the block size or the
 * total size overflows. */
ts_status ts_tensor_init(ts_tensor *t, ts_type type, int n_dims,
                         const int64_t *ne, void *data);

/* Number of elements (product of ne). */
int64_t ts_tensor_nelements(const ts_tensor *t);

/* Bytes spanned by a contiguous tensor. */
size_t ts_tensor_nbytes(const ts_tensor *t);

/* ----------------------------------------------------------------- utf-8 */

/* Decode the UTF-8 sequence at s[0..n), n >= 1. Returns its length (1..4)
 * and the code point in *cp when it is well-formed; otherwise -k, where k
 * >= 1 is the length of the maximal ill-formed subpart (Unicode 3.9, the
 * rule Python's errors="replace" follows: one U+FFFD per subpart). */
int ts_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* The UTF-8 form of cp (up to 0x1FFFFF, what the four-byte form holds;
 * surrogates are encoded like any other value) into out; returns its length,
 * 1..4. */
size_t ts_utf8_encode(uint32_t cp, char out[4]);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_CORE_H */
