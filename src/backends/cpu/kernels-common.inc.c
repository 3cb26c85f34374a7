/*
 * kernels-common.inc.c — the parts of a SIMD path's kernels that do not
 * depend on the instruction set, included by x86/kernels.inc.c and
 * arm/kernels.inc.c once their lane vectors are defined: RP_LANES, the
 * types rp_vf (float lanes) and rp_vi (int32 lanes), rp_zero_f,
 * rp_zero_i, rp_cvt, rp_add_i, rp_store, rp_prefetch with RP_AHEAD_BYTES,
 * and MAX_TOK; and, defined after the include, quantize_block_q8 (one
 * block of 32 values to Q8 quants, their sum, and the scale d): the float
 * gemm, the repacked-gemm skeleton, the Q8_0/Q8_1 converters and the
 * path table.
 */

/* One output row per (token, weight row): the float dot of each. */
#define FLOAT_GEMM(name, T, DOT)                                                                   \
    static void name(const cpu_gemm_args *a) {                                                     \
        for (int64_t j = 0; j < a->n_tok; j++) {                                                   \
            const T *y = (const T *)(const void *)(a->x + (size_t)j * a->x_rs);                    \
            float *o = a->out + (size_t)j * a->out_rs;                                             \
            for (int64_t i = 0; i < a->n_rows; i++)                                                \
                o[i] = DOT((const T *)(const void *)(a->w + (size_t)i * a->w_rs), y, a->K);        \
        }                                                                                          \
    }

/* Rows [r0, r0 + RP_LANES) of a group's accumulators to the output (those
 * below n_rows). */
static inline void rp_store_rows(const cpu_gemm_args *a, int64_t r0, const rp_vf *acc) {
    const int64_t nr = a->n_rows - r0 < RP_LANES ? a->n_rows - r0 : RP_LANES;
    if (nr <= 0) return;
    for (int64_t j = 0; j < a->n_tok; j++) {
        float v[RP_LANES];
        rp_store(v, acc[j]);
        memcpy(a->out + (size_t)j * a->out_rs + r0, v, (size_t)nr * sizeof(float));
    }
}

/* One kernel per repacked type (blocks of QK elements). For every group G,
 * lane set h (skipped when all its rows are padding) and block b: DECODE
 * reads what every token shares (weight chunks, row scales); per token,
 * ISUM leaves the lanes' exact block sums in i0 + i1 and BLOCK adds the
 * block with the reference's formula. */
// clang-format off
#define RP_GEMM(name, rp_t, yblock, QK, DECODE, ISUM, BLOCK)                                       \
    static void name(const cpu_gemm_args *a) {                                                     \
        TS_ASSERT(a->n_tok <= MAX_TOK);                                                            \
        const int64_t nb = a->K / (QK), groups = (a->n_rows + TS_RP_ROWS - 1) / TS_RP_ROWS;        \
        const rp_t *w = (const rp_t *)(const void *)a->w;                                          \
        for (int64_t G = 0; G < groups; G++)                                                       \
            for (int h = 0; h < TS_RP_ROWS / RP_LANES; h++) {                                      \
                const int r0 = h * RP_LANES;                                                       \
                if (G * TS_RP_ROWS + r0 >= a->n_rows) break;                                       \
                rp_vf acc[MAX_TOK];                                                                \
                for (int64_t j = 0; j < a->n_tok; j++) acc[j] = rp_zero_f();                       \
                for (int64_t b = 0; b < nb; b++) {                                                 \
                    const rp_t *blk = w + G * nb + b;                                              \
                    rp_prefetch((const uint8_t *)blk + RP_AHEAD_BYTES, sizeof *blk);               \
                    DECODE                                                                         \
                    for (int64_t j = 0; j < a->n_tok; j++) {                                       \
                        const yblock *y =                                                          \
                            (const yblock *)(const void *)(a->x + (size_t)j * a->x_rs) + b;        \
                        rp_vi i0 = rp_zero_i(), i1 = rp_zero_i();                                  \
                        ISUM                                                                       \
                        const rp_vf sumi = rp_cvt(rp_add_i(i0, i1));                               \
                        BLOCK                                                                      \
                    }                                                                              \
                }                                                                                  \
                rp_store_rows(a, G * TS_RP_ROWS + r0, acc);                                        \
            }                                                                                      \
    }
// clang-format on

static float quantize_block_q8(const float *x, int8_t *qs, int *sum);

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy; /* (n/32) */
    int sum;
    for (int64_t b = 0; b < n / 32; b++)
        y[b].d = ts_fp32_to_fp16(quantize_block_q8(x + 32 * b, y[b].qs, &sum));
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy; /* (n/32) */
    for (int64_t b = 0; b < n / 32; b++) {
        int sum;
        const float d = quantize_block_q8(x + 32 * b, y[b].qs, &sum);
        y[b].d = ts_fp32_to_fp16(d);
        y[b].s = ts_fp32_to_fp16((float)sum * d);
    }
}

/* A path's table (struct cpu_path) from the kernels above and the ISA
 * file's; `extra`: more designated initializers, or nothing. Expanded by
 * each ISA file at its end, once everything it names is defined. */
// clang-format off
#define CPU_SIMD_PATH(path_name, missing_fn, extra)                                                \
    {                                                                                              \
        .name = path_name, .missing = missing_fn,                                                  \
        .gemm = {[TS_TYPE_F32] = gemm_f32, [TS_TYPE_F16] = gemm_f16, [TS_TYPE_BF16] = gemm_bf16},  \
        .gemm_rp = {[TS_TYPE_Q4_0] = gemm_rp_q4_0,                                                 \
                    [TS_TYPE_Q4_1] = gemm_rp_q4_1,                                                 \
                    [TS_TYPE_Q5_0] = gemm_rp_q5_0,                                                 \
                    [TS_TYPE_Q5_1] = gemm_rp_q5_1,                                                 \
                    [TS_TYPE_Q8_0] = gemm_rp_q8_0,                                                 \
                    [TS_TYPE_IQ4_NL] = gemm_rp_iq4_nl,                                             \
                    [TS_TYPE_Q2_K] = gemm_rp_q2_K,                                                 \
                    [TS_TYPE_Q3_K] = gemm_rp_q3_K,                                                 \
                    [TS_TYPE_Q4_K] = gemm_rp_q4_K,                                                 \
                    [TS_TYPE_Q5_K] = gemm_rp_q5_K,                                                 \
                    [TS_TYPE_Q6_K] = gemm_rp_q6_K},                                                \
        .quantize = {[TS_TYPE_Q8_0] = quantize_q8_0,                                               \
                     [TS_TYPE_Q8_1] = quantize_q8_1,                                               \
                     [TS_TYPE_Q8_K] = quantize_q8_K},                                              \
        .dot_f16 = dot_f16, .dot_f32 = dot_f32, .mad_f16 = mad_f16, .mad_f32 = mad_f32,            \
        .softmax = softmax, .silu_mul = silu_mul, .attend = attend, .attend_q = RP_LANES,          \
        extra                                                                                      \
    }
// clang-format on
