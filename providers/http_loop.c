/*
** http_loop.c -- network.http on an event loop: libcurl multi driven by
** libevent, for hosts that serve many runs on one thread (servers).
**
** The runtime registers network.http as an asynchronous capability; a run
** that calls it returns GAVEL_PENDING and is handed to this driver, which
** performs the call without blocking (after the policy's retry delay),
** resumes the run, and repeats while the run pends on network.http.  So
** one slow upstream delays only the runs that wait for it.  Requests are
** built and checked by http.c exactly as on the blocking path; all the
** transfers share the multi handle's connection cache.
** Everything here runs on the loop's thread; nothing blocks.
*/
#include "http_int.h"
#include "json.h"
#include "sched.h"
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#define POOL_MAX 16 /* idle easy handles kept for reuse */

typedef struct xfer xfer;
struct xfer {
  gavel_http_loop *l;       /* owner                                   */
  gavel_exec *ex;           /* the run this call belongs to            */
  gavel_http_done_fn done;  /* completion callback                     */
  void *ud;                 /* its user data                           */
  http_call c;              /* the request being performed             */
  CURL *easy;               /* handle of the hop in flight, or NULL    */
  struct event *timer;      /* retry delay / deferred start or done    */
  int final;                /* 1: the run ended, deliver on the timer  */
  gavel_status st;          /* final status (when 'final')             */
  gavel_error err;          /* final error (when 'final')              */
  const char *out;          /* final result JSON (borrowed from 'ex')  */
  size_t out_len;           /* its length                              */
  xfer *next;               /* active list                             */
  xfer *prev;               /* previous in the active list             */
};

struct gavel_http_loop {
  gavel_http *h;            /* options (borrowed)                      */
  struct event_base *base;  /* the loop (borrowed)                     */
  CURLM *multi;             /* all transfers, one connection cache     */
  struct event *timer;      /* libcurl's timeout                       */
  xfer *active;             /* executions being driven                 */
  size_t n_active;          /* count                                   */
  CURL *pool[POOL_MAX];     /* idle easy handles                       */
  int n_pool;               /* count                                   */
  int freeing;              /* 1 while gavel_http_loop_free runs       */
};

static void check_done(gavel_http_loop *l);
static void on_xfer_timer(evutil_socket_t fd, short what, void *arg);

/* ==== libcurl <-> libevent glue (the hiperfifo pattern) ==== */

static void on_sock_event(evutil_socket_t fd, short what, void *arg) {
  gavel_http_loop *l = arg;
  int running, act = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                     ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  curl_multi_socket_action(l->multi, fd, act, &running);
  check_done(l);
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg) {
  gavel_http_loop *l = arg;
  int running;
  (void)fd;
  (void)what;
  curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(l);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp,
                     void *socketp) {
  gavel_http_loop *l = userp;
  struct event *ev = socketp;
  short kind;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (ev) {
      event_free(ev);
      curl_multi_assign(l->multi, s, NULL);
    }
    return 0;
  }
  kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
  if (ev) {
    event_del(ev);
    event_assign(ev, l->base, s, kind, on_sock_event, l);
  } else {
    if (!(ev = event_new(l->base, s, kind, on_sock_event, l)))
      return -1;
    curl_multi_assign(l->multi, s, ev);
  }
  event_add(ev, NULL);
  return 0;
}

static int on_timer_set(CURLM *m, long ms, void *userp) {
  gavel_http_loop *l = userp;
  struct timeval tv;
  (void)m;
  if (ms < 0) {
    evtimer_del(l->timer);
    return 0;
  }
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  evtimer_add(l->timer, &tv);
  return 0;
}

/* ==== Transfers ==== */

static CURL *easy_get(gavel_http_loop *l) {
  if (l->n_pool)
    return l->pool[--l->n_pool];
  return curl_easy_init();
}

static void easy_put(gavel_http_loop *l, CURL *e) {
  if (!e)
    return;
  curl_easy_reset(e);
  if (l->n_pool < POOL_MAX)
    l->pool[l->n_pool++] = e;
  else
    curl_easy_cleanup(e);
}

static void xfer_unlink(xfer *x) {
  gavel_http_loop *l = x->l;
  if (x->prev)
    x->prev->next = x->next;
  else
    l->active = x->next;
  if (x->next)
    x->next->prev = x->prev;
  l->n_active--;
}

static void xfer_free(xfer *x) {
  if (x->easy) {
    curl_multi_remove_handle(x->l->multi, x->easy);
    easy_put(x->l, x->easy);
  }
  http_call_clean(&x->c);
  if (x->timer)
    event_free(x->timer);
  free(x);
}

static void arm(xfer *x, uint32_t delay_ms) {
  struct timeval tv;
  tv.tv_sec = delay_ms / 1000;
  tv.tv_usec = (long)(delay_ms % 1000) * 1000;
  evtimer_add(x->timer, &tv);
}

/* The run of 'x' ended (or pends elsewhere): tell the host. */
static void deliver(xfer *x) {
  xfer_unlink(x);
  x->done(x->ud, x->ex, x->st, x->out, x->out_len, &x->err);
  xfer_free(x);
}

/* After a resume: go on with the next network.http call, or deliver. */
static void after_resume(xfer *x, gavel_status st, const char *out,
                         size_t len) {
  const gv_hostreq *req = gavel__exec_pending_req(x->ex);
  if (st == GAVEL_PENDING && http_is_http(req) && !x->l->freeing) {
    arm(x, req->delay_ms);
    return;
  }
  if (st == GAVEL_PENDING && x->l->freeing) {
    gavel_exec_abandon(x->ex);
    st = gavel__errorf(&x->err, GAVEL_HOST,
                       "network.http: event loop shut down");
  }
  x->st = st;
  x->out = out;
  x->out_len = len;
  deliver(x);
}

static void fail_call(xfer *x, const char *msg) {
  const char *out = NULL;
  size_t len = 0;
  gavel_status st;
  if (x->easy) {
    curl_multi_remove_handle(x->l->multi, x->easy);
    easy_put(x->l, x->easy);
    x->easy = NULL;
  }
  http_call_clean(&x->c);
  st = gavel_exec_resume_error(x->ex, msg, &out, &len, &x->err);
  after_resume(x, st, out, len);
}

/* The response as JSON text, resumed into the run. */
static void answer_call(xfer *x) {
  gv_arena a;
  gvalue p, m;
  gv_buf pb, mb;
  char msg[GAVEL_ERRMSG_SIZE];
  const char *out = NULL;
  size_t len = 0;
  gavel_status st;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&pb, &gavel__default_alloc);
  gavel__buf_init(&mb, &gavel__default_alloc);
  if (http_result(&x->c, &a, &p, &m, msg, sizeof msg) == 0) {
    gavel__json_write(&pb, p);
    gavel__json_write(&mb, m);
  }
  gavel__arena_free(&a);
  easy_put(x->l, x->easy);
  x->easy = NULL;
  http_call_clean(&x->c);
  if (!pb.len || pb.oom || mb.oom)
    st = gavel_exec_resume_error(x->ex, pb.len ? "out of memory" : msg, &out,
                                 &len, &x->err);
  else
    st = gavel_exec_resume_json(x->ex, pb.p, pb.len, mb.p, mb.len, &out, &len,
                                &x->err);
  gavel__buf_free(&pb);
  gavel__buf_free(&mb);
  after_resume(x, st, out, len);
}

static void start_hop(xfer *x) {
  char msg[GAVEL_ERRMSG_SIZE];
  if (!x->easy && !(x->easy = easy_get(x->l))) {
    fail_call(x, "network.http: cannot create a libcurl handle");
    return;
  }
  curl_easy_reset(x->easy);
  if (http_setup(&x->c, x->easy, msg, sizeof msg)) {
    fail_call(x, msg);
    return;
  }
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
  if (curl_multi_add_handle(x->l->multi, x->easy) != CURLM_OK)
    fail_call(x, "network.http: cannot start the transfer");
}

static void hop_done(xfer *x, CURLcode rc) {
  char msg[GAVEL_ERRMSG_SIZE];
  int again;
  curl_multi_remove_handle(x->l->multi, x->easy);
  if (rc != CURLE_OK) {
    http_fail_msg(&x->c, rc, msg, sizeof msg);
    fail_call(x, msg);
  } else if (http_after_hop(&x->c, x->easy, &again, msg, sizeof msg))
    fail_call(x, msg);
  else if (again)
    start_hop(x);
  else
    answer_call(x);
}

static void check_done(gavel_http_loop *l) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(l->multi, &left))) {
    xfer *x = NULL;
    CURLcode rc = m->data.result;
    if (m->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if (x)
      hop_done(x, rc);
  }
}

/* Timer of a transfer: deliver a final status, or (after the retry
** delay) build and start the pending call. */
static void on_xfer_timer(evutil_socket_t fd, short what, void *arg) {
  xfer *x = arg;
  const gv_hostreq *req = gavel__exec_pending_req(x->ex);
  char msg[GAVEL_ERRMSG_SIZE];
  (void)fd;
  (void)what;
  if (x->final) {
    deliver(x);
    return;
  }
  memset(&x->c, 0, sizeof x->c);
  if (GAVEL_NEVER(!http_is_http(req))) {
    fail_call(x, "network.http: the execution is no longer pending");
    return;
  }
  if (http_req_build(x->l->h, req, &x->c, msg, sizeof msg)) {
    fail_call(x, msg);
    return;
  }
  start_hop(x);
}

/* ==== Public API ==== */

gavel_status gavel_http_loop_new(gavel_http *h, struct event_base *base,
                                 gavel_http_loop **out, gavel_error *err) {
  gavel_http_loop *l;
  gavel__error_clear(err);
  if (!h || !base || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_loop_new: NULL "
                         "argument");
  if (!(l = calloc(1, sizeof *l)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  l->h = h;
  l->base = base;
  l->multi = curl_multi_init();
  l->timer = evtimer_new(base, on_curl_timeout, l);
  if (!l->multi || !l->timer) {
    if (l->multi)
      curl_multi_cleanup(l->multi);
    if (l->timer)
      event_free(l->timer);
    free(l);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
  *out = l;
  return GAVEL_OK;
}

gavel_status gavel_http_loop_provide(gavel_http_loop *l, gavel_runtime *rt,
                                     gavel_error *err) {
  gavel__error_clear(err);
  if (!l || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_loop_provide: NULL "
                         "argument");
  return gavel_runtime_provide(rt, "network.http", NULL, NULL, err);
}

static xfer *xfer_new(gavel_http_loop *l, gavel_exec *ex,
                      gavel_http_done_fn done, void *ud) {
  xfer *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  if (!(x->timer = evtimer_new(l->base, on_xfer_timer, x))) {
    free(x);
    return NULL;
  }
  x->l = l;
  x->ex = ex;
  x->done = done;
  x->ud = ud;
  x->next = l->active;
  if (l->active)
    l->active->prev = x;
  l->active = x;
  l->n_active++;
  return x;
}

gavel_status gavel_http_loop_submit(gavel_http_loop *l, gavel_exec *ex,
                                    gavel_http_done_fn done, void *ud,
                                    gavel_error *err) {
  const gv_hostreq *req;
  xfer *x;
  gavel__error_clear(err);
  if (!l || !ex || !done)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_loop_submit: NULL "
                         "argument");
  req = gavel__exec_pending_req(ex);
  if (!http_is_http(req))
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_loop_submit: the "
                         "execution is not waiting for network.http");
  if (!(x = xfer_new(l, ex, done, ud)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  arm(x, req->delay_ms);
  return GAVEL_OK;
}

gavel_status gavel_http_loop_run(gavel_http_loop *l, gavel_exec *ex,
                                 const char *input, size_t len,
                                 unsigned flags, gavel_http_done_fn done,
                                 void *ud, gavel_error *err) {
  xfer *x;
  gavel_status st;
  gavel__error_clear(err);
  if (!l || !ex || !done)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_loop_run: NULL "
                         "argument");
  if (!(x = xfer_new(l, ex, done, ud)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  st = gavel_exec_run_json(ex, input, len, flags, &x->out, &x->out_len,
                           &x->err);
  if (st == GAVEL_PENDING && http_is_http(gavel__exec_pending_req(ex))) {
    arm(x, gavel__exec_pending_req(ex)->delay_ms);
    return GAVEL_OK;
  }
  x->final = 1; /* delivered from the loop, never from here */
  x->st = st;
  arm(x, 0);
  return GAVEL_OK;
}

size_t gavel_http_loop_active(const gavel_http_loop *l) {
  return l ? l->n_active : 0;
}

void gavel_http_loop_free(gavel_http_loop *l) {
  if (!l)
    return;
  l->freeing = 1;
  while (l->active) {
    xfer *x = l->active;
    evtimer_del(x->timer);
    if (x->final)
      deliver(x);
    else
      fail_call(x, "network.http: event loop shut down");
  }
  while (l->n_pool)
    curl_easy_cleanup(l->pool[--l->n_pool]);
  curl_multi_cleanup(l->multi);
  event_free(l->timer);
  free(l);
}
