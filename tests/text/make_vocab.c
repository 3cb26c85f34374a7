/*
 * make_vocab.c — writes a vocab-only GGUF: every metadata key/value of IN
 * (arrays included, in file order) and no tensors, with libtessera's writer.
 *
 *   make_vocab IN.gguf OUT.gguf [--pre NAME]
 *
 * --pre NAME replaces tokenizer.ggml.pre (or adds it when IN has none), which
 * is how the tokenizer tests make one vocabulary per pre-tokenizer name from
 * tests/data/tokenizer/smollm2.gguf. The output is a function of the input
 * bytes and the arguments only, so two runs write identical files.
 */
#include <stdio.h>
#include <string.h>

#include "tessera/gguf.h"

#define PRE_KEY "tokenizer.ggml.pre"

/* ------------------------------------------------------------------ copy */

static ts_status copy_array(ts_gguf_writer *w, const char *key, const ts_gguf_value *v) {
    if (v->v.arr.elem == TS_GGUF_TYPE_STRING)
        return ts_gguf_writer_set_arr_str(w, key, v->v.arr.strs, v->v.arr.n);
    return ts_gguf_writer_set_arr(w, key, v->v.arr.elem, v->v.arr.data, v->v.arr.n);
}

static ts_status copy_value(ts_gguf_writer *w, const char *key, const ts_gguf_value *v) {
    switch (v->type) {
    case TS_GGUF_TYPE_UINT8: return ts_gguf_writer_set_u8(w, key, v->v.u8);
    case TS_GGUF_TYPE_INT8: return ts_gguf_writer_set_i8(w, key, v->v.i8);
    case TS_GGUF_TYPE_UINT16: return ts_gguf_writer_set_u16(w, key, v->v.u16);
    case TS_GGUF_TYPE_INT16: return ts_gguf_writer_set_i16(w, key, v->v.i16);
    case TS_GGUF_TYPE_UINT32: return ts_gguf_writer_set_u32(w, key, v->v.u32);
    case TS_GGUF_TYPE_INT32: return ts_gguf_writer_set_i32(w, key, v->v.i32);
    case TS_GGUF_TYPE_FLOAT32: return ts_gguf_writer_set_f32(w, key, v->v.f32);
    case TS_GGUF_TYPE_BOOL: return ts_gguf_writer_set_bool(w, key, v->v.b);
    case TS_GGUF_TYPE_STRING: return ts_gguf_writer_set_strn(w, key, v->v.str);
    case TS_GGUF_TYPE_ARRAY: return copy_array(w, key, v);
    case TS_GGUF_TYPE_UINT64: return ts_gguf_writer_set_u64(w, key, v->v.u64);
    case TS_GGUF_TYPE_INT64: return ts_gguf_writer_set_i64(w, key, v->v.i64);
    case TS_GGUF_TYPE_FLOAT64: return ts_gguf_writer_set_f64(w, key, v->v.f64);
    default: break;
    }
    /* the reader validated every type id, so this is a bug */
    fprintf(stderr, "make_vocab: key '%s' has unexpected type %d\n", key, (int)v->type);
    return TS_ERR_UNSUPPORTED;
}

static ts_status copy_metadata(const ts_gguf *g, ts_gguf_writer *w) {
    for (int64_t i = 0; i < ts_gguf_n_kv(g); i++) {
        ts_status st = copy_value(w, ts_gguf_kv_key(g, i), ts_gguf_kv_value(g, i));
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* ------------------------------------------------------------------ main */

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s IN.gguf OUT.gguf [--pre NAME]\n", argv0);
    return 2;
}

int main(int argc, char **argv) {
    const char *pre = NULL;
    if (argc == 5 && strcmp(argv[3], "--pre") == 0)
        pre = argv[4];
    else if (argc != 3)
        return usage(argv[0]);

    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(argv[1], &g);
    ts_gguf_writer *w = st == TS_OK ? ts_gguf_writer_new() : NULL;
    if (st == TS_OK && !w) st = TS_ERR_NOMEM;
    if (st == TS_OK) st = copy_metadata(g, w);
    if (st == TS_OK && pre) st = ts_gguf_writer_set_str(w, PRE_KEY, pre);
    if (st == TS_OK) st = ts_gguf_writer_write(w, argv[2]);
    if (st != TS_OK)
        fprintf(stderr, "make_vocab: %s: %s\n", ts_status_str(st), ts_last_error());
    ts_gguf_writer_free(w);
    ts_gguf_close(g);
    return st == TS_OK ? 0 : 1;
}
