/*
 * gen_cli.c — what `tessera run` and `tessera chat` share (gen_cli.h).
 */
#include "gen_cli.h"

#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ============================================================ options */

gen_opts gen_opts_default(int32_t n_predict) {
    return (gen_opts){.n_predict = n_predict, .sp = ts_sampler_default_params()};
}

bool gen_parse_i32(const char *cmd, const char *opt, const char *s, long lo, long hi,
                   int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("%s: %s wants an integer in %ld..%ld, got '%s'", cmd, opt, lo, hi, s);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

static bool parse_f32(const char *cmd, const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_error("%s: %s wants a finite number, got '%s'", cmd, opt, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[strspn(s, " \t")] == '-') {
        cli_error("%s: %s wants an integer in 0..18446744073709551615, got '%s'", cmd, opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool is_opt(const char *a, const char *short_name, const char *long_name) {
    return (short_name && strcmp(a, short_name) == 0) || strcmp(a, long_name) == 0;
}

/* Options with a numeric value; false when a is none of them. */
static bool parse_number(const char *cmd, const char *a, const char *v, gen_opts *o, bool *ok) {
    ts_sampler_params *sp = &o->sp;
    if (is_opt(a, "-n", "--n-predict"))
        *ok = gen_parse_i32(cmd, a, v, 0, GEN_MAX_N_CTX, &o->n_predict);
    else if (is_opt(a, "-c", "--ctx-size"))
        *ok = gen_parse_i32(cmd, a, v, 1, GEN_MAX_N_CTX, &o->n_ctx);
    else if (is_opt(a, "-t", "--threads"))
        *ok = gen_parse_i32(cmd, a, v, 1, 1024, &o->n_threads);
    else if (is_opt(a, NULL, "--temp"))
        *ok = parse_f32(cmd, a, v, &sp->temperature);
    else if (is_opt(a, NULL, "--top-k"))
        *ok = gen_parse_i32(cmd, a, v, 0, INT32_MAX, &sp->top_k);
    else if (is_opt(a, NULL, "--top-p"))
        *ok = parse_f32(cmd, a, v, &sp->top_p);
    else if (is_opt(a, NULL, "--min-p"))
        *ok = parse_f32(cmd, a, v, &sp->min_p);
    else if (is_opt(a, NULL, "--seed"))
        *ok = parse_u64(cmd, a, v, &sp->seed);
    else if (is_opt(a, NULL, "--repeat-penalty"))
        *ok = parse_f32(cmd, a, v, &sp->repeat_penalty);
    else if (is_opt(a, NULL, "--repeat-last-n"))
        *ok = gen_parse_i32(cmd, a, v, 0, INT32_MAX, &sp->penalty_last_n);
    else if (is_opt(a, NULL, "--presence-penalty"))
        *ok = parse_f32(cmd, a, v, &sp->presence_penalty);
    else if (is_opt(a, NULL, "--frequency-penalty"))
        *ok = parse_f32(cmd, a, v, &sp->frequency_penalty);
    else
        return false;
    return true;
}

static bool takes_value(const char *a) {
    /* clang-format off */
    static const char *const names[] = {
        "-m", "--model", "--system", "-n", "--n-predict", "-c", "--ctx-size",
        "-t", "--threads", "--temp", "--top-k", "--top-p", "--min-p", "--seed",
        "--repeat-penalty", "--repeat-last-n", "--presence-penalty", "--frequency-penalty",
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0) return true;
    return false;
}

int gen_opts_parse(const char *cmd, int argc, char **argv, int *i, gen_opts *o) {
    const char *a = argv[*i];
    if (!takes_value(a)) return GEN_OPT_UNKNOWN;
    if (*i + 1 >= argc) {
        cli_error("%s: %s needs a value", cmd, a);
        return GEN_OPT_BAD;
    }
    const char *v = argv[++*i];
    bool ok = true;
    if (is_opt(a, "-m", "--model"))
        o->model = v;
    else if (strcmp(a, "--system") == 0)
        o->system = v;
    else
        parse_number(cmd, a, v, o, &ok);
    return ok ? GEN_OPT_OK : GEN_OPT_BAD;
}

/* The sampler checks its parameters; ask it with a one-token vocabulary. */
bool gen_opts_check(const char *cmd, const gen_opts *o) {
    ts_sampler *probe = NULL;
    ts_status st = ts_sampler_new(&o->sp, 1, &probe);
    ts_sampler_free(probe);
    if (st == TS_OK) return true;
    cli_error("%s: %s", cmd, ts_last_error()[0] ? ts_last_error() : ts_status_str(st));
    return false;
}

/* ============================================================== model */

char *gen_model_path(const char *cmd, const char *path, int *rc) {
    char buf[PATH_MAX], *out;
    if (path) {
        out = strdup(path);
    } else {
        const char *cache = getenv("TESSERA_CACHE"), *home = getenv("HOME");
        int n = cache && cache[0]
                    ? snprintf(buf, sizeof buf, "%s/models/%s", cache, GEN_DEFAULT_MODEL_FILE)
                    : snprintf(buf, sizeof buf, "%s/.cache/tessera/models/%s", home ? home : "",
                               GEN_DEFAULT_MODEL_FILE);
        if (n < 0 || (size_t)n >= sizeof buf || access(buf, R_OK) != 0) {
            cli_error("%s: no model given (-m MODEL) and the default model %s is not there; "
                      "get it with `scripts/fetch-model.sh smollm2` (or `make demo`)",
                      cmd, n >= 0 && (size_t)n < sizeof buf ? buf : GEN_DEFAULT_MODEL_FILE);
            *rc = GEN_EXIT_MODEL;
            return NULL;
        }
        out = strdup(buf);
    }
    if (!out) {
        cli_error("%s: out of memory", cmd);
        *rc = CLI_EXIT_FAIL;
    }
    return out;
}

int gen_model_open(const char *cmd, const char *path, gen_model *gm) {
    *gm = (gen_model){0};
    int rc = CLI_EXIT_OK;
    gm->path = gen_model_path(cmd, path, &rc);
    if (!gm->path) return rc;
    double t0 = gen_now();
    ts_status st = ts_model_load(gm->path, NULL, &gm->model);
    if (st == TS_OK) st = ts_vocab_load(ts_model_gguf(gm->model), &gm->vocab);
    gm->load_seconds = gen_now() - t0;
    if (st == TS_OK) return CLI_EXIT_OK;
    cli_lib_error(st);
    return GEN_EXIT_MODEL;
}

void gen_model_close(gen_model *gm) {
    ts_vocab_free(gm->vocab);
    ts_model_free(gm->model);
    free(gm->path);
    *gm = (gen_model){0};
}

int32_t gen_n_ctx_train(const ts_model *m) {
    int32_t train = ts_model_n_ctx_train(m);
    if (train <= 0) return GEN_DEFAULT_N_CTX;
    return train > GEN_MAX_N_CTX ? GEN_MAX_N_CTX : train;
}

/* =============================================================== chat */

/* The text of a special token (its control text), or "" for none. */
static void special_text(const ts_vocab *v, ts_token id, char *buf, size_t cap) {
    size_t n = 0;
    if (id == TS_TOKEN_NULL ||
        ts_token_piece(v, id, TS_DETOK_RENDER_SPECIAL, buf, cap - 1, &n) != TS_OK)
        n = 0;
    buf[n] = '\0';
}

int gen_chat_open(gen_chat *c, const gen_model *gm) {
    *c = (gen_chat){0};
    special_text(gm->vocab, ts_vocab_bos(gm->vocab), c->bos, sizeof c->bos);
    special_text(gm->vocab, ts_vocab_eos(gm->vocab), c->eos, sizeof c->eos);
    ts_str src = {0};
    bool chatml = false;
    ts_status st = ts_chat_template_source(ts_model_gguf(gm->model), &src, &chatml);
    if (st == TS_OK) st = ts_template_parse(src.ptr, src.len, &c->tmpl);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

void gen_chat_close(gen_chat *c) {
    ts_template_free(c->tmpl);
    c->tmpl = NULL;
}

ts_tmpl_value *gen_chat_message(const char *role, const char *content, size_t len) {
    ts_tmpl_value *m = ts_tmpl_value_dict();
    if (!m) return NULL;
    if (ts_tmpl_dict_set_cstr(m, "role", ts_tmpl_value_cstr(role)) != TS_OK ||
        ts_tmpl_dict_set_cstr(m, "content", ts_tmpl_value_str(content, len)) != TS_OK) {
        ts_tmpl_value_free(m);
        return NULL;
    }
    return m;
}

ts_status gen_chat_tokenize(const gen_chat *c, const ts_vocab *v, const ts_tmpl_value *messages,
                            ts_token **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    ts_chat_params p = ts_chat_default_params();
    p.messages = messages;
    p.add_generation_prompt = true;
    p.bos_token = c->bos;
    p.eos_token = c->eos;
    ts_tmpl_value *ctx = NULL;
    char *text = NULL;
    size_t len = 0;
    ts_status st = ts_chat_context_new(&p, &ctx);
    if (st == TS_OK) st = ts_template_render(c->tmpl, ctx, &p.render, &text, &len);
    ts_tmpl_value_free(ctx);
    if (st == TS_OK)
        st = ts_tokenize(v, text, len, TS_TOKENIZE_ADD_SPECIAL | TS_TOKENIZE_PARSE_SPECIAL, ids, n);
    free(text);
    const ts_token bos = ts_vocab_bos(v);
    if (st == TS_OK && *n >= 2 && (*ids)[0] == bos && (*ids)[1] == bos)
        memmove(*ids, *ids + 1, --*n * sizeof **ids);
    return st;
}

/* ============================================================= output */

gen_out gen_out_stdout(void) { return (gen_out){.tty = isatty(STDOUT_FILENO), .last = '\n'}; }

bool gen_out_write(const char *s, size_t n, void *user) {
    gen_out *o = user;
    if (!o->tty) {
        fwrite(s, 1, n, stdout);
    } else {
        for (size_t i = 0; i < n;) { /* line by line, newlines kept */
            const char *nl = memchr(s + i, '\n', n - i);
            size_t k = nl ? (size_t)(nl - (s + i)) : n - i;
            cli_print_escaped(stdout, s + i, k, 0, false);
            if (nl) putchar('\n');
            i += k + (nl != NULL);
        }
    }
    if (n) o->last = s[n - 1];
    return fflush(stdout) == 0 && !ferror(stdout);
}

void gen_print_load(const gen_model *gm, uint32_t n_ctx, int n_threads) {
    const long threads = n_threads ? n_threads : sysconf(_SC_NPROCESSORS_ONLN);
    const char *path = ts_backend_cpu_path();
    fprintf(stderr,
            "load: %.3f s (%s, %.1fM params, %d layers; context %u tokens, %ld threads, cpu %s)\n",
            gm->load_seconds, ts_model_arch(gm->model), (double)ts_model_n_params(gm->model) / 1e6,
            ts_model_n_layer(gm->model), n_ctx, threads, path ? path : "none");
}

void gen_print_rate(const char *what, int32_t n, double seconds) {
    fprintf(stderr, "%s: %d tokens in %.3f s", what, n, seconds);
    if (n > 0 && seconds > 0) fprintf(stderr, " (%.1f tokens/s)", n / seconds);
}

double gen_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ============================================================ signals */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    if (interrupted) { /* a second Ctrl-C: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    interrupted = 1;
}

void gen_sigint_catch(bool restart) {
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
}

void gen_sigint_default(void) { signal(SIGINT, SIG_DFL); }

void gen_sigint_clear(void) { interrupted = 0; }

bool gen_sigint_seen(void) { return interrupted != 0; }

bool gen_is_interrupted(void *user) {
    (void)user;
    return interrupted != 0;
}
