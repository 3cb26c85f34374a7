/*
 * generate.h — the generation loop of `tessera run` and `tessera chat`:
 * decode a prompt in one batch (logits of its last token only), then sample
 * a token, stream its text, decode it, and so on, until a limit, an
 * end-of-generation token, a full context, a stop request or an error.
 *
 * Sequence 0 of the context is used from position 0. Its first n_past
 * prompt tokens may already be in the cache (a chat's earlier turns): only
 * the rest is decoded. The text streamed is exactly what the model adds:
 * the detokenization of prompt + generated tokens, less that of the
 * prompt, so a continuation keeps its leading space and the detokenizer's
 * clean-up rules see the prompt.
 */
#ifndef TS_GENERATE_H
#define TS_GENERATE_H

#include "tessera.h"

typedef enum gen_stop {
    GEN_STOP_LENGTH,    /* n_predict tokens were generated */
    GEN_STOP_EOG,       /* the model chose an end-of-generation token */
    GEN_STOP_CONTEXT,   /* the context is full */
    GEN_STOP_INTERRUPT, /* gen_params.stop (or the context's abort callback) said stop */
    GEN_STOP_DECODE,    /* ts_decode failed: gen_result.status, ts_last_error() */
    GEN_STOP_OUTPUT,    /* the sink failed, or the detokenizer could not be made */
    GEN_STOP_COUNT
} gen_stop;

/* Receives text as it comes (complete UTF-8 unless the model produced
 * ill-formed bytes); returns false to stop (a write error). */
typedef bool (*gen_sink)(const char *text, size_t len, void *user);

typedef struct gen_params {
    int32_t n_predict;   /* tokens to generate at most (>= 0) */
    int32_t n_past;      /* prompt[0..n_past) is what sequence 0 of the cache
                          * holds, at positions 0..n_past-1 (0: it is empty) */
    ts_token *generated; /* room for n_predict ids, or NULL: receives the
                          * generated tokens (gen_result.n_generated) */
    ts_abort_fn stop;    /* polled before each token; NULL: never */
    void *stop_user;
    gen_sink sink;
    void *sink_user;
} gen_params;

typedef struct gen_result {
    int32_t n_prompt;        /* prompt tokens decoded, those after n_past (0 when
                              * the decode failed); measured: the context's
                              * n_tokens before and after */
    int32_t n_generated;     /* tokens generated (an end-of-generation token not counted) */
    double prompt_seconds;   /* the prompt's decode */
    double generate_seconds; /* from the end of the prompt to the last token */
    gen_stop stop;
    ts_status status; /* the failed call's status for GEN_STOP_DECODE / OUTPUT */
} gen_result;

/* Run the loop on ctx with vocabulary v and sampler s (the prompt tokens it
 * decodes are accepted into s first, so penalties see them; the n_past
 * before them were accepted when they were decoded). prompt: n_prompt >= 1
 * ids, 0 <= p->n_past < n_prompt <= ts_context_n_ctx(ctx). Always fills *r.
 * Afterwards sequence 0 holds prompt and generated tokens up to position
 * ts_seq_pos_max(ctx, 0) (the last token generated is not decoded; after a
 * failed or aborted decode the cache is as before that decode). */
void gen_run(ts_context *ctx, const ts_vocab *v, ts_sampler *s, const ts_token *prompt,
             int32_t n_prompt, const gen_params *p, gen_result *r);

/* Decode ids[0..n) (n <= b's capacity) at positions pos0.. of sequence 0
 * in one ts_decode call, logits of the last token only — as
 * llama_batch_get_one asks, which llama-bench and llama-cli decode. */
ts_status gen_decode(ts_context *ctx, ts_batch *b, const ts_token *ids, int32_t n, ts_pos pos0);

/* "length", "end of generation", ... for a stop reason. Static. */
const char *gen_stop_str(gen_stop stop);

#endif /* TS_GENERATE_H */
