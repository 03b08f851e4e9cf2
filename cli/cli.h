/*
** cli.h -- shared helpers of the gavel executable (not part of the library).
*/
#ifndef GAVEL_CLI_H
#define GAVEL_CLI_H

#include "gavel.h"
#include <stdio.h>

/* ==== cli_io.c: bounded reads, checked writes, host ceilings ==== */

/* The input limit of 'rt' (its max_input_bytes; NULL: the default). */
size_t cli_input_limit(const gavel_runtime *rt);
/* "Limit exceeded: <what> is larger than the input limit of N bytes ...". */
void cli_limit_msg(char *msg, size_t msz, const char *what, size_t max);
/* Reads all of 'path', never more than max + 1 bytes (NUL-terminated);
** NULL with a one-line message naming the file (and the limit). */
char *cli_read_file(const char *path, size_t max, size_t *len, char *msg,
                    size_t msz);
/* "JSON" or "@file.json" -> malloc'd text; NULL with a message on stderr. */
char *cli_arg_text(const char *arg, size_t max, size_t *len, const char *what);

/* Line reader that never buffers more than max + 2 bytes: a longer line
** is reported (CLI_LINE_LONG, *n = its length, *p NULL or partial) and
** skipped up to its '\n'.  Lines exclude the '\n'. */
typedef struct cli_lines {
  int fd;        /* descriptor read with read(2)           */
  size_t max;    /* longest line accepted                  */
  char *buf;     /* buffer                                 */
  size_t cap;    /* its size (<= max + 2)                  */
  size_t beg;    /* start of unread data                   */
  size_t end;    /* end of unread data                     */
  size_t scan;   /* bytes after beg known to hold no '\n'  */
  long lineno;   /* lines returned so far                  */
  int eof;       /* read(2) returned 0                     */
  int err;       /* errno of a failed read                 */
} cli_lines;

enum { CLI_LINE_ERR = -1, CLI_LINE_END = 0, CLI_LINE_OK = 1, CLI_LINE_LONG = 2 };
void cli_lines_init(cli_lines *r, FILE *f, size_t max);
int cli_lines_next(cli_lines *r, const char **p, size_t *n);
void cli_lines_free(cli_lines *r);

/* fwrite that remembers the errno of the first failure; -1 on failure. */
int cli_write(FILE *f, const void *p, size_t n);
/* Flushes (and with close_it closes) an output stream; on any write,
** flush or close error prints "error: io: cannot write NAME: reason" and
** returns 1. */
int cli_close_output(FILE *f, const char *name, int close_it);

/* Host ceilings (--max-gas N, ...) into 'cfg': 1 consumed argv[*i] (and
** its value), 0 not a ceiling option, -1 bad value (message printed). */
int cli_limit_option(gavel_config *cfg, int argc, char **argv, int *i);
void cli_config_init(gavel_config *cfg);
/* The ceiling options, for usage texts. */
#define CLI_LIMIT_HELP                                                        \
  "host ceilings (eval, run, batch, check): --max-gas N, --max-steps N,\n"    \
  "  --max-timeout-ms N, --max-run-bytes N, --max-result-bytes N,\n"          \
  "  --max-call-bytes N, --max-input-bytes N (files, @file and lines too)\n"  \
  "  defaults: gas 1e9, steps 1000000, 60000 ms, run 256 MiB, result\n"      \
  "  64 MiB, call 16 MiB, input 64 MiB; a ruleset's config stays below\n"  \
  "JIT tier (same commands): --jit on|off|auto (default: $GAVEL_JIT, else\n" \
  "  auto: machine code after 1000 evaluations of an expression)\n"

/* Prints "  <line>\n  <spaces>^" under a parse error. */
void cli_caret(FILE *out, const char *src, size_t len, int line, int column);

int cmd_eval(int argc, char **argv);
int cmd_disasm(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_script(int argc, char **argv); /* cmd_lua.c: gavel script.lua */
int cmd_serve(int argc, char **argv);  /* cmd_serve.c: gavel serve */

#endif
