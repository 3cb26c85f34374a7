/*
 * engine-impl.h — the context: KV cells, the reserved graph arena, host
 * staging for a micro-batch's inputs, and the logits of the last decode.
 *
 * Letters: c = KV cells (n_ctx), u = micro-batch size (n_ubatch),
 * V = vocabulary, g·k = KV row width.
 */
#ifndef TS_ENGINE_IMPL_H
#define TS_ENGINE_IMPL_H

#include "models/models-impl.h"

/* KV cell metadata: a cell is free when its sequence set is empty. The
 * K/V data of cell i is row i of every layer's cache tensor.
 *
 * The used cells are also kept in order (pos << 32 | index, ascending):
 * decoding appends to it, so a decode costs O(used cells), not O(c); an
 * edit that frees cells (removing or trimming sequences, a rollback) marks
 * it stale and the next ts_kv_cells_used rebuilds it with one pass over
 * the cells (copying a sequence changes neither positions nor which cells
 * are used). */
typedef struct ts_kv_cells {
    uint32_t n;       /* c */
    ts_pos *pos;      /* (c); meaningful when seq != 0 */
    uint64_t *seq;    /* (c) bit s set: sequence s uses the cell */
    uint64_t *order;  /* (c) the used cells, sorted: the first n_used */
    uint32_t n_used;
    bool stale;       /* order / n_used no longer describe seq */
} ts_kv_cells;

/* One attention list of a micro-batch: the cells visible to sequence set
 * `seqs` at position `last` (its last token's), in (position, cell) order,
 * at in_idx[off .. off + len). */
typedef struct ts_kv_list {
    uint64_t seqs;
    ts_pos last;
    int32_t off, len;
} ts_kv_list;

struct ts_context {
    const ts_model *model;
    ts_context_params params; /* n_ctx, n_ubatch resolved */
    ts_backend *backend;
    ts_kv_cells cells;

    void *kv_buf;             /* backend memory (stats.kv_bytes): every layer's K then V */
    ts_tensor *k_cache;       /* (n_layer) of (g·k, c) */
    ts_tensor *v_cache;       /* (n_layer) of (g·k, c) */

    int32_t n_outputs_max;    /* logits rows one micro-batch may produce */
    ts_graph *graph;
    ts_batch_inputs inputs;   /* input nodes of the current graph */
    ts_node *out_logits;      /* (V, o) of the current graph */
    void *arena;              /* backend memory for the worst micro-batch (stats.arena_bytes) */
    int32_t plan_n_nodes;     /* the worst-case plan, reused by every graph */
    size_t *plan_offsets;     /* (plan_n_nodes) */
    size_t *plan_bytes;       /* (plan_n_nodes) bytes each node may use */

    /* host staging of one micro-batch's inputs */
    int32_t *in_tokens, *in_pos, *in_cells, *in_out; /* (u) each */
    int32_t *in_span;         /* (u, 2) attention list of each token: offset, length */
    int32_t lists_max;        /* l: distinct lists (sequence sets) per micro-batch */
    ts_kv_list *in_lists;     /* (l) */
    int32_t *in_idx;          /* (l · c) the lists, one after another */

    /* results of the last decode */
    float *logits;            /* (rows_cap, V) */
    int32_t rows_cap;
    int32_t *out_row;         /* (batch_cap) row of token i, or -1 */
    int32_t batch_cap;
    int32_t n_batch;          /* tokens of the last decoded batch */

    ts_context_stats stats;
};

/* decode.c: record the graph of a micro-batch of n tokens, o of them
 * wanting logits, whose attention lists hold e cells in all, into
 * ctx->graph. */
void ts_engine_build_graph(ts_context *ctx, int32_t n, int32_t o, int32_t e);

/* kv.c */
ts_status ts_kv_cells_init(ts_kv_cells *kv, uint32_t n);
void ts_kv_cells_free(ts_kv_cells *kv);
/* The number of used cells, counted (O(c): for statistics). */
uint32_t ts_kv_cells_count(const ts_kv_cells *kv);
/* The number of used cells, kv->order brought up to date first. */
uint32_t ts_kv_cells_used(ts_kv_cells *kv);
/* Cell c now holds position p of the sequences in `seqs` (c was free). */
void ts_kv_cells_take(ts_kv_cells *kv, uint32_t c, ts_pos p, uint64_t seqs);
/* Cell c is free again. */
void ts_kv_cells_release(ts_kv_cells *kv, uint32_t c);
/* Visible cells of a token at position p in sequences `seqs`, in (pos,
 * cell) order, into idx; returns how many. Reads kv->order: call
 * ts_kv_cells_used first. */
int32_t ts_kv_cells_visible(const ts_kv_cells *kv, uint64_t seqs, ts_pos p, int32_t *idx);

#endif /* TS_ENGINE_IMPL_H */
