/*
** test_fixtures.c -- runs the table-driven expression corpora in
** spec/fixtures/ *.test (jq.test style).  Each case is a group of lines:
**   # <stable-id>
**   <expression>
**   <context JSON>
**   <expected JSON value> | error: parse: <substring> | error: eval: <substring>
** Groups are separated by blank lines.  Values compare type-strictly (3 is
** not 3.0).  Prints "N passed, N failed".
*/
#include "api_int.h"
#include "json.h"
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle), i, j;
  for (i = 0; hay[i] || !n; i++) {
    if (!n)
      return 1;
    for (j = 0; j < n && hay[i + j] &&
                tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j]);
         j++)
      ;
    if (j == n)
      return 1;
  }
  return 0;
}

static int same(gvalue a, gvalue b) {
  uint32_t i;
  if (a.tag != b.tag)
    return 0;
  if (a.tag == GV_ARR) {
    if (a.u.a->len != b.u.a->len)
      return 0;
    for (i = 0; i < a.u.a->len; i++)
      if (!same(a.u.a->items[i], b.u.a->items[i]))
        return 0;
    return 1;
  }
  if (a.tag == GV_FLOAT) /* bitwise-exact, but -0.0 == 0.0 and NaN == NaN */
    return a.u.f == b.u.f || (a.u.f != a.u.f && b.u.f != b.u.f);
  return gavel__value_eq(a, b);
}

static void run_case(gavel_runtime *rt, const char *file, const char *id,
                     const char *expr, const char *ctx, const char *want) {
  gavel_expr *e = NULL;
  gavel_error err;
  gv_arena a;
  gvalue root = gv_null(), got, exp;
  int ok = 0;
  char detail[1024] = "";
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  if (gavel_expr_compile(rt, expr, strlen(expr), &e, &err) != GAVEL_OK) {
    ok = !strncmp(want, "error: parse:", 13) && icontains(err.msg, want + 14);
    snprintf(detail, sizeof detail, "parse error: %.900s", err.msg);
  } else if (*ctx && gavel__json_parse(&a, ctx, strlen(ctx), NULL, &root, &err) !=
                         GAVEL_OK) {
    snprintf(detail, sizeof detail, "bad context JSON: %.900s", err.msg);
  } else if (gavel__expr_eval_value(e, root, &got, &err) != GAVEL_OK) {
    ok = !strncmp(want, "error: eval:", 12) && icontains(err.msg, want + 13);
    snprintf(detail, sizeof detail, "eval error: %.900s", err.msg);
  } else if (!strncmp(want, "error:", 6)) {
    gv_buf b;
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__json_write(&b, got);
    snprintf(detail, sizeof detail, "expected an error, got %.900s", b.p);
    gavel__buf_free(&b);
  } else if (gavel__json_parse(&a, want, strlen(want), NULL, &exp, &err) !=
             GAVEL_OK) {
    snprintf(detail, sizeof detail, "bad expected JSON: %.900s", err.msg);
  } else {
    gv_buf b;
    ok = same(got, exp);
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__json_write(&b, got);
    snprintf(detail, sizeof detail, "got %.900s", b.p);
    gavel__buf_free(&b);
  }
  if (ok)
    passed++;
  else {
    failed++;
    fprintf(stderr, "FAIL %s %s: %s\n    want %s\n    %s\n", file, id, expr,
            want, detail);
  }
  gavel_expr_free(e);
  gavel__arena_free(&a);
}

static void run_file(gavel_runtime *rt, const char *path) {
  FILE *f = fopen(path, "r");
  char *lines[4] = {0}, *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int k = 0, i;
  if (!f) {
    failed++;
    return;
  }
  for (;;) {
    n = getline(&line, &cap, f);
    if (n >= 0) {
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    }
    if (n < 0 || n == 0) {
      if (k == 4)
        run_case(rt, path, lines[0], lines[1], lines[2], lines[3]);
      else if (k != 0) {
        fprintf(stderr, "FAIL %s: malformed group starting '%s'\n", path,
                lines[0]);
        failed++;
      }
      for (i = 0; i < k; i++)
        free(lines[i]);
      k = 0;
      if (n < 0)
        break;
      continue;
    }
    if (k == 0 && line[0] != '#')
      continue; /* stray text between groups */
    if (k < 4)
      lines[k++] = strdup(line);
  }
  free(line);
  fclose(f);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : GAVEL_SOURCE_DIR "/spec/fixtures";
  gavel_runtime *rt;
  DIR *d = opendir(dir);
  struct dirent *de;
  if (!d) {
    fprintf(stderr, "cannot open %s\n", dir);
    return 1;
  }
  gavel_runtime_new(NULL, &rt, NULL);
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    char p[4096];
    if (l > 5 && !strcmp(de->d_name + l - 5, ".test")) {
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      run_file(rt, p);
    }
  }
  closedir(d);
  gavel_runtime_free(rt);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
