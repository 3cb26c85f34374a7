/*
 * backend.c — the wrappers of tessera/backend.h: each checks the handle's
 * vtable ABI version (a backend built against another ts_backend_iface is a
 * bug in how it was linked) and forwards.
 */
#include "core/core-impl.h"
#include "tessera/backend.h"

static const ts_backend_iface *iface(const ts_backend *be) {
    TS_ASSERT(be && be->iface);
    TS_ASSERT(be->iface->abi_version == TS_BACKEND_ABI_VERSION);
    return be->iface;
}

void ts_backend_free(ts_backend *be) {
    if (!be) return;
    iface(be)->free(be);
}

void ts_backend_get_info(ts_backend *be, ts_backend_info *out) { iface(be)->get_info(be, out); }

ts_status ts_backend_buffer_alloc(ts_backend *be, size_t size, void **out) {
    return iface(be)->buffer_alloc(be, size, out);
}

void ts_backend_buffer_free(ts_backend *be, void *base) {
    if (!base) return;
    iface(be)->buffer_free(be, base);
}

ts_status ts_backend_upload(ts_backend *be, void *base, size_t offset, const void *src, size_t n) {
    return iface(be)->upload(be, base, offset, src, n);
}

ts_status ts_backend_download(ts_backend *be, const void *base, size_t offset, void *dst,
                              size_t n) {
    return iface(be)->download(be, base, offset, dst, n);
}

bool ts_backend_supports(ts_backend *be, const ts_node *node) {
    return iface(be)->supports(be, node);
}

ts_status ts_backend_graph_reserve(ts_backend *be, const ts_graph *g) {
    return iface(be)->graph_reserve(be, g);
}

ts_status ts_backend_graph_compute(ts_backend *be, const ts_graph *g, ts_abort_fn abort,
                                   void *user) {
    return iface(be)->graph_compute(be, g, abort, user);
}

ts_status ts_backend_synchronize(ts_backend *be) { return iface(be)->synchronize(be); }
