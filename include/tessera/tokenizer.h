/*
 * tessera/tokenizer.h — the model's tokenizer, read from GGUF metadata
 * (tokenizer.ggml.*), giving the token ids llama.cpp gives:
 *
 *  - byte-level BPE (tokenizer.ggml.model = "gpt2"): merges by rank over the
 *    byte-to-unicode mapping, after a pre-tokenizer chosen by
 *    tokenizer.ggml.pre (an ordered list of PCRE2 regexes with Unicode
 *    properties);
 *  - SentencePiece (tokenizer.ggml.model = "llama"): score-ordered merges,
 *    U+2581 for spaces, byte-fallback tokens <0xXX>.
 *
 * Control tokens are matched in text only when the caller asks (a rendered
 * chat template); otherwise user text cannot produce them. User-defined
 * tokens (Gemma's runs of spaces, HTML tags) are always matched, as in
 * llama.cpp.
 *
 * Invalid UTF-8, as llama.cpp treats it: for BPE each byte that does not
 * decode becomes one U+FFFD (overlong forms and encoded surrogates are
 * decoded as they are, and code points above U+10FFFF — where llama.cpp
 * aborts — also become U+FFFD per byte); SentencePiece keeps the raw bytes
 * and encodes them as byte-fallback tokens, so they decode back unchanged.
 *
 * Library: libtessera_text (links PCRE2). A vocabulary is read-only once
 * loaded and may be shared by threads.
 */
#ifndef TESSERA_TOKENIZER_H
#define TESSERA_TOKENIZER_H

#include "tessera/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef enum ts_vocab_kind {
    TS_VOCAB_BPE, /* "gpt2" */
    TS_VOCAB_SPM, /* "llama" */
    TS_VOCAB_KIND_COUNT
} ts_vocab_kind;

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
typedef enum ts_token_type {
    TS_TOKEN_TYPE_UNDEFINED = 0,
    TS_TOKEN_TYPE_NORMAL = 1,
    TS_TOKEN_TYPE_UNKNOWN = 2,
    TS_TOKEN_TYPE_CONTROL = 3,
    TS_TOKEN_TYPE_USER_DEFINED = 4,
    TS_TOKEN_TYPE_UNUSED = 5,
    TS_TOKEN_TYPE_BYTE = 6,
    TS_TOKEN_TYPE_COUNT
} ts_token_type;

typedef struct ts_vocab ts_vocab;

/* Load the tokenizer of an open GGUF file (everything is copied: g may be
 * closed afterwards). Returns TS_ERR_NOT_FOUND when the file has no
 * tokenizer, TS_ERR_UNSUPPORTED for an unknown tokenizer.ggml.model or an
 * unknown tokenizer.ggml.pre (the message lists the known ones; a missing
 * pre falls back to "default" with a warning), TS_ERR_FORMAT for
 * inconsistent metadata (array lengths, a merge naming unknown tokens). A
 * special token id out of range is ignored with a warning (the default is
 * kept), as llama.cpp does. Caller frees with ts_vocab_free. */
ts_status ts_vocab_load(const ts_gguf *g, ts_vocab **out);
void ts_vocab_free(ts_vocab *v);

ts_vocab_kind ts_vocab_get_kind(const ts_vocab *v);
/* Name of the pre-tokenizer in use ("smollm", "qwen2", ...; "" for SPM). */
const char *ts_vocab_pre(const ts_vocab *v);
int32_t ts_vocab_n_tokens(const ts_vocab *v);
/* The token's text as stored in the vocabulary (BPE: byte-to-unicode
 * mapped; SPM: with U+2581); borrowed. id must be in range. */
ts_str ts_vocab_token_text(const ts_vocab *v, ts_token id);
ts_token_type ts_vocab_token_type(const ts_vocab *v, ts_token id);

/* Special ids, or TS_TOKEN_NULL. */
ts_token ts_vocab_bos(const ts_vocab *v);
ts_token ts_vocab_eos(const ts_vocab *v);
ts_token ts_vocab_eot(const ts_vocab *v);
ts_token ts_vocab_pad(const ts_vocab *v);
/* Whether tokenize with TS_TOKENIZE_ADD_SPECIAL adds BOS / EOS. */
bool ts_vocab_adds_bos(const ts_vocab *v);
bool ts_vocab_adds_eos(const ts_vocab *v);
/* True for tokens that end generation (EOS, EOT, EOM and the file's other
 * end-of-generation tokens, such as <|im_end|>). */
bool ts_vocab_is_eog(const ts_vocab *v, ts_token id);

/* ------------------------------------------------------------- tokenize */

#define TS_TOKENIZE_ADD_SPECIAL 1u   /* add BOS/EOS as the file asks */
#define TS_TOKENIZE_PARSE_SPECIAL 2u /* match control tokens in the text */

/* Tokenize text[0..len) (any bytes). On success *ids is a malloc'd array
 * of *n_ids tokens (caller frees with free(); NULL when n_ids is 0).
 * Returns TS_ERR_NOMEM, or TS_ERR_INVALID_ARG for text over 2^31 bytes. */
ts_status ts_tokenize(const ts_vocab *v, const char *text, size_t len, unsigned flags,
                      ts_token **ids, size_t *n_ids);

/* ----------------------------------------------------------- detokenize */

#define TS_DETOK_REMOVE_SPECIAL 1u /* drop a leading BOS / trailing EOS the file adds */
#define TS_DETOK_RENDER_SPECIAL 2u /* control tokens give their text (else nothing) */

/* The bytes token `id` stands for (byte-level BPE unmapped, U+2581 as a
 * space, <0xXX> as the byte), written to buf (cap bytes) with its length in
 * *len; a piece may be part of a UTF-8 sequence. TS_ERR_INVALID_ARG for an
 * id out of range or a buf too small (*len then says how much is needed). */
ts_status ts_token_piece(const ts_vocab *v, ts_token id, unsigned flags, char *buf, size_t cap,
                         size_t *len);

/* Whole-sequence detokenization, as llama.cpp's detokenize (including the
 * SPM rule that drops the space the tokenizer added before the first word,
 * which llama.cpp skips when the ids start with BOS). A piece over 1 MiB
 * (only a crafted vocabulary has one) gives TS_ERR_UNSUPPORTED, here and in
 * ts_token_piece and ts_detok_push. *text is malloc'd (NUL-terminated for convenience, may contain
 * any bytes), *len its length; caller frees. */
ts_status ts_detokenize(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags,
                        char **text, size_t *len);

/* Streaming detokenizer: feed tokens one at a time and get back only
 * complete UTF-8 text: a trailing valid prefix of a UTF-8 sequence is held
 * until a later token completes it; bytes that cannot start or continue a
 * sequence are released as they are. The concatenation of everything
 * pushed and flushed equals ts_detokenize of the same ids. */
typedef struct ts_detok ts_detok;
ts_status ts_detok_new(const ts_vocab *v, unsigned flags, ts_detok **out);
void ts_detok_free(ts_detok *d);
/* Push one token; *out / *out_len receive the text released now (borrowed,
 * valid until the next call on d; may be empty). */
ts_status ts_detok_push(ts_detok *d, ts_token id, const char **out, size_t *out_len);
/* End of stream: release what is held, as it is. The next push starts a
 * new stream. */
ts_status ts_detok_flush(ts_detok *d, const char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_TOKENIZER_H */
