/*
** http.c -- the network.http capability on libcurl (blocking path) and
** the request/response code shared with the event-loop driver.
**
** A call: the action's method (any case) is the HTTP method; params
** 'url' (required), 'headers', 'query', 'json_body' (sent as JSON) or
** 'body'.  The URL is parsed once with curl_url (CURLU), checked against
** the ruleset's allowlist before anything touches the network, and the
** same CURLU handle is what libcurl fetches, so the host that was checked
** is the host that is contacted.  Redirects are followed here, not by
** libcurl: each Location is re-checked the same way.  The answer is
** Ordo's shape {status, body, json_body?, headers}; a non-2xx status is a
** result, not an error.
** This file never touches the scheduler: timeouts, retries and the
** breaker belong to the engine's policies (core/host.c).
*/
#include "http_int.h"
#include "json.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

struct http_easy {
  CURL *easy;         /* the thread's handle (keeps its connections)  */
  gavel_http *h;      /* owner                                        */
  http_easy *next;    /* list of all threads' handles                 */
  http_easy *prev;    /* previous in the list                         */
};

void gavel_providers_free(void *p) { free(p); }

/* ==== Lifecycle and per-thread handles ==== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static char *dup_or_null(const char *s) {
  char *d;
  size_t n;
  if (!s)
    return NULL;
  n = strlen(s) + 1;
  if ((d = malloc(n)))
    memcpy(d, s, n);
  return d;
}

static void easy_dtor(void *p) {
  http_easy *e = p;
  pthread_mutex_lock(&e->h->mu);
  if (e->prev)
    e->prev->next = e->next;
  else
    e->h->easies = e->next;
  if (e->next)
    e->next->prev = e->prev;
  pthread_mutex_unlock(&e->h->mu);
  curl_easy_cleanup(e->easy);
  free(e);
}

gavel_status gavel_http_new(const gavel_http_opts *opts, gavel_http **out,
                            gavel_error *err) {
  gavel_http *h;
  gavel__error_clear(err);
  if (!out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_new: NULL argument");
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return gavel__errorf(err, GAVEL_IO, "network.http: libcurl init: %s",
                         curl_easy_strerror(curl_init_rc));
  if (!(h = calloc(1, sizeof *h)))
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  if (opts)
    h->o = *opts;
  if (!h->o.default_timeout_ms)
    h->o.default_timeout_ms = 10000;
  if (!h->o.connect_timeout_ms)
    h->o.connect_timeout_ms = 5000;
  if (!h->o.max_redirects)
    h->o.max_redirects = 10;
  if (!h->o.max_body_bytes)
    h->o.max_body_bytes = 16u << 20;
  h->user_agent = dup_or_null(h->o.user_agent ? h->o.user_agent
                                              : "gavel/" GAVEL_VERSION_STRING);
  h->proxy = dup_or_null(h->o.proxy);
  h->ca_file = dup_or_null(h->o.ca_file);
  if (!h->user_agent || (h->o.proxy && !h->proxy) ||
      (h->o.ca_file && !h->ca_file) ||
      pthread_key_create(&h->key, easy_dtor) != 0) {
    free(h->user_agent);
    free(h->proxy);
    free(h->ca_file);
    free(h);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  h->o.user_agent = h->user_agent;
  h->o.proxy = h->proxy;
  h->o.ca_file = h->ca_file;
  pthread_mutex_init(&h->mu, NULL);
  *out = h;
  return GAVEL_OK;
}

void gavel_http_free(gavel_http *h) {
  http_easy *e, *next;
  if (!h)
    return;
  pthread_key_delete(h->key); /* no destructor runs after this */
  for (e = h->easies; e; e = next) {
    next = e->next;
    curl_easy_cleanup(e->easy);
    free(e);
  }
  pthread_mutex_destroy(&h->mu);
  free(h->user_agent);
  free(h->proxy);
  free(h->ca_file);
  free(h);
}

/* The calling thread's easy handle, created on first use. */
static CURL *thread_easy(gavel_http *h) {
  http_easy *e = pthread_getspecific(h->key);
  if (e)
    return e->easy;
  if (!(e = calloc(1, sizeof *e)))
    return NULL;
  if (!(e->easy = curl_easy_init())) {
    free(e);
    return NULL;
  }
  e->h = h;
  pthread_mutex_lock(&h->mu);
  e->next = h->easies;
  if (h->easies)
    h->easies->prev = e;
  h->easies = e;
  pthread_mutex_unlock(&h->mu);
  pthread_setspecific(h->key, e);
  return e->easy;
}

/* ==== Allowlist ==== */

/* The allowlist itself is decided in one place, core/allow.c
** (gavel_http_allow_match), which the Lua providers reach over the FFI:
** C and Lua providers of network.http cannot disagree. */

/* Checks the scheme, host and port of 'u'.  'what' prefixes the host in
** the message ("host" or "redirect to host"). */
static int allow_check(CURLU *u, const char *const *allow, size_t n,
                       const char *what, char *msg, size_t msz) {
  char *scheme = NULL, *host = NULL, *port = NULL;
  long pn;
  int ok = 0;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
    snprintf(msg, msz, "network.http: URL without scheme, host or port");
    goto done;
  }
  if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
    snprintf(msg, msz, "network.http: scheme '%s' is not allowed (http and "
             "https only)", scheme);
    goto done;
  }
  pn = strtol(port, NULL, 10);
  ok = gavel_http_allow_match(scheme, host, strlen(host), pn, allow, n);
  if (!ok)
    snprintf(msg, msz, "network.http: %s %s:%ld is not in the allowlist",
             what, host, pn);
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  return !ok;
}

int gavel_http_allowed(const char *url, const char *const *allow, size_t n,
                       char *why, size_t why_size) {
  CURLU *u = curl_url();
  char tmp[256];
  int bad;
  if (!why || !why_size) {
    why = tmp;
    why_size = sizeof tmp;
  }
  if (!u || !url || curl_url_set(u, CURLUPART_URL, url, 0)) {
    snprintf(why, why_size, "network.http: invalid url");
    curl_url_cleanup(u);
    return 0;
  }
  bad = allow_check(u, allow, n, "host", why, why_size);
  curl_url_cleanup(u);
  return !bad;
}

/* ==== Building a request from the call's parameters ==== */

static const gvalue *param(const gv_hostreq *req, const char *k) {
  const gvalue *v;
  if (req->params.tag != GV_OBJ)
    return NULL;
  v = gavel__obj_get(req->params.u.o, k, strlen(k));
  return v && v->tag != GV_NULL && v->tag != GV_MISSING ? v : NULL;
}

/* Room for any number's text: a float displays in full decimal, as Ordo
** prints it (1e308: 309 digits; 5e-324: 326 characters). */
#define SCALAR_TEXT_MAX 400

/* Text of a scalar (string, number, bool) in 'buf' (SCALAR_TEXT_MAX
** bytes) or borrowed; NULL for anything else, "" with *len = SIZE_MAX
** when the text could not be built (out of memory). */
static const char *scalar_text(gvalue v, char *buf, size_t n, size_t *len) {
  switch (v.tag) {
  case GV_STR:
    *len = v.u.s->len;
    return v.u.s->s;
  case GV_INT:
    *len = (size_t)snprintf(buf, n, "%lld", (long long)v.u.i);
    return buf;
  case GV_FLOAT: {
    gv_buf b;
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__value_display(&b, v);
    if (b.oom || b.len >= n) { /* never a number cut short */
      gavel__buf_free(&b);
      *len = SIZE_MAX;
      buf[0] = 0;
      return buf;
    }
    *len = b.len;
    memcpy(buf, b.p, b.len);
    buf[*len] = 0;
    gavel__buf_free(&b);
    return buf;
  }
  case GV_BOOL:
    *len = v.u.i ? 4 : 5;
    return v.u.i ? "true" : "false";
  default:
    return NULL;
  }
}

static int is_tchar(int ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int add_header(http_call *c, const char *name, size_t nl,
                      const char *val, size_t vl, char *msg, size_t n) {
  size_t i;
  char *line;
  for (i = 0; i < nl; i++)
    if (!is_tchar((unsigned char)name[i]))
      break;
  if (!nl || i < nl) {
    snprintf(msg, n, "network.http: invalid header name '%.*s'", (int)nl, name);
    return 1;
  }
  for (i = 0; i < vl; i++)
    if (val[i] == '\r' || val[i] == '\n' || val[i] == 0) {
      snprintf(msg, n, "network.http: header '%.*s' has a line break or "
               "NUL in its value", (int)nl, name);
      return 1;
    }
  if (c->n_hdr == HTTP_MAX_HEADERS) {
    snprintf(msg, n, "network.http: more than %d headers", HTTP_MAX_HEADERS);
    return 1;
  }
  if (!(line = malloc(nl + vl + 3))) {
    snprintf(msg, n, "out of memory");
    return 1;
  }
  memcpy(line, name, nl);
  memcpy(line + nl, ": ", 2);
  memcpy(line + nl + 2, val, vl);
  line[nl + 2 + vl] = 0;
  c->hdr[c->n_hdr++] = line;
  return 0;
}

static int build_headers(http_call *c, const gv_hostreq *req, char *msg,
                         size_t n) {
  const gvalue *hv = param(req, "headers");
  uint32_t i;
  if (!hv)
    return 0;
  if (hv->tag != GV_OBJ) {
    snprintf(msg, n, "network.http: 'headers' must be an object of strings");
    return 1;
  }
  for (i = 0; i < hv->u.o->len; i++) {
    char buf[SCALAR_TEXT_MAX];
    size_t vl;
    const char *v = scalar_text(hv->u.o->vals[i], buf, sizeof buf, &vl);
    const gv_str *k = hv->u.o->keys[i];
    if (hv->u.o->vals[i].tag == GV_NULL)
      continue;
    if (!v) {
      snprintf(msg, n, "network.http: header '%s' must be a string", k->s);
      return 1;
    }
    if (vl == SIZE_MAX) {
      snprintf(msg, n, "network.http: out of memory");
      return 1;
    }
    if (add_header(c, k->s, k->len, v, vl, msg, n))
      return 1;
  }
  return 0;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void pct_encode(gv_buf *b, const char *p, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
      gavel__buf_addc(b, (char)ch);
    else {
      gavel__buf_addc(b, '%');
      gavel__buf_addc(b, hex[ch >> 4]);
      gavel__buf_addc(b, hex[ch & 15]);
    }
  }
}

static int query_pair(CURLU *u, const gv_str *k, gvalue v, char *msg,
                      size_t n) {
  char buf[SCALAR_TEXT_MAX];
  size_t vl;
  const char *s = scalar_text(v, buf, sizeof buf, &vl);
  gv_buf b;
  int bad;
  if (!s) {
    snprintf(msg, n, "network.http: query value '%s' must be a string, "
             "number, bool or list of them", k->s);
    return 1;
  }
  if (vl == SIZE_MAX) {
    snprintf(msg, n, "network.http: out of memory");
    return 1;
  }
  gavel__buf_init(&b, &gavel__default_alloc);
  pct_encode(&b, k->s, k->len);
  gavel__buf_addc(&b, '=');
  pct_encode(&b, s, vl);
  bad = b.oom || curl_url_set(u, CURLUPART_QUERY, b.p, CURLU_APPENDQUERY);
  gavel__buf_free(&b);
  if (bad)
    snprintf(msg, n, "network.http: cannot add query parameter '%s'", k->s);
  return bad;
}

static int build_query(http_call *c, const gv_hostreq *req, char *msg,
                       size_t n) {
  const gvalue *qv = param(req, "query");
  uint32_t i, j;
  if (!qv)
    return 0;
  if (qv->tag != GV_OBJ) {
    snprintf(msg, n, "network.http: 'query' must be an object");
    return 1;
  }
  for (i = 0; i < qv->u.o->len; i++) {
    gvalue v = qv->u.o->vals[i];
    if (v.tag == GV_NULL)
      continue;
    if (v.tag != GV_ARR) {
      if (query_pair(c->url, qv->u.o->keys[i], v, msg, n))
        return 1;
      continue;
    }
    for (j = 0; j < v.u.a->len; j++)
      if (query_pair(c->url, qv->u.o->keys[i], v.u.a->items[j], msg, n))
        return 1;
  }
  return 0;
}

static int has_header(const http_call *c, const char *name) {
  size_t nl = strlen(name);
  int i;
  for (i = 0; i < c->n_hdr; i++)
    if (!strncasecmp(c->hdr[i], name, nl) && c->hdr[i][nl] == ':')
      return 1;
  return 0;
}

static int build_body(http_call *c, const gv_hostreq *req, char *msg,
                      size_t n) {
  const gvalue *jb = param(req, "json_body"), *bd = param(req, "body");
  gv_buf b;
  if (jb && bd) {
    snprintf(msg, n, "network.http: give 'json_body' or 'body', not both");
    return 1;
  }
  if (!jb && !bd)
    return 0;
  gavel__buf_init(&b, &gavel__default_alloc);
  if (jb)
    gavel__json_write(&b, *jb);
  else if (bd->tag == GV_STR)
    gavel__buf_add(&b, bd->u.s->s, bd->u.s->len);
  else
    gavel__json_write(&b, *bd);
  if (b.oom || !(c->body = malloc(b.len + 1))) {
    gavel__buf_free(&b);
    snprintf(msg, n, "out of memory");
    return 1;
  }
  memcpy(c->body, b.p ? b.p : "", b.len);
  c->body[b.len] = 0;
  c->body_len = b.len;
  gavel__buf_free(&b);
  if (jb && !has_header(c, "Content-Type"))
    return add_header(c, "Content-Type", 12, "application/json", 16, msg, n);
  return 0;
}

static int set_method(http_call *c, const gv_str *op, char *msg, size_t n) {
  uint32_t i;
  if (!op->len || op->len >= sizeof c->method) {
    snprintf(msg, n, "network.http: invalid method '%s'", op->s);
    return 1;
  }
  for (i = 0; i < op->len; i++) {
    unsigned char ch = (unsigned char)op->s[i];
    if (!isalnum(ch) && ch != '-' && ch != '_') {
      snprintf(msg, n, "network.http: invalid method '%s'", op->s);
      return 1;
    }
    c->method[i] = (char)toupper(ch);
  }
  c->method[op->len] = 0;
  return 0;
}

int http_req_build(const gavel_http *h, const gv_hostreq *req, http_call *c,
                   char *msg, size_t n) {
  const gvalue *url = param(req, "url");
  CURLUcode uc;
  c->h = h;
  c->allow = req->allow;
  c->n_allow = req->n_allow;
  c->timeout_ms = req->timeout_ms ? req->timeout_ms : h->o.default_timeout_ms;
  c->deadline_ns = gavel__now_ns() + (uint64_t)c->timeout_ms * 1000000u;
  if (set_method(c, req->operation, msg, n))
    return 1;
  if (!url || url->tag != GV_STR) {
    snprintf(msg, n, "network.http: parameter 'url' (a string) is required");
    return 1;
  }
  if (!(c->url = curl_url())) {
    snprintf(msg, n, "out of memory");
    return 1;
  }
  if ((uc = curl_url_set(c->url, CURLUPART_URL, url->u.s->s, 0)) != 0) {
    snprintf(msg, n, "network.http: invalid url '%.200s': %s", url->u.s->s,
             curl_url_strerror(uc));
    return 1;
  }
  if (allow_check(c->url, c->allow, c->n_allow, "host", msg, n))
    return 1;
  return build_query(c, req, msg, n) || build_headers(c, req, msg, n) ||
         build_body(c, req, msg, n);
}

void http_call_clean(http_call *c) {
  int i;
  curl_url_cleanup(c->url);
  c->url = NULL;
  for (i = 0; i < c->n_hdr; i++)
    free(c->hdr[i]);
  c->n_hdr = 0;
  free(c->body);
  c->body = NULL;
  curl_slist_free_all(c->slist);
  c->slist = NULL;
  free(c->resp);
  c->resp = NULL;
  free(c->rhdr);
  c->rhdr = NULL;
}

int http_is_http(const gv_hostreq *req) {
  return req && gavel__str_eqn(req->capability, "network.http", 12);
}

/* ==== One hop: libcurl options and callbacks ==== */

static int grow(char **p, size_t *cap, size_t need) {
  size_t nc = *cap ? *cap : 1024;
  char *np;
  while (nc < need)
    nc *= 2;
  if (nc == *cap)
    return 0;
  if (!(np = realloc(*p, nc)))
    return 1;
  *p = np;
  *cap = nc;
  return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  http_call *c = ud;
  size_t n = size * nmemb;
  if (c->resp_len + n > c->h->o.max_body_bytes) {
    c->too_big = 1;
    return 0;
  }
  if (grow(&c->resp, &c->resp_cap, c->resp_len + n + 1))
    return 0;
  memcpy(c->resp + c->resp_len, ptr, n);
  c->resp_len += n;
  return n;
}

/* Keeps "name\0value\0" pairs of the last response (a status line starts
** a new response: interim 1xx answers and redirect hops are dropped). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  http_call *c = ud;
  size_t n = size * nmemb, nl, vs, ve, i;
  char *colon;
  if (n >= 5 && !memcmp(ptr, "HTTP/", 5)) {
    c->rhdr_len = 0;
    return n;
  }
  if (!(colon = memchr(ptr, ':', n)) || colon == ptr)
    return n;
  nl = (size_t)(colon - ptr);
  for (vs = nl + 1; vs < n && (ptr[vs] == ' ' || ptr[vs] == '\t'); vs++)
    ;
  for (ve = n; ve > vs && isspace((unsigned char)ptr[ve - 1]); ve--)
    ;
  if (c->rhdr_len + nl + (ve - vs) + 2 > HTTP_MAX_RESP_HDR ||
      grow(&c->rhdr, &c->rhdr_cap, c->rhdr_len + nl + (ve - vs) + 2)) {
    c->hdr_too_big = 1; /* the call fails: never headers left out */
    return 0;
  }
  for (i = 0; i < nl; i++)
    c->rhdr[c->rhdr_len++] = (char)tolower((unsigned char)ptr[i]);
  c->rhdr[c->rhdr_len++] = 0;
  memcpy(c->rhdr + c->rhdr_len, ptr + vs, ve - vs);
  c->rhdr_len += ve - vs;
  c->rhdr[c->rhdr_len++] = 0;
  return n;
}

static int build_slist(http_call *c) {
  struct curl_slist *s = NULL, *t;
  int i;
  /* "Expect:" turns off 100-continue (a round trip on large bodies);
  ** "Content-Type:" stops libcurl's default form type on plain bodies. */
  const char *extra[2] = {"Expect:", NULL};
  if (c->body && !has_header(c, "Content-Type"))
    extra[1] = "Content-Type:";
  for (i = 0; i < c->n_hdr + 2; i++) {
    const char *line = i < c->n_hdr ? c->hdr[i] : extra[i - c->n_hdr];
    if (!line)
      continue;
    if (!(t = curl_slist_append(s, line))) {
      curl_slist_free_all(s);
      return 1;
    }
    s = t;
  }
  curl_slist_free_all(c->slist);
  c->slist = s;
  return 0;
}

static void set_method_opts(http_call *c, CURL *e) {
  const char *body = c->body ? c->body : "";
  int wants_body = c->body || !strcmp(c->method, "POST") ||
                   !strcmp(c->method, "PUT") || !strcmp(c->method, "PATCH");
  if (!strcmp(c->method, "HEAD")) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    return;
  }
  if (!strcmp(c->method, "GET") && !c->body) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    return;
  }
  if (wants_body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  }
  if (strcmp(c->method, "POST"))
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
}

int http_setup(http_call *c, CURL *e, char *msg, size_t n) {
  const gavel_http *h = c->h;
  uint64_t now = gavel__now_ns();
  long left;
  if (now >= c->deadline_ns) {
    snprintf(msg, n, "network.http: timeout after %u ms", c->timeout_ms);
    return 1;
  }
  left = (long)((c->deadline_ns - now + 999999u) / 1000000u);
  c->resp_len = c->rhdr_len = 0;
  c->too_big = c->hdr_too_big = 0;
  c->errbuf[0] = 0;
  if (build_slist(c)) {
    snprintf(msg, n, "out of memory");
    return 1;
  }
  curl_easy_setopt(e, CURLOPT_CURLU, c->url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   left < (long)h->o.connect_timeout_ms
                       ? left : (long)h->o.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_USERAGENT, h->o.user_agent);
  curl_easy_setopt(e, CURLOPT_PROXY, h->o.proxy ? h->o.proxy : "");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  if (h->o.ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, h->o.ca_file);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->slist);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
  set_method_opts(c, e);
  return 0;
}

/* "GET http://host:port/path" without user info or query (no secrets in
** messages). */
static void describe(const http_call *c, char *buf, size_t n) {
  char *s = NULL, *h = NULL, *p = NULL, *path = NULL;
  curl_url_get(c->url, CURLUPART_SCHEME, &s, 0);
  curl_url_get(c->url, CURLUPART_HOST, &h, 0);
  curl_url_get(c->url, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT);
  curl_url_get(c->url, CURLUPART_PATH, &path, 0);
  snprintf(buf, n, "%s %s://%s:%s%s", c->method, s ? s : "?", h ? h : "?",
           p ? p : "?", path ? path : "");
  curl_free(s);
  curl_free(h);
  curl_free(p);
  curl_free(path);
}

void http_fail_msg(http_call *c, CURLcode rc, char *msg, size_t n) {
  char what[300];
  describe(c, what, sizeof what);
  if (c->too_big)
    snprintf(msg, n, "network.http: response body exceeds %zu bytes (%s)",
             c->h->o.max_body_bytes, what);
  else if (c->hdr_too_big)
    snprintf(msg, n, "network.http: response headers larger than %u bytes "
             "(%s)", (unsigned)HTTP_MAX_RESP_HDR, what);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    snprintf(msg, n, "network.http: timeout after %u ms (%s)", c->timeout_ms,
             what);
  else
    snprintf(msg, n, "network.http: %s (%s)",
             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc), what);
}

/* ==== Redirects ==== */

static int same_origin(CURLU *a, CURLU *b) {
  static const CURLUPart parts[3] = {CURLUPART_SCHEME, CURLUPART_HOST,
                                     CURLUPART_PORT};
  int i, same = 1;
  for (i = 0; i < 3 && same; i++) {
    char *x = NULL, *y = NULL;
    curl_url_get(a, parts[i], &x, CURLU_DEFAULT_PORT);
    curl_url_get(b, parts[i], &y, CURLU_DEFAULT_PORT);
    same = x && y && !strcasecmp(x, y);
    curl_free(x);
    curl_free(y);
  }
  return same;
}

/* Credentials never follow a redirect to another origin (as libcurl). */
static void drop_credentials(http_call *c) {
  static const char *const names[] = {"Authorization", "Cookie",
                                      "Proxy-Authorization"};
  int i, j, k;
  for (i = j = 0; i < c->n_hdr; i++) {
    int drop = 0;
    for (k = 0; k < 3; k++) {
      size_t nl = strlen(names[k]);
      if (!strncasecmp(c->hdr[i], names[k], nl) && c->hdr[i][nl] == ':')
        drop = 1;
    }
    if (drop)
      free(c->hdr[i]);
    else
      c->hdr[j++] = c->hdr[i];
  }
  c->n_hdr = j;
}

/* 303 (and 301/302 after a POST) continue as GET without a body. */
static void redirect_method(http_call *c) {
  if ((c->status == 303 && strcmp(c->method, "HEAD")) ||
      ((c->status == 301 || c->status == 302) && !strcmp(c->method, "POST"))) {
    memcpy(c->method, "GET", 4);
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
  }
}

int http_after_hop(http_call *c, CURL *e, int *again, char *msg, size_t n) {
  char *loc = NULL;
  CURLU *nu;
  *again = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
  if (c->h->o.no_redirects ||
      !(c->status == 301 || c->status == 302 || c->status == 303 ||
        c->status == 307 || c->status == 308) ||
      curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc)
    return 0;
  if (c->hops >= c->h->o.max_redirects) {
    snprintf(msg, n, "network.http: too many redirects (more than %u)",
             c->h->o.max_redirects);
    return 1;
  }
  if (!(nu = curl_url()) || curl_url_set(nu, CURLUPART_URL, loc, 0)) {
    snprintf(msg, n, "network.http: invalid redirect location '%.200s'", loc);
    curl_url_cleanup(nu);
    return 1;
  }
  if (allow_check(nu, c->allow, c->n_allow, "redirect to host", msg, n)) {
    curl_url_cleanup(nu);
    return 1;
  }
  if (!same_origin(c->url, nu))
    drop_credentials(c);
  curl_url_cleanup(c->url);
  c->url = nu;
  c->hops++;
  redirect_method(c);
  *again = 1;
  return 0;
}

/* ==== The result value ==== */

/* Length of the well-formed UTF-8 sequence at s (0 if invalid). */
static size_t utf8_seq(const unsigned char *s, const unsigned char *e) {
  size_t n, i;
  unsigned lo = 0x80, hi = 0xBF;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    n = 2;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
    n = 3;
    lo = s[0] == 0xE0 ? 0xA0 : 0x80;
    hi = s[0] == 0xED ? 0x9F : 0xBF;
  } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
    n = 4;
    lo = s[0] == 0xF0 ? 0x90 : 0x80;
    hi = s[0] == 0xF4 ? 0x8F : 0xBF;
  } else
    return 0;
  if ((size_t)(e - s) < n || s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return n;
}

/* A string of the bytes with invalid UTF-8 replaced by U+FFFD (what
** Ordo's reqwest text() does). */
static gv_str *lossy_str(gv_arena *a, const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p, *e = s + n;
  gv_buf b;
  gv_str *r;
  size_t k;
  while (s < e && (k = utf8_seq(s, e)) != 0)
    s += k;
  if (s == e)
    return gavel__str_new(a, p, n);
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_add(&b, p, (size_t)(s - (const unsigned char *)p));
  while (s < e) {
    if ((k = utf8_seq(s, e)) != 0) {
      gavel__buf_add(&b, s, k);
      s += k;
    } else {
      gavel__buf_add(&b, "\xEF\xBF\xBD", 3);
      s++;
    }
  }
  r = b.oom ? NULL : gavel__str_new(a, b.p, b.len);
  gavel__buf_free(&b);
  return r;
}

static int put(gv_arena *a, gv_obj *o, const char *k, gvalue v) {
  gv_str *ks = gavel__str_cstr(a, k);
  return ks && gavel__obj_append(a, o, ks, v);
}

/* The response headers as an object: a repeated header's values joined
** with ", " in one buffer per name (joining them into a new string at
** every repeat copied quadratically: ~21,000 repeats within the 64 KiB
** header cap took 477 MB). */
static gv_obj *headers_obj(http_call *c, gv_arena *a) {
  gv_obj *o = gavel__obj_new(a, 8);
  gv_buf *vals = NULL;
  size_t i = 0, n = 0, cap = 0, k;
  int ok = o != NULL;
  while (ok && i < c->rhdr_len) {
    const char *name = c->rhdr + i, *val = name + strlen(name) + 1;
    int at = gavel__obj_find(o, name, strlen(name));
    i = (size_t)(val - c->rhdr) + strlen(val) + 1;
    if (at >= 0) { /* repeated header: "a, b" */
      gavel__buf_adds(&vals[at], ", ");
      gavel__buf_adds(&vals[at], val);
      continue;
    }
    if (n == cap) {
      gv_buf *nv = realloc(vals, (cap = cap ? 2 * cap : 16) * sizeof *nv);
      if (!nv) {
        ok = 0;
        break;
      }
      vals = nv;
    }
    gavel__buf_init(&vals[n], &gavel__default_alloc);
    gavel__buf_adds(&vals[n], val);
    n++;
    ok = put(a, o, name, gv_null());
  }
  for (k = 0; k < n; k++) {
    gv_str *vs;
    if (ok && (vals[k].oom ||
               !(vs = lossy_str(a, vals[k].p ? vals[k].p : "", vals[k].len))))
      ok = 0;
    else if (ok)
      o->vals[k] = gv_strv(vs);
    gavel__buf_free(&vals[k]);
  }
  free(vals);
  return ok ? o : NULL;
}

int http_result(http_call *c, gv_arena *a, gvalue *payload, gvalue *metadata,
                char *msg, size_t n) {
  gv_obj *p = gavel__obj_new(a, 4), *m = gavel__obj_new(a, 1), *hd;
  gv_str *body = lossy_str(a, c->resp ? c->resp : "", c->resp_len), *sts;
  gvalue jv;
  gavel_error e;
  char st[16];
  snprintf(st, sizeof st, "%ld", c->status);
  if (!p || !m || !body || !put(a, p, "status", gv_int(c->status)) ||
      !put(a, p, "body", gv_strv(body)))
    goto nomem;
  /* json_body: present when the body parses as JSON (as Ordo). */
  if (c->resp_len &&
      gavel__json_parse(a, c->resp, c->resp_len, NULL, &jv, &e) == GAVEL_OK &&
      !put(a, p, "json_body", jv))
    goto nomem;
  if (a->failed || !(hd = headers_obj(c, a)) ||
      !put(a, p, "headers", gv_objv(hd)) || !(sts = gavel__str_cstr(a, st)) ||
      !put(a, m, "status", gv_strv(sts)))
    goto nomem;
  *payload = gv_objv(p);
  *metadata = gv_objv(m);
  return 0;
nomem:
  snprintf(msg, n, "network.http: out of memory building the result");
  return 1;
}

/* ==== The blocking provider ==== */

static int http_vfn(void *ud, gv_arena *a, const gv_hostreq *req,
                    gvalue *payload, gvalue *metadata, char *msg, size_t n) {
  gavel_http *h = ud;
  http_call c;
  CURL *easy = thread_easy(h);
  CURLcode cc;
  int again = 1, rc = 1;
  memset(&c, 0, sizeof c);
  if (!easy) {
    snprintf(msg, n, "network.http: cannot create a libcurl handle");
    return 1;
  }
  if (http_req_build(h, req, &c, msg, n))
    goto done;
  while (again) {
    curl_easy_reset(easy); /* keeps the connection cache */
    if (http_setup(&c, easy, msg, n))
      goto done;
    if ((cc = curl_easy_perform(easy)) != CURLE_OK) {
      http_fail_msg(&c, cc, msg, n);
      if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = GV_HOST_TIMEOUT; /* reported as outcome "timeout" */
      goto done;
    }
    if (http_after_hop(&c, easy, &again, msg, n))
      goto done;
  }
  rc = http_result(&c, a, payload, metadata, msg, n);
done:
  curl_easy_reset(easy); /* drop pointers into 'c' */
  http_call_clean(&c);
  return rc;
}

gavel_status gavel_http_provide(gavel_http *h, gavel_runtime *rt,
                                gavel_error *err) {
  gavel__error_clear(err);
  if (!h || !rt)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_http_provide: NULL "
                         "argument");
  return gavel__host_provide_value(rt, "network.http", http_vfn, h, err);
}
