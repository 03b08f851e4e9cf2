/*
** fuzz_ruleset.c -- ruleset load, then run what loads.
** Input: ruleset JSON, NUL, run input JSON (no NUL: input {}).
** A loaded ruleset runs twice: once plain, once with the trace, with
** pending host calls answered by payloads, errors, malformed payloads or
** abandon (choice from the input hash), synchronous C providers, and
** call_rule_set resolving to the ruleset itself.
**
** Differential: the document is loaded with the JIT on (programs, decision
** chains and key lookups compiled at load) and off (the VM alone); the two
** loads must agree, and so must the two plain runs (the same result bytes,
** or the same status and message), except for documents that read the
** clock or random numbers and runs that time out or reach the per-run
** memory cap (those depend on each path's speed and frugality).
*/
#include "fuzz_common.h"
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *doc, *in;
  size_t doc_len, in_len;
  gavel_ruleset *rs = NULL, *rs_off = NULL;
  gavel_error e, e_off;
  gavel_status st, st_off;
  uint64_t h;
  static char on[4096], off[4096];

  if (size > 256 * 1024)
    return -1;
  fz_split(data, size, &doc, &doc_len, &in, &in_len);
  if (!in) {
    in = (const uint8_t *)"{}";
    in_len = 2;
  }
  st = gavel_ruleset_load(fz_runtime_jit(1), (const char *)doc, doc_len,
                          fz_load_opts(), &rs, &e);
  fz_check_error(st, &e);
  st_off = gavel_ruleset_load(fz_runtime_jit(2), (const char *)doc, doc_len,
                              fz_load_opts(), &rs_off, &e_off);
  fz_check_error(st_off, &e_off);
  if (st != st_off || (st != GAVEL_OK && strcmp(e.msg, e_off.msg)))
    fz_fail("JIT on and off load differently", e.msg, strlen(e.msg));
  if (st != GAVEL_OK)
    return 0;
  if (!rs || !gavel_ruleset_name(rs))
    fz_fail("loaded ruleset without a name", NULL, 0);
  h = fz_hash(data, size);
  fz_run_text(rs, (const char *)in, in_len, 0, h, on, sizeof on);
  fz_run_text(rs_off, (const char *)in, in_len, 0, h, off, sizeof off);
  if (fz_differ(on, off, doc, doc_len)) {
    fprintf(stderr, "  jit on:  %.1000s\n  jit off: %.1000s\n", on, off);
    fz_fail("JIT on and off end differently", NULL, 0);
  }
  fz_run(rs, (const char *)in, in_len, GAVEL_RUN_TRACE, h * 31 + 7);
  gavel_ruleset_free(rs);
  gavel_ruleset_free(rs_off);
  return 0;
}
