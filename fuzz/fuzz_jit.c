/*
** fuzz_jit.c -- differential: the VM against the JIT tier on the same
** expression and context.
** Input: expression text, NUL, context JSON (no NUL: context null) -- the
** fuzz_expr format, whose seeds it reads too.
** Two runtimes, identical but for gavel_config.jit (2 = off, 1 = on: every
** program compiled at load).  Checks: the same compile status and message;
** the same eval status, byte-identical result or identical message and
** error offset (skipped for the clock, uuid and random builtins).
*/
#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gavel_runtime *mk(int jit) {
  gavel_config cfg;
  gavel_runtime *rt = NULL;
  gavel_error e;
  fz_config(&cfg);
  cfg.jit = jit;
  if (gavel_runtime_new(&cfg, &rt, &e) != GAVEL_OK) {
    fprintf(stderr, "gavel_runtime_new: %s\n", e.msg);
    abort();
  }
  return rt;
}

static int nondeterministic(const uint8_t *s, size_t n) {
  static const char *const words[] = {"now", "uuid", "rand", NULL};
  return fz_mentions(s, n, words);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static gavel_runtime *vm, *jit;
  const uint8_t *src, *ctx;
  size_t src_len, ctx_len;
  gavel_expr *a = NULL, *b = NULL;
  gavel_error ea, eb;
  gavel_status sa, sb;
  if (size > 64 * 1024)
    return -1;
  if (!vm) {
    vm = mk(2);
    jit = mk(1);
  }
  fz_split(data, size, &src, &src_len, &ctx, &ctx_len);
  if (nondeterministic(src, src_len))
    return 0;
  sa = gavel_expr_compile(vm, (const char *)src, src_len, &a, &ea);
  sb = gavel_expr_compile(jit, (const char *)src, src_len, &b, &eb);
  if (sa != sb || (sa != GAVEL_OK && strcmp(ea.msg, eb.msg)))
    fz_fail("compile differs between VM and JIT runtimes", eb.msg,
            strlen(eb.msg));
  if (sa == GAVEL_OK) {
    const char *oa = NULL, *ob = NULL;
    size_t la = 0, lb = 0;
    char *first = NULL;
    sa = gavel_expr_eval_json(a, (const char *)ctx, ctx_len, &oa, &la, &ea);
    if (sa == GAVEL_OK) {
      first = malloc(la + 1);
      memcpy(first, oa, la);
    }
    sb = gavel_expr_eval_json(b, (const char *)ctx, ctx_len, &ob, &lb, &eb);
    fz_check_error(sb, &eb);
    if (sa != sb)
      fz_fail("eval status differs between VM and JIT", eb.msg,
              strlen(eb.msg));
    if (sa == GAVEL_OK && (la != lb || memcmp(first, ob, la)))
      fz_fail("eval result differs between VM and JIT", ob, lb);
    if (sa != GAVEL_OK && (strcmp(ea.msg, eb.msg) || ea.offset != eb.offset))
      fz_fail("eval error differs between VM and JIT", eb.msg,
              strlen(eb.msg));
    free(first);
  }
  gavel_expr_free(a);
  gavel_expr_free(b);
  return 0;
}
