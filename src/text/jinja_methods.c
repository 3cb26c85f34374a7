/*
 * jinja_methods.c — the whitelisted methods (str: startswith, split, ...;
 * dict: items, keys, values, get; loop.cycle) and globals (range,
 * namespace, dict, raise_exception, strftime_now), with Python's
 * semantics. Nothing else is reachable from a template: there is no
 * attribute lookup by name on host objects, only these tables.
 */
#include "text/jinja-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE 100000 /* jinja2.sandbox.MAX_RANGE */

typedef jv *(*method_fn)(jrender *r, const jnode *at, jv *self, const jargs *a);

/* ------------------------------------------------------- string helpers */

static jv *new_str(jrender *r, const jnode *at, const char *s, size_t n) {
    if (!jr_size_ok(r, at, n) || !jr_bytes(r, at, n)) return NULL;
    jv *v = jv_str(s, n);
    return v ? v : jr_oom(r, at);
}

/* The buffer as a string value; !ok: building it failed (over max_output,
 * out of memory, or an error already recorded). Frees b. */
static jv *buf_str(jrender *r, const jnode *at, jbuf *b, bool ok) {
    if (!ok) return r->st == TS_OK ? jr_buf_fail(r, at, b) : (jbuf_free(b), NULL);
    jv *v = new_str(r, at, b->p ? b->p : "", b->n);
    jbuf_free(b);
    return v;
}

/* Work counted as it is done, charged to the step budget in batches so
 * that a long naive scan stops when the budget is spent. */
typedef struct work {
    uint64_t units;
} work;

static bool work_add(jrender *r, const jnode *at, work *w, uint64_t units) {
    w->units += units;
    if (w->units < 4096) return true;
    uint64_t steps = w->units / 16;
    w->units %= 16;
    return jr_step(r, at, steps);
}

static bool need_str(jrender *r, const jnode *at, const jv *v, const char *what) {
    if (v && jv_is_str(v)) return true;
    if (v && jv_is_undef(v)) return jr_undef_error(r, at, v), false;
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: %s must be a string, not %s", what,
            v ? jv_type_name(v) : "nothing");
    return false;
}

/* Length of the code point at s[0..n) when it occurs in `set`, else 0. */
static size_t cp_in_set(const jv *set, const char *s, size_t n) {
    size_t k = utf8_len(s, n);
    for (size_t i = 0; i < set->u.s.n; i += utf8_len(set->u.s.p + i, set->u.s.n - i))
        if (utf8_len(set->u.s.p + i, set->u.s.n - i) == k && memcmp(set->u.s.p + i, s, k) == 0)
            return k;
    return 0;
}

/* Byte length of the last code point of s[0..n), n > 0. */
static size_t last_cp_len(const char *s, size_t n) {
    size_t k = 1;
    while (k < 4 && k < n && ((unsigned char)s[n - k] & 0xc0) == 0x80) k++;
    return utf8_len(s + n - k, k) == k ? k : 1;
}

jv *py_strip(jrender *r, const jnode *at, const jv *s, const jv *chars, int which) {
    bool ws = !chars || jv_is_none(chars);
    if (!ws && !need_str(r, at, chars, "strip characters")) return NULL;
    const char *p = s->u.s.p;
    size_t b = 0, e = s->u.s.n, k;
    uint64_t cost = 1 + (ws ? 0 : chars->u.s.n / 4); /* per character looked at */
    work w = {0};
    while ((which & 1) && b < e &&
           (k = ws ? py_space_at(p + b, e - b) : cp_in_set(chars, p + b, e - b))) {
        b += k;
        if (!work_add(r, at, &w, cost)) return NULL;
    }
    while (
        (which & 2) && e > b &&
        (k = ws ? py_space_before(p + b, e - b)
                : cp_in_set(chars, p + e - last_cp_len(p + b, e - b), last_cp_len(p + b, e - b)))) {
        e -= k;
        if (!work_add(r, at, &w, cost)) return NULL;
    }
    return new_str(r, at, p + b, e - b);
}

jv *py_replace(jrender *r, const jnode *at, const jv *s, const jv *old, const jv *new_,
               int64_t count) {
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, on = old->u.s.n;
    if (!jr_bytes(r, at, n + on)) return NULL; /* the scan; the result is charged by new_str */
    jbuf b = jr_buf(r);
    bool ok = true;
    size_t i = 0;
    for (int64_t done = 0; ok && (count < 0 || done < count); done++) {
        const char *hit;
        if (!on) { /* "" matches before every character and at the end */
            if (i > n) break;
            hit = p + i;
        } else if (!(hit = memmem(p + i, n - i, old->u.s.p, on))) {
            break;
        }
        size_t at_off = (size_t)(hit - p);
        ok = jbuf_put(&b, p + i, at_off - i) && jbuf_put(&b, new_->u.s.p, new_->u.s.n);
        if (!on) {
            size_t k = at_off < n ? utf8_len(p + at_off, n - at_off) : 1;
            ok = ok && (at_off >= n || jbuf_put(&b, p + at_off, k));
            i = at_off + k;
        } else {
            i = at_off + on;
        }
    }
    if (ok && i < n) ok = jbuf_put(&b, p + i, n - i);
    return buf_str(r, at, &b, ok);
}

/* ---------------------------------------------------------- str methods */

static bool opt_int(jrender *r, const jnode *at, const jv *v, int64_t *out) {
    if (!v || jv_is_none(v)) return true;
    if (jv_is_int(v)) {
        *out = jv_int_of(v);
        return true;
    }
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: an integer is required, not %s",
            jv_type_name(v));
    return false;
}

/* startswith / endswith: a string or a tuple of strings. */
static jv *m_affix(jrender *r, const jnode *at, jv *self, const jargs *a, bool end) {
    static const char *const names[] = {"prefix"};
    jv *x = jargs_get(a, 0, NULL);
    if (!jargs_check(r, at, a, end ? "endswith" : "startswith", names, 1) || !x) {
        if (!x && r->st == TS_OK) jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: missing argument");
        return NULL;
    }
    jv *const *cands = jv_is_list(x) ? (jv *const *)x->u.list.v : (jv *const *)&x;
    size_t n = jv_is_list(x) ? x->u.list.n : 1;
    for (size_t i = 0; i < n; i++) {
        const jv *c = cands[i];
        if (!need_str(r, at, c, "the prefix or suffix") || !jr_bytes(r, at, c->u.s.n)) return NULL;
        if (c->u.s.n > self->u.s.n) continue;
        const char *p = self->u.s.p + (end ? self->u.s.n - c->u.s.n : 0);
        if (memcmp(p, c->u.s.p, c->u.s.n) == 0) return jv_bool(true);
    }
    return jv_bool(false);
}

static jv *m_startswith(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_affix(r, at, self, a, false);
}
static jv *m_endswith(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_affix(r, at, self, a, true);
}

static jv *m_strip_which(jrender *r, const jnode *at, jv *self, const jargs *a, int which) {
    static const char *const names[] = {"chars"};
    if (!jargs_check(r, at, a, "strip", names, 1)) return NULL;
    return py_strip(r, at, self, jargs_get(a, 0, "chars"), which);
}
static jv *m_strip(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_strip_which(r, at, self, a, 3);
}
static jv *m_lstrip(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_strip_which(r, at, self, a, 1);
}
static jv *m_rstrip(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_strip_which(r, at, self, a, 2);
}

static bool push_piece(jrender *r, const jnode *at, jv *list, const char *s, size_t n) {
    if (!jr_bytes(r, at, n + 16)) return false;
    if (!jv_list_push(list, jv_str(s, n))) return jr_oom(r, at), false;
    return true;
}

/* str.split() without a separator: runs of whitespace. */
static bool split_ws(jrender *r, const jnode *at, jv *out, const jv *s, int64_t maxsplit) {
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0, k;
    for (;;) {
        while (i < n && (k = py_space_at(p + i, n - i))) i += k;
        if (i >= n) return true;
        if (maxsplit == 0) return push_piece(r, at, out, p + i, n - i);
        size_t start = i;
        while (i < n && !py_space_at(p + i, n - i)) i += utf8_len(p + i, n - i);
        if (!push_piece(r, at, out, p + start, i - start)) return false;
        if (maxsplit > 0) maxsplit--;
    }
}

static bool split_sep(jrender *r, const jnode *at, jv *out, const jv *s, const jv *sep,
                      int64_t maxsplit) {
    const char *p = s->u.s.p, *hit;
    size_t n = s->u.s.n, i = 0;
    while (maxsplit != 0 && (hit = memmem(p + i, n - i, sep->u.s.p, sep->u.s.n))) {
        if (!push_piece(r, at, out, p + i, (size_t)(hit - p) - i)) return false;
        i = (size_t)(hit - p) + sep->u.s.n;
        if (maxsplit > 0) maxsplit--;
    }
    return push_piece(r, at, out, p + i, n - i);
}

/* rsplit with a separator and maxsplit >= 0: cut at the last maxsplit
 * occurrences, pieces kept in order. */
static bool rsplit_sep(jrender *r, const jnode *at, jv *out, const jv *s, const jv *sep,
                       int64_t maxsplit) {
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, m = sep->u.s.n, i = n, k = 0;
    size_t *cuts = malloc(((size_t)maxsplit < n ? (size_t)maxsplit : n) * sizeof *cuts + 1);
    if (!cuts) return jr_oom(r, at), false;
    if (!jr_bytes(r, at, n)) return free(cuts), false;
    work w = {0};
    while ((int64_t)k < maxsplit && i >= m) {
        size_t j = i - m + 1;
        bool ok = true;
        while (j-- > 0 && (ok = work_add(r, at, &w, 1 + m / 64)) &&
               memcmp(p + j, sep->u.s.p, m) != 0) {
        }
        if (!ok) return free(cuts), false;
        if (j == SIZE_MAX) break;
        cuts[k++] = j;
        i = j;
    }
    bool ok = true;
    size_t from = 0;
    while (k-- > 0 && ok) {
        ok = push_piece(r, at, out, p + from, cuts[k] - from);
        from = cuts[k] + m;
    }
    free(cuts);
    return ok && push_piece(r, at, out, p + from, n - from);
}

static jv *m_split_any(jrender *r, const jnode *at, jv *self, const jargs *a, bool right) {
    static const char *const names[] = {"sep", "maxsplit"};
    if (!jargs_check(r, at, a, right ? "rsplit" : "split", names, 2)) return NULL;
    jv *sep = jargs_get(a, 0, "sep");
    int64_t maxsplit = -1;
    if (!opt_int(r, at, jargs_get(a, 1, "maxsplit"), &maxsplit)) return NULL;
    bool ws = !sep || jv_is_none(sep);
    if (!ws && !need_str(r, at, sep, "the separator")) return NULL;
    if (!ws && !sep->u.s.n) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "ValueError: empty separator");
        return NULL;
    }
    if (right && ws && maxsplit >= 0) {
        jr_fail(r, at, TS_ERR_UNSUPPORTED,
                "rsplit() with maxsplit and no separator is not supported");
        return NULL;
    }
    if (!jr_bytes(r, at, self->u.s.n)) return NULL;
    jv *out = jv_list(0);
    if (!out) return jr_oom(r, at);
    bool ok = ws                       ? split_ws(r, at, out, self, maxsplit)
              : right && maxsplit >= 0 ? rsplit_sep(r, at, out, self, sep, maxsplit)
                                       : split_sep(r, at, out, self, sep, maxsplit);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}

static jv *m_split(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_split_any(r, at, self, a, false);
}
static jv *m_rsplit(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_split_any(r, at, self, a, true);
}

static jv *m_splitlines(jrender *r, const jnode *at, jv *self, const jargs *a) {
    static const char *const names[] = {"keepends"};
    if (!jargs_check(r, at, a, "splitlines", names, 1)) return NULL;
    jv *keep = jargs_get(a, 0, "keepends");
    bool keepends = keep && jv_truthy(keep);
    if (!jr_bytes(r, at, self->u.s.n)) return NULL;
    jv *out = jv_list(0);
    if (!out) return jr_oom(r, at);
    const char *p = self->u.s.p;
    size_t n = self->u.s.n, i = 0, start = 0;
    bool ok = true;
    while (i < n && ok) { /* \n, \r, \r\n (and \v \f \x1c-\x1e, as Python) */
        unsigned char c = (unsigned char)p[i];
        if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
            size_t eol = i + (c == '\r' && i + 1 < n && p[i + 1] == '\n' ? 2 : 1);
            ok = push_piece(r, at, out, p + start, (keepends ? eol : i) - start);
            i = start = eol;
        } else {
            i++;
        }
    }
    if (ok && start < n) ok = push_piece(r, at, out, p + start, n - start);
    if (!ok) jv_unref(out);
    return ok ? out : NULL;
}

static jv *m_replace(jrender *r, const jnode *at, jv *self, const jargs *a) {
    static const char *const names[] = {"old", "new", "count"};
    if (!jargs_check(r, at, a, "replace", names, 3)) return NULL;
    jv *old = jargs_get(a, 0, "old"), *new_ = jargs_get(a, 1, "new");
    int64_t count = -1;
    if (!need_str(r, at, old, "replace's old") || !need_str(r, at, new_, "replace's new") ||
        !opt_int(r, at, jargs_get(a, 2, "count"), &count))
        return NULL;
    return py_replace(r, at, self, old, new_, count);
}

static jv *m_case(jrender *r, const jnode *at, jv *self, const jargs *a, int how) {
    if (a->npos || a->nkw) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: this method takes no arguments");
        return NULL;
    }
    return py_case(r, at, self, how);
}
static jv *m_upper(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_case(r, at, self, a, PY_UPPER);
}
static jv *m_lower(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_case(r, at, self, a, PY_LOWER);
}
static jv *m_title(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_case(r, at, self, a, PY_TITLE);
}
static jv *m_capitalize(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_case(r, at, self, a, PY_CAPITALIZE);
}

/* Code point index of byte offset `off` in s. */
static int64_t cp_index(const jv *s, size_t off) {
    if (s->flags & JV_ASCII) return (int64_t)off;
    int64_t k = 0;
    for (size_t i = 0; i < off; i += utf8_len(s->u.s.p + i, s->u.s.n - i)) k++;
    return k;
}

static jv *m_find_any(jrender *r, const jnode *at, jv *self, const jargs *a, int mode) {
    static const char *const names[] = {"sub"};
    if (!jargs_check(r, at, a, mode == 2 ? "count" : "find", names, 1)) return NULL;
    jv *sub = jargs_get(a, 0, "sub");
    if (!need_str(r, at, sub, "the substring")) return NULL;
    const char *p = self->u.s.p, *hit;
    size_t n = self->u.s.n, m = sub->u.s.n;
    if (!jr_bytes(r, at, n + m)) return NULL;
    if (mode == 0) { /* find: memmem is linear */
        hit = m ? memmem(p, n, sub->u.s.p, m) : p;
        return jv_int(hit ? cp_index(self, (size_t)(hit - p)) : -1);
    }
    if (mode == 2) { /* count, non-overlapping */
        if (!m) return jv_int((int64_t)jv_str_cplen(self) + 1);
        int64_t c = 0;
        for (size_t i = 0; (hit = memmem(p + i, n - i, sub->u.s.p, m)); i = (size_t)(hit - p) + m)
            c++;
        return jv_int(c);
    }
    work w = {0}; /* rfind: a naive scan from the end */
    for (size_t i = n - m + 1; m <= n && i-- > 0;) {
        if (!work_add(r, at, &w, 1 + m / 64)) return NULL;
        if (memcmp(p + i, sub->u.s.p, m) == 0) return jv_int(cp_index(self, i));
    }
    return jv_int(-1);
}
static jv *m_find(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_find_any(r, at, self, a, 0);
}
static jv *m_rfind(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_find_any(r, at, self, a, 1);
}
static jv *m_count(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_find_any(r, at, self, a, 2);
}

static jv *m_join(jrender *r, const jnode *at, jv *self, const jargs *a) {
    static const char *const names[] = {"iterable"};
    jv *it = jargs_get(a, 0, NULL);
    if (!jargs_check(r, at, a, "join", names, 1)) return NULL;
    jv *items = it ? jr_iter_list(r, at, it) : NULL;
    if (!items)
        return it ? NULL
                  : (jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: join() needs an iterable"),
                     NULL);
    jbuf b = jr_buf(r);
    bool ok = jr_bytes(r, at, items->u.list.n * 16);
    for (size_t i = 0; i < items->u.list.n && ok; i++) {
        const jv *x = items->u.list.v[i];
        if (!jv_is_str(x)) {
            jbuf_free(&b);
            jv_unref(items);
            jr_fail(r, at, TS_ERR_INVALID_ARG,
                    "TypeError: sequence item %zu: expected str instance, %s found", i,
                    jv_type_name(x));
            return NULL;
        }
        ok = (!i || jbuf_put(&b, self->u.s.p, self->u.s.n)) && jbuf_put(&b, x->u.s.p, x->u.s.n);
        if (!ok) break;
    }
    jv_unref(items);
    return buf_str(r, at, &b, ok);
}

static jv *m_affix_remove(jrender *r, const jnode *at, jv *self, const jargs *a, bool suffix) {
    jv *x = jargs_get(a, 0, NULL);
    if (a->npos != 1 || a->nkw || !need_str(r, at, x, "the affix")) {
        if (r->st == TS_OK)
            jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: takes exactly one argument");
        return NULL;
    }
    size_t n = self->u.s.n, m = x->u.s.n;
    bool has = m <= n && memcmp(self->u.s.p + (suffix ? n - m : 0), x->u.s.p, m) == 0;
    if (!has) return jv_ref(self);
    return new_str(r, at, self->u.s.p + (suffix ? 0 : m), n - m);
}
static jv *m_removeprefix(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_affix_remove(r, at, self, a, false);
}
static jv *m_removesuffix(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_affix_remove(r, at, self, a, true);
}

/* isdigit, isalpha, isalnum, isspace, islower, isupper (ASCII classes). */
static jv *m_is(jrender *r, const jnode *at, jv *self, const jargs *a, int cls) {
    (void)a;
    const char *p = self->u.s.p;
    size_t n = self->u.s.n;
    if (!jr_bytes(r, at, n)) return NULL;
    bool any_cased = false, ok = n > 0;
    for (size_t i = 0; i < n && ok; i++) {
        char c = p[i];
        bool digit = c >= '0' && c <= '9', lower = c >= 'a' && c <= 'z',
             upper = c >= 'A' && c <= 'Z';
        any_cased |= lower || upper;
        switch (cls) {
        case 0:
            ok = digit;
            break;
        case 1:
            ok = lower || upper;
            break;
        case 2:
            ok = digit || lower || upper;
            break;
        case 4:
            ok = !upper;
            break;
        default:
            ok = !lower;
            break;
        }
    }
    return jv_bool(ok && (cls < 4 || any_cased));
}
static jv *m_isdigit(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_is(r, at, self, a, 0);
}
static jv *m_isalpha(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_is(r, at, self, a, 1);
}
static jv *m_isalnum(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_is(r, at, self, a, 2);
}
static jv *m_islower(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_is(r, at, self, a, 4);
}
static jv *m_isupper(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return m_is(r, at, self, a, 5);
}
static jv *m_isspace(jrender *r, const jnode *at, jv *self, const jargs *a) {
    (void)a;
    size_t n = self->u.s.n, i = 0, k;
    if (!jr_bytes(r, at, n)) return NULL;
    while (i < n && (k = py_space_at(self->u.s.p + i, n - i))) i += k;
    return jv_bool(n && i == n);
}

/* str.format with {} / {0} / {name} fields and {{ }} escapes; no format
 * specs or conversions (real templates do not use them). */
static jv *m_format(jrender *r, const jnode *at, jv *self, const jargs *a) {
    const char *p = self->u.s.p;
    size_t n = self->u.s.n, auto_i = 0;
    jbuf b = jr_buf(r);
    bool ok = jr_bytes(r, at, n);
    for (size_t i = 0; i < n && ok; i++) {
        if ((p[i] == '{' || p[i] == '}') && i + 1 < n && p[i + 1] == p[i]) {
            ok = jbuf_putc(&b, p[i++]);
            continue;
        }
        if (p[i] != '{') {
            ok = jbuf_putc(&b, p[i]);
            continue;
        }
        const char *close = memchr(p + i, '}', n - i);
        if (!close) break;
        size_t fl = (size_t)(close - p) - i - 1;
        char field[64];
        if (fl >= sizeof field || memchr(p + i + 1, ':', fl) || memchr(p + i + 1, '!', fl)) {
            jbuf_free(&b);
            jr_fail(r, at, TS_ERR_UNSUPPORTED,
                    "str.format: only {}, {N} and {name} fields are supported");
            return NULL;
        }
        memcpy(field, p + i + 1, fl);
        field[fl] = '\0';
        jv *v = !fl                                  ? jargs_get(a, auto_i++, NULL)
                : field[0] >= '0' && field[0] <= '9' ? jargs_get(a, (size_t)atoi(field), NULL)
                                                     : jargs_get(a, SIZE_MAX, field);
        if (!v) {
            jbuf_free(&b);
            jr_fail(r, at, TS_ERR_INVALID_ARG, "str.format: no argument for field '{%s}'", field);
            return NULL;
        }
        ok = jv_write_str(&b, v, 64);
        i += fl + 1;
    }
    return buf_str(r, at, &b, ok);
}

/* --------------------------------------------------------- dict methods */

static jv *dict_pairs(jrender *r, const jnode *at, jv *self, int what) {
    if (!jr_bytes(r, at, self->u.dict.n)) return NULL;
    jv *out = jv_list(self->u.dict.n);
    if (!out) return jr_oom(r, at);
    for (size_t i = 0; i < self->u.dict.n; i++) {
        jv *item;
        if (what == 0) {
            item = jv_list(2);
            if (item) {
                item->flags |= JV_TUPLE;
                jv_list_push(item, jv_ref(self->u.dict.keys[i]));
                jv_list_push(item, jv_ref(self->u.dict.vals[i]));
            }
        } else {
            item = jv_ref(what == 1 ? self->u.dict.keys[i] : self->u.dict.vals[i]);
        }
        if (!jv_list_push(out, item)) {
            jv_unref(out);
            return jr_oom(r, at);
        }
    }
    return out;
}

static bool no_args(jrender *r, const jnode *at, const jargs *a, const char *what) {
    if (!a->npos && !a->nkw) return true;
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: %s() takes no arguments", what);
    return false;
}

static jv *m_items(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return no_args(r, at, a, "items") ? dict_pairs(r, at, self, 0) : NULL;
}
static jv *m_keys(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return no_args(r, at, a, "keys") ? dict_pairs(r, at, self, 1) : NULL;
}
static jv *m_values(jrender *r, const jnode *at, jv *self, const jargs *a) {
    return no_args(r, at, a, "values") ? dict_pairs(r, at, self, 2) : NULL;
}

static jv *m_get(jrender *r, const jnode *at, jv *self, const jargs *a) {
    static const char *const names[] = {"key", "default"};
    jv *key = jargs_get(a, 0, NULL), *def = jargs_get(a, 1, NULL);
    if (!jargs_check(r, at, a, "get", names, 2) || a->nkw || !key) {
        if (r->st == TS_OK)
            jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: get() takes a key and a default");
        return NULL;
    }
    if (jv_is_str(key) && !jr_bytes(r, at, key->u.s.n)) return NULL; /* hashing it */
    jv *v = jv_is_str(key) ? jv_dict_find(self, key->u.s.p, key->u.s.n) : NULL;
    return jv_ref(v ? v : def ? def : jv_none());
}

/* ---------------------------------------------------------- loop.cycle */

static jv *m_cycle(jrender *r, const jnode *at, jv *self, const jargs *a) {
    if (!a->npos) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: no items for cycling given");
        return NULL;
    }
    return jv_ref(a->pos[self->u.loop.index0 % a->npos]);
}

/* ----------------------------------------------------------------- table */

static const struct method {
    uint8_t kind; /* owner */
    const char *name;
    method_fn fn;
} methods[] = {
    {TS_TMPL_KIND_STRING, "startswith", m_startswith},
    {TS_TMPL_KIND_STRING, "endswith", m_endswith},
    {TS_TMPL_KIND_STRING, "strip", m_strip},
    {TS_TMPL_KIND_STRING, "lstrip", m_lstrip},
    {TS_TMPL_KIND_STRING, "rstrip", m_rstrip},
    {TS_TMPL_KIND_STRING, "split", m_split},
    {TS_TMPL_KIND_STRING, "rsplit", m_rsplit},
    {TS_TMPL_KIND_STRING, "splitlines", m_splitlines},
    {TS_TMPL_KIND_STRING, "replace", m_replace},
    {TS_TMPL_KIND_STRING, "upper", m_upper},
    {TS_TMPL_KIND_STRING, "lower", m_lower},
    {TS_TMPL_KIND_STRING, "title", m_title},
    {TS_TMPL_KIND_STRING, "capitalize", m_capitalize},
    {TS_TMPL_KIND_STRING, "find", m_find},
    {TS_TMPL_KIND_STRING, "rfind", m_rfind},
    {TS_TMPL_KIND_STRING, "count", m_count},
    {TS_TMPL_KIND_STRING, "join", m_join},
    {TS_TMPL_KIND_STRING, "removeprefix", m_removeprefix},
    {TS_TMPL_KIND_STRING, "removesuffix", m_removesuffix},
    {TS_TMPL_KIND_STRING, "isdigit", m_isdigit},
    {TS_TMPL_KIND_STRING, "isalpha", m_isalpha},
    {TS_TMPL_KIND_STRING, "isalnum", m_isalnum},
    {TS_TMPL_KIND_STRING, "isspace", m_isspace},
    {TS_TMPL_KIND_STRING, "islower", m_islower},
    {TS_TMPL_KIND_STRING, "isupper", m_isupper},
    {TS_TMPL_KIND_STRING, "format", m_format},
    {TS_TMPL_KIND_DICT, "items", m_items},
    {TS_TMPL_KIND_DICT, "keys", m_keys},
    {TS_TMPL_KIND_DICT, "values", m_values},
    {TS_TMPL_KIND_DICT, "get", m_get},
    {JK_LOOP, "cycle", m_cycle},
};

#define N_METHODS (sizeof methods / sizeof methods[0])

jv *jr_method(jrender *r, const jv *obj, const char *name, size_t n) {
    (void)r;
    for (size_t i = 0; i < N_METHODS; i++)
        if (methods[i].kind == obj->kind && strlen(methods[i].name) == n &&
            memcmp(methods[i].name, name, n) == 0)
            return jv_func(JF_METHOD, (int)i, jv_ref(obj), NULL);
    return NULL;
}

jv *jr_call_method(jrender *r, const jnode *at, const jv *fn, const jargs *a) {
    TS_ASSERT(fn->u.fn.id < N_METHODS);
    return methods[fn->u.fn.id].fn(r, at, fn->u.fn.self, a);
}

/* ---------------------------------------------------------------- globals */

static jv *g_range(jrender *r, const jnode *at, const jargs *a) {
    int64_t v[3] = {0, 0, 1};
    if (a->nkw || a->npos < 1 || a->npos > 3) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: range expects 1 to 3 integer arguments");
        return NULL;
    }
    for (size_t i = 0; i < a->npos; i++) {
        if (!jv_is_int(a->pos[i])) {
            jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: range() arguments must be integers");
            return NULL;
        }
        v[a->npos == 1 ? 1 : i] = jv_int_of(a->pos[i]);
    }
    if (!v[2]) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "ValueError: range() arg 3 must not be zero");
        return NULL;
    }
    /* length in 128-bit-safe steps: bounds are int64 */
    __int128 span = v[2] > 0 ? (__int128)v[1] - v[0] : (__int128)v[0] - v[1];
    __int128 step = v[2] > 0 ? v[2] : -(__int128)v[2];
    __int128 len = span > 0 ? (span + step - 1) / step : 0;
    if (len > MAX_RANGE) {
        jr_fail(r, at, TS_ERR_UNSUPPORTED,
                "OverflowError: range too big; the sandbox blocks ranges larger than %d",
                MAX_RANGE);
        return NULL;
    }
    if (!jr_bytes(r, at, (size_t)len * 16)) return NULL;
    jv *out = jv_list((size_t)len);
    if (!out) return jr_oom(r, at);
    for (int64_t i = 0; i < (int64_t)len; i++)
        if (!jv_list_push(out, jv_int((int64_t)((__int128)v[0] + (__int128)i * v[2])))) {
            jv_unref(out);
            return jr_oom(r, at);
        }
    return out;
}

/* namespace(mapping?, **kwargs) and dict(mapping?, **kwargs). */
static jv *g_mapping(jrender *r, const jnode *at, const jargs *a, bool ns) {
    jv *m = ns ? jv_ns() : jv_dict();
    if (!m) return jr_oom(r, at);
    bool ok = a->npos <= 1 && (!a->npos || jv_is_dict(a->pos[0]));
    if (ok && a->npos && !jr_bytes(r, at, a->pos[0]->u.dict.n * 16)) return jv_unref(m), NULL;
    if (!ok)
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: %s() takes one optional mapping",
                ns ? "namespace" : "dict");
    for (size_t i = 0; ok && a->npos && i < a->pos[0]->u.dict.n; i++) {
        const jv *k = a->pos[0]->u.dict.keys[i];
        ok = jv_dict_put(m, k->u.s.p, k->u.s.n, jv_ref(a->pos[0]->u.dict.vals[i])) || jr_oom(r, at);
    }
    for (size_t i = 0; ok && i < a->nkw; i++)
        ok = jv_dict_put(m, a->kw[i], strlen(a->kw[i]), jv_ref(a->kwv[i])) || jr_oom(r, at);
    if (ok && ns) ok = jr_track_ns(r, at, m);
    if (!ok) jv_unref(m);
    return ok ? m : NULL;
}

static jv *g_raise(jrender *r, const jnode *at, const jargs *a) {
    jv *msg = jargs_get(a, 0, "message");
    jv *s = msg ? jr_to_str(r, at, msg) : NULL;
    if (msg && !s) return NULL;
    jr_fail(r, at, TS_ERR_INVALID_ARG, "%.*s", s ? (int)(s->u.s.n > 600 ? 600 : s->u.s.n) : 0,
            s ? s->u.s.p : "");
    jv_unref(s);
    return NULL;
}

static jv *g_strftime(jrender *r, const jnode *at, const jargs *a) {
    jv *fmt = jargs_get(a, 0, "format");
    if (!need_str(r, at, fmt, "strftime_now's format")) return NULL;
    if (fmt->u.s.n > 256 || memchr(fmt->u.s.p, '\0', fmt->u.s.n)) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "strftime_now: format too long or holds a NUL");
        return NULL;
    }
    struct tm tm;
    time_t t = r->p.has_now ? (time_t)r->p.now : time(NULL);
    if (!(r->p.has_now ? gmtime_r(&t, &tm) : localtime_r(&t, &tm))) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "strftime_now: the time cannot be represented");
        return NULL;
    }
    char out[2048];
    /* the format is the template's: strftime only reads it and writes at
     * most sizeof out bytes (0 when the result does not fit) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = strftime(out, sizeof out, fmt->u.s.p, &tm);
#pragma GCC diagnostic pop
    return new_str(r, at, out, n);
}

static jv *g_namespace(jrender *r, const jnode *at, const jargs *a) {
    return g_mapping(r, at, a, true);
}
static jv *g_dict(jrender *r, const jnode *at, const jargs *a) {
    return g_mapping(r, at, a, false);
}

typedef jv *(*global_fn)(jrender *r, const jnode *at, const jargs *a);

static const struct global {
    const char *name;
    global_fn fn;
} globals[] = {
    {"range", g_range},           {"namespace", g_namespace},   {"dict", g_dict},
    {"raise_exception", g_raise}, {"strftime_now", g_strftime},
};

#define N_GLOBALS (sizeof globals / sizeof globals[0])

/* One static function value per global: looked up often, never freed. */
static jv global_values[N_GLOBALS] = {
#define G(i)                                                                                       \
    {                                                                                              \
        .kind = JK_FUNC, .flags = JV_STATIC, .u.fn = {.fk = JF_GLOBAL, .id = i }                   \
    }
    G(0), G(1), G(2), G(3), G(4),
#undef G
};

jv *jr_global(const char *name, size_t n) {
    for (size_t i = 0; i < N_GLOBALS; i++)
        if (strlen(globals[i].name) == n && memcmp(globals[i].name, name, n) == 0)
            return &global_values[i];
    return NULL;
}

jv *jr_call_global(jrender *r, const jnode *at, int id, const jargs *a) {
    TS_ASSERT((size_t)id < N_GLOBALS);
    return globals[id].fn(r, at, a);
}
