/*
 * vocab.c — the tokenizer vocabulary from GGUF metadata (tokenizer.ggml.*),
 * read as llama.cpp's llama_vocab::impl::load reads it:
 *
 *  - model "gpt2" is byte-level BPE, "llama" SentencePiece; the
 *    pre-tokenizer name (BPE only) sets ignore_merges, the add_bos default
 *    and clean_spaces; a missing one is "default";
 *  - tokens, scores and token types (arrays of n); an empty token text
 *    becomes "[EMPTY_i]"; a repeated text is an error;
 *  - special ids default per model (SPM: bos 1, eos 2, unk 0; BPE: 11, 11,
 *    none); a *_token_id key overrides them, one out of range is ignored
 *    with a warning, as llama.cpp does;
 *  - tokens are found by text for what the file leaves out: EOT, EOM and
 *    FIM ids, the end-of-generation set (<|im_end|>, <end_of_turn>, ...);
 *    such tokens gain the CONTROL attribute, as in llama.cpp.
 *
 * Where llama.cpp picks the first of several candidate tokens in hash-map
 * order (the EOT and FIM heuristics), we take the first in list order, so
 * that the choice is deterministic; EOG membership does not depend on it.
 *
 * Every value comes from an untrusted file: counts, lengths and ids are
 * checked before use; nothing here aborts on bad metadata.
 *
 * Legend: n = tokens.
 */
#include "text/text-impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================= helpers */

static ts_status get_str_opt(const ts_gguf *g, const char *key, ts_str *out, bool *found) {
    ts_status st = ts_gguf_get_str(g, key, out);
    *found = st == TS_OK;
    return st == TS_ERR_NOT_FOUND ? TS_OK : st;
}

/* bool key: *v unchanged when absent. */
static ts_status get_bool_opt(const ts_gguf *g, const char *key, bool *v) {
    ts_status st = ts_gguf_get_bool(g, key, v);
    return st == TS_ERR_NOT_FOUND ? TS_OK : st;
}

static bool str_is(ts_str s, const char *c) {
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static ts_token find_cstr(const ts_vocab *v, const char *text) {
    return ts_vocab_find(v, text, strlen(text));
}

/* ============================================================== tokens */

/* Insert token id into the text index; TS_ERR_FORMAT for a repeated text. */
static ts_status index_put(ts_vocab *v, ts_token id) {
    const char *t = ts_vocab_cstr(v, id);
    size_t n = v->len[id], i = (size_t)ts_hash_bytes(t, n) & (v->index_cap - 1);
    for (; v->index[i] != TS_TOKEN_NULL; i = (i + 1) & (v->index_cap - 1)) {
        ts_token o = v->index[i];
        if (v->len[o] == n && memcmp(ts_vocab_cstr(v, o), t, n) == 0)
            return ts_error(TS_ERR_FORMAT,
                            "tokenizer.ggml.tokens: token %d repeats the text "
                            "of token %d ('%.*s')",
                            (int)id, (int)o, (int)(n > 64 ? 64 : n), t);
    }
    v->index[i] = id;
    if (memchr(t, '\0', n) == NULL) { /* by_text holds C strings only */
        ts_status st = ts_strmap_put(&v->by_text, t, id, NULL);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* Copy the token texts into one pool. */
static ts_status load_texts(ts_vocab *v, const ts_gguf_value *toks) {
    uint64_t n = toks->v.arr.n, total = 0;
    const ts_str *s = toks->v.arr.strs;
    char empty[32];
    for (uint64_t i = 0; i < n; i++) {
        size_t len =
            s[i].len ? s[i].len
                     : (size_t)snprintf(empty, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
        if (len > INT32_MAX)
            return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.tokens[%llu]: text of %zu bytes",
                            (unsigned long long)i, len);
        if (!ts_add_u64(total, (uint64_t)len + 1, &total) || total > UINT32_MAX)
            return ts_error(TS_ERR_FORMAT,
                            "tokenizer.ggml.tokens at offset %llu: texts total "
                            "over 4 GiB",
                            (unsigned long long)toks->offset);
    }
    v->pool = malloc(total);
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    if (!v->pool || !v->off || !v->len)
        return ts_error(TS_ERR_NOMEM, "out of memory for %llu tokens", (unsigned long long)n);
    uint32_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        v->off[i] = o;
        if (s[i].len == 0) {
            ts_log(TS_LOG_WARN, "tokenizer: empty token at index %llu", (unsigned long long)i);
            v->len[i] =
                (uint32_t)snprintf(v->pool + o, total - o, "[EMPTY_%llu]", (unsigned long long)i);
        } else {
            memcpy(v->pool + o, s[i].ptr, s[i].len);
            v->len[i] = (uint32_t)s[i].len;
        }
        if (v->len[i] > (uint32_t)v->max_token_len) v->max_token_len = (int32_t)v->len[i];
        o += v->len[i];
        v->pool[o++] = '\0';
    }
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    v->index = malloc(cap * sizeof *v->index);
    if (!v->index)
        return ts_error(TS_ERR_NOMEM, "out of memory for %llu tokens", (unsigned long long)n);
    v->index_cap = cap;
    for (size_t i = 0; i < cap; i++) v->index[i] = TS_TOKEN_NULL;
    for (uint64_t i = 0; i < n; i++) {
        ts_status st = index_put(v, (ts_token)i);
        if (st != TS_OK) return st;
    }
    return TS_OK;
}

/* An optional per-token array of exactly n elements of one of two types. */
static ts_status get_token_arr(const ts_gguf *g, const char *key, ts_gguf_type t1, ts_gguf_type t2,
                               int64_t n, const ts_gguf_value **out) {
    *out = NULL;
    int64_t k = ts_gguf_find_kv(g, key);
    if (k < 0) return TS_OK;
    const ts_gguf_value *a = ts_gguf_kv_value(g, k);
    if (a->type != TS_GGUF_TYPE_ARRAY || (a->v.arr.elem != t1 && a->v.arr.elem != t2))
        return ts_error(TS_ERR_FORMAT,
                        "key '%s' at offset %llu has type %s, expected an array "
                        "of %s",
                        key, (unsigned long long)a->offset,
                        a->type == TS_GGUF_TYPE_ARRAY ? ts_gguf_type_name(a->v.arr.elem)
                                                      : ts_gguf_type_name(a->type),
                        ts_gguf_type_name(t1));
    if (a->v.arr.n != (uint64_t)n)
        return ts_error(TS_ERR_FORMAT,
                        "key '%s' at offset %llu has %llu elements for %lld "
                        "tokens",
                        key, (unsigned long long)a->offset, (unsigned long long)a->v.arr.n,
                        (long long)n);
    *out = a;
    return TS_OK;
}

static uint16_t attr_of_type(int32_t t) {
    switch (t) {
    case TS_TOKEN_TYPE_UNKNOWN:
        return TS_ATTR_UNKNOWN;
    case TS_TOKEN_TYPE_UNUSED:
        return TS_ATTR_UNUSED;
    case TS_TOKEN_TYPE_NORMAL:
        return TS_ATTR_NORMAL;
    case TS_TOKEN_TYPE_CONTROL:
        return TS_ATTR_CONTROL;
    case TS_TOKEN_TYPE_USER_DEFINED:
        return TS_ATTR_USER_DEFINED;
    case TS_TOKEN_TYPE_BYTE:
        return TS_ATTR_BYTE;
    default:
        return TS_ATTR_UNDEFINED;
    }
}

static ts_status load_tokens(ts_vocab *v, const ts_gguf *g) {
    const ts_gguf_value *toks;
    ts_status st = ts_gguf_get_arr(g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_STRING, &toks);
    if (st == TS_ERR_NOT_FOUND)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.model is set but tokenizer.ggml.tokens "
                                       "is missing");
    if (st != TS_OK) return st;
    if (toks->v.arr.n == 0 || toks->v.arr.n >= INT32_MAX)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.tokens at offset %llu: %llu tokens",
                        (unsigned long long)toks->offset, (unsigned long long)toks->v.arr.n);
    int64_t n = (int64_t)toks->v.arr.n;
    v->n_tokens = (int32_t)n;
    if ((st = load_texts(v, toks)) != TS_OK) return st;

    const ts_gguf_value *sc, *ty;
    st =
        get_token_arr(g, "tokenizer.ggml.scores", TS_GGUF_TYPE_FLOAT32, TS_GGUF_TYPE_INT32, n, &sc);
    if (st == TS_OK)
        st = get_token_arr(g, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, TS_GGUF_TYPE_INT32,
                           n, &ty);
    if (st != TS_OK) return st;
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = malloc((size_t)n);
    v->attr = malloc((size_t)n * sizeof *v->attr);
    if (!v->score || !v->type || !v->attr)
        return ts_error(TS_ERR_NOMEM, "out of memory for %lld tokens", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (sc && sc->v.arr.elem == TS_GGUF_TYPE_FLOAT32)
            v->score[i] = ((const float *)sc->v.arr.data)[i];
        else if (sc)
            v->score[i] = (float)((const int32_t *)sc->v.arr.data)[i];
        int32_t t = ty ? ((const int32_t *)ty->v.arr.data)[i] : TS_TOKEN_TYPE_NORMAL;
        v->attr[i] = attr_of_type(t);
        v->type[i] = (uint8_t)(t > 0 && t < TS_TOKEN_TYPE_COUNT ? t : TS_TOKEN_TYPE_UNDEFINED);
    }
    return TS_OK;
}

/* ======================================================== model and pre */

static ts_status load_model(ts_vocab *v, const ts_gguf *g) {
    ts_str model;
    ts_status st = ts_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (st == TS_ERR_NOT_FOUND)
        return ts_error(TS_ERR_NOT_FOUND, "the file has no tokenizer (no tokenizer.ggml.model)");
    if (st != TS_OK) return st;
    if (str_is(model, "gpt2"))
        v->kind = TS_VOCAB_BPE;
    else if (str_is(model, "llama"))
        v->kind = TS_VOCAB_SPM;
    else
        return ts_error(TS_ERR_UNSUPPORTED,
                        "tokenizer.ggml.model '%.*s' is not supported "
                        "(known: gpt2, llama)",
                        (int)(model.len > 64 ? 64 : model.len), model.ptr);
    return TS_OK;
}

/* BPE: the pre-tokenizer and the defaults it implies. */
static ts_status load_pre(ts_vocab *v, const ts_gguf *g) {
    v->pre = -1;
    if (v->kind != TS_VOCAB_BPE) return TS_OK; /* llama.cpp ignores it for SPM */
    ts_str pre;
    bool found;
    ts_status st = get_str_opt(g, "tokenizer.ggml.pre", &pre, &found);
    if (st != TS_OK) return st;
    if (!found || pre.len == 0) { /* llama.cpp treats an empty name as missing */
        ts_log(TS_LOG_WARN, "tokenizer: tokenizer.ggml.pre is missing, using 'default' (token "
                            "ids may differ from the model's training)");
        v->pre = ts_pretok_find("default");
    } else {
        char name[64];
        if (pre.len < sizeof name && !memchr(pre.ptr, '\0', pre.len)) {
            memcpy(name, pre.ptr, pre.len);
            name[pre.len] = '\0';
            v->pre = ts_pretok_find(name);
        }
        if (v->pre < 0 && memchr(pre.ptr, '\0', pre.len))
            return ts_error(TS_ERR_UNSUPPORTED, "tokenizer.ggml.pre contains a NUL byte");
        if (v->pre < 0) {
            char known[1024];
            ts_pretok_known(known, sizeof known);
            return ts_error(TS_ERR_UNSUPPORTED,
                            "tokenizer.ggml.pre '%.*s' is not supported "
                            "(known: %s)",
                            (int)(pre.len > 64 ? 64 : pre.len), pre.ptr, known);
        }
    }
    TS_ASSERT(v->pre >= 0);
    const ts_pretok_opts *o = ts_pretok_opts_of(v->pre);
    v->ignore_merges = o->ignore_merges;
    v->clean_spaces = o->clean_spaces;
    v->add_bos = o->add_bos;
    if (o->no_bos) v->bos = TS_TOKEN_NULL;
    return TS_OK;
}

/* ======================================================== special ids */

static ts_status load_special_ids(ts_vocab *v, const ts_gguf *g) {
    const struct {
        const char *key;
        ts_token *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &v->bos},
        {"tokenizer.ggml.eos_token_id", &v->eos},
        {"tokenizer.ggml.eot_token_id", &v->eot},
        {"tokenizer.ggml.eom_token_id", &v->eom},
        {"tokenizer.ggml.unknown_token_id", &v->unk},
        {"tokenizer.ggml.seperator_token_id", &v->sep},
        {"tokenizer.ggml.padding_token_id", &v->pad},
        {"tokenizer.ggml.mask_token_id", &v->mask},
        {"tokenizer.ggml.fim_pre_token_id", &v->fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &v->fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &v->fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &v->fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &v->fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &v->fim_sep},
        {"tokenizer.ggml.prefix_token_id", &v->fim_pre}, /* deprecated names */
        {"tokenizer.ggml.suffix_token_id", &v->fim_suf},
        {"tokenizer.ggml.middle_token_id", &v->fim_mid},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ts_token *id = keys[i].id;
        if (*id != TS_TOKEN_NULL && *id >= v->n_tokens) {
            ts_log(TS_LOG_WARN, "tokenizer: default %s = %d is out of range, none", keys[i].key,
                   (int)*id);
            *id = TS_TOKEN_NULL;
        }
        uint32_t u;
        ts_status st = ts_gguf_get_u32(g, keys[i].key, &u);
        if (st == TS_ERR_NOT_FOUND) continue;
        if (st != TS_OK) return st;
        if (u >= (uint32_t)v->n_tokens)
            ts_log(TS_LOG_WARN, "tokenizer: %s = %u is out of range (%d tokens), keeping %d",
                   keys[i].key, u, (int)v->n_tokens, (int)*id);
        else
            *id = (ts_token)u;
    }
    return TS_OK;
}

static ts_status load_flags(ts_vocab *v, const ts_gguf *g) {
    ts_status st = get_bool_opt(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    if (st == TS_OK) st = get_bool_opt(g, "tokenizer.ggml.add_eos_token", &v->add_eos);
    if (st == TS_OK) st = get_bool_opt(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
    if (st != TS_OK) return st;
    if (v->add_bos && v->bos == TS_TOKEN_NULL)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.add_bos_token is true, but "
                                       "tokenizer.ggml.bos_token_id is not set");
    if (v->add_eos && v->eos == TS_TOKEN_NULL)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.add_eos_token is true, but "
                                       "tokenizer.ggml.eos_token_id is not set");
    return TS_OK;
}

/* ========================================================= heuristics */

static void mark_control(ts_vocab *v, ts_token id) {
    if (v->attr[id] & TS_ATTR_CONTROL) return;
    ts_log(TS_LOG_DEBUG, "tokenizer: control-looking token %d '%s' was not control-type", (int)id,
           ts_vocab_cstr(v, id));
    v->attr[id] |= TS_ATTR_CONTROL;
}

/* *id = the first token found of `texts` (NULL-terminated), when *id is
 * none yet; it becomes a control token. */
static void find_first(ts_vocab *v, ts_token *id, const char *const *texts) {
    if (*id != TS_TOKEN_NULL) return;
    for (; *texts; texts++) {
        ts_token t = find_cstr(v, *texts);
        if (t == TS_TOKEN_NULL) continue;
        *id = t;
        mark_control(v, t);
        return;
    }
}

static void find_by_text(ts_vocab *v) {
    static const char *const eot[] = {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|end_of_text|>",
        "<EOT>",
        "_<EOT>",
        "[EOT]",
        "<\xEF\xBD\x9C"
        "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", /* <｜end▁of▁sentence｜> */
        "<end_of_utterance>",
        NULL};
    static const char *const eom[] = {"<|eom_id|>", NULL};
    static const char *const fim_pre[] = {"<|fim_prefix|>",
                                          "<fim-prefix>",
                                          "<fim_prefix>",
                                          "<\xEF\xBD\x9C"
                                          "fim\xE2\x96\x81"
                                          "begin\xEF\xBD\x9C>",
                                          "<PRE>",
                                          "\xE2\x96\x81<PRE>",
                                          "<|code_prefix|>",
                                          "<|prefix|>",
                                          NULL};
    static const char *const fim_suf[] = {"<|fim_suffix|>",
                                          "<fim-suffix>",
                                          "<fim_suffix>",
                                          "<\xEF\xBD\x9C"
                                          "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
                                          "<SUF>",
                                          "\xE2\x96\x81<SUF>",
                                          "<|code_suffix|>",
                                          "<|suffix|>",
                                          NULL};
    static const char *const fim_mid[] = {"<|fim_middle|>",
                                          "<fim-middle>",
                                          "<fim_middle>",
                                          "<\xEF\xBD\x9C"
                                          "fim\xE2\x96\x81"
                                          "end\xEF\xBD\x9C>",
                                          "<MID>",
                                          "\xE2\x96\x81<MID>",
                                          "<|code_middle|>",
                                          "<|middle|>",
                                          NULL};
    static const char *const fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                                          "<PAD>",       "[PAD]",     NULL};
    static const char *const fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                          "<REPO>",       "<reponame>",    NULL};
    static const char *const fim_sep[] = {"<|file_sep|>", NULL};
    find_first(v, &v->eot, eot);
    find_first(v, &v->eom, eom);
    find_first(v, &v->fim_pre, fim_pre);
    find_first(v, &v->fim_suf, fim_suf);
    find_first(v, &v->fim_mid, fim_mid);
    find_first(v, &v->fim_pad, fim_pad);
    find_first(v, &v->fim_rep, fim_rep);
    find_first(v, &v->fim_sep, fim_sep);
    /* control tokens named "unused" are unused (strstr: up to a NUL, as llama.cpp) */
    for (int32_t i = 0; i < v->n_tokens; i++)
        if ((v->attr[i] & TS_ATTR_CONTROL) && strstr(ts_vocab_cstr(v, i), "unused"))
            v->attr[i] |= TS_ATTR_UNUSED;
}

/* ================================================================= EOG */

static bool eog_has(const ts_vocab *v, ts_token id) {
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

static void eog_add(ts_vocab *v, ts_token id) {
    if (id == TS_TOKEN_NULL || eog_has(v, id)) return;
    v->eog[v->n_eog++] = id; /* capacity: every candidate below, see build_eog */
}

static void eog_remove(ts_vocab *v, ts_token id) {
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) v->eog[i] = v->eog[--v->n_eog];
}

static bool eog_has_text(const ts_vocab *v, const char *text, ts_token *id) {
    ts_token t = find_cstr(v, text);
    if (id) *id = t;
    return t != TS_TOKEN_NULL && eog_has(v, t);
}

static int cmp_token(const void *a, const void *b) {
    ts_token x = *(const ts_token *)a, y = *(const ts_token *)b;
    return (x > y) - (x < y);
}

static ts_status build_eog(ts_vocab *v) {
    static const char *const texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "</s>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        "<\xEF\xBD\x9C"
                                        "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                        "[e~[",
                                        NULL};
    enum { N_TEXTS = sizeof texts / sizeof texts[0] - 1 };
    v->eog = malloc((N_TEXTS + 6) * sizeof *v->eog);
    if (!v->eog) return ts_error(TS_ERR_NOMEM, "out of memory");
    eog_add(v, v->fim_pad);
    eog_add(v, v->fim_rep);
    eog_add(v, v->fim_sep);
    for (int i = 0; i < N_TEXTS; i++) {
        ts_token t = find_cstr(v, texts[i]);
        if (t == TS_TOKEN_NULL) continue;
        eog_add(v, t);
        mark_control(v, t);
    }
    /* gpt-oss: always rendered */
    static const char *const user[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>",
                                       NULL};
    for (int i = 0; user[i]; i++) {
        ts_token t = find_cstr(v, user[i]);
        if (t != TS_TOKEN_NULL) v->attr[t] = TS_ATTR_USER_DEFINED;
    }
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);
    /* o200k_harmony, solar-open: <|end|> is not the end there */
    ts_token end;
    bool has_call = eog_has_text(v, "<|call|>", NULL) || eog_has_text(v, "<|calls|>", NULL);
    if (eog_has_text(v, "<|end|>", &end) && has_call &&
        (eog_has_text(v, "<|return|>", NULL) || eog_has_text(v, "<|flush|>", NULL))) {
        eog_remove(v, end);
        v->attr[end] = TS_ATTR_USER_DEFINED;
    }
    /* gemma4, paddleocr: </s> is not the end there */
    ts_token s;
    if (eog_has_text(v, "<|tool_response>", NULL) && eog_has_text(v, "</s>", &s)) {
        eog_remove(v, s);
        v->attr[s] = TS_ATTR_NORMAL;
    }
    qsort(v->eog, (size_t)v->n_eog, sizeof *v->eog, cmp_token);
    return TS_OK;
}

/* ====================================================== special list */

typedef struct special_key {
    uint32_t len;
    ts_token id;
} special_key;

static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; /* longest first */
    return (x->id > y->id) - (x->id < y->id);
}

/* Tokens matched as wholes by the partition, longest text first (ties by
 * id: llama.cpp's std::sort leaves them in an unspecified order). */
static ts_status build_special(ts_vocab *v) {
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (TS_ATTR_CONTROL | TS_ATTR_USER_DEFINED | TS_ATTR_UNKNOWN)) n++;
    special_key *keys = malloc((n ? (size_t)n : 1) * sizeof *keys);
    v->special = malloc((n ? (size_t)n : 1) * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return ts_error(TS_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0, k = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (TS_ATTR_CONTROL | TS_ATTR_USER_DEFINED | TS_ATTR_UNKNOWN))
            keys[k++] = (special_key){v->len[i], i};
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    for (int32_t i = 0; i < n; i++) v->special[i] = keys[i].id;
    v->n_special = n;
    free(keys);
    return TS_OK;
}

/* llama.cpp's per-model attributes (by general.name / tokenizer.ggml.pre). */
static ts_status model_attrs(ts_vocab *v, const ts_gguf *g) {
    ts_str name = {"", 0};
    bool found;
    ts_status st = get_str_opt(g, "general.name", &name, &found);
    if (st != TS_OK) return st;
    char lower[256];
    size_t n = name.len < sizeof lower - 1 ? name.len : sizeof lower - 1;
    for (size_t i = 0; i < n; i++) lower[i] = (char)tolower((unsigned char)name.ptr[i]);
    lower[n] = '\0';
    const char *pre = v->pre >= 0 ? ts_pretok_name(v->pre) : "";
    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es")) {
        ts_token t = find_cstr(v, "<mask>");
        if (t != TS_TOKEN_NULL) v->attr[t] |= TS_ATTR_LSTRIP;
    } else if (strstr(lower, "phi-3") || strstr(lower, "phi3")) {
        for (int32_t i = 0; i < v->n_special; i++) v->attr[v->special[i]] |= TS_ATTR_RSTRIP;
        ts_token t = find_cstr(v, "</s>");
        if (t != TS_TOKEN_NULL) v->attr[t] |= TS_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++)
            if ((t = find_cstr(v, keep[i])) != TS_TOKEN_NULL) v->attr[t] &= ~TS_ATTR_RSTRIP;
    } else if (strstr(lower, "modern-bert")) {
        ts_token t = find_cstr(v, "[MASK]");
        if (t != TS_TOKEN_NULL) v->attr[t] |= TS_ATTR_LSTRIP;
    }
    return TS_OK;
}

/* ===================================================== newline token */

static ts_status find_newline(ts_vocab *v) {
    if (v->kind == TS_VOCAB_SPM) {
        v->nl = find_cstr(v, "<0x0A>");
        if (v->nl == TS_TOKEN_NULL) v->nl = find_cstr(v, "\n");
        if (v->nl == TS_TOKEN_NULL) v->nl = v->pad;
        return TS_OK;
    }
    /* BPE: the first token of "\n" (llama.cpp tokenizes it before any
     * special token is known, so no partition) */
    ts_tokbuf b = {0};
    ts_status st = ts_bpe_tokenize(v, "\n", 1, &b);
    v->nl = st == TS_OK && b.n > 0 ? b.ids[0] : v->pad;
    free(b.ids);
    return st;
}

/* ================================================================ public */

ts_token ts_vocab_find(const ts_vocab *v, const char *text, size_t len) {
    if (len == 0 || len > (size_t)v->max_token_len || !v->index) return TS_TOKEN_NULL;
    size_t i = (size_t)ts_hash_bytes(text, len) & (v->index_cap - 1);
    for (; v->index[i] != TS_TOKEN_NULL; i = (i + 1) & (v->index_cap - 1)) {
        ts_token t = v->index[i];
        if (v->len[t] == len && memcmp(ts_vocab_cstr(v, t), text, len) == 0) return t;
    }
    return TS_TOKEN_NULL;
}

static ts_status load_all(ts_vocab *v, const ts_gguf *g) {
    ts_status st = load_model(v, g);
    if (st != TS_OK) return st;
    bool spm = v->kind == TS_VOCAB_SPM;
    v->bos = spm ? 1 : 11;
    v->eos = spm ? 2 : 11;
    v->unk = spm ? 0 : TS_TOKEN_NULL;
    v->add_bos = spm;
    v->add_space_prefix = spm;
    if ((st = load_pre(v, g)) != TS_OK) return st;
    if ((st = load_tokens(v, g)) != TS_OK) return st;
    if (v->kind == TS_VOCAB_BPE) {
        const ts_gguf_value *m;
        st = ts_gguf_get_arr(g, "tokenizer.ggml.merges", TS_GGUF_TYPE_STRING, &m);
        if (st == TS_ERR_NOT_FOUND)
            return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.model is gpt2 but "
                                           "tokenizer.ggml.merges is missing");
        if (st == TS_OK) st = ts_bpe_build(v, m->v.arr.strs, m->v.arr.n);
        if (st != TS_OK) return st;
    }
    if ((st = find_newline(v)) != TS_OK) return st;
    if ((st = load_special_ids(v, g)) != TS_OK) return st;
    if ((st = load_flags(v, g)) != TS_OK) return st;
    find_by_text(v);
    if ((st = build_eog(v)) != TS_OK) return st;
    if ((st = build_special(v)) != TS_OK) return st;
    return model_attrs(v, g);
}

ts_status ts_vocab_load(const ts_gguf *g, ts_vocab **out) {
    *out = NULL;
    ts_vocab *v = calloc(1, sizeof *v);
    if (!v) return ts_error(TS_ERR_NOMEM, "out of memory");
    v->eot = v->eom = v->pad = v->nl = v->sep = v->mask = TS_TOKEN_NULL;
    v->fim_pre = v->fim_suf = v->fim_mid = TS_TOKEN_NULL;
    v->fim_pad = v->fim_rep = v->fim_sep = TS_TOKEN_NULL;
    ts_status st = load_all(v, g);
    if (st != TS_OK) {
        ts_vocab_free(v);
        return st;
    }
    *out = v;
    return TS_OK;
}

void ts_vocab_free(ts_vocab *v) {
    if (!v) return;
    free(v->pool);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->attr);
    ts_strmap_free(&v->by_text);
    free(v->index);
    free(v->bpe);
    free(v->eog);
    free(v->special);
    free(v);
}

ts_vocab_kind ts_vocab_get_kind(const ts_vocab *v) { return v->kind; }

const char *ts_vocab_pre(const ts_vocab *v) {
    return v->kind == TS_VOCAB_BPE && v->pre >= 0 ? ts_pretok_name(v->pre) : "";
}

int32_t ts_vocab_n_tokens(const ts_vocab *v) { return v->n_tokens; }

ts_str ts_vocab_token_text(const ts_vocab *v, ts_token id) {
    TS_ASSERT(id >= 0 && id < v->n_tokens);
    return (ts_str){ts_vocab_cstr(v, id), v->len[id]};
}

ts_token_type ts_vocab_token_type(const ts_vocab *v, ts_token id) {
    TS_ASSERT(id >= 0 && id < v->n_tokens);
    return (ts_token_type)v->type[id];
}

ts_token ts_vocab_bos(const ts_vocab *v) { return v->bos; }
ts_token ts_vocab_eos(const ts_vocab *v) { return v->eos; }
ts_token ts_vocab_eot(const ts_vocab *v) { return v->eot; }
ts_token ts_vocab_pad(const ts_vocab *v) { return v->pad; }
bool ts_vocab_adds_bos(const ts_vocab *v) { return v->add_bos; }
bool ts_vocab_adds_eos(const ts_vocab *v) { return v->add_eos; }

bool ts_vocab_is_eog(const ts_vocab *v, ts_token id) {
    if (id == TS_TOKEN_NULL) return false;
    return bsearch(&id, v->eog, (size_t)v->n_eog, sizeof *v->eog, cmp_token) != NULL;
}
