/*
 * ops.c — the CPU backend's node checks (supports, work sizes) and its
 * row-wise kernels: GET_ROWS, ADD, MUL, RMS_NORM, SWIGLU, SET_ROWS.
 *
 * Numerics follow the reduction-order contract (core/fmath-impl.h):
 * RMS_NORM sums x² on TS_LANES partial sums, SWIGLU uses silu(x) =
 * x/(1 + ts_expf(−x)), the binary ops are one float operation per element.
 * Each kernel splits the rows of its output over the threads.
 *
 * Legend: ne0 = row length, rows = ne1·ne2·ne3 of the output.
 */
#include "backends/cpu/cpu-impl.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* ============================================================ half table */

float ts_cpu_f16_table[1 << 16];

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (uint32_t h = 0; h < (1u << 16); h++) ts_cpu_f16_table[h] = ts_fp16_to_fp32((uint16_t)h);
}

void ts_cpu_tables_init(void) { pthread_once(&tables_once, build_tables); }

/* ============================================================== supports */

static bool is_type(const ts_node *n, ts_type t) { return n && n->t.type == t; }

/* Elements of a row are packed (nb[0] is one element, or one block). */
static bool packed_rows(const ts_node *n) {
    return n->t.nb[0] == ts_type_get(n->t.type)->type_size;
}

static bool same_shape(const ts_node *a, const ts_node *b) {
    for (int i = 0; i < TS_MAX_DIMS; i++)
        if (a->t.ne[i] != b->t.ne[i]) return false;
    return true;
}

static bool is_index(const ts_node *n) { return is_type(n, TS_TYPE_I32) && packed_rows(n); }

static bool all_f32(const ts_node *n, int n_src) {
    if (!is_type(n, TS_TYPE_F32) || !packed_rows(n)) return false;
    for (int i = 0; i < n_src; i++)
        if (!is_type(n->src[i], TS_TYPE_F32) || !packed_rows(n->src[i])) return false;
    return true;
}

static bool supports_get_rows(const ts_node *n, const char **why) {
    const ts_node *a = n->src[0], *idx = n->src[1];
    *why = "needs a table of a type with kernels, I32 indices, an F32 result";
    if (!a || !ts_type_valid(a->t.type) || !ts_type_has_kernels(a->t.type)) return false;
    if (!packed_rows(a) || !is_index(idx) || !is_type(n, TS_TYPE_F32) || !packed_rows(n))
        return false;
    return a->t.ne[0] == n->t.ne[0] && a->t.ne[2] == 1 && a->t.ne[3] == 1 &&
           idx->t.ne[0] == n->t.ne[1];
}

static bool supports_mul_mat(const ts_node *n, const char **why) {
    const ts_node *w = n->src[0], *x = n->src[1];
    *why = "needs weights of a type with a dot product and F32 activations";
    if (!w || !ts_type_valid(w->t.type) || !ts_type_has_vec_dot(w->t.type)) return false;
    if (!packed_rows(w) || !is_type(x, TS_TYPE_F32) || !packed_rows(x)) return false;
    if (!is_type(n, TS_TYPE_F32) || !packed_rows(n)) return false;
    const int64_t K = w->t.ne[0];
    const ts_type vt = ts_type_dot_type(w->t.type);
    *why = "row length is not a multiple of the block size";
    if (K % ts_type_get(w->t.type)->block_size || K % ts_type_get(vt)->block_size) return false;
    *why = "shapes do not match";
    return x->t.ne[0] == K && w->t.ne[2] == 1 && w->t.ne[3] == 1 && x->t.ne[2] == 1 &&
           x->t.ne[3] == 1 && n->t.ne[0] == w->t.ne[1] && n->t.ne[1] == x->t.ne[1];
}

static bool supports_broadcast(const ts_node *n, const char **why) {
    *why = "needs F32 operands, b broadcast over a";
    if (!all_f32(n, 2) || !same_shape(n, n->src[0])) return false;
    for (int i = 0; i < TS_MAX_DIMS; i++) {
        const int64_t nb = n->src[1]->t.ne[i];
        if (nb <= 0 || n->t.ne[i] % nb) return false;
    }
    return true;
}

static bool supports_rope(const ts_node *n, const char **why) {
    const ts_rope_params p = TS_NODE_PARAMS(n, ts_rope_params);
    const ts_node *pos = n->src[1], *freq = n->src[2];
    *why = "needs F32 (k, h, n) data, I32 positions, optional F32 frequency factors";
    if (!all_f32(n, 1) || !same_shape(n, n->src[0]) || !is_index(pos)) return false;
    if (pos->t.ne[0] < n->t.ne[2] || n->t.ne[3] != 1) return false;
    *why = "unsupported mode or rotated dimensions";
    if (p.mode != TS_ROPE_NORMAL && p.mode != TS_ROPE_NEOX) return false;
    if (p.n_dims <= 0 || p.n_dims % 2 || p.n_dims > n->t.ne[0]) return false;
    *why = "frequency factors must be F32 with n_dims/2 values";
    if (freq && (!is_type(freq, TS_TYPE_F32) || !packed_rows(freq) || freq->t.ne[0] < p.n_dims / 2))
        return false;
    return true;
}

static bool supports_attention(const ts_node *n, const char **why) {
    const ts_node *q = n->src[0], *kc = n->src[1], *vc = n->src[2];
    const ts_node *idx = n->src[3], *span = n->src[4];
    *why = "needs F32 queries, F16 or F32 caches of one type, I32 cell lists and spans";
    if (!all_f32(n, 1) || !kc || !vc || !is_index(idx) || !is_index(span)) return false;
    if (kc->t.type != vc->t.type || !(is_type(kc, TS_TYPE_F16) || is_type(kc, TS_TYPE_F32)))
        return false;
    if (!packed_rows(kc) || !packed_rows(vc)) return false;
    *why = "shapes do not match";
    const int64_t k = q->t.ne[0], h = q->t.ne[1], n_tok = q->t.ne[2];
    if (k <= 0 || kc->t.ne[0] % k || kc->t.ne[0] != vc->t.ne[0] || kc->t.ne[1] != vc->t.ne[1])
        return false;
    const int64_t g = kc->t.ne[0] / k;
    if (g <= 0 || h % g || q->t.ne[3] != 1) return false;
    if (idx->t.n_dims != 1 || span->t.ne[0] != 2 || span->t.ne[1] != n_tok) return false;
    return n->t.ne[0] == k * h && n->t.ne[1] == n_tok;
}

static bool supports_set_rows(const ts_node *n, const char **why) {
    const ts_node *dst = n->src[0], *src = n->src[1], *idx = n->src[2];
    *why = "needs an F32 or F16 destination, F32 rows, I32 indices";
    if (!dst || !(is_type(dst, TS_TYPE_F32) || is_type(dst, TS_TYPE_F16))) return false;
    if (!is_type(n, dst->t.type) || !packed_rows(dst) || !is_index(idx)) return false;
    if (!is_type(src, TS_TYPE_F32) || !packed_rows(src)) return false;
    *why = "shapes do not match";
    return src->t.ne[0] == dst->t.ne[0] && idx->t.ne[0] == src->t.ne[1] && src->t.ne[2] == 1 &&
           src->t.ne[3] == 1 && dst->t.ne[2] == 1 && dst->t.ne[3] == 1;
}

bool ts_cpu_supports(const ts_node *n, const char **why) {
    *why = "";
    switch (n->op) {
    case TS_OP_NONE:
    case TS_OP_RESHAPE:
        return true;
    case TS_OP_GET_ROWS:
        return supports_get_rows(n, why);
    case TS_OP_MUL_MAT:
        return supports_mul_mat(n, why);
    case TS_OP_ADD:
    case TS_OP_MUL:
        return supports_broadcast(n, why);
    case TS_OP_RMS_NORM:
        *why = "needs F32 data";
        return all_f32(n, 1) && same_shape(n, n->src[0]);
    case TS_OP_ROPE:
        return supports_rope(n, why);
    case TS_OP_ATTENTION:
        return supports_attention(n, why);
    case TS_OP_SWIGLU:
        *why = "needs F32 operands of one shape";
        return all_f32(n, 2) && same_shape(n, n->src[0]) && same_shape(n, n->src[1]);
    case TS_OP_SET_ROWS:
        return supports_set_rows(n, why);
    default:
        *why = "unknown op";
        return false;
    }
}

void ts_cpu_work_size(const ts_node *n, size_t *shared, size_t *per_thread) {
    *shared = 0;
    *per_thread = 0;
    switch (n->op) {
    case TS_OP_MUL_MAT:
        ts_cpu_mul_mat_work(n, shared, per_thread);
        break;
    case TS_OP_ROPE:
        ts_cpu_rope_work(n, shared, per_thread);
        break;
    case TS_OP_ATTENTION:
        ts_cpu_attention_work(n, shared, per_thread);
        break;
    case TS_OP_GET_ROWS:
        ts_cpu_get_rows_work(n, shared, per_thread);
        break;
    default:
        break;
    }
    *shared = cpu_align(*shared);
    *per_thread = cpu_align(*per_thread);
}

/* ============================================================== kernels */

/* Rows of a 4-d output: flat row r → (i1, i2, i3). */
static void row_coords(const ts_tensor *t, int64_t r, int64_t *i1, int64_t *i2, int64_t *i3) {
    *i1 = r % t->ne[1];
    *i2 = r / t->ne[1] % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}

static int64_t n_rows(const ts_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* One table row in the file's layout, per thread, for a repacked table. */
void ts_cpu_get_rows_work(const ts_node *n, size_t *shared, size_t *per_thread) {
    *shared = 0;
    *per_thread = n->src[0]->t.nb[1];
}

/* a (d, r) any type with kernels, idx (n) I32 → out (d, n) F32. A table the
 * backend repacked (a tied embedding, also the output matrix) is read from
 * its copy: its file pages were released. */
void ts_cpu_get_rows(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *a = &n->src[0]->t, *idx = &n->src[1]->t, *out = &n->t;
    const int32_t *rows = idx->data;
    const void *packed = ts_cpu_repacked_find(c->repacked, c->repacked_cap, a->data);
    void *row = cpu_thread_work(c);
    int64_t j0, j1;
    cpu_split(out->ne[1], c->ith, c->nth, &j0, &j1);
    for (int64_t j = j0; j < j1; j++) {
        const int32_t r = rows[j];
        TS_ASSERT(r >= 0 && r < a->ne[1]);
        const void *src = cpu_row(a, r, 0, 0);
        if (packed) {
            ts_cpu_unpack_row(a->type, packed, a->ne[0], r, row);
            src = row;
        }
        ts_dequantize_row(a->type, src, cpu_row(out, j, 0, 0), a->ne[0]);
    }
}

/* out = a op b, b broadcast (each b->ne[i] divides a->ne[i]); all F32. */
static void broadcast(const cpu_compute *c, const ts_node *n, bool is_add) {
    const ts_tensor *a = &n->src[0]->t, *b = &n->src[1]->t, *out = &n->t;
    const int64_t ne0 = out->ne[0], bne0 = b->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(out), c->ith, c->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        row_coords(out, r, &i1, &i2, &i3);
        const float *x = cpu_row(a, i1, i2, i3);
        const float *y = cpu_row(b, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        float *o = cpu_row(out, i1, i2, i3);
        for (int64_t i0 = 0; i0 < ne0; i0 += bne0) {
            if (is_add)
                for (int64_t i = 0; i < bne0; i++) o[i0 + i] = x[i0 + i] + y[i];
            else
                for (int64_t i = 0; i < bne0; i++) o[i0 + i] = x[i0 + i] * y[i];
        }
    }
}

void ts_cpu_add(const cpu_compute *c, const ts_node *n) { broadcast(c, n, true); }
void ts_cpu_mul(const cpu_compute *c, const ts_node *n) { broadcast(c, n, false); }

/* y = x / sqrt(mean(x²) + eps), per row: Σx² on the contract's lanes,
 * mean = Σ/ne0, scale = 1/sqrtf(mean + eps) (division and square root
 * correctly rounded), y = x·scale. */
void ts_cpu_rms_norm(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *a = &n->src[0]->t, *out = &n->t;
    const float eps = TS_NODE_PARAMS(n, ts_rms_norm_params).eps;
    const int64_t ne0 = out->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(out), c->ith, c->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        row_coords(out, r, &i1, &i2, &i3);
        const float *x = cpu_row(a, i1, i2, i3);
        float *y = cpu_row(out, i1, i2, i3);
        const float mean = c->path->dot_f32(x, x, ne0) / (float)ne0;
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t i = 0; i < ne0; i++) y[i] = x[i] * scale;
    }
}

/* PyTorch: silu(a) * b with silu(x) = x·sigmoid(x) = x/(1 + e^-x). */
void ts_cpu_swiglu(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *a = &n->src[0]->t, *b = &n->src[1]->t, *out = &n->t;
    const int64_t ne0 = out->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(out), c->ith, c->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        row_coords(out, r, &i1, &i2, &i3);
        const float *x = cpu_row(a, i1, i2, i3), *g = cpu_row(b, i1, i2, i3);
        float *y = cpu_row(out, i1, i2, i3);
        c->path->silu_mul(y, x, g, ne0);
    }
}

/* src (w, n) F32 → rows idx[j] of dst (w, c), converted to dst's type. The
 * node aliases dst, so its data is dst's. */
void ts_cpu_set_rows(const cpu_compute *c, const ts_node *n) {
    const ts_tensor *dst = &n->t, *src = &n->src[1]->t, *idx = &n->src[2]->t;
    const int32_t *rows = idx->data;
    const int64_t w = src->ne[0];
    int64_t j0, j1;
    cpu_split(src->ne[1], c->ith, c->nth, &j0, &j1);
    for (int64_t j = j0; j < j1; j++) {
        const int32_t r = rows[j];
        TS_ASSERT(r >= 0 && r < dst->ne[1]);
        const float *x = cpu_row(src, j, 0, 0);
        if (dst->type == TS_TYPE_F32)
            memcpy(cpu_row(dst, r, 0, 0), x, (size_t)w * sizeof(float));
        else
            ts_quantize_row(dst->type, x, cpu_row(dst, r, 0, 0), w);
    }
}
