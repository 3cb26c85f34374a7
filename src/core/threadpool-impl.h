/*
 * threadpool-impl.h — one persistent pool of worker threads (internal).
 *
 * A pool of n threads counts the caller: it starts n - 1 pthreads, which
 * sleep on a condition variable while idle. ts_threadpool_run(pool, fn, user)
 * runs fn(ith, n, user) on every thread (ith = 0 on the caller) and returns
 * when all have returned. Inside fn, ts_threadpool_barrier syncs the n
 * threads (an atomic counter and a generation: brief spinning, then yielding),
 * so one run can walk a whole graph with a barrier between nodes.
 *
 * Invariants: one run at a time per pool (run is not reentrant and must be
 * called from one thread at a time); every thread of a run must reach the
 * same number of barriers.
 */
#ifndef TS_THREADPOOL_IMPL_H
#define TS_THREADPOOL_IMPL_H

#include "tessera/core.h"

typedef struct ts_threadpool ts_threadpool;

/* Work of thread ith out of nth. */
typedef void (*ts_threadpool_fn)(int ith, int nth, void *user);

/* A pool of n_threads threads including the caller (<= 0: one per online
 * core; more than the online cores is clamped, with a warning). Caller frees
 * with ts_threadpool_free. TS_ERR_NOMEM when memory or a thread cannot be
 * had. */
ts_status ts_threadpool_new(int n_threads, ts_threadpool **out);

/* Stops and joins the workers. NULL is a no-op. Not while a run is active. */
void ts_threadpool_free(ts_threadpool *pool);

int ts_threadpool_n_threads(const ts_threadpool *pool);

/* fn(ith, n, user) on every thread of the pool; returns when all are done. */
void ts_threadpool_run(ts_threadpool *pool, ts_threadpool_fn fn, void *user);

/* Wait until every thread of the current run has reached this barrier.
 * Writes before it are visible to every thread after it. Only inside fn. */
void ts_threadpool_barrier(ts_threadpool *pool);

/* Online cores (at least 1). */
int ts_threadpool_online_cores(void);

#endif /* TS_THREADPOOL_IMPL_H */
