/*
 * cpu.c — the CPU backend: host buffers (64-byte aligned), `supports`, and
 * the graph loop.
 *
 * Graph loop: graph_compute checks every node first (an unsupported node
 * fails the whole graph before anything runs), sizes the work buffer for
 * the largest node (kept between graphs, only ever grown; graph_reserve
 * sizes it up front for the worst graph, so decoding allocates nothing),
 * then runs one pool job in which every thread walks all nodes in order, skips NONE and RESHAPE,
 * runs the node's kernel with its (ith, nth) and meets the others at a barrier — except where
 * the next node is independent of every node since the last barrier (plan_barriers: it reads
 * none of their outputs, overwrites none of their inputs or outputs, and none uses the shared
 * work memory), so a layer's Q, K and V products run back to back. Thread 0 polls the abort
 * callback before each barrier and publishes the answer; every thread reads it after the
 * barrier, so all stop after the same node.
 *
 * graph_reserve also repacks the weights of the graph's MUL_MAT nodes that
 * the ISA path has a row-interleaved kernel for (repack.c); graph_compute
 * finds them by data pointer.
 *
 * The backend is synchronous: graph_compute returns when the graph is done.
 */
#include "backends/cpu/cpu-impl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cpu_ctx {
    ts_threadpool *pool;
    const cpu_path *path;
    cpu_repacked *repacked; /* (repacked_cap) weights in the path's layout */
    size_t repacked_cap, repacked_count, repacked_bytes;
    uint8_t *work; /* (work_size), CPU_ALIGN-aligned */
    size_t work_size;
    bool *sync; /* (sync_cap) per node of the current graph: a barrier after it */
    int32_t sync_cap;
    char device[64];
} cpu_ctx;

typedef void (*cpu_kernel)(const cpu_compute *c, const ts_node *n);

static const cpu_kernel kernels[TS_OP_COUNT] = {
    [TS_OP_GET_ROWS] = ts_cpu_get_rows,
    [TS_OP_MUL_MAT] = ts_cpu_mul_mat,
    [TS_OP_ADD] = ts_cpu_add,
    [TS_OP_MUL] = ts_cpu_mul,
    [TS_OP_RMS_NORM] = ts_cpu_rms_norm,
    [TS_OP_ROPE] = ts_cpu_rope,
    [TS_OP_ATTENTION] = ts_cpu_attention,
    [TS_OP_SWIGLU] = ts_cpu_swiglu,
    [TS_OP_SET_ROWS] = ts_cpu_set_rows,
};

static bool computes(const ts_node *n) { return n->op != TS_OP_NONE && n->op != TS_OP_RESHAPE; }

/* ================================================================ buffers */

static ts_status cpu_buffer_alloc(ts_backend *be, size_t size, void **out) {
    (void)be;
    *out = NULL;
    const size_t bytes = cpu_align(size ? size : 1);
    if (bytes < size || !(*out = aligned_alloc(CPU_ALIGN, bytes)))
        return ts_error(TS_ERR_NOMEM, "cpu backend: cannot allocate a buffer of %zu bytes", size);
    return TS_OK;
}

static void cpu_buffer_free(ts_backend *be, void *base) {
    (void)be;
    free(base);
}

static ts_status cpu_upload(ts_backend *be, void *base, size_t offset, const void *src, size_t n) {
    (void)be;
    if (n) memcpy((char *)base + offset, src, n);
    return TS_OK;
}

static ts_status cpu_download(ts_backend *be, const void *base, size_t offset, void *dst,
                              size_t n) {
    (void)be;
    if (n) memcpy(dst, (const char *)base + offset, n);
    return TS_OK;
}

/* ================================================================= checks */

static bool cpu_supports(ts_backend *be, const ts_node *node) {
    (void)be;
    const char *why;
    return ts_cpu_supports(node, &why);
}

/* "MUL_MAT(Q4_1, F32) -> F32" into buf. */
static void describe(const ts_node *n, char *buf, size_t size) {
    int used = snprintf(buf, size, "%s(", ts_op_name(n->op));
    for (int i = 0, first = 1; i < TS_MAX_SRC && used >= 0 && (size_t)used < size; i++) {
        if (!n->src[i]) continue;
        used += snprintf(buf + used, size - (size_t)used, "%s%s", first ? "" : ", ",
                         ts_type_name(n->src[i]->t.type));
        first = 0;
    }
    if (used >= 0 && (size_t)used < size)
        snprintf(buf + used, size - (size_t)used, ") -> %s", ts_type_name(n->t.type));
}

/* The weights of g's MUL_MAT nodes that the path has a repacked kernel
 * for, repacked (once: later graphs find them in the table). */
static ts_status repack_weights(cpu_ctx *ctx, const ts_graph *g) {
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++) {
        const ts_node *n = ts_graph_node(g, i);
        if (n->op != TS_OP_MUL_MAT || n->src[0]->op != TS_OP_NONE) continue;
        const ts_tensor *w = &n->src[0]->t;
        if (!ctx->path->gemm_rp[w->type]) continue;
        ts_status st =
            ts_cpu_repack_weight(&ctx->repacked, &ctx->repacked_cap, &ctx->repacked_count, w,
                                 ctx->pool, &ctx->repacked_bytes);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* Every node supported; the work buffer large enough for the largest. */
static ts_status prepare(cpu_ctx *ctx, const ts_graph *g, int nth) {
    size_t need = 0;
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++) {
        const ts_node *n = ts_graph_node(g, i);
        const char *why;
        if (!ts_cpu_supports(n, &why)) {
            char desc[160];
            describe(n, desc, sizeof desc);
            return ts_error(TS_ERR_UNSUPPORTED, "cpu backend: node %d '%s' %s is not supported: %s",
                            (int)i, n->t.name, desc, why);
        }
        if (!computes(n)) continue;
        size_t shared, per_thread;
        ts_cpu_work_size(n, &shared, &per_thread);
        const size_t bytes = shared + per_thread * (size_t)nth;
        if (bytes > need) need = bytes;
    }
    if (need > ctx->work_size) {
        free(ctx->work);
        ctx->work_size = 0;
        ctx->work = aligned_alloc(CPU_ALIGN, cpu_align(need));
        if (!ctx->work)
            return ts_error(TS_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes of work memory",
                            need);
        ctx->work_size = cpu_align(need);
    }
    return TS_OK;
}

/* ============================================================= barriers */

/* The bytes [lo, hi) a tensor occupies. */
typedef struct span {
    uintptr_t lo, hi;
} span;

static span span_of(const ts_tensor *t) {
    const uintptr_t lo = (uintptr_t)t->data;
    return (span){lo, lo + ts_tensor_nbytes(t)};
}

static bool overlap(span a, span b) { return a.lo < b.hi && b.lo < a.hi; }

#define WINDOW_MAX 8 /* nodes between two barriers, at most */

/* The nodes run since the last barrier: what they write and read. */
typedef struct window {
    int n, n_reads;
    bool shared; /* one of them uses the shared work memory */
    span writes[WINDOW_MAX];
    span reads[WINDOW_MAX * TS_MAX_SRC];
} window;

static bool uses_shared_work(const ts_node *n) {
    size_t shared, per_thread;
    ts_cpu_work_size(n, &shared, &per_thread);
    return shared > 0;
}

/* Whether n may start while the window's nodes are still running on other
 * threads: it reads nothing they write, writes nothing they read or write,
 * and neither it nor they use the shared work memory. */
static bool independent(const window *w, const ts_node *n) {
    if (w->n == WINDOW_MAX || w->shared || uses_shared_work(n)) return false;
    const span out = span_of(&n->t);
    for (int k = 0; k < w->n; k++)
        if (overlap(out, w->writes[k])) return false;
    for (int k = 0; k < w->n_reads; k++)
        if (overlap(out, w->reads[k])) return false;
    for (int s = 0; s < TS_MAX_SRC; s++) {
        if (!n->src[s]) continue;
        const span in = span_of(&n->src[s]->t);
        for (int k = 0; k < w->n; k++)
            if (overlap(in, w->writes[k])) return false;
    }
    return true;
}

static void window_add(window *w, const ts_node *n) {
    w->shared = w->shared || uses_shared_work(n);
    w->writes[w->n++] = span_of(&n->t);
    for (int s = 0; s < TS_MAX_SRC; s++)
        if (n->src[s]) w->reads[w->n_reads++] = span_of(&n->src[s]->t);
}

void ts_cpu_plan_barriers(const ts_graph *g, bool *sync) {
    window w = {0};
    int32_t prev = -1;
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++) {
        const ts_node *n = ts_graph_node(g, i);
        sync[i] = false;
        if (!computes(n)) continue;
        if (prev >= 0 && !independent(&w, n)) {
            sync[prev] = true;
            w = (window){0};
        }
        window_add(&w, n);
        prev = i;
    }
    if (prev >= 0) sync[prev] = true;
}

/* ctx->sync for g. */
static ts_status plan_barriers(cpu_ctx *ctx, const ts_graph *g) {
    const int32_t n_nodes = ts_graph_n_nodes(g);
    if (n_nodes > ctx->sync_cap) {
        bool *p = realloc(ctx->sync, (size_t)n_nodes * sizeof *p);
        if (!p) return ts_error(TS_ERR_NOMEM, "cpu backend: out of memory");
        ctx->sync = p;
        ctx->sync_cap = n_nodes;
    }
    ts_cpu_plan_barriers(g, ctx->sync);
    return TS_OK;
}

/* ============================================================ graph loop */

typedef struct graph_run {
    const ts_graph *g;
    cpu_ctx *ctx;
    ts_abort_fn abort;
    void *user;
    int32_t last; /* the last node that computes: no poll after it */
    /* Node after which every thread stops (INT32_MAX: none). Thread 0 writes
     * it before the barrier of node i; a thread leaving barrier i stops when
     * it is <= i. Comparing with the thread's own node (not a flag) keeps a
     * thread still on its way out of barrier i − 1 from seeing a stop thread
     * 0 has already decided at node i. */
    atomic_int stop_after;
} graph_run;

static void graph_loop(int ith, int nth, void *arg) {
    graph_run *run = arg;
    const cpu_ctx *ctx = run->ctx;
    cpu_compute c = {.ith = ith,
                     .nth = nth,
                     .path = ctx->path,
                     .repacked = ctx->repacked,
                     .repacked_cap = ctx->repacked_cap,
                     .pool = ctx->pool,
                     .work = ctx->work};
    const int32_t n_nodes = ts_graph_n_nodes(run->g);
    for (int32_t i = 0; i < n_nodes; i++) {
        const ts_node *n = ts_graph_node(run->g, i);
        if (!computes(n)) continue;
        ts_cpu_work_size(n, &c.work_shared, &c.work_thread);
        kernels[n->op](&c, n);
        if (!ctx->sync[i]) continue;
        if (ith == 0 && i < run->last && run->abort && run->abort(run->user))
            atomic_store_explicit(&run->stop_after, i, memory_order_relaxed);
        ts_threadpool_barrier(c.pool); /* orders stop_after too */
        if (atomic_load_explicit(&run->stop_after, memory_order_relaxed) <= i) return;
    }
}

static ts_status cpu_graph_compute(ts_backend *be, const ts_graph *g, ts_abort_fn abort,
                                   void *user) {
    cpu_ctx *ctx = be->ctx;
    const int nth = ts_threadpool_n_threads(ctx->pool);
    ts_status st = prepare(ctx, g, nth);
    if (st == TS_OK) st = plan_barriers(ctx, g);
    if (st != TS_OK) return st;
    if (abort && abort(user))
        return ts_error(TS_ERR_ABORTED, "cpu backend: graph aborted before its first node");
    graph_run run = {.g = g, .ctx = ctx, .abort = abort, .user = user};
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++)
        if (computes(ts_graph_node(g, i))) run.last = i;
    atomic_init(&run.stop_after, INT32_MAX);
    ts_threadpool_run(ctx->pool, graph_loop, &run);
    const int32_t stopped = atomic_load(&run.stop_after);
    if (stopped != INT32_MAX)
        return ts_error(TS_ERR_ABORTED, "cpu backend: graph aborted after node %d of %d",
                        (int)stopped, (int)ts_graph_n_nodes(g));
    return TS_OK;
}

static ts_status cpu_graph_reserve(ts_backend *be, const ts_graph *g) {
    cpu_ctx *ctx = be->ctx;
    ts_status st = prepare(ctx, g, ts_threadpool_n_threads(ctx->pool));
    return st == TS_OK ? repack_weights(ctx, g) : st;
}

static ts_status cpu_synchronize(ts_backend *be) {
    (void)be;
    return TS_OK;
}

/* ================================================================ backend */

static void cpu_get_info(ts_backend *be, ts_backend_info *out) {
    cpu_ctx *ctx = be->ctx;
    const long page = sysconf(_SC_PAGESIZE);
    const long total = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
    *out = (ts_backend_info){
        .name = "cpu",
        .device = ctx->device,
        .n_threads = ts_threadpool_n_threads(ctx->pool),
        .memory_total = page > 0 && total > 0 ? (size_t)total * (size_t)page : 0,
        .memory_free = page > 0 && avail > 0 ? (size_t)avail * (size_t)page : 0,
        .weight_bytes = ctx->repacked_bytes,
    };
}

static void cpu_free(ts_backend *be) {
    cpu_ctx *ctx = be->ctx;
    ts_threadpool_free(ctx->pool);
    ts_cpu_repacked_free(ctx->repacked, ctx->repacked_cap);
    free(ctx->work);
    free(ctx->sync);
    free(ctx);
    free(be);
}

static const ts_backend_iface cpu_iface = {
    .abi_version = TS_BACKEND_ABI_VERSION,
    .free = cpu_free,
    .get_info = cpu_get_info,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .supports = cpu_supports,
    .graph_reserve = cpu_graph_reserve,
    .graph_compute = cpu_graph_compute,
    .synchronize = cpu_synchronize,
};

ts_status ts_backend_cpu_new(int n_threads, ts_backend **out) {
    *out = NULL;
    ts_status st = ts_cpu_path_check();
    if (st != TS_OK) return st;
    ts_cpu_tables_init();
    ts_backend *be = calloc(1, sizeof *be);
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!be || !ctx) {
        free(be);
        free(ctx);
        return ts_error(TS_ERR_NOMEM, "cpu backend: out of memory");
    }
    st = ts_threadpool_new(n_threads, &ctx->pool);
    if (st != TS_OK) {
        free(be);
        free(ctx);
        return st;
    }
    snprintf(ctx->device, sizeof ctx->device, "host CPU (%s), %d threads", ts_backend_cpu_path(),
             ts_threadpool_n_threads(ctx->pool));
    ctx->path = ts_cpu_path_get();
    be->iface = &cpu_iface;
    be->ctx = ctx;
    *out = be;
    return TS_OK;
}
