/*
 * test_multiseq.c — batch invariance across sequences (tessera/engine.h,
 * DESIGN "Determinism"): several sequences decoded together in one context,
 * their tokens interleaved in the same batches, removed, started anew,
 * forked with ts_seq_cp and trimmed with ts_seq_rm, give at every position
 * the bitwise logits of the same sequence decoded alone in a fresh context.
 *
 *   test_multiseq                       the four tiny models of
 *                                       tests/data/llama/tiny, F16 and F32
 *                                       KV, n_ubatch 512 and 3 (label fast)
 *   test_multiseq MODEL IDS IDS IDS     a real model (SmolLM2, run by
 *                                       test_multiseq_smollm2.py, label
 *                                       model): three prompts given as
 *                                       comma-separated ids, then the tiny
 *                                       models' script on the same model;
 *                                       the shared context runs
 *                                       TS_TEST_THREADS threads (default
 *                                       2), the solo runs one
 *
 * Every decode call is checked for its graph count: one graph per micro-
 * batch, ceil(tokens / n_ubatch) of them (so 1 per generation step when
 * n_ubatch holds the step) — the shared context is made with n_seq_max =
 * 64, which lets a micro-batch carry 64 logits rows (src/engine/context.c),
 * more than any batch here asks for, so only n_ubatch splits a batch.
 *
 * Why the equality means something: the cells a sequence occupies in the
 * shared context are not those it occupies alone. Alone, position p sits
 * in cell p (asserted on every solo run). Shared, the interleaved prompt
 * spreads each sequence over every third cell, a later sequence lands in
 * cells another one freed, a forked sequence reads its parent's cells, a
 * trimmed one rewrites positions in new cells. The test reads the cell
 * metadata (engine-impl.h: white-box, this file mirrors src/engine) after
 * every decode and asserts that each track's layout differs from its solo
 * layout — and, for two of them, that a later position sits in a lower
 * cell than an earlier one, so the attention list in cell order would not
 * be in position order. (Today's CPU attention sums in double, which makes
 * the order invisible at these lengths; with float sums, listing cells in
 * cell order instead of (position, cell) fails this test; test_engine
 * does not notice.)
 *
 * Letters: V = vocabulary, P = MAX_POS positions a track may hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"
#include "engine/engine-impl.h"

#ifndef TS_LLAMA_TINY_DIR
#error "TS_LLAMA_TINY_DIR must name tests/data/llama/tiny"
#endif

#define MAX_POS     64 /* positions of one track */
#define MAX_TRACKS  12
#define MAX_BATCH   128 /* tokens of one decode call */
#define SHARED_SEQS TS_MAX_SEQ

/* ============================================================== tracks */

/* A track is one sequence's history in the shared context: the tokens at
 * positions 0..n-1 and the logits seen there after each of them. Trimming a
 * sequence ends its track and starts a new one with the kept prefix, so a
 * track's tokens never change once decoded and one solo run checks it. */
typedef struct track {
    char name[32];
    ts_seq_id seq;    /* its id in the shared context */
    int32_t n_prompt; /* tokens before the first generated one */
    int32_t n;
    ts_token ids[MAX_POS];
    int32_t cell[MAX_POS]; /* the shared context's cell of each position */
    bool seen[MAX_POS];    /* logits recorded at this position */
    float *rows;           /* (P, V) */
    bool live;
} track;

typedef struct shared {
    const ts_model *m;
    int32_t V;
    ts_context *ctx;
    ts_batch b;
    int32_t owner[MAX_BATCH]; /* track of batch token i */
    track t[MAX_TRACKS];
    int n_t;
    bool shift;      /* vary greedy choices by position (random-weight models) */
    char where[256]; /* the configuration, for failure messages */
} shared;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ts_model *load(const char *path) {
    ts_model *m = NULL;
    ts_model_params p = ts_model_default_params();
    if (ts_model_load(path, &p, &m) != TS_OK) fail_msg("load %s: %s", path, ts_last_error());
    return m;
}

static ts_context *context(const ts_model *m, uint32_t n_ctx, uint32_t n_ubatch, uint32_t n_seq_max,
                           ts_type kv, int32_t n_threads) {
    ts_context_params p = ts_context_default_params();
    p.n_ctx = n_ctx;
    p.n_ubatch = n_ubatch;
    p.n_seq_max = n_seq_max;
    p.type_k = p.type_v = kv;
    p.n_threads = n_threads;
    ts_context *ctx = NULL;
    if (ts_context_new(m, &p, &ctx) != TS_OK) fail_msg("context: %s", ts_last_error());
    return ctx;
}

/* The cell holding position p of seq, or -1 (white-box: the metadata). */
static int32_t cell_of(const ts_context *ctx, ts_seq_id seq, ts_pos p) {
    const ts_kv_cells *kv = &ctx->cells;
    for (uint32_t c = 0; c < kv->n; c++)
        if ((kv->seq[c] >> seq & 1) && kv->pos[c] == p) return (int32_t)c;
    return -1;
}

static uint32_t cells_used(const ts_context *ctx) {
    ts_context_stats s;
    ts_context_get_stats(ctx, &s);
    return s.n_cells_used;
}

/* A new track for seq holding the first n_keep positions of track `parent`
 * (-1: none). Returns its index. */
static int track_new(shared *s, const char *name, ts_seq_id seq, int parent, int32_t n_keep) {
    assert_true(s->n_t < MAX_TRACKS);
    track *t = &s->t[s->n_t];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->seq = seq;
    t->live = true;
    t->rows = malloc((size_t)MAX_POS * (size_t)s->V * sizeof *t->rows);
    assert_non_null(t->rows);
    if (parent >= 0) {
        const track *p = &s->t[parent];
        assert_true(n_keep <= p->n);
        t->n = t->n_prompt = n_keep;
        memcpy(t->ids, p->ids, (size_t)n_keep * sizeof *t->ids);
        memcpy(t->cell, p->cell, (size_t)n_keep * sizeof *t->cell);
        memcpy(t->seen, p->seen, (size_t)n_keep * sizeof *t->seen);
        memcpy(t->rows, p->rows, (size_t)n_keep * (size_t)s->V * sizeof *t->rows);
    }
    return s->n_t++;
}

static void tracks_free(shared *s) {
    for (int i = 0; i < s->n_t; i++) free(s->t[i].rows);
    s->n_t = 0;
}

/* Append token tok of track i to the batch, at the track's next position. */
static void put(shared *s, int i, ts_token tok, bool logits) {
    track *t = &s->t[i];
    assert_true(t->live && t->n < MAX_POS);
    s->owner[s->b.n_tokens] = i;
    assert_int_equal(ts_batch_add(&s->b, tok, t->n, &t->seq, 1, logits), TS_OK);
    t->ids[t->n++] = tok;
}

/* The prompts of tracks ix[0..k) in one batch, interleaved: the first
 * token of each, then the second of each... */
static void put_interleaved(shared *s, const int *ix, int k, const ts_token *const *prompts,
                            const int32_t *lens) {
    for (int32_t r = 0;; r++) {
        bool any = false;
        for (int j = 0; j < k; j++)
            if (r < lens[j]) {
                put(s, ix[j], prompts[j][r], true);
                any = true;
            }
        if (!any) break;
    }
    for (int j = 0; j < k; j++) s->t[ix[j]].n_prompt = lens[j];
}

/* Lowest id among the largest logits. */
static ts_token argmax(const float *x, int32_t n) {
    ts_token best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* The next token of track i: greedy on its last logits. With s->shift
 * the argmax is moved by 7 × position: random-weight models tend to repeat
 * one token, and varied input makes a wrong attention list show sooner. */
static ts_token next_token(const shared *s, int i) {
    const track *t = &s->t[i];
    assert_true(t->n > 0 && t->seen[t->n - 1]);
    ts_token tok = argmax(t->rows + (size_t)(t->n - 1) * (size_t)s->V, s->V);
    return s->shift ? (ts_token)((tok + 7 * t->n) % s->V) : tok;
}

/* Decode the batch: one call, ceil(n / n_ubatch) graphs; record the logits
 * and the cells of its tokens. */
static void run_batch(shared *s) {
    const int32_t n = s->b.n_tokens, u = (int32_t)ts_context_n_ubatch(s->ctx);
    ts_context_stats before, after;
    ts_context_get_stats(s->ctx, &before);
    if (ts_decode(s->ctx, &s->b) != TS_OK) fail_msg("%s: decode: %s", s->where, ts_last_error());
    ts_context_get_stats(s->ctx, &after);
    assert_int_equal(after.n_decode - before.n_decode, 1);
    assert_int_equal(after.n_tokens - before.n_tokens, n);
    if (after.n_graph_compute - before.n_graph_compute != (uint64_t)((n + u - 1) / u))
        fail_msg("%s: a batch of %d tokens ran %llu graphs, expected ceil(%d / %d)", s->where, n,
                 (unsigned long long)(after.n_graph_compute - before.n_graph_compute), n, u);
    for (int32_t i = 0; i < n; i++) {
        track *t = &s->t[s->owner[i]];
        const ts_pos p = s->b.pos[i];
        const float *l = ts_get_logits(s->ctx, i);
        if (s->b.logits[i]) {
            assert_non_null(l);
            memcpy(t->rows + (size_t)p * (size_t)s->V, l, (size_t)s->V * sizeof *l);
            t->seen[p] = true;
        } else {
            assert_null(l);
        }
        t->cell[p] = cell_of(s->ctx, t->seq, p);
        assert_true(t->cell[p] >= 0);
    }
}

/* One generation step: one decode call holding one token per live track,
 * in the order given (the order changes the cells, never the logits). */
static void gen_step(shared *s, bool reverse) {
    ts_batch_clear(&s->b);
    for (int k = 0; k < s->n_t; k++) {
        const int i = reverse ? s->n_t - 1 - k : k;
        if (s->t[i].live) put(s, i, next_token(s, i), true);
    }
    run_batch(s);
}

/* Remove track i's sequence from the shared context. */
static void drop(shared *s, int i) {
    track *t = &s->t[i];
    assert_true(ts_seq_rm(s->ctx, t->seq, 0, -1));
    assert_int_equal(ts_seq_pos_max(s->ctx, t->seq), -1);
    t->live = false;
}

/* Trim track i's sequence to positions [0, p): it continues as a new track. */
static int trim(shared *s, int i, ts_pos p, const char *name) {
    assert_true(ts_seq_rm(s->ctx, s->t[i].seq, p, -1));
    assert_int_equal(ts_seq_pos_max(s->ctx, s->t[i].seq), p - 1);
    s->t[i].live = false;
    return track_new(s, name, s->t[i].seq, i, p);
}

/* A new sequence dst sharing positions [0, p) of track src's cells. */
static int fork_track(shared *s, int src, ts_seq_id dst, ts_pos p, const char *name) {
    const uint32_t used = cells_used(s->ctx);
    ts_seq_cp(s->ctx, s->t[src].seq, dst, 0, p);
    assert_int_equal(cells_used(s->ctx), used); // no new cell
    assert_int_equal(ts_seq_pos_max(s->ctx, dst), p - 1);
    const int i = track_new(s, name, dst, src, p);
    for (ts_pos q = 0; q < p; q++) assert_int_equal(cell_of(s->ctx, dst, q), s->t[i].cell[q]);
    return i;
}

/* ====================================================== solo references */

/* The rows (n, V) of track t decoded alone in a fresh single-sequence
 * context (sequence 0): the first `first` tokens in one call, then one
 * token per call. Every row is kept. *moved receives how many positions
 * sit in another cell than in the shared context. */
static float *solo(const shared *s, const track *t, ts_type kv, int32_t first, int32_t *moved) {
    ts_context *ctx = context(s->m, MAX_POS, 512, 1, kv, 1);
    float *rows = malloc((size_t)t->n * (size_t)s->V * sizeof *rows);
    assert_non_null(rows);
    ts_batch b;
    assert_int_equal(ts_batch_init(&b, t->n, 1), TS_OK);
    const ts_seq_id seq = 0;
    for (int32_t i0 = 0, i1; i0 < t->n; i0 = i1) {
        i1 = i0 == 0 && first > 1 ? (first < t->n ? first : t->n) : i0 + 1;
        ts_batch_clear(&b);
        for (int32_t i = i0; i < i1; i++)
            assert_int_equal(ts_batch_add(&b, t->ids[i], i, &seq, 1, true), TS_OK);
        if (ts_decode(ctx, &b) != TS_OK) fail_msg("%s: solo decode: %s", s->where, ts_last_error());
        for (int32_t i = i0; i < i1; i++) {
            const float *l = ts_get_logits(ctx, i - i0);
            assert_non_null(l);
            memcpy(rows + (size_t)i * (size_t)s->V, l, (size_t)s->V * sizeof *l);
        }
    }
    *moved = 0;
    for (ts_pos p = 0; p < t->n; p++) {
        assert_int_equal(cell_of(ctx, seq, p), p); // alone, position p is in cell p
        *moved += t->cell[p] != p;
    }
    ts_batch_free(&b);
    ts_context_free(ctx);
    return rows;
}

/* Bitwise equality of two rows, with the size of the difference when not. */
static void same_row(const shared *s, const float *got, const float *want, const char *what,
                     const track *t, ts_pos p) {
    if (!memcmp(got, want, (size_t)s->V * sizeof *got)) return;
    float d = 0;
    int32_t k = 0;
    for (int32_t j = 0; j < s->V; j++) {
        const float e = got[j] > want[j] ? got[j] - want[j] : want[j] - got[j];
        if (!(e <= d)) d = e, k = j;
    }
    fail_msg("%s: %s, track %s (seq %d) position %d: logits differ, max |d| %g at id %d", s->where,
             what, t->name, t->seq, p, (double)d, k);
}

/* Check every track against its solo runs: token by token and in one call
 * (agreeing bitwise with each other), or only the prompt in one call and
 * then token by token (the real model: half the work). */
static void verify(shared *s, ts_type kv, bool both_modes) {
    for (int i = 0; i < s->n_t; i++) {
        const track *t = &s->t[i];
        int32_t moved, moved2;
        float *ref = solo(s, t, kv, both_modes ? 1 : t->n_prompt, &moved);
        if (both_modes) {
            float *batch = solo(s, t, kv, t->n, &moved2);
            for (ts_pos p = 0; p < t->n; p++)
                same_row(s, batch + (size_t)p * (size_t)s->V, ref + (size_t)p * (size_t)s->V,
                         "solo in one call vs solo token by token", t, p);
            free(batch);
        }
        int32_t n_seen = 0;
        for (ts_pos p = 0; p < t->n; p++) {
            if (!t->seen[p]) continue;
            same_row(s, t->rows + (size_t)p * (size_t)s->V, ref + (size_t)p * (size_t)s->V,
                     "shared context vs solo", t, p);
            n_seen++;
        }
        free(ref);
        assert_true(n_seen > 0);
        // the shared layout is not the solo one (see the file comment)
        if (moved == 0)
            fail_msg("%s: track %s sits in cells 0..%d as alone: the test proves nothing", s->where,
                     t->name, t->n - 1);
    }
}

/* ===================================================== tiny models (fast) */

/* Deterministic prompt ids in [3, V). */
static void prompt(uint32_t seed, int32_t n, int32_t V, ts_token *out) {
    uint32_t x = seed * 2654435761u + 1;
    for (int32_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        out[i] = 3 + (ts_token)((x >> 16) % (uint32_t)(V - 3));
    }
}

/* Sequence ids of the shared context: spread over 0..63 (63: the top bit
 * of the cell's sequence mask). D reuses B's id after B is removed. */
enum { SEQ_F = 0, SEQ_A = 5, SEQ_E = 20, SEQ_B = 37, SEQ_D = 37, SEQ_C = 63 };
#define TINY_N_CTX 96

/* The script, with the cells in use after each phase (the same for every
 * model: they count tokens):
 *  1. prompts A (5), B (13), C (29) interleaved in one call           47
 *  2. four generation steps, one token per sequence                   59
 *  3. a filler sequence F takes every free cell (37 tokens)           96
 *  4. B is removed: its 17 cells, spread over 0..58, are the only
 *     free ones                                                       79
 *  5. one call: A's next token, D's prompt (9, B's old id), C's and
 *     F's next tokens — D can only land in B's old cells, and F's
 *     position 37 lands below its positions 0..36                     91
 *  6. F is removed                                                    53
 *  7. E forks C's first 20 positions (seq_cp, no new cell), then one
 *     call: E's own 4 tokens at 20..23 next to A, C, D's next ones;
 *     E's 20 lands in a cell of B's below C's (E's) 19                60
 *  8. three generation steps with A, C, D, E (2 graphs at n_ubatch 3) 72
 *  9. C is trimmed to 10 positions (10..19 stay: E holds them; 18 own
 *     cells freed), A to 11 (3 freed); one call re-decodes C from 10
 *     and A from 11 with other tokens, next to D and E                60
 * 10. three generation steps                                          72 */
static void tiny_script(shared *s) {
    ts_token pa[5], pb[13], pc[29], pd[9], pf[37];
    prompt(1, 5, s->V, pa);
    prompt(2, 13, s->V, pb);
    prompt(3, 29, s->V, pc);
    prompt(4, 9, s->V, pd);
    prompt(5, 37, s->V, pf);

    // 1.
    int A = track_new(s, "A", SEQ_A, -1, 0), B = track_new(s, "B", SEQ_B, -1, 0);
    int C = track_new(s, "C", SEQ_C, -1, 0);
    ts_batch_clear(&s->b);
    put_interleaved(s, (int[]){A, B, C}, 3, (const ts_token *const[]){pa, pb, pc},
                    (int32_t[]){5, 13, 29});
    run_batch(s);
    assert_int_equal(cells_used(s->ctx), 47);
    assert_int_equal(s->t[B].cell[0], 1); // B is in cells 1, 4, 7, ...
    // 2.
    for (int k = 0; k < 4; k++) gen_step(s, k & 1);
    assert_int_equal(cells_used(s->ctx), 59);
    // 3.
    int F = track_new(s, "F", SEQ_F, -1, 0);
    ts_batch_clear(&s->b);
    for (int32_t i = 0; i < 37; i++) put(s, F, pf[i], i == 36);
    s->t[F].n_prompt = 37;
    run_batch(s);
    assert_int_equal(cells_used(s->ctx), TINY_N_CTX);
    // 4.
    drop(s, B);
    assert_int_equal(cells_used(s->ctx), TINY_N_CTX - 17);
    // 5.
    int D = track_new(s, "D", SEQ_D, -1, 0);
    ts_batch_clear(&s->b);
    put(s, A, next_token(s, A), true);
    for (int32_t i = 0; i < 9; i++) put(s, D, pd[i], true);
    put(s, C, next_token(s, C), true);
    put(s, F, next_token(s, F), true);
    s->t[D].n_prompt = 9;
    run_batch(s);
    assert_int_equal(cells_used(s->ctx), 91);
    // cell order is not position order: the attention lists' (position,
    // cell) sort is what keeps F's reduction order that of its solo run
    assert_true(s->t[F].cell[37] < s->t[F].cell[0]);
    for (ts_pos p = 0; p < 9; p++) {
        bool was_b = false;
        for (ts_pos q = 0; q < s->t[B].n; q++) was_b = was_b || s->t[B].cell[q] == s->t[D].cell[p];
        if (!was_b)
            fail_msg("%s: D's position %d is in cell %d, not one of B's", s->where, p,
                     s->t[D].cell[p]);
    }
    // 6.
    drop(s, F);
    assert_int_equal(cells_used(s->ctx), 53);
    // 7.
    int E = fork_track(s, C, SEQ_E, 20, "E");
    ts_batch_clear(&s->b);
    put(s, D, next_token(s, D), true);
    put(s, E, (ts_token)((s->t[C].ids[20] + 1) % s->V), true); // E diverges from C at 20
    put(s, A, next_token(s, A), true);
    for (int32_t i = 1; i < 4; i++) put(s, E, pd[i], i == 3);
    put(s, C, next_token(s, C), true);
    run_batch(s);
    assert_int_equal(cells_used(s->ctx), 60);
    assert_true(s->t[E].cell[20] < s->t[E].cell[19]);
    // 8.
    for (int k = 0; k < 3; k++) gen_step(s, k & 1);
    assert_int_equal(cells_used(s->ctx), 72);
    // 9.
    assert_int_equal(s->t[C].n, 38);
    assert_int_equal(s->t[A].n, 14);
    const int C2 = trim(s, C, 10, "C after its trim"), A2 = trim(s, A, 11, "A after its trim");
    assert_int_equal(cells_used(s->ctx), 51);
    ts_batch_clear(&s->b);
    for (int32_t i = 0; i < 5; i++) {
        // other tokens than C had: C at 10..19 must not see E's cells there
        put(s, C2, (ts_token)((s->t[C].ids[10 + i] + 1) % s->V), true);
        if (i == 1) put(s, D, next_token(s, D), true);
        if (i < 2) put(s, A2, (ts_token)((s->t[A].ids[11 + i] + 1) % s->V), true);
        if (i == 3) put(s, E, next_token(s, E), true);
    }
    run_batch(s);
    assert_int_equal(cells_used(s->ctx), 60);
    // 10.
    for (int k = 0; k < 3; k++) gen_step(s, k & 1);
    assert_int_equal(cells_used(s->ctx), 72);
}

static const char *const TINY[] = {"gqa-odd-f32", "tied-f16", "gqa4-q8_0", "mqa-q4_0-tied"};

static void test_tiny(void **state) {
    const char *name = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", TS_LLAMA_TINY_DIR, name);
    ts_model *m = load(path);
    const ts_type kvs[2] = {TS_TYPE_F16, TS_TYPE_F32};
    const uint32_t ubs[2] = {512, 3};
    for (int k = 0; k < 2; k++)
        for (int u = 0; u < 2; u++) {
            shared s = {.m = m, .V = ts_model_n_vocab(m), .shift = true};
            snprintf(s.where, sizeof s.where, "%s, KV %s, n_ubatch %u", name, ts_type_name(kvs[k]),
                     ubs[u]);
            s.ctx = context(m, TINY_N_CTX, ubs[u], SHARED_SEQS, kvs[k], 1);
            assert_int_equal(ts_batch_init(&s.b, MAX_BATCH, 1), TS_OK);
            tiny_script(&s);
            verify(&s, kvs[k], true);
            ts_batch_free(&s.b);
            ts_context_free(s.ctx);
            tracks_free(&s);
        }
    ts_model_free(m);
}

/* =================================================== a real model (model) */

static const char *g_model;
static int32_t g_threads = 2; /* of the shared context (env TS_TEST_THREADS); solo runs use 1 */
static ts_token g_prompts[3][MAX_POS];
static int32_t g_lens[3];
#define REAL_STEPS      16
#define REAL_DROP_AFTER 8 /* the second sequence leaves after this step */

/* Three prompts interleaved in one call (micro-batches of 16), then
 * REAL_STEPS greedy steps, one call each; the second sequence is removed
 * after step REAL_DROP_AFTER. Checked against each prompt alone: prompt in
 * one call, then one token per call, as a user's generation runs. */
static void test_real(void **state) {
    (void)state;
    ts_model *m = load(g_model);
    shared s = {.m = m, .V = ts_model_n_vocab(m)};
    snprintf(s.where, sizeof s.where, "%s, KV F16, n_ubatch 16", g_model);
    s.ctx = context(m, 128, 16, SHARED_SEQS, TS_TYPE_F16, g_threads);
    assert_int_equal(ts_batch_init(&s.b, MAX_BATCH, 1), TS_OK);
    const double t0 = now_seconds();
    const int ix[3] = {track_new(&s, "first prompt", 3, -1, 0),
                       track_new(&s, "second prompt", 40, -1, 0),
                       track_new(&s, "third prompt", 63, -1, 0)};
    ts_batch_clear(&s.b);
    put_interleaved(&s, ix, 3, (const ts_token *const[]){g_prompts[0], g_prompts[1], g_prompts[2]},
                    g_lens);
    run_batch(&s);
    for (int k = 0; k < REAL_STEPS; k++) {
        gen_step(&s, k & 1);
        if (k + 1 == REAL_DROP_AFTER) drop(&s, ix[1]);
    }
    const double t1 = now_seconds();
    verify(&s, TS_TYPE_F16, false);
    const double t2 = now_seconds();
    print_message("shared run %.1f s, solo runs %.1f s (wall)\n", t1 - t0, t2 - t1);
    for (int i = 0; i < 3; i++) {
        print_message("%s (seq %d): %d positions, %s;", s.t[i].name, s.t[i].seq, s.t[i].n,
                      s.t[i].live ? "live" : "removed");
        for (int32_t p = s.t[i].n_prompt; p < s.t[i].n; p++) printf(" %d", s.t[i].ids[p]);
        printf("\n");
    }
    ts_batch_free(&s.b);
    ts_context_free(s.ctx);
    tracks_free(&s);
    ts_model_free(m);
}

/* The tiny models' script (cell reuse, fork, trims) on the real model:
 * F16 KV, micro-batches of 3, checked against prompt-then-tokens solo
 * runs. */
static void test_real_script(void **state) {
    (void)state;
    ts_model *m = load(g_model);
    shared s = {.m = m, .V = ts_model_n_vocab(m), .shift = true};
    snprintf(s.where, sizeof s.where, "%s script, KV F16, n_ubatch 3", g_model);
    s.ctx = context(m, TINY_N_CTX, 3, SHARED_SEQS, TS_TYPE_F16, g_threads);
    assert_int_equal(ts_batch_init(&s.b, MAX_BATCH, 1), TS_OK);
    const double t0 = now_seconds();
    tiny_script(&s);
    const double t1 = now_seconds();
    verify(&s, TS_TYPE_F16, false);
    print_message("script: shared run %.1f s, solo runs %.1f s (wall)\n", t1 - t0,
                  now_seconds() - t1);
    ts_batch_free(&s.b);
    ts_context_free(s.ctx);
    tracks_free(&s);
    ts_model_free(m);
}

/* "1,2,3" into out; returns the count, or -1. */
static int32_t parse_ids(const char *arg, ts_token *out) {
    int32_t n = 0;
    for (const char *p = arg; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || n == MAX_POS / 2) return -1;
        out[n++] = (ts_token)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n > 0 ? n : -1;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (argc != 5) {
            fprintf(stderr, "usage: test_multiseq [MODEL IDS IDS IDS]  (IDS: 1,2,3)\n");
            return 2;
        }
        g_model = argv[1];
        const char *threads = getenv("TS_TEST_THREADS");
        if (threads && *threads) g_threads = atoi(threads);
        for (int i = 0; i < 3; i++)
            if ((g_lens[i] = parse_ids(argv[2 + i], g_prompts[i])) < 0) {
                fprintf(stderr, "test_multiseq: bad ids (at most %d): %s\n", MAX_POS / 2,
                        argv[2 + i]);
                return 2;
            }
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_real),
                                           cmocka_unit_test(test_real_script)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        {.name = "gqa-odd-f32", .test_func = test_tiny, .initial_state = (void *)TINY[0]},
        {.name = "tied-f16", .test_func = test_tiny, .initial_state = (void *)TINY[1]},
        {.name = "gqa4-q8_0", .test_func = test_tiny, .initial_state = (void *)TINY[2]},
        {.name = "mqa-q4_0-tied", .test_func = test_tiny, .initial_state = (void *)TINY[3]},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
