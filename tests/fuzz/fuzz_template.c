/*
 * fuzz_template.c — libFuzzer entry for the chat-template interpreter.
 *
 * The input is template source. It is parsed; when the parser accepts it,
 * it is rendered twice with a fixed small chat context (a system, a user
 * with list-valued content, an assistant with a tool call; one tool;
 * BOS/EOS; a fixed date) under tight limits, so that a template that loops,
 * recurses or grows without end is stopped quickly. Promises checked
 * (a broken one aborts, which libFuzzer reports as a crash):
 *   - a failure has a status code of its kind (parse: FORMAT, INVALID_ARG,
 *     NOMEM; render: INVALID_ARG, UNSUPPORTED, NOMEM) and a message;
 *   - a success gives a NUL-terminated string no longer than max_output;
 *   - rendering is deterministic: both renders agree byte for byte.
 * The corpus (tests/corpus/template/{seed,bad}, made by make_corpus.py
 * there, plus the real templates of tests/data/templates) is replayed by
 * ctest as fuzz_template_corpus.
 */
#include "tessera/template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUTPUT (64u << 10) /* tight limits: every input ends fast */
#define MAX_STEPS  200000u
#define MAX_DEPTH  128u
#define FIXED_NOW  INT64_C(1741132800) /* 2025-03-05 00:00:00 UTC */

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_template: %s:%d: broken promise: %s\n", __FILE__, __LINE__, #x); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------- context */

static ts_tmpl_value *message(const char *role, ts_tmpl_value *content) {
    ts_tmpl_value *m = ts_tmpl_value_dict();
    CHECK(m && ts_tmpl_dict_set_cstr(m, "role", ts_tmpl_value_cstr(role)) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(m, "content", content) == TS_OK);
    return m;
}

static ts_tmpl_value *text_part(const char *text) {
    ts_tmpl_value *p = ts_tmpl_value_dict();
    CHECK(p && ts_tmpl_dict_set_cstr(p, "type", ts_tmpl_value_cstr("text")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(p, "text", ts_tmpl_value_cstr(text)) == TS_OK);
    return p;
}

/* {"name": "get_weather", "arguments": {"city": "Paris"}} under "function". */
static ts_tmpl_value *function(void) {
    ts_tmpl_value *args = ts_tmpl_value_dict(), *fn = ts_tmpl_value_dict();
    CHECK(args && fn);
    CHECK(ts_tmpl_dict_set_cstr(args, "city", ts_tmpl_value_cstr("Paris")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(fn, "name", ts_tmpl_value_cstr("get_weather")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(fn, "arguments", args) == TS_OK);
    ts_tmpl_value *call = ts_tmpl_value_dict();
    CHECK(call && ts_tmpl_dict_set_cstr(call, "type", ts_tmpl_value_cstr("function")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(call, "id", ts_tmpl_value_cstr("call12345")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(call, "function", fn) == TS_OK);
    return call;
}

static ts_tmpl_value *make_messages(void) {
    ts_tmpl_value *msgs = ts_tmpl_value_list(), *parts = ts_tmpl_value_list();
    CHECK(msgs && parts);
    CHECK(ts_tmpl_list_append(parts, text_part("Describe Paris")) == TS_OK);
    CHECK(ts_tmpl_list_append(parts, text_part(" in 3 words \xF0\x9F\x8C\x8D")) == TS_OK);
    CHECK(ts_tmpl_list_append(msgs, message("system", ts_tmpl_value_cstr("Be brief."))) == TS_OK);
    CHECK(ts_tmpl_list_append(msgs, message("user", parts)) == TS_OK);
    ts_tmpl_value *a = message("assistant", ts_tmpl_value_cstr("<think>\nhm\n</think>\n\nOK"));
    ts_tmpl_value *calls = ts_tmpl_value_list();
    CHECK(calls && ts_tmpl_list_append(calls, function()) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(a, "tool_calls", calls) == TS_OK);
    CHECK(ts_tmpl_list_append(msgs, a) == TS_OK);
    CHECK(ts_tmpl_list_append(msgs, message("user", ts_tmpl_value_cstr("And now?"))) == TS_OK);
    return msgs;
}

static ts_tmpl_value *make_tools(void) {
    ts_tmpl_value *tools = ts_tmpl_value_list(), *tool = ts_tmpl_value_dict();
    ts_tmpl_value *fn = ts_tmpl_value_dict();
    CHECK(tools && tool && fn);
    CHECK(ts_tmpl_dict_set_cstr(fn, "name", ts_tmpl_value_cstr("get_weather")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(fn, "description", ts_tmpl_value_cstr("Weather \"now\"")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(fn, "parameters", ts_tmpl_value_dict()) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(tool, "type", ts_tmpl_value_cstr("function")) == TS_OK);
    CHECK(ts_tmpl_dict_set_cstr(tool, "function", fn) == TS_OK);
    CHECK(ts_tmpl_list_append(tools, tool) == TS_OK);
    return tools;
}

/* The context, built once (values are read-only during renders). */
static const ts_tmpl_value *context(void) {
    static ts_tmpl_value *ctx;
    if (ctx) return ctx;
    ts_tmpl_value *msgs = make_messages(), *tools = make_tools(), *extra = ts_tmpl_value_dict();
    CHECK(extra &&
          ts_tmpl_dict_set_cstr(extra, "enable_thinking", ts_tmpl_value_bool(false)) == TS_OK);
    ts_chat_params p = ts_chat_default_params();
    p.messages = msgs;
    p.tools = tools;
    p.add_generation_prompt = true;
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    p.extra = extra;
    CHECK(ts_chat_context_new(&p, &ctx) == TS_OK && ctx != NULL);
    ts_tmpl_value_free(msgs); /* the context holds its own references */
    ts_tmpl_value_free(tools);
    ts_tmpl_value_free(extra);
    return ctx;
}

/* ------------------------------------------------------------------ entry */

static void check_failure(ts_status st, bool parsing) {
    if (parsing)
        CHECK(st == TS_ERR_FORMAT || st == TS_ERR_INVALID_ARG || st == TS_ERR_NOMEM);
    else
        CHECK(st == TS_ERR_INVALID_ARG || st == TS_ERR_UNSUPPORTED || st == TS_ERR_NOMEM);
    CHECK(ts_last_error()[0] != '\0'); /* every failure says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ts_template *t = NULL;
    ts_status st = ts_template_parse((const char *)data, size, &t);
    if (st != TS_OK) {
        CHECK(t == NULL);
        check_failure(st, true);
        return 0;
    }
    CHECK(t != NULL);
    ts_template_params params = ts_template_default_params();
    params.max_output = MAX_OUTPUT;
    params.max_steps = MAX_STEPS;
    params.max_depth = MAX_DEPTH;
    params.has_now = true;
    params.now = FIXED_NOW;

    char *out[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    ts_status rs[2];
    for (int i = 0; i < 2; i++) {
        rs[i] = ts_template_render(t, context(), &params, &out[i], &len[i]);
        if (rs[i] != TS_OK) {
            CHECK(out[i] == NULL);
            check_failure(rs[i], false);
            continue;
        }
        CHECK(out[i] != NULL && len[i] <= MAX_OUTPUT && out[i][len[i]] == '\0');
    }
    if (rs[0] != TS_ERR_NOMEM && rs[1] != TS_ERR_NOMEM) {
        CHECK(rs[0] == rs[1]); /* deterministic */
        if (rs[0] == TS_OK) CHECK(len[0] == len[1] && memcmp(out[0], out[1], len[0]) == 0);
    }
    free(out[0]);
    free(out[1]);
    ts_template_free(t);
    return 0;
}
