/*
** cli_io.c -- every byte the gavel executable reads or writes goes through
** here: bounded file reads, a bounded line reader, checked output, and the
** host-ceiling options shared by the commands.
**
** Reads stop at the runtime's input limit (max_input_bytes): a file, an
** @file argument or a JSONL line is never buffered past it, so /dev/zero
** or an endless line costs the limit, not all the memory there is.
** Output errors (a full disk, a closed pipe) are reported with the file
** name and the reason, and fail the command.
*/
#include "cli.h"
#include "runtime.h"
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t cli_input_limit(const gavel_runtime *rt) {
  return rt && rt->cfg.max_input_bytes ? rt->cfg.max_input_bytes
                                       : GAVEL_MAX_INPUT_BYTES;
}

void cli_limit_msg(char *msg, size_t msz, const char *what, size_t max) {
  snprintf(msg, msz, "Limit exceeded: %s is larger than the input limit of "
           "%zu bytes (--max-input-bytes)", what, max);
}

/* ==== Whole files ==== */

char *cli_read_file(const char *path, size_t max, size_t *len, char *msg,
                    size_t msz) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0;
  /* Never more than max + 1 bytes: one past the limit proves it. */
  size_t lim = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
  struct stat st;
  if (!f) {
    snprintf(msg, msz, "cannot read '%s': %s", path, strerror(errno));
    return NULL;
  }
  /* A regular file says its size: refuse before reading a byte. */
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
      (uintmax_t)st.st_size > (uintmax_t)max) {
    char what[600];
    snprintf(what, sizeof what, "'%s' (%jd bytes)", path, (intmax_t)st.st_size);
    cli_limit_msg(msg, msz, what, max);
    fclose(f);
    return NULL;
  }
  for (;;) {
    size_t want, r;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 65536;
      char *nb;
      if (nc > lim || nc < cap)
        nc = lim;
      if (nc <= cap) { /* n == max + 1: over the limit */
        char what[600];
        snprintf(what, sizeof what, "'%s'", path);
        cli_limit_msg(msg, msz, what, max);
        free(buf);
        fclose(f);
        return NULL;
      }
      if (!(nb = realloc(buf, nc + 1))) {
        snprintf(msg, msz, "cannot read '%s': %s", path, strerror(ENOMEM));
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
      cap = nc;
    }
    want = cap - n;
    r = fread(buf + n, 1, want, f);
    n += r;
    if (r < want) {
      if (ferror(f)) {
        snprintf(msg, msz, "cannot read '%s': %s", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
      }
      break; /* end of file */
    }
  }
  fclose(f);
  if (n > max) {
    char what[600];
    snprintf(what, sizeof what, "'%s'", path);
    cli_limit_msg(msg, msz, what, max);
    free(buf);
    return NULL;
  }
  if (!buf && !(buf = malloc(1))) {
    snprintf(msg, msz, "cannot read '%s': %s", path, strerror(ENOMEM));
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

char *cli_arg_text(const char *arg, size_t max, size_t *len, const char *what) {
  char *t, msg[1024];
  if (arg[0] == '@') {
    if (!(t = cli_read_file(arg + 1, max, len, msg, sizeof msg)))
      fprintf(stderr, "error: %s: %s file: %s\n",
              strncmp(msg, "Limit", 5) ? "io" : "limit", what, msg);
    return t;
  }
  *len = strlen(arg);
  t = malloc(*len + 1);
  if (t)
    memcpy(t, arg, *len + 1);
  else
    fprintf(stderr, "error: memory: out of memory\n");
  return t;
}

/* ==== Lines ==== */

void cli_lines_init(cli_lines *r, FILE *f, size_t max) {
  memset(r, 0, sizeof r[0]);
  r->fd = fileno(f);
  r->max = max;
}

void cli_lines_free(cli_lines *r) {
  free(r->buf);
  r->buf = NULL;
}

/* Appends what read(2) gives (not fread: a line that arrived on a pipe is
** answered without waiting for a full buffer).  0 ok, -1 error; sets eof. */
static int fill(cli_lines *r) {
  ssize_t k;
  do
    k = read(r->fd, r->buf + r->end, r->cap - r->end);
  while (k < 0 && errno == EINTR);
  if (k < 0) {
    r->err = errno;
    return -1;
  }
  if (k == 0)
    r->eof = 1;
  r->end += (size_t)k;
  return 0;
}

int cli_lines_next(cli_lines *r, const char **p, size_t *n) {
  for (;;) {
    char *nl = NULL;
    if (r->end > r->beg + r->scan)
      nl = memchr(r->buf + r->beg + r->scan, '\n', r->end - r->beg - r->scan);
    if (nl) {
      *p = r->buf + r->beg;
      *n = (size_t)(nl - *p);
      r->beg = (size_t)(nl - r->buf) + 1;
      r->scan = 0;
      r->lineno++;
      if (*n > r->max)
        return CLI_LINE_LONG;
      return CLI_LINE_OK;
    }
    r->scan = r->end - r->beg;
    if (r->scan > r->max) {
      /* Over the limit and no end in sight: count the rest of the line
      ** through the buffer, keeping none of it. */
      size_t total = r->scan;
      r->beg = r->end = r->scan = 0;
      for (;;) {
        if (r->eof)
          break;
        if (fill(r) < 0)
          return CLI_LINE_ERR;
        nl = memchr(r->buf, '\n', r->end);
        if (nl) {
          total += (size_t)(nl - r->buf);
          r->beg = (size_t)(nl - r->buf) + 1;
          break;
        }
        total += r->end;
        r->end = 0;
      }
      *p = NULL;
      *n = total;
      r->lineno++;
      return CLI_LINE_LONG;
    }
    if (r->eof) {
      if (r->end == r->beg)
        return CLI_LINE_END;
      *p = r->buf + r->beg; /* a last line without '\n' */
      *n = r->end - r->beg;
      r->beg = r->end;
      r->scan = 0;
      r->lineno++;
      return CLI_LINE_OK;
    }
    if (r->beg) { /* keep the partial line, drop what was handed out */
      memmove(r->buf, r->buf + r->beg, r->end - r->beg);
      r->end -= r->beg;
      r->beg = 0;
    }
    if (r->end == r->cap) {
      /* Grow to at most max + 2 bytes: enough to see a line of exactly
      ** 'max' bytes and its '\n', or to prove a longer one. */
      size_t lim = r->max > SIZE_MAX - 2 ? SIZE_MAX : r->max + 2;
      size_t nc = r->cap ? r->cap * 2 : 65536;
      char *nb;
      if (nc > lim || nc < r->cap)
        nc = lim;
      if (nc < 2)
        nc = 2;
      if (nc <= r->cap || !(nb = realloc(r->buf, nc))) {
        r->err = ENOMEM;
        return CLI_LINE_ERR;
      }
      r->buf = nb;
      r->cap = nc;
    }
    if (fill(r) < 0)
      return CLI_LINE_ERR;
  }
}

/* ==== Output ==== */

static FILE *err_file;  /* stream of the first recorded write error */
static int err_errno;   /* its errno                                 */

int cli_write(FILE *f, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, f) != n) {
    if (!err_errno) {
      err_file = f;
      err_errno = errno ? errno : EIO;
    }
    return -1;
  }
  return 0;
}

int cli_close_output(FILE *f, const char *name, int close_it) {
  int bad = 0, e = 0;
  errno = 0;
  if (fflush(f) != 0) {
    bad = 1;
    e = errno;
  }
  if (ferror(f)) {
    bad = 1;
    if (!e && err_file == f)
      e = err_errno;
  }
  if (close_it) {
    errno = 0;
    if (fclose(f) != 0) {
      bad = 1;
      if (!e)
        e = errno;
    }
  }
  if (bad)
    fprintf(stderr, "error: io: cannot write %s: %s\n", name,
            strerror(e ? e : EIO));
  return bad;
}

/* ==== Host ceilings ==== */

enum { LIM_SIZE, LIM_U64, LIM_U32 };

static const struct {
  const char *opt; /* option name                      */
  size_t off;      /* field in gavel_config            */
  int type;        /* LIM_*                            */
} limit_opts[] = {
    {"--max-input-bytes", offsetof(gavel_config, max_input_bytes), LIM_SIZE},
    {"--max-gas", offsetof(gavel_config, max_gas), LIM_U64},
    {"--max-steps", offsetof(gavel_config, max_steps), LIM_U64},
    {"--max-timeout-ms", offsetof(gavel_config, max_timeout_ms), LIM_U32},
    {"--max-run-bytes", offsetof(gavel_config, max_run_bytes), LIM_SIZE},
    {"--max-result-bytes", offsetof(gavel_config, max_result_bytes), LIM_SIZE},
    {"--max-call-bytes", offsetof(gavel_config, max_call_bytes), LIM_SIZE},
};

int cli_limit_option(gavel_config *cfg, int argc, char **argv, int *i) {
  size_t k;
  if (!strcmp(argv[*i], "--jit")) { /* the JIT tier: on, off or auto */
    const char *v = *i + 1 < argc ? argv[*i + 1] : "";
    if (!strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "auto")) {
      cfg->jit = v[1] == 'n' ? 1 : v[1] == 'f' ? 2 : 3; /* gavel_config.jit */
      ++*i;
      return 1;
    }
    fprintf(stderr, "error: usage: --jit: expected on, off or auto, got "
            "'%s'\n", v);
    return -1;
  }
  for (k = 0; k < sizeof limit_opts / sizeof limit_opts[0]; k++) {
    const char *v, *s, *opt = limit_opts[k].opt;
    int type = limit_opts[k].type;
    uint64_t x = 0, top = type == LIM_U32    ? UINT32_MAX
                          : type == LIM_SIZE ? (uint64_t)SIZE_MAX
                                             : UINT64_MAX;
    char *field = (char *)cfg + limit_opts[k].off;
    if (strcmp(argv[*i], opt))
      continue;
    if (*i + 1 >= argc) {
      fprintf(stderr, "error: usage: %s needs a value\n", opt);
      return -1;
    }
    v = argv[++*i];
    /* Digits only: strtoull would take "-1" (as 2^64-1), " 5" and "5k". */
    for (s = v; *s >= '0' && *s <= '9'; s++) {
      unsigned d = (unsigned)(*s - '0');
      if (x > (top - d) / 10) {
        fprintf(stderr, "error: usage: %s: '%s' is too large (max %ju)\n",
                opt, v, (uintmax_t)top);
        return -1;
      }
      x = x * 10 + d;
    }
    if (s == v || *s) {
      fprintf(stderr, "error: usage: %s: expected a positive integer, got "
              "'%s'\n", opt, v);
      return -1;
    }
    if (x == 0) { /* 0 in gavel_config means "the default", not zero */
      fprintf(stderr, "error: usage: %s: must be at least 1, got '%s'\n",
              opt, v);
      return -1;
    }
    if (type == LIM_U32) {
      uint32_t y = (uint32_t)x;
      memcpy(field, &y, sizeof y);
    } else if (type == LIM_U64) {
      memcpy(field, &x, sizeof x);
    } else {
      size_t y = (size_t)x;
      memcpy(field, &y, sizeof y);
    }
    return 1;
  }
  return 0;
}

void cli_config_init(gavel_config *cfg) {
  memset(cfg, 0, sizeof cfg[0]);
  cfg->abi = GAVEL_VERSION_NUM;
}
