/*
** main.c -- the gavel executable: command dispatch, --help, --version.
*/
#include "cli.h"
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
    "  disasm EXPR                        print the compiled bytecode\n"
    "  run RULESET.json [--input JSON|@file] [--trace] [--rulesets DIR]\n"
    "  check RULESET.json...              validate rulesets, list problems\n"
    "  batch RULESET.json [--input F.jsonl] [--output F.jsonl] [--jobs N]\n"
    "  graph RULESET.json [--counts F.jsonl]  step graph as Graphviz DOT\n"
    "  SCRIPT.lua [args]                  run a Lua script with gavel preloaded\n"
    "\n"
    "capabilities (run, batch, check): --grant CAP, --allow-http HOST[:PORT],\n"
    "  --provider FILE.lua, --metrics FILE, --audit FILE\n"
    "\n"
    "options:\n"
    "  -h, --help      this text\n"
    "  -V, --version   print the version\n";

char *cli_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0, r;
  if (!f)
    return NULL;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      char *nb;
      cap = cap ? cap * 2 : 65536 * 2;
      nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = nb;
    }
    r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
  }
  if (ferror(f)) {
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  buf[n] = 0;
  *len = n;
  return buf;
}

char *cli_arg_text(const char *arg, size_t *len, const char *what) {
  char *t;
  if (arg[0] == '@') {
    t = cli_read_file(arg + 1, len);
    if (!t)
      fprintf(stderr, "error: io: cannot read %s file '%s': %s\n", what,
              arg + 1, strerror(errno));
    return t;
  }
  *len = strlen(arg);
  t = malloc(*len + 1);
  if (t)
    memcpy(t, arg, *len + 1);
  return t;
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

int main(int argc, char **argv) {
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
  /* 'gavel script.lua args': any other argument naming a file is a script */
  if ((strlen(cmd) > 4 && !strcmp(cmd + strlen(cmd) - 4, ".lua")) ||
      access(cmd, R_OK) == 0)
    return cmd_script(argc - 1, argv + 1);
  fprintf(stderr, "error: usage: unknown command '%s' (see gavel --help)\n",
          cmd);
  return 2;
}
