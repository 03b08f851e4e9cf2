/*
** serve_store.c -- stage: the rules directory of 'gavel serve'.
**
** DIR/NAME.json holds the current document of ruleset NAME; the last
** SERVE_VERSIONS_KEPT accepted documents are kept as
** DIR/.versions/NAME/<seq>.json.  Every write is atomic (temporary file,
** fsync, rename, fsync of the directory) and serialised between workers
** by flock(DIR/.lock).  A worker's store is the compiled image of the
** directory: serve_store_scan recompiles only files whose identity
** (inode, size, mtime) changed, and a file that no longer compiles keeps
** the version that did.  Entries are reference counted: a run in flight
** keeps its ruleset alive across a rescan.
*/
#include "serve.h"
#include "cli_replay.h"
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int serve_name_ok(const char *name) {
  size_t i, n = strlen(name);
  if (n == 0 || n > 128 || name[0] == '.')
    return 0;
  for (i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

/* ==== Compiling ==== */

static void on_diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  serve_diags *d = ud;
  if (!d->json)
    return;
  if (d->n++)
    evbuffer_add(d->json, ",", 1);
  evbuffer_add_printf(d->json, "{\"level\":\"%s\",\"message\":",
                      lvl == GAVEL_DIAG_ERROR ? "error" : "warning");
  sj_put_str(d->json, e->msg, strlen(e->msg));
  if (e->path[0]) {
    evbuffer_add_printf(d->json, ",\"path\":");
    sj_put_str(d->json, e->path, strlen(e->path));
  }
  if (e->line)
    evbuffer_add_printf(d->json, ",\"line\":%d,\"column\":%d", e->line,
                        e->column);
  if (e->offset >= 0)
    evbuffer_add_printf(d->json, ",\"offset\":%ld", e->offset);
  evbuffer_add(d->json, "}", 1);
  if (lvl == GAVEL_DIAG_ERROR && !d->n_errors++)
    snprintf(d->first, sizeof d->first, "%s", e->msg);
}

static char *config_str(const char *text, size_t len, const char *key) {
  static const char *const top[] = {"config"};
  const char *keys[1];
  sj_span cfg, v;
  char msg[16];
  keys[0] = key;
  if (sj_object(text, len, top, 1, &cfg, msg, sizeof msg) || !cfg.p ||
      sj_object(cfg.p, cfg.n, keys, 1, &v, msg, sizeof msg) || !v.p)
    return strdup("");
  {
    char *s = sj_string(v, NULL);
    return s ? s : strdup("");
  }
}

serve_entry *serve_compile(serve_store *s, const char *text, size_t len,
                           serve_diags *d) {
  gavel_load_opts lo;
  gavel_ruleset *rs;
  gavel_error err;
  serve_entry *e;
  memset(&lo, 0, sizeof lo);
  lo.diag = on_diag;
  lo.diag_ud = d;
  lo.http_allow = s->o->allow_http;
  lo.n_http_allow = (size_t)s->o->n_allow_http;
  if (gavel_ruleset_load(s->rt, text, len, &lo, &rs, &err) != GAVEL_OK) {
    if (!d->n_errors) { /* a failure the diagnostics did not carry */
      serve_diags tmp = *d;
      on_diag(&tmp, GAVEL_DIAG_ERROR, &err);
      *d = tmp;
    }
    return NULL;
  }
  if (!serve_name_ok(gavel_ruleset_name(rs))) {
    gavel_error ne;
    memset(&ne, 0, sizeof ne);
    ne.offset = -1;
    snprintf(ne.path, sizeof ne.path, "config.name");
    snprintf(ne.msg, sizeof ne.msg,
             "config.name '%.128s' cannot name a file: use 1 to 128 of "
             "A-Z a-z 0-9 _ - . , not starting with '.'",
             gavel_ruleset_name(rs));
    on_diag(d, GAVEL_DIAG_ERROR, &ne);
    gavel_ruleset_free(rs);
    return NULL;
  }
  if (!(e = calloc(1, sizeof *e)) || !(e->text = malloc(len + 1))) {
    free(e);
    gavel_ruleset_free(rs);
    return NULL;
  }
  memcpy(e->text, text, len);
  e->text[len] = 0;
  e->len = len;
  e->rs = rs;
  e->refs = 1;
  e->name = strdup(gavel_ruleset_name(rs));
  e->version = config_str(text, len, "version");
  e->description = config_str(text, len, "description");
  return e;
}

void serve_entry_release(serve_entry *e) {
  int i;
  if (!e || --e->refs > 0)
    return;
  for (i = 0; i < e->n_pool; i++)
    gavel_exec_free(e->pool[i]);
  gavel_ruleset_free(e->rs);
  free(e->name);
  free(e->version);
  free(e->description);
  free(e->text);
  free(e->file);
  free(e);
}

/* ==== The compiled image ==== */

static int by_name(const void *a, const void *b) {
  return strcmp((*(serve_entry *const *)a)->name,
                (*(serve_entry *const *)b)->name);
}

serve_entry *serve_store_get(serve_store *s, const char *name) {
  int lo = 0, hi = s->n_e - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = strcmp(name, s->e[mid]->name);
    if (!c)
      return s->e[mid];
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

static int add_entry(serve_store *s, serve_entry *e) {
  if (s->n_e == s->cap_e) {
    int cap = s->cap_e ? s->cap_e * 2 : 16;
    serve_entry **ne = realloc(s->e, (size_t)cap * sizeof *ne);
    if (!ne)
      return -1;
    s->e = ne;
    s->cap_e = cap;
  }
  s->e[s->n_e++] = e;
  return 0;
}

/* A replaced or removed entry may still be the callee of a call_rule_set
** inside a run parked on network.http (the resolver lends the ruleset
** without a reference): it is kept until no run is parked. */
static void retire(serve_store *s, serve_entry *e) {
  if (s->n_dead == s->cap_dead) {
    int cap = s->cap_dead ? s->cap_dead * 2 : 16;
    serve_entry **nd = realloc(s->dead, (size_t)cap * sizeof *nd);
    if (!nd) {
      serve_entry_release(e); /* (out of memory: no deferral) */
      return;
    }
    s->dead = nd;
    s->cap_dead = cap;
  }
  s->dead[s->n_dead++] = e;
}

void serve_store_reap(serve_store *s) {
  int i;
  for (i = 0; i < s->n_dead; i++)
    serve_entry_release(s->dead[i]);
  s->n_dead = 0;
}

static int64_t mtime_ns(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void serve_store_scan(serve_store *s) {
  DIR *d = opendir(s->o->rules_dir);
  struct dirent *de;
  int i, k;
  if (!d) {
    fprintf(stderr, "gavel serve: error: cannot open rules directory '%s': "
                    "%s (keeping the loaded rulesets)\n",
            s->o->rules_dir, strerror(errno));
    return;
  }
  for (i = 0; i < s->n_e; i++)
    s->e[i]->seen = 0;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name), len;
    char path[8192], msg[1024], *text;
    struct stat st;
    serve_entry *old = NULL, *e;
    serve_diags dg;
    if (n < 6 || de->d_name[0] == '.' || strcmp(de->d_name + n - 5, ".json"))
      continue;
    snprintf(path, sizeof path, "%s/%s", s->o->rules_dir, de->d_name);
    if (stat(path, &st) || !S_ISREG(st.st_mode))
      continue;
    for (i = 0; i < s->n_e; i++)
      if (s->e[i]->file && !strcmp(s->e[i]->file, de->d_name)) {
        old = s->e[i];
        break;
      }
    if (old && old->ino == st.st_ino && old->size == st.st_size &&
        old->mtime_ns == mtime_ns(&st)) {
      old->seen = 1;
      continue;
    }
    for (k = 0; k < s->n_bad && k < 32; k++)
      if (!strcmp(s->bad[k].file, de->d_name) && s->bad[k].ino == st.st_ino &&
          s->bad[k].size == st.st_size &&
          s->bad[k].mtime_ns == mtime_ns(&st))
        break;
    if (k < s->n_bad && k < 32) { /* known broken, unchanged */
      if (old)
        old->seen = 1;
      continue;
    }
    memset(&dg, 0, sizeof dg);
    dg.json = evbuffer_new();
    text = cli_read_file(path, s->o->max_body, &len, msg, sizeof msg);
    e = text ? serve_compile(s, text, len, &dg) : NULL;
    if (e)
      cli_capture_ruleset(e->rs, text, len); /* the records' "hash" */
    free(text);
    if (!e) {
      if (s->log_diags) {
        size_t jn = dg.json ? evbuffer_get_length(dg.json) : 0;
        fprintf(stderr,
                "gavel serve: error: %s does not load%s; %s\n", path,
                text ? "" : msg,
                old ? "keeping the version loaded before" : "not serving it");
        if (jn)
          fprintf(stderr, "gavel serve: diagnostics: [%.*s]\n", (int)jn,
                  (const char *)evbuffer_pullup(dg.json, -1));
      }
      if (dg.json)
        evbuffer_free(dg.json);
      if (old)
        old->seen = 1;
      if (n < sizeof s->bad[0].file) {
        serve_bad *b = &s->bad[s->n_bad++ % 32];
        memcpy(b->file, de->d_name, n + 1);
        b->ino = st.st_ino;
        b->size = st.st_size;
        b->mtime_ns = mtime_ns(&st);
      }
      continue;
    }
    if (dg.json)
      evbuffer_free(dg.json);
    e->file = strdup(de->d_name);
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime_ns = mtime_ns(&st);
    e->seen = 1;
    /* replace the entry of this file, and any other of the same name */
    for (i = 0; i < s->n_e; i++)
      if (s->e[i] == old || !strcmp(s->e[i]->name, e->name)) {
        retire(s, s->e[i]);
        s->e[i--] = s->e[--s->n_e];
      }
    if (add_entry(s, e))
      serve_entry_release(e);
  }
  closedir(d);
  for (i = k = 0; i < s->n_e; i++) {
    if (s->e[i]->seen)
      s->e[k++] = s->e[i];
    else
      retire(s, s->e[i]);
  }
  s->n_e = k;
  qsort(s->e, (size_t)s->n_e, sizeof s->e[0], by_name);
}

void serve_store_free(serve_store *s) {
  int i;
  for (i = 0; i < s->n_e; i++)
    serve_entry_release(s->e[i]);
  serve_store_reap(s);
  free(s->dead);
  s->dead = NULL;
  free(s->e);
  s->e = NULL;
  s->n_e = s->cap_e = 0;
}

/* ==== Writing ==== */

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY), rc;
  if (fd < 0)
    return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

/* dir/name <- text, atomically. */
static int write_atomic(const char *dir, const char *name, const char *text,
                        size_t len, char *msg, size_t msz) {
  char tmp[8192], dst[8192];
  size_t off = 0;
  int fd;
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
    goto fail;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      close(fd);
      goto fail_unlink;
    }
    off += (size_t)w;
  }
  if (fsync(fd)) {
    close(fd);
    goto fail_unlink;
  }
  if (close(fd) || rename(tmp, dst))
    goto fail_unlink;
  if (fsync_dir(dir))
    goto fail;
  return 0;
fail_unlink:
  {
    int e = errno;
    unlink(tmp);
    errno = e;
  }
fail:
  snprintf(msg, msz, "cannot write '%s': %s", dst, strerror(errno));
  return -1;
}

static int lock_dir(const serve_store *s) {
  char p[8192];
  int fd;
  snprintf(p, sizeof p, "%s/.lock", s->o->rules_dir);
  if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
    return -1;
  while (flock(fd, LOCK_EX) && errno == EINTR)
    ;
  return fd;
}

static void unlock_dir(int fd) {
  if (fd >= 0)
    close(fd); /* releases the lock */
}

/* Sequence numbers of the kept versions, ascending; count. */
static int list_versions(const serve_store *s, const char *name, long *seqs,
                         int max) {
  char p[8192];
  DIR *d;
  struct dirent *de;
  int n = 0, i, j;
  snprintf(p, sizeof p, "%s/.versions/%s", s->o->rules_dir, name);
  if (!(d = opendir(p)))
    return 0;
  while ((de = readdir(d))) {
    char *end;
    long v = strtol(de->d_name, &end, 10);
    if (end == de->d_name || strcmp(end, ".json") || v <= 0)
      continue;
    if (n < max)
      seqs[n++] = v;
  }
  closedir(d);
  for (i = 1; i < n; i++) /* insertion sort: few entries */
    for (j = i; j > 0 && seqs[j - 1] > seqs[j]; j--) {
      long t = seqs[j];
      seqs[j] = seqs[j - 1];
      seqs[j - 1] = t;
    }
  return n;
}

int serve_store_put(serve_store *s, const char *name, const char *text,
                    size_t len, int *created, long *seq, char *msg,
                    size_t msz) {
  char vdir[8192], fname[256], cur[8192];
  long seqs[4096];
  int lk = lock_dir(s), n, i, rc = -1;
  struct stat st;
  if (lk < 0) {
    snprintf(msg, msz, "cannot lock '%s/.lock': %s", s->o->rules_dir,
             strerror(errno));
    return -1;
  }
  snprintf(cur, sizeof cur, "%s/%s.json", s->o->rules_dir, name);
  *created = stat(cur, &st) != 0;
  snprintf(vdir, sizeof vdir, "%s/.versions", s->o->rules_dir);
  mkdir(vdir, 0755);
  snprintf(vdir, sizeof vdir, "%s/.versions/%s", s->o->rules_dir, name);
  if (mkdir(vdir, 0755) && errno != EEXIST) {
    snprintf(msg, msz, "cannot create '%s': %s", vdir, strerror(errno));
    goto out;
  }
  n = list_versions(s, name, seqs, 4096);
  *seq = n ? seqs[n - 1] + 1 : 1;
  snprintf(fname, sizeof fname, "%ld.json", *seq);
  if (write_atomic(vdir, fname, text, len, msg, msz))
    goto out;
  snprintf(fname, sizeof fname, "%s.json", name);
  if (write_atomic(s->o->rules_dir, fname, text, len, msg, msz))
    goto out;
  for (i = 0; i + SERVE_VERSIONS_KEPT < n + 1; i++) {
    char old[8300];
    snprintf(old, sizeof old, "%s/%ld.json", vdir, seqs[i]);
    unlink(old);
  }
  rc = 0;
out:
  unlock_dir(lk);
  return rc;
}

int serve_store_delete(serve_store *s, const char *name, char *msg,
                       size_t msz) {
  char cur[8192];
  int lk = lock_dir(s), rc;
  snprintf(cur, sizeof cur, "%s/%s.json", s->o->rules_dir, name);
  if (unlink(cur) == 0)
    rc = fsync_dir(s->o->rules_dir) ? -1 : 1;
  else
    rc = errno == ENOENT ? 0 : -1;
  if (rc < 0)
    snprintf(msg, msz, "cannot remove '%s': %s", cur, strerror(errno));
  unlock_dir(lk);
  return rc;
}

int serve_store_versions(serve_store *s, const char *name,
                         struct evbuffer *out) {
  long seqs[4096];
  int n = list_versions(s, name, seqs, 4096), i;
  if (!n && !serve_store_get(s, name))
    return -1;
  evbuffer_add_printf(out, "{\"name\":");
  sj_put_str(out, name, strlen(name));
  evbuffer_add_printf(out, ",\"versions\":[");
  for (i = n - 1; i >= 0; i--) {
    char p[8300], *ver;
    size_t len;
    char msg[256], *text;
    struct stat st;
    snprintf(p, sizeof p, "%s/.versions/%s/%ld.json", s->o->rules_dir, name,
             seqs[i]);
    if (stat(p, &st))
      continue;
    text = cli_read_file(p, s->o->max_body, &len, msg, sizeof msg);
    ver = text ? config_str(text, len, "version") : strdup("");
    evbuffer_add_printf(out, "%s{\"seq\":%ld,\"version\":", i == n - 1 ? "" : ",",
                        seqs[i]);
    sj_put_str(out, ver ? ver : "", ver ? strlen(ver) : 0);
    evbuffer_add_printf(out, ",\"created_at\":%lld}", (long long)st.st_mtime);
    free(ver);
    free(text);
  }
  evbuffer_add_printf(out, "]}");
  return 0;
}

char *serve_store_version_text(serve_store *s, const char *name, long seq,
                               size_t *len) {
  char p[8300], msg[256];
  snprintf(p, sizeof p, "%s/.versions/%s/%ld.json", s->o->rules_dir, name,
           seq);
  return cli_read_file(p, s->o->max_body, len, msg, sizeof msg);
}
