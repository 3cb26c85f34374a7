/*
 * context.c — creating a context: resolve parameters, allocate the KV
 * cache and the activation arena for the worst micro-batch (n_ubatch
 * tokens, all wanting logits, each attending to every cell), and keep that
 * plan so every later graph reuses it without allocating.
 */
#include "core/core-impl.h"
#include "engine/engine-impl.h"

#include <stdlib.h>
#include <string.h>

ts_context_params ts_context_default_params(void) {
    return (ts_context_params){
        .struct_size = sizeof(ts_context_params),
        .n_ubatch = 512,
        .n_seq_max = 1,
        .type_k = TS_TYPE_F16,
        .type_v = TS_TYPE_F16,
    };
}

static ts_status resolve_params(const ts_model *m, const ts_context_params *in,
                                ts_context_params *p) {
    const ts_context_params defaults = ts_context_default_params();
    if (!in) in = &defaults;
    if (in->struct_size != sizeof(ts_context_params))
        return ts_error(TS_ERR_INVALID_ARG, "ts_context_params.struct_size is %u, expected %zu",
                        in->struct_size, sizeof(ts_context_params));
    *p = *in;
    if (p->n_ctx == 0) p->n_ctx = (uint32_t)m->hp.n_ctx_train < 4096 ? (uint32_t)m->hp.n_ctx_train : 4096;
    if (p->n_ctx > (1u << 24))
        return ts_error(TS_ERR_INVALID_ARG, "n_ctx %u is above the limit of %u cells", p->n_ctx,
                        1u << 24);
    if (p->n_ubatch == 0) return ts_error(TS_ERR_INVALID_ARG, "n_ubatch must be at least 1");
    if (p->n_ubatch > p->n_ctx) p->n_ubatch = p->n_ctx;
    if (p->n_seq_max < 1 || p->n_seq_max > TS_MAX_SEQ)
        return ts_error(TS_ERR_INVALID_ARG, "n_seq_max %u is outside 1..%d", p->n_seq_max, TS_MAX_SEQ);
    if ((p->type_k != TS_TYPE_F16 && p->type_k != TS_TYPE_F32) ||
        (p->type_v != TS_TYPE_F16 && p->type_v != TS_TYPE_F32))
        return ts_error(TS_ERR_INVALID_ARG, "KV cache types %s/%s: only F16 and F32 are supported",
                        ts_type_name(p->type_k), ts_type_name(p->type_v));
    return TS_OK;
}

/* One K and one V tensor (g·k, c) per layer, back to back in one buffer. */
static ts_status alloc_kv(ts_context *ctx) {
    const ts_hparams *hp = &ctx->model->hp;
    const int64_t ne[2] = {(int64_t)hp->n_head_kv * hp->n_embd_head, ctx->params.n_ctx};
    ctx->k_cache = calloc((size_t)hp->n_layer, sizeof *ctx->k_cache);
    ctx->v_cache = calloc((size_t)hp->n_layer, sizeof *ctx->v_cache);
    if (!ctx->k_cache || !ctx->v_cache) return ts_error(TS_ERR_NOMEM, "no memory for the KV cache");
    size_t k_bytes = (size_t)ne[0] * (size_t)ne[1] * ts_type_get(ctx->params.type_k)->type_size;
    size_t v_bytes = (size_t)ne[0] * (size_t)ne[1] * ts_type_get(ctx->params.type_v)->type_size;
    ctx->stats.kv_bytes = (k_bytes + v_bytes) * (size_t)hp->n_layer;
    ts_status st = ts_backend_buffer_alloc(ctx->backend, ctx->stats.kv_bytes, &ctx->kv_buf);
    if (st != TS_OK) return st;
    char *p = ctx->kv_buf;
    for (int il = 0; il < hp->n_layer; il++) {
        TS_ASSERT(ts_tensor_init(&ctx->k_cache[il], ctx->params.type_k, 2, ne, p) == TS_OK);
        p += k_bytes;
        TS_ASSERT(ts_tensor_init(&ctx->v_cache[il], ctx->params.type_v, 2, ne, p) == TS_OK);
        p += v_bytes;
    }
    return TS_OK;
}

/* Cells the attention lists of one micro-batch may hold in all: a list per
 * distinct sequence set of its tokens, each at most n_ctx cells, so a
 * micro-batch ends early when it has LIST_CELLS_MAX / n_ctx lists (at
 * least one). 1 Mi cells: 4 MiB of staging and as much arena, whatever
 * n_ctx (64 lists at n_ctx 16384). */
#define LIST_CELLS_MAX (1 << 20)

static ts_status alloc_staging(ts_context *ctx) {
    const size_t u = ctx->params.n_ubatch, c = ctx->params.n_ctx;
    size_t l = LIST_CELLS_MAX / c;
    l = l < 1 ? 1 : (l > u ? u : l);
    ctx->lists_max = (int32_t)l;
    ctx->in_tokens = malloc(u * sizeof(int32_t));
    ctx->in_pos = malloc(u * sizeof(int32_t));
    ctx->in_cells = malloc(u * sizeof(int32_t));
    ctx->in_span = malloc(2 * u * sizeof(int32_t));
    ctx->in_out = malloc(u * sizeof(int32_t));
    ctx->in_lists = malloc(l * sizeof *ctx->in_lists);
    ctx->in_idx = malloc(l * c * sizeof(int32_t));
    ctx->stats.staging_bytes = (6 * u + l * c) * sizeof(int32_t) + l * sizeof *ctx->in_lists;
    ctx->rows_cap = (int32_t)ctx->params.n_seq_max;
    ctx->logits = malloc((size_t)ctx->rows_cap * (size_t)ctx->model->hp.n_vocab * sizeof(float));
    if (!ctx->in_tokens || !ctx->in_pos || !ctx->in_cells || !ctx->in_span || !ctx->in_out ||
        !ctx->in_lists || !ctx->in_idx || !ctx->logits)
        return ts_error(TS_ERR_NOMEM, "no memory for the micro-batch staging buffers");
    return TS_OK;
}

/* Logits rows one micro-batch may produce. The logits dominate the arena
 * (n_vocab floats per row), so a micro-batch ends early when it has this
 * many; wanting every token's logits then costs more micro-batches, not
 * memory. */
#define OUTPUTS_PER_UBATCH 32

/* Σ bytes of the distinct weights (leaves) g's MUL_MAT nodes multiply. */
static size_t matmul_weight_bytes(const ts_graph *g) {
    size_t total = 0;
    const int32_t n = ts_graph_n_nodes(g);
    for (int32_t i = 0; i < n; i++) {
        const ts_node *w = ts_graph_node(g, i)->src[0];
        if (ts_graph_node(g, i)->op != TS_OP_MUL_MAT || w->op != TS_OP_NONE) continue;
        bool seen = false;
        for (int32_t k = 0; k < i && !seen; k++) {
            const ts_node *o = ts_graph_node(g, k);
            seen = o->op == TS_OP_MUL_MAT && o->src[0]->t.data == w->t.data;
        }
        if (!seen) total += ts_tensor_nbytes(&w->t);
    }
    return total;
}

/* Plan the worst micro-batch and allocate its arena. */
static ts_status reserve_arena(ts_context *ctx) {
    const int32_t u = (int32_t)ctx->params.n_ubatch;
    int32_t o = (int32_t)ctx->params.n_seq_max > OUTPUTS_PER_UBATCH ? (int32_t)ctx->params.n_seq_max
                                                                    : OUTPUTS_PER_UBATCH;
    ctx->n_outputs_max = o < u ? o : u;
    ts_status st = ts_graph_new(ctx->model->arch->max_nodes(ctx->model) + 16, &ctx->graph);
    if (st != TS_OK) return st;
    ts_engine_build_graph(ctx, u, ctx->n_outputs_max, ctx->lists_max * (int32_t)ctx->params.n_ctx);
    ts_graph_plan(ctx->graph, &ctx->stats.arena_bytes);
    const int32_t n = ts_graph_n_nodes(ctx->graph);
    ctx->plan_offsets = malloc((size_t)n * sizeof *ctx->plan_offsets);
    ctx->plan_bytes = malloc((size_t)n * sizeof *ctx->plan_bytes);
    if (!ctx->plan_offsets || !ctx->plan_bytes) return ts_error(TS_ERR_NOMEM, "no memory for the graph plan");
    for (int32_t i = 0; i < n; i++) {
        const ts_node *node = ts_graph_node(ctx->graph, i);
        ctx->plan_offsets[i] = node->offset;
        ctx->plan_bytes[i] = ts_tensor_nbytes(&node->t);
    }
    ctx->plan_n_nodes = n;
    st = ts_backend_graph_reserve(ctx->backend, ctx->graph);
    if (st != TS_OK) return st;
    ts_backend_info info;
    ts_backend_get_info(ctx->backend, &info);
    ctx->stats.weight_copy_bytes = info.weight_bytes;
    ctx->stats.matmul_weight_bytes = matmul_weight_bytes(ctx->graph);
    const size_t bytes = ctx->stats.arena_bytes;
    return ts_backend_buffer_alloc(ctx->backend, bytes ? bytes : 64, &ctx->arena);
}

ts_status ts_context_new(const ts_model *m, const ts_context_params *p, ts_context **out) {
    *out = NULL;
    ts_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ts_error(TS_ERR_NOMEM, "no memory for a context");
    ctx->model = m;
    ts_status st = resolve_params(m, p, &ctx->params);
    if (st == TS_OK) st = ts_backend_cpu_new(ctx->params.n_threads, &ctx->backend);
    if (st == TS_OK) st = ts_kv_cells_init(&ctx->cells, ctx->params.n_ctx);
    if (st == TS_OK) st = alloc_kv(ctx);
    if (st == TS_OK) st = alloc_staging(ctx);
    if (st == TS_OK) st = reserve_arena(ctx);
    if (st != TS_OK) {
        ts_context_free(ctx);
        return st;
    }
    *out = ctx;
    return TS_OK;
}

void ts_context_free(ts_context *ctx) {
    if (!ctx) return;
    if (ctx->backend) {
        if (ctx->arena) ts_backend_buffer_free(ctx->backend, ctx->arena);
        if (ctx->kv_buf) ts_backend_buffer_free(ctx->backend, ctx->kv_buf);
        ts_backend_free(ctx->backend);
    }
    ts_graph_free(ctx->graph);
    ts_kv_cells_free(&ctx->cells);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->plan_offsets);
    free(ctx->plan_bytes);
    free(ctx->in_tokens);
    free(ctx->in_pos);
    free(ctx->in_cells);
    free(ctx->in_span);
    free(ctx->in_out);
    free(ctx->in_lists);
    free(ctx->in_idx);
    free(ctx->logits);
    free(ctx->out_row);
    free(ctx);
}

uint32_t ts_context_n_ctx(const ts_context *ctx) { return ctx->params.n_ctx; }
uint32_t ts_context_n_ubatch(const ts_context *ctx) { return ctx->params.n_ubatch; }

void ts_context_get_stats(const ts_context *ctx, ts_context_stats *out) {
    *out = ctx->stats;
    out->n_cells_used = ts_kv_cells_count(&ctx->cells);
}
