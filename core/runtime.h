/*
** runtime.h -- the runtime object and the host-call ABI between the
** scheduler and capability providers (stage 5).  Private.
*/
#ifndef GAVEL_RUNTIME_H
#define GAVEL_RUNTIME_H

#include "value.h"
#include <pthread.h>
#include <stdatomic.h>

/* Built-in host ceilings (gavel_config's max_* fields left at 0). */
#define GAVEL_DEFAULT_MAX_GAS 1000000000u       /* max_gas                 */
#define GAVEL_DEFAULT_MAX_STEPS 1000000u        /* max_steps               */
#define GAVEL_DEFAULT_MAX_TIMEOUT_MS 60000u     /* max_timeout_ms          */
#define GAVEL_DEFAULT_MAX_RUN_BYTES (256u << 20) /* max_run_bytes          */
#define GAVEL_DEFAULT_MAX_RESULT_BYTES (64u << 20) /* max_result_bytes     */
#define GAVEL_DEFAULT_MAX_CALL_BYTES (16u << 20) /* max_call_bytes         */

/* A host call as the engine sees it (values, not JSON). */
typedef struct gv_hostreq {
  const gv_str *capability; /* capability name                         */
  const gv_str *operation;  /* operation (action's method / "gauge")   */
  gvalue params;            /* parameters object (run arena)           */
  uint32_t timeout_ms;      /* the action's timeout, 0 = none          */
  const char *ruleset;      /* calling ruleset's name                  */
  const char *path;         /* JSON path of the calling action         */
  const char *const *allow; /* network.http allowlist of the ruleset    */
  size_t n_allow;           /* entries in 'allow'                      */
  uint32_t attempt;         /* 1-based attempt (retries)               */
  uint32_t delay_ms;        /* wait this long before performing it     */
  uint64_t trace_id;        /* id of the run                           */
} gv_hostreq;

/* An in-tree provider working on values: builds payload and metadata in
** 'a' (the run arena) and returns 0, or writes 'errmsg' and returns 1
** (GV_HOST_TIMEOUT when the failure was a timeout). */
#define GV_HOST_TIMEOUT 2
typedef int (*gv_vprovider_fn)(void *ud, gv_arena *a, const gv_hostreq *req,
                               gvalue *payload, gvalue *metadata,
                               char *errmsg, size_t errmsg_size);

typedef struct gv_policy_state {
  gavel_policy pol;       /* configuration (idempotent_ops owned)          */
  int set;                /* 1 when a policy was configured                */
  pthread_mutex_t mu;     /* guards the breaker fields                     */
  uint32_t failures;      /* consecutive failures                          */
  uint64_t open_until;    /* breaker open until (monotonic ns), 0 = closed */
  int half_open_busy;     /* a half-open trial call is in flight           */
  int inflight;           /* calls in flight (atomic)                      */
} gv_policy_state;

typedef struct gv_provider {
  char *name;           /* capability name (owned)                      */
  gavel_provider_fn fn; /* public JSON provider, or NULL                 */
  gv_vprovider_fn vfn;  /* in-tree value provider, or NULL               */
  void *ud;             /* user data for either                          */
  gv_policy_state *ps;  /* policy and its live state (owned, stable)     */
} gv_provider;            /* neither fn nor vfn: asynchronous (PENDING)   */

typedef struct gv_observer {
  gavel_observer_fn fn; /* callback   */
  void *ud;             /* user data  */
} gv_observer;

struct gavel_runtime {
  gavel__alloc al;             /* the one allocator hook                */
  gavel_config cfg;            /* configuration, defaults filled in     */
  gv_provider *providers;      /* registered capabilities               */
  int n_providers;             /* count                                 */
  int cap_providers;           /* allocated                             */
  gavel_resolver_fn resolver;  /* call_rule_set resolver, or NULL       */
  void *resolver_ud;           /* its user data                         */
  gv_observer *observers;      /* metrics/audit observers               */
  int n_observers;             /* count                                 */
  int jit_mode;                /* resolved gavel_config.jit (jit.h)     */
  _Atomic(size_t) jit_bytes;   /* code memory mapped by its rulesets    */
  int call_detail;             /* HOSTCALL events carry params/payload
                                  JSON (decision capture)               */
};

const gv_provider *gavel__host_find(const gavel_runtime *rt, const char *name,
                                    size_t len);
/* Registers an in-tree value provider (vfn) or replaces an existing one. */
gavel_status gavel__host_provide_value(gavel_runtime *rt, const char *name,
                                       gv_vprovider_fn vfn, void *ud,
                                       gavel_error *err);
/* Calls a synchronous provider.  0 with payload/metadata set, or 1 with
** 'errmsg' filled. */
int gavel__host_invoke(const gv_provider *pv, gv_arena *a,
                       const gv_hostreq *req, gvalue *payload,
                       gvalue *metadata, char *errmsg, size_t errmsg_size);
void gavel__host_free(gavel_runtime *rt);

/* ==== Policies (host.c) ==== */
uint64_t gavel__now_ns(void);
uint64_t gavel__tick_ns(void);           /* durations seen by observers */
uint64_t gavel__tick_since(uint64_t t0); /* tick_ns() - t0, or 0        */
/* Effective timeout of a call: the action's, capped by the policy. */
uint32_t gavel__policy_timeout(const gv_provider *pv, uint32_t action_ms);
/* Admission: circuit breaker and concurrency limit.  0 = admitted (a slot
** is held until gavel__policy_release); 1 = refused, with 'msg' (Ordo's
** "Capability circuit open: name" text) and *outcome set. */
int gavel__policy_admit(const gv_provider *pv, char *msg, size_t n,
                        const char **outcome);
void gavel__policy_release(const gv_provider *pv);
/* Records a call's result.  Returns the delay (ms) before a retry when the
** call failed and may be retried, or -1. '*rng' is the caller's PRNG state
** for jitter. */
long gavel__policy_after(const gv_provider *pv, int failed, const gv_str *op,
                         uint32_t attempt, uint64_t *rng);
void gavel__observe(const gavel_runtime *rt, const gavel_event *ev);

/* ==== Size caps on JSON built from values (host.c) ==== */

/* A lower bound of the compact JSON text of 'v' (what gavel__json_write
** produces, before escapes), computed without writing it.  The walk stops
** as soon as the bound exceeds 'cap' and then returns a value > cap, so it
** costs O(min(nodes, cap)) even for a value that shares one large string
** a thousand times.  Iterative: safe on values of any depth.  Returns
** SIZE_MAX when its own stack cannot be allocated from 'al'. */
size_t gavel__json_size_min(const gavel__alloc *al, gvalue v, size_t cap);

/* An allocator for a gv_buf that refuses to grow it past about twice 'cap'
** bytes, so a writer stops at the cap instead of building the whole text
** (the buffer's sticky 'oom' flag is then set and 'hit' says why).  Must
** stay at a fixed address while buffers use '&c->al'. */
typedef struct gv_capalloc {
  gavel__alloc al;            /* hand '&al' to the buffer               */
  const gavel__alloc *base;   /* where the memory comes from            */
  size_t cap;                 /* the byte cap the caller enforces       */
  int hit;                    /* 1 once a growth past the cap was refused */
} gv_capalloc;
void gavel__capalloc_init(gv_capalloc *c, const gavel__alloc *base,
                          size_t cap);
/* Whether the JSON text of 'v' is longer than 'cap' bytes: 1 yes, 0 no,
** -1 out of memory.  Writes the text (stopping at the cap) only when the
** bound above cannot decide.  When it returns 0 and 'nf' is not NULL,
** '*nf' says whether 'v' holds a float that is inf or NaN (JSON writes
** null for it). */
int gavel__json_over(const gavel__alloc *al, gvalue v, size_t cap, int *nf);

#endif
