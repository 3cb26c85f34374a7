/*
 * repack.c — the CPU backend's row-interleaved weight layouts and their
 * cache.
 *
 * A repacked weight keeps its blocks' information (every byte, or for the
 * K-quants a decoded form of the scales or quants) but stores 16 rows
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
 *   Q4_K (block of 256): d[16], dmin[16]; the 6-bit scales and mins
 *         decoded to bytes, sc[8][16], mn[8][16] (4 bytes a row more than
 *         the file); qs[4][8][16][4]: chunk (p, g) holds bytes 32p + 4g..+3
 *         of each row's qs — low nibbles are elements 64p + 4g..+3
 *         (sub-block 2p), high nibbles 64p + 32 + 4g..+3 (sub-block 2p + 1).
 *   Q6_K (block of 256): d[16]; sc[16][16] int8 scales; q[64][16][4]:
 *         chunk c holds elements 4c..4c+3 of each row as q + 32, one byte
 *         each (30 % more bytes than the file's 6 bits, for a decode-free
 *         kernel).
 *
 * The cache: a backend repacks each weight once (graph_reserve finds the
 * MUL_MAT weights of its worst graph) and keeps the copy in a small open-
 * addressed table keyed by the weight's data pointer; the file pages of
 * the original are dropped from the process (madvise DONTNEED, only on a
 * read-only file mapping), and GET_ROWS of such a table (a tied
 * embedding) unpacks its rows from the copy (ts_cpu_unpack_row).
 */
#include "backends/cpu/cpu-impl.h"
#include "core/quant-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(sizeof(rp_q4_1) == TS_RP_ROWS * sizeof(block_q4_1), "rp_q4_1");
_Static_assert(sizeof(rp_q5_0) == TS_RP_ROWS * sizeof(block_q5_0), "rp_q5_0");
_Static_assert(sizeof(rp_q8_0) == TS_RP_ROWS * sizeof(block_q8_0), "rp_q8_0");
_Static_assert(sizeof(rp_q4_K) == TS_RP_ROWS * (sizeof(block_q4_K) + 4), "rp_q4_K");
_Static_assert(sizeof(rp_q6_K) == TS_RP_ROWS * (QK_K + 2 + 16), "rp_q6_K");

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

/* Q4_K: the 6-bit scales and mins decoded (as quant_k.c's k4_get). */
static void pack_q4_K(const block_q4_K *const x[TS_RP_ROWS], rp_q4_K *y) {
    for (int r = 0; r < TS_RP_ROWS; r++) {
        const uint8_t *s = x[r]->scales;
        y->d[r] = x[r]->d, y->dmin[r] = x[r]->dmin;
        for (int j = 0; j < 8; j++) {
            y->sc[j][r] = (uint8_t)(j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4);
            y->mn[j][r] = (uint8_t)(j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4);
        }
        for (int p = 0; p < 4; p++)
            for (int g = 0; g < 8; g++) memcpy(y->qs[p][g][r], x[r]->qs + 32 * p + 4 * g, 4);
    }
}

/* Q6_K: each quant as q + 32 in a byte (element 32k + l of half h: its
 * nibble in ql[64h + 32(k & 1) + l] >> 4(k >> 1), its top bits in
 * qh[32h + l] >> 2k, as quant_k.c's unpack_q6_K). */
static void pack_q6_K(const block_q6_K *const x[TS_RP_ROWS], rp_q6_K *y) {
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        for (int k = 0; k < 16; k++) y->sc[k][r] = x[r]->scales[k];
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, k = e % 128 / 32, l = e % 32;
            const int lo = (x[r]->ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xF;
            const int hi = (x[r]->qh[32 * h + l] >> (2 * k)) & 3;
            y->q[e / 4][r][e % 4] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Bytes of one block of 16 rows repacked; 0: no layout. */
static size_t packed_block_size(ts_type type) {
    switch (type) {
    case TS_TYPE_Q4_1:
        return sizeof(rp_q4_1);
    case TS_TYPE_Q5_0:
        return sizeof(rp_q5_0);
    case TS_TYPE_Q8_0:
        return sizeof(rp_q8_0);
    case TS_TYPE_Q4_K:
        return sizeof(rp_q4_K);
    case TS_TYPE_Q6_K:
        return sizeof(rp_q6_K);
    default:
        return 0;
    }
}

size_t ts_cpu_repack_size(ts_type type, int64_t K, int64_t m) {
    const size_t groups = (size_t)((m + TS_RP_ROWS - 1) / TS_RP_ROWS);
    return groups * (size_t)(K / ts_type_get(type)->block_size) * packed_block_size(type);
}

void ts_cpu_repack(ts_type type, const void *w, size_t rs, int64_t K, int64_t m, int64_t g0,
                   int64_t g1, void *out) {
    const size_t bsz = ts_type_get(type)->type_size;
    const int64_t nb = K / ts_type_get(type)->block_size;
    uint8_t zero[256] = {0}; /* a padding row's block: all scales and quants 0 */
    TS_ASSERT(bsz <= sizeof zero);
    const size_t psz = packed_block_size(type);
    for (int64_t G = g0; G < g1; G++)
        for (int64_t b = 0; b < nb; b++) {
            const void *x[TS_RP_ROWS];
            for (int r = 0; r < TS_RP_ROWS; r++) {
                const int64_t i = G * TS_RP_ROWS + r;
                x[r] = i < m ? (const uint8_t *)w + (size_t)i * rs + (size_t)b * bsz : zero;
            }
            void *y = (uint8_t *)out + ((size_t)G * (size_t)nb + (size_t)b) * psz;
            switch (type) {
            case TS_TYPE_Q4_1:
                pack_q4_1((const block_q4_1 *const *)x, y);
                break;
            case TS_TYPE_Q5_0:
                pack_q5_0((const block_q5_0 *const *)x, y);
                break;
            case TS_TYPE_Q8_0:
                pack_q8_0((const block_q8_0 *const *)x, y);
                break;
            case TS_TYPE_Q4_K:
                pack_q4_K((const block_q4_K *const *)x, y);
                break;
            default:
                pack_q6_K((const block_q6_K *const *)x, y);
                break;
            }
        }
}

/* ============================================== one row back, for GET_ROWS */

static void unpack_q4_1(const rp_q4_1 *y, int r, block_q4_1 *x) {
    x->d = y->d[r], x->m = y->m[r];
    for (int g = 0; g < 4; g++) memcpy(x->qs + 4 * g, y->qs[g][r], 4);
}

static void unpack_q5_0(const rp_q5_0 *y, int r, block_q5_0 *x) {
    x->d = y->d[r];
    uint32_t qh = 0;
    for (int g = 0; g < 4; g++) {
        memcpy(x->qs + 4 * g, y->qs[g][r], 4);
        qh |= (uint32_t)(y->qh[g][0] >> (4 * r) & 0xF) << (4 * g);
        qh |= (uint32_t)(y->qh[g][1] >> (4 * r) & 0xF) << (16 + 4 * g);
    }
    memcpy(x->qh, &qh, sizeof qh);
}

static void unpack_q8_0(const rp_q8_0 *y, int r, block_q8_0 *x) {
    x->d = y->d[r];
    for (int g = 0; g < 8; g++)
        for (int e = 0; e < 4; e++) x->qs[4 * g + e] = (int8_t)(y->qs[g][r][e] - 128);
}

/* The 6-bit scales and mins re-encoded as the file has them (the inverse
 * of k4_get: low 6 bits of sub-blocks 0..3 in bytes 0..7, sub-blocks 4..7
 * in bytes 8..11's nibbles plus the top bits of bytes 0..7). */
static void unpack_q4_K(const rp_q4_K *y, int r, block_q4_K *x) {
    x->d = y->d[r], x->dmin = y->dmin[r];
    for (int j = 0; j < 4; j++) {
        const int sc = y->sc[j][r], mn = y->mn[j][r], sc4 = y->sc[j + 4][r], mn4 = y->mn[j + 4][r];
        x->scales[j] = (uint8_t)(sc | (sc4 >> 4) << 6);
        x->scales[j + 4] = (uint8_t)(mn | (mn4 >> 4) << 6);
        x->scales[j + 8] = (uint8_t)((sc4 & 0xF) | (mn4 & 0xF) << 4);
    }
    for (int p = 0; p < 4; p++)
        for (int g = 0; g < 8; g++) memcpy(x->qs + 32 * p + 4 * g, y->qs[p][g][r], 4);
}

static void unpack_q6_K(const rp_q6_K *y, int r, block_q6_K *x) {
    x->d = y->d[r];
    for (int k = 0; k < 16; k++) x->scales[k] = y->sc[k][r];
    memset(x->ql, 0, sizeof x->ql);
    memset(x->qh, 0, sizeof x->qh);
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, k = e % 128 / 32, l = e % 32, q = y->q[e / 4][r][e % 4];
        x->ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((q & 0xF) << (4 * (k >> 1)));
        x->qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
    }
}

void ts_cpu_unpack_row(ts_type type, const void *packed, int64_t K, int64_t i, void *out) {
    const int64_t nb = K / ts_type_get(type)->block_size;
    const size_t psz = packed_block_size(type), bsz = ts_type_get(type)->type_size;
    const uint8_t *group = (const uint8_t *)packed + (size_t)(i / TS_RP_ROWS) * (size_t)nb * psz;
    const int r = (int)(i % TS_RP_ROWS);
    for (int64_t b = 0; b < nb; b++) {
        const void *y = group + (size_t)b * psz;
        void *x = (uint8_t *)out + (size_t)b * bsz;
        switch (type) {
        case TS_TYPE_Q4_1: unpack_q4_1(y, r, x); break;
        case TS_TYPE_Q5_0: unpack_q5_0(y, r, x); break;
        case TS_TYPE_Q8_0: unpack_q8_0(y, r, x); break;
        case TS_TYPE_Q4_K: unpack_q4_K(y, r, x); break;
        default: unpack_q6_K(y, r, x); break;
        }
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

/* Whether [p, p + n) lies in one read-only mapping of a file
 * (/proc/self/maps: an inode, no write permission): there dropping pages
 * loses nothing, the file has them. */
static bool in_readonly_file_map(const void *p, size_t n) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return false;
    const uintptr_t lo = (uintptr_t)p, hi = lo + n;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long start, end, inode;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &start, &end, perms, &inode) == 4)
            found = lo >= start && hi <= end && inode != 0 && perms[1] != 'w';
    }
    fclose(f);
    return found;
}

/* The page-aligned interior of [p, p + n), which lies in a read-only file
 * mapping (a model's weights), dropped from this process's memory: a later
 * read (GET_ROWS of a tied embedding) faults the page back from the file.
 * Elsewhere MADV_DONTNEED would discard data: the caller checks. */
static void release_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

#define CHUNK_GROUPS 1024 /* 16-row groups repacked between two releases */

typedef struct repack_job {
    const ts_tensor *w;
    void *packed;
    int64_t g0, g1; /* the chunk's groups */
} repack_job;

/* Thread ith's share of the chunk's 16-row groups. */
static void repack_part(int ith, int nth, void *user) {
    const repack_job *j = user;
    int64_t g0, g1;
    cpu_split(j->g1 - j->g0, ith, nth, &g0, &g1);
    ts_cpu_repack(j->w->type, j->w->data, j->w->nb[1], j->w->ne[0], j->w->ne[1], j->g0 + g0,
                  j->g0 + g1, j->packed);
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
        return ts_error(TS_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes to repack '%s'", size,
                        w->name);
    // chunk by chunk, each chunk's rows released as soon as they are copied,
    // so that a large weight never sits in memory twice
    const int64_t groups = (m + TS_RP_ROWS - 1) / TS_RP_ROWS;
    const bool release = in_readonly_file_map(w->data, w->nb[1] * (size_t)m);
    for (int64_t g = 0; g < groups; g += CHUNK_GROUPS) {
        repack_job job = {.w = w,
                          .packed = packed,
                          .g0 = g,
                          .g1 = g + CHUNK_GROUPS < groups ? g + CHUNK_GROUPS : groups};
        ts_threadpool_run(pool, repack_part, &job);
        const int64_t r0 = job.g0 * TS_RP_ROWS,
                      r1 = job.g1 * TS_RP_ROWS < m ? job.g1 * TS_RP_ROWS : m;
        if (release)
            release_pages((const uint8_t *)w->data + (size_t)r0 * w->nb[1],
                          (size_t)(r1 - r0) * w->nb[1]);
    }
    (*tab)[slot_of(*tab, *cap, w->data)] = (cpu_repacked){.orig = w->data, .packed = packed};
    (*count)++;
    *bytes += size;
    return TS_OK;
}

void ts_cpu_repacked_free(cpu_repacked *tab, size_t cap) {
    for (size_t i = 0; i < cap; i++) free(tab[i].packed);
    free(tab);
}
