/*
 * fmath-impl.h — the float arithmetic of the reduction-order contract
 * (docs/ARCHITECTURE.md, "Reduction order"), shared by every kernel path so
 * that all of them round alike:
 *
 *  - ts_lanes: a float reduction of n terms keeps TS_LANES partial sums;
 *    term i goes to partial i mod TS_LANES, each partial summed in order
 *    of i (one rounding per addition, no fused multiply-add), then
 *    ts_lanes_sum folds them in a fixed tree: partial i += partial i + w
 *    for w = 16, 8, 4, 2, 1. A SIMD path keeps the partials in registers
 *    (4 × 8 lanes on AVX2, 2 × 16 on AVX-512, 8 × 4 on NEON) and folds
 *    them in the same tree; a shorter row leaves the missing partials at
 *    +0.
 *  - ts_expf: e^x by Cody–Waite reduction and a degree-6 polynomial, in
 *    plain float operations, so a vector version computes the same bits.
 *  - ts_log_d, ts_exp_d, ts_pow_d, ts_sincos_d (fmath.c): RoPE's tables,
 *    computed once per position in double, instead of libm.
 *
 * Every file is compiled with -ffp-contract=off: a product and a sum stay
 * two roundings unless fmaf is written.
 */
#ifndef TS_FMATH_IMPL_H
#define TS_FMATH_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define TS_LANES 32

/* The contract's fold of TS_LANES partial sums (overwrites p). */
static inline float ts_lanes_sum(float p[TS_LANES]) {
    for (int w = TS_LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) p[i] = p[i] + p[i + w];
    return p[0];
}

/* Constants of ts_expf (Cephes expf): ln 2 split so that n·LN2_HI is exact
 * for |n| < 2^15, and the minimax polynomial of (e^r − 1 − r)/r² on
 * [−ln2/2, ln2/2]. */
#define TS_EXP_LO     (-87.0f) /* e^-87 > FLT_MIN: results stay normal */
#define TS_EXP_HI     88.0f    /* e^88 < FLT_MAX */
#define TS_EXP_LOG2E  1.44269504088896341f
#define TS_EXP_LN2_HI 0.693359375f
#define TS_EXP_LN2_LO (-2.12194440e-4f)
#define TS_EXP_P0     1.9875691500e-4f
#define TS_EXP_P1     1.3981999507e-3f
#define TS_EXP_P2     8.3334519073e-3f
#define TS_EXP_P3     4.1665795894e-2f
#define TS_EXP_P4     1.6666665459e-1f
#define TS_EXP_P5     5.0000001201e-1f

/* e^x within 2 ulp of expf on [TS_EXP_LO, TS_EXP_HI]; 0 below, +inf above
 * (NaN stays NaN):
 *   n = rint(x·log2 e) (ties to even), r = (x − n·LN2_HI) − n·LN2_LO,
 *   p = ((((((P0·r + P1)·r + P2)·r + P3)·r + P4)·r + P5)·r²) + r + 1,
 *   e^x = p·2^n. */
static inline float ts_expf(float x) {
    if (x > TS_EXP_HI) return INFINITY;
    if (!(x >= TS_EXP_LO)) return x != x ? x : 0.0f; /* NaN, or below */
    const float n = rintf(x * TS_EXP_LOG2E);
    const float r = (x - n * TS_EXP_LN2_HI) - n * TS_EXP_LN2_LO;
    float p = TS_EXP_P0;
    p = p * r + TS_EXP_P1;
    p = p * r + TS_EXP_P2;
    p = p * r + TS_EXP_P3;
    p = p * r + TS_EXP_P4;
    p = p * r + TS_EXP_P5;
    p = p * (r * r) + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* fmath.c: ln x, e^x, b^y, sin x and cos x in double with fixed series,
 * the same bits on every machine (no libm): RoPE's angle tables and their
 * per-op constants. ts_log_d(0) = −inf, ts_log_d(x < 0) = NaN;
 * ts_sincos_d(±inf or NaN) = NaN. */
double ts_log_d(double x);
double ts_exp_d(double x);
double ts_pow_d(double b, double y);
void ts_sincos_d(double x, double *s, double *c);

#endif /* TS_FMATH_IMPL_H */
