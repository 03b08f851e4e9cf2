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
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *doc, *in;
  size_t doc_len, in_len;
  gavel_ruleset *rs, *rs_off;
  uint64_t h;

  if (size > 256 * 1024)
    return -1;
  fz_split(data, size, &doc, &doc_len, &in, &in_len);
  if (!in) {
    in = (const uint8_t *)"{}";
    in_len = 2;
  }
  if (fz_load_pair(doc, doc_len, &rs, &rs_off) != GAVEL_OK)
    return 0;
  if (!rs || !gavel_ruleset_name(rs))
    fz_fail("loaded ruleset without a name", NULL, 0);
  h = fz_hash(data, size);
  fz_run_pair(rs, rs_off, (const char *)in, in_len, h, doc, doc_len, NULL);
  fz_run(rs, (const char *)in, in_len, GAVEL_RUN_TRACE, h * 31 + 7);
  gavel_ruleset_free(rs);
  gavel_ruleset_free(rs_off);
  return 0;
}
