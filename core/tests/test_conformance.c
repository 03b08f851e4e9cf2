/*
** test_conformance.c -- runs a corpus directory given as argv[1] (gavel's
** own, spec/fixtures/corpus: a missing file there is a failure), or, with no
** argument, the Ordo conformance sample in ../shared, which runs in addition
** when present: a user's clone has no ../shared, so its absence is announced
** in one line and skipped, never a failure.
** Prints "N passed, N failed" and exits non-zero on any failure.
*/
#include "conformance.h"
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : GAVEL_SHARED_DIR "/conformance/ordo-sample";
  char path[4096];
  conf_stats st = {0, 0, 0};
  DIR *d;
  struct dirent *de;
  snprintf(path, sizeof path, "%s/expressions.jsonl", dir);
  if (argc <= 1) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
      printf("ordo-sample: not present, skipped\n");
      printf("0 passed, 0 failed, 1 skipped\n");
      return 0;
    }
  }
  conf_run_expressions(path, &st, 1);
  printf("expressions: %d passed, %d failed\n", st.passed, st.failed);
  snprintf(path, sizeof path, "%s/rulesets", dir);
  if ((d = opendir(path))) {
    while ((de = readdir(d))) {
      size_t n = strlen(de->d_name);
      if (n > 5 && !strcmp(de->d_name + n - 5, ".json")) {
        char f[8192];
        snprintf(f, sizeof f, "%s/%s", path, de->d_name);
        conf_run_ruleset_file(f, &st, 1);
      }
    }
    closedir(d);
  }
  if (argc <= 1)
    printf("ordo-sample: %d cases\n", st.passed + st.failed + st.skipped);
  printf("%d passed, %d failed, %d skipped\n", st.passed, st.failed, st.skipped);
  return st.failed ? 1 : 0;
}
