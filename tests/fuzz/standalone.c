/*
 * standalone.c — a main() for fuzz targets when libFuzzer is not available
 * (gcc builds): runs LLVMFuzzerTestOneInput once over every file named on the
 * command line, recursing into directories, and prints how many ran.
 *
 * Each input is copied into a heap block of exactly its size, as libFuzzer
 * does, so that under ASan a read one byte past the input is caught.
 * Exit status: 0 when every input ran, 1 when a file could not be read
 * (a crash in the target aborts the process instead).
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long n_run, n_failed;

/* ------------------------------------------------------------------ input */

/* Read all of path into a fresh allocation of exactly its size (1 byte for
 * an empty file, which is never read). Returns NULL with errno set. */
static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    long len;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) goto out;
    buf = malloc(len ? (size_t)len : 1);
    if (!buf) goto out;
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
        errno = EIO;
        goto out;
    }
    *size = (size_t)len;
out:
    fclose(f);
    return buf;
}

static int run_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DP) return 0;
    if (flag != FTW_F) {
        fprintf(stderr, "standalone: cannot read %s\n", path);
        n_failed++;
        return 0;
    }
    size_t size = 0;
    uint8_t *data = read_file(path, &size);
    if (!data) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        n_failed++;
        return 0;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    n_run++;
    return 0;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (nftw(argv[i], run_one, 16, FTW_PHYS) != 0) {
            fprintf(stderr, "standalone: %s: %s\n", argv[i], strerror(errno));
            n_failed++;
        }
    }
    printf("standalone: ran %ld inputs, %ld unreadable\n", n_run, n_failed);
    return n_failed ? 1 : 0;
}
