/*
** fuzz_common.c -- see fuzz_common.h.
*/
#include "fuzz_common.h"
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fz_fail(const char *why, const char *detail, size_t detail_len) {
  fprintf(stderr, "\n==fuzz== FINDING: %s\n", why);
  if (detail) {
    if (detail_len > 400)
      detail_len = 400;
    fprintf(stderr, "==fuzz== detail: %.*s\n", (int)detail_len, detail);
  }
  abort();
}

uint64_t fz_hash(const uint8_t *d, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ d[i]) * 1099511628211ull;
  return h;
}

void fz_split(const uint8_t *d, size_t n, const uint8_t **a, size_t *a_len,
              const uint8_t **b, size_t *b_len) {
  const uint8_t *z = n ? memchr(d, 0, n) : NULL;
  *a = d;
  if (!z) {
    *a_len = n;
    *b = NULL;
    *b_len = 0;
    return;
  }
  *a_len = (size_t)(z - d);
  *b = z + 1;
  *b_len = n - *a_len - 1;
}

void fz_check_error(gavel_status st, const gavel_error *e) {
  if ((int)st < 0 || st >= GAVEL_STATUS__END)
    fz_fail("status outside the status map", NULL, 0);
  if (!memchr(e->msg, 0, sizeof e->msg) || !memchr(e->path, 0, sizeof e->path))
    fz_fail("gavel_error text not NUL-terminated", NULL, 0);
  if (st != GAVEL_OK && st != GAVEL_PENDING) {
    if (e->code != st)
      fz_fail("gavel_error.code differs from the returned status", e->msg,
              strlen(e->msg));
    if (!e->msg[0])
      fz_fail("failure with an empty error message", gavel_status_name(st),
              strlen(gavel_status_name(st)));
  }
}

void fz_check_json(const char *what, const char *p, size_t n) {
  cJSON *j;
  if (!p)
    fz_fail(what, "NULL output on GAVEL_OK", 23);
  j = cJSON_ParseWithLength(p, n);
  if (!j)
    fz_fail(what, p, n);
  cJSON_Delete(j);
}

/* ---- providers ---- */

static void sync_provider(void *ud, const gavel_host_call *call,
                          gavel_reply *reply) {
  uint64_t h = fz_hash((const uint8_t *)call->params, call->params_len);
  (void)ud;
  if (!call->capability || !call->operation || !call->params)
    fz_fail("host call with a NULL field", NULL, 0);
  fz_check_json("host call params are not JSON", call->params,
                call->params_len);
  switch ((h ^ call->attempt) % 5) {
  case 0:
    gavel_reply_error(reply, "fuzz provider failure");
    break;
  case 1:
    gavel_reply_timeout(reply, "fuzz provider timeout");
    break;
  case 2:
    /* a malformed payload must be a host error, not a crash */
    gavel_reply_payload(reply, "{oops", 5, NULL, 0);
    break;
  case 3:
    gavel_reply_payload(reply, "{\"country\":\"DE\",\"n\":1,\"a\":[1,2.5,null]}",
                        38, "{\"src\":\"fuzz\"}", 14);
    break;
  default: /* echo */
    gavel_reply_payload(reply, call->params, call->params_len, NULL, 0);
    break;
  }
}

static gavel_ruleset *current_rs; /* the ruleset fz_run is running */

static gavel_ruleset *resolver(void *ud, const char *name) {
  (void)ud;
  (void)name;
  return current_rs;
}

/* Every run is observed, so runs take the paths observed runs take (the
** decision chain and the straight path included, gavel_config.jit / the
** GAVEL_JIT variable permitting): the event must be well formed, and a
** successful run's result text JSON with a code. */
static void observer(void *ud, const gavel_event *ev) {
  (void)ud;
  if (!ev->ruleset || !ev->message || !ev->version || !ev->code)
    fz_fail("event with a NULL field", NULL, 0);
  if (ev->kind == GAVEL_EVENT_RUN && ev->status != GAVEL_OK && ev->result)
    fz_fail("failed run event with a result", ev->result, ev->result_len);
  if (ev->kind == GAVEL_EVENT_RUN && ev->status == GAVEL_OK && ev->result) {
    fz_check_json("run event result", ev->result, ev->result_len);
    if (ev->result_len < 9 || memcmp(ev->result, "{\"code\":", 8))
      fz_fail("run event result without a leading code", ev->result,
              ev->result_len);
  }
  if (ev->kind == GAVEL_EVENT_RUN && ev->gas_used > 2000000)
    fz_fail("run event: gas used over the host ceiling", NULL, 0);
}

void fz_config(gavel_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->abi = GAVEL_VERSION_NUM;
  cfg->gas_limit = 200000;
  cfg->max_input_bytes = 1 << 20;
  cfg->max_gas = 2000000;
  cfg->max_steps = 10000;
  cfg->max_timeout_ms = 2000;
  cfg->max_run_bytes = 64u << 20;
  cfg->max_result_bytes = 4u << 20;
  cfg->max_call_bytes = 1u << 20;
}

int fz_mentions(const uint8_t *s, size_t n, const char *const *words) {
  size_t i, k;
  for (k = 0; words[k]; k++) {
    size_t w = strlen(words[k]);
    for (i = 0; i + w <= n; i++)
      if (memcmp(s + i, words[k], w) == 0)
        return 1;
  }
  return 0;
}


gavel_runtime *fz_runtime(void) { return fz_runtime_jit(0); }

gavel_runtime *fz_runtime_jit(int jit) {
  static gavel_runtime *rts[4];
  static const char *const async_caps[] = {"geo.lookup", "demo.echo",
                                           "network.http", "async"};
  static const char *const sync_caps[] = {"test.sync", "calc", "sync",
                                          "metrics.prometheus"};
  gavel_runtime *rt;
  gavel_config cfg;
  gavel_error e;
  size_t i;
  if (jit < 0 || jit > 3)
    abort();
  if (rts[jit])
    return rts[jit];
  fz_config(&cfg);
  cfg.jit = jit;
  if (gavel_runtime_new(&cfg, &rt, &e) != GAVEL_OK) {
    fprintf(stderr, "gavel_runtime_new: %s\n", e.msg);
    abort();
  }
  for (i = 0; i < sizeof async_caps / sizeof *async_caps; i++)
    gavel_runtime_provide(rt, async_caps[i], NULL, NULL, &e);
  for (i = 0; i < sizeof sync_caps / sizeof *sync_caps; i++)
    gavel_runtime_provide(rt, sync_caps[i], sync_provider, NULL, &e);
  gavel_runtime_set_resolver(rt, resolver, NULL);
  gavel_runtime_add_observer(rt, observer, NULL, &e);
  rts[jit] = rt;
  return rt;
}

static void diag(void *ud, gavel_diag_level level, const gavel_error *e) {
  (void)ud;
  if (level != GAVEL_DIAG_ERROR && level != GAVEL_DIAG_WARNING)
    fz_fail("diagnostic with an unknown level", NULL, 0);
  if (!memchr(e->msg, 0, sizeof e->msg) || !e->msg[0])
    fz_fail("diagnostic without a message", NULL, 0);
}

const gavel_load_opts *fz_load_opts(void) {
  static gavel_load_opts o;
  o.diag = diag;
  o.no_capability_check = 1;
  return &o;
}

static void check_result(gavel_status st, const gavel_error *e,
                         const char *out, size_t out_len) {
  fz_check_error(st, e);
  if (st == GAVEL_OK)
    fz_check_json("run result is not valid JSON", out, out_len);
}

gavel_status fz_run(gavel_ruleset *rs, const char *input, size_t input_len,
                    unsigned flags, uint64_t seed) {
  return fz_run_text(rs, input, input_len, flags, seed, NULL, 0);
}

/* Step durations of a trace ("duration_us":N) read 0: they are the only
** clock in a result. */
static void zero_durations(char *t) {
  static const char key[] = "\"duration_us\":";
  char *p = t, *d;
  while ((p = strstr(p, key)) != NULL) {
    p += sizeof key - 1;
    for (d = p; *d >= '0' && *d <= '9'; d++)
      ;
    if (d > p) {
      *p = '0';
      memmove(p + 1, d, strlen(d) + 1);
    }
  }
}

/* What a run ended with, for comparing two runs: the result text, or the
** error's message (truncated to 'cap' - 1 bytes). */
static void keep_text(char *text, size_t cap, gavel_status st,
                      const gavel_error *e, const char *out, size_t out_len) {
  if (!text || !cap)
    return;
  if (st == GAVEL_OK)
    snprintf(text, cap, "ok %.*s", (int)(out_len < cap ? out_len : cap), out);
  else
    snprintf(text, cap, "%d %s", (int)st, e->msg);
  zero_durations(text);
}

gavel_status fz_run_text(gavel_ruleset *rs, const char *input,
                         size_t input_len, unsigned flags, uint64_t seed,
                         char *text, size_t cap) {
  gavel_exec *ex = NULL;
  gavel_error e;
  gavel_host_call hc;
  const char *out = NULL;
  size_t out_len = 0;
  gavel_status st;
  int k;
  if (gavel_exec_new(rs, &ex, &e) != GAVEL_OK) {
    keep_text(text, cap, e.code, &e, NULL, 0); /* not the last input's */
    return e.code;
  }
  current_rs = rs;
  st = gavel_exec_run_json(ex, input, input_len, flags, &out, &out_len, &e);
  check_result(st, &e, out, out_len);
  keep_text(text, cap, st, &e, out, out_len);
  for (k = 0; st == GAVEL_PENDING && k < 64; k++) {
    unsigned choice = (unsigned)(seed >> ((k * 3) % 60)) & 7;
    if (gavel_exec_pending(ex, &hc, &e) != GAVEL_OK)
      fz_fail("GAVEL_PENDING but gavel_exec_pending fails", e.msg,
              strlen(e.msg));
    if (!hc.capability || !hc.operation || !hc.params || !hc.path)
      fz_fail("pending host call with a NULL field", NULL, 0);
    fz_check_json("pending call params are not JSON", hc.params,
                  hc.params_len);
    switch (choice) {
    case 0:
    case 1:
    case 2: /* echo: keeps call chains going */
      st = gavel_exec_resume_json(ex, hc.params, hc.params_len, NULL, 0, &out,
                                  &out_len, &e);
      break;
    case 3:
      st = gavel_exec_resume_json(
          ex, "{\"country\":\"DE\",\"score\":0.5,\"list\":[1,\"x\",{}]}", 46,
          "{\"status\":\"200\"}", 16, &out, &out_len, &e);
      break;
    case 4:
      st = gavel_exec_resume_error(ex, "fuzz: upstream failed", &out,
                                   &out_len, &e);
      break;
    case 5: /* malformed payload / metadata: host errors */
      st = gavel_exec_resume_json(ex, "{oops", 5, "[1]", 3, &out, &out_len,
                                  &e);
      break;
    case 6:
      st = gavel_exec_resume_json(ex, "null", 4, NULL, 0, &out, &out_len, &e);
      break;
    default:
      gavel_exec_abandon(ex);
      if (gavel_exec_pending(ex, &hc, &e) != GAVEL_MISUSE)
        fz_fail("pending call still there after abandon", NULL, 0);
      st = GAVEL_OK;
      out = "{}";
      out_len = 2;
      break;
    }
    check_result(st, &e, out, out_len);
    keep_text(text, cap, st, &e, out, out_len);
  }
  if (st == GAVEL_PENDING) {
    /* resuming an abandoned exec is misuse, not a crash */
    gavel_exec_abandon(ex);
    if (gavel_exec_resume_error(ex, "x", &out, &out_len, &e) != GAVEL_MISUSE)
      fz_fail("resume after abandon is not GAVEL_MISUSE", NULL, 0);
  }
  gavel_exec_free(ex);
  current_rs = NULL;
  return st;
}

/* 1 when two runs' texts differ where they must not: not for documents
** that read the clock or random numbers ('doc' may be NULL: a fixed
** ruleset that does not), nor for runs that timed out or reached the
** per-run memory cap (those depend on each path's speed and frugality). */
static int differ(const char *on, const char *off, const uint8_t *doc,
                  size_t doc_len) {
  static const char *const clocks[] = {"now", "uuid", "rand", NULL};
  if (!strcmp(on, off) || (doc && fz_mentions(doc, doc_len, clocks)))
    return 0;
  return !strstr(on, "timeout") && !strstr(off, "timeout") &&
         !strstr(on, "max_run_bytes") && !strstr(off, "max_run_bytes");
}

gavel_status fz_load_pair(const uint8_t *doc, size_t doc_len,
                          gavel_ruleset **on, gavel_ruleset **off) {
  gavel_error e, e_off;
  gavel_status st, st_off;
  *on = *off = NULL;
  st = gavel_ruleset_load(fz_runtime_jit(1), (const char *)doc, doc_len,
                          fz_load_opts(), on, &e);
  fz_check_error(st, &e);
  st_off = gavel_ruleset_load(fz_runtime_jit(2), (const char *)doc, doc_len,
                              fz_load_opts(), off, &e_off);
  fz_check_error(st_off, &e_off);
  if (st != st_off || (st != GAVEL_OK && strcmp(e.msg, e_off.msg)))
    fz_fail("JIT on and off load differently", e.msg, strlen(e.msg));
  return st;
}

void fz_run_pair(gavel_ruleset *on, gavel_ruleset *off, const char *input,
                 size_t input_len, uint64_t seed, const uint8_t *doc,
                 size_t doc_len, const char *name) {
  static char ton[4096], toff[4096];
  fz_run_text(on, input, input_len, 0, seed, ton, sizeof ton);
  fz_run_text(off, input, input_len, 0, seed, toff, sizeof toff);
  if (differ(ton, toff, doc, doc_len)) {
    fprintf(stderr, "%s%s  jit on:  %.1000s\n  jit off: %.1000s\n",
            name ? name : "", name ? "\n" : "", ton, toff);
    fz_fail("JIT on and off end differently", NULL, 0);
  }
}
