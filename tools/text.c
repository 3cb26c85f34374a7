/*
 * text.c — text helpers of the CLI (declared in cli.h): reading an input
 * file whole; and, since bytes from a model file may hold anything,
 * replacing or escaping them before they reach a JSON document or a
 * terminal.
 */
#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ input */

/* All of f into a malloc'd buffer (NUL-terminated, for convenience); NULL
 * with errno set when out of memory or on a read error. Call with errno 0. */
static char *read_all(FILE *f, size_t *len) {
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) return NULL;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!bigger) free(buf);
        buf = bigger, cap *= 2;
    }
    if (ferror(f)) {
        int err = errno; /* fread's (EISDIR for a folder), when it set one */
        free(buf);
        errno = err ? err : EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cli_read_file(const char *cmd, const char *path, char **out, size_t *len) {
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        cli_error("%s: cannot open %s: %s", cmd, path, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    errno = 0;
    *out = read_all(f, len);
    int err = errno ? errno : ENOMEM;
    if (!is_stdin) fclose(f);
    if (!*out) {
        cli_error("%s: cannot read %s: %s", cmd, is_stdin ? "stdin" : path, strerror(err));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* ================================================================= text */

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
