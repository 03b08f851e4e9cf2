/*
** test_sched.c -- the scheduler through the public API: the pending/resume
** protocol (resume with a payload, with an error, abandoning), host calls
** inside sub-rules and call_rule_set children, synchronous providers that
** fail, gas, determinism, and an allocation-failure loop over
** load + compile + run (run under ASan by the sanitizer build).
*/
#include "api_int.h"
#include "jit.h"
#include "sched.h"
#include "json.h"
#include "gavel.h"
#include "tinytest.h"
#include <stdlib.h>
#include <time.h>

static gavel_runtime *rt_new(void) {
  gavel_runtime *rt = NULL;
  gavel_error e;
  CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
  return rt;
}

static gavel_ruleset *load(gavel_runtime *rt, const char *json, gavel_error *e) {
  gavel_ruleset *rs = NULL;
  gavel_ruleset_load(rt, json, strlen(json), NULL, &rs, e);
  return rs;
}

#define IN1 "{\"ip\":\"x\",\"n\":1}"

static const char *CALL2 =
    "{\"config\":{\"name\":\"c2\",\"entry_step\":\"a\"},\"steps\":{"
    "\"a\":{\"id\":\"a\",\"name\":\"A\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"external_call\",\"service\":\"geo.lookup\",\"method\":\"find\","
    "\"params\":[[\"ip\",\"ip\"],[\"n\",\"n + 1\"]],\"result_variable\":\"g\","
    "\"timeout_ms\":250},"
    "{\"action\":\"external_call\",\"service\":\"geo.lookup\",\"method\":\"score\","
    "\"params\":[[\"country\",\"$g.payload.country\"]],\"result_variable\":\"s\"}],"
    "\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{\"code\":\"OK\","
    "\"output\":[[\"country\",\"$g.payload.country\"],[\"risk\",\"$s.payload\"],"
    "[\"op\",\"$s.operation\"]]}}}}";

TEST(pending_then_resume_with_payloads) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_host_call hc;
  gavel_error e;
  const char *out;
  size_t n;
  const char *in = "{\"ip\":\"10.0.0.1\",\"n\":41}";
  CHECK(gavel_runtime_provide(rt, "geo.lookup", NULL, NULL, &e) == GAVEL_OK);
  rs = load(rt, CALL2, &e);
  CHECK(rs != NULL);
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, in, strlen(in), 0, &out, &n, &e) == GAVEL_PENDING);
  CHECK(gavel_exec_pending(ex, &hc, &e) == GAVEL_OK);
  CHECK_STR(hc.capability, "geo.lookup");
  CHECK_STR(hc.operation, "find");
  CHECK_STR(hc.params, "{\"ip\":\"10.0.0.1\",\"n\":42}");
  CHECK(hc.timeout_ms == 250);
  CHECK_STR(hc.path, "steps.a.actions[0]");
  CHECK(gavel_exec_resume_json(ex, "{\"country\":\"DE\"}", 16, "{\"src\":\"t\"}", 11,
                               &out, &n, &e) == GAVEL_PENDING);
  CHECK(gavel_exec_pending(ex, &hc, &e) == GAVEL_OK);
  CHECK_STR(hc.operation, "score");
  CHECK_STR(hc.params, "{\"country\":\"DE\"}");
  CHECK(gavel_exec_resume_json(ex, "0.25", 4, NULL, 0, &out, &n, &e) == GAVEL_OK);
  CHECK_STR(out, "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"country\":\"DE\","
                 "\"risk\":0.25,\"op\":\"score\"}}");
  /* The exec is reusable: the same run again gives the same bytes. */
  CHECK(gavel_exec_run_json(ex, in, strlen(in), 0, &out, &n, &e) == GAVEL_PENDING);
  gavel_exec_abandon(ex);
  CHECK(gavel_exec_pending(ex, &hc, &e) == GAVEL_MISUSE);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(resume_with_error_fails_the_run_with_the_providers_message) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  gavel_runtime_provide(rt, "geo.lookup", NULL, NULL, &e);
  rs = load(rt, CALL2, &e);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_PENDING);
  CHECK(gavel_exec_resume_error(ex, "upstream timed out", &out, &n, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "Capability invocation failed for geo.lookup") != NULL);
  CHECK(strstr(e.msg, "upstream timed out") != NULL);
  CHECK(strstr(e.msg, "steps.a.actions[0]") != NULL);
  /* resume after the run ended is misuse, not a crash */
  CHECK(gavel_exec_resume_error(ex, "x", &out, &n, &e) == GAVEL_MISUSE);
  /* a provider answering garbage is a host error too */
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_PENDING);
  CHECK(gavel_exec_resume_json(ex, "{oops", 5, NULL, 0, &out, &n, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "invalid JSON") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(freeing_an_exec_with_a_pending_call_leaks_nothing) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  gavel_runtime_provide(rt, "geo.lookup", NULL, NULL, &e);
  rs = load(rt, CALL2, &e);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_PENDING);
  gavel_exec_free(ex); /* ASan's leak check covers this */
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

static const char *SUB =
    "{\"config\":{\"name\":\"sub\",\"entry_step\":\"s\"},\"steps\":{"
    "\"s\":{\"id\":\"s\",\"name\":\"S\",\"type\":\"sub_rule\",\"ref_name\":\"inner\","
    "\"bindings\":[[\"v\",\"v\"]],\"outputs\":[[\"r\",\"res\"]],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{\"code\":\"OK\","
    "\"output\":{\"r\":\"$r\"}}}},"
    "\"sub_rules\":{\"inner\":{\"entry_step\":\"c\",\"steps\":{"
    "\"c\":{\"id\":\"c\",\"name\":\"C\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"external_call\",\"service\":\"calc\",\"method\":\"double\","
    "\"params\":[[\"v\",\"v\"]],\"result_variable\":\"x\"},"
    "{\"action\":\"set_variable\",\"name\":\"res\",\"value\":\"$x.payload * 2\"}],"
    "\"next_step\":\"d\"},"
    "\"d\":{\"id\":\"d\",\"name\":\"D\",\"type\":\"terminal\",\"result\":{\"code\":\"IGNORED\"}}}}}}";

TEST(a_host_call_inside_a_sub_rule_suspends_and_resumes) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_host_call hc;
  gavel_error e;
  const char *out;
  size_t n;
  gavel_runtime_provide(rt, "calc", NULL, NULL, &e);
  rs = load(rt, SUB, &e);
  CHECK(rs != NULL);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{\"v\":21}", 8, 0, &out, &n, &e) == GAVEL_PENDING);
  CHECK(gavel_exec_pending(ex, &hc, &e) == GAVEL_OK);
  CHECK_STR(hc.params, "{\"v\":21}");
  CHECK_STR(hc.path, "sub_rules.inner.steps.c.actions[0]");
  CHECK(gavel_exec_resume_json(ex, "42", 2, NULL, 0, &out, &n, &e) == GAVEL_OK);
  CHECK_STR(out, "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"r\":84}}");
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

static const char *CHILD =
    "{\"config\":{\"name\":\"child\",\"entry_step\":\"c\"},\"steps\":{"
    "\"c\":{\"id\":\"c\",\"name\":\"C\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"external_call\",\"service\":\"calc\",\"method\":\"m\","
    "\"params\":[[\"q\",\"q\"]],\"result_variable\":\"x\"}],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{\"code\":\"CHILD\","
    "\"output\":[[\"got\",\"$x.payload\"]]}}}}";
static const char *PARENT =
    "{\"config\":{\"name\":\"parent\",\"entry_step\":\"p\"},\"steps\":{"
    "\"p\":{\"id\":\"p\",\"name\":\"P\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"call_rule_set\",\"ruleset_name\":\"child\","
    "\"input_mapping\":\"{'q': q * 10}\",\"result_variable\":\"r\"}],"
    "\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{\"code\":\"P\","
    "\"output\":[[\"child\",\"$r\"]]}}}}";

static gavel_ruleset *the_child;
static gavel_ruleset *resolve(void *ud, const char *name) {
  (void)ud;
  return strcmp(name, "child") == 0 ? the_child : NULL;
}

TEST(a_host_call_inside_a_called_ruleset_suspends_and_resumes) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_host_call hc;
  gavel_error e;
  const char *out;
  size_t n;
  gavel_runtime_provide(rt, "calc", NULL, NULL, &e);
  gavel_runtime_set_resolver(rt, resolve, NULL);
  the_child = load(rt, CHILD, &e);
  rs = load(rt, PARENT, &e);
  CHECK(the_child && rs);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{\"q\":4}", 7, 0, &out, &n, &e) == GAVEL_PENDING);
  gavel_exec_pending(ex, &hc, &e);
  CHECK_STR(hc.params, "{\"q\":40}");
  CHECK_STR(hc.ruleset, "child");
  CHECK(gavel_exec_resume_json(ex, "\"ok\"", 4, NULL, 0, &out, &n, &e) == GAVEL_OK);
  CHECK_STR(out, "{\"code\":\"P\",\"message\":\"\",\"output\":{\"child\":{\"code\":"
                 "\"CHILD\",\"message\":\"\",\"output\":{\"got\":\"ok\"}}}}");
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_ruleset_free(the_child);
  gavel_runtime_free(rt);
}

/* A synchronous C provider (JSON ABI). */
static void prov(void *ud, const gavel_host_call *c, gavel_reply *r) {
  int mode = *(int *)ud;
  if (mode == 0 && strcmp(c->operation, "find") == 0)
    gavel_reply_payload(r, "{\"country\":\"FR\"}", 16, "{\"k\":\"v\"}", 9);
  else if (mode == 0)
    gavel_reply_payload(r, c->params, c->params_len, NULL, 0);
  else if (mode == 1)
    gavel_reply_error(r, "boom");
  else if (mode == 2)
    gavel_reply_payload(r, "[1,", 3, NULL, 0);
  /* mode 3: no reply at all */
}

TEST(synchronous_providers_answer_inline_and_their_failures_are_host_errors) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  int mode = 0;
  gavel_runtime_provide(rt, "geo.lookup", prov, &mode, &e);
  rs = load(rt, CALL2, &e);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_OK);
  CHECK_STR(out, "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"country\":\"FR\","
                 "\"risk\":{\"country\":\"FR\"},\"op\":\"score\"}}");
  mode = 1;
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "boom") != NULL);
  mode = 2;
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "invalid JSON") != NULL);
  mode = 3;
  CHECK(gavel_exec_run_json(ex, IN1, strlen(IN1), 0, &out, &n, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "no reply") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(an_undeclared_or_ungranted_capability_fails_at_load) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs = NULL;
  gavel_error e;
  const char *grants[] = {"other"};
  gavel_load_opts lo;
  CHECK(gavel_ruleset_load(rt, CALL2, strlen(CALL2), NULL, &rs, &e) ==
        GAVEL_CAPDENIED);
  CHECK(strstr(e.msg, "steps.a.actions[0].service") != NULL);
  gavel_runtime_provide(rt, "geo.lookup", NULL, NULL, &e);
  memset(&lo, 0, sizeof lo);
  lo.grants = grants;
  lo.n_grants = 1;
  CHECK(gavel_ruleset_load(rt, CALL2, strlen(CALL2), &lo, &rs, &e) ==
        GAVEL_CAPDENIED);
  CHECK(strstr(e.msg, "not granted") != NULL);
  CHECK(rs == NULL);
  gavel_runtime_free(rt);
}

static const char *LOOP =
    "{\"config\":{\"name\":\"loop\",\"entry_step\":\"a\",\"max_depth\":100000000,"
    "\"gas_limit\":20000},\"steps\":{"
    "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":[{\"action\":\"set_variable\","
    "\"name\":\"i\",\"value\":\"coalesce($i, 0) + 1\"}],\"next_step\":\"b\"},"
    "\"b\":{\"id\":\"b\",\"type\":\"decision\",\"branches\":[{\"condition\":"
    "\"$i > 1000000000\",\"next_step\":\"t\"}],\"default_next\":\"a\"},"
    "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":\"T\"}}}}";

TEST(a_step_cycle_always_terminates_by_gas_with_a_clear_error) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  rs = load(rt, LOOP, &e);
  CHECK(rs != NULL);
  if (!rs) {
    fprintf(stderr, "  %s\n", e.msg);
    gavel_runtime_free(rt);
    return;
  }
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) == GAVEL_GAS);
  CHECK(strstr(e.msg, "Gas exhausted") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(the_same_ruleset_and_input_give_byte_identical_results) {
  gavel_runtime *rt = rt_new();
  gavel_ruleset *rs;
  gavel_exec *ex = NULL, *ex2 = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  char first[512];
  const char *r =
      "{\"config\":{\"name\":\"d\"},\"steps\":{\"start\":{\"id\":\"start\","
      "\"type\":\"terminal\",\"result\":{\"code\":\"X\",\"output\":{\"a\":"
      "\"x * 0.1 + 0.2\",\"b\":\"{'z': 1, 'a': [x / 4.0, 1 / 3.0]}\","
      "\"c\":\"sort(keys(o))\"},\"data\":{\"k\":1}}}}}";
  const char *in = "{\"x\": 3, \"o\": {\"b\": 1, \"a\": 2}}";
  rs = load(rt, r, &e);
  CHECK(rs != NULL);
  if (!rs) {
    fprintf(stderr, "  %s\n", e.msg);
    gavel_runtime_free(rt);
    return;
  }
  gavel_exec_new(rs, &ex, &e);
  gavel_exec_new(rs, &ex2, &e);
  CHECK(gavel_exec_run_json(ex, in, strlen(in), 0, &out, &n, &e) == GAVEL_OK);
  snprintf(first, sizeof first, "%s", out);
  CHECK(gavel_exec_run_json(ex2, in, strlen(in), 0, &out, &n, &e) == GAVEL_OK);
  CHECK_STR(out, first);
  CHECK_STR(first, "{\"code\":\"X\",\"message\":\"\",\"output\":{\"a\":"
                   "0.5,\"b\":{\"z\":1,\"a\":[0.75,"
                   "0.3333333333333333]},\"c\":[\"a\",\"b\"],\"k\":1}}");
  gavel_exec_free(ex);
  gavel_exec_free(ex2);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

/* ==== The straight path (decisions and terminals only) ==== */

/* A decision whose terminals are: prebuilt (no outputs, with data), reading
** the input (outputs, one of which can fail), and a short prebuilt one. */
static const char *STRAIGHT =
    "{\"config\":{\"name\":\"st\",\"entry_step\":\"s\"},\"steps\":{"
    "\"s\":{\"id\":\"s\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":\"score >= 90\",\"next_step\":\"high\"},"
    "{\"condition\":\"score >= 50\",\"next_step\":\"echo\"}],"
    "\"default_next\":\"f\"},"
    "\"high\":{\"id\":\"high\",\"type\":\"terminal\",\"result\":{\"code\":"
    "\"HIGH\",\"message\":\"high tier\",\"data\":{\"tier\":1,\"tags\":"
    "[\"a\",\"b\"]}}},"
    "\"echo\":{\"id\":\"echo\",\"type\":\"terminal\",\"result\":{\"code\":"
    "\"ECHO\",\"output\":{\"s\":\"score * 2\",\"d\":\"10 / (score - 60)\"}}},"
    "\"f\":{\"id\":\"f\",\"type\":\"terminal\",\"result\":{\"code\":\"F\"}}}}";

/* An exec that never takes the straight path (chosen at gavel_exec_new). */
static gavel_exec *exec_general(gavel_ruleset *rs) {
  gavel_exec *ex = NULL;
  gavel_error e;
  setenv("GAVEL_NO_STRAIGHT", "1", 1);
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  unsetenv("GAVEL_NO_STRAIGHT");
  return ex;
}

/* Runs 'in' on both execs: the same status, and the same bytes or the same
** error message.  Returns the status. */
static gavel_status run_both(gavel_exec *ex, gavel_exec *gen, const char *in,
                             char *got, size_t cap) {
  const char *o1 = NULL, *o2 = NULL;
  size_t n1 = 0, n2 = 0;
  gavel_error e1, e2;
  gavel_status s1 = gavel_exec_run_json(ex, in, strlen(in), 0, &o1, &n1, &e1);
  gavel_status s2 = gavel_exec_run_json(gen, in, strlen(in), 0, &o2, &n2, &e2);
  CHECK(s1 == s2);
  if (s1 == GAVEL_OK && s2 == GAVEL_OK) {
    CHECK(n1 == n2 && memcmp(o1, o2, n1) == 0);
    snprintf(got, cap, "%.*s", (int)n1, o1);
  } else {
    CHECK_STR(e1.msg, e2.msg);
    snprintf(got, cap, "%s", e1.msg);
  }
  return s1;
}

TEST(straight_runs_give_the_general_paths_bytes_and_prebuilt_results_stay_intact) {
  gavel_runtime *rt = rt_new();
  gavel_error e;
  gavel_ruleset *rs = load(rt, STRAIGHT, &e);
  gavel_exec *ex = NULL, *gen;
  char got[512];
  static const char *const high =
      "{\"code\":\"HIGH\",\"message\":\"high tier\",\"output\":{\"tier\":1,"
      "\"tags\":[\"a\",\"b\"]}}";
  int round;
  CHECK(rs != NULL);
  if (!rs) {
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  gen = exec_general(rs);
  for (round = 0; round < 3; round++) {
    /* the prebuilt result, written again each round: still intact */
    CHECK(run_both(ex, gen, "{\"score\":95}", got, sizeof got) == GAVEL_OK);
    CHECK_STR(got, high);
    CHECK(run_both(ex, gen, "{\"score\":70}", got, sizeof got) == GAVEL_OK);
    CHECK_STR(got, "{\"code\":\"ECHO\",\"message\":\"\",\"output\":{\"s\":140,"
                   "\"d\":1}}");
    /* a terminal reading the input that fails: the same error */
    CHECK(run_both(ex, gen, "{\"score\":60}", got, sizeof got) != GAVEL_OK);
    CHECK(strstr(got, "result.output[1]") != NULL);
    CHECK(run_both(ex, gen, "{\"score\":1}", got, sizeof got) == GAVEL_OK);
    CHECK_STR(got, "{\"code\":\"F\",\"message\":\"\",\"output\":{}}");
    /* a missing field: the general path's answer */
    run_both(ex, gen, "{\"other\":1}", got, sizeof got);
  }
  gavel_exec_free(ex);
  gavel_exec_free(gen);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(the_result_size_cap_holds_for_prebuilt_results_on_every_run) {
  gavel_runtime *rt = NULL;
  gavel_config cfg;
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL, *gen;
  char got[512];
  int round;
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.max_result_bytes = 40; /* "F" fits (37 bytes), "HIGH" does not */
  CHECK(gavel_runtime_new(&cfg, &rt, &e) == GAVEL_OK);
  rs = load(rt, STRAIGHT, &e);
  CHECK(rs != NULL);
  if (!rs) {
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  gen = exec_general(rs);
  for (round = 0; round < 3; round++) {
    CHECK(run_both(ex, gen, "{\"score\":95}", got, sizeof got) == GAVEL_LIMIT);
    CHECK(strstr(got, "max_result_bytes") != NULL);
    CHECK(run_both(ex, gen, "{\"score\":3}", got, sizeof got) == GAVEL_OK);
    CHECK_STR(got, "{\"code\":\"F\",\"message\":\"\",\"output\":{}}");
  }
  gavel_exec_free(ex);
  gavel_exec_free(gen);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(straight_runs_over_many_input_slots_match_the_general_path) {
  gavel_runtime *rt = rt_new();
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL, *gen;
  char doc[2048], in[512], got[512], cond[512];
  size_t n = 0, m = 0;
  int i, k;
  /* 24 input slots: more than the straight path keeps on the C stack */
  for (i = 0; i < 24; i++)
    n += (size_t)snprintf(cond + n, sizeof cond - n, "%sa%d", i ? " + " : "",
                          i);
  snprintf(doc, sizeof doc,
           "{\"config\":{\"name\":\"many\",\"entry_step\":\"s\"},\"steps\":{"
           "\"s\":{\"id\":\"s\",\"type\":\"decision\",\"branches\":["
           "{\"condition\":\"%s > 30\",\"next_step\":\"big\"}],"
           "\"default_next\":\"small\"},"
           "\"big\":{\"id\":\"big\",\"type\":\"terminal\",\"result\":{\"code\":"
           "\"BIG\",\"output\":{\"last\":\"a23\"}}},"
           "\"small\":{\"id\":\"small\",\"type\":\"terminal\",\"result\":{"
           "\"code\":\"SMALL\"}}}}",
           cond);
  rs = load(rt, doc, &e);
  CHECK(rs != NULL);
  if (!rs) {
    fprintf(stderr, "  %s\n", e.msg);
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  gen = exec_general(rs);
  for (k = 0; k < 3; k++) {
    m = (size_t)snprintf(in, sizeof in, "{");
    for (i = 0; i < 24; i++)
      m += (size_t)snprintf(in + m, sizeof in - m, "%s\"a%d\":%d", i ? "," : "",
                            i, k * i);
    snprintf(in + m, sizeof in - m, "}");
    CHECK(run_both(ex, gen, in, got, sizeof got) == GAVEL_OK);
    CHECK(strstr(got, k ? "\"BIG\"" : "\"SMALL\"") != NULL);
  }
  /* a slot missing from the input: the general path's answer */
  run_both(ex, gen, "{\"a0\":1}", got, sizeof got);
  gavel_exec_free(ex);
  gavel_exec_free(gen);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

/* ==== Decision chains (the straight path compiled whole, jit.c) ==== */

/* Two levels of decisions (a lone branch, an "always" branch, a decision
** without default), prebuilt terminals and one reading the input. */
static const char *CHAIN =
    "{\"config\":{\"name\":\"ch\",\"entry_step\":\"s\"},\"steps\":{"
    "\"s\":{\"id\":\"s\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":\"a.b >= 90 && t == \\\"x\\\"\",\"next_step\":\"lone\"},"
    "{\"condition\":\"a.b >= 50.5\",\"next_step\":\"nodef\"},"
    "{\"condition\":\"a.c < 0\",\"next_step\":\"always\"}],"
    "\"default_next\":\"f\"},"
    "\"lone\":{\"id\":\"lone\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":\"a.c\",\"next_step\":\"high\"}],"
    "\"default_next\":\"echo\"},"
    "\"nodef\":{\"id\":\"nodef\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":\"a.c * 2 > 10\",\"next_step\":\"high\"},"
    "{\"condition\":\"a.c / 4.0 <= 1\",\"next_step\":\"f\"}]},"
    "\"always\":{\"id\":\"always\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":null,\"next_step\":\"high\"}]},"
    "\"high\":{\"id\":\"high\",\"type\":\"terminal\",\"result\":{\"code\":"
    "\"HIGH\",\"message\":\"high tier\",\"data\":{\"tier\":1}}},"
    "\"echo\":{\"id\":\"echo\",\"type\":\"terminal\",\"result\":{\"code\":"
    "\"ECHO\",\"output\":{\"s\":\"a.b * 2\"}}},"
    "\"f\":{\"id\":\"f\",\"type\":\"terminal\",\"result\":{\"code\":\"F\"}}}}";

TEST(chain_runs_give_the_general_paths_bytes) {
  gavel_runtime *rt = NULL;
  gavel_config cfg;
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL, *gen, *nochain = NULL;
  char got[512], got2[512];
  static const char *const ins[] = {
      "{\"a\":{\"b\":95,\"c\":1},\"t\":\"x\"}",     /* lone: truthy */
      "{\"a\":{\"b\":95,\"c\":0},\"t\":\"x\"}",     /* lone: falsy -> echo */
      "{\"a\":{\"b\":95,\"c\":2.5},\"t\":\"x\"}",   /* float truthiness */
      "{\"a\":{\"b\":95},\"t\":\"x\"}",             /* lone: missing */
      "{\"a\":{\"b\":60,\"c\":6}}",                 /* nodef: branch 0 */
      "{\"a\":{\"b\":60,\"c\":3}}",                 /* nodef: branch 1 */
      "{\"a\":{\"b\":60,\"c\":30.5}}",              /* nodef: branch 0 */
      "{\"a\":{\"b\":60,\"c\":\"s\"}}",             /* a type error */
      "{\"a\":{\"b\":50.5,\"c\":4.5}}",             /* no branch, no default */
      "{\"a\":{\"c\":-1,\"b\":10}}",                /* always */
      "{\"a\":{\"b\":10}}",                         /* default */
      "{\"a\":[1],\"t\":\"x\"}",                    /* an array on the path */
      "{\"a\":{\"b\":95,\"b\":1,\"c\":1},\"t\":\"x\"}", /* duplicate key */
      "[]", "null", "{}", "{\"a\":{\"b\":9.2e18,\"c\":9223372036854775807}}"};
  unsigned i;
  int round;
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.jit = 1; /* on: the chain is compiled with the exec */
  CHECK(gavel_runtime_new(&cfg, &rt, &e) == GAVEL_OK);
  rs = load(rt, CHAIN, &e);
  CHECK(rs != NULL);
  if (!rs) {
    fprintf(stderr, "  %s\n", e.msg);
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  if (gavel__jit_mode(GV_JIT_ON) == GV_JIT_ON) /* a build with the JIT */
    CHECK(gavel__exec_jit_parts(ex) == 3);
  gen = exec_general(rs);
  setenv("GAVEL_NO_CHAIN", "1", 1);
  CHECK(gavel_exec_new(rs, &nochain, &e) == GAVEL_OK);
  unsetenv("GAVEL_NO_CHAIN");
  CHECK((gavel__exec_jit_parts(nochain) & 1) == 0);
  for (round = 0; round < 3; round++)
    for (i = 0; i < sizeof ins / sizeof *ins; i++) {
      gavel_status s1 = run_both(ex, gen, ins[i], got, sizeof got);
      gavel_status s2 = run_both(nochain, gen, ins[i], got2, sizeof got2);
      CHECK(s1 == s2);
      CHECK_STR(got, got2);
      CHECK(gavel__exec_gas_used(ex) == gavel__exec_gas_used(gen));
    }
  gavel_exec_free(ex);
  gavel_exec_free(gen);
  gavel_exec_free(nochain);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

/* Step cap and gas budget reached on a compiled path: the straight path's
** errors, the same as the general path's. */
TEST(chain_runs_over_the_step_cap_or_the_gas_report_as_the_general_path) {
  static const char *const cfgs[] = {"\"max_depth\":1", "\"gas_limit\":25",
                                     "\"gas_limit\":1000000"};
  unsigned c;
  for (c = 0; c < 3; c++) {
    gavel_runtime *rt = NULL;
    gavel_config cfg;
    gavel_error e;
    gavel_ruleset *rs;
    gavel_exec *ex = NULL, *gen;
    char doc[2048], got[512];
    const char *cut = strstr(CHAIN, "\"entry_step\"");
    int round;
    memset(&cfg, 0, sizeof cfg);
    cfg.abi = GAVEL_VERSION_NUM;
    cfg.jit = 1;
    CHECK(gavel_runtime_new(&cfg, &rt, &e) == GAVEL_OK);
    snprintf(doc, sizeof doc, "%.*s%s,%s", (int)(cut - CHAIN), CHAIN,
             cfgs[c], cut);
    rs = load(rt, doc, &e);
    CHECK(rs != NULL);
    if (rs) {
      CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
      gen = exec_general(rs);
      for (round = 0; round < 2; round++) {
        gavel_status st =
            run_both(ex, gen, "{\"a\":{\"b\":95,\"c\":1},\"t\":\"x\"}", got,
                     sizeof got);
        if (c < 2)
          CHECK(st != GAVEL_OK);
        else
          CHECK(st == GAVEL_OK);
        CHECK(gavel__exec_gas_used(ex) == gavel__exec_gas_used(gen));
      }
      gavel_exec_free(ex);
      gavel_exec_free(gen);
      gavel_ruleset_free(rs);
    }
    gavel_runtime_free(rt);
  }
}


/* ==== Allocation-failure loop ==== */

static long fail_at, n_allocs;
static void *failing_realloc(void *ud, void *p, size_t old, size_t n) {
  (void)ud;
  (void)old;
  if (n == 0) {
    free(p);
    return NULL;
  }
  if (++n_allocs == fail_at)
    return NULL;
  return realloc(p, n);
}

TEST(every_allocation_failure_is_reported_as_nomem_without_leaks) {
  long k;
  int saw_nomem = 0, saw_ok = 0;
  for (k = 1; k < 400; k++) {
    gavel_config cfg;
    gavel_runtime *rt = NULL;
    gavel_ruleset *rs = NULL;
    gavel_exec *ex = NULL;
    gavel_error e;
    const char *out;
    size_t n;
    gavel_status st;
    memset(&cfg, 0, sizeof cfg);
    cfg.abi = GAVEL_VERSION_NUM;
    cfg.realloc = failing_realloc;
    fail_at = k;
    n_allocs = 0;
    st = gavel_runtime_new(&cfg, &rt, &e);
    if (st == GAVEL_OK)
      st = gavel_ruleset_load(rt, SUB, strlen(SUB), NULL, &rs, &e);
    if (st == GAVEL_CAPDENIED)
      st = GAVEL_OK; /* 'calc' is not provided here: load fails cleanly */
    if (rs && (st = gavel_exec_new(rs, &ex, &e)) == GAVEL_OK)
      st = gavel_exec_run_json(ex, "{\"v\":1}", 7, 0, &out, &n, &e);
    CHECK(st == GAVEL_OK || st == GAVEL_NOMEM || st == GAVEL_CAPDENIED ||
          st == GAVEL_LOAD || st == GAVEL_PENDING || st == GAVEL_HOST);
    if (st == GAVEL_NOMEM)
      saw_nomem = 1;
    if (n_allocs < fail_at)
      saw_ok = 1;
    gavel_exec_free(ex);
    gavel_ruleset_free(rs);
    gavel_runtime_free(rt);
    if (saw_ok)
      break;
  }
  CHECK(saw_nomem);
  CHECK(saw_ok);
}


/* ==== Policies ==== */

static int calls, fail_calls;
static void flaky(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)c;
  calls++;
  if (calls <= fail_calls)
    gavel_reply_error(r, "flaky");
  else
    gavel_reply_payload(r, "1", 1, NULL, 0);
}

static const char *GETCALL =
    "{\"config\":{\"name\":\"g\",\"entry_step\":\"a\"},\"steps\":{"
    "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"external_call\",\"service\":\"svc\",\"method\":\"%s\","
    "\"params\":[],\"result_variable\":\"r\"}],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":\"OK\"}}}}";

static gavel_status run_method(gavel_runtime *rt, const char *method,
                               gavel_error *e) {
  char doc[1024];
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  const char *out;
  size_t n;
  gavel_status st;
  snprintf(doc, sizeof doc, GETCALL, method);
  rs = load(rt, doc, e);
  if (!rs)
    return e->code;
  gavel_exec_new(rs, &ex, e);
  st = gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, e);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  return st;
}

TEST(retries_happen_only_for_idempotent_operations_and_as_configured) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  memset(&pol, 0, sizeof pol);
  pol.retries = 2;
  pol.backoff_ms = 1;
  gavel_runtime_provide(rt, "svc", flaky, NULL, &e);
  CHECK(gavel_runtime_set_policy(rt, "svc", &pol, &e) == GAVEL_OK);
  calls = 0;
  fail_calls = 2; /* two failures, then success: GET is retried twice */
  CHECK(run_method(rt, "GET", &e) == GAVEL_OK);
  CHECK(calls == 3);
  calls = 0;
  fail_calls = 5; /* never succeeds within 1 + 2 attempts */
  CHECK(run_method(rt, "get", &e) == GAVEL_HOST);
  CHECK(calls == 3);
  CHECK(strstr(e.msg, "flaky") != NULL);
  calls = 0;
  fail_calls = 1; /* POST is not idempotent: one attempt only */
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST);
  CHECK(calls == 1);
  gavel_runtime_free(rt);
}

TEST(the_circuit_opens_after_the_threshold_and_half_opens_after_the_reset) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  memset(&pol, 0, sizeof pol);
  pol.breaker_threshold = 2;
  pol.breaker_reset_ms = 50;
  gavel_runtime_provide(rt, "svc", flaky, NULL, &e);
  gavel_runtime_set_policy(rt, "svc", &pol, &e);
  calls = 0;
  fail_calls = 3;
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST); /* failure 1 */
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST); /* failure 2: opens */
  CHECK(calls == 2);
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST); /* refused, not called */
  CHECK(calls == 2);
  CHECK(strstr(e.msg, "Capability circuit open: svc") != NULL);
  CHECK(strstr(e.msg, "retry_after_ms=") != NULL);
  {
    struct timespec ts = {0, 60 * 1000000L};
    nanosleep(&ts, NULL);
  }
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST); /* half-open trial fails */
  CHECK(calls == 3);
  CHECK(run_method(rt, "POST", &e) == GAVEL_HOST); /* open again at once */
  CHECK(calls == 3);
  {
    struct timespec ts = {0, 60 * 1000000L};
    nanosleep(&ts, NULL);
  }
  CHECK(run_method(rt, "POST", &e) == GAVEL_OK); /* trial succeeds: closed */
  CHECK(run_method(rt, "POST", &e) == GAVEL_OK);
  CHECK(calls == 5);
  gavel_runtime_free(rt);
}

TEST(pending_calls_are_retried_through_the_host_with_a_delay) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_host_call hc;
  const char *out;
  size_t n;
  char doc[1024];
  memset(&pol, 0, sizeof pol);
  pol.retries = 1;
  pol.backoff_ms = 40;
  pol.max_timeout_ms = 100;
  gavel_runtime_provide(rt, "svc", NULL, NULL, &e);
  gavel_runtime_set_policy(rt, "svc", &pol, &e);
  snprintf(doc, sizeof doc, GETCALL, "GET");
  rs = load(rt, doc, &e);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) == GAVEL_PENDING);
  gavel_exec_pending(ex, &hc, &e);
  CHECK(hc.attempt == 1 && hc.delay_ms == 0);
  CHECK(hc.timeout_ms == 100); /* the policy's cap is the default */
  CHECK(gavel_exec_resume_error(ex, "reset", &out, &n, &e) == GAVEL_PENDING);
  gavel_exec_pending(ex, &hc, &e);
  CHECK(hc.attempt == 2);
  CHECK(hc.delay_ms >= 20 && hc.delay_ms <= 40);
  CHECK(gavel_exec_resume_error(ex, "reset again", &out, &n, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "reset again") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

static int max_in_flight_seen;
static void busy(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)c;
  gavel_reply_payload(r, "1", 1, NULL, 0);
}

TEST(the_concurrency_limit_refuses_calls_beyond_it) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *a = NULL, *b = NULL;
  const char *out;
  size_t n;
  char doc[1024];
  memset(&pol, 0, sizeof pol);
  pol.max_concurrency = 1;
  gavel_runtime_provide(rt, "svc", NULL, NULL, &e);
  gavel_runtime_set_policy(rt, "svc", &pol, &e);
  snprintf(doc, sizeof doc, GETCALL, "GET");
  rs = load(rt, doc, &e);
  gavel_exec_new(rs, &a, &e);
  gavel_exec_new(rs, &b, &e);
  CHECK(gavel_exec_run_json(a, "{}", 2, 0, &out, &n, &e) == GAVEL_PENDING);
  CHECK(gavel_exec_run_json(b, "{}", 2, 0, &out, &n, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "max_concurrency 1") != NULL);
  gavel_exec_abandon(a); /* releases the slot */
  CHECK(gavel_exec_run_json(b, "{}", 2, 0, &out, &n, &e) == GAVEL_PENDING);
  CHECK(gavel_exec_resume_json(b, "1", 1, NULL, 0, &out, &n, &e) == GAVEL_OK);
  (void)busy;
  (void)max_in_flight_seen;
  gavel_exec_free(a);
  gavel_exec_free(b);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

typedef struct seen {
  int runs, calls;
  char last_code[32];
  char outcomes[256];
} seen;

static void observer(void *ud, const gavel_event *ev) {
  seen *s = ud;
  if (ev->kind == GAVEL_EVENT_RUN) {
    s->runs++;
    snprintf(s->last_code, sizeof s->last_code, "%s", ev->code);
  } else {
    s->calls++;
    strncat(s->outcomes, ev->outcome, sizeof s->outcomes - strlen(s->outcomes) - 2);
    strcat(s->outcomes, ",");
  }
}

TEST(observers_see_every_run_and_every_call_attempt) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  seen s;
  memset(&s, 0, sizeof s);
  memset(&pol, 0, sizeof pol);
  pol.retries = 1;
  gavel_runtime_provide(rt, "svc", flaky, NULL, &e);
  gavel_runtime_set_policy(rt, "svc", &pol, &e);
  CHECK(gavel_runtime_add_observer(rt, observer, &s, &e) == GAVEL_OK);
  calls = 0;
  fail_calls = 1;
  CHECK(run_method(rt, "GET", &e) == GAVEL_OK);
  CHECK(s.runs == 1);
  CHECK_STR(s.last_code, "OK");
  CHECK(s.calls == 2);
  CHECK_STR(s.outcomes, "retry,ok,");
  gavel_runtime_free(rt);
}


/* gavel_event.result: the RUN event carries the result JSON (no trace),
** the same text the JSON API answers; NULL for a failed run. */
typedef struct results_seen {
  int runs, with_result;
  char text[512];
} results_seen;

static void result_observer(void *ud, const gavel_event *ev) {
  results_seen *s = ud;
  if (ev->kind != GAVEL_EVENT_RUN)
    return;
  s->runs++;
  s->text[0] = 0;
  if (ev->result) {
    s->with_result++;
    CHECK(ev->status == GAVEL_OK);
    snprintf(s->text, sizeof s->text, "%.*s", (int)ev->result_len,
             ev->result);
  }
}

TEST(the_run_event_carries_the_result_json) {
  static const char *rules =
      "{\"config\":{\"name\":\"r\",\"entry_step\":\"s\"},\"steps\":{\"s\":{\"id\":\"s\",\"name\":"
      "\"S\",\"type\":\"decision\",\"branches\":[{\"condition\":\"x > 1\","
      "\"next_step\":\"hi\"}],\"default_next\":\"lo\"},\"hi\":{\"id\":\"hi\","
      "\"name\":\"H\",\"type\":\"terminal\",\"result\":{\"code\":\"HI\","
      "\"message\":\"big\",\"output\":[[\"x\",\"x\"]]}},\"lo\":{\"id\":\"lo\","
      "\"name\":\"L\",\"type\":\"terminal\",\"result\":{\"code\":\"LO\"}}}}";
  gavel_runtime *rt = rt_new();
  gavel_error e;
  gavel_ruleset *rs = load(rt, rules, &e);
  gavel_exec *ex = NULL;
  const char *out;
  size_t n;
  results_seen s;
  memset(&s, 0, sizeof s);
  CHECK(rs != NULL);
  if (!rs) {
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_runtime_add_observer(rt, result_observer, &s, &e) == GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, "{\"x\":5}", 7, 0, &out, &n, &e) == GAVEL_OK);
  CHECK(s.runs == 1 && s.with_result == 1);
  CHECK_STR(s.text, "{\"code\":\"HI\",\"message\":\"big\",\"output\":{\"x\":5}}");
  CHECK(n == strlen(s.text) && !memcmp(out, s.text, n));
  /* a trace run: the event has the result without the trace, the answer
  ** has the trace */
  CHECK(gavel_exec_run_json(ex, "{\"x\":0}", 7, GAVEL_RUN_TRACE, &out, &n,
                            &e) == GAVEL_OK);
  CHECK(s.runs == 2 && s.with_result == 2);
  CHECK(strstr(s.text, "\"trace\"") == NULL);
  CHECK(!strncmp(s.text, "{\"code\":\"LO\"", 12));
  CHECK(n > strlen(s.text) && strstr(out, "\"trace\":{") != NULL);
  /* a failed run: no result */
  CHECK(gavel_exec_run_json(ex, "{\"x\":\"a\"}", 9, 0, &out, &n, &e) !=
        GAVEL_OK);
  CHECK(s.runs == 3 && s.with_result == 2 && s.text[0] == 0);
  /* and the next successful run answers its own result */
  CHECK(gavel_exec_run_json(ex, "{\"x\":7}", 7, 0, &out, &n, &e) == GAVEL_OK);
  CHECK(n == strlen(s.text) && !memcmp(out, s.text, n));
  CHECK(strstr(out, "\"x\":7") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

/* Observers on the compiled paths: the chain (jit on) and the straight
** path send the general path's run events, byte for byte (status, code,
** message, gas, result text, input), one per run, each with its own
** trace id; the JSON answer is the event's result text. */
typedef struct events_seen {
  char log[8192];
  uint64_t last_id;
  int runs, ids_ok;
} events_seen;

static void event_logger(void *ud, const gavel_event *ev) {
  events_seen *s = ud;
  size_t n = strlen(s->log);
  if (ev->kind != GAVEL_EVENT_RUN)
    return;
  s->runs++;
  if (ev->trace_id == 0 || ev->trace_id == s->last_id ||
      ev->duration_ns > 10000000000ull)
    s->ids_ok = 0;
  s->last_id = ev->trace_id;
  snprintf(s->log + n, sizeof s->log - n, "%d|%s|%s|%s|%llu|%.*s|%.*s\n",
           (int)ev->status, ev->ruleset, ev->code, ev->message,
           (unsigned long long)ev->gas_used, (int)ev->input_len,
           ev->input ? ev->input : "", (int)ev->result_len,
           ev->result ? ev->result : "(none)");
}

TEST(observers_see_the_same_run_events_on_the_chain_straight_and_general_paths) {
  static const char *const ins[] = {
      "{\"a\":{\"b\":95,\"c\":1},\"t\":\"x\"}", "{\"a\":{\"b\":95,\"c\":0},\"t\":\"x\"}",
      "{\"a\":{\"b\":60,\"c\":6}}", "{\"a\":{\"b\":60,\"c\":3}}",
      "{\"a\":{\"b\":60,\"c\":\"s\"}}", "{\"a\":{\"b\":50.5,\"c\":4.5}}",
      "{\"a\":{\"c\":-1,\"b\":10}}", "{\"a\":{\"b\":10}}", "[]", "{}"};
  const char *envs[3] = {NULL, "GAVEL_NO_CHAIN", "GAVEL_NO_STRAIGHT"};
  events_seen *seen = calloc(3, sizeof *seen);
  gavel_runtime *rt[3] = {NULL, NULL, NULL};
  int k, round;
  unsigned i;
  CHECK(seen != NULL);
  for (k = 0; seen && k < 3; k++) {
    gavel_config cfg;
    gavel_error e;
    gavel_ruleset *rs;
    gavel_exec *ex = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.abi = GAVEL_VERSION_NUM;
    cfg.jit = 1;
    CHECK(gavel_runtime_new(&cfg, &rt[k], &e) == GAVEL_OK);
    seen[k].ids_ok = 1;
    CHECK(gavel_runtime_add_observer(rt[k], event_logger, &seen[k], &e) ==
          GAVEL_OK);
    rs = load(rt[k], CHAIN, &e);
    CHECK(rs != NULL);
    if (!rs)
      continue;
    if (envs[k])
      setenv(envs[k], "1", 1);
    CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
    if (envs[k])
      unsetenv(envs[k]);
    if (k == 0 && gavel__jit_mode(GV_JIT_ON) == GV_JIT_ON)
      CHECK(gavel__exec_jit_parts(ex) == 3); /* the chain is there */
    for (round = 0; round < 3; round++)
      for (i = 0; i < sizeof ins / sizeof *ins; i++) {
        const char *out = NULL;
        size_t n = 0;
        int before = seen[k].runs;
        size_t at = strlen(seen[k].log);
        if (gavel_exec_run_json(ex, ins[i], strlen(ins[i]), 0, &out, &n, &e) ==
            GAVEL_OK) {
          /* the answer is the event's result text */
          const char *bar = strrchr(seen[k].log, '|');
          CHECK(bar != NULL && (size_t)(bar - seen[k].log) > at);
          if (bar)
            CHECK(strlen(bar + 1) == n + 1 && !memcmp(bar + 1, out, n));
        }
        CHECK(seen[k].runs == before + 1);
      }
    gavel_exec_free(ex);
    gavel_ruleset_free(rs);
  }
  if (seen) {
    CHECK(seen[0].runs == 30 && seen[0].ids_ok && seen[1].ids_ok &&
          seen[2].ids_ok);
    CHECK(strstr(seen[0].log, "|HIGH|") != NULL); /* some runs did succeed */
    CHECK_STR(seen[0].log, seen[2].log);
    CHECK_STR(seen[1].log, seen[2].log);
  }
  for (k = 0; k < 3; k++)
    gavel_runtime_free(rt[k]);
  free(seen);
}

/* The clock of observed durations (gavel__tick_ns: the TSC scaled, where
** there is an invariant one) measures what CLOCK_MONOTONIC measures, after
** its calibration as before it; gavel__tick_since never wraps. */
TEST(the_tick_clock_measures_what_the_monotonic_clock_measures) {
  int i, bad = 0;
  for (i = 0; i < 8; i++) { /* 8 x 15 ms: past the 50 ms calibration */
    struct timespec nap = {0, 15000000};
    uint64_t t0 = gavel__now_ns(), k0 = gavel__tick_ns(), t1, k1;
    int64_t dt, dk, diff;
    nanosleep(&nap, NULL);
    k1 = gavel__tick_ns();
    t1 = gavel__now_ns();
    dt = (int64_t)(t1 - t0);
    dk = (int64_t)(k1 - k0);
    diff = dk > dt ? dk - dt : dt - dk;
    /* k0..k1 lies within t0..t1: the same interval, less two reads */
    if (dk <= 0 || diff > 200000 + dt / 100) {
      bad++;
      printf("  interval %d: monotonic %lld ns, tick %lld ns\n", i,
             (long long)dt, (long long)dk);
    }
  }
  CHECK(bad == 0);
  CHECK(gavel__tick_since(gavel__tick_ns() + 1000000000u) == 0);
  CHECK(gavel__tick_since(gavel__tick_ns() - 1000000u) >= 1000000u);
}

static void slowpoke(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  CHECK(c->trace_id != 0);
  CHECK(c->n_http_allow == 1 && !strcmp(c->http_allow[0], "example.test:443"));
  gavel_reply_timeout(r, "upstream too slow");
}

TEST(host_calls_appear_in_the_trace_and_timeouts_are_reported_as_such) {
  gavel_runtime *rt = rt_new();
  gavel_error e;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_load_opts lo;
  const char *allow[] = {"example.test:443"};
  const char *out;
  size_t n;
  char doc[1024];
  seen s;
  memset(&s, 0, sizeof s);
  memset(&lo, 0, sizeof lo);
  lo.http_allow = allow;
  lo.n_http_allow = 1;
  gavel_runtime_provide(rt, "svc", slowpoke, NULL, &e);
  gavel_runtime_add_observer(rt, observer, &s, &e);
  snprintf(doc, sizeof doc, GETCALL, "GET");
  CHECK(gavel_ruleset_load(rt, doc, strlen(doc), &lo, &rs, &e) == GAVEL_OK);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{}", 2, GAVEL_RUN_TRACE, &out, &n, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "upstream too slow") != NULL);
  CHECK_STR(s.outcomes, "timeout,");
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(the_trace_lists_every_host_call_with_its_outcome) {
  gavel_runtime *rt = rt_new();
  gavel_policy pol;
  gavel_error e;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  const char *out;
  size_t n;
  char doc[1024];
  memset(&pol, 0, sizeof pol);
  pol.retries = 1;
  gavel_runtime_provide(rt, "svc", flaky, NULL, &e);
  gavel_runtime_set_policy(rt, "svc", &pol, &e);
  snprintf(doc, sizeof doc, GETCALL, "GET");
  rs = load(rt, doc, &e);
  gavel_exec_new(rs, &ex, &e);
  calls = 0;
  fail_calls = 1;
  CHECK(gavel_exec_run_json(ex, "{}", 2, GAVEL_RUN_TRACE, &out, &n, &e) == GAVEL_OK);
  CHECK(strstr(out, "\"calls\":[{\"capability\":\"svc\",\"operation\":\"GET\","
                    "\"action\":\"steps.a.actions[0]\",\"attempt\":1,"
                    "\"outcome\":\"retry\"") != NULL);
  CHECK(strstr(out, "\"attempt\":2,\"outcome\":\"ok\"") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

static int metric_calls;
static void metrics_prov(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)c;
  metric_calls++;
  gavel_reply_payload(r, "{}", 2, NULL, 0);
}

TEST(metric_actions_use_the_metrics_capability_only_where_granted) {
  gavel_runtime *rt = rt_new();
  gavel_error e;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_load_opts lo;
  const char *none[] = {"other"}, *yes[] = {"metrics.prometheus"};
  const char *out;
  size_t n;
  const char *doc =
      "{\"config\":{\"name\":\"m\",\"entry_step\":\"a\"},\"steps\":{\"a\":{\"id\":"
      "\"a\",\"type\":\"action\",\"actions\":[{\"action\":\"metric\",\"name\":"
      "\"x\",\"value\":\"1\"}],\"next_step\":\"t\"},\"t\":{\"id\":\"t\",\"type\":"
      "\"terminal\",\"result\":{\"code\":\"OK\"}}}}";
  gavel_runtime_provide(rt, "metrics.prometheus", metrics_prov, NULL, &e);
  memset(&lo, 0, sizeof lo);
  lo.grants = none;
  lo.n_grants = 1;
  CHECK(gavel_ruleset_load(rt, doc, strlen(doc), &lo, &rs, &e) == GAVEL_OK);
  gavel_exec_new(rs, &ex, &e);
  metric_calls = 0;
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) == GAVEL_OK);
  CHECK(metric_calls == 0); /* not granted: the run's metric sink */
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  lo.grants = yes;
  CHECK(gavel_ruleset_load(rt, doc, strlen(doc), &lo, &rs, &e) == GAVEL_OK);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) == GAVEL_OK);
  CHECK(metric_calls == 1);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}


static long live_bytes, peak_bytes;
static void *counting_realloc(void *ud, void *p, size_t old, size_t n) {
  (void)ud;
  live_bytes += (long)n - (long)(p ? old : 0);
  if (live_bytes > peak_bytes)
    peak_bytes = live_bytes;
  if (n == 0) {
    free(p);
    return NULL;
  }
  return realloc(p, n);
}

TEST(repeated_evaluations_reuse_memory_instead_of_growing) {
  gavel_config cfg;
  gavel_runtime *rt = NULL;
  gavel_expr *x = NULL;
  gavel_error e;
  gv_arena in;
  gvalue root, res;
  long i, peak_after_first;
  const char *src = "array_concat(sort(items.*.name), [format('{0}-{1}', a, b)])";
  const char *ctx = "{\"a\":1,\"b\":\"x\",\"items\":[{\"name\":\"q\"},{\"name\":\"p\"}]}";
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.realloc = counting_realloc;
  live_bytes = peak_bytes = 0;
  CHECK(gavel_runtime_new(&cfg, &rt, &e) == GAVEL_OK);
  CHECK(gavel_expr_compile(rt, src, strlen(src), &x, &e) == GAVEL_OK);
  gavel__arena_init(&in, &gavel__default_alloc, 0);
  CHECK(gavel__json_parse(&in, ctx, strlen(ctx), NULL, &root, &e) == GAVEL_OK);
  CHECK(gavel__expr_eval_value(x, root, &res, &e) == GAVEL_OK);
  peak_after_first = peak_bytes;
  for (i = 0; i < 100000; i++)
    if (gavel__expr_eval_value(x, root, &res, &e) != GAVEL_OK)
      break;
  CHECK(i == 100000);
  CHECK(peak_bytes <= peak_after_first + 8192); /* flat, not 100000x */
  for (i = 0; i < 1000; i++) {
    const char *out;
    size_t n;
    gavel_expr_eval_json(x, ctx, strlen(ctx), &out, &n, &e);
  }
  CHECK(peak_bytes <= peak_after_first + 16384);
  gavel__arena_free(&in);
  gavel_expr_free(x);
  gavel_runtime_free(rt);
  CHECK(live_bytes == 0);
}

TEST_MAIN()
