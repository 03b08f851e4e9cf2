/*
** cli.h -- shared helpers of the gavel executable (not part of the library).
*/
#ifndef GAVEL_CLI_H
#define GAVEL_CLI_H

#include "gavel.h"
#include <stdio.h>

/* Reads a whole file; NULL on failure (errno set).  Caller frees. */
char *cli_read_file(const char *path, size_t *len);
/* "JSON" or "@file.json" -> malloc'd text; NULL with a message on stderr. */
char *cli_arg_text(const char *arg, size_t *len, const char *what);
/* Prints "  <line>\n  <spaces>^" under a parse error. */
void cli_caret(FILE *out, const char *src, size_t len, int line, int column);

int cmd_eval(int argc, char **argv);
int cmd_disasm(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_script(int argc, char **argv); /* cmd_lua.c: gavel script.lua */

#endif
