/*
 * quant_legacy.c — the 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, IQ4_NL, and the activation format Q8_1.
 *
 * Quantizers equal llama.cpp's byte for byte: quantize_row_*_ref, and for
 * IQ4_NL quantize_iq4_nl without importance matrix (the path
 * ggml_quantize_chunk takes). Every float expression is evaluated in the
 * same order as there, and the file is compiled with -ffp-contract=off, so
 * the roundings are the same. Dot products follow ggml's scalar path:
 * integer sums per block, scaled by the product of the two half scales and
 * accumulated in float, so that they are deterministic.
 *
 * Legend: QK = 32 elements per block, nb = blocks per row, d = scale, m =
 * minimum. In a block, element j < 16 is the low nibble of qs[j] and element
 * j + 16 its high nibble; the Q5 types keep the 5th bit of element j in bit
 * j of qh, read as a little-endian u32.
 */
#include "core/quant-impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define QK 32

/* IQ4_NL's levels (ggml's kvalues_iq4nl): non-uniform, denser near zero
 * where weights cluster; sorted ascending. */
const int8_t ts_iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                    1,    13,   25,  38,  53,  69,  89,  113};

/* ---------------------------------------------------------------- helpers */

int ts_nearest_int(float fval) {
    /* fval + 1.5·2^23 has ulp 1, so the float addition rounds fval to an
     * integer (ties to even) that lands in the low mantissa bits, offset by
     * 2^22. Valid for |fval| < 2^22; ggml asserts that only in debug builds,
     * so neither do we. */
    float val = fval + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* C's (int)v for the quantizers' scaled values, which lie in (−128, 128)
 * unless the scale is degenerate — 1/d overflows for a block whose largest
 * magnitude is below ~2^-125, max − min for one spanning more than FLT_MAX
 * — and they are ±inf or NaN. C leaves that conversion undefined; the
 * references, compiled for x86, get 0x80000000 (low byte 0), so 0 here. */
static int trunc_level(float v) { return fabsf(v) < 128.0f ? (int)v : 0; }

static uint32_t load_u32le(const uint8_t b[4]) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void store_u32le(uint8_t b[4], uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> 8 * i);
}

/* q (QK levels, 4 bits used) → qs: element j low nibble, j + 16 high. */
static void pack_nibbles(const uint8_t q[QK], uint8_t qs[QK / 2]) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((q[j] & 0x0f) | (q[j + QK / 2] & 0x0f) << 4);
}

/* The 5th bits of q (QK levels) as qh's u32: bit j is element j's. */
static uint32_t pack_high_bits(const uint8_t q[QK]) {
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++) qh |= (uint32_t)(q[j] >> 4 & 1) << j;
    return qh;
}

/* qs (and the 5th bits qh, 0 for the 4-bit types) → q: QK levels. */
static void unpack_levels(const uint8_t qs[QK / 2], uint32_t qh, uint8_t q[QK]) {
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (uint8_t)((qs[j] & 0x0f) | (qh >> j & 1) << 4);
        q[j + QK / 2] = (uint8_t)((qs[j] >> 4) | (qh >> (j + QK / 2) & 1) << 4);
    }
}

/* ------------------------------------------- Q4_0, Q5_0: x ≈ (q − half)·d */

/* One block → levels q in [0, 2·half) and the scale d. The value of largest
 * magnitude (the first, on ties) maps exactly to the lowest level −half·d,
 * which has no positive counterpart: so d takes the opposite sign of that
 * value. trunc(x/d + half + 0.5) rounds half up; values of the other sign
 * may land on 2·half, which the min() clamps. */
static float quantize_sym(const float *x, int half, uint8_t q[QK]) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / (float)-half;
    const float id = d ? 1.0f / d : 0.0f;
    const float shift = (float)half + 0.5f;
    for (int j = 0; j < QK; j++) {
        int l = trunc_level(x[j] * id + shift);
        q[j] = (uint8_t)(l < 2 * half - 1 ? l : 2 * half - 1);
    }
    return d;
}

void ts_quantize_row_q4_0(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        y[b].d = ts_fp32_to_fp16(quantize_sym(x, 8, q));
        pack_nibbles(q, y[b].qs);
    }
}

void ts_quantize_row_q5_0(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        y[b].d = ts_fp32_to_fp16(quantize_sym(x, 16, q));
        pack_nibbles(q, y[b].qs);
        store_u32le(y[b].qh, pack_high_bits(q));
    }
}

void ts_dequantize_row_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d);
        unpack_levels(x[b].qs, 0, q);
        for (int j = 0; j < QK; j++) y[j] = (float)(q[j] - 8) * d;
    }
}

void ts_dequantize_row_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d);
        unpack_levels(x[b].qs, load_u32le(x[b].qh), q);
        for (int j = 0; j < QK; j++) y[j] = (float)(q[j] - 16) * d;
    }
}

/* Σ (q_j − half)·a_j over one block, exact in int. */
static int dot_sym(const uint8_t q[QK], int half, const int8_t a[QK]) {
    int sumi = 0;
    for (int j = 0; j < QK; j++) sumi += (q[j] - half) * a[j];
    return sumi;
}

float ts_vec_dot_q4_0(const void *vx, const void *vy, int64_t n) {
    const block_q4_0 *x = vx; /* (nb) */
    const block_q8_0 *y = vy; /* (nb) */
    uint8_t q[QK];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        unpack_levels(x[b].qs, 0, q);
        const int sumi = dot_sym(q, 8, y[b].qs);
        /* ggml's order for this type: (sumi·dx)·dy */
        sumf += (float)sumi * ts_half_to_float(x[b].d) * ts_half_to_float(y[b].d);
    }
    return sumf;
}

float ts_vec_dot_q5_0(const void *vx, const void *vy, int64_t n) {
    const block_q5_0 *x = vx; /* (nb) */
    const block_q8_0 *y = vy; /* (nb) */
    uint8_t q[QK];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        unpack_levels(x[b].qs, load_u32le(x[b].qh), q);
        const int sumi = dot_sym(q, 16, y[b].qs);
        sumf += (ts_half_to_float(x[b].d) * ts_half_to_float(y[b].d)) * (float)sumi;
    }
    return sumf;
}

/* ----------------------------------------------- Q4_1, Q5_1: x ≈ q·d + m */

/* One block → levels q in [0, nmax] with d = (max − min)/nmax and m = min;
 * trunc((x − min)/d + 0.5) rounds half up. Returns d, sets *min. */
static float quantize_asym(const float *x, int nmax, uint8_t q[QK], float *min) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < QK; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    const float d = (hi - lo) / (float)nmax;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) {
        /* (x − min)/d ≤ nmax·(1 + 3ε), so the clamp never binds for finite
         * d; ggml's Q5_1 omits it */
        int l = trunc_level((x[j] - lo) * id + 0.5f);
        q[j] = (uint8_t)(l < nmax ? l : nmax);
    }
    *min = lo;
    return d;
}

void ts_quantize_row_q4_1(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy; /* (nb) */
    uint8_t q[QK];
    float min;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        y[b].d = ts_fp32_to_fp16(quantize_asym(x, 15, q, &min));
        y[b].m = ts_fp32_to_fp16(min);
        pack_nibbles(q, y[b].qs);
    }
}

void ts_quantize_row_q5_1(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy; /* (nb) */
    uint8_t q[QK];
    float min;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        y[b].d = ts_fp32_to_fp16(quantize_asym(x, 31, q, &min));
        y[b].m = ts_fp32_to_fp16(min);
        pack_nibbles(q, y[b].qs);
        store_u32le(y[b].qh, pack_high_bits(q));
    }
}

void ts_dequantize_row_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d), m = ts_half_to_float(x[b].m);
        unpack_levels(x[b].qs, 0, q);
        for (int j = 0; j < QK; j++) y[j] = (float)q[j] * d + m;
    }
}

void ts_dequantize_row_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d), m = ts_half_to_float(x[b].m);
        unpack_levels(x[b].qs, load_u32le(x[b].qh), q);
        for (int j = 0; j < QK; j++) y[j] = (float)q[j] * d + m;
    }
}

/* One block of Σ (q_j·dx + m)·(a_j·dy) = dx·dy·Σ q_j·a_j + m·(dy·Σ a_j),
 * where Q8_1 carries s = dy·Σ a_j precomputed. */
static float dot_asym_block(const uint8_t q[QK], uint16_t dx, uint16_t m, const block_q8_1 *y) {
    int sumi = 0;
    for (int j = 0; j < QK; j++) sumi += q[j] * y->qs[j];
    return (ts_half_to_float(dx) * ts_half_to_float(y->d)) * (float)sumi +
           ts_half_to_float(m) * ts_half_to_float(y->s);
}

float ts_vec_dot_q4_1(const void *vx, const void *vy, int64_t n) {
    const block_q4_1 *x = vx; /* (nb) */
    const block_q8_1 *y = vy; /* (nb) */
    uint8_t q[QK];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        unpack_levels(x[b].qs, 0, q);
        sumf += dot_asym_block(q, x[b].d, x[b].m, &y[b]);
    }
    return sumf;
}

float ts_vec_dot_q5_1(const void *vx, const void *vy, int64_t n) {
    const block_q5_1 *x = vx; /* (nb) */
    const block_q8_1 *y = vy; /* (nb) */
    uint8_t q[QK];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        unpack_levels(x[b].qs, load_u32le(x[b].qh), q);
        sumf += dot_asym_block(q, x[b].d, x[b].m, &y[b]);
    }
    return sumf;
}

/* ---------------------------------------------------- Q8_0, Q8_1: x ≈ q·d */

/* One block → qs = round(x/d) (half away from zero) with d = amax/127. */
static float quantize_q8_block(const float *x, int8_t qs[QK]) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) qs[j] = (int8_t)trunc_level(roundf(x[j] * id));
    return d;
}

void ts_quantize_row_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy; /* (nb) */
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        y[b].d = ts_fp32_to_fp16(quantize_q8_block(x, y[b].qs));
    }
}

void ts_quantize_row_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy; /* (nb) */
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        const float d = quantize_q8_block(x, y[b].qs);
        int sum = 0;
        for (int j = 0; j < QK; j++) sum += y[b].qs[j];
        y[b].d = ts_fp32_to_fp16(d);
        y[b].s = ts_fp32_to_fp16((float)sum * d); /* with the float d, as ggml */
    }
}

void ts_dequantize_row_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx; /* (nb) */
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d);
        for (int j = 0; j < QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

void ts_dequantize_row_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx; /* (nb) */
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d);
        for (int j = 0; j < QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

float ts_vec_dot_q8_0(const void *vx, const void *vy, int64_t n) {
    const block_q8_0 *x = vx; /* (nb) */
    const block_q8_0 *y = vy; /* (nb) */
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += x[b].qs[j] * y[b].qs[j];
        sumf += (ts_half_to_float(x[b].d) * ts_half_to_float(y[b].d)) * (float)sumi;
    }
    return sumf;
}

/* ------------------------------------------------ IQ4_NL: x ≈ level[q]·d */

/* Index of the level nearest v, the upper one on ties: the number of
 * midpoints (a + b)/2 of neighbouring levels that v reaches, compared as
 * 2v >= a + b so that both sides are exact. Written !(2v < a + b) so that a
 * NaN v (the scale overflowed: values beyond ~1e19 square to inf) reaches
 * all of them and takes level 15, as in llama.cpp's binary search. */
static int iq4nl_index(float v) {
    const float v2 = v + v;
    int idx = 0;
    for (int i = 1; i < 16; i++)
        idx += !(v2 < (float)(ts_iq4nl_levels[i - 1] + ts_iq4nl_levels[i]));
    return idx;
}

/* With levels k_j chosen nearest to id·x_j: Σ w·k·x and Σ w·k², whose ratio
 * is the d minimizing Σ w·(x − d·k)². */
static void iq4nl_fit(const float *x, const float *w, float id, float *sumqx, float *sumq2) {
    float sqx = 0.0f, sq2 = 0.0f;
    for (int j = 0; j < QK; j++) {
        const float k = ts_iq4nl_levels[iq4nl_index(id * x[j])];
        sqx += w[j] * k * x[j];
        sq2 += w[j] * k * k;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

/* The scale of one block, as ggml's quantize_row_iq4_nl_impl with ntry = 7
 * and no importance matrix: weights x², a least-squares d for the levels
 * picked at id = 127/max, then for id = (t − 127)/max, t in −7..7 (the other
 * sign, so the lopsided levels meet the largest value from both ends); the
 * d of largest Σwkx²/Σwk² (least weighted error) wins. */
static float iq4nl_scale(const float *x) {
    float w[QK]; /* (QK) */
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        w[j] = x[j] * x[j];
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < 1e-15f) return 0.0f; /* ggml's GROUP_MAX_EPS: all zero */
    const float d0 = -max / (float)ts_iq4nl_levels[0];
    float sumqx, sumq2;
    iq4nl_fit(x, w, 1.0f / d0, &sumqx, &sumq2);
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int t = -7; t <= 7; t++) {
        iq4nl_fit(x, w, (float)(t + ts_iq4nl_levels[0]) / max, &sumqx, &sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

void ts_quantize_row_iq4_nl(const float *x, void *vy, int64_t n) {
    block_iq4_nl *y = vy; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        const float d = iq4nl_scale(x);
        const float id = d ? 1.0f / d : 0.0f; /* levels from the float d */
        for (int j = 0; j < QK; j++) q[j] = (uint8_t)iq4nl_index(id * x[j]);
        y[b].d = ts_fp32_to_fp16(d);
        pack_nibbles(q, y[b].qs);
    }
}

void ts_dequantize_row_iq4_nl(const void *vx, float *y, int64_t n) {
    const block_iq4_nl *x = vx; /* (nb) */
    uint8_t q[QK];
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        const float d = ts_half_to_float(x[b].d);
        unpack_levels(x[b].qs, 0, q);
        for (int j = 0; j < QK; j++) y[j] = (float)ts_iq4nl_levels[q[j]] * d;
    }
}

float ts_vec_dot_iq4_nl(const void *vx, const void *vy, int64_t n) {
    const block_iq4_nl *x = vx; /* (nb) */
    const block_q8_0 *y = vy;   /* (nb) */
    uint8_t q[QK];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK; b++) {
        unpack_levels(x[b].qs, 0, q);
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += ts_iq4nl_levels[q[j]] * y[b].qs[j];
        sumf += (ts_half_to_float(x[b].d) * ts_half_to_float(y[b].d)) * (float)sumi;
    }
    return sumf;
}
