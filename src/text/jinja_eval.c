/*
 * jinja_eval.c — expressions: names, literals, attribute and item access
 * (jinja2's rules: `a.b` tries the attribute, then the item; `a[b]` the
 * item, then the attribute; a miss is Undefined), slices, calls and
 * Python's operators on ints (64-bit, overflow is an error), floats,
 * strings and lists.
 *
 * Every function returning jv * returns a new reference, or NULL after
 * recording an error (jr_fail). Each node evaluated counts one step and one
 * level of depth.
 */
#include "text/jinja-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EQ_DEPTH 64 /* nesting compared by ==, <, `in` */

/* ------------------------------------------------------------ accounting */

ts_status jr_fail(jrender *r, const jnode *at, ts_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return r->st = jinja_error_at(r->t->src, r->t->len, at->off, st, "%s", msg);
}

jv *jr_oom(jrender *r, const jnode *at) {
    jr_fail(r, at, TS_ERR_NOMEM, "out of memory");
    return NULL;
}

bool jr_step(jrender *r, const jnode *at, uint64_t n) {
    r->steps += n;
    if (r->steps <= r->p.max_steps) return true;
    jr_fail(r, at, TS_ERR_UNSUPPORTED,
            "render stopped: more than max_steps (%llu) evaluation steps; the template "
            "loops too long",
            (unsigned long long)r->p.max_steps);
    return false;
}

bool jr_size_ok(jrender *r, const jnode *at, size_t n) {
    if (n <= r->p.max_output) return true;
    jr_fail(r, at, TS_ERR_UNSUPPORTED,
            "render stopped: a value or the output would exceed max_output (%zu bytes)",
            r->p.max_output);
    return false;
}

jv *jr_buf_fail(jrender *r, const jnode *at, jbuf *b) {
    if (b->over)
        jr_size_ok(r, at, SIZE_MAX);
    else
        jr_oom(r, at);
    jbuf_free(b);
    return NULL;
}

/* Comparison work allowed by the steps left (16 units a step). */
static uint64_t budget_left(const jrender *r) {
    uint64_t left = r->p.max_steps > r->steps ? r->p.max_steps - r->steps : 0;
    return left > UINT64_MAX / 16 ? UINT64_MAX : left * 16 + 15;
}

/* Charge the comparison work done; false (error recorded) when the budget
 * ran out. */
static bool charge_budget(jrender *r, const jnode *at, uint64_t start, uint64_t left) {
    if (!left) {
        r->steps = r->p.max_steps;
        return jr_step(r, at, 1);
    }
    return jr_step(r, at, (start - left + 15) / 16); /* a comparison costs a step at least */
}

int jr_equal(jrender *r, const jnode *at, const jv *a, const jv *b) {
    uint64_t start = budget_left(r), left = start;
    bool eq = jv_equal(a, b, EQ_DEPTH, &left);
    return charge_budget(r, at, start, left) ? eq : -1;
}

int jr_cmp(jrender *r, const jnode *at, const jv *a, const jv *b, int *c) {
    uint64_t start = budget_left(r), left = start;
    bool ok = jv_compare(a, b, c, EQ_DEPTH, &left);
    if (!charge_budget(r, at, start, left)) return -1;
    if (ok) return 1;
    if (jv_is_undef(a) || jv_is_undef(b)) return jr_undef_error(r, at, jv_is_undef(a) ? a : b), -1;
    jr_fail(r, at, TS_ERR_INVALID_ARG,
            "TypeError: '<' not supported between instances of '%s' and '%s'", jv_type_name(a),
            jv_type_name(b));
    return -1;
}

jv *jr_undef_error(jrender *r, const jnode *at, const jv *u) {
    jr_fail(r, at, TS_ERR_INVALID_ARG, "UndefinedError: %s",
            u->u.hint ? u->u.hint : "value is undefined");
    return NULL;
}

static jv *type_error(jrender *r, const jnode *at, const char *what, const jv *a, const jv *b) {
    if (jv_is_undef(a)) return jr_undef_error(r, at, a);
    if (b && jv_is_undef(b)) return jr_undef_error(r, at, b);
    if (b)
        jr_fail(r, at, TS_ERR_INVALID_ARG,
                "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", what,
                jv_type_name(a), jv_type_name(b));
    else
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: bad operand type for %s: '%s'", what,
                jv_type_name(a));
    return NULL;
}

jv *jr_to_str(jrender *r, const jnode *at, const jv *v) {
    if (jv_is_str(v)) return jv_ref(v);
    jbuf b = jr_buf(r);
    jv *s = NULL;
    if (!jv_write_str(&b, v, EQ_DEPTH)) {
        if (b.over) return jr_buf_fail(r, at, &b);
        jr_fail(r, at, TS_ERR_INVALID_ARG, "value nested too deeply to print (or out of memory)");
    } else if (jr_size_ok(r, at, b.n) && jr_bytes(r, at, b.n) &&
               !(s = jv_str(b.p ? b.p : "", b.n))) {
        jr_oom(r, at);
    }
    jbuf_free(&b);
    return s;
}

/* ---------------------------------------------------------- attr and item */

static jv *loop_attr(jrender *r, const jv *loop, const char *name) {
    size_t i = loop->u.loop.index0, n = loop->u.loop.items->u.list.n;
    jv *const *items = (jv *const *)loop->u.loop.items->u.list.v;
    if (!strcmp(name, "index")) return jv_int((int64_t)i + 1);
    if (!strcmp(name, "index0")) return jv_int((int64_t)i);
    if (!strcmp(name, "revindex")) return jv_int((int64_t)(n - i));
    if (!strcmp(name, "revindex0")) return jv_int((int64_t)(n - i - 1));
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i + 1 == n);
    if (!strcmp(name, "length")) return jv_int((int64_t)n);
    if (!strcmp(name, "depth")) return jv_int(loop->u.loop.depth0 + 1);
    if (!strcmp(name, "depth0")) return jv_int(loop->u.loop.depth0);
    if (!strcmp(name, "previtem"))
        return i > 0 ? jv_ref(items[i - 1]) : jv_undef_hint("there is no previous item");
    if (!strcmp(name, "nextitem"))
        return i + 1 < n ? jv_ref(items[i + 1]) : jv_undef_hint("there is no next item");
    jv *m = jr_method(r, loop, name, strlen(name));
    return m ? m : jv_undef_hint("'LoopContext object' has no attribute '%s'", name);
}

jv *jr_getattr(jrender *r, const jnode *at, jv *obj, const char *name, size_t n) {
    if (jv_is_undef(obj)) return jr_undef_error(r, at, obj);
    jv *v;
    switch (obj->kind) {
    case JK_NS:
        v = jv_dict_find(obj, name, n);
        return v ? jv_ref(v)
                 : jv_undef_hint("'Namespace object' has no attribute '%.*s'", (int)n, name);
    case JK_LOOP:
        v = loop_attr(r, obj, name);
        break;
    case TS_TMPL_KIND_DICT:
        if ((v = jr_method(r, obj, name, n))) return v;
        v = jv_dict_find(obj, name, n);
        if (v) return jv_ref(v);
        v = jv_undef_hint("'dict object' has no attribute '%.*s'", (int)n, name);
        break;
    default:
        if ((v = jr_method(r, obj, name, n))) return v;
        v = jv_undef_hint("'%s' has no attribute '%.*s'", jv_type_name(obj), (int)n, name);
    }
    return v ? v : jr_oom(r, at);
}

/* Python index i into a sequence of n, negative from the end; -1 when out
 * of range. */
static int64_t seq_index(int64_t i, size_t n) {
    if (i < 0) i += (int64_t)n;
    return i >= 0 && (uint64_t)i < n ? i : -1;
}

static jv *str_char(const jv *s, int64_t i) {
    if (s->flags & JV_ASCII) return jv_str(s->u.s.p + i, 1);
    size_t off = utf8_offset(s->u.s.p, s->u.s.n, (size_t)i);
    return jv_str(s->u.s.p + off, utf8_len(s->u.s.p + off, s->u.s.n - off));
}

jv *jr_getitem(jrender *r, const jnode *at, jv *obj, const jv *key) {
    if (jv_is_undef(obj)) return jr_undef_error(r, at, obj);
    jv *v = NULL;
    if (jv_is_str(key) && !jr_bytes(r, at, key->u.s.n)) return NULL; /* hashing it */
    if ((jv_is_dict(obj) || obj->kind == JK_NS) && jv_is_str(key)) {
        v = jv_dict_find(obj, key->u.s.p, key->u.s.n);
        if (v) return jv_ref(v);
    } else if (jv_is_list(obj) && jv_is_int(key)) {
        int64_t i = seq_index(jv_int_of(key), obj->u.list.n);
        if (i >= 0) return jv_ref(obj->u.list.v[i]);
    } else if (jv_is_str(obj) && jv_is_int(key)) {
        int64_t i = seq_index(jv_int_of(key), jv_str_cplen(obj));
        if (i >= 0 && !(obj->flags & JV_ASCII) && !jr_bytes(r, at, (size_t)i * 2)) return NULL;
        if (i >= 0) return (v = str_char(obj, i)) ? v : jr_oom(r, at);
    }
    if (jv_is_str(key)) return jr_getattr(r, at, obj, key->u.s.p, key->u.s.n);
    if (jv_is_int(key))
        v = jv_undef_hint("'%s' has no element %lld", jv_type_name(obj), (long long)jv_int_of(key));
    else
        v = jv_undef_hint("'%s' has no such element", jv_type_name(obj));
    return v ? v : jr_oom(r, at);
}

/* ----------------------------------------------------------------- slices */

/* Python's slice.indices(): start, step and the number of items. */
static bool slice_indices(jrender *r, const jnode *at, const jv *const bound[3], size_t len,
                          int64_t *start, int64_t *step, size_t *count) {
    int64_t v[3];
    for (int k = 0; k < 3; k++) {
        if (!bound[k] || jv_is_none(bound[k])) continue;
        if (!jv_is_int(bound[k])) {
            jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: slice indices must be integers or None");
            return false;
        }
        v[k] = jv_int_of(bound[k]);
    }
    int64_t st = bound[2] && !jv_is_none(bound[2]) ? v[2] : 1, n = (int64_t)len;
    if (st == 0)
        return jr_fail(r, at, TS_ERR_INVALID_ARG, "ValueError: slice step cannot be zero"), false;
    if (st < -INT64_MAX) st = -INT64_MAX; /* as Python clamps it */
    int64_t lo = st < 0 ? -1 : 0, hi = st < 0 ? n - 1 : n;
    int64_t b[2] = {st < 0 ? hi : lo, st < 0 ? lo : hi};
    for (int k = 0; k < 2; k++) {
        if (!bound[k] || jv_is_none(bound[k])) continue;
        int64_t x = v[k];
        if (x < 0)
            x = x < -n ? lo : x + n;
        else if (x >= n)
            x = hi;
        b[k] = x;
    }
    *start = b[0];
    *step = st;
    if (st > 0)
        *count = b[0] < b[1] ? (size_t)((b[1] - b[0] - 1) / st + 1) : 0;
    else
        *count = b[1] < b[0] ? (size_t)((b[0] - b[1] - 1) / -st + 1) : 0;
    return true;
}

static jv *slice_list(jrender *r, const jnode *at, const jv *l, int64_t start, int64_t step,
                      size_t count) {
    if (!jr_bytes(r, at, count)) return NULL;
    jv *out = jv_list(count);
    if (!out) return jr_oom(r, at);
    out->flags |= l->flags & JV_TUPLE;
    for (size_t i = 0; i < count; i++)
        jv_list_push(out, jv_ref(l->u.list.v[start + (int64_t)i * step]));
    return out;
}

static jv *slice_str(jrender *r, const jnode *at, const jv *s, int64_t start, int64_t step,
                     size_t count) {
    size_t n = s->u.s.n, ncp = jv_str_cplen(s);
    size_t *off = NULL;
    if (!(s->flags & JV_ASCII)) { /* byte offset of every code point */
        if (!(off = malloc((ncp + 1) * sizeof *off))) return jr_oom(r, at);
        for (size_t i = 0, o = 0; i <= ncp; i++, o += o < n ? utf8_len(s->u.s.p + o, n - o) : 0)
            off[i] = o;
    }
    if (!jr_bytes(r, at, count)) {
        free(off);
        return NULL;
    }
    jbuf b = {0};
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        size_t c = (size_t)(start + (int64_t)i * step);
        size_t from = off ? off[c] : c, to = off ? off[c + 1] : c + 1;
        ok = jbuf_put(&b, s->u.s.p + from, to - from);
    }
    free(off);
    jv *v = ok ? jv_str(b.p, b.n) : NULL;
    jbuf_free(&b);
    return v ? v : jr_oom(r, at);
}

static jv *eval_slice(jrender *r, const jnode *e) {
    jv *obj = jr_eval(r, e->a), *bound[3] = {NULL, NULL, NULL}, *out = NULL;
    const jnode *src[3] = {e->b, e->c, e->d};
    bool ok = obj != NULL;
    for (int k = 0; k < 3 && ok; k++) ok = !src[k] || (bound[k] = jr_eval(r, src[k]));
    if (ok && jv_is_undef(obj)) {
        jr_undef_error(r, e, obj);
    } else if (ok && (jv_is_list(obj) || jv_is_str(obj))) {
        int64_t start, step;
        size_t count, len = jv_is_list(obj) ? obj->u.list.n : jv_str_cplen(obj);
        if (slice_indices(r, e, (const jv *const *)bound, len, &start, &step, &count))
            out = jv_is_list(obj) ? slice_list(r, e, obj, start, step, count)
                                  : slice_str(r, e, obj, start, step, count);
    } else if (ok) { /* jinja2 slices with Python's [], not its getitem */
        jr_fail(r, e, TS_ERR_INVALID_ARG, "TypeError: '%s' is not subscriptable by a slice",
                jv_type_name(obj));
    }
    for (int k = 0; k < 3; k++) jv_unref(bound[k]);
    jv_unref(obj);
    return out;
}

/* ------------------------------------------------------------- arithmetic */

static jv *int_result(jrender *r, const jnode *at, bool ok, int64_t v) {
    if (!ok) {
        jr_fail(r, at, TS_ERR_INVALID_ARG,
                "OverflowError: integer result out of the sandbox's 64-bit range");
        return NULL;
    }
    jv *x = jv_int(v);
    return x ? x : jr_oom(r, at);
}

static jv *float_result(jrender *r, const jnode *at, double v) {
    jv *x = jv_float(v);
    return x ? x : jr_oom(r, at);
}

static jv *zero_division(jrender *r, const jnode *at) {
    jr_fail(r, at, TS_ERR_INVALID_ARG, "ZeroDivisionError: division by zero");
    return NULL;
}

static jv *int_pow(jrender *r, const jnode *at, int64_t base, int64_t e) {
    if (e < 0) {
        if (base == 0) return zero_division(r, at);
        return float_result(r, at, pow((double)base, (double)e));
    }
    int64_t acc = 1;
    bool ok = true;
    while (e > 0 && ok) { /* square and multiply */
        if (e & 1) ok = !__builtin_mul_overflow(acc, base, &acc);
        e >>= 1;
        if (e && ok) ok = !__builtin_mul_overflow(base, base, &base);
    }
    return int_result(r, at, ok, acc);
}

static jv *int_divmod(jrender *r, const jnode *at, int op, int64_t a, int64_t b) {
    if (b == 0) return zero_division(r, at);
    if (a == INT64_MIN && b == -1) return int_result(r, at, op == JOP_MOD, 0);
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) { /* Python floors */
        q -= 1;
        m += b;
    }
    return int_result(r, at, true, op == JOP_MOD ? m : q);
}

static jv *float_binop(jrender *r, const jnode *at, int op, double a, double b) {
    switch (op) {
    case JOP_ADD:
        return float_result(r, at, a + b);
    case JOP_SUB:
        return float_result(r, at, a - b);
    case JOP_MUL:
        return float_result(r, at, a * b);
    case JOP_DIV:
        return b == 0 ? zero_division(r, at) : float_result(r, at, a / b);
    case JOP_POW:
        if (a == 0 && b < 0) return zero_division(r, at);
        return float_result(r, at, pow(a, b));
    default: { /* // and %: Python's float_divmod */
        if (b == 0) return zero_division(r, at);
        double mod = fmod(a, b), div = (a - mod) / b;
        if (mod != 0 && ((b < 0) != (mod < 0))) {
            mod += b;
            div -= 1.0;
        }
        if (mod == 0) mod = copysign(0.0, b);
        double fl = floor(div);
        if (div - fl > 0.5) fl += 1.0;
        if (div == 0) fl = copysign(0.0, a / b);
        return float_result(r, at, op == JOP_MOD ? mod : fl);
    }
    }
}

static jv *int_binop(jrender *r, const jnode *at, int op, int64_t a, int64_t b) {
    int64_t v = 0;
    bool ok;
    switch (op) {
    case JOP_ADD:
        ok = !__builtin_add_overflow(a, b, &v);
        return int_result(r, at, ok, v);
    case JOP_SUB:
        ok = !__builtin_sub_overflow(a, b, &v);
        return int_result(r, at, ok, v);
    case JOP_MUL:
        ok = !__builtin_mul_overflow(a, b, &v);
        return int_result(r, at, ok, v);
    case JOP_DIV:
        return b == 0 ? zero_division(r, at) : float_result(r, at, (double)a / (double)b);
    case JOP_POW:
        return int_pow(r, at, a, b);
    default:
        return int_divmod(r, at, op, a, b);
    }
}

/* s * k (string or list repetition). */
static jv *repeat(jrender *r, const jnode *at, const jv *s, int64_t k) {
    if (k < 0) k = 0;
    size_t unit = jv_is_str(s) ? s->u.s.n : s->u.list.n * sizeof(jv *), total;
    if (__builtin_mul_overflow(unit, (size_t)k, &total) || !jr_size_ok(r, at, total) ||
        !jr_bytes(r, at, total))
        return NULL;
    if (jv_is_list(s)) {
        jv *out = jv_list((size_t)k * s->u.list.n);
        if (!out) return jr_oom(r, at);
        out->flags |= s->flags & JV_TUPLE;
        for (int64_t i = 0; i < k; i++)
            for (size_t j = 0; j < s->u.list.n; j++) jv_list_push(out, jv_ref(s->u.list.v[j]));
        return out;
    }
    char *buf = malloc(total + 1);
    if (!buf) return jr_oom(r, at);
    for (int64_t i = 0; i < k; i++) memcpy(buf + (size_t)i * unit, s->u.s.p, unit);
    jv *out = jv_str(buf, total);
    free(buf);
    return out ? out : jr_oom(r, at);
}

/* a + b for strings and lists. */
static jv *concat_seq(jrender *r, const jnode *at, const jv *a, const jv *b) {
    if (jv_is_str(a)) {
        size_t n = a->u.s.n + b->u.s.n;
        if (!jr_size_ok(r, at, n) || !jr_bytes(r, at, n)) return NULL;
        jbuf buf = {0};
        bool ok = jbuf_put(&buf, a->u.s.p, a->u.s.n) && jbuf_put(&buf, b->u.s.p, b->u.s.n);
        jv *v = ok ? jv_str(buf.p, buf.n) : NULL;
        jbuf_free(&buf);
        return v ? v : jr_oom(r, at);
    }
    size_t n = a->u.list.n + b->u.list.n;
    if (!jr_size_ok(r, at, n * sizeof(jv *)) || !jr_bytes(r, at, n)) return NULL;
    jv *out = jv_list(n);
    if (!out) return jr_oom(r, at);
    out->flags |= a->flags & JV_TUPLE;
    for (size_t i = 0; i < a->u.list.n; i++) jv_list_push(out, jv_ref(a->u.list.v[i]));
    for (size_t i = 0; i < b->u.list.n; i++) jv_list_push(out, jv_ref(b->u.list.v[i]));
    return out;
}

static jv *binop(jrender *r, const jnode *at, int op, const jv *a, const jv *b) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_int(a) && jv_is_int(b)) return int_binop(r, at, op, jv_int_of(a), jv_int_of(b));
        return float_binop(r, at, op, jv_num_of(a), jv_num_of(b));
    }
    bool same_seq = a->kind == b->kind && (jv_is_str(a) || jv_is_list(a)) &&
                    (a->flags & JV_TUPLE) == (b->flags & JV_TUPLE);
    if (op == JOP_ADD && same_seq) return concat_seq(r, at, a, b);
    if (op == JOP_MUL && (jv_is_str(a) || jv_is_list(a)) && jv_is_int(b))
        return repeat(r, at, a, jv_int_of(b));
    if (op == JOP_MUL && (jv_is_str(b) || jv_is_list(b)) && jv_is_int(a))
        return repeat(r, at, b, jv_int_of(a));
    if (op == JOP_MOD && jv_is_str(a)) return py_percent(r, at, a, b);
    return type_error(r, at, jop_text[op], a, b);
}

static jv *eval_binop(jrender *r, const jnode *e) {
    jv *a = jr_eval(r, e->a);
    jv *b = a ? jr_eval(r, e->b) : NULL;
    jv *v = b ? binop(r, e, e->op, a, b) : NULL;
    jv_unref(a);
    jv_unref(b);
    return v;
}

static jv *eval_unary(jrender *r, const jnode *e) {
    jv *a = jr_eval(r, e->a), *v = NULL;
    if (!a) return NULL;
    if (e->kind == JN_NOT)
        v = jv_bool(!jv_truthy(a));
    else if (jv_is_int(a)) {
        int64_t x = jv_int_of(a);
        v = e->kind == JN_POS ? int_result(r, e, true, x)
                              : int_result(r, e, x != INT64_MIN, x != INT64_MIN ? -x : 0);
    } else if (a->kind == TS_TMPL_KIND_FLOAT) {
        v = float_result(r, e, e->kind == JN_POS ? a->u.f : -a->u.f);
    } else {
        type_error(r, e, e->kind == JN_POS ? "unary +" : "unary -", a, NULL);
    }
    jv_unref(a);
    return v;
}

static jv *eval_concat(jrender *r, const jnode *e) {
    jv *a = jr_eval(r, e->a);
    jv *b = a ? jr_eval(r, e->b) : NULL;
    jv *sa = b ? jr_to_str(r, e, a) : NULL;
    jv *sb = sa ? jr_to_str(r, e, b) : NULL;
    jv *v = sb ? concat_seq(r, e, sa, sb) : NULL;
    jv_unref(a), jv_unref(b), jv_unref(sa), jv_unref(sb);
    return v;
}

/* ------------------------------------------------------------ comparisons */

static int contains(jrender *r, const jnode *at, const jv *hay, const jv *needle) {
    if (jv_is_str(hay)) {
        if (!jv_is_str(needle)) {
            if (jv_is_undef(needle)) return jr_undef_error(r, at, needle), -1;
            jr_fail(r, at, TS_ERR_INVALID_ARG,
                    "TypeError: 'in <string>' requires string as left operand, not %s",
                    jv_type_name(needle));
            return -1;
        }
        if (!jr_bytes(r, at, hay->u.s.n + needle->u.s.n)) return -1;
        return !needle->u.s.n || memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n);
    }
    if (jv_is_list(hay)) {
        for (size_t i = 0; i < hay->u.list.n; i++) {
            int eq = jr_equal(r, at, hay->u.list.v[i], needle);
            if (eq) return eq;
        }
        return 0;
    }
    if (jv_is_dict(hay) || hay->kind == JK_NS) {
        if (!jv_is_str(needle)) return 0;
        if (!jr_bytes(r, at, needle->u.s.n)) return -1;
        return jv_dict_find(hay, needle->u.s.p, needle->u.s.n) != NULL;
    }
    if (jv_is_undef(hay)) return 0;
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: argument of type '%s' is not iterable",
            jv_type_name(hay));
    return -1;
}

/* 1 / 0 for `a op b`, -1 on error. */
static int compare(jrender *r, const jnode *at, int op, const jv *a, const jv *b) {
    int c, eq;
    switch (op) {
    case JOP_EQ:
        return jr_equal(r, at, a, b);
    case JOP_NE:
        return (eq = jr_equal(r, at, a, b)) < 0 ? -1 : !eq;
    case JCMP_IN:
        return contains(r, at, b, a);
    case JCMP_NOTIN: {
        int k = contains(r, at, b, a);
        return k < 0 ? -1 : !k;
    }
    default:
        break;
    }
    if (jr_cmp(r, at, a, b, &c) < 0) return -1;
    return op == JOP_LT ? c < 0 : op == JOP_LE ? c <= 0 : op == JOP_GT ? c > 0 : c >= 0;
}

static jv *eval_compare(jrender *r, const jnode *e) {
    const jnode *const *ops =
        e->op == 0xff ? (const jnode *const *)e->kids : (const jnode *const *)&e;
    size_t n = e->op == 0xff ? e->n : 1;
    jv *left = jr_eval(r, ops[0]->a);
    int res = left ? 1 : -1;
    for (size_t i = 0; i < n && res == 1; i++) {
        jv *right = jr_eval(r, ops[i]->b);
        res = right ? compare(r, ops[i], ops[i]->op, left, right) : -1;
        jv_unref(left);
        left = right;
    }
    jv_unref(left);
    return res < 0 ? NULL : jv_bool(res);
}

/* --------------------------------------------------------------- literals */

static jv *eval_list(jrender *r, const jnode *e) {
    jv *l = jv_list(e->n);
    if (!l) return jr_oom(r, e);
    if (e->kind == JN_TUPLE) l->flags |= JV_TUPLE;
    for (uint32_t i = 0; i < e->n; i++) {
        jv *x = jr_eval(r, e->kids[i]);
        if (!x) {
            jv_unref(l);
            return NULL;
        }
        jv_list_push(l, x);
    }
    return l;
}

static jv *eval_dict(jrender *r, const jnode *e) {
    jv *d = jv_dict();
    if (!d) return jr_oom(r, e);
    for (uint32_t i = 0; i + 1 < e->n; i += 2) {
        jv *k = jr_eval(r, e->kids[i]);
        jv *v = k ? jr_eval(r, e->kids[i + 1]) : NULL;
        bool ok = v && jv_is_str(k);
        if (v && !ok)
            jr_fail(r, e->kids[i], TS_ERR_UNSUPPORTED, "dict keys must be strings in the sandbox");
        ok = ok && jr_bytes(r, e, k->u.s.n); /* hashing it */
        if (ok && !jv_dict_put(d, k->u.s.p, k->u.s.n, jv_ref(v))) ok = jr_oom(r, e) != NULL;
        jv_unref(k);
        jv_unref(v);
        if (!ok) {
            jv_unref(d);
            return NULL;
        }
    }
    return d;
}

/* ------------------------------------------------------------------ calls */

static void args_free(jargs *a) {
    for (size_t i = 0; i < a->npos; i++) jv_unref(a->pos[i]);
    for (size_t i = 0; i < a->nkw; i++) jv_unref(a->kwv[i]);
    free(a->pos);
    free(a->kw);
    free(a->kwv);
    *a = (jargs){0};
}

/* Evaluate argument nodes (positional ones and JN_KWARG) into a. */
static bool eval_args(jrender *r, const jnode *const *kids, uint32_t n, jargs *a) {
    *a = (jargs){0};
    if (!n) return true;
    a->pos = malloc(n * sizeof *a->pos);
    a->kw = malloc(n * sizeof *a->kw);
    a->kwv = malloc(n * sizeof *a->kwv);
    if (!a->pos || !a->kw || !a->kwv) {
        args_free(a);
        return jr_oom(r, kids[0]) != NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        bool kw = kids[i]->kind == JN_KWARG;
        jv *v = jr_eval(r, kw ? kids[i]->a : kids[i]);
        if (!v) {
            args_free(a);
            return false;
        }
        if (kw) {
            a->kw[a->nkw] = kids[i]->name;
            a->kwv[a->nkw++] = v;
        } else {
            a->pos[a->npos++] = v;
        }
    }
    return true;
}

jv *jargs_get(const jargs *a, size_t i, const char *name) {
    if (i < a->npos) return a->pos[i];
    for (size_t k = 0; name && k < a->nkw; k++)
        if (!strcmp(a->kw[k], name)) return a->kwv[k];
    return NULL;
}

bool jargs_check(jrender *r, const jnode *at, const jargs *a, const char *what,
                 const char *const *names, size_t n) {
    if (a->npos > n) {
        jr_fail(r, at, TS_ERR_INVALID_ARG,
                "TypeError: %s takes at most %zu argument(s) (%zu given)", what, n, a->npos);
        return false;
    }
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i = 0;
        while (i < n && strcmp(names[i], a->kw[k])) i++;
        if (i == n || i < a->npos) {
            jr_fail(r, at, TS_ERR_INVALID_ARG,
                    "TypeError: %s got an unexpected keyword argument '%s'", what, a->kw[k]);
            return false;
        }
    }
    return true;
}

jv *jr_call(jrender *r, const jnode *at, jv *fn, const jargs *a) {
    if (jv_is_undef(fn)) return jr_undef_error(r, at, fn);
    if (fn->kind != JK_FUNC) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: '%s' is not callable", jv_type_name(fn));
        return NULL;
    }
    switch (fn->u.fn.fk) {
    case JF_GLOBAL:
        return jr_call_global(r, at, fn->u.fn.id, a);
    case JF_METHOD:
        return jr_call_method(r, at, fn, a);
    default:
        return jr_call_macro(r, at, fn, a, NULL);
    }
}

jv *jr_eval_call(jrender *r, const jnode *e, jv *caller) {
    jv *fn = jr_eval(r, e->a);
    if (!fn) return NULL;
    jargs a;
    jv *v = NULL;
    if (eval_args(r, (const jnode *const *)e->kids, e->n, &a)) {
        if (caller && (fn->kind != JK_FUNC || fn->u.fn.fk != JF_MACRO))
            jr_fail(r, e, TS_ERR_INVALID_ARG, "a call block must call a macro");
        else
            v = caller ? jr_call_macro(r, e, fn, &a, caller) : jr_call(r, e, fn, &a);
        args_free(&a);
    }
    jv_unref(fn);
    return v;
}

static jv *eval_filter(jrender *r, const jnode *e) {
    if (e->fn < 0) {
        jr_fail(r, e, TS_ERR_INVALID_ARG, "no filter named '%s'", e->name);
        return NULL;
    }
    jv *in = e->a->kind == JN_CAPTURED ? jv_ref(r->captured) : jr_eval(r, e->a);
    if (!in) return NULL;
    jargs a;
    jv *v = NULL;
    if (eval_args(r, (const jnode *const *)e->kids, e->n, &a)) {
        v = jr_filter(r, e, e->fn, in, &a);
        args_free(&a);
    }
    jv_unref(in);
    return v;
}

static jv *eval_test(jrender *r, const jnode *e) {
    if (e->fn < 0) {
        jr_fail(r, e, TS_ERR_INVALID_ARG, "no test named '%s'", e->name);
        return NULL;
    }
    jv *in = jr_eval(r, e->a);
    if (!in) return NULL;
    jargs a;
    int res = -1;
    if (eval_args(r, (const jnode *const *)e->kids, e->n, &a)) {
        res = jr_test(r, e, e->fn, in, &a);
        args_free(&a);
    }
    jv_unref(in);
    return res < 0 ? NULL : jv_bool(res != (e->op == 1));
}

/* ------------------------------------------------------------------ eval */

static jv *eval_logic(jrender *r, const jnode *e) {
    jv *a = jr_eval(r, e->a);
    if (!a) return NULL;
    bool t = jv_truthy(a);
    if (e->kind == JN_AND ? !t : t) return a; /* Python returns the operand */
    jv_unref(a);
    return jr_eval(r, e->b);
}

static jv *eval_cond(jrender *r, const jnode *e) {
    jv *c = jr_eval(r, e->a);
    if (!c) return NULL;
    bool t = jv_truthy(c);
    jv_unref(c);
    if (t) return jr_eval(r, e->b);
    if (e->c) return jr_eval(r, e->c);
    jv *u = jv_undef_hint(
        "the inline if-expression evaluated to false and no else section was defined");
    return u ? u : jr_oom(r, e);
}

static jv *eval_access(jrender *r, const jnode *e) {
    jv *obj = jr_eval(r, e->a), *v = NULL;
    if (!obj) return NULL;
    if (e->kind == JN_ATTR) {
        v = jr_getattr(r, e, obj, e->name, e->name_len);
    } else {
        jv *key = jr_eval(r, e->b);
        v = key ? jr_getitem(r, e, obj, key) : NULL;
        jv_unref(key);
    }
    jv_unref(obj);
    return v;
}

static jv *eval_node(jrender *r, const jnode *e) {
    switch (e->kind) {
    case JN_LIT:
        return jv_ref(e->lit);
    case JN_NAME:
        return jr_lookup(r, e);
    case JN_LIST:
    case JN_TUPLE:
        return eval_list(r, e);
    case JN_DICT:
        return eval_dict(r, e);
    case JN_ATTR:
    case JN_ITEM:
        return eval_access(r, e);
    case JN_SLICE:
        return eval_slice(r, e);
    case JN_CALL:
        return jr_eval_call(r, e, NULL);
    case JN_FILTER:
        return eval_filter(r, e);
    case JN_TEST:
        return eval_test(r, e);
    case JN_NEG:
    case JN_POS:
    case JN_NOT:
        return eval_unary(r, e);
    case JN_BIN:
        return eval_binop(r, e);
    case JN_CONCAT:
        return eval_concat(r, e);
    case JN_AND:
    case JN_OR:
        return eval_logic(r, e);
    case JN_CMP:
        return eval_compare(r, e);
    case JN_COND:
        return eval_cond(r, e);
    case JN_CAPTURED:
        return jv_ref(r->captured);
    default:
        TS_ASSERT(!"statement evaluated as an expression");
        return NULL;
    }
}

jv *jr_eval(jrender *r, const jnode *e) {
    if (!jr_step(r, e, 1)) return NULL;
    if (++r->depth > r->p.max_depth) {
        r->depth--;
        jr_fail(
            r, e, TS_ERR_UNSUPPORTED,
            "render stopped: evaluation nested deeper than max_depth (%u); unbounded recursion?",
            r->p.max_depth);
        return NULL;
    }
    jv *v = eval_node(r, e);
    r->depth--;
    if (!v && r->st == TS_OK) jr_oom(r, e); /* every failure has a message */
    return v;
}
