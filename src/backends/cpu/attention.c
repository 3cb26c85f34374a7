/*
 * attention.c — ATTENTION on the CPU: fused attention over each token's
 * list of KV cells (a prefix of a list its sequences share, span = {off,
 * len}), in the reduction-order contract's arithmetic (core/fmath-impl.h;
 * the roundings to F16 are llama.cpp's, whose non-flash path multiplies an
 * F16 cache with F16-converted operands):
 *
 *   for token j, query head hq (KV head kvh = hq / (h/g)), list cells c_t,
 *   t < L = len[j]:
 *     F16 cache: q is rounded to F16; score_t = k[c_t]·q16, products exact
 *       in float, summed on TS_LANES partials folded in the fixed tree
 *     F32 cache: score_t = k[c_t]·q, the same way
 *     s_t = score_t · scale;  m = max_t s_t;  e_t = ts_expf(s_t − m)
 *     S = Σ_t e_t on TS_LANES partials (term t to partial t mod TS_LANES)
 *     p_t = e_t · (1/S);  F16 cache: p_t rounded to F16
 *     out[d] = Σ_t v[c_t][d]·p_t: one float sum per d, t in list order
 *
 * A token's result depends on its own list prefix only, so decoding a
 * prompt in one batch or token by token gives the same bits, and so does
 * any grouping of queries. The list is sorted by (position, cell), so where
 * a sequence's cells lie never changes the result either.
 *
 * Work: the queries of consecutive tokens that share a list and of one KV
 * head form blocks of up to the path's `attend_q` (`attend_narrow_q` for
 * a run that few queries fill, with its narrower kernel); a fused kernel
 * reads each K and V row once per block (keeping the block's weights, W ×
 * L floats, never a tokens × cells matrix). A path without one runs the
 * reference below, one query at a time. Threads take the blocks in turn;
 * each output row is computed by one thread.
 *
 * The softmax is not an online one (running max, rescaled sums): rounding
 * p_t to F16 needs the final sum, and that rounding is what keeps an F16
 * cache's logits within 2e-6 of llama.cpp's (an online softmax, rounding
 * e_t, moved the Q8_0 tiny model's by 0.15).
 *
 * Legend: k = head dim, h = query heads, g = KV heads, G = h/g, n = tokens,
 * c = cache cells, e = list cells of the micro-batch.
 */
#include "backends/cpu/cpu-impl.h"

#include <string.h>

/* Lists hold at most this many cells: the cache's, or all lists' together. */
static int64_t max_list(const ts_node *n) {
    const int64_t c = n->src[1]->t.ne[1], e = n->src[3]->t.ne[0];
    return c < e ? c : e;
}

void ts_cpu_attention_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    const int64_t k = n->src[0]->t.ne[0], v = max_list(n);
    *shared = 0;
    /* the reference: the weights (v floats), q rounded to F16 (k halves) */
    *per_thread = cpu_align((size_t)v * sizeof(float)) + cpu_align((size_t)k * sizeof(uint16_t));
    const size_t fused = cpu_align(ts_cpu_attend_scratch(k, v) * sizeof(float));
    if (fused > *per_thread) *per_thread = fused;
}

/* The reference: query qi of a block. */
static void attend_one(const cpu_path *vp, const cpu_attend_args *a, int qi) {
    const int64_t k = a->dim, L = a->len[qi], v = a->max_len;
    float *p = a->scratch, *o = a->out[qi];
    uint16_t *q16 =
        (uint16_t *)(void *)((uint8_t *)a->scratch + cpu_align((size_t)v * sizeof(float)));
    const float *q = a->q[qi];

    // scores s_t = (k[c_t] · q) · scale, then the softmax weights
    if (a->half) ts_quantize_row(TS_TYPE_F16, q, q16, k);
    for (int64_t t = 0; t < L; t++) {
        const uint8_t *row = a->k + (size_t)a->cells[t] * a->rs;
        p[t] = a->half ? vp->dot_f16((const uint16_t *)(const void *)row, q16, k)
                       : vp->dot_f32((const float *)(const void *)row, q, k);
    }
    vp->softmax(p, L, a->scale);

    // out[d] = Σ_t v[c_t][d] · p_t, t in list order
    for (int64_t d = 0; d < k; d++) o[d] = 0.0f;
    for (int64_t t = 0; t < L; t++) {
        const uint8_t *row = a->v + (size_t)a->cells[t] * a->rs;
        if (a->half)
            vp->mad_f16(o, (const uint16_t *)(const void *)row, cpu_f16(ts_fp32_to_fp16(p[t])), k);
        else
            vp->mad_f32(o, (const float *)(const void *)row, p[t], k);
    }
}

void ts_cpu_attend_ref(const cpu_path *vp, const cpu_attend_args *a) {
    for (int qi = 0; qi < a->nq; qi++) attend_one(vp, a, qi);
}

/* Blocks of KV head kvh over tokens [j0, j1) (one list): the queries (j,
 * hq) in token-major order, W per block. */
static int64_t n_blocks(int64_t n_tok, int64_t G, int W) { return (n_tok * G + W - 1) / W; }

typedef struct att_node {
    const ts_tensor *q, *kc, *vc, *out;
    const int32_t *idx, *span; /* (e), (2, n) */
    int64_t n_idx;             /* e */
    int64_t v;                 /* the longest a list may be */
    int64_t k, g, G;           /* head dim, KV heads, query heads per KV head */
    float scale;
} att_node;

/* The kernel for a run of nq queries per KV head, and its block size. */
static cpu_attend_fn pick_kernel(const cpu_path *p, int64_t nq, int *W) {
    if (p->attend_narrow && nq <= p->attend_narrow_q) {
        *W = p->attend_narrow_q;
        return p->attend_narrow;
    }
    *W = p->attend ? p->attend_q : 1;
    return p->attend;
}

/* Block b (W queries) of KV head kvh over tokens [j0, j1), by `kernel`
 * (NULL: the reference). */
static void run_block(const cpu_compute *c, const att_node *an, int64_t j0, int64_t j1, int64_t kvh,
                      int64_t b, int W, cpu_attend_fn kernel) {
    const size_t esz = an->kc->type == TS_TYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    const size_t head_off = (size_t)(kvh * an->k) * esz;
    cpu_attend_args a = {
        .k = (const uint8_t *)an->kc->data + head_off,
        .v = (const uint8_t *)an->vc->data + head_off,
        .rs = an->kc->nb[1],
        .half = an->kc->type == TS_TYPE_F16,
        .dim = an->k,
        .cells = an->idx + an->span[2 * j0],
        .scale = an->scale,
        .max_len = an->v,
        .scratch = cpu_thread_work(c),
    };
    TS_ASSERT(an->vc->nb[1] == a.rs);
    const int64_t nq = (j1 - j0) * an->G;
    int32_t lmax = 0;
    for (int64_t i = b * W; i < nq && a.nq < W; i++) {
        const int64_t j = j0 + i / an->G, hq = kvh * an->G + i % an->G;
        const int32_t L = an->span[2 * j + 1];
        TS_ASSERT(L >= 1 && L <= an->v && an->span[2 * j] >= 0 &&
                  an->span[2 * j] + (int64_t)L <= an->n_idx);
        a.q[a.nq] = cpu_row(an->q, hq, j, 0);
        a.out[a.nq] = (float *)cpu_row(an->out, j, 0, 0) + hq * an->k;
        a.len[a.nq++] = L;
        lmax = L > lmax ? L : lmax;
    }
    for (int32_t t = 0; t < lmax; t++) TS_ASSERT(a.cells[t] >= 0 && a.cells[t] < an->kc->ne[1]);
    if (kernel)
        kernel(&a);
    else
        ts_cpu_attend_ref(c->path, &a);
}

void ts_cpu_attention(const cpu_compute *c, const ts_node *n) {
    const att_node an = {
        .q = &n->src[0]->t,  /* (k, h, n) F32 */
        .kc = &n->src[1]->t, /* (k·g, c) */
        .vc = &n->src[2]->t, /* (k·g, c) */
        .idx = n->src[3]->t.data,
        .span = n->src[4]->t.data,
        .n_idx = n->src[3]->t.ne[0],
        .v = max_list(n),
        .out = &n->t, /* (k·h, n) */
        .k = n->src[0]->t.ne[0],
        .g = n->src[1]->t.ne[0] / n->src[0]->t.ne[0],
        .G = n->src[0]->t.ne[1] / (n->src[1]->t.ne[0] / n->src[0]->t.ne[0]),
        .scale = TS_NODE_PARAMS(n, ts_attention_params).scale,
    };
    const int64_t n_tok = an.q->ne[2];
    // the blocks of every run of tokens sharing a list, dealt to the threads
    // in turn (a prompt's later tokens have longer lists)
    int64_t u = 0;
    for (int64_t j0 = 0, j1; j0 < n_tok; j0 = j1) {
        for (j1 = j0 + 1; j1 < n_tok && an.span[2 * j1] == an.span[2 * j0];) j1++;
        int W;
        const cpu_attend_fn kernel = pick_kernel(c->path, (j1 - j0) * an.G, &W);
        const int64_t nb = n_blocks(j1 - j0, an.G, W);
        for (int64_t kvh = 0; kvh < an.g; kvh++)
            for (int64_t b = 0; b < nb; b++, u++)
                if (u % c->nth == c->ith) run_block(c, &an, j0, j1, kvh, b, W, kernel);
    }
}
