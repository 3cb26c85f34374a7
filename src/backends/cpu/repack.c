/*
 * repack.c — the CPU backend's row-interleaved weight layouts and their
 * cache.
 *
 * A repacked weight keeps every byte of its blocks but stores 16 rows
 * side by side, so that a SIMD kernel holds one row per 32-bit lane: it
 * broadcasts 4 activation bytes, multiplies them with 4 bytes of each of
 * the 16 rows at once, and every lane accumulates its own row's integer
 * block sum — no horizontal sums — then applies its row's scales from one
 * vector load. That is the reduction-order contract's natural shape: each
 * block's integer sum is exact, and each lane adds the scaled blocks of its
 * row in order, as the reference's scalar loop does.
 *
 * Layouts (per group of 16 rows, per block b, r = row in the group; row
 * i of the weight is row i % 16 of group i / 16; a last partial group is
 * padded with zero rows):
 *   Q4_1: d[16], m[16] halves; qs[4][16][4]: chunk g holds bytes
 *         4g..4g+3 of each row's qs — low nibbles are elements 4g..4g+3,
 *         high nibbles 16+4g..16+4g+3.
 *   Q5_0: d[16]; qh[4][2] 64-bit masks: bit 4r+e of mask [g][0] is the
 *         fifth bit of element 4g+e of row r, of [g][1] of element
 *         16+4g+e; qs as Q4_1's.
 *   Q8_0: d[16]; qs[8][16][4]: chunk g holds elements 4g..4g+3 of each
 *         row, each stored + 128 (unsigned).
 *
 * The cache: a backend repacks each weight once (graph_reserve finds the
 * MUL_MAT weights of its worst graph) and keeps the copy in a small open-
 * addressed table keyed by the weight's data pointer; the file pages of
 * the original are handed back to the kernel (madvise PAGEOUT: the
 * mapping re-reads them from the file if GET_ROWS needs a row).
 */
#include "backends/cpu/cpu-impl.h"
#include "core/quant-impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(sizeof(rp_q4_1) == TS_RP_ROWS * sizeof(block_q4_1), "rp_q4_1");
_Static_assert(sizeof(rp_q5_0) == TS_RP_ROWS * sizeof(block_q5_0), "rp_q5_0");
_Static_assert(sizeof(rp_q8_0) == TS_RP_ROWS * sizeof(block_q8_0), "rp_q8_0");

/* ============================================================== layouts */

static void pack_q4_1(const block_q4_1 *const x[TS_RP_ROWS], rp_q4_1 *y) {
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->m[r] = x[r]->m;
        for (int g = 0; g < 4; g++) memcpy(y->qs[g][r], x[r]->qs + 4 * g, 4);
    }
}

static void pack_q5_0(const block_q5_0 *const x[TS_RP_ROWS], rp_q5_0 *y) {
    memset(y->qh, 0, sizeof y->qh);
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        uint32_t qh;
        memcpy(&qh, x[r]->qh, sizeof qh);
        for (int g = 0; g < 4; g++) {
            memcpy(y->qs[g][r], x[r]->qs + 4 * g, 4);
            y->qh[g][0] |= (uint64_t)(qh >> (4 * g) & 0xF) << (4 * r);
            y->qh[g][1] |= (uint64_t)(qh >> (16 + 4 * g) & 0xF) << (4 * r);
        }
    }
}

static void pack_q8_0(const block_q8_0 *const x[TS_RP_ROWS], rp_q8_0 *y) {
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        for (int g = 0; g < 8; g++)
            for (int e = 0; e < 4; e++) y->qs[g][r][e] = (uint8_t)(x[r]->qs[4 * g + e] + 128);
    }
}

size_t ts_cpu_repack_size(ts_type type, int64_t K, int64_t m) {
    const size_t groups = (size_t)((m + TS_RP_ROWS - 1) / TS_RP_ROWS);
    const size_t blocks = (size_t)(K / 32);
    switch (type) {
    case TS_TYPE_Q4_1: return groups * blocks * sizeof(rp_q4_1);
    case TS_TYPE_Q5_0: return groups * blocks * sizeof(rp_q5_0);
    case TS_TYPE_Q8_0: return groups * blocks * sizeof(rp_q8_0);
    default: return 0;
    }
}

void ts_cpu_repack(ts_type type, const void *w, size_t rs, int64_t K, int64_t m, int64_t g0,
                   int64_t g1, void *out) {
    const size_t bsz = ts_type_get(type)->type_size;
    const int64_t nb = K / 32;
    uint8_t zero[64] = {0}; /* a padding row's block: all scales and quants 0 */
    TS_ASSERT(bsz <= sizeof zero);
    const size_t psz = TS_RP_ROWS * bsz;
    for (int64_t G = g0; G < g1; G++)
        for (int64_t b = 0; b < nb; b++) {
            const void *x[TS_RP_ROWS];
            for (int r = 0; r < TS_RP_ROWS; r++) {
                const int64_t i = G * TS_RP_ROWS + r;
                x[r] = i < m ? (const uint8_t *)w + (size_t)i * rs + (size_t)b * bsz : zero;
            }
            void *y = (uint8_t *)out + ((size_t)G * (size_t)nb + (size_t)b) * psz;
            if (type == TS_TYPE_Q4_1) pack_q4_1((const block_q4_1 *const *)x, y);
            else if (type == TS_TYPE_Q5_0) pack_q5_0((const block_q5_0 *const *)x, y);
            else pack_q8_0((const block_q8_0 *const *)x, y);
        }
}

/* ================================================================ cache */

static size_t slot_of(const cpu_repacked *tab, size_t cap, const void *orig) {
    size_t h = (size_t)((uintptr_t)orig >> 6) * 0x9E3779B97F4A7C15ull;
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!tab[i].orig || tab[i].orig == orig) return i;
}

const void *ts_cpu_repacked_find(const cpu_repacked *tab, size_t cap, const void *orig) {
    if (!cap) return NULL;
    const cpu_repacked *e = &tab[slot_of(tab, cap, orig)];
    return e->orig ? e->packed : NULL;
}

/* The page-aligned interior of [p, p + n) back to the kernel. PAGEOUT,
 * not DONTNEED: it drops a file mapping's clean pages (re-read from the
 * file when touched again) but never discards data, whatever memory the
 * weight lives in. Where the kernel lacks it the pages stay. */
static void release_pages(const void *p, size_t n) {
#ifdef MADV_PAGEOUT
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_PAGEOUT);
#else
    (void)p, (void)n;
#endif
}

typedef struct repack_job {
    const ts_tensor *w;
    void *packed;
} repack_job;

/* Thread ith's share of the job's 16-row groups. */
static void repack_part(int ith, int nth, void *user) {
    const repack_job *j = user;
    const int64_t K = j->w->ne[0], m = j->w->ne[1], groups = (m + TS_RP_ROWS - 1) / TS_RP_ROWS;
    int64_t g0, g1;
    cpu_split(groups, ith, nth, &g0, &g1);
    ts_cpu_repack(j->w->type, j->w->data, j->w->nb[1], K, m, g0, g1, j->packed);
}

ts_status ts_cpu_repack_weight(cpu_repacked **tab, size_t *cap, size_t *count, const ts_tensor *w,
                               ts_threadpool *pool, size_t *bytes) {
    if (ts_cpu_repacked_find(*tab, *cap, w->data)) return TS_OK;
    if ((*count + 1) * 2 > *cap) { /* keep the table at most half full */
        const size_t ncap = *cap ? *cap * 2 : 64;
        cpu_repacked *nt = calloc(ncap, sizeof *nt);
        if (!nt) return ts_error(TS_ERR_NOMEM, "cpu backend: no memory for the repack table");
        for (size_t i = 0; i < *cap; i++)
            if ((*tab)[i].orig) nt[slot_of(nt, ncap, (*tab)[i].orig)] = (*tab)[i];
        free(*tab);
        *tab = nt, *cap = ncap;
    }
    const int64_t K = w->ne[0], m = w->ne[1];
    const size_t size = ts_cpu_repack_size(w->type, K, m);
    void *packed = aligned_alloc(CPU_ALIGN, cpu_align(size));
    if (!packed)
        return ts_error(TS_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes to repack '%s'",
                        size, w->name);
    repack_job job = {.w = w, .packed = packed};
    ts_threadpool_run(pool, repack_part, &job);
    release_pages(w->data, w->nb[1] * (size_t)m);
    (*tab)[slot_of(*tab, *cap, w->data)] = (cpu_repacked){.orig = w->data, .packed = packed};
    (*count)++;
    *bytes += size;
    return TS_OK;
}

void ts_cpu_repacked_free(cpu_repacked *tab, size_t cap) {
    for (size_t i = 0; i < cap; i++) free(tab[i].packed);
    free(tab);
}
