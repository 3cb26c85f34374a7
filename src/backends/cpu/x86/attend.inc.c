/*
 * attend.inc.c — the x86 lane helpers of the fused attention (included by
 * kernels.inc.c after its lane vectors: RP_LANES = 16 queries per block on
 * AVX-512, 8 on AVX2); the kernel itself, one query per lane, is
 * attend-common.inc.c. _mm*_max_ps(a, b) is a > b ? a : b (b when either
 * is a NaN), the reference softmax's max; vcvtps2ph rounds to nearest even.
 */

#define AV_W    RP_LANES
#define AV_DIMS (X86_AVX512 ? 16 : 8) /* dims of o held in registers at a time */

#if X86_AVX512
typedef __mmask16 av_mask;
static inline rp_vf av_load(const float *p) { return _mm512_loadu_ps(p); }
static inline rp_vf av_max(rp_vf a, rp_vf b) { return _mm512_max_ps(a, b); }
static inline rp_vf av_div(rp_vf a, rp_vf b) { return _mm512_div_ps(a, b); }
static inline av_mask av_valid(const int32_t *lens, int64_t t) {
    return _mm512_cmpgt_epi32_mask(_mm512_loadu_si512(lens), _mm512_set1_epi32((int32_t)t));
}
static inline rp_vf av_select(av_mask m, rp_vf yes, rp_vf no) {
    return _mm512_mask_blend_ps(m, no, yes);
}
static inline rp_vf av_exp(rp_vf x) {
    const __m256 lo = exp8(_mm512_castps512_ps256(x)), hi = exp8(_mm512_extractf32x8_ps(x, 1));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}
static inline rp_vf av_round_f16(rp_vf x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#else
typedef __m256 av_mask;
static inline rp_vf av_load(const float *p) { return _mm256_loadu_ps(p); }
static inline rp_vf av_max(rp_vf a, rp_vf b) { return _mm256_max_ps(a, b); }
static inline rp_vf av_div(rp_vf a, rp_vf b) { return _mm256_div_ps(a, b); }
static inline av_mask av_valid(const int32_t *lens, int64_t t) {
    const __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)lens);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(l, _mm256_set1_epi32((int32_t)t)));
}
static inline rp_vf av_select(av_mask m, rp_vf yes, rp_vf no) {
    return _mm256_blendv_ps(no, yes, m);
}
static inline rp_vf av_exp(rp_vf x) { return exp8(x); }
static inline rp_vf av_round_f16(rp_vf x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

/* k halves to floats. */
static inline void av_f16_row(const uint16_t *h, float *o, int64_t k) {
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) _mm256_storeu_ps(o + i, load8_f16(h + i));
    for (; i < k; i++) o[i] = _cvtsh_ss(h[i]);
}

#include "backends/cpu/attend-common.inc.c"
