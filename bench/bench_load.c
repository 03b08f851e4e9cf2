/*
** bench_load.c -- how long loading (parse + validate + compile) takes for
** generated rulesets of 10, 100, 1,000 and 5,000 steps: a chain of decision
** steps, each with three branch conditions over distinct input paths, an
** action step with two set_variable actions every tenth step, and terminals.
** Prints ms per load and per step.  Issue goal: 1,000 steps in
** milliseconds, not seconds.
*/
#include "gavel.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *gen(int n, size_t *len) {
  size_t cap = (size_t)n * 600 + 4096, l = 0;
  char *b = malloc(cap);
  int i;
  l += (size_t)snprintf(b + l, cap - l,
                        "{\"config\":{\"name\":\"big%d\",\"entry_step\":\"s0\","
                        "\"max_depth\":100000},\"steps\":{",
                        n);
  for (i = 0; i < n; i++) {
    if (i % 10 == 9) {
      l += (size_t)snprintf(
          b + l, cap - l,
          "\"s%d\":{\"id\":\"s%d\",\"name\":\"S%d\",\"type\":\"action\","
          "\"actions\":[{\"action\":\"set_variable\",\"name\":\"v%d\","
          "\"value\":\"f%d.a * 2 + coalesce($v%d, 0)\"},{\"action\":"
          "\"set_variable\",\"name\":\"w%d\",\"value\":\"len(f%d.items)\"}],"
          "\"next_step\":\"s%d\"},",
          i, i, i, i, i, i > 0 ? i - 1 : 0, i, i, i + 1);
    } else {
      l += (size_t)snprintf(
          b + l, cap - l,
          "\"s%d\":{\"id\":\"s%d\",\"name\":\"S%d\",\"type\":\"decision\","
          "\"branches\":[{\"condition\":\"f%d.a > %d && f%d.b == 'x%d'\","
          "\"next_step\":\"t%d\"},{\"condition\":\"f%d.c in [1, 2, %d]\","
          "\"next_step\":\"t%d\"},{\"condition\":\"exists(f%d.d)\","
          "\"next_step\":\"s%d\"}],\"default_next\":\"s%d\"},"
          "\"t%d\":{\"id\":\"t%d\",\"name\":\"T%d\",\"type\":\"terminal\","
          "\"result\":{\"code\":\"T%d\",\"output\":[[\"a\",\"f%d.a\"]]}},",
          i, i, i, i, i, i, i, i, i, i, i, i, i + 1, i + 1, i, i, i, i, i);
    }
  }
  l += (size_t)snprintf(b + l, cap - l,
                        "\"s%d\":{\"id\":\"s%d\",\"name\":\"End\",\"type\":"
                        "\"terminal\",\"result\":{\"code\":\"END\"}}}}",
                        n, n);
  *len = l;
  return b;
}

int main(void) {
  static const int sizes[] = {10, 100, 1000, 5000};
  gavel_runtime *rt;
  unsigned k;
  gavel_runtime_new(NULL, &rt, NULL);
  printf("%-8s %10s %12s %12s\n", "steps", "bytes", "ms/load", "us/step");
  for (k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t len;
    char *json = gen(sizes[k], &len);
    double best = 1e9;
    int r, reps = sizes[k] >= 1000 ? 5 : 50;
    for (r = 0; r < reps; r++) {
      gavel_ruleset *rs = NULL;
      gavel_error err;
      double t0 = now_s(), dt;
      if (gavel_ruleset_load(rt, json, len, NULL, &rs, &err) != GAVEL_OK) {
        fprintf(stderr, "load failed: %s\n", err.msg);
        return 1;
      }
      dt = now_s() - t0;
      if (dt < best)
        best = dt;
      gavel_ruleset_free(rs);
    }
    printf("%-8d %10zu %12.3f %12.2f\n", sizes[k], len, best * 1e3,
           best * 1e6 / sizes[k]);
    free(json);
  }
  gavel_runtime_free(rt);
  return 0;
}
