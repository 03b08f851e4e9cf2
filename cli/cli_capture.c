/*
** cli_capture.c -- 'gavel run/batch --capture FILE': decision records for
** 'gavel replay' (providers/capture.c), one capture per process.
*/
#include "cli_replay.h"
#include "gavel_providers.h"
#include <stdlib.h>
#include <string.h>

#define MAX_REDACT 64

static struct {
  const char *file;                 /* --capture FILE                  */
  gavel_capture_opts o;             /* the other --capture-* options   */
  const char *redact[MAX_REDACT];   /* --capture-redact PATH           */
  gavel_capture *cap;               /* open capture, or NULL           */
} cc;

static int num_arg(const char *opt, const char *v, double lo, double hi,
                   double *out) {
  char *end;
  double d = strtod(v, &end);
  if (!*v || *end || !(d >= lo && d <= hi)) {
    fprintf(stderr, "error: usage: %s wants a number from %g to %g, not '%s'\n",
            opt, lo, hi, v);
    return -1;
  }
  *out = d;
  return 1;
}

int cli_capture_option(int argc, char **argv, int *i) {
  const char *a = argv[*i];
  double d;
  if (strncmp(a, "--capture", 9))
    return 0;
  if (!strcmp(a, "--capture-rotate-daily")) {
    cc.o.rotate_daily = 1;
    return 1;
  }
  if (!strcmp(a, "--capture-buffered")) {
    /* audit's ON_EXIT policy: records leave in large writes (a crash
    ** loses what is buffered); the default writes each record whole */
    cc.o.durability_opts.durability = GAVEL_AUDIT_ON_EXIT;
    return 1;
  }
  if (*i + 1 >= argc)
    return 0;
  if (!strcmp(a, "--capture")) {
    cc.file = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--capture-sample")) {
    if (num_arg(a, argv[++*i], 0, 1, &d) < 0)
      return -1;
    /* 0 means "every run" to the library; a rate of 0 records nothing */
    cc.o.sample = d == 0 ? 1e-300 : d;
    return 1;
  }
  if (!strcmp(a, "--capture-redact")) {
    if (cc.o.n_redact < MAX_REDACT)
      cc.redact[cc.o.n_redact++] = argv[++*i];
    else {
      fprintf(stderr, "error: usage: more than %d --capture-redact paths\n",
              MAX_REDACT);
      return -1;
    }
    return 1;
  }
  if (!strcmp(a, "--capture-salt")) {
    cc.o.salt = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--capture-rotate-bytes")) {
    if (num_arg(a, argv[++*i], 1, 1e18, &d) < 0)
      return -1;
    cc.o.rotate_bytes = (uint64_t)d;
    return 1;
  }
  if (!strcmp(a, "--capture-fsync")) {
    if (num_arg(a, argv[++*i], 1, 4e9, &d) < 0)
      return -1;
    cc.o.durability_opts.durability = GAVEL_AUDIT_FSYNC_N;
    cc.o.durability_opts.fsync_every = (uint32_t)d;
    return 1;
  }
  return 0;
}

void cli_capture_off_path(void) {
  if (cc.o.durability_opts.durability == GAVEL_AUDIT_FLUSH_LINE)
    cc.o.durability_opts.durability = GAVEL_AUDIT_GROUP_N;
}

int cli_capture_start(gavel_runtime *rt) {
  gavel_error e;
  if (!cc.file)
    return 0;
  cc.o.redact = cc.redact;
  if (gavel_capture_open(cc.file, &cc.o, &cc.cap, &e) != GAVEL_OK ||
      gavel_capture_attach(cc.cap, rt, &e) != GAVEL_OK) {
    fprintf(stderr, "error: capture: %s\n", e.msg);
    return 1;
  }
  return 0;
}

int cli_capture_ruleset(gavel_ruleset *rs, const char *text, size_t len) {
  gavel_error e;
  if (!cc.cap || !rs)
    return 0;
  /* the text the ruleset was loaded from (read again, a file replaced
  ** meanwhile or standard input gave another hash, or none) */
  if (gavel_capture_ruleset(cc.cap, gavel_ruleset_name(rs), text, len, &e) !=
      GAVEL_OK) {
    fprintf(stderr, "error: capture: %s\n", e.msg);
    return 1;
  }
  return 0;
}

void cli_capture_commit(const char *result, size_t len) {
  if (cc.cap)
    gavel_capture_commit(cc.cap, result, len);
}

int cli_capture_end(void) {
  gavel_error e;
  gavel_capture *c = cc.cap;
  cc.cap = NULL;
  if (c && gavel_capture_close(c, &e) != GAVEL_OK) {
    fprintf(stderr, "error: %s\n", e.msg);
    return 1;
  }
  return 0;
}
