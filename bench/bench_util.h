/*
** bench_util.h -- timing, PRNG and file helpers shared by the benchmarks.
**
** Method (docs/vm-jit-notes.md section 6): CLOCK_MONOTONIC, no pinning, the
** kernels of one comparison run interleaved (gavel, C, gavel, C, ...) so a
** busy moment on the machine hits both; each kernel is repeated and the
** median and best repetition are reported.  Header-only (static functions),
** libc only; never touches the engine.
*/
#ifndef GAVEL_BENCH_UTIL_H
#define GAVEL_BENCH_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPS 31 /* repetitions per kernel, at most */

/* A timed loop: runs 'iters' iterations over 'ud' and returns a checksum
** (so the work cannot be dropped and gavel and C results can be compared). */
typedef uint64_t (*bench_kernel)(void *ud, long iters);

typedef struct bench_stat {
  double median; /* ns per iteration, median repetition     */
  double best;   /* ns per iteration, fastest repetition    */
  uint64_t sum;  /* checksum returned by the last repetition */
} bench_stat;

static inline void bench_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FATAL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Positive integer from the environment, or 'def'. */
static inline long bench_env_long(const char *name, long def) {
  const char *s = getenv(name);
  long v;
  if (!s || !*s)
    return def;
  v = strtol(s, NULL, 10);
  return v > 0 ? v : def;
}

/* ==== PRNG (splitmix64: deterministic inputs on every machine) ==== */

static inline uint64_t bench_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline int64_t bench_range(uint64_t *s, int64_t lo, int64_t hi) {
  return lo + (int64_t)(bench_rand(s) % (uint64_t)(hi - lo + 1));
}

/* ==== Files ==== */

/* Reads a whole file (NUL-terminated, caller frees); dies on failure. */
static inline char *bench_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *p;
  long n;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0)
    bench_die("cannot read '%s'", path);
  p = malloc((size_t)n + 1);
  if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
    bench_die("cannot read '%s'", path);
  p[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return p;
}

/* ==== Timing ==== */

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Iterations for one repetition of 'k' to take about 'target_ms'. */
static inline long bench_calibrate(bench_kernel k, void *ud,
                                   double target_ms) {
  long n = 256, fixed = bench_env_long("BENCH_ITERS", 0);
  if (fixed) /* a fixed count: instruction counts (callgrind) compare */
    return fixed;
  for (;;) {
    uint64_t t0 = bench_now_ns();
    double el;
    k(ud, n);
    el = (double)(bench_now_ns() - t0);
    if (el > 2e6 || n > (1L << 30)) {
      double want = target_ms * 1e6 / (el / (double)n);
      return want < 256 ? 256 : (long)want;
    }
    n *= 4;
  }
}

/* Runs kernels k[0..n) interleaved, 'reps' repetitions of 'iters'
** iterations each (plus one warm-up round), into out[0..n). */
static inline void bench_run(const bench_kernel *k, void *const *ud, int n,
                             long iters, int reps, bench_stat *out) {
  double t[8][BENCH_MAX_REPS];
  int r, i;
  if (n > 8)
    bench_die("bench_run: too many kernels");
  if (reps > BENCH_MAX_REPS)
    reps = BENCH_MAX_REPS;
  for (i = 0; i < n; i++)
    out[i].sum = k[i](ud[i], iters < 4096 ? iters : 4096); /* warm-up */
  for (r = 0; r < reps; r++)
    for (i = 0; i < n; i++) {
      uint64_t t0 = bench_now_ns();
      out[i].sum = k[i](ud[i], iters);
      t[i][r] = (double)(bench_now_ns() - t0) / (double)iters;
    }
  for (i = 0; i < n; i++) {
    qsort(t[i], (size_t)reps, sizeof(double), bench_cmp_double);
    out[i].best = t[i][0];
    out[i].median = t[i][reps / 2];
  }
}

/* The common settings: BENCH_REPS (default 9) repetitions of about
** BENCH_MS (default 10) milliseconds each. */
static inline int bench_reps(void) {
  return (int)bench_env_long("BENCH_REPS", 9);
}
static inline double bench_ms(void) {
  return (double)bench_env_long("BENCH_MS", 10);
}

#endif /* GAVEL_BENCH_UTIL_H */
