/*
 * pretok.c — byte-level BPE pre-tokenizers, chosen by tokenizer.ggml.pre,
 * giving the pieces llama.cpp's unicode_regex_split gives.
 *
 * A pre-tokenizer is an ordered list of regexes; the first splits the whole
 * text, each next one re-splits every piece of the one before (the regex
 * sees one piece as its whole subject), and spans no match covers are kept
 * as pieces. The regexes are PCRE2's, compiled once per process.
 *
 * What llama.cpp really does, and how we get the same pieces:
 *
 *  1. Decoding. Bytes become code points with llama.cpp's lenient decoder
 *     (unicode_cpts_from_utf8): a lead byte takes 1–3 continuation bytes by
 *     its bit pattern alone, so overlong forms (C0 80 is U+0000) and
 *     surrogates (ED A0 80 is U+D800) decode; a lead byte without its
 *     continuations, a stray continuation byte or F8–FF is one U+FFFD and
 *     decoding resumes at the next byte (E4 B8 is two U+FFFD). A 4-byte
 *     form above U+10FFFF (F4 90.., F5–F7) makes llama.cpp abort the process
 *     ("invalid codepoint"); here its lead byte is one U+FFFD, like any
 *     other invalid byte.
 *  2. Whitespace. llama.cpp matches \s as ASCII [\t\n\v\f\r ] after mapping
 *     every other Unicode White_Space code point to U+000B (its std::regex
 *     paths do so explicitly; its hand-written GPT-2 and Llama 3 splitters
 *     test the White_Space property, which is the same set). We map the same
 *     way and compile without PCRE2_UCP, so that \s and \S are ASCII-only.
 *  3. Categories. \p{L}, \p{N}, \p{P}, \p{M}, \p{S} are PCRE2's Unicode
 *     properties plus the code points Unicode 15.0 and 15.1 added (llama.cpp
 *     uses its own table of general categories, Unicode 15.1; code points
 *     assigned later are "other" there, and would differ with a PCRE2 built
 *     on Unicode 16 or later).
 *  4. Surrogates are matched as U+FFFF (neither letter, number, mark,
 *     punctuation, symbol nor space in either implementation) and emitted
 *     as their three bytes, as llama.cpp re-encodes them.
 *  5. $ is the end of the piece only (ECMAScript), hence DOLLAR_ENDONLY.
 *
 * Invariants: pieces are code-point ranges [a, b) of the decoded text,
 * strictly increasing, covering it; the match string holds valid UTF-8.
 *
 * Legend: n = code points of the text.
 */
#include "text/text-impl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ====================================================== regex catalogue */

/* clang-format off */

/* Code points Unicode 15.0 and 15.1 assigned, by general category: llama.cpp's
 * table is Unicode 15.1, PCRE2 10.42's is 14.0 (with a newer PCRE2 these
 * are merely redundant). Generated from ICU 72 (Unicode 15.0) and the 15.1
 * additions (CJK extension I, U+2FFC-2FFF, U+31EF); checked against
 * llama.cpp code point by code point. */
#define X_L \
    "\\x{1123F}-\\x{11240}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}" \
    "\\x{1342F}\\x{13441}-\\x{13446}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}" \
    "\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{2B739}\\x{2EBF0}-\\x{2EE5D}" \
    "\\x{31350}-\\x{323AF}"
#define X_N \
    "\\x{11F50}-\\x{11F59}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}"
#define X_P \
    "\\x{11B00}-\\x{11B09}\\x{11F43}-\\x{11F4F}"
#define X_S \
    "\\x{2FFC}-\\x{2FFF}\\x{31EF}\\x{1F6DC}\\x{1F774}-\\x{1F776}" \
    "\\x{1F77B}-\\x{1F77F}\\x{1F7D9}\\x{1FA75}-\\x{1FA77}\\x{1FA87}-\\x{1FA88}" \
    "\\x{1FAAD}-\\x{1FAAF}\\x{1FABB}-\\x{1FABD}\\x{1FABF}\\x{1FACE}-\\x{1FACF}" \
    "\\x{1FADA}-\\x{1FADB}\\x{1FAE8}\\x{1FAF7}-\\x{1FAF8}"
#define X_M \
    "\\x{CF3}\\x{ECE}\\x{10EFD}-\\x{10EFF}\\x{11241}\\x{11F00}-\\x{11F01}" \
    "\\x{11F03}\\x{11F34}-\\x{11F3A}\\x{11F3E}-\\x{11F42}\\x{13440}" \
    "\\x{13447}-\\x{13455}\\x{1E08F}\\x{1E4EC}-\\x{1E4EF}"

/* Class contents (for use inside [...]). */
#define C_L "\\p{L}" X_L
#define C_N "\\p{N}" X_N
#define C_P "\\p{P}" X_P
#define C_S "\\p{S}" X_S
#define C_M "\\p{M}" X_M

/* "'s|'t|...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)", GPT-2's;
 * llama.cpp runs it with a hand-written splitter that also takes \s+. */
#define RX_GPT2 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?[" C_L "]+| ?[" C_N "]+| ?[^\\s" C_L C_N "]+|\\s+(?!\\S)|\\s+"

/* Llama 3's, with the case-insensitive group spelt out (llama.cpp's
 * hand-written splitter lowercases one code point the same way). */
#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3                                                                 \
    RX_CONTRACTIONS "|[^\\r\\n" C_L C_N "]?[" C_L "]+|[" C_N "]{1,3}"                   \
    "| ?[^\\s" C_L C_N "]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                  \
    RX_CONTRACTIONS "|[^\\r\\n" C_L C_N "]?[" C_L "]+|[" C_N "]"                        \
    "| ?[^\\s" C_L C_N "]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* deepseek-llm's cased-letter ranges and CJK ranges, as in its
 * tokenizer.json (written as escapes: several of these code points, such as
 * U+212A KELVIN SIGN, are changed by Unicode normalization). */
#define RX_DS_LETTERS \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}" \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}" \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}" \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}" \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}" \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}" \
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}" \
    "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}" \
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}" \
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}" \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}" \
    "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}" \
    "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}" \
    "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}" \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}" \
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}" \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}" \
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"

#define RX_DS_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/* deepseek-v3's main regex. */
#define RX_DS3                                                                   \
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"                     \
    "|[^\\r\\n" C_L C_P C_S "]?[" C_L C_M "]+"                                     \
    "| ?[" C_P C_S "]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* clang-format on */

enum { MAX_RX = 6 };

typedef struct rx_set {
    const char *rx[MAX_RX]; /* NULL-terminated */
} rx_set;

enum {
    SET_DEFAULT,
    SET_GPT2,
    SET_LLAMA3,
    SET_QWEN2,
    SET_STARCODER,
    SET_FALCON,
    SET_DEEPSEEK_LLM,
    SET_DEEPSEEK_CODER,
    SET_DEEPSEEK3,
    SET_COUNT
};

static const rx_set k_sets[SET_COUNT] = {
    [SET_DEFAULT] = {{"[" C_P "\\$\\+<=>\\^~\\|]+", RX_GPT2, "[" C_N "]+", "[0-9][0-9][0-9]"}},
    [SET_GPT2] = {{RX_GPT2}},
    [SET_LLAMA3] = {{RX_LLAMA3}},
    [SET_QWEN2] = {{RX_QWEN2}},
    [SET_STARCODER] = {{"[" C_N "]", RX_GPT2}},
    [SET_FALCON] = {{"[" C_P "\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    [SET_DEEPSEEK_LLM] =
        {{"[\r\n]", RX_DS_LETTERS,
          "\\s?[!-/"
          ":-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
          "\\s+$", RX_DS_CJK, "[" C_N "]+"}},
    [SET_DEEPSEEK_CODER] = {{"[\r\n]", "\\s?[" C_L "]+", "\\s?[" C_P "]+", RX_DS_CJK, "[" C_N "]"}},
    [SET_DEEPSEEK3] = {{"[" C_N "]{1,3}",
                        "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+", RX_DS3}},
};

/* Names llama.cpp accepts, with the regex set and the options its loader
 * sets for them (llama-vocab.cpp, llama_vocab::impl::load). */
typedef struct pretok_def {
    const char *name;
    int set;
    ts_pretok_opts opts;
} pretok_def;

#define CLEAN                                                                                      \
    { .clean_spaces = true }
#define RAW                                                                                        \
    { .clean_spaces = false }
static const pretok_def k_pretoks[] = {
    {"default", SET_DEFAULT, CLEAN},
    {"llama3", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"llama-v3", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"llama-bpe", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"falcon3", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"falcon-h1", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"pixtral", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"midm-2.0", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"lfm2", SET_LLAMA3, {.ignore_merges = true, .add_bos = true, .clean_spaces = true}},
    {"dbrx", SET_LLAMA3, CLEAN},
    {"smaug-bpe", SET_LLAMA3, CLEAN},
    {"glm4", SET_LLAMA3, {.clean_spaces = true, .no_bos = true}},
    {"chatglm-bpe", SET_LLAMA3, {.clean_spaces = true, .no_bos = true}},
    {"deepseek-llm", SET_DEEPSEEK_LLM, RAW},
    {"deepseek-coder", SET_DEEPSEEK_CODER, RAW},
    {"deepseek-v3", SET_DEEPSEEK3, RAW},
    {"hunyuan-dense", SET_DEEPSEEK3, RAW},
    {"falcon", SET_FALCON, CLEAN},
    {"gpt-2", SET_GPT2, CLEAN},
    {"phi-2", SET_GPT2, CLEAN},
    {"mpt", SET_GPT2, CLEAN},
    {"olmo", SET_GPT2, CLEAN},
    {"jais", SET_GPT2, CLEAN},
    {"gigachat", SET_GPT2, CLEAN},
    {"jina-es", SET_GPT2, CLEAN},
    {"jina-de", SET_GPT2, CLEAN},
    {"jina-v2-es", SET_GPT2, CLEAN},
    {"jina-v2-de", SET_GPT2, CLEAN},
    {"exaone4", SET_GPT2, CLEAN},
    {"trillion", SET_GPT2, RAW},
    {"granite-docling", SET_GPT2, RAW},
    {"starcoder", SET_STARCODER, CLEAN},
    {"refact", SET_STARCODER, CLEAN},
    {"codeshell", SET_STARCODER, CLEAN},
    {"exaone", SET_STARCODER, CLEAN},
    {"minerva-7b", SET_STARCODER, CLEAN},
    {"command-r", SET_STARCODER, RAW},
    {"smollm", SET_STARCODER, RAW},
    {"qwen2", SET_QWEN2, RAW},
    {"deepseek-r1-qwen", SET_QWEN2, RAW},
    {"stablelm2", SET_QWEN2, CLEAN},
    {"megrez", SET_QWEN2, CLEAN},
    {"hunyuan", SET_QWEN2, RAW},
};
#undef CLEAN
#undef RAW
enum { N_PRETOKS = sizeof k_pretoks / sizeof k_pretoks[0] };

/* ============================================================== compile */

static pcre2_code *g_code[SET_COUNT][MAX_RX];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_compile_error[256]; /* "" when every regex compiled */

static void compile_all(void) {
    for (int s = 0; s < SET_COUNT; s++) {
        for (int r = 0; r < MAX_RX && k_sets[s].rx[r]; r++) {
            int err;
            PCRE2_SIZE at;
            pcre2_code *c = pcre2_compile((PCRE2_SPTR)k_sets[s].rx[r], PCRE2_ZERO_TERMINATED,
                                          PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &err, &at, NULL);
            if (!c) {
                char msg[128];
                pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
                snprintf(g_compile_error, sizeof g_compile_error,
                         "pre-tokenizer regex %d.%d at %zu: %s", s, r, (size_t)at, msg);
                return;
            }
            pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* optional: interpreted otherwise */
            g_code[s][r] = c;
        }
    }
}

/* ============================================================== decoding */

/* One code point at s[0..n), n >= 1, as llama.cpp's unicode_cpt_from_utf8;
 * *len receives the bytes consumed. */
static uint32_t decode_lenient(const unsigned char *s, size_t n, size_t *len) {
    int k; /* continuation bytes */
    uint32_t cp;
    if (s[0] < 0x80) return *len = 1, s[0];
    if ((s[0] & 0x40) == 0)
        k = -1;
    else if ((s[0] & 0x20) == 0)
        k = 1, cp = s[0] & 0x1F;
    else if ((s[0] & 0x10) == 0)
        k = 2, cp = s[0] & 0x0F;
    else if ((s[0] & 0x08) == 0)
        k = 3, cp = s[0] & 0x07;
    else
        k = -1;
    if (k < 0 || (size_t)k >= n) return *len = 1, 0xFFFD;
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80) return *len = 1, 0xFFFD;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp > 0x10FFFF) return *len = 1, 0xFFFD; /* llama.cpp aborts here */
    *len = (size_t)k + 1;
    return cp;
}

/* Unicode White_Space (PropList.txt), the set llama.cpp's table holds. */
static bool is_white_space(uint32_t cp) {
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20) return true;
    if (cp < 0x85) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* The code point the regexes see in place of cp (see the header). */
static uint32_t match_cp(uint32_t cp) {
    if (cp >= 0x80 && is_white_space(cp)) return 0x0B;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0xFFFF;
    return cp;
}

/* ================================================================ split */

typedef struct split_state {
    uint32_t *cps; /* (n) decoded text */
    size_t n;
    char *m;      /* match string (UTF-8) */
    size_t *moff; /* (n + 1) byte offset of code point i in m */
    size_t *ends; /* piece ends (code-point indices), increasing */
    size_t n_ends;
    size_t *next; /* the next regex's ends being built */
    size_t n_next;
} split_state;

static void split_free(split_state *s) {
    free(s->cps);
    free(s->m);
    free(s->moff);
    free(s->ends);
    free(s->next);
}

static ts_status split_init(split_state *s, const char *text, size_t len) {
    /* n <= len; every array below holds at most len + 1 entries, and the
     * match string at most 4 bytes per code point */
    if (len > SIZE_MAX / 8 - 1)
        return ts_error(TS_ERR_INVALID_ARG, "pre-tokenizer: text of %zu bytes is too long", len);
    s->cps = malloc((len ? len : 1) * sizeof *s->cps);
    s->moff = malloc((len + 1) * sizeof *s->moff);
    s->ends = malloc((len + 1) * sizeof *s->ends);
    s->next = malloc((len + 1) * sizeof *s->next);
    if (!s->cps || !s->moff || !s->ends || !s->next)
        return ts_error(TS_ERR_NOMEM, "pre-tokenizer: out of memory for %zu bytes", len);
    const unsigned char *t = (const unsigned char *)text;
    size_t mlen = 0;
    for (size_t i = 0, k; i < len; i += k) {
        uint32_t cp = decode_lenient(t + i, len - i, &k);
        uint32_t mc = match_cp(cp);
        s->cps[s->n++] = cp;
        mlen += mc < 0x80 ? 1 : mc < 0x800 ? 2 : mc < 0x10000 ? 3 : 4;
    }
    s->m = malloc(mlen ? mlen : 1);
    if (!s->m) return ts_error(TS_ERR_NOMEM, "pre-tokenizer: out of memory for %zu bytes", mlen);
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->moff[i] = o;
        o += ts_utf8_encode(match_cp(s->cps[i]), s->m + o);
    }
    TS_ASSERT(o == mlen);
    s->moff[s->n] = o;
    if (s->n > 0) s->ends[s->n_ends++] = s->n;
    return TS_OK;
}

/* Code-point index of byte offset `byte` of the match string, which lies
 * on a code-point boundary in [moff[lo], moff[hi]]. */
static size_t cp_at(const split_state *s, size_t lo, size_t hi, size_t byte) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->moff[mid] < byte)
            lo = mid + 1;
        else
            hi = mid;
    }
    TS_ASSERT(s->moff[lo] == byte);
    return lo;
}

static void push_end(split_state *s, size_t end) {
    TS_ASSERT(s->n_next <= s->n && (s->n_next == 0 || s->next[s->n_next - 1] < end));
    s->next[s->n_next++] = end;
}

/* Re-split piece [a, b) with one regex. */
static ts_status split_piece(split_state *s, const pcre2_code *code, pcre2_match_data *md, size_t a,
                             size_t b) {
    const char *subj = s->m + s->moff[a];
    size_t len = s->moff[b] - s->moff[a], off = 0;
    while (off < len) {
        int rc = pcre2_match(code, (PCRE2_SPTR)subj, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char msg[128];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            return ts_error(TS_ERR_UNSUPPORTED, "pre-tokenizer: regex match failed: %s", msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: step over one code point */
            size_t cp = cp_at(s, a, b, s->moff[a] + ms);
            if (cp >= b) break;
            off = s->moff[cp + 1] - s->moff[a];
            continue;
        }
        if (ms > off) push_end(s, cp_at(s, a, b, s->moff[a] + ms)); /* unmatched span */
        push_end(s, cp_at(s, a, b, s->moff[a] + me));
        off = me;
    }
    if (off < len) push_end(s, b);
    return TS_OK;
}

static ts_status split_all(split_state *s, int set) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return ts_error(TS_ERR_NOMEM, "pre-tokenizer: out of memory (match data)");
    ts_status st = TS_OK;
    for (int r = 0; r < MAX_RX && k_sets[set].rx[r] && st == TS_OK; r++) {
        s->n_next = 0;
        for (size_t i = 0, a = 0; i < s->n_ends && st == TS_OK; a = s->ends[i++])
            st = split_piece(s, g_code[set][r], md, a, s->ends[i]);
        size_t *t = s->ends;
        s->ends = s->next, s->n_ends = s->n_next;
        s->next = t;
    }
    pcre2_match_data_free(md);
    return st;
}

/* Emit each piece as the UTF-8 of its decoded code points. */
static ts_status emit_all(const split_state *s, ts_piece_fn emit, void *user) {
    size_t cap = 0;
    for (size_t i = 0, a = 0; i < s->n_ends; a = s->ends[i++])
        if (s->ends[i] - a > cap) cap = s->ends[i] - a;
    char *buf = malloc(cap * 4 + 1); /* cap <= len, checked in split_init */
    if (!buf) return ts_error(TS_ERR_NOMEM, "pre-tokenizer: out of memory");
    ts_status st = TS_OK;
    for (size_t i = 0, a = 0; i < s->n_ends && st == TS_OK; a = s->ends[i++]) {
        size_t o = 0;
        for (size_t c = a; c < s->ends[i]; c++) o += ts_utf8_encode(s->cps[c], buf + o);
        st = emit(buf, o, user);
    }
    free(buf);
    return st;
}

/* ================================================================ public */

int ts_pretok_find(const char *name) {
    for (int i = 0; i < N_PRETOKS; i++)
        if (strcmp(k_pretoks[i].name, name) == 0) return i;
    return -1;
}

const char *ts_pretok_name(int pre) {
    TS_ASSERT(pre >= 0 && pre < N_PRETOKS);
    return k_pretoks[pre].name;
}

const ts_pretok_opts *ts_pretok_opts_of(int pre) {
    TS_ASSERT(pre >= 0 && pre < N_PRETOKS);
    return &k_pretoks[pre].opts;
}

void ts_pretok_known(char *buf, size_t cap) {
    size_t o = 0;
    if (cap == 0) return;
    buf[0] = '\0';
    for (int i = 0; i < N_PRETOKS && o < cap; i++) {
        int k = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", k_pretoks[i].name);
        if (k < 0) break;
        o += (size_t)k;
    }
}

ts_status ts_pretok_split(int pre, const char *text, size_t len, ts_piece_fn emit, void *user) {
    TS_ASSERT(pre >= 0 && pre < N_PRETOKS);
    pthread_once(&g_once, compile_all);
    if (g_compile_error[0]) return ts_error(TS_ERR_UNSUPPORTED, "%s", g_compile_error);
    if (len == 0) return TS_OK;
    split_state s = {0};
    ts_status st = split_init(&s, text, len);
    if (st == TS_OK) st = split_all(&s, k_pretoks[pre].set);
    if (st == TS_OK) st = emit_all(&s, emit, user);
    split_free(&s);
    return st;
}
