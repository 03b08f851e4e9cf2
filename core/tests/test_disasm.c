/*
** test_disasm.c -- golden disassembly (Lua's testes/code.lua idea): the exact
** listing for small expressions, from spec/fixtures/disasm.golden.  Groups:
**   # <id>
**   <expression>
**   <listing lines...>
** separated by blank lines.  Catches optimiser and code-generation changes
** that final results hide.  Run with --update to print fresh listings.
*/
#include "gavel.h"
#include "tinytest.h"
#include <stdlib.h>

static int check_file(const char *path, int update) {
  FILE *f = fopen(path, "r");
  char line[4096], id[256] = "", expr[4096] = "", want[65536] = "";
  size_t wl = 0;
  int state = 0, bad = 0, n = 0;
  gavel_runtime *rt = NULL;
  if (!f)
    return -1;
  gavel_runtime_new(NULL, &rt, NULL);
  for (;;) {
    char *got = fgets(line, sizeof line, f);
    if (!got || line[0] == '\n') {
      if (state >= 2) {
        gavel_expr *e = NULL;
        gavel_error err;
        const char *out = "";
        if (gavel_expr_compile(rt, expr, strlen(expr), &e, &err) == GAVEL_OK)
          gavel_expr_disasm(e, &out, &err);
        else
          out = err.msg;
        n++;
        if (update)
          printf("# %s\n%s\n%s\n", id, expr, out);
        else if (strcmp(out, want) != 0) {
          bad++;
          fprintf(stderr, "golden %s (%s) differs:\n--- want\n%s--- got\n%s", id,
                  expr, want, out);
        }
        gavel_expr_free(e);
      }
      state = 0;
      wl = 0;
      want[0] = 0;
      if (!got)
        break;
      continue;
    }
    if (state == 0 && line[0] == '#') {
      snprintf(id, sizeof id, "%.250s", line + 2);
      id[strcspn(id, "\n")] = 0;
      state = 1;
    } else if (state == 1) {
      snprintf(expr, sizeof expr, "%s", line);
      expr[strcspn(expr, "\n")] = 0;
      state = 2;
    } else if (state >= 2 && wl + strlen(line) < sizeof want) {
      memcpy(want + wl, line, strlen(line) + 1);
      wl += strlen(line);
      state = 3;
    }
  }
  fclose(f);
  gavel_runtime_free(rt);
  if (!update)
    fprintf(stderr, "  %d golden listings checked\n", n);
  return bad;
}

TEST(every_golden_listing_matches) {
  CHECK(check_file(GAVEL_SOURCE_DIR "/spec/fixtures/disasm.golden", 0) == 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--update"))
    return check_file(GAVEL_SOURCE_DIR "/spec/fixtures/disasm.golden", 1) < 0;
  tt_tests[0].fn();
  printf("%d passed, %d failed\n", tt_fail_cur ? 0 : 1, tt_fail_cur ? 1 : 0);
  return tt_fail_cur ? 1 : 0;
}
