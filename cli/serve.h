/*
** serve.h -- 'gavel serve': shared state of the supervisor (cmd_serve.c),
** the workers (serve_http.c), the rules directory store (serve_store.c)
** and the JSON envelope reader (serve_json.c).  Not part of the library.
**
** Processes: the parent binds nothing; it forks N workers, each with its
** own listening socket on the same port (SO_REUSEPORT) and its own
** event_base.  They share one anonymous MAP_SHARED page (serve_shm):
** the store generation (bumped after every acknowledged write, so every
** worker rescans the directory before its next request), per-worker
** counters, and the drain flag.
*/
#ifndef GAVEL_SERVE_H
#define GAVEL_SERVE_H

#include "cli_rules.h"
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SERVE_MAX_WORKERS 64
#define SERVE_MAX_ALLOW 64
#define SERVE_VERSIONS_KEPT 10
#define SERVE_MAX_BATCH 1000

typedef struct serve_opts {
  char host[256];               /* --listen HOST:PORT                    */
  int port;                     /* its port                              */
  char rules_dir[4096];         /* --rules DIR (or a private temp dir)   */
  int temp_rules;               /* 1: rules_dir is ours, removed at exit */
  char run_dir[4096];           /* private: workers' metrics snapshots   */
  int workers;                  /* --workers N                           */
  const char *api_token;        /* --api-token T (NULL: writes are open) */
  size_t max_body;              /* --max-body-bytes (10 MiB)             */
  int max_connections;          /* --max-connections per worker          */
  int timeout_s;                /* --request-timeout seconds (30)        */
  int max_exec;                 /* --max-concurrent-executions (0: none) */
  const char *allow_http[SERVE_MAX_ALLOW]; /* --allow-http HOST[:PORT]   */
  int n_allow_http;             /* count                                 */
  const char *audit_file;       /* --audit FILE                          */
  gavel_config cfg;             /* --max-* host ceilings                 */
} serve_opts;

/* Counters one worker owns (written by it, summed by readers). */
typedef struct serve_wstat {
  _Atomic int64_t active_exec;     /* executions in flight            */
  _Atomic uint64_t requests;       /* requests answered               */
  _Atomic uint64_t status[6];      /* by class: [1]..[5] = 1xx..5xx   */
  _Atomic uint64_t reloads;        /* store rescans                   */
  _Atomic uint64_t reload_errors;  /* files that failed to compile    */
  _Atomic int pid;                 /* its process id (0: none)        */
} serve_wstat;

typedef struct serve_shm {
  _Atomic uint64_t gen;            /* store generation                */
  _Atomic uint64_t restarts;       /* workers replaced by the parent  */
  _Atomic int draining;            /* SIGTERM received                */
  _Atomic int64_t started;         /* unix time the server started    */
  serve_wstat w[SERVE_MAX_WORKERS];
} serve_shm;

/* ==== serve_json.c: envelopes ==== */

typedef struct sj_span {
  const char *p;  /* first byte of the value (NULL: member absent) */
  size_t n;       /* its length                                    */
} sj_span;

/* Validates one JSON value at p[0..n) (whitespace around allowed);
** 0, or -1 with "invalid JSON at line L column C: what" in msg. */
int sj_validate(const char *p, size_t n, char *msg, size_t msz);
/* Members of a top-level object: for each of the n_keys keys, the span
** of its value (last one wins).  -1 (msg set) when 'p' is not a valid
** JSON object. */
int sj_object(const char *p, size_t n, const char *const *keys, size_t n_keys,
              sj_span *out, char *msg, size_t msz);
/* Elements of an array span, one by one: *pos starts at 0; 1 with the
** element in *el, 0 at the end.  The span must be a validated array. */
int sj_array_next(sj_span arr, size_t *pos, sj_span *el);
/* Decodes a validated JSON string span into a malloc'd NUL-terminated
** string (NULL: not a string, or out of memory). */
char *sj_string(sj_span s, size_t *len);
/* 1 if the span is the literal true. */
int sj_is_true(sj_span s);
/* Appends a JSON string literal. */
struct evbuffer;
void sj_put_str(struct evbuffer *b, const char *s, size_t n);

/* ==== serve_store.c: the rules directory ==== */

typedef struct serve_entry serve_entry;
struct serve_entry {
  char *name;            /* config.name                               */
  char *version;         /* config.version ("" when absent)           */
  char *description;     /* config.description                        */
  gavel_ruleset *rs;     /* compiled                                  */
  char *text;            /* the document as stored                    */
  size_t len;            /* its length                                */
  char *file;            /* file name in the directory                */
  ino_t ino;             /* identity of the file when loaded          */
  off_t size;            /* size                                      */
  int64_t mtime_ns;      /* modification time                         */
  int refs;              /* store's 1 + runs in flight                */
  gavel_exec *pool[8];   /* idle execution contexts                   */
  int n_pool;            /* count                                     */
  int seen;              /* scan mark                                 */
};

/* A file that failed to compile, as it was then (not retried, nor
** logged again, until it changes). */
typedef struct serve_bad {
  char file[256];        /* name in the directory */
  ino_t ino;             /* identity              */
  off_t size;
  int64_t mtime_ns;
} serve_bad;

typedef struct serve_store {
  const serve_opts *o;     /* options                                 */
  gavel_runtime *rt;       /* runtime rulesets compile in             */
  serve_entry **e;         /* entries, sorted by name                 */
  int n_e;                 /* count                                   */
  int cap_e;               /* allocated                               */
  uint64_t gen;            /* shm generation this store reflects      */
  int log_diags;           /* 1: print reload diagnostics (worker 0)  */
  serve_entry **dead;      /* replaced entries kept for parked runs   */
  int n_dead;              /* count                                   */
  int cap_dead;            /* allocated                               */
  serve_bad bad[32];       /* files known not to compile              */
  int n_bad;               /* count (a ring past 32)                  */
} serve_store;

/* Diagnostics collected into a JSON array ([{"level","message","path",
** "line","column"}], evbuffer) and counted. */
typedef struct serve_diags {
  struct evbuffer *json; /* array body, without brackets       */
  int n_errors;          /* errors                             */
  int n;                 /* entries                            */
  char first[GAVEL_ERRMSG_SIZE]; /* first error's message     */
} serve_diags;

int serve_name_ok(const char *name);
/* Compiles 'text'; NULL with every problem in 'd' on failure. */
serve_entry *serve_compile(serve_store *s, const char *text, size_t len,
                           serve_diags *d);
/* Rescans the directory: changed files recompile (a broken one keeps its
** old version, diagnostics on stderr when log_diags), removed ones go. */
void serve_store_scan(serve_store *s);
serve_entry *serve_store_get(serve_store *s, const char *name);
void serve_entry_release(serve_entry *e);
/* Releases the entries replaced by scans (when no run is parked). */
void serve_store_reap(serve_store *s);
void serve_store_free(serve_store *s);
/* Writes an accepted document as NAME.json (temp, fsync, rename, fsync
** dir) and as the next version; *created when it did not exist; *seq the
** version number.  0, or -1 with msg. */
int serve_store_put(serve_store *s, const char *name, const char *text,
                    size_t len, int *created, long *seq, char *msg,
                    size_t msz);
/* Removes NAME.json (versions stay); 1 removed, 0 absent, -1 error. */
int serve_store_delete(serve_store *s, const char *name, char *msg,
                       size_t msz);
/* JSON of the kept versions, newest first; -1 unknown name. */
int serve_store_versions(serve_store *s, const char *name,
                         struct evbuffer *out);
/* malloc'd text of version 'seq', or NULL. */
char *serve_store_version_text(serve_store *s, const char *name, long seq,
                               size_t *len);

/* ==== serve_http.c: one worker ==== */

/* Runs worker 'slot' until drained; returns the exit status. */
int serve_worker(const serve_opts *o, serve_shm *shm, int slot);

#endif
