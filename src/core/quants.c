/*
 * quants.c — the table of reference kernels per type and the public entry
 * points of tessera/quant.h.
 */
#include "core/quant-impl.h"

#include <stdio.h>
#include <string.h>

typedef struct kernels {
    ts_to_float_fn to_float;
    ts_from_float_fn from_float;
    ts_vec_dot_fn vec_dot; /* NULL for activation-only formats */
    ts_type dot_type;
} kernels;

#define K(t, dot) {ts_dequantize_row_##t, ts_quantize_row_##t, ts_vec_dot_##t, dot}

static const kernels table[TS_TYPE_COUNT] = {
    [TS_TYPE_F32] = K(f32, TS_TYPE_F32),
    [TS_TYPE_F16] = K(f16, TS_TYPE_F16),
    [TS_TYPE_BF16] = K(bf16, TS_TYPE_BF16),
    [TS_TYPE_Q4_0] = K(q4_0, TS_TYPE_Q8_0),
    [TS_TYPE_Q4_1] = K(q4_1, TS_TYPE_Q8_1),
    [TS_TYPE_Q5_0] = K(q5_0, TS_TYPE_Q8_0),
    [TS_TYPE_Q5_1] = K(q5_1, TS_TYPE_Q8_1),
    [TS_TYPE_Q8_0] = K(q8_0, TS_TYPE_Q8_0),
    [TS_TYPE_Q8_1] = {ts_dequantize_row_q8_1, ts_quantize_row_q8_1, NULL, TS_TYPE_Q8_1},
    [TS_TYPE_IQ4_NL] = K(iq4_nl, TS_TYPE_Q8_0),
    [TS_TYPE_Q2_K] = K(q2_K, TS_TYPE_Q8_K),
    [TS_TYPE_Q3_K] = K(q3_K, TS_TYPE_Q8_K),
    [TS_TYPE_Q4_K] = K(q4_K, TS_TYPE_Q8_K),
    [TS_TYPE_Q5_K] = K(q5_K, TS_TYPE_Q8_K),
    [TS_TYPE_Q6_K] = K(q6_K, TS_TYPE_Q8_K),
    [TS_TYPE_Q8_K] = {ts_dequantize_row_q8_K, ts_quantize_row_q8_K, NULL, TS_TYPE_Q8_K},
};

#undef K

static const kernels *get(ts_type type) {
    TS_ASSERT(ts_type_has_kernels(type));
    return &table[type];
}

static void check_n(ts_type type, int64_t n) {
    TS_ASSERT(n >= 0 && n % ts_type_get(type)->block_size == 0);
}

bool ts_type_has_kernels(ts_type type) {
    return ts_type_valid(type) && table[type].to_float != NULL;
}

bool ts_type_has_vec_dot(ts_type type) {
    return ts_type_has_kernels(type) && table[type].vec_dot != NULL;
}

ts_status ts_type_check_kernels(ts_type type, const char *what) {
    if (ts_type_has_kernels(type)) return TS_OK;
    char list[256] = "";
    size_t used = 0;
    for (int t = 0; t < TS_TYPE_COUNT; t++) {
        if (!ts_type_has_kernels((ts_type)t)) continue;
        int k = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                         ts_type_name(t));
        if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
    }
    return ts_error(TS_ERR_UNSUPPORTED, "%s: type %s is not supported (supported: %s)", what,
                    ts_type_name(type), list);
}

ts_type ts_type_dot_type(ts_type type) { return get(type)->dot_type; }

void ts_dequantize_row(ts_type type, const void *x, float *y, int64_t n) {
    check_n(type, n);
    get(type)->to_float(x, y, n);
}

void ts_quantize_row(ts_type type, const float *x, void *y, int64_t n) {
    check_n(type, n);
    get(type)->from_float(x, y, n);
}

float ts_vec_dot(ts_type type, const void *x, const void *y, int64_t n) {
    check_n(type, n);
    TS_ASSERT(ts_type_has_vec_dot(type));
    return get(type)->vec_dot(x, y, n);
}
