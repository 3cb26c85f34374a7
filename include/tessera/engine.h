/*
 * tessera/engine.h — models, contexts and batch decoding: the public C API
 * of the inference engine.
 *
 * - A ts_model is the read-only result of loading a GGUF file: hyper-
 *   parameters and weights (mmap'd, never copied on the CPU). Several
 *   contexts (and threads) may share one model.
 * - A ts_context holds a KV cache of n_ctx cells, an activation arena
 *   reserved for the worst micro-batch, and a backend. One thread at a time
 *   per context.
 * - ts_decode runs a batch: every token carries its position, the set of
 *   sequences it belongs to and whether its logits are wanted. A batch
 *   larger than the micro-batch size is split internally. A sequence's
 *   logits are bitwise the same whatever else is in the batch, however it is
 *   split and however many threads run it.
 *
 * Parameter structs carry struct_size (set by their *_default_params
 * function) so that fields can be added without breaking callers.
 */
#ifndef TESSERA_ENGINE_H
#define TESSERA_ENGINE_H

#include "tessera/backend.h"
#include "tessera/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t ts_pos;
typedef int32_t ts_seq_id;

#define TS_MAX_SEQ 64 /* sequence ids are 0 .. n_seq_max - 1 <= TS_MAX_SEQ - 1 */

/* ----------------------------------------------------------------- model */

typedef struct ts_model ts_model;

typedef struct ts_model_params {
    uint32_t struct_size; /* sizeof(ts_model_params): set by the default */
} ts_model_params;

ts_model_params ts_model_default_params(void);

/* Load the model in `path` (a GGUF file, or any part of a split model); p
 * NULL means the defaults.
 * Caller frees with ts_model_free, after every context using it. Fails
 * with a one-line message naming the problem:
 *   TS_ERR_IO / TS_ERR_FORMAT   the file cannot be read or is not GGUF
 *   TS_ERR_UNSUPPORTED          an architecture or tensor type Tessera does
 *                               not run (the message lists those it does)
 *   TS_ERR_NOT_FOUND            a required tensor or metadata key is missing
 *   TS_ERR_FORMAT               a tensor of the wrong shape or type, or
 *                               hyperparameters that do not fit together */
ts_status ts_model_load(const char *path, const ts_model_params *p, ts_model **out);
void ts_model_free(ts_model *m);

/* The open GGUF file, e.g. for ts_vocab_load. Borrowed; valid until
 * ts_model_free. */
const ts_gguf *ts_model_gguf(const ts_model *m);

const char *ts_model_arch(const ts_model *m); /* "llama"; borrowed */
int32_t ts_model_n_vocab(const ts_model *m);  /* rows of the logits */
int32_t ts_model_n_ctx_train(const ts_model *m);
int32_t ts_model_n_layer(const ts_model *m);
int32_t ts_model_n_embd(const ts_model *m);
uint64_t ts_model_n_params(const ts_model *m);
uint64_t ts_model_weight_bytes(const ts_model *m);

/* Comma-separated names of the supported architectures. Static. */
const char *ts_model_archs(void);

/* --------------------------------------------------------------- context */

typedef struct ts_context ts_context;

typedef struct ts_context_params {
    uint32_t struct_size; /* sizeof(ts_context_params): set by the default */
    uint32_t n_ctx;       /* KV cells; 0: min(training context, 4096) */
    uint32_t n_ubatch;    /* tokens per micro-batch; default 512 */
    uint32_t n_seq_max;   /* sequences 0 .. n_seq_max - 1; default 1 */
    ts_type type_k;       /* KV element type: TS_TYPE_F16 (default) or F32 */
    ts_type type_v;
    int32_t n_threads;    /* CPU worker threads; 0: one per core */
    ts_abort_fn abort_callback; /* polled during decode; true aborts */
    void *abort_user;
} ts_context_params;

ts_context_params ts_context_default_params(void);

/* A context for `m` (borrowed; must outlive the context); p NULL means the
 * defaults. Allocates the KV
 * cache and the arena for the worst micro-batch now; decoding never grows
 * them. Caller frees with ts_context_free. TS_ERR_INVALID_ARG (message
 * names the field) or TS_ERR_NOMEM. */
ts_status ts_context_new(const ts_model *m, const ts_context_params *p, ts_context **out);
void ts_context_free(ts_context *ctx);

uint32_t ts_context_n_ctx(const ts_context *ctx);
uint32_t ts_context_n_ubatch(const ts_context *ctx);

typedef struct ts_context_stats {
    uint64_t n_decode;        /* ts_decode calls that succeeded */
    uint64_t n_graph_compute; /* graphs run (one per micro-batch) */
    uint64_t n_tokens;        /* tokens decoded */
    uint32_t n_cells_used;    /* KV cells holding at least one sequence */
    size_t kv_bytes;          /* KV cache size */
    size_t arena_bytes;       /* activation arena size */
    size_t staging_bytes;     /* host staging of a micro-batch's inputs (the
                               * attention lists: at most 4 MiB of them
                               * whatever n_ctx) */
    size_t weight_copy_bytes; /* weights the backend copied (the CPU's
                               * repacked layouts; their file pages are
                               * released), made at context creation */
    size_t matmul_weight_bytes; /* bytes of the weights the matrix products
                                 * read, each once per micro-batch (so per
                                 * generated token); a table only looked up
                                 * (an untied token embedding) is not
                                 * counted: the memory a token costs */
    double compute_seconds;   /* wall time inside graph computations */
} ts_context_stats;

void ts_context_get_stats(const ts_context *ctx, ts_context_stats *out);

/* ----------------------------------------------------------------- batch */

typedef struct ts_batch {
    int32_t n_tokens;
    int32_t capacity;    /* set by ts_batch_init */
    int32_t n_seq_max;   /* set by ts_batch_init */
    ts_token *token;     /* (n) */
    ts_pos *pos;         /* (n) */
    int32_t *n_seq_id;   /* (n) */
    ts_seq_id **seq_id;  /* (n) × (n_seq_id[i]) */
    int8_t *logits;      /* (n) non-zero: keep this token's logits */
} ts_batch;

/* Room for `capacity` tokens, each in up to n_seq_max sequences. Free with
 * ts_batch_free. TS_ERR_INVALID_ARG / TS_ERR_NOMEM. */
ts_status ts_batch_init(ts_batch *b, int32_t capacity, int32_t n_seq_max);
void ts_batch_free(ts_batch *b);
void ts_batch_clear(ts_batch *b);

/* Append one token. Returns TS_ERR_INVALID_ARG when the batch is full or
 * n_seqs is out of range. */
ts_status ts_batch_add(ts_batch *b, ts_token t, ts_pos pos, const ts_seq_id *seqs,
                       int32_t n_seqs, bool logits);

/* ---------------------------------------------------------------- decode */

/* Decode batch b. On success the logits of every token with its flag set
 * are available through ts_get_logits until the next decode.
 * Errors (the context's KV cache is left as it was before the call):
 *   TS_ERR_INVALID_ARG  empty batch, a token outside the vocabulary, a
 *                       sequence id outside 0..n_seq_max-1, a negative
 *                       position or one beyond the context
 *   TS_ERR_FULL         not enough free KV cells for the batch
 *   TS_ERR_ABORTED      the abort callback returned true */
ts_status ts_decode(ts_context *ctx, const ts_batch *b);

/* Logits (n_vocab floats) of token i of the last decoded batch, or NULL
 * when its flag was not set or i is out of range. Borrowed; valid until the
 * next decode. */
const float *ts_get_logits(const ts_context *ctx, int32_t i);

/* ------------------------------------------------------------- KV cells */

/* Remove seq's cells with position in [p0, p1) (p1 < 0: to the end; seq <
 * 0: every sequence). Returns false for a seq id out of range. */
bool ts_seq_rm(ts_context *ctx, ts_seq_id seq, ts_pos p0, ts_pos p1);

/* Let dst share src's cells with position in [p0, p1) (no data moves). */
void ts_seq_cp(ts_context *ctx, ts_seq_id src, ts_seq_id dst, ts_pos p0, ts_pos p1);

/* Remove every sequence but seq. */
void ts_seq_keep(ts_context *ctx, ts_seq_id seq);

/* Highest position of seq in the cache, or -1 when it has none. */
ts_pos ts_seq_pos_max(const ts_context *ctx, ts_seq_id seq);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_ENGINE_H */
