/*
 * writer.c — write GGUF v3 files (and split models) that llama.cpp and the
 * gguf Python package read.
 *
 * Each metadata value is serialized (u32 type + payload) when it is set, so
 * writing is a copy. Tensors are laid out in insertion order, each starting
 * at a multiple of general.alignment from the data section, which itself
 * starts aligned — the packing llama.cpp requires.
 */
#include "gguf/gguf-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool failed; /* an allocation failed; contents are unusable */
} wbuf;

typedef struct wkv {
    char *key;
    wbuf val; /* u32 type, then the value as it goes on disk */
} wkv;

struct ts_gguf_writer {
    wkv *kv; /* (n_kv) in first-set order */
    int64_t n_kv, cap_kv;
    ts_tensor *tensors; /* (n_tensors); data borrowed */
    int64_t n_tensors, cap_tensors;
};

static const uint8_t zeros[256];

/* ------------------------------------------------------------------ wbuf */

static void wbuf_put(wbuf *b, const void *p, size_t n) {
    if (b->failed || n == 0) return;
    if (n > SIZE_MAX / 2 - b->n) {
        b->failed = true;
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void wbuf_u32(wbuf *b, uint32_t v) { wbuf_put(b, &v, 4); }
static void wbuf_u64(wbuf *b, uint64_t v) { wbuf_put(b, &v, 8); }
static void wbuf_str(wbuf *b, const char *p, size_t n) {
    wbuf_u64(b, n);
    wbuf_put(b, p, n);
}

/* --------------------------------------------------------------- metadata */

static ts_status check_key(const char *key) {
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > TS_GGUF_MAX_KEY)
        return ts_error(TS_ERR_INVALID_ARG, "metadata key must be 1..%d bytes", TS_GGUF_MAX_KEY);
    if (strncmp(key, TS_SPLIT_PREFIX, strlen(TS_SPLIT_PREFIX)) == 0)
        return ts_error(TS_ERR_INVALID_ARG, "key '%s': split.* keys are written by write_split", key);
    return TS_OK;
}

/* Store a serialized value under key (replacing any earlier one). Takes
 * ownership of val's buffer whatever the outcome. */
static ts_status set_kv(ts_gguf_writer *w, const char *key, wbuf val) {
    ts_status st = check_key(key);
    if (st == TS_OK && val.failed) st = ts_error(TS_ERR_NOMEM, "out of memory for key '%s'", key);
    if (st != TS_OK) {
        free(val.p);
        return st;
    }
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val.p);
            w->kv[i].val = val;
            return TS_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kv = realloc(w->kv, (size_t)cap * sizeof *kv);
        if (!kv) {
            free(val.p);
            return ts_error(TS_ERR_NOMEM, "out of memory for key '%s'", key);
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val.p);
        return ts_error(TS_ERR_NOMEM, "out of memory for key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, val};
    return TS_OK;
}

static ts_status set_scalar(ts_gguf_writer *w, const char *key, ts_gguf_type type, const void *v) {
    wbuf b = {0};
    wbuf_u32(&b, type);
    wbuf_put(&b, v, ts_gguf_type_size(type));
    return set_kv(w, key, b);
}

/* ----------------------------------------------------------------- output */

typedef struct part {
    int64_t t0, t1;         /* tensors [t0, t1) */
    bool all_kv;            /* the model's metadata, or only split.* */
    uint32_t no, count;     /* split.no / split.count; count == 0: no split keys */
    int32_t total_tensors;  /* split.tensors.count */
} part;

static uint32_t alignment_of(const ts_gguf_writer *w) {
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, TS_KEY_ALIGNMENT) == 0) {
            uint32_t a;
            memcpy(&a, w->kv[i].val.p + 4, 4);
            return a;
        }
    }
    return TS_GGUF_DEFAULT_ALIGNMENT;
}

/* Header, metadata and tensor infos of one part. */
static void build_head(const ts_gguf_writer *w, const part *pt, uint32_t align, wbuf *b) {
    const uint32_t alignment_kv = align != TS_GGUF_DEFAULT_ALIGNMENT && !pt->all_kv;
    uint64_t n_kv = (pt->all_kv ? (uint64_t)w->n_kv : 0) + (pt->count ? 3 : 0) + alignment_kv;
    wbuf_put(b, TS_GGUF_MAGIC, 4);
    wbuf_u32(b, TS_GGUF_VERSION);
    wbuf_u64(b, (uint64_t)(pt->t1 - pt->t0));
    wbuf_u64(b, n_kv);
    for (int64_t i = 0; pt->all_kv && i < w->n_kv; i++) {
        wbuf_str(b, w->kv[i].key, strlen(w->kv[i].key));
        wbuf_put(b, w->kv[i].val.p, w->kv[i].val.n);
    }
    if (alignment_kv) { /* later parts still need their alignment */
        wbuf_str(b, TS_KEY_ALIGNMENT, strlen(TS_KEY_ALIGNMENT));
        wbuf_u32(b, TS_GGUF_TYPE_UINT32);
        wbuf_u32(b, align);
    }
    if (pt->count) {
        uint16_t no = (uint16_t)pt->no, count = (uint16_t)pt->count;
        wbuf_str(b, TS_KEY_SPLIT_NO, strlen(TS_KEY_SPLIT_NO));
        wbuf_u32(b, TS_GGUF_TYPE_UINT16);
        wbuf_put(b, &no, 2);
        wbuf_str(b, TS_KEY_SPLIT_COUNT, strlen(TS_KEY_SPLIT_COUNT));
        wbuf_u32(b, TS_GGUF_TYPE_UINT16);
        wbuf_put(b, &count, 2);
        wbuf_str(b, TS_KEY_SPLIT_TENSORS, strlen(TS_KEY_SPLIT_TENSORS));
        wbuf_u32(b, TS_GGUF_TYPE_INT32);
        wbuf_put(b, &pt->total_tensors, 4);
    }
    uint64_t offset = 0;
    for (int64_t i = pt->t0; i < pt->t1; i++) {
        const ts_tensor *t = &w->tensors[i];
        wbuf_str(b, t->name, strlen(t->name));
        wbuf_u32(b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) wbuf_u64(b, (uint64_t)t->ne[d]);
        wbuf_u32(b, t->type);
        wbuf_u64(b, offset);
        offset += ts_tensor_nbytes(t);
        offset = (offset + align - 1) & ~(uint64_t)(align - 1);
    }
}

/* Write `n` zero bytes. */
static bool put_zeros(FILE *fp, size_t n) {
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, k, fp) != k) return false;
        n -= k;
    }
    return true;
}

static bool write_body(const ts_gguf_writer *w, const part *pt, uint32_t align, const wbuf *head,
                       FILE *fp) {
    if (fwrite(head->p, 1, head->n, fp) != head->n) return false;
    if (!put_zeros(fp, (align - head->n % align) % align)) return false;
    for (int64_t i = pt->t0; i < pt->t1; i++) {
        size_t n = ts_tensor_nbytes(&w->tensors[i]);
        if (n && fwrite(w->tensors[i].data, 1, n, fp) != n) return false;
        if (!put_zeros(fp, (align - n % align) % align)) return false;
    }
    return true;
}

static ts_status write_part(const ts_gguf_writer *w, const part *pt, const char *path) {
    uint32_t align = alignment_of(w);
    wbuf head = {0};
    build_head(w, pt, align, &head);
    if (head.failed) {
        free(head.p);
        return ts_error(TS_ERR_NOMEM, "out of memory writing '%s'", path);
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(head.p);
        return ts_error(TS_ERR_INVALID_ARG, "path too long: '%s'", path);
    }
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(head.p);
        return ts_error(TS_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    }
    bool ok = write_body(w, pt, align, &head, fp);
    int err = errno;
    free(head.p);
    if (fclose(fp) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        remove(tmp);
        return ts_error(TS_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    return TS_OK;
}

/* ----------------------------------------------------------------- public */

ts_gguf_writer *ts_gguf_writer_new(void) { return calloc(1, sizeof(ts_gguf_writer)); }

void ts_gguf_writer_free(ts_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    free(w->kv);
    free(w->tensors);
    free(w);
}

#define TS_SETTER(suffix, ctype, gtype)                                                    \
    ts_status ts_gguf_writer_set_##suffix(ts_gguf_writer *w, const char *key, ctype v) {   \
        return set_scalar(w, key, gtype, &v);                                              \
    }
TS_SETTER(u8, uint8_t, TS_GGUF_TYPE_UINT8)
TS_SETTER(i8, int8_t, TS_GGUF_TYPE_INT8)
TS_SETTER(u16, uint16_t, TS_GGUF_TYPE_UINT16)
TS_SETTER(i16, int16_t, TS_GGUF_TYPE_INT16)
TS_SETTER(u32, uint32_t, TS_GGUF_TYPE_UINT32)
TS_SETTER(i32, int32_t, TS_GGUF_TYPE_INT32)
TS_SETTER(f32, float, TS_GGUF_TYPE_FLOAT32)
TS_SETTER(u64, uint64_t, TS_GGUF_TYPE_UINT64)
TS_SETTER(i64, int64_t, TS_GGUF_TYPE_INT64)
TS_SETTER(f64, double, TS_GGUF_TYPE_FLOAT64)
#undef TS_SETTER

ts_status ts_gguf_writer_set_bool(ts_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, TS_GGUF_TYPE_BOOL, &b);
}

ts_status ts_gguf_writer_set_strn(ts_gguf_writer *w, const char *key, ts_str v) {
    wbuf b = {0};
    wbuf_u32(&b, TS_GGUF_TYPE_STRING);
    wbuf_str(&b, v.ptr, v.len);
    return set_kv(w, key, b);
}

ts_status ts_gguf_writer_set_str(ts_gguf_writer *w, const char *key, const char *v) {
    return ts_gguf_writer_set_strn(w, key, (ts_str){v, strlen(v)});
}

ts_status ts_gguf_writer_set_arr(ts_gguf_writer *w, const char *key, ts_gguf_type elem,
                                 const void *data, uint64_t n) {
    size_t esz = ts_gguf_type_size(elem);
    if (esz == 0)
        return ts_error(TS_ERR_INVALID_ARG, "key '%s': arrays of %s are not allowed here", key,
                        ts_gguf_type_name(elem));
    if (n > SIZE_MAX / esz) return ts_error(TS_ERR_INVALID_ARG, "key '%s': array too long", key);
    wbuf b = {0};
    wbuf_u32(&b, TS_GGUF_TYPE_ARRAY);
    wbuf_u32(&b, elem);
    wbuf_u64(&b, n);
    wbuf_put(&b, data, (size_t)n * esz);
    return set_kv(w, key, b);
}

ts_status ts_gguf_writer_set_arr_str(ts_gguf_writer *w, const char *key, const ts_str *strs,
                                     uint64_t n) {
    wbuf b = {0};
    wbuf_u32(&b, TS_GGUF_TYPE_ARRAY);
    wbuf_u32(&b, TS_GGUF_TYPE_STRING);
    wbuf_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) wbuf_str(&b, strs[i].ptr, strs[i].len);
    return set_kv(w, key, b);
}

ts_status ts_gguf_writer_set_alignment(ts_gguf_writer *w, uint32_t alignment) {
    if (!ts_is_pow2(alignment))
        return ts_error(TS_ERR_INVALID_ARG, "alignment %u is not a power of two", alignment);
    return ts_gguf_writer_set_u32(w, TS_KEY_ALIGNMENT, alignment);
}

ts_status ts_gguf_writer_add_tensor(ts_gguf_writer *w, const char *name, ts_type type, int n_dims,
                                    const int64_t *ne, const void *data) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= TS_MAX_NAME)
        return ts_error(TS_ERR_INVALID_ARG, "tensor name must be 1..%d bytes", TS_MAX_NAME - 1);
    for (int64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return ts_error(TS_ERR_INVALID_ARG, "tensor '%s' was already added", name);
    ts_tensor t;
    ts_status st = ts_tensor_init(&t, type, n_dims, ne, (void *)data);
    if (st != TS_OK) return ts_error(st, "tensor '%s': %s", name, ts_last_error());
    memcpy(t.name, name, len + 1);
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 16;
        ts_tensor *p = realloc(w->tensors, (size_t)cap * sizeof *p);
        if (!p) return ts_error(TS_ERR_NOMEM, "out of memory adding tensor '%s'", name);
        w->tensors = p;
        w->cap_tensors = cap;
    }
    w->tensors[w->n_tensors++] = t;
    return TS_OK;
}

ts_status ts_gguf_writer_write(const ts_gguf_writer *w, const char *path) {
    part pt = {0, w->n_tensors, true, 0, 0, 0};
    return write_part(w, &pt, path);
}

ts_status ts_gguf_writer_write_split(const ts_gguf_writer *w, const char *prefix,
                                     int64_t max_tensors, uint32_t *n_parts) {
    if (max_tensors < 1)
        return ts_error(TS_ERR_INVALID_ARG, "max_tensors per part must be at least 1");
    int64_t count = w->n_tensors ? (w->n_tensors + max_tensors - 1) / max_tensors : 1;
    if (count > UINT16_MAX || w->n_tensors > INT32_MAX)
        return ts_error(TS_ERR_INVALID_ARG, "%lld parts is more than a split model may have",
                        (long long)count);
    for (int64_t i = 0; i < count; i++) {
        int64_t t1 = (i + 1) * max_tensors;
        part pt = {i * max_tensors, t1 < w->n_tensors ? t1 : w->n_tensors, i == 0,
                   (uint32_t)i, (uint32_t)count, (int32_t)w->n_tensors};
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s-%05lld-of-%05lld.gguf", prefix,
                             (long long)i + 1, (long long)count) >= sizeof path)
            return ts_error(TS_ERR_INVALID_ARG, "path too long: '%s'", prefix);
        ts_status st = write_part(w, &pt, path);
        if (st != TS_OK) return st;
    }
    if (n_parts) *n_parts = (uint32_t)count;
    return TS_OK;
}
