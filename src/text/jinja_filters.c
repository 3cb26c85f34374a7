/*
 * jinja_filters.c — the filters and tests a template may use, with jinja2's
 * semantics (filters.py, tests.py) and transformers' tojson. Filters that
 * jinja2 implements as generators (map, select, reverse ...) return lists:
 * templates only iterate, join or count them.
 */
#include "text/jinja-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 64

typedef jv *(*filter_fn)(jrender *r, const jnode *at, jv *in, const jargs *a);

/* ---------------------------------------------------------------- helpers */

static jv *str_of(jrender *r, const jnode *at, const jv *v) { /* soft_str */
    return jv_is_undef(v) ? jv_str("", 0) : jr_to_str(r, at, v);
}

static bool args_ok(jrender *r, const jnode *at, const jargs *a, const char *what,
                    const char *const *names, size_t n) {
    return jargs_check(r, at, a, what, names, n);
}

static jv *fail_type(jrender *r, const jnode *at, const char *what, const jv *v) {
    if (jv_is_undef(v)) return jr_undef_error(r, at, v);
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: %s: unsupported value of type '%s'", what,
            jv_type_name(v));
    return NULL;
}

static bool arg_true(const jargs *a, size_t i, const char *name) {
    jv *v = jargs_get(a, i, name);
    return v && jv_truthy(v);
}

/* item.attr.sub: jinja2's attribute getter (dotted; digits index). */
static jv *get_path(jrender *r, const jnode *at, jv *item, const jv *path) {
    if (!jv_is_str(path)) {
        if (jv_is_int(path)) return jr_getitem(r, at, item, path);
        return fail_type(r, at, "attribute", path);
    }
    jv *cur = jv_ref(item);
    const char *p = path->u.s.p, *end = p + path->u.s.n;
    while (cur) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = (size_t)((dot ? dot : end) - p);
        jv *key = n && p[0] >= '0' && p[0] <= '9' ? jv_int(strtoll(p, NULL, 10)) : jv_str(p, n);
        jv *next = key ? jr_getitem(r, at, cur, key) : jr_oom(r, at);
        jv_unref(key);
        jv_unref(cur);
        cur = next;
        if (!dot) break;
        p = dot + 1;
    }
    return cur;
}

/* Sort key: the item (or its attribute), lowered when case-insensitive. */
static jv *sort_key(jrender *r, const jnode *at, jv *item, const jv *attr, bool case_sensitive) {
    jv *k = attr ? get_path(r, at, item, attr) : jv_ref(item);
    if (k && jv_is_str(k) && !case_sensitive) {
        jv *low = py_case(r, at, k, PY_LOWER);
        jv_unref(k);
        k = low;
    }
    return k;
}

/* Stable merge sort of idx[0..n) by keys; false when two keys cannot be
 * ordered (error recorded). */
static bool merge_sort(jrender *r, const jnode *at, size_t *idx, size_t *tmp, size_t n,
                       jv *const *keys, bool reverse, bool eq_first) {
    if (n < 2) return true;
    size_t h = n / 2;
    if (!merge_sort(r, at, idx, tmp, h, keys, reverse, eq_first) ||
        !merge_sort(r, at, idx + h, tmp, n - h, keys, reverse, eq_first))
        return false;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = 0, eq = eq_first ? jr_equal(r, at, keys[idx[j]], keys[idx[i]]) : 0;
        if (eq < 0 || (!eq && jr_cmp(r, at, keys[idx[j]], keys[idx[i]], &c) < 0)) return false;
        bool take_right = reverse ? c > 0 : c < 0;
        tmp[k++] = take_right ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return jr_step(r, at, n / 8);
}

/* items sorted by key_of(item); a new list. eq_first: keys that are equal
 * need not be orderable (the sort filter compares one-element key lists,
 * and Python's list comparison tests equality first). */
static jv *sorted(jrender *r, const jnode *at, jv *items, const jv *attr, bool cs, bool reverse,
                  bool eq_first) {
    size_t n = items->u.list.n;
    jv **keys = calloc(n ? n : 1, sizeof *keys);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx), *tmp = malloc((n ? n : 1) * sizeof *tmp);
    jv *out = NULL;
    bool ok = keys && idx && tmp;
    if (!ok) jr_oom(r, at);
    for (size_t i = 0; i < n && ok; i++) {
        idx[i] = i;
        ok = (keys[i] = sort_key(r, at, items->u.list.v[i], attr, cs)) != NULL;
    }
    if (ok && merge_sort(r, at, idx, tmp, n, keys, reverse, eq_first) && (out = jv_list(n)))
        for (size_t i = 0; i < n; i++) jv_list_push(out, jv_ref(items->u.list.v[idx[i]]));
    else if (ok && r->st == TS_OK)
        jr_oom(r, at);
    for (size_t i = 0; keys && i < n; i++) jv_unref(keys[i]);
    free(keys), free(idx), free(tmp);
    return out;
}

static jv *iter_or_fail(jrender *r, const jnode *at, jv *in) { return jr_iter_list(r, at, in); }

/* ------------------------------------------------------------ string ones */

static jv *f_trim(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"chars"};
    if (!args_ok(r, at, a, "trim", names, 1)) return NULL;
    jv *s = str_of(r, at, in);
    jv *v = s ? py_strip(r, at, s, jargs_get(a, 0, "chars"), 3) : NULL;
    jv_unref(s);
    return v;
}

static jv *f_case(jrender *r, const jnode *at, jv *in, const jargs *a, int how) {
    if (a->npos || a->nkw) return fail_type(r, at, "this filter takes no arguments", in);
    jv *s = str_of(r, at, in);
    jv *v = s ? py_case(r, at, s, how) : NULL;
    jv_unref(s);
    return v;
}
static jv *f_upper(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_case(r, at, in, a, PY_UPPER);
}
static jv *f_lower(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_case(r, at, in, a, PY_LOWER);
}
static jv *f_title(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_case(r, at, in, a, PY_TITLE_WORDS);
}
static jv *f_capitalize(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_case(r, at, in, a, PY_CAPITALIZE);
}

static jv *f_string(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return str_of(r, at, in);
}

static jv *f_replace(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"old", "new", "count"};
    if (!args_ok(r, at, a, "replace", names, 3)) return NULL;
    jv *old = jargs_get(a, 0, "old"), *new_ = jargs_get(a, 1, "new"),
       *cnt = jargs_get(a, 2, "count");
    jv *s = str_of(r, at, in), *so = s && old ? str_of(r, at, old) : NULL;
    jv *sn = so && new_ ? str_of(r, at, new_) : NULL, *v = NULL;
    if (!sn && s && r->st == TS_OK)
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: replace needs old and new");
    if (sn && cnt && !jv_is_none(cnt) && !jv_is_int(cnt))
        fail_type(r, at, "replace count", cnt);
    else if (sn)
        v = py_replace(r, at, s, so, sn, cnt && jv_is_int(cnt) ? jv_int_of(cnt) : -1);
    jv_unref(s), jv_unref(so), jv_unref(sn);
    return v;
}

static jv *f_indent(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"width", "first", "blank"};
    if (!args_ok(r, at, a, "indent", names, 3)) return NULL;
    if (jv_is_undef(in)) return jr_undef_error(r, at, in);
    jv *w = jargs_get(a, 0, "width"), *ws = NULL;
    if (w && jv_is_int(w)) {
        int64_t n = jv_int_of(w) < 0 ? 0 : jv_int_of(w) > 4096 ? 4096 : jv_int_of(w);
        char sp[4096];
        memset(sp, ' ', (size_t)n);
        ws = jv_str(sp, (size_t)n);
    } else {
        ws = w ? str_of(r, at, w) : jv_str("    ", 4);
    }
    jv *s = ws ? str_of(r, at, in) : NULL;
    jbuf b = jr_buf(r);
    bool ok = s && jr_bytes(r, at, s->u.s.n), first = arg_true(a, 1, "first"),
         blank = arg_true(a, 2, "blank");
    for (size_t i = 0, line = 0; ok && i <= s->u.s.n; line++) {
        const char *nl = memchr(s->u.s.p + i, '\n', s->u.s.n - i);
        size_t end = nl ? (size_t)(nl - s->u.s.p) : s->u.s.n;
        bool empty = end == i;
        if ((line > 0 || first) && (blank || !empty)) ok = jbuf_put(&b, ws->u.s.p, ws->u.s.n);
        ok = ok && jbuf_put(&b, s->u.s.p + i, end - i) && (!nl || jbuf_putc(&b, '\n'));
        i = end + 1;
    }
    jv *v = ok && jr_bytes(r, at, b.n) ? jv_str(b.p ? b.p : "", b.n) : NULL;
    if (s && !ok && r->st == TS_OK)
        jr_buf_fail(r, at, &b);
    else if (ok && !v && r->st == TS_OK)
        jr_oom(r, at);
    jbuf_free(&b);
    jv_unref(s), jv_unref(ws);
    return v;
}

static jv *f_escape(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    jv *s = str_of(r, at, in);
    if (!s || !jr_bytes(r, at, s->u.s.n)) return jv_unref(s), NULL;
    jbuf b = jr_buf(r);
    bool ok = true;
    for (size_t i = 0; i < s->u.s.n && ok; i++) {
        char c = s->u.s.p[i];
        ok = c == '&'    ? jbuf_puts(&b, "&amp;")
             : c == '<'  ? jbuf_puts(&b, "&lt;")
             : c == '>'  ? jbuf_puts(&b, "&gt;")
             : c == '"'  ? jbuf_puts(&b, "&#34;")
             : c == '\'' ? jbuf_puts(&b, "&#39;")
                         : jbuf_putc(&b, c);
    }
    jv_unref(s);
    if (!ok) return jr_buf_fail(r, at, &b);
    jv *v = jr_bytes(r, at, b.n) ? jv_str(b.p ? b.p : "", b.n) : NULL;
    if (!v && r->st == TS_OK) jr_oom(r, at);
    jbuf_free(&b);
    return v;
}

/* transformers: json.dumps(x, ensure_ascii=False, indent=None,
 * separators=None, sort_keys=False) */
static jv *f_tojson(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    if (!args_ok(r, at, a, "tojson", names, 4)) return NULL;
    jv *ind = jargs_get(a, 1, "indent"), *sep = jargs_get(a, 2, "separators");
    jjson_opts o = {.indent = -1,
                    .item_sep = ", ",
                    .key_sep = ": ",
                    .ensure_ascii = arg_true(a, 0, "ensure_ascii"),
                    .sort_keys = arg_true(a, 3, "sort_keys")};
    if (ind && !jv_is_none(ind)) {
        if (!jv_is_int(ind)) return fail_type(r, at, "tojson indent", ind);
        o.indent = jv_int_of(ind) < 0 ? 0 : jv_int_of(ind) > 64 ? 64 : (int)jv_int_of(ind);
        o.item_sep = ",";
    }
    if (sep && !jv_is_none(sep)) {
        if (!jv_is_list(sep) || sep->u.list.n != 2 || !jv_is_str(sep->u.list.v[0]) ||
            !jv_is_str(sep->u.list.v[1]) ||
            memchr(sep->u.list.v[0]->u.s.p, 0, sep->u.list.v[0]->u.s.n) ||
            memchr(sep->u.list.v[1]->u.s.p, 0, sep->u.list.v[1]->u.s.n))
            return fail_type(r, at, "tojson separators (a pair of strings)", sep);
        o.item_sep = sep->u.list.v[0]->u.s.p;
        o.key_sep = sep->u.list.v[1]->u.s.p;
    }
    jbuf b = jr_buf(r);
    const char *why = NULL;
    jv *v = NULL;
    if (!jv_write_json(&b, in, &o, DEPTH, &why)) {
        if (why)
            jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: tojson: %s", why);
        else
            return jr_buf_fail(r, at, &b);
    } else if (jr_size_ok(r, at, b.n) && jr_bytes(r, at, b.n) &&
               !(v = jv_str(b.p ? b.p : "", b.n))) {
        jr_oom(r, at);
    }
    jbuf_free(&b);
    return v;
}

/* -------------------------------------------------------- sequence ones */

static jv *f_length(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    switch (in->kind) {
    case TS_TMPL_KIND_STRING:
        return jv_int((int64_t)jv_str_cplen(in));
    case TS_TMPL_KIND_LIST:
        return jv_int((int64_t)in->u.list.n);
    case TS_TMPL_KIND_DICT:
        return jv_int((int64_t)in->u.dict.n);
    case JK_UNDEF:
        return jv_int(0);
    default:
        return fail_type(r, at, "length", in);
    }
}

static jv *f_default(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"default_value", "boolean"};
    if (!args_ok(r, at, a, "default", names, 2)) return NULL;
    jv *def = jargs_get(a, 0, "default_value");
    bool use = jv_is_undef(in) || (arg_true(a, 1, "boolean") && !jv_truthy(in));
    if (!use) return jv_ref(in);
    return def ? jv_ref(def) : jv_str("", 0);
}

static jv *f_first_last(jrender *r, const jnode *at, jv *in, bool last) {
    jv *items = iter_or_fail(r, at, in);
    if (!items) return NULL;
    size_t n = items->u.list.n;
    jv *v = n ? jv_ref(items->u.list.v[last ? n - 1 : 0])
              : jv_undef_hint("No %s item, sequence was empty.", last ? "last" : "first");
    jv_unref(items);
    return v;
}
static jv *f_first(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return f_first_last(r, at, in, false);
}
static jv *f_last(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return f_first_last(r, at, in, true);
}

static jv *f_list(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    jv *items = iter_or_fail(r, at, in);
    if (!items || !(items->flags & JV_TUPLE)) return items;
    if (!jr_bytes(r, at, items->u.list.n)) return jv_unref(items), NULL;
    jv *copy = jv_list(items->u.list.n); /* list(tuple) is a list */
    for (size_t i = 0; copy && i < items->u.list.n; i++)
        jv_list_push(copy, jv_ref(items->u.list.v[i]));
    jv_unref(items);
    return copy ? copy : jr_oom(r, at);
}

static jv *f_items(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    if (jv_is_undef(in)) return jv_list(0);
    if (!jv_is_dict(in)) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: Can only get item pairs from a mapping.");
        return NULL;
    }
    jv *m = jr_method(r, in, "items", 5);
    jargs none = {0};
    jv *v = m ? jr_call_method(r, at, m, &none) : jr_oom(r, at);
    jv_unref(m);
    return v;
}

static jv *f_join(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"d", "attribute"};
    if (!args_ok(r, at, a, "join", names, 2)) return NULL;
    jv *d = jargs_get(a, 0, "d"), *attr = jargs_get(a, 1, "attribute");
    jv *sep = d ? str_of(r, at, d) : jv_str("", 0);
    jv *items = sep ? iter_or_fail(r, at, in) : NULL;
    jbuf b = jr_buf(r);
    bool ok = items && jr_bytes(r, at, items->u.list.n * 16);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *x = attr ? get_path(r, at, items->u.list.v[i], attr) : jv_ref(items->u.list.v[i]);
        jv *s = x ? str_of(r, at, x) : NULL;
        ok = s && (!i || jbuf_put(&b, sep->u.s.p, sep->u.s.n)) && jbuf_put(&b, s->u.s.p, s->u.s.n);
        if (s && !ok) jr_buf_fail(r, at, &b);
        jv_unref(x), jv_unref(s);
    }
    jv *v = ok && jr_bytes(r, at, b.n) ? jv_str(b.p ? b.p : "", b.n) : NULL;
    if (ok && !v && r->st == TS_OK) jr_oom(r, at);
    jbuf_free(&b);
    jv_unref(items), jv_unref(sep);
    return v;
}

static jv *f_reverse(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    if (jv_is_str(in)) {
        jv *chars = jr_iter_list(r, at, in);
        jbuf b = {0};
        bool ok = chars != NULL;
        for (size_t i = chars ? chars->u.list.n : 0; ok && i-- > 0;)
            ok = jbuf_put(&b, chars->u.list.v[i]->u.s.p, chars->u.list.v[i]->u.s.n);
        jv *v = ok ? jv_str(b.p ? b.p : "", b.n) : NULL;
        if (ok && !v) jr_oom(r, at);
        jbuf_free(&b);
        jv_unref(chars);
        return v;
    }
    jv *items = iter_or_fail(r, at, in);
    if (items && !jr_bytes(r, at, items->u.list.n)) return jv_unref(items), NULL;
    jv *out = items ? jv_list(items->u.list.n) : NULL;
    for (size_t i = items ? items->u.list.n : 0; out && i-- > 0;)
        jv_list_push(out, jv_ref(items->u.list.v[i]));
    if (items && !out) jr_oom(r, at);
    jv_unref(items);
    return out;
}

static jv *f_sort(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"reverse", "case_sensitive", "attribute"};
    if (!args_ok(r, at, a, "sort", names, 3)) return NULL;
    jv *items = iter_or_fail(r, at, in);
    jv *v = items ? sorted(r, at, items, jargs_get(a, 2, "attribute"),
                           arg_true(a, 1, "case_sensitive"), arg_true(a, 0, "reverse"), true)
                  : NULL;
    jv_unref(items);
    return v;
}

static jv *f_dictsort(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"case_sensitive", "by", "reverse"};
    if (!args_ok(r, at, a, "dictsort", names, 3)) return NULL;
    if (jv_is_undef(in)) return jr_undef_error(r, at, in);
    jv *by = jargs_get(a, 1, "by");
    bool by_value = by && jv_is_str(by) && by->u.s.n == 5 && !memcmp(by->u.s.p, "value", 5);
    jv *pairs = f_items(r, at, in, &(jargs){0});
    jv *idx = jv_int(by_value ? 1 : 0);
    jv *v = pairs && idx ? sorted(r, at, pairs, idx, arg_true(a, 0, "case_sensitive"),
                                  arg_true(a, 2, "reverse"), false)
                         : NULL;
    if (pairs && !idx) jr_oom(r, at);
    jv_unref(pairs), jv_unref(idx);
    return v;
}

static jv *f_unique(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"case_sensitive", "attribute"};
    if (!args_ok(r, at, a, "unique", names, 2)) return NULL;
    jv *items = iter_or_fail(r, at, in), *out = items ? jv_list(0) : NULL, *seen = jv_list(0);
    bool ok = out && seen;
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *k = sort_key(r, at, items->u.list.v[i], jargs_get(a, 1, "attribute"),
                         arg_true(a, 0, "case_sensitive"));
        bool dup = false;
        int eq = 0;
        for (size_t j = 0; k && j < seen->u.list.n && !eq; j++)
            eq = jr_equal(r, at, seen->u.list.v[j], k);
        dup = eq > 0;
        ok = k && eq >= 0 &&
             (dup ||
              (jv_list_push(seen, jv_ref(k)) && jv_list_push(out, jv_ref(items->u.list.v[i]))));
        jv_unref(k);
    }
    if (!ok && r->st == TS_OK) jr_oom(r, at);
    jv_unref(items), jv_unref(seen);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}

/* min / max: the first smallest (largest) item. */
static jv *f_minmax(jrender *r, const jnode *at, jv *in, const jargs *a, bool max) {
    static const char *const names[] = {"case_sensitive", "attribute"};
    if (!args_ok(r, at, a, max ? "max" : "min", names, 2)) return NULL;
    jv *items = iter_or_fail(r, at, in);
    jv *s = items ? sorted(r, at, items, jargs_get(a, 1, "attribute"),
                           arg_true(a, 0, "case_sensitive"), false, false)
                  : NULL;
    jv *v = NULL;
    if (s && !s->u.list.n)
        v = jv_undef_hint("No aggregated item, sequence was empty.");
    else if (s && !max)
        v = jv_ref(s->u.list.v[0]);
    else if (s) { /* the first of the largest: sorting is stable */
        size_t i = s->u.list.n - 1;
        int c = 0;
        jv *ki = NULL, *kj = NULL;
        while (i > 0 &&
               (ki = sort_key(r, at, s->u.list.v[i - 1], jargs_get(a, 1, "attribute"),
                              arg_true(a, 0, "case_sensitive"))) &&
               (kj = sort_key(r, at, s->u.list.v[i], jargs_get(a, 1, "attribute"),
                              arg_true(a, 0, "case_sensitive"))) &&
               jr_cmp(r, at, ki, kj, &c) > 0 && c == 0) {
            jv_unref(ki), jv_unref(kj);
            ki = kj = NULL;
            i--;
        }
        jv_unref(ki), jv_unref(kj);
        v = jv_ref(s->u.list.v[i]);
    }
    jv_unref(items), jv_unref(s);
    return v;
}
static jv *f_min(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_minmax(r, at, in, a, false);
}
static jv *f_max(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_minmax(r, at, in, a, true);
}

static jv *f_sum(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"attribute", "start"};
    if (!args_ok(r, at, a, "sum", names, 2)) return NULL;
    jv *start = jargs_get(a, 1, "start"), *attr = jargs_get(a, 0, "attribute");
    jv *items = iter_or_fail(r, at, in);
    bool is_float = start && start->kind == TS_TMPL_KIND_FLOAT;
    int64_t isum = start && jv_is_int(start) ? jv_int_of(start) : 0;
    double fsum = start ? jv_num_of(start) : 0;
    if (start && !jv_is_num(start))
        items = (jv_unref(items), (jv *)fail_type(r, at, "sum start", start));
    bool ok = items && jr_bytes(r, at, items->u.list.n * 16);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *x = attr ? get_path(r, at, items->u.list.v[i], attr) : jv_ref(items->u.list.v[i]);
        ok = x && (jv_is_num(x) || fail_type(r, at, "sum", x));
        if (ok && x->kind == TS_TMPL_KIND_FLOAT && !is_float) is_float = true, fsum = (double)isum;
        if (ok && is_float)
            fsum += jv_num_of(x);
        else if (ok && __builtin_add_overflow(isum, jv_int_of(x), &isum))
            ok = !jr_fail(r, at, TS_ERR_INVALID_ARG, "OverflowError: sum out of range");
        jv_unref(x);
    }
    jv_unref(items);
    if (!ok) return NULL;
    jv *v = is_float ? jv_float(fsum) : jv_int(isum);
    return v ? v : jr_oom(r, at);
}

/* ------------------------------------------------------ select and map */

/* select / reject / selectattr / rejectattr */
static jv *f_select_any(jrender *r, const jnode *at, jv *in, const jargs *a, bool attr, bool keep) {
    jv *items = jv_truthy(in) ? iter_or_fail(r, at, in) : jv_list(0); /* jinja2: `if value:` */
    if (!items) return NULL;
    size_t first_test_arg = attr ? 1 : 0;
    jv *attr_name = attr ? jargs_get(a, 0, NULL) : NULL, *test = jargs_get(a, first_test_arg, NULL);
    if ((attr && !attr_name) || (test && !jv_is_str(test)) || a->nkw) {
        jv_unref(items);
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: expected (%stest name, test arguments...)",
                attr ? "attribute, " : "");
        return NULL;
    }
    bool more = a->npos > first_test_arg + 1;
    jargs targs = {.pos = more ? a->pos + first_test_arg + 1 : NULL,
                   .npos = more ? a->npos - first_test_arg - 1 : 0};
    jv *out = jv_list(0);
    bool ok = out && jr_bytes(r, at, items->u.list.n * 16);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *x = attr ? get_path(r, at, items->u.list.v[i], attr_name) : jv_ref(items->u.list.v[i]);
        int t = !x ? -1 : test ? jr_test_by_name(r, at, test->u.s.p, x, &targs) : jv_truthy(x);
        ok = t >= 0 && (t != keep || jv_list_push(out, jv_ref(items->u.list.v[i])));
        jv_unref(x);
    }
    if (!ok && r->st == TS_OK) jr_oom(r, at);
    jv_unref(items);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}
static jv *f_select(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_select_any(r, at, in, a, false, true);
}
static jv *f_reject(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_select_any(r, at, in, a, false, false);
}
static jv *f_selectattr(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_select_any(r, at, in, a, true, true);
}
static jv *f_rejectattr(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return f_select_any(r, at, in, a, true, false);
}

/* map(attribute='x', default=d) or map('filter', args...) */
static jv *f_map(jrender *r, const jnode *at, jv *in, const jargs *a) {
    jv *attr = jargs_get(a, SIZE_MAX, "attribute"), *def = jargs_get(a, SIZE_MAX, "default");
    jv *fname = attr ? NULL : jargs_get(a, 0, NULL);
    int fid = fname && jv_is_str(fname) ? jinja_filter_id(fname->u.s.p) : -1;
    if (!attr && fid < 0) {
        jr_fail(r, at, TS_ERR_INVALID_ARG,
                "map: expected attribute= or the name of a known filter");
        return NULL;
    }
    jv *items = jv_truthy(in) ? iter_or_fail(r, at, in) : jv_list(0); /* jinja2: `if value:` */
    jv *out = items ? jv_list(items->u.list.n) : NULL;
    jargs fargs = {.pos = a->npos ? a->pos + 1 : NULL,
                   .npos = a->npos ? a->npos - 1 : 0,
                   .kw = a->kw,
                   .kwv = a->kwv,
                   .nkw = attr ? 0 : a->nkw};
    bool ok = out && jr_bytes(r, at, items->u.list.n * 16);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        jv *x = attr ? get_path(r, at, items->u.list.v[i], attr)
                     : jr_filter(r, at, fid, items->u.list.v[i], &fargs);
        if (x && attr && def && jv_is_undef(x)) {
            jv_unref(x);
            x = jv_ref(def);
        }
        ok = x && jv_list_push(out, x);
    }
    if (!ok && r->st == TS_OK) jr_oom(r, at);
    jv_unref(items);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}

static jv *f_attr(jrender *r, const jnode *at, jv *in, const jargs *a) {
    jv *name = jargs_get(a, 0, "name");
    if (!name || !jv_is_str(name)) return fail_type(r, at, "attr name", name ? name : in);
    return jr_getattr(r, at, in, name->u.s.p, name->u.s.n);
}

/* --------------------------------------------------------------- numbers */

static jv *f_int(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"default", "base"};
    if (!args_ok(r, at, a, "int", names, 2)) return NULL;
    jv *def = jargs_get(a, 0, "default"), *basev = jargs_get(a, 1, "base");
    int base = basev && jv_is_int(basev) ? (int)jv_int_of(basev) : 10;
    if (jv_is_undef(in)) return jr_undef_error(r, at, in);
    if (jv_is_int(in)) return jv_int(jv_int_of(in));
    if (in->kind == TS_TMPL_KIND_FLOAT && isfinite(in->u.f) && fabs(in->u.f) < 9.2e18)
        return jv_int((int64_t)in->u.f);
    if (jv_is_str(in) && in->u.s.n < 64 && base >= 2 && base <= 36) {
        char tmp[64], *end;
        memcpy(tmp, in->u.s.p, in->u.s.n);
        tmp[in->u.s.n] = '\0';
        long long v = strtoll(tmp, &end, base);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (end != tmp && !*end) return jv_int(v);
        double f = strtod(tmp, &end); /* int(float(value)), as jinja2 falls back */
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (end != tmp && !*end && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
    }
    return def ? jv_ref(def) : jv_int(0);
}

static jv *f_float(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"default"};
    if (!args_ok(r, at, a, "float", names, 1)) return NULL;
    jv *def = jargs_get(a, 0, "default");
    if (jv_is_undef(in)) return jr_undef_error(r, at, in);
    if (jv_is_num(in)) return jv_float(jv_num_of(in));
    if (jv_is_str(in) && in->u.s.n < 64) {
        char tmp[64], *end;
        memcpy(tmp, in->u.s.p, in->u.s.n);
        tmp[in->u.s.n] = '\0';
        double f = strtod(tmp, &end);
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (end != tmp && !*end) return jv_float(f);
    }
    return def ? jv_ref(def) : jv_float(0.0);
}

static jv *f_abs(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    if (jv_is_int(in)) {
        int64_t v = jv_int_of(in);
        if (v == INT64_MIN) return fail_type(r, at, "abs (overflow)", in);
        return jv_int(v < 0 ? -v : v);
    }
    if (in->kind == TS_TMPL_KIND_FLOAT) return jv_float(fabs(in->u.f));
    return fail_type(r, at, "abs", in);
}

static jv *f_round(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"precision", "method"};
    if (!args_ok(r, at, a, "round", names, 2)) return NULL;
    if (!jv_is_num(in)) return fail_type(r, at, "round", in);
    jv *pv = jargs_get(a, 0, "precision"), *mv = jargs_get(a, 1, "method");
    int prec = pv && jv_is_int(pv) ? (int)jv_int_of(pv) : 0;
    double x = jv_num_of(in), scale = pow(10.0, prec), y = x * scale;
    const char *m = mv && jv_is_str(mv) ? mv->u.s.p : "common";
    bool common = strcmp(m, "ceil") && strcmp(m, "floor");
    if (common && jv_is_int(in) && prec >= 0) return jv_int(jv_int_of(in)); /* round(int, n) */
    if (!strcmp(m, "ceil"))
        y = ceil(y);
    else if (!strcmp(m, "floor"))
        y = floor(y);
    else { /* Python's round(): half to even */
        double fl = floor(y), diff = y - fl;
        y = diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : fmod(fl, 2) == 0 ? fl : fl + 1;
    }
    return jv_float(y / scale);
}

/* value % args (or % kwargs), as jinja2's format filter */
static jv *f_format(jrender *r, const jnode *at, jv *in, const jargs *a) {
    if (a->npos && a->nkw) {
        jr_fail(r, at, TS_ERR_INVALID_ARG,
                "format: positional and keyword arguments cannot be mixed");
        return NULL;
    }
    jv *s = str_of(r, at, in), *args = a->nkw ? jv_dict() : jv_list(a->npos), *v = NULL;
    bool ok = s && args && jr_bytes(r, at, (a->npos + a->nkw) * 16);
    if (args && !a->nkw) args->flags |= JV_TUPLE;
    for (size_t i = 0; ok && i < a->npos; i++) ok = jv_list_push(args, jv_ref(a->pos[i]));
    for (size_t i = 0; ok && i < a->nkw; i++)
        ok = jv_dict_put(args, a->kw[i], strlen(a->kw[i]), jv_ref(a->kwv[i]));
    if (ok)
        v = py_percent(r, at, s, args);
    else if (r->st == TS_OK)
        jr_oom(r, at);
    jv_unref(s), jv_unref(args);
    return v;
}

/* batch(n, fill_with=None): lists of n items, the last one padded */
static jv *f_batch(jrender *r, const jnode *at, jv *in, const jargs *a) {
    static const char *const names[] = {"linecount", "fill_with"};
    if (!args_ok(r, at, a, "batch", names, 2)) return NULL;
    jv *nv = jargs_get(a, 0, "linecount"), *fill = jargs_get(a, 1, "fill_with");
    if (!nv || !jv_is_int(nv) || jv_int_of(nv) <= 0)
        return fail_type(r, at, "batch size", nv ? nv : in);
    size_t per = (size_t)jv_int_of(nv);
    jv *items = iter_or_fail(r, at, in), *out = items ? jv_list(0) : NULL, *cur = NULL;
    bool ok = out && jr_bytes(r, at, items->u.list.n * 2);
    for (size_t i = 0; ok && i < items->u.list.n; i++) {
        if (!cur && !(ok = (cur = jv_list(0)) != NULL)) break;
        ok = jv_list_push(cur, jv_ref(items->u.list.v[i]));
        if (ok && cur->u.list.n == per) ok = jv_list_push(out, cur), cur = NULL;
    }
    bool pad = ok && cur && fill && !jv_is_none(fill);
    if (pad && !jr_bytes(r, at, per)) ok = false;
    while (pad && ok && cur->u.list.n < per) ok = jv_list_push(cur, jv_ref(fill));
    if (ok && cur) ok = jv_list_push(out, cur), cur = NULL;
    if (!ok && r->st == TS_OK) jr_oom(r, at);
    jv_unref(cur), jv_unref(items);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}

static jv *f_safe(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return str_of(r, at, in);
}

/* ----------------------------------------------------------------- table */

static const struct filter {
    const char *name;
    filter_fn fn;
} filters[] = {
    {"abs", f_abs},         {"attr", f_attr},
    {"batch", f_batch},     {"capitalize", f_capitalize},
    {"count", f_length},    {"d", f_default},
    {"default", f_default}, {"dictsort", f_dictsort},
    {"e", f_escape},        {"escape", f_escape},
    {"first", f_first},     {"float", f_float},
    {"format", f_format},   {"indent", f_indent},
    {"int", f_int},         {"items", f_items},
    {"join", f_join},       {"last", f_last},
    {"length", f_length},   {"list", f_list},
    {"lower", f_lower},     {"map", f_map},
    {"max", f_max},         {"min", f_min},
    {"reject", f_reject},   {"rejectattr", f_rejectattr},
    {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round},     {"safe", f_safe},
    {"select", f_select},   {"selectattr", f_selectattr},
    {"sort", f_sort},       {"string", f_string},
    {"sum", f_sum},         {"title", f_title},
    {"tojson", f_tojson},   {"trim", f_trim},
    {"unique", f_unique},   {"upper", f_upper},
};

#define N_FILTERS (sizeof filters / sizeof filters[0])

int jinja_filter_id(const char *name) {
    for (size_t i = 0; i < N_FILTERS; i++)
        if (!strcmp(filters[i].name, name)) return (int)i;
    return -1;
}

jv *jr_filter(jrender *r, const jnode *at, int id, jv *in, const jargs *a) {
    TS_ASSERT(id >= 0 && (size_t)id < N_FILTERS);
    jv *v = filters[id].fn(r, at, in, a);
    if (!v && r->st == TS_OK) jr_oom(r, at);
    return v;
}

/* ------------------------------------------------------------------ tests */

typedef int (*test_fn)(jrender *r, const jnode *at, jv *in, const jargs *a);

static jv *arg0(jrender *r, const jnode *at, const jargs *a, const char *what) {
    jv *v = jargs_get(a, 0, NULL);
    if (!v) jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: test '%s' needs an argument", what);
    return v;
}

static int t_defined(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return !jv_is_undef(in);
}
static int t_undefined(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_undef(in);
}
static int t_none(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_none(in);
}
static int t_boolean(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == TS_TMPL_KIND_BOOL;
}
static int t_true(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == TS_TMPL_KIND_BOOL && in->u.b;
}
static int t_false(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == TS_TMPL_KIND_BOOL && !in->u.b;
}
static int t_integer(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == TS_TMPL_KIND_INT;
}
static int t_float(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == TS_TMPL_KIND_FLOAT;
}
static int t_number(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_num(in);
}
static int t_string(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_str(in);
}
static int t_mapping(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_dict(in);
}
static int t_callable(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return in->kind == JK_FUNC || jv_is_undef(in); /* Undefined defines __call__ */
}
static int t_escaped(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)in, (void)a;
    return 0;
}

static int t_iterable(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_str(in) || jv_is_list(in) || jv_is_dict(in) || jv_is_undef(in) ||
           in->kind == JK_LOOP;
}
static int t_sequence(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_str(in) || jv_is_list(in) || jv_is_dict(in) || jv_is_undef(in);
}

static int t_case_str(const jv *in, bool upper) { /* str.islower() / str.isupper() */
    bool any = false;
    for (size_t i = 0; i < in->u.s.n; i++) {
        char c = in->u.s.p[i];
        if ((c >= 'a' && c <= 'z' && upper) || (c >= 'A' && c <= 'Z' && !upper)) return 0;
        any |= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    return any;
}
static int t_case(jrender *r, const jnode *at, jv *in, bool upper) { /* on str(value) */
    jv *s = str_of(r, at, in);
    int res = s && jr_bytes(r, at, s->u.s.n) ? t_case_str(s, upper) : -1;
    jv_unref(s);
    return res;
}
static int t_lower(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return t_case(r, at, in, false);
}
static int t_upper(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return t_case(r, at, in, true);
}

static int t_cmp(jrender *r, const jnode *at, jv *in, const jargs *a, int op) {
    jv *other = arg0(r, at, a, "comparison");
    if (!other) return -1;
    int c, eq;
    if (op == JOP_EQ) return jr_equal(r, at, in, other);
    if (op == JOP_NE) return (eq = jr_equal(r, at, in, other)) < 0 ? -1 : !eq;
    if (jr_cmp(r, at, in, other, &c) < 0) return -1;
    return op == JOP_LT ? c < 0 : op == JOP_LE ? c <= 0 : op == JOP_GT ? c > 0 : c >= 0;
}
static int t_eq(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_EQ);
}
static int t_ne(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_NE);
}
static int t_lt(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_LT);
}
static int t_le(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_LE);
}
static int t_gt(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_GT);
}
static int t_ge(jrender *r, const jnode *at, jv *in, const jargs *a) {
    return t_cmp(r, at, in, a, JOP_GE);
}

static int t_sameas(jrender *r, const jnode *at, jv *in, const jargs *a) {
    jv *other = arg0(r, at, a, "sameas");
    if (!other) return -1;
    if (in->kind != other->kind) return 0;
    if (jv_is_none(in) || in->kind == TS_TMPL_KIND_BOOL) return jv_equal(in, other, 1, NULL);
    return in == other;
}

static int t_in(jrender *r, const jnode *at, jv *in, const jargs *a) {
    jv *seq = arg0(r, at, a, "in");
    if (!seq) return -1;
    if (jv_is_str(seq) && jv_is_str(in)) {
        if (!jr_bytes(r, at, seq->u.s.n + in->u.s.n)) return -1;
        return !in->u.s.n || memmem(seq->u.s.p, seq->u.s.n, in->u.s.p, in->u.s.n) != NULL;
    }
    jv *items = jr_iter_list(r, at, seq);
    if (!items) return -1;
    int found = 0;
    for (size_t i = 0; i < items->u.list.n && !found; i++)
        found = jr_equal(r, at, items->u.list.v[i], in);
    jv_unref(items);
    return found;
}

static int t_parity(jrender *r, const jnode *at, jv *in, int want) { /* value % 2 == want */
    if (in->kind == TS_TMPL_KIND_FLOAT) {
        double m = fmod(in->u.f, 2.0);
        if (m < 0) m += 2.0;
        return m == (double)want;
    }
    if (!jv_is_int(in)) return fail_type(r, at, "odd/even", in), -1;
    return (int)(((jv_int_of(in) % 2) + 2) % 2) == want;
}
static int t_odd(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return t_parity(r, at, in, 1);
}
static int t_even(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)a;
    return t_parity(r, at, in, 0);
}

static int t_divisibleby(jrender *r, const jnode *at, jv *in, const jargs *a) {
    jv *d = arg0(r, at, a, "divisibleby");
    if (!d) return -1;
    if (!jv_is_num(in) || !jv_is_num(d) || jv_num_of(d) == 0)
        return fail_type(r, at, "divisibleby", in), -1;
    if (!jv_is_int(in) || !jv_is_int(d)) return fmod(jv_num_of(in), jv_num_of(d)) == 0;
    if (jv_int_of(d) == -1) return 1;
    return jv_int_of(in) % jv_int_of(d) == 0;
}

static int t_filter(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_str(in) && jinja_filter_id(in->u.s.p) >= 0;
}
static int t_test(jrender *r, const jnode *at, jv *in, const jargs *a) {
    (void)r, (void)at, (void)a;
    return jv_is_str(in) && jinja_test_id(in->u.s.p) >= 0;
}

static const struct test {
    const char *name;
    test_fn fn;
} tests[] = {
    {"defined", t_defined},
    {"undefined", t_undefined},
    {"none", t_none},
    {"boolean", t_boolean},
    {"true", t_true},
    {"false", t_false},
    {"integer", t_integer},
    {"float", t_float},
    {"number", t_number},
    {"string", t_string},
    {"mapping", t_mapping},
    {"iterable", t_iterable},
    {"sequence", t_sequence},
    {"callable", t_callable},
    {"escaped", t_escaped},
    {"lower", t_lower},
    {"upper", t_upper},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"ne", t_ne},
    {"!=", t_ne},
    {"lt", t_lt},
    {"lessthan", t_lt},
    {"<", t_lt},
    {"le", t_le},
    {"<=", t_le},
    {"gt", t_gt},
    {"greaterthan", t_gt},
    {">", t_gt},
    {"ge", t_ge},
    {">=", t_ge},
    {"sameas", t_sameas},
    {"in", t_in},
    {"odd", t_odd},
    {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"filter", t_filter},
    {"test", t_test},
};

#define N_TESTS (sizeof tests / sizeof tests[0])

int jinja_test_id(const char *name) {
    for (size_t i = 0; i < N_TESTS; i++)
        if (!strcmp(tests[i].name, name)) return (int)i;
    return -1;
}

int jr_test(jrender *r, const jnode *at, int id, jv *in, const jargs *a) {
    TS_ASSERT(id >= 0 && (size_t)id < N_TESTS);
    return tests[id].fn(r, at, in, a);
}

int jr_test_by_name(jrender *r, const jnode *at, const char *name, jv *in, const jargs *a) {
    int id = jinja_test_id(name);
    if (id < 0) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "no test named '%s'", name);
        return -1;
    }
    return jr_test(r, at, id, in, a);
}
