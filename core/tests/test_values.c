/*
** test_values.c -- issue 8 hardening of values: the nesting cap for values
** built at run time (512, the input's) and the depth guards of every
** recursive walker (equality, 'in', unique, to_string, json_marshal,
** yaml_marshal, format, sprintf, object literals, deep copy, the JSON
** writer and display); the object hash index (linear keyed insert); the
** gas message; the deep-value ruleset that crashed (fuzz/regress).
**
** Each walker gets a value at the cap (works) and a construction one level
** over it (a limit error naming the limit).
*/
#include "api_int.h"
#include "json.h"
#include "sched.h"
#include "gavel.h"
#include "tinytest.h"
#include "value.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LIMIT_MSG "Limit exceeded: value nesting deeper than 512 levels"

/* ==== Harness ==== */

static gavel_runtime *rt_get(void) {
  static gavel_runtime *rt;
  gavel_error e;
  if (!rt)
    CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
  return rt;
}

/* JSON text of an array nesting 'depth' levels around 'inner'
** ("[[0]]" for depth 2, inner "0").  Caller frees. */
static char *nested(int depth, const char *inner) {
  size_t n = strlen(inner), i;
  char *s = malloc(2 * (size_t)depth + n + 1);
  for (i = 0; i < (size_t)depth; i++) {
    s[i] = '[';
    s[depth + n + i] = ']';
  }
  memcpy(s + depth, inner, n);
  s[2 * depth + n] = 0;
  return s;
}

static char out_msg[1 << 12];

/* Evaluates 'src' over 'ctx': the result JSON (borrowed until the next
** call) or "error: <message>" (in out_msg). */
static const char *eval(const char *src, const char *ctx) {
  static gavel_expr *e;
  gavel_error err;
  const char *out;
  size_t n;
  gavel_expr_free(e);
  e = NULL;
  if (gavel_expr_compile(rt_get(), src, strlen(src), &e, &err) != GAVEL_OK) {
    snprintf(out_msg, sizeof out_msg, "parse error: %s", err.msg);
    return out_msg;
  }
  if (gavel_expr_eval_json(e, ctx, strlen(ctx), &out, &n, &err) != GAVEL_OK) {
    snprintf(out_msg, sizeof out_msg, "error: %s", err.msg);
    return out_msg;
  }
  return out;
}

static int starts(const char *s, const char *pre) {
  return strncmp(s, pre, strlen(pre)) == 0;
}

/* Context {"w": <511 deep>, "v": <the same, a separate copy>}: the deepest
** an input document may nest inside its root object.  In the expressions
** below, "[w]" is a value at the cap (512) and "[[w]]" one over it. */
static char *cap_ctx(void) {
  char *w = nested(511, "0");
  size_t n = 2 * strlen(w) + 64;
  char *c = malloc(n);
  snprintf(c, n, "{\"w\":%s,\"v\":%s}", w, w);
  free(w);
  return c;
}

/* ==== The cap on construction ==== */

TEST(array_literal_over_the_cap_is_a_limit_error) {
  char *c = cap_ctx();
  CHECK(strlen(eval("[w]", c)) == 2 * 512 + 1);
  CHECK_STR(eval("[[w]]", c), "error: " LIMIT_MSG);
  CHECK_STR(eval("[1, [2, [w]]]", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(object_literal_over_the_cap_is_a_limit_error) {
  char *c = cap_ctx();
  CHECK(starts(eval("{\"a\": w}", c), "{\"a\":[[["));
  CHECK_STR(eval("{\"a\": [w]}", c), "error: " LIMIT_MSG);
  CHECK_STR(eval("[{\"a\": w}]", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(group_by_over_the_cap_is_a_limit_error) {
  char *c = cap_ctx();
  /* w's elements nest 510 levels; the groups add two: 512, at the cap */
  CHECK(starts(eval("group_by(w, 'a')", c), "{\"null\":[[[["));
  CHECK_STR(eval("group_by([w], 'a')", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(builtins_that_keep_depth_stay_under_the_cap) {
  char *c = cap_ctx();
  CHECK(starts(eval("array_concat([w], [v])", c), "[[[["));
  CHECK(starts(eval("flatten([w])", c), "[[[["));
  CHECK(starts(eval("slice([w], 0, 1)", c), "[[[["));
  CHECK(starts(eval("reverse([w])", c), "[[[["));
  CHECK(starts(eval("sort([w, v])", c), "[[[["));
  CHECK(starts(eval("map_extract([w], '0')", c), "[[[["));
  CHECK(starts(eval("values(merge({\"a\": w}, {\"b\": v}))", c), "[[[["));
  free(c);
}

/* ==== Walkers at the cap ==== */

TEST(equality_at_the_cap) {
  char *c = cap_ctx();
  CHECK_STR(eval("[w] == [v]", c), "true");
  CHECK_STR(eval("[w] != [v]", c), "false");
  CHECK_STR(eval("[w] == w", c), "false");
  CHECK_STR(eval("[[w]] == [[v]]", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(in_at_the_cap) {
  char *c = cap_ctx();
  CHECK_STR(eval("v in [w]", c), "true");
  CHECK_STR(eval("first(w) in [v]", c), "false");
  CHECK_STR(eval("w in [[w]]", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(unique_at_the_cap) {
  char *c = cap_ctx();
  CHECK(starts(eval("unique([w, v])", c), "[[[["));
  CHECK_STR(eval("len(unique([w, v]))", c), "1");
  CHECK_STR(eval("unique([[w], [v]])", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(to_string_at_the_cap) {
  char *c = cap_ctx();
  CHECK_STR(eval("len(to_string([w]))", c), "1025");
  CHECK_STR(eval("to_string([[w]])", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(json_marshal_at_the_cap) {
  char *c = cap_ctx();
  CHECK_STR(eval("len(json_marshal([w]))", c), "1025");
  CHECK_STR(eval("json_marshal({\"k\": [w]})", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(yaml_marshal_at_the_cap) {
  char *c = cap_ctx();
  CHECK(starts(eval("yaml_marshal([w])", c), "\"- - - "));
  CHECK_STR(eval("yaml_marshal([[w]])", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(format_and_sprintf_at_the_cap) {
  char *c = cap_ctx();
  CHECK_STR(eval("len(format('{0}', [w]))", c), "1025");
  CHECK(starts(eval("sprintf('%v', [w])", c), "\"Array([Array(["));
  CHECK_STR(eval("format('{0}', [[w]])", c), "error: " LIMIT_MSG);
  CHECK_STR(eval("sprintf('%v', [[w]])", c), "error: " LIMIT_MSG);
  free(c);
}

TEST(result_writing_at_the_cap) {
  char *c = cap_ctx();
  CHECK(strlen(eval("[w]", c)) == 1025);
  CHECK(strlen(eval("w", c)) == 1023);
  free(c);
}

/* ==== Walker guards on values built outside the checks ==== */

/* A value 'depth' levels deep built with gavel__arr_push (which records the
** depth but does not refuse: the checks live in run-time builders). */
static gvalue hand_built(gv_arena *a, int depth) {
  gvalue v = gv_int(1);
  int i;
  for (i = 0; i < depth; i++) {
    gv_arr *arr = gavel__arr_new(a, 1);
    gavel__arr_push(a, arr, v);
    v = gv_arrv(arr);
  }
  return v;
}

TEST(walkers_stop_at_their_guard_instead_of_overflowing_the_stack) {
  gv_arena a;
  gv_buf b;
  gvalue deep, ok, copy;
  gv_rt rt;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&b, &gavel__default_alloc);
  deep = hand_built(&a, 200000);
  ok = hand_built(&a, 512);
  CHECK(gv_depth(deep) == 200000);
  CHECK(gv_depth(ok) == 512);
  CHECK(gavel__value_eq(deep, hand_built(&a, 200000)) == -1);
  CHECK(gavel__value_eq(ok, hand_built(&a, 512)) == 1);
  CHECK(gavel__value_copy(&a, deep, &copy) == 0 && a.failed == 0);
  CHECK(gavel__value_copy(&a, ok, &copy) == 1 && gv_depth(copy) == 512);
  CHECK(gavel__value_eq(ok, copy) == 1);
  CHECK(gavel__json_write_checked(&b, deep) == -1 && b.oom);
  gavel__buf_clear(&b);
  CHECK(gavel__json_write_checked(&b, ok) == 0 && b.len == 1025);
  gavel__buf_clear(&b);
  CHECK(gavel__value_display_checked(&b, deep) == -1 && b.oom);
  gavel__buf_clear(&b);
  gavel__json_write(&b, deep); /* the unchecked writer: cut, never a crash */
  CHECK(b.oom);
  memset(&rt, 0, sizeof rt);
  rt.arena = &a;
  CHECK(gavel__rt_depth_check(&rt, ok) == 0);
  CHECK(gavel__rt_depth_check(&rt, deep) == 1);
  CHECK_STR(rt.emsg, LIMIT_MSG);
  CHECK(rt.ekind == GV_E_LIMIT);
  gavel__buf_free(&b);
  gavel__arena_free(&a);
}

TEST(parsed_input_records_its_depth) {
  gv_arena a;
  gvalue v;
  gavel_error err;
  char *s = nested(512, "{\"k\":[1,{}]}");
  const char *doc = "[[1],{\"a\":{\"b\":[]}},2]";
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  CHECK(gavel__json_parse(&a, doc, strlen(doc), NULL, &v, &err) == GAVEL_OK);
  CHECK(gv_depth(v) == 4);
  /* 512 arrays around {"k": [1, {}]}: over the input limit */
  CHECK(gavel__json_parse(&a, s, strlen(s), NULL, &v, &err) == GAVEL_LIMIT);
  free(s);
  s = nested(509, "{\"k\":[1,{}]}");
  CHECK(gavel__json_parse(&a, s, strlen(s), NULL, &v, &err) == GAVEL_OK);
  CHECK(gv_depth(v) == 512);
  free(s);
  gavel__arena_free(&a);
}

/* ==== The crashing ruleset (issue 8 item 3) ==== */

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  char *p;
  long len;
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  p = malloc((size_t)len + 1);
  *n = fread(p, 1, (size_t)len, f);
  p[*n] = 0;
  fclose(f);
  return p;
}

TEST(deep_value_ruleset_fails_with_the_limit_instead_of_crashing) {
  size_t n;
  char *doc = slurp(GAVEL_SOURCE_DIR "/fuzz/regress/ruleset/crash-deep-value.json",
                    &n);
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t out_len;
  gavel_status st;
  CHECK(doc != NULL);
  if (!doc)
    return;
  CHECK(gavel_ruleset_load(rt_get(), doc, n, NULL, &rs, &err) == GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  st = gavel_exec_run_json(ex, "{}", 2, 0, &out, &out_len, &err);
  CHECK(st == GAVEL_LIMIT);
  CHECK(strstr(err.msg, LIMIT_MSG) != NULL);
  CHECK(strstr(err.msg, "steps.grow.actions[11]") != NULL); /* 12 x 45 > 512 */
  /* and with the trace on */
  st = gavel_exec_run_json(ex, "{}", 2, GAVEL_RUN_TRACE, &out, &out_len, &err);
  CHECK(st == GAVEL_LIMIT);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  free(doc);
}

TEST(ruleset_result_at_the_cap_is_written) {
  static const char doc[] =
      "{\"config\":{\"name\":\"cap\",\"entry_step\":\"a\"},\"steps\":{"
      "\"a\":{\"id\":\"a\",\"name\":\"a\",\"type\":\"action\",\"actions\":["
      "{\"action\":\"set_variable\",\"name\":\"v\",\"value\":\"[w]\"}],"
      "\"next_step\":\"t\"},"
      "\"t\":{\"id\":\"t\",\"name\":\"t\",\"type\":\"terminal\",\"result\":"
      "{\"code\":\"OK\",\"output\":[[\"v\",\"$v\"],[\"over\",\"[$v]\"]]}}}}";
  static const char doc_ok[] =
      "{\"config\":{\"name\":\"cap\",\"entry_step\":\"a\"},\"steps\":{"
      "\"a\":{\"id\":\"a\",\"name\":\"a\",\"type\":\"action\",\"actions\":["
      "{\"action\":\"set_variable\",\"name\":\"v\",\"value\":\"[w]\"}],"
      "\"next_step\":\"t\"},"
      "\"t\":{\"id\":\"t\",\"name\":\"t\",\"type\":\"terminal\",\"result\":"
      "{\"code\":\"OK\",\"output\":[[\"v\",\"$v\"]]}}}}";
  char *c = cap_ctx();
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  /* the output at the cap: written (the envelope adds two levels) */
  CHECK(gavel_ruleset_load(rt_get(), doc_ok, strlen(doc_ok), NULL, &rs,
                           &err) == GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, c, strlen(c), 0, &out, &n, &err) == GAVEL_OK);
  CHECK(n > 1025 && strstr(out, "\"v\":[[[[") != NULL);
  CHECK(gavel_exec_run_json(ex, c, strlen(c), GAVEL_RUN_TRACE, &out, &n,
                            &err) == GAVEL_OK);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  /* one level more in an output expression: the limit, with its place */
  CHECK(gavel_ruleset_load(rt_get(), doc, strlen(doc), NULL, &rs, &err) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, c, strlen(c), 0, &out, &n, &err) ==
        GAVEL_LIMIT);
  CHECK(strstr(err.msg, LIMIT_MSG) != NULL);
  CHECK(strstr(err.msg, "steps.t.result.output[1]") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  free(c);
}

/* ==== Values that hold one container many times ====
** [$v, $v] applied 40 times: 41 arrays in memory, 2^40 values when
** walked.  Every walker stops within a bound instead of hanging (it did:
** `$v == $v` ran past its 2 s timeout_ms, to_string grew its buffer to
** the machine's memory): equality by its count of values (charged to
** gas), the writers at the longest string a result may be. */

/* The ruleset: v doubled 'times' times, then output x = 'expr'. */
static char *dag_ruleset(int times, const char *expr, const char *cfg) {
  gv_buf b;
  int i;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_addf(&b, "{\"config\": {\"name\": \"dag\", \"entry_step\": \"a\"%s},"
                  " \"steps\": {\"a\": {\"id\": \"a\", \"type\": \"action\", "
                  "\"next_step\": \"t\", \"actions\": [{\"action\": "
                  "\"set_variable\", \"name\": \"v\", \"value\": \"1\"}",
                  cfg);
  for (i = 0; i < times; i++)
    gavel__buf_adds(&b, ", {\"action\": \"set_variable\", \"name\": \"v\", "
                        "\"value\": \"[$v, $v]\"}");
  gavel__buf_addf(&b, "]}, \"t\": {\"id\": \"t\", \"type\": \"terminal\", "
                  "\"result\": {\"code\": \"OK\", \"output\": [[\"x\", \"%s\"]]}}}}",
                  expr);
  return b.p;
}

/* Runs it; the status, with the result or error text in 'text'. */
static gavel_status dag_run(int times, const char *expr, const char *cfg,
                            char *text, size_t cap, uint64_t *gas) {
  char *doc = dag_ruleset(times, expr, cfg);
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  gavel_status st;
  st = gavel_ruleset_load(rt_get(), doc, strlen(doc), NULL, &rs, &err);
  CHECK(st == GAVEL_OK);
  if (st != GAVEL_OK) {
    snprintf(text, cap, "load: %.400s", err.msg);
    free(doc);
    return st;
  }
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  st = gavel_exec_run_json(ex, "{}", 2, 0, &out, &n, &err);
  snprintf(text, cap, "%s", st == GAVEL_OK ? out : err.msg);
  if (gas)
    *gas = gavel__exec_gas_used(ex);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  free(doc);
  return st;
}

TEST(values_holding_one_container_many_times_are_walked_within_bounds) {
  static const struct {
    const char *expr, *msg;
  } cases[] = {
      {"$v == $v", "comparing values that hold more than 67108864 values"},
      {"$v in [1, $v]", "comparing values that hold more than 67108864"},
      {"len(unique([$v, $v]))", "comparing values that hold more than"},
      {"len(filter_by([{'a': $v}], 'a', $v))", "comparing values that hold"},
      {"len(to_string($v))",
       "to_string: string longer than the maximum of 16777216 bytes"},
      {"len(json_marshal($v))", "json_marshal: string longer than the maximum"},
      {"len(format('{0}', $v))", "format: string longer than the maximum"},
      {"len(sprintf('%v', [$v]))", "sprintf: string longer than the maximum"},
      {"len(group_by([{'k': $v}], 'k'))",
       "group_by: string longer than the maximum"},
      {"len(yaml_marshal($v))", "exceeds the string limit"},
      {"$v", "result larger than"},
  };
  char text[512];
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gavel_status st = dag_run(40, cases[i].expr, "", text, sizeof text, NULL);
    CHECK(st == GAVEL_LIMIT);
    if (!strstr(text, cases[i].msg))
      fprintf(stderr, "  %s: %s\n", cases[i].expr, text);
    CHECK(strstr(text, cases[i].msg) != NULL);
  }
  /* with less gas than the walk needs: a gas error, not a long walk */
  CHECK(dag_run(40, "$v == $v", ", \"gas_limit\": 100000", text,
                sizeof text, NULL) == GAVEL_GAS);
  /* small ones still work (2^10 values, 2 walks of them) and cost gas
  ** per 64 values walked; a comparison of small containers costs none */
  {
    uint64_t g_big, g_small;
    CHECK(dag_run(10, "$v == $v", "", text, sizeof text, &g_big) ==
          GAVEL_OK);
    CHECK(strstr(text, "\"x\":true") != NULL);
    CHECK(dag_run(10, "[1] == [1]", "", text, sizeof text, &g_small) ==
          GAVEL_OK);
    CHECK(g_big >= g_small + 2047 / GV_EQ_NODES_PER_GAS);
    CHECK(dag_run(10, "to_string($v) == to_string($v)", "", text,
                  sizeof text, NULL) == GAVEL_OK);
  }
}

/* ==== Objects: keyed insert is linear (issue 8 item 7) ==== */

TEST(object_index_keeps_set_semantics) {
  gv_arena a;
  gv_obj *o;
  gv_str **ks;
  uint32_t i, n = 5000;
  char name[32];
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  o = gavel__obj_new(&a, 2);
  ks = malloc(n * sizeof *ks);
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof name, "k%u", i);
    ks[i] = gavel__str_cstr(&a, name);
    CHECK(gavel__obj_set(&a, o, ks[i], gv_int(i)) == 1);
  }
  for (i = 0; i < n; i += 2) /* replacements keep the first position */
    CHECK(gavel__obj_set(&a, o, gavel__str_cstr(&a, ks[i]->s),
                         gv_int(-(int64_t)i)) == 1);
  CHECK(o->len == n);
  CHECK(o->idx != NULL);
  for (i = 0; i < n; i++) {
    CHECK(o->keys[i] == ks[i]);
    CHECK(o->vals[i].u.i == (i % 2 ? (int64_t)i : -(int64_t)i));
    CHECK(gavel__obj_find(o, ks[i]->s, ks[i]->len) == (int)i);
  }
  CHECK(gavel__obj_find(o, "k", 1) == -1);
  CHECK(gavel__obj_find(o, "nope", 4) == -1);
  free(ks);
  gavel__arena_free(&a);
}

TEST(object_insert_is_linear) {
  gv_arena a;
  gv_obj *o;
  uint32_t i, n = 200000;
  char name[32];
  clock_t t0 = clock();
  double secs;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  o = gavel__obj_new(&a, 0);
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof name, "key%u", i);
    gavel__obj_set(&a, o, gavel__str_cstr(&a, name), gv_int(i));
  }
  secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  CHECK(o->len == n);
  /* quadratic: 2e10 key comparisons (minutes); linear: ~50 ms (ASan
  ** included: the bound is generous) */
  CHECK(secs < 5.0);
  gavel__arena_free(&a);
}

/* FNV-1a, the object index's hash before it was seeded. */
static uint32_t fnv1a(const char *p, size_t n) {
  uint32_t h = 2166136261u;
  while (n--)
    h = (h ^ (uint8_t)*p++) * 16777619u;
  return h;
}

/* Keys made to collide under a fixed, public hash (all 2,000 in one home
** slot of the 4,096-slot index under FNV-1a) spread under the seeded hash:
** no key sits far from its home, so every insert and lookup stays short
** (hash flooding through a request body decoded into a Lua table, or
** through builtins that build objects from input keys). */
TEST(object_index_resists_keys_made_to_collide) {
  gv_arena a;
  gv_obj *o;
  uint32_t i, n = 2000, ctr = 0, worst = 0;
  uint64_t seed = gavel__hash_seed;
  char name[32];
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  o = gavel__obj_new(&a, 0);
  for (i = 0; i < n; i++) {
    size_t len;
    do
      len = (size_t)snprintf(name, sizeof name, "c%08x", ctr++);
    while ((fnv1a(name, len) & 4095) != 0);
    CHECK(gavel__obj_append(&a, o, gavel__str_new(&a, name, len), gv_int(i)));
  }
  CHECK(o->idx != NULL && o->idx_mask == 4095);
  for (i = 0; i < n; i++) {
    const gv_str *k = o->keys[i];
    uint32_t home = (uint32_t)gavel__hash_bytes(k->s, k->len) & o->idx_mask;
    uint32_t j = home, d = 0;
    while (o->idx[j] != i + 1) {
      j = (j + 1) & o->idx_mask;
      d++;
    }
    if (d > worst)
      worst = d;
    CHECK(gavel__obj_find(o, k->s, k->len) == (int)i);
  }
  /* one chain under FNV-1a: the last key 1,999 slots from home */
  CHECK(worst < 64);
  /* the seed is what moves them: another seed, other homes */
  {
    uint64_t h1 = gavel__hash_bytes("key", 3);
    gavel__hash_seed = seed ^ 0x5555555555555555ull;
    CHECK(gavel__hash_bytes("key", 3) != h1);
    gavel__hash_seed = seed;
  }
  gavel__arena_free(&a);
}

/* Objects read from JSON text keep the reader's duplicate-key index as
** their hash index (from 16 members): equality of two input objects of
** N keys was N linear scans (a 1M-key object compared with itself: about
** 5 x 10^11 key compares). */
TEST(json_objects_keep_their_key_index) {
  gv_arena a;
  gv_buf b;
  gvalue v, w;
  gavel_error err;
  uint32_t i, n = 3000;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{");
  for (i = 0; i < n; i++)
    gavel__buf_addf(&b, "\"k%u\": %u, ", i, i);
  gavel__buf_adds(&b, "\"k7\": -7}"); /* a duplicate: the last value wins */
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &err) == GAVEL_OK);
  CHECK(v.tag == GV_OBJ && v.u.o->len == n);
  CHECK(v.u.o->idx != NULL && v.u.o->idx_mask + 1 >= 2 * n);
  for (i = 0; i < n; i++) {
    char k[16];
    int len = snprintf(k, sizeof k, "k%u", i);
    CHECK(gavel__obj_find(v.u.o, k, (size_t)len) == (int)i);
  }
  CHECK(gavel__obj_get(v.u.o, "k7", 2)->u.i == -7);
  CHECK(gavel__obj_find(v.u.o, "nope", 4) == -1);
  /* small objects: no index (a scan is faster) */
  CHECK(gavel__json_parse(&a, "{\"a\": 1}", 8, NULL, &w, &err) == GAVEL_OK);
  CHECK(w.u.o->idx == NULL);
  CHECK(gavel__value_eq(v, v) == 1);
  gavel__buf_free(&b);
  gavel__arena_free(&a);
}

/* Loads 'doc' and runs it on 'in' twice: on the whole input parsed
** without a projection (its result into 'want') and on the JSON text
** through the reader's projection; both results must be equal. */
static void run_whole_and_projected(const gv_buf *doc, const gv_buf *in,
                                    gv_buf *want) {
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  gv_arena a;
  gvalue v;
  const char *out;
  size_t n;
  CHECK(gavel_ruleset_load(rt_get(), doc->p, doc->len, NULL, &rs, &err) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  CHECK(gavel__json_parse(&a, in->p, in->len, NULL, &v, &err) == GAVEL_OK);
  gavel__exec_prepare(ex);
  CHECK(gavel__exec_run_value(ex, v, 0, &err) == GAVEL_OK);
  gavel__json_write(want, gavel__exec_result(ex));
  CHECK(gavel_exec_run_json(ex, in->p, in->len, 0, &out, &n, &err) ==
        GAVEL_OK);
  CHECK(n == want->len && memcmp(out, want->p, n) == 0);
  gavel__arena_free(&a);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
}

/* A ruleset reading thousands of fields of one object: the reader's
** projection finds each input key's node through its child index (a
** scan of 50,000 children per key took seconds at load and per run), and
** JSON text gives exactly what the whole parsed input gives, wildcard
** paths ("a.*.x") included. */
TEST(projection_with_thousands_of_paths_reads_what_a_full_parse_reads) {
  gv_buf doc, in, want;
  uint32_t i, np = 3000;
  gavel__buf_init(&doc, &gavel__default_alloc);
  gavel__buf_init(&in, &gavel__default_alloc);
  gavel__buf_init(&want, &gavel__default_alloc);
  gavel__buf_adds(&doc, "{\"config\": {\"name\": \"p\", \"entry_step\": "
                        "\"t\"}, \"steps\": {\"t\": {\"id\": \"t\", \"type\": "
                        "\"terminal\", \"result\": {\"code\": \"OK\", \"output\": "
                        "[[\"w\", \"a.*.x\"], [\"s\", \"a.*\"]");
  for (i = 0; i < np; i += 3) /* every third field: a.f0.x, a.f3.x ... */
    gavel__buf_addf(&doc, ", [\"k%u\", \"a.f%u.x\"]", i, i);
  gavel__buf_adds(&doc, "]}}}}");
  gavel__buf_adds(&in, "{\"a\": {");
  for (i = 0; i < np; i++)
    gavel__buf_addf(&in, "%s\"f%u\": {\"x\": %u, \"y\": [%u]}", i ? ", " : "",
                    i, i, i);
  gavel__buf_adds(&in, ", \"*\": {\"x\": -1}}}");
  run_whole_and_projected(&doc, &in, &want);
  CHECK(strstr(want.p, "\"k2997\":2997") != NULL);
  CHECK(strstr(want.p, "\"w\":[0,1,2,") != NULL);
  gavel__buf_free(&doc);
  gavel__buf_free(&in);
  gavel__buf_free(&want);
}

/* The same for array elements read by index: children naming an index
** ("7", "[7]", "007") are found by binary search (a scan of every child
** per element was quadratic: 20,000 indexes over 20,000 elements took
** 1.1 s per run), including two children naming one index, and a
** wildcard beside them. */
TEST(projection_with_thousands_of_indexes_reads_what_a_full_parse_reads) {
  gv_buf doc, in, want;
  uint32_t i, np = 3000;
  gavel__buf_init(&doc, &gavel__default_alloc);
  gavel__buf_init(&in, &gavel__default_alloc);
  gavel__buf_init(&want, &gavel__default_alloc);
  gavel__buf_adds(&doc, "{\"config\": {\"name\": \"p\", \"entry_step\": "
                        "\"t\"}, \"steps\": {\"t\": {\"id\": \"t\", \"type\": "
                        "\"terminal\", \"result\": {\"code\": \"OK\", \"output\": "
                        "[[\"w\", \"a.l.*.y\"], [\"z\", \"a.l.0007.x\"], "
                        "[\"e\", \"a.l[2999].x\"]");
  for (i = 0; i < np; i += 3) /* a.l[0].x, a.l.3.x, a.l.006.x, ... */
    gavel__buf_addf(&doc, i % 9 == 0   ? ", [\"k%u\", \"a.l[%u].x\"]"
                          : i % 9 == 3 ? ", [\"k%u\", \"a.l.%u.x\"]"
                                       : ", [\"k%u\", \"a.l.00%u.x\"]",
                    i, i);
  gavel__buf_adds(&doc, ", [\"k7\", \"a.l.7.x\"]]}}}}");
  gavel__buf_adds(&in, "{\"a\": {\"l\": [");
  for (i = 0; i < np; i++)
    gavel__buf_addf(&in, "%s{\"x\": %u, \"y\": [%u], \"q\": %u}", i ? ", " : "",
                    i, i, i);
  gavel__buf_adds(&in, "]}}");
  run_whole_and_projected(&doc, &in, &want);
  CHECK(strstr(want.p, "\"k2997\":2997") != NULL);
  CHECK(strstr(want.p, "\"k2994\":2994") != NULL);
  CHECK(strstr(want.p, "\"k7\":7") != NULL);
  CHECK(strstr(want.p, "\"z\":7") != NULL);
  CHECK(strstr(want.p, "\"e\":2999") != NULL);
  CHECK(strstr(want.p, "\"w\":[[0],[1],[2],") != NULL);
  gavel__buf_free(&doc);
  gavel__buf_free(&in);
  gavel__buf_free(&want);
}

TEST(terminal_with_many_output_keys) {
  gv_buf doc;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t out_len;
  int i, n = 20000;
  clock_t t0;
  gavel__buf_init(&doc, &gavel__default_alloc);
  gavel__buf_adds(&doc, "{\"config\":{\"name\":\"wide\",\"entry_step\":\"t\"},"
                        "\"steps\":{\"t\":{\"id\":\"t\",\"name\":\"t\","
                        "\"type\":\"terminal\",\"result\":{\"code\":\"OK\","
                        "\"output\":[");
  for (i = 0; i < n; i++)
    gavel__buf_addf(&doc, "%s[\"k%d\",\"%d\"]", i ? "," : "", i % (n - 10),
                    i);
  gavel__buf_adds(&doc, "]}}}}");
  CHECK(gavel_ruleset_load(rt_get(), doc.p, doc.len, NULL, &rs, &err) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  t0 = clock();
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &out_len, &err) == GAVEL_OK);
  CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
  /* a repeated key keeps its first position and takes the last value */
  CHECK(strstr(out, "\"k0\":19990,\"k1\":19991,") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel__buf_free(&doc);
}

TEST(terminal_outputs_are_charged_gas_per_key) {
  gv_buf doc;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t out_len;
  int i;
  gavel__buf_init(&doc, &gavel__default_alloc);
  gavel__buf_adds(&doc, "{\"config\":{\"name\":\"wide\",\"entry_step\":\"t\","
                        "\"gas_limit\":1000},\"steps\":{\"t\":{\"id\":\"t\","
                        "\"name\":\"t\",\"type\":\"terminal\",\"result\":"
                        "{\"code\":\"OK\",\"output\":[");
  for (i = 0; i < 5000; i++)
    gavel__buf_addf(&doc, "%s[\"k%d\",\"1\"]", i ? "," : "", i);
  gavel__buf_adds(&doc, "]}}}}");
  CHECK(gavel_ruleset_load(rt_get(), doc.p, doc.len, NULL, &rs, &err) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, "{}", 2, 0, &out, &out_len, &err) == GAVEL_GAS);
  CHECK(strstr(err.msg, "Gas exhausted") != NULL);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel__buf_free(&doc);
}

/* ==== Gas message (issue 8 item 16) ==== */

TEST(gas_message_names_the_budget) {
  gv_arena a;
  gv_rt rt;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  memset(&rt, 0, sizeof rt);
  rt.arena = &a;
  rt.gas = 5;
  rt.gas_limit = 5;
  CHECK(gavel__rt_charge(&rt, 3) == 0);
  CHECK(gavel__rt_charge(&rt, 3) == 1);
  CHECK(rt.ekind == GV_E_GAS);
  CHECK_STR(rt.emsg, "Gas exhausted: budget of 5 units used up");
  memset(&rt, 0, sizeof rt);
  rt.arena = &a;
  CHECK(gavel__rt_charge(&rt, 1) == 1);
  CHECK_STR(rt.emsg, "Gas exhausted");
  gavel__arena_free(&a);
}

/* ==== Non-finite floats in the JSON writer (issue 8 item 14) ==== */

TEST(json_writer_reports_non_finite_floats) {
  gv_arena a;
  gv_buf b;
  gv_arr *arr;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&b, &gavel__default_alloc);
  arr = gavel__arr_new(&a, 2);
  gavel__arr_push(&a, arr, gv_float(1.5));
  gavel__arr_push(&a, arr, gv_float(INFINITY));
  CHECK(gavel__json_write_checked(&b, gv_arrv(arr)) == -2);
  CHECK_STR(b.p, "[1.5,null]"); /* written, but reported */
  gavel__buf_clear(&b);
  arr->items[1] = gv_float(2.0);
  CHECK(gavel__json_write_checked(&b, gv_arrv(arr)) == 0);
  CHECK_STR(b.p, "[1.5,2.0]");
  CHECK_STR(eval("json_marshal({\"a\": [to_float('NaN')]})", "{}"),
            "error: Evaluation error: json_marshal: float is not finite (inf "
            "or NaN)");
  gavel__buf_free(&b);
  gavel__arena_free(&a);
}

/* A result holding inf or NaN is an error, never a silent null: from an
** expression and from a run (with and without the trace). */
TEST(results_with_non_finite_floats_are_errors) {
  static const char doc[] =
      "{\"config\": {\"name\": \"nf\", \"entry_step\": \"t\"}, \"steps\": "
      "{\"t\": {\"id\": \"t\", \"name\": \"T\", \"type\": \"terminal\", "
      "\"result\": {\"code\": \"OK\", \"message\": \"ok\", \"output\": "
      "[[\"x\", \"to_float(s)\"]]}}}}";
  const char *want = "Evaluation error: the result holds a non-finite float";
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  unsigned flags;
  CHECK(starts(eval("to_float(\"inf\")", "{}"), "error: "));
  CHECK(strstr(eval("to_float(\"inf\")", "{}"), want) != NULL);
  CHECK(strstr(eval("[1, {\"x\": to_float(\"NaN\")}]", "{}"), want) != NULL);
  CHECK_STR(eval("to_float(\"1.5\")", "{}"), "1.5");
  CHECK(gavel_ruleset_load(rt_get(), doc, sizeof doc - 1, NULL, &rs, &err) ==
        GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
  for (flags = 0; flags <= GAVEL_RUN_TRACE; flags += GAVEL_RUN_TRACE) {
    CHECK(gavel_exec_run_json(ex, "{\"s\": \"-inf\"}", 13, flags, &out, &n,
                              &err) == GAVEL_EXEC);
    CHECK(strstr(err.msg, want) != NULL);
    CHECK(gavel_exec_run_json(ex, "{\"s\": \"2\"}", 10, flags, &out, &n,
                              &err) == GAVEL_OK);
    CHECK(strstr(out, "\"x\":2.0") != NULL);
  }
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
}

TEST(message_escape_keeps_text_after_nul) {
  char m[32];
  CHECK_STR(gavel__msg_escape(m, sizeof m, "12\0003", 4), "12\\u00003");
  CHECK_STR(gavel__msg_escape(m, sizeof m, "a\nb", 3), "a\\u000ab");
  CHECK_STR(gavel__msg_escape(m, 8, "abcdefghij", 10), "abcdefg");
  CHECK_STR(gavel__msg_escape(m, 8, "abcd\001", 5), "abcd");
}

TEST_MAIN()
