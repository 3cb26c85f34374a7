/*
 * membw.c — the STREAM-triad bandwidth probe of `tessera bench` (membw.h).
 *
 * Thread 0 is the caller; the others are started for the probe and joined
 * before it returns. They wait at a gate until every one of them exists
 * (so that a thread that cannot start leaves no one blocked at a barrier),
 * then each touches its part of the arrays, and every pass runs between two
 * barriers; thread 0 times it from the first barrier to the second.
 */
#include "membw.h"

#include "gen_cli.h" /* gen_now */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Gap between the arrays inside their one mapping, so that a[i], b[i] and
 * c[i] are not a multiple of 4 KiB apart (the loads and the store would
 * alias in the L1 cache's indexing). */
#define ARRAY_SKEW 1088

typedef struct triad {
    double *a, *b, *c;
    size_t n; /* elements per array */
    int n_threads, passes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate; /* 0: wait; 1: go; -1: a thread could not start, leave */
    pthread_barrier_t start, stop;
    double best; /* seconds of the fastest timed pass (thread 0 writes it) */
} triad;

typedef struct worker {
    triad *t;
    int id;
} worker;

/* ============================================================ threads */

static bool wait_gate(triad *t) {
    pthread_mutex_lock(&t->mu);
    while (t->gate == 0) pthread_cond_wait(&t->cv, &t->mu);
    int g = t->gate;
    pthread_mutex_unlock(&t->mu);
    return g > 0;
}

static void open_gate(triad *t, int value) {
    pthread_mutex_lock(&t->mu);
    t->gate = value;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* One thread's part: elements [i0, i1), the parts together covering 0..n. */
static void *run_worker(void *arg) {
    const worker *w = arg;
    triad *t = w->t;
    if (!wait_gate(t)) return NULL;
    const size_t i0 = t->n * (size_t)w->id / (size_t)t->n_threads;
    const size_t i1 = t->n * (size_t)(w->id + 1) / (size_t)t->n_threads;
    double *restrict a = t->a, *restrict b = t->b, *restrict c = t->c;
    for (size_t i = i0; i < i1; i++) a[i] = 0.0, b[i] = 1.0, c[i] = 2.0;
    const double s = 3.0;
    for (int p = 0; p <= t->passes; p++) { /* pass 0 warms up */
        pthread_barrier_wait(&t->start);
        double t0 = gen_now();
        for (size_t i = i0; i < i1; i++) a[i] = b[i] + s * c[i];
        pthread_barrier_wait(&t->stop);
        double dt = gen_now() - t0;
        if (w->id == 0 && p > 0 && dt < t->best) t->best = dt;
    }
    return NULL;
}

/* Start threads 1..n-1, run thread 0 here, join them. False (errno set)
 * when one cannot start: the others are told to leave and are joined. */
static bool run_threads(triad *t) {
    worker *w = calloc((size_t)t->n_threads, sizeof *w);
    pthread_t *tid = calloc((size_t)t->n_threads, sizeof *tid);
    int started = 1, err = (w && tid) ? 0 : ENOMEM;
    for (; !err && started < t->n_threads; started++) {
        w[started] = (worker){.t = t, .id = started};
        err = pthread_create(&tid[started], NULL, run_worker, &w[started]);
        if (err) break;
    }
    open_gate(t, err ? -1 : 1);
    if (!err) {
        w[0] = (worker){.t = t, .id = 0};
        run_worker(&w[0]);
    }
    for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
    free(w);
    free(tid);
    errno = err;
    return err == 0;
}

/* ============================================================= public */

bool membw_array_bytes(size_t *bytes) {
    const char *v = getenv(MEMBW_ENV);
    if (!v || !v[0]) {
        *bytes = (size_t)MEMBW_DEFAULT_MIB << 20;
        return true;
    }
    char *end;
    errno = 0;
    long mib = strtol(v, &end, 10);
    if (errno || *end || mib < 1 || mib > 65536) return false;
    *bytes = (size_t)mib << 20;
    return true;
}

bool membw_triad(int n_threads, size_t array_bytes, int passes, double *bytes_per_s) {
    const size_t n = array_bytes / sizeof(double);
    const size_t stride = n * sizeof(double) + ARRAY_SKEW, size = 3 * stride;
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return false;
    triad t = {
        .a = (double *)base,
        .b = (double *)(base + stride),
        .c = (double *)(base + 2 * stride),
        .n = n,
        .n_threads = n_threads,
        .passes = passes,
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .cv = PTHREAD_COND_INITIALIZER,
        .best = 1e300,
    };
    pthread_barrier_init(&t.start, NULL, (unsigned)n_threads);
    pthread_barrier_init(&t.stop, NULL, (unsigned)n_threads);
    bool ok = run_threads(&t);
    int err = errno;
    pthread_barrier_destroy(&t.start);
    pthread_barrier_destroy(&t.stop);
    munmap(base, size);
    if (ok) *bytes_per_s = 3.0 * (double)(n * sizeof(double)) / t.best;
    errno = err;
    return ok;
}
