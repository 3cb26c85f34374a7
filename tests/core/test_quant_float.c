/*
 * test_quant_float.c — F16 and BF16 conversions against values fixed by the
 * IEEE 754 binary16 / bfloat16 definitions (round to nearest, ties to even),
 * and the float dot products against a double-precision sum. The bulk
 * comparison with numpy runs in tests/core/test_quant_reference.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "tessera/quant.h"

static void test_fp16_known_values(void **state) {
    (void)state;
    static const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000},      {-0.0f, 0x8000},    {1.0f, 0x3c00},    {-2.0f, 0xc000},
        {0.5f, 0x3800},      {65504.0f, 0x7bff}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00},
        {INFINITY, 0x7c00},  {-INFINITY, 0xfc00}, {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000},  /* tie between 0 and 2^-24: even is 0 */
        {0x1.8p-24f, 0x0002}, /* tie between 1 and 2 ulps: even is 2 */
        {0x1.002p0f, 0x3c00}, /* 1 + 2^-11 is a tie: even mantissa 0 */
        {0x1.006p0f, 0x3c02}, /* 1 + 3·2^-11 is a tie: even mantissa 2 */
        {0.1f, 0x2e66},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ts_fp32_to_fp16(cases[i].f), cases[i].h);
    }
    assert_true(isnan(ts_fp16_to_fp32(ts_fp32_to_fp16(NAN))));
}

static void test_fp16_roundtrip_all(void **state) {
    (void)state;
    /* every finite half converts to float and back unchanged */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN */
        assert_int_equal(ts_fp32_to_fp16(ts_fp16_to_fp32((uint16_t)h)), h);
    }
    assert_true(ts_fp16_to_fp32(0x0001) == 0x1p-24f);
    assert_true(ts_fp16_to_fp32(0x7bff) == 65504.0f);
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(ts_fp32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(ts_fp32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(ts_fp32_to_bf16(0x1.01p0f), 0x3f80);  /* tie: even */
    assert_int_equal(ts_fp32_to_bf16(0x1.03p0f), 0x3f82);  /* tie: even */
    assert_int_equal(ts_fp32_to_bf16(0x1.0101p0f), 0x3f81); /* above tie: up */
    assert_true(isnan(ts_bf16_to_fp32(ts_fp32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
        assert_int_equal(ts_fp32_to_bf16(ts_bf16_to_fp32((uint16_t)h)), h);
    }
}

static void test_float_dots(void **state) {
    (void)state;
    enum { N = 1000 };
    float x[N], y[N];
    uint16_t hx[N], hy[N];
    double want = 0, want_h = 0;
    for (int i = 0; i < N; i++) {
        x[i] = (float)sin(i * 0.37) * 3.0f;
        y[i] = (float)cos(i * 0.11) - 0.25f;
        want += (double)x[i] * y[i];
    }
    assert_true(fabs(ts_vec_dot(TS_TYPE_F32, x, y, N) - want) <= 1e-5 * fabs(want) + 1e-4);
    ts_quantize_row(TS_TYPE_F16, x, hx, N);
    ts_quantize_row(TS_TYPE_F16, y, hy, N);
    float fx[N], fy[N];
    ts_dequantize_row(TS_TYPE_F16, hx, fx, N);
    ts_dequantize_row(TS_TYPE_F16, hy, fy, N);
    for (int i = 0; i < N; i++) want_h += (double)fx[i] * fy[i];
    assert_true(fabs(ts_vec_dot(TS_TYPE_F16, hx, hy, N) - want_h) <= 1e-5 * fabs(want_h) + 1e-4);
    assert_int_equal(ts_type_dot_type(TS_TYPE_BF16), TS_TYPE_BF16);
}

static void test_kernel_support(void **state) {
    (void)state;
    assert_true(ts_type_has_kernels(TS_TYPE_Q4_K));
    assert_false(ts_type_has_kernels(TS_TYPE_IQ2_XXS));
    assert_int_equal(ts_type_check_kernels(TS_TYPE_IQ2_XXS, "blk.0.ffn_up.weight"),
                     TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(ts_last_error(), "blk.0.ffn_up.weight: type IQ2_XXS is not supported"));
    assert_non_null(strstr(ts_last_error(), "Q6_K"));
    assert_int_equal(ts_type_check_kernels(TS_TYPE_Q8_0, "x"), TS_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_known_values),
        cmocka_unit_test(test_fp16_roundtrip_all),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_float_dots),
        cmocka_unit_test(test_kernel_support),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
