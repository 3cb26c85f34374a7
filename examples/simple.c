/*
 * simple.c — the smallest complete use of libtessera, through the public
 * header only: load a model, tokenize a prompt, decode it, then generate N
 * tokens greedily, printing the text as it comes.
 *
 *   simple MODEL.gguf [PROMPT] [N]
 */
#include <tessera.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print the text a token adds (the streaming detokenizer holds back an
 * incomplete UTF-8 character until the next token completes it). */
static void print_token(ts_detok *d, ts_token t) {
    const char *text;
    size_t len;
    if (ts_detok_push(d, t, &text, &len) == TS_OK) fwrite(text, 1, len, stdout);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: simple MODEL.gguf [PROMPT] [N]\n");
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "The capital of France is";
    const int n_predict = argc > 3 ? atoi(argv[3]) : 32;
    const ts_seq_id seq = 0;

    ts_model *model = NULL;
    ts_vocab *vocab = NULL;
    ts_context *ctx = NULL;
    ts_sampler *sampler = NULL;
    ts_detok *detok = NULL;
    ts_token *ids = NULL;
    size_t n_ids = 0;
    ts_batch batch = {0};
    ts_sampler_params sp = ts_sampler_default_params();
    sp.temperature = 0; /* greedy: the most likely token each time */

    ts_status st = ts_model_load(argv[1], NULL, &model);
    if (st == TS_OK) st = ts_vocab_load(ts_model_gguf(model), &vocab);
    if (st == TS_OK) /* BOS if the file asks for it; special-token text stays text */
        st = ts_tokenize(vocab, prompt, strlen(prompt), TS_TOKENIZE_ADD_SPECIAL, &ids, &n_ids);
    ts_context_params cp = ts_context_default_params(); /* n_ctx: min(training, 4096) */
    if (st == TS_OK) st = ts_context_new(model, &cp, &ctx);
    if (st == TS_OK) st = ts_sampler_new(&sp, ts_model_n_vocab(model), &sampler);
    if (st == TS_OK) st = ts_detok_new(vocab, 0, &detok);
    if (st == TS_OK) st = ts_batch_init(&batch, n_ids > 0 ? (int32_t)n_ids : 1, 1);

    /* The prompt in one batch, logits for its last token only. */
    for (size_t i = 0; st == TS_OK && i < n_ids; i++) {
        st = ts_batch_add(&batch, ids[i], (ts_pos)i, &seq, 1, i + 1 == n_ids);
        print_token(detok, ids[i]);
    }
    for (int i = 0; st == TS_OK && i < n_predict; i++) {
        if ((st = ts_decode(ctx, &batch)) != TS_OK) break;
        ts_token t = ts_sampler_sample(sampler, ts_get_logits(ctx, batch.n_tokens - 1));
        ts_sampler_accept(sampler, t);
        if (ts_vocab_is_eog(vocab, t)) break;
        print_token(detok, t);
        ts_batch_clear(&batch); /* next: the new token alone, at the next position */
        st = ts_batch_add(&batch, t, (ts_pos)(n_ids + (size_t)i), &seq, 1, true);
    }
    const char *rest;
    size_t len;
    if (detok && ts_detok_flush(detok, &rest, &len) == TS_OK) fwrite(rest, 1, len, stdout);
    putchar('\n');
    if (st != TS_OK) fprintf(stderr, "simple: %s\n", ts_last_error());

    ts_batch_free(&batch);
    ts_detok_free(detok);
    ts_sampler_free(sampler);
    ts_context_free(ctx);
    free(ids);
    ts_vocab_free(vocab);
    ts_model_free(model);
    return st == TS_OK ? 0 : 1;
}
