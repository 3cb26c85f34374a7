/*
 * fmath.c — the reduction-order contract's own transcendental functions
 * for RoPE's tables (fmath-impl.h): natural log, e^x, pow, sin and cos in
 * IEEE double arithmetic with fixed series, so every machine computes the
 * same bits whatever its libm (glibc picks among several implementations
 * at run time; other libcs differ outright). Results are then rounded to
 * float by the caller: with ~1e-16 relative error before that rounding,
 * they equal the correctly rounded float in all but vanishingly rare
 * halfway cases — and are the same everywhere in those too.
 *
 * Only +, −, ·, / and exact scaling by powers of two: no libm call, no
 * fused multiply-add (the file is compiled with -ffp-contract=off).
 */
#include "core/fmath-impl.h"

#include <float.h>

#define LN2_HI    6.93147180369123816490e-01 /* fdlibm's split of ln 2 */
#define LN2_LO    1.90821492927058770002e-10
#define PIO2_1    1.57079632673412561417e+00 /* π/2: first 33 bits */
#define PIO2_1T   6.07710050650619224932e-11 /* π/2 − PIO2_1 */
#define SQRT_HALF 0.70710678118654752440

/* x · 2^e for a normal result (|e| small: the callers' ranges). */
static double scale2(double x, int e) {
    while (e > 0) x *= 2.0, e--;
    while (e < 0) x *= 0.5, e++;
    return x;
}

/* Round to nearest, ties to even, for |x| < 2^51. */
static double round_even(double x) {
    const double big = 6755399441055744.0; /* 1.5 · 2^52 */
    return (x + big) - big;
}

double ts_log_d(double x) {
    if (!(x > 0.0) || x > DBL_MAX) return x == 0.0 ? -INFINITY : (x > 0.0 ? x : NAN);
    /* x = m · 2^e with m in [sqrt(1/2), sqrt(2)], by exact halvings */
    int e = 0;
    while (x >= 2.0) x *= 0.5, e++;
    while (x < 1.0) x *= 2.0, e--;
    if (x > 2.0 * SQRT_HALF) x *= 0.5, e++;
    /* ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| <= 0.1716: s^2k/(2k+1) */
    const double s = (x - 1.0) / (x + 1.0), s2 = s * s;
    double sum = 0.0;
    for (int k = 12; k >= 1; k--) sum = (sum + 1.0 / (double)(2 * k + 1)) * s2;
    const double ln_m = 2.0 * s + 2.0 * s * sum;
    return ((double)e * LN2_HI + ln_m) + (double)e * LN2_LO;
}

double ts_exp_d(double x) {
    if (x > 709.0) return INFINITY;
    if (!(x >= -708.0)) return x != x ? x : 0.0;
    /* x = k ln 2 + r, |r| <= ln2/2; e^r by Taylor to r^16/16! (< 1e-18) */
    const double k = round_even(x / (LN2_HI + LN2_LO));
    const double r = (x - k * LN2_HI) - k * LN2_LO;
    double p = 1.0;
    for (int n = 16; n >= 1; n--) p = 1.0 + p * r / (double)n;
    return scale2(p, (int)k);
}

double ts_pow_d(double b, double y) { return ts_exp_d(y * ts_log_d(b)); }

/* sin and cos of r, |r| <= π/4, by Taylor to r^17 and r^18 (< 1e-17). */
static double sin_poly(double r) {
    const double r2 = r * r;
    double p = 0.0;
    for (int n = 17; n >= 3; n -= 2) p = (1.0 - p) * r2 / (double)(n * (n - 1));
    return r - r * p;
}

static double cos_poly(double r) {
    const double r2 = r * r;
    double p = 0.0;
    for (int n = 18; n >= 2; n -= 2) p = (1.0 - p) * r2 / (double)(n * (n - 1));
    return 1.0 - p;
}

void ts_sincos_d(double x, double *s, double *c) {
    if (!(x - x == 0.0)) { /* inf or NaN */
        *s = *c = NAN;
        return;
    }
    /* x = q π/2 + r; exact enough for |q| < 2^20 (positions · frequencies
     * up to ~1.6e6 rad), beyond which RoPE angles carry no information */
    const double q = round_even(x / (PIO2_1 + PIO2_1T));
    const double r = (x - q * PIO2_1) - q * PIO2_1T;
    const double sr = sin_poly(r), cr = cos_poly(r);
    const long quad = (long)q & 3;
    *s = quad == 0 ? sr : quad == 1 ? cr : quad == 2 ? -sr : -cr;
    *c = quad == 0 ? cr : quad == 1 ? -sr : quad == 2 ? -cr : sr;
}
