/*
** providers.c -- capabilities the CLI host offers to rulesets.
** (The built-in network/metrics/audit providers and Lua providers are
** registered here once they exist.)
*/
#include "cli_rules.h"

int cli_builtin_providers(cli_env *env) {
  (void)env;
  return 0;
}

void cli_providers_free(cli_env *env) { (void)env; }
