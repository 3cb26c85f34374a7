/*
 * attention.c — ATTENTION on the CPU, emulating llama.cpp's non-flash path
 * (kq = mul_mat(k, q); soft_max_ext(kq, mask, scale); kqv = mul_mat(v, kq))
 * over an explicit list of KV cells per token:
 *
 *   for token j, query head hq (KV head kvh = hq / (h/g)), cells c_t = idx[j][t],
 *   t < len[j]:
 *     F16 cache: q is rounded to F16 (mul_mat converts src1 to F16), then
 *       score_t = Σ k[c_t]·q16 in double (ggml_vec_dot_f16's scalar path)
 *     F32 cache: score_t = Σ k[c_t]·q in double (ggml_vec_dot_f32)
 *     s_t = score_t · scale
 *     soft_max: m = max s_t, e_t = expf(s_t − m), S = Σ e_t in double,
 *       p_t = e_t · (float)(1/S)
 *     F16 cache: p_t rounded to F16 (the second mul_mat converts kq)
 *     out[d] = Σ_t v[c_t][d]·p_t in double, t in list order, rounded to float
 *
 * Masked cells of llama.cpp's dense softmax contribute e = 0 and p = 0,
 * which leave its double sums unchanged, so summing over the listed cells
 * only is the same arithmetic when the list follows the cache order.
 *
 * Threads split the (token, head) pairs; each output row is computed by one
 * thread from its own token's list only.
 *
 * Legend: k = head dim, h = query heads, g = KV heads, n = tokens,
 * c = cache cells, v = list capacity per token (idx->ne[0]).
 */
#include "backends/cpu/cpu-impl.h"

#include <math.h>
#include <string.h>

/* Per-thread scratch: scores/probabilities (v floats), the output
 * accumulator (k doubles), q rounded to F16 (k halves). */
typedef struct att_scratch {
    float *p;
    double *acc;
    uint16_t *q16;
} att_scratch;

/* Bytes of each part of the scratch. */
static void scratch_sizes(int64_t k, int64_t v, size_t sz[3]) {
    sz[0] = cpu_align((size_t)v * sizeof(float));
    sz[1] = cpu_align((size_t)k * sizeof(double));
    sz[2] = cpu_align((size_t)k * sizeof(uint16_t));
}

static att_scratch scratch_at(int64_t k, int64_t v, uint8_t *base) {
    size_t sz[3];
    scratch_sizes(k, v, sz);
    return (att_scratch){
        .p = (float *)(void *)base,
        .acc = (double *)(void *)(base + sz[0]),
        .q16 = (uint16_t *)(void *)(base + sz[0] + sz[1]),
    };
}

void ts_cpu_attention_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    *shared = 0;
    size_t sz[3];
    scratch_sizes(n->src[0]->t.ne[0], n->src[3]->t.ne[0], sz);
    *per_thread = sz[0] + sz[1] + sz[2];
}

/* out[r] = Σ_i x_r[i]·y[i] for 4 rows x_r: four independent sums, each in
 * the order of ggml_vec_dot_f32 / _f16's scalar path (float products summed
 * in double), interleaved only to overlap their add latencies. */
static void dot4_f32(const float *const x[4], const float *y, int64_t n, float out[4]) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s0 += (double)(x[0][i] * y[i]);
        s1 += (double)(x[1][i] * y[i]);
        s2 += (double)(x[2][i] * y[i]);
        s3 += (double)(x[3][i] * y[i]);
    }
    out[0] = (float)s0, out[1] = (float)s1, out[2] = (float)s2, out[3] = (float)s3;
}

static void dot4_f16(const uint16_t *const x[4], const uint16_t *y, int64_t n, float out[4]) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float yi = cpu_f16(y[i]);
        s0 += (double)(cpu_f16(x[0][i]) * yi);
        s1 += (double)(cpu_f16(x[1][i]) * yi);
        s2 += (double)(cpu_f16(x[2][i]) * yi);
        s3 += (double)(cpu_f16(x[3][i]) * yi);
    }
    out[0] = (float)s0, out[1] = (float)s1, out[2] = (float)s2, out[3] = (float)s3;
}

/* Raw scores p[t] = k[c_t] · q (F32) or k[c_t] · q16 (F16), t < L. */
static void scores(const ts_tensor *kc, size_t head_off, int64_t k, const float *q,
                   const uint16_t *q16, const int32_t *cells, int64_t L, float *p) {
    const bool half = kc->type == TS_TYPE_F16;
    for (int64_t t = 0; t < L; t += 4) {
        const void *rows[4];
        for (int r = 0; r < 4; r++) {
            // past the end, repeat the last cell; its extra results are dropped
            const int32_t c = cells[t + r < L ? t + r : L - 1];
            TS_ASSERT(c >= 0 && c < kc->ne[1]);
            rows[r] = (const char *)cpu_row(kc, c, 0, 0) + head_off;
        }
        float out[4];
        if (half)
            dot4_f16((const uint16_t *const *)rows, q16, k, out);
        else
            dot4_f32((const float *const *)rows, q, k, out);
        for (int r = 0; r < 4 && t + r < L; r++) p[t + r] = out[r];
    }
}

/* p[0..L) = softmax(scale · p[0..L)) as ggml_soft_max (scalar path). */
static void softmax(float *p, int64_t L, float scale) {
    float max = -INFINITY;
    for (int64_t t = 0; t < L; t++) {
        p[t] *= scale;
        max = max > p[t] ? max : p[t];
    }
    double sum = 0.0;
    for (int64_t t = 0; t < L; t++) {
        p[t] = expf(p[t] - max);
        sum += (double)p[t];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t t = 0; t < L; t++) p[t] *= inv;
}

/* One (token, head): out (k) from q (k) over cells[0..L). */
static void attend_one(const ts_tensor *kc, const ts_tensor *vc, int64_t kvh, int64_t k,
                       const float *q, const int32_t *cells, int64_t L, float scale,
                       const att_scratch *s, float *out) {
    const bool half = kc->type == TS_TYPE_F16;
    const size_t esz = half ? sizeof(uint16_t) : sizeof(float);
    const size_t head_off = (size_t)(kvh * k) * esz;

    // scores s_t = (k[c_t] · q) · scale
    if (half) ts_quantize_row(TS_TYPE_F16, q, s->q16, k);
    scores(kc, head_off, k, q, s->q16, cells, L, s->p);
    softmax(s->p, L, scale);

    // out[d] = Σ_t v[c_t][d] · p_t, in double, t in list order
    for (int64_t d = 0; d < k; d++) s->acc[d] = 0.0;
    for (int64_t t = 0; t < L; t++) {
        const char *vr = (const char *)cpu_row(vc, cells[t], 0, 0) + head_off;
        if (half) {
            const uint16_t *v16 = (const uint16_t *)(const void *)vr;
            const float pt = cpu_f16(ts_fp32_to_fp16(s->p[t]));
            for (int64_t d = 0; d < k; d++) s->acc[d] += (double)(cpu_f16(v16[d]) * pt);
        } else {
            const float *v32 = (const float *)(const void *)vr;
            const float pt = s->p[t];
            for (int64_t d = 0; d < k; d++) s->acc[d] += (double)(v32[d] * pt);
        }
    }
    for (int64_t d = 0; d < k; d++) out[d] = (float)s->acc[d];
}

void ts_cpu_attention(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *q = &n->src[0]->t;     /* (k, h, n) F32 */
    const ts_tensor *kc = &n->src[1]->t;    /* (k·g, c) */
    const ts_tensor *vc = &n->src[2]->t;    /* (k·g, c) */
    const ts_tensor *idx = &n->src[3]->t;   /* (v, n) I32 */
    const int32_t *len = n->src[4]->t.data; /* (n) */
    const ts_tensor *out = &n->t;           /* (k·h, n) */
    const float scale = TS_NODE_PARAMS(n, ts_attention_params).scale;
    const int64_t k = q->ne[0], h = q->ne[1], g = kc->ne[0] / k, v = idx->ne[0];
    const int64_t group = h / g; /* query heads per KV head */

    const att_scratch s = scratch_at(k, v, cpu_thread_work(c));
    int64_t r0, r1;
    cpu_split(h * q->ne[2], c->ith, c->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t j = r / h, hq = r % h;
        const int64_t L = len[j];
        TS_ASSERT(L >= 1 && L <= v);
        const float *qr = cpu_row(q, hq, j, 0);
        float *o = (float *)cpu_row(out, j, 0, 0) + hq * k;
        attend_one(kc, vc, hq / group, k, qr, cpu_row(idx, j, 0, 0), L, scale, &s, o);
    }
}
