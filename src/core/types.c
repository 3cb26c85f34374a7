/*
 * types.c — the element type table. Block sizes and byte sizes are those of
 * ggml's block structs (and gguf-py's GGML_QUANT_SIZES), so that row sizes
 * computed here match every GGUF writer.
 */
#include "core/core-impl.h"

#include <strings.h>

#define QK 32   /* elements per legacy block */
#define QK_K 256 /* elements per K-quant super-block */

static const ts_type_traits traits[TS_TYPE_COUNT] = {
    [TS_TYPE_F32] = {"F32", 1, 4, false},
    [TS_TYPE_F16] = {"F16", 1, 2, false},
    [TS_TYPE_Q4_0] = {"Q4_0", QK, 2 + QK / 2, true},
    [TS_TYPE_Q4_1] = {"Q4_1", QK, 4 + QK / 2, true},
    [TS_TYPE_Q5_0] = {"Q5_0", QK, 2 + 4 + QK / 2, true},
    [TS_TYPE_Q5_1] = {"Q5_1", QK, 4 + 4 + QK / 2, true},
    [TS_TYPE_Q8_0] = {"Q8_0", QK, 2 + QK, true},
    /* ggml's block_q8_1 is {half d, half s, int8 qs[32]} = 36 bytes;
     * gguf-py still lists 40 (the old float layout). Q8_1 is an activation
     * format and does not appear in model files. */
    [TS_TYPE_Q8_1] = {"Q8_1", QK, 4 + QK, true},
    [TS_TYPE_Q2_K] = {"Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 4, true},
    [TS_TYPE_Q3_K] = {"Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2, true},
    [TS_TYPE_Q4_K] = {"Q4_K", QK_K, 4 + 12 + QK_K / 2, true},
    [TS_TYPE_Q5_K] = {"Q5_K", QK_K, 4 + 12 + QK_K / 8 + QK_K / 2, true},
    [TS_TYPE_Q6_K] = {"Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, true},
    [TS_TYPE_Q8_K] = {"Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2, true},
    [TS_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 2 + QK_K / 4, true},
    [TS_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32, true},
    [TS_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 2 + 3 * QK_K / 8, true},
    [TS_TYPE_IQ1_S] = {"IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16, true},
    [TS_TYPE_IQ4_NL] = {"IQ4_NL", QK, 2 + QK / 2, true},
    [TS_TYPE_IQ3_S] = {"IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64, true},
    [TS_TYPE_IQ2_S] = {"IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 32, true},
    [TS_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2, true},
    [TS_TYPE_I8] = {"I8", 1, 1, false},
    [TS_TYPE_I16] = {"I16", 1, 2, false},
    [TS_TYPE_I32] = {"I32", 1, 4, false},
    [TS_TYPE_I64] = {"I64", 1, 8, false},
    [TS_TYPE_F64] = {"F64", 1, 8, false},
    [TS_TYPE_IQ1_M] = {"IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, true},
    [TS_TYPE_BF16] = {"BF16", 1, 2, false},
    [TS_TYPE_TQ1_0] = {"TQ1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2, true},
    [TS_TYPE_TQ2_0] = {"TQ2_0", QK_K, QK_K / 4 + 2, true},
    [TS_TYPE_MXFP4] = {"MXFP4", QK, 1 + QK / 2, true},
    [TS_TYPE_NVFP4] = {"NVFP4", 64, 4 + 64 / 2, true},
    [TS_TYPE_Q1_0] = {"Q1_0", 128, 2 + 128 / 8, true},
};

bool ts_type_valid(int64_t id) {
    return id >= 0 && id < TS_TYPE_COUNT && traits[id].name != NULL;
}

const ts_type_traits *ts_type_get(ts_type type) {
    TS_ASSERT(ts_type_valid(type));
    return &traits[type];
}

const char *ts_type_name(int64_t id) { return ts_type_valid(id) ? traits[id].name : "?"; }

bool ts_type_from_name(const char *name, ts_type *out) {
    for (int i = 0; i < TS_TYPE_COUNT; i++) {
        if (traits[i].name && strcasecmp(traits[i].name, name) == 0) {
            *out = (ts_type)i;
            return true;
        }
    }
    return false;
}

bool ts_type_row_size(ts_type type, int64_t n, size_t *out) {
    if (!ts_type_valid(type) || n < 0) return false;
    const ts_type_traits *t = &traits[type];
    if (n % t->block_size != 0) return false;
    uint64_t bytes;
    if (!ts_mul_u64((uint64_t)(n / t->block_size), t->type_size, &bytes)) return false;
    if (bytes > SIZE_MAX) return false;
    *out = (size_t)bytes;
    return true;
}
