/*
 * chat.c — chat templates for models: the template a GGUF file carries
 * (tokenizer.chat_template) or ChatML when it has none, the render context
 * transformers' apply_chat_template builds, and a one-call render.
 */
#include "text/jinja-impl.h"

#include <string.h>

/* ChatML, as llama.cpp formats it; list-valued content renders its text
 * parts. */
static const char chatml[] = "{%- for message in messages -%}\n"
                             "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
                             "{%- if message['content'] is string -%}\n"
                             "{{- message['content'] -}}\n"
                             "{%- else -%}\n"
                             "{%- for part in message['content'] if part['type'] == 'text' -%}\n"
                             "{{- part['text'] -}}\n"
                             "{%- endfor -%}\n"
                             "{%- endif -%}\n"
                             "{{- '<|im_end|>\\n' -}}\n"
                             "{%- endfor -%}\n"
                             "{%- if add_generation_prompt -%}\n"
                             "{{- '<|im_start|>assistant\\n' -}}\n"
                             "{%- endif -%}\n";

const char *ts_chat_template_chatml(void) { return chatml; }

ts_status ts_chat_template_source(const ts_gguf *g, ts_str *src, bool *is_chatml) {
    ts_status st = ts_gguf_get_str(g, "tokenizer.chat_template", src);
    if (is_chatml) *is_chatml = st == TS_ERR_NOT_FOUND;
    if (st == TS_ERR_NOT_FOUND) {
        ts_log(TS_LOG_WARN, "model has no chat template (tokenizer.chat_template); using ChatML");
        *src = (ts_str){chatml, sizeof chatml - 1};
        return TS_OK;
    }
    return st;
}

ts_chat_params ts_chat_default_params(void) {
    return (ts_chat_params){.render = ts_template_default_params()};
}

static bool put(jv *d, const char *key, jv *v) { return jv_dict_put(d, key, strlen(key), v); }

static ts_status bad(jv *d, const char *what) {
    jv_unref(d);
    return ts_error(TS_ERR_INVALID_ARG, "chat template: %s", what);
}

ts_status ts_chat_context_new(const ts_chat_params *p, ts_tmpl_value **out) {
    *out = NULL;
    jv *d = jv_dict();
    if (!d) return ts_error(TS_ERR_NOMEM, "chat template: out of memory");
    if (!p || !p->messages || !jv_is_list(p->messages)) return bad(d, "messages must be a list");
    if (p->tools && !jv_is_list(p->tools)) return bad(d, "tools must be a list");
    if (p->extra && !jv_is_dict(p->extra)) return bad(d, "extra variables must be a dict");
    bool ok = put(d, "messages", jv_ref(p->messages)) &&
              put(d, "tools", jv_ref(p->tools ? p->tools : jv_none())) &&
              put(d, "documents", jv_none()) &&
              put(d, "add_generation_prompt", jv_bool(p->add_generation_prompt)) &&
              (!p->bos_token || put(d, "bos_token", jv_str(p->bos_token, strlen(p->bos_token)))) &&
              (!p->eos_token || put(d, "eos_token", jv_str(p->eos_token, strlen(p->eos_token))));
    for (size_t i = 0; ok && p->extra && i < p->extra->u.dict.n; i++) {
        const jv *k = p->extra->u.dict.keys[i];
        ok = jv_dict_put(d, k->u.s.p, k->u.s.n, jv_ref(p->extra->u.dict.vals[i]));
    }
    if (!ok) {
        jv_unref(d);
        return ts_error(TS_ERR_NOMEM, "chat template: out of memory");
    }
    *out = d;
    return TS_OK;
}

ts_status ts_chat_template_apply(const char *src, size_t len, const ts_chat_params *p, char **out,
                                 size_t *len_out) {
    *out = NULL;
    if (len_out) *len_out = 0;
    if (!src) {
        ts_log(TS_LOG_INFO, "no chat template given; using ChatML");
        src = chatml;
        len = sizeof chatml - 1;
    }
    ts_tmpl_value *ctx;
    ts_status st = ts_chat_context_new(p, &ctx);
    if (st != TS_OK) return st;
    ts_template *t;
    st = ts_template_parse(src, len, &t);
    if (st == TS_OK) st = ts_template_render(t, ctx, &p->render, out, len_out);
    ts_template_free(t);
    ts_tmpl_value_free(ctx);
    return st;
}
