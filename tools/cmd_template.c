/*
 * cmd_template.c — `tessera template [-m MODEL] MESSAGES.json
 * [--no-generation-prompt] [--template FILE] [--var KEY=JSON]...
 * [--date YYYY-MM-DD]`: the prompt a model's chat template makes of a
 * conversation, rendered by the sandboxed interpreter (tessera/template.h)
 * with the context transformers' apply_chat_template builds.
 *
 * The template is FILE, else the model's tokenizer.chat_template, else
 * ChatML (said on stderr). bos_token / eos_token are the texts of the
 * model's BOS / EOS tokens (left undefined without a model). MESSAGES.json
 * is a JSON array of messages, or an object {"messages": [...], "tools":
 * [...], KEY: VALUE...} whose other keys become template variables, as do
 * --var options (those win). JSON maps onto template values one to one:
 * null none, true/false, integers, reals, strings (any Unicode, NUL
 * included), arrays, objects in their order.
 *
 * The prompt goes to stdout byte for byte when stdout is a file or a pipe
 * (feed it to `tessera tokenize --parse-special`). On a terminal each line
 * is escaped (cli_print_escaped): a template comes from a model file and
 * may hold control sequences.
 */
#include "cli.h"

#include "tessera.h"
#include "tessera/template.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_VARS 64 /* --var options */

typedef struct template_opts {
    const char *model;    /* -m, or NULL */
    const char *messages; /* path, "-" for stdin */
    const char *template; /* --template FILE, or NULL */
    const char *vars[MAX_VARS];
    int n_vars;
    bool no_gen_prompt;
    bool has_date;
    int64_t date; /* --date: seconds since the epoch, midnight UTC */
} template_opts;

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* Everything one run holds; freed by inputs_free. */
typedef struct inputs {
    json_t *doc; /* MESSAGES.json */
    ts_tmpl_value *messages, *tools, *extra;
    char *src; /* template source (FILE or a copy of the model's) */
    size_t src_len;
    bool chatml;
} inputs;

/* ========================================================= JSON -> values */

/* A template value equal to JSON value j; NULL when out of memory. */
static ts_tmpl_value *from_json(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_NULL:
        return ts_tmpl_value_none();
    case JSON_TRUE:
        return ts_tmpl_value_bool(true);
    case JSON_FALSE:
        return ts_tmpl_value_bool(false);
    case JSON_INTEGER:
        return ts_tmpl_value_int((int64_t)json_integer_value(j));
    case JSON_REAL:
        return ts_tmpl_value_float(json_real_value(j));
    case JSON_STRING:
        return ts_tmpl_value_str(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        ts_tmpl_value *l = ts_tmpl_value_list();
        size_t i;
        const json_t *item;
        json_array_foreach(j, i, item) {
            if (!l || ts_tmpl_list_append(l, from_json(item)) != TS_OK) {
                ts_tmpl_value_free(l);
                return NULL;
            }
        }
        return l;
    }
    case JSON_OBJECT: {
        ts_tmpl_value *d = ts_tmpl_value_dict();
        const char *key;
        size_t key_len;
        const json_t *val;
        void *tmp;
        json_object_keylen_foreach_safe((json_t *)j, tmp, key, key_len, val) {
            if (!d || ts_tmpl_dict_set(d, key, key_len, from_json(val)) != TS_OK) {
                ts_tmpl_value_free(d);
                return NULL;
            }
        }
        return d;
    }
    }
    return NULL;
}

/* Set key to a value made from j in in->extra (created on first use). */
static int set_var(inputs *in, const char *key, size_t key_len, const json_t *j) {
    if (!in->extra) in->extra = ts_tmpl_value_dict();
    if (!in->extra || ts_tmpl_dict_set(in->extra, key, key_len, from_json(j)) != TS_OK) {
        cli_error("template: out of memory");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* MESSAGES.json: an array of messages, or an object with "messages",
 * optional "tools" and more variables. */
static int load_messages(const char *path, inputs *in) {
    char *buf = NULL;
    size_t len = 0;
    int rc = cli_read_file("template", path, &buf, &len);
    if (rc != CLI_EXIT_OK) return rc;
    json_error_t err;
    in->doc = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    free(buf);
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    if (!in->doc) {
        cli_error("template: %s: line %d, column %d: %s", name, err.line, err.column, err.text);
        return CLI_EXIT_FAIL;
    }
    const json_t *msgs = in->doc, *tools = NULL;
    if (json_is_object(in->doc)) {
        msgs = json_object_get(in->doc, "messages");
        tools = json_object_get(in->doc, "tools");
        if (!msgs) {
            cli_error("template: %s: the object has no \"messages\"", name);
            return CLI_EXIT_FAIL;
        }
        if (tools && !json_is_array(tools) && !json_is_null(tools)) {
            cli_error("template: %s: \"tools\" is not an array", name);
            return CLI_EXIT_FAIL;
        }
    }
    if (!json_is_array(msgs)) {
        cli_error("template: %s: the messages are not a JSON array", name);
        return CLI_EXIT_FAIL;
    }
    in->messages = from_json(msgs);
    in->tools = tools && json_is_array(tools) ? from_json(tools) : NULL;
    if (!in->messages || (tools && json_is_array(tools) && !in->tools)) {
        cli_error("template: out of memory");
        return CLI_EXIT_FAIL;
    }
    if (!json_is_object(in->doc)) return CLI_EXIT_OK;
    const char *key;
    size_t key_len;
    json_t *val;
    void *tmp;
    json_object_keylen_foreach_safe(in->doc, tmp, key, key_len, val) {
        if ((key_len == 8 && memcmp(key, "messages", 8) == 0) ||
            (key_len == 5 && memcmp(key, "tools", 5) == 0))
            continue;
        if ((rc = set_var(in, key, key_len, val)) != CLI_EXIT_OK) return rc;
    }
    return CLI_EXIT_OK;
}

/* --var KEY=JSON options, after the variables of MESSAGES.json. */
static int load_vars(const template_opts *o, inputs *in) {
    for (int i = 0; i < o->n_vars; i++) {
        const char *eq = strchr(o->vars[i], '=');
        json_error_t err;
        json_t *j = json_loads(eq + 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!j) { /* parse_args checked the syntax; this is out of memory */
            cli_error("template: --var %s: %s", o->vars[i], err.text);
            return CLI_EXIT_FAIL;
        }
        int rc = set_var(in, o->vars[i], (size_t)(eq - o->vars[i]), j);
        json_decref(j);
        if (rc != CLI_EXIT_OK) return rc;
    }
    return CLI_EXIT_OK;
}

/* ================================================================= model */

/* The text of the token whose id is at `key`, as a variable `name`;
 * nothing when the file has no such token. */
static int model_token(const ts_gguf *g, const char *key, const char *name, inputs *in) {
    uint32_t id;
    const ts_gguf_value *toks;
    if (ts_gguf_get_u32(g, key, &id) != TS_OK ||
        ts_gguf_get_arr(g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_STRING, &toks) != TS_OK ||
        id >= toks->v.arr.n)
        return CLI_EXIT_OK;
    ts_str s = toks->v.arr.strs[id];
    if (!in->extra) in->extra = ts_tmpl_value_dict();
    if (!in->extra ||
        ts_tmpl_dict_set_cstr(in->extra, name, ts_tmpl_value_str(s.ptr, s.len)) != TS_OK) {
        cli_error("template: out of memory");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* BOS / EOS texts and, without --template, the template of the model. */
static int load_model(const template_opts *o, inputs *in) {
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(o->model, &g);
    if (st != TS_OK) return cli_lib_error(st);
    int rc = model_token(g, "tokenizer.ggml.bos_token_id", "bos_token", in);
    if (rc == CLI_EXIT_OK) rc = model_token(g, "tokenizer.ggml.eos_token_id", "eos_token", in);
    if (rc == CLI_EXIT_OK && !o->template) {
        if (ts_gguf_find_kv(g, "tokenizer.chat_template") < 0) {
            in->chatml = true; /* said here, so ts_chat_template_source's WARN is not needed */
            fputs("tessera: note: ", stderr);
            cli_print_escaped(stderr, o->model, strlen(o->model), 0, false);
            fputs(" has no chat template (tokenizer.chat_template); using ChatML\n", stderr);
        } else {
            ts_str src;
            st = ts_chat_template_source(g, &src, NULL);
            if (st != TS_OK) {
                rc = cli_lib_error(st);
            } else if (!(in->src = malloc(src.len ? src.len : 1))) {
                cli_error("template: out of memory");
                rc = CLI_EXIT_FAIL;
            } else {
                memcpy(in->src, src.ptr, src.len); /* outlives the handle */
                in->src_len = src.len;
            }
        }
    }
    ts_gguf_close(g);
    return rc;
}

/* ================================================================ output */

/* On a terminal, line by line with control bytes escaped; else raw. */
static int write_prompt(const char *s, size_t n) {
    if (isatty(STDOUT_FILENO)) {
        for (size_t i = 0; i < n;) {
            const char *nl = memchr(s + i, '\n', n - i);
            size_t k = nl ? (size_t)(nl - (s + i)) : n - i;
            cli_print_escaped(stdout, s + i, k, 0, false);
            if (nl) putchar('\n');
            i += k + (nl != NULL);
        }
    } else {
        fwrite(s, 1, n, stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to stdout");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* ============================================================== command */

static void template_usage(FILE *f) {
    fputs("usage: tessera template [-m MODEL] MESSAGES.json [--no-generation-prompt]\n"
          "                        [--template FILE] [--var KEY=JSON]... [--date YYYY-MM-DD]\n"
          "\n"
          "Render a conversation with a chat template, as transformers'\n"
          "apply_chat_template does, and print the prompt.\n"
          "\n"
          "MESSAGES.json (\"-\": stdin) is a JSON array of messages, such as\n"
          "  [{\"role\": \"system\", \"content\": \"Be brief.\"},\n"
          "   {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi\"}]}]\n"
          "or an object {\"messages\": [...], \"tools\": [...], KEY: VALUE, ...} whose\n"
          "other keys are more template variables.\n"
          "\n"
          "  -m, --model MODEL       take the template (tokenizer.chat_template) and\n"
          "                          bos_token / eos_token from this GGUF file; a\n"
          "                          model without a template gets ChatML (a note on\n"
          "                          stderr says so)\n"
          "  --template FILE         use the Jinja template in FILE (\"-\": stdin)\n"
          "                          instead (-m is then optional)\n"
          "  --no-generation-prompt  add_generation_prompt = false (default: true)\n"
          "  --var KEY=JSON          set a template variable (repeatable; wins over\n"
          "                          MESSAGES.json), e.g. --var enable_thinking=false,\n"
          "                          --var 'date_string=\"26 Jul 2024\"'\n"
          "  --date YYYY-MM-DD       the date strftime_now() sees (midnight UTC);\n"
          "                          default: the current local time\n"
          "  -h, --help              this help\n"
          "\n"
          "Variables: messages, tools (none without tools), documents (none),\n"
          "add_generation_prompt, bos_token, eos_token, then the extra ones. The\n"
          "template runs sandboxed, with limits on output size, steps and depth.\n"
          "The prompt is written byte for byte to a file or pipe; on a terminal,\n"
          "control characters are shown escaped.\n"
          "\n"
          "exit status: 0 ok, 1 a file is missing or malformed or the template\n"
          "failed (syntax error, raise_exception, a limit), 2 usage error\n",
          f);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool parse_date(const char *s, int64_t *out) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
        return false;
    *out = days_from_civil(y, m, d) * 86400;
    return true;
}

/* Checks KEY=JSON; the value is parsed again in load_vars. */
static int check_var(const char *a) {
    const char *eq = strchr(a, '=');
    if (!eq || eq == a) {
        cli_error("template: --var needs KEY=JSON, got '%s'", a);
        return PARSE_BAD;
    }
    json_error_t err;
    json_t *j = json_loads(eq + 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j) {
        cli_error("template: --var %.*s: the value is not JSON (%s); a string is "
                  "written with quotes: --var '%.*s=\"text\"'",
                  (int)(eq - a), a, err.text, (int)(eq - a), a);
        return PARSE_BAD;
    }
    json_decref(j);
    return PARSE_OK;
}

/* The value of option argv[*i], or NULL (reported) when it is missing. */
static const char *option_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_error("template: %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int parse_option(int argc, char **argv, int *i, template_opts *o) {
    const char *a = argv[*i], *v;
    if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
        if (!(o->model = option_value(argc, argv, i))) return PARSE_BAD;
    } else if (strcmp(a, "--template") == 0) {
        if (!(o->template = option_value(argc, argv, i))) return PARSE_BAD;
    } else if (strcmp(a, "--no-generation-prompt") == 0) {
        o->no_gen_prompt = true;
    } else if (strcmp(a, "--var") == 0) {
        if (!(v = option_value(argc, argv, i)) || check_var(v) != PARSE_OK) return PARSE_BAD;
        if (o->n_vars == MAX_VARS) {
            cli_error("template: more than %d --var options", MAX_VARS);
            return PARSE_BAD;
        }
        o->vars[o->n_vars++] = v;
    } else if (strcmp(a, "--date") == 0) {
        if (!(v = option_value(argc, argv, i))) return PARSE_BAD;
        if (!parse_date(v, &o->date)) {
            cli_error("template: --date wants a date YYYY-MM-DD, got '%s'", v);
            return PARSE_BAD;
        }
        o->has_date = true;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        return PARSE_HELP;
    } else {
        cli_error("template: unknown option '%s'", a);
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static int parse_args(int argc, char **argv, template_opts *o) {
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (o->messages) {
                cli_error("template: more than one MESSAGES.json given");
                return PARSE_BAD;
            }
            o->messages = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else {
            int rc = parse_option(argc, argv, &i, o);
            if (rc != PARSE_OK) return rc;
        }
    }
    if (!o->messages) {
        cli_error("template: no MESSAGES.json given");
        return PARSE_BAD;
    }
    if (!o->model && !o->template) {
        cli_error("template: no model given (-m MODEL) and no --template FILE");
        return PARSE_BAD;
    }
    if (o->template && strcmp(o->template, "-") == 0 && strcmp(o->messages, "-") == 0) {
        cli_error("template: the template and the messages cannot both come from stdin");
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static void inputs_free(inputs *in) {
    json_decref(in->doc);
    ts_tmpl_value_free(in->messages);
    ts_tmpl_value_free(in->tools);
    ts_tmpl_value_free(in->extra);
    free(in->src);
}

static int render(const template_opts *o, const inputs *in) {
    ts_chat_params p = ts_chat_default_params();
    p.messages = in->messages;
    p.tools = in->tools;
    p.add_generation_prompt = !o->no_gen_prompt;
    p.extra = in->extra;
    p.render.has_now = o->has_date;
    p.render.now = o->date;
    char *out = NULL;
    size_t len = 0;
    ts_status st = ts_chat_template_apply(in->chatml ? NULL : in->src, in->chatml ? 0 : in->src_len,
                                          &p, &out, &len);
    if (st != TS_OK) return cli_lib_error(st);
    int rc = write_prompt(out, len);
    free(out);
    return rc;
}

int cmd_template(int argc, char **argv) {
    template_opts o = {0};
    switch (parse_args(argc, argv, &o)) {
    case PARSE_HELP:
        template_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD:
        template_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    inputs in = {0};
    int rc = CLI_EXIT_OK;
    if (o.template) rc = cli_read_file("template", o.template, &in.src, &in.src_len);
    if (rc == CLI_EXIT_OK && o.model) rc = load_model(&o, &in);
    if (rc == CLI_EXIT_OK) rc = load_messages(o.messages, &in);
    if (rc == CLI_EXIT_OK) rc = load_vars(&o, &in);
    if (rc == CLI_EXIT_OK) rc = render(&o, &in);
    inputs_free(&in);
    return rc;
}
