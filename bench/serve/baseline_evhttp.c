/*
** baseline_evhttp.c -- the baseline of bench/serve/run.sh: the least an
** evhttp server can do per request.  N worker processes on one port
** (SO_REUSEPORT), each with its own event_base, as 'gavel serve' runs
** them; every request's body is read by evhttp and answered with a
** constant JSON result of the size 'gavel serve' sends for score.json.
**
** usage: serve_baseline PORT WORKERS   (runs until SIGTERM)
*/
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char answer[] =
    "{\"code\":\"MID\",\"message\":\"mid tier\",\"output\":{},"
    "\"duration_us\":1}";

static void on_request(struct evhttp_request *req, void *arg) {
  struct evbuffer *b = arg;
  (void)evbuffer_pullup(evhttp_request_get_input_buffer(req), -1);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "application/json");
  evbuffer_add_reference(b, answer, sizeof answer - 1, NULL, NULL);
  evhttp_send_reply(req, 200, "OK", b);
}

static void on_term(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  event_base_loopexit(arg, NULL);
}

static int worker(int port) {
  struct event_base *base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  struct evbuffer *b = evbuffer_new();
  struct event *ev = evsignal_new(base, SIGTERM, on_term, base);
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024)) {
    perror("serve_baseline");
    return 1;
  }
  evutil_make_socket_nonblocking(fd);
  evhttp_accept_socket(http, fd);
  evhttp_set_gencb(http, on_request, b);
  event_add(ev, NULL);
  event_base_dispatch(base);
  event_free(ev);
  evhttp_free(http);
  evbuffer_free(b);
  event_base_free(base);
  return 0;
}

int main(int argc, char **argv) {
  int port, n, i;
  sigset_t set;
  pid_t pids[64];
  if (argc < 3 || (port = atoi(argv[1])) <= 0 || (n = atoi(argv[2])) <= 0 ||
      n > 64) {
    fprintf(stderr, "usage: serve_baseline PORT WORKERS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  for (i = 0; i < n; i++)
    if ((pids[i] = fork()) == 0)
      _exit(worker(port));
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sigwait(&set, &i);
  for (i = 0; i < n; i++)
    kill(pids[i], SIGTERM);
  for (i = 0; i < n; i++)
    waitpid(pids[i], NULL, 0);
  return 0;
}
