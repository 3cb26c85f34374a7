/*
 * attend.inc.c — the NEON lane helpers of the fused attention (included by
 * kernels.inc.c after its lane vectors: RP_LANES = 4 queries per block);
 * the kernel itself, one query per lane, is attend-common.inc.c.
 * vmaxq_f32 is not the reference's max for NaNs (it returns the NaN), so
 * the max is a compare and a select; fcvtn rounds to FPCR's mode, round to
 * nearest even (Linux's default).
 */

#define AV_W    RP_LANES
#define AV_DIMS 16 /* dims of o held in registers at a time (of 32 registers) */

typedef uint32x4_t av_mask;
static inline rp_vf av_load(const float *p) { return vld1q_f32(p); }
static inline rp_vf av_max(rp_vf mx, rp_vf s) { return vbslq_f32(vcgtq_f32(mx, s), mx, s); }
static inline rp_vf av_div(rp_vf a, rp_vf b) { return vdivq_f32(a, b); }
static inline av_mask av_valid(const int32_t *lens, int64_t t) {
    return vcgtq_s32(vld1q_s32(lens), vdupq_n_s32((int32_t)t));
}
static inline rp_vf av_select(av_mask m, rp_vf yes, rp_vf no) { return vbslq_f32(m, yes, no); }
static inline rp_vf av_exp(rp_vf x) { return exp4(x); }
static inline rp_vf av_round_f16(rp_vf x) { return vcvt_f32_f16(vcvt_f16_f32(x)); }

/* k halves to floats. */
static inline void av_f16_row(const uint16_t *h, float *o, int64_t k) {
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) vst1q_f32(o + i, load4_f16(h + i));
    for (; i < k; i++) o[i] = cpu_f16(h[i]);
}

#include "backends/cpu/attend-common.inc.c"
