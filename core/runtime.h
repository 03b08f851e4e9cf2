/*
** runtime.h -- the runtime object and the host-call ABI between the
** scheduler and capability providers (stage 5).  Private.
*/
#ifndef GAVEL_RUNTIME_H
#define GAVEL_RUNTIME_H

#include "value.h"

/* A host call as the engine sees it (values, not JSON). */
typedef struct gv_hostreq {
  const gv_str *capability; /* capability name                         */
  const gv_str *operation;  /* operation (action's method / "gauge")   */
  gvalue params;            /* parameters object (run arena)           */
  uint32_t timeout_ms;      /* the action's timeout, 0 = none          */
  const char *ruleset;      /* calling ruleset's name                  */
  const char *path;         /* JSON path of the calling action         */
} gv_hostreq;

/* An in-tree provider working on values: builds payload and metadata in
** 'a' (the run arena) and returns 0, or writes 'errmsg' and returns 1. */
typedef int (*gv_vprovider_fn)(void *ud, gv_arena *a, const gv_hostreq *req,
                               gvalue *payload, gvalue *metadata,
                               char *errmsg, size_t errmsg_size);

typedef struct gv_provider {
  char *name;           /* capability name (owned)                      */
  gavel_provider_fn fn; /* public JSON provider, or NULL                 */
  gv_vprovider_fn vfn;  /* in-tree value provider, or NULL               */
  void *ud;             /* user data for either                          */
} gv_provider;            /* neither fn nor vfn: asynchronous (PENDING)   */

struct gavel_runtime {
  gavel__alloc al;             /* the one allocator hook                */
  gavel_config cfg;            /* configuration, defaults filled in     */
  gv_provider *providers;      /* registered capabilities               */
  int n_providers;             /* count                                 */
  int cap_providers;           /* allocated                             */
  gavel_resolver_fn resolver;  /* call_rule_set resolver, or NULL       */
  void *resolver_ud;           /* its user data                         */
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

#endif
