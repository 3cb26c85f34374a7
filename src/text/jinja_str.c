/*
 * jinja_str.c — values as text, exactly as Python writes them: str() and
 * repr() (True, None, 1.0, 1e+16, ['a', "it's"]), json.dumps as
 * transformers' tojson calls it (ensure_ascii=False, ", " and ": ", indent),
 * and the UTF-8 and whitespace helpers the lexer and string methods share.
 */
#include "text/jinja-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ utf-8 */

size_t utf8_len(const char *s, size_t n) {
    uint32_t cp;
    int k = ts_utf8_decode(s, n, &cp);
    return k > 0 ? (size_t)k : 1;
}

size_t utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; count++) i += (unsigned char)s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
    return count;
}

size_t utf8_offset(const char *s, size_t n, size_t i) {
    size_t off = 0;
    while (i-- > 0 && off < n) off += utf8_len(s + off, n - off);
    return off;
}

/* Python's str.isspace() code points (what \s matches in a str pattern). */
static bool py_space_cp(uint32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

size_t py_space_at(const char *s, size_t n) {
    if (!n) return 0;
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return py_space_cp(c) ? 1 : 0;
    uint32_t cp;
    int k = ts_utf8_decode(s, n, &cp);
    return k > 0 && py_space_cp(cp) ? (size_t)k : 0;
}

size_t py_space_before(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if (k == 1 && c < 0x80) return py_space_cp(c) ? 1 : 0;
        if (c >= 0xc0) return py_space_at(s + n - k, k) == k ? k : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ float */

void jv_write_float(char out[32], double f) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    /* repr: the shortest digits that read back as f */
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp < -4 || exp >= 16) { /* Python switches to exponent notation */
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    if (exp < 0) {
        o += sprintf(o, "0.");
        for (int i = -1; i > exp; i--) *o++ = '0';
        memcpy(o, digits, nd);
        o += nd;
    } else {
        for (int i = 0; i <= exp; i++) *o++ = (size_t)i < nd ? digits[i] : '0';
        *o++ = '.';
        if ((size_t)exp + 1 < nd) {
            memcpy(o, digits + exp + 1, nd - (size_t)exp - 1);
            o += nd - (size_t)exp - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = '\0';
}

/* --------------------------------------------------------------- str/repr */

/* Non-ASCII code points Python's repr escapes (str.isprintable() false):
 * C1 controls, separators other than space, format characters, private
 * use and non-characters. */
static bool py_unprintable(uint32_t c) {
    if (c <= 0xa0 || c == 0xad) return true;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f)) return true;
    if ((c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff) return true;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x180e)
        return true;
    if ((c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xfffb) || c == 0xfffe || c == 0xffff)
        return true;
    if (c >= 0xe0000) return true; /* tags, private use planes */
    return false;
}

static bool write_str_repr(jbuf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    bool ok = jbuf_putc(b, q);
    for (size_t i = 0; i < n && ok;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            uint32_t cp;
            int k = ts_utf8_decode(s + i, n - i, &cp);
            if (k <= 0) { /* not text Python could hold: keep the byte */
                ok = jbuf_putc(b, (char)c);
                i++;
            } else {
                ok = !py_unprintable(cp) ? jbuf_put(b, s + i, (size_t)k)
                     : cp <= 0xff        ? jbuf_printf(b, "\\x%02x", cp)
                     : cp <= 0xffff      ? jbuf_printf(b, "\\u%04x", cp)
                                         : jbuf_printf(b, "\\U%08x", cp);
                i += (size_t)k;
            }
            continue;
        }
        i++;
        if (c == (unsigned char)q || c == '\\')
            ok = jbuf_putc(b, '\\') && jbuf_putc(b, (char)c);
        else if (c == '\n')
            ok = jbuf_puts(b, "\\n");
        else if (c == '\r')
            ok = jbuf_puts(b, "\\r");
        else if (c == '\t')
            ok = jbuf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            ok = jbuf_printf(b, "\\x%02x", c);
        else
            ok = jbuf_putc(b, (char)c);
    }
    return ok && jbuf_putc(b, q);
}

static bool write_seq_repr(jbuf *b, const jv *v, int depth) {
    bool tuple = v->flags & JV_TUPLE;
    bool ok = jbuf_putc(b, tuple ? '(' : '[');
    for (size_t i = 0; i < v->u.list.n && ok; i++) {
        if (i) ok = jbuf_puts(b, ", ");
        ok = ok && jv_write_repr(b, v->u.list.v[i], depth - 1);
    }
    if (ok && tuple && v->u.list.n == 1) ok = jbuf_putc(b, ',');
    return ok && jbuf_putc(b, tuple ? ')' : ']');
}

static bool write_dict_repr(jbuf *b, const jv *v, int depth) {
    bool ok = jbuf_putc(b, '{');
    for (size_t i = 0; i < v->u.dict.n && ok; i++) {
        const jv *k = v->u.dict.keys[i];
        if (i) ok = jbuf_puts(b, ", ");
        ok = ok && write_str_repr(b, k->u.s.p, k->u.s.n) && jbuf_puts(b, ": ") &&
             jv_write_repr(b, v->u.dict.vals[i], depth - 1);
    }
    return ok && jbuf_putc(b, '}');
}

bool jv_write_repr(jbuf *b, const jv *v, int depth) {
    if (depth <= 0) return false;
    switch (v->kind) {
    case TS_TMPL_KIND_STRING:
        return write_str_repr(b, v->u.s.p, v->u.s.n);
    case TS_TMPL_KIND_LIST:
        return write_seq_repr(b, v, depth);
    case TS_TMPL_KIND_DICT:
        return write_dict_repr(b, v, depth);
    case JK_UNDEF:
        return jbuf_puts(b, "Undefined");
    case JK_NS:
        return jbuf_puts(b, "<Namespace ") && write_dict_repr(b, v, depth) && jbuf_putc(b, '>');
    default:
        return jv_write_str(b, v, depth);
    }
}

bool jv_write_str(jbuf *b, const jv *v, int depth) {
    char num[32];
    switch (v->kind) {
    case TS_TMPL_KIND_NONE:
        return jbuf_puts(b, "None");
    case TS_TMPL_KIND_BOOL:
        return jbuf_puts(b, v->u.b ? "True" : "False");
    case TS_TMPL_KIND_INT:
        return jbuf_printf(b, "%lld", (long long)v->u.i);
    case TS_TMPL_KIND_FLOAT:
        jv_write_float(num, v->u.f);
        return jbuf_puts(b, num);
    case TS_TMPL_KIND_STRING:
        return jbuf_put(b, v->u.s.p, v->u.s.n);
    case JK_UNDEF:
        return true;
    case JK_FUNC:
        return jbuf_puts(b, "<function>");
    case JK_LOOP:
        return jbuf_printf(b, "<LoopContext %zu/%zu>", v->u.loop.index0 + 1,
                           v->u.loop.items->u.list.n);
    default:
        return jv_write_repr(b, v, depth);
    }
}

/* ------------------------------------------------------------------- json */

static bool json_string(jbuf *b, const char *s, size_t n, bool ascii) {
    bool ok = jbuf_putc(b, '"');
    for (size_t i = 0; i < n && ok;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        int k;
        if (c >= 0x80 && ascii && (k = ts_utf8_decode(s + i, n - i, &cp)) > 0) {
            if (cp >= 0x10000) { /* UTF-16 surrogate pair, as Python writes it */
                cp -= 0x10000;
                ok = jbuf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                ok = jbuf_printf(b, "\\u%04x", cp);
            }
            i += (size_t)k;
            continue;
        }
        i++;
        switch (c) {
        case '"':
            ok = jbuf_puts(b, "\\\"");
            break;
        case '\\':
            ok = jbuf_puts(b, "\\\\");
            break;
        case '\n':
            ok = jbuf_puts(b, "\\n");
            break;
        case '\r':
            ok = jbuf_puts(b, "\\r");
            break;
        case '\t':
            ok = jbuf_puts(b, "\\t");
            break;
        case '\b':
            ok = jbuf_puts(b, "\\b");
            break;
        case '\f':
            ok = jbuf_puts(b, "\\f");
            break;
        default:
            ok = c < 0x20 ? jbuf_printf(b, "\\u%04x", c) : jbuf_putc(b, (char)c);
        }
    }
    return ok && jbuf_putc(b, '"');
}

static bool json_newline(jbuf *b, const jjson_opts *o, int level) {
    if (o->indent < 0) return true;
    bool ok = jbuf_putc(b, '\n');
    for (long i = 0; i < (long)o->indent * level && ok; i++) ok = jbuf_putc(b, ' ');
    return ok;
}

static int key_order(const void *x, const void *y, void *dict) {
    const jv *d = dict, *a = d->u.dict.keys[*(const size_t *)x],
             *b = d->u.dict.keys[*(const size_t *)y];
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
    return c ? c : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

/* Entry order of a dict, sorted by key (code point order) when asked;
 * keys are unique, so an unstable sort is fine. */
static size_t *json_order(const jv *v, bool sort) {
    size_t n = v->u.dict.n, *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord) return NULL;
    for (size_t i = 0; i < n; i++) ord[i] = i;
    if (sort) qsort_r(ord, n, sizeof *ord, key_order, (void *)v);
    return ord;
}

static bool json_value(jbuf *b, const jv *v, const jjson_opts *o, int depth, const char **why,
                       int level);

static bool json_container(jbuf *b, const jv *v, const jjson_opts *o, int depth, const char **why,
                           int level) {
    bool dict = jv_is_dict(v);
    size_t n = dict ? v->u.dict.n : v->u.list.n;
    if (!n) return jbuf_puts(b, dict ? "{}" : "[]");
    size_t *ord = dict ? json_order(v, o->sort_keys) : NULL;
    if (dict && !ord) return false;
    bool ok = jbuf_putc(b, dict ? '{' : '[') && json_newline(b, o, level + 1);
    for (size_t i = 0; i < n && ok; i++) {
        if (i) ok = jbuf_puts(b, o->item_sep) && json_newline(b, o, level + 1);
        if (dict) {
            const jv *k = v->u.dict.keys[ord[i]];
            ok = ok && json_string(b, k->u.s.p, k->u.s.n, o->ensure_ascii) &&
                 jbuf_puts(b, o->key_sep);
        }
        ok = ok && json_value(b, dict ? v->u.dict.vals[ord[i]] : v->u.list.v[i], o, depth - 1, why,
                              level + 1);
    }
    free(ord);
    return ok && json_newline(b, o, level) && jbuf_putc(b, dict ? '}' : ']');
}

static bool json_value(jbuf *b, const jv *v, const jjson_opts *o, int depth, const char **why,
                       int level) {
    if (depth <= 0) {
        *why = "nesting too deep";
        return false;
    }
    char num[32];
    switch (v->kind) {
    case TS_TMPL_KIND_NONE:
        return jbuf_puts(b, "null");
    case TS_TMPL_KIND_BOOL:
        return jbuf_puts(b, v->u.b ? "true" : "false");
    case TS_TMPL_KIND_INT:
        return jbuf_printf(b, "%lld", (long long)v->u.i);
    case TS_TMPL_KIND_FLOAT:
        if (isnan(v->u.f)) return jbuf_puts(b, "NaN");
        if (isinf(v->u.f)) return jbuf_puts(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        jv_write_float(num, v->u.f);
        return jbuf_puts(b, num);
    case TS_TMPL_KIND_STRING:
        return json_string(b, v->u.s.p, v->u.s.n, o->ensure_ascii);
    case TS_TMPL_KIND_LIST:
    case TS_TMPL_KIND_DICT:
        return json_container(b, v, o, depth, why, level);
    default:
        *why = v->kind == JK_UNDEF ? "Object of type Undefined is not JSON serializable"
                                   : "object is not JSON serializable";
        return false;
    }
}

bool jv_write_json(jbuf *b, const jv *v, const jjson_opts *o, int depth, const char **why) {
    *why = NULL;
    return json_value(b, v, o, depth, why, 0);
}
