/*
** cmd_rules.c -- 'gavel run' and 'gavel check': load rulesets, run one
** input, report problems.  Shared helpers for batch.c and graph.c.
*/
#include "cli_rules.h"
#include "cli_replay.h"
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

/* Diagnostics of one load, printed as they come ("FILE: error: msg"). */
typedef struct diag_state {
  const char *file;            /* file being loaded                 */
  FILE *out;                   /* where lines go                    */
  int errors;                  /* errors delivered                  */
  int warnings;                /* warnings delivered                */
  char first[GAVEL_ERRMSG_SIZE]; /* the first error delivered        */
  char last[GAVEL_ERRMSG_SIZE]; /* the last error delivered          */
} diag_state;

static void print_diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  diag_state *ds = ud;
  if (lvl == GAVEL_DIAG_ERROR) {
    if (!ds->errors++)
      snprintf(ds->first, sizeof ds->first, "%s", e->msg);
    snprintf(ds->last, sizeof ds->last, "%s", e->msg);
  } else
    ds->warnings++;
  fprintf(ds->out, "%s: %s: %s\n", ds->file,
          lvl == GAVEL_DIAG_ERROR ? "error" : "warning", e->msg);
}

/* A failed load whose error did not come through the diagnostics (a
** document over the input limit, say) is printed here: every failed load
** says why, and none says it twice (the load's error is the first or the
** last one delivered: a cycle reports every step of it, then the first). */
static void print_load_failure(diag_state *ds, const gavel_error *err) {
  if (!ds->errors ||
      (strcmp(ds->first, err->msg) && strcmp(ds->last, err->msg))) {
    fprintf(ds->out, "%s: error: %s\n", ds->file,
            err->msg[0] ? err->msg : "the ruleset did not load");
    ds->errors++;
  }
}

static void load_opts(cli_env *env, gavel_load_opts *lo, diag_state *ds) {
  memset(lo, 0, sizeof lo[0]);
  lo->diag = print_diag;
  lo->diag_ud = ds;
  lo->grants = env->grants; /* deny by default: only --grant */
  lo->n_grants = (size_t)env->n_grants;
  lo->http_allow = env->allow_http;
  lo->n_http_allow = (size_t)env->n_allow_http;
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
    char path[4096], *text, msg[1024];
    gavel_ruleset *rs;
    gavel_error err;
    gavel_load_opts lo;
    diag_state ds;
    if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (!(text = cli_read_file(path, cli_input_limit(env->rt), &len, msg,
                               sizeof msg))) {
      fprintf(stderr, "error: %s: %s\n", strncmp(msg, "Limit", 5) ? "io" : "limit",
              msg);
      closedir(d);
      return 1;
    }
    memset(&ds, 0, sizeof ds);
    ds.file = path;
    ds.out = stderr;
    load_opts(env, &lo, &ds);
    if (gavel_ruleset_load(env->rt, text, len, &lo, &rs, &err) != GAVEL_OK) {
      print_load_failure(&ds, &err);
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
  int k = cli_limit_option(&env->cfg, argc, argv, i);
  if (k != 0)
    return k;
  if (!strcmp(a, "--rulesets") && *i + 1 < argc) {
    env->rulesets_dir = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--grant") && *i + 1 < argc) {
    if (env->n_grants == CLI_MAX_GRANTS) { /* never one silently left out */
      fprintf(stderr, "error: usage: more than %d --grant options\n",
              CLI_MAX_GRANTS);
      return -1;
    }
    env->grants[env->n_grants++] = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--allow-http") && *i + 1 < argc) {
    if (env->n_allow_http == CLI_MAX_GRANTS) { /* never one silently left out */
      fprintf(stderr, "error: usage: more than %d --allow-http options\n",
              CLI_MAX_GRANTS);
      return -1;
    }
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
    if (env->n_providers == CLI_MAX_GRANTS) { /* never one silently left out */
      fprintf(stderr, "error: usage: more than %d --provider options\n",
              CLI_MAX_GRANTS);
      return -1;
    }
    env->providers[env->n_providers++] = argv[++*i];
    return 1;
  }
  return 0;
}

int cli_env_start(cli_env *env) {
  gavel_error err;
  env->cfg.abi = GAVEL_VERSION_NUM; /* the rest: --max-* options, or 0 */
  if (gavel_runtime_new(&env->cfg, &env->rt, &err) != GAVEL_OK) {
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

int cli_env_free(cli_env *env) {
  int i, bad;
  for (i = 0; i < env->n_lib; i++)
    gavel_ruleset_free(env->lib[i]);
  bad = cli_providers_free(env);
  if (env->lua)
    cli_lua_free(env->lua);
  gavel_runtime_free(env->rt);
  env->rt = NULL;
  return bad;
}

/* Loads RULESET.json; on failure prints {"error":...} (when 'json_err')
** or the diagnostics, and returns NULL. */
gavel_ruleset *cli_load_ruleset(cli_env *env, const char *file, int json_err) {
  char *text, msg[1024];
  size_t len;
  gavel_ruleset *rs = NULL;
  gavel_error err;
  gavel_load_opts lo;
  diag_state ds;
  if (!(text = cli_read_file(file, cli_input_limit(env->rt), &len, msg,
                             sizeof msg))) {
    const char *kind = strncmp(msg, "Limit", 5) ? "io" : "limit";
    if (json_err)
      cli_print_error(stdout, kind, msg);
    else
      fprintf(stderr, "error: %s: %s\n", kind, msg);
    return NULL;
  }
  memset(&ds, 0, sizeof ds);
  ds.file = file;
  ds.out = stderr;
  load_opts(env, &lo, &ds);
  if (json_err) {
    lo.diag = NULL;
    lo.diag_ud = NULL;
  }
  if (gavel_ruleset_load(env->rt, text, len, &lo, &rs, &err) != GAVEL_OK) {
    if (json_err)
      cli_print_error(stdout, err.code == GAVEL_JSON ? "json" : "load", err.msg);
    else
      print_load_failure(&ds, &err);
  } else if (cli_capture_ruleset(rs, text, len)) { /* the records' "hash" */
    gavel_ruleset_free(rs);
    rs = NULL;
  }
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
    cli_write(out, b.p, b.len);
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
  int i, rc = 1, k, opts = 1;
  memset(&env, 0, sizeof env);
  for (i = 1; i < argc; i++) {
    if (opts && ((k = cli_env_init(&env, argc, argv, &i)) != 0 ||
                 (k = cli_capture_option(argc, argv, &i)) != 0)) {
      if (k < 0)
        return 2;
      continue;
    }
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && !strcmp(argv[i], "--input") && i + 1 < argc) {
      if (inarg) { /* the second would win without a word */
        fprintf(stderr, "error: usage: --input given twice\n");
        return 2;
      }
      inarg = argv[++i];
    } else if (opts && !strcmp(argv[i], "--trace"))
      flags |= GAVEL_RUN_TRACE;
    else if ((opts && argv[i][0] == '-') || file) {
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
  if (cli_env_start(&env) != 0 || cli_capture_start(env.rt) != 0)
    goto done;
  if (inarg &&
      !(input = cli_arg_text(inarg, cli_input_limit(env.rt), &in_len, "input")))
    goto done;
  if (!(rs = cli_load_ruleset(&env, file, 1)))
    goto done;
  if (gavel_exec_new(rs, &ex, &err) != GAVEL_OK) {
    cli_print_error(stdout, "memory", err.msg);
    goto done;
  }
  st = gavel_exec_run_json(ex, input, in_len, flags, &out, &out_len, &err);
  cli_capture_commit(st == GAVEL_OK ? out : NULL, out_len);
  if (st == GAVEL_OK) {
    cli_write(stdout, out, out_len);
    cli_write(stdout, "\n", 1);
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
  if (cli_capture_end())
    rc = 1;
  if (cli_env_free(&env))
    rc = 1;
  return rc;
}

/* ==== check ==== */

int cmd_check(int argc, char **argv) {
  cli_env env;
  const char **files;
  int i, k, n_files = 0, total_err = 0, opts = 1, rc;
  memset(&env, 0, sizeof env);
  if (!(files = malloc((size_t)argc * sizeof *files))) {
    fprintf(stderr, "error: memory: out of memory\n");
    return 1;
  }
  for (i = 1; i < argc; i++) {
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && (k = cli_env_init(&env, argc, argv, &i)) != 0) {
      if (k < 0) {
        free(files);
        return 2;
      }
    } else
      files[n_files++] = argv[i];
  }
  if (n_files == 0) {
    fprintf(stderr, "error: usage: gavel check RULESET.json...\n");
    free(files);
    return 2;
  }
  if (cli_env_start(&env) != 0) {
    cli_env_free(&env);
    free(files);
    return 1;
  }
  for (i = 0; i < n_files; i++) {
    diag_state ds;
    gavel_load_opts lo;
    gavel_ruleset *rs = NULL;
    gavel_error err;
    char *text, msg[1024];
    size_t len;
    memset(&ds, 0, sizeof ds);
    ds.file = files[i];
    ds.out = stdout;
    if (!(text = cli_read_file(files[i], cli_input_limit(env.rt), &len, msg,
                               sizeof msg))) {
      printf("%s: error: %s\n", files[i], msg);
      total_err++;
      continue;
    }
    load_opts(&env, &lo, &ds);
    /* Not OK means not ok, diagnostics delivered or not. */
    if (gavel_ruleset_load(env.rt, text, len, &lo, &rs, &err) != GAVEL_OK)
      print_load_failure(&ds, &err);
    if (!ds.errors && !ds.warnings)
      printf("%s: ok\n", files[i]);
    total_err += ds.errors;
    gavel_ruleset_free(rs);
    free(text);
  }
  rc = total_err ? 1 : 0;
  if (cli_env_free(&env))
    rc = 1;
  free(files);
  return rc;
}
