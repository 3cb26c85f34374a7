/*
 * test_cpu_ops.c — the CPU backend against plain float64 references written
 * here from the math of each op (graph.h), on small graphs with odd sizes:
 *
 * - GET_ROWS: the dequantized rows, bitwise;
 * - MUL_MAT over F32/F16/Q8_0/Q4_0/Q4_1/Q4_K/Q6_K: bitwise the library's
 *   row dot product on the converted activations (the op's definition), and
 *   within the activation-quantization bound of dequantize-then-double-dot;
 * - ADD, MUL with broadcasts: bitwise one float operation;
 * - RMS_NORM, SWIGLU: within a few float roundings of the double formulas;
 * - ROPE normal / NeoX / partial / frequency factors / linear / YaRN against
 *   the formulas in double, within the drift of the iterated float angle;
 * - ATTENTION (F16 and F32 caches, grouped heads, per-token cell lists)
 *   against softmax in double, within the F16 roundings of q and p;
 * - SET_ROWS: converted rows land at their indices, others untouched;
 * and the properties the backend promises: bitwise identical results with
 * 1 and 2 threads, a token alone equal to the same token inside a batch,
 * the abort callback stopping a graph, unsupported nodes rejected by name.
 *
 * Legend: n = tokens, d = width, K = reduction, m = output rows, k = head
 * dim, h = query heads, g = KV heads, c = cache cells, v = list capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/backend.h"
#include "tessera/graph.h"
#include "tessera/quant.h"
#include "testutil.h"

#define FLT_REL  0x1p-24 /* relative rounding of one float operation */
#define HALF_REL 0x1p-11 /* relative rounding to F16 (normal range) */

static ts_backend *be1, *be2; /* 1 and 2 threads */

/* ---------------------------------------------------------------- random */

static uint64_t rng_state;

/* the shared generator on this file's state (testutil.h) */
static double normal(void) { return ts_test_rng_normal(&rng_state); }

static float *randn(int64_t count, double scale) {
    float *x = malloc((size_t)count * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < count; i++) x[i] = (float)(scale * normal());
    return x;
}

static int32_t *ints(int64_t count) {
    int32_t *x = calloc((size_t)count, sizeof *x);
    assert_non_null(x);
    return x;
}

/* ------------------------------------------------------------ graph runs */

/* A planned, bound graph run on `be`; the arena (prefilled with 0xff, so an
 * output never written reads as NaN) stays until run_done. */
typedef struct run {
    void *arena;
    ts_backend *be;
} run;

static ts_status run_graph(ts_graph *g, ts_backend *be, run *r, ts_abort_fn abort, void *user) {
    size_t size;
    ts_graph_plan(g, &size);
    r->be = be;
    assert_int_equal(ts_backend_buffer_alloc(be, size, &r->arena), TS_OK);
    assert_int_equal((uintptr_t)r->arena % 64, 0);
    memset(r->arena, 0xff, size);
    ts_graph_bind(g, r->arena);
    return ts_backend_graph_compute(be, g, abort, user);
}

static void run_done(run *r) { ts_backend_buffer_free(r->be, r->arena); }

/* Run g on be and copy node out's data (F32) to a fresh buffer. */
static float *compute_copy(ts_graph *g, ts_backend *be, const ts_node *out) {
    run r;
    assert_int_equal(run_graph(g, be, &r, NULL, NULL), TS_OK);
    const size_t bytes = ts_tensor_nbytes(&out->t);
    float *copy = malloc(bytes);
    assert_non_null(copy);
    memcpy(copy, out->t.data, bytes);
    run_done(&r);
    return copy;
}

/* Run on both backends; the results must be bitwise equal. Returns the
 * two-thread result (caller frees). */
static float *compute_both(ts_graph *g, const ts_node *out) {
    float *a = compute_copy(g, be1, out);
    float *b = compute_copy(g, be2, out);
    assert_memory_equal(a, b, ts_tensor_nbytes(&out->t));
    free(a);
    return b;
}

static ts_node *leaf(ts_graph *g, ts_type type, int n_dims, const int64_t *ne, void *data,
                     const char *name) {
    return ts_graph_leaf(g, type, n_dims, ne, data, 0, name);
}

/* Rows (K, rows) of floats quantized to `type` (caller frees). */
static void *quantize_rows(ts_type type, const float *x, int64_t K, int64_t rows) {
    size_t rs;
    assert_true(ts_type_row_size(type, K, &rs));
    uint8_t *q = malloc(rs * (size_t)rows);
    assert_non_null(q);
    for (int64_t r = 0; r < rows; r++) ts_quantize_row(type, x + r * K, q + (size_t)r * rs, K);
    return q;
}

static size_t row_bytes(ts_type type, int64_t n) {
    size_t rs;
    assert_true(ts_type_row_size(type, n, &rs));
    return rs;
}

/* ============================================================= backend */

static void test_backend_basics(void **state) {
    (void)state;
    ts_backend_free(NULL);
    ts_backend_info info;
    ts_backend_get_info(be2, &info);
    assert_string_equal(info.name, "cpu");
    assert_non_null(info.device);
    assert_true(info.n_threads >= 1 && info.n_threads <= 2);
    ts_backend_get_info(be1, &info);
    assert_int_equal(info.n_threads, 1);

    void *buf;
    assert_int_equal(ts_backend_buffer_alloc(be1, 1000, &buf), TS_OK);
    assert_int_equal((uintptr_t)buf % 64, 0);
    const char msg[] = "tessera";
    char back[sizeof msg];
    assert_int_equal(ts_backend_upload(be1, buf, 100, msg, sizeof msg), TS_OK);
    assert_int_equal(ts_backend_download(be1, buf, 100, back, sizeof back), TS_OK);
    assert_string_equal(back, msg);
    assert_int_equal(ts_backend_synchronize(be1), TS_OK);
    ts_backend_buffer_free(be1, buf);
}

/* ============================================================ GET_ROWS */

static void test_get_rows(void **state) {
    (void)state;
    const ts_type types[] = {TS_TYPE_F32,  TS_TYPE_F16,  TS_TYPE_Q8_0, TS_TYPE_Q4_0,
                             TS_TYPE_Q4_1, TS_TYPE_Q4_K, TS_TYPE_Q6_K, TS_TYPE_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ts_type type = types[ti];
        const int64_t d = ts_type_get(type)->block_size == 256 ? 512 : 96, r = 13, n = 7;
        rng_state = 100 + ti;
        float *table = randn(d * r, 1.0);
        void *q = quantize_rows(type, table, d, r);
        int32_t *idx = ints(n);
        for (int64_t j = 0; j < n; j++) idx[j] = (int32_t)((j * 5 + 3) % r);

        ts_graph *g;
        assert_int_equal(ts_graph_new(8, &g), TS_OK);
        ts_node *a = leaf(g, type, 2, (int64_t[]){d, r}, q, "table");
        ts_node *ix = leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, idx, "idx");
        ts_node *out = ts_node_set_output(ts_graph_get_rows(g, a, ix));
        assert_true(ts_backend_supports(be1, out));
        float *got = compute_both(g, out);

        float *want = malloc((size_t)d * sizeof *want);
        const size_t rs = row_bytes(type, d);
        for (int64_t j = 0; j < n; j++) {
            ts_dequantize_row(type, (uint8_t *)q + (size_t)idx[j] * rs, want, d);
            assert_memory_equal(got + j * d, want, (size_t)d * sizeof *want);
        }
        free(want);
        free(got);
        ts_graph_free(g);
        free(idx);
        free(q);
        free(table);
    }
}

/* ============================================================= MUL_MAT */

/* Largest |x| of each activation block of x (K). */
static double block_amax(const float *x, int64_t i, int64_t qk) {
    const int64_t b0 = i / qk * qk;
    double amax = 0.0;
    for (int64_t t = b0; t < b0 + qk; t++) amax = fmax(amax, fabs((double)x[t]));
    return amax;
}

static void check_mul_mat(ts_type type, int64_t K, int64_t m, int64_t n, uint64_t seed) {
    rng_state = seed;
    float *wf = randn(K * m, 0.5);
    float *x = randn(K * n, 1.0);
    for (int64_t i = 0; i < K; i += 37) x[i] *= 8.0f; /* outliers in some blocks */
    void *w = quantize_rows(type, wf, K, m);

    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *wn = leaf(g, type, 2, (int64_t[]){K, m}, w, "w");
    ts_node *xn = leaf(g, TS_TYPE_F32, 2, (int64_t[]){K, n}, x, "x");
    ts_node *out = ts_node_set_output(ts_graph_mul_mat(g, wn, xn));
    assert_true(ts_backend_supports(be2, out));
    float *got = compute_both(g, out); /* (m, n) */

    // 1. the definition: ts_vec_dot on the converted activation rows, bitwise
    const ts_type vt = ts_type_dot_type(type);
    const size_t wrs = row_bytes(type, K), xrs = row_bytes(vt, K);
    void *xq = type == TS_TYPE_F32 ? NULL : quantize_rows(vt, x, K, n);
    for (int64_t j = 0; j < n; j++) {
        const void *y =
            xq ? (const void *)((uint8_t *)xq + (size_t)j * xrs) : (const void *)(x + j * K);
        for (int64_t i = 0; i < m; i++) {
            const float want = ts_vec_dot(type, (uint8_t *)w + (size_t)i * wrs, y, K);
            assert_memory_equal(&got[j * m + i], &want, sizeof want);
        }
    }

    // 2. against dequantize-then-double-dot, within the activation bound.
    // The kernels compute Σ w_t·a_t exactly up to float roundings, where a_t
    // is the converted activation: |a_t − x_t| <= amax_block·(1/254 + 2^-11)
    // for the 8-bit types (level rounding, half scale; Q8_K's float scale is
    // finer), |x_t|·2^-11 for F16, |x_t|·2^-8 for BF16. Q8_1 also carries the
    // block sum s = half(d·Σq), used with the minimum m of Q4_1/Q5_1: that
    // adds |m|·|s − d_h·Σq| <= |m|·2^-10·Σ|a| per block.
    const int64_t qk = ts_type_get(vt)->block_size;
    float *wd = malloc((size_t)K * sizeof *wd);
    for (int64_t i = 0; i < m; i++) {
        ts_dequantize_row(type, (uint8_t *)w + (size_t)i * wrs, wd, K);
        for (int64_t j = 0; j < n; j++) {
            const float *xj = x + j * K;
            double ref = 0.0, mag = 0.0, bound = 0.0;
            for (int64_t t = 0; t < K; t++) {
                const double e = vt == TS_TYPE_F32   ? 0.0
                                 : vt == TS_TYPE_F16 ? fabs((double)xj[t]) * HALF_REL
                                 : vt == TS_TYPE_BF16
                                     ? fabs((double)xj[t]) * 0x1p-8
                                     : block_amax(xj, t, qk) * (1.0 / 254 + HALF_REL);
                ref += (double)wd[t] * xj[t];
                mag += fabs((double)wd[t] * xj[t]);
                bound += fabs((double)wd[t]) * e;
            }
            if (vt == TS_TYPE_Q8_1) {
                for (int64_t b = 0; b < K; b += qk) {
                    double wmin = INFINITY, xs = 0.0;
                    for (int64_t t = b; t < b + qk; t++) {
                        wmin = fmin(wmin, (double)wd[t]); /* m: the level-0 value */
                        xs += fabs((double)xj[t]);
                    }
                    bound += fabs(wmin) * 0x1p-9 * (xs + block_amax(xj, b, qk));
                }
            }
            bound += mag * 64 * FLT_REL + 1e-6;
            const double err = fabs((double)got[j * m + i] - ref);
            if (err > bound)
                fail_msg("%s K=%d row %d token %d: got %.9g, reference %.9g (bound %.3g)",
                         ts_type_name(type), (int)K, (int)i, (int)j, got[j * m + i], ref, bound);
        }
    }
    free(wd);
    free(xq);
    free(got);
    ts_graph_free(g);
    free(w);
    free(x);
    free(wf);
}

static void test_mul_mat(void **state) {
    (void)state;
    const ts_type legacy[] = {TS_TYPE_F32,  TS_TYPE_F16,  TS_TYPE_Q8_0, TS_TYPE_Q4_0,
                              TS_TYPE_Q4_1, TS_TYPE_Q5_1, TS_TYPE_BF16};
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        check_mul_mat(legacy[i], 160, 37, 5, 10 + i);
        check_mul_mat(legacy[i], 32, 1, 1, 20 + i);
        check_mul_mat(legacy[i], 96, 19, 70, 30 + i); /* more tokens than a tile */
    }
    const ts_type kq[] = {TS_TYPE_Q4_K, TS_TYPE_Q6_K, TS_TYPE_Q2_K, TS_TYPE_Q5_K};
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++) {
        check_mul_mat(kq[i], 512, 33, 3, 40 + i);
        check_mul_mat(kq[i], 256, 17, 1, 50 + i);
    }
}

/* ============================================================= ADD, MUL */

static void check_broadcast(bool add, const int64_t a_ne[4], const int64_t b_ne[4]) {
    int64_t na = 1, nb = 1;
    for (int i = 0; i < 4; i++) na *= a_ne[i], nb *= b_ne[i];
    rng_state = (uint64_t)(na * 31 + nb);
    float *a = randn(na, 2.0), *b = randn(nb, 2.0);
    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *an = leaf(g, TS_TYPE_F32, 4, a_ne, a, "a");
    ts_node *bn = leaf(g, TS_TYPE_F32, 4, b_ne, b, "b");
    ts_node *out = ts_node_set_output(add ? ts_graph_add(g, an, bn) : ts_graph_mul(g, an, bn));
    float *got = compute_both(g, out);
    for (int64_t i3 = 0; i3 < a_ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a_ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a_ne[1]; i1++)
                for (int64_t i0 = 0; i0 < a_ne[0]; i0++) {
                    const int64_t ia = ((i3 * a_ne[2] + i2) * a_ne[1] + i1) * a_ne[0] + i0;
                    const int64_t ib =
                        (((i3 % b_ne[3]) * b_ne[2] + i2 % b_ne[2]) * b_ne[1] + i1 % b_ne[1]) *
                            b_ne[0] +
                        i0 % b_ne[0];
                    const float want = add ? a[ia] + b[ib] : a[ia] * b[ib];
                    assert_memory_equal(&got[ia], &want, sizeof want);
                }
    free(got);
    ts_graph_free(g);
    free(a);
    free(b);
}

static void test_add_mul(void **state) {
    (void)state;
    const int64_t a_ne[4] = {14, 5, 3, 2};
    const int64_t b_shapes[][4] = {
        {14, 5, 3, 2}, {14, 1, 1, 1}, {1, 5, 3, 1}, {7, 5, 1, 2}, {1, 1, 1, 1}, {2, 1, 3, 1},
    };
    for (size_t s = 0; s < sizeof b_shapes / sizeof b_shapes[0]; s++) {
        check_broadcast(true, a_ne, b_shapes[s]);
        check_broadcast(false, a_ne, b_shapes[s]);
    }
}

/* ============================================================ RMS_NORM */

static void test_rms_norm(void **state) {
    (void)state;
    const int64_t ne[3] = {37, 5, 3};
    const float eps = 1e-5f;
    rng_state = 7;
    float *x = randn(37 * 15, 3.0);
    for (int i = 0; i < 37; i++) x[37 + i] = 1e-4f * x[37 + i]; /* a row where eps matters */
    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *out =
        ts_node_set_output(ts_graph_rms_norm(g, leaf(g, TS_TYPE_F32, 3, ne, x, "x"), eps));
    float *got = compute_both(g, out);
    for (int64_t r = 0; r < 15; r++) {
        double ss = 0.0;
        for (int64_t i = 0; i < 37; i++) ss += (double)x[r * 37 + i] * x[r * 37 + i];
        const double scale = 1.0 / sqrt(ss / 37 + (double)eps);
        for (int64_t i = 0; i < 37; i++) {
            const double want = x[r * 37 + i] * scale;
            assert_true(fabs(got[r * 37 + i] - want) <= fabs(want) * 8 * FLT_REL + 1e-30);
        }
    }
    free(got);
    ts_graph_free(g);
    free(x);
}

/* ============================================================== SWIGLU */

static void test_swiglu(void **state) {
    (void)state;
    const int64_t ne[2] = {43, 6};
    rng_state = 8;
    float *a = randn(43 * 6, 4.0), *b = randn(43 * 6, 1.0);
    a[0] = -100.0f, a[1] = 100.0f, a[2] = 0.0f; /* e^-x overflows, vanishes */
    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *out = ts_node_set_output(ts_graph_swiglu(g, leaf(g, TS_TYPE_F32, 2, ne, a, "a"),
                                                      leaf(g, TS_TYPE_F32, 2, ne, b, "b")));
    float *got = compute_both(g, out);
    for (int64_t i = 0; i < 43 * 6; i++) {
        const double want = (double)a[i] / (1.0 + exp(-(double)a[i])) * b[i];
        assert_true(fabs(got[i] - want) <= fabs(want) * 8 * FLT_REL + 1e-37);
    }
    free(got);
    ts_graph_free(g);
    free(a);
    free(b);
}

/* ================================================================ ROPE */

/* YaRN's correction dimension for n_rot rotations (double). */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double n_rot, double base) {
    return n_dims * log(n_ctx_orig / (n_rot * 2 * M_PI)) / (2 * log(base));
}

/* cos, sin (times the magnitude) of pair i at position p, from the formulas. */
static void rope_ref_angle(const ts_rope_params *p, const float *ff, int64_t pos, int i, double *c,
                           double *s) {
    const double theta_extrap = pos * pow(p->freq_base, -2.0 * i / p->n_dims) / (ff ? ff[i] : 1.0);
    const double theta_interp = p->freq_scale * theta_extrap;
    double theta = theta_interp, mscale = p->attn_factor;
    if (p->ext_factor != 0.0f) {
        const double low =
            fmax(0.0, floor(yarn_corr_dim(p->n_dims, p->n_ctx_orig, p->beta_fast, p->freq_base)));
        const double high =
            fmin(p->n_dims - 1,
                 ceil(yarn_corr_dim(p->n_dims, p->n_ctx_orig, p->beta_slow, p->freq_base)));
        const double y = (i - low) / fmax(0.001, high - low);
        const double mix = (1.0 - fmin(1.0, fmax(0.0, y))) * p->ext_factor;
        theta = theta_interp * (1 - mix) + theta_extrap * mix;
        mscale *= 1.0 + 0.1 * log(1.0 / p->freq_scale);
    }
    *c = cos(theta) * mscale;
    *s = sin(theta) * mscale;
}

static void check_rope(const ts_rope_params *p, int64_t k, bool with_ff, uint64_t seed) {
    const int64_t h = 3, n = 5;
    rng_state = seed;
    float *x = randn(k * h * n, 1.0);
    int32_t *pos = ints(n);
    for (int64_t j = 0; j < n; j++) pos[j] = (int32_t)(j * 7 + (j == 4 ? 40 : 0));
    float *ff = NULL;
    if (with_ff) {
        ff = malloc((size_t)(p->n_dims / 2) * sizeof *ff);
        for (int i = 0; i < p->n_dims / 2; i++) ff[i] = 1.0f + (float)i * 0.37f;
    }
    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *xn = leaf(g, TS_TYPE_F32, 3, (int64_t[]){k, h, n}, x, "x");
    ts_node *pn = leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, pos, "pos");
    ts_node *fn = ff ? leaf(g, TS_TYPE_F32, 1, (int64_t[]){p->n_dims / 2}, ff, "ff") : NULL;
    ts_node *out = ts_node_set_output(ts_graph_rope(g, xn, pn, fn, p));
    assert_true(ts_backend_supports(be2, out));
    float *got = compute_both(g, out);

    const int half = p->n_dims / 2;
    for (int64_t j = 0; j < n; j++)
        for (int64_t hq = 0; hq < h; hq++) {
            const float *xr = x + (j * h + hq) * k;
            const float *yr = got + (j * h + hq) * k;
            for (int i = 0; i < half; i++) {
                const int64_t i0 = p->mode == TS_ROPE_NEOX ? i : 2 * i;
                const int64_t i1 = p->mode == TS_ROPE_NEOX ? i + half : 2 * i + 1;
                double c, s;
                rope_ref_angle(p, ff, pos[j], i, &c, &s);
                const double y0 = xr[i0] * c - xr[i1] * s, y1 = xr[i0] * s + xr[i1] * c;
                // the float angle is iterated i times from pos: it drifts by
                // about (i + 2) roundings of the angle
                const double mag = (fabs(xr[i0]) + fabs(xr[i1])) * fmax(1.0, fabs(c) + fabs(s));
                const double tol = mag * ((double)pos[j] * (i + 3) * 2 * FLT_REL + 16 * FLT_REL);
                if (fabs(yr[i0] - y0) > tol || fabs(yr[i1] - y1) > tol)
                    fail_msg("rope mode %d token %d head %d pair %d: got (%.9g, %.9g), want "
                             "(%.9g, %.9g), tol %.3g",
                             p->mode, (int)j, (int)hq, i, yr[i0], yr[i1], y0, y1, tol);
            }
            for (int64_t i = p->n_dims; i < k; i++)
                assert_memory_equal(&yr[i], &xr[i], sizeof(float));
        }
    free(got);
    ts_graph_free(g);
    free(ff);
    free(pos);
    free(x);
}

static void test_rope(void **state) {
    (void)state;
    const ts_rope_params base = {.mode = TS_ROPE_NORMAL,
                                 .n_dims = 64,
                                 .n_ctx_orig = 4096,
                                 .freq_base = 10000.0f,
                                 .freq_scale = 1.0f,
                                 .ext_factor = 0.0f,
                                 .attn_factor = 1.0f,
                                 .beta_fast = 32.0f,
                                 .beta_slow = 1.0f};
    ts_rope_params p = base;
    check_rope(&p, 64, false, 1); /* llama */
    p.mode = TS_ROPE_NEOX;
    check_rope(&p, 64, false, 2); /* qwen2, gemma */
    p = base, p.n_dims = 32;
    check_rope(&p, 48, false, 3); /* partial: dims 32..47 copied */
    p.mode = TS_ROPE_NEOX;
    check_rope(&p, 48, false, 4);
    p = base;
    check_rope(&p, 64, true, 5); /* llama 3 frequency factors */
    p = base, p.freq_scale = 0.25f, p.attn_factor = 0.8f, p.freq_base = 500000.0f;
    check_rope(&p, 64, false, 6); /* linear scaling, magnitude */
    p = base, p.freq_scale = 0.25f, p.ext_factor = 1.0f;
    check_rope(&p, 64, false, 7); /* YaRN */
    p.mode = TS_ROPE_NEOX, p.ext_factor = 0.5f, p.attn_factor = 1.1f;
    check_rope(&p, 64, true, 8);
    p = base, p.n_dims = 2;
    check_rope(&p, 6, false, 9); /* one pair */
}

/* =========================================================== SET_ROWS */

static void test_set_rows(void **state) {
    (void)state;
    const ts_type types[] = {TS_TYPE_F32, TS_TYPE_F16};
    for (size_t ti = 0; ti < 2; ti++) {
        const ts_type type = types[ti];
        const int64_t w = 24, c = 11, n = 4;
        const size_t rs = row_bytes(type, w);
        uint8_t *cache = malloc(rs * (size_t)c);
        memset(cache, 0x5a, rs * (size_t)c);
        rng_state = 40 + ti;
        float *src = randn(w * n, 1.0);
        int32_t idx[4] = {9, 2, 10, 0};
        ts_graph *g;
        assert_int_equal(ts_graph_new(8, &g), TS_OK);
        ts_node *dn = leaf(g, type, 2, (int64_t[]){w, c}, cache, "cache");
        ts_node *sn = leaf(g, TS_TYPE_F32, 2, (int64_t[]){w, n}, src, "src");
        ts_node *in = leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, idx, "idx");
        ts_node *out = ts_node_set_output(ts_graph_set_rows(g, dn, sn, in));
        run r;
        assert_int_equal(run_graph(g, be2, &r, NULL, NULL), TS_OK);
        assert_ptr_equal(out->t.data, cache);
        uint8_t *want = malloc(rs);
        for (int64_t row = 0; row < c; row++) {
            int64_t j = -1;
            for (int64_t t = 0; t < n; t++)
                if (idx[t] == row) j = t;
            if (j < 0) {
                memset(want, 0x5a, rs);
            } else {
                ts_quantize_row(type, src + j * w, want, w);
            }
            assert_memory_equal(cache + (size_t)row * rs, want, rs);
        }
        free(want);
        run_done(&r);
        ts_graph_free(g);
        free(src);
        free(cache);
    }
}

/* =========================================================== ATTENTION */

typedef struct att_case {
    ts_type type;
    int64_t k, h, g, c, v, n;
} att_case;

static double cache_val(ts_type type, const void *cache, int64_t i) {
    return type == TS_TYPE_F16 ? ts_fp16_to_fp32(((const uint16_t *)cache)[i])
                               : ((const float *)cache)[i];
}

/* Token j's list: idx + span[2j], span[2j + 1] cells. Odd tokens share
 * the previous token's list (a prefix of it, as tokens of one sequence). */
static void check_attention(const att_case *ac, uint64_t seed) {
    const int64_t k = ac->k, h = ac->h, gk = ac->g, c = ac->c, v = ac->v, n = ac->n;
    const ts_type type = ac->type;
    rng_state = seed;
    float *q = randn(k * h * n, 1.0);
    float *kf = randn(k * gk * c, 1.0), *vf = randn(k * gk * c, 1.0);
    void *kc = quantize_rows(type, kf, k * gk, c), *vc = quantize_rows(type, vf, k * gk, c);
    int32_t *idx = ints(v * n), *span = ints(2 * n);
    for (int64_t j = 0; j < n; j++) {
        for (int64_t t = 0; t < v; t++) idx[j * v + t] = (int32_t)((t * 3 + j) % c);
        span[2 * j] = (int32_t)((j % 2 ? j - 1 : j) * v);
        span[2 * j + 1] = (int32_t)(1 + (j * 5 + 2) % v);
    }
    const float scale = 1.0f / sqrtf((float)k);

    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *qn = leaf(g, TS_TYPE_F32, 3, (int64_t[]){k, h, n}, q, "q");
    ts_node *kn = leaf(g, type, 2, (int64_t[]){k * gk, c}, kc, "k");
    ts_node *vn = leaf(g, type, 2, (int64_t[]){k * gk, c}, vc, "v");
    ts_node *in = leaf(g, TS_TYPE_I32, 1, (int64_t[]){v * n}, idx, "idx");
    ts_node *sn = leaf(g, TS_TYPE_I32, 2, (int64_t[]){2, n}, span, "span");
    ts_node *out = ts_node_set_output(ts_graph_attention(g, qn, kn, vn, in, sn, scale));
    assert_true(ts_backend_supports(be2, out));
    float *got = compute_both(g, out); /* (k·h, n) */

    // Two references per (token, head): the math in double (tolerance: the
    // F16 roundings of q and p), and the same with q and p rounded to F16 as
    // llama.cpp's mul_mat does (tolerance: float roundings only).
    double *s = malloc((size_t)v * sizeof *s), *s16 = malloc((size_t)v * sizeof *s16);
    const bool f16 = type == TS_TYPE_F16;
    for (int64_t j = 0; j < n; j++)
        for (int64_t hq = 0; hq < h; hq++) {
            const int64_t kvh = hq / (h / gk), L = span[2 * j + 1];
            const int32_t *list = idx + span[2 * j];
            const float *qr = q + (j * h + hq) * k;
            double max = -INFINITY, max16 = -INFINITY, ds = 0.0, vmax = 0.0;
            for (int64_t t = 0; t < L; t++) {
                const int64_t base = list[t] * k * gk + kvh * k;
                double dot = 0.0, dot16 = 0.0, mag = 0.0;
                for (int64_t d = 0; d < k; d++) {
                    const double kv = cache_val(type, kc, base + d);
                    const double q16 = f16 ? ts_fp16_to_fp32(ts_fp32_to_fp16(qr[d])) : qr[d];
                    dot += kv * qr[d];
                    dot16 += kv * q16;
                    mag += fabs(kv * qr[d]);
                    vmax = fmax(vmax, fabs(cache_val(type, vc, base + d)));
                }
                s[t] = dot * scale;
                s16[t] = dot16 * scale;
                // q rounded to F16 moves the score by up to mag·2^-11
                ds = fmax(ds, mag * scale * (f16 ? HALF_REL : 4 * FLT_REL));
                max = fmax(max, s[t]);
                max16 = fmax(max16, s16[t]);
            }
            double sum = 0.0, sum16 = 0.0;
            for (int64_t t = 0; t < L; t++) {
                sum += exp(s[t] - max);
                sum16 += exp(s16[t] - max16);
            }
            // softmax moves by at most 2·ds in L1; p rounded to F16 by 2^-11
            const double tol = vmax * (4 * ds + (f16 ? 2 * HALF_REL : 64 * FLT_REL)) + 1e-7;
            const double tol16 = vmax * 64 * FLT_REL + 1e-7;
            for (int64_t d = 0; d < k; d++) {
                double o = 0.0, o16 = 0.0, near_tie = 0.0;
                for (int64_t t = 0; t < L; t++) {
                    const double vv = cache_val(type, vc, list[t] * k * gk + kvh * k + d);
                    double p16 = exp(s16[t] - max16) / sum16;
                    if (f16) {
                        // the kernel's float p may round to the neighbouring
                        // half when the double p is this close to a tie
                        const uint16_t hp = ts_fp32_to_fp16((float)p16);
                        const double r = ts_fp16_to_fp32(hp);
                        const double ulp = ts_fp16_to_fp32((uint16_t)(hp + 1)) - r;
                        if (fabs(fabs(p16 - r) - ulp / 2) < 1e-5 * p16) near_tie += fabs(vv) * ulp;
                        p16 = r;
                    }
                    o += exp(s[t] - max) / sum * vv;
                    o16 += p16 * vv;
                }
                const float gv = got[j * k * h + hq * k + d];
                if (fabs(gv - o) > tol || fabs(gv - o16) > tol16 + near_tie)
                    fail_msg(
                        "attention %s token %d head %d dim %d: got %.9g, want %.9g (tol %.3g), "
                        "emulated %.9g (tol %.3g)",
                        ts_type_name(type), (int)j, (int)hq, (int)d, gv, o, tol, o16, tol16);
            }
        }
    free(s16);
    free(s);
    free(got);
    ts_graph_free(g);
    free(idx);
    free(span);
    free(kc);
    free(vc);
    free(kf);
    free(vf);
    free(q);
}

static void test_attention(void **state) {
    (void)state;
    const att_case cases[] = {
        {TS_TYPE_F16, 16, 6, 2, 19, 12, 4}, /* grouped: 3 query heads per KV head */
        {TS_TYPE_F32, 16, 6, 2, 19, 12, 4},
        {TS_TYPE_F16, 24, 3, 3, 7, 7, 5},   /* one query head per KV head */
        {TS_TYPE_F32, 8, 4, 1, 30, 30, 3},  /* one KV head for all */
        {TS_TYPE_F16, 64, 9, 3, 40, 33, 2}, /* SmolLM2's heads */
        {TS_TYPE_F16, 64, 14, 2, 300, 150, 5}, /* Qwen2.5's heads, chunks of 32 cells */
        {TS_TYPE_F32, 32, 8, 2, 90, 70, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_attention(&cases[i], 60 + i);
}

/* ==================================================== batch invariance */

/* A small decoder-layer-shaped graph over n tokens at positions pos,
 * writing K/V rows into caches at cells pos and attending cells [0, pos]:
 *   x = get_rows(emb, tok); xn = rms_norm(x)·wn; q,k,v = mul_mat;
 *   rope(q), rope(k); set_rows; attention; o = mul_mat(wo, att) + x;
 *   ffn: swiglu(mul_mat(wg, on), mul_mat(wu, on)) → mul_mat(wd) + o
 * Returns the output node. */
typedef struct layer {
    int64_t d, k, h, gk, f, vocab, cells;
    void *emb, *wq, *wk, *wv, *wo, *wg, *wu, *wd;
    float *wn;
    uint16_t *kcache, *vcache;
} layer;

static void layer_init(layer *L) {
    *L = (layer){.d = 96, .k = 16, .h = 6, .gk = 2, .f = 160, .vocab = 50, .cells = 16};
    rng_state = 77;
    const int64_t d = L->d, kv = L->k * L->gk;
    float *t = randn(d * L->vocab, 1.0);
    L->emb = quantize_rows(TS_TYPE_Q8_0, t, d, L->vocab);
    free(t);
    struct {
        void **dst;
        ts_type type;
        int64_t K, m;
    } mats[] = {
        {&L->wq, TS_TYPE_Q4_1, d, d},    {&L->wk, TS_TYPE_Q4_0, d, kv},
        {&L->wv, TS_TYPE_Q8_0, d, kv},   {&L->wo, TS_TYPE_F16, d, d},
        {&L->wg, TS_TYPE_Q4_1, d, L->f}, {&L->wu, TS_TYPE_Q5_1, d, L->f},
        {&L->wd, TS_TYPE_Q4_0, L->f, d},
    };
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        t = randn(mats[i].K * mats[i].m, 0.2);
        *mats[i].dst = quantize_rows(mats[i].type, t, mats[i].K, mats[i].m);
        free(t);
    }
    L->wn = randn(d, 1.0);
    L->kcache = calloc((size_t)(kv * L->cells), sizeof(uint16_t));
    L->vcache = calloc((size_t)(kv * L->cells), sizeof(uint16_t));
}

static void layer_free(layer *L) {
    void *p[] = {L->emb, L->wq, L->wk, L->wv,     L->wo,    L->wg,
                 L->wu,  L->wd, L->wn, L->kcache, L->vcache};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static ts_node *layer_graph(ts_graph *g, layer *L, int64_t n, int32_t *tok, int32_t *pos,
                            int32_t *idx, int32_t *span) {
    const int64_t d = L->d, k = L->k, h = L->h, kv = L->k * L->gk, c = L->cells;
    ts_node *emb = leaf(g, TS_TYPE_Q8_0, 2, (int64_t[]){d, L->vocab}, L->emb, "emb");
    ts_node *tn = leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, tok, "tok");
    ts_node *pn = leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, pos, "pos");
    ts_node *in = leaf(g, TS_TYPE_I32, 1, (int64_t[]){c}, idx, "idx");
    ts_node *ln = leaf(g, TS_TYPE_I32, 2, (int64_t[]){2, n}, span, "span");
    ts_node *kcn = leaf(g, TS_TYPE_F16, 2, (int64_t[]){kv, c}, L->kcache, "kcache");
    ts_node *vcn = leaf(g, TS_TYPE_F16, 2, (int64_t[]){kv, c}, L->vcache, "vcache");
#define W(ptr, type, K, m) leaf(g, type, 2, (int64_t[]){K, m}, ptr, #ptr)
    ts_node *x = ts_graph_get_rows(g, emb, tn);
    ts_node *xn = ts_graph_mul(g, ts_graph_rms_norm(g, x, 1e-5f),
                               leaf(g, TS_TYPE_F32, 1, (int64_t[]){d}, L->wn, "wn"));
    ts_node *q = ts_graph_mul_mat(g, W(L->wq, TS_TYPE_Q4_1, d, d), xn);
    ts_node *kk = ts_graph_mul_mat(g, W(L->wk, TS_TYPE_Q4_0, d, kv), xn);
    ts_node *vv = ts_graph_mul_mat(g, W(L->wv, TS_TYPE_Q8_0, d, kv), xn);
    const ts_rope_params rp = {.mode = TS_ROPE_NEOX,
                               .n_dims = k,
                               .n_ctx_orig = 2048,
                               .freq_base = 10000.0f,
                               .freq_scale = 1.0f,
                               .attn_factor = 1.0f,
                               .beta_fast = 32.0f,
                               .beta_slow = 1.0f};
    q = ts_graph_rope(g, ts_graph_reshape(g, q, 3, (int64_t[]){k, h, n}), pn, NULL, &rp);
    kk = ts_graph_rope(g, ts_graph_reshape(g, kk, 3, (int64_t[]){k, L->gk, n}), pn, NULL, &rp);
    kk = ts_graph_reshape(g, kk, 2, (int64_t[]){kv, n});
    ts_node *kw = ts_graph_set_rows(g, kcn, kk, pn);
    ts_node *vw = ts_graph_set_rows(g, vcn, vv, pn);
    ts_node *att = ts_graph_attention(g, q, kw, vw, in, ln, 0.25f);
    ts_node *o = ts_graph_add(g, ts_graph_mul_mat(g, W(L->wo, TS_TYPE_F16, d, d), att), x);
    ts_node *on = ts_graph_rms_norm(g, o, 1e-5f);
    ts_node *ff = ts_graph_swiglu(g, ts_graph_mul_mat(g, W(L->wg, TS_TYPE_Q4_1, d, L->f), on),
                                  ts_graph_mul_mat(g, W(L->wu, TS_TYPE_Q5_1, d, L->f), on));
    ts_node *y = ts_graph_add(g, ts_graph_mul_mat(g, W(L->wd, TS_TYPE_Q4_0, L->f, d), ff), o);
#undef W
    return ts_node_set_output(y);
}

static void test_batch_invariance(void **state) {
    (void)state;
    layer L;
    layer_init(&L);
    const int64_t n = 7, c = L.cells, d = L.d;
    int32_t tok[7] = {3, 17, 42, 0, 9, 17, 31}, pos[7], span[14];
    int32_t *idx = ints(c); /* one list for the whole batch: cells 0, 1, ... */
    for (int64_t t = 0; t < c; t++) idx[t] = (int32_t)t;
    for (int64_t j = 0; j < n; j++) {
        pos[j] = (int32_t)j;
        span[2 * j] = 0;
        span[2 * j + 1] = (int32_t)(j + 1);
    }
    // the batch, with 1 and 2 threads (the caches are rewritten identically)
    ts_graph *g;
    assert_int_equal(ts_graph_new(64, &g), TS_OK);
    ts_node *out = layer_graph(g, &L, n, tok, pos, idx, span);
    for (int i = 0; i < ts_graph_n_nodes(g); i++)
        assert_true(ts_backend_supports(be2, ts_graph_node(g, i)));
    float *batch = compute_both(g, out); /* (d, n) */
    ts_graph_free(g);
    for (int64_t i = 0; i < d * n; i++) assert_true(isfinite(batch[i]));

    // each token alone, attending the cells the batch wrote
    for (int64_t j = 0; j < n; j++) {
        int32_t t1 = tok[j], p1 = pos[j], s1[2] = {0, span[2 * j + 1]};
        int32_t *i1 = ints(c); /* its own list */
        memcpy(i1, idx, (size_t)c * sizeof *i1);
        assert_int_equal(ts_graph_new(64, &g), TS_OK);
        out = layer_graph(g, &L, 1, &t1, &p1, i1, s1);
        for (int th = 0; th < 2; th++) {
            float *alone = compute_copy(g, th ? be2 : be1, out);
            assert_memory_equal(alone, batch + j * d, (size_t)d * sizeof(float));
            free(alone);
        }
        ts_graph_free(g);
        free(i1);
    }
    free(batch);
    free(idx);
    layer_free(&L);
}

/* =============================================================== abort */

typedef struct abort_state {
    int calls, stop_at;
} abort_state;

static bool abort_after(void *user) {
    abort_state *s = user;
    return ++s->calls >= s->stop_at;
}

static void test_abort(void **state) {
    (void)state;
    float x[33];
    for (int i = 0; i < 33; i++) x[i] = (float)i;
    ts_graph *g;
    assert_int_equal(ts_graph_new(64, &g), TS_OK);
    ts_node *a = leaf(g, TS_TYPE_F32, 1, (int64_t[]){33}, x, "x");
    ts_node *first = ts_node_set_output(ts_graph_add(g, a, a));
    ts_node *y = first;
    for (int i = 0; i < 40; i++) y = ts_graph_add(g, y, a);
    ts_node_set_output(y);
    for (int th = 0; th < 2; th++) {
        ts_backend *be = th ? be2 : be1;
        // never fires: polled between nodes, the graph completes
        abort_state s = {0, 1000};
        run r;
        assert_int_equal(run_graph(g, be, &r, abort_after, &s), TS_OK);
        assert_true(s.calls >= 40);
        assert_true(y->t.data && ((float *)y->t.data)[5] == 5.0f * 42);
        run_done(&r);
        // fires on the third poll: the first node ran, the last did not
        s = (abort_state){0, 3};
        assert_int_equal(run_graph(g, be, &r, abort_after, &s), TS_ERR_ABORTED);
        assert_int_equal(s.calls, 3);
        assert_non_null(strstr(ts_last_error(), "abort"));
        assert_true(((float *)first->t.data)[5] == 10.0f);
        assert_true(isnan(((float *)y->t.data)[5]));
        run_done(&r);
        // fires at once: nothing runs
        s = (abort_state){0, 1};
        assert_int_equal(run_graph(g, be, &r, abort_after, &s), TS_ERR_ABORTED);
        assert_true(isnan(((float *)first->t.data)[5]));
        run_done(&r);
    }
    ts_graph_free(g);
}

/* ========================================================= unsupported */

static void test_unsupported(void **state) {
    (void)state;
    static uint8_t blob[4096];
    float x[256 * 2] = {0};
    // MUL_MAT with activation-only Q8_K weights: no dot product
    ts_graph *g;
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *w = leaf(g, TS_TYPE_Q8_K, 2, (int64_t[]){256, 3}, blob, "w");
    ts_node *xn = leaf(g, TS_TYPE_F32, 2, (int64_t[]){256, 2}, x, "x");
    ts_node *mm = ts_node_set_name(ts_graph_mul_mat(g, w, xn), "proj");
    assert_false(ts_backend_supports(be1, mm));
    assert_true(ts_backend_supports(be1, w));
    run r;
    assert_int_equal(run_graph(g, be2, &r, NULL, NULL), TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(ts_last_error(), "MUL_MAT"));
    assert_non_null(strstr(ts_last_error(), "Q8_K"));
    assert_non_null(strstr(ts_last_error(), "proj"));
    run_done(&r);
    ts_graph_free(g);

    // GET_ROWS of a type without kernels
    assert_int_equal(ts_graph_new(8, &g), TS_OK);
    ts_node *t = leaf(g, TS_TYPE_IQ2_XXS, 2, (int64_t[]){256, 4}, blob, "table");
    int32_t idx[1] = {0};
    ts_node *gr = ts_graph_get_rows(g, t, leaf(g, TS_TYPE_I32, 1, (int64_t[]){1}, idx, "i"));
    assert_false(ts_backend_supports(be1, gr));
    assert_int_equal(run_graph(g, be1, &r, NULL, NULL), TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(ts_last_error(), "GET_ROWS"));
    assert_non_null(strstr(ts_last_error(), "IQ2_XXS"));
    run_done(&r);
    ts_graph_free(g);
}

/* ================================================================ main */

static int setup(void **state) {
    (void)state;
    if (ts_backend_cpu_new(1, &be1) != TS_OK) return -1;
    if (ts_backend_cpu_new(2, &be2) != TS_OK) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ts_backend_free(be1);
    ts_backend_free(be2);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_basics), cmocka_unit_test(test_get_rows),
        cmocka_unit_test(test_mul_mat),        cmocka_unit_test(test_add_mul),
        cmocka_unit_test(test_rms_norm),       cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_rope),           cmocka_unit_test(test_set_rows),
        cmocka_unit_test(test_attention),      cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_abort),          cmocka_unit_test(test_unsupported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
