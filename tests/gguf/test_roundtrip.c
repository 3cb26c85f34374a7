/*
 * test_roundtrip.c — what the writer writes, the reader reads back exactly:
 * every metadata type, tensor shapes, types and bytes, alignment; typed
 * lookups; and the reader's handling of files that are not GGUF at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ts_gguf *open_ok(const char *path) {
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(path, &g);
    if (st != TS_OK) fail_msg("open %s: %s", path, ts_last_error());
    return g;
}

static const ts_gguf_value *kv(const ts_gguf *g, const char *key, ts_gguf_type type) {
    int64_t i = ts_gguf_find_kv(g, key);
    if (i < 0) fail_msg("key %s missing", key);
    const ts_gguf_value *v = ts_gguf_kv_value(g, i);
    assert_int_equal(v->type, type);
    return v;
}

static void check_tiny(const ts_gguf *g, int n_tensors) {
    assert_int_equal(ts_gguf_version(g), 3);
    assert_int_equal(ts_gguf_n_kv(g), 17);
    assert_string_equal(ts_gguf_kv_key(g, 0), "general.architecture");
    assert_int_equal(kv(g, "test.u8", TS_GGUF_TYPE_UINT8)->v.u8, 200);
    assert_int_equal(kv(g, "test.i8", TS_GGUF_TYPE_INT8)->v.i8, -100);
    assert_int_equal(kv(g, "test.u16", TS_GGUF_TYPE_UINT16)->v.u16, 60000);
    assert_int_equal(kv(g, "test.i16", TS_GGUF_TYPE_INT16)->v.i16, -30000);
    assert_int_equal(kv(g, "test.i32", TS_GGUF_TYPE_INT32)->v.i32, -2000000000);
    assert_true(kv(g, "test.f32", TS_GGUF_TYPE_FLOAT32)->v.f32 == 0.1f);
    assert_true(kv(g, "test.bool", TS_GGUF_TYPE_BOOL)->v.b);
    assert_true(kv(g, "test.u64", TS_GGUF_TYPE_UINT64)->v.u64 == UINT64_MAX);
    assert_true(kv(g, "test.i64", TS_GGUF_TYPE_INT64)->v.i64 == INT64_MIN);
    assert_true(kv(g, "test.f64", TS_GGUF_TYPE_FLOAT64)->v.f64 == -1e300);

    const ts_gguf_value *a = kv(g, "test.arr_i32", TS_GGUF_TYPE_ARRAY);
    assert_int_equal(a->v.arr.elem, TS_GGUF_TYPE_INT32);
    assert_int_equal(a->v.arr.n, 4);
    const int32_t *ids = a->v.arr.data;
    assert_int_equal(ids[0], -1);
    assert_int_equal(ids[3], INT32_MAX);
    assert_int_equal(kv(g, "test.arr_empty", TS_GGUF_TYPE_ARRAY)->v.arr.n, 0);

    const ts_gguf_value *tok;
    assert_int_equal(ts_gguf_get_arr(g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_STRING, &tok), TS_OK);
    assert_int_equal(tok->v.arr.n, 3);
    assert_int_equal(tok->v.arr.strs[1].len, 6); /* embedded NUL kept */
    assert_memory_equal(tok->v.arr.strs[1].ptr, "he\0llo", 6);

    assert_int_equal(ts_gguf_n_tensors(g), n_tensors);
    for (int i = 0; i < n_tensors; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        int64_t j = ts_gguf_find_tensor(g, name);
        assert_int_equal(j, i);
        const ts_gguf_tensor_info *t = ts_gguf_tensor(g, j);
        assert_int_equal(t->n_dims, 2);
        assert_int_equal(t->ne[2], 1);
        assert_int_equal(t->offset % ts_gguf_alignment(g), 0);
        assert_true(t->nbytes > 0);
        assert_memory_equal(t->data, ts_test_tiny_data(i), t->nbytes);
    }
    assert_int_equal(ts_gguf_find_tensor(g, "missing"), -1);
}

static void test_roundtrip_all_types(void **state) {
    (void)state;
    ts_gguf_writer *w = ts_test_tiny_model(8);
    const char *path = ts_test_path("tiny.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf *g = open_ok(path);
    check_tiny(g, 8);
    assert_int_equal(ts_gguf_alignment(g), 32);
    assert_int_equal(ts_gguf_n_files(g), 1);
    ts_gguf_close(g);
    ts_gguf_writer_free(w);
}

static void test_tensor_bytes(void **state) {
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[3] = {0x3c00, 0x4000, 0xc000};
    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_int_equal(ts_gguf_writer_set_alignment(w, 64), TS_OK);
    assert_int_equal(ts_gguf_writer_add_tensor(w, "a", TS_TYPE_F32, 2, (int64_t[]){3, 2}, a), TS_OK);
    assert_int_equal(ts_gguf_writer_add_tensor(w, "b", TS_TYPE_F16, 1, (int64_t[]){3}, b), TS_OK);
    const char *path = ts_test_path("bytes.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf *g = open_ok(path);
    assert_int_equal(ts_gguf_alignment(g), 64);
    assert_int_equal(ts_gguf_data_offset(g, 0) % 64, 0);
    const ts_gguf_tensor_info *ta = ts_gguf_tensor(g, 0), *tb = ts_gguf_tensor(g, 1);
    assert_memory_equal(ta->data, a, sizeof a);
    assert_memory_equal(tb->data, b, sizeof b);
    assert_int_equal(tb->offset, 64); /* 24 bytes of a, padded to 64 */
    assert_int_equal(tb->n_dims, 1);
    uint32_t align;
    assert_int_equal(ts_gguf_get_u32(g, "general.alignment", &align), TS_OK);
    assert_int_equal(align, 64);
    ts_gguf_close(g);
    ts_gguf_writer_free(w);
}

static void test_memory_image(void **state) {
    (void)state;
    ts_gguf_writer *w = ts_test_tiny_model(4);
    const char *path = ts_test_path("mem.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    ts_gguf *g = NULL;
    assert_int_equal(ts_gguf_open_memory(buf, n, &g), TS_OK);
    check_tiny(g, 4);
    ts_gguf_close(g);
    /* every truncation of a valid file is refused, never read past */
    for (size_t cut = 0; cut < n; cut += 7) {
        assert_int_not_equal(ts_gguf_open_memory(buf, cut, &g), TS_OK);
        assert_null(g);
        assert_true(strlen(ts_last_error()) > 0);
    }
    ts_gguf_writer_free(w);
}

static void test_typed_lookup(void **state) {
    (void)state;
    ts_gguf_writer *w = ts_test_tiny_model(0);
    const char *path = ts_test_path("typed.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf *g = open_ok(path);
    uint32_t u;
    float f;
    bool b;
    ts_str s;
    assert_int_equal(ts_gguf_get_u32(g, "llama.block_count", &u), TS_OK);
    assert_int_equal(u, 2);
    assert_int_equal(ts_gguf_get_str(g, "general.name", &s), TS_OK);
    assert_int_equal(s.len, 4);
    assert_int_equal(ts_gguf_get_bool(g, "test.bool", &b), TS_OK);
    assert_int_equal(ts_gguf_get_f32(g, "test.f32", &f), TS_OK);
    assert_int_equal(ts_gguf_get_u32(g, "llama.context_length", &u), TS_ERR_NOT_FOUND);
    assert_non_null(strstr(ts_last_error(), "llama.context_length"));
    assert_int_equal(ts_gguf_get_u32(g, "general.name", &u), TS_ERR_FORMAT);
    assert_non_null(strstr(ts_last_error(), "has type string, expected uint32"));
    const ts_gguf_value *v;
    assert_int_equal(ts_gguf_get_arr(g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_INT32, &v),
                     TS_ERR_FORMAT);
    assert_non_null(strstr(ts_last_error(), "array of string"));
    ts_gguf_close(g);
    ts_gguf_writer_free(w);
}

static void test_not_gguf(void **state) {
    (void)state;
    ts_gguf *g = (ts_gguf *)1;
    assert_int_equal(ts_gguf_open(ts_test_path("absent.gguf"), &g), TS_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(ts_last_error(), "absent.gguf"));
    assert_int_equal(ts_gguf_open(ts_test_tmpdir(), &g), TS_ERR_IO);
    assert_non_null(strstr(ts_last_error(), "not a regular file"));
    const char *txt = ts_test_path("readme.txt");
    FILE *fp = fopen(txt, "w");
    fputs("hello, this is text\n", fp);
    fclose(fp);
    assert_int_equal(ts_gguf_open(txt, &g), TS_ERR_FORMAT);
    assert_non_null(strstr(ts_last_error(), "not a GGUF file"));
    fp = fopen(txt, "w");
    fclose(fp);
    assert_int_equal(ts_gguf_open(txt, &g), TS_ERR_FORMAT);
    assert_non_null(strstr(ts_last_error(), "empty"));
}

static void test_writer_refuses(void **state) {
    (void)state;
    ts_gguf_writer *w = ts_gguf_writer_new();
    float x[32] = {0};
    assert_int_equal(ts_gguf_writer_set_u32(w, "", 1), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_gguf_writer_set_u16(w, "split.count", 2), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_gguf_writer_set_alignment(w, 48), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_gguf_writer_set_arr(w, "a", TS_GGUF_TYPE_ARRAY, x, 1), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_gguf_writer_add_tensor(w, "t", TS_TYPE_F32, 1, (int64_t[]){32}, x), TS_OK);
    assert_int_equal(ts_gguf_writer_add_tensor(w, "t", TS_TYPE_F32, 1, (int64_t[]){32}, x),
                     TS_ERR_INVALID_ARG);
    assert_int_equal(ts_gguf_writer_add_tensor(w, "q", TS_TYPE_Q4_0, 1, (int64_t[]){20}, x),
                     TS_ERR_INVALID_ARG);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[79] = 0;
    assert_int_equal(ts_gguf_writer_add_tensor(w, longname, TS_TYPE_F32, 1, (int64_t[]){32}, x),
                     TS_ERR_INVALID_ARG);
    /* setting a key twice replaces it, keeping its place */
    assert_int_equal(ts_gguf_writer_set_u32(w, "k", 1), TS_OK);
    assert_int_equal(ts_gguf_writer_set_str(w, "k", "two"), TS_OK);
    const char *path = ts_test_path("replace.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf *g = open_ok(path);
    assert_int_equal(ts_gguf_n_kv(g), 1);
    ts_str s;
    assert_int_equal(ts_gguf_get_str(g, "k", &s), TS_OK);
    assert_memory_equal(s.ptr, "two", 3);
    ts_gguf_close(g);
    assert_int_equal(ts_gguf_writer_write(w, "/nonexistent-dir/x.gguf"), TS_ERR_IO);
    assert_non_null(strstr(ts_last_error(), "/nonexistent-dir/x.gguf"));
    ts_gguf_writer_free(w);
    ts_gguf_writer_free(NULL);
    ts_gguf_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_tensor_bytes),
        cmocka_unit_test(test_memory_image),
        cmocka_unit_test(test_typed_lookup),
        cmocka_unit_test(test_not_gguf),
        cmocka_unit_test(test_writer_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
