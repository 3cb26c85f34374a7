/*
 * write_fixture.c — writes the tiny test model with libtessera's writer, so
 * that other readers (the gguf Python package, llama.cpp) can be pointed at
 * our output: OUT_DIR/tiny.gguf and OUT_DIR/tiny-0000i-of-00003.gguf.
 */
#include <stdio.h>

#include "testutil.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    ts_gguf_writer *w = ts_test_tiny_model(12);
    ts_status st = ts_gguf_writer_set_alignment(w, 64);
    snprintf(path, sizeof path, "%s/tiny.gguf", argv[1]);
    if (st == TS_OK) st = ts_gguf_writer_write(w, path);
    snprintf(path, sizeof path, "%s/tiny", argv[1]);
    if (st == TS_OK) st = ts_gguf_writer_write_split(w, path, 5, NULL);
    ts_gguf_writer_free(w);
    if (st != TS_OK) {
        fprintf(stderr, "write_fixture: %s\n", ts_last_error());
        return 1;
    }
    return 0;
}
