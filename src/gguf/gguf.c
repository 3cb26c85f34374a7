/*
 * gguf.c — the model-level GGUF handle: opens one file or every part of a
 * split model (NAME-00001-of-0000N.gguf), checks the parts against each
 * other, and presents them as one: the first part's metadata without the
 * split.* keys, and all tensors in part order.
 */
#include "gguf/gguf-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

static const char *const gguf_type_names[TS_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

static const size_t gguf_type_sizes[TS_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_desc(ts_gguf_type type, ts_gguf_type elem, char *buf, size_t n) {
    if (type != TS_GGUF_TYPE_ARRAY) return ts_gguf_type_name(type);
    snprintf(buf, n, "array of %s", ts_gguf_type_name(elem));
    return buf;
}

/* ---------------------------------------------------------------- split */

/* Parse "...-NNNNN-of-MMMMM.gguf"; *prefix_len receives the length of "...". */
static bool parse_split_name(const char *path, size_t *prefix_len, unsigned *no, unsigned *count) {
    size_t len = strlen(path);
    if (len < TS_SPLIT_SUFFIX_LEN) return false;
    const char *s = path + len - TS_SPLIT_SUFFIX_LEN;
    char tail[8];
    int used = 0;
    if (sscanf(s, "-%5u-of-%5u%7s%n", no, count, tail, &used) != 3) return false;
    if ((size_t)used != TS_SPLIT_SUFFIX_LEN || strcmp(tail, ".gguf") != 0) return false;
    *prefix_len = len - TS_SPLIT_SUFFIX_LEN;
    return true;
}

/* Part i of n agrees with the set: numbering, count, total tensors. */
static ts_status check_part(const gguf_file *part, const gguf_file *first, uint32_t i) {
    if (part->split_count != first->split_count || part->split_no != i)
        return ts_error(TS_ERR_FORMAT,
                        "'%s' says it is part %u of %u, expected part %u of %u", part->path,
                        part->split_no + 1, part->split_count, i + 1, first->split_count);
    if (part->split_tensors != first->split_tensors)
        return ts_error(TS_ERR_FORMAT, "'%s': split.tensors.count %lld differs from '%s' (%lld)",
                        part->path, (long long)part->split_tensors, first->path,
                        (long long)first->split_tensors);
    return TS_OK;
}

/* Open parts 1..n of the split model that `given` (already open) belongs to. */
static ts_status open_parts(ts_gguf *g, gguf_file *given) {
    size_t prefix_len;
    unsigned no, count;
    if (!parse_split_name(given->path, &prefix_len, &no, &count) || no != given->split_no + 1 ||
        count != given->split_count)
        return ts_error(TS_ERR_FORMAT,
                        "'%s' is part %u of a %u-part split model, but its name does not follow "
                        "NAME-%05u-of-%05u.gguf, so the other parts cannot be found",
                        given->path, given->split_no + 1, given->split_count,
                        given->split_no + 1, given->split_count);
    g->files = calloc(count, sizeof *g->files);
    if (!g->files) return ts_error(TS_ERR_NOMEM, "out of memory");
    g->files[given->split_no] = *given;
    memset(given, 0, sizeof *given); /* owned by g now */
    g->n_files = count;
    char path[4096];
    int64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (i != no - 1) {
            snprintf(path, sizeof path, "%.*s-%05u-of-%05u.gguf", (int)prefix_len,
                     g->files[no - 1].path, i + 1, count);
            ts_status st = gguf_file_open(&g->files[i], path);
            if (st != TS_OK) return st;
        }
        ts_status st = check_part(&g->files[i], &g->files[no - 1], i);
        if (st != TS_OK) return st;
        total += g->files[i].n_tensors;
    }
    if (total != g->files[0].split_tensors)
        return ts_error(TS_ERR_FORMAT, "split model has %lld tensors in its %u parts, but "
                        "split.tensors.count says %lld",
                        (long long)total, count, (long long)g->files[0].split_tensors);
    return TS_OK;
}

/* ----------------------------------------------------------------- join */

static ts_status index_kv(ts_gguf *g) {
    const gguf_file *f = &g->files[0];
    g->kv = calloc((size_t)(f->n_kv ? f->n_kv : 1), sizeof *g->kv);
    if (!g->kv) return ts_error(TS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < f->n_kv; i++) {
        if (strncmp(f->kv[i].key, TS_SPLIT_PREFIX, strlen(TS_SPLIT_PREFIX)) == 0) continue;
        if (ts_strmap_put(&g->kv_index, f->kv[i].key, g->n_kv, NULL) != TS_OK)
            return ts_error(TS_ERR_NOMEM, "out of memory");
        g->kv[g->n_kv++] = &f->kv[i];
    }
    return TS_OK;
}

ts_status gguf_join(ts_gguf *g) {
    ts_status st = index_kv(g);
    if (st != TS_OK) return st;
    int64_t n = 0;
    for (uint32_t i = 0; i < g->n_files; i++) n += g->files[i].n_tensors;
    g->tensors = calloc((size_t)(n ? n : 1), sizeof *g->tensors);
    if (!g->tensors) return ts_error(TS_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_files; i++) {
        const gguf_file *f = &g->files[i];
        for (int64_t j = 0; j < f->n_tensors; j++) {
            ts_gguf_tensor_info *t = &g->tensors[g->n_tensors];
            *t = f->tensors[j];
            t->file = i;
            int64_t prev;
            st = ts_strmap_put(&g->tensor_index, t->name, g->n_tensors, &prev);
            if (st == TS_ERR_INVALID_ARG)
                return ts_error(TS_ERR_FORMAT, "tensor '%s' appears in part %u and again in part %u",
                                t->name, g->tensors[prev].file + 1, i + 1);
            if (st != TS_OK) return st;
            g->n_tensors++;
        }
    }
    return TS_OK;
}

static ts_status finish_open(ts_gguf *g, ts_status st, ts_gguf **out) {
    if (st == TS_OK) st = gguf_join(g);
    if (st != TS_OK) {
        ts_gguf_close(g);
        return st;
    }
    *out = g;
    return TS_OK;
}

/* ----------------------------------------------------------------- public */

const char *ts_gguf_type_name(int64_t type) {
    return type >= 0 && type < TS_GGUF_TYPE_COUNT ? gguf_type_names[type] : "?";
}

size_t ts_gguf_type_size(ts_gguf_type type) {
    return (unsigned)type < TS_GGUF_TYPE_COUNT ? gguf_type_sizes[type] : 0;
}

ts_status ts_gguf_open(const char *path, ts_gguf **out) {
    *out = NULL;
    gguf_file first;
    ts_status st = gguf_file_open(&first, path);
    if (st != TS_OK) return st;
    ts_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        gguf_file_free(&first);
        return ts_error(TS_ERR_NOMEM, "out of memory");
    }
    if (first.split_count > 1) {
        st = open_parts(g, &first);
        gguf_file_free(&first); /* no-op once handed to g */
        return finish_open(g, st, out);
    }
    g->files = malloc(sizeof *g->files);
    if (!g->files) {
        gguf_file_free(&first);
        return finish_open(g, ts_error(TS_ERR_NOMEM, "out of memory"), out);
    }
    g->files[0] = first;
    g->n_files = 1;
    return finish_open(g, TS_OK, out);
}

ts_status ts_gguf_open_memory(const void *data, size_t size, ts_gguf **out) {
    *out = NULL;
    ts_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->files = calloc(1, sizeof *g->files))) {
        free(g);
        return ts_error(TS_ERR_NOMEM, "out of memory");
    }
    ts_status st = gguf_file_parse(&g->files[0], data, size, "");
    if (st == TS_OK) g->n_files = 1;
    return finish_open(g, st, out);
}

void ts_gguf_close(ts_gguf *g) {
    if (!g) return;
    for (uint32_t i = 0; i < g->n_files; i++) gguf_file_free(&g->files[i]);
    free(g->files);
    free(g->kv);
    free(g->tensors);
    ts_strmap_free(&g->kv_index);
    ts_strmap_free(&g->tensor_index);
    free(g);
}

uint32_t ts_gguf_n_files(const ts_gguf *g) { return g->n_files; }
const char *ts_gguf_file_path(const ts_gguf *g, uint32_t i) { return g->files[i].path; }
uint64_t ts_gguf_file_size(const ts_gguf *g, uint32_t i) { return g->files[i].size; }
uint64_t ts_gguf_data_offset(const ts_gguf *g, uint32_t i) { return g->files[i].data_offset; }
uint32_t ts_gguf_version(const ts_gguf *g) { return g->files[0].version; }
uint32_t ts_gguf_alignment(const ts_gguf *g) { return g->files[0].alignment; }

int64_t ts_gguf_n_kv(const ts_gguf *g) { return g->n_kv; }
const char *ts_gguf_kv_key(const ts_gguf *g, int64_t i) { return g->kv[i]->key; }
const ts_gguf_value *ts_gguf_kv_value(const ts_gguf *g, int64_t i) { return &g->kv[i]->val; }
int64_t ts_gguf_find_kv(const ts_gguf *g, const char *key) {
    return ts_strmap_get(&g->kv_index, key);
}

int64_t ts_gguf_n_tensors(const ts_gguf *g) { return g->n_tensors; }
const ts_gguf_tensor_info *ts_gguf_tensor(const ts_gguf *g, int64_t i) { return &g->tensors[i]; }
int64_t ts_gguf_find_tensor(const ts_gguf *g, const char *name) {
    return ts_strmap_get(&g->tensor_index, name);
}

/* ----------------------------------------------------------- typed lookup */

static ts_status get_typed(const ts_gguf *g, const char *key, ts_gguf_type type,
                           ts_gguf_type elem, const ts_gguf_value **out) {
    int64_t i = ts_gguf_find_kv(g, key);
    if (i < 0) return ts_error(TS_ERR_NOT_FOUND, "key '%s' is missing", key);
    const ts_gguf_value *v = ts_gguf_kv_value(g, i);
    if (v->type != type || (type == TS_GGUF_TYPE_ARRAY && v->v.arr.elem != elem)) {
        char got[32], want[32];
        return ts_error(TS_ERR_FORMAT, "key '%s' at offset %llu has type %s, expected %s", key,
                        (ull)v->offset, gguf_type_desc(v->type, v->v.arr.elem, got, sizeof got),
                        gguf_type_desc(type, elem, want, sizeof want));
    }
    *out = v;
    return TS_OK;
}

ts_status ts_gguf_get_u32(const ts_gguf *g, const char *key, uint32_t *out) {
    const ts_gguf_value *v = NULL;
    ts_status st = get_typed(g, key, TS_GGUF_TYPE_UINT32, 0, &v);
    if (st == TS_OK) *out = v->v.u32;
    return st;
}

ts_status ts_gguf_get_f32(const ts_gguf *g, const char *key, float *out) {
    const ts_gguf_value *v = NULL;
    ts_status st = get_typed(g, key, TS_GGUF_TYPE_FLOAT32, 0, &v);
    if (st == TS_OK) *out = v->v.f32;
    return st;
}

ts_status ts_gguf_get_bool(const ts_gguf *g, const char *key, bool *out) {
    const ts_gguf_value *v = NULL;
    ts_status st = get_typed(g, key, TS_GGUF_TYPE_BOOL, 0, &v);
    if (st == TS_OK) *out = v->v.b;
    return st;
}

ts_status ts_gguf_get_str(const ts_gguf *g, const char *key, ts_str *out) {
    const ts_gguf_value *v = NULL;
    ts_status st = get_typed(g, key, TS_GGUF_TYPE_STRING, 0, &v);
    if (st == TS_OK) *out = v->v.str;
    return st;
}

ts_status ts_gguf_get_arr(const ts_gguf *g, const char *key, ts_gguf_type elem,
                          const ts_gguf_value **out) {
    return get_typed(g, key, TS_GGUF_TYPE_ARRAY, elem, out);
}
