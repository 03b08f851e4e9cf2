/*
** cmd_test.c -- 'gavel test': runs Ordo-format test suites (YAML or JSON)
** against rulesets and reports failures (human, json, junit, tap).
**
** Suite: {description, tests: [{name, description?, input, expect: {code?,
** message?, output?, output_includes?, error?, error_contains?, trace:
** {path?, step_count?, contains_step?}?, duration_max_us?}, skip?, host?,
** gas_max?}]}, or a bare array of cases.  gavel's additions: 'host'
** ({capability: {operation: answer}}) answers host calls without a
** network -- the stubbed capabilities are served through the engine's
** pending/resume protocol, so no provider runs -- and 'gas_max' bounds the
** gas a case may use.  An answer is the payload itself, {"payload": P,
** "metadata": M}, or {"error": "message"}.
*/
#include "cli_replay.h"
#include "runtime.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { R_HUMAN, R_JSON, R_JUNIT, R_TAP };
enum { T_PASS, T_FAIL, T_SKIP };

typedef struct tresult {
  char *suite;  /* suite file                 */
  char *name;   /* case name                  */
  int status;   /* T_PASS, T_FAIL, T_SKIP     */
  char *msg;    /* failure / skip reason      */
  double secs;  /* wall time of the run       */
} tresult;

typedef struct suite {
  const char *file;    /* suite file                          */
  gv_arena arena;      /* its document                        */
  gvalue doc;          /* parsed document                     */
  gavel_ruleset *rs;   /* ruleset under test (borrowed)       */
} suite;

typedef struct tstate {
  cli_env env;
  suite *suites;
  int n_suites;
  tresult *res;
  int n_res, cap_res;
  const gvalue *host;     /* current case's host stubs, or NULL */
  const char *case_name;  /* current case                      */
  uint64_t gas_used;      /* of the last run (observer)        */
  char *stub_text;        /* answer being served (malloc'd)    */
  char *stub_meta;
} tstate;

static void observe_gas(void *ud, const gavel_event *ev) {
  tstate *ts = ud;
  if (ev->kind == GAVEL_EVENT_RUN)
    ts->gas_used = ev->gas_used;
}

static int add_result(tstate *ts, const char *suite, const char *name,
                      int status, const char *msg, double secs) {
  tresult *r;
  if (ts->n_res == ts->cap_res) {
    int cap = ts->cap_res ? ts->cap_res * 2 : 64;
    tresult *n = realloc(ts->res, (size_t)cap * sizeof *n);
    if (!n)
      return 1;
    ts->res = n;
    ts->cap_res = cap;
  }
  r = &ts->res[ts->n_res++];
  r->suite = strdup(suite);
  r->name = strdup(name);
  r->msg = msg ? strdup(msg) : NULL;
  r->status = status;
  r->secs = secs;
  return 0;
}

/* ==== Host stubs ==== */

static int stub_answer(void *ud, const gavel_host_call *hc,
                       const char **payload, size_t *plen, const char **meta,
                       size_t *mlen, char *msg, size_t msz) {
  tstate *ts = ud;
  const gvalue *cap = ts->host ? cli_get(*ts->host, hc->capability) : NULL;
  const gvalue *ans = cap ? cli_get(*cap, hc->operation) : NULL;
  const gvalue *p, *e;
  if (!ans) {
    snprintf(msg, msz,
             "test '%s' has no host answer for capability '%s' operation "
             "'%s' (add host: {%s: {%s: ...}})",
             ts->case_name, hc->capability, hc->operation, hc->capability,
             hc->operation);
    return -1;
  }
  free(ts->stub_text);
  free(ts->stub_meta);
  ts->stub_text = ts->stub_meta = NULL;
  if (ans->tag == GV_OBJ && ans->u.o->len == 1 &&
      (e = cli_get(*ans, "error"))) {
    if (e->tag == GV_STR)
      snprintf(msg, msz, "%s", e->u.s->s);
    else
      snprintf(msg, msz, "host error");
    return 1;
  }
  p = ans;
  if (ans->tag == GV_OBJ && (p = cli_get(*ans, "payload")) &&
      ans->u.o->len <= 2) {
    const gvalue *m = cli_get(*ans, "metadata");
    if (m && !(ts->stub_meta = cli_json_text(*m)))
      goto oom;
  } else
    p = ans;
  if (!(ts->stub_text = cli_json_text(*p)))
    goto oom;
  *payload = ts->stub_text;
  *plen = strlen(ts->stub_text);
  if (ts->stub_meta) {
    *meta = ts->stub_meta;
    *mlen = strlen(ts->stub_meta);
  }
  return 0;
oom:
  snprintf(msg, msz, "out of memory");
  return -1;
}

/* ==== One case ==== */

static const char *str_of(const gvalue *v) {
  return v && v->tag == GV_STR ? v->u.s->s : NULL;
}

/* "expected X, got Y" with values as compact JSON (cut at 200 bytes). */
static void fmt_mismatch(char *out, size_t osz, const char *path, gvalue e,
                         gvalue a) {
  char *et = e.tag == GV_MISSING ? strdup("(absent)") : cli_json_text(e);
  char *at = a.tag == GV_MISSING ? strdup("(absent)") : cli_json_text(a);
  snprintf(out, osz, "%s: expected %.200s, got %.200s", path,
           et ? et : "?", at ? at : "?");
  free(et);
  free(at);
}

/* Checks a finished run against 'expect'; 0 pass, 1 fail (msg set). */
static int check_case(const gvalue *expect, gavel_status st,
                      const gavel_error *err, const char *out, size_t out_len,
                      double us, char *msg, size_t msz) {
  const gvalue *ex_err = expect ? cli_get(*expect, "error") : NULL;
  const gvalue *ex_errc = expect ? cli_get(*expect, "error_contains") : NULL;
  const gvalue *v;
  gv_arena a;
  gvalue res, ea, aa;
  char path[512];
  int bad = 0;
  if (ex_err && ex_err->tag == GV_BOOL && !ex_err->u.i)
    ex_err = NULL;
  if (st != GAVEL_OK) {
    if (!ex_err && !ex_errc) {
      snprintf(msg, msz, "run failed: %s: %s", cli_error_kind(st), err->msg);
      return 1;
    }
    if (str_of(ex_err) && strcmp(str_of(ex_err), err->msg)) {
      snprintf(msg, msz, "error: expected \"%s\", got \"%s\"",
               str_of(ex_err), err->msg);
      return 1;
    }
    if (str_of(ex_errc) && !strstr(err->msg, str_of(ex_errc))) {
      snprintf(msg, msz, "error: expected a message containing \"%s\", got "
                         "\"%s\"", str_of(ex_errc), err->msg);
      return 1;
    }
    return 0;
  }
  if (ex_err || ex_errc) {
    snprintf(msg, msz, "error: expected an error, the run succeeded: %.*s",
             (int)(out_len > 300 ? 300 : out_len), out);
    return 1;
  }
  if (!expect)
    return 0;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  if (gavel__json_parse(&a, out, out_len, NULL, &res, NULL) != GAVEL_OK) {
    snprintf(msg, msz, "result is not JSON");
    gavel__arena_free(&a);
    return 1;
  }
  if ((v = cli_get(*expect, "code")) &&
      cli_diff(*v, cli_get(res, "code") ? *cli_get(res, "code") : gv_missing(),
               0, "code", path, sizeof path, &ea, &aa))
    fmt_mismatch(msg, msz, path, ea, aa), bad = 1;
  else if ((v = cli_get(*expect, "message")) &&
           cli_diff(*v,
                    cli_get(res, "message") ? *cli_get(res, "message")
                                            : gv_missing(),
                    0, "message", path, sizeof path, &ea, &aa))
    fmt_mismatch(msg, msz, path, ea, aa), bad = 1;
  else if ((v = cli_get(*expect, "output")) &&
           cli_diff(*v,
                    cli_get(res, "output") ? *cli_get(res, "output")
                                           : gv_missing(),
                    0, "output", path, sizeof path, &ea, &aa))
    fmt_mismatch(msg, msz, path, ea, aa), bad = 1;
  else if ((v = cli_get(*expect, "output_includes")) &&
           cli_diff(*v,
                    cli_get(res, "output") ? *cli_get(res, "output")
                                           : gv_missing(),
                    1, "output", path, sizeof path, &ea, &aa))
    fmt_mismatch(msg, msz, path, ea, aa), bad = 1;
  else if ((v = cli_get(*expect, "trace"))) {
    const gvalue *tr = cli_get(res, "trace");
    const gvalue *steps = tr ? cli_get(*tr, "steps") : NULL;
    const gvalue *w;
    uint32_t n = steps && steps->tag == GV_ARR ? steps->u.a->len : 0, i;
    if ((w = cli_get(*v, "path")) && tr &&
        cli_diff(*w, cli_get(*tr, "path") ? *cli_get(*tr, "path") : gv_missing(),
                 0, "trace.path", path, sizeof path, &ea, &aa))
      fmt_mismatch(msg, msz, path, ea, aa), bad = 1;
    else if ((w = cli_get(*v, "step_count")) && gv_isnum(*w) &&
             gv_num(*w) != (double)n)
      snprintf(msg, msz, "trace.step_count: expected %g, got %u", gv_num(*w),
               n), bad = 1;
    else if ((w = cli_get(*v, "contains_step")) && w->tag == GV_STR) {
      int found = 0;
      for (i = 0; i < n; i++) {
        const char *id = str_of(cli_get(steps->u.a->items[i], "id"));
        if (id && !strcmp(id, w->u.s->s))
          found = 1;
      }
      if (!found)
        snprintf(msg, msz, "trace: expected a step '%s', the run took %s",
                 w->u.s->s,
                 str_of(tr ? cli_get(*tr, "path") : NULL)
                     ? str_of(cli_get(*tr, "path")) : "no steps"), bad = 1;
    }
  }
  if (!bad && (v = cli_get(*expect, "duration_max_us")) && gv_isnum(*v) &&
      us > gv_num(*v))
    snprintf(msg, msz, "duration: %.0f us, more than duration_max_us %g", us,
             gv_num(*v)), bad = 1;
  gavel__arena_free(&a);
  return bad;
}

static int run_suite(tstate *ts, suite *s, gavel_exec *ex) {
  const gvalue *tests = s->doc.tag == GV_ARR ? &s->doc : cli_get(s->doc, "tests");
  uint32_t i;
  if (!tests || tests->tag != GV_ARR) {
    char m[600];
    snprintf(m, sizeof m, "%s: the suite has no 'tests' array", s->file);
    return add_result(ts, s->file, "(suite)", T_FAIL, m, 0);
  }
  for (i = 0; i < tests->u.a->len; i++) {
    gvalue c = tests->u.a->items[i];
    const gvalue *skip = cli_get(c, "skip"), *input = cli_get(c, "input");
    const gvalue *expect = cli_get(c, "expect"), *gm = cli_get(c, "gas_max");
    char name[256], msg[2048], *in_text;
    const char *out = NULL;
    size_t out_len = 0;
    gavel_error err;
    gavel_status st;
    struct timespec t0, t1;
    double us;
    unsigned flags = 0;
    int bad;
    snprintf(name, sizeof name, "%s",
             str_of(cli_get(c, "name")) ? str_of(cli_get(c, "name")) : "");
    if (!name[0])
      snprintf(name, sizeof name, "case %u", i + 1);
    if (skip && !(skip->tag == GV_BOOL && !skip->u.i) &&
        skip->tag != GV_NULL) {
      add_result(ts, s->file, name, T_SKIP,
                 skip->tag == GV_STR ? skip->u.s->s : NULL, 0);
      continue;
    }
    if (c.tag != GV_OBJ) {
      add_result(ts, s->file, name, T_FAIL, "a test case must be an object",
                 0);
      continue;
    }
    if (!gm && expect)
      gm = cli_get(*expect, "gas_max");
    if (expect && cli_get(*expect, "trace"))
      flags |= GAVEL_RUN_TRACE;
    if (!(in_text = cli_json_text(input ? *input : gv_null())))
      return 1;
    ts->host = cli_get(c, "host");
    ts->case_name = name;
    ts->gas_used = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = cli_run_answered(ex, in_text, strlen(in_text), flags, stub_answer,
                          ts, &out, &out_len, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
         (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    free(in_text);
    bad = check_case(expect, st, &err, out, out_len, us, msg, sizeof msg);
    if (!bad && gm && gv_isnum(*gm) && (double)ts->gas_used > gv_num(*gm)) {
      snprintf(msg, sizeof msg, "gas: used %llu, more than gas_max %g",
               (unsigned long long)ts->gas_used, gv_num(*gm));
      bad = 1;
    }
    if (add_result(ts, s->file, name, bad ? T_FAIL : T_PASS, bad ? msg : NULL,
                   us / 1e6))
      return 1;
  }
  return 0;
}

/* ==== Reporters ==== */

static void xml_str(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default:
      /* XML 1.0 has no control characters but tab and newlines */
      if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
        fputc(' ', f);
      else
        fputc(*s, f);
    }
  }
}

/* A JSON string, written straight to 'f' (no buffer: a report never has
** holes for want of memory). */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c < 0x20 || c == 0x7f)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void report(tstate *ts, int reporter) {
  int i, pass = 0, fail = 0, skip = 0;
  for (i = 0; i < ts->n_res; i++)
    ts->res[i].status == T_PASS ? pass++ : ts->res[i].status == T_FAIL ? fail++
                                                                       : skip++;
  if (reporter == R_HUMAN) {
    for (i = 0; i < ts->n_res; i++) {
      tresult *r = &ts->res[i];
      if (r->status == T_FAIL)
        printf("FAIL %s > %s: %s\n", r->suite, r->name, r->msg ? r->msg : "");
    }
    printf("%d passed, %d failed, %d skipped (%d tests)\n", pass, fail, skip,
           ts->n_res);
  } else if (reporter == R_TAP) {
    printf("TAP version 13\n1..%d\n", ts->n_res);
    for (i = 0; i < ts->n_res; i++) {
      tresult *r = &ts->res[i];
      printf("%s %d - %s > %s", r->status == T_FAIL ? "not ok" : "ok", i + 1,
             r->suite, r->name);
      if (r->status == T_SKIP)
        printf(" # SKIP %s", r->msg ? r->msg : "");
      fputc('\n', stdout);
      if (r->status == T_FAIL) {
        fputs("  ---\n  message: ", stdout);
        json_str(stdout, r->msg);
        fputs("\n  ...\n", stdout);
      }
    }
  } else if (reporter == R_JSON) {
    printf("{\"passed\":%d,\"failed\":%d,\"skipped\":%d,\"tests\":[", pass,
           fail, skip);
    for (i = 0; i < ts->n_res; i++) {
      tresult *r = &ts->res[i];
      static const char *const names[] = {"pass", "fail", "skip"};
      printf("%s{\"suite\":", i ? "," : "");
      json_str(stdout, r->suite);
      fputs(",\"name\":", stdout);
      json_str(stdout, r->name);
      printf(",\"status\":\"%s\",\"duration_us\":%.0f", names[r->status],
             r->secs * 1e6);
      if (r->msg) {
        fputs(",\"message\":", stdout);
        json_str(stdout, r->msg);
      }
      fputc('}', stdout);
    }
    fputs("]}\n", stdout);
  } else {
    int s0 = 0;
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<testsuites tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n",
           ts->n_res, fail, skip);
    /* one <testsuite> per run of consecutive results from one file */
    while (s0 < ts->n_res) {
      int e = s0, f = 0, k = 0;
      while (e < ts->n_res && !strcmp(ts->res[e].suite, ts->res[s0].suite)) {
        f += ts->res[e].status == T_FAIL;
        k += ts->res[e].status == T_SKIP;
        e++;
      }
      fputs("  <testsuite name=\"", stdout);
      xml_str(stdout, ts->res[s0].suite);
      printf("\" tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n", e - s0, f,
             k);
      for (i = s0; i < e; i++) {
        tresult *r = &ts->res[i];
        fputs("    <testcase classname=\"", stdout);
        xml_str(stdout, r->suite);
        fputs("\" name=\"", stdout);
        xml_str(stdout, r->name);
        printf("\" time=\"%.6f\"", r->secs);
        if (r->status == T_PASS) {
          fputs("/>\n", stdout);
          continue;
        }
        fputs(">\n      <", stdout);
        fputs(r->status == T_FAIL ? "failure" : "skipped", stdout);
        fputs(" message=\"", stdout);
        xml_str(stdout, r->msg);
        fputs("\"/>\n    </testcase>\n", stdout);
      }
      fputs("  </testsuite>\n", stdout);
      s0 = e;
    }
    fputs("</testsuites>\n", stdout);
  }
}

/* ==== Command ==== */

static int has_ext(const char *f, const char *ext) {
  size_t n = strlen(f), e = strlen(ext);
  return n > e && !strcmp(f + n - e, ext);
}

static int is_suite_file(const char *f) {
  return has_ext(f, ".yaml") || has_ext(f, ".yml") || has_ext(f, ".json");
}

static int load_suite(tstate *ts, const char *file) {
  suite *s;
  char *text, msg[1024];
  size_t len;
  suite *n = realloc(ts->suites, (size_t)(ts->n_suites + 1) * sizeof *n);
  if (!n)
    return 1;
  ts->suites = n;
  s = &ts->suites[ts->n_suites];
  memset(s, 0, sizeof *s);
  s->file = file;
  if (!(text = cli_read_file(file, 64u << 20, &len, msg, sizeof msg))) {
    fprintf(stderr, "error: io: %s\n", msg);
    return 1;
  }
  gavel__arena_init(&s->arena, &gavel__default_alloc, 0);
  ts->n_suites++;
  if (cli_doc_parse(&s->arena, text, len, !has_ext(file, ".json"), &s->doc,
                    msg, sizeof msg)) {
    fprintf(stderr, "error: %s: %s\n", file, msg);
    free(text);
    return 1;
  }
  free(text);
  return 0;
}

/* Capabilities the suites stub: granted, and served by the command. */
static int stub_capabilities(tstate *ts) {
  int k;
  for (k = 0; k < ts->n_suites; k++) {
    const gvalue *tests = ts->suites[k].doc.tag == GV_ARR
                              ? &ts->suites[k].doc
                              : cli_get(ts->suites[k].doc, "tests");
    uint32_t i, j;
    if (!tests || tests->tag != GV_ARR)
      continue;
    for (i = 0; i < tests->u.a->len; i++) {
      const gvalue *h = cli_get(tests->u.a->items[i], "host");
      if (!h || h->tag != GV_OBJ)
        continue;
      for (j = 0; j < h->u.o->len; j++) {
        const char *cap = h->u.o->keys[j]->s;
        gavel_error e;
        int g, dup = 0;
        for (g = 0; g < ts->env.n_grants; g++)
          dup |= !strcmp(ts->env.grants[g], cap);
        if (!dup && ts->env.n_grants < CLI_MAX_GRANTS)
          ts->env.grants[ts->env.n_grants++] = cap;
        if (ts->env.rt &&
            gavel_runtime_provide(ts->env.rt, cap, NULL, NULL, &e) != GAVEL_OK) {
          fprintf(stderr, "error: %s\n", e.msg);
          return 1;
        }
      }
    }
  }
  return 0;
}

/* The file in 'dir' holding the ruleset named 'name' (its config.name),
** for suites whose file name is the ruleset's name but not its file's.
** Files that are not rulesets are passed over quietly. */
static int find_named(tstate *ts, const char *dir, const char *name,
                      size_t n, char *out, size_t osz) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int found = 0;
  if (!d)
    return 0;
  while (!found && (de = readdir(d))) {
    char path[4096], *text, msg[256];
    size_t len;
    gavel_ruleset *rs = NULL;
    gavel_load_opts lo;
    if (de->d_name[0] == '.' || !has_ext(de->d_name, ".json"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (!(text = cli_read_file(path, cli_input_limit(ts->env.rt), &len, msg,
                               sizeof msg)))
      continue;
    memset(&lo, 0, sizeof lo);
    lo.no_capability_check = 1; /* only the name matters here */
    if (gavel_ruleset_load(ts->env.rt, text, len, &lo, &rs, NULL) ==
            GAVEL_OK &&
        strlen(gavel_ruleset_name(rs)) == n &&
        !strncmp(gavel_ruleset_name(rs), name, n)) {
      snprintf(out, osz, "%s", path);
      found = 1;
    }
    gavel_ruleset_free(rs);
    free(text);
  }
  closedir(d);
  return found;
}

static const char test_usage[] =
    "error: usage: gavel test RULESET.json SUITE.yaml|.json... "
    "[--reporter human|json|junit|tap]\n"
    "       gavel test --rules DIR --tests DIR [--reporter ...]\n";

int cmd_test(int argc, char **argv) {
  tstate ts;
  const char *rules_dir = NULL, *tests_dir = NULL, *rules_file = NULL;
  char **files = NULL, **owned = NULL;
  char (*paths)[4096] = NULL; /* project mode: ruleset file per suite */
  int n_files = 0, n_owned = 0, i, k, rc = 1, reporter = R_HUMAN, opts = 1;
  gavel_error err;
  memset(&ts, 0, sizeof ts);
  if (!(files = calloc((size_t)argc + 1, sizeof *files)))
    return 1;
  for (i = 1; i < argc; i++) {
    if (opts && (k = cli_env_init(&ts.env, argc, argv, &i)) != 0) {
      if (k < 0)
        goto usage;
      continue;
    }
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && !strcmp(argv[i], "--rules") && i + 1 < argc)
      rules_dir = argv[++i];
    else if (opts && !strcmp(argv[i], "--tests") && i + 1 < argc)
      tests_dir = argv[++i];
    else if (opts && !strcmp(argv[i], "--reporter") && i + 1 < argc) {
      const char *r = argv[++i];
      if (!strcmp(r, "human"))
        reporter = R_HUMAN;
      else if (!strcmp(r, "json"))
        reporter = R_JSON;
      else if (!strcmp(r, "junit"))
        reporter = R_JUNIT;
      else if (!strcmp(r, "tap"))
        reporter = R_TAP;
      else {
        fprintf(stderr, "error: usage: unknown reporter '%s' (human, json, "
                        "junit, tap)\n", r);
        goto usage2;
      }
    } else if (opts && argv[i][0] == '-' && argv[i][1])
      goto usage;
    else if (!rules_file && !rules_dir)
      rules_file = argv[i];
    else
      files[n_files++] = argv[i];
  }
  if ((rules_dir != NULL) != (tests_dir != NULL) ||
      (!rules_dir && (!rules_file || !n_files)) || (rules_dir && rules_file))
    goto usage;
  /* Project mode: every suite in --tests, paired by name. */
  if (tests_dir) {
    DIR *d = opendir(tests_dir);
    struct dirent *de;
    if (!d) {
      fprintf(stderr, "error: io: cannot open tests directory '%s': %s\n",
              tests_dir, strerror(errno));
      goto out;
    }
    while ((de = readdir(d))) {
      char *p;
      if (de->d_name[0] == '.' || !is_suite_file(de->d_name))
        continue;
      if (!(owned = realloc(owned, (size_t)(n_owned + 1) * sizeof *owned)) ||
          !(p = malloc(strlen(tests_dir) + strlen(de->d_name) + 2))) {
        fprintf(stderr, "error: memory: out of memory\n");
        closedir(d);
        goto out;
      }
      sprintf(p, "%s/%s", tests_dir, de->d_name);
      owned[n_owned++] = p;
    }
    closedir(d);
    /* readdir order is the file system's: sort for stable reports */
    for (i = 1; i < n_owned; i++)
      for (k = i; k > 0 && strcmp(owned[k - 1], owned[k]) > 0; k--) {
        char *t = owned[k];
        owned[k] = owned[k - 1];
        owned[k - 1] = t;
      }
    free(files);
    files = owned;
    n_files = n_owned;
  }
  if (!(paths = calloc((size_t)n_files + 1, sizeof *paths))) {
    fprintf(stderr, "error: memory: out of memory\n");
    goto out;
  }
  for (i = 0; i < n_files; i++)
    if (load_suite(&ts, files[i]))
      goto out;
  if (stub_capabilities(&ts) || cli_env_start(&ts.env) ||
      stub_capabilities(&ts))
    goto out;
  if (gavel_runtime_add_observer(ts.env.rt, observe_gas, &ts, &err) !=
      GAVEL_OK) {
    fprintf(stderr, "error: %s\n", err.msg);
    goto out;
  }
  if (rules_file) {
    gavel_ruleset *rs = cli_load_ruleset(&ts.env, rules_file, 0);
    if (!rs)
      goto out;
    if (ts.env.n_lib == CLI_MAX_LIB) {
      fprintf(stderr, "error: more than %d rulesets\n", CLI_MAX_LIB);
      gavel_ruleset_free(rs);
      goto out;
    }
    ts.env.lib[ts.env.n_lib++] = rs; /* freed with the environment */
    for (i = 0; i < ts.n_suites; i++)
      ts.suites[i].rs = rs;
  } else {
    /* tests/<name>.yaml tests rules/<name>.json; a ruleset tested by
    ** several suites is loaded once */
    for (i = 0; i < ts.n_suites; i++) {
      const char *base = strrchr(ts.suites[i].file, '/') + 1;
      char path[4096];
      gavel_ruleset *rs;
      snprintf(path, sizeof path, "%s/%.*s.json", rules_dir,
               (int)strcspn(base, "."), base);
      for (k = 0; k < i && !ts.suites[i].rs; k++)
        if (!strcmp(path, paths[k]))
          ts.suites[i].rs = ts.suites[k].rs;
      snprintf(paths[i], sizeof paths[0], "%s", path);
      if (ts.suites[i].rs)
        continue;
      if (access(path, F_OK) != 0 &&
          !find_named(&ts, rules_dir, base, strcspn(base, "."), path,
                      sizeof path)) {
        char m[4200];
        snprintf(m, sizeof m, "no ruleset %s (nor one named '%.*s' in %s) "
                 "for this suite", path, (int)strcspn(base, "."), base,
                 rules_dir);
        add_result(&ts, ts.suites[i].file, "(suite)", T_FAIL, m, 0);
        continue;
      }
      if (!(rs = cli_load_ruleset(&ts.env, path, 0)) ||
          ts.env.n_lib == CLI_MAX_LIB) {
        if (rs) /* (a ruleset that does not load printed why) */
          fprintf(stderr, "error: more than %d rulesets\n", CLI_MAX_LIB);
        gavel_ruleset_free(rs);
        goto out;
      }
      ts.env.lib[ts.env.n_lib++] = rs;
      ts.suites[i].rs = rs;
    }
  }
  for (i = 0; i < ts.n_suites; i++) {
    gavel_exec *ex = NULL;
    if (!ts.suites[i].rs)
      continue; /* reported above */
    if (gavel_exec_new(ts.suites[i].rs, &ex, &err) != GAVEL_OK) {
      fprintf(stderr, "error: %s\n", err.msg);
      goto out;
    }
    k = run_suite(&ts, &ts.suites[i], ex);
    gavel_exec_free(ex);
    if (k)
      goto out;
  }
  report(&ts, reporter);
  rc = 0;
  for (i = 0; i < ts.n_res; i++)
    if (ts.res[i].status == T_FAIL)
      rc = 1;
  goto out;
usage:
  fputs(test_usage, stderr);
usage2:
  rc = 2;
out:
  if (cli_env_free(&ts.env) && rc == 0)
    rc = 1;
  for (i = 0; i < ts.n_suites; i++)
    gavel__arena_free(&ts.suites[i].arena);
  free(ts.suites);
  for (i = 0; i < ts.n_res; i++) {
    free(ts.res[i].suite);
    free(ts.res[i].name);
    free(ts.res[i].msg);
  }
  free(ts.res);
  free(ts.stub_text);
  free(ts.stub_meta);
  for (i = 0; i < n_owned; i++)
    free(owned[i]);
  free(files == owned ? NULL : files);
  free(owned);
  free(paths);
  return rc;
}
