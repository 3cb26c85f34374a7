/*
 * attend-common.inc.c — fused attention on any SIMD path's lanes, one
 * query per lane (included by x86/attend.inc.c and arm/attend.inc.c after
 * their lane helpers). A block's queries share the KV head and the list,
 * so each K and V row is read once for all of them and broadcast against
 * the lanes. The arithmetic is attention.c's reference, lane by lane:
 *
 *  - q rounded to F16 with an F16 cache by ts_fp32_to_fp16, as the
 *    reference's ts_quantize_row;
 *  - score: partial l (l < 32) of a lane = 0 + q[l]·k[l] + q[l+32]·k[l+32]
 *    + ..., folded in the contract's tree (w = 16, 8 fused into the first
 *    step, then 4, 2, 1);
 *  - three passes over the list: the scores and their max (K rows read in
 *    chunks of 32), the weights (e_t, their partial sums, · (1/S)), then
 *    o += v_t·p_t (V rows read in chunks of 32), t in list order;
 *  - a lane past its own length gets score −inf (e = 0: no max or sum
 *    change) and its o is left as it is (a select, not an add of 0·v,
 *    which could turn −0 into +0);
 *  - o lives in scratch as (k, W) and is updated AV_DIMS dims at a time
 *    in registers over a chunk's rows.
 *
 * The including file defines, besides kernels-common.inc.c's lane vectors
 * and rp_set1, rp_add, rp_sub, rp_mul: AV_W (= RP_LANES), AV_DIMS, the
 * type av_mask, av_load (W floats), av_max(mx, s) = mx > s ? mx : s (the
 * reference softmax's max, NaNs included), av_div, av_valid (the lanes
 * whose length exceeds t), av_select, av_exp (ts_expf's operations),
 * av_round_f16 (to F16 and back, round to nearest even) and av_f16_row (k
 * halves to floats).
 *
 * Legend: W = lanes (queries per block), k = head dim, t = list entry,
 * i = dim, l = partial.
 */

/* Rows cells[0..n) of a cache (from base, stride rs) as floats: (n, k). */
static void av_rows(const cpu_attend_args *a, const uint8_t *base, const int32_t *cells, int64_t n,
                    float *out) {
    const int64_t k = a->dim;
    for (int64_t t = 0; t < n; t++) {
        const uint8_t *row = base + (size_t)cells[t] * a->rs;
        if (a->half)
            av_f16_row((const uint16_t *)(const void *)row, out + t * k, k);
        else
            memcpy(out + t * k, row, (size_t)k * sizeof(float));
    }
}

/* Partial l of the score: 0 + Σ q[i]·k[i] over i ≡ l (mod 32), i in order. */
static inline rp_vf av_partial(const float *qt, const float *kr, int64_t k, int l) {
    rp_vf p = rp_zero_f();
    for (int64_t i = l; i < k; i += TS_LANES)
        p = rp_add(p, rp_mul(av_load(qt + i * AV_W), rp_set1(kr[i])));
    return p;
}

/* The scores of one row for every lane: the 32 partials folded. */
static inline rp_vf av_score(const float *qt, const float *kr, int64_t k) {
    rp_vf f[8];
    for (int l = 0; l < 8; l++)
        f[l] = rp_add(rp_add(av_partial(qt, kr, k, l), av_partial(qt, kr, k, l + 16)),
                      rp_add(av_partial(qt, kr, k, l + 8), av_partial(qt, kr, k, l + 24)));
    for (int w = 4; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) f[l] = rp_add(f[l], f[l + w]);
    return f[0];
}

/* o (k, W) = o + v_t·w_t for the chunk's nc rows vr (nc, k) and weights
 * wt (nc, W), row t only in lanes with t0 + t < len. */
static void av_update_o(float *ot, const float *vr, const float *wt, int64_t k, int64_t nc,
                        int64_t t0, int32_t lmin, const int32_t *lens) {
    for (int64_t i0 = 0; i0 < k; i0 += AV_DIMS) {
        const int64_t nd = k - i0 < AV_DIMS ? k - i0 : AV_DIMS;
        rp_vf o[AV_DIMS];
        for (int64_t d = 0; d < nd; d++) o[d] = av_load(ot + (i0 + d) * AV_W);
        for (int64_t t = 0; t < nc; t++) {
            const rp_vf w = av_load(wt + t * AV_W);
            const float *v = vr + t * k + i0;
            if (t0 + t < lmin) {
                for (int64_t d = 0; d < nd; d++) o[d] = rp_add(o[d], rp_mul(rp_set1(v[d]), w));
            } else {
                const av_mask m = av_valid(lens, t0 + t);
                for (int64_t d = 0; d < nd; d++)
                    o[d] = av_select(m, rp_add(o[d], rp_mul(rp_set1(v[d]), w)), o[d]);
            }
        }
        for (int64_t d = 0; d < nd; d++) rp_store(ot + (i0 + d) * AV_W, o[d]);
    }
}

/* Pass 1: wt[t] = the scaled scores (−inf past a lane's length); returns
 * their running max, t in order, as the reference's softmax takes it. */
static rp_vf av_scores(const cpu_attend_args *a, const float *qt, float *wt, float *rows,
                       const int32_t *lens, int64_t lmax) {
    const int64_t k = a->dim;
    rp_vf mx = rp_set1(-INFINITY);
    for (int64_t t0 = 0; t0 < lmax; t0 += TS_LANES) {
        const int64_t nc = lmax - t0 < TS_LANES ? lmax - t0 : TS_LANES;
        av_rows(a, a->k, a->cells + t0, nc, rows);
        for (int64_t t = 0; t < nc; t++) {
            rp_vf s = rp_mul(av_score(qt, rows + t * k, k), rp_set1(a->scale));
            s = av_select(av_valid(lens, t0 + t), s, rp_set1(-INFINITY));
            rp_store(wt + (t0 + t) * AV_W, s);
            mx = av_max(mx, s); /* mx > s ? mx : s */
        }
    }
    return mx;
}

/* Pass 2: wt[t] = e_t · (1/S), rounded to F16 with an F16 cache; lanes
 * past their length get e = 0, which leaves their partial sums as they are. */
static void av_weights(const cpu_attend_args *a, float *wt, int64_t lmax, rp_vf mx) {
    rp_vf part[TS_LANES];
    for (int l = 0; l < TS_LANES; l++) part[l] = rp_zero_f();
    for (int64_t t = 0; t < lmax; t++) {
        const rp_vf e = av_exp(rp_sub(av_load(wt + t * AV_W), mx));
        rp_store(wt + t * AV_W, e);
        part[t % TS_LANES] = rp_add(part[t % TS_LANES], e);
    }
    for (int w = TS_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) part[l] = rp_add(part[l], part[l + w]);
    const rp_vf inv = av_div(rp_set1(1.0f), part[0]);
    for (int64_t t = 0; t < lmax; t++) {
        const rp_vf p = rp_mul(av_load(wt + t * AV_W), inv);
        rp_store(wt + t * AV_W, a->half ? av_round_f16(p) : p);
    }
}

static void attend(const cpu_attend_args *a) {
    const int64_t k = a->dim;
    float *qt = a->scratch;               /* (k, W) the queries, one per lane */
    float *ot = qt + k * AV_W;            /* (k, W) */
    float *wt = ot + k * AV_W;            /* (max_len, W) scores, then weights */
    float *rows = wt + a->max_len * AV_W; /* (32, k) a chunk's K or V rows */
    int32_t lens[AV_W], lmax = 0, lmin = INT32_MAX;
    for (int l = 0; l < a->nq; l++) {
        lmax = a->len[l] > lmax ? a->len[l] : lmax;
        lmin = a->len[l] < lmin ? a->len[l] : lmin;
    }
    for (int l = 0; l < AV_W; l++) lens[l] = l < a->nq ? a->len[l] : lmax; /* idle lanes */
    for (int64_t i = 0; i < k; i++) {
        float *row = qt + i * AV_W;
        for (int l = 0; l < AV_W; l++) {
            row[l] = l < a->nq ? a->q[l][i] : 0.0f;
            ot[i * AV_W + l] = 0.0f;
        }
        if (a->half) rp_store(row, av_round_f16(av_load(row))); /* to F16, nearest even */
    }
    av_weights(a, wt, lmax, av_scores(a, qt, wt, rows, lens, lmax));
    for (int64_t t0 = 0; t0 < lmax; t0 += TS_LANES) { /* pass 3: o = Σ_t v_t·p_t */
        const int64_t nc = lmax - t0 < TS_LANES ? lmax - t0 : TS_LANES;
        av_rows(a, a->v, a->cells + t0, nc, rows);
        av_update_o(ot, rows, wt + t0 * AV_W, k, nc, t0, lmin, lens);
    }
    for (int l = 0; l < a->nq; l++)
        for (int64_t i = 0; i < k; i++) a->out[l][i] = ot[i * AV_W + l];
}
