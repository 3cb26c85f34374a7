/*
 * tessera/backend.h — the backend contract: what a device must provide to
 * run Tessera's graphs (tessera/graph.h), and the CPU backend every other
 * backend is certified against.
 *
 * A backend is a vtable plus private state. The engine talks to a backend
 * only through the wrappers below. Memory a backend hands out is addressed
 * by `void *` in tensor data: a host address for the CPU backend, whatever
 * the device's buffers need otherwise (reached only through the vtable).
 */
#ifndef TESSERA_BACKEND_H
#define TESSERA_BACKEND_H

#include "tessera/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever ts_backend_iface (or a struct it passes) changes
 * incompatibly; a backend built for another version is refused.
 * 2: ts_backend_info.weight_bytes.
 * 3: ATTENTION takes shared cell lists and per-token spans (graph.h). */
#define TS_BACKEND_ABI_VERSION 3

typedef struct ts_backend ts_backend;

typedef struct ts_backend_info {
    const char *name;   /* "cpu" */
    const char *device; /* human-readable device description */
    int n_threads;      /* worker threads; 0 when not applicable */
    size_t memory_total, memory_free; /* bytes; 0 when unknown */
    size_t weight_bytes; /* copies of weights the backend holds (the CPU's
                          * repacked layouts, a device's uploads) */
} ts_backend_info;

/* Abort check, called by graph_compute between nodes; true stops it. */
typedef bool (*ts_abort_fn)(void *user);

typedef struct ts_backend_iface {
    uint32_t abi_version; /* TS_BACKEND_ABI_VERSION */
    void (*free)(ts_backend *be);
    void (*get_info)(ts_backend *be, ts_backend_info *out);
    /* Device memory of `size` bytes, aligned to 64; *out is the base used in
     * tensor data. TS_ERR_NOMEM when it cannot. */
    ts_status (*buffer_alloc)(ts_backend *be, size_t size, void **out);
    void (*buffer_free)(ts_backend *be, void *base);
    /* Copy host bytes into / out of device memory at base + offset. */
    ts_status (*upload)(ts_backend *be, void *base, size_t offset, const void *src, size_t n);
    ts_status (*download)(ts_backend *be, const void *base, size_t offset, void *dst, size_t n);
    /* Whether this backend runs `node` (its op, types and shapes). */
    bool (*supports)(ts_backend *be, const ts_node *node);
    /* Check every node of `g` and size the backend's own scratch memory for
     * it and for any graph of the same nodes with smaller tensors, so that
     * graph_compute of those allocates nothing. TS_ERR_UNSUPPORTED /
     * TS_ERR_NOMEM. */
    ts_status (*graph_reserve)(ts_backend *be, const ts_graph *g);
    /* Run every node of a planned, bound graph in order. May return before
     * the work is done; synchronize waits. TS_ERR_ABORTED when the abort
     * callback stopped it, TS_ERR_UNSUPPORTED for a node it does not run. */
    ts_status (*graph_compute)(ts_backend *be, const ts_graph *g, ts_abort_fn abort, void *user);
    ts_status (*synchronize)(ts_backend *be);
} ts_backend_iface;

struct ts_backend {
    const ts_backend_iface *iface;
    void *ctx; /* the backend's own state */
};

/* Wrappers; each forwards to the vtable. ts_backend_free(NULL) is a no-op. */
void ts_backend_free(ts_backend *be);
void ts_backend_get_info(ts_backend *be, ts_backend_info *out);
ts_status ts_backend_buffer_alloc(ts_backend *be, size_t size, void **out);
void ts_backend_buffer_free(ts_backend *be, void *base);
ts_status ts_backend_upload(ts_backend *be, void *base, size_t offset, const void *src, size_t n);
ts_status ts_backend_download(ts_backend *be, const void *base, size_t offset, void *dst,
                              size_t n);
bool ts_backend_supports(ts_backend *be, const ts_node *node);
ts_status ts_backend_graph_reserve(ts_backend *be, const ts_graph *g);
ts_status ts_backend_graph_compute(ts_backend *be, const ts_graph *g, ts_abort_fn abort,
                                   void *user);
ts_status ts_backend_synchronize(ts_backend *be);

/* ------------------------------------------------------------------- cpu */

/* The CPU backend: host memory, reference kernels, one persistent pool of
 * n_threads workers (<= 0: one per online core). Work is split along output
 * rows only, so results do not depend on the thread count. Caller frees
 * with ts_backend_free. TS_ERR_NOMEM / TS_ERR_INVALID_ARG on failure. */
ts_status ts_backend_cpu_new(int n_threads, ts_backend **out);

/* The instruction-set path the CPU kernels run: "scalar" (the reference),
 * "avx2" or "avx512". Chosen once per process from CPUID, unless the
 * environment variable TESSERA_CPU names one; every path computes bitwise
 * the same results (docs/ARCHITECTURE.md, "Reduction order"). NULL when
 * TESSERA_CPU names an unknown path or one this CPU lacks: then
 * ts_backend_cpu_new fails with TS_ERR_UNSUPPORTED and a message saying
 * why. Static string. */
const char *ts_backend_cpu_path(void);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_BACKEND_H */
