/*
** test_budget.c -- bounds a ruleset cannot switch off (issue 8): the host
** ceilings on gas, steps and time (item 8), the size caps on host-call
** params, results and the per-run arena (item 10), and the work of
** regex_* (item 4) and yaml_unmarshal (item 5) bounded by one budget per
** call, charged to gas and checked against the run's deadline.
*/
#include "api_int.h"
#include "gavel.h"
#include "json.h"
#include "tinytest.h"
#include <stdlib.h>
#include <time.h>

/* ==== Helpers ==== */

/* The bounds below check that work stops (a deadline, a budget) or stays
** linear where it was quadratic (seconds before the fix): they are far
** from the measured times and read this thread's CPU time, not the wall
** clock, so that a loaded machine (parallel ctest, other jobs) cannot
** make them fail.  Runs here are synchronous, on the calling thread. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

static gavel_config config(void) {
  gavel_config c;
  memset(&c, 0, sizeof c);
  c.abi = GAVEL_VERSION_NUM;
  c.realloc = counting_realloc;
  return c;
}

typedef struct outcome {
  gavel_status st; /* status of the run                    */
  char msg[GAVEL_ERRMSG_SIZE]; /* its message, or the result JSON */
  double secs;     /* wall time of the run                 */
  long peak;       /* peak bytes allocated during the run  */
  int called;      /* times the provider was called        */
} outcome;

static int n_called;
static void echo_provider(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)c;
  n_called++;
  gavel_reply_payload(r, "1", 1, NULL, 0);
}

/* Loads 'rules' in a runtime made from 'cfg' (NULL = defaults, counted),
** runs it once over 'input' and records what happened. */
static outcome run_rules(const gavel_config *cfg, const char *rules,
                         const char *input, int sync_provider) {
  gavel_config c = cfg ? *cfg : config();
  gavel_runtime *rt = NULL;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error e;
  outcome o;
  const char *out = NULL;
  size_t n;
  double t0;
  memset(&o, 0, sizeof o);
  c.realloc = counting_realloc;
  live_bytes = peak_bytes = 0;
  n_called = 0;
  CHECK(gavel_runtime_new(&c, &rt, &e) == GAVEL_OK);
  gavel_runtime_provide(rt, "svc", sync_provider ? echo_provider : NULL, NULL,
                        &e);
  if (gavel_ruleset_load(rt, rules, strlen(rules), NULL, &rs, &e) != GAVEL_OK) {
    fprintf(stderr, "  load: %s\n", e.msg);
    o.st = e.code;
    snprintf(o.msg, sizeof o.msg, "%s", e.msg);
    gavel_runtime_free(rt);
    return o;
  }
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  peak_bytes = live_bytes;
  t0 = now_s();
  o.st = gavel_exec_run_json(ex, input, strlen(input), 0, &out, &n, &e);
  o.secs = now_s() - t0;
  o.peak = peak_bytes;
  o.called = n_called;
  snprintf(o.msg, sizeof o.msg, "%s", o.st == GAVEL_OK ? out : e.msg);
  if (o.st != GAVEL_OK && o.st != GAVEL_PENDING)
    fprintf(stderr, "    (%s: %s, %.3f s)\n", gavel_status_name(o.st), o.msg,
            o.secs);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
  CHECK(live_bytes == 0);
  return o;
}

/* A step cycle a -> b -> a that never reaches its terminal. */
static char *loop_rules(const char *config_json) {
  static char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"config\":{\"name\":\"loop\",\"entry_step\":\"a\"%s},\"steps\":{"
           "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":[{\"action\":"
           "\"set_variable\",\"name\":\"i\",\"value\":\"coalesce($i, 0) + 1\"}],"
           "\"next_step\":\"b\"},"
           "\"b\":{\"id\":\"b\",\"type\":\"decision\",\"branches\":[{"
           "\"condition\":\"$i < 0\",\"next_step\":\"t\"}],\"default_next\":"
           "\"a\"},"
           "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":"
           "\"T\"}}}}",
           config_json);
  return buf;
}

#define UNBOUNDED                                                            \
  ",\"gas_limit\":9223372036854775807,\"max_depth\":9223372036854775807,"    \
  "\"timeout_ms\":0"

/* ==== Item 8: host ceilings ==== */

TEST(a_ruleset_switching_every_bound_off_stops_at_the_default_ceilings) {
  outcome o = run_rules(NULL, loop_rules(UNBOUNDED), "{}", 0);
  CHECK(o.st == GAVEL_EXEC);
  CHECK_STR(o.msg, "Max execution depth exceeded: 1000000 (host ceiling "
                   "max_steps)");
  CHECK(o.secs < 10);
}

TEST(a_small_host_step_ceiling_stops_the_cycle_and_names_max_steps) {
  gavel_config c = config();
  outcome o;
  c.max_steps = 500;
  o = run_rules(&c, loop_rules(UNBOUNDED), "{}", 0);
  CHECK(o.st == GAVEL_EXEC);
  CHECK_STR(o.msg, "Max execution depth exceeded: 500 (host ceiling "
                   "max_steps)");
}

TEST(a_small_host_gas_ceiling_stops_the_cycle_and_names_max_gas) {
  gavel_config c = config();
  outcome o;
  c.max_gas = 2000;
  o = run_rules(&c, loop_rules(UNBOUNDED), "{}", 0);
  CHECK(o.st == GAVEL_GAS);
  CHECK(!strncmp(o.msg, "Gas exhausted: budget of 2000 units used up (host "
                        "ceiling max_gas) (at steps.",
                 70));
}

TEST(a_small_host_timeout_ceiling_stops_the_cycle_and_names_max_timeout_ms) {
  gavel_config c = config();
  outcome o;
  c.max_timeout_ms = 30;
  c.max_steps = 4000000000u;
  c.max_gas = 1000000000000u;
  o = run_rules(&c, loop_rules(UNBOUNDED), "{}", 0);
  CHECK(o.st == GAVEL_EXEC);
  CHECK_STR(o.msg, "Execution timeout: 30ms (host ceiling max_timeout_ms)");
  CHECK(o.secs < 2);
  /* A ruleset's own timeout above the ceiling is lowered to it too. */
  o = run_rules(&c,
                loop_rules(",\"gas_limit\":9223372036854775807,"
                           "\"max_depth\":4000000000,\"timeout_ms\":100000"),
                "{}", 0);
  CHECK(o.st == GAVEL_EXEC);
  CHECK_STR(o.msg, "Execution timeout: 30ms (host ceiling max_timeout_ms)");
}

TEST(bounds_below_the_ceilings_keep_their_plain_messages) {
  outcome o = run_rules(NULL, loop_rules(",\"max_depth\":300"), "{}", 0);
  CHECK_STR(o.msg, "Max execution depth exceeded: 300");
  o = run_rules(NULL, loop_rules(",\"max_depth\":100000,\"gas_limit\":999"),
                "{}", 0);
  CHECK(o.st == GAVEL_GAS);
  CHECK(!strncmp(o.msg, "Gas exhausted: budget of 999 units used up (at ",
                 47));
}

TEST(an_expression_cannot_raise_its_gas_above_max_gas) {
  gavel_config c = config();
  gavel_runtime *rt = NULL;
  gavel_expr *x = NULL;
  gavel_error e;
  const char *src = "len(range(0, n))", *out; /* not folded */
  size_t n;
  c.gas_limit = 1000000000000u;
  c.max_gas = 1000;
  CHECK(gavel_runtime_new(&c, &rt, &e) == GAVEL_OK);
  CHECK(gavel_expr_compile(rt, src, strlen(src), &x, &e) == GAVEL_OK);
  CHECK(gavel_expr_eval_json(x, "{\"n\":100000}", 12, &out, &n, &e) ==
        GAVEL_GAS);
  CHECK_STR(e.msg, "Gas exhausted: budget of 1000 units used up (host "
                   "ceiling max_gas)");
  gavel_expr_free(x);
  gavel_runtime_free(rt);
}

static gavel_ruleset *the_child;
static gavel_ruleset *resolve(void *ud, const char *name) {
  (void)ud;
  return strcmp(name, "child") == 0 ? the_child : NULL;
}

TEST(a_called_rulesets_short_timeout_ends_with_it) {
  static const char *child =
      "{\"config\":{\"name\":\"child\",\"entry_step\":\"t\",\"timeout_ms\":1},"
      "\"steps\":{\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{"
      "\"code\":\"C\"}}}}";
  static const char *parent =
      "{\"config\":{\"name\":\"parent\",\"entry_step\":\"p\",\"max_depth\":"
      "1000000,\"timeout_ms\":20000},\"steps\":{"
      "\"p\":{\"id\":\"p\",\"type\":\"action\",\"actions\":[{\"action\":"
      "\"call_rule_set\",\"ruleset_name\":\"child\",\"result_variable\":"
      "\"r\"}],\"next_step\":\"a\"},"
      "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":[{\"action\":"
      "\"set_variable\",\"name\":\"i\",\"value\":\"coalesce($i, 0) + 1\"}],"
      "\"next_step\":\"b\"},"
      "\"b\":{\"id\":\"b\",\"type\":\"decision\",\"branches\":[{"
      "\"condition\":\"$i >= 200000\",\"next_step\":\"t\"}],\"default_next\":"
      "\"a\"},"
      "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":\"P\"}}}}";
  gavel_config c = config();
  gavel_runtime *rt = NULL;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *out;
  size_t n;
  CHECK(gavel_runtime_new(&c, &rt, &e) == GAVEL_OK);
  gavel_runtime_set_resolver(rt, resolve, NULL);
  CHECK(gavel_ruleset_load(rt, child, strlen(child), NULL, &the_child, &e) ==
        GAVEL_OK);
  CHECK(gavel_ruleset_load(rt, parent, strlen(parent), NULL, &rs, &e) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  /* 400,000 parent steps after the child returned: its 1 ms is over. */
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) == GAVEL_OK);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_ruleset_free(the_child);
  gavel_runtime_free(rt);
}

/* ==== Item 10: size caps ==== */

/* {"s": "xxxx..."} with an n-byte string. */
static char *big_input(size_t n, char fill) {
  char *p = malloc(n + 16);
  memcpy(p, "{\"s\":\"", 6);
  memset(p + 6, fill, n);
  memcpy(p + 6 + n, "\"}", 3);
  return p;
}

/* An external_call whose params name "s" 'refs' times, then a terminal
** that outputs it 'outs' times. */
static char *ref_rules(int refs, int outs) {
  size_t cap = 512 + (size_t)(refs + outs) * 24;
  char *p = malloc(cap);
  size_t n = 0;
  int i;
  n += (size_t)snprintf(p + n, cap - n,
                        "{\"config\":{\"name\":\"big\",\"entry_step\":\"a\"},"
                        "\"steps\":{\"a\":{\"id\":\"a\",\"type\":\"action\","
                        "\"actions\":[");
  if (refs) {
    n += (size_t)snprintf(p + n, cap - n,
                          "{\"action\":\"external_call\",\"service\":\"svc\","
                          "\"method\":\"m\",\"params\":[");
    for (i = 0; i < refs; i++)
      n += (size_t)snprintf(p + n, cap - n, "%s[\"k%d\",\"s\"]", i ? "," : "",
                            i);
    n += (size_t)snprintf(p + n, cap - n, "],\"result_variable\":\"r\"}");
  }
  n += (size_t)snprintf(p + n, cap - n,
                        "],\"next_step\":\"t\"},\"t\":{\"id\":\"t\",\"type\":"
                        "\"terminal\",\"result\":{\"code\":\"OK\",\"output\":[");
  for (i = 0; i < outs; i++)
    n += (size_t)snprintf(p + n, cap - n, "%s[\"o%d\",\"s\"]", i ? "," : "",
                          i);
  snprintf(p + n, cap - n, "]}}}}");
  return p;
}

TEST(host_call_params_over_max_call_bytes_fail_before_any_provider_sees_them) {
  char *in = big_input(1u << 20, 'x');
  char *rules = ref_rules(400, 0);
  gavel_config c = config();
  outcome o;
  int sync;
  for (sync = 0; sync <= 1; sync++) { /* pending and synchronous providers */
    o = run_rules(NULL, rules, in, sync);
    CHECK(o.st == GAVEL_LIMIT);
    CHECK_STR(o.msg, "Limit exceeded: host call params larger than 16777216 "
                     "bytes (max_call_bytes) (at steps.a.actions[0])");
    CHECK(o.called == 0);
    CHECK(o.peak < (40L << 20)); /* was 400 MiB of params JSON */
  }
  /* A host setting; what fits still reaches the provider. */
  c.max_call_bytes = 4u << 20;
  free(rules);
  rules = ref_rules(5, 0);
  o = run_rules(&c, rules, in, 1);
  CHECK(o.st == GAVEL_LIMIT);
  CHECK(strstr(o.msg, "larger than 4194304 bytes (max_call_bytes)") != NULL);
  c.max_call_bytes = 6u << 20;
  o = run_rules(&c, rules, in, 1);
  CHECK(o.st == GAVEL_OK);
  CHECK(o.called == 1);
  free(rules);
  free(in);
}

/* JSON has no inf or NaN: params holding one (to_float("nan"), "inf",
** one deep in an array) fail the run before a provider sees them, as a
** result holding one does; they were sent as null.  Finite floats still
** reach it. */
TEST(host_call_params_with_inf_or_nan_fail_before_any_provider_sees_them) {
  static const char *const exprs[] = {
      "to_float(\\\"nan\\\")", "to_float(\\\"inf\\\")",
      "[1, [2, to_float(\\\"-inf\\\")]]",
      "[1, [2, to_float(\\\"2.5\\\")]]"}; /* the last one finite */
  char rules[1024];
  outcome o;
  int i, sync;
  for (i = 0; i < 4; i++)
    for (sync = 0; sync <= 1; sync++) {
      snprintf(rules, sizeof rules,
               "{\"config\":{\"name\":\"nf\",\"entry_step\":\"a\"},"
               "\"steps\":{\"a\":{\"id\":\"a\",\"type\":\"action\","
               "\"actions\":[{\"action\":\"external_call\",\"service\":"
               "\"svc\",\"method\":\"m\",\"params\":[[\"ok\", \"1.5\"], "
               "[\"v\", \"%s\"]],\"result_variable\":\"r\"}],"
               "\"next_step\":\"t\"},\"t\":{\"id\":\"t\",\"type\":"
               "\"terminal\",\"result\":{\"code\":\"OK\"}}}}",
               exprs[i]);
      o = run_rules(NULL, rules, "{}", sync);
      if (i == 3) {
        CHECK(o.st == (sync ? GAVEL_OK : GAVEL_PENDING));
        CHECK(o.called == sync);
        continue;
      }
      CHECK(o.st == GAVEL_RUNTIME);
      CHECK_STR(o.msg, "Evaluation error: host call params hold a non-finite "
                       "float (inf or NaN has no JSON form) (at "
                       "steps.a.actions[0])");
      CHECK(o.called == 0);
    }
}

TEST(results_over_max_result_bytes_fail_without_being_written) {
  char *in = big_input(1u << 20, 'x');
  char *rules = ref_rules(0, 800);
  gavel_config c = config();
  outcome o = run_rules(NULL, rules, in, 0);
  CHECK(o.st == GAVEL_LIMIT);
  CHECK_STR(o.msg, "Limit exceeded: result larger than 67108864 bytes "
                   "(max_result_bytes)");
  CHECK(o.peak < (40L << 20)); /* was 800 MiB of result JSON */
  free(rules);
  /* Escapes count: 3000 control characters are 18,000 bytes of JSON. */
  free(in);
  in = malloc(18100);
  memcpy(in, "{\"s\":\"", 6);
  {
    int i;
    for (i = 0; i < 3000; i++)
      memcpy(in + 6 + 6 * i, "\\u0001", 6);
    memcpy(in + 6 + 6 * 3000, "\"}", 3);
  }
  rules = ref_rules(0, 1);
  c.max_result_bytes = 10000;
  o = run_rules(&c, rules, in, 0);
  CHECK(o.st == GAVEL_LIMIT);
  CHECK(strstr(o.msg, "larger than 10000 bytes (max_result_bytes)") != NULL);
  c.max_result_bytes = 20000;
  o = run_rules(&c, rules, in, 0);
  CHECK(o.st == GAVEL_OK);
  free(rules);
  free(in);
}

static const char *BUILD =
    "{\"config\":{\"name\":\"build\",\"entry_step\":\"a\"},\"steps\":{"
    "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":[{\"action\":"
    "\"set_variable\",\"name\":\"r\",\"value\":\"range(0, n)\"}],"
    "\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":\"OK\","
    "\"output\":[[\"n\",\"len($r)\"]]}}}}";

TEST(a_run_over_max_run_bytes_is_a_limit_error_naming_it) {
  gavel_config c = config();
  outcome o;
  char *in, *rules;
  c.max_run_bytes = 1u << 20;
  o = run_rules(&c, BUILD, "{\"n\":1000}", 0);
  CHECK(o.st == GAVEL_OK);
  o = run_rules(&c, BUILD, "{\"n\":200000}", 0);
  CHECK(o.st == GAVEL_LIMIT);
  CHECK(!strncmp(o.msg, "Limit exceeded: run memory over 1048576 bytes "
                        "(max_run_bytes) (at steps.a.actions[0]",
                 84));
  in = big_input(2u << 20, 'y');
  rules = ref_rules(0, 1);
  o = run_rules(&c, rules, in, 0);
  CHECK(o.st == GAVEL_LIMIT);
  CHECK_STR(o.msg, "Limit exceeded: run memory over 1048576 bytes "
                   "(max_run_bytes) parsing the input");
  free(rules);
  free(in);
}

TEST(an_expression_over_max_run_bytes_is_a_limit_error_naming_it) {
  gavel_config c = config();
  gavel_runtime *rt = NULL;
  gavel_expr *x = NULL;
  gavel_error e;
  const char *src = "range(0, n)", *out;
  size_t n;
  c.max_run_bytes = 1u << 20;
  CHECK(gavel_runtime_new(&c, &rt, &e) == GAVEL_OK);
  CHECK(gavel_expr_compile(rt, src, strlen(src), &x, &e) == GAVEL_OK);
  CHECK(gavel_expr_eval_json(x, "{\"n\":200000}", 12, &out, &n, &e) ==
        GAVEL_LIMIT);
  CHECK_STR(e.msg, "Limit exceeded: run memory over 1048576 bytes "
                   "(max_run_bytes)");
  gavel_expr_free(x);
  gavel_runtime_free(rt);
}

/* ==== Item 4: regex ==== */

/* regex_find_all("(a+)+c|b", s) over ("a" x 22 + "b") x 191: 4.4 KB on
** which every match call backtracks ~4M steps (19 s before). */
static char *rx_rules(const char *fn_call, const char *config_json) {
  static char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"config\":{\"name\":\"rx\",\"entry_step\":\"a\"%s},\"steps\":{"
           "\"a\":{\"id\":\"a\",\"type\":\"action\",\"actions\":[{\"action\":"
           "\"set_variable\",\"name\":\"r\",\"value\":\"%s\"}],"
           "\"next_step\":\"t\"},"
           "\"t\":{\"id\":\"t\",\"type\":\"terminal\",\"result\":{\"code\":"
           "\"OK\",\"output\":[[\"r\",\"$r\"]]}}}}",
           config_json, fn_call);
  return buf;
}

static char *rx_input(int reps) {
  char *p = malloc((size_t)reps * 23 + 16), *q;
  int i;
  memcpy(p, "{\"s\":\"", 6);
  q = p + 6;
  for (i = 0; i < reps; i++) {
    memset(q, 'a', 22);
    q[22] = 'b';
    q += 23;
  }
  memcpy(q, "\"}", 3);
  return p;
}

TEST(regex_loops_stop_at_the_gas_budget) {
  char *in = rx_input(191);
  outcome o = run_rules(
      NULL,
      rx_rules("regex_find_all(\\\"(a+)+c|b\\\", s)",
               ",\"timeout_ms\":1000,\"gas_limit\":100000"),
      in, 0);
  CHECK(o.st == GAVEL_GAS);
  CHECK(o.secs < 1.0);
  free(in);
}

TEST(every_regex_builtin_has_one_step_budget_per_call) {
  static const char *calls[] = {
      "regex_find_all(\\\"(a+)+c|b\\\", s)",
      "regex_split(\\\"(a+)+c|b\\\", s)",
      "regex_replace(\\\"(a+)+c|b\\\", s, \\\"-\\\")",
      "regex_match(\\\"(a+)+c|y\\\", s)",
      "regex_find(\\\"(a+)+c|y\\\", s)",
  };
  static const char *names[] = {"regex_find_all", "regex_split",
                                "regex_replace", "regex_match", "regex_find"};
  char *in = rx_input(191);
  size_t i;
  for (i = 0; i < sizeof calls / sizeof *calls; i++) {
    char want[128];
    outcome o = run_rules(
        NULL, rx_rules(calls[i], ",\"gas_limit\":1000000000"), in, 0);
    snprintf(want, sizeof want, "Limit exceeded: %s: regex budget of ",
             names[i]);
    CHECK(o.st == GAVEL_LIMIT);
    CHECK(!strncmp(o.msg, want, strlen(want)));
    CHECK(o.secs < 2.0);
  }
  free(in);
}

TEST(regex_work_stops_at_the_runs_deadline) {
  char *in = rx_input(20000); /* 460 KB: a budget of ~25M steps */
  outcome o = run_rules(
      NULL,
      rx_rules("regex_find_all(\\\"(a+)+c|b\\\", s)",
               ",\"timeout_ms\":20,\"gas_limit\":1000000000"),
      in, 0);
  CHECK(o.st == GAVEL_EXEC);
  CHECK(!strncmp(o.msg, "Execution timeout: regex_find_all stopped at the "
                        "run's deadline",
                 62));
  CHECK(o.secs < 1.0);
  free(in);
}

TEST(ordinary_regexes_are_unaffected) {
  outcome o = run_rules(
      NULL, rx_rules("regex_find_all(\\\"[0-9]+\\\", s)", ""),
      "{\"s\":\"a1b22c333\"}", 0);
  CHECK_STR(o.msg, "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"r\":"
                   "[\"1\",\"22\",\"333\"]}}");
}

/* ==== Item 5: yaml_unmarshal ==== */

/* Evaluates yaml_unmarshal(y) with 'y' the YAML text; the runtime's gas
** budget is 'gas' (0 = default).  Returns the status; *secs the time. */
static gavel_status yaml_eval(const char *yaml, uint64_t gas, double *secs,
                              char *msg, size_t msg_size) {
  gavel_config c = config();
  gavel_runtime *rt = NULL;
  gavel_expr *x = NULL;
  gavel_error e;
  gv_arena a;
  gv_str *s;
  gvalue root, res;
  gv_obj *o;
  gavel_status st;
  double t0;
  const char *src = "yaml_unmarshal(y)";
  c.gas_limit = gas ? gas : 1000000000u;
  CHECK(gavel_runtime_new(&c, &rt, &e) == GAVEL_OK);
  CHECK(gavel_expr_compile(rt, src, strlen(src), &x, &e) == GAVEL_OK);
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  s = gavel__str_new(&a, yaml, strlen(yaml));
  o = gavel__obj_new(&a, 1);
  gavel__obj_append(&a, o, gavel__str_cstr(&a, "y"), gv_strv(s));
  root = gv_objv(o);
  t0 = now_s();
  st = gavel__expr_eval_value(x, root, &res, &e);
  *secs = now_s() - t0;
  if (st != GAVEL_OK) {
    snprintf(msg, msg_size, "%s", e.msg);
  } else {
    gv_buf b;
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__json_write(&b, res);
    snprintf(msg, msg_size, "%.*s", b.len > 400 ? 400 : (int)b.len, b.p);
    gavel__buf_free(&b);
  }
  gavel__arena_free(&a);
  gavel_expr_free(x);
  gavel_runtime_free(rt);
  return st;
}

/* A growable string. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;
static void sb_add(sbuf *b, const char *s) {
  size_t k = strlen(s);
  if (b->n + k + 1 > b->cap) {
    b->cap = (b->n + k + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, k + 1);
  b->n += k;
}

TEST(yaml_aliases_resolve_in_linear_time) {
  sbuf y = {0};
  double secs;
  char msg[512];
  int i;
  sb_add(&y, "a: &x 1\nb:\n");
  for (i = 0; i < 64000; i++) /* 320 KB of aliases: 4-31 s before */
    sb_add(&y, "- *x\n");
  CHECK(yaml_eval(y.p, 0, &secs, msg, sizeof msg) == GAVEL_OK);
  CHECK(secs < 1.5);
  free(y.p);
  /* The latest definition of a name wins. */
  CHECK(yaml_eval("a: &x 1\nb: &x 2\nc: *x\n", 0, &secs, msg, sizeof msg) ==
        GAVEL_OK);
  CHECK_STR(msg, "{\"a\":1,\"b\":2,\"c\":2}");
  CHECK(yaml_eval("a: *nope\n", 0, &secs, msg, sizeof msg) == GAVEL_RUNTIME);
  CHECK(strstr(msg, "unknown anchor at line 1 column 4") != NULL);
}

TEST(yaml_flow_nesting_fails_at_the_depth_limit_without_scanning_it_all) {
  sbuf y = {0};
  double secs;
  char msg[512];
  int i;
  for (i = 0; i < 60000; i++) /* 8-14 s before */
    sb_add(&y, "[");
  for (i = 0; i < 60000; i++)
    sb_add(&y, "]");
  CHECK(yaml_eval(y.p, 0, &secs, msg, sizeof msg) == GAVEL_RUNTIME);
  CHECK(strstr(msg, "recursion limit exceeded at line 1 column 129") != NULL);
  CHECK(secs < 1.0);
  free(y.p);
}

TEST(yaml_large_maps_build_in_linear_time_and_keep_duplicate_key_rules) {
  sbuf y = {0};
  double secs;
  char msg[512], line[64];
  int i;
  for (i = 0; i < 100000; i++) { /* 21-23 s before */
    snprintf(line, sizeof line, "k%d: %d\n", i, i);
    sb_add(&y, line);
  }
  CHECK(yaml_eval(y.p, 0, &secs, msg, sizeof msg) == GAVEL_OK);
  CHECK(secs < 5.0); /* 0.2 s here; generous for sanitizer builds */
  free(y.p);
  /* Past the hashing threshold the last value still wins, in place. */
  memset(&y, 0, sizeof y);
  for (i = 0; i < 40; i++) {
    snprintf(line, sizeof line, "k%d: %d\n", i % 30, i);
    sb_add(&y, line);
  }
  CHECK(yaml_eval(y.p, 0, &secs, msg, sizeof msg) == GAVEL_OK);
  CHECK(!strncmp(msg, "{\"k0\":30,\"k1\":31,", 17));
  CHECK(strstr(msg, "\"k9\":39,\"k10\":10,") != NULL);
  CHECK(strstr(msg, "\"k29\":29}") != NULL);
  free(y.p);
}

TEST(yaml_alias_expansions_are_charged_to_gas) {
  sbuf y = {0};
  double secs;
  char msg[512];
  int i;
  /* 100 aliases of a 1000-element sequence: 100,000 expanded nodes. */
  sb_add(&y, "a: &big [");
  for (i = 0; i < 1000; i++)
    sb_add(&y, i ? ",1" : "1");
  sb_add(&y, "]\nb:\n");
  for (i = 0; i < 100; i++)
    sb_add(&y, "- *big\n");
  CHECK(yaml_eval(y.p, 0, &secs, msg, sizeof msg) == GAVEL_OK);
  CHECK(yaml_eval(y.p, 50000, &secs, msg, sizeof msg) == GAVEL_GAS);
  free(y.p);
  /* Billion laughs. */
  CHECK(yaml_eval("a: &a [x,x,x,x,x,x,x,x,x]\n"
                  "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                  "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                  "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                  "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                  "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                  "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                  "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                  "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
                  0, &secs, msg, sizeof msg) != GAVEL_OK);
  CHECK(secs < 1.0);
}

TEST_MAIN()
