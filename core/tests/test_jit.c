/*
** test_jit.c -- the JIT tier against the VM (jit.c).
**
** Differential: every expression fixture (spec/fixtures/ *.test, the
** corpus expressions.jsonl, the Ordo sample when ../shared is present),
** the bundled loan ruleset over its inputs, and a seeded random generator
** of expressions and contexts (>= 100,000 cases per run) give
** byte-identical output or the identical error (status, message, offset,
** line, column) with jit=off and jit=on.  Also: W^X (/proc/self/maps),
** code memory released on free (1,000 load/free cycles), tier-up at N, and
** concurrent tier-up from several threads on one shared ruleset.
*/
#include "api_int.h"
#include "jit.h"
#include "json.h"
#include "sched.h"
#include "tinytest.h"
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static gavel_runtime *mk_rt(int jit, uint32_t threshold) {
  gavel_config c;
  gavel_runtime *rt = NULL;
  gavel_error err;
  memset(&c, 0, sizeof c);
  c.abi = GAVEL_VERSION_NUM;
  c.jit = jit;
  c.jit_threshold = threshold;
  if (gavel_runtime_new(&c, &rt, &err) != GAVEL_OK)
    return NULL;
  return rt;
}

/* One evaluation rendered as text: "ok <json>" or "err <code> <offset>
** <line>:<col> <msg>". */
static void render(gavel_status st, const char *out, size_t n,
                   const gavel_error *err, char *buf, size_t size) {
  if (st == GAVEL_OK)
    snprintf(buf, size, "ok %.*s", (int)n, out);
  else
    snprintf(buf, size, "err %d %ld %d:%d %s|%s", (int)st, err->offset,
             err->line, err->column, err->path, err->msg);
}

static long n_cases, n_diff, n_compiled;

/* 0 in a build without the JIT (-DGAVEL_JIT=OFF, not x86-64 Linux): the
** differential tests then compare the VM with itself, and the checks that
** need machine code are skipped. */
static int have_jit(void) {
  return gavel__jit_mode(GV_JIT_ON) == GV_JIT_ON;
}

static gavel_runtime *g_off, *g_on;

static void setup(void) {
  if (!g_off) {
    g_off = mk_rt(GV_JIT_OFF, 0);
    g_on = mk_rt(GV_JIT_ON, 0);
  }
}

/* Compiles 'src' in both engines and compares evaluations over ctxs. */
static void diff_expr(const char *src, size_t len, const char *const *ctxs,
                      int n_ctx) {
  gavel_expr *a = NULL, *b = NULL;
  gavel_error ea, eb;
  gavel_status sa, sb;
  char ra[1024], rb[1024];
  int i;
  setup();
  sa = gavel_expr_compile(g_off, src, len, &a, &ea);
  sb = gavel_expr_compile(g_on, src, len, &b, &eb);
  n_cases++;
  if (sa != sb || (sa != GAVEL_OK && strcmp(ea.msg, eb.msg))) {
    n_diff++;
    fprintf(stderr, "  compile differs: %.*s\n", (int)len, src);
  }
  if (sa == GAVEL_OK && sb == GAVEL_OK) {
    const gv_program *p = gavel__expr_program(b);
    if (atomic_load(&((gv_program *)p)->jit_fn))
      n_compiled++;
    for (i = 0; i < n_ctx; i++) {
      const char *oa, *ob;
      size_t la = 0, lb = 0;
      size_t cl = ctxs[i] ? strlen(ctxs[i]) : 0;
      memset(&ea, 0, sizeof ea);
      memset(&eb, 0, sizeof eb);
      sa = gavel_expr_eval_json(a, ctxs[i], cl, &oa, &la, &ea);
      render(sa, oa, la, &ea, ra, sizeof ra);
      sb = gavel_expr_eval_json(b, ctxs[i], cl, &ob, &lb, &eb);
      render(sb, ob, lb, &eb, rb, sizeof rb);
      n_cases++;
      if (strcmp(ra, rb)) {
        n_diff++;
        if (n_diff < 20)
          fprintf(stderr, "  differs: %.*s  ctx %s\n    vm:  %s\n    jit: %s\n",
                  (int)len, src, ctxs[i] ? ctxs[i] : "null", ra, rb);
      }
    }
  }
  gavel_expr_free(a);
  gavel_expr_free(b);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  char *b;
  long sz;
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  b = malloc((size_t)sz + 1);
  if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) {
    b[sz] = 0;
    if (n)
      *n = (size_t)sz;
  }
  return b;
}

/* spec/fixtures/ *.test: "# id", expression, context, expected. */
static void diff_test_file(const char *path) {
  char *text = slurp(path, NULL), *line, *save = NULL;
  char *lines[4];
  int k = 0;
  if (!text)
    return;
  for (line = strtok_r(text, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
    if (!line || line[0] == '#') {
      if (k >= 2) {
        const char *ctx[1];
        ctx[0] = lines[1];
        diff_expr(lines[0], strlen(lines[0]), ctx, 1);
      }
      k = 0;
      if (!line)
        break;
      continue;
    }
    if (k < 4)
      lines[k++] = line;
  }
  free(text);
}

/* A JSON string member "key": "..." of one jsonl line, unescaped simply
** (fixtures' expressions use \" and \\ only); ctx is the raw object. */
static int jfield(const char *l, const char *key, char *out, size_t size,
                  int raw) {
  char pat[32];
  const char *p;
  size_t n = 0;
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  if (!(p = strstr(l, pat)))
    return 0;
  p += strlen(pat);
  if (raw) { /* a balanced JSON value */
    int depth = 0, instr = 0;
    const char *q = p;
    for (; *q; q++) {
      if (instr) {
        if (*q == '\\' && q[1])
          q++;
        else if (*q == '"')
          instr = 0;
        continue;
      }
      if (*q == '"')
        instr = 1;
      else if (*q == '{' || *q == '[')
        depth++;
      else if (*q == '}' || *q == ']') {
        if (depth == 0)
          break;
        if (--depth == 0) {
          q++;
          break;
        }
      } else if (*q == ',' && depth == 0)
        break;
    }
    if ((size_t)(q - p) >= size)
      return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
  }
  if (*p++ != '"')
    return 0;
  for (; *p && *p != '"' && n + 1 < size; p++) {
    if (*p == '\\') {
      p++;
      if (*p == 'n')
        out[n++] = '\n';
      else if (*p == 't')
        out[n++] = '\t';
      else if (*p == 'u')
        return 0; /* skip such lines */
      else
        out[n++] = *p;
    } else
      out[n++] = *p;
  }
  out[n] = 0;
  return 1;
}

static void diff_jsonl(const char *path) {
  char *text = slurp(path, NULL), *line, *save = NULL;
  static char ex[8192], cx[65536];
  if (!text)
    return;
  for (line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    const char *ctx[1];
    if (!jfield(line, "expr", ex, sizeof ex, 0))
      continue;
    if (!jfield(line, "ctx", cx, sizeof cx, 1))
      strcpy(cx, "{}");
    ctx[0] = cx;
    diff_expr(ex, strlen(ex), ctx, 1);
  }
  free(text);
}

TEST(every_expression_fixture_gives_identical_results_with_and_without_jit) {
  DIR *d = opendir(GAVEL_SOURCE_DIR "/spec/fixtures");
  struct dirent *de;
  char path[1024];
  long before = n_cases;
  n_diff = 0;
  CHECK(d != NULL);
  while (d && (de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l > 5 && !strcmp(de->d_name + l - 5, ".test")) {
      snprintf(path, sizeof path, GAVEL_SOURCE_DIR "/spec/fixtures/%s",
               de->d_name);
      diff_test_file(path);
    }
  }
  if (d)
    closedir(d);
  diff_jsonl(GAVEL_SOURCE_DIR "/spec/fixtures/corpus/expressions.jsonl");
  {
    FILE *f = fopen(GAVEL_SHARED_DIR "/conformance/ordo-sample/expressions.jsonl", "r");
    if (f) {
      fclose(f);
      printf("also: ../shared/conformance/ordo-sample/expressions.jsonl\n");
      diff_jsonl(GAVEL_SHARED_DIR "/conformance/ordo-sample/expressions.jsonl");
    } else
      printf("skipped: ../shared conformance sample absent\n");
  }
  printf("fixtures: %ld cases, %ld compiled programs, %ld differences\n",
         n_cases - before, n_compiled, n_diff);
  CHECK(n_cases - before > 500);
  if (have_jit())
    CHECK(n_compiled > 50);
  CHECK(n_diff == 0);
}

/* ==== Seeded random expressions and contexts ==== */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static const char *const lits[] = {
    "0", "1", "-1", "2", "18", "90", "100", "9223372036854775807",
    "-9223372036854775807", "4611686018427387904", "3037000500", "0.5",
    "1.5", "-0.0", "0.0", "1e308", "-1e308", "2.5e-300", "\"\"", "\"a\"",
    "\"active\"", "\"gold\"", "true", "false", "null", "[1, 2, 3]",
    "[\"a\", \"b\"]", "[]", "{}", "{\"k\": 1}"};
static const char *const fields[] = {"a", "b", "c", "d", "s", "t", "f",
                                     "u.v", "u.w", "arr", "obj", "nope"};
static const char *const binops[] = {"+", "-", "*", "/", "%", "==", "!=",
                                     "<", "<=", ">", ">=", "&&", "||", "in",
                                     "not in"};
static const char *const fns[] = {"len", "abs", "min", "max", "sum",
                                  "coalesce", "to_int", "to_float",
                                  "is_null", "exists"};

static void gen(char *b, size_t *n, size_t cap, int depth) {
  int r = (int)rnd(depth > 3 ? 3 : 10);
#define PUT(s)                                                               \
  do {                                                                       \
    const char *s_ = (s); /* evaluated once: the argument may call rnd() */ \
    size_t l_ = strlen(s_);                                                  \
    if (*n + l_ < cap) {                                                     \
      memcpy(b + *n, s_, l_);                                                \
      *n += l_;                                                              \
      b[*n] = 0;                                                             \
    }                                                                        \
  } while (0)
  if (r == 0) {
    PUT(lits[rnd(sizeof lits / sizeof *lits)]);
  } else if (r <= 2) {
    PUT(fields[rnd(sizeof fields / sizeof *fields)]);
  } else if (r <= 6) {
    /* field op literal: the shapes rules use */
    if (rnd(2)) {
      PUT(fields[rnd(sizeof fields / sizeof *fields)]);
    } else {
      PUT("(");
      gen(b, n, cap, depth + 1);
      PUT(")");
    }
    PUT(" ");
    PUT(binops[rnd(sizeof binops / sizeof *binops)]);
    PUT(" ");
    if (rnd(3)) {
      PUT(lits[rnd(sizeof lits / sizeof *lits)]);
    } else {
      PUT("(");
      gen(b, n, cap, depth + 1);
      PUT(")");
    }
  } else if (r == 7) {
    PUT(rnd(2) ? "!(" : "-(");
    gen(b, n, cap, depth + 1);
    PUT(")");
  } else if (r == 8) {
    PUT("if ");
    gen(b, n, cap, depth + 1);
    PUT(" then ");
    gen(b, n, cap, depth + 1);
    PUT(" else ");
    gen(b, n, cap, depth + 1);
  } else {
    const char *fn = fns[rnd(sizeof fns / sizeof *fns)];
    PUT(fn);
    PUT("(");
    gen(b, n, cap, depth + 1);
    if (!strcmp(fn, "min") || !strcmp(fn, "max") || !strcmp(fn, "coalesce")) {
      PUT(", ");
      gen(b, n, cap, depth + 1);
    }
    PUT(")");
  }
#undef PUT
}

static const char *const vals[] = {
    "0", "1", "-1", "17", "18", "19", "90", "9223372036854775807",
    "-9223372036854775808", "4611686018427387904", "3037000500",
    "-3037000500", "0.5", "1.5", "-0.0", "0.0", "1e308", "-1e308",
    "4.9e-324", "\"\"", "\"a\"", "\"active\"", "\"gold\"", "true", "false",
    "null", "[1, 2.5, 3]", "[\"a\"]", "[]", "{}", "{\"k\": [1]}"};

static void gen_ctx(char *b, size_t cap) {
  size_t n = 0;
  int i;
  static const char *const keys[] = {"a", "b", "c", "d", "s", "t", "f"};
  n += (size_t)snprintf(b + n, cap - n, "{");
  for (i = 0; i < 7; i++) {
    if (rnd(6) == 0)
      continue; /* missing field */
    n += (size_t)snprintf(b + n, cap - n, "%s\"%s\": %s", n > 1 ? ", " : "",
                          keys[i], vals[rnd(sizeof vals / sizeof *vals)]);
  }
  if (rnd(3))
    n += (size_t)snprintf(b + n, cap - n, "%s\"u\": {\"v\": %s, \"w\": %s}",
                          n > 1 ? ", " : "",
                          vals[rnd(sizeof vals / sizeof *vals)],
                          vals[rnd(sizeof vals / sizeof *vals)]);
  n += (size_t)snprintf(b + n, cap - n,
                        "%s\"arr\": [1, \"a\", 2.5], \"obj\": {\"x\": 1}}",
                        n > 1 ? ", " : "");
}

TEST(random_expressions_and_contexts_agree_between_vm_and_jit) {
  char ex[2048];
  static char ctxbuf[8][1024];
  const char *ctxs[8];
  long before = n_cases, comp0 = n_compiled;
  int i, j;
  const char *seed = getenv("GAVEL_JIT_SEED");
  if (seed)
    rng = strtoull(seed, NULL, 10) | 1;
  printf("seed %llu\n", (unsigned long long)rng);
  n_diff = 0;
  for (i = 0; n_cases - before < 110000; i++) {
    size_t n = 0;
    ex[0] = 0;
    gen(ex, &n, sizeof ex, 0);
    for (j = 0; j < 8; j++) {
      gen_ctx(ctxbuf[j], sizeof ctxbuf[j]);
      ctxs[j] = ctxbuf[j];
    }
    diff_expr(ex, n, ctxs, 8);
  }
  printf("random: %d expressions, %ld cases, %ld compiled, %ld differences\n",
         i, n_cases - before, n_compiled - comp0, n_diff);
  CHECK(n_cases - before >= 100000);
  if (have_jit())
    CHECK(n_compiled - comp0 > i / 8); /* many shapes really ran native */
  CHECK(n_diff == 0);
}

/* ==== Rulesets ==== */

static void diff_ruleset(const char *rpath, const char *inputs_path) {
  size_t rl = 0;
  char *rs_text = slurp(rpath, &rl), *inputs = slurp(inputs_path, NULL);
  char *line, *save = NULL;
  gavel_ruleset *ra = NULL, *rb = NULL;
  gavel_exec *xa = NULL, *xb = NULL;
  gavel_error ea, eb;
  int runs = 0;
  setup();
  CHECK(rs_text && inputs);
  if (!rs_text || !inputs)
    goto out;
  CHECK(gavel_ruleset_load(g_off, rs_text, rl, NULL, &ra, &ea) == GAVEL_OK);
  CHECK(gavel_ruleset_load(g_on, rs_text, rl, NULL, &rb, &eb) == GAVEL_OK);
  if (!ra || !rb)
    goto out;
  gavel_exec_new(ra, &xa, &ea);
  gavel_exec_new(rb, &xb, &eb);
  for (line = strtok_r(inputs, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    unsigned fl;
    for (fl = 0; fl <= GAVEL_RUN_TRACE; fl += GAVEL_RUN_TRACE) {
      const char *oa = NULL, *ob = NULL;
      size_t la = 0, lb = 0;
      gavel_status sa = gavel_exec_run_json(xa, line, strlen(line), fl, &oa,
                                            &la, &ea);
      gavel_status sb = gavel_exec_run_json(xb, line, strlen(line), fl, &ob,
                                            &lb, &eb);
      CHECK(sa == sb);
      if (sa == GAVEL_OK && sb == GAVEL_OK) {
        /* traces carry durations: compare the result without them */
        if (fl)
          CHECK(la > 0 && lb > 0);
        else {
          CHECK(la == lb && memcmp(oa, ob, la) == 0);
        }
      } else
        CHECK_STR(eb.msg, ea.msg);
      runs++;
    }
  }
  CHECK(runs > 0);
out:
  gavel_exec_free(xa);
  gavel_exec_free(xb);
  gavel_ruleset_free(ra);
  gavel_ruleset_free(rb);
  free(rs_text);
  free(inputs);
}

TEST(the_loan_ruleset_gives_identical_results_with_and_without_jit) {
  diff_ruleset(GAVEL_SOURCE_DIR "/examples/loan.json",
               GAVEL_SOURCE_DIR "/examples/loan.jsonl");
}

/* ==== Decision chains (straight-path graphs compiled whole) ==== */

/* Appends 's' as a JSON string body (quotes and backslashes escaped). */
static void put_esc(char *b, size_t *n, size_t cap, const char *s) {
  for (; *s && *n + 2 < cap; s++) {
    if (*s == '"' || *s == '\\')
      b[(*n)++] = '\\';
    b[(*n)++] = *s;
  }
  b[*n] = 0;
}

#define RS_CAP 16384
static void rs_put(char *b, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rs_put(char *b, size_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (*n < RS_CAP)
    *n += (size_t)vsnprintf(b + *n, RS_CAP - *n, fmt, ap);
  va_end(ap);
}

/* A random condition: mostly the shapes rules use ('field op literal',
** combined with && / ||), sometimes anything the generator makes. */
static void gen_cond(char *c, size_t cap) {
  static const char *const cmps[] = {"==", "!=", "<", "<=", ">", ">="};
  static const char *const ars[] = {"+", "-", "*", "/"};
  static const char *const lits[] = { /* no exponents: rules reject them */
      "0", "1", "-1", "2", "18", "90", "100", "9223372036854775807",
      "-9223372036854775807", "4611686018427387904", "3037000500", "0.5",
      "1.5", "-0.0", "0.0", "\"\"", "\"a\"", "\"active\"", "true", "false",
      "null", "12.25"};
  size_t n = 0;
  int k, m = 1 + (int)rnd(3);
  c[0] = 0;
  if (rnd(5) == 0) { /* anything: builtins, 'in', negation, ... */
    gen(c, &n, cap, 1);
    return;
  }
  for (k = 0; k < m; k++) {
    const char *f = fields[rnd(sizeof fields / sizeof *fields)];
    if (k)
      n += (size_t)snprintf(c + n, cap - n, rnd(2) ? " && " : " || ");
    if (rnd(4) == 0)
      n += (size_t)snprintf(c + n, cap - n, "(%s %s %s) %s %s", f,
                            ars[rnd(4)], lits[rnd(sizeof lits / sizeof *lits)],
                            cmps[rnd(6)],
                            lits[rnd(sizeof lits / sizeof *lits)]);
    else if (rnd(8) == 0)
      n += (size_t)snprintf(c + n, cap - n, "%s%s", rnd(2) ? "!" : "", f);
    else
      n += (size_t)snprintf(c + n, cap - n, "%s %s %s", f, cmps[rnd(6)],
                            lits[rnd(sizeof lits / sizeof *lits)]);
    if (n >= cap)
      break;
  }
}

/* A random ruleset of decisions (up to three deep) ending in terminals:
** mostly prebuilt results, sometimes one reading the input, sometimes no
** default (the "no matching branch" error); strict or lenient, a random
** step cap and gas budget now and then. */
static void gen_ruleset(char *b, size_t *n) {
  int n_dec = 1 + (int)rnd(4), d, k, t = 0, n_term;
  char cond[1024];
  *n = 0;
  rs_put(b, n, "{\"config\":{\"name\":\"r\",\"entry_step\":\"d0\"%s%s%s},"
               "\"steps\":{",
         rnd(3) ? "" : ",\"field_missing\":\"strict\"",
         rnd(6) ? "" : ",\"max_depth\":2",
         rnd(8) ? "" : ",\"gas_limit\":40");
  n_term = 5;
  for (d = 0; d < n_dec; d++) {
    int nb = 1 + (int)rnd(4);
    rs_put(b, n, "%s\"d%d\":{\"id\":\"d%d\",\"type\":\"decision\","
                 "\"branches\":[", d ? "," : "", d, d);
    for (k = 0; k < nb; k++) {
      char nx[16];
      /* later decisions only: a tree or a DAG, never a cycle */
      if (d + 1 < n_dec && rnd(3) == 0)
        snprintf(nx, sizeof nx, "d%d",
                 d + 1 + (int)rnd((uint32_t)(n_dec - d - 1)));
      else
        snprintf(nx, sizeof nx, "t%d", (int)rnd((uint32_t)n_term));
      gen_cond(cond, sizeof cond);
      rs_put(b, n, "%s{\"condition\":\"", k ? "," : "");
      put_esc(b, n, RS_CAP, cond);
      rs_put(b, n, "\",\"next_step\":\"%s\"}", nx);
    }
    rs_put(b, n, "]");
    if (rnd(6))
      rs_put(b, n, ",\"default_next\":\"t%d\"", (int)rnd((uint32_t)n_term));
    rs_put(b, n, "}");
  }
  for (t = 0; t < n_term; t++) {
    rs_put(b, n, ",\"t%d\":{\"id\":\"t%d\",\"type\":\"terminal\","
                 "\"result\":{\"code\":\"T%d\",\"message\":\"m%d\"",
           t, t, t, t);
    if (t == 3)
      rs_put(b, n, ",\"output\":{\"x\":\"a + 1\"}"); /* reads the input */
    if (t == 1)
      rs_put(b, n, ",\"data\":{\"k\":[1,2.5,\"z\"],\"o\":{\"p\":null}}");
    rs_put(b, n, "}}");
  }
  rs_put(b, n, "}}");
}

/* An input object built outside the parser: duplicate keys (the first
** one must win), in the exec's arena. */
static gvalue dup_input(gv_arena *a, int variant) {
  gv_obj *o = gavel__obj_new(a, 8), *u = gavel__obj_new(a, 4);
  static const char *const k[] = {"a", "b", "a", "u", "c", "b"};
  int i;
  /* variants 2 and 3: past 64 keys (the compiled lookup's bound-position
  ** mask covers 64) */
  for (i = 0; i < (variant >= 2 ? 70 : 0) && o; i++) {
    char f[16];
    snprintf(f, sizeof f, "f%d", i);
    gavel__obj_append(a, o, gavel__str_cstr(a, f), gv_int(i));
    if (variant == 3 && i == 66)
      gavel__obj_append(a, o, gavel__str_cstr(a, "b"), gv_float(0.5));
  }
  for (i = 0; i < 6 && o && u; i++) {
    gvalue v = gv_int((int64_t)(i * 37 % 11) - 3 + variant);
    if (i == 3) {
      gavel__obj_append(a, u, gavel__str_cstr(a, "v"), gv_int(variant));
      gavel__obj_append(a, u, gavel__str_cstr(a, "v"), gv_float(2.5));
      v = gv_objv(u);
    }
    gavel__obj_append(a, o, gavel__str_cstr(a, k[i]), v);
  }
  return o ? gv_objv(o) : gv_null();
}

static void diff_chain_run(gavel_exec *xa, gavel_exec *xb, const char *in,
                           long *runs, long *bad) {
  const char *oa = NULL, *ob = NULL;
  size_t la = 0, lb = 0;
  gavel_error ea, eb;
  gavel_status sa, sb;
  char ra[2048], rb[2048];
  sa = gavel_exec_run_json(xa, in, strlen(in), 0, &oa, &la, &ea);
  render(sa, oa, la, &ea, ra, sizeof ra);
  sb = gavel_exec_run_json(xb, in, strlen(in), 0, &ob, &lb, &eb);
  render(sb, ob, lb, &eb, rb, sizeof rb);
  (*runs)++;
  if (strcmp(ra, rb) ||
      gavel__exec_gas_used(xa) != gavel__exec_gas_used(xb)) {
    if ((*bad)++ < 10)
      fprintf(stderr, "  chain differs on %s\n    vm:  %s\n    jit: %s\n", in,
              ra, rb);
  }
}

TEST(random_decision_chains_agree_between_vm_and_compiled_chain) {
  static char rs_text[RS_CAP], ctx[1024];
  long runs = 0, bad = 0, chains = 0, loaded = 0;
  int i, j;
  /* roots that are no object, arrays on a path, parent scalars */
  static const char *const odd[] = {
      "null", "[1,2]", "5", "\"s\"", "{\"u\": [1, 2]}", "{\"u\": 3}",
      "{\"a\": {\"b\": 1}, \"u\": {\"v\": null}}", "{}"};
  int count = getenv("GAVEL_JIT_CHAINS") ? atoi(getenv("GAVEL_JIT_CHAINS"))
                                           : 400; /* longer campaigns */
  setup();
  for (i = 0; i < count; i++) {
    size_t n;
    gavel_ruleset *ra = NULL, *rb = NULL;
    gavel_exec *xa = NULL, *xb = NULL;
    gavel_error ea, eb;
    gavel_status la, lb;
    gen_ruleset(rs_text, &n);
    la = gavel_ruleset_load(g_off, rs_text, n, NULL, &ra, &ea);
    lb = gavel_ruleset_load(g_on, rs_text, n, NULL, &rb, &eb);
    CHECK(la == lb);
    if (la != GAVEL_OK && getenv("GAVEL_TEST_VERBOSE"))
      fprintf(stderr, "  not loaded: %s\n", ea.msg);
    if (la != GAVEL_OK || lb != GAVEL_OK) {
      gavel_ruleset_free(ra);
      gavel_ruleset_free(rb);
      continue;
    }
    loaded++;
    CHECK(gavel_exec_new(ra, &xa, &ea) == GAVEL_OK);
    CHECK(gavel_exec_new(rb, &xb, &eb) == GAVEL_OK);
    CHECK((gavel__exec_jit_parts(xa) & 1) == 0); /* jit=off: no chain */
    chains += gavel__exec_jit_parts(xb) & 1;
    for (j = 0; j < 24; j++) {
      if (j < 16) {
        gen_ctx(ctx, sizeof ctx);
        diff_chain_run(xa, xb, ctx, &runs, &bad);
      } else
        diff_chain_run(xa, xb, odd[j - 16], &runs, &bad);
    }
    /* values built outside the parser, duplicate keys included */
    for (j = 0; j < 4; j++) {
      gavel_status sa, sb;
      gv_buf ba, bb;
      gv_arena *aa = gavel__exec_prepare(xa), *ab = gavel__exec_prepare(xb);
      sa = gavel__exec_run_value(xa, dup_input(aa, j), 0, &ea);
      sb = gavel__exec_run_value(xb, dup_input(ab, j), 0, &eb);
      gavel__buf_init(&ba, &gavel__default_alloc);
      gavel__buf_init(&bb, &gavel__default_alloc);
      if (sa == GAVEL_OK)
        gavel__json_write(&ba, gavel__exec_result(xa));
      if (sb == GAVEL_OK)
        gavel__json_write(&bb, gavel__exec_result(xb));
      runs++;
      if (sa != sb || (sa == GAVEL_OK && strcmp(ba.p, bb.p)) ||
          (sa != GAVEL_OK && strcmp(ea.msg, eb.msg)))
        if (bad++ < 10)
          fprintf(stderr, "  chain differs on duplicate keys: %s | %s\n",
                  sa == GAVEL_OK ? ba.p : ea.msg,
                  sb == GAVEL_OK ? bb.p : eb.msg);
      gavel__buf_free(&ba);
      gavel__buf_free(&bb);
    }
    gavel_exec_free(xa);
    gavel_exec_free(xb);
    gavel_ruleset_free(ra);
    gavel_ruleset_free(rb);
  }
  printf("chains: %ld rulesets, %ld compiled whole, %ld runs, %ld "
         "differences\n",
         loaded, chains, runs, bad);
  CHECK(loaded > count / 4);
  if (have_jit())
    CHECK(chains > loaded / 4); /* many really ran as one function */
  CHECK(bad == 0);
}

/* Keys of every length around the compiled binder's 8-byte windows, and
** look-alikes that differ only before, inside or after a window, in any
** order: the compiled lookup binds what the VM's does. */
TEST(compiled_key_lookups_match_keys_of_every_length_exactly) {
  static const char *const keys[] = {
      "k", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh",
      "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq",
      "abcdefghijklmnopqrstuvwxyz0123"};
  static const char *const alike[] = {
      "K", "aB", "abC", "Abcd", "abcdE", "abcDef", "abcdefG", "Abcdefgh",
      "Abcdefghi", "abcdefghijklmnoP", "abcdefghiJklmnopq",
      "abcdefghijklmnopqrstuvwxyz012_"};
  enum { NK = sizeof keys / sizeof *keys };
  static char rs_text[RS_CAP], in[8192];
  size_t n = 0;
  gavel_ruleset *ra = NULL, *rb = NULL;
  gavel_exec *xa = NULL, *xb = NULL;
  gavel_error ea, eb;
  long runs = 0, bad = 0;
  int i, r;
  setup();
  /* d0 .. d(NK-1): "o.<key> == i" (nested: the key is a second level) */
  rs_put(rs_text, &n, "{\"config\":{\"name\":\"k\",\"entry_step\":\"d0\"},"
                      "\"steps\":{");
  for (i = 0; i < NK; i++)
    rs_put(rs_text, &n,
           "\"d%d\":{\"id\":\"d%d\",\"type\":\"decision\",\"branches\":[{"
           "\"condition\":\"o.%s == %d\",\"next_step\":\"%s%d\"}],"
           "\"default_next\":\"t%d\"},",
           i, i, keys[i], i, i + 1 < NK ? "d" : "t", i + 1 < NK ? i + 1 : 0,
           i);
  for (i = 0; i < NK; i++)
    rs_put(rs_text, &n,
           "%s\"t%d\":{\"id\":\"t%d\",\"type\":\"terminal\",\"result\":{"
           "\"code\":\"T%d\"}}",
           i ? "," : "", i, i, i);
  rs_put(rs_text, &n, "}}");
  CHECK(gavel_ruleset_load(g_off, rs_text, n, NULL, &ra, &ea) == GAVEL_OK);
  CHECK(gavel_ruleset_load(g_on, rs_text, n, NULL, &rb, &eb) == GAVEL_OK);
  if (!ra || !rb)
    goto out;
  gavel_exec_new(ra, &xa, &ea);
  gavel_exec_new(rb, &xb, &eb);
  if (have_jit())
    CHECK(gavel__exec_jit_parts(xb) == 3);
  for (r = 0; r < 300; r++) {
    size_t m = 0;
    int perm[NK], j;
    for (i = 0; i < NK; i++)
      perm[i] = i;
    for (i = NK - 1; i > 0 && r % 3; i--) { /* shuffled two runs in three */
      int t;
      j = (int)rnd((uint32_t)i + 1);
      t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    m += (size_t)snprintf(in + m, sizeof in - m, "{\"o\":{");
    if (r % 4 == 1) /* past 64 keys: the compiled lookup's position mask */
      for (i = 0; i < 70; i++)
        m += (size_t)snprintf(in + m, sizeof in - m, "\"f%d\":%d,", i, i);
    for (i = 0; i < NK; i++) {
      int k = perm[i];
      /* a look-alike first now and then; the key itself mostly matching,
      ** sometimes off by one, sometimes absent */
      if (rnd(3) == 0)
        m += (size_t)snprintf(in + m, sizeof in - m, "\"%s\":%d,", alike[k],
                              k);
      if (rnd(8))
        m += (size_t)snprintf(in + m, sizeof in - m, "\"%s\":%d,", keys[k],
                              rnd(6) ? k : k + 1);
    }
    if (in[m - 1] == ',')
      m--;
    m += (size_t)snprintf(in + m, sizeof in - m, "}}");
    diff_chain_run(xa, xb, in, &runs, &bad);
  }
  CHECK(bad == 0);
out:
  gavel_exec_free(xa);
  gavel_exec_free(xb);
  gavel_ruleset_free(ra);
  gavel_ruleset_free(rb);
}

/* An empty path segment ('a..b' reads the key "" of a): found by
** fuzz_ruleset (the binding plan's mask for a zero-length key). */
TEST(an_empty_key_in_a_path_binds_as_in_the_vm) {
  static const char rs_text[] =
      "{\"config\":{\"name\":\"e\",\"entry_step\":\"d\"},\"steps\":{"
      "\"d\":{\"id\":\"d\",\"type\":\"decision\",\"branches\":["
      "{\"condition\":\"a..b == 1\",\"next_step\":\"y\"},"
      "{\"condition\":\"a.x >= 2\",\"next_step\":\"y\"}],"
      "\"default_next\":\"n\"},"
      "\"y\":{\"id\":\"y\",\"type\":\"terminal\",\"result\":{\"code\":\"Y\"}},"
      "\"n\":{\"id\":\"n\",\"type\":\"terminal\",\"result\":{\"code\":\"N\"}}}}";
  static const char *const ins[] = {
      "{\"a\":{\"\":{\"b\":1}}}", "{\"a\":{\"x\":1,\"\":{\"b\":1}}}",
      "{\"a\":{\"\":2,\"x\":3}}", "{\"a\":{\"\":{\"b\":2},\"x\":1}}",
      "{\"a\":{}}", "{\"a\":{\"x\":5}}", "{\"a\":[]}"};
  gavel_ruleset *ra = NULL, *rb = NULL;
  gavel_exec *xa = NULL, *xb = NULL;
  gavel_error ea, eb;
  long runs = 0, bad = 0;
  unsigned i, r;
  setup();
  CHECK(gavel_ruleset_load(g_off, rs_text, sizeof rs_text - 1, NULL, &ra,
                           &ea) == GAVEL_OK);
  CHECK(gavel_ruleset_load(g_on, rs_text, sizeof rs_text - 1, NULL, &rb,
                           &eb) == GAVEL_OK);
  if (ra && rb && gavel_exec_new(ra, &xa, &ea) == GAVEL_OK &&
      gavel_exec_new(rb, &xb, &eb) == GAVEL_OK) {
    if (have_jit())
      CHECK(gavel__exec_jit_parts(xb) == 3);
    for (r = 0; r < 3; r++)
      for (i = 0; i < sizeof ins / sizeof *ins; i++)
        diff_chain_run(xa, xb, ins[i], &runs, &bad);
  }
  CHECK(runs > 0 && bad == 0);
  gavel_exec_free(xa);
  gavel_exec_free(xb);
  gavel_ruleset_free(ra);
  gavel_ruleset_free(rb);
}

/* Objects that may hold a key twice (built in C or from a Lua table,
** where 1 and "1" are both "1"; gv_obj.nodup 0) bind the first of equal
** keys on the compiled path, even where the remembered position holds the
** second; the JSON reader's objects (one member per key, nodup 1) skip
** that check. */
TEST(objects_with_a_key_twice_bind_its_first_member_on_the_compiled_path) {
  static const char rs_text[] =
      "{\"config\":{\"name\":\"dup\",\"entry_step\":\"d\"},\"steps\":{"
      "\"d\":{\"id\":\"d\",\"type\":\"decision\",\"branches\":["
      "{\"condition\":\"o.b == 99\",\"next_step\":\"n\"},"
      "{\"condition\":\"o.a == 5\",\"next_step\":\"f\"},"
      "{\"condition\":\"o.a == 7\",\"next_step\":\"s\"}],"
      "\"default_next\":\"n\"},"
      "\"f\":{\"id\":\"f\",\"type\":\"terminal\",\"result\":{\"code\":\"FIRST\"}},"
      "\"s\":{\"id\":\"s\",\"type\":\"terminal\",\"result\":{\"code\":\"SECOND\"}},"
      "\"n\":{\"id\":\"n\",\"type\":\"terminal\",\"result\":{\"code\":\"N\"}}}}";
  static const char teach[] = "{\"o\":{\"b\":0,\"a\":7}}";
  gavel_ruleset *rs[2] = {NULL, NULL};
  gavel_exec *ex[2] = {NULL, NULL};
  gavel_error e;
  gv_arena a;
  gvalue in, parsed;
  gv_obj *top, *o;
  int k, r;
  setup();
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  /* the reader's objects are marked, appended-to ones are not */
  CHECK(gavel__json_parse(&a, teach, sizeof teach - 1, NULL, &parsed, &e) ==
        GAVEL_OK);
  CHECK(parsed.tag == GV_OBJ && parsed.u.o->nodup == 1 &&
        parsed.u.o->vals[0].u.o->nodup == 1);
  top = gavel__obj_new(&a, 1);
  o = gavel__obj_new(&a, 3);
  CHECK(top && o && o->nodup == 0);
  if (!top || !o)
    goto out;
  /* o.b before o.a in the rule: the JSON run below leaves 'a'
  ** remembered at position 1, where this object has its second "a" */
  gavel__obj_append(&a, o, gavel__str_cstr(&a, "a"), gv_int(5));
  gavel__obj_append(&a, o, gavel__str_cstr(&a, "a"), gv_int(7));
  gavel__obj_append(&a, o, gavel__str_cstr(&a, "b"), gv_int(0));
  gavel__obj_append(&a, top, gavel__str_cstr(&a, "o"), gv_objv(o));
  parsed.u.o->nodup = 1;
  gavel__obj_append(&a, parsed.u.o, gavel__str_cstr(&a, "x"), gv_int(1));
  CHECK(parsed.u.o->nodup == 0);
  in = gv_objv(top);
  for (k = 0; k < 2; k++) {
    CHECK(gavel_ruleset_load(k ? g_on : g_off, rs_text, sizeof rs_text - 1,
                             NULL, &rs[k], &e) == GAVEL_OK);
    if (!rs[k] || gavel_exec_new(rs[k], &ex[k], &e) != GAVEL_OK)
      goto out;
  }
  if (have_jit())
    CHECK(gavel__exec_jit_parts(ex[1]) == 3);
  for (r = 0; r < 3; r++)
    for (k = 0; k < 2; k++) {
      const char *out = NULL;
      size_t n = 0;
      gvalue res;
      /* a JSON run leaves 'a' remembered at position 1 */
      CHECK(gavel_exec_run_json(ex[k], teach, sizeof teach - 1, 0, &out, &n,
                                &e) == GAVEL_OK);
      CHECK(out && strstr(out, "\"SECOND\"") != NULL);
      gavel__exec_prepare(ex[k]);
      CHECK(gavel__exec_run_value(ex[k], in, 0, &e) == GAVEL_OK);
      res = gavel__exec_result(ex[k]);
      CHECK(res.tag == GV_OBJ && res.u.o->vals[0].tag == GV_STR &&
            !strcmp(res.u.o->vals[0].u.s->s, "FIRST"));
    }
out:
  for (k = 0; k < 2; k++) {
    gavel_exec_free(ex[k]);
    gavel_ruleset_free(rs[k]);
  }
  gavel__arena_free(&a);
}

/* The loan rule's decision calls builtins: no chain, but the compiled
** binder reads its 13 inputs (three levels deep) for the straight path. */
TEST(the_loan_rule_binds_its_inputs_with_compiled_code) {
  size_t rl = 0;
  char *rs_text = slurp(GAVEL_SOURCE_DIR "/examples/loan.json", &rl);
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  setup();
  CHECK(rs_text != NULL);
  if (!rs_text)
    return;
  CHECK(gavel_ruleset_load(g_on, rs_text, rl, NULL, &rs, &err) == GAVEL_OK);
  if (rs && gavel_exec_new(rs, &ex, &err) == GAVEL_OK) {
    if (have_jit())
      CHECK(gavel__exec_jit_parts(ex) == 2);
    else
      CHECK(gavel__exec_jit_parts(ex) == 0);
  }
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  free(rs_text);
}

/* ==== Code memory ==== */

/* Mappings writable and executable at once; and executable anonymous ones. */
static void scan_maps(int *wx, int *xanon) {
  FILE *f = fopen("/proc/self/maps", "r");
  char l[512];
  *wx = *xanon = 0;
  if (!f)
    return;
  while (fgets(l, sizeof l, f)) {
    char perms[8] = "";
    unsigned long inode = 1;
    if (sscanf(l, "%*s %7s %*s %*s %lu", perms, &inode) < 2)
      continue;
    if (perms[1] == 'w' && perms[2] == 'x')
      (*wx)++;
    if (perms[2] == 'x' && inode == 0)
      (*xanon)++;
  }
  fclose(f);
}

static const char rules4[] =
    "{\"config\": {\"name\": \"grade\", \"entry_step\": \"start\"}, \"steps\""
    ": {\"start\": {\"id\": \"start\", \"type\": \"decision\", \"branches\": "
    "[{\"condition\": \"score >= 90\", \"next_step\": \"A\"}, {\"condition"
    "\": \"score >= 80\", \"next_step\": \"B\"}, {\"condition\": \"score >="
    " 70\", \"next_step\": \"C\"}], \"default_next\": \"D\"}, \"A\": {\"id\": "
    "\"A\", \"type\": \"terminal\", \"result\": {\"code\": \"A\", \"message\": "
    "\"A\"}}, \"B\": {\"id\": \"B\", \"type\": \"terminal\", \"result\": {\"code"
    "\": \"B\", \"message\": \"B\"}}, \"C\": {\"id\": \"C\", \"type\": \"terminal"
    "\", \"result\": {\"code\": \"C\", \"message\": \"C\"}}, \"D\": {\"id\": \"D\""
    ", \"type\": \"terminal\", \"result\": {\"code\": \"D\", \"message\": \"D\""
    "}}}}";

TEST(no_mapping_is_writable_and_executable_while_rulesets_are_loaded) {
  gavel_runtime *rt = mk_rt(GV_JIT_ON, 0);
  gavel_ruleset *rs[8];
  gavel_exec *ex[8];
  gavel_error err;
  size_t m0 = gavel__jit_mapped_bytes();
  int i, wx0, wx, xa0, xa1;
  /* PCRE2's own JIT (regex builtins, run by earlier tests) may map
  ** pages rwx: only ours are judged, by difference. */
  scan_maps(&wx0, &xa0);
  if (wx0)
    printf("note: %d rwx mapping(s) before loading (not the JIT's: PCRE2)\n",
           wx0);
  for (i = 0; i < 8; i++) {
    rs[i] = NULL;
    ex[i] = NULL;
    CHECK(gavel_ruleset_load(rt, rules4, sizeof rules4 - 1, NULL, &rs[i],
                             &err) == GAVEL_OK);
    /* an exec compiles the decision chain and the binder (jit=on) */
    if (rs[i])
      CHECK(gavel_exec_new(rs[i], &ex[i], &err) == GAVEL_OK);
    if (ex[i] && have_jit())
      CHECK(gavel__exec_jit_parts(ex[i]) == 3);
  }
  if (have_jit())
    CHECK(gavel__jit_mapped_bytes() > m0); /* code was really mapped */
  scan_maps(&wx, &xa1);
  CHECK(wx == wx0);
  if (have_jit())
    CHECK(xa1 > xa0); /* ... and is executable, in anonymous mappings */
  for (i = 0; i < 8; i++) {
    gavel_exec_free(ex[i]);
    gavel_ruleset_free(rs[i]);
  }
  CHECK(gavel__jit_mapped_bytes() == m0);
  gavel_runtime_free(rt);
}

TEST(a_thousand_load_free_cycles_keep_jit_memory_flat) {
  gavel_runtime *rt = mk_rt(GV_JIT_ON, 0);
  gavel_error err;
  size_t m0 = gavel__jit_mapped_bytes(), peak = 0;
  int i, wx, xa0, xa1, ok = 1;
  scan_maps(&wx, &xa0);
  for (i = 0; i < 1000; i++) {
    gavel_ruleset *rs = NULL;
    gavel_exec *ex = NULL;
    const char *out;
    size_t n;
    if (gavel_ruleset_load(rt, rules4, sizeof rules4 - 1, NULL, &rs, &err) !=
        GAVEL_OK) {
      ok = 0;
      break;
    }
    if (gavel__jit_mapped_bytes() > peak)
      peak = gavel__jit_mapped_bytes();
    gavel_exec_new(rs, &ex, &err);
    ok &= gavel_exec_run_json(ex, "{\"score\": 85}", 13, 0, &out, &n, &err) ==
              GAVEL_OK &&
          strstr(out, "\"B\"") != NULL;
    gavel_exec_free(ex);
    gavel_ruleset_free(rs);
  }
  scan_maps(&wx, &xa1);
  CHECK(ok);
  if (have_jit())
    CHECK(peak > m0);
  CHECK(gavel__jit_mapped_bytes() == m0);
  CHECK(xa1 == xa0);
  gavel_runtime_free(rt);
}

TEST(over_the_code_bound_programs_stay_in_the_vm) {
  gavel_config c;
  gavel_runtime *rt = NULL;
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  memset(&c, 0, sizeof c);
  c.abi = GAVEL_VERSION_NUM;
  c.jit = GV_JIT_ON;
  c.jit_max_code_bytes = 1; /* less than one page */
  CHECK(gavel_runtime_new(&c, &rt, &err) == GAVEL_OK);
  CHECK(gavel_expr_compile(rt, "age > 18", 8, &e, &err) == GAVEL_OK);
  CHECK(atomic_load(&((gv_program *)gavel__expr_program(e))->jit_fn) == 0);
  CHECK(gavel_expr_eval_json(e, "{\"age\": 20}", 11, &out, &n, &err) ==
        GAVEL_OK);
  CHECK_STR(out, "true");
  gavel_expr_free(e);
  gavel_runtime_free(rt);
}

/* ==== Tiering ==== */

TEST(auto_mode_tiers_a_program_up_after_exactly_n_evaluations) {
  gavel_runtime *rt = mk_rt(GV_JIT_AUTO, 5);
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  int i;
  CHECK(gavel_expr_compile(rt, "age > 18 && s == \"x\"", 20, &e, &err) ==
        GAVEL_OK);
  for (i = 1; i <= 6 && e; i++) {
    uintptr_t fn;
    CHECK(gavel_expr_eval_json(e, "{\"age\": 20, \"s\": \"x\"}", 21, &out, &n,
                               &err) == GAVEL_OK);
    CHECK_STR(out, "true");
    fn = atomic_load(&((gv_program *)gavel__expr_program(e))->jit_fn);
    if (i < 5)
      CHECK(fn == 0);
    else
      CHECK(fn != 0 || !have_jit());
  }
  gavel_expr_free(e);
  gavel_runtime_free(rt);
}

/* Auto mode: a straight-path graph gets its chain after N runs of an
** exec; a later exec of the same ruleset picks it up at once. */
TEST(auto_mode_tiers_a_decision_chain_up_after_n_runs_for_every_exec) {
  gavel_runtime *rt = mk_rt(GV_JIT_AUTO, 5);
  gavel_ruleset *rs = NULL;
  gavel_exec *a = NULL, *b = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  int i;
  CHECK(gavel_ruleset_load(rt, rules4, sizeof rules4 - 1, NULL, &rs, &err) ==
        GAVEL_OK);
  if (!rs) {
    gavel_runtime_free(rt);
    return;
  }
  CHECK(gavel_exec_new(rs, &a, &err) == GAVEL_OK);
  for (i = 1; i <= 6; i++) {
    CHECK(gavel_exec_run_json(a, "{\"score\": 85}", 13, 0, &out, &n, &err) ==
          GAVEL_OK);
    CHECK(strstr(out, "\"B\"") != NULL);
    if (i < 5)
      CHECK(gavel__exec_jit_parts(a) == 0);
    else if (have_jit())
      CHECK(gavel__exec_jit_parts(a) == 3);
  }
  CHECK(gavel_exec_new(rs, &b, &err) == GAVEL_OK);
  if (have_jit())
    CHECK(gavel__exec_jit_parts(b) == 3);
  CHECK(gavel_exec_run_json(b, "{\"score\": 95}", 13, 0, &out, &n, &err) ==
        GAVEL_OK);
  CHECK(strstr(out, "\"A\"") != NULL);
  gavel_exec_free(a);
  gavel_exec_free(b);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
}

TEST(off_mode_never_compiles) {
  gavel_runtime *rt = mk_rt(GV_JIT_OFF, 1);
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  size_t n;
  int i;
  CHECK(gavel_expr_compile(rt, "age > 18", 8, &e, &err) == GAVEL_OK);
  for (i = 0; i < 10; i++)
    gavel_expr_eval_json(e, "{\"age\": 20}", 11, &out, &n, &err);
  CHECK(atomic_load(&((gv_program *)gavel__expr_program(e))->jit_fn) == 0);
  gavel_expr_free(e);
  gavel_runtime_free(rt);
}

typedef struct tharg {
  gavel_ruleset *rs;
  int bad;
} tharg;

static void *worker(void *arg) {
  tharg *t = arg;
  gavel_exec *ex = NULL;
  gavel_error err;
  int i;
  static const char *const in[4] = {"{\"score\": 95}", "{\"score\": 85}",
                                    "{\"score\": 75.5}", "{\"score\": 3}"};
  static const char *const want[4] = {"\"A\"", "\"B\"", "\"C\"", "\"D\""};
  if (gavel_exec_new(t->rs, &ex, &err) != GAVEL_OK) {
    t->bad++;
    return NULL;
  }
  for (i = 0; i < 20000; i++) {
    const char *out;
    size_t n;
    int k = i & 3;
    if (gavel_exec_run_json(ex, in[k], strlen(in[k]), 0, &out, &n, &err) !=
            GAVEL_OK ||
        !strstr(out, want[k]))
      t->bad++;
  }
  gavel_exec_free(ex);
  return NULL;
}

TEST(concurrent_tier_up_from_several_threads_is_safe_and_correct) {
  gavel_runtime *rt = mk_rt(GV_JIT_AUTO, 100);
  gavel_ruleset *rs = NULL;
  gavel_error err;
  pthread_t th[4];
  tharg ta[4];
  size_t m0 = gavel__jit_mapped_bytes();
  int i, bad = 0;
  CHECK(gavel_ruleset_load(rt, rules4, sizeof rules4 - 1, NULL, &rs, &err) ==
        GAVEL_OK);
  for (i = 0; i < 4; i++) {
    ta[i].rs = rs;
    ta[i].bad = 0;
    pthread_create(&th[i], NULL, worker, &ta[i]);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    bad += ta[i].bad;
  }
  CHECK(bad == 0);
  if (have_jit())
    CHECK(gavel__jit_mapped_bytes() > m0); /* it did tier up */
  {
    /* the decision chain too (compiled once, by one of the threads) */
    gavel_exec *ex = NULL;
    const char *out;
    size_t n;
    CHECK(gavel_exec_new(rs, &ex, &err) == GAVEL_OK);
    for (i = 0; i < 101 && ex; i++)
      gavel_exec_run_json(ex, "{\"score\": 85}", 13, 0, &out, &n, &err);
    if (ex && have_jit())
      CHECK(gavel__exec_jit_parts(ex) & 1);
    gavel_exec_free(ex);
  }
  gavel_ruleset_free(rs);
  CHECK(gavel__jit_mapped_bytes() == m0);
  gavel_runtime_free(rt);
}

TEST(teardown) {
  gavel_runtime_free(g_off);
  gavel_runtime_free(g_on);
  g_off = g_on = NULL;
  CHECK(1);
}

TEST_MAIN()
