/*
 * jinja_case.c — Python's case mapping for upper(), lower(), title(),
 * capitalize() and jinja2's title filter, on the scripts chat text mostly
 * holds: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (simple
 * one-to-one mappings, plus ß → SS and İ → i̇). Other code points are left as they
 * are and count as uncased; Greek final sigma and other context-dependent
 * rules are not applied.
 */
#include "text/jinja-impl.h"

/* --------------------------------------------------------------- mapping */

/* Latin Extended-A pairs: (upper, lower) = (even, odd) in these ranges,
 * (odd, even) in the others. */
static bool latin_a_even_upper(uint32_t c) {
    return (c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137) || (c >= 0x14a && c <= 0x177);
}
static bool latin_a_odd_upper(uint32_t c) {
    return (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
}

static uint32_t cp_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if (c == 0xb5) return 0x39c;
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 0x20;
    if (c == 0xff) return 0x178;
    if (c == 0x131) return 'I';
    if (c == 0x17f) return 'S';
    if (latin_a_even_upper(c) && (c & 1)) return c - 1;
    if (latin_a_odd_upper(c) && !(c & 1)) return c - 1;
    if (c >= 0x3b1 && c <= 0x3c9) return c == 0x3c2 ? 0x3a3 : c - 0x20;
    if (c == 0x3ac) return 0x386;
    if (c >= 0x3ad && c <= 0x3af) return c - 0x25;
    if (c == 0x3cc) return 0x38c;
    if (c == 0x3cd || c == 0x3ce) return c - 0x3f;
    if (c >= 0x430 && c <= 0x44f) return c - 0x20;
    if (c >= 0x450 && c <= 0x45f) return c - 0x50;
    return c;
}

static uint32_t cp_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 0x20;
    if (c == 0x178) return 0xff;
    if (latin_a_even_upper(c) && !(c & 1)) return c + 1;
    if (latin_a_odd_upper(c) && (c & 1)) return c + 1;
    if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 0x20;
    if (c == 0x386) return 0x3ac;
    if (c >= 0x388 && c <= 0x38a) return c + 0x25;
    if (c == 0x38c) return 0x3cc;
    if (c == 0x38e || c == 0x38f) return c + 0x3f;
    if (c >= 0x410 && c <= 0x42f) return c + 0x20;
    if (c >= 0x400 && c <= 0x40f) return c + 0x50;
    return c;
}

/* Cased letters (Python's title() keys on them); ß, İ, ĸ and ŉ are cased too. */
static bool cp_cased(uint32_t c) {
    return cp_upper(c) != c || cp_lower(c) != c || c == 0xdf || c == 0x130 || c == 0x138 ||
           c == 0x149;
}

static bool put_cp(jbuf *b, uint32_t c) {
    char u[4];
    return jbuf_put(b, u, ts_utf8_encode(c, u));
}

/* c mapped up (ß: "SS", titlecase "Ss") or down (İ: "i" + U+0307). */
static bool put_mapped(jbuf *b, uint32_t c, bool up, bool title) {
    if (up && c == 0xdf) return jbuf_put(b, title ? "Ss" : "SS", 2);
    if (!up && c == 0x130) return jbuf_put(b, "i\xcc\x87", 3);
    uint32_t m = up ? cp_upper(c) : cp_lower(c);
    return put_cp(b, m);
}

/* ----------------------------------------------------------------- public */

jv *py_case(jrender *r, const jnode *at, const jv *s, int how) {
    const char *p = s->u.s.p;
    size_t n = s->u.s.n;
    if (!jr_bytes(r, at, n)) return NULL;
    jbuf b = {0};
    bool ok = true, prev_cased = false, word_start = true;
    for (size_t i = 0; i < n && ok;) {
        uint32_t c;
        int k = ts_utf8_decode(p + i, n - i, &c);
        if (k <= 0 || c > 0xffff) { /* kept as it is, uncased */
            size_t len = k <= 0 ? 1 : (size_t)k;
            ok = jbuf_put(&b, p + i, len);
            i += len;
            prev_cased = false;
            word_start = false;
            continue;
        }
        bool up = how == PY_UPPER || (how == PY_CAPITALIZE && i == 0) ||
                  (how == PY_TITLE && !prev_cased) || (how == PY_TITLE_WORDS && word_start);
        ok = put_mapped(&b, c, up, how == PY_TITLE || how == PY_CAPITALIZE);
        prev_cased = cp_cased(c);
        word_start =
            c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_space_at(p + i, n - i);
        i += (size_t)k;
    }
    jv *v = ok && jr_size_ok(r, at, b.n) ? jv_str(b.p ? b.p : "", b.n) : NULL;
    if (!v && r->st == TS_OK) jr_oom(r, at);
    jbuf_free(&b);
    return v;
}
