/*
 * bench_generate.c — end-to-end speed and memory of the engine on a real
 * model (default: SmolLM2-135M-Instruct Q4_1 in the model cache).
 *
 *   bench_generate [-r REPEATS] [-t THREADS[,THREADS...]] [MODEL]
 *
 * For each thread count (default 1 and 2):
 *  - load: ts_model_load (mmap and validation; the weights are not read);
 *  - pp128, pp512: a prompt of 128 / 512 tokens decoded in one batch
 *    (one micro-batch), logits of the last token only — prompt tokens/s;
 *  - tg64: after the 128-token prompt, 64 tokens generated one at a time
 *    (greedy sampler, one decode each) — generation tokens/s;
 *  - memory after generating: peak resident set (VmHWM, reset before each
 *    thread count through /proc/self/clear_refs) and RssAnon (heap: KV
 *    cache, activation arena, logits; the weights are file-backed), and the
 *    context's KV and arena bytes (ts_context_get_stats). Before each run
 *    the heap earlier runs freed is given back (malloc_trim on glibc), so
 *    the figures are one context's.
 * Every context has n_ctx 1024 and n_ubatch 512. Prompt ids come from a
 * seeded generator (the cost does not depend on them). A fresh context per
 * run; the best (shortest) of REPEATS runs counts (default 1: one run of
 * everything takes about a minute on 2 cores). Not a test: no asserts on
 * timing.
 */
#include "tessera.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#define DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define N_CTX              1024
#define N_UBATCH           512
#define N_GEN              64
#define MAX_THREAD_COUNTS  8

static const int32_t PROMPT_SIZES[] = {128, 512};
#define N_PROMPTS 2

typedef struct bench_opts {
    const char *model;
    int repeats;
    int threads[MAX_THREAD_COUNTS];
    int n_threads;
} bench_opts;

/* Figures of one thread count. */
typedef struct bench_row {
    int threads;
    double load_s;
    double pp_tps[N_PROMPTS];
    double tg_tps;
    double hwm_mib, anon_mib;
    size_t kv_bytes, arena_bytes;
} bench_row;

/* ================================================================ helpers */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A field of /proc/self/status in MiB ("VmHWM", "RssAnon"); -1 if absent. */
static double proc_status_mib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double mib = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            mib = strtod(line + n + 1, NULL) / 1024.0; /* the kernel says kB */
            break;
        }
    fclose(f);
    return mib;
}

/* Give the heap that earlier runs freed back to the system: glibc keeps
 * it (its mmap threshold grows after large frees), which would count in
 * this run's RssAnon. */
static void release_heap(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Reset VmHWM to the current RSS (Linux >= 4.0); silently nothing else. */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

static int fail(const char *what, ts_status st) {
    fprintf(stderr, "bench_generate: %s: %s\n", what,
            ts_last_error()[0] ? ts_last_error() : ts_status_str(st));
    return 1;
}

/* ================================================================ runs */

/* Decode ids[0..n) at positions pos0.. of sequence 0, logits for the last. */
static ts_status decode(ts_context *ctx, ts_batch *b, const ts_token *ids, int32_t n, ts_pos pos0) {
    static const ts_seq_id seq0 = 0;
    ts_batch_clear(b);
    for (int32_t i = 0; i < n; i++) {
        ts_status st = ts_batch_add(b, ids[i], pos0 + i, &seq0, 1, i == n - 1);
        if (st != TS_OK) return st;
    }
    return ts_decode(ctx, b);
}

/* One run on a fresh context: the prompt, then (when gen) N_GEN tokens.
 * Seconds of each part in *pp_s / *tg_s; memory figures into *row. */
static ts_status run_once(const ts_model *m, int threads, const ts_token *prompt, int32_t n,
                          bool gen, double *pp_s, double *tg_s, bench_row *row) {
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = N_CTX, cp.n_ubatch = N_UBATCH, cp.n_threads = threads;
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = 0; /* greedy */
    ts_context *ctx = NULL;
    ts_sampler *s = NULL;
    ts_batch b = {0};
    release_heap();
    ts_status st = ts_context_new(m, &cp, &ctx);
    if (st == TS_OK) st = ts_sampler_new(&sp, ts_model_n_vocab(m), &s);
    if (st == TS_OK) st = ts_batch_init(&b, n, 1);
    double t0 = now_seconds();
    if (st == TS_OK) st = decode(ctx, &b, prompt, n, 0);
    double t1 = now_seconds();
    *pp_s = t1 - t0;
    for (int32_t i = 0; gen && st == TS_OK && i < N_GEN; i++) {
        ts_token t = ts_sampler_sample(s, ts_get_logits(ctx, b.n_tokens - 1));
        ts_sampler_accept(s, t);
        st = decode(ctx, &b, &t, 1, n + i);
    }
    *tg_s = now_seconds() - t1;
    if (st == TS_OK && gen) {
        ts_context_stats cs;
        ts_context_get_stats(ctx, &cs);
        row->kv_bytes = cs.kv_bytes, row->arena_bytes = cs.arena_bytes;
        row->anon_mib = proc_status_mib("RssAnon");
    }
    ts_batch_free(&b);
    ts_sampler_free(s);
    ts_context_free(ctx);
    return st;
}

/* Every figure of one thread count, best of o->repeats. */
static int bench_threads(const bench_opts *o, int threads, const ts_token *prompt, bench_row *row) {
    *row = (bench_row){.threads = threads};
    release_heap();
    reset_peak_rss();
    ts_model *m = NULL;
    double t0 = now_seconds();
    ts_status st = ts_model_load(o->model, NULL, &m);
    row->load_s = now_seconds() - t0;
    if (st != TS_OK) return fail(o->model, st);
    double best_pp[N_PROMPTS], best_tg = 1e300;
    for (int p = 0; p < N_PROMPTS; p++) best_pp[p] = 1e300;
    for (int r = 0; r < o->repeats && st == TS_OK; r++)
        for (int p = 0; p < N_PROMPTS && st == TS_OK; p++) {
            double pp_s, tg_s;
            st = run_once(m, threads, prompt, PROMPT_SIZES[p], p == 0, &pp_s, &tg_s, row);
            if (pp_s < best_pp[p]) best_pp[p] = pp_s;
            if (p == 0 && tg_s < best_tg) best_tg = tg_s;
        }
    for (int p = 0; p < N_PROMPTS; p++) row->pp_tps[p] = PROMPT_SIZES[p] / best_pp[p];
    row->tg_tps = N_GEN / best_tg;
    row->hwm_mib = proc_status_mib("VmHWM");
    ts_model_free(m);
    return st == TS_OK ? 0 : fail("decode", st);
}

/* ============================================================== output */

static void print_header(const bench_opts *o, const ts_model *m) {
    printf("model: %s\n", o->model);
    printf("  %s, %.1fM params, %d layers, weights %.1f MB; n_ctx %d, n_ubatch %d; best of %d\n",
           ts_model_arch(m), (double)ts_model_n_params(m) / 1e6, ts_model_n_layer(m),
           (double)ts_model_weight_bytes(m) / 1e6, N_CTX, N_UBATCH, o->repeats);
    printf("  ppN: N-token prompt in one batch; tg%d: %d tokens one by one after pp%d "
           "(greedy); memory after tg\n\n",
           N_GEN, N_GEN, PROMPT_SIZES[0]);
    printf("threads  load ms  pp%d t/s  pp%d t/s  tg%d t/s  VmHWM MiB  RssAnon MiB  KV MiB  "
           "arena MiB\n",
           PROMPT_SIZES[0], PROMPT_SIZES[1], N_GEN);
}

static void print_row(const bench_row *r) {
    printf("%7d  %7.1f  %9.1f  %9.1f  %8.1f  %9.1f  %11.1f  %6.1f  %9.1f\n", r->threads,
           r->load_s * 1e3, r->pp_tps[0], r->pp_tps[1], r->tg_tps, r->hwm_mib, r->anon_mib,
           (double)r->kv_bytes / (1 << 20), (double)r->arena_bytes / (1 << 20));
    fflush(stdout);
}

/* ============================================================== options */

static void usage(FILE *f) {
    fputs("usage: bench_generate [-r REPEATS] [-t THREADS[,THREADS...]] [MODEL]\n"
          "  MODEL  a GGUF model (default: " DEFAULT_MODEL_FILE " in\n"
          "         ${TESSERA_CACHE:-~/.cache/tessera}/models; scripts/fetch-model.sh)\n"
          "  -r     runs of each measurement; the best counts (default 1)\n"
          "  -t     thread counts, comma-separated (default 1,2)\n",
          f);
}

static bool parse_threads(char *s, bench_opts *o) {
    o->n_threads = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 1024 || o->n_threads == MAX_THREAD_COUNTS) return false;
        o->threads[o->n_threads++] = (int)v;
    }
    return o->n_threads > 0;
}

static int parse_args(int argc, char **argv, bench_opts *o, char *path, size_t cap) {
    *o = (bench_opts){.repeats = 1, .threads = {1, 2}, .n_threads = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "-r") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) return -1;
            o->repeats = (int)v;
        } else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
            if (!parse_threads(argv[++i], o)) return -1;
        } else if (a[0] != '-' && !o->model) {
            o->model = a;
        } else {
            return -1;
        }
    }
    if (!o->model) {
        const char *cache = getenv("TESSERA_CACHE"), *home = getenv("HOME");
        if (cache && cache[0])
            snprintf(path, cap, "%s/models/%s", cache, DEFAULT_MODEL_FILE);
        else
            snprintf(path, cap, "%s/.cache/tessera/models/%s", home ? home : "",
                     DEFAULT_MODEL_FILE);
        o->model = path;
    }
    return 0;
}

int main(int argc, char **argv) {
    bench_opts o;
    char path[4096];
    if (parse_args(argc, argv, &o, path, sizeof path) != 0) {
        usage(stderr);
        return 2;
    }
    ts_model *m = NULL;
    ts_status st = ts_model_load(o.model, NULL, &m);
    if (st != TS_OK) {
        fail(o.model, st);
        fprintf(stderr,
                "bench_generate: the default model comes from scripts/fetch-model.sh smollm2\n");
        return 1;
    }
    print_header(&o, m);
    ts_token prompt[512];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 512; i++) { /* xorshift64: ids in [0, n_vocab) */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        prompt[i] = (ts_token)(x % (uint64_t)ts_model_n_vocab(m));
    }
    ts_model_free(m);
    for (int t = 0; t < o.n_threads; t++) {
        bench_row row;
        if (bench_threads(&o, o.threads[t], prompt, &row) != 0) return 1;
        print_row(&row);
    }
    return 0;
}
