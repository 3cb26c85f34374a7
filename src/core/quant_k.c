/*
 * quant_k.c — the K-quants: super-blocks of QK_K = 256 values, each split
 * into sub-blocks of 16 (Q2_K, Q3_K, Q6_K) or 32 (Q4_K, Q5_K) whose scales
 * (and mins) are themselves quantized to 4, 6 or 8 bits under one
 * half-precision super-scale; and Q8_K, the activation format their dot
 * products take.
 *
 * Invariants:
 *   - quantize equals llama.cpp's reference quantizers without importance
 *     matrix (ggml-quants.c, quantize_row_*_K_ref) byte for byte. The scale
 *     searches below reproduce theirs operation for operation: every float
 *     expression keeps its evaluation order and its int → float conversion
 *     points, and the file is compiled with -ffp-contract=off;
 *   - dequantize equals ggml's dequantize_row_*_K bit for bit (same
 *     products in the same order);
 *   - a dot product sums integer products per sub-block exactly, weights
 *     them by the integer scales, and only then scales by d_x·d_y in float,
 *     as ggml's *_generic kernels do; a row of the same bytes always gives
 *     the same float.
 *
 * Legend: e = element of a super-block (0..255), j = sub-block, l = element
 * of a sub-block or of a 32-byte lane; L = integer level before packing;
 * nmax = number of levels − 1 for unsigned formats, half the levels for
 * signed ones.
 */
#include "core/quant-impl.h"

#include <math.h>
#include <string.h>

/* ggml: a sub-block whose largest magnitude is below this is all zero. */
#define GROUP_MAX_EPS 1e-15f

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ------------------------------------------------------- scale searches */

/* Σ w·|err| (mad) or Σ w·err² of the fit x ≈ scale·L + min, in order. */
static float fit_error(int n, const float *x, const float *w, const uint8_t *L, float scale,
                       float min, bool mad) {
    float sum = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * L[i] + min - x[i];
        diff = mad ? fabsf(diff) : diff * diff;
        sum += w[i] * diff;
    }
    return sum;
}

/* ggml's make_qkx2_quants: fit x ≈ scale·L + min over n ≤ 32 values with
 * L in 0..nmax and min ≤ 0, minimizing fit_error. Starts from the grid
 * spanning [min, max], then tries the grids of nmax + rmin + rdelta·is
 * steps (is = 0..nstep), each refit by weighted least squares
 * (2×2 normal equations, determinant D) and kept when its error is lower.
 * Note, as in ggml, a kept fit moves `min`, and later grids are laid over
 * [min, max] with the new min. Returns the scale; *neg_min = −min ≥ 0. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *neg_min, float rmin, float rdelta, int nstep, bool mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)clamp_int(ts_nearest_int(iscale * (x[i] - min)), 0, nmax);
    float best = fit_error(n, x, w, L, scale, min, mad);
    for (int is = 0; is <= nstep; is++) {
        uint8_t Laux[32];
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(ts_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = fit_error(n, x, w, Laux, this_scale, this_min, mad);
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* The value of largest magnitude, with its sign (the first one on ties). */
static float signed_absmax(int n, const float *x, float *amax) {
    float max = 0;
    *amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > *amax) {
            *amax = ax;
            max = x[i];
        }
    }
    return max;
}

/* Levels round(iscale·x) in −nmax..nmax−1 into Ls, with the x²-weighted
 * sums Σ w·x·l and Σ w·l² of a least-squares scale sumlx / suml2. */
static void symmetric_levels(int n, int nmax, const float *x, float iscale, int8_t *Ls,
                             float *sumlx, float *suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(ts_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        Ls[i] = (int8_t)l;
        float w = x[i] * x[i];
        *sumlx += w * x[i] * l;
        *suml2 += w * l * l;
    }
}

/* ggml's make_qx_quants with rmse_type 1 and no importance (Q6_K): the
 * signed fit x ≈ scale·l, l in −nmax..nmax−1, weights x², trying the 19
 * grids −(nmax + 0.1·is)/max and keeping the best least-squares fit
 * (largest sumlx²/suml2). L receives l + nmax; returns the scale. */
static float fit_symmetric(int n, int nmax, const float *x, uint8_t *L) {
    int8_t Ls[16], Laux[16];
    float amax;
    float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float sumlx, suml2;
    symmetric_levels(n, nmax, x, -nmax / max, Ls, &sumlx, &suml2);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        symmetric_levels(n, nmax, x, -(nmax + 0.1f * is) / max, Laux, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            memcpy(Ls, Laux, sizeof Laux);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(Ls[i] + nmax);
    return scale;
}

/* ggml's make_q3_quants with rmse (Q3_K): 16 values, l in −4..3, weights
 * x²; starting from the grid −4/max, up to 5 sweeps move single levels to
 * their least-squares optimum when that raises sumlx²/suml2. L receives
 * l + 4; returns the scale. */
static float fit_q3(const float *x, uint8_t *L) {
    enum { n = 16, nmax = 4 };
    int8_t Ls[n];
    float amax;
    float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, n);
        return 0.f;
    }
    float sumlx, suml2;
    symmetric_levels(n, nmax, x, -nmax / max, Ls, &sumlx, &suml2);
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * Ls[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * Ls[i] * Ls[i];
            int new_l = clamp_int(ts_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == Ls[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                Ls[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(Ls[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* --------------------------------------------------------------- layouts */

/* 2-bit levels (Q2_K; Q3_K's low bits): byte 32·h + l of qs holds element
 * 128·h + 32·k + l in bits 2k..2k+1, k = 0..3. */
static void pack_2bit(const uint8_t L[QK_K], uint8_t qs[QK_K / 4]) {
    for (int h = 0; h < QK_K / 128; h++) {
        const uint8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++)
            qs[32 * h + l] = (uint8_t)(Lh[l] | Lh[l + 32] << 2 | Lh[l + 64] << 4 | Lh[l + 96] << 6);
    }
}

static int get_2bit(const uint8_t *qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
}

/* Q3_K's 16 6-bit scales in 12 bytes: the low nibbles of scales 0..7 in
 * bytes 0..7, those of 8..15 in their high nibbles; the top 2 bits of
 * scale j in bits 2·(j/4) of byte 8 + j%4. Stored with a +32 bias. */
static int q3_scale(const uint8_t s[12], int j) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
}

/* Q4_K / Q5_K: 8 6-bit scales and mins in 12 bytes (ggml's
 * get_scale_min_k4): j < 4 in the low 6 bits of bytes j and j + 4; j ≥ 4
 * in the nibbles of byte j + 4 with the top 2 bits in bits 6..7 of bytes
 * j − 4 (scale) and j (min). */
static void k4_get(const uint8_t s[12], int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_put(uint8_t s[12], int j, uint8_t sc, uint8_t m) {
    if (j < 4) {
        s[j] = sc;
        s[j + 4] = m;
    } else {
        s[j + 4] = (uint8_t)((sc & 0xF) | (m & 0xF) << 4);
        s[j - 4] |= (uint8_t)((sc >> 4) << 6);
        s[j] |= (uint8_t)((m >> 4) << 6);
    }
}

/* ------------------------------------------------------- dot-product sums */

/* Σ_j scale[j] · Σ_{e in sub-block j} q[e]·q8[e] over one super-block with
 * sub-blocks of `sub` values; exact (|Σ| < 2^28 for every format). */
static int32_t scaled_isum(const int8_t q[QK_K], const int8_t q8[QK_K], const int *scale, int sub) {
    int32_t isum = 0;
    for (int j = 0; j < QK_K / sub; j++) {
        int32_t s = 0;
        for (int l = 0; l < sub; l++) s += q[sub * j + l] * q8[sub * j + l];
        isum += scale[j] * s;
    }
    return isum;
}

/* Σ_e min[sub-block of e]·q8[e] from Q8_K's sums of 16: the offsets'
 * share of the dot product without touching the quants. */
static int32_t min_isum(const int16_t bsums[QK_K / 16], const int *min, int sub) {
    int32_t sum = 0;
    for (int k = 0; k < QK_K / 16; k++) sum += bsums[k] * min[16 * k / sub];
    return sum;
}

/* ------------------------------------------------------------------ Q2_K */

/* Q2_K: x = d·(sc & 15)·q − dmin·(sc >> 4), q in 0..3, one byte sc per
 * sub-block of 16. */
static void unpack_q2_K(const block_q2_K *b, int8_t q[QK_K], int sc[16], int m[16]) {
    for (int e = 0; e < QK_K; e++) q[e] = (int8_t)get_2bit(b->qs, e);
    for (int j = 0; j < 16; j++) {
        sc[j] = b->scales[j] & 0xF;
        m[j] = b->scales[j] >> 4;
    }
}

/* Scales and mins to 4 bits against their maxima (d = max/15), or all
 * zero when the maximum is not positive. */
static void q2_K_scales(block_q2_K *y, const float scales[16], const float mins[16],
                        float max_scale, float max_min) {
    memset(y->scales, 0, sizeof y->scales);
    y->d = y->dmin = ts_fp32_to_fp16(0.f);
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)ts_nearest_int(iscale * scales[j]);
        y->d = ts_fp32_to_fp16(max_scale / 15.f);
    }
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < 16; j++)
            y->scales[j] |= (uint8_t)((unsigned)ts_nearest_int(iscale * mins[j]) << 4);
        y->dmin = ts_fp32_to_fp16(max_min / 15.f);
    }
}

/* ggml's quantize_row_q2_K_ref on one super-block: fit each sub-block of
 * 16 (weights |x|, least absolute error), store 4-bit scales and mins,
 * requantize against them. */
static void quantize_block_q2_K(const float *x, block_q2_K *y) {
    uint8_t L[QK_K];
    float w[16], scales[16], mins[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] =
            fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    q2_K_scales(y, scales, mins, max_scale, max_min);
    /* requantize against the scales as stored */
    for (int j = 0; j < 16; j++) {
        float d = ts_half_to_float(y->d) * (y->scales[j] & 0xF);
        if (d == 0) continue;
        float dm = ts_half_to_float(y->dmin) * (y->scales[j] >> 4);
        for (int l = 0; l < 16; l++)
            L[16 * j + l] = (uint8_t)clamp_int(ts_nearest_int((x[16 * j + l] + dm) / d), 0, 3);
    }
    pack_2bit(L, y->qs);
}

void ts_dequantize_row_q2_K(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        int8_t q[QK_K];
        int sc[16], m[16];
        unpack_q2_K(&x[i], q, sc, m);
        float d = ts_half_to_float(x[i].d), dmin = ts_half_to_float(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * sc[e / 16], ml = dmin * m[e / 16];
            y[e] = dl * q[e] - ml;
        }
    }
}

void ts_quantize_row_q2_K(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q2_K(x + i * QK_K, &y[i]);
}

float ts_vec_dot_q2_K(const void *vx, const void *vy, int64_t n) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        int sc[16], m[16];
        unpack_q2_K(&x[i], q, sc, m);
        float d = y[i].d * ts_half_to_float(x[i].d), dmin = y[i].d * ts_half_to_float(x[i].dmin);
        int32_t isum = scaled_isum(q, y[i].qs, sc, 16), msum = min_isum(y[i].bsums, m, 16);
        sumf += d * (float)isum - dmin * (float)msum;
    }
    return sumf;
}

/* ------------------------------------------------------------------ Q3_K */

/* Q3_K: x = d·s·q, s = 6-bit scale − 32, q in −4..3 from 2 low bits and a
 * high bit in hmask (byte e % 32, bit e / 32) that, when clear, means −4. */
static void unpack_q3_K(const block_q3_K *b, int8_t q[QK_K], int sc[16]) {
    for (int e = 0; e < QK_K; e++) {
        int high = (b->hmask[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(get_2bit(b->qs, e) - (high ? 0 : 4));
    }
    for (int j = 0; j < 16; j++) sc[j] = q3_scale(b->scales, j);
}

/* Signed scales to 6 bits against the one of largest magnitude
 * (d = −max/32), biased by 32 and packed as q3_scale reads them. */
static void q3_K_scales(block_q3_K *y, const float scales[16], float max_scale) {
    memset(y->scales, 0, sizeof y->scales);
    y->d = ts_fp32_to_fp16(0.f);
    if (max_scale == 0) return;
    float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; j++) {
        int8_t l8 = (int8_t)ts_nearest_int(iscale * scales[j]); /* ggml narrows first */
        int l = clamp_int(l8, -32, 31) + 32;
        if (j < 8)
            y->scales[j] = (uint8_t)(l & 0xF);
        else
            y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        y->scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
    y->d = ts_fp32_to_fp16(1 / iscale);
}

/* ggml's quantize_row_q3_K_ref on one super-block: fit each sub-block of
 * 16, store 6-bit signed scales, requantize against them and split the
 * levels 0..7 into 2 low bits and the high bit. */
static void quantize_block_q3_K(const float *x, block_q3_K *y) {
    uint8_t L[QK_K];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_q3(x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    q3_K_scales(y, scales, max_scale);
    for (int j = 0; j < 16; j++) {
        float d = ts_half_to_float(y->d) * q3_scale(y->scales, j);
        if (d == 0) continue;
        for (int l = 0; l < 16; l++)
            L[16 * j + l] = (uint8_t)(clamp_int(ts_nearest_int(x[16 * j + l] / d), -4, 3) + 4);
    }
    memset(y->hmask, 0, sizeof y->hmask);
    for (int e = 0; e < QK_K; e++) {
        if (L[e] > 3) {
            y->hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            L[e] -= 4;
        }
    }
    pack_2bit(L, y->qs);
}

void ts_dequantize_row_q3_K(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        int8_t q[QK_K];
        int sc[16];
        unpack_q3_K(&x[i], q, sc);
        float d = ts_half_to_float(x[i].d);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * sc[e / 16];
            y[e] = dl * q[e];
        }
    }
}

void ts_quantize_row_q3_K(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q3_K(x + i * QK_K, &y[i]);
}

float ts_vec_dot_q3_K(const void *vx, const void *vy, int64_t n) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        int sc[16];
        unpack_q3_K(&x[i], q, sc);
        float d = ts_half_to_float(x[i].d) * y[i].d;
        sumf += d * (float)scaled_isum(q, y[i].qs, sc, 16);
    }
    return sumf;
}

/* ----------------------------------------------------------- Q4_K, Q5_K */

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fit each sub-block of 32
 * with weights rms(x) + |x|, quantize scales and mins to 6 bits against
 * their maxima (d = max/63), then requantize L (0..nmax) against the
 * scales as stored. rmin, nstep: the search range of fit_scale_min. */
static void quantize_k4(const float *x, int nmax, float rmin, int nstep, uint8_t L[QK_K],
                        uint16_t *d, uint16_t *dmin, uint8_t s[12]) {
    float w[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xj[l]);
        scales[j] = fit_scale_min(32, nmax, xj, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        /* ggml narrows to uint8 before taking the min with 63 */
        uint8_t ls = (uint8_t)ts_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)ts_nearest_int(inv_min * mins[j]);
        k4_put(s, j, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    *d = ts_fp32_to_fp16(max_scale / 63.f);
    *dmin = ts_fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_get(s, j, &sc, &m);
        float dl = ts_half_to_float(*d) * sc;
        if (dl == 0) continue;
        float dm = ts_half_to_float(*dmin) * m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clamp_int(ts_nearest_int((x[32 * j + l] + dm) / dl), 0, nmax);
    }
}

/* x = d·sc·q − dmin·m per sub-block of 32 (q from unpack), into y. */
static void dequantize_k4(const int8_t q[QK_K], const uint8_t s[12], uint16_t hd, uint16_t hdmin,
                          float *y) {
    float d = ts_half_to_float(hd), dmin = ts_half_to_float(hdmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_get(s, j, &sc, &m);
        float dl = d * sc, ml = dmin * m;
        for (int l = 0; l < 32; l++) y[32 * j + l] = dl * q[32 * j + l] - ml;
    }
}

/* One super-block's Σ x·y: d·Σ sc·(q·q8) − dmin·Σ m·bsums. */
static float dot_k4(const int8_t q[QK_K], const uint8_t s[12], uint16_t hd, uint16_t hdmin,
                    const block_q8_K *y) {
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) k4_get(s, j, &sc[j], &m[j]);
    float d = ts_half_to_float(hd) * y->d, dmin = ts_half_to_float(hdmin) * y->d;
    int32_t isum = scaled_isum(q, y->qs, sc, 32), msum = min_isum(y->bsums, m, 32);
    return d * (float)isum - dmin * (float)msum;
}

/* Q4_K: q in 0..15; byte 32·p + l of qs holds element 64·p + l in its low
 * nibble and 64·p + 32 + l in its high nibble. */
static void unpack_q4_K(const block_q4_K *b, int8_t q[QK_K]) {
    for (int e = 0; e < QK_K; e++)
        q[e] = (int8_t)((b->qs[32 * (e / 64) + e % 32] >> (4 * (e % 64 / 32))) & 0xF);
}

/* Q5_K: Q4_K's nibbles plus a fifth bit, 16, in qh (byte e % 32, bit e / 32). */
static void unpack_q5_K(const block_q5_K *b, int8_t q[QK_K]) {
    for (int e = 0; e < QK_K; e++) {
        int lo = (b->qs[32 * (e / 64) + e % 32] >> (4 * (e % 64 / 32))) & 0xF;
        q[e] = (int8_t)(lo + ((b->qh[e % 32] >> (e / 32)) & 1) * 16);
    }
}

void ts_dequantize_row_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        unpack_q4_K(&x[i], q);
        dequantize_k4(q, x[i].scales, x[i].d, x[i].dmin, y + i * QK_K);
    }
}

void ts_quantize_row_q4_K(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        quantize_k4(x, 15, -1.f, 20, L, &y[i].d, &y[i].dmin, y[i].scales);
        for (int p = 0; p < QK_K / 64; p++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | L[64 * p + 32 + l] << 4);
    }
}

float ts_vec_dot_q4_K(const void *vx, const void *vy, int64_t n) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        unpack_q4_K(&x[i], q);
        sumf += dot_k4(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    return sumf;
}

void ts_dequantize_row_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        unpack_q5_K(&x[i], q);
        dequantize_k4(q, x[i].scales, x[i].d, x[i].dmin, y + i * QK_K);
    }
}

void ts_quantize_row_q5_K(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        quantize_k4(x, 31, -0.5f, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 15) y[i].qh[e % 32] |= (uint8_t)(1 << (e / 32));
        }
        for (int p = 0; p < QK_K / 64; p++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * p + l] =
                    (uint8_t)((L[64 * p + l] & 0xF) | (L[64 * p + 32 + l] & 0xF) << 4);
    }
}

float ts_vec_dot_q5_K(const void *vx, const void *vy, int64_t n) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        unpack_q5_K(&x[i], q);
        sumf += dot_k4(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    return sumf;
}

/* ------------------------------------------------------------------ Q6_K */

/* Q6_K: x = d·sc·q, sc int8 per sub-block of 16, q in −32..31 stored +32
 * as a nibble in ql and 2 bits in qh. In half h (128 values), element
 * 32·k + l has its nibble in byte 64·h + 32·(k & 1) + l of ql (high nibble
 * when k ≥ 2) and its top bits in bits 2k..2k+1 of byte 32·h + l of qh. */
static void unpack_q6_K(const block_q6_K *b, int8_t q[QK_K]) {
    for (int e = 0; e < QK_K; e++) {
        int h = e / 128, k = e % 128 / 32, l = e % 32;
        int lo = (b->ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xF;
        int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
        q[e] = (int8_t)((lo | hi << 4) - 32);
    }
}

/* The inverse of unpack_q6_K for levels L = q + 32 in 0..63. */
static void pack_q6_K(const uint8_t L[QK_K], block_q6_K *y) {
    for (int h = 0; h < QK_K / 128; h++) {
        const uint8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            y->ql[64 * h + l] = (uint8_t)((Lh[l] & 0xF) | (Lh[l + 64] & 0xF) << 4);
            y->ql[64 * h + 32 + l] = (uint8_t)((Lh[l + 32] & 0xF) | (Lh[l + 96] & 0xF) << 4);
            y->qh[32 * h + l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 |
                                          (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
        }
    }
}

/* ggml's quantize_row_q6_K_ref on one super-block: fit each sub-block of
 * 16, store int8 scales (an all-zero block stays all-zero bytes),
 * requantize against them. */
static void quantize_block_q6_K(const float *x, block_q6_K *y) {
    uint8_t L[QK_K];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(y, 0, sizeof *y);
        return;
    }
    /* scales to int8 against the one of largest magnitude: d = −max/128 */
    float iscale = -128.f / max_scale;
    y->d = ts_fp32_to_fp16(1 / iscale);
    for (int j = 0; j < 16; j++) {
        int l = ts_nearest_int(iscale * scales[j]);
        y->scales[j] = (int8_t)(l < 127 ? l : 127);
    }
    for (int j = 0; j < 16; j++) {
        float d = ts_half_to_float(y->d) * y->scales[j];
        if (d == 0) continue;
        for (int l = 0; l < 16; l++)
            L[16 * j + l] = (uint8_t)(clamp_int(ts_nearest_int(x[16 * j + l] / d), -32, 31) + 32);
    }
    pack_q6_K(L, y);
}

void ts_dequantize_row_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        int8_t q[QK_K];
        unpack_q6_K(&x[i], q);
        float d = ts_half_to_float(x[i].d);
        for (int e = 0; e < QK_K; e++) y[e] = d * x[i].scales[e / 16] * q[e];
    }
}

void ts_quantize_row_q6_K(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q6_K(x + i * QK_K, &y[i]);
}

float ts_vec_dot_q6_K(const void *vx, const void *vy, int64_t n) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        int sc[16];
        unpack_q6_K(&x[i], q);
        for (int j = 0; j < 16; j++) sc[j] = x[i].scales[j];
        float d = ts_half_to_float(x[i].d) * y[i].d;
        sumf += d * (float)scaled_isum(q, y[i].qs, sc, 16);
    }
    return sumf;
}

/* ------------------------------------------------------------------ Q8_K */

/* Q8_K: x = d·q with a float d = −max/127 (max: the value of largest
 * magnitude, so it maps to −127), q in −127..127, and bsums[k] = Σ of
 * quants 16k..16k+15 for the offsets of the formats with mins. An all-zero
 * block is all zero (ggml leaves its bsums unwritten; we zero them). */
void ts_dequantize_row_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int e = 0; e < QK_K; e++) y[e] = x[i].d * x[i].qs[e];
}

void ts_quantize_row_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax;
        float max = signed_absmax(QK_K, x, &amax);
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0) continue;
        float iscale = -127.f / max;
        for (int e = 0; e < QK_K; e++) {
            int v = ts_nearest_int(iscale * x[e]);
            y[i].qs[e] = (int8_t)(v < 127 ? v : 127);
        }
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * k + l];
            y[i].bsums[k] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}
