/*
 * decoder.c — the llama-family decoder the llama, qwen2 and qwen3
 * architectures share: pre-norm transformer blocks with RMSNorm,
 * grouped-query attention with RoPE (the layout is the architecture's), a
 * SwiGLU feed-forward, optionally tied output embeddings and Llama 3.x
 * rope_freqs factors. Per-architecture extras are tensors the architecture
 * asks to bind (TS_DECODER_QKV_BIAS, TS_DECODER_QK_NORM); the graph uses
 * them where they are bound.
 *
 * Letters as in models-impl.h: n tokens, d n_embd, k head dim, h heads,
 * g KV heads, f n_ff, V vocabulary, o output tokens.
 */
#include "core/core-impl.h"
#include "models/models-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM (1 << 20) /* bound on widths, so shape products never overflow */

/* ======================================================== hyperparameters */

static ts_status read_rope(ts_model *m, int32_t mode) {
    ts_hparams *hp = &m->hp;
    uint32_t n_dims, n_ctx_orig;
    float base, factor = 1.0f;
    const uint32_t def_dims = (uint32_t)hp->n_embd_head, def_ctx = (uint32_t)hp->n_ctx_train;
    const float def_base = 10000.0f, def_factor = 0.0f;
    ts_status st = ts_model_get_u32(m, "rope.dimension_count", &def_dims, &n_dims);
    if (st == TS_OK) st = ts_model_get_f32(m, "rope.freq_base", &def_base, &base);
    if (st == TS_OK) st = ts_model_get_f32(m, "rope.scaling.factor", &def_factor, &factor);
    if (st == TS_OK && factor == 0.0f) st = ts_model_get_f32(m, "rope.scale_linear", &def_factor, &factor);
    if (st == TS_OK)
        st = ts_model_get_u32(m, "rope.scaling.original_context_length", &def_ctx, &n_ctx_orig);
    if (st != TS_OK) return st;
    if (factor == 0.0f) factor = 1.0f;
    if (n_dims == 0 || n_dims % 2 || n_dims > (uint32_t)hp->n_embd_head)
        return ts_error(TS_ERR_FORMAT, "%s.rope.dimension_count is %u: must be even and at most the head dimension %d",
                        m->arch->name, n_dims, hp->n_embd_head);
    if (!(base > 0.0f) || !isfinite(base) || !(factor > 0.0f) || !isfinite(factor))
        return ts_error(TS_ERR_FORMAT, "%s.rope: frequency base %g / scaling factor %g out of range",
                        m->arch->name, base, factor);
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch->name);
    ts_str type = {"none", 4};
    st = ts_gguf_get_str(m->gguf, key, &type);
    if (st != TS_OK && st != TS_ERR_NOT_FOUND) return st;
    bool yarn = type.len == 4 && !memcmp(type.ptr, "yarn", 4);
    bool known = yarn || (type.len == 4 && !memcmp(type.ptr, "none", 4)) ||
                 (type.len == 6 && !memcmp(type.ptr, "linear", 6));
    if (!known)
        return ts_error(TS_ERR_UNSUPPORTED, "%s is '%.*s' (supported: none, linear, yarn)", key,
                        (int)(type.len > 32 ? 32 : type.len), type.ptr);
    hp->rope = (ts_rope_params){
        .mode = mode,
        .n_dims = (int32_t)n_dims,
        .n_ctx_orig = (int32_t)n_ctx_orig,
        .freq_base = base,
        .freq_scale = 1.0f / factor,
        .ext_factor = yarn ? 1.0f : 0.0f,
        .attn_factor = 1.0f,
        .beta_fast = 32.0f,
        .beta_slow = 1.0f,
    };
    return TS_OK;
}

static ts_status read_hparams(ts_model *m, int32_t rope_mode) {
    ts_hparams *hp = &m->hp;
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, n_ctx, k_len, v_len;
    float eps;
    ts_status st = ts_model_get_u32(m, "block_count", NULL, &n_layer);
    if (st == TS_OK) st = ts_model_get_u32(m, "embedding_length", NULL, &n_embd);
    if (st == TS_OK) st = ts_model_get_u32(m, "feed_forward_length", NULL, &n_ff);
    if (st == TS_OK) st = ts_model_get_u32(m, "attention.head_count", NULL, &n_head);
    if (st == TS_OK) st = ts_model_get_u32(m, "attention.head_count_kv", &n_head, &n_head_kv);
    if (st == TS_OK) st = ts_model_get_u32(m, "context_length", NULL, &n_ctx);
    if (st == TS_OK) st = ts_model_get_f32(m, "attention.layer_norm_rms_epsilon", NULL, &eps);
    if (st != TS_OK) return st;
    const char *a = m->arch->name;
    if (n_layer < 1 || n_layer > TS_MAX_LAYERS)
        return ts_error(TS_ERR_FORMAT, "%s.block_count is %u (1..%d supported)", a, n_layer, TS_MAX_LAYERS);
    if (n_embd < 1 || n_embd > MAX_DIM || n_ff < 1 || n_ff > MAX_DIM)
        return ts_error(TS_ERR_FORMAT, "%s.embedding_length %u / feed_forward_length %u out of range",
                        a, n_embd, n_ff);
    if (n_head < 1 || n_head > n_embd || n_head_kv < 1 || n_head % n_head_kv)
        return ts_error(TS_ERR_FORMAT, "%s: %u attention heads do not divide into %u KV heads", a,
                        n_head, n_head_kv);
    const uint32_t def_k = n_embd / n_head;
    st = ts_model_get_u32(m, "attention.key_length", &def_k, &k_len);
    if (st == TS_OK) st = ts_model_get_u32(m, "attention.value_length", &k_len, &v_len);
    if (st != TS_OK) return st;
    if (k_len < 2 || k_len > MAX_DIM / n_head || v_len != k_len)
        return ts_error(TS_ERR_UNSUPPORTED, "%s: head dimension %u (keys) / %u (values) not supported",
                        a, k_len, v_len);
    if (!(eps > 0.0f) || !isfinite(eps))
        return ts_error(TS_ERR_FORMAT, "%s.attention.layer_norm_rms_epsilon is %g", a, eps);
    if (n_ctx < 1 || n_ctx > INT32_MAX)
        return ts_error(TS_ERR_FORMAT, "%s.context_length is %u", a, n_ctx);
    *hp = (ts_hparams){
        .n_layer = (int32_t)n_layer,
        .n_embd = (int32_t)n_embd,
        .n_head = (int32_t)n_head,
        .n_head_kv = (int32_t)n_head_kv,
        .n_embd_head = (int32_t)k_len,
        .n_ff = (int32_t)n_ff,
        .n_ctx_train = (int32_t)n_ctx,
        .norm_eps = eps,
    };
    return read_rope(m, rope_mode);
}

/* =============================================================== weights */

static ts_status bind_layer(ts_model *m, int il, unsigned extras) {
    const ts_hparams *hp = &m->hp;
    const int64_t d = hp->n_embd, f = hp->n_ff;
    const int64_t hk = (int64_t)hp->n_head * hp->n_embd_head;
    const int64_t gk = (int64_t)hp->n_head_kv * hp->n_embd_head;
    ts_layer *L = &m->layers[il];
    char name[TS_MAX_NAME];
    ts_status st = TS_OK;
    const int64_t k = hp->n_embd_head;
#define BIND(field, what, f32, ...)                                                        \
    do {                                                                                   \
        const int64_t ne_[] = {__VA_ARGS__};                                               \
        snprintf(name, sizeof name, "blk.%d." what, il);                                   \
        if (st == TS_OK)                                                                   \
            st = ts_model_bind(m, &L->field, name, (int)(sizeof ne_ / sizeof ne_[0]), ne_,  \
                               f32, false);                                                \
    } while (0)
    BIND(attn_norm, "attn_norm.weight", true, d);
    BIND(wq, "attn_q.weight", false, d, hk);
    BIND(wk, "attn_k.weight", false, d, gk);
    BIND(wv, "attn_v.weight", false, d, gk);
    BIND(wo, "attn_output.weight", false, hk, d);
    BIND(ffn_norm, "ffn_norm.weight", true, d);
    BIND(ffn_gate, "ffn_gate.weight", false, d, f);
    BIND(ffn_up, "ffn_up.weight", false, d, f);
    BIND(ffn_down, "ffn_down.weight", false, f, d);
    if (extras & TS_DECODER_QKV_BIAS) {
        BIND(bq, "attn_q.bias", true, hk);
        BIND(bk, "attn_k.bias", true, gk);
        BIND(bv, "attn_v.bias", true, gk);
    }
    if (extras & TS_DECODER_QK_NORM) {
        BIND(attn_q_norm, "attn_q_norm.weight", true, k);
        BIND(attn_k_norm, "attn_k_norm.weight", true, k);
    }
#undef BIND
    return st;
}

ts_status ts_decoder_load(ts_model *m, int32_t rope_mode, unsigned extras) {
    ts_status st = read_hparams(m, rope_mode);
    if (st != TS_OK) return st;
    ts_hparams *hp = &m->hp;
    // the vocabulary size comes from the embedding table
    int64_t ti = ts_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ti < 0)
        return ts_error(TS_ERR_NOT_FOUND, "tensor 'token_embd.weight' is missing from the model file");
    const ts_gguf_tensor_info *emb = ts_gguf_tensor(m->gguf, ti);
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX)
        return ts_error(TS_ERR_FORMAT, "tensor 'token_embd.weight' has %lld rows",
                        (long long)emb->ne[1]);
    hp->n_vocab = (int32_t)emb->ne[1];
    const int64_t d = hp->n_embd, V = hp->n_vocab;
    const int64_t ne_tok[] = {d, V}, ne_norm[] = {d}, ne_freq[] = {hp->rope.n_dims / 2};
    st = ts_model_bind(m, &m->tok_embd, "token_embd.weight", 2, ne_tok, false, false);
    if (st == TS_OK) st = ts_model_bind(m, &m->output_norm, "output_norm.weight", 1, ne_norm, true, false);
    if (st == TS_OK) st = ts_model_bind(m, &m->output, "output.weight", 2, ne_tok, false, true);
    if (st == TS_OK) st = ts_model_bind(m, &m->rope_freqs, "rope_freqs.weight", 1, ne_freq, true, true);
    if (st != TS_OK) return st;
    if (!m->output.data) m->output = m->tok_embd; // tied embeddings
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ts_error(TS_ERR_NOMEM, "no memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer && st == TS_OK; il++) st = bind_layer(m, il, extras);
    return st;
}

/* ================================================================= graph */

static ts_node *weight(ts_graph *g, const ts_tensor *t) { return ts_graph_tensor(g, t); }

/* RMSNorm then the learned scale: x / rms(x) · w. x (d, n) → (d, n) */
static ts_node *norm(ts_graph *g, ts_node *x, const ts_tensor *w, float eps) {
    return ts_graph_mul(g, ts_graph_rms_norm(g, x, eps), weight(g, w));
}

/* w·x, plus the bias b when the architecture has one. x (d, n) → (m, n) */
static ts_node *project(ts_graph *g, const ts_tensor *w, const ts_tensor *b, ts_node *x) {
    ts_node *y = ts_graph_mul_mat(g, weight(g, w), x);
    return b->data ? ts_graph_add(g, y, weight(g, b)) : y;
}

/* Self-attention of one block. cur (d, n) → (d, n) */
static ts_node *attention(const ts_model *m, ts_graph *g, const ts_batch_inputs *in, int il,
                          ts_node *cur, ts_node *freqs) {
    const ts_hparams *hp = &m->hp;
    const ts_layer *L = &m->layers[il];
    const int64_t n = in->n_tokens, k = hp->n_embd_head, h = hp->n_head, gh = hp->n_head_kv;
    ts_node *q = project(g, &L->wq, &L->bq, cur);  // (h·k, n)
    ts_node *kx = project(g, &L->wk, &L->bk, cur); // (g·k, n)
    ts_node *v = project(g, &L->wv, &L->bv, cur);  // (g·k, n)
    q = ts_graph_reshape(g, q, 3, (int64_t[]){k, h, n});
    kx = ts_graph_reshape(g, kx, 3, (int64_t[]){k, gh, n});
    if (L->attn_q_norm.data) { // qwen3: RMSNorm of every head before RoPE
        q = norm(g, q, &L->attn_q_norm, hp->norm_eps);
        kx = norm(g, kx, &L->attn_k_norm, hp->norm_eps);
    }
    q = ts_graph_rope(g, q, in->pos, freqs, &hp->rope);
    kx = ts_graph_rope(g, kx, in->pos, freqs, &hp->rope);
    // write this batch's K/V rows into their cells, then attend over the cells
    ts_node *kc = ts_graph_set_rows(g, weight(g, &in->k_cache[il]),
                                    ts_graph_reshape(g, kx, 2, (int64_t[]){k * gh, n}), in->cells);
    ts_node *vc = ts_graph_set_rows(g, weight(g, &in->v_cache[il]), v, in->cells);
    ts_node *a = ts_graph_attention(g, q, kc, vc, in->kv_idx, in->kv_span,
                                    1.0f / sqrtf((float)k)); // (h·k, n)
    return ts_graph_mul_mat(g, weight(g, &L->wo), a);
}

/* PyTorch: w2(silu(w1(x)) * w3(x)). cur (d, n) → (d, n) */
static ts_node *feed_forward(const ts_layer *L, ts_graph *g, ts_node *cur) {
    ts_node *gate = ts_graph_mul_mat(g, weight(g, &L->ffn_gate), cur); // (f, n)
    ts_node *up = ts_graph_mul_mat(g, weight(g, &L->ffn_up), cur);     // (f, n)
    return ts_graph_mul_mat(g, weight(g, &L->ffn_down), ts_graph_swiglu(g, gate, up));
}

ts_node *ts_decoder_build(const ts_model *m, ts_graph *g, const ts_batch_inputs *in) {
    const ts_hparams *hp = &m->hp;
    ts_node *freqs = m->rope_freqs.data ? weight(g, &m->rope_freqs) : NULL;
    // 1. embeddings (d, n)
    ts_node *x = ts_graph_get_rows(g, weight(g, &m->tok_embd), in->tokens);
    for (int il = 0; il < hp->n_layer; il++) {
        const ts_layer *L = &m->layers[il];
        // 2. attention with a residual connection
        ts_node *cur = norm(g, x, &L->attn_norm, hp->norm_eps);
        x = ts_graph_add(g, x, attention(m, g, in, il, cur, freqs));
        // 3. feed-forward with a residual connection
        cur = norm(g, x, &L->ffn_norm, hp->norm_eps);
        x = ts_graph_add(g, x, feed_forward(L, g, cur));
    }
    // 4. only the tokens whose logits are wanted: (d, o) → (V, o)
    x = ts_graph_get_rows(g, x, in->out_ids);
    x = norm(g, x, &m->output_norm, hp->norm_eps);
    return ts_node_set_output(ts_graph_mul_mat(g, weight(g, &m->output), x));
}

int32_t ts_decoder_max_nodes(const ts_model *m) { return 48 * m->hp.n_layer + 32; }
