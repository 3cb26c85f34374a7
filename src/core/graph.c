/*
 * graph.c — recording ops into a fixed node array, and planning them into
 * one arena.
 *
 * Planning walks the nodes in order with a first-fit free list: a node's
 * result takes memory when it is recorded and gives it back after its last
 * consumer; inputs and outputs are never given back, and aliasing nodes
 * (RESHAPE, SET_ROWS) own no memory — their last use extends the life of
 * what they alias.
 */
#include "core/core-impl.h"
#include "tessera/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_ARENA_ALIGN 64

/* First-fit free list over [0, size). At most one block per node. */
typedef struct free_block {
    size_t offset, size;
} free_block;

struct ts_graph {
    ts_node *nodes; /* (max_nodes) */
    int32_t n_nodes;
    int32_t max_nodes;
    /* planning scratch, allocated once: no malloc per micro-batch */
    int32_t *remaining;  /* (max_nodes) */
    free_block *blocks;  /* (max_nodes + 1) */
};

static const char *const op_names[] = {
#define TS_X(name) #name,
    TS_OP_LIST(TS_X)
#undef TS_X
};
_Static_assert(sizeof op_names / sizeof op_names[0] == TS_OP_COUNT, "one name per op");

const char *ts_op_name(ts_op op) {
    return (unsigned)op < TS_OP_COUNT ? op_names[op] : "?";
}

/* ================================================================ graph */

ts_status ts_graph_new(int32_t max_nodes, ts_graph **out) {
    *out = NULL;
    if (max_nodes < 1) return ts_error(TS_ERR_INVALID_ARG, "graph needs room for a node");
    ts_graph *g = calloc(1, sizeof *g);
    if (g) {
        g->nodes = calloc((size_t)max_nodes, sizeof *g->nodes);
        g->remaining = calloc((size_t)max_nodes, sizeof *g->remaining);
        g->blocks = calloc((size_t)max_nodes + 1, sizeof *g->blocks);
    }
    if (!g || !g->nodes || !g->remaining || !g->blocks) {
        ts_graph_free(g);
        return ts_error(TS_ERR_NOMEM, "no memory for a graph of %d nodes", (int)max_nodes);
    }
    g->max_nodes = max_nodes;
    *out = g;
    return TS_OK;
}

void ts_graph_free(ts_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->remaining);
    free(g->blocks);
    free(g);
}

void ts_graph_reset(ts_graph *g) { g->n_nodes = 0; }

int32_t ts_graph_n_nodes(const ts_graph *g) { return g->n_nodes; }

ts_node *ts_graph_node(const ts_graph *g, int32_t i) {
    TS_ASSERT(i >= 0 && i < g->n_nodes);
    return &g->nodes[i];
}

/* ============================================================== helpers */

static bool is_contiguous(const ts_tensor *t) {
    size_t expect = ts_type_get(t->type)->type_size;
    if (t->nb[0] != expect) return false;
    expect = t->nb[1];
    size_t row;
    if (!ts_type_row_size(t->type, t->ne[0], &row) || row != t->nb[1]) return false;
    for (int i = 2; i < TS_MAX_DIMS; i++) {
        expect *= (size_t)t->ne[i - 1];
        if (t->nb[i] != expect) return false;
    }
    return true;
}

static bool same_shape(const ts_node *a, const ts_node *b) {
    for (int i = 0; i < TS_MAX_DIMS; i++)
        if (a->t.ne[i] != b->t.ne[i]) return false;
    return true;
}

/* A fresh node of `type` and shape ne[0..n_dims) (contiguous), op `op`. */
static ts_node *new_node(ts_graph *g, ts_op op, ts_type type, int n_dims, const int64_t *ne) {
    TS_ASSERT(g->n_nodes < g->max_nodes);
    ts_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    TS_ASSERT(ts_tensor_init(&n->t, type, n_dims, ne, NULL) == TS_OK);
    n->op = op;
    return n;
}

static void set_src(ts_node *n, int i, ts_node *s) { n->src[i] = s; }

/* Same shape as a, F32 result of op on a (and b). */
static ts_node *unary_like(ts_graph *g, ts_op op, ts_node *a) {
    ts_node *n = new_node(g, op, TS_TYPE_F32, a->t.n_dims, a->t.ne);
    set_src(n, 0, a);
    return n;
}

ts_node *ts_node_set_name(ts_node *n, const char *name) {
    snprintf(n->t.name, sizeof n->t.name, "%s", name);
    return n;
}

ts_node *ts_node_set_output(ts_node *n) {
    n->flags |= TS_NODE_OUTPUT;
    return n;
}

/* =============================================================== leaves */

ts_node *ts_graph_leaf(ts_graph *g, ts_type type, int n_dims, const int64_t *ne, void *data,
                       uint32_t flags, const char *name) {
    TS_ASSERT(data || (flags & TS_NODE_INPUT));
    ts_node *n = new_node(g, TS_OP_NONE, type, n_dims, ne);
    n->t.data = data;
    n->flags = flags;
    if (name) ts_node_set_name(n, name);
    return n;
}

ts_node *ts_graph_tensor(ts_graph *g, const ts_tensor *t) {
    TS_ASSERT(g->n_nodes < g->max_nodes && t->data);
    ts_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->t = *t;
    n->op = TS_OP_NONE;
    return n;
}

/* ================================================================== ops */

ts_node *ts_graph_reshape(ts_graph *g, ts_node *a, int n_dims, const int64_t *ne) {
    TS_ASSERT(is_contiguous(&a->t));
    ts_node *n = new_node(g, TS_OP_RESHAPE, a->t.type, n_dims, ne);
    TS_ASSERT(ts_tensor_nelements(&n->t) == ts_tensor_nelements(&a->t));
    set_src(n, 0, a);
    return n;
}

ts_node *ts_graph_get_rows(ts_graph *g, ts_node *a, ts_node *idx) {
    TS_ASSERT(idx->t.type == TS_TYPE_I32 && idx->t.n_dims == 1 && a->t.n_dims <= 2);
    int64_t ne[2] = {a->t.ne[0], idx->t.ne[0]};
    ts_node *n = new_node(g, TS_OP_GET_ROWS, TS_TYPE_F32, 2, ne);
    set_src(n, 0, a);
    set_src(n, 1, idx);
    return n;
}

ts_node *ts_graph_mul_mat(ts_graph *g, ts_node *w, ts_node *x) {
    TS_ASSERT(x->t.type == TS_TYPE_F32 && w->t.ne[0] == x->t.ne[0]);
    TS_ASSERT(w->t.n_dims <= 2 && x->t.n_dims <= 2);
    int64_t ne[2] = {w->t.ne[1], x->t.ne[1]};
    ts_node *n = new_node(g, TS_OP_MUL_MAT, TS_TYPE_F32, 2, ne);
    set_src(n, 0, w);
    set_src(n, 1, x);
    return n;
}

static ts_node *broadcast_op(ts_graph *g, ts_op op, ts_node *a, ts_node *b) {
    TS_ASSERT(a->t.type == TS_TYPE_F32 && b->t.type == TS_TYPE_F32);
    for (int i = 0; i < TS_MAX_DIMS; i++) TS_ASSERT(b->t.ne[i] > 0 && a->t.ne[i] % b->t.ne[i] == 0);
    ts_node *n = unary_like(g, op, a);
    set_src(n, 1, b);
    return n;
}

ts_node *ts_graph_add(ts_graph *g, ts_node *a, ts_node *b) {
    return broadcast_op(g, TS_OP_ADD, a, b);
}

ts_node *ts_graph_mul(ts_graph *g, ts_node *a, ts_node *b) {
    return broadcast_op(g, TS_OP_MUL, a, b);
}

ts_node *ts_graph_rms_norm(ts_graph *g, ts_node *a, float eps) {
    TS_ASSERT(a->t.type == TS_TYPE_F32);
    ts_node *n = unary_like(g, TS_OP_RMS_NORM, a);
    ts_rms_norm_params p = {.eps = eps};
    memcpy(n->params, &p, sizeof p);
    return n;
}

ts_node *ts_graph_rope(ts_graph *g, ts_node *a, ts_node *pos, ts_node *freq,
                       const ts_rope_params *p) {
    TS_ASSERT(a->t.type == TS_TYPE_F32 && a->t.n_dims == 3);
    TS_ASSERT(pos->t.type == TS_TYPE_I32 && pos->t.ne[0] == a->t.ne[2]);
    TS_ASSERT(p->n_dims > 0 && p->n_dims % 2 == 0 && p->n_dims <= a->t.ne[0]);
    TS_ASSERT(p->mode == TS_ROPE_NORMAL || p->mode == TS_ROPE_NEOX);
    TS_ASSERT(!freq || (freq->t.type == TS_TYPE_F32 && freq->t.ne[0] >= p->n_dims / 2));
    _Static_assert(sizeof(ts_rope_params) <= TS_MAX_OP_PARAMS, "rope params fit");
    ts_node *n = unary_like(g, TS_OP_ROPE, a);
    set_src(n, 1, pos);
    set_src(n, 2, freq);
    memcpy(n->params, p, sizeof *p);
    return n;
}

ts_node *ts_graph_attention(ts_graph *g, ts_node *q, ts_node *kc, ts_node *vc, ts_node *idx,
                            ts_node *span, float scale) {
    // q (k, h, n); kc, vc (k·g, c); idx (e); span (2, n)
    const int64_t k = q->t.ne[0], h = q->t.ne[1], n_tok = q->t.ne[2];
    TS_ASSERT(q->t.type == TS_TYPE_F32 && q->t.n_dims == 3);
    TS_ASSERT(kc->t.type == vc->t.type && (kc->t.type == TS_TYPE_F16 || kc->t.type == TS_TYPE_F32));
    TS_ASSERT(kc->t.ne[0] == vc->t.ne[0] && kc->t.ne[1] == vc->t.ne[1]);
    TS_ASSERT(kc->t.ne[0] % k == 0);
    const int64_t n_kv_head = kc->t.ne[0] / k;
    TS_ASSERT(n_kv_head > 0 && h % n_kv_head == 0);
    TS_ASSERT(idx->t.type == TS_TYPE_I32 && idx->t.n_dims == 1);
    TS_ASSERT(span->t.type == TS_TYPE_I32 && span->t.ne[0] == 2 && span->t.ne[1] == n_tok);
    int64_t ne[2] = {k * h, n_tok};
    ts_node *n = new_node(g, TS_OP_ATTENTION, TS_TYPE_F32, 2, ne);
    set_src(n, 0, q);
    set_src(n, 1, kc);
    set_src(n, 2, vc);
    set_src(n, 3, idx);
    set_src(n, 4, span);
    ts_attention_params p = {.scale = scale};
    memcpy(n->params, &p, sizeof p);
    return n;
}

ts_node *ts_graph_swiglu(ts_graph *g, ts_node *a, ts_node *b) {
    TS_ASSERT(a->t.type == TS_TYPE_F32 && b->t.type == TS_TYPE_F32 && same_shape(a, b));
    ts_node *n = unary_like(g, TS_OP_SWIGLU, a);
    set_src(n, 1, b);
    return n;
}

ts_node *ts_graph_set_rows(ts_graph *g, ts_node *dst, ts_node *src, ts_node *idx) {
    TS_ASSERT(dst->t.type == TS_TYPE_F32 || dst->t.type == TS_TYPE_F16);
    TS_ASSERT(src->t.type == TS_TYPE_F32 && src->t.ne[0] == dst->t.ne[0]);
    TS_ASSERT(idx->t.type == TS_TYPE_I32 && idx->t.ne[0] == src->t.ne[1]);
    TS_ASSERT(dst->t.n_dims <= 2 && src->t.n_dims <= 2);
    ts_node *n = new_node(g, TS_OP_SET_ROWS, dst->t.type, dst->t.n_dims, dst->t.ne);
    set_src(n, 0, dst);
    set_src(n, 1, src);
    set_src(n, 2, idx);
    return n;
}

/* ============================================================= planning */

static bool aliases(const ts_node *n) { return n->op == TS_OP_RESHAPE || n->op == TS_OP_SET_ROWS; }

/* The node whose memory n uses: itself, or what it aliases. */
static ts_node *owner(ts_node *n) {
    while (aliases(n)) n = n->src[0];
    return n;
}

static bool needs_memory(const ts_node *n) {
    if (n->op == TS_OP_NONE) return n->t.data == NULL;
    return !aliases(n);
}

typedef struct planner {
    free_block *blocks; /* (max_nodes + 1), sorted by offset */
    int n;
    size_t end;  /* end of the used range */
    size_t peak; /* largest end seen: the arena size */
} planner;

static size_t plan_take(planner *pl, size_t size) {
    for (int i = 0; i < pl->n; i++) {
        if (pl->blocks[i].size < size) continue;
        size_t off = pl->blocks[i].offset;
        pl->blocks[i].offset += size;
        pl->blocks[i].size -= size;
        if (pl->blocks[i].size == 0) {
            memmove(&pl->blocks[i], &pl->blocks[i + 1], (size_t)(pl->n - i - 1) * sizeof *pl->blocks);
            pl->n--;
        }
        return off;
    }
    size_t off = pl->end;
    pl->end += size;
    if (pl->end > pl->peak) pl->peak = pl->end;
    return off;
}

static void plan_give(planner *pl, size_t offset, size_t size) {
    int i = 0;
    while (i < pl->n && pl->blocks[i].offset < offset) i++;
    memmove(&pl->blocks[i + 1], &pl->blocks[i], (size_t)(pl->n - i) * sizeof *pl->blocks);
    pl->blocks[i] = (free_block){offset, size};
    pl->n++;
    // merge with the next, then with the previous block
    if (i + 1 < pl->n && pl->blocks[i].offset + pl->blocks[i].size == pl->blocks[i + 1].offset) {
        pl->blocks[i].size += pl->blocks[i + 1].size;
        memmove(&pl->blocks[i + 1], &pl->blocks[i + 2], (size_t)(pl->n - i - 2) * sizeof *pl->blocks);
        pl->n--;
    }
    if (i > 0 && pl->blocks[i - 1].offset + pl->blocks[i - 1].size == pl->blocks[i].offset) {
        pl->blocks[i - 1].size += pl->blocks[i].size;
        memmove(&pl->blocks[i], &pl->blocks[i + 1], (size_t)(pl->n - i - 1) * sizeof *pl->blocks);
        pl->n--;
    }
    // a free block at the end shortens the used range
    if (pl->n && pl->blocks[pl->n - 1].offset + pl->blocks[pl->n - 1].size == pl->end) {
        pl->end = pl->blocks[pl->n - 1].offset;
        pl->n--;
    }
}

static size_t aligned_bytes(const ts_node *n) {
    size_t b = ts_tensor_nbytes(&n->t);
    return (b + TS_ARENA_ALIGN - 1) & ~(size_t)(TS_ARENA_ALIGN - 1);
}

void ts_graph_plan(ts_graph *g, size_t *size) {
    // remaining[i]: consumers of node i's memory not yet run (aliases count
    // for their owner)
    int32_t *remaining = g->remaining;
    memset(remaining, 0, (size_t)g->n_nodes * sizeof *remaining);
    planner pl = {.blocks = g->blocks};
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int s = 0; s < TS_MAX_SRC; s++)
            if (g->nodes[i].src[s]) remaining[owner(g->nodes[i].src[s]) - g->nodes]++;
    // inputs first: they are written before anything runs
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        if (n->op == TS_OP_NONE && needs_memory(n)) n->offset = plan_take(&pl, aligned_bytes(n));
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        if (n->op != TS_OP_NONE && needs_memory(n)) n->offset = plan_take(&pl, aligned_bytes(n));
        for (int s = 0; s < TS_MAX_SRC; s++) {
            if (!n->src[s]) continue;
            ts_node *o = owner(n->src[s]);
            if (--remaining[o - g->nodes] > 0) continue;
            if (o->op == TS_OP_NONE || (o->flags & TS_NODE_OUTPUT)) continue;
            // a source listed twice is released once, after its last use
            plan_give(&pl, o->offset, aligned_bytes(o));
        }
    }
    *size = pl.peak;
}

void ts_graph_bind(ts_graph *g, void *arena) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        if (needs_memory(n))
            n->t.data = (char *)arena + n->offset;
        else if (aliases(n))
            n->t.data = n->src[0]->t.data;
    }
}
