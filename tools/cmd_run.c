/*
 * cmd_run.c — `tessera run [-m MODEL] -p PROMPT [--chat [--system TEXT]]
 * [-n N] [-c CTX] [-t THREADS] [sampling options]`: generate text with a
 * model and stream it to stdout.
 *
 * Without --chat the prompt is a raw completion: tokenized as the model
 * file asks (BOS only when tokenizer.ggml.add_bos_token says so; special
 * tokens in the text stay plain text), decoded in one batch, then continued
 * token by token (generate.c). With --chat it becomes the user message of a
 * conversation rendered by the model's chat template, tokenized with its
 * control tokens, and the answer ends at an end-of-generation token.
 *
 * Only the generated text goes to stdout (byte for byte to a file or pipe;
 * control characters escaped on a terminal: it comes from a model); the
 * figures go to stderr. Exit codes are run's own (see run_usage); a model
 * that cannot be loaded, a prompt that does not fit and a failed decode each
 * have one, so scripts can tell them apart.
 */
#include "cli.h"
#include "generate.h"

#include "tessera.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Exit codes of `tessera run` (0, 1 and 2 as every subcommand). */
enum {
    RUN_EXIT_MODEL = 3,       /* the model cannot be loaded */
    RUN_EXIT_CONTEXT = 4,     /* the prompt does not fit in the context */
    RUN_EXIT_DECODE = 5,      /* decoding failed */
    RUN_EXIT_INTERRUPT = 130, /* SIGINT (128 + 2, as a shell reports it) */
};

#define DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define DEFAULT_N_PREDICT  128
#define DEFAULT_N_CTX      4096
#define MAX_N_CTX          (1 << 24) /* the engine's limit on KV cells */
#define MAX_UBATCH         512

typedef struct run_opts {
    const char *model; /* NULL: the default model in the cache */
    const char *prompt;
    const char *system; /* --system, with --chat */
    bool chat;
    int32_t n_predict;
    int32_t n_ctx;     /* 0: chosen from the model and the prompt */
    int32_t n_threads; /* 0: one per core */
    ts_sampler_params sp;
} run_opts;

/* What one run holds; freed by session_free. */
typedef struct session {
    char *model_path; /* resolved */
    ts_model *model;
    ts_vocab *vocab;
    ts_context *ctx;
    ts_sampler *sampler;
    ts_token *ids; /* the prompt */
    int32_t n_ids;
    double load_seconds;
} session;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

static volatile sig_atomic_t interrupted;

/* ============================================================ signals */

static void on_sigint(int sig) {
    if (interrupted) { /* a second Ctrl-C: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    interrupted = 1;
}

static bool is_interrupted(void *user) {
    (void)user;
    return interrupted != 0;
}

static void catch_sigint(void) {
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* writes to stdout are not cut short */
    sigaction(SIGINT, &sa, NULL);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ============================================================== usage */

static void run_usage(FILE *f) {
    fputs("usage: tessera run [-m MODEL] -p PROMPT [--chat [--system TEXT]] [-n N]\n"
          "                   [-c CTX] [-t THREADS] [--temp T] [--top-k K] [--top-p P]\n"
          "                   [--min-p P] [--seed S] [--repeat-penalty R]\n"
          "                   [--repeat-last-n N] [--presence-penalty P]\n"
          "                   [--frequency-penalty F]\n"
          "\n"
          "Generate text with MODEL and stream it to stdout as it comes. The prompt\n"
          "is continued as it is (no chat template; BOS added only when the file\n"
          "asks), unless --chat makes it a user message for the model's template.\n"
          "Figures (load time, prompt and generation tokens/s) go to stderr.\n"
          "\n"
          "  -m, --model MODEL       a GGUF model (default: " DEFAULT_MODEL_FILE "\n"
          "                          in ${TESSERA_CACHE:-~/.cache/tessera}/models, which\n"
          "                          `scripts/fetch-model.sh smollm2` or `make demo` fetch)\n"
          "  -p, --prompt TEXT       the text to continue (or, with --chat, to answer)\n"
          "  --chat                  render [system,] user message with the model's chat\n"
          "                          template (ChatML when it has none) and answer it\n"
          "  --system TEXT           a system message before the prompt (with --chat)\n"
          "  -n, --n-predict N       generate at most N tokens (default 128; 0: only\n"
          "                          decode the prompt)\n"
          "  -c, --ctx-size CTX      context size in tokens (default: min(the model's\n"
          "                          training context, 4096), raised to prompt + N\n"
          "                          within the training context)\n"
          "  -t, --threads T         CPU threads (default: one per core)\n"
          "  --temp T                temperature; 0: greedy (default 0.8)\n"
          "  --top-k K               keep the K most likely tokens; 0: off (default 40)\n"
          "  --top-p P               keep the smallest set with mass >= P; 1: off (0.95)\n"
          "  --min-p P               drop tokens below P x the best one's; 0: off (0.05)\n"
          "  --seed S                random seed, 0 .. 2^64-1 (default 24301)\n"
          "  --repeat-penalty R      penalize repeated tokens; 1: off (default 1)\n"
          "  --repeat-last-n N       tokens the penalties look back on (default 64)\n"
          "  --presence-penalty P    subtract P once per seen token (default 0)\n"
          "  --frequency-penalty F   subtract F per occurrence (default 0)\n"
          "  -h, --help              this help\n"
          "\n"
          "Generation stops after N tokens, at an end-of-generation token, when the\n"
          "context is full, or at Ctrl-C (the figures are still printed).\n"
          "\n"
          "exit status:\n"
          "  0    ok\n"
          "  1    another failure (output cannot be written, out of memory, the chat\n"
          "       template fails)\n"
          "  2    usage error (unknown option, bad option value, empty prompt)\n"
          "  3    the model cannot be loaded: missing or non-GGUF file, unsupported\n"
          "       architecture or tensor type, missing tensor or key, wrong shape or\n"
          "       type, no tokenizer (also: no -m and no default model)\n"
          "  4    the prompt does not fit in the context (both sizes are named)\n"
          "  5    decoding failed\n"
          "  130  interrupted (SIGINT)\n",
          f);
}

/* ============================================================ options */

static bool parse_i32(const char *opt, const char *s, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("run: %s wants an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

static bool parse_f32(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_error("run: %s wants a finite number, got '%s'", opt, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[strspn(s, " \t")] == '-') {
        cli_error("run: %s wants an integer in 0..18446744073709551615, got '%s'", opt, s);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool is_opt(const char *a, const char *short_name, const char *long_name) {
    return (short_name && strcmp(a, short_name) == 0) || strcmp(a, long_name) == 0;
}

/* An option that takes a number (takes_value lists them all). */
static int parse_number(const char *a, const char *v, run_opts *o) {
    ts_sampler_params *sp = &o->sp;
    bool ok;
    if (is_opt(a, "-n", "--n-predict"))
        ok = parse_i32(a, v, 0, MAX_N_CTX, &o->n_predict);
    else if (is_opt(a, "-c", "--ctx-size"))
        ok = parse_i32(a, v, 1, MAX_N_CTX, &o->n_ctx);
    else if (is_opt(a, "-t", "--threads"))
        ok = parse_i32(a, v, 1, 1024, &o->n_threads);
    else if (is_opt(a, NULL, "--temp"))
        ok = parse_f32(a, v, &sp->temperature);
    else if (is_opt(a, NULL, "--top-k"))
        ok = parse_i32(a, v, 0, INT32_MAX, &sp->top_k);
    else if (is_opt(a, NULL, "--top-p"))
        ok = parse_f32(a, v, &sp->top_p);
    else if (is_opt(a, NULL, "--min-p"))
        ok = parse_f32(a, v, &sp->min_p);
    else if (is_opt(a, NULL, "--seed"))
        ok = parse_u64(a, v, &sp->seed);
    else if (is_opt(a, NULL, "--repeat-penalty"))
        ok = parse_f32(a, v, &sp->repeat_penalty);
    else if (is_opt(a, NULL, "--repeat-last-n"))
        ok = parse_i32(a, v, 0, INT32_MAX, &sp->penalty_last_n);
    else if (is_opt(a, NULL, "--presence-penalty"))
        ok = parse_f32(a, v, &sp->presence_penalty);
    else
        ok = parse_f32(a, v, &sp->frequency_penalty); /* --frequency-penalty */
    return ok ? PARSE_OK : PARSE_BAD;
}

static bool takes_value(const char *a) {
    /* clang-format off */
    static const char *const names[] = {
        "-m", "--model", "-p", "--prompt", "--system", "-n", "--n-predict", "-c", "--ctx-size",
        "-t", "--threads", "--temp", "--top-k", "--top-p", "--min-p", "--seed",
        "--repeat-penalty", "--repeat-last-n", "--presence-penalty", "--frequency-penalty",
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0) return true;
    return false;
}

static int parse_option(int argc, char **argv, int *i, run_opts *o) {
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return PARSE_HELP;
    if (strcmp(a, "--chat") == 0) {
        o->chat = true;
        return PARSE_OK;
    }
    if (!takes_value(a)) {
        cli_error("run: unknown option '%s'", a);
        return PARSE_BAD;
    }
    if (*i + 1 >= argc) {
        cli_error("run: %s needs a value", a);
        return PARSE_BAD;
    }
    const char *v = argv[++*i];
    if (is_opt(a, "-m", "--model"))
        o->model = v;
    else if (is_opt(a, "-p", "--prompt"))
        o->prompt = v;
    else if (strcmp(a, "--system") == 0)
        o->system = v;
    else
        return parse_number(a, v, o);
    return PARSE_OK;
}

/* The sampler checks its parameters (ranges, NaN); ask it now, before a
 * model is loaded, with a one-token vocabulary. */
static bool check_sampler_params(const ts_sampler_params *sp) {
    ts_sampler *probe = NULL;
    ts_status st = ts_sampler_new(sp, 1, &probe);
    ts_sampler_free(probe);
    if (st == TS_OK) return true;
    cli_error("run: %s", ts_last_error()[0] ? ts_last_error() : ts_status_str(st));
    return false;
}

static int parse_args(int argc, char **argv, run_opts *o) {
    *o = (run_opts){.n_predict = DEFAULT_N_PREDICT, .sp = ts_sampler_default_params()};
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-' || argv[i][1] == '\0') {
            cli_error("run: unexpected argument '%s' (the prompt goes after -p)", argv[i]);
            return PARSE_BAD;
        }
        int rc = parse_option(argc, argv, &i, o);
        if (rc != PARSE_OK) return rc;
    }
    if (!o->prompt) {
        cli_error("run: no prompt given (-p PROMPT)");
        return PARSE_BAD;
    }
    if (o->system && !o->chat) {
        cli_error("run: --system needs --chat");
        return PARSE_BAD;
    }
    return check_sampler_params(&o->sp) ? PARSE_OK : PARSE_BAD;
}

/* ============================================================== model */

/* -m, else the default model in the cache (as scripts/fetch-model.sh
 * places it) when it is there. */
static int resolve_model(const run_opts *o, session *s) {
    if (o->model) {
        s->model_path = strdup(o->model);
    } else {
        const char *cache = getenv("TESSERA_CACHE"), *home = getenv("HOME");
        char buf[PATH_MAX];
        int n = cache && cache[0]
                    ? snprintf(buf, sizeof buf, "%s/models/%s", cache, DEFAULT_MODEL_FILE)
                    : snprintf(buf, sizeof buf, "%s/.cache/tessera/models/%s", home ? home : "",
                               DEFAULT_MODEL_FILE);
        if (n < 0 || (size_t)n >= sizeof buf || access(buf, R_OK) != 0) {
            cli_error("run: no model given (-m MODEL) and the default model %s is not there; "
                      "get it with `scripts/fetch-model.sh smollm2` (or `make demo`)",
                      n >= 0 && (size_t)n < sizeof buf ? buf : DEFAULT_MODEL_FILE);
            return RUN_EXIT_MODEL;
        }
        s->model_path = strdup(buf);
    }
    if (!s->model_path) {
        cli_error("run: out of memory");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* The model and its tokenizer. */
static int load_model(session *s) {
    double t0 = now_seconds();
    ts_status st = ts_model_load(s->model_path, NULL, &s->model);
    if (st == TS_OK) st = ts_vocab_load(ts_model_gguf(s->model), &s->vocab);
    s->load_seconds = now_seconds() - t0;
    if (st == TS_OK) return CLI_EXIT_OK;
    cli_lib_error(st);
    return RUN_EXIT_MODEL;
}

/* ============================================================= prompt */

/* The text of a special token (its control text), or "" for none. */
static const char *special_text(const ts_vocab *v, ts_token id, char *buf, size_t cap) {
    size_t n = 0;
    if (id == TS_TOKEN_NULL ||
        ts_token_piece(v, id, TS_DETOK_RENDER_SPECIAL, buf, cap - 1, &n) != TS_OK)
        n = 0;
    buf[n] = '\0';
    return buf;
}

static ts_tmpl_value *message(const char *role, const char *content) {
    ts_tmpl_value *m = ts_tmpl_value_dict();
    if (!m) return NULL;
    if (ts_tmpl_dict_set_cstr(m, "role", ts_tmpl_value_cstr(role)) != TS_OK ||
        ts_tmpl_dict_set_cstr(m, "content", ts_tmpl_value_cstr(content)) != TS_OK) {
        ts_tmpl_value_free(m);
        return NULL;
    }
    return m;
}

/* The conversation [system,] user rendered with the model's template. */
static int render_chat(const session *s, const run_opts *o, char **out, size_t *len) {
    char bos[256], eos[256];
    ts_chat_params p = ts_chat_default_params();
    p.add_generation_prompt = true;
    p.bos_token = special_text(s->vocab, ts_vocab_bos(s->vocab), bos, sizeof bos);
    p.eos_token = special_text(s->vocab, ts_vocab_eos(s->vocab), eos, sizeof eos);
    ts_tmpl_value *msgs = ts_tmpl_value_list();
    ts_status st = msgs ? TS_OK : TS_ERR_NOMEM;
    if (st == TS_OK && o->system) st = ts_tmpl_list_append(msgs, message("system", o->system));
    if (st == TS_OK) st = ts_tmpl_list_append(msgs, message("user", o->prompt));
    ts_str src = {0};
    bool chatml = false;
    if (st == TS_OK) st = ts_chat_template_source(ts_model_gguf(s->model), &src, &chatml);
    p.messages = msgs;
    if (st == TS_OK)
        st = ts_chat_template_apply(chatml ? NULL : src.ptr, chatml ? 0 : src.len, &p, out, len);
    ts_tmpl_value_free(msgs);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

/* Tokenize the prompt: raw text as the file asks; a rendered chat with its
 * control tokens (and one BOS, should the template write the BOS the file
 * also adds). */
static int tokenize_prompt(session *s, const run_opts *o) {
    char *chat = NULL;
    size_t len = strlen(o->prompt);
    int rc = o->chat ? render_chat(s, o, &chat, &len) : CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK) return rc;
    unsigned flags = TS_TOKENIZE_ADD_SPECIAL | (o->chat ? TS_TOKENIZE_PARSE_SPECIAL : 0);
    size_t n = 0;
    ts_status st = ts_tokenize(s->vocab, o->chat ? chat : o->prompt, len, flags, &s->ids, &n);
    free(chat);
    if (st != TS_OK) return cli_lib_error(st);
    const ts_token bos = ts_vocab_bos(s->vocab);
    if (o->chat && n >= 2 && s->ids[0] == bos && s->ids[1] == bos)
        memmove(s->ids, s->ids + 1, --n * sizeof *s->ids);
    if (n == 0) {
        cli_error(
            "run: the prompt is empty (and the model adds no BOS token): nothing to continue");
        return CLI_EXIT_USAGE;
    }
    if (n > MAX_N_CTX) {
        cli_error("run: the prompt has %zu tokens; the engine's limit is %d", n, MAX_N_CTX);
        return RUN_EXIT_CONTEXT;
    }
    s->n_ids = (int32_t)n;
    return CLI_EXIT_OK;
}

/* ============================================================ context */

/* -c, or min(training context, 4096) raised to prompt + n within the
 * training context. The prompt must fit. */
static int choose_n_ctx(const session *s, const run_opts *o, int32_t *n_ctx) {
    const int32_t n = s->n_ids;
    if (o->n_ctx) {
        if (n > o->n_ctx) {
            cli_error("run: the prompt has %d tokens but the context holds %d (-c %d)", n, o->n_ctx,
                      o->n_ctx);
            return RUN_EXIT_CONTEXT;
        }
        *n_ctx = o->n_ctx;
        return CLI_EXIT_OK;
    }
    int32_t train = ts_model_n_ctx_train(s->model);
    if (train <= 0 || train > MAX_N_CTX) train = train <= 0 ? DEFAULT_N_CTX : MAX_N_CTX;
    int64_t want = (int64_t)n + o->n_predict;
    int64_t c = train < DEFAULT_N_CTX ? train : DEFAULT_N_CTX;
    if (want > c) c = want < train ? want : train;
    if (n > c) {
        cli_error("run: the prompt has %d tokens but the model's training context is %d "
                  "(-c CTX sets a larger context)",
                  n, train);
        return RUN_EXIT_CONTEXT;
    }
    *n_ctx = (int32_t)c;
    return CLI_EXIT_OK;
}

/* The context (micro-batch no larger than the prompt: a smaller arena) and
 * the sampler. */
static int make_context(session *s, const run_opts *o) {
    int32_t n_ctx = 0;
    int rc = choose_n_ctx(s, o, &n_ctx);
    if (rc != CLI_EXIT_OK) return rc;
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)(s->n_ids < MAX_UBATCH ? s->n_ids : MAX_UBATCH);
    cp.n_threads = o->n_threads;
    cp.abort_callback = is_interrupted;
    double t0 = now_seconds();
    ts_status st = ts_context_new(s->model, &cp, &s->ctx);
    s->load_seconds += now_seconds() - t0;
    if (st == TS_OK) st = ts_sampler_new(&o->sp, ts_model_n_vocab(s->model), &s->sampler);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

/* ============================================================= output */

typedef struct out_state {
    bool tty;  /* escape control characters */
    char last; /* last byte written */
} out_state;

static bool write_text(const char *s, size_t n, void *user) {
    out_state *o = user;
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

static void print_rate(const char *what, int32_t n, double seconds) {
    fprintf(stderr, "%s: %d tokens in %.3f s", what, n, seconds);
    if (n > 0 && seconds > 0) fprintf(stderr, " (%.1f tokens/s)", n / seconds);
}

static void print_stats(const session *s, const run_opts *o, const gen_result *r) {
    long threads = o->n_threads ? o->n_threads : sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(stderr, "load: %.3f s (%s, %.1fM params, %d layers; context %u tokens, %ld threads)\n",
            s->load_seconds, ts_model_arch(s->model), (double)ts_model_n_params(s->model) / 1e6,
            ts_model_n_layer(s->model), ts_context_n_ctx(s->ctx), threads);
    print_rate("prompt", r->n_prompt, r->prompt_seconds);
    fputc('\n', stderr);
    print_rate("generate", r->n_generated, r->generate_seconds);
    fprintf(stderr, ", stopped: %s\n", gen_stop_str(r->stop));
}

/* ============================================================ command */

static int generate_text(session *s, const run_opts *o) {
    out_state out = {.tty = isatty(STDOUT_FILENO), .last = '\n'};
    gen_params gp = {
        .n_predict = o->n_predict,
        .stop = is_interrupted,
        .sink = write_text,
        .sink_user = &out,
    };
    gen_result r;
    catch_sigint();
    gen_run(s->ctx, s->vocab, s->sampler, s->ids, s->n_ids, &gp, &r);
    signal(SIGINT, SIG_DFL);
    if (out.tty && out.last != '\n') write_text("\n", 1, &out);
    print_stats(s, o, &r);
    switch (r.stop) {
    case GEN_STOP_INTERRUPT:
        return RUN_EXIT_INTERRUPT;
    case GEN_STOP_DECODE:
        cli_lib_error(r.status);
        return RUN_EXIT_DECODE;
    case GEN_STOP_OUTPUT:
        if (r.status != TS_OK) return cli_lib_error(r.status);
        cli_error("cannot write to stdout");
        return CLI_EXIT_FAIL;
    default:
        return CLI_EXIT_OK;
    }
}

static void session_free(session *s) {
    free(s->ids);
    ts_sampler_free(s->sampler);
    ts_context_free(s->ctx);
    ts_vocab_free(s->vocab);
    ts_model_free(s->model);
    free(s->model_path);
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        run_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD: /* the one-line message is enough; --help has the rest */
        return CLI_EXIT_USAGE;
    }
    session s = {0};
    int rc = resolve_model(&o, &s);
    if (rc == CLI_EXIT_OK) rc = load_model(&s);
    if (rc == CLI_EXIT_OK) rc = tokenize_prompt(&s, &o);
    if (rc == CLI_EXIT_OK) rc = make_context(&s, &o);
    if (rc == CLI_EXIT_OK) rc = generate_text(&s, &o);
    session_free(&s);
    return rc;
}
