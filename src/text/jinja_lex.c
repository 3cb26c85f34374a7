/*
 * jinja_lex.c — template source to tokens, following jinja2's lexer with
 * the settings transformers uses (trim_blocks, lstrip_blocks):
 *
 *  - the source's newlines (\r\n, \r) are already "\n" and one trailing
 *    newline removed (keep_trailing_newline=False; see jinja_parse.c);
 *  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`,
 *    `-}}`, `-#}` all whitespace after it;
 *  - trim_blocks: a block or comment end (`%}`, `#}`, not `}}`, not `+%}`)
 *    swallows one "\n" right after it;
 *  - lstrip_blocks: spaces and tabs (any Python whitespace) between the
 *    start of a line and a block or comment tag are removed, unless the tag
 *    opens with `{%+`; "start of a line" also holds at the start of the
 *    template and right after a tag whose match ended with "\n";
 *  - `{% raw %}...{% endraw %}` is text.
 * Inside tags, `}}` and `%}` close the tag only outside brackets.
 */
#include "text/jinja-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const jop_text[JOP_COUNT] = {
#define JOP_X(name, text) [JOP_##name] = text,
    JOP_LIST(JOP_X)
#undef JOP_X
};

typedef struct lexer {
    const char *src;
    size_t n, pos;
    jarena *arena;
    jtoks *out;
    bool line_starting;                  /* the last match ended with "\n" */
    char stack[TS_TEMPLATE_MAX_NESTING]; /* open brackets inside a tag */
    int depth;
} lexer;

/* ---------------------------------------------------------------- errors */

ts_status jinja_error_at(const char *src, size_t n, uint32_t off, ts_status st, const char *fmt,
                         ...) {
    unsigned line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < off && i < n; i++)
        if (src[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ts_error(st, "template line %u, column %zu: %s", line, off - line_start + 1, msg);
}

#define LEX_FAIL(lx, off, ...)                                                                     \
    jinja_error_at((lx)->src, (lx)->n, (uint32_t)(off), TS_ERR_FORMAT, __VA_ARGS__)

static ts_status push(lexer *lx, jtok t) {
    jtoks *o = lx->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        jtok *v = realloc(o->v, cap * sizeof *v);
        if (!v) return ts_error(TS_ERR_NOMEM, "template: out of memory");
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = t;
    return TS_OK;
}

/* ------------------------------------------------------------ whitespace */

static size_t skip_space(const char *s, size_t n, size_t pos) {
    size_t k;
    while (pos < n && (k = py_space_at(s + pos, n - pos))) pos += k;
    return pos;
}

/* Text src[from..to) before a tag whose opening marker is `sign` ('-', '+'
 * or 0): apply `-` and lstrip_blocks; returns the new end. */
static size_t strip_before_tag(const lexer *lx, size_t from, size_t to, char sign, bool var) {
    const char *s = lx->src;
    if (sign == '-') {
        size_t k;
        while (to > from && (k = py_space_before(s + from, to - from))) to -= k;
        return to;
    }
    if (sign == '+' || var) return to;
    size_t l = to;
    while (l > from && s[l - 1] != '\n') l--;
    if (l == from && !lx->line_starting) return to;
    if (l == to || skip_space(s, to, l) != to) return to;
    return l;
}

/* Match a tag end at pos: `-END` plus whitespace, `+END` (blocks and
 * comments), or END with trim_blocks' "\n" (blocks and comments). Returns
 * the position after it, or 0 when there is none. */
static size_t match_end(const lexer *lx, size_t pos, const char *end, bool block) {
    const char *s = lx->src;
    size_t n = lx->n, e = strlen(end);
    if (pos + 1 + e <= n && s[pos] == '-' && memcmp(s + pos + 1, end, e) == 0)
        return skip_space(s, n, pos + 1 + e);
    if (block && pos + 1 + e <= n && s[pos] == '+' && memcmp(s + pos + 1, end, e) == 0)
        return pos + 1 + e;
    if (pos + e <= n && memcmp(s + pos, end, e) == 0) {
        pos += e;
        if (block && pos < n && s[pos] == '\n') pos++;
        return pos;
    }
    return 0;
}

/* ---------------------------------------------------------------- numbers */

static size_t scan_digits(const char *s, size_t n, size_t pos) { /* (\d+_)*\d+ */
    size_t p = pos, end = pos;
    while (p < n && s[p] >= '0' && s[p] <= '9') {
        while (p < n && s[p] >= '0' && s[p] <= '9') p++;
        end = p;
        if (p + 1 < n && s[p] == '_' && s[p + 1] >= '0' && s[p + 1] <= '9') p++;
    }
    return end;
}

static size_t copy_digits(char *dst, size_t cap, const char *s, size_t from, size_t to) {
    size_t k = 0;
    for (size_t i = from; i < to && k + 1 < cap; i++)
        if (s[i] != '_') dst[k++] = s[i];
    dst[k] = '\0';
    return k;
}

/* Float: digits then a fraction, an exponent or both. 0 when none. */
static size_t scan_float(const lexer *lx, size_t pos) {
    const char *s = lx->src;
    size_t n = lx->n;
    if (pos > 0 && s[pos - 1] == '.') return 0;
    size_t p = scan_digits(s, n, pos);
    if (p == pos) return 0;
    bool frac = false;
    if (p + 1 < n && s[p] == '.') {
        size_t q = scan_digits(s, n, p + 1);
        if (q > p + 1) {
            p = q;
            frac = true;
        }
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        size_t q = p + 1;
        if (q < n && (s[q] == '+' || s[q] == '-')) q++;
        size_t r = scan_digits(s, n, q);
        if (r > q) return r;
    }
    return frac ? p : 0;
}

static int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

/* (_?D)* from p, D a digit below base (base 1: only '0'); the end. */
static size_t scan_radix(const char *s, size_t n, size_t p, int base) {
    for (;;) {
        size_t q = p < n && s[p] == '_' ? p + 1 : p;
        if (q >= n || (base == 1 ? s[q] != '0' : digit_value(s[q]) >= base)) return p;
        p = q + 1;
    }
}

/* Integer literal into t: 0b.. 0o.. 0x.., [1-9](_?\d)*, 0(_?0)*. */
static ts_status lex_int(lexer *lx, jtok *t) {
    const char *s = lx->src;
    size_t n = lx->n, p = lx->pos, end = 0;
    int base = 0;
    if (s[p] == '0' && p + 1 < n) {
        char c = (char)(s[p + 1] | 0x20);
        base = c == 'b' ? 2 : c == 'o' ? 8 : c == 'x' ? 16 : 0;
        if (base && (end = scan_radix(s, n, p + 2, base)) > p + 2)
            p += 2;
        else
            base = 0;
    }
    if (!base) {
        base = 10;
        end = scan_radix(s, n, p + 1, s[p] == '0' ? 1 : 10);
    }
    uint64_t v = 0;
    bool ok = true;
    for (size_t i = p; i < end; i++)
        if (s[i] != '_')
            ok = ok && ts_mul_u64(v, (uint64_t)base, &v) &&
                 ts_add_u64(v, (uint64_t)digit_value(s[i]), &v);
    if (!ok || v > INT64_MAX)
        return LEX_FAIL(lx, lx->pos,
                        "integer literal too large (the sandbox's integers are 64-bit)");
    t->kind = JT_INT;
    t->i = (int64_t)v;
    lx->pos = end;
    return TS_OK;
}

static ts_status lex_number(lexer *lx, jtok *t) {
    size_t end = scan_float(lx, lx->pos);
    if (!end) return lex_int(lx, t);
    char buf[128];
    copy_digits(buf, sizeof buf, lx->src, lx->pos, end);
    t->kind = JT_FLOAT;
    t->f = strtod(buf, NULL);
    lx->pos = end;
    return TS_OK;
}

/* ---------------------------------------------------------------- strings */

/* \xhh \uhhhh \Uhhhhhhhh: `digits` hex digits at s[p..]; -1 when short. */
static int64_t hex_escape(const char *s, size_t end, size_t p, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        if (p + (size_t)i >= end || digit_value(s[p + i]) > 15) return -1;
        v = v * 16 + (uint32_t)digit_value(s[p + i]);
    }
    return v;
}

/* One escape at s[p] (after the backslash); writes to o, returns bytes
 * written, advances *p; -1 for a malformed escape. */
static int decode_escape(const char *s, size_t end, size_t *p, char *o) {
    static const char simple_in[] = "\\'\"abfnrtv", simple_out[] = "\\'\"\a\b\f\n\r\t\v";
    char c = s[*p];
    const char *k = strchr(simple_in, c);
    if (c && k) {
        (*p)++;
        o[0] = simple_out[k - simple_in];
        return 1;
    }
    if (c == '\n') return (int)((*p)++, 0); /* line continuation */
    if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        for (int i = 0; i < 3 && *p < end && s[*p] >= '0' && s[*p] <= '7'; i++)
            v = v * 8 + (uint32_t)(s[(*p)++] - '0');
        return (int)ts_utf8_encode(v, o);
    }
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits) { /* unknown escapes stay as written */
        o[0] = '\\';
        return 1;
    }
    int64_t v = hex_escape(s, end, *p + 1, digits);
    if (v < 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return -1;
    *p += 1 + (size_t)digits;
    return (int)ts_utf8_encode((uint32_t)v, o);
}

/* A quoted string, decoded as Python's unicode-escape codec does. */
static ts_status lex_string(lexer *lx, jtok *t) {
    const char *s = lx->src;
    size_t start = lx->pos, p = start + 1;
    char q = s[start];
    while (p < lx->n && s[p] != q) p += s[p] == '\\' ? 2 : 1;
    if (p >= lx->n) return LEX_FAIL(lx, start, "unterminated string");
    size_t end = p;
    char *o = jarena_alloc(lx->arena, end - start + 1);
    if (!o) return ts_error(TS_ERR_NOMEM, "template: out of memory");
    size_t k = 0;
    for (p = start + 1; p < end;) {
        if (s[p] != '\\') {
            o[k++] = s[p++];
            continue;
        }
        size_t at = p++;
        int w = decode_escape(s, end, &p, o + k);
        if (w < 0) return LEX_FAIL(lx, at, "malformed escape in string");
        k += (size_t)w;
    }
    t->kind = JT_STRING;
    t->s = o;
    t->n = k;
    lx->pos = end + 1;
    return TS_OK;
}

/* -------------------------------------------------------------- operators */

static int match_op(const char *s, size_t n) {
    static const jop two[] = {JOP_FLOORDIV, JOP_POW, JOP_EQ, JOP_NE, JOP_GE, JOP_LE};
    if (n >= 2)
        for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
            if (memcmp(s, jop_text[two[i]], 2) == 0) return (int)two[i];
    for (int op = 0; op < JOP_COUNT; op++)
        if (jop_text[op][1] == '\0' && s[0] == jop_text[op][0]) return op;
    return -1;
}

/* Brackets must balance inside a tag; `}}` and `%}` end it only outside. */
static ts_status balance(lexer *lx, int op) {
    static const char open[] = "([{", close[] = ")]}";
    char c = jop_text[op][0];
    if (jop_text[op][1]) return TS_OK;
    if (strchr(open, c)) {
        if (lx->depth == TS_TEMPLATE_MAX_NESTING)
            return LEX_FAIL(lx, lx->pos, "brackets nested too deeply");
        lx->stack[lx->depth++] = close[strchr(open, c) - open];
        return TS_OK;
    }
    if (!strchr(close, c)) return TS_OK;
    if (!lx->depth) return LEX_FAIL(lx, lx->pos, "unexpected '%c'", c);
    char want = lx->stack[--lx->depth];
    if (want != c) return LEX_FAIL(lx, lx->pos, "unexpected '%c', expected '%c'", c, want);
    return TS_OK;
}

/* ------------------------------------------------------------------ tags */

static bool name_char(char c, bool first) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

/* One token inside a tag at lx->pos (whitespace already skipped). */
static ts_status lex_token(lexer *lx) {
    const char *s = lx->src;
    jtok t = {.off = (uint32_t)lx->pos};
    char c = s[lx->pos];
    ts_status st = TS_OK;
    if (c >= '0' && c <= '9') {
        st = lex_number(lx, &t);
    } else if (name_char(c, true)) {
        size_t p = lx->pos;
        while (p < lx->n && name_char(s[p], false)) p++;
        t = (jtok){.kind = JT_NAME, .off = t.off, .s = s + lx->pos, .n = p - lx->pos};
        lx->pos = p;
    } else if (c == '\'' || c == '"') {
        st = lex_string(lx, &t);
    } else {
        int op = match_op(s + lx->pos, lx->n - lx->pos);
        if (op < 0 && c > 0x20 && c < 0x7f)
            return LEX_FAIL(lx, lx->pos, "unexpected character '%c'", c);
        if (op < 0) return LEX_FAIL(lx, lx->pos, "unexpected byte 0x%02x", (unsigned char)c);
        if ((st = balance(lx, op)) != TS_OK) return st;
        t.kind = JT_OP;
        t.op = (uint8_t)op;
        lx->pos += strlen(jop_text[op]);
    }
    return st == TS_OK ? push(lx, t) : st;
}

/* Tokens of a {{ }} or {% %} tag whose opening (and sign) ends at pos. */
static ts_status lex_tag(lexer *lx, size_t open_at, bool block) {
    const char *end = block ? "%}" : "}}";
    lx->depth = 0;
    for (;;) {
        lx->pos = skip_space(lx->src, lx->n, lx->pos);
        if (lx->pos >= lx->n)
            return LEX_FAIL(lx, open_at, "unexpected end of template: '%s' is not closed by '%s'",
                            block ? "{%" : "{{", end);
        size_t after = lx->depth ? 0 : match_end(lx, lx->pos, end, block);
        if (after) {
            ts_status st = push(
                lx, (jtok){.kind = block ? JT_BLOCK_END : JT_VAR_END, .off = (uint32_t)lx->pos});
            lx->line_starting = lx->src[after - 1] == '\n';
            lx->pos = after;
            return st;
        }
        ts_status st = lex_token(lx);
        if (st != TS_OK) return st;
    }
}

static ts_status lex_comment(lexer *lx, size_t open_at) {
    for (size_t p = lx->pos; p + 1 < lx->n; p++) {
        size_t after = match_end(lx, p, "#}", true);
        if (after) {
            lx->line_starting = lx->src[after - 1] == '\n';
            lx->pos = after;
            return TS_OK;
        }
    }
    return LEX_FAIL(lx, open_at, "missing end of comment tag '#}'");
}

/* `{%[-+]? raw [-]?%}` at pos: the position after it, or 0. */
static size_t match_raw(const lexer *lx, size_t pos, const char *word, char *sign) {
    const char *s = lx->src;
    size_t n = lx->n, p = pos + 2;
    *sign = p < n && (s[p] == '-' || s[p] == '+') ? s[p++] : 0;
    p = skip_space(s, n, p);
    size_t w = strlen(word);
    if (p + w > n || memcmp(s + p, word, w) != 0) return 0;
    p = skip_space(s, n, p + w);
    if (!strcmp(word, "raw")) { /* raw_begin: `-%}\s*` or `%}`, no trim */
        if (p + 3 <= n && memcmp(s + p, "-%}", 3) == 0) return skip_space(s, n, p + 3);
        return p + 2 <= n && memcmp(s + p, "%}", 2) == 0 ? p + 2 : 0;
    }
    return match_end(lx, p, "%}", true);
}

static ts_status push_text(lexer *lx, size_t from, size_t to) {
    if (to <= from) return TS_OK;
    return push(
        lx, (jtok){.kind = JT_TEXT, .off = (uint32_t)from, .s = lx->src + from, .n = to - from});
}

static ts_status lex_raw_body(lexer *lx, size_t open_at) {
    for (size_t p = lx->pos; p + 1 < lx->n; p++) {
        char sign;
        size_t after;
        if (lx->src[p] != '{' || lx->src[p + 1] != '%' ||
            !(after = match_raw(lx, p, "endraw", &sign)))
            continue;
        ts_status st = push_text(lx, lx->pos, strip_before_tag(lx, lx->pos, p, sign, false));
        lx->line_starting = lx->src[after - 1] == '\n';
        lx->pos = after;
        return st;
    }
    return LEX_FAIL(lx, open_at, "missing end of raw directive");
}

/* Text up to the next tag, then the tag. */
static ts_status lex_root(lexer *lx) {
    const char *s = lx->src;
    size_t start = lx->pos, p = start;
    while (p + 1 < lx->n &&
           !(s[p] == '{' && (s[p + 1] == '{' || s[p + 1] == '%' || s[p + 1] == '#')))
        p++;
    if (p + 1 >= lx->n) {
        lx->pos = lx->n;
        return push_text(lx, start, lx->n);
    }
    char kind = s[p + 1], sign = 0;
    size_t raw_after = kind == '%' ? match_raw(lx, p, "raw", &sign) : 0;
    if (!raw_after) sign = p + 2 < lx->n && (s[p + 2] == '-' || s[p + 2] == '+') ? s[p + 2] : 0;
    ts_status st = push_text(lx, start, strip_before_tag(lx, start, p, sign, kind == '{'));
    if (st != TS_OK) return st;
    if (raw_after) {
        lx->pos = raw_after;
        return lex_raw_body(lx, p);
    }
    lx->pos = p + 2 + (sign != 0);
    if (kind == '#') return lex_comment(lx, p);
    st = push(lx, (jtok){.kind = kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, .off = (uint32_t)p});
    return st == TS_OK ? lex_tag(lx, p, kind == '%') : st;
}

ts_status jinja_lex(const char *src, size_t n, jarena *arena, jtoks *out) {
    lexer lx = {.src = src, .n = n, .arena = arena, .out = out, .line_starting = true};
    while (lx.pos < n) {
        ts_status st = lex_root(&lx);
        if (st != TS_OK) return st;
    }
    return push(&lx, (jtok){.kind = JT_EOF, .off = (uint32_t)n});
}
