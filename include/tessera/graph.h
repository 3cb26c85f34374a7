/*
 * tessera/graph.h — the compute graph: a small set of ops recorded into a
 * preallocated node array, planned into one activation arena, run by a
 * backend (tessera/backend.h).
 *
 * Invariants:
 * - Constructors only record: they compute output shapes, never data.
 *   Misuse (a shape or type a constructor does not accept, more nodes than
 *   the graph was created for) is a bug in the caller: TS_ASSERT.
 * - Nodes run in the order they were recorded; a node's sources are always
 *   recorded before it.
 * - A graph is immutable once planned (ts_graph_plan) and bound
 *   (ts_graph_bind): a backend may run it while the next one is built in
 *   another graph.
 *
 * Shapes follow ts_tensor: ne[0] is the innermost, contiguous dimension.
 * Letters used in shape comments: n = tokens of the micro-batch, d = model
 * width, k = head dimension, h = query heads, g = key/value heads,
 * c = KV cells, v = KV cells a token attends to, m = output rows.
 */
#ifndef TESSERA_GRAPH_H
#define TESSERA_GRAPH_H

#include "tessera/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name) — one list, so the enum and the names never drift. */
#define TS_OP_LIST(X) \
    X(NONE)           \
    X(RESHAPE)        \
    X(GET_ROWS)       \
    X(MUL_MAT)        \
    X(ADD)            \
    X(MUL)            \
    X(RMS_NORM)       \
    X(ROPE)           \
    X(ATTENTION)      \
    X(SWIGLU)         \
    X(SET_ROWS)

typedef enum ts_op {
#define TS_X(name) TS_OP_##name,
    TS_OP_LIST(TS_X)
#undef TS_X
    TS_OP_COUNT
} ts_op;

/* "MUL_MAT"; "?" for a value outside the enum. Static. */
const char *ts_op_name(ts_op op);

#define TS_MAX_SRC 6
#define TS_MAX_OP_PARAMS 64 /* bytes */

/* Node flags. */
enum {
    TS_NODE_INPUT = 1u << 0,  /* leaf whose data the caller writes before compute */
    TS_NODE_OUTPUT = 1u << 1, /* result the caller reads after compute: never reused */
};

/* One tensor of the graph: a leaf (op NONE: a weight, an input, a KV cache)
 * or the result of an op on its sources. `t.data` is set by the caller for
 * leaves with data, and by ts_graph_bind for everything else. */
typedef struct ts_node {
    ts_tensor t;
    ts_op op;
    uint32_t flags;
    struct ts_node *src[TS_MAX_SRC];
    _Alignas(8) unsigned char params[TS_MAX_OP_PARAMS]; /* op parameters, see below */
    size_t offset; /* in the arena, for nodes that own arena memory */
} ts_node;

/* ------------------------------------------------------------ parameters */

/* ROPE modes: NORMAL rotates adjacent pairs (x[2i], x[2i+1]) — llama;
 * NEOX rotates (x[i], x[i + n_dims/2]) — qwen2, gemma. */
enum { TS_ROPE_NORMAL = 0, TS_ROPE_NEOX = 2 };

/* The one ROPE op. For pair i of the n_dims rotated dimensions at position p:
 *   theta = p · base^(-2i/n_dims) / factor_i        (factor_i from the optional
 *                                                     frequency-factor tensor)
 * then, without YaRN (ext_factor = 0): theta *= freq_scale (linear scaling)
 * and cos/sin are multiplied by attn_factor; with YaRN (ext_factor > 0) the
 * interpolated and extrapolated angles are blended per dimension with the
 * ramp between beta_fast and beta_slow over n_ctx_orig, and the magnitude
 * corrected by 0.1·ln(1/freq_scale) + 1 (the YaRN paper, as llama.cpp).
 * Dimensions at and beyond n_dims pass through unchanged. */
typedef struct ts_rope_params {
    int32_t mode;       /* TS_ROPE_NORMAL or TS_ROPE_NEOX */
    int32_t n_dims;     /* rotated dimensions, even, <= k */
    int32_t n_ctx_orig; /* training context, for YaRN */
    float freq_base;
    float freq_scale;   /* 1 / linear scaling factor */
    float ext_factor;   /* YaRN extrapolation mix; 0 = off */
    float attn_factor;  /* magnitude scale; 1 = none */
    float beta_fast;
    float beta_slow;
} ts_rope_params;

typedef struct ts_attention_params {
    float scale; /* applied to q·k, usually 1/sqrt(k) */
} ts_attention_params;

typedef struct ts_rms_norm_params {
    float eps;
} ts_rms_norm_params;

/* Read an op's parameters (memcpy of the struct stored by the constructor). */
#define TS_NODE_PARAMS(node, type) (*(const type *)(const void *)(node)->params)

/* ----------------------------------------------------------------- graph */

typedef struct ts_graph ts_graph;

/* A graph with room for max_nodes nodes (leaves included). Caller frees
 * with ts_graph_free. TS_ERR_NOMEM on allocation failure. */
ts_status ts_graph_new(int32_t max_nodes, ts_graph **out);
void ts_graph_free(ts_graph *g);

/* Forget every node; capacity and arena are kept. */
void ts_graph_reset(ts_graph *g);

/* Nodes in recording order (leaves included; a backend skips op NONE and
 * RESHAPE, which compute nothing). Borrowed until reset. */
int32_t ts_graph_n_nodes(const ts_graph *g);
ts_node *ts_graph_node(const ts_graph *g, int32_t i);

/* ----------------------------------------------------------------- leaves */

/* A leaf of `type` and shape ne[0..n_dims). With data != NULL the leaf
 * borrows it (a weight, a KV cache); with NULL and TS_NODE_INPUT in flags
 * the arena provides memory the caller fills after ts_graph_bind. */
ts_node *ts_graph_leaf(ts_graph *g, ts_type type, int n_dims, const int64_t *ne, void *data,
                       uint32_t flags, const char *name);

/* Leaf that borrows an existing tensor descriptor (weights of a model). */
ts_node *ts_graph_tensor(ts_graph *g, const ts_tensor *t);

/* Give a node a name (copied, truncated to TS_MAX_NAME - 1) and return it. */
ts_node *ts_node_set_name(ts_node *n, const char *name);

/* Mark a node TS_NODE_OUTPUT and return it. */
ts_node *ts_node_set_output(ts_node *n);

/* -------------------------------------------------------------------- ops */

/* The same data seen with another contiguous shape of as many elements.
 * a must be contiguous. */
ts_node *ts_graph_reshape(ts_graph *g, ts_node *a, int n_dims, const int64_t *ne);

/* Rows of a table: a (d, r) of any computable type, idx (n) I32 with values
 * in [0, r) → (d, n) F32. */
ts_node *ts_graph_get_rows(ts_graph *g, ts_node *a, ts_node *idx);

/* w (K, m) of a type with kernels, x (K, n) F32 → (m, n) F32 with
 * out[j][i] = Σ_K w[i]·x[j]. x's rows are first converted to the weight's
 * activation type (ts_type_dot_type), then ts_vec_dot — as llama.cpp does,
 * and per (row, token) independently of everything else in the batch. */
ts_node *ts_graph_mul_mat(ts_graph *g, ts_node *w, ts_node *x);

/* Element-wise a + b and a · b, F32; b is broadcast: each b->ne[i] divides
 * a->ne[i]. Result has a's shape. */
ts_node *ts_graph_add(ts_graph *g, ts_node *a, ts_node *b);
ts_node *ts_graph_mul(ts_graph *g, ts_node *a, ts_node *b);

/* Each row of a (F32) divided by sqrt(mean(x²) + eps). Shape of a. */
ts_node *ts_graph_rms_norm(ts_graph *g, ts_node *a, float eps);

/* Rotary position embedding of a (k, h, n) F32 at positions pos (n) I32;
 * freq (n_dims/2) F32 frequency factors or NULL. Shape of a. */
ts_node *ts_graph_rope(ts_graph *g, ts_node *a, ts_node *pos, ts_node *freq,
                       const ts_rope_params *p);

/* Attention of each query token over its own list of KV cells.
 *   q      (k, h, n)   F32
 *   kc, vc (k·g, c)    F16 or F32: the caches, usually SET_ROWS results so
 *                      that this node runs after the new rows are written
 *   idx    (e)         I32: the micro-batch's cell lists, one after another,
 *                      each in the order the reduction visits its cells (by
 *                      position)
 *   span   (2, n)      I32: token j attends to cells idx[off .. off + len),
 *                      span[j] = {off, len}, len >= 1; tokens of the same
 *                      sequences share a list (same off, each its own len)
 * → (k·h, n) F32: head hq of token j = Σ softmax(scale · q·k_cell) · v_cell
 * with query head hq reading KV head hq / (h / g). The reduction order is
 * the list order and depends on nothing but the token's own list and len
 * (docs/ARCHITECTURE.md, "Reduction order"), whatever else is in the batch. */
ts_node *ts_graph_attention(ts_graph *g, ts_node *q, ts_node *kc, ts_node *vc, ts_node *idx,
                            ts_node *span, float scale);

/* silu(a) · b element-wise (PyTorch: silu(w1(x)) * w3(x)), F32, same shapes. */
ts_node *ts_graph_swiglu(ts_graph *g, ts_node *a, ts_node *b);

/* Scatter: row j of src (w, n) F32 is converted to dst's type (F32 or F16)
 * and written to row idx[j] of dst (w, c). Returns a node aliasing dst that
 * later readers use as their source, so they run after the write. */
ts_node *ts_graph_set_rows(ts_graph *g, ts_node *dst, ts_node *src, ts_node *idx);

/* -------------------------------------------------------------- planning */

/* Assign arena offsets to every node that needs memory (inputs and op
 * results that do not alias another node), reusing the memory of results
 * whose last consumer has been recorded, and never reusing inputs or
 * outputs. *size receives the arena bytes needed (alignment 64). */
void ts_graph_plan(ts_graph *g, size_t *size);

/* Point every planned node into `arena` (at least the planned size) and
 * set the data of aliasing nodes (RESHAPE, SET_ROWS). */
void ts_graph_bind(ts_graph *g, void *arena);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_GRAPH_H */
