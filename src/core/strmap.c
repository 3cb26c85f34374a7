/*
 * strmap.c — open-addressing (linear probing) string → int64 map, used for
 * duplicate detection and name lookup. Load factor kept <= 1/2.
 */
#include "core/core-impl.h"

#include <stdlib.h>
#include <string.h>

static size_t find_slot(const ts_strmap *m, const char *key) {
    size_t i = (size_t)ts_hash_bytes(key, strlen(key)) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    return i;
}

static ts_status grow(ts_strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    ts_strmap bigger = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(int64_t)), cap, 0};
    if (!bigger.keys || !bigger.vals) {
        ts_strmap_free(&bigger);
        return ts_error(TS_ERR_NOMEM, "out of memory growing a name table to %zu entries", cap);
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.vals[j] = m->vals[i];
        bigger.n++;
    }
    ts_strmap_free(m);
    *m = bigger;
    return TS_OK;
}

ts_status ts_strmap_put(ts_strmap *m, const char *key, int64_t val, int64_t *existing) {
    if ((m->n + 1) * 2 > m->cap) {
        ts_status st = grow(m);
        if (st != TS_OK) return st;
    }
    size_t i = find_slot(m, key);
    if (m->keys[i]) {
        if (existing) *existing = m->vals[i];
        return TS_ERR_INVALID_ARG;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return TS_OK;
}

int64_t ts_strmap_get(const ts_strmap *m, const char *key) {
    if (m->cap == 0) return -1;
    size_t i = find_slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

void ts_strmap_free(ts_strmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
