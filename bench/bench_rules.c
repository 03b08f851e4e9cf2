/*
** bench_rules.c -- ns per rule execution for the shared bench cases
** (score.json: 4-branch decision; loan.json: 20-rule first hit), next to
** hand-written C in the same run (native_rules.h).
**
** (1) gavel__exec_run_value over an already parsed input (the exec's arena
**     reset per run by gavel__exec_prepare) against native C on a struct;
** (2) gavel_exec_run_json, JSON text in and result JSON text out, against
**     cJSON + the native rule + snprintf (only when built with
**     -DBENCH_HAVE_CJSON and -lcjson; otherwise that column is n/a).
** Before timing, every vector in *_vectors.json must give its 'expected'
** result, and on all 1024 generated inputs gavel, native C and the cJSON
** path must write the same result text; any difference aborts.
** 'bench_rules --gen score|loan N' writes N generated JSONL inputs to
** stdout instead (scripts/bench.sh uses it for the batch benchmark).
** Uses core internals; never edits them.
*/
#include "api_int.h"
#include "json.h"
#include "native_rules.h"
#include "sched.h"

#ifndef GAVEL_SHARED_DIR
#define GAVEL_SHARED_DIR "../shared"
#endif
#define CASES_DIR GAVEL_SHARED_DIR "/bench-cases/"
#define N_IN 1024   /* generated inputs cycled (power of two) */
#define OUT_CAP 512 /* result text buffer                    */

typedef struct rcase {
  const char *name;       /* "score" or "loan"                        */
  const char *label;      /* name in the table ("score", "score/jit")  */
  int is_loan;            /* 1 for the loan rule                       */
  gavel_ruleset *rs;      /* loaded ruleset                            */
  gavel_exec *ex;         /* its execution context                     */
  char *text[N_IN];       /* generated inputs, JSON text               */
  size_t len[N_IN];       /* their lengths                             */
  gvalue in[N_IN];        /* the same inputs, parsed                   */
  double score[N_IN];     /* native score inputs                       */
  loan_in loan[N_IN];     /* native loan inputs                        */
  int hits[21];           /* results per rule / tier (inputs)          */
} rcase;

/* ==== Hand-written C, called through pointers ==== */

static __attribute__((noinline)) const score_out *c_score(const double *s) {
  return score_native(*s);
}
static __attribute__((noinline)) const loan_out *c_loan(const loan_in *x) {
  return loan_native(x);
}
static const score_out *(*volatile p_score)(const double *) = c_score;
static const loan_out *(*volatile p_loan)(const loan_in *) = c_loan;

/* ==== Values -> native structs ==== */

static gvalue at(gvalue v, const char *path) {
  while (*path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    gvalue *c = v.tag == GV_OBJ ? gavel__obj_get(v.u.o, path, n) : NULL;
    if (!c)
      bench_die("input has no '%.*s'", (int)n, path);
    v = *c;
    path += n + (dot ? 1 : 0);
  }
  return v;
}

static double num_at(gvalue v, const char *path) {
  gvalue x = at(v, path);
  if (!gv_isnum(x))
    bench_die("'%s' is not a number", path);
  return gv_num(x);
}

static const char *str_at(gvalue v, const char *path) {
  gvalue x = at(v, path);
  if (x.tag != GV_STR)
    bench_die("'%s' is not a string", path);
  return x.u.s->s;
}

static void loan_from_value(gvalue v, loan_in *x) {
  gvalue acc = at(v, "applicant.accounts");
  uint32_t i;
  x->age = num_at(v, "applicant.age");
  x->income = num_at(v, "applicant.income");
  x->monthly_debt = num_at(v, "applicant.monthly_debt");
  x->country = str_at(v, "applicant.country");
  x->emp = str_at(v, "applicant.employment.status");
  x->years = num_at(v, "applicant.employment.years");
  x->score = num_at(v, "applicant.credit.score");
  x->bankruptcies = num_at(v, "applicant.credit.bankruptcies");
  x->delinquencies = num_at(v, "applicant.credit.delinquencies");
  x->amount = num_at(v, "loan.amount");
  x->term_months = num_at(v, "loan.term_months");
  x->purpose = str_at(v, "loan.purpose");
  x->collateral = num_at(v, "loan.collateral_value");
  if (acc.tag != GV_ARR || acc.u.a->len > LOAN_MAX_ACCOUNTS)
    bench_die("bad applicant.accounts");
  x->n_accounts = (int)acc.u.a->len;
  for (i = 0; i < acc.u.a->len; i++)
    x->balance[i] = num_at(acc.u.a->items[i], "balance");
}

/* Native result text for a parsed input; returns the rule / tier index. */
static int native_text(const rcase *rc, gvalue in, char *buf, size_t cap) {
  if (rc->is_loan) {
    loan_in x;
    const loan_out *o;
    loan_from_value(in, &x);
    o = loan_native(&x);
    loan_write(buf, cap, o);
    return o->rule;
  } else {
    const score_out *o = score_native(num_at(in, "score"));
    score_write(buf, cap, o);
    return (int)(o - k_score_out);
  }
}

/* ==== Checks ==== */

/* Runs 'in' (text and value) through gavel and checks both against the
** native text and, with cJSON, the cJSON path.  Returns the gavel text in
** 'out' (borrowed from rc->ex until its next run). */
static int check_one(rcase *rc, const char *text, size_t len, gvalue in,
                     const char **out, const char *what) {
  char want[OUT_CAP];
  const char *got;
  size_t got_len;
  gavel_error err;
  gv_buf b;
  int idx = native_text(rc, in, want, sizeof want);
  gavel__exec_prepare(rc->ex);
  if (gavel__exec_run_value(rc->ex, in, 0, &err) != GAVEL_OK)
    bench_die("%s %s: gavel__exec_run_value: %s", rc->name, what, err.msg);
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__json_write(&b, gavel__exec_result(rc->ex));
  if (b.oom || strcmp(b.p, want) != 0)
    bench_die("%s %s: run_value gives %s, native C %s", rc->name, what, b.p,
              want);
  gavel__buf_free(&b);
  if (gavel_exec_run_json(rc->ex, text, len, 0, &got, &got_len, &err) !=
      GAVEL_OK)
    bench_die("%s %s: gavel_exec_run_json: %s", rc->name, what, err.msg);
  if (strcmp(got, want) != 0 || got_len != strlen(want))
    bench_die("%s %s: run_json gives %s, native C %s", rc->name, what, got,
              want);
#ifdef BENCH_HAVE_CJSON
  {
    char cj[OUT_CAP];
    int n = rc->is_loan ? loan_json_cjson(text, len, cj, sizeof cj)
                        : score_json_cjson(text, len, cj, sizeof cj);
    if (n < 0 || strcmp(cj, want) != 0)
      bench_die("%s %s: cJSON path gives %s, native C %s", rc->name, what,
                n < 0 ? "an error" : cj, want);
  }
#endif
  *out = got;
  return idx;
}

/* Every vector must give its 'expected' (a code for score, the output
** object for loan) through gavel, native C and cJSON. */
static int check_vectors(rcase *rc, gv_arena *a, const char *file) {
  char path[512];
  size_t n;
  char *doc;
  gvalue vecs;
  gavel_error err;
  uint32_t i;
  snprintf(path, sizeof path, CASES_DIR "%s", file);
  doc = bench_slurp(path, &n);
  if (gavel__json_parse(a, doc, n, NULL, &vecs, &err) != GAVEL_OK ||
      vecs.tag != GV_ARR)
    bench_die("%s: %s", path, err.msg);
  for (i = 0; i < vecs.u.a->len; i++) {
    gvalue v = vecs.u.a->items[i], in = at(v, "input"), exp = at(v, "expected");
    const char *name = str_at(v, "name"), *out;
    gv_buf t;
    gvalue res;
    gavel__buf_init(&t, &gavel__default_alloc);
    gavel__json_write(&t, in);
    check_one(rc, t.p, t.len, in, &out, name);
    if (gavel__json_parse(a, out, strlen(out), NULL, &res, &err) != GAVEL_OK)
      bench_die("%s %s: result is not JSON", rc->name, name);
    if (rc->is_loan ? !gavel__value_eq(at(res, "output"), exp)
                    : !gavel__value_eq(at(res, "code"), exp))
      bench_die("%s vector %s: got %s, expected another result", rc->name,
                name, out);
    gavel__buf_free(&t);
  }
  free(doc);
  return (int)vecs.u.a->len;
}

/* ==== Kernels ==== */

static uint64_t k_gavel_value(void *ud, long n) {
  rcase *rc = ud;
  gavel_error err;
  uint64_t acc = 0;
  long i;
  for (i = 0; i < n; i++) {
    gvalue r;
    gavel__exec_prepare(rc->ex);
    if (__builtin_expect(gavel__exec_run_value(rc->ex, rc->in[i & (N_IN - 1)],
                                               0, &err) != GAVEL_OK,
                         0))
      bench_die("%s: %s", rc->name, err.msg);
    r = gavel__exec_result(rc->ex);
    acc += r.u.o->vals[0].u.s->len; /* 'code' */
  }
  return acc;
}

static uint64_t k_c_value(void *ud, long n) {
  rcase *rc = ud;
  uint64_t acc = 0;
  long i;
  if (rc->is_loan)
    for (i = 0; i < n; i++)
      acc += (uint64_t)p_loan(&rc->loan[i & (N_IN - 1)])->code_len;
  else
    for (i = 0; i < n; i++)
      acc += (uint64_t)p_score(&rc->score[i & (N_IN - 1)])->code_len;
  return acc;
}

static uint64_t k_gavel_json(void *ud, long n) {
  rcase *rc = ud;
  gavel_error err;
  uint64_t acc = 0;
  long i;
  for (i = 0; i < n; i++) {
    const char *out;
    size_t out_len;
    long j = i & (N_IN - 1);
    if (__builtin_expect(gavel_exec_run_json(rc->ex, rc->text[j], rc->len[j],
                                             0, &out, &out_len,
                                             &err) != GAVEL_OK,
                         0))
      bench_die("%s: %s", rc->name, err.msg);
    acc += out_len;
  }
  return acc;
}

#ifdef BENCH_HAVE_CJSON
static uint64_t k_c_json(void *ud, long n) {
  rcase *rc = ud;
  uint64_t acc = 0;
  long i;
  for (i = 0; i < n; i++) {
    char out[OUT_CAP];
    long j = i & (N_IN - 1);
    int len = rc->is_loan
                  ? loan_json_cjson(rc->text[j], rc->len[j], out, sizeof out)
                  : score_json_cjson(rc->text[j], rc->len[j], out, sizeof out);
    if (__builtin_expect(len < 0, 0))
      bench_die("%s: cJSON path failed", rc->name);
    acc += (uint64_t)len;
  }
  return acc;
}
#endif

/* ==== Setup ==== */

static void load_case(rcase *rc, gavel_runtime *rt, gv_arena *a,
                      const char *name, int is_loan, uint64_t seed) {
  char path[512];
  size_t n;
  char *doc;
  gavel_error err;
  int i;
  memset(rc, 0, sizeof *rc);
  rc->name = name;
  rc->label = name;
  rc->is_loan = is_loan;
  snprintf(path, sizeof path, CASES_DIR "%s.json", name);
  doc = bench_slurp(path, &n);
  if (gavel_ruleset_load(rt, doc, n, NULL, &rc->rs, &err) != GAVEL_OK ||
      gavel_exec_new(rc->rs, &rc->ex, &err) != GAVEL_OK)
    bench_die("%s: %s", path, err.msg);
  free(doc);
  for (i = 0; i < N_IN; i++) {
    char buf[1024];
    int len = is_loan ? loan_gen(&seed, buf, sizeof buf)
                      : score_gen(&seed, buf, sizeof buf);
    rc->text[i] = malloc((size_t)len + 1);
    if (!rc->text[i])
      bench_die("out of memory");
    memcpy(rc->text[i], buf, (size_t)len + 1);
    rc->len[i] = (size_t)len;
    if (gavel__json_parse(a, buf, (size_t)len, NULL, &rc->in[i], &err) !=
        GAVEL_OK)
      bench_die("generated input %d: %s", i, err.msg);
    if (is_loan)
      loan_from_value(rc->in[i], &rc->loan[i]);
    else
      rc->score[i] = num_at(rc->in[i], "score");
  }
}

static void check_inputs(rcase *rc) {
  int i;
  for (i = 0; i < N_IN; i++) {
    const char *out;
    char what[32];
    snprintf(what, sizeof what, "input %d", i);
    rc->hits[check_one(rc, rc->text[i], rc->len[i], rc->in[i], &out, what)]++;
  }
}

static void free_case(rcase *rc) {
  int i;
  for (i = 0; i < N_IN; i++)
    free(rc->text[i]);
  gavel_exec_free(rc->ex);
  gavel_ruleset_free(rc->rs);
}

/* 'bench_rules --gen score|loan N': N generated input lines on stdout. */
static int gen_main(const char *which, long n) {
  uint64_t seed = 0x6C6F616E + (uint64_t)n;
  char buf[1024];
  long i;
  int loan = !strcmp(which, "loan");
  if (!loan && strcmp(which, "score"))
    bench_die("--gen: expected score or loan, got '%s'", which);
  for (i = 0; i < n; i++) {
    int len = loan ? loan_gen(&seed, buf, sizeof buf - 1)
                   : score_gen(&seed, buf, sizeof buf - 1);
    buf[len] = '\n';
    if (fwrite(buf, 1, (size_t)len + 1, stdout) != (size_t)len + 1)
      bench_die("--gen: write failed");
  }
  return fflush(stdout) != 0;
}

/* ==== Timing ==== */

static char g_summary[4096]; /* SUMMARY lines, printed after the table */
static size_t g_summary_len; /* bytes used                             */

static void print_row(const char *name, const char *what, const bench_stat *g,
                      const bench_stat *c, double goal) {
  char cbuf[32] = "n/a", cbest[16] = "n/a", rbuf[16] = "n/a", gbuf[32] = "-";
  if (c) {
    snprintf(cbest, sizeof cbest, "%.1f", c->best);
    snprintf(cbuf, sizeof cbuf, "%.1f [%.1f]", c->median, c->best);
    snprintf(rbuf, sizeof rbuf, "%.1fx", g->best / c->best);
  }
  if (goal > 0)
    snprintf(gbuf, sizeof gbuf, "< %.0f ns: %s", goal,
             g->best < goal ? "MET" : "MISSED");
  printf("%-9s %-26s %9.1f [%.1f] %18s %8s  %s\n", name, what, g->median,
         g->best, cbuf, rbuf, gbuf);
  if (g_summary_len < sizeof g_summary)
    g_summary_len += (size_t)snprintf(
        g_summary + g_summary_len, sizeof g_summary - g_summary_len,
        "SUMMARY|%s %s|%.1f|%s|%s|%s\n", name, what, g->best,
        c ? cbest : "n/a", rbuf, gbuf);
}

/* BENCH_ONLY="loan (2)" style filter on "<rule> (<measure>)". */
static int wanted(const rcase *rc, int measure) {
  const char *only = getenv("BENCH_ONLY");
  char key[32];
  snprintf(key, sizeof key, "%s (%d)", rc->label, measure);
  return !only || strstr(key, only) != NULL;
}

static void time_case(rcase *rc, int reps) {
  bench_kernel kv[2] = {k_gavel_value, k_c_value};
  void *ud[2] = {rc, rc};
  bench_stat r[2];
  long iters;
  if (wanted(rc, 1)) {
    iters = bench_calibrate(k_gavel_value, rc, bench_ms());
    bench_run(kv, ud, 2, iters, reps, r);
    if (r[0].sum != r[1].sum)
      bench_die("%s (1): checksums differ", rc->name);
    print_row(rc->label, "(1) exec over parsed value", &r[0], &r[1],
              rc->is_loan ? 0 : 50);
  }
  if (!wanted(rc, 2))
    return;
#ifdef BENCH_HAVE_CJSON
  {
    bench_kernel kj[2] = {k_gavel_json, k_c_json};
    iters = bench_calibrate(k_gavel_json, rc, bench_ms());
    bench_run(kj, ud, 2, iters, reps, r);
    if (r[0].sum != r[1].sum)
      bench_die("%s (2): checksums differ", rc->name);
    print_row(rc->label, "(2) JSON in -> JSON out", &r[0], &r[1], 500);
  }
#else
  {
    bench_kernel kj[1] = {k_gavel_json};
    iters = bench_calibrate(k_gavel_json, rc, bench_ms());
    bench_run(kj, ud, 1, iters, reps, r);
    print_row(rc->label, "(2) JSON in -> JSON out", &r[0], NULL, 500);
  }
#endif
}

int main(int argc, char **argv) {
  static rcase score, loan, score_j, loan_j;
  gavel_runtime *rt, *rt_j;
  gavel_config cfg;
  gavel_error err;
  FILE *probe;
  gv_arena data;
  int reps = bench_reps(), nv_s, nv_l, i;
  if (argc == 4 && !strcmp(argv[1], "--gen"))
    return gen_main(argv[2], strtol(argv[3], NULL, 10));
  if (argc != 1)
    bench_die("usage: bench_rules [--gen score|loan N]");
  if (!(probe = fopen(CASES_DIR "score.json", "r"))) {
    printf("bench_rules: skipped: %s absent\n", CASES_DIR);
    return 0;
  }
  fclose(probe);
  /* The VM (jit off) and the JIT (every program compiled at load), each
  ** against the C baseline measured next to it in this run. */
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.jit = 2;
  if (gavel_runtime_new(&cfg, &rt, &err) != GAVEL_OK)
    bench_die("%s", err.msg);
  cfg.jit = 1;
  if (gavel_runtime_new(&cfg, &rt_j, &err) != GAVEL_OK)
    bench_die("%s", err.msg);
  gavel__arena_init(&data, &gavel__default_alloc, 0);
  load_case(&score, rt, &data, "score", 0, 0x73636F7265);
  load_case(&loan, rt, &data, "loan", 1, 0x6C6F616E);
  load_case(&score_j, rt_j, &data, "score", 0, 0x73636F7265);
  load_case(&loan_j, rt_j, &data, "loan", 1, 0x6C6F616E);
  score_j.label = "score/jit";
  loan_j.label = "loan/jit";
  nv_s = check_vectors(&score, &data, "score_vectors.json");
  nv_l = check_vectors(&loan, &data, "loan_vectors.json");
  check_vectors(&score_j, &data, "score_vectors.json");
  check_vectors(&loan_j, &data, "loan_vectors.json");
  check_inputs(&score);
  check_inputs(&loan);
  check_inputs(&score_j);
  check_inputs(&loan_j);
  printf("bench_rules: ns per run, median of %d reps [best], ratios and "
         "goals from the best rep; verified: score "
         "%d/%d vectors, loan %d/%d vectors, %d generated inputs each "
         "(gavel = native C%s)\n",
         reps, nv_s, nv_s, nv_l, nv_l, N_IN,
#ifdef BENCH_HAVE_CJSON
         " = cJSON path"
#else
         "; cJSON path not built"
#endif
  );
  printf("loan inputs per rule:");
  for (i = 1; i <= 20; i++)
    printf(" r%d=%d", i, loan.hits[i]);
  printf("\nscore inputs per tier: HIGH=%d MID=%d LOW=%d FAIL=%d\n",
         score.hits[0], score.hits[1], score.hits[2], score.hits[3]);
  printf("%-9s %-26s %18s %18s %8s  %s\n", "rule", "measure", "gavel", "C",
         "gavel/C", "goal");
  time_case(&score, reps);
  time_case(&score_j, reps);
  time_case(&loan, reps);
  time_case(&loan_j, reps);
  fputs(g_summary, stdout);
  free_case(&score);
  free_case(&loan);
  free_case(&score_j);
  free_case(&loan_j);
  gavel__arena_free(&data);
  gavel_runtime_free(rt);
  gavel_runtime_free(rt_j);
  return 0;
}
