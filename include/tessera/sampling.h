/*
 * tessera/sampling.h — the sampler chain: turns one row of logits into a
 * token. One sampler per sequence; it owns its random state and its token
 * history, so sequences never influence each other.
 *
 * The chain runs in llama.cpp's default order:
 *   penalties (repetition, presence, frequency over the last penalty_last_n
 *   accepted tokens) → top-k → top-p → min-p → temperature → draw.
 * temperature <= 0 makes it greedy: the highest logit after the penalties
 * (ties: the lowest id); the other filters and the seed are then irrelevant.
 * The same parameters, seed and accepted history give the same token on
 * every platform (own PRNG, no libc rand).
 */
#ifndef TESSERA_SAMPLING_H
#define TESSERA_SAMPLING_H

#include "tessera/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_sampler_params {
    uint32_t struct_size;    /* sizeof(ts_sampler_params): set by the default */
    float temperature;       /* finite; <= 0: greedy. Default 0.8 */
    int32_t top_k;           /* keep the k highest; <= 0: off. Default 40 */
    float top_p;             /* > 0: smallest set with mass >= p; >= 1: off. Default 0.95 */
    float min_p;             /* in [0, 1]: drop p < min_p · p_max; 0: off. Default 0.05 */
    float repeat_penalty;    /* > 0: logit / r if > 0 else logit · r; 1: off. Default 1 */
    float presence_penalty;  /* − once per seen token; 0: off. Default 0 */
    float frequency_penalty; /* − count · f; 0: off. Default 0 */
    int32_t penalty_last_n;  /* history window for penalties (>= 0; 0: off); default 64 */
    uint64_t seed;           /* default 0x5eed */
} ts_sampler_params;

typedef struct ts_sampler ts_sampler;

ts_sampler_params ts_sampler_default_params(void);

/* A sampler for a vocabulary of n_vocab tokens. Memory for the candidates
 * is allocated here, never while sampling. Caller frees with
 * ts_sampler_free. TS_ERR_INVALID_ARG (message names the field) for
 * n_vocab < 1, a NaN or out-of-range parameter, or a struct_size this
 * library does not know; TS_ERR_NOMEM. */
ts_status ts_sampler_new(const ts_sampler_params *p, int32_t n_vocab, ts_sampler **out);
void ts_sampler_free(ts_sampler *s);

/* Choose a token from logits (n_vocab floats; not modified). Does not
 * record it: call ts_sampler_accept with the token actually used. A NaN
 * logit counts as −inf (never chosen while another logit is above −inf);
 * when every logit is −inf or NaN the result is token 0. Never allocates. */
ts_token ts_sampler_sample(ts_sampler *s, const float *logits);

/* Record a token of the sequence (prompt tokens too, when the penalties
 * should see them). Out-of-range ids are ignored. */
void ts_sampler_accept(ts_sampler *s, ts_token t);

/* Forget the history and restart the random stream from the seed. */
void ts_sampler_reset(ts_sampler *s);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_SAMPLING_H */
