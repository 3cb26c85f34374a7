/*
 * dequant_digest.c — what the reference dequantizers make of a real model,
 * as digests a test can compare with another implementation's.
 *
 *   dequant_digest MODEL.gguf
 *       one line per tensor, in file order:
 *       name<TAB>type<TAB>SHA-256 of its values as float32 little-endian
 *   dequant_digest MODEL.gguf NAME OUT.f32
 *       writes tensor NAME's values (float32 little-endian, row after row)
 *       to OUT.f32, for an element-wise look when a digest differs
 *
 * Every row goes through ts_dequantize_row, after ts_type_check_kernels has
 * accepted the type. A tensor whose type has no kernels is reported on
 * stderr and skipped; the exit status is then 1 (after every other tensor
 * was printed). Bad usage exits 2.
 *
 * Legend: r = rows (ne1·ne2·ne3), n = elements per row (ne0).
 */
#include "tessera.h"

#include <openssl/evp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where one tensor's float32 bytes go: a digest, a file, or both. */
typedef struct sink {
    EVP_MD_CTX *md; /* or NULL */
    FILE *out;      /* or NULL */
} sink;

/* ---------------------------------------------------------------- output */

/* float32 values as little-endian bytes, in place (a no-op on the
 * little-endian hosts we build for). */
static void to_little_endian(float *y, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &y[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&y[i], &u, 4);
    }
#else
    (void)y, (void)n;
#endif
}

static bool sink_write(sink *s, const float *y, int64_t n) {
    size_t bytes = (size_t)n * sizeof *y;
    if (s->md && EVP_DigestUpdate(s->md, y, bytes) != 1) return false;
    if (s->out && fwrite(y, 1, bytes, s->out) != bytes) return false;
    return true;
}

/* ------------------------------------------------------------ dequantize */

/* Every row of t, through ts_dequantize_row, into s. False (message on
 * stderr) when the type has no kernels or the sink fails. */
static bool dequantize_tensor(const ts_gguf_tensor_info *t, sink *s) {
    if (ts_type_check_kernels(t->type, t->name) != TS_OK) {
        fprintf(stderr, "dequant_digest: %s\n", ts_last_error());
        return false;
    }
    int64_t n = t->ne[0], r = t->ne[1] * t->ne[2] * t->ne[3];
    size_t row_bytes;
    if (!ts_type_row_size(t->type, n, &row_bytes) || (uint64_t)r * row_bytes != t->nbytes) {
        fprintf(stderr,
                "dequant_digest: %s: %" PRId64 " rows of %" PRId64 " %s values "
                "do not make %" PRIu64 " bytes\n",
                t->name, r, n, ts_type_name(t->type), t->nbytes);
        return false;
    }
    float *y = malloc((size_t)n * sizeof *y); /* (n) one row */
    bool ok = y != NULL;
    for (int64_t i = 0; ok && i < r; i++) {
        ts_dequantize_row(t->type, (const char *)t->data + (size_t)i * row_bytes, y, n);
        to_little_endian(y, n);
        ok = sink_write(s, y, n);
    }
    if (!ok) fprintf(stderr, "dequant_digest: %s: out of memory or write failed\n", t->name);
    free(y);
    return ok;
}

static bool print_digest(const ts_gguf_tensor_info *t) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    sink s = {.md = EVP_MD_CTX_new()};
    bool ok = s.md && EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) == 1 &&
              dequantize_tensor(t, &s) && EVP_DigestFinal_ex(s.md, md, &md_len) == 1;
    EVP_MD_CTX_free(s.md);
    if (!ok) return false;
    printf("%s\t%s\t", t->name, ts_type_name(t->type));
    for (unsigned int i = 0; i < md_len; i++) printf("%02x", md[i]);
    putchar('\n');
    return true;
}

static bool dump_tensor(const ts_gguf *g, const char *name, const char *path) {
    int64_t i = ts_gguf_find_tensor(g, name);
    if (i < 0) {
        fprintf(stderr, "dequant_digest: no tensor named '%s'\n", name);
        return false;
    }
    sink s = {.out = fopen(path, "wb")};
    if (!s.out) {
        perror(path);
        return false;
    }
    bool ok = dequantize_tensor(ts_gguf_tensor(g, i), &s);
    if (fclose(s.out) != 0) ok = false;
    return ok;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc != 2 && argc != 4) {
        fputs("usage: dequant_digest MODEL.gguf [TENSOR OUT.f32]\n", stderr);
        return 2;
    }
    ts_gguf *g = NULL;
    if (ts_gguf_open(argv[1], &g) != TS_OK) {
        fprintf(stderr, "dequant_digest: %s\n", ts_last_error());
        return 1;
    }
    bool ok = true;
    if (argc == 4) {
        ok = dump_tensor(g, argv[2], argv[3]);
    } else {
        for (int64_t i = 0; i < ts_gguf_n_tensors(g); i++) ok &= print_digest(ts_gguf_tensor(g, i));
        ok &= fflush(stdout) == 0;
    }
    ts_gguf_close(g);
    return ok ? 0 : 1;
}
