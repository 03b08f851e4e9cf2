/*
** capture.c -- decision capture: one JSON line per sampled run, {ts,
** ruleset, version, hash, trace_id, input, status, code, message,
** duration_us, gas_used, receipts: [...], output}, for 'gavel replay'.
**
** Built on the runtime's observer alone: the RUN event (input, code,
** message, duration, result JSON) and the HOSTCALL events, which carry the
** call detail (params, payload, metadata; gavel_capture_attach turns it
** on) for every attempt that reached a provider, synchronous or answered
** later by the host through gavel_exec_resume_* (gavel serve's event-loop
** network.http).  Receipts collect per run, keyed by its trace id, in one
** table shared by all threads (a pending run may be resumed elsewhere, and
** one event loop interleaves many runs); the RUN event turns them into the
** record, written at once: the capture is a pure observer of the C API.  gavel_capture_commit remains for hosts that call it (it finds
** nothing pending).  Lines go through a gavel_audit writer, so a capture
** file has exactly the audit log's durability policies.  Rotation: by
** size (PATH -> PATH.1, PATH.2, ...) or daily (PATH -> PATH.YYYY-MM-DD).
*/
#include "gavel_providers.h"
#include "json.h"
#include "runtime.h"
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The receipts of a run in flight: ",{...}" per host call attempt. */
typedef struct cap_run {
  uint64_t trace; /* the run's trace id */
  gv_buf b;       /* its receipts       */
} cap_run;

/* Runs in flight with receipts at most; beyond, the oldest is dropped
** (a run abandoned while pending never sends its RUN event). */
#define CAP_MAX_INFLIGHT 4096
#define CAP_DROPPED_RING 256

struct gavel_capture {
  pthread_mutex_t mu;     /* guards rotation and the counters below   */
  gavel_audit *log;       /* the writer (durability policies)         */
  char *path;             /* file path (owned)                        */
  gavel_capture_opts o;   /* options (redact paths and salt copied)   */
  char **redact;          /* redact paths (owned)                     */
  char *salt;             /* redaction salt (owned)                   */
  uint64_t threshold;     /* sample: trace ids hashing below are kept */
  uint64_t bytes;         /* bytes in the current file                */
  long day;               /* UTC day of the current file              */
  uint64_t records;       /* records written                          */
  int first_errno;        /* first write failure                      */
  uint64_t lost;          /* records lost                             */
  pthread_mutex_t fmu;    /* guards the runs in flight below          */
  cap_run *fl;            /* runs in flight with receipts (owned)     */
  /* Runs whose receipts were dropped (over CAP_MAX_INFLIGHT runs in
  ** flight, out of memory): their records are lost, never written
  ** without them (replay would call them flips or new host calls). */
  uint64_t dropped_tr[CAP_DROPPED_RING];
  unsigned n_dropped_tr;  /* entries written (the ring wraps)            */
  int n_fl, cap_fl;       /* count, allocated                         */
  pthread_mutex_t hmu;    /* guards the hashes (set on reloads)        */
  struct { char *name; char hash[80]; } *hashes; /* ruleset -> hash   */
  int n_hashes;
};

/* Per thread: a record waiting for its output. */
typedef struct cap_tls {
  gavel_capture *c;      /* capture the state belongs to  */
  gv_buf pend;           /* record without its output     */
  int pending;           /* 1 when 'pend' holds a record  */
  int ok;                /* the pending run succeeded      */
} cap_tls;

static __thread cap_tls tls;

/* A thread's buffers are freed when it exits (batch workers). */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static void tls_free(void *p) {
  cap_tls *t = p;
  gavel__buf_free(&t->pend);
  memset(t, 0, sizeof *t);
}
static void tls_key_init(void) { pthread_key_create(&tls_key, tls_free); }

static void tls_bind(gavel_capture *c) {
  if (tls.c != c) {
    pthread_once(&tls_once, tls_key_init);
    pthread_setspecific(tls_key, &tls);
    gavel__buf_free(&tls.pend);
    memset(&tls, 0, sizeof tls);
    gavel__buf_init(&tls.pend, &gavel__default_alloc);
    tls.c = c;
  }
}

/* ==== Sampling, hashing, redaction ==== */

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* A run is captured when its trace id hashes below the threshold: no
** shared PRNG, no lock, and the same run is sampled the same way by every
** observer of it. */
static int sampled(const gavel_capture *c, uint64_t trace) {
  return c->threshold == UINT64_MAX || mix64(trace) < c->threshold;
}

static void hex_digest(const void *p, size_t n, const char *salt, char *out) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int ml = 0, i;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  out[0] = 0;
  if (!ctx)
    return;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
      (!salt || EVP_DigestUpdate(ctx, salt, strlen(salt))) &&
      EVP_DigestUpdate(ctx, p, n) && EVP_DigestFinal_ex(ctx, md, &ml)) {
    for (i = 0; i < ml; i++) {
      out[2 * i] = hex[md[i] >> 4];
      out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * ml] = 0;
  }
  EVP_MD_CTX_free(ctx);
}

/* Replaces the value at dotted path 'p' (arrays on the way: every
** element) by "sha256:<hex of salt + its JSON>". */
/* 0, or -1 when a value could not be replaced (out of memory): the
** caller then writes no input at all. */
static int redact_at(gavel_capture *c, gv_arena *a, gvalue *v, const char *p) {
  const char *dot = strchr(p, '.');
  size_t n = dot ? (size_t)(dot - p) : strlen(p);
  uint32_t i;
  if (v->tag == GV_ARR) {
    for (i = 0; i < v->u.a->len; i++)
      if (redact_at(c, a, &v->u.a->items[i], p))
        return -1;
    return 0;
  }
  if (v->tag != GV_OBJ)
    return 0;
  for (i = 0; i < v->u.o->len; i++) {
    gv_str *k = v->u.o->keys[i];
    if (k->len != n || memcmp(k->s, p, n))
      continue;
    if (dot) {
      if (redact_at(c, a, &v->u.o->vals[i], dot + 1))
        return -1;
    } else {
      gv_buf b;
      char h[7 + 2 * EVP_MAX_MD_SIZE + 1];
      gv_str *s;
      int bad;
      gavel__buf_init(&b, &gavel__default_alloc);
      gavel__json_write(&b, v->u.o->vals[i]);
      bad = b.oom;
      memcpy(h, "sha256:", 7);
      if (!bad)
        hex_digest(b.p ? b.p : "", b.len, c->salt, h + 7);
      gavel__buf_free(&b);
      if (bad || !(s = gavel__str_cstr(a, h)))
        return -1;
      v->u.o->vals[i] = gv_strv(s);
    }
  }
  return 0;
}

/* The input as one line of compact JSON, redacted; an input that is not
** JSON (the run failed on it) is written as a string.  With paths to
** redact, an input that cannot be redacted (not JSON, out of memory) is
** never written: null, then "input_redaction": "failed: <why>" (as
** resty.gavel's capture does; gavel replay reports it as malformed). */
static void put_input(gavel_capture *c, gv_buf *b, const char *in, size_t n,
                      gavel_status st) {
  gv_arena a;
  gvalue v;
  size_t i;
  if (!in) {
    gavel__buf_adds(b, "null");
    return;
  }
  /* The engine parsed it (any status but GAVEL_JSON): one line with
  ** nothing to redact is copied as it is, not parsed and written again. */
  if (st != GAVEL_JSON && !c->o.n_redact && !memchr(in, '\n', n) &&
      !memchr(in, '\r', n)) {
    gavel__buf_add(b, in, n);
    return;
  }
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  if (gavel__json_parse(&a, in, n, NULL, &v, NULL) != GAVEL_OK) {
    if (c->o.n_redact)
      gavel__buf_adds(b, "null,\"input_redaction\":\"failed: the input is "
                         "not JSON\"");
    else
      gavel__json_write_str(b, in, n);
  } else {
    for (i = 0; i < c->o.n_redact; i++)
      if (redact_at(c, &a, &v, c->redact[i]))
        break;
    if (i < c->o.n_redact)
      gavel__buf_adds(b, "null,\"input_redaction\":\"failed: out of "
                         "memory\"");
    else
      gavel__json_write(b, v);
  }
  gavel__arena_free(&a);
}

/* ==== Writing and rotation ==== */

static long utc_day(void) { return (long)(time(NULL) / 86400); }

static void rotated_name(gavel_capture *c, char *out, size_t n) {
  if (c->o.rotate_daily) {
    time_t t = (time_t)c->day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s.%04d-%02d-%02d", c->path, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
  } else {
    unsigned k;
    struct stat st;
    for (k = 1; k < 1000000; k++) {
      snprintf(out, n, "%s.%u", c->path, k);
      if (stat(out, &st) != 0)
        break;
    }
  }
}

/* Under c->mu: moves the current file aside when it is full or from
** another day, then reopens the path. */
static void maybe_rotate(gavel_capture *c, size_t next) {
  char to[4200];
  gavel_error e;
  long day;
  if (!c->path)
    return;
  day = c->o.rotate_daily ? utc_day() : 0;
  if (!(c->o.rotate_daily && day != c->day) &&
      !(c->o.rotate_bytes && c->bytes && c->bytes + next > c->o.rotate_bytes))
    return;
  gavel_audit_flush(c->log, &e);
  rotated_name(c, to, sizeof to);
  if (rename(c->path, to) != 0 && errno != ENOENT && !c->first_errno)
    c->first_errno = errno;
  gavel_audit_reopen(c->log, &e);
  c->bytes = 0;
  c->day = day;
}

static void write_record(gavel_capture *c, gv_buf *b) {
  gavel_error e;
  if (b->oom) {
    __atomic_add_fetch(&c->lost, 1, __ATOMIC_RELAXED);
    return;
  }
  pthread_mutex_lock(&c->mu);
  maybe_rotate(c, b->len + 1);
  if (gavel_audit_write(c->log, b->p, b->len, &e) != GAVEL_OK) {
    c->lost++;
    if (!c->first_errno)
      c->first_errno = e.code == GAVEL_NOMEM ? ENOMEM : EIO;
  } else {
    c->bytes += b->len + 1;
    c->records++;
  }
  pthread_mutex_unlock(&c->mu);
}

/* The end of the JSON string at p[i] == '"'. */
static size_t skip_str(const char *p, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (p[i] == '\\')
      i++;
    else if (p[i] == '"')
      return i + 1;
  }
  return n;
}

/* Finds the top-level member 'key' (quoted, klen bytes) of the compact
** JSON object the engine wrote as a result: its value's text. */
static int member(const char *p, size_t n, const char *key, size_t klen,
                  const char **v, size_t *vlen) {
  size_t i = 1;
  if (!n || p[0] != '{')
    return 0;
  while (i < n && p[i] == '"') {
    size_t k0 = i, v0;
    int depth = 0;
    i = skip_str(p, i, n) + 1; /* past ':' */
    v0 = i;
    while (i < n) {
      char ch = p[i];
      if (ch == '"')
        i = skip_str(p, i, n);
      else if (ch == '{' || ch == '[')
        depth++, i++;
      else if ((ch == '}' || ch == ']') && depth > 0)
        depth--, i++;
      else if ((ch == ',' || ch == '}') && depth == 0)
        break;
      else
        i++;
    }
    if (v0 - k0 == klen + 1 && !memcmp(p + k0, key, klen)) {
      *v = p + v0;
      *vlen = i - v0;
      return 1;
    }
    i++; /* past ',' */
  }
  return 0;
}

/* Writes this thread's pending record with 'output' (JSON text of the
** whole result, or NULL: no output). */
static void finish_pending(gavel_capture *c, const char *result, size_t n) {
  if (!tls.pending)
    return;
  tls.pending = 0;
  if (result) {
    /* engine-written compact JSON: members are copied, not reparsed */
    const char *v;
    size_t vn;
    if (tls.ok && member(result, n, "\"message\"", 9, &v, &vn)) {
      gavel__buf_adds(&tls.pend, ",\"message\":");
      gavel__buf_add(&tls.pend, v, vn);
      tls.ok = 0;
    }
    if (member(result, n, "\"output\"", 8, &v, &vn)) {
      gavel__buf_adds(&tls.pend, ",\"output\":");
      gavel__buf_add(&tls.pend, v, vn);
    }
  }
  if (tls.ok) /* never committed with a result: the message is unknown */
    gavel__buf_adds(&tls.pend, ",\"message\":\"\"");
  tls.ok = 0;
  gavel__buf_adds(&tls.pend, "}");
  write_record(c, &tls.pend);
  tls.pend.len = 0;
  tls.pend.oom = 0;
}

/* ==== Observer and recording providers ==== */

/* The hash last recorded for ruleset 'name' into 'out' ("" if none). */
static void hash_of(gavel_capture *c, const char *name, char out[80]) {
  int i;
  out[0] = 0;
  pthread_mutex_lock(&c->hmu);
  for (i = 0; i < c->n_hashes; i++)
    if (!strcmp(c->hashes[i].name, name)) {
      memcpy(out, c->hashes[i].hash, 80);
      break;
    }
  pthread_mutex_unlock(&c->hmu);
}

/* Under c->fmu: the entry of run 'trace', or -1. */
static int fl_find(gavel_capture *c, uint64_t trace) {
  int i;
  for (i = c->n_fl - 1; i >= 0; i--)
    if (c->fl[i].trace == trace)
      return i;
  return -1;
}

/* Under c->fmu: removes entry i, keeping the order (oldest first). */
static void fl_drop(gavel_capture *c, int i) {
  gavel__buf_free(&c->fl[i].b);
  memmove(&c->fl[i], &c->fl[i + 1], (size_t)(c->n_fl - i - 1) * sizeof *c->fl);
  c->n_fl--;
}

/* Under c->fmu: remembers that run 'trace' lost receipts. */
static void dropped_put(gavel_capture *c, uint64_t trace) {
  c->dropped_tr[c->n_dropped_tr++ % CAP_DROPPED_RING] = trace;
}

/* Under c->fmu: 1 when run 'trace' lost receipts ('take': and forgets
** it). */
static int dropped_find(gavel_capture *c, uint64_t trace, int take) {
  unsigned i, n = c->n_dropped_tr < CAP_DROPPED_RING ? c->n_dropped_tr
                                                      : CAP_DROPPED_RING;
  for (i = 0; i < n; i++)
    if (c->dropped_tr[i] == trace) {
      if (take)
        c->dropped_tr[i] = 0; /* trace ids start at 1 */
      return 1;
    }
  return 0;
}

/* A HOSTCALL event with call detail becomes a receipt of its run. */
static void on_call(gavel_capture *c, const gavel_event *ev) {
  gv_buf *b;
  int i;
  /* no params: a call never sent (no receipt to keep) */
  if (!ev->params || !sampled(c, ev->trace_id))
    return;
  pthread_mutex_lock(&c->fmu);
  if ((i = fl_find(c, ev->trace_id)) < 0) {
    if (dropped_find(c, ev->trace_id, 0)) { /* lost already: keep no more */
      pthread_mutex_unlock(&c->fmu);
      return;
    }
    if (c->n_fl == CAP_MAX_INFLIGHT) {
      dropped_put(c, c->fl[0].trace);
      fl_drop(c, 0);
    }
    if (c->n_fl == c->cap_fl) {
      int nc = c->cap_fl ? 2 * c->cap_fl : 8;
      cap_run *n = realloc(c->fl, (size_t)nc * sizeof *n);
      if (!n) {
        dropped_put(c, ev->trace_id);
        pthread_mutex_unlock(&c->fmu);
        return;
      }
      c->fl = n;
      c->cap_fl = nc;
    }
    i = c->n_fl++;
    c->fl[i].trace = ev->trace_id;
    gavel__buf_init(&c->fl[i].b, &gavel__default_alloc);
  }
  b = &c->fl[i].b;
  gavel__buf_adds(b, ",{\"capability\":");
  gavel__json_write_str(b, ev->capability, strlen(ev->capability));
  gavel__buf_adds(b, ",\"operation\":");
  gavel__json_write_str(b, ev->operation, strlen(ev->operation));
  gavel__buf_adds(b, ",\"params\":");
  gavel__buf_add(b, ev->params, ev->params_len);
  gavel__buf_addf(b, ",\"attempt\":%u,\"outcome\":", ev->attempt);
  gavel__json_write_str(b, ev->outcome, strlen(ev->outcome));
  if (ev->payload) {
    gavel__buf_adds(b, ",\"payload\":");
    gavel__buf_add(b, ev->payload, ev->payload_len);
    gavel__buf_adds(b, ",\"metadata\":");
    gavel__buf_add(b, ev->metadata, ev->metadata_len);
  } else {
    gavel__buf_adds(b, ",\"error\":");
    gavel__json_write_str(b, ev->message, strlen(ev->message));
  }
  gavel__buf_adds(b, "}");
  pthread_mutex_unlock(&c->fmu);
}

/* Appends the receipts of run 'trace' (without the leading comma) to 'b'
** and forgets them. */
static void take_receipts(gavel_capture *c, uint64_t trace, gv_buf *b) {
  int i;
  pthread_mutex_lock(&c->fmu);
  if ((i = fl_find(c, trace)) >= 0) {
    gv_buf *r = &c->fl[i].b;
    if (r->oom)
      b->oom = 1; /* a receipt is missing: the record is lost, not wrong */
    else if (r->len > 1)
      gavel__buf_add(b, r->p + 1, r->len - 1);
    fl_drop(c, i);
  }
  if (dropped_find(c, trace, 1))
    b->oom = 1; /* receipts dropped: the record is lost, not wrong */
  pthread_mutex_unlock(&c->fmu);
}

static void on_event(void *ud, const gavel_event *ev) {
  gavel_capture *c = ud;
  gv_buf *b;
  if (ev->kind == GAVEL_EVENT_HOSTCALL) {
    on_call(c, ev);
    return;
  }
  if (ev->kind != GAVEL_EVENT_RUN)
    return;
  tls_bind(c);
  finish_pending(c, NULL, 0); /* the host never committed the last one */
  if (!sampled(c, ev->trace_id))
    return;
  b = &tls.pend;
  b->len = 0;
  b->oom = 0;
  {
    /* {"ts":"..." from the audit writer's format */
    struct timespec ts;
    struct tm tm;
    char t[64];
    time_t s;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = ts.tv_sec;
    gmtime_r(&s, &tm);
    snprintf(t, sizeof t, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    gavel__buf_adds(b, t);
  }
  gavel__buf_adds(b, ",\"ruleset\":");
  gavel__json_write_str(b, ev->ruleset, strlen(ev->ruleset));
  gavel__buf_adds(b, ",\"version\":");
  gavel__json_write_str(b, ev->version, strlen(ev->version));
  gavel__buf_adds(b, ",\"hash\":");
  {
    char h[80];
    hash_of(c, ev->ruleset, h);
    gavel__json_write_str(b, h, strlen(h));
  }
  gavel__buf_addf(b, ",\"trace_id\":%llu,\"input\":",
                  (unsigned long long)ev->trace_id);
  put_input(c, b, ev->input, ev->input_len, ev->status);
  gavel__buf_adds(b, ",\"status\":");
  {
    const char *s = gavel_status_name(ev->status);
    gavel__json_write_str(b, s, strlen(s));
  }
  gavel__buf_adds(b, ",\"code\":");
  gavel__json_write_str(b, ev->code, strlen(ev->code));
  /* a successful run's message is its result's: written at commit */
  tls.ok = ev->status == GAVEL_OK;
  if (!tls.ok) {
    gavel__buf_adds(b, ",\"message\":");
    gavel__json_write_str(b, ev->message, strlen(ev->message));
  }
  gavel__buf_addf(b, ",\"duration_us\":%llu,\"gas_used\":%llu,\"receipts\":[",
                  (unsigned long long)(ev->duration_ns / 1000),
                  (unsigned long long)ev->gas_used);
  if (ev->trace_id)
    take_receipts(c, ev->trace_id, b);
  gavel__buf_adds(b, "]");
  tls.pending = 1;
  /* The event carries the result: the record is complete now, a pure
  ** observer (gavel_capture_commit then finds nothing pending).  A failed
  ** run has no output. */
  if (ev->result || ev->status != GAVEL_OK)
    finish_pending(c, ev->result, ev->result_len);
}

/* ==== API ==== */

gavel_status gavel_capture_open(const char *path, const gavel_capture_opts *o,
                                gavel_capture **out, gavel_error *err) {
  gavel_capture *c;
  gavel_status st;
  size_t i;
  gavel__error_clear(err);
  *out = NULL;
  if (!path || !*path)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_capture_open: no path");
  if (o && !(o->sample >= 0 && o->sample <= 1))
    return gavel__errorf(err, GAVEL_MISUSE,
                         "capture: sample rate %g is not between 0 and 1",
                         o->sample);
  if (!(c = calloc(1, sizeof *c)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->fmu, NULL);
  pthread_mutex_init(&c->hmu, NULL);
  if (o)
    c->o = *o;
  if (!o || c->o.sample == 0)
    c->o.sample = 1; /* 0 = the default: every run */
  c->threshold = c->o.sample >= 1 ? UINT64_MAX
                                  : (uint64_t)(c->o.sample * 18446744073709551615.0);
  c->day = utc_day();
  if (strcmp(path, "-") && !(c->path = strdup(path)))
    goto nomem;
  if (c->o.n_redact &&
      !(c->redact = calloc(c->o.n_redact, sizeof *c->redact)))
    goto nomem;
  for (i = 0; i < c->o.n_redact; i++)
    if (!(c->redact[i] = strdup(c->o.redact[i])))
      goto nomem;
  c->o.redact = NULL;
  if (c->o.salt) {
    if (!(c->salt = strdup(c->o.salt)))
      goto nomem;
  } else {
    /* no salt given: a random one, so hashes of small domains (birth
    ** dates, card numbers) cannot be reversed by a dictionary */
    unsigned char r[16];
    char hex[33];
    for (i = 0; i < 16; i++)
      r[i] = 0;
    RAND_bytes(r, sizeof r);
    for (i = 0; i < 16; i++)
      snprintf(hex + 2 * i, 3, "%02x", r[i]);
    if (!(c->salt = strdup(hex)))
      goto nomem;
  }
  c->o.salt = NULL;
  if ((st = gavel_audit_open(path, &c->o.durability_opts, &c->log, err)) !=
      GAVEL_OK) {
    gavel_capture_close(c, NULL);
    return st;
  }
  if (c->path) {
    struct stat sb;
    if (stat(c->path, &sb) == 0)
      c->bytes = (uint64_t)sb.st_size;
  }
  *out = c;
  return GAVEL_OK;
nomem:
  gavel_capture_close(c, NULL);
  return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
}

void gavel_capture_hash(const char *text, size_t len, char out[80]) {
  memcpy(out, "sha256:", 7);
  hex_digest(text, len, NULL, out + 7);
}

gavel_status gavel_capture_ruleset(gavel_capture *c, const char *name,
                                   const char *text, size_t len,
                                   gavel_error *err) {
  void *n;
  char h[80];
  int i;
  gavel__error_clear(err);
  if (!c || !name)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_capture_ruleset: NULL");
  gavel_capture_hash(text, len, h);
  pthread_mutex_lock(&c->hmu);
  /* a reloaded ruleset: its new document's hash from now on (records
  ** of the new version carried the first version's) */
  for (i = 0; i < c->n_hashes; i++)
    if (!strcmp(c->hashes[i].name, name)) {
      memcpy(c->hashes[i].hash, h, sizeof h);
      pthread_mutex_unlock(&c->hmu);
      return GAVEL_OK;
    }
  if (!(n = realloc(c->hashes, (size_t)(c->n_hashes + 1) * sizeof *c->hashes)) ||
      !(((__typeof__(c->hashes))n)[c->n_hashes].name = strdup(name))) {
    if (n)
      c->hashes = n;
    pthread_mutex_unlock(&c->hmu);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  c->hashes = n;
  memcpy(c->hashes[c->n_hashes].hash, h, sizeof h);
  c->n_hashes++;
  pthread_mutex_unlock(&c->hmu);
  return GAVEL_OK;
}

gavel_status gavel_capture_attach(gavel_capture *c, gavel_runtime *rt,
                                  gavel_error *err) {
  gavel__error_clear(err);
  if (!c || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_capture_attach: NULL");
  /* The receipts come from the HOSTCALL events, synchronous providers and
  ** calls the host answers through gavel_exec_resume_* alike. */
  rt->call_detail = 1;
  return gavel_runtime_add_observer(rt, on_event, c, err);
}

gavel_status gavel_capture_commit(gavel_capture *c, const char *result,
                                  size_t len) {
  if (!c)
    return GAVEL_MISUSE;
  tls_bind(c);
  finish_pending(c, result, len);
  return GAVEL_OK;
}

uint64_t gavel_capture_records(gavel_capture *c) {
  uint64_t n;
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  n = c->records;
  pthread_mutex_unlock(&c->mu);
  return n;
}

gavel_status gavel_capture_close(gavel_capture *c, gavel_error *err) {
  gavel_status st = GAVEL_OK;
  int i;
  gavel__error_clear(err);
  if (!c)
    return GAVEL_OK;
  if (tls.c == c) {
    finish_pending(c, NULL, 0);
    gavel__buf_free(&tls.pend);
    memset(&tls, 0, sizeof tls);
  }
  if (c->log)
    st = gavel_audit_close(c->log, err);
  if (st == GAVEL_OK && (c->lost || c->first_errno))
    st = gavel__errorf(err, GAVEL_IO, "capture: %llu records lost writing "
                       "'%s': %s", (unsigned long long)c->lost,
                       c->path ? c->path : "<stdout>",
                       strerror(c->first_errno ? c->first_errno : EIO));
  for (i = 0; i < c->n_fl; i++)
    gavel__buf_free(&c->fl[i].b);
  free(c->fl);
  pthread_mutex_destroy(&c->fmu);
  pthread_mutex_destroy(&c->hmu);
  for (i = 0; i < c->n_hashes; i++)
    free(c->hashes[i].name);
  free(c->hashes);
  for (i = 0; c->redact && (size_t)i < c->o.n_redact; i++)
    free(c->redact[i]);
  free(c->redact);
  free(c->salt);
  free(c->path);
  pthread_mutex_destroy(&c->mu);
  free(c);
  return st;
}
