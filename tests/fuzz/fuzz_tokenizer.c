/*
 * fuzz_tokenizer.c — libFuzzer entry for the tokenizer and detokenizer.
 *
 * Two modes, chosen by the first byte of the input:
 *
 *  - fixed vocabulary (bit 0 clear): the rest of the input is text for the
 *    real SmolLM2 (byte-level BPE) or Gemma 3 (SentencePiece) vocabulary of
 *    tests/data/tokenizer (bit 1 picks; each is loaded once);
 *  - crafted vocabulary (bit 0 set): the input describes a small vocabulary
 *    (below), which is written as a GGUF image in memory, opened with
 *    ts_gguf_open_memory and loaded with ts_vocab_load; what follows the
 *    description is the text.
 *
 * Either way the text is tokenized under all four TS_TOKENIZE_* flag sets,
 * each result is detokenized under all four TS_DETOK_* flag sets, and the
 * promises of tokenizer.h are checked (a broken one aborts, which libFuzzer
 * reports): ids are in range; streaming detokenization (pushes + flush)
 * equals whole detokenization, at every split point for short lists;
 * ts_token_piece reports the length it needs and then fits; with a fixed
 * vocabulary, valid UTF-8 survives decode(encode(s)) when every byte of it
 * has a token of its own (SmolLM2 lacks 21) and, for Gemma 3, the text holds
 * no U+2581 (which decodes as a space).
 *
 * Crafted vocabulary description (a reader past the end yields zeros, so
 * every input is a description):
 *   u8  flags      bit 1: SentencePiece ("llama") else BPE ("gpt2");
 *                  bit 2 add_bos, bit 3 add_eos, bit 4 write add_space_prefix,
 *                  bit 5 its value, bit 6 leave out token_type, bit 7 leave
 *                  out scores
 *   u8  pre        index into PRES; 0xFF: no tokenizer.ggml.pre key; past
 *                  the list: a raw name follows (u8 length + bytes)
 *   u8  n_tokens
 *   u16 bos, eos, unk, eot, pad: ids (0xFFFF: key absent; may be out of range)
 *   per token: u8 len, then that many bytes of text; or, for len >= 0xF0, a
 *              huge token: u16 length (modulo HUGE_MAX + 1) and two bytes
 *              repeated to fill it; then i8 type (written as int32, so
 *              negative and unknown types occur); u8 score code (SCORES,
 *              else (i8)code / 4)
 *   u8  n_merges   per merge: u8 a, u8 b: "text(a) text(b)"; a = 0xFF: a raw
 *                  string (u8 length + bytes)
 *   the rest: text
 *
 * The classes of CVE-2025-49847 (a token text or piece longer than a fixed
 * buffer) and CVE-2025-52566 (signed overflow from text length or token
 * counts) are covered by huge tokens, huge pieces (byte-level BPE text
 * outside the byte table expands) and long texts; the corpus in
 * tests/corpus/tokenizer holds seeds of each (make_corpus.py).
 */
#include "tessera/tokenizer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef TS_TOKENIZER_DATA_DIR
#define TS_TOKENIZER_DATA_DIR "tests/data/tokenizer"
#endif

#define HUGE_MAX       16384 /* bytes of a crafted huge token */
#define STREAM_ALL_MAX 24    /* id lists up to this long: every split point */
#define ROUNDTRIP_MAX  4096  /* bytes of text checked for decode(encode(s)) */

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_tokenizer: %s:%d: broken promise: %s\n", __FILE__, __LINE__,     \
                    #x);                                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const PRES[] = {
    "default", "gpt-2",        "llama3",      "llama-bpe", "qwen2",       "deepseek-r1-qwen",
    "smollm",  "deepseek-llm", "deepseek-v3", "",          "unknown-pre",
};
#define N_PRES (sizeof PRES / sizeof PRES[0])

/* ========================================================== input reader */

typedef struct reader {
    const uint8_t *p;
    size_t n, at;
} reader;

static uint8_t rd_u8(reader *r) { return r->at < r->n ? r->p[r->at++] : 0; }
static uint16_t rd_u16(reader *r) {
    uint16_t lo = rd_u8(r);
    return (uint16_t)(lo | rd_u8(r) << 8);
}
/* Up to n bytes (fewer at the end); *got receives how many. */
static const uint8_t *rd_bytes(reader *r, size_t n, size_t *got) {
    const uint8_t *p = r->p + r->at;
    *got = n < r->n - r->at ? n : r->n - r->at;
    r->at += *got;
    return p;
}

/* ======================================================= GGUF in memory */

typedef struct image {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
    bool failed;
} image;

static void im_put(image *im, const void *s, size_t k) {
    if (im->failed || k == 0) return;
    if (im->n + k > im->cap) {
        size_t cap = im->cap ? im->cap : 4096;
        while (cap < im->n + k) cap *= 2;
        uint8_t *p = realloc(im->p, cap);
        if (!p) {
            im->failed = true;
            return;
        }
        im->p = p, im->cap = cap;
    }
    memcpy(im->p + im->n, s, k);
    im->n += k;
}
static void im_u32(image *im, uint32_t v) { im_put(im, &v, 4); } /* little-endian hosts */
static void im_u64(image *im, uint64_t v) { im_put(im, &v, 8); }
static void im_str(image *im, const void *s, size_t n) {
    im_u64(im, n);
    im_put(im, s, n);
}
static void im_key(image *im, const char *key, uint32_t type) {
    im_str(im, key, strlen(key));
    im_u32(im, type);
    im->n_kv++;
}

enum { GT_U32 = 4, GT_I32 = 5, GT_F32 = 6, GT_BOOL = 7, GT_STR = 8, GT_ARR = 9 };

/* ============================================================ the vocab */

typedef struct crafted {
    uint8_t *texts;    /* all token texts, back to back */
    size_t *off, *len; /* (n) */
    int n;
} crafted;

static const float SCORES[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f};

/* Read one token text into c (a huge one is a repeated byte pair). */
static bool read_token(reader *r, crafted *c, size_t *cap) {
    uint8_t code = rd_u8(r);
    size_t len = code, got = 0;
    uint8_t pat[2] = {0, 0};
    bool huge = code >= 0xF0;
    if (huge) {
        len = rd_u16(r) % (HUGE_MAX + 1);
        pat[0] = rd_u8(r), pat[1] = rd_u8(r);
    }
    size_t at = c->n ? c->off[c->n - 1] + c->len[c->n - 1] : 0;
    if (len == 0) {
        c->off[c->n] = at, c->len[c->n] = 0, c->n++;
        return true;
    }
    if (at + len > *cap) {
        size_t ncap = (*cap ? *cap : 1024);
        while (ncap < at + len) ncap *= 2;
        uint8_t *t = realloc(c->texts, ncap);
        if (!t) return false;
        c->texts = t, *cap = ncap;
    }
    if (huge) {
        for (size_t i = 0; i < len; i++) c->texts[at + i] = pat[i & 1];
    } else {
        const uint8_t *p = rd_bytes(r, len, &got);
        memcpy(c->texts + at, p, got);
        len = got;
    }
    c->off[c->n] = at, c->len[c->n] = len, c->n++;
    return true;
}

/* Build the GGUF image the description asks for; false when out of memory. */
static bool build_image(reader *r, image *im) {
    uint8_t flags = rd_u8(r), pre = rd_u8(r);
    const uint8_t *raw_pre = NULL;
    size_t raw_pre_len = 0;
    if (pre != 0xFF && pre >= N_PRES) raw_pre = rd_bytes(r, rd_u8(r), &raw_pre_len);
    int n = rd_u8(r);
    uint16_t special[5];
    for (int i = 0; i < 5; i++) special[i] = rd_u16(r);

    crafted c = {0};
    size_t cap = 0;
    int32_t types[256];
    float scores[256];
    c.off = malloc(sizeof *c.off * 256), c.len = malloc(sizeof *c.len * 256);
    c.texts = malloc(cap = 1024); /* never NULL below: empty texts point into it */
    bool ok = c.off && c.len && c.texts;
    for (int i = 0; i < n && ok; i++) {
        ok = read_token(r, &c, &cap);
        types[i] = (int8_t)rd_u8(r);
        uint8_t s = rd_u8(r);
        scores[i] = s < sizeof SCORES / sizeof SCORES[0] ? SCORES[s] : (float)(int8_t)s / 4.0f;
    }

    im_put(im, "GGUF", 4);
    im_u32(im, 3);
    im_u64(im, 0); /* tensors */
    size_t n_kv_at = im->n;
    im_u64(im, 0); /* kv count, patched below */

    im_key(im, "general.architecture", GT_STR);
    im_str(im, "llama", 5);
    im_key(im, "tokenizer.ggml.model", GT_STR);
    if (flags & 2)
        im_str(im, "llama", 5);
    else
        im_str(im, "gpt2", 4);
    if (pre != 0xFF) {
        im_key(im, "tokenizer.ggml.pre", GT_STR);
        if (raw_pre)
            im_str(im, raw_pre, raw_pre_len);
        else
            im_str(im, PRES[pre], strlen(PRES[pre]));
    }
    im_key(im, "tokenizer.ggml.tokens", GT_ARR);
    im_u32(im, GT_STR);
    im_u64(im, (uint64_t)c.n);
    for (int i = 0; i < c.n && ok; i++) im_str(im, c.texts + c.off[i], c.len[i]);
    if (!(flags & 0x40)) {
        im_key(im, "tokenizer.ggml.token_type", GT_ARR);
        im_u32(im, GT_I32);
        im_u64(im, (uint64_t)c.n);
        im_put(im, types, sizeof types[0] * (size_t)c.n);
    }
    if (!(flags & 0x80)) {
        im_key(im, "tokenizer.ggml.scores", GT_ARR);
        im_u32(im, GT_F32);
        im_u64(im, (uint64_t)c.n);
        im_put(im, scores, sizeof scores[0] * (size_t)c.n);
    }
    static const char *const special_keys[5] = {
        "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.padding_token_id",
    };
    for (int i = 0; i < 5; i++) {
        if (special[i] == 0xFFFF) continue;
        im_key(im, special_keys[i], GT_U32);
        im_u32(im, special[i] % 512); /* in range or just past it */
    }
    uint8_t t = 1, f = 0;
    im_key(im, "tokenizer.ggml.add_bos_token", GT_BOOL);
    im_put(im, flags & 4 ? &t : &f, 1);
    im_key(im, "tokenizer.ggml.add_eos_token", GT_BOOL);
    im_put(im, flags & 8 ? &t : &f, 1);
    if (flags & 0x10) {
        im_key(im, "tokenizer.ggml.add_space_prefix", GT_BOOL);
        im_put(im, flags & 0x20 ? &t : &f, 1);
    }

    /* merges: pairs of token texts, or raw strings */
    int n_merges = rd_u8(r);
    im_key(im, "tokenizer.ggml.merges", GT_ARR);
    im_u32(im, GT_STR);
    im_u64(im, (uint64_t)n_merges);
    for (int i = 0; i < n_merges && ok; i++) {
        uint8_t a = rd_u8(r), b = rd_u8(r);
        if (a == 0xFF || c.n == 0) {
            size_t got;
            const uint8_t *p = rd_bytes(r, b, &got);
            im_str(im, p, got);
            continue;
        }
        int ia = a % c.n, ib = b % c.n;
        size_t la = c.len[ia], lb = c.len[ib];
        im_u64(im, la + 1 + lb);
        im_put(im, c.texts + c.off[ia], la);
        im_put(im, " ", 1);
        im_put(im, c.texts + c.off[ib], lb);
    }
    if (!im->failed) memcpy(im->p + n_kv_at, &im->n_kv, 8);
    free(c.texts);
    free(c.off);
    free(c.len);
    return ok && !im->failed;
}

/* ============================================================== checks */

static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = ts_utf8_decode((const char *)s + i, n - i, &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

/* Stream ids[0..k) then flush; compare with want[0..want_len). */
static void check_stream_prefix(const ts_vocab *v, const ts_token *ids, size_t k, unsigned flags,
                                const char *want, size_t want_len) {
    ts_detok *d = NULL;
    if (ts_detok_new(v, flags, &d) != TS_OK) return; /* out of memory */
    size_t at = 0;
    const char *out;
    size_t out_len;
    for (size_t i = 0; i <= k; i++) {
        ts_status st =
            i < k ? ts_detok_push(d, ids[i], &out, &out_len) : ts_detok_flush(d, &out, &out_len);
        if (st != TS_OK) { /* only a piece too long for the whole call too */
            CHECK(st == TS_ERR_UNSUPPORTED || st == TS_ERR_NOMEM);
            ts_detok_free(d);
            return;
        }
        CHECK(at + out_len <= want_len && memcmp(want + at, out, out_len) == 0);
        at += out_len;
    }
    CHECK(at == want_len);
    ts_detok_free(d);
}

static void check_detok(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags) {
    char *whole = NULL;
    size_t len = 0;
    ts_status st = ts_detokenize(v, ids, n, flags, &whole, &len);
    if (st != TS_OK) {
        CHECK(st == TS_ERR_UNSUPPORTED || st == TS_ERR_NOMEM);
        return;
    }
    CHECK(whole != NULL && whole[len] == '\0');
    check_stream_prefix(v, ids, n, flags, whole, len);
    free(whole);
    if (n > STREAM_ALL_MAX) return;
    for (size_t k = 0; k < n; k++) {
        if (ts_detokenize(v, ids, k, flags, &whole, &len) != TS_OK) continue;
        check_stream_prefix(v, ids, k, flags, whole, len);
        free(whole);
    }
}

static void check_piece(const ts_vocab *v, ts_token id, unsigned flags) {
    char small[8];
    size_t need = 0, got = 0;
    ts_status st = ts_token_piece(v, id, flags, small, sizeof small, &need);
    if (st == TS_OK) {
        CHECK(need <= sizeof small);
        return;
    }
    if (st == TS_ERR_UNSUPPORTED) return; /* a piece over the limit */
    CHECK(st == TS_ERR_INVALID_ARG && need > sizeof small);
    char *buf = malloc(need);
    if (!buf) return;
    CHECK(ts_token_piece(v, id, flags, buf, need, &got) == TS_OK && got == need);
    free(buf);
}

/* What decode(encode(s)) promises for a vocabulary. */
typedef enum { RT_NONE, RT_EXACT, RT_SPM } roundtrip;

/* Bytes that some token stands for alone (a one-byte piece): text made of
 * them cannot lose a byte to a missing token (SmolLM2 has no token for 21
 * bytes, 0x16 say; llama.cpp drops such bytes too). */
typedef struct byte_set {
    bool has[256];
} byte_set;

static void find_byte_tokens(const ts_vocab *v, byte_set *b) {
    memset(b, 0, sizeof *b);
    for (ts_token id = 0; id < ts_vocab_n_tokens(v); id++) {
        char piece[8];
        size_t n;
        if (ts_token_piece(v, id, 0, piece, sizeof piece, &n) == TS_OK && n == 1)
            b->has[(unsigned char)piece[0]] = true;
    }
}

static bool all_bytes_in(const byte_set *b, const uint8_t *text, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!b->has[text[i]]) return false;
    return true;
}

/* Tokenize under every flag set; check ids and decoding. */
static void exercise(const ts_vocab *v, const byte_set *bytes, const uint8_t *text, size_t len,
                     roundtrip rt) {
    int32_t n_vocab = ts_vocab_n_tokens(v);
    for (unsigned tf = 0; tf < 4; tf++) {
        ts_token *ids = NULL;
        size_t n = 0;
        ts_status st = ts_tokenize(v, (const char *)text, len, tf, &ids, &n);
        if (st != TS_OK) {
            CHECK(st == TS_ERR_NOMEM || st == TS_ERR_INVALID_ARG);
            continue;
        }
        CHECK(n == 0 || ids != NULL);
        for (size_t i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < n_vocab);
        for (unsigned df = 0; df < 4; df++) check_detok(v, ids, n, df);
        free(ids);
    }
    /* decode(encode(s)) == s for valid UTF-8 (fixed vocabularies only) */
    if (rt == RT_NONE || len > ROUNDTRIP_MAX || !valid_utf8(text, len)) return;
    if (!all_bytes_in(bytes, text, len)) return;
    if (rt == RT_SPM && memmem(text, len, "\xE2\x96\x81", 3)) return;
    ts_token *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    size_t back_len = 0;
    if (ts_tokenize(v, (const char *)text, len, 0, &ids, &n) == TS_OK &&
        ts_detokenize(v, ids, n, 0, &back, &back_len) == TS_OK)
        CHECK(back_len == len && memcmp(back, text, len) == 0);
    free(back);
    free(ids);
}

/* =============================================================== modes */

static ts_vocab *fixed[2];
static byte_set fixed_bytes[2];
static bool fixed_tried;

static void load_fixed(void) {
    static const char *const names[2] = {"smollm2.gguf", "gemma3.gguf"};
    fixed_tried = true;
    const char *dir = getenv("TS_TOKENIZER_DATA");
    if (!dir) dir = TS_TOKENIZER_DATA_DIR;
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ts_gguf *g = NULL;
        if (ts_gguf_open(path, &g) == TS_OK && ts_vocab_load(g, &fixed[i]) != TS_OK)
            fixed[i] = NULL;
        ts_gguf_close(g);
        if (!fixed[i])
            fprintf(stderr, "fuzz_tokenizer: %s not loaded: %s\n", path, ts_last_error());
        else
            find_byte_tokens(fixed[i], &fixed_bytes[i]);
    }
}

static void fuzz_crafted(reader *r) {
    image im = {0};
    if (!build_image(r, &im)) {
        free(im.p);
        return;
    }
    ts_gguf *g = NULL;
    ts_vocab *v = NULL;
    ts_status st = ts_gguf_open_memory(im.p, im.n, &g);
    CHECK(st == TS_OK); /* the image is always well-formed GGUF */
    st = ts_vocab_load(g, &v);
    ts_gguf_close(g); /* the vocabulary copies what it needs */
    if (getenv("FUZZ_TOKENIZER_VERBOSE"))
        fprintf(stderr, "fuzz_tokenizer: vocabulary of %zu bytes: %s%s%s\n", im.n,
                st == TS_OK ? "loaded" : ts_status_str(st), st == TS_OK ? "" : ": ",
                st == TS_OK ? "" : ts_last_error());
    if (st != TS_OK) {
        CHECK(st > TS_OK && st < TS_STATUS_COUNT && ts_last_error()[0] != '\0');
        free(im.p);
        return;
    }
    memset(im.p, 0xA5, im.n); /* anything still pointing into the image reads junk */
    int32_t n = ts_vocab_n_tokens(v);
    for (ts_token id = 0; id < n; id++) {
        check_piece(v, id, 0);
        check_piece(v, id, TS_DETOK_RENDER_SPECIAL);
    }
    size_t got;
    const uint8_t *text = rd_bytes(r, r->n - r->at, &got);
    exercise(v, NULL, text, got, RT_NONE);
    /* ids the tokenizer never makes: every token once, then out of range */
    ts_token all[300];
    size_t m = 0;
    for (ts_token id = 0; id < n && m < 256; id++) all[m++] = id;
    for (unsigned df = 0; df < 4; df++) check_detok(v, all, m, df);
    ts_token bad[2] = {n, -1};
    char *text_out;
    size_t len_out;
    CHECK(ts_detokenize(v, bad, 1, 0, &text_out, &len_out) == TS_ERR_INVALID_ARG);
    CHECK(ts_detokenize(v, bad + 1, 1, 0, &text_out, &len_out) == TS_ERR_INVALID_ARG);
    ts_vocab_free(v);
    free(im.p);
}

static void quiet(ts_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user; /* warnings about crafted files are expected */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool started;
    if (!started && !getenv("FUZZ_TOKENIZER_VERBOSE")) ts_log_set(quiet, NULL, TS_LOG_WARN);
    started = true;
    reader r = {data, size, 0};
    uint8_t mode = rd_u8(&r);
    if (mode & 1) {
        fuzz_crafted(&r);
        return 0;
    }
    if (!fixed_tried) load_fixed();
    int which = (mode >> 1) & 1;
    if (fixed[which])
        exercise(fixed[which], &fixed_bytes[which], data + r.at, size - r.at,
                 which ? RT_SPM : RT_EXACT);
    return 0;
}
