/*
 * test_threadpool.c — the worker pool: every thread runs each job exactly
 * once with its own index, runs return only when all threads are done, the
 * barrier orders writes across many iterations (a lock-step counter that
 * would tear if any thread left a barrier early), and pools of any size
 * (clamped to the online cores) start and stop cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <string.h>

#include "core/threadpool-impl.h"

#define MAX_THREADS 64

typedef struct job {
    ts_threadpool *pool;
    atomic_int calls[MAX_THREADS];
    int seen_nth[MAX_THREADS];
} job;

static void count_calls(int ith, int nth, void *user) {
    job *j = user;
    atomic_fetch_add(&j->calls[ith], 1);
    j->seen_nth[ith] = nth;
}

static void test_each_thread_once(void **state) {
    (void)state;
    ts_threadpool *pool;
    assert_int_equal(ts_threadpool_new(0, &pool), TS_OK);
    const int n = ts_threadpool_n_threads(pool);
    assert_int_equal(n, ts_threadpool_online_cores());
    static job j;
    memset(&j, 0, sizeof j);
    for (int run = 0; run < 1000; run++) ts_threadpool_run(pool, count_calls, &j);
    for (int i = 0; i < n; i++) {
        assert_int_equal(atomic_load(&j.calls[i]), 1000);
        assert_int_equal(j.seen_nth[i], n);
    }
    ts_threadpool_free(pool);
}

static int warnings;

static void count_warnings(ts_log_level level, const char *msg, void *user) {
    (void)msg, (void)user;
    if (level == TS_LOG_WARN) warnings++;
}

static void test_clamped_to_cores(void **state) {
    (void)state;
    ts_threadpool *pool;
    ts_log_set(count_warnings, NULL, TS_LOG_DEBUG);
    assert_int_equal(ts_threadpool_new(ts_threadpool_online_cores() + 7, &pool), TS_OK);
    ts_log_set(NULL, NULL, TS_LOG_WARN);
    assert_int_equal(warnings, 1);
    assert_int_equal(ts_threadpool_n_threads(pool), ts_threadpool_online_cores());
    ts_threadpool_free(pool);
    assert_int_equal(ts_threadpool_new(1, &pool), TS_OK);
    assert_int_equal(ts_threadpool_n_threads(pool), 1);
    ts_threadpool_free(pool);
    ts_threadpool_free(NULL);
}

/* Lock-step: in round r every thread checks that all slots hold r, then
 * (after a barrier) writes r + 1 to its own slot. A thread leaving a
 * barrier early would see a slot of the wrong round. */
#define ROUNDS 20000

typedef struct lockstep {
    ts_threadpool *pool;
    int slot[MAX_THREADS];
    atomic_int errors;
} lockstep;

static void lockstep_fn(int ith, int nth, void *user) {
    lockstep *ls = user;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < nth; i++)
            if (__atomic_load_n(&ls->slot[i], __ATOMIC_RELAXED) != r)
                atomic_fetch_add(&ls->errors, 1);
        ts_threadpool_barrier(ls->pool);
        __atomic_store_n(&ls->slot[ith], r + 1, __ATOMIC_RELAXED);
        ts_threadpool_barrier(ls->pool);
    }
}

static void test_barrier_lockstep(void **state) {
    (void)state;
    for (int n = 1; n <= 2; n++) {
        ts_threadpool *pool;
        assert_int_equal(ts_threadpool_new(n, &pool), TS_OK);
        for (int run = 0; run < 3; run++) {
            static lockstep ls;
            memset(&ls, 0, sizeof ls);
            ls.pool = pool;
            ts_threadpool_run(pool, lockstep_fn, &ls);
            assert_int_equal(atomic_load(&ls.errors), 0);
            for (int i = 0; i < ts_threadpool_n_threads(pool); i++)
                assert_int_equal(ls.slot[i], ROUNDS);
        }
        ts_threadpool_free(pool);
    }
}

/* Plain (non-atomic) data written before a barrier is read after it: a
 * prefix sum over per-thread partials, many times. */
typedef struct partials {
    ts_threadpool *pool;
    long part[MAX_THREADS];
    long total[MAX_THREADS];
} partials;

static void partials_fn(int ith, int nth, void *user) {
    partials *p = user;
    for (int r = 1; r <= 5000; r++) {
        p->part[ith] = (long)r * (ith + 1);
        ts_threadpool_barrier(p->pool);
        long s = 0;
        for (int i = 0; i < nth; i++) s += p->part[i];
        p->total[ith] += s;
        ts_threadpool_barrier(p->pool);
    }
}

static void test_barrier_publishes_writes(void **state) {
    (void)state;
    ts_threadpool *pool;
    assert_int_equal(ts_threadpool_new(0, &pool), TS_OK);
    const int n = ts_threadpool_n_threads(pool);
    static partials p;
    memset(&p, 0, sizeof p);
    p.pool = pool;
    ts_threadpool_run(pool, partials_fn, &p);
    const long expect = 5000L * 5001 / 2 * ((long)n * (n + 1) / 2);
    for (int i = 0; i < n; i++) assert_int_equal(p.total[i], expect);
    ts_threadpool_free(pool);
}

/* A pool created and freed without ever running, and runs back to back. */
static void noop(int ith, int nth, void *user) { (void)ith, (void)nth, (void)user; }

static void test_start_stop(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++) {
        ts_threadpool *pool;
        assert_int_equal(ts_threadpool_new(0, &pool), TS_OK);
        for (int r = 0; r < i % 3; r++) ts_threadpool_run(pool, noop, NULL);
        ts_threadpool_free(pool);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_thread_once), cmocka_unit_test(test_clamped_to_cores),
        cmocka_unit_test(test_barrier_lockstep), cmocka_unit_test(test_barrier_publishes_writes),
        cmocka_unit_test(test_start_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
