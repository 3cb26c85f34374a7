/*
 * attention.c — ATTENTION on the CPU over an explicit list of KV cells per
 * token, in the reduction-order contract's arithmetic (core/fmath-impl.h;
 * the roundings to F16 are llama.cpp's, whose non-flash path multiplies an
 * F16 cache with F16-converted operands):
 *
 *   for token j, query head hq (KV head kvh = hq / (h/g)), cells c_t = idx[j][t],
 *   t < len[j]:
 *     F16 cache: q is rounded to F16; score_t = k[c_t]·q16, products exact
 *       in float, summed on TS_LANES partials folded in the fixed tree
 *     F32 cache: score_t = k[c_t]·q, the same way
 *     s_t = score_t · scale;  m = max_t s_t;  e_t = ts_expf(s_t − m)
 *     S = Σ_t e_t on TS_LANES partials (term t to partial t mod TS_LANES)
 *     p_t = e_t · (1/S);  F16 cache: p_t rounded to F16
 *     out[d] = Σ_t v[c_t][d]·p_t: one float sum per d, t in list order
 *
 * The list is sorted by (position, cell), so where a sequence's cells lie
 * never changes the result. Threads split the (token, head) pairs; each
 * output row is computed by one thread from its own token's list only.
 *
 * Legend: k = head dim, h = query heads, g = KV heads, n = tokens,
 * c = cache cells, v = list capacity per token (idx->ne[0]).
 */
#include "backends/cpu/cpu-impl.h"

#include <string.h>

/* Per-thread scratch: scores/probabilities (v floats), q rounded to F16
 * (k halves). */
typedef struct att_scratch {
    float *p;
    uint16_t *q16;
} att_scratch;

/* Bytes of each part of the scratch. */
static void scratch_sizes(int64_t k, int64_t v, size_t sz[2]) {
    sz[0] = cpu_align((size_t)v * sizeof(float));
    sz[1] = cpu_align((size_t)k * sizeof(uint16_t));
}

static att_scratch scratch_at(int64_t k, int64_t v, uint8_t *base) {
    size_t sz[2];
    scratch_sizes(k, v, sz);
    return (att_scratch){.p = (float *)(void *)base, .q16 = (uint16_t *)(void *)(base + sz[0])};
}

void ts_cpu_attention_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    *shared = 0;
    size_t sz[2];
    scratch_sizes(n->src[0]->t.ne[0], n->src[3]->t.ne[0], sz);
    *per_thread = sz[0] + sz[1];
}

/* One (token, head): out (k) from q (k) over cells[0..L). */
static void attend_one(const cpu_path *vp, const ts_tensor *kc, const ts_tensor *vc, int64_t kvh,
                       int64_t k, const float *q, const int32_t *cells, int64_t L, float scale,
                       const att_scratch *s, float *out) {
    const bool half = kc->type == TS_TYPE_F16;
    const size_t esz = half ? sizeof(uint16_t) : sizeof(float);
    const size_t head_off = (size_t)(kvh * k) * esz;

    // scores s_t = (k[c_t] · q) · scale, then the softmax weights
    if (half) ts_quantize_row(TS_TYPE_F16, q, s->q16, k);
    for (int64_t t = 0; t < L; t++) {
        TS_ASSERT(cells[t] >= 0 && cells[t] < kc->ne[1]);
        const void *row = (const char *)cpu_row(kc, cells[t], 0, 0) + head_off;
        s->p[t] = half ? vp->dot_f16(row, s->q16, k) : vp->dot_f32(row, q, k);
    }
    vp->softmax(s->p, L, scale);

    // out[d] = Σ_t v[c_t][d] · p_t, t in list order
    for (int64_t d = 0; d < k; d++) out[d] = 0.0f;
    for (int64_t t = 0; t < L; t++) {
        const void *vr = (const char *)cpu_row(vc, cells[t], 0, 0) + head_off;
        if (half)
            vp->mad_f16(out, vr, cpu_f16(ts_fp32_to_fp16(s->p[t])), k);
        else
            vp->mad_f32(out, vr, s->p[t], k);
    }
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
        attend_one(c->path, kc, vc, hq / group, k, qr, cpu_row(idx, j, 0, 0), L, scale, &s, o);
    }
}
