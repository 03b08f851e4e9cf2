/*
** host.c -- stage 5 of 5: the capability table and the host-call ABI.
**
** Providers registered in the runtime answer host calls synchronously
** (C functions, on values or on JSON text), or are asynchronous: the
** scheduler then returns GAVEL_PENDING and the host resumes the run.
** Permission checks against what a ruleset declares happen at load
** (load.c); this file only dispatches.  No I/O of its own.
*/
#include <math.h>
#include "runtime.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

struct gavel_reply {
  gv_arena *a;       /* run arena for the parsed payload     */
  gvalue payload;    /* parsed payload                       */
  gvalue metadata;   /* parsed metadata (object or null)     */
  int answered;      /* 1 payload, 2 error, 3 timeout        */
  char *errmsg;      /* where an error message goes          */
  size_t errmsg_size; /* its size                            */
};

const gv_provider *gavel__host_find(const gavel_runtime *rt, const char *name,
                                    size_t len) {
  int i;
  for (i = 0; i < rt->n_providers; i++)
    if (strlen(rt->providers[i].name) == len &&
        memcmp(rt->providers[i].name, name, len) == 0)
      return &rt->providers[i];
  return NULL;
}

static gv_provider *slot_for(gavel_runtime *rt, const char *name,
                             gavel_error *err) {
  gv_provider *p = (gv_provider *)gavel__host_find(rt, name, strlen(name));
  size_t n;
  if (p)
    return p;
  if (rt->n_providers == rt->cap_providers) {
    int ncap = rt->cap_providers ? rt->cap_providers * 2 : 8;
    gv_provider *np = gavel__realloc(&rt->al, rt->providers,
                                     (size_t)rt->cap_providers * sizeof *np,
                                     (size_t)ncap * sizeof *np);
    if (!np) {
      gavel__errorf(err, GAVEL_NOMEM, "out of memory");
      return NULL;
    }
    rt->providers = np;
    rt->cap_providers = ncap;
  }
  p = &rt->providers[rt->n_providers];
  memset(p, 0, sizeof *p);
  n = strlen(name);
  p->name = gavel__malloc(&rt->al, n + 1);
  if (!p->name) {
    gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    return NULL;
  }
  memcpy(p->name, name, n + 1);
  rt->n_providers++;
  return p;
}

gavel_status gavel_runtime_provide(gavel_runtime *rt, const char *capability,
                                   gavel_provider_fn fn, void *ud,
                                   gavel_error *err) {
  gv_provider *p;
  gavel__error_clear(err);
  if (!rt || !capability || !*capability)
    return gavel__errorf(err, GAVEL_MISUSE,
                         "gavel_runtime_provide: NULL or empty argument");
  if (!(p = slot_for(rt, capability, err)))
    return GAVEL_NOMEM;
  p->fn = fn;
  p->vfn = NULL;
  p->ud = ud;
  return GAVEL_OK;
}

gavel_status gavel__host_provide_value(gavel_runtime *rt, const char *name,
                                       gv_vprovider_fn vfn, void *ud,
                                       gavel_error *err) {
  gv_provider *p = slot_for(rt, name, err);
  if (!p)
    return GAVEL_NOMEM;
  p->fn = NULL;
  p->vfn = vfn;
  p->ud = ud;
  return GAVEL_OK;
}

void gavel_runtime_set_resolver(gavel_runtime *rt, gavel_resolver_fn fn,
                                void *ud) {
  if (!rt)
    return;
  rt->resolver = fn;
  rt->resolver_ud = ud;
}

void gavel__host_free(gavel_runtime *rt) {
  int i;
  size_t k;
  for (i = 0; i < rt->n_providers; i++) {
    gv_policy_state *ps = rt->providers[i].ps;
    gavel__free(&rt->al, rt->providers[i].name,
                strlen(rt->providers[i].name) + 1);
    if (ps) {
      for (k = 0; k < ps->pol.n_idempotent_ops; k++)
        gavel__free(&rt->al, (void *)ps->pol.idempotent_ops[k],
                    strlen(ps->pol.idempotent_ops[k]) + 1);
      gavel__free(&rt->al, (void *)ps->pol.idempotent_ops,
                  ps->pol.n_idempotent_ops * sizeof(char *));
      pthread_mutex_destroy(&ps->mu);
      gavel__free(&rt->al, ps, sizeof *ps);
    }
  }
  gavel__free(&rt->al, rt->observers,
              (size_t)rt->n_observers * sizeof(gv_observer));
  gavel__free(&rt->al, rt->providers,
              (size_t)rt->cap_providers * sizeof(gv_provider));
}

/* ==== Replies from JSON providers ==== */

gavel_status gavel_reply_payload(gavel_reply *r, const char *payload,
                                 size_t payload_len, const char *metadata,
                                 size_t metadata_len) {
  gavel_error e;
  gavel_status st;
  if (!r || r->answered)
    return GAVEL_MISUSE;
  r->payload = gv_null();
  r->metadata = gv_null();
  if (payload && payload_len &&
      (st = gavel__json_parse(r->a, payload, payload_len, NULL, &r->payload,
                              &e)) != GAVEL_OK) {
    snprintf(r->errmsg, r->errmsg_size, "provider returned invalid JSON: %s",
             e.msg);
    r->answered = 2;
    return st;
  }
  if (metadata && metadata_len &&
      (st = gavel__json_parse(r->a, metadata, metadata_len, NULL,
                              &r->metadata, &e)) != GAVEL_OK) {
    snprintf(r->errmsg, r->errmsg_size,
             "provider returned invalid metadata JSON: %s", e.msg);
    r->answered = 2;
    return st;
  }
  r->answered = 1;
  return GAVEL_OK;
}

void gavel_reply_error(gavel_reply *r, const char *message) {
  if (!r || r->answered)
    return;
  snprintf(r->errmsg, r->errmsg_size, "%s", message ? message : "error");
  r->answered = 2;
}

void gavel_reply_timeout(gavel_reply *r, const char *message) {
  if (!r || r->answered)
    return;
  snprintf(r->errmsg, r->errmsg_size, "%s", message ? message : "timeout");
  r->answered = 3;
}

int gavel__host_invoke(const gv_provider *pv, gv_arena *a,
                       const gv_hostreq *req, gvalue *payload,
                       gvalue *metadata, char *errmsg, size_t errmsg_size) {
  gavel_host_call call;
  gavel_reply reply;
  gv_buf params;
  if (pv->vfn)
    return pv->vfn(pv->ud, a, req, payload, metadata, errmsg, errmsg_size);
  gavel__buf_init(&params, a->al);
  gavel__json_write(&params, req->params);
  if (params.oom) {
    gavel__buf_free(&params);
    snprintf(errmsg, errmsg_size, "out of memory");
    return 1;
  }
  memset(&call, 0, sizeof call);
  call.capability = req->capability->s;
  call.operation = req->operation->s;
  call.params = params.p;
  call.params_len = params.len;
  call.timeout_ms = req->timeout_ms;
  call.ruleset = req->ruleset;
  call.path = req->path;
  call.attempt = req->attempt;
  call.http_allow = req->allow;
  call.n_http_allow = req->n_allow;
  call.trace_id = req->trace_id;
  memset(&reply, 0, sizeof reply);
  reply.a = a;
  reply.errmsg = errmsg;
  reply.errmsg_size = errmsg_size;
  pv->fn(pv->ud, &call, &reply);
  gavel__buf_free(&params);
  if (reply.answered == 1) {
    *payload = reply.payload;
    *metadata = reply.metadata;
    return 0;
  }
  if (reply.answered == 0)
    snprintf(errmsg, errmsg_size, "provider returned no reply");
  return reply.answered == 3 ? GV_HOST_TIMEOUT : 1;
}

/* ==== Policies ==== */

uint64_t gavel__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* gavel__tick_ns: the clock of the run durations that observers see and
** of audit timestamps: nanoseconds on CLOCK_MONOTONIC's scale,
** read two or three times per observed run, so its cost shows (23 ns for
** clock_gettime under kvm-clock, 10 for the TSC).  On x86-64 with an
** invariant TSC (CPUID 0x80000007 EDX bit 8) it is the TSC scaled by a
** factor measured against CLOCK_MONOTONIC over the first TICK_CAL_NS of
** use (clock_gettime until then); elsewhere, and when the measurement is
** implausible, gavel__now_ns.  Readings on two CPUs may disagree by a few
** ticks: differences are clamped at 0 by their users (gavel__tick_since).
** Deadlines stay on gavel__now_ns. */
#define TICK_CAL_NS 50000000u /* 50 ms */
#define TICK_PAIR_MAX 50000u  /* ticks: ~15-25 us, a clock_gettime is ~100 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <x86intrin.h>
enum { TK_UNKNOWN, TK_CALIBRATING, TK_COMPUTING, TK_READY, TK_OFF };
/* On a cache line of their own (the type's alignment pads it to 64
** bytes): read by every observed run on every thread, written only while
** calibrating. */
static struct __attribute__((aligned(64))) {
  int state;                         /* atomic                        */
  uint64_t c0, t0;                   /* calibration start (TSC, ns)   */
  uint64_t c1, t1;                   /* TK_READY: the origin          */
  double scale;                      /* TK_READY: ns per tick         */
} tk;

uint64_t gavel__tick_ns(void) {
  int st = __atomic_load_n(&tk.state, __ATOMIC_ACQUIRE);
  uint64_t c, c2, t;
  if (st == TK_READY) {
    int64_t d = (int64_t)(__rdtsc() - tk.c1);
    return tk.t1 + (uint64_t)(int64_t)((double)d * tk.scale);
  }
  if (st == TK_OFF)
    return gavel__now_ns();
  c = __rdtsc();
  t = gavel__now_ns();
  c2 = __rdtsc();
  /* a pair read with an interruption between its halves (preempted, an
  ** interrupt) would skew the scale: not used */
  if (c2 - c > TICK_PAIR_MAX)
    return t;
  c += (c2 - c) / 2;
  if (st == TK_UNKNOWN) {
    unsigned a, b, cx, dx;
    int want = TK_UNKNOWN;
    if (!__get_cpuid(0x80000007u, &a, &b, &cx, &dx) || !(dx & (1u << 8))) {
      __atomic_store_n(&tk.state, TK_OFF, __ATOMIC_RELEASE);
      return t;
    }
    if (__atomic_compare_exchange_n(&tk.state, &want, TK_COMPUTING, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      tk.c0 = c;
      tk.t0 = t;
      __atomic_store_n(&tk.state, TK_CALIBRATING, __ATOMIC_RELEASE);
    }
    return t;
  }
  if (st == TK_CALIBRATING && t - tk.t0 >= TICK_CAL_NS) {
    int want = TK_CALIBRATING;
    if (__atomic_compare_exchange_n(&tk.state, &want, TK_COMPUTING, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      double sc = c > tk.c0 ? (double)(t - tk.t0) / (double)(c - tk.c0) : 0;
      if (sc < 0.01 || sc > 100) { /* not a clock we can use */
        __atomic_store_n(&tk.state, TK_OFF, __ATOMIC_RELEASE);
        return t;
      }
      tk.scale = sc;
      tk.c1 = c;
      tk.t1 = t;
      __atomic_store_n(&tk.state, TK_READY, __ATOMIC_RELEASE);
    }
  }
  return t;
}
#else
uint64_t gavel__tick_ns(void) { return gavel__now_ns(); }
#endif

uint64_t gavel__tick_since(uint64_t t0) {
  uint64_t t = gavel__tick_ns();
  return t > t0 ? t - t0 : 0;
}

static gv_policy_state *policy_of(gavel_runtime *rt, gv_provider *p) {
  (void)rt;
  if (!p->ps) {
    p->ps = gavel__malloc(&rt->al, sizeof *p->ps);
    if (!p->ps)
      return NULL;
    memset(p->ps, 0, sizeof *p->ps);
    pthread_mutex_init(&p->ps->mu, NULL);
  }
  return p->ps;
}

gavel_status gavel_runtime_set_policy(gavel_runtime *rt, const char *capability,
                                      const gavel_policy *pol,
                                      gavel_error *err) {
  gv_provider *p;
  gv_policy_state *ps;
  size_t i;
  gavel__error_clear(err);
  if (!rt || !capability || !pol)
    return gavel__errorf(err, GAVEL_MISUSE,
                         "gavel_runtime_set_policy: NULL argument");
  p = (gv_provider *)gavel__host_find(rt, capability, strlen(capability));
  if (!p)
    return gavel__errorf(err, GAVEL_NOTFOUND,
                         "capability '%s' is not provided", capability);
  if (!(ps = policy_of(rt, p)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  ps->pol = *pol;
  ps->pol.idempotent_ops = NULL;
  ps->pol.n_idempotent_ops = 0;
  if (pol->idempotent_ops && pol->n_idempotent_ops) {
    char **ops = gavel__malloc(&rt->al, pol->n_idempotent_ops * sizeof *ops);
    if (!ops)
      return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    for (i = 0; i < pol->n_idempotent_ops; i++) {
      size_t n = strlen(pol->idempotent_ops[i]);
      ops[i] = gavel__malloc(&rt->al, n + 1);
      if (!ops[i])
        return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
      memcpy(ops[i], pol->idempotent_ops[i], n + 1);
    }
    ps->pol.idempotent_ops = (const char *const *)ops;
    ps->pol.n_idempotent_ops = pol->n_idempotent_ops;
  }
  ps->set = 1;
  ps->failures = 0;
  ps->open_until = 0;
  return GAVEL_OK;
}

uint32_t gavel__policy_timeout(const gv_provider *pv, uint32_t action_ms) {
  uint32_t cap = pv->ps && pv->ps->set ? pv->ps->pol.max_timeout_ms : 0;
  if (!cap)
    return action_ms;
  return (action_ms == 0 || action_ms > cap) ? cap : action_ms;
}

int gavel__policy_admit(const gv_provider *pv, char *msg, size_t n,
                        const char **outcome) {
  gv_policy_state *ps = pv->ps;
  if (!ps || !ps->set)
    return 0;
  if (ps->pol.breaker_threshold) {
    uint64_t now = gavel__now_ns();
    pthread_mutex_lock(&ps->mu);
    if (ps->open_until) {
      if (now < ps->open_until || ps->half_open_busy) {
        uint64_t left = now < ps->open_until ? (ps->open_until - now) / 1000000u : 0;
        pthread_mutex_unlock(&ps->mu);
        snprintf(msg, n, "Capability circuit open: %s (retry_after_ms=%llu)",
                 pv->name, (unsigned long long)left);
        *outcome = "circuit_open";
        return 1;
      }
      ps->half_open_busy = 1; /* half-open: one trial call */
    }
    pthread_mutex_unlock(&ps->mu);
  }
  if (ps->pol.max_concurrency) {
    int cur = __atomic_add_fetch(&ps->inflight, 1, __ATOMIC_ACQ_REL);
    if (cur > (int)ps->pol.max_concurrency) {
      __atomic_sub_fetch(&ps->inflight, 1, __ATOMIC_ACQ_REL);
      pthread_mutex_lock(&ps->mu);
      ps->half_open_busy = 0;
      pthread_mutex_unlock(&ps->mu);
      snprintf(msg, n, "Capability busy: %s (max_concurrency %u reached)",
               pv->name, ps->pol.max_concurrency);
      *outcome = "busy";
      return 1;
    }
  }
  return 0;
}

void gavel__policy_release(const gv_provider *pv) {
  gv_policy_state *ps = pv->ps;
  if (ps && ps->set && ps->pol.max_concurrency)
    __atomic_sub_fetch(&ps->inflight, 1, __ATOMIC_ACQ_REL);
}

static int idempotent(const gv_policy_state *ps, const gv_str *op) {
  static const char *const http[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"};
  size_t i;
  if (ps->pol.idempotent_ops) {
    for (i = 0; i < ps->pol.n_idempotent_ops; i++)
      if (gavel__str_eqn(op, ps->pol.idempotent_ops[i],
                         strlen(ps->pol.idempotent_ops[i])))
        return 1;
    return 0;
  }
  for (i = 0; i < 5; i++)
    if (op->len == strlen(http[i]) && strncasecmp(op->s, http[i], op->len) == 0)
      return 1;
  return 0;
}

long gavel__policy_after(const gv_provider *pv, int failed, const gv_str *op,
                         uint32_t attempt, uint64_t *rng) {
  gv_policy_state *ps = pv->ps;
  uint64_t base, cap, delay;
  if (!ps || !ps->set)
    return -1;
  pthread_mutex_lock(&ps->mu);
  ps->half_open_busy = 0;
  if (!failed) {
    ps->failures = 0;
    ps->open_until = 0;
  } else if (ps->pol.breaker_threshold) {
    /* a failed half-open trial re-opens at once */
    if (ps->open_until || ++ps->failures >= ps->pol.breaker_threshold) {
      ps->open_until = gavel__now_ns() +
                       (uint64_t)ps->pol.breaker_reset_ms * 1000000u;
      if (!ps->open_until)
        ps->open_until = 1;
      ps->failures = 0;
      pthread_mutex_unlock(&ps->mu);
      return -1; /* the circuit just opened: no retry */
    }
  }
  pthread_mutex_unlock(&ps->mu);
  if (!failed || attempt > ps->pol.retries || !idempotent(ps, op))
    return -1;
  /* exponential backoff with "full jitter" in [base/2, base] */
  cap = ps->pol.backoff_max_ms ? ps->pol.backoff_max_ms : 30000;
  base = (uint64_t)ps->pol.backoff_ms << (attempt - 1 > 20 ? 20 : attempt - 1);
  if (base > cap)
    base = cap;
  *rng ^= *rng << 13;
  *rng ^= *rng >> 7;
  *rng ^= *rng << 17;
  delay = base / 2 + (base ? *rng % (base / 2 + 1) : 0);
  return (long)delay;
}

gavel_status gavel_runtime_add_observer(gavel_runtime *rt, gavel_observer_fn fn,
                                        void *ud, gavel_error *err) {
  gv_observer *no;
  gavel__error_clear(err);
  if (!rt || !fn)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_runtime_add_observer: NULL");
  no = gavel__realloc(&rt->al, rt->observers,
                      (size_t)rt->n_observers * sizeof *no,
                      (size_t)(rt->n_observers + 1) * sizeof *no);
  if (!no)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  no[rt->n_observers].fn = fn;
  no[rt->n_observers].ud = ud;
  rt->observers = no;
  rt->n_observers++;
  return GAVEL_OK;
}

void gavel__observe(const gavel_runtime *rt, const gavel_event *ev) {
  int i;
  for (i = 0; i < rt->n_observers; i++)
    rt->observers[i].fn(rt->observers[i].ud, ev);
}

/* ==== Size caps on JSON built from values ==== */

/* A lower bound of the bytes of 'v' alone: a scalar whole, a container's
** brackets only.  Numbers count one byte: formatting them here cost a
** quarter of a small run. */
static size_t json_open_len(gvalue v) {
  switch (v.tag) {
  case GV_BOOL:
    return v.u.i ? 4 : 5;
  case GV_INT:
  case GV_FLOAT:
    return 1;
  case GV_STR:
    return (size_t)v.u.s->len + 2;
  case GV_ARR:
  case GV_OBJ:
    return 2;
  default:
    return 4;
  }
}

typedef struct sz_frame {
  gvalue c;   /* container being walked */
  uint32_t i; /* next member            */
} sz_frame;

/* As gavel__json_size_min; sets '*nf' when it meets a float that is inf
** or NaN (a walk that returns a bound <= cap has met every value). */
static size_t size_min(const gavel__alloc *al, gvalue v, size_t cap,
                       int *nf) {
  sz_frame local[32], *st = local;
  size_t n = 0, n_cap = 32, total = json_open_len(v);
  if (v.tag == GV_FLOAT && !isfinite(v.u.f))
    *nf = 1;
  if ((v.tag == GV_ARR && v.u.a->len) || (v.tag == GV_OBJ && v.u.o->len))
    st[n++] = (sz_frame){v, 0};
  while (n && total <= cap) {
    sz_frame *f = &st[n - 1];
    uint32_t len = f->c.tag == GV_ARR ? f->c.u.a->len : f->c.u.o->len;
    gvalue m;
    if (f->i == len) {
      n--;
      continue;
    }
    if (f->i)
      total++; /* ',' */
    if (f->c.tag == GV_ARR) {
      m = f->c.u.a->items[f->i];
    } else {
      total += (size_t)f->c.u.o->keys[f->i]->len + 3; /* "key": */
      m = f->c.u.o->vals[f->i];
    }
    f->i++;
    total += json_open_len(m);
    if (m.tag == GV_FLOAT && !isfinite(m.u.f))
      *nf = 1;
    if ((m.tag == GV_ARR && m.u.a->len) || (m.tag == GV_OBJ && m.u.o->len)) {
      if (n == n_cap) {
        sz_frame *ns = gavel__malloc(al, 2 * n_cap * sizeof *ns);
        if (!ns) {
          total = SIZE_MAX;
          break;
        }
        memcpy(ns, st, n * sizeof *ns);
        if (st != local)
          gavel__free(al, st, n_cap * sizeof *st);
        st = ns;
        n_cap *= 2;
      }
      st[n++] = (sz_frame){m, 0};
    }
  }
  if (st != local)
    gavel__free(al, st, n_cap * sizeof *st);
  return total;
}

size_t gavel__json_size_min(const gavel__alloc *al, gvalue v, size_t cap) {
  int nf = 0;
  return size_min(al, v, cap, &nf);
}

static void *cap_realloc(void *ud, void *p, size_t old, size_t n) {
  gv_capalloc *c = ud;
  /* The buffer doubles its capacity, so allow up to twice the cap: the
  ** caller compares the length it wrote with the cap itself. */
  if (n > old && c->cap <= (SIZE_MAX - 4096) / 2 && n > 2 * c->cap + 4096) {
    c->hit = 1;
    return NULL;
  }
  return c->base->fn(c->base->ud, p, old, n);
}

void gavel__capalloc_init(gv_capalloc *c, const gavel__alloc *base,
                          size_t cap) {
  c->al.fn = cap_realloc;
  c->al.ud = c;
  c->base = base;
  c->cap = cap;
  c->hit = 0;
}

int gavel__json_over(const gavel__alloc *al, gvalue v, size_t cap, int *nf) {
  gv_capalloc c;
  gv_buf b;
  int over, bad = 0;
  size_t lb = size_min(al, v, cap, &bad);
  if (lb == SIZE_MAX)
    return -1;
  if (lb > cap)
    return 1;
  if (nf)
    *nf = bad;
  /* Only numbers (at most 24 bytes for 1) and escapes (6 for 1) make the
  ** text longer than the bound: below cap / 24 it fits; above, we write
  ** it, stopping at the cap. */
  if (lb <= cap / 24)
    return 0;
  gavel__capalloc_init(&c, al, cap);
  gavel__buf_init(&b, &c.al);
  gavel__json_write(&b, v);
  over = c.hit || b.len > cap ? 1 : b.oom ? -1 : 0;
  gavel__buf_free(&b);
  return over;
}
