/*
** cmd_batch.c -- 'gavel batch': one result line per input line, in input
** order, on all cores.
**
** The input is cut into chunks of whole lines; worker threads (one
** gavel_exec each) turn a chunk into a chunk of output lines; the main
** thread writes finished chunks strictly in sequence.  A malformed line
** gives an {"error": ...} line and the run goes on.  A progress bar with
** rate and ETA goes to stderr when it is a terminal; a summary (count per
** result code, errors, throughput) ends the run.
*/
#include "cli_rules.h"
#include "json.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_BYTES (1u << 20) /* input bytes per work unit */
#define MAX_CODES 256          /* distinct result codes tracked */

typedef struct chunk {
  char *in;            /* input bytes (whole lines)              */
  size_t in_len;       /* their length                           */
  gv_buf out;          /* output lines                           */
  long lines;          /* lines in this chunk                    */
  int done;            /* output ready                           */
  struct chunk *next;  /* next in sequence                       */
} chunk;

typedef struct code_count {
  char code[64]; /* result code (truncated)  */
  long n;        /* times seen               */
} code_count;

typedef struct stats {
  code_count codes[MAX_CODES]; /* per result code         */
  int n_codes;                 /* distinct codes          */
  long errors;                 /* error lines             */
  long lines;                  /* all lines               */
} stats;

typedef struct batch {
  gavel_ruleset *rs;      /* the ruleset                       */
  unsigned flags;         /* run flags (trace)                 */
  pthread_mutex_t mu;     /* guards everything below           */
  pthread_cond_t cv_work; /* work available / input ended      */
  pthread_cond_t cv_done; /* a chunk finished                  */
  chunk *head;            /* oldest chunk not yet written      */
  chunk *tail;            /* newest chunk                      */
  chunk *todo;            /* next chunk to hand to a worker    */
  int eof;                /* no more chunks will come          */
  int queued;             /* chunks read but not yet written   */
  stats total;            /* merged statistics                 */
} batch;

static void count_code(stats *s, const char *code, size_t len) {
  int i;
  if (len > 63)
    len = 63;
  for (i = 0; i < s->n_codes; i++)
    if (strlen(s->codes[i].code) == len && !memcmp(s->codes[i].code, code, len)) {
      s->codes[i].n++;
      return;
    }
  if (s->n_codes < MAX_CODES) {
    memcpy(s->codes[s->n_codes].code, code, len);
    s->codes[s->n_codes].code[len] = 0;
    s->codes[s->n_codes++].n = 1;
  }
}

static void error_line(gv_buf *o, const char *kind, const char *msg) {
  gavel__buf_adds(o, "{\"error\":{\"kind\":");
  gavel__json_write_str(o, kind, strlen(kind));
  gavel__buf_adds(o, ",\"message\":");
  gavel__json_write_str(o, msg, strlen(msg));
  gavel__buf_adds(o, "}}\n");
}

/* Finds "code":"..." at the start of a result line (we wrote it). */
static void tally(stats *s, const char *res, size_t len) {
  const char *p = res + 9; /* {"code":" */
  const char *q = p;
  (void)len;
  while (*q && *q != '"')
    q += (*q == '\\' && q[1]) ? 2 : 1;
  count_code(s, p, (size_t)(q - p));
}

static void process(batch *b, gavel_exec *ex, chunk *c, stats *s) {
  size_t i = 0;
  while (i < c->in_len) {
    size_t j = i, end;
    const char *out;
    size_t out_len;
    gavel_error err;
    gavel_status st;
    {
      const char *nl = memchr(c->in + i, '\n', c->in_len - i);
      j = nl ? (size_t)(nl - c->in) : c->in_len;
    }
    end = j;
    if (end > i && c->in[end - 1] == '\r')
      end--;
    c->lines++;
    s->lines++;
    st = gavel_exec_run_json(ex, c->in + i, end - i, b->flags, &out, &out_len,
                             &err);
    if (st == GAVEL_OK) {
      gavel__buf_add(&c->out, out, out_len);
      gavel__buf_addc(&c->out, '\n');
      tally(s, out, out_len);
    } else {
      if (st == GAVEL_PENDING) {
        gavel_exec_abandon(ex);
        snprintf(err.msg, sizeof err.msg,
                 "an asynchronous capability cannot be served by 'gavel batch'");
      } else if (end == i)
        snprintf(err.msg, sizeof err.msg, "empty input line");
      error_line(&c->out, cli_error_kind(st), err.msg);
      s->errors++;
    }
    i = j + 1;
  }
}

static void *worker(void *arg) {
  batch *b = arg;
  gavel_exec *ex = NULL;
  stats s;
  memset(&s, 0, sizeof s);
  if (gavel_exec_new(b->rs, &ex, NULL) != GAVEL_OK)
    return NULL;
  pthread_mutex_lock(&b->mu);
  for (;;) {
    chunk *c;
    while (!b->todo && !b->eof)
      pthread_cond_wait(&b->cv_work, &b->mu);
    if (!b->todo)
      break;
    c = b->todo;
    b->todo = c->next;
    pthread_mutex_unlock(&b->mu);
    process(b, ex, c, &s);
    pthread_mutex_lock(&b->mu);
    c->done = 1;
    pthread_cond_broadcast(&b->cv_done);
  }
  { /* merge statistics */
    int i;
    long k;
    for (i = 0; i < s.n_codes; i++)
      for (k = 0; k < s.codes[i].n; k++)
        count_code(&b->total, s.codes[i].code, strlen(s.codes[i].code));
    b->total.errors += s.errors;
    b->total.lines += s.lines;
  }
  pthread_mutex_unlock(&b->mu);
  gavel_exec_free(ex);
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(size_t done, size_t total, long lines, double t0) {
  double el = now_s() - t0, rate = el > 0 ? (double)lines / el : 0;
  int width = 30, k, fill = total ? (int)((double)done / (double)total * width) : 0;
  char bar[64];
  for (k = 0; k < width; k++)
    bar[k] = k < fill ? '#' : '.';
  bar[width] = 0;
  if (total && done) {
    double eta = el * ((double)total / (double)done - 1);
    fprintf(stderr, "\r[%s] %3.0f%%  %ld lines  %.0f lines/s  ETA %.0fs ", bar,
            100.0 * (double)done / (double)total, lines, rate, eta);
  } else
    fprintf(stderr, "\r%ld lines  %.0f lines/s ", lines, rate);
}

/* Writes finished chunks in order; 'all' waits for every chunk. */
static int drain(batch *b, FILE *out, int all, long *lines_out) {
  for (;;) {
    chunk *c = b->head;
    if (!c || (!c->done && !all))
      return 0;
    while (!c->done)
      pthread_cond_wait(&b->cv_done, &b->mu);
    b->head = c->next;
    if (!b->head)
      b->tail = NULL;
    b->queued--;
    pthread_mutex_unlock(&b->mu);
    if (c->out.len && fwrite(c->out.p, 1, c->out.len, out) != c->out.len) {
      pthread_mutex_lock(&b->mu);
      return -1;
    }
    *lines_out += c->lines;
    free(c->in);
    gavel__buf_free(&c->out);
    free(c);
    pthread_mutex_lock(&b->mu);
  }
}

int cmd_batch(int argc, char **argv) {
  cli_env env;
  const char *file = NULL, *inpath = NULL, *outpath = NULL;
  FILE *in = stdin, *out = stdout;
  gavel_ruleset *rs = NULL;
  batch b;
  pthread_t th[256];
  int i, jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), n_th = 0, rc = 1;
  int tty = isatty(2);
  size_t total = 0, readb = 0, carry_len = 0;
  char *carry = NULL;
  long written = 0;
  double t0 = now_s(), last = 0;
  struct stat sb;
  memset(&env, 0, sizeof env);
  memset(&b, 0, sizeof b);
  for (i = 1; i < argc; i++) {
    if (cli_env_init(&env, argc, argv, &i))
      continue;
    if (!strcmp(argv[i], "--input") && i + 1 < argc)
      inpath = argv[++i];
    else if (!strcmp(argv[i], "--output") && i + 1 < argc)
      outpath = argv[++i];
    else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
      jobs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--trace"))
      b.flags |= GAVEL_RUN_TRACE;
    else if (argv[i][0] == '-' || file) {
      fprintf(stderr, "error: usage: gavel batch RULESET.json [--input F.jsonl] "
                      "[--output F.jsonl] [--jobs N] [--trace]\n");
      return 2;
    } else
      file = argv[i];
  }
  if (!file) {
    fprintf(stderr, "error: usage: gavel batch RULESET.json [--input F.jsonl]\n");
    return 2;
  }
  if (jobs < 1)
    jobs = 1;
  if (jobs > 256)
    jobs = 256;
  if (cli_env_start(&env) != 0 || !(rs = cli_load_ruleset(&env, file, 0)))
    goto done;
  if (inpath && !(in = fopen(inpath, "rb"))) {
    fprintf(stderr, "error: io: cannot open '%s': %s\n", inpath, strerror(errno));
    goto done;
  }
  if (outpath && !(out = fopen(outpath, "wb"))) {
    fprintf(stderr, "error: io: cannot create '%s': %s\n", outpath,
            strerror(errno));
    goto done;
  }
  if (inpath && fstat(fileno(in), &sb) == 0)
    total = (size_t)sb.st_size;
  b.rs = rs;
  pthread_mutex_init(&b.mu, NULL);
  pthread_cond_init(&b.cv_work, NULL);
  pthread_cond_init(&b.cv_done, NULL);
  for (i = 0; i < jobs; i++)
    if (pthread_create(&th[n_th], NULL, worker, &b) == 0)
      n_th++;
  pthread_mutex_lock(&b.mu);
  for (;;) {
    chunk *c;
    size_t n, cut;
    char *buf;
    while (b.queued >= jobs * 4) /* bound memory: wait for the writer */
      if (drain(&b, out, 0, &written) < 0 || (b.head && !b.head->done))
        pthread_cond_wait(&b.cv_done, &b.mu);
    pthread_mutex_unlock(&b.mu);
    buf = malloc(carry_len + CHUNK_BYTES + 1);
    if (!buf) {
      pthread_mutex_lock(&b.mu);
      break;
    }
    if (carry_len)
      memcpy(buf, carry, carry_len);
    free(carry);
    carry = NULL;
    n = fread(buf + carry_len, 1, CHUNK_BYTES, in);
    readb += n;
    n += carry_len;
    carry_len = 0;
    if (n == 0) {
      free(buf);
      pthread_mutex_lock(&b.mu);
      break;
    }
    cut = n;
    if (!feof(in)) { /* keep a partial last line for the next chunk */
      while (cut > 0 && buf[cut - 1] != '\n')
        cut--;
      if (cut == 0)
        cut = n; /* a single huge line: take it whole */
      carry_len = n - cut;
      if (carry_len) {
        carry = malloc(carry_len);
        memcpy(carry, buf + cut, carry_len);
      }
    }
    c = calloc(1, sizeof *c);
    c->in = buf;
    c->in_len = cut;
    if (cut && buf[cut - 1] == '\n')
      c->in_len = cut - 1; /* the loop treats the end as a line end */
    gavel__buf_init(&c->out, &gavel__default_alloc);
    pthread_mutex_lock(&b.mu);
    if (b.tail)
      b.tail->next = c;
    else
      b.head = c;
    b.tail = c;
    if (!b.todo)
      b.todo = c;
    b.queued++;
    pthread_cond_signal(&b.cv_work);
    drain(&b, out, 0, &written);
    if (tty && now_s() - last > 0.2) {
      last = now_s();
      progress(readb, total, written, t0);
    }
  }
  b.eof = 1;
  pthread_cond_broadcast(&b.cv_work);
  drain(&b, out, 1, &written);
  pthread_mutex_unlock(&b.mu);
  for (i = 0; i < n_th; i++)
    pthread_join(th[i], NULL);
  fflush(out);
  {
    double el = now_s() - t0;
    if (tty)
      fprintf(stderr, "\r%*s\r", 80, "");
    fprintf(stderr, "batch: %ld lines in %.3f s (%.0f lines/s, %d jobs); ",
            b.total.lines, el, el > 0 ? (double)b.total.lines / el : 0.0, n_th);
    for (i = 0; i < b.total.n_codes; i++)
      fprintf(stderr, "%s=%ld ", b.total.codes[i].code, b.total.codes[i].n);
    fprintf(stderr, "errors=%ld\n", b.total.errors);
  }
  rc = ferror(out) ? 1 : 0;
  pthread_mutex_destroy(&b.mu);
  pthread_cond_destroy(&b.cv_work);
  pthread_cond_destroy(&b.cv_done);
done:
  free(carry);
  if (in && in != stdin)
    fclose(in);
  if (out && out != stdout)
    fclose(out);
  gavel_ruleset_free(rs);
  cli_env_free(&env);
  return rc;
}
