/*
** test_load.c -- invalid rule documents (spec/fixtures/load_errors.jsonl),
** each with the status it must produce and substrings that must appear in
** the reported errors and warnings: every problem is reported with its
** JSON path, not only the first.  Then the loader regressions of issue 8
** (hardening): crashes, missing fields the scheduler would dereference,
** numeric ranges, diagnostics of every failure, linear loading.
*/
#include "api_int.h"
#include "json.h"
#include "rules.h"
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

/* ==== Issue 8: loader hardening ==== */

static int h_passed, h_failed;

static void result(int ok, const char *id, const char *why) {
  if (ok) {
    h_passed++;
    return;
  }
  h_failed++;
  fprintf(stderr, "FAIL %s: %s\n", id, why);
}

/* Fresh memory full of 0xA5: a field the loader forgets to set points
** nowhere, as stale bytes of an earlier ruleset do in a long-lived worker,
** instead of reading as the zeroes a fresh process tends to have. */
static void *poison_realloc(void *ud, void *p, size_t old, size_t nsz) {
  void *q;
  (void)ud;
  if (nsz == 0) {
    free(p);
    return NULL;
  }
  if (!(q = realloc(p, nsz)))
    return NULL;
  if (nsz > old)
    memset((char *)q + old, 0xA5, nsz - old);
  return q;
}

static gavel_runtime *poisoned_runtime(size_t max_input) {
  gavel_config cfg;
  gavel_runtime *rt = NULL;
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.realloc = poison_realloc;
  cfg.max_input_bytes = max_input;
  gavel_runtime_new(&cfg, &rt, NULL);
  gavel_runtime_provide(rt, "test.sync", sync_prov, NULL, NULL);
  return rt;
}

/* Documents are written with ' for " (none of them needs a quote). */
static gavel_status load_q(gavel_runtime *rt, const char *q, seen *s,
                           gavel_ruleset **rs, gavel_error *err) {
  gavel_load_opts lo;
  gavel_status st;
  char *doc = strdup(q), *c;
  for (c = doc; *c; c++)
    if (*c == '\'')
      *c = '"';
  memset(s, 0, sizeof *s);
  memset(&lo, 0, sizeof lo);
  lo.diag = diag;
  lo.diag_ud = s;
  st = gavel_ruleset_load(rt, doc, strlen(doc), &lo, rs, err);
  free(doc);
  return st;
}

/* The document must fail to load with 'want', and some reported error
** (through diag, and the first one in 'err') must contain 'contains'. */
static void expect_load_error(gavel_runtime *rt, const char *id, const char *q,
                              gavel_status want, const char *contains) {
  seen s;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  gavel_status st = load_q(rt, q, &s, &rs, &err);
  char why[sizeof s.errors + 256];
  snprintf(why, sizeof why, "status %s (want %s), errors:\n%s",
           gavel_status_name(st), gavel_status_name(want), s.errors);
  result(st == want && !rs && strstr(s.errors, contains) != NULL, id, why);
  gavel_ruleset_free(rs);
}

/* Runs 'rs' on 'input': the result must contain 'contains'. */
static void expect_run(gavel_ruleset *rs, const char *id, const char *input,
                       const char *contains) {
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out = "";
  size_t n = 0;
  char why[1024];
  gavel_status st = GAVEL_MISUSE;
  if (rs && gavel_exec_new(rs, &ex, &err) == GAVEL_OK)
    st = gavel_exec_run_json(ex, input, strlen(input), 0, &out, &n, &err);
  snprintf(why, sizeof why, "status %s, result %.*s %.500s",
           gavel_status_name(st), st == GAVEL_OK ? (int)n : 0, out,
           st == GAVEL_OK ? "" : err.msg);
  result(st == GAVEL_OK && strstr(out, contains) != NULL, id, why);
  gavel_exec_free(ex);
}

#define TERMINALS                                                          \
  "'a': {'id': 'a', 'type': 'terminal', 'result': {'code': 'A'}},"       \
  "'b': {'id': 'b', 'type': 'terminal', 'result': {'code': 'B'}},"       \
  "'c': {'id': 'c', 'type': 'terminal', 'result': {'code': 'C'}},"       \
  "'d': {'id': 'd', 'type': 'terminal', 'result': {'code': 'D'}}"

/* Item 1: "condition": null is "always".  Its slot handed to the decision
** compiler used to be left uninitialised (valgrind: conditional jump on
** uninitialised value in gavel__compile_decision); with poisoned memory
** the old loader crashes here. */
static void null_condition(gavel_runtime *rt) {
  static const char *const docs[] = {
      /* the crash document: null first, another branch, default_next */
      "{'config': {'name': 'n1'}, 'steps': {'start': {'id': 'start', "
      "'type': 'decision', 'branches': [{'condition': null, 'next_step': "
      "'a'}, {'condition': 'x > 1', 'next_step': 'b'}], 'default_next': "
      "'c'}, " TERMINALS "}}",
      /* null in the middle: ends the decision, later branches never run */
      "{'config': {'name': 'n2'}, 'steps': {'start': {'id': 'start', "
      "'type': 'decision', 'branches': [{'condition': 'x > 5', 'next_step': "
      "'a'}, {'condition': null, 'next_step': 'b'}, {'condition': 'x > 1', "
      "'next_step': 'c'}], 'default_next': 'd'}, " TERMINALS "}}",
      /* strict mode, Ordo AST form around it */
      "{'config': {'name': 'n3', 'field_missing': 'strict'}, 'steps': "
      "{'start': {'id': 'start', 'type': 'decision', 'branches': "
      "[{'condition': {'Binary': {'op': 'Gt', 'left': {'Field': 'x'}, "
      "'right': {'Literal': 5}}}, 'next_step': 'a'}, {'condition': null, "
      "'next_step': 'b'}]}, " TERMINALS "}}"};
  static const char *const runs[][3] = {
      {"{\"x\": 10}", "\"A\"", "{\"x\": 0}"},
      {"{\"x\": 10}", "\"A\"", "{\"x\": 2}"},
      {"{\"x\": 10}", "\"A\"", "{\"x\": 2}"}};
  static const char *const second[] = {"\"A\"", "\"B\"", "\"B\""};
  int i, round;
  /* Several rounds: later loads reuse memory freed by earlier ones. */
  for (round = 0; round < 3; round++)
    for (i = 0; i < 3; i++) {
      seen s;
      gavel_ruleset *rs = NULL;
      gavel_error err;
      char id[64];
      snprintf(id, sizeof id, "null-condition-%d.%d", i + 1, round);
      result(load_q(rt, docs[i], &s, &rs, &err) == GAVEL_OK, id, err.msg);
      /* the whole decision still compiles into one program */
      result(rs && rs->graphs[0].steps[0].fused != NULL, id, "not fused");
      expect_run(rs, id, runs[i][0], runs[i][1]);
      expect_run(rs, id, runs[i][2], second[i]);
      gavel_ruleset_free(rs);
    }
}

/* Item 2 and the audit behind it: every way a step could load with a
** NULL program, a -1 index or an empty name the scheduler dereferences is
** a load error naming its JSON path. */
static void missing_pieces(gavel_runtime *rt) {
  expect_load_error(
      rt, "empty-action",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "'action', 'actions': [{'action': ''}], 'next_step': 'a'}, " TERMINALS
      "}}",
      GAVEL_LOAD, "steps.start.actions[0].action: empty action tag");
  expect_load_error(
      rt, "empty-action-branch",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "'decision', 'branches': [{'condition': null, 'next_step': 'a', "
      "'actions': [{'action': '', 'name': 'v', 'value': '1'}]}]}, " TERMINALS
      "}}",
      GAVEL_LOAD,
      "steps.start.branches[0].actions[0].action: empty action tag");
  expect_load_error(
      rt, "empty-step-type",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "''}, " TERMINALS "}}",
      GAVEL_LOAD, "steps.start.type: unknown variant ``");
  expect_load_error(
      rt, "empty-ref-name",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "'sub_rule', 'ref_name': '', 'next_step': 'a'}, " TERMINALS "}}",
      GAVEL_LOAD, "steps.start.ref_name: Sub-rule '' not found");
  expect_load_error(
      rt, "empty-sub-entry",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "'sub_rule', 'ref_name': 'kid', 'next_step': 'a'}, " TERMINALS "}, "
      "'sub_rules': {'kid': {'entry_step': '', 'steps': {'t': {'id': 't', "
      "'type': 'terminal', 'result': {}}}}}}",
      GAVEL_LOAD, "sub_rules.kid.entry_step: Entry step '' not found");
  expect_load_error(
      rt, "empty-service",
      "{'config': {'name': 'e'}, 'steps': {'start': {'id': 'start', 'type': "
      "'action', 'actions': [{'action': 'external_call', 'service': '', "
      "'method': 'm', 'params': []}], 'next_step': 'a'}, " TERMINALS "}}",
      GAVEL_LOAD, "steps.start.actions[0].service: empty service name");
  { /* default_next is Option<String> in Ordo: null is "none" */
    seen s;
    gavel_ruleset *rs = NULL;
    gavel_error err;
    result(load_q(rt,
                  "{'config': {'name': 'dn'}, 'steps': {'start': {'id': "
                  "'start', 'type': 'decision', 'branches': [{'condition': "
                  "'x > 1', 'next_step': 'a'}], 'default_next': null}, "
                  TERMINALS "}}",
                  &s, &rs, &err) == GAVEL_OK,
           "default-next-null", s.errors);
    expect_run(rs, "default-next-null", "{\"x\": 2}", "\"A\"");
    gavel_ruleset_free(rs);
  }
  { /* A NUL in a sub_rule step's key: its outputs were looked up again by
    ** C string, not found, and the child variable index stayed -1. */
    seen s;
    gavel_ruleset *rs = NULL;
    gavel_error err;
    gavel_status st = load_q(
        rt,
        "{'config': {'name': 'k', 'entry_step': 's\\u0000t'}, 'steps': "
        "{'s\\u0000t': {'id': 's', 'type': 'sub_rule', 'ref_name': 'kid', "
        "'outputs': [['r', 'cr']], 'next_step': 'done'}, 'done': {'id': "
        "'done', 'type': 'terminal', 'result': {'output': {'r': '$r'}}}}, "
        "'sub_rules': {'kid': {'entry_step': 'c', 'steps': {'c': {'id': 'c', "
        "'type': 'action', 'actions': [{'action': 'set_variable', 'name': "
        "'cr', 'value': '42'}], 'next_step': 't'}, 't': {'id': 't', 'type': "
        "'terminal', 'result': {}}}}}}",
        &s, &rs, &err);
    result(st == GAVEL_OK && rs && rs->graphs[0].steps[0].out_child[0] >= 0,
           "nul-key-outputs", st == GAVEL_OK ? "child index -1" : err.msg);
    expect_run(rs, "nul-key-outputs", "{}", "\"r\":42");
    gavel_ruleset_free(rs);
  }
}

/* Item 16: numeric fields, with the field's path and the accepted range. */
static void numeric_ranges(gavel_runtime *rt) {
  static const struct {
    const char *id, *cfg, *want;
  } cases[] = {
      {"gas-2^64-1", "'gas_limit': 18446744073709551615",
       "config.gas_limit: expected an unsigned integer, got a negative int: "
       "-1 (integers above 9223372036854775807 wrap to negative); accepted "
       "range: 0 to 9223372036854775807"},
      {"gas-2^63", "'gas_limit': 9223372036854775808",
       "config.gas_limit: expected an unsigned integer, got a negative int: "
       "-9223372036854775808"},
      {"gas-2^70", "'gas_limit': 1180591620717411303424",
       "config.gas_limit: expected an unsigned integer, got float: "
       "1.18059162071741e+21 (accepted range: 0 to 9223372036854775807)"},
      {"gas-float", "'gas_limit': 1e3",
       "config.gas_limit: expected an unsigned integer, got float: 1000"},
      {"depth-negative", "'max_depth': -5",
       "config.max_depth: expected an unsigned integer, got a negative int: "
       "-5"},
      {"timeout-float", "'timeout_ms': 2.5",
       "config.timeout_ms: expected an unsigned integer, got float: 2.5"},
      {"timeout-string", "'timeout_ms': '100'",
       "config.timeout_ms: expected an unsigned integer, got string "
       "(accepted range: 0 to 9223372036854775807)"},
  };
  char doc[1024];
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(doc, sizeof doc,
             "{'config': {'name': 'n', %s}, 'steps': {'start': {'id': "
             "'start', 'type': 'terminal', 'result': {}}}}",
             cases[i].cfg);
    expect_load_error(rt, cases[i].id, doc, GAVEL_LOAD, cases[i].want);
  }
  /* max_depth above 2^32-1 saturates (it used to wrap: 2^32 became 0, a
  ** run failing at once); the host's max_steps caps it at run time */
  {
    static const char big[] =
        "{\"config\": {\"name\": \"n\", \"max_depth\": 4294967296}, "
        "\"steps\": {\"start\": {\"id\": \"start\", \"type\": \"terminal\", "
        "\"result\": {\"code\": \"OK\"}}}}";
    gavel_ruleset *rs = NULL;
    gavel_error e;
    gavel_status st = gavel_ruleset_load(rt, big, sizeof big - 1, NULL, &rs, &e);
    result(st == GAVEL_OK, "depth-2^32-saturates", st == GAVEL_OK ? "" : e.msg);
    expect_run(rs, "depth-2^32-runs", "{}", "\"code\":\"OK\"");
    gavel_ruleset_free(rs);
  }
  /* an action's timeout is 32-bit: 2^32 used to become 0 ("none") */
  expect_load_error(
      rt, "call-timeout-2^32",
      "{'config': {'name': 'n'}, 'steps': {'start': {'id': 'start', 'type': "
      "'action', 'actions': [{'action': 'external_call', 'service': "
      "'test.sync', 'method': 'm', 'params': [], 'timeout_ms': 4294967296}], "
      "'next_step': 'a'}, " TERMINALS "}}",
      GAVEL_LOAD,
      "steps.start.actions[0].timeout_ms: 4294967296 is out of range "
      "(accepted range: 0 to 4294967295)");
}

/* Item 13: every failed load reaches the diagnostics callback, not only
** 'err' (gavel check printed "ok" for a document over the size limit). */
static void diag_every_failure(void) {
  gavel_runtime *small = poisoned_runtime(64);
  static const char big[] =
      "{\"config\": {\"name\": \"big\"}, \"steps\": {\"start\": {\"id\": "
      "\"start\", \"type\": \"terminal\", \"result\": {}}}}";
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  gavel_status st;
  seen s;
  memset(&lo, 0, sizeof lo);
  lo.diag = diag;
  lo.diag_ud = &s;
  memset(&s, 0, sizeof s);
  st = gavel_ruleset_load(small, big, strlen(big), &lo, &rs, &err);
  result(st == GAVEL_LIMIT && strstr(s.errors, "ruleset too large: ") &&
             strstr(s.errors, "(max 64, the runtime's max_input_bytes)") &&
             !strncmp(err.msg, "ruleset too large: ", 19) &&
             strstr(s.errors, err.msg),
         "diag-size-limit", s.errors[0] ? s.errors : err.msg);
  memset(&s, 0, sizeof s); /* without an err: diag still gets the error */
  st = gavel_ruleset_load(small, big, strlen(big), &lo, &rs, NULL);
  result(st == GAVEL_LIMIT && strstr(s.errors, "ruleset too large"),
         "diag-size-limit-no-err", s.errors);
  memset(&s, 0, sizeof s);
  st = gavel_ruleset_load(small, "{\"config\"", 9, &lo, &rs, NULL);
  result(st == GAVEL_JSON && strstr(s.errors, "invalid JSON"),
         "diag-json-no-err", s.errors);
  memset(&s, 0, sizeof s);
  st = gavel_ruleset_load(small, NULL, 0, &lo, &rs, NULL);
  result(st == GAVEL_MISUSE && strstr(s.errors, "NULL argument"),
         "diag-misuse", s.errors);
  memset(&s, 0, sizeof s); /* the first error's status, without an err */
  st = gavel_ruleset_load(small, "[1]", 3, &lo, &rs, NULL);
  result(st == GAVEL_LOAD && strstr(s.errors, "must be a JSON object"),
         "diag-load-no-err", s.errors);
  gavel_runtime_free(small);
}

/* Item 6: a decision of N branches loads in linear time (the constant
** pool was searched linearly: 100k branches took 86 s, now under 1 s of
** CPU).  Asserts behaviour: it loads, and the right branch is taken, on
** both sides of the largest decision that fits one fused program. */
static void wide_decision(gavel_runtime *rt, int n, int fused) {
  gv_buf b;
  seen s;
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  char id[64], in[64];
  int k, mid = n * 7 / 10;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{\"config\":{\"name\":\"wide\"},\"steps\":{\"start\":"
                      "{\"id\":\"start\",\"type\":\"decision\",\"branches\":[");
  for (k = 0; k < n; k++)
    gavel__buf_addf(&b, "%s{\"condition\":\"x == %d\",\"next_step\":\"%s\"}",
                    k ? "," : "", k,
                    k == n - 1 ? "b" : k == mid ? "c" : "a");
  gavel__buf_adds(&b, "],\"default_next\":\"d\"}," TERMINALS "}}");
  for (k = 0; k < (int)b.len; k++)
    if (b.p[k] == '\'')
      b.p[k] = '"';
  memset(&s, 0, sizeof s);
  memset(&lo, 0, sizeof lo);
  lo.diag = diag;
  lo.diag_ud = &s;
  snprintf(id, sizeof id, "wide-decision-%d", n);
  result(gavel_ruleset_load(rt, b.p, b.len, &lo, &rs, &err) == GAVEL_OK &&
             !s.errors[0],
         id, s.errors);
  result(rs && (rs->graphs[0].steps[0].fused != NULL) == fused, id,
         fused ? "not fused" : "fused past GAVEL_MAX_CONSTS");
  snprintf(in, sizeof in, "{\"x\": %d}", n - 1);
  expect_run(rs, id, in, "\"B\"");
  snprintf(in, sizeof in, "{\"x\": %d}", mid);
  expect_run(rs, id, in, "\"C\"");
  expect_run(rs, id, "{\"x\": 3}", "\"A\"");
  expect_run(rs, id, "{\"x\": -1}", "\"D\"");
  gavel_ruleset_free(rs);
  gavel__buf_free(&b);
}

/* Runs 'rs' on 'input': the run must fail with an error containing
** 'contains'. */
static void expect_run_error(gavel_ruleset *rs, const char *id,
                             const char *input, const char *contains) {
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out = "";
  size_t n = 0;
  gavel_status st = GAVEL_OK;
  memset(&err, 0, sizeof err);
  if (rs && gavel_exec_new(rs, &ex, &err) == GAVEL_OK)
    st = gavel_exec_run_json(ex, input, strlen(input), 0, &out, &n, &err);
  result(rs && st != GAVEL_OK && strstr(err.msg, contains) != NULL, id,
         err.msg);
  gavel_exec_free(ex);
}

/* A chain of n sub-rules, r0 calling r1 ... (the last calls r0 when
** 'cycle').  The cycle check recursed once per link (40,000 links
** overflowed an 8 MiB stack) and found each sub-rule by a linear search. */
static void deep_subrules(gavel_runtime *rt, int n, int cycle) {
  gv_buf b;
  seen s;
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  gavel_status st;
  char id[64], buf_ref[128];
  int k;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{\"config\":{\"name\":\"chain\"},\"steps\":{\"start\":"
                      "{\"id\":\"start\",\"type\":\"sub_rule\",\"ref_name\":"
                      "\"r0\",\"next_step\":\"t\"},\"t\":{\"id\":\"t\",\"type\":"
                      "\"terminal\",\"result\":{}}},\"sub_rules\":{");
  for (k = 0; k < n; k++)
    gavel__buf_addf(&b,
                    "%s\"r%d\":{\"entry_step\":\"c\",\"steps\":{\"c\":{\"id\":"
                    "\"c\",\"type\":\"sub_rule\",\"ref_name\":\"r%d\",\"next_"
                    "step\":\"t\"},\"t\":{\"id\":\"t\",\"type\":\"terminal\","
                    "\"result\":{}}}}",
                    k ? "," : "", k, k + 1 < n ? k + 1 : cycle ? 0 : n);
  /* without a cycle the chain ends in a sub-rule that calls nothing */
  if (!cycle)
    gavel__buf_addf(&b, ",\"r%d\":{\"entry_step\":\"t\",\"steps\":{\"t\":"
                        "{\"id\":\"t\",\"type\":\"terminal\",\"result\":{}}}}",
                    n);
  gavel__buf_adds(&b, "}}");
  memset(&s, 0, sizeof s);
  memset(&lo, 0, sizeof lo);
  lo.diag = diag;
  lo.diag_ud = &s;
  snprintf(id, sizeof id, "sub-rule-chain-%d%s", n, cycle ? "-cycle" : "");
  st = gavel_ruleset_load(rt, b.p, b.len, &lo, &rs, &err);
  snprintf(buf_ref, sizeof buf_ref,
           "sub_rules.r%d.steps.c.ref_name: Cycle detected in sub-rule call "
           "graph: r0 -> r1 -> r2 -> ",
           n - 1);
  if (cycle)
    result(st == GAVEL_LOAD && strstr(s.errors, buf_ref) &&
               strstr(s.errors, n > 5 ? " more) -> r39999 -> r0 (SubRule"
                                      : "r0 -> r1 -> r2 -> r3 -> r4 -> r0 "
                                        "(SubRule"),
           id, s.errors);
  else {
    result(st == GAVEL_OK && !s.errors[0], id, s.errors);
    /* it loads; running it stops at the nesting limit, as in Ordo */
    expect_run_error(rs, id, "{}", "SubRule max nesting depth (10) exceeded");
  }
  gavel_ruleset_free(rs);
  gavel__buf_free(&b);
}

static void hardening_tests(int *passed, int *failed) {
  gavel_runtime *rt = poisoned_runtime(0);
  null_condition(rt);
  missing_pieces(rt);
  numeric_ranges(rt);
  diag_every_failure();
  wide_decision(rt, 20000, 1);
  wide_decision(rt, 100000, 0);
  deep_subrules(rt, 40000, 0);
  deep_subrules(rt, 5, 1);
  deep_subrules(rt, 40000, 1);
  gavel_runtime_free(rt);
  *passed += h_passed;
  *failed += h_failed;
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
  hardening_tests(&passed, &failed);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
