/*
 * kernels.inc.c — the ARM64 kernels of a CPU path, included by neon.c
 * (ARM_DOTPROD 0: integer block dots by widening multiplies, any ARMv8-A)
 * and dotprod.c (ARM_DOTPROD 1: with sdot). Each computes bitwise what the
 * scalar path computes (docs/ARCHITECTURE.md, "Reduction order"); AArch64
 * Advanced SIMD float arithmetic is IEEE single precision with gradual
 * underflow (Linux leaves FPCR.FZ clear), and -ffp-contract=off keeps each
 * vmul and vadd a rounding of its own:
 *
 *  - repacked weights of every quantized type (Q4_0, Q4_1, Q5_0, Q5_1,
 *    Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; repack.c's 16-row
 *    layouts, the same as the x86 paths'): one row per 32-bit lane, a
 *    16-row group in four 4-lane quarters; broadcast activation bytes
 *    times 4 bytes of every row give each lane its row's exact integer
 *    block (and sub-block) sums; the lane applies its row's float formula
 *    in the reference's order and adds the block to its accumulator, block
 *    after block, as the scalar loop. A block's weights are read once for
 *    every token of the call (matmul.c passes at most TILE_TOKENS tokens).
 *    Every weight byte is taken as signed (sdot, smull): quants stay within
 *    0..63 or are signed levels (Q8_0's, IQ4_NL's); an offset of the
 *    format (Q4_0's −8, Q5_0's −16, Q3_K's −4, Q6_K's −32) is subtracted
 *    from the exact sum through the activations' sums.
 *  - F16, BF16, F32 dots: the TS_LANES = 32 partial sums are eight 4-lane
 *    registers (element i in lane i mod 32), folded in the contract's tree.
 *  - vector primitives (mad, softmax with a 4-lane ts_expf, silu_mul)
 *    and activation converters (Q8_0, Q8_1, Q8_K) that give the
 *    reference's bytes;
 *  - fused attention, one query per lane, 4 queries per block
 *    (attend.inc.c, attend-common.inc.c).
 *
 * Legend: r = row of a group, j = token, b = block of the row, nb =
 * blocks per row, g = 4-byte chunk of a block, k = sub-block (or 2-bit
 * field), p = 64-element part of a K-quant super-block.
 */
#include "backends/cpu/cpu-impl.h"
#include "core/fmath-impl.h"
#include "core/quant-impl.h"

#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define MAX_TOK 64 /* tokens per call (matmul.c's TILE_TOKENS) */

/* ========================================================= float types */

static inline float32x4_t load4_f16(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* The contract's fold of 32 partials held as 8 × 4 lanes (register k holds
 * partials 4k..4k+3): w = 16, 8, 4 as vector adds, then 2, 1 inside one. */
static inline float fold32(const float32x4_t v[8]) {
    const float32x4_t a = vaddq_f32(vaddq_f32(v[0], v[4]), vaddq_f32(v[2], v[6]));
    const float32x4_t b = vaddq_f32(vaddq_f32(v[1], v[5]), vaddq_f32(v[3], v[7]));
    const float32x4_t s = vaddq_f32(a, b);
    const float32x2_t h = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

/* The fold when terms t0.. past the vectors went to tail[t − t0] (t0 a
 * multiple of 32): partial l = vector lane l, then + its tail term. */
static inline float fold32_tail(const float32x4_t v[8], const float tail[TS_LANES]) {
    float p[TS_LANES];
    for (int k = 0; k < 8; k++) vst1q_f32(p + 4 * k, v[k]);
    for (int l = 0; l < TS_LANES; l++) p[l] += tail[l];
    return ts_lanes_sum(p);
}

/* Σ x·y over the contract's lanes, for F16 (products exact) and F32. */
#define FLOAT_DOT(name, T, LOAD4, TO32)                                                            \
    static float name(const T *x, const T *y, int64_t n) {                                         \
        const int64_t n32 = n - n % TS_LANES;                                                      \
        float32x4_t v[8];                                                                          \
        for (int k = 0; k < 8; k++) v[k] = vdupq_n_f32(0.0f);                                      \
        for (int64_t e = 0; e < n32; e += TS_LANES)                                                \
            for (int k = 0; k < 8; k++)                                                            \
                v[k] = vaddq_f32(v[k], vmulq_f32(LOAD4(x + e + 4 * k), LOAD4(y + e + 4 * k)));     \
        if (n32 == n) return fold32(v);                                                            \
        float tail[TS_LANES] = {0};                                                                \
        for (int64_t e = n32; e < n; e++) tail[e - n32] = TO32(x[e]) * TO32(y[e]);                 \
        return fold32_tail(v, tail);                                                               \
    }

/* bfloat16 is the top half of a float. */
static inline float32x4_t load4_bf16(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

FLOAT_DOT(dot_f16, uint16_t, load4_f16, cpu_f16)
FLOAT_DOT(dot_bf16, uint16_t, load4_bf16, ts_bf16_to_fp32)
FLOAT_DOT(dot_f32, float, vld1q_f32, )

/* acc[i] = acc[i] + v[i]·p. */
#define MAD(name, T, LOAD4, TO32)                                                                  \
    static void name(float *acc, const T *v, float p, int64_t n) {                                 \
        const float32x4_t pv = vdupq_n_f32(p);                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= n; i += 4)                                                                 \
            vst1q_f32(acc + i, vaddq_f32(vld1q_f32(acc + i), vmulq_f32(LOAD4(v + i), pv)));        \
        for (; i < n; i++) acc[i] += TO32(v[i]) * p;                                               \
    }

MAD(mad_f16, uint16_t, load4_f16, cpu_f16)
MAD(mad_f32, float, vld1q_f32, )

/* ts_expf on 4 lanes, the same operations in the same order (vrndnq:
 * rintf's ties to even). */
static inline float32x4_t exp4(float32x4_t x) {
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(TS_EXP_LOG2E)));
    const float32x4_t r = vsubq_f32(vsubq_f32(x, vmulq_f32(n, vdupq_n_f32(TS_EXP_LN2_HI))),
                                    vmulq_f32(n, vdupq_n_f32(TS_EXP_LN2_LO)));
    float32x4_t p = vdupq_n_f32(TS_EXP_P0);
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(TS_EXP_P1));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(TS_EXP_P2));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(TS_EXP_P3));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(TS_EXP_P4));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(TS_EXP_P5));
    p = vaddq_f32(vaddq_f32(vmulq_f32(p, vmulq_f32(r, r)), r), vdupq_n_f32(1.0f));
    /* out of range, n does not fit the exponent: those lanes are replaced */
    const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(bits));
    e = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(TS_EXP_HI)), vdupq_n_f32(INFINITY), e);
    e = vbslq_f32(vcltq_f32(x, vdupq_n_f32(TS_EXP_LO)), vdupq_n_f32(0.0f), e);
    return vbslq_f32(vceqq_f32(x, x), e, x);
}

/* As ts_cpu_softmax: scale and max, e_t and its partial sums (8 × 4 lanes
 * over each 32 terms, the tail in the scalar order), then · (1/S). */
static void softmax(float *p, int64_t n, float scale) {
    float32x4_t mv = vdupq_n_f32(-INFINITY);
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) {
        const float32x4_t v = vmulq_n_f32(vld1q_f32(p + t), scale);
        vst1q_f32(p + t, v);
        mv = vmaxq_f32(mv, v);
    }
    float max = vmaxvq_f32(mv);
    for (; t < n; t++) {
        p[t] *= scale;
        max = max > p[t] ? max : p[t];
    }
    const float32x4_t maxv = vdupq_n_f32(max);
    const int64_t n32 = n - n % TS_LANES;
    float32x4_t v[8];
    for (int k = 0; k < 8; k++) v[k] = vdupq_n_f32(0.0f);
    for (t = 0; t < n32; t += TS_LANES)
        for (int k = 0; k < 8; k++) {
            const float32x4_t e = exp4(vsubq_f32(vld1q_f32(p + t + 4 * k), maxv));
            vst1q_f32(p + t + 4 * k, e);
            v[k] = vaddq_f32(v[k], e);
        }
    float tail[TS_LANES] = {0};
    for (t = n32; t < n; t++) tail[t - n32] = p[t] = ts_expf(p[t] - max);
    const float inv = 1.0f / fold32_tail(v, tail);
    for (t = 0; t + 4 <= n; t += 4) vst1q_f32(p + t, vmulq_n_f32(vld1q_f32(p + t), inv));
    for (; t < n; t++) p[t] *= inv;
}

static void silu_mul(float *y, const float *x, const float *g, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t xv = vld1q_f32(x + i);
        const float32x4_t s = vdivq_f32(xv, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(xv))));
        vst1q_f32(y + i, vmulq_f32(s, vld1q_f32(g + i)));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + ts_expf(-x[i])) * g[i];
}

/* ====================================================== repacked layouts */

/* Row-per-lane kernels on repack.c's layouts: a register holds RP_LANES
 * rows of a 16-row group, the group in four quarters. Per block, chunk g
 * of 4 bytes per row times the 4 activation bytes it pairs with,
 * broadcast, accumulates each row's integer block sum in its lane (every
 * weight byte taken as signed: the layouts' values are within 0..63, or
 * Q8_0's turned back to −128..127, or IQ4_NL's levels); the lane then applies its row's float
 * formula and adds the block to its accumulator, exactly as the
 * reference's loop. */
#define RP_LANES 4
typedef int32x4_t rp_vi;
typedef float32x4_t rp_vf;
static inline rp_vf rp_zero_f(void) { return vdupq_n_f32(0.0f); }
static inline rp_vi rp_zero_i(void) { return vdupq_n_s32(0); }
static inline rp_vf rp_cvt(rp_vi a) { return vcvtq_f32_s32(a); }
static inline rp_vi rp_add_i(rp_vi a, rp_vi b) { return vaddq_s32(a, b); }
static inline void rp_store(float *p, rp_vf v) { vst1q_f32(p, v); }
static inline rp_vf rp_set1(float v) { return vdupq_n_f32(v); }
static inline rp_vf rp_mul(rp_vf a, rp_vf b) { return vmulq_f32(a, b); }
static inline rp_vf rp_add(rp_vf a, rp_vf b) { return vaddq_f32(a, b); }
static inline rp_vf rp_sub(rp_vf a, rp_vf b) { return vsubq_f32(a, b); }

/* No software prefetch on ARM yet (not measured on ARM hardware): the
 * hardware prefetcher alone follows the layout's linear stream. */
#define RP_AHEAD_BYTES 0
static inline void rp_prefetch(const void *p, size_t n) {
    (void)p;
    (void)n;
}

#if ARM_DOTPROD
/* acc + Σ over each 4 bytes of w × y (s8 × s8) */
static inline int32x4_t rp_dot(int32x4_t acc, int8x16_t w, int8x16_t y) {
    return vdotq_s32(acc, w, y);
}
#else
/* The same sums from 16-bit products (|w·y| <= 128·128 fits), added in
 * pairs twice. */
static inline int32x4_t rp_dot(int32x4_t acc, int8x16_t w, int8x16_t y) {
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(y));
    const int16x8_t hi = vmull_high_s8(w, y);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
}
#endif

/* 4 activation bytes, broadcast to every lane. */
static inline int8x16_t rp_bcast(const int8_t *y) {
    int32_t v;
    memcpy(&v, y, sizeof v);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

static inline int8x16_t rp_load(const uint8_t *p) { return vreinterpretq_s8_u8(vld1q_u8(p)); }

/* Low and high nibbles of 16 bytes. */
static inline int8x16_t rp_lo4(const uint8_t *p) {
    return vreinterpretq_s8_u8(vandq_u8(vld1q_u8(p), vdupq_n_u8(0x0F)));
}
static inline int8x16_t rp_hi4(const uint8_t *p) {
    return vreinterpretq_s8_u8(vshrq_n_u8(vld1q_u8(p), 4));
}

/* Byte i = `bit` where bit 4·r0 + i of mask is set, else 0: a high bit
 * of rows r0..r0+3 (Q5_0's, Q5_1's and Q5_K's fifth bit 0x10, Q3_K's
 * 0x04). */
static inline int8x16_t rp_bits(uint64_t mask, int r0, uint8_t bit) {
    const uint16_t m = (uint16_t)(mask >> (4 * r0));
    const uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)m), vdup_n_u8((uint8_t)(m >> 8)));
    const uint8x16_t sel = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(v, sel), vdupq_n_u8(bit)));
}

/* Bits 2k..2k+1 of 16 bytes (Q2_K's and Q3_K's 2-bit fields). */
static inline int8x16_t rp_field2(const uint8_t *p, int k) {
    const uint8x16_t v = vshlq_u8(vld1q_u8(p), vdupq_n_s8((int8_t)(-2 * k)));
    return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(3)));
}

/* 4 bytes, zero- or sign-extended to int32 lanes. */
static inline int32x4_t rp_u8_i32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    const uint16x8_t h = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v)));
    return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h)));
}
static inline int32x4_t rp_i8_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    const int16x8_t h = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(v)));
    return vmovl_s16(vget_low_s16(h));
}

/* Σ of a block's 32 activation quants. */
static inline int32_t ysum32(const int8_t *qs) {
    return vaddlvq_s8(vld1q_s8(qs)) + vaddlvq_s8(vld1q_s8(qs + 16));
}

#include "backends/cpu/kernels-common.inc.c"

FLOAT_GEMM(gemm_f16, uint16_t, dot_f16)
FLOAT_GEMM(gemm_bf16, uint16_t, dot_bf16)
FLOAT_GEMM(gemm_f32, float, dot_f32)

/* Chunks g < 4 pair with activation bytes 4g (low nibbles) and 16 + 4g
 * (high nibbles): q[g] and q[g + 4]. */
#define RP_NIBBLES                                                                                 \
    int8x16_t q[8];                                                                                \
    for (int g = 0; g < 4; g++) {                                                                  \
        q[g] = rp_lo4(blk->qs[g][r0]);                                                             \
        q[g + 4] = rp_hi4(blk->qs[g][r0]);                                                         \
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
        const float32x4_t dx = load4_f16(blk->d + r0);,
        RP_ISUM_NIBBLES
        i0 = vsubq_s32(i0, vdupq_n_s32(8 * ysum32(y->qs)));,
        acc[j] = vaddq_f32(acc[j], vmulq_n_f32(vmulq_f32(sumi, dx), cpu_f16(y->d)));)
// clang-format on

/* A block × Q8_1: ((dx·dy)·sumi + m·s). */
#define RP_BLOCK_Q8_1                                                                              \
    const float32x4_t e = vaddq_f32(vmulq_f32(vmulq_n_f32(dx, cpu_f16(y->d)), sumi),               \
                                    vmulq_n_f32(mx, cpu_f16(y->s)));                               \
    acc[j] = vaddq_f32(acc[j], e);

/* Q4_1 × Q8_1, q = nibble. */
// clang-format off
RP_GEMM(gemm_rp_q4_1, rp_q4_1, block_q8_1, 32,
        RP_NIBBLES
        const float32x4_t dx = load4_f16(blk->d + r0);
        const float32x4_t mx = load4_f16(blk->m + r0);,
        RP_ISUM_NIBBLES,
        RP_BLOCK_Q8_1)
// clang-format on

/* The fifth bits of Q5_0 and Q5_1: q = nibble + 16·bit. */
#define RP_Q5_BITS                                                                                 \
    for (int g = 0; g < 4; g++) {                                                                  \
        q[g] = vorrq_s8(q[g], rp_bits(blk->qh[g][0], r0, 0x10));                                   \
        q[g + 4] = vorrq_s8(q[g + 4], rp_bits(blk->qh[g][1], r0, 0x10));                           \
    }

/* Q5_0 × Q8_0: (dx·dy)·sumi with sumi = Σ q·y − 16·Σ y. */
// clang-format off
RP_GEMM(gemm_rp_q5_0, rp_q5_0, block_q8_0, 32,
        RP_NIBBLES
        RP_Q5_BITS
        const float32x4_t dx = load4_f16(blk->d + r0);,
        RP_ISUM_NIBBLES
        i0 = vsubq_s32(i0, vdupq_n_s32(16 * ysum32(y->qs)));,
        acc[j] = vaddq_f32(acc[j], vmulq_f32(vmulq_n_f32(dx, cpu_f16(y->d)), sumi));)
// clang-format on

/* Q5_1 × Q8_1. */
// clang-format off
RP_GEMM(gemm_rp_q5_1, rp_q5_1, block_q8_1, 32,
        RP_NIBBLES
        RP_Q5_BITS
        const float32x4_t dx = load4_f16(blk->d + r0);
        const float32x4_t mx = load4_f16(blk->m + r0);,
        RP_ISUM_NIBBLES,
        RP_BLOCK_Q8_1)
// clang-format on

/* Q8_0 × Q8_0: (dx·dy)·sumi; the weights, stored + 128, turned back to
 * signed. */
// clang-format off
RP_GEMM(gemm_rp_q8_0, rp_q8_0, block_q8_0, 32,
        int8x16_t q[8];
        for (int g = 0; g < 8; g++)
            q[g] = veorq_s8(rp_load(blk->qs[g][r0]), vdupq_n_s8((int8_t)0x80));
        const float32x4_t dx = load4_f16(blk->d + r0);,
        for (int g = 0; g < 8; g += 2) {
            i0 = rp_dot(i0, q[g], rp_bcast(y->qs + 4 * g));
            i1 = rp_dot(i1, q[g + 1], rp_bcast(y->qs + 4 * g + 4));
        },
        acc[j] = vaddq_f32(acc[j], vmulq_f32(vmulq_n_f32(dx, cpu_f16(y->d)), sumi));)
// clang-format on

/* IQ4_NL × Q8_0: (dx·dy)·sumi, sumi = Σ level[q]·y; RP_NIBBLES's nibbles
 * (q[g + 4] pairs with bytes 16 + 4g) looked up in the levels table
 * (−127..113, signed bytes as rp_dot takes them). */
// clang-format off
RP_GEMM(gemm_rp_iq4_nl, rp_q4_0, block_q8_0, 32,
        RP_NIBBLES
        const int8x16_t lv = vld1q_s8(ts_iq4nl_levels);
        for (int g = 0; g < 8; g++) q[g] = vqtbl1q_s8(lv, vreinterpretq_u8_s8(q[g]));
        const float32x4_t dx = load4_f16(blk->d + r0);,
        RP_ISUM_NIBBLES,
        acc[j] = vaddq_f32(acc[j], vmulq_f32(vmulq_n_f32(dx, cpu_f16(y->d)), sumi));)
// clang-format on

/* ------------------------------------------------------------ K-quants */

/* A super-block with scales only × Q8_K: (dx·dy)·isum. */
#define RP_BLOCK_K acc[j] = vaddq_f32(acc[j], vmulq_f32(vmulq_n_f32(dx, y->d), sumi));
/* With mins: d·isum − dmin·msum, d = dx·dy, dmin = dminx·dy. */
#define RP_BLOCK_KMIN                                                                              \
    const float32x4_t e = vsubq_f32(vmulq_f32(vmulq_n_f32(dx, y->d), sumi),                        \
                                    vmulq_f32(vmulq_n_f32(mx, y->d), vcvtq_f32_s32(ms)));          \
    acc[j] = vaddq_f32(acc[j], e);

/* Q2_K, Q3_K's 2-bit fields: chunk 8hh + g holds bytes 32hh + 4g..+3,
 * whose bits 2k..2k+1 are elements 128hh + 32k + 4g..+3 (sub-block 8hh +
 * 2k + g / 4). BITS may add to the field f; SC(j) gives sub-block j's
 * scale lanes. isum = Σ_j SC(j)·(Σ f·y over sub-block j). */
// clang-format off
#define RP_2BIT_ISUM(BITS, SC)                                                                     \
    for (int hh = 0; hh < 2; hh++)                                                                 \
        for (int k = 0; k < 4; k++) {                                                              \
            int32x4_t s[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};                                     \
            for (int g = 0; g < 8; g++) {                                                          \
                int8x16_t f = rp_field2(blk->qs[8 * hh + g][r0], k);                               \
                BITS                                                                               \
                s[g / 4] = rp_dot(s[g / 4], f, rp_bcast(y->qs + 128 * hh + 32 * k + 4 * g));       \
            }                                                                                      \
            i0 = vaddq_s32(i0, vmulq_s32(s[0], SC(8 * hh + 2 * k)));                               \
            i1 = vaddq_s32(i1, vmulq_s32(s[1], SC(8 * hh + 2 * k + 1)));                           \
        }
// clang-format on

/* Q2_K × Q8_K: scale = the low nibble of sc, min = the high one; msum =
 * Σ_k min_k·bsums_k. */
#define RP_Q2_SC(j) vandq_s32(rp_u8_i32(blk->sc[j] + r0), vdupq_n_s32(15))
// clang-format off
RP_GEMM(gemm_rp_q2_K, rp_q2_K, block_q8_K, QK_K,
        const float32x4_t dx = load4_f16(blk->d + r0);
        const float32x4_t mx = load4_f16(blk->dmin + r0);,
        RP_2BIT_ISUM(, RP_Q2_SC)
        int32x4_t ms = vdupq_n_s32(0);
        for (int k = 0; k < 16; k++)
            ms = vaddq_s32(ms, vmulq_s32(vshrq_n_s32(rp_u8_i32(blk->sc[k] + r0), 4),
                                         vdupq_n_s32(y->bsums[k])));,
        RP_BLOCK_KMIN)
// clang-format on

/* Q3_K × Q8_K: f = q + 4 (the 2 low bits, + 4 where the high bit is set),
 * so isum = Σ_j sc_j·(Σ f·y) − 4·Σ_j sc_j·bsums_j. */
// clang-format off
#define RP_Q3_BITS f = vorrq_s8(f, rp_bits(blk->hm[8 * hh + g][k], r0, 0x04));
#define RP_Q3_SC(j) rp_i8_i32(blk->sc[j] + r0)
RP_GEMM(gemm_rp_q3_K, rp_q3_K, block_q8_K, QK_K,
        const float32x4_t dx = load4_f16(blk->d + r0);,
        RP_2BIT_ISUM(RP_Q3_BITS, RP_Q3_SC)
        for (int k = 0; k < 16; k++)
            i1 = vsubq_s32(i1, vmulq_s32(RP_Q3_SC(k), vdupq_n_s32(4 * y->bsums[k])));,
        RP_BLOCK_K)
// clang-format on

/* Q4_K, Q5_K × Q8_K per super-block: isum = Σ_j sc_j·(Σ q·y over
 * sub-block j), msum = Σ_j m_j·(the two Q8_K sums of 16 of sub-block j).
 * Chunk (p, g): low nibbles l pair with activation bytes 64p + 4g, high
 * ones u with 64p + 32 + 4g; BITS may add Q5_K's fifth bits. */
// clang-format off
#define RP_K4_ISUM(BITS)                                                                           \
    for (int p = 0; p < 4; p++) {                                                                  \
        int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);                                        \
        for (int g = 0; g < 8; g++) {                                                              \
            int8x16_t l = rp_lo4(blk->qs[p][g][r0]), u = rp_hi4(blk->qs[p][g][r0]);                \
            BITS                                                                                   \
            lo = rp_dot(lo, l, rp_bcast(y->qs + 64 * p + 4 * g));                                  \
            hi = rp_dot(hi, u, rp_bcast(y->qs + 64 * p + 32 + 4 * g));                             \
        }                                                                                          \
        i0 = vaddq_s32(i0, vmulq_s32(lo, rp_u8_i32(blk->sc[2 * p] + r0)));                         \
        i1 = vaddq_s32(i1, vmulq_s32(hi, rp_u8_i32(blk->sc[2 * p + 1] + r0)));                     \
    }                                                                                              \
    int32x4_t ms = vdupq_n_s32(0);                                                                 \
    for (int sb = 0; sb < 8; sb++)                                                                 \
        ms = vaddq_s32(ms, vmulq_s32(rp_u8_i32(blk->mn[sb] + r0),                                  \
                                     vdupq_n_s32(y->bsums[2 * sb] + y->bsums[2 * sb + 1])));
#define RP_Q5_K_BITS                                                                               \
    l = vorrq_s8(l, rp_bits(blk->qh[p][g][0], r0, 0x10));                                          \
    u = vorrq_s8(u, rp_bits(blk->qh[p][g][1], r0, 0x10));
// clang-format on

// clang-format off
RP_GEMM(gemm_rp_q4_K, rp_q4_K, block_q8_K, QK_K,
        const float32x4_t dx = load4_f16(blk->d + r0);
        const float32x4_t mx = load4_f16(blk->dmin + r0);,
        RP_K4_ISUM(),
        RP_BLOCK_KMIN)
RP_GEMM(gemm_rp_q5_K, rp_q5_K, block_q8_K, QK_K,
        const float32x4_t dx = load4_f16(blk->d + r0);
        const float32x4_t mx = load4_f16(blk->dmin + r0);,
        RP_K4_ISUM(RP_Q5_K_BITS),
        RP_BLOCK_KMIN)
// clang-format on

/* Q6_K × Q8_K per super-block: (dx·dy)·isum, isum = Σ_k sc_k·(Σ (q+32)·y
 * over sub-block k of 16) − 32·Σ_k sc_k·bsums_k. */
// clang-format off
RP_GEMM(gemm_rp_q6_K, rp_q6_K, block_q8_K, QK_K,
        const float32x4_t dx = load4_f16(blk->d + r0);,
        for (int k = 0; k < 16; k++) {
            int32x4_t s = vdupq_n_s32(0);
            for (int t = 0; t < 4; t++)
                s = rp_dot(s, rp_load(blk->q[4 * k + t][r0]), rp_bcast(y->qs + 16 * k + 4 * t));
            const int32x4_t sc = rp_i8_i32(blk->sc[k] + r0);
            i0 = vaddq_s32(i0, vmulq_s32(s, sc));
            i1 = vsubq_s32(i1, vmulq_s32(sc, vdupq_n_s32(32 * y->bsums[k])));
        },
        RP_BLOCK_K)
// clang-format on

/* ============================================= activation quantizers */

/* Largest |x| of 32 floats (exact in any order). */
static inline float absmax32(const float *x) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + 4 * k)));
    return vmaxvq_f32(m);
}

/* 8 × 4 int32 (each in −128..127) → 32 int8 in order. */
static inline void store_i8x32(int8_t *out, const int32x4_t q[8]) {
    for (int k = 0; k < 8; k += 4) {
        const int16x8_t a = vcombine_s16(vmovn_s32(q[k]), vmovn_s32(q[k + 1]));
        const int16x8_t b = vcombine_s16(vmovn_s32(q[k + 2]), vmovn_s32(q[k + 3]));
        vst1q_s8(out + 4 * k, vcombine_s8(vmovn_s16(a), vmovn_s16(b)));
    }
}

/* One block as the reference quantizer (quant_legacy.c): d = amax/127,
 * q = roundf(x·(1/d)) (vrndaq: ties away from zero), a level out of
 * (−128, 128) (a degenerate scale) becomes 0. Returns d; *sum = Σ q. */
static inline float quantize_block_q8(const float *x, int8_t *qs, int *sum) {
    const float d = absmax32(x) / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    int32x4_t q[8], acc = vdupq_n_s32(0);
    for (int k = 0; k < 8; k++) {
        const float32x4_t r = vrndaq_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), id));
        const uint32x4_t ok = vcaltq_f32(r, vdupq_n_f32(128.0f));
        q[k] = vandq_s32(vcvtq_s32_f32(r), vreinterpretq_s32_u32(ok));
        acc = vaddq_s32(acc, q[k]);
    }
    store_i8x32(qs, q);
    *sum = vaddvq_s32(acc);
    return d;
}

/* Q8_K as the reference (quant_k.c): max = the first value of largest
 * magnitude, iscale = −127/max, q = min(round-half-even(iscale·x), 127)
 * (vcvtnq), bsums of 16, d = 1/iscale; an all-zero block is all zero. */
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
        for (int c = 0; c < QK_K / 32; c++) {
            int32x4_t q[8];
            for (int k = 0; k < 8; k++)
                q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 32 * c + 4 * k), iscale)),
                                 vdupq_n_s32(127));
            store_i8x32(y[b].qs + 32 * c, q);
            for (int h = 0; h < 2; h++) {
                const int32x4_t s = vaddq_s32(vaddq_s32(q[4 * h], q[4 * h + 1]),
                                              vaddq_s32(q[4 * h + 2], q[4 * h + 3]));
                y[b].bsums[2 * c + h] = (int16_t)vaddvq_s32(s);
            }
        }
        y[b].d = 1 / iscale;
    }
}

#include "backends/cpu/arm/attend.inc.c"

#define ARM_PATH(path_name, missing_fn) CPU_SIMD_PATH(path_name, missing_fn, )
