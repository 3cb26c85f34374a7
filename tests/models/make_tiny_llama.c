/*
 * make_tiny_llama.c — write a tiny random-weight `llama`, `qwen2` or `qwen3`
 * GGUF with libtessera's GGUF writer, for logits tests against llama.cpp and
 * against a plain float64 forward pass.
 *
 * Build by hand (no CMake target needed):
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc tests/models/make_tiny_llama.c \
 *       $(find src/core src/gguf -name '*.c') -lm -o /tmp/make_tiny_llama
 * Usage:
 *   make_tiny_llama OUT.gguf [--n-layer 2] [--n-embd 64] [--n-head 4]
 *       [--n-head-kv 4] [--n-ff 128] [--n-vocab 96] [--n-ctx 128]
 *       [--rope-base 10000] [--rms-eps 1e-5] [--seed 1] [--type F32|F16|BF16|Q4_0|…]
 *       [--tied 0|1] [--arch llama|qwen2|qwen3] [--head-dim N]
 *       [--rope-scaling yarn --rope-scaling-factor F --rope-orig-ctx N]
 *
 * Weights are deterministic (xorshift64* seeded by --seed, drawn in the
 * fixed tensor order below) and uniform: matrices in [-a, a] with
 * a = sqrt(3 / fan_in) (unit-variance propagation), the output matrix with
 * a = 2 sqrt(3 / n_embd) so that logits are O(1), norm weights 1 + U(-0.1,
 * 0.1), the token embeddings like the output matrix (so a tied output
 * also gives O(1) logits). Architecture extras: qwen2 adds per-layer
 * attn_q/attn_k/attn_v biases, 0.5 U(-1, 1), drawn right after attn_v.weight;
 * qwen3 adds per-layer attn_q_norm/attn_k_norm weights (head_dim), 1 +
 * U(-0.1, 0.1), drawn right after attn_output.weight. For llama the stream
 * and the file are exactly what they were before --arch existed.
 * Norm weights and biases are always F32; every
 * 2-D weight has --type, any type with a dot product (F32, F16, BF16,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K … Q6_K), quantized with
 * ts_quantize_row, which matches llama.cpp's reference quantizers bit for
 * bit; a K-quant needs n_embd, n_ff and n_head·head_dim multiples of 256.
 *
 * Tokenizer: tokenizer.ggml.model "gpt2", n_vocab tokens, no merges. Token i
 * < 256 is GPT-2's byte-level character for byte i (so token 10 is "Ċ",
 * the newline byte); tokens >= 256 are "<tN>". Token 1 is BOS and token 2 is
 * EOS, both of type CONTROL (3); the others are NORMAL (1).
 * add_bos_token is true for llama and false for qwen2/qwen3 (as in the real
 * files). The tests feed token ids directly; the tokenizer only has to load.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/gguf.h"
#include "tessera/quant.h"

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [-1, 1). */
static float rng_unit(void)
{
    return (float)((double)(rng_next() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

#define MAX_TENSORS 512
static void *blobs[MAX_TENSORS];
static int n_blobs;

static void die(const char *what, ts_status st)
{
    (void)st;
    fprintf(stderr, "make_tiny_llama: %s failed\n", what);
    exit(1);
}

/* Add a tensor of ne0 x ne1 floats drawn as scale * U(-1,1) + offset. */
static void add(ts_gguf_writer *w, const char *name, ts_type type, int64_t ne0, int64_t ne1,
                float scale, float offset)
{
    float *f = malloc(sizeof(float) * (size_t)(ne0 * ne1));
    if (!f) die("malloc", TS_ERR_NOMEM);
    for (int64_t i = 0; i < ne0 * ne1; i++) f[i] = offset + scale * rng_unit();
    void *data = f;
    if (type != TS_TYPE_F32) {
        size_t rs;
        if (!ts_type_row_size(type, ne0, &rs)) {
            fprintf(stderr, "make_tiny_llama: row of %lld does not fit type %d for %s\n",
                    (long long)ne0, (int)type, name);
            exit(1);
        }
        unsigned char *q = malloc(rs * (size_t)ne1);
        if (!q) die("malloc", TS_ERR_NOMEM);
        for (int64_t r = 0; r < ne1; r++) ts_quantize_row(type, f + r * ne0, q + rs * (size_t)r, ne0);
        free(f);
        data = q;
    }
    int64_t ne[2] = {ne0, ne1};
    ts_status st = ts_gguf_writer_add_tensor(w, name, type, ne1 == 1 ? 1 : 2, ne, data);
    if (st != TS_OK) die(name, st);
    blobs[n_blobs++] = data;
}

/* GPT-2 byte-to-unicode: the printable bytes map to themselves, the others
 * to U+0100 + k in byte order. Writes the UTF-8 of byte b's character. */
static void byte_char(int b, char *out)
{
    int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    unsigned cp;
    if (printable) {
        cp = (unsigned)b;
    } else {
        int k = 0;
        for (int c = 0; c < b; c++) {
            int p = (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff);
            if (!p) k++;
        }
        cp = 256u + (unsigned)k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

/* llama.cpp's llama_ftype of a file whose weights are all `type` (the K-quants:
 * their _S mixes; informational only). */
static uint32_t file_type(ts_type type)
{
    switch (type) {
    case TS_TYPE_F32: return 0;
    case TS_TYPE_F16: return 1;
    case TS_TYPE_Q4_0: return 2;
    case TS_TYPE_Q4_1: return 3;
    case TS_TYPE_Q5_0: return 8;
    case TS_TYPE_Q5_1: return 9;
    case TS_TYPE_Q2_K: return 10;
    case TS_TYPE_Q3_K: return 11;
    case TS_TYPE_Q4_K: return 14;
    case TS_TYPE_Q5_K: return 16;
    case TS_TYPE_Q6_K: return 18;
    case TS_TYPE_IQ4_NL: return 25;
    case TS_TYPE_BF16: return 32;
    default: return 7; /* Q8_0 */
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: make_tiny_llama OUT.gguf [--n-layer N] [--n-embd N] [--n-head N] "
                        "[--n-head-kv N] [--n-ff N] [--n-vocab N] [--n-ctx N] [--rope-base F] "
                        "[--rms-eps F] [--seed N] [--type F32|F16|BF16|Q4_0|...|Q6_K] [--tied 0|1] "
                        "[--arch llama|qwen2|qwen3] [--head-dim N] [--rope-scaling yarn] "
                        "[--rope-scaling-factor F] [--rope-orig-ctx N]\n");
        return 2;
    }
    const char *out = argv[1];
    long n_layer = 2, n_embd = 64, n_head = 4, n_head_kv = 4, n_ff = 128, n_vocab = 96, n_ctx = 128;
    double rope_base = 10000.0, rms_eps = 1e-5;
    unsigned long long seed = 1;
    int tied = 0;
    const char *tname = "F32";
    const char *arch = "llama";
    long head_dim = 0; /* 0: n_embd / n_head */
    const char *rope_scaling = NULL;
    double rope_scaling_factor = 0.0;
    long rope_orig_ctx = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--n-layer")) n_layer = atol(v);
        else if (!strcmp(k, "--n-embd")) n_embd = atol(v);
        else if (!strcmp(k, "--n-head")) n_head = atol(v);
        else if (!strcmp(k, "--n-head-kv")) n_head_kv = atol(v);
        else if (!strcmp(k, "--n-ff")) n_ff = atol(v);
        else if (!strcmp(k, "--n-vocab")) n_vocab = atol(v);
        else if (!strcmp(k, "--n-ctx")) n_ctx = atol(v);
        else if (!strcmp(k, "--rope-base")) rope_base = atof(v);
        else if (!strcmp(k, "--rms-eps")) rms_eps = atof(v);
        else if (!strcmp(k, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--type")) tname = v;
        else if (!strcmp(k, "--tied")) tied = atoi(v);
        else if (!strcmp(k, "--arch")) arch = v;
        else if (!strcmp(k, "--head-dim")) head_dim = atol(v);
        else if (!strcmp(k, "--rope-scaling")) rope_scaling = v;
        else if (!strcmp(k, "--rope-scaling-factor")) rope_scaling_factor = atof(v);
        else if (!strcmp(k, "--rope-orig-ctx")) rope_orig_ctx = atol(v);
        else {
            fprintf(stderr, "make_tiny_llama: unknown option %s\n", k);
            return 2;
        }
    }
    ts_type type;
    if (!ts_type_from_name(tname, &type) || !ts_type_has_vec_dot(type)) {
        fprintf(stderr, "make_tiny_llama: unsupported --type %s\n", tname);
        return 2;
    }
    const int is_llama = !strcmp(arch, "llama"), is_qwen2 = !strcmp(arch, "qwen2"),
              is_qwen3 = !strcmp(arch, "qwen3");
    if (!is_llama && !is_qwen2 && !is_qwen3) {
        fprintf(stderr, "make_tiny_llama: unsupported --arch %s\n", arch);
        return 2;
    }
    if (n_head <= 0 || n_head_kv <= 0 || n_embd % n_head || n_head % n_head_kv ||
        (n_embd / n_head) % 2 || n_vocab < 3 || n_layer < 1) {
        fprintf(stderr, "make_tiny_llama: bad shape (n_embd %% n_head, n_head %% n_head_kv, even head dim)\n");
        return 2;
    }
    /* Only qwen3 files say their head dim (attention.key_length): llama.cpp's
     * llama and qwen2 graphs take n_embd / n_head. */
    if (head_dim && (head_dim % 2 || (!is_qwen3 && head_dim != n_embd / n_head))) {
        fprintf(stderr, "make_tiny_llama: --head-dim must be even, and n_embd / n_head unless --arch qwen3\n");
        return 2;
    }
    if (rope_scaling && (strcmp(rope_scaling, "yarn") || rope_scaling_factor <= 1.0 || rope_orig_ctx <= 0)) {
        fprintf(stderr, "make_tiny_llama: --rope-scaling yarn needs --rope-scaling-factor > 1 and --rope-orig-ctx\n");
        return 2;
    }
    long hd = head_dim ? head_dim : n_embd / n_head;
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
    if (!rng_state) rng_state = 1;
    for (int i = 0; i < 8; i++) rng_next();

    ts_gguf_writer *w = ts_gguf_writer_new();
    if (!w) die("writer_new", TS_ERR_NOMEM);
    ts_gguf_writer_set_str(w, "general.architecture", arch);
    char name[160];
    snprintf(name, sizeof name, "tiny-%s-L%ld-E%ld-H%ld-KV%ld-FF%ld-V%ld-%s%s", arch, n_layer, n_embd,
             n_head, n_head_kv, n_ff, n_vocab, tname, tied ? "-tied" : "");
    if (head_dim) snprintf(name + strlen(name), sizeof name - strlen(name), "-HD%ld", hd);
    if (rope_scaling) snprintf(name + strlen(name), sizeof name - strlen(name), "-%s", rope_scaling);
    ts_gguf_writer_set_str(w, "general.name", name);
    ts_gguf_writer_set_u32(w, "general.file_type", file_type(type));
    char key[96];
#define K(s) (snprintf(key, sizeof key, "%s." s, arch), key)
    ts_gguf_writer_set_u32(w, K("context_length"), (uint32_t)n_ctx);
    ts_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)n_embd);
    ts_gguf_writer_set_u32(w, K("block_count"), (uint32_t)n_layer);
    ts_gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)n_ff);
    ts_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)n_head);
    ts_gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)n_head_kv);
    if (is_qwen3) {
        /* as convert_hf_to_gguf writes Qwen3: the head dim, no rope.dimension_count */
        ts_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hd);
        ts_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hd);
    }
    /* llama files carry rope.dimension_count and vocab_size; Qwen2/Qwen3 files
     * have neither (llama.cpp defaults n_rot to the head dim) */
    if (is_llama) ts_gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)hd);
    ts_gguf_writer_set_f32(w, K("rope.freq_base"), (float)rope_base);
    if (rope_scaling) {
        ts_gguf_writer_set_str(w, K("rope.scaling.type"), rope_scaling);
        ts_gguf_writer_set_f32(w, K("rope.scaling.factor"), (float)rope_scaling_factor);
        ts_gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), (uint32_t)rope_orig_ctx);
    }
    ts_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), (float)rms_eps);
    if (is_llama) ts_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)n_vocab);
#undef K

    /* tokenizer */
    ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    ts_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
    ts_str *toks = calloc((size_t)n_vocab, sizeof *toks);
    char (*buf)[24] = calloc((size_t)n_vocab, 24);
    int32_t *ttype = calloc((size_t)n_vocab, sizeof *ttype);
    if (!toks || !buf || !ttype) die("calloc", TS_ERR_NOMEM);
    for (long i = 0; i < n_vocab; i++) {
        if (i < 256) byte_char((int)i, buf[i]);
        else snprintf(buf[i], 24, "<t%ld>", i);
        toks[i].ptr = buf[i];
        toks[i].len = strlen(buf[i]);
        ttype[i] = (i == 1 || i == 2) ? 3 : 1;
    }
    ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n_vocab);
    ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, ttype, (uint64_t)n_vocab);
    ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", toks, 0);
    ts_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    ts_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    /* Qwen files ask for no BOS (the tests feed ids, BOS included, directly) */
    ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", is_llama);

    /* tensors, in this order (the random stream follows it) */
    const float a_e = sqrtf(3.0f / (float)n_embd);
    const float a_ff = sqrtf(3.0f / (float)n_ff);
    const float a_o = sqrtf(3.0f / (float)(n_head * hd));
    add(w, "token_embd.weight", type, n_embd, n_vocab, 2.0f * a_e, 0.0f);
    for (long l = 0; l < n_layer; l++) {
        char t[64];
#define T(s) (snprintf(t, sizeof t, "blk.%ld." s, l), t)
        add(w, T("attn_norm.weight"), TS_TYPE_F32, n_embd, 1, 0.1f, 1.0f);
        add(w, T("attn_q.weight"), type, n_embd, n_head * hd, a_e, 0.0f);
        add(w, T("attn_k.weight"), type, n_embd, n_head_kv * hd, a_e, 0.0f);
        add(w, T("attn_v.weight"), type, n_embd, n_head_kv * hd, a_e, 0.0f);
        if (is_qwen2) {
            add(w, T("attn_q.bias"), TS_TYPE_F32, n_head * hd, 1, 0.5f, 0.0f);
            add(w, T("attn_k.bias"), TS_TYPE_F32, n_head_kv * hd, 1, 0.5f, 0.0f);
            add(w, T("attn_v.bias"), TS_TYPE_F32, n_head_kv * hd, 1, 0.5f, 0.0f);
        }
        add(w, T("attn_output.weight"), type, n_head * hd, n_embd, a_o, 0.0f);
        if (is_qwen3) {
            add(w, T("attn_q_norm.weight"), TS_TYPE_F32, hd, 1, 0.1f, 1.0f);
            add(w, T("attn_k_norm.weight"), TS_TYPE_F32, hd, 1, 0.1f, 1.0f);
        }
        add(w, T("ffn_norm.weight"), TS_TYPE_F32, n_embd, 1, 0.1f, 1.0f);
        add(w, T("ffn_gate.weight"), type, n_embd, n_ff, a_e, 0.0f);
        add(w, T("ffn_up.weight"), type, n_embd, n_ff, a_e, 0.0f);
        add(w, T("ffn_down.weight"), type, n_ff, n_embd, a_ff, 0.0f);
#undef T
    }
    add(w, "output_norm.weight", TS_TYPE_F32, n_embd, 1, 0.1f, 1.0f);
    if (!tied) add(w, "output.weight", type, n_embd, n_vocab, 2.0f * a_e, 0.0f);

    ts_status st = ts_gguf_writer_write(w, out);
    if (st != TS_OK) die("write", st);
    ts_gguf_writer_free(w);
    for (int i = 0; i < n_blobs; i++) free(blobs[i]);
    free(toks);
    free(buf);
    free(ttype);
    printf("%s\n", name);
    return 0;
}
