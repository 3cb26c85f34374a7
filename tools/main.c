/*
 * main.c — the `tessera` command: finds the subcommand in a table and runs
 * it; also holds the error helpers every subcommand shares (cli.h).
 *
 * Exit codes, for every subcommand: 0 ok, 1 bad input or a failed operation
 * (one line on stderr), 2 usage error (message and usage on stderr); `run`,
 * `chat` and `bench` add codes of their own (model load, context, decode,
 * SIGINT).
 */
#include "cli.h"

#include "tessera.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const cli_command commands[] = {
    {"inspect", "show a GGUF model's files, metadata and tensors", cmd_inspect},
    {"tokenize", "show the token ids and pieces of a text", cmd_tokenize},
    {"template", "render a conversation with a model's chat template", cmd_template},
    {"run", "generate text with a model (a completion, or --chat)", cmd_run},
    {"chat", "chat with a model, one message per line, history kept in the KV cache", cmd_chat},
    {"bench", "prompt and generation tokens/s, as llama-bench measures them", cmd_bench},
    {"perplexity", "a model's perplexity on a text, as llama.cpp's llama-perplexity",
     cmd_perplexity},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* ---------------------------------------------------------------- errors */

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tessera: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_lib_error(ts_status status) {
    const char *msg = ts_last_error();
    if (!msg[0]) msg = ts_status_str(status);
    fputs("tessera: ", stderr);
    cli_print_escaped(stderr, msg, strlen(msg), 0, false);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

/* ----------------------------------------------------------------- usage */

static void print_usage(FILE *f) {
    fputs("usage: tessera COMMAND [ARGS...]\n"
          "       tessera help [COMMAND] | --help | --version\n"
          "\ncommands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fputs("\nRun `tessera COMMAND --help` for a command's options.\n"
          "\nexit status:\n"
          "  0  success\n"
          "  1  the input was bad or an operation failed (message on stderr)\n"
          "  2  usage error\n"
          "  (run, chat, bench and perplexity add their own codes: see their --help)\n",
          f);
}

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* `tessera help [COMMAND]`: the general usage, or the command's own help. */
static int run_help(int argc, char **argv) {
    if (argc < 3) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    const cli_command *cmd = find_command(argv[2]);
    if (!cmd) {
        cli_error("unknown command '%s'", argv[2]);
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char *help_argv[] = {argv[2], "--help", NULL};
    return cmd->run(2, help_argv);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_error("no command given");
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return run_help(argc, argv);
    if (strcmp(name, "--version") == 0) {
        printf("tessera %s\n", TS_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    const cli_command *cmd = find_command(name);
    if (!cmd) {
        cli_error(name[0] == '-' ? "unknown option '%s'" : "unknown command '%s'", name);
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return cmd->run(argc - 1, argv + 1);
}
