/*
 * batch.c — the caller-side batch: parallel arrays of tokens, positions,
 * sequence-id sets and logits flags.
 */
#include "core/core-impl.h"
#include "engine/engine-impl.h"

#include <stdlib.h>
#include <string.h>

ts_status ts_batch_init(ts_batch *b, int32_t capacity, int32_t n_seq_max) {
    memset(b, 0, sizeof *b);
    if (capacity < 1 || n_seq_max < 1 || n_seq_max > TS_MAX_SEQ)
        return ts_error(TS_ERR_INVALID_ARG, "batch of %d tokens in up to %d sequences: out of range",
                        capacity, n_seq_max);
    const size_t n = (size_t)capacity;
    b->token = malloc(n * sizeof *b->token);
    b->pos = malloc(n * sizeof *b->pos);
    b->n_seq_id = malloc(n * sizeof *b->n_seq_id);
    b->seq_id = calloc(n, sizeof *b->seq_id);
    b->logits = malloc(n * sizeof *b->logits);
    bool ok = b->token && b->pos && b->n_seq_id && b->seq_id && b->logits;
    // one block for every token's sequence ids
    ts_seq_id *ids = ok ? malloc(n * (size_t)n_seq_max * sizeof *ids) : NULL;
    if (!ids) {
        ts_batch_free(b);
        return ts_error(TS_ERR_NOMEM, "no memory for a batch of %d tokens", capacity);
    }
    for (size_t i = 0; i < n; i++) b->seq_id[i] = ids + i * (size_t)n_seq_max;
    b->capacity = capacity;
    b->n_seq_max = n_seq_max;
    return TS_OK;
}

void ts_batch_free(ts_batch *b) {
    if (!b) return;
    if (b->seq_id) free(b->seq_id[0]);
    free(b->token);
    free(b->pos);
    free(b->n_seq_id);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void ts_batch_clear(ts_batch *b) { b->n_tokens = 0; }

ts_status ts_batch_add(ts_batch *b, ts_token t, ts_pos pos, const ts_seq_id *seqs,
                       int32_t n_seqs, bool logits) {
    if (b->n_tokens >= b->capacity)
        return ts_error(TS_ERR_INVALID_ARG, "the batch is full (%d tokens)", b->capacity);
    if (n_seqs < 1 || n_seqs > b->n_seq_max)
        return ts_error(TS_ERR_INVALID_ARG, "a token in %d sequences (1..%d allowed)", n_seqs,
                        b->n_seq_max);
    const int32_t i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = n_seqs;
    memcpy(b->seq_id[i], seqs, (size_t)n_seqs * sizeof *seqs);
    b->logits[i] = logits;
    return TS_OK;
}
