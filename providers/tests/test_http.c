/*
** test_http.c -- network.http on the blocking path against the loopback
** test server: the result shape, methods, headers, query and bodies,
** timeouts (measured), retries only where allowed, the circuit breaker,
** the allowlist (denied hosts are never contacted, redirects re-checked),
** connection reuse, and limits.
*/
#include "prov_test.h"
#include <pthread.h>

static ts_server *srv, *srv2; /* srv2: a host that is never allowed */
static char allow1[64];       /* "127.0.0.1:<srv port>"            */
static const char *allow[1] = {allow1};

typedef struct fx {
  gavel_runtime *rt; /* runtime with network.http */
  gavel_http *h;     /* the provider              */
} fx;

static void fx_open(fx *f, const gavel_http_opts *o) {
  gavel_error e;
  CHECK(gavel_runtime_new(NULL, &f->rt, &e) == GAVEL_OK);
  CHECK(gavel_http_new(o, &f->h, &e) == GAVEL_OK);
  CHECK(gavel_http_provide(f->h, f->rt, &e) == GAVEL_OK);
}

static void fx_close(fx *f) {
  gavel_runtime_free(f->rt);
  gavel_http_free(f->h);
}

static void policy(fx *f, const char *spec) {
  gavel_policy p;
  gavel_error e;
  CHECK(gavel_policy_parse(spec, &p, &e) == GAVEL_OK);
  CHECK(gavel_runtime_set_policy(f->rt, "network.http", &p, &e) == GAVEL_OK);
}

/* One call: method, url path on 'port', extra params (",[...]" or ""). */
static gavel_status call(fx *f, const char *method, int port, const char *path,
                         const char *extra, unsigned timeout, char *out,
                         size_t n, gavel_error *e) {
  char params[2048], *doc;
  gavel_status st;
  snprintf(params, sizeof params,
           "[[\"url\",{\"Literal\":\"http://127.0.0.1:%d%s\"}]%s]", port, path,
           extra);
  doc = call_ruleset("network.http", method, params, timeout);
  st = run_doc(f->rt, doc, allow, 1, out, n, e);
  free(doc);
  return st;
}

TEST(a_get_lands_in_the_result_variable_exactly_in_ordos_shape) {
  fx f;
  char out[2048];
  gavel_error e;
  fx_open(&f, NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, out, sizeof out, &e) ==
        GAVEL_OK);
  CHECK_STR(out,
            "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"r\":{"
            "\"capability\":\"network.http\",\"operation\":\"GET\","
            "\"payload\":{\"status\":200,\"body\":\"{\\\"ok\\\":true}\","
            "\"json_body\":{\"ok\":true},\"headers\":{\"content-type\":"
            "\"application/json\",\"content-length\":\"11\",\"x-test\":"
            "\"yes\"}},\"metadata\":{\"status\":\"200\"}}}}");
  fx_close(&f);
}

TEST(the_method_is_case_insensitive_and_json_body_goes_out_as_json) {
  fx f;
  char out[4096];
  gavel_error e;
  cJSON *j;
  fx_open(&f, NULL);
  CHECK(call(&f, "post", ts_port(srv), "/echo",
             ",[\"json_body\",{\"Object\":[[\"a\",{\"Literal\":1}],"
             "[\"b\",{\"Literal\":[true,null]}]]}]",
             0, out, sizeof out, &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.operation"), "post");
  CHECK_STR(jstr(j, "output.r.payload.json_body.method"), "POST");
  CHECK_STR(jstr(j, "output.r.payload.json_body.body"),
            "{\"a\":1,\"b\":[true,null]}");
  CHECK_STR(jstr(j, "output.r.payload.json_body.headers.content-type"),
            "application/json");
  CHECK(jget(j, "output.r.payload.json_body.headers.expect") == NULL);
  cJSON_Delete(j);
  fx_close(&f);
}

TEST(headers_query_and_plain_bodies_are_sent_as_given) {
  fx f;
  char out[4096];
  gavel_error e;
  cJSON *j;
  fx_open(&f, NULL);
  CHECK(call(&f, "PUT", ts_port(srv), "/echo?x=1",
             ",[\"headers\",{\"Object\":[[\"X-Api-Key\",{\"Literal\":\"k1\"}],"
             "[\"X-N\",{\"Literal\":7}]]}],"
             "[\"query\",{\"Object\":[[\"q\",{\"Literal\":\"a b&c\"}],"
             "[\"n\",{\"Literal\":[1,2]}]]}],"
             "[\"body\",{\"Literal\":\"plain text\"}]",
             0, out, sizeof out, &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.json_body.method"), "PUT");
  CHECK_STR(jstr(j, "output.r.payload.json_body.query"),
            "x=1&q=a%20b%26c&n=1&n=2");
  CHECK_STR(jstr(j, "output.r.payload.json_body.headers.x-api-key"), "k1");
  CHECK_STR(jstr(j, "output.r.payload.json_body.headers.x-n"), "7");
  CHECK_STR(jstr(j, "output.r.payload.json_body.body"), "plain text");
  /* no form content type is invented for a plain body */
  CHECK(jget(j, "output.r.payload.json_body.headers.content-type") == NULL);
  cJSON_Delete(j);
  fx_close(&f);
}

/* Floats in the query and headers go out in full, as Ordo displays them
** (no exponent): they were cut to 63 characters (1e70 went out as 1e62,
** 1e-70 as 0). */
TEST(float_query_values_and_headers_go_out_whole) {
  fx f;
  char out[8192], big[80], small[80], want[256];
  gavel_error e;
  cJSON *j;
  fx_open(&f, NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/echo",
             ",[\"headers\",{\"Object\":[[\"X-F\",{\"Literal\":1e70}]]}],"
             "[\"query\",{\"Object\":[[\"big\",{\"Literal\":1e70}],"
             "[\"small\",{\"Literal\":1e-70}]]}]",
             0, out, sizeof out, &e) == GAVEL_OK);
  big[0] = '1';
  memset(big + 1, '0', 70);
  big[71] = 0;
  memcpy(small, "0.", 2);
  memset(small + 2, '0', 69);
  memcpy(small + 71, "1", 2);
  snprintf(want, sizeof want, "big=%s&small=%s", big, small);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.json_body.query"), want);
  CHECK_STR(jstr(j, "output.r.payload.json_body.headers.x-f"), big);
  cJSON_Delete(j);
  fx_close(&f);
}

TEST(a_non_2xx_status_is_a_result_not_an_error) {
  fx f;
  char out[2048];
  gavel_error e;
  cJSON *j;
  fx_open(&f, NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/status?code=503", "", 0, out,
             sizeof out, &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK(jnum(j, "output.r.payload.status") == 503);
  CHECK_STR(jstr(j, "output.r.payload.json_body.error"), "status 503");
  CHECK_STR(jstr(j, "output.r.metadata.status"), "503");
  cJSON_Delete(j);
  fx_close(&f);
}

TEST(invalid_json_binary_and_repeated_headers_are_kept_as_text) {
  fx f;
  char out[2048];
  gavel_error e;
  cJSON *j;
  fx_open(&f, NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/badjson", "", 0, out, sizeof out,
             &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.body"), "{not json");
  CHECK(jget(j, "output.r.payload.json_body") == NULL);
  cJSON_Delete(j);
  CHECK(call(&f, "GET", ts_port(srv), "/binary", "", 0, out, sizeof out,
             &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.body"), "\xEF\xBF\xBD\xEF\xBF\xBDok");
  cJSON_Delete(j);
  CHECK(call(&f, "GET", ts_port(srv), "/multi", "", 0, out, sizeof out,
             &e) == GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.headers.x-multi"), "a, b");
  cJSON_Delete(j);
  CHECK(call(&f, "HEAD", ts_port(srv), "/ok", "", 0, out, sizeof out, &e) ==
        GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.body"), "");
  CHECK(jnum(j, "output.r.payload.status") == 200);
  cJSON_Delete(j);
  fx_close(&f);
}

/* A header repeated 7,000 times (within the 64 KiB header cap) is one
** value "v, v, ..." built in one buffer: joined anew at every repeat it
** took ~75 MB of the run's memory, over this run's 16 MiB. */
TEST(a_header_repeated_thousands_of_times_is_joined_once) {
  fx f;
  gavel_config cfg;
  gavel_error e;
  static char out[65536];
  cJSON *j;
  const char *hv;
  memset(&cfg, 0, sizeof cfg);
  cfg.max_run_bytes = 16u << 20;
  CHECK(gavel_runtime_new(&cfg, &f.rt, &e) == GAVEL_OK);
  CHECK(gavel_http_new(NULL, &f.h, &e) == GAVEL_OK);
  CHECK(gavel_http_provide(f.h, f.rt, &e) == GAVEL_OK);
  CHECK(call(&f, "GET", ts_port(srv), "/manyhdr?n=7000", "", 0, out,
             sizeof out, &e) == GAVEL_OK);
  if (e.code != GAVEL_OK)
    fprintf(stderr, "  %s\n", e.msg);
  j = cJSON_Parse(out);
  hv = jstr(j, "output.r.payload.headers.x-r");
  CHECK(hv != NULL && strlen(hv) == 3 * 7000 - 2);
  CHECK(hv != NULL && !strncmp(hv, "v, v, v", 7));
  cJSON_Delete(j);
  fx_close(&f);
}

/* Response headers past the 64 KiB kept (12,000 repeats: 72 KB) fail the
** call, as the cosocket provider does; they were left out of
** payload.headers while the call succeeded. */
TEST(response_headers_past_the_cap_fail_the_call) {
  fx f;
  gavel_error e;
  static char out[65536];
  fx_open(&f, NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/manyhdr?n=12000", "", 0, out,
             sizeof out, &e) != GAVEL_OK);
  CHECK(strstr(e.msg, "response headers larger than 65536 bytes") != NULL);
  fx_close(&f);
}

TEST(timeouts_fire_on_time) {
  fx f;
  gavel_error e;
  double t0, dt;
  fx_open(&f, NULL);
  t0 = now_ms();
  CHECK(call(&f, "GET", ts_port(srv), "/slow?ms=3000", "", 200, NULL, 0,
             &e) == GAVEL_HOST);
  dt = now_ms() - t0;
  printf("  timeout 200 ms (slow upstream) fired after %.1f ms\n", dt);
  CHECK(dt >= 195 && dt < 400);
  CHECK(strstr(e.msg, "network.http: timeout after 200 ms") != NULL);
  CHECK(strstr(e.msg, "Capability invocation failed for network.http") !=
        NULL);
  t0 = now_ms();
  CHECK(call(&f, "GET", ts_port(srv), "/hang", "", 150, NULL, 0, &e) ==
        GAVEL_HOST);
  dt = now_ms() - t0;
  printf("  timeout 150 ms (silent upstream) fired after %.1f ms\n", dt);
  CHECK(dt >= 145 && dt < 350);
  /* the policy caps the action's timeout */
  policy(&f, "timeout=120");
  t0 = now_ms();
  CHECK(call(&f, "GET", ts_port(srv), "/slow?ms=3000", "", 5000, NULL, 0,
             &e) == GAVEL_HOST);
  dt = now_ms() - t0;
  printf("  action 5000 ms capped by policy 120 ms: fired after %.1f ms\n",
         dt);
  CHECK(dt >= 115 && dt < 350);
  fx_close(&f);
}

TEST(retries_happen_only_for_idempotent_methods_and_as_configured) {
  fx f;
  gavel_error e;
  fx_open(&f, NULL);
  policy(&f, "retries=2,backoff=10");
  ts_reset_counts(srv);
  CHECK(call(&f, "GET", ts_port(srv), "/reset", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(ts_hits(srv, "/reset") == 3);
  ts_reset_counts(srv);
  CHECK(call(&f, "POST", ts_port(srv), "/reset", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(ts_hits(srv, "/reset") == 1);
  ts_reset_counts(srv);
  CHECK(call(&f, "delete", ts_port(srv), "/slow?ms=1000", "", 60, NULL, 0,
             &e) == GAVEL_HOST);
  CHECK(ts_hits(srv, "/slow") == 3);
  /* a 5xx is an answer, so it is not retried */
  ts_reset_counts(srv);
  CHECK(call(&f, "GET", ts_port(srv), "/status?code=500", "", 0, NULL, 0,
             &e) == GAVEL_OK);
  CHECK(ts_hits(srv, "/status") == 1);
  fx_close(&f);
}

TEST(the_circuit_opens_and_half_opens) {
  fx f;
  gavel_error e;
  fx_open(&f, NULL);
  policy(&f, "breaker=2,reset=150");
  ts_reset_counts(srv);
  CHECK(call(&f, "GET", ts_port(srv), "/reset", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(call(&f, "GET", ts_port(srv), "/reset", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "Capability circuit open: network.http "
                      "(retry_after_ms=") != NULL);
  CHECK(ts_hits(srv, "/ok") == 0); /* refused without a request */
  sleep_ms(170);
  CHECK(call(&f, "GET", ts_port(srv), "/reset", "", 0, NULL, 0, &e) ==
        GAVEL_HOST); /* the half-open trial fails: open again */
  CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "circuit open") != NULL);
  CHECK(ts_hits(srv, "/reset") == 3 && ts_hits(srv, "/ok") == 0);
  sleep_ms(170);
  CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_OK); /* trial succeeds: closed */
  CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_OK);
  CHECK(ts_hits(srv, "/ok") == 2);
  fx_close(&f);
}

/* Runs GET url with the given allowlist; returns the status. */
static gavel_status get_url(fx *f, const char *url, const char *const *al,
                            size_t n, gavel_error *e) {
  char params[1024], *doc;
  gavel_status st;
  snprintf(params, sizeof params, "[[\"url\",{\"Literal\":\"%s\"}]]", url);
  doc = call_ruleset("network.http", "GET", params, 0);
  st = run_doc(f->rt, doc, al, n, NULL, 0, e);
  free(doc);
  return st;
}

TEST(denied_hosts_are_never_contacted) {
  fx f;
  gavel_error e;
  char url[512];
  const char *star[1] = {"*"}, *anyport[1] = {"http://127.0.0.1"},
             *https_only[1] = {"https://127.0.0.1"};
  fx_open(&f, NULL);
  ts_reset_counts(srv);
  ts_reset_counts(srv2);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", ts_port(srv2));
  CHECK(get_url(&f, url, allow, 1, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "network.http: host 127.0.0.1:") != NULL);
  CHECK(strstr(e.msg, "is not in the allowlist") != NULL);
  CHECK(get_url(&f, url, NULL, 0, &e) == GAVEL_HOST); /* no allowlist */
  CHECK(get_url(&f, url, https_only, 1, &e) == GAVEL_HOST);
  snprintf(url, sizeof url, "http://localhost:%d/ok", ts_port(srv));
  CHECK(get_url(&f, url, allow, 1, &e) == GAVEL_HOST); /* other name */
  snprintf(url, sizeof url, "http://127.0.0.1:%d@127.0.0.2:%d/ok",
           ts_port(srv), ts_port(srv));
  CHECK(get_url(&f, url, allow, 1, &e) == GAVEL_HOST); /* user-info trick */
  CHECK(get_url(&f, "ftp://127.0.0.1/x", star, 1, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "scheme 'ftp' is not allowed") != NULL);
  /* a redirect from an allowed host to a denied one stops there */
  snprintf(url, sizeof url,
           "http://127.0.0.1:%d/redirect?to=http%%3A%%2F%%2F127.0.0.1%%3A%d"
           "%%2Fok", ts_port(srv), ts_port(srv2));
  CHECK(get_url(&f, url, allow, 1, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "network.http: redirect to host 127.0.0.1:") != NULL);
  CHECK(ts_hits(srv, "/redirect") == 1);
  CHECK(ts_connections(srv2) == 0);
  CHECK(ts_hits(srv, "/ok") == 0);
  /* entries without a port, and "*", allow any port */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", ts_port(srv2));
  CHECK(get_url(&f, url, anyport, 1, &e) == GAVEL_OK);
  CHECK(get_url(&f, url, star, 1, &e) == GAVEL_OK);
  CHECK(ts_hits(srv2, "/ok") == 2);
  fx_close(&f);
}

TEST(the_allowlist_matcher_follows_its_documented_forms) {
  const char *a1[] = {"api.example.com"}, *a2[] = {"api.example.com:8443"},
             *a3[] = {"https://api.example.com"}, *a4[] = {"*.example.com"},
             *a5[] = {"[::1]:8080"}, *a6[] = {"API.Example.COM."};
  char why[256];
  CHECK(gavel_http_allowed("https://api.example.com/x", a1, 1, why, 256));
  CHECK(gavel_http_allowed("http://api.example.com:81/x", a1, 1, why, 256));
  CHECK(!gavel_http_allowed("https://api.example.com/x", a2, 1, why, 256));
  CHECK_STR(why, "network.http: host api.example.com:443 is not in the "
                 "allowlist");
  CHECK(gavel_http_allowed("https://api.example.com:8443/", a2, 1, why, 256));
  CHECK(gavel_http_allowed("https://api.example.com/", a3, 1, why, 256));
  CHECK(!gavel_http_allowed("http://api.example.com/", a3, 1, why, 256));
  CHECK(gavel_http_allowed("https://a.b.example.com/", a4, 1, why, 256));
  CHECK(!gavel_http_allowed("https://example.com/", a4, 1, why, 256));
  CHECK(!gavel_http_allowed("https://badexample.com/", a4, 1, why, 256));
  CHECK(gavel_http_allowed("http://[::1]:8080/", a5, 1, why, 256));
  CHECK(!gavel_http_allowed("http://[::1]:8081/", a5, 1, why, 256));
  CHECK(gavel_http_allowed("http://api.EXAMPLE.com./", a6, 1, why, 256));
  CHECK(!gavel_http_allowed("file:///etc/passwd", a1, 1, why, 256));
  CHECK(!gavel_http_allowed("not a url", a1, 1, why, 256));
}

TEST(allowed_redirects_are_followed_with_the_right_method) {
  fx f;
  char out[4096], extra[512];
  gavel_error e;
  cJSON *j;
  const char *both[2];
  char allow2[64];
  fx_open(&f, NULL);
  CHECK(call(&f, "POST", ts_port(srv), "/redirect?to=%2Fecho&code=307",
             ",[\"body\",{\"Literal\":\"keep\"}]", 0, out, sizeof out, &e) ==
        GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.json_body.method"), "POST");
  CHECK_STR(jstr(j, "output.r.payload.json_body.body"), "keep");
  cJSON_Delete(j);
  CHECK(call(&f, "POST", ts_port(srv), "/redirect?to=%2Fecho&code=302",
             ",[\"body\",{\"Literal\":\"drop\"}]", 0, out, sizeof out, &e) ==
        GAVEL_OK);
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.json_body.method"), "GET");
  CHECK_STR(jstr(j, "output.r.payload.json_body.body"), "");
  cJSON_Delete(j);
  /* credentials are dropped when the redirect leaves the origin */
  snprintf(allow2, sizeof allow2, "127.0.0.1:%d", ts_port(srv2));
  both[0] = allow1;
  both[1] = allow2;
  snprintf(extra, sizeof extra,
           "[[\"url\",{\"Literal\":\"http://127.0.0.1:%d/redirect?to=http%%3A"
           "%%2F%%2F127.0.0.1%%3A%d%%2Fecho\"}],[\"headers\",{\"Object\":[["
           "\"Authorization\",{\"Literal\":\"secret\"}],[\"X-Keep\","
           "{\"Literal\":\"1\"}]]}]]",
           ts_port(srv), ts_port(srv2));
  {
    char *doc = call_ruleset("network.http", "GET", extra, 0);
    CHECK(run_doc(f.rt, doc, both, 2, out, sizeof out, &e) == GAVEL_OK);
    free(doc);
  }
  j = cJSON_Parse(out);
  CHECK_STR(jstr(j, "output.r.payload.json_body.headers.x-keep"), "1");
  CHECK(jget(j, "output.r.payload.json_body.headers.authorization") == NULL);
  cJSON_Delete(j);
  /* a redirect loop ends with an error */
  CHECK(call(&f, "GET", ts_port(srv), "/loop", "", 0, out, sizeof out, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "too many redirects") != NULL);
  fx_close(&f);
}

TEST(connections_are_reused_across_calls) {
  fx f;
  gavel_error e;
  int i;
  fx_open(&f, NULL);
  ts_reset_counts(srv);
  for (i = 0; i < 5; i++)
    CHECK(call(&f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
          GAVEL_OK);
  CHECK(ts_hits(srv, "/ok") == 5);
  CHECK(ts_connections(srv) == 1);
  fx_close(&f);
}

typedef struct worker_arg {
  fx *f;   /* shared runtime and provider */
  int ok;  /* successful calls            */
} worker_arg;

static void *worker(void *p) {
  worker_arg *w = p;
  gavel_error e;
  int i;
  for (i = 0; i < 10; i++)
    if (call(w->f, "GET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_OK)
      w->ok++;
  return NULL;
}

TEST(one_provider_serves_many_threads_with_a_handle_each) {
  fx f;
  pthread_t th[4];
  worker_arg w[4];
  int i, ok = 0;
  fx_open(&f, NULL);
  ts_reset_counts(srv);
  for (i = 0; i < 4; i++) {
    w[i].f = &f;
    w[i].ok = 0;
    pthread_create(&th[i], NULL, worker, &w[i]);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    ok += w[i].ok;
  }
  CHECK(ok == 40);
  CHECK(ts_connections(srv) == 4);
  fx_close(&f);
}

TEST(bad_parameters_and_oversized_bodies_are_clear_errors) {
  fx f;
  gavel_http_opts o;
  gavel_error e;
  char *doc;
  memset(&o, 0, sizeof o);
  o.max_body_bytes = 1000;
  fx_open(&f, &o);
  CHECK(call(&f, "GET", ts_port(srv), "/big?n=5000", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "response body exceeds 1000 bytes") != NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/big?n=1000", "", 0, NULL, 0, &e) ==
        GAVEL_OK);
  CHECK(call(&f, "GET", ts_port(srv), "/ok",
             ",[\"headers\",{\"Object\":[[\"X-A\",{\"Literal\":\"1\\r\\nX-B: "
             "2\"}]]}]", 0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "line break") != NULL);
  CHECK(call(&f, "GET", ts_port(srv), "/ok",
             ",[\"headers\",{\"Object\":[[\"Bad Name\",{\"Literal\":\"1\"}]]}]",
             0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "invalid header name") != NULL);
  CHECK(call(&f, "G ET", ts_port(srv), "/ok", "", 0, NULL, 0, &e) ==
        GAVEL_HOST);
  CHECK(strstr(e.msg, "invalid method") != NULL);
  CHECK(call(&f, "POST", ts_port(srv), "/ok",
             ",[\"body\",{\"Literal\":\"a\"}],[\"json_body\",{\"Literal\":1}]",
             0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "not both") != NULL);
  doc = call_ruleset("network.http", "GET", "[[\"u\",{\"Literal\":1}]]", 0);
  CHECK(run_doc(f.rt, doc, allow, 1, NULL, 0, &e) == GAVEL_HOST);
  CHECK(strstr(e.msg, "parameter 'url' (a string) is required") != NULL);
  CHECK(strstr(e.msg, "(at steps.start.actions[0])") != NULL);
  free(doc);
  fx_close(&f);
}

TEST(an_ungranted_capability_fails_at_load_naming_the_action) {
  fx f;
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_error e;
  const char *grants[1] = {"metrics.prometheus"};
  char *doc = call_ruleset("network.http", "GET",
                           "[[\"url\",{\"Literal\":\"http://x/\"}]]", 0);
  fx_open(&f, NULL);
  memset(&lo, 0, sizeof lo);
  lo.grants = grants;
  lo.n_grants = 1;
  CHECK(gavel_ruleset_load(f.rt, doc, strlen(doc), &lo, &rs, &e) ==
        GAVEL_CAPDENIED);
  CHECK(strstr(e.msg, "network.http") != NULL);
  CHECK(strstr(e.path, "steps.start.actions[0]") != NULL);
  CHECK(rs == NULL);
  free(doc);
  fx_close(&f);
}

int main(int argc, char **argv) {
  int i, passed = 0, failed = 0;
  srv = ts_start();
  srv2 = ts_start();
  if (!srv || !srv2) {
    fprintf(stderr, "cannot start the test servers\n");
    return 1;
  }
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
