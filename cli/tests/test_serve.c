/*
** test_serve.c -- integration tests of 'gavel serve': the real server
** (forked 'gavel serve' processes) on free loopback ports, real
** files, a real slow upstream (gv_testserver).  No timing asserts: the
** only waits are bounded polls for a state ("the server answers", "a
** worker was replaced").
**
** usage: test_serve GAVEL GV_TESTSERVER
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *GAVEL, *TESTSERVER;
static int failures, checks;

#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    checks++;                                                                 \
    if (!(cond)) {                                                            \
      failures++;                                                             \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
    }                                                                         \
  } while (0)

/* ==== HTTP client (one request per connection) ==== */

typedef struct resp {
  int status;   /* 0: no answer (connection failed or closed) */
  char *body;   /* malloc'd, NUL-terminated                  */
  size_t len;   /* body length                               */
} resp;

static void resp_free(resp *r) {
  free(r->body);
  r->body = NULL;
}

static int connect_to(int port) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {30, 0};
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads a whole response (until close) from fd into r. */
static void read_resp(int fd, resp *r) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap), *hdr_end;
  memset(r, 0, sizeof *r);
  for (;;) {
    ssize_t k;
    if (n + 1 >= cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
    k = recv(fd, buf + n, cap - n - 1, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    n += (size_t)k;
  }
  buf[n] = 0;
  if (n > 12 && !strncmp(buf, "HTTP/1.", 7))
    r->status = atoi(buf + 9);
  hdr_end = strstr(buf, "\r\n\r\n");
  if (hdr_end) {
    r->len = n - (size_t)(hdr_end + 4 - buf);
    r->body = malloc(r->len + 1);
    memcpy(r->body, hdr_end + 4, r->len);
    r->body[r->len] = 0;
  } else {
    r->body = calloc(1, 1);
  }
  free(buf);
}

/* method path [extra headers "A: b\r\n"] [body] -> response */
static resp http(int port, const char *method, const char *path,
                 const char *headers, const char *body) {
  resp r;
  size_t bn = body ? strlen(body) : 0;
  char *req = malloc(bn + 1024 + (headers ? strlen(headers) : 0));
  int fd = connect_to(port), n;
  memset(&r, 0, sizeof r);
  if (fd < 0) {
    r.body = calloc(1, 1);
    free(req);
    return r;
  }
  n = sprintf(req,
              "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
              method, path, bn, headers ? headers : "");
  if (body)
    memcpy(req + n, body, bn);
  send_all(fd, req, (size_t)n + bn);
  free(req);
  read_resp(fd, &r);
  close(fd);
  return r;
}

static int has(const resp *r, const char *s) {
  return r->body && strstr(r->body, s) != NULL;
}

/* ==== Files, processes ==== */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
}

static char *tmpdir(void) {
  char *d = strdup("/tmp/gv_serve_XXXXXX");
  if (!mkdtemp(d)) {
    perror("mkdtemp");
    exit(2);
  }
  return d;
}

/* Removes a test's directory and log (kept when a check failed). */
static void remove_dir(char *dir) {
  char cmd[600], line[1024];
  FILE *f;
  /* sanitizer reports of the server processes fail the test */
  snprintf(cmd, sizeof cmd, "%s.log", dir);
  if ((f = fopen(cmd, "r"))) {
    while (fgets(line, sizeof line, f))
      CHECK(!strstr(line, "Sanitizer") && !strstr(line, "runtime error:"),
            "%s: %s", cmd, line);
    fclose(f);
  }
  if (!failures) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.log'", dir, dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  } else
    fprintf(stderr, "kept %s and %s.log\n", dir, dir);
  free(dir);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls until 'port' answers GET /healthz/live (max ~20 s). */
static int wait_up(int port) {
  int i;
  for (i = 0; i < 400; i++) {
    resp r = http(port, "GET", "/healthz/live", NULL, NULL);
    int ok = r.status == 200;
    resp_free(&r);
    if (ok)
      return 1;
    sleep_ms(50);
  }
  return 0;
}

/* Starts 'gavel serve --listen 127.0.0.1:PORT ARGS...' (stderr -> log). */
static pid_t start_server(int port, const char *log, ...) {
  char *argv[40], listen[64];
  int n = 0;
  va_list ap;
  pid_t pid;
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  argv[n++] = (char *)GAVEL;
  argv[n++] = "serve";
  argv[n++] = "--listen";
  argv[n++] = listen;
  va_start(ap, log);
  for (;;) {
    char *a = va_arg(ap, char *);
    if (!a || n == 38)
      break;
    argv[n++] = a;
  }
  va_end(ap);
  argv[n] = NULL;
  pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
    }
    execv(GAVEL, argv);
    _exit(127);
  }
  if (!wait_up(port)) {
    fprintf(stderr, "server on %d did not come up (log %s)\n", port, log);
    exit(2);
  }
  return pid;
}

/* SIGTERM, then the exit status. */
/* A loopback port free now (the kernel's choice), so that parallel test
** runs and other servers never collide on a fixed number. */
static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static int stop_server(pid_t pid) {
  int st = 0;
  kill(pid, SIGTERM);
  if (waitpid(pid, &st, 0) != pid)
    return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char SCORE[] =
    "{\"config\":{\"name\":\"bench\",\"version\":\"1.0.0\",\"entry_step\":\"s1\"},"
    "\"steps\":{\"s1\":{\"id\":\"s1\",\"name\":\"S1\",\"type\":\"decision\","
    "\"branches\":[{\"condition\":\"score >= 90\",\"next_step\":\"high\"},"
    "{\"condition\":\"score >= 70\",\"next_step\":\"mid\"},"
    "{\"condition\":\"score >= 50\",\"next_step\":\"low\"}],"
    "\"default_next\":\"fail\"},"
    "\"high\":{\"id\":\"high\",\"name\":\"H\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"HIGH\",\"message\":\"high tier\"}},"
    "\"mid\":{\"id\":\"mid\",\"name\":\"M\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"MID\",\"message\":\"%s\"}},"
    "\"low\":{\"id\":\"low\",\"name\":\"L\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"LOW\",\"message\":\"low tier\"}},"
    "\"fail\":{\"id\":\"fail\",\"name\":\"F\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"FAIL\",\"message\":\"failed\"}}}}";

/* The score rule named 'name' whose MID message is 'mid'. */
static char *score_doc(const char *name, const char *mid) {
  char *d = malloc(sizeof SCORE + 256), *t;
  sprintf(d, SCORE, mid);
  if (strcmp(name, "bench")) {
    t = strstr(d, "\"bench\"");
    memmove(t + strlen(name) + 2, t + 7, strlen(t + 7) + 1);
    memcpy(t + 1, name, strlen(name));
    t[strlen(name) + 1] = '"';
  }
  return d;
}

static const char *AUTH = "Authorization: Bearer tok\r\n";

/* ==== Every endpoint and error path ==== */

static void t_endpoints(void) {
  char *dir = tmpdir(), path[512], log[512], *doc;
  int port = free_port();
  pid_t pid;
  resp r;
  char big[64];
  int i;
  snprintf(path, sizeof path, "%s/bench.json", dir);
  doc = score_doc("bench", "mid tier");
  write_file(path, doc);
  free(doc);
  snprintf(log, sizeof log, "%s.log", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "2",
                     "--api-token", "tok", NULL);

  r = http(port, "GET", "/health", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "\"status\":\"ready\"") &&
            has(&r, "\"rules_count\":1"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/healthz/ready", NULL, NULL);
  CHECK(r.status == 200, "%d", r.status);
  resp_free(&r);
  { /* a second server on a port in use is refused, not let in */
    char cmd[1200];
    int st;
    snprintf(cmd, sizeof cmd,
             "'%s' serve --listen 127.0.0.1:%d --workers 1 2>&1 | "
             "grep -q 'cannot listen on 127.0.0.1:%d'",
             GAVEL, port, port);
    st = system(cmd);
    CHECK(st == 0, "second server: %d", st);
  }
  r = http(port, "POST", "/health", NULL, "");
  CHECK(r.status == 405 && has(&r, "METHOD_NOT_ALLOWED"), "%d %s", r.status,
        r.body);
  resp_free(&r);

  /* execute */
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":75}}");
  CHECK(r.status == 200 && has(&r, "\"code\":\"MID\"") &&
            has(&r, "\"output\":{}") && has(&r, "\"duration_us\":"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":95},\"trace\":true}");
  CHECK(r.status == 200 && has(&r, "\"code\":\"HIGH\"") &&
            has(&r, "\"trace\":{\"path\":\"s1 -> high\""),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/nope", NULL, "{\"input\":{}}");
  CHECK(r.status == 404 && has(&r, "\"code\":\"NOT_FOUND\"") &&
            has(&r, "RuleSet 'nope' not found"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/bench", NULL, "{\"input\": {\"score\":");
  CHECK(r.status == 400 && has(&r, "BAD_REQUEST") &&
            has(&r, "invalid JSON at line 1 column"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/bench", NULL, "[1]");
  CHECK(r.status == 400 && has(&r, "must be a JSON object"), "%d %s", r.status,
        r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/bench", NULL, "{\"inputs\":{}}");
  CHECK(r.status == 400 && has(&r, "missing field `input`"), "%d %s",
        r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":\"high\"}}");
  CHECK(r.status == 422 && has(&r, "EVALUATION_ERROR") &&
            has(&r, "steps.s1.branches[0].condition"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/execute/bench", NULL, NULL);
  CHECK(r.status == 405, "%d", r.status);
  resp_free(&r);

  /* batch */
  r = http(port, "POST", "/api/v1/execute/bench/batch", NULL,
           "{\"inputs\":[{\"score\":95},{\"score\":10},{\"score\":null}],"
           "\"options\":{\"trace\":false}}");
  CHECK(r.status == 200 && has(&r, "{\"code\":\"HIGH\"") &&
            has(&r, "{\"code\":\"FAIL\"") &&
            has(&r, "{\"code\":\"error\"") && has(&r, "\"output\":null") &&
            has(&r, "\"total\":3,\"success\":2,\"failed\":1"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  {
    size_t n = 20 + 1001 * 3;
    char *b = malloc(n), *q = b;
    q += sprintf(q, "{\"inputs\":[");
    for (i = 0; i < 1001; i++)
      q += sprintf(q, "%s{}", i ? "," : "");
    sprintf(q, "]}");
    r = http(port, "POST", "/api/v1/execute/bench/batch", NULL, b);
    CHECK(r.status == 413 && has(&r, "1000"), "%d %s", r.status, r.body);
    resp_free(&r);
    free(b);
  }
  r = http(port, "POST", "/api/v1/execute/bench/batch", NULL,
           "{\"inputs\":{}}");
  CHECK(r.status == 400 && has(&r, "inputs"), "%d %s", r.status, r.body);
  resp_free(&r);

  /* eval */
  r = http(port, "POST", "/api/v1/eval", NULL,
           "{\"expression\":\"a * 2 + 1\",\"context\":{\"a\":20}}");
  CHECK(r.status == 200 && has(&r, "\"result\":41"), "%d %s", r.status,
        r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/eval", NULL,
           "{\"expression\":\"a +\",\"context\":{}}");
  CHECK(r.status == 400 && has(&r, "Parse error"), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/eval", NULL,
           "{\"expression\":\"missing > 1\",\"context\":{}}");
  CHECK(r.status == 422 && has(&r, "Evaluation error"), "%d %s", r.status,
        r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/eval", NULL, "{\"expression\":1}");
  CHECK(r.status == 400 && has(&r, "expression"), "%d %s", r.status, r.body);
  resp_free(&r);

  /* rulesets: list, get, create/update, validation, auth */
  r = http(port, "GET", "/api/v1/rulesets", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "[{\"name\":\"bench\",\"version\":\"1.0.0\""),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/bench", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "\"entry_step\":\"s1\""), "%d %s",
        r.status, r.body);
  resp_free(&r);
  doc = score_doc("tier", "v1");
  r = http(port, "POST", "/api/v1/rulesets", NULL, doc);
  CHECK(r.status == 401 && has(&r, "UNAUTHORIZED"), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets", "Authorization: Bearer nope\r\n",
           doc);
  CHECK(r.status == 401, "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets", AUTH, doc);
  CHECK(r.status == 201 && has(&r, "\"status\":\"created\"") &&
            has(&r, "\"name\":\"tier\"") && has(&r, "\"seq\":1"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  free(doc);
  /* an acknowledged write is served by every worker */
  for (i = 0; i < 20; i++) {
    r = http(port, "POST", "/api/v1/execute/tier", NULL,
             "{\"input\":{\"score\":80}}");
    CHECK(r.status == 200 && has(&r, "\"message\":\"v1\""), "%d %s", r.status,
          r.body);
    resp_free(&r);
  }
  doc = score_doc("tier", "v2");
  r = http(port, "POST", "/api/v1/rulesets", "X-API-Key: tok\r\n", doc);
  CHECK(r.status == 200 && has(&r, "\"status\":\"updated\"") &&
            has(&r, "\"seq\":2"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  free(doc);
  for (i = 0; i < 20; i++) {
    r = http(port, "POST", "/api/v1/execute/tier", NULL,
             "{\"input\":{\"score\":80}}");
    CHECK(r.status == 200 && has(&r, "\"message\":\"v2\""), "%d %s", r.status,
          r.body);
    resp_free(&r);
  }
  snprintf(path, sizeof path, "%s/tier.json", dir);
  CHECK(access(path, R_OK) == 0, "%s not written", path);
  r = http(port, "POST", "/api/v1/rulesets", AUTH,
           "{\"config\":{\"name\":\"broken\",\"entry_step\":\"nowhere\"},"
           "\"steps\":{\"a\":{\"id\":\"a\",\"name\":\"A\",\"type\":\"decision\","
           "\"branches\":[{\"condition\":\"x >\",\"next_step\":\"zz\"}]}}}");
  CHECK(r.status == 400 && has(&r, "\"errors\":[{\"level\":\"error\"") &&
            has(&r, "entry_step") && has(&r, "zz") &&
            has(&r, "branches[0].condition"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  snprintf(path, sizeof path, "%s/broken.json", dir);
  CHECK(access(path, F_OK) != 0, "a rejected ruleset was written");
  r = http(port, "POST", "/api/v1/rulesets", AUTH, "{\"config\":");
  CHECK(r.status == 400 && has(&r, "invalid JSON"), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets", AUTH,
           "{\"config\":{\"name\":\"../evil\",\"entry_step\":\"e\"},"
           "\"steps\":{\"e\":{\"id\":\"e\",\"name\":\"E\",\"type\":\"terminal\","
           "\"result\":{\"code\":\"X\"}}}}");
  CHECK(r.status == 400 && has(&r, "config.name"), "%d %s", r.status, r.body);
  resp_free(&r);

  /* versions, rollback */
  r = http(port, "GET", "/api/v1/rulesets/tier/versions", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "{\"seq\":2,") && has(&r, "{\"seq\":1,") &&
            strstr(r.body, "\"seq\":2") < strstr(r.body, "\"seq\":1"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/tier/versions/1", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "\"v1\""), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/tier/versions/9", NULL, NULL);
  CHECK(r.status == 404, "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/none/versions", NULL, NULL);
  CHECK(r.status == 404, "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets/tier/rollback", NULL,
           "{\"seq\":1}");
  CHECK(r.status == 401, "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets/tier/rollback", AUTH,
           "{\"seq\":\"one\"}");
  CHECK(r.status == 400 && has(&r, "seq"), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets/tier/rollback", AUTH,
           "{\"seq\":7}");
  CHECK(r.status == 404, "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "POST", "/api/v1/rulesets/tier/rollback", AUTH,
           "{\"seq\":1}");
  CHECK(r.status == 200 && has(&r, "rolled_back") && has(&r, "\"seq\":3"),
        "%d %s", r.status, r.body);
  resp_free(&r);
  for (i = 0; i < 10; i++) {
    r = http(port, "POST", "/api/v1/execute/tier", NULL,
             "{\"input\":{\"score\":80}}");
    CHECK(r.status == 200 && has(&r, "\"message\":\"v1\""), "%d %s", r.status,
          r.body);
    resp_free(&r);
  }
  /* only the last 10 versions are kept */
  for (i = 0; i < 12; i++) {
    char msg[16];
    snprintf(msg, sizeof msg, "w%d", i);
    doc = score_doc("tier", msg);
    r = http(port, "POST", "/api/v1/rulesets", AUTH, doc);
    CHECK(r.status == 200, "%d %s", r.status, r.body);
    resp_free(&r);
    free(doc);
  }
  r = http(port, "GET", "/api/v1/rulesets/tier/versions", NULL, NULL);
  {
    int count = 0;
    const char *q = r.body;
    while ((q = strstr(q, "\"seq\":"))) {
      count++;
      q++;
    }
    CHECK(r.status == 200 && count == 10 && has(&r, "{\"seq\":15,") &&
              !has(&r, "{\"seq\":5,"),
          "%d versions: %s", count, r.body);
  }
  resp_free(&r);

  /* delete */
  r = http(port, "DELETE", "/api/v1/rulesets/tier", NULL, NULL);
  CHECK(r.status == 401, "%d", r.status);
  resp_free(&r);
  r = http(port, "DELETE", "/api/v1/rulesets/tier", AUTH, NULL);
  CHECK(r.status == 204, "%d %s", r.status, r.body);
  resp_free(&r);
  for (i = 0; i < 6; i++) {
    r = http(port, "GET", "/api/v1/rulesets/tier", NULL, NULL);
    CHECK(r.status == 404, "%d %s", r.status, r.body);
    resp_free(&r);
  }
  r = http(port, "DELETE", "/api/v1/rulesets/tier", AUTH, NULL);
  CHECK(r.status == 404, "%d", r.status);
  resp_free(&r);

  /* admin, metrics, unknown routes */
  r = http(port, "POST", "/admin/reload", NULL, "");
  CHECK(r.status == 401, "%d", r.status);
  resp_free(&r);
  r = http(port, "POST", "/admin/reload", AUTH, "");
  CHECK(r.status == 200 && has(&r, "\"rules_count\":1"), "%d %s", r.status,
        r.body);
  resp_free(&r);
  r = http(port, "GET", "/metrics", NULL, NULL);
  CHECK(r.status == 200 && has(&r, "gavel_serve_requests_total{class=\"2xx\"}") &&
            has(&r, "# TYPE gavel_serve_active_executions gauge") &&
            has(&r, "gavel_serve_workers 2"),
        "%d %s", r.status, r.body);
  /* engine metrics of the workers, one family each, labelled */
  CHECK(has(&r, "gavel_runs_total{worker=\"") &&
            has(&r, "# TYPE gavel_runs_total counter"),
        "%s", r.body);
  {
    const char *t1 = strstr(r.body, "# TYPE gavel_runs_total ");
    CHECK(t1 && !strstr(t1 + 1, "# TYPE gavel_runs_total "),
          "gavel_runs_total declared twice");
  }
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/../versions/1", NULL, NULL);
  CHECK(r.status == 404, "dot-dot name: %d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/..%2Fbench.json", NULL, NULL);
  CHECK(r.status == 404, "encoded name: %d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v2/nothing", NULL, NULL);
  CHECK(r.status == 404 && has(&r, "no route"), "%d %s", r.status, r.body);
  resp_free(&r);
  snprintf(big, sizeof big, "/%s", "a/b/c/d/e/f/g/h");
  r = http(port, "GET", big, NULL, NULL);
  CHECK(r.status == 404, "%d", r.status);
  resp_free(&r);
  r = http(port, "BREW", "/api/v1/rulesets", NULL, NULL);
  CHECK(r.status == 405, "%d", r.status);
  resp_free(&r);

  CHECK(stop_server(pid) == 0, "exit status");
  /* persistence: a restart serves what was acknowledged */
  pid = start_server(port, log, "--rules", dir, "--workers", "2", NULL);
  doc = score_doc("kept", "persisted");
  r = http(port, "POST", "/api/v1/rulesets", NULL, doc); /* no token set */
  CHECK(r.status == 201, "%d %s", r.status, r.body);
  resp_free(&r);
  free(doc);
  CHECK(stop_server(pid) == 0, "exit status");
  pid = start_server(port, log, "--rules", dir, "--workers", "2", NULL);
  r = http(port, "POST", "/api/v1/execute/kept", NULL,
           "{\"input\":{\"score\":71}}");
  CHECK(r.status == 200 && has(&r, "persisted"), "%d %s", r.status, r.body);
  resp_free(&r);
  r = http(port, "GET", "/api/v1/rulesets/tier", NULL, NULL);
  CHECK(r.status == 404, "deleted ruleset came back: %d", r.status);
  resp_free(&r);
  CHECK(stop_server(pid) == 0, "exit status");
  remove_dir(dir);
}

/* ==== Hostile requests ==== */

static resp raw(int port, const char *text, size_t n) {
  resp r;
  int fd = connect_to(port);
  memset(&r, 0, sizeof r);
  if (fd < 0) {
    r.body = calloc(1, 1);
    return r;
  }
  send_all(fd, text, n);
  shutdown(fd, SHUT_WR);
  read_resp(fd, &r);
  close(fd);
  return r;
}

static int readable(int fd);

static void t_hostile(void) {
  char *dir = tmpdir(), path[512], log[512], *doc, *buf;
  int port = free_port(), fd, i;
  pid_t pid;
  resp r;
  snprintf(path, sizeof path, "%s/bench.json", dir);
  doc = score_doc("bench", "mid tier");
  write_file(path, doc);
  free(doc);
  snprintf(log, sizeof log, "%s.log", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "1",
                     "--request-timeout", "1", "--max-body-bytes", "4096",
                     NULL);
  /* a body over the limit */
  buf = malloc(20000);
  memset(buf, 'x', 20000);
  buf[19999] = 0;
  r = http(port, "POST", "/api/v1/execute/bench", NULL, buf);
  CHECK(r.status == 413, "%d %s", r.status, r.body);
  resp_free(&r);
  /* a declared length over the limit, no body sent */
  {
    const char *h = "POST /api/v1/execute/bench HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 999999999\r\n\r\n";
    r = raw(port, h, strlen(h));
    CHECK(r.status == 413, "%d %s", r.status, r.body);
    resp_free(&r);
  }
  /* headers too large */
  {
    char *h = malloc(100000);
    int n = sprintf(h, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(h + n, 'y', 90000);
    strcpy(h + n + 90000, "\r\n\r\n");
    r = raw(port, h, strlen(h));
    CHECK(r.status == 0 || (r.status >= 400 && r.status < 500),
          "big headers: %d", r.status);
    resp_free(&r);
    free(h);
  }
  /* garbage request line */
  r = raw(port, "GARBAGE\r\n\r\n", 11);
  CHECK(r.status == 400, "garbage: %d", r.status);
  resp_free(&r);
  /* binary junk */
  for (i = 0; i < 2000; i++)
    buf[i] = (char)(i * 7 + 3);
  r = raw(port, buf, 2000);
  CHECK(r.status == 400, "junk: %d", r.status);
  resp_free(&r);
  free(buf);
  /* invalid JSON, deep nesting, bad UTF-8 escapes */
  r = http(port, "POST", "/api/v1/execute/bench", NULL, "{\"input\":[1,,]}");
  CHECK(r.status == 400, "%d %s", r.status, r.body);
  resp_free(&r);
  {
    char deep[2200];
    memset(deep, '[', 1100);
    memset(deep + 1100, ']', 1100);
    memcpy(deep, "{\"input\":", 9);
    deep[2199] = 0;
    deep[2198] = '}';
    r = http(port, "POST", "/api/v1/execute/bench", NULL, deep);
    CHECK(r.status == 400, "%d %s", r.status, r.body);
    resp_free(&r);
  }
  r = http(port, "POST", "/api/v1/eval", NULL,
           "{\"expression\":\"\\ud800\\u0000\",\"context\":null}");
  CHECK(r.status == 400, "%d %s", r.status, r.body);
  resp_free(&r);
  /* slowloris: partial headers, never finished */
  fd = connect_to(port);
  CHECK(fd >= 0, "connect");
  send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-A: ", 36);
  /* meanwhile the server serves others */
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":75}}");
  CHECK(r.status == 200, "while a client dawdles: %d", r.status);
  resp_free(&r);
  /* and the dawdler is answered 408 at the request timeout (1 s) */
  read_resp(fd, &r);
  CHECK(r.status == 408 && has(&r, "\"code\":\"REQUEST_TIMEOUT\"") &&
            has(&r, "--request-timeout"),
        "slowloris got %d %s", r.status, r.body);
  resp_free(&r);
  close(fd);
  { /* a trickle (a header byte every 150 ms) keeps evhttp's inactivity
    ** timer from firing: the request deadline still cuts it off, with a
    ** 408, within a few seconds (not after the 60 bytes' 9 s) */
    const char *h = "GET /health HTTP/1.1\r\nHost: x\r\nX-Trickle: "
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    "aaaaa\r\n\r\n";
    size_t k, sent = 0;
    fd = connect_to(port);
    CHECK(fd >= 0, "connect");
    for (k = 0; k < strlen(h); k++) {
      struct timespec ts = {0, 150 * 1000 * 1000};
      if (send(fd, h + k, 1, MSG_NOSIGNAL) != 1)
        break; /* the server closed after its 408 */
      sent++;
      if (readable(fd))
        break;
      nanosleep(&ts, NULL);
    }
    read_resp(fd, &r);
    CHECK(r.status == 408 && sent < strlen(h),
          "trickle got %d after %zu of %zu bytes", r.status, sent, strlen(h));
    resp_free(&r);
    close(fd);
  }
  { /* a slow body, headers complete: 408 too */
    const char *h = "POST /api/v1/execute/bench HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 100\r\n\r\n{\"input\":";
    fd = connect_to(port);
    send_all(fd, h, strlen(h));
    read_resp(fd, &r);
    CHECK(r.status == 408, "slow body got %d", r.status);
    resp_free(&r);
    close(fd);
  }
  { /* a keep-alive connection that answered a request and then idles is
    ** closed without a 408 (nothing was asked) */
    const char *h = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf2[8192];
    ssize_t n1, n2;
    fd = connect_to(port);
    send_all(fd, h, strlen(h));
    n1 = recv(fd, buf2, sizeof buf2 - 1, 0);
    CHECK(n1 > 12 && !strncmp(buf2, "HTTP/1.1 200", 12), "keep-alive first");
    n2 = recv(fd, buf2, sizeof buf2 - 1, 0); /* blocks until the close */
    CHECK(n2 == 0, "idle keep-alive got %zd bytes: %.40s", n2,
          n2 > 0 ? buf2 : "");
    close(fd);
  }
  r = http(port, "GET", "/health", NULL, NULL);
  CHECK(r.status == 200, "server down after hostile requests: %d", r.status);
  resp_free(&r);
  CHECK(stop_server(pid) == 0, "exit status");
  remove_dir(dir);
}

/* ==== Slow upstream, limits, drain ==== */

static const char UPSTREAM[] =
    "{\"config\":{\"name\":\"up\",\"entry_step\":\"call\"},"
    "\"steps\":{\"call\":{\"id\":\"call\",\"name\":\"Call\",\"type\":\"action\","
    "\"actions\":[{\"action\":\"external_call\",\"service\":\"network.http\","
    "\"method\":\"GET\",\"params\":[[\"url\",{\"Literal\":"
    "\"http://127.0.0.1:%d/slow?ms=%d\"}]],\"result_variable\":\"r\","
    "\"timeout_ms\":60000}],\"next_step\":\"end\"},"
    "\"end\":{\"id\":\"end\",\"name\":\"End\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"DONE\",\"output\":[[\"status\",{\"Field\":\"$r.payload.status\"}]]}}}}";

static int start_upstream(pid_t *pid) {
  int pfd[2], port = 0;
  char line[32];
  FILE *f;
  if (pipe(pfd))
    return 0;
  *pid = fork();
  if (*pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    execl(TESTSERVER, TESTSERVER, (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  f = fdopen(pfd[0], "r");
  if (f && fgets(line, sizeof line, f))
    port = atoi(line);
  if (f)
    fclose(f);
  return port;
}

/* Sends a request without reading the answer; the socket. */
static int send_req(int port, const char *path, const char *body) {
  char req[1024];
  int fd = connect_to(port);
  int n = snprintf(req, sizeof req,
                   "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, strlen(body), body);
  if (fd >= 0)
    send_all(fd, req, (size_t)n);
  return fd;
}

static int readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

static void t_upstream(void) {
  char *dir = tmpdir(), path[512], log[512], doc[2048], *d2;
  int port = free_port(), up, fd, fd2;
  pid_t pid, upid;
  resp r;
  up = start_upstream(&upid);
  if (!up) {
    fprintf(stderr, "skip: gv_testserver did not start\n");
    return;
  }
  snprintf(path, sizeof path, "%s/up.json", dir);
  snprintf(doc, sizeof doc, UPSTREAM, up, 4000);
  write_file(path, doc);
  snprintf(path, sizeof path, "%s/bench.json", dir);
  d2 = score_doc("bench", "mid tier");
  write_file(path, d2);
  free(d2);
  snprintf(log, sizeof log, "%s.log", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "1",
                     "--allow-http", "127.0.0.1", "--max-connections", "3",
                     "--max-concurrent-executions", "1", NULL);
  /* a run waiting 4 s on the upstream does not block the worker */
  fd = send_req(port, "/api/v1/execute/up", "{\"input\":{}}");
  r = http(port, "GET", "/healthz/live", NULL, NULL); /* request ordering */
  resp_free(&r);
  r = http(port, "POST", "/api/v1/eval", NULL,
           "{\"expression\":\"1 + 1\",\"context\":{}}");
  CHECK(r.status == 200 && has(&r, "\"result\":2"), "%d %s", r.status, r.body);
  resp_free(&r);
  CHECK(!readable(fd), "the slow run answered before the fast request");
  /* one execution in flight is the limit */
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":75}}");
  CHECK(r.status == 429 && has(&r, "--max-concurrent-executions"), "%d %s",
        r.status, r.body);
  resp_free(&r);
  /* the drain: SIGTERM while the slow run is in flight; it is answered */
  fd2 = send_req(port, "/api/v1/execute/bench", "{\"input\":{\"score\":75}}");
  read_resp(fd2, &r); /* 429: still one in flight */
  close(fd2);
  resp_free(&r);
  kill(pid, SIGTERM);
  read_resp(fd, &r);
  CHECK(r.status == 200 && has(&r, "\"code\":\"DONE\"") &&
            has(&r, "\"status\":200"),
        "slow run during drain: %d %s", r.status, r.body);
  resp_free(&r);
  close(fd);
  {
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
              WEXITSTATUS(st) == 0,
          "drained server exit");
  }
  r = http(port, "GET", "/health", NULL, NULL);
  CHECK(r.status == 0, "still answering after the drain: %d", r.status);
  resp_free(&r);

  /* --max-connections: held-open keep-alive connections count */
  pid = start_server(port, log, "--rules", dir, "--workers", "1",
                     "--max-connections", "2", "--allow-http", "127.0.0.1",
                     NULL);
  { /* a client that leaves while its run is parked: no harm done */
    int gone = send_req(port, "/api/v1/execute/up", "{\"input\":{}}");
    r = http(port, "GET", "/healthz/live", NULL, NULL);
    close(gone);
    resp_free(&r);
    r = http(port, "GET", "/health", NULL, NULL);
    CHECK(r.status == 200, "after a client left: %d", r.status);
    resp_free(&r);
  }
  {
    int held[2], k;
    const char *ka = "GET /healthz/live HTTP/1.1\r\nHost: x\r\n\r\n";
    char tmp[512];
    for (k = 0; k < 2; k++) {
      held[k] = connect_to(port);
      send_all(held[k], ka, strlen(ka));
      recv(held[k], tmp, sizeof tmp, 0); /* answered, kept open */
    }
    r = http(port, "GET", "/health", NULL, NULL);
    CHECK(r.status == 429 && has(&r, "--max-connections"), "%d %s", r.status,
          r.body);
    resp_free(&r);
    close(held[0]);
    close(held[1]);
    for (k = 0; k < 1000; k++) { /* the server notices the closes */
      r = http(port, "GET", "/health", NULL, NULL);
      if (r.status == 200)
        break;
      resp_free(&r);
      sleep_ms(20);
    }
    CHECK(r.status == 200, "after the closes: %d", r.status);
    resp_free(&r);
  }
  CHECK(stop_server(pid) == 0, "exit status");
  kill(upid, SIGTERM);
  waitpid(upid, NULL, 0);
  remove_dir(dir);
}

/* ==== Reload under load, a killed worker, concurrent CRUD ==== */

typedef struct load {
  int port;
  volatile int stop;
  int total, failed;
  char last_fail[256];
  int writer;    /* 1: POSTs ruleset updates */
} load;

static void *load_thread(void *arg) {
  load *l = arg;
  int k = 0;
  while (!l->stop) {
    resp r;
    if (l->writer) {
      char msg[32], *doc;
      snprintf(msg, sizeof msg, "cw%d", k++);
      doc = score_doc("crud", msg);
      r = http(l->port, "POST", "/api/v1/rulesets", AUTH, doc);
      free(doc);
    } else {
      r = http(l->port, "POST", "/api/v1/execute/bench", NULL,
               "{\"input\":{\"score\":75}}");
    }
    l->total++;
    if (!(r.status == 200 || r.status == 201) ||
        (!l->writer && !has(&r, "\"code\":\"MID\""))) {
      l->failed++;
      snprintf(l->last_fail, sizeof l->last_fail, "%d %.200s", r.status,
               r.body);
    }
    resp_free(&r);
  }
  return NULL;
}

static long health_pid(int port) {
  resp r = http(port, "GET", "/health", NULL, NULL);
  const char *p = r.body ? strstr(r.body, "\"pid\":") : NULL;
  long v = p ? atol(p + 6) : 0;
  resp_free(&r);
  return v;
}

static void t_reload_kill(void) {
  char *dir = tmpdir(), path[512], log[512], *doc;
  int port = free_port(), i, k;
  pid_t pid;
  pthread_t th[4];
  load ld[4];
  resp r;
  snprintf(path, sizeof path, "%s/bench.json", dir);
  doc = score_doc("bench", "mid tier");
  write_file(path, doc);
  free(doc);
  snprintf(log, sizeof log, "%s.log", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "2",
                     "--api-token", "tok", NULL);
  memset(ld, 0, sizeof ld);
  for (i = 0; i < 4; i++) {
    ld[i].port = port;
    ld[i].writer = i == 3;
    pthread_create(&th[i], NULL, load_thread, &ld[i]);
  }
  /* SIGHUP reloads under load: new versions, then a broken file (the
  ** old version keeps serving) */
  for (k = 0; k < 6; k++) {
    char msg[32];
    snprintf(msg, sizeof msg, "reload %d", k);
    doc = score_doc("bench", msg);
    if (k == 4)
      strcpy(doc + strlen(doc) / 2, "!!"); /* broken */
    write_file(path, doc);
    free(doc);
    kill(pid, SIGHUP);
    sleep_ms(150);
  }
  for (i = 0; i < 4; i++) {
    ld[i].stop = 1;
    pthread_join(th[i], NULL);
  }
  for (i = 0; i < 4; i++)
    CHECK(ld[i].total > 0 && ld[i].failed == 0,
          "client %d: %d of %d failed (last: %s)", i, ld[i].failed,
          ld[i].total, ld[i].last_fail);
  /* the last good file is served by every worker */
  doc = score_doc("bench", "final");
  write_file(path, doc);
  free(doc);
  kill(pid, SIGHUP);
  for (k = 0, i = 0; k < 1000 && i < 10; k++) {
    r = http(port, "POST", "/api/v1/execute/bench", NULL,
             "{\"input\":{\"score\":75}}");
    i = has(&r, "\"final\"") ? i + 1 : 0;
    resp_free(&r);
    if (i < 10)
      sleep_ms(i ? 0 : 20);
  }
  CHECK(i == 10, "the reloaded version was not served by every worker");

  /* SIGKILL a worker right after an acknowledged write */
  doc = score_doc("acked", "written");
  r = http(port, "POST", "/api/v1/rulesets", AUTH, doc);
  CHECK(r.status == 201, "%d %s", r.status, r.body);
  resp_free(&r);
  free(doc);
  {
    long victim = health_pid(port), p2 = 0;
    int replaced = 0;
    CHECK(victim > 0, "no worker pid");
    kill((pid_t)victim, SIGKILL);
    for (k = 0; k < 1000 && !replaced; k++) {
      resp m = http(port, "GET", "/metrics", NULL, NULL);
      replaced = has(&m, "gavel_serve_worker_restarts_total 1");
      resp_free(&m);
      if (!replaced)
        sleep_ms(50);
    }
    CHECK(replaced, "the killed worker was not replaced");
    /* every answer comes from a live worker and knows the write */
    for (k = 0; k < 30; k++) {
      r = http(port, "POST", "/api/v1/execute/acked", NULL,
               "{\"input\":{\"score\":75}}");
      CHECK(r.status == 200 && has(&r, "written"), "%d %s", r.status, r.body);
      resp_free(&r);
      p2 = health_pid(port);
      CHECK(p2 != victim && p2 > 0, "answer from pid %ld", p2);
    }
  }
  CHECK(stop_server(pid) == 0, "exit status");
  remove_dir(dir);
}

/* ==== Decision capture and audit lines ==== */

static int count_lines(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  char line[8192];
  int n = 0;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

static char *replay(const char *cap, const char *dir, int *rc);

static void t_capture(void) {
  char *dir = tmpdir(), path[512], log[512], cap[512], aud[512], *doc;
  int port = free_port(), i;
  pid_t pid;
  resp r;
  snprintf(path, sizeof path, "%s/bench.json", dir);
  doc = score_doc("bench", "mid tier");
  write_file(path, doc);
  free(doc);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(cap, sizeof cap, "%s/.capture.jsonl", dir);
  snprintf(aud, sizeof aud, "%s/.audit.jsonl", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "2",
                     "--capture", cap, "--audit", aud, NULL);
  for (i = 0; i < 5; i++) {
    r = http(port, "POST", "/api/v1/execute/bench", NULL,
             i == 4 ? "{\"input\":{\"score\":\"x\"}}"
                    : "{\"input\":{\"score\":75}}");
    CHECK(r.status == (i == 4 ? 422 : 200), "%d %s", r.status, r.body);
    resp_free(&r);
  }
  /* Written off the request path by flusher threads, yet without
  ** waiting for a batch to fill or for the server to stop: every record
  ** reaches the files while the server keeps running (waits up to 30 s
  ** on a loaded machine; about a second here). */
  for (i = 0; i < 300 && (count_lines(cap, "\"ruleset\":\"bench\"") < 5 ||
                          count_lines(aud, "\"event\":\"rule_executed\"") < 5);
       i++)
    sleep_ms(100);
  CHECK(count_lines(cap, "\"ruleset\":\"bench\"") == 5 &&
            count_lines(aud, "\"event\":\"rule_executed\"") == 5,
        "records written while serving: capture %s, audit %s", cap, aud);
  /* A reloaded version's records carry its document's hash (they carried
  ** the first version's: replay --verify called them determinism bugs) */
  doc = score_doc("bench", "reloaded");
  write_file(path, doc);
  free(doc);
  kill(pid, SIGHUP);
  for (i = 0; i < 300; i++) {
    r = http(port, "POST", "/api/v1/execute/bench", NULL,
             "{\"input\":{\"score\":75}}");
    if (has(&r, "\"reloaded\"")) {
      resp_free(&r);
      break;
    }
    resp_free(&r);
    sleep_ms(20);
  }
  for (i = 0; i < 300 && count_lines(cap, "reloaded") < 1; i++)
    sleep_ms(100);
  CHECK(stop_server(pid) == 0, "exit status");
  {
    int rc = -1;
    char *out = replay(cap, dir, &rc);
    /* the rules dir now holds the new version only: its records replay,
    ** the first version's have no ruleset with their hash */
    CHECK(out && strstr(out, "\"consistent\":1,") != NULL, "replay: %s",
          out ? out : "(none)");
    free(out);
  }
  CHECK(count_lines(cap, "\"ruleset\":\"bench\"") >= 6, "capture %s", cap);
  CHECK(count_lines(cap, "\"code\":\"MID\"") >= 4 &&
            count_lines(cap, "\"hash\":\"sha256:") ==
                count_lines(cap, "\"ruleset\":\"bench\""),
        "capture %s", cap);
  CHECK(count_lines(aud, "\"event\":\"rule_executed\"") >= 6, "audit %s",
        aud);
  remove_dir(dir);
}

/* Audit lines lost while the server stops (a log on /dev/full: every
** write fails) are named on stderr and make the exit status 1; it was 0
** after "1 line lost". */
static void t_audit_lost(void) {
  char *dir = tmpdir(), path[512], log[512], *doc;
  int port = free_port();
  pid_t pid;
  resp r;
  FILE *f;
  if (!(f = fopen("/dev/full", "w"))) {
    printf("skip audit lines lost: no /dev/full\n");
    remove_dir(dir);
    return;
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/bench.json", dir);
  doc = score_doc("bench", "mid tier");
  write_file(path, doc);
  free(doc);
  snprintf(log, sizeof log, "%s.log", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "1", "--audit",
                     "/dev/full", NULL);
  r = http(port, "POST", "/api/v1/execute/bench", NULL,
           "{\"input\":{\"score\":75}}");
  CHECK(r.status == 200, "%d %s", r.status, r.body);
  resp_free(&r);
  CHECK(stop_server(pid) == 1, "exit status after lost audit lines");
  CHECK(count_lines(log, "line lost writing '/dev/full'") >= 1, "log %s", log);
  remove(log);
  remove_dir(dir);
}

/* Runs 'gavel replay --verify CAP --rules DIR --json'; its output (owned)
** and exit status. */
static char *replay(const char *cap, const char *dir, int *rc) {
  char cmd[2048], *out = NULL;
  size_t n = 0, m;
  FILE *p;
  snprintf(cmd, sizeof cmd, "'%s' replay --verify '%s' --rules '%s' --json",
           GAVEL, cap, dir);
  *rc = -1;
  if (!(p = popen(cmd, "r")))
    return NULL;
  out = malloc(1);
  for (;;) {
    char tmp[4096];
    char *g;
    if (!(m = fread(tmp, 1, sizeof tmp, p)))
      break;
    if (!(g = realloc(out, n + m + 1)))
      break;
    out = g;
    memcpy(out + n, tmp, m);
    n += m;
  }
  if (out)
    out[n] = 0;
  {
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  return out;
}

/* A captured decision that called network.http on the event loop (the
** run pends, the loop answers, the run resumes) carries its receipts: with
** the upstream gone, replay --verify reproduces every record.  Two slow
** calls and a fast one are in flight at once on one worker, so receipts of
** interleaved runs must not mix. */
static void t_capture_http(void) {
  char *dir = tmpdir(), path[512], log[512], cap[512], doc[2048], *out;
  int port = free_port(), up, fd[3], i, rc;
  pid_t pid, upid;
  resp r;
  up = start_upstream(&upid);
  if (!up) {
    fprintf(stderr, "skip: gv_testserver did not start\n");
    remove_dir(dir);
    return;
  }
  snprintf(path, sizeof path, "%s/up.json", dir);
  snprintf(doc, sizeof doc, UPSTREAM, up, 400);
  write_file(path, doc);
  snprintf(path, sizeof path, "%s/up2.json", dir);
  snprintf(doc, sizeof doc, UPSTREAM, up, 20);
  {
    char *q = strstr(doc, "\"name\":\"up\"");
    memmove(q + 11, q + 10, strlen(q + 10) + 1);
    memcpy(q, "\"name\":\"up2\"", 12);
  }
  write_file(path, doc);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(cap, sizeof cap, "%s/.capture.jsonl", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "1",
                     "--allow-http", "127.0.0.1", "--capture", cap, NULL);
  fd[0] = send_req(port, "/api/v1/execute/up", "{\"input\":{\"k\":1}}");
  fd[1] = send_req(port, "/api/v1/execute/up", "{\"input\":{\"k\":2}}");
  fd[2] = send_req(port, "/api/v1/execute/up2", "{\"input\":{\"k\":3}}");
  for (i = 0; i < 3; i++) {
    read_resp(fd[i], &r);
    CHECK(r.status == 200 && has(&r, "\"code\":\"DONE\"") &&
              has(&r, "\"status\":200"),
          "run %d through the upstream: %d %s", i, r.status, r.body);
    resp_free(&r);
    close(fd[i]);
  }
  CHECK(stop_server(pid) == 0, "exit status");
  kill(upid, SIGTERM); /* replay must not need it */
  waitpid(upid, NULL, 0);
  CHECK(count_lines(cap, "\"receipts\":[{\"capability\":\"network.http\"") ==
            3 &&
            count_lines(cap, "\"outcome\":\"ok\",\"payload\":{") == 3 &&
            count_lines(cap, "},{\"capability\"") == 0,
        "one network.http receipt per record: %s", cap);
  CHECK(count_lines(cap, "ms=400") == 2 && count_lines(cap, "ms=20") == 1,
        "receipts of interleaved runs kept apart: %s", cap);
  out = replay(cap, dir, &rc);
  CHECK(rc == 0 && out && strstr(out, "\"consistent\":3,") &&
            strstr(out, "\"needs-host-call\":0"),
        "replay --verify of network.http decisions: rc %d %s", rc,
        out ? out : "(no output)");
  free(out);
  remove_dir(dir);
}

/* ==== Batch: runs waiting on network.http overlap ==== */

static const char PBATCH[] =
    "{\"config\":{\"name\":\"pb\",\"entry_step\":\"call\"},"
    "\"steps\":{\"call\":{\"id\":\"call\",\"name\":\"Call\",\"type\":\"action\","
    "\"actions\":[{\"action\":\"external_call\",\"service\":\"network.http\","
    "\"method\":\"GET\",\"params\":[[\"url\",{\"Field\":\"url\"}]],"
    "\"result_variable\":\"r\",\"timeout_ms\":120000}],\"next_step\":\"end\"},"
    "\"end\":{\"id\":\"end\",\"name\":\"End\",\"type\":\"terminal\",\"result\":"
    "{\"code\":\"DONE\",\"output\":[[\"status\",{\"Field\":\"$r.payload.status\"}],"
    "[\"url\",{\"Field\":\"url\"}]]}}}}";

/* A batch (options.parallel, Ordo's default) whose first input waits on
** an upstream that never answers: the second input's run still finishes
** (its capture record is written) while the batch is unanswered; the
** results keep input order.  No timing: the hang ends when the upstream
** is stopped.  "parallel": false keeps answering in order. */
static void t_batch_parallel(void) {
  char *dir = tmpdir(), path[512], log[512], cap[512], body[1024];
  int port = free_port(), up, fd, i, seen = 0;
  pid_t pid, upid;
  resp r;
  up = start_upstream(&upid);
  if (!up) {
    fprintf(stderr, "skip: gv_testserver did not start\n");
    remove_dir(dir);
    return;
  }
  snprintf(path, sizeof path, "%s/pb.json", dir);
  write_file(path, PBATCH);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(cap, sizeof cap, "%s/.capture.jsonl", dir);
  pid = start_server(port, log, "--rules", dir, "--workers", "1",
                     "--allow-http", "127.0.0.1", "--capture", cap, NULL);
  /* "parallel": false: one after another, in order */
  snprintf(body, sizeof body,
           "{\"inputs\":[{\"url\":\"http://127.0.0.1:%d/slow?ms=30\"},"
           "{\"url\":\"http://127.0.0.1:%d/ok\"}],"
           "\"options\":{\"parallel\":false}}",
           up, up);
  r = http(port, "POST", "/api/v1/execute/pb/batch", NULL, body);
  CHECK(r.status == 200 && has(&r, "\"success\":2") &&
            has(&r, "/slow?ms=30") && has(&r, "/ok\"") &&
            strstr(r.body, "/slow?ms=30") < strstr(r.body, "/ok\""),
        "serial batch: %d %s", r.status, r.body);
  resp_free(&r);
  for (i = 0; i < 300 && count_lines(cap, "\"ruleset\":\"pb\"") < 2; i++)
    sleep_ms(100);
  CHECK(count_lines(cap, "\"ruleset\":\"pb\"") == 2, "serial records %s",
        cap);
  /* parallel (default): the /ok run ends while /hang holds the batch */
  snprintf(body, sizeof body,
           "{\"inputs\":[{\"url\":\"http://127.0.0.1:%d/hang\"},"
           "{\"url\":\"http://127.0.0.1:%d/ok?second\"}]}",
           up, up);
  fd = send_req(port, "/api/v1/execute/pb/batch", body);
  for (i = 0; i < 300 && !(seen = count_lines(cap, "ok?second") == 1); i++)
    sleep_ms(100);
  CHECK(seen, "the second input's run did not finish while the first "
              "waited: %s", cap);
  CHECK(!readable(fd), "the batch answered while an input was in flight");
  kill(upid, SIGTERM); /* the hanging call fails now */
  waitpid(upid, NULL, 0);
  read_resp(fd, &r);
  close(fd);
  CHECK(r.status == 200 && has(&r, "\"total\":2,\"success\":1,\"failed\":1") &&
            has(&r, "{\"results\":[{\"code\":\"error\"") &&
            has(&r, "\"code\":\"DONE\"") && has(&r, "/ok?second"),
        "parallel batch, results in input order: %d %s", r.status, r.body);
  resp_free(&r);
  CHECK(stop_server(pid) == 0, "exit status");
  remove_dir(dir);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_serve GAVEL GV_TESTSERVER\n");
    return 2;
  }
  GAVEL = argv[1];
  TESTSERVER = argv[2];
  signal(SIGPIPE, SIG_IGN);
  t_endpoints();
  t_hostile();
  t_upstream();
  t_reload_kill();
  t_capture();
  t_audit_lost();
  t_capture_http();
  t_batch_parallel();
  printf("test_serve: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
