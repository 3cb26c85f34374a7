/*
 * qwen2.c — the qwen2 architecture (Qwen2, Qwen2.5, DeepSeek-R1-Distill-
 * Qwen): the llama-family decoder (decoder.c) with biases on the Q, K and
 * V projections and NEOX-layout RoPE (x[i] rotates with x[i + k/2]); YaRN
 * when the file's rope.scaling.type says so.
 */
#include "models/models-impl.h"

static ts_status qwen2_load(ts_model *m) {
    return ts_decoder_load(m, TS_ROPE_NEOX, TS_DECODER_QKV_BIAS);
}

const ts_arch ts_arch_qwen2 = {
    .name = "qwen2",
    .load = qwen2_load,
    .build = ts_decoder_build,
    .max_nodes = ts_decoder_max_nodes,
};
