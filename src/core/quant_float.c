/*
 * quant_float.c — the float formats: F32, F16 (IEEE binary16) and BF16
 * (bfloat16), conversions rounding to nearest even as ggml and numpy do.
 * Dot products follow the reduction-order contract (fmath-impl.h): each
 * product rounded to float, summed on TS_LANES partial sums folded in the
 * fixed tree. F16 and BF16 products are exact in float (11- and 8-bit
 * significands), so only the sums round.
 */
#include "core/fmath-impl.h"
#include "core/quant-impl.h"

#include <string.h>

/* ------------------------------------------------------------ conversions */

float ts_fp16_to_fp32(uint16_t h) { return ts_half_to_float(h); }

uint16_t ts_fp32_to_fp16(float f) {
    uint32_t u = ts_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00; /* NaN: quiet */
    if (a >= 0x477ff000) return sign | 0x7c00; /* rounds to >= 65520: inf */
    if (a < 0x38800000) {
        /* result is subnormal in half: scale so that the rounding of the
         * float addition does round-to-nearest-even at 2^-24 */
        float v = ts_bits_f32(a) + 0.5f; /* 0.5 = 2^-1: ulp of v is 2^-24 */
        return sign | (uint16_t)(ts_f32_bits(v) - ts_f32_bits(0.5f));
    }
    /* normal: re-bias exponent, round mantissa from 23 to 10 bits, RNE */
    uint32_t r = a - ((uint32_t)(127 - 15) << 23);
    r += 0xfff + ((r >> 13) & 1);
    return sign | (uint16_t)(r >> 13);
}

float ts_bf16_to_fp32(uint16_t h) { return ts_bits_f32((uint32_t)h << 16); }

uint16_t ts_fp32_to_bf16(float f) {
    uint32_t u = ts_f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* NaN: quiet */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/* -------------------------------------------------------------------- F32 */

void ts_dequantize_row_f32(const void *x, float *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void ts_quantize_row_f32(const float *x, void *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

float ts_vec_dot_f32(const void *vx, const void *vy, int64_t n) {
    const float *x = vx, *y = vy;
    float p[TS_LANES] = {0};
    for (int64_t i = 0; i < n; i++) p[i % TS_LANES] += x[i] * y[i];
    return ts_lanes_sum(p);
}

/* ------------------------------------------------------------- F16, BF16 */

#define HALF_FORMAT(t, to32, from32)                                       \
    void ts_dequantize_row_##t(const void *vx, float *y, int64_t n) {      \
        const uint16_t *x = vx;                                            \
        for (int64_t i = 0; i < n; i++) y[i] = to32(x[i]);                 \
    }                                                                      \
    void ts_quantize_row_##t(const float *x, void *vy, int64_t n) {        \
        uint16_t *y = vy;                                                  \
        for (int64_t i = 0; i < n; i++) y[i] = from32(x[i]);               \
    }                                                                      \
    float ts_vec_dot_##t(const void *vx, const void *vy, int64_t n) {      \
        const uint16_t *x = vx, *y = vy;                                   \
        float p[TS_LANES] = {0};                                           \
        for (int64_t i = 0; i < n; i++) p[i % TS_LANES] += to32(x[i]) * to32(y[i]); \
        return ts_lanes_sum(p);                                            \
    }

HALF_FORMAT(f16, ts_fp16_to_fp32, ts_fp32_to_fp16)
HALF_FORMAT(bf16, ts_bf16_to_fp32, ts_fp32_to_bf16)
