/*
 * bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2") as llama.cpp's
 * llm_tokenizer_bpe_session runs it, for one span of plain text:
 *
 *  1. the pre-tokenizer (pretok.c) cuts the span into words;
 *  2. each byte of a word stands for one character of GPT-2's
 *     byte-to-unicode table (printable Latin-1 maps to itself, the other 68
 *     bytes to U+0100..U+0143 in byte order); with ignore_merges, a word
 *     whose mapped text is a token is that token;
 *  3. otherwise the word starts as one symbol per byte and the adjacent
 *     pair with the lowest merge rank is merged, leftmost first on ties,
 *     until no pair has a merge;
 *  4. each final symbol is its token; a symbol whose text is no token gives,
 *     for each byte of its mapped text, the token whose text is that single
 *     byte, if any (llama.cpp's fallback; usually nothing).
 *
 * Merges are looked up by token ids: ts_vocab_load requires both sides of
 * every merge to be tokens, so a pair of symbols can merge only when both
 * are tokens, and the merged symbol's token is precomputed per merge.
 *
 * Invariants: symbols only grow to the right (the right one is absorbed and
 * its length set to 0), so a queued pair whose two lengths are unchanged
 * is still adjacent and still means the same texts; the queue order (rank,
 * then left index) is total, so any correct heap gives llama.cpp's result.
 *
 * Legend: w = bytes of a word (= initial symbols), m = merges.
 */
#include "text/text-impl.h"

#include <stdlib.h>
#include <string.h>

/* ============================================================ byte map */

/* GPT-2's bytes_to_unicode: the code point standing for byte b. */
static uint32_t byte_cp(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    /* the others in order: 0x00-0x20 (33), 0x7F-0xA0 (34), 0xAD */
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    return 0x100 + 67; /* 0xAD */
}

/* UTF-8 of byte b's character into buf (1 or 2 bytes). */
static size_t byte_char(unsigned b, char *buf) {
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) return buf[0] = (char)cp, 1;
    buf[0] = (char)(0xC0 | cp >> 6);
    buf[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* ========================================================== merge table */

static size_t merge_hash(ts_token l, ts_token r, size_t cap) {
    uint64_t h = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    h ^= h >> 33, h *= 0xff51afd7ed558ccdull, h ^= h >> 33; /* murmur3 finalizer */
    return (size_t)h & (cap - 1);
}

/* Slot of (l, r): the entry or the empty slot where it would go. */
static ts_bpe_merge *merge_slot(const ts_vocab *v, ts_token l, ts_token r) {
    size_t i = merge_hash(l, r, v->bpe_cap);
    while (v->bpe[i].left != TS_TOKEN_NULL && (v->bpe[i].left != l || v->bpe[i].right != r))
        i = (i + 1) & (v->bpe_cap - 1);
    return &v->bpe[i];
}

/* Add merge i ("L R"). */
static ts_status add_merge(ts_vocab *v, ts_str m, uint64_t i, char **scratch, size_t *cap) {
    const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
    if (!sp)
        return ts_error(TS_ERR_FORMAT,
                        "tokenizer.ggml.merges[%llu]: no space between "
                        "two tokens",
                        (unsigned long long)i);
    size_t nl = (size_t)(sp - m.ptr), nr = m.len - nl - 1;
    ts_token l = ts_vocab_find(v, m.ptr, nl), r = ts_vocab_find(v, sp + 1, nr);
    if (l == TS_TOKEN_NULL || r == TS_TOKEN_NULL)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.merges[%llu]: '%.*s' is not a token",
                        (unsigned long long)i, (int)(l == TS_TOKEN_NULL ? nl : nr),
                        l == TS_TOKEN_NULL ? m.ptr : sp + 1);
    if (nl + nr > *cap) {
        char *p = realloc(*scratch, nl + nr);
        if (!p) return ts_error(TS_ERR_NOMEM, "out of memory reading merges");
        *scratch = p, *cap = nl + nr;
    }
    memcpy(*scratch, m.ptr, nl);
    memcpy(*scratch + nl, sp + 1, nr);
    ts_bpe_merge *e = merge_slot(v, l, r);
    if (e->left == TS_TOKEN_NULL) /* a repeated merge keeps its first rank */
        *e = (ts_bpe_merge){l, r, (int32_t)i, ts_vocab_find(v, *scratch, nl + nr)};
    return TS_OK;
}

ts_status ts_bpe_build(ts_vocab *v, const ts_str *merges, uint64_t n) {
    for (unsigned b = 0; b < 256; b++) {
        char c[2], raw = (char)b;
        size_t k = byte_char(b, c);
        v->byte_char[b] = ts_vocab_find(v, c, k);
        v->byte_raw[b] = ts_vocab_find(v, &raw, 1);
    }
    if (n > INT32_MAX / 2)
        return ts_error(TS_ERR_FORMAT, "tokenizer.ggml.merges: %llu merges is too many",
                        (unsigned long long)n);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2; /* load <= 1/2 */
    v->bpe = malloc(cap * sizeof *v->bpe);
    if (!v->bpe)
        return ts_error(TS_ERR_NOMEM, "out of memory for %llu merges", (unsigned long long)n);
    v->bpe_cap = cap;
    for (size_t i = 0; i < cap; i++) v->bpe[i].left = TS_TOKEN_NULL;
    char *scratch = NULL;
    size_t scap = 0;
    ts_status st = TS_OK;
    for (uint64_t i = 0; i < n && st == TS_OK; i++)
        st = add_merge(v, merges[i], i, &scratch, &scap);
    free(scratch);
    return st;
}

/* ============================================================== session */

typedef struct bpe_sym {
    size_t off, n;      /* bytes of the word; n = 0 once merged into its left */
    int64_t prev, next; /* live neighbours, -1 at the ends */
    ts_token id;        /* token of its text, or TS_TOKEN_NULL */
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank;
    ts_token result;
    int64_t left, right;
    size_t n_left, n_right; /* the symbols' lengths when queued */
} bpe_pair;

static bool pair_before(const bpe_pair *a, const bpe_pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

TS_HEAP_DEFINE(bpe_queue, bpe_pair, pair_before)

typedef struct bpe_session {
    const ts_vocab *v;
    ts_tokbuf *out;
    const unsigned char *word;
    bpe_sym *sym; /* (w) */
    size_t cap_sym;
    bpe_queue heap; /* first by (rank, left) */
    char *mapped; /* the word's mapped text (ignore_merges) */
    size_t cap_mapped;
} bpe_session;

static ts_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return TS_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return ts_error(TS_ERR_NOMEM, "bpe: word too long");
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return ts_error(TS_ERR_NOMEM, "bpe: out of memory (%zu items)", c);
    *p = q, *cap = c;
    return TS_OK;
}

/* Queue (left, right) when the vocabulary merges their tokens. */
static ts_status try_pair(bpe_session *s, int64_t left, int64_t right) {
    if (left < 0 || right < 0) return TS_OK;
    const bpe_sym *l = &s->sym[left], *r = &s->sym[right];
    if (l->id == TS_TOKEN_NULL || r->id == TS_TOKEN_NULL) return TS_OK;
    const ts_bpe_merge *e = merge_slot(s->v, l->id, r->id);
    if (e->left == TS_TOKEN_NULL) return TS_OK;
    const bpe_pair p = {e->rank, e->result, left, right, l->n, r->n};
    return bpe_queue_push(&s->heap, p, "bpe");
}

static ts_status merge_all(bpe_session *s, size_t w) {
    ts_status st = TS_OK;
    s->heap.n = 0;
    for (size_t i = 1; i < w && st == TS_OK; i++) st = try_pair(s, (int64_t)i - 1, (int64_t)i);
    while (st == TS_OK && s->heap.n > 0) {
        bpe_pair p = bpe_queue_pop(&s->heap);
        bpe_sym *l = &s->sym[p.left], *r = &s->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n != p.n_left || r->n != p.n_right) continue; /* stale */
        l->n += r->n;
        l->id = p.result;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = p.left;
        st = try_pair(s, l->prev, p.left);
        if (st == TS_OK) st = try_pair(s, p.left, l->next);
    }
    return st;
}

/* A symbol that is no token: the one-byte tokens of its mapped text. */
static ts_status emit_fallback(bpe_session *s, const bpe_sym *y) {
    for (size_t j = 0; j < y->n; j++) {
        char c[2];
        size_t k = byte_char(s->word[y->off + j], c);
        for (size_t i = 0; i < k; i++) {
            ts_token id = s->v->byte_raw[(unsigned char)c[i]];
            if (id == TS_TOKEN_NULL) continue;
            ts_status st = ts_tokbuf_push(s->out, id);
            if (st != TS_OK) return st;
        }
    }
    return TS_OK;
}

/* ignore_merges: *id = the token of the whole word's mapped text, if any. */
static ts_status whole_word(bpe_session *s, size_t w, ts_token *id) {
    *id = TS_TOKEN_NULL;
    if (w > (size_t)s->v->max_token_len) return TS_OK; /* mapped text is >= w bytes */
    ts_status st = grow((void **)&s->mapped, &s->cap_mapped, 2 * w, 1);
    if (st != TS_OK) return st;
    size_t o = 0;
    for (size_t i = 0; i < w; i++) o += byte_char(s->word[i], s->mapped + o);
    *id = ts_vocab_find(s->v, s->mapped, o);
    return TS_OK;
}

/* One pre-tokenizer piece (ts_piece_fn). */
static ts_status bpe_word(const char *piece, size_t w, void *user) {
    bpe_session *s = user;
    s->word = (const unsigned char *)piece;
    if (w == 0) return TS_OK;
    ts_token id;
    ts_status st = TS_OK;
    if (s->v->ignore_merges) {
        if ((st = whole_word(s, w, &id)) != TS_OK) return st;
        if (id != TS_TOKEN_NULL) return ts_tokbuf_push(s->out, id);
    }
    if ((st = grow((void **)&s->sym, &s->cap_sym, w, sizeof *s->sym)) != TS_OK) return st;
    for (size_t i = 0; i < w; i++)
        s->sym[i] = (bpe_sym){i, 1, (int64_t)i - 1, i + 1 == w ? -1 : (int64_t)i + 1,
                              s->v->byte_char[s->word[i]]};
    if ((st = merge_all(s, w)) != TS_OK) return st;
    for (int64_t i = 0; i >= 0 && st == TS_OK; i = s->sym[i].next) {
        const bpe_sym *y = &s->sym[i];
        st = y->id != TS_TOKEN_NULL ? ts_tokbuf_push(s->out, y->id) : emit_fallback(s, y);
    }
    return st;
}

/* ================================================================ public */

ts_status ts_bpe_tokenize(const ts_vocab *v, const char *text, size_t len, ts_tokbuf *out) {
    TS_ASSERT(v->kind == TS_VOCAB_BPE);
    bpe_session s = {.v = v, .out = out};
    ts_status st = ts_pretok_split(v->pre, text, len, bpe_word, &s);
    free(s.sym);
    bpe_queue_free(&s.heap);
    free(s.mapped);
    return st;
}
