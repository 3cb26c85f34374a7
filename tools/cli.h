/*
 * cli.h — what the `tessera` subcommands share: exit codes, the command
 * table entry, error reporting, and text helpers that keep bytes from a
 * model file (which may hold anything) from reaching a terminal or a JSON
 * document unescaped.
 *
 * Every subcommand is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns one of the exit codes below and prints its
 * errors itself, on stderr, as one line starting with "tessera: ".
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include "tessera/core.h"

#include <stdio.h>

/* Exit codes of every subcommand. */
enum {
    CLI_EXIT_OK = 0,    /* success */
    CLI_EXIT_FAIL = 1,  /* bad input or a failed operation; message on stderr */
    CLI_EXIT_USAGE = 2, /* bad command line; message and usage on stderr */
};

typedef int (*cli_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    const char *help; /* one line */
    cli_fn run;
} cli_command;

int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

/* ---------------------------------------------------------------- errors */

/* "tessera: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a failed library call as "tessera: <ts_last_error()>" (control
 * bytes escaped: the message may quote the file) and return CLI_EXIT_FAIL. */
int cli_lib_error(ts_status status);

/* ----------------------------------------------------------------- input */

/* The bytes of the file at path ("-": all of stdin) in *out, malloc'd and
 * NUL-terminated for convenience (the text may hold NULs: *len is its
 * length); caller frees. Returns CLI_EXIT_OK, or CLI_EXIT_FAIL having
 * printed "tessera: CMD: cannot open|read PATH: <reason>". */
int cli_read_file(const char *cmd, const char *path, char **out, size_t *len);

/* ------------------------------------------------------------------ text */

/* Copy of s[0..n) with every ill-formed subpart replaced by U+FFFD, and its
 * length in *out_len; NULL when out of memory. Caller frees. */
char *cli_utf8_replace(const char *s, size_t n, size_t *out_len);

/* Print s[0..n) for a terminal: well-formed printable UTF-8 as is; \n \t \r
 * as C escapes; other control bytes and ill-formed bytes as \xHH; C1
 * controls and bidirectional overrides as \uHHHH; when `quoted` (text shown
 * between double quotes) also '"' and '\\' as \" and \\. Stops after
 * max_chars code points (0: no limit) and returns true if it did. */
bool cli_print_escaped(FILE *f, const char *s, size_t n, size_t max_chars, bool quoted);

#endif /* TS_CLI_H */
