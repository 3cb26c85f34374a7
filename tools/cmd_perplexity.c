/*
 * cmd_perplexity.c — `tessera perplexity [-m MODEL] -f TEXT [-c CTX]
 * [--chunks N] [-t THREADS] [-b BATCH] [--logits-out FILE]`: a model's
 * perplexity on a text, computed as llama.cpp's llama-perplexity computes it
 * (tools/perplexity/perplexity.cpp, perplexity()), so that the two figures
 * can be compared:
 *
 *  1. The whole text, less one trailing newline (llama.cpp's -f drops it),
 *     is tokenized as the model file asks (BOS only when
 *     tokenizer.ggml.add_bos_token says so; text that looks like a control
 *     token stays text) and cut into chunks of c tokens, back to back. The
 *     tail that fills no chunk is left out, and so are the chunks after
 *     --chunks N.
 *  2. Each chunk is decoded alone, from position 0 of an emptied KV cache,
 *     its first token replaced by BOS when the file adds one.
 *  3. Only its second half is scored, so that every prediction sees at
 *     least f tokens: the logits at positions f .. c-2 predict the tokens at
 *     f+1 .. c-1.
 *  4. NLL = -log softmax(logits)[next token], in double precision. Over the
 *     n tokens scored, PPL = exp(mean NLL), and its uncertainty is
 *     llama.cpp's: PPL · sqrt(var / (n - 1)), var = mean(NLL²) - mean(NLL)²
 *     — the standard error of the mean NLL, carried through exp to first
 *     order (d exp(x) = exp(x) dx).
 *
 * The sums run on one thread in scoring order, and the engine's logits do
 * not depend on the thread count or on how a batch is split, so the
 * figures and the --logits-out file are the same for any -t and -b.
 *
 * stdout gets one line, llama-perplexity's "Final estimate: PPL = X +/- Y";
 * stderr the load figures and one progress line per chunk.
 *
 * Letters: c = tokens per chunk (-c), f = c/2 (the first scored logits
 * row), r = c - 1 - f rows scored per chunk, b = tokens per ts_decode call
 * (-b), v = n_vocab.
 */
#include "cli.h"
#include "gen_cli.h"

#include "tessera.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CMD "perplexity"

/* Exit codes of `tessera perplexity` (0, 1 and 2 as every subcommand). */
enum {
    PPL_EXIT_MODEL = GEN_EXIT_MODEL,         /* the model cannot be loaded */
    PPL_EXIT_SHORT = 4,                      /* the text is shorter than one chunk */
    PPL_EXIT_DECODE = GEN_EXIT_DECODE,       /* decoding failed */
    PPL_EXIT_INTERRUPT = GEN_EXIT_INTERRUPT, /* SIGINT */
};

#define DEFAULT_N_CTX 512 /* llama-perplexity's default */
#define MIN_N_CTX     3   /* c = 2 scores nothing: r = 2 - 1 - 1 = 0 */
#define MAX_UBATCH    512 /* the arena holds a micro-batch against c cells */

/* --logits-out: a 20-byte header, then each scored logits row; all little-
 * endian. Nothing in it depends on the run (path, time, threads), so two
 * runs can be compared with cmp. */
#define LOGITS_MAGIC        "TSLG"
#define LOGITS_VERSION      1u
#define LOGITS_HEADER_BYTES 20 /* magic, u32 version, u32 v, u64 rows */

typedef struct ppl_opts {
    const char *model;      /* -m; NULL: the default model in the cache */
    const char *text;       /* -f; "-": stdin */
    const char *logits_out; /* --logits-out; NULL: none */
    int32_t n_ctx;          /* -c: c */
    int32_t n_chunks;       /* --chunks; 0: every full chunk */
    int32_t n_batch;        /* -b; 0: c (taken as min(b, c)) */
    int32_t n_threads;      /* -t; 0: one per core */
} ppl_opts;

/* What one run holds; freed by session_free. */
typedef struct session {
    gen_model m;
    ts_context *ctx;
    ts_batch batch; /* capacity b */
    ts_token *ids;  /* (n_ids) the whole text */
    size_t n_ids;
    int32_t n_chunks;      /* chunks to score */
    ts_token bos;          /* each chunk's first token; TS_TOKEN_NULL: keep it */
    FILE *logits;          /* --logits-out while open, or NULL */
    bool logits_made;      /* this run created --logits-out */
    unsigned char *row_le; /* (v · 4) a logits row in the file's byte order */
} session;

/* Sums over the scored tokens. */
typedef struct nll_sum {
    double nll, nll2; /* Σ NLL, Σ NLL² */
    int64_t n;        /* tokens scored */
} nll_sum;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* ============================================================== usage */

static void ppl_usage(FILE *f) {
    fputs("usage: tessera perplexity [-m MODEL] -f TEXT [-c CTX] [--chunks N]\n"
          "                          [-t THREADS] [-b BATCH] [--logits-out FILE]\n"
          "\n"
          "The perplexity of MODEL on TEXT, computed as llama.cpp's llama-perplexity\n"
          "does: the text (less one trailing newline, as llama.cpp's -f) is tokenized\n"
          "(BOS as the model file asks) and cut into chunks of CTX tokens; each\n"
          "chunk is decoded alone, its first token made BOS when the file adds one,\n"
          "and its second half scored (the logits at positions CTX/2 .. CTX-2\n"
          "predict the next token). PPL = exp(mean NLL).\n"
          "stdout gets one line, \"Final estimate: PPL = X +/- Y\" (llama-perplexity's\n"
          "format); stderr the load figures and one line per chunk (running PPL,\n"
          "seconds per chunk, time left).\n"
          "\n"
          "  -m, --model MODEL       a GGUF model (default: " GEN_DEFAULT_MODEL_FILE "\n"
          "                          in ${TESSERA_CACHE:-~/.cache/tessera}/models)\n"
          "  -f, --file TEXT         the text (\"-\": stdin)\n"
          "  -c, --ctx-size CTX      tokens per chunk, 3 .. the model's training\n"
          "                          context (default 512)\n"
          "  --chunks N              score the first N chunks (default: every full one)\n"
          "  -t, --threads T         CPU threads (default: one per core)\n"
          "  -b, --batch-size B      tokens per decode call (default and at most CTX;\n"
          "                          the figures do not depend on it)\n"
          "  --logits-out FILE       write each scored logits row to FILE: \"TSLG\",\n"
          "                          u32 version 1, u32 n_vocab, u64 rows, then rows of\n"
          "                          n_vocab float32, chunk by chunk, all little-endian\n"
          "  -h, --help              this help\n"
          "\n"
          "exit status:\n"
          "  0    ok\n"
          "  1    another failure (TEXT or FILE cannot be read or written, out of\n"
          "       memory, a tokenizer that adds EOS or gives ids beyond the logits)\n"
          "  2    usage error (unknown option, bad option value, no -f, CTX below 3 or\n"
          "       above the model's training context)\n"
          "  3    the model cannot be loaded (see `tessera run --help`)\n"
          "  4    the text has fewer tokens than one chunk (both counts are named)\n"
          "  5    decoding failed\n"
          "  130  interrupted (SIGINT)\n",
          f);
}

/* ============================================================ options */

static bool is_opt(const char *a, const char *short_name, const char *long_name) {
    return (short_name && strcmp(a, short_name) == 0) || strcmp(a, long_name) == 0;
}

static bool takes_value(const char *a) {
    static const char *const names[] = {
        "-m",       "--model", "-f",        "--file", "-c",           "--ctx-size",
        "--chunks", "-t",      "--threads", "-b",     "--batch-size", "--logits-out",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0) return true;
    return false;
}

static int parse_option(int argc, char **argv, int *i, ppl_opts *o) {
    const char *a = argv[*i];
    if (is_opt(a, "-h", "--help")) return PARSE_HELP;
    if (!takes_value(a)) {
        cli_error(CMD ": unknown option '%s'", a);
        return PARSE_BAD;
    }
    if (*i + 1 >= argc) {
        cli_error(CMD ": %s needs a value", a);
        return PARSE_BAD;
    }
    const char *v = argv[++*i];
    bool ok = true;
    if (is_opt(a, "-m", "--model"))
        o->model = v;
    else if (is_opt(a, "-f", "--file"))
        o->text = v;
    else if (is_opt(a, NULL, "--logits-out"))
        o->logits_out = v;
    else if (is_opt(a, "-c", "--ctx-size"))
        ok = gen_parse_i32(CMD, a, v, MIN_N_CTX, GEN_MAX_N_CTX, &o->n_ctx);
    else if (is_opt(a, NULL, "--chunks"))
        ok = gen_parse_i32(CMD, a, v, 1, INT32_MAX, &o->n_chunks);
    else if (is_opt(a, "-b", "--batch-size"))
        ok = gen_parse_i32(CMD, a, v, 1, GEN_MAX_N_CTX, &o->n_batch);
    else /* -t, --threads */
        ok = gen_parse_i32(CMD, a, v, 1, 1024, &o->n_threads);
    return ok ? PARSE_OK : PARSE_BAD;
}

static int parse_args(int argc, char **argv, ppl_opts *o) {
    *o = (ppl_opts){.n_ctx = DEFAULT_N_CTX};
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-' || argv[i][1] == '\0') {
            cli_error(CMD ": unexpected argument '%s' (the text file goes after -f)", argv[i]);
            return PARSE_BAD;
        }
        int rc = parse_option(argc, argv, &i, o);
        if (rc != PARSE_OK) return rc;
    }
    if (!o->text) {
        cli_error(CMD ": no text given (-f TEXT)");
        return PARSE_BAD;
    }
    if (o->n_batch == 0 || o->n_batch > o->n_ctx) o->n_batch = o->n_ctx;
    return PARSE_OK;
}

/* ============================================================== setup */

static int32_t scored_per_chunk(int32_t c) { return c - 1 - c / 2; } /* r */

/* Tokenize the text and count the chunks to score. */
static int tokenize_text(session *s, const ppl_opts *o, const char *text, size_t len) {
    const ts_vocab *v = s->m.vocab;
    if (ts_vocab_adds_eos(v)) { /* llama-perplexity asserts the same */
        cli_error(CMD ": the model's tokenizer adds EOS after a text; perplexity is not "
                      "defined for it here (nor in llama-perplexity)");
        return CLI_EXIT_FAIL;
    }
    if (len > 0 && text[len - 1] == '\n') len--; /* as llama.cpp's -f (common/arg.cpp) */
    ts_status st = ts_tokenize(v, text, len, TS_TOKENIZE_ADD_SPECIAL, &s->ids, &s->n_ids);
    if (st != TS_OK) return cli_lib_error(st);
    const size_t c = (size_t)o->n_ctx, full = s->n_ids / c;
    if (full == 0) {
        cli_error(CMD ": %s has %zu tokens; one chunk of -c %zu needs %zu",
                  strcmp(o->text, "-") == 0 ? "stdin" : o->text, s->n_ids, c, c);
        return PPL_EXIT_SHORT;
    }
    // a target is scored before the decode that would refuse it as an input
    const int32_t v_model = ts_model_n_vocab(s->m.model);
    for (size_t i = 0; i < s->n_ids; i++)
        if (s->ids[i] < 0 || s->ids[i] >= v_model) {
            cli_error(CMD ": the tokenizer gives token %d, beyond the model's %d logits", s->ids[i],
                      v_model);
            return CLI_EXIT_FAIL;
        }
    // full <= 2^31 / MIN_N_CTX: ts_tokenize takes at most 2^31 bytes
    s->n_chunks = o->n_chunks && (size_t)o->n_chunks < full ? o->n_chunks : (int32_t)full;
    s->bos = ts_vocab_adds_bos(v) ? ts_vocab_bos(v) : TS_TOKEN_NULL;
    fprintf(stderr, "text: %zu tokens, %zu full chunks of %zu; scoring %d, %d tokens each%s\n",
            s->n_ids, full, c, s->n_chunks, scored_per_chunk(o->n_ctx),
            s->bos != TS_TOKEN_NULL ? " (BOS first in each)" : "");
    return CLI_EXIT_OK;
}

/* A chunk must fit in the model's training context. */
static int check_n_ctx(const session *s, const ppl_opts *o) {
    const int32_t train = gen_n_ctx_train(s->m.model);
    if (o->n_ctx <= train) return CLI_EXIT_OK;
    cli_error(CMD ": -c %d is above the model's training context of %d tokens", o->n_ctx, train);
    return CLI_EXIT_USAGE;
}

/* A context of c cells (a chunk), micro-batches of at most MAX_UBATCH
 * tokens, and a batch of b. */
static int make_context(session *s, const ppl_opts *o) {
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = (uint32_t)o->n_ctx;
    cp.n_ubatch = (uint32_t)(o->n_batch < MAX_UBATCH ? o->n_batch : MAX_UBATCH);
    cp.n_threads = o->n_threads;
    cp.abort_callback = gen_is_interrupted;
    double t0 = gen_now();
    ts_status st = ts_context_new(s->m.model, &cp, &s->ctx);
    s->m.load_seconds += gen_now() - t0;
    if (st == TS_OK) st = ts_batch_init(&s->batch, o->n_batch, 1);
    if (st != TS_OK) return cli_lib_error(st);
    gen_print_load(&s->m, ts_context_n_ctx(s->ctx), o->n_threads);
    return CLI_EXIT_OK;
}

/* ======================================================== logits file */

static void put_le32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}

/* Create --logits-out and write its header: the row count is known now. */
static int open_logits(session *s, const ppl_opts *o) {
    const int32_t v = ts_model_n_vocab(s->m.model);
    const uint64_t rows = (uint64_t)s->n_chunks * (uint64_t)scored_per_chunk(o->n_ctx);
    unsigned char h[LOGITS_HEADER_BYTES];
    memcpy(h, LOGITS_MAGIC, 4);
    put_le32(h + 4, LOGITS_VERSION);
    put_le32(h + 8, (uint32_t)v);
    put_le32(h + 12, (uint32_t)rows);
    put_le32(h + 16, (uint32_t)(rows >> 32));
    s->row_le = malloc((size_t)v * 4);
    if (!s->row_le) {
        cli_error(CMD ": out of memory");
        return CLI_EXIT_FAIL;
    }
    s->logits = fopen(o->logits_out, "wb");
    s->logits_made = s->logits != NULL;
    if (!s->logits || fwrite(h, 1, sizeof h, s->logits) != sizeof h) {
        cli_error(CMD ": cannot write %s: %s", o->logits_out, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* One row of v floats, little-endian whatever the host. */
static bool write_row(session *s, const float *row, int32_t v) {
    for (int32_t i = 0; i < v; i++) {
        uint32_t bits;
        memcpy(&bits, &row[i], sizeof bits);
        put_le32(s->row_le + (size_t)i * 4, bits);
    }
    return fwrite(s->row_le, 4, (size_t)v, s->logits) == (size_t)v;
}

/* Flush and close --logits-out; false (errno set) when a write failed. */
static bool close_logits(session *s) {
    bool ok = fflush(s->logits) == 0 && !ferror(s->logits);
    int err = errno;
    ok = fclose(s->logits) == 0 && ok;
    s->logits = NULL;
    if (!ok && err) errno = err;
    return ok;
}

/* ============================================================ scoring */

/* -log softmax(logits)[tok], in double: subtract the max for numerical
 * stability (llama.cpp: max_logit + log Σ exp(l - max_logit) - l_tok). */
static double token_nll(const float *logits, int32_t v, ts_token tok) {
    float max = logits[0];
    for (int32_t i = 1; i < v; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < v; i++) sum += exp((double)logits[i] - max);
    return log(sum) - ((double)logits[tok] - max);
}

static int decode_failed(ts_status st, int32_t k, int32_t n) {
    if (st == TS_ERR_ABORTED) {
        cli_error(CMD ": interrupted in chunk %d of %d", k + 1, n);
        return PPL_EXIT_INTERRUPT;
    }
    cli_lib_error(st);
    return PPL_EXIT_DECODE;
}

/* Score the rows f .. c-2 among positions [p0, p1) of the last decode. */
static int score_rows(session *s, const ppl_opts *o, const ts_token *chunk, int32_t p0, int32_t p1,
                      nll_sum *sum) {
    const int32_t c = o->n_ctx, f = c / 2, v = ts_model_n_vocab(s->m.model);
    for (int32_t p = p0 > f ? p0 : f; p < p1 && p < c - 1; p++) {
        const float *row = ts_get_logits(s->ctx, p - p0);
        const double nll = token_nll(row, v, chunk[p + 1]);
        sum->nll += nll;
        sum->nll2 += nll * nll;
        sum->n++;
        if (s->logits && !write_row(s, row, v)) {
            cli_error(CMD ": cannot write %s: %s", o->logits_out, strerror(errno));
            return CLI_EXIT_FAIL;
        }
    }
    return CLI_EXIT_OK;
}

/* Decode chunk k from an empty cache, b tokens per call (logits only for
 * the rows scored), scoring each call's rows before the next. */
static int score_chunk(session *s, const ppl_opts *o, int32_t k, nll_sum *sum) {
    static const ts_seq_id seq0 = 0;
    const int32_t c = o->n_ctx, f = c / 2, b = o->n_batch;
    const ts_token *chunk = s->ids + (size_t)k * (size_t)c;
    ts_seq_rm(s->ctx, -1, 0, -1);
    for (int32_t p0 = 0; p0 < c; p0 += b) {
        const int32_t p1 = c - p0 > b ? p0 + b : c;
        ts_status st = TS_OK;
        ts_batch_clear(&s->batch);
        for (int32_t p = p0; p < p1 && st == TS_OK; p++) {
            const ts_token t = p == 0 && s->bos != TS_TOKEN_NULL ? s->bos : chunk[p];
            st = ts_batch_add(&s->batch, t, p, &seq0, 1, p >= f && p < c - 1);
        }
        if (st == TS_OK) st = ts_decode(s->ctx, &s->batch);
        if (st != TS_OK) return decode_failed(st, k, s->n_chunks);
        int rc = score_rows(s, o, chunk, p0, p1, sum);
        if (rc != CLI_EXIT_OK) return rc;
    }
    return CLI_EXIT_OK;
}

/* ============================================================= output */

/* "12.3 s", "4 min 05 s" or "2 h 03 min". */
static void format_seconds(double t, char *buf, size_t cap) {
    const long s = lround(t);
    if (t < 60)
        snprintf(buf, cap, "%.1f s", t);
    else if (s < 3600)
        snprintf(buf, cap, "%ld min %02ld s", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ld h %02ld min", s / 3600, s % 3600 / 60);
}

/* "[k/n] PPL = X (S s/chunk, ETA T)": the running PPL, the mean time per
 * chunk so far and the time the other chunks should take. */
static void print_progress(int32_t k, int32_t n, const nll_sum *sum, double elapsed) {
    const double per_chunk = elapsed / (k + 1);
    char eta[32];
    format_seconds(per_chunk * (n - k - 1), eta, sizeof eta);
    fprintf(stderr, "[%d/%d] PPL = %.4f (%.2f s/chunk, ETA %s)\n", k + 1, n,
            exp(sum->nll / (double)sum->n), per_chunk, eta);
}

/* llama-perplexity's last line, its formula. The uncertainty is nan when
 * fewer than two tokens were scored or every NLL is the same (llama-
 * perplexity then prints no estimate). */
static int print_estimate(const nll_sum *sum) {
    const double n = (double)sum->n, mean = sum->nll / n, var = sum->nll2 / n - mean * mean;
    const double ppl = exp(mean);
    const double err = var > 0 && sum->n > 1 ? sqrt(var / (n - 1)) * ppl : NAN;
    printf("Final estimate: PPL = %.4lf +/- %.5lf\n", ppl, err);
    if (fflush(stdout) == 0 && !ferror(stdout)) return CLI_EXIT_OK;
    cli_error(CMD ": cannot write to stdout");
    return CLI_EXIT_FAIL;
}

/* ============================================================ command */

static int score_text(session *s, const ppl_opts *o) {
    nll_sum sum = {0};
    const double t0 = gen_now();
    int rc = CLI_EXIT_OK;
    gen_sigint_catch(true);
    for (int32_t k = 0; k < s->n_chunks && rc == CLI_EXIT_OK; k++) {
        rc = score_chunk(s, o, k, &sum);
        if (rc == CLI_EXIT_OK) print_progress(k, s->n_chunks, &sum, gen_now() - t0);
    }
    gen_sigint_default();
    if (rc == CLI_EXIT_OK && s->logits && !close_logits(s)) {
        cli_error(CMD ": cannot write %s: %s", o->logits_out, strerror(errno));
        rc = CLI_EXIT_FAIL;
    }
    if (rc != CLI_EXIT_OK) return rc;
    const double t = gen_now() - t0;
    fprintf(stderr, "scored: %lld tokens in %d chunks, %.3f s (%.1f tokens/s decoded)\n",
            (long long)sum.n, s->n_chunks, t, (double)s->n_chunks * o->n_ctx / t);
    return print_estimate(&sum);
}

/* Free what s holds; after a failure, remove a partial --logits-out. */
static void session_free(session *s, const ppl_opts *o, int rc) {
    if (s->logits) fclose(s->logits);
    if (rc != CLI_EXIT_OK && s->logits_made) remove(o->logits_out);
    free(s->row_le);
    free(s->ids);
    ts_batch_free(&s->batch);
    ts_context_free(s->ctx);
    gen_model_close(&s->m);
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o;
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        ppl_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD: /* the one-line message is enough; --help has the rest */
        return CLI_EXIT_USAGE;
    }
    session s = {0};
    char *text = NULL;
    size_t len = 0;
    int rc = cli_read_file(CMD, o.text, &text, &len);
    if (rc == CLI_EXIT_OK) rc = gen_model_open(CMD, o.model, &s.m);
    if (rc == CLI_EXIT_OK) rc = check_n_ctx(&s, &o);
    if (rc == CLI_EXIT_OK) rc = tokenize_text(&s, &o, text, len);
    free(text);
    if (rc == CLI_EXIT_OK) rc = make_context(&s, &o);
    if (rc == CLI_EXIT_OK && o.logits_out) rc = open_logits(&s, &o);
    if (rc == CLI_EXIT_OK) rc = score_text(&s, &o);
    session_free(&s, &o, rc);
    return rc;
}
