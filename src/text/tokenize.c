/*
 * tokenize.c — ts_tokenize: text to token ids, as llama.cpp's
 * llama_vocab::impl::tokenize does it:
 *
 *  1. the special-token partition (tokenizer_st_partition): the special
 *     tokens (CONTROL, USER_DEFINED, UNKNOWN attributes), longest text
 *     first, each in turn cut out of every plain fragment left by the ones
 *     before, leftmost occurrence first. Without TS_TOKENIZE_PARSE_SPECIAL
 *     CONTROL and UNKNOWN tokens are not matched — USER_DEFINED ones still
 *     are (Hugging Face's added tokens, e.g. Qwen2's <tool_call>). LSTRIP /
 *     RSTRIP tokens eat the C-locale spaces before / after them;
 *  2. each plain fragment goes to the back-end: byte-level BPE (any bytes;
 *     invalid UTF-8 decoded as llama.cpp does, see pretok.c) or SentencePiece
 *     (raw bytes, with the space prefix at the start and after each special
 *     token);
 *  3. with TS_TOKENIZE_ADD_SPECIAL, BOS first and EOS last when the
 *     vocabulary says so.
 *
 * Texts of 2^31 bytes or more are refused (llama.cpp's API takes an int32
 * length; refusing them keeps every count here far from overflow).
 */
#include "text/text-impl.h"

#include <stdlib.h>
#include <string.h>

/* ========================================================== token buffer */

ts_status ts_tokbuf_push(ts_tokbuf *b, ts_token id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *b->ids)
            return ts_error(TS_ERR_NOMEM, "token buffer of %zu ids", cap);
        ts_token *ids = realloc(b->ids, cap * sizeof *ids);
        if (!ids) return ts_error(TS_ERR_NOMEM, "out of memory (%zu token ids)", cap);
        b->ids = ids, b->cap = cap;
    }
    b->ids[b->n++] = id;
    return TS_OK;
}

/* ============================================================= partition */

/* A fragment of the input: a special token, or plain text [off, off+len). */
typedef struct frag {
    ts_token id; /* TS_TOKEN_NULL for text */
    size_t off, len;
} frag;

typedef struct frag_list {
    frag *f;
    size_t n, cap;
} frag_list;

static ts_status frag_push(frag_list *l, frag f) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        if (cap > SIZE_MAX / sizeof *l->f) return ts_error(TS_ERR_NOMEM, "too many fragments");
        frag *p = realloc(l->f, cap * sizeof *p);
        if (!p) return ts_error(TS_ERR_NOMEM, "out of memory (%zu fragments)", cap);
        l->f = p, l->cap = cap;
    }
    l->f[l->n++] = f;
    return TS_OK;
}

static bool c_space(char c) { /* isspace in the C locale */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Cut every occurrence of special token id out of text fragment f, into
 * out. */
static ts_status cut_fragment(const ts_vocab *v, const char *text, frag f, ts_token id,
                              frag_list *out) {
    const char *tok = ts_vocab_cstr(v, id);
    size_t tlen = v->len[id], pos = f.off, end = f.off + f.len;
    ts_status st = TS_OK;
    while (st == TS_OK && pos < end) {
        const char *m = memmem(text + pos, end - pos, tok, tlen);
        if (!m) break;
        size_t at = (size_t)(m - text), left = at - pos;
        if (v->attr[id] & TS_ATTR_LSTRIP)
            while (left > 0 && c_space(text[pos + left - 1])) left--;
        if (left > 0) st = frag_push(out, (frag){TS_TOKEN_NULL, pos, left});
        if (st == TS_OK) st = frag_push(out, (frag){id, 0, 0});
        pos = at + tlen;
        if (v->attr[id] & TS_ATTR_RSTRIP)
            while (pos < end && c_space(text[pos])) pos++;
    }
    if (st == TS_OK && pos < end) st = frag_push(out, (frag){TS_TOKEN_NULL, pos, end - pos});
    return st;
}

/* True when special token id occurs in a text fragment of l. */
static bool occurs(const ts_vocab *v, const char *text, const frag_list *l, ts_token id) {
    const char *tok = ts_vocab_cstr(v, id);
    size_t tlen = v->len[id];
    for (size_t i = 0; i < l->n; i++)
        if (l->f[i].id == TS_TOKEN_NULL && memmem(text + l->f[i].off, l->f[i].len, tok, tlen))
            return true;
    return false;
}

/* A filter on 4-byte substrings: bit h(s) is set for every 4 bytes s of
 * the text, so a token whose first or last 4 bytes' bit is clear cannot
 * occur (vocabularies hold thousands of specials, such as Gemma's
 * <unusedN>). About 8 bits per text byte keep it sparse. */
typedef struct grams {
    uint64_t *bits;
    int shift; /* 64 - log2(number of bits) */
} grams;

static uint32_t gram_hash(const grams *g, const char *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    return (uint32_t)((x * 0x9E3779B97F4A7C15ull) >> g->shift); /* Fibonacci hashing */
}

static ts_status gram_fill(grams *g, const char *text, size_t len) {
    int log2 = 12;
    while (log2 < 24 && ((size_t)1 << log2) < len * 8) log2++;
    g->shift = 64 - log2;
    g->bits = calloc((size_t)1 << (log2 - 6), sizeof *g->bits);
    if (!g->bits) return ts_error(TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i + 4 <= len; i++) {
        uint32_t h = gram_hash(g, text + i);
        g->bits[h / 64] |= 1ull << (h % 64);
    }
    return TS_OK;
}

static bool gram_may_occur(const grams *g, const char *tok, size_t n) {
    if (!g->bits || n < 4) return true;
    uint32_t h = gram_hash(g, tok), t = gram_hash(g, tok + n - 4);
    return (g->bits[h / 64] >> (h % 64) & 1) && (g->bits[t / 64] >> (t % 64) & 1);
}

static ts_status partition(const ts_vocab *v, const char *text, size_t len, bool parse_special,
                           frag_list *l) {
    grams g = {NULL, 0}; /* worth it for long texts and many specials only */
    ts_status st = len >= 256 && v->n_special >= 64 ? gram_fill(&g, text, len) : TS_OK;
    frag_list tmp = {0};
    if (st == TS_OK) st = frag_push(l, (frag){TS_TOKEN_NULL, 0, len});
    for (int32_t s = 0; s < v->n_special && st == TS_OK; s++) {
        ts_token id = v->special[s];
        if (!parse_special && (v->attr[id] & (TS_ATTR_CONTROL | TS_ATTR_UNKNOWN))) continue;
        if (!gram_may_occur(&g, ts_vocab_cstr(v, id), v->len[id])) continue;
        if (!occurs(v, text, l, id)) continue;
        tmp.n = 0;
        for (size_t i = 0; i < l->n && st == TS_OK; i++)
            st = l->f[i].id != TS_TOKEN_NULL ? frag_push(&tmp, l->f[i])
                                             : cut_fragment(v, text, l->f[i], id, &tmp);
        frag_list t = *l;
        *l = tmp, tmp = t;
    }
    free(tmp.f);
    free(g.bits);
    return st;
}

/* ================================================================ public */

static ts_status tokenize(const ts_vocab *v, const char *text, size_t len, unsigned flags,
                          ts_tokbuf *out) {
    frag_list l = {0};
    ts_status st = len ? partition(v, text, len, flags & TS_TOKENIZE_PARSE_SPECIAL, &l) : TS_OK;
    bool add = flags & TS_TOKENIZE_ADD_SPECIAL;
    if (st == TS_OK && add && v->add_bos) st = ts_tokbuf_push(out, v->bos);
    bool prev_special = true; /* SPM: a space prefix at the start */
    for (size_t i = 0; i < l.n && st == TS_OK; i++) {
        frag f = l.f[i];
        if (f.id != TS_TOKEN_NULL)
            st = ts_tokbuf_push(out, f.id);
        else if (v->kind == TS_VOCAB_BPE)
            st = ts_bpe_tokenize(v, text + f.off, f.len, out);
        else
            st = ts_spm_tokenize(v, text + f.off, f.len, prev_special, out);
        prev_special = f.id != TS_TOKEN_NULL;
    }
    if (st == TS_OK && add && v->add_eos) st = ts_tokbuf_push(out, v->eos);
    free(l.f);
    return st;
}

ts_status ts_tokenize(const ts_vocab *v, const char *text, size_t len, unsigned flags,
                      ts_token **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (len > INT32_MAX)
        return ts_error(TS_ERR_INVALID_ARG, "text of %zu bytes: at most %d can be tokenized", len,
                        INT32_MAX);
    if (len > 0 && !text) return ts_error(TS_ERR_INVALID_ARG, "text is NULL");
    ts_tokbuf b = {0};
    ts_status st = tokenize(v, text, len, flags, &b);
    if (st != TS_OK || b.n == 0) {
        free(b.ids);
        return st;
    }
    *ids = b.ids;
    *n_ids = b.n;
    return TS_OK;
}
