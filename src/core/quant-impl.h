/*
 * quant-impl.h — block layouts of the quantized formats (bit-identical to
 * ggml's block_* structs, so a block can be read straight from a GGUF
 * mapping) and the per-type reference kernels behind tessera/quant.h.
 *
 * Legend: QK = elements per block; d = scale, m / dmin = minimum (offset),
 * qs = packed quants, qh = high bits, all scales as IEEE half (uint16_t)
 * unless said otherwise.
 */
#ifndef TS_QUANT_IMPL_H
#define TS_QUANT_IMPL_H

#include "core/core-impl.h"
#include "tessera/quant.h"

#include <string.h>

/* ------------------------------------------------------ float bit views */

static inline uint32_t ts_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float ts_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ts_fp16_to_fp32, inline for the kernels' inner loops (block scales). */
static inline float ts_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return ts_bits_f32(sign | 0x7f800000 | man << 13); /* inf / NaN */
    if (exp != 0) return ts_bits_f32(sign | (exp + 112) << 23 | man << 13);
    /* subnormal (or zero): man · 2^-24, exact in float */
    float v = (float)man * 0x1p-24f;
    return ts_bits_f32(sign | ts_f32_bits(v));
}

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* ------------------------------------------------------- legacy (QK = 32) */

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;        /* x = (q - 8)·d */
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;     /* x = q·d + m */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;    /* (q - 16)·d */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1; /* q·d + m */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;             /* q·d */
typedef struct { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;          /* s = d·Σq */
typedef struct { uint16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;     /* kvalues[q]·d */

/* IQ4_NL's 16 levels, ascending (quant_legacy.c). */
extern const int8_t ts_iq4nl_levels[16];

/* --------------------------------------------------- K-quants (QK = 256) */

typedef struct {
    uint8_t scales[QK_K / 16]; /* 4-bit scale | 4-bit min, per 16 values */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    uint16_t d, dmin;
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales */
    uint16_t d;
} block_q3_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales and mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit scales */
    uint16_t d;
} block_q6_K;
typedef struct {
    float d;                   /* float, not half */
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sums of groups of 16 quants */
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");

/* ---------------------------------------------------------------- kernels */

/* One type's reference kernels; n is always a multiple of the block size.
 *   to_float:   x (n values of the type) → y (n floats)
 *   from_float: x (n floats) → y (n values of the type)
 *   vec_dot:    Σ x·y, x of the type, y of dot_type */
typedef void (*ts_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*ts_from_float_fn)(const float *x, void *y, int64_t n);
typedef float (*ts_vec_dot_fn)(const void *x, const void *y, int64_t n);

#define TS_DECLARE_KERNELS(t)                                   \
    void ts_dequantize_row_##t(const void *x, float *y, int64_t n); \
    void ts_quantize_row_##t(const float *x, void *y, int64_t n);   \
    float ts_vec_dot_##t(const void *x, const void *y, int64_t n);

/* quant_float.c */
TS_DECLARE_KERNELS(f32)
TS_DECLARE_KERNELS(f16)
TS_DECLARE_KERNELS(bf16)
/* quant_legacy.c; q8_1's vec_dot is unused (activation-only format) */
TS_DECLARE_KERNELS(q4_0)
TS_DECLARE_KERNELS(q4_1)
TS_DECLARE_KERNELS(q5_0)
TS_DECLARE_KERNELS(q5_1)
TS_DECLARE_KERNELS(q8_0)
TS_DECLARE_KERNELS(iq4_nl)
void ts_dequantize_row_q8_1(const void *x, float *y, int64_t n);
void ts_quantize_row_q8_1(const float *x, void *y, int64_t n);
/* quant_k.c; q8_K is activation-only (no vec_dot of its own) */
TS_DECLARE_KERNELS(q2_K)
TS_DECLARE_KERNELS(q3_K)
TS_DECLARE_KERNELS(q4_K)
TS_DECLARE_KERNELS(q5_K)
TS_DECLARE_KERNELS(q6_K)
void ts_dequantize_row_q8_K(const void *x, float *y, int64_t n);
void ts_quantize_row_q8_K(const float *x, void *y, int64_t n);

#undef TS_DECLARE_KERNELS

/* Shared helper of the quantizers (quant_legacy.c), as ggml defines it:
 * round to nearest, ties to even, via the float magic-number trick (adding
 * 1.5·2^23); valid for |fval| <= 2^22. */
int ts_nearest_int(float fval);

#endif /* TS_QUANT_IMPL_H */
