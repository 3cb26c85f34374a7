/*
 * bench_tokenizer.c — throughput of the tokenizer and the detokenizer on
 * the committed vocab-only files (tests/data/tokenizer): byte-level BPE
 * (SmolLM2: pre-tokenizer smollm; Qwen2: qwen2) and SentencePiece (Gemma 3).
 *
 *   bench_tokenizer [-n BYTES] [-r REPEATS] [-d DIR] [VOCAB...]
 *
 * The text is BYTES (default 1 MiB) of deterministic mixed text — English
 * prose, source code, Chinese, emoji (with skin tones, ZWJ sequences and
 * flags), numbers and runs of whitespace — made by a seeded generator, so
 * every run and every machine sees the same bytes. Per vocabulary, each
 * operation runs REPEATS times (default 5) and the best (shortest) run
 * counts, timed with CLOCK_MONOTONIC, one thread:
 *
 *  - tokenize: ts_tokenize of the whole text (no special tokens added or
 *    parsed), one call;
 *  - detokenize: ts_detokenize of those ids, one call;
 *  - stream: ts_detok_push of every id, then ts_detok_flush.
 *
 * MB/s counts the text's bytes (10^6 per MB); Mtok/s tokens. The last
 * column says whether decode(encode(text)) gave the text back.
 */
#include "tessera.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TS_TOKENIZER_DATA_DIR
#define TS_TOKENIZER_DATA_DIR "tests/data/tokenizer"
#endif

#define DEFAULT_BYTES   (1 << 20)
#define DEFAULT_REPEATS 5

static const char *const VOCABS[] = {"smollm2", "qwen2", "gemma3"};
#define N_VOCABS (sizeof VOCABS / sizeof VOCABS[0])

typedef struct bench_opts {
    size_t bytes;
    int repeats;
    const char *dir;
    const char *only[16];
    int n_only;
} bench_opts;

/* ================================================================ helpers */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static const char *pick(uint64_t *s, const char *const *pool, size_t n) {
    return pool[next(s) % n];
}

/* ============================================================ text maker */

static const char *const WORDS[] = {
    "the",          "of",
    "and",          "to",
    "in",           "is",
    "that",         "it",
    "was",          "for",
    "on",           "are",
    "with",         "they",
    "be",           "at",
    "one",          "have",
    "this",         "from",
    "by",           "word",
    "but",          "what",
    "some",         "we",
    "can",          "out",
    "other",        "were",
    "all",          "there",
    "when",         "use",
    "your",         "how",
    "said",         "each",
    "which",        "their",
    "time",         "will",
    "about",        "many",
    "then",         "them",
    "write",        "would",
    "like",         "these",
    "long",         "make",
    "thing",        "see",
    "him",          "two",
    "has",          "look",
    "more",         "day",
    "could",        "come",
    "did",          "number",
    "sound",        "most",
    "people",       "over",
    "know",         "water",
    "than",         "call",
    "first",        "who",
    "may",          "down",
    "side",         "been",
    "now",          "find",
    "Tokenization", "inference",
    "accelerator",  "don't",
    "it's",         "we'll",
    "they've",      "International",
    "Association",  "approximately",
    "nevertheless", "GPU",
    "NPU",
};
static const char *const PUNCT[] = {". ", ", ", "; ", "! ", "? ", ": ", " — ", ".\n\n"};
static const char *const CODE[] = {
    "for (int i = 0; i < n; i++) {\n",
    "    sum += x[i] * w[i];\n",
    "}\n",
    "def forward(self, x):\n",
    "        return self.proj(torch.relu(x))\n",
    "    if (status != TS_OK) return status;\n",
    "#include <stdio.h>\n",
    "let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n",
    "\tfmt.Println(\"hello, world\")\n",
    "SELECT id, name FROM users WHERE age >= 18;\n",
    "const f = (a, b) => a + b; // add\n",
    "    /* shape: (n_layer, d, h*k) */\n",
    "        self.weight = nn.Parameter(torch.zeros(4096, 4096))\n",
    "{\"model\": \"gemma3\", \"n_ctx\": 8192, \"temperature\": 0.7}\n",
};
static const char *const CHINESE[] = {
    "人工智能正在改变世界。",
    "今天天气很好，我们去公园散步吧。",
    "中华人民共和国成立于1949年。",
    "这是一个测试：包括标点符号、数字和英文。",
    "深度学习模型需要大量的计算资源。",
    "我爱北京天安门。",
    "《红楼梦》是中国古典小说。",
    "推理引擎在多种加速器上运行。",
    "语言模型",
    "分词器",
    "吞吐量",
    "你好，世界！",
};
static const char *const EMOJI[] = {
    "😀",
    "😂",
    "👍",
    "👍🏽",
    "👩‍💻",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇺🇸",
    "🇯🇵",
    "🇨🇳",
    "❤️",
    "🎉",
    "🍕",
    "🚀",
    "✨",
    "🤖",
    "🧑🏿‍🤝‍🧑🏻",
};
static const char *const SPACE[] = {" ", "  ", "\n", "\n\n", "\t", "    ", "\n    "};

/* Append a segment of one kind to buf (at most cap bytes in all). */
static size_t add(char *buf, size_t at, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (n > cap - at) n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

/* `len` bytes of mixed text (cut back to a UTF-8 boundary at the end). */
static char *make_text(size_t len, size_t *out_len) {
    char *buf = malloc(len + 1);
    if (!buf) return NULL;
    uint64_t s = UINT64_C(0x2545F4914F6CDD1D);
    size_t at = 0;
    while (at < len) {
        unsigned kind = (unsigned)(next(&s) % 100);
        if (kind < 45) { /* English: a sentence */
            int words = 4 + (int)(next(&s) % 14);
            for (int w = 0; w < words && at < len; w++) {
                at = add(buf, at, len, pick(&s, WORDS, sizeof WORDS / sizeof *WORDS));
                at = add(buf, at, len, w + 1 < words ? " " : pick(&s, PUNCT, 8));
            }
        } else if (kind < 70) { /* code: a few lines */
            for (int l = 0, n = 1 + (int)(next(&s) % 5); l < n; l++)
                at = add(buf, at, len, pick(&s, CODE, sizeof CODE / sizeof *CODE));
        } else if (kind < 88) { /* Chinese */
            for (int p = 0, n = 1 + (int)(next(&s) % 4); p < n; p++)
                at = add(buf, at, len, pick(&s, CHINESE, sizeof CHINESE / sizeof *CHINESE));
        } else if (kind < 95) { /* emoji */
            for (int e = 0, n = 1 + (int)(next(&s) % 4); e < n; e++)
                at = add(buf, at, len, pick(&s, EMOJI, sizeof EMOJI / sizeof *EMOJI));
            at = add(buf, at, len, " ");
        } else if (kind < 98) { /* numbers */
            char num[32];
            snprintf(num, sizeof num, "%llu.%02u ", (unsigned long long)(next(&s) % 10000000),
                     (unsigned)(next(&s) % 100));
            at = add(buf, at, len, num);
        } else {
            at = add(buf, at, len, pick(&s, SPACE, sizeof SPACE / sizeof *SPACE));
        }
    }
    while (at > 0 && ((unsigned char)buf[at - 1] & 0xC0) == 0x80) at--; /* cut sequence */
    if (at > 0 && (unsigned char)buf[at - 1] >= 0xC0) at--;
    buf[at] = '\0';
    *out_len = at;
    return buf;
}

/* ============================================================= the bench */

typedef struct timing {
    double tokenize, detokenize, stream; /* best seconds */
    size_t n_ids;
    bool roundtrip;
} timing;

static bool bench_vocab(const ts_vocab *v, const char *text, size_t len, int repeats, timing *t) {
    *t = (timing){1e30, 1e30, 1e30, 0, false};
    ts_token *ids = NULL;
    for (int r = 0; r < repeats; r++) {
        free(ids);
        size_t n;
        double t0 = now_seconds();
        if (ts_tokenize(v, text, len, 0, &ids, &n) != TS_OK) return false;
        double dt = now_seconds() - t0;
        if (dt < t->tokenize) t->tokenize = dt;
        t->n_ids = n;
    }
    for (int r = 0; r < repeats; r++) {
        char *back;
        size_t back_len;
        double t0 = now_seconds();
        if (ts_detokenize(v, ids, t->n_ids, 0, &back, &back_len) != TS_OK) return false;
        double dt = now_seconds() - t0;
        if (dt < t->detokenize) t->detokenize = dt;
        t->roundtrip = back_len == len && memcmp(back, text, len) == 0;
        free(back);
    }
    for (int r = 0; r < repeats; r++) {
        ts_detok *d;
        if (ts_detok_new(v, 0, &d) != TS_OK) return false;
        const char *out;
        size_t out_len, total = 0;
        double t0 = now_seconds();
        for (size_t i = 0; i < t->n_ids; i++) {
            if (ts_detok_push(d, ids[i], &out, &out_len) != TS_OK) return false;
            total += out_len;
        }
        if (ts_detok_flush(d, &out, &out_len) != TS_OK) return false;
        double dt = now_seconds() - t0;
        total += out_len;
        ts_detok_free(d);
        if (dt < t->stream) t->stream = dt;
        if (total != len) t->roundtrip = false;
    }
    free(ids);
    return true;
}

static ts_vocab *load(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    ts_gguf *g = NULL;
    ts_vocab *v = NULL;
    ts_status st = ts_gguf_open(path, &g);
    if (st == TS_OK) st = ts_vocab_load(g, &v);
    ts_gguf_close(g);
    if (st != TS_OK) fprintf(stderr, "bench_tokenizer: %s: %s\n", path, ts_last_error());
    return v;
}

/* ================================================================== main */

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_tokenizer [-n BYTES] [-r REPEATS] [-d DIR] [VOCAB...]\n"
            "  -n BYTES    bytes of mixed text (default %d)\n"
            "  -r REPEATS  runs per operation; the best counts (default %d)\n"
            "  -d DIR      where VOCAB.gguf files are (default %s)\n"
            "  VOCAB       smollm2, qwen2, gemma3 or any DIR/VOCAB.gguf (default: the three)\n",
            DEFAULT_BYTES, DEFAULT_REPEATS, TS_TOKENIZER_DATA_DIR);
}

static bool parse_count(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 1) return false;
    *out = v;
    return true;
}

/* 0 ok, -1 help shown, else the exit status. */
static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){
        .bytes = DEFAULT_BYTES, .repeats = DEFAULT_REPEATS, .dir = TS_TOKENIZER_DATA_DIR};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "-r") == 0) && i + 1 < argc &&
                   parse_count(argv[i + 1], &v)) {
            if (a[1] == 'n') o->bytes = v > (1LL << 30) ? (size_t)1 << 30 : (size_t)v;
            if (a[1] == 'r') o->repeats = v > 1000 ? 1000 : (int)v;
            i++;
        } else if (strcmp(a, "-d") == 0 && i + 1 < argc) {
            o->dir = argv[++i];
        } else if (a[0] != '-' && o->n_only < 16) {
            o->only[o->n_only++] = a;
        } else {
            fprintf(stderr, "bench_tokenizer: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    size_t len;
    char *text = make_text(o.bytes, &len);
    if (!text) {
        fprintf(stderr, "bench_tokenizer: out of memory for %zu bytes\n", o.bytes);
        return 1;
    }
    const char *const *names = o.n_only ? o.only : VOCABS;
    int n_names = o.n_only ? o.n_only : (int)N_VOCABS;
    printf("tokenizer, one thread: %zu bytes of mixed text (English, code, Chinese, emoji), "
           "best of %d runs\nMB/s: text bytes (10^6/s); Mtok/s: tokens (10^6/s)\n\n",
           len, o.repeats);
    printf("%-10s %-4s %9s %7s  %18s  %18s  %8s\n", "", "", "", "bytes/", "---- tokenize ----",
           "--- detokenize ---", "-stream-");
    printf("%-10s %-4s %9s %7s  %9s %8s  %9s %8s  %8s  %s\n", "vocab", "kind", "tokens", "token",
           "MB/s", "Mtok/s", "MB/s", "Mtok/s", "Mtok/s", "roundtrip");
    for (int i = 0; i < n_names && rc == 0; i++) {
        ts_vocab *v = load(o.dir, names[i]);
        if (!v) {
            rc = 1;
            break;
        }
        timing t;
        if (!bench_vocab(v, text, len, o.repeats, &t)) {
            fprintf(stderr, "bench_tokenizer: %s: %s\n", names[i], ts_last_error());
            rc = 1;
        } else {
            double mb = (double)len / 1e6, mt = (double)t.n_ids / 1e6;
            printf("%-10s %-4s %9zu %7.2f  %9.2f %8.3f  %9.1f %8.2f  %8.2f  %s\n", names[i],
                   ts_vocab_get_kind(v) == TS_VOCAB_SPM ? "SPM" : "BPE", t.n_ids,
                   (double)len / (double)(t.n_ids ? t.n_ids : 1), mb / t.tokenize, mt / t.tokenize,
                   mb / t.detokenize, mt / t.detokenize, mt / t.stream,
                   t.roundtrip ? "exact" : "differs");
            fflush(stdout);
        }
        ts_vocab_free(v);
    }
    free(text);
    return rc;
}
