/*
** test_metrics.c -- metrics.prometheus: the exposition text byte for
** byte, name and label sanitizing and escaping, kind clashes and limits,
** metric actions and explicit calls, the engine's own metrics counted
** against the runs made, concurrency, and the strict parser
** (scripts/promcheck.lua) over real output.  Also the policy text form.
*/
#include "prov_test.h"
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GAVEL_LUA
#define GAVEL_LUA "luajit"
#endif

static char *expose(gavel_metrics *m) {
  char *t = NULL;
  gavel_error e;
  CHECK(gavel_metrics_expose(m, &t, NULL, &e) == GAVEL_OK);
  return t;
}

TEST(the_exposition_is_exact_sorted_and_escaped) {
  static const double b[2] = {0.1, 1};
  gavel_metrics_opts o;
  gavel_metrics *m;
  gavel_error e;
  const char *l1[4] = {"path", "/a", "method", "GET"};
  const char *l2[2] = {"v", "a\"b\\c\nd"};
  char *t;
  memset(&o, 0, sizeof o);
  o.buckets = b;
  o.n_buckets = 2;
  CHECK(gavel_metrics_new(&o, &m, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "req.total",
                             "Requests.", l1, 2, 1, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "req.total", NULL, l1,
                             2, 2, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_GAUGE, "temp", NULL, NULL, 0,
                             21.5, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_GAUGE, "temp", NULL, NULL, 0, -3,
                             &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_GAUGE, "esc", NULL, l2, 1, 1,
                             &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_HISTOGRAM, "lat", NULL, NULL, 0,
                             0.25, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_HISTOGRAM, "lat", NULL, NULL, 0,
                             0.5, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_HISTOGRAM, "lat", NULL, NULL, 0,
                             4, &e) == GAVEL_OK);
  t = expose(m);
  CHECK_STR(t, "# HELP esc Rule metric\n# TYPE esc gauge\n"
               "esc{v=\"a\\\"b\\\\c\\nd\"} 1\n"
               "# HELP lat Rule metric\n# TYPE lat histogram\n"
               "lat_bucket{le=\"0.1\"} 0\nlat_bucket{le=\"1\"} 2\n"
               "lat_bucket{le=\"+Inf\"} 3\nlat_sum 4.75\nlat_count 3\n"
               "# HELP req_total Requests.\n# TYPE req_total counter\n"
               "req_total{method=\"GET\",path=\"/a\"} 3\n"
               "# HELP temp Rule metric\n# TYPE temp gauge\ntemp -3\n");
  gavel_providers_free(t);
  gavel_metrics_free(m);
}

TEST(names_and_labels_are_made_valid_and_clashes_are_errors) {
  gavel_metrics_opts o;
  gavel_metrics *m;
  gavel_error e;
  const char *l[6] = {"user-id", "7", "__name__", "x", "9lives", "y"};
  const char *a[2] = {"k", "1"}, *b[2] = {"k", "2"}, *c[2] = {"k", "3"};
  char *t;
  memset(&o, 0, sizeof o);
  o.max_series = 2;
  CHECK(gavel_metrics_new(&o, &m, &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_GAUGE, "9.loan amount", NULL, l,
                             3, 1, &e) == GAVEL_OK);
  t = expose(m);
  CHECK(strstr(t, "_9_loan_amount{_9lives=\"y\",tag___name__=\"x\","
                  "user_id=\"7\"} 1\n") != NULL);
  gavel_providers_free(t);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "9.loan amount", NULL,
                             NULL, 0, 1, &e) == GAVEL_MISUSE);
  CHECK(strstr(e.msg, "is a gauge, not a counter") != NULL);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "c", NULL, NULL, 0, -1,
                             &e) == GAVEL_MISUSE);
  CHECK(strstr(e.msg, "can only increase") != NULL);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "lim", NULL, a, 1, 1,
                             &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "lim", NULL, b, 1, 1,
                             &e) == GAVEL_OK);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "lim", NULL, c, 1, 1,
                             &e) == GAVEL_MISUSE);
  CHECK(strstr(e.msg, "limit of 2 label sets") != NULL);
  CHECK(gavel_metrics_update(m, GAVEL_METRIC_COUNTER, "lim", NULL, a, 1, 1,
                             &e) == GAVEL_OK); /* existing series still ok */
  gavel_metrics_free(m);
}

static int fail_neg(void *ud, const gavel_host_call *c, gavel_reply *r);

static void svc(void *ud, const gavel_host_call *c, gavel_reply *r) {
  if (fail_neg(ud, c, r))
    gavel_reply_error(r, "negative");
  else
    gavel_reply_payload(r, "1", 1, NULL, 0);
}

static int fail_neg(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)r;
  return strstr(c->params, "-") != NULL;
}

static const char *RULES =
    "{\"config\":{\"name\":\"m\",\"version\":\"1.0\",\"entry_step\":\"s\"},"
    "\"steps\":{"
    "\"s\":{\"id\":\"s\",\"name\":\"S\",\"type\":\"decision\",\"branches\":["
    "{\"condition\":\"x > 10\",\"next_step\":\"hi\",\"actions\":["
    "{\"action\":\"metric\",\"name\":\"loan.amount\",\"value\":{\"Field\":"
    "\"x\"},\"tags\":[[\"tier\",\"gold\"]]},"
    "{\"action\":\"external_call\",\"service\":\"metrics.prometheus\","
    "\"method\":\"counter\",\"params\":[[\"name\",{\"Literal\":"
    "\"big_loans_total\"}],[\"value\",{\"Literal\":1}],[\"tags\",{\"Object\":"
    "[[\"region\",{\"Literal\":\"eu\"}]]}]],\"result_variable\":\"mr\"}]}],"
    "\"default_next\":\"lo\"},"
    "\"hi\":{\"id\":\"hi\",\"name\":\"H\",\"type\":\"terminal\",\"result\":{"
    "\"code\":\"HIGH\",\"output\":[[\"m\",\"$mr.metadata.metric\"]]}},"
    "\"lo\":{\"id\":\"lo\",\"name\":\"L\",\"type\":\"action\",\"actions\":["
    "{\"action\":\"external_call\",\"service\":\"svc\",\"method\":\"GET\","
    "\"params\":[[\"x\",\"x\"]],\"result_variable\":\"r\"}],"
    "\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{"
    "\"code\":\"LOW\"}}}}";

typedef struct env {
  gavel_runtime *rt;  /* runtime                 */
  gavel_metrics *m;   /* registry                */
  gavel_ruleset *rs;  /* RULES                   */
} env;

static void env_open(env *v) {
  gavel_error e;
  CHECK(gavel_runtime_new(NULL, &v->rt, &e) == GAVEL_OK);
  CHECK(gavel_metrics_new(NULL, &v->m, &e) == GAVEL_OK);
  CHECK(gavel_metrics_provide(v->m, v->rt, &e) == GAVEL_OK);
  CHECK(gavel_metrics_attach(v->m, v->rt, &e) == GAVEL_OK);
  CHECK(gavel_runtime_provide(v->rt, "svc", svc, NULL, &e) == GAVEL_OK);
  CHECK(gavel_ruleset_load(v->rt, RULES, strlen(RULES), NULL, &v->rs, &e) ==
        GAVEL_OK);
}

static void env_close(env *v) {
  gavel_ruleset_free(v->rs);
  gavel_runtime_free(v->rt);
  gavel_metrics_free(v->m);
}

static gavel_status run1(env *v, gavel_exec *ex, const char *in, char *out,
                         size_t n) {
  const char *r = "";
  size_t len = 0;
  gavel_error e;
  gavel_status st = gavel_exec_run_json(ex, in, strlen(in), 0, &r, &len, &e);
  (void)v;
  if (out)
    snprintf(out, n, "%.*s", (int)len, st == GAVEL_OK ? r : "");
  return st;
}

/* promcheck --get SERIES on FILE: the value, or -1. */
static double prom_get(const char *file, const char *series) {
  char cmd[1024], line[64] = "";
  FILE *p;
  snprintf(cmd, sizeof cmd,
           "%s " GAVEL_SOURCE_DIR "/scripts/promcheck.lua %s --get '%s'",
           GAVEL_LUA, file, series);
  if (!(p = popen(cmd, "r")))
    return -1;
  if (!fgets(line, sizeof line, p))
    line[0] = 0;
  if (pclose(p) != 0)
    return -1;
  return atof(line);
}

/* Labels are C strings: a tag or name holding a NUL byte ("e\u0000u") is
** an error, not cut at the NUL (which merged it with the series "e"). */
TEST(a_tag_or_name_with_a_nul_byte_is_an_error_not_a_merged_series) {
  static const char *const params[] = {
      "[[\"name\",{\"Literal\":\"t\"}],[\"value\",{\"Literal\":1}],[\"tags\","
      "{\"Object\":[[\"region\",{\"Literal\":\"e\\u0000u\"}]]}]]",
      "[[\"name\",{\"Literal\":\"t\\u0000x\"}],[\"value\",{\"Literal\":1}]]"};
  int i;
  for (i = 0; i < 2; i++) {
    char rules[1024], *t;
    gavel_runtime *rt;
    gavel_metrics *m;
    gavel_ruleset *rs;
    gavel_exec *ex;
    gavel_error e;
    const char *out;
    size_t n;
    snprintf(rules, sizeof rules,
             "{\"config\":{\"name\":\"nul\",\"entry_step\":\"a\"},\"steps\":{"
             "\"a\":{\"id\":\"a\",\"name\":\"A\",\"type\":\"action\","
             "\"actions\":[{\"action\":\"external_call\",\"service\":"
             "\"metrics.prometheus\",\"method\":\"counter\",\"params\":%s,"
             "\"result_variable\":\"r\"}],\"next_step\":\"t\"},"
             "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\","
             "\"result\":{\"code\":\"OK\"}}}}",
             params[i]);
    CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
    CHECK(gavel_metrics_new(NULL, &m, &e) == GAVEL_OK);
    CHECK(gavel_metrics_provide(m, rt, &e) == GAVEL_OK);
    CHECK(gavel_ruleset_load(rt, rules, strlen(rules), NULL, &rs, &e) ==
          GAVEL_OK);
    CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
    CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &e) != GAVEL_OK);
    CHECK(strstr(e.msg, i == 0 ? "tag 'region' holds a NUL byte"
                               : "parameter 'name' (a string) is required") !=
          NULL);
    t = expose(m);
    CHECK(strstr(t, "region=\"e\"") == NULL && strstr(t, "\nt ") == NULL);
    free(t);
    gavel_exec_free(ex);
    gavel_ruleset_free(rs);
    gavel_runtime_free(rt);
    gavel_metrics_free(m);
  }
}

TEST(engine_metrics_count_the_runs_made_and_the_output_parses) {
  env v;
  gavel_exec *ex = NULL;
  gavel_error e;
  char out[512], file[] = "/tmp/gv_metrics_XXXXXX", cmd[512];
  int i, fd;
  env_open(&v);
  gavel_exec_new(v.rs, &ex, &e);
  for (i = 0; i < 3; i++)
    CHECK(run1(&v, ex, "{\"x\":20}", out, sizeof out) == GAVEL_OK);
  CHECK_STR(out, "{\"code\":\"HIGH\",\"message\":\"\",\"output\":{\"m\":"
                 "\"big_loans_total\"}}");
  for (i = 0; i < 2; i++)
    CHECK(run1(&v, ex, "{\"x\":5}", NULL, 0) == GAVEL_OK);
  CHECK(run1(&v, ex, "{\"x\":-1}", NULL, 0) == GAVEL_HOST);
  gavel_exec_free(ex);
  fd = mkstemp(file);
  close(fd);
  CHECK(gavel_metrics_write_file(v.m, file, &e) == GAVEL_OK);
  snprintf(cmd, sizeof cmd,
           "%s " GAVEL_SOURCE_DIR "/scripts/promcheck.lua %s >/dev/null",
           GAVEL_LUA, file);
  CHECK(system(cmd) == 0);
  CHECK(prom_get(file, "gavel_runs_total{code=\"HIGH\",ruleset=\"m\"}") == 3);
  CHECK(prom_get(file, "gavel_runs_total{code=\"LOW\",ruleset=\"m\"}") == 2);
  CHECK(prom_get(file, "gavel_runs_total{code=\"error\",ruleset=\"m\"}") ==
        1);
  CHECK(prom_get(file, "gavel_run_errors_total{ruleset=\"m\",status="
                       "\"host\"}") == 1);
  CHECK(prom_get(file, "gavel_run_duration_seconds_count{ruleset=\"m\"}") ==
        6);
  CHECK(prom_get(file, "gavel_run_gas_used_total{ruleset=\"m\"}") > 0);
  CHECK(prom_get(file, "gavel_hostcalls_total{capability=\"svc\","
                       "outcome=\"ok\"}") == 2);
  CHECK(prom_get(file, "gavel_hostcalls_total{capability=\"svc\","
                       "outcome=\"error\"}") == 1);
  CHECK(prom_get(file, "gavel_hostcalls_total{capability="
                       "\"metrics.prometheus\",outcome=\"ok\"}") == 6);
  CHECK(prom_get(file, "gavel_hostcall_duration_seconds_count{capability="
                       "\"svc\"}") == 3);
  CHECK(prom_get(file, "loan_amount{tier=\"gold\"}") == 20);
  CHECK(prom_get(file, "big_loans_total{region=\"eu\"}") == 3);
  {
    /* a symlink stays a symlink: its target is written (the link was
    ** replaced by a file, the target left stale) */
    char link[64];
    struct stat sb;
    snprintf(link, sizeof link, "%s.link", file);
    unlink(file);
    CHECK(symlink(file, link) == 0);
    CHECK(gavel_metrics_write_file(v.m, link, &e) == GAVEL_OK);
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(prom_get(file, "big_loans_total{region=\"eu\"}") == 3);
    unlink(link);
  }
  unlink(file);
  env_close(&v);
}

/* The per-thread cache of run series (metrics.c) is keyed by registry:
** two registries alive in one thread, same ruleset and codes, each counts
** only its own runs, also after one is freed and another made. */
TEST(run_series_cache_keeps_registries_apart) {
  env v[3];
  gavel_exec *ex[3] = {NULL, NULL, NULL};
  gavel_error e;
  char file[] = "/tmp/gv_metrics_XXXXXX";
  int i, k, fd;
  for (k = 0; k < 2; k++) {
    env_open(&v[k]);
    gavel_exec_new(v[k].rs, &ex[k], &e);
  }
  for (i = 0; i < 7; i++)
    for (k = 0; k < 2; k++)
      if (k == 0 || i % 2)
        CHECK(run1(&v[k], ex[k], "{\"x\":5}", NULL, 0) == GAVEL_OK);
  fd = mkstemp(file);
  close(fd);
  CHECK(gavel_metrics_write_file(v[0].m, file, &e) == GAVEL_OK);
  CHECK(prom_get(file, "gavel_runs_total{code=\"LOW\",ruleset=\"m\"}") == 7);
  CHECK(gavel_metrics_write_file(v[1].m, file, &e) == GAVEL_OK);
  CHECK(prom_get(file, "gavel_runs_total{code=\"LOW\",ruleset=\"m\"}") == 3);
  gavel_exec_free(ex[0]);
  env_close(&v[0]);
  env_open(&v[2]); /* may reuse the freed registry's address */
  gavel_exec_new(v[2].rs, &ex[2], &e);
  CHECK(run1(&v[2], ex[2], "{\"x\":5}", NULL, 0) == GAVEL_OK);
  CHECK(gavel_metrics_write_file(v[2].m, file, &e) == GAVEL_OK);
  CHECK(prom_get(file, "gavel_runs_total{code=\"LOW\",ruleset=\"m\"}") == 1);
  CHECK(prom_get(file, "gavel_run_duration_seconds_count{ruleset=\"m\"}") == 1);
  unlink(file);
  for (k = 1; k < 3; k++) {
    gavel_exec_free(ex[k]);
    env_close(&v[k]);
  }
}

static gavel_metrics *shared_m;
static env *shared_env;

static void *bump_thread(void *p) {
  gavel_error e;
  const char *l[2] = {"t", "x"};
  int i;
  (void)p;
  for (i = 0; i < 20000; i++)
    gavel_metrics_update(shared_m, GAVEL_METRIC_COUNTER, "hits_total", NULL,
                         l, 1, 1, &e);
  return NULL;
}

static void *run_thread(void *p) {
  gavel_exec *ex = NULL;
  gavel_error e;
  int i;
  (void)p;
  gavel_exec_new(shared_env->rs, &ex, &e);
  for (i = 0; i < 500; i++)
    run1(shared_env, ex, i % 2 ? "{\"x\":20}" : "{\"x\":5}", NULL, 0);
  gavel_exec_free(ex);
  return NULL;
}

/* A sample's value in an exposition, or -1. */
static double sample(const char *t, const char *name) {
  char key[256];
  const char *p;
  snprintf(key, sizeof key, "\n%s ", name);
  p = strstr(t, key);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

static int scraping;
static int scrape_bad, scrapes;

/* Scrapes while runs add to their threads' shares: every total only
** grows, and a histogram's count is never below its runs' 'LOW' part. */
static void *scrape_thread(void *p) {
  double last = 0;
  (void)p;
  while (__atomic_load_n(&scraping, __ATOMIC_ACQUIRE)) {
    char *t = expose(shared_m);
    double low = sample(t, "gavel_runs_total{code=\"LOW\",ruleset=\"m\"}");
    if (low >= 0 && low < last)
      scrape_bad++;
    if (low >= 0)
      last = low;
    scrapes++;
    gavel_providers_free(t);
  }
  return NULL;
}

TEST(concurrent_updates_and_runs_are_all_counted) {
  env v;
  pthread_t th[4], sc;
  char *t;
  int i, round;
  env_open(&v);
  shared_m = v.m;
  shared_env = &v;
  for (i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, bump_thread, NULL);
  for (i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  scraping = 1;
  pthread_create(&sc, NULL, scrape_thread, NULL);
  /* two rounds: the second round's threads may get the first's tokens */
  for (round = 0; round < 2; round++) {
    for (i = 0; i < 4; i++)
      pthread_create(&th[i], NULL, run_thread, NULL);
    for (i = 0; i < 4; i++)
      pthread_join(th[i], NULL);
  }
  __atomic_store_n(&scraping, 0, __ATOMIC_RELEASE);
  pthread_join(sc, NULL);
  CHECK(scrapes > 0 && scrape_bad == 0);
  t = expose(v.m);
  CHECK(strstr(t, "\nhits_total{t=\"x\"} 80000\n") != NULL);
  CHECK(strstr(t, "\ngavel_runs_total{code=\"HIGH\",ruleset=\"m\"} 2000\n"));
  CHECK(strstr(t, "\ngavel_runs_total{code=\"LOW\",ruleset=\"m\"} 2000\n"));
  CHECK(strstr(t, "\nbig_loans_total{region=\"eu\"} 2000\n"));
  CHECK(sample(t, "gavel_run_duration_seconds_count{ruleset=\"m\"}") == 4000);
  CHECK(sample(t, "gavel_run_duration_seconds_bucket{ruleset=\"m\",le=\"+Inf\"}") ==
        4000);
  /* every run uses the same gas per code: the sum is exact */
  CHECK(sample(t, "gavel_run_gas_used_total{ruleset=\"m\"}") > 0);
  gavel_providers_free(t);
  env_close(&v);
}

TEST(bad_metric_calls_fail_the_run_with_a_clear_message) {
  gavel_runtime *rt;
  gavel_metrics *m;
  gavel_error e;
  char *doc;
  gavel_runtime_new(NULL, &rt, &e);
  gavel_metrics_new(NULL, &m, &e);
  gavel_metrics_provide(m, rt, &e);
  doc = call_ruleset("metrics.prometheus", "summary",
                     "[[\"name\",{\"Literal\":\"x\"}],[\"value\","
                     "{\"Literal\":1}]]", 0);
  CHECK(run_doc(rt, doc, NULL, 0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "unknown operation 'summary'") != NULL);
  free(doc);
  doc = call_ruleset("metrics.prometheus", "gauge",
                     "[[\"name\",{\"Literal\":\"x\"}],[\"value\","
                     "{\"Literal\":\"high\"}]]", 0);
  CHECK(run_doc(rt, doc, NULL, 0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "'value' (a number) is required") != NULL);
  free(doc);
  gavel_runtime_free(rt);
  gavel_metrics_free(m);
}

TEST(policies_parse_from_their_text_form) {
  gavel_policy p;
  gavel_error e;
  CHECK(gavel_policy_parse("timeout=2000,retries=2,backoff=50,backoff_max="
                           "400,breaker=5,reset=10000,concurrency=8",
                           &p, &e) == GAVEL_OK);
  CHECK(p.max_timeout_ms == 2000 && p.retries == 2 && p.backoff_ms == 50 &&
        p.backoff_max_ms == 400 && p.breaker_threshold == 5 &&
        p.breaker_reset_ms == 10000 && p.max_concurrency == 8 &&
        p.idempotent_ops == NULL);
  CHECK(gavel_policy_parse("", &p, &e) == GAVEL_OK && p.retries == 0);
  CHECK(gavel_policy_parse("retry=2", &p, &e) == GAVEL_MISUSE);
  CHECK(strstr(e.msg, "unknown key 'retry'") != NULL);
  CHECK(gavel_policy_parse("retries=x", &p, &e) == GAVEL_MISUSE);
  CHECK(gavel_policy_parse("retries=-1", &p, &e) == GAVEL_MISUSE);
  CHECK(gavel_policy_parse("retries", &p, &e) == GAVEL_MISUSE);
}

TEST_MAIN()
