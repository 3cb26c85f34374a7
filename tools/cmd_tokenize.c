/*
 * cmd_tokenize.c — `tessera tokenize -m MODEL [--ids|--pieces]
 * [--no-special] [--parse-special] [TEXT]`: the token ids a model's
 * tokenizer gives for a text (TEXT, or all of stdin when it is absent), as
 * llama.cpp's tokenize gives them.
 *
 * By default the special tokens the file asks for (BOS, EOS: add_bos_token,
 * add_eos_token) are added and special-token text in the input is plain
 * text; --no-special adds none, --parse-special matches control tokens
 * written in the text. The text is taken byte for byte (invalid UTF-8
 * included). Pieces come from a model file and may be any bytes, or part of
 * a UTF-8 sequence: they are printed escaped (cli_print_escaped), control
 * tokens with their text.
 */
#include "cli.h"

#include "tessera.h"

#include <stdlib.h>
#include <string.h>

typedef enum { OUT_TABLE, OUT_IDS, OUT_PIECES } out_mode;

typedef struct tokenize_opts {
    const char *model;
    const char *text; /* NULL: read stdin */
    out_mode mode;
    unsigned flags; /* TS_TOKENIZE_* */
} tokenize_opts;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* ================================================================ output */

/* The piece of id, control tokens rendered; escaped for a terminal. */
static void print_piece(const ts_vocab *v, ts_token id) {
    char small[256];
    size_t n;
    ts_status st = ts_token_piece(v, id, TS_DETOK_RENDER_SPECIAL, small, sizeof small, &n);
    if (st == TS_OK) {
        cli_print_escaped(stdout, small, n, 0, false);
        return;
    }
    char *big = st == TS_ERR_INVALID_ARG ? malloc(n) : NULL; /* a piece over 256 bytes */
    if (big && ts_token_piece(v, id, TS_DETOK_RENDER_SPECIAL, big, n, &n) == TS_OK)
        cli_print_escaped(stdout, big, n, 0, false);
    else
        fputs("\\?", stdout); /* cannot happen for a loaded vocabulary but OOM */
    free(big);
}

static void print_tokens(const ts_vocab *v, const ts_token *ids, size_t n, out_mode mode) {
    for (size_t i = 0; i < n; i++) {
        if (mode == OUT_IDS) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        if (mode == OUT_TABLE) printf("%d\t", (int)ids[i]);
        print_piece(v, ids[i]);
        putchar('\n');
    }
    if (mode == OUT_IDS) putchar('\n');
}

/* ============================================================== command */

static void tokenize_usage(FILE *f) {
    fputs("usage: tessera tokenize -m MODEL [--ids | --pieces] [--no-special]\n"
          "                        [--parse-special] [TEXT]\n"
          "\n"
          "Tokenize TEXT (or, without it, all of stdin) with the tokenizer of MODEL\n"
          "(any GGUF file with tokenizer.ggml.* metadata; a vocab-only file will do),\n"
          "giving the ids llama.cpp's tokenizer gives. The text is taken byte for\n"
          "byte: a trailing newline on stdin is part of it.\n"
          "\n"
          "By default the special tokens the file asks for are added (BOS and/or\n"
          "EOS, per tokenizer.ggml.add_bos_token / add_eos_token), and text that\n"
          "looks like a control token (\"<|im_start|>\", \"<bos>\") is tokenized as\n"
          "plain text, as llama.cpp's tokenize does.\n"
          "\n"
          "  -m, --model MODEL  the GGUF file to take the tokenizer from\n"
          "  --ids              print the ids on one line, separated by spaces\n"
          "  --pieces           print each token's text, one per line\n"
          "                     (default: one line per token, \"ID<TAB>PIECE\")\n"
          "  --no-special       do not add BOS/EOS\n"
          "  --parse-special    match control tokens written in the text (as a\n"
          "                     rendered chat template needs); never for user input\n"
          "  -h, --help         this help\n"
          "\n"
          "Pieces are the bytes each token stands for, control tokens shown with\n"
          "their text; bytes that are not printable UTF-8 (a piece may be part of a\n"
          "character) are escaped as \\n, \\t, \\xHH, \\uHHHH.\n"
          "\n"
          "exit status: 0 ok, 1 the model is missing, unreadable, not GGUF or has\n"
          "no usable tokenizer (or stdin cannot be read), 2 usage error\n",
          f);
}

static int set_mode(tokenize_opts *o, out_mode mode, const char *a) {
    if (o->mode != OUT_TABLE && o->mode != mode) {
        cli_error("tokenize: --ids and --pieces do not combine ('%s')", a);
        return PARSE_BAD;
    }
    o->mode = mode;
    return PARSE_OK;
}

static int parse_args(int argc, char **argv, tokenize_opts *o) {
    bool options_done = false;
    o->flags = TS_TOKENIZE_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = PARSE_OK;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (o->text) {
                cli_error("tokenize: more than one text given (quote a text with spaces)");
                return PARSE_BAD;
            }
            o->text = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (i + 1 >= argc) {
                cli_error("tokenize: %s needs a value", a);
                return PARSE_BAD;
            }
            o->model = argv[++i];
        } else if (strcmp(a, "--ids") == 0) {
            rc = set_mode(o, OUT_IDS, a);
        } else if (strcmp(a, "--pieces") == 0) {
            rc = set_mode(o, OUT_PIECES, a);
        } else if (strcmp(a, "--no-special") == 0) {
            o->flags &= ~TS_TOKENIZE_ADD_SPECIAL;
        } else if (strcmp(a, "--parse-special") == 0) {
            o->flags |= TS_TOKENIZE_PARSE_SPECIAL;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return PARSE_HELP;
        } else {
            cli_error("tokenize: unknown option '%s'", a);
            return PARSE_BAD;
        }
        if (rc != PARSE_OK) return rc;
    }
    if (!o->model) {
        cli_error("tokenize: no model given (-m MODEL)");
        return PARSE_BAD;
    }
    return PARSE_OK;
}

/* Load the tokenizer of o->model; the file is closed again. */
static int load_vocab(const char *path, ts_vocab **v) {
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(path, &g);
    if (st == TS_OK) st = ts_vocab_load(g, v);
    ts_gguf_close(g);
    return st == TS_OK ? CLI_EXIT_OK : cli_lib_error(st);
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_opts o = {0};
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        tokenize_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD:
        tokenize_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    ts_vocab *v = NULL;
    int rc = load_vocab(o.model, &v);
    char *input = NULL;
    size_t len = o.text ? strlen(o.text) : 0;
    if (rc == CLI_EXIT_OK && !o.text) rc = cli_read_file("tokenize", "-", &input, &len);
    ts_token *ids = NULL;
    size_t n = 0;
    if (rc == CLI_EXIT_OK) {
        ts_status st = ts_tokenize(v, o.text ? o.text : input, len, o.flags, &ids, &n);
        if (st != TS_OK) rc = cli_lib_error(st);
    }
    if (rc == CLI_EXIT_OK) {
        print_tokens(v, ids, n, o.mode);
        if (fflush(stdout) != 0) {
            cli_error("cannot write to stdout");
            rc = CLI_EXIT_FAIL;
        }
    }
    free(ids);
    free(input);
    ts_vocab_free(v);
    return rc;
}
