/*
** bench_expr.c -- ns per evaluation of single expressions: gavel's VM over
** bound input slots, the same with binding from a parsed value, and
** hand-written C over native structs, measured in the same run.
**
** Each expression is parsed and compiled with its own gv_symtab.  1024
** different contexts are cycled (so data-dependent branches are not all
** predicted).  "VM" times gavel__vm_run over slot arrays bound up front;
** "bind+VM" times gavel__bind_walk from an already parsed value plus the
** VM.  "C" calls a noinline function through a pointer on a struct.
** Results are checked on all 1024 contexts before timing, and the timed
** loops' checksums must agree; any difference aborts.
** Targets (docs/vm-jit-notes.md 0): VM within 3x of C on the simple
** comparisons, < 10 ns for 'age > 18'.  Uses core internals, never edits.
*/
#include "bench_util.h"
#include "bind.h"
#include "compile.h"
#include "expr.h"
#include "jit.h"
#include "json.h"
#include "runtime.h"
#include <time.h>

#define N_CTX 1024           /* contexts cycled (power of two)          */
#define RUN_ARENA_SEED (1u << 20) /* first chunk kept across resets     */
#define RUN_ARENA_RESET (512u << 10) /* reset the run arena past this   */

/* ==== Native contexts and the hand-written C equivalents ==== */

typedef struct ectx {
  int64_t age;        /* age (int)                                */
  const char *status; /* status (own heap copy per context)       */
  const char *level;  /* user.profile.level (own heap copy)       */
  int64_t score;      /* score (int)                               */
  double bonus;       /* bonus (float)                             */
  int n_items;        /* elements of items                         */
  double price[4];    /* items[*].price (floats)                   */
} ectx;

typedef double (*native_fn)(const ectx *c);

static __attribute__((noinline)) double n_age(const ectx *c) {
  return c->age > 18;
}
static __attribute__((noinline)) double n_age_status(const ectx *c) {
  return c->age > 18 && strcmp(c->status, "active") == 0;
}
static __attribute__((noinline)) double n_level(const ectx *c) {
  return strcmp(c->level, "gold") == 0;
}
static __attribute__((noinline)) double n_in(const ectx *c) {
  return strcmp(c->status, "active") == 0 || strcmp(c->status, "pending") == 0;
}
static __attribute__((noinline)) double n_arith(const ectx *c) {
  return (double)c->score * 0.6 + c->bonus * 0.4;
}
static __attribute__((noinline)) double n_sum(const ectx *c) {
  double s = 0.0;
  int i;
  for (i = 0; i < c->n_items; i++)
    s += c->price[i];
  return s > 100;
}

typedef struct ecase {
  const char *src;  /* expression text                          */
  native_fn fn;     /* hand-written C equivalent                */
  int is_float;     /* 1: float result, 0: bool result          */
  int simple;       /* 1: a "simple comparison" (3x goal)       */
} ecase;

static const ecase k_cases[] = {
    {"age > 18", n_age, 0, 1},
    {"age > 18 && status == \"active\"", n_age_status, 0, 1},
    {"user.profile.level == \"gold\"", n_level, 0, 1},
    {"status in [\"active\", \"pending\"]", n_in, 0, 1},
    {"score * 0.6 + bonus * 0.4", n_arith, 1, 0},
    {"sum(items.*.price) > 100", n_sum, 0, 0},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

static const char *pick(uint64_t *rng, const char *const *v, const int *w) {
  int r = (int)bench_range(rng, 0, 99), i;
  for (i = 0; r >= w[i]; i++)
    r -= w[i];
  return v[i];
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (!p)
    bench_die("out of memory");
  memcpy(p, s, n);
  return p;
}

/* Fills the native context and its JSON text (returns the text length). */
static int make_ctx(uint64_t *rng, ectx *c, char *buf, size_t cap) {
  static const char *const st[] = {"active", "pending", "inactive",
                                   "suspended", "closed"};
  static const int st_w[] = {40, 20, 20, 10, 10};
  static const char *const lv[] = {"gold", "silver", "bronze", "platinum"};
  static const int lv_w[] = {30, 30, 25, 15};
  int n, i;
  c->age = bench_range(rng, 0, 49);
  c->status = dupstr(pick(rng, st, st_w));
  c->level = dupstr(pick(rng, lv, lv_w));
  c->score = bench_range(rng, 0, 100);
  c->bonus = (double)bench_range(rng, 0, 399) * 0.25;
  c->n_items = (int)bench_range(rng, 0, 4);
  n = snprintf(buf, cap,
               "{\"age\":%lld,\"status\":\"%s\",\"user\":{\"profile\":"
               "{\"level\":\"%s\"}},\"score\":%lld,\"bonus\":%.2f,\"items\":[",
               (long long)c->age, c->status, c->level, (long long)c->score,
               c->bonus);
  for (i = 0; i < c->n_items; i++) {
    c->price[i] = (double)bench_range(rng, 1, 320) * 0.25;
    n += snprintf(buf + n, cap - (size_t)n, "%s{\"price\":%.2f}", i ? "," : "",
                  c->price[i]);
  }
  n += snprintf(buf + n, cap - (size_t)n, "]}");
  return n;
}

/* ==== Kernels ==== */

typedef struct estate {
  const ecase *c;            /* the case                               */
  const ectx *ctx;           /* N_CTX native contexts                  */
  native_fn volatile fn;     /* C function, through a pointer          */
  const gv_program *prog;    /* compiled expression                    */
  const gv_symtab *st;       /* its slots                              */
  const gvalue *slots;       /* N_CTX * n_slots, bound up front        */
  uint32_t n_slots;          /* slots per context (>= 1)               */
  const gvalue *roots;       /* N_CTX parsed contexts                  */
  gvalue *scratch;           /* slot array for bind+VM                 */
  gv_arena *run;             /* run arena for bind+VM (wildcards)      */
  gv_rt *rt;                 /* VM runtime context                     */
} estate;

static uint64_t dbits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

/* C through the function pointer; checksums as k_vm's (0/1, bits). */
static uint64_t k_c_bool(void *ud, long n) {
  estate *s = ud;
  uint64_t acc = 0;
  long i;
  for (i = 0; i < n; i++)
    acc += (uint64_t)(s->fn(&s->ctx[i & (N_CTX - 1)]) != 0.0);
  return acc;
}

static uint64_t k_c_float(void *ud, long n) {
  estate *s = ud;
  uint64_t acc = 0;
  long i;
  for (i = 0; i < n; i++)
    acc += dbits(s->fn(&s->ctx[i & (N_CTX - 1)]));
  return acc;
}

/* The VM over pre-bound slots.  A bool result's payload is 0/1 and a
** float's payload is its bit pattern, so one checksum serves both. */
static uint64_t k_vm(void *ud, long n) {
  estate *s = ud;
  gv_frame f;
  uint64_t acc = 0;
  long i;
  s->rt->gas = INT64_MAX / 2;
  f.vars = NULL;
  f.rt = s->rt;
  f.err_pos = -1;
  for (i = 0; i < n; i++) {
    gvalue out;
    f.slots = s->slots + (size_t)(i & (N_CTX - 1)) * s->n_slots;
    if (__builtin_expect(gavel__vm_run(s->prog, &f, &out), 0))
      bench_die("%s: VM failed: %s", s->c->src, s->rt->emsg);
    acc += (uint64_t)out.u.i;
  }
  return acc;
}

/* The same through the JIT tier (gavel__exec: compiled entry, or the VM
** for a program the JIT leaves to it). */
static uint64_t k_jit(void *ud, long n) {
  estate *s = ud;
  gv_frame f;
  uint64_t acc = 0;
  long i;
  s->rt->gas = INT64_MAX / 2;
  f.vars = NULL;
  f.rt = s->rt;
  f.err_pos = -1;
  for (i = 0; i < n; i++) {
    gvalue out;
    f.slots = s->slots + (size_t)(i & (N_CTX - 1)) * s->n_slots;
    if (__builtin_expect(gavel__exec(s->prog, &f, &out), 0))
      bench_die("%s: JIT failed: %s", s->c->src, s->rt->emsg);
    acc += (uint64_t)out.u.i;
  }
  return acc;
}

/* Binding from the parsed value, then the VM. */
static uint64_t k_bind_vm(void *ud, long n) {
  estate *s = ud;
  gv_frame f;
  uint64_t acc = 0;
  long i;
  s->rt->gas = INT64_MAX / 2;
  f.slots = s->scratch;
  f.vars = NULL;
  f.rt = s->rt;
  f.err_pos = -1;
  for (i = 0; i < n; i++) {
    gvalue out;
    if (__builtin_expect(gavel__bind_walk(s->run, s->st,
                                          s->roots[i & (N_CTX - 1)],
                                          s->scratch) != GAVEL_OK,
                         0))
      bench_die("%s: bind failed", s->c->src);
    if (__builtin_expect(gavel__vm_run(s->prog, &f, &out), 0))
      bench_die("%s: VM failed: %s", s->c->src, s->rt->emsg);
    acc += (uint64_t)out.u.i;
    if (s->run->used > RUN_ARENA_RESET)
      gavel__arena_reset(s->run);
  }
  return acc;
}

/* ==== Setup and checks ==== */

/* 1 when the VM's 'v' is the value C computed ('want' is 0/1 for bools;
** floats must match bit for bit). */
static int same_result(const ecase *c, gvalue v, double want) {
  if (c->is_float)
    return v.tag == GV_FLOAT && dbits(v.u.f) == dbits(want);
  return v.tag == GV_BOOL && v.u.i == (want != 0.0);
}

/* Compiles 'c', binds every context, checks VM and bind+VM against C. */
static gv_jitown *g_jit; /* code owner of the benchmarked programs */

static void setup_case(estate *s, const ecase *c, gv_arena *a,
                       const ectx *ctx, const gvalue *roots, gv_rt *rt,
                       gv_arena *run) {
  gv_symtab *st = gavel__arena_alloc(a, sizeof *st);
  gx_node *ast;
  gv_program *prog;
  gv_copts opts = {0, 0};
  gavel_error err;
  gvalue *slots;
  uint32_t n, i;
  gv_frame f;
  if (!st)
    bench_die("out of memory");
  gavel__symtab_init(st, a);
  gavel__jit_attach(g_jit, st);
  if (gavel__parse_expr(a, c->src, strlen(c->src), &ast, &err) != GAVEL_OK ||
      gavel__compile(a, st, ast, gavel__str_cstr(a, c->src), &opts, &prog,
                     &err) != GAVEL_OK)
    bench_die("%s: %s", c->src, err.msg);
  n = st->n_inputs ? st->n_inputs : 1;
  slots = gavel__arena_alloc(a, (size_t)N_CTX * n * sizeof(gvalue));
  s->scratch = gavel__arena_alloc(a, n * sizeof(gvalue));
  if (!slots || !s->scratch)
    bench_die("out of memory");
  for (i = 0; i < N_CTX; i++)
    if (gavel__bind_walk(a, st, roots[i], slots + (size_t)i * n) != GAVEL_OK)
      bench_die("%s: bind failed", c->src);
  memset(s->scratch, 0, n * sizeof(gvalue));
  s->c = c;
  s->ctx = ctx;
  s->fn = c->fn;
  s->prog = prog;
  s->st = st;
  s->slots = slots;
  s->n_slots = n;
  s->roots = roots;
  s->run = run;
  s->rt = rt;
  rt->gas = INT64_MAX / 2;
  f.vars = NULL;
  f.rt = rt;
  f.err_pos = -1;
  for (i = 0; i < N_CTX; i++) {
    gvalue v;
    double want = c->fn(&ctx[i]);
    f.slots = slots + (size_t)i * n;
    if (gavel__vm_run(prog, &f, &v) || !same_result(c, v, want))
      bench_die("%s: context %u: VM result differs from C (%g)", c->src, i,
                want);
  }
  if (run->used)
    printf("note: '%s': the VM allocated %zu bytes over %d runs\n", c->src,
           run->used, N_CTX);
  if (gavel__jit_compile_now(g_jit, prog) != 0)
    printf("note: '%s': not compiled by the JIT (stays in the VM)\n", c->src);
  for (i = 0; i < N_CTX; i++) {
    gvalue v;
    f.slots = slots + (size_t)i * n;
    if (gavel__exec(prog, &f, &v) || !same_result(c, v, c->fn(&ctx[i])))
      bench_die("%s: context %u: JIT result differs from C", c->src, i);
  }
  f.slots = s->scratch;
  for (i = 0; i < N_CTX; i++) {
    gvalue w;
    if (gavel__bind_walk(run, st, roots[i], s->scratch) != GAVEL_OK ||
        gavel__vm_run(prog, &f, &w) || !same_result(c, w, c->fn(&ctx[i])))
      bench_die("%s: context %u: bind+VM result differs from C", c->src, i);
  }
  gavel__arena_reset(run);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Compile time: 'copies' fresh programs of every expression compiled as
** one batch (one mapping, as at load with jit=on), and one program alone
** (a tier-up: its own mapping). */
static void compile_cost(gv_arena *a) {
  enum { COPIES = 200, REPS = 7 };
  gavel_runtime *rt;
  gavel_config cfg;
  gavel_error err;
  gv_jitown *o;
  uint64_t words = 0, n_prog = 0;
  double t0, t1, best = 1e9, best_single = 1e9;
  unsigned i, k, rep;
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  if (gavel_runtime_new(&cfg, &rt, &err) != GAVEL_OK)
    bench_die("%s", err.msg);
  for (rep = 0; rep < REPS; rep++) {
    o = gavel__jit_new(rt, GV_JIT_ON);
    words = n_prog = 0;
    for (k = 0; k < COPIES; k++)
      for (i = 0; i < N_CASES; i++) {
        gv_symtab *st = gavel__arena_alloc(a, sizeof *st);
        gx_node *ast;
        gv_program *prog;
        gv_copts opts = {0, 0};
        gavel__symtab_init(st, a);
        gavel__jit_attach(o, st);
        if (gavel__parse_expr(a, k_cases[i].src, strlen(k_cases[i].src),
                              &ast, &err) != GAVEL_OK ||
            gavel__compile(a, st, ast, NULL, &opts, &prog, &err) != GAVEL_OK)
          bench_die("%s", err.msg);
        words += prog->n_code;
        n_prog++;
      }
    t0 = now_s();
    gavel__jit_loaded(o); /* the whole batch */
    t1 = now_s();
    if (t1 - t0 < best)
      best = t1 - t0;
    gavel__jit_free(o);
  }
  printf("JIT compile, one batch of %llu programs (%llu words, one mapping; "
         "thread CPU time, best of %d): %.0f ns per bytecode word, %.2f us "
         "per program\n",
         (unsigned long long)n_prog, (unsigned long long)words, REPS,
         best * 1e9 / (double)words, best * 1e6 / (double)n_prog);
  printf("SUMMARY|JIT compile per word (batch)|%.0f|-|-|<1000 ns: %s\n",
         best * 1e9 / (double)words,
         best * 1e9 / (double)words < 1000 ? "MET" : "MISSED");
  for (k = 0; k < 50; k++) { /* single-program tier-up, best of 50 */
    gv_symtab *st = gavel__arena_alloc(a, sizeof *st);
    gx_node *ast;
    gv_program *prog;
    gv_copts opts = {0, 0};
    o = gavel__jit_new(rt, GV_JIT_AUTO);
    gavel__symtab_init(st, a);
    gavel__jit_attach(o, st);
    if (gavel__parse_expr(a, k_cases[0].src, strlen(k_cases[0].src), &ast,
                          &err) != GAVEL_OK ||
        gavel__compile(a, st, ast, NULL, &opts, &prog, &err) != GAVEL_OK)
      bench_die("%s", err.msg);
    t0 = now_s();
    gavel__jit_compile_now(o, prog);
    t1 = now_s();
    if ((t1 - t0) < best_single)
      best_single = t1 - t0;
    words = prog->n_code;
    gavel__jit_free(o);
  }
  printf("JIT compile, one program alone ('%s', %llu words, own mapping): "
         "%.1f us (best of 50, mmap + mprotect included)\n",
         k_cases[0].src, (unsigned long long)words, best_single * 1e6);
  gavel_runtime_free(rt);
}

int main(void) {
  static ectx ctx[N_CTX];
  static gvalue roots[N_CTX];
  static estate states[N_CASES];
  static bench_stat res[N_CASES][4];
  static int done[N_CASES];
  gv_arena data, run;
  gv_rt rt;
  uint64_t rng = 0x6761766C;
  gavel_error err;
  int reps = bench_reps(), simple_ok = 1, jit_ok = 1;
  double age_vm = 0;
  unsigned i;
  gavel_runtime *grt;
  gavel_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  cfg.jit = GV_JIT_ON;
  if (gavel_runtime_new(&cfg, &grt, &err) != GAVEL_OK)
    bench_die("%s", err.msg);
  g_jit = gavel__jit_new(grt, GV_JIT_ON);
  gavel__arena_init(&data, &gavel__default_alloc, 0);
  gavel__arena_init(&run, &gavel__default_alloc, 0);
  /* One big first chunk: arena_reset keeps the first chunk only. */
  if (!gavel__arena_alloc(&run, RUN_ARENA_SEED))
    bench_die("out of memory");
  gavel__arena_reset(&run);
  memset(&rt, 0, sizeof rt);
  rt.arena = &run;
  for (i = 0; i < N_CTX; i++) {
    char buf[512];
    int len = make_ctx(&rng, &ctx[i], buf, sizeof buf);
    if (gavel__json_parse(&data, buf, (size_t)len, NULL, &roots[i], &err) !=
        GAVEL_OK)
      bench_die("context %u: %s", i, err.msg);
  }
  for (i = 0; i < N_CASES; i++)
    setup_case(&states[i], &k_cases[i], &data, ctx, roots, &rt, &run);
  printf("bench_expr: ns per evaluation, median of %d reps [best], %d "
         "contexts cycled; results checked on every context; ratios and "
         "goals from the best rep\n",
         reps, N_CTX);
  printf("%-34s %13s %13s %6s %13s %6s %13s %6s\n", "expression", "C", "VM",
         "VM/C", "JIT", "JIT/C", "bind+VM", "/C");
  for (i = 0; i < N_CASES; i++) {
    estate *s = &states[i];
    const char *only = getenv("BENCH_ONLY"); /* substring filter */
    bench_kernel k[4] = {k_bind_vm, k_vm,
                         s->c->is_float ? k_c_float : k_c_bool, k_jit};
    void *ud[4] = {s, s, s, s};
    bench_stat *r = res[i];
    long iters;
    if (only && !strstr(s->c->src, only))
      continue;
    iters = bench_calibrate(k_bind_vm, s, bench_ms());
    bench_run(k, ud, 4, iters, reps, r);
    if (r[0].sum != r[2].sum || r[1].sum != r[2].sum || r[3].sum != r[2].sum)
      bench_die("%s: checksums differ (bind+VM %llu, VM %llu, C %llu)",
                s->c->src, (unsigned long long)r[0].sum,
                (unsigned long long)r[1].sum, (unsigned long long)r[2].sum);
    printf("%-34s %5.1f [%5.1f] %5.1f [%5.1f] %5.1fx %5.1f [%5.1f] %5.1fx "
           "%5.1f [%5.1f] %5.1fx\n",
           s->c->src, r[2].median, r[2].best, r[1].median, r[1].best,
           r[1].best / r[2].best, r[3].median, r[3].best,
           r[3].best / r[2].best, r[0].median, r[0].best,
           r[0].best / r[2].best);
    done[i] = 1;
    if (s->c->simple && r[3].best > 1.5 * r[2].best)
      jit_ok = 0;
    if (s->c->simple && r[1].best > 3 * r[2].best)
      simple_ok = 0;
    if (i == 0)
      age_vm = r[1].best;
  }
  if (done[0]) {
    printf("goal VM <= 3x C on simple comparisons: %s\n",
           simple_ok ? "MET" : "MISSED");
    printf("goal 'age > 18' < 10 ns: %s (%.1f ns)\n",
           age_vm < 10 ? "MET" : "MISSED", age_vm);
    printf("goal JIT <= 1.5x C on simple comparisons: %s\n",
           jit_ok ? "MET" : "MISSED");
  }
  compile_cost(&data);
  /* Machine-readable lines for scripts/bench.sh:
  ** SUMMARY|what|gavel ns|C ns|ratio|goal */
  for (i = 0; i < N_CASES; i++) {
    const bench_stat *r = res[i];
    const ecase *c = &k_cases[i];
    if (!done[i])
      continue;
    printf("SUMMARY|expr VM: %s|%.1f|%.1f|%.1fx|%s\n", c->src, r[1].best,
           r[2].best, r[1].best / r[2].best,
           !c->simple                      ? "-"
           : r[1].best <= 3 * r[2].best     ? "<=3x C: MET"
                                            : "<=3x C: MISSED");
  }
  for (i = 0; i < N_CASES; i++)
    if (done[i])
      printf("SUMMARY|expr JIT: %s|%.1f|%.1f|%.1fx|%s\n", k_cases[i].src,
             res[i][3].best, res[i][2].best, res[i][3].best / res[i][2].best,
             !k_cases[i].simple ? "-"
             : res[i][3].best <= 1.5 * res[i][2].best ? "<=1.5x C: MET"
                                                      : "<=1.5x C: MISSED");
  for (i = 0; i < N_CASES; i++)
    if (done[i])
      printf("SUMMARY|expr bind+VM: %s|%.1f|%.1f|%.1fx|-\n", k_cases[i].src,
             res[i][0].best, res[i][2].best,
             res[i][0].best / res[i][2].best);
  if (done[0])
    printf("SUMMARY|goal: age > 18 via VM|%.1f|-|-|<10 ns: %s\n", age_vm,
           age_vm < 10 ? "MET" : "MISSED");
  for (i = 0; i < N_CTX; i++) {
    free((char *)ctx[i].status);
    free((char *)ctx[i].level);
  }
  gavel__jit_free(g_jit);
  gavel_runtime_free(grt);
  gavel__arena_free(&run);
  gavel__arena_free(&data);
  return 0;
}
