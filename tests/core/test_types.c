/*
 * test_types.c — the type table against ggml's block sizes (as published in
 * gguf-py's GGML_QUANT_SIZES), and row-size arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "tessera/core.h"

/* (type, block elements, block bytes) from gguf-py 0.19 GGML_QUANT_SIZES;
 * Q8_1 is ggml's 36-byte half-precision layout (gguf-py lists 40). */
static const struct { ts_type t; int64_t blck; size_t size; } expected[] = {
    {TS_TYPE_F32, 1, 4},       {TS_TYPE_F16, 1, 2},       {TS_TYPE_Q4_0, 32, 18},
    {TS_TYPE_Q4_1, 32, 20},    {TS_TYPE_Q5_0, 32, 22},    {TS_TYPE_Q5_1, 32, 24},
    {TS_TYPE_Q8_0, 32, 34},    {TS_TYPE_Q8_1, 32, 36},    {TS_TYPE_Q2_K, 256, 84},
    {TS_TYPE_Q3_K, 256, 110},  {TS_TYPE_Q4_K, 256, 144},  {TS_TYPE_Q5_K, 256, 176},
    {TS_TYPE_Q6_K, 256, 210},  {TS_TYPE_Q8_K, 256, 292},  {TS_TYPE_IQ2_XXS, 256, 66},
    {TS_TYPE_IQ2_XS, 256, 74}, {TS_TYPE_IQ3_XXS, 256, 98}, {TS_TYPE_IQ1_S, 256, 50},
    {TS_TYPE_IQ4_NL, 32, 18},  {TS_TYPE_IQ3_S, 256, 110}, {TS_TYPE_IQ2_S, 256, 82},
    {TS_TYPE_IQ4_XS, 256, 136}, {TS_TYPE_I8, 1, 1},       {TS_TYPE_I16, 1, 2},
    {TS_TYPE_I32, 1, 4},       {TS_TYPE_I64, 1, 8},       {TS_TYPE_F64, 1, 8},
    {TS_TYPE_IQ1_M, 256, 56},  {TS_TYPE_BF16, 1, 2},      {TS_TYPE_TQ1_0, 256, 54},
    {TS_TYPE_TQ2_0, 256, 66},  {TS_TYPE_MXFP4, 32, 17},   {TS_TYPE_NVFP4, 64, 36},
    {TS_TYPE_Q1_0, 128, 18},
};

static void test_block_sizes(void **state) {
    (void)state;
    int n_valid = 0;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const ts_type_traits *tr = ts_type_get(expected[i].t);
        assert_int_equal(tr->block_size, expected[i].blck);
        assert_int_equal(tr->type_size, expected[i].size);
    }
    for (int id = -1; id <= TS_TYPE_COUNT + 1; id++) n_valid += ts_type_valid(id);
    assert_int_equal(n_valid, sizeof expected / sizeof expected[0]);
    /* ids of removed formats are not types */
    assert_false(ts_type_valid(4));
    assert_false(ts_type_valid(31));
    assert_false(ts_type_valid(38));
    assert_string_equal(ts_type_name(99), "?");
}

static void test_names(void **state) {
    (void)state;
    ts_type t;
    assert_true(ts_type_from_name("q4_k", &t));
    assert_int_equal(t, TS_TYPE_Q4_K);
    assert_true(ts_type_from_name("BF16", &t));
    assert_int_equal(t, TS_TYPE_BF16);
    assert_false(ts_type_from_name("Q4_2", &t));
    assert_string_equal(ts_type_name(TS_TYPE_IQ4_NL), "IQ4_NL");
}

static void test_row_size(void **state) {
    (void)state;
    size_t n;
    assert_true(ts_type_row_size(TS_TYPE_Q4_0, 64, &n));
    assert_int_equal(n, 36);
    assert_false(ts_type_row_size(TS_TYPE_Q4_0, 33, &n));
    assert_false(ts_type_row_size(TS_TYPE_F32, -1, &n));
    assert_false(ts_type_row_size(TS_TYPE_F64, INT64_MAX, &n)); /* overflows */
    assert_true(ts_type_row_size(TS_TYPE_Q6_K, 0, &n));
    assert_int_equal(n, 0);
}

static void test_tensor_init(void **state) {
    (void)state;
    ts_tensor t;
    const int64_t ne[3] = {256, 3, 2};
    assert_int_equal(ts_tensor_init(&t, TS_TYPE_Q4_K, 3, ne, NULL), TS_OK);
    assert_int_equal(t.nb[0], 144);
    assert_int_equal(t.nb[1], 144);
    assert_int_equal(t.nb[2], 432);
    assert_int_equal(t.nb[3], 864);
    assert_int_equal(t.ne[3], 1);
    assert_int_equal(ts_tensor_nelements(&t), 1536);
    assert_int_equal(ts_tensor_nbytes(&t), 864);
    const int64_t bad[2] = {100, 1};
    assert_int_equal(ts_tensor_init(&t, TS_TYPE_Q4_K, 2, bad, NULL), TS_ERR_INVALID_ARG);
    assert_non_null(strstr(ts_last_error(), "block"));
    const int64_t huge[4] = {INT64_MAX, INT64_MAX, 2, 2};
    assert_int_equal(ts_tensor_init(&t, TS_TYPE_I8, 4, huge, NULL), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_tensor_init(&t, TS_TYPE_F32, 5, ne, NULL), TS_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_sizes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_row_size),
        cmocka_unit_test(test_tensor_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
