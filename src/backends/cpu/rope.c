/*
 * rope.c — ROPE on the CPU: rotary position embedding of a (k, h, n) F32
 * at positions pos (n) I32, normal (adjacent pairs) or NeoX (halves) mode,
 * with optional frequency factors, linear scaling and YaRN.
 *
 * Every float operation is ggml-cpu's, in its order (ops.cpp: rope_yarn,
 * rope_yarn_ramp, ggml_rope_cache_init, rotate_pairs; ggml.c:
 * ggml_rope_yarn_corr_dims), so the angles round the same way — except that
 * the transcendental functions are the contract's own (core/fmath.c:
 * computed in double, rounded to float), not libm's, so the tables are the
 * same on every machine:
 *   theta_scale = pow(base, -2/n_dims)
 *   theta_0 = p; theta_{i+1} = theta_i · theta_scale    (iterated, in float)
 *   per pair i (i0 = 2i): t = theta_i / ff_i; rope_yarn(t) → cos, sin
 *   rope_yarn: t_interp = freq_scale · t; without YaRN the angle is t_interp;
 *     with it, mixed with t by ramp(i0)·ext_factor, and mscale (attn_factor)
 *     multiplied by 1 + 0.1·ln(1/freq_scale); cos = cos(angle)·mscale, …
 *   rotation: y0 = x0·cos − x1·sin, y1 = x0·sin + x1·cos
 * Dimensions n_dims..k are copied.
 *
 * Threads split the rows (token j, head hq); a thread recomputes its cos/sin
 * cache only when its token changes.
 *
 * Legend: k = head dim (ne0), h = heads, n = tokens, n_dims = rotated dims.
 */
#include "backends/cpu/cpu-impl.h"
#include "core/fmath-impl.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void ts_cpu_rope_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    *shared = 0;
    *per_thread = (size_t)TS_NODE_PARAMS(n, ts_rope_params).n_dims * sizeof(float);
}

static float logf_(float x) { return (float)ts_log_d((double)x); }

/* ggml_rope_yarn_corr_dim: the dimension at which n_rot rotations fit in
 * the original context, n_dims·ln(n_ctx_orig/(n_rot·2π)) / (2·ln base). */
static float corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return (float)n_dims * logf_((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) /
           (2.0f * logf_(base));
}

/* Start and end of the YaRN ramp, clamped to [0, n_dims − 1]. */
static void corr_dims(const ts_rope_params *p, float dims[2]) {
    const float start = floorf(corr_dim(p->n_dims, p->n_ctx_orig, p->beta_fast, p->freq_base));
    const float end = ceilf(corr_dim(p->n_dims, p->n_ctx_orig, p->beta_slow, p->freq_base));
    dims[0] = 0.0f > start ? 0.0f : start;
    dims[1] = (float)(p->n_dims - 1) < end ? (float)(p->n_dims - 1) : end;
}

/* 1 below `low`, 0 above `high`, linear between (over pair index i0/2). */
static float yarn_ramp(float low, float high, int i0) {
    const float d = 0.001f > high - low ? 0.001f : high - low;
    const float y = ((float)(i0 / 2) - low) / d;
    const float clamped = 1.0f < (0.0f > y ? 0.0f : y) ? 1.0f : (0.0f > y ? 0.0f : y);
    return 1.0f - clamped;
}

/* YaRN (LlamaYaRNScaledRotaryEmbedding, as ggml's rope_yarn). */
static void rope_yarn(float theta_extrap, const ts_rope_params *p, const float dims[2], int i0,
                      float *cos_theta, float *sin_theta) {
    const float theta_interp = p->freq_scale * theta_extrap;
    float theta = theta_interp;
    float mscale = p->attn_factor;
    if (p->ext_factor != 0.0f) {
        const float ramp_mix = yarn_ramp(dims[0], dims[1], i0) * p->ext_factor;
        theta = theta_interp * (1.0f - ramp_mix) + theta_extrap * ramp_mix;
        mscale *= 1.0f + 0.1f * logf_(1.0f / p->freq_scale);
    }
    double s, c;
    ts_sincos_d((double)theta, &s, &c);
    *cos_theta = (float)c * mscale;
    *sin_theta = (float)s * mscale;
}

/* cache[i0], cache[i0 + 1] = cos, sin of pair i0/2 at position pos. */
static void rope_cache(int32_t pos, const ts_rope_params *p, const float *ff, const float dims[2],
                       float theta_scale, float *cache) {
    float theta = (float)pos;
    for (int i0 = 0; i0 < p->n_dims; i0 += 2) {
        const float f = ff ? ff[i0 / 2] : 1.0f;
        rope_yarn(theta / f, p, dims, i0, &cache[i0], &cache[i0 + 1]);
        theta *= theta_scale;
    }
}

void ts_cpu_rope(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *a = &n->src[0]->t, *out = &n->t;       /* (k, h, n) */
    const int32_t *pos = n->src[1]->t.data;                 /* (n) */
    const float *ff = n->src[2] ? n->src[2]->t.data : NULL; /* (n_dims/2) */
    const ts_rope_params p = TS_NODE_PARAMS(n, ts_rope_params);
    const int64_t k = a->ne[0], h = a->ne[1];
    const int nd = p.n_dims;
    const float theta_scale = (float)ts_pow_d((double)p.freq_base, (double)(-2.0f / (float)nd));
    float dims[2];
    corr_dims(&p, dims);

    float *cache = cpu_thread_work(c); /* (n_dims): cos, sin per pair */
    int64_t cached = -1;
    int64_t r0, r1;
    cpu_split(h * a->ne[2], c->ith, c->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t j = r / h, hq = r % h;
        if (j != cached) {
            rope_cache(pos[j], &p, ff, dims, theta_scale, cache);
            cached = j;
        }
        const float *x = cpu_row(a, hq, j, 0);
        float *y = cpu_row(out, hq, j, 0);
        // pair i rotates (x[i0], x[i0 + 1]) in normal mode, (x[i], x[i + n_dims/2]) in NeoX
        const int64_t off = p.mode == TS_ROPE_NEOX ? nd / 2 : 1;
        for (int i0 = 0; i0 < nd; i0 += 2) {
            const int64_t ic = p.mode == TS_ROPE_NEOX ? i0 / 2 : i0;
            const float cos_t = cache[i0], sin_t = cache[i0 + 1];
            const float x0 = x[ic], x1 = x[ic + off];
            y[ic] = x0 * cos_t - x1 * sin_t;
            y[ic + off] = x0 * sin_t + x1 * cos_t;
        }
        for (int64_t i = nd; i < k; i++) y[i] = x[i];
    }
}
