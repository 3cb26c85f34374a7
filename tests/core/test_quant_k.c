/*
 * test_quant_k.c — properties of the K-quant reference kernels (Q2_K, Q3_K,
 * Q4_K, Q5_K, Q6_K and the activation format Q8_K) that need no outside
 * reference: round-trip error within each format's bound, dot products
 * against dequantize-then-dot, hand-built blocks read as the format
 * definition says, zero rows, and Q8_K's block sums. The byte-for-byte
 * comparison with llama.cpp runs against committed reference data
 * elsewhere.
 *
 * Legend: n = row length (a multiple of QK_K = 256), b = super-block,
 * x̂ = dequantized weights, ŷ = dequantized Q8_K activations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/quant-impl.h"
#include "testutil.h"

#define MAX_N (3 * QK_K)

/* ------------------------------------------------------------ inputs */

/* uniform in (0, 1), from the shared splitmix64 (testutil.h) */
static double rng_unit(uint64_t *s) { return ((ts_test_rng_next(s) >> 11) + 0.5) * 0x1p-53; }

/* standard normal (Box–Muller) */
static double rng_normal(uint64_t *s) {
    double u = rng_unit(s), v = rng_unit(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

enum dist { NORMAL, UNIFORM, NEGATIVE, OUTLIERS, POSITIVE, WIDE, DIST_COUNT };

/* n values of distribution d; WIDE spans magnitudes 1e-2..1e3 per block
 * (inside the range of the half-precision super-scales). */
static void fill(float *x, int n, enum dist d, uint64_t *s) {
    double block_scale = 1;
    for (int i = 0; i < n; i++) {
        if (i % QK_K == 0) block_scale = pow(10, -2 + 5 * rng_unit(s));
        double g = rng_normal(s);
        switch (d) {
        case NORMAL:
            x[i] = (float)g;
            break;
        case UNIFORM:
            x[i] = (float)(2 * rng_unit(s) - 1);
            break;
        case NEGATIVE:
            x[i] = (float)(g - 3);
            break;
        case OUTLIERS:
            x[i] = (float)(rng_unit(s) < 0.02 ? 50 * g : g);
            break;
        case POSITIVE:
            x[i] = (float)rng_unit(s);
            break;
        default:
            x[i] = (float)(g * block_scale);
            break;
        }
    }
}

/* ------------------------------------------------------------ formats */

/* Round-trip bound in grid steps. The step is R/nmax for the formats with
 * a min (R = max − min(0, min) over the super-block, nmax + 1 levels) and
 * amax/nmax for the signed ones (levels −nmax..nmax−1). Rounding alone
 * gives half a step. Quantizing the sub-block scales and mins against
 * their maxima (to 4 bits in Q2_K, 6 in Q3_K..Q5_K, 8 in Q6_K) then moves
 * the bottom of a sub-block's grid by up to max_min/126 and its top by up
 * to nmax·max_scale/126 (for 6 bits), and the scale searches trade
 * clipped ends for a lower weighted error. Observed worst over 4000 blocks of several
 * distributions: Q2_K 1.00, Q3_K 1.10, Q4_K 1.15, Q5_K 1.38, Q6_K 0.75
 * steps; Q8_K is plain rounding, 0.5 step (plus float rounding). The RMS
 * error of uniform rounding is step/√12 ≈ 0.29 step; observed ≤ 0.34. */
typedef struct kformat {
    ts_type type;
    int nmax;
    bool has_min;
    double max_steps;
} kformat;

static const kformat formats[] = {
    {TS_TYPE_Q2_K, 3, true, 1.3},   {TS_TYPE_Q3_K, 4, false, 1.5},
    {TS_TYPE_Q4_K, 15, true, 1.5},  {TS_TYPE_Q5_K, 31, true, 1.8},
    {TS_TYPE_Q6_K, 32, false, 1.0}, {TS_TYPE_Q8_K, 127, false, 0.5001},
};
#define N_FORMATS     (sizeof formats / sizeof formats[0])
#define MAX_RMS_STEPS 0.4

static double grid_step(const kformat *f, const float *x) {
    float lo = 0, hi = x[0], amax = 0;
    for (int i = 0; i < QK_K; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
    }
    return f->has_min ? ((double)hi - lo) / f->nmax : (double)amax / f->nmax;
}

/* ----------------------------------------------------------- round trip */

static void check_roundtrip(const kformat *f, const float *x, int n) {
    _Alignas(8) uint8_t q[3 * sizeof(block_q8_K)];
    float y[MAX_N];
    ts_quantize_row(f->type, x, q, n);
    ts_dequantize_row(f->type, q, y, n);
    for (int b = 0; b < n / QK_K; b++) {
        const float *xb = x + b * QK_K, *yb = y + b * QK_K;
        double step = grid_step(f, xb), max_err = 0, sq = 0;
        for (int i = 0; i < QK_K; i++) {
            double e = fabs((double)xb[i] - yb[i]);
            if (e > max_err) max_err = e;
            sq += e * e;
        }
        if (max_err > f->max_steps * step || sqrt(sq / QK_K) > MAX_RMS_STEPS * step)
            fail_msg("%s block %d: max error %g, rms %g, step %g", ts_type_name(f->type), b,
                     max_err, sqrt(sq / QK_K), step);
    }
}

static void test_roundtrip_error(void **state) {
    (void)state;
    float x[MAX_N];
    for (size_t k = 0; k < N_FORMATS; k++) {
        uint64_t seed = 42 + k;
        for (int d = 0; d < DIST_COUNT; d++) {
            for (int rep = 0; rep < 32; rep++) {
                int n = rep % 2 ? MAX_N : QK_K;
                fill(x, n, (enum dist)d, &seed);
                check_roundtrip(&formats[k], x, n);
            }
        }
    }
}

/* ---------------------------------------------------------- dot products */

/* vec_dot(x̂, Q8_K(y)) against Σ x̂·y in double. The activation rounding
 * moves each y by at most d8/2 (d8 = that block's Q8_K scale; plus
 * 2^-17·d8 for the rounding of iscale·y and of d8), so per block the
 * difference is at most Σ|x̂|·0.50005·d8. Float rounding in the kernel
 * and in x̂ (about 12 roundings of 2^-24, each relative to terms of at
 * most 2·max|x̂|·|y|) stays under 2e-6·max|x̂|·Σ|y|. Against ŷ itself only
 * the float term remains. */
static void check_dot(ts_type type, const float *x, const float *y, int n) {
    _Alignas(8) uint8_t qx[3 * sizeof(block_q8_K)];
    block_q8_K qy[3];
    float xh[MAX_N], yh[MAX_N];
    ts_quantize_row(type, x, qx, n);
    ts_quantize_row(TS_TYPE_Q8_K, y, qy, n);
    ts_dequantize_row(type, qx, xh, n);
    ts_dequantize_row(TS_TYPE_Q8_K, qy, yh, n);
    double dot = ts_vec_dot(type, qx, qy, n);
    double exact_y = 0, exact_yh = 0, bound_y = 0, bound_yh = 0;
    for (int b = 0; b < n / QK_K; b++) {
        double max_x = 0, sum_x = 0, sum_y = 0, sum_yh = 0;
        for (int i = b * QK_K; i < (b + 1) * QK_K; i++) {
            exact_y += (double)xh[i] * y[i];
            exact_yh += (double)xh[i] * yh[i];
            max_x = fmax(max_x, fabs(xh[i]));
            sum_x += fabs(xh[i]);
            sum_y += fabs(y[i]);
            sum_yh += fabs(yh[i]);
        }
        bound_y += sum_x * 0.50005 * fabs(qy[b].d) + 2e-6 * max_x * sum_y;
        bound_yh += 2e-6 * max_x * sum_yh;
    }
    if (fabs(dot - exact_y) > bound_y || fabs(dot - exact_yh) > bound_yh)
        fail_msg("%s n=%d: dot %.9g, Σx̂y %.9g (bound %g), Σx̂ŷ %.9g (bound %g)", ts_type_name(type),
                 n, dot, exact_y, bound_y, exact_yh, bound_yh);
}

static void test_vec_dot(void **state) {
    (void)state;
    float x[MAX_N], y[MAX_N];
    uint64_t seed = 7;
    for (size_t k = 0; k + 1 < N_FORMATS; k++) { /* all but Q8_K */
        for (int d = 0; d < DIST_COUNT; d++) {
            for (int rep = 0; rep < 16; rep++) {
                int n = rep % 2 ? MAX_N : QK_K;
                fill(x, n, (enum dist)d, &seed);
                fill(y, n, (enum dist)((d + rep) % DIST_COUNT), &seed);
                check_dot(formats[k].type, x, y, n);
            }
        }
    }
}

/* ---------------------------------------------------- hand-built blocks */

/* Each block is written byte by byte from the format definition with
 * scales and quants whose products are exact in float. */

static void expect(const float *y, int e, float want) {
    if (y[e] != want) fail_msg("element %d: got %.9g, want %.9g", e, y[e], want);
}

static void test_block_q2_K(void **state) {
    (void)state;
    block_q2_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    b.d = 0x3c00;                            /* 1.0 */
    b.dmin = 0x3800;                         /* 0.5 */
    memset(b.scales, 0x12, sizeof b.scales); /* scale 2, min 1: q = 0 gives −0.5 */
    b.scales[9] = 0x35;                      /* values 144..159: scale 5, min 3 */
    b.qs[3] = 0xE4;       /* elements 3, 35, 67, 99 (bit pairs 0..3): q = 0, 1, 2, 3 */
    b.qs[32 + 17] = 0x03; /* element 128 + 17 = 145: q = 3 */
    ts_dequantize_row(TS_TYPE_Q2_K, &b, y, QK_K);
    expect(y, 0, -0.5f);
    expect(y, 3, -0.5f);
    expect(y, 35, 1.5f);
    expect(y, 67, 3.5f);
    expect(y, 99, 5.5f);
    expect(y, 144, -1.5f);
    expect(y, 145, 13.5f); /* 1·5·3 − 0.5·3 */
    expect(y, 255, -0.5f);
}

static void test_block_q3_K(void **state) {
    (void)state;
    /* 6-bit scales j + 24 (signed j − 8 after the −32 bias): low nibbles of
     * scales j and j + 8 in byte j, top 2 bits (1 for j < 8, 2 after) in
     * bits 2·(j/4) of byte 8 + j%4 */
    static const uint8_t scales[12] = {0x08, 0x19, 0x2A, 0x3B, 0x4C, 0x5D,
                                       0x6E, 0x7F, 0xA5, 0xA5, 0xA5, 0xA5};
    block_q3_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    memcpy(b.scales, scales, sizeof scales);
    b.d = 0x3800;      /* 0.5; hmask clear: q = 0 − 4 everywhere */
    b.qs[5] = 0xC0;    /* element 96 + 5 = 101: low bits 3 */
    b.hmask[5] = 0x08; /* element 3·32 + 5 = 101: high bit set, so q = 3 */
    b.hmask[7] = 0x01; /* element 7: high bit set, q = 0 */
    ts_dequantize_row(TS_TYPE_Q3_K, &b, y, QK_K);
    for (int e = 0; e < QK_K; e++) {
        if (e == 7 || e == 101) continue;
        expect(y, e, 0.5f * (float)(e / 16 - 8) * -4.0f);
    }
    expect(y, 101, 0.5f * -2 * 3); /* sub-block 6: scale −2 */
    expect(y, 7, 0.0f);
}

/* Q4_K / Q5_K scales: sc_j = 10 + 7j, m_j = 63 − 5j (j = 0..7), packed as
 * bytes j, j + 4 (low 6 bits, j < 4), nibbles of byte j + 8 and top bits
 * 6..7 of bytes j and j + 4 (for sub-block j + 4). */
static const uint8_t k4_scales[12] = {0x8A, 0x91, 0xD8, 0xDF, 0xBF, 0xBA,
                                      0xB5, 0x70, 0xB6, 0x6D, 0x14, 0xCB};

static float k4_base(int e) { return -0.25f * (float)(63 - 5 * (e / 32)); }

static void test_block_q4_K(void **state) {
    (void)state;
    block_q4_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    b.d = 0x3800;    /* 0.5 */
    b.dmin = 0x3400; /* 0.25 */
    memcpy(b.scales, k4_scales, sizeof k4_scales);
    b.qs[32 + 4] = 0x9E; /* element 64 + 4: 14 (low nibble); 96 + 4: 9 (high) */
    ts_dequantize_row(TS_TYPE_Q4_K, &b, y, QK_K);
    for (int e = 0; e < QK_K; e++) {
        if (e != 68 && e != 100) expect(y, e, k4_base(e));
    }
    expect(y, 68, 0.5f * 24 * 14 - 0.25f * 53);
    expect(y, 100, 0.5f * 31 * 9 - 0.25f * 48);
}

static void test_block_q5_K(void **state) {
    (void)state;
    block_q5_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    b.d = 0x3800;
    b.dmin = 0x3400;
    memcpy(b.scales, k4_scales, sizeof k4_scales);
    b.qs[32 + 4] = 0x9E;
    b.qh[4] = 0x0C; /* fifth bit (+16) of elements 2·32 + 4 and 3·32 + 4 */
    b.qh[0] = 0x80; /* and of element 7·32 + 0 */
    ts_dequantize_row(TS_TYPE_Q5_K, &b, y, QK_K);
    for (int e = 0; e < QK_K; e++) {
        if (e != 68 && e != 100 && e != 224) expect(y, e, k4_base(e));
    }
    expect(y, 68, 0.5f * 24 * 30 - 0.25f * 53);
    expect(y, 100, 0.5f * 31 * 25 - 0.25f * 48);
    expect(y, 224, 0.5f * 59 * 16 - 0.25f * 28);
}

static void test_block_q6_K(void **state) {
    (void)state;
    block_q6_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    b.d = 0x3400; /* 0.25; all quants 0 − 32 */
    for (int j = 0; j < 16; j++) b.scales[j] = (int8_t)(j - 8);
    /* element 200 = 128 + 2·32 + 8: high nibble of ql[64 + 8], bits 4..5
     * of qh[32 + 8]; stored 5 | 2 << 4 = 37, q = 5 */
    b.ql[72] = 0x50;
    b.qh[40] = 0x20;
    /* element 45 = 32 + 13: low nibble of ql[32 + 13], bits 2..3 of qh[13];
     * stored 63, q = 31 */
    b.ql[45] = 0x0F;
    b.qh[13] = 0x0C;
    ts_dequantize_row(TS_TYPE_Q6_K, &b, y, QK_K);
    for (int e = 0; e < QK_K; e++) {
        if (e != 45 && e != 200) expect(y, e, 0.25f * (float)(e / 16 - 8) * -32.0f);
    }
    expect(y, 200, 0.25f * 4 * 5);
    expect(y, 45, 0.25f * -6 * 31);
}

static void test_block_q8_K(void **state) {
    (void)state;
    block_q8_K b;
    float y[QK_K];
    memset(&b, 0, sizeof b);
    b.d = 0.5f;
    for (int e = 0; e < QK_K; e++) b.qs[e] = (int8_t)(e - 128);
    ts_dequantize_row(TS_TYPE_Q8_K, &b, y, QK_K);
    for (int e = 0; e < QK_K; e++) expect(y, e, 0.5f * (float)(e - 128));
}

/* ------------------------------------------------------------ zero rows */

static void test_zero_rows(void **state) {
    (void)state;
    float zero[MAX_N] = {0}, y[MAX_N], r[MAX_N];
    _Alignas(8) uint8_t q[3 * sizeof(block_q8_K)], zq[sizeof q] = {0};
    block_q8_K qr[3];
    uint64_t seed = 3;
    fill(r, MAX_N, NORMAL, &seed);
    ts_quantize_row(TS_TYPE_Q8_K, r, qr, MAX_N);
    for (size_t k = 0; k < N_FORMATS; k++) {
        ts_type t = formats[k].type;
        size_t size;
        assert_true(ts_type_row_size(t, MAX_N, &size));
        ts_quantize_row(t, zero, q, MAX_N);
        assert_memory_equal(q, zq, size); /* zero scales, zero quants */
        ts_dequantize_row(t, q, y, MAX_N);
        for (int i = 0; i < MAX_N; i++) assert_true(y[i] == 0.0f);
        if (t == TS_TYPE_Q8_K) continue;
        assert_true(ts_vec_dot(t, q, qr, MAX_N) == 0.0f);
        ts_quantize_row(t, r, q, MAX_N);
        assert_true(ts_vec_dot(t, q, zq, MAX_N) == 0.0f);
    }
}

/* ------------------------------------------------------------ Q8_K sums */

static void test_q8_K_bsums(void **state) {
    (void)state;
    float x[MAX_N];
    block_q8_K q[3];
    uint64_t seed = 11;
    for (int d = 0; d < DIST_COUNT; d++) {
        fill(x, MAX_N, (enum dist)d, &seed);
        ts_quantize_row(TS_TYPE_Q8_K, x, q, MAX_N);
        for (int b = 0; b < 3; b++) {
            for (int k = 0; k < QK_K / 16; k++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += q[b].qs[16 * k + l];
                assert_int_equal(q[b].bsums[k], sum);
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_error), cmocka_unit_test(test_vec_dot),
        cmocka_unit_test(test_block_q2_K),      cmocka_unit_test(test_block_q3_K),
        cmocka_unit_test(test_block_q4_K),      cmocka_unit_test(test_block_q5_K),
        cmocka_unit_test(test_block_q6_K),      cmocka_unit_test(test_block_q8_K),
        cmocka_unit_test(test_zero_rows),       cmocka_unit_test(test_q8_K_bsums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
