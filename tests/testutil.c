/*
 * testutil.c — helpers shared by the C tests (see testutil.h).
 */
#include "testutil.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void remove_tmpdir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *ts_test_tmpdir(void) {
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/tessera-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

const char *ts_test_path(const char *name) {
    static char slots[8][512];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, sizeof slots[0], "%s/%s", ts_test_tmpdir(), name);
    return p;
}

/* Deterministic bytes (xorshift) so that data mix-ups are visible. */
static void fill(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Tiny-model tensor bytes; shapes cycle through 4 types, the largest being
 * F32 (64, 3) = 768 bytes. */
static uint8_t tiny_data[64][1024];

const uint8_t *ts_test_tiny_data(int i) { return tiny_data[i]; }

ts_gguf_writer *ts_test_tiny_model(int n_tensors) {
    static const ts_type types[4] = {TS_TYPE_F32, TS_TYPE_F16, TS_TYPE_Q8_0, TS_TYPE_Q4_K};
    static const int64_t shapes[4][2] = {{64, 3}, {8, 5}, {32, 4}, {256, 2}};
    if (n_tensors > 64) abort();

    ts_gguf_writer *w = ts_gguf_writer_new();
    if (!w) abort();
    static const ts_str tokens[3] = {{"<s>", 3}, {"he\0llo", 6}, {"\xe4\xb8\xad", 3}};
    static const int32_t ids[4] = {-1, 0, 7, INT32_MAX};
    static const float scores[3] = {-1.5f, 0.0f, 3.25f};
    const ts_status st[] = {
        ts_gguf_writer_set_str(w, "general.architecture", "llama"),
        ts_gguf_writer_set_str(w, "general.name", "tiny"),
        ts_gguf_writer_set_u32(w, "llama.block_count", 2),
        ts_gguf_writer_set_u8(w, "test.u8", 200),
        ts_gguf_writer_set_i8(w, "test.i8", -100),
        ts_gguf_writer_set_u16(w, "test.u16", 60000),
        ts_gguf_writer_set_i16(w, "test.i16", -30000),
        ts_gguf_writer_set_i32(w, "test.i32", -2000000000),
        ts_gguf_writer_set_f32(w, "test.f32", 0.1f),
        ts_gguf_writer_set_bool(w, "test.bool", true),
        ts_gguf_writer_set_u64(w, "test.u64", UINT64_MAX),
        ts_gguf_writer_set_i64(w, "test.i64", INT64_MIN),
        ts_gguf_writer_set_f64(w, "test.f64", -1e300),
        ts_gguf_writer_set_arr(w, "test.arr_i32", TS_GGUF_TYPE_INT32, ids, 4),
        ts_gguf_writer_set_arr(w, "test.arr_empty", TS_GGUF_TYPE_UINT8, NULL, 0),
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TS_GGUF_TYPE_FLOAT32, scores, 3),
        ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3),
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        if (st[i] != TS_OK) abort();
    for (int i = 0; i < n_tensors; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        ts_tensor t;
        if (ts_tensor_init(&t, types[i % 4], 2, shapes[i % 4], NULL) != TS_OK) abort();
        fill(tiny_data[i], ts_tensor_nbytes(&t), (uint32_t)i + 1);
        if (ts_gguf_writer_add_tensor(w, name, types[i % 4], 2, shapes[i % 4], tiny_data[i]) != TS_OK)
            abort();
    }
    return w;
}

/* ---------------------------------------------------------------- random */

uint64_t ts_test_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

double ts_test_rng_uniform(uint64_t *s) { return (double)(ts_test_rng_next(s) >> 11) * 0x1p-53; }

double ts_test_rng_normal(uint64_t *s) {
    double u1 = ts_test_rng_uniform(s), u2 = ts_test_rng_uniform(s);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}
