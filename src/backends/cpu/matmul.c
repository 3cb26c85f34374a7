/*
 * matmul.c — MUL_MAT on the CPU: w (K, m) × x (K, n) → out (m, n), F32,
 *   out[j][i] = Σ_K w[i]·x[j]
 * as ggml-cpu does it: every row of x is first converted to the weight's
 * activation type vt = ts_type_dot_type(w) (Q8_0, Q8_1, Q8_K, F16, BF16;
 * F32 weights take x as it is) by ts_quantize_row (a path's own converter
 * gives the same bytes), then each output element is the row dot product
 * ts_vec_dot(w->type, w row i, x row j) in the reduction-order contract's
 * order: the selected ISA path's gemm kernel computes tiles of rows ×
 * tokens bitwise as the reference (which, for F16 weights, uses the half
 * table: bit-identical to ts_vec_dot(F16) without a call per element).
 *
 * A weight the backend repacked (repack.c: 16 rows interleaved, for the
 * path's row-per-lane kernels) is read from its copy instead, and the
 * threads split its 16-row groups.
 *
 * Threads: phase 1 converts the rows of x — for a batch of at most
 * PRIVATE_TOKENS tokens (generation) every thread converts all of them into
 * its own part of the work buffer, so no barrier is needed; a larger batch
 * is split over tokens into the shared part, then a barrier. Phase 2 splits
 * the weight rows i. Each output element depends only on w row i and x row
 * j, so the result does not depend on the thread count nor on the other
 * tokens of the batch.
 *
 * Legend: K = reduction length, m = weight rows (outputs), n = tokens,
 * vt = activation type, rs = bytes of one converted x row.
 */
#include "backends/cpu/cpu-impl.h"

#include <string.h>

#define TILE_ROWS      16 /* weight rows kept hot while the tokens of a tile pass */
#define TILE_TOKENS    64 /* converted x rows of a tile */
#define PRIVATE_TOKENS 4  /* up to this many tokens, each thread converts them all */
_Static_assert(TILE_ROWS % TS_RP_ROWS == 0, "a tile holds whole repacked groups");

static size_t act_row_size(const ts_node *n) {
    const ts_tensor *w = &n->src[0]->t;
    size_t rs = 0;
    TS_ASSERT(ts_type_row_size(ts_type_dot_type(w->type), w->ne[0], &rs));
    return rs;
}

static bool converts(const ts_node *n) { return n->src[0]->t.type != TS_TYPE_F32; }

void ts_cpu_mul_mat_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    const int64_t n_tok = n->src[1]->t.ne[1];
    const size_t bytes = converts(n) ? act_row_size(n) * (size_t)n_tok : 0;
    *shared = n_tok <= PRIVATE_TOKENS ? 0 : bytes;
    *per_thread = n_tok <= PRIVATE_TOKENS ? bytes : 0;
}

void ts_cpu_gemm_ref(ts_type type, const cpu_gemm_args *a) {
    for (int64_t j = 0; j < a->n_tok; j++) {
        const void *y = a->x + (size_t)j * a->x_rs;
        float *o = a->out + (size_t)j * a->out_rs;
        if (type == TS_TYPE_F16) { /* the half table: as ts_vec_dot(F16), faster */
            for (int64_t i = 0; i < a->n_rows; i++)
                o[i] = ts_cpu_dot_f16((const void *)(a->w + (size_t)i * a->w_rs), y, a->K);
        } else {
            for (int64_t i = 0; i < a->n_rows; i++)
                o[i] = ts_vec_dot(type, a->w + (size_t)i * a->w_rs, y, a->K);
        }
    }
}

/* Phase 2: this thread's weight rows, split in units of `unit` rows (16
 * for a repacked weight, whose groups must stay whole), in tiles of rows ×
 * tokens. Row i of the weight starts at base + i·stride (a repacked group
 * of 16 rows takes 16 strides). gemm NULL: the reference. */
static void mul_mat_tiles(const cpu_compute *c, const ts_node *n, const uint8_t *base,
                          size_t stride, int64_t unit, cpu_gemm_fn gemm, const uint8_t *xq,
                          size_t rs) {
    const ts_tensor *w = &n->src[0]->t, *out = &n->t;
    const int64_t m = w->ne[1], n_tok = n->src[1]->t.ne[1];
    int64_t u0, u1;
    cpu_split((m + unit - 1) / unit, c->ith, c->nth, &u0, &u1);
    const int64_t i0 = u0 * unit, i1 = u1 * unit < m ? u1 * unit : m;
    for (int64_t jt = 0; jt < n_tok; jt += TILE_TOKENS) {
        const int64_t jt1 = jt + TILE_TOKENS < n_tok ? jt + TILE_TOKENS : n_tok;
        for (int64_t it = i0; it < i1; it += TILE_ROWS) {
            const int64_t it1 = it + TILE_ROWS < i1 ? it + TILE_ROWS : i1;
            const cpu_gemm_args a = {
                .w = base + (size_t)it * stride,
                .w_rs = stride,
                .x = xq + (size_t)jt * rs,
                .x_rs = rs,
                .out = (float *)cpu_row(out, jt, 0, 0) + it,
                .out_rs = out->nb[1] / sizeof(float),
                .K = w->ne[0],
                .n_rows = it1 - it,
                .n_tok = jt1 - jt,
            };
            if (gemm)
                gemm(&a);
            else
                ts_cpu_gemm_ref(w->type, &a);
        }
    }
}

void ts_cpu_mul_mat(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *w = &n->src[0]->t; /* (K, m) */
    const ts_tensor *x = &n->src[1]->t; /* (K, n) F32 */
    const int64_t K = w->ne[0], n_tok = x->ne[1];

    // 1. activations → vt (F32 weights read x directly)
    const uint8_t *xq = x->data;
    size_t rs = x->nb[1];
    if (converts(n)) {
        const ts_type vt = ts_type_dot_type(w->type);
        rs = act_row_size(n);
        const bool private = n_tok <= PRIVATE_TOKENS;
        uint8_t *wq = private ? cpu_thread_work(c) : c->work;
        int64_t j0 = 0, j1 = n_tok;
        if (!private) cpu_split(n_tok, c->ith, c->nth, &j0, &j1);
        void (*const quantize)(const float *, void *, int64_t) = c->path->quantize[vt];
        for (int64_t j = j0; j < j1; j++) {
            if (quantize)
                quantize(cpu_row(x, j, 0, 0), wq + (size_t)j * rs, K);
            else
                ts_quantize_row(vt, cpu_row(x, j, 0, 0), wq + (size_t)j * rs, K);
        }
        if (!private) cpu_barrier(c);
        xq = wq;
    }

    // 2. this thread's weight rows, from the repacked copy when there is one
    const void *packed = c->path->gemm_rp[w->type]
                             ? ts_cpu_repacked_find(c->repacked, c->repacked_cap, w->data)
                             : NULL;
    if (packed)
        mul_mat_tiles(c, n, packed, ts_cpu_repack_size(w->type, K, TS_RP_ROWS) / TS_RP_ROWS,
                      TS_RP_ROWS, c->path->gemm_rp[w->type], xq, rs);
    else
        mul_mat_tiles(c, n, w->data, w->nb[1], 1, c->path->gemm[w->type], xq, rs);
}
