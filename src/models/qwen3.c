/*
 * qwen3.c — the qwen3 architecture (Qwen3 dense): the llama-family decoder
 * (decoder.c) with an RMSNorm over every query and key head before RoPE
 * (attn_q_norm / attn_k_norm), no projection biases, NEOX-layout RoPE. The
 * head dimension comes from attention.key_length and may differ from
 * n_embd / n_head.
 */
#include "models/models-impl.h"

static ts_status qwen3_load(ts_model *m) {
    return ts_decoder_load(m, TS_ROPE_NEOX, TS_DECODER_QK_NORM);
}

const ts_arch ts_arch_qwen3 = {
    .name = "qwen3",
    .load = qwen3_load,
    .build = ts_decoder_build,
    .max_nodes = ts_decoder_max_nodes,
};
