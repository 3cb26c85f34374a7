/*
 * digest.c — SHA-256 of files through OpenSSL's EVP interface.
 *
 * The file is read in fixed chunks through one heap buffer, so memory use
 * does not grow with the file and a caller can show progress. Every failure
 * leaves a message naming the path for ts_last_error().
 */
#include "tessera/digest.h"

#include "core/core-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define DIGEST_CHUNK (1u << 20) /* bytes read per call */

/* ------------------------------------------------------------- helpers */

static void hex_encode(const unsigned char *md, unsigned int n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Feed the whole stream to ctx in chunks, reporting progress. */
static ts_status hash_stream(EVP_MD_CTX *ctx, FILE *f, const char *path, uint64_t total,
                             ts_progress_fn cb, void *user) {
    unsigned char *buf = malloc(DIGEST_CHUNK);
    if (!buf) return ts_error(TS_ERR_NOMEM, "%s: out of memory", path);
    ts_status st = TS_OK;
    uint64_t done = 0;
    size_t n;
    while ((n = fread(buf, 1, DIGEST_CHUNK, f)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            st = ts_error(TS_ERR_UNSUPPORTED, "%s: SHA-256 update failed in libcrypto", path);
            break;
        }
        done += n;
        if (cb) cb(done, total, user);
    }
    if (st == TS_OK && ferror(f))
        st = ts_error(TS_ERR_IO, "%s: read failed after %llu bytes: %s", path,
                      (unsigned long long)done, strerror(errno));
    free(buf);
    return st;
}

/* Hash an opened file with a fresh EVP context. */
static ts_status hash_file(FILE *f, const char *path, uint64_t total, ts_progress_fn cb, void *user,
                           char *hex) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return ts_error(TS_ERR_NOMEM, "%s: out of memory for a digest context", path);
    ts_status st = TS_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        st = ts_error(TS_ERR_UNSUPPORTED, "%s: libcrypto offers no SHA-256", path);
    if (st == TS_OK) st = hash_stream(ctx, f, path, total, cb, user);
    if (st == TS_OK && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
        st = ts_error(TS_ERR_UNSUPPORTED, "%s: SHA-256 finalisation failed in libcrypto", path);
    if (st == TS_OK) hex_encode(md, md_len, hex);
    EVP_MD_CTX_free(ctx);
    return st;
}

/* ---------------------------------------------------------------- public */

ts_status ts_sha256_file(const char *path, ts_progress_fn cb, void *user,
                         char hex[TS_SHA256_HEX_LEN + 1]) {
    TS_ASSERT(path && hex);
    FILE *f = fopen(path, "rb");
    if (!f) return ts_error(TS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        ts_status st = ts_error(TS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        fclose(f);
        return st;
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return ts_error(TS_ERR_IO, "%s: is a directory", path);
    }
    ts_status st = hash_file(f, path, (uint64_t)sb.st_size, cb, user, hex);
    fclose(f);
    return st;
}
