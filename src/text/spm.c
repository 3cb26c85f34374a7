/*
 * spm.c — the SentencePiece tokenizer (tokenizer.ggml.model = "llama") as
 * llama.cpp runs it (llm_tokenizer_spm), for one span of plain text:
 *
 *  1. a space is put before the span when the vocabulary asks for it
 *     (add_space_prefix) and the span starts the input or follows a special
 *     token; every ASCII space becomes U+2581 ("▁");
 *  2. the text is cut into symbols, one per UTF-8 character, the length
 *     taken from the lead byte alone (0xxx/10xx: 1, 110x: 2, 1110: 3,
 *     1111: 4, cut short at the end), so that invalid UTF-8 is kept as raw
 *     bytes here (no U+FFFD, unlike byte-level BPE);
 *  3. every adjacent pair whose concatenation is a token is a candidate
 *     merge; the best one is applied first: highest score of the resulting
 *     token, then leftmost; after a merge the two new neighbour pairs become
 *     candidates. Candidates made stale by an earlier merge are recognised
 *     by their size and skipped;
 *  4. each final symbol is its token, or, when it is none, one byte token
 *     <0xXX> per byte (byte fallback), else the one-byte token, else unk;
 *     a byte with none of these is dropped.
 *
 * Invariants: symbols only grow to the right (the right one is absorbed and
 * its length set to 0), so a merged symbol always is a token and a live
 * pair (l, r) stays adjacent while both live. Ties in the queue are broken
 * by the left index, which makes the order total (every correct heap gives
 * llama.cpp's result), NaN scores aside.
 *
 * Legend: s = symbols (UTF-8 characters of the escaped span).
 */
#include "text/text-impl.h"

#include <stdlib.h>
#include <string.h>

#define SPACE_MARK     "\xE2\x96\x81" /* U+2581 LOWER ONE EIGHTH BLOCK */
#define SPACE_MARK_LEN 3

typedef struct spm_sym {
    size_t off;         /* start of the symbol in the escaped text */
    size_t n;           /* its length in bytes; 0 once merged into its left */
    int32_t prev, next; /* live neighbours, -1 at the ends */
} spm_sym;

typedef struct spm_pair {
    float score;         /* score of the token the pair would make */
    int32_t left, right; /* symbol indices */
    size_t size;         /* bytes of the pair when it was queued */
} spm_pair;

/* True when pair a is to be merged before pair b: higher score, then the
 * leftmost (llama.cpp's llm_bigram_spm::comparator, reversed). */
static bool pair_before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

TS_HEAP_DEFINE(spm_queue, spm_pair, pair_before)

typedef struct spm_session {
    const ts_vocab *v;
    const char *text; /* escaped span */
    spm_sym *sym;     /* (s) */
    int32_t n_sym;
    spm_queue heap; /* see pair_before */
    ts_token byte_tok[256]; /* byte fallback, resolved lazily (-2: not yet) */
} spm_session;

/* ============================================================== helpers */

/* Bytes of the UTF-8 character led by byte c, from its top four bits, as
 * llama.cpp's unicode_len_utf8 (continuation and invalid bytes count 1 or
 * the length their bit pattern suggests). */
static size_t lead_len(unsigned char c) {
    static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

/* The token standing for byte b: <0xXX>, else the one-byte text, else unk
 * (TS_TOKEN_NULL when the vocabulary has none of them). */
static ts_token byte_token(spm_session *s, unsigned char b) {
    if (s->byte_tok[b] != -2) return s->byte_tok[b];
    static const char hex[] = "0123456789ABCDEF";
    char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    ts_token id = ts_vocab_find(s->v, name, sizeof name);
    if (id == TS_TOKEN_NULL) id = ts_vocab_find(s->v, (const char *)&b, 1);
    if (id == TS_TOKEN_NULL) id = s->v->unk;
    return s->byte_tok[b] = id;
}

/* ================================================================= queue */

/* Queue the pair (left, right) when their concatenation is a token. */
static ts_status try_pair(spm_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return TS_OK;
    const spm_sym *l = &s->sym[left], *r = &s->sym[right];
    /* adjacent, so the pair's text is contiguous; no token is longer than max */
    size_t size = l->n + r->n;
    if (size > (size_t)s->v->max_token_len) return TS_OK;
    ts_token id = ts_vocab_find(s->v, s->text + l->off, size);
    if (id == TS_TOKEN_NULL) return TS_OK;
    const spm_pair p = {s->v->score[id], left, right, size};
    return spm_queue_push(&s->heap, p, "spm");
}

/* ================================================================ phases */

/* Cut the escaped text into one symbol per (lead-byte-length) character. */
static ts_status split_symbols(spm_session *s, size_t len) {
    size_t n = 0;
    for (size_t off = 0; off < len; off += lead_len((unsigned char)s->text[off])) n++;
    if (n >= INT32_MAX)
        return ts_error(TS_ERR_INVALID_ARG, "spm: text of %zu characters is too long", n);
    s->sym = malloc((n ? n : 1) * sizeof *s->sym);
    if (!s->sym) return ts_error(TS_ERR_NOMEM, "spm: out of memory (%zu symbols)", n);
    size_t off = 0;
    for (int32_t i = 0; i < (int32_t)n; i++) {
        size_t k = lead_len((unsigned char)s->text[off]);
        if (k > len - off) k = len - off; /* a character cut short at the end */
        s->sym[i] = (spm_sym){off, k, i - 1, i + 1 == (int32_t)n ? -1 : i + 1};
        off += k;
    }
    s->n_sym = (int32_t)n;
    return TS_OK;
}

/* Apply the best queued merge until none is left. */
static ts_status merge_all(spm_session *s) {
    ts_status st = TS_OK;
    for (int32_t i = 1; i < s->n_sym && st == TS_OK; i++) st = try_pair(s, i - 1, i);
    while (st == TS_OK && s->heap.n > 0) {
        spm_pair p = spm_queue_pop(&s->heap);
        spm_sym *l = &s->sym[p.left], *r = &s->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = p.left;
        st = try_pair(s, l->prev, p.left);
        if (st == TS_OK) st = try_pair(s, p.left, l->next);
    }
    return st;
}

/* Emit each final symbol: its token, or its bytes' tokens. */
static ts_status emit_all(spm_session *s, ts_tokbuf *out) {
    for (int32_t i = s->n_sym ? 0 : -1; i >= 0; i = s->sym[i].next) {
        const spm_sym *y = &s->sym[i];
        ts_status st;
        ts_token id = ts_vocab_find(s->v, s->text + y->off, y->n);
        if (id != TS_TOKEN_NULL) {
            if ((st = ts_tokbuf_push(out, id)) != TS_OK) return st;
            continue;
        }
        for (size_t j = 0; j < y->n; j++) {
            id = byte_token(s, (unsigned char)s->text[y->off + j]);
            if (id != TS_TOKEN_NULL && (st = ts_tokbuf_push(out, id)) != TS_OK) return st;
        }
    }
    return TS_OK;
}

/* The span with its space prefix and every ' ' as U+2581; *out malloc'd. */
static ts_status escape_spaces(const char *text, size_t len, bool prefix, char **out,
                               size_t *out_len) {
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    /* cannot wrap: spaces <= len < SIZE_MAX / 4 */
    if (len > SIZE_MAX / 4) return ts_error(TS_ERR_INVALID_ARG, "spm: text too long");
    size_t n = len + 2 * spaces + (prefix ? SPACE_MARK_LEN : 0);
    char *buf = malloc(n + 1);
    if (!buf) return ts_error(TS_ERR_NOMEM, "spm: out of memory (%zu bytes)", n + 1);
    size_t o = 0;
    if (prefix) memcpy(buf, SPACE_MARK, SPACE_MARK_LEN), o = SPACE_MARK_LEN;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            memcpy(buf + o, SPACE_MARK, SPACE_MARK_LEN), o += SPACE_MARK_LEN;
        else
            buf[o++] = text[i];
    }
    TS_ASSERT(o == n);
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return TS_OK;
}

/* ================================================================ public */

ts_status ts_spm_tokenize(const ts_vocab *v, const char *text, size_t len, bool first,
                          ts_tokbuf *out) {
    TS_ASSERT(v->kind == TS_VOCAB_SPM);
    bool prefix = first && v->add_space_prefix;
    if (len == 0 && !prefix) return TS_OK;

    spm_session s = {.v = v};
    for (int b = 0; b < 256; b++) s.byte_tok[b] = -2;
    char *esc = NULL;
    size_t n = 0;
    ts_status st = escape_spaces(text, len, prefix, &esc, &n);
    if (st == TS_OK) {
        s.text = esc;
        st = split_symbols(&s, n);
    }
    if (st == TS_OK) st = merge_all(&s);
    if (st == TS_OK) st = emit_all(&s, out);
    free(s.sym);
    spm_queue_free(&s.heap);
    free(esc);
    return st;
}
