/*
 * fuzz_gguf.c — libFuzzer entry for the GGUF reader.
 *
 * Feeds the input to ts_gguf_open_memory. When the reader accepts it, the
 * handle must keep every promise of gguf.h, so this walks all of it: each
 * key and value (every string byte, every array element), each tensor (every
 * data byte, so that ASan flags a pointer outside the input), the lookups by
 * name, and the layout invariants (data inside the image, aligned, no
 * overlap, nbytes consistent with type and shape). A broken promise aborts,
 * which libFuzzer reports as a crash.
 *
 * libFuzzer hands us an allocation of exactly `size` bytes; standalone.c does
 * the same, so any read past the image is an ASan error in either build.
 */
#include "tessera/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every byte read is folded in here, so the reads cannot be optimised out. */
static volatile uint64_t sink;

#define CHECK(x)                                                                \
    do {                                                                        \
        if (!(x)) {                                                             \
            fprintf(stderr, "fuzz_gguf: %s:%d: broken promise: %s\n", __FILE__, \
                    __LINE__, #x);                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* ---------------------------------------------------------------- helpers */

static uint64_t sum_bytes(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + b[i];
    return s;
}

static uint64_t walk_str(ts_str s) {
    CHECK(s.len == 0 || s.ptr != NULL);
    return sum_bytes(s.ptr, s.len);
}

static uint64_t walk_value(const ts_gguf_value *v) {
    CHECK((unsigned)v->type < TS_GGUF_TYPE_COUNT);
    if (v->type == TS_GGUF_TYPE_STRING) return walk_str(v->v.str);
    if (v->type != TS_GGUF_TYPE_ARRAY) return sum_bytes(&v->v, ts_gguf_type_size(v->type));

    ts_gguf_type elem = v->v.arr.elem;
    uint64_t n = v->v.arr.n, s = n;
    CHECK((unsigned)elem < TS_GGUF_TYPE_COUNT && elem != TS_GGUF_TYPE_ARRAY);
    if (elem == TS_GGUF_TYPE_STRING) {
        CHECK(n == 0 || v->v.arr.strs != NULL);
        for (uint64_t i = 0; i < n; i++) s += walk_str(v->v.arr.strs[i]);
        return s;
    }
    size_t esize = ts_gguf_type_size(elem);
    CHECK(esize > 0 && n <= SIZE_MAX / esize);
    CHECK(n == 0 || v->v.arr.data != NULL);
    if (elem == TS_GGUF_TYPE_BOOL) {
        const uint8_t *b = v->v.arr.data;
        for (uint64_t i = 0; i < n; i++) CHECK(b[i] <= 1);
    }
    return s + sum_bytes(v->v.arr.data, (size_t)(n * esize));
}

static void walk_kv(const ts_gguf *g) {
    int64_t n = ts_gguf_n_kv(g);
    CHECK(n >= 0);
    for (int64_t i = 0; i < n; i++) {
        const char *key = ts_gguf_kv_key(g, i);
        const ts_gguf_value *v = ts_gguf_kv_value(g, i);
        CHECK(key != NULL && v != NULL && key[0] != '\0');
        CHECK(strncmp(key, "split.", 6) != 0); /* split.* keys are not listed */
        CHECK(ts_gguf_find_kv(g, key) == i);   /* keys are unique */
        CHECK(v->offset < ts_gguf_file_size(g, 0));
        sink += sum_bytes(key, strlen(key)) + walk_value(v);
    }
    /* Typed getters on keys the reader interprets itself. */
    uint32_t u;
    ts_str s;
    const ts_gguf_value *arr;
    if (ts_gguf_get_u32(g, "general.alignment", &u) == TS_OK) CHECK(u == ts_gguf_alignment(g));
    if (ts_gguf_get_str(g, "general.architecture", &s) == TS_OK) sink += walk_str(s);
    if (ts_gguf_get_arr(g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_STRING, &arr) == TS_OK)
        sink += walk_value(arr);
    CHECK(ts_gguf_find_kv(g, "") == -1); /* keys are never empty */
}

/* Expected byte size of a tensor from its type and shape. */
static uint64_t expected_nbytes(const ts_gguf_tensor_info *t) {
    size_t row;
    CHECK(ts_type_row_size(t->type, t->ne[0], &row));
    uint64_t n = row;
    for (int d = 1; d < TS_MAX_DIMS; d++) {
        CHECK(t->ne[d] >= 0);
        CHECK(!__builtin_mul_overflow(n, (uint64_t)t->ne[d], &n));
    }
    return n;
}

typedef struct span {
    uintptr_t lo, hi;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static void walk_tensors(const ts_gguf *g, const uint8_t *base, size_t size) {
    int64_t n = ts_gguf_n_tensors(g);
    CHECK(n >= 0 && (uint64_t)n <= size);
    span *spans = malloc(sizeof *spans * (size_t)(n ? n : 1));
    if (!spans) return;
    uint64_t align = ts_gguf_alignment(g), data_off = ts_gguf_data_offset(g, 0);
    CHECK(align && (align & (align - 1)) == 0 && data_off % align == 0);
    CHECK(data_off <= size || n == 0); /* a file without tensors may end before it */
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const ts_gguf_tensor_info *t = ts_gguf_tensor(g, i);
        CHECK(t != NULL && t->name != NULL && strlen(t->name) < TS_MAX_NAME);
        CHECK(ts_type_valid(t->type) && t->n_dims <= TS_MAX_DIMS && t->file == 0);
        for (uint32_t d = t->n_dims; d < TS_MAX_DIMS; d++) CHECK(t->ne[d] == 1);
        CHECK(t->nbytes == expected_nbytes(t));
        CHECK(t->offset % align == 0);
        CHECK(ts_gguf_find_tensor(g, t->name) == i); /* names are unique */
        sink += sum_bytes(t->name, strlen(t->name));
        if (t->nbytes == 0) continue;
        const uint8_t *p = t->data;
        CHECK(p >= base + data_off && t->nbytes <= size && p - base <= (ptrdiff_t)(size - t->nbytes));
        CHECK((uint64_t)(p - base) == data_off + t->offset);
        sink += sum_bytes(p, (size_t)t->nbytes);
        spans[m++] = (span){(uintptr_t)p, (uintptr_t)p + (uintptr_t)t->nbytes};
    }
    qsort(spans, (size_t)m, sizeof *spans, span_cmp);
    for (int64_t i = 1; i < m; i++) CHECK(spans[i - 1].hi <= spans[i].lo); /* no overlap */
    free(spans);
    CHECK(ts_gguf_find_tensor(g, "") == -1); /* nor are tensor names */
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open_memory(data, size, &g);
    if (st != TS_OK) {
        CHECK(st > TS_OK && st < TS_STATUS_COUNT);
        CHECK(ts_last_error()[0] != '\0'); /* every failure says why */
        return 0;
    }
    CHECK(g != NULL);
    CHECK(ts_gguf_n_files(g) == 1 && ts_gguf_file_size(g, 0) == size);
    CHECK(ts_gguf_version(g) == 2 || ts_gguf_version(g) == 3);
    sink += sum_bytes(ts_gguf_file_path(g, 0), strlen(ts_gguf_file_path(g, 0)));
    walk_kv(g);
    walk_tensors(g, data, size);
    ts_gguf_close(g);
    return 0;
}
