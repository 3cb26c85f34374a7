/*
 * tessera/template.h — chat templates: a sandboxed interpreter for the
 * subset of Jinja2 that model chat templates use (tokenizer.chat_template
 * in GGUF files), rendering byte for byte what Hugging Face transformers
 * renders: jinja2's ImmutableSandboxedEnvironment with trim_blocks,
 * lstrip_blocks and the loopcontrols extension, tojson with
 * ensure_ascii=False, and the globals raise_exception(msg) and
 * strftime_now(fmt).
 *
 * The language: text, {{ expr }}, {% tag %}, {# comment #}, whitespace
 * control ({%- -%} {{- -}} {#- -#}, {%+ +%}); tags for/else (loop.*,
 * `for x in y if cond`, break, continue), if/elif/else, set (also
 * `set ns.attr = ...` on a namespace() and `{% set x %}...{% endset %}`),
 * macro and call blocks (defaults, keyword arguments, caller()), filter
 * blocks, with, print, raw, and transformers' {% generation %} (rendered
 * as its body); expressions with Python semantics (truthiness, 64-bit int
 * and float arithmetic, str() of values: True, None, 1.0, ['a']; `%`
 * formatting), slices, the `is` tests and jinja2's filters that templates
 * use. Strings are UTF-8; length, indexing and slicing count code points;
 * case mapping (upper, lower, title, capitalize) covers ASCII, Latin-1,
 * Latin Extended-A, Greek and Cyrillic (other letters are left as they
 * are). Not supported: extends/include/import/block (no files), recursive
 * loops, *args and **kwargs, integers beyond 64 bits (an error, where Python
 * would grow them).
 *
 * Sandbox, by construction: a template can reach only the values it is
 * given and a fixed whitelist of filters, tests, globals (range, namespace,
 * dict, raise_exception, strftime_now) and methods (str: startswith,
 * endswith, strip, lstrip, rstrip, split, rsplit, splitlines, replace,
 * upper, lower, title, capitalize, find, rfind, count, join, format,
 * removeprefix, removesuffix, isdigit, isalpha, isalnum, isspace, islower,
 * isupper; dict: items, keys, values, get; loop.cycle). There are no
 * Python objects behind values, no attribute lookup by reflection (a name
 * outside the whitelist, such as __class__, is Undefined), no file,
 * network, environment or clock access (strftime_now reads the clock only
 * when the caller gives no fixed time). Values are immutable apart from
 * namespace attributes, as in ImmutableSandboxedEnvironment. Output size,
 * evaluation steps and call depth are bounded by ts_template_params, so
 * every render ends.
 *
 * Status codes: TS_ERR_FORMAT — a syntax error ("template line 3, column
 * 14: expected 'endfor' ..."); TS_ERR_INVALID_ARG — the render failed:
 * raise_exception() (the message is the template's), a type error, an
 * unknown filter, an undefined value used where jinja2 raises; the message
 * names the template line and column; TS_ERR_UNSUPPORTED — a limit of
 * ts_template_params was exceeded (the message names it: "max_steps");
 * TS_ERR_NOMEM.
 *
 * Threads: a parsed ts_template is read-only and may be rendered by any
 * number of threads at once. Values are reference counted with atomic
 * counts; a value tree must not be modified while a render reads it.
 *
 * Library: libtessera_text.
 */
#ifndef TESSERA_TEMPLATE_H
#define TESSERA_TEMPLATE_H

#include "tessera/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- values */

/* The context of a render is a tree of these: none, bool, int, float,
 * string, list, dict (ordered, string keys; insertion order is kept, as in
 * Python 3.7+). */
typedef struct ts_tmpl_value ts_tmpl_value;

typedef enum ts_tmpl_kind {
    TS_TMPL_KIND_NONE,
    TS_TMPL_KIND_BOOL,
    TS_TMPL_KIND_INT,
    TS_TMPL_KIND_FLOAT,
    TS_TMPL_KIND_STRING,
    TS_TMPL_KIND_LIST,
    TS_TMPL_KIND_DICT,
    TS_TMPL_KIND_COUNT
} ts_tmpl_kind;

/* Constructors. Each returns a new value owned by the caller (free with
 * ts_tmpl_value_free, or hand it to a container, which then owns it), or
 * NULL when out of memory. Strings are copied; s may hold any bytes (UTF-8
 * expected) and may be NULL when len is 0. */
ts_tmpl_value *ts_tmpl_value_none(void);
ts_tmpl_value *ts_tmpl_value_bool(bool b);
ts_tmpl_value *ts_tmpl_value_int(int64_t i);
ts_tmpl_value *ts_tmpl_value_float(double f);
ts_tmpl_value *ts_tmpl_value_str(const char *s, size_t len);
ts_tmpl_value *ts_tmpl_value_cstr(const char *s); /* NUL-terminated */
ts_tmpl_value *ts_tmpl_value_list(void);          /* empty */
ts_tmpl_value *ts_tmpl_value_dict(void);          /* empty */

/* Free a value the caller owns (and, through the reference counts, what
 * only it holds); NULL is a no-op. */
void ts_tmpl_value_free(ts_tmpl_value *v);

/* Append `item` to `list`. The list takes ownership of item in every case
 * (on failure item is freed), so calls nest like
 * ts_tmpl_list_append(l, ts_tmpl_value_cstr("x")): a NULL item (a failed
 * constructor) gives TS_ERR_NOMEM. An item must be owned by one container
 * only (to put a value in two, build it twice), and containers must not
 * form a cycle. TS_ERR_INVALID_ARG when list is not a list, or is item
 * itself (then nothing is freed). */
ts_status ts_tmpl_list_append(ts_tmpl_value *list, ts_tmpl_value *item);

/* Set key[0..key_len) (any bytes, UTF-8 expected) to `val` in `dict`: a new
 * key goes last, an existing key keeps its place and gets the new value.
 * Ownership of val as in ts_tmpl_list_append. TS_ERR_INVALID_ARG when dict
 * is not a dict (or is val itself), or key is NULL with key_len > 0. */
ts_status ts_tmpl_dict_set(ts_tmpl_value *dict, const char *key, size_t key_len,
                           ts_tmpl_value *val);
/* The same with a NUL-terminated key. */
ts_status ts_tmpl_dict_set_cstr(ts_tmpl_value *dict, const char *key, ts_tmpl_value *val);

/* Reading values (for callers and tests). The getters assert that v has
 * the kind they read. Returned pointers are borrowed from v. */
ts_tmpl_kind ts_tmpl_value_kind(const ts_tmpl_value *v);
bool ts_tmpl_value_get_bool(const ts_tmpl_value *v);
int64_t ts_tmpl_value_get_int(const ts_tmpl_value *v);
double ts_tmpl_value_get_float(const ts_tmpl_value *v);
/* Bytes of a string (not NUL-terminated in general) and their count. */
const char *ts_tmpl_value_get_str(const ts_tmpl_value *v, size_t *len);
size_t ts_tmpl_list_len(const ts_tmpl_value *list);
const ts_tmpl_value *ts_tmpl_list_get(const ts_tmpl_value *list, size_t i); /* i < len */
size_t ts_tmpl_dict_len(const ts_tmpl_value *dict);
/* Entry i (< len) in insertion order: its key (and key length) and value. */
const char *ts_tmpl_dict_key(const ts_tmpl_value *dict, size_t i, size_t *key_len);
const ts_tmpl_value *ts_tmpl_dict_value(const ts_tmpl_value *dict, size_t i);
/* Value of key[0..key_len), or NULL when absent. */
const ts_tmpl_value *ts_tmpl_dict_get(const ts_tmpl_value *dict, const char *key, size_t key_len);

/* -------------------------------------------------------------- template */

typedef struct ts_template ts_template;

/* Parse template source src[0..len) (any bytes; NULs are text). On success
 * *out is a template the caller frees with ts_template_free. Returns
 * TS_ERR_FORMAT for a syntax error, with a message "template line L,
 * column C: ..." (1-based; columns count bytes), TS_ERR_INVALID_ARG for
 * a source over 2^31 bytes, TS_ERR_NOMEM. Nesting of tags and expressions
 * is bounded (TS_TEMPLATE_MAX_NESTING) so that parsing cannot exhaust the
 * stack. */
ts_status ts_template_parse(const char *src, size_t len, ts_template **out);
void ts_template_free(ts_template *t); /* NULL is a no-op */

#define TS_TEMPLATE_MAX_NESTING 256

/* Bounds and inputs of one render. Zero in a limit means "the default". */
typedef struct ts_template_params {
    size_t max_output;  /* bytes of output (default 16 MiB) */
    uint64_t max_steps; /* evaluation steps: each expression node, tag,
                         * loop iteration and value compared, and each
                         * 16 bytes (or list items) built, searched or
                         * printed count one (default 10 million; Qwen3's
                         * template takes under 200 thousand for a
                         * 1000-message conversation) */
    uint32_t max_depth; /* depth of recursive evaluation: nested
                         * blocks, expressions and macro calls, each
                         * counting one (default 1000; this also bounds
                         * the C stack a render uses) */
    /* strftime_now(fmt): when has_now, formats `now` (seconds since the
     * Unix epoch) as UTC — tests and golden files need a fixed date;
     * otherwise the current local time, as Python's datetime.now(). */
    bool has_now;
    int64_t now;
} ts_template_params;

/* The defaults (all limits at their defaults, the clock for strftime_now). */
ts_template_params ts_template_default_params(void);

/* Render t with `context` (a dict: its entries are the template's
 * variables, besides the globals range, namespace, dict, raise_exception
 * and strftime_now; borrowed, not modified). params NULL means the
 * defaults. On success *out is a malloc'd NUL-terminated string (the
 * output may itself hold NULs) of *len bytes; caller frees with free().
 * Failures: see the top of this file; *out is then NULL. */
ts_status ts_template_render(const ts_template *t, const ts_tmpl_value *context,
                             const ts_template_params *params, char **out, size_t *len);

/* ------------------------------------------------------------------ chat */

/* The ChatML template, used when a model has none:
 *   <|im_start|>{role}\n{content}<|im_end|>\n ... and, with
 *   add_generation_prompt, <|im_start|>assistant\n
 * Static, NUL-terminated. */
const char *ts_chat_template_chatml(void);

/* The chat template of a model: tokenizer.chat_template when the file has
 * one (*src borrowed from g; *is_chatml false), otherwise the ChatML
 * template with a WARN log saying so (*src static; *is_chatml true).
 * is_chatml may be NULL. TS_ERR_FORMAT when the key is not a string. */
ts_status ts_chat_template_source(const ts_gguf *g, ts_str *src, bool *is_chatml);

/* What a chat render is given. All pointers are borrowed. */
typedef struct ts_chat_params {
    const ts_tmpl_value *messages; /* list of dicts: role, content (a string,
                                    * or a list of parts such as
                                    * {"type": "text", "text": ...}), ... */
    const ts_tmpl_value *tools;    /* list, or NULL: `tools` is then none,
                                    * as transformers passes it */
    bool add_generation_prompt;
    const char *bos_token;      /* NULL: the variable is left undefined */
    const char *eos_token;      /* NULL: likewise */
    const ts_tmpl_value *extra; /* dict of more variables (they override
                                 * the ones above), or NULL */
    ts_template_params render;  /* limits and the fixed date */
} ts_chat_params;

/* Defaults: no messages, no tools, add_generation_prompt false, no tokens,
 * ts_template_default_params(). */
ts_chat_params ts_chat_default_params(void);

/* The render context transformers builds: messages, tools, documents
 * (none), add_generation_prompt, bos_token, eos_token, then the extra
 * variables. *out is a new dict the caller frees with ts_tmpl_value_free;
 * it holds references to p's values (reference counted: free p's values
 * and *out in any order; modify neither while the other is used).
 * TS_ERR_INVALID_ARG when messages is NULL or not a list, tools not a
 * list, extra not a dict. */
ts_status ts_chat_context_new(const ts_chat_params *p, ts_tmpl_value **out);

/* Parse src[0..len) and render it with the context of p. src NULL means
 * the ChatML template (logged at INFO). *out and *len as in
 * ts_template_render. Failures as ts_template_parse, ts_chat_context_new
 * and ts_template_render. A caller rendering one template many times
 * (a server) parses it once and calls ts_template_render with the context
 * from ts_chat_context_new instead. */
ts_status ts_chat_template_apply(const char *src, size_t len, const ts_chat_params *p, char **out,
                                 size_t *len_out);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_TEMPLATE_H */
