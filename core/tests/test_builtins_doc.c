/*
** test_builtins_doc.c -- docs/builtins.md against the builtin registry:
** the table between the builtins:begin/end markers must list every
** registered function, in name order, with its argument count, and nothing
** else.  'test_builtins_doc --print' prints the rows to paste there.
*/
#include "value.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b) {
  return strcmp((*(const gv_builtin *const *)a)->name,
                (*(const gv_builtin *const *)b)->name);
}

/* "| `name` | arity |" */
static void row(char *buf, size_t n, const gv_builtin *b) {
  char ar[32];
  if (b->max_args < 0)
    snprintf(ar, sizeof ar, "%d or more", b->min_args);
  else if (b->min_args == b->max_args)
    snprintf(ar, sizeof ar, "%d", b->min_args);
  else
    snprintf(ar, sizeof ar, "%d to %d", b->min_args, b->max_args);
  snprintf(buf, n, "| `%s` | %s |", b->name, ar);
}

int main(int argc, char **argv) {
  int n = gavel__builtin_count(), i, k = 0, bad = 0, in = 0;
  const gv_builtin **all = calloc((size_t)n, sizeof *all);
  char line[512], want[256];
  FILE *f;
  if (!all)
    return 1;
  for (i = 0; i < n; i++)
    all[i] = gavel__builtin_at(i);
  qsort(all, (size_t)n, sizeof *all, by_name);
  if (argc > 1 && !strcmp(argv[1], "--print")) {
    for (i = 0; i < n; i++) {
      row(want, sizeof want, all[i]);
      printf("%s\n", want);
    }
    free(all);
    return 0;
  }
  if (!(f = fopen("docs/builtins.md", "r"))) {
    fprintf(stderr, "docs/builtins.md: cannot open\n");
    free(all);
    return 1;
  }
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (strstr(line, "<!-- builtins:begin")) {
      in = 1;
      continue;
    }
    if (strstr(line, "<!-- builtins:end")) {
      in = 0;
      continue;
    }
    if (!in || strncmp(line, "| `", 3) != 0)
      continue;
    if (k >= n) {
      fprintf(stderr, "docs/builtins.md: extra row '%s' (not registered)\n",
              line);
      bad++;
      continue;
    }
    row(want, sizeof want, all[k]);
    /* the row may go on with notes after the arity column */
    if (strncmp(line, want, strlen(want)) != 0) {
      fprintf(stderr, "docs/builtins.md: row %d is '%s', expected '%s ...'\n",
              k + 1, line, want);
      bad++;
    }
    k++;
  }
  fclose(f);
  if (k < n) {
    fprintf(stderr, "docs/builtins.md: %d rows, the registry has %d functions "
            "(first missing: %s); regenerate with test_builtins_doc --print\n",
            k, n, all[k]->name);
    bad++;
  }
  free(all);
  printf("%d passed, %d failed\n", bad ? 0 : 1, bad ? 1 : 0);
  return bad ? 1 : 0;
}
