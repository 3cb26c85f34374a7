/*
 * gen_cli.h — the command-line side of generation that `tessera run` and
 * `tessera chat` share: their common options (model, context, threads,
 * sampling), finding and loading the model (the default one in the cache
 * when -m is absent), rendering and tokenizing a conversation with the
 * model's chat template, streaming text to stdout, SIGINT as a stop
 * request, and the exit codes beyond cli.h's.
 *
 * Errors are printed here, as one "tessera: CMD: ..." line on stderr, and
 * returned as exit codes, so a subcommand only passes them on.
 */
#ifndef TS_GEN_CLI_H
#define TS_GEN_CLI_H

#include "tessera.h"

#include <stdio.h>

/* Exit codes of `run` and `chat` beyond 0, 1 and 2 (cli.h). */
enum {
    GEN_EXIT_MODEL = 3,       /* the model cannot be loaded (or no -m and no default) */
    GEN_EXIT_CONTEXT = 4,     /* the prompt does not fit in the context */
    GEN_EXIT_DECODE = 5,      /* decoding failed */
    GEN_EXIT_INTERRUPT = 130, /* SIGINT (128 + 2, as a shell reports it) */
};

#define GEN_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define GEN_DEFAULT_N_CTX      4096
#define GEN_MAX_N_CTX          (1 << 24) /* the engine's limit on KV cells */

/* --help lines of the options gen_cli parses for both commands (threads and
 * sampling), so that run and chat describe them the same way. */
#define GEN_COMMON_OPTIONS_HELP                                                        \
    "  -t, --threads T         CPU threads (default: one per core)\n"                  \
    "  --temp T                temperature; 0: greedy (default 0.8)\n"                 \
    "  --top-k K               keep the K most likely tokens; 0: off (default 40)\n"   \
    "  --top-p P               keep the smallest set with mass >= P; 1: off (0.95)\n"  \
    "  --min-p P               drop tokens below P x the best one's; 0: off (0.05)\n"  \
    "  --seed S                random seed, 0 .. 2^64-1 (default 24301)\n"            \
    "  --repeat-penalty R      penalize repeated tokens; 1: off (default 1)\n"        \
    "  --repeat-last-n N       tokens the penalties look back on (default 64)\n"      \
    "  --presence-penalty P    subtract P once per seen token (default 0)\n"          \
    "  --frequency-penalty F   subtract F per occurrence (default 0)\n"

/* ------------------------------------------------------------- options */

/* The options both commands take. */
typedef struct gen_opts {
    const char *model;  /* -m; NULL: the default model in the cache */
    const char *system; /* --system */
    int32_t n_predict;  /* -n */
    int32_t n_ctx;      /* -c; 0: the command chooses */
    int32_t n_threads;  /* -t; 0: one per core */
    ts_sampler_params sp;
} gen_opts;

/* The defaults: the sampler's, n_predict as given, the rest 0 / NULL. */
gen_opts gen_opts_default(int32_t n_predict);

enum { GEN_OPT_OK, GEN_OPT_BAD, GEN_OPT_UNKNOWN };

/* If argv[*i] is one of the shared options, take it (and its value,
 * advancing *i) into o: GEN_OPT_OK; a missing or bad value: GEN_OPT_BAD
 * with "tessera: CMD: ..." on stderr; another argument: GEN_OPT_UNKNOWN,
 * nothing printed. */
int gen_opts_parse(const char *cmd, int argc, char **argv, int *i, gen_opts *o);

/* s as an integer in lo..hi into *out; false, having printed "tessera:
 * CMD: OPT wants an integer in LO..HI, got 'S'", when it is not one. */
bool gen_parse_i32(const char *cmd, const char *opt, const char *s, long lo, long hi,
                   int32_t *out);

/* Whether the sampler accepts o->sp (ranges, NaN), asked before a model is
 * loaded; prints the reason when not. */
bool gen_opts_check(const char *cmd, const gen_opts *o);

/* --------------------------------------------------------------- model */

/* A loaded model and its tokenizer; free with gen_model_close. */
typedef struct gen_model {
    char *path; /* as resolved */
    ts_model *model;
    ts_vocab *vocab;
    double load_seconds;
} gen_model;

/* path, or when NULL the default model in
 * ${TESSERA_CACHE:-~/.cache/tessera}/models if it is there, as a copy the
 * caller frees. NULL with *rc GEN_EXIT_MODEL (no default model; the message
 * says how to fetch it) or CLI_EXIT_FAIL (out of memory), having printed
 * why. */
char *gen_model_path(const char *cmd, const char *path, int *rc);

/* Load path (or, when NULL, the default model in
 * ${TESSERA_CACHE:-~/.cache/tessera}/models, with a message saying how to
 * fetch it when it is not there). Returns CLI_EXIT_OK, GEN_EXIT_MODEL or
 * CLI_EXIT_FAIL (out of memory), having printed why. */
int gen_model_open(const char *cmd, const char *path, gen_model *gm);
void gen_model_close(gen_model *gm);

/* The model's training context, clamped to 1..GEN_MAX_N_CTX (a file that
 * states none gets GEN_DEFAULT_N_CTX). */
int32_t gen_n_ctx_train(const ts_model *m);

/* ---------------------------------------------------------------- chat */

/* The model's chat template (ChatML when the file has none, said once on
 * stderr), parsed once, and the texts of its BOS and EOS tokens. */
typedef struct gen_chat {
    ts_template *tmpl;
    char bos[256], eos[256];
} gen_chat;

/* Returns CLI_EXIT_OK, or CLI_EXIT_FAIL having printed why. Free with
 * gen_chat_close (also after a failure). */
int gen_chat_open(gen_chat *c, const gen_model *gm);
void gen_chat_close(gen_chat *c);

/* A message {"role": role, "content": content[0..len)} for a conversation
 * list (ts_tmpl_list_append takes it, NULL included); NULL when out of
 * memory. */
ts_tmpl_value *gen_chat_message(const char *role, const char *content, size_t len);

/* Render messages (a list) with add_generation_prompt and tokenize the
 * result with its control tokens, BOS as the file asks (one BOS only,
 * should the template also write it). *ids: malloc'd, *n ids; caller
 * frees. Returns the failed call's status (ts_last_error() says why). */
ts_status gen_chat_tokenize(const gen_chat *c, const ts_vocab *v, const ts_tmpl_value *messages,
                            ts_token **ids, size_t *n);

/* -------------------------------------------------------------- output */

/* Text from a model to stdout: byte for byte to a file or pipe; on a
 * terminal line by line with control characters escaped. */
typedef struct gen_out {
    bool tty;
    char last; /* the last byte written ('\n' at first) */
} gen_out;

gen_out gen_out_stdout(void);

/* A gen_sink (generate.h): user is a gen_out. False when stdout fails. */
bool gen_out_write(const char *text, size_t len, void *user);

/* "load: S s (ARCH, NM params, L layers; context C tokens, T threads, cpu
 * PATH)" on stderr: the model's figures, the context size, threads (0:
 * one per core) and the CPU kernels' instruction-set path. */
void gen_print_load(const gen_model *gm, uint32_t n_ctx, int n_threads);

/* "WHAT: N tokens in S s (R tokens/s)" on stderr, without a newline. */
void gen_print_rate(const char *what, int32_t n, double seconds);

double gen_now(void); /* monotonic seconds */

/* ------------------------------------------------------------- signals */

/* Catch SIGINT as a stop request (a second one, before gen_sigint_clear,
 * kills the process). restart: interrupted system calls resume (while
 * writing an answer); otherwise a blocking read returns EINTR (at a
 * prompt). */
void gen_sigint_catch(bool restart);
void gen_sigint_default(void); /* SIG_DFL again */
void gen_sigint_clear(void);   /* forget a stop request */
bool gen_sigint_seen(void);

/* A ts_abort_fn: true once SIGINT was caught. */
bool gen_is_interrupted(void *user);

#endif /* TS_GEN_CLI_H */
