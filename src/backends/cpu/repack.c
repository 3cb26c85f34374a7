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
 * padded with zero rows; a "mask" is 64 bits, bit 4r + e for element e of
 * a 4-element chunk of row r, so that AVX-512 blends 64 bytes with it):
 *   Q4_0, IQ4_NL: d[16] halves; qs[4][16][4]: chunk g holds bytes
 *         4g..4g+3 of each row's qs — low nibbles are elements 4g..4g+3,
 *         high nibbles 16+4g..16+4g+3 (IQ4_NL's index its levels).
 *   Q4_1: d[16], m[16]; qs as Q4_0's.
 *   Q5_0: d[16]; qh[4][2] masks: [g][0] holds the fifth bits of elements
 *         4g..4g+3, [g][1] of 16+4g..16+4g+3; qs as Q4_0's.
 *   Q5_1: d[16], m[16]; qh and qs as Q5_0's.
 *   Q8_0: d[16]; qs[8][16][4]: chunk g holds elements 4g..4g+3 of each
 *         row, each stored + 128 (unsigned).
 *   Q2_K (block of 256): d[16], dmin[16]; sc[16][16] the file's scale |
 *         min bytes; qs[16][16][4]: chunk c holds bytes 4c..4c+3 of each
 *         row's qs (bits 2k..2k+1 of chunk 8h + g: elements 128h + 32k +
 *         4g..+3). The file's bytes, only moved.
 *   Q3_K (block of 256): d[16]; the 6-bit scales decoded, − 32, to
 *         sc[16][16] int8 (4 bytes a row more than the file); hm[16][4]
 *         masks: [8h + g][k] holds the high bits of elements 128h + 32k +
 *         4g..+3; qs as Q2_K's.
 *   Q4_K (block of 256): d[16], dmin[16]; the 6-bit scales and mins
 *         decoded to bytes, sc[8][16], mn[8][16] (4 bytes a row more than
 *         the file); qs[4][8][16][4]: chunk (p, g) holds bytes 32p + 4g..+3
 *         of each row's qs — low nibbles are elements 64p + 4g..+3
 *         (sub-block 2p), high nibbles 64p + 32 + 4g..+3 (sub-block 2p + 1).
 *   Q5_K (block of 256): Q4_K's, and qh[4][8][2] masks: [p][g][s] holds
 *         the fifth bits of elements 64p + 32s + 4g..+3.
 *   Q6_K (block of 256): d[16]; sc[16][16] int8 scales; q[64][16][4]:
 *         chunk c holds elements 4c..4c+3 of each row as q + 32, one byte
 *         each (30 % more bytes than the file's 6 bits, for a decode-free
 *         kernel).
 * Every layout keeps all of a block's information: unpacking a row gives
 * the file's bytes back.
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

_Static_assert(sizeof(rp_q4_0) == TS_RP_ROWS * sizeof(block_q4_0), "rp_q4_0");
_Static_assert(sizeof(block_iq4_nl) == sizeof(block_q4_0), "IQ4_NL packs as Q4_0");
_Static_assert(sizeof(rp_q4_1) == TS_RP_ROWS * sizeof(block_q4_1), "rp_q4_1");
_Static_assert(sizeof(rp_q5_0) == TS_RP_ROWS * sizeof(block_q5_0), "rp_q5_0");
_Static_assert(sizeof(rp_q5_1) == TS_RP_ROWS * sizeof(block_q5_1), "rp_q5_1");
_Static_assert(sizeof(rp_q8_0) == TS_RP_ROWS * sizeof(block_q8_0), "rp_q8_0");
_Static_assert(sizeof(rp_q2_K) == TS_RP_ROWS * sizeof(block_q2_K), "rp_q2_K");
_Static_assert(sizeof(rp_q3_K) == TS_RP_ROWS * (sizeof(block_q3_K) + 4), "rp_q3_K");
_Static_assert(sizeof(rp_q4_K) == TS_RP_ROWS * (sizeof(block_q4_K) + 4), "rp_q4_K");
_Static_assert(sizeof(rp_q5_K) == TS_RP_ROWS * (sizeof(block_q5_K) + 4), "rp_q5_K");
_Static_assert(sizeof(rp_q6_K) == TS_RP_ROWS * (QK_K + 2 + 16), "rp_q6_K");

/* ============================================================== helpers */

/* A 32-element block's 16 nibble bytes as chunks qs[g][r] = bytes 4g..+3. */
static void pack_nibbles(uint8_t qs[4][TS_RP_ROWS][4], int r, const uint8_t *x) {
    for (int g = 0; g < 4; g++) memcpy(qs[g][r], x + 4 * g, 4);
}

static void unpack_nibbles(const uint8_t qs[4][TS_RP_ROWS][4], int r, uint8_t *x) {
    for (int g = 0; g < 4; g++) memcpy(x + 4 * g, qs[g][r], 4);
}

/* Q5_0 / Q5_1's fifth bits (qh, little-endian u32: bit e of element e) of
 * row r into the masks: bit 4r + e of [g][0] is element 4g + e's, of
 * [g][1] element 16 + 4g + e's. The masks start at zero. */
static void pack_qh32(uint64_t m[4][2], int r, const uint8_t qh4[4]) {
    uint32_t qh;
    memcpy(&qh, qh4, sizeof qh);
    for (int g = 0; g < 4; g++) {
        m[g][0] |= (uint64_t)(qh >> (4 * g) & 0xF) << (4 * r);
        m[g][1] |= (uint64_t)(qh >> (16 + 4 * g) & 0xF) << (4 * r);
    }
}

static void unpack_qh32(const uint64_t m[4][2], int r, uint8_t qh4[4]) {
    uint32_t qh = 0;
    for (int g = 0; g < 4; g++) {
        qh |= (uint32_t)(m[g][0] >> (4 * r) & 0xF) << (4 * g);
        qh |= (uint32_t)(m[g][1] >> (4 * r) & 0xF) << (16 + 4 * g);
    }
    memcpy(qh4, &qh, sizeof qh);
}

/* A K-quant's high-bit bytes hb[32] (element e: byte e % 32, bit e / 32,
 * as Q3_K's hmask and Q5_K's qh) of row r: bit 4r + e of mask [c][k] is
 * the bit of element 32k + 4c + e (c = chunk of 4 bytes, k = bit). */
static void pack_hbits(uint64_t m[8][8], int r, const uint8_t hb[32]) {
    for (int c = 0; c < 8; c++)
        for (int k = 0; k < 8; k++)
            for (int e = 0; e < 4; e++)
                m[c][k] |= (uint64_t)(hb[4 * c + e] >> k & 1) << (4 * r + e);
}

static void unpack_hbits(const uint64_t m[8][8], int r, uint8_t hb[32]) {
    memset(hb, 0, 32);
    for (int c = 0; c < 8; c++)
        for (int k = 0; k < 8; k++)
            for (int e = 0; e < 4; e++)
                hb[4 * c + e] |= (uint8_t)((m[c][k] >> (4 * r + e) & 1) << k);
}

/* Q4_K / Q5_K's 6-bit scales and mins of row r decoded to bytes (as
 * quant_k.c's k4_get). */
static void pack_k4_scales(uint8_t sc[8][TS_RP_ROWS], uint8_t mn[8][TS_RP_ROWS], int r,
                           const uint8_t s[12]) {
    for (int j = 0; j < 8; j++) {
        sc[j][r] = (uint8_t)(j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4);
        mn[j][r] = (uint8_t)(j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/* The inverse of pack_k4_scales (of k4_get): low 6 bits of sub-blocks
 * 0..3 in bytes 0..7, sub-blocks 4..7 in bytes 8..11's nibbles plus the
 * top bits of bytes 0..7. */
static void unpack_k4_scales(const uint8_t sc[8][TS_RP_ROWS], const uint8_t mn[8][TS_RP_ROWS],
                             int r, uint8_t s[12]) {
    for (int j = 0; j < 4; j++) {
        const int s0 = sc[j][r], m0 = mn[j][r], s4 = sc[j + 4][r], m4 = mn[j + 4][r];
        s[j] = (uint8_t)(s0 | (s4 >> 4) << 6);
        s[j + 4] = (uint8_t)(m0 | (m4 >> 4) << 6);
        s[j + 8] = (uint8_t)((s4 & 0xF) | (m4 & 0xF) << 4);
    }
}

/* ============================================================== layouts */

/* Each type: pack (block b of 16 rows x[r] → one packed block) and unpack
 * (row r of a packed block → the file's block), exact inverses. */

static void pack_q4_0(const void *const *vx, void *vy) { /* and IQ4_NL */
    const block_q4_0 *const *x = (const block_q4_0 *const *)vx;
    rp_q4_0 *y = vy;
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        pack_nibbles(y->qs, r, x[r]->qs);
    }
}

static void unpack_q4_0(const void *vy, int r, void *vx) {
    const rp_q4_0 *y = vy;
    block_q4_0 *x = vx;
    x->d = y->d[r];
    unpack_nibbles(y->qs, r, x->qs);
}

static void pack_q4_1(const void *const *vx, void *vy) {
    const block_q4_1 *const *x = (const block_q4_1 *const *)vx;
    rp_q4_1 *y = vy;
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->m[r] = x[r]->m;
        pack_nibbles(y->qs, r, x[r]->qs);
    }
}

static void unpack_q4_1(const void *vy, int r, void *vx) {
    const rp_q4_1 *y = vy;
    block_q4_1 *x = vx;
    x->d = y->d[r], x->m = y->m[r];
    unpack_nibbles(y->qs, r, x->qs);
}

static void pack_q5_0(const void *const *vx, void *vy) {
    const block_q5_0 *const *x = (const block_q5_0 *const *)vx;
    rp_q5_0 *y = vy;
    memset(y->qh, 0, sizeof y->qh);
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        pack_nibbles(y->qs, r, x[r]->qs);
        pack_qh32(y->qh, r, x[r]->qh);
    }
}

static void unpack_q5_0(const void *vy, int r, void *vx) {
    const rp_q5_0 *y = vy;
    block_q5_0 *x = vx;
    x->d = y->d[r];
    unpack_nibbles(y->qs, r, x->qs);
    unpack_qh32(y->qh, r, x->qh);
}

static void pack_q5_1(const void *const *vx, void *vy) {
    const block_q5_1 *const *x = (const block_q5_1 *const *)vx;
    rp_q5_1 *y = vy;
    memset(y->qh, 0, sizeof y->qh);
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->m[r] = x[r]->m;
        pack_nibbles(y->qs, r, x[r]->qs);
        pack_qh32(y->qh, r, x[r]->qh);
    }
}

static void unpack_q5_1(const void *vy, int r, void *vx) {
    const rp_q5_1 *y = vy;
    block_q5_1 *x = vx;
    x->d = y->d[r], x->m = y->m[r];
    unpack_nibbles(y->qs, r, x->qs);
    unpack_qh32(y->qh, r, x->qh);
}

static void pack_q8_0(const void *const *vx, void *vy) {
    const block_q8_0 *const *x = (const block_q8_0 *const *)vx;
    rp_q8_0 *y = vy;
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d;
        for (int g = 0; g < 8; g++)
            for (int e = 0; e < 4; e++) y->qs[g][r][e] = (uint8_t)(x[r]->qs[4 * g + e] + 128);
    }
}

static void unpack_q8_0(const void *vy, int r, void *vx) {
    const rp_q8_0 *y = vy;
    block_q8_0 *x = vx;
    x->d = y->d[r];
    for (int g = 0; g < 8; g++)
        for (int e = 0; e < 4; e++) x->qs[4 * g + e] = (int8_t)(y->qs[g][r][e] - 128);
}

static void pack_q2_K(const void *const *vx, void *vy) {
    const block_q2_K *const *x = (const block_q2_K *const *)vx;
    rp_q2_K *y = vy;
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->dmin[r] = x[r]->dmin;
        for (int j = 0; j < 16; j++) y->sc[j][r] = x[r]->scales[j];
        for (int c = 0; c < 16; c++) memcpy(y->qs[c][r], x[r]->qs + 4 * c, 4);
    }
}

static void unpack_q2_K(const void *vy, int r, void *vx) {
    const rp_q2_K *y = vy;
    block_q2_K *x = vx;
    x->d = y->d[r], x->dmin = y->dmin[r];
    for (int j = 0; j < 16; j++) x->scales[j] = y->sc[j][r];
    for (int c = 0; c < 16; c++) memcpy(x->qs + 4 * c, y->qs[c][r], 4);
}

/* Q3_K: the 6-bit scales decoded (as quant_k.c's q3_scale, − 32), the 2
 * low bits as Q2_K's, hmask as masks: hm[8h + c][k] holds element 128h +
 * 32k + 4c + e's bit (it lives in bit 4h + k of byte 4c + e). */
static void pack_q3_K(const void *const *vx, void *vy) {
    const block_q3_K *const *x = (const block_q3_K *const *)vx;
    rp_q3_K *y = vy;
    memset(y->hm, 0, sizeof y->hm);
    for (int r = 0; r < TS_RP_ROWS; r++) {
        const uint8_t *s = x[r]->scales;
        y->d[r] = x[r]->d;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            y->sc[j][r] = (int8_t)((lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32);
        }
        uint64_t m[8][8] = {{0}};
        pack_hbits(m, r, x[r]->hmask);
        for (int h = 0; h < 2; h++)
            for (int c = 0; c < 8; c++)
                for (int k = 0; k < 4; k++) y->hm[8 * h + c][k] |= m[c][4 * h + k];
        for (int c = 0; c < 16; c++) memcpy(y->qs[c][r], x[r]->qs + 4 * c, 4);
    }
}

static void unpack_q3_K(const void *vy, int r, void *vx) {
    const rp_q3_K *y = vy;
    block_q3_K *x = vx;
    x->d = y->d[r];
    memset(x->scales, 0, sizeof x->scales);
    for (int j = 0; j < 16; j++) {
        const int l = y->sc[j][r] + 32;
        x->scales[j % 8] |= (uint8_t)((l & 0xF) << (4 * (j / 8)));
        x->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
    uint64_t m[8][8];
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 8; c++)
            for (int k = 0; k < 4; k++) m[c][4 * h + k] = y->hm[8 * h + c][k];
    unpack_hbits(m, r, x->hmask);
    for (int c = 0; c < 16; c++) memcpy(x->qs + 4 * c, y->qs[c][r], 4);
}

/* Q4_K: chunk (p, g) holds bytes 32p + 4g..+3 of each row's qs. */
static void pack_q4_K(const void *const *vx, void *vy) {
    const block_q4_K *const *x = (const block_q4_K *const *)vx;
    rp_q4_K *y = vy;
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->dmin[r] = x[r]->dmin;
        pack_k4_scales(y->sc, y->mn, r, x[r]->scales);
        for (int p = 0; p < 4; p++)
            for (int g = 0; g < 8; g++) memcpy(y->qs[p][g][r], x[r]->qs + 32 * p + 4 * g, 4);
    }
}

static void unpack_q4_K(const void *vy, int r, void *vx) {
    const rp_q4_K *y = vy;
    block_q4_K *x = vx;
    x->d = y->d[r], x->dmin = y->dmin[r];
    unpack_k4_scales(y->sc, y->mn, r, x->scales);
    for (int p = 0; p < 4; p++)
        for (int g = 0; g < 8; g++) memcpy(x->qs + 32 * p + 4 * g, y->qs[p][g][r], 4);
}

/* Q5_K: Q4_K's, and qh as masks: qh[p][g][s] holds element 64p + 32s +
 * 4g + e's fifth bit (it lives in bit 2p + s of byte 4g + e). */
static void pack_q5_K(const void *const *vx, void *vy) {
    const block_q5_K *const *x = (const block_q5_K *const *)vx;
    rp_q5_K *y = vy;
    memset(y->qh, 0, sizeof y->qh);
    for (int r = 0; r < TS_RP_ROWS; r++) {
        y->d[r] = x[r]->d, y->dmin[r] = x[r]->dmin;
        pack_k4_scales(y->sc, y->mn, r, x[r]->scales);
        for (int p = 0; p < 4; p++)
            for (int g = 0; g < 8; g++) memcpy(y->qs[p][g][r], x[r]->qs + 32 * p + 4 * g, 4);
        uint64_t m[8][8] = {{0}};
        pack_hbits(m, r, x[r]->qh);
        for (int p = 0; p < 4; p++)
            for (int g = 0; g < 8; g++)
                for (int s = 0; s < 2; s++) y->qh[p][g][s] |= m[g][2 * p + s];
    }
}

static void unpack_q5_K(const void *vy, int r, void *vx) {
    const rp_q5_K *y = vy;
    block_q5_K *x = vx;
    x->d = y->d[r], x->dmin = y->dmin[r];
    unpack_k4_scales(y->sc, y->mn, r, x->scales);
    for (int p = 0; p < 4; p++)
        for (int g = 0; g < 8; g++) memcpy(x->qs + 32 * p + 4 * g, y->qs[p][g][r], 4);
    uint64_t m[8][8];
    for (int p = 0; p < 4; p++)
        for (int g = 0; g < 8; g++)
            for (int s = 0; s < 2; s++) m[g][2 * p + s] = y->qh[p][g][s];
    unpack_hbits(m, r, x->qh);
}

/* Q6_K: each quant as q + 32 in a byte (element 32k + l of half h: its
 * nibble in ql[64h + 32(k & 1) + l] >> 4(k >> 1), its top bits in
 * qh[32h + l] >> 2k, as quant_k.c's unpack_q6_K). */
static void pack_q6_K(const void *const *vx, void *vy) {
    const block_q6_K *const *x = (const block_q6_K *const *)vx;
    rp_q6_K *y = vy;
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

static void unpack_q6_K(const void *vy, int r, void *vx) {
    const rp_q6_K *y = vy;
    block_q6_K *x = vx;
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

typedef struct layout {
    size_t size; /* bytes of one packed block of 16 rows; 0: no layout */
    void (*pack)(const void *const *x, void *y);
    void (*unpack)(const void *y, int r, void *x);
} layout;

#define L(t) {sizeof(rp_##t), pack_##t, unpack_##t}
static const layout layouts[TS_TYPE_COUNT] = {
    [TS_TYPE_Q4_0] = L(q4_0), [TS_TYPE_IQ4_NL] = L(q4_0), [TS_TYPE_Q4_1] = L(q4_1),
    [TS_TYPE_Q5_0] = L(q5_0), [TS_TYPE_Q5_1] = L(q5_1),   [TS_TYPE_Q8_0] = L(q8_0),
    [TS_TYPE_Q2_K] = L(q2_K), [TS_TYPE_Q3_K] = L(q3_K),   [TS_TYPE_Q4_K] = L(q4_K),
    [TS_TYPE_Q5_K] = L(q5_K), [TS_TYPE_Q6_K] = L(q6_K),
};
#undef L

static const layout *layout_of(ts_type type) {
    TS_ASSERT((unsigned)type < TS_TYPE_COUNT);
    return &layouts[type];
}

size_t ts_cpu_repack_size(ts_type type, int64_t K, int64_t m) {
    const size_t groups = (size_t)((m + TS_RP_ROWS - 1) / TS_RP_ROWS);
    return groups * (size_t)(K / ts_type_get(type)->block_size) * layout_of(type)->size;
}

void ts_cpu_repack(ts_type type, const void *w, size_t rs, int64_t K, int64_t m, int64_t g0,
                   int64_t g1, void *out) {
    const size_t bsz = ts_type_get(type)->type_size;
    const int64_t nb = K / ts_type_get(type)->block_size;
    uint8_t zero[256] = {0}; /* a padding row's block: all scales and quants 0 */
    TS_ASSERT(bsz <= sizeof zero);
    const layout *lay = layout_of(type);
    TS_ASSERT(lay->pack);
    for (int64_t G = g0; G < g1; G++)
        for (int64_t b = 0; b < nb; b++) {
            const void *x[TS_RP_ROWS];
            for (int r = 0; r < TS_RP_ROWS; r++) {
                const int64_t i = G * TS_RP_ROWS + r;
                x[r] = i < m ? (const uint8_t *)w + (size_t)i * rs + (size_t)b * bsz : zero;
            }
            lay->pack(x, (uint8_t *)out + ((size_t)G * (size_t)nb + (size_t)b) * lay->size);
        }
}

/* ============================================== one row back, for GET_ROWS */

void ts_cpu_unpack_row(ts_type type, const void *packed, int64_t K, int64_t i, void *out) {
    const int64_t nb = K / ts_type_get(type)->block_size;
    const layout *lay = layout_of(type);
    const size_t bsz = ts_type_get(type)->type_size;
    const uint8_t *group =
        (const uint8_t *)packed + (size_t)(i / TS_RP_ROWS) * (size_t)nb * lay->size;
    for (int64_t b = 0; b < nb; b++)
        lay->unpack(group + (size_t)b * lay->size, (int)(i % TS_RP_ROWS),
                    (uint8_t *)out + (size_t)b * bsz);
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
