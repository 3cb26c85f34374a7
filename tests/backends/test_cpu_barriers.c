/*
 * test_cpu_barriers.c — which nodes of a graph the CPU backend ends with a
 * barrier (ts_cpu_plan_barriers): one is left out only between nodes that
 * cannot see each other's memory, so threads running ahead into the next
 * node can never read a row before it is written, nor overwrite one
 * another thread still reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "backends/cpu/cpu-impl.h"
#include "tessera/graph.h"

enum { D = 32, N = 2, C = 4 }; /* row width, tokens, cache rows */

static float x[D * N], w1[D * D], w2[D * D], cache[D * C];
static int32_t rows[N] = {0, 1};

static ts_node *leaf(ts_graph *g, int n_dims, const int64_t *ne, void *data, const char *name) {
    return ts_graph_leaf(g, TS_TYPE_F32, n_dims, ne, data, 0, name);
}

/* g planned and bound on a fresh arena (freed by the caller); sync filled. */
static void *plan(ts_graph *g, bool *sync) {
    size_t size;
    ts_graph_plan(g, &size);
    void *arena = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    assert_non_null(arena);
    ts_graph_bind(g, arena);
    ts_cpu_plan_barriers(g, sync);
    return arena;
}

/* a = w1·x and b = w2·x only read x: no barrier between them; a + b reads
 * both, so b ends at one; the last node always does. */
static void test_independent_products(void **state) {
    (void)state;
    ts_graph *g;
    assert_int_equal(ts_graph_new(16, &g), TS_OK);
    ts_node *xn = leaf(g, 2, (int64_t[]){D, N}, x, "x");
    ts_node *a = ts_graph_mul_mat(g, leaf(g, 2, (int64_t[]){D, D}, w1, "w1"), xn);
    ts_node *b = ts_graph_mul_mat(g, leaf(g, 2, (int64_t[]){D, D}, w2, "w2"), xn);
    ts_node *c = ts_node_set_output(ts_graph_add(g, a, b));
    bool sync[16];
    void *arena = plan(g, sync);
    int32_t ia = -1, ib = -1, ic = -1;
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++) {
        const ts_node *n = ts_graph_node(g, i);
        ia = n == a ? i : ia, ib = n == b ? i : ib, ic = n == c ? i : ic;
    }
    assert_false(sync[ia]); /* b may start while a runs */
    assert_true(sync[ib]);  /* c reads a and b */
    assert_true(sync[ic]);
    free(arena);
    ts_graph_free(g);
}

/* a = w1·cache reads the cache; the SET_ROWS after it overwrites cache rows
 * a may still be reading: a barrier between them. The two writes into the
 * cache that follow touch the same tensor: a barrier between them too. */
static void test_overwrite_of_an_input(void **state) {
    (void)state;
    ts_graph *g;
    assert_int_equal(ts_graph_new(16, &g), TS_OK);
    ts_node *cn = leaf(g, 2, (int64_t[]){D, C}, cache, "cache");
    ts_node *xn = leaf(g, 2, (int64_t[]){D, N}, x, "x");
    ts_node *idx = ts_graph_leaf(g, TS_TYPE_I32, 1, (int64_t[]){N}, rows, 0, "rows");
    ts_node *a =
        ts_node_set_output(ts_graph_mul_mat(g, leaf(g, 2, (int64_t[]){D, D}, w1, "w1"), cn));
    ts_node *s1 = ts_graph_set_rows(g, cn, xn, idx);
    ts_node *s2 = ts_node_set_output(ts_graph_set_rows(g, s1, xn, idx));
    bool sync[16];
    void *arena = plan(g, sync);
    for (int32_t i = 0; i < ts_graph_n_nodes(g); i++) {
        const ts_node *n = ts_graph_node(g, i);
        if (n == a || n == s1 || n == s2) assert_true(sync[i]);
    }
    free(arena);
    ts_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_independent_products),
        cmocka_unit_test(test_overwrite_of_an_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
