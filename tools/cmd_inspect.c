/*
 * cmd_inspect.c — `tessera inspect FILE.gguf [--json] [--sha256] [--full]`:
 * what a GGUF model holds — its file(s), architecture and hyper-parameters,
 * every metadata key, the tensor table and totals — as text for a person or
 * as one JSON document for a program; and `--dump NAME [--rows R]`: one
 * tensor's values, dequantized by the reference kernels (tessera/quant.h).
 *
 * The file is opened with ts_gguf_open, so a split model reads as one and
 * nothing is shown before the whole set validated. Bytes from the file never
 * reach stdout raw: text output escapes them (cli_print_escaped), JSON output
 * carries them as valid UTF-8 with U+FFFD for ill-formed bytes, as Python's
 * errors="replace" decodes them. The JSON gives every value in full and
 * exactly: f32 values converted to double, 64-bit integers as integers (a
 * uint64 above 2^63-1, which jansson cannot hold, as a decimal string), and
 * non-finite floats as the strings "NaN", "Infinity", "-Infinity".
 */
#include "cli.h"

#include "tessera.h"
#include "tessera/digest.h"

#include <jansson.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ABBREV_ARRAY       8                    /* array elements shown without --full */
#define ABBREV_STRING      100                  /* code points of a string value shown */
#define ABBREV_ELEM_STRING 24                   /* code points of a string array element shown */
#define KEY_WIDTH_MAX      44                   /* widest key column in the metadata listing */
#define PROGRESS_MIN_BYTES (UINT64_C(64) << 20) /* hash progress shown from here */
#define DUMP_ROWS_DEFAULT  4                    /* rows --dump prints without --rows */
#define CLOSE_NAMES_MAX    5                    /* suggestions for an unknown tensor */

typedef struct inspect_opts {
    const char *path;
    bool json, sha256, full;
    const char *dump; /* --dump NAME, or NULL */
    int64_t rows;     /* rows --dump prints; 0: all */
    bool rows_set;
} inspect_opts;

typedef struct type_stat {
    ts_type type;
    uint64_t tensors, elements, bytes;
} type_stat;

/* Everything derived from the handle that both outputs show. */
typedef struct inspect_data {
    const ts_gguf *g;
    inspect_opts opts;
    char (*sha256)[TS_SHA256_HEX_LEN + 1]; /* (n_files), or NULL without --sha256 */
    ts_str arch;                           /* general.architecture; ptr NULL if absent */
    type_stat types[TS_TYPE_COUNT];        /* (n_types), most bytes first */
    size_t n_types;
    uint64_t n_params;
} inspect_data;

/* One metadata scalar, widened: what both outputs format. */
typedef struct scalar {
    enum { SC_UINT, SC_INT, SC_REAL, SC_BOOL } kind;
    uint64_t u;
    int64_t i;
    double d;
    bool is_f32; /* d came from a float32 */
} scalar;

/* ================================================================ values */

static scalar read_scalar(ts_gguf_type t, const void *p) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } x = {0};
    memcpy(&x, p, ts_gguf_type_size(t)); /* one element, whatever its width */
    switch (t) {
    case TS_GGUF_TYPE_UINT8:
        return (scalar){.kind = SC_UINT, .u = x.u8};
    case TS_GGUF_TYPE_UINT16:
        return (scalar){.kind = SC_UINT, .u = x.u16};
    case TS_GGUF_TYPE_UINT32:
        return (scalar){.kind = SC_UINT, .u = x.u32};
    case TS_GGUF_TYPE_UINT64:
        return (scalar){.kind = SC_UINT, .u = x.u64};
    case TS_GGUF_TYPE_INT8:
        return (scalar){.kind = SC_INT, .i = x.i8};
    case TS_GGUF_TYPE_INT16:
        return (scalar){.kind = SC_INT, .i = x.i16};
    case TS_GGUF_TYPE_INT32:
        return (scalar){.kind = SC_INT, .i = x.i32};
    case TS_GGUF_TYPE_INT64:
        return (scalar){.kind = SC_INT, .i = x.i64};
    case TS_GGUF_TYPE_FLOAT32:
        return (scalar){.kind = SC_REAL, .d = x.f32, .is_f32 = true};
    case TS_GGUF_TYPE_FLOAT64:
        return (scalar){.kind = SC_REAL, .d = x.f64};
    case TS_GGUF_TYPE_BOOL:
        return (scalar){.kind = SC_BOOL, .u = x.u8 != 0};
    default:
        assert(!"not a numeric metadata type"); /* the reader checked types */
    }
    return (scalar){.kind = SC_UINT};
}

/* Element i of a numeric array. */
static const void *arr_elem(const ts_gguf_value *v, uint64_t i) {
    return (const char *)v->v.arr.data + i * ts_gguf_type_size(v->v.arr.elem);
}

/* A non-negative integer scalar, whatever its width. */
static bool value_uint(const ts_gguf_value *v, uint64_t *out) {
    if (!v || v->type == TS_GGUF_TYPE_STRING || v->type == TS_GGUF_TYPE_ARRAY) return false;
    scalar s = read_scalar(v->type, &v->v);
    if (s.kind == SC_INT && s.i >= 0) s.kind = SC_UINT, s.u = (uint64_t)s.i;
    *out = s.u;
    return s.kind == SC_UINT;
}

/* The value of "<arch>.<suffix>", or NULL. */
static const ts_gguf_value *arch_kv(const inspect_data *d, const char *suffix) {
    char key[512];
    if (!d->arch.ptr || memchr(d->arch.ptr, '\0', d->arch.len)) return NULL;
    int n = snprintf(key, sizeof key, "%.*s.%s", (int)d->arch.len, d->arch.ptr, suffix);
    if (n < 0 || (size_t)n >= sizeof key) return NULL;
    int64_t i = ts_gguf_find_kv(d->g, key);
    return i < 0 ? NULL : ts_gguf_kv_value(d->g, i);
}

static bool is_arch_key(const inspect_data *d, const char *key) {
    size_t n = d->arch.len;
    return d->arch.ptr && memchr(d->arch.ptr, '\0', n) == NULL &&
           strncmp(key, d->arch.ptr, n) == 0 && key[n] == '.';
}

/* ====================================================== totals, digests */

static int cmp_type_stat(const void *pa, const void *pb) {
    const type_stat *a = pa, *b = pb;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    return (int)a->type - (int)b->type;
}

/* Parameter count and per-type totals. */
static void collect_stats(inspect_data *d) {
    type_stat by_id[TS_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < ts_gguf_n_tensors(d->g); i++) {
        const ts_gguf_tensor_info *t = ts_gguf_tensor(d->g, i);
        uint64_t n = 1;
        for (uint32_t k = 0; k < t->n_dims; k++) n *= (uint64_t)t->ne[k];
        type_stat *s = &by_id[t->type];
        s->type = t->type, s->tensors++, s->elements += n, s->bytes += t->nbytes;
        d->n_params += n;
    }
    d->n_types = 0;
    for (int id = 0; id < TS_TYPE_COUNT; id++)
        if (by_id[id].tensors) d->types[d->n_types++] = by_id[id];
    qsort(d->types, d->n_types, sizeof d->types[0], cmp_type_stat);
}

/* Shows hashing progress for big files: a percentage redrawn in place on a
 * terminal, a line per quarter otherwise (logs stay short). */
typedef struct progress {
    const char *path;
    bool tty;
    int shown; /* last percentage (terminal) or quarter (otherwise) shown */
} progress;

static void show_progress(uint64_t done, uint64_t total, void *user) {
    progress *p = user;
    if (total < PROGRESS_MIN_BYTES) return;
    int pct = done >= total ? 100 : (int)(done / (total / 100 + 1));
    int step = p->tty ? pct : pct / 25;
    if (step == p->shown) return;
    p->shown = step;
    fputs(p->tty ? "\rsha256 " : "sha256 ", stderr);
    cli_print_escaped(stderr, p->path, strlen(p->path), 0, false);
    fprintf(stderr, ": %3d%%", pct);
    if (!p->tty || pct == 100) fputc('\n', stderr);
}

static int compute_digests(inspect_data *d) {
    uint32_t n = ts_gguf_n_files(d->g);
    d->sha256 = calloc(n, sizeof *d->sha256);
    if (!d->sha256) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (uint32_t i = 0; i < n; i++) {
        progress p = {.path = ts_gguf_file_path(d->g, i), .tty = isatty(STDERR_FILENO), .shown = 0};
        ts_status st = ts_sha256_file(p.path, show_progress, &p, d->sha256[i]);
        if (st != TS_OK && p.tty && p.shown > 0 && p.shown < 100) fputc('\n', stderr);
        if (st != TS_OK) return cli_lib_error(st);
    }
    return CLI_EXIT_OK;
}

/* ================================================================== text */

/* Code points in s[0..n) (continuation bytes not counted): its width, near
 * enough to align columns. */
static size_t text_width(const char *s, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

static void print_padded(FILE *f, const char *s, size_t width) {
    size_t n = strlen(s);
    cli_print_escaped(f, s, n, 0, true);
    for (size_t w = text_width(s, n); w < width; w++) fputc(' ', f);
}

/* Shortest %g form (at least 6 digits, so 100000 is not 1e+05) that reads
 * back as the same value. */
static void print_real(FILE *f, double v, bool is_f32) {
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_f32 ? (float)back == (float)v : back == v) break;
    }
    fputs(buf, f);
}

static void print_scalar(FILE *f, scalar s) {
    switch (s.kind) {
    case SC_UINT:
        fprintf(f, "%" PRIu64, s.u);
        break;
    case SC_INT:
        fprintf(f, "%" PRId64, s.i);
        break;
    case SC_REAL:
        print_real(f, s.d, s.is_f32);
        break;
    case SC_BOOL:
        fputs(s.u ? "true" : "false", f);
        break;
    }
}

static void print_string(FILE *f, ts_str s, size_t max_chars) {
    fputc('"', f);
    bool cut = cli_print_escaped(f, s.ptr, s.len, max_chars, true);
    fputc('"', f);
    if (cut) fprintf(f, "... (%zu bytes)", s.len);
}

static void print_array(FILE *f, const ts_gguf_value *v, bool full) {
    uint64_t n = v->v.arr.n, shown = full || n <= ABBREV_ARRAY ? n : ABBREV_ARRAY;
    fputc('[', f);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", f);
        if (v->v.arr.elem == TS_GGUF_TYPE_STRING)
            print_string(f, v->v.arr.strs[i], full ? 0 : ABBREV_ELEM_STRING);
        else
            print_scalar(f, read_scalar(v->v.arr.elem, arr_elem(v, i)));
    }
    if (shown < n) fprintf(f, ", ... (%" PRIu64 " elements)", n);
    fputc(']', f);
}

static void print_kv(FILE *f, const inspect_data *d, int64_t i, size_t key_width) {
    const ts_gguf_value *v = ts_gguf_kv_value(d->g, i);
    char type[32];
    if (v->type == TS_GGUF_TYPE_ARRAY)
        snprintf(type, sizeof type, "array[%s]", ts_gguf_type_name(v->v.arr.elem));
    else
        snprintf(type, sizeof type, "%s", ts_gguf_type_name(v->type));
    fputs("  ", f);
    print_padded(f, ts_gguf_kv_key(d->g, i), key_width);
    fprintf(f, "  %-14s ", type);
    if (v->type == TS_GGUF_TYPE_ARRAY)
        print_array(f, v, d->opts.full);
    else if (v->type == TS_GGUF_TYPE_STRING)
        print_string(f, v->v.str, d->opts.full ? 0 : ABBREV_STRING);
    else
        print_scalar(f, read_scalar(v->type, &v->v));
    fputc('\n', f);
}

/* Width of the key column: the longest key, capped. */
static size_t key_width(const inspect_data *d) {
    size_t w = 0;
    for (int64_t i = 0; i < ts_gguf_n_kv(d->g); i++) {
        const char *k = ts_gguf_kv_key(d->g, i);
        size_t kw = text_width(k, strlen(k));
        if (kw > w) w = kw;
    }
    return w < KEY_WIDTH_MAX ? w : KEY_WIDTH_MAX;
}

/* " (93.8 MiB)" after a byte count, nothing below 1 KiB. */
static void print_human_size(FILE *f, uint64_t n) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = (double)n / 1024;
    if (n < 1024) return;
    int u = 0;
    while (x >= 1024 && u < 5) x /= 1024, u++;
    fprintf(f, " (%.1f %s)", x, units[u]);
}

static void print_files(FILE *f, const inspect_data *d) {
    uint32_t n = ts_gguf_n_files(d->g);
    for (uint32_t i = 0; i < n; i++) {
        const char *path = ts_gguf_file_path(d->g, i);
        uint64_t size = ts_gguf_file_size(d->g, i);
        fprintf(f, "file %" PRIu32 "/%" PRIu32 ": ", i + 1, n);
        cli_print_escaped(f, path, strlen(path), 0, false);
        fprintf(f, "\n  %" PRIu64 " bytes", size);
        print_human_size(f, size);
        fprintf(f, ", GGUF v%" PRIu32 ", data at offset %" PRIu64 "\n", ts_gguf_version(d->g),
                ts_gguf_data_offset(d->g, i));
        if (d->sha256) fprintf(f, "  sha256 %s\n", d->sha256[i]);
    }
    fprintf(f, "alignment: %" PRIu32 "\n", ts_gguf_alignment(d->g));
}

/* ", <label> <value>", or " <label> <value>" as the first item. */
static void print_item(FILE *f, const char *label, uint64_t v, bool *first) {
    fprintf(f, "%s%s %" PRIu64, *first ? " " : ", ", label, v);
    *first = false;
}

/* "llama: 30 blocks, vocabulary 49152, context 8192, embedding 576, heads 9/3";
 * the vocabulary is <arch>.vocab_size, else the number of tokens. */
static void print_summary_line(FILE *f, const inspect_data *d) {
    bool first = true;
    uint64_t v, kv;
    const ts_gguf_value *tokens;
    fputs("  ", f);
    cli_print_escaped(f, d->arch.ptr, d->arch.len, 0, true);
    fputc(':', f);
    if (value_uint(arch_kv(d, "block_count"), &v)) {
        fprintf(f, " %" PRIu64 " blocks", v);
        first = false;
    }
    if (value_uint(arch_kv(d, "vocab_size"), &v))
        print_item(f, "vocabulary", v, &first);
    else if (ts_gguf_get_arr(d->g, "tokenizer.ggml.tokens", TS_GGUF_TYPE_STRING, &tokens) == TS_OK)
        print_item(f, "vocabulary", tokens->v.arr.n, &first);
    if (value_uint(arch_kv(d, "context_length"), &v)) print_item(f, "context", v, &first);
    if (value_uint(arch_kv(d, "embedding_length"), &v)) print_item(f, "embedding", v, &first);
    if (value_uint(arch_kv(d, "attention.head_count"), &v)) {
        print_item(f, "heads", v, &first);
        if (value_uint(arch_kv(d, "attention.head_count_kv"), &kv)) fprintf(f, "/%" PRIu64, kv);
    }
    fputc('\n', f);
}

/* Architecture, its summary and its <arch>.* keys, then all metadata. */
static void print_metadata(FILE *f, const inspect_data *d) {
    size_t width = key_width(d);
    int64_t n_kv = ts_gguf_n_kv(d->g), n_arch = 0;
    if (!d->arch.ptr) {
        fputs("architecture: (general.architecture not set)\n", f);
    } else {
        fputs("architecture: ", f);
        cli_print_escaped(f, d->arch.ptr, d->arch.len, 0, true);
        fputc('\n', f);
        print_summary_line(f, d);
        for (int64_t i = 0; i < n_kv; i++) n_arch += is_arch_key(d, ts_gguf_kv_key(d->g, i));
        fprintf(f, "\nhyper-parameters (%" PRId64 "):\n", n_arch);
        for (int64_t i = 0; i < n_kv; i++)
            if (is_arch_key(d, ts_gguf_kv_key(d->g, i))) print_kv(f, d, i, width);
    }
    fprintf(f, "\nmetadata (%" PRId64 " keys):\n", n_kv);
    for (int64_t i = 0; i < n_kv; i++) print_kv(f, d, i, width);
}

/* "576 x 49152" (ne[0] first), "scalar" for no dimensions. */
static void format_shape(char *buf, size_t size, const ts_gguf_tensor_info *t) {
    size_t o = 0;
    buf[0] = '\0';
    if (t->n_dims == 0) snprintf(buf, size, "scalar");
    for (uint32_t k = 0; k < t->n_dims && o < size; k++) {
        int n = snprintf(buf + o, size - o, k ? " x %" PRId64 : "%" PRId64, t->ne[k]);
        o += n > 0 ? (size_t)n : 0;
    }
}

static void print_tensors(FILE *f, const inspect_data *d) {
    int64_t n = ts_gguf_n_tensors(d->g);
    bool split = ts_gguf_n_files(d->g) > 1;
    size_t width = 4;
    for (int64_t i = 0; i < n; i++) {
        const char *name = ts_gguf_tensor(d->g, i)->name;
        size_t w = text_width(name, strlen(name));
        if (w > width) width = w;
    }
    fprintf(f, "\ntensors (%" PRId64 "):\n  %6s  %-*s  %-7s  %-18s  %12s  %12s%s\n", n, "#",
            (int)width, "name", "type", "shape (ne0 first)", "offset", "bytes",
            split ? "  part" : "");
    for (int64_t i = 0; i < n; i++) {
        const ts_gguf_tensor_info *t = ts_gguf_tensor(d->g, i);
        char shape[128];
        format_shape(shape, sizeof shape, t);
        fprintf(f, "  %6" PRId64 "  ", i);
        print_padded(f, t->name, width);
        fprintf(f, "  %-7s  %-18s  %12" PRIu64 "  %12" PRIu64, ts_type_name(t->type), shape,
                t->offset, t->nbytes);
        if (split) fprintf(f, "  %" PRIu32, t->file + 1);
        fputc('\n', f);
    }
}

static void print_totals(FILE *f, const inspect_data *d) {
    fprintf(f, "\nparameters: %" PRIu64, d->n_params);
    if (d->n_params >= 1000000000)
        fprintf(f, " (%.2f B)", (double)d->n_params / 1e9);
    else if (d->n_params >= 1000000)
        fprintf(f, " (%.2f M)", (double)d->n_params / 1e6);
    fputc('\n', f);
    fprintf(f, "\nbytes per type:\n  %-7s  %8s  %14s  %14s\n", "type", "tensors", "elements",
            "bytes");
    for (size_t i = 0; i < d->n_types; i++) {
        const type_stat *s = &d->types[i];
        fprintf(f, "  %-7s  %8" PRIu64 "  %14" PRIu64 "  %14" PRIu64, ts_type_name(s->type),
                s->tensors, s->elements, s->bytes);
        print_human_size(f, s->bytes);
        fputc('\n', f);
    }
}

static int inspect_text(const inspect_data *d) {
    print_files(stdout, d);
    print_metadata(stdout, d);
    print_tensors(stdout, d);
    print_totals(stdout, d);
    return CLI_EXIT_OK;
}

/* ================================================================== json */

/* o[key] = v, taking v's reference even on failure; false when out of
 * memory (a NULL v is a failure of the call that made it). */
static bool jset(json_t *o, const char *key, json_t *v) {
    return json_object_set_new(o, key, v) == 0;
}

/* A JSON string of the bytes, ill-formed UTF-8 replaced by U+FFFD. */
static json_t *json_bytes(const char *s, size_t n) {
    uint32_t cp;
    size_t i = 0;
    for (int k; i < n && (k = ts_utf8_decode(s + i, n - i, &cp)) > 0;) i += (size_t)k;
    if (i == n) return json_stringn_nocheck(s, n);
    size_t len;
    char *fixed = cli_utf8_replace(s, n, &len);
    json_t *j = fixed ? json_stringn_nocheck(fixed, len) : NULL;
    free(fixed);
    return j;
}

static json_t *json_real_exact(double x) {
    if (isnan(x)) return json_string("NaN");
    if (isinf(x)) return json_string(x > 0 ? "Infinity" : "-Infinity");
    return json_real(x); /* printed with 17 significant digits: reads back exactly */
}

static json_t *json_scalar(scalar s) {
    char buf[24];
    switch (s.kind) {
    case SC_UINT:
        if (s.u <= INT64_MAX) return json_integer((json_int_t)s.u);
        snprintf(buf, sizeof buf, "%" PRIu64, s.u);
        return json_string(buf);
    case SC_INT:
        return json_integer((json_int_t)s.i);
    case SC_REAL:
        return json_real_exact(s.d);
    case SC_BOOL:
        return json_boolean(s.u);
    }
    return NULL;
}

static json_t *json_array_elems(const ts_gguf_value *v) {
    json_t *a = json_array();
    for (uint64_t i = 0; a && i < v->v.arr.n; i++) {
        json_t *e = v->v.arr.elem == TS_GGUF_TYPE_STRING
                        ? json_bytes(v->v.arr.strs[i].ptr, v->v.arr.strs[i].len)
                        : json_scalar(read_scalar(v->v.arr.elem, arr_elem(v, i)));
        if (json_array_append_new(a, e) != 0) json_decref(a), a = NULL;
    }
    return a;
}

/* {"type": ..., ["elem_type": ...,] "value": ...} */
static json_t *json_kv(const ts_gguf_value *v) {
    json_t *o = json_object();
    bool ok = jset(o, "type", json_string(ts_gguf_type_name(v->type)));
    if (v->type == TS_GGUF_TYPE_ARRAY)
        ok = ok && jset(o, "elem_type", json_string(ts_gguf_type_name(v->v.arr.elem))) &&
             jset(o, "value", json_array_elems(v));
    else if (v->type == TS_GGUF_TYPE_STRING)
        ok = ok && jset(o, "value", json_bytes(v->v.str.ptr, v->v.str.len));
    else
        ok = ok && jset(o, "value", json_scalar(read_scalar(v->type, &v->v)));
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* Object keys must be UTF-8 too; repaired keys as in json_bytes. */
static bool jset_key(json_t *o, const char *key, json_t *v) {
    json_t *k = json_bytes(key, strlen(key));
    bool ok =
        k && json_object_setn_new_nocheck(o, json_string_value(k), json_string_length(k), v) == 0;
    if (!k) json_decref(v);
    json_decref(k);
    return ok;
}

static json_t *json_metadata(const ts_gguf *g) {
    json_t *o = json_object();
    for (int64_t i = 0; o && i < ts_gguf_n_kv(g); i++)
        if (!jset_key(o, ts_gguf_kv_key(g, i), json_kv(ts_gguf_kv_value(g, i))))
            json_decref(o), o = NULL;
    return o;
}

static json_t *json_tensor(const ts_gguf_tensor_info *t) {
    json_t *o = json_object(), *shape = json_array();
    for (uint32_t k = 0; shape && k < t->n_dims; k++)
        if (json_array_append_new(shape, json_integer(t->ne[k])) != 0)
            json_decref(shape), shape = NULL;
    bool ok = jset(o, "name", json_bytes(t->name, strlen(t->name))) &&
              jset(o, "type", json_string(ts_type_name(t->type))) &&
              jset(o, "type_id", json_integer(t->type)) && jset(o, "shape", shape) &&
              jset(o, "offset", json_integer((json_int_t)t->offset)) &&
              jset(o, "bytes", json_integer((json_int_t)t->nbytes)) &&
              jset(o, "file", json_integer(t->file));
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_tensors(const ts_gguf *g) {
    json_t *a = json_array();
    for (int64_t i = 0; a && i < ts_gguf_n_tensors(g); i++)
        if (json_array_append_new(a, json_tensor(ts_gguf_tensor(g, i))) != 0)
            json_decref(a), a = NULL;
    return a;
}

static json_t *json_file(const inspect_data *d, uint32_t i) {
    const char *path = ts_gguf_file_path(d->g, i);
    json_t *o = json_object();
    bool ok = jset(o, "path", json_bytes(path, strlen(path))) &&
              jset(o, "size", json_integer((json_int_t)ts_gguf_file_size(d->g, i))) &&
              jset(o, "version", json_integer(ts_gguf_version(d->g))) &&
              jset(o, "data_offset", json_integer((json_int_t)ts_gguf_data_offset(d->g, i))) &&
              (!d->sha256 || jset(o, "sha256", json_string(d->sha256[i])));
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_files(const inspect_data *d) {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < ts_gguf_n_files(d->g); i++)
        if (json_array_append_new(a, json_file(d, i)) != 0) json_decref(a), a = NULL;
    return a;
}

/* {"Q4_1": {"tensors": ..., "elements": ..., "bytes": ...}, ...}, most bytes first. */
static json_t *json_types(const inspect_data *d) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < d->n_types; i++) {
        const type_stat *s = &d->types[i];
        json_t *t = json_object();
        bool ok = jset(t, "tensors", json_integer((json_int_t)s->tensors)) &&
                  jset(t, "elements", json_integer((json_int_t)s->elements)) &&
                  jset(t, "bytes", json_integer((json_int_t)s->bytes));
        if (!ok) json_decref(t), t = NULL;
        if (!jset(o, ts_type_name(s->type), t)) json_decref(o), o = NULL;
    }
    return o;
}

static json_t *json_document(const inspect_data *d) {
    json_t *o = json_object();
    bool ok =
        jset(o, "files", json_files(d)) &&
        jset(o, "alignment", json_integer(ts_gguf_alignment(d->g))) &&
        jset(o, "architecture", d->arch.ptr ? json_bytes(d->arch.ptr, d->arch.len) : json_null()) &&
        jset(o, "metadata", json_metadata(d->g)) && jset(o, "tensors", json_tensors(d->g)) &&
        jset(o, "n_params", json_integer((json_int_t)d->n_params)) &&
        jset(o, "bytes_per_type", json_types(d));
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* One document on stdout; pure ASCII on a terminal, so that no code point
 * from the file can act as a terminal control. */
static int inspect_json(const inspect_data *d) {
    json_t *doc = json_document(d);
    if (!doc) {
        cli_error("out of memory building the JSON document");
        return CLI_EXIT_FAIL;
    }
    size_t flags = JSON_INDENT(2) | (isatty(STDOUT_FILENO) ? JSON_ENSURE_ASCII : 0);
    int rc = json_dumpf(doc, stdout, flags);
    json_decref(doc);
    fputc('\n', stdout);
    if (rc != 0) {
        cli_error("cannot write the JSON document to stdout");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* ================================================================== dump */

/* Edit distance (Levenshtein) from query q to the closest substring of
 * name c when `anywhere`, else to all of c; DIST_CAP for over-long input
 * (tensor names are shorter than TS_MAX_NAME). */
#define DIST_CAP 99

static int edit_distance(const char *q, const char *c, bool anywhere) {
    size_t nq = strlen(q), nc = strlen(c);
    if (nq >= TS_MAX_NAME || nc >= TS_MAX_NAME) return DIST_CAP;
    int row[TS_MAX_NAME + 1]; /* (nc + 1): distance from q[0..i) to c[..j) */
    for (size_t j = 0; j <= nc; j++) row[j] = anywhere ? 0 : (int)j; /* free start in c */
    for (size_t i = 1; i <= nq; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nc; j++) {
            int sub = diag + (q[i - 1] != c[j - 1]), del = row[j] + 1, ins = row[j - 1] + 1;
            diag = row[j];
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    }
    int best = row[nc];
    for (size_t j = 0; anywhere && j < nc; j++) best = row[j] < best ? row[j] : best; /* free end */
    return best;
}

typedef struct close_name {
    int64_t index;
    int score; /* lower is closer */
} close_name;

static int cmp_close_name(const void *pa, const void *pb) {
    const close_name *a = pa, *b = pb;
    if (a->score != b->score) return a->score - b->score;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* How close tensor name `cand` is to what the user typed, lower closer:
 * first how far the query is from a part of the name ("attn_q" is in
 * "blk.0.attn_q.weight"), then from the whole name; -1 when not close (more
 * than a quarter of the query would have to change). */
static int closeness(const char *query, const char *cand) {
    int part = edit_distance(query, cand, true);
    if (part > (int)strlen(query) / 4) return -1;
    return part * (DIST_CAP + 1) + edit_distance(query, cand, false);
}

/* "tessera: FILE: no tensor named 'X'; close names: 'a', 'b'" (or a pointer
 * to the full list), one line on stderr. */
static int unknown_tensor(const ts_gguf *g, const inspect_opts *o) {
    close_name best[CLOSE_NAMES_MAX + 1];
    size_t n = 0, n_close = 0;
    for (int64_t i = 0; i < ts_gguf_n_tensors(g); i++) {
        int score = closeness(o->dump, ts_gguf_tensor(g, i)->name);
        if (score < 0) continue;
        n_close++;
        best[n] = (close_name){i, score}; /* the spare slot when full */
        qsort(best, n + 1, sizeof best[0], cmp_close_name);
        if (n < CLOSE_NAMES_MAX) n++; /* the worst falls off */
    }
    fputs("tessera: ", stderr);
    cli_print_escaped(stderr, o->path, strlen(o->path), 0, false);
    fputs(": no tensor named '", stderr);
    cli_print_escaped(stderr, o->dump, strlen(o->dump), 0, true);
    fputc('\'', stderr);
    for (size_t k = 0; k < n; k++) {
        const char *name = ts_gguf_tensor(g, best[k].index)->name;
        fputs(k ? ", '" : "; close names: '", stderr);
        cli_print_escaped(stderr, name, strlen(name), 0, true);
        fputc('\'', stderr);
    }
    if (n_close > n) fprintf(stderr, " and %zu more", n_close - n);
    if (n == 0) {
        fputs("; see `tessera inspect ", stderr);
        cli_print_escaped(stderr, o->path, strlen(o->path), 0, false);
        fputs("` for the list", stderr);
    }
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

/* Header "NAME  TYPE  SHAPE  (first R of N rows)", then per row "I: v v ...",
 * each value in the shortest form that reads back as the same float. Rows
 * are the tensor's ne1·ne2·ne3 rows of ne0 values, indexed flat. */
static int dump_tensor(const ts_gguf *g, const inspect_opts *o) {
    int64_t i = ts_gguf_find_tensor(g, o->dump);
    if (i < 0) return unknown_tensor(g, o);
    const ts_gguf_tensor_info *t = ts_gguf_tensor(g, i);
    ts_status st = ts_type_check_kernels(t->type, t->name);
    if (st != TS_OK) return cli_lib_error(st);
    int64_t n = t->ne[0], n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    int64_t shown = o->rows == 0 || o->rows > n_rows ? n_rows : o->rows;
    size_t row_bytes;
    bool row_ok = ts_type_row_size(t->type, n, &row_bytes); /* the reader checked the shape */
    assert(row_ok);
    (void)row_ok;
    float *y = malloc((size_t)n * sizeof *y); /* (n) one row */
    if (!y) {
        cli_error("out of memory for a row of %" PRId64 " values", n);
        return CLI_EXIT_FAIL;
    }
    char shape[128];
    format_shape(shape, sizeof shape, t);
    cli_print_escaped(stdout, t->name, strlen(t->name), 0, false);
    printf("  %s  %s  (", ts_type_name(t->type), shape);
    if (shown == n_rows)
        printf("all %" PRId64 " row%s)\n", n_rows, n_rows == 1 ? "" : "s");
    else
        printf("first %" PRId64 " of %" PRId64 " rows)\n", shown, n_rows);
    for (int64_t r = 0; r < shown; r++) {
        ts_dequantize_row(t->type, (const char *)t->data + (size_t)r * row_bytes, y, n);
        printf("%" PRId64 ":", r);
        for (int64_t k = 0; k < n; k++) {
            putchar(' ');
            print_real(stdout, y[k], true);
        }
        putchar('\n');
    }
    free(y);
    return CLI_EXIT_OK;
}

/* ============================================================== command */

static void inspect_usage(FILE *f) {
    fputs("usage: tessera inspect FILE.gguf [--json] [--sha256] [--full]\n"
          "       tessera inspect FILE.gguf --dump NAME [--rows R]\n"
          "\n"
          "Show a GGUF model: its file(s) with size, GGUF version and alignment;\n"
          "architecture and hyper-parameters; every metadata key with its type\n"
          "and value; the tensor table (name, type, shape with ne0 first, offset\n"
          "in the data section, bytes); parameter count and bytes per type.\n"
          "A part of a split model (NAME-00001-of-0000N.gguf) shows all parts.\n"
          "\n"
          "  --json         one JSON document with every value in full: keys files,\n"
          "                 alignment, architecture, metadata (key -> {type,\n"
          "                 [elem_type,] value}), tensors, n_params, bytes_per_type\n"
          "  --sha256       also compute each file's SHA-256 (progress on stderr for\n"
          "                 files of 64 MiB or more)\n"
          "  --full         text output: show arrays and long strings in full\n"
          "  --dump NAME    print tensor NAME's values, dequantized to float32 by the\n"
          "                 reference kernels: a header line (name, type, shape with\n"
          "                 ne0 first, rows shown), then one line per row\n"
          "                 \"INDEX: v v ...\" (rows are ne1*ne2*ne3, indexed flat),\n"
          "                 each value in the shortest form that reads back as the\n"
          "                 same float\n"
          "  --rows R       with --dump: print the first R rows (default 4); 0 or\n"
          "                 `all` for every row\n"
          "  -h, --help     this help\n"
          "\n"
          "exit status: 0 ok, 1 the file is missing, unreadable or not valid GGUF\n"
          "(or, with --dump, no such tensor or a type without kernels), 2 usage error\n",
          f);
}

enum { PARSE_OK, PARSE_HELP, PARSE_BAD };

/* --rows' value: a count >= 0 or "all" (0). */
static bool parse_rows(const char *s, int64_t *out) {
    if (strcmp(s, "all") == 0) {
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!isdigit((unsigned char)s[0]) || errno || *end) return false;
    *out = v;
    return true;
}

/* Checks that hold between options. */
static int check_args(const inspect_opts *o) {
    if (!o->path) {
        cli_error("inspect: no file given");
        return PARSE_BAD;
    }
    if (o->rows_set && !o->dump) {
        cli_error("inspect: --rows goes with --dump");
        return PARSE_BAD;
    }
    if (o->dump && (o->json || o->sha256 || o->full)) {
        cli_error("inspect: --dump does not combine with --json, --sha256 or --full");
        return PARSE_BAD;
    }
    return PARSE_OK;
}

static int parse_args(int argc, char **argv, inspect_opts *o) {
    bool options_done = false;
    o->rows = DUMP_ROWS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (o->path) {
                cli_error("inspect: more than one file given ('%s' and '%s')", o->path, a);
                return PARSE_BAD;
            }
            o->path = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--sha256") == 0) {
            o->sha256 = true;
        } else if (strcmp(a, "--full") == 0) {
            o->full = true;
        } else if (strcmp(a, "--dump") == 0 || strcmp(a, "--rows") == 0) {
            if (i + 1 >= argc) {
                cli_error("inspect: %s needs a value", a);
                return PARSE_BAD;
            }
            const char *v = argv[++i];
            if (a[2] == 'd') {
                o->dump = v;
            } else if (!parse_rows(v, &o->rows)) {
                cli_error("inspect: --rows takes a count >= 0 or 'all', not '%s'", v);
                return PARSE_BAD;
            } else {
                o->rows_set = true;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return PARSE_HELP;
        } else {
            cli_error("inspect: unknown option '%s'", a);
            return PARSE_BAD;
        }
    }
    return check_args(o);
}

/* Digests, statistics, then the chosen output. */
static int inspect_run(inspect_data *d) {
    ts_str arch;
    if (ts_gguf_get_str(d->g, "general.architecture", &arch) == TS_OK) d->arch = arch;
    if (d->opts.sha256) {
        int rc = compute_digests(d);
        if (rc != CLI_EXIT_OK) return rc;
    }
    collect_stats(d);
    int rc = d->opts.json ? inspect_json(d) : inspect_text(d);
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}

int cmd_inspect(int argc, char **argv) {
    inspect_data d = {0};
    switch (parse_args(argc, argv, &d.opts)) {
    case PARSE_HELP:
        inspect_usage(stdout);
        return CLI_EXIT_OK;
    case PARSE_BAD:
        inspect_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    ts_gguf *g = NULL;
    ts_status st = ts_gguf_open(d.opts.path, &g);
    if (st != TS_OK) return cli_lib_error(st);
    d.g = g;
    int rc = d.opts.dump ? dump_tensor(g, &d.opts) : inspect_run(&d);
    if (d.opts.dump && rc == CLI_EXIT_OK && fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        rc = CLI_EXIT_FAIL;
    }
    free(d.sha256);
    ts_gguf_close(g);
    return rc;
}
