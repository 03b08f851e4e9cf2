/*
** prov_test.h -- helpers shared by the provider tests: rulesets with one
** external_call, running them, clocks, JSON access through cJSON.
*/
#ifndef GAVEL_PROV_TEST_H
#define GAVEL_PROV_TEST_H

#include "gavel_providers.h"
#include "testserver.h"
#include "tinytest.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A ruleset whose step 'start' makes one external_call (service, method,
** params as JSON list text, timeout) into $r and returns {r: $r}. */
static inline char *call_ruleset(const char *service, const char *method,
                          const char *params, unsigned timeout_ms) {
  static const char *fmt =
      "{\"config\":{\"name\":\"calls\",\"version\":\"2.0\"},\"steps\":{"
      "\"start\":{\"id\":\"start\",\"name\":\"S\",\"type\":\"action\","
      "\"actions\":[{\"action\":\"external_call\",\"service\":\"%s\","
      "\"method\":\"%s\",\"params\":%s,\"result_variable\":\"r\","
      "\"timeout_ms\":%u}],\"next_step\":\"t\"},"
      "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{"
      "\"code\":\"OK\",\"output\":[[\"r\",\"$r\"]]}}}}";
  size_t n = strlen(fmt) + strlen(service) + strlen(method) + strlen(params) +
             32;
  char *s = malloc(n);
  snprintf(s, n, fmt, service, method, params, timeout_ms);
  return s;
}

/* Loads 'doc' with an allowlist and runs it once on "{}".  The result JSON
** (or "") is copied to 'out'. */
static inline gavel_status run_doc(gavel_runtime *rt, const char *doc,
                            const char *const *allow, size_t n_allow,
                            char *out, size_t out_size, gavel_error *e) {
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  const char *res = "";
  size_t n = 0;
  gavel_status st;
  memset(&lo, 0, sizeof lo);
  lo.http_allow = allow;
  lo.n_http_allow = n_allow;
  if ((st = gavel_ruleset_load(rt, doc, strlen(doc), &lo, &rs, e)) != GAVEL_OK)
    return st;
  gavel_exec_new(rs, &ex, e);
  st = gavel_exec_run_json(ex, "{}", 2, 0, &res, &n, e);
  if (out)
    snprintf(out, out_size, "%.*s", st == GAVEL_OK ? (int)n : 0, res);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  return st;
}

/* cJSON item at a dotted path ("output.r.payload.status"). */
static inline cJSON *jget(cJSON *root, const char *path) {
  char key[128];
  while (root && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    root = cJSON_GetObjectItemCaseSensitive(root, key);
    path += n + (path[n] == '.');
  }
  return root;
}

static inline const char *jstr(cJSON *root, const char *path) {
  cJSON *v = jget(root, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double jnum(cJSON *root, const char *path) {
  cJSON *v = jget(root, path);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

#endif
