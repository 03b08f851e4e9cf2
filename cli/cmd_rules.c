/*
** cmd_rules.c -- 'gavel run' and 'gavel check': load rulesets, run one
** input, report problems.  Shared helpers for batch.c and graph.c.
*/
#include "cli_rules.h"
#include "json.h"
#include "runtime.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ==== Ruleset directory (call_rule_set resolver) ==== */

static gavel_ruleset *dir_resolve(void *ud, const char *name) {
  cli_env *env = ud;
  int i;
  for (i = 0; i < env->n_lib; i++)
    if (!strcmp(gavel_ruleset_name(env->lib[i]), name))
      return env->lib[i];
  return NULL;
}

static void print_diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  const char *file = ud;
  fprintf(stderr, "%s: %s: %s\n", file,
          lvl == GAVEL_DIAG_ERROR ? "error" : "warning", e->msg);
}

static int load_dir(cli_env *env, const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  if (!d) {
    fprintf(stderr, "error: io: cannot open rulesets directory '%s': %s\n",
            dir, strerror(errno));
    return 1;
  }
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name), len;
    char path[4096], *text;
    gavel_ruleset *rs;
    gavel_error err;
    gavel_load_opts lo;
    if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (!(text = cli_read_file(path, &len))) {
      fprintf(stderr, "error: io: cannot read '%s': %s\n", path, strerror(errno));
      closedir(d);
      return 1;
    }
    memset(&lo, 0, sizeof lo);
    lo.diag = print_diag;
    lo.diag_ud = path;
    lo.grants = env->grants; /* deny by default: only --grant */
    lo.n_grants = (size_t)env->n_grants;
    lo.http_allow = env->allow_http;
    lo.n_http_allow = (size_t)env->n_allow_http;
    if (gavel_ruleset_load(env->rt, text, len, &lo, &rs, &err) != GAVEL_OK) {
      free(text);
      closedir(d);
      return 1;
    }
    free(text);
    if (env->n_lib == CLI_MAX_LIB) {
      fprintf(stderr, "error: too many rulesets in '%s'\n", dir);
      gavel_ruleset_free(rs);
      closedir(d);
      return 1;
    }
    env->lib[env->n_lib++] = rs;
  }
  closedir(d);
  return 0;
}

/* ==== Environment ==== */

int cli_env_init(cli_env *env, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  if (!strcmp(a, "--rulesets") && *i + 1 < argc) {
    env->rulesets_dir = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--grant") && *i + 1 < argc) {
    if (env->n_grants < CLI_MAX_GRANTS)
      env->grants[env->n_grants++] = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--allow-http") && *i + 1 < argc) {
    if (env->n_allow_http < CLI_MAX_GRANTS)
      env->allow_http[env->n_allow_http++] = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--metrics") && *i + 1 < argc) {
    env->metrics_file = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--audit") && *i + 1 < argc) {
    env->audit_file = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--provider") && *i + 1 < argc) {
    if (env->n_providers < CLI_MAX_GRANTS)
      env->providers[env->n_providers++] = argv[++*i];
    return 1;
  }
  return 0;
}

int cli_env_start(cli_env *env) {
  gavel_error err;
  if (gavel_runtime_new(NULL, &env->rt, &err) != GAVEL_OK) {
    fprintf(stderr, "error: %s\n", err.msg);
    return 1;
  }
  if (cli_builtin_providers(env) != 0)
    return 1;
  if (env->n_providers) {
    /* Capabilities a --provider file registers (or replaces) are granted:
    ** loading the file is the grant.  Built-in ones need --grant. */
    int before = env->rt->n_providers, k;
    gv_provider *snap = malloc((size_t)(before + 1) * sizeof *snap);
    if (!snap)
      return 1;
    memcpy(snap, env->rt->providers, (size_t)before * sizeof *snap);
    if (cli_lua_providers(env->rt, env->providers, env->n_providers,
                          &env->lua)) {
      free(snap);
      return 1;
    }
    for (k = 0; k < env->rt->n_providers && env->n_grants < CLI_MAX_GRANTS;
         k++) {
      const gv_provider *p = &env->rt->providers[k];
      if (k >= before || p->fn != snap[k].fn || p->vfn != snap[k].vfn ||
          p->ud != snap[k].ud)
        env->grants[env->n_grants++] = p->name;
    }
    free(snap);
  }
  gavel_runtime_set_resolver(env->rt, dir_resolve, env);
  if (env->rulesets_dir && load_dir(env, env->rulesets_dir) != 0)
    return 1;
  return 0;
}

void cli_env_free(cli_env *env) {
  int i;
  for (i = 0; i < env->n_lib; i++)
    gavel_ruleset_free(env->lib[i]);
  cli_providers_free(env);
  if (env->lua)
    cli_lua_free(env->lua);
  gavel_runtime_free(env->rt);
}

/* Loads RULESET.json; on failure prints {"error":...} (when 'json_err')
** or the diagnostics, and returns NULL. */
gavel_ruleset *cli_load_ruleset(cli_env *env, const char *file, int json_err) {
  char *text;
  size_t len;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  gavel_load_opts lo;
  if (!(text = cli_read_file(file, &len))) {
    char msg[512];
    snprintf(msg, sizeof msg, "cannot read '%s': %s", file, strerror(errno));
    if (json_err)
      cli_print_error(stdout, "io", msg);
    else
      fprintf(stderr, "error: io: %s\n", msg);
    return NULL;
  }
  memset(&lo, 0, sizeof lo);
  lo.grants = env->grants; /* deny by default: only --grant */
  lo.n_grants = (size_t)env->n_grants;
  lo.http_allow = env->allow_http;
  lo.n_http_allow = (size_t)env->n_allow_http;
  if (!json_err) {
    lo.diag = print_diag;
    lo.diag_ud = (void *)file;
  }
  if (gavel_ruleset_load(env->rt, text, len, &lo, &rs, &err) != GAVEL_OK &&
      json_err)
    cli_print_error(stdout, err.code == GAVEL_JSON ? "json" : "load", err.msg);
  free(text);
  return rs;
}

void cli_print_error(FILE *out, const char *kind, const char *msg) {
  gv_buf b;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{\"error\":{\"kind\":");
  gavel__json_write_str(&b, kind, strlen(kind));
  gavel__buf_adds(&b, ",\"message\":");
  gavel__json_write_str(&b, msg, strlen(msg));
  gavel__buf_adds(&b, "}}\n");
  if (b.p)
    fwrite(b.p, 1, b.len, out);
  gavel__buf_free(&b);
}

const char *cli_error_kind(gavel_status st) {
  switch (st) {
  case GAVEL_JSON: return "input";
  case GAVEL_GAS: return "gas";
  case GAVEL_HOST: return "host";
  case GAVEL_LIMIT: return "limit";
  case GAVEL_NOMEM: return "memory";
  case GAVEL_PENDING: return "pending";
  default: return "exec";
  }
}

/* ==== run ==== */

int cmd_run(int argc, char **argv) {
  cli_env env;
  const char *file = NULL, *inarg = NULL;
  char *input = NULL;
  size_t in_len = 0, out_len;
  const char *out;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_error err;
  gavel_status st;
  unsigned flags = 0;
  int i, rc = 1;
  memset(&env, 0, sizeof env);
  for (i = 1; i < argc; i++) {
    if (cli_env_init(&env, argc, argv, &i))
      continue;
    if (!strcmp(argv[i], "--input") && i + 1 < argc)
      inarg = argv[++i];
    else if (!strcmp(argv[i], "--trace"))
      flags |= GAVEL_RUN_TRACE;
    else if (argv[i][0] == '-' || file) {
      fprintf(stderr, "error: usage: gavel run RULESET.json [--input JSON|@file] "
                      "[--trace] [--rulesets DIR] [--grant CAP] [--provider F.lua]\n");
      return 2;
    } else
      file = argv[i];
  }
  if (!file) {
    fprintf(stderr, "error: usage: gavel run RULESET.json [--input JSON|@file]\n");
    return 2;
  }
  if (cli_env_start(&env) != 0)
    goto done;
  if (inarg && !(input = cli_arg_text(inarg, &in_len, "input")))
    goto done;
  if (!(rs = cli_load_ruleset(&env, file, 1)))
    goto done;
  if (gavel_exec_new(rs, &ex, &err) != GAVEL_OK) {
    cli_print_error(stdout, "memory", err.msg);
    goto done;
  }
  st = gavel_exec_run_json(ex, input, in_len, flags, &out, &out_len, &err);
  if (st == GAVEL_OK) {
    fwrite(out, 1, out_len, stdout);
    fputc('\n', stdout);
    rc = 0;
  } else if (st == GAVEL_PENDING) {
    gavel_host_call hc;
    gavel_exec_pending(ex, &hc, &err);
    {
      char msg[512];
      snprintf(msg, sizeof msg,
               "capability '%s' is asynchronous and this host cannot serve it",
               hc.capability);
      cli_print_error(stdout, "host", msg);
    }
  } else {
    cli_print_error(stdout, cli_error_kind(st), err.msg);
  }
done:
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  free(input);
  cli_env_free(&env);
  return rc;
}

/* ==== check ==== */

typedef struct check_state {
  const char *file; /* file being checked */
  int errors;       /* errors seen        */
  int warnings;     /* warnings seen      */
} check_state;

static void check_diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  check_state *cs = ud;
  if (lvl == GAVEL_DIAG_ERROR)
    cs->errors++;
  else
    cs->warnings++;
  printf("%s: %s: %s\n", cs->file, lvl == GAVEL_DIAG_ERROR ? "error" : "warning",
         e->msg);
}

int cmd_check(int argc, char **argv) {
  cli_env env;
  int i, n_files = 0, total_err = 0, rc;
  memset(&env, 0, sizeof env);
  for (i = 1; i < argc; i++)
    if (!cli_env_init(&env, argc, argv, &i))
      n_files++;
  if (n_files == 0) {
    fprintf(stderr, "error: usage: gavel check RULESET.json...\n");
    return 2;
  }
  if (cli_env_start(&env) != 0) {
    cli_env_free(&env);
    return 1;
  }
  for (i = 1; i < argc; i++) {
    check_state cs;
    gavel_load_opts lo;
    gavel_ruleset *rs = NULL;
    gavel_error err;
    char *text;
    size_t len;
    if (!strcmp(argv[i], "--rulesets") || !strcmp(argv[i], "--grant") ||
        !strcmp(argv[i], "--provider") || !strcmp(argv[i], "--allow-http") ||
        !strcmp(argv[i], "--metrics") || !strcmp(argv[i], "--audit")) {
      i++;
      continue;
    }
    memset(&cs, 0, sizeof cs);
    cs.file = argv[i];
    if (!(text = cli_read_file(argv[i], &len))) {
      printf("%s: error: cannot read: %s\n", argv[i], strerror(errno));
      total_err++;
      continue;
    }
    memset(&lo, 0, sizeof lo);
    lo.diag = check_diag;
    lo.diag_ud = &cs;
    lo.grants = env.grants; /* deny by default: only --grant */
    lo.n_grants = (size_t)env.n_grants;
    gavel_ruleset_load(env.rt, text, len, &lo, &rs, &err);
    if (!cs.errors && !cs.warnings)
      printf("%s: ok\n", argv[i]);
    total_err += cs.errors;
    gavel_ruleset_free(rs);
    free(text);
  }
  rc = total_err ? 1 : 0;
  cli_env_free(&env);
  return rc;
}
