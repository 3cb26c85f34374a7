/*
 * tokenize_tool.c — test driver: tokenizes a stream of strings with one
 * vocabulary, in one process, for the golden tests.
 *
 *   tokenize_tool VOCAB.gguf           ids for each record on stdin
 *   tokenize_tool VOCAB.gguf --info    the vocabulary's special ids
 *   tokenize_tool VOCAB.gguf --attrs   each token's attribute bits (TS_ATTR_*,
 *                                      llama.cpp's llama_token_attr), one a line
 *
 * Input records: u32 flags (TS_TOKENIZE_* bits), u32 length (both little
 * endian), then the bytes of the text. For each record, one output line:
 * the ids separated by spaces (an empty line for none), or "ERR <status>
 * <message>". --info prints one line of "key=value" pairs: kind, pre,
 * n_tokens, bos, eos, eot, pad, nl, add_bos, add_eos, eog (ids joined by
 * commas).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text-impl.h"

static int read_u32(FILE *f, uint32_t *v) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static void print_info(const ts_vocab *v) {
    printf("kind=%s pre=%s n_tokens=%d bos=%d eos=%d eot=%d pad=%d nl=%d add_bos=%d "
           "add_eos=%d eog=",
           ts_vocab_get_kind(v) == TS_VOCAB_BPE ? "BPE" : "SPM", ts_vocab_pre(v),
           (int)ts_vocab_n_tokens(v), (int)ts_vocab_bos(v), (int)ts_vocab_eos(v),
           (int)ts_vocab_eot(v), (int)ts_vocab_pad(v), (int)v->nl, ts_vocab_adds_bos(v),
           ts_vocab_adds_eos(v));
    const char *sep = "";
    for (ts_token t = 0; t < ts_vocab_n_tokens(v); t++)
        if (ts_vocab_is_eog(v, t)) printf("%s%d", sep, (int)t), sep = ",";
    printf("\n");
}

static void print_attrs(const ts_vocab *v) {
    for (ts_token t = 0; t < ts_vocab_n_tokens(v); t++) printf("%u\n", (unsigned)v->attr[t]);
}

static int run(const ts_vocab *v) {
    char *buf = NULL;
    size_t cap = 0;
    uint32_t flags, len;
    while (read_u32(stdin, &flags) && read_u32(stdin, &len)) {
        if (len > cap) {
            char *p = realloc(buf, len);
            if (!p) return fprintf(stderr, "tokenize_tool: out of memory\n"), 1;
            buf = p, cap = len;
        }
        if (len && fread(buf, 1, len, stdin) != len)
            return fprintf(stderr, "tokenize_tool: truncated record\n"), free(buf), 1;
        ts_token *ids;
        size_t n;
        ts_status st = ts_tokenize(v, buf, len, flags, &ids, &n);
        if (st != TS_OK) {
            printf("ERR %s %s\n", ts_status_str(st), ts_last_error());
            continue;
        }
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
        free(ids);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 &&
        !(argc == 3 && (strcmp(argv[2], "--info") == 0 || strcmp(argv[2], "--attrs") == 0))) {
        fprintf(stderr, "usage: %s VOCAB.gguf [--info | --attrs] < records\n", argv[0]);
        return 2;
    }
    ts_gguf *g;
    ts_vocab *v = NULL;
    ts_status st = ts_gguf_open(argv[1], &g);
    if (st == TS_OK) {
        st = ts_vocab_load(g, &v);
        ts_gguf_close(g);
    }
    if (st != TS_OK) {
        fprintf(stderr, "tokenize_tool: %s: %s: %s\n", argv[1], ts_status_str(st), ts_last_error());
        return 1;
    }
    int rc = 0;
    if (argc == 3 && strcmp(argv[2], "--info") == 0)
        print_info(v);
    else if (argc == 3)
        print_attrs(v);
    else
        rc = run(v);
    ts_vocab_free(v);
    return rc;
}
