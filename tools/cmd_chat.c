/*
 * cmd_chat.c — `tessera chat [-m MODEL] [--system TEXT] [-n N] [-c CTX]
 * [-t THREADS] [sampling options] [--stats] [--verbose]`: a conversation
 * with a model through its chat template, one user message per input line.
 *
 * Each turn renders the whole conversation (the messages so far, the new
 * user message, add_generation_prompt) and tokenizes it, then keeps the
 * longest common prefix of those tokens and the ones the KV cache holds
 * (the previous render and the answer's tokens), drops the cache beyond it
 * (ts_seq_rm) and decodes only the rest. A template that renders a past
 * answer differently from how it was generated (an end token added,
 * thinking stripped) costs a re-decode from the first difference, never a
 * wrong cache.
 *
 * Invariant: cache[0..n_cache) are the tokens sequence 0 of the KV cache
 * holds, at positions 0..n_cache-1. After a turn n_cache is read back from
 * the context (ts_seq_pos_max), so an aborted or failed decode, which
 * leaves the cache as it was, cannot break it.
 *
 * stdout carries only the answers, each followed by a newline (an answer
 * that could not be made is empty); the prompt "> " and the banner (only
 * when stdin is a terminal), notices and figures go to stderr. Lines that
 * are one word starting with '/' are commands: /reset, /exit, /help.
 *
 * A full context is not an error: the answer stops there, and a message
 * that no longer fits is refused; both say so and point to /reset (the
 * conversation is never cut silently). Ctrl-C during an answer stops that
 * answer; at the prompt it ends the program (exit 130).
 */
#include "cli.h"
#include "gen_cli.h"
#include "generate.h"

#include "tessera.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define CHAT_N_PREDICT 512 /* default tokens per answer */
#define CHAT_UBATCH    512

typedef struct chat_opts {
    gen_opts g;
    bool stats;   /* --stats: one machine-readable line per turn */
    bool verbose; /* --verbose: load and per-turn figures */
} chat_opts;

/* One message of the conversation. */
typedef struct chat_msg {
    const char *role; /* static */
    char *text;
    size_t len;
} chat_msg;

/* Everything a chat holds; freed by chat_close. */
typedef struct chat {
    gen_model m;
    gen_chat tmpl;
    ts_context *ctx;
    ts_sampler *sampler;
    int32_t n_ctx, n_predict; /* n_predict: -n, capped at what the context allows */
    chat_msg *msgs;           /* (n_msgs) [system,] user, assistant, ... */
    size_t n_msgs, cap_msgs;
    ts_token *cache; /* (n_cache <= n_ctx) what sequence 0 of the KV cache holds */
    int32_t n_cache;
    ts_token *generated; /* (n_predict) the last answer's tokens */
    char *answer;        /* (answer_len) the last answer's text, as generated */
    size_t answer_len, answer_cap;
    gen_out out;
    bool tty_in; /* stdin is a terminal: show a prompt */
    int turn;
} chat;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* What a line of input asks for. */
enum { LINE_MESSAGE, LINE_SKIP, LINE_RESET, LINE_EXIT };

/* ============================================================== usage */

static void chat_usage(FILE *f) {
    fputs("usage: tessera chat [-m MODEL] [--system TEXT] [-n N] [-c CTX] [-t THREADS]\n"
          "                    [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S]\n"
          "                    [--repeat-penalty R] [--repeat-last-n N]\n"
          "                    [--presence-penalty P] [--frequency-penalty F]\n"
          "                    [--stats] [--verbose]\n"
          "\n"
          "Chat with MODEL through its chat template (ChatML when it has none). Each\n"
          "line of stdin is a user message; the answer streams to stdout, followed by\n"
          "a newline. The conversation stays in the KV cache: a turn decodes only the\n"
          "tokens that are new. On a terminal a prompt '> ' (on stderr) asks for each\n"
          "message; from a pipe nothing but the answers reaches stdout.\n"
          "\n"
          "commands (a line of one word):\n"
          "  /reset                  forget the conversation (and the cache)\n"
          "  /exit                   leave (so does the end of input, Ctrl-D)\n"
          "  /help                   list the commands\n"
          "\n"
          "  -m, --model MODEL       a GGUF model (default: " GEN_DEFAULT_MODEL_FILE "\n"
          "                          in ${TESSERA_CACHE:-~/.cache/tessera}/models, which\n"
          "                          `scripts/fetch-model.sh smollm2` or `make demo` fetch)\n"
          "  --system TEXT           a system message opening the conversation\n"
          "  -n, --n-predict N       at most N tokens per answer (default 512)\n"
          "  -c, --ctx-size CTX      context size in tokens, the whole conversation\n"
          "                          (default: min(the model's training context, 4096))\n"
          GEN_COMMON_OPTIONS_HELP
          "  --stats                 after each turn, on stderr: turn=T prompt=P cached=C\n"
          "                          prefill=F generated=G kv=K stop=REASON (P tokens\n"
          "                          rendered, C of them already in the cache, F decoded;\n"
          "                          K in the cache afterwards)\n"
          "  --verbose               load time and per-turn tokens/s on stderr\n"
          "  -h, --help              this help\n"
          "\n"
          "When the context is full the answer stops and the next message is refused:\n"
          "/reset starts again (-c sets a larger context). Ctrl-C stops an answer; at\n"
          "the prompt it ends the chat.\n"
          "\n"
          "exit status:\n"
          "  0    /exit or end of input\n"
          "  1    another failure (output cannot be written, out of memory, the chat\n"
          "       template fails)\n"
          "  2    usage error (unknown option, bad option value)\n"
          "  3    the model cannot be loaded (also: no -m and no default model)\n"
          "  5    decoding failed\n"
          "  130  Ctrl-C at the prompt\n",
          f);
}

/* ============================================================ options */

static int parse_args(int argc, char **argv, chat_opts *o) {
    *o = (chat_opts){.g = gen_opts_default(CHAT_N_PREDICT)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return PARSE_HELP;
        if (strcmp(a, "--stats") == 0) {
            o->stats = true;
            continue;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o->verbose = true;
            continue;
        }
        switch (gen_opts_parse("chat", argc, argv, &i, &o->g)) {
        case GEN_OPT_OK:
            continue;
        case GEN_OPT_UNKNOWN:
            if (a[0] == '-' && a[1])
                cli_error("chat: unknown option '%s'", a);
            else
                cli_error("chat: unexpected argument '%s' (messages come from stdin)", a);
            return PARSE_BAD;
        default:
            return PARSE_BAD;
        }
    }
    return gen_opts_check("chat", &o->g) ? PARSE_OK : PARSE_BAD;
}

/* ======================================================= conversation */

static bool push_msg(chat *c, const char *role, const char *text, size_t len) {
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? 2 * c->cap_msgs : 16;
        chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return false;
        c->msgs = m;
        c->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    c->msgs[c->n_msgs++] = (chat_msg){.role = role, .text = copy, .len = len};
    return true;
}

static void pop_msg(chat *c) { free(c->msgs[--c->n_msgs].text); }

/* The conversation rendered with add_generation_prompt, tokenized. */
static ts_status render(const chat *c, ts_token **ids, size_t *n) {
    ts_tmpl_value *list = ts_tmpl_value_list();
    ts_status st = list ? TS_OK : TS_ERR_NOMEM;
    for (size_t i = 0; i < c->n_msgs && st == TS_OK; i++)
        st = ts_tmpl_list_append(
            list, gen_chat_message(c->msgs[i].role, c->msgs[i].text, c->msgs[i].len));
    if (st == TS_OK) st = gen_chat_tokenize(&c->tmpl, c->m.vocab, list, ids, n);
    ts_tmpl_value_free(list);
    return st;
}

/* Forget the conversation but the system message, empty the cache and
 * restart the sampler (its history and random stream). */
static void reset(chat *c, const chat_opts *o) {
    while (c->n_msgs > (o->g.system ? 1u : 0u)) pop_msg(c);
    ts_seq_rm(c->ctx, -1, -1, -1);
    c->n_cache = 0;
    ts_sampler_reset(c->sampler);
}

static int32_t common_prefix(const ts_token *a, int32_t na, const ts_token *b, int32_t nb) {
    int32_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* ============================================================= output */

/* The gen_sink of an answer: keep its text for the history, show it. */
static bool answer_sink(const char *text, size_t len, void *user) {
    chat *c = user;
    if (c->answer_len + len > c->answer_cap) {
        size_t cap = 2 * (c->answer_len + len);
        char *p = realloc(c->answer, cap);
        if (!p) return false;
        c->answer = p;
        c->answer_cap = cap;
    }
    memcpy(c->answer + c->answer_len, text, len);
    c->answer_len += len;
    return gen_out_write(text, len, &c->out);
}

static const char *stop_word(gen_stop stop) {
    switch (stop) {
    case GEN_STOP_LENGTH:
        return "length";
    case GEN_STOP_EOG:
        return "eog";
    case GEN_STOP_CONTEXT:
        return "context";
    case GEN_STOP_INTERRUPT:
        return "interrupted";
    case GEN_STOP_DECODE:
        return "decode";
    default:
        return "output";
    }
}

static void print_turn(const chat *c, const chat_opts *o, int32_t n_prompt, int32_t cached,
                       const gen_result *r) {
    if (o->stats)
        fprintf(stderr, "turn=%d prompt=%d cached=%d prefill=%d generated=%d kv=%d stop=%s\n",
                c->turn, n_prompt, cached, r->n_prompt, r->n_generated, c->n_cache,
                stop_word(r->stop));
    if (o->verbose) {
        gen_print_rate("prompt", r->n_prompt, r->prompt_seconds);
        fprintf(stderr, ", %d more from the cache\n", cached);
        gen_print_rate("generate", r->n_generated, r->generate_seconds);
        fprintf(stderr, ", stopped: %s\n", gen_stop_str(r->stop));
    }
}

static void say_context_full(const chat *c, int32_t need) {
    if (need > 0)
        cli_error("chat: the conversation would take %d tokens but the context holds %d: "
                  "/reset starts a new one (-c sets a larger context)",
                  need, c->n_ctx);
    else
        cli_error("chat: the context is full (%d tokens): /reset starts a new conversation "
                  "(-c sets a larger context)",
                  c->n_ctx);
}

/* ============================================================== turns */

/* After gen_run: what the cache holds now (ids, then the answer's tokens,
 * up to the last position decoded). */
static void sync_cache(chat *c, const ts_token *ids, int32_t n, const gen_result *r) {
    int32_t held = ts_seq_pos_max(c->ctx, 0) + 1;
    if (held > n + r->n_generated) held = n + r->n_generated; /* cannot happen */
    for (int32_t i = c->n_cache; i < held; i++) c->cache[i] = i < n ? ids[i] : c->generated[i - n];
    c->n_cache = held;
}

/* The turn's outcome as an exit code; CLI_EXIT_OK to go on. */
static int turn_status(const chat *c, const gen_result *r) {
    switch (r->stop) {
    case GEN_STOP_CONTEXT:
        say_context_full(c, 0);
        return CLI_EXIT_OK;
    case GEN_STOP_DECODE:
        if (r->status == TS_ERR_FULL) { /* no free cell: the context is full */
            say_context_full(c, 0);
            return CLI_EXIT_OK;
        }
        cli_lib_error(r->status);
        return GEN_EXIT_DECODE;
    case GEN_STOP_OUTPUT:
        if (r->status != TS_OK) return cli_lib_error(r->status);
        cli_error("chat: cannot write to stdout");
        return CLI_EXIT_FAIL;
    default:
        return CLI_EXIT_OK;
    }
}

/* Decode what is new in ids (after the longest prefix the cache holds) and
 * stream the answer. */
static int answer(chat *c, const chat_opts *o, const ts_token *ids, int32_t n) {
    c->turn++;
    int32_t keep = common_prefix(c->cache, c->n_cache, ids, n);
    if (keep == n) keep = n - 1; /* the last token is decoded again for its logits */
    ts_seq_rm(c->ctx, 0, keep, -1);
    c->n_cache = keep;
    c->answer_len = 0;
    gen_params gp = {
        .n_predict = c->n_predict,
        .n_past = keep,
        .generated = c->generated,
        .stop = gen_is_interrupted,
        .sink = answer_sink,
        .sink_user = c,
    };
    gen_result r;
    gen_sigint_clear();
    gen_sigint_catch(true); /* writes to stdout are not cut short */
    gen_run(c->ctx, c->m.vocab, c->sampler, ids, n, &gp, &r);
    gen_sigint_clear();
    sync_cache(c, ids, n, &r);
    bool ok = r.stop != GEN_STOP_OUTPUT && gen_out_write("\n", 1, &c->out);
    if (!ok) r.stop = GEN_STOP_OUTPUT;
    /* The history: the answer as generated, even a partial one; a message
     * whose prompt was never decoded is dropped. */
    if (r.n_prompt == 0)
        pop_msg(c);
    else if (!push_msg(c, "assistant", c->answer ? c->answer : "", c->answer_len))
        return cli_lib_error(TS_ERR_NOMEM);
    print_turn(c, o, n, keep, &r);
    return turn_status(c, &r);
}

/* One user message: render the conversation with it, then answer. */
static int turn(chat *c, const chat_opts *o, const char *text, size_t len) {
    if (!push_msg(c, "user", text, len)) return cli_lib_error(TS_ERR_NOMEM);
    ts_token *ids = NULL;
    size_t n = 0;
    ts_status st = render(c, &ids, &n);
    if (st != TS_OK) {
        free(ids);
        return cli_lib_error(st);
    }
    int rc = CLI_EXIT_OK;
    if (n == 0 || n > (size_t)c->n_ctx) { /* refused: an empty answer, no turn */
        pop_msg(c);
        if (!gen_out_write("\n", 1, &c->out)) rc = CLI_EXIT_FAIL;
        if (n) say_context_full(c, n > INT32_MAX ? INT32_MAX : (int32_t)n);
    } else {
        rc = answer(c, o, ids, (int32_t)n);
    }
    free(ids);
    return rc;
}

/* ============================================================== input */

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Strip the line end and surrounding blanks; say what the line asks for. */
static int classify(char *line, size_t *len) {
    size_t n = *len, b = 0;
    while (n && is_blank(line[n - 1])) n--;
    while (b < n && is_blank(line[b])) b++;
    memmove(line, line + b, n - b);
    n -= b;
    line[n] = '\0';
    *len = n;
    if (n == 0) return LINE_SKIP;
    if (line[0] != '/' || memchr(line, ' ', n) || memchr(line, '\t', n)) return LINE_MESSAGE;
    if (strcmp(line, "/exit") == 0) return LINE_EXIT;
    if (strcmp(line, "/reset") == 0) return LINE_RESET;
    if (strcmp(line, "/help") == 0)
        fputs("/reset forgets the conversation, /exit (or Ctrl-D) leaves; Ctrl-C stops an "
              "answer\n",
              stderr);
    else
        cli_error("chat: unknown command '%s' (/help lists them)", line);
    return LINE_SKIP;
}

/* The next line of stdin, after the prompt on a terminal: its length, or -1
 * at the end of input; GEN_EXIT_INTERRUPT (as *rc) at Ctrl-C, CLI_EXIT_FAIL
 * when stdin cannot be read. */
static ssize_t read_line(const chat *c, char **line, size_t *cap, int *rc) {
    *rc = CLI_EXIT_OK;
    if (c->tty_in) {
        fputs("> ", stderr);
        fflush(stderr);
    }
    gen_sigint_catch(false); /* Ctrl-C interrupts the read */
    errno = 0;
    ssize_t k = gen_sigint_seen() ? -1 : getline(line, cap, stdin);
    if (k >= 0) return k;
    if (c->tty_in) fputc('\n', stderr);
    if (gen_sigint_seen()) {
        *rc = GEN_EXIT_INTERRUPT;
    } else if (ferror(stdin)) {
        cli_error("chat: cannot read stdin: %s", strerror(errno));
        *rc = CLI_EXIT_FAIL;
    }
    return -1;
}

/* ============================================================ command */

static int chat_open(chat *c, const chat_opts *o) {
    int rc = gen_model_open("chat", o->g.model, &c->m);
    if (rc == CLI_EXIT_OK) rc = gen_chat_open(&c->tmpl, &c->m);
    if (rc != CLI_EXIT_OK) return rc;
    c->n_ctx = o->g.n_ctx ? o->g.n_ctx : gen_n_ctx_train(c->m.model);
    if (!o->g.n_ctx && c->n_ctx > GEN_DEFAULT_N_CTX) c->n_ctx = GEN_DEFAULT_N_CTX;
    /* an answer cannot outgrow the context: positions 1.. n_ctx - 1 and
     * one more token that is never decoded */
    c->n_predict = o->g.n_predict < c->n_ctx ? o->g.n_predict : c->n_ctx;
    ts_context_params cp = ts_context_default_params();
    cp.n_ctx = (uint32_t)c->n_ctx;
    cp.n_ubatch = CHAT_UBATCH;
    cp.n_threads = o->g.n_threads;
    cp.abort_callback = gen_is_interrupted;
    double t0 = gen_now();
    ts_status st = ts_context_new(c->m.model, &cp, &c->ctx);
    c->m.load_seconds += gen_now() - t0;
    if (st == TS_OK) st = ts_sampler_new(&o->g.sp, ts_model_n_vocab(c->m.model), &c->sampler);
    if (st != TS_OK) return cli_lib_error(st);
    c->cache = malloc((size_t)c->n_ctx * sizeof *c->cache);
    c->generated = malloc(((size_t)c->n_predict + 1) * sizeof *c->generated);
    if (!c->cache || !c->generated ||
        (o->g.system && !push_msg(c, "system", o->g.system, strlen(o->g.system))))
        return cli_lib_error(TS_ERR_NOMEM);
    c->out = gen_out_stdout();
    c->tty_in = isatty(STDIN_FILENO);
    return CLI_EXIT_OK;
}

static void chat_close(chat *c) {
    while (c->n_msgs) pop_msg(c);
    free(c->msgs);
    free(c->cache);
    free(c->generated);
    free(c->answer);
    ts_sampler_free(c->sampler);
    ts_context_free(c->ctx);
    gen_chat_close(&c->tmpl);
    gen_model_close(&c->m);
}

static void print_banner(const chat *c, const chat_opts *o) {
    if (o->verbose) gen_print_load(&c->m, (uint32_t)c->n_ctx, o->g.n_threads);
    if (c->tty_in)
        fprintf(stderr,
                "chatting with %s (context %d tokens). /reset starts over, /exit or Ctrl-D "
                "leaves, Ctrl-C stops an answer.\n",
                c->m.path, c->n_ctx);
}

/* Read messages until /exit, the end of input, Ctrl-C or an error. */
static int converse(chat *c, const chat_opts *o) {
    char *line = NULL;
    size_t cap = 0;
    int rc = CLI_EXIT_OK;
    for (;;) {
        ssize_t k = read_line(c, &line, &cap, &rc);
        if (k < 0) break;
        size_t len = (size_t)k;
        int what = classify(line, &len);
        if (what == LINE_EXIT) break;
        if (what == LINE_RESET) {
            reset(c, o);
            if (c->tty_in) fputs("(new conversation)\n", stderr);
        } else if (what == LINE_MESSAGE) {
            rc = turn(c, o, line, len);
            if (rc != CLI_EXIT_OK) break;
        }
    }
    gen_sigint_default();
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_opts o;
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        chat_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD:
        return CLI_EXIT_USAGE;
    }
    chat c = {0};
    int rc = chat_open(&c, &o);
    if (rc == CLI_EXIT_OK) {
        print_banner(&c, &o);
        rc = converse(&c, &o);
    }
    chat_close(&c);
    return rc;
}
