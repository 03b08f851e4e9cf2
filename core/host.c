/*
** host.c -- stage 5 of 5: the capability table and the host-call ABI.
**
** Providers registered in the runtime answer host calls synchronously
** (C functions, on values or on JSON text), or are asynchronous: the
** scheduler then returns GAVEL_PENDING and the host resumes the run.
** Permission checks against what a ruleset declares happen at load
** (load.c); this file only dispatches.  No I/O of its own.
*/
#include "runtime.h"
#include "json.h"
#include <stdio.h>
#include <stdlib.h>

struct gavel_reply {
  gv_arena *a;       /* run arena for the parsed payload     */
  gvalue payload;    /* parsed payload                       */
  gvalue metadata;   /* parsed metadata (object or null)     */
  int answered;      /* 1 payload, 2 error                   */
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
  for (i = 0; i < rt->n_providers; i++)
    gavel__free(&rt->al, rt->providers[i].name,
                strlen(rt->providers[i].name) + 1);
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
  call.capability = req->capability->s;
  call.operation = req->operation->s;
  call.params = params.p;
  call.params_len = params.len;
  call.timeout_ms = req->timeout_ms;
  call.ruleset = req->ruleset;
  call.path = req->path;
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
  return 1;
}
