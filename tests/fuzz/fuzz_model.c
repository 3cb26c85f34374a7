/*
 * fuzz_model.c — libFuzzer entry for model loading: the architecture's
 * reading of hyperparameters and binding of weights (src/models), on top of
 * the GGUF reader that fuzz_gguf covers.
 *
 * ts_model_load takes a path, so the input is written to a memory file and
 * loaded through /proc/self/fd. When the load succeeds, a small context
 * decodes a few tokens: whatever the file says, hyperparameters the loader
 * accepts must give a graph that runs (no crash, no read outside a tensor).
 */
#include "tessera/engine.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_a_few(const ts_model *m) {
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = 16;
    cp.n_ubatch = 4;
    cp.n_threads = 1;
    ts_context *ctx;
    if (ts_context_new(m, &cp, &ctx) != TS_OK) return;
    ts_batch b;
    if (ts_batch_init(&b, 6, 1) == TS_OK) {
        const ts_seq_id seq = 0;
        for (int32_t i = 0; i < 6; i++)
            ts_batch_add(&b, i % ts_model_n_vocab(m), i, &seq, 1, i % 2 == 1);
        if (ts_decode(ctx, &b) == TS_OK) {
            volatile float sink = ts_get_logits(ctx, 5)[ts_model_n_vocab(m) - 1];
            (void)sink;
        }
        ts_batch_free(&b);
    }
    ts_context_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz_model", 0);
    if (fd < 0) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (write(fd, data, size) == (ssize_t)size) {
        ts_model *m;
        if (ts_model_load(path, NULL, &m) == TS_OK) {
            decode_a_few(m);
            ts_model_free(m);
        }
    }
    close(fd);
    return 0;
}
