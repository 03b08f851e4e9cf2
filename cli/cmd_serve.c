/*
** cmd_serve.c -- stage: 'gavel serve', the supervisor.  Parses the
** options, checks the address, forks the workers (serve_http.c) and
** keeps them alive: a worker that dies is replaced (restarts counted in
** the shared page; a slot that keeps failing at start stops the server),
** SIGHUP is passed to every worker (each recompiles what changed, the
** old versions serving until then), SIGTERM/SIGINT drain the workers
** (no new connections, in-flight requests answered) and exit.
*/
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE 1
#include "serve.h"
#include "cli_replay.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char serve_usage[] =
    "usage: gavel serve [--listen HOST:PORT] [--rules DIR] [--workers N]\n"
    "                   [--api-token T] [options]\n"
    "  a rule server speaking Ordo's HTTP API (POST /api/v1/execute/NAME,\n"
    "  /api/v1/rulesets, /api/v1/eval, /health, /metrics, ...)\n"
    "  --listen HOST:PORT        address (default 127.0.0.1:8080)\n"
    "  --rules DIR               rules directory: NAME.json files, written\n"
    "                            by POST /api/v1/rulesets (default: a\n"
    "                            temporary directory removed at exit)\n"
    "  --workers N               worker processes (default: one per core)\n"
    "  --api-token T             writes need 'Authorization: Bearer T'\n"
    "                            (also from $GAVEL_API_TOKEN)\n"
    "  --max-body-bytes N        request body limit (default 10485760)\n"
    "  --max-connections N       open connections per worker (default 10000)\n"
    "  --request-timeout S       seconds to read a request (then 408) and to\n"
    "                            answer it (30)\n"
    "  --max-concurrent-executions N  executions in flight, all workers\n"
    "  --allow-http HOST[:PORT]  network.http allowlist (repeatable)\n"
    "  --audit FILE              audit.logger lines (one per run and call)\n"
    "  --capture FILE.jsonl      decision records for 'gavel replay' (and the\n"
    "                            other --capture-* options of 'gavel run')\n"
    "signals: SIGHUP reloads the rules directory, SIGTERM drains and exits\n";

static int num_opt(const char *opt, const char *v, long lo, long hi,
                   long *out) {
  char *end;
  long n;
  errno = 0;
  n = strtol(v, &end, 10);
  if (!*v || *end || errno || n < lo || n > hi) {
    fprintf(stderr, "error: usage: %s wants an integer from %ld to %ld, "
                    "not '%s'\n",
            opt, lo, hi, v);
    return -1;
  }
  *out = n;
  return 0;
}

static int parse_listen(serve_opts *o, const char *v) {
  const char *colon = strrchr(v, ':');
  long port;
  size_t hn;
  if (!colon || colon == v) {
    fprintf(stderr, "error: usage: --listen wants HOST:PORT, not '%s'\n", v);
    return -1;
  }
  if (num_opt("--listen port", colon + 1, 1, 65535, &port))
    return -1;
  hn = (size_t)(colon - v);
  if (v[0] == '[' && colon[-1] == ']') { /* [::1]:8080 */
    v++;
    hn -= 2;
  }
  if (hn >= sizeof o->host) {
    fprintf(stderr, "error: usage: --listen host too long\n");
    return -1;
  }
  memcpy(o->host, v, hn);
  o->host[hn] = 0;
  o->port = (int)port;
  return 0;
}

static int parse_args(serve_opts *o, int argc, char **argv) {
  int i;
  long n;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int k;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(serve_usage, stdout);
      return 1;
    }
    k = cli_limit_option(&o->cfg, argc, argv, &i);
    if (k == 0)
      k = cli_capture_option(argc, argv, &i);
    if (k < 0)
      return -1;
    if (k > 0)
      continue;
    if (!v) {
      fprintf(stderr, "error: usage: unknown option or missing value: '%s' "
                      "(see gavel serve --help)\n",
              a);
      return -1;
    }
    if (!strcmp(a, "--listen")) {
      if (parse_listen(o, v))
        return -1;
    } else if (!strcmp(a, "--rules")) {
      if (strlen(v) >= sizeof o->rules_dir - 300) {
        fprintf(stderr, "error: usage: --rules path too long\n");
        return -1;
      }
      snprintf(o->rules_dir, sizeof o->rules_dir, "%s", v);
    } else if (!strcmp(a, "--workers")) {
      if (num_opt(a, v, 1, SERVE_MAX_WORKERS, &n))
        return -1;
      o->workers = (int)n;
    } else if (!strcmp(a, "--api-token")) {
      o->api_token = v;
    } else if (!strcmp(a, "--max-body-bytes")) {
      if (num_opt(a, v, 1, 1L << 30, &n))
        return -1;
      o->max_body = (size_t)n;
    } else if (!strcmp(a, "--max-connections")) {
      if (num_opt(a, v, 1, 1000000, &n))
        return -1;
      o->max_connections = (int)n;
    } else if (!strcmp(a, "--request-timeout")) {
      if (num_opt(a, v, 1, 3600, &n))
        return -1;
      o->timeout_s = (int)n;
    } else if (!strcmp(a, "--max-concurrent-executions")) {
      if (num_opt(a, v, 1, 100000000, &n))
        return -1;
      o->max_exec = (int)n;
    } else if (!strcmp(a, "--allow-http")) {
      if (o->n_allow_http == SERVE_MAX_ALLOW) {
        fprintf(stderr, "error: usage: more than %d --allow-http\n",
                SERVE_MAX_ALLOW);
        return -1;
      }
      o->allow_http[o->n_allow_http++] = v;
    } else if (!strcmp(a, "--audit")) {
      o->audit_file = v;
    } else {
      fprintf(stderr, "error: usage: unknown option '%s' (see gavel serve "
                      "--help)\n",
              a);
      return -1;
    }
    i++;
  }
  return 0;
}

/* ==== Supervisor ==== */

static pid_t spawn(const serve_opts *o, serve_shm *shm, int slot,
                   const sigset_t *old) {
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    int rc;
    /* a supervisor that dies (even by SIGKILL) drains its workers */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(0);
    /* the signals stay blocked until the worker's loop handles them: a
    ** SIGHUP during its start is then a reload, not its death */
    (void)old;
    rc = serve_worker(o, shm, slot);
    fflush(NULL);
    exit(rc); /* (exit, not _exit: leak checkers see the worker's end) */
  }
  if (pid > 0)
    atomic_store(&shm->w[slot].pid, (int)pid);
  return pid;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f) {
  (void)st;
  (void)flag;
  (void)f;
  return remove(p);
}

static int check_listen(const serve_opts *o) {
  struct addrinfo hints, *res = NULL, *ai;
  char port[16];
  int fd, one = 1, ok = 0, e = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(port, sizeof port, "%d", o->port);
  if ((e = getaddrinfo(o->host[0] ? o->host : NULL, port, &hints, &res))) {
    fprintf(stderr, "error: cannot resolve --listen host '%s': %s\n", o->host,
            gai_strerror(e));
    return -1;
  }
  for (ai = res; ai && !ok; ai = ai->ai_next) {
    if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0)) < 0)
      continue;
    /* without SO_REUSEPORT: a port another server (another 'gavel
    ** serve' too) listens on is refused, not silently shared */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    e = errno;
    close(fd);
  }
  freeaddrinfo(res);
  if (!ok) {
    fprintf(stderr, "error: io: cannot listen on %s:%d: %s\n", o->host,
            o->port, strerror(e));
    return -1;
  }
  return 0;
}

int cmd_serve(int argc, char **argv) {
  serve_opts *o = calloc(1, sizeof *o);
  serve_shm *shm;
  sigset_t set, old;
  time_t started[SERVE_MAX_WORKERS];
  int quick_fails[SERVE_MAX_WORKERS];
  int i, rc, alive, draining = 0, status = 0;
  long ncpu;
  if (!o) {
    fprintf(stderr, "error: out of memory\n");
    return 1;
  }
  snprintf(o->host, sizeof o->host, "127.0.0.1");
  o->port = 8080;
  o->max_body = 10u << 20;
  o->max_connections = 10000;
  o->timeout_s = 30;
  o->api_token = getenv("GAVEL_API_TOKEN");
  if (o->api_token && !*o->api_token)
    o->api_token = NULL;
  ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  o->workers = ncpu < 1 ? 1 : ncpu > SERVE_MAX_WORKERS ? SERVE_MAX_WORKERS
                                                      : (int)ncpu;
  rc = parse_args(o, argc, argv);
  if (rc) {
    free(o);
    return rc > 0 ? 0 : 2;
  }
  if (check_listen(o)) {
    free(o);
    return 1;
  }
  if (!o->rules_dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(o->rules_dir, sizeof o->rules_dir, "%s/gavel-serve-XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(o->rules_dir)) {
      fprintf(stderr, "error: io: cannot create a rules directory: %s\n",
              strerror(errno));
      free(o);
      return 1;
    }
    o->temp_rules = 1;
  } else {
    struct stat st;
    if (stat(o->rules_dir, &st) || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "error: io: --rules '%s' is not a directory\n",
              o->rules_dir);
      free(o);
      return 1;
    }
  }
  {
    const char *t = getenv("TMPDIR");
    snprintf(o->run_dir, sizeof o->run_dir, "%s/gavel-serve-run-XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(o->run_dir)) {
      fprintf(stderr, "error: io: cannot create a run directory: %s\n",
              strerror(errno));
      free(o);
      return 1;
    }
  }
  shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    fprintf(stderr, "error: cannot map shared memory: %s\n", strerror(errno));
    free(o);
    return 1;
  }
  memset(shm, 0, sizeof *shm);
  atomic_store(&shm->started, (int64_t)time(NULL));
  atomic_store(&shm->gen, 1);

  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, &old);
  fflush(NULL);
  for (i = 0; i < o->workers; i++) {
    quick_fails[i] = 0;
    started[i] = time(NULL);
    if (spawn(o, shm, i, &old) < 0) {
      fprintf(stderr, "error: fork: %s\n", strerror(errno));
      status = 1;
      draining = 1;
      break;
    }
  }
  fprintf(stderr,
          "gavel serve: listening on http://%s:%d (%d worker%s, rules %s%s)\n",
          o->host, o->port, o->workers, o->workers == 1 ? "" : "s",
          o->rules_dir, o->temp_rules ? ", temporary" : "");
  if (draining)
    for (i = 0; i < o->workers; i++)
      if (atomic_load(&shm->w[i].pid) > 0)
        kill(atomic_load(&shm->w[i].pid), SIGTERM);

  for (;;) {
    siginfo_t si;
    int sig;
    alive = 0;
    for (i = 0; i < o->workers; i++)
      alive += atomic_load(&shm->w[i].pid) > 0;
    if (draining && !alive)
      break;
    sig = sigwaitinfo(&set, &si);
    if (sig < 0)
      continue;
    if (sig == SIGHUP) {
      fprintf(stderr, "gavel serve: SIGHUP: reloading %s\n", o->rules_dir);
      for (i = 0; i < o->workers; i++)
        if (atomic_load(&shm->w[i].pid) > 0)
          kill(atomic_load(&shm->w[i].pid), SIGHUP);
    } else if (sig == SIGTERM || sig == SIGINT) {
      if (!draining)
        fprintf(stderr, "gavel serve: draining (%s)\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
      draining = 1;
      atomic_store(&shm->draining, 1);
      for (i = 0; i < o->workers; i++)
        if (atomic_load(&shm->w[i].pid) > 0)
          kill(atomic_load(&shm->w[i].pid), SIGTERM);
    } else if (sig == SIGCHLD) {
      pid_t pid;
      int ws;
      while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        for (i = 0; i < o->workers; i++)
          if (atomic_load(&shm->w[i].pid) == (int)pid)
            break;
        if (i == o->workers)
          continue;
        atomic_store(&shm->w[i].pid, 0);
        atomic_store(&shm->w[i].active_exec, 0); /* its runs died with it */
        if (draining) {
          /* a worker that lost audit lines or capture records while
          ** stopping exits 1: so does serve */
          if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            status = 1;
          continue;
        }
        if (WIFSIGNALED(ws))
          fprintf(stderr, "gavel serve: worker %d (pid %ld) killed by signal "
                          "%d; replacing it\n",
                  i, (long)pid, WTERMSIG(ws));
        else
          fprintf(stderr, "gavel serve: worker %d (pid %ld) exited with %d; "
                          "replacing it\n",
                  i, (long)pid, WEXITSTATUS(ws));
        if (time(NULL) - started[i] < 2) {
          if (++quick_fails[i] >= 5) {
            fprintf(stderr, "gavel serve: error: worker %d failed 5 times "
                            "at start; stopping\n",
                    i);
            status = 1;
            draining = 1;
            for (i = 0; i < o->workers; i++)
              if (atomic_load(&shm->w[i].pid) > 0)
                kill(atomic_load(&shm->w[i].pid), SIGTERM);
            break;
          }
          usleep(200000);
        } else
          quick_fails[i] = 0;
        started[i] = time(NULL);
        atomic_fetch_add(&shm->restarts, 1);
        if (spawn(o, shm, i, &old) < 0)
          fprintf(stderr, "gavel serve: error: fork: %s\n", strerror(errno));
      }
    }
  }
  if (o->temp_rules)
    nftw(o->rules_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  nftw(o->run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  fprintf(stderr, "gavel serve: stopped\n");
  munmap(shm, sizeof *shm);
  sigprocmask(SIG_SETMASK, &old, NULL);
  free(o);
  return status;
}
