/*
 * models-impl.h — the model as the engine sees it, and the interface every
 * architecture file (src/models/<arch>.c) implements.
 *
 * An architecture reads its hyperparameters from metadata, binds its
 * weights (views into the mmap'd file, checked for presence, shape and
 * type) and records the graph of one micro-batch. It never mentions a
 * backend.
 *
 * Letters: n = tokens of the micro-batch, d = n_embd, k = head dimension,
 * h = query heads, g = KV heads, f = n_ff, V = n_vocab, c = KV cells,
 * v = cells a token attends to, o = tokens whose logits are wanted.
 */
#ifndef TS_MODELS_IMPL_H
#define TS_MODELS_IMPL_H

#include "tessera/engine.h"

#define TS_MAX_LAYERS 512

typedef struct ts_hparams {
    int32_t n_layer;
    int32_t n_embd;      /* d */
    int32_t n_head;      /* h */
    int32_t n_head_kv;   /* g */
    int32_t n_embd_head; /* k */
    int32_t n_ff;        /* f */
    int32_t n_vocab;     /* V */
    int32_t n_ctx_train;
    float norm_eps;
    ts_rope_params rope;
} ts_hparams;

/* Weights of one transformer block (NULL data = absent). */
typedef struct ts_layer {
    ts_tensor attn_norm;                /* (d) F32 */
    ts_tensor wq, wk, wv;               /* (d, h·k), (d, g·k), (d, g·k) */
    ts_tensor wo;                       /* (h·k, d) */
    ts_tensor ffn_norm;                 /* (d) F32 */
    ts_tensor ffn_gate, ffn_up;         /* (d, f) */
    ts_tensor ffn_down;                 /* (f, d) */
    ts_tensor bq, bk, bv;               /* (h·k), (g·k), (g·k) F32: qwen2 */
    ts_tensor attn_q_norm, attn_k_norm; /* (k) F32: qwen3 */
} ts_layer;

typedef struct ts_arch ts_arch;

struct ts_model {
    ts_gguf *gguf;
    const ts_arch *arch;
    ts_hparams hp;
    ts_tensor tok_embd;    /* (d, V) */
    ts_tensor output_norm; /* (d) F32 */
    ts_tensor output;      /* (d, V); tok_embd's view when tied */
    ts_tensor rope_freqs;  /* (n_dims/2) F32 or absent */
    ts_layer *layers;      /* (n_layer) */
    uint64_t n_params, weight_bytes;
};

/* The graph inputs of one micro-batch, created by the engine. */
typedef struct ts_batch_inputs {
    int32_t n_tokens;       /* n */
    int32_t n_outputs;      /* o */
    ts_node *tokens;        /* (n) I32 */
    ts_node *pos;           /* (n) I32 */
    ts_node *cells;         /* (n) I32: the cell each token's K/V row goes to */
    ts_node *kv_idx;        /* (e) I32: the attention lists (ts_graph_attention) */
    ts_node *kv_span;       /* (2, n) I32: each token's {offset, length} in kv_idx */
    ts_node *out_ids;       /* (o) I32: tokens whose logits are wanted */
    const ts_tensor *k_cache; /* (n_layer) of (g·k, c) */
    const ts_tensor *v_cache; /* (n_layer) of (g·k, c) */
} ts_batch_inputs;

struct ts_arch {
    const char *name;
    /* Read hyperparameters and bind weights from m->gguf (m->arch is set).
     * Failures as ts_model_load documents. */
    ts_status (*load)(ts_model *m);
    /* Record the graph of one micro-batch; returns the logits (V, o). */
    ts_node *(*build)(const ts_model *m, ts_graph *g, const ts_batch_inputs *in);
    /* Upper bound of the nodes build records. */
    int32_t (*max_nodes)(const ts_model *m);
};

extern const ts_arch ts_arch_llama;
extern const ts_arch ts_arch_qwen2;
extern const ts_arch ts_arch_qwen3;

/* ------------------------------------ the llama-family decoder (decoder.c) */

/* Tensors an architecture adds to the llama decoder. */
enum {
    TS_DECODER_QKV_BIAS = 1u << 0, /* blk.N.attn_{q,k,v}.bias */
    TS_DECODER_QK_NORM = 1u << 1,  /* blk.N.attn_{q,k}_norm.weight, per head */
};

/* Read the hyperparameters under "<arch>." (RoPE in `rope_mode`) and bind
 * the decoder's weights plus `extras`. Failures as ts_model_load. */
ts_status ts_decoder_load(ts_model *m, int32_t rope_mode, unsigned extras);
/* The graph of one micro-batch; uses the extras that are bound. */
ts_node *ts_decoder_build(const ts_model *m, ts_graph *g, const ts_batch_inputs *in);
int32_t ts_decoder_max_nodes(const ts_model *m);

/* ---------------------------------------------- loading helpers (model.c) */

/* Bind the tensor `name` into *t, checking that it exists, has exactly the
 * shape ne[0..n_dims) and, when f32_only, type F32; otherwise that its type
 * has kernels. TS_ERR_NOT_FOUND / TS_ERR_FORMAT / TS_ERR_UNSUPPORTED with
 * the tensor named. With `optional`, a missing tensor leaves t->data NULL. */
ts_status ts_model_bind(ts_model *m, ts_tensor *t, const char *name, int n_dims,
                        const int64_t *ne, bool f32_only, bool optional);

/* Metadata "<arch>.<suffix>" as u32 / f32. With `def` non-NULL, a missing
 * key gives *def. TS_ERR_NOT_FOUND / TS_ERR_FORMAT naming the key. */
ts_status ts_model_get_u32(const ts_model *m, const char *suffix, const uint32_t *def,
                           uint32_t *out);
ts_status ts_model_get_f32(const ts_model *m, const char *suffix, const float *def, float *out);

#endif /* TS_MODELS_IMPL_H */
