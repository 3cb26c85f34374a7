/*
 * llama.c — the llama architecture (Llama 2/3, TinyLlama, Mistral, SmolLM2):
 * the llama-family decoder (decoder.c) with NORMAL-layout RoPE (adjacent
 * pairs rotate) and no extras.
 */
#include "models/models-impl.h"

static ts_status llama_load(ts_model *m) { return ts_decoder_load(m, TS_ROPE_NORMAL, 0); }

const ts_arch ts_arch_llama = {
    .name = "llama",
    .load = llama_load,
    .build = ts_decoder_build,
    .max_nodes = ts_decoder_max_nodes,
};
