/*
 * decode.c — running a batch: validate it, split it into micro-batches,
 * give each token a free KV cell, derive every token's attention list from
 * the cell metadata, build the architecture's graph on the reserved plan,
 * run it on the backend and keep the wanted logits.
 *
 * A failed or aborted decode gives back the cells it took, so the cache is
 * as before the call.
 */
#include "core/core-impl.h"
#include "engine/engine-impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ================================================================ graph */

void ts_engine_build_graph(ts_context *ctx, int32_t n, int32_t o, int32_t e) {
    ts_graph *g = ctx->graph;
    ts_batch_inputs *in = &ctx->inputs;
    ts_graph_reset(g);
    *in = (ts_batch_inputs){
        .n_tokens = n,
        .n_outputs = o,
        .tokens = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, NULL, TS_NODE_INPUT, "tokens"),
        .pos = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, NULL, TS_NODE_INPUT, "pos"),
        .cells = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){n}, NULL, TS_NODE_INPUT, "cells"),
        .kv_idx = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){e}, NULL, TS_NODE_INPUT, "kv_idx"),
        .kv_span = ts_graph_leaf(g, TS_TYPE_I32, 2, (int64_t[]){2, n}, NULL, TS_NODE_INPUT, "kv_span"),
        .out_ids = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){o}, NULL, TS_NODE_INPUT, "out_ids"),
        .k_cache = ctx->k_cache,
        .v_cache = ctx->v_cache,
    };
    ctx->out_logits = ctx->model->arch->build(ctx->model, g, in);
}

/* Place the graph on the worst-case plan made at context creation: same
 * builder, same node sequence, every tensor at most its worst-case size. */
static void place_graph(ts_context *ctx) {
    ts_graph *g = ctx->graph;
    TS_ASSERT(ts_graph_n_nodes(g) == ctx->plan_n_nodes);
    for (int32_t i = 0; i < ctx->plan_n_nodes; i++) {
        ts_node *node = ts_graph_node(g, i);
        TS_ASSERT(ts_tensor_nbytes(&node->t) <= ctx->plan_bytes[i]);
        node->offset = ctx->plan_offsets[i];
    }
    ts_graph_bind(g, ctx->arena);
}

static ts_status upload(ts_context *ctx, const ts_node *node, const int32_t *src) {
    return ts_backend_upload(ctx->backend, ctx->arena, node->offset, src, ts_tensor_nbytes(&node->t));
}

/* ============================================================ validation */

static bool wants_logits(const ts_batch *b, int32_t i) {
    return b->logits ? b->logits[i] != 0 : i == b->n_tokens - 1;
}

/* Check every token; on success *n_out is the number of logits rows. */
static ts_status validate(ts_context *ctx, const ts_batch *b, int32_t *n_out) {
    if (!b || b->n_tokens < 1) return ts_error(TS_ERR_INVALID_ARG, "the batch is empty");
    const int32_t n_vocab = ctx->model->hp.n_vocab;
    ts_kv_cells *kv = &ctx->cells;
    const uint32_t n_used = ts_kv_cells_used(kv);
    // last position of every sequence: new positions must come after it
    ts_pos last[TS_MAX_SEQ];
    for (int s = 0; s < TS_MAX_SEQ; s++) last[s] = -1;
    for (uint32_t i = 0; i < n_used; i++) { // in position order: the last one wins
        const uint32_t c = (uint32_t)kv->order[i];
        for (uint64_t m = kv->seq[c]; m; m &= m - 1) last[__builtin_ctzll(m)] = kv->pos[c];
    }
    *n_out = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        if (b->token[i] < 0 || b->token[i] >= n_vocab)
            return ts_error(TS_ERR_INVALID_ARG, "batch token %d: id %d is outside the vocabulary (0..%d)",
                            i, b->token[i], n_vocab - 1);
        if (b->pos[i] < 0 || (uint32_t)b->pos[i] >= ctx->params.n_ctx)
            return ts_error(TS_ERR_INVALID_ARG, "batch token %d: position %d is outside the context (0..%u)",
                            i, b->pos[i], ctx->params.n_ctx - 1);
        if (b->n_seq_id[i] < 1 || (uint32_t)b->n_seq_id[i] > ctx->params.n_seq_max)
            return ts_error(TS_ERR_INVALID_ARG, "batch token %d belongs to %d sequences (1..%u allowed)",
                            i, b->n_seq_id[i], ctx->params.n_seq_max);
        for (int32_t j = 0; j < b->n_seq_id[i]; j++) {
            ts_seq_id s = b->seq_id[i][j];
            if (s < 0 || (uint32_t)s >= ctx->params.n_seq_max)
                return ts_error(TS_ERR_INVALID_ARG, "batch token %d: sequence id %d is outside 0..%u",
                                i, s, ctx->params.n_seq_max - 1);
            if (b->pos[i] <= last[s])
                return ts_error(TS_ERR_INVALID_ARG,
                                "batch token %d: sequence %d already reaches position %d, so %d "
                                "cannot follow (remove cells with ts_seq_rm first)",
                                i, s, last[s], b->pos[i]);
            last[s] = b->pos[i];
        }
        *n_out += wants_logits(b, i);
    }
    const uint32_t n_free = kv->n - n_used;
    if ((uint32_t)b->n_tokens > n_free)
        return ts_error(TS_ERR_FULL, "the context is full: the batch needs %d cells, %u of %u are free",
                        b->n_tokens, n_free, kv->n);
    return TS_OK;
}

/* Room for the results of a batch of n tokens with n_out logits rows. */
static ts_status reserve_outputs(ts_context *ctx, int32_t n, int32_t n_out) {
    if (n_out > ctx->rows_cap) {
        float *p = realloc(ctx->logits, (size_t)n_out * (size_t)ctx->model->hp.n_vocab * sizeof *p);
        if (!p) return ts_error(TS_ERR_NOMEM, "no memory for %d rows of logits", n_out);
        ctx->logits = p;
        ctx->rows_cap = n_out;
    }
    if (n > ctx->batch_cap) {
        int32_t *p = realloc(ctx->out_row, (size_t)n * sizeof *p);
        if (!p) return ts_error(TS_ERR_NOMEM, "no memory for a batch of %d tokens", n);
        ctx->out_row = p;
        ctx->batch_cap = n;
    }
    return TS_OK;
}

/* ========================================================== micro-batch */

static uint64_t seq_mask(const ts_batch *b, int32_t i) {
    uint64_t m = 0;
    for (int32_t j = 0; j < b->n_seq_id[i]; j++) m |= 1ull << b->seq_id[i][j];
    return m;
}

/* Take a free cell for each token of [b0, b1) and record it in the cell
 * metadata; *cursor is where the search for a free cell resumes. */
static void take_cells(ts_context *ctx, const ts_batch *b, int32_t b0, int32_t b1, uint32_t *cursor) {
    ts_kv_cells *kv = &ctx->cells;
    for (int32_t i = b0; i < b1; i++) {
        while (kv->seq[*cursor]) (*cursor)++; // validate() counted enough free cells
        uint32_t c = (*cursor)++;
        ts_kv_cells_take(kv, c, b->pos[i], seq_mask(b, i));
        ctx->in_cells[i - b0] = (int32_t)c;
    }
}

/* The list of sequence set m among the first *n_lists, or a new one; -1
 * when it would be new and there are lists_max. */
static int32_t list_of(ts_context *ctx, uint64_t m, int32_t *n_lists) {
    for (int32_t l = 0; l < *n_lists; l++)
        if (ctx->in_lists[l].seqs == m) return l;
    if (*n_lists == ctx->lists_max) return -1;
    ctx->in_lists[*n_lists] = (ts_kv_list){.seqs = m, .last = -1};
    return (*n_lists)++;
}

/* Entries of list[0..len) whose cell holds a position <= p: a prefix, the
 * list being in position order. */
static int32_t prefix_len(const ts_kv_cells *kv, const int32_t *list, int32_t len, ts_pos p) {
    int32_t lo = 0, hi = len;
    while (lo < hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (kv->pos[list[mid]] <= p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Fill the staging buffers of tokens [b0, b1): one attention list per
 * sequence set, the cells visible at the set's last position in this
 * micro-batch; each token attends to the prefix of its set's list up to
 * its own position. Returns the cells of all lists (e). */
static int32_t stage_inputs(ts_context *ctx, const ts_batch *b, int32_t b0, int32_t b1,
                            int32_t *n_out) {
    const int32_t n = b1 - b0;
    ts_kv_cells *kv = &ctx->cells;
    ts_kv_cells_used(kv);
    int32_t n_lists = 0, e = 0;
    *n_out = 0;
    for (int32_t j = 0; j < n; j++) {
        const int32_t i = b0 + j, l = list_of(ctx, seq_mask(b, i), &n_lists);
        TS_ASSERT(l >= 0); // ubatch_end keeps to lists_max
        ctx->in_tokens[j] = b->token[i];
        ctx->in_pos[j] = b->pos[i];
        ctx->in_span[2 * j] = l; // the list for now, its offset below
        if (b->pos[i] > ctx->in_lists[l].last) ctx->in_lists[l].last = b->pos[i];
        if (wants_logits(b, i)) ctx->in_out[(*n_out)++] = j;
    }
    for (int32_t l = 0; l < n_lists; l++) {
        ts_kv_list *L = &ctx->in_lists[l];
        L->off = e;
        L->len = ts_kv_cells_visible(kv, L->seqs, L->last, ctx->in_idx + e);
        e += L->len;
    }
    for (int32_t j = 0; j < n; j++) {
        const ts_kv_list *L = &ctx->in_lists[ctx->in_span[2 * j]];
        ctx->in_span[2 * j] = L->off;
        ctx->in_span[2 * j + 1] = prefix_len(kv, ctx->in_idx + L->off, L->len, ctx->in_pos[j]);
        TS_ASSERT(ctx->in_span[2 * j + 1] >= 1); // the token's own cell is visible
    }
    return e;
}

static ts_status run_ubatch(ts_context *ctx, const ts_batch *b, int32_t b0, int32_t b1,
                            uint32_t *cursor, int32_t *row) {
    const int32_t n = b1 - b0, n_vocab = ctx->model->hp.n_vocab;
    take_cells(ctx, b, b0, b1, cursor);
    int32_t o;
    const int32_t e = stage_inputs(ctx, b, b0, b1, &o);
    ts_engine_build_graph(ctx, n, o, e);
    place_graph(ctx);
    const ts_batch_inputs *in = &ctx->inputs;
    ts_status st = upload(ctx, in->tokens, ctx->in_tokens);
    if (st == TS_OK) st = upload(ctx, in->pos, ctx->in_pos);
    if (st == TS_OK) st = upload(ctx, in->cells, ctx->in_cells);
    if (st == TS_OK) st = upload(ctx, in->kv_idx, ctx->in_idx);
    if (st == TS_OK) st = upload(ctx, in->kv_span, ctx->in_span);
    if (st == TS_OK) st = upload(ctx, in->out_ids, ctx->in_out);
    if (st != TS_OK) return st;
    double t0 = now_seconds();
    st = ts_backend_graph_compute(ctx->backend, ctx->graph, ctx->params.abort_callback,
                                  ctx->params.abort_user);
    if (st == TS_OK) st = ts_backend_synchronize(ctx->backend);
    ctx->stats.compute_seconds += now_seconds() - t0;
    ctx->stats.n_graph_compute++;
    if (st != TS_OK) return st;
    // logits rows, in batch order
    for (int32_t r = 0; r < o; r++) ctx->out_row[b0 + ctx->in_out[r]] = *row + r;
    st = ts_backend_download(ctx->backend, ctx->arena, ctx->out_logits->offset,
                             ctx->logits + (size_t)*row * (size_t)n_vocab,
                             (size_t)o * (size_t)n_vocab * sizeof(float));
    *row += o;
    return st;
}

/* End of the micro-batch starting at b0: at most n_ubatch tokens,
 * n_outputs_max of them wanting logits, lists_max sequence sets. */
static int32_t ubatch_end(ts_context *ctx, const ts_batch *b, int32_t b0) {
    int32_t b1 = b0, o = 0, n_lists = 0;
    while (b1 < b->n_tokens && b1 - b0 < (int32_t)ctx->params.n_ubatch) {
        if (wants_logits(b, b1) && o == ctx->n_outputs_max) break;
        if (list_of(ctx, seq_mask(b, b1), &n_lists) < 0) break;
        o += wants_logits(b, b1);
        b1++;
    }
    return b1;
}

/* Give back the cells this call took (all cells holding its tokens). */
static void rollback(ts_context *ctx, const ts_batch *b, int32_t done) {
    ts_kv_cells *kv = &ctx->cells;
    for (int32_t i = 0; i < done; i++) {
        const uint64_t m = seq_mask(b, i);
        for (uint32_t c = 0; c < kv->n; c++)
            if (kv->seq[c] == m && kv->pos[c] == b->pos[i]) {
                ts_kv_cells_release(kv, c);
                break;
            }
    }
}

ts_status ts_decode(ts_context *ctx, const ts_batch *b) {
    ctx->n_batch = 0;
    int32_t n_out;
    ts_status st = validate(ctx, b, &n_out);
    if (st == TS_OK) st = reserve_outputs(ctx, b->n_tokens, n_out);
    if (st != TS_OK) return st;
    for (int32_t i = 0; i < b->n_tokens; i++) ctx->out_row[i] = -1;
    uint32_t cursor = 0;
    int32_t row = 0;
    for (int32_t b0 = 0, b1; b0 < b->n_tokens; b0 = b1) {
        b1 = ubatch_end(ctx, b, b0);
        if (ctx->params.abort_callback && ctx->params.abort_callback(ctx->params.abort_user))
            st = ts_error(TS_ERR_ABORTED, "decode aborted by the caller");
        else
            st = run_ubatch(ctx, b, b0, b1, &cursor, &row);
        if (st != TS_OK) {
            rollback(ctx, b, b1);
            return st;
        }
    }
    ctx->n_batch = b->n_tokens;
    ctx->stats.n_decode++;
    ctx->stats.n_tokens += (uint64_t)b->n_tokens;
    return TS_OK;
}

const float *ts_get_logits(const ts_context *ctx, int32_t i) {
    if (i < 0 || i >= ctx->n_batch || ctx->out_row[i] < 0) return NULL;
    return ctx->logits + (size_t)ctx->out_row[i] * (size_t)ctx->model->hp.n_vocab;
}
