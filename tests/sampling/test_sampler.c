/*
 * test_sampler.c — the sampler chain (tessera/sampling.h) against
 * hand-computed expectations: greedy = argmax, each filter's kept set,
 * empirical distributions against the softmax (chi-square), llama.cpp's
 * penalty formula (through greedy picks built to flip), the history window,
 * the random stream and the draw bit for bit (a reference splitmix64 +
 * xoshiro256** written here, inverse CDF with libm's exp), a golden
 * sequence, seeds, reset and parameter validation.
 *
 * Every test is deterministic (fixed seeds), so the statistical bounds are
 * checked once, not flakily; they are chosen so that a wrong softmax or a
 * forgotten temperature fails by orders of magnitude.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/sampling.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */

/* Defaults with every filter and penalty off, temperature 1. */
static ts_sampler_params plain(void) {
    ts_sampler_params p = ts_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static ts_sampler *make(const ts_sampler_params *p, int32_t n_vocab) {
    ts_sampler *s = NULL;
    assert_int_equal(ts_sampler_new(p, n_vocab, &s), TS_OK);
    assert_non_null(s);
    return s;
}

/* counts[t] = how often t was drawn in `draws` samples (nothing accepted). */
static void histogram(ts_sampler *s, const float *logits, int32_t n_vocab, int draws, int *counts) {
    memset(counts, 0, (size_t)n_vocab * sizeof *counts);
    for (int i = 0; i < draws; i++) {
        ts_token t = ts_sampler_sample(s, logits);
        assert_true(t >= 0 && t < n_vocab);
        counts[t]++;
    }
}

/* Pearson's chi-square of observed counts against probabilities p. */
static double chi_square(const int *counts, const double *p, int n, int draws) {
    double x2 = 0.0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * draws;
        x2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    return x2;
}

/* softmax(logits / t) into p (libm, double). */
static void softmax(const float *logits, int n, double t, double *p) {
    double max = logits[0], z = 0.0;
    for (int i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    for (int i = 0; i < n; i++) z += p[i] = exp((logits[i] - max) / t);
    for (int i = 0; i < n; i++) p[i] /= z;
}

/* A small LCG for test data (not the sampler's generator). */
static uint32_t lcg(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

/* -------------------------------------------------------------- greedy */

static void test_defaults(void **state) {
    (void)state;
    ts_sampler_params p = ts_sampler_default_params();
    assert_int_equal(p.struct_size, sizeof(ts_sampler_params));
    assert_true(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    assert_true(p.repeat_penalty == 1.0f && p.presence_penalty == 0.0f &&
                p.frequency_penalty == 0.0f);
    assert_int_equal(p.penalty_last_n, 64);
    assert_true(p.seed == 0x5eed);
    ts_sampler_free(make(&p, 1));
    ts_sampler_free(NULL);
}

static ts_token greedy_pick(const float *logits, int32_t n) {
    ts_sampler_params p = ts_sampler_default_params();
    p.temperature = 0.0f;
    ts_sampler *s = make(&p, n);
    ts_token t = ts_sampler_sample(s, logits);
    ts_sampler_free(s);
    return t;
}

static void test_greedy_argmax(void **state) {
    (void)state;
    enum { V = 1000 };
    float logits[V], copy[V];
    uint32_t x = 7;
    for (int round = 0; round < 20; round++) {
        int arg = 0;
        for (int i = 0; i < V; i++) {
            logits[i] = (float)(lcg(&x) % 20000) / 1000.0f - 10.0f;
            if (logits[i] > logits[arg]) arg = i;
        }
        memcpy(copy, logits, sizeof logits);
        assert_int_equal(greedy_pick(logits, V), arg);
        assert_memory_equal(copy, logits, sizeof logits); /* input untouched */
    }
    /* ties: the lowest id */
    assert_int_equal(greedy_pick((float[]){1, 3, 3, 2}, 4), 1);
    assert_int_equal(greedy_pick((float[]){5, 5}, 2), 0);
    assert_int_equal(greedy_pick((float[]){-INFINITY, -INFINITY, -INFINITY}, 3), 0);
    /* NaN is −inf; all NaN gives token 0 */
    assert_int_equal(greedy_pick((float[]){NAN, 1, NAN, 2, NAN}, 5), 3);
    assert_int_equal(greedy_pick((float[]){NAN, -INFINITY, -5}, 3), 2);
    assert_int_equal(greedy_pick((float[]){NAN, NAN, NAN}, 3), 0);
    assert_int_equal(greedy_pick((float[]){0, INFINITY, INFINITY}, 3), 1);

    /* a negative temperature is greedy too, and the seed is irrelevant */
    ts_sampler_params p = plain();
    p.temperature = -1.0f;
    p.seed = 1;
    ts_sampler *a = make(&p, 4);
    p.seed = 2;
    ts_sampler *b = make(&p, 4);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(ts_sampler_sample(a, (float[]){0, 2, 1, 2}), 1);
        assert_int_equal(ts_sampler_sample(b, (float[]){0, 2, 1, 2}), 1);
    }
    ts_sampler_free(a);
    ts_sampler_free(b);
}

/* ------------------------------------------------------------- filters */

static void test_top_k(void **state) {
    (void)state;
    enum { V = 10, DRAWS = 10000 };
    const float logits[V] = {0.5f, 2.0f, 1.0f, 1.9f, -1.0f, 0.0f, 1.5f, 1.8f, -3.0f, 0.2f};
    int counts[V];
    ts_sampler_params p = plain();
    p.top_k = 2;
    ts_sampler *s = make(&p, V);
    histogram(s, logits, V, DRAWS, counts);
    assert_int_equal(counts[1] + counts[3], DRAWS); /* the two highest only */
    /* renormalized over the two: e^2 / (e^2 + e^1.9) = 0.525 */
    double p1 = 1.0 / (1.0 + exp(-0.1));
    assert_true(fabs(counts[1] / (double)DRAWS - p1) < 0.02);
    ts_sampler_free(s);

    /* a tie at the boundary keeps the lower ids */
    p.top_k = 2;
    s = make(&p, 5);
    histogram(s, (float[]){1, 3, 3, 3, 0}, 5, 2000, counts);
    assert_int_equal(counts[1] + counts[2], 2000);
    assert_true(counts[1] > 0 && counts[2] > 0);
    ts_sampler_free(s);

    /* top_k = 1 is greedy; top_k >= n_vocab is off */
    p.top_k = 1;
    s = make(&p, V);
    for (int i = 0; i < 100; i++) assert_int_equal(ts_sampler_sample(s, logits), 1);
    ts_sampler_free(s);
    p.top_k = 100;
    s = make(&p, V);
    histogram(s, (float[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, V, 2000, counts);
    for (int i = 0; i < V; i++) assert_true(counts[i] > 100);
    ts_sampler_free(s);
}

/* Draw and check that exactly the tokens in `keep` appear. */
static void assert_kept_set(const ts_sampler_params *p, const float *logits, int32_t n,
                            const bool *keep, int draws) {
    int *counts = malloc((size_t)n * sizeof *counts);
    ts_sampler *s = make(p, n);
    histogram(s, logits, n, draws, counts);
    for (int32_t i = 0; i < n; i++) {
        if (keep[i])
            assert_true(counts[i] > 0);
        else
            assert_int_equal(counts[i], 0);
    }
    ts_sampler_free(s);
    free(counts);
}

/* Ties at the top-k boundary go to the lowest ids, through the heap (k
 * small against the vocabulary) and through the radix sort (k large) alike;
 * −0 and +0 are one value there. */
static void test_top_k_ties(void **state) {
    (void)state;
    enum { V = 1000 };
    static float logits[V];
    static bool keep[V];
    for (int i = 0; i < V; i++) logits[i] = i % 2 ? -0.0f : 0.0f;
    logits[700] = -1.0f;
    ts_sampler_params p = plain();
    const int ks[] = {50, 600};
    for (int j = 0; j < 2; j++) {
        p.top_k = ks[j];
        for (int i = 0; i < V; i++) keep[i] = i < ks[j];
        assert_kept_set(&p, logits, V, keep, 40 * ks[j]);
    }
    /* logits rising with the id: the heap's worst case */
    for (int i = 0; i < V; i++) {
        logits[i] = (float)i * 0.001f;
        keep[i] = i >= V - 30;
    }
    p.top_k = 30;
    p.temperature = 1000.0f;
    assert_kept_set(&p, logits, V, keep, 3000);
}

static void test_top_p(void **state) {
    (void)state;
    /* probabilities 0.5, 0.3, 0.15, 0.05 at ids 2, 0, 3, 1 (unsorted ids) */
    const float logits[4] = {logf(0.3f), logf(0.05f), logf(0.5f), logf(0.15f)};
    ts_sampler_params p = plain();
    p.top_p = 0.75f; /* 0.5 < 0.75 <= 0.8 */
    assert_kept_set(&p, logits, 4, (bool[]){1, 0, 1, 0}, 5000);
    p.top_p = 0.85f; /* 0.8 < 0.85 <= 0.95 */
    assert_kept_set(&p, logits, 4, (bool[]){1, 0, 1, 1}, 5000);
    p.top_p = 0.99f;
    assert_kept_set(&p, logits, 4, (bool[]){1, 1, 1, 1}, 5000);
    p.top_p = 1e-6f; /* at least one */
    assert_kept_set(&p, logits, 4, (bool[]){0, 0, 1, 0}, 1000);
    /* the softmax is over the candidates top-k left: without it 0.82 keeps
     * three (0.8 < 0.82), after top-k = 3 two ((0.5 + 0.3) / 0.95 = 0.842) */
    p.top_p = 0.82f;
    assert_kept_set(&p, logits, 4, (bool[]){1, 0, 1, 1}, 5000);
    p.top_k = 3;
    assert_kept_set(&p, logits, 4, (bool[]){1, 0, 1, 0}, 5000);

    /* the kept mass is renormalized: 0.5/0.8 and 0.3/0.8 */
    int counts[4];
    p = plain();
    p.top_p = 0.75f;
    ts_sampler *s = make(&p, 4);
    histogram(s, logits, 4, 20000, counts);
    assert_true(fabs(counts[2] / 20000.0 - 0.625) < 0.015);
    ts_sampler_free(s);
}

/* Top-p over a vocabulary large enough that the kept set (400 of 3000)
 * exceeds the first partial selection, with top-k off; the boundary is put
 * halfway between two cumulative sums. A high temperature (applied after
 * the filters) flattens the kept set so that every member shows up. */
enum { LARGE_V = 3000, LARGE_KEEP = 400 };

/* top_p halfway between the mass of the best LARGE_KEEP − 1 and LARGE_KEEP
 * of n_cand candidates (logit = −0.002 · rank): the smallest prefix reaching
 * it has LARGE_KEEP candidates. */
static float large_top_p(int n_cand) {
    double z = 0.0, cum = 0.0;
    for (int r = 0; r < n_cand; r++) z += exp(-0.002 * r);
    for (int r = 0; r < LARGE_KEEP - 1; r++) cum += exp(-0.002 * r);
    return (float)((cum + 0.5 * exp(-0.002 * (LARGE_KEEP - 1))) / z);
}

static void test_top_p_large(void **state) {
    (void)state;
    static float logits[LARGE_V];
    static bool keep[LARGE_V];
    /* ranks 0..V-1 scattered over the ids (1237 is prime to 3000) */
    for (int i = 0; i < LARGE_V; i++) {
        int rank = (int)(((int64_t)i * 1237) % LARGE_V);
        logits[i] = -0.002f * (float)rank;
        keep[i] = rank < LARGE_KEEP;
    }
    ts_sampler_params p = plain();
    p.temperature = 1000.0f;
    p.top_p = large_top_p(LARGE_V);
    assert_kept_set(&p, logits, LARGE_V, keep, 8000);
    /* through top-k's sorted path: the mass is over the 2500 kept */
    p.top_k = 2500;
    p.top_p = large_top_p(2500);
    assert_kept_set(&p, logits, LARGE_V, keep, 8000);

    /* equal logits: ties kept by lowest id, 0.5 * 1000 = 500 exactly */
    enum { V = 1000 };
    for (int i = 0; i < V; i++) {
        logits[i] = 0.0f;
        keep[i] = i < V / 2;
    }
    p = plain();
    p.top_p = 0.5f;
    assert_kept_set(&p, logits, V, keep, 15000);
}

static void test_min_p(void **state) {
    (void)state;
    /* probabilities 0.4, 0.3, 0.2, 0.06, 0.04 at ids 3, 0, 4, 1, 2 */
    const float logits[5] = {logf(0.3f), logf(0.06f), logf(0.04f), logf(0.4f), logf(0.2f)};
    ts_sampler_params p = plain();
    p.min_p = 0.125f; /* threshold 0.05: 0.06 stays, 0.04 goes */
    assert_kept_set(&p, logits, 5, (bool[]){1, 1, 0, 1, 1}, 5000);
    p.min_p = 0.6f; /* threshold 0.24 */
    assert_kept_set(&p, logits, 5, (bool[]){1, 0, 0, 1, 0}, 5000);
    p.min_p = 1.0f; /* only p_max */
    assert_kept_set(&p, logits, 5, (bool[]){0, 0, 0, 1, 0}, 1000);
    p.min_p = 0.0f; /* off */
    assert_kept_set(&p, logits, 5, (bool[]){1, 1, 1, 1, 1}, 5000);
    /* after top-p (0.4, 0.3, 0.2 stay), p_max is unchanged: same threshold */
    p.top_p = 0.85f;
    p.min_p = 0.6f;
    assert_kept_set(&p, logits, 5, (bool[]){1, 0, 0, 1, 0}, 5000);
    /* min-p sees the logits before the temperature: T = 0.5 does not
     * change the set (0.3/0.4 = 0.75 >= 0.6; squared it would be 0.56) */
    p.temperature = 0.5f;
    assert_kept_set(&p, logits, 5, (bool[]){1, 0, 0, 1, 0}, 5000);
}

/* NaN never drawn; +inf takes all the mass; all NaN gives token 0. */
static void test_non_finite(void **state) {
    (void)state;
    ts_sampler_params p = plain();
    assert_kept_set(&p, (float[]){NAN, 0, NAN, 0}, 4, (bool[]){0, 1, 0, 1}, 2000);
    assert_kept_set(&p, (float[]){0, INFINITY, 5, INFINITY}, 4, (bool[]){0, 1, 0, 1}, 2000);
    assert_kept_set(&p, (float[]){NAN, NAN, NAN}, 3, (bool[]){1, 0, 0}, 100);
    assert_kept_set(&p, (float[]){-INFINITY, -INFINITY}, 2, (bool[]){1, 0}, 100);
    p = ts_sampler_default_params();
    assert_kept_set(&p, (float[]){NAN, -INFINITY, 1, NAN, 1}, 5, (bool[]){0, 0, 1, 0, 1}, 2000);
}

/* -------------------------------------------------------- distributions */

static void test_distribution(void **state) {
    (void)state;
    enum { V = 8, DRAWS = 200000 };
    const float logits[V] = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f, 0.25f, -2.0f};
    double p1[V], p_half[V], p2[V];
    int counts[V];
    softmax(logits, V, 1.0, p1);
    softmax(logits, V, 0.5, p_half); /* = p^2 renormalized */
    softmax(logits, V, 2.0, p2);

    /* chi-square, 7 degrees of freedom: P(X2 > 30) ≈ 1e-4 */
    ts_sampler_params p = plain();
    ts_sampler *s = make(&p, V);
    histogram(s, logits, V, DRAWS, counts);
    assert_true(chi_square(counts, p1, V, DRAWS) < 30.0);
    ts_sampler_free(s);

    p.temperature = 0.5f;
    s = make(&p, V);
    histogram(s, logits, V, DRAWS, counts);
    assert_true(chi_square(counts, p_half, V, DRAWS) < 30.0);
    assert_true(chi_square(counts, p1, V, DRAWS) > 1000.0); /* sharper than T = 1 */
    double sq = 0.0;
    for (int i = 0; i < V; i++) sq += p1[i] * p1[i];
    assert_true(fabs(counts[5] / (double)DRAWS - p1[5] * p1[5] / sq) < 0.005);
    ts_sampler_free(s);

    p.temperature = 2.0f;
    s = make(&p, V);
    histogram(s, logits, V, DRAWS, counts);
    assert_true(chi_square(counts, p2, V, DRAWS) < 30.0);
    ts_sampler_free(s);
}

/* ----------------------------------------------------------- penalties */

/* Greedy pick for logits after accepting `hist`. */
static ts_token penalized_pick(ts_sampler_params p, const float *logits, int32_t n,
                               const ts_token *hist, int n_hist) {
    p.temperature = 0.0f;
    ts_sampler *s = make(&p, n);
    for (int i = 0; i < n_hist; i++) ts_sampler_accept(s, hist[i]);
    ts_token t = ts_sampler_sample(s, logits);
    ts_sampler_free(s);
    return t;
}

static void test_penalties(void **state) {
    (void)state;
    ts_sampler_params p = plain();
    const ts_token once[] = {0}, thrice[] = {0, 0, 0}, twice[] = {0, 0};

    /* repeat, positive logit: 2.0 / 1.1 = 1.818 */
    p.repeat_penalty = 1.1f;
    assert_int_equal(penalized_pick(p, (float[]){2.0f, 1.81f}, 2, once, 1), 0);
    assert_int_equal(penalized_pick(p, (float[]){2.0f, 1.83f}, 2, once, 1), 1);
    /* repeat, negative logit: multiplied, −1.0 · 1.1 = −1.1 (dividing would
     * give −0.909 and keep token 0 on top) */
    assert_int_equal(penalized_pick(p, (float[]){-1.0f, -1.09f}, 2, once, 1), 1);
    assert_int_equal(penalized_pick(p, (float[]){-1.0f, -1.11f}, 2, once, 1), 0);
    /* unseen tokens untouched */
    assert_int_equal(penalized_pick(p, (float[]){1.0f, 2.0f}, 2, once, 1), 1);
    p.repeat_penalty = 1.0f;

    /* frequency: 1.0 − c · 0.1 */
    p.frequency_penalty = 0.1f;
    assert_int_equal(penalized_pick(p, (float[]){1.0f, 0.75f}, 2, thrice, 3), 1); /* 0.7 */
    assert_int_equal(penalized_pick(p, (float[]){1.0f, 0.75f}, 2, twice, 2), 0);  /* 0.8 */
    p.frequency_penalty = 0.0f;

    /* presence: once, whatever the count */
    p.presence_penalty = 0.2f;
    assert_int_equal(penalized_pick(p, (float[]){1.0f, 0.75f}, 2, thrice, 3), 0); /* 0.8 */
    assert_int_equal(penalized_pick(p, (float[]){1.0f, 0.85f}, 2, thrice, 3), 1);

    /* all three, in llama.cpp's order: 2.0 / 2 − (2 · 0.1 + 0.05) = 0.75
     * (subtracting first would give 0.875) */
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.05f;
    assert_int_equal(penalized_pick(p, (float[]){2.0f, 0.74f}, 2, twice, 2), 0);
    assert_int_equal(penalized_pick(p, (float[]){2.0f, 0.76f}, 2, twice, 2), 1);
    /* negative logit: −0.5 · 2 − 0.25 = −1.25 */
    assert_int_equal(penalized_pick(p, (float[]){-0.5f, -1.24f}, 2, twice, 2), 1);
    assert_int_equal(penalized_pick(p, (float[]){-0.5f, -1.26f}, 2, twice, 2), 0);
    /* a penalty can favour a token too (negative frequency): 0.5 + 0.6 */
    p = plain();
    p.frequency_penalty = -0.2f;
    assert_int_equal(penalized_pick(p, (float[]){0.5f, 1.0f}, 2, thrice, 3), 0);

    /* a penalty that overflows to inf on an inf logit gives −inf, not NaN */
    p = plain();
    p.presence_penalty = 3e38f;
    p.frequency_penalty = 3e38f;
    assert_int_equal(penalized_pick(p, (float[]){INFINITY, 0.0f}, 2, twice, 2), 1);

    /* penalties apply in sampling mode too: with T > 0 a heavily penalized
     * token is never drawn */
    p = plain();
    p.presence_penalty = 100.0f;
    ts_sampler *s = make(&p, 3);
    ts_sampler_accept(s, 1);
    int counts[3];
    histogram(s, (float[]){0, 0, 0}, 3, 2000, counts);
    assert_int_equal(counts[1], 0);
    assert_true(counts[0] > 0 && counts[2] > 0);
    ts_sampler_free(s);
}

static void test_history_window(void **state) {
    (void)state;
    const float logits[4] = {1.0f, 0.9f, 0.8f, 0.7f};
    ts_sampler_params p = plain();
    p.temperature = 0.0f;
    p.presence_penalty = 10.0f;
    p.penalty_last_n = 3;
    ts_sampler *s = make(&p, 4);
    assert_int_equal(ts_sampler_sample(s, logits), 0);
    ts_sampler_accept(s, 0); /* {0} */
    assert_int_equal(ts_sampler_sample(s, logits), 1);
    ts_sampler_accept(s, 1); /* {0, 1} */
    assert_int_equal(ts_sampler_sample(s, logits), 2);
    ts_sampler_accept(s, 2); /* {0, 1, 2} */
    assert_int_equal(ts_sampler_sample(s, logits), 3);
    ts_sampler_accept(s, 3); /* {1, 2, 3}: 0 slid out */
    assert_int_equal(ts_sampler_sample(s, logits), 0);
    ts_sampler_accept(s, -1); /* out of range: ignored */
    ts_sampler_accept(s, 4);
    assert_int_equal(ts_sampler_sample(s, logits), 0);
    ts_sampler_free(s);

    /* counts slide with the window: frequency 0.1, window 3 */
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.1f;
    const float two[2] = {1.0f, 0.75f};
    s = make(&p, 2);
    ts_sampler_accept(s, 0);
    ts_sampler_accept(s, 0);
    ts_sampler_accept(s, 0); /* {0, 0, 0}: 0.7 */
    assert_int_equal(ts_sampler_sample(s, two), 1);
    ts_sampler_accept(s, 1); /* {0, 0, 1}: 0.8 vs 0.65 */
    assert_int_equal(ts_sampler_sample(s, two), 0);
    ts_sampler_accept(s, 0); /* {0, 1, 0}: still 0.8 */
    assert_int_equal(ts_sampler_sample(s, two), 0);
    ts_sampler_accept(s, 0); /* {1, 0, 0} */
    ts_sampler_accept(s, 0); /* {0, 0, 0}: 0.7 vs 0.75 */
    assert_int_equal(ts_sampler_sample(s, two), 1);
    ts_sampler_free(s);

    /* penalty_last_n = 0: no penalties at all */
    p.penalty_last_n = 0;
    p.presence_penalty = 10.0f;
    s = make(&p, 2);
    ts_sampler_accept(s, 0);
    assert_int_equal(ts_sampler_sample(s, two), 0);
    ts_sampler_free(s);
}

/* ------------------------------------------------------ the random stream */


static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ref_xoshiro(uint64_t s[4]) {
    uint64_t r = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return r;
}

/* With 1024 equal logits the draw is floor(u · 1024) = x >> 54 exactly, so
 * the token stream shows the generator bit for bit. */
static void test_stream_reference(void **state) {
    (void)state;
    uint64_t x = 0;
    assert_true(ts_test_rng_next(&x) == 0xe220a8397b1dcdafull); /* published first output */

    enum { V = 1024 };
    static float flat[V];
    ts_sampler_params p = plain();
    p.seed = 12345;
    ts_sampler *s = make(&p, V);
    uint64_t st[4], sd = p.seed;
    for (int i = 0; i < 4; i++) st[i] = ts_test_rng_next(&sd);
    for (int i = 0; i < 1000; i++) {
        ts_token want = (ts_token)(ref_xoshiro(st) >> 54);
        assert_int_equal(ts_sampler_sample(s, flat), want);
    }
    ts_sampler_free(s);
}

/* The draw is the inverse CDF of the softmax at the stream's uniforms: the
 * first token whose running sum of exp((l − max) / T) exceeds u · z. The
 * expected tokens come from the reference generator and libm's exp; the
 * sampler's own exp agrees to ~1e-16, so a mismatch means a wrong draw
 * (or an inaccurate exp), not rounding. */
static void test_draw_inverse_cdf(void **state) {
    (void)state;
    enum { V = 8, DRAWS = 100000 };
    const float logits[V] = {0.3f, -1.2f, 2.5f, 0.0f, 1.7f, -0.4f, 2.5f, 0.9f};
    const double t = (double)0.7f; /* the sampler divides by the float, widened */
    double w[V], z = 0.0;
    for (int i = 0; i < V; i++) z += w[i] = logits[i] == 2.5f ? 1.0 : exp((logits[i] - 2.5) / t);
    ts_sampler_params p = plain();
    p.temperature = (float)t;
    p.seed = 777;
    ts_sampler *s = make(&p, V);
    uint64_t st[4], sd = p.seed;
    for (int i = 0; i < 4; i++) st[i] = ts_test_rng_next(&sd);
    for (int n = 0; n < DRAWS; n++) {
        const double target = (double)(ref_xoshiro(st) >> 11) * 0x1.0p-53 * z;
        double cum = 0.0;
        int want = V - 1;
        for (int i = 0; i < V; i++) {
            cum += w[i];
            if (cum > target) {
                want = i;
                break;
            }
        }
        assert_int_equal(ts_sampler_sample(s, logits), want);
    }
    ts_sampler_free(s);
}

/* A fixed sequence with the default chain over a 32k vocabulary: guards the
 * whole draw (selection order, deterministic exp, cumulative pick) against
 * drifting between builds and platforms. */
static void test_golden_sequence(void **state) {
    (void)state;
    enum { V = 32000, N = 24 };
    static float logits[V];
    static const ts_token golden[N] = {
        3793,  11845, 13837, 22041, 30840, 17949, 10205, 8905,  12920, 17049, 28644, 25147,
        20909, 30923, 13634, 25116, 9947,  5605,  25201, 21776, 2389,  18065, 6421,  16747,
    };
    ts_sampler_params p = ts_sampler_default_params();
    p.repeat_penalty = 1.1f;
    ts_sampler *s = make(&p, V);
    uint32_t x = 2024;
    ts_token got[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < V; j++) logits[j] = (float)(lcg(&x) % 100000) / 10000.0f;
        got[i] = ts_sampler_sample(s, logits);
        ts_sampler_accept(s, got[i]);
    }
    for (int i = 0; i < N; i++) assert_int_equal(got[i], golden[i]);
    ts_sampler_free(s);
}

static void run_sequence(ts_sampler *s, const float *logits, int n, ts_token *out) {
    for (int i = 0; i < n; i++) {
        out[i] = ts_sampler_sample(s, logits);
        ts_sampler_accept(s, out[i]);
    }
}

static void test_seed_and_reset(void **state) {
    (void)state;
    enum { V = 64, N = 300 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)(i % 7) * 0.3f;
    ts_sampler_params p = ts_sampler_default_params();
    p.frequency_penalty = 0.05f;
    ts_token a[N], b[N], c[N], d[N];

    p.seed = 42;
    ts_sampler *sa = make(&p, V), *sb = make(&p, V);
    p.seed = 43;
    ts_sampler *sc = make(&p, V);
    run_sequence(sa, logits, N, a);
    run_sequence(sb, logits, N, b);
    run_sequence(sc, logits, N, c);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);

    /* reset restarts the stream and forgets the history */
    ts_sampler_reset(sa);
    run_sequence(sa, logits, N, d);
    assert_memory_equal(a, d, sizeof a);

    ts_sampler_free(sa);
    ts_sampler_free(sb);
    ts_sampler_free(sc);

    ts_sampler_params g = plain();
    g.temperature = 0.0f;
    g.presence_penalty = 10.0f;
    ts_sampler *s = make(&g, 2);
    ts_sampler_accept(s, 0);
    assert_int_equal(ts_sampler_sample(s, (float[]){1, 0}), 1);
    ts_sampler_reset(s);
    assert_int_equal(ts_sampler_sample(s, (float[]){1, 0}), 0);
    ts_sampler_free(s);
}

/* ------------------------------------------------------------- params */

static void expect_invalid(const ts_sampler_params *p, int32_t n_vocab, const char *field) {
    ts_sampler *s = (ts_sampler *)(uintptr_t)1;
    assert_int_equal(ts_sampler_new(p, n_vocab, &s), TS_ERR_INVALID_ARG);
    assert_null(s);
    if (!strstr(ts_last_error(), field))
        fail_msg("message '%s' does not name '%s'", ts_last_error(), field);
}

static void test_invalid_params(void **state) {
    (void)state;
    const ts_sampler_params ok = ts_sampler_default_params();
    ts_sampler_params p;
    ts_sampler *s = NULL;

    expect_invalid(NULL, 10, "params");
    assert_int_equal(ts_sampler_new(&ok, 10, NULL), TS_ERR_INVALID_ARG);
    expect_invalid(&ok, 0, "n_vocab");
    expect_invalid(&ok, -5, "n_vocab");

#define BAD(field, value)                                                                          \
    do {                                                                                           \
        p = ok;                                                                                    \
        p.field = value;                                                                           \
        expect_invalid(&p, 10, #field);                                                            \
    } while (0)
    BAD(struct_size, 0);
    BAD(struct_size, sizeof(ts_sampler_params) + 8);
    BAD(temperature, NAN);
    BAD(temperature, INFINITY);
    BAD(temperature, -INFINITY);
    BAD(top_p, NAN);
    BAD(top_p, 0.0f);
    BAD(top_p, -0.5f);
    BAD(min_p, NAN);
    BAD(min_p, -0.01f);
    BAD(min_p, 1.5f);
    BAD(repeat_penalty, NAN);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, INFINITY);
    BAD(presence_penalty, NAN);
    BAD(presence_penalty, -INFINITY);
    BAD(frequency_penalty, NAN);
    BAD(frequency_penalty, INFINITY);
    BAD(penalty_last_n, -1);
#undef BAD

    /* edges that are valid */
    const struct {
        float top_p, min_p, temp;
        int32_t top_k;
    } edges[] = {
        {1.0f, 0.0f, 0.0f, 0},
        {2.0f, 1.0f, -3.0f, -1},
        {INFINITY, 0.5f, 100.0f, 1 << 30},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        p = ok;
        p.top_p = edges[i].top_p;
        p.min_p = edges[i].min_p;
        p.temperature = edges[i].temp;
        p.top_k = edges[i].top_k;
        assert_int_equal(ts_sampler_new(&p, 3, &s), TS_OK);
        ts_token t = ts_sampler_sample(s, (float[]){0, 1, 0.5f});
        assert_true(t >= 0 && t < 3);
        ts_sampler_free(s);
    }
}

/* The default chain over a real-sized vocabulary only ever emits one of the
 * 40 highest logits. */
static void test_default_chain_large(void **state) {
    (void)state;
    enum { V = 151936 };
    static float logits[V];
    uint32_t x = 99;
    for (int i = 0; i < V; i++) logits[i] = (float)(lcg(&x) % 1000000) / 100000.0f;
    /* the 40th highest value */
    static float sorted[V];
    memcpy(sorted, logits, sizeof logits);
    float kth = -INFINITY;
    for (int k = 0; k < 40; k++) { /* 40 passes of max-extraction */
        int arg = 0;
        for (int i = 1; i < V; i++) arg = sorted[i] > sorted[arg] ? i : arg;
        kth = sorted[arg];
        sorted[arg] = -INFINITY;
    }
    ts_sampler_params p = ts_sampler_default_params();
    ts_sampler *s = make(&p, V);
    for (int i = 0; i < 200; i++) {
        ts_token t = ts_sampler_sample(s, logits);
        assert_true(logits[t] >= kth);
    }
    ts_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy_argmax),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_k_ties),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_p_large),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_history_window),
        cmocka_unit_test(test_stream_reference),
        cmocka_unit_test(test_draw_inverse_cdf),
        cmocka_unit_test(test_golden_sequence),
        cmocka_unit_test(test_seed_and_reset),
        cmocka_unit_test(test_invalid_params),
        cmocka_unit_test(test_default_chain_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
