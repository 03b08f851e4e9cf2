/*
** audit.c -- the audit.logger capability and the audit observer: one
** JSON line per audited event, appended to a file or standard output.
**
** Whole lines, always: a line is built in memory first, then written with
** one write(2) (looping only on a short write) while the log's mutex is
** held, on a descriptor opened with O_APPEND.  So lines of concurrent
** runs never interleave, and other processes appending to the same file
** never split ours.  Durability is a policy (gavel_providers.h explains
** the trade-off).  Log rotation: gavel_audit_reopen, or SIGHUP after
** gavel_audit_reopen_on_sighup (the handler only bumps a counter; the
** next line reopens, outside the signal handler).
*/
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "gavel_providers.h"
#include "json.h"
#include "runtime.h"
#include "sha256x2.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct gavel_audit {
  pthread_mutex_t mu;      /* guards everything below                   */
  char *path;              /* file path (owned), NULL for stdout        */
  int fd;                  /* descriptor (1 for stdout)                 */
  gavel_audit_opts o;      /* options, defaults filled in               */
  uint32_t unsynced;       /* FSYNC_N: lines since the last fdatasync   */
  char *buf;               /* ON_EXIT: buffered lines                   */
  size_t len;              /* bytes buffered                            */
  long hup_seen;           /* SIGHUP generation last acted on           */
  uint32_t nbuf;           /* ON_EXIT: lines in 'buf'                   */
  int first_errno;         /* errno of the first failure (0: none yet)  */
  uint64_t errors;         /* lines lost (atomic)                       */
  /* GROUP_N: a flusher thread writes and syncs 'buf' while runs fill
  ** 'spare' (the two are swapped). */
  pthread_t th;            /* the flusher                               */
  int th_on;               /* it was started                            */
  pthread_cond_t work;     /* signalled: a batch is ready / flush / stop */
  pthread_cond_t idle;     /* signalled: a batch was written            */
  char *spare;             /* the buffer being written                  */
  int busy;                /* the flusher is writing 'spare'            */
  int want;                /* a flush or close waits for everything     */
  int stop;                /* close: the flusher ends                   */
  gv_buf text;             /* GROUP_N: records rendered as lines        */
  /* GROUP_N timestamps: CLOCK_REALTIME = gavel__tick_ns() + rt_off, the
  ** offset read again when RT_REFRESH_NS have passed since rt_at (atomics:
  ** a race only reads the real clock twice). */
  int64_t rt_off;          /* realtime ns - tick ns                     */
  uint64_t rt_at;          /* tick ns of that reading (0: never)        */
};

/* A (tick, CLOCK_REALTIME) pair read closer together than this (ns) was
** not interrupted between its halves: the offset it gives is used. */
#define RT_PAIR_MAX_NS 50000u

/* How long a (tick, CLOCK_REALTIME) offset is used.  The tick clock's rate
** is calibrated over its first 50 ms, so it may drift from the real clock
** by a few parts in a thousand on a loaded machine: 3 ms in a second was
** seen under ASan with every core busy; a tenth of a second keeps that
** under half a millisecond, for one clock_gettime per 100 ms. */
#define RT_REFRESH_NS 100000000u

/* When an event is logged, as CLOCK_REALTIME would say to within the
** drift of RT_REFRESH_NS (one tick read, not a clock_gettime per line). */
static void event_time(gavel_audit *a, struct timespec *ts) {
  uint64_t tk = gavel__tick_ns(), at = __atomic_load_n(&a->rt_at, __ATOMIC_RELAXED);
  int64_t off = __atomic_load_n(&a->rt_off, __ATOMIC_RELAXED), ns;
  if (!at || tk - at >= RT_REFRESH_NS) {
    int tries;
    uint64_t tk2 = tk;
    for (tries = 0; tries < 4; tries++) {
      tk = tk2;
      clock_gettime(CLOCK_REALTIME, ts);
      tk2 = gavel__tick_ns();
      if (tk2 - tk < RT_PAIR_MAX_NS)
        break;
    }
    off = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec - (int64_t)tk;
    if (tk2 - tk < RT_PAIR_MAX_NS) {
      __atomic_store_n(&a->rt_off, off, __ATOMIC_RELAXED);
      __atomic_store_n(&a->rt_at, tk ? tk : 1, __ATOMIC_RELAXED);
    }
    return; /* this line has the real clock's time in any case */
  }
  ns = (int64_t)tk + off;
  ts->tv_sec = (time_t)(ns / 1000000000);
  ts->tv_nsec = (long)(ns % 1000000000);
}

/* GROUP_N buffers hold records, rendered to lines by the flusher: the
** runs' threads only copy an event's fields (and input) in; its
** timestamp text, digest and JSON escaping happen off their path.  The
** flusher digests the inputs of consecutive run records two at a time
** (sha256x2.c: two SHA-NI streams interleaved, ~40% less than OpenSSL's
** one at a time here).
** A record: uint32 size (all of it), one type byte, the payload. */
#define REC_LINE 'L' /* payload: a finished line, '\n' included        */
#define REC_RUN 'R'  /* payload: run_rec, then ruleset, version, code,
                        message (each NUL-terminated), then the input */
#define REC_HDR 5
typedef struct run_rec {
  struct timespec ts;        /* when the event was logged             */
  uint64_t trace_id;         /* the event's fields                    */
  uint64_t duration_ns;      /* ...                                   */
  uint64_t gas_used;         /* ...                                   */
  int32_t status;            /* ...                                   */
  int32_t has_input;         /* input text present (else null digest) */
  uint32_t len[5];           /* ruleset version code message input    */
} run_rec;

static size_t render(gavel_audit *a, const char *p, size_t n, gv_buf *out,
                     uint32_t *lines, size_t stop_at);

/* GROUP_N: the flusher renders a batch in pieces of about this many
** bytes, each written by one write(2): the text buffer stays this small
** (its pages are faulted in once, not again for every larger batch). */
#define GROUP_CHUNK (1u << 20)

static volatile sig_atomic_t hup_gen; /* bumped by the SIGHUP handler */

/* ==== Files ==== */

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = EIO; /* no progress and no reason: do not spin */
      return 1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int open_log(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Records a failure that lost 'lines' lines.  Under a->mu. */
static void lost(gavel_audit *a, uint64_t lines, int e) {
  if (!a->first_errno)
    a->first_errno = e ? e : EIO;
  if (lines)
    __atomic_add_fetch(&a->errors, lines, __ATOMIC_RELAXED);
}

/* Writes the ON_EXIT buffer; its lines are lost on failure.  Under a->mu. */
static int drain(gavel_audit *a) {
  int bad;
  if (a->o.durability == GAVEL_AUDIT_GROUP_N && a->len) {
    uint32_t lines = 0;
    a->text.len = 0;
    render(a, a->buf, a->len, &a->text, &lines, SIZE_MAX);
    bad = a->text.oom || write_all(a->fd, a->text.p, a->text.len);
    if (bad)
      lost(a, lines, a->text.oom ? ENOMEM : errno);
    a->text.oom = 0;
    a->len = 0;
    a->nbuf = 0;
    return bad;
  }
  bad = a->len && write_all(a->fd, a->buf, a->len);
  if (bad)
    lost(a, a->nbuf ? a->nbuf : 1, errno);
  a->len = 0;
  a->nbuf = 0;
  return bad;
}

/* A descriptor that cannot be synced (a pipe, a terminal, /dev/full)
** is not a failure: its writes were checked one by one.  Under a->mu. */
static int sync_fd(gavel_audit *a) {
  a->unsynced = 0;
  if (a->path && fdatasync(a->fd) != 0 && errno != EINVAL &&
      errno != EROFS && errno != ENOTSUP) {
    lost(a, 0, errno); /* lines written, durability unknown */
    return 1;
  }
  return 0;
}

static int reopen_locked(gavel_audit *a) {
  int fd, bad;
  if (!a->path)
    return 0;
  while (a->busy) /* the flusher's batch goes to the old file */
    pthread_cond_wait(&a->idle, &a->mu);
  if ((fd = open_log(a->path)) < 0) {
    lost(a, 0, errno); /* lines keep going to the old file */
    return 1;
  }
  bad = drain(a);
  if (a->o.durability != GAVEL_AUDIT_FLUSH_LINE)
    bad |= sync_fd(a);
  close(a->fd);
  a->fd = fd;
  return bad;
}

/* Prefetches a cache line for writing.  The next record goes there: its
** lines were last read by the flusher (another core); fetching them
** while the run goes on rather than at the copy took 10-30 ms per 200k
** records off the run's thread on the bench VM (bench/README.md). */
#if defined(__x86_64__) && defined(__GNUC__)
static inline void prefetch_w(const void *p) {
  __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
}
#else
static inline void prefetch_w(const void *p) { __builtin_prefetch(p, 1, 3); }
#endif
#define PREFETCH_AHEAD 512 /* bytes: a run record is ~100 + its input */

/* GROUP_N: appends a record made of 'k' segments to the buffer (waiting
** while it is full: back-pressure, never a dropped line).  Under no lock.
** 0, or the errno of a failure (a line longer than the whole buffer is
** written directly). */
static int group_add(gavel_audit *a, int type, const char *const *seg,
                     const size_t *sl, int k) {
  size_t n = REC_HDR, o;
  uint32_t n32;
  int i, bad = 0, e = 0;
  char *w;
  for (i = 0; i < k; i++)
    n += sl[i];
  pthread_mutex_lock(&a->mu);
  while (a->len && a->len + n > a->o.buffer_bytes) {
    a->want = 1;
    pthread_cond_signal(&a->work);
    pthread_cond_wait(&a->idle, &a->mu);
  }
  if (n > a->o.buffer_bytes || n > UINT32_MAX) { /* alone, rendered here */
    gv_buf t;
    uint32_t lines = 0;
    char *rec = malloc(n);
    while (a->busy)
      pthread_cond_wait(&a->idle, &a->mu);
    gavel__buf_init(&t, &gavel__default_alloc);
    if (rec && n <= UINT32_MAX) {
      n32 = (uint32_t)n;
      memcpy(rec, &n32, 4);
      rec[4] = (char)type;
      for (w = rec + REC_HDR, i = 0; i < k; w += sl[i], i++)
        memcpy(w, seg[i], sl[i]);
      render(a, rec, n, &t, &lines, SIZE_MAX);
    }
    if (!rec || n > UINT32_MAX || t.oom)
      bad = ENOMEM;
    else if (write_all(a->fd, t.p, t.len))
      bad = errno;
    if (bad)
      lost(a, 1, bad);
    free(rec);
    gavel__buf_free(&t);
    pthread_mutex_unlock(&a->mu);
    return bad;
  }
  n32 = (uint32_t)n;
  w = a->buf + a->len;
  memcpy(w, &n32, 4);
  w[4] = (char)type;
  for (w += REC_HDR, i = 0; i < k; w += sl[i], i++)
    memcpy(w, seg[i], sl[i]);
  a->len += n;
  for (o = 0; o < PREFETCH_AHEAD && a->len + o < a->o.buffer_bytes; o += 64)
    prefetch_w(a->buf + a->len + o);
  /* the first record of a batch starts the flusher's latency clock */
  if (++a->nbuf >= a->o.fsync_every || a->nbuf == 1)
    pthread_cond_signal(&a->work);
  if (a->first_errno && __atomic_load_n(&a->errors, __ATOMIC_RELAXED))
    e = a->first_errno; /* the flusher lost lines: say so */
  pthread_mutex_unlock(&a->mu);
  return e;
}

/* Appends one complete line (with its '\n'). Under no lock.  0, or the
** errno of the failure (the line is counted as lost). */
static int write_line(gavel_audit *a, const char *p, size_t n) {
  int bad = 0, e = 0;
  long gen = hup_gen;
  pthread_mutex_lock(&a->mu);
  if (gen != a->hup_seen) {
    a->hup_seen = gen;
    if (reopen_locked(a))
      e = a->first_errno;
  }
  if (a->o.durability == GAVEL_AUDIT_GROUP_N) {
    const char *seg[1];
    size_t sl[1];
    seg[0] = p;
    sl[0] = n;
    pthread_mutex_unlock(&a->mu);
    return group_add(a, REC_LINE, seg, sl, 1);
  } else if (a->o.durability == GAVEL_AUDIT_ON_EXIT) {
    if (a->len + n > a->o.buffer_bytes && drain(a))
      e = a->first_errno;
    if (n > a->o.buffer_bytes) {
      bad = write_all(a->fd, p, n);
    } else {
      memcpy(a->buf + a->len, p, n);
      a->len += n;
      a->nbuf++;
    }
  } else {
    bad = write_all(a->fd, p, n);
    if (!bad && a->o.durability == GAVEL_AUDIT_FSYNC_N &&
        ++a->unsynced >= a->o.fsync_every && sync_fd(a))
      e = a->first_errno;
  }
  if (bad) {
    e = errno;
    lost(a, 1, e);
  }
  pthread_mutex_unlock(&a->mu);
  return bad || e ? (e ? e : EIO) : 0;
}

/* GROUP_N: the longest a logged line waits for its batch to fill (s). */
#define GROUP_LATENCY_S 1

/* GROUP_N: takes the filled buffer, writes it with one write(2) and
** fdatasyncs it outside the lock, while runs fill the other buffer. */
static void *flusher(void *ud) {
  gavel_audit *a = ud;
  pthread_mutex_lock(&a->mu);
  for (;;) {
    char *p;
    size_t n;
    uint32_t lines = 0;
    int fd, e = 0;
    while (!a->stop && !a->want && a->nbuf < a->o.fsync_every) {
      /* Lines wait for N more at most GROUP_LATENCY_S: a quiet server
      ** (gavel serve, a slow batch) still writes them out. */
      struct timespec ts;
      if (!a->len) {
        pthread_cond_wait(&a->work, &a->mu);
        continue;
      }
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += GROUP_LATENCY_S;
      if (pthread_cond_timedwait(&a->work, &a->mu, &ts) == ETIMEDOUT)
        break;
    }
    if (!a->len) {
      a->want = 0;
      pthread_cond_broadcast(&a->idle);
      if (a->stop)
        break;
      continue;
    }
    p = a->buf;
    a->buf = a->spare;
    a->spare = p;
    n = a->len;
    a->len = 0;
    a->nbuf = 0;
    a->busy = 1;
    fd = a->fd;
    pthread_cond_broadcast(&a->idle); /* room again */
    pthread_mutex_unlock(&a->mu);
    /* only the flusher renders while busy; in GROUP_CHUNK pieces, each
    ** written as soon as rendered; after a failure, the rest is lost */
    while (n && !e) {
      size_t used;
      a->text.len = 0;
      used = render(a, p, n, &a->text, &lines, GROUP_CHUNK);
      if (a->text.oom)
        e = ENOMEM;
      else if (write_all(fd, a->text.p, a->text.len))
        e = errno;
      else
        lines = 0; /* written */
      if (!used) /* cannot happen: records are whole */
        break;
      p += used;
      n -= used;
    }
    if (e > 0) {
      a->text.oom = 0;
      render(a, p, n, NULL, &lines, 0); /* counts the rest */
    } else if (a->path && fdatasync(fd) != 0 && errno != EINVAL &&
             errno != EROFS && errno != ENOTSUP)
      e = -errno; /* written, durability unknown */
    pthread_mutex_lock(&a->mu);
    if (e > 0)
      lost(a, lines, e);
    else if (e < 0)
      lost(a, 0, -e);
    a->busy = 0;
    pthread_cond_broadcast(&a->idle);
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

/* GROUP_N: waits until every line logged so far is written and synced.
** Under a->mu. */
static void group_wait(gavel_audit *a) {
  if (!a->th_on)
    return;
  while (a->len || a->busy) {
    a->want = 1;
    pthread_cond_signal(&a->work);
    pthread_cond_wait(&a->idle, &a->mu);
  }
}

/* ==== Public: the log ==== */

gavel_status gavel_audit_open(const char *path, const gavel_audit_opts *opts,
                              gavel_audit **out, gavel_error *err) {
  gavel_audit *a;
  gavel__error_clear(err);
  if (!path || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_open: NULL argument");
  if (!(a = calloc(1, sizeof *a)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  if (opts)
    a->o = *opts;
  if (!a->o.fsync_every)
    a->o.fsync_every = 1;
  if (!a->o.buffer_bytes)
    a->o.buffer_bytes = 1u << 20;
  a->hup_seen = hup_gen;
  a->fd = 1;
  if (strcmp(path, "-")) {
    size_t n = strlen(path) + 1;
    if ((a->path = malloc(n)))
      memcpy(a->path, path, n);
    if (!a->path || (a->fd = open_log(path)) < 0) {
      int e = a->path ? errno : ENOMEM;
      free(a->path);
      free(a);
      return gavel__errorf(err, GAVEL_IO, "audit.logger: cannot open '%s': "
                           "%s", path, strerror(e));
    }
  }
  if (a->o.durability == GAVEL_AUDIT_GROUP_N && a->o.fsync_every == 1 &&
      !(opts && opts->fsync_every))
    a->o.fsync_every = 1024;
  if ((a->o.durability == GAVEL_AUDIT_ON_EXIT ||
       a->o.durability == GAVEL_AUDIT_GROUP_N) &&
      (!(a->buf = malloc(a->o.buffer_bytes)) ||
       (a->o.durability == GAVEL_AUDIT_GROUP_N &&
        !(a->spare = malloc(a->o.buffer_bytes))))) {
    free(a->buf);
    if (a->path)
      close(a->fd);
    free(a->path);
    free(a);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  {
    /* Runs on several threads append under a->mu for a few hundred
    ** nanoseconds each: an adaptive mutex spins briefly before sleeping
    ** (glibc; elsewhere a plain mutex). */
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&a->mu, &at);
    pthread_mutexattr_destroy(&at);
  }
  gavel__buf_init(&a->text, &gavel__default_alloc);
  if (a->o.durability == GAVEL_AUDIT_GROUP_N) {
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->idle, NULL);
    if (pthread_create(&a->th, NULL, flusher, a) != 0) {
      if (a->path)
        close(a->fd);
      pthread_cond_destroy(&a->work);
      pthread_cond_destroy(&a->idle);
      pthread_mutex_destroy(&a->mu);
      free(a->buf);
      free(a->spare);
      free(a->path);
      free(a);
      return gavel__errorf(err, GAVEL_NOMEM, "audit.logger: cannot start "
                           "the flusher thread");
    }
    a->th_on = 1;
  }
  *out = a;
  return GAVEL_OK;
}

gavel_status gavel_audit_write(gavel_audit *a, const char *json, size_t len,
                               gavel_error *err) {
  char *line;
  int bad;
  gavel__error_clear(err);
  if (!a || !json || !len || memchr(json, '\n', len))
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_write: empty line "
                         "or a line break inside");
  if (!(line = malloc(len + 1)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  memcpy(line, json, len);
  line[len] = '\n';
  bad = write_line(a, line, len + 1);
  free(line);
  return bad ? gavel__errorf(err, GAVEL_IO, "audit.logger: cannot write "
                             "'%s': %s", a->path ? a->path : "<stdout>",
                             strerror(bad))
             : GAVEL_OK;
}

gavel_status gavel_audit_reopen(gavel_audit *a, gavel_error *err) {
  int bad;
  gavel__error_clear(err);
  if (!a)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_reopen: NULL");
  pthread_mutex_lock(&a->mu);
  bad = reopen_locked(a) ? a->first_errno : 0;
  pthread_mutex_unlock(&a->mu);
  return bad ? gavel__errorf(err, GAVEL_IO, "audit.logger: cannot reopen "
                             "'%s': %s", a->path, strerror(bad))
             : GAVEL_OK;
}

gavel_status gavel_audit_flush(gavel_audit *a, gavel_error *err) {
  int bad;
  gavel__error_clear(err);
  if (!a)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_flush: NULL");
  pthread_mutex_lock(&a->mu);
  group_wait(a);
  bad = drain(a) | sync_fd(a);
  if (bad)
    bad = a->first_errno;
  pthread_mutex_unlock(&a->mu);
  return bad ? gavel__errorf(err, GAVEL_IO, "audit.logger: cannot flush "
                             "'%s': %s", a->path ? a->path : "<stdout>",
                             strerror(bad))
             : GAVEL_OK;
}

static void on_hup(int sig) {
  (void)sig;
  hup_gen = hup_gen + 1; /* only this handler writes it */
}

gavel_status gavel_audit_reopen_on_sighup(gavel_error *err) {
  struct sigaction sa;
  gavel__error_clear(err);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_hup;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGHUP, &sa, NULL) != 0)
    return gavel__errorf(err, GAVEL_IO, "sigaction(SIGHUP): %s",
                         strerror(errno));
  return GAVEL_OK;
}

uint64_t gavel_audit_errors(const gavel_audit *a) {
  return a ? __atomic_load_n(&a->errors, __ATOMIC_RELAXED) : 0;
}

/* "audit.logger: N lines lost writing 'path': reason".  Under a->mu. */
static gavel_status status_locked(gavel_audit *a, gavel_error *err) {
  uint64_t n = __atomic_load_n(&a->errors, __ATOMIC_RELAXED);
  if (!a->first_errno)
    return GAVEL_OK;
  if (!n)
    return gavel__errorf(err, GAVEL_IO, "audit.logger: '%s': %s (sync or "
                         "reopen failed; no line lost)",
                         a->path ? a->path : "<stdout>",
                         strerror(a->first_errno));
  return gavel__errorf(err, GAVEL_IO, "audit.logger: %llu line%s lost "
                       "writing '%s': %s", (unsigned long long)n,
                       n == 1 ? "" : "s", a->path ? a->path : "<stdout>",
                       strerror(a->first_errno));
}

gavel_status gavel_audit_status(gavel_audit *a, gavel_error *err) {
  gavel_status st;
  gavel__error_clear(err);
  if (!a)
    return GAVEL_OK;
  pthread_mutex_lock(&a->mu);
  st = status_locked(a, err);
  pthread_mutex_unlock(&a->mu);
  return st;
}

gavel_status gavel_audit_close(gavel_audit *a, gavel_error *err) {
  gavel_status st;
  gavel__error_clear(err);
  if (!a)
    return GAVEL_OK;
  if (a->th_on) {
    pthread_mutex_lock(&a->mu);
    group_wait(a);
    a->stop = 1;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->idle);
  }
  pthread_mutex_lock(&a->mu);
  drain(a);
  if (a->path) {
    sync_fd(a);
    if (close(a->fd) != 0)
      lost(a, 0, errno);
  }
  st = status_locked(a, err);
  pthread_mutex_unlock(&a->mu);
  pthread_mutex_destroy(&a->mu);
  free(a->buf);
  free(a->spare);
  gavel__buf_free(&a->text);
  free(a->path);
  free(a);
  return st;
}

/* ==== Lines ==== */

/* Decimal text of 'v' (no printf: this runs once per audited event). */
static void put_u64(gv_buf *b, uint64_t v) {
  char t[24];
  int i = 24;
  do
    t[--i] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  gavel__buf_add(b, t + i, (size_t)(24 - i));
}

static void put_num(gv_buf *b, const char *key, uint64_t v) {
  gavel__buf_adds(b, key);
  put_u64(b, v);
}

static void put2(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
}

/* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ" in UTC.  Civil date from days since
** the epoch (Howard Hinnant's algorithm): gmtime_r takes glibc's time
** zone lock, which serialized concurrent writers. */
static void put_ts_at(gv_buf *b, const struct timespec *tsp) {
  struct timespec ts = *tsp;
  char t[] = "{\"ts\":\"0000-00-00T00:00:00.000Z\"";
  int64_t z, era, sec;
  unsigned doe, yoe, doy, mp, d, m, y, ms;
  sec = (int64_t)ts.tv_sec;
  z = (sec >= 0 ? sec : sec - 86399) / 86400 + 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = (unsigned)(yoe + era * 400 + (m <= 2));
  sec = ((sec % 86400) + 86400) % 86400;
  ms = (unsigned)(ts.tv_nsec / 1000000L);
  put2(t + 7, y / 100);
  put2(t + 9, y % 100);
  put2(t + 12, m);
  put2(t + 15, d);
  put2(t + 18, (unsigned)(sec / 3600));
  put2(t + 21, (unsigned)(sec / 60 % 60));
  put2(t + 24, (unsigned)(sec % 60));
  t[27] = (char)('0' + ms / 100);
  put2(t + 28, ms % 100);
  gavel__buf_add(b, t, sizeof t - 1);
}

static void put_str(gv_buf *b, const char *key, const char *v) {
  gavel__buf_adds(b, key);
  gavel__json_write_str(b, v ? v : "", v ? strlen(v) : 0);
}

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256; /* fetched once: an implicit fetch per digest
                             took OpenSSL 3's global lock every call */
/* One digest context per thread: creating and freeing one per line was
** a tenth of an audited batch run. */
static pthread_key_t md_key;
static int md_key_ok;
static void md_ctx_free(void *c) { EVP_MD_CTX_free(c); }
static void md_init(void) {
  md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  md_key_ok = pthread_key_create(&md_key, md_ctx_free) == 0;
}

/* SHA-256 of p[0..n) into md (*ml bytes): SHA-NI (sha256x2.c) when the
** CPU has it, else OpenSSL.  0 on failure. */
static int digest(const char *p, size_t n, unsigned char *md,
                  unsigned int *ml) {
  EVP_MD_CTX *c;
  if (gavel__sha256x2(p, n, md, NULL, 0, NULL)) {
    *ml = 32;
    return 1;
  }
  pthread_once(&md_once, md_init);
  if (!md_sha256)
    return 0;
  c = md_key_ok ? pthread_getspecific(md_key) : NULL;
  if (!c && md_key_ok && (c = EVP_MD_CTX_new()) &&
      pthread_setspecific(md_key, c) != 0) {
    EVP_MD_CTX_free(c);
    c = NULL;
  }
  if (!c)
    return EVP_Digest(p, n, md, ml, md_sha256, NULL);
  return EVP_DigestInit_ex2(c, md_sha256, NULL) &&
         EVP_DigestUpdate(c, p, n) && EVP_DigestFinal_ex(c, md, ml);
}

static void put_digest(gv_buf *b, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  char out[2 * EVP_MAX_MD_SIZE + 2];
  unsigned int ml = 0, i;
  gavel__buf_adds(b, ",\"input_sha256\":");
  if (!p || !digest(p, n, md, &ml)) {
    gavel__buf_adds(b, "null");
    return;
  }
  out[0] = '"';
  for (i = 0; i < ml; i++) {
    out[1 + 2 * i] = hex[md[i] >> 4];
    out[2 + 2 * i] = hex[md[i] & 15];
  }
  out[1 + 2 * ml] = '"';
  gavel__buf_add(b, out, 2 * ml + 2);
}

static void put_status(gv_buf *b, gavel_status st) {
  const char *s = gavel_status_name(st);
  char low[32];
  size_t i;
  if (!strncmp(s, "GAVEL_", 6))
    s += 6;
  for (i = 0; s[i] && i + 1 < sizeof low; i++)
    low[i] = (char)tolower((unsigned char)s[i]);
  low[i] = 0;
  put_str(b, ",\"status\":", low);
}

static void put_ts(gv_buf *b) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  put_ts_at(b, &ts);
}

static void run_line_at(gv_buf *b, const gavel_event *ev,
                        const struct timespec *ts) {
  put_ts_at(b, ts);
  put_num(b, ",\"event\":\"rule_executed\",\"trace_id\":", ev->trace_id);
  put_str(b, ",\"ruleset\":", ev->ruleset);
  put_str(b, ",\"version\":", ev->version);
  put_status(b, ev->status);
  put_str(b, ",\"code\":", ev->code);
  put_num(b, ",\"duration_us\":", ev->duration_ns / 1000u);
  put_num(b, ",\"gas_used\":", ev->gas_used);
  put_digest(b, ev->input, ev->input_len);
  if (ev->status != GAVEL_OK)
    put_str(b, ",\"error\":", ev->message);
  gavel__buf_adds(b, "}\n");
}

static void run_line(gv_buf *b, const gavel_event *ev) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  run_line_at(b, ev, &ts);
}

/* The flusher's renderer for run records: one line written straight
** into reserved room (no per-field append calls), with what repeats
** from line to line cached for the batch: the date and time down to the
** second, the status name.  Its output is byte-identical to run_line_at
** (test_audit compares the two). */
typedef struct rcache {
  int64_t sec;       /* second of 'ts' (valid when 'ts_ok')            */
  int ts_ok;         /* ...                                            */
  char ts[33];       /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ" of 'sec'      */
  int32_t st;        /* status of 'stn' (valid when 'stn_len')         */
  size_t stn_len;    /* bytes in 'stn'                                 */
  char stn[48];      /* ,"status":"name"                               */
  uint32_t rv_raw[2]; /* ruleset and version lengths of 'rv' (0: none) */
  char rv_in[96];    /* ruleset then version, raw                       */
  size_t rv_len;     /* bytes in 'rv'                                   */
  char rv[640];      /* ,"ruleset":"..","version":".." of 'rv_in'       */
  const char *pre;   /* input whose digest is in 'pre_md' (or NULL)    */
  unsigned char pre_md[32]; /* computed with the one before it         */
} rcache;

/* JSON string of p[0..n), quotes included, at w (room: 6n + 2);
** escapes exactly as gavel__json_write_str. */
static char *esc_str(char *w, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  *w++ = '"';
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (GAVEL_LIKELY(c >= 0x20 && c != '"' && c != '\\')) {
      *w++ = (char)c;
      continue;
    }
    *w++ = '\\';
    switch (c) {
    case '"': case '\\': *w++ = (char)c; break;
    case '\b': *w++ = 'b'; break;
    case '\t': *w++ = 't'; break;
    case '\n': *w++ = 'n'; break;
    case '\f': *w++ = 'f'; break;
    case '\r': *w++ = 'r'; break;
    default:
      memcpy(w, "u00", 3);
      w[3] = hex[c >> 4];
      w[4] = hex[c & 15];
      w += 5;
    }
  }
  *w++ = '"';
  return w;
}

static char *put_lit(char *w, const char *lit, size_t n) {
  memcpy(w, lit, n);
  return w + n;
}
#define LIT(w, s) put_lit((w), (s), sizeof(s) - 1)

/* "00".."99": two digits per division. */
static const char dig2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

static char *dec_u64(char *w, uint64_t v) {
  char t[24];
  int i = 24;
  while (v >= 100) {
    unsigned d = (unsigned)(v % 100);
    v /= 100;
    i -= 2;
    memcpy(t + i, dig2 + 2 * d, 2);
  }
  if (v >= 10) {
    i -= 2;
    memcpy(t + i, dig2 + 2 * v, 2);
  } else
    t[--i] = (char)('0' + v);
  memcpy(w, t + i, (size_t)(24 - i));
  return w + (24 - i);
}

/* Lower-case hex of n bytes at w (2n chars). */
static char *hex_bytes(char *w, const unsigned char *p, unsigned n) {
  static const char tab[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
  unsigned i;
  for (i = 0; i < n; i++, w += 2)
    memcpy(w, tab + 2 * p[i], 2);
  return w;
}

/* The input of the run record at p (bytes before 'end'): 1 and *in, *n
** when it is one with an input text, else 0. */
static int rec_input(const char *p, const char *end, const char **in,
                     uint32_t *n) {
  run_rec r;
  uint32_t size;
  size_t off;
  if (end - p < REC_HDR + (ptrdiff_t)sizeof r)
    return 0;
  memcpy(&size, p, 4);
  if (p[4] != REC_RUN || size > (size_t)(end - p) ||
      size < REC_HDR + sizeof r)
    return 0;
  memcpy(&r, p + REC_HDR, sizeof r);
  off = REC_HDR + sizeof r + (size_t)r.len[0] + r.len[1] + r.len[2] +
        r.len[3] + 4;
  if (!r.has_input || off > size || r.len[4] > size - off)
    return 0; /* cannot happen: written by on_event */
  *in = p + off;
  *n = r.len[4];
  return 1;
}

/* 'next': the record after this one (end: the end of the records), whose
** input is digested together with this one's when both have one. */
static void render_run(gv_buf *out, const run_rec *r, const char *s,
                       rcache *c, const char *next, const char *end) {
  const char *rs = s, *ver, *code, *msg, *in, *in2;
  size_t room = 512;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int ml = 0, i, ms;
  uint32_t n2;
  char *w;
  ver = rs + r->len[0] + 1;
  code = ver + r->len[1] + 1;
  msg = code + r->len[2] + 1;
  in = msg + r->len[3] + 1;
  for (i = 0; i < 4; i++)
    room += 6 * (size_t)r->len[i];
  if (!gavel__buf_reserve(out, room))
    return; /* out->oom says so */
  w = out->p + out->len;
  if (!c->ts_ok || c->sec != (int64_t)r->ts.tv_sec) {
    gv_buf t;
    gavel__buf_init(&t, &gavel__default_alloc);
    put_ts_at(&t, &r->ts);
    if (t.oom || t.len != 32) { /* cannot happen: fixed width */
      gavel__buf_free(&t);
      out->oom = 1;
      return;
    }
    memcpy(c->ts, t.p, 32);
    gavel__buf_free(&t);
    c->sec = (int64_t)r->ts.tv_sec;
    c->ts_ok = 1;
  }
  ms = (unsigned)(r->ts.tv_nsec / 1000000L);
  c->ts[27] = (char)('0' + ms / 100);
  c->ts[28] = (char)('0' + ms / 10 % 10);
  c->ts[29] = (char)('0' + ms % 10);
  w = put_lit(w, c->ts, 32);
  w = LIT(w, ",\"event\":\"rule_executed\",\"trace_id\":");
  w = dec_u64(w, r->trace_id);
  if (c->rv_len && c->rv_raw[0] == r->len[0] && c->rv_raw[1] == r->len[1] &&
      !memcmp(c->rv_in, rs, r->len[0]) &&
      !memcmp(c->rv_in + r->len[0], ver, r->len[1]))
    w = put_lit(w, c->rv, c->rv_len); /* the same as the last line's */
  else {
    char *w0 = w;
    w = LIT(w, ",\"ruleset\":");
    w = esc_str(w, rs, r->len[0]);
    w = LIT(w, ",\"version\":");
    w = esc_str(w, ver, r->len[1]);
    c->rv_len = 0;
    if ((size_t)r->len[0] + r->len[1] <= sizeof c->rv_in &&
        (size_t)(w - w0) <= sizeof c->rv) {
      memcpy(c->rv_in, rs, r->len[0]);
      memcpy(c->rv_in + r->len[0], ver, r->len[1]);
      c->rv_raw[0] = r->len[0];
      c->rv_raw[1] = r->len[1];
      memcpy(c->rv, w0, (size_t)(w - w0));
      c->rv_len = (size_t)(w - w0);
    }
  }
  if (!c->stn_len || c->st != r->status) {
    gv_buf t;
    gavel__buf_init(&t, &gavel__default_alloc);
    put_status(&t, (gavel_status)r->status);
    if (t.oom || t.len > sizeof c->stn) {
      gavel__buf_free(&t);
      out->oom = 1;
      return;
    }
    memcpy(c->stn, t.p, t.len);
    c->stn_len = t.len;
    c->st = r->status;
    gavel__buf_free(&t);
  }
  w = put_lit(w, c->stn, c->stn_len);
  w = LIT(w, ",\"code\":");
  w = esc_str(w, code, r->len[2]);
  w = LIT(w, ",\"duration_us\":");
  w = dec_u64(w, r->duration_ns / 1000u);
  w = LIT(w, ",\"gas_used\":");
  w = dec_u64(w, r->gas_used);
  w = LIT(w, ",\"input_sha256\":");
  if (r->has_input && c->pre == in) { /* computed with the one before */
    memcpy(md, c->pre_md, 32);
    ml = 32;
  } else if (r->has_input && rec_input(next, end, &in2, &n2) &&
             gavel__sha256x2(in, r->len[4], md, in2, n2, c->pre_md)) {
    c->pre = in2;
    ml = 32;
  }
  if (!r->has_input || (!ml && !digest(in, r->len[4], md, &ml)))
    w = LIT(w, "null");
  else {
    *w++ = '"';
    w = hex_bytes(w, md, ml);
    *w++ = '"';
  }
  if (r->status != GAVEL_OK) {
    w = LIT(w, ",\"error\":");
    w = esc_str(w, msg, r->len[3]);
  }
  w = LIT(w, "}\n");
  out->len = (size_t)(w - out->p);
  out->p[out->len] = 0;
}

/* Records to lines (the flusher, or drain under a->mu with no flusher
** busy), until 'out' holds 'stop_at' bytes or more; *lines counts them.
** Returns the bytes of records consumed.  out NULL: only counts. */
static size_t render(gavel_audit *a, const char *p, size_t n, gv_buf *out,
                     uint32_t *lines, size_t stop_at) {
  const char *start = p, *end = p + n;
  rcache c;
  (void)a;
  memset(&c, 0, sizeof c);
  while (end - p >= REC_HDR && (!out || out->len < stop_at)) {
    uint32_t size;
    memcpy(&size, p, 4);
    if (size < REC_HDR || size > (size_t)(end - p))
      break; /* cannot happen: written above */
    if (!out)
      ;
    else if (p[4] == REC_LINE)
      gavel__buf_add(out, p + REC_HDR, size - REC_HDR);
    else if (p[4] == REC_RUN && size >= REC_HDR + sizeof(run_rec)) {
      run_rec r;
      memcpy(&r, p + REC_HDR, sizeof r);
      render_run(out, &r, p + REC_HDR + sizeof r, &c, p + size, end);
    }
    (*lines)++;
    p += size;
  }
  return (size_t)(p - start);
}

static void call_line(gv_buf *b, const gavel_event *ev) {
  put_ts(b);
  put_num(b, ",\"event\":\"host_call\",\"trace_id\":", ev->trace_id);
  put_str(b, ",\"ruleset\":", ev->ruleset);
  put_str(b, ",\"version\":", ev->version);
  put_str(b, ",\"capability\":", ev->capability);
  put_str(b, ",\"operation\":", ev->operation);
  put_num(b, ",\"attempt\":", ev->attempt);
  put_str(b, ",\"outcome\":", ev->outcome);
  put_num(b, ",\"duration_us\":", ev->duration_ns / 1000u);
  if (ev->status != GAVEL_OK)
    put_str(b, ",\"error\":", ev->message);
  gavel__buf_adds(b, "}\n");
}

static void on_event(void *ud, const gavel_event *ev) {
  gavel_audit *a = ud;
  gv_buf b;
  if (ev->kind == GAVEL_EVENT_HOSTCALL && a->o.no_hostcalls)
    return;
  if (ev->kind == GAVEL_EVENT_RUN && a->o.durability == GAVEL_AUDIT_GROUP_N) {
    /* copied as a record: rendered by the flusher */
    run_rec r;
    const char *seg[6];
    size_t sl[6];
    const char *str[4];
    int i;
    memset(&r, 0, sizeof r);
    event_time(a, &r.ts);
    r.trace_id = ev->trace_id;
    r.duration_ns = ev->duration_ns;
    r.gas_used = ev->gas_used;
    r.status = (int32_t)ev->status;
    r.has_input = ev->input != NULL;
    str[0] = ev->ruleset ? ev->ruleset : "";
    str[1] = ev->version ? ev->version : "";
    str[2] = ev->code ? ev->code : "";
    str[3] = ev->status != GAVEL_OK && ev->message ? ev->message : "";
    seg[0] = (const char *)&r;
    sl[0] = sizeof r;
    for (i = 0; i < 4; i++) {
      size_t l = strlen(str[i]);
      if (l > UINT32_MAX - 1) { /* cannot happen: engine strings are small */
        str[i] = "";
        l = 0;
      }
      r.len[i] = (uint32_t)l;
      seg[1 + i] = str[i];
      sl[1 + i] = (size_t)r.len[i] + 1;
    }
    r.len[4] = ev->input && ev->input_len < UINT32_MAX ? (uint32_t)ev->input_len : 0;
    if (ev->input && ev->input_len >= UINT32_MAX)
      r.has_input = 0;
    seg[5] = ev->input ? ev->input : "";
    sl[5] = r.len[4];
    group_add(a, REC_RUN, seg, sl, 6);
    return;
  }
  gavel__buf_init(&b, &gavel__default_alloc);
  if (ev->kind == GAVEL_EVENT_RUN)
    run_line(&b, ev);
  else if (ev->kind == GAVEL_EVENT_HOSTCALL)
    call_line(&b, ev);
  if (b.oom) {
    pthread_mutex_lock(&a->mu);
    lost(a, 1, ENOMEM);
    pthread_mutex_unlock(&a->mu);
  } else if (b.len)
    write_line(a, b.p, b.len);
  gavel__buf_free(&b);
}

gavel_status gavel_audit_attach(gavel_audit *a, gavel_runtime *rt,
                                gavel_error *err) {
  gavel__error_clear(err);
  if (!a || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_attach: NULL");
  return gavel_runtime_add_observer(rt, on_event, a, err);
}

/* ==== The audit.logger capability ==== */

static int audit_vfn(void *ud, gv_arena *ar, const gv_hostreq *req,
                     gvalue *payload, gvalue *metadata, char *msg,
                     size_t msz) {
  gavel_audit *a = ud;
  gv_buf b;
  int bad;
  (void)ar;
  if (!gavel__str_eqn(req->operation, "rule_executed", 13) &&
      !gavel__str_eqn(req->operation, "emit", 4)) {
    snprintf(msg, msz, "audit.logger: unknown operation '%s' (expected "
             "rule_executed or emit)", req->operation->s);
    return 1;
  }
  gavel__buf_init(&b, &gavel__default_alloc);
  put_ts(&b);
  put_str(&b, ",\"event\":", req->operation->s);
  put_str(&b, ",\"ruleset\":", req->ruleset);
  put_str(&b, ",\"path\":", req->path);
  gavel__buf_adds(&b, ",\"data\":");
  gavel__json_write(&b, req->params);
  gavel__buf_adds(&b, "}\n");
  bad = b.oom ? ENOMEM : write_line(a, b.p, b.len);
  gavel__buf_free(&b);
  if (bad) {
    snprintf(msg, msz, "audit.logger: cannot write '%s': %s",
             a->path ? a->path : "<stdout>", strerror(bad));
    return 1;
  }
  *payload = gv_null();
  *metadata = gv_null();
  return 0;
}

gavel_status gavel_audit_provide(gavel_audit *a, gavel_runtime *rt,
                                 gavel_error *err) {
  gavel__error_clear(err);
  if (!a || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_audit_provide: NULL");
  return gavel__host_provide_value(rt, "audit.logger", audit_vfn, a, err);
}
