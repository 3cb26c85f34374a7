/*
 * test_engine.c — the engine's public API (tessera/engine.h) on the tiny
 * llama models of tests/data/llama/tiny: batch validation, a full cache,
 * aborts, sequence operations, logits flags, micro-batching, contexts
 * sharing a model, stats, and the errors of ts_model_load on broken files
 * (modified copies of a tiny model written with the GGUF writer).
 *
 * "The cache is unchanged" is checked twice: through the cell counts and
 * sequence positions the API shows, and by the logits of the next token,
 * which must be bitwise those of a context that never saw the failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"
#include "testutil.h"

#ifndef TS_LLAMA_TINY_DIR
#error "TS_LLAMA_TINY_DIR must name tests/data/llama/tiny"
#endif

/* gqa-odd-f32: 2 layers, n_embd 72, 6 heads / 2 KV heads of 12, vocab 96,
 * context 128, F32 weights. */
#define MODEL TS_LLAMA_TINY_DIR "/gqa-odd-f32.gguf"
#define N_VOCAB 96

static const ts_token IDS[] = {1, 17, 42, 5, 88, 63, 30, 9, 71, 24, 50, 3, 95, 12, 66, 40};
#define N_IDS ((int32_t)(sizeof IDS / sizeof IDS[0]))

/* ============================================================== helpers */

static ts_model *load(const char *path) {
    ts_model *m = NULL;
    ts_model_params p = ts_model_default_params();
    if (ts_model_load(path, &p, &m) != TS_OK) fail_msg("load %s: %s", path, ts_last_error());
    return m;
}

typedef struct abort_state {
    int polls;     /* calls so far */
    int abort_at;  /* return true on this call (1-based); 0: never */
} abort_state;

static bool abort_cb(void *user) {
    abort_state *a = user;
    return ++a->polls == a->abort_at;
}

static ts_context *context(const ts_model *m, uint32_t n_ctx, uint32_t n_ubatch,
                           uint32_t n_seq_max, abort_state *abort) {
    ts_context_params p = ts_context_default_params();
    p.n_ctx = n_ctx;
    p.n_ubatch = n_ubatch;
    p.n_seq_max = n_seq_max;
    p.n_threads = 1;
    if (abort) {
        p.abort_callback = abort_cb;
        p.abort_user = abort;
    }
    ts_context *ctx = NULL;
    if (ts_context_new(m, &p, &ctx) != TS_OK) fail_msg("context: %s", ts_last_error());
    return ctx;
}

/* Fill b with ids[0..n) of sequence seq at positions p0.., logits for all
 * tokens (all) or the last. */
static void fill(ts_batch *b, const ts_token *ids, int32_t n, ts_pos p0, ts_seq_id seq, bool all) {
    ts_batch_clear(b);
    for (int32_t i = 0; i < n; i++)
        assert_int_equal(ts_batch_add(b, ids[i], p0 + i, &seq, 1, all || i == n - 1), TS_OK);
}

static void decode_ok(ts_context *ctx, const ts_token *ids, int32_t n, ts_pos p0, ts_seq_id seq) {
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, n, 1), TS_OK);
    fill(&b, ids, n, p0, seq, false);
    ts_status st = ts_decode(ctx, &b);
    if (st != TS_OK) fail_msg("decode: %s", ts_last_error());
    ts_batch_free(&b);
}

/* A copy of the last logits row of ctx's last batch of n tokens. */
static float *last_logits(const ts_context *ctx, int32_t n) {
    const float *l = ts_get_logits(ctx, n - 1);
    assert_non_null(l);
    float *c = malloc(N_VOCAB * sizeof *c);
    assert_non_null(c);
    memcpy(c, l, N_VOCAB * sizeof *c);
    return c;
}

/* The logits of ids[n-1] after ids[0..n-1) in a fresh single-sequence
 * context: what a cache holding exactly ids[0..n-1) must give. */
static float *fresh_logits(const ts_model *m, const ts_token *ids, int32_t n) {
    ts_context *ctx = context(m, 64, 512, 1, NULL);
    decode_ok(ctx, ids, n, 0, 0);
    float *l = last_logits(ctx, n);
    ts_context_free(ctx);
    return l;
}

static uint32_t cells_used(const ts_context *ctx) {
    ts_context_stats s;
    ts_context_get_stats(ctx, &s);
    return s.n_cells_used;
}

/* The last error is one non-empty line containing `what`. */
static void check_message(const char *what) {
    const char *msg = ts_last_error();
    if (!strstr(msg, what)) fail_msg("message '%s' does not mention '%s'", msg, what);
    assert_null(strchr(msg, '\n'));
}

/* ================================================== decode: bad batches */

/* Decoding b fails with st, mentions `what` and leaves seq 0 of ctx
 * holding positions 0..4 in 5 cells. */
static void refused(ts_context *ctx, const ts_batch *b, ts_status st, const char *what) {
    ts_context_stats before, after;
    ts_context_get_stats(ctx, &before);
    assert_int_equal(ts_decode(ctx, b), st);
    check_message(what);
    ts_context_get_stats(ctx, &after);
    assert_int_equal(after.n_cells_used, 5);
    assert_int_equal(after.n_decode, before.n_decode);
    assert_int_equal(after.n_tokens, before.n_tokens);
    assert_int_equal(ts_seq_pos_max(ctx, 0), 4);
    assert_int_equal(ts_seq_pos_max(ctx, 1), -1);
    assert_null(ts_get_logits(ctx, 0));
}

static void test_bad_batches(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 32, 512, 2, NULL);
    decode_ok(ctx, IDS, 5, 0, 0);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 8, 2), TS_OK);
    const ts_seq_id s0 = 0, s2 = 2, sneg = -1;

    refused(ctx, &b, TS_ERR_INVALID_ARG, "empty"); // n_tokens 0
    assert_int_equal(ts_decode(ctx, NULL), TS_ERR_INVALID_ARG);
    fill(&b, (ts_token[]){7, N_VOCAB}, 2, 5, 0, true); // first token fine, second not
    refused(ctx, &b, TS_ERR_INVALID_ARG, "vocabulary");
    fill(&b, (ts_token[]){-1}, 1, 5, 0, true);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "vocabulary");
    ts_batch_clear(&b);
    assert_int_equal(ts_batch_add(&b, 7, 5, &s2, 1, true), TS_OK);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "sequence id 2");
    ts_batch_clear(&b);
    assert_int_equal(ts_batch_add(&b, 7, 0, &sneg, 1, true), TS_OK);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "sequence id -1");
    fill(&b, (ts_token[]){7}, 1, 4, 0, true); // seq 0 already reaches 4
    refused(ctx, &b, TS_ERR_INVALID_ARG, "position 4");
    fill(&b, (ts_token[]){7}, 1, 2, 0, true);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "position 4");
    ts_batch_clear(&b); // the same position twice in one batch
    assert_int_equal(ts_batch_add(&b, 7, 5, &s0, 1, true), TS_OK);
    assert_int_equal(ts_batch_add(&b, 8, 5, &s0, 1, true), TS_OK);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "position 5");
    fill(&b, (ts_token[]){7}, 1, 32, 0, true); // n_ctx is 32
    refused(ctx, &b, TS_ERR_INVALID_ARG, "position 32");
    fill(&b, (ts_token[]){7}, 1, -3, 1, true);
    refused(ctx, &b, TS_ERR_INVALID_ARG, "position -3");
    ts_batch_free(&b);

    // the cache holds exactly IDS[0..5): the next token's logits say so
    decode_ok(ctx, IDS + 5, 1, 5, 0);
    float *got = last_logits(ctx, 1), *want = fresh_logits(m, IDS, 6);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* ============================================================ full cache */

static void test_full(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 16, 4, 2, NULL);
    decode_ok(ctx, IDS, 10, 0, 0);
    // positions 0..6 of sequence 1 are valid, but 7 cells are needed and 6 are free
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 8, 1), TS_OK);
    fill(&b, IDS, 7, 0, 1, true);
    ts_context_stats before, after;
    ts_context_get_stats(ctx, &before);
    assert_int_equal(ts_decode(ctx, &b), TS_ERR_FULL);
    check_message("full");
    ts_context_get_stats(ctx, &after);
    assert_int_equal(after.n_cells_used, 10);
    assert_int_equal(after.n_graph_compute, before.n_graph_compute); // refused before computing
    assert_int_equal(ts_seq_pos_max(ctx, 1), -1);
    // six fit, exactly
    fill(&b, IDS, 6, 0, 1, true);
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    assert_int_equal(cells_used(ctx), 16);
    float *got = last_logits(ctx, 6), *want = fresh_logits(m, IDS, 6);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    // now even one token is too many
    fill(&b, IDS + 10, 1, 10, 0, true);
    assert_int_equal(ts_decode(ctx, &b), TS_ERR_FULL);
    assert_int_equal(cells_used(ctx), 16);
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* ================================================================= abort */

static void test_abort(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    abort_state ab = {0};
    ts_context *ctx = context(m, 32, 4, 1, &ab);
    decode_ok(ctx, IDS, 3, 0, 0);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 11, 1), TS_OK);
    fill(&b, IDS + 3, 11, 3, 0, true); // 3 micro-batches of up to 4

    // count the polls of a whole decode in a scratch context
    abort_state count = {0};
    ts_context *scratch = context(m, 32, 4, 1, &count);
    decode_ok(scratch, IDS, 3, 0, 0);
    count.polls = 0;
    assert_int_equal(ts_decode(scratch, &b), TS_OK);
    const int polls = count.polls;
    ts_context_free(scratch);
    assert_true(polls > 3); // once per micro-batch, and in the graphs
    print_message("abort callback polled %d times in a decode of 3 micro-batches\n", polls);

    // abort at the first poll, in the middle and at the last one
    const int at[] = {1, polls / 2, polls};
    for (int k = 0; k < 3; k++) {
        ts_context_stats before, after;
        ts_context_get_stats(ctx, &before);
        ab = (abort_state){.abort_at = at[k]};
        assert_int_equal(ts_decode(ctx, &b), TS_ERR_ABORTED);
        assert_int_equal(ab.polls, at[k]); // stopped right away
        ts_context_get_stats(ctx, &after);
        assert_int_equal(after.n_cells_used, 3);
        assert_int_equal(after.n_decode, before.n_decode);
        assert_int_equal(ts_seq_pos_max(ctx, 0), 2);
        assert_null(ts_get_logits(ctx, 0));
    }
    ab = (abort_state){0};
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    float *got = last_logits(ctx, 11), *want = fresh_logits(m, IDS, 14);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* ============================================================= sequences */

static void test_seq_ops(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 64, 512, 4, NULL);
    assert_int_equal(ts_seq_pos_max(ctx, 0), -1);
    decode_ok(ctx, IDS, 8, 0, 0);
    assert_int_equal(ts_seq_pos_max(ctx, 0), 7);

    // seq 1 shares seq 0's cells: no new cell, and it continues like seq 0
    ts_seq_cp(ctx, 0, 1, 0, -1);
    assert_int_equal(ts_seq_pos_max(ctx, 1), 7);
    assert_int_equal(cells_used(ctx), 8);
    decode_ok(ctx, IDS + 8, 1, 8, 1);
    float *got = last_logits(ctx, 1), *want = fresh_logits(m, IDS, 9);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    assert_int_equal(cells_used(ctx), 9);
    assert_int_equal(ts_seq_pos_max(ctx, 0), 7);

    // a partial copy: seq 2 gets positions [0, 3) only
    ts_seq_cp(ctx, 0, 2, 0, 3);
    assert_int_equal(ts_seq_pos_max(ctx, 2), 2);
    decode_ok(ctx, (ts_token[]){33}, 1, 3, 2);
    got = last_logits(ctx, 1);
    want = fresh_logits(m, (ts_token[]){IDS[0], IDS[1], IDS[2], 33}, 4);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    assert_int_equal(cells_used(ctx), 10);

    // removing seq 1's own token frees its cell; the shared ones stay
    assert_true(ts_seq_rm(ctx, 1, 8, -1));
    assert_int_equal(ts_seq_pos_max(ctx, 1), 7);
    assert_int_equal(cells_used(ctx), 9);
    // seq 0 forgets [4, end): seq 1 still holds those cells
    assert_true(ts_seq_rm(ctx, 0, 4, -1));
    assert_int_equal(ts_seq_pos_max(ctx, 0), 3);
    assert_int_equal(cells_used(ctx), 9);
    // and continues differently from position 4
    decode_ok(ctx, (ts_token[]){60, 61}, 2, 4, 0);
    got = last_logits(ctx, 2);
    want = fresh_logits(m, (ts_token[]){IDS[0], IDS[1], IDS[2], IDS[3], 60, 61}, 6);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    assert_int_equal(cells_used(ctx), 11);

    // keep seq 1 only: seq 0's and seq 2's own cells are freed
    ts_seq_keep(ctx, 1);
    assert_int_equal(ts_seq_pos_max(ctx, 0), -1);
    assert_int_equal(ts_seq_pos_max(ctx, 2), -1);
    assert_int_equal(ts_seq_pos_max(ctx, 1), 7);
    assert_int_equal(cells_used(ctx), 8);

    // out of range ids
    assert_false(ts_seq_rm(ctx, 4, 0, -1));
    assert_false(ts_seq_rm(ctx, 64, 0, -1));
    assert_int_equal(ts_seq_pos_max(ctx, 4), -1);
    assert_int_equal(ts_seq_pos_max(ctx, -1), -1);
    ts_seq_cp(ctx, 1, 4, 0, -1); // ignored
    assert_int_equal(cells_used(ctx), 8);

    // every sequence, a middle range: seq 1 keeps [0, 2) and [5, 8)
    assert_true(ts_seq_rm(ctx, -1, 2, 5));
    assert_int_equal(cells_used(ctx), 5);
    assert_int_equal(ts_seq_pos_max(ctx, 1), 7);
    assert_true(ts_seq_rm(ctx, -1, 0, -1));
    assert_int_equal(cells_used(ctx), 0);
    assert_int_equal(ts_seq_pos_max(ctx, 1), -1);
    // an empty cache starts over at position 0
    decode_ok(ctx, IDS, 4, 0, 3);
    got = last_logits(ctx, 4);
    want = fresh_logits(m, IDS, 4);
    assert_memory_equal(got, want, N_VOCAB * sizeof *got);
    free(got);
    free(want);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* Several sequences in one batch: a prompt shared by sequences 0 and 1
 * (one cell per token), then each continues with its own token at the same
 * position, next to an unrelated sequence 2; each row is what a context
 * holding only that sequence gives. */
static void test_multi_sequence(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 64, 4, 3, NULL);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 16, 2), TS_OK);
    const ts_seq_id both[2] = {0, 1}, s0 = 0, s1 = 1, s2 = 2;
    for (int32_t i = 0; i < 5; i++) {
        assert_int_equal(ts_batch_add(&b, IDS[i], i, both, 2, false), TS_OK);
        assert_int_equal(ts_batch_add(&b, IDS[15 - i], i, &s2, 1, false), TS_OK);
    }
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    assert_int_equal(cells_used(ctx), 10);
    assert_int_equal(ts_seq_pos_max(ctx, 1), 4);
    ts_batch_clear(&b);
    assert_int_equal(ts_batch_add(&b, 20, 5, &s1, 1, true), TS_OK);
    assert_int_equal(ts_batch_add(&b, IDS[10], 5, &s2, 1, true), TS_OK);
    assert_int_equal(ts_batch_add(&b, 21, 5, &s0, 1, true), TS_OK);
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    const ts_token p1[] = {IDS[0], IDS[1], IDS[2], IDS[3], IDS[4], 20};
    const ts_token p2[] = {IDS[15], IDS[14], IDS[13], IDS[12], IDS[11], IDS[10]};
    const ts_token p0[] = {IDS[0], IDS[1], IDS[2], IDS[3], IDS[4], 21};
    const ts_token *want_ids[3] = {p1, p2, p0};
    for (int32_t i = 0; i < 3; i++) {
        float *want = fresh_logits(m, want_ids[i], 6);
        assert_non_null(ts_get_logits(ctx, i));
        assert_memory_equal(ts_get_logits(ctx, i), want, N_VOCAB * sizeof *want);
        free(want);
    }
    assert_int_equal(cells_used(ctx), 13);
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* ======================================================= logits and split */

static void test_logits_flags(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 32, 512, 1, NULL);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 5, 1), TS_OK);
    const ts_seq_id s = 0;
    for (int32_t i = 0; i < 5; i++)
        assert_int_equal(ts_batch_add(&b, IDS[i], i, &s, 1, i == 1 || i == 3), TS_OK);
    assert_int_equal(ts_batch_add(&b, 1, 5, &s, 1, true), TS_ERR_INVALID_ARG); // full
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    assert_null(ts_get_logits(ctx, 0));
    assert_non_null(ts_get_logits(ctx, 1));
    assert_null(ts_get_logits(ctx, 2));
    assert_non_null(ts_get_logits(ctx, 3));
    assert_null(ts_get_logits(ctx, 4));
    assert_null(ts_get_logits(ctx, 5));
    assert_null(ts_get_logits(ctx, -1));
    float *want = fresh_logits(m, IDS, 4);
    assert_memory_equal(ts_get_logits(ctx, 3), want, N_VOCAB * sizeof *want);
    free(want);
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* n_ubatch 4 vs 512 for a batch of 11, all logits: bitwise equal; stats. */
static void test_micro_batches(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 11, 1), TS_OK);
    fill(&b, IDS, 11, 0, 0, true);
    float *rows[2];
    const uint32_t ub[2] = {4, 512};
    for (int k = 0; k < 2; k++) {
        ts_context *ctx = context(m, 32, ub[k], 1, NULL);
        assert_int_equal(ts_decode(ctx, &b), TS_OK);
        rows[k] = malloc(11 * N_VOCAB * sizeof(float));
        assert_non_null(rows[k]);
        for (int32_t i = 0; i < 11; i++) {
            assert_non_null(ts_get_logits(ctx, i));
            memcpy(rows[k] + i * N_VOCAB, ts_get_logits(ctx, i), N_VOCAB * sizeof(float));
        }
        ts_context_stats s;
        ts_context_get_stats(ctx, &s);
        assert_int_equal(s.n_decode, 1);
        assert_int_equal(s.n_graph_compute, k == 0 ? 3 : 1); // ceil(11 / 4), 1
        assert_int_equal(s.n_tokens, 11);
        assert_int_equal(s.n_cells_used, 11);
        assert_int_equal(ts_context_n_ubatch(ctx), ub[k] > 32 ? 32 : ub[k]); // capped at n_ctx
        ts_context_free(ctx);
    }
    assert_memory_equal(rows[0], rows[1], 11 * N_VOCAB * sizeof(float));
    free(rows[0]);
    free(rows[1]);
    ts_batch_free(&b);
    ts_model_free(m);
}

/* Two contexts on one model, used in turns, each as if alone. */
static void test_two_contexts(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *a = context(m, 32, 512, 1, NULL), *c = context(m, 48, 3, 1, NULL);
    for (int32_t i = 0; i < 6; i++) {
        decode_ok(a, IDS + i, 1, i, 0);
        decode_ok(c, IDS + 10 - i, 1, i, 0);
    }
    float *ga = last_logits(a, 1), *gc = last_logits(c, 1);
    float *wa = fresh_logits(m, IDS, 6);
    float *wc = fresh_logits(m, (ts_token[]){IDS[10], IDS[9], IDS[8], IDS[7], IDS[6], IDS[5]}, 6);
    assert_memory_equal(ga, wa, N_VOCAB * sizeof *ga);
    assert_memory_equal(gc, wc, N_VOCAB * sizeof *gc);
    ts_context_free(a); // the other keeps working
    decode_ok(c, IDS, 1, 6, 0);
    assert_non_null(ts_get_logits(c, 0));
    free(ga);
    free(gc);
    free(wa);
    free(wc);
    ts_context_free(c);
    ts_model_free(m);
}

static void test_stats(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = context(m, 32, 4, 1, NULL);
    ts_context_stats s;
    ts_context_get_stats(ctx, &s);
    assert_int_equal(s.n_decode, 0);
    assert_int_equal(s.n_graph_compute, 0);
    assert_int_equal(s.n_tokens, 0);
    assert_int_equal(s.n_cells_used, 0);
    // K and V, F16, 2 layers × 32 cells × (2 KV heads × 12)
    assert_int_equal(s.kv_bytes, 2 * 2 * 32 * 24 * 2);
    assert_true(s.arena_bytes > 0);
    assert_int_equal(ts_context_n_ctx(ctx), 32);
    decode_ok(ctx, IDS, 9, 0, 0);  // 3 graphs
    decode_ok(ctx, IDS + 9, 1, 9, 0); // 1
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 1, 1), TS_OK);
    fill(&b, IDS, 1, 3, 0, true); // refused: no graph, no decode counted
    assert_int_equal(ts_decode(ctx, &b), TS_ERR_INVALID_ARG);
    ts_batch_free(&b);
    ts_context_get_stats(ctx, &s);
    assert_int_equal(s.n_decode, 2);
    assert_int_equal(s.n_graph_compute, 4);
    assert_int_equal(s.n_tokens, 10);
    assert_int_equal(s.n_cells_used, 10);
    assert_true(s.compute_seconds >= 0.0);
    ts_context_free(ctx);

    // an F32 cache is twice the size; the default n_ctx is the training
    // context capped at 4096 (here 128)
    ts_context_params p = ts_context_default_params();
    p.type_k = p.type_v = TS_TYPE_F32;
    p.n_threads = 1;
    assert_int_equal(ts_context_new(m, &p, &ctx), TS_OK);
    ts_context_get_stats(ctx, &s);
    assert_int_equal(ts_context_n_ctx(ctx), 128);
    assert_int_equal(s.kv_bytes, 2 * 2 * 128 * 24 * 4);
    ts_context_free(ctx);
    ts_model_free(m);
}

/* A long context: the attention lists' staging stays small whatever n_ctx
 * (a list per sequence set, at most 1 Mi cells in all, so 32 lists at
 * n_ctx 32768), the arena grows by no more than the lists, and a batch of
 * more sequence sets than that is split into micro-batches that give every
 * sequence the logits it gets alone. */
static void test_long_context(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context_stats s1k, s32k;
    ts_context *ctx = context(m, 1024, 512, 40, NULL);
    ts_context_get_stats(ctx, &s1k);
    ts_context_free(ctx);
    ctx = context(m, 32768, 512, 40, NULL);
    ts_context_get_stats(ctx, &s32k);
    assert_true(s32k.staging_bytes <= (size_t)16 << 20);
    assert_true(s32k.arena_bytes <= s1k.arena_bytes + ((size_t)4 << 20) + 4096);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, 40, 1), TS_OK);
    for (ts_seq_id q = 0; q < 40; q++)
        assert_int_equal(ts_batch_add(&b, IDS[q % 16], 0, &q, 1, true), TS_OK);
    assert_int_equal(ts_decode(ctx, &b), TS_OK);
    ts_context_stats s;
    ts_context_get_stats(ctx, &s);
    assert_int_equal(s.n_graph_compute, 2); /* 40 sequence sets: 32 + 8 */
    for (int32_t i = 0; i < 40; i++) {
        float *want = fresh_logits(m, &IDS[i % 16], 1);
        assert_memory_equal(ts_get_logits(ctx, i), want, N_VOCAB * sizeof *want);
        free(want);
    }
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
}

static void test_context_params(void **state) {
    (void)state;
    ts_model *m = load(MODEL);
    ts_context *ctx = (ts_context *)&ctx; // must be reset to NULL on failure
    ts_context_params p = ts_context_default_params();
    p.struct_size = 4;
    assert_int_equal(ts_context_new(m, &p, &ctx), TS_ERR_INVALID_ARG);
    check_message("struct_size");
    assert_null(ctx);
    p = ts_context_default_params();
    p.type_k = TS_TYPE_Q8_0;
    assert_int_equal(ts_context_new(m, &p, &ctx), TS_ERR_INVALID_ARG);
    check_message("Q8_0");
    p = ts_context_default_params();
    p.n_seq_max = 0;
    assert_int_equal(ts_context_new(m, &p, &ctx), TS_ERR_INVALID_ARG);
    check_message("n_seq_max");
    p = ts_context_default_params();
    p.n_ubatch = 0;
    assert_int_equal(ts_context_new(m, &p, &ctx), TS_ERR_INVALID_ARG);
    check_message("n_ubatch");
    ts_context_free(NULL);
    ts_model_free(NULL);
    ts_model_free(m);
}

/* ========================================================= model loading */

/* How to break a copy of the tiny model. */
typedef struct edit {
    const char *arch;          /* general.architecture, or NULL: unchanged */
    const char *drop_key;      /* metadata key left out */
    const char *drop_tensor;   /* tensor left out */
    const char *swap_tensor;   /* tensor written with ne0 and ne1 swapped */
    const char *retype_tensor; /* tensor written with type `type` (zero bytes) */
    ts_type type;
} edit;

static void copy_kv(ts_gguf_writer *w, const char *key, const ts_gguf_value *v) {
    ts_status st;
    switch (v->type) {
    case TS_GGUF_TYPE_UINT8: st = ts_gguf_writer_set_u8(w, key, v->v.u8); break;
    case TS_GGUF_TYPE_INT8: st = ts_gguf_writer_set_i8(w, key, v->v.i8); break;
    case TS_GGUF_TYPE_UINT16: st = ts_gguf_writer_set_u16(w, key, v->v.u16); break;
    case TS_GGUF_TYPE_INT16: st = ts_gguf_writer_set_i16(w, key, v->v.i16); break;
    case TS_GGUF_TYPE_UINT32: st = ts_gguf_writer_set_u32(w, key, v->v.u32); break;
    case TS_GGUF_TYPE_INT32: st = ts_gguf_writer_set_i32(w, key, v->v.i32); break;
    case TS_GGUF_TYPE_FLOAT32: st = ts_gguf_writer_set_f32(w, key, v->v.f32); break;
    case TS_GGUF_TYPE_BOOL: st = ts_gguf_writer_set_bool(w, key, v->v.b); break;
    case TS_GGUF_TYPE_UINT64: st = ts_gguf_writer_set_u64(w, key, v->v.u64); break;
    case TS_GGUF_TYPE_INT64: st = ts_gguf_writer_set_i64(w, key, v->v.i64); break;
    case TS_GGUF_TYPE_FLOAT64: st = ts_gguf_writer_set_f64(w, key, v->v.f64); break;
    case TS_GGUF_TYPE_STRING: st = ts_gguf_writer_set_strn(w, key, v->v.str); break;
    case TS_GGUF_TYPE_ARRAY:
        st = v->v.arr.elem == TS_GGUF_TYPE_STRING
                 ? ts_gguf_writer_set_arr_str(w, key, v->v.arr.strs, v->v.arr.n)
                 : ts_gguf_writer_set_arr(w, key, v->v.arr.elem, v->v.arr.data, v->v.arr.n);
        break;
    default: fail_msg("metadata type %d", (int)v->type); return;
    }
    assert_int_equal(st, TS_OK);
}

static void copy_tensor(ts_gguf_writer *w, const ts_gguf_tensor_info *t, const edit *e,
                        void **zeros) {
    int64_t ne[TS_MAX_DIMS];
    memcpy(ne, t->ne, sizeof ne);
    ts_type type = t->type;
    const void *data = t->data;
    if (e->swap_tensor && !strcmp(t->name, e->swap_tensor)) {
        ne[0] = t->ne[1];
        ne[1] = t->ne[0];
    }
    if (e->retype_tensor && !strcmp(t->name, e->retype_tensor)) {
        size_t row;
        type = e->type;
        assert_true(ts_type_row_size(type, ne[0], &row));
        *zeros = calloc(row * (size_t)(ne[1] * ne[2] * ne[3]), 1);
        assert_non_null(*zeros);
        data = *zeros;
    }
    assert_int_equal(ts_gguf_writer_add_tensor(w, t->name, type, (int)t->n_dims, ne, data), TS_OK);
}

/* Write a copy of MODEL with edit e applied to `name` in the temp dir. */
static const char *broken_copy(const char *name, const edit *e) {
    ts_gguf *g = NULL;
    assert_int_equal(ts_gguf_open(MODEL, &g), TS_OK);
    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_non_null(w);
    for (int64_t i = 0; i < ts_gguf_n_kv(g); i++) {
        const char *key = ts_gguf_kv_key(g, i);
        if (e->drop_key && !strcmp(key, e->drop_key)) continue;
        if (e->arch && !strcmp(key, "general.architecture"))
            assert_int_equal(ts_gguf_writer_set_str(w, key, e->arch), TS_OK);
        else
            copy_kv(w, key, ts_gguf_kv_value(g, i));
    }
    void *zeros = NULL;
    for (int64_t i = 0; i < ts_gguf_n_tensors(g); i++) {
        const ts_gguf_tensor_info *t = ts_gguf_tensor(g, i);
        if (e->drop_tensor && !strcmp(t->name, e->drop_tensor)) continue;
        copy_tensor(w, t, e, &zeros);
    }
    const char *path = ts_test_path(name);
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf_writer_free(w);
    free(zeros);
    ts_gguf_close(g);
    return path;
}

static void load_fails(const char *path, ts_status st, const char *what) {
    ts_model *m = (ts_model *)&m; // must be reset to NULL
    ts_model_params p = ts_model_default_params();
    ts_status got = ts_model_load(path, &p, &m);
    if (got != st)
        fail_msg("%s: status %s (%s), expected %s", path, ts_status_str(got), ts_last_error(),
                 ts_status_str(st));
    assert_null(m);
    check_message(what);
}

static void test_load_errors(void **state) {
    (void)state;
    load_fails(ts_test_path("no-such-model.gguf"), TS_ERR_IO, "no-such-model.gguf");

    const char *text = ts_test_path("not-a-model.gguf");
    FILE *f = fopen(text, "wb");
    assert_non_null(f);
    fputs("this is a text file, not a GGUF model at all\n", f);
    fclose(f);
    load_fails(text, TS_ERR_FORMAT, "magic");

    // an unmodified copy loads: the copying itself is sound
    ts_model *m = load(broken_copy("copy.gguf", &(edit){0}));
    assert_string_equal(ts_model_arch(m), "llama");
    assert_int_equal(ts_model_n_vocab(m), N_VOCAB);
    assert_int_equal(ts_model_n_layer(m), 2);
    assert_int_equal(ts_model_n_embd(m), 72);
    assert_int_equal(ts_model_n_ctx_train(m), 128);
    ts_model_free(m);

    load_fails(broken_copy("mamba.gguf", &(edit){.arch = "mamba"}), TS_ERR_UNSUPPORTED, "mamba");
    check_message(ts_model_archs()); // lists what is supported
    load_fails(broken_copy("no-arch.gguf", &(edit){.drop_key = "general.architecture"}),
               TS_ERR_FORMAT, "general.architecture");
    load_fails(broken_copy("no-width.gguf", &(edit){.drop_key = "llama.embedding_length"}),
               TS_ERR_NOT_FOUND, "llama.embedding_length");
    load_fails(broken_copy("no-ffn-down.gguf", &(edit){.drop_tensor = "blk.1.ffn_down.weight"}),
               TS_ERR_NOT_FOUND, "blk.1.ffn_down.weight");
    load_fails(broken_copy("no-embd.gguf", &(edit){.drop_tensor = "token_embd.weight"}),
               TS_ERR_NOT_FOUND, "token_embd.weight");
    load_fails(broken_copy("no-output.gguf", &(edit){.drop_tensor = "output_norm.weight"}),
               TS_ERR_NOT_FOUND, "output_norm.weight");
    load_fails(broken_copy("swapped-k.gguf", &(edit){.swap_tensor = "blk.0.attn_k.weight"}),
               TS_ERR_FORMAT, "blk.0.attn_k.weight");
    check_message("shape");
    load_fails(broken_copy("f16-norm.gguf",
                           &(edit){.retype_tensor = "blk.1.ffn_norm.weight", .type = TS_TYPE_F16}),
               TS_ERR_FORMAT, "blk.1.ffn_norm.weight");
    check_message("F16");
    load_fails(broken_copy("i32-q.gguf",
                           &(edit){.retype_tensor = "blk.0.attn_q.weight", .type = TS_TYPE_I32}),
               TS_ERR_UNSUPPORTED, "blk.0.attn_q.weight");
    check_message("I32");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_seq_ops),
        cmocka_unit_test(test_multi_sequence),
        cmocka_unit_test(test_logits_flags),
        cmocka_unit_test(test_micro_batches),
        cmocka_unit_test(test_two_contexts),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_long_context),
        cmocka_unit_test(test_context_params),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
