/*
 * test_split.c — a model written as split parts opens as the same model as
 * the unsplit file: same metadata (split.* hidden), same tensors and bytes,
 * from whichever part is named; broken sets are refused with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define N_TENSORS 10

static ts_gguf *open_ok(const char *path) {
    ts_gguf *g = NULL;
    if (ts_gguf_open(path, &g) != TS_OK) fail_msg("open %s: %s", path, ts_last_error());
    return g;
}

static void assert_same_value(const ts_gguf_value *a, const ts_gguf_value *b) {
    assert_int_equal(a->type, b->type);
    if (a->type == TS_GGUF_TYPE_STRING) {
        assert_int_equal(a->v.str.len, b->v.str.len);
        assert_memory_equal(a->v.str.ptr, b->v.str.ptr, a->v.str.len);
    } else if (a->type == TS_GGUF_TYPE_ARRAY) {
        assert_int_equal(a->v.arr.elem, b->v.arr.elem);
        assert_int_equal(a->v.arr.n, b->v.arr.n);
        if (a->v.arr.elem == TS_GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < a->v.arr.n; i++) {
                assert_int_equal(a->v.arr.strs[i].len, b->v.arr.strs[i].len);
                assert_memory_equal(a->v.arr.strs[i].ptr, b->v.arr.strs[i].ptr, a->v.arr.strs[i].len);
            }
        } else if (a->v.arr.n) {
            assert_memory_equal(a->v.arr.data, b->v.arr.data,
                                a->v.arr.n * ts_gguf_type_size(a->v.arr.elem));
        }
    } else {
        assert_memory_equal(&a->v, &b->v, ts_gguf_type_size(a->type));
    }
}

static void assert_same_model(const ts_gguf *a, const ts_gguf *b) {
    assert_int_equal(ts_gguf_n_kv(a), ts_gguf_n_kv(b));
    for (int64_t i = 0; i < ts_gguf_n_kv(a); i++) {
        assert_string_equal(ts_gguf_kv_key(a, i), ts_gguf_kv_key(b, i));
        assert_same_value(ts_gguf_kv_value(a, i), ts_gguf_kv_value(b, i));
    }
    assert_int_equal(ts_gguf_n_tensors(a), ts_gguf_n_tensors(b));
    for (int64_t i = 0; i < ts_gguf_n_tensors(a); i++) {
        const ts_gguf_tensor_info *x = ts_gguf_tensor(a, i), *y = ts_gguf_tensor(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_dims, y->n_dims);
        assert_memory_equal(x->ne, y->ne, sizeof x->ne);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
        assert_int_equal(ts_gguf_find_tensor(b, x->name), i);
    }
}

static void write_both(const char *prefix, int64_t per_part, uint32_t *n_parts) {
    ts_gguf_writer *w = ts_test_tiny_model(N_TENSORS);
    assert_int_equal(ts_gguf_writer_write(w, ts_test_path("whole.gguf")), TS_OK);
    assert_int_equal(ts_gguf_writer_write_split(w, ts_test_path(prefix), per_part, n_parts), TS_OK);
    ts_gguf_writer_free(w);
}

static void test_split_equals_whole(void **state) {
    (void)state;
    uint32_t n_parts;
    write_both("tiny", 3, &n_parts);
    assert_int_equal(n_parts, 4);
    ts_gguf *whole = open_ok(ts_test_path("whole.gguf"));
    const char *names[] = {"tiny-00001-of-00004.gguf", "tiny-00003-of-00004.gguf"};
    for (int k = 0; k < 2; k++) { /* any part opens the whole set */
        ts_gguf *split = open_ok(ts_test_path(names[k]));
        assert_int_equal(ts_gguf_n_files(split), 4);
        assert_int_equal(ts_gguf_find_kv(split, "split.count"), -1);
        assert_same_model(whole, split);
        assert_int_equal(ts_gguf_tensor(split, 9)->file, 3);
        ts_gguf_close(split);
    }
    ts_gguf_close(whole);
}

static void test_single_part(void **state) {
    (void)state;
    uint32_t n_parts;
    write_both("one", 100, &n_parts);
    assert_int_equal(n_parts, 1);
    ts_gguf *whole = open_ok(ts_test_path("whole.gguf"));
    ts_gguf *split = open_ok(ts_test_path("one-00001-of-00001.gguf"));
    assert_same_model(whole, split);
    ts_gguf_close(split);
    ts_gguf_close(whole);
}

static void expect_fail(const char *path, const char *substring) {
    ts_gguf *g = NULL;
    assert_int_not_equal(ts_gguf_open(path, &g), TS_OK);
    assert_null(g);
    if (!strstr(ts_last_error(), substring))
        fail_msg("message '%s' lacks '%s'", ts_last_error(), substring);
}

static void test_broken_sets(void **state) {
    (void)state;
    uint32_t n_parts;
    write_both("gap", 4, &n_parts); /* 3 parts */
    assert_int_equal(n_parts, 3);
    char p1[512], p2[512], p3[512];
    snprintf(p1, sizeof p1, "%s", ts_test_path("gap-00001-of-00003.gguf"));
    snprintf(p2, sizeof p2, "%s", ts_test_path("gap-00002-of-00003.gguf"));
    snprintf(p3, sizeof p3, "%s", ts_test_path("gap-00003-of-00003.gguf"));

    /* a part renamed so its name lies about its number */
    char renamed[512];
    snprintf(renamed, sizeof renamed, "%s", ts_test_path("other-00002-of-00003.gguf"));
    assert_int_equal(rename(p1, renamed), 0);
    expect_fail(p2, "gap-00001-of-00003.gguf"); /* missing part named */
    assert_int_equal(rename(renamed, p1), 0);

    /* part 3 replaced by part 2: numbering mismatch */
    snprintf(renamed, sizeof renamed, "%s", ts_test_path("saved.gguf"));
    assert_int_equal(rename(p3, renamed), 0);
    assert_int_equal(link(p2, p3), 0);
    expect_fail(p1, "part 2 of 3, expected part 3 of 3");
    unlink(p3);
    assert_int_equal(rename(renamed, p3), 0);

    /* a part under a name that is not NAME-0000i-of-0000N.gguf */
    snprintf(renamed, sizeof renamed, "%s", ts_test_path("loose.gguf"));
    assert_int_equal(link(p2, renamed), 0);
    expect_fail(renamed, "does not follow");

    ts_gguf *g = open_ok(p3);
    assert_int_equal(ts_gguf_n_tensors(g), N_TENSORS);
    ts_gguf_close(g);
}

static void test_parts_standalone(void **state) {
    (void)state;
    uint32_t n_parts;
    write_both("solo", 5, &n_parts);
    /* part 2 alone as a memory image: valid GGUF, only its own tensors */
    FILE *fp = fopen(ts_test_path("solo-00002-of-00002.gguf"), "rb");
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    ts_gguf *g = NULL;
    assert_int_equal(ts_gguf_open_memory(buf, n, &g), TS_OK);
    assert_int_equal(ts_gguf_n_tensors(g), 5);
    assert_string_equal(ts_gguf_tensor(g, 0)->name, "blk.5.weight");
    assert_int_equal(ts_gguf_n_kv(g), 0); /* later parts carry only split.* */
    ts_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_equals_whole),
        cmocka_unit_test(test_single_part),
        cmocka_unit_test(test_broken_sets),
        cmocka_unit_test(test_parts_standalone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
