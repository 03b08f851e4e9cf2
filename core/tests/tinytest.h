/*
** tinytest.h -- the TEST() macro and runner for the C tests in core/tests.
**
** Each test file defines tests with TEST(tname) { ... CHECK(cond); ... }
** and ends with TEST_MAIN().  Output ends with "N passed, N failed".
*/
#ifndef GAVEL_TINYTEST_H
#define GAVEL_TINYTEST_H
#include <stdio.h>
#include <string.h>

typedef void (*tt_fn)(void);
static struct { const char *name; tt_fn fn; } tt_tests[1024];
static int tt_n, tt_fail_cur, tt_checks;

#define TEST(tname)                                                          \
  static void tt_##tname(void);                                              \
  __attribute__((constructor)) static void tt_reg_##tname(void) {            \
    tt_tests[tt_n].name = #tname;                                            \
    tt_tests[tt_n++].fn = tt_##tname;                                        \
  }                                                                          \
  static void tt_##tname(void)

#define CHECK(c)                                                             \
  do {                                                                       \
    tt_checks++;                                                             \
    if (!(c)) {                                                              \
      tt_fail_cur++;                                                         \
      fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
    }                                                                        \
  } while (0)

#define CHECK_STR(a, b)                                                      \
  do {                                                                       \
    const char *tt_a = (a), *tt_b = (b);                                     \
    tt_checks++;                                                             \
    if (!tt_a || !tt_b || strcmp(tt_a, tt_b) != 0) {                         \
      tt_fail_cur++;                                                         \
      fprintf(stderr, "  %s:%d: expected \"%s\", got \"%s\"\n", __FILE__,    \
              __LINE__, tt_b ? tt_b : "(null)", tt_a ? tt_a : "(null)");     \
    }                                                                        \
  } while (0)

#define TEST_MAIN()                                                          \
  int main(int argc, char **argv) {                                          \
    int i, passed = 0, failed = 0;                                           \
    for (i = 0; i < tt_n; i++) {                                             \
      if (argc > 1 && !strstr(tt_tests[i].name, argv[1]))                    \
        continue;                                                            \
      tt_fail_cur = 0;                                                       \
      tt_tests[i].fn();                                                      \
      if (tt_fail_cur) {                                                     \
        failed++;                                                            \
        fprintf(stderr, "FAIL %s\n", tt_tests[i].name);                      \
      } else                                                                 \
        passed++;                                                            \
    }                                                                        \
    printf("%d passed, %d failed\n", passed, failed);                        \
    return failed ? 1 : 0;                                                   \
  }
#endif
