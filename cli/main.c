/*
** main.c -- the gavel executable: command dispatch, --help, --version.
*/
#include "cli.h"
#include "cli_replay.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: gavel <command> [options]\n"
    "\n"
    "commands:\n"
    "  eval EXPR [--context JSON|@file]   evaluate an expression, print JSON\n"
    "  eval --jsonl                       read {\"expr\",\"ctx\"} lines on stdin\n"
    "  disasm [--jit] EXPR                print the compiled bytecode (--jit:\n"
    "                                     and the machine code)\n"
    "  run RULESET.json [--input JSON|@file] [--trace] [--rulesets DIR]\n"
    "  check RULESET.json...              validate rulesets, list problems\n"
    "  batch RULESET.json [--input F.jsonl] [--output F.jsonl] [--jobs N]\n"
    "  graph RULESET.json [--counts F.jsonl]  step graph as Graphviz DOT\n"
    "  test RULESET.json SUITE.yaml...    run test suites (--rules DIR --tests DIR)\n"
    "  replay CAPTURE.jsonl RULESET.json  re-run captured decisions, list flips\n"
    "  SCRIPT.lua [args]                  run a Lua script with gavel preloaded\n"
    "\n"
    "capabilities (run, batch, check): --grant CAP, --allow-http HOST[:PORT],\n"
    "  --provider FILE.lua, --metrics FILE, --audit FILE\n"
    "\n"
    CLI_CAPTURE_HELP
    "\n"
    CLI_LIMIT_HELP
    "  (N > 0; 0 is refused: leave the option out for the default)\n"
    "\n"
    "'--' ends the options: 'gavel eval -- -1'\n"
    "\n"
    "options:\n"
    "  -h, --help      this text\n"
    "  -V, --version   print the version\n";

void cli_caret(FILE *out, const char *src, size_t len, int line, int column) {
  size_t i = 0, start;
  int l = 1, col = 1;
  while (i < len && l < line) {
    if (src[i++] == '\n')
      l++;
  }
  start = i;
  while (i < len && src[i] != '\n')
    i++;
  fprintf(out, "  %.*s\n  ", (int)(i - start), src + start);
  /* columns count characters: one space per UTF-8 lead byte */
  for (i = start; col < column && i < len && src[i] != '\n'; i++) {
    if (((unsigned char)src[i] & 0xC0) != 0x80) {
      fputc(src[i] == '\t' ? '\t' : ' ', out);
      col++;
    }
  }
  fputs("^\n", out);
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
      !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return cmd ? 0 : 2;
  }
  if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
    printf("gavel %s\n", gavel_version_string());
    return 0;
  }
  if (!strcmp(cmd, "eval"))
    return cmd_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "disasm"))
    return cmd_disasm(argc - 1, argv + 1);
  if (!strcmp(cmd, "run"))
    return cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "check"))
    return cmd_check(argc - 1, argv + 1);
  if (!strcmp(cmd, "batch"))
    return cmd_batch(argc - 1, argv + 1);
  if (!strcmp(cmd, "graph"))
    return cmd_graph(argc - 1, argv + 1);
  if (!strcmp(cmd, "test"))
    return cmd_test(argc - 1, argv + 1);
  if (!strcmp(cmd, "replay"))
    return cmd_replay(argc - 1, argv + 1);
  /* 'gavel script.lua args': any other argument naming a file is a script */
  if ((strlen(cmd) > 4 && !strcmp(cmd + strlen(cmd) - 4, ".lua")) ||
      access(cmd, R_OK) == 0)
    return cmd_script(argc - 1, argv + 1);
  fprintf(stderr, "error: usage: unknown command '%s' (see gavel --help)\n",
          cmd);
  return 2;
}

int main(int argc, char **argv) {
  int rc = dispatch(argc, argv);
  /* Output that did not arrive is a failure, whatever the command did. */
  if (cli_close_output(stdout, "standard output", 0) && rc == 0)
    rc = 1;
  return rc;
}
