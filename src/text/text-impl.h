/*
 * text-impl.h — internals of the text layer: the loaded vocabulary shared
 * by the BPE and SentencePiece tokenizers, the special-token partition and
 * the detokenizer.
 *
 * Legend: n = tokens in the vocabulary, m = merges.
 */
#ifndef TS_TEXT_IMPL_H
#define TS_TEXT_IMPL_H

#include "core/core-impl.h"
#include "tessera/tokenizer.h"

/* llama.cpp's token attributes (llama_token_attr): the file's token type as
 * a bit, then adjusted at load time as llama.cpp does (EOG-looking tokens
 * gain CONTROL, control tokens named "unused" gain UNUSED, Phi-3 specials
 * gain RSTRIP, ...). The special-token partition and the detokenizer go by
 * these, not by `type` (which is the file's value, for ts_vocab_token_type). */
enum {
    TS_ATTR_UNDEFINED = 0,
    TS_ATTR_UNKNOWN = 1 << 0,
    TS_ATTR_UNUSED = 1 << 1,
    TS_ATTR_NORMAL = 1 << 2,
    TS_ATTR_CONTROL = 1 << 3,
    TS_ATTR_USER_DEFINED = 1 << 4,
    TS_ATTR_BYTE = 1 << 5,
    TS_ATTR_NORMALIZED = 1 << 6,
    TS_ATTR_LSTRIP = 1 << 7,
    TS_ATTR_RSTRIP = 1 << 8,
    TS_ATTR_SINGLE_WORD = 1 << 9,
};

/* A growable token array. */
typedef struct ts_tokbuf {
    ts_token *ids;
    size_t n, cap;
} ts_tokbuf;

ts_status ts_tokbuf_push(ts_tokbuf *b, ts_token id);

struct ts_vocab {
    ts_vocab_kind kind;
    int32_t n_tokens;
    char *pool;        /* all token texts, each NUL-terminated */
    uint32_t *off;     /* (n) offset of token i's text in pool */
    uint32_t *len;     /* (n) its length in bytes */
    float *score;      /* (n) SPM merge scores (0 when absent) */
    uint8_t *type;     /* (n) ts_token_type as in the file (unknown values: UNDEFINED) */
    uint16_t *attr;    /* (n) TS_ATTR_* bits, see above */
    ts_strmap by_text; /* text → id (tokens whose text holds a NUL are absent) */
    ts_token *index;   /* (index_cap) open addressing by text bytes, for ts_vocab_find */
    size_t index_cap;
    int32_t max_token_len; /* bytes of the longest token text */
    int pre;           /* pre-tokenizer index (pretok.c); -1 for SPM */
    bool ignore_merges;    /* BPE: a piece that is a whole token is kept whole */
    bool add_space_prefix; /* SPM: a space before the text (the key also
                            * reaches BPE vocabularies: detokenize reads it) */
    bool clean_spaces;     /* detokenize: llama.cpp's clean_up_tokenization_spaces */
    bool add_bos, add_eos;
    ts_token bos, eos, eot, eom, unk, pad, nl, sep, mask;
    ts_token fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    /* BPE merges by token ids (bpe.c): merge "L R" of rank r is found as
     * (id(L), id(R)) → r and the id of the text LR (or TS_TOKEN_NULL). */
    struct ts_bpe_merge *bpe; /* (bpe_cap) open addressing */
    size_t bpe_cap;
    ts_token byte_char[256];  /* BPE: token of byte b's byte-to-unicode char */
    ts_token byte_raw[256];   /* BPE: token whose text is the one byte b */
    ts_token *eog;     /* (n_eog) end-of-generation tokens */
    int32_t n_eog;
    ts_token *special; /* (n_special) tokens matched as wholes in text,
                        * longest text first (CONTROL, USER_DEFINED, UNKNOWN) */
    int32_t n_special;
};

/* Id of the token whose text is exactly text[0..len) (any bytes, NUL
 * included), or TS_TOKEN_NULL. No allocation; prefer it to by_text. */
ts_token ts_vocab_find(const ts_vocab *v, const char *text, size_t len);

/* Text of token id as a C string (borrowed). */
static inline const char *ts_vocab_cstr(const ts_vocab *v, ts_token id) {
    return v->pool + v->off[id];
}

/* ---------------------------------------------------- tokenizer back-ends */

/* Tokenize a span of plain text (no special tokens in it) and append the
 * ids to out. `first` is true for a span that starts the input or follows
 * a special token (llama.cpp's is_prev_special: SPM adds its space prefix
 * there when v->add_space_prefix). BPE takes any bytes: invalid UTF-8 is
 * decoded as llama.cpp's unicode_cpts_from_utf8 does (see pretok.c). */
ts_status ts_bpe_tokenize(const ts_vocab *v, const char *text, size_t len, ts_tokbuf *out);
ts_status ts_spm_tokenize(const ts_vocab *v, const char *text, size_t len, bool first,
                          ts_tokbuf *out);

/* BPE tables (bpe.c), built by ts_vocab_load once the tokens are known:
 * the merge table from tokenizer.ggml.merges (n strings "L R"; TS_ERR_FORMAT
 * naming the index of a merge without a separating space or naming a text
 * that is no token; a repeated merge keeps its first rank, as llama.cpp)
 * and the per-byte tokens. */
typedef struct ts_bpe_merge {
    ts_token left, right; /* TS_TOKEN_NULL: empty slot */
    int32_t rank;
    ts_token result;
} ts_bpe_merge;
ts_status ts_bpe_build(ts_vocab *v, const ts_str *merges, uint64_t n);

/* ------------------------------------------------------- pre-tokenizers */

/* Index of the pre-tokenizer named `name`, or -1; the list of known names
 * for messages. */
int ts_pretok_find(const char *name);
const char *ts_pretok_name(int pre);
void ts_pretok_known(char *buf, size_t cap);

/* What llama.cpp's vocabulary loader sets for a pre-tokenizer name before
 * reading the file's own keys. */
typedef struct ts_pretok_opts {
    bool ignore_merges; /* llama3 family */
    bool add_bos;       /* default of add_bos (llama3 family) */
    bool clean_spaces;  /* detokenizer cleanup */
    bool no_bos;        /* the default BOS id is none (chatglm) */
} ts_pretok_opts;
const ts_pretok_opts *ts_pretok_opts_of(int pre);

/* Split text (any bytes) into pieces with pre-tokenizer `pre`, as
 * llama.cpp's unicode_regex_split: the bytes are decoded leniently (each
 * invalid byte is one U+FFFD, see pretok.c), then every regex of the list
 * re-splits the pieces of the one before, unmatched spans kept as pieces.
 * emit gets each piece in order as UTF-8 re-encoded from the decoded code
 * points (pieces cover the decoded text exactly; a decoded surrogate is
 * re-encoded as its three bytes, as llama.cpp does). */
typedef ts_status (*ts_piece_fn)(const char *piece, size_t len, void *user);
ts_status ts_pretok_split(int pre, const char *text, size_t len, ts_piece_fn emit, void *user);

#endif /* TS_TEXT_IMPL_H */
