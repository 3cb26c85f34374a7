/*
 * text.c — text helpers of the CLI (declared in cli.h): bytes from a model
 * file may hold anything, so they are replaced or escaped before they reach
 * a JSON document or a terminal.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

char *cli_utf8_replace(const char *s, size_t n, size_t *out_len) {
    /* each ill-formed byte becomes at most 3 bytes (EF BF BD) */
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = ts_utf8_decode(s + i, n - i, &cp);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i += (size_t)-k;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* Code points a terminal may act on rather than show: C1 controls, and the
 * bidirectional controls that reorder text ("Trojan Source"). */
static bool is_format_control(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static void print_escaped_cp(FILE *f, const char *s, int len, uint32_t cp, bool quoted) {
    if (quoted && (cp == '"' || cp == '\\')) {
        fprintf(f, "\\%c", (char)cp);
        return;
    }
    switch (cp) {
    case '\n':
        fputs("\\n", f);
        return;
    case '\t':
        fputs("\\t", f);
        return;
    case '\r':
        fputs("\\r", f);
        return;
    }
    if (cp < 0x20 || cp == 0x7F)
        fprintf(f, "\\x%02X", (unsigned)cp);
    else if (is_format_control(cp))
        fprintf(f, "\\u%04X", (unsigned)cp);
    else
        fwrite(s, 1, (size_t)len, f);
}

bool cli_print_escaped(FILE *f, const char *s, size_t n, size_t max_chars, bool quoted) {
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        if (max_chars && chars == max_chars) return true;
        uint32_t cp;
        int k = ts_utf8_decode(s + i, n - i, &cp);
        if (k > 0) {
            print_escaped_cp(f, s + i, k, cp, quoted);
            i += (size_t)k;
        } else {
            for (int j = 0; j < -k; j++) fprintf(f, "\\x%02X", (unsigned char)s[i + (size_t)j]);
            i += (size_t)-k;
        }
    }
    return false;
}
