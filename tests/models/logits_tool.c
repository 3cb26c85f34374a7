/*
 * logits_tool.c — decode a sequence of token ids with the public engine API
 * and write the logits of every position, for the logits tests
 * (tests/models/test_llama_tiny.py, test_llama_smollm2.py) and the memory
 * test (tests/engine/test_memory.py).
 *
 *   logits_tool MODEL --ids FILE.i32 [--out FILE.f32] [--threads T]
 *       [--ubatch B] [--n-ctx C] [--kv f16|f32] [--mode batch|single|chunks:K]
 *       [--generate N] [--report]
 *
 * The ids (raw little-endian int32) are one sequence (id 0) at positions
 * 0..n-1, every token with its logits flag set; --out receives n × n_vocab
 * raw float32, row i the logits after ids[0..i]. --mode says how the ids
 * reach ts_decode: in one call (batch, the default), one call per token
 * (single), or calls of K tokens (chunks:K); --ubatch sets the context's
 * micro-batch size, which splits calls further inside the engine.
 *
 * --generate N then decodes N more tokens greedily, one per call, as a
 * user's generation would (the argmax of the last logits, ties to the
 * lowest id), and prints them on a line "generated: id id ...".
 * --report prints key=value lines: the context's stats, and VmRSS / RssAnon /
 * RssFile / VmHWM (bytes, from /proc/self/status) before the model is loaded, after
 * it is loaded, and at the end.
 *
 * Uses only the public headers. Errors: one line on stderr, exit status 1
 * (2 for a bad command line).
 */
#include "tessera.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *model, *ids, *out;
    int threads;
    uint32_t ubatch, n_ctx;
    ts_type kv;
    int32_t chunk; /* tokens per ts_decode call; 0: all */
    int32_t generate;
    bool report;
} options;

/* ============================================================== helpers */

static int fail(const char *what, ts_status st) {
    fprintf(stderr, "logits_tool: %s: %s (%s)\n", what, ts_last_error(), ts_status_str(st));
    return 1;
}

#define USAGE                                                                              \
    "usage: logits_tool MODEL --ids FILE.i32 [--out FILE.f32] [--threads T] [--ubatch B] " \
    "[--n-ctx C] [--kv f16|f32] [--mode batch|single|chunks:K] [--generate N] [--report]"

static int usage(const char *msg) {
    fprintf(stderr, "logits_tool: %s\n", msg);
    return 2;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.kv = TS_TYPE_F16, .ubatch = 512};
    if (argc < 2 || argv[1][0] == '-') return usage(USAGE);
    o->model = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--report")) {
            o->report = true;
            continue;
        }
        if (i + 1 >= argc) return usage("an option without its value");
        const char *v = argv[++i];
        long n;
        if (!strcmp(k, "--ids")) o->ids = v;
        else if (!strcmp(k, "--out")) o->out = v;
        else if (!strcmp(k, "--threads") && parse_int(v, 0, 1024, &n)) o->threads = (int)n;
        else if (!strcmp(k, "--ubatch") && parse_int(v, 1, 1 << 20, &n)) o->ubatch = (uint32_t)n;
        else if (!strcmp(k, "--n-ctx") && parse_int(v, 0, 1 << 24, &n)) o->n_ctx = (uint32_t)n;
        else if (!strcmp(k, "--generate") && parse_int(v, 0, 1 << 20, &n)) o->generate = (int32_t)n;
        else if (!strcmp(k, "--kv") && (!strcmp(v, "f16") || !strcmp(v, "f32")))
            o->kv = v[1] == '1' ? TS_TYPE_F16 : TS_TYPE_F32;
        else if (!strcmp(k, "--mode") && !strcmp(v, "batch")) o->chunk = 0;
        else if (!strcmp(k, "--mode") && !strcmp(v, "single")) o->chunk = 1;
        else if (!strcmp(k, "--mode") && !strncmp(v, "chunks:", 7) && parse_int(v + 7, 1, 1 << 24, &n))
            o->chunk = (int32_t)n;
        else {
            char msg[160];
            snprintf(msg, sizeof msg, "bad option or value: %s %s", k, v);
            return usage(msg);
        }
    }
    if (!o->ids) return usage("--ids is required");
    return 0;
}

/* The whole file as int32 ids; *n receives their number. */
static int32_t *read_ids(const char *path, int32_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "logits_tool: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    int32_t *ids = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size <= 0 || size % 4 || size / 4 > INT32_MAX || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "logits_tool: %s: %ld bytes is not a non-empty array of int32\n", path, size);
    } else if (!(ids = malloc((size_t)size))) {
        fprintf(stderr, "logits_tool: no memory for %ld bytes of ids\n", size);
    } else if (fread(ids, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "logits_tool: cannot read %s\n", path);
        free(ids);
        ids = NULL;
    }
    fclose(f);
    *n = (int32_t)(size / 4);
    return ids;
}

/* A line "Key:   N kB" of /proc/self/status, in bytes; 0 when absent. */
static uint64_t proc_status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    const size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtoull(line + kl + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

static void report_memory(const char *when) {
    printf("%s.VmRSS=%llu\n%s.RssAnon=%llu\n%s.RssFile=%llu\n%s.VmHWM=%llu\n", when,
           (unsigned long long)proc_status_bytes("VmRSS"), when,
           (unsigned long long)proc_status_bytes("RssAnon"), when,
           (unsigned long long)proc_status_bytes("RssFile"), when,
           (unsigned long long)proc_status_bytes("VmHWM"));
}

/* Lowest id among the largest logits. */
static ts_token argmax(const float *x, int32_t n) {
    ts_token best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* ============================================================== decoding */

/* Decode ids[0..n) at positions pos0.. in calls of `chunk` tokens (0: one
 * call), copying each token's logits into out (n × V) when out != NULL and
 * keeping only the last one's otherwise. */
static int decode(ts_context *ctx, ts_batch *b, const int32_t *ids, int32_t n, ts_pos pos0,
                  int32_t chunk, float *out, int32_t n_vocab) {
    const ts_seq_id seq = 0;
    if (chunk <= 0) chunk = n;
    for (int32_t i0 = 0; i0 < n; i0 += chunk) {
        const int32_t i1 = i0 + chunk < n ? i0 + chunk : n;
        ts_batch_clear(b);
        for (int32_t i = i0; i < i1; i++) {
            ts_status st = ts_batch_add(b, ids[i], pos0 + i, &seq, 1, out || i == i1 - 1);
            if (st != TS_OK) return fail("ts_batch_add", st);
        }
        ts_status st = ts_decode(ctx, b);
        if (st != TS_OK) return fail("ts_decode", st);
        for (int32_t i = out ? i0 : i1 - 1; out && i < i1; i++) {
            const float *l = ts_get_logits(ctx, i - i0);
            if (!l) {
                fprintf(stderr, "logits_tool: no logits for token %d\n", i);
                return 1;
            }
            memcpy(out + (size_t)i * (size_t)n_vocab, l, (size_t)n_vocab * sizeof *out);
        }
    }
    return 0;
}

/* Greedy continuation of a sequence of n tokens whose last decode is in b. */
static int generate(ts_context *ctx, ts_batch *b, int32_t n, int32_t n_gen, int32_t n_vocab) {
    const float *l = ts_get_logits(ctx, b->n_tokens - 1);
    if (!l) {
        fprintf(stderr, "logits_tool: no logits after the prompt\n");
        return 1;
    }
    ts_token t = argmax(l, n_vocab);
    printf("generated:");
    for (int32_t g = 0; g < n_gen; g++) {
        printf(" %d", t);
        if (g + 1 == n_gen) break;
        if (decode(ctx, b, &t, 1, n + g, 1, NULL, n_vocab)) return 1;
        if (!(l = ts_get_logits(ctx, 0))) {
            fprintf(stderr, "logits_tool: no logits for generated token %d\n", g + 1);
            return 1;
        }
        t = argmax(l, n_vocab);
    }
    printf("\n");
    return 0;
}

static void report_stats(const ts_context *ctx, const ts_model *m) {
    ts_context_stats s;
    ts_context_get_stats(ctx, &s);
    printf("n_ctx=%u\nn_ubatch=%u\nn_decode=%llu\nn_graph_compute=%llu\nn_tokens=%llu\n"
           "n_cells_used=%u\nkv_bytes=%zu\narena_bytes=%zu\nweight_copy_bytes=%zu\n"
           "compute_seconds=%.6f\nweight_bytes=%llu\n",
           ts_context_n_ctx(ctx), ts_context_n_ubatch(ctx), (unsigned long long)s.n_decode,
           (unsigned long long)s.n_graph_compute, (unsigned long long)s.n_tokens, s.n_cells_used,
           s.kv_bytes, s.arena_bytes, s.weight_copy_bytes, s.compute_seconds,
           (unsigned long long)ts_model_weight_bytes(m));
}

/* ================================================================== main */

static int run(const options *o, const int32_t *ids, int32_t n) {
    if (o->report) report_memory("before_load");
    ts_model *m = NULL;
    ts_context *ctx = NULL;
    ts_batch b = {0};
    float *logits = NULL;
    int rc = 1;
    ts_model_params mp = ts_model_default_params();
    ts_status st = ts_model_load(o->model, &mp, &m);
    if (st != TS_OK) return fail("ts_model_load", st);
    if (o->report) report_memory("after_load");
    const int32_t n_vocab = ts_model_n_vocab(m);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            fprintf(stderr, "logits_tool: id %d at index %d is outside the vocabulary (%d)\n",
                    ids[i], i, n_vocab);
            goto done;
        }
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_ubatch = o->ubatch;
    cp.n_threads = o->threads;
    cp.type_k = cp.type_v = o->kv;
    if ((st = ts_context_new(m, &cp, &ctx)) != TS_OK) {
        rc = fail("ts_context_new", st);
        goto done;
    }
    const int32_t per_call = o->chunk > 0 ? o->chunk : n;
    if ((st = ts_batch_init(&b, per_call > 1 ? per_call : 1, 1)) != TS_OK) {
        rc = fail("ts_batch_init", st);
        goto done;
    }
    if (o->out && !(logits = malloc((size_t)n * (size_t)n_vocab * sizeof *logits))) {
        fprintf(stderr, "logits_tool: no memory for %d × %d logits\n", n, n_vocab);
        goto done;
    }
    if (decode(ctx, &b, ids, n, 0, o->chunk, logits, n_vocab)) goto done;
    if (o->generate > 0 && generate(ctx, &b, n, o->generate, n_vocab)) goto done;
    if (o->out) {
        FILE *f = fopen(o->out, "wb");
        size_t w = f ? fwrite(logits, sizeof *logits, (size_t)n * (size_t)n_vocab, f) : 0;
        if (!f || w != (size_t)n * (size_t)n_vocab || fclose(f) != 0) {
            fprintf(stderr, "logits_tool: cannot write %s\n", o->out);
            goto done;
        }
    }
    if (o->report) {
        report_stats(ctx, m);
        report_memory("end");
    }
    rc = 0;
done:
    free(logits);
    ts_batch_free(&b);
    ts_context_free(ctx);
    ts_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    int32_t n;
    int32_t *ids = read_ids(o.ids, &n);
    if (!ids) return 1;
    rc = run(&o, ids, n);
    free(ids);
    return rc;
}
