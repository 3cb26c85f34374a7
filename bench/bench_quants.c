/*
 * bench_quants.c — throughput of the reference kernels of tessera/quant.h,
 * per type: dequantize (row → floats), vec_dot (row · an activation row of
 * the type's dot type, as a matrix-vector product does) and quantize
 * (floats → row).
 *
 *   bench_quants [-n VALUES] [-k ROW] [-r REPEATS] [TYPE...]
 *
 * Each operation runs over the same VALUES random values (rows of ROW
 * values; defaults 4 Mi and 4096: a few MB of quantized input) REPEATS
 * times; the best (shortest) run counts, timed with CLOCK_MONOTONIC.
 * Throughput is given as GB/s of the type's bytes (the quantized input of
 * dequantize and vec_dot, the output of quantize) and millions of values
 * per second. These are the plain reference paths, single-threaded: a
 * floor that faster kernels are measured against, not a peak.
 *
 * Legend: r = rows, k = values per row, n = r·k.
 */
#include "tessera.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_VALUES  (INT64_C(1) << 22)
#define DEFAULT_ROW     4096 /* a multiple of every block size (256 at most) */
#define DEFAULT_REPEATS 5

typedef struct bench_opts {
    int64_t n, k;
    int repeats;
    bool only[TS_TYPE_COUNT]; /* types named on the command line */
    bool any_only;
} bench_opts;

/* One type's buffers: the float source, its quantized rows, the rows
 * dequantized again, and one activation row of the dot type. */
typedef struct bench_data {
    ts_type type;
    int64_t r, k;
    size_t row_bytes;
    const float *src; /* (r, k) */
    void *q;          /* (r, row_bytes) */
    float *out;       /* (r, k) */
    void *act;        /* (k) values of ts_type_dot_type(type) */
} bench_data;

typedef enum { OP_DEQUANTIZE, OP_VEC_DOT, OP_QUANTIZE, OP_COUNT } bench_op;

static volatile float g_sink; /* keeps vec_dot results alive */

/* ================================================================ helpers */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64* → uniform in (0, 1). */
static double uniform(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return ((double)((*s * UINT64_C(2685821657736338717)) >> 11) + 0.5) / 9007199254740992.0;
}

/* n standard normal values (Box-Muller): weights look roughly like this. */
static void fill_normal(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * UINT64_C(0x9E3779B97F4A7C15) | 1;
    for (int64_t i = 0; i < n; i += 2) {
        double rad = sqrt(-2.0 * log(uniform(&s))), ang = 2.0 * M_PI * uniform(&s);
        x[i] = (float)(rad * cos(ang));
        if (i + 1 < n) x[i + 1] = (float)(rad * sin(ang));
    }
}

/* ============================================================ operations */

static void run_op(const bench_data *d, bench_op op) {
    const char *q = d->q;
    float acc = 0;
    for (int64_t i = 0; i < d->r; i++) {
        switch (op) {
        case OP_DEQUANTIZE:
            ts_dequantize_row(d->type, q + (size_t)i * d->row_bytes, d->out + i * d->k, d->k);
            break;
        case OP_VEC_DOT:
            acc += ts_vec_dot(d->type, q + (size_t)i * d->row_bytes, d->act, d->k);
            break;
        case OP_QUANTIZE:
            ts_quantize_row(d->type, d->src + i * d->k, (char *)d->q + (size_t)i * d->row_bytes,
                            d->k);
            break;
        default:
            break;
        }
    }
    g_sink = acc;
}

/* Shortest of `repeats` runs, in seconds. */
static double best_time(const bench_data *d, bench_op op, int repeats) {
    double best = INFINITY;
    for (int rep = 0; rep < repeats; rep++) {
        double t0 = now_seconds();
        run_op(d, op);
        double t = now_seconds() - t0;
        if (t < best) best = t;
    }
    return best;
}

/* "  GB/s  Melem/s" cells of one operation. */
static void print_rate(const bench_data *d, double seconds) {
    double bytes = (double)d->row_bytes * (double)d->r, values = (double)d->r * (double)d->k;
    printf("  %8.3f %9.1f", bytes / seconds * 1e-9, values / seconds * 1e-6);
}

/* ================================================================= bench */

/* One table line for type t. False when out of memory. */
static bool bench_type(ts_type t, const float *src, const float *act_src, const bench_opts *o) {
    bench_data d = {.type = t, .r = o->n / o->k, .k = o->k, .src = src};
    ts_type dot = ts_type_dot_type(t);
    size_t act_bytes;
    if (!ts_type_row_size(t, d.k, &d.row_bytes) || !ts_type_row_size(dot, d.k, &act_bytes))
        return false; /* k is a multiple of every block size: cannot happen */
    d.q = malloc(d.row_bytes * (size_t)d.r);
    d.out = malloc((size_t)o->n * sizeof *d.out);
    d.act = malloc(act_bytes);
    bool ok = d.q && d.out && d.act;
    if (ok) {
        /* touch every page first: the first run must not pay the faults */
        memset(d.q, 0, d.row_bytes * (size_t)d.r);
        memset(d.out, 0, (size_t)o->n * sizeof *d.out);
        ts_quantize_row(dot, act_src, d.act, d.k);
        double tq = best_time(&d, OP_QUANTIZE, o->repeats); /* also fills d.q */
        double bits = 8.0 * (double)d.row_bytes / (double)d.k;
        printf("%-7s %7.3f", ts_type_name(t), bits);
        print_rate(&d, best_time(&d, OP_DEQUANTIZE, o->repeats));
        if (ts_type_has_vec_dot(t)) {
            printf("  %-5s", ts_type_name(dot));
            print_rate(&d, best_time(&d, OP_VEC_DOT, o->repeats));
        } else {
            printf("  %-5s  %8s %9s", "-", "-", "-");
        }
        print_rate(&d, tq);
        putchar('\n');
        fflush(stdout);
    }
    free(d.q), free(d.out), free(d.act);
    return ok;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench_quants [-n VALUES] [-k ROW] [-r REPEATS] [TYPE...]\n"
            "  -n VALUES   values per operation (default %" PRId64 ")\n"
            "  -k ROW      values per row, a multiple of 256 (default %d)\n"
            "  -r REPEATS  runs per operation; the best counts (default %d)\n"
            "  TYPE        only these types (default: every type with kernels)\n",
            DEFAULT_VALUES, DEFAULT_ROW, DEFAULT_REPEATS);
}

static bool parse_count(const char *s, int64_t min, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) return false;
    *out = v;
    return true;
}

/* 0 ok, else the exit status. */
static int parse_args(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.n = DEFAULT_VALUES, .k = DEFAULT_ROW, .repeats = DEFAULT_REPEATS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        ts_type t;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "-k") == 0 || strcmp(a, "-r") == 0) &&
                   i + 1 < argc && parse_count(argv[i + 1], 1, &v)) {
            if (a[1] == 'n') o->n = v;
            if (a[1] == 'k') o->k = v;
            if (a[1] == 'r') o->repeats = v > 1000 ? 1000 : (int)v;
            i++;
        } else if (a[0] != '-' && ts_type_from_name(a, &t) && ts_type_has_kernels(t)) {
            o->only[t] = o->any_only = true;
        } else {
            fprintf(stderr, "bench_quants: bad argument '%s' (a type needs kernels)\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o->k % 256 != 0 || o->n < o->k) {
        fprintf(stderr, "bench_quants: ROW must be a multiple of 256 and VALUES at least ROW\n");
        return 2;
    }
    o->n -= o->n % o->k; /* whole rows */
    return 0;
}

int main(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    float *src = malloc((size_t)o.n * sizeof *src), *act = malloc((size_t)o.k * sizeof *act);
    if (!src || !act) {
        fprintf(stderr, "bench_quants: out of memory for %" PRId64 " values\n", o.n);
        return 1;
    }
    fill_normal(src, o.n, 1);
    fill_normal(act, o.k, 2);
    printf("reference kernels, one thread: %" PRId64 " values (rows of %" PRId64
           "), best of %d runs\n"
           "GB/s: bytes of the type (dequantize and vec_dot read them, quantize writes "
           "them)\n\n",
           o.n, o.k, o.repeats);
    printf("%15s  %18s  %5s  %18s  %18s\n", "", "dequantize", "", "vec_dot", "quantize");
    printf("%-7s %7s  %8s %9s  %-5s  %8s %9s  %8s %9s\n", "type", "bits/el", "GB/s", "Melem/s",
           "dot", "GB/s", "Melem/s", "GB/s", "Melem/s");
    rc = 0;
    for (int t = 0; t < TS_TYPE_COUNT && rc == 0; t++) {
        if (!ts_type_has_kernels((ts_type)t) || (o.any_only && !o.only[t])) continue;
        if (!bench_type((ts_type)t, src, act, &o)) {
            fprintf(stderr, "bench_quants: out of memory for %s\n", ts_type_name(t));
            rc = 1;
        }
    }
    free(src), free(act);
    return rc;
}
