/*
** conformance.c -- the Ordo conformance corpus runner (see conformance.h).
**
** Reads the corpus with gavel's own JSON reader (it keeps 3 and 3.0
** apart), runs each case through the public API (expressions) or the
** loader + scheduler with test providers (rulesets), and compares values
** type-strictly.  Error texts are matched loosely (case-insensitive
** substring), as the corpus README asks.
*/
#include "api_int.h"
#include "conformance.h"
#include "json.h"
#include "runtime.h"
#include "sched.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    *len = (size_t)n;
  }
  return buf;
}

static gvalue *get(gvalue o, const char *k) {
  return o.tag == GV_OBJ ? gavel__obj_get(o.u.o, k, strlen(k)) : NULL;
}

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle), i;
  if (!n)
    return 1;
  for (i = 0; hay[i]; i++) {
    size_t j;
    for (j = 0; j < n && hay[i + j] &&
                tolower((unsigned char)hay[i + j]) ==
                    tolower((unsigned char)needle[j]);
         j++)
      ;
    if (j == n)
      return 1;
  }
  return 0;
}

/* Type-strict equality; floats within 'approx' when > 0. */
static int same(gvalue a, gvalue b, double approx) {
  uint32_t i;
  if (approx > 0 && a.tag == GV_FLOAT && b.tag == GV_FLOAT)
    return fabs(a.u.f - b.u.f) <= approx;
  if (a.tag != b.tag)
    return 0;
  if (a.tag == GV_ARR) {
    if (a.u.a->len != b.u.a->len)
      return 0;
    for (i = 0; i < a.u.a->len; i++)
      if (!same(a.u.a->items[i], b.u.a->items[i], approx))
        return 0;
    return 1;
  }
  if (a.tag == GV_OBJ) {
    if (a.u.o->len != b.u.o->len)
      return 0;
    for (i = 0; i < a.u.o->len; i++) {
      gvalue *bv = gavel__obj_get(b.u.o, a.u.o->keys[i]->s, a.u.o->keys[i]->len);
      if (!bv || !same(a.u.o->vals[i], *bv, approx))
        return 0;
    }
    return 1;
  }
  return gavel__value_eq(a, b);
}

static void show(const char *label, gvalue v) {
  gv_buf b;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__json_write(&b, v);
  fprintf(stderr, "    %s %s\n", label, b.p ? b.p : "?");
  gavel__buf_free(&b);
}

/* ==== Expressions ==== */

static void one_expression(gavel_runtime *rt, gvalue d, conf_stats *st,
                           int verbose) {
  gvalue *id = get(d, "id"), *ex = get(d, "expr"), *ctx = get(d, "ctx");
  gvalue *expect = get(d, "expect"), *err = get(d, "error");
  gvalue *kind = get(d, "error_kind"), *contains = get(d, "error_contains");
  gvalue *approx = get(d, "approx"), res;
  gavel_expr *e = NULL;
  gavel_error ge;
  const char *name = id && id->tag == GV_STR ? id->u.s->s : "?";
  int is_err = err && err->tag == GV_BOOL && err->u.i;
  int ok = 0;
  gavel_status rc;
  if (!ex || ex->tag != GV_STR) {
    st->skipped++;
    return;
  }
  rc = gavel_expr_compile(rt, ex->u.s->s, ex->u.s->len, &e, &ge);
  if (rc != GAVEL_OK) {
    ok = is_err && (!kind || (kind->tag == GV_STR &&
                              gavel__str_eqn(kind->u.s, "parse", 5)));
    if (ok && contains && contains->tag == GV_STR)
      ok = icontains(ge.msg, contains->u.s->s);
    if (!ok && verbose)
      fprintf(stderr, "FAIL %s: %s\n    parse error: %s\n", name, ex->u.s->s,
              ge.msg);
  } else if (!expect && !is_err) {
    ok = 1; /* parse-only entry */
  } else {
    rc = gavel__expr_eval_value(e, ctx ? *ctx : gv_null(), &res, &ge);
    if (rc != GAVEL_OK) {
      ok = is_err && (!kind || (kind->tag == GV_STR &&
                                gavel__str_eqn(kind->u.s, "eval", 4)));
      if (ok && contains && contains->tag == GV_STR)
        ok = icontains(ge.msg, contains->u.s->s);
      if (!ok && verbose)
        fprintf(stderr, "FAIL %s: %s\n    eval error: %s\n", name, ex->u.s->s,
                ge.msg);
    } else if (is_err) {
      if (verbose) {
        fprintf(stderr, "FAIL %s: %s\n    expected an error, got a value\n",
                name, ex->u.s->s);
        show("got", res);
      }
    } else {
      double ap = approx && gv_isnum(*approx) ? gv_num(*approx) : 0;
      ok = same(res, *expect, ap);
      if (!ok && verbose) {
        fprintf(stderr, "FAIL %s: %s\n", name, ex->u.s->s);
        show("expected", *expect);
        show("got     ", res);
      }
    }
  }
  gavel_expr_free(e);
  if (ok)
    st->passed++;
  else
    st->failed++;
}

void conf_run_expressions(const char *file, conf_stats *st, int verbose) {
  size_t len, i = 0;
  char *text = slurp(file, &len);
  gavel_runtime *rt;
  gv_arena a;
  if (!text) {
    fprintf(stderr, "cannot read %s\n", file);
    st->failed++;
    return;
  }
  gavel_runtime_new(NULL, &rt, NULL);
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  while (i < len) {
    size_t j = i;
    gvalue d;
    gavel_error ge;
    while (j < len && text[j] != '\n')
      j++;
    if (j > i) {
      if (gavel__json_parse(&a, text + i, j - i, NULL, &d, &ge) != GAVEL_OK) {
        fprintf(stderr, "FAIL bad corpus line: %s\n", ge.msg);
        st->failed++;
      } else
        one_expression(rt, d, st, verbose);
      gavel__arena_reset(&a);
    }
    i = j + 1;
  }
  gavel__arena_free(&a);
  gavel_runtime_free(rt);
  free(text);
}

/* ==== Rulesets ==== */

typedef struct env {
  gavel_runtime *rt;      /* runtime of the case                      */
  gavel_ruleset *lib[64]; /* environment.rulesets, loaded             */
  int n_lib;              /* count                                    */
  gv_arena calls;         /* recorded capability calls                */
  gvalue log;             /* array of {capability, operation, payload} */
} env;

static gavel_ruleset *resolve(void *ud, const char *name) {
  env *e = ud;
  int i;
  for (i = 0; i < e->n_lib; i++)
    if (!strcmp(gavel_ruleset_name(e->lib[i]), name))
      return e->lib[i];
  return NULL;
}

static void record(env *e, const gv_hostreq *req) {
  gv_arena *a = &e->calls;
  gv_obj *o = gavel__obj_new(a, 3);
  gvalue copy;
  if (!o || !gavel__value_copy(a, req->params, &copy))
    return;
  gavel__obj_append(a, o, gavel__str_cstr(a, "capability"),
                    gv_strv(gavel__str_new(a, req->capability->s,
                                           req->capability->len)));
  gavel__obj_append(a, o, gavel__str_cstr(a, "operation"),
                    gv_strv(gavel__str_new(a, req->operation->s,
                                           req->operation->len)));
  gavel__obj_append(a, o, gavel__str_cstr(a, "payload"), copy);
  gavel__arr_push(a, e->log.u.a, gv_objv(o));
}

/* demo.echo: the payload comes back unchanged. */
static int p_echo(void *ud, gv_arena *a, const gv_hostreq *req,
                  gvalue *payload, gvalue *metadata, char *msg, size_t n) {
  (void)a;
  (void)msg;
  (void)n;
  record(ud, req);
  *payload = req->params;
  *metadata = gv_null();
  return 0;
}

/* network.http(echo): see the corpus README. */
static int p_http_echo(void *ud, gv_arena *a, const gv_hostreq *req,
                       gvalue *payload, gvalue *metadata, char *msg, size_t n) {
  gvalue *url = get(req->params, "url"), *amount = get(req->params, "amount");
  gvalue *jb = get(req->params, "json_body");
  gv_obj *p = gavel__obj_new(a, 5), *m = gavel__obj_new(a, 1);
  record(ud, req);
  if (!url || !amount) {
    snprintf(msg, n, "payload must be an object with url and amount");
    return 1;
  }
  gavel__obj_append(a, p, gavel__str_cstr(a, "status"), gv_int(200));
  gavel__obj_append(a, p, gavel__str_cstr(a, "method"),
                    gv_strv((gv_str *)req->operation));
  gavel__obj_append(a, p, gavel__str_cstr(a, "url"), *url);
  gavel__obj_append(a, p, gavel__str_cstr(a, "echoed_amount"), *amount);
  if (jb)
    gavel__obj_append(a, p, gavel__str_cstr(a, "json_body"), *jb);
  gavel__obj_append(a, m, gavel__str_cstr(a, "provider"),
                    gv_strv(gavel__str_cstr(a, "echo")));
  *payload = gv_objv(p);
  *metadata = gv_objv(m);
  return 0;
}

/* metrics.prometheus: record, answer an empty payload. */
static int p_metrics(void *ud, gv_arena *a, const gv_hostreq *req,
                     gvalue *payload, gvalue *metadata, char *msg, size_t n) {
  (void)msg;
  (void)n;
  record(ud, req);
  *payload = gv_objv(gavel__obj_new(a, 0));
  *metadata = gv_null();
  return 0;
}

static void env_setup(env *e, gvalue file, gvalue cse) {
  gvalue *envv = get(file, "environment"), *caps, *rss, *req = get(file, "requires");
  gvalue *cenv = get(cse, "environment");
  int no_invoker = cenv && cenv->tag == GV_STR;
  uint32_t i;
  memset(e, 0, sizeof *e);
  gavel_runtime_new(NULL, &e->rt, NULL);
  gavel__arena_init(&e->calls, &gavel__default_alloc, 0);
  e->log = gv_arrv(gavel__arr_new(&e->calls, 4));
  caps = envv ? get(*envv, "capabilities") : NULL;
  if (caps && caps->tag == GV_OBJ && !no_invoker)
    for (i = 0; i < caps->u.o->len; i++) {
      const char *name = caps->u.o->keys[i]->s;
      if (!strcmp(name, "network.http"))
        gavel__host_provide_value(e->rt, name, p_http_echo, e, NULL);
      else if (!strcmp(name, "metrics.prometheus"))
        gavel__host_provide_value(e->rt, name, p_metrics, e, NULL);
      else
        gavel__host_provide_value(e->rt, name, p_echo, e, NULL);
    }
  if (req && req->tag == GV_ARR)
    for (i = 0; i < req->u.a->len; i++)
      if (req->u.a->items[i].tag == GV_STR &&
          !strcmp(req->u.a->items[i].u.s->s, "resolver"))
        gavel_runtime_set_resolver(e->rt, resolve, e);
  rss = envv ? get(*envv, "rulesets") : NULL;
  if (rss && rss->tag == GV_OBJ)
    for (i = 0; i < rss->u.o->len && e->n_lib < 64; i++) {
      gv_buf b;
      gavel__buf_init(&b, &gavel__default_alloc);
      gavel__json_write(&b, rss->u.o->vals[i]);
      if (gavel_ruleset_load(e->rt, b.p, b.len, NULL, &e->lib[e->n_lib], NULL) ==
          GAVEL_OK)
        e->n_lib++;
      gavel__buf_free(&b);
    }
}

static void env_free(env *e) {
  int i;
  for (i = 0; i < e->n_lib; i++)
    gavel_ruleset_free(e->lib[i]);
  gavel__arena_free(&e->calls);
  gavel_runtime_free(e->rt);
}

typedef struct diags {
  char text[8192]; /* all messages, newline-separated */
  size_t len;      /* used                             */
  int errors;      /* error count                      */
} diags;

static void collect(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  diags *d = ud;
  int n;
  if (lvl == GAVEL_DIAG_ERROR)
    d->errors++;
  n = snprintf(d->text + d->len, sizeof d->text - d->len, "%s\n", e->msg);
  if (n > 0 && d->len + (size_t)n < sizeof d->text)
    d->len += (size_t)n;
}

/* Compares a finished run's result with the case's expectations. */
static int check_result(gavel_exec *ex, env *e, gvalue expect, char *why,
                        size_t n) {
  gvalue res = gavel__exec_result(ex), *v, *got;
  uint32_t i;
  if ((v = get(expect, "code")) && (!(got = get(res, "code")) || !same(*v, *got, 0)))
    return snprintf(why, n, "code differs"), 0;
  if ((v = get(expect, "message")) &&
      (!(got = get(res, "message")) || !same(*v, *got, 0)))
    return snprintf(why, n, "message differs"), 0;
  if ((v = get(expect, "output")) && (!(got = get(res, "output")) || !same(*v, *got, 0)))
    return snprintf(why, n, "output differs"), 0;
  if ((v = get(expect, "output_includes")) && v->tag == GV_OBJ) {
    got = get(res, "output");
    for (i = 0; i < v->u.o->len; i++) {
      gvalue *g2 = got ? get(*got, v->u.o->keys[i]->s) : NULL;
      if (!g2 || !same(v->u.o->vals[i], *g2, 0))
        return snprintf(why, n, "output_includes.%s differs",
                        v->u.o->keys[i]->s), 0;
    }
  }
  if ((v = get(expect, "side_effects")) && v->tag == GV_ARR) {
    int nm;
    const gv_metric_rec *m = gavel__exec_metrics(ex, &nm);
    if ((uint32_t)nm != v->u.a->len)
      return snprintf(why, n, "expected %u side effects, got %d",
                      v->u.a->len, nm), 0;
    for (i = 0; i < v->u.a->len; i++) {
      gvalue se = v->u.a->items[i], *nv = get(se, "name"), *vv = get(se, "value"),
             *tv = get(se, "tags");
      if ((nv && !gavel__str_eq(nv->u.s, m[i].name)) ||
          (vv && gv_num(*vv) != m[i].value) || (tv && !same(*tv, m[i].tags, 0)))
        return snprintf(why, n, "side effect %u differs", i), 0;
    }
  }
  if ((v = get(expect, "capability_calls")) && v->tag == GV_ARR) {
    if (!same(*v, e->log, 0))
      return snprintf(why, n, "capability calls differ"), 0;
  }
  if ((v = get(expect, "metric_sink_calls")) && v->tag == GV_INT) {
    int nm;
    gavel__exec_metrics(ex, &nm);
    if (nm != v->u.i)
      return snprintf(why, n, "metric sink calls: %d", nm), 0;
  }
  return 1;
}

static int check_trace(const char *json, gvalue expect, char *why, size_t n) {
  gvalue *t = get(expect, "trace"), *path;
  char want[2048] = "";
  size_t len = 0;
  uint32_t i;
  const char *p;
  if (!t || !(path = get(*t, "path")) || path->tag != GV_ARR)
    return 1;
  for (i = 0; i < path->u.a->len && len < sizeof want - 256; i++)
    len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
                            i ? " -> " : "", path->u.a->items[i].u.s->s);
  p = strstr(json, "\"path\":\"");
  if (!p || strncmp(p + 8, want, len) != 0 || p[8 + len] != '"')
    return snprintf(why, n, "trace path differs (want '%.900s')", want), 0;
  return 1;
}

static int one_case(gvalue file, gvalue rsv, gvalue cse, const char *rsjson,
                    size_t rslen, char *why, size_t n) {
  gvalue *kind = get(cse, "kind"), *expect = get(cse, "expect"), *input;
  env e;
  diags d;
  gavel_load_opts lo;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error ge;
  gavel_status st;
  const char *out;
  size_t out_len;
  int ok = 0;
  gv_buf in;
  (void)rsv;
  if (!expect)
    return snprintf(why, n, "no expect"), 0;
  env_setup(&e, file, cse);
  memset(&d, 0, sizeof d);
  memset(&lo, 0, sizeof lo);
  lo.diag = collect;
  lo.diag_ud = &d;
  st = gavel_ruleset_load(e.rt, rsjson, rslen, &lo, &rs, &ge);
  if (kind && kind->tag == GV_STR && gavel__str_eqn(kind->u.s, "validate", 8)) {
    gvalue *valid = get(*expect, "valid"), *ec = get(*expect, "errors_contain");
    int want_valid = valid && valid->tag == GV_BOOL && valid->u.i;
    uint32_t i;
    ok = want_valid == (st == GAVEL_OK);
    if (ok && ec && ec->tag == GV_ARR)
      for (i = 0; i < ec->u.a->len; i++)
        if (!icontains(d.text, ec->u.a->items[i].u.s->s)) {
          ok = 0;
          snprintf(why, n, "missing diagnostic '%.200s' in: %.600s",
                   ec->u.a->items[i].u.s->s, d.text);
        }
    if (!ok && !why[0])
      snprintf(why, n, "validity differs: %.900s", d.text);
    goto done;
  }
  if (kind && kind->tag == GV_STR && gavel__str_eqn(kind->u.s, "load", 4)) {
    gvalue *ec = get(*expect, "error_contains");
    ok = st != GAVEL_OK &&
         (!ec || ec->tag != GV_STR || icontains(d.text, ec->u.s->s));
    if (!ok)
      snprintf(why, n, "load: %.900s", st == GAVEL_OK ? "loaded" : d.text);
    goto done;
  }
  {
    gvalue *err = get(*expect, "error"), *ec = get(*expect, "error_contains");
    int want_err = err && err->tag == GV_BOOL && err->u.i;
    if (st != GAVEL_OK) {
      ok = want_err && (!ec || ec->tag != GV_STR || icontains(ge.msg, ec->u.s->s));
      if (!ok)
        snprintf(why, n, "load failed: %s", ge.msg);
      goto done;
    }
    gavel_exec_new(rs, &ex, NULL);
    input = get(cse, "input");
    gavel__buf_init(&in, &gavel__default_alloc);
    gavel__json_write(&in, input ? *input : gv_null());
    st = gavel_exec_run_json(ex, in.p, in.len,
                             get(*expect, "trace") ? GAVEL_RUN_TRACE : 0, &out,
                             &out_len, &ge);
    gavel__buf_free(&in);
    if (st != GAVEL_OK) {
      ok = want_err && (!ec || ec->tag != GV_STR || icontains(ge.msg, ec->u.s->s));
      if (!ok)
        snprintf(why, n, "run failed: %s", ge.msg);
      goto done;
    }
    if (want_err) {
      snprintf(why, n, "expected an error, got %s", out);
      goto done;
    }
    ok = check_result(ex, &e, *expect, why, n) &&
         check_trace(out, *expect, why, n);
    if (!ok) {
      size_t l = strlen(why);
      snprintf(why + l, n - l, "; got %.300s", out);
    }
  }
done:
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  env_free(&e);
  return ok;
}

void conf_run_ruleset_file(const char *file, conf_stats *st, int verbose) {
  size_t len;
  char *text = slurp(file, &len);
  gv_arena a;
  gvalue doc, *rsv, *cases;
  gavel_error ge;
  gv_buf rsjson;
  uint32_t i;
  if (!text) {
    fprintf(stderr, "cannot read %s\n", file);
    st->failed++;
    return;
  }
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&rsjson, &gavel__default_alloc);
  if (gavel__json_parse(&a, text, len, NULL, &doc, &ge) != GAVEL_OK ||
      !(rsv = get(doc, "ruleset")) || !(cases = get(doc, "cases")) ||
      cases->tag != GV_ARR) {
    fprintf(stderr, "FAIL %s: bad corpus file\n", file);
    st->failed++;
    goto out;
  }
  gavel__json_write(&rsjson, *rsv);
  for (i = 0; i < cases->u.a->len; i++) {
    char why[1024] = "";
    if (one_case(doc, *rsv, cases->u.a->items[i], rsjson.p, rsjson.len, why,
                 sizeof why))
      st->passed++;
    else {
      st->failed++;
      if (verbose)
        fprintf(stderr, "FAIL %s case %u: %s\n", file, i, why);
    }
  }
out:
  gavel__buf_free(&rsjson);
  gavel__arena_free(&a);
  free(text);
}
