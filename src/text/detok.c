/*
 * detok.c — from token ids back to bytes, as llama.cpp's token_to_piece and
 * detokenize do, plus a streaming detokenizer that releases only complete
 * UTF-8 text.
 *
 * A token's piece, by its attributes (v->attr: the file's type as adjusted
 * at load time, as llama.cpp does), first match wins:
 *  - CONTROL, UNKNOWN: its text with TS_DETOK_RENDER_SPECIAL, else nothing;
 *  - USER_DEFINED: its text as stored;
 *  - NORMAL: SentencePiece: the text with every U+2581 made a space;
 *    byte-level BPE: each code point of the text mapped back through the
 *    GPT-2 byte-to-unicode table (a code point outside the table gives
 *    llama.cpp's "[UNK_BYTE_0x<hex>" + text + "]");
 *  - BYTE: the byte the text <0xXX> names (parsed as llama.cpp: strtol of
 *    the two characters after "<0x");
 *  - UNUSED, UNDEFINED: nothing.
 *
 * Whole-sequence detokenization adds, as llama.cpp's detokenize:
 *  - TS_DETOK_REMOVE_SPECIAL: a leading BOS is dropped when the file adds
 *    BOS, then a trailing EOS when the file adds EOS;
 *  - the leading-space rule: with add_space_prefix, one leading space of the
 *    first token's piece is dropped — unless a BOS was dropped before it
 *    (llama.cpp clears the rule then);
 *  - clean-up of spaces for the byte-level BPE pre-tokenizers that ask for it
 *    (v->clean_spaces; gpt-2, llama3, default, ...; not smollm, qwen2,
 *    deepseek-*): three passes over the bytes, " ?" " !" " ." " ,"
 *    lose the space, " ' " becomes "'" (left to right), and " 's" " 'm"
 *    " 're" " 've" lose the space.
 *
 * Streaming gives exactly the bytes of the whole-sequence call, for any
 * split: a BOS is judged on the first push, an EOS is held until the next
 * push shows it was not the last, and the clean-up runs as three chained
 * transducers that each hold back at most three bytes (the passes read only
 * a bounded look-ahead). The released text is then cut before a trailing
 * incomplete, so far valid, UTF-8 sequence; bytes that cannot begin or
 * continue a sequence are released as they are. ts_detok_flush ends the
 * stream: what is held comes out, a held EOS is dropped, and the next push
 * starts a new stream (BOS and leading-space rules again).
 *
 * A piece longer than PIECE_MAX is refused with TS_ERR_UNSUPPORTED (only a
 * crafted vocabulary gets there; llama.cpp would build it at load time).
 */
#include "text/text-impl.h"

#include <stdlib.h>
#include <string.h>

#define SPACE_MARK     "\xE2\x96\x81" /* U+2581, SentencePiece's space */
#define SPACE_MARK_LEN 3

/* A piece longer than this is refused (TS_ERR_UNSUPPORTED). Real pieces are
 * a few bytes to a few KB; only a crafted vocabulary gets near it: a huge
 * token text, or a byte-level BPE token full of code points outside the
 * byte table, each of which repeats the whole text (quadratic growth). */
#define PIECE_MAX ((size_t)1 << 20)

/* ================================================================ buffer */

/* Bytes being built: growable (owned, realloc'd), or fixed (a caller's
 * buffer, where only the length keeps counting once it is full). */
typedef struct dbuf {
    char *p;
    size_t n, cap;
    bool fixed;
    bool failed; /* growable: out of memory, or the length overflowed */
} dbuf;

static bool dbuf_reserve(dbuf *b, size_t extra) {
    if (b->fixed || b->failed) return !b->failed;
    if (extra < b->cap - b->n) return true; /* keeps a byte spare for a NUL */
    if (extra > SIZE_MAX - 1 - b->n) return !(b->failed = true);
    size_t need = b->n + extra + 1, cap = b->cap ? b->cap : 64; /* +1: room for a NUL */
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) return !(b->failed = true);
    b->p = p, b->cap = cap;
    return true;
}

static void dbuf_put(dbuf *b, const void *s, size_t k) {
    if (k == 0 || !dbuf_reserve(b, k)) return;
    if (!b->fixed || (k <= b->cap && b->n <= b->cap - k)) memcpy(b->p + b->n, s, k);
    if (b->fixed && b->n > SIZE_MAX - k) {
        b->failed = true;
        return;
    }
    b->n += k;
}

static void dbuf_putc(dbuf *b, char c) { dbuf_put(b, &c, 1); }

/* ================================================================ pieces */

/* Byte for code point cp under GPT-2's byte-to-unicode table, or -1. The
 * table keeps the printable bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF as
 * themselves and numbers the other 68 from U+0100 in byte order. */
static int unicode_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68) return -1;
    /* the k-th byte outside the printable ranges: 0x00-0x20, 0x7F-0xA0, 0xAD */
    uint32_t k = cp - 0x100;
    if (k <= 0x20) return (int)k;
    if (k <= 0x20 + 34) return (int)(0x7F + k - 0x21);
    return 0xAD;
}

/* One code point at s[*i..n) the lenient way llama.cpp reads token texts
 * (unicode_cpt_from_utf8: lead-byte length and continuation bits only, so
 * overlong forms and surrogates pass); U+FFFD and one byte for anything
 * else. */
static uint32_t lenient_cp(const unsigned char *s, size_t n, size_t *i) {
    unsigned char c = s[*i];
    size_t len = c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 0;
    bool ok = len > 0 && len <= n - *i;
    for (size_t k = 1; ok && k < len; k++) ok = (s[*i + k] & 0xC0) == 0x80;
    if (!ok) {
        *i += 1;
        return 0xFFFD;
    }
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = c & lead_mask[len];
    for (size_t k = 1; k < len; k++) cp = cp << 6 | (s[*i + k] & 0x3F);
    *i += len;
    return cp;
}

/* Byte-level BPE: the bytes a token text stands for (llama_decode_text). */
static void put_bpe_text(dbuf *b, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    size_t start = b->n;
    for (size_t i = 0; i < n;) {
        uint32_t cp = lenient_cp(s, n, &i);
        int byte = unicode_to_byte(cp);
        if (byte >= 0) {
            dbuf_putc(b, (char)byte);
            continue;
        }
        unsigned char u[4];
        size_t k = ts_utf8_encode(cp, (char *)u);
        static const char hex[] = "0123456789abcdef";
        dbuf_put(b, "[UNK_BYTE_0x", 12);
        for (size_t j = 0; j < k; j++) dbuf_putc(b, hex[u[j] >> 4]), dbuf_putc(b, hex[u[j] & 15]);
        dbuf_put(b, text, n);
        dbuf_putc(b, ']');
        if (b->n - start > PIECE_MAX) return; /* the caller refuses it */
    }
}

/* SentencePiece: the text with each U+2581 as a space. */
static void put_spm_text(dbuf *b, const char *text, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i + SPACE_MARK_LEN <= n;) {
        if (memcmp(text + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
            dbuf_put(b, text + start, i - start);
            dbuf_putc(b, ' ');
            i += SPACE_MARK_LEN, start = i;
        } else {
            i++;
        }
    }
    dbuf_put(b, text + start, n - start);
}

/* The byte of a BYTE token "<0xXX>": strtol (base 16) of the two characters
 * after "<0x", as llama.cpp's token_to_byte; false when the text is too
 * short to hold them. */
static bool byte_token_value(const char *text, size_t n, char *out) {
    if (n < 3) return false;
    char hex[3] = {0};
    memcpy(hex, text + 3, n - 3 < 2 ? n - 3 : 2);
    *out = (char)strtol(hex, NULL, 16);
    return true;
}

/* Append token id's piece to b. Decided by the token's attributes in
 * llama.cpp's order (an EOG-looking token made CONTROL at load time is
 * silent like any control token). */
static void put_piece(const ts_vocab *v, ts_token id, bool render_special, dbuf *b) {
    const unsigned special = TS_ATTR_UNKNOWN | TS_ATTR_CONTROL;
    unsigned attr = v->attr[id];
    const char *text = ts_vocab_cstr(v, id);
    size_t n = v->len[id];
    char byte;
    if (!render_special && (attr & special)) return;
    if (attr & (special | TS_ATTR_USER_DEFINED))
        dbuf_put(b, text, n);
    else if ((attr & TS_ATTR_NORMAL) && v->kind == TS_VOCAB_SPM)
        put_spm_text(b, text, n);
    else if (attr & TS_ATTR_NORMAL)
        put_bpe_text(b, text, n);
    else if ((attr & TS_ATTR_BYTE) && byte_token_value(text, n, &byte))
        dbuf_putc(b, byte);
    /* UNUSED, UNDEFINED: nothing */
}

static ts_status check_id(const ts_vocab *v, ts_token id) {
    if (id < 0 || id >= v->n_tokens)
        return ts_error(TS_ERR_INVALID_ARG, "token id %d is out of range (vocabulary of %d)",
                        (int)id, (int)v->n_tokens);
    return TS_OK;
}

/* Append the piece of id to growable b, dropping one leading space when
 * lstrip (llama.cpp's token_to_piece with lstrip = 1). */
static ts_status append_piece(const ts_vocab *v, ts_token id, bool render_special, bool lstrip,
                              dbuf *b) {
    size_t start = b->n;
    put_piece(v, id, render_special, b);
    if (b->failed) return ts_error(TS_ERR_NOMEM, "detokenize: out of memory");
    if (b->n - start > PIECE_MAX)
        return ts_error(TS_ERR_UNSUPPORTED, "token %d: piece of %zu bytes is too long", (int)id,
                        b->n - start);
    if (lstrip && b->n > start && b->p[start] == ' ') {
        memmove(b->p + start, b->p + start + 1, b->n - start - 1);
        b->n--;
    }
    return TS_OK;
}

/* ============================================================== clean-up */

/* llama.cpp's clean_spaces passes over text[0..*n), in place. */
static void clean_spaces(char *text, size_t *n) {
    size_t total = *n, end;
    /* 1: " ?" " !" " ." " ," lose the space */
    end = total, total = end ? 1 : 0;
    for (size_t i = 1; i < end; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        text[total++] = x;
    }
    /* 2: " ' " becomes "'"; the space after is consumed (marked with NUL) */
    end = total, total = end ? 1 : 0;
    for (size_t i = 1; i < end; i++) {
        char x = text[i];
        if (x == '\'' && i + 1 < end && text[i - 1] == ' ' && text[i + 1] == ' ') {
            total--;
            text[++i] = '\0';
        }
        text[total++] = x;
    }
    /* 3: " 's" " 'm" " 're" " 've" lose the space (" 't" " 'd" " 'll" keep it) */
    end = total, total = end ? 1 : 0;
    for (size_t i = 1; i < end; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < end) {
            char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm')
                total--;
            else if (i + 2 < end && ((x1 == 'r' || x1 == 'v') && text[i + 2] == 'e'))
                total--;
        }
        text[total++] = x;
    }
    *n = total;
}

/* ================================================================ public */

ts_status ts_token_piece(const ts_vocab *v, ts_token id, unsigned flags, char *buf, size_t cap,
                         size_t *len) {
    *len = 0;
    ts_status st = check_id(v, id);
    if (st != TS_OK) return st;
    dbuf b = {.p = buf, .cap = buf ? cap : 0, .fixed = true};
    put_piece(v, id, flags & TS_DETOK_RENDER_SPECIAL, &b);
    *len = b.n;
    if (b.failed || b.n > PIECE_MAX)
        return ts_error(TS_ERR_UNSUPPORTED, "token %d: piece is too long", (int)id);
    if (b.n > b.cap)
        return ts_error(TS_ERR_INVALID_ARG, "token %d: piece of %zu bytes, buffer of %zu", (int)id,
                        b.n, b.cap);
    return TS_OK;
}

ts_status ts_detokenize(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags,
                        char **text, size_t *len) {
    *text = NULL, *len = 0;
    for (size_t i = 0; i < n; i++) {
        ts_status st = check_id(v, ids[i]);
        if (st != TS_OK) return st;
    }
    bool remove_space = v->add_space_prefix;
    if ((flags & TS_DETOK_REMOVE_SPECIAL) && v->add_bos && n > 0 && ids[0] == v->bos)
        remove_space = false, ids++, n--;
    if ((flags & TS_DETOK_REMOVE_SPECIAL) && v->add_eos && n > 0 && ids[n - 1] == v->eos) n--;

    dbuf b = {0};
    ts_status st = dbuf_reserve(&b, 0) ? TS_OK : ts_error(TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && st == TS_OK; i++) {
        st = append_piece(v, ids[i], flags & TS_DETOK_RENDER_SPECIAL, remove_space, &b);
        remove_space = false;
    }
    if (st != TS_OK) {
        free(b.p);
        return st;
    }
    if (v->clean_spaces) clean_spaces(b.p, &b.n);
    b.p[b.n] = '\0'; /* dbuf_reserve keeps a byte spare */
    *text = b.p, *len = b.n;
    return TS_OK;
}

/* ============================================================= streaming */

/* One clean-up pass as a transducer: `held` are bytes it cannot decide yet. */
typedef struct clean_stage {
    char held[3];
    int n_held;
} clean_stage;

struct ts_detok {
    const ts_vocab *v;
    unsigned flags;
    bool started;      /* the first token was seen (the BOS rule is decided) */
    bool remove_space; /* the next piece loses one leading space */
    bool eos_held;     /* an EOS was pushed: dropped if the stream ends here */
    bool clean;        /* the vocabulary cleans spaces */
    clean_stage stage[3];
    dbuf piece; /* scratch: the piece being pushed */
    dbuf out;   /* out.p[0..released) went out last call, the rest is held */
    size_t released;
};

static void stage_feed(ts_detok *d, int k, char c);

/* Pass the bytes of stage k on to the next stage, or out. */
static void stage_emit(ts_detok *d, int k, const char *s, int n) {
    for (int i = 0; i < n; i++) {
        if (k == 2)
            dbuf_putc(&d->out, s[i]);
        else
            stage_feed(d, k + 1, s[i]);
    }
}

static bool is_punct(char c) { return c == '?' || c == '!' || c == '.' || c == ','; }

/* Stage 0: " ?" " !" " ." " ," lose the space. Held: "" or " ". */
static void feed_punct(ts_detok *d, clean_stage *s, char c) {
    if (s->n_held && is_punct(c)) s->n_held = 0; /* the space goes */
    stage_emit(d, 0, s->held, s->n_held);
    s->n_held = 0;
    if (c == ' ')
        s->held[s->n_held++] = c;
    else
        stage_emit(d, 0, &c, 1);
}

/* Stage 1: " ' " becomes "'", left to right. Held: "", " ", " '". */
static void feed_quote(ts_detok *d, clean_stage *s, char c) {
    if (s->n_held == 2) {
        s->n_held = 0;
        if (c == ' ') { /* a match: the space after is consumed too */
            stage_emit(d, 1, "'", 1);
            return;
        }
        stage_emit(d, 1, " '", 2);
    } else if (s->n_held == 1) {
        if (c == '\'') {
            s->held[s->n_held++] = c;
            return;
        }
        stage_emit(d, 1, " ", 1);
        s->n_held = 0;
    }
    if (c == ' ')
        s->held[s->n_held++] = c;
    else
        stage_emit(d, 1, &c, 1);
}

/* Stage 2: " 's" " 'm" " 're" " 've" lose the space. Held: "", " ", " '",
 * " 'r", " 'v". */
static void feed_contraction(ts_detok *d, clean_stage *s, char c) {
    char *h = s->held;
    if (s->n_held == 3) {
        s->n_held = 0;
        if (c == 'e') {
            stage_emit(d, 2, h + 1, 2);
            stage_emit(d, 2, &c, 1);
            return;
        }
        stage_emit(d, 2, h, 3);
    } else if (s->n_held == 2) {
        if (c == 's' || c == 'm') {
            s->n_held = 0;
            stage_emit(d, 2, "'", 1);
            stage_emit(d, 2, &c, 1);
            return;
        }
        if (c == 'r' || c == 'v') {
            h[s->n_held++] = c;
            return;
        }
        s->n_held = 0;
        stage_emit(d, 2, h, 2);
    } else if (s->n_held == 1) {
        if (c == '\'') {
            h[s->n_held++] = c;
            return;
        }
        s->n_held = 0;
        stage_emit(d, 2, h, 1);
    }
    if (c == ' ')
        h[s->n_held++] = c;
    else
        stage_emit(d, 2, &c, 1);
}

static void stage_feed(ts_detok *d, int k, char c) {
    clean_stage *s = &d->stage[k];
    if (k == 0)
        feed_punct(d, s, c);
    else if (k == 1)
        feed_quote(d, s, c);
    else
        feed_contraction(d, s, c);
}

/* End of text: each stage gives up what it holds, in order. */
static void stages_finish(ts_detok *d) {
    for (int k = 0; k < 3; k++) {
        clean_stage *s = &d->stage[k];
        char held[3];
        int n = s->n_held;
        memcpy(held, s->held, sizeof held);
        s->n_held = 0;
        stage_emit(d, k, held, n);
    }
}

/* Bytes at the end of s[0..n) that begin a UTF-8 sequence validly but do
 * not finish it (0..3). */
static size_t utf8_partial_tail(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        size_t want = c >= 0xC2 && c <= 0xDF   ? 2
                      : c >= 0xE0 && c <= 0xEF ? 3
                      : c >= 0xF0 && c <= 0xF4 ? 4
                                               : 0;
        uint32_t cp;
        return want > k && ts_utf8_decode(s + n - k, k, &cp) == -(int)k ? k : 0;
    }
    return 0;
}

/* Drop what went out last call; the held bytes move to the front. */
static void out_begin(ts_detok *d) {
    dbuf *o = &d->out;
    memmove(o->p, o->p + d->released, o->n - d->released);
    o->n -= d->released;
    d->released = 0;
}

static ts_status out_release(ts_detok *d, bool all, const char **out, size_t *out_len) {
    if (d->out.failed) return ts_error(TS_ERR_NOMEM, "detokenize: out of memory");
    d->released = d->out.n - (all ? 0 : utf8_partial_tail(d->out.p, d->out.n));
    *out = d->out.p, *out_len = d->released;
    return TS_OK;
}

/* Add the piece of id to the output, through the clean-up when it applies. */
static ts_status detok_put(ts_detok *d, ts_token id) {
    d->piece.n = 0;
    ts_status st =
        append_piece(d->v, id, d->flags & TS_DETOK_RENDER_SPECIAL, d->remove_space, &d->piece);
    d->remove_space = false;
    if (st != TS_OK) return st;
    if (!d->clean) {
        dbuf_put(&d->out, d->piece.p, d->piece.n);
        return TS_OK;
    }
    const char *p = d->piece.p;
    for (size_t i = 0, n = d->piece.n; i < n;) {
        bool idle = !d->stage[0].n_held && !d->stage[1].n_held && !d->stage[2].n_held;
        if (!idle || p[i] == ' ') {
            stage_feed(d, 0, p[i++]);
            continue;
        }
        /* with nothing held, every pass copies bytes other than ' ' as they are */
        const char *sp = memchr(p + i, ' ', n - i);
        size_t run = sp ? (size_t)(sp - (p + i)) : n - i;
        dbuf_put(&d->out, p + i, run);
        i += run;
    }
    return TS_OK;
}

static void detok_reset(ts_detok *d) {
    d->started = d->eos_held = false;
    d->remove_space = d->v->add_space_prefix;
    memset(d->stage, 0, sizeof d->stage);
}

ts_status ts_detok_new(const ts_vocab *v, unsigned flags, ts_detok **out) {
    *out = NULL;
    ts_detok *d = calloc(1, sizeof *d);
    if (!d) return ts_error(TS_ERR_NOMEM, "out of memory");
    d->v = v;
    d->flags = flags;
    d->clean = v->clean_spaces;
    detok_reset(d);
    if (!dbuf_reserve(&d->out, 16) || !dbuf_reserve(&d->piece, 16)) {
        ts_detok_free(d);
        return ts_error(TS_ERR_NOMEM, "out of memory");
    }
    *out = d;
    return TS_OK;
}

void ts_detok_free(ts_detok *d) {
    if (!d) return;
    free(d->piece.p);
    free(d->out.p);
    free(d);
}

ts_status ts_detok_push(ts_detok *d, ts_token id, const char **out, size_t *out_len) {
    *out = "", *out_len = 0;
    ts_status st = check_id(d->v, id);
    if (st != TS_OK) return st;
    out_begin(d);
    const ts_vocab *v = d->v;
    bool remove = d->flags & TS_DETOK_REMOVE_SPECIAL;
    if (!d->started) {
        d->started = true;
        if (remove && v->add_bos && id == v->bos) {
            d->remove_space = false;
            return out_release(d, false, out, out_len);
        }
    }
    if (d->eos_held) { /* it was not the last token after all */
        d->eos_held = false;
        if ((st = detok_put(d, v->eos)) != TS_OK) return st;
    }
    if (remove && v->add_eos && id == v->eos)
        d->eos_held = true;
    else if ((st = detok_put(d, id)) != TS_OK)
        return st;
    return out_release(d, false, out, out_len);
}

ts_status ts_detok_flush(ts_detok *d, const char **out, size_t *out_len) {
    *out = "", *out_len = 0;
    out_begin(d);
    if (d->clean) stages_finish(d);
    ts_status st = out_release(d, true, out, out_len);
    detok_reset(d); /* a held EOS ends the stream: dropped */
    return st;
}
