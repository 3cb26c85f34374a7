/*
 * kv.c — KV cache cells: which sequences use a cell and at which position.
 * Removing, copying and trimming sequences only edit this metadata; the
 * K/V rows never move. Attention lists are derived from it per micro-batch,
 * from the used cells kept in (position, cell) order (engine-impl.h).
 */
#include "core/core-impl.h"
#include "engine/engine-impl.h"

#include <stdlib.h>
#include <string.h>

ts_status ts_kv_cells_init(ts_kv_cells *kv, uint32_t n) {
    memset(kv, 0, sizeof *kv);
    kv->n = n;
    kv->pos = calloc(n, sizeof *kv->pos);
    kv->seq = calloc(n, sizeof *kv->seq);
    kv->order = calloc(n, sizeof *kv->order);
    if (!kv->pos || !kv->seq || !kv->order) {
        ts_kv_cells_free(kv);
        return ts_error(TS_ERR_NOMEM, "no memory for %u KV cells", n);
    }
    return TS_OK;
}

void ts_kv_cells_free(ts_kv_cells *kv) {
    free(kv->pos);
    free(kv->seq);
    free(kv->order);
    memset(kv, 0, sizeof *kv);
}

uint32_t ts_kv_cells_count(const ts_kv_cells *kv) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < kv->n; i++) n += kv->seq[i] != 0;
    return n;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t order_key(const ts_kv_cells *kv, uint32_t c) {
    return (uint64_t)(uint32_t)kv->pos[c] << 32 | c; // positions are >= 0
}

uint32_t ts_kv_cells_used(ts_kv_cells *kv) {
    if (!kv->stale) return kv->n_used;
    uint32_t m = 0;
    bool sorted = true;
    for (uint32_t i = 0; i < kv->n; i++) {
        if (!kv->seq[i]) continue;
        kv->order[m] = order_key(kv, i);
        sorted = sorted && (m == 0 || kv->order[m - 1] < kv->order[m]);
        m++;
    }
    if (!sorted) qsort(kv->order, m, sizeof *kv->order, cmp_u64);
    kv->n_used = m;
    kv->stale = false;
    return m;
}

void ts_kv_cells_take(ts_kv_cells *kv, uint32_t c, ts_pos p, uint64_t seqs) {
    TS_ASSERT(c < kv->n && !kv->seq[c] && seqs);
    kv->pos[c] = p;
    kv->seq[c] = seqs;
    if (kv->stale) return;
    const uint64_t key = order_key(kv, c);
    if (kv->n_used > 0 && kv->order[kv->n_used - 1] > key)
        kv->stale = true; // out of order (a sequence behind another): sort later
    else
        kv->order[kv->n_used++] = key;
}

void ts_kv_cells_release(ts_kv_cells *kv, uint32_t c) {
    kv->seq[c] = 0;
    kv->stale = true;
}

int32_t ts_kv_cells_visible(const ts_kv_cells *kv, uint64_t seqs, ts_pos p, int32_t *idx) {
    TS_ASSERT(!kv->stale);
    int32_t n = 0;
    for (uint32_t i = 0; i < kv->n_used; i++) {
        uint32_t c = (uint32_t)kv->order[i];
        if (kv->pos[c] > p) break; // sorted by position: nothing later is visible
        if (kv->seq[c] & seqs) idx[n++] = (int32_t)c;
    }
    return n;
}

/* ============================================================ public API */

static bool seq_ok(const ts_context *ctx, ts_seq_id s) {
    return s >= 0 && (uint32_t)s < ctx->params.n_seq_max;
}

bool ts_seq_rm(ts_context *ctx, ts_seq_id seq, ts_pos p0, ts_pos p1) {
    if (seq >= 0 && !seq_ok(ctx, seq)) return false;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    const uint64_t mask = seq < 0 ? ~0ull : 1ull << seq;
    ts_kv_cells *kv = &ctx->cells;
    for (uint32_t i = 0; i < kv->n; i++)
        if ((kv->seq[i] & mask) && kv->pos[i] >= p0 && kv->pos[i] < p1) kv->seq[i] &= ~mask;
    kv->stale = true; // cells may have become free
    return true;
}

void ts_seq_cp(ts_context *ctx, ts_seq_id src, ts_seq_id dst, ts_pos p0, ts_pos p1) {
    if (!seq_ok(ctx, src) || !seq_ok(ctx, dst) || src == dst) return;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    ts_kv_cells *kv = &ctx->cells;
    for (uint32_t i = 0; i < kv->n; i++)
        if ((kv->seq[i] >> src & 1) && kv->pos[i] >= p0 && kv->pos[i] < p1)
            kv->seq[i] |= 1ull << dst;
}

void ts_seq_keep(ts_context *ctx, ts_seq_id seq) {
    const uint64_t keep = seq_ok(ctx, seq) ? 1ull << seq : 0;
    ts_kv_cells *kv = &ctx->cells;
    for (uint32_t i = 0; i < kv->n; i++) kv->seq[i] &= keep;
    kv->stale = true;
}

ts_pos ts_seq_pos_max(const ts_context *ctx, ts_seq_id seq) {
    if (!seq_ok(ctx, seq)) return -1;
    ts_pos m = -1;
    const ts_kv_cells *kv = &ctx->cells;
    for (uint32_t i = 0; i < kv->n; i++)
        if ((kv->seq[i] >> seq & 1) && kv->pos[i] > m) m = kv->pos[i];
    return m;
}
