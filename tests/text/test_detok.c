/*
 * test_detok.c — the SentencePiece tokenizer (spm.c) and the detokenizer
 * (detok.c) on tiny vocabularies written here with ts_gguf_writer:
 *
 *  - spm: "llama" model, tokens <unk> <s> </s>, the 256 byte tokens, a few
 *    normal pieces with score -id, a user-defined and an unused token;
 *    add_space_prefix, add_bos and add_eos set;
 *  - bpe: "gpt2" model, one token per character under the byte-to-unicode
 *    mapping, a token outside the mapping ("中"), one that is not UTF-8, a
 *    control and a user-defined token; pre "gpt-2" (llama.cpp cleans spaces
 *    when detokenizing) or "smollm" (it does not).
 *
 * Every expected value was read from llama.cpp (llama-cpp-python 0.3.36,
 * llama_tokenize / llama_token_to_piece / llama_detokenize) on the same
 * vocabularies written with gguf-py; the streaming tests check the
 * detokenizer's own promise (pushes + flush == ts_detokenize, at every
 * split point).
 */
#include "text/text-impl.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ================================================================ vocabs */

/* Ids in the tiny SentencePiece vocabulary. */
enum {
    SPM_UNK = 0,
    SPM_BOS = 1,
    SPM_EOS = 2,
    SPM_BYTE0 = 3, /* <0x00> .. <0xFF>: 3..258 */
    SPM_SP = 259,
    SPM_SP_HELLO,
    SPM_SP_WORLD,
    SPM_HELLO,
    SPM_SP_SP,
    SPM_A,
    SPM_B,
    SPM_E_ACUTE,
    SPM_H,
    SPM_E,
    SPM_L,
    SPM_O,
    SPM_HE,
    SPM_LL,
    SPM_LLO,
    SPM_SP_H,
    SPM_SP_W,
    SPM_ORLD,
    SPM_W,
    SPM_R,
    SPM_D,
    SPM_TOOL,
    SPM_UNUSED,
    SPM_N
};
#define SPM_BYTE(b) (SPM_BYTE0 + (b))

static const char *const SPM_NORMAL[] = {
    "\xE2\x96\x81",
    "\xE2\x96\x81Hello",
    "\xE2\x96\x81world",
    "Hello",
    "\xE2\x96\x81\xE2\x96\x81",
    "a",
    "b",
    "\xC3\xA9",
    "H",
    "e",
    "l",
    "o",
    "He",
    "ll",
    "llo",
    "\xE2\x96\x81H",
    "\xE2\x96\x81w",
    "orld",
    "w",
    "r",
    "d",
};

/* Ids in the tiny byte-level BPE vocabulary (Ġ = U+0120 stands for ' '). */
enum {
    BPE_EOT,
    BPE_SP,
    BPE_QUOTE,
    BPE_S,
    BPE_M,
    BPE_R,
    BPE_V,
    BPE_E,
    BPE_T,
    BPE_D,
    BPE_L,
    BPE_DOT,
    BPE_COMMA,
    BPE_QMARK,
    BPE_BANG,
    BPE_X,
    BPE_SP_HELLO,
    BPE_NL,
    BPE_ZHONG,
    BPE_BAD,
    BPE_USER,
    BPE_SP_WORLD,
    BPE_HELLO,
    BPE_N
};

static const char *const BPE_TEXT[] = {
    "<|endoftext|>",
    "\xC4\xA0",
    "'",
    "s",
    "m",
    "r",
    "v",
    "e",
    "t",
    "d",
    "l",
    ".",
    ",",
    "?",
    "!",
    "x",
    "\xC4\xA0hello",
    "\xC4\x8A",
    "\xE4\xB8\xAD",
    "\xFF",
    "<|user|>",
    "\xC4\xA0world",
    "hello",
};

static void set_common(ts_gguf_writer *w) {
    /* a vocab-only file still names an architecture, as llama.cpp wants */
    assert_int_equal(ts_gguf_writer_set_str(w, "general.architecture", "llama"), TS_OK);
}

static ts_vocab *load_vocab_file(const char *path) {
    ts_gguf *g = NULL;
    ts_vocab *v = NULL;
    if (ts_gguf_open(path, &g) != TS_OK) fail_msg("open %s: %s", path, ts_last_error());
    if (ts_vocab_load(g, &v) != TS_OK) fail_msg("load %s: %s", path, ts_last_error());
    ts_gguf_close(g);
    return v;
}

static ts_vocab *spm_vocab(bool add_space_prefix) {
    ts_str toks[SPM_N];
    float scores[SPM_N] = {0};
    int32_t types[SPM_N];
    static char bytes[256][7];
    toks[SPM_UNK] = (ts_str){"<unk>", 5}, types[SPM_UNK] = TS_TOKEN_TYPE_UNKNOWN;
    toks[SPM_BOS] = (ts_str){"<s>", 3}, types[SPM_BOS] = TS_TOKEN_TYPE_CONTROL;
    toks[SPM_EOS] = (ts_str){"</s>", 4}, types[SPM_EOS] = TS_TOKEN_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[SPM_BYTE(b)] = (ts_str){bytes[b], 6}, types[SPM_BYTE(b)] = TS_TOKEN_TYPE_BYTE;
    }
    for (int i = SPM_SP; i < SPM_TOOL; i++) {
        const char *t = SPM_NORMAL[i - SPM_SP];
        toks[i] = (ts_str){t, strlen(t)}, types[i] = TS_TOKEN_TYPE_NORMAL, scores[i] = (float)-i;
    }
    toks[SPM_TOOL] = (ts_str){"<tool>", 6}, types[SPM_TOOL] = TS_TOKEN_TYPE_USER_DEFINED;
    toks[SPM_UNUSED] = (ts_str){"<unused0>", 9}, types[SPM_UNUSED] = TS_TOKEN_TYPE_UNUSED;

    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_non_null(w);
    set_common(w);
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"), TS_OK);
    assert_int_equal(ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, SPM_N), TS_OK);
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TS_GGUF_TYPE_FLOAT32, scores, SPM_N),
        TS_OK);
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, types, SPM_N),
        TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", SPM_BOS), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", SPM_EOS), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", SPM_UNK), TS_OK);
    assert_int_equal(ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true), TS_OK);
    assert_int_equal(ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true), TS_OK);
    assert_int_equal(
        ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", add_space_prefix), TS_OK);
    const char *path = ts_test_path(add_space_prefix ? "spm.gguf" : "spm-nop.gguf");
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf_writer_free(w);
    return load_vocab_file(path);
}

static ts_vocab *bpe_vocab(const char *pre) {
    ts_str toks[BPE_N];
    int32_t types[BPE_N];
    for (int i = 0; i < BPE_N; i++) {
        toks[i] = (ts_str){BPE_TEXT[i], strlen(BPE_TEXT[i])};
        types[i] = TS_TOKEN_TYPE_NORMAL;
    }
    types[BPE_EOT] = TS_TOKEN_TYPE_CONTROL;
    types[BPE_USER] = TS_TOKEN_TYPE_USER_DEFINED;
    ts_str merges[] = {{"\xC4\xA0 hello", 8}};

    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_non_null(w);
    set_common(w);
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), TS_OK);
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre), TS_OK);
    assert_int_equal(ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, BPE_N), TS_OK);
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, types, BPE_N),
        TS_OK);
    assert_int_equal(ts_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", BPE_EOT), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", BPE_EOT), TS_OK);
    char name[64];
    snprintf(name, sizeof name, "bpe-%s.gguf", pre);
    assert_int_equal(ts_gguf_writer_write(w, ts_test_path(name)), TS_OK);
    ts_gguf_writer_free(w);
    return load_vocab_file(ts_test_path(name));
}

/* ============================================================== helpers */

#define IDS(...)                                                                                   \
    (const ts_token[]){__VA_ARGS__}, sizeof((const ts_token[]){__VA_ARGS__}) / sizeof(ts_token)

static void expect_piece(const ts_vocab *v, ts_token id, unsigned flags, const char *want,
                         size_t want_len) {
    char buf[128];
    size_t n = 0;
    assert_int_equal(ts_token_piece(v, id, flags, buf, sizeof buf, &n), TS_OK);
    assert_int_equal(n, want_len);
    assert_memory_equal(buf, want, n);
}
#define EXPECT_PIECE(v, id, flags, lit) expect_piece(v, id, flags, lit, sizeof lit - 1)

static void expect_detok(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags,
                         const char *want, size_t want_len) {
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ts_detokenize(v, ids, n, flags, &text, &len), TS_OK);
    if (len != want_len || memcmp(text, want, len) != 0)
        fail_msg("detokenize (flags %u): got \"%.*s\" (%zu), want \"%s\" (%zu)", flags, (int)len,
                 text, len, want, want_len);
    assert_int_equal(text[len], '\0');
    free(text);
}
#define EXPECT_DETOK(v, ids_n, flags, lit) expect_detok(v, ids_n, flags, lit, sizeof lit - 1)

/* Stream ids through a fresh detokenizer and check, at every split point k,
 * that (a) what was released so far is a prefix of ts_detokenize(ids[0..n))
 * and (b) released + flush equals ts_detokenize(ids[0..k)) (a second
 * detokenizer fed the same prefix, then flushed). */
static void check_stream(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags) {
    char *whole;
    size_t whole_len;
    assert_int_equal(ts_detokenize(v, ids, n, flags, &whole, &whole_len), TS_OK);
    for (size_t k = 0; k <= n; k++) {
        ts_detok *d;
        assert_int_equal(ts_detok_new(v, flags, &d), TS_OK);
        char *acc = malloc(whole_len + 4 * n + 16);
        size_t acc_len = 0;
        const char *out;
        size_t out_len;
        for (size_t i = 0; i < k; i++) {
            assert_int_equal(ts_detok_push(d, ids[i], &out, &out_len), TS_OK);
            memcpy(acc + acc_len, out, out_len);
            acc_len += out_len;
        }
        if (k == n) { /* (a): nothing released can be taken back later */
            assert_true(acc_len <= whole_len);
            assert_memory_equal(acc, whole, acc_len);
        }
        assert_int_equal(ts_detok_flush(d, &out, &out_len), TS_OK);
        memcpy(acc + acc_len, out, out_len);
        acc_len += out_len;
        char *part;
        size_t part_len;
        assert_int_equal(ts_detokenize(v, ids, k, flags, &part, &part_len), TS_OK);
        if (acc_len != part_len || memcmp(acc, part, part_len) != 0)
            fail_msg("stream of %zu ids (flags %u) gave \"%.*s\", whole \"%.*s\"", k, flags,
                     (int)acc_len, acc, (int)part_len, part);
        free(part);
        free(acc);
        ts_detok_free(d);
    }
    free(whole);
}

/* Push ids one by one; each push must release exactly want[i] (NULL ends
 * the list early: no check), then the flush wants[n]. */
static void expect_pushes(const ts_vocab *v, unsigned flags, const ts_token *ids, size_t n,
                          const char *const *want) {
    ts_detok *d;
    assert_int_equal(ts_detok_new(v, flags, &d), TS_OK);
    const char *out;
    size_t out_len;
    for (size_t i = 0; i <= n; i++) {
        if (i < n)
            assert_int_equal(ts_detok_push(d, ids[i], &out, &out_len), TS_OK);
        else
            assert_int_equal(ts_detok_flush(d, &out, &out_len), TS_OK);
        if (out_len != strlen(want[i]) || memcmp(out, want[i], out_len) != 0)
            fail_msg("step %zu released \"%.*s\", want \"%s\"", i, (int)out_len, out, want[i]);
    }
    ts_detok_free(d);
}

/* ================================================================== spm */

static void expect_spm(const ts_vocab *v, const char *text, size_t len, bool first,
                       const ts_token *want, size_t n_want) {
    ts_tokbuf b = {0};
    assert_int_equal(ts_spm_tokenize(v, text, len, first, &b), TS_OK);
    if (b.n != n_want || (n_want && memcmp(b.ids, want, n_want * sizeof *want) != 0)) {
        char got[256] = "";
        for (size_t i = 0; i < b.n && strlen(got) < 200; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", (int)b.ids[i]);
        fail_msg("spm \"%.*s\": got%s", (int)len, text, got);
    }
    free(b.ids);
}
#define EXPECT_SPM(v, lit, first, ...) expect_spm(v, lit, sizeof lit - 1, first, IDS(__VA_ARGS__))

static void test_spm_tokenize(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    EXPECT_SPM(v, "Hello world", true, SPM_SP_HELLO, SPM_SP_W, SPM_O, SPM_R, SPM_L, SPM_D);
    EXPECT_SPM(v, "Hello", true, SPM_SP_HELLO);
    EXPECT_SPM(v, "  Hello", true, SPM_SP_SP, SPM_SP_HELLO);
    EXPECT_SPM(v, " ", true, SPM_SP_SP);
    EXPECT_SPM(v, "hello", true, SPM_SP, SPM_BYTE('h'), SPM_E, SPM_LLO);
    EXPECT_SPM(v, "eee llo", true, SPM_SP, SPM_E, SPM_E, SPM_E, SPM_SP, SPM_LLO);
    /* byte fallback: 中 is no token */
    EXPECT_SPM(v, "\xE4\xB8\xAD", true, SPM_SP, SPM_BYTE(0xE4), SPM_BYTE(0xB8), SPM_BYTE(0xAD));
    /* invalid UTF-8 stays bytes: 0xFF claims four bytes ("\xFF" "b" "c"), a
     * cut sequence two */
    EXPECT_SPM(v,
               "a\xFF"
               "bc",
               true, SPM_SP, SPM_A, SPM_BYTE(0xFF), SPM_BYTE('b'), SPM_BYTE('c'));
    EXPECT_SPM(v,
               "\xE4\xB8"
               "a",
               true, SPM_SP, SPM_BYTE(0xE4), SPM_BYTE(0xB8), SPM_BYTE('a'));
    /* not first: no space prefix */
    EXPECT_SPM(v, "Hello world", false, SPM_HELLO, SPM_SP_W, SPM_O, SPM_R, SPM_L, SPM_D);
    ts_vocab_free(v);

    v = spm_vocab(false); /* add_space_prefix off: first changes nothing */
    EXPECT_SPM(v, "Hello world", true, SPM_HELLO, SPM_SP_W, SPM_O, SPM_R, SPM_L, SPM_D);
    EXPECT_SPM(v, "  Hello", true, SPM_SP_SP, SPM_HELLO);
    EXPECT_SPM(v,
               "a\xFF"
               "bc",
               true, SPM_A, SPM_BYTE(0xFF), SPM_BYTE('b'), SPM_BYTE('c'));
    ts_tokbuf b = {0};
    assert_int_equal(ts_spm_tokenize(v, "", 0, true, &b), TS_OK);
    assert_int_equal(b.n, 0);
    free(b.ids);
    ts_vocab_free(v);
}

/* ================================================================ pieces */

static void test_spm_pieces(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    const unsigned R = TS_DETOK_RENDER_SPECIAL;
    EXPECT_PIECE(v, SPM_SP_HELLO, 0, " Hello");
    EXPECT_PIECE(v, SPM_SP_SP, 0, "  ");
    EXPECT_PIECE(v, SPM_E_ACUTE, 0, "\xC3\xA9");
    EXPECT_PIECE(v, SPM_BYTE('A'), 0, "A");
    EXPECT_PIECE(v, SPM_BYTE(0xE4), 0, "\xE4"); /* part of a character */
    EXPECT_PIECE(v, SPM_BYTE(0), 0, "\0");
    EXPECT_PIECE(v, SPM_BOS, 0, "");
    EXPECT_PIECE(v, SPM_BOS, R, "<s>");
    EXPECT_PIECE(v, SPM_UNK, 0, "");
    EXPECT_PIECE(v, SPM_UNK, R, "<unk>");
    EXPECT_PIECE(v, SPM_TOOL, 0, "<tool>"); /* user-defined: always its text */
    EXPECT_PIECE(v, SPM_TOOL, R, "<tool>");
    EXPECT_PIECE(v, SPM_UNUSED, 0, "");
    EXPECT_PIECE(v, SPM_UNUSED, R, "");

    /* a buffer too small says how much is needed */
    char small[3];
    size_t n = 0;
    assert_int_equal(ts_token_piece(v, SPM_SP_HELLO, 0, small, sizeof small, &n),
                     TS_ERR_INVALID_ARG);
    assert_int_equal(n, 6);
    assert_int_equal(ts_token_piece(v, SPM_SP_HELLO, 0, NULL, 0, &n), TS_ERR_INVALID_ARG);
    assert_int_equal(n, 6);
    assert_int_equal(ts_token_piece(v, SPM_N, 0, small, sizeof small, &n), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_token_piece(v, -1, 0, small, sizeof small, &n), TS_ERR_INVALID_ARG);
    char *text;
    size_t len;
    assert_int_equal(ts_detokenize(v, IDS(SPM_A, SPM_N), 0, &text, &len), TS_ERR_INVALID_ARG);
    ts_vocab_free(v);
}

static void test_bpe_pieces(void **state) {
    (void)state;
    ts_vocab *v = bpe_vocab("gpt-2");
    EXPECT_PIECE(v, BPE_SP, 0, " ");
    EXPECT_PIECE(v, BPE_SP_HELLO, 0, " hello");
    EXPECT_PIECE(v, BPE_NL, 0, "\n");
    EXPECT_PIECE(v, BPE_X, 0, "x");
    /* code points outside the byte table: llama.cpp's marker, text included */
    EXPECT_PIECE(v, BPE_ZHONG, 0, "[UNK_BYTE_0xe4b8ad\xE4\xB8\xAD]");
    EXPECT_PIECE(v, BPE_BAD, 0, "[UNK_BYTE_0xefbfbd\xFF]");
    EXPECT_PIECE(v, BPE_EOT, 0, "");
    EXPECT_PIECE(v, BPE_EOT, TS_DETOK_RENDER_SPECIAL, "<|endoftext|>");
    EXPECT_PIECE(v, BPE_USER, 0, "<|user|>");
    ts_vocab_free(v);
}

/* ======================================================== whole sequence */

static void test_spm_leading_space(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    const unsigned RM = TS_DETOK_REMOVE_SPECIAL, R = TS_DETOK_RENDER_SPECIAL;
    /* the space the tokenizer put before the first word goes ... */
    for (unsigned f = 0; f < 4; f++)
        EXPECT_DETOK(v, IDS(SPM_SP_HELLO, SPM_SP_WORLD), f, "Hello world");
    /* ... but once a BOS came first, llama.cpp keeps it, dropped or not */
    EXPECT_DETOK(v, IDS(SPM_BOS, SPM_SP_HELLO, SPM_SP_WORLD), 0, " Hello world");
    EXPECT_DETOK(v, IDS(SPM_BOS, SPM_SP_HELLO, SPM_SP_WORLD), R, "<s> Hello world");
    EXPECT_DETOK(v, IDS(SPM_BOS, SPM_SP_HELLO, SPM_SP_WORLD), RM, " Hello world");
    EXPECT_DETOK(v, IDS(SPM_BOS, SPM_SP_HELLO, SPM_SP_WORLD, SPM_EOS), RM | R, " Hello world");
    EXPECT_DETOK(v, IDS(SPM_BOS, SPM_SP_HELLO, SPM_SP_WORLD, SPM_EOS), R, "<s> Hello world</s>");
    EXPECT_DETOK(v, IDS(SPM_SP_HELLO, SPM_SP_WORLD, SPM_EOS), R, "Hello world</s>");
    /* only the first piece loses a space, and only one */
    EXPECT_DETOK(v, IDS(SPM_SP_SP, SPM_SP_HELLO), 0, "  Hello");
    EXPECT_DETOK(v, IDS(SPM_SP), 0, "");
    EXPECT_DETOK(v, IDS(SPM_TOOL, SPM_SP_HELLO), 0, "<tool> Hello");
    EXPECT_DETOK(v, IDS(SPM_UNUSED, SPM_SP_HELLO), 0, " Hello");
    EXPECT_DETOK(v, IDS(SPM_UNK, SPM_SP_HELLO), 0, " Hello");
    EXPECT_DETOK(v, IDS(SPM_UNK, SPM_SP_HELLO), R, "<unk> Hello");
    EXPECT_DETOK(v, IDS(SPM_EOS, SPM_SP_HELLO), RM | R, "</s> Hello");
    ts_vocab_free(v);

    v = spm_vocab(false); /* no space prefix: nothing is dropped */
    EXPECT_DETOK(v, IDS(SPM_SP_HELLO, SPM_SP_WORLD), 0, " Hello world");
    ts_vocab_free(v);
}

/* Token ids spelling s in the tiny BPE vocabulary, one per character. */
static size_t bpe_ids(const char *s, ts_token *ids) {
    static const char chars[] = "\x01 'smrvetdl.,?!x";
    size_t n = 0;
    for (; *s; s++) {
        const char *p = strchr(chars, *s);
        assert_non_null(p);
        ids[n++] = (ts_token)(p - chars);
    }
    return n;
}

static void expect_bpe_detok(const ts_vocab *v, const char *s, const char *want) {
    ts_token ids[64];
    size_t n = bpe_ids(s, ids);
    expect_detok(v, ids, n, 0, want, strlen(want));
    check_stream(v, ids, n, 0);
}

static void test_bpe_clean_spaces(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"x , x . x ! x ?", "x, x. x! x?"},
        {" 's 'm 're 've 't 'd 'll", "'s'm're've 't 'd 'll"},
        {"x ' x", "x'x"},
        {" ' ' ' ", "'''"},
        {"x 'r", "x 'r"},
        {"x 're", "x're"},
        {"x 'v x 've", "x 'v x've"},
        {"  .", " ."},
        {" ", " "},
        {"' ", "' "},
        {" '", " '"},
    };
    ts_vocab *clean = bpe_vocab("gpt-2"), *plain = bpe_vocab("smollm");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_bpe_detok(clean, cases[i][0], cases[i][1]);
        expect_bpe_detok(plain, cases[i][0], cases[i][0]);
    }
    ts_vocab_free(clean);
    ts_vocab_free(plain);
}

/* Every string up to 6 characters over the characters the clean-up looks
 * at: streaming (the clean-up as transducers) equals the in-place passes. */
static void test_bpe_clean_spaces_exhaustive(void **state) {
    (void)state;
    static const ts_token alphabet[] = {BPE_SP, BPE_QUOTE, BPE_S, BPE_R, BPE_E, BPE_DOT, BPE_X};
    enum { A = sizeof alphabet / sizeof alphabet[0], MAXLEN = 6 };
    ts_vocab *v = bpe_vocab("gpt-2");
    ts_token ids[MAXLEN];
    long checked = 0;
    for (int len = 0; len <= MAXLEN; len++) {
        long total = 1;
        for (int i = 0; i < len; i++) total *= A;
        for (long code = 0; code < total; code++) {
            long c = code;
            for (int i = 0; i < len; i++, c /= A) ids[i] = alphabet[c % A];
            char *whole;
            size_t whole_len;
            assert_int_equal(ts_detokenize(v, ids, (size_t)len, 0, &whole, &whole_len), TS_OK);
            ts_detok *d;
            assert_int_equal(ts_detok_new(v, 0, &d), TS_OK);
            char acc[64];
            size_t acc_len = 0;
            const char *out;
            size_t out_len;
            for (int i = 0; i <= len; i++) {
                if (i < len)
                    assert_int_equal(ts_detok_push(d, ids[i], &out, &out_len), TS_OK);
                else
                    assert_int_equal(ts_detok_flush(d, &out, &out_len), TS_OK);
                assert_true(acc_len + out_len <= sizeof acc);
                memcpy(acc + acc_len, out, out_len);
                acc_len += out_len;
            }
            if (acc_len != whole_len || memcmp(acc, whole, whole_len) != 0)
                fail_msg("clean-up: stream \"%.*s\" != whole \"%.*s\"", (int)acc_len, acc,
                         (int)whole_len, whole);
            ts_detok_free(d);
            free(whole);
            checked++;
        }
    }
    assert_true(checked > 100000);
    ts_vocab_free(v);
}

/* ============================================================= streaming */

static void test_stream_split_utf8(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    /* 中 in three byte tokens, then a word */
    expect_pushes(v, 0, IDS(SPM_BYTE(0xE4), SPM_BYTE(0xB8), SPM_BYTE(0xAD), SPM_SP_HELLO),
                  (const char *const[]){"", "", "\xE4\xB8\xAD", " Hello", ""});
    /* 😀 in four; a character before it goes out at once */
    expect_pushes(v, 0, IDS(SPM_A, SPM_BYTE(0xF0), SPM_BYTE(0x9F), SPM_BYTE(0x98), SPM_BYTE(0x80)),
                  (const char *const[]){"a", "", "", "", "\xF0\x9F\x98\x80", ""});
    /* a whole piece (é) never waits */
    expect_pushes(v, 0, IDS(SPM_E_ACUTE, SPM_E_ACUTE),
                  (const char *const[]){"\xC3\xA9", "\xC3\xA9", ""});
    /* a sequence the stream ends in the middle of comes out on flush */
    expect_pushes(v, 0, IDS(SPM_BYTE(0xE4), SPM_BYTE(0xB8)),
                  (const char *const[]){"", "", "\xE4\xB8"});
    check_stream(v, IDS(SPM_BYTE(0xE4), SPM_BYTE(0xB8), SPM_BYTE(0xAD), SPM_SP_HELLO), 0);
    ts_vocab_free(v);
}

static void test_stream_invalid_released(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    /* bytes that cannot begin a sequence go out at once */
    expect_pushes(v, 0, IDS(SPM_BYTE(0xFF), SPM_BYTE(0x80), SPM_BYTE(0xC0), SPM_BYTE(0xF5)),
                  (const char *const[]){"\xFF", "\x80", "\xC0", "\xF5", ""});
    /* a begun sequence broken by the next byte goes out with it */
    expect_pushes(v, 0, IDS(SPM_BYTE(0xE4), SPM_A),
                  (const char *const[]){"",
                                        "\xE4"
                                        "a",
                                        ""});
    expect_pushes(v, 0, IDS(SPM_BYTE(0xE0), SPM_BYTE(0x80)), /* overlong */
                  (const char *const[]){"", "\xE0\x80", ""});
    expect_pushes(v, 0, IDS(SPM_BYTE(0xED), SPM_BYTE(0xA0)), /* surrogate */
                  (const char *const[]){"", "\xED\xA0", ""});
    expect_pushes(v, 0, IDS(SPM_BYTE(0xF4), SPM_BYTE(0x90)), /* above U+10FFFF */
                  (const char *const[]){"", "\xF4\x90", ""});
    /* ... and a new lead byte ends the wait for the old one */
    expect_pushes(v, 0, IDS(SPM_BYTE(0xE4), SPM_BYTE(0xE4), SPM_BYTE(0xB8), SPM_BYTE(0xAD)),
                  (const char *const[]){"", "\xE4", "", "\xE4\xB8\xAD", ""});
    ts_vocab_free(v);
}

static void test_stream_special(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    const unsigned RM = TS_DETOK_REMOVE_SPECIAL, R = TS_DETOK_RENDER_SPECIAL;
    /* a leading BOS is dropped at once; the EOS waits to see if it is last */
    expect_pushes(v, RM | R, IDS(SPM_BOS, SPM_SP_HELLO, SPM_EOS),
                  (const char *const[]){"", " Hello", "", ""});
    expect_pushes(v, RM | R, IDS(SPM_SP_HELLO, SPM_EOS, SPM_SP_WORLD),
                  (const char *const[]){"Hello", "", "</s> world", ""});
    expect_pushes(v, R, IDS(SPM_BOS, SPM_SP_HELLO, SPM_EOS),
                  (const char *const[]){"<s>", " Hello", "</s>", ""});
    /* the detokenizer starts over after a flush */
    ts_detok *d;
    const char *out;
    size_t n;
    assert_int_equal(ts_detok_new(v, 0, &d), TS_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ts_detok_push(d, SPM_SP_HELLO, &out, &n), TS_OK);
        assert_int_equal(n, 5); /* "Hello": the first piece again */
        assert_int_equal(ts_detok_flush(d, &out, &n), TS_OK);
        assert_int_equal(n, 0);
    }
    assert_int_equal(ts_detok_push(d, SPM_N, &out, &n), TS_ERR_INVALID_ARG);
    ts_detok_free(d);
    ts_detok_free(NULL);
    ts_vocab_free(v);
}

/* Random id lists (byte tokens, specials, pieces) under every flag set:
 * streaming equals whole decoding at every split point. */
static void test_stream_random(void **state) {
    (void)state;
    ts_vocab *v = spm_vocab(true);
    static const ts_token pool[] = {
        SPM_BOS,        SPM_EOS,        SPM_UNK,        SPM_SP,         SPM_SP_HELLO,
        SPM_SP_SP,      SPM_E_ACUTE,    SPM_TOOL,       SPM_UNUSED,     SPM_BYTE(0xE4),
        SPM_BYTE(0xB8), SPM_BYTE(0xAD), SPM_BYTE(0xF0), SPM_BYTE(0x9F), SPM_BYTE(0x98),
        SPM_BYTE(0x80), SPM_BYTE(0xFF), SPM_BYTE(' '),
    };
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    ts_token ids[12];
    for (int iter = 0; iter < 300; iter++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (size_t)(rng >> 60) % 12;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = pool[(rng >> 33) % (sizeof pool / sizeof pool[0])];
        }
        for (unsigned f = 0; f < 4; f++) check_stream(v, ids, n, f);
    }
    ts_vocab_free(v);

    v = bpe_vocab("gpt-2"); /* with the clean-up */
    for (int iter = 0; iter < 300; iter++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (size_t)(rng >> 60) % 12;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (ts_token)((rng >> 33) % BPE_N);
        }
        for (unsigned f = 0; f < 4; f++) check_stream(v, ids, n, f);
    }
    ts_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_tokenize),
        cmocka_unit_test(test_spm_pieces),
        cmocka_unit_test(test_bpe_pieces),
        cmocka_unit_test(test_spm_leading_space),
        cmocka_unit_test(test_bpe_clean_spaces),
        cmocka_unit_test(test_bpe_clean_spaces_exhaustive),
        cmocka_unit_test(test_stream_split_utf8),
        cmocka_unit_test(test_stream_invalid_released),
        cmocka_unit_test(test_stream_special),
        cmocka_unit_test(test_stream_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
