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
    "  serve [--listen H:P] [--rules DIR] rule server, Ordo's HTTP API\n"
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
    "  -h, --help      this text; 'gavel COMMAND --help' for one command\n"
    "  -V, --version   print the version\n";

/* 'gavel CMD --help' (or -h): one entry per command of dispatch(). */
#define CAPS_HELP                                                             \
  "capabilities: --grant CAP, --allow-http HOST[:PORT], --provider FILE.lua,\n" \
  "  --metrics FILE (Prometheus text at exit), --audit FILE ('-' = stdout),\n" \
  "  --rulesets DIR (call_rule_set targets)\n"
#define LIMITS_HELP                                                           \
  CLI_LIMIT_HELP "  (N > 0; 0 is refused: leave the option out for the default)\n"
static const struct cmd_help {
  const char *name; /* command                  */
  const char *text; /* its usage and options    */
} cmd_helps[] = {
    {"eval", "usage: gavel eval EXPR [--context JSON|@file]\n"
             "       gavel eval --jsonl   (reads {\"expr\",\"ctx\"} lines on stdin)\n"
             "Evaluates an expression against a context, prints the value as JSON.\n"
             "\n" LIMITS_HELP},
    {"disasm", "usage: gavel disasm EXPR\n"
               "Prints the bytecode the expression compiles to.\n"},
    {"run", "usage: gavel run RULESET.json [--input JSON|@file] [--trace]\n"
            "Runs the ruleset once on the input, prints the result as JSON;\n"
            "--trace appends the steps taken (and the branch of each decision).\n"
            "\n" CAPS_HELP "\n" LIMITS_HELP},
    {"check", "usage: gavel check RULESET.json...\n"
              "Loads every ruleset, lists each problem once with its JSON path;\n"
              "exit 1 when any ruleset has an error.\n"
              "\n" CAPS_HELP "\n" LIMITS_HELP},
    {"batch", "usage: gavel batch RULESET.json [--input F.jsonl] [--output F.jsonl]\n"
              "                   [--jobs N] [--trace]\n"
              "Runs the ruleset on every input line (stdin by default), one result\n"
              "line per input line, in input order.\n"
              "\n" CAPS_HELP "\n" CLI_CAPTURE_HELP "\n" LIMITS_HELP},
    {"graph", "usage: gavel graph RULESET.json [--counts F.jsonl]\n"
              "Prints the step graph as Graphviz DOT (render: dot -Tpng).  Edges\n"
              "are labelled '#N condition' in branch order; --counts reads a\n"
              "'gavel batch --trace' output and adds how often each branch was\n"
              "taken and each terminal ended a run.\n"},
    {"test", "usage: gavel test RULESET.json SUITE.yaml|.json... "
             "[--reporter human|json|junit|tap]\n"
             "       gavel test --rules DIR --tests DIR [--reporter ...]\n"
             "Runs test suites against rulesets; exit 1 when a case fails.\n"
             "\n" CAPS_HELP},
    {"replay", "usage: gavel replay CAPTURE.jsonl [RULESET.json | --rules DIR] "
               "[--ruleset NAME]\n"
               "       [--verify] [--json] [--fail-on-flip] [--live CAPABILITY]\n"
               "       [--write-tests DIR] [--jobs N]\n"
               "Re-runs captured decisions (see --capture of batch), lists the\n"
               "decisions whose result flips.\n"
               "\n" CAPS_HELP},
};

/* A --help or -h among a command's options (before '--'). */
static const char *cmd_help(int argc, char **argv) {
  size_t k;
  int i;
  for (i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      return NULL;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      break;
  }
  if (i >= argc)
    return NULL;
  for (k = 0; k < sizeof cmd_helps / sizeof cmd_helps[0]; k++)
    if (!strcmp(argv[1], cmd_helps[k].name))
      return cmd_helps[k].text;
  return NULL;
}

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
  {
    const char *h = cmd_help(argc, argv);
    if (h) {
      fputs(h, stdout);
      return 0;
    }
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
  if (!strcmp(cmd, "serve"))
    return cmd_serve(argc - 1, argv + 1);
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
