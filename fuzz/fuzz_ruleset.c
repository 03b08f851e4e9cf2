/*
** fuzz_ruleset.c -- ruleset load, then run what loads.
** Input: ruleset JSON, NUL, run input JSON (no NUL: input {}).
** A loaded ruleset runs twice: once plain, once with the trace, with
** pending host calls answered by payloads, errors, malformed payloads or
** abandon (choice from the input hash), synchronous C providers, and
** call_rule_set resolving to the ruleset itself.
*/
#include "fuzz_common.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *doc, *in;
  size_t doc_len, in_len;
  gavel_ruleset *rs = NULL;
  gavel_error e;
  gavel_status st;
  uint64_t h;

  if (size > 256 * 1024)
    return -1;
  fz_split(data, size, &doc, &doc_len, &in, &in_len);
  if (!in) {
    in = (const uint8_t *)"{}";
    in_len = 2;
  }
  st = gavel_ruleset_load(fz_runtime(), (const char *)doc, doc_len,
                          fz_load_opts(), &rs, &e);
  fz_check_error(st, &e);
  if (st != GAVEL_OK)
    return 0;
  if (!rs || !gavel_ruleset_name(rs))
    fz_fail("loaded ruleset without a name", NULL, 0);
  h = fz_hash(data, size);
  fz_run(rs, (const char *)in, in_len, 0, h);
  fz_run(rs, (const char *)in, in_len, GAVEL_RUN_TRACE, h * 31 + 7);
  gavel_ruleset_free(rs);
  return 0;
}
