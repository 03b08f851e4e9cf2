/*
** load.h -- stage 1: rule JSON -> compiled ruleset (rules.h).
*/
#ifndef GAVEL_LOAD_H
#define GAVEL_LOAD_H

#include "rules.h"

/* Loads a ruleset already parsed into 'doc' (values in any arena that lives
** through the call).  See gavel_ruleset_load for the contract. */
gavel_status gavel__load(gavel_runtime *rt, gvalue doc, const gavel_load_opts *opts,
                         gavel_ruleset **out, gavel_error *err);

#endif
