/*
** baseline_batch.c -- hand-written C baseline for 'gavel batch': the same
** per-line work with cJSON, N worker threads, output in input order.
**
** Usage: baseline_batch RULESET.json [--input F] [--output F] [--jobs N]
** The rule is hand-coded (native_rules.h) and picked by the ruleset's file
** name ("score" or "loan").  Like gavel's batch: the main thread reads
** 1 MiB chunks of whole lines, workers turn a chunk into result lines
** (cJSON parse, native rule, snprintf), the main thread writes chunks in
** sequence.  stderr gets "baseline: N lines in T s (R lines/s, J jobs);".
** Build: cc -O2 -DBENCH_HAVE_CJSON baseline_batch.c -lcjson -lpthread
** (scripts/bench.sh uses the CMake target when it exists).
*/
#define BENCH_HAVE_CJSON 1
#include "native_rules.h"
#include <pthread.h>

#define CHUNK_BYTES (1u << 20) /* input bytes per work unit         */
#define LINE_OUT_MAX 256       /* longest result line (with '\n')   */

typedef struct chunk {
  char *in;            /* input bytes (whole lines)              */
  size_t in_len;       /* their length                           */
  char *out;           /* result lines                           */
  size_t out_len;      /* bytes used                             */
  size_t out_cap;      /* bytes allocated                        */
  long lines;          /* lines in this chunk                    */
  long errors;         /* lines that failed                      */
  int done;            /* output ready                           */
  struct chunk *next;  /* next in sequence                       */
} chunk;

typedef struct pool {
  int loan;               /* 1: loan rule, 0: score rule         */
  pthread_mutex_t mu;     /* guards everything below             */
  pthread_cond_t cv_work; /* work available / input ended        */
  pthread_cond_t cv_done; /* a chunk finished                    */
  chunk *head;            /* oldest chunk not yet written        */
  chunk *tail;            /* newest chunk                        */
  chunk *todo;            /* next chunk for a worker             */
  int eof;                /* no more chunks                      */
  int queued;             /* chunks read, not yet written        */
} pool;

static double now_s(void) { return (double)bench_now_ns() / 1e9; }

static void out_reserve(chunk *c, size_t extra) {
  if (c->out_len + extra <= c->out_cap)
    return;
  c->out_cap = c->out_cap ? c->out_cap * 2 : c->in_len / 2 + 4096;
  if (c->out_cap < c->out_len + extra)
    c->out_cap = c->out_len + extra;
  c->out = realloc(c->out, c->out_cap);
  if (!c->out)
    bench_die("out of memory");
}

static void process(const pool *p, chunk *c) {
  size_t i = 0;
  while (i < c->in_len) {
    size_t j = i, end;
    int n;
    while (j < c->in_len && c->in[j] != '\n')
      j++;
    end = j;
    if (end > i && c->in[end - 1] == '\r')
      end--;
    out_reserve(c, LINE_OUT_MAX);
    n = p->loan ? loan_json_cjson(c->in + i, end - i, c->out + c->out_len,
                                  LINE_OUT_MAX - 1)
                : score_json_cjson(c->in + i, end - i, c->out + c->out_len,
                                   LINE_OUT_MAX - 1);
    if (n < 0 || n >= LINE_OUT_MAX - 1) {
      n = snprintf(c->out + c->out_len, LINE_OUT_MAX - 1,
                   "{\"error\":{\"kind\":\"json\",\"message\":\"bad input\"}}");
      c->errors++;
    }
    c->out_len += (size_t)n;
    c->out[c->out_len++] = '\n';
    c->lines++;
    i = j + 1;
  }
}

static void *worker(void *arg) {
  pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    chunk *c;
    while (!p->todo && !p->eof)
      pthread_cond_wait(&p->cv_work, &p->mu);
    if (!p->todo)
      break;
    c = p->todo;
    p->todo = c->next;
    pthread_mutex_unlock(&p->mu);
    process(p, c);
    pthread_mutex_lock(&p->mu);
    c->done = 1;
    pthread_cond_broadcast(&p->cv_done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* Writes finished chunks in order (called with p->mu held); 'all' waits. */
static void drain(pool *p, FILE *out, int all, long *lines, long *errors) {
  for (;;) {
    chunk *c = p->head;
    if (!c || (!c->done && !all))
      return;
    while (!c->done)
      pthread_cond_wait(&p->cv_done, &p->mu);
    p->head = c->next;
    if (!p->head)
      p->tail = NULL;
    p->queued--;
    pthread_mutex_unlock(&p->mu);
    if (c->out_len && fwrite(c->out, 1, c->out_len, out) != c->out_len)
      bench_die("write failed");
    *lines += c->lines;
    *errors += c->errors;
    free(c->in);
    free(c->out);
    free(c);
    pthread_mutex_lock(&p->mu);
  }
}

/* Reads one chunk of whole lines (NULL at end of input). */
static chunk *read_chunk(FILE *in, char **carry, size_t *carry_len) {
  char *buf = malloc(*carry_len + CHUNK_BYTES + 1);
  size_t n, cut;
  chunk *c;
  if (!buf)
    bench_die("out of memory");
  if (*carry_len)
    memcpy(buf, *carry, *carry_len);
  free(*carry);
  *carry = NULL;
  n = fread(buf + *carry_len, 1, CHUNK_BYTES, in) + *carry_len;
  *carry_len = 0;
  if (n == 0) {
    free(buf);
    return NULL;
  }
  cut = n;
  if (!feof(in)) { /* keep a partial last line for the next chunk */
    while (cut > 0 && buf[cut - 1] != '\n')
      cut--;
    if (cut == 0)
      cut = n;
    *carry_len = n - cut;
    if (*carry_len) {
      *carry = malloc(*carry_len);
      if (!*carry)
        bench_die("out of memory");
      memcpy(*carry, buf + cut, *carry_len);
    }
  }
  c = calloc(1, sizeof *c);
  if (!c)
    bench_die("out of memory");
  c->in = buf;
  c->in_len = (cut && buf[cut - 1] == '\n') ? cut - 1 : cut;
  return c;
}

int main(int argc, char **argv) {
  const char *rules = NULL, *inpath = NULL, *outpath = NULL, *base;
  FILE *in = stdin, *out = stdout;
  pool p;
  pthread_t th[64];
  int i, jobs = 2, n_th = 0;
  char *carry = NULL;
  size_t carry_len = 0;
  long lines = 0, errors = 0;
  double t0 = now_s(), el;
  memset(&p, 0, sizeof p);
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--input") && i + 1 < argc)
      inpath = argv[++i];
    else if (!strcmp(argv[i], "--output") && i + 1 < argc)
      outpath = argv[++i];
    else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
      jobs = atoi(argv[++i]);
    else if (argv[i][0] == '-' || rules)
      bench_die("usage: baseline_batch RULESET.json [--input F] [--output F] "
                "[--jobs N]");
    else
      rules = argv[i];
  }
  if (!rules)
    bench_die("usage: baseline_batch RULESET.json [--input F] [--output F] "
              "[--jobs N]");
  base = strrchr(rules, '/') ? strrchr(rules, '/') + 1 : rules;
  if (strstr(base, "loan"))
    p.loan = 1;
  else if (!strstr(base, "score"))
    bench_die("%s: no hand-written rule for this ruleset", rules);
  if (jobs < 1)
    jobs = 1;
  if (jobs > 64)
    jobs = 64;
  if (inpath && !(in = fopen(inpath, "rb")))
    bench_die("cannot open '%s'", inpath);
  if (outpath && !(out = fopen(outpath, "wb")))
    bench_die("cannot create '%s'", outpath);
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv_work, NULL);
  pthread_cond_init(&p.cv_done, NULL);
  for (i = 0; i < jobs; i++)
    if (pthread_create(&th[n_th], NULL, worker, &p) == 0)
      n_th++;
  pthread_mutex_lock(&p.mu);
  for (;;) {
    chunk *c;
    while (p.queued >= jobs * 4) { /* bound memory: wait for the writer */
      drain(&p, out, 0, &lines, &errors);
      if (p.queued >= jobs * 4)
        pthread_cond_wait(&p.cv_done, &p.mu);
    }
    pthread_mutex_unlock(&p.mu);
    c = read_chunk(in, &carry, &carry_len);
    pthread_mutex_lock(&p.mu);
    if (!c)
      break;
    if (p.tail)
      p.tail->next = c;
    else
      p.head = c;
    p.tail = c;
    if (!p.todo)
      p.todo = c;
    p.queued++;
    pthread_cond_signal(&p.cv_work);
    drain(&p, out, 0, &lines, &errors);
  }
  p.eof = 1;
  pthread_cond_broadcast(&p.cv_work);
  drain(&p, out, 1, &lines, &errors);
  pthread_mutex_unlock(&p.mu);
  for (i = 0; i < n_th; i++)
    pthread_join(th[i], NULL);
  if (fflush(out) != 0)
    bench_die("write failed");
  el = now_s() - t0;
  fprintf(stderr, "baseline: %ld lines in %.3f s (%.0f lines/s, %d jobs); "
                  "errors=%ld\n",
          lines, el, el > 0 ? (double)lines / el : 0.0, n_th, errors);
  if (in != stdin)
    fclose(in);
  if (out != stdout)
    fclose(out);
  pthread_mutex_destroy(&p.mu);
  pthread_cond_destroy(&p.cv_work);
  pthread_cond_destroy(&p.cv_done);
  return 0;
}
