/*
** test_load.c -- invalid rule documents (spec/fixtures/load_errors.jsonl),
** each with the status it must produce and substrings that must appear in
** the reported errors and warnings: every problem is reported with its
** JSON path, not only the first.
*/
#include "api_int.h"
#include "json.h"
#include "runtime.h"
#include <stdio.h>
#include <stdlib.h>

typedef struct seen {
  char errors[16384];   /* all error messages   */
  char warnings[16384]; /* all warnings         */
} seen;

static void diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  seen *s = ud;
  char *dst = lvl == GAVEL_DIAG_ERROR ? s->errors : s->warnings;
  size_t n = strlen(dst);
  snprintf(dst + n, sizeof s->errors - n, "%s\n", e->msg);
}

static void sync_prov(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  gavel_reply_payload(r, c->params, c->params_len, NULL, 0);
}

int main(void) {
  FILE *f = fopen(GAVEL_SOURCE_DIR "/spec/fixtures/load_errors.jsonl", "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int passed = 0, failed = 0;
  gavel_runtime *rt;
  gv_arena a;
  if (!f)
    return 1;
  gavel_runtime_new(NULL, &rt, NULL);
  gavel_runtime_provide(rt, "test.sync", sync_prov, NULL, NULL);
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  while ((n = getline(&line, &cap, f)) > 0) {
    gvalue c, *id, *doc, *text, *status, *contains, *warns;
    gavel_error err;
    gavel_load_opts lo;
    gavel_ruleset *rs = NULL;
    gavel_status st;
    seen s;
    gv_buf b;
    uint32_t i;
    int ok = 1;
    if (gavel__json_parse(&a, line, (size_t)n, NULL, &c, &err) != GAVEL_OK) {
      fprintf(stderr, "bad fixture line: %s\n", err.msg);
      failed++;
      continue;
    }
    id = gavel__obj_get(c.u.o, "id", 2);
    doc = gavel__obj_get(c.u.o, "doc", 3);
    text = gavel__obj_get(c.u.o, "text", 4);
    status = gavel__obj_get(c.u.o, "status", 6);
    contains = gavel__obj_get(c.u.o, "contains", 8);
    warns = gavel__obj_get(c.u.o, "warnings", 8);
    gavel__buf_init(&b, &gavel__default_alloc);
    if (doc)
      gavel__json_write(&b, *doc);
    else
      gavel__buf_add(&b, text->u.s->s, text->u.s->len);
    memset(&s, 0, sizeof s);
    memset(&lo, 0, sizeof lo);
    lo.diag = diag;
    lo.diag_ud = &s;
    st = gavel_ruleset_load(rt, b.p, b.len, &lo, &rs, &err);
    if (strcmp(gavel_status_name(st), status->u.s->s) != 0) {
      fprintf(stderr, "FAIL %s: status %s, want %s\n  %s", id->u.s->s,
              gavel_status_name(st), status->u.s->s, s.errors);
      ok = 0;
    }
    for (i = 0; contains && i < contains->u.a->len; i++)
      if (!strstr(s.errors, contains->u.a->items[i].u.s->s)) {
        fprintf(stderr, "FAIL %s: no error containing \"%s\" in:\n%s",
                id->u.s->s, contains->u.a->items[i].u.s->s, s.errors);
        ok = 0;
      }
    for (i = 0; warns && i < warns->u.a->len; i++)
      if (!strstr(s.warnings, warns->u.a->items[i].u.s->s)) {
        fprintf(stderr, "FAIL %s: no warning containing \"%s\" in:\n%s",
                id->u.s->s, warns->u.a->items[i].u.s->s, s.warnings);
        ok = 0;
      }
    if (st != GAVEL_OK && rs)
      ok = 0; /* a failed load hands out nothing */
    ok ? passed++ : failed++;
    gavel_ruleset_free(rs);
    gavel__buf_free(&b);
    gavel__arena_reset(&a);
  }
  free(line);
  fclose(f);
  { /* a decision with 5,000 branches is analysed whole: its last branch's
    ** target is reachable and no cycle is reported (regression: branches
    ** past a fixed buffer used to be skipped) */
    gv_buf b;
    seen s;
    gavel_load_opts lo;
    gavel_ruleset *rs = NULL;
    gavel_error err;
    int k;
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__buf_adds(&b, "{\"config\":{\"name\":\"wide\"},\"steps\":{\"start\":"
                        "{\"id\":\"start\",\"type\":\"decision\",\"branches\":[");
    for (k = 0; k < 5000; k++)
      gavel__buf_addf(&b, "%s{\"condition\":\"x == %d\",\"next_step\":\"%s\"}",
                      k ? "," : "", k, k == 4999 ? "last" : "start");
    gavel__buf_adds(&b, "],\"default_next\":\"start\"},\"last\":{\"id\":"
                        "\"last\",\"type\":\"terminal\",\"result\":{}}}}");
    memset(&s, 0, sizeof s);
    memset(&lo, 0, sizeof lo);
    lo.diag = diag;
    lo.diag_ud = &s;
    if (gavel_ruleset_load(rt, b.p, b.len, &lo, &rs, &err) == GAVEL_OK &&
        !s.warnings[0] && !s.errors[0])
      passed++;
    else {
      fprintf(stderr, "FAIL wide decision: %s%s%s\n", err.msg, s.errors,
              s.warnings);
      failed++;
    }
    gavel_ruleset_free(rs);
    gavel__buf_free(&b);
  }
  gavel__arena_free(&a);
  gavel_runtime_free(rt);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
