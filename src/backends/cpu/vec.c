/*
 * vec.c — the scalar path's vector primitives (struct cpu_path): the
 * reference every ISA path reproduces bit for bit. Each is the contract's
 * arithmetic written out (core/fmath-impl.h): float sums on TS_LANES
 * partials folded in the fixed tree, one rounding per operation, ts_expf
 * for e^x.
 */
#include "backends/cpu/cpu-impl.h"
#include "core/fmath-impl.h"

#include <math.h>

float ts_cpu_dot_f16(const uint16_t *x, const uint16_t *y, int64_t n) {
    float p[TS_LANES] = {0};
    for (int64_t i = 0; i < n; i++) p[i % TS_LANES] += cpu_f16(x[i]) * cpu_f16(y[i]);
    return ts_lanes_sum(p);
}

float ts_cpu_dot_f32(const float *x, const float *y, int64_t n) {
    return ts_vec_dot(TS_TYPE_F32, x, y, n);
}

void ts_cpu_mad_f16(float *acc, const uint16_t *v, float p, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc[i] += cpu_f16(v[i]) * p;
}

void ts_cpu_mad_f32(float *acc, const float *v, float p, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc[i] += v[i] * p;
}

/* p_t = e_t · (1/S): s_t = scale·p_t, m = max s_t, e_t = ts_expf(s_t − m),
 * S = Σ e_t on TS_LANES partials (term t to partial t mod TS_LANES). */
void ts_cpu_softmax(float *p, int64_t n, float scale) {
    float max = -INFINITY;
    for (int64_t t = 0; t < n; t++) {
        p[t] *= scale;
        max = max > p[t] ? max : p[t];
    }
    float part[TS_LANES] = {0};
    for (int64_t t = 0; t < n; t++) {
        p[t] = ts_expf(p[t] - max);
        part[t % TS_LANES] += p[t];
    }
    const float inv = 1.0f / ts_lanes_sum(part);
    for (int64_t t = 0; t < n; t++) p[t] *= inv;
}

/* PyTorch: silu(x)·g, silu(x) = x·sigmoid(x) = x/(1 + e^-x). */
void ts_cpu_silu_mul(float *y, const float *x, const float *g, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + ts_expf(-x[i])) * g[i];
}
