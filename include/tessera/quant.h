/*
 * tessera/quant.h — reference kernels of the tensor formats: half-precision
 * conversions, and per type a dequantize, a quantize and a row dot product
 * with the activation type llama.cpp pairs it with.
 *
 * These are the plain, portable definitions (compiled with
 * -ffp-contract=off, so results are bit-exact and independent of compiler
 * contraction): block layouts are bit-identical to GGUF's, quantize equals
 * llama.cpp's reference quantization (without importance matrix) byte for
 * byte. Every faster kernel is tested against them.
 *
 * Types with kernels: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL. Others can be read from a
 * file but not computed with; ts_type_check_kernels says so by name.
 */
#ifndef TESSERA_QUANT_H
#define TESSERA_QUANT_H

#include "tessera/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* IEEE half and bfloat16 <-> float, round to nearest even (NaN stays NaN). */
float ts_fp16_to_fp32(uint16_t h);
uint16_t ts_fp32_to_fp16(float f);
float ts_bf16_to_fp32(uint16_t h);
uint16_t ts_fp32_to_bf16(float f);

/* True when `type` has reference kernels. */
bool ts_type_has_kernels(ts_type type);

/* TS_OK when `type` has kernels; otherwise TS_ERR_UNSUPPORTED with a message
 * naming `what` (a tensor name, say) and the type, and listing the types that
 * are supported. */
ts_status ts_type_check_kernels(ts_type type, const char *what);

/* The activation type `type`'s dot product takes: Q8_0 for Q4_0, Q5_0,
 * Q8_0 and IQ4_NL; Q8_1 for Q4_1 and Q5_1; Q8_K for the K-quants; the type
 * itself for F32, F16 and BF16. Asserts that the type has kernels. */
ts_type ts_type_dot_type(ts_type type);

/* x: n values of `type` (n a multiple of its block size) → y: n floats. */
void ts_dequantize_row(ts_type type, const void *x, float *y, int64_t n);

/* x: n floats → y: n values of `type` (the row size ts_type_row_size gives). */
void ts_quantize_row(ts_type type, const float *x, void *y, int64_t n);

/* True when `type` has a row dot product (activation-only formats, Q8_1 and
 * Q8_K, have none). */
bool ts_type_has_vec_dot(ts_type type);

/* Σ x[i]·y[i] over n values: x of `type`, y of ts_type_dot_type(type), in
 * the contract's order (docs/ARCHITECTURE.md, "Reduction order"): quantized
 * types sum each block exactly in integers, scale it by the type's float
 * formula, and add the blocks into one float in order; float types use the
 * TS_LANES partial sums and their fixed fold. Asserts
 * ts_type_has_vec_dot(type). */
float ts_vec_dot(ts_type type, const void *x, const void *y, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_QUANT_H */
