/*
 * test_vocab.c — the vocabulary loader on vocab-only files written here
 * with ts_gguf_writer (every way the metadata can be wrong, and the
 * defaults llama.cpp applies), and byte-level BPE on a tiny hand-made
 * vocabulary whose ids can be derived by hand.
 *
 * The tiny vocabulary (ids in brackets):
 *   [0] <|endoftext|> CONTROL   [1] <|im_end|> CONTROL   [2] <tool> USER_DEFINED
 *   [3] a  [4] b  [5] c  [6] Ġ (space)  [7] ab  [8] abc  [9] Ġa  [10] aa
 *   [11] ca  [12] !  [13] Ċ (newline)
 * merges, by rank: "a b" 0, "ab c" 1, "Ġ a" 2, "b c" 3, "a a" 4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/text-impl.h"

/* ============================================================== helpers */

static const char *const k_tokens[] = {
    "<|endoftext|>", "<|im_end|>",   "<tool>", "a",  "b", "c",       "\xC4\xA0", "ab",
    "abc",           "\xC4\xA0\x61", "aa",     "ca", "!", "\xC4\x8A"};
enum { N_TOK = sizeof k_tokens / sizeof k_tokens[0] };
static const int32_t k_types[N_TOK] = {3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const char *const k_merges[] = {"a b", "ab c", "\xC4\xA0 a", "b c", "a a"};
enum { N_MERGES = sizeof k_merges / sizeof k_merges[0] };

static ts_status set_strs(ts_gguf_writer *w, const char *key, const char *const *s, size_t n) {
    ts_str v[32];
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++) v[i] = (ts_str){s[i], strlen(s[i])};
    return ts_gguf_writer_set_arr_str(w, key, v, n);
}

/* The tiny BPE vocabulary with tokenizer.ggml.pre = pre (NULL: absent). */
static ts_gguf_writer *tiny_bpe(const char *pre) {
    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(ts_gguf_writer_set_str(w, "general.architecture", "llama"), TS_OK);
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), TS_OK);
    if (pre) assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre), TS_OK);
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", k_tokens, N_TOK), TS_OK);
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, k_types, N_TOK),
        TS_OK);
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", k_merges, N_MERGES), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 0), TS_OK);
    return w;
}

/* Write w, load its vocabulary; frees w. Returns the status, *out the
 * vocabulary on success. A key of the wrong type (tokenizer.ggml.* keys
 * have fixed types) is refused by the GGUF reader already: its status is
 * returned then. */
static ts_status load(ts_gguf_writer *w, ts_vocab **out) {
    const char *path = ts_test_path("vocab.gguf");
    if (ts_gguf_writer_write(w, path) != TS_OK) fail_msg("write: %s", ts_last_error());
    ts_gguf_writer_free(w);
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(path, &g);
    if (out) *out = NULL;
    if (st != TS_OK) return st;
    ts_vocab *v = NULL;
    st = ts_vocab_load(g, &v);
    ts_gguf_close(g);
    if (out)
        *out = v;
    else
        ts_vocab_free(v);
    if (st != TS_OK) assert_null(v);
    return st;
}

static ts_vocab *load_ok(ts_gguf_writer *w) {
    ts_vocab *v = NULL;
    ts_status st = load(w, &v);
    if (st != TS_OK) fail_msg("load: %s", ts_last_error());
    return v;
}

static void expect_error(ts_gguf_writer *w, ts_status want, const char *needle) {
    ts_status st = load(w, NULL);
    if (st != want || !strstr(ts_last_error(), needle))
        fail_msg("got %s '%s', expected %s with '%s'", ts_status_str(st), ts_last_error(),
                 ts_status_str(want), needle);
}

/* Tokenize text and compare with the expected ids (n of them). */
static void expect_ids(const ts_vocab *v, const char *text, size_t len, unsigned flags,
                       const ts_token *want, size_t n) {
    ts_token *ids = NULL;
    size_t n_ids = 0;
    assert_int_equal(ts_tokenize(v, text, len, flags, &ids, &n_ids), TS_OK);
    char got[256] = "", exp[256] = "";
    for (size_t i = 0; i < n_ids && strlen(got) < 200; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " %d", (int)ids[i]);
    for (size_t i = 0; i < n; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %d", (int)want[i]);
    if (n_ids != n || (n && memcmp(ids, want, n * sizeof *ids) != 0))
        fail_msg("'%.*s' (flags %u): got [%s ], expected [%s ]", (int)len, text, flags, got, exp);
    free(ids);
}
#define EXPECT(v, text, flags, ...)                                                                \
    do {                                                                                           \
        const ts_token want_[] = {__VA_ARGS__};                                                    \
        expect_ids(v, text, sizeof(text) - 1, flags, want_, sizeof want_ / sizeof *want_);         \
    } while (0)
#define EXPECT_NONE(v, text, flags) expect_ids(v, text, sizeof(text) - 1, flags, NULL, 0)

/* Log capture. */
static char g_log[4096];
static void capture(ts_log_level level, const char *msg, void *user) {
    (void)level, (void)user;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
}
static void log_capture(void) {
    g_log[0] = '\0';
    ts_log_set(capture, NULL, TS_LOG_WARN);
}
static void log_restore(void) { ts_log_set(NULL, NULL, TS_LOG_WARN); }

/* ========================================================= load errors */

static void test_no_tokenizer(void **state) {
    (void)state;
    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_int_equal(ts_gguf_writer_set_str(w, "general.architecture", "llama"), TS_OK);
    expect_error(w, TS_ERR_NOT_FOUND, "no tokenizer");
}

static void test_unknown_model(void **state) {
    (void)state;
    ts_gguf_writer *w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert"), TS_OK);
    expect_error(w, TS_ERR_UNSUPPORTED, "'bert' is not supported (known: gpt2, llama)");
    w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.model", 2), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.model");
}

static void test_unknown_pre(void **state) {
    (void)state;
    expect_error(tiny_bpe("no-such-pre"), TS_ERR_UNSUPPORTED, "'no-such-pre' is not supported");
    expect_error(tiny_bpe("no-such-pre"), TS_ERR_UNSUPPORTED,
                 "default, llama3, llama-v3, llama-bpe");
    expect_error(tiny_bpe("no-such-pre"), TS_ERR_UNSUPPORTED, "smollm, qwen2, deepseek-r1-qwen");
    /* a name with a NUL is not cut at the NUL into a known one */
    ts_gguf_writer *w = tiny_bpe(NULL);
    assert_int_equal(ts_gguf_writer_set_strn(w, "tokenizer.ggml.pre", (ts_str){"qwen2\0x", 7}),
                     TS_OK);
    expect_error(w, TS_ERR_UNSUPPORTED, "tokenizer.ggml.pre contains a NUL byte");
    /* an empty name counts as missing: "default", as in llama.cpp */
    w = tiny_bpe("");
    log_capture();
    ts_vocab *v = load_ok(w);
    assert_string_equal(ts_vocab_pre(v), "default");
    ts_vocab_free(v);
    log_restore();
}

static void test_missing_pre_is_default(void **state) {
    (void)state;
    log_capture();
    ts_vocab *v = load_ok(tiny_bpe(NULL));
    log_restore();
    assert_string_equal(ts_vocab_pre(v), "default");
    assert_non_null(strstr(g_log, "tokenizer.ggml.pre is missing, using 'default'"));
    ts_vocab_free(v);
}

static void test_array_lengths(void **state) {
    (void)state;
    ts_gguf_writer *w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32,
                                            k_types, N_TOK - 1),
                     TS_OK);
    expect_error(w, TS_ERR_FORMAT, "has 13 elements for 14 tokens");
    float scores[N_TOK + 1] = {0};
    w = tiny_bpe("gpt-2");
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TS_GGUF_TYPE_FLOAT32, scores, N_TOK + 1),
        TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.scores");
    w = tiny_bpe("gpt-2"); /* wrong element type */
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_FLOAT32, scores, N_TOK),
        TS_OK);
    expect_error(w, TS_ERR_FORMAT, "expected array of int32");
    w = tiny_bpe("gpt-2"); /* tokens not an array of strings */
    assert_int_equal(
        ts_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", TS_GGUF_TYPE_INT32, k_types, N_TOK),
        TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.tokens");
    w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", k_tokens, 0), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "0 tokens");
}

static void test_bad_merges(void **state) {
    (void)state;
    const char *nospace[] = {"a b", "abc"};
    ts_gguf_writer *w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", nospace, 2), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.merges[1]: no space");
    const char *lead[] = {" ab"}; /* the separator is the first space after the first byte */
    w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", lead, 1), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.merges[0]: no space");
    const char *unknown[] = {"a b", "b zz"};
    w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", unknown, 2), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.merges[1]: 'zz' is not a token");
    w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.merges", "a b"), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.merges");
    /* gpt2 without merges at all */
    w = ts_gguf_writer_new();
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), TS_OK);
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", k_tokens, N_TOK), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "tokenizer.ggml.merges is missing");
}

static void test_duplicate_and_empty_tokens(void **state) {
    (void)state;
    const char *dup[] = {"a", "b", "a"};
    ts_gguf_writer *w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", dup, 3), TS_OK);
    ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, k_types, 3);
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", k_merges, 1), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "token 2 repeats the text of token 0");
    /* an empty text is renamed, as llama.cpp does */
    const char *empty[] = {"a", "", "b"};
    w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", empty, 3), TS_OK);
    ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, k_types + 3, 3);
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", k_merges, 1), TS_OK);
    log_capture();
    ts_vocab *v = load_ok(w);
    log_restore();
    ts_str t = ts_vocab_token_text(v, 1);
    assert_int_equal(t.len, 9);
    assert_memory_equal(t.ptr, "[EMPTY_1]", 9);
    assert_non_null(strstr(g_log, "empty token at index 1"));
    ts_vocab_free(v);
}

static void test_special_ids(void **state) {
    (void)state;
    /* out of range: warned and left at the default, as llama.cpp does */
    ts_gguf_writer *w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 99), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu),
                     TS_OK);
    log_capture();
    ts_vocab *v = load_ok(w);
    log_restore();
    assert_int_equal(ts_vocab_eos(v), 11); /* BPE default EOS: 11 (in range here) */
    assert_int_equal(ts_vocab_pad(v), TS_TOKEN_NULL);
    assert_non_null(strstr(g_log, "tokenizer.ggml.eos_token_id = 99 is out of range"));
    ts_vocab_free(v);
    /* a wrong type is an error, as in llama.cpp */
    w = tiny_bpe("gpt-2");
    assert_int_equal(ts_gguf_writer_set_i32(w, "tokenizer.ggml.bos_token_id", 1), TS_OK);
    expect_error(w, TS_ERR_FORMAT, "'tokenizer.ggml.bos_token_id'");
    /* add_bos without a BOS */
    const char *few[] = {"a", "b"};
    w = tiny_bpe("gpt-2");
    assert_int_equal(set_strs(w, "tokenizer.ggml.tokens", few, 2), TS_OK);
    ts_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TS_GGUF_TYPE_INT32, k_types + 3, 2);
    assert_int_equal(set_strs(w, "tokenizer.ggml.merges", k_merges, 1), TS_OK);
    assert_int_equal(ts_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 5), TS_OK);
    assert_int_equal(ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true), TS_OK);
    log_capture();
    expect_error(w, TS_ERR_FORMAT, "add_bos_token is true, but tokenizer.ggml.bos_token_id");
    log_restore();
}

static void test_defaults_and_eog(void **state) {
    (void)state;
    ts_vocab *v = load_ok(tiny_bpe("llama3"));
    assert_int_equal(ts_vocab_get_kind(v), TS_VOCAB_BPE);
    assert_int_equal(ts_vocab_n_tokens(v), N_TOK);
    assert_true(ts_vocab_adds_bos(v)); /* llama3's default */
    assert_false(ts_vocab_adds_eos(v));
    assert_int_equal(ts_vocab_bos(v), 0);
    /* EOT found by text; EOG: EOS and every end marker */
    assert_int_equal(ts_vocab_eot(v), 1);
    assert_true(ts_vocab_is_eog(v, 0));
    assert_true(ts_vocab_is_eog(v, 1));
    assert_false(ts_vocab_is_eog(v, 2));
    assert_false(ts_vocab_is_eog(v, TS_TOKEN_NULL));
    assert_int_equal(ts_vocab_token_type(v, 2), TS_TOKEN_TYPE_USER_DEFINED);
    assert_int_equal(v->nl, 13);
    ts_vocab_free(v);
    ts_gguf_writer *w = tiny_bpe("llama3");
    assert_int_equal(ts_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false), TS_OK);
    v = load_ok(w);
    assert_false(ts_vocab_adds_bos(v)); /* the key wins */
    ts_vocab_free(v);
}

/* ============================================================ tokenize */

static void test_bpe_by_hand(void **state) {
    (void)state;
    ts_vocab *v = load_ok(tiny_bpe("gpt-2"));
    /* "abc": (a,b) rank 0 -> ab; (ab,c) rank 1 -> abc */
    EXPECT(v, "abc", 0, 8);
    /* " abc" is one piece: (a,b) 0 first, then (ab,c) 1; (Ġ,ab) has no merge */
    EXPECT(v, "abc abc", 0, 8, 6, 8);
    /* " a": Ġa */
    EXPECT(v, "a a", 0, 3, 9);
    /* "aaa": (a,a) twice at rank 4, leftmost first */
    EXPECT(v, "aaa", 0, 10, 3);
    /* "bc": merge 3 gives "bc", which is no token: its bytes' one-byte tokens */
    EXPECT(v, "bc", 0, 4, 5);
    /* "ca": no merge; ignore_merges is off for gpt-2 */
    EXPECT(v, "ca", 0, 5, 3);
    /* a character without a token is dropped (llama.cpp's fallback) */
    EXPECT(v, "zaz", 0, 3);
    /* pieces: "a", "!" are split by the pre-tokenizer */
    EXPECT(v, "a!!", 0, 3, 12, 12);
    EXPECT_NONE(v, "", TS_TOKENIZE_ADD_SPECIAL);
    ts_vocab_free(v);

    /* llama3: ignore_merges takes a whole word that is a token */
    v = load_ok(tiny_bpe("llama3"));
    EXPECT(v, "ca", 0, 11);
    EXPECT(v, "ca", TS_TOKENIZE_ADD_SPECIAL, 0, 11);
    EXPECT(v, "", TS_TOKENIZE_ADD_SPECIAL, 0);
    ts_vocab_free(v);
}

static void test_special_partition(void **state) {
    (void)state;
    ts_vocab *v = load_ok(tiny_bpe("gpt-2"));
    /* control tokens only with PARSE_SPECIAL; user-defined ones always */
    EXPECT(v, "a<tool>b", 0, 3, 2, 4);
    EXPECT(v, "a<|im_end|>", TS_TOKENIZE_PARSE_SPECIAL, 3, 1);
    EXPECT(v, "<|im_end|><|endoftext|>a", TS_TOKENIZE_PARSE_SPECIAL, 1, 0, 3);
    /* without it the text is plain: '<', '|', ... have no tokens here */
    EXPECT(v, "a<|im_end|>", 0, 3);
    ts_vocab_free(v);
}

static void test_limits(void **state) {
    (void)state;
    ts_vocab *v = load_ok(tiny_bpe("gpt-2"));
    ts_token *ids = (ts_token *)1;
    size_t n = 1;
    char c = 'a';
    /* over 2^31 bytes: refused before anything is read */
    assert_int_equal(ts_tokenize(v, &c, (size_t)INT32_MAX + 1, 0, &ids, &n), TS_ERR_INVALID_ARG);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_int_equal(ts_tokenize(v, NULL, 0, 0, &ids, &n), TS_OK);
    assert_int_equal(n, 0);
    ts_vocab_free(v);
}

/* ====================================================== pre-tokenizers */

typedef struct pieces {
    char buf[256];
    size_t n;
} pieces;

static ts_status collect(const char *piece, size_t len, void *user) {
    pieces *p = user;
    assert_true(p->n + len + 1 < sizeof p->buf);
    memcpy(p->buf + p->n, piece, len);
    p->n += len;
    p->buf[p->n++] = '|';
    return TS_OK;
}

static void expect_split(const char *pre, const char *text, size_t len, const char *want,
                         size_t want_len) {
    pieces p = {.n = 0};
    assert_int_equal(ts_pretok_split(ts_pretok_find(pre), text, len, collect, &p), TS_OK);
    if (p.n != want_len || memcmp(p.buf, want, want_len) != 0)
        fail_msg("%s: got '%.*s', expected '%.*s'", pre, (int)p.n, p.buf, (int)want_len, want);
}
#define SPLIT(pre, text, want) expect_split(pre, text, sizeof(text) - 1, want, sizeof(want) - 1)

static void test_pretok(void **state) {
    (void)state;
    assert_true(ts_pretok_find("qwen2") >= 0);
    assert_int_equal(ts_pretok_find("nope"), -1);
    SPLIT("gpt-2", "Hello world's  end", "Hello| world|'s| | end|");
    SPLIT("smollm", "abc 1234", "abc| |1|2|3|4|");
    SPLIT("llama3", "abc 12345\n\n x", "abc| |123|45|\n\n| x|");
    SPLIT("qwen2", "I'M 12", "I|'M| |1|2|");
    /* lenient decoding: a truncated sequence is one U+FFFD per byte, an
     * overlong form decodes, a surrogate is kept as its three bytes */
    SPLIT("gpt-2", "\xe4\xb8", "\xef\xbf\xbd\xef\xbf\xbd|");
    SPLIT("gpt-2", "a\xc0\x80", "a|\x00|");
    SPLIT("gpt-2", "\xed\xa0\x80", "\xed\xa0\x80|");
    /* above U+10FFFF (llama.cpp aborts): the lead byte is one U+FFFD */
    SPLIT("gpt-2", "\xf5\x80\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|");
    /* non-ASCII White_Space is whitespace, but only ' ' joins a word */
    SPLIT("gpt-2",
          "a\xe3\x80\x80\xe3\x80\x80"
          "b",
          "a|\xe3\x80\x80|\xe3\x80\x80|b|");
    SPLIT("gpt-2", "a  b", "a| | b|");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_tokenizer),
        cmocka_unit_test(test_unknown_model),
        cmocka_unit_test(test_unknown_pre),
        cmocka_unit_test(test_missing_pre_is_default),
        cmocka_unit_test(test_array_lengths),
        cmocka_unit_test(test_bad_merges),
        cmocka_unit_test(test_duplicate_and_empty_tokens),
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_defaults_and_eog),
        cmocka_unit_test(test_bpe_by_hand),
        cmocka_unit_test(test_special_partition),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_pretok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
