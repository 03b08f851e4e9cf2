/*
** metrics.c -- the metrics.prometheus capability: counters, gauges and
** histograms with labels, the engine's own metrics (an observer), and the
** Prometheus text exposition (format 0.0.4).
**
** One registry per gavel_metrics, guarded by one mutex (an update is a
** hash lookup and an add: a few hundred nanoseconds under the lock).
** A series is keyed by its rendered label text (label names sorted), so
** tags given in any order land in the same series.  Names are made valid
** for Prometheus instead of failing a run: '.' and other characters
** become '_'.  This file does no I/O except gavel_metrics_write_file.
*/
#include "gavel_providers.h"
#include "json.h"
#include "runtime.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LABELS 32 /* labels of one series */

/* A thread's share of a counter or histogram series: what the engine's
** run observer adds on that thread, without the registry's lock (one
** writer, the owner; relaxed atomics so that a reader under the lock sees
** whole values).  Readers add the shares to the series' own values.
** Shares live as long as their series. */
typedef struct mshare {
  const void *owner;     /* the owning thread's token (share_owner())   */
  double value;          /* counter: added                              */
  double sum;            /* histogram: sum of observations              */
  uint64_t count;        /* histogram: observations                     */
  uint64_t *bucket;      /* histogram: count per bucket (not cumulative)*/
  struct mshare *next;   /* the series' other shares                    */
} mshare;

typedef struct mseries {
  char *labels;          /* 'a="x",b="y"' (sorted), "" for none (owned) */
  uint32_t hash;         /* FNV-1a of 'labels'                          */
  double value;          /* counter / gauge value                       */
  double sum;            /* histogram: sum of observations              */
  uint64_t count;        /* histogram: observations                     */
  uint64_t *bucket;      /* histogram: count per bucket (not cumulative)*/
  mshare *shares;        /* per-thread shares (counters, histograms)    */
  struct mseries *next;  /* hash chain                                  */
} mseries;

typedef struct mfamily {
  char *name;            /* metric name (owned)                         */
  char *help;            /* HELP text (owned)                           */
  gavel_metric_kind kind; /* counter, gauge or histogram                */
  double *bounds;        /* histogram upper bounds (owned), ascending   */
  size_t n_bounds;       /* entries                                     */
  mseries **tab;         /* hash table of series                        */
  size_t tab_size;       /* buckets in 'tab' (power of two)             */
  size_t n_series;       /* series                                      */
  struct mfamily *next;  /* list of all families                        */
} mfamily;

struct gavel_metrics {
  pthread_mutex_t mu;    /* guards everything below                     */
  mfamily *fams;         /* all families                                */
  size_t n_fams;         /* count                                       */
  double *buckets;       /* default histogram bounds (owned)            */
  size_t n_buckets;      /* entries                                     */
  size_t max_series;     /* per family                                  */
  mfamily *f_runs;       /* engine families (after attach)              */
  mfamily *f_errors;     /* ...                                         */
  mfamily *f_dur;        /* ...                                         */
  mfamily *f_gas;        /* ...                                         */
  mfamily *f_calls;      /* ...                                         */
  mfamily *f_call_dur;   /* ...                                         */
  uint64_t id;           /* unique per registry (run-series cache key)  */
};

static uint64_t next_metrics_id; /* atomic */

static const double prom_default_buckets[] = {
    .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
/* Runs take microseconds; host calls milliseconds to seconds. */
static const double run_buckets[] = {1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                     5e-4,   1e-3,   2.5e-3, 5e-3, 1e-2,
                                     2.5e-2, 0.1,    1};
static const double call_buckets[] = {.001, .005, .01, .025, .05, .1,
                                      .25,  .5,   1,   2.5,  5,   10};

/* ==== Names, labels and numbers ==== */

static uint32_t fnv(const char *s) {
  uint32_t h = 2166136261u;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

/* Valid metric (colon 1) or label (colon 0) name from 's' into 'b'. */
static void put_name(gv_buf *b, const char *s, int colon) {
  size_t i;
  if (!isalpha((unsigned char)s[0]) && s[0] != '_' && !(colon && s[0] == ':'))
    gavel__buf_addc(b, '_');
  for (i = 0; s[i]; i++) {
    unsigned char ch = (unsigned char)s[i];
    gavel__buf_addc(b, (isalnum(ch) || ch == '_' || (colon && ch == ':'))
                           ? (char)ch : '_');
  }
}

static void put_escaped(gv_buf *b, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\')
      gavel__buf_adds(b, "\\\\");
    else if (*s == '\n')
      gavel__buf_adds(b, "\\n");
    else if (*s == '"' && quote)
      gavel__buf_adds(b, "\\\"");
    else
      gavel__buf_addc(b, *s);
  }
}

/* A number as Prometheus reads it: integers without a fraction, else the
** shortest round-trip form; +Inf, -Inf, NaN.  Locale-independent. */
static void put_value(gv_buf *b, double v) {
  char num[40];
  if (isnan(v))
    gavel__buf_adds(b, "NaN");
  else if (isinf(v))
    gavel__buf_adds(b, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 1e15)
    gavel__buf_addf(b, "%lld", (long long)v);
  else
    gavel__buf_add(b, num, gavel__fmt_double_json(num, v));
}

typedef struct lpair {
  const char *name; /* valid label name            */
  char *own;        /* 'name' when made here (malloc) */
  const char *val;  /* value (borrowed)            */
  size_t idx;       /* position given (ties)       */
} lpair;

static int lpair_cmp(const void *a, const void *b) {
  const lpair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->idx < y->idx ? -1 : 1);
}

static int valid_label(const char *s, int histogram) {
  size_t i;
  if (!isalpha((unsigned char)s[0]) && s[0] != '_')
    return 0;
  if ((s[0] == '_' && s[1] == '_') || (histogram && !strcmp(s, "le")))
    return 0;
  for (i = 1; s[i]; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_')
      return 0;
  return 1;
}

/* 'a="x",b="y"': names made valid, sorted, duplicates dropped (the first
** one given wins), "le" renamed on histograms.  0, or 1 on OOM. */
static int render_labels(gv_buf *out, const char *const *kv, size_t n,
                         int histogram) {
  lpair p[MAX_LABELS];
  size_t i, k = 0;
  int rc = 0;
  for (i = 0; i < n && i < MAX_LABELS; i++) {
    p[k].own = NULL;
    p[k].name = kv[2 * i];
    if (!valid_label(kv[2 * i], histogram)) { /* the common case: no copy */
      gv_buf nb;
      gavel__buf_init(&nb, &gavel__default_alloc);
      if ((kv[2 * i][0] == '_' && kv[2 * i][1] == '_') ||
          (histogram && !strcmp(kv[2 * i], "le")))
        gavel__buf_adds(&nb, "tag_"); /* reserved names */
      put_name(&nb, kv[2 * i], 0);
      if (nb.oom) {
        gavel__buf_free(&nb);
        rc = 1;
        break;
      }
      p[k].name = p[k].own = nb.p;
    }
    p[k].idx = i;
    p[k++].val = kv[2 * i + 1] ? kv[2 * i + 1] : "";
  }
  if (k > 1) /* a name given twice: the first one given wins */
    qsort(p, k, sizeof *p, lpair_cmp);
  for (i = 0; i < k; i++) {
    if (!rc && (i == 0 || strcmp(p[i].name, p[i - 1].name))) {
      if (out->len)
        gavel__buf_addc(out, ',');
      gavel__buf_adds(out, p[i].name);
      gavel__buf_adds(out, "=\"");
      put_escaped(out, p[i].val, 1);
      gavel__buf_addc(out, '"');
    }
  }
  for (i = 0; i < k; i++)
    free(p[i].own);
  return rc || out->oom;
}

/* ==== Families and series ==== */

static const char *kind_name(gavel_metric_kind k) {
  return k == GAVEL_METRIC_COUNTER ? "counter"
         : k == GAVEL_METRIC_GAUGE ? "gauge" : "histogram";
}

static mfamily *family_find(gavel_metrics *m, const char *name) {
  mfamily *f;
  for (f = m->fams; f; f = f->next)
    if (!strcmp(f->name, name))
      return f;
  return NULL;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static void family_free(mfamily *f) {
  size_t i;
  for (i = 0; i < f->tab_size; i++) {
    mseries *s = f->tab[i], *next;
    for (; s; s = next) {
      mshare *h, *hn;
      next = s->next;
      for (h = s->shares; h; h = hn) {
        hn = h->next;
        free(h->bucket);
        free(h);
      }
      free(s->labels);
      free(s->bucket);
      free(s);
    }
  }
  free(f->tab);
  free(f->bounds);
  free(f->name);
  free(f->help);
  free(f);
}

/* The family 'name' of 'kind', created when new (name already valid).
** NULL with 'err' set on a kind clash or OOM.  Called under m->mu. */
static mfamily *family_get(gavel_metrics *m, gavel_metric_kind kind,
                           const char *name, const char *help,
                           const double *bounds, size_t nb, gavel_error *err) {
  mfamily *f = family_find(m, name);
  if (f) {
    if (f->kind != kind)
      gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: metric '%s' is "
                    "a %s, not a %s", name, kind_name(f->kind),
                    kind_name(kind));
    return f->kind == kind ? f : NULL;
  }
  if (!(f = calloc(1, sizeof *f)) || !(f->name = xstrdup(name)) ||
      !(f->help = xstrdup(help ? help : "Rule metric")) ||
      !(f->tab = calloc(16, sizeof *f->tab)) ||
      (kind == GAVEL_METRIC_HISTOGRAM &&
       !(f->bounds = malloc(nb * sizeof(double))))) {
    if (f)
      family_free(f);
    gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    return NULL;
  }
  f->kind = kind;
  f->tab_size = 16;
  if (kind == GAVEL_METRIC_HISTOGRAM) {
    memcpy(f->bounds, bounds, nb * sizeof(double));
    f->n_bounds = nb;
  }
  f->next = m->fams;
  m->fams = f;
  m->n_fams++;
  return f;
}

static void rehash(mfamily *f) {
  size_t ns = f->tab_size * 2, i;
  mseries **nt = calloc(ns, sizeof *nt);
  if (!nt)
    return; /* keep the longer chains */
  for (i = 0; i < f->tab_size; i++) {
    mseries *s = f->tab[i], *next;
    for (; s; s = next) {
      next = s->next;
      s->next = nt[s->hash & (ns - 1)];
      nt[s->hash & (ns - 1)] = s;
    }
  }
  free(f->tab);
  f->tab = nt;
  f->tab_size = ns;
}

static mseries *series_get(gavel_metrics *m, mfamily *f, const char *labels,
                           gavel_error *err) {
  uint32_t h = fnv(labels);
  mseries *s;
  for (s = f->tab[h & (f->tab_size - 1)]; s; s = s->next)
    if (s->hash == h && !strcmp(s->labels, labels))
      return s;
  if (f->n_series >= m->max_series) {
    gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: metric '%s' has "
                  "reached its limit of %zu label sets", f->name,
                  m->max_series);
    return NULL;
  }
  if (!(s = calloc(1, sizeof *s)) || !(s->labels = xstrdup(labels)) ||
      (f->n_bounds && !(s->bucket = calloc(f->n_bounds, sizeof(uint64_t))))) {
    if (s)
      free(s->labels);
    free(s);
    gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    return NULL;
  }
  s->hash = h;
  s->next = f->tab[h & (f->tab_size - 1)];
  f->tab[h & (f->tab_size - 1)] = s;
  if (++f->n_series > f->tab_size)
    rehash(f);
  return s;
}

/* The bucket of observation v in histogram f: the first bound >= v, or
** f->n_bounds (+Inf only: counted by 'count'). */
static size_t bucket_of(const mfamily *f, double v) {
  size_t i;
  for (i = 0; i < f->n_bounds && v > f->bounds[i]; i++)
    ;
  return i;
}

static void series_apply(mfamily *f, mseries *s, double v) {
  size_t i;
  if (f->kind == GAVEL_METRIC_COUNTER)
    s->value += v;
  else if (f->kind == GAVEL_METRIC_GAUGE)
    s->value = v;
  else {
    if ((i = bucket_of(f, v)) < f->n_bounds)
      s->bucket[i]++;
    s->sum += v;
    s->count++;
  }
}

/* The calling thread's token: the address of a thread-local object,
** distinct among live threads (a later thread may get a finished one's
** token, and with it that thread's shares: both never write at once). */
static const void *share_owner(void) {
  static __thread char token;
  return &token;
}

/* The calling thread's share of 's', created when new.  Under m->mu. */
static mshare *share_get(mfamily *f, mseries *s) {
  const void *me = share_owner();
  mshare *h;
  for (h = s->shares; h; h = h->next)
    if (h->owner == me)
      return h;
  if (!(h = calloc(1, sizeof *h)) ||
      (f->n_bounds && !(h->bucket = calloc(f->n_bounds, sizeof(uint64_t))))) {
    free(h);
    return NULL;
  }
  h->owner = me;
  h->next = s->shares;
  __atomic_store_n(&s->shares, h, __ATOMIC_RELEASE);
  return h;
}

static void add_d(double *p, double v) { /* the owner's add */
  double x;
  __atomic_load(p, &x, __ATOMIC_RELAXED);
  x += v;
  __atomic_store(p, &x, __ATOMIC_RELAXED);
}

static void add_u(uint64_t *p, uint64_t v) { /* the owner's add */
  __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
                   __ATOMIC_RELAXED);
}

/* series_apply on the calling thread's share (counters, histograms). */
static void share_apply(const mfamily *f, mshare *h, double v) {
  size_t i;
  if (f->kind != GAVEL_METRIC_HISTOGRAM) {
    add_d(&h->value, v);
    return;
  }
  if ((i = bucket_of(f, v)) < f->n_bounds)
    add_u(&h->bucket[i], 1);
  add_d(&h->sum, v);
  add_u(&h->count, 1);
}

/* A series' totals, its shares included.  Under m->mu; 'bucket' has
** f->n_bounds entries (NULL for counters and gauges). */
static void series_total(const mfamily *f, const mseries *s, double *value,
                         double *sum, uint64_t *count, uint64_t *bucket) {
  const mshare *h;
  size_t i;
  *value = s->value;
  *sum = s->sum;
  *count = s->count;
  for (i = 0; bucket && i < f->n_bounds; i++)
    bucket[i] = s->bucket[i];
  for (h = s->shares; h; h = h->next) {
    double x;
    __atomic_load(&h->value, &x, __ATOMIC_RELAXED);
    *value += x;
    __atomic_load(&h->sum, &x, __ATOMIC_RELAXED);
    *sum += x;
    *count += __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    for (i = 0; bucket && i < f->n_bounds; i++)
      bucket[i] += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
  }
}

/* ==== Public: registry ==== */

gavel_status gavel_metrics_new(const gavel_metrics_opts *opts,
                               gavel_metrics **out, gavel_error *err) {
  gavel_metrics *m;
  const double *b = prom_default_buckets;
  size_t nb = sizeof prom_default_buckets / sizeof(double), i;
  gavel__error_clear(err);
  if (!out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_new: NULL out");
  if (opts && opts->buckets && opts->n_buckets) {
    b = opts->buckets;
    nb = opts->n_buckets;
    for (i = 0; i < nb; i++)
      if (!isfinite(b[i]) || (i && b[i] <= b[i - 1]))
        return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_new: bucket "
                             "bounds must be finite and ascending");
  }
  if (!(m = calloc(1, sizeof *m)) || !(m->buckets = malloc(nb * sizeof *b))) {
    free(m);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  memcpy(m->buckets, b, nb * sizeof *b);
  m->n_buckets = nb;
  m->max_series = opts && opts->max_series ? opts->max_series : 10000;
  m->id = __atomic_add_fetch(&next_metrics_id, 1, __ATOMIC_RELAXED);
  pthread_mutex_init(&m->mu, NULL);
  *out = m;
  return GAVEL_OK;
}

void gavel_metrics_free(gavel_metrics *m) {
  mfamily *f, *next;
  if (!m)
    return;
  for (f = m->fams; f; f = next) {
    next = f->next;
    family_free(f);
  }
  pthread_mutex_destroy(&m->mu);
  free(m->buckets);
  free(m);
}

static gavel_status check_value(gavel_metric_kind kind, double v,
                                const char *name, gavel_error *err) {
  if (kind == GAVEL_METRIC_COUNTER && !(v >= 0))
    return gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: counter "
                         "'%s' can only increase (got %g)", name, v);
  if (kind == GAVEL_METRIC_HISTOGRAM && isnan(v))
    return gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: histogram "
                         "'%s' cannot observe NaN", name);
  if (kind < GAVEL_METRIC_COUNTER || kind > GAVEL_METRIC_HISTOGRAM)
    return gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: unknown "
                         "metric kind %d", (int)kind);
  return GAVEL_OK;
}

gavel_status gavel_metrics_update(gavel_metrics *m, gavel_metric_kind kind,
                                  const char *name, const char *help,
                                  const char *const *labels, size_t n_labels,
                                  double value, gavel_error *err) {
  gv_buf nb, lb;
  gavel_status st = GAVEL_OK;
  gavel_error le;
  mfamily *f;
  mseries *s;
  gavel__error_clear(err);
  if (!m || !name || !*name || (n_labels && !labels))
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_update: NULL or "
                         "empty argument");
  if (n_labels > MAX_LABELS)
    return gavel__errorf(err, GAVEL_MISUSE, "metrics.prometheus: more than "
                         "%d labels", MAX_LABELS);
  if ((st = check_value(kind, value, name, err)) != GAVEL_OK)
    return st;
  gavel__buf_init(&nb, &gavel__default_alloc);
  gavel__buf_init(&lb, &gavel__default_alloc);
  put_name(&nb, name, 1);
  gavel__buf_addc(&lb, 0); /* "" when there are no labels */
  lb.len = 0;
  if (nb.oom || render_labels(&lb, labels, n_labels,
                              kind == GAVEL_METRIC_HISTOGRAM)) {
    st = gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    goto done;
  }
  pthread_mutex_lock(&m->mu);
  if (!(f = family_get(m, kind, nb.p, help, m->buckets, m->n_buckets, &le)) ||
      !(s = series_get(m, f, lb.p, &le)))
    st = le.code;
  else
    series_apply(f, s, value);
  pthread_mutex_unlock(&m->mu);
  if (st != GAVEL_OK && err)
    *err = le;
done:
  gavel__buf_free(&nb);
  gavel__buf_free(&lb);
  return st;
}

/* ==== Exposition ==== */

static int fam_cmp(const void *a, const void *b) {
  return strcmp((*(mfamily *const *)a)->name, (*(mfamily *const *)b)->name);
}

static int ser_cmp(const void *a, const void *b) {
  return strcmp((*(mseries *const *)a)->labels,
                (*(mseries *const *)b)->labels);
}

static void put_sample(gv_buf *b, const char *name, const char *suffix,
                       const char *labels, const char *le, double v) {
  gavel__buf_adds(b, name);
  gavel__buf_adds(b, suffix);
  if (*labels || le) {
    gavel__buf_addc(b, '{');
    gavel__buf_adds(b, labels);
    if (le) {
      gavel__buf_adds(b, *labels ? ",le=\"" : "le=\"");
      gavel__buf_adds(b, le);
      gavel__buf_addc(b, '"');
    }
    gavel__buf_addc(b, '}');
  }
  gavel__buf_addc(b, ' ');
  put_value(b, v);
  gavel__buf_addc(b, '\n');
}

static int put_histogram(gv_buf *b, const mfamily *f, const mseries *s) {
  uint64_t cum = 0, count, *bk = malloc((f->n_bounds ? f->n_bounds : 1) *
                                        sizeof(uint64_t));
  double value, sum;
  size_t i;
  if (!bk)
    return 1;
  series_total(f, s, &value, &sum, &count, bk);
  for (i = 0; i < f->n_bounds; i++) {
    gv_buf le;
    cum += bk[i];
    gavel__buf_init(&le, &gavel__default_alloc);
    put_value(&le, f->bounds[i]);
    if (le.oom || !le.p) { /* out of memory: the exposition fails, never
                           ** a bucket le="?" */
      gavel__buf_free(&le);
      free(bk);
      return 1;
    }
    put_sample(b, f->name, "_bucket", s->labels, le.p, (double)cum);
    gavel__buf_free(&le);
  }
  put_sample(b, f->name, "_bucket", s->labels, "+Inf", (double)count);
  put_sample(b, f->name, "_sum", s->labels, NULL, sum);
  put_sample(b, f->name, "_count", s->labels, NULL, (double)count);
  free(bk);
  return 0;
}

static int put_family(gv_buf *b, const mfamily *f) {
  mseries **v = f->n_series ? malloc(f->n_series * sizeof *v) : NULL;
  size_t i, k = 0;
  mseries *s;
  if (f->n_series && !v)
    return 1;
  for (i = 0; i < f->tab_size; i++)
    for (s = f->tab[i]; s; s = s->next)
      v[k++] = s;
  if (k)
    qsort(v, k, sizeof *v, ser_cmp);
  gavel__buf_addf(b, "# HELP %s ", f->name);
  put_escaped(b, f->help, 0);
  gavel__buf_addf(b, "\n# TYPE %s %s\n", f->name, kind_name(f->kind));
  for (i = 0; i < k; i++) {
    double value, sum;
    uint64_t count;
    if (f->kind == GAVEL_METRIC_HISTOGRAM) {
      if (put_histogram(b, f, v[i])) {
        free(v);
        return 1;
      }
      continue;
    }
    series_total(f, v[i], &value, &sum, &count, NULL);
    put_sample(b, f->name, "", v[i]->labels, NULL, value);
  }
  free(v);
  return 0;
}

gavel_status gavel_metrics_expose(gavel_metrics *m, char **text, size_t *len,
                                  gavel_error *err) {
  gv_buf b;
  mfamily **fv, *f;
  size_t i = 0, n;
  int bad = 0;
  gavel__error_clear(err);
  if (!m || !text)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_expose: NULL "
                         "argument");
  gavel__buf_init(&b, &gavel__default_alloc);
  pthread_mutex_lock(&m->mu);
  n = m->n_fams;
  if ((fv = malloc((n ? n : 1) * sizeof *fv))) {
    for (f = m->fams; f; f = f->next)
      fv[i++] = f;
    if (n)
      qsort(fv, n, sizeof *fv, fam_cmp);
    for (i = 0; i < n && !bad; i++)
      bad = put_family(&b, fv[i]);
  }
  pthread_mutex_unlock(&m->mu);
  free(fv);
  if (!fv || bad || !gavel__buf_reserve(&b, 1) || b.oom) {
    gavel__buf_free(&b);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  b.p[b.len] = 0; /* as promised: NUL-terminated (reserved above; it was
                  ** not written, so an empty exposition was garbage) */
  *text = b.p; /* gavel__default_alloc is libc: gavel_providers_free */
  if (len)
    *len = b.len;
  return GAVEL_OK;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return 1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

gavel_status gavel_metrics_write_file(gavel_metrics *m, const char *path,
                                      gavel_error *err) {
  char *text, tmp[4096], real[PATH_MAX];
  size_t len;
  gavel_status st;
  struct stat sb;
  int fd, bad;
  if (!path)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_write_file: NULL "
                         "path");
  if ((st = gavel_metrics_expose(m, &text, &len, err)) != GAVEL_OK)
    return st;
  if (!strcmp(path, "-")) {
    bad = write_all(1, text, len);
    free(text);
    return bad ? gavel__errorf(err, GAVEL_IO, "cannot write metrics to "
                               "stdout: %s", strerror(errno)) : GAVEL_OK;
  }
  /* A symlink stays one: its target is replaced.  A path that is not a
  ** regular file (/dev/stdout, a FIFO) is written, not replaced by one. */
  if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
    if (realpath(path, real))
      path = real;
    else { /* a link to a file not there yet: the file it names */
      char to[PATH_MAX];
      ssize_t k = readlink(path, to, sizeof to - 1);
      const char *slash = strrchr(path, '/');
      int w = -1;
      if (k > 0) {
        to[k] = 0;
        if (to[0] == '/' || !slash)
          w = snprintf(real, sizeof real, "%s", to);
        else
          w = snprintf(real, sizeof real, "%.*s/%s", (int)(slash - path),
                       path, to);
      }
      if (w > 0 && (size_t)w < sizeof real)
        path = real;
    }
  }
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    fd = open(path, O_WRONLY | O_CLOEXEC);
    bad = fd < 0 || write_all(fd, text, len);
    if (fd >= 0 && close(fd) != 0)
      bad = 1;
    free(text);
    return bad ? gavel__errorf(err, GAVEL_IO, "cannot write metrics to '%s': "
                               "%s", path, strerror(errno)) : GAVEL_OK;
  }
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path,
                       (long)getpid()) >= sizeof tmp) {
    free(text);
    return gavel__errorf(err, GAVEL_IO, "cannot write metrics file: path "
                         "longer than %zu bytes", sizeof tmp - 24);
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bad = fd < 0 || write_all(fd, text, len);
  if (fd >= 0 && close(fd) != 0)
    bad = 1;
  free(text);
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return gavel__errorf(err, GAVEL_IO, "cannot write metrics file '%s': %s",
                         path, strerror(e));
  }
  return GAVEL_OK;
}

/* ==== The metrics.prometheus capability ==== */

static int op_kind(const gv_str *op, gavel_metric_kind *k) {
  if (!strcasecmp(op->s, "counter"))
    *k = GAVEL_METRIC_COUNTER;
  else if (!strcasecmp(op->s, "gauge"))
    *k = GAVEL_METRIC_GAUGE;
  else if (!strcasecmp(op->s, "histogram"))
    *k = GAVEL_METRIC_HISTOGRAM;
  else
    return 1;
  return 0;
}

/* Tag values as text ('buf' holds the numbers' text, 32 bytes each). */
static int tag_pairs(gvalue tags, const char **kv, char (*buf)[32],
                     size_t *n, char *msg, size_t msz) {
  uint32_t i;
  *n = 0;
  if (tags.tag == GV_NULL || tags.tag == GV_MISSING)
    return 0;
  if (tags.tag != GV_OBJ || tags.u.o->len > MAX_LABELS) {
    snprintf(msg, msz, "metrics.prometheus: 'tags' must be an object of at "
             "most %d strings", MAX_LABELS);
    return 1;
  }
  for (i = 0; i < tags.u.o->len; i++) {
    gvalue v = tags.u.o->vals[i];
    const gv_str *k = tags.u.o->keys[i];
    kv[2 * i] = k->s;
    /* labels are C strings: a NUL would cut "a\u0000b" to "a", merging
    ** series that differ after it */
    if (memchr(k->s, 0, k->len) ||
        (v.tag == GV_STR && memchr(v.u.s->s, 0, v.u.s->len))) {
      snprintf(msg, msz, "metrics.prometheus: tag '%s' holds a NUL byte",
               k->s);
      return 1;
    }
    if (v.tag == GV_STR)
      kv[2 * i + 1] = v.u.s->s;
    else if (v.tag == GV_INT) {
      snprintf(buf[i], 32, "%lld", (long long)v.u.i);
      kv[2 * i + 1] = buf[i];
    } else if (v.tag == GV_BOOL)
      kv[2 * i + 1] = v.u.i ? "true" : "false";
    else {
      snprintf(msg, msz, "metrics.prometheus: tag '%s' must be a string",
               kv[2 * i]);
      return 1;
    }
  }
  *n = tags.u.o->len;
  return 0;
}

static int metrics_vfn(void *ud, gv_arena *a, const gv_hostreq *req,
                       gvalue *payload, gvalue *metadata, char *msg,
                       size_t msz) {
  gavel_metrics *m = ud;
  gavel_metric_kind kind;
  const gvalue *name = NULL, *val = NULL, *tags = NULL, *help = NULL;
  const char *kv[2 * MAX_LABELS];
  char nbuf[MAX_LABELS][32];
  size_t n;
  gavel_error e;
  gv_obj *md;
  if (op_kind(req->operation, &kind)) {
    snprintf(msg, msz, "metrics.prometheus: unknown operation '%s' (expected "
             "counter, gauge or histogram)", req->operation->s);
    return 1;
  }
  if (req->params.tag == GV_OBJ) {
    name = gavel__obj_get(req->params.u.o, "name", 4);
    val = gavel__obj_get(req->params.u.o, "value", 5);
    tags = gavel__obj_get(req->params.u.o, "tags", 4);
    help = gavel__obj_get(req->params.u.o, "help", 4);
  }
  if (!name || name->tag != GV_STR || !name->u.s->len ||
      memchr(name->u.s->s, 0, name->u.s->len)) {
    snprintf(msg, msz, "metrics.prometheus: parameter 'name' (a string) is "
             "required");
    return 1;
  }
  if (!val || (val->tag != GV_INT && val->tag != GV_FLOAT &&
               val->tag != GV_BOOL)) {
    snprintf(msg, msz, "metrics.prometheus: parameter 'value' (a number) is "
             "required");
    return 1;
  }
  if (tag_pairs(tags ? *tags : gv_null(), kv, nbuf, &n, msg, msz))
    return 1;
  if (gavel_metrics_update(m, kind, name->u.s->s,
                           help && help->tag == GV_STR ? help->u.s->s : NULL,
                           kv, n, val->tag == GV_BOOL ? (double)val->u.i
                                                      : gv_num(*val),
                           &e) != GAVEL_OK) {
    snprintf(msg, msz, "%s", e.msg);
    return 1;
  }
  *payload = gv_null();
  if (!(md = gavel__obj_new(a, 2)) ||
      !gavel__obj_append(a, md, gavel__str_cstr(a, "metric"), *name) ||
      !gavel__obj_append(a, md, gavel__str_cstr(a, "operation"),
                         gv_strv((gv_str *)req->operation)) ||
      a->failed) {
    snprintf(msg, msz, "out of memory");
    return 1;
  }
  *metadata = gv_objv(md);
  return 0;
}

gavel_status gavel_metrics_provide(gavel_metrics *m, gavel_runtime *rt,
                                   gavel_error *err) {
  gavel__error_clear(err);
  if (!m || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_provide: NULL "
                         "argument");
  return gavel__host_provide_value(rt, "metrics.prometheus", metrics_vfn, m,
                                   err);
}

/* ==== The engine's own metrics (observer) ==== */

/* Adds 'v' to the series of 'f' labelled by kv[0..2n). Under m->mu. */
static void bump(gavel_metrics *m, mfamily *f, const char *const *kv,
                 size_t n, double v) {
  gv_buf lb;
  mseries *s;
  gavel__buf_init(&lb, &gavel__default_alloc);
  gavel__buf_addc(&lb, 0);
  lb.len = 0;
  if (!render_labels(&lb, kv, n, f->kind == GAVEL_METRIC_HISTOGRAM) &&
      (s = series_get(m, f, lb.p, NULL)))
    series_apply(f, s, v);
  gavel__buf_free(&lb);
}

static void status_label(gavel_status st, char *buf, size_t n) {
  const char *s = gavel_status_name(st);
  size_t i;
  if (!strncmp(s, "GAVEL_", 6))
    s += 6;
  for (i = 0; s[i] && i + 1 < n; i++)
    buf[i] = (char)tolower((unsigned char)s[i]);
  buf[i] = 0;
}

/* A successful run's three series, by ruleset and code, remembered per
** thread with this thread's shares of them: a batch run then costs three
** additions, without the lock, instead of rendering, hashing and
** allocating three label sets (measured in bench/obs_batch.sh).  Series
** and shares are never freed before their registry; entries are keyed by
** the registry's unique id, never its address. */
#define RUN_CACHE 64 /* direct-mapped by the code string's address */
#define RUN_CACHE_KEY 64
typedef struct run_cache {
  uint64_t id;                 /* registry id (0: empty)           */
  char ruleset[RUN_CACHE_KEY]; /* label values                     */
  char code[RUN_CACHE_KEY];    /* ...                              */
  mfamily *f[3];               /* runs, duration, gas: families    */
  mshare *h[3];                /* this thread's shares of the series */
} run_cache;
static __thread run_cache rcache[RUN_CACHE];

/* The slot of a code string: its address (stable while the ruleset
** lives); the entry's copies of the strings decide whether it matches. */
static run_cache *rc_slot(const char *code) {
  uint64_t h = (uint64_t)(uintptr_t)code * 0x9E3779B97F4A7C15ull;
  return &rcache[h >> 58];
}

static run_cache *rc_find(const gavel_metrics *m, const char *rs,
                          const char *code) {
  run_cache *c = rc_slot(code);
  if (c->id == m->id && !strcmp(c->code, code) && !strcmp(c->ruleset, rs))
    return c;
  return NULL;
}

/* Looks the three series up the slow way and caches them.  Under m->mu. */
static int rc_fill(gavel_metrics *m, const char *const *kv) {
  run_cache *c;
  gv_buf lb;
  mseries *s[3] = {NULL, NULL, NULL};
  mshare *h[3];
  mfamily *f[3];
  size_t n[3] = {2, 1, 1};
  int i;
  if (strlen(kv[1]) >= RUN_CACHE_KEY || strlen(kv[3]) >= RUN_CACHE_KEY)
    return 0;
  f[0] = m->f_runs;
  f[1] = m->f_dur;
  f[2] = m->f_gas;
  for (i = 0; i < 3; i++) {
    gavel__buf_init(&lb, &gavel__default_alloc);
    gavel__buf_addc(&lb, 0);
    lb.len = 0;
    if (!render_labels(&lb, kv, n[i], f[i]->kind == GAVEL_METRIC_HISTOGRAM))
      s[i] = series_get(m, f[i], lb.p, NULL);
    gavel__buf_free(&lb);
    if (!s[i] || !(h[i] = share_get(f[i], s[i])))
      return 0;
  }
  c = rc_slot(kv[3]);
  c->id = m->id;
  snprintf(c->ruleset, sizeof c->ruleset, "%s", kv[1]);
  snprintf(c->code, sizeof c->code, "%s", kv[3]);
  memcpy(c->f, f, sizeof c->f);
  memcpy(c->h, h, sizeof c->h);
  return 1;
}

static void on_event(void *ud, const gavel_event *ev) {
  gavel_metrics *m = ud;
  double secs = (double)ev->duration_ns / 1e9;
  const char *kv[4];
  char stl[32];
  if (ev->kind == GAVEL_EVENT_RUN && ev->status == GAVEL_OK) {
    const char *rs = ev->ruleset ? ev->ruleset : "",
               *code = ev->code ? ev->code : "";
    run_cache *c = rc_find(m, rs, code);
    if (!c) {
      kv[0] = "ruleset";
      kv[1] = rs;
      kv[2] = "code";
      kv[3] = code;
      pthread_mutex_lock(&m->mu);
      if (rc_fill(m, kv))
        c = rc_find(m, rs, code);
      pthread_mutex_unlock(&m->mu);
    }
    if (c) { /* this thread's shares: no lock */
      share_apply(c->f[0], c->h[0], 1);
      share_apply(c->f[1], c->h[1], secs);
      share_apply(c->f[2], c->h[2], (double)ev->gas_used);
      return;
    }
  }
  pthread_mutex_lock(&m->mu);
  if (ev->kind == GAVEL_EVENT_RUN) {
    kv[0] = "ruleset";
    kv[1] = ev->ruleset ? ev->ruleset : "";
    kv[2] = "code";
    kv[3] = ev->status == GAVEL_OK ? (ev->code ? ev->code : "") : "error";
    bump(m, m->f_runs, kv, 2, 1);
    bump(m, m->f_dur, kv, 1, secs);
    bump(m, m->f_gas, kv, 1, (double)ev->gas_used);
    if (ev->status != GAVEL_OK) {
      status_label(ev->status, stl, sizeof stl);
      kv[2] = "status";
      kv[3] = stl;
      bump(m, m->f_errors, kv, 2, 1);
    }
  } else if (ev->kind == GAVEL_EVENT_HOSTCALL) {
    kv[0] = "capability";
    kv[1] = ev->capability ? ev->capability : "";
    kv[2] = "outcome";
    kv[3] = ev->outcome ? ev->outcome : "";
    bump(m, m->f_calls, kv, 2, 1);
    if (ev->outcome && strcmp(ev->outcome, "circuit_open") &&
        strcmp(ev->outcome, "busy")) /* refused calls took no time */
      bump(m, m->f_call_dur, kv, 1, secs);
  }
  pthread_mutex_unlock(&m->mu);
}

/* Creates the engine's families once.  Under m->mu. */
static gavel_status engine_families(gavel_metrics *m, gavel_error *e) {
  static const char *const help[6] = {
      "Rule executions by ruleset and result code (code=\"error\" for "
      "failed runs).",
      "Failed rule executions by status.", "Rule execution time.",
      "Gas used by rule executions.",
      "Capability calls (each attempt) by outcome.",
      "Capability call latency (each attempt)."};
  mfamily *f[6];
  if (m->f_runs)
    return GAVEL_OK;
  if (!(f[0] = family_get(m, GAVEL_METRIC_COUNTER, "gavel_runs_total",
                          help[0], NULL, 0, e)) ||
      !(f[1] = family_get(m, GAVEL_METRIC_COUNTER, "gavel_run_errors_total",
                          help[1], NULL, 0, e)) ||
      !(f[2] = family_get(m, GAVEL_METRIC_HISTOGRAM,
                          "gavel_run_duration_seconds", help[2], run_buckets,
                          sizeof run_buckets / sizeof(double), e)) ||
      !(f[3] = family_get(m, GAVEL_METRIC_COUNTER, "gavel_run_gas_used_total",
                          help[3], NULL, 0, e)) ||
      !(f[4] = family_get(m, GAVEL_METRIC_COUNTER, "gavel_hostcalls_total",
                          help[4], NULL, 0, e)) ||
      !(f[5] = family_get(m, GAVEL_METRIC_HISTOGRAM,
                          "gavel_hostcall_duration_seconds", help[5],
                          call_buckets, sizeof call_buckets / sizeof(double),
                          e)))
    return e->code;
  m->f_runs = f[0];
  m->f_errors = f[1];
  m->f_dur = f[2];
  m->f_gas = f[3];
  m->f_calls = f[4];
  m->f_call_dur = f[5];
  return GAVEL_OK;
}

gavel_status gavel_metrics_attach(gavel_metrics *m, gavel_runtime *rt,
                                  gavel_error *err) {
  gavel_status st;
  gavel_error le;
  gavel__error_clear(err);
  if (!m || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_metrics_attach: NULL "
                         "argument");
  pthread_mutex_lock(&m->mu);
  st = engine_families(m, &le);
  pthread_mutex_unlock(&m->mu);
  if (st != GAVEL_OK) {
    if (err)
      *err = le;
    return st;
  }
  return gavel_runtime_add_observer(rt, on_event, m, err);
}
