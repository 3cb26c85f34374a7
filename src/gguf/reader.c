/*
 * reader.c — parse and validate one GGUF v2/v3 little-endian file.
 *
 * Layout: header (magic "GGUF", u32 version, u64 n_tensors, u64 n_kv), n_kv
 * metadata entries (string key, u32 type, value), n_tensors tensor infos
 * (string name, u32 n_dims, n_dims × u64 ne, u32 type, u64 offset), padding
 * to general.alignment, then the data section; tensor offsets are relative
 * to it.
 *
 * Invariants after a successful parse: every string, array and tensor lies
 * inside [base, base + size); counts were bounded by the bytes left before
 * anything was allocated; keys and tensor names are unique, non-empty and
 * free of NUL bytes; tensor data ranges are aligned and do not overlap.
 * Every failure names the field and its byte offset.
 */
#include "gguf/gguf-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

typedef unsigned long long ull;

/* Smallest encodings, used to bound counts by the bytes left in the file:
 * a metadata entry is a key (u64 length + >= 1 byte), a u32 type and a value
 * of >= 1 byte; a tensor info is a name (u64 + >= 1), u32 n_dims, u32 type
 * and u64 offset. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
#define MIN_TENSOR_INFO_BYTES (8 + 1 + 4 + 4 + 8)

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

/* --------------------------------------------------------------- reading */

static ts_status take(cursor *c, uint64_t n, const char *what, const uint8_t **out) {
    if (n > left(c))
        return ts_error(TS_ERR_FORMAT,
                        "%s at offset %llu: needs %llu bytes but the file ends after %llu "
                        "(truncated?)",
                        what, (ull)c->pos, (ull)n, (ull)left(c));
    *out = c->base + c->pos;
    c->pos += n;
    return TS_OK;
}

static ts_status rd(cursor *c, void *dst, size_t n, const char *what) {
    const uint8_t *p = NULL;
    ts_status st = take(c, n, what, &p);
    if (st == TS_OK) memcpy(dst, p, n);
    return st;
}

/* A length-prefixed string; its bytes stay in the mapping. */
static ts_status rd_str(cursor *c, const char *what, ts_str *out) {
    uint64_t at = c->pos, len;
    ts_status st = rd(c, &len, 8, what);
    if (st != TS_OK) return st;
    if (len > left(c))
        return ts_error(TS_ERR_FORMAT,
                        "%s at offset %llu: string length %llu runs past the end of the file "
                        "(%llu bytes left)",
                        what, (ull)at, (ull)len, (ull)left(c));
    out->ptr = (const char *)c->base + c->pos;
    out->len = (size_t)len;
    c->pos += len;
    return TS_OK;
}

/* A key or tensor name as an owned C string: non-empty, no NUL, <= max. */
static ts_status rd_name(cursor *c, const char *what, size_t max, char **out) {
    uint64_t at = c->pos;
    ts_str s = {0};
    ts_status st = rd_str(c, what, &s);
    if (st != TS_OK) return st;
    if (s.len == 0) return ts_error(TS_ERR_FORMAT, "%s at offset %llu is empty", what, (ull)at);
    if (s.len > max)
        return ts_error(TS_ERR_FORMAT, "%s at offset %llu is %zu bytes long (at most %zu)", what,
                        (ull)at, s.len, max);
    if (memchr(s.ptr, '\0', s.len))
        return ts_error(TS_ERR_FORMAT, "%s at offset %llu contains a NUL byte", what, (ull)at);
    *out = strndup(s.ptr, s.len);
    if (!*out) return ts_error(TS_ERR_NOMEM, "out of memory reading %s", what);
    return TS_OK;
}

/* ----------------------------------------------------------------- values */

static ts_status check_bool(uint8_t b, const char *key, uint64_t at) {
    if (b <= 1) return TS_OK;
    return ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu: bool value %u is not 0 or 1", key,
                    (ull)at, b);
}

static ts_status rd_string_array(cursor *c, const char *key, ts_gguf_value *v) {
    uint64_t n = v->v.arr.n;
    if (n > left(c) / 8)
        return ts_error(TS_ERR_FORMAT,
                        "key '%s' at offset %llu: array of %llu strings cannot fit in the %llu "
                        "bytes left",
                        key, (ull)v->offset, (ull)n, (ull)left(c));
    ts_str *strs = calloc(n ? n : 1, sizeof *strs);
    if (!strs) return ts_error(TS_ERR_NOMEM, "out of memory for key '%s' (%llu strings)", key, (ull)n);
    v->v.arr.strs = strs;
    char what[96];
    for (uint64_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "element %llu of key '%.40s'", (ull)i, key);
        ts_status st = rd_str(c, what, &strs[i]);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

static ts_status rd_array(cursor *c, const char *key, ts_gguf_value *v) {
    uint32_t elem;
    ts_status st = rd(c, &elem, 4, "array element type");
    if (st == TS_OK) st = rd(c, &v->v.arr.n, 8, "array length");
    if (st != TS_OK) return st;
    if (elem == TS_GGUF_TYPE_ARRAY)
        return ts_error(TS_ERR_UNSUPPORTED,
                        "key '%s' at offset %llu: nested arrays (arrays of arrays) are not "
                        "supported, as in llama.cpp",
                        key, (ull)v->offset);
    if (elem >= TS_GGUF_TYPE_COUNT)
        return ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu: unknown array element type %u",
                        key, (ull)v->offset, elem);
    v->v.arr.elem = (ts_gguf_type)elem;
    if (elem == TS_GGUF_TYPE_STRING) return rd_string_array(c, key, v);

    size_t esz = ts_gguf_type_size(v->v.arr.elem);
    uint64_t n = v->v.arr.n;
    if (n > left(c) / esz)
        return ts_error(TS_ERR_FORMAT,
                        "key '%s' at offset %llu: array of %llu %s elements runs past the end of "
                        "the file (%llu bytes left)",
                        key, (ull)v->offset, (ull)n, ts_gguf_type_name(elem), (ull)left(c));
    void *copy = malloc(n ? n * esz : 1); /* host-aligned copy; n * esz <= file size */
    if (!copy) return ts_error(TS_ERR_NOMEM, "out of memory for key '%s'", key);
    memcpy(copy, c->base + c->pos, n * esz);
    c->pos += n * esz;
    v->v.arr.data = copy;
    if (elem == TS_GGUF_TYPE_BOOL) {
        for (uint64_t i = 0; i < n; i++) {
            st = check_bool(((const uint8_t *)copy)[i], key, v->offset);
            if (st != TS_OK) return st;
        }
    }
    return TS_OK;
}

static ts_status rd_value(cursor *c, const char *key, uint32_t type, ts_gguf_value *v) {
    v->offset = c->pos;
    if (type >= TS_GGUF_TYPE_COUNT)
        return ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu: unknown value type %u", key,
                        (ull)c->pos - 4, type);
    v->type = (ts_gguf_type)type;
    if (type == TS_GGUF_TYPE_STRING) {
        char what[96];
        snprintf(what, sizeof what, "value of key '%.60s'", key);
        return rd_str(c, what, &v->v.str);
    }
    if (type == TS_GGUF_TYPE_ARRAY) return rd_array(c, key, v);
    ts_status st = rd(c, &v->v, ts_gguf_type_size(v->type), "value");
    if (st == TS_OK && type == TS_GGUF_TYPE_BOOL) {
        uint8_t b;
        memcpy(&b, &v->v, 1);
        st = check_bool(b, key, v->offset);
    }
    return st;
}

/* -------------------------------------------------------------- known keys */

/* A key with the type every reader (llama.cpp included) requires of it. A
 * suffix key ("%s.block_count") applies under the file's architecture.
 * `arr_ok` also allows an array of 32-bit integers (per-layer values). */
typedef struct known_key {
    const char *key;
    ts_gguf_type type;
    ts_gguf_type elem; /* for ARRAY */
    bool arr_ok;
} known_key;

static const known_key known_keys[] = {
    {TS_KEY_ALIGNMENT, TS_GGUF_TYPE_UINT32, 0, false},
    {TS_KEY_ARCHITECTURE, TS_GGUF_TYPE_STRING, 0, false},
    {"general.name", TS_GGUF_TYPE_STRING, 0, false},
    {"general.file_type", TS_GGUF_TYPE_UINT32, 0, false},
    {"general.quantization_version", TS_GGUF_TYPE_UINT32, 0, false},
    {TS_KEY_SPLIT_NO, TS_GGUF_TYPE_UINT16, 0, false},
    {TS_KEY_SPLIT_COUNT, TS_GGUF_TYPE_UINT16, 0, false},
    {TS_KEY_SPLIT_TENSORS, TS_GGUF_TYPE_INT32, 0, false},
    {"tokenizer.ggml.model", TS_GGUF_TYPE_STRING, 0, false},
    {"tokenizer.ggml.pre", TS_GGUF_TYPE_STRING, 0, false},
    {"tokenizer.ggml.tokens", TS_GGUF_TYPE_ARRAY, TS_GGUF_TYPE_STRING, false},
    {"tokenizer.ggml.scores", TS_GGUF_TYPE_ARRAY, TS_GGUF_TYPE_FLOAT32, false},
    {"tokenizer.ggml.token_type", TS_GGUF_TYPE_ARRAY, TS_GGUF_TYPE_INT32, false},
    {"tokenizer.ggml.merges", TS_GGUF_TYPE_ARRAY, TS_GGUF_TYPE_STRING, false},
    {"tokenizer.ggml.bos_token_id", TS_GGUF_TYPE_UINT32, 0, false},
    {"tokenizer.ggml.eos_token_id", TS_GGUF_TYPE_UINT32, 0, false},
    {"tokenizer.ggml.unknown_token_id", TS_GGUF_TYPE_UINT32, 0, false},
    {"tokenizer.ggml.padding_token_id", TS_GGUF_TYPE_UINT32, 0, false},
    {"tokenizer.ggml.add_bos_token", TS_GGUF_TYPE_BOOL, 0, false},
    {"tokenizer.ggml.add_eos_token", TS_GGUF_TYPE_BOOL, 0, false},
    {"tokenizer.chat_template", TS_GGUF_TYPE_STRING, 0, false},
    {"%s.context_length", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.embedding_length", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.block_count", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.vocab_size", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.feed_forward_length", TS_GGUF_TYPE_UINT32, 0, true},
    {"%s.attention.head_count", TS_GGUF_TYPE_UINT32, 0, true},
    {"%s.attention.head_count_kv", TS_GGUF_TYPE_UINT32, 0, true},
    {"%s.attention.key_length", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.attention.value_length", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.attention.layer_norm_rms_epsilon", TS_GGUF_TYPE_FLOAT32, 0, false},
    {"%s.attention.layer_norm_epsilon", TS_GGUF_TYPE_FLOAT32, 0, false},
    {"%s.rope.dimension_count", TS_GGUF_TYPE_UINT32, 0, false},
    {"%s.rope.freq_base", TS_GGUF_TYPE_FLOAT32, 0, false},
    {"%s.rope.scaling.factor", TS_GGUF_TYPE_FLOAT32, 0, false},
};

static bool type_matches(const known_key *k, const ts_gguf_value *v) {
    if (v->type == k->type)
        return k->type != TS_GGUF_TYPE_ARRAY || v->v.arr.elem == k->elem;
    return k->arr_ok && v->type == TS_GGUF_TYPE_ARRAY &&
           (v->v.arr.elem == TS_GGUF_TYPE_UINT32 || v->v.arr.elem == TS_GGUF_TYPE_INT32);
}

static ts_status check_key_type(const gguf_kv *kv, const known_key *k) {
    if (type_matches(k, &kv->val)) return TS_OK;
    char got[32], want[32];
    return ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu has type %s, expected %s", kv->key,
                    (ull)kv->val.offset,
                    gguf_type_desc(kv->val.type, kv->val.v.arr.elem, got, sizeof got),
                    gguf_type_desc(k->type, k->elem, want, sizeof want));
}

static ts_status check_known_keys(const gguf_file *f) {
    int64_t ia = gguf_file_find_kv(f, TS_KEY_ARCHITECTURE);
    const ts_str *arch = NULL;
    if (ia >= 0 && f->kv[ia].val.type == TS_GGUF_TYPE_STRING) arch = &f->kv[ia].val.v.str;
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++) {
        const known_key *k = &known_keys[i];
        char key[256];
        if (k->key[0] == '%') {
            if (!arch || arch->len > 128) continue;
            snprintf(key, sizeof key, "%.*s%s", (int)arch->len, arch->ptr, k->key + 2);
        } else {
            snprintf(key, sizeof key, "%s", k->key);
        }
        int64_t j = gguf_file_find_kv(f, key);
        if (j < 0) continue;
        ts_status st = check_key_type(&f->kv[j], k);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* general.alignment and split.*, after their types were checked. */
static ts_status read_layout_keys(gguf_file *f) {
    f->alignment = TS_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_file_find_kv(f, TS_KEY_ALIGNMENT);
    if (i >= 0) {
        f->alignment = f->kv[i].val.v.u32;
        if (!ts_is_pow2(f->alignment))
            return ts_error(TS_ERR_FORMAT,
                            "key '" TS_KEY_ALIGNMENT "' at offset %llu: %u is not a power of two",
                            (ull)f->kv[i].val.offset, f->alignment);
    }
    int64_t ic = gguf_file_find_kv(f, TS_KEY_SPLIT_COUNT);
    int64_t in = gguf_file_find_kv(f, TS_KEY_SPLIT_NO);
    int64_t it = gguf_file_find_kv(f, TS_KEY_SPLIT_TENSORS);
    if (ic < 0 && in < 0 && it < 0) return TS_OK;
    if (ic < 0 || in < 0 || it < 0)
        return ts_error(TS_ERR_FORMAT,
                        "split file needs all of split.no, split.count and split.tensors.count");
    f->split_count = f->kv[ic].val.v.u16;
    f->split_no = f->kv[in].val.v.u16;
    f->split_tensors = f->kv[it].val.v.i32;
    if (f->split_count == 0)
        return ts_error(TS_ERR_FORMAT, "key 'split.count' at offset %llu: a split model of 0 parts",
                        (ull)f->kv[ic].val.offset);
    if (f->split_no >= f->split_count)
        return ts_error(TS_ERR_FORMAT, "key 'split.no' at offset %llu: part %u of %u is impossible",
                        (ull)f->kv[in].val.offset, f->split_no, f->split_count);
    if (f->split_tensors < 0)
        return ts_error(TS_ERR_FORMAT, "key 'split.tensors.count' at offset %llu is negative (%lld)",
                        (ull)f->kv[it].val.offset, (long long)f->split_tensors);
    return TS_OK;
}

/* ----------------------------------------------------------------- header */

static ts_status read_header(cursor *c, gguf_file *f) {
    if (c->size == 0) return ts_error(TS_ERR_FORMAT, "file is empty, not a GGUF file");
    if (c->size >= 4 && memcmp(c->base, TS_GGUF_MAGIC, 4) != 0) {
        char shown[5] = {0};
        for (int i = 0; i < 4; i++) shown[i] = (c->base[i] >= 0x20 && c->base[i] < 0x7f) ? (char)c->base[i] : '.';
        return ts_error(TS_ERR_FORMAT, "not a GGUF file: magic at offset 0 is '%s', expected 'GGUF'",
                        shown);
    }
    const uint8_t *magic;
    ts_status st = take(c, 4, "magic", &magic);
    if (st == TS_OK) st = rd(c, &f->version, 4, "header.version");
    if (st != TS_OK) return st;
    uint32_t swapped = __builtin_bswap32(f->version);
    if (f->version == 1)
        return ts_error(TS_ERR_UNSUPPORTED,
                        "GGUF version 1 at offset 4 is not supported (32-bit counts); convert the "
                        "file with a current gguf tool");
    if (f->version != 2 && f->version != 3) {
        if (swapped >= 1 && swapped <= 3)
            return ts_error(TS_ERR_UNSUPPORTED,
                            "big-endian GGUF file (version %u byte-swapped at offset 4) is not "
                            "supported",
                            swapped);
        return ts_error(TS_ERR_UNSUPPORTED, "unknown GGUF version %u at offset 4 (2 and 3 are supported)",
                        f->version);
    }
    return TS_OK;
}

/* --------------------------------------------------------------- metadata */

static ts_status read_kvs(cursor *c, gguf_file *f, uint64_t n_kv) {
    if (n_kv > left(c) / MIN_KV_BYTES)
        return ts_error(TS_ERR_FORMAT,
                        "header.n_kv at offset 16: %llu entries cannot fit in the %llu bytes left",
                        (ull)n_kv, (ull)left(c));
    f->kv = calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    if (!f->kv) return ts_error(TS_ERR_NOMEM, "out of memory for %llu metadata entries", (ull)n_kv);
    ts_strmap seen = {0};
    ts_status st = TS_OK;
    char what[64];
    for (uint64_t i = 0; i < n_kv && st == TS_OK; i++) {
        gguf_kv *kv = &f->kv[i];
        uint64_t at = c->pos;
        snprintf(what, sizeof what, "key of metadata entry %llu", (ull)i);
        st = rd_name(c, what, TS_GGUF_MAX_KEY, &kv->key);
        if (st != TS_OK) break;
        f->n_kv++;
        int64_t prev;
        st = ts_strmap_put(&seen, kv->key, (int64_t)i, &prev);
        if (st == TS_ERR_INVALID_ARG)
            st = ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu is a duplicate of entry %lld",
                          kv->key, (ull)at, (long long)prev);
        uint32_t type;
        if (st == TS_OK) st = rd(c, &type, 4, "value type");
        if (st == TS_OK) st = rd_value(c, kv->key, type, &kv->val);
    }
    ts_strmap_free(&seen);
    return st;
}

/* ---------------------------------------------------------------- tensors */

static ts_status read_tensor_shape(cursor *c, ts_gguf_tensor_info *t, uint64_t at) {
    ts_status st = rd(c, &t->n_dims, 4, "tensor n_dims");
    if (st != TS_OK) return st;
    if (t->n_dims > TS_MAX_DIMS)
        return ts_error(TS_ERR_FORMAT, "tensor '%s' at offset %llu: n_dims %u exceeds %d", t->name,
                        (ull)at, t->n_dims, TS_MAX_DIMS);
    uint64_t n = 1;
    for (int d = 0; d < TS_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if ((uint32_t)d >= t->n_dims) continue;
        st = rd(c, &t->ne[d], 8, "tensor dimension");
        if (st != TS_OK) return st;
        if (t->ne[d] < 0)
            return ts_error(TS_ERR_FORMAT, "tensor '%s' at offset %llu: dimension %d is negative (%lld)",
                            t->name, (ull)at, d, (long long)t->ne[d]);
        if (!ts_mul_u64(n, (uint64_t)t->ne[d], &n) || n > INT64_MAX)
            return ts_error(TS_ERR_FORMAT,
                            "tensor '%s' at offset %llu: element count overflows 64 bits", t->name,
                            (ull)at);
    }
    return TS_OK;
}

static ts_status read_tensor_type(cursor *c, ts_gguf_tensor_info *t, uint64_t at) {
    uint32_t type;
    ts_status st = rd(c, &type, 4, "tensor type");
    if (st != TS_OK) return st;
    if (!ts_type_valid(type))
        return ts_error(TS_ERR_UNSUPPORTED,
                        "tensor '%s' at offset %llu: type id %u is not a known GGML type", t->name,
                        (ull)at, type);
    t->type = (ts_type)type;
    size_t row;
    if (t->ne[0] % ts_type_get(t->type)->block_size == 0 && !ts_type_row_size(t->type, t->ne[0], &row))
        return ts_error(TS_ERR_FORMAT, "tensor '%s' at offset %llu: row size overflows 64 bits",
                        t->name, (ull)at);
    if (!ts_type_row_size(t->type, t->ne[0], &row))
        return ts_error(TS_ERR_FORMAT,
                        "tensor '%s' at offset %llu: row of %lld elements is not a multiple of the "
                        "%s block size %lld",
                        t->name, (ull)at, (long long)t->ne[0], ts_type_name(type),
                        (long long)ts_type_get(t->type)->block_size);
    uint64_t bytes = row;
    for (int d = 1; d < TS_MAX_DIMS; d++) {
        if (!ts_mul_u64(bytes, (uint64_t)t->ne[d], &bytes))
            return ts_error(TS_ERR_FORMAT, "tensor '%s' at offset %llu: byte size overflows 64 bits",
                            t->name, (ull)at);
    }
    t->nbytes = bytes;
    return TS_OK;
}

static ts_status read_tensor_infos(cursor *c, gguf_file *f, uint64_t n) {
    if (n > left(c) / MIN_TENSOR_INFO_BYTES)
        return ts_error(TS_ERR_FORMAT,
                        "header.n_tensors at offset 8: %llu tensors cannot fit in the %llu bytes "
                        "left",
                        (ull)n, (ull)left(c));
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) return ts_error(TS_ERR_NOMEM, "out of memory for %llu tensor infos", (ull)n);
    ts_strmap seen = {0};
    ts_status st = TS_OK;
    char what[64];
    for (uint64_t i = 0; i < n && st == TS_OK; i++) {
        ts_gguf_tensor_info *t = &f->tensors[i];
        uint64_t at = c->pos;
        snprintf(what, sizeof what, "name of tensor %llu", (ull)i);
        char *name;
        st = rd_name(c, what, TS_MAX_NAME - 1, &name);
        if (st != TS_OK) break;
        t->name = name;
        f->n_tensors++;
        int64_t prev;
        st = ts_strmap_put(&seen, t->name, (int64_t)i, &prev);
        if (st == TS_ERR_INVALID_ARG)
            st = ts_error(TS_ERR_FORMAT, "tensor '%s' at offset %llu is a duplicate of tensor %lld",
                          t->name, (ull)at, (long long)prev);
        if (st == TS_OK) st = read_tensor_shape(c, t, at);
        if (st == TS_OK) st = read_tensor_type(c, t, at);
        if (st == TS_OK) st = rd(c, &t->offset, 8, "tensor offset");
        if (st == TS_OK && t->offset % f->alignment != 0)
            st = ts_error(TS_ERR_FORMAT,
                          "tensor '%s' at offset %llu: data offset %llu is not a multiple of the "
                          "alignment %u",
                          t->name, (ull)at, (ull)t->offset, f->alignment);
    }
    ts_strmap_free(&seen);
    return st;
}

typedef struct span {
    uint64_t begin, end;
    int64_t idx;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Data ranges inside the data section, pairwise disjoint. */
static ts_status place_tensors(gguf_file *f, uint64_t infos_end) {
    if (!ts_align_u64(infos_end, f->alignment, &f->data_offset) ||
        (f->data_offset > f->size && f->n_tensors > 0))
        return ts_error(TS_ERR_FORMAT,
                        "data section would start at offset %llu, past the end of the file (%llu "
                        "bytes)",
                        (ull)f->data_offset, (ull)f->size);
    uint64_t data_size = f->data_offset <= f->size ? f->size - f->data_offset : 0;
    span *spans = malloc((size_t)(f->n_tensors ? f->n_tensors : 1) * sizeof *spans);
    if (!spans) return ts_error(TS_ERR_NOMEM, "out of memory checking tensor placement");
    int64_t n = 0;
    ts_status st = TS_OK;
    for (int64_t i = 0; i < f->n_tensors && st == TS_OK; i++) {
        ts_gguf_tensor_info *t = &f->tensors[i];
        uint64_t end;
        if (!ts_add_u64(t->offset, t->nbytes, &end) || end > data_size) {
            st = ts_error(TS_ERR_FORMAT,
                          "tensor '%s': data at offset %llu of %llu bytes runs past the end of the "
                          "file (data section holds %llu bytes)",
                          t->name, (ull)t->offset, (ull)t->nbytes, (ull)data_size);
            break;
        }
        t->data = f->base + f->data_offset + t->offset;
        if (t->nbytes) spans[n++] = (span){t->offset, end, i};
    }
    if (st == TS_OK) qsort(spans, (size_t)n, sizeof *spans, cmp_span);
    for (int64_t i = 1; i < n && st == TS_OK; i++) {
        if (spans[i].begin < spans[i - 1].end)
            st = ts_error(TS_ERR_FORMAT, "tensors '%s' and '%s' overlap at data offset %llu",
                          f->tensors[spans[i - 1].idx].name, f->tensors[spans[i].idx].name,
                          (ull)spans[i].begin);
    }
    free(spans);
    return st;
}

/* ----------------------------------------------------------------- public */

int64_t gguf_file_find_kv(const gguf_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) return i;
    return -1;
}

ts_status gguf_file_parse(gguf_file *f, const uint8_t *base, uint64_t size, const char *path) {
    memset(f, 0, sizeof *f);
    f->base = base;
    f->size = size;
    f->path = strdup(path);
    if (!f->path) return ts_error(TS_ERR_NOMEM, "out of memory");
    cursor c = {base, size, 0};
    uint64_t n_tensors, n_kv;
    ts_status st = read_header(&c, f);
    if (st == TS_OK) st = rd(&c, &n_tensors, 8, "header.n_tensors");
    if (st == TS_OK) st = rd(&c, &n_kv, 8, "header.n_kv");
    if (st == TS_OK) st = read_kvs(&c, f, n_kv);
    if (st == TS_OK) st = check_known_keys(f);
    if (st == TS_OK) st = read_layout_keys(f);
    if (st == TS_OK) st = read_tensor_infos(&c, f, n_tensors);
    if (st == TS_OK) st = place_tensors(f, c.pos);
    if (st == TS_OK && f->split_count && f->split_tensors < f->n_tensors)
        st = ts_error(TS_ERR_FORMAT, "split.tensors.count %lld is less than this part's %lld tensors",
                      (long long)f->split_tensors, (long long)f->n_tensors);
    if (st != TS_OK) gguf_file_free(f);
    return st;
}

ts_status gguf_file_open(gguf_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ts_error(TS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ts_error(TS_ERR_IO, "'%s' is not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return ts_error(TS_ERR_FORMAT, "%s: file is empty, not a GGUF file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) return ts_error(TS_ERR_IO, "cannot map '%s': %s", path, strerror(err));
    ts_status st = gguf_file_parse(f, map, (uint64_t)sb.st_size, path);
    if (st != TS_OK) {
        munmap(map, (size_t)sb.st_size);
        /* Prefix the message with the file, keeping the reader's details. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ts_last_error());
        return ts_error(st, "%s: %s", path, msg);
    }
    f->mapped = true;
    return TS_OK;
}

void gguf_file_free(gguf_file *f) {
    for (int64_t i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        if (f->kv[i].val.type == TS_GGUF_TYPE_ARRAY) {
            free((void *)f->kv[i].val.v.arr.data);
            free((void *)f->kv[i].val.v.arr.strs);
        }
    }
    for (int64_t i = 0; i < f->n_tensors; i++) free((void *)f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    free(f->path);
    if (f->mapped) munmap((void *)f->base, (size_t)f->size);
    memset(f, 0, sizeof *f);
}
