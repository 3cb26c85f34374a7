/*
 * jinja_format.c — Python's printf-style string formatting (`fmt % arg`,
 * and jinja2's format filter): %s %r %d %i %u %f %F %e %E %g %G %x %X %o
 * %c %%, the flags "-+ #0", width, precision and %(key)s. A tuple gives
 * the arguments one by one; any other value is the single argument, and a
 * mapping-like one (dict, list, undefined) may also be left unused, as in
 * Python.
 */
#include "text/jinja-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spec {
    char flags[6];   /* of "-+ #0", NUL-terminated */
    int width, prec; /* -1: none */
    char type;
} spec;

static jv *fmt_fail(jrender *r, const jnode *at, jbuf *b, const char *msg) {
    jbuf_free(b);
    jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: %s", msg);
    return NULL;
}

/* Parse the spec after '%' at fmt[*i] (key already consumed). */
static bool parse_spec(const char *p, size_t n, size_t *i, spec *s) {
    size_t k = 0;
    *s = (spec){.width = -1, .prec = -1};
    while (*i < n && p[*i] && strchr("-+ #0", p[*i])) {
        if (k < sizeof s->flags - 1 && !strchr(s->flags, p[*i])) s->flags[k++] = p[*i];
        (*i)++;
    }
    for (; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++) /* saturates: > 4096 is refused */
        s->width = s->width > 4096 ? s->width : (s->width < 0 ? 0 : s->width) * 10 + (p[*i] - '0');
    if (*i < n && p[*i] == '.') {
        s->prec = 0;
        for ((*i)++; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++)
            s->prec = s->prec > 4096 ? s->prec : s->prec * 10 + (p[*i] - '0');
    }
    while (*i < n && p[*i] && strchr("hlL", p[*i])) (*i)++;
    if (*i >= n || s->width > 4096 || s->prec > 4096) return false;
    s->type = p[(*i)++];
    return true;
}

/* Text padded to the width (counted in code points). */
static bool put_padded(jbuf *b, const spec *s, const char *t, size_t n) {
    size_t cps = utf8_count(t, n);
    if (s->prec >= 0 && (size_t)s->prec < cps) { /* %.3s truncates */
        n = utf8_offset(t, n, (size_t)s->prec);
        cps = (size_t)s->prec;
    }
    bool left = strchr(s->flags, '-') != NULL, ok = true;
    for (size_t k = cps; !left && ok && s->width > 0 && k < (size_t)s->width; k++)
        ok = jbuf_putc(b, ' ');
    ok = ok && jbuf_put(b, t, n);
    for (size_t k = cps; left && ok && s->width > 0 && k < (size_t)s->width; k++)
        ok = jbuf_putc(b, ' ');
    return ok;
}

/* A number through C's printf, whose output for these conversions is
 * Python's. */
static bool put_number(jbuf *b, const spec *s, const jv *v, const char **err) {
    char cfmt[32], out[4200];
    bool is_int_type = strchr("diuxXo", s->type) != NULL;
    if (!jv_is_num(v) || (strchr("xXo", s->type) && !jv_is_int(v))) {
        *err = is_int_type ? "%d format: a real number is required" : "must be real number";
        return false;
    }
    int k = snprintf(cfmt, sizeof cfmt, "%%%s", s->flags);
    if (s->width >= 0) k += snprintf(cfmt + k, sizeof cfmt - (size_t)k, "%d", s->width);
    if (s->prec >= 0) k += snprintf(cfmt + k, sizeof cfmt - (size_t)k, ".%d", s->prec);
    char t = s->type == 'i' || s->type == 'u' ? 'd' : s->type;
    int len;
    if (is_int_type) {
        double f = jv_num_of(v);
        if (!jv_is_int(v) && (!isfinite(f) || fabs(f) >= 9.2e18))
            return *err = "integer out of range", false;
        snprintf(cfmt + k, sizeof cfmt - (size_t)k, "ll%c", t);
        long long x = jv_is_int(v) ? (long long)jv_int_of(v) : (long long)f;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        len = snprintf(out, sizeof out, cfmt, x);
    } else {
        snprintf(cfmt + k, sizeof cfmt - (size_t)k, "%c", t);
        len = snprintf(out, sizeof out, cfmt, jv_num_of(v)); /* cfmt built from a checked spec */
#pragma GCC diagnostic pop
    }
    return len >= 0 && jbuf_put(b, out, (size_t)len < sizeof out ? (size_t)len : sizeof out - 1);
}

static bool put_char(jbuf *b, const spec *s, const jv *v, const char **err) {
    char u[4];
    if (jv_is_str(v) && jv_str_cplen(v) == 1) return put_padded(b, s, v->u.s.p, v->u.s.n);
    if (!jv_is_int(v) || jv_int_of(v) < 0 || jv_int_of(v) > 0x10ffff)
        return *err = "%c requires an int in range or a single character", false;
    size_t n = ts_utf8_encode((uint32_t)jv_int_of(v), u);
    spec t = *s;
    t.prec = -1;
    return put_padded(b, &t, u, n);
}

static bool put_value(jrender *r, const jnode *at, jbuf *b, const spec *s, const jv *v,
                      const char **err) {
    if (s->type == 's' || s->type == 'r' || s->type == 'a') {
        jbuf t = jr_buf(r);
        bool ok = s->type == 's' ? jv_write_str(&t, v, 64) : jv_write_repr(&t, v, 64);
        if (!ok && t.over) b->over = true;
        ok = ok && put_padded(b, s, t.p ? t.p : "", t.n);
        jbuf_free(&t);
        return ok || (*err = b->over ? NULL : "value nested too deeply", false);
    }
    if (s->type == 'c') return put_char(b, s, v, err);
    if (strchr("diuxXofFeEgG", s->type)) {
        if (jv_is_undef(v)) return jr_undef_error(r, at, v), *err = NULL, false;
        return put_number(b, s, v, err);
    }
    *err = "unsupported format character";
    return false;
}

/* %(key)s: the value of key in the mapping `arg`, or NULL (*err set). */
static const jv *keyed_arg(const char *p, size_t n, size_t *i, const jv *arg, const char **err) {
    const char *close = memchr(p + *i, ')', n - *i);
    if (!close) return *err = "incomplete format key", NULL;
    if (!jv_is_dict(arg)) return *err = "format requires a mapping", NULL;
    const jv *v = jv_dict_find(arg, p + *i + 1, (size_t)(close - p) - *i - 1);
    *i = (size_t)(close - p) + 1;
    return v ? v : (*err = "KeyError: format key not found", NULL);
}

jv *py_percent(jrender *r, const jnode *at, const jv *fmt, const jv *arg) {
    bool tuple = jv_is_list(arg) && (arg->flags & JV_TUPLE);
    bool mapping = !tuple && (jv_is_dict(arg) || jv_is_list(arg) || jv_is_undef(arg));
    size_t argc = tuple ? arg->u.list.n : 1, used = 0;
    const char *p = fmt->u.s.p, *err = NULL;
    size_t n = fmt->u.s.n;
    if (!jr_bytes(r, at, n)) return NULL;
    jbuf b = jr_buf(r);
    for (size_t i = 0; i < n;) {
        const char *pct = memchr(p + i, '%', n - i);
        size_t upto = pct ? (size_t)(pct - p) : n;
        if (!jbuf_put(&b, p + i, upto - i)) return jr_buf_fail(r, at, &b);
        if (!pct) break;
        i = upto + 1;
        if (i < n && p[i] == '%') {
            if (!jbuf_putc(&b, '%')) return jr_buf_fail(r, at, &b);
            i++;
            continue;
        }
        const jv *v = i < n && p[i] == '(' ? keyed_arg(p, n, &i, arg, &err) : NULL;
        if (err) return fmt_fail(r, at, &b, err);
        spec s;
        if (!parse_spec(p, n, &i, &s))
            return fmt_fail(r, at, &b, "incomplete format, or width/precision over 4096");
        if (!v && used >= argc)
            return fmt_fail(r, at, &b, "not enough arguments for format string");
        if (!v) v = tuple ? arg->u.list.v[used++] : (used++, arg);
        if (!put_value(r, at, &b, &s, v, &err)) {
            if (b.over || (!err && r->st == TS_OK)) return jr_buf_fail(r, at, &b);
            if (!err) return jbuf_free(&b), NULL;
            return fmt_fail(r, at, &b, err);
        }
    }
    if (used < argc && !mapping)
        return fmt_fail(r, at, &b, "not all arguments converted during string formatting");
    jv *v = jr_bytes(r, at, b.n) ? jv_str(b.p ? b.p : "", b.n) : NULL;
    if (!v && r->st == TS_OK) jr_oom(r, at);
    jbuf_free(&b);
    return v;
}
