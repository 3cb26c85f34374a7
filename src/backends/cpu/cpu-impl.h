/*
 * cpu-impl.h — internals of the CPU backend: the per-node compute context
 * the graph loop hands to every kernel, the kernels, and what each needs
 * of the shared work buffer.
 *
 * Every kernel runs on all nth threads of the pool with its own ith and
 * splits its work along output rows only (never along a reduction), so a
 * result is bitwise the same for any thread count and any batch: each
 * output element is computed by exactly one thread, by the same sequence of
 * float operations. A kernel may call cpu_barrier (all threads do) between
 * phases; the graph loop adds one after every node.
 *
 * Work buffer layout for a node: [shared part][per-thread part] × nth, each
 * part a multiple of CPU_ALIGN bytes (see ts_cpu_work_size).
 */
#ifndef TS_CPU_IMPL_H
#define TS_CPU_IMPL_H

#include "core/core-impl.h"
#include "core/threadpool-impl.h"
#include "tessera/backend.h"
#include "tessera/quant.h"

#define CPU_ALIGN 64

typedef struct cpu_path cpu_path;

typedef struct cpu_repacked cpu_repacked;

typedef struct cpu_compute {
    int ith, nth;
    const cpu_path *path; /* the ISA path's kernels */
    const cpu_repacked *repacked; /* the backend's repacked weights */
    size_t repacked_cap;
    ts_threadpool *pool;
    uint8_t *work;      /* the node's work buffer (ts_cpu_work_size bytes) */
    size_t work_shared; /* bytes of the shared part, aligned */
    size_t work_thread; /* bytes of each thread's part, aligned */
} cpu_compute;

static inline void cpu_barrier(const cpu_compute *c) { ts_threadpool_barrier(c->pool); }

/* This thread's part of the work buffer. */
static inline void *cpu_thread_work(const cpu_compute *c) {
    return c->work + c->work_shared + (size_t)c->ith * c->work_thread;
}

/* Rows [*r0, *r1) of n for thread ith of nth: contiguous, sizes differing
 * by at most one. */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    *r0 = n * ith / nth;
    *r1 = n * (ith + 1) / nth;
}

static inline size_t cpu_align(size_t n) { return (n + CPU_ALIGN - 1) & ~(size_t)(CPU_ALIGN - 1); }

/* Element i (dims 1..3) of a tensor's rows: the address of row (i1, i2, i3). */
static inline void *cpu_row(const ts_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
}

/* ---------------------------------------------------------- half tables */

/* fp16 → fp32 for every bit pattern, equal to ts_fp16_to_fp32 (built once
 * by ts_cpu_tables_init). */
extern float ts_cpu_f16_table[1 << 16];
void ts_cpu_tables_init(void);

static inline float cpu_f16(uint16_t h) { return ts_cpu_f16_table[h]; }

/* The scalar path's vector primitives (vec.c; see struct cpu_path). */
float ts_cpu_dot_f16(const uint16_t *x, const uint16_t *y, int64_t n);
float ts_cpu_dot_f32(const float *x, const float *y, int64_t n);
void ts_cpu_mad_f16(float *acc, const uint16_t *v, float p, int64_t n);
void ts_cpu_mad_f32(float *acc, const float *v, float p, int64_t n);
void ts_cpu_softmax(float *p, int64_t n, float scale);
void ts_cpu_silu_mul(float *y, const float *x, const float *g, int64_t n);

/* ----------------------------------------------------------- ISA paths */

/* out[j·out_rs + i] = w row i · x row j, for i < n_rows, j < n_tok: w rows
 * of the weight type (stride w_rs bytes), x rows already converted to its
 * activation type ts_type_dot_type (stride x_rs bytes), K elements each.
 * Every path computes each element bitwise as the reference ts_vec_dot. */
typedef struct cpu_gemm_args {
    const uint8_t *w;
    size_t w_rs;
    const uint8_t *x;
    size_t x_rs;
    float *out;
    size_t out_rs; /* floats */
    int64_t K, n_rows, n_tok;
} cpu_gemm_args;

typedef void (*cpu_gemm_fn)(const cpu_gemm_args *a);

/* A block of queries of one KV head over one attention list (attention.c
 * has the arithmetic): query i reads cells[0 .. len[i]) and writes out[i]. */
#define CPU_ATT_Q 16 /* queries per block, at most */
typedef struct cpu_attend_args {
    const uint8_t *k, *v; /* the KV head's part of cell 0's row in each cache */
    size_t rs;            /* bytes from a cell's row to the next, both caches */
    bool half;            /* F16 caches, else F32 */
    int64_t dim;          /* k: head dim */
    const int32_t *cells; /* the list */
    float scale;
    int nq;
    const float *q[CPU_ATT_Q]; /* (k) each */
    int32_t len[CPU_ATT_Q];    /* 1 ..= max_len */
    int64_t max_len;
    float *out[CPU_ATT_Q];     /* (k) each */
    void *scratch;             /* ts_cpu_attend_scratch(dim, max_len) floats, aligned */
} cpu_attend_args;

typedef void (*cpu_attend_fn)(const cpu_attend_args *a);

/* Floats of scratch a block of head dim k over lists of at most c cells
 * needs (any path): per query its q, o (k each) and weights (c), and 32 K
 * or V rows (k each). */
static inline size_t ts_cpu_attend_scratch(int64_t k, int64_t c) {
    return (size_t)(2 * k + c) * CPU_ATT_Q + 32 * (size_t)k;
}

/* One instruction-set path of the kernels (dispatch.c). Every function
 * computes bitwise what the scalar path's does (vec.c: the reference). */
struct cpu_path {
    const char *name; /* "scalar", "avx2", "avx512", "neon", "dotprod": TESSERA_CPU's values */
    /* The feature this CPU lacks for the path ("AVX-512 VNNI"), NULL when
     * it runs here; NULL function: runs everywhere. */
    const char *(*missing)(void);
    /* By weight type; NULL: the reference (ts_vec_dot per element). */
    cpu_gemm_fn gemm[TS_TYPE_COUNT];
    /* By weight type, on the repacked layout (repack.c): a.w is the first
     * 16-row group of the call (rows from a multiple of 16; a.w_rs, a 16th
     * of a group, is not read).
     * A type with one here is repacked at graph_reserve. */
    cpu_gemm_fn gemm_rp[TS_TYPE_COUNT];
    /* By activation type: x (n floats) → y, as ts_quantize_row; NULL: it. */
    void (*quantize[TS_TYPE_COUNT])(const float *x, void *y, int64_t n);
    /* Vector primitives, all set on every path:
     *   dot_f16, dot_f32: Σ x·y on the contract's TS_LANES partials, as
     *     ts_vec_dot(F16 / F32);
     *   mad_f16, mad_f32: acc[i] = acc[i] + v[i]·p;
     *   softmax: p = softmax(scale·p) as attention.c defines it;
     *   silu_mul: y[i] = x[i] / (1 + ts_expf(−x[i])) · g[i]. */
    float (*dot_f16)(const uint16_t *x, const uint16_t *y, int64_t n);
    float (*dot_f32)(const float *x, const float *y, int64_t n);
    void (*mad_f16)(float *acc, const uint16_t *v, float p, int64_t n);
    void (*mad_f32)(float *acc, const float *v, float p, int64_t n);
    void (*softmax)(float *p, int64_t n, float scale);
    void (*silu_mul)(float *y, const float *x, const float *g, int64_t n);
    /* Fused attention of up to attend_q queries (attention.c); NULL: the
     * reference, one query at a time on the primitives above. */
    cpu_attend_fn attend;
    int attend_q;
    /* A narrower one for runs of at most attend_narrow_q queries per KV
     * head (a generated token's few query heads), where half-empty wide
     * vectors would waste the work; NULL: none. */
    cpu_attend_fn attend_narrow;
    int attend_narrow_q;
};

extern const cpu_path ts_cpu_path_scalar, ts_cpu_path_avx2, ts_cpu_path_avx512;

/* The AVX2 path's fused attention (8 queries), the AVX-512 path's narrow one. */
void ts_cpu_attend_avx2(const cpu_attend_args *a);
extern const cpu_path ts_cpu_path_neon, ts_cpu_path_dotprod; /* ARM64 (arm/) */

/* The selected path (dispatch.c); NULL when TESSERA_CPU asks for one that
 * cannot run (ts_cpu_path_check then gives the error). */
const cpu_path *ts_cpu_path_get(void);
ts_status ts_cpu_path_check(void);

/* The reference attention of a block, one query at a time on vp's
 * primitives (attention.c); a->scratch as ts_cpu_attention_work sizes it. */
void ts_cpu_attend_ref(const cpu_path *vp, const cpu_attend_args *a);

/* The reference: ts_vec_dot per element (any type with a dot product). */
void ts_cpu_gemm_ref(ts_type type, const cpu_gemm_args *a);

/* ----------------------------------------------------------- repacking */

#define TS_RP_ROWS 16 /* rows interleaved in a repacked group */

/* One block of 16 rows of each repacked type (repack.c has the layouts). */
typedef struct rp_q4_0 { /* also IQ4_NL: its nibbles index the levels */
    uint16_t d[TS_RP_ROWS];
    uint8_t qs[4][TS_RP_ROWS][4];
} rp_q4_0;
typedef struct rp_q4_1 {
    uint16_t d[TS_RP_ROWS], m[TS_RP_ROWS];
    uint8_t qs[4][TS_RP_ROWS][4];
} rp_q4_1;
typedef struct rp_q5_0 {
    uint16_t d[TS_RP_ROWS];
    uint64_t qh[4][2];
    uint8_t qs[4][TS_RP_ROWS][4];
} rp_q5_0;
typedef struct rp_q5_1 {
    uint16_t d[TS_RP_ROWS], m[TS_RP_ROWS];
    uint64_t qh[4][2];
    uint8_t qs[4][TS_RP_ROWS][4];
} rp_q5_1;
typedef struct rp_q8_0 {
    uint16_t d[TS_RP_ROWS];
    uint8_t qs[8][TS_RP_ROWS][4];
} rp_q8_0;
typedef struct rp_q2_K {
    uint16_t d[TS_RP_ROWS], dmin[TS_RP_ROWS];
    uint8_t sc[16][TS_RP_ROWS];
    uint8_t qs[16][TS_RP_ROWS][4];
} rp_q2_K;
typedef struct rp_q3_K {
    uint16_t d[TS_RP_ROWS];
    int8_t sc[16][TS_RP_ROWS];
    uint64_t hm[16][4];
    uint8_t qs[16][TS_RP_ROWS][4];
} rp_q3_K;
typedef struct rp_q4_K {
    uint16_t d[TS_RP_ROWS], dmin[TS_RP_ROWS];
    uint8_t sc[8][TS_RP_ROWS], mn[8][TS_RP_ROWS];
    uint8_t qs[4][8][TS_RP_ROWS][4];
} rp_q4_K;
typedef struct rp_q5_K {
    uint16_t d[TS_RP_ROWS], dmin[TS_RP_ROWS];
    uint8_t sc[8][TS_RP_ROWS], mn[8][TS_RP_ROWS];
    uint64_t qh[4][8][2];
    uint8_t qs[4][8][TS_RP_ROWS][4];
} rp_q5_K;
typedef struct rp_q6_K {
    uint16_t d[TS_RP_ROWS];
    int8_t sc[16][TS_RP_ROWS];
    uint8_t q[64][TS_RP_ROWS][4];
} rp_q6_K;

/* Bytes of a (K, m) weight of `type` repacked; 0 for a type with no layout. */
size_t ts_cpu_repack_size(ts_type type, int64_t K, int64_t m);

/* Groups [g0, g1) of w (m rows of K values, stride rs) into out (all of
 * the weight: ts_cpu_repack_size bytes). */
void ts_cpu_repack(ts_type type, const void *w, size_t rs, int64_t K, int64_t m, int64_t g0,
                   int64_t g1, void *out);

/* Row i of a repacked (K, m) weight back in the file's layout: out
 * receives K / block_size blocks of `type` (GET_ROWS of a table that is
 * also a repacked matrix, such as a tied embedding, reads the copy rather
 * than the released file pages). */
void ts_cpu_unpack_row(ts_type type, const void *packed, int64_t K, int64_t i, void *out);

/* A backend's table of repacked weights, open-addressed by data pointer. */
struct cpu_repacked {
    const void *orig; /* the weight's data (NULL: empty slot) */
    void *packed;     /* its repacked copy, owned */
};

/* The copy of the weight whose data is orig, or NULL. */
const void *ts_cpu_repacked_find(const cpu_repacked *tab, size_t cap, const void *orig);

/* Repack w into the table (grown as needed) unless it is there, on the
 * pool's threads, adding its size to *bytes, and release the original's
 * file pages. TS_ERR_NOMEM. */
ts_status ts_cpu_repack_weight(cpu_repacked **tab, size_t *cap, size_t *count, const ts_tensor *w,
                               ts_threadpool *pool, size_t *bytes);

void ts_cpu_repacked_free(cpu_repacked *tab, size_t cap);

/* ------------------------------------------------------------- kernels */

/* Which nodes of g (bound to memory) end at a barrier (cpu.c): sync[i]
 * for every computing node unless the next one is independent of every
 * node since the last barrier (a layer's Q, K and V products; its two cache
 * writes; gate and up): it reads none of their outputs, overwrites none of
 * their inputs or outputs, and neither it nor they use the shared work
 * memory. Which threads compute which rows does not change, so neither
 * does any result. sync has ts_graph_n_nodes(g) entries. */
void ts_cpu_plan_barriers(const ts_graph *g, bool *sync);

/* Work bytes a node needs: *shared once, *per_thread for each thread. */
void ts_cpu_work_size(const ts_node *n, size_t *shared, size_t *per_thread);

/* Whether the kernels run `n`; when not, *why gets a static reason. */
bool ts_cpu_supports(const ts_node *n, const char **why);

void ts_cpu_get_rows(const cpu_compute *c, const ts_node *n);
void ts_cpu_mul_mat(const cpu_compute *c, const ts_node *n);
void ts_cpu_add(const cpu_compute *c, const ts_node *n);
void ts_cpu_mul(const cpu_compute *c, const ts_node *n);
void ts_cpu_rms_norm(const cpu_compute *c, const ts_node *n);
void ts_cpu_rope(const cpu_compute *c, const ts_node *n);
void ts_cpu_attention(const cpu_compute *c, const ts_node *n);
void ts_cpu_swiglu(const cpu_compute *c, const ts_node *n);
void ts_cpu_set_rows(const cpu_compute *c, const ts_node *n);

/* Per-op work needs (used by ts_cpu_work_size). */
void ts_cpu_mul_mat_work(const ts_node *n, size_t *shared, size_t *per_thread);
void ts_cpu_rope_work(const ts_node *n, size_t *shared, size_t *per_thread);
void ts_cpu_attention_work(const ts_node *n, size_t *shared, size_t *per_thread);
void ts_cpu_get_rows_work(const ts_node *n, size_t *shared, size_t *per_thread);

#endif /* TS_CPU_IMPL_H */
