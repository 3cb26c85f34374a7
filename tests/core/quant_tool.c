/*
 * quant_tool.c — libtessera's reference kernels and GGUF writer on the
 * command line, so that Python tests and the reference-data generator can
 * compare them with llama.cpp and gguf-py:
 *
 *   quant_tool quantize   TYPE IN.f32 OUT.bin N_PER_ROW
 *   quant_tool dequantize TYPE IN.bin OUT.f32 N_PER_ROW
 *   quant_tool dot        TYPE X.bin Y.bin N_PER_ROW OUT.f32
 *   quant_tool dot-type   TYPE
 *   quant_tool write-f32-model OUT.gguf IN.f32 ROWS COLS
 *
 * Files are raw little-endian rows without a header: .f32 holds floats,
 * .bin rows of TYPE (ts_type_row_size(TYPE, N_PER_ROW) bytes each); the row
 * count is the file size over the row size. `dot` writes one float per row:
 * row r of X (TYPE) with row r of Y (TYPE's dot type). `dot-type` prints
 * the activation type's name. `write-f32-model` writes the ROWS x COLS
 * floats as the 2-D weights of a one-layer `llama` model, ROWS split evenly
 * over the tensors of model_tensors[] in that order (see there), with the
 * hyperparameters llama.cpp's quantizer reads.
 *
 * Errors go to stderr with exit status 1 (2 for usage errors).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

/* ------------------------------------------------------------- helpers */

/* Print "quant_tool: MESSAGE" to stderr; returns 1 (the exit status). */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("quant_tool: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: quant_tool quantize TYPE IN.f32 OUT.bin N_PER_ROW\n"
                    "       quant_tool dequantize TYPE IN.bin OUT.f32 N_PER_ROW\n"
                    "       quant_tool dot TYPE X.bin Y.bin N_PER_ROW OUT.f32\n"
                    "       quant_tool dot-type TYPE\n"
                    "       quant_tool write-f32-model OUT.gguf IN.f32 ROWS COLS\n");
    return 2;
}

static bool parse_count(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) return false;
    *out = v;
    return true;
}

/* A type with reference kernels, by name; false after a message. */
static bool parse_type(const char *s, ts_type *out) {
    if (!ts_type_from_name(s, out)) {
        fail("unknown type '%s'", s);
        return false;
    }
    if (ts_type_check_kernels(*out, s) != TS_OK) {
        fail("%s", ts_last_error());
        return false;
    }
    return true;
}

/* Read a whole file into a malloc'd buffer; caller frees. */
static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n ? (size_t)n : 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *size = n >= 0 ? (size_t)n : 0;
    return buf;
}

static bool write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* Read rows of `row_size` bytes from path; *n_rows receives their count.
 * NULL (after a message) when unreadable, empty or not whole rows. */
static void *read_rows(const char *path, size_t row_size, int64_t *n_rows) {
    size_t size;
    void *buf = read_file(path, &size);
    if (!buf) {
        fail("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (size == 0 || size % row_size) {
        fail("%s: size is not a positive multiple of the row size (%zu bytes)", path, row_size);
        free(buf);
        return NULL;
    }
    *n_rows = (int64_t)(size / row_size);
    return buf;
}

/* Row size of n values of type, or 0 (after a message) when n is not a
 * multiple of its block size. */
static size_t row_size_of(ts_type type, int64_t n) {
    size_t rs;
    if (!ts_type_row_size(type, n, &rs) || rs == 0) {
        fail("N_PER_ROW %lld is not a multiple of %s's block size", (long long)n,
             ts_type_name(type));
        return 0;
    }
    return rs;
}

/* ------------------------------------------------------------ commands */

/* quantize: F32 rows → rows of `type`; dequantize: the reverse. */
static int cmd_convert(bool quantize, ts_type type, const char *in, const char *out, int64_t n) {
    size_t qrow = row_size_of(type, n), frow = (size_t)n * sizeof(float);
    if (!qrow) return 1;
    int64_t rows;
    uint8_t *src = read_rows(in, quantize ? frow : qrow, &rows);
    if (!src) return 1;
    size_t dst_row = quantize ? qrow : frow, src_row = quantize ? frow : qrow;
    uint8_t *dst = malloc((size_t)rows * dst_row);
    if (!dst) {
        free(src);
        return fail("out of memory");
    }
    for (int64_t r = 0; r < rows; r++) {
        const void *s = src + (size_t)r * src_row;
        void *d = dst + (size_t)r * dst_row;
        if (quantize)
            ts_quantize_row(type, s, d, n);
        else
            ts_dequantize_row(type, s, d, n);
    }
    int rc = write_file(out, dst, (size_t)rows * dst_row)
                 ? 0
                 : fail("cannot write %s: %s", out, strerror(errno));
    free(src);
    free(dst);
    return rc;
}

static int cmd_dot(ts_type type, const char *xpath, const char *ypath, int64_t n, const char *out) {
    if (type == TS_TYPE_Q8_1 || type == TS_TYPE_Q8_K)
        return fail("%s is an activation format without a dot product", ts_type_name(type));
    ts_type yt = ts_type_dot_type(type);
    size_t xrow = row_size_of(type, n), yrow = row_size_of(yt, n);
    if (!xrow || !yrow) return 1;
    int64_t xr = 0, yr = 0;
    uint8_t *x = read_rows(xpath, xrow, &xr);
    uint8_t *y = x ? read_rows(ypath, yrow, &yr) : NULL;
    float *dots = y ? malloc((size_t)xr * sizeof(float)) : NULL;
    int rc = 1;
    if (y && xr != yr)
        fail("%s and %s hold different numbers of rows", xpath, ypath);
    else if (y && !dots)
        fail("out of memory");
    else if (dots) {
        for (int64_t r = 0; r < xr; r++)
            dots[r] = ts_vec_dot(type, x + (size_t)r * xrow, y + (size_t)r * yrow, n);
        rc = write_file(out, dots, (size_t)xr * sizeof(float))
                 ? 0
                 : fail("cannot write %s: %s", out, strerror(errno));
    }
    free(x);
    free(y);
    free(dots);
    return rc;
}

/* The weights of a one-layer llama model, in the order rows are assigned.
 * llama.cpp's quantizer checks the layer count against the attn_v tensors,
 * but not the shapes against the hyperparameters. */
static const char *const model_tensors[] = {
    "token_embd.weight",   "blk.0.attn_q.weight",      "blk.0.attn_k.weight",
    "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight",
    "blk.0.ffn_up.weight", "blk.0.ffn_down.weight",    "output.weight",
};
#define N_MODEL_TENSORS (int64_t)(sizeof model_tensors / sizeof model_tensors[0])

/* Hyperparameters of a model with n_embd = n_ff = cols and 64-wide heads. */
static ts_status set_hparams(ts_gguf_writer *w, int64_t cols) {
    uint32_t d = (uint32_t)cols, heads = d / 64 ? d / 64 : 1;
    ts_status st = ts_gguf_writer_set_str(w, "general.architecture", "llama");
    if (st == TS_OK) st = ts_gguf_writer_set_str(w, "general.name", "tessera quant reference");
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "general.file_type", 0); /* ALL_F32 */
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.block_count", 1);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.context_length", 2048);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.embedding_length", d);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.feed_forward_length", d);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.attention.head_count", heads);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.attention.head_count_kv", heads);
    if (st == TS_OK)
        st = ts_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (st == TS_OK) st = ts_gguf_writer_set_u32(w, "llama.rope.dimension_count", d / heads);
    return st;
}

static int cmd_write_model(const char *out, const char *in, int64_t rows, int64_t cols) {
    if (rows % N_MODEL_TENSORS)
        return fail("ROWS must be a multiple of %lld (one share per tensor)",
                    (long long)N_MODEL_TENSORS);
    int64_t have = 0;
    float *x = read_rows(in, (size_t)cols * sizeof(float), &have);
    if (!x) return 1;
    if (have != rows) {
        free(x);
        return fail("%s holds %lld rows of COLS floats, not ROWS = %lld", in, (long long)have,
                    (long long)rows);
    }
    ts_gguf_writer *w = ts_gguf_writer_new();
    if (!w) {
        free(x);
        return fail("out of memory");
    }
    ts_status st = set_hparams(w, cols);
    int64_t share = rows / N_MODEL_TENSORS;
    for (int64_t t = 0; t < N_MODEL_TENSORS && st == TS_OK; t++) {
        const int64_t ne[2] = {cols, share}; /* (share, cols) */
        st = ts_gguf_writer_add_tensor(w, model_tensors[t], TS_TYPE_F32, 2, ne,
                                       x + t * share * cols);
    }
    if (st == TS_OK) st = ts_gguf_writer_write(w, out);
    ts_gguf_writer_free(w);
    free(x);
    return st == TS_OK ? 0 : fail("%s: %s", out, ts_last_error());
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    const char *cmd = argv[1];
    int64_t n = 0, rows = 0;
    ts_type type = TS_TYPE_F32;
    if (strcmp(cmd, "write-f32-model") == 0) {
        if (argc != 6 || !parse_count(argv[4], &rows) || !parse_count(argv[5], &n)) return usage();
        return cmd_write_model(argv[2], argv[3], rows, n);
    }
    if (!parse_type(argv[2], &type)) return 1;
    if (strcmp(cmd, "dot-type") == 0 && argc == 3) {
        printf("%s\n", ts_type_name(ts_type_dot_type(type)));
        return 0;
    }
    if ((strcmp(cmd, "quantize") == 0 || strcmp(cmd, "dequantize") == 0) && argc == 6 &&
        parse_count(argv[5], &n))
        return cmd_convert(cmd[0] == 'q', type, argv[3], argv[4], n);
    if (strcmp(cmd, "dot") == 0 && argc == 7 && parse_count(argv[5], &n))
        return cmd_dot(type, argv[3], argv[4], n, argv[6]);
    return usage();
}
