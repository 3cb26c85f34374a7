/*
 * jinja_value.c — template values: construction, reference counting,
 * ordered dicts, Python truthiness, equality and ordering; the public value
 * API of template.h; the byte buffer and the parse arena.
 *
 * Reference counts are atomic so that renders on several threads may share
 * a template's literals and a caller's context. Singletons (none, true,
 * false, a plain undefined) are static and never counted.
 */
#include "text/jinja-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ singletons */

static jv v_none = {.kind = TS_TMPL_KIND_NONE, .flags = JV_STATIC};
static jv v_true = {.kind = TS_TMPL_KIND_BOOL, .flags = JV_STATIC, .u.b = true};
static jv v_false = {.kind = TS_TMPL_KIND_BOOL, .flags = JV_STATIC, .u.b = false};
static jv v_undef = {.kind = JK_UNDEF, .flags = JV_STATIC};

/* ------------------------------------------------------- counting, free */

jv *jv_ref(const jv *v) {
    jv *m = (jv *)v; /* the count is the one mutable part of a shared value */
    if (m && !(m->flags & JV_STATIC)) atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

static void free_contents(jv *v) {
    switch (v->kind) {
    case TS_TMPL_KIND_LIST:
        for (size_t i = 0; i < v->u.list.n; i++) jv_unref(v->u.list.v[i]);
        free(v->u.list.v);
        break;
    case TS_TMPL_KIND_DICT:
    case JK_NS:
        for (size_t i = 0; i < v->u.dict.n; i++) {
            jv_unref(v->u.dict.keys[i]);
            jv_unref(v->u.dict.vals[i]);
        }
        free(v->u.dict.keys);
        free(v->u.dict.vals);
        free(v->u.dict.index);
        break;
    case JK_FUNC:
        jv_unref(v->u.fn.self);
        break;
    case JK_LOOP:
        jv_unref(v->u.loop.items);
        break;
    case JK_UNDEF:
        free(v->u.hint);
        break;
    default:
        break;
    }
}

void jv_unref(jv *v) {
    if (!v || (v->flags & JV_STATIC)) return;
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) return;
    free_contents(v);
    free(v);
}

static jv *alloc_value(uint8_t kind, size_t extra) {
    jv *v = calloc(1, sizeof *v + extra);
    if (!v) return NULL;
    atomic_init(&v->refs, 1);
    v->kind = kind;
    return v;
}

/* ---------------------------------------------------------- constructors */

jv *jv_none(void) { return &v_none; }
jv *jv_bool(bool b) { return b ? &v_true : &v_false; }
jv *jv_undef(void) { return &v_undef; }

jv *jv_undef_hint(const char *fmt, ...) {
    jv *v = alloc_value(JK_UNDEF, 0);
    if (!v) return NULL;
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    v->u.hint = strdup(tmp);
    if (!v->u.hint) {
        free(v);
        return NULL;
    }
    return v;
}

jv *jv_int(int64_t i) {
    jv *v = alloc_value(TS_TMPL_KIND_INT, 0);
    if (v) v->u.i = i;
    return v;
}

jv *jv_float(double f) {
    jv *v = alloc_value(TS_TMPL_KIND_FLOAT, 0);
    if (v) v->u.f = f;
    return v;
}

jv *jv_str(const char *s, size_t n) {
    if (n > SIZE_MAX - sizeof(jv) - 1) return NULL;
    jv *v = alloc_value(TS_TMPL_KIND_STRING, n + 1);
    if (!v) return NULL;
    v->u.s.p = (char *)(v + 1);
    v->u.s.n = n;
    if (n) memcpy(v->u.s.p, s, n);
    v->u.s.p[n] = '\0';
    v->u.s.cp = utf8_count(s, n);
    if (v->u.s.cp == n) v->flags |= JV_ASCII; /* every byte a code point: ASCII or ill-formed */
    return v;
}

jv *jv_list(size_t cap) {
    jv *v = alloc_value(TS_TMPL_KIND_LIST, 0);
    if (!v || !cap) return v;
    v->u.list.v = malloc(cap * sizeof *v->u.list.v);
    if (!v->u.list.v) {
        free(v);
        return NULL;
    }
    v->u.list.cap = cap;
    return v;
}

jv *jv_dict(void) { return alloc_value(TS_TMPL_KIND_DICT, 0); }
jv *jv_ns(void) { return alloc_value(JK_NS, 0); }

jv *jv_func(jfunc_kind fk, int id, jv *self, const jnode *node) {
    jv *v = alloc_value(JK_FUNC, 0);
    if (!v) {
        jv_unref(self);
        return NULL;
    }
    v->u.fn.fk = (uint8_t)fk;
    v->u.fn.id = (uint16_t)id;
    v->u.fn.self = self;
    v->u.fn.node = node;
    return v;
}

jv *jv_loop(jv *items) {
    jv *v = alloc_value(JK_LOOP, 0);
    if (v) v->u.loop.items = jv_ref(items);
    return v;
}

/* ------------------------------------------------------------------ list */

bool jv_list_push(jv *list, jv *item) {
    if (!item) return false;
    if (list->u.list.n == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        jv **nv = cap > SIZE_MAX / sizeof *nv ? NULL : realloc(list->u.list.v, cap * sizeof *nv);
        if (!nv) {
            jv_unref(item);
            return false;
        }
        list->u.list.v = nv;
        list->u.list.cap = cap;
    }
    list->u.list.v[list->u.list.n++] = item;
    return true;
}

/* ------------------------------------------------------------------ dict */

/* Dicts up to this many entries are searched linearly; larger ones keep an
 * open-addressing index so that building and lookup stay linear. */
#define DICT_LINEAR 8

static bool key_eq(const jv *k, const char *s, size_t n) {
    return k->u.s.n == n && memcmp(k->u.s.p, s, n) == 0;
}

/* Entry index of key, or -1; *slot receives the index slot to fill when
 * absent (indexed dicts only). */
static int64_t dict_lookup(const jv *d, const char *s, size_t n, size_t *slot) {
    if (!d->u.dict.index) {
        for (size_t i = 0; i < d->u.dict.n; i++)
            if (key_eq(d->u.dict.keys[i], s, n)) return (int64_t)i;
        return -1;
    }
    size_t mask = d->u.dict.index_cap - 1;
    for (size_t h = ts_hash_bytes(s, n) & mask;; h = (h + 1) & mask) {
        uint32_t e = d->u.dict.index[h];
        if (!e) {
            if (slot) *slot = h;
            return -1;
        }
        if (key_eq(d->u.dict.keys[e - 1], s, n)) return (int64_t)e - 1;
    }
}

static bool dict_reindex(jv *d, size_t cap) {
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return false;
    free(d->u.dict.index);
    d->u.dict.index = idx;
    d->u.dict.index_cap = cap;
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const jv *k = d->u.dict.keys[i];
        size_t h = ts_hash_bytes(k->u.s.p, k->u.s.n) & (cap - 1);
        while (idx[h]) h = (h + 1) & (cap - 1);
        idx[h] = (uint32_t)i + 1;
    }
    return true;
}

static bool dict_grow(jv *d) {
    if (d->u.dict.n >= UINT32_MAX - 1) return false;
    size_t cap = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
    jv **k = realloc(d->u.dict.keys, cap * sizeof *k);
    if (!k) return false;
    d->u.dict.keys = k;
    jv **v = realloc(d->u.dict.vals, cap * sizeof *v);
    if (!v) return false;
    d->u.dict.vals = v;
    d->u.dict.cap = cap;
    return true;
}

bool jv_dict_put(jv *d, const char *s, size_t n, jv *val) {
    if (!val) return false;
    int64_t at = dict_lookup(d, s, n, NULL);
    if (at >= 0) {
        jv_unref(d->u.dict.vals[at]);
        d->u.dict.vals[at] = val;
        return true;
    }
    jv *key = jv_str(s, n);
    if (!key || (d->u.dict.n == d->u.dict.cap && !dict_grow(d))) {
        jv_unref(key);
        jv_unref(val);
        return false;
    }
    size_t i = d->u.dict.n++;
    d->u.dict.keys[i] = key;
    d->u.dict.vals[i] = val;
    /* keep the index at most half full */
    if (d->u.dict.n > DICT_LINEAR && d->u.dict.n * 2 > d->u.dict.index_cap) {
        size_t cap = d->u.dict.index_cap ? d->u.dict.index_cap * 2 : 32;
        if (!dict_reindex(d, cap)) {
            d->u.dict.n--;
            jv_unref(key);
            jv_unref(val);
            return false;
        }
    } else if (d->u.dict.index) {
        size_t mask = d->u.dict.index_cap - 1, h = ts_hash_bytes(s, n) & mask;
        while (d->u.dict.index[h]) h = (h + 1) & mask;
        d->u.dict.index[h] = (uint32_t)i + 1;
    }
    return true;
}

jv *jv_dict_find(const jv *d, const char *s, size_t n) {
    int64_t at = dict_lookup(d, s, n, NULL);
    return at < 0 ? NULL : d->u.dict.vals[at];
}

/* -------------------------------------------------------------- semantics */

bool jv_truthy(const jv *v) {
    switch (v->kind) {
    case TS_TMPL_KIND_NONE:
    case JK_UNDEF:
        return false;
    case TS_TMPL_KIND_BOOL:
        return v->u.b;
    case TS_TMPL_KIND_INT:
        return v->u.i != 0;
    case TS_TMPL_KIND_FLOAT:
        return v->u.f != 0.0;
    case TS_TMPL_KIND_STRING:
        return v->u.s.n != 0;
    case TS_TMPL_KIND_LIST:
        return v->u.list.n != 0;
    case TS_TMPL_KIND_DICT:
        return v->u.dict.n != 0;
    default:
        return true;
    }
}

/* One unit of comparison work plus one per 64 bytes; false when spent. */
static bool spend(uint64_t *budget, size_t bytes) {
    if (!budget) return true;
    uint64_t cost = 1 + bytes / 64;
    if (*budget < cost) {
        *budget = 0;
        return false;
    }
    *budget -= cost;
    return true;
}

static bool dict_equal(const jv *a, const jv *b, int depth, uint64_t *budget) {
    if (a->u.dict.n != b->u.dict.n) return false;
    for (size_t i = 0; i < a->u.dict.n; i++) {
        const jv *k = a->u.dict.keys[i];
        if (!spend(budget, k->u.s.n)) return false;
        const jv *bv = jv_dict_find(b, k->u.s.p, k->u.s.n);
        if (!bv || !jv_equal(a->u.dict.vals[i], bv, depth - 1, budget)) return false;
    }
    return true;
}

bool jv_equal(const jv *a, const jv *b, int depth, uint64_t *budget) {
    if (depth <= 0 || !spend(budget, 0)) return false;
    if (a == b) return true;
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_int(a) && jv_is_int(b)) return jv_int_of(a) == jv_int_of(b);
        return jv_num_of(a) == jv_num_of(b);
    }
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case TS_TMPL_KIND_NONE:
    case JK_UNDEF:
        return true;
    case TS_TMPL_KIND_STRING:
        return a->u.s.n == b->u.s.n && spend(budget, a->u.s.n) &&
               memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case TS_TMPL_KIND_LIST:
        if ((a->flags & JV_TUPLE) != (b->flags & JV_TUPLE)) return false;
        if (a->u.list.n != b->u.list.n) return false;
        for (size_t i = 0; i < a->u.list.n; i++)
            if (!jv_equal(a->u.list.v[i], b->u.list.v[i], depth - 1, budget)) return false;
        return true;
    case TS_TMPL_KIND_DICT:
        return dict_equal(a, b, depth, budget);
    default:
        return false; /* namespaces, functions, loops: identity */
    }
}

static int cmp_num(const jv *a, const jv *b) {
    if (jv_is_int(a) && jv_is_int(b)) {
        int64_t x = jv_int_of(a), y = jv_int_of(b);
        return (x > y) - (x < y);
    }
    double x = jv_num_of(a), y = jv_num_of(b);
    return (x > y) - (x < y); /* nan compares as equal: never sorted by us */
}

bool jv_compare(const jv *a, const jv *b, int *cmp, int depth, uint64_t *budget) {
    if (depth <= 0 || !spend(budget, 0)) return false;
    if (jv_is_num(a) && jv_is_num(b)) {
        *cmp = cmp_num(a, b);
        return true;
    }
    if (jv_is_str(a) && jv_is_str(b)) {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        if (!spend(budget, n)) return false;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (!c) c = (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
        *cmp = (c > 0) - (c < 0);
        return true;
    }
    if (!jv_is_list(a) || !jv_is_list(b) || (a->flags & JV_TUPLE) != (b->flags & JV_TUPLE))
        return false;
    for (size_t i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
        if (jv_equal(a->u.list.v[i], b->u.list.v[i], depth - 1, budget)) continue;
        if (budget && !*budget) return false;
        return jv_compare(a->u.list.v[i], b->u.list.v[i], cmp, depth - 1, budget);
    }
    *cmp = (a->u.list.n > b->u.list.n) - (a->u.list.n < b->u.list.n);
    return true;
}

const char *jv_type_name(const jv *v) {
    switch (v->kind) {
    case TS_TMPL_KIND_NONE:
        return "NoneType object";
    case TS_TMPL_KIND_BOOL:
        return "bool object";
    case TS_TMPL_KIND_INT:
        return "int object";
    case TS_TMPL_KIND_FLOAT:
        return "float object";
    case TS_TMPL_KIND_STRING:
        return "str object";
    case TS_TMPL_KIND_LIST:
        return (v->flags & JV_TUPLE) ? "tuple object" : "list object";
    case TS_TMPL_KIND_DICT:
        return "dict object";
    case JK_UNDEF:
        return "Undefined";
    case JK_NS:
        return "Namespace object";
    case JK_LOOP:
        return "LoopContext object";
    default:
        return "function";
    }
}

/* ------------------------------------------------------------ public API */

ts_tmpl_value *ts_tmpl_value_none(void) { return jv_none(); }
ts_tmpl_value *ts_tmpl_value_bool(bool b) { return jv_bool(b); }
ts_tmpl_value *ts_tmpl_value_int(int64_t i) { return jv_int(i); }
ts_tmpl_value *ts_tmpl_value_float(double f) { return jv_float(f); }
ts_tmpl_value *ts_tmpl_value_str(const char *s, size_t len) {
    return (s || !len) ? jv_str(s, len) : NULL;
}
ts_tmpl_value *ts_tmpl_value_cstr(const char *s) { return s ? jv_str(s, strlen(s)) : NULL; }
ts_tmpl_value *ts_tmpl_value_list(void) { return jv_list(0); }
ts_tmpl_value *ts_tmpl_value_dict(void) { return jv_dict(); }
void ts_tmpl_value_free(ts_tmpl_value *v) { jv_unref(v); }

ts_status ts_tmpl_list_append(ts_tmpl_value *list, ts_tmpl_value *item) {
    if (!item) return ts_error(TS_ERR_NOMEM, "template value: out of memory");
    if (list == item) /* the caller still owns it: nothing to free */
        return ts_error(TS_ERR_INVALID_ARG, "ts_tmpl_list_append: a list cannot hold itself");
    if (!list || list->kind != TS_TMPL_KIND_LIST) {
        jv_unref(item);
        return ts_error(TS_ERR_INVALID_ARG, "ts_tmpl_list_append: not a list");
    }
    if (!jv_list_push(list, item)) return ts_error(TS_ERR_NOMEM, "template list: out of memory");
    return TS_OK;
}

ts_status ts_tmpl_dict_set(ts_tmpl_value *dict, const char *key, size_t key_len,
                           ts_tmpl_value *val) {
    if (!val) return ts_error(TS_ERR_NOMEM, "template value: out of memory");
    if (dict == val)
        return ts_error(TS_ERR_INVALID_ARG, "ts_tmpl_dict_set: a dict cannot hold itself");
    if (!dict || dict->kind != TS_TMPL_KIND_DICT || (!key && key_len)) {
        jv_unref(val);
        return ts_error(TS_ERR_INVALID_ARG, "ts_tmpl_dict_set: not a dict, or a NULL key");
    }
    if (!jv_dict_put(dict, key ? key : "", key_len, val))
        return ts_error(TS_ERR_NOMEM, "template dict: out of memory");
    return TS_OK;
}

ts_status ts_tmpl_dict_set_cstr(ts_tmpl_value *dict, const char *key, ts_tmpl_value *val) {
    return ts_tmpl_dict_set(dict, key, key ? strlen(key) : 0, val);
}

ts_tmpl_kind ts_tmpl_value_kind(const ts_tmpl_value *v) {
    TS_ASSERT(v && v->kind < TS_TMPL_KIND_COUNT);
    return (ts_tmpl_kind)v->kind;
}

bool ts_tmpl_value_get_bool(const ts_tmpl_value *v) {
    TS_ASSERT(v->kind == TS_TMPL_KIND_BOOL);
    return v->u.b;
}

int64_t ts_tmpl_value_get_int(const ts_tmpl_value *v) {
    TS_ASSERT(v->kind == TS_TMPL_KIND_INT);
    return v->u.i;
}

double ts_tmpl_value_get_float(const ts_tmpl_value *v) {
    TS_ASSERT(v->kind == TS_TMPL_KIND_FLOAT);
    return v->u.f;
}

const char *ts_tmpl_value_get_str(const ts_tmpl_value *v, size_t *len) {
    TS_ASSERT(v->kind == TS_TMPL_KIND_STRING);
    if (len) *len = v->u.s.n;
    return v->u.s.p;
}

size_t ts_tmpl_list_len(const ts_tmpl_value *l) {
    TS_ASSERT(l->kind == TS_TMPL_KIND_LIST);
    return l->u.list.n;
}

const ts_tmpl_value *ts_tmpl_list_get(const ts_tmpl_value *l, size_t i) {
    TS_ASSERT(l->kind == TS_TMPL_KIND_LIST && i < l->u.list.n);
    return l->u.list.v[i];
}

size_t ts_tmpl_dict_len(const ts_tmpl_value *d) {
    TS_ASSERT(d->kind == TS_TMPL_KIND_DICT);
    return d->u.dict.n;
}

const char *ts_tmpl_dict_key(const ts_tmpl_value *d, size_t i, size_t *key_len) {
    TS_ASSERT(d->kind == TS_TMPL_KIND_DICT && i < d->u.dict.n);
    if (key_len) *key_len = d->u.dict.keys[i]->u.s.n;
    return d->u.dict.keys[i]->u.s.p;
}

const ts_tmpl_value *ts_tmpl_dict_value(const ts_tmpl_value *d, size_t i) {
    TS_ASSERT(d->kind == TS_TMPL_KIND_DICT && i < d->u.dict.n);
    return d->u.dict.vals[i];
}

const ts_tmpl_value *ts_tmpl_dict_get(const ts_tmpl_value *d, const char *key, size_t key_len) {
    TS_ASSERT(d->kind == TS_TMPL_KIND_DICT);
    return jv_dict_find(d, key ? key : "", key_len);
}

/* ---------------------------------------------------------------- buffer */

bool jbuf_put(jbuf *b, const void *s, size_t n) {
    if (!n) return true;
    if (b->max && (n > b->max || b->n > b->max - n)) {
        b->over = true;
        return false;
    }
    if (n > SIZE_MAX / 2 - b->n) return false;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

bool jbuf_putc(jbuf *b, char c) { return jbuf_put(b, &c, 1); }
bool jbuf_puts(jbuf *b, const char *s) { return jbuf_put(b, s, strlen(s)); }

bool jbuf_printf(jbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    TS_ASSERT(k >= 0 && (size_t)k < sizeof tmp); /* only short numbers are printed */
    return jbuf_put(b, tmp, (size_t)k);
}

void jbuf_free(jbuf *b) {
    free(b->p);
    *b = (jbuf){0};
}

jv *jbuf_to_str(jbuf *b) {
    jv *v = jv_str(b->p, b->n);
    b->n = 0;
    return v;
}

/* ----------------------------------------------------------------- arena */

struct jchunk {
    struct jchunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jarena_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct jchunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void jarena_free(jarena *a) {
    for (struct jchunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}
