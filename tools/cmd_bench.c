/*
 * cmd_bench.c — `tessera bench [-m MODEL] [-t LIST] [-p N] [-n N] [-d LIST]
 * [-r N] [--json]` and `tessera bench --memory [-t LIST] [--json]`: prompt
 * and generation speed of the engine, measured as llama.cpp's llama-bench
 * measures them so that the two can be compared test for test.
 *
 * Tests, each at every thread count (-t) and depth (-d):
 *  - ppP: a prompt of P token ids decoded in one ts_decode call (one
 *    micro-batch: n_ubatch is max(P, 512)), logits of its last token only;
 *  - tgN: N tokens decoded one at a time, one ts_decode of one token each,
 *    with its logits (no sampling: the cost does not depend on the ids).
 * At depth D the sequence first holds D tokens, decoded untimed before the
 * timed part. Token ids come from a seeded generator.
 *
 * Per thread count: ts_model_load (timed: load_ms; a file that does not
 * load stops the bench before anything else runs), the STREAM-triad
 * bandwidth probe (membw.h; only when tg is measured), the peak-RSS mark
 * reset (the probe's arrays are unmapped by then: they do not count), one
 * context (n_ctx = the largest depth + P + N rounded up to 256 cells), a
 * warm-up (the P-token prompt and one generated token, untimed: the
 * weights' pages are touched there), then the tests. Each
 * test runs -r times on that same context, sequence 0 emptied with
 * ts_seq_rm before each repetition; a repetition's figure is its tokens /
 * its seconds, and a test reports their mean and sample standard deviation
 * (llama-bench's avg_ts and stddev_ts). Peak RSS is VmHWM once the thread
 * count's tests are done.
 *
 * tg reads every weight matrix once per generated token, so the weight
 * bytes a token costs are the context's matmul_weight_bytes (the matrices
 * the products read; an untied token-embedding table is only looked up and
 * not counted, nor is the KV cache), and bw_fraction = those bytes x tg
 * t/s / the triad bandwidth at the same thread count: how close generation
 * runs to the memory's speed.
 *
 * stdout: a markdown table (rows as tests finish) and a table of the
 * figures per thread count, or with --json only one JSON array (one object
 * per test, thread count and depth; llama-bench's `-o json` names where
 * the quantity is the same). Progress lines go to stderr, one per test,
 * with --json or when stdout is not a terminal.
 */
#include "cli.h"
#include "gen_cli.h"
#include "generate.h"
#include "membw.h"

#include "tessera.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#define DEFAULT_N_PROMPT    512
#define DEFAULT_N_GEN       64
#define DEFAULT_REPS        5
#define MAX_LIST            16 /* values in a -t or -d list */
#define MAX_REPS            1000
#define MIN_UBATCH          512 /* n_ubatch = max(P, MIN_UBATCH): depth fills in chunks of it */
#define CTX_ROUND           256 /* n_ctx is rounded up to a multiple of it (as llama.cpp pads) */
#define PROBE_PASSES_BENCH  4   /* timed triad passes inside a bench */
#define PROBE_PASSES_MEMORY 10  /* and for --memory */
#define ID_SEED             0x9e3779b97f4a7c15ull

typedef struct int_list {
    int32_t v[MAX_LIST];
    int n;
} int_list;

typedef struct bench_opts {
    const char *model; /* NULL: the default model */
    int_list threads, depths;
    int32_t n_prompt, n_gen, reps;
    int32_t n_ctx; /* 0: depth + P + N rounded up */
    size_t probe_bytes; /* per triad array */
    bool json, memory;
} bench_opts;

/* What a thread count measures besides its tests. */
typedef struct thread_figs {
    int32_t n_threads;
    double load_ms;       /* ts_model_load */
    double context_ms;    /* ts_context_new: KV cache, arena, weight repacking */
    size_t weight_copies; /* bytes of weights the backend repacked */
    size_t token_bytes;   /* weight bytes a generated token reads */
    uint64_t peak_rss;    /* bytes: VmHWM after the tests */
    const char *cpu_path; /* ts_backend_cpu_path(); static */
    double bandwidth;     /* triad bytes/s; 0 when no tg is measured */
} thread_figs;

/* One test (pp: n_gen 0; tg: n_prompt 0) at one thread count and depth. */
typedef struct bench_result {
    int32_t n_prompt, n_gen, n_depth;
    const thread_figs *figs;
    double *samples_ts; /* (reps) tokens/s of each repetition */
    double avg_ts, stddev_ts;
} bench_result;

/* The whole run. */
typedef struct bench {
    const bench_opts *o;
    char *path;
    uint64_t model_size, n_params; /* ts_model_weight_bytes, ts_model_n_params */
    bool progress;                 /* a line per test on stderr */
    int n_tests;                   /* 1 or 2: pp and/or tg */
    thread_figs *figs;             /* (threads.n) */
    bench_result *res;             /* (threads.n, depths.n, n_tests) */
    double *samples;               /* (threads.n, depths.n, n_tests, reps) */
    ts_token *ids;                 /* (cap) the token ids every decode takes from */
    int32_t cap;                   /* the batch's capacity */
} bench;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* ============================================================== usage */

static void bench_usage(FILE *f) {
    fputs("usage: tessera bench [-m MODEL] [-t LIST] [-p N] [-n N] [-d LIST] [-r N]\n"
          "                     [-c N] [--json]\n"
          "       tessera bench --memory [-t LIST] [--json]\n"
          "\n"
          "Measure prompt processing (ppN) and generation (tgN) speed in tokens/s, as\n"
          "llama.cpp's llama-bench does, at every thread count and depth of the lists.\n"
          "\n"
          "  -m, --model MODEL       a GGUF model (default: " GEN_DEFAULT_MODEL_FILE "\n"
          "                          in ${TESSERA_CACHE:-~/.cache/tessera}/models)\n"
          "  -t, --threads LIST      thread counts, comma-separated (default 1,2)\n"
          "  -p, --n-prompt N        pp test: N prompt tokens in one decode call, logits\n"
          "                          of the last only (default 512; 0: no pp test)\n"
          "  -n, --n-gen N           tg test: N tokens decoded one per call (default 64;\n"
          "                          0: no tg test)\n"
          "  -d, --n-depth LIST      tokens already in the cache before the timed part,\n"
          "                          decoded untimed first; comma-separated (default 0)\n"
          "  -r, --repetitions N     runs of each test; mean and standard deviation of\n"
          "                          their tokens/s are reported (default 5)\n"
          "  -c, --ctx-size N        the context's cells, at least depth + P + N (default:\n"
          "                          that, rounded up to 256): how a short sequence runs\n"
          "                          in a long context\n"
          "  --json                  stdout: one JSON array, one object per test, thread\n"
          "                          count and depth; progress on stderr\n"
          "  --memory                only the memory bandwidth probe, per thread count\n"
          "  -h, --help              this help\n"
          "\n"
          "Per thread count: one model load (load ms), one context of n_ctx = -c or\n"
          "the largest depth + P + N rounded up to 256, n_ubatch max(P, 512); a\n"
          "warm-up; then each test -r times on that context, its sequence emptied\n"
          "before each run. Token ids are seeded pseudo-random; no sampling.\n"
          "\n"
          "Figures: t/s (mean +- sd over the runs); the CPU path (scalar, avx2, avx512,\n"
          "neon, dotprod; the environment variable TESSERA_CPU forces one); load ms\n"
          "(ts_model_load); context ms (ts_context_new: KV cache, arena, and the\n"
          "weights the CPU path repacks: repacked MiB); peak RSS (VmHWM, reset after\n"
          "each load and probe, so repacking counts); for tg the weight bytes read per\n"
          "token (every matrix the products multiply, once per generated token; a\n"
          "table only looked up, like an untied token embedding, is not counted) and\n"
          "bw_fraction = weight bytes x t/s / the memory bandwidth at the same thread\n"
          "count.\n"
          "\n"
          "Memory bandwidth: STREAM triad a[i] = b[i] + s*c[i] over 3 arrays of doubles\n"
          "of 256 MiB each (" MEMBW_ENV "=MIB sets another size), split\n"
          "among the threads, each part first written by its thread; 3 arrays' bytes\n"
          "per pass, best of 10 passes (4 inside a bench, run only when tg is measured).\n"
          "\n"
          "JSON keys (llama-bench's where shared): model_filename, model_size,\n"
          "model_n_params, cpu_path, n_threads, n_prompt, n_gen, n_depth, avg_ts,\n"
          "stddev_ts, samples_ts, load_ms, context_ms, weight_copy_bytes, peak_rss_bytes;\n"
          "tg objects also weight_bytes_per_token, bandwidth_bytes_per_s, bw_fraction.\n"
          "With --memory: n_threads, array_bytes, bandwidth_bytes_per_s.\n"
          "\n"
          "exit status:\n"
          "  0    ok\n"
          "  1    another failure (the context cannot be made, e.g. TESSERA_CPU names a\n"
          "       path this CPU lacks; out of memory; stdout cannot be written)\n"
          "  2    usage error (unknown option, bad option value, -p 0 with -n 0, bad\n"
          "       " MEMBW_ENV ")\n"
          "  3    the model cannot be loaded (also: no -m and no default model)\n"
          "  5    decoding failed\n",
          f);
}

/* ============================================================ options */

static bool parse_count(const char *opt, const char *s, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("bench: %s wants an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

/* "1,2,4": up to MAX_LIST integers in lo..hi. */
static bool parse_list(const char *opt, const char *s, long lo, long hi, int_list *l) {
    l->n = 0;
    const char *p = s;
    char item[32];
    do {
        size_t k = strcspn(p, ",");
        if (l->n == MAX_LIST || k == 0 || k >= sizeof item) {
            cli_error("bench: %s wants up to %d comma-separated integers in %ld..%ld, got '%s'",
                      opt, MAX_LIST, lo, hi, s);
            return false;
        }
        memcpy(item, p, k);
        item[k] = '\0';
        if (!parse_count(opt, item, lo, hi, &l->v[l->n++])) return false;
        p += k;
    } while (*p++ == ',');
    return true;
}

static bool is_opt(const char *a, const char *short_name, const char *long_name) {
    return strcmp(a, short_name) == 0 || strcmp(a, long_name) == 0;
}

static bool takes_value(const char *a) {
    static const char *const names[] = {
        "-m", "--model",    "-t", "--threads", "-d", "--n-depth",
        "-p", "--n-prompt", "-n", "--n-gen",   "-r", "--repetitions",
        "-c", "--ctx-size",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0) return true;
    return false;
}

/* Option a (one of takes_value's) with its value v. */
static bool parse_valued(const char *a, const char *v, bench_opts *o) {
    if (is_opt(a, "-m", "--model")) {
        o->model = v;
        return true;
    }
    if (is_opt(a, "-t", "--threads")) return parse_list(a, v, 1, 1024, &o->threads);
    if (is_opt(a, "-d", "--n-depth")) return parse_list(a, v, 0, GEN_MAX_N_CTX, &o->depths);
    if (is_opt(a, "-p", "--n-prompt")) return parse_count(a, v, 0, GEN_MAX_N_CTX, &o->n_prompt);
    if (is_opt(a, "-n", "--n-gen")) return parse_count(a, v, 0, GEN_MAX_N_CTX, &o->n_gen);
    if (is_opt(a, "-c", "--ctx-size")) return parse_count(a, v, 1, GEN_MAX_N_CTX, &o->n_ctx);
    return parse_count(a, v, 1, MAX_REPS, &o->reps); /* -r, --repetitions */
}

static int parse_option(int argc, char **argv, int *i, bench_opts *o) {
    const char *a = argv[*i];
    if (is_opt(a, "-h", "--help")) return PARSE_HELP;
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return PARSE_OK;
    }
    if (strcmp(a, "--memory") == 0) {
        o->memory = true;
        return PARSE_OK;
    }
    if (!takes_value(a)) {
        cli_error(a[0] == '-' ? "bench: unknown option '%s'" : "bench: unexpected argument '%s'",
                  a);
        return PARSE_BAD;
    }
    if (*i + 1 >= argc) {
        cli_error("bench: %s needs a value", a);
        return PARSE_BAD;
    }
    ++*i;
    return parse_valued(a, argv[*i], o) ? PARSE_OK : PARSE_BAD;
}

static int32_t max_depth(const bench_opts *o) {
    int32_t d = 0;
    for (int i = 0; i < o->depths.n; i++)
        if (o->depths.v[i] > d) d = o->depths.v[i];
    return d;
}

/* The sizes must fit one context: largest depth + P + N cells, rounded up. */
static bool check_sizes(bench_opts *o) {
    if (!o->memory && o->n_prompt == 0 && o->n_gen == 0) {
        cli_error("bench: -p 0 and -n 0 leave nothing to measure");
        return false;
    }
    const int64_t d = max_depth(o), cells = d + o->n_prompt + o->n_gen;
    if ((cells + CTX_ROUND - 1) / CTX_ROUND * CTX_ROUND > GEN_MAX_N_CTX) {
        cli_error("bench: depth %lld + prompt %d + generated %d tokens exceed the engine's "
                  "limit of %d cells",
                  (long long)d, o->n_prompt, o->n_gen, GEN_MAX_N_CTX);
        return false;
    }
    if (o->n_ctx && o->n_ctx < cells) {
        cli_error("bench: -c %d cells cannot hold depth %lld + prompt %d + generated %d tokens",
                  o->n_ctx, (long long)d, o->n_prompt, o->n_gen);
        return false;
    }
    if ((o->memory || o->n_gen > 0) && !membw_array_bytes(&o->probe_bytes)) {
        cli_error("bench: %s wants an integer number of MiB in 1..65536, got '%s'", MEMBW_ENV,
                  getenv(MEMBW_ENV));
        return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){
        .threads = {.v = {1, 2}, .n = 2},
        .depths = {.v = {0}, .n = 1},
        .n_prompt = DEFAULT_N_PROMPT,
        .n_gen = DEFAULT_N_GEN,
        .reps = DEFAULT_REPS,
    };
    for (int i = 1; i < argc; i++) {
        int rc = parse_option(argc, argv, &i, o);
        if (rc != PARSE_OK) return rc;
    }
    return check_sizes(o) ? PARSE_OK : PARSE_BAD;
}

/* ========================================================== measuring */

/* VmHWM of /proc/self/status in bytes; 0 when it cannot be read. */
static uint64_t peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10); /* the kernel says kB */
            break;
        }
    fclose(f);
    return kb * 1024;
}

/* Sequence 0 made to hold d tokens, decoded n_ubatch at a time. */
static ts_status fill_depth(const bench *b, ts_context *ctx, ts_batch *batch, int32_t d) {
    const int32_t u = (int32_t)ts_context_n_ubatch(ctx);
    ts_status st = TS_OK;
    for (int32_t p = 0; st == TS_OK && p < d; p += u)
        st = gen_decode(ctx, batch, b->ids, d - p < u ? d - p : u, p);
    return st;
}

/* The timed part of one repetition of r, after its depth. */
static ts_status timed_part(const bench *b, ts_context *ctx, ts_batch *batch, const bench_result *r,
                            double *seconds) {
    ts_status st = TS_OK;
    double t0 = gen_now();
    if (r->n_prompt > 0) st = gen_decode(ctx, batch, b->ids, r->n_prompt, r->n_depth);
    for (int32_t i = 0; st == TS_OK && i < r->n_gen; i++)
        st = gen_decode(ctx, batch, &b->ids[i % b->cap], 1, r->n_depth + i);
    *seconds = gen_now() - t0;
    return st;
}

/* Mean and sample standard deviation (n - 1; 0 for one run), as
 * llama-bench's avg_ts and stddev_ts. */
static void summarize(bench_result *r, int reps) {
    double sum = 0, sq = 0;
    for (int k = 0; k < reps; k++) sum += r->samples_ts[k];
    r->avg_ts = sum / reps;
    for (int k = 0; k < reps; k++)
        sq += (r->samples_ts[k] - r->avg_ts) * (r->samples_ts[k] - r->avg_ts);
    r->stddev_ts = reps > 1 ? sqrt(sq / (reps - 1)) : 0.0;
}

/* Every repetition of r on ctx, sequence 0 emptied before each. */
static ts_status run_test(const bench *b, ts_context *ctx, ts_batch *batch, bench_result *r) {
    for (int k = 0; k < b->o->reps; k++) {
        double seconds = 0;
        ts_seq_rm(ctx, 0, 0, -1);
        ts_status st = fill_depth(b, ctx, batch, r->n_depth);
        if (st == TS_OK) st = timed_part(b, ctx, batch, r, &seconds);
        if (st != TS_OK) return st;
        r->samples_ts[k] = (r->n_prompt + r->n_gen) / seconds;
    }
    summarize(r, b->o->reps);
    return TS_OK;
}

/* The prompt and one generated token, untimed (llama-bench warms up the
 * same way): the weights' pages and the arena are touched here. */
static ts_status warm_up(const bench *b, ts_context *ctx, ts_batch *batch) {
    const int32_t p = b->o->n_prompt;
    ts_status st = TS_OK;
    if (p > 0) st = gen_decode(ctx, batch, b->ids, p, 0);
    if (st == TS_OK && b->o->n_gen > 0) st = gen_decode(ctx, batch, b->ids, 1, p);
    ts_seq_rm(ctx, 0, 0, -1);
    return st;
}

/* Weight bytes x t/s / bandwidth, for a tg result. */
static double bw_fraction(const bench *b, const bench_result *r) {
    return (double)r->figs->token_bytes * r->avg_ts / r->figs->bandwidth;
}

/* ============================================================= output */

/* "pp512", "tg64 @ d4096" */
static void test_name(const bench_result *r, char *buf, size_t cap) {
    int n = r->n_prompt > 0 ? snprintf(buf, cap, "pp%d", r->n_prompt)
                            : snprintf(buf, cap, "tg%d", r->n_gen);
    if (r->n_depth > 0 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " @ d%d", r->n_depth);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int model_width(const bench *b) {
    int w = (int)strlen(base_name(b->path));
    return w < 5 ? 5 : w;
}

static void print_table_header(const bench *b) {
    const int w = model_width(b);
    printf("| %-*s |       size |     params | backend    | threads |            test |"
           "                  t/s | bw_fraction |\n",
           w, "model");
    printf("| ");
    for (int i = 0; i < w; i++) putchar('-');
    printf(" | ---------: | ---------: | ---------- | ------: | --------------: |"
           " -------------------: | ----------: |\n");
    fflush(stdout);
}

/* "92.10 MiB", "1.23 GiB" (as llama-bench prints sizes) */
static void size_text(uint64_t bytes, char *buf, size_t cap) {
    if (bytes < (1ull << 30))
        snprintf(buf, cap, "%.2f MiB", (double)bytes / (1 << 20));
    else
        snprintf(buf, cap, "%.2f GiB", (double)bytes / (1 << 30));
}

static void print_row(const bench *b, const bench_result *r) {
    char name[64], size[32], ts[64], frac[32] = "";
    test_name(r, name, sizeof name);
    size_text(b->model_size, size, sizeof size);
    snprintf(ts, sizeof ts, "%.2f \u00b1 %.2f", r->avg_ts, r->stddev_ts);
    if (r->n_gen > 0) snprintf(frac, sizeof frac, "%.3f", bw_fraction(b, r));
    printf("| %-*s | %10s | %8.2f M | CPU %-6s | %7d | %15s | %21s | %11s |\n", model_width(b),
           base_name(b->path), size, (double)b->n_params / 1e6, r->figs->cpu_path,
           r->figs->n_threads, name, ts, frac);
    fflush(stdout);
}

static void print_progress(const bench *b, const bench_result *r) {
    char name[64];
    test_name(r, name, sizeof name);
    fprintf(stderr, "bench: t=%d %s: %.2f +- %.2f t/s (%d run%s)", r->figs->n_threads, name,
            r->avg_ts, r->stddev_ts, b->o->reps, b->o->reps == 1 ? "" : "s");
    if (r->n_gen > 0) fprintf(stderr, ", bw_fraction %.3f", bw_fraction(b, r));
    fputc('\n', stderr);
}

/* The figures per thread count, after the tests' table. */
static void print_figs(const bench *b) {
    printf(
        "\n| threads | cpu path | load ms | context ms | repacked MiB | peak RSS MiB | triad GB/s "
        "| "
        "weights MiB/token |\n"
        "| ------: | -------- | ------: | ---------: | -----------: | -----------: | ---------: | "
        "----------------: |\n");
    for (int i = 0; i < b->o->threads.n; i++) {
        const thread_figs *f = &b->figs[i];
        char bw[32] = "", wb[32] = "";
        if (b->o->n_gen > 0) {
            snprintf(bw, sizeof bw, "%.2f", f->bandwidth / 1e9);
            snprintf(wb, sizeof wb, "%.2f", (double)f->token_bytes / (1 << 20));
        }
        printf("| %7d | %-8s | %7.1f | %10.1f | %12.1f | %12.1f | %10s | %17s |\n", f->n_threads,
               f->cpu_path, f->load_ms, f->context_ms, (double)f->weight_copies / (1 << 20),
               (double)f->peak_rss / (1 << 20), bw, wb);
    }
    if (b->o->n_gen > 0)
        printf("\ntg reads every weight matrix once per generated token; bw_fraction = "
               "weights/token x t/s / triad bandwidth (3 x %zu MiB arrays).\n",
               b->o->probe_bytes >> 20);
}

/* --------------------------------------------------------------- JSON */

/* A number, or null when it is not finite (JSON has no NaN). */
static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static bool jset(json_t *o, const char *key, json_t *v) {
    return json_object_set_new(o, key, v) == 0;
}

/* A JSON string of s (which need not be UTF-8: ill-formed bytes become
 * U+FFFD). */
static json_t *jstr(const char *s) {
    size_t len = 0;
    char *fixed = cli_utf8_replace(s, strlen(s), &len);
    json_t *j = fixed ? json_stringn(fixed, len) : NULL;
    free(fixed);
    return j;
}

static json_t *result_json(const bench *b, const bench_result *r) {
    const thread_figs *f = r->figs;
    json_t *o = json_object(), *samples = json_array();
    bool ok = o && samples;
    for (int k = 0; ok && k < b->o->reps; k++)
        ok = json_array_append_new(samples, jnum(r->samples_ts[k])) == 0;
    ok = ok && jset(o, "model_filename", jstr(b->path)) &&
         jset(o, "model_size", json_integer((json_int_t)b->model_size)) &&
         jset(o, "model_n_params", json_integer((json_int_t)b->n_params)) &&
         jset(o, "cpu_path", json_string(f->cpu_path)) &&
         jset(o, "n_threads", json_integer(f->n_threads)) &&
         jset(o, "n_prompt", json_integer(r->n_prompt)) &&
         jset(o, "n_gen", json_integer(r->n_gen)) && jset(o, "n_depth", json_integer(r->n_depth)) &&
         jset(o, "avg_ts", jnum(r->avg_ts)) && jset(o, "stddev_ts", jnum(r->stddev_ts)) &&
         jset(o, "samples_ts", json_incref(samples)) && jset(o, "load_ms", jnum(f->load_ms)) &&
         jset(o, "context_ms", jnum(f->context_ms)) &&
         jset(o, "weight_copy_bytes", json_integer((json_int_t)f->weight_copies)) &&
         jset(o, "peak_rss_bytes", json_integer((json_int_t)f->peak_rss));
    if (ok && r->n_gen > 0)
        ok = jset(o, "weight_bytes_per_token", json_integer((json_int_t)f->token_bytes)) &&
             jset(o, "bandwidth_bytes_per_s", jnum(f->bandwidth)) &&
             jset(o, "bw_fraction", jnum(bw_fraction(b, r)));
    json_decref(samples);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* arr (taken) on stdout, then a newline. */
static int dump_json(json_t *arr) {
    int rc = CLI_EXIT_OK;
    if (!arr) {
        cli_error("bench: out of memory");
        rc = CLI_EXIT_FAIL;
    } else if (json_dumpf(arr, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF) {
        cli_error("bench: cannot write to stdout");
        rc = CLI_EXIT_FAIL;
    }
    json_decref(arr);
    return rc;
}

static int print_json(const bench *b) {
    json_t *arr = json_array();
    const int n = b->o->threads.n * b->o->depths.n * b->n_tests;
    for (int i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, result_json(b, &b->res[i])) != 0)
            json_decref(arr), arr = NULL;
    return dump_json(arr);
}

/* ==================================================== per thread count */

/* The triad bandwidth at f's thread count, when tg is measured. */
static int measure_bandwidth(const bench *b, thread_figs *f) {
    if (b->o->n_gen == 0) return CLI_EXIT_OK;
    if (!membw_triad(f->n_threads, b->o->probe_bytes, PROBE_PASSES_BENCH, &f->bandwidth)) {
        cli_error("bench: the memory bandwidth probe (3 x %zu MiB, %d threads) failed: %s",
                  b->o->probe_bytes >> 20, f->n_threads, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (b->progress)
        fprintf(stderr, "bench: t=%d: memory bandwidth %.2f GB/s (STREAM triad, 3 x %zu MiB)\n",
                f->n_threads, f->bandwidth / 1e9, b->o->probe_bytes >> 20);
    return CLI_EXIT_OK;
}

/* At the first load: the model's figures and the token ids (seeded
 * xorshift64, in 0..n_vocab-1). */
static int describe_model(bench *b, const ts_model *m) {
    b->model_size = ts_model_weight_bytes(m);
    b->n_params = ts_model_n_params(m);
    const uint64_t n_vocab = (uint64_t)ts_model_n_vocab(m);
    b->cap = b->o->n_prompt > MIN_UBATCH ? b->o->n_prompt : MIN_UBATCH;
    b->ids = malloc((size_t)b->cap * sizeof *b->ids);
    if (!b->ids) {
        cli_error("bench: out of memory");
        return CLI_EXIT_FAIL;
    }
    uint64_t x = ID_SEED;
    for (int32_t i = 0; i < b->cap; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b->ids[i] = (ts_token)(x % n_vocab);
    }
    return CLI_EXIT_OK;
}

/* ts_model_load, timed. */
static int load_model(bench *b, thread_figs *f, ts_model **m) {
    double t0 = gen_now();
    ts_status st = ts_model_load(b->path, NULL, m);
    f->load_ms = (gen_now() - t0) * 1e3;
    if (st != TS_OK) {
        cli_lib_error(st);
        return GEN_EXIT_MODEL;
    }
    return b->ids ? CLI_EXIT_OK : describe_model(b, *m);
}

/* From here VmHWM counts this thread count's model, context and tests:
 * the heap the previous one freed is given back to the system (glibc keeps
 * it) and the mark is reset to the current RSS, the probe's arrays gone. */
static void reset_peak_rss(const bench *b, const thread_figs *f) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    FILE *clear = fopen("/proc/self/clear_refs", "w"); /* Linux >= 4.0 */
    bool ok = clear && fputs("5", clear) >= 0;
    if (clear && fclose(clear) != 0) ok = false;
    if (!ok && f == b->figs)
        fprintf(stderr, "bench: cannot reset the peak RSS (/proc/self/clear_refs): it is the "
                        "process's, the bandwidth probe's arrays included\n");
}

/* One context for every test of a thread count, and a batch. */
static int open_context(const bench *b, const ts_model *m, int32_t n_threads, ts_context **ctx,
                        ts_batch *batch) {
    const bench_opts *o = b->o;
    const int64_t cells = (int64_t)max_depth(o) + o->n_prompt + o->n_gen;
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = o->n_ctx ? (uint32_t)o->n_ctx
                        : (uint32_t)((cells + CTX_ROUND - 1) / CTX_ROUND * CTX_ROUND);
    cp.n_ubatch = (uint32_t)b->cap; /* max(P, 512): the prompt in one micro-batch */
    cp.n_threads = n_threads;
    ts_status st = ts_context_new(m, &cp, ctx);
    if (st == TS_OK) st = ts_batch_init(batch, b->cap, 1);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

static bench_result *result_at(const bench *b, int ti, int di, int k) {
    return &b->res[(ti * b->o->depths.n + di) * b->n_tests + k];
}

/* Warm-up, then every test at every depth. */
static int run_tests(const bench *b, int ti, ts_context *ctx, ts_batch *batch) {
    if (ti == 0 && !b->o->json) print_table_header(b);
    ts_status st = warm_up(b, ctx, batch);
    for (int di = 0; st == TS_OK && di < b->o->depths.n; di++)
        for (int k = 0; st == TS_OK && k < b->n_tests; k++) {
            bench_result *r = result_at(b, ti, di, k);
            st = run_test(b, ctx, batch, r);
            if (st == TS_OK && !b->o->json) print_row(b, r);
            if (st == TS_OK && b->progress) print_progress(b, r);
        }
    if (st == TS_OK) return CLI_EXIT_OK;
    cli_lib_error(st);
    return GEN_EXIT_DECODE;
}

static int bench_threads(bench *b, int ti) {
    thread_figs *f = &b->figs[ti];
    ts_model *m = NULL;
    ts_context *ctx = NULL;
    ts_batch batch = {0};
    int rc = load_model(b, f, &m);
    if (rc == CLI_EXIT_OK) rc = measure_bandwidth(b, f);
    if (rc == CLI_EXIT_OK) {
        reset_peak_rss(b, f);
        const double t0 = gen_now();
        rc = open_context(b, m, f->n_threads, &ctx, &batch);
        f->context_ms = (gen_now() - t0) * 1e3;
    }
    if (rc == CLI_EXIT_OK) {
        f->cpu_path = ts_backend_cpu_path();
        ts_context_stats cs;
        ts_context_get_stats(ctx, &cs);
        f->weight_copies = cs.weight_copy_bytes;
        f->token_bytes = cs.matmul_weight_bytes;
        if (b->progress)
            fprintf(stderr,
                    "bench: t=%d: model loaded in %.1f ms, context made in %.1f ms (%.1f MiB of "
                    "weights repacked); CPU path %s\n",
                    f->n_threads, f->load_ms, f->context_ms, (double)f->weight_copies / (1 << 20),
                    f->cpu_path);
        rc = run_tests(b, ti, ctx, &batch);
    }
    f->peak_rss = peak_rss_bytes();
    if (rc == CLI_EXIT_OK && b->progress)
        fprintf(stderr, "bench: t=%d: peak RSS %.1f MiB\n", f->n_threads,
                (double)f->peak_rss / (1 << 20));
    ts_batch_free(&batch);
    ts_context_free(ctx);
    ts_model_free(m);
    return rc;
}

/* ============================================================ command */

/* The results' layout (threads, depths, tests) and the model's path. */
static int bench_init(bench *b, const bench_opts *o) {
    *b = (bench){.o = o, .n_tests = (o->n_prompt > 0) + (o->n_gen > 0)};
    b->progress = o->json || !isatty(STDOUT_FILENO);
    int rc = CLI_EXIT_OK;
    b->path = gen_model_path("bench", o->model, &rc);
    if (!b->path) return rc;
    const int n = o->threads.n * o->depths.n * b->n_tests;
    b->figs = calloc((size_t)o->threads.n, sizeof *b->figs);
    b->res = calloc((size_t)n, sizeof *b->res);
    b->samples = calloc((size_t)n * (size_t)o->reps, sizeof *b->samples);
    if (!b->figs || !b->res || !b->samples) {
        cli_error("bench: out of memory");
        return CLI_EXIT_FAIL;
    }
    for (int ti = 0; ti < o->threads.n; ti++) {
        b->figs[ti].n_threads = o->threads.v[ti];
        for (int di = 0; di < o->depths.n; di++)
            for (int k = 0; k < b->n_tests; k++) {
                bench_result *r = result_at(b, ti, di, k);
                bool pp = k == 0 && o->n_prompt > 0;
                *r = (bench_result){
                    .n_prompt = pp ? o->n_prompt : 0,
                    .n_gen = pp ? 0 : o->n_gen,
                    .n_depth = o->depths.v[di],
                    .figs = &b->figs[ti],
                    .samples_ts = b->samples + (r - b->res) * o->reps,
                };
            }
    }
    return CLI_EXIT_OK;
}

static void bench_free(bench *b) {
    free(b->path);
    free(b->figs);
    free(b->res);
    free(b->samples);
    free(b->ids);
}

static json_t *memory_json(int n_threads, size_t array_bytes, double bw) {
    json_t *o = json_object();
    if (o && jset(o, "n_threads", json_integer(n_threads)) &&
        jset(o, "array_bytes", json_integer((json_int_t)array_bytes)) &&
        jset(o, "bandwidth_bytes_per_s", jnum(bw)))
        return o;
    json_decref(o);
    return NULL;
}

/* `--memory`: the triad bandwidth at each thread count, as a table or as
 * JSON (figures on stderr). */
static int run_memory(const bench_opts *o) {
    json_t *arr = o->json ? json_array() : NULL;
    if (!o->json)
        printf("STREAM triad a[i] = b[i] + s*c[i]: 3 arrays of %zu MiB (double), 3 arrays' bytes "
               "per pass, best of %d passes\n\n| threads |     GB/s |\n| ------: | -------: |\n",
               o->probe_bytes >> 20, PROBE_PASSES_MEMORY);
    for (int i = 0; i < o->threads.n && (arr || !o->json); i++) {
        const int t = o->threads.v[i];
        double bw = 0;
        if (!membw_triad(t, o->probe_bytes, PROBE_PASSES_MEMORY, &bw)) {
            cli_error("bench: the memory bandwidth probe (3 x %zu MiB, %d threads) failed: %s",
                      o->probe_bytes >> 20, t, strerror(errno));
            json_decref(arr);
            return CLI_EXIT_FAIL;
        }
        if (o->json) {
            fprintf(stderr, "bench: t=%d: memory bandwidth %.2f GB/s\n", t, bw / 1e9);
            if (json_array_append_new(arr, memory_json(t, o->probe_bytes, bw)) != 0)
                json_decref(arr), arr = NULL;
        } else {
            printf("| %7d | %8.2f |\n", t, bw / 1e9);
            fflush(stdout);
        }
    }
    return o->json ? dump_json(arr) : CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        bench_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD: /* the one-line message is enough; --help has the rest */
        return CLI_EXIT_USAGE;
    }
    int rc = o.memory ? run_memory(&o) : CLI_EXIT_OK;
    if (!o.memory) {
        bench b;
        rc = bench_init(&b, &o);
        for (int ti = 0; rc == CLI_EXIT_OK && ti < o.threads.n; ti++) rc = bench_threads(&b, ti);
        if (rc == CLI_EXIT_OK) {
            if (o.json)
                rc = print_json(&b);
            else
                print_figs(&b);
        }
        bench_free(&b);
    }
    if (rc == CLI_EXIT_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        cli_error("bench: cannot write to stdout");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
