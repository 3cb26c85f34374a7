/*
 * test_quant_legacy.c — the 32-element block formats (Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, Q8_1, IQ4_NL) against properties fixed by their definitions:
 * quantize → dequantize error within each format's bound, dot products
 * against dequantize-then-dot, hand-written blocks, zero rows. Bit-exact
 * comparisons with gguf-py and llama.cpp live with the reference tests.
 *
 * Bounds use: a half (IEEE binary16) scale is within 2^-11 relative of the
 * float it rounds (normal range; the rows here keep scales there), and a
 * float operation within 2^-24 relative.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/quant-impl.h"
#include "testutil.h"

#define QK        32
#define MAX_N     256
#define MAX_BYTES (MAX_N / QK * 36) /* the largest block is Q8_1's 36 bytes */
#define HALF_REL  0x1p-11           /* relative rounding of a normal half */
#define FLT_REL   0x1p-24           /* relative rounding of a float op */

static const ts_type types[] = {TS_TYPE_Q4_0, TS_TYPE_Q4_1, TS_TYPE_Q5_0,  TS_TYPE_Q5_1,
                                TS_TYPE_Q8_0, TS_TYPE_Q8_1, TS_TYPE_IQ4_NL};
static const int64_t lengths[] = {32, 224, 256};
#define N_TYPES   (sizeof types / sizeof types[0])
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

static const int8_t iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};

/* ------------------------------------------------------------ seeded rows */

static uint64_t rng_state;

/* the shared generator on this file's state (testutil.h) */
static uint64_t next_u64(void) { return ts_test_rng_next(&rng_state); }
static double uniform(void) { return ts_test_rng_uniform(&rng_state); }
static double normal(void) { return ts_test_rng_normal(&rng_state); }

enum { ROW_NORMAL, ROW_UNIFORM, ROW_SHIFTED, ROW_OUTLIER, ROW_NEGATIVE, ROW_KINDS };

/* n values of `kind` at a scale in [1e-2, 1e2]: shifted rows sit far from
 * zero (a large minimum for Q4_1/Q5_1), outlier rows carry one value 50x
 * the rest, negative rows have their largest magnitude negative. */
static void fill_row(float *x, int64_t n, int kind, uint64_t seed) {
    rng_state = seed;
    const double scale = pow(10.0, 4.0 * uniform() - 2.0);
    for (int64_t i = 0; i < n; i++) {
        double v = kind == ROW_UNIFORM ? 2.0 * uniform() - 1.0 : normal();
        if (kind == ROW_SHIFTED) v = 0.3 * v + 5.0;
        if (kind == ROW_NEGATIVE) v = -fabs(v);
        x[i] = (float)(scale * v);
    }
    if (kind == ROW_OUTLIER) x[next_u64() % (uint64_t)n] = (float)(50.0 * scale);
}

/* ------------------------------------------------------------ block reads */

/* Scale d, minimum m (0 for the symmetric types) and Q8_1's s of block b. */
static void block_scales(ts_type t, const uint8_t *row, int64_t b, float *d, float *m, float *s) {
    const uint8_t *blk = row + b * (int64_t)ts_type_get(t)->type_size;
    uint16_t h[2];
    memcpy(h, blk, sizeof h); /* every layout starts with d, then m or s when present */
    *d = ts_fp16_to_fp32(h[0]);
    *m = (t == TS_TYPE_Q4_1 || t == TS_TYPE_Q5_1) ? ts_fp16_to_fp32(h[1]) : 0.0f;
    *s = t == TS_TYPE_Q8_1 ? ts_fp16_to_fp32(h[1]) : 0.0f;
}

/* ---------------------------------------------- quantize → dequantize */

/* Largest |x − y| for element x reconstructed as y in a block of (half)
 * scale d and minimum m. Rounding to the nearest level costs half a step,
 * a whole one where Q4_0/Q5_0 clamp the top level (7·d, 15·d: the value of
 * largest magnitude sits at the bottom level −8·d, −16·d, so one of the
 * other sign may round past the top); the half d is off by 2^-11 for up to
 * qmax steps, the half m by 2^-11·|m|; 2^-20·(|x| + |m|) covers float
 * roundings. IQ4_NL is checked by nearest level instead. */
static double roundtrip_bound(ts_type t, float x, float y, float d, float m) {
    double qmax = 127, step = 0.5; /* Q8_0, Q8_1 */
    if (t == TS_TYPE_Q4_0 || t == TS_TYPE_Q5_0) {
        const float top = t == TS_TYPE_Q4_0 ? 7.0f : 15.0f;
        qmax = top + 1;
        if (y == top * d) step = 1.0;
    } else if (t == TS_TYPE_Q4_1 || t == TS_TYPE_Q5_1) {
        qmax = t == TS_TYPE_Q4_1 ? 15 : 31;
    }
    const double ad = fabs(d) * (1 + 2 * HALF_REL); /* ≥ the float scale */
    return ad * (step + qmax * HALF_REL) + fabs(m) * 2 * HALF_REL + (fabs(x) + fabs(m)) * 0x1p-20;
}

/* IQ4_NL takes the level nearest x/d for the float d, so against the half
 * d it is at most 2·127 half-roundings of d worse than the nearest level. */
static void check_iq4nl_element(float x, float y, float d) {
    double nearest = INFINITY;
    for (int k = 0; k < 16; k++) nearest = fmin(nearest, fabs(x - iq4nl_levels[k] * (double)d));
    const double slack = 254 * HALF_REL * fabs(d) * (1 + 2 * HALF_REL) + fabs(x) * 0x1p-20;
    assert_true(fabs(x - y) <= nearest + slack);
}

static void check_roundtrip(ts_type t, const float *x, int64_t n) {
    uint8_t q[MAX_BYTES];
    float y[MAX_N];
    ts_quantize_row(t, x, q, n);
    ts_dequantize_row(t, q, y, n);
    for (int64_t b = 0; b < n / QK; b++) {
        float d, m, s;
        block_scales(t, q, b, &d, &m, &s);
        for (int64_t i = b * QK; i < (b + 1) * QK; i++) {
            if (t == TS_TYPE_IQ4_NL) {
                check_iq4nl_element(x[i], y[i], d);
            } else if (fabs(x[i] - y[i]) > roundtrip_bound(t, x[i], y[i], d, m)) {
                fail_msg("%s n=%lld element %lld: x=%g y=%g d=%g m=%g", ts_type_name(t),
                         (long long)n, (long long)i, x[i], y[i], d, m);
            }
        }
    }
}

static void test_roundtrip_bounds(void **state) {
    (void)state;
    float x[MAX_N];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        for (size_t li = 0; li < N_LENGTHS; li++) {
            for (int kind = 0; kind < ROW_KINDS; kind++) {
                for (uint64_t seed = 1; seed <= 20; seed++) {
                    fill_row(x, lengths[li], kind, seed * 131 + (uint64_t)kind);
                    check_roundtrip(types[ti], x, lengths[li]);
                }
            }
        }
    }
}

/* Q8_1's s is d·Σq as a half: within a half rounding of the product with
 * the float d, itself within 2^-11 of the half d. */
static void test_q8_1_sum(void **state) {
    (void)state;
    float x[MAX_N];
    block_q8_1 q[MAX_N / QK];
    for (uint64_t seed = 1; seed <= 50; seed++) {
        fill_row(x, MAX_N, (int)(seed % ROW_KINDS), seed);
        ts_quantize_row(TS_TYPE_Q8_1, x, q, MAX_N);
        for (int b = 0; b < MAX_N / QK; b++) {
            int sum = 0;
            for (int j = 0; j < QK; j++) sum += q[b].qs[j];
            const double want = (double)ts_fp16_to_fp32(q[b].d) * sum;
            const double got = ts_fp16_to_fp32(q[b].s);
            assert_true(fabs(got - want) <= fabs(want) * 4 * HALF_REL);
        }
    }
}

/* ------------------------------------------------------------ dot product */

/* vec_dot(x, y) against Σ x̂·ŷ (both dequantized) and Σ x̂·y (y exact).
 * The first differs only by float rounding — per block (dx·dy)·Σq·a and
 * m·s, then a float running sum over nb blocks: (nb + 4)·2^-24 relative to
 * the magnitudes involved — and, for Q4_1/Q5_1, by s = d·Σa held as a
 * half: |m|·Σ|ŷ|·2^-9. The second adds the activation's own quantization
 * error, |ŷ − y| ≤ (1/2 + 127·2^-11)·dy per element. */
static void check_dot(ts_type t, const float *x, const float *y, int64_t n) {
    const ts_type yt = ts_type_dot_type(t);
    uint8_t qx[MAX_BYTES], qy[MAX_BYTES];
    float xh[MAX_N], yh[MAX_N];
    ts_quantize_row(t, x, qx, n);
    ts_quantize_row(yt, y, qy, n);
    ts_dequantize_row(t, qx, xh, n);
    ts_dequantize_row(yt, qy, yh, n);
    const double got = ts_vec_dot(t, qx, qy, n);
    double want_q = 0, want = 0, mag = 0, half_s = 0, act = 0;
    for (int64_t b = 0; b < n / QK; b++) {
        float dx, mx, sx, dy, my, sy;
        block_scales(t, qx, b, &dx, &mx, &sx);
        block_scales(yt, qy, b, &dy, &my, &sy);
        double abs_yh = 0;
        for (int64_t i = b * QK; i < (b + 1) * QK; i++) {
            want_q += (double)xh[i] * yh[i];
            want += (double)xh[i] * y[i];
            mag += (fabs(xh[i] - mx) + fabs(xh[i])) * fabs(yh[i]);
            abs_yh += fabs(yh[i]);
            act += fabs(xh[i]) *
                   (fabs(dy) * (1 + 2 * HALF_REL) * (0.5 + 127 * HALF_REL) + fabs(y[i]) * 0x1p-20);
        }
        mag += fabs(mx * sy);
        half_s += fabs(mx) * abs_yh * 0x1p-9;
    }
    const double bound_q = (double)(n / QK + 4) * FLT_REL * mag + half_s;
    if (fabs(got - want_q) > bound_q || fabs(got - want) > bound_q + act) {
        fail_msg("%s n=%lld: dot %.9g, dequantized %.9g (bound %.3g), exact y %.9g (bound %.3g)",
                 ts_type_name(t), (long long)n, got, want_q, bound_q, want, bound_q + act);
    }
}

static void test_dot_vs_dequantized(void **state) {
    (void)state;
    float x[MAX_N], y[MAX_N];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        if (types[ti] == TS_TYPE_Q8_1) continue; /* activation-only: no dot */
        for (size_t li = 0; li < N_LENGTHS; li++) {
            for (uint64_t seed = 1; seed <= 40; seed++) {
                fill_row(x, lengths[li], (int)(seed % ROW_KINDS), seed);
                fill_row(y, lengths[li], ROW_NORMAL, seed + 1000);
                check_dot(types[ti], x, y, lengths[li]);
            }
        }
    }
}

/* ----------------------------------------------------------- known blocks */

/* Blocks written byte by byte from the format definitions; halves: 0x3400
 * = 0.25, 0x3800 = 0.5, 0x3c00 = 1, 0x4000 = 2, 0xc000 = −2. */
static void test_known_dequantize(void **state) {
    (void)state;
    float y[QK];

    block_q4_0 q40 = {.d = 0x3800};
    memset(q40.qs, 0x88, sizeof q40.qs); /* level 8: 0 */
    q40.qs[0] = 0x9f;                    /* x0 = (15−8)·0.5, x16 = (9−8)·0.5 */
    q40.qs[1] = 0x08;                    /* x1 = 0, x17 = (0−8)·0.5 */
    ts_dequantize_row(TS_TYPE_Q4_0, &q40, y, QK);
    assert_true(y[0] == 3.5f && y[16] == 0.5f && y[1] == 0.0f && y[17] == -4.0f && y[5] == 0.0f);

    block_q4_1 q41 = {.d = 0x3c00, .m = 0xc000};
    memset(q41.qs, 0, sizeof q41.qs);
    q41.qs[0] = 0xf0; /* x0 = 0·1 − 2, x16 = 15·1 − 2 */
    ts_dequantize_row(TS_TYPE_Q4_1, &q41, y, QK);
    assert_true(y[0] == -2.0f && y[16] == 13.0f && y[7] == -2.0f);

    block_q5_0 q50 = {.d = 0x4000, .qh = {0x01, 0x00, 0x00, 0x80}}; /* 5th bits of x0, x31 */
    memset(q50.qs, 0, sizeof q50.qs);
    q50.qs[15] = 0x5a; /* x15 = (10−16)·2, x31 = (5+16−16)·2 */
    ts_dequantize_row(TS_TYPE_Q5_0, &q50, y, QK);
    assert_true(y[0] == 0.0f && y[16] == -32.0f && y[15] == -12.0f && y[31] == 10.0f);

    block_q5_1 q51 = {.d = 0x3800, .m = 0x3c00, .qh = {0x00, 0x00, 0x01, 0x00}}; /* x16 */
    memset(q51.qs, 0, sizeof q51.qs);
    q51.qs[0] = 0xf3; /* x0 = 3·0.5 + 1, x16 = 31·0.5 + 1 */
    ts_dequantize_row(TS_TYPE_Q5_1, &q51, y, QK);
    assert_true(y[0] == 2.5f && y[16] == 16.5f && y[1] == 1.0f);

    block_q8_0 q80 = {.d = 0x3400, .qs = {-128, 127, 1, -1}};
    ts_dequantize_row(TS_TYPE_Q8_0, &q80, y, QK);
    assert_true(y[0] == -32.0f && y[1] == 31.75f && y[2] == 0.25f && y[3] == -0.25f &&
                y[4] == 0.0f);

    block_q8_1 q81 = {.d = 0x4000, .s = 0xc000, .qs = {3, -5}};
    ts_dequantize_row(TS_TYPE_Q8_1, &q81, y, QK);
    assert_true(y[0] == 6.0f && y[1] == -10.0f && y[2] == 0.0f);

    block_iq4_nl iq = {.d = 0x3c00};
    memset(iq.qs, 0, sizeof iq.qs);
    iq.qs[0] = 0xf0; /* x0 = level 0, x16 = level 15 */
    iq.qs[1] = 0x78; /* x1 = level 8, x17 = level 7 */
    ts_dequantize_row(TS_TYPE_IQ4_NL, &iq, y, QK);
    assert_true(y[0] == -127.0f && y[16] == 113.0f && y[1] == 1.0f && y[17] == -10.0f);
}

/* Quantizations worked out by hand from the definitions. */
static void test_known_quantize(void **state) {
    (void)state;
    float x[QK] = {0};

    /* Q8_0: amax 127 gives d = 1; round half away from zero */
    x[0] = 127.0f, x[1] = -63.5f, x[2] = 0.5f, x[3] = -0.5f, x[4] = 1.49f;
    block_q8_0 q80;
    ts_quantize_row(TS_TYPE_Q8_0, x, &q80, QK);
    assert_int_equal(q80.d, 0x3c00);
    const int8_t want80[5] = {127, -64, 1, -1, 1};
    assert_memory_equal(q80.qs, want80, 5);
    assert_int_equal(q80.qs[5], 0);

    /* Q4_0: the largest magnitude −8 (first of −8 and 8) gives d = 1 and
     * level 0; q = trunc(x + 8.5) rounds half up; 8 would be level 16,
     * clamped to 15; zeros are level 8 */
    memset(x, 0, sizeof x);
    x[0] = -8.0f, x[1] = 7.4f, x[2] = 0.5f, x[3] = -0.5f, x[4] = 8.0f, x[16] = -7.5f;
    block_q4_0 q40;
    ts_quantize_row(TS_TYPE_Q4_0, x, &q40, QK);
    assert_int_equal(q40.d, 0x3c00);
    /* x0 | x16 << 4, x1 | x17 << 4, ... with x16 = −7.5 at level 1 */
    const uint8_t want40[5] = {0x10, 0x8f, 0x89, 0x88, 0x8f};
    assert_memory_equal(q40.qs, want40, 5);
    assert_int_equal(q40.qs[5], 0x88);

    /* Q4_1: min −1, max 14 give d = 1, m = −1; x − m rounds half up */
    for (int j = 0; j < QK; j++) x[j] = (float)(j % 16) - 1.0f;
    x[5] = 3.5f; /* (3.5 + 1) + 0.5 = 5 → level 5 */
    block_q4_1 q41;
    ts_quantize_row(TS_TYPE_Q4_1, x, &q41, QK);
    assert_int_equal(q41.d, 0x3c00);
    assert_int_equal(q41.m, 0xbc00); /* −1 */
    for (int j = 0; j < QK / 2; j++) assert_int_equal(q41.qs[j], j * 0x11);

    /* IQ4_NL: a block made of the levels themselves (max = −127). The
     * trial id = (0 − 127)/max = 1 maps every value onto its own level,
     * which attains the best weighted fit there is (Cauchy–Schwarz: equality
     * only when the levels are proportional to x), so d = 1 and the levels
     * are kept. Halving every value halves d, exactly. */
    for (int j = 0; j < QK; j++) x[j] = 0.5f * iq4nl_levels[j % 16];
    block_iq4_nl iq;
    ts_quantize_row(TS_TYPE_IQ4_NL, x, &iq, QK);
    assert_int_equal(iq.d, 0x3800);
    for (int j = 0; j < QK / 2; j++) assert_int_equal(iq.qs[j], j * 0x11);
}

/* ggml's nearest_int: the float magic-number trick rounds ties to even. */
static void test_nearest_int(void **state) {
    (void)state;
    static const float in[] = {0.5f,  1.5f,           2.5f,  -0.5f, -1.5f,      -2.5f,
                               3.49f, 0x1.000002p-1f, -7.6f, 0.0f,  4194303.0f, -4194303.0f};
    static const int want[] = {0, 2, 2, 0, -2, -2, 3, 1, -8, 0, 4194303, -4194303};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        assert_int_equal(ts_nearest_int(in[i]), want[i]);
    }
}

/* ------------------------------------------------------------------ zeros */

/* An all-zero row has zero scales (Q4_0/Q5_0 store −0: d = max/−8 with
 * max = +0) and dequantizes to zeros; its dots are zero. */
static void test_zero_rows(void **state) {
    (void)state;
    float x[MAX_N] = {0}, y[MAX_N], r[MAX_N];
    uint8_t q[MAX_BYTES], qy[MAX_BYTES];
    fill_row(r, MAX_N, ROW_NORMAL, 7);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ts_type t = types[ti];
        ts_quantize_row(t, x, q, MAX_N);
        for (int64_t b = 0; b < MAX_N / QK; b++) {
            float d, m, s;
            block_scales(t, q, b, &d, &m, &s);
            assert_true(d == 0.0f && m == 0.0f && s == 0.0f);
        }
        ts_dequantize_row(t, q, y, MAX_N);
        for (int i = 0; i < MAX_N; i++) assert_true(y[i] == 0.0f);
        if (t == TS_TYPE_Q8_1) continue;
        ts_quantize_row(ts_type_dot_type(t), r, qy, MAX_N);
        assert_true(ts_vec_dot(t, q, qy, MAX_N) == 0.0f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bounds),   cmocka_unit_test(test_q8_1_sum),
        cmocka_unit_test(test_dot_vs_dequantized), cmocka_unit_test(test_known_dequantize),
        cmocka_unit_test(test_known_quantize),     cmocka_unit_test(test_nearest_int),
        cmocka_unit_test(test_zero_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
