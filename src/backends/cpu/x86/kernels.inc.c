/*
 * kernels.inc.c — the x86 kernels of a CPU path, included by avx2.c
 * (X86_AVX512 0) and avx512.c (X86_AVX512 1: integer block dots with
 * vpdpbusd, 16-lane vectors for the repacked layouts). Each computes
 * bitwise what the scalar path computes (docs/ARCHITECTURE.md, "Reduction
 * order"):
 *
 *  - repacked weights of every quantized type (Q4_0, Q4_1, Q5_0, Q5_1,
 *    Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; repack.c's 16-row
 *    layouts): one row per 32-bit lane; broadcast activation bytes times 4
 *    bytes of every row give each lane its row's exact integer block (and
 *    sub-block) sums; the lane applies its row's float formula in the
 *    reference's order and adds the block to its accumulator, block after
 *    block, as the scalar loop. A block's weights are read once for every
 *    token of the call (matmul.c passes at most TILE_TOKENS tokens).
 *    Quants are made unsigned for vpdpbusd / maddubs by an offset whose
 *    share is subtracted from the exact sum (Q4_0's −8, Q5_0's −16, Q3_K's
 *    −4, Q6_K's −32: from the activations' sums; Q8_0's and IQ4_NL's +128
 *    on AVX-512), or kept signed with |w| × (y with w's sign) on AVX2.
 *  - F16, BF16, F32 dots: the TS_LANES = 32 partial sums are four 8-lane
 *    registers (element i in lane i mod 32), folded in the contract's tree.
 *  - vector primitives (mad, softmax with an 8-lane ts_expf, silu_mul)
 *    and activation converters (Q8_0, Q8_1, Q8_K) that give the
 *    reference's bytes;
 *  - fused attention, one query per lane (attend.inc.c, attend-common.inc.c).
 *
 * Legend: r = row of a group, j = token, b = block of the row, nb =
 * blocks per row, g = 4-byte chunk of a block, h = lane set (AVX2: rows
 * 8h..8h + 7 of the group), k = sub-block (or 2-bit field), p = 64-element
 * part of a K-quant super-block.
 */
#include "backends/cpu/cpu-impl.h"
#include "core/fmath-impl.h"
#include "core/quant-impl.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define MAX_TOK 64 /* tokens per call (matmul.c's TILE_TOKENS) */

/* ============================================================== helpers */

static inline float half(const void *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

/* ========================================================= float types */

/* The contract's fold of 32 partials held as 4 × 8 lanes (lanes 0-7, 8-15,
 * 16-23, 24-31): w = 16, 8 as vector adds, then 4, 2, 1 inside one. */
static inline float fold32(const __m256 p[4]) {
    const __m256 v = _mm256_add_ps(_mm256_add_ps(p[0], p[2]), _mm256_add_ps(p[1], p[3]));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The fold when terms t0.. past the vectors went to tail[t − t0] (t0 a
 * multiple of 32): partial l = vector lane l, then + its tail term. */
static inline float fold32_tail(const __m256 v[4], const float tail[TS_LANES]) {
    float p[TS_LANES];
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(p + 8 * k, v[k]);
    for (int l = 0; l < TS_LANES; l++) p[l] += tail[l];
    return ts_lanes_sum(p);
}

static inline __m256 load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Σ x·y over the contract's lanes, for F16 (products exact) and F32. */
#define FLOAT_DOT(name, T, LOAD8, TO32)                                                            \
    static float name(const T *x, const T *y, int64_t n) {                                         \
        const int64_t n32 = n - n % TS_LANES;                                                      \
        __m256 v[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),              \
                       _mm256_setzero_ps()};                                                       \
        for (int64_t e = 0; e < n32; e += TS_LANES)                                                \
            for (int k = 0; k < 4; k++)                                                            \
                v[k] = _mm256_add_ps(v[k],                                                         \
                                     _mm256_mul_ps(LOAD8(x + e + 8 * k), LOAD8(y + e + 8 * k)));   \
        if (n32 == n) return fold32(v);                                                            \
        float tail[TS_LANES] = {0};                                                                \
        for (int64_t e = n32; e < n; e++) tail[e - n32] = TO32(x[e]) * TO32(y[e]);                 \
        return fold32_tail(v, tail);                                                               \
    }

/* bfloat16 is the top half of a float. */
static inline __m256 load8_bf16(const uint16_t *p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

FLOAT_DOT(dot_f16, uint16_t, load8_f16, _cvtsh_ss)
FLOAT_DOT(dot_bf16, uint16_t, load8_bf16, ts_bf16_to_fp32)
FLOAT_DOT(dot_f32, float, _mm256_loadu_ps, )

/* acc[i] = acc[i] + v[i]·p. */
#define MAD(name, T, LOAD8, TO32)                                                                  \
    static void name(float *acc, const T *v, float p, int64_t n) {                                 \
        const __m256 pv = _mm256_set1_ps(p);                                                       \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i),                      \
                                                    _mm256_mul_ps(LOAD8(v + i), pv)));             \
        for (; i < n; i++) acc[i] += TO32(v[i]) * p;                                               \
    }

MAD(mad_f16, uint16_t, load8_f16, _cvtsh_ss)
MAD(mad_f32, float, _mm256_loadu_ps, )

/* ts_expf on 8 lanes, the same operations in the same order. */
static inline __m256 exp8(__m256 x) {
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(TS_EXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r =
        _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(TS_EXP_LN2_HI))),
                      _mm256_mul_ps(n, _mm256_set1_ps(TS_EXP_LN2_LO)));
    __m256 p = _mm256_set1_ps(TS_EXP_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(TS_EXP_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(TS_EXP_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(TS_EXP_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(TS_EXP_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(TS_EXP_P5));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r),
                      _mm256_set1_ps(1.0f));
    /* out of range, n does not fit the exponent: those lanes are replaced */
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    e = _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY),
                         _mm256_cmp_ps(x, _mm256_set1_ps(TS_EXP_HI), _CMP_GT_OQ));
    e = _mm256_blendv_ps(e, _mm256_setzero_ps(),
                         _mm256_cmp_ps(x, _mm256_set1_ps(TS_EXP_LO), _CMP_LT_OQ));
    return _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* As ts_cpu_softmax: scale and max, e_t and its partial sums (4 × 8 lanes
 * over each 32 terms, the tail in the scalar order), then · (1/S). */
static void softmax(float *p, int64_t n, float scale) {
    const __m256 sv = _mm256_set1_ps(scale);
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(p + t), sv);
        _mm256_storeu_ps(p + t, v);
        mv = _mm256_max_ps(mv, v);
    }
    float m8[8], max = -INFINITY;
    _mm256_storeu_ps(m8, mv);
    for (int l = 0; l < 8; l++) max = max > m8[l] ? max : m8[l];
    for (; t < n; t++) {
        p[t] *= scale;
        max = max > p[t] ? max : p[t];
    }
    const __m256 maxv = _mm256_set1_ps(max);
    const int64_t n32 = n - n % TS_LANES;
    __m256 v[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    for (t = 0; t < n32; t += TS_LANES)
        for (int k = 0; k < 4; k++) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + t + 8 * k), maxv));
            _mm256_storeu_ps(p + t + 8 * k, e);
            v[k] = _mm256_add_ps(v[k], e);
        }
    float tail[TS_LANES] = {0};
    for (t = n32; t < n; t++) tail[t - n32] = p[t] = ts_expf(p[t] - max);
    const __m256 inv = _mm256_set1_ps(1.0f / fold32_tail(v, tail));
    for (t = 0; t + 8 <= n; t += 8)
        _mm256_storeu_ps(p + t, _mm256_mul_ps(_mm256_loadu_ps(p + t), inv));
    for (; t < n; t++) p[t] *= _mm256_cvtss_f32(inv);
}

static void silu_mul(float *y, const float *x, const float *g, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 e = exp8(_mm256_xor_ps(xv, _mm256_set1_ps(-0.0f))); /* −x */
        const __m256 s = _mm256_div_ps(xv, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(g + i)));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + ts_expf(-x[i])) * g[i];
}

/* ====================================================== repacked layouts */

/* Row-per-lane kernels on repack.c's layouts: a lane vector holds RP_LANES
 * rows of a 16-row group (AVX-512: all 16; AVX2: 8, the group in two
 * halves). Per block, chunk g of 4 bytes per row times the 4 activation
 * bytes it pairs with, broadcast, accumulates each row's integer block sum
 * in its lane; the lane then applies its row's float formula and adds the
 * block to its accumulator, exactly as the reference's loop. */
#if X86_AVX512
#define RP_LANES 16
typedef __m512i rp_vi;
typedef __m512 rp_vf;
static inline rp_vi rp_load(const void *p) { return _mm512_loadu_si512(p); }
static inline rp_vi rp_set8(int v) { return _mm512_set1_epi8((char)v); }
static inline rp_vi rp_and(rp_vi a, rp_vi b) { return _mm512_and_si512(a, b); }
static inline rp_vi rp_srl4(rp_vi a) { return _mm512_srli_epi16(a, 4); }
static inline rp_vi rp_zero_i(void) { return _mm512_setzero_si512(); }
static inline rp_vi rp_add_i(rp_vi a, rp_vi b) { return _mm512_add_epi32(a, b); }
static inline rp_vi rp_sub_i(rp_vi a, rp_vi b) { return _mm512_sub_epi32(a, b); }
static inline rp_vi rp_set32(int32_t v) { return _mm512_set1_epi32(v); }
/* acc + Σ over each 4 bytes of w (u8, <= 255) × y (s8) */
static inline rp_vi rp_dot(rp_vi acc, rp_vi w, rp_vi y) { return _mm512_dpbusd_epi32(acc, w, y); }
/* bytes of w or `bit` where bit i of mask is set: byte i is row i / 4's
 * (a high bit of Q5_0, Q5_1, Q3_K, Q5_K; h, the lane set, is always 0) */
static inline rp_vi rp_bits(rp_vi w, uint64_t mask, int h, int bit) {
    (void)h;
    return _mm512_mask_blend_epi8(mask, w, _mm512_or_si512(w, rp_set8(bit)));
}
/* byte i → table[byte i] (each byte 0..15) */
static inline rp_vi rp_lut16(const int8_t table[16], rp_vi idx) {
    return _mm512_shuffle_epi8(
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)table)), idx);
}
static inline rp_vi rp_xor(rp_vi a, rp_vi b) { return _mm512_xor_si512(a, b); }
static inline rp_vf rp_halves(const uint16_t *h) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)h));
}
static inline rp_vf rp_cvt(rp_vi a) { return _mm512_cvtepi32_ps(a); }
static inline rp_vf rp_set1(float v) { return _mm512_set1_ps(v); }
static inline rp_vf rp_zero_f(void) { return _mm512_setzero_ps(); }
static inline rp_vf rp_mul(rp_vf a, rp_vf b) { return _mm512_mul_ps(a, b); }
static inline rp_vf rp_add(rp_vf a, rp_vf b) { return _mm512_add_ps(a, b); }
static inline rp_vf rp_sub(rp_vf a, rp_vf b) { return _mm512_sub_ps(a, b); }
static inline void rp_store(float *p, rp_vf v) { _mm512_storeu_ps(p, v); }
static inline rp_vi rp_mullo(rp_vi a, rp_vi b) { return _mm512_mullo_epi32(a, b); }
static inline rp_vi rp_srl16(rp_vi a, int n) { return _mm512_srl_epi16(a, _mm_cvtsi32_si128(n)); }
static inline rp_vi rp_srl32(rp_vi a, int n) { return _mm512_srl_epi32(a, _mm_cvtsi32_si128(n)); }
/* RP_LANES bytes, zero- or sign-extended to int32 lanes */
static inline rp_vi rp_u8_i32(const void *p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}
static inline rp_vi rp_i8_i32(const void *p) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p));
}
#else
#define RP_LANES 8
typedef __m256i rp_vi;
typedef __m256 rp_vf;
static inline rp_vi rp_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline rp_vi rp_set8(int v) { return _mm256_set1_epi8((char)v); }
static inline rp_vi rp_and(rp_vi a, rp_vi b) { return _mm256_and_si256(a, b); }
static inline rp_vi rp_srl4(rp_vi a) { return _mm256_srli_epi16(a, 4); }
static inline rp_vi rp_zero_i(void) { return _mm256_setzero_si256(); }
static inline rp_vi rp_add_i(rp_vi a, rp_vi b) { return _mm256_add_epi32(a, b); }
static inline rp_vi rp_sub_i(rp_vi a, rp_vi b) { return _mm256_sub_epi32(a, b); }
static inline rp_vi rp_set32(int32_t v) { return _mm256_set1_epi32(v); }
/* w <= 128 here (maddubs saturates beyond): the unsigned quants are at
 * most 63 (Q6_K's q + 32); Q8_0 and IQ4_NL take dot_ss instead */
static inline rp_vi rp_dot(rp_vi acc, rp_vi w, rp_vi y) {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), _mm256_set1_epi16(1)));
}
/* Byte j = 0xFF where bit j of x is set. */
static inline __m256i bits32(uint32_t x) {
    const __m256i shuf =
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe); /* all bits but j % 8 */
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, others), _mm256_set1_epi64x(-1));
}

/* the mask's 32 bits of lane set h: rows 8h..8h + 7 */
static inline rp_vi rp_bits(rp_vi w, uint64_t mask, int h, int bit) {
    return _mm256_or_si256(w, _mm256_and_si256(bits32((uint32_t)(mask >> (32 * h))), rp_set8(bit)));
}
static inline rp_vi rp_lut16(const int8_t table[16], rp_vi idx) {
    return _mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)table)), idx);
}
static inline rp_vi rp_xor(rp_vi a, rp_vi b) { return _mm256_xor_si256(a, b); }
static inline rp_vf rp_halves(const uint16_t *h) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h));
}
static inline rp_vf rp_cvt(rp_vi a) { return _mm256_cvtepi32_ps(a); }
static inline rp_vf rp_set1(float v) { return _mm256_set1_ps(v); }
static inline rp_vf rp_zero_f(void) { return _mm256_setzero_ps(); }
static inline rp_vf rp_mul(rp_vf a, rp_vf b) { return _mm256_mul_ps(a, b); }
static inline rp_vf rp_add(rp_vf a, rp_vf b) { return _mm256_add_ps(a, b); }
static inline rp_vf rp_sub(rp_vf a, rp_vf b) { return _mm256_sub_ps(a, b); }
static inline void rp_store(float *p, rp_vf v) { _mm256_storeu_ps(p, v); }
static inline rp_vi rp_mullo(rp_vi a, rp_vi b) { return _mm256_mullo_epi32(a, b); }
static inline rp_vi rp_srl16(rp_vi a, int n) { return _mm256_srl_epi16(a, _mm_cvtsi32_si128(n)); }
static inline rp_vi rp_srl32(rp_vi a, int n) { return _mm256_srl_epi32(a, _mm_cvtsi32_si128(n)); }
static inline rp_vi rp_u8_i32(const void *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
static inline rp_vi rp_i8_i32(const void *p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
#endif

/* Bytes read ahead of the block being computed: the layout is one linear
 * stream per call, and asking for it well ahead of the hardware prefetcher
 * keeps more lines in flight. */
#define RP_AHEAD_BYTES 32768

static inline void rp_prefetch(const void *p, size_t n) {
    for (size_t off = 0; off < n; off += 64) _mm_prefetch((const char *)p + off, _MM_HINT_T0);
}

/* 4 activation bytes, broadcast to every lane. */
static inline rp_vi rp_bcast(const int8_t *y) {
    int32_t v;
    memcpy(&v, y, sizeof v);
    return rp_set32(v);
}

/* Σ of a block's 32 activation quants. */
static inline int32_t ysum32(const int8_t *qs) {
    const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)qs),
                                       _mm256_set1_epi8((char)0x80)); /* q + 128 */
    const __m256i s = _mm256_sad_epu8(u, _mm256_setzero_si256());
    const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int32_t)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
}

#include "backends/cpu/kernels-common.inc.c"

FLOAT_GEMM(gemm_f16, uint16_t, dot_f16)
FLOAT_GEMM(gemm_bf16, uint16_t, dot_bf16)
FLOAT_GEMM(gemm_f32, float, dot_f32)


/* Chunks g < 4 pair with activation bytes 4g (low nibbles) and 16 + 4g
 * (high nibbles): q[g] and q[g + 4]. */
#define RP_NIBBLES                                                                                 \
    rp_vi q[8];                                                                                    \
    for (int g = 0; g < 4; g++) {                                                                  \
        const rp_vi c = rp_load(&blk->qs[g][r0]);                                                  \
        q[g] = rp_and(c, rp_set8(0x0F));                                                           \
        q[g + 4] = rp_and(rp_srl4(c), rp_set8(0x0F));                                              \
    }
#define RP_ISUM_NIBBLES                                                                            \
    for (int g = 0; g < 4; g++) {                                                                  \
        i0 = rp_dot(i0, q[g], rp_bcast(y->qs + 4 * g));                                            \
        i1 = rp_dot(i1, q[g + 4], rp_bcast(y->qs + 16 + 4 * g));                                   \
    }

/* Q4_0 × Q8_0: (sumi·dx)·dy with sumi = Σ q·y − 8·Σ y, q = nibble. */
// clang-format off
RP_GEMM(gemm_rp_q4_0, rp_q4_0, block_q8_0, 32,
        RP_NIBBLES
        const rp_vf dx = rp_halves(blk->d + r0);,
        RP_ISUM_NIBBLES
        i0 = rp_sub_i(i0, rp_set32(8 * ysum32(y->qs)));,
        acc[j] = rp_add(acc[j], rp_mul(rp_mul(sumi, dx), rp_set1(half(&y->d))));)
// clang-format on

/* A block × Q8_1: ((dx·dy)·sumi + m·s). */
#define RP_BLOCK_Q8_1                                                                              \
    const rp_vf e =                                                                                \
        rp_add(rp_mul(rp_mul(dx, rp_set1(half(&y->d))), sumi), rp_mul(mx, rp_set1(half(&y->s))));  \
    acc[j] = rp_add(acc[j], e);

/* Q4_1 × Q8_1, q = nibble. */
// clang-format off
RP_GEMM(gemm_rp_q4_1, rp_q4_1, block_q8_1, 32,
        RP_NIBBLES
        const rp_vf dx = rp_halves(blk->d + r0);
        const rp_vf mx = rp_halves(blk->m + r0);,
        RP_ISUM_NIBBLES,
        RP_BLOCK_Q8_1)
// clang-format on

/* The fifth bits of Q5_0 and Q5_1: q = nibble + 16·bit. */
#define RP_Q5_BITS                                                                                 \
    for (int g = 0; g < 4; g++) {                                                                  \
        q[g] = rp_bits(q[g], blk->qh[g][0], h, 0x10);                                              \
        q[g + 4] = rp_bits(q[g + 4], blk->qh[g][1], h, 0x10);                                      \
    }

/* Q5_0 × Q8_0: (dx·dy)·sumi with sumi = Σ q·y − 16·Σ y. */
// clang-format off
RP_GEMM(gemm_rp_q5_0, rp_q5_0, block_q8_0, 32,
        RP_NIBBLES
        RP_Q5_BITS
        const rp_vf dx = rp_halves(blk->d + r0);,
        RP_ISUM_NIBBLES
        i0 = rp_sub_i(i0, rp_set32(16 * ysum32(y->qs)));,
        acc[j] = rp_add(acc[j], rp_mul(rp_mul(dx, rp_set1(half(&y->d))), sumi));)
// clang-format on

/* Q5_1 × Q8_1. */
// clang-format off
RP_GEMM(gemm_rp_q5_1, rp_q5_1, block_q8_1, 32,
        RP_NIBBLES
        RP_Q5_BITS
        const rp_vf dx = rp_halves(blk->d + r0);
        const rp_vf mx = rp_halves(blk->m + r0);,
        RP_ISUM_NIBBLES,
        RP_BLOCK_Q8_1)
// clang-format on

/* Signed weight bytes q[g] (g < 8, paired with activation bytes 4g) ×
 * Q8_0: AVX-512 takes them + 128 (RP_S8_BIAS), unsigned, and subtracts
 * 128·Σ y; AVX2 keeps them signed and multiplies |w| by y with w's sign
 * (maddubs would saturate on 255·127). */
#if X86_AVX512
#define RP_S8_BIAS 0x80
#define RP_S8_ISUM                                                                                 \
    for (int g = 0; g < 8; g += 2) {                                                               \
        i0 = rp_dot(i0, q[g], rp_bcast(y->qs + 4 * g));                                            \
        i1 = rp_dot(i1, q[g + 1], rp_bcast(y->qs + 4 * g + 4));                                    \
    }                                                                                              \
    i0 = rp_sub_i(i0, rp_set32(128 * ysum32(y->qs)));
#else
#define RP_S8_BIAS 0
/* Σ s8 × s8 over each 4 bytes, as |a| × (b with a's sign): exact, since
 * |a| <= 128 and |b| <= 127 keep maddubs' pair sums within int16. */
static inline __m256i dot_ss(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)),
                             _mm256_set1_epi16(1));
}
#define RP_S8_ISUM                                                                                 \
    for (int g = 0; g < 8; g += 2) {                                                               \
        i0 = _mm256_add_epi32(i0, dot_ss(q[g], rp_bcast(y->qs + 4 * g)));                          \
        i1 = _mm256_add_epi32(i1, dot_ss(q[g + 1], rp_bcast(y->qs + 4 * g + 4)));                  \
    }
#endif

/* Q8_0 × Q8_0: (dx·dy)·sumi; the weights are stored + 128. */
// clang-format off
RP_GEMM(gemm_rp_q8_0, rp_q8_0, block_q8_0, 32,
        rp_vi q[8];
        for (int g = 0; g < 8; g++)
            q[g] = rp_xor(rp_load(&blk->qs[g][r0]), rp_set8(0x80 ^ RP_S8_BIAS));
        const rp_vf dx = rp_halves(blk->d + r0);,
        RP_S8_ISUM,
        acc[j] = rp_add(acc[j], rp_mul(rp_mul(dx, rp_set1(half(&y->d))), sumi));)
// clang-format on

/* IQ4_NL × Q8_0: (dx·dy)·sumi, sumi = Σ level[q]·y; the nibbles of
 * RP_NIBBLES (q[g + 4] pairs with bytes 16 + 4g = 4(g + 4)) looked up in
 * the levels table (+ RP_S8_BIAS). */
// clang-format off
RP_GEMM(gemm_rp_iq4_nl, rp_q4_0, block_q8_0, 32,
        int8_t lv[16];
        for (int l = 0; l < 16; l++) lv[l] = (int8_t)(ts_iq4nl_levels[l] ^ RP_S8_BIAS);
        RP_NIBBLES
        for (int g = 0; g < 8; g++) q[g] = rp_lut16(lv, q[g]);
        const rp_vf dx = rp_halves(blk->d + r0);,
        RP_S8_ISUM,
        acc[j] = rp_add(acc[j], rp_mul(rp_mul(dx, rp_set1(half(&y->d))), sumi));)
// clang-format on

/* ------------------------------------------------------------ K-quants */

/* A super-block with scales only × Q8_K: (dx·dy)·isum. */
#define RP_BLOCK_K acc[j] = rp_add(acc[j], rp_mul(rp_mul(dx, rp_set1(y->d)), sumi));
/* With mins: d·isum − dmin·msum, d = dx·dy, dmin = dminx·dy. */
#define RP_BLOCK_KMIN                                                                              \
    const rp_vf dy = rp_set1(y->d);                                                                \
    const rp_vf e = rp_sub(rp_mul(rp_mul(dx, dy), sumi), rp_mul(rp_mul(mx, dy), rp_cvt(ms)));      \
    acc[j] = rp_add(acc[j], e);

/* Q2_K, Q3_K's 2-bit fields: chunk 8hh + g holds bytes 32hh + 4g..+3,
 * whose bits 2k..2k+1 are elements 128hh + 32k + 4g..+3 (sub-block 8hh +
 * 2k + g / 4). BITS may add to the field f; SC(j) gives sub-block j's
 * scale lanes. isum = Σ_j SC(j)·(Σ f·y over sub-block j). */
#define RP_2BIT_ISUM(BITS, SC)                                                                     \
    for (int hh = 0; hh < 2; hh++)                                                                 \
        for (int k = 0; k < 4; k++) {                                                              \
            rp_vi s[2] = {rp_zero_i(), rp_zero_i()};                                               \
            for (int g = 0; g < 8; g++) {                                                          \
                rp_vi f = rp_and(rp_srl16(rp_load(&blk->qs[8 * hh + g][r0]), 2 * k), rp_set8(3));  \
                BITS                                                                               \
                s[g / 4] = rp_dot(s[g / 4], f, rp_bcast(y->qs + 128 * hh + 32 * k + 4 * g));       \
            }                                                                                      \
            i0 = rp_add_i(i0, rp_mullo(s[0], SC(8 * hh + 2 * k)));                                 \
            i1 = rp_add_i(i1, rp_mullo(s[1], SC(8 * hh + 2 * k + 1)));                             \
        }

/* Q2_K × Q8_K: scale = the low nibble of sc, min = the high one; msum =
 * Σ_k min_k·bsums_k. */
#define RP_Q2_SC(j) rp_and(rp_u8_i32(blk->sc[j] + r0), rp_set32(15))
// clang-format off
RP_GEMM(gemm_rp_q2_K, rp_q2_K, block_q8_K, QK_K,
        const rp_vf dx = rp_halves(blk->d + r0);
        const rp_vf mx = rp_halves(blk->dmin + r0);,
        RP_2BIT_ISUM(, RP_Q2_SC)
        rp_vi ms = rp_zero_i();
        for (int k = 0; k < 16; k++)
            ms = rp_add_i(ms, rp_mullo(rp_srl32(rp_u8_i32(blk->sc[k] + r0), 4),
                                       rp_set32(y->bsums[k])));,
        RP_BLOCK_KMIN)
// clang-format on

/* Q3_K × Q8_K: f = q + 4 (the 2 low bits, + 4 where the high bit is set),
 * so isum = Σ_j sc_j·(Σ f·y) − 4·Σ_j sc_j·bsums_j. */
#define RP_Q3_BITS f = rp_bits(f, blk->hm[8 * hh + g][k], h, 0x04);
#define RP_Q3_SC(j) rp_i8_i32(blk->sc[j] + r0)
// clang-format off
RP_GEMM(gemm_rp_q3_K, rp_q3_K, block_q8_K, QK_K,
        const rp_vf dx = rp_halves(blk->d + r0);,
        RP_2BIT_ISUM(RP_Q3_BITS, RP_Q3_SC)
        for (int k = 0; k < 16; k++)
            i1 = rp_sub_i(i1, rp_mullo(RP_Q3_SC(k), rp_set32(4 * y->bsums[k])));,
        RP_BLOCK_K)
// clang-format on

/* Q4_K, Q5_K × Q8_K per super-block: isum = Σ_j sc_j·(Σ q·y over
 * sub-block j), msum = Σ_j m_j·(the two Q8_K sums of 16 of sub-block j).
 * Chunk (p, g): low nibbles l pair with activation bytes 64p + 4g, high
 * ones u with 64p + 32 + 4g; BITS may add Q5_K's fifth bits. */
#define RP_K4_ISUM(BITS)                                                                           \
    for (int p = 0; p < 4; p++) {                                                                  \
        rp_vi lo = rp_zero_i(), hi = rp_zero_i();                                                  \
        for (int g = 0; g < 8; g++) {                                                              \
            const rp_vi c = rp_load(&blk->qs[p][g][r0]);                                           \
            rp_vi l = rp_and(c, rp_set8(0x0F)), u = rp_and(rp_srl4(c), rp_set8(0x0F));             \
            BITS                                                                                   \
            lo = rp_dot(lo, l, rp_bcast(y->qs + 64 * p + 4 * g));                                  \
            hi = rp_dot(hi, u, rp_bcast(y->qs + 64 * p + 32 + 4 * g));                             \
        }                                                                                          \
        i0 = rp_add_i(i0, rp_mullo(lo, rp_u8_i32(blk->sc[2 * p] + r0)));                           \
        i1 = rp_add_i(i1, rp_mullo(hi, rp_u8_i32(blk->sc[2 * p + 1] + r0)));                       \
    }                                                                                              \
    rp_vi ms = rp_zero_i();                                                                        \
    for (int sb = 0; sb < 8; sb++)                                                                 \
        ms = rp_add_i(ms, rp_mullo(rp_u8_i32(blk->mn[sb] + r0),                                    \
                                   rp_set32(y->bsums[2 * sb] + y->bsums[2 * sb + 1])));
#define RP_Q5_K_BITS                                                                               \
    l = rp_bits(l, blk->qh[p][g][0], h, 0x10);                                                     \
    u = rp_bits(u, blk->qh[p][g][1], h, 0x10);

// clang-format off
RP_GEMM(gemm_rp_q4_K, rp_q4_K, block_q8_K, QK_K,
        const rp_vf dx = rp_halves(blk->d + r0);
        const rp_vf mx = rp_halves(blk->dmin + r0);,
        RP_K4_ISUM(),
        RP_BLOCK_KMIN)
RP_GEMM(gemm_rp_q5_K, rp_q5_K, block_q8_K, QK_K,
        const rp_vf dx = rp_halves(blk->d + r0);
        const rp_vf mx = rp_halves(blk->dmin + r0);,
        RP_K4_ISUM(RP_Q5_K_BITS),
        RP_BLOCK_KMIN)
// clang-format on

/* Q6_K × Q8_K per super-block: (dx·dy)·isum, isum = Σ_k sc_k·(Σ (q+32)·y
 * over sub-block k of 16) − 32·Σ_k sc_k·bsums_k. */
// clang-format off
RP_GEMM(gemm_rp_q6_K, rp_q6_K, block_q8_K, QK_K,
        const rp_vf dx = rp_halves(blk->d + r0);,
        for (int k = 0; k < 16; k++) {
            rp_vi s = rp_zero_i();
            for (int t = 0; t < 4; t++)
                s = rp_dot(s, rp_load(&blk->q[4 * k + t][r0]), rp_bcast(y->qs + 16 * k + 4 * t));
            const rp_vi sc = rp_i8_i32(blk->sc[k] + r0);
            i0 = rp_add_i(i0, rp_mullo(s, sc));
            i1 = rp_sub_i(i1, rp_mullo(sc, rp_set32(32 * y->bsums[k])));
        },
        RP_BLOCK_K)
// clang-format on

/* ============================================= activation quantizers */

/* C's roundf: truncate, then one away from zero when |fraction| >= 1/2
 * (v − trunc(v) is exact). */
static inline __m256 roundf8(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* Largest |x| of 32 floats (exact in any order). */
static inline float absmax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 4 × 8 int32 (each in −128..127) → 32 int8 in order. */
static inline void store_i8x32(int8_t *out, const __m256i i[4]) {
    const __m256i ab = _mm256_packs_epi32(i[0], i[1]), cd = _mm256_packs_epi32(i[2], i[3]);
    const __m256i v = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)out, v);
}

/* One block as the reference quantizer (quant_legacy.c): d = amax/127,
 * q = roundf(x·(1/d)), a level out of (−128, 128) (a degenerate scale)
 * becomes 0. Returns d; *sum = Σ q. */
static inline float quantize_block_q8(const float *x, int8_t *qs, int *sum) {
    const float d = absmax32(x) / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    const __m256 idv = _mm256_set1_ps(id), lim = _mm256_set1_ps(128.0f);
    __m256i q[4], acc = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        const __m256 r = roundf8(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), idv));
        const __m256 ok =
            _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), r), lim, _CMP_LT_OQ);
        q[k] = _mm256_and_si256(_mm256_cvttps_epi32(r), _mm256_castps_si256(ok));
        acc = _mm256_add_epi32(acc, q[k]);
    }
    store_i8x32(qs, q);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    *sum = _mm_cvtsi128_si32(h);
    return d;
}

/* Q8_K as the reference (quant_k.c): max = the first value of largest
 * magnitude, iscale = −127/max, q = min(round-half-even(iscale·x), 127),
 * bsums of 16, d = 1/iscale; an all-zero block is all zero. */
static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy; /* (n/256) */
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax = 0.0f;
        for (int c = 0; c < QK_K / 32; c++) {
            const float m = absmax32(x + 32 * c);
            amax = m > amax ? m : amax;
        }
        memset(&y[b], 0, sizeof y[b]);
        if (amax == 0) continue;
        int first = 0;
        while (fabsf(x[first]) != amax) first++;
        const float iscale = -127.f / x[first];
        const __m256 sv = _mm256_set1_ps(iscale);
        for (int c = 0; c < QK_K / 32; c++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                const __m256 v =
                    _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * c + 8 * k), sv),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(127));
            }
            store_i8x32(y[b].qs + 32 * c, q);
            for (int h = 0; h < 2; h++) {
                const __m256i s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
                __m128i t =
                    _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
                y[b].bsums[2 * c + h] = (int16_t)_mm_cvtsi128_si32(t);
            }
        }
        y[b].d = 1 / iscale;
    }
}

#include "backends/cpu/x86/attend.inc.c"

#if X86_AVX512
#define X86_ATTEND_NARROW .attend_narrow = ts_cpu_attend_avx2, .attend_narrow_q = 8,
#else
void ts_cpu_attend_avx2(const cpu_attend_args *a) { attend(a); }
#define X86_ATTEND_NARROW
#endif

#define X86_PATH(path_name, missing_fn) CPU_SIMD_PATH(path_name, missing_fn, X86_ATTEND_NARROW)
