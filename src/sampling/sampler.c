/*
 * sampler.c — the sampler chain of tessera/sampling.h: penalties → top-k →
 * top-p → min-p → temperature → draw, with llama.cpp's semantics.
 *
 * Invariants:
 *  - every buffer is allocated in ts_sampler_new; sampling never allocates;
 *  - candidates are ordered by one total order (logit descending, then id
 *    ascending), so every selection, whatever algorithm makes it, gives the
 *    same set in the same order;
 *  - each filter keeps the best candidate, so the maximum logit after the
 *    penalties is the maximum of every later candidate set;
 *  - probabilities use only IEEE double + − × ÷ (our own exp, no libm) and
 *    the draw the sampler's own xoshiro256** stream, so the same seed,
 *    parameters and history give the same token on every platform (this
 *    file is compiled without fused multiply-add);
 *  - count[t] is the number of occurrences of t in the history ring, except
 *    inside apply_penalties, which negates it to mark "already applied".
 *
 * NaN logits count as −inf: never drawn while any logit is above −inf.
 * When every logit is −inf or NaN, the answer is token 0 (the lowest id, as
 * greedy's tie rule gives).
 *
 * V = n_vocab, W = penalty_last_n (history window), n = live candidates.
 */
#include "core/core-impl.h"
#include "tessera/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    ts_token id;
} cand;

struct ts_sampler {
    ts_sampler_params par;
    int32_t n_vocab;
    cand *cand;     /* (V) the candidates of the current sample */
    cand *tmp;      /* (V) scratch for selection and sorting */
    double *w;      /* (V) unnormalized probabilities of the draw */
    ts_token *ring; /* (W) accepted tokens; when full, the oldest is at head */
    int32_t ring_len, ring_head;
    int32_t *count; /* (V) occurrences of each token in the ring */
    uint64_t rng[4];
};

/* Top-p selects this many candidates first and sorts all of them only when
 * their mass falls short: a peaked distribution never sorts the vocabulary. */
#define TOP_P_FIRST 256

/* ----------------------------------------------------------------- random */

/* splitmix64 (Steele, Lea, Flood 2014): spreads the seed over the state, as
 * the xoshiro authors recommend (an all-zero state is impossible). */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** 1.0 (Blackman, Vigna 2018). */
static uint64_t xoshiro_next(uint64_t s[4]) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
}

/* Uniform in [0, 1): the top 53 bits, each double equally likely. */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* ------------------------------------------------------------------- math */

/* exp(x) for x <= 0 from IEEE double + − × and exact conversions only:
 * libm's exp may differ in the last bit between C libraries, and a last bit
 * can move a draw. Cody–Waite reduction x = k·ln2 + r, |r| <= ln2/2, Taylor
 * to r^12 (truncation < 2e-16 relative), times 2^k built from its bits.
 * Constants such as 1.0 / 720 are IEEE divisions folded at compile time.
 * Returns 0 below −708 (where 2^k would leave the normal range): such a
 * weight is < 1e-307 of the best candidate's, never drawn in practice. */
static inline double det_exp(double x) {
    /* ln2 split in two: ln2_hi has trailing zero bits, so k·ln2_hi is exact */
    static const double ln2_hi = 6.93147180369123816490e-01;
    static const double ln2_lo = 1.90821492927058770002e-10;
    static const double inv_ln2 = 1.44269504088896338700e+00;
    if (!(x >= -708.0)) return 0.0;          /* also −inf */
    const int k = -(int)(0.5 - x * inv_ln2); /* nearest integer to x / ln2, x <= 0 */
    const double r = (x - k * ln2_hi) - k * ln2_lo;
    /* Estrin's scheme: the polynomial in shorter dependency chains than
     * Horner's; its fixed order of operations is part of the result. */
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double q0 = 1.0 + r, q1 = 1.0 / 2 + r * (1.0 / 6), q2 = 1.0 / 24 + r * (1.0 / 120),
                 q3 = 1.0 / 720 + r * (1.0 / 5040), q4 = 1.0 / 40320 + r * (1.0 / 362880),
                 q5 = 1.0 / 3628800 + r * (1.0 / 39916800), q6 = 1.0 / 479001600;
    const double s0 = q0 + r2 * q1, s1 = q2 + r2 * q3, s2 = q4 + r2 * q5;
    const double p = (s0 + r4 * s1) + r8 * (s2 + r4 * q6);
    const uint64_t bits = (uint64_t)(k + 1023) << 52; /* 2^k, −1021 <= k <= 0 */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* exp((l − max) / t): the softmax numerator shifted by the maximum, so it
 * lies in [0, 1]. l == max gives 1 exactly (this also covers max = +inf,
 * where l − max would be NaN). */
static inline double weight(float l, float max, double t) {
    if (l == max) return 1.0;
    return det_exp(((double)l - (double)max) / t);
}

/* ------------------------------------------------------------- selection */

/* The total order: a before b. */
static inline bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Restore the heap h[0..n) below i; every parent is worse than its children,
 * so the root is the worst element. */
static void sift_down(cand *h, size_t n, size_t i) {
    const cand x = h[i];
    for (;;) {
        size_t j = 2 * i + 1;
        if (j >= n) break;
        if (j + 1 < n && better(&h[j], &h[j + 1])) j++; /* the worse child */
        if (!better(&x, &h[j])) break;
        h[i] = h[j];
        i = j;
    }
    h[i] = x;
}

/* out[0..m) = the m best of c[0..n), best first; c is not modified.
 * O(n log m): a heap of the m best seen so far, whose worst is replaced by
 * anything better (rarely, for logits in no particular order); then
 * heapsort. */
static void select_top_into(const cand *c, size_t n, size_t m, cand *out) {
    TS_ASSERT(m >= 1 && m <= n);
    memcpy(out, c, m * sizeof *out);
    for (size_t i = m / 2; i-- > 0;) sift_down(out, m, i);
    for (size_t j = m; j < n; j++) {
        if (better(&c[j], &out[0])) {
            out[0] = c[j];
            sift_down(out, m, 0);
        }
    }
    for (size_t end = m; end-- > 1;) {
        const cand t = out[0];
        out[0] = out[end];
        out[end] = t;
        sift_down(out, end, 0);
    }
}

/* An unsigned key whose ascending order is descending logit order. −0 and
 * +0 get one key, as better() compares them equal. */
static inline uint32_t order_key(float l) {
    uint32_t u;
    if (l == 0.0f) l = 0.0f;
    memcpy(&u, &l, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with the float */
    return ~u;
}

/* Sort c[0..n) best first, in O(n): a stable LSD radix sort on order_key,
 * byte by byte, ping-ponging with tmp. Stability turns id order on entry
 * into the total order's tie rule, so c must be in id order on entry. */
static void sort_best_first(cand *c, cand *tmp, size_t n) {
    uint32_t hist[4][256] = {{0}};
    for (size_t i = 0; i < n; i++) {
        const uint32_t k = order_key(c[i].logit);
        for (int d = 0; d < 4; d++) hist[d][(k >> (8 * d)) & 255]++;
    }
    cand *src = c, *dst = tmp;
    for (int d = 0; d < 4; d++) {
        const int shift = 8 * d;
        if (hist[d][(order_key(src[0].logit) >> shift) & 255] == n) continue; /* one digit */
        uint32_t off[256], sum = 0;
        for (int b = 0; b < 256; b++) {
            off[b] = sum;
            sum += hist[d][b];
        }
        for (size_t i = 0; i < n; i++)
            dst[off[(order_key(src[i].logit) >> shift) & 255]++] = src[i];
        cand *t = src;
        src = dst;
        dst = t;
    }
    if (src != c) memcpy(c, src, n * sizeof *c);
}

/* Keep the m best of c[0..n) (in id order) in c[0..m), best first: a heap
 * when m is small against n, else a full sort. */
static void keep_top(ts_sampler *s, size_t n, size_t m) {
    if (m <= n / 16) {
        select_top_into(s->cand, n, m, s->tmp);
        memcpy(s->cand, s->tmp, m * sizeof *s->cand);
    } else {
        sort_best_first(s->cand, s->tmp, n);
    }
}

/* --------------------------------------------------------------- history */

static void history_push(ts_sampler *s, ts_token t) {
    const int32_t w = s->par.penalty_last_n;
    if (w == 0) return;
    if (s->ring_len == w) {
        s->count[s->ring[s->ring_head]]--;
    } else {
        s->ring_len++;
    }
    s->ring[s->ring_head] = t;
    s->count[t]++;
    s->ring_head = s->ring_head + 1 == w ? 0 : s->ring_head + 1;
}

static void history_clear(ts_sampler *s) {
    for (int32_t i = 0; i < s->ring_len; i++) s->count[s->ring[i]] = 0;
    s->ring_len = 0;
    s->ring_head = 0;
}

/* ----------------------------------------------------------------- chain */

/* llama.cpp's penalties on c (still indexed by id): for each token t seen
 * c_t > 0 times in the window, logit = logit > 0 ? logit / r : logit · r,
 * then logit −= c_t · frequency + presence. O(W): each distinct token of the
 * ring once, marked by negating its count, then unmarked. */
static void apply_penalties(ts_sampler *s, cand *c) {
    const ts_sampler_params *p = &s->par;
    if (s->ring_len == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (int32_t i = 0; i < s->ring_len; i++) {
        const ts_token t = s->ring[i];
        const int32_t n = s->count[t];
        if (n <= 0) continue; /* already applied */
        float l = c[t].logit;
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)n * p->frequency_penalty + p->presence_penalty;
        c[t].logit = isnan(l) ? -INFINITY : l; /* ±inf − an overflowed penalty */
        s->count[t] = -n;
    }
    for (int32_t i = 0; i < s->ring_len; i++) {
        const ts_token t = s->ring[i];
        if (s->count[t] < 0) s->count[t] = -s->count[t];
    }
}

/* Keep the smallest best-first prefix of c[0..n) whose softmax mass (at
 * temperature 1) is >= top_p, at least one candidate. When c is not sorted
 * (it is then in id order), the best TOP_P_FIRST are selected aside first;
 * only when their mass falls short is all of c sorted, and the running sum
 * goes on from there (one total order: the sorted prefix is the same).
 * Returns the new n; c[0..n) is then sorted. */
static size_t top_p_filter(ts_sampler *s, size_t n, bool sorted, float max) {
    cand *c = s->cand;
    double z = 0.0;
    for (size_t i = 0; i < n; i++) z += weight(c[i].logit, max, 1.0);
    const double target = (double)s->par.top_p * z;
    double cum = 0.0;
    size_t i = 0;
    if (!sorted) {
        const size_t m = n < TOP_P_FIRST ? n : TOP_P_FIRST;
        select_top_into(c, n, m, s->tmp);
        for (; i < m; i++) {
            cum += weight(s->tmp[i].logit, max, 1.0);
            if (cum >= target || i + 1 == n) {
                memcpy(c, s->tmp, (i + 1) * sizeof *c);
                return i + 1;
            }
        }
        sort_best_first(c, s->tmp, n);
    }
    for (; i < n; i++) {
        cum += weight(c[i].logit, max, 1.0);
        if (cum >= target) return i + 1;
    }
    return n; /* rounding left the sum short of the target */
}

/* Keep the candidates with p >= min_p · p_max, i.e. exp(l − max) >= min_p,
 * in their order. The best one always stays (min_p <= 1). */
static size_t min_p_filter(ts_sampler *s, size_t n, float max) {
    cand *c = s->cand;
    const double min_p = s->par.min_p;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (weight(c[i].logit, max, 1.0) >= min_p) c[kept++] = c[i];
    }
    return kept;
}

/* Softmax of logits / temperature over c[0..n), then one uniform draw,
 * picked by cumulative sum: the first candidate whose running sum exceeds
 * u · z (strictly, so a zero-probability candidate is never picked). */
static ts_token draw(ts_sampler *s, size_t n, float max) {
    const cand *c = s->cand;
    const double t = s->par.temperature;
    double z = 0.0;
    for (size_t i = 0; i < n; i++) {
        s->w[i] = weight(c[i].logit, max, t);
        z += s->w[i];
    }
    const double target = rng_uniform(s->rng) * z;
    double cum = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->w[i] == 0.0) continue;
        cum += s->w[i];
        last = i;
        if (cum > target) return c[i].id;
    }
    return c[last].id; /* unreachable: the full sum is z > u · z */
}

/* ------------------------------------------------------------ parameters */

static ts_status check_params(const ts_sampler_params *p) {
    if (p->struct_size != sizeof(ts_sampler_params))
        return ts_error(TS_ERR_INVALID_ARG,
                        "sampler params: struct_size %u is not this library's %zu "
                        "(start from ts_sampler_default_params)",
                        (unsigned)p->struct_size, sizeof(ts_sampler_params));
    if (!isfinite(p->temperature))
        return ts_error(TS_ERR_INVALID_ARG, "sampler params: temperature %g is not finite",
                        (double)p->temperature);
    if (isnan(p->top_p) || p->top_p <= 0.0f)
        return ts_error(TS_ERR_INVALID_ARG,
                        "sampler params: top_p %g must be > 0 (>= 1 turns it off)",
                        (double)p->top_p);
    if (isnan(p->min_p) || p->min_p < 0.0f || p->min_p > 1.0f)
        return ts_error(TS_ERR_INVALID_ARG,
                        "sampler params: min_p %g must be in [0, 1] (0 turns it off)",
                        (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
        return ts_error(TS_ERR_INVALID_ARG,
                        "sampler params: repeat_penalty %g must be finite and > 0 (1 turns it off)",
                        (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty))
        return ts_error(TS_ERR_INVALID_ARG, "sampler params: presence_penalty %g is not finite",
                        (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return ts_error(TS_ERR_INVALID_ARG, "sampler params: frequency_penalty %g is not finite",
                        (double)p->frequency_penalty);
    if (p->penalty_last_n < 0)
        return ts_error(TS_ERR_INVALID_ARG,
                        "sampler params: penalty_last_n %d must be >= 0 (0 turns penalties off)",
                        (int)p->penalty_last_n);
    return TS_OK;
}

/* ---------------------------------------------------------------- public */

ts_sampler_params ts_sampler_default_params(void) {
    return (ts_sampler_params){
        .struct_size = sizeof(ts_sampler_params),
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = 0x5eed,
    };
}

ts_status ts_sampler_new(const ts_sampler_params *p, int32_t n_vocab, ts_sampler **out) {
    if (!out) return ts_error(TS_ERR_INVALID_ARG, "ts_sampler_new: out is NULL");
    *out = NULL;
    if (!p) return ts_error(TS_ERR_INVALID_ARG, "ts_sampler_new: params is NULL");
    if (n_vocab < 1)
        return ts_error(TS_ERR_INVALID_ARG, "ts_sampler_new: n_vocab %d must be >= 1",
                        (int)n_vocab);
    ts_status st = check_params(p);
    if (st != TS_OK) return st;

    ts_sampler *s = calloc(1, sizeof *s);
    if (!s) return ts_error(TS_ERR_NOMEM, "out of memory for a sampler");
    s->par = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->tmp = malloc((size_t)n_vocab * sizeof *s->tmp);
    s->w = malloc((size_t)n_vocab * sizeof *s->w);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->ring = p->penalty_last_n ? malloc((size_t)p->penalty_last_n * sizeof *s->ring) : NULL;
    if (!s->cand || !s->tmp || !s->w || !s->count || (p->penalty_last_n && !s->ring)) {
        ts_sampler_free(s);
        return ts_error(TS_ERR_NOMEM,
                        "out of memory for a sampler of %d tokens with a %d-token history",
                        (int)n_vocab, (int)p->penalty_last_n);
    }
    rng_seed(s->rng, p->seed);
    *out = s;
    return TS_OK;
}

void ts_sampler_free(ts_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->tmp);
    free(s->w);
    free(s->count);
    free(s->ring);
    free(s);
}

ts_token ts_sampler_sample(ts_sampler *s, const float *logits) {
    TS_ASSERT(s && logits);
    const ts_sampler_params *p = &s->par;
    cand *c = s->cand;
    size_t n = (size_t)s->n_vocab;

    /* 1. candidates in id order, NaN as −inf, penalties; the best of them */
    for (size_t i = 0; i < n; i++) {
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
        c[i].id = (ts_token)i;
    }
    apply_penalties(s, c);
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        if (c[i].logit > c[best].logit) best = i; /* strict: ties keep the lowest id */
    }
    const float max = c[best].logit;
    if (p->temperature <= 0.0f || max == -INFINITY) return (ts_token)best;

    /* 2. filters, each keeping at least the best candidate */
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        keep_top(s, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
        sorted = true;
    }
    if (p->top_p < 1.0f) n = top_p_filter(s, n, sorted, max);
    if (p->min_p > 0.0f) n = min_p_filter(s, n, max);

    /* 3. temperature, softmax, draw */
    return draw(s, n, max);
}

void ts_sampler_accept(ts_sampler *s, ts_token t) {
    TS_ASSERT(s);
    if (t < 0 || t >= s->n_vocab) return;
    history_push(s, t);
}

void ts_sampler_reset(ts_sampler *s) {
    TS_ASSERT(s);
    history_clear(s);
    rng_seed(s->rng, s->par.seed);
}
