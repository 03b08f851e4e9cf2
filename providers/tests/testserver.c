/*
** testserver.c -- the loopback HTTP server of the provider tests (see
** testserver.h for the routes).  Plain sockets and threads; no parsing
** beyond what curl sends (Content-Length bodies, no chunked uploads).
*/
#define _GNU_SOURCE
#include "testserver.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PATHS 64
#define MAX_REQ (1 << 20)

typedef struct conn {
  ts_server *s;      /* owner                      */
  int fd;            /* client socket              */
  pthread_t th;      /* its thread                 */
  int done;          /* thread finished            */
  struct conn *next; /* all connections            */
} conn;

struct ts_server {
  int lfd;                 /* listening socket           */
  int port;                /* its port                   */
  int stop_pipe[2];        /* written to on stop         */
  volatile int stopping;   /* 1 once ts_stop runs        */
  pthread_t acceptor;      /* accept loop                */
  pthread_mutex_t mu;      /* guards below               */
  conn *conns;             /* every connection           */
  int n_conns;             /* accepted                   */
  int n_req;               /* requests                   */
  char paths[MAX_PATHS][64]; /* paths seen                */
  int hits[MAX_PATHS];     /* requests per path          */
  int n_paths;             /* distinct paths             */
};

typedef struct req {
  char method[16];  /* request method         */
  char path[256];   /* path without the query */
  char query[1024]; /* query string           */
  char *head;       /* header block (in buf)  */
  char *body;       /* body (in buf)          */
  size_t body_len;  /* its length             */
} req;

/* ==== Small helpers ==== */

static void count(ts_server *s, const char *path) {
  int i;
  pthread_mutex_lock(&s->mu);
  s->n_req++;
  for (i = 0; i < s->n_paths; i++)
    if (!strcmp(s->paths[i], path))
      break;
  if (i == s->n_paths && s->n_paths < MAX_PATHS)
    snprintf(s->paths[s->n_paths++], 64, "%.63s", path);
  if (i < MAX_PATHS)
    s->hits[i]++;
  pthread_mutex_unlock(&s->mu);
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return 1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int respond(int fd, int code, const char *ctype, const char *body,
                   size_t len, const char *extra) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu"
                   "\r\nX-Test: yes\r\n",
                   code, ctype, len);
  return send_all(fd, head, (size_t)n) ||
         (extra && send_all(fd, extra, strlen(extra))) ||
         send_all(fd, "\r\n", 2) || send_all(fd, body, len);
}

/* Waits 'ms' or until the server stops; 1 when stopping. */
static int nap(ts_server *s, int ms) {
  struct pollfd p = {s->stop_pipe[0], POLLIN, 0};
  return poll(&p, 1, ms) > 0 || s->stopping;
}

static const char *qparam(const char *q, const char *k, char *out,
                          size_t n) {
  size_t kl = strlen(k), o = 0;
  const char *p = q;
  while (p && *p) {
    if (!strncmp(p, k, kl) && p[kl] == '=') {
      p += kl + 1;
      while (*p && *p != '&' && o + 1 < n) {
        if (*p == '%' && p[1] && p[2]) {
          char hex[3] = {p[1], p[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          p += 3;
        } else
          out[o++] = *p++;
      }
      out[o] = 0;
      return out;
    }
    p = strchr(p, '&');
    if (p)
      p++;
  }
  return NULL;
}

static void json_str(char **w, char *end, const char *p, size_t n) {
  size_t i;
  *(*w)++ = '"';
  for (i = 0; i < n && *w + 8 < end; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') {
      *(*w)++ = '\\';
      *(*w)++ = (char)c;
    } else if (c < 0x20)
      *w += snprintf(*w, (size_t)(end - *w), "\\u%04x", c);
    else
      *(*w)++ = (char)c;
  }
  *(*w)++ = '"';
}

/* ==== Routes ==== */

static int echo(int fd, const req *r) {
  size_t cap = 4096 + r->body_len * 6 + strlen(r->head) * 6;
  char *out = malloc(cap), *w = out, *end = out + cap;
  const char *line = r->head;
  int first = 1, rc;
  w += snprintf(w, 64, "{\"method\":");
  json_str(&w, end, r->method, strlen(r->method));
  w += snprintf(w, 16, ",\"path\":");
  json_str(&w, end, r->path, strlen(r->path));
  w += snprintf(w, 16, ",\"query\":");
  json_str(&w, end, r->query, strlen(r->query));
  w += snprintf(w, 16, ",\"headers\":{");
  while ((line = strstr(line, "\r\n")) && line[2] != '\r' && line[2]) {
    const char *name = line + 2, *colon = strchr(name, ':'),
               *eol = strstr(name, "\r\n");
    char lname[128];
    size_t i, nl;
    line = name;
    if (!colon || !eol || colon > eol)
      continue;
    nl = (size_t)(colon - name) < sizeof lname - 1 ? (size_t)(colon - name)
                                                    : sizeof lname - 1;
    for (i = 0; i < nl; i++)
      lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32
                                                         : name[i]);
    if (!first)
      *w++ = ',';
    first = 0;
    json_str(&w, end, lname, nl);
    *w++ = ':';
    colon++;
    while (*colon == ' ')
      colon++;
    json_str(&w, end, colon, (size_t)(eol - colon));
  }
  w += snprintf(w, 16, "},\"body\":");
  json_str(&w, end, r->body, r->body_len);
  *w++ = '}';
  rc = respond(fd, 200, "application/json", out, (size_t)(w - out), NULL);
  free(out);
  return rc;
}

/* Answers one request; 1 = close the connection. */
static int route(ts_server *s, int fd, const req *r) {
  char v[1024], body[256];
  int n;
  count(s, r->path);
  if (!strcmp(r->path, "/ok"))
    return respond(fd, 200, "application/json", "{\"ok\":true}", 11, NULL);
  if (!strcmp(r->path, "/echo"))
    return echo(fd, r);
  if (!strcmp(r->path, "/slow")) {
    int ms = qparam(r->query, "ms", v, sizeof v) ? atoi(v) : 1000;
    if (nap(s, ms))
      return 1;
    n = snprintf(body, sizeof body, "{\"slow\":%d}", ms);
    return respond(fd, 200, "application/json", body, (size_t)n, NULL);
  }
  if (!strcmp(r->path, "/status")) {
    int code = qparam(r->query, "code", v, sizeof v) ? atoi(v) : 500;
    n = snprintf(body, sizeof body, "{\"error\":\"status %d\"}", code);
    return respond(fd, code, "application/json", body, (size_t)n, NULL);
  }
  if (!strcmp(r->path, "/badjson"))
    return respond(fd, 200, "application/json", "{not json", 9, NULL);
  if (!strcmp(r->path, "/text"))
    return respond(fd, 200, "text/plain", "hello", 5, NULL);
  if (!strcmp(r->path, "/binary"))
    return respond(fd, 200, "application/octet-stream", "\xff\xfeok", 4,
                   NULL);
  if (!strcmp(r->path, "/multi"))
    return respond(fd, 200, "text/plain", "m", 1,
                   "X-Multi: a\r\nX-Multi: b\r\n");
  if (!strcmp(r->path, "/manyhdr")) { /* n times "X-R: v" */
    size_t k, cnt = qparam(r->query, "n", v, sizeof v) ? (size_t)atol(v) : 10;
    char *h = malloc(cnt * 8 + 1);
    int rc;
    for (k = 0; k < cnt; k++)
      memcpy(h + 8 * k, "X-R: v\r\n", 8);
    h[8 * cnt] = 0;
    rc = respond(fd, 200, "text/plain", "m", 1, h);
    free(h);
    return rc;
  }
  if (!strcmp(r->path, "/big")) {
    size_t len = qparam(r->query, "n", v, sizeof v) ? (size_t)atol(v) : 1000;
    char *big = malloc(len + 1);
    int rc;
    memset(big, 'a', len);
    rc = respond(fd, 200, "text/plain", big, len, NULL);
    free(big);
    return rc;
  }
  if (!strcmp(r->path, "/redirect")) {
    char loc[1100], to[1024];
    int code = qparam(r->query, "code", v, sizeof v) ? atoi(v) : 302;
    snprintf(loc, sizeof loc, "Location: %s\r\n",
             qparam(r->query, "to", to, sizeof to) ? to : "/ok");
    return respond(fd, code, "text/plain", "", 0, loc);
  }
  if (!strcmp(r->path, "/loop"))
    return respond(fd, 302, "text/plain", "", 0, "Location: /loop\r\n");
  if (!strcmp(r->path, "/reset")) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return 2; /* closed at once: close() now sends RST */
  }
  if (!strcmp(r->path, "/hang")) {
    struct pollfd p[2] = {{s->stop_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, 2, -1); /* until the client gives up or the server stops */
    return 1;
  }
  return respond(fd, 404, "text/plain", "not found", 9, NULL);
}

/* ==== Connections ==== */

static int parse_head(char *buf, req *r) {
  char target[1300], *q;
  memset(r, 0, sizeof *r);
  if (sscanf(buf, "%15s %1299s", r->method, target) != 2)
    return 1;
  if ((q = strchr(target, '?'))) {
    *q = 0;
    snprintf(r->query, sizeof r->query, "%s", q + 1);
  }
  snprintf(r->path, sizeof r->path, "%.255s", target);
  r->head = buf;
  return 0;
}

static size_t content_length(const char *head) {
  const char *p = head;
  while ((p = strstr(p, "\r\n"))) {
    p += 2;
    if (!strncasecmp(p, "Content-Length:", 15))
      return (size_t)atol(p + 15);
  }
  return 0;
}

/* Reads one request into buf[0..*have); returns its total size, 0 on
** EOF/error.  Leftover bytes stay after it. */
static size_t read_request(int fd, char *buf, size_t *have) {
  char *end;
  size_t need;
  for (;;) {
    ssize_t n;
    buf[*have] = 0;
    if ((end = strstr(buf, "\r\n\r\n"))) {
      need = (size_t)(end + 4 - buf) + content_length(buf);
      if (need >= MAX_REQ)
        return 0;
      while (*have < need) {
        n = recv(fd, buf + *have, MAX_REQ - 1 - *have, 0);
        if (n <= 0)
          return 0;
        *have += (size_t)n;
      }
      return need;
    }
    if (*have >= MAX_REQ - 1)
      return 0;
    n = recv(fd, buf + *have, MAX_REQ - 1 - *have, 0);
    if (n <= 0)
      return 0;
    *have += (size_t)n;
  }
}

static void *conn_main(void *arg) {
  conn *c = arg;
  char *buf = malloc(MAX_REQ);
  size_t have = 0, used;
  int close_it = 0;
  while (!c->s->stopping && (used = read_request(c->fd, buf, &have)) != 0) {
    req r;
    char *hend = strstr(buf, "\r\n\r\n");
    hend[2] = 0; /* header block ends with one CRLF */
    if (parse_head(buf, &r))
      break;
    r.body = hend + 4;
    r.body_len = used - (size_t)(hend + 4 - buf);
    close_it = route(c->s, c->fd, &r);
    memmove(buf, buf + used, have - used);
    have -= used;
    if (close_it)
      break;
  }
  free(buf);
  pthread_mutex_lock(&c->s->mu);
  if (close_it == 2) {
    close(c->fd);
    c->fd = -1;
  } else
    shutdown(c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&c->s->mu);
  __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *accept_main(void *arg) {
  ts_server *s = arg;
  for (;;) {
    struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
    conn *c;
    int fd;
    if (poll(p, 2, -1) < 0 && errno != EINTR)
      break;
    if (s->stopping || (p[1].revents & POLLIN))
      break;
    if (!(p[0].revents & POLLIN) || (fd = accept(s->lfd, NULL, NULL)) < 0)
      continue;
    c = calloc(1, sizeof *c);
    c->s = s;
    c->fd = fd;
    pthread_mutex_lock(&s->mu);
    s->n_conns++;
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    pthread_create(&c->th, NULL, conn_main, c);
  }
  return NULL;
}

/* ==== Public ==== */

ts_server *ts_start(void) {
  ts_server *s = calloc(1, sizeof *s);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  int one = 1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!s || pipe(s->stop_pipe) != 0 ||
      (s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
      setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(s->lfd, (struct sockaddr *)&a, sizeof a) ||
      listen(s->lfd, 128) ||
      getsockname(s->lfd, (struct sockaddr *)&a, &al)) {
    free(s);
    return NULL;
  }
  s->port = ntohs(a.sin_port);
  pthread_mutex_init(&s->mu, NULL);
  pthread_create(&s->acceptor, NULL, accept_main, s);
  return s;
}

int ts_port(const ts_server *s) { return s->port; }

void ts_stop(ts_server *s) {
  conn *c, *next;
  if (!s)
    return;
  s->stopping = 1;
  if (write(s->stop_pipe[1], "x", 1) != 1)
    perror("ts_stop");
  pthread_join(s->acceptor, NULL);
  pthread_mutex_lock(&s->mu);
  for (c = s->conns; c; c = c->next)
    if (c->fd >= 0)
      shutdown(c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&s->mu);
  for (c = s->conns; c; c = next) {
    next = c->next;
    pthread_join(c->th, NULL);
    if (c->fd >= 0)
      close(c->fd);
    free(c);
  }
  close(s->lfd);
  close(s->stop_pipe[0]);
  close(s->stop_pipe[1]);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int ts_hits(ts_server *s, const char *path) {
  int i, n = 0;
  pthread_mutex_lock(&s->mu);
  if (!path)
    n = s->n_req;
  for (i = 0; path && i < s->n_paths; i++)
    if (!strcmp(s->paths[i], path))
      n = s->hits[i];
  pthread_mutex_unlock(&s->mu);
  return n;
}

int ts_connections(ts_server *s) {
  int n;
  pthread_mutex_lock(&s->mu);
  n = s->n_conns;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void ts_reset_counts(ts_server *s) {
  pthread_mutex_lock(&s->mu);
  s->n_conns = s->n_req = s->n_paths = 0;
  memset(s->hits, 0, sizeof s->hits);
  pthread_mutex_unlock(&s->mu);
}
