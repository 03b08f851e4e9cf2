/*
** serve_http.c -- stage: one worker process of 'gavel serve'.
**
** An event_base with an evhttp server on its own SO_REUSEPORT socket, a
** runtime whose network.http is the libevent + curl multi driver
** (providers/http_loop.c) on the same base: a run waiting on an upstream
** is parked there and the worker goes on serving other requests.
**
** Request path: check the store generation (a write acknowledged by any
** worker bumps it; the store rescans before this request is served) ->
** route -> limits -> handler -> one reply.  Errors are {"code","message"}
** as Ordo sends them, with the status mapping of resty.gavel.server:
** 400 malformed JSON or envelope, 401 missing API token, 404 unknown
** ruleset or route, 405 wrong method, 413 body or input too large,
** 422 evaluation error, 429 over a concurrency limit (Retry-After),
** 502/504 host call failed/timed out, 503 not ready (draining), 500
** otherwise.
*/
#include "serve.h"
#include "cli_replay.h"
#include "gavel_providers.h"
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>

typedef struct conn_guard conn_guard;
struct worker;
static void conn_replied(struct worker *w, struct evhttp_request *req);

typedef struct worker {
  const serve_opts *o;           /* options                              */
  serve_shm *shm;                /* shared page                          */
  int slot;                      /* worker number                        */
  struct event_base *base;       /* the loop                             */
  struct evhttp *http;           /* server                               */
  struct evhttp_bound_socket *bound; /* listening socket                 */
  gavel_runtime *rt;             /* runtime                              */
  gavel_http *hp;                /* network.http options                 */
  gavel_http_loop *loop;         /* network.http on 'base'               */
  gavel_metrics *metrics;        /* metrics.prometheus + engine metrics  */
  gavel_audit *audit;            /* --audit, or NULL                     */
  serve_store store;             /* compiled rules directory             */
  int inflight;                  /* requests not answered yet            */
  int draining;                  /* SIGTERM seen                         */
  struct event *ev_term;         /* SIGTERM                              */
  struct event *ev_int;          /* SIGINT (ignored: the parent drains)  */
  struct event *ev_hup;          /* SIGHUP                               */
  struct event *ev_drain;        /* drain deadline                       */
  struct event *ev_tick;         /* metrics snapshot timer               */
  uint64_t snap_requests;        /* requests at the last snapshot        */
  /* every open connection's guard, by bufferevent (open addressing) */
  conn_guard **conns;
  size_t conns_cap;              /* power of two, or 0                   */
  size_t n_conns;                /* members                              */
  int n_admitted;                /* counted against --max-connections    */
} worker;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ==== Replies ==== */

static const char *ordo_code(int status) {
  switch (status) {
  case 400: return "BAD_REQUEST";
  case 401: return "UNAUTHORIZED";
  case 404: return "NOT_FOUND";
  case 405: return "METHOD_NOT_ALLOWED";
  case 408: return "REQUEST_TIMEOUT";
  case 409: return "CONFLICT";
  case 413: return "PAYLOAD_TOO_LARGE";
  case 422: return "EVALUATION_ERROR";
  case 502: return "BAD_GATEWAY";
  case 429: return "TOO_MANY_REQUESTS";
  case 503: return "SERVICE_UNAVAILABLE";
  case 504: return "GATEWAY_TIMEOUT";
  default: return "INTERNAL_ERROR";
  }
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 422: return "Unprocessable Entity";
  case 502: return "Bad Gateway";
  case 429: return "Too Many Requests";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Internal Server Error";
  }
}

static void check_drained(worker *w) {
  if (w->draining && w->inflight == 0)
    event_base_loopexit(w->base, NULL);
}

/* The reply left (its last byte was written): a drain may end.  A reply
** whose connection failed never gets here; the drain deadline covers it. */
static void on_sent(struct evhttp_request *req, void *arg) {
  worker *w = arg;
  (void)req;
  w->inflight--;
  check_drained(w);
}

/* Sends 'body' (may be NULL) with 'ctype'; the request is done. */
static void reply(worker *w, struct evhttp_request *req, int status,
                  struct evbuffer *body, const char *ctype) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  serve_wstat *ws = &w->shm->w[w->slot];
  if (ctype)
    evhttp_add_header(h, "Content-Type", ctype);
  if (w->draining)
    evhttp_add_header(h, "Connection", "close");
  if (!evhttp_request_get_connection(req)) {
    /* the client left while the run was parked: evhttp frees the request
    ** without sending, and on_sent is never called */
    evhttp_send_reply(req, status, reason(status), body);
    w->inflight--;
    check_drained(w);
    return;
  }
  conn_replied(w, req);
  evhttp_request_set_on_complete_cb(req, on_sent, w);
  evhttp_send_reply(req, status, reason(status), body);
  atomic_fetch_add_explicit(&ws->requests, 1, memory_order_relaxed);
  if (status / 100 >= 1 && status / 100 <= 5)
    atomic_fetch_add_explicit(&ws->status[status / 100], 1,
                              memory_order_relaxed);
}

static void reply_json(worker *w, struct evhttp_request *req, int status,
                       struct evbuffer *body) {
  reply(w, req, status, body, "application/json");
}

/* A response body, or NULL after answering 500 when there is no memory
** for one: the handler then returns (an nginx-like server answers, it
** does not fall over under memory pressure). */
static struct evbuffer *body_new(worker *w, struct evhttp_request *req) {
  struct evbuffer *b = evbuffer_new();
  if (!b)
    reply(w, req, 500, NULL, NULL);
  return b;
}

/* {"code","message"[,"gavel_status"][,"errors":[...]]}; without memory
** for the body, the status alone. */
static void reply_err(worker *w, struct evhttp_request *req, int status,
                      const char *gstatus, const char *msg,
                      struct evbuffer *errors) {
  struct evbuffer *b = evbuffer_new();
  if (status == 429 || status == 503)
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                      "1");
  if (!b) {
    reply(w, req, status, NULL, NULL);
    return;
  }
  evbuffer_add_printf(b, "{\"code\":\"%s\",\"message\":", ordo_code(status));
  sj_put_str(b, msg, strlen(msg));
  if (gstatus)
    evbuffer_add_printf(b, ",\"gavel_status\":\"%s\"", gstatus);
  if (errors) {
    evbuffer_add_printf(b, ",\"errors\":[");
    evbuffer_add_buffer(b, errors);
    evbuffer_add(b, "]", 1);
  }
  evbuffer_add(b, "}", 1);
  reply_json(w, req, status, b);
  evbuffer_free(b);
}

/* resty.gavel.server's mapping of a failed run. */
static int run_status(gavel_status st, const char *msg) {
  switch (st) {
  case GAVEL_JSON: return 400;
  case GAVEL_EXEC: case GAVEL_RUNTIME: case GAVEL_GAS: return 422;
  case GAVEL_NOTFOUND: return 404;
  case GAVEL_LIMIT: return strstr(msg, "input too large") ? 413 : 422;
  case GAVEL_HOST: return strstr(msg, "timed out") ? 504 : 502;
  default: return 500;
  }
}

/* ==== Request helpers ==== */

static const char *body_of(struct evhttp_request *req, size_t *n) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  *n = evbuffer_get_length(in);
  if (!*n)
    return "";
  return (const char *)evbuffer_pullup(in, -1);
}

static int authorized(worker *w, struct evhttp_request *req) {
  const char *t = w->o->api_token, *h;
  struct evkeyvalq *in = evhttp_request_get_input_headers(req);
  size_t tn, i;
  unsigned diff = 0;
  if (!t)
    return 1;
  tn = strlen(t);
  if ((h = evhttp_find_header(in, "Authorization")) &&
      !strncasecmp(h, "Bearer ", 7))
    h += 7;
  else
    h = evhttp_find_header(in, "X-API-Key");
  if (!h || strlen(h) != tn)
    return 0;
  for (i = 0; i < tn; i++) /* constant time */
    diff |= (unsigned)(h[i] ^ t[i]);
  return diff == 0;
}

static int need_auth(worker *w, struct evhttp_request *req) {
  if (authorized(w, req))
    return 0;
  reply_err(w, req, 401, NULL,
            "this request writes: it needs the API token (header "
            "'Authorization: Bearer TOKEN' or 'X-API-Key: TOKEN')",
            NULL);
  return 1;
}

static int64_t exec_total(worker *w) {
  int64_t n = 0;
  int i;
  for (i = 0; i < w->o->workers; i++)
    n += atomic_load_explicit(&w->shm->w[i].active_exec, memory_order_relaxed);
  return n;
}

/* Takes an execution slot; 0, or 1 after answering 429. */
static int exec_enter(worker *w, struct evhttp_request *req) {
  serve_wstat *ws = &w->shm->w[w->slot];
  if (w->o->max_exec > 0 && exec_total(w) >= w->o->max_exec) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "Limit exceeded: %d concurrent executions "
             "(--max-concurrent-executions); retry later",
             w->o->max_exec);
    reply_err(w, req, 429, "GAVEL_LIMIT", msg, NULL);
    return 1;
  }
  atomic_fetch_add_explicit(&ws->active_exec, 1, memory_order_relaxed);
  return 0;
}

static void exec_leave(worker *w) {
  atomic_fetch_sub_explicit(&w->shm->w[w->slot].active_exec, 1,
                            memory_order_relaxed);
}

static void sync_store(worker *w) {
  uint64_t g = atomic_load_explicit(&w->shm->gen, memory_order_acquire);
  if (w->store.n_dead && gavel_http_loop_active(w->loop) == 0)
    serve_store_reap(&w->store);
  if (g != w->store.gen) {
    w->store.gen = g;
    serve_store_scan(&w->store);
    atomic_fetch_add_explicit(&w->shm->w[w->slot].reloads, 1,
                              memory_order_relaxed);
  }
}

/* After a write: every worker rescans before its next request. */
static void bump_gen(worker *w) {
  atomic_fetch_add_explicit(&w->shm->gen, 1, memory_order_acq_rel);
  sync_store(w);
}

/* ==== Runs (synchronous, or parked on the network.http loop) ==== */

typedef void (*run_cb)(void *ud, gavel_status st, const char *out, size_t n,
                       const gavel_error *err);

typedef struct run_ctx {
  serve_entry *e;   /* entry (a reference)   */
  run_cb cb;        /* completion            */
  void *ud;         /* its data              */
} run_ctx;

static void exec_put(serve_entry *e, gavel_exec *ex) {
  if (e->n_pool < (int)(sizeof e->pool / sizeof e->pool[0]))
    e->pool[e->n_pool++] = ex;
  else
    gavel_exec_free(ex);
}

static void on_loop_done(void *ud, gavel_exec *ex, gavel_status st,
                         const char *out, size_t out_len,
                         const gavel_error *err) {
  run_ctx *rc = ud;
  gavel_error e2;
  if (st == GAVEL_PENDING) { /* only network.http is asynchronous here */
    gavel_exec_abandon(ex);
    memset(&e2, 0, sizeof e2);
    e2.code = GAVEL_HOST;
    snprintf(e2.msg, sizeof e2.msg,
             "a run waits on an asynchronous capability this server does "
             "not drive");
    err = &e2;
    st = GAVEL_HOST;
  }
  cli_capture_commit(st == GAVEL_OK ? out : NULL, st == GAVEL_OK ? out_len : 0);
  rc->cb(rc->ud, st, out, out_len, err);
  exec_put(rc->e, ex);
  serve_entry_release(rc->e);
  free(rc);
}

/* Runs 'e' on the input; 'cb' is called exactly once, possibly before
** this returns. */
static void run_one(worker *w, serve_entry *e, const char *in, size_t n,
                    unsigned flags, run_cb cb, void *ud) {
  gavel_exec *ex = e->n_pool ? e->pool[--e->n_pool] : NULL;
  const char *out = NULL;
  size_t outn = 0;
  gavel_error err;
  gavel_status st;
  if (!ex && gavel_exec_new(e->rs, &ex, &err) != GAVEL_OK) {
    cb(ud, err.code, NULL, 0, &err);
    return;
  }
  st = gavel_exec_run_json(ex, in, n, flags, &out, &outn, &err);
  if (st == GAVEL_PENDING) {
    run_ctx *rc = malloc(sizeof *rc);
    if (rc) {
      rc->e = e;
      rc->cb = cb;
      rc->ud = ud;
      e->refs++;
      if (gavel_http_loop_submit(w->loop, ex, on_loop_done, rc, &err) ==
          GAVEL_OK)
        return;
      e->refs--;
      free(rc);
    } else {
      err.code = GAVEL_NOMEM;
      snprintf(err.msg, sizeof err.msg, "out of memory");
    }
    gavel_exec_abandon(ex);
    st = err.code ? err.code : GAVEL_HOST;
  }
  cli_capture_commit(st == GAVEL_OK ? out : NULL, st == GAVEL_OK ? outn : 0);
  cb(ud, st, out, outn, &err);
  exec_put(e, ex);
}

/* ---- POST /api/v1/execute/:name ---- */

typedef struct exec_req {
  worker *w;
  struct evhttp_request *req;
  serve_entry *e;
  uint64_t t0;
} exec_req;

/* result JSON "{...}" + duration_us; 0, or -1 when 'b' could not take it
** (out of memory: the caller answers 500, never a cut body with 200). */
static int put_result(struct evbuffer *b, const char *out, size_t n,
                      uint64_t dur) {
  if (!b)
    return -1;
  while (n && out[n - 1] != '}')
    n--;
  if (n < 2)
    return evbuffer_add_printf(b, "{\"duration_us\":%llu}",
                               (unsigned long long)dur) < 0 ? -1 : 0;
  if (evbuffer_add(b, out, n - 1) != 0 ||
      evbuffer_add_printf(b, "%s\"duration_us\":%llu}", n > 2 ? "," : "",
                          (unsigned long long)dur) < 0)
    return -1;
  return 0;
}

static void exec_done(void *ud, gavel_status st, const char *out, size_t n,
                      const gavel_error *err) {
  exec_req *x = ud;
  uint64_t dur = now_us() - x->t0;
  if (st == GAVEL_OK) {
    struct evbuffer *b = evbuffer_new();
    if (put_result(b, out, n, dur) == 0)
      reply_json(x->w, x->req, 200, b);
    else
      reply(x->w, x->req, 500, NULL, NULL); /* out of memory */
    if (b)
      evbuffer_free(b);
  } else {
    reply_err(x->w, x->req, run_status(st, err->msg), gavel_status_name(st),
              err->msg, NULL);
  }
  exec_leave(x->w);
  serve_entry_release(x->e);
  free(x);
}

static serve_entry *find_or_404(worker *w, struct evhttp_request *req,
                                const char *name) {
  serve_entry *e = serve_store_get(&w->store, name);
  if (!e) {
    char msg[300];
    snprintf(msg, sizeof msg, "RuleSet '%.200s' not found", name);
    reply_err(w, req, 404, "GAVEL_NOTFOUND", msg, NULL);
  }
  return e;
}

static void h_execute(worker *w, struct evhttp_request *req, const char *name) {
  static const char *const keys[] = {"input", "trace"};
  sj_span sp[2];
  size_t n;
  const char *body = body_of(req, &n);
  char msg[256];
  serve_entry *e;
  exec_req *x;
  if (sj_object(body, n, keys, 2, sp, msg, sizeof msg)) {
    reply_err(w, req, 400, "GAVEL_JSON", msg, NULL);
    return;
  }
  if (!sp[0].p) {
    reply_err(w, req, 400, "GAVEL_JSON",
              "missing field `input` (the body is {\"input\": {...}, "
              "\"trace\": false})",
              NULL);
    return;
  }
  if (!(e = find_or_404(w, req, name)) || exec_enter(w, req))
    return;
  if (!(x = malloc(sizeof *x))) {
    exec_leave(w);
    reply_err(w, req, 500, "GAVEL_NOMEM", "out of memory", NULL);
    return;
  }
  x->w = w;
  x->req = req;
  x->e = e;
  x->t0 = now_us();
  e->refs++;
  run_one(w, e, sp[0].p, sp[0].n, sj_is_true(sp[1]) ? GAVEL_RUN_TRACE : 0,
          exec_done, x);
}

/* ---- POST /api/v1/execute/:name/batch ---- */

/* Runs of one batch in flight at once with options.parallel (Ordo's
** default, true): runs that wait on network.http overlap on the event
** loop instead of queueing behind each other.  "parallel": false runs
** the inputs one after another. */
#define SERVE_BATCH_WINDOW 64

struct batch_req;
typedef struct batch_item_ctx {
  struct batch_req *b;   /* owner                      */
  struct evbuffer *res;  /* its result (when done)     */
  uint64_t t0;           /* start of the item          */
} batch_item_ctx;

typedef struct batch_req {
  worker *w;
  struct evhttp_request *req;
  serve_entry *e;
  sj_span inputs;        /* the array                  */
  size_t pos;            /* scanner position           */
  unsigned flags;        /* trace                      */
  batch_item_ctx *items; /* one per input, in order    */
  int count;             /* inputs                     */
  int started;           /* items handed to run_one    */
  int inflight;          /* started, not yet answered  */
  int window;            /* max in flight (1: serial)  */
  int ok, failed;        /* summary                    */
  uint64_t t0;           /* start of batch             */
  int in_pump;           /* inside batch_pump          */
} batch_req;

static void batch_pump(batch_req *b);

static void batch_item(void *ud, gavel_status st, const char *out, size_t n,
                       const gavel_error *err) {
  batch_item_ctx *it = ud;
  batch_req *b = it->b;
  uint64_t dur = now_us() - it->t0;
  struct evbuffer *r = evbuffer_new();
  it->res = r;
  if (r && st == GAVEL_OK) {
    b->ok++;
    if (put_result(r, out, n, dur)) { /* out of memory: no cut result */
      evbuffer_free(r);
      it->res = NULL; /* answered as an "out of memory" item */
      b->ok--;
      b->failed++;
    }
  } else if (r) {
    b->failed++;
    evbuffer_add_printf(r, "{\"code\":\"error\",\"message\":");
    sj_put_str(r, err->msg, strlen(err->msg));
    evbuffer_add_printf(r, ",\"output\":null,\"duration_us\":%llu,"
                           "\"error\":",
                        (unsigned long long)dur);
    sj_put_str(r, err->msg, strlen(err->msg));
    evbuffer_add(r, "}", 1);
  } else
    b->failed++;
  b->inflight--;
  if (!b->in_pump)
    batch_pump(b); /* answered later, on the loop */
}

/* Starts items up to the window; answers when the last one is done. */
static void batch_pump(batch_req *b) {
  sj_span el;
  int i;
  b->in_pump = 1;
  while (b->inflight < b->window && b->started < b->count &&
         sj_array_next(b->inputs, &b->pos, &el)) {
    batch_item_ctx *it = &b->items[b->started++];
    it->b = b;
    it->t0 = now_us();
    b->inflight++;
    run_one(b->w, b->e, el.p, el.n, b->flags, batch_item, it);
  }
  b->in_pump = 0;
  if (b->inflight || b->started < b->count)
    return; /* items in flight: the last batch_item gets here again */
  {
    struct evbuffer *r = body_new(b->w, b->req);
    if (r)
      evbuffer_add_printf(r, "{\"results\":[");
    for (i = 0; i < b->count; i++) {
      if (!r) {
        if (b->items[i].res)
          evbuffer_free(b->items[i].res);
        continue;
      }
      if (i)
        evbuffer_add(r, ",", 1);
      if (b->items[i].res) {
        evbuffer_add_buffer(r, b->items[i].res);
        evbuffer_free(b->items[i].res);
      } else
        evbuffer_add_printf(r, "{\"code\":\"error\",\"message\":"
                               "\"out of memory\",\"output\":null,"
                               "\"error\":\"out of memory\"}");
    }
    if (r) {
      evbuffer_add_printf(r, "],\"summary\":{\"total\":%d,\"success\":%d,"
                             "\"failed\":%d,\"total_duration_us\":%llu}}",
                          b->count, b->ok, b->failed,
                          (unsigned long long)(now_us() - b->t0));
      reply_json(b->w, b->req, 200, r);
      evbuffer_free(r);
    }
  }
  exec_leave(b->w);
  serve_entry_release(b->e);
  free(b->items);
  free(b);
}

static void h_batch(worker *w, struct evhttp_request *req, const char *name) {
  static const char *const keys[] = {"inputs", "options"};
  static const char *const okeys[] = {"trace", "parallel"};
  sj_span sp[2], op[2] = {{NULL, 0}, {NULL, 0}}, el;
  size_t n, pos = 0;
  int count = 0;
  const char *body = body_of(req, &n);
  char msg[256];
  serve_entry *e;
  batch_req *b;
  if (sj_object(body, n, keys, 2, sp, msg, sizeof msg)) {
    reply_err(w, req, 400, "GAVEL_JSON", msg, NULL);
    return;
  }
  if (!sp[0].p || sp[0].p[0] != '[') {
    reply_err(w, req, 400, "GAVEL_JSON",
              "field `inputs` must be an array of inputs (the body is "
              "{\"inputs\": [...], \"options\": {\"trace\": false}})",
              NULL);
    return;
  }
  if (sp[1].p && sp[1].p[0] == '{')
    sj_object(sp[1].p, sp[1].n, okeys, 2, op, msg, sizeof msg);
  while (sj_array_next(sp[0], &pos, &el))
    if (++count > SERVE_MAX_BATCH) {
      snprintf(msg, sizeof msg,
               "Limit exceeded: batch of more than %d inputs (the limit "
               "is %d per request)",
               SERVE_MAX_BATCH, SERVE_MAX_BATCH);
      reply_err(w, req, 413, "GAVEL_LIMIT", msg, NULL);
      return;
    }
  if (!(e = find_or_404(w, req, name)) || exec_enter(w, req))
    return;
  if (!(b = calloc(1, sizeof *b)) ||
      !(b->items = calloc(count ? (size_t)count : 1, sizeof *b->items))) {
    free(b);
    exec_leave(w);
    reply_err(w, req, 500, "GAVEL_NOMEM", "out of memory", NULL);
    return;
  }
  b->w = w;
  b->req = req;
  b->e = e;
  e->refs++;
  b->inputs = sp[0];
  b->flags = sj_is_true(op[0]) ? GAVEL_RUN_TRACE : 0;
  b->count = count;
  b->window = op[1].p && op[1].n == 5 && !memcmp(op[1].p, "false", 5)
                  ? 1
                  : SERVE_BATCH_WINDOW;
  b->t0 = now_us();
  batch_pump(b);
}

/* ---- POST /api/v1/eval ---- */

static void h_eval(worker *w, struct evhttp_request *req) {
  static const char *const keys[] = {"expression", "context"};
  sj_span sp[2];
  size_t n, sn, outn;
  const char *body = body_of(req, &n), *out;
  char msg[GAVEL_ERRMSG_SIZE + 64], *src;
  gavel_expr *ex;
  gavel_error err;
  struct evbuffer *b;
  if (sj_object(body, n, keys, 2, sp, msg, sizeof msg)) {
    reply_err(w, req, 400, "GAVEL_JSON", msg, NULL);
    return;
  }
  if (!(src = sj_string(sp[0], &sn))) {
    reply_err(w, req, 400, "GAVEL_JSON",
              "field `expression` must be a string (the body is "
              "{\"expression\": \"...\", \"context\": {...}})",
              NULL);
    return;
  }
  if (gavel_expr_compile(w->rt, src, sn, &ex, &err) != GAVEL_OK) {
    snprintf(msg, sizeof msg, "Parse error: %s", err.msg);
    reply_err(w, req, err.code == GAVEL_LIMIT ? 413 : 400,
              gavel_status_name(err.code), msg, NULL);
    free(src);
    return;
  }
  if (gavel_expr_eval_json(ex, sp[1].p, sp[1].p ? sp[1].n : 0, &out, &outn,
                           &err) != GAVEL_OK) {
    snprintf(msg, sizeof msg, "Evaluation error: %s", err.msg);
    reply_err(w, req, run_status(err.code, err.msg),
              gavel_status_name(err.code), msg, NULL);
  } else if ((b = body_new(w, req))) {
    evbuffer_add_printf(b, "{\"result\":");
    evbuffer_add(b, out, outn);
    evbuffer_add_printf(b, ",\"parsed\":");
    sj_put_str(b, src, sn);
    evbuffer_add(b, "}", 1);
    reply_json(w, req, 200, b);
    evbuffer_free(b);
  }
  gavel_expr_free(ex);
  free(src);
}

/* ---- rulesets ---- */

static void h_list(worker *w, struct evhttp_request *req) {
  struct evbuffer *b = body_new(w, req);
  int i;
  if (!b)
    return;
  evbuffer_add(b, "[", 1);
  for (i = 0; i < w->store.n_e; i++) {
    serve_entry *e = w->store.e[i];
    evbuffer_add_printf(b, "%s{\"name\":", i ? "," : "");
    sj_put_str(b, e->name, strlen(e->name));
    evbuffer_add_printf(b, ",\"version\":");
    sj_put_str(b, e->version, strlen(e->version));
    evbuffer_add_printf(b, ",\"description\":");
    sj_put_str(b, e->description, strlen(e->description));
    evbuffer_add(b, "}", 1);
  }
  evbuffer_add(b, "]", 1);
  reply_json(w, req, 200, b);
  evbuffer_free(b);
}

/* Validates and compiles 'text', then stores it; answers. */
static void store_doc(worker *w, struct evhttp_request *req, const char *text,
                      size_t n, const char *want_name, const char *what) {
  serve_diags d;
  serve_entry *e;
  char msg[GAVEL_ERRMSG_SIZE + 512];
  int created;
  long seq;
  memset(&d, 0, sizeof d);
  d.json = evbuffer_new();
  if (!(e = serve_compile(&w->store, text, n, &d))) {
    snprintf(msg, sizeof msg,
             "the ruleset was not accepted: %d error%s (first: %s)",
             d.n_errors, d.n_errors == 1 ? "" : "s", d.first);
    reply_err(w, req, 400, "GAVEL_LOAD", msg, d.json);
    if (d.json)
      evbuffer_free(d.json);
    return;
  }
  if (d.json)
    evbuffer_free(d.json);
  if (want_name && strcmp(want_name, e->name)) {
    snprintf(msg, sizeof msg, "version names ruleset '%.200s', not '%.200s'",
             e->name, want_name);
    reply_err(w, req, 409, NULL, msg, NULL);
    serve_entry_release(e);
    return;
  }
  if (serve_store_put(&w->store, e->name, text, n, &created, &seq, msg,
                      sizeof msg)) {
    fprintf(stderr, "gavel serve: error: %s\n", msg);
    reply_err(w, req, 500, "GAVEL_IO", msg, NULL);
    serve_entry_release(e);
    return;
  }
  bump_gen(w);
  {
    struct evbuffer *b = body_new(w, req);
    if (!b) {
      serve_entry_release(e);
      return;
    }
    evbuffer_add_printf(b, "{\"status\":\"%s\",\"name\":",
                        what ? what : created ? "created" : "updated");
    sj_put_str(b, e->name, strlen(e->name));
    evbuffer_add_printf(b, ",\"seq\":%ld}", seq);
    reply_json(w, req, what ? 200 : created ? 201 : 200, b);
    evbuffer_free(b);
  }
  serve_entry_release(e);
}

static void h_post_ruleset(worker *w, struct evhttp_request *req) {
  size_t n;
  const char *body = body_of(req, &n);
  char msg[256];
  if (need_auth(w, req))
    return;
  if (sj_validate(body, n, msg, sizeof msg)) {
    reply_err(w, req, 400, "GAVEL_JSON", msg, NULL);
    return;
  }
  store_doc(w, req, body, n, NULL, NULL);
}

static void h_get_ruleset(worker *w, struct evhttp_request *req,
                          const char *name) {
  serve_entry *e = find_or_404(w, req, name);
  struct evbuffer *b;
  if (!e || !(b = body_new(w, req)))
    return;
  evbuffer_add(b, e->text, e->len);
  reply_json(w, req, 200, b);
  evbuffer_free(b);
}

static void h_delete_ruleset(worker *w, struct evhttp_request *req,
                             const char *name) {
  char msg[512];
  int rc;
  if (need_auth(w, req))
    return;
  if (!serve_store_get(&w->store, name)) {
    find_or_404(w, req, name);
    return;
  }
  rc = serve_store_delete(&w->store, name, msg, sizeof msg);
  if (rc < 0) {
    reply_err(w, req, 500, "GAVEL_IO", msg, NULL);
    return;
  }
  bump_gen(w);
  if (rc == 0) {
    find_or_404(w, req, name);
    return;
  }
  reply(w, req, 204, NULL, NULL);
}

static void h_versions(worker *w, struct evhttp_request *req,
                       const char *name) {
  struct evbuffer *b = body_new(w, req);
  if (!b)
    return;
  if (serve_store_versions(&w->store, name, b) < 0)
    find_or_404(w, req, name);
  else
    reply_json(w, req, 200, b);
  evbuffer_free(b);
}

static long parse_seq(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  return (end != s && !*end && v > 0) ? v : -1;
}

static void h_version(worker *w, struct evhttp_request *req, const char *name,
                      const char *seqs) {
  long seq = parse_seq(seqs);
  size_t len;
  char *text = seq > 0 ? serve_store_version_text(&w->store, name, seq, &len)
                       : NULL;
  struct evbuffer *b;
  if (!text) {
    char msg[300];
    snprintf(msg, sizeof msg, "RuleSet '%.200s' has no version '%.40s'", name,
             seqs);
    reply_err(w, req, 404, "GAVEL_NOTFOUND", msg, NULL);
    return;
  }
  if ((b = body_new(w, req))) {
    evbuffer_add(b, text, len);
    reply_json(w, req, 200, b);
    evbuffer_free(b);
  }
  free(text);
}

static void h_rollback(worker *w, struct evhttp_request *req,
                       const char *name) {
  static const char *const keys[] = {"seq"};
  sj_span sp[1];
  size_t n, len;
  const char *body = body_of(req, &n);
  char msg[300], num[32], *text;
  long seq = -1;
  if (need_auth(w, req))
    return;
  if (sj_object(body, n, keys, 1, sp, msg, sizeof msg)) {
    reply_err(w, req, 400, "GAVEL_JSON", msg, NULL);
    return;
  }
  if (sp[0].p && sp[0].n < sizeof num) {
    memcpy(num, sp[0].p, sp[0].n);
    num[sp[0].n] = 0;
    seq = parse_seq(num);
  }
  if (seq <= 0) {
    reply_err(w, req, 400, "GAVEL_JSON",
              "field `seq` must be a positive integer (the body is "
              "{\"seq\": N}, N from GET .../versions)",
              NULL);
    return;
  }
  if (!(text = serve_store_version_text(&w->store, name, seq, &len))) {
    snprintf(msg, sizeof msg, "RuleSet '%.200s' has no version %ld", name,
             seq);
    reply_err(w, req, 404, "GAVEL_NOTFOUND", msg, NULL);
    return;
  }
  store_doc(w, req, text, len, name, "rolled_back");
  free(text);
}

static void h_reload(worker *w, struct evhttp_request *req) {
  struct evbuffer *b;
  if (need_auth(w, req))
    return;
  w->store.log_diags = 1;
  bump_gen(w);
  w->store.log_diags = w->slot == 0;
  if (!(b = body_new(w, req)))
    return;
  evbuffer_add_printf(b, "{\"status\":\"reloaded\",\"rules_count\":%d}",
                      w->store.n_e);
  reply_json(w, req, 200, b);
  evbuffer_free(b);
}

/* ---- health, metrics ---- */

static void h_health(worker *w, struct evhttp_request *req, int kind) {
  struct evbuffer *b = body_new(w, req);
  int64_t up = (int64_t)time(NULL) - atomic_load(&w->shm->started);
  int ready = !w->draining;
  if (!b)
    return;
  if (kind == 1) {
    evbuffer_add_printf(b, "{\"status\":\"alive\"}");
    reply_json(w, req, 200, b);
  } else {
    evbuffer_add_printf(
        b,
        "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_seconds\":%lld,"
        "\"checks\":{\"store_lock\":\"ok\",\"disk_writable\":%s},"
        "\"storage\":{\"rules_count\":%d},\"worker\":%d,\"pid\":%ld}",
        ready ? "ready" : "draining", gavel_version_string(), (long long)up,
        access(w->o->rules_dir, W_OK) == 0 ? "true" : "false", w->store.n_e,
        w->slot, (long)getpid());
    reply_json(w, req, ready || kind == 0 ? 200 : 503, b);
  }
  evbuffer_free(b);
}

/* Engine metrics of every worker: each writes its exposition to
** run_dir/metrics.N (now for the answering worker, after its runs for
** the others, at most once a second); the families are merged, each
** sample labelled worker="N". */
static void snapshot_metrics(worker *w) {
  char path[4200];
  gavel_error err;
  snprintf(path, sizeof path, "%s/metrics.%d", w->o->run_dir, w->slot);
  if (gavel_metrics_write_file(w->metrics, path, &err) != GAVEL_OK)
    fprintf(stderr, "gavel serve: worker %d: %s\n", w->slot, err.msg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  worker *w = arg;
  uint64_t n = atomic_load_explicit(&w->shm->w[w->slot].requests,
                                    memory_order_relaxed);
  (void)fd;
  (void)what;
  if (w->store.n_dead && gavel_http_loop_active(w->loop) == 0)
    serve_store_reap(&w->store);
  if (n != w->snap_requests) {
    w->snap_requests = n;
    snapshot_metrics(w);
  }
}

typedef struct mfam {
  const char *name;  /* family name (points into a text)    */
  size_t name_len;
  const char *head;  /* "# HELP ..\n# TYPE ..\n" lines       */
  size_t head_len;
  const char *body;  /* sample lines                        */
  size_t body_len;
  int slot;          /* worker                              */
} mfam;

static int mfam_cmp(const void *a, const void *b) {
  const mfam *x = a, *y = b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);
  if (c)
    return c;
  if (x->name_len != y->name_len)
    return x->name_len < y->name_len ? -1 : 1;
  return x->slot - y->slot;
}

/* Splits an exposition into families (appended to *f); 0, or -1 out of
** memory. */
static int split_families(const char *t, size_t n, int slot, mfam **f,
                          size_t *nf, size_t *cap) {
  const char *p = t, *end = t + n;
  mfam *cur = NULL;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    if (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7)) {
      const char *nm = p + 7, *ne = nm;
      while (ne < next && *ne != ' ' && *ne != '\n')
        ne++;
      if (!cur || cur->body_len || cur->name_len != (size_t)(ne - nm) ||
          memcmp(cur->name, nm, cur->name_len)) {
        if (*nf == *cap) {
          size_t nc = *cap ? *cap * 2 : 64;
          mfam *g = realloc(*f, nc * sizeof **f);
          if (!g)
            return -1; /* *f still holds what was split */
          *f = g;
          *cap = nc;
        }
        cur = &(*f)[(*nf)++];
        cur->name = nm;
        cur->name_len = (size_t)(ne - nm);
        cur->head = p;
        cur->head_len = 0;
        cur->body = NULL;
        cur->body_len = 0;
        cur->slot = slot;
      }
      cur->head_len = (size_t)(next - cur->head);
    } else if (cur && *p != '#' && *p != '\n') {
      if (!cur->body)
        cur->body = p;
      cur->body_len = (size_t)(next - cur->body);
    }
    p = next;
  }
  return 0;
}

static void put_labelled(struct evbuffer *b, const char *s, size_t n,
                         int slot) {
  const char *p = s, *end = s + n;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end, *q = p;
    while (q < next && *q != '{' && *q != ' ')
      q++;
    evbuffer_add(b, p, (size_t)(q - p));
    if (q < next && *q == '{') {
      evbuffer_add_printf(b, "{worker=\"%d\"%s", slot,
                          q + 1 < next && q[1] == '}' ? "" : ",");
      q++;
    } else
      evbuffer_add_printf(b, "{worker=\"%d\"}", slot);
    evbuffer_add(b, q, (size_t)(next - q));
    if (!eol)
      evbuffer_add(b, "\n", 1);
    p = next;
  }
}

/* 0, or -1 out of memory (the caller answers 500, not a part). */
static int merge_engine_metrics(worker *w, struct evbuffer *b) {
  char *texts[SERVE_MAX_WORKERS];
  size_t lens[SERVE_MAX_WORKERS], nf = 0, cap = 0, i;
  mfam *f = NULL;
  int k, oom = 0;
  snapshot_metrics(w);
  w->snap_requests = atomic_load(&w->shm->w[w->slot].requests);
  for (k = 0; k < w->o->workers; k++) {
    char path[4200], msg[256];
    snprintf(path, sizeof path, "%s/metrics.%d", w->o->run_dir, k);
    texts[k] = cli_read_file(path, 64u << 20, &lens[k], msg, sizeof msg);
    if (texts[k] && split_families(texts[k], lens[k], k, &f, &nf, &cap))
      oom = 1;
  }
  if (nf)
    qsort(f, nf, sizeof *f, mfam_cmp);
  for (i = 0; i < nf; i++) {
    if (i == 0 || f[i].name_len != f[i - 1].name_len ||
        memcmp(f[i].name, f[i - 1].name, f[i].name_len))
      evbuffer_add(b, f[i].head, f[i].head_len);
    put_labelled(b, f[i].body, f[i].body_len, f[i].slot);
  }
  free(f);
  for (k = 0; k < w->o->workers; k++)
    free(texts[k]);
  return oom ? -1 : 0;
}

static void h_metrics(worker *w, struct evhttp_request *req) {
  struct evbuffer *b = body_new(w, req);
  uint64_t req_total = 0, st[6] = {0}, reloads = 0, rerr = 0;
  int64_t act = 0;
  int i, k;
  if (!b)
    return;
  for (i = 0; i < w->o->workers; i++) {
    serve_wstat *s = &w->shm->w[i];
    req_total += atomic_load(&s->requests);
    for (k = 1; k <= 5; k++)
      st[k] += atomic_load(&s->status[k]);
    reloads += atomic_load(&s->reloads);
    rerr += atomic_load(&s->reload_errors);
    act += atomic_load(&s->active_exec);
  }
  evbuffer_add_printf(
      b,
      "# HELP gavel_serve_requests_total HTTP requests answered, all "
      "workers.\n# TYPE gavel_serve_requests_total counter\n");
  for (k = 1; k <= 5; k++)
    evbuffer_add_printf(b, "gavel_serve_requests_total{class=\"%dxx\"} %llu\n",
                        k, (unsigned long long)st[k]);
  evbuffer_add_printf(
      b,
      "# HELP gavel_serve_active_executions Executions in flight, all "
      "workers.\n# TYPE gavel_serve_active_executions gauge\n"
      "gavel_serve_active_executions %lld\n"
      "# HELP gavel_serve_reloads_total Store rescans, all workers.\n"
      "# TYPE gavel_serve_reloads_total counter\n"
      "gavel_serve_reloads_total %llu\n"
      "# HELP gavel_serve_worker_restarts_total Workers replaced.\n"
      "# TYPE gavel_serve_worker_restarts_total counter\n"
      "gavel_serve_worker_restarts_total %llu\n"
      "# HELP gavel_serve_workers Worker processes.\n"
      "# TYPE gavel_serve_workers gauge\ngavel_serve_workers %d\n"
      "# HELP gavel_serve_rules Rulesets loaded (answering worker).\n"
      "# TYPE gavel_serve_rules gauge\ngavel_serve_rules %d\n",
      (long long)act, (unsigned long long)reloads,
      (unsigned long long)atomic_load(&w->shm->restarts), w->o->workers,
      w->store.n_e);
  (void)req_total;
  (void)rerr;
  if (merge_engine_metrics(w, b) == 0)
    reply(w, req, 200, b, "text/plain; version=0.0.4");
  else
    reply(w, req, 500, NULL, NULL); /* out of memory: not a partial page */
  evbuffer_free(b);
}

/* ==== Connections: the request deadline (408), --max-connections ==== */

/*
** evhttp's own timeout is an inactivity timeout: a client that trickles a
** header byte every few seconds is never cut off, and one that stops is
** dropped without an answer.  So every connection has a guard: from the
** first byte of a request until the request is delivered (headers and body
** read) it has --request-timeout seconds; past that it is answered 408 and
** closed.  An idle keep-alive connection is closed silently by evhttp's
** timeout (one second longer than ours, so a stalled request gets its 408
** first).  A request being answered is under the run's own timeout.
**
** evhttp hands us the bufferevent (bevcb) before the connection object
** exists; an immediately active one-shot event then finds the connection
** (the bufferevent's callback argument) and sets the close callback that
** frees the guard.  Guards are found by their bufferevent: an open
** addressing table in the worker.  The byte counting is an evbuffer
** callback on the connection's input.
*/

enum { G_IDLE, G_READING, G_BUSY };

struct conn_guard {
  worker *w;
  struct bufferevent *bev;         /* key                                */
  struct evhttp_connection *evcon; /* once adopted                       */
  struct evbuffer_cb_entry *cb;    /* on the input buffer                */
  struct event *ev;                /* the request deadline               */
  int state;                       /* G_*                                */
  int admitted;                    /* counted against --max-connections  */
};

static size_t conn_hash(const void *p, size_t cap) {
  uintptr_t v = (uintptr_t)p;
  v ^= v >> 17;
  v *= 0x9E3779B97F4A7C15ull;
  return (size_t)(v >> 7) & (cap - 1);
}

static conn_guard *guard_of(worker *w, const struct bufferevent *bev) {
  size_t i;
  if (!bev || !w->conns_cap)
    return NULL;
  i = conn_hash(bev, w->conns_cap);
  while (w->conns[i]) {
    if (w->conns[i]->bev == bev)
      return w->conns[i];
    i = (i + 1) & (w->conns_cap - 1);
  }
  return NULL;
}

static int guard_put(worker *w, conn_guard *g) {
  size_t i;
  if ((w->n_conns + 1) * 2 > w->conns_cap) { /* grow: load <= 1/2 */
    size_t cap = w->conns_cap ? w->conns_cap * 2 : 64, k;
    conn_guard **t = calloc(cap, sizeof *t);
    if (!t)
      return -1;
    for (k = 0; k < w->conns_cap; k++)
      if (w->conns[k]) {
        i = conn_hash(w->conns[k]->bev, cap);
        while (t[i])
          i = (i + 1) & (cap - 1);
        t[i] = w->conns[k];
      }
    free(w->conns);
    w->conns = t;
    w->conns_cap = cap;
  }
  i = conn_hash(g->bev, w->conns_cap);
  while (w->conns[i])
    i = (i + 1) & (w->conns_cap - 1);
  w->conns[i] = g;
  w->n_conns++;
  return 0;
}

static void guard_remove(worker *w, conn_guard *g) {
  size_t i, j;
  if (!w->conns_cap)
    return; /* nothing was ever put (the first guard_put failed) */
  i = conn_hash(g->bev, w->conns_cap);
  while (w->conns[i] && w->conns[i] != g)
    i = (i + 1) & (w->conns_cap - 1);
  if (!w->conns[i])
    return;
  w->conns[i] = NULL;
  w->n_conns--;
  /* backward shift */
  j = i;
  for (;;) {
    size_t h;
    j = (j + 1) & (w->conns_cap - 1);
    if (!w->conns[j])
      break;
    h = conn_hash(w->conns[j]->bev, w->conns_cap);
    if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
      w->conns[i] = w->conns[j];
      w->conns[j] = NULL;
      i = j;
    }
  }
}

/* Forgets 'g' without touching its bufferevent (which may be gone). */
static void guard_drop(worker *w, conn_guard *g) {
  guard_remove(w, g);
  if (g->admitted)
    w->n_admitted--;
  event_free(g->ev);
  free(g);
}

static void guard_free(worker *w, conn_guard *g) {
  if (g->cb)
    evbuffer_remove_cb_entry(bufferevent_get_input(g->bev), g->cb);
  guard_drop(w, g);
}

static void guard_arm(conn_guard *g) {
  struct timeval tv = {g->w->o->timeout_s, 0};
  g->state = G_READING;
  evtimer_add(g->ev, &tv);
}

/* evhttp frees the connection (the bufferevent goes right after) */
static void on_conn_close(struct evhttp_connection *c, void *arg) {
  conn_guard *g = arg;
  (void)c;
  guard_free(g->w, g);
}

/* bytes arrived: an idle connection starts a request and its deadline */
static void on_conn_input(struct evbuffer *b, const struct evbuffer_cb_info *info,
                          void *arg) {
  conn_guard *g = arg;
  (void)b;
  if (info->n_added && g->state == G_IDLE)
    guard_arm(g);
}

/* The request took longer than --request-timeout to arrive: a 408 straight
** on the socket (evhttp has no request object to answer through: nothing
** was delivered), then the connection is freed (and the guard with it). */
static void on_conn_deadline(evutil_socket_t fd_, short what, void *arg) {
  conn_guard *g = arg;
  worker *w = g->w;
  serve_wstat *ws = &w->shm->w[w->slot];
  char body[200], msg[400];
  int bn, n, fd = bufferevent_getfd(g->bev);
  (void)fd_;
  (void)what;
  if (g->state != G_READING || !g->evcon)
    return;
  bn = snprintf(body, sizeof body,
                "{\"code\":\"REQUEST_TIMEOUT\",\"message\":\"request not "
                "received within %d s (--request-timeout)\"}",
                w->o->timeout_s);
  n = snprintf(msg, sizeof msg,
               "HTTP/1.1 408 Request Timeout\r\nContent-Type: "
               "application/json\r\nContent-Length: %d\r\nConnection: "
               "close\r\n\r\n%s",
               bn, body);
  /* nothing of ours is queued (no reply is in progress while reading) */
  if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(g->bev)) == 0 &&
      send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n) {
    atomic_fetch_add_explicit(&ws->requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ws->status[4], 1, memory_order_relaxed);
  }
  evhttp_connection_free(g->evcon);
}

/* One pass of the loop after the accept: the connection object exists. */
static void on_conn_adopt(evutil_socket_t fd, short what, void *arg) {
  conn_guard *g = arg;
  bufferevent_data_cb rd = NULL;
  void *cbarg = NULL;
  (void)fd;
  (void)what;
  bufferevent_getcb(g->bev, &rd, NULL, NULL, &cbarg);
  if (!rd || !cbarg) { /* evhttp gave up on it before we looked */
    struct bufferevent *bev = g->bev;
    guard_free(g->w, g);
    bufferevent_decref(bev);
    return;
  }
  g->evcon = cbarg;
  evhttp_connection_set_closecb(g->evcon, on_conn_close, g);
  bufferevent_decref(g->bev); /* the connection holds it now */
}

/* evhttp_set_bevcb: the new connection's bufferevent, with its guard. */
static struct bufferevent *on_conn_new(struct event_base *base, void *arg) {
  worker *w = arg;
  struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
  conn_guard *g = bev ? calloc(1, sizeof *g) : NULL;
  static const struct timeval now = {0, 0};
  if (!g)
    return bev; /* no guard: evhttp's timeout alone */
  g->w = w;
  g->bev = bev;
  g->ev = evtimer_new(base, on_conn_deadline, g);
  { /* a guard left by a connection that closed unseen: its bufferevent
    ** is gone, as this one has its address */
    conn_guard *old = guard_of(w, bev);
    if (old)
      guard_drop(w, old);
  }
  /* our reference keeps the pointer from being reused until adopted */
  bufferevent_incref(bev);
  if (!g->ev || guard_put(w, g) ||
      event_base_once(base, -1, EV_TIMEOUT, on_conn_adopt, g, &now)) {
    if (g->ev)
      event_free(g->ev);
    guard_remove(w, g);
    bufferevent_decref(bev);
    free(g);
    return bev;
  }
  g->cb = evbuffer_add_cb(bufferevent_get_input(bev), on_conn_input, g);
  return bev;
}

static conn_guard *guard_of_req(worker *w, struct evhttp_request *req) {
  struct evhttp_connection *c = evhttp_request_get_connection(req);
  return c ? guard_of(w, evhttp_connection_get_bufferevent(c)) : NULL;
}

/* A request was delivered: it is no longer under the read deadline.
** 1: the connection may be served; 0: over --max-connections. */
static int conn_admit(worker *w, struct evhttp_request *req) {
  conn_guard *g = guard_of_req(w, req);
  if (!g)
    return 1;
  g->state = G_BUSY;
  evtimer_del(g->ev);
  if (g->admitted || w->o->max_connections <= 0)
    return 1;
  if (w->n_admitted >= w->o->max_connections)
    return 0;
  g->admitted = 1;
  w->n_admitted++;
  return 1;
}

/* The reply is on its way: bytes already read start the next deadline. */
static void conn_replied(worker *w, struct evhttp_request *req) {
  conn_guard *g = guard_of_req(w, req);
  if (!g)
    return;
  if (evbuffer_get_length(bufferevent_get_input(g->bev)))
    guard_arm(g);
  else
    g->state = G_IDLE;
}

/* ==== Routing ==== */

static void on_request(struct evhttp_request *req, void *arg) {
  worker *w = arg;
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
  const char *path = u ? evhttp_uri_get_path(u) : NULL;
  enum evhttp_cmd_type m = evhttp_request_get_command(req);
  char seg[6][256];
  int ns = 0, get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD,
      post = m == EVHTTP_REQ_POST, del = m == EVHTTP_REQ_DELETE;
  const char *p;
  w->inflight++;
  if (!conn_admit(w, req)) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "Limit exceeded: %d open connections per worker "
             "(--max-connections)",
             w->o->max_connections);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                      "close");
    reply_err(w, req, 429, "GAVEL_LIMIT", msg, NULL);
    return;
  }
  sync_store(w);
  if (!path)
    path = "/";
  /* split into at most 6 segments of at most 255 bytes */
  for (p = path; *p && ns < 7;) {
    size_t k = 0;
    while (*p == '/')
      p++;
    if (!*p)
      break;
    if (ns == 6)
      goto notfound;
    while (*p && *p != '/') {
      if (k == 255)
        goto notfound;
      seg[ns][k++] = *p++;
    }
    seg[ns++][k] = 0;
  }
#define S(i, s) (ns > (i) && !strcmp(seg[i], s))
  if (ns == 1 && S(0, "health"))
    { get ? h_health(w, req, 0) : reply_err(w, req, 405, NULL, "use GET", NULL); return; }
  if (ns == 2 && S(0, "healthz") && (S(1, "live") || S(1, "ready")))
    { get ? h_health(w, req, S(1, "live") ? 1 : 2)
               : reply_err(w, req, 405, NULL, "use GET", NULL); return; }
  if (ns == 1 && S(0, "metrics"))
    { get ? h_metrics(w, req) : reply_err(w, req, 405, NULL, "use GET", NULL); return; }
  if ((ns == 2 && S(0, "admin") && S(1, "reload")) ||
      (ns == 4 && S(0, "api") && S(1, "v1") && S(2, "admin") &&
       S(3, "reload")))
    { post ? h_reload(w, req) : reply_err(w, req, 405, NULL, "use POST", NULL); return; }
  if (ns < 3 || !S(0, "api") || !S(1, "v1"))
    goto notfound;
  if (ns > 3 && !serve_name_ok(seg[3])) { /* "..", "%2F..": never a file */
    find_or_404(w, req, seg[3]);
    return;
  }
  if (S(2, "eval") && ns == 3)
    { post ? h_eval(w, req) : reply_err(w, req, 405, NULL, "use POST", NULL); return; }
  if (S(2, "execute") && (ns == 4 || (ns == 5 && S(4, "batch")))) {
    if (!post)
      reply_err(w, req, 405, NULL, "use POST", NULL);
    else if (ns == 4)
      h_execute(w, req, seg[3]);
    else
      h_batch(w, req, seg[3]);
    return;
  }
  if (S(2, "rulesets")) {
    if (ns == 3) {
      if (get)
        { h_list(w, req); return; }
      if (post)
        { h_post_ruleset(w, req); return; }
      { reply_err(w, req, 405, NULL, "use GET or POST", NULL); return; }
    }
    if (ns == 4) {
      if (get)
        { h_get_ruleset(w, req, seg[3]); return; }
      if (del)
        { h_delete_ruleset(w, req, seg[3]); return; }
      { reply_err(w, req, 405, NULL, "use GET or DELETE", NULL); return; }
    }
    if (ns == 5 && S(4, "versions"))
      { get ? h_versions(w, req, seg[3])
                 : reply_err(w, req, 405, NULL, "use GET", NULL); return; }
    if (ns == 6 && S(4, "versions"))
      { get ? h_version(w, req, seg[3], seg[5])
                 : reply_err(w, req, 405, NULL, "use GET", NULL); return; }
    if (ns == 5 && S(4, "rollback"))
      { post ? h_rollback(w, req, seg[3])
                  : reply_err(w, req, 405, NULL, "use POST", NULL); return; }
  }
#undef S
notfound : {
  char msg[400];
  snprintf(msg, sizeof msg, "no route for %.300s", path);
  reply_err(w, req, 404, NULL, msg, NULL);
}
}

/* ==== Signals, life ==== */

static void on_term(evutil_socket_t fd, short what, void *arg) {
  worker *w = arg;
  struct timeval tv;
  (void)fd;
  (void)what;
  if (w->draining)
    return;
  w->draining = 1;
  if (w->bound) {
    evhttp_del_accept_socket(w->http, w->bound); /* stop accepting */
    w->bound = NULL;
  }
  tv.tv_sec = w->o->timeout_s;
  tv.tv_usec = 0;
  /* the deadline: in-flight requests get one request timeout */
  event_base_loopexit(w->base, &tv);
  check_drained(w);
}

static void on_int(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg; /* Ctrl-C reaches the whole group: the parent drains us */
}

static void on_hup(evutil_socket_t fd, short what, void *arg) {
  worker *w = arg;
  (void)fd;
  (void)what;
  /* compile everything that changed; the old versions serve until then,
  ** and a file that fails keeps its old version */
  w->store.gen = (uint64_t)-1;
  sync_store(w);
}

static gavel_ruleset *resolve(void *ud, const char *name) {
  worker *w = ud;
  serve_entry *e = serve_store_get(&w->store, name);
  return e ? e->rs : NULL;
}

static int listen_socket(const serve_opts *o) {
  struct addrinfo hints, *res = NULL, *ai;
  char port[16];
  int fd = -1, one = 1;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(port, sizeof port, "%d", o->port);
  if (getaddrinfo(o->host[0] ? o->host : NULL, port, &hints, &res))
    return -1;
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
      break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0)
    evutil_make_socket_nonblocking(fd);
  return fd;
}

int serve_worker(const serve_opts *o, serve_shm *shm, int slot) {
  worker w;
  gavel_error err;
  gavel_config cfg = o->cfg;
  /* audit lines leave through a flusher thread, off the request path: a
  ** run only copies its record (at most a second late on disk) */
  gavel_audit_opts ao = {GAVEL_AUDIT_GROUP_N, 1024, 0, 0};
  int fd, rc = 0;
  memset(&w, 0, sizeof w);
  w.o = o;
  w.shm = shm;
  w.slot = slot;
  signal(SIGPIPE, SIG_IGN);
  if (!(w.base = event_base_new()) || !(w.http = evhttp_new(w.base))) {
    fprintf(stderr, "gavel serve: worker %d: cannot start libevent\n", slot);
    return 3;
  }
  cfg.abi = GAVEL_VERSION_NUM;
  if (!cfg.max_timeout_ms)
    cfg.max_timeout_ms = (uint32_t)o->timeout_s * 1000u;
  if (gavel_runtime_new(&cfg, &w.rt, &err) != GAVEL_OK ||
      gavel_http_new(NULL, &w.hp, &err) != GAVEL_OK ||
      gavel_http_loop_new(w.hp, w.base, &w.loop, &err) != GAVEL_OK ||
      gavel_http_loop_provide(w.loop, w.rt, &err) != GAVEL_OK ||
      gavel_metrics_new(NULL, &w.metrics, &err) != GAVEL_OK ||
      gavel_metrics_provide(w.metrics, w.rt, &err) != GAVEL_OK ||
      gavel_metrics_attach(w.metrics, w.rt, &err) != GAVEL_OK ||
      (o->audit_file &&
       (gavel_audit_open(o->audit_file, &ao, &w.audit, &err) != GAVEL_OK ||
        gavel_audit_provide(w.audit, w.rt, &err) != GAVEL_OK ||
        gavel_audit_attach(w.audit, w.rt, &err) != GAVEL_OK))) {
    fprintf(stderr, "gavel serve: worker %d: error: %s\n", slot, err.msg);
    rc = 3;
    goto out;
  }
  cli_capture_off_path();
  if (cli_capture_start(w.rt)) { /* after the providers, before loads */
    rc = 3;
    goto out;
  }
  gavel_runtime_set_resolver(w.rt, resolve, &w);
  w.store.o = o;
  w.store.rt = w.rt;
  w.store.log_diags = slot == 0;
  w.store.gen = atomic_load(&shm->gen);
  serve_store_scan(&w.store);
  evhttp_set_max_body_size(w.http, (ev_ssize_t)o->max_body);
  evhttp_set_max_headers_size(w.http, 64 * 1024);
  evhttp_set_timeout(w.http, o->timeout_s + 1); /* idle: see the guards */
  evhttp_set_bevcb(w.http, on_conn_new, &w);
  /* every method reaches the router (405 there, not evhttp's 501) */
  evhttp_set_allowed_methods(w.http, 0xffff);
  evhttp_set_default_content_type(w.http, "application/json");
  evhttp_set_gencb(w.http, on_request, &w);
  w.ev_term = evsignal_new(w.base, SIGTERM, on_term, &w);
  w.ev_int = evsignal_new(w.base, SIGINT, on_int, &w);
  w.ev_hup = evsignal_new(w.base, SIGHUP, on_hup, &w);
  event_add(w.ev_term, NULL);
  event_add(w.ev_int, NULL);
  event_add(w.ev_hup, NULL);
  w.ev_tick = event_new(w.base, -1, EV_PERSIST, on_tick, &w);
  {
    struct timeval one = {1, 0};
    event_add(w.ev_tick, &one);
  }
  if ((fd = listen_socket(o)) < 0 ||
      !(w.bound = evhttp_accept_socket_with_handle(w.http, fd))) {
    fprintf(stderr, "gavel serve: worker %d: cannot listen on %s:%d: %s\n",
            slot, o->host, o->port, strerror(errno));
    if (fd >= 0)
      close(fd);
    rc = 3;
    goto out;
  }
  {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, NULL); /* blocked since the fork */
  }
  event_base_dispatch(w.base);
out:
  if (w.ev_drain)
    event_free(w.ev_drain);
  if (w.ev_term)
    event_free(w.ev_term);
  if (w.ev_int)
    event_free(w.ev_int);
  if (w.ev_hup)
    event_free(w.ev_hup);
  if (w.ev_tick)
    event_free(w.ev_tick);
  gavel_http_loop_free(w.loop); /* fails runs still parked (replies) */
  if (w.http)
    evhttp_free(w.http); /* closes connections: their guards go */
  { /* guards of connections never adopted */
    size_t k;
    for (k = 0; k < w.conns_cap; k++)
      if (w.conns[k]) {
        if (!w.conns[k]->evcon) /* evhttp freed it: ours is the last ref */
          bufferevent_decref(w.conns[k]->bev);
        event_free(w.conns[k]->ev);
        free(w.conns[k]);
      }
  }
  serve_store_free(&w.store);
  free(w.conns);
  if (w.audit && gavel_audit_close(w.audit, &err) != GAVEL_OK) {
    fprintf(stderr, "gavel serve: worker %d: %s\n", slot, err.msg);
    rc = rc ? rc : 1; /* lines lost: the exit says so */
  }
  if (cli_capture_end())
    rc = rc ? rc : 1;
  gavel_metrics_free(w.metrics);
  gavel_http_free(w.hp);
  gavel_runtime_free(w.rt);
  if (w.base)
    event_base_free(w.base);
  return rc;
}
