/*
 * generate.c — the generation loop (generate.h).
 *
 * Text: one streaming detokenizer sees the prompt and then every generated
 * token, so its rules (SentencePiece's leading space, the byte-level BPE
 * clean-up) apply as they would to the whole sequence. The prompt's own
 * text — ts_detokenize of the prompt, P bytes — is not streamed: the first
 * P bytes the detokenizer releases are skipped.
 */
#include "generate.h"

#include <stdlib.h>
#include <time.h>

/* ============================================================== helpers */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The detokenizer and the bytes of prompt text still to skip. */
typedef struct stream {
    ts_detok *detok;
    size_t skip;
    const gen_params *p;
} stream;

static bool emit(stream *st, const char *text, size_t len) {
    size_t k = len < st->skip ? len : st->skip;
    st->skip -= k;
    return len == k || st->p->sink(text + k, len - k, st->p->sink_user);
}

static ts_status stream_open(stream *st, const ts_vocab *v, const ts_token *prompt, int32_t n,
                             const gen_params *p) {
    *st = (stream){.p = p};
    char *text = NULL;
    ts_status err = ts_detokenize(v, prompt, (size_t)n, 0, &text, &st->skip);
    free(text);
    if (err == TS_OK) err = ts_detok_new(v, 0, &st->detok);
    for (int32_t i = 0; i < n && err == TS_OK; i++) {
        const char *out;
        size_t len;
        err = ts_detok_push(st->detok, prompt[i], &out, &len);
        if (err == TS_OK) emit(st, out, len); /* prompt text: all skipped */
    }
    return err;
}

static bool stream_push(stream *st, ts_token t) {
    const char *out;
    size_t len;
    return ts_detok_push(st->detok, t, &out, &len) == TS_OK && emit(st, out, len);
}

static bool stream_close(stream *st) {
    const char *out;
    size_t len;
    bool ok = ts_detok_flush(st->detok, &out, &len) == TS_OK && emit(st, out, len);
    ts_detok_free(st->detok);
    return ok;
}

ts_status gen_decode(ts_context *ctx, ts_batch *b, const ts_token *ids, int32_t n, ts_pos pos0) {
    static const ts_seq_id seq0 = 0;
    ts_batch_clear(b);
    for (int32_t i = 0; i < n; i++) {
        ts_status st = ts_batch_add(b, ids[i], pos0 + i, &seq0, 1, i == n - 1);
        if (st != TS_OK) return st;
    }
    return ts_decode(ctx, b);
}

static gen_stop decode_failure(ts_status st) {
    return st == TS_ERR_ABORTED ? GEN_STOP_INTERRUPT : GEN_STOP_DECODE;
}

/* ================================================================= loop */

/* Sample, stream and decode tokens after the prompt, the first at position
 * pos0; the logits of the prompt's last token (row `row` of the last batch)
 * are current. */
static void generate(ts_context *ctx, const ts_vocab *v, ts_sampler *s, ts_batch *b, stream *out,
                     const gen_params *p, ts_pos pos0, int32_t row, gen_result *r) {
    const int32_t n_ctx = (int32_t)ts_context_n_ctx(ctx);
    r->stop = GEN_STOP_LENGTH;
    for (int32_t i = 0; i < p->n_predict; i++) {
        if (p->stop && p->stop(p->stop_user)) {
            r->stop = GEN_STOP_INTERRUPT;
            return;
        }
        ts_token t = ts_sampler_sample(s, ts_get_logits(ctx, row));
        ts_sampler_accept(s, t);
        if (ts_vocab_is_eog(v, t)) {
            r->stop = GEN_STOP_EOG;
            return;
        }
        if (p->generated) p->generated[r->n_generated] = t;
        r->n_generated++;
        if (!stream_push(out, t)) {
            r->stop = GEN_STOP_OUTPUT;
            return;
        }
        if (i + 1 == p->n_predict) return; /* the last token needs no decode */
        const ts_pos pos = pos0 + i;
        if (pos >= n_ctx) {
            r->stop = GEN_STOP_CONTEXT;
            return;
        }
        if ((r->status = gen_decode(ctx, b, &t, 1, pos)) != TS_OK) {
            r->stop = decode_failure(r->status);
            return;
        }
        row = 0;
    }
}

void gen_run(ts_context *ctx, const ts_vocab *v, ts_sampler *s, const ts_token *prompt,
             int32_t n_prompt, const gen_params *p, gen_result *r) {
    *r = (gen_result){.status = TS_OK}; /* n_prompt: set once the prompt is decoded */
    const int32_t n_past = p->n_past, n_new = n_prompt - n_past;
    ts_batch b = {0};
    stream out = {0};
    r->status = ts_batch_init(&b, n_new, 1);
    if (r->status == TS_OK) r->status = stream_open(&out, v, prompt, n_prompt, p);
    if (r->status != TS_OK) {
        r->stop = GEN_STOP_OUTPUT;
        ts_detok_free(out.detok);
        ts_batch_free(&b);
        return;
    }
    for (int32_t i = n_past; i < n_prompt; i++) ts_sampler_accept(s, prompt[i]);

    ts_context_stats before, after;
    ts_context_get_stats(ctx, &before);
    double t0 = now_seconds();
    r->status = gen_decode(ctx, &b, prompt + n_past, n_new, n_past);
    double t1 = now_seconds();
    r->prompt_seconds = t1 - t0;
    if (r->status == TS_OK) {
        ts_context_get_stats(ctx, &after);
        r->n_prompt = (int32_t)(after.n_tokens - before.n_tokens);
        generate(ctx, v, s, &b, &out, p, n_prompt, n_new - 1, r);
        r->generate_seconds = now_seconds() - t1;
    } else {
        r->stop = decode_failure(r->status);
    }
    if (!stream_close(&out) && r->stop != GEN_STOP_DECODE) r->stop = GEN_STOP_OUTPUT;
    ts_batch_free(&b);
}

const char *gen_stop_str(gen_stop stop) {
    switch (stop) {
    case GEN_STOP_LENGTH:
        return "length";
    case GEN_STOP_EOG:
        return "end of generation";
    case GEN_STOP_CONTEXT:
        return "context full";
    case GEN_STOP_INTERRUPT:
        return "interrupted";
    case GEN_STOP_DECODE:
        return "decode error";
    case GEN_STOP_OUTPUT:
        return "output error";
    default:
        return "?";
    }
}
