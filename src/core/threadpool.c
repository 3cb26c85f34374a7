/*
 * threadpool.c — the persistent worker pool (see threadpool-impl.h).
 *
 * Dispatch: the caller publishes (fn, user) under the mutex, bumps the job
 * generation and broadcasts; each worker runs the job once per generation.
 * A worker that just finished spins briefly on the generation before it
 * sleeps, so back-to-back runs (one graph per decoded token) rarely pay a
 * wake-up. Completion: each worker decrements `pending`; the caller spins
 * briefly, then waits on a condition variable that the last worker signals
 * under the mutex (so the signal cannot be lost).
 *
 * Barrier: `arrived` counts threads at the barrier; the last one resets it
 * and bumps `barrier_gen`, which the others watch: spinning with a pause
 * for a bounded time (a graph's nodes take microseconds, so the wait is
 * usually short: no node of a running graph pays a mutex and condition
 * variable round trip), then yielding a couple of times, then sleeping on
 * a condition variable, so that a thread waiting for a descheduled one
 * gives its core back.
 * The last arriver broadcasts only when `sleepers` says someone may sleep;
 * both sides use sequentially consistent operations on `barrier_gen` and
 * `sleepers`, so either the sleeper sees the new generation or the arriver
 * sees the sleeper (and broadcasts under the mutex the sleeper holds until
 * it waits). The acq_rel increment and the generation's release/acquire
 * order every write before the barrier before every read after it.
 */
#include "core/threadpool-impl.h"

#include "core/core-impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Wait budgets. A barrier spins with a pause for up to SPIN_BARRIER_NS of
 * wall time: a decode's nodes come every few tens of microseconds and the
 * usual imbalance is far less, so on an idle machine every barrier ends
 * while spinning — no mutex or condition variable per node. A wait longer
 * than that means the partner is descheduled (a busy machine) or the graph
 * ended: then a couple of sched_yield and sleep on the condition variable,
 * leaving the core to whoever needs it (yielding on instead keeps the
 * waiter on the run queue, competing with the very thread it waits for). */
#define SPIN_BARRIER_NS 100000 /* 100 µs of pause in a barrier, */
#define YIELD_BARRIER   2      /* then a couple of sched_yield, then sleep */
#define SPIN_IDLE       5000   /* ~200 µs a worker polls for the next run */
#define SPIN_DONE       5000   /* ~200 µs the caller polls for the workers */

typedef struct worker {
    ts_threadpool *pool;
    pthread_t thread;
    int ith;
} worker;

struct ts_threadpool {
    int n;           /* threads including the caller */
    worker *workers; /* (n - 1) */
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new job or stop */
    pthread_cond_t done; /* caller: pending reached 0 */
    atomic_uint job_gen;
    atomic_int pending; /* workers still running the current job */
    atomic_bool stop;
    ts_threadpool_fn fn; /* the current job (under mu, read after job_gen) */
    void *user;

    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_uint barrier_gen;
    atomic_int sleepers; /* threads that may be asleep in a barrier */
    pthread_mutex_t barrier_mu;
    pthread_cond_t barrier_cv;
};

/* ---------------------------------------------------------------- helpers */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ts_threadpool_online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 4096 ? 4096 : (int)n);
}

/* ---------------------------------------------------------------- workers */

/* Spin a while for the generation to leave `seen`, then sleep on `wake`.
 * Returns false when the pool stops. */
static bool wait_for_job(ts_threadpool *p, unsigned seen, ts_threadpool_fn *fn, void **user) {
    for (int i = 0; i < SPIN_IDLE; i++) {
        if (atomic_load_explicit(&p->job_gen, memory_order_acquire) != seen ||
            atomic_load_explicit(&p->stop, memory_order_acquire))
            break;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->job_gen, memory_order_relaxed) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_relaxed))
        pthread_cond_wait(&p->wake, &p->mu);
    bool go = !atomic_load_explicit(&p->stop, memory_order_relaxed);
    *fn = p->fn;
    *user = p->user;
    pthread_mutex_unlock(&p->mu);
    return go;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ts_threadpool *p = w->pool;
    unsigned seen = 0; /* job_gen starts at 0: no job yet */
    for (;;) {
        ts_threadpool_fn fn;
        void *user;
        if (!wait_for_job(p, seen, &fn, &user)) break;
        seen++; /* one job per generation: run() waits for us before the next */
        fn(w->ith, p->n, user);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------- pool */

ts_status ts_threadpool_new(int n_threads, ts_threadpool **out) {
    *out = NULL;
    const int cores = ts_threadpool_online_cores();
    if (n_threads <= 0) n_threads = cores;
    if (n_threads > cores) {
        ts_log(TS_LOG_WARN, "thread pool: %d threads requested, %d online cores: using %d",
               n_threads, cores, cores);
        n_threads = cores;
    }
    ts_threadpool *p = calloc(1, sizeof *p);
    if (!p) return ts_error(TS_ERR_NOMEM, "no memory for a thread pool");
    p->n = n_threads;
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return ts_error(TS_ERR_NOMEM, "no memory for a thread pool of %d threads", n_threads);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_mutex_init(&p->barrier_mu, NULL);
    pthread_cond_init(&p->barrier_cv, NULL);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->job_gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->arrived, 0);
    atomic_init(&p->barrier_gen, 0);
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i - 1];
        w->pool = p;
        w->ith = i;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            ts_threadpool_free(p);
            return ts_error(TS_ERR_NOMEM, "thread pool: cannot start thread %d of %d: %s", i,
                            n_threads, strerror(rc));
        }
        p->n_started++;
    }
    *out = p;
    return TS_OK;
}

void ts_threadpool_free(ts_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->barrier_cv);
    pthread_mutex_destroy(&p->barrier_mu);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int ts_threadpool_n_threads(const ts_threadpool *p) { return p->n; }

void ts_threadpool_run(ts_threadpool *p, ts_threadpool_fn fn, void *user) {
    if (p->n == 1) {
        fn(0, 1, user);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->user = user;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->job_gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    fn(0, p->n, user);

    for (int i = 0; i < SPIN_DONE; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void ts_threadpool_barrier(ts_threadpool *p) {
    const int n = p->n;
    if (n == 1) return;
    const unsigned gen = atomic_load_explicit(&p->barrier_gen, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == n - 1) {
        /* last to arrive: nobody reads `arrived` again until the bump */
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_fetch_add(&p->barrier_gen, 1); /* seq_cst: see the comment on top */
        if (atomic_load(&p->sleepers) > 0) {
            pthread_mutex_lock(&p->barrier_mu);
            pthread_cond_broadcast(&p->barrier_cv);
            pthread_mutex_unlock(&p->barrier_mu);
        }
        return;
    }
    const uint64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->barrier_gen, memory_order_acquire) != gen) return;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - t0 > SPIN_BARRIER_NS) break;
    }
    for (int i = 0; i < YIELD_BARRIER; i++) {
        if (atomic_load_explicit(&p->barrier_gen, memory_order_acquire) != gen) return;
        sched_yield();
    }
    pthread_mutex_lock(&p->barrier_mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(&p->barrier_gen) == gen) pthread_cond_wait(&p->barrier_cv, &p->barrier_mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->barrier_mu);
}
