/*
 * detok_tool.c — libtessera's detokenizer for test_detok_golden.py, over a
 * line protocol (one request per stdin line, one answer per stdout line;
 * bytes travel as lowercase hex, "" for none):
 *
 *   detok_tool MODEL decode FLAGS [--stream]
 *       in:  token ids, decimal, separated by spaces
 *       out: ts_detokenize(ids, FLAGS) as hex; with --stream also a TAB and
 *            "ok", or "mismatch K" where K is the first split point at which
 *            streaming (pushes of ids[0..K), then flush) differed from
 *            ts_detokenize(ids[0..K)), or where the text released before the
 *            flush was not a prefix of the whole decoding
 *   detok_tool MODEL pieces
 *       out: for every token id: ts_token_piece with flags 0, a TAB, the
 *            piece with TS_DETOK_RENDER_SPECIAL
 *   detok_tool MODEL roundtrip
 *       in:  a text as hex
 *       out: ts_detokenize(ts_tokenize(text, TS_TOKENIZE_ADD_SPECIAL),
 *            TS_DETOK_REMOVE_SPECIAL) as hex
 *
 * A failed call answers "ERR <message>" on its line. Exit status: 0, or 1
 * when the model cannot be loaded, 2 for a bad command line.
 */
#include "tessera/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static void put_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]);
}

/* A whole stdin line, however long; NULL at EOF. */
static char *read_line(char **buf, size_t *cap) {
    return getline(buf, cap, stdin) < 0 ? NULL : *buf;
}

static size_t parse_ids(const char *line, ts_token **ids, size_t *cap) {
    size_t n = 0;
    for (const char *p = line;;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p) break;
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *ids = realloc(*ids, *cap * sizeof **ids);
            if (!*ids) abort();
        }
        (*ids)[n++] = (ts_token)x;
        p = end;
    }
    return n;
}

static size_t parse_hex(const char *line, char *out) {
    size_t n = 0;
    for (const char *p = line; p[0] && p[1] && p[0] != '\n'; p += 2) {
        unsigned x;
        if (sscanf(p, "%2x", &x) != 1) break;
        out[n++] = (char)x;
    }
    return n;
}

/* ------------------------------------------------------------- streaming */

/* Streaming check at every split point k (see the protocol); -1 when all
 * agree, else the first failing k. */
static long stream_check(const ts_vocab *v, const ts_token *ids, size_t n, unsigned flags,
                         const char *whole, size_t whole_len) {
    for (size_t k = 0; k <= n; k++) {
        ts_detok *d;
        if (ts_detok_new(v, flags, &d) != TS_OK) return (long)k;
        char *acc = NULL;
        size_t acc_len = 0, acc_cap = 0;
        bool ok = true;
        const char *out;
        size_t out_len;
        for (size_t i = 0; i <= k && ok; i++) {
            ts_status st = i < k ? ts_detok_push(d, ids[i], &out, &out_len)
                                 : ts_detok_flush(d, &out, &out_len);
            if (st != TS_OK) {
                ok = false;
                break;
            }
            if (acc_len + out_len + 1 > acc_cap) {
                acc_cap = (acc_len + out_len + 1) * 2;
                acc = realloc(acc, acc_cap);
                if (!acc) abort();
            }
            memcpy(acc + acc_len, out, out_len);
            acc_len += out_len;
            /* before the flush, released text is never taken back */
            if (i < k && (acc_len > whole_len || memcmp(acc, whole, acc_len) != 0)) ok = false;
        }
        char *part = NULL;
        size_t part_len = 0;
        if (ok && ts_detokenize(v, ids, k, flags, &part, &part_len) != TS_OK) ok = false;
        if (ok) ok = part_len == acc_len && memcmp(part, acc, acc_len) == 0;
        free(part);
        free(acc);
        ts_detok_free(d);
        if (!ok) return (long)k;
    }
    return -1;
}

/* --------------------------------------------------------------- commands */

static void cmd_decode(const ts_vocab *v, unsigned flags, bool stream) {
    char *line = NULL;
    size_t cap = 0, ids_cap = 0;
    ts_token *ids = NULL;
    while (read_line(&line, &cap)) {
        size_t n = parse_ids(line, &ids, &ids_cap);
        char *text;
        size_t len;
        if (ts_detokenize(v, ids, n, flags, &text, &len) != TS_OK) {
            printf("ERR %s\n", ts_last_error());
            continue;
        }
        put_hex(text, len);
        if (stream) {
            long k = stream_check(v, ids, n, flags, text, len);
            if (k < 0)
                printf("\tok");
            else
                printf("\tmismatch %ld", k);
        }
        putchar('\n');
        free(text);
    }
    free(ids);
    free(line);
}

static void cmd_pieces(const ts_vocab *v) {
    char buf[1 << 16];
    for (ts_token id = 0; id < ts_vocab_n_tokens(v); id++) {
        for (int f = 0; f < 2; f++) {
            size_t n;
            if (ts_token_piece(v, id, f ? TS_DETOK_RENDER_SPECIAL : 0, buf, sizeof buf, &n) !=
                TS_OK) {
                printf("ERR %s", ts_last_error());
                break;
            }
            put_hex(buf, n);
            putchar(f ? '\n' : '\t');
        }
    }
}

static void cmd_roundtrip(const ts_vocab *v) {
    char *line = NULL;
    size_t cap = 0;
    while (read_line(&line, &cap)) {
        char *bytes = malloc(strlen(line) / 2 + 1);
        if (!bytes) abort();
        size_t n = parse_hex(line, bytes);
        ts_token *ids = NULL;
        size_t n_ids = 0;
        char *text = NULL;
        size_t len = 0;
        if (ts_tokenize(v, bytes, n, TS_TOKENIZE_ADD_SPECIAL, &ids, &n_ids) != TS_OK ||
            ts_detokenize(v, ids, n_ids, TS_DETOK_REMOVE_SPECIAL, &text, &len) != TS_OK) {
            printf("ERR %s\n", ts_last_error());
        } else {
            put_hex(text, len);
            putchar('\n');
        }
        free(text);
        free(ids);
        free(bytes);
    }
    free(line);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL decode FLAGS [--stream] | pieces | roundtrip\n", argv[0]);
        return 2;
    }
    ts_gguf *g = NULL;
    ts_vocab *v = NULL;
    ts_status st = ts_gguf_open(argv[1], &g);
    if (st == TS_OK) st = ts_vocab_load(g, &v);
    ts_gguf_close(g);
    if (st != TS_OK) {
        fprintf(stderr, "detok_tool: %s: %s\n", argv[1], ts_last_error());
        return 1;
    }
    int rc = 0;
    if (strcmp(argv[2], "decode") == 0 && argc >= 4)
        cmd_decode(v, (unsigned)atoi(argv[3]), argc > 4 && strcmp(argv[4], "--stream") == 0);
    else if (strcmp(argv[2], "pieces") == 0)
        cmd_pieces(v);
    else if (strcmp(argv[2], "roundtrip") == 0)
        cmd_roundtrip(v);
    else
        rc = 2;
    ts_vocab_free(v);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
