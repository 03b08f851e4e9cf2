/*
** cli_rules.h -- shared state of the ruleset commands (run, check, batch,
** graph): runtime, built-in providers, call_rule_set library, grants.
*/
#ifndef GAVEL_CLI_RULES_H
#define GAVEL_CLI_RULES_H

#include "cli.h"
#include "value.h"

#define CLI_MAX_LIB 4096
#define CLI_MAX_GRANTS 64

typedef struct cli_env {
  gavel_runtime *rt;                  /* runtime with providers          */
  const char *rulesets_dir;           /* --rulesets DIR                  */
  gavel_ruleset *lib[CLI_MAX_LIB];    /* rulesets loaded from it         */
  int n_lib;                          /* count                           */
  const char *grants[CLI_MAX_GRANTS]; /* --grant CAPABILITY              */
  int n_grants;                       /* count                           */
  const char *providers[CLI_MAX_GRANTS]; /* --provider FILE.lua          */
  int n_providers;                    /* count                           */
  void *lua;                          /* Lua state for providers         */
  const char *allow_http[CLI_MAX_GRANTS]; /* --allow-http HOST[:PORT]    */
  int n_allow_http;                   /* count                           */
  const char *metrics_file;           /* --metrics FILE (Prometheus text) */
  const char *audit_file;             /* --audit FILE ("-" = stdout)     */
  void *prov;                         /* providers.c state               */
  gavel_config cfg;                   /* --max-* host ceilings           */
} cli_env;

/* Consumes a shared option at argv[*i] (advancing *i): 1 if consumed, 0
** if not, -1 on a bad value (message printed: exit 2). */
int cli_env_init(cli_env *env, int argc, char **argv, int *i);
int cli_env_start(cli_env *env);
/* Frees; 1 if writing the metrics file or the audit log failed (printed). */
int cli_env_free(cli_env *env);
gavel_ruleset *cli_load_ruleset(cli_env *env, const char *file, int json_err);
void cli_print_error(FILE *out, const char *kind, const char *msg);
const char *cli_error_kind(gavel_status st);

/* cmd_lua.c: Lua providers (--provider FILE.lua) in an embedded LuaJIT
** state, registered as synchronous providers. */
int cli_lua_providers(gavel_runtime *rt, const char *const *files, int n,
                      void **state_out);
void cli_lua_free(void *state);

/* providers.c: registers the host's built-in capabilities. */
int cli_builtin_providers(cli_env *env);
/* 1 if the metrics file or the audit log lost data (message printed). */
int cli_providers_free(cli_env *env);

#endif
