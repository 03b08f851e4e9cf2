/*
** fuzz_expr.c -- expression compile + eval against a fuzzed JSON context.
** Input: expression text, NUL, context JSON (no NUL: context null).
** Checks: errors well-formed, results valid JSON, the disassembly works,
** and determinism: a second eval gives byte-identical results (skipped for
** the clock and uuid builtins).
*/
#include "fuzz_common.h"
#include <stdlib.h>
#include <string.h>

static int nondeterministic(const uint8_t *s, size_t n) {
  static const char *const words[] = {"now", "uuid", NULL};
  return fz_mentions(s, n, words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *src, *ctx;
  size_t src_len, ctx_len;
  gavel_expr *ex = NULL;
  gavel_error e;
  gavel_status st, st2;
  const char *out = NULL, *dis = NULL;
  size_t out_len = 0, out2_len = 0;
  char *first = NULL;

  if (size > 64 * 1024)
    return -1;
  fz_split(data, size, &src, &src_len, &ctx, &ctx_len);
  st = gavel_expr_compile(fz_runtime(), (const char *)src, src_len, &ex, &e);
  fz_check_error(st, &e);
  if (st != GAVEL_OK) {
    if (ex)
      fz_fail("failed compile returned an expression", NULL, 0);
    return 0;
  }
  if (gavel_expr_disasm(ex, &dis, &e) != GAVEL_OK || !dis)
    fz_fail("disasm failed on a compiled expression", e.msg, strlen(e.msg));

  st = gavel_expr_eval_json(ex, (const char *)ctx, ctx_len, &out, &out_len, &e);
  fz_check_error(st, &e);
  if (st == GAVEL_OK) {
    fz_check_json("eval result is not valid JSON", out, out_len);
    first = malloc(out_len + 1);
    memcpy(first, out, out_len);
  }
  if (!nondeterministic(src, src_len)) {
    char msg1[GAVEL_ERRMSG_SIZE];
    memcpy(msg1, e.msg, sizeof msg1);
    st2 = gavel_expr_eval_json(ex, (const char *)ctx, ctx_len, &out, &out2_len,
                               &e);
    if (st2 != st)
      fz_fail("second eval gives another status", e.msg, strlen(e.msg));
    if (st == GAVEL_OK && (out2_len != out_len || memcmp(first, out, out_len)))
      fz_fail("second eval gives other bytes", out, out2_len);
    if (st != GAVEL_OK && strcmp(msg1, e.msg))
      fz_fail("second eval gives another message", e.msg, strlen(e.msg));
  }
  free(first);
  gavel_expr_free(ex);
  return 0;
}
