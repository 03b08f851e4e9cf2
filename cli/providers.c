/*
** providers.c -- capabilities the CLI host offers to rulesets: the
** built-in network.http (blocking; calls only to --allow-http hosts),
** metrics.prometheus (engine metrics too when --metrics FILE is given,
** written at exit) and audit.logger (with --audit FILE, "-" = stdout;
** one line per run and per host call, reopened on SIGHUP; group commit:
** written and fdatasync'd every 1024 lines by a flusher thread, all of it
** at exit).
** Grants (--grant) are checked by the loader, not here.
*/
#include "cli_rules.h"
#include "gavel_providers.h"
#include <stdlib.h>

typedef struct cli_prov {
  gavel_http *http;       /* network.http                    */
  gavel_metrics *metrics; /* metrics.prometheus              */
  gavel_audit *audit;     /* audit.logger, or NULL           */
} cli_prov;

static int fail(const gavel_error *e) {
  fprintf(stderr, "error: %s\n", e->msg);
  return 1;
}

int cli_builtin_providers(cli_env *env) {
  cli_prov *p = calloc(1, sizeof *p);
  /* FSYNC_N's write per line halved batch throughput; GROUP_N writes
  ** and syncs every 1024 lines off the runs' threads (bench/obs_batch.sh);
  ** 2 MiB buffers (~4000 runs' records) so a slow fdatasync rarely
  ** makes runs wait; 8 MiB ones cost ~4000 first-touch page faults per
  ** batch (a tenth of the audit's cost on the bench VM). */
  gavel_audit_opts ao = {GAVEL_AUDIT_GROUP_N, 1024, 2u << 20, 0};
  gavel_error e;
  if (!p) {
    fprintf(stderr, "error: out of memory\n");
    return 1;
  }
  env->prov = p;
  if (gavel_http_new(NULL, &p->http, &e) != GAVEL_OK ||
      gavel_http_provide(p->http, env->rt, &e) != GAVEL_OK ||
      gavel_metrics_new(NULL, &p->metrics, &e) != GAVEL_OK ||
      gavel_metrics_provide(p->metrics, env->rt, &e) != GAVEL_OK)
    return fail(&e);
  /* Engine metrics cost each run a little: only when someone reads them. */
  if (env->metrics_file &&
      gavel_metrics_attach(p->metrics, env->rt, &e) != GAVEL_OK)
    return fail(&e);
  if (env->audit_file &&
      (gavel_audit_open(env->audit_file, &ao, &p->audit, &e) != GAVEL_OK ||
       gavel_audit_provide(p->audit, env->rt, &e) != GAVEL_OK ||
       gavel_audit_attach(p->audit, env->rt, &e) != GAVEL_OK ||
       gavel_audit_reopen_on_sighup(&e) != GAVEL_OK))
    return fail(&e);
  return 0;
}

int cli_providers_free(cli_env *env) {
  cli_prov *p = env->prov;
  gavel_error e;
  int bad = 0;
  if (!p)
    return 0;
  if (env->metrics_file && p->metrics &&
      gavel_metrics_write_file(p->metrics, env->metrics_file, &e) != GAVEL_OK) {
    fprintf(stderr, "error: %s\n", e.msg);
    bad = 1;
  }
  /* Close reports every line the log lost, not just a failing last one:
  ** an audit log with holes fails the command. */
  if (gavel_audit_close(p->audit, &e) != GAVEL_OK) {
    fprintf(stderr, "error: %s\n", e.msg);
    bad = 1;
  }
  gavel_metrics_free(p->metrics);
  gavel_http_free(p->http);
  free(p);
  env->prov = NULL;
  return bad;
}
