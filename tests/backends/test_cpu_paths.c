/*
 * test_cpu_paths.c — every ISA path's matrix kernel against the scalar
 * reference, and the reduction-order contract's arithmetic itself.
 *
 * - gemm: for each path this CPU runs (x86: avx2, avx512; ARM64: neon,
 *   dotprod) and each weight type it has a kernel for from the mapping
 *   (F32, F16, BF16), random weights and activations on odd shapes —
 *   rows not a multiple of the 8-row group, one token, a few tokens, a full
 *   tile of 64, reduction lengths of 1 and several blocks (and for the
 *   float types lengths that are not a multiple of the 32 lanes) — must
 *   give BITWISE the results of ts_cpu_gemm_ref (ts_vec_dot per element).
 *   A path the CPU lacks is reported as skipped.
 * - the repacked kernels (repack.c's 16-row layouts: every quantized
 *   weight type, Q4_0 … Q8_0, IQ4_NL, Q2_K … Q6_K): weights repacked, then
 *   the same shapes (rows around the 16-row group), bitwise, and every row
 *   unpacked back to the original bytes.
 * - the activation converters (Q8_0, Q8_1, Q8_K): bytes equal to
 *   ts_quantize_row's, ties and degenerate blocks included.
 * - the vector primitives (dot, mad, softmax, silu_mul) on lengths around
 *   the 8- and 32-lane steps, with ts_expf's clamped extremes: bitwise.
 * - the contract: ts_vec_dot(F32) equals the 32-partial sum and fold
 *   written out here; ts_expf stays within 2 ulp of expf over the range the
 *   kernels use; RoPE's sin, cos, log and pow (double, own series) stay
 *   within a few ulp of libm's; activations are quantized by the reference rule, on the
 *   case where llama.cpp's x86 quantizer rounds the other way
 *   (tests/models/test_qwen_tiny.py).
 *
 * Legend: K = reduction, m = weight rows, n = tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "core/fmath-impl.h"
#include "core/quant-impl.h"
#include "testutil.h"

static uint64_t rng_state = 0x5eed;

static float *randn(int64_t count, double scale) {
    float *x = malloc((size_t)count * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < count; i++) x[i] = (float)(scale * ts_test_rng_normal(&rng_state));
    return x;
}

/* Rows of `type` from random floats (each row with its own scale, so block
 * scales vary), stride *rs. Caller frees. Row r of the weights and row r
 * of the activations come from the same floats (the generator restarts
 * at one seed per shape): those dots have large integer block sums, so a
 * float formula applied in another order than the reference's rounds
 * differently there (with small sums, the products of two half scales
 * are exact and hide it). */
static uint8_t *random_rows(ts_type type, int64_t K, int64_t rows, size_t *rs, uint64_t seed) {
    assert_true(ts_type_row_size(type, K, rs));
    uint8_t *out = malloc(*rs * (size_t)rows);
    assert_non_null(out);
    rng_state = seed;
    for (int64_t r = 0; r < rows; r++) {
        float *x = randn(K, 0.01 + (double)(r % 5));
        ts_quantize_row(type, x, out + (size_t)r * *rs, K);
        free(x);
    }
    return out;
}

/* One shape on one path: bitwise equal to the reference. */
static void check_shape(const cpu_path *p, ts_type type, int64_t K, int64_t m, int64_t n) {
    const ts_type vt = ts_type_dot_type(type);
    size_t w_rs, x_rs;
    const uint64_t seed = (uint64_t)(K * 1000003 + m * 1009 + n);
    uint8_t *w = random_rows(type, K, m, &w_rs, seed);
    uint8_t *x = random_rows(vt, K, n, &x_rs, seed);
    const size_t out_rs = (size_t)m + 3; /* a stride wider than the rows */
    float *want = calloc(out_rs * (size_t)n, sizeof(float));
    float *got = calloc(out_rs * (size_t)n, sizeof(float));
    assert_true(want && got);
    cpu_gemm_args a = {.w = w,
                       .w_rs = w_rs,
                       .x = x,
                       .x_rs = x_rs,
                       .out = want,
                       .out_rs = out_rs,
                       .K = K,
                       .n_rows = m,
                       .n_tok = n};
    ts_cpu_gemm_ref(type, &a);
    a.out = got;
    p->gemm[type](&a);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            const float g = got[(size_t)j * out_rs + i], e = want[(size_t)j * out_rs + i];
            if (memcmp(&g, &e, sizeof g) != 0)
                fail_msg("%s %s K=%lld m=%lld n=%lld: out[%lld][%lld] = %.9g, reference %.9g",
                         p->name, ts_type_name(type), (long long)K, (long long)m, (long long)n,
                         (long long)j, (long long)i, (double)g, (double)e);
        }
    free(w), free(x), free(want), free(got);
}

/* Bitwise equal, except that any NaN matches any NaN: the contract fixes
 * values, not NaN payloads or signs (docs/ARCHITECTURE.md). */
static void expect_same(const char *path, const char *what, int64_t n, const float *got,
                        const float *want, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0 && !(isnan(got[i]) && isnan(want[i])))
            fail_msg("%s %s n=%lld: [%lld] = %.9g, reference %.9g", path, what, (long long)n,
                     (long long)i, (double)got[i], (double)want[i]);
}

/* The vector primitives on lengths around the 8- and 32-lane steps, with
 * the extremes ts_expf clamps (scores far below the max, silu of ±100). */
static void check_vectors(const cpu_path *p) {
    const cpu_path *ref = &ts_cpu_path_scalar;
    const int64_t ns[] = {1, 7, 8, 31, 32, 33, 64, 100, 1000};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const int64_t n = ns[k];
        float *x = randn(n, 3.0), *y = randn(n, 2.0), *g = randn(n, 1.0);
        uint16_t *xh = malloc((size_t)n * 2), *yh = malloc((size_t)n * 2);
        float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
        assert_true(xh && yh && a && b);
        ts_quantize_row(TS_TYPE_F16, x, xh, n);
        ts_quantize_row(TS_TYPE_F16, y, yh, n);
        float got = p->dot_f16(xh, yh, n), want = ref->dot_f16(xh, yh, n);
        expect_same(p->name, "dot_f16", n, &got, &want, 1);
        got = p->dot_f32(x, y, n), want = ref->dot_f32(x, y, n);
        expect_same(p->name, "dot_f32", n, &got, &want, 1);
        memcpy(a, y, (size_t)n * 4), memcpy(b, y, (size_t)n * 4);
        p->mad_f16(a, xh, 0.37f, n), ref->mad_f16(b, xh, 0.37f, n);
        expect_same(p->name, "mad_f16", n, a, b, n);
        p->mad_f32(a, x, -1.3f, n), ref->mad_f32(b, x, -1.3f, n);
        expect_same(p->name, "mad_f32", n, a, b, n);
        x[0] = -1e4f; /* e^(s − max) underflows to 0 */
        if (n > 2) x[2] = 100.0f, x[1] = -100.0f;
        memcpy(a, x, (size_t)n * 4), memcpy(b, x, (size_t)n * 4);
        p->softmax(a, n, 0.125f), ref->softmax(b, n, 0.125f);
        expect_same(p->name, "softmax", n, a, b, n);
        p->silu_mul(a, x, g, n), ref->silu_mul(b, x, g, n);
        expect_same(p->name, "silu_mul", n, a, b, n);
        free(x), free(y), free(g), free(xh), free(yh), free(a), free(b);
    }
}

/* The activation converters: bytes equal to ts_quantize_row, on random
 * rows and on blocks of exact halves (x·(1/d) = k + 1/2), zeros, ties of
 * magnitude with both signs (Q8_K's first-maximum rule), tiny values. */
static void check_quantizers(const cpu_path *p) {
    const int64_t n = 1024;
    for (int t = 0; t < TS_TYPE_COUNT; t++) {
        if (!p->quantize[t]) continue;
        size_t rs;
        assert_true(ts_type_row_size((ts_type)t, n, &rs));
        uint8_t *got = malloc(rs), *want = malloc(rs);
        assert_true(got && want);
        for (int trial = 0; trial < 8; trial++) {
            float *x = randn(n, trial == 7 ? 1e-30 : 1.0 + trial);
            if (trial == 1)
                for (int64_t i = 0; i < n; i++) /* d = 1: every level a tie */
                    x[i] = i % 32 == 0 ? 127.0f : (float)(i % 50 - 25) + 0.5f;
            if (trial == 2) memset(x, 0, 300 * sizeof *x);
            if (trial == 3)
                for (int64_t i = 0; i < n; i += 37) x[i] = i % 2 ? 9.0f : -9.0f;
            ts_quantize_row((ts_type)t, x, want, n);
            p->quantize[t](x, got, n);
            if (memcmp(got, want, rs) != 0)
                fail_msg("%s quantize %s trial %d: bytes differ from the reference", p->name,
                         ts_type_name((ts_type)t), trial);
            free(x);
        }
        free(got), free(want);
    }
}

/* The repacked kernels: repack random weights, run the kernel from a
 * group boundary, compare with the reference on the original rows. */
static void check_repacked(const cpu_path *p, ts_type type, int64_t K, int64_t m, int64_t n) {
    const ts_type vt = ts_type_dot_type(type);
    size_t w_rs, x_rs;
    const uint64_t seed = (uint64_t)(K * 1000003 + m * 1009 + n);
    uint8_t *w = random_rows(type, K, m, &w_rs, seed);
    uint8_t *x = random_rows(vt, K, n, &x_rs, seed);
    uint8_t *packed = malloc(ts_cpu_repack_size(type, K, m));
    float *want = calloc((size_t)m * (size_t)n, sizeof(float));
    float *got = calloc((size_t)m * (size_t)n, sizeof(float));
    assert_true(packed && want && got);
    /* in two calls, as two threads would */
    const int64_t groups = (m + TS_RP_ROWS - 1) / TS_RP_ROWS;
    ts_cpu_repack(type, w, w_rs, K, m, 0, groups / 2, packed);
    ts_cpu_repack(type, w, w_rs, K, m, groups / 2, groups, packed);
    cpu_gemm_args a = {.w = w,
                       .w_rs = w_rs,
                       .x = x,
                       .x_rs = x_rs,
                       .out = want,
                       .out_rs = (size_t)m,
                       .K = K,
                       .n_rows = m,
                       .n_tok = n};
    ts_cpu_gemm_ref(type, &a);
    a.w = packed, a.out = got;
    p->gemm_rp[type](&a);
    uint8_t *row = malloc(w_rs);
    assert_non_null(row);
    for (int64_t i = 0; i < m; i++) { /* every row back, byte for byte */
        ts_cpu_unpack_row(type, packed, K, i, row);
        if (memcmp(row, w + (size_t)i * w_rs, w_rs) != 0)
            fail_msg("%s unpack row %lld of K=%lld m=%lld differs from the original",
                     ts_type_name(type), (long long)i, (long long)K, (long long)m);
    }
    free(row);
    for (int64_t e = 0; e < m * n; e++)
        if (memcmp(&got[e], &want[e], sizeof got[e]) != 0)
            fail_msg("%s repacked %s K=%lld m=%lld n=%lld: out[%lld][%lld] = %.9g, reference %.9g",
                     p->name, ts_type_name(type), (long long)K, (long long)m, (long long)n,
                     (long long)(e / m), (long long)(e % m), (double)got[e], (double)want[e]);
    free(w), free(x), free(packed), free(want), free(got);
}

typedef void (*shape_check)(const cpu_path *p, ts_type type, int64_t K, int64_t m, int64_t n);

/* check on every (K, m) given and n tokens of 1, 3 and a full tile of 64. */
static void each_shape(shape_check check, const cpu_path *p, ts_type type, const int64_t Ks[3],
                       const int64_t ms[5]) {
    const int64_t ns[] = {1, 3, 64};
    for (size_t ki = 0; ki < 3; ki++)
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ni = 0; ni < 3; ni++) check(p, type, Ks[ki], ms[mi], ns[ni]);
}

/* Block sizes to try: 1, 2, 3, then every 5th, and a full block. */
static int next_block(int nq, int max_q) {
    const int n = nq < 3 ? nq + 1 : nq + 5;
    return nq < max_q && n > max_q ? max_q : n;
}

/* The fused attention against the reference, query for query: F16 and
 * F32 caches, head dims off the 8/16-dim steps, lists of 1 to several
 * chunks of 32, lanes ending at different lengths, block sizes from 1 to
 * full. */
static void check_attend_kernel(const cpu_path *p, cpu_attend_fn kernel, int max_q) {
    const int64_t c = 150, dims[] = {64, 24, 40};
    for (int half = 0; half < 2; half++)
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int nq = 1; nq <= max_q; nq = next_block(nq, max_q)) {
                const int64_t k = dims[di], g = 2, v = 120;
                const ts_type type = half ? TS_TYPE_F16 : TS_TYPE_F32;
                const size_t esz = half ? 2 : 4, rs = (size_t)(g * k) * esz;
                float *kf = randn(g * k * c, 1.0), *vf = randn(g * k * c, 1.0);
                float *q = randn(nq * k, 2.0);
                if (nq >= 3 && k == 24) q[2 * k + 5] = NAN; /* a NaN query: the same NaN out */
                uint8_t *kc = malloc(rs * (size_t)c), *vc = malloc(rs * (size_t)c);
                float *got = calloc((size_t)(nq * k), 4), *want = calloc((size_t)(nq * k), 4);
                int32_t *cells = malloc((size_t)v * sizeof *cells);
                size_t sz = ts_cpu_attend_scratch(k, v) * sizeof(float) + 2 * 64;
                void *scratch = aligned_alloc(64, (sz + 63) / 64 * 64);
                assert_true(kc && vc && got && want && cells && scratch);
                ts_quantize_row(type, kf, kc, g * k * c);
                ts_quantize_row(type, vf, vc, g * k * c);
                for (int64_t t = 0; t < v; t++) cells[t] = (int32_t)((t * 7 + 3) % c);
                cpu_attend_args a = {.k = kc + rs / 2,
                                     .v = vc + rs / 2,
                                     .rs = rs,
                                     .half = half,
                                     .dim = k,
                                     .cells = cells,
                                     .scale = 0.125f,
                                     .nq = nq,
                                     .max_len = v,
                                     .scratch = scratch};
                for (int i = 0; i < nq; i++) {
                    a.q[i] = q + i * k;
                    a.len[i] = (int32_t)(i == 0 ? v : 1 + (i * 37 + nq) % v);
                    a.out[i] = got + i * k;
                }
                kernel(&a);
                for (int i = 0; i < nq; i++) a.out[i] = want + i * k;
                ts_cpu_attend_ref(&ts_cpu_path_scalar, &a);
                expect_same(p->name, half ? "attend F16" : "attend F32", k, got, want, nq * k);
                free(kf), free(vf), free(q), free(kc), free(vc), free(got), free(want);
                free(cells), free(scratch);
            }
    printf("path %s: fused attention (%d queries) bitwise equal to the reference\n", p->name,
           max_q);
}

static void check_attend(const cpu_path *p) {
    if (p->attend) check_attend_kernel(p, p->attend, p->attend_q);
    if (p->attend_narrow) check_attend_kernel(p, p->attend_narrow, p->attend_narrow_q);
}

/* min_float, min_rp: the float and repacked weight types the path must
 * have kernels for (so that a kernel dropped from its table fails). */
static void check_path(const cpu_path *p, int min_float, int min_rp) {
    const char *missing = p->missing ? p->missing() : NULL;
    if (missing) {
        printf("path %s: this CPU lacks %s, skipped\n", p->name, missing);
        skip();
    }
    int n_types = 0;
    for (int t = 0; t < TS_TYPE_COUNT; t++) {
        if (!p->gemm[t]) continue;
        n_types++;
        const int64_t blk = ts_type_get((ts_type)t)->block_size;
        const bool flt = blk == 1;
        const int64_t Ks[3] = {flt ? 40 : blk, flt ? 96 : 3 * blk, flt ? 7 : 7 * blk};
        const int64_t ms[5] = {1, 7, 8, 13, 17};
        each_shape(check_shape, p, (ts_type)t, Ks, ms);
    }
    printf("path %s: %d weight types bitwise equal to the reference\n", p->name, n_types);
    assert_true(n_types >= min_float);
    int n_rp = 0;
    for (int t = 0; t < TS_TYPE_COUNT; t++) {
        if (!p->gemm_rp[t]) continue;
        n_rp++;
        const int64_t blk = ts_type_get((ts_type)t)->block_size;
        const int64_t Ks[3] = {blk, 3 * blk, 7 * blk}, ms[5] = {1, 15, 16, 17, 40};
        each_shape(check_repacked, p, (ts_type)t, Ks, ms);
    }
    printf("path %s: %d repacked weight types bitwise equal to the reference\n", p->name, n_rp);
    assert_true(n_rp >= min_rp);
    check_vectors(p);
    check_quantizers(p);
    check_attend(p);
}

#if defined(__x86_64__)
static void test_avx2(void **state) {
    (void)state;
    check_path(&ts_cpu_path_avx2, 3, 11); /* F32, F16, BF16; every quantized type */
}

static void test_avx512(void **state) {
    (void)state;
    check_path(&ts_cpu_path_avx512, 3, 11);
}
#endif

#if defined(__aarch64__)
static void test_neon(void **state) {
    (void)state;
    check_path(&ts_cpu_path_neon, 3, 11); /* F32, F16, BF16; every quantized type */
}

static void test_dotprod(void **state) {
    (void)state;
    check_path(&ts_cpu_path_dotprod, 3, 11);
}
#endif

/* ts_vec_dot(F32) is the contract's sum: term i into partial i mod 32 in
 * order, then partial i += partial i + w for w = 16, 8, 4, 2, 1. */
static void test_float_order(void **state) {
    (void)state;
    const int64_t K = 1000;
    float *x = randn(K, 1.0), *y = randn(K, 3.0);
    float p[32] = {0};
    for (int64_t i = 0; i < K; i++) p[i % 32] = p[i % 32] + x[i] * y[i];
    for (int w = 16; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) p[i] = p[i] + p[i + w];
    const float got = ts_vec_dot(TS_TYPE_F32, x, y, K);
    assert_memory_equal(&got, &p[0], sizeof got);
    free(x), free(y);
}

static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4), memcpy(&ib, &b, 4);
    return llabs((int64_t)ia - (int64_t)ib);
}

static void test_expf(void **state) {
    (void)state;
    int64_t worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.00731f) {
        const int64_t u = ulps(ts_expf(x), expf(x));
        worst = u > worst ? u : worst;
    }
    printf("ts_expf: at most %lld ulp from expf on [-87, 88]\n", (long long)worst);
    assert_true(worst <= 2);
    assert_true(ts_expf(0.0f) == 1.0f);
    assert_true(ts_expf(-100.0f) == 0.0f && ts_expf(100.0f) == INFINITY);
    assert_true(isnan(ts_expf(NAN)));
}

static double ulps_d(double a, double b) {
    return fabs(a - b) / (nextafter(fabs(b), INFINITY) - fabs(b));
}

/* RoPE's transcendental functions (core/fmath.c) against libm, in double:
 * angles up to 1e6 rad (positions × frequencies), the bases and scales of
 * real models. */
static void test_rope_math(void **state) {
    (void)state;
    double worst[4] = {0};
    for (double x = -1e6; x <= 1e6; x += 997.3 + x * 1e-3 * (x > 0)) {
        double s, c;
        ts_sincos_d(x, &s, &c);
        const double es = ulps_d(s, sin(x)), ec = ulps_d(c, cos(x));
        worst[0] = es > worst[0] ? es : worst[0];
        worst[1] = ec > worst[1] ? ec : worst[1];
    }
    for (double x = 0.001; x < 2e6; x *= 1.37) {
        const double e = ulps_d(ts_log_d(x), log(x));
        worst[2] = e > worst[2] ? e : worst[2];
    }
    const double bases[] = {10000.0, 500000.0, 1000000.0, 1e7};
    for (int i = 0; i < 4; i++)
        for (int n = 32; n <= 256; n *= 2) {
            const double e = ulps_d(ts_pow_d(bases[i], -2.0 / n), pow(bases[i], -2.0 / n));
            worst[3] = e > worst[3] ? e : worst[3];
        }
    printf("RoPE math vs libm (double ulps): sin %.1f, cos %.1f, log %.1f, pow %.1f\n", worst[0],
           worst[1], worst[2], worst[3]);
    /* an angle near 0 after reduction is absolutely, not relatively, exact */
    assert_true(worst[2] <= 4 && worst[3] <= 16);
    for (double x = -100; x <= 100; x += 0.37) {
        double s, c;
        ts_sincos_d(x, &s, &c);
        assert_true(fabs(s - sin(x)) <= 1e-15 && fabs(c - cos(x)) <= 1e-15);
    }
    double s, c;
    ts_sincos_d(1e6, &s, &c);
    assert_true(fabs(s - sin(1e6)) <= 1e-9 && fabs(c - cos(1e6)) <= 1e-9);
    assert_true(ts_exp_d(0.0) == 1.0 && ulps_d(ts_exp_d(1.0), M_E) <= 1);
}

/* Activations are quantized by ggml's reference rule on every path: d =
 * amax/127, q = roundf(x·(1/d)), half away from zero. The half-level case
 * of qwen2-yarn-q8_0-tied (tests/models/test_qwen_tiny.py): x =
 * -0.31708297 in a block of amax 1.7135973 gives -23 (llama.cpp's x86
 * quantizer, x·(127/amax) rounded half to even, gives -24); and an exact
 * half, 0.5·d, rounds away from zero. */
static void test_act_quantizer(void **state) {
    (void)state;
    float x[32] = {0};
    x[0] = 1.7135973f;
    x[5] = -0.31708297f;
    x[6] = 1.7135973f / 127.0f * 2.5f;
    block_q8_0 q;
    ts_quantize_row(TS_TYPE_Q8_0, x, &q, 32);
    assert_int_equal(q.qs[0], 127);
    assert_int_equal(q.qs[5], -23);
    assert_int_equal(q.qs[6], 3);
}

int main(void) {
    ts_cpu_tables_init(); /* the reference's F16 table, as ts_backend_cpu_new does */
    const struct CMUnitTest tests[] = {
#if defined(__x86_64__)
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_avx512),
#endif
#if defined(__aarch64__)
        cmocka_unit_test(test_neon),
        cmocka_unit_test(test_dotprod),
#endif
        cmocka_unit_test(test_float_order),
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_rope_math),
        cmocka_unit_test(test_act_quantizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
