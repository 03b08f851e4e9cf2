/*
** cmd_batch.c -- 'gavel batch': one result line per input line, in input
** order, on all cores.
**
** The input is cut into chunks of whole lines; worker threads (one
** gavel_exec each) turn a chunk into a chunk of output lines; the main
** thread writes finished chunks strictly in sequence.  Every input line
** gets exactly one output line, in its position: a malformed or blank
** line gives an {"error": ...} line, and so does a line over the input
** limit (read past without being buffered), and the run goes on.  A progress bar with
** rate and ETA goes to stderr when it is a terminal; a summary (count per
** result code, errors, throughput) ends the run.
*/
#include "cli_rules.h"
#include "cli_replay.h"
#include "json.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_BYTES (1u << 20)  /* input bytes per work unit        */
#define CHUNK_LINES 65536       /* lines per work unit (blank ones)  */
#define QUEUE_BYTES (256u << 20) /* input bytes queued at most         */
#define MAX_CODES 256           /* distinct result codes tracked     */

typedef struct cline {
  size_t off;  /* start in chunk.in                                   */
  size_t len;  /* length (no '\n'); for a long line its full length  */
  long no;     /* line number (1-based)                               */
  int toolong; /* over the input limit: not in chunk.in               */
} cline;

typedef struct chunk {
  char *in;            /* input bytes of the lines, back to back  */
  size_t in_len;       /* their length                           */
  size_t in_cap;       /* allocated                              */
  cline *ln;           /* the lines                              */
  long lines;          /* lines in this chunk                    */
  long ln_cap;         /* allocated                              */
  gv_buf out;          /* output lines                           */
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
  size_t queued_bytes;    /* their input bytes                 */
  size_t max_input;       /* the input limit (for messages)    */
  int write_failed;       /* an output write failed: stop      */
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
  long k;
  for (k = 0; k < c->lines; k++) {
    const cline *l = &c->ln[k];
    const char *out;
    size_t out_len;
    gavel_error err;
    gavel_status st;
    s->lines++;
    if (l->toolong) {
      char what[96], msg[256];
      snprintf(what, sizeof what, "input line %ld (%zu bytes)", l->no, l->len);
      cli_limit_msg(msg, sizeof msg, what, b->max_input);
      error_line(&c->out, "limit", msg);
      s->errors++;
      continue;
    }
    if (l->len == 0) { /* no input is not a null input */
      error_line(&c->out, "input", "empty input line");
      s->errors++;
      continue;
    }
    st = gavel_exec_run_json(ex, c->in + l->off, l->len, b->flags, &out,
                             &out_len, &err);
    cli_capture_commit(st == GAVEL_OK ? out : NULL, out_len);
    if (st == GAVEL_OK) {
      gavel__buf_add(&c->out, out, out_len);
      gavel__buf_addc(&c->out, '\n');
      tally(s, out, out_len);
    } else {
      if (st == GAVEL_PENDING) {
        gavel_exec_abandon(ex);
        snprintf(err.msg, sizeof err.msg,
                 "an asynchronous capability cannot be served by 'gavel batch'");
      }
      error_line(&c->out, cli_error_kind(st), err.msg);
      s->errors++;
    }
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

static void chunk_free(chunk *c) {
  free(c->in);
  free(c->ln);
  gavel__buf_free(&c->out);
  free(c);
}

/* Adds one line (p NULL: over the limit, 'len' = its length).  0 on OOM. */
static int chunk_add(chunk *c, const char *p, size_t len, long no) {
  cline *l;
  if (c->lines == c->ln_cap) {
    long nc = c->ln_cap ? c->ln_cap * 2 : 256;
    cline *nl = realloc(c->ln, (size_t)nc * sizeof *nl);
    if (!nl)
      return 0;
    c->ln = nl;
    c->ln_cap = nc;
  }
  l = &c->ln[c->lines];
  l->off = c->in_len;
  l->no = no;
  l->toolong = p == NULL;
  l->len = len;
  if (p && len > 0 && p[len - 1] == '\r')
    l->len = --len;
  if (p && len > 0) {
    if (c->in_len + len > c->in_cap) {
      size_t nc = c->in_cap ? c->in_cap : CHUNK_BYTES + 4096;
      char *nb;
      while (nc < c->in_len + len)
        nc *= 2;
      if (!(nb = realloc(c->in, nc)))
        return 0;
      c->in = nb;
      c->in_cap = nc;
    }
    memcpy(c->in + c->in_len, p, len);
    c->in_len += len;
  }
  c->lines++;
  return 1;
}

/* Writes finished chunks in order; 'all' waits for every chunk.  Main
** thread only, under b->mu.  After a failed write the rest is dropped
** (the workers still finish, so that they can be joined). */
static void drain(batch *b, FILE *out, int all, long *lines_out) {
  for (;;) {
    chunk *c = b->head;
    if (!c || (!c->done && !all))
      return;
    while (!c->done)
      pthread_cond_wait(&b->cv_done, &b->mu);
    b->head = c->next;
    if (!b->head)
      b->tail = NULL;
    b->queued--;
    b->queued_bytes -= c->in_len;
    pthread_mutex_unlock(&b->mu);
    if (!b->write_failed) {
      if (c->out.oom) {
        fprintf(stderr, "error: memory: out of memory building results\n");
        b->write_failed = 1;
      } else if (cli_write(out, c->out.p, c->out.len) != 0)
        b->write_failed = 1;
    }
    *lines_out += c->lines;
    chunk_free(c);
    pthread_mutex_lock(&b->mu);
  }
}

/* Queues a chunk for the workers once there is room (bounded in chunks
** and in bytes: a chunk of one 64 MiB line counts as what it is). */
static void submit(batch *b, chunk *c, FILE *out, int jobs, long *written) {
  pthread_mutex_lock(&b->mu);
  for (;;) {
    drain(b, out, 0, written);
    if (!b->queued || (b->queued < jobs * 4 && b->queued_bytes < QUEUE_BYTES))
      break;
    pthread_cond_wait(&b->cv_done, &b->mu);
  }
  if (b->tail)
    b->tail->next = c;
  else
    b->head = c;
  b->tail = c;
  if (!b->todo)
    b->todo = c;
  b->queued++;
  b->queued_bytes += c->in_len;
  pthread_cond_signal(&b->cv_work);
  drain(b, out, 0, written);
  pthread_mutex_unlock(&b->mu);
}

int cmd_batch(int argc, char **argv) {
  cli_env env;
  const char *file = NULL, *inpath = NULL, *outpath = NULL;
  FILE *in = stdin, *out = stdout;
  gavel_ruleset *rs = NULL;
  batch b;
  pthread_t th[256];
  int i, k, jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), n_th = 0, rc = 1;
  int tty = isatty(2), opts = 1, started = 0, st = CLI_LINE_END;
  size_t total = 0;
  long written = 0;
  double t0 = now_s(), last = 0;
  struct stat sb;
  cli_lines rd;
  chunk *c = NULL;
  memset(&env, 0, sizeof env);
  memset(&b, 0, sizeof b);
  memset(&rd, 0, sizeof rd);
  for (i = 1; i < argc; i++) {
    if (opts && ((k = cli_env_init(&env, argc, argv, &i)) != 0 ||
                 (k = cli_capture_option(argc, argv, &i)) != 0)) {
      if (k < 0)
        return 2;
      continue;
    }
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && !strcmp(argv[i], "--input") && i + 1 < argc) {
      if (inpath) { /* the second would win without a word */
        fprintf(stderr, "error: usage: --input given twice\n");
        return 2;
      }
      inpath = argv[++i];
    } else if (opts && !strcmp(argv[i], "--output") && i + 1 < argc) {
      if (outpath) { /* the second would win without a word */
        fprintf(stderr, "error: usage: --output given twice\n");
        return 2;
      }
      outpath = argv[++i];
    } else if (opts && !strcmp(argv[i], "--jobs") && i + 1 < argc)
      jobs = atoi(argv[++i]);
    else if (opts && !strcmp(argv[i], "--trace"))
      b.flags |= GAVEL_RUN_TRACE;
    else if ((opts && argv[i][0] == '-') || file) {
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
  if (cli_env_start(&env) != 0 || cli_capture_start(env.rt) != 0 ||
      !(rs = cli_load_ruleset(&env, file, 0)))
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
  b.max_input = cli_input_limit(env.rt);
  cli_lines_init(&rd, in, b.max_input);
  pthread_mutex_init(&b.mu, NULL);
  pthread_cond_init(&b.cv_work, NULL);
  pthread_cond_init(&b.cv_done, NULL);
  started = 1;
  for (i = 0; i < jobs; i++)
    if (pthread_create(&th[n_th], NULL, worker, &b) == 0)
      n_th++;
  for (;;) {
    const char *p = NULL;
    size_t n = 0;
    st = cli_lines_next(&rd, &p, &n);
    if (st > 0) {
      if ((!c && !(c = calloc(1, sizeof *c))) ||
          !chunk_add(c, st == CLI_LINE_LONG ? NULL : p, n, rd.lineno)) {
        fprintf(stderr, "error: memory: out of memory reading the input\n");
        st = CLI_LINE_ERR;
        rd.err = 0;
      }
    }
    if (c && (st <= 0 || c->in_len >= CHUNK_BYTES || c->lines >= CHUNK_LINES)) {
      gavel__buf_init(&c->out, &gavel__default_alloc);
      submit(&b, c, out, jobs, &written);
      c = NULL;
      if (tty && now_s() - last > 0.2) {
        last = now_s();
        progress(rd.lineno ? (size_t)lseek(rd.fd, 0, SEEK_CUR) : 0, total,
                 written, t0);
      }
    }
    if (st <= 0 || b.write_failed)
      break;
  }
  if (st == CLI_LINE_ERR && rd.err)
    fprintf(stderr, "error: io: cannot read '%s': %s\n",
            inpath ? inpath : "standard input", strerror(rd.err));
  pthread_mutex_lock(&b.mu);
  b.eof = 1;
  pthread_cond_broadcast(&b.cv_work);
  drain(&b, out, 1, &written);
  pthread_mutex_unlock(&b.mu);
  for (i = 0; i < n_th; i++)
    pthread_join(th[i], NULL);
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
  rc = st == CLI_LINE_ERR || b.write_failed ? 1 : 0;
done:
  if (started) {
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv_work);
    pthread_cond_destroy(&b.cv_done);
  }
  cli_lines_free(&rd);
  if (in && in != stdin)
    fclose(in);
  if (out && out != stdout) {
    char name[1100];
    snprintf(name, sizeof name, "'%s'", outpath);
    if (cli_close_output(out, name, 1))
      rc = 1;
  } /* standard output: checked by main, for every command */
  gavel_ruleset_free(rs);
  /* A lost audit line, capture record or metrics file fails the batch. */
  if (cli_capture_end())
    rc = 1;
  if (cli_env_free(&env))
    rc = 1;
  return rc;
}
