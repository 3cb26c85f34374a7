/*
 * testutil.h — helpers shared by the C tests.
 */
#ifndef TS_TESTUTIL_H
#define TS_TESTUTIL_H

#include "tessera/gguf.h"

/* A fresh temporary directory for this test process (created once, removed
 * at exit); borrowed. */
const char *ts_test_tmpdir(void);

/* "<tmpdir>/<name>" in a static buffer rotated over 8 slots. */
const char *ts_test_path(const char *name);

/* A writer holding a tiny but complete model: metadata of every value type
 * (scalars, numeric arrays, a string array), and `n_tensors` tensors of
 * mixed types (F32, F16, Q8_0, Q4_K) filled with deterministic bytes. The
 * tensor bytes live in static storage. Caller frees with
 * ts_gguf_writer_free. */
ts_gguf_writer *ts_test_tiny_model(int n_tensors);

/* The bytes of tensor i of the tiny model ("blk.<i>.weight"). */
const uint8_t *ts_test_tiny_data(int i);

/* Seeded random numbers, the same sequence on every platform: splitmix64
 * on the state *s, a uniform double in [0, 1) from its top 53 bits, and a
 * standard normal by Box–Muller: sqrt(-2 ln(1 - u1)) · cos(2π u2). */
uint64_t ts_test_rng_next(uint64_t *s);
double ts_test_rng_uniform(uint64_t *s);
double ts_test_rng_normal(uint64_t *s);

#endif /* TS_TESTUTIL_H */
