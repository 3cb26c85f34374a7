/*
 * make_vocab.c — writes a vocab-only GGUF: every metadata key/value of IN
 * (arrays included, in file order) and no tensors, with libtessera's writer.
 *
 *   make_vocab IN.gguf OUT.gguf [--pre NAME] [--max-merges N]
 *
 * --pre NAME replaces tokenizer.ggml.pre (or adds it when IN has none), which
 * is how the tokenizer tests make one vocabulary per pre-tokenizer name from
 * tests/data/tokenizer/smollm2.gguf. --max-merges N keeps only the first N
 * entries of tokenizer.ggml.merges: most tokens then cannot be reached by
 * merging, which makes ignore_merges (llama3) observable. The output is a
 * function of the input bytes and the arguments only, so two runs write
 * identical files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/gguf.h"

#define PRE_KEY    "tokenizer.ggml.pre"
#define MERGES_KEY "tokenizer.ggml.merges"

typedef struct options {
    const char *in, *out;
    const char *pre;     /* NULL: keep IN's */
    uint64_t max_merges; /* UINT64_MAX: keep all */
} options;

/* ------------------------------------------------------------------ copy */

static ts_status copy_array(ts_gguf_writer *w, const char *key, const ts_gguf_value *v,
                            const options *opt) {
    if (v->v.arr.elem == TS_GGUF_TYPE_STRING) {
        uint64_t n = v->v.arr.n;
        if (strcmp(key, MERGES_KEY) == 0 && n > opt->max_merges) n = opt->max_merges;
        return ts_gguf_writer_set_arr_str(w, key, v->v.arr.strs, n);
    }
    return ts_gguf_writer_set_arr(w, key, v->v.arr.elem, v->v.arr.data, v->v.arr.n);
}

static ts_status copy_value(ts_gguf_writer *w, const char *key, const ts_gguf_value *v,
                            const options *opt) {
    switch (v->type) {
    case TS_GGUF_TYPE_UINT8:
        return ts_gguf_writer_set_u8(w, key, v->v.u8);
    case TS_GGUF_TYPE_INT8:
        return ts_gguf_writer_set_i8(w, key, v->v.i8);
    case TS_GGUF_TYPE_UINT16:
        return ts_gguf_writer_set_u16(w, key, v->v.u16);
    case TS_GGUF_TYPE_INT16:
        return ts_gguf_writer_set_i16(w, key, v->v.i16);
    case TS_GGUF_TYPE_UINT32:
        return ts_gguf_writer_set_u32(w, key, v->v.u32);
    case TS_GGUF_TYPE_INT32:
        return ts_gguf_writer_set_i32(w, key, v->v.i32);
    case TS_GGUF_TYPE_FLOAT32:
        return ts_gguf_writer_set_f32(w, key, v->v.f32);
    case TS_GGUF_TYPE_BOOL:
        return ts_gguf_writer_set_bool(w, key, v->v.b);
    case TS_GGUF_TYPE_STRING:
        return ts_gguf_writer_set_strn(w, key, v->v.str);
    case TS_GGUF_TYPE_ARRAY:
        return copy_array(w, key, v, opt);
    case TS_GGUF_TYPE_UINT64:
        return ts_gguf_writer_set_u64(w, key, v->v.u64);
    case TS_GGUF_TYPE_INT64:
        return ts_gguf_writer_set_i64(w, key, v->v.i64);
    case TS_GGUF_TYPE_FLOAT64:
        return ts_gguf_writer_set_f64(w, key, v->v.f64);
    default:
        break;
    }
    /* the reader validated every type id, so this is a bug */
    fprintf(stderr, "make_vocab: key '%s' has unexpected type %d\n", key, (int)v->type);
    return TS_ERR_UNSUPPORTED;
}

static ts_status copy_metadata(const ts_gguf *g, ts_gguf_writer *w, const options *opt) {
    for (int64_t i = 0; i < ts_gguf_n_kv(g); i++) {
        ts_status st = copy_value(w, ts_gguf_kv_key(g, i), ts_gguf_kv_value(g, i), opt);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* ------------------------------------------------------------------ main */

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s IN.gguf OUT.gguf [--pre NAME] [--max-merges N]\n", argv0);
    return 2;
}

static bool parse_args(int argc, char **argv, options *opt) {
    *opt = (options){.max_merges = UINT64_MAX};
    if (argc < 3) return false;
    opt->in = argv[1];
    opt->out = argv[2];
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) return false;
        if (strcmp(argv[i], "--pre") == 0) {
            opt->pre = argv[i + 1];
        } else if (strcmp(argv[i], "--max-merges") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(argv[i + 1], &end, 10);
            if (errno || end == argv[i + 1] || *end || argv[i + 1][0] == '-') return false;
            opt->max_merges = n;
        } else {
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv) {
    options opt;
    if (!parse_args(argc, argv, &opt)) return usage(argv[0]);

    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(opt.in, &g);
    ts_gguf_writer *w = st == TS_OK ? ts_gguf_writer_new() : NULL;
    if (st == TS_OK && !w) st = TS_ERR_NOMEM;
    if (st == TS_OK) st = copy_metadata(g, w, &opt);
    if (st == TS_OK && opt.pre) st = ts_gguf_writer_set_str(w, PRE_KEY, opt.pre);
    if (st == TS_OK) st = ts_gguf_writer_write(w, opt.out);
    if (st != TS_OK) fprintf(stderr, "make_vocab: %s: %s\n", ts_status_str(st), ts_last_error());
    ts_gguf_writer_free(w);
    ts_gguf_close(g);
    return st == TS_OK ? 0 : 1;
}
