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
#include "gen_cli.h"
#include "generate.h"

#include "tessera.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit codes of `tessera run` (0, 1 and 2 as every subcommand). */
enum {
    RUN_EXIT_MODEL = GEN_EXIT_MODEL,         /* the model cannot be loaded */
    RUN_EXIT_CONTEXT = GEN_EXIT_CONTEXT,     /* the prompt does not fit in the context */
    RUN_EXIT_DECODE = GEN_EXIT_DECODE,       /* decoding failed */
    RUN_EXIT_INTERRUPT = GEN_EXIT_INTERRUPT, /* SIGINT */
};

#define DEFAULT_MODEL_FILE GEN_DEFAULT_MODEL_FILE
#define DEFAULT_N_PREDICT  128
#define DEFAULT_N_CTX      GEN_DEFAULT_N_CTX
#define MAX_N_CTX          GEN_MAX_N_CTX
#define MAX_UBATCH         512

typedef struct run_opts {
    gen_opts g; /* model, --system (with --chat), -n, -c (0: chosen from the
                 * model and the prompt), -t, sampling */
    const char *prompt;
    bool chat;
} run_opts;

/* What one run holds; freed by session_free. */
typedef struct session {
    gen_model m;
    ts_context *ctx;
    ts_sampler *sampler;
    ts_token *ids; /* the prompt */
    int32_t n_ids;
} session;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

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
          GEN_COMMON_OPTIONS_HELP
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

static int parse_option(int argc, char **argv, int *i, run_opts *o) {
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return PARSE_HELP;
    if (strcmp(a, "--chat") == 0) {
        o->chat = true;
        return PARSE_OK;
    }
    if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
        if (*i + 1 >= argc) {
            cli_error("run: %s needs a value", a);
            return PARSE_BAD;
        }
        o->prompt = argv[++*i];
        return PARSE_OK;
    }
    switch (gen_opts_parse("run", argc, argv, i, &o->g)) {
    case GEN_OPT_OK:
        return PARSE_OK;
    case GEN_OPT_UNKNOWN:
        cli_error("run: unknown option '%s'", a);
        return PARSE_BAD;
    default:
        return PARSE_BAD;
    }
}

static int parse_args(int argc, char **argv, run_opts *o) {
    *o = (run_opts){.g = gen_opts_default(DEFAULT_N_PREDICT)};
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
    if (o->g.system && !o->chat) {
        cli_error("run: --system needs --chat");
        return PARSE_BAD;
    }
    return gen_opts_check("run", &o->g) ? PARSE_OK : PARSE_BAD;
}

/* ============================================================= prompt */

/* The conversation [system,] user rendered with the model's template and
 * tokenized. */
static int tokenize_chat(session *s, const run_opts *o, size_t *n) {
    gen_chat chat;
    int rc = gen_chat_open(&chat, &s->m);
    ts_tmpl_value *msgs = ts_tmpl_value_list();
    ts_status st = msgs ? TS_OK : TS_ERR_NOMEM;
    if (st == TS_OK && o->g.system)
        st =
            ts_tmpl_list_append(msgs, gen_chat_message("system", o->g.system, strlen(o->g.system)));
    if (st == TS_OK)
        st = ts_tmpl_list_append(msgs, gen_chat_message("user", o->prompt, strlen(o->prompt)));
    if (rc == CLI_EXIT_OK && st == TS_OK)
        st = gen_chat_tokenize(&chat, s->m.vocab, msgs, &s->ids, n);
    ts_tmpl_value_free(msgs);
    gen_chat_close(&chat);
    if (rc != CLI_EXIT_OK) return rc;
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

/* Tokenize the prompt: raw text as the file asks; a rendered chat with its
 * control tokens (and one BOS, should the template write the BOS the file
 * also adds). */
static int tokenize_prompt(session *s, const run_opts *o) {
    size_t n = 0;
    if (o->chat) {
        int rc = tokenize_chat(s, o, &n);
        if (rc != CLI_EXIT_OK) return rc;
    } else {
        ts_status st = ts_tokenize(s->m.vocab, o->prompt, strlen(o->prompt),
                                   TS_TOKENIZE_ADD_SPECIAL, &s->ids, &n);
        if (st != TS_OK) return cli_lib_error(st);
    }
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
    if (o->g.n_ctx) {
        if (n > o->g.n_ctx) {
            cli_error("run: the prompt has %d tokens but the context holds %d (-c %d)", n,
                      o->g.n_ctx, o->g.n_ctx);
            return RUN_EXIT_CONTEXT;
        }
        *n_ctx = o->g.n_ctx;
        return CLI_EXIT_OK;
    }
    int32_t train = gen_n_ctx_train(s->m.model);
    int64_t want = (int64_t)n + o->g.n_predict;
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
    cp.n_threads = o->g.n_threads;
    cp.abort_callback = gen_is_interrupted;
    double t0 = gen_now();
    ts_status st = ts_context_new(s->m.model, &cp, &s->ctx);
    s->m.load_seconds += gen_now() - t0;
    if (st == TS_OK) st = ts_sampler_new(&o->g.sp, ts_model_n_vocab(s->m.model), &s->sampler);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

/* ============================================================= output */

static void print_stats(const session *s, const run_opts *o, const gen_result *r) {
    gen_print_load(&s->m, ts_context_n_ctx(s->ctx), o->g.n_threads);
    gen_print_rate("prompt", r->n_prompt, r->prompt_seconds);
    fputc('\n', stderr);
    gen_print_rate("generate", r->n_generated, r->generate_seconds);
    fprintf(stderr, ", stopped: %s\n", gen_stop_str(r->stop));
}

/* ============================================================ command */

static int generate_text(session *s, const run_opts *o) {
    gen_out out = gen_out_stdout();
    gen_params gp = {
        .n_predict = o->g.n_predict,
        .stop = gen_is_interrupted,
        .sink = gen_out_write,
        .sink_user = &out,
    };
    gen_result r;
    gen_sigint_catch(true); /* writes to stdout are not cut short */
    gen_run(s->ctx, s->m.vocab, s->sampler, s->ids, s->n_ids, &gp, &r);
    gen_sigint_default();
    // end the text's line before the figures: on stdout only for a terminal
    // (a file or pipe gets exactly the model's text), else on stderr, so
    // that a log holding both still reads line by line
    if (out.last != '\n') {
        if (out.tty)
            gen_out_write("\n", 1, &out);
        else
            fputc('\n', stderr);
    }
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
    gen_model_close(&s->m);
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
    int rc = gen_model_open("run", o.g.model, &s.m);
    if (rc == CLI_EXIT_OK) rc = tokenize_prompt(&s, &o);
    if (rc == CLI_EXIT_OK) rc = make_context(&s, &o);
    if (rc == CLI_EXIT_OK) rc = generate_text(&s, &o);
    session_free(&s);
    return rc;
}
