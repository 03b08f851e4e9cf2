/*
** test_http_loop.c -- network.http on a libevent loop (libcurl multi):
** slow calls overlap, a silent upstream stalls nobody else, retries wait
** their delay on the loop, the allowlist holds, runs chain several calls,
** and freeing the loop fails what is in flight.
*/
#include "prov_test.h"
#include <event2/event.h>

static ts_server *srv, *srv2;
static char allow1[64];
static const char *allow[1] = {allow1};

typedef struct lfx {
  struct event_base *base; /* the loop            */
  gavel_runtime *rt;       /* async network.http  */
  gavel_http *h;           /* options             */
  gavel_http_loop *loop;   /* the driver          */
} lfx;

typedef struct job {
  gavel_ruleset *rs;    /* ruleset               */
  gavel_exec *ex;       /* its execution         */
  int done;             /* done() calls          */
  gavel_status st;      /* final status          */
  char out[4096];       /* result or error text  */
  double t_done;        /* when done() ran (ms)  */
} job;

static void lfx_open(lfx *f, const char *policy_spec) {
  gavel_error e;
  f->base = event_base_new();
  CHECK(gavel_runtime_new(NULL, &f->rt, &e) == GAVEL_OK);
  CHECK(gavel_http_new(NULL, &f->h, &e) == GAVEL_OK);
  CHECK(gavel_http_loop_new(f->h, f->base, &f->loop, &e) == GAVEL_OK);
  CHECK(gavel_http_loop_provide(f->loop, f->rt, &e) == GAVEL_OK);
  if (policy_spec) {
    gavel_policy p;
    CHECK(gavel_policy_parse(policy_spec, &p, &e) == GAVEL_OK);
    CHECK(gavel_runtime_set_policy(f->rt, "network.http", &p, &e) ==
          GAVEL_OK);
  }
}

static void lfx_close(lfx *f) {
  gavel_http_loop_free(f->loop);
  gavel_runtime_free(f->rt);
  gavel_http_free(f->h);
  event_base_free(f->base);
}

static void on_done(void *ud, gavel_exec *ex, gavel_status st,
                    const char *out, size_t len, const gavel_error *err) {
  job *j = ud;
  (void)ex;
  j->done++;
  j->st = st;
  j->t_done = now_ms();
  if (st == GAVEL_OK)
    snprintf(j->out, sizeof j->out, "%.*s", (int)len, out);
  else
    snprintf(j->out, sizeof j->out, "%s", err ? err->msg : "");
}

/* Loads a GET of 'url' (timeout) for job 'j' and starts it on the loop. */
static void start(lfx *f, job *j, const char *doc_params, unsigned timeout) {
  gavel_load_opts lo;
  gavel_error e;
  char *doc = call_ruleset("network.http", "GET", doc_params, timeout);
  memset(j, 0, sizeof *j);
  memset(&lo, 0, sizeof lo);
  lo.http_allow = allow;
  lo.n_http_allow = 1;
  CHECK(gavel_ruleset_load(f->rt, doc, strlen(doc), &lo, &j->rs, &e) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(j->rs, &j->ex, &e) == GAVEL_OK);
  CHECK(gavel_http_loop_run(f->loop, j->ex, "{}", 2, 0, on_done, j, &e) ==
        GAVEL_OK);
  CHECK(j->done == 0); /* never from inside the call */
  free(doc);
}

static void url_params(char *buf, size_t n, int port, const char *path) {
  snprintf(buf, n, "[[\"url\",{\"Literal\":\"http://127.0.0.1:%d%s\"}]]", port,
           path);
}

static void job_free(job *j) {
  gavel_exec_free(j->ex);
  gavel_ruleset_free(j->rs);
}

TEST(slow_calls_overlap_on_the_loop) {
  lfx f;
  job j[8];
  char p[256];
  double t0, wall;
  int i, ok = 0;
  lfx_open(&f, NULL);
  url_params(p, sizeof p, ts_port(srv), "/slow?ms=300");
  t0 = now_ms();
  for (i = 0; i < 8; i++)
    start(&f, &j[i], p, 0);
  CHECK(gavel_http_loop_active(f.loop) == 8);
  event_base_dispatch(f.base);
  wall = now_ms() - t0;
  for (i = 0; i < 8; i++) {
    ok += j[i].done == 1 && j[i].st == GAVEL_OK &&
          strstr(j[i].out, "\"json_body\":{\"slow\":300}") != NULL;
    job_free(&j[i]);
  }
  printf("  8 concurrent 300 ms calls took %.1f ms of wall time\n", wall);
  CHECK(ok == 8);
  /* overlapped: serially they would take 2,400 ms (a loose bound: the
  ** machine may be loaded; timing is measured in bench/) */
  CHECK(wall >= 295 && wall < 1500);
  CHECK(gavel_http_loop_active(f.loop) == 0);
  lfx_close(&f);
}

TEST(a_silent_upstream_stalls_nobody_else) {
  lfx f;
  job hang, fast[5];
  char p[256];
  double t0;
  int i, ok = 0;
  lfx_open(&f, NULL);
  url_params(p, sizeof p, ts_port(srv), "/hang");
  t0 = now_ms();
  start(&f, &hang, p, 250);
  url_params(p, sizeof p, ts_port(srv), "/ok");
  for (i = 0; i < 5; i++)
    start(&f, &fast[i], p, 0);
  event_base_dispatch(f.base);
  /* nobody waited behind the silent upstream: every fast call finished
  ** before its 250 ms timeout fired */
  for (i = 0; i < 5; i++) {
    ok += fast[i].st == GAVEL_OK && fast[i].t_done < hang.t_done;
    job_free(&fast[i]);
  }
  CHECK(ok == 5);
  CHECK(hang.done == 1 && hang.st == GAVEL_HOST);
  CHECK(strstr(hang.out, "network.http: timeout after 250 ms") != NULL);
  printf("  silent upstream timed out after %.1f ms (limit 250)\n",
         hang.t_done - t0);
  CHECK(hang.t_done - t0 >= 245 && hang.t_done - t0 < 2000);
  job_free(&hang);
  lfx_close(&f);
}

TEST(retries_wait_their_delay_on_the_loop_and_are_counted) {
  lfx f;
  job j;
  char p[256];
  double t0;
  lfx_open(&f, "retries=2,backoff=50");
  ts_reset_counts(srv);
  url_params(p, sizeof p, ts_port(srv), "/reset");
  t0 = now_ms();
  start(&f, &j, p, 0);
  event_base_dispatch(f.base);
  CHECK(j.done == 1 && j.st == GAVEL_HOST);
  CHECK(ts_hits(srv, "/reset") == 3);
  /* delays: [25, 50] then [50, 100] ms */
  CHECK(j.t_done - t0 >= 75);
  job_free(&j);
  lfx_close(&f);
}

TEST(the_allowlist_holds_on_the_loop) {
  lfx f;
  job a, b;
  char p[512];
  lfx_open(&f, NULL);
  ts_reset_counts(srv);
  ts_reset_counts(srv2);
  url_params(p, sizeof p, ts_port(srv2), "/ok");
  start(&f, &a, p, 0);
  snprintf(p, sizeof p,
           "[[\"url\",{\"Literal\":\"http://127.0.0.1:%d/redirect?to=http%%3A"
           "%%2F%%2F127.0.0.1%%3A%d%%2Fok\"}]]", ts_port(srv), ts_port(srv2));
  start(&f, &b, p, 0);
  event_base_dispatch(f.base);
  CHECK(a.st == GAVEL_HOST && strstr(a.out, "is not in the allowlist"));
  CHECK(b.st == GAVEL_HOST && strstr(b.out, "redirect to host"));
  CHECK(ts_connections(srv2) == 0);
  CHECK(ts_hits(srv, "/redirect") == 1);
  job_free(&a);
  job_free(&b);
  lfx_close(&f);
}

TEST(a_run_chains_several_calls_and_runs_without_calls_are_delivered) {
  lfx f;
  job j, none;
  gavel_load_opts lo;
  gavel_error e;
  char doc[2048];
  lfx_open(&f, NULL);
  snprintf(doc, sizeof doc,
           "{\"config\":{\"name\":\"two\",\"entry_step\":\"a\"},"
           "\"steps\":{\"a\":{\"id\":\"a\","
           "\"name\":\"A\",\"type\":\"action\",\"actions\":["
           "{\"action\":\"external_call\",\"service\":\"network.http\","
           "\"method\":\"GET\",\"params\":[[\"url\",{\"Literal\":"
           "\"http://127.0.0.1:%d/ok\"}]],\"result_variable\":\"x\"},"
           "{\"action\":\"external_call\",\"service\":\"network.http\","
           "\"method\":\"POST\",\"params\":[[\"url\",{\"Literal\":"
           "\"http://127.0.0.1:%d/echo\"}],[\"json_body\",\"$x.payload."
           "json_body\"]],\"result_variable\":\"y\"}],\"next_step\":\"t\"},"
           "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\","
           "\"result\":{\"code\":\"OK\",\"output\":[[\"sent\","
           "\"$y.payload.json_body.body\"]]}}}}",
           ts_port(srv), ts_port(srv));
  memset(&j, 0, sizeof j);
  memset(&lo, 0, sizeof lo);
  lo.http_allow = allow;
  lo.n_http_allow = 1;
  CHECK(gavel_ruleset_load(f.rt, doc, strlen(doc), &lo, &j.rs, &e) ==
        GAVEL_OK);
  gavel_exec_new(j.rs, &j.ex, &e);
  CHECK(gavel_http_loop_run(f.loop, j.ex, "{}", 2, 0, on_done, &j, &e) ==
        GAVEL_OK);
  start(&f, &none, "[]", 0); /* fails at run time: no url */
  event_base_dispatch(f.base);
  CHECK(j.done == 1 && j.st == GAVEL_OK);
  CHECK_STR(j.out, "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"sent\":"
                   "\"{\\\"ok\\\":true}\"}}");
  CHECK(none.done == 1 && none.st == GAVEL_HOST);
  job_free(&j);
  job_free(&none);
  lfx_close(&f);
}

static void stop_loop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  event_base_loopbreak(arg);
}

TEST(freeing_the_loop_fails_the_runs_in_flight) {
  lfx f;
  job j;
  char p[256];
  struct timeval tv = {0, 50000};
  struct event *t;
  lfx_open(&f, NULL);
  url_params(p, sizeof p, ts_port(srv), "/hang");
  start(&f, &j, p, 5000);
  t = evtimer_new(f.base, stop_loop, f.base);
  evtimer_add(t, &tv);
  event_base_dispatch(f.base);
  CHECK(j.done == 0);
  gavel_http_loop_free(f.loop);
  f.loop = NULL;
  CHECK(j.done == 1 && j.st == GAVEL_HOST);
  CHECK(strstr(j.out, "event loop shut down") != NULL);
  event_free(t);
  job_free(&j);
  lfx_close(&f);
}

TEST(submit_refuses_executions_not_waiting_for_network_http) {
  lfx f;
  job j;
  gavel_error e;
  lfx_open(&f, NULL);
  start(&f, &j, "[[\"url\",{\"Literal\":\"http://127.0.0.1:1/\"}]]", 0);
  event_base_dispatch(f.base); /* denied: finished */
  CHECK(gavel_http_loop_submit(f.loop, j.ex, on_done, &j, &e) ==
        GAVEL_MISUSE);
  job_free(&j);
  lfx_close(&f);
}

int main(int argc, char **argv) {
  int i, passed = 0, failed = 0;
  srv = ts_start();
  srv2 = ts_start();
  if (!srv || !srv2)
    return 1;
  snprintf(allow1, sizeof allow1, "127.0.0.1:%d", ts_port(srv));
  for (i = 0; i < tt_n; i++) {
    if (argc > 1 && !strstr(tt_tests[i].name, argv[1]))
      continue;
    tt_fail_cur = 0;
    tt_tests[i].fn();
    if (tt_fail_cur) {
      failed++;
      fprintf(stderr, "FAIL %s\n", tt_tests[i].name);
    } else
      passed++;
  }
  ts_stop(srv);
  ts_stop(srv2);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
